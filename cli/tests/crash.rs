//! kill -9 the importer mid-run, run it again: every record is stored exactly once, apart from
//! records the journal reports ambiguous, and `preventor status` agrees with the sandbox.

mod support;

use std::time::{Duration, Instant};

use preventor_sandbox::{Sandbox, SandboxConfig};
use support::importer;

const RECORDS: u64 = 20_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_import_resumes_without_losing_or_doubling_a_record() {
    let sandbox = Sandbox::start(SandboxConfig {
        accept_unknown_accounts: true,
        drop_after_commit: 0.005,
        fail_share: Some((0.01, 503)),
        ..Default::default()
    })
    .await
    .unwrap();
    let dir = support::temp_dir("crash");
    let input = support::transactions(&dir, RECORDS, 97);
    let journal = dir.join("journal.sqlite");
    let (input_s, journal_s) = (input.to_str().unwrap(), journal.to_str().unwrap());
    // At most 64 in flight: the sandbox's end of each connection is in this process, and the
    // test must pass under `ulimit -n 256`.
    let args = [
        "import",
        "transactions",
        input_s,
        "--journal",
        journal_s,
        "--concurrency",
        "32",
        "--max-concurrency",
        "64",
    ];

    // First run: killed (SIGKILL) once a quarter of the records are stored.
    let mut child = importer(&sandbox, &args).spawn().unwrap();
    let started = Instant::now();
    loop {
        let stored = sandbox.stats()["stored"]["transactions"].as_u64().unwrap();
        if stored >= RECORDS / 4 {
            break;
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "the importer ended before it was killed"
        );
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "too slow: {stored} stored"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let at_kill = sandbox.stats()["stored"]["transactions"].as_u64().unwrap();
    assert!(at_kill < RECORDS, "killed mid-run");

    // Second run: to the end.
    let out = importer(&sandbox, &[&args[..], &["--json"]].concat())
        .output()
        .unwrap();
    let report: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    // 3: ambiguous records remain (lost answers, 503s, and what was in flight at the kill).
    assert!(matches!(out.status.code(), Some(0 | 3)), "{report}");

    let status = importer(&sandbox, &["status", journal_s, "--json"])
        .output()
        .unwrap();
    let status: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    let n = |k: &str| status[k].as_u64().unwrap();
    assert_eq!(n("pending"), 0, "{status}");
    assert_eq!(n("rejected"), 0, "{status}");
    assert_eq!(n("failed"), 0, "{status}");
    assert_eq!(
        n("acknowledged") + n("ambiguous"),
        RECORDS,
        "every record settled: {status}"
    );

    let stats = sandbox.stats();
    let stored = stats["stored"]["transactions"].as_u64().unwrap();
    assert_eq!(stats["duplicates"], 0, "nothing sent twice: {stats}");
    // Every acknowledged record is stored once; an ambiguous one is stored or not.
    assert!(
        n("acknowledged") <= stored && stored <= RECORDS,
        "journal {status} vs sandbox {stats}"
    );
    assert!(
        stored >= RECORDS - n("ambiguous"),
        "journal {status} vs sandbox {stats}"
    );
    eprintln!(
        "stored at the kill: {at_kill}\nsecond run: {report}\nstatus: {status}\nsandbox: {stats}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
