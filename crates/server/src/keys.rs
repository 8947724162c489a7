//! API keys over HTTP (`/v1/api-keys`, `audit:admin`) and the client-credentials exchange
//! (`POST /v1/auth/token`). Creating and revoking a key are recorded in the tenant's trail.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use trailkeep_api::{
    ApiKeyInfo, ApiKeyList, CreateApiKey, CreatedApiKey, TokenRequest, TokenResponse,
};
use trailkeep_event::{PreparedEvent, Timestamp, prepare};
use trailkeep_store::ApiKeyRecord;

use crate::AppState;
use crate::auth::api_keys::{self, KeySpec};
use crate::auth::{ExchangeKey, Principal, Role, Source, now_seconds};
use crate::body::{decode, encoding, received};
use crate::error::ApiError;

/// Longest key name.
const MAX_NAME_CHARS: usize = 100;

/// An instant in seconds since the epoch, as RFC 3339.
pub fn rfc3339(seconds: i64) -> String {
    Timestamp::from_micros(seconds.saturating_mul(1_000_000))
        .map(|t| t.to_string())
        .unwrap_or_default()
}

/// A stored key as the API shows it (never the hash).
pub fn info(record: &ApiKeyRecord) -> ApiKeyInfo {
    ApiKeyInfo {
        id: record.id.clone(),
        tenant: record.tenant.clone(),
        name: record.name.clone(),
        roles: record.roles.clone(),
        created_by: record.created_by.clone(),
        created_at: rfc3339(record.created_at),
        expires_at: record.expires_at.map(rfc3339),
        revoked_at: record.revoked_at.map(rfc3339),
    }
}

/// Parses a list of scope strings into roles, every one known and at least one.
pub fn parse_roles(scopes: &[String]) -> Result<Vec<Role>, String> {
    if scopes.is_empty() {
        return Err("name at least one role".into());
    }
    let mut roles = Vec::new();
    for scope in scopes {
        let role = Role::from_scope(scope).ok_or_else(|| {
            format!(
                "unknown role {scope:?}; known: {}",
                Role::ALL.map(Role::scope).join(", ")
            )
        })?;
        if !roles.contains(&role) {
            roles.push(role);
        }
    }
    roles.sort();
    Ok(roles)
}

