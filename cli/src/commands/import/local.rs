//! `preventor import` into a SQLite journal (or none): the file's records through
//! `preventor::bulk`, each admitted against what the journal knows.
//!
//! The order of a run: configuration (before anything is read), the input (it must exist), the
//! journal (locked, bound to its target), the credentials, then the records. SIGINT or SIGTERM
//! stops it cleanly (no more input read, calls in flight finished and recorded); a second one
//! aborts.

use std::{
    collections::HashMap,
    io::BufRead,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, Mutex,
    },
    time::Instant,
};

use futures::StreamExt;
use preventor::bulk::{self, BulkOptions, NoLedger, Outcome, Record, Sent, Shard};
use serde_json::json;
use sha2::{Digest, Sha256};
use tokio_util::sync::CancellationToken;

use crate::{
    input::{self, Kind, Parsed},
    journal::{
        self,
        sqlite::writer::{Admitted, JournalLedger},
        Journal,
    },
    listed::Listed,
    output::{describe, print_report, Exit, Fates},
    progress::Progress,
    signals::stop_on_signals,
    target::{Needs, Plan},
};

use super::{open_input, ImportArgs};

/// What an import counted, beyond the bulk summary.
#[derive(Default, Debug)]
struct Counts {
    read: u64,
    invalid: Listed,
    duplicates: Listed,
    changed: Listed,
    other_shards: u64,
    /// Records not admitted because the journal could not say what earlier runs did.
    unadmitted: u64,
    rejected: Listed,
    ambiguous: Listed,
    failed: Listed,
}

/// Runs the import; returns the exit code. `plan` is `None` for a dry run (nothing is sent).
pub async fn run(plan: Option<Plan>, args: ImportArgs, json_output: bool) -> Exit {
    let csv = args.is_csv();
    let shard = match args.shard.as_deref().map(Shard::parse).transpose() {
        Ok(s) => s,
        Err(e) => return Exit::usage(e.to_string()),
    };
    let (reader, total, facts) = match open_input(&args) {
        Ok(r) => r,
        Err(e) => return Exit::fatal(format!("{}: {e}", args.file.display())),
    };
    let started = Instant::now();
    let counts = Arc::new(Mutex::new(Counts::default()));
    let progress = Arc::new(Progress::new(
        total.map(|t| t.saturating_sub(u64::from(csv))),
    ));
    let (lines, input_finished) = read_lines(args.kind, reader, csv);
    let Some(plan) = plan else {
        progress.show();
        return dry_run(lines, &counts, &progress, json_output).await;
    };
    // The journal before the credentials: a held or foreign journal sends nothing.
    let target = plan.target();
    let mut journal = match open_journal(&args, &target, &progress) {
        Ok(j) => j,
        Err(e) => return e,
    };
    let clients = match plan.clients(Needs::Compliance).await {
        Ok(c) => c,
        Err(e) => return e.into(),
    };
    let client = clients.compliance.clone();
    if let Err(e) = client.authenticate().await {
        return Exit::fatal(format!("credentials: {e}"));
    }
    progress.show();
    let stop = CancellationToken::new();
    tokio::spawn(stop_on_signals(stop.clone(), progress.clone()));
    let run_id = match &journal {
        Some(j) => match start_run(j, &args, &target, facts).await {
            Ok(id) => Some(id),
            Err(e) => return e,
        },
        None => None,
    };
    // Held until the writer thread has ended, whatever the admission does with the journal.
    let _held = journal.as_mut().and_then(Journal::take_lock);
    // The journal's writer thread: the sender never waits on SQLite.
    let writer = match journal.as_ref().map(Journal::writer).transpose() {
        Ok(w) => w,
        Err(e) => return Exit::fatal(format!("journal: {e}")),
    };
    let admission = Admission {
        journal: match (journal, &writer, run_id) {
            (Some(journal), Some((ledger, _)), Some(run)) => {
                Some((Mutex::new(journal), ledger.clone(), run))
            }
            _ => None,
        },
        counts: counts.clone(),
        progress: progress.clone(),
        kind: args.kind,
        shard,
        seen: Mutex::new(HashMap::new()),
    };
    let records = lines.filter_map(move |line| futures::future::ready(admission.admit(line)));
    let gauges = Arc::new(preventor::bulk::Gauges::default());
    let metrics = match crate::metrics::serve_for(args.metrics.as_deref(), None).await {
        Ok(m) => m,
        Err(e) => return e,
    };
    if let Some(m) = &metrics {
        m.gauges(gauges.clone());
    }
    let options = BulkOptions::default()
        .concurrency(args.concurrency)
        .max_concurrency(args.max_concurrency.max(args.concurrency))
        .stop(stop.clone())
        .resend_ambiguous(args.resend_ambiguous)
        .gauges(gauges.clone());
    let on_outcome = |sent: Sent| {
        if let Some(m) = &metrics {
            m.outcome(sent.seq, &sent.outcome);
        }
        note_outcome(&counts, &progress, sent)
    };
    let writer = writer.zip(run_id);
    let result = send_through(
        &client, records, &options, writer, &gauges, started, on_outcome,
    )
    .await;
    progress.finish();
    let summary = match result {
        Ok(s) => s,
        Err(e) => return Exit::fatal(e.to_string()),
    };
    let ended = Ended {
        summary,
        stopped_early: stop.is_cancelled() && !input_finished.load(Ordering::Acquire),
        elapsed: started.elapsed().as_secs_f64(),
        run_id,
    };
    let counted = counts.lock().unwrap();
    conclude(&args, &target, &counted, &progress, ended, json_output)
}

