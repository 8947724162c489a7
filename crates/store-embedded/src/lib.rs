//! The embedded engine: SQLite (WAL) as the system of record, one writer thread with group
//! commit, one Merkle ledger per tenant, signed checkpoints. This is what `trailkeep serve` runs
//! on by default.
//!
//! A data directory holds `trailkeep.db` (events, block roots, checkpoints, idempotency keys) and
//! `signing.key` (the checkpoint key, mode 0600). Opening it recovers every tenant's tree (see
//! `recovery`), then starts the writer thread. `verify_data_dir` checks a directory offline.

#![deny(missing_docs)]

mod credentials;
mod keys;
mod read;
mod recovery;
mod rows;
mod schema;
mod search;
mod state;
mod tree;
mod verify;
mod writer;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::{oneshot, watch};
use trailkeep_event::{Filter, Query};
use trailkeep_ledger::{Hash, NoteSigner};
use trailkeep_store::{
    AppendOutcome, AppendRequest, EventStore, GroupBy, InclusionProof, Page, SignedCheckpoint,
    Stats, StoreError, StoredEvent, Vitals,
};

pub use keys::KEY_FILE;
pub use schema::FORMAT_VERSION;
pub use search::rebuild as rebuild_index;
pub use verify::{TenantSummary, VerifyError, VerifyFailure, VerifyReport, verify_data_dir};

use crate::read::Readers;
use crate::search::{IndexerHandle, SearchIndex, spawn_indexer};
use crate::state::{Registry, TenantState};
use crate::tree::ReaderSource;
use crate::writer::{Job, Writer};

/// File name of the database inside the data directory.
pub const DB_FILE: &str = "trailkeep.db";
/// Folder of the query index inside the data directory.
pub const INDEX_DIR: &str = "index";
/// File a running store holds an exclusive lock on, so two processes never write one ledger.
pub const LOCK_FILE: &str = "trailkeep.lock";

/// Takes the data directory's exclusive lock, or says who holds it.
fn lock_data_dir(dir: &Path) -> Result<std::fs::File, StoreError> {
    let path = dir.join(LOCK_FILE);
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| StoreError::Unavailable(format!("open {}: {e}", path.display())))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(StoreError::Unavailable(format!(
            "another trailkeep process is using {} (stop it first, or use its HTTP API)",
            dir.display()
        ))),
        Err(std::fs::TryLockError::Error(e)) => Err(StoreError::Unavailable(format!(
            "lock {}: {e}",
            path.display()
        ))),
    }
}

/// Opens the query index and sets each tenant's watermark; an index that claims more events
/// than a tenant has (a database restored from an older copy) is discarded and rebuilt.
fn open_index(
    dir: &Path,
    registry: &Registry,
) -> Result<(SearchIndex, HashMap<i64, u64>), StoreError> {
    let index_dir = dir.join(INDEX_DIR);
    let (mut search, mut watermarks) = SearchIndex::open_or_create(&index_dir)?;
    let tenants = registry.all();
    let ahead = tenants.iter().any(|(_, state)| {
        watermarks
            .get(&state.id)
            .is_some_and(|&w| w > state.committed())
    });
    if ahead {
        tracing::warn!("the query index is ahead of the events; rebuilding it");
        std::fs::remove_dir_all(&index_dir)
            .map_err(|e| StoreError::Unavailable(format!("remove {}: {e}", index_dir.display())))?;
        (search, watermarks) = SearchIndex::open_or_create(&index_dir)?;
    }
    let behind: u64 = tenants
        .iter()
        .map(|(_, state)| state.committed() - watermarks.get(&state.id).copied().unwrap_or(0))
        .sum();
    if behind > 0 {
        tracing::info!(
            events = behind,
            "the query index will catch up in the background"
        );
    }
    for (_, state) in tenants {
        state.set_indexed(watermarks.get(&state.id).copied().unwrap_or(0));
    }
    Ok((search, watermarks))
}

/// Counts one append as in flight until dropped (also when the caller gives up waiting).
struct InFlight<'a>(&'a AtomicU64);

