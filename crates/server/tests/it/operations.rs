//! Operations endpoints and connection limits: `/readyz`, `/metrics` in the Prometheus text
//! format, oversized request heads, and a drain that lets in-flight requests finish.

use serde_json::json;
use trailkeep_server::Limits;

use crate::support::{RW, Setup, TestServer, read};

#[tokio::test]
async fn readyz_is_ready_and_healthz_is_alive_without_credentials() {
    let server = TestServer::start().await;
    for path in ["/healthz", "/readyz"] {
        let answer = read(reqwest::get(server.url(path)).await.unwrap()).await;
        assert_eq!(answer.status, 200, "{path}: {}", answer.text);
    }
    let ready = read(reqwest::get(server.url("/readyz")).await.unwrap())
        .await
        .json();
    assert_eq!(ready["status"], "ready");
    assert_eq!(ready["index_lag"], 0);
}

#[tokio::test]
async fn readyz_fails_while_the_index_lags_beyond_its_bound() {
    let server = TestServer::start_with(Setup {
        limits: Limits {
            ready_max_index_lag: 0,
            ..Limits::default()
        },
        options: trailkeep_store_embedded::Options {
            // The indexer takes its time, so the lag is visible.
            index_interval: std::time::Duration::from_secs(30),
            ..Default::default()
        },
        ..Setup::default()
    })
    .await;
    let client = server.client("acme", RW);
    assert_eq!(
        client
            .post_json(&json!({"action": "a.created"}))
            .await
            .status,
        201
    );
    let answer = read(reqwest::get(server.url("/readyz")).await.unwrap()).await;
    assert_eq!(answer.status, 503, "{}", answer.text);
    assert!(answer.headers.contains_key("retry-after"));
    assert_eq!(answer.json()["status"], "not_ready");
    assert_eq!(answer.json()["index_lag"], 1);
}

#[tokio::test]
async fn metrics_speak_prometheus_and_count_what_happened() {
    let server = TestServer::start().await;
    let client = server.client("acme", RW);
    let batch: Vec<_> = (0..3)
        .map(|i| json!({"action": "a.created", "id": format!("m{i}")}))
        .collect();
    assert_eq!(client.post_json(&json!(batch)).await.status, 201);
    assert_eq!(client.get("/v1/events").await.status, 200);
    let answer = read(reqwest::get(server.url("/metrics")).await.unwrap()).await;
    assert_eq!(answer.status, 200);
    assert!(
        answer
            .content_type()
            .starts_with("text/plain; version=0.0.4")
    );
    let text = answer.text;
    for needle in [
        "# TYPE trailkeep_ingest_events_total counter",
        "# TYPE trailkeep_ingest_batches_total counter",
        "# TYPE trailkeep_http_request_duration_seconds histogram",
        "trailkeep_http_request_duration_seconds_bucket{route=\"/v1/events\",method=\"GET\",status=\"200\",le=\"0.005\"}",
        "trailkeep_write_queue_depth 0",
        "trailkeep_write_queue_capacity 4096",
        "trailkeep_index_lag_events",
        "trailkeep_checkpoint_age_seconds",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in:\n{text}");
    }
    // Counters are process-wide (other tests' servers add to them): at least this one's three.
    let events: f64 = text
        .lines()
        .find_map(|l| l.strip_prefix("trailkeep_ingest_events_total "))
        .unwrap()
        .parse()
        .unwrap();
    assert!(events >= 3.0);
    // No tenant, id or path parameter leaks into labels.
    assert!(!text.contains("acme") && !text.contains("m1"));
}

#[tokio::test]
async fn an_oversized_request_head_is_refused_and_the_server_keeps_serving() {
    let server = TestServer::start_with(Setup {
        limits: Limits {
            max_header_bytes: 8 * 1024,
            ..Limits::default()
        },
        ..Setup::default()
    })
    .await;
    let client = server.client("acme", RW);
    let huge = "x".repeat(32 * 1024);
    let outcome = client
        .http
        .get(format!("{}/v1/events", client.base))
        .header("x-padding", &huge)
        .send()
        .await;
    match outcome {
        Ok(response) => assert_eq!(response.status().as_u16(), 431),
        Err(error) => assert!(!error.is_timeout(), "{error}"),
    }
    assert_eq!(client.get("/v1/events").await.status, 200);
}
