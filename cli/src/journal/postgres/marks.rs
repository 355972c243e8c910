//! A worker's in-flight marks, coalesced: every batch that asks while a statement runs goes into
//! the next one (group commit), each batch still all-or-nothing on its own.
//!
//! One statement per batch queued the marks behind each other, and that wait is time a key
//! cannot send its next record. One statement for every waiting batch keeps the wait near one
//! statement's time however many batches ask. The marks have a connection of their own, so that
//! they never queue behind the worker's fetches, outcome writes and lease rounds either.

use std::{sync::Arc, time::Instant};

use tokio::sync::{mpsc, oneshot};

use super::connection::Db;

/// Most records marked by one statement.
const MOST_ROWS: usize = 4096;

/// Marks `row_id[i]` in flight under `epoch[i]` for the batches of `grp[i]` that this worker
/// (`$3`) still holds, each whole batch or none of it, holding the buckets' rows `FOR SHARE` so
/// that no takeover commits in between. A record is marked only with the content (`hash[i]`)
/// the worker fetched and will send: a correction staged since then refuses the batch, which is
/// fetched afresh; a record in flight is marked again only by the worker that marked it (a
/// failover can give two workers one epoch). Returns the group of each record marked. Buckets are locked in ascending
/// order, as the renewal locks them: the two run on different connections, and in any other
/// order they could deadlock.
const MARK: &str = "WITH m AS (
        SELECT * FROM unnest($1::text[], $2::bigint[], $4::int[], $5::text[])
            AS m(row_id, epoch, grp, hash)
     ), ok AS (
        SELECT r.row_id, m.grp FROM preventor_records r
        JOIN m ON m.row_id = r.row_id
        JOIN preventor_buckets b ON b.bucket = r.bucket
        WHERE b.epoch = m.epoch AND b.owner = $3 AND b.expires > now() AND r.hash = m.hash
          AND (r.state = 'pending'
               OR (r.state = 'in_flight' AND r.epoch = m.epoch AND r.worker = $3))
        ORDER BY b.bucket
        FOR UPDATE OF r FOR SHARE OF b
     ), whole AS (
        SELECT ok.grp FROM ok GROUP BY ok.grp
        HAVING count(*) = (SELECT count(*) FROM m m2 WHERE m2.grp = ok.grp)
     )
     UPDATE preventor_records r
     SET state = 'in_flight', epoch = m.epoch, worker = $3, marked = now(), updated = now()
     FROM m
     WHERE r.row_id = m.row_id AND m.grp IN (SELECT grp FROM whole)
     RETURNING m.grp";

/// One batch to mark.
struct Request {
    rows: Vec<String>,
    epochs: Vec<i64>,
    /// The content hash each record was fetched with.
    hashes: Vec<String>,
    /// Tried until then while the database is away.
    until: Instant,
    /// Whether the whole batch was marked (false: a lease it needs is no longer this worker's).
    reply: oneshot::Sender<Result<bool, String>>,
}

/// The marks of one worker's run, written by a task of their own.
#[derive(Clone)]
pub struct Marks {
    requests: mpsc::UnboundedSender<Request>,
}

impl Marks {
    /// Starts the task that writes the marks of `worker` (it ends when every copy is dropped).
    pub fn start(db: Arc<Db>, worker: String) -> Marks {
        let (requests, rx) = mpsc::unbounded_channel();
        tokio::spawn(write(db, worker, rx));
        Marks { requests }
    }

    /// Marks a batch in flight, all of it or none: `Ok(false)` when a lease it needs is no
    /// longer this worker's, or a record's content was staged anew since it was fetched.
    pub async fn mark(
        &self,
        rows: Vec<String>,
        epochs: Vec<i64>,
        hashes: Vec<String>,
        until: Instant,
    ) -> Result<bool, String> {
        let (reply, answer) = oneshot::channel();
        self.requests
            .send(Request {
                rows,
                epochs,
                hashes,
                until,
                reply,
            })
            .map_err(|_| "the marks' writer has stopped".to_string())?;
        answer
            .await
            .map_err(|_| "the marks' writer has stopped".to_string())?
    }
}

/// Writes every batch waiting in one statement, until every sender is gone.
async fn write(db: Arc<Db>, worker: String, mut rx: mpsc::UnboundedReceiver<Request>) {
    while let Some(first) = rx.recv().await {
        let mut batches = vec![first];
        let mut n = batches[0].rows.len();
        while n < MOST_ROWS {
            match rx.try_recv() {
                Ok(next) => {
                    n += next.rows.len();
                    batches.push(next);
                }
                Err(_) => break,
            }
        }
        let mut rows = Vec::with_capacity(n);
        let mut epochs = Vec::with_capacity(n);
        let mut groups = Vec::with_capacity(n);
        let mut hashes = Vec::with_capacity(n);
        for (i, batch) in batches.iter().enumerate() {
            rows.extend(batch.rows.iter().cloned());
            hashes.extend(batch.hashes.iter().cloned());
            epochs.extend(batch.epochs.iter().copied());
            groups.extend(std::iter::repeat_n(i as i32, batch.rows.len()));
        }
        // After a failover, nothing is marked until every worker alive wrote back its part.
        db.server().settled().await;
        let until = batches
            .iter()
            .map(|b| b.until)
            .min()
            .unwrap_or_else(Instant::now);
        let marked = db
            .retry(until, |c| {
                let (rows, epochs, groups, worker, hashes) = (
                    rows.clone(),
                    epochs.clone(),
                    groups.clone(),
                    worker.clone(),
                    hashes.clone(),
                );
                async move {
                    c.query(MARK, &[&rows, &epochs, &worker, &groups, &hashes])
                        .await
                }
            })
            .await;
        match marked {
            Ok(returned) => {
                let mut counts = vec![0usize; batches.len()];
                for row in returned {
                    counts[row.get::<_, i32>(0) as usize] += 1;
                }
                for (batch, count) in batches.into_iter().zip(counts) {
                    let whole = count == batch.rows.len();
                    let _ = batch.reply.send(Ok(whole));
                }
            }
            Err(e) => {
                for batch in batches {
                    let _ = batch.reply.send(Err(e.to_string()));
                }
            }
        }
    }
}
