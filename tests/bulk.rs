//! `preventor::bulk` against the sandbox with rate limits, lost answers and random 503s, and
//! against a recording server for per-key order.

mod support;

use std::collections::HashMap;

use futures::{stream, StreamExt};
use preventor::{
    bulk::{send, BulkOptions, Durable, Ledger, NoLedger, Outcome, Prior, Record, Sent, Shard},
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

async fn run(
    client: &ComplianceClient,
    records: Vec<Record>,
    options: BulkOptions,
) -> (preventor::bulk::Summary, Vec<Sent>) {
    let mut outcomes = Vec::new();
    // At most 48 calls in flight: both ends of each connection live in this process, and the
    // tests must pass under `ulimit -n 256`.
    let options = options
        .clone()
        .max_concurrency(options.max_concurrency.min(48))
        .concurrency(options.concurrency.min(48));
    let input = stream::iter(records.into_iter().enumerate().map(|(i, r)| (i as u64, r)));
    let summary = send(client, input, &options, &mut NoLedger, |s| outcomes.push(s))
        .await
        .unwrap();
    (summary, outcomes)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rate_limited_server_gets_every_transaction_exactly_once() {
    // The first wave (48 calls at once) is larger than the bucket (20): refused whatever the
    // machine's speed, so the limit is hit on any machine.
    const RECORDS: u64 = 150;
    let sandbox = Sandbox::start(SandboxConfig {
        rate_limit: Some(20.0),
        accept_unknown_accounts: true,
        ..Default::default()
    })
    .await
    .unwrap();
    let client = client(&sandbox);
    let records = (0..RECORDS)
        .map(|n| transaction(n, &format!("acc-{}", n % 20)))
        .collect();
    let options = BulkOptions::default().concurrency(48);
    let (summary, outcomes) = run(&client, records, options).await;
    assert_eq!(summary.acknowledged, RECORDS, "{summary:?}");
    assert!(summary.rate_limited > 0, "the limit was hit: {summary:?}");
    assert_eq!(outcomes.len() as u64, RECORDS);
    let stats = sandbox.stats();
    assert_eq!(stats["stored"]["transactions"], RECORDS);
    assert_eq!(stats["duplicates"], 0);
}

/// A server that states its limit (the IETF `RateLimit` fields) is paced by what it says before
/// it refuses anything: the pace begins when a tenth of the quota is left and keeps the quota
/// from running out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_states_its_limit_is_paced_by_its_fields_before_refusing() {
    const RECORDS: u64 = 600;
    const IN_FLIGHT: usize = 16;
    let sandbox = Sandbox::start(SandboxConfig {
        rate_limit: Some(200.0),
        rate_limit_headers: true,
        accept_unknown_accounts: true,
        ..Default::default()
    })
    .await
    .unwrap();
    let client = client(&sandbox);
    let records = (0..RECORDS)
        .map(|n| transaction(n, &format!("acc-{}", n % 40)))
        .collect();
    let options = BulkOptions::default()
        .concurrency(4)
        .max_concurrency(IN_FLIGHT);
    let (summary, outcomes) = run(&client, records, options).await;
    assert_eq!(summary.acknowledged, RECORDS, "{summary:?}");
    assert_eq!(outcomes.len() as u64, RECORDS);
    // Pacing begins with 20 requests left and at most 16 in flight, then never faster than
    // the policy: nothing needs refusing (2 allowed for scheduling). Without the fields the
    // same feed was refused 5-7 times (three runs).
    assert!(
        summary.rate_limited <= 2,
        "paced by the fields, not by 429s: {summary:?}"
    );
    let status = client.rate_limit_status().expect("the fields were read");
    let policy = status.policy.expect("the policy was read");
    assert_eq!((policy.quota, policy.window.as_secs()), (200, 1));
    assert!(status.remaining <= 200);
    let stats = sandbox.stats();
    assert_eq!(stats["stored"]["transactions"], RECORDS);
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
    // Customers: every lost answer was read back; a 503 (not processed) was sent once more; a
    // create answered 503 twice and read back absent both times is failed (known not stored).
    assert_eq!(
        summary.acknowledged + summary.ambiguous + summary.failed,
        300,
        "{summary:?}"
    );
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
    assert!(
        stored <= 300 - summary.failed,
        "a failed create is not stored"
    );
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
        let options = BulkOptions::default().shard(Some(Shard::parse(&format!("{i}/3")).unwrap()));
        let (summary, outcomes) = run(&client, records, options).await;
        assert_eq!(summary.acknowledged + summary.other_shards, 300);
        seen.extend(outcomes.into_iter().map(|s| s.id));
    }
    seen.sort();
    let before = seen.len();
    seen.dedup();
    assert_eq!((before, seen.len()), (300, 300));
}

