//! `/v1/reports` (`audit:export`): ask for a compliance report, follow it, download it.
//!
//! The work is a durable job (`trailkeep_reports`), run by the job runner; these handlers
//! only queue it, read it back and serve its file. Every route looks a report up within the
//! caller's tenant, so another tenant's report id is a 404 everywhere. Asking for a report and
//! downloading it are events in the tenant's trail (the runner records completion and failure).

use std::path::PathBuf;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use trailkeep_api::{
    CreateReport, ReportFileFormat, ReportFileInfo, ReportInfo, ReportKind, ReportList,
    ReportPeriod, ReportProgress,
};
use trailkeep_jobs::export::{Deliveries, Destination};
use trailkeep_reports::job::{KIND, file_path};
use trailkeep_reports::{Period, ReportFormat, ReportResult, ReportSpec, ReportType};
use trailkeep_store::{JobRecord, JobState};

use crate::AppState;
use crate::attachment::attachment;
use crate::auth::Principal;
use crate::body::{decode, encoding, received};
use crate::error::ApiError;
use crate::exports::{destination, rfc3339, wire_destination};
use crate::params::Params;

/// Where report files live and how to tell the runner a report was asked for.
pub struct Reports {
    /// The directory the report jobs write into.
    pub dir: PathBuf,
    /// Whether this server makes PDF reports.
    pub pdf: bool,
    /// The destinations the operator configured (those of exports).
    pub deliveries: Deliveries,
    /// Wakes an idle worker.
    pub wake: Box<dyn Fn() + Send + Sync>,
}

/// The server's reports, or 503 when it makes none.
pub fn reports(state: &AppState) -> Result<&Reports, ApiError> {
    state.reports.as_deref().ok_or_else(|| {
        ApiError::unavailable(
            "reports_disabled",
            "this server does not make reports".into(),
        )
    })
}

/// The wire name of a report type.
pub fn wire_kind(report_type: ReportType) -> ReportKind {
    match report_type {
        ReportType::ComplianceSummary => ReportKind::ComplianceSummary,
        ReportType::AccessReview => ReportKind::AccessReview,
        ReportType::SecurityEvents => ReportKind::SecurityEvents,
    }
}

fn report_type(kind: ReportKind) -> ReportType {
    match kind {
        ReportKind::ComplianceSummary => ReportType::ComplianceSummary,
        ReportKind::AccessReview => ReportType::AccessReview,
        ReportKind::SecurityEvents => ReportType::SecurityEvents,
    }
}

fn wire_format(format: ReportFormat) -> ReportFileFormat {
    match format {
        ReportFormat::Pdf => ReportFileFormat::Pdf,
        ReportFormat::Html => ReportFileFormat::Html,
        ReportFormat::Json => ReportFileFormat::Json,
    }
}

fn format(format: ReportFileFormat) -> ReportFormat {
    match format {
        ReportFileFormat::Pdf => ReportFormat::Pdf,
        ReportFileFormat::Html => ReportFormat::Html,
        ReportFileFormat::Json => ReportFormat::Json,
    }
}

/// The job's report spec.
pub fn spec_of(job: &JobRecord) -> Result<ReportSpec, ApiError> {
    serde_json::from_str(&job.spec)
        .map_err(|e| ApiError::internal(&format!("report {}: {e}", job.id)))
}

fn result_of(job: &JobRecord) -> Option<ReportResult> {
    job.result
        .as_deref()
        .and_then(|r| serde_json::from_str(r).ok())
}

/// The report as the API shows it; `base` is where its routes are.
pub fn info(job: &JobRecord, base: &str) -> Result<ReportInfo, ApiError> {
    let spec = spec_of(job)?;
    let result = result_of(job);
    let progress: Value = serde_json::from_str(&job.progress).unwrap_or(Value::Null);
    let status_url = format!("{base}/{}", job.id);
    Ok(ReportInfo {
        id: job.id.clone(),
        tenant: job.tenant.clone(),
        state: job.state.as_str().into(),
        report_type: wire_kind(spec.report_type),
        period: ReportPeriod {
            from: spec.period.from.to_string(),
            to: spec.period.to.to_string(),
        },
        format: wire_format(spec.format),
        destination: wire_destination(spec.destination),
        created_by: job.created_by.clone(),
        created_at: rfc3339(job.created_at),
        finished_at: job.finished_at.map(rfc3339),
        progress: match (progress["checked"].as_u64(), progress["of"].as_u64()) {
            (Some(checked), Some(of)) if !job.state.is_final() => {
                Some(ReportProgress { checked, of })
            }
            _ => None,
        },
        file: result.as_ref().map(|r| ReportFileInfo {
            name: r.file.name.clone(),
            bytes: r.file.bytes,
            sha256: r.file.sha256.clone(),
            url: format!("{status_url}/file"),
        }),
        tree_size: result.as_ref().map(|r| r.tree_size),
        period_events: result.as_ref().map(|r| r.period_events),
        verified: result.as_ref().map(|r| r.verified),
        error: job.error.clone(),
        status_url,
    })
}

