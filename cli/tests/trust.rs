//! A feed is never reported sent unless the configured Preventor took it: the `preventor`
//! binary as an operator runs it, against an in-process sandbox. One test per way it could
//! pretend: configuration, a journal of another target, two importers, a stop, repeated ids,
//! shards, resends, and messages without a terminal.

mod support;

use std::time::{Duration, Instant};

use preventor_sandbox::{Sandbox, SandboxConfig};
use support::{
    bare, importer, json_of, output, repeat_pairs, stderr_of, temp_dir, transactions, wait,
};

async fn sandbox(config: SandboxConfig) -> Sandbox {
    Sandbox::start(SandboxConfig {
        accept_unknown_accounts: true,
        ..config
    })
    .await
    .unwrap()
}

fn stored(sandbox: &Sandbox) -> u64 {
    sandbox.stats()["stored"]["transactions"].as_u64().unwrap()
}

/// Waits until the sandbox stored at least `n` transactions.
async fn until_stored(sandbox: &Sandbox, n: u64) {
    let started = Instant::now();
    while stored(sandbox) < n {
        assert!(started.elapsed() < Duration::from_secs(120), "too slow");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// `preventor status JOURNAL --json`: its exit code and report.
async fn status(journal: &std::path::Path) -> (Option<i32>, serde_json::Value) {
    let out = output(&mut bare(&["status", journal.to_str().unwrap(), "--json"])).await;
    (out.status.code(), json_of(&out))
}

#[tokio::test]
async fn partial_or_missing_configuration_is_refused_naming_every_missing_variable() {
    let sandbox = sandbox(SandboxConfig::default()).await;
    let dir = temp_dir("config");
    let input = transactions(&dir, 10, 2);
    let journal = dir.join("prod.sqlite");
    let args = [
        "import",
        "transactions",
        input.to_str().unwrap(),
        "--journal",
        journal.to_str().unwrap(),
    ];

    // A secret that failed to mount: everything set but the API key.
    let out = output(importer(&sandbox, &args).env_remove("PREVENTOR_API_KEY")).await;
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(4), "{err}");
    assert!(err.contains("PREVENTOR_API_KEY"), "{err}");
    assert!(!err.contains("sandbox at"), "no silent fallback: {err}");

    // Two set (URL and tenant), the rest missing: every missing one is named.
    let out = output(
        bare(&args)
            .env("PREVENTOR_COMPLIANCE_URL", "https://api.preventor.com")
            .env("PREVENTOR_TENANT", "bank"),
    )
    .await;
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(4), "{err}");
    assert!(err.contains("incomplete"), "{err}");
    for name in [
        "PREVENTOR_API_KEY",
        "PREVENTOR_ENV",
        "PREVENTOR_BANKNU",
        "PREVENTOR_CLIENT_ID",
        "PREVENTOR_CLIENT_SECRET",
        "PREVENTOR_USERNAME",
        "PREVENTOR_PASSWORD",
        "PREVENTOR_SCOPE",
    ] {
        assert!(err.contains(name), "{name} not named: {err}");
    }
    assert!(!err.contains("PREVENTOR_TENANT,"), "{err}");

    // None set: an error too, pointing at --sandbox; the other commands likewise.
    for command in [&args[..], &["token"], &["customer", "get", "c-1"]] {
        let out = output(&mut bare(command)).await;
        let err = stderr_of(&out);
        assert_eq!(out.status.code(), Some(4), "{command:?}: {err}");
        assert!(err.contains("--sandbox"), "{err}");
    }
    assert!(!journal.exists(), "nothing was written before the refusal");
    assert_eq!(
        sandbox.stats()["received"],
        serde_json::json!({}),
        "nothing sent"
    );

    // Asked for, the sandbox is used and said so.
    let out = output(&mut bare(&[&args[..], &["--sandbox", "--json"]].concat())).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    assert!(stderr_of(&out).contains("embedded sandbox"));
    assert_eq!(json_of(&out)["acknowledged"], 10);
    let out = output(bare(&["token"]).env("PREVENTOR_SANDBOX", "1")).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
}

