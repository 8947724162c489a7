//! What a subscription is, and how it is kept: three kinds of documents per subscription.
//!
//! - `webhook`/`<id>`: the subscription (destination, event types, filter, state, secrets),
//!   changed by its owner through the API, each change an event in the trail;
//! - `webhook.cursor`/`<id>`: where its delivery stands in the tenant's trail (the next seq,
//!   and the message in flight with its attempts), written by the delivering node only;
//! - `webhook.delivery`/`<id>/<n>`: the delivery log, one entry per attempt, oldest pruned.
//!
//! The cursor lives apart from the subscription so that an owner's edit and a delivery never
//! compete for one document.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use trailkeep_event::{Event, Filter};
use trailkeep_store::{Document, StoreError};

/// The kind of subscription documents.
pub const KIND: &str = "webhook";
/// The kind of cursor documents.
pub const CURSOR_KIND: &str = "webhook.cursor";
/// The kind of delivery log entries.
pub const DELIVERY_KIND: &str = "webhook.delivery";

/// What a webhook message announces. Every type is an event in the tenant's trail; each event
/// has exactly one type, the most specific.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum EventType {
    /// An event was recorded (any event without a more specific type).
    #[serde(rename = "audit.log.created")]
    LogCreated,
    /// An export finished (the trail's `audit.export.completed` event).
    #[serde(rename = "audit.export.completed")]
    ExportCompleted,
    /// Detection raised an alert (the trail's `audit.suspicious.detected` event).
    #[serde(rename = "audit.suspicious.detected")]
    SuspiciousDetected,
}

impl EventType {
    /// Every type.
    pub const ALL: [EventType; 3] = [
        EventType::LogCreated,
        EventType::ExportCompleted,
        EventType::SuspiciousDetected,
    ];

    /// Its name on the wire.
    pub fn name(self) -> &'static str {
        match self {
            EventType::LogCreated => "audit.log.created",
            EventType::ExportCompleted => "audit.export.completed",
            EventType::SuspiciousDetected => "audit.suspicious.detected",
        }
    }

    /// The type named `name`.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.name() == name)
    }

    /// The type of an event with this action.
    pub fn of_action(action: &str) -> Self {
        match action {
            "audit.export.completed" => EventType::ExportCompleted,
            "audit.suspicious.detected" => EventType::SuspiciousDetected,
            _ => EventType::LogCreated,
        }
    }
}

/// Whether a subscription is delivering.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    /// Delivering.
    Active,
    /// Paused by its owner: events wait at the cursor until it is resumed.
    Paused,
    /// Stopped by the service: the endpoint answered 410, or every retry of a message failed.
    /// Events wait at the cursor until the owner resumes it.
    Disabled,
}

/// A signing secret and how long it is used.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SigningSecret {
    /// `whsec_` and base64.
    pub secret: String,
    /// When it was made (ms since the epoch).
    pub created_at: i64,
    /// When it stops being used (ms since the epoch): set when a rotation replaced it.
    pub expires_at: Option<i64>,
}

/// A webhook subscription, as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Subscription {
    /// `whk_` and a ULID.
    pub id: String,
    /// Where messages are posted.
    pub url: String,
    /// The types it receives.
    pub event_types: Vec<EventType>,
    /// Which `audit.log.created` events it receives (`None`: all).
    pub filter: Option<Filter>,
    /// The filter as its owner wrote it (the parameters of `GET /v1/events`).
    pub filter_params: Map<String, Value>,
    /// What it is for.
    pub description: String,
    /// Whether it is delivering.
    pub state: State,
    /// Why the service disabled it.
    pub disabled_reason: Option<String>,
    /// The secrets its messages are signed with: the newest last; more than one while a
    /// rotation overlaps.
    pub secrets: Vec<SigningSecret>,
    /// When it was made (ms since the epoch).
    pub created_at: i64,
    /// Who made it.
    pub created_by: String,
    /// When it last changed (ms since the epoch).
    pub updated_at: i64,
}

