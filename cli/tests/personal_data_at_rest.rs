//! Personal data at rest: a journal keeps ids and outcomes; the PostgreSQL journal keeps a
//! record's payload (its personal data) only until the record is settled. A DSN's password
//! appears in no output, and plain text to a remote database is refused.

mod support;

use std::{io::Write, path::Path, time::Duration};

use preventor_sandbox::{Sandbox, SandboxConfig};
use support::{bare, importer, json_of, output, postgres::Cluster, stderr_of, temp_dir};

const CUSTOMERS: u64 = 150;
/// Every personal value below contains it (emails in lower case).
const SENTINEL: &str = "sntl";

/// Creates with sentinel names, city, zip code, document number, phone and email, then an
/// update of each with a new sentinel name.
fn customers(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("customers.jsonl");
    let mut f = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    for i in 0..CUSTOMERS {
        writeln!(
            f,
            r#"{{"request_type":"A","id":"cu-{i}","type_of_person":"P","first_name":"SNTLFIRST{i}","last_name":"SNTLLAST{i}","full_name":"SNTLFULL {i}","addresses":[{{"id":1,"request_type":"A","address_city":"SNTLCITY{i}","address_zipcode":"SNTLZIP{i}"}}],"iddocuments":[{{"id":1,"request_type":"A","doc_type":1,"doc_number":"SNTLDOC{i}"}}],"phones":[{{"id":1,"request_type":"A","phone_number":"SNTLPHONE{i}"}}],"emails":[{{"id":1,"request_type":"A","email":"sntl{i}@example.com"}}]}}"#
        )
        .unwrap();
    }
    for i in 0..CUSTOMERS {
        writeln!(
            f,
            r#"{{"request_type":"U","id":"cu-{i}","first_name":"SNTLUPDATED{i}"}}"#
        )
        .unwrap();
    }
    path
}

async fn lossy_sandbox() -> Sandbox {
    Sandbox::start(SandboxConfig {
        latency: Duration::from_millis(5),
        drop_after_commit: 0.2,
        ..SandboxConfig::default()
    })
    .await
    .unwrap()
}

fn has_sentinel(bytes: &[u8]) -> bool {
    String::from_utf8_lossy(bytes)
        .to_lowercase()
        .contains(SENTINEL)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sqlite_journal_holds_no_personal_data_even_with_lost_answers() {
    let sandbox = lossy_sandbox().await;
    let dir = temp_dir("at-rest-sqlite");
    let input = customers(&dir);
    let journal = dir.join("j.sqlite");
    let out = output(&mut importer(
        &sandbox,
        &[
            "import",
            "customers",
            input.to_str().unwrap(),
            "--journal",
            journal.to_str().unwrap(),
            "--json",
        ],
    ))
    .await;
    let report = json_of(&out);
    assert!(
        report["ambiguous"].as_u64().unwrap() > 0,
        "no lost answer: {report}"
    );
    assert!(!has_sentinel(&out.stdout) && !has_sentinel(&out.stderr));
    // Every file of the journal, WAL included, as bytes.
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("j.sqlite")
        {
            assert!(
                !has_sentinel(&std::fs::read(&path).unwrap()),
                "{}",
                path.display()
            );
        }
    }
    let status = output(&mut bare(&["status", journal.to_str().unwrap(), "--json"])).await;
    assert!(!has_sentinel(&status.stdout) && !has_sentinel(&status.stderr));
}

