//! What each run of an import did, and what operators decided: the tables behind `preventor
//! report` and `preventor resolve`, in either journal.
//!
//! * `runs`: start and end, the input's name, size and SHA-256, the target, the options, the
//!   final counts.
//! * `samples`: every second for a run's first hour, then every ten seconds (a day-long run
//!   adds about 12,000 rows, under 1 MB): outcomes so far, 429s, calls in flight, the
//!   concurrency limit, latency p50/p99.
//! * `decisions`: an operator's decision on an ambiguous, rejected or failed record: what, why,
//!   who, when, and the state it had.
//!
//! Ids, counts and the server's (scrubbed) messages only: never a record's content.

use std::{sync::Arc, time::Duration};

use serde_json::{json, Value};

use super::postgres::connection::{storage, Db};
use super::{JournalError, Problem};

/// The insert of a sample (SQLite), in [`RunSample`]'s order after the run.
pub const SQLITE_SAMPLE: &str = "INSERT INTO samples (run, t, acknowledged, rejected, ambiguous,
    rate_limited, in_flight, concurrency_limit, p50_ms, p99_ms)
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)";

/// A run as it starts.
#[derive(Clone, Debug)]
pub struct RunStart {
    pub input: String,
    pub input_bytes: Option<u64>,
    pub input_sha256: Option<String>,
    pub target: String,
    pub options: Value,
}

/// One sample of a run: seconds since its start, and the gauges.
#[derive(Clone, Debug)]
pub struct RunSample {
    pub t: f64,
    pub acknowledged: u64,
    pub rejected: u64,
    pub ambiguous: u64,
    pub rate_limited: u64,
    pub in_flight: u64,
    pub limit: u64,
    pub p50_ms: Option<f64>,
    pub p99_ms: Option<f64>,
}

impl RunSample {
    /// A sample at `t` seconds from the gauges' reading.
    pub fn of(t: f64, s: &preventor::bulk::Sample) -> RunSample {
        RunSample {
            t,
            acknowledged: s.acknowledged,
            rejected: s.rejected,
            ambiguous: s.ambiguous,
            rate_limited: s.rate_limited,
            in_flight: s.in_flight,
            limit: s.limit,
            p50_ms: s.latency_p50_ms,
            p99_ms: s.latency_p99_ms,
        }
    }

    /// Inserts this sample of run `run` with [`SQLITE_SAMPLE`], prepared.
    pub fn insert_sqlite(
        &self,
        sample: &mut rusqlite::Statement,
        run: i64,
    ) -> rusqlite::Result<()> {
        sample.execute(rusqlite::params![
            run,
            self.t,
            self.acknowledged as i64,
            self.rejected as i64,
            self.ambiguous as i64,
            self.rate_limited as i64,
            self.in_flight as i64,
            self.limit as i64,
            self.p50_ms,
            self.p99_ms
        ])?;
        Ok(())
    }
}

/// A file's size, SHA-256 (hex) and line count, read once.
pub fn input_facts(path: &std::path::Path) -> std::io::Result<(u64, String, u64)> {
    use sha2::Digest;
    use std::io::Read;
    let mut file = std::fs::File::open(path)?;
    let mut hasher = sha2::Sha256::new();
    let mut buffer = vec![0u8; 1 << 16];
    let (mut bytes, mut lines, mut last) = (0u64, 0u64, b'\n');
    loop {
        let n = file.read(&mut buffer)?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
        bytes += n as u64;
        lines += buffer[..n].iter().filter(|b| **b == b'\n').count() as u64;
        last = buffer[n - 1];
    }
    if last != b'\n' {
        lines += 1;
    }
    Ok((bytes, format!("{:x}", hasher.finalize()), lines))
}

/// Ends a SQLite run (on a connection of its own: the import's are gone by then).
pub fn end_sqlite(path: &std::path::Path, id: i64, counts: &Value) -> Result<(), JournalError> {
    let db = rusqlite::Connection::open(path)?;
    db.busy_timeout(Duration::from_secs(10))?;
    db.execute(
        "UPDATE runs SET ended = ?2, counts = ?3 WHERE id = ?1",
        rusqlite::params![id, now(), counts.to_string()],
    )?;
    Ok(())
}

/// Samples `gauges` into `write` until the returned task is aborted: every second for the first
/// hour, then every ten seconds.
pub fn sampler(
    gauges: std::sync::Arc<preventor::bulk::Gauges>,
    mut write: impl FnMut(RunSample) + Send + 'static,
) -> tokio::task::JoinHandle<()> {
    let started = std::time::Instant::now();
    tokio::spawn(async move {
        let mut t = 0.0;
        loop {
            tokio::time::sleep(sample_every(t)).await;
            t = started.elapsed().as_secs_f64();
            write(RunSample::of(t, &gauges.sample()));
        }
    })
}

