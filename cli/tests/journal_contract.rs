//! The journal's contract, one suite run against both stores: every scenario below runs once on
//! a SQLite journal and once on a PostgreSQL journal (a throwaway cluster per test), through the
//! `preventor` binary as an operator runs it, against an in-process sandbox. The promise is the
//! same on both: every record's fate is reported, a rerun exits by what became of the input's
//! records, and a decision is carried out by the next run. Scenarios that only one store can
//! have live at the end, each saying why.

mod support;

use std::{
    io::Write,
    path::{Path, PathBuf},
    process::{Command, Output, Stdio},
    time::{Duration, Instant},
};

use preventor_sandbox::{Sandbox, SandboxConfig};
use support::{importer, json_of, postgres::Cluster, stderr_of, temp_dir, TestDir};

/// Longest a command may run here: one that does not end is a failure, not a hung suite.
const COMMAND_LIMIT: Duration = Duration::from_secs(120);

/// Where a scenario's journal lives.
enum Store {
    Sqlite,
    Postgres,
}

/// A scenario's journal and what it needs: its directory, and a cluster for PostgreSQL.
struct Journal {
    dir: TestDir,
    journal: String,
    cluster: Option<Cluster>,
}

impl Journal {
    fn new(store: Store, name: &str) -> Journal {
        let dir = temp_dir(name);
        match store {
            Store::Sqlite => Journal {
                journal: dir.join("journal.sqlite").display().to_string(),
                dir,
                cluster: None,
            },
            Store::Postgres => {
                let cluster = Cluster::start(name);
                Journal {
                    journal: cluster.database("feed"),
                    dir,
                    cluster: Some(cluster),
                }
            }
        }
    }

    /// `preventor import KIND FILE --journal J --json` against `sandbox`.
    async fn import(&self, sandbox: &Sandbox, kind: &str, file: &Path) -> Output {
        let file = file.to_str().unwrap();
        run(&mut importer(
            sandbox,
            &["import", kind, file, "--journal", &self.journal, "--json"],
        ))
        .await
    }

    /// The same import with `input` on its stdin (`-`), and `extra` arguments.
    async fn import_stdin(
        &self,
        sandbox: &Sandbox,
        kind: &str,
        input: Vec<u8>,
        extra: &[&str],
    ) -> Output {
        let mut command = importer(
            sandbox,
            &[
                &["import", kind, "-", "--journal", &self.journal, "--json"],
                extra,
            ]
            .concat(),
        );
        command.stdin(Stdio::piped());
        let mut child = command.spawn().unwrap();
        let mut stdin = child.stdin.take().unwrap();
        // Written from a thread of its own, in small writes, as a pipe from a producer arrives.
        let writer = std::thread::spawn(move || {
            for chunk in input.chunks(4096) {
                if stdin.write_all(chunk).is_err() {
                    break;
                }
            }
        });
        let out = within(child).await;
        writer.join().unwrap();
        out
    }

    /// `preventor import KIND FILE --journal J --stage-only --json` (PostgreSQL: staged, not sent).
    fn stage_only(&self, sandbox: &Sandbox, kind: &str, file: &Path) -> Command {
        importer(
            sandbox,
            &[
                "import",
                kind,
                file.to_str().unwrap(),
                "--journal",
                &self.journal,
                "--stage-only",
                "--json",
            ],
        )
    }

    /// `preventor status J --json`: its exit code and report.
    async fn status(&self) -> (Option<i32>, serde_json::Value) {
        let out = run(&mut support::bare(&["status", &self.journal, "--json"])).await;
        (out.status.code(), json_of(&out))
    }

    /// Runs `sql` on the journal's own database; the first column of the first row, as text.
    fn execute(&self, sql: &str) -> String {
        match &self.cluster {
            Some(cluster) => cluster.query("feed", sql),
            None => {
                let db = rusqlite::Connection::open(&self.journal).unwrap();
                let mut statement = db.prepare(sql).unwrap();
                let mut rows = statement.query([]).unwrap();
                match rows.next().unwrap() {
                    Some(row) => match row.get_ref(0).unwrap() {
                        rusqlite::types::ValueRef::Null => String::new(),
                        rusqlite::types::ValueRef::Integer(i) => i.to_string(),
                        rusqlite::types::ValueRef::Text(t) => {
                            String::from_utf8_lossy(t).into_owned()
                        }
                        other => format!("{other:?}"),
                    },
                    None => String::new(),
                }
            }
        }
    }

