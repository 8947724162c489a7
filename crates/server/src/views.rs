//! Listings that answer one auditor's question each, as filters over the same store query:
//! an entity's history, login history, and data-access events.

use axum::extract::{Path, State};
use axum::http::Uri;
use axum::response::Response;
use trailkeep_event::{Category, Filter, Order};

use crate::AppState;
use crate::auth::Principal;
use crate::error::ApiError;
use crate::listing::{
    Listing, PAGING_PARAMS, action_patterns, categories, id_or_email, outcome, single,
};
use crate::params::Params;
use crate::viewer::record_view;

async fn answer(
    state: &AppState,
    principal: &Principal,
    params: &Params,
    filter: Filter,
    default_order: Order,
    endpoint: &str,
) -> Result<Response, ApiError> {
    let scope = format!("{}|{endpoint}", principal.tenant);
    let listing = Listing::parse(params, filter, default_order, &scope, &state.cursor_key)?;
    let page = state
        .store
        .query_canonical(&principal.tenant, &listing.query)
        .await?;
    Ok(listing.respond(page, &state.cursor_key))
}

fn allowed(extra: &[&'static str]) -> Vec<&'static str> {
    extra.iter().chain(PAGING_PARAMS).copied().collect()
}

fn window(params: &Params) -> Result<Filter, ApiError> {
    let timestamp = |v: &str| trailkeep_event::Timestamp::parse(v);
    Ok(Filter {
        since: params.parsed("since", timestamp)?,
        until: params.parsed("until", timestamp)?,
        ..Filter::default()
    })
}

/// `GET /v1/entities/{type}/{id}/history`: every event on one target, oldest first, each with
/// its `changes`. Also filters by `action`, `actor_id`, `since`, `until`.
#[utoipa::path(
    operation_id = "entity_history",
    get,
    path = "/v1/entities/{kind}/{id}/history",
    tag = "views",
    summary = "Everything that happened to one entity",
    description = "Oldest first, each with its `changes`.",
    params(("kind" = String, Path, description = "The target type"), ("id" = String, Path, description = "The target id"), crate::openapi::params::HistoryParams, crate::openapi::params::PagingParams),
    responses(
        (status = 200, description = "One page", body = trailkeep_api::ListResponse),
        (status = 400, description = "A parameter or the cursor is invalid", body = trailkeep_api::Problem, content_type = "application/problem+json"),
    )
)]
pub async fn history(
    State(state): State<AppState>,
    principal: Principal,
    Path((kind, id)): Path<(String, String)>,
    uri: Uri,
) -> Result<Response, ApiError> {
    if kind.len() > 256 || id.len() > 256 {
        return Err(ApiError::not_found("no such entity"));
    }
    let params = Params::parse(&uri, &allowed(&["since", "until", "action", "actor_id"]))?;
    let mut filter = Filter {
        target_type: Some(kind.clone()),
        target_id: Some(id.clone()),
        actions: action_patterns(params.all("action"))?,
        actor_id: single(&params, "actor_id")?,
        ..window(&params)?
    };
    principal.confine(&mut filter)?;
    if params.one("cursor")?.is_none() {
        let details = serde_json::json!({ "target": {"type": kind, "id": id} });
        record_view(&state, &principal, "history", details).await?;
    }
    let endpoint = format!("/v1/entities/{kind}/{id}/history");
    answer(&state, &principal, &params, filter, Order::Asc, &endpoint).await
}

/// `GET /v1/logins`: sign-ins and sign-outs, newest first, with their outcome and context
/// (method, location, device). Filters: `user` (an actor id, or an e-mail when it holds `@`),
/// `status` (success or failure), `ip`, `since`, `until`.
#[utoipa::path(
    get,
    path = "/v1/logins",
    tag = "views",
    summary = "Sign-ins and sign-outs",
    description = "Login and logout events with outcome, method, location and device.",
    params(crate::openapi::params::LoginParams, crate::openapi::params::PagingParams),
    responses(
        (status = 200, description = "One page", body = trailkeep_api::ListResponse),
        (status = 400, description = "A parameter or the cursor is invalid", body = trailkeep_api::Problem, content_type = "application/problem+json"),
    )
)]
pub async fn logins(
    State(state): State<AppState>,
    principal: Principal,
    uri: Uri,
) -> Result<Response, ApiError> {
    let params = Params::parse(&uri, &allowed(&["since", "until", "user", "status", "ip"]))?;
    let user = single(&params, "user")?;
    let (actor_email, actor_id) = id_or_email(user);
    let filter = Filter {
        categories: vec![Category::Login, Category::Logout],
        outcome: params.parsed("status", outcome)?,
        actor_id,
        actor_email,
        ip: single(&params, "ip")?,
        ..window(&params)?
    };
    answer(
        &state,
        &principal,
        &params,
        filter,
        Order::Desc,
        "/v1/logins",
    )
    .await
}

/// `GET /v1/access`: data-access events (reads, writes, deletes), newest first. Filters:
/// `resource_type` (the target type), `access_type` (`read`, `write`, `delete`, repeatable;
/// `write` covers creates and updates), `actor_id`, `since`, `until`.
#[utoipa::path(
    get,
    path = "/v1/access",
    tag = "views",
    summary = "Data access",
    description = "Read, write and delete events by resource type, access type and actor.",
    params(crate::openapi::params::AccessParams, crate::openapi::params::PagingParams),
    responses(
        (status = 200, description = "One page", body = trailkeep_api::ListResponse),
        (status = 400, description = "A parameter or the cursor is invalid", body = trailkeep_api::Problem, content_type = "application/problem+json"),
    )
)]
pub async fn access(
    State(state): State<AppState>,
    principal: Principal,
    uri: Uri,
) -> Result<Response, ApiError> {
    let params = Params::parse(
        &uri,
        &allowed(&[
            "since",
            "until",
            "resource_type",
            "access_type",
            "actor_id",
            "category",
        ]),
    )?;
    let mut wanted = Vec::new();
    for access in params.all("access_type") {
        match access.as_str() {
            "read" => wanted.push(Category::Read),
            "write" => wanted.extend([Category::Create, Category::Update]),
            "delete" => wanted.push(Category::Delete),
            other => {
                return Err(ApiError::bad_request(
                    "bad_parameter",
                    format!("access_type {other:?} must be read, write or delete"),
                ));
            }
        }
    }
    wanted.extend(categories(&params, "category")?);
    if wanted.is_empty() {
        wanted = vec![
            Category::Read,
            Category::Create,
            Category::Update,
            Category::Delete,
        ];
    }
    let filter = Filter {
        categories: wanted,
        target_type: single(&params, "resource_type")?,
        actor_id: single(&params, "actor_id")?,
        ..window(&params)?
    };
    answer(
        &state,
        &principal,
        &params,
        filter,
        Order::Desc,
        "/v1/access",
    )
    .await
}
