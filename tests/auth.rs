//! The token lifecycles: single flight, expiry, 401 replay, refresh grant, isolated sessions.

mod support;

use std::time::Duration;

use preventor::{compliance::types as cmp, Error, TransactionType};
use serde_json::json;
use support::*;

fn maintenance() -> cmp::Customer {
    serde_json::from_value(json!({"request_type": "U", "id": "c-1", "first_name": "JONATHAN"}))
        .unwrap()
}

fn form(r: &Recorded) -> std::collections::HashMap<String, String> {
    url::form_urlencoded::parse(&r.body).into_owned().collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_concurrent_calls_share_one_token_request() {
    let server = MockServer::start(|r, i| match r.path.as_str() {
        // Slow token endpoint: every caller arrives while the fetch is in flight. A long
        // lifetime: however long the wave takes on a busy machine, no refresh falls inside it.
        "/security/oauth/token" => token(i, 3600).after(Duration::from_millis(200)),
        _ => default_reply(r),
    })
    .await;
    // At most 64 requests in flight: 64 connections, whatever the file descriptor limit.
    let client = preventor::ComplianceClient::builder()
        .base_url(&server.url)
        .tenant(tenant())
        .credentials(credentials())
        .http_options(preventor::HttpOptions {
            max_connections: Some(64),
            ..fast_retries()
        })
        .build()
        .unwrap();
    for result in concurrently(1000, || {
        let c = client.clone();
        async move { c.customer_maintenance(maintenance()).await }
    })
    .await
    {
        result.unwrap();
    }
    assert_eq!(server.count("/security/oauth/token"), 1, "empty cache");
    assert_eq!(server.count("/onboarding/customerMaintenance"), 1000);
    // A connection goes back to the pool just after its answer was read, so a request can find
    // none idle and open one more: close to the cap, never near the 1,000 calls.
    assert!(
        server.connections() <= 64 + 16,
        "{} connections",
        server.connections()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_on_an_expired_token_shares_one_token_request() {
    let server = MockServer::start(|r, i| match r.path.as_str() {
        // The first token lives 1 s; the next one an hour (the burst may take its time).
        "/security/oauth/token" => {
            token(i, if i == 0 { 1 } else { 3600 }).after(Duration::from_millis(100))
        }
        _ => default_reply(r),
    })
    .await;
    let client = compliance(&server);
    client.authenticate().await.unwrap();
    tokio::time::sleep(Duration::from_millis(1100)).await; // the 1 s token has expired
    for result in concurrently(200, || {
        let c = client.clone();
        async move { c.customer_maintenance(maintenance()).await }
    })
    .await
    {
        result.unwrap();
    }
    assert_eq!(server.count("/security/oauth/token"), 2, "expired cache");
    let bearers: std::collections::HashSet<_> = server
        .requests_to("/onboarding/customerMaintenance")
        .iter()
        .map(|r| r.header("authorization").unwrap().to_string())
        .collect();
    assert_eq!(
        bearers,
        ["Bearer tok-1".to_string()].into(),
        "none used the expired token"
    );
}

#[tokio::test]
async fn a_token_is_reused_until_it_is_due_for_refresh() {
    let server = MockServer::start(|r, i| match r.path.as_str() {
        "/security/oauth/token" => token(i, 2), // refreshed 0.2 s before its 2 s lifetime ends
        _ => default_reply(r),
    })
    .await;
    let client = compliance(&server);
    client.customer_maintenance(maintenance()).await.unwrap();
    client.customer_maintenance(maintenance()).await.unwrap();
    assert_eq!(server.count("/security/oauth/token"), 1);
    tokio::time::sleep(Duration::from_millis(1850)).await; // not expired, but inside the margin
    client.customer_maintenance(maintenance()).await.unwrap();
    assert_eq!(server.count("/security/oauth/token"), 2);
}

#[tokio::test]
async fn a_401_refreshes_once_and_replays_once() {
    let server = MockServer::start(|r, i| match r.path.as_str() {
        "/security/oauth/token" => token(i, 3600),
        "/onboarding/customerMaintenance" if i == 0 => {
            Reply::json(401, json!({"error": "invalid_token"}))
        }
        _ => default_reply(r),
    })
    .await;
    compliance(&server)
        .customer_maintenance(maintenance())
        .await
        .unwrap();
    let calls: Vec<_> = server
        .requests_to("/onboarding/customerMaintenance")
        .into_iter()
        .collect();
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[0].header("authorization"), Some("Bearer tok-0"));
    assert_eq!(calls[1].header("authorization"), Some("Bearer tok-1"));
    assert_eq!(
        calls[0].body, calls[1].body,
        "the replay sends the same body"
    );
    assert_eq!(server.count("/security/oauth/token"), 2);
}

#[tokio::test]
async fn a_second_401_is_an_auth_error_without_a_loop() {
    let server = MockServer::start(|r, i| match r.path.as_str() {
        "/security/oauth/token" => token(i, 3600),
        _ => Reply::json(401, json!({"error": "invalid_token"}))
            .with_header("x-request-id", "req-42"),
    })
    .await;
    let err = compliance(&server)
        .customer_maintenance(maintenance())
        .await
        .unwrap_err();
    match &err {
        Error::Auth {
            operation,
            response: Some(api),
            ..
        } => {
            assert_eq!(*operation, "customerMaintenance");
            assert_eq!(api.status.as_u16(), 401);
            assert_eq!(api.request_id.as_deref(), Some("req-42"));
            assert_eq!(api.code(), Some("invalid_token"));
        }
        other => panic!("expected an auth error, got {other:?}"),
    }
    assert_eq!(
        err.to_string(),
        "customerMaintenance: authentication failed: credentials or token refused (invalid_token)"
    );
    assert_eq!(server.count("/onboarding/customerMaintenance"), 2);
    assert_eq!(server.count("/security/oauth/token"), 2);
}

#[tokio::test]
async fn the_refresh_token_is_used_and_a_refused_one_falls_back_to_the_password_grant() {
    let server = MockServer::start(|r, i| match (r.path.as_str(), i) {
        ("/security/oauth/token", 0) => Reply::json(
            200,
            json!({"access_token": "tok-0", "token_type": "bearer", "expires_in": 3600, "refresh_token": "rt-0"}),
        ),
        ("/security/oauth/token", 1) => Reply::json(400, json!({"error": "invalid_grant"})),
        ("/security/oauth/token", _) => token(i, 3600),
        ("/onboarding/customerMaintenance", 0) => Reply::json(401, json!({})),
        _ => default_reply(r),
    })
    .await;
    compliance(&server)
        .customer_maintenance(maintenance())
        .await
        .unwrap();
    let tokens: Vec<_> = server
        .requests_to("/security/oauth/token")
        .into_iter()
        .map(|r| form(&r))
        .collect();
    assert_eq!(tokens.len(), 3);
    assert_eq!(tokens[0]["grant_type"], "password");
    assert_eq!(tokens[1]["grant_type"], "refresh_token");
    assert_eq!(tokens[1]["refresh_token"], "rt-0");
    assert!(!tokens[1].contains_key("password"));
    assert_eq!(tokens[2]["grant_type"], "password");
}

#[tokio::test]
async fn refused_credentials_are_an_auth_error_naming_the_token_call() {
    let server = MockServer::start(|r, _| match r.path.as_str() {
        "/security/oauth/token" => Reply::json(401, json!({"error": "invalid_client"})),
        _ => default_reply(r),
    })
    .await;
    let err = compliance(&server)
        .customer_maintenance(maintenance())
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Auth {
                operation: "oauthToken",
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(
        server.count("/onboarding/customerMaintenance"),
        0,
        "nothing sent without a token"
    );
}

#[tokio::test]
async fn the_token_call_follows_no_redirect() {
    let server = MockServer::start(|r, _| match r.path.as_str() {
        "/security/oauth/token" => {
            Reply::json(307, json!({})).with_header("location", "/elsewhere")
        }
        _ => default_reply(r),
    })
    .await;
    let err = compliance(&server)
        .customer_maintenance(maintenance())
        .await
        .unwrap_err();
    assert_eq!(err.status().map(|s| s.as_u16()), Some(307), "{err:?}");
    assert_eq!(server.count("/elsewhere"), 0);
}

#[tokio::test]
async fn biometric_sessions_are_isolated_and_a_bio_401_leaves_the_compliance_token_alone() {
    let server = MockServer::start(|r, i| match r.path.as_str() {
        "/v1/auth/token" => Reply::json(200, json!({"token": format!("bio-{i}")})),
        "/v1/workflow/enroll/user" if r.header("authorization") == Some("Bearer bio-1") => {
            Reply::json(401, json!({"status": 401, "message": "token expired"}))
        }
        _ => default_reply(r),
    })
    .await;
    let compliance = compliance(&server);
    compliance
        .customer_maintenance(maintenance())
        .await
        .unwrap();

    let bio = biometrics(&server);
    let (a, b) = tokio::join!(
        bio.start_session(TransactionType::Onboarding, None),
        bio.start_session(TransactionType::Authentication, None)
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    let (ra, rb) = tokio::join!(a.create_user(), b.create_user());
    let (ok, refused) = if ra.is_ok() { (ra, rb) } else { (rb, ra) };
    ok.unwrap();
    let err = refused.unwrap_err();
    assert!(
        matches!(
            err,
            Error::Auth {
                operation: "createBioUser",
                ..
            }
        ),
        "{err:?}"
    );

    let users: Vec<_> = server
        .requests_to("/v1/workflow/enroll/user")
        .into_iter()
        .map(|r| r.header("authorization").unwrap().to_string())
        .collect();
    let mut users_sorted = users.clone();
    users_sorted.sort();
    assert_eq!(
        users_sorted,
        ["Bearer bio-0", "Bearer bio-1"],
        "one token per session, no replay"
    );

    compliance
        .customer_maintenance(maintenance())
        .await
        .unwrap();
    assert_eq!(
        server.count("/security/oauth/token"),
        1,
        "compliance token untouched"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_401s_on_a_stale_token_causes_one_refresh() {
    let server = MockServer::start(|r, i| match r.path.as_str() {
        "/security/oauth/token" => token(i, 3600),
        _ if r.header("authorization") == Some("Bearer tok-0") => {
            Reply::json(401, json!({"error": "invalid_token"}))
        }
        _ => default_reply(r),
    })
    .await;
    let client = preventor::ComplianceClient::builder()
        .base_url(&server.url)
        .tenant(tenant())
        .credentials(credentials())
        .http_options(preventor::HttpOptions {
            max_connections: Some(32),
            ..fast_retries()
        })
        .build()
        .unwrap();
    let results = concurrently(200, || {
        let c = client.clone();
        async move { c.customer_maintenance(maintenance()).await }
    })
    .await;
    for result in results {
        result.unwrap();
    }
    assert_eq!(
        server.count("/security/oauth/token"),
        2,
        "the first token, then one refresh"
    );
    // Calls that start after the refresh never see a 401; the others are replayed once.
    let sent = server.count("/onboarding/customerMaintenance");
    assert!(
        (201..=400).contains(&sent),
        "at most one 401 and one replay per call: {sent}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_due_for_refresh_keeps_serving_while_one_caller_refreshes_it() {
    let server = MockServer::start(|r, i| match r.path.as_str() {
        // 5 s lifetime: refreshed from 4.5 s on (a tenth of it), so that a busy machine's late
        // wake-up still lands inside the margin. The refresh takes 150 ms.
        "/security/oauth/token" if i == 0 => token(i, 5),
        "/security/oauth/token" => token(i, 5).after(Duration::from_millis(150)),
        _ => default_reply(r),
    })
    .await;
    let client = compliance(&server);
    client.authenticate().await.unwrap();
    tokio::time::sleep(Duration::from_millis(4550)).await; // due for refresh, still valid
    let results = concurrently(20, || {
        let c = client.clone();
        async move { c.customer_maintenance(maintenance()).await }
    })
    .await;
    for result in results {
        result.unwrap();
    }
    assert_eq!(server.count("/security/oauth/token"), 2, "one refresh");
    let old = server
        .requests_to("/onboarding/customerMaintenance")
        .iter()
        .filter(|r| r.header("authorization") == Some("Bearer tok-0"))
        .count();
    assert!(
        old >= 19,
        "only the refreshing caller waited: {old} of 20 used the valid token"
    );
}
