//! Wire shapes of `/v1/api-keys` and `POST /v1/auth/token`.

use serde::{Deserialize, Serialize};

/// `POST /v1/api-keys` body.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateApiKey {
    /// A label (1 to 100 characters).
    pub name: String,
    /// The roles the key grants: `audit:write`, `audit:read`, `audit:export`, `audit:admin`.
    pub roles: Vec<String>,
    /// When the key stops working (RFC 3339); omit for never.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
}

/// An API key as listed: everything but the secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
#[derive(Debug, Clone, Serialize, Deserialize)]
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
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ApiKeyList {
    /// The tenant's keys, oldest first.
    pub data: Vec<ApiKeyInfo>,
}

/// `POST /v1/auth/token` body (JSON or form-encoded), as OAuth 2.0 client credentials.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenRequest {
    /// `client_credentials` (the only grant), or omitted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grant_type: Option<String>,
    /// The API key id.
    pub client_id: String,
    /// The API key secret.
    pub client_secret: String,
    /// Space-separated roles to narrow the token to; omitted means all of the key's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
}

/// `POST /v1/auth/token` answer.
#[derive(Debug, Clone, Serialize, Deserialize)]
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
