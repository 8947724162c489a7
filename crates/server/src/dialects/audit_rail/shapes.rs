//! Audit Rail's wire shapes: records, envelopes, errors, and the query strings as OpenAPI
//! describes them.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{Map, Value};
use utoipa::{IntoParams, ToSchema};

use crate::dialects::Instant;

/// An Audit Rail error body.
#[derive(Serialize, ToSchema)]
pub struct AuditRailError {
    /// What went wrong.
    pub error: AuditRailErrorDetail,
}

/// The inside of an Audit Rail error.
#[derive(Serialize, ToSchema)]
pub struct AuditRailErrorDetail {
    /// `BAD_REQUEST`, `VALIDATION_ERROR`, `UNAUTHORIZED`, `FORBIDDEN`, `NOT_FOUND`,
    /// `RATE_LIMITED`, `SERVICE_UNAVAILABLE`, ...
    pub code: String,
    /// Why.
    pub message: String,
    /// The fields at fault, for validation errors.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub details: Vec<FieldDetail>,
}

/// One field at fault.
#[derive(Serialize, ToSchema)]
pub struct FieldDetail {
    /// The field.
    pub field: String,
    /// What is wrong with it.
    pub message: String,
}

/// The actor of a log.
#[derive(Debug, Serialize, ToSchema)]
pub struct RailActor {
    /// `USER`, `API_KEY`, `SYSTEM`, `WEBHOOK` (or another type, in capitals).
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// The actor's id.
    pub id: Option<String>,
    /// The actor's e-mail.
    pub email: Option<String>,
}

/// An Audit Rail log entry.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RailLog {
    /// The event id.
    pub log_id: String,
    /// When it happened (RFC 3339).
    pub timestamp: String,
    /// The action, as stored (such as `CONTRACT_CREATED`).
    pub action: String,
    /// `target.type`.
    pub entity_type: Option<String>,
    /// `target.id`.
    pub entity_id: Option<String>,
    /// Who did it.
    pub actor: RailActor,
    /// Application data.
    #[schema(value_type = Object)]
    pub metadata: Map<String, Value>,
    /// The client address.
    pub ip_address: Option<String>,
    /// The client's user agent.
    pub user_agent: Option<String>,
    /// The trace id.
    pub trace_id: Option<String>,
}

/// Page-number paging, as Audit Rail answers it.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Pagination {
    /// The page, from 1.
    pub page: u64,
    /// Entries a page.
    pub per_page: u32,
    /// Matching entries in all.
    pub total: u64,
}

/// `GET logs` answer.
#[derive(Serialize, ToSchema)]
pub struct RailLogs {
    /// The page's logs, newest first.
    pub data: Vec<RailLog>,
    /// Where this page is.
    pub pagination: Pagination,
}

/// The ledger receipt of a log: where it sits in the tenant's Merkle tree, and the proof.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Receipt {
    /// The event's leaf index.
    pub seq: u64,
    /// Its leaf hash (base64).
    pub leaf_hash: String,
    /// The tree size the proof is against.
    pub tree_size: u64,
    /// The inclusion proof (base64 hashes).
    pub inclusion_proof: Vec<String>,
    /// The signed checkpoint (C2SP signed note) of that tree size.
    pub checkpoint: String,
}

/// One log with every detail.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RailLogDetail {
    /// The log.
    #[serde(flatten)]
    pub log: RailLog,
    /// The action's kind (`CREATE` ... `REJECT`, or `EXECUTE`, `OTHER`).
    pub category: String,
    /// `SUCCESS`, `FAILED` or `UNKNOWN`.
    pub status: String,
    /// The target's display name.
    pub entity_name: Option<String>,
    /// Field changes: name to `{from, to}`.
    #[schema(value_type = Option<Object>)]
    pub changes: Option<Value>,
    /// A summary.
    pub description: Option<String>,
    /// When the service received it.
    pub received_at: String,
    /// Its place in the ledger.
    pub receipt: Receipt,
}

