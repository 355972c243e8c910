//! The sandbox's memory: tokens, accounts, customers, transactions, bio processes.

use std::{
    collections::HashMap,
    sync::{
        atomic::{AtomicU64, Ordering},
        Mutex, MutexGuard,
    },
};

use axum::http::Method;
use preventor::operations::Operation;
use serde_json::Value;
use tokio::time::Instant;

use crate::{faults::Faults, identity::Identity, SandboxConfig};

/// Everything the sandbox remembers.
pub(crate) struct AppState {
    pub(crate) config: SandboxConfig,
    pub(crate) faults: Faults,
    /// `--rate-limit`: a token bucket per tenant.
    pub(crate) buckets: Mutex<HashMap<String, Bucket>>,
    data: Mutex<Data>,
    counter: AtomicU64,
}

#[derive(Default)]
pub(crate) struct Data {
    /// Compliance access tokens and their expiry.
    pub(crate) access_tokens: HashMap<String, Instant>,
    /// Compliance refresh tokens (single use).
    pub(crate) refresh_tokens: HashMap<String, ()>,
    /// Biometrics process tokens.
    pub(crate) bio_tokens: HashMap<String, BioProcess>,
    pub(crate) accounts: HashMap<String, Value>,
    pub(crate) customers: HashMap<String, Value>,
    /// Transaction ids (nothing reads a transaction back: the ids are all the sandbox keeps, so
    /// a million of them fit).
    pub(crate) transactions: std::collections::HashSet<Box<str>>,
    /// Per account, the ids of the transactions stored, in the order they arrived.
    pub(crate) arrivals: HashMap<Box<str>, Vec<Box<str>>>,
    /// Writes refused because their id existed already.
    pub(crate) duplicates: u64,
    /// Bio users by id, with the token of the process that created them.
    pub(crate) bio_users: HashMap<String, String>,
    /// Upload tickets.
    pub(crate) uploads: HashMap<String, Upload>,
}

pub(crate) struct BioProcess {
    pub(crate) expires: Instant,
}

pub(crate) struct Upload {
    pub(crate) user_id: String,
    pub(crate) identity: Identity,
    pub(crate) portrait: String,
}

/// A token bucket: `rate` tokens a second, at most `rate` held. It also keeps what a load test
/// needs to know where the limit went: the tokens that overflowed a full bucket (capacity
/// never used) and the tokens left after the last call let through.
pub(crate) struct Bucket {
    tokens: f64,
    at: Instant,
    first: Instant,
    accepted: u64,
    refused: u64,
    overflowed: f64,
    last_overflow: Option<Instant>,
    last_accepted: Option<(Instant, f64)>,
}

impl Bucket {
    fn stats(&self) -> serde_json::Value {
        let since = |t: Instant| (t - self.first).as_secs_f64();
        serde_json::json!({
            "accepted": self.accepted,
            "refused": self.refused,
            "tokens_overflowed": self.overflowed,
            "last_overflow_s": self.last_overflow.map(since),
            "last_accepted_s": self.last_accepted.map(|(t, _)| since(t)),
            "tokens_left_after_last_accepted": self.last_accepted.map(|(_, left)| left),
        })
    }
}

