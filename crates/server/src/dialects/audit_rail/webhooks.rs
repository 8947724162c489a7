//! Audit Rail's webhook events (`audit.log.created`, `audit.export.completed`,
//! `audit.suspicious.detected`, the seed's table): subscriptions under
//! `/api/v1/audit/webhooks` in the Rail's envelope and error shape, with the Rail's filter
//! object. They are the native subscriptions (`trailkeep_webhooks`): the same delivery,
//! Standard Webhooks signatures and retries, and the same subscription under `/v1/webhooks`.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use trailkeep_jobs::now_ms;
use trailkeep_webhooks::manage;
use trailkeep_webhooks::{EventType, NewSubscription, State as SubscriptionState, Subscription};
use utoipa::ToSchema;

use super::export::{RailExportFilter, rail_filter};
use crate::AppState;
use crate::auth::Principal;
use crate::body::{decode, encoding, received};
use crate::error::ApiError;
use crate::exports::rfc3339;

/// The Rail's webhook events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub enum RailEvent {
    /// Audit log created.
    #[serde(rename = "audit.log.created")]
    LogCreated,
    /// Export completed.
    #[serde(rename = "audit.export.completed")]
    ExportCompleted,
    /// Suspicious activity.
    #[serde(rename = "audit.suspicious.detected")]
    SuspiciousDetected,
}

impl From<RailEvent> for EventType {
    fn from(event: RailEvent) -> Self {
        match event {
            RailEvent::LogCreated => EventType::LogCreated,
            RailEvent::ExportCompleted => EventType::ExportCompleted,
            RailEvent::SuspiciousDetected => EventType::SuspiciousDetected,
        }
    }
}

/// `POST /api/v1/audit/webhooks` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RailWebhookRequest {
    /// Where events are posted (`https://`, a public address unless the operator allows
    /// otherwise).
    #[schema(max_length = 2048)]
    url: String,
    /// The events it receives.
    #[schema(min_items = 1)]
    events: Vec<RailEvent>,
    /// Which `audit.log.created` events: the filter of the Rail's export.
    #[serde(default)]
    filter: Option<RailExportFilter>,
    /// What it is for.
    #[serde(default)]
    #[schema(max_length = 500)]
    description: String,
}

/// A Rail webhook.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RailWebhook {
    /// Its id (also its id under `/v1/webhooks`).
    id: String,
    /// Where events are posted.
    url: String,
    /// The events it receives.
    events: Vec<String>,
    /// Its filter of `audit.log.created` events.
    #[schema(value_type = Object)]
    filter: Map<String, Value>,
    /// What it is for.
    description: String,
    /// Whether it delivers (false when paused or disabled, under `/v1/webhooks`).
    active: bool,
    /// When it was made.
    created_at: String,
    /// The Standard Webhooks signing secret: only in the answer that made it.
    #[serde(skip_serializing_if = "Option::is_none")]
    secret: Option<String>,
}

/// The Rail's envelope of one webhook.
#[derive(Debug, Serialize, ToSchema)]
pub struct RailWebhookAnswer {
    /// The webhook.
    data: RailWebhook,
}

/// The Rail's envelope of the webhooks.
#[derive(Debug, Serialize, ToSchema)]
pub struct RailWebhookList {
    /// The webhooks, oldest first.
    data: Vec<RailWebhook>,
}

fn rail_webhook(subscription: &Subscription, secret: Option<String>) -> RailWebhook {
    RailWebhook {
        id: subscription.id.clone(),
        url: subscription.url.clone(),
        events: subscription
            .event_types
            .iter()
            .map(|t| t.name().to_owned())
            .collect(),
        filter: subscription.filter_params.clone(),
        description: subscription.description.clone(),
        active: subscription.state == SubscriptionState::Active,
        created_at: rfc3339(subscription.created_at),
        secret,
    }
}

