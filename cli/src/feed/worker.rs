//! A worker of a shared feed: joins (registered, its leases renewed by a task it owns), sends
//! in passes until the feed is drained or stopped, and leaves (its leases given back, its end
//! recorded). Each pass owns its producer and its ledger's flusher, and stops both before the
//! next one starts.

use std::{
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use preventor::{
    bulk::{self, BulkOptions, Record, Sent},
    ComplianceClient,
};

use super::{producer, Tally, WorkOptions, CHANNEL};
use crate::{
    journal::postgres::{
        connection::Db, lease::Leases, ledger::PgLedger, notify::Wakeups, recent::Recent,
        seal::Keyring, workers,
    },
    progress::Progress,
};

/// A worker that has joined the feed.
pub struct Worker {
    db: Arc<Db>,
    keys: Arc<Keyring>,
    pub leases: Arc<Leases>,
    /// What it wrote lately, written back after a failover.
    recent: Arc<Recent>,
    renewer: tokio::task::JoinHandle<()>,
    writer_back: tokio::task::JoinHandle<()>,
}

impl Worker {
    /// Registers a new worker of this host and starts renewing its leases and heartbeat;
    /// `keys` open the payloads it sends.
    pub async fn join(
        db: Arc<Db>,
        keys: Arc<Keyring>,
        work: &WorkOptions,
    ) -> Result<Worker, String> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or_default();
        let host = crate::journal::hostname();
        let id = format!("{host}:{}:{nanos:08x}", std::process::id());
        let lease = Duration::from_secs_f64(work.lease.clamp(1.0, 3600.0));
        workers::join(&db, &id, &host)
            .await
            .map_err(|e| e.to_string())?;
        let leases = Arc::new(Leases::new(id, lease));
        let renewer = {
            let (db, leases) = (db.clone(), leases.clone());
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(leases.lease / 3).await;
                    let _ = leases.renew(&db).await;
                }
            })
        };
        let recent = Arc::new(Recent::default());
        let writer_back = tokio::spawn(write_back_on_failover(
            db.clone(),
            recent.clone(),
            leases.worker.clone(),
        ));
        Ok(Worker {
            db,
            keys,
            leases,
            recent,
            renewer,
            writer_back,
        })
    }

    /// One line saying who this worker is and how it shares the feed.
    pub fn describe(&self, work: &WorkOptions) -> String {
        format!(
            "worker {} on {} (lease {:.1} s, {})",
            self.leases.worker,
            self.db.location(),
            self.leases.lease.as_secs_f64(),
            work.buckets
                .map_or("a fair share of the buckets".to_string(), |n| format!(
                    "up to {n} buckets"
                ))
        )
    }

    /// Sends in passes until the feed has nothing pending or in flight, or `options.stop`;
    /// returns the error that ended it early, if any (a payload that does not open ends it at
    /// once).
    /// With `follow`, the feed drained is no end: its producer waits for records staged.
    pub async fn send_until_drained(
        &self,
        client: &ComplianceClient,
        options: &BulkOptions,
        most: Option<usize>,
        follow: Option<&Wakeups>,
        progress: &Progress,
        tally: &Tally,
    ) -> Option<String> {
        let stop = options.stop.clone().unwrap_or_default();
        loop {
            let (result, drained, fatal) = self
                .pass(client, options, most, follow, progress, tally)
                .await;
            if let Some(fatal) = fatal {
                let _ = self.leases.release_all(&self.db).await;
                return Some(fatal);
            }
            match result {
                Ok(summary) => {
                    tally.summary.lock().unwrap().rate_limited += summary.rate_limited;
                    if drained || stop.is_cancelled() {
                        return None;
                    }
                }
                Err(e) => {
                    tally.restarts.fetch_add(1, Ordering::Relaxed);
                    progress.line(format!("{e}; starting again with the leases left"));
                    if stop.is_cancelled() {
                        return Some(e.to_string());
                    }
                }
            }
            // Whatever this pass held and did not finish goes back (fetched afresh next pass):
            // nothing of this worker is in flight now.
            let _ = self.leases.release_all(&self.db).await;
        }
    }

    /// One pass: a producer fetching from the buckets leased, `bulk::send` through a fenced
    /// ledger, then the producer and the flusher stopped and every outcome written. Returns
    /// the pass's result, whether the feed was drained, and the producer's error that ends
    /// the worker, if any.
    async fn pass(
        &self,
        client: &ComplianceClient,
        options: &BulkOptions,
        most: Option<usize>,
        follow: Option<&Wakeups>,
        progress: &Progress,
        tally: &Tally,
    ) -> (preventor::Result<bulk::Summary>, bool, Option<String>) {
        let stop = options.stop.clone().unwrap_or_default();
        let (finished_tx, finished) = tokio::sync::mpsc::unbounded_channel();
        let ledger = PgLedger::new(
            self.db.clone(),
            self.leases.clone(),
            self.recent.clone(),
            finished_tx,
        );
        let (tx, rx) = tokio::sync::mpsc::channel::<(u64, Record)>(CHANNEL);
        let drained = Arc::new(AtomicBool::new(false));
        let ending = bulk::Ending::new();
        let producer = tokio::spawn(producer::produce(
            self.db.clone(),
            self.keys.clone(),
            self.leases.clone(),
            ledger.clone(),
            most,
            producer::Channels {
                tx,
                finished,
                follow: follow.map(Wakeups::handle),
                metrics: tally.metrics.clone(),
            },
            stop,
            drained.clone(),
            ending.clone(),
        ));
        let flusher = ledger.flusher();
        let records =
            futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|r| (r, rx)) });
        // A pending record is one to send: one that may have been sent is pending only when
        // it can be read back (a customer create) or by an operator's decision; an "already
        // exists" answer then settles it.
        let pass_options = options
            .clone()
            .lookahead(usize::MAX)
            .resend_ambiguous(true)
            .ending(ending);
        let on_outcome = |sent: Sent| tally.note(progress, &sent);
        let mut sender = ledger.clone();
        let result = bulk::send(client, records, &pass_options, &mut sender, on_outcome).await;
        producer.abort();
        let fatal = producer.await.ok().and_then(Result::err);
        flusher.stop().await;
        let _ = ledger.flush(Instant::now() + Duration::from_secs(60)).await;
        (result, drained.load(Ordering::Acquire), fatal)
    }

    /// Leaves the feed: stops renewing, gives every lease back, records the end. Returns the
    /// worker's id.
    pub async fn leave(self) -> String {
        self.renewer.abort();
        self.writer_back.abort();
        let _ = self.leases.release_all(&self.db).await;
        let _ = workers::leave(&self.db, &self.leases.worker).await;
        self.leases.worker.clone()
    }
}

/// Each time the journal's connections reach a new server (a failover, a restart), writes back
/// what this worker wrote lately ([`Recent`]): commits the old server had not yet shipped to
/// its standby are written again, while every worker's marks wait.
async fn write_back_on_failover(db: Arc<Db>, recent: Arc<Recent>, worker: String) {
    let mut changes = db.server().changes();
    while changes.changed().await.is_ok() {
        match recent.write_back(&db, &worker).await {
            Ok(n) => eprintln!(
                "journal: a new database server (a failover or a restart): {n} records' \
                 recent marks and outcomes written back"
            ),
            Err(e) => eprintln!(
                "journal: a new database server, and this worker's recent marks and outcomes \
                 could not be written back: {e}"
            ),
        }
    }
}
