//! The accept loop: hyper per connection, so that a fault can close a connection unanswered.

use std::{convert::Infallible, sync::Arc};

use axum::{
    body::Body,
    extract::{Request, State},
    http::HeaderValue,
    middleware::Next,
    response::{IntoResponse, Response},
};
use hyper_util::{
    rt::{TokioExecutor, TokioIo},
    server::conn::auto,
};
use tokio::{net::TcpListener, sync::Notify};
use tower::ServiceExt;

use crate::{faults::Fault, reply, state::AppState};

/// Put into every request: notify it to close the request's connection.
#[derive(Clone)]
pub(crate) struct ConnectionKill(Arc<Notify>);

/// A route for every operation of the documents, at its method and path template (axum's
/// `{name}` segments are OpenAPI's), to the compliance or biometrics handler of its
/// operationId; an operation without one answers 501.
fn operations() -> axum::Router<Arc<AppState>> {
    let mut router = axum::Router::new();
    for op in preventor::operations::all() {
        let Some(filter) = method_filter(op) else {
            continue;
        };
        let route = handler(op).unwrap_or_else(|| {
            axum::routing::on(filter, || async {
                reply::error(
                    501,
                    "NOT_IMPLEMENTED",
                    "the sandbox does not serve this operation",
                )
            })
        });
        router = router.route(op.path(), route);
    }
    router
}

/// The sandbox's handler of `op`, if it has one.
fn handler(
    op: &preventor::operations::Operation,
) -> Option<axum::routing::MethodRouter<Arc<AppState>>> {
    let filter = method_filter(op)?;
    crate::compliance::handler(op.id(), filter)
        .or_else(|| crate::biometrics::handler(op.id(), filter))
}

/// The method of `op` as a route filter (none for a method axum cannot route, CONNECT).
fn method_filter(op: &preventor::operations::Operation) -> Option<axum::routing::MethodFilter> {
    let method = axum::http::Method::from_bytes(op.method().as_bytes()).ok()?;
    axum::routing::MethodFilter::try_from(method).ok()
}

pub(crate) async fn serve(
    listener: TcpListener,
    state: Arc<AppState>,
    mut stop: tokio::sync::oneshot::Receiver<()>,
) {
    let app = crate::admin::router()
        .merge(operations())
        .fallback(|| async { reply::error(404, "NOT_FOUND", "no such path") })
        .method_not_allowed_fallback(|| async {
            reply::error(405, "METHOD_NOT_ALLOWED", "method not allowed on this path")
        })
        .layer(axum::middleware::from_fn_with_state(state.clone(), faults))
        .layer(axum::middleware::from_fn_with_state(state.clone(), log))
        .with_state(state);
    loop {
        let (stream, _) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(_) => continue,
            },
            _ = &mut stop => return,
        };
        let app = app.clone();
        tokio::spawn(async move {
            let kill = Arc::new(Notify::new());
            let marker = ConnectionKill(kill.clone());
            let service = hyper::service::service_fn(
                move |mut request: hyper::Request<hyper::body::Incoming>| {
                    request.extensions_mut().insert(marker.clone());
                    let app = app.clone();
                    async move {
                        Ok::<_, Infallible>(
                            app.oneshot(request.map(Body::new)).await.into_response(),
                        )
                    }
                },
            );
            let builder = auto::Builder::new(TokioExecutor::new());
            let connection = builder.serve_connection(TokioIo::new(stream), service);
            tokio::select! {
                _ = connection => {}
                _ = kill.notified() => {} // dropping the connection closes the socket
            }
        });
    }
}