    /// Records per state, from the journal's own tables.
    fn states(&self) -> serde_json::Value {
        match &self.cluster {
            Some(cluster) => {
                let text = cluster.query(
                    "feed",
                    "SELECT coalesce(json_object_agg(state, n), '{}') FROM
                       (SELECT state, count(*) AS n FROM preventor_records GROUP BY state) s",
                );
                serde_json::from_str(&text).unwrap()
            }
            None => {
                let db = rusqlite::Connection::open(&self.journal).unwrap();
                let mut statement = db
                    .prepare("SELECT state, count(*) FROM records GROUP BY state")
                    .unwrap();
                let rows = statement
                    .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))
                    .unwrap();
                let mut states = serde_json::Map::new();
                for row in rows {
                    let (state, n) = row.unwrap();
                    states.insert(state, n.into());
                }
                states.into()
            }
        }
    }
}

/// Runs `command` to its end, or kills it and fails after [`COMMAND_LIMIT`].
async fn run(command: &mut Command) -> Output {
    within(command.spawn().unwrap()).await
}

async fn within(child: std::process::Child) -> Output {
    let pid = child.id() as i32;
    let waited = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap());
    match tokio::time::timeout(COMMAND_LIMIT, waited).await {
        Ok(out) => out.unwrap(),
        Err(_) => {
            // SAFETY: kill(2) on a child of this process.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            panic!("the command did not end within {COMMAND_LIMIT:?}");
        }
    }
}

/// A sandbox that knows only the accounts it is told of (an unknown one is rejected: 404).
async fn strict_sandbox() -> Sandbox {
    Sandbox::start(SandboxConfig::default()).await.unwrap()
}

/// A sandbox that takes transactions on any account.
async fn open_sandbox(config: SandboxConfig) -> Sandbox {
    Sandbox::start(SandboxConfig {
        accept_unknown_accounts: true,
        ..config
    })
    .await
    .unwrap()
}

fn stored(sandbox: &Sandbox) -> u64 {
    sandbox.stats()["stored"]["transactions"]
        .as_u64()
        .unwrap_or(0)
}

fn transaction(id: &str, account: &str, amount: &str) -> String {
    format!(
        r#"{{"id":"{id}","account_number":"{account}","trans_amount":"{amount}","trans_currency":"PEN"}}"#
    )
}

fn write(dir: &Path, name: &str, lines: &[String]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    path
}

