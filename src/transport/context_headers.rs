//! The headers every request of a client carries before its own: the tenant's, the end user's
//! context, and the slots a request fills in. Built once per client, per `with_context` and per
//! session, then copied into each request.

use std::sync::Arc;

use reqwest::header::{
    HeaderMap, HeaderName, HeaderValue, ACCEPT, AUTHORIZATION, CONTENT_TYPE, USER_AGENT,
};

use super::{Api, ApiShared};
use crate::context::{EndUserContext, SDK_USER_AGENT};

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

impl ApiShared {
    /// The tenant headers of this client and the headers of `context` (the names its API
    /// uses), as one map.
    pub(crate) fn context_headers(&self, context: &EndUserContext) -> Arc<ContextHeaders> {
        // Room for everything a request adds, so that a copy never grows (see `ContextHeaders`).
        let mut headers = HeaderMap::with_capacity(self.tenant_headers.len() + 16);
        for (name, value) in &self.tenant_headers {
            headers.insert(name.clone(), value.clone());
        }
        // The documents' context headers of this API (`User-Agent` is set below, for both).
        let document = match self.api {
            Api::Compliance => "compliance",
            Api::Biometrics => "biometrics",
        };
        for header in crate::operations::context_headers() {
            if header.document != document || header.name == "user-agent" {
                continue;
            }
            let value = match header.member {
                "lang" => &context.lang,
                "tzone" => &context.tzone,
                "user_agent" => &context.user_agent,
                _ => &context.ip,
            };
            if let Some(v) = value.as_deref().and_then(|v| HeaderValue::from_str(v).ok()) {
                headers.insert(HeaderName::from_static(header.name), v);
            }
        }
        let agent = context
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
        Arc::new(ContextHeaders(headers))
    }
}
