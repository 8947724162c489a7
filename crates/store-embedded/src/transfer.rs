//! A data directory as either end of a move between stores (`trailkeep migrate`): its rows
//! read for another store (the server stopped), or another store's rows written into a new
//! data directory, with seqs, ids, bytes and signed checkpoints unchanged. The new directory
//! gets the signing key the checkpoints were signed with and the high-water mark of each
//! tenant's newest checkpoint; the query index is built when a server first opens it.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use rusqlite::{Connection, params};
use trailkeep_event::Timestamp;
use trailkeep_ledger::{Frontier, NoteSigner};
use trailkeep_store::transfer::{
    StoredIdempotencyKey, TenantRecords, TransferSink, TransferSource,
};
use trailkeep_store::{CanonicalEvent, SignedCheckpoint, StoreError};

use crate::high_water::{self, HighWaterMark};
use crate::schema::{self, event_key, hash_from_blob, key_seq, tenant_key_range};
use crate::tree::BLOCK_LEVEL;
use crate::{DB_FILE, credentials, documents, files, jobs, keys};

fn internal(e: impl std::fmt::Display) -> StoreError {
    StoreError::Internal(e.to_string())
}

/// One end of a move: a data directory's database.
pub struct EmbeddedTransfer {
    dir: PathBuf,
    conn: Connection,
    vkey: String,
    /// Tenant ids by name.
    ids: HashMap<String, i64>,
    /// Each tenant's tree as written so far (a sink).
    frontiers: HashMap<String, Frontier>,
    /// Each tenant's newest checkpoint (a sink), for the high-water file.
    marks: HashMap<String, HighWaterMark>,
}

impl EmbeddedTransfer {
    /// Opens the data directory `dir` to be read (no server may be running on it).
    pub fn open_source(dir: &Path) -> Result<Self, StoreError> {
        let path = dir.join(DB_FILE);
        if !path.is_file() {
            return Err(StoreError::Unavailable(format!(
                "{} is not a Trailkeep data directory",
                dir.display()
            )));
        }
        let vkey = keys::load(dir)
            .map_err(StoreError::Unavailable)?
            .verifier()
            .to_vkey();
        let conn = schema::open_read_only(&path).map_err(internal)?;
        let ids = conn
            .prepare("SELECT name, id FROM tenants")
            .and_then(|mut s| s.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect())
            .map_err(internal)?;
        Ok(Self {
            dir: dir.to_owned(),
            conn,
            vkey,
            ids,
            frontiers: HashMap::new(),
            marks: HashMap::new(),
        })
    }

    /// Makes the new data directory `dir` (absent, or empty) to be filled, its ledgers signed
    /// with `signer` from now on: the key the moved checkpoints were signed with.
    pub fn create_sink(dir: &Path, signer: &NoteSigner) -> Result<Self, StoreError> {
        let empty = std::fs::read_dir(dir).map_or(true, |mut entries| entries.next().is_none());
        if !empty {
            return Err(StoreError::Unavailable(format!(
                "{} is not empty: a move fills a new data directory",
                dir.display()
            )));
        }
        files::create_private_dir(dir).map_err(StoreError::Unavailable)?;
        keys::write(dir, signer).map_err(StoreError::Unavailable)?;
        let path = dir.join(DB_FILE);
        files::create_private_file(&path).map_err(StoreError::Unavailable)?;
        let mut conn = schema::open(&path).map_err(internal)?;
        schema::migrate(&mut conn).map_err(StoreError::Unavailable)?;
        Ok(Self {
            dir: dir.to_owned(),
            conn,
            vkey: signer.verifier().to_vkey(),
            ids: HashMap::new(),
            frontiers: HashMap::new(),
            marks: HashMap::new(),
        })
    }

    fn tenant_id(&self, tenant: &str) -> Result<i64, StoreError> {
        self.ids
            .get(tenant)
            .copied()
            .ok_or_else(|| StoreError::Internal(format!("no tenant {tenant:?}")))
    }
}

#[async_trait]
impl TransferSource for EmbeddedTransfer {
    fn vkey(&self) -> String {
        self.vkey.clone()
    }

    async fn tenants(&mut self) -> Result<Vec<String>, StoreError> {
        let mut names: Vec<String> = self.ids.keys().cloned().collect();
        names.sort();
        Ok(names)
    }

