//! Liveness (`GET /healthz`: the process serves HTTP) and readiness (`GET /readyz`: the store
//! takes requests, the query index is caught up within bounds, and no shutdown has begun).

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::AppState;

/// `GET /healthz`.
pub async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// `GET /readyz`: 200 when ready, else 503 with `Retry-After` and the reason.
pub async fn readyz(State(state): State<AppState>) -> Response {
    let vitals = state.store.vitals();
    let reason = if *state.stopping.borrow() {
        Some("shutting down")
    } else if vitals.index_lag > state.limits.ready_max_index_lag {
        Some("the query index is catching up")
    } else {
        None
    };
    let body = json!({
        "status": if reason.is_some() { "not_ready" } else { "ready" },
        "reason": reason,
        "index_lag": vitals.index_lag,
        "write_queue_depth": vitals.write_queue_depth,
    });
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