/// Creates the accounts `numbers` in `sandbox` (no journal: a test's set-up).
async fn create_accounts(sandbox: &Sandbox, dir: &Path, numbers: &[&str]) {
    let lines: Vec<String> = numbers
        .iter()
        .map(|n| format!(r#"{{"request_type":"A","id":"acct-{n}","account_number":"{n}"}}"#))
        .collect();
    let file = write(
        dir,
        &format!("accounts-{}.jsonl", numbers.join("-")),
        &lines,
    );
    let out = run(&mut importer(
        sandbox,
        &["import", "accounts", file.to_str().unwrap(), "--json"],
    ))
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
}

/// Runs each command of `status`'s next steps for `state` whose decision is `decision`, as
/// printed, through a shell with the binary on PATH: each must succeed.
async fn run_suggested(journal: &Journal, state: &str, decision: &str) -> usize {
    let (_, report) = journal.status().await;
    let steps = report["next_steps"].as_array().cloned().unwrap_or_default();
    let commands: Vec<String> = steps
        .iter()
        .filter(|s| s["state"] == state)
        .flat_map(|s| s["commands"].as_array().cloned().unwrap_or_default())
        .filter_map(|c| c.as_str().map(String::from))
        .filter(|c| c.contains(&format!("--decision {decision} ")))
        .collect();
    assert!(
        !commands.is_empty(),
        "status suggests no `{decision}` for {state}: {report}"
    );
    let bin = Path::new(env!("CARGO_BIN_EXE_preventor")).parent().unwrap();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    for command in &commands {
        let mut shell = Command::new("sh");
        shell
            .args(["-c", command])
            .env("PATH", &path)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("PREVENTOR_") {
                shell.env_remove(name);
            }
        }
        let out = run(&mut shell).await;
        assert_eq!(out.status.code(), Some(0), "{command}: {}", stderr_of(&out));
    }
    commands.len()
}

// ---- The scenarios: each an `async fn(Store)`, run against both stores below. ----

/// Records piped on stdin, JSON Lines and CSV: every one is read, sent once and reported.
async fn records_from_stdin_are_all_sent(store: Store) {
    const RECORDS: u64 = 5_000;
    let sandbox = open_sandbox(SandboxConfig::default()).await;
    let journal = Journal::new(store, "stdin");
    let lines: Vec<String> = (0..RECORDS)
        .map(|i| transaction(&format!("t-{i}"), &format!("a-{}", i % 50), "1.00"))
        .collect();
    let out = journal
        .import_stdin(
            &sandbox,
            "transactions",
            (lines.join("\n") + "\n").into(),
            &[],
        )
        .await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    assert_eq!(stored(&sandbox), RECORDS);
    let (code, status) = journal.status().await;
    assert_eq!(
        (code, status["acknowledged"].as_u64()),
        (Some(0), Some(RECORDS)),
        "{status}"
    );

    // CSV on stdin (`--csv`: a pipe has no file name to tell).
    let mut csv = String::from("id,account_number,trans_amount,trans_currency\n");
    for i in 0..100 {
        csv.push_str(&format!("c-{i},a-{},2.50,PEN\n", i % 7));
    }
    let out = journal
        .import_stdin(&sandbox, "transactions", csv.into(), &["--csv"])
        .await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    assert_eq!(stored(&sandbox), RECORDS + 100);
}

/// A rerun exits by what became of the input's records, whichever run settled them: all
/// acknowledged 0, any rejected 1, and never 0 over a record an earlier run rejected.
async fn a_rerun_exits_by_the_fate_of_every_record_of_its_input(store: Store) {
    let sandbox = strict_sandbox().await;
    let journal = Journal::new(store, "rerun");
    create_accounts(&sandbox, &journal.dir, &["a-1"]).await;
    let clean = write(
        &journal.dir,
        "clean.jsonl",
        &(0..5)
            .map(|i| transaction(&format!("ok-{i}"), "a-1", "1.00"))
            .collect::<Vec<_>>(),
    );
    for _ in 0..2 {
        let out = journal.import(&sandbox, "transactions", &clean).await;
        assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    }
    assert_eq!(stored(&sandbox), 5, "the rerun sent nothing again");

    let lines: Vec<String> = (0..10)
        .map(|i| {
            let account = if i < 3 { "a-missing" } else { "a-1" };
            transaction(&format!("t-{i}"), account, "1.00")
        })
        .collect();
    let file = write(&journal.dir, "feed.jsonl", &lines);
    let mut reports = Vec::new();
    for run in ["first", "second (a cron retry)"] {
        let out = journal.import(&sandbox, "transactions", &file).await;
        let report = json_of(&out);
        assert_eq!(out.status.code(), Some(1), "{run} run: {report}");
        reports.push(report);
    }
    for report in reports {
        assert_eq!(report["records_of_this_input"]["rejected"], 3, "{report}");
    }
    let (code, status) = journal.status().await;
    assert_eq!(code, Some(1), "{status}");
    assert_eq!(stored(&sandbox), 5 + 7);
}

/// A rejected record whose cause is fixed (its account now exists) is resent by the next run
/// once an operator decides so, with the command `status` suggests; that run ends, and exits 0.
async fn a_resend_decided_on_a_rejected_record_is_sent_by_the_next_run(store: Store) {
    let sandbox = strict_sandbox().await;
    let journal = Journal::new(store, "resend-rejected");
    create_accounts(&sandbox, &journal.dir, &["a-1"]).await;
    let lines: Vec<String> = (0..10)
        .map(|i| {
            let account = if i < 3 { "a-2" } else { "a-1" };
            transaction(&format!("t-{i}"), account, "1.00")
        })
        .collect();
    let file = write(&journal.dir, "feed.jsonl", &lines);
    let out = journal.import(&sandbox, "transactions", &file).await;
    assert_eq!(out.status.code(), Some(1), "{}", stderr_of(&out));

    create_accounts(&sandbox, &journal.dir, &["a-2"]).await;
    run_suggested(&journal, "rejected", "resend").await;
    let (code, status) = journal.status().await;
    assert_eq!(
        code,
        Some(3),
        "decided, not yet sent: unsettled until a run sends them: {status}"
    );

    let out = journal.import(&sandbox, "transactions", &file).await;
    let report = json_of(&out);
    assert_eq!(out.status.code(), Some(0), "{report}");
    assert_eq!(stored(&sandbox), 10);
    let (code, status) = journal.status().await;
    assert_eq!(
        (code, status["acknowledged"].as_u64()),
        (Some(0), Some(10)),
        "{status}"
    );
}

/// An abandoned record is settled by that decision: the next run sends nothing and exits 0.
async fn an_abandoned_record_is_never_sent_and_a_rerun_exits_0(store: Store) {
    let sandbox = strict_sandbox().await;
    let journal = Journal::new(store, "abandon");
    create_accounts(&sandbox, &journal.dir, &["a-1"]).await;
    let lines = vec![
        transaction("t-1", "a-1", "1.00"),
        transaction("t-2", "a-gone", "2.00"),
    ];
    let file = write(&journal.dir, "feed.jsonl", &lines);
    let out = journal.import(&sandbox, "transactions", &file).await;
    assert_eq!(out.status.code(), Some(1), "{}", stderr_of(&out));
    run_suggested(&journal, "rejected", "abandon").await;
    create_accounts(&sandbox, &journal.dir, &["a-gone"]).await;
    let out = journal.import(&sandbox, "transactions", &file).await;
    let report = json_of(&out);
    assert_eq!(out.status.code(), Some(0), "{report}");
    assert_eq!(stored(&sandbox), 1, "the abandoned record was not sent");
    assert_eq!(journal.states()["abandoned"], 1);
}

/// Ambiguous records (every answer lost): exit 3; the commands `status` suggests run as
/// printed; once recorded as acknowledged, a rerun sends nothing and everything exits 0.
async fn the_suggested_decisions_run_and_settle_ambiguous_records(store: Store) {
    let sandbox = open_sandbox(SandboxConfig {
        drop_after_commit: 1.0,
        ..SandboxConfig::default()
    })
    .await;
    let journal = Journal::new(store, "ambiguous");
    let lines: Vec<String> = (0..5)
        .map(|i| transaction(&format!("t-{i}"), "a-1", "1.00"))
        .collect();
    let file = write(&journal.dir, "feed.jsonl", &lines);
    let out = journal.import(&sandbox, "transactions", &file).await;
    assert_eq!(out.status.code(), Some(3), "{}", stderr_of(&out));
    assert_eq!(journal.states()["ambiguous"], 5, "{}", journal.states());
    let (code, _) = journal.status().await;
    assert_eq!(code, Some(3));
    // The report suggests the same commands, and exits by the same rule.
    let report = run(&mut support::bare(&["report", &journal.journal, "--json"])).await;
    assert_eq!(report.status.code(), Some(3));
    assert!(
        json_of(&report)["next_steps"][0]["commands"][0]
            .as_str()
            .unwrap()
            .starts_with("preventor resolve "),
        "{}",
        json_of(&report)
    );

    run_suggested(&journal, "ambiguous", "acknowledged").await;
    let (code, status) = journal.status().await;
    assert_eq!(code, Some(0), "{status}");
    let out = journal.import(&sandbox, "transactions", &file).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    assert_eq!(
        sandbox.calls("registerMonetaryTransaction"),
        5,
        "nothing sent again"
    );
}

/// A repeated id is sent once; each repeat is named, and the run exits 1.
async fn a_repeated_id_is_sent_once_and_the_run_exits_1(store: Store) {
    let sandbox = open_sandbox(SandboxConfig::default()).await;
    let journal = Journal::new(store, "repeat");
    let lines = vec![
        transaction("t-1", "a-1", "1.00"),
        transaction("t-2", "a-1", "2.00"),
        transaction("t-1", "a-1", "1.00"),
        transaction("t-1", "a-2", "9.00"),
    ];
    let file = write(&journal.dir, "feed.jsonl", &lines);
    let out = journal.import(&sandbox, "transactions", &file).await;
    let report = json_of(&out);
    assert_eq!(out.status.code(), Some(1), "{report}");
    assert_eq!(report["records_of_this_input"]["repeated"], 2, "{report}");
    assert_eq!(
        report["records_of_this_input"]["acknowledged"], 2,
        "{report}"
    );
    assert_eq!(stored(&sandbox), 2);
}

/// Records whose content changed since a run sent them are reported and not sent (exit 1);
/// the journal keeps what was sent.
async fn content_changed_since_sent_is_reported_and_not_sent(store: Store) {
    let sandbox = open_sandbox(SandboxConfig::default()).await;
    let journal = Journal::new(store, "changed");
    let sent: Vec<String> = (0..3)
        .map(|i| transaction(&format!("t-{i}"), "a-1", "1.00"))
        .collect();
    let changed: Vec<String> = (0..3)
        .map(|i| transaction(&format!("t-{i}"), "a-1", "9.99"))
        .collect();
    let first = write(&journal.dir, "feed.jsonl", &sent);
    let second = write(&journal.dir, "changed.jsonl", &changed);
    let out = journal.import(&sandbox, "transactions", &first).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    let out = journal.import(&sandbox, "transactions", &second).await;
    let report = json_of(&out);
    assert_eq!(out.status.code(), Some(1), "{report}");
    assert_eq!(
        report["records_of_this_input"]["changed_since_sent"], 3,
        "{report}"
    );
    assert_eq!(sandbox.calls("registerMonetaryTransaction"), 3);
    assert_eq!(journal.states()["acknowledged"], 3);
}

/// A journal bound to one target refuses another before anything is sent to it (exit 4).
async fn a_journal_of_another_target_is_refused_before_sending(store: Store) {
    let first = open_sandbox(SandboxConfig::default()).await;
    let other = open_sandbox(SandboxConfig::default()).await;
    let journal = Journal::new(store, "target");
    let lines = vec![transaction("t-1", "a-1", "1.00")];
    let file = write(&journal.dir, "feed.jsonl", &lines);
    let out = journal.import(&first, "transactions", &file).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    let out = journal.import(&other, "transactions", &file).await;
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(4), "{err}");
    assert!(err.contains("another target"), "{err}");
    assert_eq!(other.calls("registerMonetaryTransaction"), 0);
}

