//! What happens to every request, generated or hand-written: headers, auth, sending, retries,
//! the 401 replay, tracing, and turning the outcome into [`crate::Error`].
//!
//! The generated clients call into this module through their `ClientHooks` (see `hooks.rs`):
//! `pre` writes the headers, `exec` sends. Each call gets its own [`CallState`], which is the
//! generated client's inner value, so per-call context and failures never mix between calls.

use std::{
    sync::{Arc, Mutex},
    time::Instant,
};

use bytes::Bytes;
use progenitor_client::{OperationInfo, ResponseValue};
use reqwest::{
    header::{HeaderName, HeaderValue, AUTHORIZATION},
    Method, Request, Response, StatusCode,
};
use tracing::{field::Empty, Instrument};

use crate::{
    auth::{self, CallAuth},
    config::{HttpOptions, Tenant},
    context::EndUserContext,
    error::{ApiError, ErrorDetails, MAX_ERROR_BODY},
    retry::Idempotency,
    Error, Result,
};

/// Which of the two APIs a client talks to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Api {
    Compliance,
    Biometrics,
}

/// What the transport knows of an operation.
#[derive(Debug)]
pub(crate) struct Operation {
    /// operationId as the generated code reports it (snake_case).
    generated_id: &'static str,
    /// operationId as the document spells it.
    pub(crate) id: &'static str,
    method: Method,
    path: &'static str,
    idempotency: Idempotency,
    /// The document describes a tolerant acknowledgement: accept any 2xx, and an empty body.
    acknowledgement: bool,
}

macro_rules! op {
    ($gen:literal, $id:literal, $method:ident, $path:literal, $kind:ident, $ack:literal) => {
        Operation {
            generated_id: $gen,
            id: $id,
            method: Method::$method,
            path: $path,
            idempotency: Idempotency::$kind,
            acknowledgement: $ack,
        }
    };
}

/// Every operation of both documents.
pub(crate) static OPERATIONS: &[Operation] = &[
    op!(
        "oauth_token",
        "oauthToken",
        POST,
        "/security/oauth/token",
        TokenCall,
        false
    ),
    op!(
        "account_onboarding",
        "accountOnboarding",
        POST,
        "/onboarding/accountOnboarding",
        Write,
        true
    ),
    op!(
        "customer_onboarding",
        "customerOnboarding",
        POST,
        "/onboarding/customerOnboarding",
        Write,
        true
    ),
    op!(
        "customer_maintenance",
        "customerMaintenance",
        POST,
        "/onboarding/customerMaintenance",
        Write,
        true
    ),
    op!(
        "get_customer",
        "getCustomer",
        POST,
        "/onboarding/getCustomer",
        Read,
        false
    ),
    op!(
        "register_monetary_transaction",
        "registerMonetaryTransaction",
        POST,
        "/onboarding/registerMonetaryTransaction",
        Write,
        true
    ),
    op!(
        "bio_token",
        "bioToken",
        POST,
        "/v1/auth/token",
        TokenCall,
        false
    ),
    op!(
        "create_bio_user",
        "createBioUser",
        POST,
        "/v1/workflow/enroll/user",
        Write,
        false
    ),
    op!(
        "upload_bio_files",
        "uploadBioFiles",
        POST,
        "/v1/workflow/enroll/user/{userId}/upload",
        Write,
        false
    ),
    op!(
        "bio_enroll",
        "bioEnroll",
        GET,
        "/v1/workflow/enroll/user/{userId}/ticket/{ticket}",
        Read,
        false
    ),
];

impl Operation {
    /// The operation the generated code names `generated_id`.
    pub(crate) fn find(generated_id: &str) -> &'static Operation {
        OPERATIONS
            .iter()
            .find(|o| o.generated_id == generated_id)
            // Unknown ids (a new operation in a document) get the safest treatment.
            .unwrap_or(&UNKNOWN)
    }
}

static UNKNOWN: Operation = op!("unknown", "unknown", POST, "unknown", Write, false);

/// What one client (one API) shares between its calls.
#[derive(Debug)]
pub(crate) struct ApiShared {
    pub(crate) api: Api,
    pub(crate) base_url: String,
    pub(crate) http: reqwest::Client,
    pub(crate) tenant: Tenant,
    /// `x-api-key` (marked sensitive), `x-tenant`, `x-env`, `x-banknu`, validated once.
    tenant_headers: reqwest::header::HeaderMap,
    pub(crate) options: HttpOptions,
}

impl ApiShared {
    /// Checks the tenant headers and builds the HTTP client.
    pub(crate) fn new(
        api: Api,
        url: &url::Url,
        tenant: Tenant,
        options: HttpOptions,
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
            tenant,
            tenant_headers,
            options,
        })
    }
}

