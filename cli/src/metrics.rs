//! `--metrics ADDR` of `import` and `work`: Prometheus metrics (OpenMetrics text) at
//! `/metrics`, and `/healthz`. Counters count what this process did since it started; with a
//! PostgreSQL journal, the backlog and the age of the oldest record not yet settled are read
//! from the journal at each scrape, so that any one process's endpoint tells an on-call
//! engineer how far behind the whole feed is (with a SQLite journal they stay at 0).

use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::{
        atomic::{AtomicU64, Ordering::Relaxed},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};

use axum::{extract::State, http::StatusCode, response::IntoResponse, routing::get, Router};
use preventor::bulk::{Gauges, Outcome};
use prometheus_client::{
    encoding::EncodeLabelSet,
    metrics::{counter::Counter, family::Family, gauge::Gauge, histogram::Histogram},
    registry::{Registry, Unit},
};
use serde_json::json;

use crate::journal::postgres::{connection::Db, lease::Leases};

/// How long a scrape waits for the journal.
const JOURNAL_WITHIN: Duration = Duration::from_secs(2);

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabel {
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabel {
    state: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FateLabel {
    fate: &'static str,
}

/// What a running `import` or `work` reports to Prometheus.
pub struct Metrics {
    registry: Registry,
    records: Family<OutcomeLabel, Counter>,
    lines: Family<FateLabel, Counter>,
    in_flight: Gauge,
    pace: Gauge<f64, AtomicU64>,
    rate_limited: Counter,
    leases: Gauge,
    latency: Histogram,
    oldest: Gauge<f64, AtomicU64>,
    backlog: Family<StateLabel, Gauge>,
    journal_up: Gauge,
    /// What the gauges are read from, once the command has it.
    sources: Mutex<Sources>,
    /// When each record fetched to send was staged, by its sequence number.
    staged_at: Mutex<HashMap<u64, Instant>>,
    /// The 429s counted so far (the bulk gauges count them since the worker started).
    rate_limited_seen: AtomicU64,
    /// Staging's counts already added to `lines`, by fate.
    lines_seen: Mutex<HashMap<&'static str, u64>>,
}

#[derive(Default)]
struct Sources {
    journal: Option<Arc<Db>>,
    gauges: Option<Arc<Gauges>>,
    leases: Option<Arc<Leases>>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    /// Every metric registered, at zero.
    pub fn new() -> Metrics {
        let mut registry = Registry::default();
        let records = Family::<OutcomeLabel, Counter>::default();
        registry.register(
            "preventor_records",
            "Records this process finished, by outcome",
            records.clone(),
        );
        let lines = Family::<FateLabel, Counter>::default();
        registry.register(
            "preventor_staging_lines",
            "Input lines this process read for staging, by what became of them",
            lines.clone(),
        );
        let in_flight = Gauge::default();
        registry.register(
            "preventor_requests_in_flight",
            "Calls to Preventor in flight",
            in_flight.clone(),
        );
        let pace = Gauge::<f64, AtomicU64>::default();
        registry.register(
            "preventor_pace_requests_per_second",
            "Calls a second the pace allows now (0: unpaced, held by concurrency alone)",
            pace.clone(),
        );
        let rate_limited = Counter::default();
        registry.register(
            "preventor_rate_limited",
            "429 answers (the server refused for rate; each record was sent again)",
            rate_limited.clone(),
        );
        let leases = Gauge::default();
        registry.register(
            "preventor_leases_held",
            "Buckets of the feed this worker holds a lease on",
            leases.clone(),
        );
        let latency = Histogram::new(prometheus_client::metrics::histogram::exponential_buckets(
            0.01, 2.0, 14,
        ));
        registry.register_with_unit(
            "preventor_staged_to_acknowledged",
            "From a record's staging to its acknowledgement by Preventor",
            Unit::Seconds,
            latency.clone(),
        );
        let oldest = Gauge::<f64, AtomicU64>::default();
        registry.register_with_unit(
            "preventor_oldest_pending_age",
            "Age of the feed's oldest record pending or in flight (0: none), read from the journal at the scrape",
            Unit::Seconds,
            oldest.clone(),
        );
        let backlog = Family::<StateLabel, Gauge>::default();
        registry.register(
            "preventor_feed_records",
            "The feed's records not yet settled, by state, read from the journal at the scrape",
            backlog.clone(),
        );
        let journal_up = Gauge::default();
        registry.register(
            "preventor_journal_up",
            "1 if the journal answered this scrape within 2 s",
            journal_up.clone(),
        );
        Metrics {
            registry,
            records,
            lines,
            in_flight,
            pace,
            rate_limited,
            leases,
            latency,
            oldest,
            backlog,
            journal_up,
            sources: Mutex::default(),
            staged_at: Mutex::default(),
            rate_limited_seen: AtomicU64::new(0),
            lines_seen: Mutex::default(),
        }
    }

    fn sources(&self) -> std::sync::MutexGuard<'_, Sources> {
        self.sources.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The journal read at each scrape (a connection of its own).
    pub fn journal(&self, db: &Db) {
        self.sources().journal = Some(Arc::new(db.another()));
    }

    /// The sender's gauges, once it runs.
    pub fn gauges(&self, gauges: Arc<Gauges>) {
        self.sources().gauges = Some(gauges);
    }

    /// The worker's leases, once it has joined a shared feed.
    pub fn leases(&self, leases: Arc<Leases>) {
        self.sources().leases = Some(leases);
    }

    /// A record fetched to send, staged `age` ago (by the journal's clock).
    pub fn fetched(&self, seq: u64, age: Duration) {
        let at = Instant::now().checked_sub(age).unwrap_or_else(Instant::now);
        self.staged_at
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(seq, at);
    }

    /// Records fetched and handed to another worker, or left when a pass ended.
    pub fn forget(&self, seqs: impl IntoIterator<Item = u64>) {
        let mut at = self.staged_at.lock().unwrap_or_else(|p| p.into_inner());
        for seq in seqs {
            at.remove(&seq);
        }
    }

    /// A record finished with `outcome`.
    pub fn outcome(&self, seq: u64, outcome: &Outcome) {
        let name = match outcome {
            Outcome::Acknowledged { .. } => "acknowledged",
            Outcome::Rejected { .. } => "rejected",
            Outcome::Ambiguous { .. } => "ambiguous",
            Outcome::Failed { .. } => "failed",
            Outcome::Stopped => "not_sent_stopped",
            Outcome::AlreadySettled { .. } => "already_settled",
            Outcome::Changed => "changed",
            _ => "other",
        };
        self.records
            .get_or_create(&OutcomeLabel { outcome: name })
            .inc();
        let staged = self
            .staged_at
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&seq);
        if let (Some(at), Outcome::Acknowledged { .. }) = (staged, outcome) {
            self.latency.observe(at.elapsed().as_secs_f64());
        }
    }

    /// Staging's counts so far (cumulative): what grew is added.
    pub fn staged(&self, staged: &crate::journal::postgres::stage::Staged) {
        let now = [
            ("staged", staged.staged),
            ("already_staged", staged.already_staged),
            ("already_settled", staged.already_settled),
            ("ambiguous_kept", staged.ambiguous_kept),
            ("invalid", staged.invalid.count),
            ("repeated", staged.duplicates.count),
            ("changed_since_sent", staged.changed.count),
        ];
        let mut seen = self.lines_seen.lock().unwrap_or_else(|p| p.into_inner());
        for (fate, n) in now {
            let before = seen.insert(fate, n).unwrap_or(0);
            if n > before {
                self.lines
                    .get_or_create(&FateLabel { fate })
                    .inc_by(n - before);
            }
        }
    }

    /// Reads the gauges and the journal; returns whether the journal answered.
    async fn refresh(&self) -> Result<(), String> {
        let (journal, gauges, leases) = {
            let s = self.sources();
            (s.journal.clone(), s.gauges.clone(), s.leases.clone())
        };
        if let Some(g) = gauges {
            let now = g.current();
            self.in_flight.set(now.in_flight as i64);
            self.pace.set(g.pace().unwrap_or(0.0));
            let before = self.rate_limited_seen.swap(now.rate_limited, Relaxed);
            self.rate_limited
                .inc_by(now.rate_limited.saturating_sub(before));
        }
        if let Some(l) = leases {
            self.leases.set(l.count() as i64);
        }
        // A SQLite journal (or none) is this process's own: nothing to reach.
        let Some(db) = journal else {
            self.journal_up.set(1);
            return Ok(());
        };
        let read = tokio::time::timeout(JOURNAL_WITHIN, backlog(&db)).await;
        match read {
            Ok(Ok((oldest, states))) => {
                self.journal_up.set(1);
                self.oldest.set(oldest);
                for state in ["pending", "in_flight"] {
                    let n = states.get(state).copied().unwrap_or(0);
                    self.backlog.get_or_create(&StateLabel { state }).set(n);
                }
                Ok(())
            }
            Ok(Err(e)) => {
                self.journal_up.set(0);
                Err(e)
            }
            Err(_) => {
                self.journal_up.set(0);
                Err(format!(
                    "no answer within {} s",
                    JOURNAL_WITHIN.as_secs_f64()
                ))
            }
        }
    }

    /// The metrics as OpenMetrics text, read now.
    pub async fn text(&self) -> String {
        let _ = self.refresh().await;
        let mut out = String::new();
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }

    /// Serves `/metrics` and `/healthz` on `addr` until the process ends; returns the address
    /// bound (a port 0 chosen by the system).
    pub async fn serve(self: &Arc<Self>, addr: &str) -> Result<SocketAddr, String> {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|e| format!("--metrics {addr}: cannot listen: {e}"))?;
        let bound = listener
            .local_addr()
            .map_err(|e| format!("--metrics {addr}: {e}"))?;
        let app = Router::new()
            .route("/metrics", get(metrics))
            .route("/healthz", get(healthz))
            .with_state(self.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(bound)
    }
}

/// With `addr`, the metrics of a command on the shared journal `db` (`None`: a SQLite journal
/// or none), served there (said on stderr); exit 4 when it cannot listen.
pub async fn serve_for(
    addr: Option<&str>,
    db: Option<&Db>,
) -> Result<Option<Arc<Metrics>>, crate::output::Exit> {
    let Some(addr) = addr else { return Ok(None) };
    let metrics = Arc::new(Metrics::new());
    if let Some(db) = db {
        metrics.journal(db);
    }
    let bound = metrics
        .serve(addr)
        .await
        .map_err(crate::output::Exit::fatal)?;
    eprintln!("metrics at http://{bound}/metrics, health at http://{bound}/healthz");
    Ok(Some(metrics))
}

async fn metrics(State(m): State<Arc<Metrics>>) -> impl IntoResponse {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        m.text().await,
    )
}

