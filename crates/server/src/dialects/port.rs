//! Port's audit API as Port's own Python SDK calls it (`../shared/seeds/002_0337c949d3034aa3.txt`):
//! `POST /v1/auth/access_token` (client credentials: an API key's id and secret),
//! `GET /v1/audit` (also `GET /v1/audit-log`) and `GET /v1/audit/{id}`.
//!
//! A Port audit record is a native event: `user` is the actor's e-mail and name, `resource` the
//! target (`blueprint` from `metadata.blueprint`), `details` the metadata plus the event's
//! `changes`, and `ip_address`/`user_agent` its context.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::IntoResponse;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use trailkeep_api::Problem;
use trailkeep_event::{Event, Filter};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{ErrorBody, Instant, PageNumber, errors_as, event_by_id, exact_action, instant};
use crate::AppState;
use crate::auth::{Principal, Role};
use crate::body::{decode, encoding, received, small_body};
use crate::error::ApiError;
use crate::keys::exchange;
use crate::listing::{id_or_email, single};
use crate::params::Params;
use crate::routes::Needs;

/// Port's errors: `{"ok": false, "error": <code>, "message": <why>}`.
pub const ERRORS: ErrorBody = ErrorBody {
    content_type: "application/json",
    schema: "PortError",
};

/// A Port error body.
#[derive(Serialize, ToSchema)]
pub struct PortError {
    /// Always false.
    ok: bool,
    /// `invalid_request`, `unauthorized`, `forbidden`, `not_found`, `conflict`,
    /// `rate_limited`, `unavailable`, `internal_error`.
    error: String,
    /// Why.
    message: String,
}

fn render_error(status: StatusCode, problem: &Problem) -> Value {
    let error = match status.as_u16() {
        400 | 413 | 415 | 422 => "invalid_request",
        401 => "unauthorized",
        403 => "forbidden",
        404 => "not_found",
        409 => "conflict",
        429 => "rate_limited",
        503 => "unavailable",
        _ => "internal_error",
    };
    let mut message = problem
        .detail
        .clone()
        .unwrap_or_else(|| problem.title.clone());
    if let Some(first) = problem.errors.first() {
        message = format!("{message}: {} {}", first.field, first.message);
    }
    json!(PortError {
        ok: false,
        error: error.to_owned(),
        message,
    })
}

/// `POST /v1/auth/access_token` body.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AccessTokenRequest {
    /// The API key's id.
    #[schema(min_length = 1)]
    client_id: String,
    /// The API key's secret.
    #[schema(min_length = 1)]
    client_secret: String,
}

/// `POST /v1/auth/access_token` answer.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AccessToken {
    /// Always true.
    ok: bool,
    /// The bearer token.
    access_token: String,
    /// Seconds until it expires.
    expires_in: u64,
    /// Always `Bearer`.
    token_type: String,
}

/// Who acted.
#[derive(Debug, Serialize, ToSchema)]
pub struct PortUser {
    /// E-mail.
    email: Option<String>,
    /// Name.
    name: Option<String>,
}

/// What was acted on.
#[derive(Debug, Serialize, ToSchema)]
pub struct PortResource {
    /// `entity`, `blueprint`, `action`, ... (`target.type`).
    #[serde(rename = "type")]
    kind: Option<String>,
    /// Its identifier (`target.id`).
    identifier: Option<String>,
    /// Its blueprint (`metadata.blueprint`).
    blueprint: Option<String>,
}

/// A Port audit record.
#[derive(Debug, Serialize, ToSchema)]
pub struct PortAudit {
    /// The event id.
    id: String,
    /// When (RFC 3339).
    timestamp: String,
    /// What happened, such as `entity.created`.
    action: String,
    /// Who.
    user: PortUser,
    /// On what.
    resource: PortResource,
    /// The metadata, and `changes` when the event has any.
    #[schema(value_type = Object)]
    details: Map<String, Value>,
    /// The client address.
    ip_address: Option<String>,
    /// The client's user agent.
    user_agent: Option<String>,
}

/// `GET /v1/audit` answer.
#[derive(Serialize, ToSchema)]
pub struct PortAudits {
    /// Always true.
    ok: bool,
    /// Newest first.
    audits: Vec<PortAudit>,
}

/// `GET /v1/audit/{id}` answer.
#[derive(Serialize, ToSchema)]
pub struct PortOneAudit {
    /// Always true.
    ok: bool,
    /// The record.
    audit: PortAudit,
}

/// `GET /v1/audit` parameters.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // Described; the handler parses the query string itself.
pub struct PortQuery {
    /// Page, from 1.
    #[param(minimum = 1, maximum = 100000)]
    page: Option<u64>,
    /// Records a page, 1 to 1000 (default 50).
    #[param(minimum = 1, maximum = 1000)]
    per_page: Option<u32>,
    /// At or after (RFC 3339 or YYYY-MM-DD).
    #[param(value_type = Option<Instant>, inline)]
    start_date: Option<String>,
    /// Before (RFC 3339 or YYYY-MM-DD).
    #[param(value_type = Option<Instant>, inline)]
    end_date: Option<String>,
    /// An exact action, such as `entity.created`.
    #[param(min_length = 1, max_length = 256)]
    action: Option<String>,
    /// A user's e-mail (when it holds `@`) or id.
    #[param(min_length = 1, max_length = 256)]
    user: Option<String>,
    /// The resource type.
    #[param(min_length = 1, max_length = 256)]
    resource_type: Option<String>,
    /// The resource identifier.
    #[param(min_length = 1, max_length = 256)]
    resource_identifier: Option<String>,
}

