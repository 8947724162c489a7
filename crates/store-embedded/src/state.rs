//! What readers and the writer share about each tenant's ledger.
//!
//! The writer is the only one to change a tenant's tree. It publishes a new `committed` size only
//! after the transaction that stored those leaves has committed, and readers never look past
//! `committed`, so a reader never sees a leaf that a crash could still take back.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;

use tokio::sync::watch;
use trailkeep_store::SignedCheckpoint;

use crate::search::Coverage;
use crate::tree::UpperLevels;

/// One tenant's shared ledger state.
#[derive(Debug)]
pub struct TenantState {
    /// Row id in the `tenants` table.
    pub id: i64,
    /// Number of committed (acknowledged) events.
    committed: AtomicU64,
    /// Number of events (seqs `0..indexed`) the query index's newest commit covers.
    indexed: AtomicU64,
    /// The earliest and latest `occurred` among them.
    indexed_span: RwLock<Option<(i64, i64)>>,
    /// Complete subtrees at level 8 and above (may run ahead of `committed` inside a batch).
    pub upper: RwLock<UpperLevels>,
    /// The newest signed checkpoint.
    pub checkpoint: RwLock<Option<SignedCheckpoint>>,
}

impl TenantState {
    /// State for a tenant with `size` committed events.
    pub fn new(
        id: i64,
        size: u64,
        upper: UpperLevels,
        checkpoint: Option<SignedCheckpoint>,
    ) -> Self {
        Self {
            id,
            committed: AtomicU64::new(size),
            indexed: AtomicU64::new(0),
            indexed_span: RwLock::new(None),
            upper: RwLock::new(upper),
            checkpoint: RwLock::new(checkpoint),
        }
    }

    /// Number of committed events: the largest tree size readers may use.
    pub fn committed(&self) -> u64 {
        self.committed.load(Ordering::Acquire)
    }

    /// Publishes a new committed size (writer only, after commit).
    pub fn set_committed(&self, size: u64) {
        self.committed.store(size, Ordering::Release);
    }

    /// What the query index covers: the watermark (never above
    /// [`committed`](Self::committed)), and a span that holds every covered event (read after
    /// the watermark, so it is at least the span published with it: spans only grow).
    pub fn indexed(&self) -> Coverage {
        let below = self.indexed.load(Ordering::Acquire);
        let span = *self.indexed_span.read().unwrap_or_else(|p| p.into_inner());
        Coverage { below, span }
    }

    /// Publishes what the index now covers (indexer only, after the index commit is visible):
    /// the span first, then the watermark, never above [`committed`](Self::committed), since an
    /// index that claims more than the database holds must not answer for seqs the database
    /// does not have.
    pub fn set_indexed(&self, coverage: Coverage) {
        *self.indexed_span.write().unwrap_or_else(|p| p.into_inner()) = coverage.span;
        self.indexed
            .store(coverage.below.min(self.committed()), Ordering::Release);
    }

    /// The newest signed checkpoint, whatever it covers.
    pub fn newest_checkpoint(&self) -> Option<SignedCheckpoint> {
        self.checkpoint
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

/// Most tenants with a commit watch before watches nobody holds are dropped.
const SWEEP_WATCHES_PAST: usize = 1024;

/// Every known tenant, by name, and a commit watch per tenant that someone listens to.
#[derive(Debug, Default)]
pub struct Registry {
    tenants: RwLock<HashMap<String, Arc<TenantState>>>,
    /// Bumped after each commit that wrote the tenant's events or published its checkpoint.
    watches: Mutex<HashMap<String, watch::Sender<u64>>>,
    /// When this process last signed a checkpoint of any tenant.
    last_signed: Mutex<Option<Instant>>,
}

impl Registry {
    /// Notes that a checkpoint was just signed (writer only).
    pub fn note_signed(&self) {
        *self.last_signed.lock().unwrap_or_else(|p| p.into_inner()) = Some(Instant::now());
    }

    /// When this process last signed a checkpoint.
    pub fn last_signed(&self) -> Option<Instant> {
        *self.last_signed.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The tenant's state, if it has ever stored an event.
    pub fn get(&self, name: &str) -> Option<Arc<TenantState>> {
        self.tenants
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(name)
            .cloned()
    }

    /// Every tenant, with its name.
    pub fn all(&self) -> Vec<(String, Arc<TenantState>)> {
        self.tenants
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|(name, state)| (name.clone(), state.clone()))
            .collect()
    }

    /// A receiver that changes after every commit that touches `tenant` (its events, or its
    /// checkpoint), whether or not the tenant has events yet.
    pub fn watch(&self, tenant: &str) -> watch::Receiver<u64> {
        let mut watches = self.watches.lock().unwrap_or_else(|p| p.into_inner());
        if watches.len() >= SWEEP_WATCHES_PAST {
            watches.retain(|_, sender| sender.receiver_count() > 0);
        }
        watches
            .entry(tenant.to_owned())
            .or_insert_with(|| watch::channel(0).0)
            .subscribe()
    }

    /// Wakes whoever watches `tenant` (writer only, after a commit).
    pub fn notify(&self, tenant: &str) {
        let watches = self.watches.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(sender) = watches.get(tenant) {
            sender.send_modify(|n| *n = n.wrapping_add(1));
        }
    }

    /// Registers a tenant (writer and start-up only).
    pub fn insert(&self, name: String, state: Arc<TenantState>) {
        self.tenants
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(name, state);
    }
}