/// `GET logs/{logId}` answer.
#[derive(Serialize, ToSchema)]
pub struct RailLogAnswer {
    /// The log.
    pub data: RailLogDetail,
}

/// One step of an entity's history.
#[derive(Serialize, ToSchema)]
pub struct HistoryEntry {
    /// When (RFC 3339).
    pub timestamp: String,
    /// `CREATED`, `UPDATED`, `DELETED`, `READ`, ...
    pub action: String,
    /// The actor's id.
    pub actor: Option<String>,
    /// Field changes, or null.
    #[schema(value_type = Option<Object>)]
    pub changes: Option<Value>,
}

/// `GET entities/{entityType}/{entityId}/history` answer.
#[derive(Serialize, ToSchema)]
pub struct HistoryAnswer {
    /// Oldest first.
    pub data: Vec<HistoryEntry>,
    /// Where this page is.
    pub pagination: Pagination,
}

/// One data access.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AccessEntry {
    /// The event id.
    pub log_id: String,
    /// When (RFC 3339).
    pub timestamp: String,
    /// `READ`, `WRITE` or `DELETE`.
    pub access_type: String,
    /// The resource type.
    pub resource_type: Option<String>,
    /// The resource id.
    pub resource_id: Option<String>,
    /// Who.
    pub actor_id: Option<String>,
    /// The actor's type, in capitals.
    pub actor_type: Option<String>,
    /// The action, as stored.
    pub action: String,
    /// The client address.
    pub ip_address: Option<String>,
}

/// `GET access-logs` answer.
#[derive(Serialize, ToSchema)]
pub struct AccessAnswer {
    /// Newest first.
    pub data: Vec<AccessEntry>,
    /// Where this page is.
    pub pagination: Pagination,
}

/// One sign-in.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LoginEntry {
    /// When (RFC 3339).
    pub timestamp: String,
    /// Who.
    pub user_id: Option<String>,
    /// `SUCCESS` or `FAILED`.
    pub status: String,
    /// How (`PASSWORD`, `SSO`, ...).
    pub method: Option<String>,
    /// The client address.
    pub ip_address: Option<String>,
    /// Where.
    pub location: Option<String>,
    /// The device.
    pub device: Option<String>,
}

/// `GET login-history` answer.
#[derive(Serialize, ToSchema)]
pub struct LoginAnswer {
    /// Newest first.
    pub data: Vec<LoginEntry>,
    /// Where this page is.
    pub pagination: Pagination,
}

/// Statistics.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RailStats {
    /// The period asked for: `YYYY-MM`, `from..to`, or `all`.
    pub period: String,
    /// Matching events.
    pub total_events: u64,
    /// Counts by action kind (`CREATE`, `UPDATE`, ...).
    pub by_action: BTreeMap<String, u64>,
    /// Counts by entity type.
    pub by_entity_type: BTreeMap<String, u64>,
    /// Distinct actors.
    pub unique_actors: u64,
    /// Failed sign-ins.
    pub failed_logins: u64,
}

/// `GET stats` answer.
#[derive(Serialize, ToSchema)]
pub struct StatsAnswer {
    /// The statistics.
    pub data: RailStats,
}

/// `GET logs` parameters.
#[derive(IntoParams)]
#[into_params(parameter_in = Query, rename_all = "camelCase")]
#[allow(dead_code)] // Described; the handler parses the query string itself.
pub struct LogsQuery {
    /// An action kind (`CREATE`, `UPDATE`, `DELETE`, `READ`, `EXPORT`, `LOGIN`, `LOGOUT`,
    /// `APPROVE`, `REJECT`) or an exact action (`CONTRACT_CREATED`, which also matches
    /// `contract.created`).
    #[param(min_length = 1, max_length = 256)]
    pub action: Option<String>,
    /// The entity (target) type.
    #[param(min_length = 1, max_length = 256)]
    pub entity_type: Option<String>,
    /// The entity (target) id.
    #[param(min_length = 1, max_length = 256)]
    pub entity_id: Option<String>,
    /// The actor id.
    #[param(min_length = 1, max_length = 256)]
    pub actor_id: Option<String>,
    /// At or after (RFC 3339 or YYYY-MM-DD).
    #[param(value_type = Option<Instant>, inline)]
    pub from: Option<String>,
    /// Before (RFC 3339 or YYYY-MM-DD).
    #[param(value_type = Option<Instant>, inline)]
    pub to: Option<String>,
    /// Page, from 1.
    #[param(minimum = 1, maximum = 100000)]
    pub page: Option<u64>,
    /// Entries a page, 1 to 1000 (default 50).
    #[param(minimum = 1, maximum = 1000)]
    pub per_page: Option<u32>,
}