    async fn events(
        &mut self,
        tenant: &str,
        from: u64,
        max: usize,
    ) -> Result<Vec<(String, CanonicalEvent)>, StoreError> {
        let id = self.tenant_id(tenant)?;
        let (_, last) = tenant_key_range(id);
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT key, id, occurred_us, leaf_hash, body FROM events \
                 WHERE key BETWEEN ?1 AND ?2 ORDER BY key LIMIT ?3",
            )
            .map_err(internal)?;
        let rows = stmt
            .query_map(params![event_key(id, from), last, max as i64], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, i64>(2)?,
                    r.get::<_, Vec<u8>>(3)?,
                    r.get::<_, Vec<u8>>(4)?,
                ))
            })
            .map_err(internal)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(internal)?;
        rows.into_iter()
            .map(|(key, id, occurred, leaf, body)| {
                Ok((
                    id,
                    CanonicalEvent {
                        seq: key_seq(key),
                        occurred_at: Timestamp::from_micros(occurred).ok_or_else(|| {
                            StoreError::Corrupt(format!("occurred_us {occurred} is out of range"))
                        })?,
                        leaf_hash: hash_from_blob(leaf).map_err(StoreError::Corrupt)?,
                        canonical: body,
                    },
                ))
            })
            .collect()
    }

    async fn records(&mut self, tenant: &str) -> Result<TenantRecords, StoreError> {
        let id = self.tenant_id(tenant)?;
        let checkpoints = crate::verify::stored_checkpoints(&self.conn, id)
            .map_err(internal)?
            .into_iter()
            .map(|(size, root, note)| {
                Ok(SignedCheckpoint {
                    size,
                    root: hash_from_blob(root).map_err(StoreError::Corrupt)?,
                    note,
                })
            })
            .collect::<Result<_, StoreError>>()?;
        let idempotency_keys = self
            .conn
            .prepare_cached(
                "SELECT key, request_hash, seqs FROM idempotency_keys WHERE tenant_id = ?1 \
                 ORDER BY key",
            )
            .and_then(|mut s| {
                s.query_map([id], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, Vec<u8>>(1)?,
                        r.get::<_, Vec<u8>>(2)?,
                    ))
                })?
                .collect::<Result<Vec<_>, _>>()
            })
            .map_err(internal)?
            .into_iter()
            .map(|(key, hash, seqs)| {
                Ok(StoredIdempotencyKey {
                    key,
                    request_hash: hash_from_blob(hash).map_err(StoreError::Corrupt)?,
                    seqs: seqs
                        .chunks_exact(8)
                        .map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes")))
                        .collect(),
                })
            })
            .collect::<Result<_, StoreError>>()?;
        Ok(TenantRecords {
            checkpoints,
            api_keys: credentials::of_tenant(&self.conn, tenant)?,
            jobs: jobs::of_tenant(&self.conn, tenant)?,
            documents: documents::of_tenant(&self.conn, tenant)?,
            idempotency_keys,
        })
    }
}

#[async_trait]
impl TransferSink for EmbeddedTransfer {
    async fn is_empty(&mut self) -> Result<bool, StoreError> {
        let tenants: i64 = self
            .conn
            .query_row("SELECT count(*) FROM tenants", [], |r| r.get(0))
            .map_err(internal)?;
        Ok(tenants == 0)
    }

    async fn adopt_vkey(&mut self, vkey: &str) -> Result<(), StoreError> {
        if vkey != self.vkey {
            return Err(StoreError::Unavailable(format!(
                "the signing key given is not the one the source's checkpoints are signed with \
                 ({vkey})"
            )));
        }
        Ok(())
    }

    async fn events(
        &mut self,
        tenant: &str,
        events: &[(String, CanonicalEvent)],
    ) -> Result<(), StoreError> {
        let tx = self.conn.transaction().map_err(internal)?;
        let id = match self.ids.get(tenant) {
            Some(id) => *id,
            None => {
                tx.execute("INSERT INTO tenants (name) VALUES (?1)", [tenant])
                    .map_err(internal)?;
                let id = tx.last_insert_rowid();
                self.ids.insert(tenant.to_owned(), id);
                id
            }
        };
        let frontier = self.frontiers.entry(tenant.to_owned()).or_default();
        {
            let mut insert = tx
                .prepare_cached(
                    "INSERT INTO events (key, tenant_id, id, occurred_us, leaf_hash, body) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                )
                .map_err(internal)?;
            let mut block = tx
                .prepare_cached(
                    "INSERT INTO ledger_nodes (tenant_id, idx, hash) VALUES (?1, ?2, ?3)",
                )
                .map_err(internal)?;
            for (event_id, event) in events {
                insert
                    .execute(params![
                        event_key(id, event.seq),
                        id,
                        event_id,
                        event.occurred_at.as_micros(),
                        &event.leaf_hash[..],
                        event.canonical,
                    ])
                    .map_err(internal)?;
                let mut blocks = Vec::new();
                frontier.push_with(event.leaf_hash, |level, index, hash| {
                    if level == BLOCK_LEVEL {
                        blocks.push((index, *hash));
                    }
                });
                for (index, hash) in blocks {
                    block
                        .execute(params![id, index as i64, &hash[..]])
                        .map_err(internal)?;
                }
            }
        }
        tx.commit().map_err(internal)
    }

    async fn finish_tenant(
        &mut self,
        tenant: &str,
        records: &TenantRecords,
    ) -> Result<(), StoreError> {
        let id = match self.ids.get(tenant) {
            Some(id) => *id,
            None => return Ok(()),
        };
        let now = Timestamp::now().as_micros();
        let tx = self.conn.transaction().map_err(internal)?;
        for checkpoint in &records.checkpoints {
            tx.execute(
                "INSERT INTO checkpoints (tenant_id, size, root, note, created_us) \
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    id,
                    checkpoint.size as i64,
                    &checkpoint.root[..],
                    checkpoint.note,
                    now
                ],
            )
            .map_err(internal)?;
        }
        for key in &records.api_keys {
            credentials::insert(&tx, key)?;
        }
        for job in &records.jobs {
            jobs::insert_record(&tx, job)?;
        }
        for document in &records.documents {
            documents::insert(&tx, tenant, document)?;
        }
        for key in &records.idempotency_keys {
            let seqs: Vec<u8> = key.seqs.iter().flat_map(|s| s.to_le_bytes()).collect();
            tx.execute(
                "INSERT INTO idempotency_keys (tenant_id, key, request_hash, seqs, created_us) \
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![id, key.key, &key.request_hash[..], seqs, now],
            )
            .map_err(internal)?;
        }
        tx.commit().map_err(internal)?;
        if let Some(newest) = records.checkpoints.iter().max_by_key(|c| c.size) {
            self.marks.insert(
                tenant.to_owned(),
                HighWaterMark {
                    size: newest.size,
                    root: newest.root,
                },
            );
            high_water::rewrite(&self.dir, &self.marks).map_err(StoreError::Unavailable)?;
        }
        Ok(())
    }
}
