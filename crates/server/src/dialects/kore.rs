//! Kore.ai's Audit Log API (`../shared/seeds/003_889c1a71fad99950.txt`):
//! `GET /api/public/auditlogs` with the `auth` header (an API key or token with `audit:read`).
//!
//! A Kore log is a native event: `entity` is `target.type` and must be one of the seed's
//! "Supported Entity and Action Value" keys, `action` its category (`create`, `update`,
//! `delete`), `delta` the event's `changes` split into `from` and `to`, and `htmlText` a sentence
//! built from the event in which every stored value is HTML-escaped.

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, Uri};
use serde::Serialize;
use serde_json::{Map, Value, json};
use trailkeep_api::Problem;
use trailkeep_event::{Category, Event, Filter, Order, Query};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{ErrorBody, Instant, errors_as, instant};
use crate::AppState;
use crate::auth::{Principal, Role};
use crate::error::ApiError;
use crate::listing::single;
use crate::params::Params;
use crate::routes::Needs;

/// Kore's errors: `{"errors": [{"msg", "code"}]}`.
pub const ERRORS: ErrorBody = ErrorBody {
    content_type: "application/json",
    schema: "KoreError",
};

/// A Kore error body.
#[derive(Serialize, ToSchema)]
pub struct KoreError {
    /// What went wrong (one entry).
    errors: Vec<KoreErrorItem>,
}

/// One Kore error.
#[derive(Serialize, ToSchema)]
pub struct KoreErrorItem {
    /// Why.
    msg: String,
    /// The HTTP status.
    code: u16,
}

fn render_error(status: StatusCode, problem: &Problem) -> Value {
    json!(KoreError {
        errors: vec![KoreErrorItem {
            msg: problem
                .detail
                .clone()
                .unwrap_or_else(|| problem.title.clone()),
            code: status.as_u16(),
        }],
    })
}

/// The seed's "Supported Entity and Action Value" table: entity key, display name, actions.
pub const ENTITIES: [(&str, &str, &[&str]); 11] = [
    ("usergroup", "user group", &["create", "update", "delete"]),
    ("Agent", "agent", &["create", "update", "delete"]),
    ("role", "role", &["create", "update", "delete"]),
    ("ssostatus", "SSO status", &["update"]),
    (
        "serviceaccount",
        "service account",
        &["create", "update", "delete"],
    ),
    (
        "llmintegrations",
        "LLM integration",
        &["create", "update", "delete"],
    ),
    ("domains", "domain", &["create", "update", "delete"]),
    ("ratelimits", "rate limits", &["update"]),
    (
        "emailnotificationpreferences",
        "email notification preferences",
        &["update"],
    ),
    ("nlprules", "business rule", &["create", "update", "delete"]),
    ("userenrollment", "user enrollment", &["update"]),
];

/// Before and after.
#[derive(Debug, Serialize, ToSchema)]
pub struct Delta {
    /// The changed fields' old values.
    #[schema(value_type = Object)]
    from: Map<String, Value>,
    /// Their new values.
    #[schema(value_type = Object)]
    to: Map<String, Value>,
}

/// A Kore audit log.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct KoreLog {
    /// Parent ids (always empty here).
    parent_ids: Vec<String>,
    /// The event id.
    #[serde(rename = "_id")]
    id: String,
    /// The entity key (`target.type`).
    entity: Option<String>,
    /// `create`, `update`, `delete` (the category), or the action as stored.
    action: String,
    /// The actor's id.
    user_id: Option<String>,
    /// The tenant.
    account_id: String,
    /// The entity id (`target.id`).
    entity_id: Option<String>,
    /// What changed.
    delta: Delta,
    /// A sentence describing the change; every stored value in it is HTML-escaped.
    html_text: String,
    /// The actor's name.
    user_name: Option<String>,
    /// The actor's e-mail.
    email_id: Option<String>,
    /// The description, or empty.
    keywords: String,
    /// When it happened (RFC 3339, milliseconds).
    c_on: String,
    /// Document version (always 0).
    #[serde(rename = "__v")]
    version: u32,
}

/// `GET /api/public/auditlogs` answer.
#[derive(Serialize, ToSchema)]
pub struct KoreLogs {
    /// The logs, newest first.
    logs: Vec<KoreLog>,
}

