//! Reading event rows back into [`StoredEvent`]s (or, unparsed, [`CanonicalEvent`]s); shared by
//! the writer and the readers.

use rusqlite::{Connection, OptionalExtension};
use trailkeep_event::{Event, Timestamp};
use trailkeep_store::{CanonicalEvent, IdempotencyKey, StoreError, StoredEvent};

use crate::schema::{event_key, hash_from_blob};
use crate::tree::internal;

/// Parses stored canonical bytes.
fn parse(body: &[u8]) -> Result<Event, StoreError> {
    Event::from_canonical(body)
        .map_err(|e| StoreError::Corrupt(format!("a stored event does not parse: {e}")))
}

/// Builds a stored event from its row's body and leaf hash.
pub fn stored_event(body: Vec<u8>, leaf_hash: Vec<u8>) -> Result<StoredEvent, StoreError> {
    Ok(StoredEvent {
        event: parse(&body)?,
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
    canonical_by_seq(conn, tenant_id, seq)?
        .map(parsed)
        .transpose()
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
        out.push(canonical_row(row)?);
    }
    Ok(out)
}

/// A row of `key, occurred_us, body, leaf_hash` as a [`CanonicalEvent`].
fn canonical_row(row: &rusqlite::Row<'_>) -> Result<CanonicalEvent, StoreError> {
    let occurred_us: i64 = row.get(1).map_err(internal)?;
    Ok(CanonicalEvent {
        seq: crate::schema::key_seq(row.get(0).map_err(internal)?),
        occurred_at: Timestamp::from_micros(occurred_us).ok_or_else(|| {
            StoreError::Corrupt(format!("a stored event occurred at {occurred_us} µs"))
        })?,
        canonical: row.get(2).map_err(internal)?,
        leaf_hash: hash_from_blob(row.get(3).map_err(internal)?).map_err(StoreError::Corrupt)?,
    })
}

/// The tenant's event at `seq`, unparsed.
fn canonical_by_seq(
    conn: &Connection,
    tenant_id: i64,
    seq: u64,
) -> Result<Option<CanonicalEvent>, StoreError> {
    let mut stmt = conn
        .prepare_cached("SELECT key, occurred_us, body, leaf_hash FROM events WHERE key = ?1")
        .map_err(internal)?;
    let mut rows = stmt.query([event_key(tenant_id, seq)]).map_err(internal)?;
    match rows.next().map_err(internal)? {
        Some(row) => canonical_row(row).map(Some),
        None => Ok(None),
    }
}

/// Parses an event read unparsed.
fn parsed(event: CanonicalEvent) -> Result<StoredEvent, StoreError> {
    Ok(StoredEvent {
        event: parse(&event.canonical)?,
        canonical: event.canonical,
        leaf_hash: event.leaf_hash,
    })
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

/// What a seq an idempotency key names but that is not stored means.
pub fn replayed_seq_missing(seq: u64) -> StoreError {
    StoreError::Corrupt(format!("idempotency key names missing seq {seq}"))
}

/// The tenant's events at `seqs` (distinct), in that order; every one must be stored.
/// `missing` says what a seq that is not stored means to the caller.
pub fn all_by_seq(
    conn: &Connection,
    tenant_id: i64,
    seqs: &[u64],
    missing: &dyn Fn(u64) -> StoreError,
) -> Result<Vec<StoredEvent>, StoreError> {
    all_canonical_by_seq(conn, tenant_id, seqs, missing)?
        .into_iter()
        .map(parsed)
        .collect()
}

/// [`all_by_seq`], unparsed.
///
/// A page's events lie close together (a listing's hits are neighbours in time, and seqs
/// follow time), so when they fall within a short run of seqs they are read with one range
/// scan, skipping the rows between them; scattered ones are looked up one by one.
pub fn all_canonical_by_seq(
    conn: &Connection,
    tenant_id: i64,
    seqs: &[u64],
    missing: &dyn Fn(u64) -> StoreError,
) -> Result<Vec<CanonicalEvent>, StoreError> {
    let (Some(&lo), Some(&hi)) = (seqs.iter().min(), seqs.iter().max()) else {
        return Ok(Vec::new());
    };
    if scattered(seqs) {
        return seqs
            .iter()
            .map(|&seq| canonical_by_seq(conn, tenant_id, seq)?.ok_or_else(|| missing(seq)))
            .collect();
    }
    let mut wanted: Vec<u64> = seqs.to_vec();
    wanted.sort_unstable();
    let mut found: Vec<Option<CanonicalEvent>> = (0..wanted.len()).map(|_| None).collect();
    let mut stmt = conn
        .prepare_cached(
            "SELECT key, occurred_us, body, leaf_hash FROM events
             WHERE key >= ?1 AND key <= ?2 ORDER BY key",
        )
        .map_err(internal)?;
    let mut rows = stmt
        .query([event_key(tenant_id, lo), event_key(tenant_id, hi)])
        .map_err(internal)?;
    while let Some(row) = rows.next().map_err(internal)? {
        let seq = crate::schema::key_seq(row.get(0).map_err(internal)?);
        if let Ok(at) = wanted.binary_search(&seq) {
            found[at] = Some(canonical_row(row)?);
        }
    }
    seqs.iter()
        .map(|seq| {
            let at = wanted.binary_search(seq).expect("every seq is wanted");
            found[at].take().ok_or_else(|| missing(*seq))
        })
        .collect()
}

/// How many rows a range read may pass over for each event asked, before lookups one by one
/// are cheaper.
const RANGE_READ_SPREAD: u64 = 8;

/// Whether `seqs` lie too far apart to be read with one range scan ([`all_canonical_by_seq`]
/// looks them up one by one).
pub fn scattered(seqs: &[u64]) -> bool {
    match (seqs.iter().min(), seqs.iter().max()) {
        (Some(&lo), Some(&hi)) => hi - lo >= RANGE_READ_SPREAD * seqs.len() as u64,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Events asked close together are read with one range scan and scattered ones one by one;
    /// either way each comes back in the order asked, and a seq not stored is named.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn events_by_seq_come_back_in_the_order_asked_near_or_far() {
        let (_dir, conn, tenant_id) = crate::test_trail::trail_of(300).await;
        let missing = |seq| StoreError::Corrupt(format!("no {seq}"));
        let near = [12, 10, 11, 15];
        let far = [290, 3, 150];
        for seqs in [&near[..], &far[..]] {
            let read = all_by_seq(&conn, tenant_id, seqs, &missing).unwrap();
            let got: Vec<u64> = read.iter().map(|e| e.event.seq).collect();
            assert_eq!(got, seqs);
        }
        for seqs in [&[10, 11, 400][..], &[1, 299, 400][..]] {
            let error = all_by_seq(&conn, tenant_id, seqs, &missing).unwrap_err();
            assert!(error.to_string().contains("no 400"), "{error}");
        }
    }
}
