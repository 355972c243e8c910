//! One `preventor.call` span per operation, with its fields.

mod support;

use serde_json::json;
use support::*;
use tracing_subscriber::fmt::format::FmtSpan;

#[test]
fn each_call_is_one_span_with_operation_method_path_status_attempt_and_duration() {
    let closes = get_customer_answered_on_the_second_attempt();
    let logs = closes.join("\n");
    let closes: Vec<&str> = logs.lines().filter(|l| l.contains("close")).collect();
    assert_eq!(closes.len(), 2, "{logs}");
    let token = closes
        .iter()
        .find(|l| l.contains("operation=\"oauthToken\""))
        .expect(&logs);
    assert!(
        token.contains("method=POST")
            && token.contains("path=\"/security/oauth/token\"")
            && token.contains("status=200")
            && token.contains("attempt=1"),
        "{token}"
    );
    let get = closes
        .iter()
        .find(|l| l.contains("operation=\"getCustomer\""))
        .expect(&logs);
    assert!(
        get.contains("path=\"/onboarding/getCustomer\"")
            && get.contains("status=200")
            && get.contains("attempt=2")
            && get.contains("duration_ms="),
        "{get}"
    );
}

/// Runs `call` under a span-close logging subscriber and returns the `preventor.call` close lines.
fn closed_spans<F: std::future::Future<Output = ()>>(call: impl FnOnce() -> F) -> Vec<String> {
    let logs = Captured::default();
    let sink = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::INFO)
        .with_span_events(FmtSpan::CLOSE)
        .with_writer(move || sink.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(call());
    logs.text()
        .lines()
        .filter(|l| l.contains("close"))
        .map(str::to_owned)
        .collect()
}

/// The closed spans of a getCustomer whose first attempt gets a 503.
fn get_customer_answered_on_the_second_attempt() -> Vec<String> {
    closed_spans(|| async {
        let server = MockServer::start(|r, i| match (r.path.as_str(), i) {
            ("/onboarding/getCustomer", 0) => Reply::json(503, json!({})),
            _ => default_reply(r),
        })
        .await;
        compliance(&server).get_customer("c-1").await.unwrap();
    })
}

#[test]
fn spans_carry_the_opentelemetry_http_client_attributes() {
    let closes = get_customer_answered_on_the_second_attempt();
    let get = closes
        .iter()
        .find(|l| l.contains("operation=\"getCustomer\""))
        .expect("a getCustomer span");
    for attribute in [
        "otel.kind=\"client\"",
        "http.request.method=POST",
        "url.template=\"/onboarding/getCustomer\"",
        "server.address=\"127.0.0.1\"",
        "server.port=",
        "http.response.status_code=200",
        "http.request.resend_count=1",
    ] {
        assert!(get.contains(attribute), "{attribute} missing: {get}");
    }
    assert!(!get.contains("error.type"), "{get}");
    let token = closes
        .iter()
        .find(|l| l.contains("operation=\"oauthToken\""))
        .expect("a token span");
    assert!(!token.contains("resend_count"), "no resend: {token}");
}

#[test]
fn failed_calls_carry_error_type_and_an_error_status() {
    let closes = closed_spans(|| async {
        let server = MockServer::start(|r, _| match r.path.as_str() {
            "/onboarding/getCustomer" => Reply::json(404, json!({"message": "no such customer"})),
            _ => default_reply(r),
        })
        .await;
        compliance(&server).get_customer("c-1").await.unwrap_err();
    });
    let get = closes
        .iter()
        .find(|l| l.contains("operation=\"getCustomer\""))
        .expect("a getCustomer span");
    assert!(
        get.contains("error.type=\"404\"")
            && get.contains("otel.status_code=\"ERROR\"")
            && get.contains("http.response.status_code=404"),
        "{get}"
    );

    let closes = closed_spans(|| async {
        // A port nobody listens on: the call is never answered.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        drop(listener);
        let client = preventor::BiometricsClient::builder()
            .base_url(url)
            .tenant(tenant())
            .api_secret(API_SECRET)
            .http_options(fast_retries())
            .build()
            .unwrap();
        client
            .start_session(preventor::TransactionType::Onboarding, None)
            .await
            .unwrap_err();
    });
    let token = closes
        .iter()
        .find(|l| l.contains("operation=\"bioToken\""))
        .expect("a bioToken span");
    assert!(
        token.contains("error.type=\"connect\"") && !token.contains("http.response.status_code"),
        "{token}"
    );
}
