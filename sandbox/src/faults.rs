//! Fault knobs: latency, failing the next N calls of an operation, dropping connections.

use std::{collections::HashMap, sync::Mutex, time::Duration};

/// What to do to the next calls of one operation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Answer with this status (and `Retry-After` seconds when set) without processing.
    Status {
        status: u16,
        retry_after: Option<u64>,
    },
    /// Close the connection without answering.
    Drop,
}

#[derive(Default, Debug)]
struct Inner {
    latency: Duration,
    queued: HashMap<String, Vec<Fault>>,
    calls: HashMap<String, usize>,
}

/// The sandbox's fault knobs (thread-safe; change them while it runs).
#[derive(Default, Debug)]
pub struct Faults(Mutex<Inner>);

impl Faults {
    pub(crate) fn new(latency: Duration) -> Self {
        let f = Faults::default();
        f.set_latency(latency);
        f
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds `latency` to every response.
    pub fn set_latency(&self, latency: Duration) {
        self.lock().latency = latency;
    }

    /// The next `count` calls of `operation_id` answer `status` (with `Retry-After`).
    pub fn fail_next(
        &self,
        operation_id: &str,
        count: usize,
        status: u16,
        retry_after: Option<u64>,
    ) {
        let fault = Fault::Status {
            status,
            retry_after,
        };
        self.queue(operation_id, count, fault);
    }

    /// The next `count` calls of `operation_id` have their connection dropped.
    pub fn drop_next(&self, operation_id: &str, count: usize) {
        self.queue(operation_id, count, Fault::Drop);
    }

    /// Forgets every queued fault and the latency.
    pub fn clear(&self) {
        let mut inner = self.lock();
        inner.queued.clear();
        inner.latency = Duration::ZERO;
    }

    fn queue(&self, operation_id: &str, count: usize, fault: Fault) {
        let mut inner = self.lock();
        let q = inner.queued.entry(operation_id.to_string()).or_default();
        q.extend(std::iter::repeat_n(fault, count));
    }

    /// Counts a call and takes the fault it gets, with the latency to add.
    pub(crate) fn on_call(&self, operation_id: &str) -> (Duration, Option<Fault>) {
        let mut inner = self.lock();
        *inner.calls.entry(operation_id.to_string()).or_default() += 1;
        let latency = inner.latency;
        let fault = inner
            .queued
            .get_mut(operation_id)
            .filter(|q| !q.is_empty())
            .map(|q| q.remove(0));
        (latency, fault)
    }

    pub(crate) fn all_calls(&self) -> HashMap<String, usize> {
        self.lock().calls.clone()
    }

    pub(crate) fn calls(&self, operation_id: &str) -> usize {
        self.lock().calls.get(operation_id).copied().unwrap_or(0)
    }
}
