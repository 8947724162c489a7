//! Export bodies: `POST /v1/exports` and what the export routes answer.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// An export's file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ExportFormat {
    /// Comma-separated values, one column per field.
    Csv,
    /// One JSON array.
    Json,
    /// One canonical event a line: the stored bytes, each line hashing to its leaf.
    Ndjson,
    /// One OCSF 1.8.0 record a line.
    Ocsf,
}

/// Where an export goes. Every destination but `download` must be configured by the operator;
/// one that is not is refused with 400 before anything is queued.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
pub enum ExportDestination {
    /// Kept on the server for `GET /v1/exports/{id}/file`.
    Download,
    /// Copied with its manifest (and proofs) into this path under the tenant's own folder of
    /// the operator's `exports.directory_root` (`<root>/<tenant>/<path>`).
    Directory {
        /// A relative path, without `..`.
        #[schema(min_length = 1, max_length = 255)]
        path: String,
    },
    /// E-mailed as an attachment with its manifest, through the operator's SMTP server.
    Email {
        /// The recipient (within the operator's allowed domains, when it names some).
        #[schema(format = Email)]
        to: String,
    },
    /// Posted with its manifest to the operator's webhook endpoint, signed as Standard
    /// Webhooks signs.
    Webhook,
}

/// `POST /v1/exports` body.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateExport {
    /// The file format.
    pub format: ExportFormat,
    /// The filter parameters of `GET /v1/events` as a JSON object (`{"action": ["user.*"],
    /// "since": "2026-01-01T00:00:00Z", "metadata.plan": "pro"}`): a string, or an array of
    /// strings where the listing takes the parameter more than once. Omit to export everything.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub filter: Map<String, Value>,
    /// A CSV export's columns, dotted paths into the event (`actor.id`, `context.ip_address`,
    /// `metadata`); the defaults when omitted or empty. Other formats write whole events and
    /// ignore it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_items = 64)]
    pub columns: Option<Vec<String>>,
    /// Where the file goes; `download` when omitted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destination: Option<ExportDestination>,
}

/// One file of a finished export.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ExportFileInfo {
    /// Its name.
    pub name: String,
    /// Its size in bytes.
    pub bytes: u64,
    /// SHA-256 of its bytes, lowercase hex.
    pub sha256: String,
    /// Where to download it (with the same credentials).
    pub url: String,
}

/// An export as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ExportInfo {
    /// The export's id.
    pub id: String,
    /// The tenant whose events it holds.
    pub tenant: String,
    /// `queued`, `running`, `succeeded`, `failed`, `cancelled`, or `expired` (succeeded, and
    /// its files removed).
    pub state: String,
    /// The file format.
    pub format: ExportFormat,
    /// The filter, as given.
    #[schema(value_type = Object)]
    pub filter: Value,
    /// Where the file goes.
    pub destination: ExportDestination,
    /// Who asked for it.
    pub created_by: String,
    /// When it was asked for (RFC 3339).
    pub created_at: String,
    /// When it last changed (RFC 3339).
    pub updated_at: String,
    /// When it finished (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<String>,
    /// Attempts so far.
    pub attempts: u32,
    /// Events written (so far, while it runs).
    pub events_written: u64,
    /// The events file, once it succeeded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<ExportFileInfo>,
    /// The signed manifest, once it succeeded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manifest_url: Option<String>,
    /// An NDJSON export's proofs file (`trailkeep verify --export` checks the export with it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proofs: Option<ExportFileInfo>,
    /// The tenant's tree size the export was cut at.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tree_size: Option<u64>,
    /// When its files are removed (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
    /// Why the last attempt failed, or why it was cancelled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Where to poll it.
    pub status_url: String,
}

/// `GET /v1/exports`: the tenant's exports, newest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ExportList {
    /// The exports.
    pub data: Vec<ExportInfo>,
    /// The `before` of the next page, when there may be one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_before: Option<String>,
}

/// `POST /v1/exports/{id}/links` body (it may be empty).
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateExportLinks {
    /// How long the links work, in seconds: from 60 to 604800 (a week), 86400 when omitted,
    /// and never past the removal of the export's files.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::whole::option_u64"
    )]
    #[schema(minimum = 60, maximum = 604800)]
    pub expires_in: Option<u64>,
}

/// Expiring signed links to a finished export's files: each works without a credential, for
/// whoever holds it, until it expires.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ExportLinks {
    /// The events file.
    pub file: String,
    /// The signed manifest.
    pub manifest: String,
    /// The proofs file, for an NDJSON export.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proofs: Option<String>,
    /// When the links stop working (RFC 3339).
    pub expires_at: String,
}
