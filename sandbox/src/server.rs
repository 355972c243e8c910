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

pub(crate) async fn serve(
    listener: TcpListener,
    state: Arc<AppState>,
    mut stop: tokio::sync::oneshot::Receiver<()>,
) {
    let app = crate::admin::router()
        .merge(crate::compliance::router())
        .merge(crate::biometrics::router())
        .fallback(|| async { reply::error(404, "NOT_FOUND", "no such path") })
        .layer(axum::middleware::from_fn_with_state(state.clone(), faults))
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
    if let Err(response) = reply::check_context(request.headers()) {
        return response;
    }
    let (latency, fault) = state.faults.on_call(operation);
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
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
