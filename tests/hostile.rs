//! Hostile servers and hostile input: a broken or malicious server on loopback, and input an
//! attacker controls. One test per defect found by the adversarial review; each failed before
//! its fix.

mod support;

use std::time::Duration;

use base64::Engine;
use preventor::{
    biometrics::types as bio, compliance::types as cmp, BioPhotos, ComplianceClient, Error, Photo,
    TransactionType, MAX_PHOTO_BYTES,
};
use serde_json::json;
use support::*;

fn maintenance() -> cmp::Customer {
    serde_json::from_value(json!({"request_type": "U", "id": "c-1"})).unwrap()
}

fn b64(text: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(text)
}

/// Everything a program or a log could show of an error.
fn shown(e: &Error) -> String {
    format!("{e} || {e:?}")
}

// 1. A token lifetime that overflows `Instant` is clamped, never a panic.
#[tokio::test]
async fn a_huge_token_lifetime_is_clamped_instead_of_panicking() {
    let server = MockServer::start(|r, _| match r.path.as_str() {
        "/security/oauth/token" => Reply::json(
            200,
            json!({"access_token": "t", "token_type": "bearer", "expires_in": i64::MAX}),
        ),
        _ => default_reply(r),
    })
    .await;
    let client = compliance(&server);
    for _ in 0..3 {
        client.customer_maintenance(maintenance()).await.unwrap();
    }
    assert_eq!(server.count("/security/oauth/token"), 1);
}

// 2. Secrets a server echoes back never reach Display or Debug; server text is one line.
#[tokio::test]
async fn an_echoed_bearer_token_in_an_error_code_is_scrubbed() {
    let server = MockServer::start(|r, _| match r.path.as_str() {
        "/onboarding/getCustomer" => {
            let auth = r.header("authorization").unwrap().to_string();
            Reply::json(
                400,
                json!({"code": auth, "message": format!("you sent {auth}")}),
            )
        }
        _ => default_reply(r),
    })
    .await;
    let e = compliance(&server).get_customer("c-1").await.unwrap_err();
    let text = shown(&e);
    assert!(!text.contains("tok-0"), "{text}");
    assert!(text.contains("Bearer [redacted]"), "{text}");
    assert_eq!(e.code(), Some("Bearer [redacted]"));
}

#[tokio::test]
async fn an_echoed_token_in_the_request_id_header_is_scrubbed() {
    let server = MockServer::start(|r, _| match r.path.as_str() {
        "/onboarding/getCustomer" => {
            let auth = r.header("authorization").unwrap().to_string();
            Reply::json(400, json!({"code": "E1"})).with_header("x-request-id", auth)
        }
        _ => default_reply(r),
    })
    .await;
    let e = compliance(&server).get_customer("c-1").await.unwrap_err();
    let text = shown(&e);
    assert!(!text.contains("tok-0"), "{text}");
    assert_eq!(
        e.api().unwrap().request_id.as_deref(),
        Some("Bearer [redacted]")
    );
}

#[tokio::test]
async fn an_echoed_basic_client_secret_from_the_token_endpoint_is_scrubbed() {
    let server = MockServer::start(|r, _| match r.path.as_str() {
        "/security/oauth/token" => {
            let auth = r.header("authorization").unwrap().to_string();
            Reply::json(
                401,
                json!({"error": format!("invalid_client {auth}"), "error_description": format!("secret {CLIENT_SECRET} password {PASSWORD}")}),
            )
        }
        _ => default_reply(r),
    })
    .await;
    let e = compliance(&server)
        .customer_maintenance(maintenance())
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Auth { .. }), "{e:?}");
    let text = shown(&e);
    let encoded = b64(&format!("client-1:{CLIENT_SECRET}"));
    for secret in [encoded.as_str(), CLIENT_SECRET, PASSWORD] {
        assert!(!text.contains(secret), "{secret} in {text}");
    }
    assert!(text.contains("invalid_client Basic [redacted]"), "{text}");
}