/// Sends through the journal's writer (its run sampled while it goes, the last sample with the
/// final commit, the writer ended once every outcome is committed), or with no ledger.
async fn send_through(
    client: &preventor::ComplianceClient,
    records: impl futures::Stream<Item = (u64, Record)>,
    options: &BulkOptions,
    writer: Option<((JournalLedger, std::thread::JoinHandle<()>), i64)>,
    gauges: &Arc<preventor::bulk::Gauges>,
    started: Instant,
    on_outcome: impl FnMut(Sent),
) -> preventor::Result<bulk::Summary> {
    let Some(((mut ledger, thread), run)) = writer else {
        return bulk::send(client, records, options, &mut NoLedger, on_outcome).await;
    };
    let sampler = {
        let writer = ledger.clone();
        journal::runs::sampler(gauges.clone(), move |s| writer.sample(run, s))
    };
    let result = bulk::send(client, records, options, &mut ledger, on_outcome).await;
    sampler.abort();
    let last = journal::runs::RunSample::of(started.elapsed().as_secs_f64(), &gauges.sample());
    ledger.sample(run, last);
    let _ = preventor::bulk::Ledger::close(&mut ledger).await;
    drop(ledger);
    let _ = tokio::task::spawn_blocking(move || thread.join()).await;
    result
}

/// Reads and parses the input's lines on a thread of their own (reading never blocks the
/// calls); the flag is set once the input has ended.
fn read_lines(
    kind: Kind,
    reader: Box<dyn BufRead + Send>,
    csv: bool,
) -> (impl futures::Stream<Item = input::Line>, Arc<AtomicBool>) {
    let rx = input::read_on_thread(kind, reader, csv, 1024);
    let input_finished = Arc::new(AtomicBool::new(false));
    let finished = input_finished.clone();
    let lines = futures::stream::unfold(rx, move |mut rx| {
        let finished = finished.clone();
        async move {
            let line = rx.recv().await;
            if line.is_none() {
                finished.store(true, Ordering::Release);
            }
            line.map(|l| (l, rx))
        }
    });
    (lines, input_finished)
}

/// The journal of `--journal` (none without it), locked and bound to `target`; what an earlier
/// run left in flight is ambiguous from now on.
fn open_journal(
    args: &ImportArgs,
    target: &crate::target::Target,
    progress: &Progress,
) -> Result<Option<Journal>, Exit> {
    let Some(path) = &args.journal else {
        progress.line("no --journal: a rerun cannot tell what this run sent");
        return Ok(None);
    };
    let fail = |e: &dyn std::fmt::Display| Exit::fatal(format!("journal {}: {e}", path.display()));
    let mut journal =
        Journal::open_for_import(path, target, args.adopt_journal).map_err(|e| fail(&e))?;
    match journal.settle_crash().map_err(|e| fail(&e))? {
        0 => {}
        n => progress.line(format!(
            "{n} records were in flight when an earlier run stopped: now ambiguous"
        )),
    }
    Ok(Some(journal))
}

/// Records the run's start in the journal (its input, target and options); returns its id.
async fn start_run(
    journal: &Journal,
    args: &ImportArgs,
    target: &crate::target::Target,
    facts: Option<(u64, String)>,
) -> Result<i64, Exit> {
    let start = journal::runs::RunStart {
        input: args.file.display().to_string(),
        input_bytes: facts.as_ref().map(|f| f.0),
        input_sha256: facts.map(|f| f.1),
        target: target.to_string(),
        options: json!({
            "kind": args.kind.name(), "concurrency": args.concurrency,
            "max_concurrency": args.max_concurrency, "shard": args.shard,
            "resend_ambiguous": args.resend_ambiguous, "csv": args.is_csv(),
        }),
    };
    journal::runs::Store::Sqlite(journal.db())
        .start(&start)
        .await
        .map_err(|e| Exit::fatal(format!("journal: {e}")))
}