/// `tenant`'s report `id`, or 404.
pub async fn find_in(state: &AppState, tenant: &str, id: &str) -> Result<JobRecord, ApiError> {
    state
        .store
        .job(tenant, id)
        .await?
        .filter(|job| job.kind == KIND)
        .ok_or_else(|| ApiError::not_found("no such report"))
}

/// What a report request asks for, as read from a body of either dialect.
pub struct Asked<'a> {
    /// Which report.
    pub report_type: ReportType,
    /// The period's two ends as given.
    pub period: (&'a str, &'a str),
    /// The file format.
    pub format: ReportFormat,
    /// Whether the activity figures are in it.
    pub include_stats: bool,
    /// Where the file goes.
    pub destination: Destination,
}

/// The spec of a report asked for by `principal`: the period read, a PDF only where this
/// server makes them (a 400 on `format` otherwise), a destination only where it is configured
/// (a 400 on `destination` otherwise).
pub fn spec(
    state: &AppState,
    principal: &Principal,
    asked: Asked<'_>,
) -> Result<ReportSpec, ApiError> {
    let Asked {
        report_type,
        period,
        format: report_format,
        include_stats,
        destination,
    } = asked;
    let reports = reports(state)?;
    let period = Period::parse(period.0, period.1).map_err(|why| {
        let field = why.split(':').next().unwrap_or("period").to_owned();
        ApiError::invalid_field(field, why)
    })?;
    if report_format == ReportFormat::Pdf && !reports.pdf {
        return Err(ApiError::invalid_field(
            "format",
            "this server makes no PDF reports: ask for html or json",
        ));
    }
    reports
        .deliveries
        .check(&destination)
        .map_err(|why| ApiError::invalid_field("destination", why))?;
    Ok(ReportSpec {
        report_type,
        period,
        format: report_format,
        include_stats,
        destination,
        requested_by: principal.actor(),
    })
}

/// Queues `spec` for the caller's tenant and wakes a worker.
pub async fn queue(
    state: &AppState,
    principal: &Principal,
    spec: &ReportSpec,
) -> Result<JobRecord, ApiError> {
    let reports = reports(state)?;
    let created_by = principal.id.clone().unwrap_or_else(|| "token".into());
    let job =
        trailkeep_reports::request(&*state.store, &principal.tenant, spec, &created_by).await?;
    (reports.wake)();
    Ok(job)
}

