//! A feed's end seen coming, so that its last seconds are not paced by probing.

use std::sync::{
    atomic::{AtomicBool, Ordering},
    Arc,
};

/// Tells a running [`send`](super::send) that its feed ends within seconds (set
/// [`BulkOptions::ending`](super::BulkOptions::ending)); cheap to clone, every clone is the
/// same signal.
///
/// Paced at the server's limit, `send` probes above it every few seconds (a limit that grew,
/// or a share other senders left), and the probe's 429 holds its record's key back a whole
/// `Retry-After`: in a feed's last second, that is the feed's end delayed by a second while the
/// server's limit goes unused. While the end is near, the pace stops probing and holds just
/// below the rate the server let through. `send` sees that on its own once its input has
/// ended; a caller that knows more (how much of a shared feed is left, across processes) says
/// so with this.
#[derive(Clone, Debug, Default)]
pub struct Ending(Arc<AtomicBool>);

impl Ending {
    /// A signal not set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Says whether the feed ends within a few seconds (set it back when more work came).
    pub fn set_soon(&self, soon: bool) {
        self.0.store(soon, Ordering::Relaxed);
    }

    /// Whether the feed ends within a few seconds, as last set.
    pub fn is_soon(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::Ending;

    #[test]
    fn every_clone_is_the_same_signal() {
        let ending = Ending::new();
        let seen = ending.clone();
        assert!(!seen.is_soon());
        ending.set_soon(true);
        assert!(seen.is_soon());
        ending.set_soon(false);
        assert!(!seen.is_soon());
    }
}
