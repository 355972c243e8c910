//! The journal on PostgreSQL: one feed, staged once, worked by any number of workers on any
//! number of hosts.
//!
//! Tables (prefixed `preventor_`, in the DSN's database and search path):
//!
//! * `records`: one row per record (the same row ids as the SQLite journal), its key's bucket,
//!   its state, and its payload (the record's JSON) until it is settled: an acknowledged or
//!   rejected record's payload is cleared in the transaction that records the outcome.
//! * `buckets`: [`BUCKETS`] buckets (the FNV-1a of the key, as `--shard`), each leased by at most
//!   one worker at a time, with an expiry and an epoch that grows with every new lease.
//! * `workers`: each worker's host, pid and last heartbeat.
//! * `meta`: the target the journal is bound to.
//!
//! A worker marks records `in_flight` only while it holds their bucket's lease, in one
//! statement that checks the lease (the fence): a worker paused past its lease cannot mark, so
//! cannot send, a record of a bucket that moved. See [`lease`] and [`ledger`].

pub mod connection;
pub mod lease;
pub mod ledger;
pub mod marks;
pub mod notify;
pub mod recent;
pub mod rekey;
pub mod replication;
pub mod runs;
pub mod schema;
pub mod seal;
pub mod server;
pub mod stage;
pub mod workers;

use std::{collections::HashMap, sync::Arc, time::Instant};

use serde_json::{json, Value};

use crate::{
    journal::{JournalError, Problem},
    target::Target,
};
use connection::{storage, Db, Location};

/// How many buckets a feed's keys are split into.
pub const BUCKETS: u32 = 64;

/// How long setup statements may wait for the database.
const SETUP_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

/// The records of a PostgreSQL journal in `states` (see [`PgJournal::problems`]).
pub async fn problems(
    db: &Db,
    states: &[&str],
    limit: usize,
) -> Result<Vec<Problem>, JournalError> {
    let client = db.client().await.map_err(|e| storage(&e))?;
    let rows = client
        .query(
            "SELECT kind, id, state, line, status, details FROM preventor_records
             WHERE state = ANY($1) ORDER BY updated LIMIT $2",
            &[&states, &(limit as i64)],
        )
        .await
        .map_err(|e| storage(&e))?;
    Ok(rows
        .iter()
        .map(|r| Problem {
            kind: r.get(0),
            id: r.get(1),
            state: r.get(2),
            line: r.get(3),
            status: r.get::<_, Option<i32>>(4).map(i64::from),
            details: r.get(5),
        })
        .collect())
}

/// A PostgreSQL journal: its schema made, bound to a target.
pub struct PgJournal {
    pub db: Arc<Db>,
}

impl PgJournal {
    /// Connects, brings the schema up to date ([`schema`]: one worker at a time),
    /// and binds the journal to
    /// `target` (the first run's) or refuses another target. `None`: read only (`status`).
    pub async fn open(
        location: Location,
        target: Option<&Target>,
    ) -> Result<PgJournal, JournalError> {
        let db = Arc::new(Db::new(Arc::new(location)));
        let until = Instant::now() + SETUP_WAIT;
        if let Some(target) = target {
            let run = serde_json::to_string(target)
                .map_err(|e| JournalError::Storage(format!("its target: {e}")))?;
            schema::migrate(db.location(), until).await?;
            let bound: String = db
                .retry(until, |c| {
                    let run = run.clone();
                    async move {
                        c.execute(
                            "INSERT INTO preventor_meta (key, value) VALUES ('target', $1)
                             ON CONFLICT (key) DO NOTHING",
                            &[&run],
                        )
                        .await?;
                        let row = c
                            .query_one("SELECT value FROM preventor_meta WHERE key = 'target'", &[])
                            .await?;
                        Ok(row.get::<_, String>(0))
                    }
                })
                .await?;
            let bound: Target = serde_json::from_str(&bound)
                .map_err(|e| JournalError::Storage(format!("its target is unreadable: {e}")))?;
            let differences = bound.differences(target);
            if !differences.is_empty() {
                return Err(JournalError::OtherTarget(differences));
            }
        } else {
            let exists: bool = db
                .retry(until, |c| async move {
                    let row = c
                        .query_one("SELECT to_regclass('preventor_records') IS NOT NULL", &[])
                        .await?;
                    Ok(row.get::<_, bool>(0))
                })
                .await?;
            if !exists {
                return Err(JournalError::Storage(format!(
                    "no journal at {}",
                    db.location()
                )));
            }
        }
        Ok(PgJournal { db })
    }

