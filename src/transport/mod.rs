//! What happens to every request, generated or hand-written: headers, auth, sending, retries,
//! the 401 replay, tracing, and turning the outcome into [`crate::Error`].
//!
//! The generated clients call into this module through their `ClientHooks` (see `hooks.rs`):
//! `pre` writes the headers, `exec` sends. Each call gets its own [`CallState`], which is the
//! generated client's inner value, so per-call context and failures never mix between calls.

mod context_headers;
mod credentials;
mod errors;
mod rate_limit;
mod responses;
mod shared;
mod spare;

use std::{
    sync::{Arc, Mutex},
    time::Instant,
};

use bytes::Bytes;
use progenitor_client::{OperationInfo, ResponseValue};
use reqwest::{
    header::{HeaderMap, HeaderValue, ACCEPT, AUTHORIZATION, CONTENT_TYPE},
    Request, Response,
};
use secrecy::{ExposeSecret, SecretString};
use tracing::{field::Empty, Instrument};

pub(crate) use context_headers::ContextHeaders;
pub(crate) use credentials::{AccessToken, CallAuth, TokenFuture, TokenProvider};
use errors::redact_serde;
pub(crate) use errors::{describe, from_api_error, from_reqwest};
pub use rate_limit::{RateLimitPolicy, RateLimitStatus};
use responses::{acknowledgement, plain_acknowledgement, rebuild};
pub(crate) use shared::{Api, ApiShared};
use spare::Spare;

use crate::{
    error::{ApiError, ErrorDetails, MAX_ERROR_BODY},
    meaning::Meaning,
    operations::{self, Operation},
    Error, Result,
};

/// Most characters of a server's request id that are kept.
const MAX_REQUEST_ID: usize = 128;

/// The inner value of a generated client for one call.
#[derive(Debug)]
pub struct CallState {
    pub(crate) shared: Arc<ApiShared>,
    pub(crate) context: Arc<ContextHeaders>,
    pub(crate) auth: CallAuth,
    /// Secrets this call sends besides its credentials (the refresh token of a refresh grant,
    /// the document numbers of a customer): kept out of server text we show.
    pub(crate) extra_secrets: Vec<SecretString>,
    outcome: Mutex<Outcome>,
}

/// A copy for other calls: same client, auth and secrets, an outcome of its own.
impl Clone for CallState {
    fn clone(&self) -> Self {
        CallState {
            shared: self.shared.clone(),
            context: self.context.clone(),
            auth: self.auth.clone(),
            extra_secrets: self.extra_secrets.clone(),
            outcome: Mutex::default(),
        }
    }
}

/// What the hooks learned during a call, read back by [`CallState::finish`].
#[derive(Debug, Default)]
struct Outcome {
    /// A typed failure the hooks could not return through progenitor's error type (boxed, as
    /// is the error response: rare, and the state is moved into each call's client).
    failure: Option<Box<Error>>,
    /// The last error response, with its raw body.
    api_error: Option<Box<ApiError>>,
    /// Generation of the compliance token the request carried.
    token_generation: Option<u64>,
    /// The compliance token the request carried (to keep it out of server text we show).
    token: Option<Arc<AccessToken>>,
    /// The in-flight permit of the last attempt, held until the answer has been read.
    permit: Option<tokio::sync::OwnedSemaphorePermit>,
    /// What the request's headers were made of (the generated code's own headers and the
    /// `authorization` value): a retry or a replay rebuilds them from it instead of every call
    /// keeping a copy of them.
    headers: Option<(HeaderMap, HeaderValue)>,
}

impl CallState {
    pub(crate) fn new(
        shared: Arc<ApiShared>,
        context: Arc<ContextHeaders>,
        auth: CallAuth,
    ) -> Self {
        CallState {
            shared,
            context,
            auth,
            extra_secrets: Vec::new(),
            outcome: Mutex::default(),
        }
    }

