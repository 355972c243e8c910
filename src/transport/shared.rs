//! What one client shares between its calls: base URL, tenant headers, options, and the HTTP
//! client (TLS, timeouts, no redirects).

use std::sync::{Arc, Mutex};

use reqwest::header::{HeaderName, HeaderValue};

use super::{errors::describe, rate_limit, RateLimitStatus};
use crate::{
    config::{HttpOptions, Tenant},
    Error, Result,
};

/// Which of the two APIs a client talks to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Api {
    Compliance,
    Biometrics,
}

/// What one client (one API) shares between its calls.
pub(crate) struct ApiShared {
    pub(crate) api: Api,
    pub(crate) base_url: String,
    pub(crate) http: reqwest::Client,
    pub(crate) tenant: Tenant,
    /// `x-api-key` (marked sensitive), `x-tenant`, `x-env`, `x-banknu`, validated once.
    pub(crate) tenant_headers: reqwest::header::HeaderMap,
    pub(crate) options: HttpOptions,
    /// Every credential of the client and its `Basic` forms: removed from server text we show.
    pub(crate) secrets: Vec<secrecy::SecretString>,
    /// Permits for requests in flight ([`HttpOptions::max_connections`]).
    pub(crate) in_flight: Option<Arc<tokio::sync::Semaphore>>,
    /// The rate limit fields of the last answer that carried any.
    pub(crate) rate_limit: Mutex<Option<RateLimitStatus>>,
}

impl std::fmt::Debug for ApiShared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiShared")
            .field("api", &self.api)
            .field("base_url", &self.base_url)
            .field("tenant", &self.tenant)
            .finish_non_exhaustive()
    }
}

impl ApiShared {
    /// Checks the tenant headers and builds the HTTP client.
    pub(crate) fn new(
        api: Api,
        url: &url::Url,
        tenant: Tenant,
        options: HttpOptions,
        secrets: Vec<secrecy::SecretString>,
    ) -> Result<Self> {
        use secrecy::ExposeSecret;
        let mut tenant_headers = reqwest::header::HeaderMap::new();
        for (name, field, value) in [
            (
                "x-api-key",
                "tenant.api_key",
                tenant.api_key.expose_secret(),
            ),
            ("x-tenant", "tenant.tenant", tenant.tenant.as_str()),
            ("x-env", "tenant.env", tenant.env.as_str()),
            ("x-banknu", "tenant.banknu", tenant.banknu.as_str()),
        ] {
            if value.is_empty() {
                return Err(Error::invalid_input(field, "is empty"));
            }
            let mut header = HeaderValue::from_str(value).map_err(|_| {
                Error::invalid_input(field, "contains characters not allowed in a header")
            })?;
            header.set_sensitive(name == "x-api-key");
            tenant_headers.insert(HeaderName::from_static(name), header);
        }
        Ok(ApiShared {
            api,
            base_url: url.as_str().trim_end_matches('/').to_string(),
            http: http_client(&options)?,
            in_flight: match options.max_connections {
                Some(0) => {
                    return Err(Error::invalid_input(
                        "http_options.max_connections",
                        "must be at least 1",
                    ))
                }
                Some(n) => Some(Arc::new(tokio::sync::Semaphore::new(n))),
                None => None,
            },
            secrets: std::iter::once(tenant.api_key.clone())
                .chain(secrets)
                .collect(),
            tenant,
            tenant_headers,
            options,
            rate_limit: Mutex::new(None),
        })
    }

    /// Keeps the rate limit fields of an answer, if it has any.
    pub(crate) fn observe_rate_limit(&self, headers: &reqwest::header::HeaderMap) {
        if let Some(status) = rate_limit::read(headers, std::time::Instant::now()) {
            *self.rate_limit.lock().unwrap_or_else(|p| p.into_inner()) = Some(status);
        }
    }

    /// The rate limit fields of the last answer that carried any.
    pub(crate) fn rate_limit_status(&self) -> Option<RateLimitStatus> {
        *self.rate_limit.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The HTTP client both APIs use: rustls with the aws-lc-rs provider (the one reqwest builds;
/// hybrid post-quantum key exchange, X25519MLKEM768, offered first), preconfigured, the
/// platform's roots plus [`HttpOptions::extra_roots`], HTTP/2 or 1.1 by ALPN, no redirects (a
/// token request must never be forwarded), the configured timeouts.
///
/// reqwest's `rustls` feature (with its aws-lc-rs default provider) is kept: Cargo unifies
/// features, and with `rustls-no-provider` alone an application's own
/// `reqwest::Client::builder().build()` would panic for want of a provider
/// (`tests/downstream.rs` builds such an application).
pub(crate) fn http_client(options: &HttpOptions) -> Result<reqwest::Client> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let roots = options.extra_roots.iter().map(|r| r.0.clone());
    let verifier =
        rustls_platform_verifier::Verifier::new_with_extra_roots(roots, provider.clone()).map_err(
            |e| match descriptors_exhausted() {
                true => Error::Config(
                    "TLS roots could not be read: this process has run out of file descriptors \
                     (EMFILE); raise the limit (`ulimit -n`) or open fewer connections"
                        .into(),
                ),
                false => Error::Config(format!("TLS roots: {e}")),
            },
        )?;
    let mut tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Config(format!("TLS: {e}")))?
        .dangerous() // a custom verifier: the platform's, with the extra roots
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    tls.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(options.connect_timeout)
        .timeout(options.request_timeout)
        .build()
        .map_err(|e| Error::Config(format!("HTTP client: {}", describe(&e))))
}

/// Whether opening a file fails because the process has no descriptor left (EMFILE) or the
/// system has none (ENFILE): the real cause behind a "no CA certificates" error.
fn descriptors_exhausted() -> bool {
    const ENFILE: i32 = 23;
    const EMFILE: i32 = 24;
    match std::fs::File::open(std::env::temp_dir()) {
        Ok(_) => false,
        Err(e) => cfg!(unix) && matches!(e.raw_os_error(), Some(EMFILE | ENFILE)),
    }
}
