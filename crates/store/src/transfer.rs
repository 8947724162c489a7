//! Moving every tenant from one store to another, of either engine, with seqs, ids and bytes
//! unchanged (`trailkeep migrate --from ... --to ...`), so that every checkpoint signed before
//! the move still verifies after it.
//!
//! An engine reads its own rows as a [`TransferSource`] and writes them as a [`TransferSink`];
//! [`transfer`] moves them tenant by tenant, checking every event as offline verification does
//! (bytes, leaf hash, seq, tenant, id) and every signed checkpoint against the tree it rebuilds,
//! before the sink sees them: a store that does not verify is not copied.

use async_trait::async_trait;
use trailkeep_ledger::{Hash, NoteVerifier};

use crate::verify::{LedgerCheck, TenantSummary, VerifyError, check_row, fail, unreadable};
use crate::{ApiKeyRecord, CanonicalEvent, Document, JobRecord, SignedCheckpoint, StoreError};

/// Events read and written at a time.
pub const CHUNK: usize = 10_000;

/// A stored idempotency key: the answer an append with it gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredIdempotencyKey {
    /// The client's key.
    pub key: String,
    /// SHA-256 of the request it came with.
    pub request_hash: Hash,
    /// The seqs of the answer's events.
    pub seqs: Vec<u64>,
}

/// Everything of a tenant but its events.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TenantRecords {
    /// Every signed checkpoint, by size.
    pub checkpoints: Vec<SignedCheckpoint>,
    /// Its API keys.
    pub api_keys: Vec<ApiKeyRecord>,
    /// Its jobs.
    pub jobs: Vec<JobRecord>,
    /// Its background features' documents.
    pub documents: Vec<Document>,
    /// Its idempotency keys.
    pub idempotency_keys: Vec<StoredIdempotencyKey>,
}

/// A store being read for a move: nothing writes to it meanwhile.
#[async_trait]
pub trait TransferSource: Send {
    /// The verification key its checkpoints are signed with.
    fn vkey(&self) -> String;
    /// Every tenant with a ledger, by name.
    async fn tenants(&mut self) -> Result<Vec<String>, StoreError>;
    /// Up to `max` of the tenant's events from seq `from` on, in seq order, with their ids.
    async fn events(
        &mut self,
        tenant: &str,
        from: u64,
        max: usize,
    ) -> Result<Vec<(String, CanonicalEvent)>, StoreError>;
    /// Everything else of the tenant.
    async fn records(&mut self, tenant: &str) -> Result<TenantRecords, StoreError>;
}

/// A store being filled by a move: empty when it starts.
#[async_trait]
pub trait TransferSink: Send {
    /// Whether it holds no tenant yet (a move only fills an empty store).
    async fn is_empty(&mut self) -> Result<bool, StoreError>;
    /// Takes the checkpoints' verification key as its own.
    async fn adopt_vkey(&mut self, vkey: &str) -> Result<(), StoreError>;
    /// Stores the tenant's next events (checked, in seq order, continuing from the last).
    async fn events(
        &mut self,
        tenant: &str,
        events: &[(String, CanonicalEvent)],
    ) -> Result<(), StoreError>;
    /// Stores the rest of the tenant, after its last event.
    async fn finish_tenant(
        &mut self,
        tenant: &str,
        records: &TenantRecords,
    ) -> Result<(), StoreError>;
}

/// What a move copied.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TransferReport {
    /// Tenants moved.
    pub tenants: u64,
    /// Events moved.
    pub events: u64,
    /// Signed checkpoints moved (each verified against the moved events).
    pub checkpoints: u64,
}

/// Why a move stopped.
#[derive(Debug, thiserror::Error)]
pub enum TransferError {
    /// The source's data does not verify; nothing more was copied.
    #[error("the source does not verify: {0}")]
    Invalid(VerifyError),
    /// A store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Moves every tenant of `source` into the empty `sink`, verifying as it goes; `progress` is
/// told the events moved so far after each chunk.
pub async fn transfer(
    source: &mut dyn TransferSource,
    sink: &mut dyn TransferSink,
    progress: &mut (dyn FnMut(u64) + Send),
) -> Result<TransferReport, TransferError> {
    if !sink.is_empty().await? {
        return Err(StoreError::Unavailable(
            "the destination already holds tenants: a move fills an empty store".into(),
        )
        .into());
    }
    let vkey = source.vkey();
    let verifier = NoteVerifier::from_vkey(&vkey)
        .map_err(|e| TransferError::Invalid(unreadable(format!("the source's vkey: {e}"))))?;
    sink.adopt_vkey(&vkey).await?;
    let mut report = TransferReport::default();
    for tenant in source.tenants().await? {
        let before = report.events;
        let mut overall = |moved: u64| progress(before + moved);
        let summary = transfer_tenant(source, sink, &verifier, &tenant, &mut overall).await?;
        report.tenants += 1;
        report.events += summary.events;
        report.checkpoints += summary.checkpoints;
    }
    Ok(report)
}

/// Moves one tenant of `source` into `sink`, which must not hold it, verifying its events and
/// checkpoints with `verifier` as it goes; `progress` is told the tenant's events moved so far.
pub async fn transfer_tenant(
    source: &mut dyn TransferSource,
    sink: &mut dyn TransferSink,
    verifier: &NoteVerifier,
    tenant: &str,
    progress: &mut (dyn FnMut(u64) + Send),
) -> Result<TenantSummary, TransferError> {
    let records = source.records(tenant).await?;
    let stored = records
        .checkpoints
        .iter()
        .map(|c| (c.size, c.root.to_vec(), c.note.clone()))
        .collect();
    let mut ledger = LedgerCheck::new(tenant, verifier, stored).map_err(TransferError::Invalid)?;
    let mut next = 0u64;
    loop {
        let events = source.events(tenant, next, CHUNK).await?;
        if events.is_empty() {
            break;
        }
        for (id, event) in &events {
            if event.seq != next {
                return Err(TransferError::Invalid(fail(
                    tenant,
                    Some(next),
                    format!("event is missing (the next stored seq is {})", event.seq),
                )));
            }
            let row = check_row(&event.canonical, &event.leaf_hash, next, tenant, id)
                .map_err(|reason| TransferError::Invalid(fail(tenant, Some(next), reason)))?;
            ledger
                .push(&row, |_, _, _| {})
                .map_err(TransferError::Invalid)?;
            next += 1;
        }
        sink.events(tenant, &events).await?;
        progress(next);
    }
    let summary = ledger.finish().map_err(TransferError::Invalid)?;
    sink.finish_tenant(tenant, &records).await?;
    Ok(summary)
}
