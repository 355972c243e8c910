//! Runs, samples and decisions in a SQLite journal: the store's side of
//! [`runs::Store`](crate::journal::runs::Store).

use std::{path::Path, time::Duration};

use rusqlite::Connection;
use serde_json::{json, Value};

use crate::journal::{
    runs::{now, run_json, Decision, ReportData, RunSample, RunStart, LISTED},
    JournalError, REPORTED, TO_DECIDE,
};

/// The insert of a sample (SQLite), in [`RunSample`]'s order after the run.
pub const SAMPLE: &str = "INSERT INTO samples (run, t, acknowledged, rejected, ambiguous,
    rate_limited, in_flight, concurrency_limit, p50_ms, p99_ms)
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)";

/// Inserts sample `s` of run `run` with [`SAMPLE`], prepared.
pub fn insert_sample(
    statement: &mut rusqlite::Statement<'_>,
    run: i64,
    s: &RunSample,
) -> rusqlite::Result<()> {
    statement.execute(rusqlite::params![
        run,
        s.t,
        s.acknowledged as i64,
        s.rejected as i64,
        s.ambiguous as i64,
        s.rate_limited as i64,
        s.in_flight as i64,
        s.limit as i64,
        s.p50_ms,
        s.p99_ms
    ])?;
    Ok(())
}

/// Records sample `s` of run `id`.
pub fn sample(db: &Connection, id: i64, s: &RunSample) -> Result<(), JournalError> {
    let mut statement = db.prepare_cached(SAMPLE)?;
    Ok(insert_sample(&mut statement, id, s)?)
}

/// Records a run's start; returns its id.
pub fn start(db: &Connection, run: &RunStart, host: &str) -> Result<i64, JournalError> {
    db.execute(
        "INSERT INTO runs (started, host, input, input_bytes, input_sha256, target, options)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        rusqlite::params![
            now(),
            host,
            run.input,
            run.input_bytes.map(|b| b as i64),
            run.input_sha256,
            run.target,
            run.options.to_string()
        ],
    )?;
    Ok(db.last_insert_rowid())
}

/// Records a run's end and final counts.
pub fn end(db: &Connection, id: i64, counts: &Value) -> Result<(), JournalError> {
    db.execute(
        "UPDATE runs SET ended = ?2, counts = ?3 WHERE id = ?1",
        rusqlite::params![id, now(), counts.to_string()],
    )?;
    Ok(())
}

/// Ends a run on a connection of its own (an import's are gone by then).
pub fn end_at(path: &Path, id: i64, counts: &Value) -> Result<(), JournalError> {
    let db = Connection::open(path)?;
    db.busy_timeout(Duration::from_secs(10))?;
    end(&db, id, counts)
}

/// Records `decision` (the record's new `state`, with `details`) on the ambiguous, rejected or
/// failed records with these ids; returns the rows decided and the ids that matched none.
pub fn decide(
    db: &Connection,
    ids: &[String],
    decision: Decision,
    (reason, by): (Option<&str>, &str),
    (state, details): (&str, &str),
) -> Result<(u64, Vec<String>), JournalError> {
    let mut decided = 0;
    let mut unmatched = Vec::new();
    let to_decide = serde_json::to_string(&TO_DECIDE).unwrap_or_default();
    for id in ids {
        let rows: Vec<(String, String)> = db
            .prepare_cached(
                "SELECT row, state FROM records WHERE id = ?1
                     AND state IN (SELECT value FROM json_each(?2))",
            )?
            .query_map(rusqlite::params![id, to_decide], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })?
            .collect::<rusqlite::Result<_>>()?;
        if rows.is_empty() {
            unmatched.push(id.clone());
        }
        for (row, previous) in rows {
            db.execute(
                    "INSERT INTO decisions (row, record_id, decision, reason, decided_by, at, previous_state)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                    rusqlite::params![row, id, decision.name(), reason, by, now(), previous],
                )?;
            db.execute(
                "UPDATE records SET state = ?2, details = ?3, updated = ?4 WHERE row = ?1",
                rusqlite::params![row, state, details, now()],
            )?;
            decided += 1;
        }
    }
    Ok((decided, unmatched))
}

/// What a report shows, read from the journal.
pub fn report(db: &Connection) -> Result<ReportData, JournalError> {
    let has_runs: bool = db
        .query_row(
            "SELECT count(*) FROM sqlite_master WHERE name = 'runs'",
            [],
            |r| r.get::<_, i64>(0),
        )
        .map(|n| n > 0)?;
    let mut runs = Vec::new();
    if has_runs {
        let mut st = db.prepare(
            "SELECT id, started, ended, host, input, input_bytes, input_sha256, target, options, counts
             FROM runs ORDER BY id",
        )?;
        let rows = st.query_map([], |r| {
            Ok(run_json(
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
                r.get(6)?,
                r.get(7)?,
                r.get(8)?,
                r.get(9)?,
            ))
        })?;
        for run in rows {
            let mut run = run?;
            let id = run["id"].as_i64().unwrap_or_default();
            let mut st = db.prepare_cached(
                "SELECT t, acknowledged, rejected, ambiguous, rate_limited, in_flight,
                        concurrency_limit, p50_ms, p99_ms FROM samples WHERE run = ?1 ORDER BY t",
            )?;
            let samples: Vec<Value> = st
                .query_map([id], |r| {
                    Ok(json!([
                        r.get::<_, f64>(0)?,
                        r.get::<_, i64>(1)?,
                        r.get::<_, i64>(2)?,
                        r.get::<_, i64>(3)?,
                        r.get::<_, i64>(4)?,
                        r.get::<_, i64>(5)?,
                        r.get::<_, i64>(6)?,
                        r.get::<_, Option<f64>>(7)?,
                        r.get::<_, Option<f64>>(8)?
                    ]))
                })?
                .collect::<rusqlite::Result<_>>()?;
            run["samples"] = Value::Array(samples);
            runs.push(run);
        }
    }
    let problems = super::problems(db, &REPORTED, LISTED * 10)?;
    let decisions: Vec<Value> = if has_runs {
        db.prepare("SELECT record_id, decision, reason, decided_by, at, previous_state FROM decisions ORDER BY id")?
            .query_map([], |r| {
                Ok(json!({"id": r.get::<_, String>(0)?, "decision": r.get::<_, String>(1)?,
                          "reason": r.get::<_, Option<String>>(2)?, "by": r.get::<_, String>(3)?,
                          "at": r.get::<_, f64>(4)?, "previous_state": r.get::<_, String>(5)?}))
            })?
            .collect::<rusqlite::Result<_>>()?
    } else {
        Vec::new()
    };
    Ok(ReportData {
        runs,
        problems,
        decisions,
    })
}
