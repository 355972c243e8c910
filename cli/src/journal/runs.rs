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

use super::postgres::connection::Db;
use super::{JournalError, Problem};

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

impl Store<'_> {
    /// Records a run's start; returns its id.
    pub async fn start(&self, run: &RunStart) -> Result<i64, JournalError> {
        match self {
            Store::Sqlite(db) => super::sqlite::runs::start(db, run, &super::hostname()),
            Store::Postgres(db) => super::postgres::runs::start(db, run, &super::hostname()).await,
        }
    }

    /// A sample of run `id` (a SQLite import's samples go through its writer).
    pub async fn sample(&self, id: i64, s: &RunSample) -> Result<(), JournalError> {
        match self {
            Store::Sqlite(db) => super::sqlite::runs::sample(db, id, s),
            Store::Postgres(db) => super::postgres::runs::sample(db, id, s).await,
        }
    }

    /// Records a run's end and final counts.
    pub async fn end(&self, id: i64, counts: &Value) -> Result<(), JournalError> {
        match self {
            Store::Sqlite(db) => super::sqlite::runs::end(db, id, counts),
            Store::Postgres(db) => super::postgres::runs::end(db, id, counts).await,
        }
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
        let (who, what) = ((reason, by), (state, details.as_str()));
        match self {
            Store::Sqlite(db) => super::sqlite::runs::decide(db, ids, decision, who, what),
            Store::Postgres(db) => {
                super::postgres::runs::decide(db, ids, decision, who, what).await
            }
        }
    }

    /// Everything a report shows: runs with their samples, counts per state, rejected records
    /// grouped by the server's answer, ambiguous and failed records, decisions.
    pub async fn report(
        &self,
        counts: &std::collections::HashMap<String, u64>,
    ) -> Result<Value, JournalError> {
        let data = match self {
            Store::Sqlite(db) => super::sqlite::runs::report(db)?,
            Store::Postgres(db) => super::postgres::runs::report(db).await?,
        };
        Ok(assemble(data, counts))
    }
}

/// Most records listed per kind in a report.
pub const LISTED: usize = 1000;

/// What a report shows, as a store reads it (counts aside: the journal's own).
pub struct ReportData {
    /// Each run with its samples ([`run_json`]).
    pub runs: Vec<Value>,
    pub problems: Vec<Problem>,
    /// Each decision: id, decision, reason, by, at, previous state.
    pub decisions: Vec<Value>,
}

pub use super::now;

/// A run as the report shows it, from its row.
#[allow(clippy::too_many_arguments)]
pub fn run_json(
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

/// The report: the store's data with the journal's counts, rejected records grouped by the
/// server's answer, and what can be done about the others.
fn assemble(data: ReportData, counts: &std::collections::HashMap<String, u64>) -> Value {
    let ReportData {
        runs,
        problems,
        decisions,
    } = data;
    let counts: serde_json::Map<String, Value> =
        counts.iter().map(|(s, n)| (s.clone(), json!(n))).collect();
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
