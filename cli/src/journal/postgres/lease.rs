//! Leases on buckets: which worker may send which keys, until when, under which epoch.
//!
//! A worker takes free or expired buckets that have work (`FOR UPDATE SKIP LOCKED`: workers
//! never wait for each other), those furthest behind in the feed first, each with a new epoch and an expiry `lease` ahead in the
//! database's clock, and renews them every third of `lease`. Taking an expired bucket over
//! settles what its last holder left in flight: customer creates go back to be read back
//! before anything is sent; other records become ambiguous (never resent on their own).
//!
//! Each held bucket also has a local deadline: the moment its last renewal was asked for plus
//! 90% of `lease`, on this process's monotonic clock (which runs on while the process is
//! stopped). A worker never marks a record whose bucket's deadline passed, whatever the
//! database said before, so that a worker that wakes from a pause acts on nothing it may have
//! lost.

use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant},
};

use serde_json::{json, Value};

use super::connection::Db;
use crate::journal::JournalError;

/// One held bucket.
#[derive(Clone, Copy, Debug)]
pub struct Held {
    pub epoch: i64,
    pub deadline: Instant,
}

/// A bucket taken: its epoch, and whom it was taken from (a takeover) and how long after
/// that worker's lease had expired.
#[derive(Debug)]
pub struct Taken {
    pub bucket: u32,
    pub epoch: i64,
    pub from: Option<(String, f64)>,
}

/// The buckets this worker holds.
pub struct Leases {
    pub worker: String,
    pub lease: Duration,
    held: Mutex<HashMap<u32, Held>>,
    /// Takeovers done by this worker, for its report.
    takeovers: Mutex<Vec<Value>>,
}

fn interval(d: Duration) -> f64 {
    d.as_secs_f64()
}

impl Leases {
    /// No bucket held yet.
    pub fn new(worker: String, lease: Duration) -> Leases {
        Leases {
            worker,
            lease,
            held: Mutex::new(HashMap::new()),
            takeovers: Mutex::new(Vec::new()),
        }
    }

    fn local_deadline(&self, asked: Instant) -> Instant {
        asked + self.lease.mul_f64(0.9)
    }

    /// The epoch of `bucket` if this worker still holds it by its local clock.
    pub fn valid(&self, bucket: u32, epoch: i64) -> bool {
        let held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        held.get(&bucket)
            .is_some_and(|h| h.epoch == epoch && Instant::now() < h.deadline)
    }

    /// The earliest local deadline of `buckets` (how long work on them may wait).
    pub fn deadline_of(&self, buckets: impl IntoIterator<Item = u32>) -> Instant {
        let held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        buckets
            .into_iter()
            .map(|b| held.get(&b).map_or_else(Instant::now, |h| h.deadline))
            .min()
            .unwrap_or_else(Instant::now)
    }

