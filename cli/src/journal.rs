//! The durable journal of an import: SQLite (bundled), WAL, batched commits.
//!
//! One row per record (kind and id; for customers also the request type, so that a create and
//! a later update are two records): its key, the SHA-256 of its content, its state, the input
//! line, times, and the status and details of its outcome. A record is marked `in_flight` (and
//! committed) before it is sent. On a rerun: `acknowledged` and `rejected` records with the same
//! content are skipped; a record whose content changed since it was acknowledged is reported and
//! not sent; `in_flight` records (a crash) become `ambiguous`; `pending` and `failed` ones are
//! sent. WAL with `synchronous=NORMAL` survives the process being killed at any point.

use std::{collections::HashMap, path::Path};

use preventor::bulk::{Ledger, Outcome, Sent};
use rusqlite::{params, Connection, OptionalExtension};

/// States of a record.
pub const PENDING: &str = "pending";
pub const IN_FLIGHT: &str = "in_flight";
pub const ACKNOWLEDGED: &str = "acknowledged";
pub const REJECTED: &str = "rejected";
pub const AMBIGUOUS: &str = "ambiguous";
pub const FAILED: &str = "failed";

/// What the journal knows of a record from an earlier run.
#[derive(Debug)]
pub struct Known {
    pub state: String,
    pub hash: String,
}

/// A record handed to the sender and not finished yet.
struct Open {
    row: String,
}

pub struct Journal {
    db: Connection,
    open: HashMap<u64, Open>,
    finished: Vec<(String, &'static str, Option<u16>, Option<String>)>,
}

/// The journal's row id of a record.
pub fn row_id(kind: &str, id: &str, request_type: Option<&str>) -> String {
    match request_type {
        Some(t) => format!("{kind}:{id}:{t}"),
        None => format!("{kind}:{id}"),
    }
}

fn now() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or_default();
    format!("{secs:.3}")
}

impl Journal {
    pub fn open(path: &Path) -> rusqlite::Result<Journal> {
        let db = Connection::open(path)?;
        db.pragma_update(None, "journal_mode", "WAL")?;
        db.pragma_update(None, "synchronous", "NORMAL")?;
        db.execute_batch(
            "CREATE TABLE IF NOT EXISTS records (
                row TEXT PRIMARY KEY,
                kind TEXT NOT NULL,
                operation TEXT NOT NULL,
                key TEXT NOT NULL,
                id TEXT NOT NULL,
                hash TEXT NOT NULL,
                state TEXT NOT NULL,
                line INTEGER,
                status INTEGER,
                details TEXT,
                created REAL NOT NULL,
                updated REAL NOT NULL
            );
            CREATE INDEX IF NOT EXISTS records_state ON records(state);",
        )?;
        Ok(Journal {
            db,
            open: HashMap::new(),
            finished: Vec::new(),
        })
    }

    /// Records left in flight by a run that stopped become ambiguous; returns how many.
    pub fn settle_crash(&mut self) -> rusqlite::Result<usize> {
        self.db.execute(
            "UPDATE records SET state = ?1, details = 'in flight when an earlier run stopped', updated = ?2 WHERE state = ?3",
            params![AMBIGUOUS, now(), IN_FLIGHT],
        )
    }

    pub fn known(&self, row: &str) -> rusqlite::Result<Option<Known>> {
        self.db
            .query_row(
                "SELECT state, hash FROM records WHERE row = ?1",
                [row],
                |r| {
                    Ok(Known {
                        state: r.get(0)?,
                        hash: r.get(1)?,
                    })
                },
            )
            .optional()
    }

    /// Records a record about to be handed to the sender under `seq` (pending until `sending`).
    #[allow(clippy::too_many_arguments)]
    pub fn enqueue(
        &mut self,
        seq: u64,
        row: String,
        kind: &str,
        operation: &str,
        key: &str,
        id: &str,
        hash: &str,
    ) -> rusqlite::Result<()> {
        let t = now();
        if self.db.is_autocommit() {
            self.db.execute_batch("BEGIN")?; // committed with the in-flight marks
        }
        self.db
            .prepare_cached(
                "INSERT INTO records (row, kind, operation, key, id, hash, state, line, created, updated)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?9)
                 ON CONFLICT(row) DO UPDATE SET hash = ?6, state = ?7, line = ?8, status = NULL, details = NULL, updated = ?9",
            )?
            .execute(params![row, kind, operation, key, id, hash, PENDING, seq as i64 + 1, t])?;
        self.open.insert(seq, Open { row });
        Ok(())
    }

    /// Sets a record's state directly (reconciled before sending, say).
    pub fn set(&mut self, row: &str, state: &str, details: &str) -> rusqlite::Result<()> {
        self.db.execute(
            "UPDATE records SET state = ?2, details = ?3, updated = ?4 WHERE row = ?1",
            params![row, state, details, now()],
        )?;
        Ok(())
    }

    /// Commits what is buffered.
    pub fn commit(&mut self) -> rusqlite::Result<()> {
        if !self.db.is_autocommit() {
            self.flush_finished()?;
            self.db.execute_batch("COMMIT")?;
        } else {
            self.db.execute_batch("BEGIN")?;
            self.flush_finished()?;
            self.db.execute_batch("COMMIT")?;
        }
        Ok(())
    }

    fn flush_finished(&mut self) -> rusqlite::Result<()> {
        let t = now();
        let mut statement = self.db.prepare_cached(
            "UPDATE records SET state = ?2, status = ?3, details = ?4, updated = ?5 WHERE row = ?1",
        )?;
        for (row, state, status, details) in self.finished.drain(..) {
            statement.execute(params![row, state, status, details, t])?;
        }
        Ok(())
    }

    /// Counts per state.
    pub fn counts(&self) -> rusqlite::Result<HashMap<String, u64>> {
        let mut statement = self
            .db
            .prepare("SELECT state, COUNT(*) FROM records GROUP BY state")?;
        let rows = statement.query_map([], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)? as u64))
        })?;
        rows.collect()
    }

    /// Rejected, ambiguous and failed records with their reasons.
    pub fn problems(&self, limit: usize) -> rusqlite::Result<Vec<serde_json::Value>> {
        let mut statement = self.db.prepare(
            "SELECT kind, id, state, line, status, details FROM records
             WHERE state IN ('rejected', 'ambiguous', 'failed') ORDER BY updated LIMIT ?1",
        )?;
        let rows = statement.query_map([limit as i64], |r| {
            Ok(serde_json::json!({
                "kind": r.get::<_, String>(0)?,
                "id": r.get::<_, String>(1)?,
                "state": r.get::<_, String>(2)?,
                "line": r.get::<_, Option<i64>>(3)?,
                "status": r.get::<_, Option<i64>>(4)?,
                "details": r.get::<_, Option<String>>(5)?,
            }))
        })?;
        rows.collect()
    }
}

