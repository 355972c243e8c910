//! A stateful local stand-in for Preventor's compliance and biometrics APIs.
//!
//! Both APIs are served from one base URL (their paths do not overlap). Request bodies are
//! validated with the `preventor` crate's types generated from the OpenAPI documents, so the
//! sandbox refuses what the documents refuse. Use it in-process:
//!
//! ```no_run
//! # async fn f() -> std::io::Result<()> {
//! let sandbox = preventor_sandbox::Sandbox::start(Default::default()).await?;
//! println!("{}", sandbox.url());
//! sandbox.faults().fail_next("registerMonetaryTransaction", 1, 503, Some(1));
//! # Ok(()) }
//! ```
//!
//! or as a binary: `cargo run -p preventor-sandbox -- --port 8080` (run-time knobs are then
//! under `POST /__sandbox/...`, see [`admin`]).

// Handlers return `Result<_, Response>` to answer early, as axum handlers do; the size of
// `Response` in the error variant is irrelevant here.
#![allow(clippy::result_large_err)]

pub mod admin;
mod biometrics;
mod compliance;
pub mod faults;
pub mod identity;
mod reply;
mod server;
mod state;

use std::io::Write as _;
use std::{net::SocketAddr, sync::Arc, time::Duration};

pub use faults::Faults;
pub use identity::Identity;
use state::AppState;

/// Credentials the sandbox accepts (any other value is refused like Preventor would).
#[derive(Clone, Debug)]
pub struct Credentials {
    /// `x-api-key`, also the user of the biometrics token call.
    pub api_key: String,
    /// `x-tenant`.
    pub tenant: String,
    /// `x-env`.
    pub env: String,
    /// `x-banknu`.
    pub banknu: String,
    /// OAuth client id.
    pub client_id: String,
    /// OAuth client secret.
    pub client_secret: String,
    /// Username of the password grant.
    pub username: String,
    /// Password of the password grant.
    pub password: String,
    /// Biometrics API secret.
    pub api_secret: String,
}

impl Default for Credentials {
    fn default() -> Self {
        Credentials {
            api_key: "sandbox-api-key".into(),
            tenant: "sandbox".into(),
            env: "test".into(),
            banknu: "1".into(),
            client_id: "sandbox-client".into(),
            client_secret: "sandbox-client-secret".into(),
            username: "user@example.com".into(),
            password: "sandbox-password".into(),
            api_secret: "sandbox-api-secret".into(),
        }
    }
}

impl Credentials {
    /// The SDK's tenant headers for these credentials.
    pub fn tenant(&self) -> preventor::Tenant {
        preventor::Tenant {
            api_key: self.api_key.clone().into(),
            tenant: self.tenant.clone(),
            env: self.env.clone(),
            banknu: self.banknu.clone(),
        }
    }

    /// The `PREVENTOR_*` variables that point the SDK's `from_env` (and the `preventor`
    /// command) at a sandbox at `url` with these credentials.
    pub fn env(&self, url: &str) -> Vec<(&'static str, String)> {
        vec![
            ("PREVENTOR_API_KEY", self.api_key.clone()),
            ("PREVENTOR_TENANT", self.tenant.clone()),
            ("PREVENTOR_ENV", self.env.clone()),
            ("PREVENTOR_BANKNU", self.banknu.clone()),
            ("PREVENTOR_CLIENT_ID", self.client_id.clone()),
            ("PREVENTOR_CLIENT_SECRET", self.client_secret.clone()),
            ("PREVENTOR_USERNAME", self.username.clone()),
            ("PREVENTOR_PASSWORD", self.password.clone()),
            ("PREVENTOR_SCOPE", "read".into()),
            ("PREVENTOR_API_SECRET", self.api_secret.clone()),
            ("PREVENTOR_COMPLIANCE_URL", url.into()),
            ("PREVENTOR_BIOMETRICS_URL", url.into()),
        ]
    }

    /// The SDK's OAuth credentials for these credentials (scope `read`).
    pub fn oauth(&self) -> preventor::OAuthCredentials {
        preventor::OAuthCredentials {
            client_id: self.client_id.clone(),
            client_secret: self.client_secret.clone().into(),
            username: self.username.clone(),
            password: self.password.clone().into(),
            scope: "read".into(),
        }
    }
}

/// How the sandbox starts.
#[derive(Clone, Debug)]
pub struct SandboxConfig {
    /// Accepted credentials.
    pub credentials: Credentials,
    /// Lifetime of compliance access tokens (short lifetimes exercise refresh).
    pub token_lifetime: Duration,
    /// Lifetime of biometrics process tokens.
    pub bio_token_lifetime: Duration,
    /// Latency added to every response.
    pub latency: Duration,
    /// Address to listen on; port 0 picks a free port.
    pub addr: SocketAddr,
    /// Requests a second per tenant (`x-tenant`) before answering 429 with `Retry-After`
    /// (a token bucket as deep as one second of requests); `None`: no limit.
    pub rate_limit: Option<f64>,
    /// With [`SandboxConfig::rate_limit`]: every answer under the limit carries the IETF
    /// fields (draft-ietf-httpapi-ratelimit-headers): `RateLimit-Policy: "default";q=RPS;w=1`
    /// and `RateLimit: "default";r=REMAINING;t=SECONDS` (the bucket's whole requests left, and
    /// the seconds until it is full again), a 429 included.
    pub rate_limit_headers: bool,
    /// Share of writes (the documents' `x-preventor-retry: write` operations: onboarding,
    /// maintenance, transactions, bio users, uploads) that are stored but whose answer is lost
    /// (the connection closes): the ambiguous case.
    pub drop_after_commit: f64,
    /// Share of calls answered with this status without being processed (a 503, say).
    pub fail_share: Option<(f64, u16)>,
    /// Accept transactions on accounts it does not know (a demo of a transaction feed on its
    /// own); by default such a transaction gets the API's 404.
    pub accept_unknown_accounts: bool,
    /// Biometric checks every enroll result fails (the flow's refusal paths).
    pub refusals: Refusals,
    /// Where to write one line per request (method, path, status, milliseconds; no header or
    /// body); `None`: no request log.
    pub request_log: Option<RequestLog>,
}

