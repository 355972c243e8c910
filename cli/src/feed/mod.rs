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
    time::Instant,
};

use preventor::bulk::{BulkOptions, Outcome, Sent, Summary};
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

mod producer;
mod queue;
mod worker;

use std::sync::atomic::Ordering;

use worker::Worker;

use crate::{
    journal::{
        postgres::{
            connection::Location,
            rekey,
            seal::{Keyring, NO_KEY},
            PgJournal,
        },
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

/// The feed's PostgreSQL journal, for the commands that take only that (`work`,
/// `journal-key reseal`).
#[derive(clap::Args, Debug)]
pub struct FeedJournal {
    /// The feed's PostgreSQL journal (`postgres://user@host/db`, or libpq's `host=...
    /// dbname=...`).
    #[arg(
        long,
        env = "PREVENTOR_JOURNAL",
        hide_env_values = true,
        value_name = "DSN"
    )]
    pub journal: String,
}

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
    /// A file holding the key(s) that seal the records' personal data in a PostgreSQL journal
    /// (32 bytes as hex or base64, one per line, the newest first; older keys still open what
    /// they sealed). Or the keys themselves in PREVENTOR_JOURNAL_KEY. Make one with
    /// `preventor journal-key new`.
    #[arg(
        long,
        env = "PREVENTOR_JOURNAL_KEY_FILE",
        hide_env_values = true,
        value_name = "PATH"
    )]
    pub journal_key_file: Option<std::path::PathBuf>,
}

impl WorkOptions {
    /// The keys that seal and open the journal's payloads; without one, exit 4 saying what
    /// the key is for and how to make one.
    pub fn keys(&self) -> Result<Arc<Keyring>, Exit> {
        match Keyring::from_env(self.journal_key_file.as_deref()) {
            Ok(Some(keys)) => Ok(Arc::new(keys)),
            Ok(None) => Err(Exit::fatal(format!("journal: {NO_KEY}"))),
            Err(e) => Err(Exit::fatal(format!("journal: {e}"))),
        }
    }
}

