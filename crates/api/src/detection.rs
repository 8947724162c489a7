//! Detection bodies: `/v1/rules` and `/v1/alerts`.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Who moved an alert on, and when.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AlertStamp {
    /// Who (the actor's id).
    pub by: String,
    /// When (RFC 3339).
    pub at: String,
    /// What they said.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// An alert.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AlertInfo {
    /// `alr_` and a ULID.
    pub id: String,
    /// The rule that raised it.
    pub rule: String,
    /// The rule's name when it was raised.
    pub rule_name: String,
    /// `info`, `low`, `medium`, `high` or `critical`.
    #[schema(example = "high")]
    pub severity: String,
    /// The key the rule found it for: a user, an address, a key id.
    pub key: String,
    /// When the events behind it begin (RFC 3339).
    pub window_start: String,
    /// When they end (RFC 3339).
    pub window_end: String,
    /// The seqs of the events behind it (at most 100): `GET /v1/events?...` or the ledger's
    /// proofs reach them.
    pub seqs: Vec<u64>,
    /// How many events (or distinct values) the rule counted.
    pub count: u64,
    /// What the rule saw, in words.
    pub detail: String,
    /// `open`, `acknowledged` or `resolved`.
    #[schema(example = "open")]
    pub state: String,
    /// When it was raised (RFC 3339).
    pub created_at: String,
    /// The id of its `audit.suspicious.detected` event in the trail.
    pub event_id: String,
    /// Who acknowledged it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub acknowledged: Option<AlertStamp>,
    /// Who resolved it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resolved: Option<AlertStamp>,
}

/// A page of alerts, newest first.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AlertList {
    /// The alerts.
    pub data: Vec<AlertInfo>,
    /// Pass as `before` for the next page; absent on the last.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_before: Option<String>,
}

/// `POST /v1/alerts/{id}/acknowledge` and `/resolve` body (optional).
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AlertChange {
    /// A note for the record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 1000)]
    pub note: Option<String>,
}

/// A rule.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RuleInfo {
    /// A built-in rule's name (`failed-login-burst-user`, ...), or `rul_` and a ULID.
    pub id: String,
    /// What it is called.
    pub name: String,
    /// What it finds.
    pub description: String,
    /// `info`, `low`, `medium`, `high` or `critical`.
    pub severity: String,
    /// Whether it runs.
    pub enabled: bool,
    /// Whether it is built in (tuned and disabled, never deleted).
    pub builtin: bool,
    /// After an alert, how many minutes the same key raises no other.
    pub dedup_minutes: u32,
    /// What makes a hit: `{"type": "threshold", "predicate", "group_by", "threshold",
    /// "window_minutes", "distinct"}`, `{"type": "new_value", "fields", "remember_days"}`,
    /// `{"type": "impossible_travel", "max_kmh"}`, `{"type": "off_hours", "predicate",
    /// "start_hour", "end_hour", "weekends_off"}` or `{"type": "revoked_key"}`.
    #[schema(value_type = Object)]
    pub logic: Value,
    /// A rule of the tenant's own: its filter as written.
    #[schema(value_type = Object)]
    pub filter: Map<String, Value>,
}

/// The tenant's rules, built-in ones first.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RuleList {
    /// The rules.
    pub data: Vec<RuleInfo>,
}

/// `POST /v1/rules` body: a threshold over a filter.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateRule {
    /// What it is called.
    #[schema(min_length = 1, max_length = 200)]
    pub name: String,
    /// What it finds.
    #[serde(default)]
    #[schema(max_length = 1000)]
    pub description: String,
    /// `info`, `low`, `medium` (the default), `high` or `critical`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severity: Option<String>,
    /// The events it counts: the filter parameters of `GET /v1/events` as a JSON object.
    #[schema(value_type = Object)]
    pub filter: Map<String, Value>,
    /// The fields events are grouped by (`actor.id`, `context.ip_address`, `target.id`,
    /// `metadata.<path>`, ...); none groups every event together.
    #[serde(default)]
    #[schema(max_items = 4)]
    pub group_by: Vec<String>,
    /// How many events (or distinct values) make a hit.
    #[schema(minimum = 1, maximum = 100000)]
    pub threshold: u32,
    /// Within how many minutes.
    #[schema(minimum = 1, maximum = 10080)]
    pub window_minutes: u32,
    /// Count distinct values of this field instead of events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub distinct: Option<String>,
    /// After an alert, how many minutes the same key raises no other (default 60).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(maximum = 10080)]
    pub dedup_minutes: Option<u32>,
}

/// `PATCH /v1/rules/{id}` body: each field given replaces the rule's own; one that does not
/// apply to the rule's kind is refused.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateRule {
    /// A new name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// A new description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// A new severity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severity: Option<String>,
    /// On or off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// A new deduplication period, in minutes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dedup_minutes: Option<u32>,
    /// A new threshold (threshold rules).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold: Option<u32>,
    /// A new window in minutes (threshold rules).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window_minutes: Option<u32>,
    /// New group-by fields (threshold rules).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_by: Option<Vec<String>>,
    /// A new distinct-count field; `""` counts events again (threshold rules).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub distinct: Option<String>,
    /// A new filter (the tenant's own rules).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub filter: Option<Map<String, Value>>,
    /// How many days values are remembered (`new-login-location`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remember_days: Option<u32>,
    /// The fastest plausible travel in km/h (`impossible-travel`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_kmh: Option<f64>,
    /// When working hours start, UTC hour (`api-key-off-hours`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_hour: Option<u8>,
    /// When they end, UTC hour (`api-key-off-hours`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_hour: Option<u8>,
    /// Whether Saturdays and Sundays are outside them (`api-key-off-hours`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weekends_off: Option<bool>,
}
