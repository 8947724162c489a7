//! API keys as the store keeps them: the public id, the tenant, the roles, and only a hash of
//! the secret (DESIGN section 6). Making and checking secrets is the server's job; the store
//! only remembers.

use async_trait::async_trait;
use trailkeep_event::PreparedEvent;

use crate::StoreError;

/// One API key, as stored. The secret itself is never stored: only its SHA-256.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeyRecord {
    /// The public identifier, unique across tenants (it is also the client id of the
    /// client-credentials exchange).
    pub id: String,
    /// The one tenant the key acts for.
    pub tenant: String,
    /// A label chosen by whoever created the key.
    pub name: String,
    /// The scopes it grants, such as `audit:read`.
    pub roles: Vec<String>,
    /// SHA-256 of the secret.
    pub secret_hash: [u8; 32],
    /// Who created it (a key id, a token subject, or `cli`).
    pub created_by: String,
    /// Creation time, seconds since the Unix epoch.
    pub created_at: i64,
    /// When it stops working, seconds since the Unix epoch; `None` for never.
    pub expires_at: Option<i64>,
    /// When it was revoked, seconds since the Unix epoch; `None` while it is not.
    pub revoked_at: Option<i64>,
}

/// Where API keys live. Every call but [`api_key`](KeyStore::api_key) is scoped to one tenant,
/// so one tenant can neither list nor revoke another's keys.
///
/// A change to a key and the event that records it in the tenant's trail are one unit: both are
/// stored, or neither, so no key can exist or be revoked without its trail saying so.
#[async_trait]
pub trait KeyStore: Send + Sync + 'static {
    /// Stores a new key and, with it, `audit` in the key's tenant's trail; an id that exists
    /// already is [`StoreError::DuplicateId`] and stores neither.
    async fn insert_api_key(
        &self,
        key: ApiKeyRecord,
        audit: PreparedEvent,
    ) -> Result<(), StoreError>;

    /// The key with this id, of any tenant (authentication looks keys up before it knows the
    /// tenant).
    async fn api_key(&self, id: &str) -> Result<Option<ApiKeyRecord>, StoreError>;

    /// The tenant's keys, oldest first, revoked ones included.
    async fn api_keys(&self, tenant: &str) -> Result<Vec<ApiKeyRecord>, StoreError>;

    /// Revokes the tenant's key `id` at `at` (seconds since the epoch), appending `audit` to the
    /// tenant's trail with it, and returns the key as it now is. Revoking twice keeps the first
    /// time and appends nothing the second. `None` when the tenant has no such key.
    async fn revoke_api_key(
        &self,
        tenant: &str,
        id: &str,
        at: i64,
        audit: PreparedEvent,
    ) -> Result<Option<ApiKeyRecord>, StoreError>;
}