impl AppState {
    /// Takes a token from `tenant`'s bucket and says how many are left, or says how long until
    /// one is there.
    pub(crate) fn take_token(&self, tenant: &str, rate: f64) -> Result<f64, std::time::Duration> {
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        let bucket = buckets.entry(tenant.to_string()).or_insert(Bucket {
            tokens: rate,
            at: now,
            first: now,
            accepted: 0,
            refused: 0,
            overflowed: 0.0,
            last_overflow: None,
            last_accepted: None,
        });
        let filled = bucket.tokens + (now - bucket.at).as_secs_f64() * rate;
        if filled > rate {
            bucket.overflowed += filled - rate;
            bucket.last_overflow = Some(now);
        }
        bucket.tokens = filled.min(rate);
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            bucket.accepted += 1;
            bucket.last_accepted = Some((now, bucket.tokens));
            Ok(bucket.tokens)
        } else {
            bucket.refused += 1;
            Err(std::time::Duration::from_secs_f64(
                (1.0 - bucket.tokens) / rate,
            ))
        }
    }

    pub(crate) fn new(config: SandboxConfig) -> Self {
        AppState {
            faults: Faults::new(config.latency),
            buckets: Mutex::default(),
            config,
            data: Mutex::new(Data::default()),
            counter: AtomicU64::new(1),
        }
    }

    pub(crate) fn data(&self) -> MutexGuard<'_, Data> {
        self.data.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A fresh identifier in UUID layout (the sandbox's ids are opaque strings).
    pub(crate) fn new_id(&self) -> String {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let seed = std::process::id() as u64;
        format!(
            "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
            seed,
            n >> 32 & 0xffff,
            n >> 20 & 0xfff,
            n >> 8 & 0xfff,
            n
        )
    }

    /// Requests received per operationId, records stored, duplicates refused.
    pub(crate) fn stats(&self) -> serde_json::Value {
        let data = self.data();
        serde_json::json!({
            "received": self.faults.all_calls(),
            "stored": {
                "accounts": data.accounts.len(),
                "customers": data.customers.len(),
                "transactions": data.transactions.len(),
            },
            "duplicates": data.duplicates,
            "rate_limit": self
                .buckets
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .iter()
                .map(|(tenant, b)| (tenant.clone(), b.stats()))
                .collect::<serde_json::Map<_, _>>(),
        })
    }

    pub(crate) fn expire_tokens(&self) {
        let mut data = self.data();
        let now = Instant::now();
        for expiry in data.access_tokens.values_mut() {
            *expiry = now;
        }
        for process in data.bio_tokens.values_mut() {
            process.expires = now;
        }
    }
}

/// The operation a request targets, when it is one of the documents': the SDK's table
/// ([`preventor::operations`]), generated from the documents.
pub(crate) fn operation_of(method: &Method, path: &str) -> Option<&'static Operation> {
    preventor::operations::of_request(method.as_str(), path)
}

/// The operationId the fault knobs take, or what is wrong with it.
pub(crate) fn known_operation(id: &str) -> Result<&'static Operation, String> {
    preventor::operations::by_id(id).ok_or_else(|| {
        let known: Vec<&str> = preventor::operations::all()
            .iter()
            .map(Operation::id)
            .collect();
        format!("unknown operation {id:?}; known: {}", known.join(", "))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rate_limit_counts_what_it_let_through_refused_and_left_unused() {
        let state = AppState::new(crate::SandboxConfig::default());
        let bucket = |state: &AppState| state.stats()["rate_limit"]["t"].clone();
        let results: Vec<bool> = (0..15)
            .map(|_| state.take_token("t", 10.0).is_ok())
            .collect();
        assert_eq!(
            results.iter().filter(|ok| **ok).count(),
            10,
            "a full bucket"
        );
        let drained = bucket(&state);
        assert_eq!(drained["accepted"], 10);
        assert_eq!(drained["refused"], 5);
        assert!(drained["tokens_left_after_last_accepted"].as_f64().unwrap() < 1.0);
        assert!(
            drained["tokens_overflowed"].as_f64().unwrap() < 1.0,
            "drained at once: nothing overflowed {drained}"
        );
        // Longer than the bucket takes to fill: the rest of the second's tokens overflow.
        std::thread::sleep(std::time::Duration::from_millis(1500));
        assert!(state.take_token("t", 10.0).is_ok());
        let idle = bucket(&state);
        assert!(
            idle["tokens_overflowed"].as_f64().unwrap() >= 4.0,
            "half a second of a full bucket: {idle}"
        );
        assert!(idle["last_overflow_s"].as_f64().unwrap() >= 1.5);
        assert!(idle["tokens_left_after_last_accepted"].as_f64().unwrap() >= 8.9);
    }
}