/// SIGTERM stops a run cleanly (exit 5: the calls in flight finish and are recorded); a rerun
/// sends the rest, and every record arrives once.
async fn a_stop_signal_ends_cleanly_and_a_rerun_sends_the_rest(store: Store) {
    const RECORDS: u64 = 1_000;
    let sandbox = open_sandbox(SandboxConfig {
        latency: Duration::from_millis(20),
        rate_limit: Some(200.0),
        ..SandboxConfig::default()
    })
    .await;
    let journal = Journal::new(store, "stop");
    let lines: Vec<String> = (0..RECORDS)
        .map(|i| transaction(&format!("t-{i}"), &format!("a-{}", i % 20), "1.00"))
        .collect();
    let file = write(&journal.dir, "feed.jsonl", &lines);
    let args = [
        "import",
        "transactions",
        file.to_str().unwrap(),
        "--journal",
        &journal.journal,
        "--json",
    ];
    let child = importer(&sandbox, &args).spawn().unwrap();
    let started = Instant::now();
    while stored(&sandbox) < 100 {
        assert!(started.elapsed() < COMMAND_LIMIT, "nothing was sent");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // SAFETY: kill(2) on a child of this process.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let out = within(child).await;
    assert_eq!(out.status.code(), Some(5), "{}", stderr_of(&out));
    assert!(stored(&sandbox) < RECORDS, "stopped before the end");
    let out = run(&mut importer(&sandbox, &args)).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    assert_eq!(stored(&sandbox), RECORDS);
    assert_eq!(sandbox.stats()["duplicates"], 0);
    let (code, status) = journal.status().await;
    assert_eq!(
        (code, status["acknowledged"].as_u64()),
        (Some(0), Some(RECORDS)),
        "{status}"
    );
}

/// A journal of the schema before versioned migrations (the same tables, no history table) is
/// migrated when a run opens it, and keeps what it knew: a rerun sends nothing again.
async fn a_journal_from_before_versioned_migrations_is_migrated_and_keeps_its_records(
    store: Store,
) {
    let sandbox = open_sandbox(SandboxConfig::default()).await;
    let journal = Journal::new(store, "migrate");
    let lines: Vec<String> = (0..3)
        .map(|i| transaction(&format!("t-{i}"), "a-1", "1.00"))
        .collect();
    let file = write(&journal.dir, "feed.jsonl", &lines);
    let out = journal.import(&sandbox, "transactions", &file).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    let history = match &journal.cluster {
        Some(_) => "preventor_schema_history",
        None => "schema_history",
    };
    journal.execute(&format!("DROP TABLE {history}"));
    let out = journal.import(&sandbox, "transactions", &file).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    assert_eq!(
        sandbox.calls("registerMonetaryTransaction"),
        3,
        "nothing sent again"
    );
    // PostgreSQL's V2 seals payloads (the SQLite journal keeps none).
    let (versions, latest) = match &journal.cluster {
        Some(_) => (
            format!("SELECT string_agg(version::text, ',' ORDER BY version) FROM {history}"),
            "1,2",
        ),
        None => (format!("SELECT group_concat(version) FROM {history}"), "1"),
    };
    assert_eq!(
        journal.execute(&versions),
        latest,
        "migrated to the latest version"
    );
}

/// Each scenario as two tests, one per store.
macro_rules! on_both_stores {
    ($($scenario:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    super::$scenario(super::Store::Sqlite).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    super::$scenario(super::Store::Postgres).await
                }
            )*
        }
    };
}

