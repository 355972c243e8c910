//! One builder for both clients: the shared settings once, each API's credentials apart.

use std::sync::Arc;

use secrecy::{ExposeSecret, SecretString};

use crate::{
    config::{parse_base_url, HttpOptions, OAuthCredentials, Tenant},
    context::EndUserContext,
    transport::{Api, ApiShared},
    Error, Result,
};

/// Builder of a client; see [`crate::ComplianceClientBuilder`] and
/// [`crate::BiometricsClientBuilder`] for the credentials each needs.
#[derive(Debug)]
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
    fn shared(self, api: Api, name: &str) -> Result<(Arc<ApiShared>, EndUserContext, C)> {
        let tenant = self
            .tenant
            .ok_or_else(|| Error::Config(format!("{name} client: tenant headers are not set")))?;
        self.context.validate()?;
        let url = parse_base_url(&format!("{name} base_url"), &self.base_url)?;
        let shared = Arc::new(ApiShared::new(api, &url, tenant, self.options)?);
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
            self.shared(Api::Compliance, "compliance")?;
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
            self.shared(Api::Biometrics, "biometrics")?;
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
