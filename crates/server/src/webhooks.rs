//! `/v1/webhooks` (`audit:admin`): subscriptions, their secrets, test messages, the delivery
//! log and replays.
//!
//! The work is `trailkeep_webhooks`': these handlers read bodies, call its `manage` functions
//! for the caller's tenant, and write answers. Every route looks a subscription up within the
//! caller's tenant, so another tenant's id is a 404 everywhere; every change is an event in
//! the tenant's trail, written with it. A secret is answered only by the call that made it.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value};
use trailkeep_api::{
    CreateWebhook, ReplayStarted, ReplayWebhook, RotateWebhook, UpdateWebhook, WebhookDelivery,
    WebhookDeliveryList, WebhookEventType, WebhookInfo, WebhookList, WebhookProgress,
    WebhookSecretInfo, WebhookTestResult, WebhookWithSecret,
};
use trailkeep_event::{Filter, Timestamp};
use trailkeep_jobs::now_ms;
use trailkeep_webhooks::manage::{self, MAX_SUBSCRIPTIONS};
use trailkeep_webhooks::subscription::{CURSOR_KIND, Cursor};
use trailkeep_webhooks::{
    Delivery, EventType, Handle, NewSubscription, ReplayFrom, Subscription, Update, WebhookError,
};

use crate::AppState;
use crate::auth::Principal;
use crate::body::{decode, decode_optional, encoding, received};
use crate::error::ApiError;
use crate::exports::rfc3339;
use crate::listing::parse_filter_object;
use crate::params::Params;

/// The default overlap of an old secret after a rotation: a day.
const DEFAULT_OVERLAP_SECONDS: u64 = 24 * 3600;

/// The server's webhook deliveries, or 503 when it runs none.
fn deliveries(state: &AppState) -> Result<&Handle, ApiError> {
    state.webhooks.as_ref().ok_or_else(|| {
        ApiError::unavailable(
            "webhooks_disabled",
            "this server does not deliver webhooks".into(),
        )
    })
}

impl From<WebhookError> for ApiError {
    fn from(error: WebhookError) -> Self {
        match error {
            WebhookError::NotFound => ApiError::not_found("no such webhook subscription"),
            WebhookError::Invalid(message) => ApiError::bad_request("invalid_webhook", message),
            WebhookError::Refused(refused) => ApiError::invalid_field("url", refused.to_string()),
            WebhookError::Store(error) => error.into(),
        }
    }
}

fn to_type(wire: WebhookEventType) -> EventType {
    match wire {
        WebhookEventType::LogCreated => EventType::LogCreated,
        WebhookEventType::ExportCompleted => EventType::ExportCompleted,
        WebhookEventType::SuspiciousDetected => EventType::SuspiciousDetected,
    }
}

fn to_wire(kind: EventType) -> WebhookEventType {
    match kind {
        EventType::LogCreated => WebhookEventType::LogCreated,
        EventType::ExportCompleted => WebhookEventType::ExportCompleted,
        EventType::SuspiciousDetected => WebhookEventType::SuspiciousDetected,
    }
}

/// A filter object parsed, `None` when empty.
fn filter_of(filter: &Map<String, Value>) -> Result<Option<Filter>, ApiError> {
    if filter.is_empty() {
        return Ok(None);
    }
    parse_filter_object(filter).map(Some)
}