impl<'a> InFlight<'a> {
    fn count(counter: &'a AtomicU64) -> Self {
        counter.fetch_add(1, Ordering::Relaxed);
        Self(counter)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Settings of an embedded store.
#[derive(Debug, Clone)]
pub struct Options {
    /// Name of the signing key created on first start; checkpoint origins are `<name>/<tenant>`.
    pub key_name: String,
    /// Appends that may wait for the writer before new ones are refused as overload.
    pub queue_capacity: usize,
    /// Most events the writer puts in one transaction.
    pub max_group_events: usize,
    /// Most reads running at once.
    pub max_readers: usize,
    /// How often the query index takes in new events (and commits them).
    pub index_interval: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            key_name: "trailkeep".into(),
            queue_capacity: 4096,
            max_group_events: 50_000,
            max_readers: 16,
            index_interval: Duration::from_millis(250),
        }
    }
}

/// The embedded engine.
pub struct EmbeddedStore {
    jobs: SyncSender<Job>,
    writer: Mutex<Option<JoinHandle<()>>>,
    registry: Arc<Registry>,
    readers: Arc<Readers>,
    search: Arc<SearchIndex>,
    indexer: Mutex<Option<IndexerHandle>>,
    commits: watch::Receiver<u64>,
    vkey: String,
    lock: Mutex<Option<std::fs::File>>,
    queue_capacity: usize,
    /// Appends submitted and not yet answered.
    in_flight: AtomicU64,
}

impl EmbeddedStore {
    /// Opens (creating if needed) the data directory `dir`, recovers every tenant's ledger and
    /// starts the writer thread.
    pub fn open(dir: &Path, options: Options) -> Result<Self, StoreError> {
        std::fs::create_dir_all(dir)
            .map_err(|e| StoreError::Unavailable(format!("create {}: {e}", dir.display())))?;
        let lock = lock_data_dir(dir)?;
        let signer: NoteSigner =
            keys::load_or_create(dir, &options.key_name).map_err(StoreError::Unavailable)?;
        let path: PathBuf = dir.join(DB_FILE);
        let mut conn = schema::open(&path)
            .map_err(|e| StoreError::Unavailable(format!("open {}: {e}", path.display())))?;
        schema::migrate(&mut conn).map_err(StoreError::Unavailable)?;
        let registry = Arc::new(Registry::default());
        let tenants = recovery::recover(&mut conn, &signer, &registry)?;
        let vkey = signer.verifier().to_vkey();
        let (search, watermarks) = open_index(dir, &registry)?;
        let search = Arc::new(search);
        let indexer = spawn_indexer(
            search.clone(),
            path.clone(),
            registry.clone(),
            watermarks,
            options.index_interval,
        )?;
        let (jobs, receiver) = sync_channel(options.queue_capacity.max(1));
        let (commits, commits_seen) = watch::channel(0);
        let writer = Writer::new(
            conn,
            signer,
            registry.clone(),
            tenants,
            options.max_group_events,
            commits,
        );
        let handle = std::thread::Builder::new()
            .name("trailkeep-writer".into())
            .spawn(move || writer.run(receiver))
            .map_err(|e| StoreError::Unavailable(format!("start the writer: {e}")))?;
        Ok(Self {
            jobs,
            writer: Mutex::new(Some(handle)),
            registry,
            readers: Arc::new(Readers::new(path, options.max_readers)),
            search,
            indexer: Mutex::new(Some(indexer)),
            commits: commits_seen,
            vkey,
            lock: Mutex::new(Some(lock)),
            queue_capacity: options.queue_capacity.max(1),
            in_flight: AtomicU64::new(0),
        })
    }

    /// Finishes queued writes, signs pending checkpoints and stops the writer. Later writes fail
    /// with [`StoreError::Unavailable`].
    pub fn shutdown(&self) {
        let handle = self.writer.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(handle) = handle {
            let _ = self.jobs.send(Job::Shutdown);
            let _ = handle.join();
        }
        let indexer = self
            .indexer
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(mut indexer) = indexer {
            indexer.shutdown();
        }
        // Dropping the file releases the lock: the directory may be opened again.
        drop(self.lock.lock().unwrap_or_else(|p| p.into_inner()).take());
    }

