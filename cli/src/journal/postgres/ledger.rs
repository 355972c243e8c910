//! A worker's [`Ledger`] on the PostgreSQL journal: fenced marks, batched outcomes, buckets
//! given back once their records are all settled.
//!
//! A batch is marked `in_flight` by a statement that checks, for every record, that this
//! worker still holds the record's bucket under the epoch it fetched it with and that the lease
//! has not expired (the database's clock), holding the buckets' rows (`FOR SHARE`) so that no
//! takeover commits in between; all the batch is marked, or none. Batches that ask at once share
//! one statement (`marks.rs`). Before and after that
//! statement the local deadlines are checked too (a worker paused between the two learns it on
//! waking): a batch refused for a lease is not sent, and [`bulk::send`](preventor::bulk::send)
//! stops, to start again with the leases it still has.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use preventor::bulk::{Durable, Ledger, Outcome, Prior, Sent};

use super::{
    connection::Db,
    lease::Leases,
    marks::Marks,
    recent::{Recent, Settled},
};
use crate::journal::{outcome_row, PENDING};

/// How often outcomes are written.
const FLUSH_EVERY: Duration = Duration::from_millis(100);

/// A record fetched to send.
#[derive(Clone, Debug)]
pub struct Open {
    pub row: String,
    /// The content hash of the payload fetched (what is sent).
    pub hash: String,
    pub bucket: u32,
    pub epoch: i64,
    pub prior: Prior,
}

/// An outcome waiting to be written.
struct Written {
    row: String,
    /// The content hash of what was sent.
    hash: String,
    epoch: i64,
    state: &'static str,
    status: Option<i32>,
    details: Option<String>,
    /// An answer of a call this worker made (else: not sent, after a stop or a lost lease).
    answered: bool,
}

#[derive(Default)]
struct Books {
    open: HashMap<u64, Open>,
    /// Records of each bucket fetched and not yet finished.
    outstanding: HashMap<u32, usize>,
    /// Buckets whose pending records have all been fetched.
    complete: std::collections::HashSet<u32>,
    buffer: Vec<Written>,
    /// Buckets whose records are all finished: given back after their outcomes are written.
    done: Vec<u32>,
}

impl Books {
    /// See [`PgLedger::hand_over`].
    fn hand_over(&mut self, bucket: u32, seqs: &[u64]) {
        let mut n = 0;
        for seq in seqs {
            if self.open.remove(seq).is_some() {
                n += 1;
            }
        }
        if let Some(left) = self.outstanding.get_mut(&bucket) {
            *left = left.saturating_sub(n);
        }
        self.complete.insert(bucket);
        self.finish_if_done(bucket);
    }

    /// A record finished: one less outstanding in its bucket.
    fn finish(&mut self, seq: u64) -> Option<Open> {
        let open = self.open.remove(&seq)?;
        if let Some(left) = self.outstanding.get_mut(&open.bucket) {
            *left = left.saturating_sub(1);
        }
        self.finish_if_done(open.bucket);
        Some(open)
    }

    /// A bucket fetched to its end and all finished is given back with the next flush.
    fn finish_if_done(&mut self, bucket: u32) {
        if self.complete.contains(&bucket) && self.outstanding.get(&bucket).is_none_or(|n| *n == 0)
        {
            self.complete.remove(&bucket);
            self.outstanding.remove(&bucket);
            self.done.push(bucket);
        }
    }
}

/// The ledger of one run of `bulk::send` by a worker.
#[derive(Clone)]
pub struct PgLedger {
    db: Arc<Db>,
    leases: Arc<Leases>,
    /// What this worker wrote lately (written back after a failover).
    recent: Arc<Recent>,
    books: Arc<Mutex<Books>>,
    marks: Marks,
    /// A bucket's records all finished: the flusher writes them and gives it back at once,
    /// instead of at its next tick (its keys wait until another lease of it is taken).
    bucket_done: Arc<tokio::sync::Notify>,
    /// Buckets were given back: the producer may take others at once.
    given_back: Arc<tokio::sync::Notify>,
    /// The sequence number of each record finished, for the producer.
    finished: tokio::sync::mpsc::UnboundedSender<u64>,
}