/// How long to wait before the sample after the one at `t` seconds.
pub fn sample_every(t: f64) -> Duration {
    if t < 3600.0 {
        Duration::from_secs(1)
    } else {
        Duration::from_secs(10)
    }
}

/// An operator's decision on a record.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Decision {
    /// Checked with Preventor that it arrived: acknowledged.
    Acknowledged,
    /// Sent again by the next run, once ("already exists" then settles it).
    Resend,
    /// Given up on: never sent again.
    Abandon,
}

impl Decision {
    pub fn name(self) -> &'static str {
        match self {
            Decision::Acknowledged => "acknowledged",
            Decision::Resend => "resend",
            Decision::Abandon => "abandon",
        }
    }
}

/// Where runs and decisions are kept: the journal's own store.
pub enum Store<'a> {
    Sqlite(&'a rusqlite::Connection),
    Postgres(Arc<Db>),
}

fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or_default()
}

fn host() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "this host".into())
}

impl Store<'_> {
    /// Records a run's start; returns its id.
    pub async fn start(&self, run: &RunStart) -> Result<i64, JournalError> {
        let options = run.options.to_string();
        let bytes = run.input_bytes.map(|b| b as i64);
        match self {
            Store::Sqlite(db) => {
                db.execute(
                    "INSERT INTO runs (started, host, input, input_bytes, input_sha256, target, options)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                    rusqlite::params![now(), host(), run.input, bytes, run.input_sha256, run.target, options],
                )?;
                Ok(db.last_insert_rowid())
            }
            Store::Postgres(db) => {
                let c = db.client().await.map_err(|e| storage(&e))?;
                let row = c
                    .query_one(
                        "INSERT INTO preventor_runs (started, host, input, input_bytes, input_sha256, target, options)
                         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
                        &[&now(), &host(), &run.input, &bytes, &run.input_sha256, &run.target, &options],
                    )
                    .await
                    .map_err(|e| storage(&e))?;
                Ok(row.get(0))
            }
        }
    }

    /// A sample of run `id` (PostgreSQL; a SQLite import's samples go through its writer).
    pub async fn sample(&self, id: i64, s: &RunSample) -> Result<(), JournalError> {
        match self {
            Store::Sqlite(db) => s.insert_sqlite(&mut db.prepare(SQLITE_SAMPLE)?, id)?,
            Store::Postgres(db) => pg_sample(db, id, s).await?,
        }
        Ok(())
    }

    /// Records a run's end and final counts.
    pub async fn end(&self, id: i64, counts: &Value) -> Result<(), JournalError> {
        let counts = counts.to_string();
        match self {
            Store::Sqlite(db) => {
                db.execute(
                    "UPDATE runs SET ended = ?2, counts = ?3 WHERE id = ?1",
                    rusqlite::params![id, now(), counts],
                )?;
            }
            Store::Postgres(db) => {
                let c = db.client().await.map_err(|e| storage(&e))?;
                c.execute(
                    "UPDATE preventor_runs SET ended = $2, counts = $3 WHERE id = $1",
                    &[&id, &now(), &counts],
                )
                .await
                .map_err(|e| storage(&e))?;
            }
        }
        Ok(())
    }

    /// Records `decision` for the records with these ids (record ids as in the input): only
    /// ambiguous, rejected or failed ones. Returns the rows decided, and the ids that matched no
    /// such record.
    pub async fn decide(
        &self,
        ids: &[String],
        decision: Decision,
        reason: Option<&str>,
        by: &str,
    ) -> Result<(u64, Vec<String>), JournalError> {
        let state = match decision {
            Decision::Acknowledged => super::ACKNOWLEDGED,
            Decision::Resend => super::RESEND,
            Decision::Abandon => super::ABANDONED,
        };
        let details = format!(
            "{} by {by}{}",
            match decision {
                Decision::Acknowledged => "acknowledged (checked with Preventor)",
                Decision::Resend => "to be sent again",
                Decision::Abandon => "abandoned",
            },
            reason.map(|r| format!(": {r}")).unwrap_or_default()
        );
        let mut decided = 0;
        let mut unmatched = Vec::new();
        match self {
            Store::Sqlite(db) => {
                for id in ids {
                    let rows: Vec<(String, String)> = db
                        .prepare_cached(
                            "SELECT row, state FROM records WHERE id = ?1
                             AND state IN ('ambiguous', 'rejected', 'failed')",
                        )?
                        .query_map([id], |r| Ok((r.get(0)?, r.get(1)?)))?
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
            }
            Store::Postgres(db) => {
                let c = db.client().await.map_err(|e| storage(&e))?;
                // A resend is pending again, known to have maybe been sent (read back, or
                // "already exists" settles it); the others settle the record (no payload kept).
                let (state, maybe_sent) = match decision {
                    Decision::Resend => (super::PENDING, true),
                    _ => (state, false),
                };
                for id in ids {
                    let rows = c
                        .query(
                            "WITH d AS (
                                SELECT row_id, state FROM preventor_records
                                WHERE id = $1 AND state IN ('ambiguous', 'rejected', 'failed')
                                FOR UPDATE
                             ), logged AS (
                                INSERT INTO preventor_decisions
                                    (row_id, record_id, decision, reason, decided_by, at, previous_state)
                                SELECT row_id, $1, $2, $3, $4, $5, state FROM d
                             )
                             -- A resend of a record whose content was cleared (rejected: its
                             -- outcome settled it) waits for its file to be staged again.
                             UPDATE preventor_records r SET
                                state = CASE WHEN $6 = 'pending' AND r.payload IS NULL
                                             THEN 'resend' ELSE $6 END,
                                details = $7 || CASE WHEN $6 = 'pending' AND r.payload IS NULL
                                    THEN ' (stage its file again: a settled record''s content \
                                          is not kept)' ELSE '' END,
                                maybe_sent = r.maybe_sent OR ($8 AND d.state = 'ambiguous'),
                                payload = CASE WHEN $6 = 'pending' THEN r.payload ELSE NULL END,
                                updated = now()
                             FROM d WHERE r.row_id = d.row_id RETURNING r.row_id",
                            &[id, &decision.name(), &reason, &by, &now(), &state, &details, &maybe_sent],
                        )
                        .await
                        .map_err(|e| storage(&e))?;
                    if rows.is_empty() {
                        unmatched.push(id.clone());
                    }
                    decided += rows.len() as u64;
                }
            }
        }
        Ok((decided, unmatched))
    }

    /// Everything a report shows: runs with their samples, counts per state, rejected records
    /// grouped by the server's answer, ambiguous and failed records, decisions.
    pub async fn report(&self) -> Result<Value, JournalError> {
        match self {
            Store::Sqlite(db) => sqlite_report(db),
            Store::Postgres(db) => postgres_report(db).await,
        }
    }
}

