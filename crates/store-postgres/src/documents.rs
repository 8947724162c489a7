//! The `documents` table. A set of writes with audit events runs inside the tenant's append
//! transaction with them ([`crate::append`]); a set without runs in a transaction of its own on
//! any node, never waiting for the tenant's head lock. Either way each write is one conditional
//! statement (an insert that does nothing on a conflict, an update or delete at the expected
//! version), so two nodes writing one document at once never both succeed, and the set is made
//! inside a savepoint that a conflict rolls back.

use std::ops::Bound;

use tokio_postgres::types::ToSql;
use tokio_postgres::{GenericClient, Row, Transaction};
use trailkeep_store::StoreError;
use trailkeep_store::documents::{
    Document, DocumentConflict, DocumentRange, DocumentWrite, DocumentsWritten, Expect,
    MAX_DOCUMENTS_LISTED,
};

use crate::internal;

const COLUMNS: &str = "kind, id, version, body, updated_at";

fn document(row: &Row) -> Document {
    Document {
        kind: row.get(0),
        id: row.get(1),
        version: row.get::<_, i64>(2) as u64,
        body: row.get(3),
        updated_at: row.get(4),
    }
}

/// Makes `writes` for `tenant` inside `tx`, in a savepoint: all of them, or none and the
/// conflict.
pub async fn apply(
    tx: &mut Transaction<'_>,
    tenant: &str,
    writes: &[DocumentWrite],
    now: i64,
) -> Result<DocumentsWritten, StoreError> {
    let savepoint = tx.savepoint("documents").await.map_err(internal)?;
    for write in writes {
        if let Err(conflict) = write_one(&savepoint, tenant, write, now).await? {
            savepoint.rollback().await.map_err(internal)?;
            return Ok(Err(conflict));
        }
    }
    savepoint.commit().await.map_err(internal)?;
    Ok(Ok(()))
}

/// One write, as one statement whose row count says whether its expectation held.
async fn write_one(
    client: &impl GenericClient,
    tenant: &str,
    write: &DocumentWrite,
    now: i64,
) -> Result<DocumentsWritten, StoreError> {
    let (sql, params, wanted): (&str, Vec<&(dyn ToSql + Sync)>, Option<(&str, &str)>);
    let version;
    match write {
        DocumentWrite::Put {
            kind,
            id,
            expect,
            body,
        } => {
            params = match expect {
                Expect::Absent | Expect::Anything => vec![&tenant, kind, id, body, &now],
                Expect::Version(v) => {
                    version = *v as i64;
                    vec![&tenant, kind, id, body, &now, &version]
                }
            };
            sql = match expect {
                Expect::Absent => {
                    "INSERT INTO documents (tenant, kind, id, version, body, updated_at) \
                     VALUES ($1, $2, $3, 1, $4, $5) ON CONFLICT DO NOTHING"
                }
                Expect::Anything => {
                    "INSERT INTO documents (tenant, kind, id, version, body, updated_at) \
                     VALUES ($1, $2, $3, 1, $4, $5) ON CONFLICT (tenant, kind, id) DO UPDATE \
                     SET version = documents.version + 1, body = excluded.body, \
                     updated_at = excluded.updated_at"
                }
                Expect::Version(_) => {
                    "UPDATE documents SET version = version + 1, body = $4, updated_at = $5 \
                     WHERE tenant = $1 AND kind = $2 AND id = $3 AND version = $6"
                }
            };
            wanted = (*expect != Expect::Anything).then_some((kind.as_str(), id.as_str()));
        }
        DocumentWrite::Delete { kind, id, expect } => match expect {
            Expect::Version(v) => {
                version = *v as i64;
                sql = "DELETE FROM documents \
                           WHERE tenant = $1 AND kind = $2 AND id = $3 AND version = $4";
                params = vec![&tenant, kind, id, &version];
                wanted = Some((kind, id));
            }
            Expect::Absent => {
                sql = "SELECT 1 FROM documents \
                           WHERE tenant = $1 AND kind = $2 AND id = $3 HAVING count(*) = 0";
                params = vec![&tenant, kind, id];
                wanted = Some((kind, id));
            }
            Expect::Anything => {
                sql = "DELETE FROM documents WHERE tenant = $1 AND kind = $2 AND id = $3";
                params = vec![&tenant, kind, id];
                wanted = None;
            }
        },
        DocumentWrite::DeleteRange { kind, from, to } => {
            sql = "DELETE FROM documents \
                   WHERE tenant = $1 AND kind = $2 AND id >= $3 AND id < $4";
            params = vec![&tenant, kind, from, to];
            wanted = None;
        }
    }
    let rows = client.execute(sql, &params).await.map_err(internal)?;
    match wanted {
        Some((kind, id)) if rows != 1 => Ok(Err(DocumentConflict {
            kind: kind.to_owned(),
            id: id.to_owned(),
        })),
        _ => Ok(Ok(())),
    }
}

