//! Audit Rail's `POST /api/v1/audit/reports`, as the seed documents it, and
//! `GET /api/v1/audit/reports/{reportId}` to follow it: the native report job behind the
//! Rail's request body, envelope and error shape.
//!
//! `reportType` is `COMPLIANCE_SUMMARY`, `ACCESS_REVIEW` or `SECURITY_EVENTS`; `period` has
//! `from` and `to`, each a date (`to` included) or an RFC 3339 time (`to` excluded);
//! `includeStats` keeps or drops the activity figures; `format` is `PDF` (the default),
//! `HTML` or `JSON`.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use trailkeep_jobs::export::Destination;
use trailkeep_reports::{ReportFormat, ReportType};
use trailkeep_store::JobRecord;
use utoipa::ToSchema;

use crate::AppState;
use crate::auth::Principal;
use crate::body::{decode, encoding, received};
use crate::error::ApiError;
use crate::reports::{Asked, find_in, info, queue, reports, spec, spec_of};

/// The Rail's report period.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RailPeriod {
    /// The first day (`2025-01-01`) or an RFC 3339 time.
    from: String,
    /// The last day (`2025-01-31`, included) or an RFC 3339 time (excluded).
    to: String,
}

/// `POST /api/v1/audit/reports` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RailReportRequest {
    /// `COMPLIANCE_SUMMARY`, `ACCESS_REVIEW` or `SECURITY_EVENTS`.
    report_type: String,
    /// The period.
    period: RailPeriod,
    /// Whether the activity figures are in it (`true` when omitted).
    #[serde(default)]
    include_stats: Option<bool>,
    /// `PDF` (when omitted), `HTML` or `JSON`.
    #[serde(default)]
    format: Option<String>,
}

/// A report in the Rail's words.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RailReport {
    /// The report's id.
    report_id: String,
    /// `QUEUED`, `RUNNING`, `COMPLETED`, `FAILED` or `CANCELLED`.
    status: String,
    /// The report type asked for.
    report_type: String,
    /// The format asked for.
    format: String,
    /// The period covered: `from` included, `to` excluded, RFC 3339.
    period: RailPeriodOut,
    /// Where to poll it.
    status_url: String,
    /// When it was asked for.
    created_at: String,
    /// When it finished.
    #[serde(skip_serializing_if = "Option::is_none")]
    completed_at: Option<String>,
    /// Where to download it (with the same credentials), once completed.
    #[serde(skip_serializing_if = "Option::is_none")]
    download_url: Option<String>,
    /// SHA-256 of the file, once completed.
    #[serde(skip_serializing_if = "Option::is_none")]
    sha256: Option<String>,
    /// Whether every event below its checkpoint verified, once completed.
    #[serde(skip_serializing_if = "Option::is_none")]
    verified: Option<bool>,
    /// Why it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

/// A period as answered.
#[derive(Debug, Serialize, ToSchema)]
pub struct RailPeriodOut {
    /// The first instant covered.
    from: String,
    /// The first instant after it.
    to: String,
}

/// The Rail's envelope of one report.
#[derive(Debug, Serialize, ToSchema)]
pub struct RailReportAnswer {
    /// The report.
    data: RailReport,
}

fn rail_report(job: &JobRecord) -> Result<RailReport, ApiError> {
    let info = info(job, "/v1/reports")?;
    let status = super::job_status(job.state);
    let spec = spec_of(job)?;
    Ok(RailReport {
        report_id: job.id.clone(),
        status: status.into(),
        report_type: spec.report_type.name().into(),
        format: spec.format.extension().to_ascii_uppercase(),
        period: RailPeriodOut {
            from: info.period.from,
            to: info.period.to,
        },
        status_url: format!("/api/v1/audit/reports/{}", job.id),
        created_at: info.created_at,
        completed_at: info.finished_at,
        download_url: info.file.as_ref().map(|f| f.url.clone()),
        sha256: info.file.map(|f| f.sha256),
        verified: info.verified,
        error: info.error,
    })
}

/// `POST /api/v1/audit/reports`.
#[utoipa::path(
    operation_id = "audit_rail_report",
    post,
    path = "/reports",
    tag = "audit-rail",
    summary = "Audit Rail: generate a compliance audit report",
    description = "Queues a report of the caller's trail over the period (the native report job, with the ledger's integrity attestation). Poll the status URL, then download the file from its download URL.",
    request_body = RailReportRequest,
    responses(
        (status = 202, description = "Queued", body = RailReportAnswer),
        (status = 400, description = "The body is invalid: an unknown report type or format, or a bad period", body = super::AuditRailError),
        (status = 415, description = "Not JSON", body = super::AuditRailError),
    )
)]
pub async fn create(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    reports(&state)?;
    let request: RailReportRequest = decode(&received(body)?, encoding(&headers, false)?)?;
    let report_type = ReportType::parse(&request.report_type)
        .map_err(|why| ApiError::invalid_field("reportType", why))?;
    let format = match &request.format {
        Some(format) => {
            ReportFormat::parse(format).map_err(|why| ApiError::invalid_field("format", why))?
        }
        None => ReportFormat::Pdf,
    };
    let spec = spec(
        &state,
        &principal,
        Asked {
            report_type,
            period: (&request.period.from, &request.period.to),
            format,
            include_stats: request.include_stats.unwrap_or(true),
            destination: Destination::Download,
        },
    )?;
    let job = queue(&state, &principal, &spec).await?;
    let answer = RailReportAnswer {
        data: rail_report(&job)?,
    };
    Ok((StatusCode::ACCEPTED, Json(answer)).into_response())
}

/// `GET /api/v1/audit/reports/{reportId}`.
#[utoipa::path(
    operation_id = "audit_rail_report_status",
    get,
    path = "/reports/{reportId}",
    tag = "audit-rail",
    summary = "Audit Rail: follow a report",
    params(("reportId" = String, Path, description = "The report's id")),
    responses(
        (status = 200, description = "The report", body = RailReportAnswer),
        (status = 404, description = "The tenant has no such report", body = super::AuditRailError),
    )
)]
pub async fn status(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<RailReportAnswer>, ApiError> {
    let job = find_in(&state, &principal.tenant, &id).await?;
    Ok(Json(RailReportAnswer {
        data: rail_report(&job)?,
    }))
}
