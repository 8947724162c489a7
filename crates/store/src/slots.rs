//! Which events of an append request are new and which are retries of events already stored,
//! decided alike by every engine: an event whose client-chosen id names a stored event with the
//! same content is that event again; with other content the whole request is refused, and so is
//! an id given twice in one request with different contents.

use std::collections::HashMap;

use trailkeep_event::PreparedEvent;

use crate::{StoreError, StoredEvent};

/// What one event of a request is.
pub enum Slot {
    /// New: it gets the next seq.
    New(PreparedEvent),
    /// A retry of this stored event.
    Existing(StoredEvent),
    /// The same event as the request's event at this index.
    SameAs(usize),
}

/// The slots of `events`, in order, asking `stored` for the tenant's stored event of each
/// client-chosen id (the engine's lookup; its errors are returned as they are). The inner
/// error is the request's refusal ([`StoreError::DuplicateId`]), decided before any slot is
/// written.
pub fn slots<E>(
    events: Vec<PreparedEvent>,
    mut stored: impl FnMut(&str) -> Result<Option<StoredEvent>, E>,
) -> Result<Result<Vec<Slot>, StoreError>, E> {
    let mut slots = Vec::with_capacity(events.len());
    let mut in_request: HashMap<String, usize> = HashMap::new();
    for (index, prepared) in events.into_iter().enumerate() {
        if !prepared.client_id {
            slots.push(Slot::New(prepared));
            continue;
        }
        let id = prepared.event.id.clone();
        if let Some(&earlier) = in_request.get(&id) {
            let same = match &slots[earlier] {
                Slot::New(first) => prepared.same_content(&first.event),
                Slot::Existing(stored) => same_event(&prepared, stored),
                Slot::SameAs(_) => false,
            };
            if !same {
                return Ok(Err(StoreError::DuplicateId { index, id }));
            }
            slots.push(Slot::SameAs(earlier));
            continue;
        }
        in_request.insert(id.clone(), index);
        match stored(&id)? {
            Some(event) if same_event(&prepared, &event) => {
                slots.push(Slot::Existing(event));
            }
            Some(_) => return Ok(Err(StoreError::DuplicateId { index, id })),
            None => slots.push(Slot::New(prepared)),
        }
    }
    Ok(Ok(slots))
}

/// Whether `prepared` is the event `stored` holds: the same content, or, when `stored` is a
/// tombstone, the same leaf hash (a retry of an event removed since is answered with the
/// tombstone, and stored no second time).
fn same_event(prepared: &PreparedEvent, stored: &StoredEvent) -> bool {
    if stored.event.redaction.is_none() {
        return prepared.same_content(&stored.event);
    }
    prepared
        .bytes_in_place_of(&stored.event)
        .is_some_and(|bytes| trailkeep_ledger::leaf_hash(&bytes) == stored.leaf_hash)
}

/// The request's events in order, given `slots`: stored events as they are, repeats as their
/// first, new ones as `new` makes them (the engine gives each the next seq and writes it);
/// and how many were new.
pub fn resolve<E>(
    slots: Vec<Slot>,
    mut new: impl FnMut(PreparedEvent) -> Result<StoredEvent, E>,
) -> Result<(Vec<StoredEvent>, usize), E> {
    let mut events: Vec<StoredEvent> = Vec::with_capacity(slots.len());
    let mut stored = 0;
    for slot in slots {
        let event = match slot {
            Slot::Existing(event) => event,
            Slot::SameAs(earlier) => events[earlier].clone(),
            Slot::New(prepared) => {
                stored += 1;
                new(prepared)?
            }
        };
        events.push(event);
    }
    Ok((events, stored))
}

/// `prepared` as the stored event of `seq`: its canonical bytes with that seq, and their leaf
/// hash.
pub fn sequenced(prepared: PreparedEvent, seq: u64) -> StoredEvent {
    let canonical = prepared.canonical_bytes(seq);
    StoredEvent {
        leaf_hash: trailkeep_ledger::leaf_hash(&canonical),
        event: prepared.into_event(seq),
        canonical,
    }
}
