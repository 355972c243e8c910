//! The keys that seal a PostgreSQL journal's payloads: none (exit 4 before anything is
//! staged), a wrong one (named, nothing sent), a rotated one (older rows still sent, and
//! resealed under the new one), a row altered or moved (named, not sent), and no key in any
//! output.

mod support;

use std::process::{Command, Output};

use preventor_sandbox::{Sandbox, SandboxConfig};
use support::{
    bare, importer, json_of, output, postgres::Cluster, stderr_of, temp_dir, transactions,
    JOURNAL_KEY,
};

const OTHER_KEY: &str = "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90";

async fn sandbox() -> Sandbox {
    Sandbox::start(SandboxConfig {
        accept_unknown_accounts: true,
        ..SandboxConfig::default()
    })
    .await
    .unwrap()
}

fn stored(sandbox: &Sandbox) -> u64 {
    sandbox.stats()["stored"]["transactions"].as_u64().unwrap()
}

/// `preventor ARGS` against `sandbox` with `key` as PREVENTOR_JOURNAL_KEY (`None`: no key).
fn with_key(sandbox: &Sandbox, key: Option<&str>, args: &[&str]) -> Command {
    let mut command = importer(sandbox, args);
    match key {
        Some(key) => command.env("PREVENTOR_JOURNAL_KEY", key),
        None => command.env_remove("PREVENTOR_JOURNAL_KEY"),
    };
    command
}

/// Stages `file` with `key` (`--stage-only`).
fn stage_with(sandbox: &Sandbox, key: &str, file: &std::path::Path, dsn: &str) -> Command {
    let mut command = support::stage_only(sandbox, file, dsn);
    command.env("PREVENTOR_JOURNAL_KEY", key);
    command
}

