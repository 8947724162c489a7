//! Bodies of `/v1/retention`, `/v1/legal-holds` and `/v1/erasures`.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// One period of a retention policy for some events.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RetentionOverride {
    /// The action (`session.started`), or a prefix ending in `*` (`session.*`). Name this or
    /// `category`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    /// The category (`login`, `read`, ...). Name this or `action`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    /// Days its events are kept after they occurred, 1 to 36500.
    #[schema(minimum = 1, maximum = 36500)]
    pub days: u32,
}

/// `PUT /v1/retention` body: the tenant's whole policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RetentionPolicyBody {
    /// Days an event is kept after it occurred when no override names it, 1 to 36500;
    /// absent: the server's default (`server_default_days`), or forever.
    #[serde(default)]
    #[schema(minimum = 1, maximum = 36500)]
    pub default_days: Option<u32>,
    /// Periods by action or category: an action wins over a category, a longer action
    /// pattern over a shorter one. At most 100.
    #[serde(default)]
    pub overrides: Vec<RetentionOverride>,
}

/// The tenant's retention policy as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RetentionPolicyInfo {
    /// The tenant's default period; absent when it leaves it to the server.
    pub default_days: Option<u32>,
    /// The tenant's overrides.
    pub overrides: Vec<RetentionOverride>,
    /// The server's default period (its `retention.default_days` setting); absent: events
    /// no period names are kept forever.
    pub server_default_days: Option<u32>,
    /// When the policy was last changed; absent when never.
    pub updated_at: Option<String>,
    /// Who changed it last.
    pub updated_by: Option<String>,
}

/// A retention run as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RetentionRunInfo {
    /// Its id.
    pub id: String,
    /// `queued`, `running`, `succeeded`, `failed` or `cancelled`.
    pub state: String,
    /// Who asked (`trailkeep.retention` for the daily run).
    pub created_by: String,
    /// When it was asked for.
    pub created_at: String,
    /// When it ended.
    pub finished_at: Option<String>,
    /// What it did, once it succeeded: `examined`, `removed`, `held`, `already_removed`,
    /// `records` (the ids of the events recording the removals), `idempotency_keys_swept`,
    /// `files_removed`, `tree_size`.
    #[schema(value_type = Option<Object>)]
    pub result: Option<Value>,
    /// How far it got, while it runs.
    #[schema(value_type = Option<Object>)]
    pub progress: Option<Value>,
    /// Why it failed.
    pub error: Option<String>,
    /// Where to follow it.
    pub status_url: String,
}

/// A page of retention runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RetentionRunList {
    /// Newest first.
    pub data: Vec<RetentionRunInfo>,
    /// Pass as `before` for the next page; absent on the last.
    pub next_before: Option<String>,
}

/// `POST /v1/legal-holds` body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateLegalHold {
    /// What it covers: `{"type": "tenant"}`, `{"type": "actor", "id": ...}`, `{"type":
    /// "target", "id": ..., "target_type": ...}` or `{"type": "filter", "filter": {...}}`
    /// (the parameters of `GET /v1/events`).
    #[schema(value_type = Object)]
    pub scope: Map<String, Value>,
    /// Why (a matter, a case number), 1 to 1000 characters.
    #[schema(min_length = 1, max_length = 1000)]
    pub reason: String,
}

/// `POST /v1/legal-holds/{id}/lift` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LiftLegalHold {
    /// Why it is lifted, 1 to 1000 characters.
    #[schema(min_length = 1, max_length = 1000)]
    pub reason: String,
}

/// A legal hold as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LegalHoldInfo {
    /// Its id.
    pub id: String,
    /// `standing` or `lifted`.
    pub state: String,
    /// What it covers, as placed.
    #[schema(value_type = Object)]
    pub scope: Value,
    /// Why it was placed.
    pub reason: String,
    /// Who placed it.
    pub placed_by: String,
    /// When.
    pub placed_at: String,
    /// When it was lifted.
    pub lifted_at: Option<String>,
    /// Who lifted it.
    pub lifted_by: Option<String>,
    /// Why it was lifted.
    pub lift_reason: Option<String>,
}

/// A page of legal holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LegalHoldList {
    /// Oldest first.
    pub data: Vec<LegalHoldInfo>,
    /// Pass as `after` for the next page; absent on the last.
    pub next_after: Option<String>,
}

/// `POST /v1/erasures` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateErasure {
    /// The person's `actor.id`. Name this, `email`, or both.
    #[serde(default)]
    pub actor_id: Option<String>,
    /// The person's `actor.email` (any ASCII case).
    #[serde(default)]
    pub email: Option<String>,
    /// The fields to remove from their events, as paths: `actor`, `actor.id`, `actor.email`,
    /// `actor.name`, `target`, `target.name`, `context`, `context.ip_address`,
    /// `context.user_agent`, `context.location`, `context.device`, `context.geo`, `changes`,
    /// `description`, `metadata`. Default: `actor.email`, `actor.name` and every
    /// `context` field that locates a person.
    #[serde(default)]
    pub fields: Vec<String>,
    /// Why (the request's reference), 1 to 1000 characters.
    #[schema(min_length = 1, max_length = 1000)]
    pub reason: String,
}

/// An erasure as the API shows it. The person's identifiers are not shown again: only their
/// SHA-256 digests, as the trail records them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ErasureInfo {
    /// Its id.
    pub id: String,
    /// `queued`, `running`, `succeeded`, `failed` or `cancelled`.
    pub state: String,
    /// SHA-256 (hex) of `actor_id:<id>` and of `email:<lowercased e-mail>`, as given.
    pub subject_sha256: Vec<String>,
    /// The fields removed.
    pub fields: Vec<String>,
    /// Why.
    pub reason: String,
    /// Who asked.
    pub created_by: String,
    /// When.
    pub created_at: String,
    /// When it ended.
    pub finished_at: Option<String>,
    /// What it did, once it succeeded: `matched`, `erased`, `held`, `unchanged`, `records`
    /// (the ids of the events recording the removals), `files_removed`.
    #[schema(value_type = Option<Object>)]
    pub result: Option<Value>,
    /// Why it failed.
    pub error: Option<String>,
    /// Where to follow it.
    pub status_url: String,
}

/// A page of erasures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ErasureList {
    /// Newest first.
    pub data: Vec<ErasureInfo>,
    /// Pass as `before` for the next page; absent on the last.
    pub next_before: Option<String>,
}