on_both_stores!(
    records_from_stdin_are_all_sent,
    a_rerun_exits_by_the_fate_of_every_record_of_its_input,
    a_resend_decided_on_a_rejected_record_is_sent_by_the_next_run,
    an_abandoned_record_is_never_sent_and_a_rerun_exits_0,
    the_suggested_decisions_run_and_settle_ambiguous_records,
    a_repeated_id_is_sent_once_and_the_run_exits_1,
    content_changed_since_sent_is_reported_and_not_sent,
    a_journal_of_another_target_is_refused_before_sending,
    a_stop_signal_ends_cleanly_and_a_rerun_sends_the_rest,
    a_journal_from_before_versioned_migrations_is_migrated_and_keeps_its_records,
);

// ---- One store only. ----

/// PostgreSQL only (a SQLite journal has one writer: nothing is staged while it sends). A
/// correction staged while a worker holds the old content in its queue: the worker never sends
/// the old content under the new one's name; each corrected record arrives with its new content,
/// or is reported changed since sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_correction_staged_while_a_worker_runs_is_sent_or_reported() {
    const RECORDS: usize = 400;
    let sandbox = open_sandbox(SandboxConfig {
        rate_limit: Some(100.0),
        ..SandboxConfig::default()
    })
    .await;
    let journal = Journal::new(Store::Postgres, "correction");
    let cluster = journal.cluster.as_ref().unwrap();
    let original: Vec<String> = (0..RECORDS)
        .map(|i| transaction(&format!("t-{i:04}"), "a-old", "1.00"))
        .collect();
    let corrected: Vec<String> = (0..RECORDS)
        .map(|i| transaction(&format!("t-{i:04}"), "a-new", "1.00"))
        .collect();
    let first = write(&journal.dir, "feed.jsonl", &original);
    let second = write(&journal.dir, "corrected.jsonl", &corrected);
    let stage = |file: &Path| journal.stage_only(&sandbox, "transactions", file);
    let out = run(&mut stage(&first)).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    let hashes = || -> std::collections::HashMap<String, String> {
        cluster
            .query("feed", "SELECT id || ' ' || hash FROM preventor_records")
            .lines()
            .map(|l| {
                let (id, hash) = l.split_once(' ').unwrap();
                (id.to_string(), hash.to_string())
            })
            .collect()
    };
    let original = hashes();
    let worker = importer(&sandbox, &["work", "--journal", &journal.journal, "--json"])
        .spawn()
        .unwrap();
    // Staged anew while the worker has fetched and is sending.
    let started = Instant::now();
    while stored(&sandbox) < 40 {
        assert!(started.elapsed() < COMMAND_LIMIT, "the worker sent nothing");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let out = run(&mut stage(&second)).await;
    let staged = json_of(&out)["staged"].clone();
    let out = within(worker).await;
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "{}",
        stderr_of(&out)
    );
    // Every record of the correction was staged, or reported changed since sent.
    assert_eq!(
        staged["staged"].as_u64().unwrap() + staged["changed_since_sent"].as_u64().unwrap(),
        RECORDS as u64,
        "{staged}"
    );
    let now = hashes();
    let arrivals = sandbox.arrivals();
    let old: std::collections::HashSet<&String> =
        arrivals.get("a-old").into_iter().flatten().collect();
    let new: std::collections::HashSet<&String> =
        arrivals.get("a-new").into_iter().flatten().collect();
    assert_eq!(sandbox.stats()["duplicates"], 0);
    let mut corrected = 0;
    for (id, hash) in &now {
        // The journal names the content that arrived: the correction's, or the original's.
        if *hash == original[id] {
            assert!(
                old.contains(id) && !new.contains(id),
                "{id}: kept its sent content"
            );
        } else {
            corrected += 1;
            assert!(
                new.contains(id) && !old.contains(id),
                "{id} was staged corrected, yet arrived with its old content (old {}, new {})",
                old.contains(id),
                new.contains(id)
            );
        }
    }
    assert_eq!(corrected, staged["staged"].as_u64().unwrap() as usize);
    assert_eq!(
        cluster.query(
            "feed",
            "SELECT count(*) FROM preventor_records WHERE state <> 'acknowledged'"
        ),
        "0"
    );
}

