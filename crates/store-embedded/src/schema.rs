//! The SQLite schema, connection settings and format version of a data directory.
//!
//! Events live in one rowid table whose integer key is `tenant_id << 40 | seq`: the table's own
//! B-tree is then the (tenant, seq) index, ordered the way the ledger reads it, and the only
//! secondary index is the unique (tenant_id, id) one that idempotent writes need. Every other
//! access path is the query index's job (DESIGN section 8: each SQLite index costs ingest rate).

use std::path::Path;

use rusqlite::{Connection, OpenFlags};

/// The on-disk format this build writes and reads (`PRAGMA user_version`). Version 1 (tenant
/// ids that SQLite could hand out again) is upgraded in place.
pub const FORMAT_VERSION: i64 = 2;

/// Bits of the event key that hold the seq; the tenant id sits above them.
pub const SEQ_BITS: u32 = 40;
/// The largest seq a tenant can reach (2^40 - 1).
pub const MAX_SEQ: u64 = (1 << SEQ_BITS) - 1;

/// The event key of `seq` in tenant `tenant_id`.
pub fn event_key(tenant_id: i64, seq: u64) -> i64 {
    (tenant_id << SEQ_BITS) | seq as i64
}

/// The seq stored in an event key.
pub fn key_seq(key: i64) -> u64 {
    (key as u64) & MAX_SEQ
}

/// The first and last possible event keys of a tenant.
pub fn tenant_key_range(tenant_id: i64) -> (i64, i64) {
    (event_key(tenant_id, 0), event_key(tenant_id, MAX_SEQ))
}

const SCHEMA: &str = "
-- AUTOINCREMENT: an id is never handed out twice, even after its tenant's rows are gone, so
-- nothing derived and keyed by id (the query index) can be taken for another tenant's.
CREATE TABLE tenants (
    id   INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE
);
CREATE TABLE events (
    key         INTEGER PRIMARY KEY,   -- tenant_id << 40 | seq
    tenant_id   INTEGER NOT NULL,
    id          TEXT NOT NULL,
    occurred_us INTEGER NOT NULL,
    leaf_hash   BLOB NOT NULL,
    body        BLOB NOT NULL          -- RFC 8785 canonical bytes
);
CREATE UNIQUE INDEX events_tenant_id ON events (tenant_id, id);
-- Roots of each complete, aligned block of 256 leaves (level 8 of the tree). Derivable from the
-- leaf hashes; repaired from them at start-up when missing.
CREATE TABLE ledger_nodes (
    tenant_id INTEGER NOT NULL,
    idx       INTEGER NOT NULL,
    hash      BLOB NOT NULL,
    PRIMARY KEY (tenant_id, idx)
) WITHOUT ROWID;
CREATE TABLE checkpoints (
    tenant_id  INTEGER NOT NULL,
    size       INTEGER NOT NULL,
    root       BLOB NOT NULL,
    note       TEXT NOT NULL,
    created_us INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, size)
) WITHOUT ROWID;
CREATE TABLE idempotency_keys (
    tenant_id    INTEGER NOT NULL,
    key          TEXT NOT NULL,
    request_hash BLOB NOT NULL,
    seqs         BLOB NOT NULL,        -- the answer's seqs, u64 little-endian each
    created_us   INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, key)
) WITHOUT ROWID;
";

/// Opens the database file with the settings every connection uses: WAL, full fsync on commit
/// (an acknowledged event survives power loss, not only a process crash), a busy timeout.
pub fn open(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    // Before WAL: a new database takes the mode only while its file is still empty (and asking
    // on an existing one would want a write lock for nothing).
    let pages: i64 = conn.pragma_query_value(None, "page_count", |r| r.get(0))?;
    if pages == 0 {
        conn.pragma_update(None, "auto_vacuum", INCREMENTAL)?;
    }
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    conn.set_prepared_statement_cache_capacity(64);
    Ok(conn)
}

/// Opens the database file for reading only, as `trailkeep verify` does.
pub fn open_read_only(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    Ok(conn)
}

/// Version 1 to 2: the tenants table with AUTOINCREMENT, the ids kept.
const UPGRADE_1_TO_2: &str = "
CREATE TABLE tenants_v2 (
    id   INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE
);
INSERT INTO tenants_v2 (id, name) SELECT id, name FROM tenants ORDER BY id;
DROP TABLE tenants;
ALTER TABLE tenants_v2 RENAME TO tenants;
";

