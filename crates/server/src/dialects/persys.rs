//! Persys Cloud's Audit Service (`../shared/seeds/000_26b402f646cf5969.txt`): `GET` and
//! `POST /audit-logs` and `GET /audit-logs/{id}`, also under `/audit-service` (the seed's base
//! URL), with JWT bearer auth.
//!
//! A Persys log `{id, timestamp, user_id, event_type, details}` is a native event with
//! `action = event_type`, `actor = {type: user, id: user_id}`, `occurred_at = timestamp`, and
//! `details` = its metadata, except `ip_address` and `user_agent`, which live in `context` (so
//! the logins view sees them) and come back inside `details`.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use trailkeep_api::Problem;
use trailkeep_event::{Event, Filter};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{ErrorBody, PageNumber, errors_as, event_by_id, exact_action, instant};
use crate::AppState;
use crate::auth::{Principal, Role};
use crate::body::{decode, encoding, received};
use crate::error::ApiError;
use crate::ingest::store_one;
use crate::listing::single;
use crate::params::Params;
use crate::routes::Needs;

/// Persys' errors: `{"error": <status text>, "message": <why>, "status": <code>}`.
pub const ERRORS: ErrorBody = ErrorBody {
    content_type: "application/json",
    schema: "PersysError",
};

/// A Persys error body.
#[derive(Serialize, ToSchema)]
pub struct PersysError {
    /// The status text, such as `Bad Request`.
    error: String,
    /// What went wrong.
    message: String,
    /// The HTTP status.
    status: u16,
}

fn render_error(status: StatusCode, problem: &Problem) -> Value {
    let mut message = problem
        .detail
        .clone()
        .unwrap_or_else(|| problem.title.clone());
    if let Some(first) = problem.errors.first() {
        message = format!("{message}: {} {}", first.field, first.message);
    }
    json!(PersysError {
        error: status.canonical_reason().unwrap_or("Error").to_owned(),
        message,
        status: status.as_u16(),
    })
}

/// A Persys audit log.
#[derive(Debug, Serialize, ToSchema)]
pub struct PersysLog {
    /// The event id.
    id: String,
    /// When it happened (RFC 3339).
    timestamp: String,
    /// Who did it.
    user_id: Option<String>,
    /// What happened.
    event_type: String,
    /// Everything else.
    #[schema(value_type = Object)]
    details: Map<String, Value>,
}

/// The answer of `GET /audit-logs`.
#[derive(Serialize, ToSchema)]
pub struct PersysLogs {
    /// The logs, newest first.
    logs: Vec<PersysLog>,
}

/// The body of `POST /audit-logs`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PersysCreate {
    /// Who did it.
    #[schema(min_length = 1, max_length = 256, pattern = "\\S")]
    user_id: String,
    /// What happened, such as `login` or `create_order`.
    #[schema(min_length = 1, max_length = 128, pattern = "\\S")]
    event_type: String,
    /// Anything else, kept as given.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    details: Option<Map<String, Value>>,
}

/// `GET /audit-logs` parameters.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // Described; the handler parses the query string itself.
pub struct PersysQuery {
    /// Only this user's logs.
    #[param(min_length = 1, max_length = 256)]
    user_id: Option<String>,
    /// Only this event type.
    #[param(min_length = 1, max_length = 256)]
    event_type: Option<String>,
    /// At or after this instant (RFC 3339 or YYYY-MM-DD).
    #[param(value_type = Option<super::Instant>, inline)]
    start_time: Option<String>,
    /// Before this instant (RFC 3339 or YYYY-MM-DD).
    #[param(value_type = Option<super::Instant>, inline)]
    end_time: Option<String>,
    /// Page, from 1.
    #[param(minimum = 1, maximum = 100000)]
    page: Option<u64>,
    /// Logs a page, 1 to 1000 (default 50).
    #[param(minimum = 1, maximum = 1000)]
    per_page: Option<u32>,
}

/// Context fields a Persys `details` object carries.
const CONTEXT_DETAILS: [&str; 2] = ["ip_address", "user_agent"];

/// The Persys record of a stored event.
pub fn record(event: &Event) -> PersysLog {
    let mut details = event.metadata.clone().unwrap_or_default();
    if let Some(context) = &event.context {
        for (key, value) in [
            ("ip_address", &context.ip_address),
            ("user_agent", &context.user_agent),
        ] {
            if let Some(value) = value {
                details.entry(key).or_insert_with(|| value.clone().into());
            }
        }
    }
    if let Some(marker) = super::redaction_marker(event) {
        details.insert("redaction".into(), marker);
    }
    PersysLog {
        id: event.id.clone(),
        timestamp: event.occurred_at.to_string(),
        user_id: event.actor.as_ref().and_then(|a| a.id.clone()),
        event_type: event.action.clone(),
        details,
    }
}

