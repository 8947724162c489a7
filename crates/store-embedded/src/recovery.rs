//! Start-up: rebuild each tenant's in-memory tree from SQLite, repairing what is missing, and
//! refuse a ledger that was cut or altered.
//!
//! The stored block roots (`ledger_nodes`) are derivable from the leaf hashes, so any that are
//! missing (a file restored from an older copy, a hand edit) are recomputed from the leaves and
//! written back. Nothing unsigned is trusted beyond that:
//!
//! - The tenant's tree must reach its mark in the high-water file (`high_water.rs`), and its
//!   root at that size must be the one recorded there: a tail cut off, or a tenant removed,
//!   with every remaining checkpoint still validly signed, is refused.
//! - The newest stored checkpoint's note must carry a good signature of this data directory's
//!   key, name the tenant in its origin, and hold the root of the stored tree (never the
//!   `checkpoints.root` column, which anyone who can write the database can change). The stored
//!   tree is the stored roots of complete blocks plus the leaf hashes after them: rehashing
//!   every event is `trailkeep verify`'s job, too slow for every start.
//!
//! Either failure stops the store (run `trailkeep verify` to find where). A tenant whose newest
//! events have no checkpoint yet (the process stopped inside the one-second signing interval)
//! gets one now: those events are above every mark, so no earlier signature vouches for them.

use std::collections::HashMap;
use std::sync::Arc;

use rusqlite::{Connection, OptionalExtension, params};
use trailkeep_event::Timestamp;
use trailkeep_ledger::{Checkpoint, NoteSigner, perfect_root};
use trailkeep_store::{SignedCheckpoint, StoreError};

use crate::high_water::HighWaterMark;
use crate::schema::hash_from_blob;
use crate::state::{Registry, TenantState};
use crate::tree::{BLOCK_LEAVES, ReaderSource, UpperLevels, internal, read_leaf_hashes};
use crate::writer::{WriterTenant, insert_checkpoint, sign_checkpoint};

/// How an operator accepts a ledger that is shorter than its mark.
fn accept_hint(name: &str) -> String {
    format!(
        "if an older backup was restored on purpose, accept it with \
         `trailkeep accept-rollback --data-dir <dir> --tenant {name}` (the server stopped); \
          otherwise run `trailkeep verify` and investigate"
    )
}

/// What start-up hands on: every tenant's writer state, and its high-water mark now.
pub struct Recovered {
    /// The writer's view of each tenant.
    pub tenants: HashMap<String, WriterTenant>,
    /// Each tenant's newest checkpoint, as its mark.
    pub marks: HashMap<String, HighWaterMark>,
}

/// Loads every tenant, checking each against its mark in `marks`, repairing block roots and
/// signing missing checkpoints.
pub fn recover(
    conn: &mut Connection,
    signer: &NoteSigner,
    registry: &Registry,
    marks: &HashMap<String, HighWaterMark>,
) -> Result<Recovered, StoreError> {
    let tenants: Vec<(i64, String)> = conn
        .prepare("SELECT id, name FROM tenants ORDER BY id")
        .and_then(|mut s| {
            s.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<Result<_, _>>()
        })
        .map_err(internal)?;
    if let Some(lost) = marks
        .keys()
        .find(|name| !tenants.iter().any(|(_, t)| t == *name))
    {
        return Err(StoreError::Corrupt(format!(
            "tenant {lost}: checkpoints of {} events were signed, but the database has no such \
             tenant; {}",
            marks[lost].size,
            accept_hint(lost)
        )));
    }
    let mut out = HashMap::new();
    let mut now = HashMap::new();
    for (id, name) in tenants {
        let tenant = recover_tenant(conn, signer, id, &name, marks.get(&name))?;
        registry.insert(name.clone(), tenant.state.clone());
        if let Some(checkpoint) = tenant.state.newest_checkpoint() {
            now.insert(
                name.clone(),
                HighWaterMark {
                    size: checkpoint.size,
                    root: checkpoint.root,
                },
            );
        }
        out.insert(name, tenant);
    }
    Ok(Recovered {
        tenants: out,
        marks: now,
    })
}

/// The names of every tenant the database holds.
pub fn tenant_names(conn: &Connection) -> Result<Vec<String>, StoreError> {
    conn.prepare("SELECT name FROM tenants ORDER BY id")
        .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect())
        .map_err(internal)
}

/// The size and note of the newest checkpoint stored for the tenant named `name`.
pub fn newest_checkpoint(
    conn: &Connection,
    name: &str,
) -> Result<Option<(u64, String)>, StoreError> {
    let id: Option<i64> = conn
        .query_row("SELECT id FROM tenants WHERE name = ?1", [name], |r| {
            r.get(0)
        })
        .optional()
        .map_err(internal)?;
    let Some(id) = id else {
        return Ok(None);
    };
    newest_row(conn, id).map(|row| row.map(|(size, _, note)| (size, note)))
}

/// The newest checkpoint row of tenant `id`: size, root column, note.
fn newest_row(conn: &Connection, id: i64) -> Result<Option<(u64, Vec<u8>, String)>, StoreError> {
    conn.query_row(
        "SELECT size, root, note FROM checkpoints WHERE tenant_id = ?1
         ORDER BY size DESC LIMIT 1",
        [id],
        |r| Ok((r.get::<_, i64>(0)? as u64, r.get(1)?, r.get(2)?)),
    )
    .optional()
    .map_err(internal)
}

