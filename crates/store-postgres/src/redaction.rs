//! Retention and erasure on PostgreSQL: tombstones written under the tenant's head lock with
//! their record ([`apply`], from the locked append path), expired idempotency keys swept, and
//! the space of removed bodies left to (auto)vacuum.
//!
//! A tombstone rewrites its row's body, its search terms and the actor and target columns the
//! listing indexes read, so that nothing removed can still be found; `action`, `category`,
//! `outcome` and the times stay (a tombstone keeps them).

use std::collections::HashMap;
use std::time::SystemTime;

use async_trait::async_trait;
use deadpool_postgres::Transaction;
use trailkeep_event::{Event, PreparedEvent, Timestamp};
use trailkeep_store::redaction::{
    RedactionStore, Swept, Tombstone, check_record, check_replacement,
};
use trailkeep_store::{StoreError, StoredEvent};

use crate::append::{Answer, Change};
use crate::rows::system_time;
use crate::terms::event_terms;
use crate::{PostgresStore, internal};

/// Reads the rows the tombstones replace.
const READ: &str = "SELECT seq, received_at, id, leaf_hash, body FROM events
                    WHERE tenant = $1 AND seq = ANY($2)";

/// Writes one tombstone.
const WRITE: &str = "UPDATE events
    SET body = $4, terms = $5, actor_type = $6, actor_id = $7, target_type = $8, target_id = $9
    WHERE tenant = $1 AND seq = $2 AND received_at = $3";

/// Checks every tombstone against the row it replaces, then writes them all, inside the
/// tenant's append transaction (the head is locked: no other removal runs meanwhile).
/// Answers [`StoreError::Conflict`] before writing anything when one does not fit.
pub async fn apply(
    tx: &Transaction<'_>,
    tenant: &str,
    size: u64,
    tombstones: &[Tombstone],
) -> Result<(), StoreError> {
    let seqs: Vec<i64> = tombstones.iter().map(|t| t.seq as i64).collect();
    let mut rows: HashMap<i64, (SystemTime, String, Vec<u8>, Vec<u8>)> = tx
        .query(READ, &[&tenant, &seqs])
        .await
        .map_err(internal)?
        .into_iter()
        .map(|r| (r.get(0), (r.get(1), r.get(2), r.get(3), r.get(4))))
        .collect();
    let mut writes = Vec::with_capacity(tombstones.len());
    for tombstone in tombstones {
        let Some((received_at, id, leaf, body)) = rows.remove(&(tombstone.seq as i64)) else {
            return Err(StoreError::Conflict(format!(
                "seq {} is not in the ledger (of {size} events)",
                tombstone.seq
            )));
        };
        check_replacement(tombstone, tenant, &id, &leaf, &body)?;
        let event = Event::from_canonical(&tombstone.body).map_err(|e| {
            StoreError::Internal(format!("a checked tombstone does not parse: {e}"))
        })?;
        writes.push((tombstone, received_at, event));
    }
    let write = tx.prepare_cached(WRITE).await.map_err(internal)?;
    for (tombstone, received_at, event) in writes {
        let actor = event.actor.as_ref();
        let target = event.target.as_ref();
        tx.execute(
            &write,
            &[
                &tenant,
                &(tombstone.seq as i64),
                &received_at,
                &tombstone.body,
                &event_terms(&event),
                &actor.and_then(|a| a.kind.as_deref()),
                &actor.and_then(|a| a.id.as_deref()),
                &target.and_then(|t| t.kind.as_deref()),
                &target.and_then(|t| t.id.as_deref()),
            ],
        )
        .await
        .map_err(internal)?;
    }
    Ok(())
}

#[async_trait]
impl RedactionStore for PostgresStore {
    async fn redact(
        &self,
        tenant: &str,
        tombstones: Vec<Tombstone>,
        record: PreparedEvent,
    ) -> Result<StoredEvent, StoreError> {
        check_record(tenant, &record)?;
        let request = trailkeep_store::AppendRequest {
            events: vec![record],
            idempotency_key: None,
        };
        match self
            .write(tenant, Change::Redact(tombstones), request)
            .await?
        {
            Answer::Redacted(record) => Ok(*record),
            _ => Err(StoreError::Internal(
                "a redaction answered something else".into(),
            )),
        }
    }

    async fn sweep(&self, before: Timestamp) -> Result<Swept, StoreError> {
        let idempotency_keys = self
            .client()
            .await?
            .execute(
                "DELETE FROM idempotency_keys WHERE created_at < $1",
                &[&system_time(before)],
            )
            .await
            .map_err(internal)?;
        Ok(Swept { idempotency_keys })
    }

    async fn reclaim(&self) -> Result<(), StoreError> {
        // Plain VACUUM (not FULL): it takes no lock that stops reads or appends, marks the
        // removed bodies' space for reuse and gives back the empty pages at each table's end.
        self.client()
            .await?
            .batch_execute("VACUUM (ANALYZE) events")
            .await
            .map_err(internal)
    }
}
