//! Retention and erasure on the embedded engine: tombstones written by the writer with their
//! record ([`apply`]), the `reindex` queue that tells the indexer which documents to replace,
//! expired idempotency keys swept, and the space of removed bodies given back by SQLite's
//! incremental vacuum, a few megabytes at a time between the writer's groups.

use async_trait::async_trait;
use rusqlite::{Transaction, params};
use trailkeep_event::{PreparedEvent, Timestamp};
use trailkeep_store::redaction::{
    RedactionStore, Swept, Tombstone, check_record, check_replacement,
};
use trailkeep_store::{StoreError, StoredEvent};

use crate::EmbeddedStore;
use crate::schema::event_key;
use crate::tree::internal;
use crate::writer::Job;

/// The queue of events whose body changed since they were indexed: the indexer replaces
/// their documents, then deletes the rows. Written in the tombstones' transaction, so a crash
/// loses no change to the index.
pub const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS reindex (
    key     INTEGER PRIMARY KEY,   -- the event key, tenant_id << 40 | seq
    changes INTEGER NOT NULL       -- bumped by each change, so none is taken for done early
);
";

/// Pages one step of the incremental vacuum gives back (16 MiB of 4 KiB pages): a step holds
/// the writer for tens of milliseconds at most.
const VACUUM_STEP_PAGES: i64 = 4096;

/// Times a checkpoint that readers kept from finishing is tried again, and the pause between.
const CHECKPOINT_TRIES: usize = 50;
const CHECKPOINT_PAUSE: std::time::Duration = std::time::Duration::from_millis(100);

/// Checks every tombstone against the event it replaces, then writes them all and queues them
/// for the index, inside the writer's transaction. A refusal writes nothing; the outer
/// `Result` is for failures that doom the transaction.
pub fn apply(
    tx: &Transaction<'_>,
    tenant_id: i64,
    tenant: &str,
    size: u64,
    tombstones: &[Tombstone],
) -> Result<Result<(), StoreError>, StoreError> {
    let mut read = tx
        .prepare_cached("SELECT id, occurred_us, leaf_hash, body FROM events WHERE key = ?1")
        .map_err(internal)?;
    let mut rows = Vec::with_capacity(tombstones.len());
    for tombstone in tombstones {
        if tombstone.seq >= size {
            return Ok(Err(StoreError::Conflict(format!(
                "seq {} is not in the ledger",
                tombstone.seq
            ))));
        }
        let (id, occurred, leaf, body): (String, i64, Vec<u8>, Vec<u8>) = read
            .query_row([event_key(tenant_id, tombstone.seq)], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
            })
            .map_err(internal)?;
        if let Err(refusal) = check_replacement(tombstone, tenant, &id, &leaf, &body) {
            return Ok(Err(refusal));
        }
        rows.push((id, occurred, leaf));
    }
    // Every row deleted, then every tombstone inserted, rather than each updated in place: an
    // update leaves its page as it was, and so does a delete followed by its insert (a page
    // is rebalanced only when it falls below a third full). Deleting a batch of neighbouring
    // rows empties whole pages onto the free list, and the small tombstones are packed into
    // fewer pages, so the incremental vacuum has the space of the removed bodies to give back.
    let mut delete = tx
        .prepare_cached("DELETE FROM events WHERE key = ?1")
        .map_err(internal)?;
    let mut insert = tx
        .prepare_cached(
            "INSERT INTO events (key, tenant_id, id, occurred_us, leaf_hash, body)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )
        .map_err(internal)?;
    let mut queue = tx
        .prepare_cached(
            "INSERT INTO reindex (key, changes) VALUES (?1, 1)
             ON CONFLICT (key) DO UPDATE SET changes = changes + 1",
        )
        .map_err(internal)?;
    for tombstone in tombstones {
        delete
            .execute([event_key(tenant_id, tombstone.seq)])
            .map_err(internal)?;
    }
    for (tombstone, (id, occurred, leaf)) in tombstones.iter().zip(rows) {
        let key = event_key(tenant_id, tombstone.seq);
        insert
            .execute(params![key, tenant_id, id, occurred, leaf, tombstone.body])
            .map_err(internal)?;
        queue.execute([key]).map_err(internal)?;
    }
    Ok(Ok(()))
}

#[async_trait]
impl RedactionStore for EmbeddedStore {
    async fn redact(
        &self,
        tenant: &str,
        tombstones: Vec<Tombstone>,
        record: PreparedEvent,
    ) -> Result<StoredEvent, StoreError> {
        check_record(tenant, &record)?;
        let name = tenant.to_owned();
        self.through_writer(tenant, |ticket, reply| Job::Redact {
            tenant: name,
            tombstones,
            record: Box::new(record),
            reply,
            ticket,
        })
        .await
    }

    async fn sweep(&self, before: Timestamp) -> Result<Swept, StoreError> {
        let before = before.as_micros();
        self.on_writer(move |conn| {
            let idempotency_keys = conn
                .execute(
                    "DELETE FROM idempotency_keys WHERE created_us < ?1",
                    [before],
                )
                .map_err(internal)? as u64;
            Ok(Swept { idempotency_keys })
        })
        .await
    }

    async fn reclaim(&self) -> Result<(), StoreError> {
        // Step by step until no free page is left, or a step gives none back (pages freed by
        // writes meanwhile are for the next run).
        let mut before = i64::MAX;
        loop {
            let left = self.on_writer(vacuum_step).await?;
            if left == 0 || left >= before {
                break;
            }
            before = left;
        }
        // The file shrinks when the log is written back into it. A checkpoint that readers
        // kept from finishing (the indexer replacing the tombstones' documents) is tried again.
        for _ in 0..CHECKPOINT_TRIES {
            let finished = self
                .on_writer(|conn| {
                    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| {
                        r.get::<_, i64>(0)
                    })
                    .map(|busy| busy == 0)
                    .map_err(internal)
                })
                .await?;
            if finished {
                break;
            }
            tokio::time::sleep(CHECKPOINT_PAUSE).await;
        }
        Ok(())
    }
}

/// One step of the incremental vacuum; answers the free pages left. Each step of the pragma's
/// statement gives one page back, so it is stepped to its end (`execute_batch` would step it
/// once).
fn vacuum_step(conn: &mut rusqlite::Connection) -> Result<i64, StoreError> {
    let mut statement = conn
        .prepare(&format!("PRAGMA incremental_vacuum({VACUUM_STEP_PAGES})"))
        .map_err(internal)?;
    let mut rows = statement.query([]).map_err(internal)?;
    while rows.next().map_err(internal)?.is_some() {}
    drop(rows);
    drop(statement);
    conn.pragma_query_value(None, "freelist_count", |r| r.get::<_, i64>(0))
        .map_err(internal)
}
