//! The operator's view: a run's receipt in the journal (input hash, counts, samples), decisions
//! on ambiguous records recorded and acted on, and the HTML report as a person sees it
//! (rendered by headless Chromium, offline).

mod support;

use std::{path::Path, process::Command, time::Duration};

use preventor_sandbox::{Sandbox, SandboxConfig};
use sha2::{Digest, Sha256};
use support::{
    bare, importer, json_of, output, postgres::Cluster, stderr_of, temp_dir, transactions,
};

const RECORDS: u64 = 3_000;

async fn lossy_sandbox() -> Sandbox {
    Sandbox::start(SandboxConfig {
        accept_unknown_accounts: true,
        latency: Duration::from_millis(20),
        drop_after_commit: 0.05,
        fail_share: Some((0.02, 503)),
        ..SandboxConfig::default()
    })
    .await
    .unwrap()
}

fn sha256_of(path: &Path) -> String {
    format!("{:x}", Sha256::digest(std::fs::read(path).unwrap()))
}

/// Imports, reports, resolves three ambiguous records three ways, imports again, and checks
/// what the report says; returns the final report.
async fn import_resolve_and_report(
    sandbox: &Sandbox,
    input: &Path,
    journal: &str,
) -> serde_json::Value {
    let args = [
        "import",
        "transactions",
        input.to_str().unwrap(),
        "--journal",
        journal,
        "--json",
    ];
    let first = output(&mut importer(sandbox, &args)).await;
    assert_eq!(first.status.code(), Some(3), "ambiguous records: exit 3");
    let report = json_of(&output(&mut bare(&["report", journal, "--json"])).await);
    let run = &report["runs"][0];
    assert_eq!(run["input_sha256"], sha256_of(input));
    assert_eq!(run["input_bytes"], std::fs::metadata(input).unwrap().len());
    assert!(
        run["samples"].as_array().unwrap().len() >= 2,
        "{}",
        run["samples"]
    );
    assert!(run["ended"].is_number(), "the run's end is recorded");
    let counts = &report["counts"];
    let n = |s: &str| counts[s].as_u64().unwrap_or(0);
    assert_eq!(
        n("acknowledged") + n("ambiguous") + n("rejected") + n("failed"),
        RECORDS,
        "{counts}"
    );
    let unsettled = report["unsettled"].as_array().unwrap();
    assert!(unsettled.len() >= 3, "{counts}");
    assert!(unsettled
        .iter()
        .all(|u| u["what_to_do"].as_str().is_some_and(|w| !w.is_empty())));
    let id = |i: usize| unsettled[i]["id"].as_str().unwrap().to_string();
    let (checked, resend, abandon) = (id(0), id(1), id(2));
    for (decision, who_id, reason) in [
        ("acknowledged", &checked, "confirmed in Preventor's console"),
        ("resend", &resend, "not in Preventor's console"),
        ("abandon", &abandon, "duplicate of a manual entry"),
    ] {
        let out = output(&mut bare(&[
            "resolve",
            journal,
            "--decision",
            decision,
            who_id,
            "--reason",
            reason,
            "--by",
            "ops-alice",
            "--json",
        ]))
        .await;
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(json_of(&out)["records_decided"], 1);
    }
    // An id with nothing to decide is named, and nothing changes.
    let none = output(&mut bare(&[
        "resolve",
        journal,
        "--decision",
        "abandon",
        "tx-no-such",
    ]))
    .await;
    assert_eq!(none.status.code(), Some(1));

    // The rerun sends the one to resend, and nothing else (the other ambiguous records wait).
    let before = sandbox.stats()["received"]["registerMonetaryTransaction"]
        .as_u64()
        .unwrap();
    let _ = output(&mut importer(sandbox, &args)).await;
    let after = sandbox.stats()["received"]["registerMonetaryTransaction"]
        .as_u64()
        .unwrap();
    assert_eq!(
        after - before,
        1,
        "only the record an operator chose to resend was sent"
    );

    let report = json_of(&output(&mut bare(&["report", journal, "--json"])).await);
    let decisions = report["decisions"].as_array().unwrap();
    assert_eq!(decisions.len(), 3);
    assert!(decisions
        .iter()
        .all(|d| d["by"] == "ops-alice" && d["previous_state"] == "ambiguous"));
    assert_eq!(decisions[0]["reason"], "confirmed in Preventor's console");
    assert_eq!(report["runs"].as_array().unwrap().len(), 2);
    let state_of = |id: &str| {
        report["unsettled"]
            .as_array()
            .unwrap()
            .iter()
            .find(|u| u["id"] == id)
            .map(|u| u["state"].as_str().unwrap().to_string())
    };
    assert_eq!(state_of(&checked), None, "acknowledged by the operator");
    // Sent once more (counted above); its answer may be lost or a 503 like any other call's
    // (the sandbox's faults), leaving it ambiguous again, but it no longer waits to be resent.
    assert!(
        matches!(state_of(&resend).as_deref(), None | Some("ambiguous")),
        "resent: {:?}",
        state_of(&resend)
    );
    assert_eq!(state_of(&abandon).as_deref(), Some("abandoned"));
    // The resend may have been refused as a repeat ("already exists": the first send had
    // arrived); nothing else was sent twice.
    assert!(sandbox.stats()["duplicates"].as_u64().unwrap() <= 1);
    report
}