/// `POST /api/v1/audit/webhooks`.
#[utoipa::path(
    operation_id = "audit_rail_create_webhook",
    post,
    path = "/webhooks",
    tag = "audit-rail",
    summary = "Audit Rail: subscribe to its webhook events",
    description = "Subscribes an endpoint to the Rail's webhook events (audit.log.created, audit.export.completed, audit.suspicious.detected), signed as Standard Webhooks signs with the secret answered here and only here. The same subscription as under /v1/webhooks.",
    request_body = RailWebhookRequest,
    responses(
        (status = 201, description = "Subscribed", body = RailWebhookAnswer),
        (status = 400, description = "The body is invalid, or the destination is refused", body = super::AuditRailError),
        (status = 415, description = "Not JSON", body = super::AuditRailError),
        (status = 503, description = "Webhooks are not enabled on this server", body = super::AuditRailError),
    )
)]
pub async fn create(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let handle = state.webhooks.clone().ok_or_else(|| {
        ApiError::unavailable(
            "webhooks_disabled",
            "this server does not deliver webhooks".into(),
        )
    })?;
    let request: RailWebhookRequest = decode(&received(body)?, encoding(&headers, false)?)?;
    let (filter, filter_params) = match request.filter {
        Some(rail) => {
            let written = match serde_json::to_value(&rail) {
                Ok(Value::Object(map)) => map.into_iter().filter(|(_, v)| !v.is_null()).collect(),
                _ => Map::new(),
            };
            (Some(rail_filter(rail)?), written)
        }
        None => (None, Map::new()),
    };
    let new = NewSubscription {
        url: request.url,
        event_types: request.events.into_iter().map(EventType::from).collect(),
        filter: filter.filter(|f| *f != trailkeep_event::Filter::default()),
        filter_params,
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
    let answer = RailWebhookAnswer {
        data: rail_webhook(&subscription, Some(secret)),
    };
    Ok((StatusCode::CREATED, Json(answer)).into_response())
}

/// `GET /api/v1/audit/webhooks`.
#[utoipa::path(
    operation_id = "audit_rail_list_webhooks",
    get,
    path = "/webhooks",
    tag = "audit-rail",
    summary = "Audit Rail: the webhooks",
    responses((status = 200, description = "The webhooks, oldest first", body = RailWebhookList))
)]
pub async fn list(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<RailWebhookList>, ApiError> {
    let subscriptions = manage::list(
        &*state.store,
        &principal.tenant,
        None,
        manage::MAX_SUBSCRIPTIONS,
    )
    .await?;
    Ok(Json(RailWebhookList {
        data: subscriptions
            .iter()
            .map(|s| rail_webhook(s, None))
            .collect(),
    }))
}

/// `GET /api/v1/audit/webhooks/{webhookId}`.
#[utoipa::path(
    operation_id = "audit_rail_get_webhook",
    get,
    path = "/webhooks/{webhookId}",
    tag = "audit-rail",
    summary = "Audit Rail: a webhook",
    params(("webhookId" = String, Path, description = "The webhook's id")),
    responses(
        (status = 200, description = "The webhook (without its secret)", body = RailWebhookAnswer),
        (status = 404, description = "No such webhook", body = super::AuditRailError),
    )
)]
pub async fn get_one(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<RailWebhookAnswer>, ApiError> {
    let subscription = manage::get(&*state.store, &principal.tenant, &id).await?;
    Ok(Json(RailWebhookAnswer {
        data: rail_webhook(&subscription, None),
    }))
}

/// `DELETE /api/v1/audit/webhooks/{webhookId}`.
#[utoipa::path(
    operation_id = "audit_rail_delete_webhook",
    delete,
    path = "/webhooks/{webhookId}",
    tag = "audit-rail",
    summary = "Audit Rail: unsubscribe",
    params(("webhookId" = String, Path, description = "The webhook's id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such webhook", body = super::AuditRailError),
    )
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
