//! The viewer's two routes: `GET /v1/session` (who a credential is and what it may do, so the
//! UI shows only what it can open) and `POST /v1/viewer-tokens` (embed tokens: read-only,
//! short-lived, for one tenant and optionally one actor or target, so that a SaaS can show its
//! customers their own trail inside its product).
//!
//! An embed token is an HS256 JWT of this server with a `view` claim. The guard lets it into
//! the viewer's routes only (`routes.rs` marks them), each of which confines its answer to the
//! token's scope ([`Principal::confine`], [`Principal::may_see`]); every search, event, history
//! and live tail opened through one is an `audit.log.viewed` event in the tenant's trail (PCI
//! DSS 10.2.1.3: all access to audit logs is logged). When its maker stands on an API key, the
//! token is bound to it, so revoking the key ends the token too.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use trailkeep_api::{CreateViewerToken, SessionInfo, ViewScope, ViewerToken};

use crate::AppState;
use crate::auth::api_keys;
use crate::auth::{CredentialKind, ExchangeKey, Hs256Tokens, Principal, Role, now_seconds};
use crate::body::{decode, encoding, received};
use crate::error::ApiError;
use crate::keys::{no_store, rfc3339};

/// Shortest and longest life of an embed token, and its default, in seconds.
const TTL_SECONDS: (u64, u64, u64) = (60, 3600, 900);
/// Longest id or type in a scope, and longest viewer name, in characters.
const MAX_NAME_CHARS: usize = 256;

/// `GET /v1/session`.
#[utoipa::path(
    get,
    path = "/v1/session",
    tag = "viewer",
    summary = "The credential's tenant, roles and scope",
    description = "Who the presented credential is: its tenant, roles, kind and expiry, and an embed token's scope. The viewer asks this when someone signs in, to show only the pages the roles open.",
    responses((status = 200, description = "The session", body = SessionInfo)),
)]
pub async fn session(principal: Principal) -> Json<SessionInfo> {
    let mut roles: Vec<&str> = principal.roles.iter().map(|r| r.scope()).collect();
    roles.sort_unstable();
    Json(SessionInfo {
        tenant: principal.tenant.clone(),
        roles: roles.into_iter().map(str::to_owned).collect(),
        credential: principal.kind.as_str().to_owned(),
        subject: match principal.kind {
            CredentialKind::Viewer => principal.viewer.clone(),
            _ => principal.id.clone(),
        },
        expires_at: principal.expires_at.map(rfc3339),
        view: principal.view.clone(),
    })
}

fn check_name(field: &str, value: &Option<String>) -> Result<(), ApiError> {
    match value {
        Some(v)
            if v.is_empty()
                || v.chars().count() > MAX_NAME_CHARS
                || v.chars().any(char::is_control) =>
        {
            Err(ApiError::invalid_field(
                field,
                format!("must be 1 to {MAX_NAME_CHARS} characters without control characters"),
            ))
        }
        _ => Ok(()),
    }
}

/// `POST /v1/viewer-tokens`.
#[utoipa::path(
    post,
    path = "/v1/viewer-tokens",
    tag = "viewer",
    summary = "Make an embed token for the viewer",
    description = "A short-lived, read-only token for the caller's tenant, optionally showing one actor's or one target's events only, for embedding the viewer (`/ui`) in another product: open `url` (the token rides in the fragment, which is never sent to a server) in an iframe or a tab. The token opens only the viewer's routes, each confined to its scope, and every search or event viewed through it is an `audit.log.viewed` event. It stops working when it expires or when the API key of its maker is revoked. The maker needs `audit:read` as well: a token shows no more than its maker may read.",
    request_body = CreateViewerToken,
    responses(
        (status = 201, description = "The token, shown once", body = ViewerToken),
        (status = 400, description = "The body is invalid", body = trailkeep_api::Problem, content_type = "application/problem+json"),
        (status = 403, description = "The maker lacks `audit:read`, or cannot bind the token to an API key where the server requires it", body = trailkeep_api::Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not JSON", body = trailkeep_api::Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn create_token(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let request: CreateViewerToken = decode(&received(body)?, encoding(&headers, false)?)?;
    let ViewScope {
        actor_id,
        target_type,
        target_id,
    } = &request.scope;
    check_name("scope.actor_id", actor_id)?;
    check_name("scope.target_type", target_type)?;
    check_name("scope.target_id", target_id)?;
    check_name("viewer", &request.viewer)?;
    let (min, max, default) = TTL_SECONDS;
    let ttl = request.expires_in.unwrap_or(default);
    if !(min..=max).contains(&ttl) {
        return Err(ApiError::invalid_field(
            "expires_in",
            format!("must be {min} to {max} seconds"),
        ));
    }
    if !principal.roles.contains(&Role::Read) {
        return Err(ApiError::forbidden(
            "an embed token reads, so its maker needs the audit:read role too",
        ));
    }
    let jwt = state.auth.jwt();
    let key = match &principal.backing_key {
        Some(id) => state.store.api_key(id).await?,
        None => None,
    };
    if key.is_none() && jwt.hs256_policy() == Hs256Tokens::Exchange {
        return Err(ApiError::forbidden(
            "this server accepts its own tokens only when they stand on an API key: make embed tokens with an API key (or a token exchanged for one)",
        ));
    }
    if !jwt.exchange_enabled() {
        return Err(ApiError::forbidden(
            "this server signs no tokens of its own (jwt.hs256_tokens = none)",
        ));
    }
    let binding = key.as_ref().map(api_keys::exchange_binding);
    let exchange_key = key
        .as_ref()
        .zip(binding.as_deref())
        .map(|(k, b)| ExchangeKey {
            id: &k.id,
            binding: b,
        });
    let viewer = request.viewer.as_deref().unwrap_or("viewer");
    let token = jwt
        .mint_viewer(&principal.tenant, exchange_key, &request.scope, viewer, ttl)
        .map_err(|e| ApiError::internal(&e))?;
    let expires_at = rfc3339(now_seconds() + ttl as i64);
    state
        .audit
        .record(
            &principal.tenant,
            json!({
                "action": "audit.viewer_token.created",
                "category": "create",
                "actor": principal.actor(),
                "target": {"type": "viewer_token", "id": viewer},
                "metadata": {"scope": request.scope, "expires_at": expires_at},
            }),
        )
        .await?;
    let answer = ViewerToken {
        url: format!("/ui/#token={token}"),
        token,
        expires_at,
        scope: request.scope,
    };
    Ok(no_store(
        (StatusCode::CREATED, Json(answer)).into_response(),
    ))
}

/// Writes that an embed token looked at the trail: `what` (a search, an event, a history, a
/// live tail) and its details. Other credentials' reads are not events.
pub async fn record_view(
    state: &AppState,
    principal: &Principal,
    what: &str,
    details: Value,
) -> Result<(), ApiError> {
    if principal.kind != CredentialKind::Viewer {
        return Ok(());
    }
    state
        .audit
        .record(
            &principal.tenant,
            json!({
                "action": "audit.log.viewed",
                "category": "read",
                "actor": principal.actor(),
                "target": {"type": "audit_log", "id": principal.tenant},
                "metadata": {"view": what, "details": details, "scope": principal.view},
            }),
        )
        .await
}
