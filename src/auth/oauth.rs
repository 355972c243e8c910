//! The compliance access token: fetched lazily, cached, refreshed before it expires, shared.

use std::{
    future::Future,
    pin::Pin,
    sync::{Arc, Mutex},
    time::Duration,
};

use progenitor_client::ClientInfo;
use secrecy::{ExposeSecret, SecretString};

use super::cache::ExpiringCache;
use crate::{
    config::OAuthCredentials,
    context::EndUserContext,
    generated::compliance,
    transport::{AccessToken, ApiShared, CallAuth, CallState, TokenProvider},
    Error, Result,
};

/// Lifetime assumed when the server omits `expires_in`.
const DEFAULT_LIFETIME: Duration = Duration::from_secs(300);

/// Source of the shared compliance access token.
pub(crate) struct TokenSource {
    shared: Arc<ApiShared>,
    credentials: OAuthCredentials,
    cache: ExpiringCache<Arc<AccessToken>, Error>,
    refresh_token: Mutex<Option<SecretString>>,
}

impl std::fmt::Debug for TokenSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenSource")
            .field("client_id", &self.credentials.client_id)
            .finish_non_exhaustive()
    }
}

type LoadFuture<'a> =
    Pin<Box<dyn Future<Output = Result<(Arc<AccessToken>, Duration)>> + Send + 'a>>;

impl TokenSource {
    pub(crate) fn new(shared: Arc<ApiShared>, credentials: OAuthCredentials) -> Self {
        TokenSource {
            shared,
            credentials,
            cache: ExpiringCache::new(),
            refresh_token: Mutex::new(None),
        }
    }

    /// Refresh-token grant when a refresh token is held, else (or when it is refused) the
    /// password grant. Boxed: the token call runs through the same hooks that ask for a token.
    fn fetch(&self) -> LoadFuture<'_> {
        Box::pin(async move {
            let held = self
                .refresh_token
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .take();
            if let Some(refresh) = held {
                match self.grant(Some(refresh)).await {
                    Ok(token) => return Ok(token),
                    Err(Error::Auth { .. }) => {}
                    Err(Error::Api(e)) if e.status.is_client_error() => {}
                    Err(other) => return Err(other),
                }
                tracing::debug!("refresh token refused; using the password grant");
            }
            self.grant(None).await
        })
    }

    async fn grant(&self, refresh: Option<SecretString>) -> Result<(Arc<AccessToken>, Duration)> {
        let c = &self.credentials;
        let body = match &refresh {
            Some(r) => compliance::types::TokenRequest {
                grant_type: "refresh_token".into(),
                refresh_token: Some(r.expose_secret().into()),
                client_id: Some(c.client_id.clone()),
                scope: None,
                username: None,
                password: None,
            },
            None => compliance::types::TokenRequest {
                grant_type: "password".into(),
                refresh_token: None,
                client_id: Some(c.client_id.clone()),
                scope: Some(c.scope.clone()),
                username: Some(c.username.clone()),
                password: Some(c.password.expose_secret().into()),
            },
        };
        let mut state = CallState::new(
            self.shared.clone(),
            self.shared.context_headers(&EndUserContext::default()),
            CallAuth::Basic {
                user: SecretString::from(c.client_id.clone()),
                secret: c.client_secret.clone(),
            },
        );
        state.extra_secrets.extend(refresh.clone());
        let client = crate::hooks::compliance_direct(state);
        let result = client.oauth_token(&body).await;
        // RFC 6749 §5.2: a refused grant or client is a 400 or 401 (403 from some gateways).
        // Anything else (404, 429, 5xx) is not about the credentials: it stays `Error::Api`,
        // with its `Retry-After`.
        let token = client
            .inner()
            .finish("oauthToken", result)
            .map_err(|e| match e {
                Error::Api(api) if matches!(api.status.as_u16(), 400 | 403) => Error::Auth {
                    operation: "oauthToken",
                    reason: format!(
                        "token request refused ({})",
                        api.code().unwrap_or(api.status.as_str())
                    ),
                    response: Some(api),
                },
                other => other,
            })?;
        if let Some(r) = token.refresh_token {
            *self.refresh_token.lock().unwrap_or_else(|p| p.into_inner()) = Some(r.into());
        }
        let lifetime = token
            .expires_in
            .and_then(|s| u64::try_from(s).ok())
            .map(Duration::from_secs)
            .unwrap_or(DEFAULT_LIFETIME)
            .min(super::cache::MAX_LIFETIME);
        tracing::debug!(
            lifetime_s = lifetime.as_secs(),
            grant = if refresh.is_some() {
                "refresh_token"
            } else {
                "password"
            },
            "access token obtained"
        );
        Ok((
            Arc::new(AccessToken::new(token.access_token.into())),
            lifetime,
        ))
    }
}

/// The transport asks for the token here: the cached one when fresh, else one fetch for every
/// concurrent caller.
impl TokenProvider for TokenSource {
    fn cached(&self) -> Option<(Arc<AccessToken>, u64)> {
        self.cache.fresh()
    }

    fn token(&self) -> crate::transport::TokenFuture<'_> {
        Box::pin(self.cache.get_or_load(|| self.fetch()))
    }

    fn invalidate(&self, generation: u64) {
        self.cache.invalidate(generation);
    }
}
