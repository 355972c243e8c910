//! Auth: the compliance OAuth token lifecycle and the headers each call carries.
//!
//! * Compliance: one access token per client, fetched lazily, cached, refreshed before expiry
//!   and shared by every call ([`oauth::TokenSource`]); a 401 invalidates it and the call is
//!   replayed once with a new one (see `transport`).
//! * Biometrics: one token per process, owned by a [`crate::BioSession`]; nothing shared.

pub(crate) mod cache;
pub(crate) mod oauth;

use base64::Engine;
use reqwest::header::HeaderValue;
use secrecy::{ExposeSecret, SecretString};

/// How a call authenticates.
#[derive(Clone, Debug)]
pub(crate) enum CallAuth {
    /// HTTP Basic with these credentials (the token calls); the user is secret too: for
    /// biometrics it is the API key.
    Basic {
        user: SecretString,
        secret: SecretString,
    },
    /// The shared compliance access token.
    ComplianceToken(std::sync::Arc<oauth::TokenSource>),
    /// A fixed bearer token (a biometrics process).
    Bearer(SecretString),
}

/// `Authorization: Basic base64(user:secret)`, marked sensitive.
pub(crate) fn basic(user: &SecretString, secret: &SecretString) -> HeaderValue {
    let raw = format!("{}:{}", user.expose_secret(), secret.expose_secret());
    let encoded = base64::engine::general_purpose::STANDARD.encode(raw);
    sensitive(&format!("Basic {encoded}"))
}

/// `Authorization: Bearer token`, marked sensitive.
pub(crate) fn bearer(token: &SecretString) -> HeaderValue {
    sensitive(&format!("Bearer {}", token.expose_secret()))
}

/// A header value that hyper and reqwest never print.
pub(crate) fn sensitive(value: &str) -> HeaderValue {
    let mut v = HeaderValue::from_str(value).unwrap_or_else(|_| HeaderValue::from_static(""));
    v.set_sensitive(true);
    v
}
