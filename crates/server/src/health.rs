//! Liveness (`GET /healthz`: the process serves HTTP) and readiness (`GET /readyz`: the store
//! takes requests, the query index is caught up within bounds, and no shutdown has begun).

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::AppState;

/// The answer of `/healthz`.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Health {
    /// Always `ok`.
    status: &'static str,
}

/// The answer of `/readyz`.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Readiness {
    /// `ready` or `not_ready`.
    status: &'static str,
    /// Why not, when not.
    reason: Option<&'static str>,
    /// Committed events the query index does not cover yet.
    index_lag: u64,
    /// Appends waiting for the writer.
    write_queue_depth: u64,
}

/// `GET /healthz`.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "operations",
    summary = "Liveness",
    responses((status = 200, description = "The process serves HTTP", body = Health)),
)]
pub async fn healthz() -> Json<Health> {
    Json(Health { status: "ok" })
}

/// `GET /readyz`: 200 when ready, else 503 with `Retry-After` and the reason.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "operations",
    summary = "Readiness",
    description = "Ready when the store takes requests, the query index is caught up within bounds and no shutdown has begun.",
    responses(
        (status = 200, description = "Ready", body = Readiness),
        (status = 503, description = "Not ready; see `reason` and Retry-After", body = Readiness),
    ),
)]
pub async fn readyz(State(state): State<AppState>) -> Response {
    let vitals = state.store.vitals();
    let reason = if *state.stopping.borrow() {
        Some("shutting down")
    } else if vitals.index_lag > state.limits.ready_max_index_lag {
        Some("the query index is catching up")
    } else {
        None
    };
    let body = Readiness {
        status: if reason.is_some() {
            "not_ready"
        } else {
            "ready"
        },
        reason,
        index_lag: vitals.index_lag,
        write_queue_depth: vitals.write_queue_depth,
    };
    match reason {
        None => Json(body).into_response(),
        Some(_) => {
            let mut response = (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response();
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(5));
            response
        }
    }
}