fn journal_error(e: rusqlite::Error) -> preventor::Error {
    preventor::Error::Config(format!("journal: {e}"))
}

impl Ledger for Journal {
    fn sending(&mut self, seqs: &[u64]) -> preventor::Result<()> {
        if self.db.is_autocommit() {
            self.db.execute_batch("BEGIN").map_err(journal_error)?;
        }
        {
            let mut statement = self
                .db
                .prepare_cached("UPDATE records SET state = ?2, updated = ?3 WHERE row = ?1")
                .map_err(journal_error)?;
            let t = now();
            for seq in seqs {
                if let Some(open) = self.open.get(seq) {
                    statement
                        .execute(params![open.row, IN_FLIGHT, t])
                        .map_err(journal_error)?;
                }
            }
        }
        // Committed before anything is sent.
        self.commit().map_err(journal_error)
    }

    fn finished(&mut self, sent: &Sent) -> preventor::Result<()> {
        let Some(open) = self.open.remove(&sent.seq) else {
            return Ok(());
        };
        let (state, status, details) = match &sent.outcome {
            Outcome::Acknowledged { reconciled: false } => (ACKNOWLEDGED, None, None),
            Outcome::Acknowledged { .. } => (
                ACKNOWLEDGED,
                None,
                Some("reconciled with getCustomer".into()),
            ),
            Outcome::Rejected {
                status,
                code,
                message,
            } => (
                REJECTED,
                *status,
                Some(
                    format!(
                        "{} {}",
                        code.as_deref().unwrap_or(""),
                        message.as_deref().unwrap_or("")
                    )
                    .trim()
                    .to_string(),
                ),
            ),
            Outcome::Ambiguous { reason } => (AMBIGUOUS, None, Some(reason.clone())),
            Outcome::Failed { reason } => (FAILED, None, Some(reason.clone())),
            _ => (FAILED, None, Some("unknown outcome".into())),
        };
        self.finished.push((open.row, state, status, details));
        if self.finished.len() >= 512 {
            self.commit().map_err(journal_error)?;
        }
        Ok(())
    }
}