/// The tenant's document `kind`/`id`.
pub async fn one(
    client: &impl GenericClient,
    tenant: &str,
    kind: &str,
    id: &str,
) -> Result<Option<Document>, StoreError> {
    Ok(client
        .query_opt(
            &format!("SELECT {COLUMNS} FROM documents WHERE tenant = $1 AND kind = $2 AND id = $3"),
            &[&tenant, &kind, &id],
        )
        .await
        .map_err(internal)?
        .as_ref()
        .map(document))
}

/// The tenant's documents of `kind` in `range`, at most `limit`.
pub async fn listed(
    client: &impl GenericClient,
    tenant: &str,
    kind: &str,
    range: &DocumentRange,
    limit: usize,
) -> Result<Vec<Document>, StoreError> {
    let limit = limit.min(MAX_DOCUMENTS_LISTED) as i64;
    let mut sql = format!("SELECT {COLUMNS} FROM documents WHERE tenant = $1 AND kind = $2");
    let mut params: Vec<&(dyn ToSql + Sync)> = vec![&tenant, &kind, &limit];
    for (bound, included, excluded) in [(&range.start, ">=", ">"), (&range.end, "<=", "<")] {
        if let Bound::Included(value) | Bound::Excluded(value) = bound {
            let op = if matches!(bound, Bound::Included(_)) {
                included
            } else {
                excluded
            };
            params.push(value);
            sql.push_str(&format!(" AND id {op} ${}", params.len()));
        }
    }
    let order = if range.reverse { "DESC" } else { "ASC" };
    sql.push_str(&format!(" ORDER BY id {order} LIMIT $3"));
    Ok(client
        .query(&sql, &params)
        .await
        .map_err(internal)?
        .iter()
        .map(document)
        .collect())
}

/// The tenants with documents of `kind`, in name order.
pub async fn tenants_with(
    client: &impl GenericClient,
    kind: &str,
) -> Result<Vec<String>, StoreError> {
    Ok(client
        .query(
            "SELECT DISTINCT tenant FROM documents WHERE kind = $1 ORDER BY tenant",
            &[&kind],
        )
        .await
        .map_err(internal)?
        .iter()
        .map(|row| row.get(0))
        .collect())
}

/// Every document of the tenant (for a move between stores).
pub async fn of_tenant(
    client: &impl GenericClient,
    tenant: &str,
) -> Result<Vec<Document>, StoreError> {
    Ok(client
        .query(
            &format!("SELECT {COLUMNS} FROM documents WHERE tenant = $1 ORDER BY kind, id"),
            &[&tenant],
        )
        .await
        .map_err(internal)?
        .iter()
        .map(document)
        .collect())
}

/// Stores `document` of `tenant` as it is (a move between stores).
pub async fn insert(
    client: &impl GenericClient,
    tenant: &str,
    document: &Document,
) -> Result<(), StoreError> {
    client
        .execute(
            "INSERT INTO documents (tenant, kind, id, version, body, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
            &[
                &tenant,
                &document.kind,
                &document.id,
                &(document.version as i64),
                &document.body,
                &document.updated_at,
            ],
        )
        .await
        .map_err(internal)?;
    Ok(())
}