/// Counts an outcome that is not a success, and says it on the progress lines.
fn note_outcome(counts: &Mutex<Counts>, progress: &Progress, sent: Sent) {
    progress.inc();
    let problem = |status: Option<u16>| {
        json!({"line": sent.seq, "id": sent.id, "status": status,
               "problem": describe(&sent.outcome)})
    };
    let mut c = counts.lock().unwrap();
    let (list, item) = match &sent.outcome {
        Outcome::Rejected { status, .. } => (&mut c.rejected, problem(*status)),
        Outcome::Ambiguous { .. } => (&mut c.ambiguous, problem(None)),
        Outcome::Failed { .. } => (&mut c.failed, problem(None)),
        Outcome::Changed => (&mut c.changed, problem(None)),
        _ => return,
    };
    progress.line(format!(
        "line {}: {} {}: {}",
        sent.seq,
        sent.operation,
        sent.id,
        describe(&sent.outcome)
    ));
    list.push(item);
}

/// How the sending ended.
struct Ended {
    summary: bulk::Summary,
    /// Stopped by a signal before the input ended.
    stopped_early: bool,
    elapsed: f64,
    run_id: Option<i64>,
}

/// The report and the exit: what became of this input's records (the journal's rows this run
/// read, what earlier runs settled included; else this run's outcomes), recorded as the run's
/// end.
fn conclude(
    args: &ImportArgs,
    target: &crate::target::Target,
    c: &Counts,
    progress: &Progress,
    ended: Ended,
    json_output: bool,
) -> Exit {
    let summary = &ended.summary;
    let stopped = ended.stopped_early || summary.stopped > 0;
    let states = match (ended.run_id, &args.journal) {
        (Some(id), Some(path)) => {
            match Journal::open_to_read(path).and_then(|j| j.counts_of_run(id)) {
                Ok(states) => Fates::of_states(&states),
                Err(e) => return Exit::fatal(format!("journal {}: {e}", path.display())),
            }
        }
        _ => Fates {
            acknowledged: summary.acknowledged,
            rejected: summary.rejected,
            ambiguous: summary.ambiguous,
            failed: summary.failed,
            ..Fates::default()
        },
    };
    let fates = Fates {
        failed: states.failed + c.unadmitted,
        invalid: c.invalid.count,
        repeated: c.duplicates.count,
        changed: summary.changed,
        stopped,
        ..states
    };
    let sent = summary.acknowledged + summary.rejected + summary.ambiguous + summary.failed;
    let counts = json!({
        "read": c.read, "acknowledged": summary.acknowledged, "reconciled": summary.reconciled,
        "rejected": summary.rejected, "ambiguous": summary.ambiguous, "failed": c.failed.count,
        "invalid": c.invalid.count, "duplicate_ids": c.duplicates.count,
        "changed_since_sent": summary.changed, "skipped_already_done": summary.already_settled,
        "rate_limited": summary.rate_limited, "stopped": stopped,
    });
    if let (Some(id), Some(path)) = (ended.run_id, &args.journal) {
        if let Err(e) = journal::sqlite::runs::end_at(path, id, &counts) {
            progress.line(format!("journal: the run's end could not be recorded: {e}"));
        }
    }
    let mut report = json!({"kind": args.kind.name(), "target": target.to_string()});
    for (key, value) in counts.as_object().into_iter().flatten() {
        report[key] = value.clone();
    }
    let more = json!({
        "other_shards": c.other_shards,
        "not_sent_stopped": summary.stopped,
        "records_of_this_input": fates.json(),
        "elapsed_s": ended.elapsed,
        "records_per_s": sent as f64 / ended.elapsed.max(1e-9),
        "rejected_records": c.rejected.first,
        "ambiguous_records": c.ambiguous.first,
        "failed_records": c.failed.first,
        "invalid_lines": c.invalid.first,
        "duplicate_lines": c.duplicates.first,
        "changed": c.changed.first,
    });
    for (key, value) in more.as_object().into_iter().flatten() {
        report[key] = value.clone();
    }
    report["verdict"] = fates.verdict().into();
    print_report(&report, json_output);
    if stopped {
        progress.line(format!(
            "stopped before the end: {} records read but not sent, and the rest of the input, \
             are sent by a rerun",
            summary.stopped
        ));
    }
    fates.exit()
}

