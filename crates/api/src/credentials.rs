//! Wire shapes of `/v1/api-keys` and `POST /v1/auth/token`.

use serde::{Deserialize, Serialize};

/// `POST /v1/api-keys` body.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateApiKey {
    /// A label: 1 to 100 characters, not only spaces, no control characters.
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = "^[^\\x00-\\x1f\\x7f-\\x9f]*[^\\s\\x00-\\x1f\\x7f-\\x9f][^\\x00-\\x1f\\x7f-\\x9f]*$"
    )]
    pub name: String,
    /// The roles the key grants (at least one).
    #[schema(value_type = Vec<Scope>, min_items = 1)]
    pub roles: Vec<String>,
    /// When the key stops working (RFC 3339, in the future); omit for never.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(format = DateTime)]
    pub expires_at: Option<String>,
}

/// An API key as listed: everything but the secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ApiKeyInfo {
    /// The key id (also the client id of the token exchange).
    pub id: String,
    /// The tenant it acts for.
    pub tenant: String,
    /// Its label.
    pub name: String,
    /// The roles it grants.
    pub roles: Vec<String>,
    /// Who created it.
    pub created_by: String,
    /// When it was created (RFC 3339).
    pub created_at: String,
    /// When it stops working (RFC 3339), or null.
    pub expires_at: Option<String>,
    /// When it was revoked (RFC 3339), or null.
    pub revoked_at: Option<String>,
}

/// `POST /v1/api-keys` answer: the key's details and, this once, its secret.
#[derive(Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CreatedApiKey {
    /// The key, as stored.
    #[serde(flatten)]
    pub info: ApiKeyInfo,
    /// The whole key, for `X-API-Key` or `Authorization: Bearer`. Shown only now.
    pub key: String,
    /// The client id of the token exchange (the key id).
    pub client_id: String,
    /// The client secret of the token exchange. Shown only now.
    pub client_secret: String,
}

/// `GET /v1/api-keys` answer.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ApiKeyList {
    /// The tenant's keys, oldest first.
    pub data: Vec<ApiKeyInfo>,
}

/// `POST /v1/auth/token` body (JSON or form-encoded), as OAuth 2.0 client credentials.
#[derive(Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenRequest {
    /// `client_credentials` (the only grant), or omitted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<GrantType>)]
    pub grant_type: Option<String>,
    /// The API key id.
    #[schema(min_length = 1)]
    pub client_id: String,
    /// The API key secret.
    #[schema(min_length = 1)]
    pub client_secret: String,
    /// Space-separated roles to narrow the token to; omitted means all of the key's.
    #[schema(
        pattern = "^\\s*(audit:(write|read|export|admin))(\\s+audit:(write|read|export|admin))*\\s*$"
    )]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
}

/// `POST /v1/auth/token` answer.
#[derive(Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TokenResponse {
    /// The JWT.
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: String,
    /// Seconds until it expires.
    pub expires_in: u64,
    /// The roles it grants, space-separated.
    pub scope: String,
}

/// A role, as a scope string.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // Described, never built: roles travel as strings.
pub enum Scope {
    /// Ingest events.
    #[schema(rename = "audit:write")]
    Write,
    /// Query, statistics, proofs.
    #[schema(rename = "audit:read")]
    Read,
    /// Exports and reports.
    #[schema(rename = "audit:export")]
    Export,
    /// Keys, webhooks, rules, retention.
    #[schema(rename = "audit:admin")]
    Admin,
}

/// The grant of the token exchange.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // Described, never built.
pub enum GrantType {
    /// OAuth 2.0 client credentials.
    #[schema(rename = "client_credentials")]
    ClientCredentials,
}

/// `Debug` for types that carry a secret or a token: the public parts only.
macro_rules! redacted_debug {
    ($type:ty, $name:literal, |$this:ident| $shown:expr) => {
        impl std::fmt::Debug for $type {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                let $this = self;
                write!(f, "{} {{ {}, .. }}", $name, $shown)
            }
        }
    };
}

redacted_debug!(CreatedApiKey, "CreatedApiKey", |k| format!(
    "id: {:?}",
    k.info.id
));
redacted_debug!(TokenRequest, "TokenRequest", |r| format!(
    "client_id: {:?}",
    r.client_id
));
redacted_debug!(TokenResponse, "TokenResponse", |r| format!(
    "expires_in: {}",
    r.expires_in
));