/// `POST /v1/reports`: ask for a report of the caller's tenant.
#[utoipa::path(
    operation_id = "create_report",
    post,
    path = "/v1/reports",
    tag = "reports",
    summary = "Request a report",
    description = "Queues a compliance report over a period of the caller's tenant's trail: COMPLIANCE_SUMMARY, ACCESS_REVIEW or SECURITY_EVENTS, as PDF, HTML or JSON. Answers 202 at once; poll the status URL, then download the file. Every report carries an integrity attestation: the signed checkpoint it was made at, the consistency proof from the tenant's previous report, and the result of checking every event below the checkpoint against it.",
    request_body = trailkeep_api::CreateReport,
    responses(
        (status = 202, description = "Queued", body = trailkeep_api::ReportInfo),
        (status = 400, description = "The body is invalid (an unknown type or format, a bad period)", body = trailkeep_api::Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not JSON", body = trailkeep_api::Problem, content_type = "application/problem+json"),
        (status = 503, description = "Reports are not enabled on this server", body = trailkeep_api::Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn create(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    reports(&state)?;
    let request: CreateReport = decode(&received(body)?, encoding(&headers, false)?)?;
    let spec = spec(
        &state,
        &principal,
        Asked {
            report_type: report_type(request.report_type),
            period: (&request.period.from, &request.period.to),
            format: format(request.format.unwrap_or(ReportFileFormat::Pdf)),
            include_stats: request.include_stats.unwrap_or(true),
            destination: destination(request.destination),
        },
    )?;
    let job = queue(&state, &principal, &spec).await?;
    let body = info(&job, "/v1/reports")?;
    let mut response = (StatusCode::ACCEPTED, Json(&body)).into_response();
    if let Ok(location) = HeaderValue::from_str(&body.status_url) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    Ok(response)
}

/// `GET /v1/reports`: the caller's tenant's reports, newest first.
#[utoipa::path(
    operation_id = "list_reports",
    get,
    path = "/v1/reports",
    tag = "reports",
    summary = "List reports",
    params(
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 100, description = "At most this many (default 20)"),
        ("before" = Option<String>, Query, description = "Only reports older than this id (the previous page's next_before)"),
    ),
    responses(
        (status = 200, description = "The reports", body = trailkeep_api::ReportList),
        (status = 400, description = "A parameter is invalid", body = trailkeep_api::Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn list(
    State(state): State<AppState>,
    principal: Principal,
    uri: Uri,
) -> Result<Json<ReportList>, ApiError> {
    let params = Params::parse(&uri, &["limit", "before"])?;
    let limit = params.page_limit()?;
    let jobs = state
        .store
        .jobs(&principal.tenant, KIND, params.one("before")?, limit)
        .await?;
    let next_before = (jobs.len() == limit)
        .then(|| jobs.last().map(|j| j.id.clone()))
        .flatten();
    Ok(Json(ReportList {
        data: jobs
            .iter()
            .map(|j| info(j, "/v1/reports"))
            .collect::<Result<_, _>>()?,
        next_before,
    }))
}

/// `GET /v1/reports/{id}`: one report.
#[utoipa::path(
    operation_id = "get_report",
    get,
    path = "/v1/reports/{id}",
    tag = "reports",
    summary = "Get a report",
    params(("id" = String, Path, description = "The report's id")),
    responses(
        (status = 200, description = "The report", body = trailkeep_api::ReportInfo),
        (status = 404, description = "The tenant has no such report", body = trailkeep_api::Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn get_one(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<ReportInfo>, ApiError> {
    let job = find_in(&state, &principal.tenant, &id).await?;
    Ok(Json(info(&job, "/v1/reports")?))
}

/// Streams `tenant`'s report `id`'s file, recording the download in the tenant's trail with
/// `actor` as who downloaded it.
pub async fn serve_file(
    state: &AppState,
    tenant: &str,
    id: &str,
    actor: Value,
) -> Result<Response, ApiError> {
    let reports = reports(state)?;
    let job = find_in(state, tenant, id).await?;
    match job.state {
        JobState::Succeeded => {}
        JobState::Queued | JobState::Running => {
            return Err(ApiError::conflict(
                "report_not_ready",
                "the report has not finished; poll its status URL",
            ));
        }
        JobState::Failed | JobState::Cancelled => {
            return Err(ApiError::not_found(
                "the report did not finish; it has no file",
            ));
        }
    }
    let spec = spec_of(&job)?;
    let result = result_of(&job)
        .ok_or_else(|| ApiError::internal(&format!("report {} has no result", job.id)))?;
    let file = tokio::fs::File::open(file_path(&reports.dir, &job.id, spec.format))
        .await
        .map_err(|_| ApiError::not_found("the report's file is gone"))?;
    state
        .audit
        .record(
            tenant,
            json!({
                "action": "audit.report.downloaded",
                "actor": actor,
                "target": {"type": "report", "id": job.id},
                "metadata": {"file": result.file.name, "bytes": result.file.bytes},
            }),
        )
        .await?;
    Ok(attachment(
        file,
        spec.format.media_type(),
        &result.file.name,
        Some(result.file.bytes),
    ))
}

/// `GET /v1/reports/{id}/file`: the report's file.
#[utoipa::path(
    operation_id = "download_report",
    get,
    path = "/v1/reports/{id}/file",
    tag = "reports",
    summary = "Download a report",
    description = "The file of a succeeded report, in its format. Each download is an event in the tenant's trail.",
    params(("id" = String, Path, description = "The report's id")),
    responses(
        (status = 200, description = "The report", content(
            (Vec<u8> = "application/pdf"),
            (String = "text/html; charset=utf-8"),
            (Object = "application/json"),
        )),
        (status = 404, description = "No such report, or it failed", body = trailkeep_api::Problem, content_type = "application/problem+json"),
        (status = 409, description = "The report has not finished", body = trailkeep_api::Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn file(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    serve_file(&state, &principal.tenant, &id, principal.actor()).await
}