/// The error of a batch that may not be sent.
fn lease_lost() -> preventor::Error {
    preventor::Error::Config(
        "journal: a batch was not marked: this worker's lease on a bucket ended (paused, or the \
         database was unreachable too long), or a record was staged anew since it was fetched; \
         nothing of the batch is sent, and its records are fetched afresh"
            .into(),
    )
}

impl PgLedger {
    /// A ledger for records fetched from buckets held in `leases`; the sequence number of each
    /// record finished goes to `finished`; what it writes is kept in `recent`.
    pub fn new(
        db: Arc<Db>,
        leases: Arc<Leases>,
        recent: Arc<Recent>,
        finished: tokio::sync::mpsc::UnboundedSender<u64>,
    ) -> PgLedger {
        PgLedger {
            // On a connection of their own: a mark is in every record's path to the server,
            // and must not wait behind a fetch, a flush of outcomes or a lease round.
            marks: Marks::start(Arc::new(db.another()), leases.worker.clone()),
            db,
            leases,
            recent,
            books: Arc::default(),
            bucket_done: Arc::default(),
            given_back: Arc::default(),
            finished,
        }
    }

    fn books(&self) -> std::sync::MutexGuard<'_, Books> {
        self.books.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records of a bucket just fetched; `complete`: the bucket has no more to fetch (it is
    /// given back once they are all finished).
    pub fn fetched(
        &self,
        bucket: u32,
        records: impl IntoIterator<Item = (u64, Open)>,
        complete: bool,
    ) {
        let mut guard = self.books();
        let books = &mut *guard;
        let mut n = 0;
        for (seq, open) in records {
            books.open.insert(seq, open);
            n += 1;
        }
        *books.outstanding.entry(bucket).or_default() += n;
        if complete {
            books.complete.insert(bucket);
        }
        books.finish_if_done(bucket);
        self.wake_if_done(books);
    }

    /// Records of `bucket` fetched but never handed to the sender, left for another worker:
    /// they stay pending, and the bucket is given back once its records in flight are finished
    /// (so that its keys' order holds).
    pub fn hand_over(&self, bucket: u32, seqs: &[u64]) {
        let mut books = self.books();
        books.hand_over(bucket, seqs);
        self.wake_if_done(&books);
    }

    /// Wakes the flusher when buckets wait to be given back.
    fn wake_if_done(&self, books: &Books) {
        if !books.done.is_empty() {
            self.bucket_done.notify_one();
        }
    }

    /// Resolves when buckets were given back since the last call (at once if they were).
    pub async fn given_back(&self) {
        self.given_back.notified().await
    }

    /// Writes the outcomes buffered so far, then gives back the buckets they finished.
    pub async fn flush(&self, until: Instant) -> Result<(), crate::journal::JournalError> {
        let (buffer, done) = {
            let mut books = self.books();
            (
                std::mem::take(&mut books.buffer),
                std::mem::take(&mut books.done),
            )
        };
        if !buffer.is_empty() {
            let mut rows = Vec::with_capacity(buffer.len());
            let mut hashes = Vec::with_capacity(buffer.len());
            let mut epochs = Vec::with_capacity(buffer.len());
            let mut states = Vec::with_capacity(buffer.len());
            let mut statuses = Vec::with_capacity(buffer.len());
            let mut details = Vec::with_capacity(buffer.len());
            let mut answered = Vec::with_capacity(buffer.len());
            for w in &buffer {
                answered.push(w.answered);
                rows.push(w.row.as_str());
                hashes.push(w.hash.as_str());
                epochs.push(w.epoch);
                states.push(w.state);
                statuses.push(w.status);
                details.push(w.details.as_deref());
            }
            let result = self
                .db
                .retry(until, |c| {
                    let (rows, hashes, epochs, states, statuses, details, answered) = (
                        rows.clone(),
                        hashes.clone(),
                        epochs.clone(),
                        states.clone(),
                        statuses.clone(),
                        details.clone(),
                        answered.clone(),
                    );
                    async move {
                        // The payload goes with the outcome that settles the record: an
                        // acknowledged or rejected record keeps no personal data. An answer is
                        // the truth, for the content sent, whatever happened to the mark
                        // meanwhile (a takeover made the record ambiguous or pending, a
                        // failover lost the mark); a record not sent goes back to pending only
                        // while its mark is still this worker's (else the new holder's
                        // decision stands).
                        c.execute(
                            "UPDATE preventor_records r SET
                                state = u.state, status = u.status, details = u.details,
                                payload = CASE WHEN u.state IN ('acknowledged', 'rejected')
                                               THEN NULL ELSE r.payload END,
                                sealed = CASE WHEN u.state IN ('acknowledged', 'rejected')
                                              THEN NULL ELSE r.sealed END,
                                updated = now()
                             FROM unnest($1::text[], $2::bigint[], $3::text[], $4::int[],
                                         $5::text[], $6::bool[], $7::text[])
                                  AS u(row_id, epoch, state, status, details, answered, hash)
                             WHERE r.row_id = u.row_id
                               AND ((r.state = 'in_flight' AND r.epoch = u.epoch)
                                    OR (u.answered AND r.hash = u.hash
                                        AND r.state IN ('in_flight', 'pending', 'ambiguous')))",
                            &[
                                &rows, &epochs, &states, &statuses, &details, &answered, &hashes,
                            ],
                        )
                        .await
                    }
                })
                .await;
            if let Err(e) = result {
                // Kept for the next flush.
                let mut books = self.books();
                let mut kept = buffer;
                kept.append(&mut books.buffer);
                books.buffer = kept;
                books.done.extend(done);
                return Err(e);
            }
            for w in buffer {
                if !w.answered {
                    self.recent.forget(&[w.row]);
                    continue;
                }
                let settled = Settled {
                    state: w.state,
                    status: w.status,
                    details: w.details,
                };
                self.recent.settled(&w.row, &w.hash, settled);
            }
        }
        if !done.is_empty() {
            self.leases.release(&self.db, &done).await?;
            self.given_back.notify_one();
        }
        Ok(())
    }

    /// Whether outcomes or finished buckets wait to be written.
    pub fn unflushed(&self) -> bool {
        let books = self.books();
        !books.buffer.is_empty() || !books.done.is_empty()
    }

    /// Writes outcomes every [`FLUSH_EVERY`], and at once when a bucket's records are all
    /// finished, until [`Flusher::stop`]: a flush under way is never cut short (its outcomes
    /// would be lost, and their records left in flight).
    pub fn flusher(&self) -> Flusher {
        let ledger = self.clone();
        let stop = tokio_util::sync::CancellationToken::new();
        let stopped = stop.clone();
        let task = tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(FLUSH_EVERY) => {}
                    _ = ledger.bucket_done.notified() => {}
                    _ = stopped.cancelled() => return,
                }
                if ledger.unflushed() {
                    // A failure keeps the outcomes for the next round.
                    let _ = ledger.flush(Instant::now() + FLUSH_EVERY * 10).await;
                }
            }
        });
        Flusher { stop, task }
    }
}

