//! One feed across hosts: three `preventor work` processes share a feed staged into a real
//! PostgreSQL (a throwaway cluster per test), against the sandbox with a rate limit, 1% 503s
//! and 0.5% lost answers. A worker killed, a worker paused past its lease, PostgreSQL
//! restarted: every record is accounted for, none is stored twice.

mod support;

use std::{
    process::Child,
    time::{Duration, Instant},
};

use preventor_sandbox::{Sandbox, SandboxConfig};
use support::{
    importer, json_of, output, postgres::Cluster, repeat_pairs, temp_dir, transactions, wait,
};

const RECORDS: u64 = 20_000;
const ACCOUNTS: u64 = 200;

async fn faulty_sandbox() -> Sandbox {
    Sandbox::start(SandboxConfig {
        accept_unknown_accounts: true,
        latency: Duration::from_millis(20),
        rate_limit: Some(3000.0),
        fail_share: Some((0.01, 503)),
        drop_after_commit: 0.005,
        ..SandboxConfig::default()
    })
    .await
    .unwrap()
}

/// Stages the feed into `dsn`, then starts three workers with `lease` seconds.
async fn staged_with_workers(sandbox: &Sandbox, dsn: &str, name: &str, lease: &str) -> Vec<Child> {
    let dir = temp_dir(name);
    let input = transactions(&dir, RECORDS, ACCOUNTS);
    let staged = output(&mut support::stage_only(sandbox, &input, dsn)).await;
    assert!(
        staged.status.success(),
        "{}",
        String::from_utf8_lossy(&staged.stderr)
    );
    assert_eq!(json_of(&staged)["staged"]["staged"], RECORDS);
    (0..3)
        .map(|_| {
            importer(
                sandbox,
                &["work", "--journal", dsn, "--lease", lease, "--json"],
            )
            .spawn()
            .unwrap()
        })
        .collect()
}

/// Records acknowledged so far, as the journal says.
fn acknowledged(cluster: &Cluster, db: &str) -> u64 {
    cluster
        .query(
            db,
            "SELECT count(*) FROM preventor_records WHERE state = 'acknowledged'",
        )
        .parse()
        .unwrap()
}

