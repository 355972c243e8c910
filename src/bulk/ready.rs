//! Jobs whose key is free, oldest first.
//!
//! When the pace (not the calls in flight) bounds the sends, which ready job goes next decides
//! how a feed ends. Taken in arrival order, every key gets a turn a round, so a key held back
//! (a 429's `Retry-After`, a retried 5xx) stays behind for the rest of the run and its records
//! finish alone at the end, one round trip at a time. Taken oldest first (by the sequence number
//! the input gave), a key that fell behind goes before the others until it has caught up, and
//! the keys end together.

use std::collections::BTreeMap;

/// Ready jobs by sequence number (ties, which a caller's numbering may have, in arrival order).
#[derive(Debug)]
pub(crate) struct Ready<J> {
    jobs: BTreeMap<(u64, u64), J>,
    arrivals: u64,
}

impl<J> Default for Ready<J> {
    fn default() -> Self {
        Ready {
            jobs: BTreeMap::new(),
            arrivals: 0,
        }
    }
}

impl<J> Ready<J> {
    /// Adds the job numbered `seq`.
    pub(crate) fn push(&mut self, seq: u64, job: J) {
        self.arrivals += 1;
        self.jobs.insert((seq, self.arrivals), job);
    }

    /// Takes the oldest job.
    pub(crate) fn pop(&mut self) -> Option<J> {
        self.jobs.pop_first().map(|(_, job)| job)
    }

    /// Jobs ready.
    pub(crate) fn len(&self) -> usize {
        self.jobs.len()
    }

    /// Whether no job is ready.
    pub(crate) fn is_empty(&self) -> bool {
        self.jobs.is_empty()
    }

    /// Takes every job, oldest first.
    pub(crate) fn drain(&mut self) -> impl Iterator<Item = J> {
        std::mem::take(&mut self.jobs).into_values()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oldest_first_whatever_the_arrival_and_ties_in_arrival_order() {
        let mut ready = Ready::default();
        ready.push(7, "seven");
        ready.push(3, "three, behind");
        ready.push(7, "seven again");
        ready.push(5, "five");
        assert_eq!(ready.len(), 4);
        assert_eq!(ready.pop(), Some("three, behind"));
        assert_eq!(ready.pop(), Some("five"));
        ready.push(1, "one, retried");
        assert_eq!(
            ready.drain().collect::<Vec<_>>(),
            ["one, retried", "seven", "seven again"]
        );
        assert!(ready.is_empty());
        assert_eq!(ready.pop(), None);
    }
}
