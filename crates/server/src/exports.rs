//! `/v1/exports` (`audit:export`): ask for an export, follow it, cancel it, download its files.
//!
//! The work itself is a durable job (`trailkeep_jobs::export`), run by the job runner; these
//! handlers only queue it, read it back and serve its files. Every route looks a job up within
//! the caller's tenant, so another tenant's export id is a 404 everywhere. Requesting,
//! cancelling and downloading are events in the tenant's trail (the runner records completion
//! and failure).

use std::path::PathBuf;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use trailkeep_api::{
    CreateExport, ExportDestination, ExportFileInfo, ExportFormat, ExportInfo, ExportList,
};
use trailkeep_event::{Filter, Timestamp};
use trailkeep_jobs::export::{
    self, Deliveries, Destination, ExportFiles, ExportResult, ExportSpec, Format, KNOWN_COLUMNS,
    Part,
};
use trailkeep_jobs::now_ms;
use trailkeep_store::{JobRecord, JobState};

use crate::AppState;
use crate::attachment::attachment;
use crate::auth::Principal;
use crate::body::{decode, encoding, received};
use crate::error::ApiError;
use crate::listing::{FILTER_PARAMS, filter_pairs, parse_filter};
use crate::params::Params;

/// Where export files live and how to tell the runner a job was queued.
pub struct Exports {
    /// The directory the export jobs write into.
    pub dir: PathBuf,
    /// The destinations the operator configured.
    pub deliveries: Deliveries,
    /// The address users reach the server at, which signed links start with (paths when
    /// `None`).
    pub public_url: Option<String>,
    /// Wakes an idle worker.
    pub wake: Box<dyn Fn() + Send + Sync>,
}

/// Most CSV columns.
const MAX_COLUMNS: usize = 64;

/// The server's exports, or 503 when it runs none.
pub fn exports(state: &AppState) -> Result<&Exports, ApiError> {
    state.exports.as_deref().ok_or_else(|| {
        ApiError::unavailable(
            "exports_disabled",
            "this server does not run exports".into(),
        )
    })
}

/// Milliseconds since the epoch as RFC 3339.
pub fn rfc3339(ms: i64) -> String {
    Timestamp::millis_rfc3339(ms)
}

fn wire_format(format: Format) -> ExportFormat {
    match format {
        Format::Csv => ExportFormat::Csv,
        Format::Json => ExportFormat::Json,
        Format::Ndjson => ExportFormat::Ndjson,
        Format::Ocsf => ExportFormat::Ocsf,
    }
}

/// The job's export spec, when it is an export of this server's making.
fn spec_of(job: &JobRecord) -> Result<ExportSpec, ApiError> {
    serde_json::from_str(&job.spec)
        .map_err(|e| ApiError::internal(&format!("export {}: {e}", job.id)))
}

/// The export as the API shows it.
pub fn info(job: &JobRecord) -> Result<ExportInfo, ApiError> {
    let spec = spec_of(job)?;
    let result: Option<ExportResult> = job
        .result
        .as_deref()
        .and_then(|r| serde_json::from_str(r).ok());
    let progress: Value = serde_json::from_str(&job.progress).unwrap_or(Value::Null);
    let base = format!("/v1/exports/{}", job.id);
    let file_info = |digest: &export::FileDigest, path: &str| ExportFileInfo {
        name: digest.name.clone(),
        bytes: digest.bytes,
        sha256: digest.sha256.clone(),
        url: format!("{base}/{path}"),
    };
    let expired = result.as_ref().is_some_and(|r| r.expires_at <= now_ms());
    let live = result.as_ref().filter(|_| !expired);
    Ok(ExportInfo {
        id: job.id.clone(),
        tenant: job.tenant.clone(),
        state: if expired {
            "expired".into()
        } else {
            job.state.as_str().into()
        },
        format: wire_format(spec.format),
        filter: serde_json::to_value(&spec.filter).unwrap_or(Value::Null),
        destination: wire_destination(spec.destination),
        created_by: job.created_by.clone(),
        created_at: rfc3339(job.created_at),
        updated_at: rfc3339(job.updated_at),
        finished_at: job.finished_at.map(rfc3339),
        attempts: job.attempts,
        events_written: result
            .as_ref()
            .map_or_else(|| progress["written"].as_u64().unwrap_or(0), |r| r.count),
        file: live.map(|r| file_info(&r.file, "file")),
        manifest_url: live.map(|_| format!("{base}/manifest")),
        proofs: live.and_then(|r| r.proofs.as_ref().map(|p| file_info(p, "proofs"))),
        tree_size: result.as_ref().map(|r| r.tree_size),
        expires_at: result.as_ref().map(|r| rfc3339(r.expires_at)),
        error: job.error.clone(),
        status_url: base,
    })
}

