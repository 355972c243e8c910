//! `preventor::bulk` against the sandbox with rate limits, lost answers and random 503s, and
//! against a recording server for per-key order.

mod support;

use std::collections::HashMap;

use futures::stream;
use preventor::{
    bulk::{send, BulkOptions, NoLedger, Outcome, Record, Sent, Shard},
    compliance::types as cmp,
    ComplianceClient,
};
use preventor_sandbox::{Sandbox, SandboxConfig};
use serde_json::json;

fn client(sandbox: &Sandbox) -> ComplianceClient {
    let c = sandbox.credentials();
    ComplianceClient::builder()
        .base_url(sandbox.url())
        .tenant(c.tenant())
        .credentials(c.oauth())
        .http_options(support::fast_retries())
        .build()
        .unwrap()
}

/// A client whose calls time out after 1 s: a lost answer (the sandbox keeps the connection
/// open without answering) ends quickly.
fn client_losing_answers(sandbox: &Sandbox) -> ComplianceClient {
    let c = sandbox.credentials();
    ComplianceClient::builder()
        .base_url(sandbox.url())
        .tenant(c.tenant())
        .credentials(c.oauth())
        .http_options(preventor::HttpOptions {
            request_timeout: std::time::Duration::from_secs(1),
            ..support::fast_retries()
        })
        .build()
        .unwrap()
}

fn transaction(n: u64, account: &str) -> Record {
    Record::from(
        serde_json::from_value::<cmp::MonetaryTransaction>(json!({
            "id": format!("tx-{n}"), "account_number": account,
            "trans_amount": format!("{n}.01"), "trans_currency": "PEN"
        }))
        .unwrap(),
    )
}

fn customer(n: u64) -> Record {
    Record::Customer(
        serde_json::from_value(
            json!({"request_type": "A", "id": format!("cu-{n}"), "first_name": "ANA"}),
        )
        .unwrap(),
    )
}

async fn accounts(client: &ComplianceClient, n: u64) {
    for a in 0..n {
        let account: cmp::Account = serde_json::from_value(
            json!({"request_type": "A", "id": format!("acc-{a}"), "account_number": format!("acc-{a}")}),
        )
        .unwrap();
        client.account_onboarding(account).await.unwrap();
    }
}