/// Neither key, in hex or in any other form the test used, appears in `out`.
fn assert_no_key(out: &Output) {
    let all = String::from_utf8_lossy(&[out.stdout.as_slice(), out.stderr.as_slice()].concat())
        .to_lowercase();
    for key in [JOURNAL_KEY, OTHER_KEY] {
        assert!(!all.contains(&key[..16]), "a key was printed: {all}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_key_nothing_is_staged_and_the_suggested_command_makes_one() {
    let cluster = Cluster::start("no-key");
    let dsn = cluster.database("feed");
    let sandbox = sandbox().await;
    let dir = temp_dir("no-key");
    let input = transactions(&dir, 20, 2);
    let file = input.to_str().unwrap();
    for args in [
        &["import", "transactions", file, "--journal", &dsn][..],
        &[
            "import",
            "transactions",
            file,
            "--journal",
            &dsn,
            "--stage-only",
        ],
        &["work", "--journal", &dsn],
    ] {
        let out = output(&mut with_key(&sandbox, None, args)).await;
        assert_eq!(out.status.code(), Some(4), "{args:?}");
        let text = stderr_of(&out);
        assert!(
            text.contains("PREVENTOR_JOURNAL_KEY_FILE")
                && text.contains("preventor journal-key new"),
            "{text}"
        );
    }
    assert_eq!(
        cluster.query("feed", "SELECT to_regclass('preventor_records') IS NULL"),
        "t",
        "nothing staged, no table made"
    );
    // The command the message suggests makes a key that works.
    let new = output(&mut bare(&["journal-key", "new"])).await;
    assert!(new.status.success());
    let key = String::from_utf8(new.stdout).unwrap().trim().to_string();
    assert!(
        key.len() == 64 && key.chars().all(|c| c.is_ascii_hexdigit()),
        "{key}"
    );
    let key_file = dir.join("journal.key");
    std::fs::write(&key_file, format!("# the feed's key\n{key}\n")).unwrap();
    let mut import = with_key(
        &sandbox,
        None,
        &["import", "transactions", file, "--journal", &dsn, "--json"],
    );
    import.env("PREVENTOR_JOURNAL_KEY_FILE", &key_file);
    let out = output(&mut import).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    assert_eq!(stored(&sandbox), 20);
    assert!(!String::from_utf8_lossy(&out.stdout).contains(&key[..16]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_key_is_named_and_nothing_is_sent() {
    let cluster = Cluster::start("wrong-key");
    let dsn = cluster.database("feed");
    let sandbox = sandbox().await;
    let dir = temp_dir("wrong-key");
    let input = transactions(&dir, 30, 3);
    let staged = output(&mut stage_with(&sandbox, JOURNAL_KEY, &input, &dsn)).await;
    assert!(staged.status.success(), "{}", stderr_of(&staged));
    let sealed_by = cluster.query("feed", "SELECT DISTINCT key_id FROM preventor_records");
    let out = output(&mut with_key(
        &sandbox,
        Some(OTHER_KEY),
        &["work", "--journal", &dsn],
    ))
    .await;
    assert_eq!(out.status.code(), Some(4));
    let text = stderr_of(&out);
    assert!(
        text.contains(&format!("30 under key {sealed_by}")),
        "{text}"
    );
    assert_no_key(&out);
    assert!(
        sandbox.stats()["received"].as_object().unwrap().is_empty(),
        "nothing sent"
    );
    assert_eq!(
        cluster.query(
            "feed",
            "SELECT count(*) FROM preventor_records WHERE state = 'pending'"
        ),
        "30"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_key_still_sends_older_rows_and_reseals_them() {
    let cluster = Cluster::start("rotated-key");
    let dsn = cluster.database("feed");
    let sandbox = sandbox().await;
    let dir = temp_dir("rotated-key");
    let input = transactions(&dir, 40, 4);
    let staged = output(&mut stage_with(&sandbox, JOURNAL_KEY, &input, &dsn)).await;
    assert!(staged.status.success());
    // Rotation: the new key first (it seals), the old one after it (it still opens).
    let rotated = format!("{OTHER_KEY}\n{JOURNAL_KEY}");
    let out = output(&mut with_key(
        &sandbox,
        Some(&rotated),
        &["journal-key", "reseal", "--journal", &dsn, "--json"],
    ))
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    assert_no_key(&out);
    let report = json_of(&out);
    assert_eq!(report["resealed"], 40, "{report}");
    let new_id = report["key"].as_str().unwrap().to_string();
    assert_eq!(
        cluster.query(
            "feed",
            "SELECT string_agg(DISTINCT key_id, ',') FROM preventor_records"
        ),
        new_id
    );
    // A second file staged under the rotated keys, some rows under the old key only.
    let more = dir.join("more.jsonl");
    std::fs::write(
        &more,
        (100..110)
            .map(|i| {
                format!(
                    "{{\"id\":\"tx-{i}\",\"account_number\":\"acc-1\",\"trans_amount\":\"1.00\",\
                     \"trans_currency\":\"PEN\"}}\n"
                )
            })
            .collect::<String>(),
    )
    .unwrap();
    let old_only = output(&mut stage_with(&sandbox, JOURNAL_KEY, &more, &dsn)).await;
    // The old key alone cannot open what the new key sealed: refused before staging sends.
    assert_eq!(old_only.status.code(), Some(4), "{}", stderr_of(&old_only));
    assert!(stderr_of(&old_only).contains(&format!("40 under key {new_id}")));
    let out = output(&mut with_key(
        &sandbox,
        Some(&rotated),
        &[
            "import",
            "transactions",
            more.to_str().unwrap(),
            "--journal",
            &dsn,
            "--json",
        ],
    ))
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    assert_no_key(&out);
    assert_eq!(stored(&sandbox), 50);
    assert_eq!(sandbox.stats()["duplicates"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_payload_moved_to_another_record_does_not_open_and_is_not_sent() {
    let cluster = Cluster::start("moved-payload");
    let dsn = cluster.database("feed");
    let sandbox = sandbox().await;
    let dir = temp_dir("moved-payload");
    let input = transactions(&dir, 10, 1);
    let staged = output(&mut stage_with(&sandbox, JOURNAL_KEY, &input, &dsn)).await;
    assert!(staged.status.success());
    // tx-0's ciphertext copied over tx-9's (the same key: only the identity tells).
    cluster.query(
        "feed",
        "UPDATE preventor_records SET sealed = (SELECT sealed FROM preventor_records \
         WHERE id = 'tx-0') WHERE id = 'tx-9'",
    );
    let out = output(&mut with_key(
        &sandbox,
        Some(JOURNAL_KEY),
        &["work", "--journal", &dsn, "--json"],
    ))
    .await;
    assert_eq!(out.status.code(), Some(4), "{}", stderr_of(&out));
    let text = stderr_of(&out);
    assert!(
        text.contains("transactions:tx-9") && text.contains("does not open with journal key k"),
        "{text}"
    );
    assert_no_key(&out);
    let transactions = sandbox.stats()["stored"]["transactions"].as_u64().unwrap();
    assert!(
        transactions < 10,
        "tx-9 was not sent ({transactions} stored)"
    );
    assert_eq!(
        cluster.query(
            "feed",
            "SELECT state FROM preventor_records WHERE id = 'tx-9'"
        ),
        "pending"
    );
}

#[tokio::test]
async fn no_key_shows_in_help() {
    for args in [
        &["import", "--help"][..],
        &["work", "--help"],
        &["journal-key", "reseal", "--help"],
    ] {
        let mut help = bare(args);
        help.env("PREVENTOR_JOURNAL_KEY", JOURNAL_KEY);
        let dir = temp_dir("help-key");
        let file = dir.join("k");
        std::fs::write(&file, OTHER_KEY).unwrap();
        help.env("PREVENTOR_JOURNAL_KEY_FILE", &file);
        let out = output(&mut help).await;
        assert!(out.status.success());
        assert_no_key(&out);
        assert!(!String::from_utf8_lossy(&out.stdout).contains(file.to_str().unwrap()));
    }
}