/// `GET /api/public/auditlogs` parameters.
#[derive(IntoParams)]
#[into_params(parameter_in = Query, rename_all = "camelCase")]
#[allow(dead_code)] // Described; the handler parses the query string itself.
pub struct KoreQuery {
    /// An entity key from the supported table (`usergroup`, `nlprules`, ...).
    #[param(inline)]
    entity: Option<KoreEntity>,
    /// The entity's id.
    #[param(min_length = 1, max_length = 256)]
    entity_id: Option<String>,
    /// The actor's id.
    #[param(min_length = 1, max_length = 256)]
    user_id: Option<String>,
    /// The actor's e-mail.
    #[param(min_length = 1, max_length = 256)]
    email_id: Option<String>,
    /// At or after (RFC 3339 or YYYY-MM-DD).
    #[param(value_type = Option<Instant>, inline)]
    start_time: Option<String>,
    /// Before (RFC 3339 or YYYY-MM-DD).
    #[param(value_type = Option<Instant>, inline)]
    end_time: Option<String>,
    /// `create`, `update` or `delete` (allowed for the entity).
    #[param(inline)]
    action: Option<KoreAction>,
    /// Logs to skip (at most 100,000).
    #[param(minimum = 0, maximum = 100000)]
    skip: Option<u64>,
    /// Logs to return, 1 to 1000 (default 50).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<u32>,
}

/// The supported entity keys.
#[derive(ToSchema)]
#[allow(dead_code, non_camel_case_types)] // Described, never built; named as the keys are.
pub enum KoreEntity {
    /// User groups.
    usergroup,
    /// Agents.
    Agent,
    /// Roles.
    role,
    /// SSO status.
    ssostatus,
    /// Service accounts.
    serviceaccount,
    /// LLM integrations.
    llmintegrations,
    /// Domains.
    domains,
    /// Rate limits.
    ratelimits,
    /// E-mail notification preferences.
    emailnotificationpreferences,
    /// Business rules.
    nlprules,
    /// User enrollment.
    userenrollment,
}

/// The actions.
#[derive(ToSchema)]
#[allow(dead_code, non_camel_case_types)] // Described, never built.
pub enum KoreAction {
    /// Created.
    create,
    /// Updated.
    update,
    /// Deleted.
    delete,
}

/// Escapes text for HTML element content and attribute values.
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn kore_action(event: &Event) -> String {
    match event.category {
        Category::Create => "create".into(),
        Category::Update => "update".into(),
        Category::Delete => "delete".into(),
        _ => event.action.clone(),
    }
}

/// "Update business rule <b>Answer rule - 67</b>": the verb, the entity's name, and the
/// target's name (or id) in bold, every stored value escaped.
fn html_text(event: &Event, action: &str) -> String {
    let target = event.target.as_ref();
    let kind = target.and_then(|t| t.kind.as_deref()).unwrap_or("");
    let entity = ENTITIES
        .iter()
        .find(|(key, _, _)| key.eq_ignore_ascii_case(kind))
        .map_or_else(|| escape_html(kind), |(_, name, _)| (*name).to_owned());
    let mut verb = escape_html(action);
    if let Some(first) = verb.get(..1) {
        verb = format!("{}{}", first.to_ascii_uppercase(), &verb[1..]);
    }
    let name = target.and_then(|t| t.name.as_deref().or(t.id.as_deref()));
    match name {
        Some(name) => format!("{verb} {entity} <b>{}</b>", escape_html(name)),
        None => format!("{verb} {entity}"),
    }
}

/// The Kore record of an event.
pub fn record(event: &Event) -> KoreLog {
    let action = kore_action(event);
    let mut delta = Delta {
        from: Map::new(),
        to: Map::new(),
    };
    for (field, change) in event.changes.iter().flatten() {
        if let Some(from) = &change.from {
            delta.from.insert(field.clone(), from.clone());
        }
        if let Some(to) = &change.to {
            delta.to.insert(field.clone(), to.clone());
        }
    }
    let actor = event.actor.as_ref();
    // Kore writes milliseconds, always three digits: 2024-12-10T14:27:20.286Z.
    let micros = event.occurred_at.as_micros();
    let whole = trailkeep_event::Timestamp::from_micros(micros - micros.rem_euclid(1_000_000))
        .unwrap_or(event.occurred_at)
        .to_string();
    let c_on = format!(
        "{}.{:03}Z",
        whole.trim_end_matches('Z'),
        micros.rem_euclid(1_000_000) / 1000
    );
    KoreLog {
        parent_ids: Vec::new(),
        id: event.id.clone(),
        entity: event.target.as_ref().and_then(|t| t.kind.clone()),
        html_text: html_text(event, &action),
        action,
        user_id: actor.and_then(|a| a.id.clone()),
        account_id: event.tenant.clone(),
        entity_id: event.target.as_ref().and_then(|t| t.id.clone()),
        delta,
        user_name: actor.and_then(|a| a.name.clone()),
        email_id: actor.and_then(|a| a.email.clone()),
        keywords: super::noted_description(event).unwrap_or_default(),
        c_on,
        version: 0,
    }
}