/// The Port record of an event.
pub fn record(event: &Event) -> PortAudit {
    let mut details = event.metadata.clone().unwrap_or_default();
    let blueprint = match details.remove("blueprint") {
        Some(Value::String(b)) => Some(b),
        Some(other) => {
            details.insert("blueprint".into(), other);
            None
        }
        None => None,
    };
    if let Some(changes) = &event.changes {
        details.insert("changes".into(), json!(changes));
    }
    if let Some(marker) = super::redaction_marker(event) {
        details.insert("redaction".into(), marker);
    }
    let actor = event.actor.as_ref();
    let target = event.target.as_ref();
    let context = event.context.as_ref();
    PortAudit {
        id: event.id.clone(),
        timestamp: event.occurred_at.to_string(),
        action: event.action.clone(),
        user: PortUser {
            email: actor.and_then(|a| a.email.clone()),
            name: actor.and_then(|a| a.name.clone()),
        },
        resource: PortResource {
            kind: target.and_then(|t| t.kind.clone()),
            identifier: target.and_then(|t| t.id.clone()),
            blueprint,
        },
        details,
        ip_address: context.and_then(|c| c.ip_address.clone()),
        user_agent: context.and_then(|c| c.user_agent.clone()),
    }
}

/// `POST /v1/auth/access_token`.
#[utoipa::path(
    post,
    path = "/v1/auth/access_token",
    tag = "port",
    summary = "Port: exchange client credentials for an access token",
    request_body = AccessTokenRequest,
    responses(
        (status = 200, description = "The token", body = AccessToken),
        (status = 400, description = "The body is invalid", body = PortError),
        (status = 401, description = "The client id or secret is not valid", body = PortError),
        (status = 415, description = "Not JSON", body = PortError),
        (status = 429, description = "Too many attempts for this client id", body = PortError),
    )
)]
pub async fn access_token(
    State(state): State<AppState>,
    source: crate::auth::Source,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<axum::response::Response, ApiError> {
    let request: AccessTokenRequest = decode(&received(body)?, encoding(&headers, false)?)?;
    let (access_token, _, expires_in) = exchange(
        &state,
        source,
        &request.client_id,
        &request.client_secret,
        None,
    )
    .await?;
    let mut response = Json(AccessToken {
        ok: true,
        access_token,
        expires_in,
        token_type: "Bearer".into(),
    })
    .into_response();
    response.headers_mut().insert(
        axum::http::header::CACHE_CONTROL,
        axum::http::HeaderValue::from_static("no-store"),
    );
    Ok(response)
}

async fn list_audits(
    state: &AppState,
    principal: &Principal,
    uri: &Uri,
) -> Result<Json<PortAudits>, ApiError> {
    let params = Params::parse(
        uri,
        &[
            "page",
            "per_page",
            "start_date",
            "end_date",
            "action",
            "user",
            "resource_type",
            "resource_identifier",
        ],
    )?;
    let (actor_email, actor_id) = id_or_email(single(&params, "user")?);
    let filter = Filter {
        since: instant(&params, "start_date")?,
        until: instant(&params, "end_date")?,
        fields: exact_action(single(&params, "action")?),
        actor_email,
        actor_id,
        target_type: single(&params, "resource_type")?,
        target_id: single(&params, "resource_identifier")?,
        ..Filter::default()
    };
    let page = PageNumber::parse(&params, "page", "per_page", 50)?;
    let found = state
        .store
        .query(&principal.tenant, &page.query(filter, false))
        .await?;
    Ok(Json(PortAudits {
        ok: true,
        audits: found.events.iter().map(|e| record(&e.event)).collect(),
    }))
}

/// `GET /v1/audit`.
#[utoipa::path(
    get,
    path = "/v1/audit",
    tag = "port",
    summary = "Port: audit logs",
    params(PortQuery),
    responses(
        (status = 200, description = "Newest first", body = PortAudits),
        (status = 400, description = "A parameter is invalid", body = PortError),
    )
)]
pub async fn audits(
    State(state): State<AppState>,
    principal: Principal,
    uri: Uri,
) -> Result<Json<PortAudits>, ApiError> {
    list_audits(&state, &principal, &uri).await
}

/// `GET /v1/audit-log` (the same as `GET /v1/audit`).
#[utoipa::path(
    get,
    path = "/v1/audit-log",
    tag = "port",
    summary = "Port: audit logs (alias of /v1/audit)",
    params(PortQuery),
    responses(
        (status = 200, description = "Newest first", body = PortAudits),
        (status = 400, description = "A parameter is invalid", body = PortError),
    )
)]
pub async fn audit_log(
    State(state): State<AppState>,
    principal: Principal,
    uri: Uri,
) -> Result<Json<PortAudits>, ApiError> {
    list_audits(&state, &principal, &uri).await
}

/// `GET /v1/audit/{id}`.
#[utoipa::path(
    get,
    path = "/v1/audit/{id}",
    tag = "port",
    summary = "Port: one audit record",
    params(("id" = String, Path, description = "The record's id")),
    responses(
        (status = 200, description = "The record", body = PortOneAudit),
        (status = 404, description = "No such record", body = PortError),
    )
)]
pub async fn audit(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<PortOneAudit>, ApiError> {
    let stored = event_by_id(&state, &principal.tenant, &id, "audit record").await?;
    Ok(Json(PortOneAudit {
        ok: true,
        audit: record(&stored.event),
    }))
}

/// The routes.
pub fn routes(needs: Needs<'_>) -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(small_body(routes!(access_token)))
        .routes(needs(Role::Read, &ERRORS, routes!(audits)))
        .routes(needs(Role::Read, &ERRORS, routes!(audit_log)))
        .routes(needs(Role::Read, &ERRORS, routes!(audit)))
        .layer(axum::middleware::from_fn_with_state(
            render_error as super::RenderError,
            errors_as,
        ))
}
