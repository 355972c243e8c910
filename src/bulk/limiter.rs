//! Additive increase, multiplicative decrease of the calls in flight, after a slow start.
//!
//! From the start until the first sign of overload (a 429 or a burst of 5xx), each success
//! adds one call in flight: the limit doubles every round trip, as TCP's slow start, instead of
//! taking a round trip per extra call to reach the server's capacity.
//!
//! A 429 is the server saying "slower": the limit halves (once per burst). A 5xx is noisier: one
//! 503 among many successes is a server's hiccup, not overload (halving on each would pin the
//! limit near the square root of the success run, like TCP under random loss), so the limit
//! halves when 5xx answers reach 5% (and at least 3) of a window of `limit` calls.

use std::time::{Duration, Instant};

/// The current limit of calls in flight.
#[derive(Debug)]
pub(crate) struct Limiter {
    limit: f64,
    /// Before any overload: +1 per success.
    slow_start: bool,
    max: f64,
    last_decrease: Option<Instant>,
    window_calls: u32,
    window_errors: u32,
}

/// Decreases closer together than this count once: one overload, one halving.
const DECREASE_SPACING: Duration = Duration::from_millis(200);

impl Limiter {
    pub(crate) fn new(start: usize, max: usize) -> Self {
        let max = max.max(1) as f64;
        Limiter {
            limit: (start.max(1) as f64).min(max),
            slow_start: true,
            max,
            last_decrease: None,
            window_calls: 0,
            window_errors: 0,
        }
    }

    /// Calls allowed in flight now.
    pub(crate) fn limit(&self) -> usize {
        self.limit as usize
    }

    fn count(&mut self, error: bool) {
        if self.window_calls as f64 >= self.limit {
            self.window_calls = 0;
            self.window_errors = 0;
        }
        self.window_calls += 1;
        self.window_errors += u32::from(error);
    }

    /// A success: one more call in flight per success in slow start, else about one more per
    /// round of `limit` successes.
    pub(crate) fn success(&mut self) {
        self.count(false);
        let step = if self.slow_start {
            1.0
        } else {
            1.0 / self.limit
        };
        self.limit = (self.limit + step).min(self.max);
    }

    /// The server showed its limit (a 429 the pacer answers): grow additively from now on.
    pub(crate) fn end_slow_start(&mut self) {
        self.slow_start = false;
    }

    /// The server refused for rate (429): halve, once per burst.
    pub(crate) fn rate_limited(&mut self) {
        self.halve();
    }

    /// A 5xx: halve when they are a real share of the current window.
    pub(crate) fn server_error(&mut self) {
        self.count(true);
        if f64::from(self.window_errors) >= (0.05 * self.limit).max(3.0) {
            self.halve();
        }
    }

    fn halve(&mut self) {
        let now = Instant::now();
        if self
            .last_decrease
            .is_some_and(|at| now.duration_since(at) < DECREASE_SPACING)
        {
            return;
        }
        self.last_decrease = Some(now);
        self.slow_start = false;
        self.limit = (self.limit / 2.0).max(1.0);
        self.window_calls = 0;
        self.window_errors = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_additively_halves_once_per_burst_and_stays_bounded() {
        let mut slow = Limiter::new(4, 100);
        for _ in 0..4 {
            slow.success();
        }
        assert_eq!(slow.limit(), 8, "slow start: doubles per round");
        let mut l = Limiter::new(4, 8);
        l.end_slow_start();
        for _ in 0..4 {
            l.success();
        }
        assert_eq!(l.limit(), 4, "about +1 per round of 4");
        for _ in 0..100 {
            l.success();
        }
        assert_eq!(l.limit(), 8, "capped");
        l.rate_limited();
        l.rate_limited();
        assert_eq!(l.limit(), 4, "one halving per burst");
        let mut one = Limiter::new(1, 8);
        one.rate_limited();
        assert_eq!(one.limit(), 1, "never below one");
    }

    #[test]
    fn a_lone_server_error_is_not_overload_but_a_burst_is() {
        let mut l = Limiter::new(64, 64);
        l.end_slow_start();
        for _ in 0..63 {
            l.success();
        }
        l.server_error();
        assert_eq!(l.limit(), 64, "one 503 in 64 calls");
        for _ in 0..10 {
            l.server_error();
        }
        assert_eq!(l.limit(), 32, "a burst of them");
    }
}