/// The subscription as the API shows it, with its cursor's progress.
async fn info(state: &AppState, tenant: &str, s: &Subscription) -> Result<WebhookInfo, ApiError> {
    let cursor: Cursor = match state.store.document(tenant, CURSOR_KIND, &s.id).await? {
        Some(document) => serde_json::from_str(&document.body)
            .map_err(|e| ApiError::internal(&format!("webhook cursor {}: {e}", s.id)))?,
        None => Cursor::default(),
    };
    let pending = cursor.pending.as_ref();
    Ok(WebhookInfo {
        id: s.id.clone(),
        url: s.url.clone(),
        event_types: s.event_types.iter().copied().map(to_wire).collect(),
        filter: s.filter_params.clone(),
        description: s.description.clone(),
        state: serde_json::to_value(s.state)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default(),
        disabled_reason: s.disabled_reason.clone(),
        secrets: s
            .secrets
            .iter()
            .map(|secret| WebhookSecretInfo {
                created_at: rfc3339(secret.created_at),
                expires_at: secret.expires_at.map(rfc3339),
            })
            .collect(),
        progress: WebhookProgress {
            next_seq: cursor.next_seq,
            pending_message: pending.map(|p| p.message_id.clone()),
            pending_attempts: pending.map_or(0, |p| p.attempts),
            next_attempt_at: pending
                .filter(|p| p.next_attempt_at < i64::MAX)
                .map(|p| rfc3339(p.next_attempt_at)),
        },
        created_at: rfc3339(s.created_at),
        created_by: s.created_by.clone(),
        updated_at: rfc3339(s.updated_at),
    })
}

fn delivery_info(d: Delivery) -> WebhookDelivery {
    WebhookDelivery {
        number: d.number,
        message_id: d.message_id,
        event_type: d.event_type,
        attempt: d.attempt,
        at: rfc3339(d.at),
        status: d.status,
        error: d.error,
        latency_ms: d.latency_ms,
        answer: d.answer,
        first_seq: d.seqs.map(|s| s.0),
        last_seq: d.seqs.map(|s| s.1),
        events: d.events,
        delivered: d.delivered,
        next_attempt_at: d.next_attempt_at.map(rfc3339),
    }
}

