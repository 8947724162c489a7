//! Expiring signed links to an export's files, for handing an export to someone who has no
//! credential: made with `POST /v1/exports/{id}/links` (`audit:export`), opened by anyone who
//! holds one at `GET /v1/export-links/{token}` until it expires.
//!
//! A link is signed with the ledger key and names its tenant, export, file and expiry
//! (`trailkeep_jobs::export::Link`); the server checks the signature before it looks anything
//! up, and then serves exactly the file the link names from exactly that tenant. Making a link
//! and each download through one are events in the tenant's trail.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use trailkeep_api::{CreateExportLinks, ExportLinks};
use trailkeep_jobs::export::{Link, share};
use trailkeep_jobs::now_ms;
use trailkeep_ledger::NoteVerifier;

use crate::AppState;
use crate::auth::Principal;
use crate::body::{decode, encoding, received};
use crate::error::ApiError;
use crate::exports::{exports, find, live_result, rfc3339, serve_part};

/// Shortest, default and longest life of a link, in seconds.
const MIN_LIFE: u64 = 60;
const DEFAULT_LIFE: u64 = 86_400;
const MAX_LIFE: u64 = 7 * 86_400;

/// `POST /v1/exports/{id}/links`: signed links to a finished export's files.
#[utoipa::path(
    operation_id = "create_export_links",
    post,
    path = "/v1/exports/{id}/links",
    tag = "exports",
    summary = "Make expiring links to an export",
    description = "Signed links to a succeeded export's events file, manifest and proofs that work without a credential until they expire (a day unless `expires_in` says otherwise, at most a week, never past the removal of the files). Whoever holds a link can download that file: hand it over as you would the file. Making links and each download through one are events in the tenant's trail. The links are absolute when the server has `exports.public_url`, paths otherwise.",
    params(("id" = String, Path, description = "The export's id")),
    request_body(content = Option<trailkeep_api::CreateExportLinks>, description = "Optional; an empty body takes the defaults"),
    responses(
        (status = 201, description = "The links", body = trailkeep_api::ExportLinks),
        (status = 400, description = "The body is invalid", body = trailkeep_api::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such export, or it failed, was cancelled or expired", body = trailkeep_api::Problem, content_type = "application/problem+json"),
        (status = 409, description = "The export has not finished", body = trailkeep_api::Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn create(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let exports = exports(&state)?;
    let body = received(body)?;
    // No body, or JSON null, takes the defaults.
    let request: CreateExportLinks = if matches!(body.trim_ascii(), b"" | b"null") {
        CreateExportLinks::default()
    } else {
        decode(&body, encoding(&headers, false)?)?
    };
    let life = request.expires_in.unwrap_or(DEFAULT_LIFE);
    if !(MIN_LIFE..=MAX_LIFE).contains(&life) {
        return Err(ApiError::invalid_field(
            "expires_in",
            format!("from {MIN_LIFE} to {MAX_LIFE} seconds"),
        ));
    }
    let job = find(&state, &principal, &id).await?;
    let result = live_result(&job)?;
    let expires = (now_ms().div_euclid(1000) + life as i64).min(result.expires_at.div_euclid(1000));
    let by = principal.id.clone().unwrap_or_else(|| "token".into());
    let links = share(
        &*state.store,
        exports.public_url.as_deref().unwrap_or(""),
        &principal.tenant,
        &job.id,
        result.proofs.is_some(),
        expires,
        &by,
    )?;
    let expires_at = rfc3339(expires.saturating_mul(1000));
    state
        .audit
        .record(
            &principal.tenant,
            json!({
                "action": "audit.export.link_created",
                "actor": principal.actor(),
                "target": {"type": "export", "id": job.id},
                "metadata": {"expires_at": expires_at},
            }),
        )
        .await?;
    let body = ExportLinks {
        file: links.file,
        manifest: links.manifest,
        proofs: links.proofs,
        expires_at,
    };
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

/// `GET /v1/export-links/{token}`: the file a signed link names, without a credential.
#[utoipa::path(
    get,
    path = "/v1/export-links/{token}",
    tag = "exports",
    summary = "Download through a signed link",
    description = "The export file the link names (events, manifest or proofs), streamed, for whoever holds the link and without a credential, until it expires. Each download of an events file is an event in the tenant's trail, its actor the link's maker.",
    params(("token" = String, Path, description = "The link's token, as POST /v1/exports/{id}/links gave it")),
    responses(
        (status = 200, description = "The file", content(
            (String = "application/x-ndjson"),
            (Vec<trailkeep_event::Event> = "application/json"),
            (String = "text/csv; charset=utf-8"),
            (String = "text/plain; charset=utf-8"),
        )),
        (status = 403, description = "The link is not valid, or it expired", body = trailkeep_api::Problem, content_type = "application/problem+json"),
        (status = 404, description = "The export's files are gone", body = trailkeep_api::Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn open(
    State(state): State<AppState>,
    Path(token): Path<String>,
) -> Result<Response, ApiError> {
    let verifier = NoteVerifier::from_vkey(&state.store.vkey())
        .map_err(|e| ApiError::internal(&format!("the ledger's vkey: {e}")))?;
    let link = Link::open(&token, &verifier, now_ms().div_euclid(1000))
        .map_err(|e| ApiError::forbidden(e.to_string()))?;
    serve_part(
        &state,
        &link.tenant,
        &link.export,
        link.part,
        json!({"type": "signed_link", "id": link.by}),
        json!({"via": "signed link", "link_expires_at": rfc3339(link.expires.saturating_mul(1000))}),
    )
    .await
}