/// Every row of every table of the journal as text; `except_ambiguous_payloads` leaves out
/// the payloads of ambiguous records (kept until an operator's decision settles them).
fn tables_text(cluster: &Cluster, db: &str, except_ambiguous_payloads: bool) -> String {
    let payload = if except_ambiguous_payloads {
        "CASE WHEN state = 'ambiguous' THEN NULL ELSE payload END"
    } else {
        "payload"
    };
    [
        format!("SELECT string_agg(concat_ws(' ', row_id, kind, operation, key, id, hash, state, line, status, details, {payload}, worker), E'\\n') FROM preventor_records"),
        "SELECT string_agg(t::text, E'\\n') FROM preventor_meta t".into(),
        "SELECT string_agg(t::text, E'\\n') FROM preventor_buckets t".into(),
        "SELECT string_agg(t::text, E'\\n') FROM preventor_workers t".into(),
    ]
    .iter()
    .map(|sql| cluster.query(db, sql))
    .collect::<Vec<_>>()
    .join("\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_journal_keeps_a_payload_only_until_its_record_is_settled() {
    let cluster = Cluster::start("at-rest");
    let dsn = cluster.database("feed");
    let sandbox = lossy_sandbox().await;
    let dir = temp_dir("at-rest-pg");
    let input = customers(&dir);
    let args = [
        "import",
        "customers",
        input.to_str().unwrap(),
        "--journal",
        &dsn,
        "--lease",
        "3",
        "--json",
    ];
    let out = output(&mut importer(&sandbox, &args)).await;
    let report = json_of(&out);
    assert!(
        !has_sentinel(&out.stdout) && !has_sentinel(&out.stderr),
        "{report}"
    );
    let ambiguous: u64 = cluster
        .query(
            "feed",
            "SELECT count(*) FROM preventor_records WHERE state = 'ambiguous'",
        )
        .parse()
        .unwrap();
    assert!(ambiguous > 0, "no lost answer: {}", report["feed"]);
    assert!(
        !has_sentinel(tables_text(&cluster, "feed", true).as_bytes()),
        "personal data outside the payloads of ambiguous records"
    );
    assert!(
        has_sentinel(tables_text(&cluster, "feed", false).as_bytes()),
        "ambiguous records keep their payload until settled"
    );
    // The operator's decision: send the ambiguous ones again; once settled, nothing is left.
    let resend = [&args[..], &["--resend-ambiguous"]].concat();
    let again = output(&mut importer(&sandbox, &resend)).await;
    let report = json_of(&again);
    assert_eq!(
        report["staged"]["requeued_ambiguous"], ambiguous,
        "{report}"
    );
    let left: u64 = cluster
        .query(
            "feed",
            "SELECT count(*) FROM preventor_records WHERE state = 'ambiguous'",
        )
        .parse()
        .unwrap();
    let text = tables_text(&cluster, "feed", false);
    if left == 0 {
        assert!(
            !has_sentinel(text.as_bytes()),
            "personal data left after every record settled"
        );
    } else {
        // Lost answers again (20%): only those records' payloads remain.
        assert!(!has_sentinel(
            tables_text(&cluster, "feed", true).as_bytes()
        ));
    }
    let status = output(&mut bare(&["status", &dsn, "--json"])).await;
    assert!(!has_sentinel(&status.stdout) && !has_sentinel(&status.stderr));
    assert_eq!(sandbox.stats()["duplicates"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dsn_password_appears_in_no_output_and_remote_plain_text_is_refused() {
    const PASSWORD: &str = "Pw-s3cret-9f2c";
    let cluster = Cluster::start("dsn");
    let dsn = cluster.database("feed");
    let with_password = dsn.replace("postgres@", &format!("postgres:{PASSWORD}@"));
    let key_value = format!(
        "host=127.0.0.1 port={} user=postgres password={PASSWORD} dbname=feed",
        cluster.port
    );
    let sandbox = lossy_sandbox().await;
    let dir = temp_dir("dsn");
    let input = support::transactions(&dir, 50, 5);
    let runs = [
        importer(
            &sandbox,
            &[
                "import",
                "transactions",
                input.to_str().unwrap(),
                "--journal",
                &with_password,
                "--lease",
                "2",
            ],
        ),
        importer(&sandbox, &["work", "--journal", &with_password, "--json"]),
        bare(&["status", &with_password]),
        bare(&["status", &with_password, "--json"]),
        // Errors: a database that does not exist, an unreadable DSN.
        bare(&["status", &with_password.replace("/feed", "/nowhere")]),
        bare(&[
            "status",
            &format!("postgres://u:{PASSWORD}@127.0.0.1:notaport/x"),
        ]),
        // The variable's value is not shown by --help.
        {
            let mut help = bare(&["work", "--help"]);
            help.env("PREVENTOR_JOURNAL", &with_password);
            help
        },
        {
            let mut help = bare(&["import", "--help"]);
            help.env("PREVENTOR_JOURNAL", &with_password);
            help
        },
        // libpq's key=value form is a PostgreSQL journal too.
        bare(&["status", &key_value, "--json"]),
    ];
    for mut run in runs {
        let out = output(&mut run).await;
        let all = [out.stdout.as_slice(), out.stderr.as_slice()].concat();
        assert!(
            !String::from_utf8_lossy(&all).contains(PASSWORD),
            "{run:?} printed the password: {}",
            String::from_utf8_lossy(&all)
        );
    }
    // The key=value form reads the same feed, and never becomes a file named after it.
    let mut status = bare(&["status", &key_value, "--json"]);
    status.current_dir(&dir);
    let out = output(&mut status).await;
    let report = json_of(&out);
    let recorded: u64 = [
        "acknowledged",
        "rejected",
        "ambiguous",
        "failed",
        "pending",
        "in_flight",
    ]
    .iter()
    .map(|s| report[s].as_u64().unwrap_or(0))
    .sum();
    assert_eq!(recorded, 50, "the feed staged above: {report}");
    assert!(report["journal_connection"].is_string(), "{report}");
    let files: Vec<String> = std::fs::read_dir(&*dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        files,
        ["transactions.jsonl"],
        "nothing but the input in the directory"
    );
    // Plain text to a host that is not this machine: refused before connecting.
    let remote = format!("postgres://feeder:{PASSWORD}@db.bank.example:5432/feeds?sslmode=disable");
    let out = output(&mut bare(&["status", &remote])).await;
    assert_eq!(out.status.code(), Some(4));
    let text = stderr_of(&out);
    assert!(
        text.contains("plain text") && !text.contains(PASSWORD),
        "{text}"
    );
}