#[tokio::test]
async fn an_echoed_basic_api_secret_from_the_biometrics_token_call_is_scrubbed() {
    let server = MockServer::start(|r, _| match r.path.as_str() {
        "/v1/auth/token" => {
            let auth = r.header("authorization").unwrap().to_string();
            Reply::json(
                401,
                json!({"code": auth, "message": format!("{API_KEY}:{API_SECRET}")}),
            )
        }
        _ => default_reply(r),
    })
    .await;
    let e = biometrics(&server)
        .start_session(TransactionType::Onboarding, None)
        .await
        .unwrap_err();
    let text = shown(&e);
    let encoded = b64(&format!("{API_KEY}:{API_SECRET}"));
    for secret in [encoded.as_str(), API_KEY, API_SECRET] {
        assert!(!text.contains(secret), "{secret} in {text}");
    }
}

#[tokio::test]
async fn server_text_with_line_breaks_cannot_forge_a_log_line() {
    let server = MockServer::start(|r, _| match r.path.as_str() {
        "/onboarding/getCustomer" => Reply::json(
            400,
            json!({"code": "E1\nFAKE-LOG-LINE level=ERROR user=admin", "message": format!("a\r\nb{}", "x".repeat(5000))}),
        ),
        _ => default_reply(r),
    })
    .await;
    let e = compliance(&server).get_customer("c-1").await.unwrap_err();
    let display = e.to_string();
    assert!(
        !display.contains('\n') && !display.contains('\r'),
        "{display}"
    );
    assert!(display.contains("(E1 FAKE-LOG-LINE"), "{display}");
    assert!(display.len() < 600, "bounded: {} bytes", display.len());
}

// 3. Numeric document numbers are not echoed by decode errors.
#[tokio::test]
async fn a_numeric_document_number_is_not_echoed_by_a_decode_error() {
    let server = MockServer::start(|r, _| match r.path.as_str() {
        "/onboarding/getCustomer" => {
            let mut customer = customer_example();
            customer["iddocuments"][0]["doc_number"] = json!(987654321012u64);
            Reply::json(200, customer)
        }
        p if p.contains("/ticket/") => {
            let mut result = enroll_example();
            result["documentReader"]["fields"][2]["visualValue"] = json!(987654321012u64);
            Reply::json(200, result)
        }
        _ => default_reply(r),
    })
    .await;
    let e = compliance(&server).get_customer("c-1").await.unwrap_err();
    assert!(matches!(e, Error::InvalidResponse { .. }), "{e:?}");
    assert!(!shown(&e).contains("987654321012"), "{}", shown(&e));

    let session = biometrics(&server)
        .start_session(TransactionType::Onboarding, None)
        .await
        .unwrap();
    let e = session.enroll("u-1", "t-1").await.unwrap_err();
    assert!(matches!(e, Error::InvalidResponse { .. }), "{e:?}");
    assert!(!shown(&e).contains("987654321012"), "{}", shown(&e));
}

// 4. Path parameters stay one segment; nothing is sent otherwise.
#[tokio::test]
async fn ids_that_climb_out_of_the_path_are_refused_before_sending() {
    let server = MockServer::preventor().await;
    let session = biometrics(&server)
        .start_session(TransactionType::Onboarding, None)
        .await
        .unwrap();
    let before = server.requests().len();
    let photos = BioPhotos {
        portrait: Photo::from_bytes(jpeg()).unwrap(),
        second_portrait: None,
        document_front: Photo::from_bytes(jpeg()).unwrap(),
        document_back: None,
    };
    for (user, ticket) in [
        ("..", "t-1"),
        ("u-1", ".."),
        (".", "."),
        ("u-1/../x", "t"),
        ("%2e%2e", "t"),
        ("u-1", "t?x=1"),
    ] {
        let e = session.enroll(user, ticket).await.unwrap_err();
        assert!(
            matches!(e, Error::InvalidInput { .. }),
            "{user} {ticket}: {e}"
        );
    }
    for user in ["..", ".", "a/b", ""] {
        let e = session.upload(user, &photos).await.unwrap_err();
        assert!(matches!(e, Error::InvalidInput { .. }), "{user}: {e}");
    }
    assert_eq!(server.requests().len(), before, "nothing was sent");
}

