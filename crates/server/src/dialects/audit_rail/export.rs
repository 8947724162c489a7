//! Audit Rail's `POST /api/v1/audit/export`, as the seed documents it, and
//! `GET /api/v1/audit/export/{exportId}` to follow it: the native export job behind the Rail's
//! request body, envelope and error shape.
//!
//! `format` is `CSV`, `JSON` or `NDJSON`; `filter` takes `from`, `to`, `entityType`, `entityId`,
//! `actorId` and `action` with the meanings `GET /api/v1/audit/logs` gives them; `destination`
//! is `{"type": "EMAIL", "email": ...}` (the seed's), `DOWNLOAD` (the default), `WEBHOOK` or
//! `DIRECTORY` with a `path`, each as the native export destinations.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use trailkeep_event::Filter;
use trailkeep_jobs::export::{Destination, ExportSpec, Format};
use trailkeep_store::JobRecord;
use utoipa::ToSchema;

use super::{action_filter, time_window};
use crate::AppState;
use crate::auth::Principal;
use crate::body::{decode, encoding, received};
use crate::error::ApiError;
use crate::exports::{exports, find, queue, rfc3339};
use crate::listing::single;
use crate::params::Params;

/// The Rail's export formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum RailFormat {
    /// Comma-separated values.
    Csv,
    /// One JSON array.
    Json,
    /// One event a line.
    Ndjson,
    /// One OCSF 1.8.0 record a line.
    Ocsf,
}

/// The Rail's export filter.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RailExportFilter {
    /// Start (RFC 3339 or YYYY-MM-DD).
    #[schema(value_type = Option<crate::dialects::Instant>)]
    from: Option<String>,
    /// End (exclusive).
    #[schema(value_type = Option<crate::dialects::Instant>)]
    to: Option<String>,
    /// The entity (target) type.
    entity_type: Option<String>,
    /// The entity id.
    entity_id: Option<String>,
    /// The actor id.
    actor_id: Option<String>,
    /// An action kind (`CREATE`, ...) or an exact action.
    action: Option<String>,
}

/// The filter a Rail filter object stands for: `from`, `to`, `entityType`, `entityId`,
/// `actorId` and `action` as `GET /api/v1/audit/logs` reads them.
pub fn rail_filter(f: RailExportFilter) -> Result<Filter, ApiError> {
    let pairs: Vec<(String, String)> = [
        ("from", f.from),
        ("to", f.to),
        ("entityType", f.entity_type),
        ("entityId", f.entity_id),
        ("actorId", f.actor_id),
        ("action", f.action),
    ]
    .into_iter()
    .filter_map(|(k, v)| Some((k.to_owned(), v?)))
    .collect();
    let params = Params::from_pairs(
        pairs,
        &["from", "to", "entityType", "entityId", "actorId", "action"],
    )?;
    let mut filter = time_window(&params)
        .map_err(|_| ApiError::invalid_field("filter", "from and to are RFC 3339 or YYYY-MM-DD"))?;
    if let (Some(from), Some(to)) = (filter.since, filter.until)
        && from > to
    {
        return Err(ApiError::invalid_field(
            "filter.from",
            "must not be after filter.to",
        ));
    }
    action_filter(&mut filter, single(&params, "action")?);
    filter.target_type = single(&params, "entityType")?;
    filter.target_id = single(&params, "entityId")?;
    filter.actor_id = single(&params, "actorId")?;
    Ok(filter)
}

/// Where the Rail's export goes.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(tag = "type", rename_all = "UPPERCASE", deny_unknown_fields)]
pub enum RailDestination {
    /// Kept for download (`GET /v1/exports/{id}/file`).
    Download,
    /// E-mailed to `email` through the operator's SMTP server.
    Email {
        /// The recipient.
        #[schema(format = Email)]
        email: String,
    },
    /// Posted to the operator's webhook endpoint.
    Webhook,
    /// Copied under the operator's export directory.
    Directory {
        /// A relative path.
        path: String,
    },
}

/// `POST /api/v1/audit/export` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RailExportRequest {
    /// `CSV`, `JSON` or `NDJSON`.
    format: RailFormat,
    /// Which logs.
    #[serde(default)]
    filter: RailExportFilter,
    /// Where the file goes (`DOWNLOAD` when omitted).
    #[serde(default)]
    destination: Option<RailDestination>,
}

