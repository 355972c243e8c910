//! Client configuration: credentials, tenant headers, endpoints, timeouts, retries.
//!
//! Every credential is a [`SecretString`]: it prints as `[REDACTED]` in `Debug` and is exposed
//! only where a header is written.

use std::time::Duration;

use secrecy::SecretString;
use url::Url;

use crate::{retry::RetryPolicy, Error, Result};

/// Production base URL of the compliance API.
pub const COMPLIANCE_URL: &str = "https://api.preventor.com";
/// Production base URL of the biometrics API.
pub const BIOMETRICS_URL: &str = "https://api.preventor.id";
/// Default connect timeout.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Default timeout of one attempt of a request, from sending to the end of the response.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// The tenant headers sent on every call of both APIs. Built with named fields (or
/// [`Tenant::from_env`]); secrets convert with `.into()`:
///
/// ```
/// let tenant = preventor::Tenant {
///     api_key: "api-key".into(),
///     tenant: "tenant".into(),
///     env: "env".into(),
///     banknu: "banknu".into(),
/// };
/// # let _ = tenant;
/// ```
#[derive(Clone, Debug)]
pub struct Tenant {
    /// `x-api-key`: API key of the company.
    pub api_key: SecretString,
    /// `x-tenant`: name of the tenant assigned by Preventor.
    pub tenant: String,
    /// `x-env`: schema name.
    pub env: String,
    /// `x-banknu`: entity id.
    pub banknu: String,
}

impl Tenant {
    /// Reads `PREVENTOR_API_KEY`, `PREVENTOR_TENANT`, `PREVENTOR_ENV` and `PREVENTOR_BANKNU`.
    pub fn from_env() -> Result<Self> {
        Ok(Tenant {
            api_key: env_var("PREVENTOR_API_KEY")?.into(),
            tenant: env_var("PREVENTOR_TENANT")?,
            env: env_var("PREVENTOR_ENV")?,
            banknu: env_var("PREVENTOR_BANKNU")?,
        })
    }
}

/// Credentials of the compliance OAuth 2.0 password grant, built with named fields (or
/// [`OAuthCredentials::from_env`]):
///
/// ```
/// let credentials = preventor::OAuthCredentials {
///     client_id: "client-id".into(),
///     client_secret: "client-secret".into(),
///     username: "user@example.com".into(),
///     password: "password".into(),
///     scope: "read".into(),
/// };
/// # let _ = credentials;
/// ```
#[derive(Clone, Debug)]
pub struct OAuthCredentials {
    /// OAuth client id (also the user part of the token call's Basic authentication).
    pub client_id: String,
    /// OAuth client secret.
    pub client_secret: SecretString,
    /// Username assigned by Preventor.
    pub username: String,
    /// Password assigned by Preventor.
    pub password: SecretString,
    /// Requested scope.
    pub scope: String,
}

impl OAuthCredentials {
    /// Reads `PREVENTOR_CLIENT_ID`, `PREVENTOR_CLIENT_SECRET`, `PREVENTOR_USERNAME`,
    /// `PREVENTOR_PASSWORD` and `PREVENTOR_SCOPE`.
    pub fn from_env() -> Result<Self> {
        Ok(OAuthCredentials {
            client_id: env_var("PREVENTOR_CLIENT_ID")?,
            client_secret: env_var("PREVENTOR_CLIENT_SECRET")?.into(),
            username: env_var("PREVENTOR_USERNAME")?,
            password: env_var("PREVENTOR_PASSWORD")?.into(),
            scope: env_var("PREVENTOR_SCOPE")?,
        })
    }
}

/// HTTP behaviour shared by both clients.
#[derive(Clone, Debug)]
pub struct HttpOptions {
    /// Connect timeout; default [`DEFAULT_CONNECT_TIMEOUT`].
    pub connect_timeout: Duration,
    /// Timeout of one attempt; default [`DEFAULT_REQUEST_TIMEOUT`].
    pub request_timeout: Duration,
    /// Automatic retries; see [`RetryPolicy`].
    pub retry: RetryPolicy,
    /// Root certificates trusted besides the platform's (a corporate TLS proxy's CA, say).
    pub extra_roots: Vec<RootCertificate>,
    /// Most requests of one client in flight at once, from sending to reading the answer;
    /// callers beyond it wait their turn. Over HTTP/1.1 each request in flight needs its own
    /// connection, so this caps the connections (and file descriptors) a burst opens. `None`
    /// (the default): unbounded, as reqwest.
    pub max_connections: Option<usize>,
}

impl Default for HttpOptions {
    fn default() -> Self {
        HttpOptions {
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            retry: RetryPolicy::default(),
            extra_roots: Vec::new(),
            max_connections: None,
        }
    }
}

/// A trusted root certificate (DER).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RootCertificate(pub(crate) rustls::pki_types::CertificateDer<'static>);

