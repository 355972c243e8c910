//! Shared-feed benchmark: one `preventor work` against three on the same feed, staged into a
//! throwaway PostgreSQL, against the sandbox binary at a rate limit (20 ms latency, 200
//! accounts); and the time from a worker's SIGKILL to its buckets moving (3 s lease). The point
//! of three workers is availability, not speed: they share one limit, and must still reach it.
//!
//! ```sh
//! cargo build --release -p preventor-cli -p preventor-sandbox
//! cargo run --release -p preventor-cli --example feed_bench            # 60,000 transactions
//! cargo run --release -p preventor-cli --example feed_bench -- --quick # 12,000, to prove it runs
//! cargo run --release -p preventor-cli --example feed_bench -- --samples # and each worker's seconds
//! cargo run --release -p preventor-cli --example feed_bench -- --accounts 2000 # not 200
//! cargo run --release -p preventor-cli --example feed_bench -- --follow # a stream instead
//! ```
//! `--follow`: a producer writes transactions into `import - --follow` at half the server's
//! limit and at the limit ([`FOLLOW_LIMIT`]), for one and for three `work --follow`; the
//! staging-to-acknowledgement latency (from the record's staging to its outcome written),
//! p50 and p99, and 429s per 1,000; `target/bench/follow.json`.
//! Needs `initdb`, `pg_ctl` and `psql` on PATH. Figures go to stdout and
//! `target/bench/feed.json`. Ratios are printed, never asserted.

#[path = "support/release.rs"]
mod support;

#[path = "../tests/support/postgres.rs"]
#[allow(dead_code)]
mod postgres;