/// An export in the Rail's words.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RailExport {
    /// The export's id.
    export_id: String,
    /// `QUEUED`, `RUNNING`, `COMPLETED`, `FAILED` or `CANCELLED`.
    status: String,
    /// The format asked for.
    format: RailFormat,
    /// Where to poll it.
    status_url: String,
    /// When it was asked for.
    created_at: String,
    /// When it finished.
    #[serde(skip_serializing_if = "Option::is_none")]
    completed_at: Option<String>,
    /// Logs written.
    record_count: u64,
    /// Where to download the file (with the same credentials), once completed.
    #[serde(skip_serializing_if = "Option::is_none")]
    download_url: Option<String>,
    /// Where to download the signed manifest, once completed.
    #[serde(skip_serializing_if = "Option::is_none")]
    manifest_url: Option<String>,
    /// SHA-256 of the file, once completed.
    #[serde(skip_serializing_if = "Option::is_none")]
    sha256: Option<String>,
    /// Why it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

/// The Rail's envelope of one export.
#[derive(Debug, Serialize, ToSchema)]
pub struct RailExportAnswer {
    /// The export.
    data: RailExport,
}

fn rail_export(job: &JobRecord) -> Result<RailExport, ApiError> {
    let info = crate::exports::info(job)?;
    let spec: ExportSpec = serde_json::from_str(&job.spec)
        .map_err(|e| ApiError::internal(&format!("export {}: {e}", job.id)))?;
    let status = super::job_status(job.state);
    Ok(RailExport {
        export_id: job.id.clone(),
        status: status.into(),
        format: match spec.format {
            Format::Csv => RailFormat::Csv,
            Format::Json => RailFormat::Json,
            Format::Ndjson => RailFormat::Ndjson,
            Format::Ocsf => RailFormat::Ocsf,
        },
        status_url: format!("/api/v1/audit/export/{}", job.id),
        created_at: rfc3339(job.created_at),
        completed_at: job.finished_at.map(rfc3339),
        record_count: info.events_written,
        download_url: info.file.as_ref().map(|f| f.url.clone()),
        manifest_url: info.manifest_url,
        sha256: info.file.map(|f| f.sha256),
        error: job.error.clone(),
    })
}

/// `POST /api/v1/audit/export`.
#[utoipa::path(
    operation_id = "audit_rail_export",
    post,
    path = "/export",
    tag = "audit-rail",
    summary = "Audit Rail: export audit logs for compliance",
    description = "Queues an export of the caller's logs (the native export job: cut at a signed checkpoint, with a manifest signed by the ledger key). Poll the status URL.",
    request_body = RailExportRequest,
    responses(
        (status = 202, description = "Queued", body = RailExportAnswer),
        (status = 400, description = "The body is invalid, or the destination is not configured here", body = super::AuditRailError),
        (status = 415, description = "Not JSON", body = super::AuditRailError),
    )
)]
pub async fn create(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    // 503 before anything else when this server runs no exports.
    exports(&state)?;
    let request: RailExportRequest = decode(&received(body)?, encoding(&headers, false)?)?;
    let filter = rail_filter(request.filter)?;
    let destination = match request.destination {
        None | Some(RailDestination::Download) => Destination::Download,
        Some(RailDestination::Email { email }) => Destination::Email { to: email },
        Some(RailDestination::Webhook) => Destination::Webhook,
        Some(RailDestination::Directory { path }) => Destination::Directory { path },
    };
    let spec = ExportSpec {
        format: match request.format {
            RailFormat::Csv => Format::Csv,
            RailFormat::Json => Format::Json,
            RailFormat::Ndjson => Format::Ndjson,
            RailFormat::Ocsf => Format::Ocsf,
        },
        filter,
        columns: None,
        destination,
        requested_by: principal.actor(),
    };
    let job = queue(&state, &principal, &spec).await?;
    let answer = RailExportAnswer {
        data: rail_export(&job)?,
    };
    Ok((StatusCode::ACCEPTED, Json(answer)).into_response())
}

/// `GET /api/v1/audit/export/{exportId}`.
#[utoipa::path(
    get,
    path = "/export/{exportId}",
    tag = "audit-rail",
    summary = "Audit Rail: an export's status",
    params(("exportId" = String, Path, description = "The export's id")),
    responses(
        (status = 200, description = "The export", body = RailExportAnswer),
        (status = 404, description = "No such export", body = super::AuditRailError),
    )
)]
pub async fn status(
    State(state): State<AppState>,
    principal: Principal,
    Path(export_id): Path<String>,
) -> Result<Json<RailExportAnswer>, ApiError> {
    let job = find(&state, &principal, &export_id).await?;
    Ok(Json(RailExportAnswer {
        data: rail_export(&job)?,
    }))
}
