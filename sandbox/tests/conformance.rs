//! Answers the page documents beyond the happy path: 406, 405 with an error body, one bio user
//! per process token, fault knobs that refuse unknown operations, and the request log.

use std::sync::{Arc, Mutex};

use preventor_sandbox::{RequestLog, Sandbox, SandboxConfig};
use serde_json::{json, Value};

/// A `Write` whose bytes a test can read.
#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Buffer {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn tenant(request: reqwest::RequestBuilder, sandbox: &Sandbox) -> reqwest::RequestBuilder {
    let c = sandbox.credentials();
    request
        .header("x-api-key", &c.api_key)
        .header("x-tenant", &c.tenant)
        .header("x-env", &c.env)
        .header("x-banknu", &c.banknu)
}

async fn bio_token(http: &reqwest::Client, sandbox: &Sandbox) -> String {
    let c = sandbox.credentials();
    let response = tenant(
        http.post(format!("{}/v1/auth/token", sandbox.url())),
        sandbox,
    )
    .basic_auth(&c.api_key, Some(&c.api_secret))
    .json(&json!({"transactionType": "ONBOARDING"}))
    .send()
    .await
    .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    body["token"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn accept_text_xml_gets_406_and_a_wrong_method_gets_405_with_an_error_body() {
    let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
    let http = reqwest::Client::new();
    let response = tenant(
        http.post(format!("{}/v1/auth/token", sandbox.url())),
        &sandbox,
    )
    .header("accept", "text/xml")
    .json(&json!({"transactionType": "ONBOARDING"}))
    .send()
    .await
    .unwrap();
    assert_eq!(response.status(), 406);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["code"], "NOT_ACCEPTABLE");

    let response = http
        .get(format!(
            "{}/onboarding/registerMonetaryTransaction",
            sandbox.url()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 405);
    assert!(response.headers().contains_key("allow"), "{response:?}");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["code"], "METHOD_NOT_ALLOWED");
    assert_eq!(body["status"], 405);
}

#[tokio::test]
async fn a_process_token_carries_one_bio_user() {
    let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
    let http = reqwest::Client::new();
    let token = bio_token(&http, &sandbox).await;
    let create = || {
        tenant(
            http.post(format!("{}/v1/workflow/enroll/user", sandbox.url())),
            &sandbox,
        )
        .bearer_auth(&token)
        .send()
    };
    assert_eq!(create().await.unwrap().status(), 200);
    let second = create().await.unwrap();
    assert_eq!(second.status(), 400);
    let body: Value = second.json().await.unwrap();
    assert_eq!(body["code"], "PROCESS_HAS_USER");
    // A new process gets its own user.
    let token = bio_token(&http, &sandbox).await;
    let third = tenant(
        http.post(format!("{}/v1/workflow/enroll/user", sandbox.url())),
        &sandbox,
    )
    .bearer_auth(&token)
    .send()
    .await
    .unwrap();
    assert_eq!(third.status(), 200);
}

#[tokio::test]
async fn faults_for_an_unknown_operation_are_refused() {
    let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
    let http = reqwest::Client::new();
    let response = http
        .post(format!("{}/__sandbox/faults", sandbox.url()))
        .json(&json!({"operation": "registerMonetaryTransactions", "status": 503}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    let message = body["message"].as_str().unwrap();
    assert!(
        message.contains("registerMonetaryTransactions") && message.contains("bioEnroll"),
        "{message}"
    );
    let response = http
        .post(format!("{}/__sandbox/faults", sandbox.url()))
        .json(&json!({"operation": "bioToken", "status": 503}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
}

#[tokio::test]
async fn the_request_log_has_one_line_per_request_and_no_secret() {
    let buffer = Buffer::default();
    let sandbox = Sandbox::start(SandboxConfig {
        request_log: Some(RequestLog::new(buffer.clone())),
        ..SandboxConfig::default()
    })
    .await
    .unwrap();
    let http = reqwest::Client::new();
    let token = bio_token(&http, &sandbox).await;
    let log = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
    let lines: Vec<&str> = log.lines().collect();
    assert_eq!(lines.len(), 1, "{log}");
    assert!(lines[0].contains("POST /v1/auth/token 200 "), "{log}");
    let c = sandbox.credentials();
    for secret in [&token, &c.api_secret, &c.api_key] {
        assert!(!log.contains(secret.as_str()), "{log}");
    }
}
