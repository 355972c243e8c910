//! `preventor import`: a file of records through `preventor::bulk`, with the journal.

use std::{
    io::BufRead,
    path::PathBuf,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use futures::StreamExt;
use indicatif::{ProgressBar, ProgressStyle};
use preventor::{
    bulk::{self, BulkOptions, Ledger, NoLedger, Outcome, Record, Sent, Shard},
    compliance::types::RequestType,
    ComplianceClient,
};
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::{
    input::{self, Kind},
    journal::{self, Journal},
    Exit,
};

/// `preventor import` options.
#[derive(clap::Args, Debug)]
pub struct ImportArgs {
    /// customers, accounts or transactions.
    #[arg(value_enum)]
    pub kind: Kind,
    /// JSON Lines (or CSV with `--csv`, or a `.csv` name) with the documents' field names; `-`
    /// for stdin.
    pub file: PathBuf,
    /// The input is CSV with a header row of field names (default: by the file's extension).
    #[arg(long)]
    pub csv: bool,
    /// Durable journal (SQLite): a rerun skips what was acknowledged or rejected.
    #[arg(long, value_name = "PATH")]
    pub journal: Option<PathBuf>,
    /// Calls in flight at the start.
    #[arg(long, default_value_t = 16, value_name = "N")]
    pub concurrency: usize,
    /// Most calls in flight.
    #[arg(long, default_value_t = 256, value_name = "N")]
    pub max_concurrency: usize,
    /// Send only shard i of n (a stable hash of each record's key), e.g. `0/4`.
    #[arg(long, value_name = "i/n")]
    pub shard: Option<String>,
    /// Send records the journal holds as ambiguous once more (an operator's decision: they
    /// may have been processed).
    #[arg(long)]
    pub resend_ambiguous: bool,
    /// Validate every record against the documents and the generated types; send nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// What an import counted, beyond the bulk summary.
#[derive(Default, Debug)]
struct Counts {
    read: u64,
    invalid: Vec<serde_json::Value>,
    invalid_count: u64,
    skipped: u64,
    changed: Vec<serde_json::Value>,
    changed_count: u64,
    ambiguous_kept: u64,
    reconciled_before: u64,
}

fn open_input(args: &ImportArgs) -> std::io::Result<(Box<dyn BufRead + Send>, Option<u64>)> {
    if args.file.as_os_str() == "-" {
        return Ok((Box::new(std::io::BufReader::new(std::io::stdin())), None));
    }
    let lines = std::io::BufReader::new(std::fs::File::open(&args.file)?)
        .lines()
        .count() as u64;
    let file = std::fs::File::open(&args.file)?;
    Ok((
        Box::new(std::io::BufReader::with_capacity(1 << 16, file)),
        Some(lines),
    ))
}

/// Runs the import; returns the exit code.
pub async fn run(client: Option<ComplianceClient>, args: ImportArgs, json_output: bool) -> Exit {
    let csv = args.csv
        || args
            .file
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("csv"));
    let (reader, total) = match open_input(&args) {
        Ok(r) => r,
        Err(e) => return Exit::fatal(format!("{}: {e}", args.file.display())),
    };
    let shard = match args.shard.as_deref().map(Shard::parse).transpose() {
        Ok(s) => s,
        Err(e) => return Exit::usage(e.to_string()),
    };
    let started = Instant::now();
    let counts = Arc::new(Mutex::new(Counts::default()));
    let progress = progress_bar(total.map(|t| t.saturating_sub(u64::from(csv))));

    // Lines are read and parsed on a thread of their own: reading never blocks the calls.
    let (tx, rx) = tokio::sync::mpsc::channel::<(u64, input::Line)>(1024);
    let kind = args.kind;
    std::thread::spawn(move || {
        for (n, line) in input::lines(kind, reader, csv).enumerate() {
            if tx.blocking_send((n as u64, line)).is_err() {
                break;
            }
        }
    });
    let lines =
        futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|l| (l, rx)) });

    if args.dry_run {
        let mut valid = 0u64;
        futures::pin_mut!(lines);
        while let Some((_, line)) = lines.next().await {
            progress.inc(1);
            match line {
                Ok(_) => valid += 1,
                Err(bad) => note_invalid(&counts, &progress, json_output, bad),
            }
        }
        progress.finish_and_clear();
        let c = counts.lock().unwrap();
        let report = json!({"dry_run": true, "valid": valid, "invalid": c.invalid_count, "invalid_lines": c.invalid});
        print_report(&report, json_output);
        return if c.invalid_count == 0 {
            Exit::Ok
        } else {
            Exit::Rejected
        };
    }

    let Some(client) = client else {
        return Exit::fatal("no client".into());
    };
    let journal = match &args.journal {
        Some(path) => match Journal::open(path) {
            Ok(mut j) => {
                if let Ok(n) = j.settle_crash() {
                    if n > 0 {
                        progress.println(format!(
                            "{n} records were in flight when an earlier run stopped: now ambiguous"
                        ));
                    }
                }
                Some(Arc::new(Mutex::new(j)))
            }
            Err(e) => return Exit::fatal(format!("journal {}: {e}", path.display())),
        },
        None => {
            progress.println("no --journal: a rerun cannot tell what this run sent");
            None
        }
    };

    let resend = args.resend_ambiguous;
    let records = {
        let (journal, counts, progress, client) = (
            journal.clone(),
            counts.clone(),
            progress.clone(),
            client.clone(),
        );
        lines.filter_map(move |(seq, line)| {
            let (journal, counts, progress, client) = (
                journal.clone(),
                counts.clone(),
                progress.clone(),
                client.clone(),
            );
            async move {
                counts.lock().unwrap().read += 1;
                let (record, canonical) = match line {
                    Ok(r) => r,
                    Err(bad) => {
                        progress.inc(1);
                        note_invalid(&counts, &progress, json_output, bad);
                        return None;
                    }
                };
                let Some(journal) = journal else {
                    return Some((seq, record));
                };
                admit(
                    &journal, &counts, &progress, &client, kind, seq, record, &canonical, resend,
                )
                .await
            }
        })
    };

    let options = BulkOptions {
        concurrency: args.concurrency,
        max_concurrency: args.max_concurrency.max(args.concurrency),
        shard,
        ..BulkOptions::default()
    };
    let mut last_line = Instant::now();
    let on_outcome = |sent: Sent| {
        progress.inc(1);
        if let Outcome::Rejected { .. } | Outcome::Ambiguous { .. } | Outcome::Failed { .. } =
            &sent.outcome
        {
            if !json_output {
                progress.println(format!(
                    "line {}: {} {}: {}",
                    sent.seq + 1,
                    sent.operation,
                    sent.id,
                    describe(&sent.outcome)
                ));
            }
        }
        if progress.is_hidden() && last_line.elapsed() > Duration::from_secs(2) {
            last_line = Instant::now();
            eprintln!("{} records done", progress.position());
        }
    };
    let result = match &journal {
        Some(j) => {
            let mut ledger = SharedJournal(j.clone());
            bulk::send(&client, records, &options, &mut ledger, on_outcome).await
        }
        None => bulk::send(&client, records, &options, &mut NoLedger, on_outcome).await,
    };
    if let Some(j) = &journal {
        if let Err(e) = j.lock().unwrap().commit() {
            return Exit::fatal(format!("journal: {e}"));
        }
    }
    progress.finish_and_clear();
    let summary = match result {
        Ok(s) => s,
        Err(e) => return Exit::fatal(e.to_string()),
    };
    let c = counts.lock().unwrap();
    let elapsed = started.elapsed().as_secs_f64();
    let sent = summary.acknowledged + summary.rejected + summary.ambiguous + summary.failed;
    let report = json!({
        "kind": kind.name(),
        "read": c.read,
        "acknowledged": summary.acknowledged + c.reconciled_before,
        "reconciled": summary.reconciled + c.reconciled_before,
        "rejected": summary.rejected,
        "ambiguous": summary.ambiguous + c.ambiguous_kept,
        "failed": summary.failed,
        "invalid": c.invalid_count,
        "changed_since_acknowledged": c.changed_count,
        "skipped_already_done": c.skipped,
        "other_shards": summary.other_shards,
        "rate_limited": summary.rate_limited,
        "elapsed_s": elapsed,
        "records_per_s": sent as f64 / elapsed.max(1e-9),
        "invalid_lines": c.invalid,
        "changed": c.changed,
    });
    print_report(&report, json_output);
    if summary.ambiguous + c.ambiguous_kept + summary.failed > 0 {
        Exit::Unsettled
    } else if summary.rejected + c.invalid_count + c.changed_count > 0 {
        Exit::Rejected
    } else {
        Exit::Ok
    }
}

