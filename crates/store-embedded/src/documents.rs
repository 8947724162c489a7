//! The `documents` table: [`DocumentStore`] for the embedded engine.
//!
//! Sets of writes with audit events ride in the writer's groups with their events, in one
//! transaction, as key and job changes do; sets without go to the writer between groups in a
//! transaction of their own, so they never wait for a tenant's appends. Reads use the read
//! pool.

use std::ops::Bound;

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, Row, params};
use trailkeep_event::PreparedEvent;
use trailkeep_store::documents::{
    Document, DocumentConflict, DocumentRange, DocumentStore, DocumentWrite, DocumentsWritten,
    Expect, MAX_DOCUMENTS_LISTED, check_writes,
};
use trailkeep_store::{AppendRequest, StoreError};

use crate::EmbeddedStore;
use crate::writer::Job;

/// The table, created on open when missing.
pub const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS documents (
    tenant     TEXT NOT NULL,
    kind       TEXT NOT NULL,
    id         TEXT NOT NULL,
    version    INTEGER NOT NULL,
    body       TEXT NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (tenant, kind, id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS documents_by_kind ON documents (kind, tenant);
";

fn internal(e: impl std::fmt::Display) -> StoreError {
    StoreError::Internal(e.to_string())
}

fn document(row: &Row<'_>) -> rusqlite::Result<Document> {
    Ok(Document {
        kind: row.get(0)?,
        id: row.get(1)?,
        version: row.get::<_, i64>(2)? as u64,
        body: row.get(3)?,
        updated_at: row.get(4)?,
    })
}

/// The version of the tenant's document `kind`/`id`, when it exists.
fn version(
    conn: &Connection,
    tenant: &str,
    kind: &str,
    id: &str,
) -> Result<Option<u64>, StoreError> {
    conn.prepare_cached("SELECT version FROM documents WHERE tenant = ?1 AND kind = ?2 AND id = ?3")
        .and_then(|mut stmt| {
            stmt.query_row(params![tenant, kind, id], |r| r.get::<_, i64>(0))
                .optional()
        })
        .map(|v| v.map(|v| v as u64))
        .map_err(internal)
}

/// Whether a document at `found` meets `expect`.
fn meets(expect: Expect, found: Option<u64>) -> bool {
    match expect {
        Expect::Absent => found.is_none(),
        Expect::Version(v) => found == Some(v),
        Expect::Anything => true,
    }
}

/// Makes `writes` for `tenant` inside a transaction the caller commits: first every
/// expectation is checked, then every write made. A conflict writes nothing.
pub fn apply(
    conn: &Connection,
    tenant: &str,
    writes: &[DocumentWrite],
    now: i64,
) -> Result<DocumentsWritten, StoreError> {
    for write in writes {
        let (kind, id, expect) = match write {
            DocumentWrite::Put {
                kind, id, expect, ..
            }
            | DocumentWrite::Delete { kind, id, expect } => (kind, id, *expect),
            DocumentWrite::DeleteRange { .. } => continue,
        };
        if expect != Expect::Anything && !meets(expect, version(conn, tenant, kind, id)?) {
            return Ok(Err(DocumentConflict {
                kind: kind.clone(),
                id: id.clone(),
            }));
        }
    }
    for write in writes {
        match write {
            DocumentWrite::Put { kind, id, body, .. } => conn
                .prepare_cached(
                    "INSERT INTO documents (tenant, kind, id, version, body, updated_at) \
                     VALUES (?1, ?2, ?3, 1, ?4, ?5) \
                     ON CONFLICT (tenant, kind, id) DO UPDATE SET \
                     version = version + 1, body = excluded.body, updated_at = excluded.updated_at",
                )
                .and_then(|mut stmt| stmt.execute(params![tenant, kind, id, body, now])),
            DocumentWrite::Delete { kind, id, .. } => conn
                .prepare_cached("DELETE FROM documents WHERE tenant = ?1 AND kind = ?2 AND id = ?3")
                .and_then(|mut stmt| stmt.execute(params![tenant, kind, id])),
            DocumentWrite::DeleteRange { kind, from, to } => conn
                .prepare_cached(
                    "DELETE FROM documents WHERE tenant = ?1 AND kind = ?2 AND id >= ?3 AND id < ?4",
                )
                .and_then(|mut stmt| stmt.execute(params![tenant, kind, from, to])),
        }
        .map_err(internal)?;
    }
    Ok(Ok(()))
}

/// Makes `writes` in a transaction of their own on `conn`.
fn write_set(
    conn: &mut Connection,
    tenant: &str,
    writes: &[DocumentWrite],
    now: i64,
) -> Result<DocumentsWritten, StoreError> {
    let tx = conn.transaction().map_err(internal)?;
    let written = apply(&tx, tenant, writes, now)?;
    if written.is_ok() {
        tx.commit().map_err(internal)?;
    }
    Ok(written)
}

/// Every document of the tenant, by kind and id (for a move between stores).
pub fn of_tenant(conn: &Connection, tenant: &str) -> Result<Vec<Document>, StoreError> {
    conn.prepare_cached(
        "SELECT kind, id, version, body, updated_at FROM documents WHERE tenant = ?1 \
         ORDER BY kind, id",
    )
    .and_then(|mut stmt| stmt.query_map([tenant], document)?.collect())
    .map_err(internal)
}

/// Stores `document` of `tenant` as it is (a move between stores).
pub fn insert(conn: &Connection, tenant: &str, document: &Document) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO documents (tenant, kind, id, version, body, updated_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )
    .and_then(|mut stmt| {
        stmt.execute(params![
            tenant,
            document.kind,
            document.id,
            document.version as i64,
            document.body,
            document.updated_at
        ])
    })
    .map_err(internal)?;
    Ok(())
}

/// The `WHERE` condition and order of a range over `id`, with its bounds as parameters from
/// `?3` on.
fn range_sql(range: &DocumentRange) -> (String, Vec<String>) {
    let mut sql = String::new();
    let mut values = Vec::new();
    let mut bound = |bound: &Bound<String>, included: &str, excluded: &str| match bound {
        Bound::Included(v) | Bound::Excluded(v) => {
            values.push(v.clone());
            let op = if matches!(bound, Bound::Included(_)) {
                included
            } else {
                excluded
            };
            sql.push_str(&format!(" AND id {op} ?{}", values.len() + 2));
        }
        Bound::Unbounded => {}
    };
    bound(&range.start, ">=", ">");
    bound(&range.end, "<=", "<");
    let order = if range.reverse { "DESC" } else { "ASC" };
    (format!("{sql} ORDER BY id {order}"), values)
}

#[async_trait]
impl DocumentStore for EmbeddedStore {
    async fn write_documents(
        &self,
        tenant: &str,
        writes: Vec<DocumentWrite>,
        audit: Vec<PreparedEvent>,
        now: i64,
    ) -> Result<DocumentsWritten, StoreError> {
        check_writes(tenant, &writes, &audit)?;
        if audit.is_empty() {
            let tenant = tenant.to_owned();
            return self
                .on_writer(move |conn| {
                    // Without events, a set is committed without its own fsync: the next
                    // append's fsync makes it durable with the WAL frames before it. A crash
                    // of the process loses nothing; only an OS crash or power cut before the
                    // next append can, and what these sets hold (cursors, leases, state written
                    // with its cursor) is then read as it was before them.
                    conn.pragma_update(None, "synchronous", "NORMAL")
                        .map_err(internal)?;
                    let written = write_set(conn, &tenant, &writes, now);
                    conn.pragma_update(None, "synchronous", "FULL")
                        .map_err(internal)?;
                    written
                })
                .await;
        }
        let name = tenant.to_owned();
        self.through_writer(tenant, |ticket, reply| Job::ChangeDocuments {
            tenant: name,
            writes,
            now,
            audit: AppendRequest {
                events: audit,
                idempotency_key: None,
            },
            reply,
            ticket,
        })
        .await
    }

    async fn document(
        &self,
        tenant: &str,
        kind: &str,
        id: &str,
    ) -> Result<Option<Document>, StoreError> {
        let (tenant, kind, id) = (tenant.to_owned(), kind.to_owned(), id.to_owned());
        self.readers
            .run(move |conn| {
                conn.prepare_cached(
                    "SELECT kind, id, version, body, updated_at FROM documents \
                     WHERE tenant = ?1 AND kind = ?2 AND id = ?3",
                )
                .and_then(|mut stmt| {
                    stmt.query_row(params![tenant, kind, id], document)
                        .optional()
                })
                .map_err(internal)
            })
            .await
    }

    async fn documents(
        &self,
        tenant: &str,
        kind: &str,
        range: DocumentRange,
        limit: usize,
    ) -> Result<Vec<Document>, StoreError> {
        let (tenant, kind) = (tenant.to_owned(), kind.to_owned());
        let limit = limit.min(MAX_DOCUMENTS_LISTED) as i64;
        self.readers
            .run(move |conn| {
                let (condition, bounds) = range_sql(&range);
                let mut stmt = conn
                    .prepare_cached(&format!(
                        "SELECT kind, id, version, body, updated_at FROM documents \
                         WHERE tenant = ?1 AND kind = ?2{condition} LIMIT {limit}"
                    ))
                    .map_err(internal)?;
                let mut values: Vec<&dyn rusqlite::ToSql> = vec![&tenant, &kind];
                values.extend(bounds.iter().map(|b| b as &dyn rusqlite::ToSql));
                stmt.query_map(values.as_slice(), document)
                    .map_err(internal)?
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(internal)
            })
            .await
    }

    async fn document_tenants(&self, kind: &str) -> Result<Vec<String>, StoreError> {
        let kind = kind.to_owned();
        self.readers
            .run(move |conn| {
                conn.prepare_cached(
                    "SELECT DISTINCT tenant FROM documents WHERE kind = ?1 ORDER BY tenant",
                )
                .and_then(|mut stmt| {
                    stmt.query_map([kind], |r| r.get(0))?
                        .collect::<Result<Vec<String>, _>>()
                })
                .map_err(internal)
            })
            .await
    }
}
