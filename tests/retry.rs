//! The retry policy: writes are never repeated, token calls and reads are, within bounds.

mod support;

use std::time::{Duration, Instant};

use preventor::{compliance::types as cmp, Error, HttpOptions};
use serde_json::json;
use support::*;

fn transaction() -> cmp::MonetaryTransaction {
    serde_json::from_value(json!({
        "id": "t-1", "account_number": "PVTACC1", "trans_amount": "10.00", "trans_currency": "USD"
    }))
    .unwrap()
}

#[tokio::test]
async fn a_503_to_a_transaction_is_not_sent_twice() {
    let server = MockServer::start(|r, _| match r.path.as_str() {
        "/onboarding/registerMonetaryTransaction" => {
            Reply::json(503, json!({"status": 503, "message": "maintenance"}))
                .with_header("retry-after", "0")
        }
        _ => default_reply(r),
    })
    .await;
    let err = compliance(&server)
        .register_monetary_transaction(transaction())
        .await
        .unwrap_err();
    match &err {
        Error::Api(api) => {
            assert_eq!(api.status.as_u16(), 503);
            assert_eq!(api.retry_after, Some(Duration::ZERO));
            assert_eq!(&api.body[..], br#"{"message":"maintenance","status":503}"#);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(server.count("/onboarding/registerMonetaryTransaction"), 1);
}

#[tokio::test]
async fn a_429_with_retry_after_on_the_token_call_is_retried_after_the_delay() {
    let server = MockServer::start(|r, i| match (r.path.as_str(), i) {
        ("/security/oauth/token", 0) => {
            Reply::json(429, json!({"status": 429})).with_header("retry-after", "1")
        }
        _ => default_reply(r),
    })
    .await;
    let started = Instant::now();
    compliance(&server)
        .register_monetary_transaction(transaction())
        .await
        .unwrap();
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "waited {:?}",
        started.elapsed()
    );
    assert_eq!(server.count("/security/oauth/token"), 2);
    assert_eq!(server.count("/onboarding/registerMonetaryTransaction"), 1);
}

#[tokio::test]
async fn retries_are_bounded() {
    let server = MockServer::start(|r, _| match r.path.as_str() {
        "/security/oauth/token" => Reply::json(503, json!({})),
        "/onboarding/getCustomer" => Reply::json(500, json!({})),
        _ => default_reply(r),
    })
    .await;
    let err = compliance(&server).get_customer("c-1").await.unwrap_err();
    assert_eq!(err.status().map(|s| s.as_u16()), Some(503));
    assert_eq!(server.count("/security/oauth/token"), 3, "max_attempts = 3");
    assert_eq!(server.count("/onboarding/getCustomer"), 0);
}

#[tokio::test]
async fn a_read_is_retried_after_a_transient_error() {
    let server = MockServer::start(|r, i| match (r.path.as_str(), i) {
        ("/onboarding/getCustomer", 0) => Reply::json(503, json!({})),
        _ => default_reply(r),
    })
    .await;
    let customer = compliance(&server).get_customer("c-1").await.unwrap();
    assert_eq!(customer.first_name.unwrap().expose(), "JOHN");
    assert_eq!(server.count("/onboarding/getCustomer"), 2);
}

#[tokio::test]
async fn a_timed_out_write_is_a_timeout_error_and_is_sent_once() {
    let server = MockServer::start(|r, _| match r.path.as_str() {
        "/onboarding/registerMonetaryTransaction" => default_reply(r).after(Duration::from_secs(3)),
        _ => default_reply(r),
    })
    .await;
    let client = preventor::ComplianceClient::builder()
        .base_url(&server.url)
        .tenant(tenant())
        .credentials(preventor::OAuthCredentials {
            client_id: "c".into(),
            client_secret: "s".into(),
            username: "u".into(),
            password: "p".into(),
            scope: "read".into(),
        })
        .http_options(HttpOptions {
            request_timeout: Duration::from_millis(300),
            ..fast_retries()
        })
        .build()
        .unwrap();
    let err = client
        .register_monetary_transaction(transaction())
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Timeout {
                operation: "registerMonetaryTransaction"
            }
        ),
        "{err:?}"
    );
    assert_eq!(server.count("/onboarding/registerMonetaryTransaction"), 1);
}