/// Whether a record goes to the sender, by what the journal knows of it.
#[allow(clippy::too_many_arguments)]
async fn admit(
    journal: &Mutex<Journal>,
    counts: &Mutex<Counts>,
    progress: &ProgressBar,
    client: &ComplianceClient,
    kind: Kind,
    seq: u64,
    record: Record,
    canonical: &str,
    resend: bool,
) -> Option<(u64, Record)> {
    let hash = format!("{:x}", Sha256::digest(canonical.as_bytes()));
    let request_type = match &record {
        Record::Customer(c) => Some(if c.request_type == RequestType::A {
            "A"
        } else {
            "UD"
        }),
        _ => None,
    };
    let row = journal::row_id(kind.name(), record.id(), request_type);
    let known = journal.lock().unwrap().known(&row).ok().flatten();
    let done = |counts: &Mutex<Counts>| {
        progress.inc(1);
        counts.lock().unwrap().skipped += 1;
    };
    match known {
        Some(k) if k.state == journal::ACKNOWLEDGED && k.hash == hash => {
            done(counts);
            return None;
        }
        Some(k) if k.state == journal::ACKNOWLEDGED => {
            progress.inc(1);
            let mut c = counts.lock().unwrap();
            c.changed_count += 1;
            if c.changed.len() < 100 {
                c.changed.push(json!({"line": seq + 1, "id": record.id(), "problem": "content changed since it was acknowledged; not sent"}));
            }
            return None;
        }
        Some(k) if k.state == journal::REJECTED && k.hash == hash => {
            done(counts);
            return None;
        }
        Some(k) if k.state == journal::AMBIGUOUS && !resend => {
            // A customer create can be settled by reading it back.
            if request_type == Some("A") {
                match client.get_customer(record.id()).await {
                    Ok(_) => {
                        let _ = journal.lock().unwrap().set(
                            &row,
                            journal::ACKNOWLEDGED,
                            "reconciled with getCustomer",
                        );
                        progress.inc(1);
                        counts.lock().unwrap().reconciled_before += 1;
                        return None;
                    }
                    Err(e) if e.is_not_found() => {} // never landed: send it
                    Err(_) => {
                        progress.inc(1);
                        counts.lock().unwrap().ambiguous_kept += 1;
                        return None;
                    }
                }
            } else {
                progress.inc(1);
                counts.lock().unwrap().ambiguous_kept += 1;
                return None;
            }
        }
        _ => {}
    }
    let key = record.key().to_string();
    let id = record.id().to_string();
    let enqueued = journal.lock().unwrap().enqueue(
        seq,
        row,
        kind.name(),
        record.operation(),
        &key,
        &id,
        &hash,
    );
    match enqueued {
        Ok(()) => Some((seq, record)),
        Err(e) => {
            progress.println(format!("journal: {e}"));
            None
        }
    }
}

