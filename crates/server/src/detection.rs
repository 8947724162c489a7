//! `/v1/rules` (`audit:admin`) and `/v1/alerts` (reading with `audit:read`, acknowledging and
//! resolving with `audit:admin`).
//!
//! The work is `trailkeep_detect`'s: these handlers read bodies, call its functions for the
//! caller's tenant, and write answers. Every lookup is within the caller's tenant, so another
//! tenant's rule or alert id is a 404; every change is an event in the tenant's trail.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use trailkeep_api::{
    AlertChange, AlertInfo, AlertList, AlertStamp, CreateRule, RuleInfo, RuleList, UpdateRule,
};
use trailkeep_detect::alert::{self, Stamp};
use trailkeep_detect::rules;
use trailkeep_detect::{
    Alert, AlertError, AlertQuery, AlertState, Field, NewRule, Rule, RuleError, RuleUpdate,
    Severity,
};
use trailkeep_event::Timestamp;
use trailkeep_jobs::now_ms;

use crate::AppState;
use crate::auth::Principal;
use crate::body::{decode, decode_optional, encoding, received};
use crate::error::ApiError;
use crate::exports::rfc3339;
use crate::listing::parse_filter_object;
use crate::params::Params;

impl From<RuleError> for ApiError {
    fn from(error: RuleError) -> Self {
        match error {
            RuleError::NotFound => ApiError::not_found("no such rule"),
            RuleError::Invalid(message) => ApiError::bad_request("invalid_rule", message),
            RuleError::Store(error) => error.into(),
        }
    }
}

impl From<AlertError> for ApiError {
    fn from(error: AlertError) -> Self {
        match error {
            AlertError::NotFound => ApiError::not_found("no such alert"),
            AlertError::Conflict(message) => ApiError::conflict("alert_state", message),
            AlertError::Store(error) => error.into(),
        }
    }
}

fn severity(name: &str, field: &str) -> Result<Severity, ApiError> {
    serde_json::from_value(serde_json::Value::String(name.to_owned()))
        .map_err(|_| ApiError::invalid_field(field, "one of info, low, medium, high, critical"))
}

fn field(path: &str, name: &str) -> Result<Field, ApiError> {
    Field::parse(path).map_err(|message| ApiError::invalid_field(name, message))
}

fn rule_info(rule: Rule) -> RuleInfo {
    RuleInfo {
        logic: serde_json::to_value(&rule.logic).unwrap_or_default(),
        id: rule.id,
        name: rule.name,
        description: rule.description,
        severity: rule.severity.as_str().to_owned(),
        enabled: rule.enabled,
        builtin: rule.builtin,
        dedup_minutes: rule.dedup_minutes,
        filter: rule.filter_params,
    }
}

fn micros(us: i64) -> String {
    Timestamp::from_micros(us)
        .map(|t| t.to_string())
        .unwrap_or_default()
}

fn stamp(stamp: Stamp) -> AlertStamp {
    AlertStamp {
        by: stamp.by,
        at: rfc3339(stamp.at),
        note: stamp.note,
    }
}

fn alert_info(alert: Alert) -> AlertInfo {
    AlertInfo {
        id: alert.id,
        rule: alert.rule,
        rule_name: alert.rule_name,
        severity: alert.severity.as_str().to_owned(),
        key: alert.key,
        window_start: micros(alert.window_start),
        window_end: micros(alert.window_end),
        seqs: alert.seqs,
        count: alert.count,
        detail: alert.detail,
        state: alert.state.as_str().to_owned(),
        created_at: rfc3339(alert.created_at),
        event_id: alert.event_id,
        acknowledged: alert.acknowledged.map(stamp),
        resolved: alert.resolved.map(stamp),
    }
}

/// Tells the node's detection that the tenant's rules changed.
fn rules_changed(state: &AppState) {
    if let Some(detection) = &state.detection {
        detection.rules_changed();
    }
}