/// A ledger that says every record may have been sent by an earlier run.
struct EarlierRun;

impl Ledger for EarlierRun {
    fn prior(&mut self, _: u64) -> Prior {
        Prior::MaybeSent
    }
    fn sending(&mut self, _: &[u64]) -> Durable {
        Box::pin(async { Ok(()) })
    }
    fn finished(&mut self, _: &Sent) -> preventor::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_an_earlier_run_may_have_sent_are_settled_by_what_the_server_says() {
    let sandbox = Sandbox::start(SandboxConfig {
        accept_unknown_accounts: true,
        ..Default::default()
    })
    .await
    .unwrap();
    let client = client(&sandbox);
    // An earlier run stored the first ten of each, and lost the answers.
    let records = |range: std::ops::Range<u64>| -> Vec<Record> {
        range
            .clone()
            .map(customer)
            .chain(range.map(|n| transaction(n, "acc-1")))
            .collect()
    };
    let (earlier, _) = run(&client, records(0..10), BulkOptions::default()).await;
    assert_eq!(earlier.acknowledged, 20);
    let creates_before = sandbox.calls("customerOnboarding");
    let transactions_before = sandbox.calls("registerMonetaryTransaction");
    let input = |range| {
        stream::iter(
            records(range)
                .into_iter()
                .enumerate()
                .map(|(i, r)| (i as u64, r)),
        )
    };

    // By default, transactions that may have been sent are not sent again: still ambiguous.
    let mut kept = Vec::new();
    let gauges = std::sync::Arc::new(preventor::bulk::Gauges::default());
    let summary = send(
        &client,
        input(10..12),
        &BulkOptions::default().gauges(gauges.clone()),
        &mut EarlierRun,
        |s| kept.push(s),
    )
    .await
    .unwrap();
    assert_eq!(
        (summary.acknowledged, summary.ambiguous),
        (2, 2),
        "{kept:?}"
    );
    // The gauges (a report's charts) count what this run did: the customers read back, not
    // the transactions it left as they were.
    let drawn = gauges.sample();
    assert_eq!((drawn.acknowledged, drawn.ambiguous), (2, 0));
    assert_eq!(
        sandbox.calls("registerMonetaryTransaction"),
        transactions_before
    );
    assert_eq!(sandbox.calls("customerOnboarding") - creates_before, 2);

    // An operator's decision: send them again.
    let creates_before = sandbox.calls("customerOnboarding");
    let mut outcomes = Vec::new();
    let options = BulkOptions::default().resend_ambiguous(true);
    let summary = send(&client, input(0..20), &options, &mut EarlierRun, |s| {
        outcomes.push(s)
    })
    .await
    .unwrap();
    assert_eq!(summary.acknowledged, 40, "{summary:?} {outcomes:?}");
    assert_eq!(
        summary.rejected, 0,
        "\"already exists\" is not a rejection here"
    );
    // Customers 0..11 were read back and found: not sent again.
    assert_eq!(sandbox.calls("customerOnboarding") - creates_before, 8);
    for s in &outcomes {
        let n: u64 = s.id[3..].parse().unwrap();
        let expected = n < 10 || s.operation == "customerOnboarding";
        assert_eq!(
            s.outcome,
            Outcome::Acknowledged {
                reconciled: expected
            },
            "{s:?}"
        );
    }
    assert_eq!(sandbox.stats()["stored"]["customers"], 20);
    assert_eq!(sandbox.stats()["stored"]["transactions"], 20);
}

#[tokio::test]
async fn a_create_answered_503_and_read_back_absent_each_time_is_failed_not_ambiguous() {
    let server = support::MockServer::start(|r, _| match r.path.as_str() {
        "/onboarding/customerOnboarding" => {
            support::Reply::json(503, json!({"message": "unavailable"}))
        }
        "/onboarding/getCustomer" => {
            support::Reply::json(404, json!({"message": "no such customer"}))
        }
        _ => support::default_reply(r),
    })
    .await;
    let client = support::compliance(&server);
    let (summary, outcomes) = run(&client, vec![customer(1)], BulkOptions::default()).await;
    assert_eq!(summary.failed, 1, "{outcomes:?}");
    assert!(
        matches!(&outcomes[0].outcome, Outcome::Failed { reason } if reason.contains("not stored")),
        "{outcomes:?}"
    );
    assert_eq!(
        server.count("/onboarding/customerOnboarding"),
        2,
        "sent twice at most"
    );
    assert_eq!(server.count("/onboarding/getCustomer"), 2);
}

/// A ledger whose durable mark fails.
struct BrokenDisk;

impl Ledger for BrokenDisk {
    fn sending(&mut self, _: &[u64]) -> Durable {
        Box::pin(async {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            Err(preventor::Error::Config("journal: disk I/O error".into()))
        })
    }
    fn finished(&mut self, _: &Sent) -> preventor::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn a_mark_that_cannot_be_recorded_means_nothing_is_sent() {
    let server = support::MockServer::preventor().await;
    let client = support::compliance(&server);
    let input = stream::iter((0..50).map(|n| (n, transaction(n, "acc-1"))));
    let result = send(
        &client,
        input,
        &BulkOptions::default(),
        &mut BrokenDisk,
        |_| {},
    )
    .await;
    assert!(
        matches!(&result, Err(e) if e.to_string().contains("disk I/O error")),
        "{result:?}"
    );
    assert_eq!(
        server.count("/onboarding/registerMonetaryTransaction"),
        0,
        "no record is sent before its mark is recorded"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_reads_no_more_input_and_reports_every_record_it_read() {
    let sandbox = Sandbox::start(SandboxConfig {
        accept_unknown_accounts: true,
        latency: std::time::Duration::from_millis(10),
        ..Default::default()
    })
    .await
    .unwrap();
    let client = client(&sandbox);
    let stop = tokio_util::sync::CancellationToken::new();
    let read = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let counter = read.clone();
    // An endless feed: only the stop ends the run.
    let input = stream::iter(0u64..).map(move |n| {
        counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        (n, transaction(n, &format!("acc-{}", n % 7)))
    });
    let options = BulkOptions::default()
        .max_concurrency(32)
        .stop(stop.clone());
    let mut outcomes = Vec::new();
    let summary = send(&client, input, &options, &mut NoLedger, |s| {
        if outcomes.len() == 300 {
            stop.cancel();
        }
        outcomes.push(s);
    })
    .await
    .unwrap();
    let read = read.load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(
        outcomes.len() as u64,
        read,
        "every record read has its outcome"
    );
    assert_eq!(summary.acknowledged + summary.stopped, read, "{summary:?}");
    assert!(summary.stopped > 0, "{summary:?}");
    let stored = sandbox.stats()["stored"]["transactions"].as_u64().unwrap();
    assert_eq!(
        stored, summary.acknowledged,
        "what the server took is acknowledged"
    );
}