fn bad(detail: String) -> ApiError {
    ApiError::bad_request("bad_parameter", detail)
}

/// Checks `entity` and `action` against the supported table; answers the matching category.
fn checked_pair(
    entity: Option<&str>,
    action: Option<&str>,
) -> Result<(Option<String>, Option<Category>), ApiError> {
    let entity = match entity {
        None => None,
        Some(name) => {
            let Some((key, _, actions)) = ENTITIES
                .iter()
                .find(|(key, _, _)| key.eq_ignore_ascii_case(name))
            else {
                let keys: Vec<&str> = ENTITIES.iter().map(|(key, _, _)| *key).collect();
                return Err(bad(format!(
                    "entity {name:?} is not supported; supported: {}",
                    keys.join(", ")
                )));
            };
            if let Some(action) = action
                && !actions.contains(&action)
            {
                return Err(bad(format!(
                    "action {action:?} is not supported for entity {key}; supported: {}",
                    actions.join(", ")
                )));
            }
            Some((*key).to_owned())
        }
    };
    let category = match action {
        None => None,
        Some("create") => Some(Category::Create),
        Some("update") => Some(Category::Update),
        Some("delete") => Some(Category::Delete),
        Some(other) => {
            return Err(bad(format!(
                "action {other:?} is not supported; supported: create, update, delete"
            )));
        }
    };
    Ok((entity, category))
}

/// `GET /api/public/auditlogs`.
#[utoipa::path(
    operation_id = "kore_audit_logs",
    get,
    path = "/api/public/auditlogs",
    tag = "kore",
    summary = "Kore.ai: audit logs",
    params(KoreQuery),
    responses(
        (status = 200, description = "The logs, newest first", body = KoreLogs),
        (status = 400, description = "A parameter is invalid, or an entity or entity/action pair is not supported (the answer lists what is)", body = KoreError),
    )
)]
pub async fn logs(
    State(state): State<AppState>,
    principal: Principal,
    uri: Uri,
) -> Result<Json<KoreLogs>, ApiError> {
    let params = Params::parse(
        &uri,
        &[
            "entity",
            "entityId",
            "userId",
            "emailId",
            "startTime",
            "endTime",
            "action",
            "skip",
            "limit",
        ],
    )?;
    let (entity, category) = checked_pair(params.one("entity")?, params.one("action")?)?;
    let filter = Filter {
        categories: category.into_iter().collect(),
        target_id: single(&params, "entityId")?,
        actor_id: single(&params, "userId")?,
        actor_email: single(&params, "emailId")?,
        since: instant(&params, "startTime")?,
        until: instant(&params, "endTime")?,
        ..Filter::default()
    };
    let skip = params
        .parsed("skip", |v| match v.parse::<u64>() {
            Ok(n) if n <= 100_000 => Ok(n),
            _ => Err("must be an integer from 0 to 100000".into()),
        })?
        .unwrap_or(0);
    let limit = params
        .parsed("limit", |v| match v.parse::<u32>() {
            Ok(n) if (1..=trailkeep_event::MAX_PAGE).contains(&n) => Ok(n),
            _ => Err(format!(
                "must be an integer from 1 to {}",
                trailkeep_event::MAX_PAGE
            )),
        })?
        .unwrap_or(50);
    let mut query = Query::first_page(
        Filter {
            target_type: entity,
            ..filter
        },
        Order::Desc,
        limit,
    );
    query.offset = skip;
    let found = state.store.query(&principal.tenant, &query).await?;
    let logs = found.events.iter().map(|e| record(&e.event)).collect();
    Ok(Json(KoreLogs { logs }))
}

/// The route.
pub fn routes(needs: Needs<'_>) -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(needs(Role::Read, &ERRORS, routes!(logs)))
        .layer(axum::middleware::from_fn_with_state(
            render_error as super::RenderError,
            errors_as,
        ))
}