impl Subscription {
    /// The type under which it receives `event`, or `None` when it does not.
    pub fn wants(&self, event: &Event) -> Option<EventType> {
        let kind = EventType::of_action(&event.action);
        if !self.event_types.contains(&kind) {
            return None;
        }
        match (&self.filter, kind) {
            (Some(filter), EventType::LogCreated) if !filter.matches(event) => None,
            _ => Some(kind),
        }
    }

    /// Whether [`wants`](Self::wants) needs the whole event (a filter), or only its action.
    pub fn needs_whole_events(&self) -> bool {
        self.filter.is_some() && self.event_types.contains(&EventType::LogCreated)
    }

    /// The secrets a message sent at `now` is signed with.
    pub fn secrets_at(&self, now: i64) -> Vec<&str> {
        self.secrets
            .iter()
            .filter(|s| s.expires_at.is_none_or(|at| at > now))
            .map(|s| s.secret.as_str())
            .collect()
    }
}

/// A message being delivered: fixed when first made, so that every retry sends the same
/// events under the same `webhook-id`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pending {
    /// The `webhook-id`: `msg_` and a ULID.
    pub message_id: String,
    /// Its type.
    pub event_type: EventType,
    /// The seqs of its events, ascending.
    pub seqs: Vec<u64>,
    /// When it was made: its payload's `timestamp` (ms since the epoch), the same on every
    /// attempt, so that every attempt sends the same body.
    pub made_at: i64,
    /// Where the cursor goes once it is delivered (past every event it looked at).
    pub end_seq: u64,
    /// Attempts made so far.
    pub attempts: u32,
    /// When the next attempt is due (ms since the epoch).
    pub next_attempt_at: i64,
}

/// Where a subscription's delivery stands.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    /// The next seq to look at.
    pub next_seq: u64,
    /// The message in flight, if any.
    pub pending: Option<Pending>,
    /// Attempts logged so far (numbers the delivery log's entries).
    pub logged: u64,
}

/// One attempt in the delivery log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivery {
    /// Its number in the subscription's log.
    pub number: u64,
    /// The `webhook-id`.
    pub message_id: String,
    /// The message's type (`webhook.test` for a test).
    pub event_type: String,
    /// Which attempt at the message it was (1 for the first).
    pub attempt: u32,
    /// When it was made (ms since the epoch).
    pub at: i64,
    /// The answer's status, when one came.
    pub status: Option<u16>,
    /// Why it failed without an answer, or what the service made of it.
    pub error: Option<String>,
    /// How long the request took, in ms.
    pub latency_ms: u64,
    /// The answer's first bytes (as text, lossily).
    pub answer: String,
    /// The seqs of its first and last events.
    pub seqs: Option<(u64, u64)>,
    /// How many events it carried.
    pub events: usize,
    /// Whether it counted as delivered (a 2xx).
    pub delivered: bool,
    /// When the next attempt is due, if there is one.
    pub next_attempt_at: Option<i64>,
}

/// The id of a subscription's delivery log entry `number`: it sorts by number.
pub fn delivery_id(subscription: &str, number: u64) -> String {
    format!("{subscription}/{number:020}")
}

/// The prefix of every delivery log entry of a subscription.
pub fn delivery_prefix(subscription: &str) -> String {
    format!("{subscription}/")
}

/// A new subscription id.
pub fn new_id() -> String {
    format!("whk_{}", ulid::Ulid::new().to_string().to_lowercase())
}

/// A new message id.
pub fn new_message_id() -> String {
    format!("msg_{}", ulid::Ulid::new().to_string().to_lowercase())
}

/// The body of `document` read as `T` (a subscription, a cursor, a log entry).
pub(crate) fn decode<T: serde::de::DeserializeOwned>(document: &Document) -> Result<T, StoreError> {
    serde_json::from_str(&document.body).map_err(|e| {
        StoreError::Corrupt(format!("document {}/{}: {e}", document.kind, document.id))
    })
}

/// `value` as a document's body.
pub(crate) fn encode<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("a document serialises")
}