#[tokio::test]
async fn a_write_is_retried_when_the_connection_failed_before_sending() {
    // Nothing listens on this port at first; a server appears after the first attempt failed.
    let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = probe.local_addr().unwrap();
    drop(probe);
    let client = preventor::ComplianceClient::builder()
        .base_url(format!("http://{addr}"))
        .tenant(tenant())
        .credentials(preventor::OAuthCredentials {
            client_id: "c".into(),
            client_secret: "s".into(),
            username: "u".into(),
            password: "p".into(),
            scope: "read".into(),
        })
        .http_options(HttpOptions {
            retry: preventor::RetryPolicy {
                max_attempts: 3,
                base_delay: Duration::from_millis(300),
                max_delay: Duration::from_secs(1),
            },
            ..HttpOptions::default()
        })
        .build()
        .unwrap();
    let call =
        tokio::spawn(async move { client.register_monetary_transaction(transaction()).await });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
    let count = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let seen = count.clone();
    let app = axum::Router::new().fallback(move |req: axum::http::Request<axum::body::Body>| {
        let seen = seen.clone();
        async move {
            let r = Recorded {
                peer: addr,
                method: req.method().to_string(),
                path: req.uri().path().into(),
                headers: vec![],
                body: Default::default(),
            };
            if r.path == "/onboarding/registerMonetaryTransaction" {
                seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }
            let reply = default_reply(&r);
            axum::response::Response::builder()
                .status(reply.status)
                .header("content-type", "application/json")
                .body(axum::body::Body::from(reply.body))
                .unwrap()
        }
    });
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    call.await.unwrap().unwrap();
    assert_eq!(count.load(std::sync::atomic::Ordering::SeqCst), 1);
}

/// A resent request (after a 401 with a new token, after a 429 to a read) is the request that
/// was first sent: same method, path, body and headers, but for the new token.
#[tokio::test]
async fn a_resent_request_is_the_request_first_sent() {
    let server = MockServer::start(|r, i| match (r.path.as_str(), i) {
        ("/security/oauth/token", n) => token(n, 3600),
        ("/onboarding/registerMonetaryTransaction", 0) => Reply::json(401, json!({"status": 401})),
        ("/onboarding/getCustomer", 0) => {
            Reply::json(429, json!({"status": 429})).with_header("retry-after", "0")
        }
        ("/onboarding/getCustomer", 1) => Reply::json(401, json!({"status": 401})),
        _ => default_reply(r),
    })
    .await;
    let client = compliance(&server);
    client
        .register_monetary_transaction(transaction())
        .await
        .unwrap();
    client.get_customer("cu-1").await.unwrap();

    let without_token = |r: &Recorded| {
        let mut headers: Vec<_> = r
            .headers
            .iter()
            .filter(|(n, _)| n != "authorization")
            .cloned()
            .collect();
        headers.sort();
        (r.method.clone(), headers, r.body.clone())
    };
    let write = server.requests_to("/onboarding/registerMonetaryTransaction");
    assert_eq!(write.len(), 2, "401, then replayed and accepted");
    assert_eq!(without_token(&write[1]), without_token(&write[0]));
    assert_eq!(write[0].header("content-type"), Some("application/json"));
    assert_eq!(write[0].header("authorization"), Some("Bearer tok-0"));
    assert_eq!(write[1].header("authorization"), Some("Bearer tok-1"));

    let read = server.requests_to("/onboarding/getCustomer");
    assert_eq!(read.len(), 3, "429, 401, then answered");
    assert_eq!(without_token(&read[1]), without_token(&read[0]));
    assert_eq!(without_token(&read[2]), without_token(&read[0]));
    assert!(read[0]
        .header("content-type")
        .is_some_and(|t| t.starts_with("multipart/form-data; boundary=")));
    assert_eq!(read[0].header("authorization"), Some("Bearer tok-1"));
    assert_eq!(read[1].header("authorization"), Some("Bearer tok-1"));
    assert_eq!(read[2].header("authorization"), Some("Bearer tok-2"));
}