    /// How many committed events the query index does not cover yet, over all tenants (they
    /// are still found, by scanning; this is the index's lag, for monitoring and benchmarks).
    pub fn index_lag(&self) -> u64 {
        self.registry
            .all()
            .iter()
            .map(|(_, s)| s.committed().saturating_sub(s.indexed()))
            .sum()
    }

    fn submit(&self, job: Job) -> Result<(), StoreError> {
        self.jobs.try_send(job).map_err(|e| match e {
            TrySendError::Full(_) => StoreError::Overloaded,
            TrySendError::Disconnected(_) => {
                StoreError::Unavailable("the store is shut down".into())
            }
        })
    }

    fn tenant(&self, name: &str) -> Option<Arc<TenantState>> {
        self.registry.get(name)
    }

    /// Runs `read` over the tenant's committed tree, after `check` accepted the committed size
    /// (or explained why the request is out of range).
    async fn read_tree<T: Send + 'static>(
        &self,
        tenant: &str,
        check: impl FnOnce(u64) -> Result<(), String>,
        read: impl FnOnce(&mut ReaderSource<'_>) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let state = self.tenant(tenant);
        check(state.as_ref().map_or(0, |s| s.committed())).map_err(StoreError::OutOfRange)?;
        let Some(state) = state else {
            return Err(StoreError::OutOfRange("the tenant has no events".into()));
        };
        self.readers
            .run(move |conn| {
                let upper = state.upper.read().unwrap_or_else(|p| p.into_inner());
                read(&mut ReaderSource {
                    conn,
                    tenant_id: state.id,
                    upper: &upper,
                })
            })
            .await
    }
}

impl Drop for EmbeddedStore {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn closed<T>(_: T) -> StoreError {
    StoreError::Unavailable("the store shut down before answering".into())
}

#[async_trait]
impl EventStore for EmbeddedStore {
    async fn append(
        &self,
        tenant: &str,
        request: AppendRequest,
    ) -> Result<AppendOutcome, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.submit(Job::Append {
            tenant: tenant.to_owned(),
            request,
            reply,
        })?;
        let _counted = InFlight::count(&self.in_flight);
        answer.await.map_err(closed)?
    }

    async fn get(&self, tenant: &str, id: &str) -> Result<Option<StoredEvent>, StoreError> {
        let Some(state) = self.tenant(tenant) else {
            return Ok(None);
        };
        let id = id.to_owned();
        self.readers
            .run(move |conn| {
                let event = rows::by_id(conn, state.id, &id)?;
                Ok(event.filter(|e| e.event.seq < state.committed()))
            })
            .await
    }

    async fn get_by_seq(&self, tenant: &str, seq: u64) -> Result<Option<StoredEvent>, StoreError> {
        let Some(state) = self.tenant(tenant) else {
            return Ok(None);
        };
        if seq >= state.committed() {
            return Ok(None);
        }
        self.readers
            .run(move |conn| rows::by_seq(conn, state.id, seq))
            .await
    }

    async fn query(&self, tenant: &str, query: &Query) -> Result<Page, StoreError> {
        let Some(state) = self.tenant(tenant) else {
            return Ok(Page::default());
        };
        let query = query.clone();
        let search = self.search.clone();
        self.readers
            .run(move |conn| {
                // The watermark first: it never passes `committed`, read second.
                let indexed = state.indexed();
                let committed = state.committed();
                read::query_page(conn, &search, state.id, indexed, committed, &query)
            })
            .await
    }

    async fn scan(
        &self,
        tenant: &str,
        from: u64,
        max: usize,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        let Some(state) = self.tenant(tenant) else {
            return Ok(Vec::new());
        };
        let to = state.committed().min(from.saturating_add(max as u64));
        if from >= to {
            return Ok(Vec::new());
        }
        self.readers
            .run(move |conn| rows::range(conn, state.id, from, to))
            .await
    }

