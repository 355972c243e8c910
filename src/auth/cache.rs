//! A value that expires, refreshed by one caller while the others wait (single flight).
//!
//! One load serves every caller that was waiting for it, whatever it returned: a value that is
//! already due for refresh (a zero lifetime) is still handed to the callers that waited for it,
//! and a failure is handed to them too instead of each one trying again in turn.

use std::{future::Future, sync::RwLock, time::Duration};

use tokio::{sync::Mutex, time::Instant};

/// Longest lifetime believed: a server's `expires_in` beyond it (up to `i64::MAX` seconds, which
/// would overflow `Instant`) is clamped.
pub(crate) const MAX_LIFETIME: Duration = Duration::from_secs(24 * 60 * 60);

/// A cached value with its generation, so that an invalidation aimed at an old value does not
/// throw away a newer one.
pub(crate) struct ExpiringCache<T, E> {
    slot: RwLock<Option<Entry<T>>>,
    flight: Mutex<Flight<T, E>>,
    /// Loads finished so far (a copy of `Flight::loads` readable without waiting).
    loads: std::sync::atomic::AtomicU64,
}

struct Entry<T> {
    value: T,
    refresh_at: Instant,
    expires_at: Instant,
    generation: u64,
}

/// What the last load gave, for the callers that waited for it.
struct Flight<T, E> {
    loads: u64,
    generation: u64,
    last: Option<Result<(T, u64), E>>,
}

/// How long before expiry a value is refreshed: a tenth of its lifetime, at most 60 s.
pub(crate) fn refresh_margin(lifetime: Duration) -> Duration {
    (lifetime / 10).min(Duration::from_secs(60))
}

impl<T: Clone, E: Clone> ExpiringCache<T, E> {
    pub(crate) fn new() -> Self {
        ExpiringCache {
            slot: RwLock::new(None),
            flight: Mutex::new(Flight {
                loads: 0,
                generation: 0,
                last: None,
            }),
            loads: Default::default(),
        }
    }

    /// The value when it is not yet due for refresh.
    pub(crate) fn fresh(&self) -> Option<(T, u64)> {
        self.peek().0
    }

    /// The value when it is not due for refresh, else the value when it is due but still valid.
    #[allow(clippy::type_complexity)]
    fn peek(&self) -> (Option<(T, u64)>, Option<(T, u64)>) {
        let slot = self.slot.read().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        match slot.as_ref() {
            Some(e) if now < e.refresh_at => (Some((e.value.clone(), e.generation)), None),
            Some(e) if now < e.expires_at => (None, Some((e.value.clone(), e.generation))),
            _ => (None, None),
        }
    }

    /// The cached value and its generation, or the result of `load` when it is missing or due
    /// for refresh. Concurrent callers share one `load` and its result, success or failure.
    /// While a value is due for refresh but still valid, one caller refreshes it and every
    /// other caller keeps getting the valid value without waiting (and the refreshing caller
    /// too, if the refresh fails). `load` returns the value and its lifetime (clamped to
    /// [`MAX_LIFETIME`]); the value is refreshed [`refresh_margin`] before the lifetime ends.
    pub(crate) async fn get_or_load<F, Fut>(&self, load: F) -> Result<(T, u64), E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<(T, Duration), E>>,
    {
        use std::sync::atomic::Ordering;
        let (hit, still_valid) = self.peek();
        if let Some(hit) = hit {
            return Ok(hit);
        }
        let seen = self.loads.load(Ordering::Acquire);
        let mut flight = match &still_valid {
            // Someone is refreshing already: keep using the valid value.
            Some(valid) => match self.flight.try_lock() {
                Ok(flight) => flight,
                Err(_) => return Ok(valid.clone()),
            },
            None => self.flight.lock().await,
        };
        if flight.loads != seen {
            // A load finished while this caller waited: its result is this caller's too.
            if let Some(last) = &flight.last {
                return last.clone();
            }
        }
        if let Some(hit) = self.fresh() {
            return Ok(hit);
        }
        let result = match load().await {
            Ok((value, lifetime)) => {
                flight.generation += 1;
                let lifetime = lifetime.min(MAX_LIFETIME);
                let now = Instant::now();
                let entry = Entry {
                    value: value.clone(),
                    refresh_at: now + lifetime.saturating_sub(refresh_margin(lifetime)),
                    expires_at: now + lifetime,
                    generation: flight.generation,
                };
                *self.slot.write().unwrap_or_else(|p| p.into_inner()) = Some(entry);
                Ok((value, flight.generation))
            }
            Err(e) => Err(e),
        };
        flight.loads += 1;
        flight.last = Some(result.clone());
        self.loads.store(flight.loads, Ordering::Release);
        match (result, still_valid) {
            // The refresh failed, but the value in hand is still valid: use it, retry later.
            (Err(_), Some(valid)) => Ok(valid),
            (result, _) => result,
        }
    }

    /// Drops the cached value if it is still generation `generation`.
    pub(crate) fn invalidate(&self, generation: u64) {
        let mut slot = self.slot.write().unwrap_or_else(|p| p.into_inner());
        if slot.as_ref().is_some_and(|e| e.generation == generation) {
            *slot = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{
        atomic::{AtomicU32, Ordering},
        Arc,
    };

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn one_load_for_many_callers_and_refresh_before_expiry() {
        let cache = Arc::new(ExpiringCache::<u32, ()>::new());
        let loads = Arc::new(AtomicU32::new(0));
        let load = |loads: Arc<AtomicU32>| async move {
            tokio::time::sleep(Duration::from_millis(5)).await;
            let n = loads.fetch_add(1, Ordering::SeqCst) + 1;
            Ok::<_, ()>((n, Duration::from_secs(100)))
        };
        let tasks: Vec<_> = (0..100)
            .map(|_| {
                let (cache, loads) = (cache.clone(), loads.clone());
                tokio::spawn(async move { cache.get_or_load(|| load(loads)).await.unwrap() })
            })
            .collect();
        for t in tasks {
            assert_eq!(t.await.unwrap(), (1, 1));
        }
        tokio::time::advance(Duration::from_secs(89)).await;
        assert_eq!(
            cache.get_or_load(|| load(loads.clone())).await.unwrap().0,
            1
        );
        tokio::time::advance(Duration::from_secs(2)).await; // 91 s: inside the 10 s margin
        assert_eq!(
            cache.get_or_load(|| load(loads.clone())).await.unwrap(),
            (2, 2)
        );
        cache.invalidate(1); // stale generation: ignored
        assert_eq!(
            cache.get_or_load(|| load(loads.clone())).await.unwrap(),
            (2, 2)
        );
        cache.invalidate(2);
        assert_eq!(
            cache.get_or_load(|| load(loads.clone())).await.unwrap(),
            (3, 3)
        );
    }
}
