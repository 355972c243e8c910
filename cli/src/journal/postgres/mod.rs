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
pub mod stage;
pub mod workers;

use std::{collections::HashMap, sync::Arc, time::Instant};

use serde_json::{json, Value};

use crate::{journal::JournalError, target::Target};
use connection::{storage, Db, Location};

/// How many buckets a feed's keys are split into.
pub const BUCKETS: u32 = 64;

/// How long setup statements may wait for the database.
const SETUP_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS preventor_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS preventor_records (
    seq BIGSERIAL UNIQUE,
    row_id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    operation TEXT NOT NULL,
    key TEXT NOT NULL,
    id TEXT NOT NULL,
    bucket INTEGER NOT NULL,
    hash TEXT NOT NULL,
    state TEXT NOT NULL,
    maybe_sent BOOLEAN NOT NULL DEFAULT false,
    line BIGINT,
    status INTEGER,
    details TEXT,
    payload TEXT,
    epoch BIGINT,
    worker TEXT,
    marked TIMESTAMPTZ,
    created TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated TIMESTAMPTZ NOT NULL DEFAULT now(),
    stage_run BIGINT,
    stage_line BIGINT
);
-- Journals of an earlier version: the staging that last read each record, and its line there
-- (how a repeat in one file is found without keeping every id in memory). Checked first, so
-- that a worker's start takes no table lock once the columns exist.
DO $$ BEGIN
  IF NOT EXISTS (SELECT 1 FROM information_schema.columns
                 WHERE table_name = 'preventor_records' AND column_name = 'stage_run'
                   AND table_schema = current_schema()) THEN
    ALTER TABLE preventor_records ADD COLUMN stage_run BIGINT, ADD COLUMN stage_line BIGINT;
  END IF;
END $$;
CREATE SEQUENCE IF NOT EXISTS preventor_stagings;
CREATE INDEX IF NOT EXISTS preventor_records_work ON preventor_records (bucket, state, seq);
CREATE INDEX IF NOT EXISTS preventor_records_state ON preventor_records (state);
CREATE TABLE IF NOT EXISTS preventor_buckets (
    bucket INTEGER PRIMARY KEY,
    owner TEXT,
    epoch BIGINT NOT NULL DEFAULT 0,
    expires TIMESTAMPTZ
);
CREATE TABLE IF NOT EXISTS preventor_workers (
    id TEXT PRIMARY KEY,
    host TEXT NOT NULL,
    pid INTEGER NOT NULL,
    started TIMESTAMPTZ NOT NULL DEFAULT now(),
    heartbeat TIMESTAMPTZ NOT NULL DEFAULT now(),
    ended TIMESTAMPTZ
);
-- Journals of an earlier version: each worker's records finished a second lately, and their
-- mean sequence number (how the buckets are shared between workers).
DO $$ BEGIN
  IF NOT EXISTS (SELECT 1 FROM information_schema.columns
                 WHERE table_name = 'preventor_workers' AND column_name = 'rate'
                   AND table_schema = current_schema()) THEN
    ALTER TABLE preventor_workers ADD COLUMN rate DOUBLE PRECISION,
                                  ADD COLUMN position DOUBLE PRECISION;
  END IF;
END $$;
";

/// A PostgreSQL journal: its schema made, bound to a target.
pub struct PgJournal {
    pub db: Arc<Db>,
}

impl PgJournal {
    /// Connects, makes the tables (once, whoever comes first), and binds the journal to
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
            let bound: String = db
                .retry(until, |c| {
                    let run = run.clone();
                    async move {
                        // One schema maker at a time (workers start together).
                        c.batch_execute(&format!(
                            "BEGIN; SELECT pg_advisory_xact_lock(7207011); {SCHEMA} {}
                             INSERT INTO preventor_buckets (bucket)
                                 SELECT generate_series(0, {}) ON CONFLICT DO NOTHING;
                             COMMIT;",
                            crate::journal::runs::POSTGRES_SCHEMA,
                            BUCKETS - 1
                        ))
                        .await?;
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
        let client = self.db.client().await.map_err(|e| storage(&e))?;
        let rows = client
            .query(
                "SELECT state, COUNT(*) FROM preventor_records GROUP BY state",
                &[],
            )
            .await
            .map_err(|e| storage(&e))?;
        Ok(rows
            .iter()
            .map(|r| (r.get::<_, String>(0), r.get::<_, i64>(1) as u64))
            .collect())
    }

    /// Counts per state of the records staging `staging` read (staged, or settled earlier).
    pub async fn counts_of_staging(
        &self,
        staging: i64,
    ) -> Result<HashMap<String, u64>, JournalError> {
        let client = self.db.client().await.map_err(|e| storage(&e))?;
        let rows = client
            .query(
                "SELECT state, COUNT(*) FROM preventor_records WHERE stage_run = $1
                 GROUP BY state",
                &[&staging],
            )
            .await
            .map_err(|e| storage(&e))?;
        Ok(rows
            .iter()
            .map(|r| (r.get::<_, String>(0), r.get::<_, i64>(1) as u64))
            .collect())
    }

    /// Rejected, ambiguous and failed records with their reasons (ids, lines, statuses: never
    /// a payload).
    pub async fn problems(&self, limit: i64) -> Result<Vec<Value>, JournalError> {
        let client = self.db.client().await.map_err(|e| storage(&e))?;
        let rows = client
            .query(
                "SELECT kind, id, state, line, status, details FROM preventor_records
                 WHERE state IN ('rejected', 'ambiguous', 'failed') ORDER BY updated LIMIT $1",
                &[&limit],
            )
            .await
            .map_err(|e| storage(&e))?;
        Ok(rows
            .iter()
            .map(|r| {
                json!({
                    "kind": r.get::<_, String>(0),
                    "id": r.get::<_, String>(1),
                    "state": r.get::<_, String>(2),
                    "line": r.get::<_, Option<i64>>(3),
                    "status": r.get::<_, Option<i32>>(4),
                    "details": r.get::<_, Option<String>>(5),
                })
            })
            .collect())
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