    /// Server text as the crate shows it: one line, at most `max` characters, without this
    /// call's credentials and tokens or anything shaped like a credential.
    fn scrub(&self, text: &str, max: usize) -> String {
        let outcome = self.outcome();
        let per_call = match &self.auth {
            CallAuth::Basic { user, secret } => vec![user, secret],
            CallAuth::Bearer(token) => vec![token],
            CallAuth::Token(_) => outcome.token.iter().map(|t| &t.secret).collect(),
        };
        let secrets = self
            .shared
            .secrets
            .iter()
            .chain(per_call)
            .chain(self.extra_secrets.iter())
            .map(|s| s.expose_secret());
        crate::scrub::scrub(text, secrets, max)
    }

    /// The decoded error body with every text member scrubbed.
    fn scrubbed_details(&self, body: &[u8]) -> Option<ErrorDetails> {
        let mut d = serde_json::from_slice::<ErrorDetails>(body).ok()?;
        let max = MAX_ERROR_BODY;
        for text in [
            &mut d.code,
            &mut d.message,
            &mut d.error,
            &mut d.error_description,
        ]
        .into_iter()
        .flatten()
        {
            *text = self.scrub(text, max);
        }
        if let Some(serde_json::Value::String(status)) = &mut d.status {
            *status = self.scrub(status, max);
        }
        Some(d)
    }

    fn outcome(&self) -> std::sync::MutexGuard<'_, Outcome> {
        self.outcome.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Writes tenant, context and auth headers; drops progenitor's `api-version`.
    pub(crate) async fn pre(
        &self,
        request: &mut Request,
        info: &OperationInfo,
    ) -> Result<(), String> {
        let op = operations::find(info.operation_id);
        let authorization = match &self.auth {
            CallAuth::Basic { user, secret } => credentials::basic(user, secret),
            CallAuth::Bearer(token) => credentials::bearer(token),
            CallAuth::Token(source) => match source.current().await {
                Ok((token, generation)) => {
                    let header = token.header.clone();
                    let mut outcome = self.outcome();
                    outcome.token_generation = Some(generation);
                    outcome.token = Some(token);
                    header
                }
                Err(e) => {
                    let message = format!("{}: no access token", op.id);
                    self.outcome().failure = Some(Box::new(e));
                    return Err(message);
                }
            },
        };
        let theirs = std::mem::take(request.headers_mut());
        *request.headers_mut() = self.headers(&theirs, authorization.clone());
        self.outcome().headers = Some((theirs, authorization));
        Ok(())
    }

    /// A request's headers: a copy of the client's tenant and context headers (hashed once,
    /// when the client was built), where the request's own `accept` and `content-type` take
    /// their slots (a request without a body has no content type) and its other headers are
    /// added unless ours name them (progenitor's `api-version` is dropped), and `authorization`.
    fn headers(&self, theirs: &HeaderMap, authorization: HeaderValue) -> HeaderMap {
        let mut headers = self.context.to_map();
        let mut has_content_type = false;
        for (name, value) in theirs.iter() {
            if name == ACCEPT {
                headers.insert(ACCEPT, value.clone());
            } else if name == CONTENT_TYPE {
                has_content_type = true;
                headers.insert(CONTENT_TYPE, value.clone());
            } else if name != "api-version" {
                headers.entry(name).or_insert_with(|| value.clone());
            }
        }
        if !has_content_type {
            headers.remove(CONTENT_TYPE);
        }
        headers.insert(AUTHORIZATION, authorization);
        headers
    }

    /// The request again from `spare`, its headers rebuilt as `pre` made them (with a new
    /// `authorization` when one is given, kept for later attempts). `None` when `pre` did not
    /// run (nothing to rebuild the headers from).
    fn resend(&self, spare: Spare, authorization: Option<HeaderValue>) -> Option<Request> {
        let mut outcome = self.outcome();
        let (theirs, sent) = outcome.headers.as_mut()?;
        if let Some(new) = authorization {
            *sent = new;
        }
        let headers = self.headers(theirs, sent.clone());
        Some(spare.into_request(headers))
    }

