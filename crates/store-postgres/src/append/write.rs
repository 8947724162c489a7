//! The rows an append writes: events by binary `COPY`, completed tree nodes, first-used
//! idempotency keys; and the stored events an idempotent replay answers with.
//!
//! Each writer takes its statement as text or as one prepared once per connection
//! (`deadpool_postgres`'s statement cache), so that the append paths skip the round trip that
//! prepares a statement anew.

use std::collections::HashMap;

use futures_util::pin_mut;
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::{ToStatement, Transaction};
use trailkeep_ledger::Hash;
use trailkeep_store::{AppendOutcome, StoreError, StoredEvent};

use crate::internal;
use crate::rows::{self, COPY_TYPES, EventRow, READ_COLUMNS};
use crate::terms::event_terms;

/// Inserts the perfect subtrees an append completed (`$1` tenant, `$2` levels, `$3` indexes,
/// `$4` hashes).
pub const INSERT_NODES: &str = "INSERT INTO ledger_nodes (tenant, level, idx, hash)
     SELECT $1, * FROM unnest($2::int[], $3::bigint[], $4::bytea[])";

/// Inserts a first-used idempotency key.
pub const INSERT_KEY: &str =
    "INSERT INTO idempotency_keys (tenant, key, request_hash, seqs) VALUES ($1, $2, $3, $4)";

/// The events of `outcomes`, in order.
pub fn events_of(outcomes: &[AppendOutcome]) -> impl Iterator<Item = &StoredEvent> {
    outcomes.iter().flat_map(|o| o.events.iter())
}

/// The keys of the searchable terms of each of `events`, in order: computed before a transaction opens.
pub fn terms_of<'a>(events: impl IntoIterator<Item = &'a StoredEvent>) -> Vec<Vec<i64>> {
    events.into_iter().map(|e| event_terms(&e.event)).collect()
}

/// `COPY`s new events in binary (a group's, or a move's) with `copy` ([`rows::COPY_EVENTS`]);
/// `terms` are the events' terms, in the same order.
pub async fn write_events<'a, S: ToStatement + ?Sized>(
    tx: &Transaction<'_>,
    copy: &S,
    events: impl IntoIterator<Item = &'a StoredEvent>,
    terms: &[Vec<i64>],
) -> Result<(), tokio_postgres::Error> {
    let sink = tx.copy_in(copy).await?;
    let writer = BinaryCopyInWriter::new(sink, &COPY_TYPES);
    pin_mut!(writer);
    for (event, terms) in events.into_iter().zip(terms) {
        let row = EventRow::new(event, terms);
        writer.as_mut().write(&row.values()).await?;
    }
    writer.finish().await?;
    Ok(())
}

/// Inserts the perfect subtrees the events completed at the stored levels, with `insert`
/// ([`INSERT_NODES`]).
pub async fn write_nodes<S: ToStatement + ?Sized>(
    tx: &Transaction<'_>,
    insert: &S,
    tenant: &str,
    nodes: &[(u32, u64, Hash)],
) -> Result<(), tokio_postgres::Error> {
    if nodes.is_empty() {
        return Ok(());
    }
    let levels: Vec<i32> = nodes.iter().map(|n| n.0 as i32).collect();
    let indexes: Vec<i64> = nodes.iter().map(|n| n.1 as i64).collect();
    let hashes: Vec<&[u8]> = nodes.iter().map(|n| &n.2[..]).collect();
    tx.execute(insert, &[&tenant, &levels, &indexes, &hashes])
        .await?;
    Ok(())
}

/// Inserts the idempotency keys a group used for the first time, with `insert`
/// ([`INSERT_KEY`]).
pub async fn write_keys<S: ToStatement + ?Sized>(
    tx: &Transaction<'_>,
    insert: &S,
    tenant: &str,
    keys: &[(String, Hash, Vec<i64>)],
) -> Result<(), tokio_postgres::Error> {
    for (key, hash, seqs) in keys {
        tx.execute(insert, &[&tenant, key, &&hash[..], seqs])
            .await?;
    }
    Ok(())
}

/// The tenant's events with these seqs, in the order given.
pub async fn by_seqs(
    client: &impl tokio_postgres::GenericClient,
    tenant: &str,
    seqs: &[i64],
) -> Result<Vec<StoredEvent>, StoreError> {
    let rows = client
        .query(
            &format!("SELECT {READ_COLUMNS} FROM events WHERE tenant = $1 AND seq = ANY($2)"),
            &[&tenant, &seqs],
        )
        .await
        .map_err(internal)?;
    let mut found: HashMap<u64, StoredEvent> = HashMap::with_capacity(rows.len());
    for row in &rows {
        let event = rows::stored(row)?;
        found.insert(event.event.seq, event);
    }
    seqs.iter()
        .map(|&seq| {
            found.get(&(seq as u64)).cloned().ok_or_else(|| {
                StoreError::Corrupt(format!(
                    "an idempotency key names event {seq}, which is not stored"
                ))
            })
        })
        .collect()
}