fn chromium() -> String {
    for name in ["chromium", "chromium-browser", "google-chrome"] {
        if Command::new(name)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
        {
            return name.into();
        }
    }
    panic!("headless Chromium is needed to check the HTML report: apt-get install chromium");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sqlite_journal_reports_runs_and_decisions_and_renders_offline() {
    let sandbox = lossy_sandbox().await;
    let dir = temp_dir("operator-sqlite");
    let input = transactions(&dir, RECORDS, 20);
    let journal = dir.join("feed.sqlite");
    let journal = journal.to_str().unwrap();
    import_resolve_and_report(&sandbox, &input, journal).await;

    // The page as a person sees it: rendered offline, with its charts and tables.
    let html = dir.join("report.html");
    let out = output(&mut bare(&[
        "report",
        journal,
        "--html",
        html.to_str().unwrap(),
    ]))
    .await;
    // The report exits by the same rule as `status`: what the journal's records say.
    let status = output(&mut bare(&["status", journal])).await;
    assert_eq!(out.status.code(), status.status.code());
    assert!(
        matches!(out.status.code(), Some(0 | 1 | 3)),
        "{}",
        stderr_of(&out)
    );
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(!page.contains("<script"), "no script");
    for fetch in ["src=", "href=", "<link", "url(", "@import"] {
        assert!(!page.contains(fetch), "nothing fetched: {fetch}");
    }
    let browser = chromium();
    let flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
    ];
    let dom = Command::new(&browser)
        .args(flags)
        .arg("--dump-dom")
        .arg(format!("file://{}", html.display()))
        .output()
        .unwrap();
    let dom_err = String::from_utf8_lossy(&dom.stderr).into_owned();
    let dom = String::from_utf8_lossy(&dom.stdout);
    assert!(
        dom.contains("Delivery report"),
        "Chromium rendered nothing: {dom_err}"
    );
    // The first run's four charts (the rerun lasts under two seconds: too short to draw); the
    // tables: counts, two receipts, rejected, unsettled, decisions.
    assert!(
        dom.matches("<svg").count() >= 4,
        "charts in the rendered page"
    );
    assert!(
        dom.matches("<table").count() >= 6,
        "tables in the rendered page"
    );
    for text in [
        "Throughput",
        "Concurrency",
        "Rate limiting",
        "Latency",
        "ops-alice",
        "abandoned",
    ] {
        assert!(dom.contains(text), "{text} in the rendered page");
    }
    let shot = dir.join("report.png");
    let status = Command::new(&browser)
        .args(flags)
        .arg(format!("--screenshot={}", shot.display()))
        .arg("--window-size=1200,2400")
        .arg(format!("file://{}", html.display()))
        .output()
        .unwrap();
    assert!(status.status.success());
    assert!(
        std::fs::metadata(&shot).unwrap().len() > 20_000,
        "a screenshot with content"
    );
    if let Ok(keep) = std::env::var("PREVENTOR_KEEP_REPORT") {
        let _ = std::fs::copy(&shot, Path::new(&keep).join("report.png"));
        let _ = std::fs::copy(&html, Path::new(&keep).join("report.html"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_journal_reports_runs_and_decisions_the_same_way() {
    let cluster = Cluster::start("operator");
    let dsn = cluster.database("feed");
    let sandbox = lossy_sandbox().await;
    let dir = temp_dir("operator-pg");
    let input = transactions(&dir, RECORDS, 20);
    let report = import_resolve_and_report(&sandbox, &input, &dsn).await;
    // A resolved record keeps no payload: only the ambiguous ones do.
    assert_eq!(
        cluster.query("feed", "SELECT count(*) FROM preventor_records WHERE payload IS NOT NULL AND state <> 'ambiguous'"),
        "0"
    );
    assert!(
        report["counts"]["abandoned"].as_u64() == Some(1),
        "{}",
        report["counts"]
    );
}
