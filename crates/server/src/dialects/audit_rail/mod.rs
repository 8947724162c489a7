//! Audit Rail (`../shared/seeds/004_43b0886660c44472.txt`), under `/api/v1/audit`: logs, one log
//! with its ledger receipt, an entity's history, data access, login history and statistics, in
//! the seed's shapes and enums, and `POST export` (`export.rs`) over the native export job.
//! (`POST reports` comes with the reports.)
//!
//! An Audit Rail log is a native event: `logId = id`, `entityType`/`entityId` = `target`,
//! `ipAddress`/`userAgent`/`traceId` = `context`. Its action enum (`CREATE` ... `REJECT`) is the
//! native category in capitals; its actor types are the native ones in capitals (`service`
//! reads `SYSTEM`); its statuses are the outcomes `SUCCESS` and `FAILED`.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{StatusCode, Uri};
use serde_json::{Value, json};
use trailkeep_api::{Problem, hash_b64};
use trailkeep_event::{Category, Event, Filter, Order, Outcome, Timestamp};
use trailkeep_store::GroupBy;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::auth::{Principal, Role};
use crate::dialects::{ErrorBody, PageNumber, errors_as, event_by_id, instant};
use crate::error::ApiError;
use crate::listing::{id_or_email, single};
use crate::params::Params;
use crate::routes::Needs;

mod export;
mod reports;
mod shapes;
mod webhooks;
use shapes::*;

/// Audit Rail's errors: `{"error": {"code", "message", "details"}}`.
pub const ERRORS: ErrorBody = ErrorBody {
    content_type: "application/json",
    schema: "AuditRailError",
};

fn render_error(status: StatusCode, problem: &Problem) -> Value {
    let code = match (status.as_u16(), problem.errors.is_empty()) {
        (400, false) => "VALIDATION_ERROR".to_owned(),
        (429, _) => "RATE_LIMITED".to_owned(),
        _ => status
            .canonical_reason()
            .unwrap_or("ERROR")
            .to_ascii_uppercase()
            .replace([' ', '-'], "_"),
    };
    json!(AuditRailError {
        error: AuditRailErrorDetail {
            code,
            message: problem
                .detail
                .clone()
                .unwrap_or_else(|| problem.title.clone()),
            details: problem
                .errors
                .iter()
                .map(|e| FieldDetail {
                    field: e.field.clone(),
                    message: e.message.clone(),
                })
                .collect(),
        },
    })
}

const LOGS_PARAMS: [&str; 8] = [
    "action",
    "entityType",
    "entityId",
    "actorId",
    "from",
    "to",
    "page",
    "perPage",
];

/// The native actor type as Audit Rail spells it.
fn actor_type(kind: &str) -> String {
    match kind {
        "service" => "SYSTEM".to_owned(),
        other => other.to_ascii_uppercase(),
    }
}

fn status(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::Success => "SUCCESS",
        Outcome::Failure => "FAILED",
        Outcome::Unknown => "UNKNOWN",
    }
}

fn category(category: Category) -> String {
    category.as_str().to_ascii_uppercase()
}

/// The history verb of a category: `CREATED`, `UPDATED`, ...
fn past_tense(category: Category) -> &'static str {
    match category {
        Category::Create => "CREATED",
        Category::Read => "READ",
        Category::Update => "UPDATED",
        Category::Delete => "DELETED",
        Category::Login => "LOGGED_IN",
        Category::Logout => "LOGGED_OUT",
        Category::Export => "EXPORTED",
        Category::Approve => "APPROVED",
        Category::Reject => "REJECTED",
        Category::Execute => "EXECUTED",
        Category::Other => "OTHER",
    }
}

