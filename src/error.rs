//! The crate's one error type.
//!
//! `Display` is one line and never contains a secret or a response body: the server's code and
//! message are shown scrubbed (one line, bounded, no credential: see `scrub.rs`); raw bodies are
//! kept in [`ApiError::body`] (capped) for the caller to inspect deliberately.

use std::{fmt, time::Duration};

use reqwest::StatusCode;

use crate::meaning::Meaning;

/// Result alias for this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Most bytes of an error response body kept in [`ApiError::body`].
pub const MAX_ERROR_BODY: usize = 16 * 1024;

/// Everything that can go wrong in a call.
#[derive(Clone, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The request could not be sent or its response not read (connection, TLS, DNS, body).
    #[error("{operation}: transport error: {message}")]
    Transport {
        /// operationId of the call.
        operation: &'static str,
        /// What failed, without URL credentials or bodies.
        message: String,
        /// Whether the request is known not to have reached the server.
        not_sent: bool,
    },
    /// The call did not complete within the configured timeout.
    #[error("{operation}: timed out")]
    Timeout {
        /// operationId of the call.
        operation: &'static str,
    },
    /// Credentials or token were refused, or a token could not be obtained.
    #[error("{operation}: authentication failed: {reason}")]
    Auth {
        /// operationId of the call.
        operation: &'static str,
        /// Why (never the credential itself).
        reason: String,
        /// The server's answer, when there was one.
        response: Option<Box<ApiError>>,
    },
    /// The server answered with an error status.
    #[error("{operation}: {0}", operation = .0.operation)]
    Api(Box<ApiError>),
    /// Input was rejected before anything was sent.
    #[error("invalid input: {field}: {problem}")]
    InvalidInput {
        /// Which input (field path, file, setting).
        field: String,
        /// What is wrong with it.
        problem: String,
    },
    /// The client configuration is incomplete or wrong.
    #[error("configuration: {0}")]
    Config(String),
    /// A success response did not match the documented schema.
    #[error("{operation}: invalid response: {reason}")]
    InvalidResponse {
        /// operationId of the call.
        operation: &'static str,
        /// What did not match (values redacted).
        reason: String,
    },
    /// The server's answer says the subject did not pass (liveness, photo match, MRZ).
    #[error("rejected: {reason}")]
    Rejected {
        /// What did not pass.
        reason: String,
    },
}

impl Error {
    /// The HTTP status of the server's answer, if the error carries one.
    pub fn status(&self) -> Option<StatusCode> {
        match self {
            Error::Api(e) => Some(e.status),
            Error::Auth {
                response: Some(e), ..
            } => Some(e.status),
            _ => None,
        }
    }

    /// The server's answer, for an API error or an auth error that came with one.
    pub fn api(&self) -> Option<&ApiError> {
        match self {
            Error::Api(e) => Some(e),
            Error::Auth {
                response: Some(e), ..
            } => Some(e),
            _ => None,
        }
    }

    /// The server's machine-readable error code (see [`ApiError::code`]).
    pub fn code(&self) -> Option<&str> {
        self.api()?.code()
    }

    /// The server's human-readable message (see [`ApiError::message`]).
    pub fn message(&self) -> Option<&str> {
        self.api()?.message()
    }

    /// How long the server asked to wait (`Retry-After`), on a 429 or 503 from any call,
    /// the token calls included.
    pub fn retry_after(&self) -> Option<Duration> {
        self.api()?.retry_after
    }