/// The task writing a ledger's outcomes.
pub struct Flusher {
    stop: tokio_util::sync::CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl Flusher {
    /// Stops the task once any flush under way has ended.
    pub async fn stop(self) {
        self.stop.cancel();
        let _ = self.task.await;
    }
}

/// Takes back this worker's marks of `rows` under `epochs` where they still stand (records not
/// sent after all: pending again); tried for `within`, a failure leaves them to a takeover.
async fn unmark(db: &Db, worker: &str, rows: &[String], epochs: &[i64], within: Duration) {
    let _ = db
        .retry(Instant::now() + within, |c| async move {
            c.execute(
                "UPDATE preventor_records r SET state = 'pending'
                 FROM unnest($1::text[], $2::bigint[]) AS m(row_id, epoch)
                 WHERE r.row_id = m.row_id AND r.epoch = m.epoch AND r.worker = $3
                   AND r.state = 'in_flight'",
                &[&rows, &epochs, &worker],
            )
            .await
        })
        .await;
}

impl Ledger for PgLedger {
    fn prior(&mut self, seq: u64) -> Prior {
        self.books()
            .open
            .get(&seq)
            .map_or(Prior::Unsent, |o| o.prior)
    }

    fn sending(&mut self, seqs: &[u64]) -> Durable {
        let batch: Vec<Open> = {
            let books = self.books();
            seqs.iter()
                .filter_map(|s| books.open.get(s).cloned())
                .collect()
        };
        let leases = self.leases.clone();
        let db = self.db.clone();
        let marks = self.marks.clone();
        let recent = self.recent.clone();
        Box::pin(async move {
            let held = |batch: &[Open]| batch.iter().all(|o| leases.valid(o.bucket, o.epoch));
            if !held(&batch) {
                return Err(lease_lost());
            }
            let rows: Vec<String> = batch.iter().map(|o| o.row.clone()).collect();
            let epochs: Vec<i64> = batch.iter().map(|o| o.epoch).collect();
            let hashes: Vec<String> = batch.iter().map(|o| o.hash.clone()).collect();
            let until = leases.deadline_of(batch.iter().map(|o| o.bucket));
            let whole = match marks
                .mark(rows.clone(), epochs.clone(), hashes.clone(), until)
                .await
            {
                Ok(whole) => whole,
                Err(e) => {
                    // The mark may have been committed with its answer lost (a connection gone
                    // silent): nothing of the batch is sent, so a mark that stands is taken
                    // back (else a takeover would take these records for maybe sent).
                    unmark(&db, &leases.worker, &rows, &epochs, Duration::from_secs(60)).await;
                    return Err(preventor::Error::Config(format!("journal: {e}")));
                }
            };
            if !whole {
                return Err(lease_lost());
            }
            recent.marked(&rows, &hashes, &epochs);
            if !held(&batch) {
                // Paused between the mark and now: the bucket may have moved. Not sent; the
                // mark is taken back where it still stands (a new holder settled it otherwise).
                unmark(&db, &leases.worker, &rows, &epochs, Duration::from_secs(1)).await;
                recent.forget(&rows);
                return Err(lease_lost());
            }
            Ok(())
        })
    }

