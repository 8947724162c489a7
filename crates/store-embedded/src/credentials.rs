//! The `api_keys` table: [`KeyStore`] for the embedded engine.
//!
//! Keys are few and change rarely, so they live in a plain table beside the events. A change is
//! written by the writer thread in the same transaction as the event that records it (so no
//! change stands unaudited), and lookups for authentication have connections of their own, so
//! that heavy reads never hold up a credential check.

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, Row, params};
use trailkeep_event::PreparedEvent;
use trailkeep_store::{ApiKeyRecord, KeyStore, StoreError};

use crate::EmbeddedStore;
use crate::schema::hash_from_blob;
use crate::writer::KeyChange;

/// The table, created on open when missing (it came after format version 1 was fixed, and
/// adding it changes nothing else).
pub const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS api_keys (
    id          TEXT PRIMARY KEY,
    tenant      TEXT NOT NULL,
    name        TEXT NOT NULL,
    roles       TEXT NOT NULL,          -- space-separated scopes
    secret_hash BLOB NOT NULL,          -- SHA-256 of the secret
    created_by  TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER,
    revoked_at  INTEGER
);
CREATE INDEX IF NOT EXISTS api_keys_tenant ON api_keys (tenant, created_at);
";

const COLUMNS: &str =
    "id, tenant, name, roles, secret_hash, created_by, created_at, expires_at, revoked_at";

fn internal(e: impl std::fmt::Display) -> StoreError {
    StoreError::Internal(e.to_string())
}

fn record(row: &Row<'_>) -> rusqlite::Result<(ApiKeyRecord, Vec<u8>)> {
    let roles: String = row.get(3)?;
    Ok((
        ApiKeyRecord {
            id: row.get(0)?,
            tenant: row.get(1)?,
            name: row.get(2)?,
            roles: roles.split_whitespace().map(str::to_owned).collect(),
            secret_hash: [0; 32],
            created_by: row.get(5)?,
            created_at: row.get(6)?,
            expires_at: row.get(7)?,
            revoked_at: row.get(8)?,
        },
        row.get(4)?,
    ))
}

fn with_hash((mut key, hash): (ApiKeyRecord, Vec<u8>)) -> Result<ApiKeyRecord, StoreError> {
    key.secret_hash = hash_from_blob(hash).map_err(StoreError::Corrupt)?;
    Ok(key)
}

/// The key with this id, of any tenant.
pub fn by_id(conn: &Connection, id: &str) -> Result<Option<ApiKeyRecord>, StoreError> {
    conn.prepare_cached(&format!("SELECT {COLUMNS} FROM api_keys WHERE id = ?1"))
        .and_then(|mut stmt| stmt.query_row([id], record).optional())
        .map_err(internal)?
        .map(with_hash)
        .transpose()
}

/// Stores a new key; `false` when its id exists already.
pub fn insert(conn: &Connection, key: &ApiKeyRecord) -> Result<bool, StoreError> {
    let inserted = conn
        .prepare_cached(&format!(
            "INSERT INTO api_keys ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) \
             ON CONFLICT (id) DO NOTHING"
        ))
        .and_then(|mut stmt| {
            stmt.execute(params![
                key.id,
                key.tenant,
                key.name,
                key.roles.join(" "),
                key.secret_hash.as_slice(),
                key.created_by,
                key.created_at,
                key.expires_at,
                key.revoked_at,
            ])
        })
        .map_err(internal)?;
    Ok(inserted == 1)
}

/// The tenant's keys, oldest first.
pub fn of_tenant(conn: &Connection, tenant: &str) -> Result<Vec<ApiKeyRecord>, StoreError> {
    let mut stmt = conn
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM api_keys WHERE tenant = ?1 ORDER BY created_at, id"
        ))
        .map_err(internal)?;
    let rows = stmt
        .query_map([tenant], record)
        .map_err(internal)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(internal)?;
    rows.into_iter().map(with_hash).collect()
}

/// Revokes the tenant's key `id` at `at`; `false` when it has no such key or it was revoked
/// before.
pub fn revoke(conn: &Connection, tenant: &str, id: &str, at: i64) -> Result<bool, StoreError> {
    let changed = conn
        .prepare_cached(
            "UPDATE api_keys SET revoked_at = ?3 \
             WHERE id = ?1 AND tenant = ?2 AND revoked_at IS NULL",
        )
        .and_then(|mut stmt| stmt.execute(params![id, tenant, at]))
        .map_err(internal)?;
    Ok(changed == 1)
}

#[async_trait]
impl KeyStore for EmbeddedStore {
    async fn insert_api_key(
        &self,
        key: ApiKeyRecord,
        audit: PreparedEvent,
    ) -> Result<(), StoreError> {
        let tenant = key.tenant.clone();
        self.change_key(tenant, KeyChange::Insert(key), audit)
            .await
            .map(|_| ())
    }

    async fn api_key(&self, id: &str) -> Result<Option<ApiKeyRecord>, StoreError> {
        // Its own connections: a credential check never waits behind listings and statistics.
        let id = id.to_owned();
        self.key_readers.run(move |conn| by_id(conn, &id)).await
    }

    async fn api_keys(&self, tenant: &str) -> Result<Vec<ApiKeyRecord>, StoreError> {
        let tenant = tenant.to_owned();
        self.readers.run(move |conn| of_tenant(conn, &tenant)).await
    }

    async fn revoke_api_key(
        &self,
        tenant: &str,
        id: &str,
        at: i64,
        audit: PreparedEvent,
    ) -> Result<Option<ApiKeyRecord>, StoreError> {
        let change = KeyChange::Revoke {
            id: id.to_owned(),
            at,
        };
        self.change_key(tenant.to_owned(), change, audit).await
    }
}
