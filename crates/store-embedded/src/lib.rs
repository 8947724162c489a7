//! The embedded engine: SQLite (WAL) as the system of record, one writer thread with group
//! commit, one Merkle ledger per tenant, signed checkpoints. This is what `trailkeep serve` runs
//! on by default.
//!
//! A data directory holds `trailkeep.db` (events, block roots, checkpoints, idempotency keys) and
//! `signing.key` (the checkpoint key, mode 0600). Opening it recovers every tenant's tree (see
//! `recovery`), then starts the writer thread. `verify_data_dir` checks a directory offline.

#![deny(missing_docs)]

mod credentials;
mod documents;
pub mod files;
mod high_water;
mod jobs;
mod keys;
mod queue;
mod read;
mod recovery;
mod redaction;
mod rows;
mod schema;
mod search;
mod state;
#[cfg(test)]
mod test_trail;
mod transfer;
mod tree;
mod verify;
mod writer;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Sender, channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::{oneshot, watch};
use trailkeep_event::{Filter, PreparedEvent, Query};
use trailkeep_ledger::{Hash, NoteSigner};
use trailkeep_store::quota::{Place, Quota};
use trailkeep_store::{
    ApiKeyRecord, AppendOutcome, AppendRequest, CanonicalEvent, EventStore, GroupBy,
    IdempotencyKey, InclusionProof, Page, SignedCheckpoint, Stats, StoreError, StoredEvent, Vitals,
};

pub use high_water::{AcceptedRollback, HIGH_WATER_FILE, HighWaterMark, accept_rollback};
pub use keys::KEY_FILE;
pub use schema::FORMAT_VERSION;
pub use search::rebuild as rebuild_index;
pub use trailkeep_store::verify::{TenantSummary, VerifyError, VerifyFailure, VerifyReport};
pub use transfer::EmbeddedTransfer;
pub use verify::verify_data_dir;

use crate::read::Readers;
use crate::search::{Coverage, IndexerHandle, SearchIndex, spawn_indexer};
use crate::state::{Registry, TenantState};
use crate::tree::ReaderSource;
use crate::writer::{Job, KeyChange, Writer, WriterSettings};

/// File name of the database inside the data directory.
pub const DB_FILE: &str = "trailkeep.db";
/// Folder of the query index inside the data directory.
pub const INDEX_DIR: &str = "index";
/// File a running store holds an exclusive lock on, so two processes never write one ledger.
pub const LOCK_FILE: &str = "trailkeep.lock";

/// Connections kept for credential lookups, apart from the read pool.
const KEY_READERS: usize = 2;

/// Longest wait for a checkpoint covering a given size (the writer signs pending tenants at
/// least once per checkpoint interval).
const COVERING_WAIT: Duration = Duration::from_secs(10);