/// `GET /v1/rules`: the tenant's rules.
#[utoipa::path(
    get,
    path = "/v1/rules",
    tag = "detection",
    summary = "List rules",
    description = "Every built-in rule (as the tenant tuned it) and the tenant's own.",
    responses((status = 200, description = "The rules, built-in ones first", body = trailkeep_api::RuleList)),
)]
pub async fn list_rules(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<RuleList>, ApiError> {
    let rules = rules::effective(&*state.store, &principal.tenant).await?;
    Ok(Json(RuleList {
        data: rules.into_iter().map(rule_info).collect(),
    }))
}

/// `GET /v1/rules/{id}`: one rule.
#[utoipa::path(
    get,
    path = "/v1/rules/{id}",
    tag = "detection",
    summary = "Get a rule",
    params(("id" = String, Path, description = "The rule's id")),
    responses(
        (status = 200, description = "The rule", body = trailkeep_api::RuleInfo),
        (status = 404, description = "No such rule", body = trailkeep_api::Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn get_rule(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<RuleInfo>, ApiError> {
    Ok(Json(rule_info(
        rules::get(&*state.store, &principal.tenant, &id).await?,
    )))
}

/// `POST /v1/rules`: a rule of the tenant's own.
#[utoipa::path(
    post,
    path = "/v1/rules",
    tag = "detection",
    summary = "Make a rule",
    description = "A threshold over a filter, in the listing's filter language: at least `threshold` events matching `filter` (or that many distinct values of `distinct`) with the same `group_by` values within `window_minutes` raise an alert, then the same key raises no other for `dedup_minutes`.",
    request_body = trailkeep_api::CreateRule,
    responses(
        (status = 201, description = "Made", body = trailkeep_api::RuleInfo),
        (status = 400, description = "The body is invalid", body = trailkeep_api::Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not JSON", body = trailkeep_api::Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn create_rule(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let request: CreateRule = decode(&received(body)?, encoding(&headers, false)?)?;
    if request.filter.is_empty() {
        return Err(ApiError::invalid_field(
            "filter",
            "name the events the rule counts",
        ));
    }
    let new = NewRule {
        name: request.name,
        description: request.description,
        severity: match &request.severity {
            Some(name) => severity(name, "severity")?,
            None => Severity::Medium,
        },
        filter: parse_filter_object(&request.filter)?,
        filter_params: request.filter,
        group_by: request
            .group_by
            .iter()
            .map(|p| field(p, "group_by"))
            .collect::<Result<_, _>>()?,
        threshold: request.threshold,
        window_minutes: request.window_minutes,
        distinct: request
            .distinct
            .as_deref()
            .map(|p| field(p, "distinct"))
            .transpose()?,
        dedup_minutes: request.dedup_minutes.unwrap_or(60),
    };
    let rule = rules::create(
        &*state.store,
        &principal.tenant,
        &principal.actor(),
        new,
        now_ms(),
    )
    .await?;
    rules_changed(&state);
    Ok((StatusCode::CREATED, Json(rule_info(rule))).into_response())
}

/// `PATCH /v1/rules/{id}`: tune or change a rule.
#[utoipa::path(
    patch,
    path = "/v1/rules/{id}",
    tag = "detection",
    summary = "Change a rule",
    description = "Tunes a built-in rule (severity, on or off, threshold, window, deduplication, memory, speed, working hours) or changes one of the tenant's own (its filter and key too). A setting that does not apply to the rule's kind is refused.",
    params(("id" = String, Path, description = "The rule's id")),
    request_body = trailkeep_api::UpdateRule,
    responses(
        (status = 200, description = "Changed", body = trailkeep_api::RuleInfo),
        (status = 400, description = "The body is invalid", body = trailkeep_api::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such rule", body = trailkeep_api::Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not JSON", body = trailkeep_api::Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn update_rule(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<RuleInfo>, ApiError> {
    let request: UpdateRule = decode(&received(body)?, encoding(&headers, false)?)?;
    let update = RuleUpdate {
        name: request.name,
        description: request.description,
        severity: request
            .severity
            .as_deref()
            .map(|s| severity(s, "severity"))
            .transpose()?,
        enabled: request.enabled,
        dedup_minutes: request.dedup_minutes,
        threshold: request.threshold,
        window_minutes: request.window_minutes,
        group_by: request
            .group_by
            .map(|paths| paths.iter().map(|p| field(p, "group_by")).collect())
            .transpose()?,
        distinct: request
            .distinct
            .map(|p| (!p.is_empty()).then(|| field(&p, "distinct")).transpose())
            .transpose()?,
        filter: request
            .filter
            .map(|params| parse_filter_object(&params).map(|f| (f, params)))
            .transpose()?,
        remember_days: request.remember_days,
        max_kmh: request.max_kmh,
        start_hour: request.start_hour,
        end_hour: request.end_hour,
        weekends_off: request.weekends_off,
    };
    let rule = rules::update(
        &*state.store,
        &principal.tenant,
        &principal.actor(),
        &id,
        update,
        now_ms(),
    )
    .await?;
    rules_changed(&state);
    Ok(Json(rule_info(rule)))
}

/// `DELETE /v1/rules/{id}`: delete a rule of the tenant's own, or reset a built-in one.
#[utoipa::path(
    delete,
    path = "/v1/rules/{id}",
    tag = "detection",
    summary = "Delete a rule",
    description = "Deletes a rule of the tenant's own; a tuned built-in rule goes back to how it shipped (a built-in rule is disabled with `enabled: false`, never deleted).",
    params(("id" = String, Path, description = "The rule's id")),
    responses(
        (status = 204, description = "Deleted or reset"),
        (status = 400, description = "A built-in rule as it shipped", body = trailkeep_api::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such rule", body = trailkeep_api::Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn delete_rule(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    rules::delete(
        &*state.store,
        &principal.tenant,
        &principal.actor(),
        &id,
        now_ms(),
    )
    .await?;
    rules_changed(&state);
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /v1/alerts`: the tenant's alerts.
#[utoipa::path(
    get,
    path = "/v1/alerts",
    tag = "detection",
    summary = "List alerts",
    params(
        ("state" = Option<String>, Query, description = "open, acknowledged or resolved"),
        ("rule" = Option<String>, Query, description = "Only this rule's"),
        ("severity" = Option<String>, Query, description = "Only at least this severe: info, low, medium, high, critical"),
        ("key" = Option<String>, Query, description = "Only for this key (a user, an address, a key id)"),
        ("since" = Option<String>, Query, description = "Only raised at or after this time (RFC 3339)"),
        ("until" = Option<String>, Query, description = "Only raised before this time (RFC 3339)"),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 100, description = "At most this many (default 20)"),
        ("before" = Option<String>, Query, description = "Only alerts older than this id (the previous page's next_before)"),
    ),
    responses(
        (status = 200, description = "The alerts, newest first", body = trailkeep_api::AlertList),
        (status = 400, description = "A parameter is invalid", body = trailkeep_api::Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn list_alerts(
    State(state): State<AppState>,
    principal: Principal,
    uri: Uri,
) -> Result<Json<AlertList>, ApiError> {
    let params = Params::parse(
        &uri,
        &[
            "state", "rule", "severity", "key", "since", "until", "limit", "before",
        ],
    )?;
    let limit = params.page_limit()?;
    let time = |name: &str| -> Result<Option<i64>, ApiError> {
        params
            .one(name)?
            .map(|t| {
                Timestamp::parse(t)
                    .map(|t| t.as_micros() / 1000)
                    .map_err(|e| ApiError::bad_request("bad_parameter", format!("{name}: {e}")))
            })
            .transpose()
    };
    let query = AlertQuery {
        state: params
            .one("state")?
            .map(|s| {
                AlertState::parse(s).ok_or_else(|| {
                    ApiError::bad_request(
                        "bad_parameter",
                        "state: one of open, acknowledged, resolved",
                    )
                })
            })
            .transpose()?,
        rule: params.one("rule")?.map(str::to_owned),
        min_severity: params
            .one("severity")?
            .map(|s| {
                severity(s, "severity").map_err(|_| {
                    ApiError::bad_request(
                        "bad_parameter",
                        "severity: one of info, low, medium, high, critical",
                    )
                })
            })
            .transpose()?,
        key: params.one("key")?.map(str::to_owned),
        since: time("since")?,
        until: time("until")?,
        before: params.one("before")?.map(str::to_owned),
    };
    let (alerts, more) = alert::list(&*state.store, &principal.tenant, &query, limit).await?;
    let next_before = more.then(|| alerts.last().map(|a| a.id.clone())).flatten();
    Ok(Json(AlertList {
        data: alerts.into_iter().map(alert_info).collect(),
        next_before,
    }))
}

/// `GET /v1/alerts/{id}`: one alert.
#[utoipa::path(
    get,
    path = "/v1/alerts/{id}",
    tag = "detection",
    summary = "Get an alert",
    params(("id" = String, Path, description = "The alert's id")),
    responses(
        (status = 200, description = "The alert", body = trailkeep_api::AlertInfo),
        (status = 404, description = "No such alert", body = trailkeep_api::Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn get_alert(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<AlertInfo>, ApiError> {
    Ok(Json(alert_info(
        alert::get(&*state.store, &principal.tenant, &id).await?,
    )))
}

/// Moves alert `id` to `to`.
async fn change(
    state: &AppState,
    principal: &Principal,
    id: &str,
    to: AlertState,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<AlertInfo>, ApiError> {
    let body = received(body)?;
    let request: AlertChange = decode_optional(&body, headers)?;
    if request
        .note
        .as_ref()
        .is_some_and(|n| n.chars().count() > 1000)
    {
        return Err(ApiError::invalid_field("note", "at most 1000 characters"));
    }
    let alert = alert::change_state(
        &*state.store,
        &principal.tenant,
        &principal.actor(),
        id,
        to,
        request.note,
        now_ms(),
    )
    .await?;
    Ok(Json(alert_info(alert)))
}

/// `POST /v1/alerts/{id}/acknowledge`.
#[utoipa::path(
    post,
    path = "/v1/alerts/{id}/acknowledge",
    tag = "detection",
    summary = "Acknowledge an alert",
    description = "Someone is looking: an open alert becomes acknowledged, with who and when, and the event alert.acknowledged in the trail.",
    params(("id" = String, Path, description = "The alert's id")),
    request_body(content = Option<trailkeep_api::AlertChange>, description = "Optional: a note"),
    responses(
        (status = 200, description = "Acknowledged", body = trailkeep_api::AlertInfo),
        (status = 404, description = "No such alert", body = trailkeep_api::Problem, content_type = "application/problem+json"),
        (status = 409, description = "The alert is not open", body = trailkeep_api::Problem, content_type = "application/problem+json"),
        (status = 400, description = "The note is invalid", body = trailkeep_api::Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not JSON", body = trailkeep_api::Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn acknowledge(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<AlertInfo>, ApiError> {
    change(
        &state,
        &principal,
        &id,
        AlertState::Acknowledged,
        &headers,
        body,
    )
    .await
}

/// `POST /v1/alerts/{id}/resolve`.
#[utoipa::path(
    post,
    path = "/v1/alerts/{id}/resolve",
    tag = "detection",
    summary = "Resolve an alert",
    description = "Dealt with: an open or acknowledged alert becomes resolved, with who and when, and the event alert.resolved in the trail.",
    params(("id" = String, Path, description = "The alert's id")),
    request_body(content = Option<trailkeep_api::AlertChange>, description = "Optional: a note"),
    responses(
        (status = 200, description = "Resolved", body = trailkeep_api::AlertInfo),
        (status = 404, description = "No such alert", body = trailkeep_api::Problem, content_type = "application/problem+json"),
        (status = 409, description = "The alert is resolved already", body = trailkeep_api::Problem, content_type = "application/problem+json"),
        (status = 400, description = "The note is invalid", body = trailkeep_api::Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not JSON", body = trailkeep_api::Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn resolve(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<AlertInfo>, ApiError> {
    change(
        &state,
        &principal,
        &id,
        AlertState::Resolved,
        &headers,
        body,
    )
    .await
}
