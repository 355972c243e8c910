//! The journal on SQLite (bundled): WAL, `synchronous=FULL`, one host, one import at a time.
//!
//! One row per record (kind and id; for customers also the request type, so that a create and
//! a later update are two records): its key, the SHA-256 of its content, its state, the input
//! line, times, and the status and details of its outcome. A `meta` table holds the journal's
//! target (compliance URL, tenant, env, banknu: never a secret) and its current owner.
//!
//! * **Bound to its target**: the first run records it; a run against another target is refused.
//! * **One writer**: an import holds an OS lock on `<journal>-lock` for as long as it runs (the
//!   OS releases it when the process dies, however it dies); a second import is refused.
//! * **Durable marks**: records are marked `in_flight` in one transaction per batch, committed
//!   with an fsync (`synchronous=FULL`) before any of them is sent, so that neither a killed
//!   process nor a lost machine can leave a sent record looking unsent. Outcomes are batched.
//!   The writes happen on a thread of their own ([`writer`]): the sender never waits on them.
//!
//! On a rerun: `acknowledged` and `rejected` records with the same content are skipped; a record
//! whose content changed since it was acknowledged (or sent without an answer) is reported and
//! not sent; `in_flight` records (a crash) become `ambiguous`; `pending`, `failed` and stopped
//! records are sent.

pub mod runs;
pub mod schema;
pub mod writer;

use std::{
    collections::HashMap,
    fs::File,
    path::{Path, PathBuf},
};

use rusqlite::{params, Connection, OptionalExtension};

use super::{hostname, now, JournalError, Known, Problem, AMBIGUOUS, IN_FLIGHT};
use crate::target::Target;

/// The records of a SQLite journal in `states` (see [`Journal::problems`]).
pub fn problems(db: &Connection, states: &[&str], limit: usize) -> rusqlite::Result<Vec<Problem>> {
    let states = serde_json::to_string(states).unwrap_or_default();
    let mut statement = db.prepare_cached(
        "SELECT kind, id, state, line, status, details FROM records
         WHERE state IN (SELECT value FROM json_each(?1)) ORDER BY updated LIMIT ?2",
    )?;
    let rows = statement.query_map(rusqlite::params![states, limit as i64], |r| {
        Ok(Problem {
            kind: r.get(0)?,
            id: r.get(1)?,
            state: r.get(2)?,
            line: r.get(3)?,
            status: r.get(4)?,
            details: r.get(5)?,
        })
    })?;
    rows.collect()
}

/// A journal opened for an import (locked, bound) or to read it. Its connection reads; an
/// import's writes go through [`writer::JournalLedger`].
pub struct Journal {
    path: PathBuf,
    db: Connection,
    /// The importer's lock, held until the journal is dropped (`None` when read only).
    lock: Option<File>,
}

fn lock_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push("-lock");
    PathBuf::from(name)
}

/// The importer's OS lock on `<path>-lock`, taken at once or refused naming its holder.
fn writer_lock(path: &Path) -> Result<File, JournalError> {
    let lock = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(lock_path(path))?;
    match lock.try_lock() {
        Ok(()) => Ok(lock),
        Err(std::fs::TryLockError::WouldBlock) => Err(JournalError::Held(owner_of(path))),
        Err(std::fs::TryLockError::Error(e)) => Err(e.into()),
    }
}

/// A connection to the journal at `path` (created if missing): WAL, an fsync per commit. The
/// schema is brought up to date by whoever opens the journal to write ([`schema`]).
fn connect(path: &Path) -> rusqlite::Result<Connection> {
    let db = Connection::open(path)?;
    db.busy_timeout(std::time::Duration::from_secs(10))?;
    db.pragma_update(None, "journal_mode", "WAL")?;
    db.pragma_update(None, "synchronous", "FULL")?;
    Ok(db)
}

fn meta(db: &Connection, key: &str) -> rusqlite::Result<Option<String>> {
    db.query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
        .optional()
}

/// Who holds a journal, as its owner row says (best effort: for the refusal's message).
fn owner_of(path: &Path) -> String {
    let read = || -> rusqlite::Result<Option<String>> {
        let db = Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
        db.query_row("SELECT value FROM meta WHERE key = 'owner'", [], |r| {
            r.get(0)
        })
        .optional()
    };
    match read() {
        Ok(Some(owner)) => owner,
        _ => "a running preventor import".into(),
    }
}

