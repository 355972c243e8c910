//! The sandbox's memory: tokens, accounts, customers, transactions, bio processes.

use std::{
    collections::HashMap,
    sync::{
        atomic::{AtomicU64, Ordering},
        Mutex, MutexGuard,
    },
};

use axum::http::Method;
use serde_json::Value;
use tokio::time::Instant;

use crate::{faults::Faults, identity::Identity, SandboxConfig};

/// Everything the sandbox remembers.
pub(crate) struct AppState {
    pub(crate) config: SandboxConfig,
    pub(crate) faults: Faults,
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
    pub(crate) transactions: HashMap<String, Value>,
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

impl AppState {
    pub(crate) fn new(config: SandboxConfig) -> Self {
        AppState {
            faults: Faults::new(config.latency),
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

/// The operationId of a request, when it targets one of the documents' operations.
pub(crate) fn operation_of(method: &Method, path: &str) -> Option<&'static str> {
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let op = match (method.as_str(), segments.as_slice()) {
        ("POST", ["security", "oauth", "token"]) => "oauthToken",
        ("POST", ["onboarding", "accountOnboarding"]) => "accountOnboarding",
        ("POST", ["onboarding", "customerOnboarding"]) => "customerOnboarding",
        ("POST", ["onboarding", "customerMaintenance"]) => "customerMaintenance",
        ("POST", ["onboarding", "getCustomer"]) => "getCustomer",
        ("POST", ["onboarding", "registerMonetaryTransaction"]) => "registerMonetaryTransaction",
        ("POST", ["v1", "auth", "token"]) => "bioToken",
        ("POST", ["v1", "workflow", "enroll", "user"]) => "createBioUser",
        ("POST", ["v1", "workflow", "enroll", "user", _, "upload"]) => "uploadBioFiles",
        ("GET", ["v1", "workflow", "enroll", "user", _, "ticket", _]) => "bioEnroll",
        _ => return None,
    };
    Some(op)
}