async fn until_acknowledged(cluster: &Cluster, db: &str, n: u64) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while acknowledged(cluster, db) < n {
        assert!(
            Instant::now() < deadline,
            "the feed did not reach {n} acknowledged"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn signal(child: &Child, signal: i32) {
    // SAFETY: kill on a pid we spawned.
    assert_eq!(unsafe { libc::kill(child.id() as i32, signal) }, 0);
}

/// Every record accounted for and none stored twice: the journal's states add up to the feed,
/// nothing is left pending or in flight, an acknowledged record is stored and keeps no payload,
/// and the sandbox holds no duplicate.
/// `late`: ids a paused worker had handed to its HTTP client before the pause (they may
/// arrive after later records of their account, when it wakes).
fn all_accounted(
    cluster: &Cluster,
    db: &str,
    sandbox: &Sandbox,
    late: &std::collections::HashSet<String>,
) -> serde_json::Value {
    let counts = cluster.query(
        db,
        "SELECT json_object_agg(state, n) FROM (SELECT state, count(*) AS n FROM preventor_records GROUP BY state) s",
    );
    let counts: serde_json::Value = serde_json::from_str(&counts).unwrap();
    let n = |s: &str| counts[s].as_u64().unwrap_or(0);
    let stats = sandbox.stats();
    assert_eq!(stats["duplicates"], 0, "{stats}");
    // A worker's marks and its lease renewals run on two connections, and lock the buckets'
    // rows in one order: the database never had to break a deadlock between them.
    let log = cluster.log();
    assert!(
        !log.contains("deadlock detected"),
        "{}",
        log.lines()
            .filter(|l| l.contains("deadlock") || l.contains("Process"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert_eq!(n("pending") + n("in_flight"), 0, "{counts}");
    assert_eq!(
        n("acknowledged") + n("ambiguous") + n("failed") + n("rejected"),
        RECORDS,
        "{counts}"
    );
    // Each account's transactions arrived in input order (tx-N: N grows along the file).
    for (account, ids) in sandbox.arrivals() {
        let order: Vec<u64> = ids
            .iter()
            .filter(|id| !late.contains(*id))
            .map(|id| id[3..].parse().unwrap())
            .collect();
        assert!(
            order.windows(2).all(|w| w[0] < w[1]),
            "{account} arrived out of order: {order:?}"
        );
    }
    // Ambiguous only where an answer was lost (a 503, a cut connection, a request that timed
    // out: a worker paused longer than the request timeout, as a loaded machine makes the
    // SIGSTOP test, finds its calls timed out when it wakes) or a worker lost its lease with the
    // record in flight.
    let unexplained = cluster.query(
        db,
        "SELECT count(*) || ' ' || coalesce(string_agg(DISTINCT details, ' | '), '')
         FROM preventor_records WHERE state = 'ambiguous'
         AND details NOT LIKE '%503%' AND details NOT LIKE '%transport error%'
         AND details NOT LIKE '%lost its lease%' AND details NOT LIKE '%timed out%'",
    );
    assert_eq!(
        unexplained.split_whitespace().next(),
        Some("0"),
        "ambiguous records with another reason: {unexplained}"
    );
    let stored = stats["stored"]["transactions"].as_u64().unwrap();
    assert!(
        stored >= n("acknowledged") && stored <= n("acknowledged") + n("ambiguous"),
        "stored {stored}, journal {counts}"
    );
    assert_eq!(
        cluster.query(
            db,
            "SELECT count(*) FROM preventor_records WHERE state IN ('acknowledged', 'rejected') AND payload IS NOT NULL"
        ),
        "0"
    );
    counts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_workers_buckets_are_taken_over_within_its_lease_and_nothing_is_sent_twice() {
    let cluster = Cluster::start("kill");
    let dsn = cluster.database("feed");
    let sandbox = faulty_sandbox().await;
    let mut workers = staged_with_workers(&sandbox, &dsn, "kill", "3").await;
    until_acknowledged(&cluster, "feed", RECORDS / 4).await;
    let victim = workers.remove(0);
    signal(&victim, libc::SIGKILL);
    let killed_at = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let victim_id = format!(":{}:", victim.id());
    let _ = wait(victim).await;
    let mut takeover_s: Vec<f64> = Vec::new();
    for worker in workers {
        let out = wait(worker).await;
        let report = json_of(&out);
        assert!(
            matches!(out.status.code(), Some(0) | Some(3)),
            "{report} {}",
            String::from_utf8_lossy(&out.stderr)
        );
        for t in report["takeovers"].as_array().unwrap() {
            if t["from"].as_str().unwrap().contains(&victim_id) {
                takeover_s.push(t["at_unix_s"].as_f64().unwrap() - killed_at);
            }
        }
    }
    let counts = all_accounted(&cluster, "feed", &sandbox, &Default::default());
    assert!(
        !takeover_s.is_empty(),
        "no bucket of the killed worker was taken over"
    );
    let latest = takeover_s.iter().cloned().fold(0.0, f64::max);
    eprintln!(
        "kill -9: {} buckets taken over, the last {latest:.2} s after the kill (lease 3 s); {counts}",
        takeover_s.len()
    );
    // Its lease ran at most 3 s past its last renewal; a second for the survivors to notice.
    assert!(latest <= 4.0, "taken over {latest:.2} s after the kill");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_paused_past_its_lease_marks_nothing_more_when_it_wakes() {
    let cluster = Cluster::start("pause");
    let dsn = cluster.database("feed");
    let sandbox = faulty_sandbox().await;
    let mut workers = staged_with_workers(&sandbox, &dsn, "pause", "2").await;
    until_acknowledged(&cluster, "feed", RECORDS / 4).await;
    let paused = workers.remove(0);
    signal(&paused, libc::SIGSTOP);
    // The others take its buckets over once its lease expires, and finish the feed.
    for worker in workers {
        let out = wait(worker).await;
        assert!(
            matches!(out.status.code(), Some(0) | Some(3)),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let before = sandbox.stats()["received"]["registerMonetaryTransaction"].clone();
    let woken = cluster.query("feed", "SELECT now()");
    signal(&paused, libc::SIGCONT);
    let out = wait(paused).await;
    let after = sandbox.stats()["received"]["registerMonetaryTransaction"].clone();
    let report = json_of(&out);
    let worker = report["worker"].as_str().unwrap();
    let marked_after = cluster.query(
        "feed",
        &format!("SELECT count(*) FROM preventor_records WHERE worker = '{worker}' AND marked > '{woken}'"),
    );
    // Requests it had handed to its HTTP client before the pause (marked under a lease it
    // held then) may reach the server on waking: their buckets' new holders made them
    // ambiguous and never resent them. Nothing else goes.
    let handed_over: u64 = cluster
        .query(
            "feed",
            &format!(
                "SELECT count(*) FROM preventor_records WHERE worker = '{worker}' AND marked <= '{woken}'
                 AND (updated > '{woken}' OR details LIKE '%{worker}%lost its lease%')"
            ),
        )
        .parse()
        .unwrap();
    let sent_after = after.as_u64().unwrap() - before.as_u64().unwrap();
    eprintln!(
        "SIGSTOP past the lease: calls after waking {sent_after}, records marked before the pause \
         and answered or left in flight after it {handed_over}, marked after waking {marked_after}"
    );
    assert_eq!(
        marked_after, "0",
        "it marked records after waking: {report}"
    );
    assert!(
        sent_after <= handed_over,
        "{sent_after} calls after waking, {handed_over} handed over before the pause: {report}"
    );
    let late: std::collections::HashSet<String> = cluster
        .query(
            "feed",
            &format!(
                "SELECT id FROM preventor_records WHERE worker = '{worker}' AND marked <= '{woken}'
                 AND (updated > '{woken}' OR details LIKE '%{worker}%lost its lease%')"
            ),
        )
        .lines()
        .map(String::from)
        .collect();
    let counts = all_accounted(&cluster, "feed", &sandbox, &late);
    eprintln!("SIGSTOP: feed {counts}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workers_wait_for_a_restarted_postgres_and_lose_nothing() {
    let cluster = Cluster::start("restart");
    let dsn = cluster.database("feed");
    let sandbox = faulty_sandbox().await;
    let workers = staged_with_workers(&sandbox, &dsn, "restart", "10").await;
    until_acknowledged(&cluster, "feed", RECORDS / 4).await;
    let restarted = Instant::now();
    cluster.restart(Duration::from_secs(3));
    eprintln!("PostgreSQL down and up again in {:?}", restarted.elapsed());
    for worker in workers {
        let out = wait(worker).await;
        assert!(
            matches!(out.status.code(), Some(0) | Some(3)),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let counts = all_accounted(&cluster, "feed", &sandbox, &Default::default());
    eprintln!("restart: {counts}");
}

/// Repeats in a staged file are found however far apart (batches of 1,000 are staged at a
/// time; the journal, not memory, knows which lines this staging read), and a second staging
/// of the same file names them again and stages nothing.
#[tokio::test]
async fn staging_names_repeated_ids_across_batches_and_again_when_staged_twice() {
    let cluster = Cluster::start("repeats");
    let dsn = cluster.database("repeats");
    // The records table as an earlier version made it (no staging columns): opening the
    // journal adds them.
    cluster.query(
        "repeats",
        "CREATE TABLE preventor_records (seq BIGSERIAL UNIQUE, row_id TEXT PRIMARY KEY,
           kind TEXT NOT NULL, operation TEXT NOT NULL, key TEXT NOT NULL, id TEXT NOT NULL,
           bucket INTEGER NOT NULL, hash TEXT NOT NULL, state TEXT NOT NULL,
           maybe_sent BOOLEAN NOT NULL DEFAULT false, line BIGINT, status INTEGER,
           details TEXT, payload TEXT, epoch BIGINT, worker TEXT, marked TIMESTAMPTZ,
           created TIMESTAMPTZ NOT NULL DEFAULT now(), updated TIMESTAMPTZ NOT NULL DEFAULT now())",
    );
    let sandbox = Sandbox::start(SandboxConfig {
        accept_unknown_accounts: true,
        ..SandboxConfig::default()
    })
    .await
    .unwrap();
    let dir = temp_dir("stage-repeats");
    let line = |i: u64| {
        format!(
            r#"{{"id":"t-{i}","account_number":"a-{}","trans_amount":"1.00","trans_currency":"PEN"}}"#,
            i % 20
        )
    };
    let mut lines: Vec<String> = (1..=2_500).map(line).collect();
    lines.push(line(1)); // line 2,501: 2,500 lines after its first
    lines.push(line(2_499)); // line 2,502: in the same batch as its first
    let input = dir.join("repeats.jsonl");
    std::fs::write(&input, lines.join("\n")).unwrap();
    for (round, staged_now) in [(1, 2_500), (2, 0)] {
        let out = output(&mut support::stage_only(&sandbox, &input, &dsn)).await;
        let report = json_of(&out)["staged"].clone();
        assert_eq!(out.status.code(), Some(1), "round {round}: {report}");
        assert_eq!(report["staged"], staged_now, "round {round}: {report}");
        assert_eq!(report["duplicate_ids"], 2, "round {round}: {report}");
        let pairs = repeat_pairs(&report);
        assert_eq!(
            pairs,
            [(2_501, 1), (2_502, 2_499)],
            "round {round}: {report}"
        );
    }
}