    /// Sends the request: retries where [`crate::RetryPolicy`] allows, replays once after a 401
    /// with a fresh compliance token, and keeps the raw body of an error response; all inside
    /// the call's `preventor.call` span.
    pub(crate) fn exec(
        &self,
        request: Request,
        info: &OperationInfo,
    ) -> tracing::instrument::Instrumented<
        impl std::future::Future<Output = reqwest::Result<Response>> + '_,
    > {
        let op = operations::find(info.operation_id);
        // Our own fields, and OpenTelemetry's HTTP client semantic conventions (with
        // tracing-opentelemetry, `otel.kind` and `otel.status_code` set the span's kind and status).
        let span = tracing::info_span!(
            "preventor.call",
            operation = op.id,
            method = %op.method,
            path = op.path,
            status = Empty,
            attempt = Empty,
            duration_ms = Empty,
            otel.kind = "client",
            otel.status_code = Empty,
            http.request.method = %op.method,
            url.template = op.path,
            server.address = request.url().host_str().unwrap_or_default(),
            server.port = request.url().port_or_known_default(),
            http.response.status_code = Empty,
            http.request.resend_count = Empty,
            error.type = Empty,
        );
        self.send_with_policy(op, request).instrument(span)
    }

    /// [`CallState::exec`] inside its span: the attempts, then the call's result on the span.
    // The common case (a first answer that is final: a success) is kept apart from everything
    // else, which runs in one boxed future: this future is part of every call's future, and a
    // call's future is moved as a whole, so what only failures need should not make it larger.
    //
    // A plain `fn` returning an `async move` block: an `async fn` would copy its arguments into
    // locals of the future and keep both (the request twice).
    #[allow(
        clippy::manual_async_fn,
        reason = "an async fn keeps its arguments twice"
    )]
    fn send_with_policy(
        &self,
        op: &'static Operation,
        mut request: Request,
    ) -> impl std::future::Future<Output = reqwest::Result<Response>> + Send + '_ {
        async move {
            let span = tracing::Span::current();
            // Timed only when the span is recorded.
            let started = (!span.is_disabled()).then(Instant::now);
            // The first attempt, as in `send_once` (inline: one future less to nest).
            let spare = self.before_attempt(&span, 1, &mut request);
            let permit = self.permit().await;
            let sent = self.shared.http.execute(request).await;
            self.outcome().permit = permit;
            if let Ok(response) = &sent {
                self.shared.observe_rate_limit(response.headers());
            }
            let result = match sent {
                Ok(response)
                    if response.status().is_success()
                        && (!op.acknowledgement || plain_acknowledgement(&response)) =>
                {
                    Ok(response)
                }
                sent => Box::pin(self.follow_up(op, sent, spare)).await,
            };
            if let Some(started) = started {
                span.record("duration_ms", started.elapsed().as_millis() as u64);
            }
            match &result {
                Ok(r) => {
                    let status = r.status();
                    span.record("status", status.as_u16());
                    span.record("http.response.status_code", status.as_u16());
                    if status.is_client_error() || status.is_server_error() {
                        span.record("error.type", status.as_str());
                        span.record("otel.status_code", "ERROR");
                    }
                }
                Err(e) => {
                    span.record("error.type", error_type(e));
                    span.record("otel.status_code", "ERROR");
                    tracing::debug!(error = %crate::transport::describe(e), "request failed");
                }
            }
            result
        }
    }

    /// One attempt: see [`CallState::before_attempt`] and [`CallState::permit`], then sends.
    #[allow(
        clippy::manual_async_fn,
        reason = "an async fn keeps its arguments twice"
    )]
    fn send_once(
        &self,
        attempt: u32,
        mut request: Request,
    ) -> impl std::future::Future<Output = (reqwest::Result<Response>, Option<Spare>)> + Send + '_
    {
        async move {
            let spare = self.before_attempt(&tracing::Span::current(), attempt, &mut request);
            let permit = self.permit().await;
            let sent = self.shared.http.execute(request).await;
            self.outcome().permit = permit;
            if let Ok(response) = &sent {
                self.shared.observe_rate_limit(response.headers());
            }
            (sent, spare)
        }
    }

    /// Before attempt `attempt`: records it on `span` and returns what a retry or a replay
    /// needs of `request` besides its headers (see [`Spare`]; a streaming body has none: it is
    /// sent once).
    fn before_attempt(
        &self,
        span: &tracing::Span,
        attempt: u32,
        request: &mut Request,
    ) -> Option<Spare> {
        span.record("attempt", attempt);
        if attempt > 1 {
            span.record("http.request.resend_count", attempt - 1);
        }
        self.outcome().permit = None; // a generated client reused for another call
        Spare::take(request)
    }

    /// An in-flight permit when the client caps requests in flight; held until `finish` (the
    /// body is read in between), the next attempt replacing it.
    async fn permit(&self) -> Option<tokio::sync::OwnedSemaphorePermit> {
        match &self.shared.in_flight {
            Some(permits) => permits.clone().acquire_owned().await.ok(),
            None => None,
        }
    }

    /// After a first answer that is not simply a success: retries where
    /// [`crate::RetryPolicy`] allows, one replay after a 401 with a fresh compliance token,
    /// the raw body of an error response, a tolerant acknowledgement.
    async fn follow_up(
        &self,
        op: &'static Operation,
        mut sent: reqwest::Result<Response>,
        mut spare: Option<Spare>,
    ) -> reqwest::Result<Response> {
        let policy = &self.shared.options.retry;
        let mut attempt = 1u32;
        let mut replayed_after_401 = false;
        loop {
            // What to send next, and how long to wait first; every other outcome returns. The
            // refused answer ends with this block: it is not kept while waiting (nor is its
            // connection).
            let (again, wait) = 'next: {
                let response = match sent {
                    Ok(response) => response,
                    Err(e) => {
                        let wait = policy.after_error(op.idempotency, attempt, &e);
                        let (Some(again), Some(wait)) = (spare.take(), wait) else {
                            return Err(e);
                        };
                        let Some(again) = self.resend(again, None) else {
                            return Err(e);
                        };
                        tracing::warn!(attempt, wait_ms = wait.as_millis() as u64, error = %describe(&e), "transport error, retrying");
                        break 'next (again, Some(wait));
                    }
                };
                if Meaning::of(response.status()) == Meaning::Unauthorized && !replayed_after_401 {
                    if let (CallAuth::Token(source), Some(again)) = (&self.auth, spare.take()) {
                        replayed_after_401 = true;
                        // The token request needs a permit of its own: give this one back.
                        let used = {
                            let mut outcome = self.outcome();
                            outcome.permit = None;
                            outcome.token_generation
                        };
                        if let Some(generation) = used {
                            source.invalidate(generation);
                        }
                        tracing::info!(
                            attempt,
                            "401: refreshing the access token and replaying once"
                        );
                        let (token, generation) = match source.current().await {
                            Ok(fresh) => fresh,
                            Err(e) => {
                                self.outcome().failure = Some(Box::new(e));
                                return self.keep_error_body(op, response).await;
                            }
                        };
                        let header = token.header.clone();
                        {
                            let mut outcome = self.outcome();
                            outcome.token_generation = Some(generation);
                            outcome.token = Some(token);
                        }
                        let Some(again) = self.resend(again, Some(header)) else {
                            return self.keep_error_body(op, response).await;
                        };
                        break 'next (again, None);
                    }
                }
                if let (Some(again), Some(wait)) = (
                    spare.take(),
                    policy.after_response(op.idempotency, attempt, &response),
                ) {
                    let Some(again) = self.resend(again, None) else {
                        return self.keep_error_body(op, response).await;
                    };
                    tracing::warn!(
                        attempt,
                        status = response.status().as_u16(),
                        wait_ms = wait.as_millis() as u64,
                        "retrying"
                    );
                    break 'next (again, Some(wait));
                }
                return if !response.status().is_success() {
                    self.keep_error_body(op, response).await
                } else if op.acknowledgement && !plain_acknowledgement(&response) {
                    acknowledgement(response).await
                } else {
                    Ok(response)
                };
            };
            self.outcome().permit = None;
            if let Some(wait) = wait {
                tokio::time::sleep(wait).await;
            }
            attempt += 1;
            (sent, spare) = self.send_once(attempt, again).await;
        }
    }

    /// Reads an error response (capped), records it, and hands progenitor an equal response.
    async fn keep_error_body(
        &self,
        op: &'static Operation,
        mut response: Response,
    ) -> reqwest::Result<Response> {
        let status = response.status();
        let headers = response.headers().clone();
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await? {
            let room = MAX_ERROR_BODY - body.len();
            body.extend_from_slice(&chunk[..chunk.len().min(room)]);
            if body.len() >= MAX_ERROR_BODY {
                break;
            }
        }
        let body = Bytes::from(body);
        let request_id = ["x-request-id", "x-correlation-id", "x-amzn-requestid"]
            .iter()
            .find_map(|h| headers.get(*h)?.to_str().ok())
            .map(|id| self.scrub(id, MAX_REQUEST_ID));
        let api_error = ApiError {
            operation: op.id,
            status,
            request_id,
            retry_after: crate::retry::retry_after(&headers),
            details: self.scrubbed_details(&body),
            body: body.clone(),
        };
        self.outcome().api_error = Some(Box::new(api_error));
        Ok(rebuild(status, headers, body))
    }

    /// Turns what the generated call returned into the crate's result.
    pub(crate) fn finish<T, E>(
        &self,
        operation: &'static str,
        result: std::result::Result<ResponseValue<T>, progenitor_client::Error<E>>,
    ) -> Result<T> {
        let mut outcome = self.outcome();
        outcome.permit = None;
        if let Some(failure) = outcome.failure.take() {
            return Err(*failure);
        }
        let api_error = outcome.api_error.take();
        use progenitor_client::Error as G;
        let err = match result {
            Ok(value) => return Ok(value.into_inner()),
            Err(G::InvalidRequest(problem)) => Error::InvalidInput {
                field: operation.to_string(),
                problem,
            },
            Err(G::CommunicationError(e) | G::ResponseBodyError(e) | G::InvalidUpgrade(e)) => {
                from_reqwest(operation, &e)
            }
            Err(G::InvalidResponsePayload(_, e)) if api_error.is_none() => Error::InvalidResponse {
                operation,
                reason: redact_serde(&e),
            },
            Err(G::UnexpectedResponse(r)) if api_error.is_none() => Error::InvalidResponse {
                operation,
                reason: format!("undocumented status {}", r.status()),
            },
            Err(G::Custom(message)) => Error::Config(message),
            Err(_) => match api_error {
                Some(api) => from_api_error(*api),
                None => Error::InvalidResponse {
                    operation,
                    reason: "error response without details".into(),
                },
            },
        };
        Err(err)
    }
}

/// OpenTelemetry's `error.type` for a call that got no response: a short, fixed class.
fn error_type(e: &reqwest::Error) -> &'static str {
    if e.is_timeout() {
        "timeout"
    } else if e.is_connect() {
        "connect"
    } else if e.is_body() {
        "body"
    } else if e.is_decode() {
        "decode"
    } else if e.is_request() {
        "request"
    } else {
        "_OTHER"
    }
}
