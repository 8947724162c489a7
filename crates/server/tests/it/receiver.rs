//! `Receiver`: a real HTTP endpoint for webhook tests, on 127.0.0.1, that records every request
//! it gets and answers from a script (200 once the script runs out).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

/// One request as received.
#[derive(Debug, Clone)]
pub struct Received {
    /// Its path.
    pub path: String,
    /// `webhook-id`.
    pub id: String,
    /// `webhook-timestamp`.
    pub timestamp: String,
    /// `webhook-signature`, split at spaces.
    pub signatures: Vec<String>,
    /// The body, parsed.
    pub body: Value,
    /// The body as sent.
    pub raw: Vec<u8>,
    /// When it arrived.
    pub at: Instant,
}

impl Received {
    /// The seqs of the events it carried.
    pub fn seqs(&self) -> Vec<u64> {
        self.body["data"]["events"]
            .as_array()
            .map(|events| events.iter().filter_map(|e| e["seq"].as_u64()).collect())
            .unwrap_or_default()
    }
}

/// How the receiver answers one request.
#[derive(Debug, Clone)]
pub enum Reply {
    /// This status, with these headers.
    Status(u16, Vec<(&'static str, String)>),
    /// Nothing for this long, then 200.
    Hang(Duration),
    /// 200 with a body of this many bytes.
    Huge(usize),
}

#[derive(Clone, Default)]
struct Shared {
    received: Arc<Mutex<Vec<Received>>>,
    script: Arc<Mutex<VecDeque<Reply>>>,
}

/// A running receiver.
pub struct Receiver {
    /// Its base URL, `http://127.0.0.1:port`.
    pub base: String,
    shared: Shared,
    task: tokio::task::JoinHandle<()>,
}

async fn receive(
    State(shared): State<Shared>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    shared.received.lock().unwrap().push(Received {
        path: uri.path().to_owned(),
        id: header("webhook-id"),
        timestamp: header("webhook-timestamp"),
        signatures: header("webhook-signature")
            .split(' ')
            .map(str::to_owned)
            .collect(),
        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
        raw: body.to_vec(),
        at: Instant::now(),
    });
    let reply = shared.script.lock().unwrap().pop_front();
    match reply {
        None => (StatusCode::OK, "thanks").into_response(),
        Some(Reply::Status(status, headers)) => {
            let mut response = (StatusCode::from_u16(status).unwrap(), "scripted").into_response();
            for (name, value) in headers {
                response.headers_mut().insert(name, value.parse().unwrap());
            }
            response
        }
        Some(Reply::Hang(time)) => {
            tokio::time::sleep(time).await;
            (StatusCode::OK, "late").into_response()
        }
        Some(Reply::Huge(bytes)) => (StatusCode::OK, "x".repeat(bytes)).into_response(),
    }
}

impl Receiver {
    /// Starts one answering 200 to everything.
    pub async fn start() -> Self {
        let shared = Shared::default();
        let app = Router::new().fallback(receive).with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Receiver { base, shared, task }
    }

    /// Its URL at `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Answers the next requests with `replies`, in order.
    pub fn script(&self, replies: Vec<Reply>) {
        self.shared.script.lock().unwrap().extend(replies);
    }

    /// Every request so far.
    pub fn received(&self) -> Vec<Received> {
        self.shared.received.lock().unwrap().clone()
    }

    /// Waits up to `limit` until `done` holds of the requests so far; answers them.
    pub async fn wait_for(
        &self,
        limit: Duration,
        done: impl Fn(&[Received]) -> bool,
    ) -> Vec<Received> {
        let until = Instant::now() + limit;
        loop {
            let received = self.received();
            if done(&received) {
                return received;
            }
            assert!(
                Instant::now() < until,
                "the receiver did not get what was expected within {limit:?}; it got {} requests: {:?}",
                received.len(),
                received
                    .iter()
                    .map(|r| (r.path.clone(), r.id.clone(), r.seqs()))
                    .collect::<Vec<_>>()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}
