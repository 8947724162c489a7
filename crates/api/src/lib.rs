//! Wire types of the native `/v1` API, shared by the server and by clients: request and response
//! bodies, RFC 9457 problem details, and the stable error codes.
//!
//! Events travel as raw JSON ([`RawValue`]): the server sends each event's stored canonical bytes
//! unchanged, so a client can hash exactly what it received.

#![deny(missing_docs)]

mod credentials;
mod ledger;
mod problem;

pub use credentials::{
    ApiKeyInfo, ApiKeyList, CreateApiKey, CreatedApiKey, TokenRequest, TokenResponse,
};
pub use ledger::{
    ConsistencyProofBody, EventProofBody, InclusionBody, InclusionProofBody, hash_b64,
    hash_from_b64,
};
pub use problem::{PROBLEM_CONTENT_TYPE, Problem, ProblemError};

use serde::{Deserialize, Serialize};
pub use serde_json::value::RawValue;

/// Most events in one `POST /v1/events`.
pub const MAX_BATCH: usize = 10_000;

/// A stored event's receipt, as in the answer to `POST /v1/events`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
#[derive(Debug, Serialize, Deserialize)]
pub struct IngestResponse {
    /// The stored events.
    pub data: Vec<Box<RawValue>>,
    /// One receipt per event.
    pub receipts: Vec<ReceiptBody>,
}

/// The answer to `GET /v1/events`.
#[derive(Debug, Serialize, Deserialize)]
pub struct ListResponse {
    /// The page's events (canonical JSON).
    pub data: Vec<Box<RawValue>>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}