/// The Audit Rail record of an event.
pub fn record(event: &Event) -> RailLog {
    let actor = event.actor.as_ref();
    let target = event.target.as_ref();
    let context = event.context.as_ref();
    RailLog {
        log_id: event.id.clone(),
        timestamp: event.occurred_at.to_string(),
        action: event.action.clone(),
        entity_type: target.and_then(|t| t.kind.clone()),
        entity_id: target.and_then(|t| t.id.clone()),
        actor: RailActor {
            kind: actor.and_then(|a| a.kind.as_deref()).map(actor_type),
            id: actor.and_then(|a| a.id.clone()),
            email: actor.and_then(|a| a.email.clone()),
        },
        metadata: {
            let mut metadata = event.metadata.clone().unwrap_or_default();
            if let Some(marker) = super::redaction_marker(event) {
                metadata.insert("redaction".into(), marker);
            }
            metadata
        },
        ip_address: context.and_then(|c| c.ip_address.clone()),
        user_agent: context.and_then(|c| c.user_agent.clone()),
        trace_id: context.and_then(|c| c.trace_id.clone()),
    }
}

/// The filter of `action`: an action kind, or an exact action in either spelling.
fn action_filter(filter: &mut Filter, action: Option<String>) {
    let Some(action) = action else { return };
    match Category::parse(&action.to_ascii_lowercase()) {
        Some(kind) if action.chars().all(|c| c.is_ascii_uppercase()) => {
            filter.categories = vec![kind];
        }
        _ => {
            let dotted = action.to_ascii_lowercase().replace('_', ".");
            let mut values = vec![action];
            if values[0] != dotted {
                values.push(dotted);
            }
            filter.fields.push(trailkeep_event::FieldMatch {
                field: trailkeep_event::EventField::Action,
                values,
                negate: false,
            });
        }
    }
}

fn time_window(params: &Params) -> Result<Filter, ApiError> {
    Ok(Filter {
        since: instant(params, "from")?,
        until: instant(params, "to")?,
        ..Filter::default()
    })
}

fn pagination(page: PageNumber, total: Option<u64>) -> Pagination {
    Pagination {
        page: page.page,
        per_page: page.per_page,
        total: total.unwrap_or(0),
    }
}

/// `GET /api/v1/audit/logs`.
#[utoipa::path(
    operation_id = "audit_rail_logs",
    get,
    path = "/logs",
    tag = "audit-rail",
    summary = "Audit Rail: list audit log entries",
    params(LogsQuery),
    responses(
        (status = 200, description = "A page of logs, newest first", body = RailLogs),
        (status = 400, description = "A parameter is invalid", body = AuditRailError),
    )
)]
pub async fn logs(
    State(state): State<AppState>,
    principal: Principal,
    uri: Uri,
) -> Result<Json<RailLogs>, ApiError> {
    let params = Params::parse(&uri, &LOGS_PARAMS)?;
    let mut filter = time_window(&params)?;
    action_filter(&mut filter, single(&params, "action")?);
    filter.target_type = single(&params, "entityType")?;
    filter.target_id = single(&params, "entityId")?;
    filter.actor_id = single(&params, "actorId")?;
    let page = PageNumber::parse(&params, "page", "perPage", 50)?;
    let found = state
        .store
        .query(&principal.tenant, &page.query(filter, true))
        .await?;
    Ok(Json(RailLogs {
        data: found.events.iter().map(|e| record(&e.event)).collect(),
        pagination: pagination(page, found.total),
    }))
}

/// `GET /api/v1/audit/logs/{logId}`.
#[utoipa::path(
    get,
    path = "/logs/{logId}",
    tag = "audit-rail",
    summary = "Audit Rail: one log entry with full details and its ledger receipt",
    params(("logId" = String, Path, description = "The log's id")),
    responses(
        (status = 200, description = "The log", body = RailLogAnswer),
        (status = 404, description = "No such log", body = AuditRailError),
    )
)]
pub async fn log(
    State(state): State<AppState>,
    principal: Principal,
    Path(log_id): Path<String>,
) -> Result<Json<RailLogAnswer>, ApiError> {
    let stored = event_by_id(&state, &principal.tenant, &log_id, "audit log").await?;
    // The newest checkpoint, or the next one when the event is newer (at most a second away).
    let checkpoint = state
        .store
        .checkpoint_covering(&principal.tenant, stored.event.seq + 1)
        .await?;
    let proof = state
        .store
        .inclusion_proof(&principal.tenant, stored.event.seq, checkpoint.size)
        .await?;
    let event = &stored.event;
    Ok(Json(RailLogAnswer {
        data: RailLogDetail {
            log: record(event),
            category: category(event.category),
            status: status(event.outcome).to_owned(),
            entity_name: event.target.as_ref().and_then(|t| t.name.clone()),
            changes: event.changes.as_ref().map(|c| json!(c)),
            description: event.description.clone(),
            received_at: event.received_at.to_string(),
            receipt: Receipt {
                seq: event.seq,
                leaf_hash: hash_b64(&stored.leaf_hash),
                tree_size: proof.tree_size,
                inclusion_proof: proof.hashes.iter().map(|h| hash_b64(h)).collect(),
                checkpoint: checkpoint.note,
            },
        },
    }))
}

