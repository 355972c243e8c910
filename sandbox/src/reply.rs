//! Error bodies (the documents' `ErrorBody`) and the header checks shared by both APIs.

use axum::{
    http::{header, HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    Json,
};
use base64::Engine;
use serde_json::json;

use crate::Credentials;

/// What a handler returns: its answer, or the error answer it stopped at.
pub(crate) type Reply = Result<Response, Response>;

/// `{status, code, message}` with `status`.
pub(crate) fn error(status: u16, code: &str, message: &str) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (
        status,
        Json(json!({"status": status.as_u16(), "code": code, "message": message})),
    )
        .into_response()
}

pub(crate) fn bad_request(message: impl AsRef<str>) -> Response {
    error(400, "BAD_REQUEST", message.as_ref())
}

pub(crate) fn not_found(message: impl AsRef<str>) -> Response {
    error(404, "NOT_FOUND", message.as_ref())
}

/// RFC 6749 §5.2 error.
pub(crate) fn oauth_error(status: u16, error: &str, description: &str) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
    (
        status,
        Json(json!({"error": error, "error_description": description})),
    )
        .into_response()
}

/// Tenant headers: missing or wrong tenant/env/banknu, or a missing API key, is 403 ("The
/// request don't have correct headers"); a wrong API key is 401 ("Your API key is wrong").
/// Messages name the header, never its value.
pub(crate) fn check_tenant(headers: &HeaderMap, expected: &Credentials) -> Result<(), Response> {
    for (name, want) in [
        ("x-tenant", &expected.tenant),
        ("x-env", &expected.env),
        ("x-banknu", &expected.banknu),
    ] {
        match headers.get(name).and_then(|v| v.to_str().ok()) {
            None => return Err(error(403, "FORBIDDEN", &format!("missing {name} header"))),
            Some(v) if v != want => {
                return Err(error(403, "FORBIDDEN", &format!("unknown {name}")))
            }
            Some(_) => {}
        }
    }
    match headers.get("x-api-key").and_then(|v| v.to_str().ok()) {
        None => Err(error(403, "FORBIDDEN", "missing x-api-key header")),
        Some(v) if v != expected.api_key => Err(error(401, "UNAUTHORIZED", "API key is wrong")),
        Some(_) => Ok(()),
    }
}

/// The (user, secret) of a Basic `Authorization`.
pub(crate) fn basic(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let encoded = value.strip_prefix("Basic ")?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, secret) = text.split_once(':')?;
    Some((user.to_string(), secret.to_string()))
}

/// The token of a Bearer `Authorization`.
pub(crate) fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
}

/// A JSON body decoded into a generated type, or the 400 the documents call for.
pub(crate) fn json_body<T: serde::de::DeserializeOwned>(
    headers: &HeaderMap,
    body: &[u8],
) -> Result<T, Response> {
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !json {
        return Err(bad_request("Content-Type must be application/json"));
    }
    serde_json::from_slice(body).map_err(|e| bad_request(format!("request body: {}", describe(&e))))
}

/// serde's message without the values it quotes (they could be personal data): the SDK's own
/// rule.
fn describe(e: &serde_json::Error) -> String {
    preventor::redacted::without_values(&e.to_string())
}

/// The context headers respect the documents' bounds, or the 400 they call for.
pub(crate) fn check_context(headers: &HeaderMap) -> Result<(), Response> {
    for header in preventor::operations::context_headers() {
        let (name, max) = (header.name, header.max_length);
        for value in headers.get_all(name) {
            if value.len() > max {
                return Err(bad_request(format!(
                    "header {name} is longer than {max} characters"
                )));
            }
        }
    }
    Ok(())
}

/// Whether the request's `Accept` (absent: anything) admits `application/json`.
pub(crate) fn accepts_json(headers: &HeaderMap) -> bool {
    let mut ranges = headers
        .get_all(axum::http::header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .peekable();
    if ranges.peek().is_none() {
        return true;
    }
    ranges.any(|range| {
        let mut parts = range.split(';');
        let media = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
        let refused = parts.any(|p| {
            p.split_once('=').is_some_and(|(k, v)| {
                k.trim() == "q" && v.trim().parse::<f32>().is_ok_and(|q| q <= 0.0)
            })
        });
        !refused && matches!(media.as_str(), "*/*" | "application/*" | "application/json")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_admits_json_or_not() {
        let with = |v: &str| {
            let mut h = HeaderMap::new();
            h.insert(axum::http::header::ACCEPT, v.parse().unwrap());
            accepts_json(&h)
        };
        assert!(accepts_json(&HeaderMap::new()));
        assert!(with("application/json"));
        assert!(with("*/*"));
        assert!(with("text/html, application/*;q=0.5"));
        assert!(!with("text/xml"));
        assert!(!with("application/json;q=0"));
    }
}
