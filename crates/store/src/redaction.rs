//! Removing events, or fields of them, without breaking the ledger (DESIGN section 4: "events
//! are never updated ... redaction tombstone").
//!
//! A removal replaces an event's stored body by a **tombstone**: the same event with the removed
//! fields gone and a `redaction` part that says what was removed, why, when, by which record,
//! and keeps the leaf hash of the whole event. The leaf hash stored beside the body does not
//! change, so the tree, every inclusion and consistency proof and every checkpoint signed
//! before stay valid.
//!
//! What stops a tombstone from being forged or altered later: each removal appends a **record**
//! (action [`REDACTION_RECORD_ACTION`]) in the same transaction as the tombstones, and the
//! record's metadata holds how many tombstones it made and a digest over them
//! ([`RecordDigest`]). The record is a whole event under the tree, so verification checks every
//! tombstone against the record it names, and the record against the signed checkpoints.
//! Clients cannot write such a record ([`trailkeep_event::prepare`] refuses its action).

use std::collections::BTreeSet;

use async_trait::async_trait;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use trailkeep_event::{
    EarlierRedaction, Erasable, PreparedEvent, REDACTION_RECORD_ACTION, Redaction, RedactionReason,
    Timestamp, prepare_redaction_record,
};
use trailkeep_ledger::Hash;

use crate::{StoreError, StoredEvent};

/// Most tombstones one record covers: a removal of more events is written in several
/// transactions, each with its own record.
pub const MAX_TOMBSTONES_PER_RECORD: usize = 1000;

/// One event's new body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tombstone {
    /// The event's seq.
    pub seq: u64,
    /// The tombstone's canonical bytes.
    pub body: Vec<u8>,
    /// SHA-256 of the stored bytes it replaces: an engine refuses the tombstone when the
    /// event was changed meanwhile (another removal), so no removal is lost.
    pub replaces: Hash,
}

/// How much a [`RedactionStore::sweep`] removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Swept {
    /// Idempotency keys older than asked, deleted.
    pub idempotency_keys: u64,
}

/// What a store does for retention and erasure.
#[async_trait]
pub trait RedactionStore: Send + Sync + 'static {
    /// Replaces the bodies of the tenant's events by `tombstones` and appends `record` (the
    /// event recording the removal, action [`REDACTION_RECORD_ACTION`]), in one transaction:
    /// all or nothing. Leaf hashes stay as they are, and so does the tree.
    ///
    /// Refused with [`StoreError::Conflict`] when a tombstone is not one of the event it
    /// replaces (another seq, tenant, id or kept leaf hash), when the event's body is no
    /// longer the one the tombstone was made from, or when it would replace a record.
    /// Answers the stored record.
    async fn redact(
        &self,
        tenant: &str,
        tombstones: Vec<Tombstone>,
        record: PreparedEvent,
    ) -> Result<StoredEvent, StoreError>;

    /// Deletes every tenant's idempotency keys recorded before `before`: a retry with such a
    /// key is then an ordinary append (client ids still make it idempotent).
    async fn sweep(&self, before: Timestamp) -> Result<Swept, StoreError>;

    /// Gives the space of removed bodies back, in steps that let other work run between them
    /// (the embedded engine's SQLite vacuums incrementally; PostgreSQL vacuums the events).
    async fn reclaim(&self) -> Result<(), StoreError>;
}

/// What is removed from the events, and on whose record.
#[derive(Debug, Clone)]
pub struct Removal {
    /// Why.
    pub reason: RedactionReason,
    /// The fields to remove.
    pub fields: Vec<Erasable>,
    /// The id the record will have (chosen before it is made, as the tombstones name it).
    pub record: String,
    /// When.
    pub at: Timestamp,
}

impl Removal {
    /// A removal recorded by a new record id.
    pub fn new(reason: RedactionReason, fields: Vec<Erasable>, at: Timestamp) -> Self {
        Self {
            reason,
            fields,
            record: ulid::Ulid::new().to_string(),
            at,
        }
    }

    /// The tombstone `stored` becomes, or `None` when it has none of the fields (or is a
    /// record, which is never removed). A tombstone removed from again keeps the first leaf
    /// hash, and names the earlier record with the digest of the tombstone it made.
    pub fn tombstone(&self, stored: &StoredEvent) -> Result<Option<Tombstone>, StoreError> {
        if stored.event.action == REDACTION_RECORD_ACTION {
            return Ok(None);
        }
        let mut event = stored.event.clone();
        let prior = event.redaction.take();
        let mut removed: BTreeSet<String> = prior
            .as_ref()
            .map(|p| p.removed.iter().cloned().collect())
            .unwrap_or_default();
        let mut any = false;
        for field in &self.fields {
            if field.remove_from(&mut event) {
                any = true;
                removed.insert(field.path().to_owned());
            }
        }
        if !any {
            return Ok(None);
        }
        let replaces = sha256(&stored.canonical);
        let (leaf_hash, earlier) = match prior {
            Some(prior) => {
                let mut earlier = prior.earlier;
                earlier.push(EarlierRedaction {
                    record: prior.record,
                    tombstone_sha256: hex::encode(replaces),
                });
                (prior.leaf_hash, earlier)
            }
            None => (hex::encode(stored.leaf_hash), Vec::new()),
        };
        event.redaction = Some(Redaction {
            reason: self.reason,
            removed: removed.into_iter().collect(),
            record: self.record.clone(),
            redacted_at: self.at,
            leaf_hash,
            earlier,
        });
        let body = event
            .canonical_bytes()
            .map_err(|e| StoreError::Internal(format!("a tombstone has no canonical form: {e}")))?;
        Ok(Some(Tombstone {
            seq: stored.event.seq,
            body,
            replaces,
        }))
    }