    /// How many buckets are held.
    pub fn count(&self) -> usize {
        self.held.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// Takeovers done so far.
    pub fn takeovers(&self) -> Vec<Value> {
        self.takeovers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Takes up to `n` free or expired buckets that have work, and settles what an expired
    /// holder left in flight in them.
    pub async fn acquire(&self, db: &Db, n: usize) -> Result<Vec<Taken>, JournalError> {
        // Expired buckets first, beyond `n`: what a dead worker left in flight is settled, and
        // its keys move on, without waiting for a free slot.
        let mut taken = self.take(db, self.lease_count_for_takeover(), true).await?;
        let free = n.saturating_sub(taken.len());
        if free > 0 {
            taken.extend(self.take(db, free, false).await?);
        }
        Ok(taken)
    }

    /// At most this many expired buckets are taken over at once.
    fn lease_count_for_takeover(&self) -> usize {
        super::BUCKETS as usize
    }

    /// Takes up to `n` buckets with work: expired ones (`expired`), or free ones.
    async fn take(&self, db: &Db, n: usize, expired: bool) -> Result<Vec<Taken>, JournalError> {
        if n == 0 {
            return Ok(Vec::new());
        }
        let asked = Instant::now();
        let worker = self.worker.clone();
        let lease = interval(self.lease);
        let limit = n as i64;
        let rows = db
            .retry(asked + self.lease / 2, |c| {
                let worker = worker.clone();
                async move {
                    c.query(
                        "WITH free AS (
                            SELECT b.bucket, b.owner AS was,
                                   EXTRACT(EPOCH FROM now() - b.expires)::float8 AS late
                            FROM preventor_buckets b
                            WHERE (CASE WHEN $4 THEN b.owner IS NOT NULL AND b.expires < now()
                                        ELSE b.owner IS NULL END)
                              AND EXISTS (SELECT 1 FROM preventor_records r
                                          WHERE r.bucket = b.bucket
                                            AND r.state IN ('pending', 'in_flight'))
                            -- One index lookup per state: `min` over both states at
                            -- once reads every row of the bucket.
                            ORDER BY LEAST(
                                (SELECT min(r.seq) FROM preventor_records r
                                 WHERE r.bucket = b.bucket AND r.state = 'pending'),
                                (SELECT min(r.seq) FROM preventor_records r
                                 WHERE r.bucket = b.bucket AND r.state = 'in_flight'))
                            LIMIT $3
                            FOR UPDATE OF b SKIP LOCKED
                         )
                         , took AS (
                            UPDATE preventor_buckets b
                            SET owner = $1, epoch = b.epoch + 1,
                                expires = now() + make_interval(secs => $2)
                            FROM free WHERE b.bucket = free.bucket
                            RETURNING b.bucket, b.epoch, free.was, free.late
                         ), settled AS (
                            -- What an earlier lease left in flight (its holder died, stopped
                            -- mid-flush, or lost a take's answer) is settled with the take, in
                            -- one transaction: customer creates are read back before being sent
                            -- again; the rest is ambiguous.
                            UPDATE preventor_records r SET
                                state = CASE WHEN r.operation = 'customerOnboarding'
                                             THEN 'pending' ELSE 'ambiguous' END,
                                maybe_sent = true,
                                details = 'in flight when its worker (' || COALESCE(r.worker, '?')
                                          || ') stopped or lost its lease',
                                updated = now()
                            FROM took
                            WHERE r.bucket = took.bucket AND r.state = 'in_flight'
                              AND r.epoch < took.epoch
                         )
                         SELECT bucket, epoch, was, late FROM took",
                        &[&worker, &lease, &limit, &expired],
                    )
                    .await
                }
            })
            .await?;
        let deadline = self.local_deadline(asked);
        let mut taken = Vec::new();
        for row in rows {
            let bucket = row.get::<_, i32>(0) as u32;
            let epoch: i64 = row.get(1);
            let from = row
                .get::<_, Option<String>>(2)
                .filter(|w| *w != self.worker)
                .map(|w| (w, row.get::<_, Option<f64>>(3).unwrap_or_default()));
            self.held
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(bucket, Held { epoch, deadline });
            taken.push(Taken {
                bucket,
                epoch,
                from,
            });
        }
        if taken.iter().any(|t| t.from.is_some()) {
            let mut takeovers = self.takeovers.lock().unwrap_or_else(|p| p.into_inner());
            for t in taken.iter() {
                if let Some((from, late)) = &t.from {
                    takeovers.push(json!({
                        "bucket": t.bucket,
                        "from": from,
                        "after_expiry_s": late,
                        "at_unix_s": std::time::SystemTime::now()
                            .duration_since(std::time::UNIX_EPOCH)
                            .map(|d| d.as_secs_f64())
                            .unwrap_or_default(),
                    }));
                }
            }
        }
        Ok(taken)
    }

    /// Renews every held bucket and records the heartbeat; a bucket the database no longer
    /// gives this worker (taken over after a pause) is dropped at once.
    pub async fn renew(&self, db: &Db) -> Result<(), JournalError> {
        let asked = Instant::now();
        let (buckets, epochs): (Vec<i32>, Vec<i64>) = {
            let held = self.held.lock().unwrap_or_else(|p| p.into_inner());
            held.iter().map(|(b, h)| (*b as i32, h.epoch)).unzip()
        };
        let worker = self.worker.clone();
        let lease = interval(self.lease);
        let rows = db
            .retry(asked + self.lease / 3, |c| {
                let (worker, buckets, epochs) = (worker.clone(), buckets.clone(), epochs.clone());
                async move {
                    c.execute(
                        "UPDATE preventor_workers SET heartbeat = now() WHERE id = $1",
                        &[&worker],
                    )
                    .await?;
                    c.query(
                        // Locked in ascending order, as a mark locks them (see `marks`).
                        "WITH held AS (
                            SELECT b.bucket FROM preventor_buckets b
                            JOIN unnest($3::int[], $4::bigint[]) AS h(bucket, epoch)
                              ON b.bucket = h.bucket AND b.epoch = h.epoch
                            WHERE b.owner = $1 AND b.expires > now()
                            ORDER BY b.bucket
                            FOR NO KEY UPDATE OF b
                         )
                         UPDATE preventor_buckets b
                         SET expires = now() + make_interval(secs => $2)
                         FROM held WHERE b.bucket = held.bucket
                         RETURNING b.bucket",
                        &[&worker, &lease, &buckets, &epochs],
                    )
                    .await
                }
            })
            .await?;
        let renewed: std::collections::HashSet<u32> =
            rows.iter().map(|r| r.get::<_, i32>(0) as u32).collect();
        let asked_for: HashMap<u32, i64> = buckets
            .iter()
            .zip(&epochs)
            .map(|(b, e)| (*b as u32, *e))
            .collect();
        let deadline = self.local_deadline(asked);
        let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        held.retain(|b, h| {
            if asked_for.get(b) != Some(&h.epoch) {
                // Taken (again) while the renewal ran: its own lease is fresh.
                true
            } else if renewed.contains(b) {
                h.deadline = deadline;
                true
            } else {
                false
            }
        });
        Ok(())
    }

    /// Gives `buckets` back (their work is done, or this worker stops).
    pub async fn release(&self, db: &Db, buckets: &[u32]) -> Result<(), JournalError> {
        let pairs: Vec<(i32, i64)> = {
            let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
            buckets
                .iter()
                .filter_map(|b| held.remove(b).map(|h| (*b as i32, h.epoch)))
                .collect()
        };
        if pairs.is_empty() {
            return Ok(());
        }
        let (b, e): (Vec<i32>, Vec<i64>) = pairs.into_iter().unzip();
        let worker = self.worker.clone();
        db.retry(Instant::now() + self.lease, |c| {
            let (worker, b, e) = (worker.clone(), b.clone(), e.clone());
            async move {
                c.execute(
                    "UPDATE preventor_buckets bk SET owner = NULL, expires = NULL
                     FROM unnest($2::int[], $3::bigint[]) AS h(bucket, epoch)
                     WHERE bk.bucket = h.bucket AND bk.epoch = h.epoch AND bk.owner = $1",
                    &[&worker, &b, &e],
                )
                .await
            }
        })
        .await?;
        Ok(())
    }

    /// Gives back every bucket the database says this worker holds (when it has nothing in
    /// flight: after a run, or at the end).
    pub async fn release_all(&self, db: &Db) -> Result<(), JournalError> {
        self.held.lock().unwrap_or_else(|p| p.into_inner()).clear();
        let worker = self.worker.clone();
        db.retry(Instant::now() + self.lease, |c| {
            let worker = worker.clone();
            async move {
                c.execute(
                    "UPDATE preventor_buckets SET owner = NULL, expires = NULL WHERE owner = $1",
                    &[&worker],
                )
                .await
            }
        })
        .await?;
        Ok(())
    }
}