impl RootCertificate {
    /// Every certificate of a PEM bundle; an error when there is none or one is malformed.
    pub fn from_pem(pem: &[u8]) -> Result<Vec<RootCertificate>> {
        use rustls::pki_types::{pem::PemObject, CertificateDer};
        let roots = CertificateDer::pem_slice_iter(pem)
            .map(|c| c.map(RootCertificate))
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| Error::invalid_input("root certificate PEM", e.to_string()))?;
        if roots.is_empty() {
            return Err(Error::invalid_input(
                "root certificate PEM",
                "holds no certificate",
            ));
        }
        Ok(roots)
    }
}

/// Parses a base URL: `https://` anywhere, `http://` only to a loopback host.
pub(crate) fn parse_base_url(field: &str, raw: &str) -> Result<Url> {
    let url =
        Url::parse(raw).map_err(|e| Error::invalid_input(field, format!("not a URL: {e}")))?;
    match url.scheme() {
        "https" => {}
        "http" if is_loopback(&url) => {}
        "http" => {
            return Err(Error::invalid_input(
                field,
                "plain http:// is refused except to a loopback host; use https://",
            ))
        }
        other => {
            return Err(Error::invalid_input(
                field,
                format!("unsupported scheme {other}"),
            ))
        }
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(Error::invalid_input(
            field,
            "credentials in the URL are refused",
        ));
    }
    // Paths are appended to the base URL as text: a query or fragment would swallow them.
    if url.query().is_some() || url.fragment().is_some() {
        return Err(Error::invalid_input(
            field,
            "a query ('?') or fragment ('#') is refused: give the scheme, host and path only",
        ));
    }
    Ok(url)
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// The environment variables [`ComplianceClient::from_env`](crate::ComplianceClient::from_env)
/// requires (`PREVENTOR_COMPLIANCE_URL` is optional).
pub const COMPLIANCE_ENV: [&str; 9] = [
    "PREVENTOR_API_KEY",
    "PREVENTOR_TENANT",
    "PREVENTOR_ENV",
    "PREVENTOR_BANKNU",
    "PREVENTOR_CLIENT_ID",
    "PREVENTOR_CLIENT_SECRET",
    "PREVENTOR_USERNAME",
    "PREVENTOR_PASSWORD",
    "PREVENTOR_SCOPE",
];

/// The environment variables [`BiometricsClient::from_env`](crate::BiometricsClient::from_env)
/// requires (`PREVENTOR_BIOMETRICS_URL` is optional).
pub const BIOMETRICS_ENV: [&str; 5] = [
    "PREVENTOR_API_KEY",
    "PREVENTOR_TENANT",
    "PREVENTOR_ENV",
    "PREVENTOR_BANKNU",
    "PREVENTOR_API_SECRET",
];

/// Of `names`, the environment variables that are unset or empty, in order.
pub fn missing_env<'a>(names: &[&'a str]) -> Vec<&'a str> {
    names
        .iter()
        .copied()
        .filter(|name| std::env::var_os(name).is_none_or(|v| v.is_empty()))
        .collect()
}

/// An error naming every unset variable of `names`, so that one run shows all of them.
pub(crate) fn require_env(names: &[&str]) -> Result<()> {
    match missing_env(names).as_slice() {
        [] => Ok(()),
        missing => Err(Error::Config(format!(
            "environment variables not set: {}",
            missing.join(", ")
        ))),
    }
}

/// Reads a required environment variable.
pub(crate) fn env_var(name: &str) -> Result<String> {
    match std::env::var(name) {
        Ok(v) if !v.is_empty() => Ok(v),
        _ => Err(Error::Config(format!(
            "environment variable {name} is not set"
        ))),
    }
}

/// Reads an optional environment variable.
pub(crate) fn env_var_or(name: &str, default: &str) -> String {
    std::env::var(name)
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| default.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_only_to_loopback() {
        assert!(parse_base_url("u", "http://127.0.0.1:8080").is_ok());
        assert!(parse_base_url("u", "http://localhost:1").is_ok());
        assert!(parse_base_url("u", "http://[::1]:1").is_ok());
        assert!(parse_base_url("u", "https://api.preventor.com").is_ok());
        let err = parse_base_url("u", "http://api.preventor.com").unwrap_err();
        assert!(
            err.to_string().contains("plain http:// is refused"),
            "{err}"
        );
        assert!(parse_base_url("u", "ftp://x").is_err());
        assert!(parse_base_url("u", "https://user:pw@x").is_err());
        for bad in [
            "http://127.0.0.1:1/?tenant=x",
            "http://127.0.0.1:1/#f",
            "https://x/?",
        ] {
            let err = parse_base_url("u", bad).unwrap_err().to_string();
            assert!(err.contains("query"), "{bad}: {err}");
        }
    }
}