/// The journal behind a lock, shared with the input filter.
struct SharedJournal(Arc<Mutex<Journal>>);

impl Ledger for SharedJournal {
    fn sending(&mut self, seqs: &[u64]) -> preventor::Result<()> {
        self.0.lock().unwrap().sending(seqs)
    }
    fn finished(&mut self, sent: &Sent) -> preventor::Result<()> {
        self.0.lock().unwrap().finished(sent)
    }
}

fn note_invalid(
    counts: &Mutex<Counts>,
    progress: &ProgressBar,
    json_output: bool,
    bad: input::BadLine,
) {
    if !json_output {
        progress.println(format!("line {}: {}", bad.line, bad.problem));
    }
    let mut c = counts.lock().unwrap();
    c.invalid_count += 1;
    if c.invalid.len() < 100 {
        c.invalid
            .push(json!({"line": bad.line, "problem": bad.problem}));
    }
}

fn describe(outcome: &Outcome) -> String {
    match outcome {
        Outcome::Rejected {
            status,
            code,
            message,
        } => format!(
            "rejected ({}{}) {}",
            status
                .map(|s| s.to_string())
                .unwrap_or_else(|| "before sending".into()),
            code.as_deref().map(|c| format!(" {c}")).unwrap_or_default(),
            message.as_deref().unwrap_or("")
        ),
        Outcome::Ambiguous { reason } => format!("ambiguous: {reason}"),
        Outcome::Failed { reason } => format!("failed: {reason}"),
        other => format!("{other:?}"),
    }
}

fn progress_bar(total: Option<u64>) -> ProgressBar {
    use std::io::IsTerminal;
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    match total {
        Some(total) => {
            let bar = ProgressBar::new(total);
            bar.set_style(
                ProgressStyle::with_template(
                    "{bar:40} {pos}/{len} records  {per_sec}  ETA {eta}  {elapsed_precise}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            bar
        }
        None => {
            let bar = ProgressBar::new_spinner();
            bar.set_style(
                ProgressStyle::with_template(
                    "{spinner} {pos} records  {per_sec}  {elapsed_precise}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            bar
        }
    }
}

fn print_report(report: &serde_json::Value, json_output: bool) {
    if json_output {
        println!("{report}");
        return;
    }
    for (key, value) in report.as_object().into_iter().flatten() {
        match value {
            serde_json::Value::Array(items) if items.is_empty() => {}
            serde_json::Value::Array(items) => {
                println!("{key}:");
                for item in items {
                    println!("  {item}");
                }
            }
            serde_json::Value::Number(n) if n.is_f64() => {
                println!("{key}: {:.1}", n.as_f64().unwrap_or_default())
            }
            other => println!("{key}: {other}"),
        }
    }
}