/// `response`, marked never to be cached (it holds a secret).
pub fn no_store(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// `POST /v1/api-keys`: a new key for the caller's tenant, its secret shown this once.
#[utoipa::path(
    operation_id = "create_api_key",
    post,
    path = "/v1/api-keys",
    tag = "credentials",
    summary = "Create an API key",
    description = "A new key for the caller's tenant. The secret is in this answer only; the server keeps a hash.",
    request_body = trailkeep_api::CreateApiKey,
    responses(
        (status = 201, description = "The key, with its secret", body = trailkeep_api::CreatedApiKey),
        (status = 400, description = "The body is invalid", body = trailkeep_api::Problem, content_type = "application/problem+json"),
        (status = 403, description = "The key would grant a role the caller does not hold", body = trailkeep_api::Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not JSON", body = trailkeep_api::Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn create(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let request: CreateApiKey = decode(&received(body)?, encoding(&headers, false)?)?;
    let name = request.name.trim();
    if name.is_empty() || request.name.chars().count() > MAX_NAME_CHARS {
        return Err(ApiError::invalid_field(
            "name",
            format!("must be 1 to {MAX_NAME_CHARS} characters"),
        ));
    }
    if request.name.chars().any(char::is_control) {
        return Err(ApiError::invalid_field(
            "name",
            "must not contain control characters",
        ));
    }
    let roles = parse_roles(&request.roles).map_err(|e| ApiError::invalid_field("roles", e))?;
    // A credential hands on only what it holds: an admin key without audit:export cannot make
    // a key that exports.
    if let Some(missing) = roles.iter().find(|r| !principal.roles.contains(r)) {
        return Err(ApiError::forbidden(format!(
            "a key cannot grant {}, which the credential creating it does not hold",
            missing.scope()
        )));
    }
    let now = now_seconds();
    let expires_at = match &request.expires_at {
        None => None,
        Some(text) => {
            let at =
                Timestamp::parse(text).map_err(|e| ApiError::invalid_field("expires_at", e))?;
            let seconds = at.as_micros().div_euclid(1_000_000);
            if seconds <= now {
                return Err(ApiError::invalid_field(
                    "expires_at",
                    "must be in the future",
                ));
            }
            Some(seconds)
        }
    };
    let issued = api_keys::issue(
        KeySpec {
            tenant: principal.tenant.clone(),
            name: name.to_owned(),
            roles,
            expires_at,
            created_by: principal.id.clone().unwrap_or_else(|| "token".into()),
        },
        now,
    )
    .map_err(|e| ApiError::internal(&e))?;
    let audit = key_event(
        "trailkeep.api_key.created",
        principal.actor(),
        &issued.record,
    )
    .map_err(|e| ApiError::internal(&e))?;
    state
        .store
        .insert_api_key(issued.record.clone(), audit)
        .await?;
    let created = CreatedApiKey {
        info: info(&issued.record),
        key: issued.api_key(),
        client_id: issued.record.id.clone(),
        client_secret: issued.secret.clone(),
    };
    Ok(no_store(
        (StatusCode::CREATED, Json(created)).into_response(),
    ))
}

/// The self-audit event of a key change, for the key's tenant's trail (the store writes it with
/// the change, as one unit).
pub fn key_event(
    action: &str,
    actor: serde_json::Value,
    record: &ApiKeyRecord,
) -> Result<PreparedEvent, String> {
    let event = json!({
        "action": action,
        "outcome": "success",
        "actor": actor,
        "target": {"type": "api_key", "id": record.id, "name": record.name},
        "metadata": {
            "roles": record.roles,
            "expires_at": record.expires_at.map(rfc3339),
        },
    });
    prepare(&event, &record.tenant, Timestamp::now())
        .map_err(|errors| format!("a key event is invalid: {errors:?}"))
}

/// `GET /v1/api-keys`: the caller's tenant's keys, without secrets.
#[utoipa::path(
    operation_id = "list_api_keys",
    get,
    path = "/v1/api-keys",
    tag = "credentials",
    summary = "List API keys",
    responses((status = 200, description = "The tenant's keys, without secrets", body = trailkeep_api::ApiKeyList)),
)]
pub async fn list(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<ApiKeyList>, ApiError> {
    let keys = state.store.api_keys(&principal.tenant).await?;
    Ok(Json(ApiKeyList {
        data: keys.iter().map(info).collect(),
    }))
}

/// `DELETE /v1/api-keys/{id}`: revokes one of the caller's tenant's keys.
#[utoipa::path(
    delete,
    path = "/v1/api-keys/{id}",
    tag = "credentials",
    summary = "Revoke an API key",
    params(("id" = String, Path, description = "The key id")),
    responses(
        (status = 200, description = "The revoked key", body = trailkeep_api::ApiKeyInfo),
        (status = 404, description = "The tenant has no such key", body = trailkeep_api::Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn revoke(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<ApiKeyInfo>, ApiError> {
    let before = state
        .store
        .api_key(&id)
        .await?
        .filter(|k| k.tenant == principal.tenant)
        .ok_or_else(|| ApiError::not_found("this tenant has no API key with that id"))?;
    let audit = key_event("trailkeep.api_key.revoked", principal.actor(), &before)
        .map_err(|e| ApiError::internal(&e))?;
    let record = state
        .store
        .revoke_api_key(&principal.tenant, &id, now_seconds(), audit)
        .await?
        .ok_or_else(|| ApiError::not_found("this tenant has no API key with that id"))?;
    state.auth.forget_key(&id);
    Ok(Json(info(&record)))
}

/// The client-credentials exchange behind `POST /v1/auth/token` and Port's
/// `POST /v1/auth/access_token`: an API key's id and secret (optionally narrowed to `scope`)
/// for a short-lived JWT; answers the token, its roles and its lifetime in seconds.
pub async fn exchange(
    state: &AppState,
    source: Source,
    client_id: &str,
    client_secret: &str,
    scope: Option<&str>,
) -> Result<(String, Vec<Role>, u64), ApiError> {
    source.check(state.auth.failures())?;
    if !state.auth.jwt().exchange_enabled() {
        return Err(ApiError::forbidden(
            "the token exchange is off on this server (jwt.hs256_tokens = \"none\")",
        ));
    }
    // Anything not shaped like a key id is refused before it costs a lookup or a bucket.
    if !api_keys::is_key_id(client_id) {
        source.failed(state.auth.failures());
        return Err(ApiError::unauthorized(
            "the client id or secret is not valid",
        ));
    }
    if let Err(wait) = state.auth.limiter().check(&format!("exchange|{client_id}")) {
        return Err(ApiError::too_many_requests(wait));
    }
    let key = match state.auth.checked_key(client_id, client_secret).await {
        Ok(key) => key,
        Err(refused) => {
            source.failed(state.auth.failures());
            if let Some(failure) = refused.audit {
                state.audit.failed_auth(failure);
            }
            return Err(ApiError::unauthorized(
                "the client id or secret is not valid",
            ));
        }
    };
    let mut roles: Vec<Role> = key
        .roles
        .iter()
        .filter_map(|s| Role::from_scope(s))
        .collect();
    roles.sort();
    roles.dedup();
    if let Some(scope) = scope {
        let asked: Vec<String> = scope.split_whitespace().map(str::to_owned).collect();
        let asked = parse_roles(&asked).map_err(|e| ApiError::invalid_field("scope", e))?;
        if let Some(extra) = asked.iter().find(|r| !roles.contains(r)) {
            return Err(ApiError::forbidden(format!(
                "the key does not grant {}",
                extra.scope()
            )));
        }
        roles = asked;
    }
    // A token never outlives its key.
    let mut ttl = state.auth.jwt().settings().token_ttl_seconds;
    if let Some(at) = key.expires_at {
        ttl = ttl.min(u64::try_from(at - now_seconds()).unwrap_or(0).max(1));
    }
    let binding = api_keys::exchange_binding(&key);
    let exchange_key = ExchangeKey {
        id: &key.id,
        binding: &binding,
    };
    let access_token = state
        .auth
        .jwt()
        .mint(&key.tenant, &roles, &key.id, Some(exchange_key), ttl)
        .map_err(|e| ApiError::internal(&e))?;
    Ok((access_token, roles, ttl))
}

/// `POST /v1/auth/token`: an API key's id and secret for a short-lived JWT.
#[utoipa::path(
    post,
    path = "/v1/auth/token",
    tag = "credentials",
    summary = "Exchange client credentials for a JWT",
    description = "OAuth 2.0 client credentials: an API key's id and secret for a short-lived bearer token that stops working when the key is revoked. The same fields form-encoded (`application/x-www-form-urlencoded`) work too.",
    request_body = trailkeep_api::TokenRequest,
    responses(
        (status = 200, description = "The token", body = trailkeep_api::TokenResponse),
        (status = 400, description = "The body is invalid", body = trailkeep_api::Problem, content_type = "application/problem+json"),
        (status = 401, description = "The client id or secret is not valid", body = trailkeep_api::Problem, content_type = "application/problem+json"),
        (status = 403, description = "The key does not grant a requested scope", body = trailkeep_api::Problem, content_type = "application/problem+json"),
        (status = 415, description = "Neither JSON nor form-encoded", body = trailkeep_api::Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many attempts for this client id", body = trailkeep_api::Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn token(
    State(state): State<AppState>,
    source: Source,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let request: TokenRequest = decode(&received(body)?, encoding(&headers, true)?)?;
    if request
        .grant_type
        .as_deref()
        .is_some_and(|g| g != "client_credentials")
    {
        return Err(ApiError::invalid_field(
            "grant_type",
            "the only grant is client_credentials",
        ));
    }
    let (access_token, roles, ttl) = exchange(
        &state,
        source,
        &request.client_id,
        &request.client_secret,
        request.scope.as_deref(),
    )
    .await?;
    let answer = TokenResponse {
        access_token,
        token_type: "Bearer".into(),
        expires_in: ttl,
        scope: roles
            .iter()
            .map(|r| r.scope())
            .collect::<Vec<_>>()
            .join(" "),
    };
    Ok(no_store(Json(answer).into_response()))
}
