//! Who is calling: bearer JWTs (HS256 for now) carrying the tenant and the roles.
//!
//! The tenant always comes from the credentials, never from a request body or path, so a
//! handler that takes a [`Principal`] cannot read or write another tenant's trail.

use std::collections::HashSet;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use trailkeep_event::validate_tenant;

use crate::AppState;
use crate::error::ApiError;

/// Shortest HS256 secret accepted, in bytes.
pub const MIN_SECRET_BYTES: usize = 32;

/// A permission, granted by a `scope` entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// `audit:write`: ingest events.
    Write,
    /// `audit:read`: query, history, statistics, proofs.
    Read,
    /// `audit:export`: exports and reports.
    Export,
    /// `audit:admin`: keys, webhooks, rules, retention.
    Admin,
}

impl Role {
    /// The scope string that grants this role.
    pub fn scope(self) -> &'static str {
        match self {
            Role::Write => "audit:write",
            Role::Read => "audit:read",
            Role::Export => "audit:export",
            Role::Admin => "audit:admin",
        }
    }

    fn from_scope(scope: &str) -> Option<Self> {
        [Role::Write, Role::Read, Role::Export, Role::Admin]
            .into_iter()
            .find(|r| r.scope() == scope)
    }
}

/// An authenticated caller.
#[derive(Debug, Clone)]
pub struct Principal {
    /// The caller's tenant.
    pub tenant: String,
    /// The caller's roles.
    pub roles: HashSet<Role>,
}

impl Principal {
    /// Fails with 403 unless the caller has `role`.
    pub fn require(&self, role: Role) -> Result<(), ApiError> {
        if self.roles.contains(&role) {
            Ok(())
        } else {
            Err(ApiError::forbidden(format!(
                "this endpoint needs the {} scope",
                role.scope()
            )))
        }
    }
}

/// The claims Trailkeep reads from (and writes into) a token.
#[derive(Debug, Serialize, Deserialize)]
pub struct Claims {
    /// The tenant.
    pub tenant: String,
    /// Space-separated scopes, such as `audit:read audit:write`.
    #[serde(default)]
    pub scope: String,
    /// Subject: who the token was issued to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
    /// Expiry, seconds since the epoch.
    pub exp: u64,
    /// Issued at, seconds since the epoch.
    #[serde(default)]
    pub iat: u64,
}

/// Verifies bearer tokens.
pub struct JwtAuth {
    key: DecodingKey,
    validation: Validation,
}

impl std::fmt::Debug for JwtAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("JwtAuth { .. }")
    }
}

impl JwtAuth {
    /// Verifier for HS256 tokens signed with `secret` (at least 32 bytes).
    pub fn hs256(secret: &[u8]) -> Result<Self, String> {
        if secret.len() < MIN_SECRET_BYTES {
            return Err(format!(
                "the JWT secret must be at least {MIN_SECRET_BYTES} bytes"
            ));
        }
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 30;
        validation.set_required_spec_claims(&["exp"]);
        Ok(Self {
            key: DecodingKey::from_secret(secret),
            validation,
        })
    }

    /// The principal a token stands for.
    pub fn principal(&self, token: &str) -> Result<Principal, ApiError> {
        let data = jsonwebtoken::decode::<Claims>(token, &self.key, &self.validation)
            .map_err(|e| ApiError::unauthorized(format!("the bearer token is not valid: {e}")))?;
        let claims = data.claims;
        validate_tenant(&claims.tenant)
            .map_err(|e| ApiError::unauthorized(format!("the token's tenant claim {e}")))?;
        Ok(Principal {
            tenant: claims.tenant,
            roles: claims
                .scope
                .split_whitespace()
                .filter_map(Role::from_scope)
                .collect(),
        })
    }
}

/// Mints an HS256 token for `tenant` with `scope`, valid for `ttl_seconds` (development and
/// tests; production tokens come from the identity provider or `POST /v1/auth/token`).
pub fn mint_token(
    secret: &[u8],
    tenant: &str,
    scope: &str,
    ttl_seconds: u64,
) -> Result<String, String> {
    validate_tenant(tenant).map_err(|e| format!("tenant {e}"))?;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let claims = Claims {
        tenant: tenant.to_owned(),
        scope: scope.to_owned(),
        sub: None,
        exp: now + ttl_seconds,
        iat: now,
    };
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(secret),
    )
    .map_err(|e| format!("sign token: {e}"))
}

impl FromRequestParts<AppState> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let header = parts.headers.get(AUTHORIZATION).ok_or_else(|| {
            ApiError::unauthorized("send an Authorization: Bearer <token> header")
        })?;
        let token = header
            .to_str()
            .ok()
            .and_then(|h| {
                let (scheme, token) = h.split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
            })
            .ok_or_else(|| {
                ApiError::unauthorized("the Authorization header must be: Bearer <token>")
            })?;
        state.auth.principal(token)
    }
}
