//! What a worker wrote to the journal lately, kept to write again after a failover: a standby
//! promoted from asynchronous replication lacks the last commits of the old primary, so marks
//! and outcomes this worker committed can be gone while the worker is alive and knows them.
//! Written back, a record it sent is not sent again by another worker (0 duplicates) and an
//! "already exists" is never taken for a rejection.
//!
//! Written back where the record still has the content this worker sent (its hash):
//! * an outcome that settled a record settles it again, whatever state it is back in;
//! * a record this worker marked and has not settled yet, found pending again, is in flight
//!   again (this worker's answer is coming; if the worker dies, a takeover settles it as any
//!   record left in flight), and may have been sent.

use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant},
};

use super::connection::Db;
use crate::journal::JournalError;

/// How long what was written is kept: longer than an asynchronous standby lags behind.
const KEPT_FOR: Duration = Duration::from_secs(30);

/// An outcome written.
#[derive(Clone, Debug)]
pub struct Settled {
    pub state: &'static str,
    pub status: Option<i32>,
    pub details: Option<String>,
}

/// What was written of one record.
#[derive(Clone, Debug)]
enum Wrote {
    Marked { epoch: i64 },
    Settled(Settled),
}

#[derive(Clone, Debug)]
struct Entry {
    hash: String,
    wrote: Wrote,
    at: Instant,
}

/// A worker's recent writes, shared by its passes.
#[derive(Default)]
pub struct Recent {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    entries: HashMap<String, Entry>,
    pruned: Option<Instant>,
}

impl Inner {
    /// Forgets, once a second, what is older than [`KEPT_FOR`].
    fn prune(&mut self, now: Instant) {
        if self
            .pruned
            .is_none_or(|t| now.duration_since(t) >= Duration::from_secs(1))
        {
            self.pruned = Some(now);
            self.entries
                .retain(|_, e| now.duration_since(e.at) < KEPT_FOR);
        }
    }
}

impl Recent {
    fn inner(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records `rows` (with the content `hashes` sent) were marked in flight under `epochs`.
    pub fn marked(&self, rows: &[String], hashes: &[String], epochs: &[i64]) {
        let now = Instant::now();
        let mut inner = self.inner();
        inner.prune(now);
        for ((row, hash), epoch) in rows.iter().zip(hashes).zip(epochs) {
            inner.entries.insert(
                row.clone(),
                Entry {
                    hash: hash.clone(),
                    wrote: Wrote::Marked { epoch: *epoch },
                    at: now,
                },
            );
        }
    }

    /// The record `row` (content `hash`) was settled as `settled`.
    pub fn settled(&self, row: &str, hash: &str, settled: Settled) {
        let now = Instant::now();
        self.inner().entries.insert(
            row.to_string(),
            Entry {
                hash: hash.to_string(),
                wrote: Wrote::Settled(settled),
                at: now,
            },
        );
    }

    /// Forgets `rows`: marked, then not sent (pending again).
    pub fn forget(&self, rows: &[String]) {
        let mut inner = self.inner();
        for row in rows {
            inner.entries.remove(row);
        }
    }

    /// Writes back what is kept (see the module's documentation); returns how many records
    /// it changed.
    pub async fn write_back(&self, db: &Db, worker: &str) -> Result<u64, JournalError> {
        let (marked, settled): (Vec<_>, Vec<_>) = {
            let mut inner = self.inner();
            inner.prune(Instant::now());
            inner
                .entries
                .iter()
                .map(|(row, e)| (row.clone(), e.clone()))
                .partition(|(_, e)| matches!(e.wrote, Wrote::Marked { .. }))
        };
        let until = Instant::now() + Duration::from_secs(60);
        let mut changed = 0;
        if !settled.is_empty() {
            let rows: Vec<&str> = settled.iter().map(|(r, _)| r.as_str()).collect();
            let hashes: Vec<&str> = settled.iter().map(|(_, e)| e.hash.as_str()).collect();
            let mut states = Vec::new();
            let mut statuses = Vec::new();
            let mut details = Vec::new();
            for (_, e) in &settled {
                if let Wrote::Settled(s) = &e.wrote {
                    states.push(s.state);
                    statuses.push(s.status);
                    details.push(s.details.clone());
                }
            }
            changed += db
                .retry(until, |c| {
                    let (rows, hashes, states, statuses, details) = (
                        rows.clone(),
                        hashes.clone(),
                        states.clone(),
                        statuses.clone(),
                        details.clone(),
                    );
                    async move {
                        c.execute(
                            "UPDATE preventor_records r SET
                                state = u.state, status = u.status, details = u.details,
                                payload = CASE WHEN u.state IN ('acknowledged', 'rejected')
                                               THEN NULL ELSE r.payload END,
                                sealed = CASE WHEN u.state IN ('acknowledged', 'rejected')
                                              THEN NULL ELSE r.sealed END,
                                updated = now()
                             FROM unnest($1::text[], $2::text[], $3::text[], $4::int[],
                                         $5::text[]) AS u(row_id, hash, state, status, details)
                             WHERE r.row_id = u.row_id AND r.hash = u.hash
                               AND r.state IN ('pending', 'in_flight', 'ambiguous')",
                            &[&rows, &hashes, &states, &statuses, &details],
                        )
                        .await
                    }
                })
                .await?;
        }
        if !marked.is_empty() {
            let rows: Vec<&str> = marked.iter().map(|(r, _)| r.as_str()).collect();
            let hashes: Vec<&str> = marked.iter().map(|(_, e)| e.hash.as_str()).collect();
            let epochs: Vec<i64> = marked
                .iter()
                .map(|(_, e)| match e.wrote {
                    Wrote::Marked { epoch } => epoch,
                    Wrote::Settled(_) => 0,
                })
                .collect();
            // In flight under the lower of its epoch and its bucket's now (a lease lost with
            // the failover has an older epoch): whoever takes the bucket next settles it as
            // left in flight, should this worker die before its answer is written.
            changed += db
                .retry(until, |c| {
                    let (rows, hashes, epochs) = (rows.clone(), hashes.clone(), epochs.clone());
                    async move {
                        c.execute(
                            "UPDATE preventor_records r SET state = 'in_flight',
                                maybe_sent = true, worker = $4,
                                epoch = LEAST(u.epoch, b.epoch), marked = now(), updated = now()
                             FROM unnest($1::text[], $2::text[], $3::bigint[])
                                  AS u(row_id, hash, epoch), preventor_buckets b
                             WHERE r.row_id = u.row_id AND r.hash = u.hash
                               AND b.bucket = r.bucket AND r.state = 'pending'",
                            &[&rows, &hashes, &epochs, &worker],
                        )
                        .await
                    }
                })
                .await?;
        }
        Ok(changed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_outcome_replaces_the_mark_of_its_record() {
        let recent = Recent::default();
        recent.marked(
            &["t:1".into(), "t:2".into()],
            &["a".into(), "b".into()],
            &[3, 3],
        );
        recent.settled(
            "t:1",
            "a",
            Settled {
                state: "acknowledged",
                status: Some(200),
                details: None,
            },
        );
        let entries = &recent.inner().entries;
        assert!(matches!(entries["t:1"].wrote, Wrote::Settled(_)));
        assert!(matches!(entries["t:2"].wrote, Wrote::Marked { epoch: 3 }));
    }
}