    fn commits(&self) -> watch::Receiver<u64> {
        self.commits.clone()
    }

    async fn stats(
        &self,
        tenant: &str,
        filter: &Filter,
        group_by: &[GroupBy],
    ) -> Result<Stats, StoreError> {
        let Some(state) = self.tenant(tenant) else {
            return Ok(search::Tally::default().finish_with(group_by));
        };
        let filter = filter.clone();
        let group_by = group_by.to_vec();
        let search = self.search.clone();
        self.readers
            .run(move |conn| {
                let indexed = state.indexed();
                let committed = state.committed();
                let mut tally = search::tally(&search, state.id, indexed, &filter, &group_by)?;
                read::for_each_match(conn, state.id, indexed, committed, &filter, |e| {
                    tally.add_event(e)
                })?;
                Ok(tally.finish())
            })
            .await
    }

    async fn tree_size(&self, tenant: &str) -> Result<u64, StoreError> {
        Ok(self.tenant(tenant).map_or(0, |s| s.committed()))
    }

    async fn checkpoint(&self, tenant: &str) -> Result<Option<SignedCheckpoint>, StoreError> {
        let Some(state) = self.tenant(tenant) else {
            return Ok(None);
        };
        if let Some(checkpoint) = state.fresh_checkpoint() {
            return Ok(Some(checkpoint));
        }
        let (reply, answer) = oneshot::channel();
        self.submit(Job::Checkpoint {
            tenant: tenant.to_owned(),
            reply,
        })?;
        answer.await.map_err(closed)?
    }

    async fn inclusion_proof(
        &self,
        tenant: &str,
        seq: u64,
        tree_size: u64,
    ) -> Result<InclusionProof, StoreError> {
        self.read_tree(
            tenant,
            |committed| {
                (seq < tree_size && tree_size <= committed).then_some(()).ok_or_else(|| {
                    format!("seq must be below tree_size, and tree_size at most the tree's size {committed}")
                })
            },
            move |source| {
                let hashes = trailkeep_ledger::inclusion_proof(&mut *source, seq, tree_size)
                    .map_err(proof_error)?;
                let leaf_hash = tree::read_leaf_hashes(source.conn, source.tenant_id, seq, 1)?[0];
                Ok(InclusionProof {
                    seq,
                    tree_size,
                    leaf_hash,
                    hashes,
                })
            },
        )
        .await
    }

    async fn consistency_proof(
        &self,
        tenant: &str,
        first: u64,
        second: u64,
    ) -> Result<Vec<Hash>, StoreError> {
        self.read_tree(
            tenant,
            |committed| {
                (first > 0 && first <= second && second <= committed)
                    .then_some(())
                    .ok_or_else(|| {
                        format!("need 0 < first <= second <= the tree's size {committed}")
                    })
            },
            move |source| {
                trailkeep_ledger::consistency_proof(source, first, second).map_err(proof_error)
            },
        )
        .await
    }

    fn vkey(&self) -> String {
        self.vkey.clone()
    }

    fn vitals(&self) -> Vitals {
        let tenants = self.registry.all();
        let unsigned_events = tenants
            .iter()
            .map(|(_, state)| {
                let signed = state
                    .checkpoint
                    .read()
                    .unwrap_or_else(|p| p.into_inner())
                    .as_ref()
                    .map_or(0, |c| c.size);
                state.committed().saturating_sub(signed)
            })
            .sum();
        Vitals {
            write_queue_depth: self.in_flight.load(Ordering::Relaxed),
            write_queue_capacity: self.queue_capacity as u64,
            index_lag: self.index_lag(),
            unsigned_events,
            checkpoint_age_seconds: self
                .registry
                .last_signed()
                .map(|at| at.elapsed().as_secs_f64()),
        }
    }
}

fn proof_error(e: trailkeep_ledger::ProofError<StoreError>) -> StoreError {
    match e {
        trailkeep_ledger::ProofError::OutOfRange { reason } => StoreError::OutOfRange(reason),
        trailkeep_ledger::ProofError::Source(e) => e,
    }
}