use std::{
    io::Write,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use serde_json::json;
use support::{release, Sandbox};

const LIMIT: u64 = 3000;
/// Accounts the transactions are spread over (`--accounts N` changes it): records of one
/// account go one at a time, in order, so few accounts bound the rate before the limit does.
static ACCOUNTS: std::sync::OnceLock<u64> = std::sync::OnceLock::new();

fn accounts() -> u64 {
    *ACCOUNTS.get_or_init(|| {
        let args: Vec<String> = std::env::args().collect();
        args.iter()
            .position(|a| a == "--accounts")
            .and_then(|at| args.get(at + 1)?.parse().ok())
            .unwrap_or(200)
    })
}

/// The sandbox binary at [`LIMIT`] requests a second, 20 ms latency.
fn sandbox() -> Sandbox {
    support::sandbox(&[
        "--latency-ms",
        "20",
        "--accept-unknown-accounts",
        "--rate-limit",
        &LIMIT.to_string(),
    ])
}

fn preventor(url: &str, args: &[&str]) -> Command {
    let mut command = Command::new(release("preventor"));
    command
        .args(args)
        .envs(preventor_sandbox::Credentials::default().env(url))
        // The key that seals the journal's payloads (a build from before sealing ignores it).
        .env(
            "PREVENTOR_JOURNAL_KEY",
            "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff",
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    command
}

fn input(dir: &Path, n: u64) -> PathBuf {
    let path = dir.join("feed.jsonl");
    let mut f = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    for i in 0..n {
        writeln!(
            f,
            r#"{{"id":"tx-{i}","account_number":"acc-{}","trans_amount":"{i}.25","trans_currency":"PEN"}}"#,
            i % accounts()
        )
        .unwrap();
    }
    path
}

/// CPU seconds (user and system) of the children this process has waited for.
fn children_cpu() -> f64 {
    // SAFETY: getrusage fills the struct it is given.
    let usage = unsafe {
        let mut usage = std::mem::zeroed::<libc::rusage>();
        libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage);
        usage
    };
    let seconds = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    seconds(usage.ru_utime) + seconds(usage.ru_stime)
}

/// Stages `file` (sealing every record's payload); returns the staging's wall and CPU seconds.
fn stage(url: &str, dsn: &str, file: &Path) -> (f64, f64) {
    let (started, cpu) = (Instant::now(), children_cpu());
    let out = preventor(
        url,
        &[
            "import",
            "transactions",
            file.to_str().unwrap(),
            "--journal",
            dsn,
            "--stage-only",
        ],
    )
    .output()
    .unwrap();
    assert!(out.status.success(), "staging failed");
    (started.elapsed().as_secs_f64(), children_cpu() - cpu)
}

fn report(child: Child) -> serde_json::Value {
    let out = child.wait_with_output().unwrap();
    serde_json::from_slice(&out.stdout).unwrap_or(json!({}))
}

/// Per worker and second: acknowledged and 429s in the second, in flight, limit.
const SAMPLES: &str = "SELECT string_agg(format('run %s t %s: +%s ack, +%s 429, %s in flight, limit %s, p50 %s ms, p99 %s ms', \
     run, round(t::numeric, 1), acknowledged - coalesce(lag_ack, 0), rate_limited - coalesce(lag_rl, 0), \
     in_flight, concurrency_limit, round(p50_ms::numeric, 1), round(p99_ms::numeric, 1)), E'\\n' ORDER BY run, t) FROM (SELECT *, \
     lag(acknowledged) OVER (PARTITION BY run ORDER BY t) AS lag_ack, \
     lag(rate_limited) OVER (PARTITION BY run ORDER BY t) AS lag_rl FROM preventor_samples) s";

/// The feed's last three seconds by 200 ms slot: records finished, and distinct keys among them.
const TAIL: &str = "SELECT string_agg(format('tail %s s: %s records over %s keys', slot, n, keys), \
     E'\\n' ORDER BY slot) FROM (SELECT round((floor(EXTRACT(EPOCH FROM updated - last) * 5) / 5)::numeric, 1) AS slot, \
     count(*) AS n, count(DISTINCT key) AS keys FROM preventor_records, \
     (SELECT max(updated) AS last FROM preventor_records) l \
     WHERE updated > last - interval '3 seconds' GROUP BY 1) s";

/// What the server's limit offered and nobody used, from the sandbox's `rate_limit` stats: the
/// seconds of it that overflowed a full token bucket (before the feed reached the limit, and
/// wherever it fell below it long enough), and those left after the last call let through.
fn unused(url: &str) -> (f64, f64) {
    let stats: serde_json::Value = tokio::runtime::Runtime::new().unwrap().block_on(async {
        reqwest::get(format!("{url}/__sandbox/stats"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    });
    let bucket = stats["rate_limit"]
        .as_object()
        .and_then(|m| m.values().next().cloned())
        .unwrap_or_default();
    let seconds = |field: &str| bucket[field].as_f64().unwrap_or(0.0) / LIMIT as f64;
    (
        seconds("tokens_overflowed"),
        seconds("tokens_left_after_last_accepted"),
    )
}

/// `workers` workers on a fresh feed of `n` records: the share of the limit reached (the
/// sandbox's one-second burst subtracted), 429s per 1,000 acknowledged.
fn at_limit(cluster: &postgres::Cluster, dir: &Path, workers: usize, n: u64) -> serde_json::Value {
    let db = format!("feed{workers}");
    let dsn = cluster.database(&db);
    let sandbox = sandbox();
    let (staging_s, staging_cpu) = stage(&sandbox.url, &dsn, &input(dir, n));
    let started = Instant::now();
    let cpu = children_cpu();
    let children: Vec<Child> = (0..workers)
        .map(|_| {
            preventor(&sandbox.url, &["work", "--journal", &dsn, "--json"])
                .spawn()
                .unwrap()
        })
        .collect();
    let reports: Vec<_> = children.into_iter().map(report).collect();
    let seconds = started.elapsed().as_secs_f64();
    let work_cpu_us = (children_cpu() - cpu) * 1e6 / n as f64;
    let staging_cpu_us = staging_cpu * 1e6 / n as f64;
    let acknowledged: f64 = cluster
        .query(
            &db,
            "SELECT count(*) FROM preventor_records WHERE state = 'acknowledged'",
        )
        .parse()
        .unwrap();
    let rate_limited: f64 = reports
        .iter()
        .map(|r| r["rate_limited"].as_f64().unwrap_or(0.0))
        .sum();
    let share = (acknowledged - LIMIT as f64).max(0.0) / seconds / LIMIT as f64;
    // The sending window alone: the first mark to the last outcome (no process start, token,
    // or end of run).
    let window: f64 = cluster
        .query(
            &db,
            "SELECT EXTRACT(EPOCH FROM max(updated) - min(marked)) FROM preventor_records",
        )
        .parse()
        .unwrap();
    let window_share = (acknowledged - LIMIT as f64).max(0.0) / window / LIMIT as f64;
    let per_thousand = rate_limited * 1000.0 / acknowledged.max(1.0);
    let (overflowed, left) = unused(&sandbox.url);
    if std::env::args().any(|a| a == "--samples") {
        // Each worker's run, second by second: acknowledged and 429s in that second, calls in
        // flight and the concurrency limit at its end.
        println!("{}", cluster.query(&db, SAMPLES));
        println!("{}", cluster.query(&db, TAIL));
    }
    println!(
        "{workers} worker(s), {n} records at {LIMIT}/s: {acknowledged} acknowledged in {seconds:.1} s, \
         {share:.3} of the limit (burst subtracted), {per_thousand:.1} 429s per 1,000; \
         sending window {window:.1} s: {window_share:.3} of the limit; the server's limit \
         unused: {overflowed:.2} s overflowed, {left:.2} s left at the end; staging \
         {staging_s:.2} s ({staging_cpu_us:.1} us CPU a record), workers {work_cpu_us:.1} us CPU \
         a record"
    );
    json!({"workers": workers, "records": n, "seconds": seconds, "acknowledged": acknowledged,
           "share_of_limit": share, "rate_limited_per_1000": per_thousand,
           "sending_window_s": window, "window_share_of_limit": window_share,
           "limit_unused_s": {"overflowed": overflowed, "left_at_end": left},
           "staging_s": staging_s, "staging_cpu_us_per_record": staging_cpu_us,
           "workers_cpu_us_per_record": work_cpu_us})
}

/// Three workers, one killed at a third of the feed: seconds from the kill to the last of its
/// buckets taken over.
fn takeover(cluster: &postgres::Cluster, dir: &Path, n: u64) -> serde_json::Value {
    let dsn = cluster.database("takeover");
    let sandbox = sandbox();
    stage(&sandbox.url, &dsn, &input(dir, n));
    let mut children: Vec<Child> = (0..3)
        .map(|_| {
            preventor(
                &sandbox.url,
                &["work", "--journal", &dsn, "--lease", "3", "--json"],
            )
            .spawn()
            .unwrap()
        })
        .collect();
    while cluster
        .query(
            "takeover",
            "SELECT count(*) FROM preventor_records WHERE state = 'acknowledged'",
        )
        .parse::<u64>()
        .unwrap()
        < n / 3
    {
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut victim = children.remove(0);
    let pid = format!(":{}:", victim.id());
    victim.kill().unwrap();
    let killed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let _ = victim.wait();
    let mut moved = Vec::new();
    for child in children {
        for t in report(child)["takeovers"]
            .as_array()
            .cloned()
            .unwrap_or_default()
        {
            if t["from"].as_str().unwrap_or("").contains(&pid) {
                moved.push(t["at_unix_s"].as_f64().unwrap_or(0.0) - killed);
            }
        }
    }
    let last = moved.iter().cloned().fold(0.0, f64::max);
    let first = moved.iter().cloned().fold(f64::INFINITY, f64::min);
    println!(
        "kill -9 of one of three workers (lease 3 s): {} buckets taken over, {first:.2}-{last:.2} s after the kill",
        moved.len()
    );
    json!({"lease_s": 3, "buckets_moved": moved.len(), "first_s": first, "last_s": last})
}

/// The server's limit in `--follow` (a producer at 3,000 lines a second would compete for the
/// two cores with what it measures).
const FOLLOW_LIMIT: u64 = 1000;

/// A stream at `rate` a second for `seconds` into `import - --follow`, sent by `workers`
/// followers against the sandbox at [`FOLLOW_LIMIT`] (20 ms latency): staging-to-outcome
/// latency p50 and p99, 429s per 1,000.
fn follow(
    cluster: &postgres::Cluster,
    workers: usize,
    rate: u64,
    seconds: u64,
) -> serde_json::Value {
    let db = format!("follow{workers}x{rate}");
    let dsn = cluster.database(&db);
    let sandbox = support::sandbox(&[
        "--latency-ms",
        "20",
        "--accept-unknown-accounts",
        "--rate-limit",
        &FOLLOW_LIMIT.to_string(),
    ]);
    let children: Vec<Child> = (0..workers)
        .map(|_| {
            preventor(
                &sandbox.url,
                &["work", "--journal", &dsn, "--follow", "--json"],
            )
            .spawn()
            .unwrap()
        })
        .collect();
    let mut stager = preventor(
        &sandbox.url,
        &[
            "import",
            "transactions",
            "-",
            "--journal",
            &dsn,
            "--follow",
            "--json",
        ],
    )
    .stdin(Stdio::piped())
    .spawn()
    .unwrap();
    let mut stdin = std::io::BufWriter::new(stager.stdin.take().unwrap());
    let begun = Instant::now();
    let begun_unix = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let n = rate * seconds;
    // Every 10 ms, the lines due by then.
    let mut i = 0;
    while i < n {
        let due = (begun.elapsed().as_secs_f64() * rate as f64) as u64 + 1;
        while i < due.min(n) {
            writeln!(
                stdin,
                r#"{{"id":"tx-{i}","account_number":"acc-{}","trans_amount":"{i}.25","trans_currency":"PEN"}}"#,
                i % accounts()
            )
            .unwrap();
            i += 1;
        }
        stdin.flush().unwrap();
        std::thread::sleep(Duration::from_millis(10));
    }
    drop(stdin);
    let staged = report(stager);
    let deadline = Instant::now() + Duration::from_secs(120);
    while Instant::now() < deadline
        && cluster.query(
            &db,
            "SELECT count(*) FROM preventor_records WHERE state IN ('pending', 'in_flight')",
        ) != "0"
    {
        std::thread::sleep(Duration::from_millis(100));
    }
    let reports: Vec<_> = children
        .into_iter()
        .map(|child| {
            // SAFETY: kill on a pid we spawned.
            unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
            report(child)
        })
        .collect();
    let rate_limited: f64 = reports
        .iter()
        .map(|r| r["rate_limited"].as_f64().unwrap_or(0.0))
        .sum();
    let figures = cluster.query(
        &db,
        "SELECT count(*) || ' ' || \
         round((1000 * percentile_cont(0.5) WITHIN GROUP (ORDER BY EXTRACT(EPOCH FROM updated - created)))::numeric, 1) || ' ' || \
         round((1000 * percentile_cont(0.99) WITHIN GROUP (ORDER BY EXTRACT(EPOCH FROM updated - created)))::numeric, 1) \
         FROM preventor_records WHERE state = 'acknowledged'",
    );
    let mut f = figures
        .split_whitespace()
        .map(|v| v.parse::<f64>().unwrap_or(f64::NAN));
    let (acknowledged, p50, p99) = (
        f.next().unwrap_or(0.0),
        f.next().unwrap_or(f64::NAN),
        f.next().unwrap_or(f64::NAN),
    );
    // From the line's write into the pipe (tx-i is due i/rate seconds after the start: the
    // batch's wait included) to its outcome written.
    let line_to = |q: f64| -> f64 {
        cluster
            .query(
                &db,
                &format!(
                    "SELECT round((1000 * percentile_cont({q}) WITHIN GROUP (ORDER BY \
                     EXTRACT(EPOCH FROM updated) - ({begun_unix} + substr(id, 4)::float8 / {rate})))::numeric, 1) \
                     FROM preventor_records WHERE state = 'acknowledged'"
                ),
            )
            .parse()
            .unwrap_or(f64::NAN)
    };
    let (line_p50, line_p99) = (line_to(0.5), line_to(0.99));
    let per_thousand = rate_limited * 1000.0 / acknowledged.max(1.0);
    println!(
        "follow: {workers} worker(s), {rate}/s for {seconds} s (limit {FOLLOW_LIMIT}/s): \
         {acknowledged} of {n} acknowledged ({} staged), staging to acknowledgement p50 {p50:.1} ms, \
         p99 {p99:.1} ms; line written to acknowledgement p50 {line_p50:.1} ms, p99 {line_p99:.1} ms; \
         {per_thousand:.1} 429s per 1,000",
        staged["staged"]["staged"]
    );
    json!({"workers": workers, "rate": rate, "limit": FOLLOW_LIMIT, "seconds": seconds,
           "records": n, "acknowledged": acknowledged, "p50_ms": p50, "p99_ms": p99,
           "line_p50_ms": line_p50, "line_p99_ms": line_p99,
           "rate_limited_per_1000": per_thousand})
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    if std::env::args().any(|a| a == "--follow") {
        let seconds = if quick { 5 } else { 20 };
        let cluster = postgres::Cluster::start("bench-follow");
        let mut rows = Vec::new();
        for workers in [1, 3] {
            for rate in [FOLLOW_LIMIT / 2, FOLLOW_LIMIT] {
                rows.push(follow(&cluster, workers, rate, seconds));
            }
        }
        let out = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/bench");
        std::fs::create_dir_all(&out).unwrap();
        std::fs::write(
            out.join("follow.json"),
            serde_json::to_string_pretty(&json!({"quick": quick, "rows": rows})).unwrap(),
        )
        .unwrap();
        return;
    }
    let n = if quick { 12_000 } else { 60_000 };
    let dir = std::env::temp_dir().join(format!("preventor-feed-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let cluster = postgres::Cluster::start("bench");
    let one = at_limit(&cluster, &dir, 1, n);
    let three = at_limit(&cluster, &dir, 3, n);
    let moved = takeover(&cluster, &dir, n / 3);
    println!(
        "three workers / one: {:.3}",
        three["share_of_limit"].as_f64().unwrap_or(0.0)
            / one["share_of_limit"].as_f64().unwrap_or(1.0).max(1e-9)
    );
    let out = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/bench");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(
        out.join("feed.json"),
        serde_json::to_string_pretty(
            &json!({"quick": quick, "limit": LIMIT, "accounts": accounts(), "one": one, "three": three, "takeover": moved}),
        )
        .unwrap(),
    )
    .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}