/// A shared writer for the request log (`--log`).
#[derive(Clone)]
pub struct RequestLog(std::sync::Arc<std::sync::Mutex<Box<dyn std::io::Write + Send>>>);

impl RequestLog {
    /// Logs to `writer` (a file, stderr, a buffer in a test).
    pub fn new(writer: impl std::io::Write + Send + 'static) -> Self {
        RequestLog(std::sync::Arc::new(std::sync::Mutex::new(Box::new(writer))))
    }

    /// Writes one line and flushes it.
    pub(crate) fn line(&self, line: &str) {
        let mut w = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let _ = writeln!(w, "{line}");
        let _ = w.flush();
    }
}

impl std::fmt::Debug for RequestLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RequestLog")
    }
}

/// Checks the sandbox's enroll results fail, so that refusals can be tested end to end.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Refusals {
    /// `liveness: false` (and `enroll: false`).
    pub liveness: bool,
    /// `photoVerify: false`: the selfie does not match the document portrait.
    pub photo_match: bool,
    /// The document could not be read: no fields, `enroll: false`.
    pub document_read: bool,
}

impl Refusals {
    /// Applies the refusals to an enroll result.
    pub fn apply(&self, result: &mut serde_json::Value) {
        if self.liveness {
            result["liveness"] = false.into();
            result["enroll"] = false.into();
        }
        if self.photo_match {
            result["photoVerify"] = false.into();
            result["enroll"] = false.into();
        }
        if self.document_read {
            result["enroll"] = false.into();
            result["documentReader"]["fields"] = serde_json::json!([]);
            if let Some(reader) = result["documentReader"].as_object_mut() {
                reader.remove("graphics");
            }
        }
    }
}

impl Default for SandboxConfig {
    fn default() -> Self {
        SandboxConfig {
            credentials: Credentials::default(),
            token_lifetime: Duration::from_secs(3600),
            bio_token_lifetime: Duration::from_secs(900),
            latency: Duration::ZERO,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            rate_limit: None,
            rate_limit_headers: false,
            drop_after_commit: 0.0,
            fail_share: None,
            accept_unknown_accounts: false,
            refusals: Refusals::default(),
            request_log: None,
        }
    }
}

/// A running sandbox. Dropping it stops the server.
pub struct Sandbox {
    addr: SocketAddr,
    state: Arc<AppState>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Sandbox {
    /// Starts the sandbox on `config.addr` and returns once it accepts connections.
    pub async fn start(config: SandboxConfig) -> std::io::Result<Sandbox> {
        let listener = tokio::net::TcpListener::bind(config.addr).await?;
        let addr = listener.local_addr()?;
        let state = Arc::new(AppState::new(config));
        let (stop, stopped) = tokio::sync::oneshot::channel();
        tokio::spawn(server::serve(listener, state.clone(), stopped));
        Ok(Sandbox {
            addr,
            state,
            stop: Some(stop),
        })
    }

    /// Base URL of both APIs, e.g. `http://127.0.0.1:40123`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The socket address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The fault knobs, settable at any time.
    pub fn faults(&self) -> &Faults {
        &self.state.faults
    }

    /// Expires every compliance and biometrics token now.
    pub fn expire_tokens(&self) {
        self.state.expire_tokens();
    }

    /// The accepted credentials.
    pub fn credentials(&self) -> &Credentials {
        &self.state.config.credentials
    }

    /// What `GET /__sandbox/stats` returns: requests received per operationId, records stored,
    /// writes refused because their id existed (`duplicates`), and per tenant under a rate
    /// limit, the calls let through and refused and the capacity nobody used (`rate_limit`).
    pub fn stats(&self) -> serde_json::Value {
        self.state.stats()
    }

    /// Per account number, the ids of the transactions stored, in the order they arrived (to
    /// check that a feed kept each account's order).
    pub fn arrivals(&self) -> std::collections::HashMap<String, Vec<String>> {
        self.state
            .data()
            .arrivals
            .iter()
            .map(|(account, ids)| {
                (
                    account.to_string(),
                    ids.iter().map(|i| i.to_string()).collect(),
                )
            })
            .collect()
    }

    /// How many requests reached operation `operation_id` (before fault injection).
    pub fn calls(&self, operation_id: &str) -> usize {
        self.state.faults.calls(operation_id)
    }

    /// Waits until the server stops (for the binary).
    pub async fn wait(mut self) {
        let _keep = self.stop.take();
        std::future::pending::<()>().await
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}
