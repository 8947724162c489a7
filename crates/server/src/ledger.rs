//! The caller's own tenant's ledger: the verification key, the newest signed checkpoint, and
//! inclusion and consistency proofs, in exactly the wire shapes of DESIGN section 5.

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use trailkeep_api::{ConsistencyProofBody, InclusionProofBody, hash_b64};

use crate::AppState;
use crate::auth::Principal;
use crate::error::ApiError;
use crate::events::json_response;
use crate::params::Params;

fn text(body: String) -> Response {
    let mut response = (StatusCode::OK, body).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

/// `GET /v1/ledger/key`: the C2SP vkey line (the route's guard admits readers only).
#[utoipa::path(
    get,
    path = "/v1/ledger/key",
    tag = "ledger",
    summary = "The checkpoint verification key",
    description = "The C2SP vkey line checkpoints are signed with.",
    responses((status = 200, description = "The vkey", body = String, content_type = "text/plain")),
)]
pub async fn key(State(state): State<AppState>) -> Result<Response, ApiError> {
    Ok(text(format!("{}\n", state.store.vkey())))
}

/// `GET /v1/ledger/checkpoint`: the newest signed note, or with `min_size` the first one that
/// covers that many events.
#[utoipa::path(
    get,
    path = "/v1/ledger/checkpoint",
    tag = "ledger",
    summary = "The newest signed checkpoint",
    description = "A C2SP signed note of the tenant's tree. Checkpoints are signed at most once a second per tenant, so the newest may not cover the last second's events: `min_size` waits for one that covers at least that many.",
    params(crate::openapi::params::CheckpointParams),
    responses(
        (status = 200, description = "The signed note", body = String, content_type = "text/plain"),
        (status = 400, description = "`min_size` is invalid or beyond the tree", body = trailkeep_api::Problem, content_type = "application/problem+json"),
        (status = 404, description = "The tenant has no events yet", body = trailkeep_api::Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn checkpoint(
    State(state): State<AppState>,
    principal: Principal,
    uri: Uri,
) -> Result<Response, ApiError> {
    let params = Params::parse(&uri, &["min_size"])?;
    let checkpoint = match params.number("min_size")? {
        Some(size) if size > 0 => Some(
            state
                .store
                .checkpoint_covering(&principal.tenant, size)
                .await?,
        ),
        _ => state.store.checkpoint(&principal.tenant).await?,
    };
    let checkpoint = checkpoint
        .ok_or_else(|| ApiError::not_found("this tenant has no events yet, so no checkpoint"))?;
    Ok(text(checkpoint.note))
}

/// `GET /v1/ledger/proofs/inclusion?seq=S&tree_size=N`.
#[utoipa::path(
    get,
    path = "/v1/ledger/proofs/inclusion",
    tag = "ledger",
    summary = "Inclusion proof",
    params(crate::openapi::params::InclusionParams),
    responses(
        (status = 200, description = "The proof", body = trailkeep_api::InclusionProofBody),
        (status = 400, description = "A parameter is invalid or out of range", body = trailkeep_api::Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn inclusion(
    State(state): State<AppState>,
    principal: Principal,
    uri: Uri,
) -> Result<Response, ApiError> {
    let params = Params::parse(&uri, &["seq", "tree_size"])?;
    let seq = params.required_number("seq")?;
    let tree_size = params.required_number("tree_size")?;
    let proof = state
        .store
        .inclusion_proof(&principal.tenant, seq, tree_size)
        .await?;
    let body = InclusionProofBody {
        seq: proof.seq,
        tree_size: proof.tree_size,
        leaf_hash: hash_b64(&proof.leaf_hash),
        hashes: proof.hashes.iter().map(|h| hash_b64(h)).collect(),
    };
    Ok(json_response(
        StatusCode::OK,
        serde_json::to_vec(&body).map_err(|e| ApiError::internal(&e))?,
    ))
}

/// `GET /v1/ledger/proofs/consistency?first=M&second=N`.
#[utoipa::path(
    get,
    path = "/v1/ledger/proofs/consistency",
    tag = "ledger",
    summary = "Consistency proof",
    params(crate::openapi::params::ConsistencyParams),
    responses(
        (status = 200, description = "The proof", body = trailkeep_api::ConsistencyProofBody),
        (status = 400, description = "A parameter is invalid or out of range", body = trailkeep_api::Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn consistency(
    State(state): State<AppState>,
    principal: Principal,
    uri: Uri,
) -> Result<Response, ApiError> {
    let params = Params::parse(&uri, &["first", "second"])?;
    let first = params.required_number("first")?;
    let second = params.required_number("second")?;
    let hashes = state
        .store
        .consistency_proof(&principal.tenant, first, second)
        .await?;
    let body = ConsistencyProofBody {
        first,
        second,
        hashes: hashes.iter().map(|h| hash_b64(h)).collect(),
    };
    Ok(json_response(
        StatusCode::OK,
        serde_json::to_vec(&body).map_err(|e| ApiError::internal(&e))?,
    ))
}
