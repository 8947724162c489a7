//! Wire shapes of the ledger endpoints (DESIGN section 5). Hashes are standard padded base64, as
//! in C2SP notes.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

/// Encodes a hash as standard padded base64.
pub fn hash_b64(hash: &[u8]) -> String {
    STANDARD.encode(hash)
}

/// Decodes standard padded base64 (of any length: verifiers check lengths).
pub fn hash_from_b64(text: &str) -> Option<Vec<u8>> {
    STANDARD.decode(text).ok()
}

/// `GET /v1/ledger/proofs/inclusion`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct InclusionProofBody {
    /// The leaf's index.
    pub seq: u64,
    /// The tree size the proof is against.
    pub tree_size: u64,
    /// The leaf's hash.
    pub leaf_hash: String,
    /// The audit path, leaf to root.
    pub hashes: Vec<String>,
}

/// `GET /v1/ledger/proofs/consistency`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ConsistencyProofBody {
    /// The smaller tree size.
    pub first: u64,
    /// The larger tree size.
    pub second: u64,
    /// The consistency proof.
    pub hashes: Vec<String>,
}

/// The inclusion part of `GET /v1/events/{id}?proof=1`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct InclusionBody {
    /// The size of the checkpoint's tree.
    pub tree_size: u64,
    /// The audit path, leaf to root.
    pub hashes: Vec<String>,
}

/// `GET /v1/events/{id}?proof=1`: the event, its leaf hash, and its inclusion proof against the
/// newest checkpoint, which is included.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct EventProofBody {
    /// The event (canonical JSON).
    #[schema(value_type = trailkeep_event::Event)]
    pub event: Box<RawValue>,
    /// Its leaf hash.
    pub leaf_hash: String,
    /// Its inclusion proof.
    pub inclusion: InclusionBody,
    /// The signed checkpoint the proof is against.
    pub checkpoint: String,
}
