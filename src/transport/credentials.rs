//! How a call authenticates, as the transport sees it: fixed credentials it sends as they are,
//! or a [`TokenProvider`] it asks for the current token (the `auth` module provides the
//! compliance OAuth token on top of the transport; the transport never needs to know how).

use std::{future::Future, pin::Pin, sync::Arc};

use base64::Engine;
use reqwest::header::HeaderValue;
use secrecy::{ExposeSecret, SecretString};

use crate::Result;

/// How a call authenticates.
#[derive(Clone, Debug)]
pub(crate) enum CallAuth {
    /// HTTP Basic with these credentials (the token calls); the user is secret too: for
    /// biometrics it is the API key.
    Basic {
        user: SecretString,
        secret: SecretString,
    },
    /// A token shared by the client's calls, from its provider (the compliance access token).
    Token(Arc<dyn TokenProvider>),
    /// A fixed bearer token (a biometrics process).
    Bearer(SecretString),
}

/// A token and its generation, or why none could be had.
pub(crate) type TokenFuture<'a> =
    Pin<Box<dyn Future<Output = Result<(Arc<AccessToken>, u64)>> + Send + 'a>>;

/// Where the transport gets a shared bearer token: what an identity resolver is to an
/// orchestrator. A token has a generation, so that a 401 invalidates the token that call
/// carried and not a newer one.
pub(crate) trait TokenProvider: Send + Sync + std::fmt::Debug {
    /// The current token when one is cached and not yet due for refresh: the path of nearly
    /// every call, with no await and no allocation.
    fn cached(&self) -> Option<(Arc<AccessToken>, u64)>;
    /// A token, fetched when none is cached or the cached one is due (one fetch serves every
    /// concurrent caller).
    fn token(&self) -> TokenFuture<'_>;
    /// Forgets token `generation` (after the server refused it).
    fn invalidate(&self, generation: u64);
}

impl dyn TokenProvider {
    /// The cached token, else a fetched one.
    pub(crate) async fn current(&self) -> Result<(Arc<AccessToken>, u64)> {
        match self.cached() {
            Some(hit) => Ok(hit),
            None => self.token().await,
        }
    }
}

/// An access token and its `Authorization` header, built once and shared by every call.
pub(crate) struct AccessToken {
    /// The token itself.
    pub(crate) secret: SecretString,
    /// `Bearer <token>`, marked sensitive.
    pub(crate) header: HeaderValue,
}

impl AccessToken {
    /// A token and its header.
    pub(crate) fn new(secret: SecretString) -> Self {
        let header = bearer(&secret);
        AccessToken { secret, header }
    }
}

impl std::fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AccessToken(<redacted>)")
    }
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
fn sensitive(value: &str) -> HeaderValue {
    let mut v = HeaderValue::from_str(value).unwrap_or_else(|_| HeaderValue::from_static(""));
    v.set_sensitive(true);
    v
}