fn recover_tenant(
    conn: &mut Connection,
    signer: &NoteSigner,
    id: i64,
    name: &str,
    mark: Option<&HighWaterMark>,
) -> Result<WriterTenant, StoreError> {
    let size = crate::rows::tenant_size(conn, id)?;
    let blocks = size / BLOCK_LEAVES;

    let upper = load_block_roots(conn, id, blocks)?;
    let block = read_leaf_hashes(conn, id, blocks * BLOCK_LEAVES, size % BLOCK_LEAVES)?;
    let root_at = |conn: &Connection, at: u64| {
        let mut source = ReaderSource {
            conn,
            tenant_id: id,
            upper: &upper,
        };
        trailkeep_ledger::root(&mut source, at)
    };

    if let Some(mark) = mark {
        if size < mark.size {
            return Err(StoreError::Corrupt(format!(
                "tenant {name}: the ledger holds {size} events, but a checkpoint of {} was \
                 signed before (the high-water file); events were removed. {}",
                mark.size,
                accept_hint(name)
            )));
        }
        if root_at(conn, mark.size)? != mark.root {
            return Err(StoreError::Corrupt(format!(
                "tenant {name}: the first {} events are not the ones a checkpoint signed \
                 before (the high-water file); {}",
                mark.size,
                accept_hint(name)
            )));
        }
    }

    let mut checkpoint = None;
    if let Some((cp_size, _, note)) = newest_row(conn, id)? {
        if cp_size > size {
            return Err(StoreError::Corrupt(format!(
                "tenant {name}: a checkpoint covers {cp_size} events but only {size} are stored"
            )));
        }
        let opened = Checkpoint::open(&note, &signer.verifier()).map_err(|e| {
            StoreError::Corrupt(format!(
                "tenant {name}: the newest checkpoint (size {cp_size}) is not signed by this \
                 data directory's key: {e}"
            ))
        })?;
        let origin = format!("{}/{name}", signer.name());
        if opened.origin != origin || opened.size != cp_size {
            return Err(StoreError::Corrupt(format!(
                "tenant {name}: the newest checkpoint's note is for {:?} at size {}, not \
                 {origin:?} at size {cp_size}",
                opened.origin, opened.size
            )));
        }
        if root_at(conn, cp_size)? != opened.root {
            return Err(StoreError::Corrupt(format!(
                "tenant {name}: the stored leaves do not match the checkpoint at size {cp_size}; \
                 run `trailkeep verify` to find the first altered event"
            )));
        }
        checkpoint = Some(SignedCheckpoint {
            size: cp_size,
            root: opened.root,
            note,
        });
    }

    let signed_size = checkpoint.as_ref().map_or(0, |c| c.size);
    let mut tenant = WriterTenant {
        state: Arc::new(TenantState::new(id, size, upper, checkpoint)),
        size,
        block,
        signed_size,
        signed_at: None,
    };
    if size > signed_size {
        let checkpoint = sign_checkpoint(signer, name, &tenant)?;
        insert_checkpoint(conn, id, &checkpoint, Timestamp::now())?;
        tenant.signed_size = size;
        *tenant
            .state
            .checkpoint
            .write()
            .unwrap_or_else(|p| p.into_inner()) = Some(checkpoint);
    }
    Ok(tenant)
}

/// Loads the stored roots of complete blocks, recomputing and storing any that are missing or
/// malformed, and dropping any beyond the stored leaves.
fn load_block_roots(conn: &Connection, id: i64, blocks: u64) -> Result<UpperLevels, StoreError> {
    let stored: Vec<(i64, Vec<u8>)> = conn
        .prepare_cached("SELECT idx, hash FROM ledger_nodes WHERE tenant_id = ?1 ORDER BY idx")
        .and_then(|mut s| {
            s.query_map([id], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<Result<_, _>>()
        })
        .map_err(internal)?;
    let mut stored: HashMap<u64, Vec<u8>> =
        stored.into_iter().map(|(i, h)| (i as u64, h)).collect();
    let mut upper = UpperLevels::default();
    let mut repaired = 0;
    for idx in 0..blocks {
        let hash = match stored.remove(&idx).map(hash_from_blob) {
            Some(Ok(hash)) => hash,
            _ => {
                let leaves = read_leaf_hashes(conn, id, idx * BLOCK_LEAVES, BLOCK_LEAVES)?;
                let hash = perfect_root(&leaves);
                conn.execute(
                    "INSERT OR REPLACE INTO ledger_nodes (tenant_id, idx, hash) VALUES (?1, ?2, ?3)",
                    params![id, idx as i64, &hash[..]],
                )
                .map_err(internal)?;
                repaired += 1;
                hash
            }
        };
        upper.push_block(hash);
    }
    if repaired > 0 {
        tracing::warn!(
            tenant_id = id,
            repaired,
            "recomputed missing ledger block roots from the leaves"
        );
    }
    if !stored.is_empty() {
        conn.execute(
            "DELETE FROM ledger_nodes WHERE tenant_id = ?1 AND idx >= ?2",
            params![id, blocks as i64],
        )
        .map_err(internal)?;
    }
    Ok(upper)
}