/// `GET /api/v1/audit/entities/{entityType}/{entityId}/history`.
#[utoipa::path(
    operation_id = "audit_rail_entity_history",
    get,
    path = "/entities/{entityType}/{entityId}/history",
    tag = "audit-rail",
    summary = "Audit Rail: an entity's change history",
    params(
        ("entityType" = String, Path, description = "The entity type"),
        ("entityId" = String, Path, description = "The entity id"),
        PagingQuery,
    ),
    responses(
        (status = 200, description = "Oldest first", body = HistoryAnswer),
        (status = 400, description = "A parameter is invalid", body = AuditRailError),
    )
)]
pub async fn history(
    State(state): State<AppState>,
    principal: Principal,
    Path((entity_type, entity_id)): Path<(String, String)>,
    uri: Uri,
) -> Result<Json<HistoryAnswer>, ApiError> {
    let params = Params::parse(&uri, &["from", "to", "page", "perPage"])?;
    if entity_type.len() > 256 || entity_id.len() > 256 {
        return Err(ApiError::bad_request(
            "bad_parameter",
            "entity types and ids are at most 256 bytes",
        ));
    }
    let filter = Filter {
        target_type: Some(entity_type),
        target_id: Some(entity_id),
        ..time_window(&params)?
    };
    let page = PageNumber::parse(&params, "page", "perPage", 100)?;
    let mut query = page.query(filter, true);
    query.order = Order::Asc;
    let found = state.store.query(&principal.tenant, &query).await?;
    Ok(Json(HistoryAnswer {
        data: found
            .events
            .iter()
            .map(|e| HistoryEntry {
                timestamp: e.event.occurred_at.to_string(),
                action: past_tense(e.event.category).to_owned(),
                actor: e.event.actor.as_ref().and_then(|a| a.id.clone()),
                changes: e.event.changes.as_ref().map(|c| json!(c)),
            })
            .collect(),
        pagination: pagination(page, found.total),
    }))
}

/// The access kind of a category, if it is one.
fn access_type(category: Category) -> Option<&'static str> {
    match category {
        Category::Read => Some("READ"),
        Category::Create | Category::Update => Some("WRITE"),
        Category::Delete => Some("DELETE"),
        _ => None,
    }
}

/// `GET /api/v1/audit/access-logs`.
#[utoipa::path(
    get,
    path = "/access-logs",
    tag = "audit-rail",
    summary = "Audit Rail: data access logs (who accessed what)",
    params(AccessQuery, PagingQuery),
    responses(
        (status = 200, description = "Newest first", body = AccessAnswer),
        (status = 400, description = "A parameter is invalid", body = AuditRailError),
    )
)]
pub async fn access_logs(
    State(state): State<AppState>,
    principal: Principal,
    uri: Uri,
) -> Result<Json<AccessAnswer>, ApiError> {
    let params = Params::parse(
        &uri,
        &[
            "resourceType",
            "accessType",
            "actorId",
            "from",
            "to",
            "page",
            "perPage",
        ],
    )?;
    let categories = match params.one("accessType")? {
        None => vec![
            Category::Read,
            Category::Create,
            Category::Update,
            Category::Delete,
        ],
        Some("READ") => vec![Category::Read],
        Some("WRITE") => vec![Category::Create, Category::Update],
        Some("DELETE") => vec![Category::Delete],
        Some(other) => {
            return Err(ApiError::bad_request(
                "bad_parameter",
                format!("accessType {other:?} must be READ, WRITE or DELETE"),
            ));
        }
    };
    let filter = Filter {
        categories,
        target_type: single(&params, "resourceType")?,
        actor_id: single(&params, "actorId")?,
        ..time_window(&params)?
    };
    let page = PageNumber::parse(&params, "page", "perPage", 50)?;
    let found = state
        .store
        .query(&principal.tenant, &page.query(filter, true))
        .await?;
    let data = found
        .events
        .iter()
        .map(|e| {
            let event = &e.event;
            let actor = event.actor.as_ref();
            AccessEntry {
                log_id: event.id.clone(),
                timestamp: event.occurred_at.to_string(),
                access_type: access_type(event.category).unwrap_or("READ").to_owned(),
                resource_type: event.target.as_ref().and_then(|t| t.kind.clone()),
                resource_id: event.target.as_ref().and_then(|t| t.id.clone()),
                actor_id: actor.and_then(|a| a.id.clone()),
                actor_type: actor.and_then(|a| a.kind.as_deref()).map(actor_type),
                action: event.action.clone(),
                ip_address: event.context.as_ref().and_then(|c| c.ip_address.clone()),
            }
        })
        .collect();
    Ok(Json(AccessAnswer {
        data,
        pagination: pagination(page, found.total),
    }))
}

