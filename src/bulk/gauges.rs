//! A running [`send`](super::send) seen from outside: calls in flight, the concurrency limit,
//! outcomes so far, 429s, and call latencies, for whoever samples a run (a progress display, a
//! run's record in a journal, metrics).

use std::{
    sync::{
        atomic::{AtomicU64, Ordering::Relaxed},
        Mutex,
    },
    time::Duration,
};

/// Most latencies kept between two samples (the rest are not measured).
const KEPT: usize = 16_384;

/// Counters a [`send`](super::send) keeps up to date (set [`BulkOptions::gauges`](super::BulkOptions::gauges)).
#[derive(Debug, Default)]
pub struct Gauges {
    in_flight: AtomicU64,
    limit: AtomicU64,
    acknowledged: AtomicU64,
    rejected: AtomicU64,
    ambiguous: AtomicU64,
    failed: AtomicU64,
    rate_limited: AtomicU64,
    /// The pace's sends a second as `f64` bits (0: unpaced).
    pace: AtomicU64,
    /// Call latencies since the last sample, in microseconds.
    latencies: Mutex<Vec<u32>>,
}

/// The gauges at one moment, with the latencies of the calls answered since the last sample.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Sample {
    /// Calls in flight.
    pub in_flight: u64,
    /// The concurrency limit.
    pub limit: u64,
    /// Outcomes so far.
    pub acknowledged: u64,
    /// Rejected so far.
    pub rejected: u64,
    /// Ambiguous so far.
    pub ambiguous: u64,
    /// Failed so far.
    pub failed: u64,
    /// 429 answers so far.
    pub rate_limited: u64,
    /// Median latency of the calls answered since the last sample, in milliseconds.
    pub latency_p50_ms: Option<f64>,
    /// 99th percentile of those, in milliseconds.
    pub latency_p99_ms: Option<f64>,
}

impl Gauges {
    /// The counters and gauges now, without latencies (the latency period goes on): for a
    /// reader beside the one that [`sample`](Gauges::sample)s, such as a metrics endpoint.
    pub fn current(&self) -> Sample {
        Sample {
            in_flight: self.in_flight.load(Relaxed),
            limit: self.limit.load(Relaxed),
            acknowledged: self.acknowledged.load(Relaxed),
            rejected: self.rejected.load(Relaxed),
            ambiguous: self.ambiguous.load(Relaxed),
            failed: self.failed.load(Relaxed),
            rate_limited: self.rate_limited.load(Relaxed),
            latency_p50_ms: None,
            latency_p99_ms: None,
        }
    }

    /// Sends a second the pace allows now; `None` while unpaced (no 429 and no rate limit
    /// fields from the server yet: the concurrency limit alone holds the sends).
    pub fn pace(&self) -> Option<f64> {
        let bits = self.pace.load(Relaxed);
        (bits != 0).then(|| f64::from_bits(bits))
    }

    /// Reads the gauges, and starts a new latency period.
    pub fn sample(&self) -> Sample {
        let mut latencies =
            std::mem::take(&mut *self.latencies.lock().unwrap_or_else(|p| p.into_inner()));
        latencies.sort_unstable();
        let at = |q: f64| {
            (!latencies.is_empty()).then(|| {
                let i = ((latencies.len() - 1) as f64 * q).round() as usize;
                f64::from(latencies[i]) / 1000.0
            })
        };
        Sample {
            latency_p50_ms: at(0.5),
            latency_p99_ms: at(0.99),
            ..self.current()
        }
    }

    pub(crate) fn calls(&self, in_flight: usize, limit: usize) {
        self.in_flight.store(in_flight as u64, Relaxed);
        self.limit.store(limit as u64, Relaxed);
    }

    pub(crate) fn set_pace(&self, pace: Option<f64>) {
        self.pace
            .store(pace.filter(|p| *p > 0.0).map_or(0, f64::to_bits), Relaxed);
    }

    pub(crate) fn outcome(&self, outcome: &super::Outcome) {
        let counter = match outcome {
            super::Outcome::Acknowledged { .. } => &self.acknowledged,
            super::Outcome::Rejected { .. } => &self.rejected,
            super::Outcome::Ambiguous { .. } => &self.ambiguous,
            super::Outcome::Failed { .. } => &self.failed,
            _ => return,
        };
        counter.fetch_add(1, Relaxed);
    }

    pub(crate) fn rate_limited(&self) {
        self.rate_limited.fetch_add(1, Relaxed);
    }

    pub(crate) fn latency(&self, took: Duration) {
        let mut kept = self.latencies.lock().unwrap_or_else(|p| p.into_inner());
        if kept.len() < KEPT {
            kept.push(took.as_micros().min(u128::from(u32::MAX)) as u32);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sample_reads_counters_and_the_latencies_since_the_last_one() {
        let g = Gauges::default();
        g.calls(12, 64);
        for ms in 1..=100 {
            g.latency(Duration::from_millis(ms));
        }
        g.outcome(&super::super::Outcome::Acknowledged { reconciled: false });
        g.rate_limited();
        let s = g.sample();
        assert_eq!(
            (s.in_flight, s.limit, s.acknowledged, s.rate_limited),
            (12, 64, 1, 1)
        );
        assert_eq!(s.latency_p50_ms, Some(51.0));
        assert_eq!(s.latency_p99_ms, Some(99.0));
        assert_eq!(g.sample().latency_p50_ms, None, "a new period");
    }
}
