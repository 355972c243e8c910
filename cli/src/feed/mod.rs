//! One feed across hosts: `import FILE --journal postgres://...` stages the file and works it;
//! `work --journal postgres://...` joins from any host with no file; `status postgres://...`
//! shows the feed, its workers and their buckets.
//!
//! A worker leases buckets of keys ([`lease`](crate::journal::postgres::lease)), fetches each
//! bucket's pending records in staging order, and sends them through `preventor::bulk` with a
//! fenced ledger ([`ledger`](crate::journal::postgres::ledger)). It stays until the feed has
//! nothing pending or in flight (taking over the buckets of a worker that died), then ends.

use std::{
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use preventor::bulk::{self, BulkOptions, Outcome, Record, Sent, Summary};
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

mod producer;
mod queue;

use crate::{
    journal::{
        postgres::{connection::Location, lease::Leases, ledger::PgLedger, PgJournal},
        runs::{RunSample, RunStart, Store},
    },
    output::{Exit, Fates},
    progress::Progress,
    target::{Needs, Plan},
};

/// Records in the channel from a worker's producer to its sender. The producer hands over at
/// most [`queue::PER_KEY`] records of a key at a time, so the sender's own bound on records
/// waiting behind a busy key is never what holds it back.
const CHANNEL: usize = 4096;

/// How a worker works (`work`, and `import` into a PostgreSQL journal).
#[derive(clap::Args, Debug, Clone)]
pub struct WorkOptions {
    /// Seconds a worker's lease on its buckets lasts without renewal: a dead worker's buckets
    /// are taken over this long after its last renewal.
    #[arg(long, default_value_t = 10.0, value_name = "SECONDS")]
    pub lease: f64,
    /// Most buckets (of 64) a worker holds at once (default: its fair share of the buckets with
    /// work, in proportion to the records each worker alive finished over the last second,
    /// less for a worker whose keys are behind the others', so that a lone worker uses every
    /// key, workers that join get work, and a worker the server lets through faster holds more
    /// keys).
    #[arg(long, value_name = "N")]
    pub buckets: Option<usize>,
    /// Allow a PostgreSQL journal on another host without TLS (`sslmode=disable`).
    #[arg(long, env = "PREVENTOR_JOURNAL_PLAINTEXT", value_parser = clap::builder::BoolishValueParser::new())]
    pub journal_plaintext: bool,
}

/// Opens the journal at `dsn` for `target` (None: to read).
pub async fn open(
    dsn: &str,
    plaintext: bool,
    target: Option<&crate::target::Target>,
) -> Result<PgJournal, Exit> {
    let location =
        Location::parse(dsn, plaintext).map_err(|e| Exit::fatal(format!("journal: {e}")))?;
    let shown = location.to_string();
    PgJournal::open(location, target)
        .await
        .map_err(|e| Exit::fatal(format!("journal {shown}: {e}")))
}

pub fn refuse_embedded(plan: &Plan) -> Result<(), Exit> {
    if matches!(plan, Plan::Sandbox) {
        return Err(Exit::fatal(
            "a PostgreSQL journal is shared by workers on many hosts, and the embedded sandbox \
             lives in one process: run `preventor sandbox` (or the sandbox binary) and point the \
             PREVENTOR_* variables at it instead of --sandbox"
                .into(),
        ));
    }
    Ok(())
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "this-host".into())
}