/// `GET /api/v1/audit/login-history`.
#[utoipa::path(
    get,
    path = "/login-history",
    tag = "audit-rail",
    summary = "Audit Rail: authentication history",
    params(LoginQuery, PagingQuery),
    responses(
        (status = 200, description = "Newest first", body = LoginAnswer),
        (status = 400, description = "A parameter is invalid", body = AuditRailError),
    )
)]
pub async fn login_history(
    State(state): State<AppState>,
    principal: Principal,
    uri: Uri,
) -> Result<Json<LoginAnswer>, ApiError> {
    let params = Params::parse(&uri, &["userId", "status", "from", "to", "page", "perPage"])?;
    let outcome = match params.one("status")? {
        None => None,
        Some("SUCCESS") => Some(Outcome::Success),
        Some("FAILED") => Some(Outcome::Failure),
        Some(other) => {
            return Err(ApiError::bad_request(
                "bad_parameter",
                format!("status {other:?} must be SUCCESS or FAILED"),
            ));
        }
    };
    let user = single(&params, "userId")?;
    let (actor_email, actor_id) = id_or_email(user);
    let filter = Filter {
        categories: vec![Category::Login],
        outcome,
        actor_id,
        actor_email,
        ..time_window(&params)?
    };
    let page = PageNumber::parse(&params, "page", "perPage", 50)?;
    let found = state
        .store
        .query(&principal.tenant, &page.query(filter, true))
        .await?;
    let data = found
        .events
        .iter()
        .map(|e| {
            let event = &e.event;
            let context = event.context.as_ref();
            LoginEntry {
                timestamp: event.occurred_at.to_string(),
                user_id: event.actor.as_ref().and_then(|a| a.id.clone()),
                status: status(event.outcome).to_owned(),
                method: context.and_then(|c| c.method.clone()),
                ip_address: context.and_then(|c| c.ip_address.clone()),
                location: context.and_then(|c| c.location.clone()),
                device: context.and_then(|c| c.device.clone()),
            }
        })
        .collect();
    Ok(Json(LoginAnswer {
        data,
        pagination: pagination(page, found.total),
    }))
}

/// The window of `period=YYYY-MM`.
fn month(period: &str) -> Result<(Timestamp, Timestamp), String> {
    let bad = || format!("period {period:?} must be a month, YYYY-MM");
    let (year_text, month_text) = period.split_once('-').ok_or_else(bad)?;
    let digits = |t: &str, n: usize| t.len() == n && t.bytes().all(|b| b.is_ascii_digit());
    if !digits(year_text, 4) || !digits(month_text, 2) {
        return Err(bad());
    }
    let (year, month): (i32, u32) = (
        year_text.parse().map_err(|_| bad())?,
        month_text.parse().map_err(|_| bad())?,
    );
    if !(1..=12).contains(&month) {
        return Err(bad());
    }
    let (next_year, next_month) = if month == 12 {
        (year + 1, 1)
    } else {
        (year, month + 1)
    };
    let start = Timestamp::parse(&format!("{year:04}-{month:02}-01T00:00:00Z"))?;
    // December 9999 ends at the last instant there is.
    let end = Timestamp::parse(&format!("{next_year:04}-{next_month:02}-01T00:00:00Z"))
        .or_else(|_| Timestamp::parse("9999-12-31T23:59:59.999999Z"))?;
    Ok((start, end))
}