/// The inner value of a generated client for one call.
#[derive(Clone, Debug)]
pub struct CallState {
    pub(crate) shared: Arc<ApiShared>,
    pub(crate) context: EndUserContext,
    pub(crate) auth: CallAuth,
    outcome: Arc<Mutex<Outcome>>,
}

/// What the hooks learned during a call, read back by [`CallState::finish`].
#[derive(Debug, Default)]
struct Outcome {
    /// A typed failure the hooks could not return through progenitor's error type.
    failure: Option<Error>,
    /// The last error response, with its raw body.
    api_error: Option<ApiError>,
    /// Generation of the compliance token the request carried.
    token_generation: Option<u64>,
}

impl CallState {
    pub(crate) fn new(shared: Arc<ApiShared>, context: EndUserContext, auth: CallAuth) -> Self {
        CallState {
            shared,
            context,
            auth,
            outcome: Arc::default(),
        }
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
        let op = Operation::find(info.operation_id);
        let headers = request.headers_mut();
        headers.remove("api-version");
        headers.extend(self.shared.tenant_headers.clone());
        let mut context = reqwest::header::HeaderMap::new();
        self.context.apply(self.shared.api, &mut context);
        for (name, value) in context {
            if let Some(name) = name {
                headers.entry(name).or_insert(value);
            }
        }
        let authorization = match &self.auth {
            CallAuth::Basic { user, secret } => auth::basic(user, secret),
            CallAuth::Bearer(token) => auth::bearer(token),
            CallAuth::ComplianceToken(source) => match source.bearer().await {
                Ok((token, generation)) => {
                    self.outcome().token_generation = Some(generation);
                    auth::bearer(&token)
                }
                Err(e) => {
                    let message = format!("{}: no access token", op.id);
                    self.outcome().failure = Some(e);
                    return Err(message);
                }
            },
        };
        request.headers_mut().insert(AUTHORIZATION, authorization);
        Ok(())
    }

    /// Sends the request: retries where [`crate::RetryPolicy`] allows, replays once after a 401
    /// with a fresh compliance token, and keeps the raw body of an error response.
    pub(crate) async fn exec(
        &self,
        request: Request,
        info: &OperationInfo,
    ) -> reqwest::Result<Response> {
        let op = Operation::find(info.operation_id);
        let span = tracing::info_span!(
            "preventor.call",
            operation = op.id,
            method = %op.method,
            path = op.path,
            status = Empty,
            attempt = Empty,
            duration_ms = Empty,
        );
        let started = Instant::now();
        let result = self
            .send_with_policy(op, request)
            .instrument(span.clone())
            .await;
        span.record("duration_ms", started.elapsed().as_millis() as u64);
        match &result {
            Ok(r) => {
                span.record("status", r.status().as_u16());
            }
            Err(e) => {
                span.in_scope(
                    || tracing::debug!(error = %crate::transport::describe(e), "request failed"),
                );
            }
        }
        result
    }