/// Context header bounds, then latency and queued faults, per operation.
async fn faults(State(state): State<Arc<AppState>>, request: Request, next: Next) -> Response {
    let Some(operation) = crate::state::operation_of(request.method(), request.uri().path()) else {
        return next.run(request).await;
    };
    if !reply::accepts_json(request.headers()) {
        return reply::error(
            406,
            "NOT_ACCEPTABLE",
            "this API answers application/json only",
        );
    }
    if let Err(response) = reply::check_context(request.headers()) {
        return response;
    }
    let (latency, fault) = state.faults.on_call(operation.id());
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let mut fields = None;
    if let Some(rate) = state.config.rate_limit {
        let tenant = request
            .headers()
            .get("x-tenant")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        match state.take_token(&tenant, rate) {
            Ok(left) => fields = Some((rate, left)),
            Err(wait) => {
                let mut response =
                    reply::error(429, "RATE_LIMITED", "too many requests; not processed");
                let secs = wait.as_secs_f64().ceil().max(1.0) as u64;
                response
                    .headers_mut()
                    .insert("retry-after", HeaderValue::from(secs));
                if state.config.rate_limit_headers {
                    rate_limit_fields(&mut response, rate, 0.0);
                }
                return response;
            }
        }
    }
    let write = operation.class() == preventor::operations::Idempotency::Write;
    let mut response = processed(&state, request, next, fault, write).await;
    if let (Some((rate, left)), true) = (fields, state.config.rate_limit_headers) {
        rate_limit_fields(&mut response, rate, left);
    }
    response
}

/// The IETF rate limit fields (draft-ietf-httpapi-ratelimit-headers): the policy (`rate`
/// requests a second) and what is left of it (`left` requests, full again in `t` seconds).
fn rate_limit_fields(response: &mut Response, rate: f64, left: f64) {
    let full_in = ((rate - left) / rate).ceil().max(0.0) as u64;
    let headers = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&format!("\"default\";q={};w=1", rate.floor() as u64)) {
        headers.insert("ratelimit-policy", v);
    }
    if let Ok(v) = HeaderValue::from_str(&format!(
        "\"default\";r={};t={full_in}",
        left.floor().max(0.0) as u64
    )) {
        headers.insert("ratelimit", v);
    }
}

/// Past the rate limit: random failures, lost answers and queued faults, or the call itself.
async fn processed(
    state: &AppState,
    request: Request,
    next: Next,
    fault: Option<Fault>,
    write: bool,
) -> Response {
    if let Some((share, status)) = state.config.fail_share {
        if fastrand::f64() < share {
            return reply::error(status, "SANDBOX_FAULT", "random failure; not processed");
        }
    }
    if fault.is_none() && write && state.config.drop_after_commit > 0.0 {
        let kill = request.extensions().get::<ConnectionKill>().cloned();
        let response = next.run(request).await;
        if response.status().is_success() && fastrand::f64() < state.config.drop_after_commit {
            // Stored, but the answer is lost.
            if let Some(kill) = kill {
                kill.0.notify_one();
            }
            return std::future::pending().await;
        }
        return response;
    }
    match fault {
        None => next.run(request).await,
        Some(Fault::Status {
            status,
            retry_after,
        }) => {
            let mut response = reply::error(
                status,
                "SANDBOX_FAULT",
                "fault injected by the sandbox; not processed",
            );
            if let Some(secs) = retry_after {
                response
                    .headers_mut()
                    .insert("retry-after", HeaderValue::from(secs));
            }
            response
        }
        Some(Fault::Drop) => {
            if let Some(kill) = request.extensions().get::<ConnectionKill>() {
                kill.0.notify_one();
            }
            std::future::pending().await
        }
    }
}

/// `--log`: one line per request (time, method, path, status, milliseconds); no header, query
/// or body is written, so no credential or personal data reaches the log.
async fn log(State(state): State<Arc<AppState>>, request: Request, next: Next) -> Response {
    let Some(log) = state.config.request_log.clone() else {
        return next.run(request).await;
    };
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    let started = std::time::Instant::now();
    let response = next.run(request).await;
    log.line(&format!(
        "{} {method} {path} {} {}ms",
        chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        response.status().as_u16(),
        started.elapsed().as_millis()
    ));
    response
}

#[cfg(test)]
mod tests {
    /// Every operation of the documents has a handler here: an operation added to a document
    /// fails this test until the sandbox serves it.
    #[test]
    fn the_sandbox_serves_every_operation_of_the_documents() {
        for op in preventor::operations::all() {
            assert!(super::handler(op).is_some(), "{} has no handler", op.id());
        }
    }
}
