//! The export manifest: what an export holds and how to check it, signed with the ledger's key.
//!
//! It is a C2SP signed note of two lines, the origin [`MANIFEST_ORIGIN`] and the manifest as
//! one line of JSON, so the vkey that checks the tenant's checkpoints checks it too. It names
//! the tenant, filter, format, count, seq and time ranges, the SHA-256 and size of the file
//! (and of an NDJSON export's proofs file), and the signed checkpoint the export
//! was cut at.

use serde::{Deserialize, Serialize};
use trailkeep_event::{Filter, Timestamp};
use trailkeep_ledger::NoteVerifier;

use super::Format;

/// The first line of every manifest note.
pub const MANIFEST_ORIGIN: &str = "trailkeep.dev/export-manifest/v1";

/// A file of the export: its name, size and SHA-256 (hex).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileDigest {
    /// The file's name as downloaded.
    pub name: String,
    /// Its size in bytes.
    pub bytes: u64,
    /// SHA-256 of its bytes, lowercase hex.
    pub sha256: String,
}

/// What an export holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// The export's job id.
    pub export_id: String,
    /// The tenant whose events it holds.
    pub tenant: String,
    /// The file's format.
    pub format: Format,
    /// The filter the events matched.
    pub filter: Filter,
    /// The CSV columns, for a CSV export.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub columns: Option<Vec<String>>,
    /// How many events the file holds.
    pub count: u64,
    /// The first and last seq written.
    pub first_seq: Option<u64>,
    /// The last seq written.
    pub last_seq: Option<u64>,
    /// The earliest `occurred_at` written.
    pub first_occurred_at: Option<Timestamp>,
    /// The latest `occurred_at` written.
    pub last_occurred_at: Option<Timestamp>,
    /// The events file.
    pub file: FileDigest,
    /// An NDJSON export's proofs file, one line per event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proofs: Option<FileDigest>,
    /// The tenant's tree size the export was cut at: every event below it was considered.
    pub tree_size: u64,
    /// The signed checkpoint of that tree size (a C2SP note).
    pub checkpoint: String,
    /// When the export finished.
    pub created_at: Timestamp,
}

impl Manifest {
    /// The note text to sign: the origin line and the manifest as one line of JSON.
    pub fn note_text(&self) -> String {
        let json = serde_json::to_string(self).expect("a manifest serialises");
        format!("{MANIFEST_ORIGIN}\n{json}\n")
    }

    /// Checks `note`'s signature with `verifier` and reads the manifest in it.
    pub fn open(note: &str, verifier: &NoteVerifier) -> Result<Self, String> {
        let text = verifier
            .verify(note)
            .map_err(|e| format!("the manifest's signature does not verify: {e}"))?;
        let json = text
            .strip_prefix(MANIFEST_ORIGIN)
            .and_then(|rest| rest.strip_prefix('\n'))
            .ok_or_else(|| format!("the note is not an export manifest ({MANIFEST_ORIGIN})"))?;
        serde_json::from_str(json.trim_end())
            .map_err(|e| format!("the manifest does not parse: {e}"))
    }
}
