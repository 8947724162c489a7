//! The query strings of the native API, described for OpenAPI.
//!
//! Handlers parse query strings strictly with [`Params`](crate::params::Params) (unknown keys
//! refused, every value checked); these structs only describe what they accept, and the tests
//! below keep each in step with its handler's list of allowed keys.

#![allow(dead_code)] // Fields exist to be described, never read.

use trailkeep_event::{Category, Outcome};
use utoipa::{IntoParams, ToSchema};

/// Listing order.
#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
pub enum SortOrder {
    /// Oldest first.
    Asc,
    /// Newest first.
    Desc,
}

/// The filters every listing, the stream and the statistics take. Also
/// `metadata.<path>=<value>` (for example `metadata.party.name=Acme`), which OpenAPI cannot
/// name.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FilterParams {
    /// Only events that occurred at or after this instant (RFC 3339).
    #[param(format = DateTime)]
    since: Option<String>,
    /// Only events that occurred before this instant (RFC 3339).
    #[param(format = DateTime)]
    until: Option<String>,
    /// Actions to match (repeatable, at most 32); `contract.*` matches by prefix.
    #[param(max_items = 32, min_length = 1, max_length = 256)]
    action: Option<Vec<String>>,
    /// Categories to match (repeatable).
    #[param(max_items = 32)]
    category: Option<Vec<Category>>,
    /// Only this outcome.
    outcome: Option<Outcome>,
    /// Only this actor id.
    #[param(min_length = 1, max_length = 256)]
    actor_id: Option<String>,
    /// Only this actor e-mail.
    #[param(min_length = 1, max_length = 256)]
    actor_email: Option<String>,
    /// Only this actor type (`user`, `api_key`, `system`, ...).
    #[param(min_length = 1, max_length = 256)]
    actor_type: Option<String>,
    /// Only this target type.
    #[param(min_length = 1, max_length = 256)]
    target_type: Option<String>,
    /// Only this target id.
    #[param(min_length = 1, max_length = 256)]
    target_id: Option<String>,
    /// Only this client IP address.
    #[param(min_length = 1, max_length = 256)]
    ip: Option<String>,
    /// Full text: every word must appear in the action, description, names, e-mails, ids or
    /// metadata values (at most 32 words).
    #[param(min_length = 1, max_length = 1024)]
    q: Option<String>,
}

/// Paging: `limit` and an opaque `cursor`, or `page` and `per_page` with an exact total.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PagingParams {
    /// `desc` (newest first, the default for listings) or `asc`.
    #[param(inline)]
    order: Option<SortOrder>,
    /// Page size, 1 to 1000 (default 50).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<u32>,
    /// The `next_cursor` of the previous page, for the same tenant, endpoint and filter.
    #[param(min_length = 1)]
    cursor: Option<String>,
    /// Page number from 1 (with `per_page`; at most 100,000 events deep).
    #[param(minimum = 1)]
    page: Option<u64>,
    /// Page size for `page`, 1 to 1000.
    #[param(minimum = 1, maximum = 1000)]
    per_page: Option<u32>,
}

/// Whether to add the inclusion proof.
#[derive(ToSchema)]
pub enum ProofFlag {
    /// Yes.
    #[schema(rename = "1")]
    One,
    /// No.
    #[schema(rename = "0")]
    Zero,
    /// Yes.
    #[schema(rename = "true")]
    True,
    /// No.
    #[schema(rename = "false")]
    False,
}

/// `GET /v1/events/{id}` options.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ProofParams {
    /// `1` adds the inclusion proof and the checkpoint it is against.
    #[param(inline)]
    proof: Option<ProofFlag>,
}

/// `GET /v1/events/stream` options besides the filters.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StreamParams {
    /// Start at this seq (default: only new events); `Last-Event-ID` wins over it.
    from_seq: Option<u64>,
}

/// `GET /v1/entities/{type}/{id}/history` filters.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HistoryParams {
    /// At or after this instant (RFC 3339).
    #[param(format = DateTime)]
    since: Option<String>,
    /// Before this instant (RFC 3339).
    #[param(format = DateTime)]
    until: Option<String>,
    /// Actions (repeatable); `prefix.*` matches by prefix.
    #[param(max_items = 32, min_length = 1, max_length = 256)]
    action: Option<Vec<String>>,
    /// Only this actor id.
    #[param(min_length = 1, max_length = 256)]
    actor_id: Option<String>,
}

/// `GET /v1/logins` filters.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LoginParams {
    /// At or after this instant (RFC 3339).
    #[param(format = DateTime)]
    since: Option<String>,
    /// Before this instant (RFC 3339).
    #[param(format = DateTime)]
    until: Option<String>,
    /// A user id, or an e-mail (when it holds `@`).
    #[param(min_length = 1, max_length = 256)]
    user: Option<String>,
    /// The outcome of the sign-in.
    status: Option<Outcome>,
    /// The client IP address.
    #[param(min_length = 1, max_length = 256)]
    ip: Option<String>,
}

/// Kinds of data access.
#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
pub enum AccessType {
    /// Reads.
    Read,
    /// Creates and updates.
    Write,
    /// Deletes.
    Delete,
}

/// `GET /v1/access` filters.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AccessParams {
    /// At or after this instant (RFC 3339).
    #[param(format = DateTime)]
    since: Option<String>,
    /// Before this instant (RFC 3339).
    #[param(format = DateTime)]
    until: Option<String>,
    /// The resource (target) type.
    #[param(min_length = 1, max_length = 256)]
    resource_type: Option<String>,
    /// Kinds of access (repeatable).
    #[param(inline)]
    access_type: Option<Vec<AccessType>>,
    /// Only this actor id.
    #[param(min_length = 1, max_length = 256)]
    actor_id: Option<String>,
    /// Categories besides those of `access_type` (repeatable).
    #[param(max_items = 32)]
    category: Option<Vec<Category>>,
}

/// `GET /v1/stats` grouping.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StatsParams {
    /// Comma-separated groupings: `action`, `category`, `target_type`, `outcome`, `actor`,
    /// `day` (repeatable).
    group_by: Option<Vec<String>>,
}

/// `GET /v1/ledger/checkpoint` parameters.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CheckpointParams {
    /// Wait (a second or so) for a checkpoint covering at least this many events, such as the
    /// tree size after your last write; without it, the newest checkpoint is answered at once.
    min_size: Option<u64>,
}

/// `GET /v1/ledger/proofs/inclusion` parameters.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct InclusionParams {
    /// The leaf (the event's seq).
    seq: u64,
    /// The tree size the proof is against (a checkpoint's size).
    tree_size: u64,
}

/// `GET /v1/ledger/proofs/consistency` parameters.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ConsistencyParams {
    /// The older tree size.
    first: u64,
    /// The newer tree size.
    second: u64,
}
