//! Reading events: `GET /v1/events` (filtered, paged) and `GET /v1/events/{id}` (optionally
//! with its inclusion proof against the newest checkpoint).

use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use trailkeep_api::{EventProofBody, InclusionBody, RawValue, hash_b64};
use trailkeep_event::{Category, Cursor, Filter, MAX_PAGE, Order, Outcome, Query, Timestamp};
use trailkeep_store::StoredEvent;

use crate::AppState;
use crate::auth::{Principal, Role};
use crate::error::ApiError;
use crate::params::Params;

/// Page size when `limit` is not given.
const DEFAULT_PAGE: u32 = 50;

const LIST_PARAMS: &[&str] = &[
    "since",
    "until",
    "action",
    "category",
    "outcome",
    "actor_id",
    "actor_email",
    "actor_type",
    "target_type",
    "target_id",
    "ip",
    "order",
    "limit",
    "cursor",
];

/// `GET /v1/events`.
pub async fn list(
    State(state): State<AppState>,
    principal: Principal,
    uri: Uri,
) -> Result<Response, ApiError> {
    principal.require(Role::Read)?;
    let query = parse_query(&Params::parse(&uri, LIST_PARAMS)?)?;
    let page = state.store.query(&principal.tenant, &query).await?;
    let mut body = Vec::with_capacity(
        page.events
            .iter()
            .map(|e| e.canonical.len() + 1)
            .sum::<usize>()
            + 64,
    );
    body.extend_from_slice(b"{\"data\":[");
    write_events(&mut body, &page.events);
    body.push(b']');
    if let Some(next) = page.next {
        body.extend_from_slice(b",\"next_cursor\":\"");
        body.extend_from_slice(next.encode().as_bytes());
        body.push(b'"');
    }
    body.push(b'}');
    Ok(json_response(StatusCode::OK, body))
}

fn write_events(body: &mut Vec<u8>, events: &[StoredEvent]) {
    for (i, e) in events.iter().enumerate() {
        if i > 0 {
            body.push(b',');
        }
        body.extend_from_slice(&e.canonical);
    }
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

fn timestamp(v: &str) -> Result<Timestamp, String> {
    Timestamp::parse(v).map_err(|e| format!("{e}; use RFC 3339, such as 2025-01-15T10:00:00Z"))
}

fn non_empty(key: &str, values: Vec<String>) -> Result<Vec<String>, ApiError> {
    if values.iter().any(|v| v.is_empty() || v.len() > 256) {
        return Err(ApiError::bad_request(
            "bad_parameter",
            format!("query parameter {key:?} must be 1 to 256 characters"),
        ));
    }
    Ok(values)
}

fn single(params: &Params, key: &str) -> Result<Option<String>, ApiError> {
    Ok(non_empty(
        key,
        params.one(key)?.map(str::to_owned).into_iter().collect(),
    )?
    .into_iter()
    .next())
}

/// Builds a [`Query`] from `GET /v1/events` parameters.
fn parse_query(params: &Params) -> Result<Query, ApiError> {
    let categories = params
        .all("category")
        .iter()
        .map(|c| {
            Category::parse(c).ok_or_else(|| {
                ApiError::bad_request("bad_parameter", format!("unknown category {c:?}"))
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let filter = Filter {
        since: params.parsed("since", timestamp)?,
        until: params.parsed("until", timestamp)?,
        actions: non_empty("action", params.all("action"))?,
        categories,
        outcome: params.parsed("outcome", |v| {
            Outcome::parse(v).ok_or_else(|| "must be success, failure or unknown".into())
        })?,
        actor_id: single(params, "actor_id")?,
        actor_email: single(params, "actor_email")?,
        actor_type: single(params, "actor_type")?,
        target_type: single(params, "target_type")?,
        target_id: single(params, "target_id")?,
        ip: single(params, "ip")?,
        text: Vec::new(),
        metadata: Vec::new(),
    };
    if params.all("action").len() > 32 {
        return Err(ApiError::bad_request(
            "bad_parameter",
            "at most 32 action filters",
        ));
    }
    let order = params
        .parsed("order", |v| match v {
            "asc" => Ok(Order::Asc),
            "desc" => Ok(Order::Desc),
            _ => Err("must be asc or desc".into()),
        })?
        .unwrap_or_default();
    let limit = params
        .parsed("limit", |v| match v.parse::<u32>() {
            Ok(n) if (1..=MAX_PAGE).contains(&n) => Ok(n),
            _ => Err(format!("must be an integer from 1 to {MAX_PAGE}")),
        })?
        .unwrap_or(DEFAULT_PAGE);
    let after = params.parsed("cursor", |v| {
        Cursor::decode(v).ok_or_else(|| "is not a cursor this server issued".into())
    })?;
    Ok(Query {
        after,
        ..Query::first_page(filter, order, limit)
    })
}

/// `GET /v1/events/{id}`, with `?proof=1` for the inclusion proof.
pub async fn get_one(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    uri: Uri,
) -> Result<Response, ApiError> {
    principal.require(Role::Read)?;
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
    if !want_proof {
        return Ok(json_response(StatusCode::OK, event.canonical));
    }
    let checkpoint = state
        .store
        .checkpoint(&principal.tenant)
        .await?
        .ok_or_else(|| ApiError::internal(&"an event exists but no checkpoint covers it"))?;
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
