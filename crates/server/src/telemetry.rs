//! Metrics in the Prometheus text format (`GET /metrics`) and the per-request observation
//! behind them: a latency histogram by route, method and status, and a debug log line that
//! names the route, never the query string, a header or a body.
//!
//! The recorder is process-wide (the `metrics` facade has one); the gauges that describe the
//! store are set from [`EventStore::vitals`](trailkeep_store::EventStore::vitals) at each
//! scrape.

use std::sync::OnceLock;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::AppState;

/// Histogram buckets for request latency, in seconds.
const LATENCY_BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// The process's recorder, installed on first use.
pub fn handle() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(
                Matcher::Full("trailkeep_http_request_duration_seconds".into()),
                &LATENCY_BUCKETS,
            )
            .expect("the bucket list is not empty")
            .build_recorder();
        let handle = recorder.handle();
        // Another recorder may already be installed (an embedding program's); then ours only
        // renders what it records itself, which is nothing, and that is the embedder's choice.
        let _ = metrics::set_global_recorder(recorder);
        describe();
        handle
    })
}

fn describe() {
    metrics::describe_counter!("trailkeep_ingest_events_total", "Events acknowledged.");
    metrics::describe_counter!(
        "trailkeep_ingest_batches_total",
        "Ingest requests acknowledged."
    );
    metrics::describe_counter!(
        "trailkeep_overload_rejections_total",
        "Requests refused with 503 because the write queue was full."
    );
    metrics::describe_counter!(
        "trailkeep_auth_failures_total",
        "Requests refused with 401."
    );
    metrics::describe_counter!("trailkeep_rate_limited_total", "Requests refused with 429.");
    metrics::describe_histogram!(
        "trailkeep_http_request_duration_seconds",
        metrics::Unit::Seconds,
        "Time to answer a request, by route, method and status."
    );
    metrics::describe_gauge!(
        "trailkeep_write_queue_depth",
        "Appends waiting for the writer."
    );
    metrics::describe_gauge!("trailkeep_write_queue_capacity", "Appends that may wait.");
    metrics::describe_gauge!(
        "trailkeep_index_lag_events",
        "Events the query index does not cover yet."
    );
    metrics::describe_gauge!(
        "trailkeep_unsigned_events",
        "Events no checkpoint covers yet."
    );
    metrics::describe_gauge!(
        "trailkeep_checkpoint_age_seconds",
        metrics::Unit::Seconds,
        "Seconds since the newest checkpoint was signed."
    );
}

/// Times every request and counts it by route.
pub async fn observe(request: Request, next: Next) -> Response {
    let _ = handle();
    let started = Instant::now();
    // Only the methods the API uses become label values; anything else is "other".
    let method = match request.method().as_str() {
        m @ ("GET" | "POST" | "PUT" | "PATCH" | "DELETE" | "HEAD" | "OPTIONS") => m,
        _ => "other",
    }
    .to_owned();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let response = next.run(request).await;
    let status = response.status().as_u16();
    let elapsed = started.elapsed();
    metrics::histogram!(
        "trailkeep_http_request_duration_seconds",
        "route" => route.clone(),
        "method" => method.clone(),
        "status" => status.to_string(),
    )
    .record(elapsed.as_secs_f64());
    tracing::debug!(%method, %route, status, micros = elapsed.as_micros() as u64, "request");
    response
}

/// `GET /metrics`.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "operations",
    summary = "Prometheus metrics",
    responses((status = 200, description = "The Prometheus text format", body = String, content_type = "text/plain")),
)]
pub async fn render(State(state): State<AppState>) -> Response {
    let vitals = state.store.vitals();
    metrics::gauge!("trailkeep_write_queue_depth").set(vitals.write_queue_depth as f64);
    metrics::gauge!("trailkeep_write_queue_capacity").set(vitals.write_queue_capacity as f64);
    metrics::gauge!("trailkeep_index_lag_events").set(vitals.index_lag as f64);
    metrics::gauge!("trailkeep_unsigned_events").set(vitals.unsigned_events as f64);
    if let Some(age) = vitals.checkpoint_age_seconds {
        metrics::gauge!("trailkeep_checkpoint_age_seconds").set(age);
    }
    let mut response = handle().render().into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    response
}