// 5. One rule for photos, bytes or data URI: valid base64, JPEG magic, at most 1 MiB.
#[test]
fn photo_data_uris_follow_the_same_rule_as_photos() {
    use preventor::redacted::PhotoDataUri;
    let uri = |bytes: &[u8]| {
        format!(
            "data:image/jpeg;base64,{}",
            base64::engine::general_purpose::STANDARD.encode(bytes)
        )
    };
    let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
    assert!(PhotoDataUri::try_from(uri(&png)).is_err(), "PNG bytes");
    assert!(
        PhotoDataUri::try_from("data:image/jpeg;base64,/9j/4".to_string()).is_err(),
        "truncated base64"
    );
    let mut big = jpeg();
    big.resize(MAX_PHOTO_BYTES, 0);
    assert!(PhotoDataUri::try_from(uri(&big)).is_ok(), "exactly 1 MiB");
    for extra in [1, 2] {
        big.resize(MAX_PHOTO_BYTES + extra, 0);
        assert!(Photo::from_bytes(big.clone()).is_err());
        let e = PhotoDataUri::try_from(uri(&big)).unwrap_err().to_string();
        assert!(e.contains("1 MB"), "1 MiB + {extra}: {e}");
    }
    assert!(PhotoDataUri::try_from(uri(&jpeg())).is_ok());
    // A generated body carrying such a URI does not decode either (the sandbox's path).
    let body =
        json!({"portraits": {"picture1": uri(&png)}, "documents": {"picture1": uri(&jpeg())}});
    assert!(serde_json::from_value::<bio::BioUpload>(body).is_err());
}

// 6. A base URL with a query or fragment would swallow the paths: refused at build time.
#[test]
fn a_base_url_with_a_query_or_fragment_is_refused() {
    for url in [
        "http://127.0.0.1:9/?tenant=x",
        "http://127.0.0.1:9/#frag",
        "https://api.example.com/base?",
    ] {
        let e = ComplianceClient::builder()
            .base_url(url)
            .tenant(tenant())
            .credentials(preventor::OAuthCredentials {
                client_id: "c".into(),
                client_secret: "s".into(),
                username: "u".into(),
                password: "p".into(),
                scope: "read".into(),
            })
            .build()
            .unwrap_err();
        assert!(e.to_string().contains("query"), "{url}: {e}");
    }
}

// 7. Debug of the builder and of the generated token types shows no secret.
#[test]
fn debug_of_builders_and_generated_token_types_is_redacted() {
    let builder =
        ComplianceClient::builder().base_url("https://user:SECRET-PW@host.example/p?k=SECRET-Q");
    let text = format!("{builder:?}");
    assert!(!text.contains("SECRET"), "{text}");
    assert!(text.contains("https://host.example/p"), "{text}");

    let request = cmp::TokenRequest {
        grant_type: "password".into(),
        password: Some("SECRET-PASSWORD".into()),
        refresh_token: Some("SECRET-REFRESH".into()),
        client_id: None,
        scope: None,
        username: None,
    };
    let token: cmp::OAuthToken = serde_json::from_value(json!({
        "access_token": "SECRET-ACCESS", "token_type": "bearer", "refresh_token": "SECRET-REFRESH"
    }))
    .unwrap();
    let bio_token: bio::BioToken = serde_json::from_value(json!({"token": "SECRET-BIO"})).unwrap();
    let text = format!("{request:?} {token:?} {bio_token:?}");
    assert!(!text.contains("SECRET"), "{text}");
    // Serialization is unchanged: the wire still carries the values.
    assert_eq!(
        serde_json::to_value(&request).unwrap()["password"],
        "SECRET-PASSWORD"
    );
    assert_eq!(
        serde_json::to_value(&bio_token).unwrap()["token"],
        "SECRET-BIO"
    );
}

// 8. A token that expires at once still serves the callers that waited for it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_zero_lifetime_token_serves_the_burst_that_waited_for_it() {
    let server = MockServer::start(|r, i| match r.path.as_str() {
        "/security/oauth/token" => token(i, 0).after(Duration::from_millis(100)),
        _ => default_reply(r),
    })
    .await;
    let client = compliance(&server);
    let results = concurrently(50, || {
        let c = client.clone();
        async move { c.customer_maintenance(maintenance()).await }
    })
    .await;
    for result in results {
        result.unwrap();
    }
    assert_eq!(server.count("/security/oauth/token"), 1);
}