/// Works the feed until nothing is pending or in flight, or a stop.
pub async fn work_feed(
    plan: &Plan,
    journal: PgJournal,
    work: WorkOptions,
    options: BulkOptions,
    progress: Progress,
    run: RunStart,
) -> (Exit, Value) {
    let clients = match plan.clients(Needs::Compliance).await {
        Ok(c) => c,
        Err(e) => return (e.into(), json!({})),
    };
    let client = clients.compliance.clone();
    if let Err(e) = client.authenticate().await {
        return (Exit::fatal(format!("credentials: {e}")), json!({}));
    }
    let db = journal.db.clone();
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default();
    let worker = format!("{}:{}:{:08x}", hostname(), std::process::id(), nanos);
    let lease = Duration::from_secs_f64(work.lease.clamp(1.0, 3600.0));
    let leases = Arc::new(Leases::new(worker.clone(), lease));
    let registered = db
        .retry(Instant::now() + Duration::from_secs(30), |c| {
            let worker = worker.clone();
            async move {
                c.execute(
                    "INSERT INTO preventor_workers (id, host, pid) VALUES ($1, $2, $3)",
                    &[&worker, &hostname(), &(std::process::id() as i32)],
                )
                .await
            }
        })
        .await;
    if let Err(e) = registered {
        return (Exit::fatal(format!("journal: {e}")), json!({}));
    }
    progress.line(format!(
        "worker {worker} on {} (lease {:.1} s, {})",
        db.location(),
        lease.as_secs_f64(),
        work.buckets
            .map_or("a fair share of the buckets".to_string(), |n| format!(
                "up to {n} buckets"
            ))
    ));
    let gauges = Arc::new(preventor::bulk::Gauges::default());
    let run_id = match Store::Postgres(db.clone()).start(&run).await {
        Ok(id) => id,
        Err(e) => return (Exit::fatal(format!("journal: {e}")), json!({})),
    };
    let started = Instant::now();
    let sampler = {
        let db = db.clone();
        crate::journal::runs::sampler(gauges.clone(), move |s| {
            let db = db.clone();
            tokio::spawn(async move {
                let _ = crate::journal::runs::pg_sample(&db, run_id, &s).await;
            });
        })
    };
    let stop = CancellationToken::new();
    tokio::spawn(crate::signals::stop_on_signals(
        stop.clone(),
        Arc::new(Progress::new(None)),
    ));
    // Renewals and heartbeats, for the worker's whole life.
    let renewer = {
        let (db, leases) = (db.clone(), leases.clone());
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(leases.lease / 3).await;
                let _ = leases.renew(&db).await;
            }
        })
    };

    let total = Arc::new(Mutex::new(Summary::default()));
    let problems = Arc::new(Mutex::new(Vec::<Value>::new()));
    let mut leases_lost = 0u64;
    let mut error = None;
    loop {
        let (finished_tx, finished) = tokio::sync::mpsc::unbounded_channel();
        let ledger = PgLedger::new(db.clone(), leases.clone(), finished_tx);
        let (tx, rx) = tokio::sync::mpsc::channel::<(u64, Record)>(CHANNEL);
        let drained = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let ending = bulk::Ending::new();
        let producer = tokio::spawn(producer::produce(
            db.clone(),
            leases.clone(),
            ledger.clone(),
            work.buckets,
            tx,
            finished,
            stop.clone(),
            drained.clone(),
            ending.clone(),
        ));
        let flusher = ledger.flusher();
        let records =
            futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|r| (r, rx)) });
        // A pending record is one to send: one that may have been sent is pending only when
        // it can be read back (a customer create) or by an operator's decision (staged with
        // --resend-ambiguous); an "already exists" answer then settles it.
        let run_options = BulkOptions {
            lookahead: usize::MAX,
            stop: Some(stop.clone()),
            resend_ambiguous: true,
            gauges: Some(gauges.clone()),
            ending: Some(ending),
            ..options.clone()
        };
        let on_outcome = |sent: Sent| {
            progress.inc();
            count(&mut total.lock().unwrap(), &sent.outcome);
            let problem = match &sent.outcome {
                Outcome::Rejected { .. } | Outcome::Ambiguous { .. } | Outcome::Failed { .. } => {
                    crate::output::describe(&sent.outcome)
                }
                _ => return,
            };
            progress.line(format!("{} {}: {problem}", sent.operation, sent.id));
            let mut p = problems.lock().unwrap();
            if p.len() < 100 {
                p.push(json!({"id": sent.id, "problem": problem}));
            }
        };
        let mut sender = ledger.clone();
        let result = bulk::send(&client, records, &run_options, &mut sender, on_outcome).await;
        producer.abort();
        flusher.abort();
        let _ = ledger.flush(Instant::now() + Duration::from_secs(60)).await;
        match result {
            Ok(summary) => {
                total.lock().unwrap().rate_limited += summary.rate_limited;
                if drained.load(std::sync::atomic::Ordering::Acquire) || stop.is_cancelled() {
                    break;
                }
            }
            Err(e) => {
                leases_lost += 1;
                progress.line(format!("{e}; starting again with the leases left"));
                if stop.is_cancelled() {
                    error = Some(e.to_string());
                    break;
                }
            }
        }
        // Whatever this run held and did not finish goes back (fetched afresh next run):
        // nothing of this worker is in flight now.
        let _ = leases.release_all(&db).await;
    }
    renewer.abort();
    sampler.abort();
    let _ = Store::Postgres(db.clone())
        .sample(
            run_id,
            &RunSample::of(started.elapsed().as_secs_f64(), &gauges.sample()),
        )
        .await;
    let _ = leases.release_all(&db).await;
    let _ = db
        .retry(Instant::now() + Duration::from_secs(10), |c| {
            let worker = worker.clone();
            async move {
                c.execute(
                    "UPDATE preventor_workers SET ended = now(), heartbeat = now() WHERE id = $1",
                    &[&worker],
                )
                .await
            }
        })
        .await;
    progress.finish();
    let feed = journal.counts().await;
    let summary = total.lock().unwrap().clone();
    let counts = match feed {
        Ok(c) => c,
        Err(e) => return (Exit::fatal(format!("journal: {e}")), json!({})),
    };
    let report = json!({
        "worker": worker,
        "journal": db.location().to_string(),
        "acknowledged": summary.acknowledged,
        "reconciled": summary.reconciled,
        "rejected": summary.rejected,
        "ambiguous": summary.ambiguous,
        "failed": summary.failed,
        "rate_limited": summary.rate_limited,
        "not_sent_stopped": summary.stopped,
        "runs_restarted_after_lease_loss": leases_lost,
        "takeovers": leases.takeovers(),
        "problems": problems.lock().unwrap().clone(),
        "stopped": stop.is_cancelled(),
        "feed": Fates::of_states(&counts).states_json(),
    });
    let _ = Store::Postgres(db.clone())
        .end(
            run_id,
            &json!({"acknowledged": summary.acknowledged, "reconciled": summary.reconciled,
                    "rejected": summary.rejected, "ambiguous": summary.ambiguous,
                    "failed": summary.failed, "rate_limited": summary.rate_limited,
                    "stopped": stop.is_cancelled(), "takeovers": leases.takeovers().len()}),
        )
        .await;
    let exit = match error {
        Some(e) if !stop.is_cancelled() => Exit::fatal(e),
        _ => Fates {
            stopped: stop.is_cancelled(),
            ..Fates::of_states(&counts)
        }
        .exit(),
    };
    (exit, report)
}

/// Counts one outcome (a run cut short by a lost lease returns no summary).
fn count(total: &mut Summary, outcome: &Outcome) {
    match outcome {
        Outcome::Acknowledged { reconciled } => {
            total.acknowledged += 1;
            total.reconciled += u64::from(*reconciled);
        }
        Outcome::Rejected { .. } => total.rejected += 1,
        Outcome::Ambiguous { .. } => total.ambiguous += 1,
        Outcome::Failed { .. } => total.failed += 1,
        Outcome::Stopped => total.stopped += 1,
        Outcome::AlreadySettled { .. } => total.already_settled += 1,
        Outcome::Changed => total.changed += 1,
        _ => {}
    }
}