/// A sample of run `id` in a PostgreSQL journal.
pub async fn pg_sample(db: &Db, id: i64, s: &RunSample) -> Result<(), JournalError> {
    let c = db.client().await.map_err(|e| storage(&e))?;
    c.execute(
        "INSERT INTO preventor_samples (run, t, acknowledged, rejected, ambiguous,
            rate_limited, in_flight, concurrency_limit, p50_ms, p99_ms)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        &[
            &id,
            &s.t,
            &(s.acknowledged as i64),
            &(s.rejected as i64),
            &(s.ambiguous as i64),
            &(s.rate_limited as i64),
            &(s.in_flight as i64),
            &(s.limit as i64),
            &s.p50_ms,
            &s.p99_ms,
        ],
    )
    .await
    .map_err(|e| storage(&e))?;
    Ok(())
}

const LISTED: usize = 1000;

fn sqlite_report(db: &rusqlite::Connection) -> Result<Value, JournalError> {
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
    let counts: serde_json::Map<String, Value> = db
        .prepare("SELECT state, count(*) FROM records GROUP BY state")?
        .query_map([], |r| {
            Ok((r.get::<_, String>(0)?, json!(r.get::<_, i64>(1)?)))
        })?
        .collect::<rusqlite::Result<_>>()?;
    let problems = super::sqlite_problems(db, &super::REPORTED, LISTED * 10)?;
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
    Ok(assemble(runs, counts, problems, decisions))
}

#[allow(clippy::too_many_arguments)]
fn run_json(
    id: i64,
    started: f64,
    ended: Option<f64>,
    host: Option<String>,
    input: Option<String>,
    input_bytes: Option<i64>,
    input_sha256: Option<String>,
    target: Option<String>,
    options: Option<String>,
    counts: Option<String>,
) -> Value {
    let parse = |t: Option<String>| {
        t.and_then(|t| serde_json::from_str::<Value>(&t).ok())
            .unwrap_or(Value::Null)
    };
    json!({
        "id": id, "started": started, "ended": ended,
        "seconds": ended.map(|e| e - started),
        "host": host, "input": input, "input_bytes": input_bytes, "input_sha256": input_sha256,
        "target": target, "options": parse(options), "counts": parse(counts),
    })
}