/// Creates the schema in a new database, or checks and upgrades an existing one; either way
/// adds the tables that came later without changing the format (`api_keys`, `jobs`,
/// `documents`, `reindex`), and makes the database one whose free pages can be given back in
/// steps ([`incremental_vacuum`]).
pub fn migrate(conn: &mut Connection) -> Result<(), String> {
    incremental_vacuum(conn)?;
    check_version(conn)?;
    conn.execute_batch(crate::credentials::SCHEMA)
        .and_then(|()| conn.execute_batch(crate::jobs::SCHEMA))
        .and_then(|()| conn.execute_batch(crate::documents::SCHEMA))
        .and_then(|()| conn.execute_batch(crate::redaction::SCHEMA))
        .map_err(|e| e.to_string())
}

/// `PRAGMA auto_vacuum` of a database whose free pages can be given back a few at a time.
pub const INCREMENTAL: i64 = 2;

/// `auto_vacuum = INCREMENTAL`: pages freed by removed bodies (retention, erasure) can then be
/// given back to the file system a few at a time (`PRAGMA incremental_vacuum`) instead of by a
/// `VACUUM` that rewrites the whole file. A new database is made so by [`open`]; one made by an
/// earlier build is rewritten once, here.
fn incremental_vacuum(conn: &mut Connection) -> Result<(), String> {
    let mode: i64 = conn
        .pragma_query_value(None, "auto_vacuum", |row| row.get(0))
        .map_err(|e| e.to_string())?;
    if mode == INCREMENTAL {
        return Ok(());
    }
    tracing::info!("rewriting the database once so that removed events' space can be given back");
    conn.pragma_update(None, "auto_vacuum", INCREMENTAL)
        .and_then(|()| conn.execute_batch("VACUUM"))
        .map_err(|e| e.to_string())
}

fn check_version(conn: &mut Connection) -> Result<(), String> {
    let version: i64 = conn
        .pragma_query_value(None, "user_version", |row| row.get(0))
        .map_err(|e| e.to_string())?;
    let script = match version {
        0 => SCHEMA,
        1 => UPGRADE_1_TO_2,
        FORMAT_VERSION => return Ok(()),
        other => {
            return Err(format!(
                "the data directory has format version {other}; this build reads version {FORMAT_VERSION}"
            ));
        }
    };
    let tx = conn.transaction().map_err(|e| e.to_string())?;
    tx.execute_batch(script).map_err(|e| e.to_string())?;
    tx.pragma_update(None, "user_version", FORMAT_VERSION)
        .map_err(|e| e.to_string())?;
    tx.commit().map_err(|e| e.to_string())
}

/// Reads a 32-byte hash column, or explains why it is not one.
pub fn hash_from_blob(blob: Vec<u8>) -> Result<trailkeep_ledger::Hash, String> {
    blob.try_into()
        .map_err(|b: Vec<u8>| format!("a stored hash has {} bytes instead of 32", b.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_and_old_databases_give_free_pages_back_in_steps() {
        let dir = tempfile::tempdir().unwrap();
        let mut new = open(&dir.path().join("new.db")).unwrap();
        migrate(&mut new).unwrap();
        let mode = |conn: &Connection| -> i64 {
            conn.pragma_query_value(None, "auto_vacuum", |r| r.get(0))
                .unwrap()
        };
        assert_eq!(mode(&new), INCREMENTAL);
        // A database made without the mode, as earlier builds made them, is converted once.
        let path = dir.path().join("old.db");
        let old = Connection::open(&path).unwrap();
        old.pragma_update(None, "journal_mode", "WAL").unwrap();
        old.execute_batch(SCHEMA).unwrap();
        old.pragma_update(None, "user_version", FORMAT_VERSION)
            .unwrap();
        assert_eq!(mode(&old), 0);
        drop(old);
        let mut old = open(&path).unwrap();
        migrate(&mut old).unwrap();
        assert_eq!(mode(&old), INCREMENTAL);
    }

    #[test]
    fn keys_keep_tenants_apart_and_seqs_in_order() {
        assert_eq!(key_seq(event_key(3, 41)), 41);
        assert!(event_key(1, MAX_SEQ) < event_key(2, 0));
        let (lo, hi) = tenant_key_range(7);
        assert!(lo <= event_key(7, 0) && event_key(7, 12345) <= hi);
    }
}
