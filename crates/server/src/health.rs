//! Liveness: `GET /healthz` answers as long as the process serves HTTP.

use axum::Json;
use serde_json::{Value, json};

/// `GET /healthz`.
pub async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}