/// Opens the journal at `dsn` to stage and work records for `target`, with the keys `work`
/// names (none: exit 4 before anything is staged). Refuses (exit 4) a journal holding records
/// sealed under a key not given, before anything is sent.
pub async fn open(
    dsn: &str,
    work: &WorkOptions,
    target: &crate::target::Target,
) -> Result<(PgJournal, Arc<Keyring>), Exit> {
    let keys = work.keys()?;
    let location = Location::parse(dsn, work.journal_plaintext)
        .map_err(|e| Exit::fatal(format!("journal: {e}")))?;
    let shown = location.to_string();
    let journal = PgJournal::open(location, Some(target))
        .await
        .map_err(|e| Exit::fatal(format!("journal {shown}: {e}")))?;
    let held = rekey::held(&journal.db)
        .await
        .map_err(|e| Exit::fatal(format!("journal {shown}: {e}")))?;
    if let Some(missing) = rekey::missing(&keys, &held) {
        return Err(Exit::fatal(format!("journal {shown}: {missing}")));
    }
    Ok((journal, keys))
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

/// Whether a worker stays when nothing is pending, and what it reports to.
#[derive(Default)]
pub struct Following {
    /// Stay when nothing is pending, woken by records staged, until a stop (`work --follow`).
    pub follow: bool,
    /// `--metrics`.
    pub metrics: Option<Arc<crate::metrics::Metrics>>,
}

/// How long a follower with nothing to do waits before it looks again without being told of
/// records staged (a notification missed while its listening connection was made again).
const FOLLOW_POLL: std::time::Duration = std::time::Duration::from_secs(5);

/// Works the feed until nothing is pending or in flight (with `feed.follow`, until a stop),
/// or a stop: joins as a worker, sends what its leases give it, leaves, and reports the feed.
pub async fn work_feed(
    plan: &Plan,
    (journal, keys): (PgJournal, Arc<Keyring>),
    work: WorkOptions,
    options: BulkOptions,
    feed: Following,
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
    progress.show();
    let db = journal.db.clone();
    let worker = match Worker::join(db.clone(), keys, &work).await {
        Ok(w) => w,
        Err(e) => return (Exit::fatal(format!("journal: {e}")), json!({})),
    };
    progress.line(worker.describe(&work));
    let replication = crate::journal::postgres::replication::replication(&db)
        .await
        .unwrap_or_default();
    if let Some(mode) = replication["mode"].as_str() {
        progress.line(format!(
            "journal replication: {mode} ({})",
            replication["meaning"].as_str().unwrap_or_default()
        ));
    }
    let gauges = Arc::new(preventor::bulk::Gauges::default());
    if let Some(m) = &feed.metrics {
        m.gauges(gauges.clone());
        m.leases(worker.leases.clone());
    }
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
                let _ = crate::journal::postgres::runs::sample(&db, run_id, &s).await;
            });
        })
    };
    let stop = CancellationToken::new();
    tokio::spawn(crate::signals::stop_on_signals(
        stop.clone(),
        Arc::new(Progress::new(None)),
    ));
    let options = options.stop(stop.clone()).gauges(gauges.clone());
    let tally = Tally {
        metrics: feed.metrics.clone(),
        ..Tally::default()
    };
    let wakeups = feed
        .follow
        .then(|| crate::journal::postgres::notify::Wakeups::listen(&db));
    if feed.follow {
        progress.line("following the feed: waiting for records staged when none is pending");
    }
    let error = worker
        .send_until_drained(
            &client,
            &options,
            work.buckets,
            wakeups.as_ref(),
            &progress,
            &tally,
        )
        .await;
    sampler.abort();
    let last = RunSample::of(started.elapsed().as_secs_f64(), &gauges.sample());
    let _ = Store::Postgres(db.clone()).sample(run_id, &last).await;
    let takeovers = worker.leases.takeovers();
    let id = worker.leave().await;
    progress.finish();
    let counts = match journal.counts().await {
        Ok(c) => c,
        Err(e) => return (Exit::fatal(format!("journal: {e}")), json!({})),
    };
    let summary = tally.summary.lock().unwrap().clone();
    let stopped = stop.is_cancelled();
    let report = json!({
        "worker": id,
        "journal": db.location().to_string(),
        "acknowledged": summary.acknowledged,
        "reconciled": summary.reconciled,
        "rejected": summary.rejected,
        "ambiguous": summary.ambiguous,
        "failed": summary.failed,
        "rate_limited": summary.rate_limited,
        "not_sent_stopped": summary.stopped,
        "runs_restarted_after_lease_loss": tally.restarts.load(Ordering::Relaxed),
        "problems": tally.problems.lock().unwrap().clone(),
        "stopped": stopped,
        "feed": Fates::of_states(&counts).states_json(),
        "takeovers": takeovers,
        "journal_replication": replication,
    });
    let _ = Store::Postgres(db.clone())
        .end(
            run_id,
            &json!({"acknowledged": summary.acknowledged, "reconciled": summary.reconciled,
                    "rejected": summary.rejected, "ambiguous": summary.ambiguous,
                    "failed": summary.failed, "rate_limited": summary.rate_limited,
                    "stopped": stopped, "takeovers": report["takeovers"].as_array().map_or(0, Vec::len)}),
        )
        .await;
    // A follower's stop is its normal end, and the feed goes on without it: its exit says what
    // became of the records it sent.
    let fates = if feed.follow {
        Fates {
            acknowledged: summary.acknowledged,
            rejected: summary.rejected,
            ambiguous: summary.ambiguous,
            failed: summary.failed,
            ..Fates::default()
        }
    } else {
        Fates {
            stopped,
            ..Fates::of_states(&counts)
        }
    };
    let mut report = report;
    report["verdict"] = if feed.follow {
        format!("this worker's records: {}", fates.verdict())
    } else {
        format!("the feed: {}", fates.verdict())
    }
    .into();
    let exit = match error {
        Some(e) if !stopped => Exit::fatal(e),
        _ => fates.exit(),
    };
    (exit, report)
}

/// What a worker's passes counted.
#[derive(Default)]
struct Tally {
    /// `--metrics`: each outcome counted there too.
    metrics: Option<Arc<crate::metrics::Metrics>>,
    summary: Mutex<Summary>,
    /// The first problems (ids and reasons).
    problems: Mutex<Vec<Value>>,
    /// Passes cut short by a lease that ended (or a batch that could not be marked).
    restarts: std::sync::atomic::AtomicU64,
}

impl Tally {
    /// Counts an outcome, and says a problem on the progress lines.
    fn note(&self, progress: &Progress, sent: &Sent) {
        progress.inc();
        if let Some(m) = &self.metrics {
            m.outcome(sent.seq, &sent.outcome);
        }
        count(&mut self.summary.lock().unwrap(), &sent.outcome);
        let problem = match &sent.outcome {
            Outcome::Rejected { .. } | Outcome::Ambiguous { .. } | Outcome::Failed { .. } => {
                crate::output::describe(&sent.outcome)
            }
            _ => return,
        };
        progress.line(format!("{} {}: {problem}", sent.operation, sent.id));
        let mut p = self.problems.lock().unwrap();
        if p.len() < 100 {
            p.push(json!({"id": sent.id, "problem": problem}));
        }
    }
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
