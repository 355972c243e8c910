//! Personal data at rest: a journal keeps ids and outcomes; the PostgreSQL journal keeps a
//! record's payload (its personal data) only until the record is settled. A DSN's password
//! appears in no output, and plain text to a remote database is refused.

mod support;

use std::{io::Write, path::Path, time::Duration};

use preventor_sandbox::{Sandbox, SandboxConfig};
use support::{bare, importer, json_of, output, postgres::Cluster, stderr_of, temp_dir};

const CUSTOMERS: u64 = 150;
/// Every personal value below starts with one of these (compared in lower case).
const SENTINELS: [&str; 9] = [
    "sntlfirst",
    "sntllast",
    "sntlfull",
    "sntlcity",
    "sntlzip",
    "sntldoc",
    "sntlphone",
    "sntlmail",
    "sntlupdated",
];

/// Creates with sentinel names, city, zip code, document number, phone and email, then an
/// update of each with a new sentinel name.
fn customers(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("customers.jsonl");
    let mut f = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    for i in 0..CUSTOMERS {
        writeln!(
            f,
            r#"{{"request_type":"A","id":"cu-{i}","type_of_person":"P","first_name":"SNTLFIRST{i}","last_name":"SNTLLAST{i}","full_name":"SNTLFULL {i}","addresses":[{{"id":1,"request_type":"A","address_city":"SNTLCITY{i}","address_zipcode":"SNTLZIP{i}"}}],"iddocuments":[{{"id":1,"request_type":"A","doc_type":1,"doc_number":"SNTLDOC{i}"}}],"phones":[{{"id":1,"request_type":"A","phone_number":"SNTLPHONE{i}"}}],"emails":[{{"id":1,"request_type":"A","email":"sntlmail{i}@example.com"}}]}}"#
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
    let text = String::from_utf8_lossy(bytes).to_lowercase();
    SENTINELS.iter().any(|s| text.contains(s))
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

/// Every file under `dir` (recursively) holding a sentinel.
fn files_with_sentinel(dir: &Path, sentinel: &dyn Fn(&[u8]) -> bool) -> Vec<String> {
    let mut found = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(at) = todo.pop() {
        for entry in std::fs::read_dir(&at).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                todo.push(path);
            } else if std::fs::read(&path).is_ok_and(|bytes| sentinel(&bytes)) {
                found.push(path.display().to_string());
            }
        }
    }
    found
}

fn count(cluster: &Cluster, sql: &str) -> u64 {
    cluster.query("feed", sql).parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_journal_leaves_no_personal_data_in_any_file_of_its_cluster() {
    let cluster = Cluster::start("at-rest");
    let dsn = cluster.database("feed");
    // Slow enough that a dump is taken while payloads wait; lost answers keep payloads (the
    // records ambiguous) and updates of customers that do not exist are rejected.
    let sandbox = Sandbox::start(SandboxConfig {
        latency: Duration::from_millis(20),
        drop_after_commit: 0.2,
        ..SandboxConfig::default()
    })
    .await
    .unwrap();
    let dir = temp_dir("at-rest-pg");
    let input = customers(&dir);
    {
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&input)
            .unwrap();
        for i in 0..20 {
            writeln!(
                f,
                r#"{{"request_type":"U","id":"cu-missing-{i}","first_name":"SNTLFIRSTMISSING{i}"}}"#
            )
            .unwrap();
        }
    }
    let args = [
        "import",
        "customers",
        input.to_str().unwrap(),
        "--journal",
        &dsn,
        "--lease",
        "3",
        "--concurrency",
        "2",
        "--max-concurrency",
        "2",
        "--json",
    ];
    let child = importer(&sandbox, &args).spawn().unwrap();
    // A dump mid-run, while payloads wait to be sent.
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    loop {
        if cluster.query("feed", "SELECT to_regclass('preventor_records') IS NULL") == "t" {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        }
        let waiting = count(
            &cluster,
            "SELECT count(*) FROM preventor_records WHERE sealed IS NOT NULL",
        );
        let settled = count(
            &cluster,
            "SELECT count(*) FROM preventor_records WHERE state = 'acknowledged'",
        );
        if waiting >= 50 && settled >= 20 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the run never got going"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let dump = cluster.dump("feed");
    assert!(
        !has_sentinel(&dump),
        "personal data in a dump taken mid-run"
    );
    let out = support::wait(child).await;
    let report = json_of(&out);
    assert!(
        !has_sentinel(&out.stdout) && !has_sentinel(&out.stderr),
        "{report}"
    );
    assert!(
        report["feed"]["rejected"].as_u64().unwrap() >= 20,
        "{report}"
    );
    let ambiguous = count(
        &cluster,
        "SELECT count(*) FROM preventor_records WHERE state = 'ambiguous' AND sealed IS NOT NULL",
    );
    assert!(
        ambiguous > 0,
        "no lost answer kept a payload: {}",
        report["feed"]
    );
    // Sealed payloads are still sent: the operator's resend settles the ambiguous ones.
    let resend = [&args[..], &["--resend-ambiguous"]].concat();
    let again = json_of(&output(&mut importer(&sandbox, &resend)).await);
    assert_eq!(again["staged"]["requeued_ambiguous"], ambiguous, "{again}");
    assert_eq!(sandbox.stats()["duplicates"], 0);
    let status = output(&mut bare(&["status", &dsn, "--json"])).await;
    assert!(!has_sentinel(&status.stdout) && !has_sentinel(&status.stderr));
    // The cluster's own files: the tables' pages (dead row versions too) and the WAL. A value
    // written in plain text is found there (the control), the records' are not.
    cluster.query("feed", "CREATE TABLE control (t text)");
    cluster.query("feed", "INSERT INTO control VALUES ('SNTLCONTROL')");
    cluster.query("feed", "CHECKPOINT");
    let control = |b: &[u8]| {
        String::from_utf8_lossy(b)
            .to_lowercase()
            .contains("sntlcontrol")
    };
    assert!(!files_with_sentinel(&cluster.data_dir(), &control).is_empty());
    let found = files_with_sentinel(&cluster.data_dir(), &has_sentinel);
    assert!(
        found.is_empty(),
        "personal data in the cluster's files: {found:?}"
    );
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
