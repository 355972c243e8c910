//! The end user on whose behalf a call is made: language, time zone, user agent, IP.
//!
//! Set per client (defaults) and per call ([`EndUserContext::merged_over`]): a per-call value wins.

use reqwest::header::{
    HeaderMap, HeaderName, HeaderValue, ACCEPT, AUTHORIZATION, CONTENT_TYPE, USER_AGENT,
};

use crate::{Error, Result};

/// User agent sent when no end-user agent is set.
pub const SDK_USER_AGENT: &str = concat!("preventor-rust/", env!("CARGO_PKG_VERSION"));

/// End-user context headers. Compliance calls send `X-lang`, `X-tzone`, `User-Agent` with
/// `x-user-agent` (the page uses both spellings), and `X-Real-IP`; biometrics calls send `x-ip`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EndUserContext {
    /// Language of the end user (`X-lang`).
    pub lang: Option<String>,
    /// Time zone of the end user (`X-tzone`).
    pub tzone: Option<String>,
    /// User agent of the end user's navigator (`User-Agent` and `x-user-agent`).
    pub user_agent: Option<String>,
    /// IP address of the end user (`X-Real-IP` on compliance, `x-ip` on biometrics).
    pub ip: Option<String>,
}

impl EndUserContext {
    /// Sets the language.
    pub fn lang(mut self, v: impl Into<String>) -> Self {
        self.lang = Some(v.into());
        self
    }
    /// Sets the time zone.
    pub fn tzone(mut self, v: impl Into<String>) -> Self {
        self.tzone = Some(v.into());
        self
    }
    /// Sets the end user's user agent.
    pub fn user_agent(mut self, v: impl Into<String>) -> Self {
        self.user_agent = Some(v.into());
        self
    }
    /// Sets the end user's IP address.
    pub fn ip(mut self, v: impl Into<String>) -> Self {
        self.ip = Some(v.into());
        self
    }

    /// This context with `defaults` filling what it leaves unset.
    pub fn merged_over(&self, defaults: &EndUserContext) -> EndUserContext {
        EndUserContext {
            lang: self.lang.clone().or_else(|| defaults.lang.clone()),
            tzone: self.tzone.clone().or_else(|| defaults.tzone.clone()),
            user_agent: self
                .user_agent
                .clone()
                .or_else(|| defaults.user_agent.clone()),
            ip: self.ip.clone().or_else(|| defaults.ip.clone()),
        }
    }

    /// Checks every value before sending: a valid header value (no CR, LF or other control
    /// character) within the documents' bounds (`lang` 35, `tzone` 64, `user_agent` 512 and
    /// `ip` 45 characters).
    pub fn validate(&self) -> Result<()> {
        for (field, value, max) in [
            ("context.lang", &self.lang, 35),
            ("context.tzone", &self.tzone, 64),
            ("context.user_agent", &self.user_agent, 512),
            ("context.ip", &self.ip, 45),
        ] {
            if let Some(v) = value {
                HeaderValue::from_str(v).map_err(|_| {
                    Error::invalid_input(field, "contains characters not allowed in a header")
                })?;
                let len = v.chars().count();
                if len > max {
                    return Err(Error::invalid_input(
                        field,
                        format!("is {len} characters; at most {max} are allowed"),
                    ));
                }
            }
        }
        Ok(())
    }

    /// The tenant headers of `shared` and the headers of this context, as one map built once
    /// (per client, per `with_context`, per session) and then copied into each request.
    pub(crate) fn headers(
        &self,
        shared: &crate::transport::ApiShared,
    ) -> std::sync::Arc<ContextHeaders> {
        use crate::transport::Api;
        // Room for everything a request adds, so that a copy never grows (see `ContextHeaders`).
        let mut headers = HeaderMap::with_capacity(shared.tenant_headers.len() + 16);
        for (name, value) in &shared.tenant_headers {
            headers.insert(name.clone(), value.clone());
        }
        let mut set = |name: &'static str, value: &Option<String>| {
            if let Some(v) = value.as_deref().and_then(|v| HeaderValue::from_str(v).ok()) {
                headers.insert(HeaderName::from_static(name), v);
            }
        };
        match shared.api {
            Api::Compliance => {
                set("x-lang", &self.lang);
                set("x-tzone", &self.tzone);
                set("x-user-agent", &self.user_agent);
                set("x-real-ip", &self.ip);
            }
            Api::Biometrics => set("x-ip", &self.ip),
        }
        let agent = self
            .user_agent
            .as_deref()
            .and_then(|v| HeaderValue::from_str(v).ok())
            .unwrap_or(HeaderValue::from_static(SDK_USER_AGENT));
        headers.insert(USER_AGENT, agent);
        // Every documented answer of both APIs is JSON; a request's own `accept` replaces it.
        headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
        // Slots a request fills in (or, for a content type, drops when it has no body).
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        headers.insert(AUTHORIZATION, HeaderValue::from_static(""));
        std::sync::Arc::new(ContextHeaders(headers))
    }
}

/// The tenant headers of one client and the end-user headers of one context, for one API,
/// ready to copy into requests.
///
/// The map also holds `accept`, `content-type` and `authorization`, which every request sets or
/// replaces: a copy has a slot for each, so that filling in a request allocates nothing beyond
/// the copy itself (a cloned map has no spare room: one new header would grow it twice).
#[derive(Debug)]
pub(crate) struct ContextHeaders(HeaderMap);

impl ContextHeaders {
    /// A copy of the tenant and context headers, with the `accept`, `content-type` and
    /// `authorization` slots still to be set.
    pub(crate) fn to_map(&self) -> HeaderMap {
        self.0.clone()
    }
}
