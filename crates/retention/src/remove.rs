//! Writing tombstones as retention and erasure both do: in batches of at most
//! [`MAX_TOMBSTONES_PER_RECORD`], each written with the record that vouches for it, and made
//! again from what is stored when another removal changed one of its events meanwhile.

use serde_json::{Map, Value};
use trailkeep_event::{Erasable, RedactionReason, Timestamp};
use trailkeep_store::redaction::{MAX_TOMBSTONES_PER_RECORD, Removal};
use trailkeep_store::{Store, StoreError, StoredEvent, Tombstone};

use crate::Actor;

/// How many times a batch is made again after another removal changed one of its events.
const RETRIES: usize = 3;

/// Removes fields from events, batch by batch.
pub struct Remover<'a> {
    store: &'a dyn Store,
    tenant: &'a str,
    actor: Actor,
    reason: RedactionReason,
    fields: Vec<Erasable>,
    details: Map<String, Value>,
    removal: Removal,
    pending: Vec<Tombstone>,
    /// Events that became (or became more of) tombstones so far.
    pub removed: u64,
    /// The ids of the records written so far.
    pub records: Vec<String>,
}

impl<'a> Remover<'a> {
    /// A remover of `fields` from `tenant`'s events for `reason`, recorded as done by `actor`
    /// with `details` (the job, the policy) in each record's metadata.
    pub fn new(
        store: &'a dyn Store,
        tenant: &'a str,
        actor: Actor,
        reason: RedactionReason,
        fields: Vec<Erasable>,
        details: Map<String, Value>,
    ) -> Self {
        let removal = Removal::new(reason, fields.clone(), Timestamp::now());
        Self {
            store,
            tenant,
            actor,
            reason,
            fields,
            details,
            removal,
            pending: Vec::new(),
            removed: 0,
            records: Vec::new(),
        }
    }

    /// Adds `stored`'s tombstone, when it has any of the fields; writes a full batch. Answers
    /// whether the event has something to remove.
    pub async fn push(&mut self, stored: &StoredEvent) -> Result<bool, StoreError> {
        let Some(tombstone) = self.removal.tombstone(stored)? else {
            return Ok(false);
        };
        self.pending.push(tombstone);
        if self.pending.len() >= MAX_TOMBSTONES_PER_RECORD {
            self.flush().await?;
        }
        Ok(true)
    }

    /// Writes the batch so far with its record.
    pub async fn flush(&mut self) -> Result<(), StoreError> {
        let mut attempt = 0;
        while !self.pending.is_empty() {
            let record = self.removal.record(
                self.tenant,
                &self.actor,
                &self.pending,
                self.details.clone(),
            )?;
            match self
                .store
                .redact(self.tenant, self.pending.clone(), record)
                .await
            {
                Ok(_) => {
                    self.removed += self.pending.len() as u64;
                    self.records.push(self.removal.record.clone());
                    self.pending.clear();
                }
                Err(StoreError::Conflict(why)) if attempt < RETRIES => {
                    attempt += 1;
                    tracing::info!(tenant = self.tenant, %why, "a removal met a newer body; making it again");
                    self.remake().await?;
                    continue;
                }
                Err(error) => return Err(error),
            }
            self.removal = Removal::new(self.reason, self.fields.clone(), Timestamp::now());
        }
        Ok(())
    }

    /// Makes the pending batch again from the events as they are stored now.
    async fn remake(&mut self) -> Result<(), StoreError> {
        let seqs: Vec<u64> = self.pending.drain(..).map(|t| t.seq).collect();
        self.removal = Removal::new(self.reason, self.fields.clone(), Timestamp::now());
        for seq in seqs {
            if let Some(stored) = self.store.get_by_seq(self.tenant, seq).await?
                && let Some(tombstone) = self.removal.tombstone(&stored)?
            {
                self.pending.push(tombstone);
            }
        }
        Ok(())
    }
}
