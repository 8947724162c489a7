//! Event rows: what an append writes (by binary `COPY`) and what reads turn back into events.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio_postgres::Row;
use tokio_postgres::types::Type;
use trailkeep_event::{Event, Timestamp};
use trailkeep_ledger::Hash;
use trailkeep_store::{CanonicalEvent, StoreError, StoredEvent};

/// The columns a read selects to make a [`StoredEvent`] or a [`CanonicalEvent`].
pub const READ_COLUMNS: &str = "seq, occurred_us, leaf_hash, body";

/// The `COPY` statement an append writes its events with.
pub const COPY_EVENTS: &str = "COPY events (tenant, seq, received_at, id, occurred_us, action, \
    category, outcome, actor_type, actor_id, target_type, target_id, terms, leaf_hash, body) \
    FROM STDIN BINARY";

/// The types of [`COPY_EVENTS`]'s columns, in order.
pub const COPY_TYPES: [Type; 15] = [
    Type::TEXT,
    Type::INT8,
    Type::TIMESTAMPTZ,
    Type::TEXT,
    Type::INT8,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::INT8_ARRAY,
    Type::BYTEA,
    Type::BYTEA,
];

/// One event as `COPY` writes it.
pub struct EventRow<'a> {
    tenant: &'a str,
    seq: i64,
    received_at: SystemTime,
    id: &'a str,
    occurred_us: i64,
    action: &'a str,
    category: &'static str,
    outcome: &'static str,
    actor_type: Option<&'a str>,
    actor_id: Option<&'a str>,
    target_type: Option<&'a str>,
    target_id: Option<&'a str>,
    terms: &'a [i64],
    leaf_hash: &'a [u8],
    body: &'a [u8],
}

impl<'a> EventRow<'a> {
    /// The row of `stored`, whose searchable terms' keys are `terms`
    /// ([`crate::terms::event_terms`]).
    pub fn new(stored: &'a StoredEvent, terms: &'a [i64]) -> Self {
        let event = &stored.event;
        let actor = event.actor.as_ref();
        let target = event.target.as_ref();
        Self {
            tenant: &event.tenant,
            seq: event.seq as i64,
            received_at: system_time(event.received_at),
            id: &event.id,
            occurred_us: event.occurred_at.as_micros(),
            action: &event.action,
            category: event.category.as_str(),
            outcome: event.outcome.as_str(),
            actor_type: actor.and_then(|a| a.kind.as_deref()),
            actor_id: actor.and_then(|a| a.id.as_deref()),
            target_type: target.and_then(|t| t.kind.as_deref()),
            target_id: target.and_then(|t| t.id.as_deref()),
            terms,
            leaf_hash: &stored.leaf_hash,
            body: &stored.canonical,
        }
    }

    /// The values in [`COPY_TYPES`] order.
    pub fn values(&self) -> [&(dyn tokio_postgres::types::ToSql + Sync); 15] {
        [
            &self.tenant,
            &self.seq,
            &self.received_at,
            &self.id,
            &self.occurred_us,
            &self.action,
            &self.category,
            &self.outcome,
            &self.actor_type,
            &self.actor_id,
            &self.target_type,
            &self.target_id,
            &self.terms,
            &self.leaf_hash,
            &self.body,
        ]
    }
}

/// An instant as PostgreSQL's `timestamptz` takes it.
pub fn system_time(at: Timestamp) -> SystemTime {
    let micros = at.as_micros();
    if micros >= 0 {
        UNIX_EPOCH + Duration::from_micros(micros as u64)
    } else {
        UNIX_EPOCH - Duration::from_micros(micros.unsigned_abs())
    }
}

/// A 32-byte hash column.
pub fn hash(bytes: &[u8]) -> Result<Hash, StoreError> {
    bytes
        .try_into()
        .map_err(|_| StoreError::Corrupt(format!("a stored hash has {} bytes", bytes.len())))
}

/// A row of [`READ_COLUMNS`] as stored bytes.
pub fn canonical(row: &Row) -> Result<CanonicalEvent, StoreError> {
    let occurred: i64 = row.get(1);
    Ok(CanonicalEvent {
        seq: row.get::<_, i64>(0) as u64,
        occurred_at: Timestamp::from_micros(occurred).ok_or_else(|| {
            StoreError::Corrupt(format!("occurred_us {occurred} is out of range"))
        })?,
        leaf_hash: hash(row.get(2))?,
        canonical: row.get(3),
    })
}

/// A row of [`READ_COLUMNS`] parsed.
pub fn stored(row: &Row) -> Result<StoredEvent, StoreError> {
    let seq = row.get::<_, i64>(0) as u64;
    let body: Vec<u8> = row.get(3);
    let event = Event::from_canonical(&body)
        .map_err(|e| StoreError::Corrupt(format!("event {seq} does not parse: {e}")))?;
    if event.seq != seq {
        return Err(StoreError::Corrupt(format!(
            "the row of seq {seq} holds event {}",
            event.seq
        )));
    }
    Ok(StoredEvent {
        event,
        leaf_hash: hash(row.get(2))?,
        canonical: body,
    })
}
