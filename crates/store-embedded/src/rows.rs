//! Reading event rows back into [`StoredEvent`]s (or, unparsed, [`CanonicalEvent`]s); shared by
//! the writer and the readers.

use rusqlite::{Connection, OptionalExtension};
use trailkeep_event::{Event, Timestamp};
use trailkeep_store::{CanonicalEvent, IdempotencyKey, StoreError, StoredEvent};

use crate::schema::{event_key, hash_from_blob};
use crate::tree::internal;

/// Builds a stored event from its row's body and leaf hash.
pub fn stored_event(body: Vec<u8>, leaf_hash: Vec<u8>) -> Result<StoredEvent, StoreError> {
    let event = Event::from_canonical(&body)
        .map_err(|e| StoreError::Corrupt(format!("a stored event does not parse: {e}")))?;
    Ok(StoredEvent {
        event,
        canonical: body,
        leaf_hash: hash_from_blob(leaf_hash).map_err(StoreError::Corrupt)?,
    })
}

/// The tenant's event at `seq`.
pub fn by_seq(
    conn: &Connection,
    tenant_id: i64,
    seq: u64,
) -> Result<Option<StoredEvent>, StoreError> {
    let row = conn
        .prepare_cached("SELECT body, leaf_hash FROM events WHERE key = ?1")
        .map_err(internal)?
        .query_row([event_key(tenant_id, seq)], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()
        .map_err(internal)?;
    row.map(|(body, leaf)| stored_event(body, leaf)).transpose()
}

/// The tenant's event with client or server id `id`.
pub fn by_id(
    conn: &Connection,
    tenant_id: i64,
    id: &str,
) -> Result<Option<StoredEvent>, StoreError> {
    let row = conn
        .prepare_cached("SELECT body, leaf_hash FROM events WHERE tenant_id = ?1 AND id = ?2")
        .map_err(internal)?
        .query_row(rusqlite::params![tenant_id, id], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .optional()
        .map_err(internal)?;
    row.map(|(body, leaf)| stored_event(body, leaf)).transpose()
}

/// The tenant's events with seqs `from..to`, in seq order.
pub fn range(
    conn: &Connection,
    tenant_id: i64,
    from: u64,
    to: u64,
) -> Result<Vec<StoredEvent>, StoreError> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT body, leaf_hash FROM events WHERE key >= ?1 AND key < ?2 ORDER BY key",
        )
        .map_err(internal)?;
    let mut rows = stmt
        .query([event_key(tenant_id, from), event_key(tenant_id, to)])
        .map_err(internal)?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().map_err(internal)? {
        out.push(stored_event(
            row.get(0).map_err(internal)?,
            row.get(1).map_err(internal)?,
        )?);
    }
    Ok(out)
}

/// The tenant's events with seqs `from..to` as stored bytes, in seq order, not parsed.
pub fn range_canonical(
    conn: &Connection,
    tenant_id: i64,
    from: u64,
    to: u64,
) -> Result<Vec<CanonicalEvent>, StoreError> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT key, occurred_us, body, leaf_hash FROM events
             WHERE key >= ?1 AND key < ?2 ORDER BY key",
        )
        .map_err(internal)?;
    let mut rows = stmt
        .query([event_key(tenant_id, from), event_key(tenant_id, to)])
        .map_err(internal)?;
    let mut out = Vec::with_capacity((to - from) as usize);
    while let Some(row) = rows.next().map_err(internal)? {
        let occurred_us: i64 = row.get(1).map_err(internal)?;
        out.push(CanonicalEvent {
            seq: crate::schema::key_seq(row.get(0).map_err(internal)?),
            occurred_at: Timestamp::from_micros(occurred_us).ok_or_else(|| {
                StoreError::Corrupt(format!("a stored event occurred at {occurred_us} µs"))
            })?,
            canonical: row.get(2).map_err(internal)?,
            leaf_hash: hash_from_blob(row.get(3).map_err(internal)?)
                .map_err(StoreError::Corrupt)?,
        });
    }
    Ok(out)
}

/// The number of events the tenant has stored: its largest seq plus one.
pub fn tenant_size(conn: &Connection, tenant_id: i64) -> Result<u64, StoreError> {
    let (lo, hi) = crate::schema::tenant_key_range(tenant_id);
    let last: Option<i64> = conn
        .prepare_cached("SELECT MAX(key) FROM events WHERE key BETWEEN ?1 AND ?2")
        .and_then(|mut s| s.query_row([lo, hi], |r| r.get(0)))
        .map_err(internal)?;
    Ok(last.map_or(0, |k| crate::schema::key_seq(k) + 1))
}

/// What an idempotency key was used for before.
pub enum Previous {
    /// The same request: its answer's seqs.
    Same(Vec<u64>),
    /// Another request.
    Other,
}

/// What the tenant's idempotency key `key` answered before, if it was used.
pub fn previous_use(
    conn: &Connection,
    tenant_id: i64,
    key: &IdempotencyKey,
) -> Result<Option<Previous>, StoreError> {
    let previous: Option<(Vec<u8>, Vec<u8>)> = conn
        .prepare_cached(
            "SELECT request_hash, seqs FROM idempotency_keys WHERE tenant_id = ?1 AND key = ?2",
        )
        .and_then(|mut s| {
            s.query_row(rusqlite::params![tenant_id, key.key], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .optional()
        })
        .map_err(internal)?;
    Ok(previous.map(|(hash, seqs)| {
        if hash != key.request_hash {
            return Previous::Other;
        }
        Previous::Same(
            seqs.chunks_exact(8)
                .map(|c| u64::from_le_bytes(c.try_into().expect("chunks of 8")))
                .collect(),
        )
    }))
}

/// The tenant's events at `seqs`, in that order; every one must be stored.
pub fn all_by_seq(
    conn: &Connection,
    tenant_id: i64,
    seqs: &[u64],
) -> Result<Vec<StoredEvent>, StoreError> {
    seqs.iter()
        .map(|&seq| {
            by_seq(conn, tenant_id, seq)?.ok_or_else(|| {
                StoreError::Corrupt(format!("idempotency key names missing seq {seq}"))
            })
        })
        .collect()
}
