//! Report bodies: `POST /v1/reports` and what the report routes answer.

use serde::{Deserialize, Serialize};

/// Which report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ReportKind {
    /// Volume, actions, sign-ins, privileged changes, access to the trail and alerts, mapped
    /// to SOC 2, ISO 27001 and PCI DSS controls.
    ComplianceSummary,
    /// Credentials and roles, grants and revocations, who read or exported what.
    AccessReview,
    /// Failed sign-ins, alerts, administrative activity outside working hours.
    SecurityEvents,
}

/// A report's file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ReportFileFormat {
    /// PDF, with the report's JSON attached inside.
    Pdf,
    /// One self-contained HTML file.
    Html,
    /// The report's data.
    Json,
}

/// The time a report covers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReportPeriod {
    /// The start: a date (`2025-01-01`, from its midnight UTC) or an RFC 3339 time.
    pub from: String,
    /// The end: a date (`2025-01-31`, that whole day included) or an RFC 3339 time (excluded).
    pub to: String,
}

/// `POST /v1/reports` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateReport {
    /// Which report.
    #[serde(rename = "type")]
    pub report_type: ReportKind,
    /// The period, by the events' `occurred_at`.
    pub period: ReportPeriod,
    /// The file format (`pdf` when omitted).
    #[serde(default)]
    pub format: Option<ReportFileFormat>,
    /// Whether the activity figures (volume, actions, categories, entities, actors) are in a
    /// compliance summary (`true` when omitted).
    #[serde(default)]
    pub include_stats: Option<bool>,
    /// Where the file goes besides the download route (`download` when omitted): the
    /// destinations of exports, configured by the operator.
    #[serde(default)]
    pub destination: Option<crate::ExportDestination>,
}

/// A report as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ReportInfo {
    /// Its id.
    pub id: String,
    /// The tenant it is about.
    pub tenant: String,
    /// `queued`, `running`, `succeeded`, `failed` or `cancelled`.
    pub state: String,
    /// Which report.
    #[serde(rename = "type")]
    pub report_type: ReportKind,
    /// The period: `from` included, `to` excluded, RFC 3339.
    pub period: ReportPeriod,
    /// The file format.
    pub format: ReportFileFormat,
    /// Where the file goes besides the download route.
    pub destination: crate::ExportDestination,
    /// Who asked.
    pub created_by: String,
    /// When it was asked for.
    pub created_at: String,
    /// When it finished.
    pub finished_at: Option<String>,
    /// Events checked against the checkpoint so far, while it runs.
    pub progress: Option<ReportProgress>,
    /// The file, once it succeeded.
    pub file: Option<ReportFileInfo>,
    /// The tree size of the signed checkpoint it was made at.
    pub tree_size: Option<u64>,
    /// The events of the period.
    pub period_events: Option<u64>,
    /// Whether every event below the checkpoint verified when it was made.
    pub verified: Option<bool>,
    /// Why it failed.
    pub error: Option<String>,
    /// Where to poll it.
    pub status_url: String,
}

/// How far a running report has read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ReportProgress {
    /// Events read and checked.
    pub checked: u64,
    /// Of how many.
    pub of: u64,
}

/// A report's file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ReportFileInfo {
    /// Its name.
    pub name: String,
    /// Its size.
    pub bytes: u64,
    /// SHA-256, lowercase hex.
    pub sha256: String,
    /// Where to download it.
    pub url: String,
}

/// `GET /v1/reports` answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ReportList {
    /// Newest first.
    pub data: Vec<ReportInfo>,
    /// The `before` of the next page, when there may be one.
    pub next_before: Option<String>,
}
