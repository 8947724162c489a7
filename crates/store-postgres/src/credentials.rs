//! The `api_keys` table. Changes run inside a tenant's append transaction with the event that
//! records them ([`crate::append`]); lookups read on any pooled connection.

use tokio_postgres::{GenericClient, Row};
use trailkeep_store::{ApiKeyRecord, StoreError};

use crate::internal;

const COLUMNS: &str =
    "id, tenant, name, roles, secret_hash, created_by, created_at, expires_at, revoked_at";

fn record(row: &Row) -> Result<ApiKeyRecord, StoreError> {
    let secret: Vec<u8> = row.get(4);
    Ok(ApiKeyRecord {
        id: row.get(0),
        tenant: row.get(1),
        name: row.get(2),
        roles: row.get(3),
        secret_hash: secret
            .try_into()
            .map_err(|_| StoreError::Corrupt("a stored key hash is not 32 bytes".into()))?,
        created_by: row.get(5),
        created_at: row.get(6),
        expires_at: row.get(7),
        revoked_at: row.get(8),
    })
}

/// A change to a key that the tenant's trail records.
pub enum KeyChange {
    /// A new key.
    Insert(ApiKeyRecord),
    /// Revoke the tenant's key `id` at `at`.
    Revoke {
        /// The key.
        id: String,
        /// When (seconds since the epoch).
        at: i64,
    },
}

/// What a key change did: the key as it now is, and whether the audit event goes with it.
pub struct KeyApplied {
    /// The answer (`None`: the tenant has no such key).
    pub key: Option<ApiKeyRecord>,
    /// Whether anything changed (so the audit event is stored).
    pub audited: bool,
}

/// Makes `change` for `tenant` in the append transaction `tx`. An id in use by any tenant is
/// [`StoreError::DuplicateId`], decided before anything is written.
pub async fn apply(
    tx: &impl GenericClient,
    tenant: &str,
    change: KeyChange,
) -> Result<KeyApplied, StoreError> {
    match change {
        KeyChange::Insert(key) => {
            if key.tenant != tenant {
                return Err(StoreError::Internal(
                    "a key's audit event belongs in the key's own tenant".into(),
                ));
            }
            if by_id(tx, &key.id).await?.is_some() {
                return Err(StoreError::DuplicateId {
                    index: 0,
                    id: key.id,
                });
            }
            tx.execute(
                &format!(
                    "INSERT INTO api_keys ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
                ),
                &[
                    &key.id,
                    &key.tenant,
                    &key.name,
                    &key.roles,
                    &&key.secret_hash[..],
                    &key.created_by,
                    &key.created_at,
                    &key.expires_at,
                    &key.revoked_at,
                ],
            )
            .await
            .map_err(internal)?;
            Ok(KeyApplied {
                key: Some(key),
                audited: true,
            })
        }
        KeyChange::Revoke { id, at } => {
            let changed = tx
                .query_opt(
                    &format!(
                        "UPDATE api_keys SET revoked_at = $3 \
                         WHERE tenant = $1 AND id = $2 AND revoked_at IS NULL RETURNING {COLUMNS}"
                    ),
                    &[&tenant, &id, &at],
                )
                .await
                .map_err(internal)?;
            match changed {
                Some(row) => Ok(KeyApplied {
                    key: Some(record(&row)?),
                    audited: true,
                }),
                None => Ok(KeyApplied {
                    key: by_id(tx, &id).await?.filter(|k| k.tenant == tenant),
                    audited: false,
                }),
            }
        }
    }
}

/// Stores `key` as it is.
pub async fn insert(client: &impl GenericClient, key: &ApiKeyRecord) -> Result<(), StoreError> {
    client
        .execute(
            &format!(
                "INSERT INTO api_keys ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
            ),
            &[
                &key.id,
                &key.tenant,
                &key.name,
                &key.roles,
                &&key.secret_hash[..],
                &key.created_by,
                &key.created_at,
                &key.expires_at,
                &key.revoked_at,
            ],
        )
        .await
        .map_err(internal)?;
    Ok(())
}

/// The key with this id, of any tenant.
pub async fn by_id(
    client: &impl GenericClient,
    id: &str,
) -> Result<Option<ApiKeyRecord>, StoreError> {
    client
        .query_opt(
            &format!("SELECT {COLUMNS} FROM api_keys WHERE id = $1"),
            &[&id],
        )
        .await
        .map_err(internal)?
        .as_ref()
        .map(record)
        .transpose()
}

/// The tenant's keys, oldest first.
pub async fn of_tenant(
    client: &impl GenericClient,
    tenant: &str,
) -> Result<Vec<ApiKeyRecord>, StoreError> {
    client
        .query(
            &format!("SELECT {COLUMNS} FROM api_keys WHERE tenant = $1 ORDER BY created_at, id"),
            &[&tenant],
        )
        .await
        .map_err(internal)?
        .iter()
        .map(record)
        .collect()
}
