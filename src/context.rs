//! The end user on whose behalf a call is made: language, time zone, user agent, IP.
//!
//! Set per client (defaults) and per call ([`EndUserContext::merged_over`]): a per-call value wins.

use reqwest::header::HeaderValue;

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
    /// character) within the documents' bounds (the `maxLength` of each header that carries it:
    /// `lang` 35, `tzone` 64, `user_agent` 512 and `ip` 45 characters).
    pub fn validate(&self) -> Result<()> {
        for (member, value) in [
            ("lang", &self.lang),
            ("tzone", &self.tzone),
            ("user_agent", &self.user_agent),
            ("ip", &self.ip),
        ] {
            let Some(v) = value else { continue };
            let field = format!("context.{member}");
            HeaderValue::from_str(v).map_err(|_| {
                Error::invalid_input(&field, "contains characters not allowed in a header")
            })?;
            let max = crate::operations::context_headers()
                .iter()
                .filter(|h| h.member == member)
                .map(|h| h.max_length)
                .min();
            let len = v.chars().count();
            if let Some(max) = max.filter(|max| len > *max) {
                return Err(Error::invalid_input(
                    field,
                    format!("is {len} characters; at most {max} are allowed"),
                ));
            }
        }
        Ok(())
    }
}
