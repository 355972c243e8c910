//! One `preventor.call` span per operation, with its fields.

mod support;

use serde_json::json;
use support::*;
use tracing_subscriber::fmt::format::FmtSpan;

#[test]
fn each_call_is_one_span_with_operation_method_path_status_attempt_and_duration() {
    let logs = Captured::default();
    let sink = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::INFO)
        .with_span_events(FmtSpan::CLOSE)
        .with_writer(move || sink.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let server = MockServer::start(|r, i| match (r.path.as_str(), i) {
            ("/onboarding/getCustomer", 0) => Reply::json(503, json!({})),
            _ => default_reply(r),
        })
        .await;
        compliance(&server).get_customer("c-1").await.unwrap();
    });
    let logs = logs.text();
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
