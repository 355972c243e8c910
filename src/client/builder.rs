//! One builder for both clients: the shared settings once, each API's credentials apart.

use std::sync::Arc;

use secrecy::{ExposeSecret, SecretString};

use crate::{
    config::{parse_base_url, HttpOptions, OAuthCredentials, Tenant},
    context::EndUserContext,
    scrub,
    transport::{Api, ApiShared},
    Error, Result,
};

/// Builder of a client; see [`crate::ComplianceClientBuilder`] and
/// [`crate::BiometricsClientBuilder`] for the credentials each needs.
pub struct ClientBuilder<C> {
    base_url: String,
    tenant: Option<Tenant>,
    options: HttpOptions,
    context: EndUserContext,
    credentials: C,
}

/// What only the compliance client needs.
#[derive(Debug, Default)]
pub struct ComplianceCredentials(Option<OAuthCredentials>);

/// What only the biometrics client needs.
#[derive(Debug, Default)]
pub struct BiometricsCredentials(Option<SecretString>);

impl<C: std::fmt::Debug> std::fmt::Debug for ClientBuilder<C> {
    /// The base URL is shown as scheme, host, port and path only: user info, query and fragment
    /// (which `build` refuses, and which may hold a secret) are left out.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("base_url", &shown_url(&self.base_url))
            .field("tenant", &self.tenant)
            .field("options", &self.options)
            .field("context", &self.context)
            .field("credentials", &self.credentials)
            .finish()
    }
}

/// `raw` without anything but its scheme, host, port and path.
fn shown_url(raw: &str) -> String {
    match url::Url::parse(raw) {
        Ok(url) => {
            let mut shown = format!("{}://{}", url.scheme(), url.host_str().unwrap_or(""));
            if let Some(port) = url.port() {
                shown.push_str(&format!(":{port}"));
            }
            shown.push_str(url.path());
            let hidden = !url.username().is_empty()
                || url.password().is_some()
                || url.query().is_some()
                || url.fragment().is_some();
            if hidden {
                shown.push_str(" (user info, query or fragment not shown)");
            }
            shown
        }
        Err(_) => "<not a URL>".into(),
    }
}

impl<C: Default> ClientBuilder<C> {
    pub(crate) fn new(base_url: &str) -> Self {
        ClientBuilder {
            base_url: base_url.into(),
            tenant: None,
            options: HttpOptions::default(),
            context: EndUserContext::default(),
            credentials: C::default(),
        }
    }
}

impl<C> ClientBuilder<C> {
    /// Base URL; defaults to production. `http://` is refused unless the host is loopback.
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.base_url = url.into();
        self
    }
    /// Tenant headers (required).
    pub fn tenant(mut self, tenant: Tenant) -> Self {
        self.tenant = Some(tenant);
        self
    }
    /// Timeouts and retry policy.
    pub fn http_options(mut self, options: HttpOptions) -> Self {
        self.options = options;
        self
    }
    /// End-user context sent on every call unless a call overrides it.
    pub fn context(mut self, context: EndUserContext) -> Self {
        self.context = context;
        self
    }

    /// Checks what both clients share; returns it with the API-specific part.
    fn shared(
        self,
        api: Api,
        name: &str,
        secrets: impl FnOnce(&Tenant, &C) -> Vec<SecretString>,
    ) -> Result<(Arc<ApiShared>, EndUserContext, C)> {
        let tenant = self
            .tenant
            .ok_or_else(|| Error::Config(format!("{name} client: tenant headers are not set")))?;
        self.context.validate()?;
        let url = parse_base_url(&format!("{name} base_url"), &self.base_url)?;
        let secrets = secrets(&tenant, &self.credentials);
        let shared = Arc::new(ApiShared::new(api, &url, tenant, self.options, secrets)?);
        Ok((shared, self.context, self.credentials))
    }
}

impl ClientBuilder<ComplianceCredentials> {
    /// OAuth credentials (required).
    pub fn credentials(mut self, credentials: OAuthCredentials) -> Self {
        self.credentials = ComplianceCredentials(Some(credentials));
        self
    }

    /// Checks the configuration and builds the client. Sends nothing.
    pub fn build(self) -> Result<crate::ComplianceClient> {
        let (shared, context, ComplianceCredentials(credentials)) =
            self.shared(Api::Compliance, "compliance", |_, credentials| {
                credentials.0.as_ref().map_or_else(Vec::new, |c| {
                    let secret = c.client_secret.expose_secret();
                    scrub::basic_forms(&c.client_id, secret)
                        .into_iter()
                        .map(SecretString::from)
                        .chain([c.client_secret.clone(), c.password.clone()])
                        .collect()
                })
            })?;
        let credentials = credentials.ok_or_else(|| {
            Error::Config("compliance client: OAuth credentials are not set".into())
        })?;
        if credentials.client_id.contains(':') {
            return Err(Error::invalid_input(
                "credentials.client_id",
                "must not contain ':'",
            ));
        }
        Ok(crate::ComplianceClient::new(shared, credentials, context))
    }
}

impl ClientBuilder<BiometricsCredentials> {
    /// API secret, the password of the token call's Basic authentication (required).
    pub fn api_secret(mut self, secret: impl Into<String>) -> Self {
        self.credentials = BiometricsCredentials(Some(SecretString::from(secret.into())));
        self
    }

    /// Checks the configuration and builds the client. Sends nothing.
    pub fn build(self) -> Result<crate::BiometricsClient> {
        let (shared, context, BiometricsCredentials(secret)) =
            self.shared(Api::Biometrics, "biometrics", |tenant, credentials| {
                credentials.0.as_ref().map_or_else(Vec::new, |secret| {
                    let key = tenant.api_key.expose_secret();
                    scrub::basic_forms(key, secret.expose_secret())
                        .into_iter()
                        .map(SecretString::from)
                        .chain([secret.clone()])
                        .collect()
                })
            })?;
        let secret = secret
            .filter(|s| !s.expose_secret().is_empty())
            .ok_or_else(|| Error::Config("biometrics client: API secret is not set".into()))?;
        if shared.tenant.api_key.expose_secret().contains(':') {
            return Err(Error::invalid_input(
                "tenant.api_key",
                "must not contain ':'",
            ));
        }
        Ok(crate::BiometricsClient::new(shared, secret, context))
    }
}