impl Journal {
    /// Opens (or creates) a journal to import into: takes the writer's lock (refused at once if
    /// another import holds it, before anything is written), binds it to `target` on first use
    /// and refuses another target, records the owner.
    pub fn open_for_import(
        path: &Path,
        target: &Target,
        adopt: bool,
    ) -> Result<Journal, JournalError> {
        let lock = writer_lock(path)?;
        let mut db = connect(path)?;
        schema::migrate(&mut db)?;
        let run = serde_json::to_string(target)
            .map_err(|e| JournalError::Storage(format!("its target: {e}")))?;
        match meta(&db, "target")? {
            Some(bound) => {
                let bound: Target = serde_json::from_str(&bound)
                    .map_err(|e| JournalError::Storage(format!("its target is unreadable: {e}")))?;
                let differences = bound.differences(target);
                if !differences.is_empty() {
                    return Err(JournalError::OtherTarget(differences));
                }
            }
            None => {
                let records: i64 =
                    db.query_row("SELECT COUNT(*) FROM records", [], |r| r.get(0))?;
                if records > 0 && !adopt {
                    return Err(JournalError::Unbound);
                }
                db.execute(
                    "INSERT INTO meta (key, value) VALUES ('target', ?1)",
                    [&run],
                )?;
            }
        }
        let owner = format!(
            "pid {} on {} since {}",
            std::process::id(),
            hostname(),
            chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        );
        db.execute(
            "INSERT INTO meta (key, value) VALUES ('owner', ?1)
             ON CONFLICT(key) DO UPDATE SET value = ?1",
            [&owner],
        )?;
        Ok(Journal {
            path: path.to_path_buf(),
            db,
            lock: Some(lock),
        })
    }

    /// Opens an existing journal to record an operator's decisions: takes the importer's lock
    /// (refused while an import runs), checks nothing of the target.
    pub fn open_to_change(path: &Path) -> Result<Journal, JournalError> {
        if !path.exists() {
            return Err(JournalError::Storage(format!(
                "no journal at {}",
                path.display()
            )));
        }
        let lock = writer_lock(path)?;
        let mut db = connect(path)?;
        schema::migrate(&mut db)?;
        Ok(Journal {
            path: path.to_path_buf(),
            db,
            lock: Some(lock),
        })
    }

    /// Opens an existing journal to read it (`status`): no lock, nothing written.
    pub fn open_to_read(path: &Path) -> Result<Journal, JournalError> {
        if !path.exists() {
            return Err(JournalError::Storage(format!(
                "no journal at {}",
                path.display()
            )));
        }
        let db = Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
        db.busy_timeout(std::time::Duration::from_secs(10))?;
        Ok(Journal {
            path: path.to_path_buf(),
            db,
            lock: None,
        })
    }

    /// The target the journal is bound to, if any.
    pub fn target(&self) -> Result<Option<Target>, JournalError> {
        match meta(&self.db, "target") {
            Ok(Some(t)) => serde_json::from_str(&t)
                .map(Some)
                .map_err(|e| JournalError::Storage(format!("its target is unreadable: {e}"))),
            Ok(None) => Ok(None),
            // A journal of an earlier version has no meta table.
            Err(_) => Ok(None),
        }
    }

    /// Records left in flight by a run that stopped become ambiguous; returns how many.
    pub fn settle_crash(&mut self) -> rusqlite::Result<usize> {
        self.db.execute(
            "UPDATE records SET state = ?1, details = 'in flight when an earlier run stopped', updated = ?2 WHERE state = ?3",
            params![AMBIGUOUS, now(), IN_FLIGHT],
        )
    }

    /// What the journal knows of the record with row id `row`.
    pub fn known(&self, row: &str) -> rusqlite::Result<Option<Known>> {
        self.db
            .prepare_cached("SELECT state, hash, run, run_line FROM records WHERE row = ?1")?
            .query_row([row], |r| {
                let run: Option<i64> = r.get(2)?;
                let line: Option<i64> = r.get(3)?;
                Ok(Known {
                    state: r.get(0)?,
                    hash: r.get(1)?,
                    seen: run.zip(line).map(|(run, line)| (run, line as u64)),
                })
            })
            .optional()
    }

    /// The importer's lock, to hold apart from the journal (until the writer has ended).
    pub fn take_lock(&mut self) -> Option<File> {
        self.lock.take()
    }

    /// Starts the writer thread of an import: the sender's ledger, and the admission's way to
    /// hand it records.
    pub fn writer(&self) -> rusqlite::Result<(writer::JournalLedger, std::thread::JoinHandle<()>)> {
        writer::JournalLedger::start(&self.path)
    }

