//! Posting one message: the body, the Standard Webhooks headers, and an answer read within
//! bounds (a deadline for the whole exchange, at most a few KiB of the answer kept).

use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use reqwest::header::{CONTENT_TYPE, RETRY_AFTER, USER_AGENT};
use trailkeep_store::CanonicalEvent;

use crate::destination::{AddressPolicy, literal_ip};
use crate::retry::parse_retry_after;
use crate::signature::signature_header;
use crate::subscription::EventType;

/// The bytes of an answer kept in the delivery log.
pub const ANSWER_BYTES_KEPT: usize = 256;

/// The most of an answer read before the connection is dropped.
const ANSWER_BYTES_READ: usize = 64 * 1024;

/// What one attempt came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    /// The answer's status, when one came.
    pub status: Option<u16>,
    /// Why no answer came (refused address, timeout, connection error).
    pub error: Option<String>,
    /// How long it took.
    pub latency: Duration,
    /// The answer's first bytes.
    pub answer: String,
    /// What the answer's `Retry-After` asked for.
    pub retry_after: Option<Duration>,
}

impl Attempt {
    /// Whether it counts as delivered: a 2xx, nothing else (a redirect is a failure).
    pub fn delivered(&self) -> bool {
        self.status.is_some_and(|s| (200..300).contains(&s))
    }

    /// Whether the endpoint asked never to be sent to again (410 Gone).
    pub fn gone(&self) -> bool {
        self.status == Some(410)
    }
}

/// Posts messages: one HTTP client with the address guard as its resolver, no redirects, and
/// a deadline per request.
pub struct Sender {
    client: reqwest::Client,
    policy: Arc<AddressPolicy>,
}

impl Sender {
    /// A sender under `policy`, giving each request `timeout`.
    pub fn new(policy: AddressPolicy, timeout: Duration) -> Result<Self, String> {
        let policy = Arc::new(policy);
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .dns_resolver(policy.resolver())
            .no_proxy()
            .build()
            .map_err(|e| format!("the webhook HTTP client: {e}"))?;
        Ok(Sender { client, policy })
    }

    /// The address policy it sends under.
    pub fn policy(&self) -> &AddressPolicy {
        &self.policy
    }

    /// Posts `body` to `url` as message `id`, signed with every one of `secrets`.
    pub async fn post(&self, url: &str, id: &str, body: Vec<u8>, secrets: &[&str]) -> Attempt {
        let started = Instant::now();
        let failed = |error: String| Attempt {
            status: None,
            error: Some(error),
            latency: started.elapsed(),
            answer: String::new(),
            retry_after: None,
        };
        let parsed = match self.policy.check_form(url) {
            Ok(parsed) => parsed,
            Err(refused) => return failed(refused.to_string()),
        };
        if let Some(ip) = literal_ip(&parsed)
            && let Err(refused) = self
                .policy
                .check_ip(parsed.host_str().unwrap_or_default(), ip)
        {
            return failed(refused.to_string());
        }
        let timestamp = unix_seconds();
        let signature = match signature_header(secrets, id, timestamp, &body) {
            Ok(signature) => signature,
            Err(error) => return failed(error),
        };
        let sent = self
            .client
            .post(parsed)
            .header(CONTENT_TYPE, "application/json")
            .header(
                USER_AGENT,
                concat!("Trailkeep-Webhooks/", env!("CARGO_PKG_VERSION")),
            )
            .header("webhook-id", id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(body)
            .send()
            .await;
        let mut response = match sent {
            Ok(response) => response,
            Err(error) => return failed(describe(&error)),
        };
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, std::time::SystemTime::now()));
        let mut answer = Vec::new();
        let mut error = None;
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    answer.extend_from_slice(&chunk);
                    if answer.len() >= ANSWER_BYTES_READ {
                        // A huge answer: what matters is the status; the rest is not read.
                        break;
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    error = Some(format!("the answer was cut off: {}", describe(&e)));
                    break;
                }
            }
        }
        answer.truncate(ANSWER_BYTES_KEPT);
        Attempt {
            status: Some(status),
            error,
            latency: started.elapsed(),
            answer: String::from_utf8_lossy(&answer).into_owned(),
            retry_after,
        }
    }
}

/// An HTTP client error in words, with its causes (the address guard's refusal among them).
fn describe(error: &reqwest::Error) -> String {
    let mut text = if error.is_timeout() {
        "no answer within the deadline".to_owned()
    } else if error.is_connect() {
        "could not connect".to_owned()
    } else {
        error.to_string()
    };
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

fn unix_seconds() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// A message body: `{"type", "timestamp", "data"}`, `data` naming the tenant and the
/// subscription and carrying each event with its seq and leaf hash (base64), so that a
/// receiver can ask for its inclusion proof. The events are written as stored, unparsed.
pub fn message_body(
    tenant: &str,
    subscription: &str,
    event_type: EventType,
    timestamp: &str,
    events: &[CanonicalEvent],
) -> Vec<u8> {
    let text = |s: &str| serde_json::to_string(s).expect("a string serialises");
    let mut body =
        Vec::with_capacity(256 + events.iter().map(|e| e.canonical.len() + 96).sum::<usize>());
    body.extend_from_slice(
        format!(
            r#"{{"type":{},"timestamp":{},"data":{{"tenant":{},"subscription":{},"events":["#,
            text(event_type.name()),
            text(timestamp),
            text(tenant),
            text(subscription)
        )
        .as_bytes(),
    );
    for (i, event) in events.iter().enumerate() {
        if i > 0 {
            body.push(b',');
        }
        body.extend_from_slice(
            format!(
                r#"{{"seq":{},"leaf_hash":"{}","event":"#,
                event.seq,
                STANDARD.encode(event.leaf_hash)
            )
            .as_bytes(),
        );
        body.extend_from_slice(&event.canonical);
        body.push(b'}');
    }
    body.extend_from_slice(b"]}}");
    body
}

/// The body of a test message: `{"type": "webhook.test", "timestamp", "data"}`.
pub fn test_body(tenant: &str, subscription: &str, timestamp: &str) -> Vec<u8> {
    serde_json::json!({
        "type": "webhook.test",
        "timestamp": timestamp,
        "data": {"tenant": tenant, "subscription": subscription},
    })
    .to_string()
    .into_bytes()
}