/// The caller's tenant's export `id`, or 404.
pub async fn find(
    state: &AppState,
    principal: &Principal,
    id: &str,
) -> Result<JobRecord, ApiError> {
    find_in(state, &principal.tenant, id).await
}

/// `tenant`'s export `id`, or 404.
pub async fn find_in(state: &AppState, tenant: &str, id: &str) -> Result<JobRecord, ApiError> {
    state
        .store
        .job(tenant, id)
        .await?
        .filter(|job| job.kind == export::KIND)
        .ok_or_else(|| ApiError::not_found("no such export"))
}

/// A succeeded export's result, while its files are kept; 409 before it finished, 404 when it
/// failed, was cancelled or its files expired.
pub fn live_result(job: &JobRecord) -> Result<ExportResult, ApiError> {
    match job.state {
        JobState::Succeeded => {}
        JobState::Queued | JobState::Running => {
            return Err(ApiError::conflict(
                "export_not_ready",
                "the export has not finished; poll its status URL",
            ));
        }
        JobState::Failed | JobState::Cancelled => {
            return Err(ApiError::not_found(
                "the export did not finish; it has no files",
            ));
        }
    }
    let result: ExportResult = job
        .result
        .as_deref()
        .and_then(|r| serde_json::from_str(r).ok())
        .ok_or_else(|| ApiError::internal(&format!("export {} has no result", job.id)))?;
    if result.expires_at <= now_ms() {
        return Err(ApiError::not_found("the export's files have expired"));
    }
    Ok(result)
}

/// A destination as the API names it.
pub fn wire_destination(destination: Destination) -> ExportDestination {
    match destination {
        Destination::Download => ExportDestination::Download,
        Destination::Directory { path } => ExportDestination::Directory { path },
        Destination::Email { to } => ExportDestination::Email { to },
        Destination::Webhook => ExportDestination::Webhook,
    }
}

/// The destination a request names (`download` when it names none).
pub fn destination(wire: Option<ExportDestination>) -> Destination {
    match wire {
        None | Some(ExportDestination::Download) => Destination::Download,
        Some(ExportDestination::Directory { path }) => Destination::Directory { path },
        Some(ExportDestination::Email { to }) => Destination::Email { to },
        Some(ExportDestination::Webhook) => Destination::Webhook,
    }
}

/// Queues `spec` for the caller's tenant, once its destination is known to be configured here
/// (a 400 on `destination` otherwise), and wakes a worker.
pub async fn queue(
    state: &AppState,
    principal: &Principal,
    spec: &ExportSpec,
) -> Result<JobRecord, ApiError> {
    let exports = exports(state)?;
    exports
        .deliveries
        .check(&spec.destination)
        .map_err(|why| ApiError::invalid_field("destination", why))?;
    let created_by = principal.id.clone().unwrap_or_else(|| "token".into());
    let job = export::request(&*state.store, &principal.tenant, spec, &created_by).await?;
    (exports.wake)();
    Ok(job)
}

