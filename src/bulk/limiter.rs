//! Additive increase, multiplicative decrease of the calls in flight.

use std::time::{Duration, Instant};

/// The current limit of calls in flight.
#[derive(Debug)]
pub(crate) struct Limiter {
    limit: f64,
    max: f64,
    last_decrease: Option<Instant>,
}

/// Decreases closer together than this count once: one overload, one halving.
const DECREASE_SPACING: Duration = Duration::from_millis(200);

impl Limiter {
    pub(crate) fn new(start: usize, max: usize) -> Self {
        let max = max.max(1) as f64;
        Limiter {
            limit: (start.max(1) as f64).min(max),
            max,
            last_decrease: None,
        }
    }

    /// Calls allowed in flight now.
    pub(crate) fn limit(&self) -> usize {
        self.limit as usize
    }

    /// A success: about one more call in flight per round of `limit` successes.
    pub(crate) fn success(&mut self) {
        self.limit = (self.limit + 1.0 / self.limit).min(self.max);
    }

    /// The server is overloaded (429, 5xx): halve, once per burst.
    pub(crate) fn overload(&mut self) {
        let now = Instant::now();
        if self
            .last_decrease
            .is_some_and(|at| now.duration_since(at) < DECREASE_SPACING)
        {
            return;
        }
        self.last_decrease = Some(now);
        self.limit = (self.limit / 2.0).max(1.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_additively_halves_once_per_burst_and_stays_bounded() {
        let mut l = Limiter::new(4, 8);
        for _ in 0..4 {
            l.success();
        }
        assert_eq!(l.limit(), 4, "about +1 per round of 4");
        for _ in 0..100 {
            l.success();
        }
        assert_eq!(l.limit(), 8, "capped");
        l.overload();
        l.overload();
        assert_eq!(l.limit(), 4, "one halving per burst");
        let mut one = Limiter::new(1, 8);
        one.overload();
        assert_eq!(one.limit(), 1, "never below one");
    }
}