/// 200 when the journal answers within 2 s, 503 otherwise; the body says why, and how many
/// leases this worker holds (none is healthy for a worker with nothing to send).
async fn healthz(State(m): State<Arc<Metrics>>) -> impl IntoResponse {
    let journal = m.refresh().await;
    let leases = m.sources().leases.as_ref().map(|l| l.count());
    let status = if journal.is_ok() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = json!({
        "journal": journal.map_or_else(|e| format!("unreachable: {e}"), |()| "reachable".into()),
        "leases_held": leases,
    });
    (status, axum::Json(body))
}

/// The age of the oldest record pending or in flight (seconds, 0 when none) and how many
/// records are in each of those states. Each bucket's oldest is found through the work index,
/// so a scrape costs the same whatever the journal holds.
async fn backlog(db: &Db) -> Result<(f64, HashMap<String, i64>), String> {
    let client = db
        .client()
        .await
        .map_err(|e| crate::journal::postgres::connection::storage(&e).to_string())?;
    let why = |e: tokio_postgres::Error| crate::journal::postgres::connection::why(&e);
    let oldest: f64 = client
        .query_one(
            "SELECT coalesce(extract(epoch FROM now() - min(c)), 0)::float8 FROM (
                 SELECT (SELECT created FROM preventor_records r
                         WHERE r.bucket = b AND r.state = s ORDER BY r.seq LIMIT 1) AS c
                 FROM generate_series(0, 63) b, unnest(ARRAY['pending', 'in_flight']) s) o",
            &[],
        )
        .await
        .map_err(why)?
        .get(0);
    let states = client
        .query(
            "SELECT state, count(*) FROM preventor_records
             WHERE state IN ('pending', 'in_flight') GROUP BY state",
            &[],
        )
        .await
        .map_err(why)?
        .into_iter()
        .map(|r| (r.get::<_, String>(0), r.get::<_, i64>(1)))
        .collect();
    Ok((oldest.max(0.0), states))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_text_names_follow_prometheus_conventions() {
        let m = Metrics::new();
        m.outcome(1, &Outcome::Acknowledged { reconciled: false });
        m.fetched(2, Duration::from_millis(300));
        m.outcome(2, &Outcome::Acknowledged { reconciled: false });
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &m.registry).unwrap();
        for name in [
            "preventor_records_total{outcome=\"acknowledged\"} 2",
            "preventor_rate_limited_total 0",
            "preventor_staged_to_acknowledged_seconds_count 1",
            "preventor_staged_to_acknowledged_seconds_bucket{le=\"0.64\"} 1",
            "preventor_staged_to_acknowledged_seconds_bucket{le=\"0.16\"} 0",
            "# UNIT preventor_oldest_pending_age_seconds seconds",
            "preventor_leases_held 0",
        ] {
            assert!(out.contains(name), "{name} not in:\n{out}");
        }
    }
}