/// PostgreSQL only (a SQLite run settles what an earlier run left in flight when it opens the
/// journal). Records left in flight in a bucket nobody holds (a worker stopped while a flush
/// failed, or lost a take's answer) are settled by the next take: `work` ends, reporting them
/// ambiguous, instead of waiting for them forever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_records_left_in_flight_in_a_free_bucket_are_settled_and_work_ends() {
    let sandbox = open_sandbox(SandboxConfig::default()).await;
    let journal = Journal::new(Store::Postgres, "left-in-flight");
    let cluster = journal.cluster.as_ref().unwrap();
    let lines: Vec<String> = (0..20)
        .map(|i| transaction(&format!("t-{i}"), &format!("a-{}", i % 4), "1.00"))
        .collect();
    let file = write(&journal.dir, "feed.jsonl", &lines);
    let out = run(&mut journal.stage_only(&sandbox, "transactions", &file)).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    // As a worker leaves them when its last flush failed: in flight under an old epoch, their
    // buckets given back.
    cluster.query(
        "feed",
        "UPDATE preventor_records SET state = 'in_flight', epoch = 0, worker = 'w-gone'
         WHERE id IN ('t-0', 't-1', 't-2')",
    );
    let out = run(&mut importer(
        &sandbox,
        &["work", "--journal", &journal.journal, "--json"],
    ))
    .await;
    let report = json_of(&out);
    assert_eq!(out.status.code(), Some(3), "{report}");
    assert_eq!(report["feed"]["ambiguous"], 3, "{report}");
    assert_eq!(report["feed"]["acknowledged"], 17, "{report}");
    assert_eq!(stored(&sandbox), 17);
}
