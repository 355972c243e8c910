//! Run-time knobs over HTTP, for teams that run the sandbox as a binary (not part of the
//! documents; reach them on the sandbox's own port):
//!
//! | request | effect |
//! |---|---|
//! | `POST /__sandbox/faults` `{"operation": "bioToken", "count": 2, "status": 429, "retry_after": 1}` | the next calls answer that status |
//! | `POST /__sandbox/faults` `{"operation": "bioToken", "count": 1, "drop": true}` | the next calls lose their connection |
//! | `POST /__sandbox/latency` `{"ms": 250}` | latency on every response |
//! | `POST /__sandbox/expire-tokens` | every token expires now |
//! | `POST /__sandbox/clear-faults` | no faults, no latency |
//! | `GET /__sandbox/stats` | `{"received": {operationId: n}, "stored": {"accounts", "customers", "transactions"}, "duplicates": n, "rate_limit": {tenant: {"accepted", "refused", "tokens_overflowed", "last_overflow_s", "last_accepted_s", "tokens_left_after_last_accepted"}}}` (with `--rate-limit`: capacity that overflowed a full bucket, and what was left after the last call let through, for load tests) |

use std::{sync::Arc, time::Duration};

use axum::{extract::State, http::StatusCode, response::IntoResponse, routing::post, Json, Router};
use serde::Deserialize;

use crate::state::AppState;

#[derive(Deserialize)]
struct FaultRequest {
    operation: String,
    #[serde(default = "one")]
    count: usize,
    status: Option<u16>,
    retry_after: Option<u64>,
    #[serde(default)]
    drop: bool,
}

fn one() -> usize {
    1
}

#[derive(Deserialize)]
struct LatencyRequest {
    ms: u64,
}

pub(crate) fn router() -> Router<Arc<AppState>> {
    Router::new()
        .route(
            "/__sandbox/stats",
            axum::routing::get(
                |State(state): State<Arc<AppState>>| async move { Json(state.stats()) },
            ),
        )
        .route(
            "/__sandbox/faults",
            post(
                |State(s): State<Arc<AppState>>, Json(f): Json<FaultRequest>| async move {
                    if let Err(unknown) = crate::state::known_operation(&f.operation) {
                        return crate::reply::bad_request(unknown);
                    }
                    match (f.drop, f.status) {
                        (true, _) => s.faults.drop_next(&f.operation, f.count),
                        (false, Some(status)) => {
                            s.faults
                                .fail_next(&f.operation, f.count, status, f.retry_after)
                        }
                        (false, None) => {
                            return crate::reply::bad_request(
                                "a fault needs a status or drop: true",
                            )
                        }
                    }
                    StatusCode::NO_CONTENT.into_response()
                },
            ),
        )
        .route(
            "/__sandbox/latency",
            post(
                |State(s): State<Arc<AppState>>, Json(l): Json<LatencyRequest>| async move {
                    s.faults.set_latency(Duration::from_millis(l.ms));
                    StatusCode::NO_CONTENT
                },
            ),
        )
        .route(
            "/__sandbox/expire-tokens",
            post(|State(s): State<Arc<AppState>>| async move {
                s.expire_tokens();
                StatusCode::NO_CONTENT
            }),
        )
        .route(
            "/__sandbox/clear-faults",
            post(|State(s): State<Arc<AppState>>| async move {
                s.faults.clear();
                StatusCode::NO_CONTENT
            }),
        )
}