/// `POST /v1/webhooks`: subscribe an endpoint.
#[utoipa::path(
    operation_id = "create_webhook",
    post,
    path = "/v1/webhooks",
    tag = "webhooks",
    summary = "Subscribe an endpoint",
    description = "Subscribes an endpoint to the tenant's events from now on. Messages are signed as Standard Webhooks signs them (webhook-id, webhook-timestamp, webhook-signature) with the secret answered here, and only here. The destination must be https:// on a public address unless the operator allows otherwise.",
    request_body = trailkeep_api::CreateWebhook,
    responses(
        (status = 201, description = "Subscribed", body = trailkeep_api::WebhookWithSecret),
        (status = 400, description = "The body is invalid, or the destination is refused", body = trailkeep_api::Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not JSON", body = trailkeep_api::Problem, content_type = "application/problem+json"),
        (status = 503, description = "Webhooks are not enabled on this server", body = trailkeep_api::Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn create(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let handle = deliveries(&state)?;
    let request: CreateWebhook = decode(&received(body)?, encoding(&headers, false)?)?;
    let new = NewSubscription {
        url: request.url,
        event_types: request.event_types.into_iter().map(to_type).collect(),
        filter: filter_of(&request.filter)?,
        filter_params: request.filter,
        description: request.description,
    };
    let (subscription, secret) = manage::create(
        &*state.store,
        handle.policy(),
        &principal.tenant,
        &principal.actor(),
        new,
        now_ms(),
    )
    .await?;
    handle.wake();
    let webhook = info(&state, &principal.tenant, &subscription).await?;
    Ok((
        StatusCode::CREATED,
        Json(WebhookWithSecret { webhook, secret }),
    )
        .into_response())
}

/// `GET /v1/webhooks`: the tenant's subscriptions.
#[utoipa::path(
    operation_id = "list_webhooks",
    get,
    path = "/v1/webhooks",
    tag = "webhooks",
    summary = "List subscriptions",
    params(
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 100, description = "At most this many (default 100)"),
        ("after" = Option<String>, Query, description = "Only subscriptions after this id (the previous page's next_after)"),
    ),
    responses(
        (status = 200, description = "The subscriptions, oldest first", body = trailkeep_api::WebhookList),
        (status = 400, description = "A parameter is invalid", body = trailkeep_api::Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn list(
    State(state): State<AppState>,
    principal: Principal,
    uri: Uri,
) -> Result<Json<WebhookList>, ApiError> {
    let params = Params::parse(&uri, &["limit", "after"])?;
    let limit = params.number("limit")?.unwrap_or(MAX_SUBSCRIPTIONS as u64);
    if !(1..=MAX_SUBSCRIPTIONS as u64).contains(&limit) {
        return Err(ApiError::bad_request(
            "bad_parameter",
            format!("query parameter \"limit\" must be from 1 to {MAX_SUBSCRIPTIONS}"),
        ));
    }
    let subscriptions = manage::list(
        &*state.store,
        &principal.tenant,
        params.one("after")?,
        limit as usize,
    )
    .await?;
    let next_after = (subscriptions.len() == limit as usize)
        .then(|| subscriptions.last().map(|s| s.id.clone()))
        .flatten();
    let mut data = Vec::with_capacity(subscriptions.len());
    for subscription in &subscriptions {
        data.push(info(&state, &principal.tenant, subscription).await?);
    }
    Ok(Json(WebhookList { data, next_after }))
}

/// `GET /v1/webhooks/{id}`: one subscription.
#[utoipa::path(
    operation_id = "get_webhook",
    get,
    path = "/v1/webhooks/{id}",
    tag = "webhooks",
    summary = "Get a subscription",
    params(("id" = String, Path, description = "The subscription's id")),
    responses(
        (status = 200, description = "The subscription (without its secrets)", body = trailkeep_api::WebhookInfo),
        (status = 404, description = "The tenant has no such subscription", body = trailkeep_api::Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn get_one(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<WebhookInfo>, ApiError> {
    let subscription = manage::get(&*state.store, &principal.tenant, &id).await?;
    Ok(Json(info(&state, &principal.tenant, &subscription).await?))
}

/// `PATCH /v1/webhooks/{id}`: change a subscription.
#[utoipa::path(
    operation_id = "update_webhook",
    patch,
    path = "/v1/webhooks/{id}",
    tag = "webhooks",
    summary = "Change a subscription",
    description = "Replaces each field given: the destination, the event types, the filter, the description. Its delivery goes on from where it was.",
    params(("id" = String, Path, description = "The subscription's id")),
    request_body = trailkeep_api::UpdateWebhook,
    responses(
        (status = 200, description = "Changed", body = trailkeep_api::WebhookInfo),
        (status = 400, description = "The body is invalid, or the destination is refused", body = trailkeep_api::Problem, content_type = "application/problem+json"),
        (status = 404, description = "The tenant has no such subscription", body = trailkeep_api::Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not JSON", body = trailkeep_api::Problem, content_type = "application/problem+json"),
        (status = 503, description = "Webhooks are not enabled on this server", body = trailkeep_api::Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn update(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<WebhookInfo>, ApiError> {
    let handle = deliveries(&state)?;
    let request: UpdateWebhook = decode(&received(body)?, encoding(&headers, false)?)?;
    let filter = match request.filter {
        Some(params) => Some((filter_of(&params)?, params)),
        None => None,
    };
    let update = Update {
        url: request.url,
        event_types: request
            .event_types
            .map(|types| types.into_iter().map(to_type).collect()),
        filter,
        description: request.description,
    };
    let subscription = manage::update(
        &*state.store,
        handle.policy(),
        &principal.tenant,
        &principal.actor(),
        &id,
        update,
        now_ms(),
    )
    .await?;
    handle.wake();
    Ok(Json(info(&state, &principal.tenant, &subscription).await?))
}

/// `DELETE /v1/webhooks/{id}`: unsubscribe.
#[utoipa::path(
    operation_id = "delete_webhook",
    delete,
    path = "/v1/webhooks/{id}",
    tag = "webhooks",
    summary = "Delete a subscription",
    description = "Deletes the subscription, its cursor and its delivery log; a message in flight is not sent again.",
    params(("id" = String, Path, description = "The subscription's id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "The tenant has no such subscription", body = trailkeep_api::Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn delete(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    manage::delete(
        &*state.store,
        &principal.tenant,
        &principal.actor(),
        &id,
        now_ms(),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Pauses or resumes subscription `id`.
async fn set_paused(
    state: &AppState,
    principal: &Principal,
    id: &str,
    paused: bool,
) -> Result<Json<WebhookInfo>, ApiError> {
    let subscription = manage::set_paused(
        &*state.store,
        &principal.tenant,
        &principal.actor(),
        id,
        paused,
        now_ms(),
    )
    .await?;
    if let Some(handle) = &state.webhooks {
        handle.wake();
    }
    Ok(Json(info(state, &principal.tenant, &subscription).await?))
}

/// `POST /v1/webhooks/{id}/pause`: stop delivering for now.
#[utoipa::path(
    operation_id = "pause_webhook",
    post,
    path = "/v1/webhooks/{id}/pause",
    tag = "webhooks",
    summary = "Pause a subscription",
    description = "Stops delivery; events wait at the cursor until the subscription is resumed, so none is lost.",
    params(("id" = String, Path, description = "The subscription's id")),
    responses(
        (status = 200, description = "Paused", body = trailkeep_api::WebhookInfo),
        (status = 404, description = "The tenant has no such subscription", body = trailkeep_api::Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn pause(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<WebhookInfo>, ApiError> {
    set_paused(&state, &principal, &id, true).await
}

/// `POST /v1/webhooks/{id}/resume`: deliver again.
#[utoipa::path(
    operation_id = "resume_webhook",
    post,
    path = "/v1/webhooks/{id}/resume",
    tag = "webhooks",
    summary = "Resume a subscription",
    description = "Resumes a paused subscription, or one the service disabled: delivery goes on from its cursor, and a message whose retries ran out is tried again from its first attempt.",
    params(("id" = String, Path, description = "The subscription's id")),
    responses(
        (status = 200, description = "Active again", body = trailkeep_api::WebhookInfo),
        (status = 404, description = "The tenant has no such subscription", body = trailkeep_api::Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn resume(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<WebhookInfo>, ApiError> {
    set_paused(&state, &principal, &id, false).await
}

/// `POST /v1/webhooks/{id}/rotate`: a new signing secret.
#[utoipa::path(
    operation_id = "rotate_webhook_secret",
    post,
    path = "/v1/webhooks/{id}/rotate",
    tag = "webhooks",
    summary = "Rotate the signing secret",
    description = "Makes a new secret, answered here and only here. During the overlap every message carries two signatures, the old secret's and the new one's, so the receiver can switch at its own pace; after it, only the new one.",
    params(("id" = String, Path, description = "The subscription's id")),
    request_body(content = Option<trailkeep_api::RotateWebhook>, description = "Optional: the overlap"),
    responses(
        (status = 200, description = "Rotated", body = trailkeep_api::WebhookWithSecret),
        (status = 400, description = "The overlap is invalid", body = trailkeep_api::Problem, content_type = "application/problem+json"),
        (status = 404, description = "The tenant has no such subscription", body = trailkeep_api::Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not JSON", body = trailkeep_api::Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn rotate(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<WebhookWithSecret>, ApiError> {
    let body = received(body)?;
    let request: RotateWebhook = decode_optional(&body, &headers)?;
    let overlap = request.overlap_seconds.unwrap_or(DEFAULT_OVERLAP_SECONDS);
    let overlap_ms = i64::try_from(overlap.saturating_mul(1000)).unwrap_or(i64::MAX);
    let (subscription, secret) = manage::rotate(
        &*state.store,
        &principal.tenant,
        &principal.actor(),
        &id,
        overlap_ms,
        now_ms(),
    )
    .await?;
    let webhook = info(&state, &principal.tenant, &subscription).await?;
    Ok(Json(WebhookWithSecret { webhook, secret }))
}

/// `POST /v1/webhooks/{id}/test`: send a test message now.
#[utoipa::path(
    operation_id = "test_webhook",
    post,
    path = "/v1/webhooks/{id}/test",
    tag = "webhooks",
    summary = "Send a test message",
    description = "Posts a signed message of type webhook.test to the endpoint at once, whatever the subscription's state, and answers what the endpoint answered. It moves no cursor and is not retried.",
    params(("id" = String, Path, description = "The subscription's id")),
    responses(
        (status = 200, description = "What the endpoint answered", body = trailkeep_api::WebhookTestResult),
        (status = 404, description = "The tenant has no such subscription", body = trailkeep_api::Problem, content_type = "application/problem+json"),
        (status = 503, description = "Webhooks are not enabled on this server", body = trailkeep_api::Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn test(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<WebhookTestResult>, ApiError> {
    let handle = deliveries(&state)?;
    let subscription = manage::get(&*state.store, &principal.tenant, &id).await?;
    let attempt = handle.send_test(&principal.tenant, &subscription).await;
    Ok(Json(WebhookTestResult {
        delivered: attempt.delivered(),
        status: attempt.status,
        error: attempt.error,
        latency_ms: attempt.latency.as_millis() as u64,
        answer: attempt.answer,
    }))
}

/// `GET /v1/webhooks/{id}/deliveries`: the delivery log.
#[utoipa::path(
    operation_id = "list_webhook_deliveries",
    get,
    path = "/v1/webhooks/{id}/deliveries",
    tag = "webhooks",
    summary = "List delivery attempts",
    description = "Every attempt at every message, newest first: the webhook-id, the attempt, the endpoint's status, the latency, the answer's first bytes, the events' seqs, and when the next attempt is due. The newest 1,000 attempts are kept.",
    params(
        ("id" = String, Path, description = "The subscription's id"),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 100, description = "At most this many (default 20)"),
        ("before" = Option<u64>, Query, description = "Only attempts before this number (the previous page's next_before)"),
    ),
    responses(
        (status = 200, description = "The attempts", body = trailkeep_api::WebhookDeliveryList),
        (status = 400, description = "A parameter is invalid", body = trailkeep_api::Problem, content_type = "application/problem+json"),
        (status = 404, description = "The tenant has no such subscription", body = trailkeep_api::Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn list_deliveries(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    uri: Uri,
) -> Result<Json<WebhookDeliveryList>, ApiError> {
    let params = Params::parse(&uri, &["limit", "before"])?;
    let limit = params.page_limit()?;
    let before = params.number("before")?;
    let log = manage::deliveries(&*state.store, &principal.tenant, &id, before, limit).await?;
    let next_before = (log.len() == limit)
        .then(|| log.last().map(|d| d.number))
        .flatten();
    Ok(Json(WebhookDeliveryList {
        data: log.into_iter().map(delivery_info).collect(),
        next_before,
    }))
}

/// `POST /v1/webhooks/{id}/replay`: send events again.
#[utoipa::path(
    operation_id = "replay_webhook",
    post,
    path = "/v1/webhooks/{id}/replay",
    tag = "webhooks",
    summary = "Replay events",
    description = "Moves the subscription's cursor back to a seq, or to the first event received at or after a time: the events it receives from there on are sent again, in order, under new webhook-ids. A message in flight is dropped.",
    params(("id" = String, Path, description = "The subscription's id")),
    request_body = trailkeep_api::ReplayWebhook,
    responses(
        (status = 202, description = "Delivery goes on from this seq", body = trailkeep_api::ReplayStarted),
        (status = 400, description = "The body is invalid", body = trailkeep_api::Problem, content_type = "application/problem+json"),
        (status = 404, description = "The tenant has no such subscription", body = trailkeep_api::Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not JSON", body = trailkeep_api::Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn replay(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let request: ReplayWebhook = decode(&received(body)?, encoding(&headers, false)?)?;
    let from = match (request.from_seq, request.from_time) {
        (Some(seq), None) => ReplayFrom::Seq(seq),
        (None, Some(time)) => ReplayFrom::Time(
            Timestamp::parse(&time).map_err(|e| ApiError::invalid_field("from_time", e))?,
        ),
        _ => {
            return Err(ApiError::invalid_field(
                "from_seq",
                "give exactly one of from_seq and from_time",
            ));
        }
    };
    let start = manage::replay(
        &*state.store,
        &principal.tenant,
        &principal.actor(),
        &id,
        from,
        now_ms(),
    )
    .await?;
    if let Some(handle) = &state.webhooks {
        handle.wake();
    }
    Ok((
        StatusCode::ACCEPTED,
        Json(ReplayStarted { from_seq: start }),
    )
        .into_response())
}
