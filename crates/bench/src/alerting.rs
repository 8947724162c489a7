//! `--alerting`: Trailkeep runs with every built-in detection rule on and one webhook
//! subscription per tenant that receives every event, posted to a receiver in this process.
//! What the run then measures beside ingest: how many events the receiver got and how long
//! after the last acknowledgement delivery caught up.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde::Deserialize;

/// The settings `trailkeep serve` gets with `--alerting` (and without: detection off).
pub fn server_env(alerting: bool) -> Vec<(&'static str, &'static str)> {
    if alerting {
        vec![
            ("TRAILKEEP_DETECTION__ENABLED", "true"),
            ("TRAILKEEP_WEBHOOKS__ALLOW", "[\"loopback\"]"),
            ("TRAILKEEP_WEBHOOKS__ALLOW_HTTP", "true"),
        ]
    } else {
        vec![("TRAILKEEP_DETECTION__ENABLED", "false")]
    }
}

/// A webhook receiver on 127.0.0.1 that answers 204 and counts the events it got.
pub struct Receiver {
    /// Its URL.
    pub url: String,
    events: Arc<AtomicU64>,
    messages: Arc<AtomicU64>,
}

#[derive(Deserialize)]
struct Message {
    data: Data,
}

#[derive(Deserialize)]
struct Data {
    events: Vec<serde::de::IgnoredAny>,
}

impl Receiver {
    /// Starts one.
    pub async fn start() -> anyhow::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .context("bind the webhook receiver")?;
        let url = format!("http://{}/hook", listener.local_addr()?);
        let events = Arc::new(AtomicU64::new(0));
        let messages = Arc::new(AtomicU64::new(0));
        let (counted, received) = (events.clone(), messages.clone());
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (counted, received) = (counted.clone(), received.clone());
                tokio::spawn(async move {
                    let service = service_fn(move |request: Request<hyper::body::Incoming>| {
                        let (counted, received) = (counted.clone(), received.clone());
                        async move {
                            let body = request
                                .into_body()
                                .collect()
                                .await
                                .map(|b| b.to_bytes())
                                .unwrap_or_default();
                            if let Ok(message) = serde_json::from_slice::<Message>(&body) {
                                counted
                                    .fetch_add(message.data.events.len() as u64, Ordering::Relaxed);
                            }
                            received.fetch_add(1, Ordering::Relaxed);
                            let mut answer = Response::new(Full::new(Bytes::new()));
                            *answer.status_mut() = hyper::StatusCode::NO_CONTENT;
                            Ok::<_, Infallible>(answer)
                        }
                    });
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Ok(Receiver {
            url,
            events,
            messages,
        })
    }

    /// Events received so far.
    pub fn events(&self) -> u64 {
        self.events.load(Ordering::Relaxed)
    }

    /// Messages received so far.
    pub fn messages(&self) -> u64 {
        self.messages.load(Ordering::Relaxed)
    }

    /// Waits until at least `events` events arrived (at most `limit`); answers how long it
    /// took.
    pub async fn caught_up(&self, events: u64, limit: Duration) -> anyhow::Result<Duration> {
        let started = Instant::now();
        while self.events() < events {
            if started.elapsed() > limit {
                bail!(
                    "webhook delivery did not catch up within {limit:?}: {} of {events} events",
                    self.events()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(started.elapsed())
    }
}
