//! The storage contract every Trailkeep engine implements, and the conformance suite that checks
//! it (behind the `testsuite` feature).
//!
//! The contract, in short (DESIGN section 4):
//! - `append` returns only after the batch is durable and sequenced; a batch is all-or-nothing.
//! - Reads see every event acknowledged before they began (read-your-writes).
//! - Each tenant has its own ledger: `seq` is dense from 0 and is the leaf index in the tenant's
//!   Merkle tree, so a tenant's trail verifies on its own.
//! - Events are never updated; retention and erasure replace a body by a tombstone that keeps
//!   the leaf hash ([`redaction`]).
//!
//! The server holds an `Arc<dyn EventStore>`, so the trait is object-safe (`async_trait`) and says
//! nothing about SQLite or PostgreSQL.

#![deny(missing_docs)]

mod credentials;
pub mod documents;
mod error;
pub mod jobs;
pub mod lease;
pub mod quota;
pub mod redaction;
pub mod slots;
#[cfg(feature = "testsuite")]
pub mod testsuite;
pub mod transfer;
mod types;
pub mod verify;

pub use credentials::{ApiKeyRecord, KeyStore};
pub use documents::{Document, DocumentStore, DocumentWrite, Expect};
pub use error::StoreError;
pub use jobs::{JobError, JobRecord, JobRefusal, JobState, JobStore, NewJob};
pub use redaction::{RedactionStore, Tombstone};
pub use types::{
    AppendOutcome, AppendRequest, CanonicalEvent, GroupBy, IdempotencyKey, InclusionProof,
    MAX_GROUP_VALUES, Page, Receipt, SignedCheckpoint, Stats, StoredEvent, Vitals,
};

use async_trait::async_trait;
use tokio::sync::watch;
use trailkeep_event::{Filter, Query};
use trailkeep_ledger::Hash;

/// Everything the server needs from an engine: the events, the credentials, the jobs, the
/// background features' documents and the removal of expired or erased events.
pub trait Store: EventStore + KeyStore + JobStore + DocumentStore + RedactionStore {}

impl<T: EventStore + KeyStore + JobStore + DocumentStore + RedactionStore> Store for T {}

/// A durable, tamper-evident home for audit events.
#[async_trait]
pub trait EventStore: Send + Sync + 'static {
    /// Stores `request.events` for `tenant` as one all-or-nothing batch and returns once they are
    /// durable, with a receipt per event in input order.
    ///
    /// An event whose client-supplied id already exists with the same content is not stored
    /// again: its receipt is the original's. With the same id but other content the whole batch
    /// fails with [`StoreError::DuplicateId`]. A repeated idempotency key with the same request
    /// hash replays the first answer; with another hash it fails with
    /// [`StoreError::IdempotencyConflict`].
    async fn append(
        &self,
        tenant: &str,
        request: AppendRequest,
    ) -> Result<AppendOutcome, StoreError>;

    /// The answer an earlier append with idempotency key `key` gave, when the key was used with
    /// the same request hash (`replayed` set); [`StoreError::IdempotencyConflict`] when it was
    /// used with another; `None` when it was not used. Read without taking a writer's time, so
    /// that retries of large batches cost a lookup; [`append`](Self::append) decides the same
    /// way for a key this misses in a race.
    async fn replay(
        &self,
        tenant: &str,
        key: &IdempotencyKey,
    ) -> Result<Option<AppendOutcome>, StoreError>;

    /// The tenant's event with this id.
    async fn get(&self, tenant: &str, id: &str) -> Result<Option<StoredEvent>, StoreError>;

    /// Up to `max` of the tenant's events from seq `from` on, in seq order (the order they were
    /// acknowledged), among those committed.
    async fn scan(
        &self,
        tenant: &str,
        from: u64,
        max: usize,
    ) -> Result<Vec<StoredEvent>, StoreError>;

    /// What [`scan`](Self::scan) answers, as stored bytes without the parsed events: for
    /// streaming whole events (an export) at the speed of the storage.
    async fn scan_canonical(
        &self,
        tenant: &str,
        from: u64,
        max: usize,
    ) -> Result<Vec<CanonicalEvent>, StoreError>;

    /// A receiver whose value changes after every committed append to `tenant`'s ledger (and
    /// every new checkpoint of it), whether or not the tenant has events yet: live readers wait
    /// on it, then [`scan`](Self::scan) from where they are. Other tenants' writes do not wake
    /// it.
    fn commits(&self, tenant: &str) -> watch::Receiver<u64>;

    /// Counts over the tenant's events matching `filter`, grouped by each of `group_by`.
    async fn stats(
        &self,
        tenant: &str,
        filter: &Filter,
        group_by: &[GroupBy],
    ) -> Result<Stats, StoreError>;

    /// The tenant's event with this seq.
    async fn get_by_seq(&self, tenant: &str, seq: u64) -> Result<Option<StoredEvent>, StoreError>;

    /// One page of the tenant's events matching `query`.
    async fn query(&self, tenant: &str, query: &Query) -> Result<Page, StoreError>;

    /// The same page as [`query`](Self::query), with each event's stored bytes and not its
    /// parsed form: what a listing sends on as it is. An engine that can skip parsing the
    /// page's events answers it itself.
    async fn query_canonical(
        &self,
        tenant: &str,
        query: &Query,
    ) -> Result<Page<CanonicalEvent>, StoreError> {
        let page = self.query(tenant, query).await?;
        Ok(Page {
            events: page.events.into_iter().map(CanonicalEvent::from).collect(),
            next: page.next,
            total: page.total,
        })
    }

    /// Every tenant with a ledger here, in name order: what background work that follows
    /// every tenant's trail (detection) walks.
    async fn tenants(&self) -> Result<Vec<String>, StoreError>;

    /// The number of events in the tenant's ledger (its tree size).
    async fn tree_size(&self, tenant: &str) -> Result<u64, StoreError>;

    /// The tenant's newest signed checkpoint, at once; `None` for a tenant with no events.
    /// Checkpoints are signed at most once a second per tenant, so it may not cover the events
    /// of the last second; asking never makes the engine sign sooner.
    async fn checkpoint(&self, tenant: &str) -> Result<Option<SignedCheckpoint>, StoreError>;

    /// A signed checkpoint covering at least `size` events of the tenant, waiting (a second or
    /// so) for the next one when the newest does not; [`StoreError::OutOfRange`] when the tree
    /// is smaller than `size`.
    async fn checkpoint_covering(
        &self,
        tenant: &str,
        size: u64,
    ) -> Result<SignedCheckpoint, StoreError>;

    /// The inclusion proof of leaf `seq` in the tenant's tree of size `tree_size`.
    async fn inclusion_proof(
        &self,
        tenant: &str,
        seq: u64,
        tree_size: u64,
    ) -> Result<InclusionProof, StoreError>;

    /// The consistency proof between the tenant's trees of sizes `first` and `second`.
    async fn consistency_proof(
        &self,
        tenant: &str,
        first: u64,
        second: u64,
    ) -> Result<Vec<Hash>, StoreError>;

    /// The checkpoint verification key, in the C2SP vkey format.
    fn vkey(&self) -> String;

    /// `text` (lines, each ending in a newline) as a C2SP signed note, signed with the ledger's
    /// key: what export manifests and reports are signed with, so that one vkey checks them
    /// and the checkpoints alike.
    fn sign_note(&self, text: &str) -> Result<String, StoreError>;

    /// Queue depth, index lag and checkpoint freshness, for `/readyz` and `/metrics`.
    fn vitals(&self) -> Vitals;
}
