//! Webhook bodies: `/v1/webhooks` and what its routes answer.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A webhook event type. Each is an event in the tenant's trail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub enum WebhookEventType {
    /// An event was recorded (every event without a more specific type).
    #[serde(rename = "audit.log.created")]
    LogCreated,
    /// An export finished.
    #[serde(rename = "audit.export.completed")]
    ExportCompleted,
    /// Detection raised an alert.
    #[serde(rename = "audit.suspicious.detected")]
    SuspiciousDetected,
}

/// `POST /v1/webhooks` body.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateWebhook {
    /// Where messages are posted: an `https://` URL (plain `http://` and private or loopback
    /// addresses only where the operator allows them).
    #[schema(max_length = 2048)]
    pub url: String,
    /// The types it receives.
    #[schema(min_items = 1)]
    pub event_types: Vec<WebhookEventType>,
    /// Which `audit.log.created` events it receives: the filter parameters of `GET
    /// /v1/events` as a JSON object (`{"action": ["user.*"], "outcome": "failure"}`). Omit
    /// for every event.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub filter: Map<String, Value>,
    /// What it is for.
    #[serde(default)]
    #[schema(max_length = 500)]
    pub description: String,
}

/// `PATCH /v1/webhooks/{id}` body: each field given replaces the stored one.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateWebhook {
    /// A new destination.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 2048)]
    pub url: Option<String>,
    /// New event types.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(min_items = 1)]
    pub event_types: Option<Vec<WebhookEventType>>,
    /// A new filter (`{}` removes it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub filter: Option<Map<String, Value>>,
    /// A new description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 500)]
    pub description: Option<String>,
}

/// A signing secret in use, without its value.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct WebhookSecretInfo {
    /// When it was made (RFC 3339).
    pub created_at: String,
    /// When it stops being used, after a rotation (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
}

/// Where a subscription's delivery stands.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct WebhookProgress {
    /// The next seq of the tenant's trail it looks at.
    pub next_seq: u64,
    /// The message in flight: its `webhook-id`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pending_message: Option<String>,
    /// Attempts made at the message in flight.
    pub pending_attempts: u32,
    /// When its next attempt is due (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_attempt_at: Option<String>,
}

/// A webhook subscription.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct WebhookInfo {
    /// `whk_` and a ULID.
    pub id: String,
    /// Where messages are posted.
    pub url: String,
    /// The types it receives.
    pub event_types: Vec<WebhookEventType>,
    /// Its filter of `audit.log.created` events, as written.
    #[schema(value_type = Object)]
    pub filter: Map<String, Value>,
    /// What it is for.
    pub description: String,
    /// `active`, `paused` (by its owner) or `disabled` (by the service: the endpoint answered
    /// 410, or every retry of a message failed). Events wait at the cursor while it is not
    /// active.
    #[schema(example = "active")]
    pub state: String,
    /// Why the service disabled it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disabled_reason: Option<String>,
    /// The secrets messages are signed with (more than one while a rotation overlaps).
    pub secrets: Vec<WebhookSecretInfo>,
    /// Where delivery stands.
    pub progress: WebhookProgress,
    /// When it was made (RFC 3339).
    pub created_at: String,
    /// Who made it.
    pub created_by: String,
    /// When it last changed (RFC 3339).
    pub updated_at: String,
}

/// A subscription just made, or whose secret was just rotated, with the new secret: the only
/// answer that ever carries it.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct WebhookWithSecret {
    /// The subscription.
    pub webhook: WebhookInfo,
    /// The signing secret, `whsec_` and base64: keep it now, it is not shown again.
    pub secret: String,
}

/// A page of subscriptions, oldest first.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct WebhookList {
    /// The subscriptions.
    pub data: Vec<WebhookInfo>,
    /// Pass as `after` for the next page; absent on the last.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_after: Option<String>,
}

/// `POST /v1/webhooks/{id}/rotate` body.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RotateWebhook {
    /// How long the old secret keeps signing beside the new one (default 86400, at most
    /// 604800; 0 stops it at once).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(maximum = 604800)]
    pub overlap_seconds: Option<u64>,
}

/// `POST /v1/webhooks/{id}/replay` body: exactly one of the two.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplayWebhook {
    /// Send again from this seq of the tenant's trail.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_seq: Option<u64>,
    /// Send again from the first event received at or after this time (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_time: Option<String>,
}

/// What a replay starts from.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ReplayStarted {
    /// The seq delivery goes on from.
    pub from_seq: u64,
}

/// What a test message came to.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct WebhookTestResult {
    /// Whether the endpoint answered 2xx.
    pub delivered: bool,
    /// Its status, when it answered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// Why no answer came.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// How long it took, in ms.
    pub latency_ms: u64,
    /// The answer's first bytes.
    pub answer: String,
}

/// One attempt in a subscription's delivery log.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct WebhookDelivery {
    /// Its number in the log.
    pub number: u64,
    /// The `webhook-id`.
    pub message_id: String,
    /// The message's type.
    pub event_type: String,
    /// Which attempt at the message (1 for the first).
    pub attempt: u32,
    /// When (RFC 3339).
    pub at: String,
    /// The endpoint's status, when it answered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// Why no answer came.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// How long it took, in ms.
    pub latency_ms: u64,
    /// The answer's first bytes.
    pub answer: String,
    /// The seq of its first event.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_seq: Option<u64>,
    /// The seq of its last event.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_seq: Option<u64>,
    /// How many events it carried.
    pub events: usize,
    /// Whether it counted as delivered (a 2xx).
    pub delivered: bool,
    /// When the next attempt is due (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_attempt_at: Option<String>,
}

/// A page of the delivery log, newest first.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct WebhookDeliveryList {
    /// The attempts.
    pub data: Vec<WebhookDelivery>,
    /// Pass as `before` for the next page; absent on the last.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_before: Option<u64>,
}