    /// The record of this removal of `tombstones` (in seq order) from `tenant`'s trail, by
    /// `actor`, with `details` (the job, the policy) added to its metadata.
    pub fn record(
        &self,
        tenant: &str,
        actor: &Value,
        tombstones: &[Tombstone],
        details: Map<String, Value>,
    ) -> Result<PreparedEvent, StoreError> {
        let mut digest = RecordDigest::default();
        for tombstone in tombstones {
            digest.add(tombstone.seq, &sha256(&tombstone.body));
        }
        let (count, sha) = digest.finish();
        let mut metadata = details;
        metadata.insert("reason".into(), self.reason.as_str().into());
        metadata.insert(
            "removed".into(),
            self.fields.iter().map(|f| f.path()).collect(),
        );
        metadata.insert("tombstones".into(), count.into());
        metadata.insert("tombstones_sha256".into(), hex::encode(sha).into());
        if let (Some(first), Some(last)) = (tombstones.first(), tombstones.last()) {
            metadata.insert("first_seq".into(), first.seq.into());
            metadata.insert("last_seq".into(), last.seq.into());
        }
        let raw = json!({
            "id": self.record,
            "action": REDACTION_RECORD_ACTION,
            "category": "delete",
            "actor": actor,
            "description": format!(
                "{count} events lost {} ({})",
                self.fields.iter().map(|f| f.path()).collect::<Vec<_>>().join(", "),
                self.reason.as_str()
            ),
            "metadata": metadata,
        });
        prepare_redaction_record(&raw, tenant, self.at)
            .map_err(|e| StoreError::Internal(format!("a redaction record is invalid: {e:?}")))
    }
}

/// What a record holds of its tombstones: their number and the SHA-256 over, for each in seq
/// order, its seq (8 bytes, big-endian) and the SHA-256 of its bytes.
#[derive(Default)]
pub struct RecordDigest {
    hasher: Sha256,
    count: u64,
}

impl RecordDigest {
    /// Adds the tombstone at `seq` whose bytes hash to `tombstone_sha256`.
    pub fn add(&mut self, seq: u64, tombstone_sha256: &Hash) {
        self.hasher.update(seq.to_be_bytes());
        self.hasher.update(tombstone_sha256);
        self.count += 1;
    }

    /// The number of tombstones and the digest.
    pub fn finish(self) -> (u64, Hash) {
        (self.count, self.hasher.finalize().into())
    }
}

/// SHA-256 of `bytes`.
pub fn sha256(bytes: &[u8]) -> Hash {
    Sha256::digest(bytes).into()
}

/// Checks, before a store writes it, that `record` is a record of a removal from `tenant`'s
/// trail.
pub fn check_record(tenant: &str, record: &PreparedEvent) -> Result<(), StoreError> {
    if record.event.tenant != tenant || record.event.action != REDACTION_RECORD_ACTION {
        return Err(StoreError::Internal(format!(
            "a removal from {tenant}'s trail must be recorded by a {REDACTION_RECORD_ACTION} event of it"
        )));
    }
    Ok(())
}

/// Checks, before a store writes it, that `tombstone` belongs in place of the stored event
/// with this `id`, stored `leaf` hash and `stored_body`: it names the same seq, tenant and id,
/// keeps the same leaf hash, and was made from the body stored now.
pub fn check_replacement(
    tombstone: &Tombstone,
    tenant: &str,
    id: &str,
    leaf: &[u8],
    stored_body: &[u8],
) -> Result<(), StoreError> {
    let conflict =
        |why: &str| StoreError::Conflict(format!("the tombstone for seq {} {why}", tombstone.seq));
    if sha256(stored_body) != tombstone.replaces {
        return Err(conflict("was made from another version of the event"));
    }
    let checked = crate::verify::check_row(&tombstone.body, leaf, tombstone.seq, tenant, id)
        .map_err(|why| conflict(&why))?;
    if checked.tombstone.is_none() {
        return Err(conflict("is not a tombstone"));
    }
    let was_record = crate::verify::check_row(stored_body, leaf, tombstone.seq, tenant, id)
        .is_ok_and(|row| row.record.is_some());
    if was_record {
        return Err(conflict("would remove a redaction record"));
    }
    Ok(())
}
