//! Rust SDK for Preventor's Open Services Platform: the compliance (KYC/AML) API and the
//! biometrics API.
//!
//! ```no_run
//! use preventor::{ComplianceClient, EndUserContext};
//! use preventor::compliance::types::{Customer, RequestType};
//!
//! # async fn run() -> preventor::Result<()> {
//! // PREVENTOR_API_KEY, PREVENTOR_TENANT, PREVENTOR_ENV, PREVENTOR_BANKNU, PREVENTOR_CLIENT_ID,
//! // PREVENTOR_CLIENT_SECRET, PREVENTOR_USERNAME, PREVENTOR_PASSWORD, PREVENTOR_SCOPE
//! let client = ComplianceClient::from_env()?;
//! let customer = Customer::builder()
//!     .request_type(RequestType::A)
//!     .id("8adc1652-ad36-4234-846b-61d52cd1e2052")
//!     .first_name(Some("JOHN".try_into().unwrap()))
//!     .last_name(Some("BROWN".try_into().unwrap()));
//! let end_user = EndUserContext::default().lang("es").ip("203.0.113.7");
//! client
//!     .with_context(&end_user)?
//!     .customer_onboarding(customer.try_into().expect("a valid customer"))
//!     .await?;
//! let stored = client.get_customer("8adc1652-ad36-4234-846b-61d52cd1e2052").await?;
//! println!("{:?}", stored.first_name);
//! # Ok(())
//! # }
//! ```
//!
//! # Layout
//! * [`compliance`] and [`biometrics`]: types and calls generated at build time by progenitor
//!   from `openapi/compliance.yaml` and `openapi/biometrics.yaml`.
//! * [`ComplianceClient`], [`BiometricsClient`] and [`BioSession`]: what you call. They add
//!   auth, tenant and end-user headers, timeouts, retries, tracing and one error type.
//!
//! # Auth
//! The compliance access token is fetched on first use, cached, refreshed before it expires
//! (a tenth of its lifetime early, at most 60 s), and shared by every clone of the client:
//! concurrent calls on an empty or expired cache cause one token request. A 401 invalidates
//! it; the call is replayed once with a new token (refresh-token grant when the server issued a
//! refresh token, else the password grant); a second 401 is [`Error::Auth`].
//! A biometrics token belongs to one process: [`BiometricsClient::start_session`] returns a
//! [`BioSession`] that carries it through create user, upload and enroll.
//!
//! # Retries
//! Bounded (3 attempts by default) with exponential backoff and `Retry-After`:
//! * token calls and reads (`getCustomer`, `bioEnroll`): after connection errors, timeouts,
//!   429, 500, 502, 503, 504;
//! * writes (onboarding, maintenance, transactions, bio user, uploads): only when the
//!   connection failed before the request was sent. A write is never sent twice automatically.
//!
//! See [`RetryPolicy`].
//!
//! # Timeouts
//! Connect 10 s, each attempt 30 s ([`HttpOptions`]).
//!
//! # Errors and secrets
//! Every call returns [`Result`] with [`Error`]. Credentials, tokens and photos are kept in
//! redacting types and never appear in `Debug`, `Display`, errors or logs.
//!
//! # Tracing
//! Each call is one `preventor.call` span with `operation`, `method`, `path` (the template),
//! `status`, `attempt` and `duration_ms`.
#![warn(missing_docs)]

mod auth;
mod client;
mod config;
mod context;
mod display;
mod error;
mod generated;
mod hooks;
pub mod onboarding;
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
    HttpOptions, OAuthCredentials, RootCertificate, Tenant, BIOMETRICS_URL, COMPLIANCE_URL,
    DEFAULT_CONNECT_TIMEOUT, DEFAULT_REQUEST_TIMEOUT,
};
pub use context::{EndUserContext, SDK_USER_AGENT};
pub use error::{ApiError, Error, ErrorDetails, Result, MAX_ERROR_BODY};
pub use generated::{biometrics, compliance};
pub use photo::{Photo, MAX_PHOTO_BYTES};
pub use retry::RetryPolicy;
#[doc(hidden)]
pub use transport::CallState;