    /// True when sending the same call again cannot process it twice: the server refused it
    /// for rate (429, RFC 6585), or the request is known not to have left this machine. Wait
    /// [`Self::retry_after`] first. A timeout or a 5xx is not retryable in this sense for a
    /// write (it may have been processed: see [`Self::is_ambiguous`]).
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Transport { not_sent, .. } => *not_sent,
            _ => self.is_rate_limited(),
        }
    }

    /// True for a 429: the server refused the call for rate and did not process it (RFC
    /// 6585). Wait [`Self::retry_after`] before sending it again.
    pub fn is_rate_limited(&self) -> bool {
        self.meaning() == Some(Meaning::RateLimited)
    }

    /// What the server's answer means, when there was one.
    pub(crate) fn meaning(&self) -> Option<Meaning> {
        self.status().map(Meaning::of)
    }

    /// True when the request may have reached the server and been processed although no answer
    /// says so: a timeout, a connection lost after sending, or a 5xx. For a write, find out
    /// (`get_customer` for a customer) before sending it again.
    pub fn is_ambiguous(&self) -> bool {
        match self {
            Error::Timeout { .. } => true,
            Error::Transport { not_sent, .. } => !not_sent,
            _ => self.meaning().is_some_and(Meaning::may_have_been_processed),
        }
    }

    /// True for a 404: the customer, account or user does not exist.
    pub fn is_not_found(&self) -> bool {
        self.meaning() == Some(Meaning::NotFound)
    }

    /// True when the server refused a create because the record exists already: a 409, or a
    /// 400 whose code or message says so (`already exists`, `duplicate`). Preventor documents no
    /// code for it; this reads what its servers say.
    pub fn is_already_exists(&self) -> bool {
        let Some(api) = self.api() else { return false };
        if api.status == StatusCode::CONFLICT {
            return true;
        }
        if api.status != StatusCode::BAD_REQUEST {
            return false;
        }
        [api.code(), api.message()].into_iter().flatten().any(|t| {
            let t = t.to_ascii_lowercase();
            t.contains("already exist") || t.contains("already_exist") || t.contains("duplicate")
        })
    }

    pub(crate) fn invalid_input(field: impl Into<String>, problem: impl Into<String>) -> Self {
        Error::InvalidInput {
            field: field.into(),
            problem: problem.into(),
        }
    }
}

/// An error status from the server, with what it said.
#[derive(Clone)]
#[non_exhaustive]
pub struct ApiError {
    /// operationId of the call.
    pub operation: &'static str,
    /// HTTP status.
    pub status: StatusCode,
    /// The server's request id (`x-request-id`, `x-correlation-id` or `x-amzn-requestid`),
    /// scrubbed and at most 128 characters.
    pub request_id: Option<String>,
    /// `Retry-After`, when the server sent one.
    pub retry_after: Option<Duration>,
    /// The raw body, at most [`MAX_ERROR_BODY`] bytes, exactly as the server sent it (it may
    /// echo anything the server received: never log it as it is). `Debug` shows its length.
    pub body: bytes::Bytes,
    /// The body decoded as the documents' shared error schema, when it decodes; its text
    /// members are scrubbed (one line, no credential).
    pub details: Option<ErrorDetails>,
}

/// The documents' shared, tolerant error body (`ErrorBody`), with members common to both APIs.
#[derive(Clone, Debug, Default, serde::Deserialize)]
#[non_exhaustive]
pub struct ErrorDetails {
    /// Service status or code.
    pub status: Option<serde_json::Value>,
    /// Machine-readable error code.
    pub code: Option<String>,
    /// Human-readable message.
    pub message: Option<String>,
    /// RFC 6749 §5.2 error code (token endpoint).
    pub error: Option<String>,
    /// RFC 6749 §5.2 description (token endpoint).
    pub error_description: Option<String>,
}

impl ApiError {
    /// The most specific machine-readable code the body carries (`code`, else OAuth `error`).
    pub fn code(&self) -> Option<&str> {
        let d = self.details.as_ref()?;
        d.code.as_deref().or(d.error.as_deref())
    }

    /// The server's human-readable reason (`message`, else OAuth `error_description`).
    pub fn message(&self) -> Option<&str> {
        let d = self.details.as_ref()?;
        d.message.as_deref().or(d.error_description.as_deref())
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "server answered {}", self.status)?;
        if let Some(code) = self.code() {
            write!(f, " ({})", crate::scrub::bound(code.to_owned(), 64))?;
        }
        if let Some(message) = self.message() {
            let message = crate::scrub::bound(message.to_owned(), crate::scrub::MAX_SHOWN);
            write!(f, ": {message}")?;
        }
        if let Some(id) = &self.request_id {
            write!(f, ", request id {id}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiError")
            .field("operation", &self.operation)
            .field("status", &self.status)
            .field("request_id", &self.request_id)
            .field("retry_after", &self.retry_after)
            .field("body", &format_args!("<{} bytes>", self.body.len()))
            .field("code", &self.code())
            .finish()
    }
}