// 9. One failed token request (with its retries) answers every caller that waited for it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_grant_is_shared_by_every_waiting_caller() {
    let server = MockServer::start(|r, _| match r.path.as_str() {
        "/security/oauth/token" => {
            Reply::json(400, json!({"error": "invalid_grant"})).after(Duration::from_millis(50))
        }
        _ => default_reply(r),
    })
    .await;
    let client = compliance(&server);
    let results = concurrently(100, || {
        let c = client.clone();
        async move { c.customer_maintenance(maintenance()).await }
    })
    .await;
    for result in results {
        let e = result.unwrap_err();
        assert!(matches!(e, Error::Auth { .. }), "{e:?}");
    }
    assert_eq!(server.count("/security/oauth/token"), 1);
    assert_eq!(server.count("/onboarding/customerMaintenance"), 0);
    // A later call (not part of the burst) tries again.
    client
        .customer_maintenance(maintenance())
        .await
        .unwrap_err();
    assert_eq!(server.count("/security/oauth/token"), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unavailable_token_endpoint_is_tried_once_with_retries_for_the_whole_burst() {
    let server = MockServer::start(|r, _| match r.path.as_str() {
        "/security/oauth/token" => Reply::json(503, json!({"code": "UNAVAILABLE"})),
        _ => default_reply(r),
    })
    .await;
    let client = compliance(&server);
    let started = std::time::Instant::now();
    let results = concurrently(10, || {
        let c = client.clone();
        async move { c.customer_maintenance(maintenance()).await }
    })
    .await;
    for result in results {
        let e = result.unwrap_err();
        assert_eq!(e.status().map(|s| s.as_u16()), Some(503), "{e:?}");
    }
    assert_eq!(
        server.count("/security/oauth/token"),
        3,
        "one attempt, retried"
    );
    assert!(started.elapsed() < Duration::from_secs(2));
}

// 11. A 429 from the token endpoint keeps its Retry-After; it is not an auth failure.
#[tokio::test]
async fn a_429_from_the_token_endpoint_surfaces_retry_after() {
    let server = MockServer::start(|r, _| match r.path.as_str() {
        "/security/oauth/token" => {
            Reply::json(429, json!({"code": "RATE"})).with_header("retry-after", "30")
        }
        _ => default_reply(r),
    })
    .await;
    let e = compliance(&server)
        .customer_maintenance(maintenance())
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Api(_)), "{e:?}");
    assert_eq!(e.retry_after(), Some(Duration::from_secs(30)));
    assert!(e.is_retryable());
    assert_eq!(
        server.count("/security/oauth/token"),
        1,
        "30 s is over max_delay"
    );
}

// 14. A server that echoes the request body into its error shows no photo bytes: a data URI or
// a long base64 run is shown by its length only, in every field of the error.
#[tokio::test]
async fn echoed_photo_bytes_never_reach_an_error() {
    let server = MockServer::start(|r, _| match r.path.as_str() {
        p if p.ends_with("/upload") => {
            let body = String::from_utf8_lossy(&r.body).into_owned();
            let raw = r.json()["portraits"]["picture1"]
                .as_str()
                .unwrap()
                .trim_start_matches("data:image/jpeg;base64,")
                .to_string();
            Reply::json(
                400,
                json!({"code": body.clone(), "message": body, "error": raw.clone(), "error_description": raw}),
            )
            .with_header("x-request-id", "req-1")
        }
        _ => default_reply(r),
    })
    .await;
    let session = biometrics(&server)
        .start_session(TransactionType::Onboarding, None)
        .await
        .unwrap();
    let photo = Photo::from_bytes(jpeg()).unwrap();
    let photos = BioPhotos {
        portrait: photo.clone(),
        second_portrait: None,
        document_front: photo,
        document_back: None,
    };
    let e = session.upload("u-1", &photos).await.unwrap_err();
    let text = format!("{} {:?} {:?} {:?}", shown(&e), e.code(), e.message(), e);
    let encoded = b64_bytes(&jpeg());
    // No 16-character window of the photo's base64 appears anywhere.
    for start in (0..encoded.len() - 16).step_by(8) {
        let window = &encoded[start..start + 16];
        assert!(!text.contains(window), "photo bytes {window} in {text}");
    }
    assert!(text.contains("characters not shown"), "{text}");
}

fn b64_bytes(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}