#[tokio::test]
async fn a_sandbox_journal_is_refused_by_another_target_which_then_gets_every_record() {
    let production = sandbox(SandboxConfig::default()).await;
    let dir = temp_dir("target");
    let input = transactions(&dir, 50, 5);
    let journal = dir.join("j.sqlite");
    let args = [
        "import",
        "transactions",
        input.to_str().unwrap(),
        "--journal",
        journal.to_str().unwrap(),
        "--json",
    ];
    let out = output(&mut bare(&[&args[..], &["--sandbox"]].concat())).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));

    let out = output(&mut importer(&production, &args)).await;
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(4), "{err}");
    assert!(
        err.contains("another target") && err.contains("embedded-sandbox"),
        "{err}"
    );
    assert_eq!(stored(&production), 0, "refused before sending");
    assert_eq!(
        production.calls("oauthToken"),
        0,
        "refused before the token"
    );

    let (_, report) = status(&journal).await;
    assert_eq!(report["target"]["compliance_url"], "embedded-sandbox");

    // Starting over is a new journal file.
    let fresh = dir.join("production.sqlite");
    let out = output(&mut importer(
        &production,
        &[&args[..4], &[fresh.to_str().unwrap(), "--json"]].concat(),
    ))
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    assert_eq!(json_of(&out)["acknowledged"], 50);
    assert_eq!(stored(&production), 50);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_importer_on_a_held_journal_is_refused_and_the_first_completes() {
    const RECORDS: u64 = 3_000;
    let sandbox = sandbox(SandboxConfig {
        latency: Duration::from_millis(20),
        ..Default::default()
    })
    .await;
    let dir = temp_dir("writers");
    let input = transactions(&dir, RECORDS, 50);
    let journal = dir.join("j.sqlite");
    let args = [
        "import",
        "transactions",
        input.to_str().unwrap(),
        "--journal",
        journal.to_str().unwrap(),
        "--json",
        // At most 400 calls a second at 20 ms: the first run lasts seconds, however busy the
        // machine is when the second one starts.
        "--max-concurrency",
        "8",
    ];
    let first = importer(&sandbox, &args).spawn().unwrap();
    until_stored(&sandbox, 1).await;
    let before = sandbox.stats()["received"]["registerMonetaryTransaction"].clone();
    let second = output(&mut importer(&sandbox, &args)).await;
    let err = stderr_of(&second);
    assert_eq!(second.status.code(), Some(4), "{err}");
    assert!(err.contains("held by another import"), "{err}");
    assert!(json_of(&second)["error"]
        .as_str()
        .is_some_and(|e| e.contains("held by another import")));
    let first = wait(first).await;
    assert_eq!(first.status.code(), Some(0), "{}", stderr_of(&first));
    assert_eq!(json_of(&first)["acknowledged"], RECORDS);
    let stats = sandbox.stats();
    assert_eq!(
        stats["duplicates"], 0,
        "{stats} (before the second: {before})"
    );
    assert_eq!(stored(&sandbox), RECORDS);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigint_stops_cleanly_and_a_rerun_leaves_nothing_ambiguous() {
    const RECORDS: u64 = 6_000;
    let sandbox = sandbox(SandboxConfig {
        latency: Duration::from_millis(20),
        ..Default::default()
    })
    .await;
    let dir = temp_dir("sigint");
    let input = transactions(&dir, RECORDS, 97);
    let journal = dir.join("j.sqlite");
    let args = [
        "import",
        "transactions",
        input.to_str().unwrap(),
        "--journal",
        journal.to_str().unwrap(),
        "--json",
        "--max-concurrency",
        "48",
    ];
    let child = importer(&sandbox, &args).spawn().unwrap();
    until_stored(&sandbox, RECORDS / 10).await;
    // SAFETY: kill(2) on our own child's pid.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGINT) }, 0);
    let out = wait(child).await;
    assert_eq!(out.status.code(), Some(5), "{}", stderr_of(&out));
    let report = json_of(&out);
    assert_eq!(report["stopped"], true, "{report}");
    assert_eq!(report["ambiguous"], 0, "{report}");
    assert!(stderr_of(&out).contains("SIGINT: stopping"));
    let at_stop = stored(&sandbox);
    assert!(at_stop < RECORDS, "stopped mid-run: {at_stop}");
    assert_eq!(
        report["acknowledged"].as_u64().unwrap(),
        at_stop,
        "every record the server took was recorded: {report}"
    );

    let out = output(&mut importer(&sandbox, &args)).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    let (code, report) = status(&journal).await;
    assert_eq!(code, Some(0), "{report}");
    assert_eq!(report["ambiguous"], 0, "{report}");
    assert_eq!(report["acknowledged"], RECORDS, "{report}");
    assert_eq!(sandbox.stats()["duplicates"], 0);
    assert_eq!(stored(&sandbox), RECORDS);
}

#[tokio::test]
async fn a_repeated_id_is_sent_once_and_both_lines_are_named() {
    let dir = temp_dir("repeated");
    let input = dir.join("t.jsonl");
    std::fs::write(
        &input,
        [
            r#"{"id":"t-1","account_number":"a-1","trans_amount":"1.00","trans_currency":"PEN"}"#,
            r#"{"id":"t-2","account_number":"a-1","trans_amount":"2.00","trans_currency":"PEN"}"#,
            "",
            r#"{"id":"t-1","account_number":"a-1","trans_amount":"1.00","trans_currency":"PEN"}"#,
            r#"{"id":"t-1","account_number":"a-2","trans_amount":"9.00","trans_currency":"PEN"}"#,
        ]
        .join("\n"),
    )
    .unwrap();
    for journal in [None, Some(dir.join("j.sqlite"))] {
        let sandbox = sandbox(SandboxConfig::default()).await;
        let mut args = vec!["import", "transactions", input.to_str().unwrap(), "--json"];
        if let Some(j) = &journal {
            args.extend(["--journal", j.to_str().unwrap()]);
        }
        let out = output(&mut importer(&sandbox, &args)).await;
        let report = json_of(&out);
        assert_eq!(out.status.code(), Some(1), "{report}");
        assert_eq!(report["duplicate_ids"], 2, "{report}");
        let lines = repeat_pairs(&report);
        assert_eq!(lines, [(4, 1), (5, 1)], "{report}");
        assert!(stderr_of(&out).contains("line 4: id t-1 repeats line 1"));
        assert_eq!(report["acknowledged"], 2, "{report}");
        let stats = sandbox.stats();
        assert_eq!(
            stats["received"]["registerMonetaryTransaction"], 2,
            "{stats}"
        );
        assert_eq!(stats["duplicates"], 0, "{stats}");
        let Some(j) = &journal else { continue };
        // A rerun on the same journal: the settled lines are skipped and the repeats still
        // named (the journal, not memory, knows which lines this run read).
        let out = output(&mut importer(&sandbox, &args)).await;
        let report = json_of(&out);
        assert_eq!(out.status.code(), Some(1), "{report}");
        assert_eq!(report["skipped_already_done"], 2, "{report}");
        assert_eq!(report["duplicate_ids"], 2, "{report}");
        assert_eq!(report["duplicate_lines"][0]["first_line"], 1, "{report}");
        assert_eq!(
            sandbox.stats()["received"]["registerMonetaryTransaction"],
            2
        );
        assert!(j.exists());
    }
}

/// Repeats far apart (the first line's row long committed when the repeat is read) are found
/// through the journal, with the memory of the check not growing with the input.
#[tokio::test]
async fn a_repeat_far_from_its_first_line_is_found_through_the_journal() {
    let dir = temp_dir("repeated-far");
    let input = dir.join("t.jsonl");
    let line = |i: u64| {
        format!(
            r#"{{"id":"t-{i}","account_number":"a-{}","trans_amount":"1.00","trans_currency":"PEN"}}"#,
            i % 20
        )
    };
    let mut lines: Vec<String> = (1..=3_000).map(line).collect();
    lines.push(line(1));
    lines.push(line(2_999));
    std::fs::write(&input, lines.join("\n")).unwrap();
    let sandbox = sandbox(SandboxConfig::default()).await;
    let journal = dir.join("j.sqlite");
    let out = output(&mut importer(
        &sandbox,
        &[
            "import",
            "transactions",
            input.to_str().unwrap(),
            "--json",
            "--journal",
            journal.to_str().unwrap(),
        ],
    ))
    .await;
    let report = json_of(&out);
    assert_eq!(out.status.code(), Some(1), "{report}");
    assert_eq!(report["acknowledged"], 3_000, "{report}");
    assert_eq!(report["duplicate_ids"], 2, "{report}");
    let pairs = repeat_pairs(&report);
    assert_eq!(pairs, [(3_001, 1), (3_002, 2_999)], "{report}");
    assert_eq!(sandbox.stats()["duplicates"], 0);
}

#[tokio::test]
async fn a_shard_journal_holds_only_its_shard_and_is_complete() {
    let sandbox = sandbox(SandboxConfig::default()).await;
    let dir = temp_dir("shard");
    let input = transactions(&dir, 600, 37);
    let mut total = 0;
    for i in 0..3 {
        let journal = dir.join(format!("shard-{i}.sqlite"));
        let shard = format!("{i}/3");
        let args = [
            "import",
            "transactions",
            input.to_str().unwrap(),
            "--journal",
            journal.to_str().unwrap(),
            "--shard",
            &shard,
            "--json",
        ];
        let out = output(&mut importer(&sandbox, &args)).await;
        assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
        let report = json_of(&out);
        let mine = report["acknowledged"].as_u64().unwrap();
        assert_eq!(mine + report["other_shards"].as_u64().unwrap(), 600);
        total += mine;
        let (code, report) = status(&journal).await;
        assert_eq!(code, Some(0), "a complete shard: {report}");
        assert_eq!(report["pending"], 0, "{report}");
        assert_eq!(report["acknowledged"], mine, "{report}");
    }
    assert_eq!(total, 600);
}

#[tokio::test]
async fn rejected_records_are_named_by_line_without_a_terminal_and_input_is_checked_before_the_token(
) {
    let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
    let dir = temp_dir("named");
    // Unknown accounts: the sandbox answers 404 for each transaction.
    let input = transactions(&dir, 3, 3);
    let out = output(&mut importer(
        &sandbox,
        &["import", "transactions", input.to_str().unwrap()],
    ))
    .await;
    assert_eq!(out.status.code(), Some(1));
    let err = stderr_of(&out);
    for line in 1..=3 {
        assert!(
            err.contains(&format!(
                "line {line}: registerMonetaryTransaction tx-{}: rejected (404",
                line - 1
            )),
            "{err}"
        );
    }
    assert!(err.contains("no --journal"), "{err}");
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(report.contains("rejected_records:"), "{report}");
    assert!(report.contains("tx-1 (line 2)"), "{report}");

    let tokens = sandbox.calls("oauthToken");
    let missing = dir.join("missing.jsonl");
    let out = output(&mut importer(
        &sandbox,
        &["import", "transactions", missing.to_str().unwrap()],
    ))
    .await;
    assert_eq!(out.status.code(), Some(4));
    assert!(stderr_of(&out).contains("missing.jsonl"));
    assert_eq!(
        sandbox.calls("oauthToken"),
        tokens,
        "no token for a missing file"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resent_ambiguous_transactions_that_had_arrived_are_acknowledged_not_rejected() {
    const RECORDS: u64 = 400;
    let sandbox = sandbox(SandboxConfig {
        drop_after_commit: 0.2,
        ..Default::default()
    })
    .await;
    let dir = temp_dir("resend");
    let input = transactions(&dir, RECORDS, 20);
    let journal = dir.join("j.sqlite");
    let args = [
        "import",
        "transactions",
        input.to_str().unwrap(),
        "--journal",
        journal.to_str().unwrap(),
        "--json",
    ];
    // Lost answers time out after 30 s by default: the sandbox closes them, so they end at once.
    let out = output(&mut importer(&sandbox, &args)).await;
    let first = json_of(&out);
    assert_eq!(out.status.code(), Some(3), "{first}");
    let ambiguous = first["ambiguous"].as_u64().unwrap();
    assert!(ambiguous > 0, "{first}");
    assert_eq!(stored(&sandbox), RECORDS, "lost answers were stored");

    // A plain rerun leaves them for an operator; --resend-ambiguous settles them.
    let out = output(&mut importer(&sandbox, &args)).await;
    assert_eq!(json_of(&out)["ambiguous"], ambiguous);
    let out = output(&mut importer(
        &sandbox,
        &[&args[..], &["--resend-ambiguous"]].concat(),
    ))
    .await;
    let report = json_of(&out);
    assert_eq!(report["rejected"], 0, "{report}");
    assert_eq!(report["reconciled"], ambiguous, "{report}");
    let (_, report) = status(&journal).await;
    assert_eq!(report["acknowledged"], RECORDS, "{report}");
    assert_eq!(report["rejected"], 0, "{report}");
    assert_eq!(stored(&sandbox), RECORDS);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resent_ambiguous_customer_creates_are_read_back_first() {
    let sandbox = sandbox(SandboxConfig::default()).await;
    let dir = temp_dir("resend-customers");
    let input = dir.join("customers.jsonl");
    let lines: Vec<String> = (0..100)
        .map(|n| {
            format!(
                r#"{{"request_type":"A","id":"cu-{n}","first_name":"ANA","type_of_person":"P"}}"#
            )
        })
        .collect();
    std::fs::write(&input, lines.join("\n")).unwrap();
    let journal = dir.join("j.sqlite");
    let args = [
        "import",
        "customers",
        input.to_str().unwrap(),
        "--journal",
        journal.to_str().unwrap(),
        "--json",
    ];
    let out = output(&mut importer(&sandbox, &args)).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    // As a kill -9 leaves them: every create stored, every record still marked in flight.
    let db = rusqlite::Connection::open(&journal).unwrap();
    db.execute("UPDATE records SET state = 'in_flight'", [])
        .unwrap();
    drop(db);

    let out = output(&mut importer(
        &sandbox,
        &[&args[..], &["--resend-ambiguous"]].concat(),
    ))
    .await;
    let report = json_of(&out);
    assert_eq!(out.status.code(), Some(0), "{report}");
    assert_eq!(report["reconciled"], 100, "{report}");
    assert_eq!(report["rejected"], 0, "{report}");
    assert_eq!(
        sandbox.calls("customerOnboarding"),
        100,
        "nothing sent twice"
    );
    assert_eq!(sandbox.calls("getCustomer"), 100, "each read back");
    assert_eq!(sandbox.stats()["duplicates"], 0);
}

#[tokio::test]
async fn each_update_is_a_record_of_its_own_and_the_same_update_twice_is_one() {
    let sandbox = sandbox(SandboxConfig::default()).await;
    let dir = temp_dir("updates");
    let journal = dir.join("j.sqlite");
    let write = |name: &str, lines: &[&str]| {
        let path = dir.join(name);
        std::fs::write(&path, lines.join("\n")).unwrap();
        path
    };
    let customers = write(
        "customers.jsonl",
        &[
            r#"{"request_type":"A","id":"cu-1","first_name":"ANA","type_of_person":"P"}"#,
            r#"{"request_type":"U","id":"cu-1","first_name":"ANNA"}"#,
            r#"{"request_type":"U","id":"cu-1","last_name":"EXAMPLE"}"#,
            r#"{"request_type":"U","id":"cu-1","first_name":"ANNA"}"#,
        ],
    );
    let import = |kind: &'static str, file: std::path::PathBuf| {
        let journal = journal.clone();
        let sandbox = &sandbox;
        async move {
            let out = output(&mut importer(
                sandbox,
                &[
                    "import",
                    kind,
                    file.to_str().unwrap(),
                    "--journal",
                    journal.to_str().unwrap(),
                    "--json",
                ],
            ))
            .await;
            (out.status.code(), json_of(&out))
        }
    };
    let (code, report) = import("customers", customers.clone()).await;
    assert_eq!(code, Some(1), "{report}");
    assert_eq!(
        report["acknowledged"], 3,
        "the create and two updates: {report}"
    );
    assert_eq!(report["duplicate_lines"][0]["first_line"], 2, "{report}");
    assert_eq!(sandbox.calls("customerMaintenance"), 2);
    // A rerun sends nothing again.
    let (_, report) = import("customers", customers).await;
    assert_eq!(report["skipped_already_done"], 3, "{report}");
    assert_eq!(sandbox.calls("customerMaintenance"), 2);

    // An account created in one run and updated in the next: the update is sent, not taken for
    // a changed create.
    let create = write(
        "accounts.jsonl",
        &[r#"{"request_type":"A","id":"ac-1","account_number":"ac-1"}"#],
    );
    let update = write(
        "accounts-update.jsonl",
        &[r#"{"request_type":"U","id":"ac-1","account_number":"ac-1","product_code":"10"}"#],
    );
    let (code, report) = import("accounts", create).await;
    assert_eq!(code, Some(0), "{report}");
    let (code, report) = import("accounts", update).await;
    assert_eq!(code, Some(0), "{report}");
    assert_eq!(report["acknowledged"], 1, "{report}");
    assert_eq!(sandbox.calls("accountOnboarding"), 2);
}
