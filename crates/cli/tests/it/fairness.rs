//! Fairness under load: one tenant floods the real `trailkeep serve` with everything it can
//! (large batches, replays of a large batch, as many live streams as it may open replaying its
//! whole trail through a filter that never matches, and heavy statistics and full-text
//! queries) while another tenant ingests and reads one request at a time. Every request of the
//! quiet tenant must succeed; its latencies are printed (p50, p99, max) for the record.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::Server;

/// How long the quiet tenant works under the flood.
const QUIET_FOR: Duration = Duration::from_secs(15);

/// A batch of `n` events for the flood.
fn flood_batch(n: usize, tag: usize) -> Value {
    let events: Vec<Value> = (0..n)
        .map(|i| {
            json!({"action": format!("bulk.{}", i % 50), "actor": {"id": format!("user-{}", i % 997)},
                   "description": "flood payload flood payload", "metadata": {"tag": tag, "i": i}})
        })
        .collect();
    Value::Array(events)
}

/// Keeps `what` running until `stop`, counting answers by status class.
async fn flood(stop: Arc<AtomicBool>, answered: Arc<AtomicUsize>, what: impl AsyncFnMut() -> u16) {
    let mut what = what;
    while !stop.load(Ordering::SeqCst) {
        let _status = what().await;
        answered.fetch_add(1, Ordering::SeqCst);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_flooding_tenant_leaves_a_quiet_tenant_every_request() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let loud = server.client("loud");
    let quiet = server.client("quiet");
    // Some history for the loud tenant's streams and queries to chew on.
    for tag in 0..10 {
        let answer = loud.post_json(&flood_batch(2_000, tag)).await.unwrap();
        assert_eq!(answer.status(), 201);
    }

    // First, as many streams as the tenant may open, each replaying the trail through a filter that
    // never matches (the ones past the cap are refused).
    let mut streams = Vec::new();
    for _ in 0..80 {
        if let Ok(response) = loud
            .get("/v1/events/stream?from_seq=0&action=never.*")
            .send()
            .await
        {
            streams.push(response);
        }
    }
    let open = streams.iter().filter(|r| r.status() == 200).count();
    assert!(
        open > 0 && open < 80,
        "{open} streams open: the tenant's cap applies"
    );

    let stop = Arc::new(AtomicBool::new(false));
    let answered = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    // Large batches, two at a time.
    for worker in 0..2 {
        let loud = loud.clone();
        let mut tag = 100 + worker * 10_000;
        tasks.push(tokio::spawn(flood(
            stop.clone(),
            answered.clone(),
            move || {
                tag += 1;
                let body = flood_batch(2_000, tag);
                let loud = loud.clone();
                async move {
                    loud.post_json(&body)
                        .await
                        .map_or(0, |r| r.status().as_u16())
                }
            },
        )));
    }
    // Replays of one 5,000-event batch with its Idempotency-Key.
    {
        let loud = loud.clone();
        let body = flood_batch(5_000, 7).to_string();
        tasks.push(tokio::spawn(flood(
            stop.clone(),
            answered.clone(),
            move || {
                let request = loud
                    .post("/v1/events")
                    .header("content-type", "application/json")
                    .header("idempotency-key", "loud-replay")
                    .body(body.clone());
                async move { request.send().await.map_or(0, |r| r.status().as_u16()) }
            },
        )));
    }
    // Heavy reads: statistics over everything, full-text searches, deep listings.
    for worker in 0..2 {
        let loud = loud.clone();
        let mut n = 0usize;
        tasks.push(tokio::spawn(flood(
            stop.clone(),
            answered.clone(),
            move || {
                n += 1;
                let path = match (worker + n) % 3 {
                    0 => "/v1/stats?group_by=actor,day,action,category".to_owned(),
                    1 => format!(
                        "/v1/events?q=flood%20payload&limit=1000&metadata.tag={}",
                        n % 10
                    ),
                    _ => "/v1/events?order=asc&limit=1000&action=bulk.*".to_owned(),
                };
                let request = loud.get(&path);
                async move { request.send().await.map_or(0, |r| r.status().as_u16()) }
            },
        )));
    }
    // The quiet tenant: one request at a time, each must succeed.
    let mut latencies = Vec::new();
    let started = Instant::now();
    let mut round = 0;
    while started.elapsed() < QUIET_FOR {
        round += 1;
        let requests: [(&str, reqwest::RequestBuilder); 4] = [
            (
                "ingest",
                quiet
                    .post("/v1/events")
                    .header("content-type", "application/json")
                    .body(
                        json!({"action": "doc.created", "metadata": {"round": round}}).to_string(),
                    ),
            ),
            ("list", quiet.get("/v1/events?limit=50")),
            ("stats", quiet.get("/v1/stats?group_by=action")),
            ("checkpoint", quiet.get("/v1/ledger/checkpoint")),
        ];
        for (what, request) in requests {
            let sent = Instant::now();
            let response = request.send().await.expect("the quiet tenant's request");
            let status = response.status();
            let text = response.text().await.unwrap_or_default();
            latencies.push(sent.elapsed());
            assert!(
                status.is_success(),
                "the quiet tenant's {what} (round {round}) answered {status}: {text}"
            );
        }
    }
    stop.store(true, Ordering::SeqCst);
    drop(streams);
    for task in tasks {
        let _ = tokio::time::timeout(Duration::from_secs(60), task).await;
    }
    let quiet_events = quiet.list_all().await.len();
    assert_eq!(quiet_events, round, "every quiet event is stored");

    latencies.sort();
    let at = |q: f64| latencies[((latencies.len() as f64 * q) as usize).min(latencies.len() - 1)];
    eprintln!(
        "fairness: quiet tenant {} requests in {:?} beside {} flood requests and {open} streams: \
         p50 {:?}, p99 {:?}, max {:?}",
        latencies.len(),
        QUIET_FOR,
        answered.load(Ordering::SeqCst),
        at(0.5),
        at(0.99),
        latencies[latencies.len() - 1]
    );
    let status = server.terminate();
    assert!(status.success());
}