async fn postgres_report(db: &Db) -> Result<Value, JournalError> {
    let c = db.client().await.map_err(|e| storage(&e))?;
    let q = |e: tokio_postgres::Error| storage(&e);
    let mut runs = Vec::new();
    for r in c
        .query(
            "SELECT id, started, ended, host, input, input_bytes, input_sha256, target, options, counts
             FROM preventor_runs ORDER BY id",
            &[],
        )
        .await
        .map_err(q)?
    {
        let id: i64 = r.get(0);
        let mut run = run_json(
            id,
            r.get(1),
            r.get(2),
            r.get(3),
            r.get(4),
            r.get(5),
            r.get(6),
            r.get(7),
            r.get(8),
            r.get(9),
        );
        let samples: Vec<Value> = c
            .query(
                "SELECT t, acknowledged, rejected, ambiguous, rate_limited, in_flight,
                        concurrency_limit, p50_ms, p99_ms FROM preventor_samples WHERE run = $1 ORDER BY t",
                &[&id],
            )
            .await
            .map_err(q)?
            .iter()
            .map(|s| {
                json!([s.get::<_, f64>(0), s.get::<_, i64>(1), s.get::<_, i64>(2), s.get::<_, i64>(3),
                       s.get::<_, i64>(4), s.get::<_, i64>(5), s.get::<_, i64>(6),
                       s.get::<_, Option<f64>>(7), s.get::<_, Option<f64>>(8)])
            })
            .collect();
        run["samples"] = Value::Array(samples);
        runs.push(run);
    }
    let counts = c
        .query(
            "SELECT state, count(*) FROM preventor_records GROUP BY state",
            &[],
        )
        .await
        .map_err(q)?
        .iter()
        .map(|r| (r.get::<_, String>(0), json!(r.get::<_, i64>(1))))
        .collect();
    let problems = super::postgres::problems(db, &super::REPORTED, LISTED * 10).await?;
    let decisions = c
        .query(
            "SELECT record_id, decision, reason, decided_by, at, previous_state FROM preventor_decisions ORDER BY id",
            &[],
        )
        .await
        .map_err(q)?
        .iter()
        .map(|r| {
            json!({"id": r.get::<_, String>(0), "decision": r.get::<_, String>(1),
                   "reason": r.get::<_, Option<String>>(2), "by": r.get::<_, String>(3),
                   "at": r.get::<_, f64>(4), "previous_state": r.get::<_, String>(5)})
        })
        .collect();
    Ok(assemble(runs, counts, problems, decisions))
}

/// What the operator can do about a record in `state`.
fn advice(state: &str, details: &str) -> &'static str {
    match state {
        "ambiguous" if details.contains("customerOnboarding") => {
            "a rerun reads it back with getCustomer and settles it"
        }
        "ambiguous" => "ask Preventor whether it arrived, then record it (the commands below)",
        "failed" => "not processed: the next run sends it again",
        "resend" => "decided: the next run sends it once",
        "abandoned" => "decided: never sent again",
        _ => "correct it in the input (new content is sent by the next run), or record a decision (the commands below)",
    }
}

fn assemble(
    runs: Vec<Value>,
    counts: serde_json::Map<String, Value>,
    problems: Vec<Problem>,
    decisions: Vec<Value>,
) -> Value {
    // Rejected records grouped by the server's answer (status and message).
    let mut groups: std::collections::BTreeMap<(Option<i64>, String), Vec<String>> =
        Default::default();
    let mut unsettled = Vec::new();
    for Problem {
        id,
        state,
        line,
        status,
        details,
        ..
    } in problems
    {
        let details = details.unwrap_or_default();
        if state == "rejected" {
            groups.entry((status, details)).or_default().push(id);
        } else if unsettled.len() < LISTED {
            let advice = advice(&state, &details);
            unsettled.push(json!({"id": id, "state": state, "line": line, "why": details, "what_to_do": advice}));
        }
    }
    let rejected: Vec<Value> = groups
        .into_iter()
        .map(|((status, message), ids)| {
            json!({"status": status, "message": message, "count": ids.len(),
                   "ids": ids.into_iter().take(50).collect::<Vec<_>>()})
        })
        .collect();
    json!({"runs": runs, "counts": counts, "rejected_groups": rejected, "unsettled": unsettled, "decisions": decisions})
}