/// `GET /api/v1/audit/stats`.
#[utoipa::path(
    operation_id = "audit_rail_stats",
    get,
    path = "/stats",
    tag = "audit-rail",
    summary = "Audit Rail: statistics",
    params(StatsQuery),
    responses(
        (status = 200, description = "Counts over the period", body = StatsAnswer),
        (status = 400, description = "A parameter is invalid", body = AuditRailError),
    )
)]
pub async fn stats(
    State(state): State<AppState>,
    principal: Principal,
    uri: Uri,
) -> Result<Json<StatsAnswer>, ApiError> {
    let params = Params::parse(&uri, &["period", "from", "to"])?;
    let mut filter = time_window(&params)?;
    let period = match params.one("period")? {
        Some(period) => {
            // With from/to as well, the window is where both hold.
            let (since, until) =
                month(period).map_err(|e| ApiError::bad_request("bad_parameter", e))?;
            filter.since = filter.since.max(Some(since));
            filter.until = Some(filter.until.map_or(until, |u| u.min(until)));
            period.to_owned()
        }
        None => match (params.one("from")?, params.one("to")?) {
            (None, None) => "all".to_owned(),
            (from, to) => format!("{}..{}", from.unwrap_or(""), to.unwrap_or("")),
        },
    };
    let stats = state
        .store
        .stats(
            &principal.tenant,
            &filter,
            &[GroupBy::Category, GroupBy::TargetType],
        )
        .await?;
    let group = |by: GroupBy, upper: bool| -> BTreeMap<String, u64> {
        stats
            .groups
            .get(&by)
            .into_iter()
            .flatten()
            .map(|(value, count)| {
                let key = if upper {
                    value.to_ascii_uppercase()
                } else {
                    value.clone()
                };
                (key, *count)
            })
            .collect()
    };
    Ok(Json(StatsAnswer {
        data: RailStats {
            period,
            total_events: stats.total,
            by_action: group(GroupBy::Category, true),
            by_entity_type: group(GroupBy::TargetType, false),
            unique_actors: stats.unique_actors,
            failed_logins: stats.failed_logins,
        },
    }))
}

/// A job's state in the Rail's words (exports and reports).
fn job_status(state: trailkeep_store::JobState) -> &'static str {
    use trailkeep_store::JobState;
    match state {
        JobState::Queued => "QUEUED",
        JobState::Running => "RUNNING",
        JobState::Succeeded => "COMPLETED",
        JobState::Failed => "FAILED",
        JobState::Cancelled => "CANCELLED",
    }
}

/// The routes, to be mounted at `/api/v1/audit`.
pub fn routes(needs: Needs<'_>) -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(needs(Role::Read, &ERRORS, routes!(logs)))
        .routes(needs(Role::Read, &ERRORS, routes!(log)))
        .routes(needs(Role::Read, &ERRORS, routes!(history)))
        .routes(needs(Role::Read, &ERRORS, routes!(access_logs)))
        .routes(needs(Role::Read, &ERRORS, routes!(login_history)))
        .routes(needs(Role::Read, &ERRORS, routes!(stats)))
        .routes(needs(
            Role::Export,
            &ERRORS,
            crate::body::small_body(routes!(export::create)),
        ))
        .routes(needs(Role::Export, &ERRORS, routes!(export::status)))
        .routes(needs(
            Role::Export,
            &ERRORS,
            crate::body::small_body(routes!(reports::create)),
        ))
        .routes(needs(Role::Export, &ERRORS, routes!(reports::status)))
        .routes(needs(
            Role::Admin,
            &ERRORS,
            crate::body::small_body(routes!(webhooks::create, webhooks::list)),
        ))
        .routes(needs(
            Role::Admin,
            &ERRORS,
            routes!(webhooks::get_one, webhooks::delete),
        ))
        .layer(axum::middleware::from_fn_with_state(
            render_error as super::RenderError,
            errors_as,
        ))
}