/// Paging parameters of the other lists.
#[derive(IntoParams)]
#[into_params(parameter_in = Query, rename_all = "camelCase")]
#[allow(dead_code)] // Described; the handlers parse the query string themselves.
pub struct PagingQuery {
    /// At or after (RFC 3339 or YYYY-MM-DD).
    #[param(value_type = Option<Instant>, inline)]
    pub from: Option<String>,
    /// Before (RFC 3339 or YYYY-MM-DD).
    #[param(value_type = Option<Instant>, inline)]
    pub to: Option<String>,
    /// Page, from 1.
    #[param(minimum = 1, maximum = 100000)]
    pub page: Option<u64>,
    /// Entries a page, 1 to 1000 (default 50).
    #[param(minimum = 1, maximum = 1000)]
    pub per_page: Option<u32>,
}

/// Access kinds.
#[derive(ToSchema)]
#[allow(dead_code)] // Described, never built.
pub enum RailAccessType {
    /// Reads.
    #[schema(rename = "READ")]
    Read,
    /// Creates and updates.
    #[schema(rename = "WRITE")]
    Write,
    /// Deletes.
    #[schema(rename = "DELETE")]
    Delete,
}

/// Sign-in results.
#[derive(ToSchema)]
#[allow(dead_code)] // Described, never built.
pub enum RailStatus {
    /// It worked.
    #[schema(rename = "SUCCESS")]
    Success,
    /// It did not.
    #[schema(rename = "FAILED")]
    Failed,
}

/// `GET access-logs` filters.
#[derive(IntoParams)]
#[into_params(parameter_in = Query, rename_all = "camelCase")]
#[allow(dead_code)] // Described; the handler parses the query string itself.
pub struct AccessQuery {
    /// The resource type.
    #[param(min_length = 1, max_length = 256)]
    pub resource_type: Option<String>,
    /// The access kind.
    #[param(inline)]
    pub access_type: Option<RailAccessType>,
    /// The actor id.
    #[param(min_length = 1, max_length = 256)]
    pub actor_id: Option<String>,
}

/// `GET login-history` filters.
#[derive(IntoParams)]
#[into_params(parameter_in = Query, rename_all = "camelCase")]
#[allow(dead_code)] // Described; the handler parses the query string itself.
pub struct LoginQuery {
    /// The user: an id, or an e-mail (when it holds `@`).
    #[param(min_length = 1, max_length = 256)]
    pub user_id: Option<String>,
    /// The result.
    #[param(inline)]
    pub status: Option<RailStatus>,
}

/// `GET stats` parameters.
#[derive(IntoParams)]
#[into_params(parameter_in = Query, rename_all = "camelCase")]
#[allow(dead_code)] // Described; the handler parses the query string itself.
pub struct StatsQuery {
    /// A month, `YYYY-MM` (instead of `from` and `to`).
    #[param(pattern = "^(000[1-9]|00[1-9][0-9]|0[1-9][0-9]{2}|[1-9][0-9]{3})-(0[1-9]|1[0-2])$")]
    pub period: Option<String>,
    /// At or after (RFC 3339 or YYYY-MM-DD).
    #[param(value_type = Option<Instant>, inline)]
    pub from: Option<String>,
    /// Before (RFC 3339 or YYYY-MM-DD).
    #[param(value_type = Option<Instant>, inline)]
    pub to: Option<String>,
}