    fn finished(&mut self, sent: &Sent) -> preventor::Result<()> {
        // The producer may be gone (the run is ending): nothing to tell then.
        let _ = self.finished.send(sent.seq);
        let mut books = self.books();
        let Some(open) = books.finish(sent.seq) else {
            return Ok(());
        };
        self.wake_if_done(&books);
        let answered = !matches!(sent.outcome, Outcome::Stopped);
        let row = match &sent.outcome {
            // Not processed: back to pending (a record to read back first stays one).
            Outcome::Stopped => Some((PENDING, None, None)),
            other => outcome_row(other, open.prior),
        };
        if let Some((state, status, details)) = row {
            books.buffer.push(Written {
                row: open.row,
                hash: open.hash,
                epoch: open.epoch,
                state,
                status: status.map(i32::from),
                details,
                answered,
            });
        }
        Ok(())
    }

    fn close(&mut self) -> Durable {
        let ledger = self.clone();
        Box::pin(async move {
            ledger
                .flush(Instant::now() + Duration::from_secs(60))
                .await
                .map_err(|e| preventor::Error::Config(format!("journal: {e}")))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open(bucket: u32) -> Open {
        Open {
            row: format!("row-{bucket}"),
            hash: "h".into(),
            bucket,
            epoch: 1,
            prior: Prior::Unsent,
        }
    }

    #[test]
    fn a_bucket_handed_over_is_given_back_only_after_its_records_in_flight_finish() {
        let mut books = Books::default();
        for seq in 1..=3 {
            books.open.insert(seq, open(7));
        }
        books.outstanding.insert(7, 3);
        // Record 1 went to the sender; 2 and 3 are handed over (they stay pending).
        books.hand_over(7, &[2, 3]);
        assert!(books.done.is_empty(), "record 1 is still in flight");
        assert!(!books.open.contains_key(&2) && !books.open.contains_key(&3));
        assert!(books.finish(1).is_some());
        assert_eq!(books.done, [7], "given back once record 1 is finished");
    }

    #[test]
    fn a_bucket_with_nothing_in_flight_is_given_back_at_once() {
        let mut books = Books::default();
        books.open.insert(1, open(3));
        books.outstanding.insert(3, 1);
        books.hand_over(3, &[1]);
        assert_eq!(books.done, [3]);
    }
}
