//! Wire types of the native `/v1` API, shared by the server and by clients: request and response
//! bodies, RFC 9457 problem details, and the stable error codes.
//!
//! Events travel as raw JSON ([`RawValue`]): the server sends each event's stored canonical bytes
//! unchanged, so a client can hash exactly what it received.

#![deny(missing_docs)]

mod credentials;
mod detection;
mod exports;
mod ledger;
mod problem;
mod reports;
mod retention;
mod viewer;
mod webhooks;
pub mod whole;

pub use credentials::{
    ApiKeyInfo, ApiKeyList, CreateApiKey, CreatedApiKey, TokenRequest, TokenResponse,
};
pub use detection::{
    AlertChange, AlertInfo, AlertList, AlertStamp, CreateRule, RuleInfo, RuleList, UpdateRule,
};
pub use exports::{
    CreateExport, CreateExportLinks, ExportDestination, ExportFileInfo, ExportFormat, ExportInfo,
    ExportLinks, ExportList,
};
pub use ledger::{
    ConsistencyProofBody, EventProofBody, InclusionBody, InclusionProofBody, hash_b64,
    hash_from_b64,
};
pub use problem::{PROBLEM_CONTENT_TYPE, Problem, ProblemError};
pub use reports::{
    CreateReport, ReportFileFormat, ReportFileInfo, ReportInfo, ReportKind, ReportList,
    ReportPeriod, ReportProgress,
};
pub use retention::{
    CreateErasure, CreateLegalHold, ErasureInfo, ErasureList, LegalHoldInfo, LegalHoldList,
    LiftLegalHold, RetentionOverride, RetentionPolicyBody, RetentionPolicyInfo, RetentionRunInfo,
    RetentionRunList,
};
pub use viewer::{CreateViewerToken, SessionInfo, ViewScope, ViewerToken};
pub use webhooks::{
    CreateWebhook, ReplayStarted, ReplayWebhook, RotateWebhook, UpdateWebhook, WebhookDelivery,
    WebhookDeliveryList, WebhookEventType, WebhookInfo, WebhookList, WebhookProgress,
    WebhookSecretInfo, WebhookTestResult, WebhookWithSecret,
};

use serde::{Deserialize, Serialize};
pub use serde_json::value::RawValue;

/// Most events in one `POST /v1/events`.
pub const MAX_BATCH: usize = 10_000;

/// A stored event's receipt, as in the answer to `POST /v1/events`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ReceiptBody {
    /// The event's id.
    pub id: String,
    /// Its leaf index in the tenant's tree.
    pub seq: u64,
    /// Its leaf hash, standard padded base64.
    pub leaf_hash: String,
}

/// The answer to `POST /v1/events`: the stored events (canonical JSON) and their receipts, in
/// the order they were sent.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct IngestResponse {
    /// The stored events.
    #[schema(value_type = Vec<trailkeep_event::Event>)]
    pub data: Vec<Box<RawValue>>,
    /// One receipt per event.
    pub receipts: Vec<ReceiptBody>,
}

/// The answer to `GET /v1/events` and the other listings: `{data, next_cursor}` when paging
/// with `limit`/`cursor`, `{data, page, per_page, total}` when paging with `page`/`per_page`.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ListResponse {
    /// The page's events (canonical JSON).
    #[schema(value_type = Vec<trailkeep_event::Event>)]
    pub data: Vec<Box<RawValue>>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
    /// The page number (page mode).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page: Option<u64>,
    /// The page size (page mode).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_page: Option<u32>,
    /// How many events match in all (page mode).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total: Option<u64>,
}

/// One count of a `GET /v1/stats` grouping.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct GroupCount {
    /// The group's value (an action, a day, ...).
    pub value: String,
    /// Matching events in it.
    pub count: u64,
}

/// The answer to `GET /v1/stats`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct StatsResponse {
    /// Matching events.
    pub total: u64,
    /// Distinct actors among them.
    pub unique_actors: u64,
    /// Failed sign-ins among them.
    pub failed_logins: u64,
    /// Counts per requested grouping, largest first, at most 1,000 values each.
    pub groups: std::collections::BTreeMap<String, Vec<GroupCount>>,
    /// The groupings that had more values than they list (their values past the first 1,000
    /// are counted in the totals only).
    pub truncated: Vec<String>,
}

/// The answer to `GET /v1/events/{id}`: the event, or with `?proof=1` the event with its
/// inclusion proof.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum EventAnswer {
    /// The event (canonical JSON).
    Event(Box<trailkeep_event::Event>),
    /// The event with its proof.
    WithProof(EventProofBody),
}
