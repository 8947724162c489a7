//! Start-up: rebuild each tenant's in-memory tree from SQLite, repairing what is missing.
//!
//! The stored block roots (`ledger_nodes`) are derivable from the leaf hashes, so any that are
//! missing (a file restored from an older copy, a hand edit) are recomputed from the leaves and
//! written back. The newest stored checkpoint must match the tree rebuilt from the stored leaf
//! hashes: if it does not, the data was altered, and the store refuses to extend it (run
//! `trailkeep verify` to find where). A tenant whose newest events have no checkpoint yet (the
//! process stopped inside the one-second signing interval) gets one now.

use std::collections::HashMap;
use std::sync::Arc;

use rusqlite::{Connection, OptionalExtension, params};
use trailkeep_event::Timestamp;
use trailkeep_ledger::NoteSigner;
use trailkeep_store::{SignedCheckpoint, StoreError};

use crate::schema::hash_from_blob;
use crate::state::{Registry, TenantState};
use crate::tree::{
    BLOCK_LEAVES, ReaderSource, UpperLevels, internal, perfect_root, read_leaf_hashes,
};
use crate::writer::{WriterTenant, insert_checkpoint, sign_checkpoint};

/// Loads every tenant, repairing block roots and signing missing checkpoints.
pub fn recover(
    conn: &mut Connection,
    signer: &NoteSigner,
    registry: &Registry,
) -> Result<HashMap<String, WriterTenant>, StoreError> {
    let tenants: Vec<(i64, String)> = conn
        .prepare("SELECT id, name FROM tenants ORDER BY id")
        .and_then(|mut s| {
            s.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<Result<_, _>>()
        })
        .map_err(internal)?;
    let mut out = HashMap::new();
    for (id, name) in tenants {
        let tenant = recover_tenant(conn, signer, id, &name)?;
        registry.insert(name.clone(), tenant.state.clone());
        out.insert(name, tenant);
    }
    Ok(out)
}

fn recover_tenant(
    conn: &mut Connection,
    signer: &NoteSigner,
    id: i64,
    name: &str,
) -> Result<WriterTenant, StoreError> {
    let size = crate::rows::tenant_size(conn, id)?;
    let blocks = size / BLOCK_LEAVES;

    let upper = load_block_roots(conn, id, blocks)?;
    let block = read_leaf_hashes(conn, id, blocks * BLOCK_LEAVES, size % BLOCK_LEAVES)?;

    let newest: Option<(i64, Vec<u8>, String)> = conn
        .query_row(
            "SELECT size, root, note FROM checkpoints WHERE tenant_id = ?1
             ORDER BY size DESC LIMIT 1",
            [id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()
        .map_err(internal)?;
    let mut checkpoint = None;
    if let Some((cp_size, root, note)) = newest {
        let cp_size = cp_size as u64;
        let root = hash_from_blob(root).map_err(StoreError::Corrupt)?;
        if cp_size > size {
            return Err(StoreError::Corrupt(format!(
                "tenant {name}: a checkpoint covers {cp_size} events but only {size} are stored"
            )));
        }
        let rebuilt = {
            let mut source = ReaderSource {
                conn,
                tenant_id: id,
                upper: &upper,
            };
            trailkeep_ledger::root(&mut source, cp_size)?
        };
        if rebuilt != root {
            return Err(StoreError::Corrupt(format!(
                "tenant {name}: the stored leaves do not match the checkpoint at size {cp_size}; \
                 run `trailkeep verify` to find the first altered event"
            )));
        }
        checkpoint = Some(SignedCheckpoint {
            size: cp_size,
            root,
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