/// Takes the data directory's exclusive lock, or says who holds it.
fn lock_data_dir(dir: &Path) -> Result<std::fs::File, StoreError> {
    use std::os::unix::fs::OpenOptionsExt;
    let path = dir.join(LOCK_FILE);
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
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

/// Opens the query index and sets each tenant's watermark. An index that claims more events
/// than a tenant has, or any events of a tenant id the database does not hold (a database
/// restored from an older copy beside a newer index), is discarded and rebuilt: its terms
/// might otherwise be taken for those of whichever tenant gets that id.
fn open_index(
    dir: &Path,
    registry: &Registry,
) -> Result<(SearchIndex, HashMap<i64, Coverage>), StoreError> {
    let index_dir = dir.join(INDEX_DIR);
    let (mut search, mut covered) = SearchIndex::open_or_create(&index_dir)?;
    let tenants = registry.all();
    let committed: HashMap<i64, u64> = tenants
        .iter()
        .map(|(_, state)| (state.id, state.committed()))
        .collect();
    let ahead = covered
        .iter()
        .any(|(id, c)| c.below > committed.get(id).copied().unwrap_or(0));
    if ahead {
        tracing::warn!("the query index is ahead of the events; rebuilding it");
        std::fs::remove_dir_all(&index_dir)
            .map_err(|e| StoreError::Unavailable(format!("remove {}: {e}", index_dir.display())))?;
        (search, covered) = SearchIndex::open_or_create(&index_dir)?;
    }
    let coverage = |id: i64| covered.get(&id).copied().unwrap_or_default();
    let behind: u64 = tenants
        .iter()
        .map(|(_, state)| state.committed() - coverage(state.id).below)
        .sum();
    if behind > 0 {
        tracing::info!(
            events = behind,
            "the query index will catch up in the background"
        );
    }
    for (_, state) in tenants {
        state.set_indexed(coverage(state.id));
    }
    Ok((search, covered))
}

/// The high-water marks recovery checks the ledgers against. A data directory whose file is
/// missing while its database holds any checkpoint is refused, whatever its format version
/// claims (anyone who can delete the file can also rewrite that number): removing the file
/// would otherwise lift every mark. Starting such a directory, one written before the file
/// existed included, takes `trailkeep accept-rollback --all-tenants`.
fn high_water_marks(
    dir: &Path,
    conn: &rusqlite::Connection,
) -> Result<HashMap<String, high_water::HighWaterMark>, StoreError> {
    if let Some(marks) = high_water::read(dir).map_err(StoreError::Corrupt)? {
        return Ok(marks);
    }
    let signed: i64 = conn
        .query_row("SELECT COUNT(*) FROM checkpoints", [], |r| r.get(0))
        .map_err(|e| StoreError::Internal(e.to_string()))?;
    if signed > 0 {
        return Err(StoreError::Corrupt(format!(
            "{} is missing, but the database holds signed checkpoints: the file bounds every \
             ledger from below. Restore it from a backup, or accept the ledgers as they are with \
             `trailkeep accept-rollback --data-dir {} --all-tenants` (the server stopped)",
            dir.join(HIGH_WATER_FILE).display(),
            dir.display()
        )));
    }
    Ok(HashMap::new())
}

/// Settings of an embedded store.
#[derive(Debug, Clone)]
pub struct Options {
    /// Name of the signing key created on first start; checkpoint origins are `<name>/<tenant>`.
    pub key_name: String,
    /// Appends that may wait for the writer before new ones are refused as overload.
    pub queue_capacity: usize,
    /// Appends of any one tenant that may wait for the writer: past it, that tenant's appends
    /// are refused as overload while the others' are still taken.
    pub tenant_queue_share: usize,
    /// Most events the writer puts in one transaction.
    pub max_group_events: usize,
    /// Most reads running at once.
    pub max_readers: usize,
    /// How often the query index takes in new events (and commits them).
    pub index_interval: Duration,
    /// The shortest time between two checkpoints of one tenant.
    pub checkpoint_interval: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            key_name: "trailkeep".into(),
            queue_capacity: 4096,
            tenant_queue_share: 256,
            max_group_events: 50_000,
            max_readers: 16,
            index_interval: Duration::from_millis(250),
            checkpoint_interval: Duration::from_secs(1),
        }
    }
}

/// The embedded engine.
pub struct EmbeddedStore {
    jobs: Sender<Job>,
    writer: Mutex<Option<JoinHandle<()>>>,
    registry: Arc<Registry>,
    readers: Arc<Readers>,
    /// Connections for credential lookups only.
    key_readers: Arc<Readers>,
    search: Arc<SearchIndex>,
    indexer: Mutex<Option<IndexerHandle>>,
    vkey: String,
    /// The ledger's key, for notes other than checkpoints (the writer has its own copy).
    signer: NoteSigner,
    lock: Mutex<Option<std::fs::File>>,
    /// Appends waiting for the writer, in all and per tenant: past either bound an append is
    /// refused at once as overload, before anything is queued, so one tenant's flood meets
    /// its own share long before the queue is full. Each job carries its place until the
    /// writer has answered it.
    admission: Arc<Quota>,
}

