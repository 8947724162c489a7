//! Reading events: `GET /v1/events` (filtered, paged) and `GET /v1/events/{id}` (optionally
//! with its inclusion proof against the newest checkpoint).

use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use trailkeep_api::{EventProofBody, InclusionBody, RawValue, hash_b64};
use trailkeep_event::Order;

use crate::AppState;
use crate::auth::Principal;
use crate::error::ApiError;
use crate::listing::{FILTER_PARAMS, Listing, PAGING_PARAMS, parse_filter};
use crate::params::Params;
use crate::viewer::record_view;

/// `GET /v1/events`.
#[utoipa::path(
    operation_id = "list_events",
    get,
    path = "/v1/events",
    tag = "events",
    summary = "Search events",
    description = "The tenant's events matching every filter, newest first by default. Also `metadata.<path>=<value>` filters.",
    params(crate::openapi::params::FilterParams, crate::openapi::params::PagingParams),
    responses(
        (status = 200, description = "One page", body = trailkeep_api::ListResponse),
        (status = 400, description = "A parameter or the cursor is invalid", body = trailkeep_api::Problem, content_type = "application/problem+json"),
    )
)]
pub async fn list(
    State(state): State<AppState>,
    principal: Principal,
    uri: Uri,
) -> Result<Response, ApiError> {
    let allowed: Vec<&str> = FILTER_PARAMS.iter().chain(PAGING_PARAMS).copied().collect();
    let params = Params::parse(&uri, &allowed)?;
    let mut filter = parse_filter(&params)?;
    principal.confine(&mut filter)?;
    if params.one("cursor")?.is_none() {
        let query = uri.query().unwrap_or_default();
        record_view(&state, &principal, "search", json!({ "query": query })).await?;
    }
    let scope = format!("{}|/v1/events", principal.tenant);
    let listing = Listing::parse(&params, filter, Order::Desc, &scope, &state.cursor_key)?;
    let page = state
        .store
        .query_canonical(&principal.tenant, &listing.query)
        .await?;
    Ok(listing.respond(page, &state.cursor_key))
}

/// The start of a JSON object answer, `{"data":[...]`, with each event written as its stored
/// canonical bytes; the caller adds the remaining members and the closing brace.
pub fn open_data_object<'a, I>(events: I, extra: usize) -> Vec<u8>
where
    I: IntoIterator<Item = &'a [u8]>,
    I::IntoIter: Clone,
{
    let events = events.into_iter();
    let size: usize = events.clone().map(|e| e.len() + 1).sum();
    let mut body = Vec::with_capacity(size + extra + 16);
    body.extend_from_slice(b"{\"data\":[");
    for (i, e) in events.enumerate() {
        if i > 0 {
            body.push(b',');
        }
        body.extend_from_slice(e);
    }
    body.push(b']');
    body
}

/// A JSON response from bytes already serialised.
pub fn json_response(status: StatusCode, body: Vec<u8>) -> Response {
    let mut response = (status, body).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// `GET /v1/events/{id}`, with `?proof=1` for the inclusion proof.
#[utoipa::path(
    operation_id = "get_event",
    get,
    path = "/v1/events/{id}",
    tag = "events",
    summary = "One event",
    params(
        ("id" = String, Path, description = "The event's id"),
        crate::openapi::params::ProofParams,
    ),
    responses(
        (status = 200, description = "The event, with its inclusion proof when asked", body = trailkeep_api::EventAnswer),
        (status = 400, description = "A parameter is invalid", body = trailkeep_api::Problem, content_type = "application/problem+json"),
        (status = 404, description = "This tenant has no such event", body = trailkeep_api::Problem, content_type = "application/problem+json"),
    )
)]
pub async fn get_one(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    uri: Uri,
) -> Result<Response, ApiError> {
    let params = Params::parse(&uri, &["proof"])?;
    let want_proof = params
        .parsed("proof", |v| match v {
            "1" | "true" => Ok(true),
            "0" | "false" => Ok(false),
            _ => Err("must be 1 or 0".into()),
        })?
        .unwrap_or(false);
    let not_found = || ApiError::not_found(format!("no event with id {id:?}"));
    if id.len() > 256 {
        return Err(not_found());
    }
    let event = state
        .store
        .get(&principal.tenant, &id)
        .await?
        .ok_or_else(not_found)?;
    // An embed token cannot tell an event outside its scope from one that does not exist.
    if !principal.may_see(&event.event) {
        return Err(not_found());
    }
    record_view(&state, &principal, "event", json!({ "id": id })).await?;
    if !want_proof {
        return Ok(json_response(StatusCode::OK, event.canonical));
    }
    // The newest checkpoint, or the next one when the event is newer (at most a second away).
    let checkpoint = state
        .store
        .checkpoint_covering(&principal.tenant, event.event.seq + 1)
        .await?;
    let proof = state
        .store
        .inclusion_proof(&principal.tenant, event.event.seq, checkpoint.size)
        .await?;
    let raw = String::from_utf8(event.canonical)
        .map_err(|e| ApiError::internal(&e))
        .and_then(|s| RawValue::from_string(s).map_err(|e| ApiError::internal(&e)))?;
    let body = EventProofBody {
        event: raw,
        leaf_hash: hash_b64(&event.leaf_hash),
        inclusion: InclusionBody {
            tree_size: proof.tree_size,
            hashes: proof.hashes.iter().map(|h| hash_b64(h)).collect(),
        },
        checkpoint: checkpoint.note,
    };
    let bytes = serde_json::to_vec(&body).map_err(|e| ApiError::internal(&e))?;
    Ok(json_response(StatusCode::OK, bytes))
}