async fn run(
    client: &ComplianceClient,
    records: Vec<Record>,
    options: BulkOptions,
) -> (preventor::bulk::Summary, Vec<Sent>) {
    let mut outcomes = Vec::new();
    // At most 48 calls in flight: both ends of each connection live in this process, and the
    // tests must pass under `ulimit -n 256`.
    let options = BulkOptions {
        max_concurrency: options.max_concurrency.min(48),
        concurrency: options.concurrency.min(48),
        ..options
    };
    let input = stream::iter(records.into_iter().enumerate().map(|(i, r)| (i as u64, r)));
    let summary = send(client, input, &options, &mut NoLedger, |s| outcomes.push(s))
        .await
        .unwrap();
    (summary, outcomes)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rate_limited_server_gets_every_transaction_exactly_once() {
    let sandbox = Sandbox::start(SandboxConfig {
        rate_limit: Some(400.0),
        ..Default::default()
    })
    .await
    .unwrap();
    let client = client(&sandbox);
    accounts(&client, 20).await;
    let records = (0..1500)
        .map(|n| transaction(n, &format!("acc-{}", n % 20)))
        .collect();
    let options = BulkOptions {
        concurrency: 32,
        ..Default::default()
    };
    let (summary, outcomes) = run(&client, records, options).await;
    assert_eq!(summary.acknowledged, 1500, "{summary:?}");
    assert!(summary.rate_limited > 0, "the limit was hit: {summary:?}");
    assert_eq!(outcomes.len(), 1500);
    let stats = sandbox.stats();
    assert_eq!(stats["stored"]["transactions"], 1500);
    assert_eq!(stats["duplicates"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_answers_are_ambiguous_for_transactions_and_reconciled_for_customers() {
    let sandbox = Sandbox::start(SandboxConfig {
        drop_after_commit: 0.1,
        fail_share: Some((0.05, 503)),
        ..Default::default()
    })
    .await
    .unwrap();
    let client_fast = client_losing_answers(&sandbox);
    let customers: Vec<Record> = (0..300).map(customer).collect();
    let (summary, outcomes) = run(&client_fast, customers, BulkOptions::default()).await;
    let stats = sandbox.stats();
    assert_eq!(stats["duplicates"], 0, "{stats}");
    // Customers: every lost answer was read back; a 503 (not processed) was sent once more.
    assert_eq!(summary.acknowledged + summary.ambiguous, 300, "{summary:?}");
    assert!(summary.reconciled > 0, "{summary:?}");
    let stored = stats["stored"]["customers"].as_u64().unwrap();
    let acknowledged = outcomes
        .iter()
        .filter(|s| matches!(s.outcome, Outcome::Acknowledged { .. }))
        .count() as u64;
    assert!(
        stored >= acknowledged,
        "every acknowledged customer is stored"
    );
    assert!(stored <= 300);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transactions_whose_answer_is_lost_stay_ambiguous_and_are_never_resent() {
    let sandbox = Sandbox::start(SandboxConfig {
        drop_after_commit: 0.1,
        // (accounts are not created first: their own answers could be lost)
        accept_unknown_accounts: true,
        ..Default::default()
    })
    .await
    .unwrap();
    let client = client_losing_answers(&sandbox);
    let records = (0..300)
        .map(|n| transaction(n, &format!("acc-{}", n % 5)))
        .collect();
    let (summary, _) = run(&client, records, BulkOptions::default()).await;
    let stats = sandbox.stats();
    assert!(summary.ambiguous > 0, "{summary:?}");
    assert_eq!(summary.acknowledged + summary.ambiguous, 300, "{summary:?}");
    assert_eq!(
        stats["stored"]["transactions"], 300,
        "dropped answers were stored"
    );
    assert_eq!(stats["duplicates"], 0, "nothing was sent twice");
    assert_eq!(stats["received"]["registerMonetaryTransaction"], 300);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_of_one_key_go_in_input_order_and_wrong_records_are_rejected() {
    let server = support::MockServer::start(|r, _| match r.path.as_str() {
        "/onboarding/registerMonetaryTransaction" if r.json()["account_number"] == "missing" => {
            support::Reply::json(404, json!({"message": "account missing does not exist"}))
        }
        _ => support::default_reply(r),
    })
    .await;
    let client = support::compliance(&server);
    let mut records: Vec<Record> = (0..400)
        .map(|n| transaction(n, &format!("acc-{}", n % 8)))
        .collect();
    records.push(transaction(9999, "missing"));
    let (summary, outcomes) = run(&client, records, BulkOptions::default()).await;
    assert_eq!(summary.acknowledged, 400);
    assert_eq!(summary.rejected, 1);
    let rejected = outcomes.iter().find(|s| s.id == "tx-9999").unwrap();
    assert!(
        matches!(&rejected.outcome, Outcome::Rejected { status: Some(404), message: Some(m), .. } if m.contains("does not exist")),
        "{rejected:?}"
    );
    let mut per_key: HashMap<String, Vec<u64>> = HashMap::new();
    for r in server.requests_to("/onboarding/registerMonetaryTransaction") {
        let body = r.json();
        let n: u64 = body["id"].as_str().unwrap()[3..].parse().unwrap();
        per_key
            .entry(body["account_number"].as_str().unwrap().to_string())
            .or_default()
            .push(n);
    }
    for (key, sent) in per_key {
        assert!(
            sent.windows(2).all(|w| w[0] < w[1]),
            "{key} out of order: {sent:?}"
        );
    }
}

#[tokio::test]
async fn shards_split_a_feed_without_overlap() {
    let server = support::MockServer::preventor().await;
    let client = support::compliance(&server);
    let mut seen = Vec::new();
    for i in 0..3 {
        let records = (0..300)
            .map(|n| transaction(n, &format!("acc-{}", n % 37)))
            .collect();
        let options = BulkOptions {
            shard: Some(Shard::parse(&format!("{i}/3")).unwrap()),
            ..Default::default()
        };
        let (summary, outcomes) = run(&client, records, options).await;
        assert_eq!(summary.acknowledged + summary.other_shards, 300);
        seen.extend(outcomes.into_iter().map(|s| s.id));
    }
    seen.sort();
    let before = seen.len();
    seen.dedup();
    assert_eq!((before, seen.len()), (300, 300));
}