/// `POST /v1/exports`: queue an export of the caller's tenant's events.
#[utoipa::path(
    operation_id = "create_export",
    post,
    path = "/v1/exports",
    tag = "exports",
    summary = "Request an export",
    description = "Queues an export of the caller's tenant's events matching the filter (the parameters of GET /v1/events, as a JSON object). Answers 202 at once; poll the status URL. The export is cut at a signed checkpoint and comes with a manifest signed with the ledger key.",
    request_body = trailkeep_api::CreateExport,
    responses(
        (status = 202, description = "Queued", body = trailkeep_api::ExportInfo),
        (status = 400, description = "The body is invalid", body = trailkeep_api::Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not JSON", body = trailkeep_api::Problem, content_type = "application/problem+json"),
        (status = 503, description = "Exports are not enabled on this server", body = trailkeep_api::Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn create(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    // 503 before anything else when this server runs no exports.
    exports(&state)?;
    let request: CreateExport = decode(&received(body)?, encoding(&headers, false)?)?;
    let params = Params::from_pairs(filter_pairs(&request.filter)?, FILTER_PARAMS)?;
    let filter: Filter = parse_filter(&params)?;
    let format = match request.format {
        ExportFormat::Csv => Format::Csv,
        ExportFormat::Json => Format::Json,
        ExportFormat::Ndjson => Format::Ndjson,
        ExportFormat::Ocsf => Format::Ocsf,
    };
    // Columns shape a CSV file; other formats write whole events and ignore them.
    let columns = request
        .columns
        .filter(|c| format == Format::Csv && !c.is_empty());
    if let Some(columns) = &columns {
        if columns.len() > MAX_COLUMNS {
            return Err(ApiError::invalid_field(
                "columns",
                format!("at most {MAX_COLUMNS} columns"),
            ));
        }
        if let Some(unknown) = columns
            .iter()
            .find(|c| !KNOWN_COLUMNS.contains(&c.as_str()))
        {
            return Err(ApiError::invalid_field(
                "columns",
                format!(
                    "unknown column {unknown:?}; known: {}",
                    KNOWN_COLUMNS.join(", ")
                ),
            ));
        }
    }
    let destination = destination(request.destination);
    let spec = ExportSpec {
        format,
        filter,
        columns,
        destination,
        requested_by: principal.actor(),
    };
    let job = queue(&state, &principal, &spec).await?;
    let body = info(&job)?;
    let mut response = (StatusCode::ACCEPTED, Json(&body)).into_response();
    if let Ok(location) = HeaderValue::from_str(&body.status_url) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    Ok(response)
}

/// `GET /v1/exports`: the caller's tenant's exports, newest first.
#[utoipa::path(
    operation_id = "list_exports",
    get,
    path = "/v1/exports",
    tag = "exports",
    summary = "List exports",
    params(
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 100, description = "At most this many (default 20)"),
        ("before" = Option<String>, Query, description = "Only exports older than this id (the previous page's next_before)"),
    ),
    responses(
        (status = 200, description = "The exports", body = trailkeep_api::ExportList),
        (status = 400, description = "A parameter is invalid", body = trailkeep_api::Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn list(
    State(state): State<AppState>,
    principal: Principal,
    uri: Uri,
) -> Result<Json<ExportList>, ApiError> {
    let params = Params::parse(&uri, &["limit", "before"])?;
    let limit = params.page_limit()?;
    let before = params.one("before")?;
    let jobs = state
        .store
        .jobs(&principal.tenant, export::KIND, before, limit)
        .await?;
    let next_before = (jobs.len() == limit)
        .then(|| jobs.last().map(|j| j.id.clone()))
        .flatten();
    Ok(Json(ExportList {
        data: jobs.iter().map(info).collect::<Result<_, _>>()?,
        next_before,
    }))
}

/// `GET /v1/exports/{id}`: one export.
#[utoipa::path(
    operation_id = "get_export",
    get,
    path = "/v1/exports/{id}",
    tag = "exports",
    summary = "Get an export",
    params(("id" = String, Path, description = "The export's id")),
    responses(
        (status = 200, description = "The export", body = trailkeep_api::ExportInfo),
        (status = 404, description = "The tenant has no such export", body = trailkeep_api::Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn get_one(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<ExportInfo>, ApiError> {
    Ok(Json(info(&find(&state, &principal, &id).await?)?))
}

/// `DELETE /v1/exports/{id}`: cancel an export that has not finished.
#[utoipa::path(
    delete,
    path = "/v1/exports/{id}",
    tag = "exports",
    summary = "Cancel an export",
    description = "Cancels a queued or running export (a running one stops at its next step). A finished export is answered as it is.",
    params(("id" = String, Path, description = "The export's id")),
    responses(
        (status = 200, description = "The export as it now is", body = trailkeep_api::ExportInfo),
        (status = 404, description = "The tenant has no such export", body = trailkeep_api::Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn cancel(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<ExportInfo>, ApiError> {
    let job = find(&state, &principal, &id).await?;
    if job.state.is_final() {
        return Ok(Json(info(&job)?));
    }
    let audit = export::export_event(
        &principal.tenant,
        "audit.export.cancelled",
        &principal.actor(),
        &id,
        json!({}),
    )?;
    let job = state
        .store
        .cancel(
            &principal.tenant,
            &id,
            now_ms(),
            "cancelled by request",
            audit,
        )
        .await?
        .ok_or_else(|| ApiError::not_found("no such export"))?;
    Ok(Json(info(&job)?))
}

/// Streams one of `tenant`'s export `id`'s files; a download of the events file is recorded
/// in the tenant's trail with `actor` as who downloaded it and `how` beside the file's name.
pub async fn serve_part(
    state: &AppState,
    tenant: &str,
    id: &str,
    part: Part,
    actor: Value,
    how: Value,
) -> Result<Response, ApiError> {
    let exports = exports(state)?;
    let job = find_in(state, tenant, id).await?;
    let result = live_result(&job)?;
    let spec = spec_of(&job)?;
    let files = ExportFiles::of(&exports.dir, &job.id, spec.format);
    let (path, media_type, name) = match part {
        Part::File => (
            files.file,
            spec.format.media_type(),
            result.file.name.clone(),
        ),
        Part::Manifest => (
            files.manifest,
            "text/plain; charset=utf-8",
            result.manifest.clone(),
        ),
        Part::Proofs => match &result.proofs {
            Some(proofs) => (files.proofs, "application/x-ndjson", proofs.name.clone()),
            None => return Err(ApiError::not_found("this export has no proofs file")),
        },
    };
    let file = tokio::fs::File::open(&path)
        .await
        .map_err(|_| ApiError::not_found("the export's files have expired"))?;
    let length = file.metadata().await.ok().map(|m| m.len());
    if part == Part::File {
        let mut metadata = json!({"file": name, "bytes": result.file.bytes});
        if let (Value::Object(into), Value::Object(more)) = (&mut metadata, how) {
            into.extend(more);
        }
        state
            .audit
            .record(
                tenant,
                json!({
                    "action": "audit.export.downloaded",
                    "actor": actor,
                    "target": {"type": "export", "id": job.id},
                    "metadata": metadata,
                }),
            )
            .await?;
    }
    Ok(attachment(file, media_type, &name, length))
}

/// `GET /v1/exports/{id}/file`: the export's events file.
#[utoipa::path(
    get,
    path = "/v1/exports/{id}/file",
    tag = "exports",
    summary = "Download an export",
    description = "The events file of a succeeded export, streamed. Each download is an event in the tenant's trail.",
    params(("id" = String, Path, description = "The export's id")),
    responses(
        (status = 200, description = "The file, in the export's format", content(
            (String = "application/x-ndjson"),
            (Vec<trailkeep_event::Event> = "application/json"),
            (String = "text/csv; charset=utf-8"),
        )),
        (status = 404, description = "No such export, or it failed, was cancelled or expired", body = trailkeep_api::Problem, content_type = "application/problem+json"),
        (status = 409, description = "The export has not finished", body = trailkeep_api::Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn file(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    serve_part(
        &state,
        &principal.tenant,
        &id,
        Part::File,
        principal.actor(),
        json!({}),
    )
    .await
}

/// `GET /v1/exports/{id}/manifest`: the export's signed manifest.
#[utoipa::path(
    get,
    path = "/v1/exports/{id}/manifest",
    tag = "exports",
    summary = "Download an export's manifest",
    description = "A C2SP signed note, signed with the ledger key (GET /v1/ledger/key): the tenant, filter, format, count, seq and time ranges, the file's SHA-256 and the signed checkpoint the export was cut at.",
    params(("id" = String, Path, description = "The export's id")),
    responses(
        (status = 200, description = "The signed manifest", body = String, content_type = "text/plain; charset=utf-8"),
        (status = 404, description = "No such export, or it has no files", body = trailkeep_api::Problem, content_type = "application/problem+json"),
        (status = 409, description = "The export has not finished", body = trailkeep_api::Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn manifest(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    serve_part(
        &state,
        &principal.tenant,
        &id,
        Part::Manifest,
        principal.actor(),
        json!({}),
    )
    .await
}

/// `GET /v1/exports/{id}/proofs`: an NDJSON export's proofs file.
#[utoipa::path(
    get,
    path = "/v1/exports/{id}/proofs",
    tag = "exports",
    summary = "Download an export's proofs",
    description = "One line per event of an NDJSON export: its seq, leaf hash and inclusion proof at the manifest's checkpoint (empty for an unfiltered export, whose leaves rebuild the checkpoint's root). `trailkeep verify --export` checks the export with it.",
    params(("id" = String, Path, description = "The export's id")),
    responses(
        (status = 200, description = "The proofs, NDJSON", body = String, content_type = "application/x-ndjson"),
        (status = 404, description = "No such export, or it has no proofs file (CSV and JSON have none)", body = trailkeep_api::Problem, content_type = "application/problem+json"),
        (status = 409, description = "The export has not finished", body = trailkeep_api::Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn proofs(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    serve_part(
        &state,
        &principal.tenant,
        &id,
        Part::Proofs,
        principal.actor(),
        json!({}),
    )
    .await
}