/// `--dry-run`: every line validated, nothing sent.
async fn dry_run(
    lines: impl futures::Stream<Item = input::Line>,
    counts: &Mutex<Counts>,
    progress: &Progress,
    json_output: bool,
) -> Exit {
    let mut valid = 0u64;
    futures::pin_mut!(lines);
    while let Some(line) = lines.next().await {
        progress.inc();
        match line {
            Ok(_) => valid += 1,
            Err(bad) => note_invalid(counts, progress, bad),
        }
    }
    progress.finish();
    let c = counts.lock().unwrap();
    let report = json!({"dry_run": true, "valid": valid, "invalid": c.invalid.count, "invalid_lines": c.invalid.first});
    print_report(&report, json_output);
    if c.invalid.count == 0 {
        Exit::Ok
    } else {
        Exit::Rejected
    }
}

/// Decides, record by record, what goes to the sender: not invalid lines, not other shards'
/// records, not a repeated id, not what the journal says was done.
struct Admission {
    /// The journal (read: what earlier runs did), its writer (this run's records) and this
    /// run's id in it.
    journal: Option<(Mutex<Journal>, JournalLedger, i64)>,
    counts: Arc<Mutex<Counts>>,
    progress: Arc<Progress>,
    kind: Kind,
    shard: Option<Shard>,
    /// Without a journal: each row id read so far (as 64 bits of its SHA-256) with its line,
    /// so that repeats are refused (memory grows with the input). With one, the journal finds
    /// repeats (rows carry the run that read them) and this stays empty.
    seen: Mutex<HashMap<u64, u64>>,
}

impl Admission {
    fn admit(&self, line: input::Line) -> Option<(u64, Record)> {
        self.counts.lock().unwrap().read += 1;
        let Parsed {
            line,
            record,
            canonical,
        } = match line {
            Ok(p) => p,
            Err(bad) => {
                self.progress.inc();
                note_invalid(&self.counts, &self.progress, bad);
                return None;
            }
        };
        if self.shard.is_some_and(|s| !s.owns(record.key())) {
            self.counts.lock().unwrap().other_shards += 1;
            self.progress.inc();
            return None;
        }
        let (row, hash) = journal::identity(self.kind.name(), &record, &canonical);
        // 64 bits of the row's SHA-256: enough to tell rows apart, 8 bytes a record.
        let row_hash = Sha256::digest(row.as_bytes())[..8]
            .iter()
            .fold(0u64, |h, b| h << 8 | u64::from(*b));
        let Some((journal, writer, run)) = &self.journal else {
            let first = match self.seen.lock().unwrap().entry(row_hash) {
                std::collections::hash_map::Entry::Occupied(first) => Some(*first.get()),
                std::collections::hash_map::Entry::Vacant(slot) => {
                    slot.insert(line);
                    None
                }
            };
            if let Some(first) = first {
                self.refuse_repeat(line, first, &record, &row, &hash);
                return None;
            }
            return Some((line, record));
        };
        // Not yet written first (the writer commits a row before it forgets it), then the
        // journal: a row this run read carries its run and line.
        let unwritten = writer.unwritten_line(row_hash);
        let known = match journal.lock().unwrap().known(&row) {
            Ok(k) => k,
            Err(e) => {
                // Not knowing what an earlier run did, sending could duplicate it.
                self.progress
                    .line(format!("line {line}: journal: {e}; not sent"));
                self.counts.lock().unwrap().unadmitted += 1;
                self.counts.lock().unwrap().failed.push(
                    json!({"line": line, "id": record.id(), "problem": format!("journal: {e}")}),
                );
                return None;
            }
        };
        if let Some(first) = unwritten.or_else(|| known.as_ref().and_then(|k| k.line_in_run(*run)))
        {
            self.refuse_repeat(line, first, &record, &row, &hash);
            return None;
        }
        let prior = journal::prior(known.as_ref(), &hash);
        writer.admit(Admitted {
            seq: line,
            run: *run,
            row,
            row_hash,
            kind: self.kind.name(),
            operation: record.operation(),
            key: record.key().to_string(),
            id: record.id().to_string(),
            hash,
            prior,
        });
        Some((line, record))
    }

    /// Reports line `line` as a repeat of line `first` (of the same id, or of the same change).
    fn refuse_repeat(&self, line: u64, first: u64, record: &Record, row: &str, hash: &str) {
        let problem = if row.ends_with(&hash[..16]) {
            format!(
                "this change of {} repeats line {first}; not sent",
                record.id()
            )
        } else {
            format!("id {} repeats line {first}; not sent", record.id())
        };
        self.progress.line(format!("line {line}: {problem}"));
        self.progress.inc();
        self.counts.lock().unwrap().duplicates.push(
            json!({"line": line, "first_line": first, "id": record.id(), "problem": problem}),
        );
    }
}

fn note_invalid(counts: &Mutex<Counts>, progress: &Progress, bad: input::BadLine) {
    progress.line(format!("line {}: {}", bad.line, bad.problem));
    counts
        .lock()
        .unwrap()
        .invalid
        .push(json!({"line": bad.line, "problem": bad.problem}));
}
