//! Runs, samples and decisions in a PostgreSQL journal: the store's side of
//! [`runs::Store`](crate::journal::runs::Store).

use serde_json::{json, Value};

use super::connection::{storage, Db};
use crate::journal::{
    runs::{now, run_json, Decision, ReportData, RunSample, RunStart, LISTED},
    JournalError, PENDING, REPORTED, TO_DECIDE,
};

/// Records a run's start; returns its id.
pub async fn start(db: &Db, run: &RunStart, host: &str) -> Result<i64, JournalError> {
    let c = db.client().await.map_err(|e| storage(&e))?;
    let row = c
        .query_one(
            "INSERT INTO preventor_runs (started, host, input, input_bytes, input_sha256, target, options)
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
            &[
                &now(),
                &host,
                &run.input,
                &run.input_bytes.map(|b| b as i64),
                &run.input_sha256,
                &run.target,
                &run.options.to_string(),
            ],
        )
        .await
        .map_err(|e| storage(&e))?;
    Ok(row.get(0))
}

/// A sample of run `id` in a PostgreSQL journal.
pub async fn sample(db: &Db, id: i64, s: &RunSample) -> Result<(), JournalError> {
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

/// Records a run's end and final counts.
pub async fn end(db: &Db, id: i64, counts: &Value) -> Result<(), JournalError> {
    let c = db.client().await.map_err(|e| storage(&e))?;
    c.execute(
        "UPDATE preventor_runs SET ended = $2, counts = $3 WHERE id = $1",
        &[&id, &now(), &counts.to_string()],
    )
    .await
    .map_err(|e| storage(&e))?;
    Ok(())
}

/// Records `decision` (the record's new `state`, with `details`) on the ambiguous, rejected or
/// failed records with these ids; returns the rows decided and the ids that matched none.
pub async fn decide(
    db: &Db,
    ids: &[String],
    decision: Decision,
    (reason, by): (Option<&str>, &str),
    (state, details): (&str, &str),
) -> Result<(u64, Vec<String>), JournalError> {
    let mut decided = 0;
    let mut unmatched = Vec::new();
    let c = db.client().await.map_err(|e| storage(&e))?;
    // A resend is pending again, known to have maybe been sent (read back, or
    // "already exists" settles it); the others settle the record (no payload kept).
    let (state, maybe_sent) = match decision {
        Decision::Resend => (PENDING, true),
        _ => (state, false),
    };
    for id in ids {
        let rows = c
            .query(
                "WITH d AS (
                        SELECT row_id, state FROM preventor_records
                        WHERE id = $1 AND state = ANY($9)
                        FOR UPDATE
                     ), logged AS (
                        INSERT INTO preventor_decisions
                            (row_id, record_id, decision, reason, decided_by, at, previous_state)
                        SELECT row_id, $1, $2, $3, $4, $5, state FROM d
                     )
                     -- A resend of a record whose content was cleared (rejected: its
                     -- outcome settled it) waits for its file to be staged again.
                     UPDATE preventor_records r SET
                        state = CASE WHEN $6 = 'pending' AND r.payload IS NULL AND r.sealed IS NULL
                                     THEN 'resend' ELSE $6 END,
                        details = $7 || CASE WHEN $6 = 'pending' AND r.payload IS NULL AND r.sealed IS NULL
                            THEN ' (stage its file again: a settled record''s content \
                                  is not kept)' ELSE '' END,
                        maybe_sent = r.maybe_sent OR ($8 AND d.state = 'ambiguous'),
                        payload = CASE WHEN $6 = 'pending' THEN r.payload ELSE NULL END,
                        sealed = CASE WHEN $6 = 'pending' THEN r.sealed ELSE NULL END,
                        updated = now()
                     FROM d WHERE r.row_id = d.row_id RETURNING r.row_id",
                &[
                    id,
                    &decision.name(),
                    &reason,
                    &by,
                    &now(),
                    &state,
                    &details,
                    &maybe_sent,
                    &TO_DECIDE.as_slice(),
                ],
            )
            .await
            .map_err(|e| storage(&e))?;
        if rows.is_empty() {
            unmatched.push(id.clone());
        }
        decided += rows.len() as u64;
    }
    Ok((decided, unmatched))
}

/// What a report shows, read from the journal.
pub async fn report(db: &Db) -> Result<ReportData, JournalError> {
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
    let problems = super::problems(db, &REPORTED, LISTED * 10).await?;
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
    Ok(ReportData {
        runs,
        problems,
        decisions,
    })
}
