//! Rust SDK for Preventor's Open Services Platform: the compliance (KYC/AML) API and the
//! biometrics API.
//!
//! # The front door
//! * [`ComplianceClient`]: token lifecycle, accounts, customers, monetary transactions.
//! * [`BiometricsClient`] → [`BioSession`]: one biometrics process (create user, upload, enroll).
//! * [`onboarding::onboard`]: the page's "Onboarding based on Biometrics" flow in one call.
//! * [`Error`]: every failure, with [`Error::code`], [`Error::message`], [`Error::is_retryable`],
//!   [`Error::is_ambiguous`], [`Error::is_not_found`] and [`Error::is_already_exists`].
//! * Record types are generated from the OpenAPI documents: [`compliance::types`] and
//!   [`biometrics::types`]. The generated `Client`s behind `generated()` are an escape hatch.
//!
//! ```no_run
//! use preventor::compliance::types::{Customer, RequestType};
//! use preventor::{ComplianceClient, EndUserContext};
//!
//! # async fn run() -> preventor::Result<()> {
//! // PREVENTOR_API_KEY, PREVENTOR_TENANT, PREVENTOR_ENV, PREVENTOR_BANKNU, PREVENTOR_CLIENT_ID,
//! // PREVENTOR_CLIENT_SECRET, PREVENTOR_USERNAME, PREVENTOR_PASSWORD, PREVENTOR_SCOPE
//! let client = ComplianceClient::from_env()?;
//! let customer: Customer = Customer::builder()
//!     .request_type(RequestType::A)
//!     .id("8adc1652-ad36-4234-846b-61d52cd1e2052")
//!     .first_name(Some("JOHN".into()))
//!     .last_name(Some("BROWN".into()))
//!     .try_into()?;
//! let end_user = EndUserContext::default().lang("es").ip("203.0.113.7");
//! match client.with_context(&end_user)?.customer_onboarding(customer).await {
//!     Ok(_) => {}
//!     Err(e) if e.is_already_exists() => println!("known customer: {}", e.message().unwrap_or("")),
//!     Err(e) => return Err(e),
//! }
//! let stored = client.get_customer("8adc1652-ad36-4234-846b-61d52cd1e2052").await?;
//! println!("{:?}", stored.first_name); // personal data: Debug shows its length only
//! # Ok(())
//! # }
//! ```
//!
//! # Testing code that uses the SDK
//! The `preventor-sandbox` crate is a stateful stand-in for both APIs (the same statuses,
//! validation and token rules), in-process on an ephemeral port, with knobs for faults:
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use preventor::{compliance::types::MonetaryTransaction, ComplianceClient};
//! use preventor_sandbox::Sandbox;
//!
//! let sandbox = Sandbox::start(Default::default()).await?;
//! let credentials = sandbox.credentials();
//! let client = ComplianceClient::builder()
//!     .base_url(sandbox.url())
//!     .tenant(credentials.tenant())
//!     .credentials(credentials.oauth())
//!     .build()?;
//! sandbox.faults().fail_next("registerMonetaryTransaction", 1, 503, None);
//! let transaction: MonetaryTransaction = serde_json::from_value(serde_json::json!({
//!     "id": "tx-1", "account_number": "acc-1", "trans_amount": "10.00", "trans_currency": "USD"
//! }))?;
//! let error = client.register_monetary_transaction(transaction).await.unwrap_err();
//! assert!(error.is_ambiguous()); // a 503 to a write: it may have been processed
//! # Ok(())
//! # }
//! ```
//!
//! # Auth
//! The compliance access token is fetched on first use, cached, refreshed before it expires
//! (a tenth of its lifetime early, at most 60 s), and shared by every clone of the client:
//! concurrent calls on an empty or expired cache cause one token request, and its result
//! (a token or a failure) answers all of them. A 401 invalidates it; the call is replayed once
//! with a new token (refresh-token grant when the server issued a refresh token, else the
//! password grant); a second 401 is [`Error::Auth`].
//! A biometrics token belongs to one process: [`BiometricsClient::start_session`] returns a
//! [`BioSession`] that carries it through create user, upload and enroll.
//!
//! # Retries
//! Bounded (3 attempts by default) with exponential backoff and `Retry-After`:
//! * token calls and reads (`getCustomer`, `bioEnroll`): after connection errors, timeouts
//!   before the response starts, 429, 500, 502, 503, 504;
//! * writes (onboarding, maintenance, transactions, bio user, uploads): only when the
//!   connection failed before the request was sent. A write is never sent twice automatically.
//!
//! See [`RetryPolicy`].
//!
//! # Timeouts and connections
//! Connect 10 s, each attempt 30 s, requests in flight unbounded unless
//! [`HttpOptions::max_connections`] is set.
//!
//! # Errors and secrets
//! Every call returns [`Result`] with [`Error`]. Credentials, tokens, photos and document
//! numbers are kept in redacting types, personal data ([`redacted::PersonalText`]) too; none
//! appears in `Debug`, `Display`, errors or logs. Server text shown in errors is one line,
//! bounded, and scrubbed of the call's credentials and anything shaped like one.
//!
//! # Tracing
//! Each call is one `preventor.call` span with `operation`, `method`, `path` (the template),
//! `status`, `attempt` and `duration_ms`, and OpenTelemetry's HTTP client attributes:
//! `http.request.method`, `url.template`, `server.address`, `server.port`,
//! `http.response.status_code`, `http.request.resend_count` (from the second attempt),
//! `error.type` (the status code, or `timeout`/`connect`/... when no answer came) and
//! `otel.kind`/`otel.status_code`, so `tracing-opentelemetry` exports calls like any HTTP
//! client's. No body, header value or query is recorded.
#![warn(missing_docs)]

/// README.md's Rust examples, compiled as doctests so the first call it shows keeps building.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

mod auth;
pub mod bulk;
mod client;
mod config;
mod context;
mod display;
mod error;
mod generated;
mod hooks;
mod meaning;
pub mod onboarding;
pub mod operations;
mod photo;
pub mod redacted;
mod retry;
mod scrub;
mod transport;

pub use client::{
    biometrics::{
        BioPhotos, BioSession, BiometricsClient, BiometricsClientBuilder, DocumentType,
        TransactionType,
    },
    builder::{BiometricsCredentials, ClientBuilder, ComplianceCredentials},
    compliance::{ComplianceClient, ComplianceClientBuilder},
};
pub use config::{
    missing_env, HttpOptions, OAuthCredentials, RootCertificate, Tenant, BIOMETRICS_ENV,
    BIOMETRICS_URL, COMPLIANCE_ENV, COMPLIANCE_URL, DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_REQUEST_TIMEOUT,
};
pub use context::{EndUserContext, SDK_USER_AGENT};
pub use error::{ApiError, Error, ErrorDetails, Result, MAX_ERROR_BODY};
pub use generated::{biometrics, compliance};
pub use photo::{Photo, MAX_PHOTO_BYTES};
pub use retry::RetryPolicy;
#[doc(hidden)]
pub use transport::{CallState, RateLimitPolicy, RateLimitStatus};