    async fn send_with_policy(
        &self,
        op: &'static Operation,
        request: Request,
    ) -> reqwest::Result<Response> {
        let policy = &self.shared.options.retry;
        let mut attempt = 1u32;
        let mut replayed_after_401 = false;
        let mut next = request;
        loop {
            tracing::Span::current().record("attempt", attempt);
            // Bodies here are always buffered, so a copy exists for a retry or a replay.
            let spare = next.try_clone();
            match self.shared.http.execute(next).await {
                Err(e) => {
                    let wait = policy.after_error(op.idempotency, attempt, &e);
                    match (spare, wait) {
                        (Some(again), Some(wait)) => {
                            tracing::warn!(attempt, wait_ms = wait.as_millis() as u64, error = %describe(&e), "transport error, retrying");
                            tokio::time::sleep(wait).await;
                            next = again;
                        }
                        _ => return Err(e),
                    }
                }
                Ok(response) => {
                    if response.status() == StatusCode::UNAUTHORIZED && !replayed_after_401 {
                        if let (CallAuth::ComplianceToken(source), Some(mut again)) =
                            (&self.auth, spare.as_ref().and_then(Request::try_clone))
                        {
                            replayed_after_401 = true;
                            let used = self.outcome().token_generation;
                            if let Some(generation) = used {
                                source.invalidate(generation);
                            }
                            tracing::info!(
                                attempt,
                                "401: refreshing the access token and replaying once"
                            );
                            match source.bearer().await {
                                Ok((token, generation)) => {
                                    self.outcome().token_generation = Some(generation);
                                    again
                                        .headers_mut()
                                        .insert(AUTHORIZATION, auth::bearer(&token));
                                    next = again;
                                    attempt += 1;
                                    continue;
                                }
                                Err(e) => {
                                    self.outcome().failure = Some(e);
                                    return self.keep_error_body(op, response).await;
                                }
                            }
                        }
                    }
                    if let (Some(again), Some(wait)) = (
                        spare,
                        policy.after_response(op.idempotency, attempt, &response),
                    ) {
                        tracing::warn!(
                            attempt,
                            status = response.status().as_u16(),
                            wait_ms = wait.as_millis() as u64,
                            "retrying"
                        );
                        tokio::time::sleep(wait).await;
                        next = again;
                    } else if response.status().is_success() {
                        return if op.acknowledgement {
                            acknowledgement(response).await
                        } else {
                            Ok(response)
                        };
                    } else {
                        return self.keep_error_body(op, response).await;
                    }
                }
            }
            attempt += 1;
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
            .find_map(|h| headers.get(*h)?.to_str().ok().map(str::to_owned));
        self.outcome().api_error = Some(ApiError {
            operation: op.id,
            status,
            request_id,
            retry_after: crate::retry::retry_after(&headers),
            details: serde_json::from_slice::<ErrorDetails>(&body).ok(),
            body: body.clone(),
        });
        Ok(rebuild(status, headers, body))
    }

    /// Turns what the generated call returned into the crate's result.
    pub(crate) fn finish<T, E>(
        &self,
        operation: &'static str,
        result: std::result::Result<ResponseValue<T>, progenitor_client::Error<E>>,
    ) -> Result<T> {
        let mut outcome = self.outcome();
        if let Some(failure) = outcome.failure.take() {
            return Err(failure);
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
                Some(api) => from_api_error(api),
                None => Error::InvalidResponse {
                    operation,
                    reason: "error response without details".into(),
                },
            },
        };
        Err(err)
    }
}

/// A 401 is an auth error; every other status an API error.
pub(crate) fn from_api_error(api: ApiError) -> Error {
    if api.status == StatusCode::UNAUTHORIZED {
        Error::Auth {
            operation: api.operation,
            reason: match api.code() {
                Some(code) => format!("credentials or token refused ({code})"),
                None => "credentials or token refused".into(),
            },
            response: Some(Box::new(api)),
        }
    } else {
        Error::Api(Box::new(api))
    }
}

/// A transport error as the crate's error.
pub(crate) fn from_reqwest(operation: &'static str, e: &reqwest::Error) -> Error {
    if e.is_timeout() {
        Error::Timeout { operation }
    } else {
        Error::Transport {
            operation,
            message: describe(e),
            not_sent: e.is_connect(),
        }
    }
}

/// A transport error and its causes on one line.
pub(crate) fn describe(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// serde's message without the values it quotes (a value may be a secret).
fn redact_serde(e: &serde_json::Error) -> String {
    let mut out = String::new();
    let mut quoted = false;
    for c in e.to_string().chars() {
        if c == '"' {
            quoted = !quoted;
            out.push_str(if quoted { "\"…" } else { "\"" });
        } else if !quoted {
            out.push(c);
        }
    }
    out
}

/// An acknowledgement response as a 200 with a JSON body (`{}` when the server sent none).
async fn acknowledgement(response: Response) -> reqwest::Result<Response> {
    let mut headers = response.headers().clone();
    let body = response.bytes().await?;
    let body = if body.iter().all(u8::is_ascii_whitespace) {
        headers.insert(
            reqwest::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        Bytes::from_static(b"{}")
    } else {
        body
    };
    Ok(rebuild(StatusCode::OK, headers, body))
}

fn rebuild(status: StatusCode, headers: reqwest::header::HeaderMap, body: Bytes) -> Response {
    let mut builder = http::Response::builder().status(status);
    if let Some(h) = builder.headers_mut() {
        *h = headers;
        h.remove(reqwest::header::CONTENT_LENGTH);
        h.remove(reqwest::header::TRANSFER_ENCODING);
    }
    match builder.body(body) {
        Ok(r) => Response::from(r),
        Err(_) => Response::from(http::Response::new(Bytes::new())),
    }
}

/// The HTTP client both APIs use: rustls with the *ring* provider (no C toolchain needed, unlike
/// aws-lc-rs), the platform's roots plus [`HttpOptions::extra_roots`], HTTP/2 or 1.1 by ALPN,
/// no redirects (a token request must never be forwarded), the configured timeouts.
pub(crate) fn http_client(options: &HttpOptions) -> Result<reqwest::Client> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let roots = options.extra_roots.iter().map(|r| r.0.clone());
    let verifier =
        rustls_platform_verifier::Verifier::new_with_extra_roots(roots, provider.clone())
            .map_err(|e| Error::Config(format!("TLS roots: {e}")))?;
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