    /// Counts per state.
    pub fn counts(&self) -> rusqlite::Result<HashMap<String, u64>> {
        self.counts_where("true", None)
    }

    /// Counts per state of the records run `run` read (sent, or settled by an earlier run).
    pub fn counts_of_run(&self, run: i64) -> Result<HashMap<String, u64>, JournalError> {
        Ok(self.counts_where("run = ?1", Some(run))?)
    }

    /// Counts per state of the records matching `filter` (with `?1` bound to `value`).
    fn counts_where(
        &self,
        filter: &str,
        value: Option<i64>,
    ) -> rusqlite::Result<HashMap<String, u64>> {
        let sql = format!("SELECT state, COUNT(*) FROM records WHERE {filter} GROUP BY state");
        let mut statement = self.db.prepare(&sql)?;
        let row = |r: &rusqlite::Row| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)? as u64));
        match value {
            Some(v) => statement.query_map([v], row)?.collect(),
            None => statement.query_map([], row)?.collect(),
        }
    }

    /// Records in `states` with their reasons, oldest change first (at most `limit`).
    pub fn problems(&self, states: &[&str], limit: usize) -> rusqlite::Result<Vec<Problem>> {
        problems(&self.db, states, limit)
    }

    /// The journal's file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The connection (runs and decisions are written on it, outside an import's hot path).
    pub fn db(&self) -> &Connection {
        &self.db
    }

    /// `PRAGMA synchronous` of the connection (2: FULL, an fsync per commit).
    #[cfg(test)]
    fn synchronous(&self) -> i64 {
        self.db
            .pragma_query_value(None, "synchronous", |r| r.get(0))
            .unwrap()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(url: &str) -> Target {
        Target {
            compliance_url: url.into(),
            tenant: "bank".into(),
            env: "prod".into(),
            banknu: "1".into(),
        }
    }

    /// A journal path in a fresh directory, removed when the returned guard drops.
    fn temp(name: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::Builder::new()
            .prefix(&format!("preventor-journal-{name}-"))
            .tempdir()
            .unwrap();
        let path = dir.path().join("journal.sqlite");
        (dir, path)
    }

    #[test]
    fn a_journal_of_an_earlier_version_gains_the_run_columns_and_keeps_its_rows() {
        let (_dir, path) = temp("earlier");
        let old = Connection::open(&path).unwrap();
        old.execute_batch(
            "CREATE TABLE records (row TEXT PRIMARY KEY, kind TEXT NOT NULL,
               operation TEXT NOT NULL, key TEXT NOT NULL, id TEXT NOT NULL, hash TEXT NOT NULL,
               state TEXT NOT NULL, line INTEGER, status INTEGER, details TEXT,
               created REAL NOT NULL, updated REAL NOT NULL);
             INSERT INTO records VALUES ('transactions:t-1', 'transactions',
               'registerMonetaryTransaction', 'a-1', 't-1', 'h', 'acknowledged', 1, NULL, NULL,
               0, 0);",
        )
        .unwrap();
        drop(old);
        let journal = Journal::open_for_import(&path, &target("embedded-sandbox"), true).unwrap();
        let known = journal.known("transactions:t-1").unwrap().unwrap();
        assert_eq!((known.state.as_str(), known.seen), ("acknowledged", None));
    }

    #[test]
    fn marks_are_fsynced_and_a_journal_is_bound_to_one_target_and_one_writer() {
        let (_dir, path) = temp("bound");
        let first = Journal::open_for_import(&path, &target("embedded-sandbox"), false).unwrap();
        assert_eq!(
            first.synchronous(),
            2,
            "synchronous=FULL: each commit is fsynced"
        );
        // A second writer is refused while the first holds the journal.
        let held = Journal::open_for_import(&path, &target("embedded-sandbox"), false)
            .err()
            .unwrap();
        assert!(
            matches!(&held, JournalError::Held(o) if o.contains(&std::process::id().to_string())),
            "{held}"
        );
        drop(first);
        // Another target is refused and the difference named.
        let other = Journal::open_for_import(&path, &target("https://api.preventor.com"), false)
            .err()
            .unwrap();
        let text = other.to_string();
        assert!(
            text.contains("compliance URL") && text.contains("api.preventor.com"),
            "{text}"
        );
        assert!(Journal::open_for_import(&path, &target("embedded-sandbox"), false).is_ok());
    }
}