    /// The target the journal is bound to.
    pub async fn target(&self) -> Result<Option<Target>, JournalError> {
        let client = self.db.client().await.map_err(|e| storage(&e))?;
        let row = client
            .query_opt("SELECT value FROM preventor_meta WHERE key = 'target'", &[])
            .await
            .map_err(|e| storage(&e))?;
        row.map(|r| {
            serde_json::from_str(&r.get::<_, String>(0))
                .map_err(|e| JournalError::Storage(format!("its target is unreadable: {e}")))
        })
        .transpose()
    }

    /// Counts per state.
    pub async fn counts(&self) -> Result<HashMap<String, u64>, JournalError> {
        self.counts_where("true", None).await
    }

    /// Counts per state of the records staging `staging` read (staged, or settled earlier).
    pub async fn counts_of_staging(
        &self,
        staging: i64,
    ) -> Result<HashMap<String, u64>, JournalError> {
        self.counts_where("stage_run = $1", Some(staging)).await
    }

    /// Counts per state of the records matching `filter` (with `$1` bound to `value`).
    async fn counts_where(
        &self,
        filter: &str,
        value: Option<i64>,
    ) -> Result<HashMap<String, u64>, JournalError> {
        let client = self.db.client().await.map_err(|e| storage(&e))?;
        let sql =
            format!("SELECT state, COUNT(*) FROM preventor_records WHERE {filter} GROUP BY state");
        let rows = match &value {
            Some(v) => client.query(&sql, &[v]).await,
            None => client.query(&sql, &[]).await,
        }
        .map_err(|e| storage(&e))?;
        Ok(rows
            .iter()
            .map(|r| (r.get::<_, String>(0), r.get::<_, i64>(1) as u64))
            .collect())
    }

    /// Records in `states` with their reasons, oldest change first (at most `limit`).
    pub async fn problems(
        &self,
        states: &[&str],
        limit: usize,
    ) -> Result<Vec<Problem>, JournalError> {
        problems(&self.db, states, limit).await
    }

    /// Each worker: host, pid, last heartbeat (seconds ago), whether it ended, its buckets.
    pub async fn workers(&self) -> Result<Vec<Value>, JournalError> {
        let client = self.db.client().await.map_err(|e| storage(&e))?;
        let rows = client
            .query(
                "SELECT w.id, w.host, w.pid,
                        EXTRACT(EPOCH FROM now() - w.heartbeat)::float8,
                        w.ended IS NOT NULL,
                        COALESCE(array_agg(b.bucket ORDER BY b.bucket)
                            FILTER (WHERE b.bucket IS NOT NULL AND b.expires > now()), '{}')
                 FROM preventor_workers w
                 LEFT JOIN preventor_buckets b ON b.owner = w.id
                 GROUP BY w.id ORDER BY w.started",
                &[],
            )
            .await
            .map_err(|e| storage(&e))?;
        Ok(rows
            .iter()
            .map(|r| {
                json!({
                    "worker": r.get::<_, String>(0),
                    "host": r.get::<_, String>(1),
                    "pid": r.get::<_, i32>(2),
                    "heartbeat_s_ago": r.get::<_, f64>(3),
                    "ended": r.get::<_, bool>(4),
                    "buckets": r.get::<_, Vec<i32>>(5),
                })
            })
            .collect())
    }
}