impl EmbeddedStore {
    /// Opens (creating if needed) the data directory `dir`, recovers every tenant's ledger and
    /// starts the writer thread.
    pub fn open(dir: &Path, options: Options) -> Result<Self, StoreError> {
        files::create_private_dir(dir).map_err(StoreError::Unavailable)?;
        let lock = lock_data_dir(dir)?;
        let path: PathBuf = dir.join(DB_FILE);
        let new_dir = std::fs::metadata(&path).map_or(true, |m| m.len() == 0);
        let signer: NoteSigner = keys::load_or_create(dir, &options.key_name, new_dir)
            .map_err(StoreError::Unavailable)?;
        files::create_private_file(&path).map_err(StoreError::Unavailable)?;
        let mut conn = schema::open(&path)
            .map_err(|e| StoreError::Unavailable(format!("open {}: {e}", path.display())))?;
        schema::migrate(&mut conn).map_err(StoreError::Unavailable)?;
        let marks = high_water_marks(dir, &conn)?;
        let registry = Arc::new(Registry::default());
        let recovered = recovery::recover(&mut conn, &signer, &registry, &marks)?;
        high_water::rewrite(dir, &recovered.marks).map_err(StoreError::Unavailable)?;
        let high_water = high_water::HighWater::open(dir).map_err(StoreError::Unavailable)?;
        let vkey = signer.verifier().to_vkey();
        let (search, covered) = open_index(dir, &registry)?;
        let search = Arc::new(search);
        let indexer = spawn_indexer(
            search.clone(),
            path.clone(),
            registry.clone(),
            covered,
            options.index_interval,
        )?;
        // Unbounded as a channel, bounded by admission: the writer moves each job into its
        // tenant's queue at once (`queue.rs`).
        let (jobs, receiver) = channel();
        // The writer takes the write lock when a transaction begins: one that read first could
        // otherwise find, when it comes to write, that the indexer (the only other connection
        // that writes: its `reindex` queue) committed meanwhile, and fail.
        conn.set_transaction_behavior(rusqlite::TransactionBehavior::Immediate);
        let writer = Writer::new(
            conn,
            signer.clone(),
            registry.clone(),
            recovered.tenants,
            WriterSettings {
                max_group_events: options.max_group_events,
                checkpoint_interval: options.checkpoint_interval,
            },
            high_water,
        );
        let handle = std::thread::Builder::new()
            .name("trailkeep-writer".into())
            .spawn(move || writer.run(receiver))
            .map_err(|e| StoreError::Unavailable(format!("start the writer: {e}")))?;
        Ok(Self {
            jobs,
            writer: Mutex::new(Some(handle)),
            registry,
            readers: Arc::new(Readers::new(path.clone(), options.max_readers)),
            key_readers: Arc::new(Readers::new(path, KEY_READERS)),
            search,
            indexer: Mutex::new(Some(indexer)),
            vkey,
            signer,
            lock: Mutex::new(Some(lock)),
            admission: Quota::new(
                options.tenant_queue_share.min(options.queue_capacity),
                options.queue_capacity,
            ),
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
            .map(|(_, s)| s.committed().saturating_sub(s.indexed().below))
            .sum()
    }

    /// A place in the writer's queue for one of `tenant`'s jobs, or overload.
    fn admit(&self, tenant: &str) -> Result<Place, StoreError> {
        self.admission
            .take(tenant)
            .map_err(|_| StoreError::Overloaded)
    }

    fn submit(&self, job: Job) -> Result<(), StoreError> {
        self.jobs
            .send(job)
            .map_err(|_| StoreError::Unavailable("the store is shut down".into()))
    }

    /// Admits one of `tenant`'s writes, submits the job `make` builds from its place in the
    /// queue and the reply channel, and waits for the writer's answer.
    async fn through_writer<T>(
        &self,
        tenant: &str,
        make: impl FnOnce(Place, oneshot::Sender<Result<T, StoreError>>) -> Job,
    ) -> Result<T, StoreError> {
        let ticket = self.admit(tenant)?;
        let (reply, answer) = oneshot::channel();
        self.submit(make(ticket, reply))?;
        answer.await.map_err(closed)?
    }

    /// Changes a key with the event recording it, through the writer.
    async fn change_key(
        &self,
        tenant: String,
        change: KeyChange,
        audit: PreparedEvent,
    ) -> Result<Option<ApiKeyRecord>, StoreError> {
        self.through_writer(&tenant.clone(), |ticket, reply| Job::ChangeKey {
            tenant,
            change,
            audit: Box::new(audit),
            reply,
            ticket,
        })
        .await
    }

    /// Changes a job with the event recording it, through the writer.
    async fn change_job(
        &self,
        tenant: String,
        change: trailkeep_store::jobs::JobChange,
        audit: PreparedEvent,
    ) -> Result<trailkeep_store::jobs::JobChanged, StoreError> {
        self.through_writer(&tenant.clone(), |ticket, reply| Job::ChangeJob {
            tenant,
            change,
            audit: Box::new(audit),
            reply,
            ticket,
        })
        .await
    }

    fn tenant(&self, name: &str) -> Option<Arc<TenantState>> {
        self.registry.get(name)
    }

    /// One page of the tenant's events matching `query`, parsed or not as `E` asks.
    async fn page<E: read::PageEvent + Send + 'static>(
        &self,
        tenant: &str,
        query: &Query,
    ) -> Result<Page<E>, StoreError> {
        let Some(state) = self.tenant(tenant) else {
            return Ok(Page::default());
        };
        let tenant_id = state.id;
        let query = query.clone();
        let search = self.search.clone();
        let planned = self
            .readers
            .run_for(tenant_id, move |conn| {
                // The watermark first: it never passes `committed`, read second.
                let indexed = state.indexed();
                let committed = state.committed();
                let plan = read::plan_page(conn, &search, state.id, indexed, committed, &query)?;
                read::read_close(conn, state.id, plan)
            })
            .await?;
        match planned {
            Ok(page) => Ok(page),
            Err(scattered) => {
                // Events are never changed once committed, so the hits read on other
                // connections are the ones the plan's snapshot saw.
                let events = read::read_hits(&self.readers, tenant_id, scattered.seqs()).await?;
                Ok(scattered.finish(events))
            }
        }
    }

    /// Runs `read` over up to `max` of the tenant's committed seqs from `from` on (tenant id,
    /// first seq, end seq); nothing when there are none.
    async fn read_committed<T: Send + 'static>(
        &self,
        tenant: &str,
        from: u64,
        max: usize,
        read: fn(&rusqlite::Connection, i64, u64, u64) -> Result<Vec<T>, StoreError>,
    ) -> Result<Vec<T>, StoreError> {
        let Some(state) = self.tenant(tenant) else {
            return Ok(Vec::new());
        };
        let to = state.committed().min(from.saturating_add(max as u64));
        if from >= to {
            return Ok(Vec::new());
        }
        self.readers
            .run_for(state.id, move |conn| read(conn, state.id, from, to))
            .await
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
            .run_for(state.id, move |conn| {
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
        self.through_writer(tenant, |ticket, reply| Job::Append {
            tenant: tenant.to_owned(),
            request,
            reply,
            ticket,
        })
        .await
    }

    async fn replay(
        &self,
        tenant: &str,
        key: &IdempotencyKey,
    ) -> Result<Option<AppendOutcome>, StoreError> {
        let Some(state) = self.tenant(tenant) else {
            return Ok(None);
        };
        // Only when a read connection is free at once: otherwise the writer answers the
        // replay as it answers any append, and a keyed ingest never waits behind reads.
        let key = key.clone();
        let id = state.id;
        self.readers
            .try_run_for(id, move |conn| read::replay(conn, &state, &key))
            .await
            .unwrap_or(Ok(None))
    }

    async fn get(&self, tenant: &str, id: &str) -> Result<Option<StoredEvent>, StoreError> {
        let Some(state) = self.tenant(tenant) else {
            return Ok(None);
        };
        let id = id.to_owned();
        self.readers
            .run_for(state.id, move |conn| {
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
            .run_for(state.id, move |conn| rows::by_seq(conn, state.id, seq))
            .await
    }

    async fn query(&self, tenant: &str, query: &Query) -> Result<Page, StoreError> {
        self.page(tenant, query).await
    }

    async fn query_canonical(
        &self,
        tenant: &str,
        query: &Query,
    ) -> Result<Page<CanonicalEvent>, StoreError> {
        self.page(tenant, query).await
    }

    async fn scan(
        &self,
        tenant: &str,
        from: u64,
        max: usize,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        self.read_committed(tenant, from, max, rows::range).await
    }

    async fn scan_canonical(
        &self,
        tenant: &str,
        from: u64,
        max: usize,
    ) -> Result<Vec<CanonicalEvent>, StoreError> {
        self.read_committed(tenant, from, max, rows::range_canonical)
            .await
    }

    fn commits(&self, tenant: &str) -> watch::Receiver<u64> {
        self.registry.watch(tenant)
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
            .run_for(state.id, move |conn| {
                let indexed = state.indexed();
                let committed = state.committed();
                let mut tally = search::tally(&search, state.id, indexed, &filter, &group_by)?;
                read::for_each_match(conn, state.id, indexed.below, committed, &filter, |e| {
                    tally.add_event(e)
                })?;
                Ok(tally.finish())
            })
            .await
    }

    async fn tenants(&self) -> Result<Vec<String>, StoreError> {
        let mut names: Vec<String> = self
            .registry
            .all()
            .into_iter()
            .map(|(name, _)| name)
            .collect();
        names.sort_unstable();
        Ok(names)
    }

    async fn tree_size(&self, tenant: &str) -> Result<u64, StoreError> {
        Ok(self.tenant(tenant).map_or(0, |s| s.committed()))
    }

    async fn checkpoint(&self, tenant: &str) -> Result<Option<SignedCheckpoint>, StoreError> {
        Ok(self.tenant(tenant).and_then(|s| s.newest_checkpoint()))
    }

    async fn checkpoint_covering(
        &self,
        tenant: &str,
        size: u64,
    ) -> Result<SignedCheckpoint, StoreError> {
        // Subscribed before the first look, so a checkpoint published in between wakes us.
        let mut signed = self.registry.watch(tenant);
        let wait = async {
            loop {
                let state = self.tenant(tenant);
                let newest = state.as_ref().and_then(|s| s.newest_checkpoint());
                if let Some(checkpoint) = newest.filter(|c| c.size >= size) {
                    return Ok(checkpoint);
                }
                if size > state.map_or(0, |s| s.committed()) {
                    return Err(StoreError::OutOfRange(format!(
                        "the tenant's tree has fewer than {size} events"
                    )));
                }
                signed.changed().await.map_err(closed)?;
            }
        };
        tokio::time::timeout(COVERING_WAIT, wait)
            .await
            .unwrap_or_else(|_| {
                Err(StoreError::Unavailable(
                    "no checkpoint covering the event was signed in time".into(),
                ))
            })
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

    fn sign_note(&self, text: &str) -> Result<String, StoreError> {
        self.signer
            .sign(text)
            .map_err(|e| StoreError::Internal(format!("sign a note: {e}")))
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
            write_queue_depth: self.admission.held() as u64,
            write_queue_capacity: self.admission.total() as u64,
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