/// The native event a Persys `POST` describes.
fn native(create: PersysCreate) -> Value {
    let mut details = create.details.unwrap_or_default();
    let mut context = Map::new();
    for key in CONTEXT_DETAILS {
        let movable = match (key, details.get(key)) {
            ("ip_address", Some(Value::String(ip))) => ip.parse::<std::net::IpAddr>().is_ok(),
            ("user_agent", Some(Value::String(_))) => true,
            _ => false,
        };
        if movable && let Some(value) = details.remove(key) {
            context.insert(key.to_owned(), value);
        }
    }
    json!({
        "action": create.event_type,
        "actor": {"type": "user", "id": create.user_id},
        "context": context,
        "metadata": details,
    })
}

/// `GET /audit-logs`.
#[utoipa::path(
    get,
    path = "/audit-logs",
    tag = "persys",
    summary = "Persys: list audit logs",
    params(PersysQuery),
    responses(
        (status = 200, description = "The logs, newest first", body = PersysLogs),
        (status = 400, description = "A parameter is invalid", body = PersysError),
    )
)]
pub async fn list(
    State(state): State<AppState>,
    principal: Principal,
    uri: Uri,
) -> Result<Json<PersysLogs>, ApiError> {
    let params = Params::parse(
        &uri,
        &[
            "user_id",
            "event_type",
            "start_time",
            "end_time",
            "page",
            "per_page",
        ],
    )?;
    let filter = Filter {
        actor_id: single(&params, "user_id")?,
        fields: exact_action(single(&params, "event_type")?),
        since: instant(&params, "start_time")?,
        until: instant(&params, "end_time")?,
        ..Filter::default()
    };
    let page = PageNumber::parse(&params, "page", "per_page", 50)?;
    let found = state
        .store
        .query(&principal.tenant, &page.query(filter, false))
        .await?;
    Ok(Json(PersysLogs {
        logs: found.events.iter().map(|e| record(&e.event)).collect(),
    }))
}

/// `POST /audit-logs`.
#[utoipa::path(
    post,
    path = "/audit-logs",
    tag = "persys",
    summary = "Persys: create an audit log",
    request_body = PersysCreate,
    responses(
        (status = 201, description = "Stored", body = PersysLog),
        (status = 400, description = "The body is invalid", body = PersysError),
        (status = 415, description = "Not JSON", body = PersysError),
        (status = 503, description = "Overloaded; retry after Retry-After", body = PersysError),
    )
)]
pub async fn create(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let create: PersysCreate = decode(&received(body)?, encoding(&headers, false)?)?;
    if create.user_id.trim().is_empty() {
        return Err(ApiError::invalid_field("user_id", "must not be empty"));
    }
    let stored = store_one(&state, &principal.tenant, native(create)).await?;
    // Answer from the canonical bytes, as every later read will (`100.0` is stored as `100`).
    let event: Event =
        serde_json::from_slice(&stored.canonical).map_err(|e| ApiError::internal(&e))?;
    Ok((StatusCode::CREATED, Json(record(&event))).into_response())
}

/// `GET /audit-logs/{id}`.
#[utoipa::path(
    get,
    path = "/audit-logs/{id}",
    tag = "persys",
    summary = "Persys: one audit log",
    params(("id" = String, Path, description = "The log's id")),
    responses(
        (status = 200, description = "The log", body = PersysLog),
        (status = 404, description = "No such log", body = PersysError),
    )
)]
pub async fn get_one(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<PersysLog>, ApiError> {
    let stored = event_by_id(&state, &principal.tenant, &id, "audit log").await?;
    Ok(Json(record(&stored.event)))
}

/// The routes, as mounted at the root and again under `/audit-service`.
pub fn routes(needs: Needs<'_>, operation_prefix: &str) -> OpenApiRouter<AppState> {
    let mut router = OpenApiRouter::new()
        .routes(needs(Role::Read, &ERRORS, routes!(list)))
        .routes(needs(Role::Write, &ERRORS, routes!(create)))
        .routes(needs(Role::Read, &ERRORS, routes!(get_one)))
        .layer(axum::middleware::from_fn_with_state(
            render_error as super::RenderError,
            errors_as,
        ));
    super::prefix_operation_ids(&mut router, operation_prefix);
    router
}
