//! The PostgreSQL engine: many stateless `trailkeep serve` nodes on one database, all of them
//! taking writes (DESIGN section 4, `../shared/research/scaleout.md`).
//!
//! Each tenant's ledger head is one row, the only lock and the only sequencer: a node gathers a
//! tenant's pending writes and commits them in one transaction that holds the head
//! ([`append`]). Everything else happens after the commit: checkpoints are signed by whichever
//! node claims them ([`signing`]), other nodes are told through one coalesced `NOTIFY`
//! ([`notify`]). Every read is answered by PostgreSQL ([`read`], [`sql`]); proofs come from the
//! leaf hashes in the event rows and the tree nodes stored once at every eighth level
//! ([`tree`]). A node holds nothing but caches and queues: any node can be replaced at any time.

#![deny(missing_docs)]

mod append;
mod connect;
mod credentials;
mod documents;
mod heads;
mod jobs;
mod notify;
mod partitions;
mod read;
mod redaction;
mod rows;
mod schema;
mod shards;
mod signing;
mod sql;
mod terms;
#[cfg(feature = "testing")]
pub mod testing;
mod transfer;
mod tree;
mod verify;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use deadpool_postgres::Pool;
use tokio::sync::{Notify, watch};
use trailkeep_event::{Filter, PreparedEvent, Query, Timestamp};
use trailkeep_ledger::{Hash, NoteSigner};
use trailkeep_store::quota::Quota;
use trailkeep_store::{
    ApiKeyRecord, AppendOutcome, AppendRequest, CanonicalEvent, EventStore, GroupBy,
    IdempotencyKey, InclusionProof, JobError, JobRecord, JobStore, KeyStore, NewJob, Page,
    SignedCheckpoint, Stats, StoreError, StoredEvent, Vitals,
};

pub use schema::SCHEMA_VERSION;
pub use shards::ShardedStore;
pub use transfer::PostgresTransfer;
pub use verify::verify;

pub use crate::append::GroupCounts;
use crate::append::{Answer, Change, GroupCounters, Queues};
use crate::credentials::KeyChange;
use crate::heads::Heads;
use crate::notify::{Notifier, Watches};
use crate::partitions::Partitions;
use crate::signing::Signing;
use trailkeep_store::documents::{
    Document, DocumentRange, DocumentStore, DocumentWrite, DocumentsWritten, check_writes,
};
use trailkeep_store::jobs::{JobChange, JobChanged, worker_answer};

/// Longest wait for a checkpoint covering a given size.
const COVERING_WAIT: Duration = Duration::from_secs(10);

/// How often a node makes the coming months' partitions.
const PARTITIONS_EVERY: Duration = Duration::from_secs(3600);

/// How a node runs.
#[derive(Debug, Clone)]
pub struct Options {
    /// The key every node signs checkpoints with (the same on every node).
    pub signer: NoteSigner,
    /// Connections this node keeps to the database.
    pub pool_size: usize,
    /// Writes that may wait on this node before new ones are refused as overload.
    pub queue_capacity: usize,
    /// Writes of any one tenant that may wait on this node.
    pub tenant_queue_share: usize,
    /// Most events one append transaction gathers from several writes (a larger write is a
    /// transaction of its own).
    pub max_group_events: usize,
    /// How long the first write of an idle tenant waits for others to share its transaction.
    pub gather: Duration,
    /// The shortest time between two checkpoints of one tenant.
    pub checkpoint_interval: Duration,
}

impl Options {
    /// The defaults, signing with `signer`.
    pub fn new(signer: NoteSigner) -> Self {
        Self {
            signer,
            pool_size: 16,
            queue_capacity: 4096,
            tenant_queue_share: 256,
            max_group_events: 500,
            gather: append::DEFAULT_GATHER,
            checkpoint_interval: Duration::from_secs(1),
        }
    }
}

/// What every part of a node shares.
struct Shared {
    pool: Pool,
    options: Options,
    admission: Arc<Quota>,
    queues: Queues,
    groups: GroupCounters,
    partitions: Partitions,
    heads: Heads,
    watches: Arc<Watches>,
    notifier: Arc<Notifier>,
    signing: Signing,
    unsigned_events: AtomicU64,
    closed: Arc<Notify>,
}

impl Shared {
    /// What follows a commit to `tenant`: its watchers here wake, other nodes are told, and
    /// its new events wait for a checkpoint.
    fn after_commit(&self, tenant: &str) {
        self.watches.wake(tenant);
        self.notifier.mark(tenant);
        self.signing.mark(tenant);
    }
}

/// A database error as a store error (the text is for logs).
fn internal(e: impl std::error::Error) -> StoreError {
    StoreError::Internal(error_chain(&e))
}

/// An error and its causes, one after the other: tokio-postgres says only "db error" and
/// keeps what the server said in its source.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(inner) = cause {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        cause = inner.source();
    }
    text
}

/// No connection could be had from the pool.
fn pool_error(e: deadpool_postgres::PoolError) -> StoreError {
    StoreError::Unavailable(format!("no database connection: {}", error_chain(&e)))
}

/// The notification channel of the schema the connections use: nodes of other schemas in the
/// same database (tests, several deployments) do not wake each other.
fn channel_of(schema: &str) -> String {
    let mut channel = format!("trailkeep_commits.{schema}");
    channel.truncate(63);
    channel
}

/// Checks a connection string (a `postgres://` URL or `key=value` pairs) without connecting.
pub fn check_url(url: &str) -> Result<(), String> {
    parse_url(url).map(|_| ())
}

fn parse_url(url: &str) -> Result<tokio_postgres::Config, String> {
    url.parse()
        .map_err(|e| format!("not a PostgreSQL connection string: {e}"))
}

/// Where a connection string points, for logs and messages: hosts, port, database and user,
/// never the password.
pub fn describe_url(url: &str) -> String {
    let Ok(config) = parse_url(url) else {
        return "an invalid connection string".into();
    };
    let hosts: Vec<String> = config
        .get_hosts()
        .iter()
        .map(|h| match h {
            tokio_postgres::config::Host::Tcp(name) => name.clone(),
            tokio_postgres::config::Host::Unix(path) => path.display().to_string(),
        })
        .collect();
    let mut ports: Vec<String> = config.get_ports().iter().map(u16::to_string).collect();
    if ports.is_empty() {
        ports.push("5432".into());
    }
    format!(
        "postgres {}@{}:{}/{}",
        config.get_user().unwrap_or("(default user)"),
        hosts.join(","),
        ports.join(","),
        config.get_dbname().unwrap_or("(default database)")
    )
}

/// Creates or upgrades the schema of the database at `url` without starting a node; answers
/// the schema version before and after (`0`: a database the engine never used).
pub async fn migrate(url: &str) -> Result<(i32, i32), StoreError> {
    let config = parse_url(url).map_err(StoreError::Unavailable)?;
    let (mut client, driver) = connect::open(&config)
        .await
        .map_err(|e| StoreError::Unavailable(format!("connect: {e}")))?;
    let versions = schema::migrate(&mut client).await;
    drop(client);
    let _ = driver.await;
    versions
}

/// One node of the PostgreSQL engine.
pub struct PostgresStore {
    shared: Arc<Shared>,
}

impl PostgresStore {
    /// Connects to the database at `url` (a `postgres://` URL or `key=value` string), creates or
    /// upgrades the schema, checks that the database's ledgers are signed with `options`'
    /// key, makes the coming months' partitions and starts the node's background tasks.
    /// Must be called inside a Tokio runtime.
    pub async fn connect(url: &str, options: Options) -> Result<Self, StoreError> {
        Self::connect_with(url, options, Arc::default()).await
    }

    /// [`connect`](Self::connect), waking `watches` on commits (a shard of a
    /// [`ShardedStore`], whose watchers do not know which shard their tenant is on).
    async fn connect_with(
        url: &str,
        options: Options,
        watches: Arc<Watches>,
    ) -> Result<Self, StoreError> {
        let config = parse_url(url).map_err(StoreError::Unavailable)?;
        let pool = connect::pool(config.clone(), options.pool_size.max(2))
            .map_err(|e| StoreError::Unavailable(format!("make the connection pool: {e}")))?;
        let mut client = pool.get().await.map_err(pool_error)?;
        let raw: &mut tokio_postgres::Client = &mut client;
        let (before, after) = schema::migrate(raw).await?;
        if before != after {
            tracing::info!(before, after, "upgraded the database schema");
        }
        schema::check_key(raw, &options.signer.verifier().to_vkey()).await?;
        let schema_name: String = raw
            .query_one("SELECT current_schema()", &[])
            .await
            .map_err(internal)?
            .get(0);
        let partitions = Partitions::default();
        partitions
            .ensure_ahead(raw, Timestamp::now().as_micros())
            .await?;
        drop(client);

        let shared = Arc::new(Shared {
            admission: Quota::new(options.tenant_queue_share, options.queue_capacity),
            pool: pool.clone(),
            options,
            queues: Queues::default(),
            groups: GroupCounters::default(),
            partitions,
            heads: Heads::default(),
            watches,
            notifier: Arc::default(),
            signing: Signing::default(),
            unsigned_events: AtomicU64::new(0),
            closed: Arc::new(Notify::new()),
        });
        let channel = channel_of(&schema_name);
        tokio::spawn(notify::send_loop(
            shared.notifier.clone(),
            pool.clone(),
            channel.clone(),
        ));
        tokio::spawn(notify::listen_loop(
            config,
            channel,
            shared.watches.clone(),
            shared.closed.clone(),
        ));
        tokio::spawn(signing::sign_loop(shared.clone()));
        tokio::spawn(partition_loop(shared.clone()));
        Ok(Self { shared })
    }

    /// Signs a checkpoint of every tenant this node committed to since its last one, then
    /// shuts down: what a node does last when it stops.
    pub async fn close(&self) {
        for tenant in self.shared.signing.take_dirty() {
            if let Err(error) = signing::sign(&self.shared, &tenant, Duration::ZERO).await {
                tracing::warn!(tenant, %error, "could not sign the final checkpoint");
            }
        }
        self.shutdown();
    }

    /// Stops the node's background work and closes its connections. Writes already
    /// acknowledged are in the database; anything queued and not yet written is refused.
    pub fn shutdown(&self) {
        self.shared.pool.close();
        self.shared.closed.notify_waiters();
        self.shared.notifier.mark("");
        self.shared.signing.mark("");
    }

    async fn write(
        &self,
        tenant: &str,
        change: Change,
        request: AppendRequest,
    ) -> Result<Answer, StoreError> {
        let answer = append::submit(&self.shared, tenant, change, request).await?;
        let interval = self.shared.options.checkpoint_interval;
        if self.shared.signing.try_before_answer(tenant, interval) {
            // The first commit after a quiet interval is signed before it is answered.
            match signing::sign(&self.shared, tenant, interval).await {
                Ok(_) => {}
                Err(error) => tracing::warn!(tenant, %error, "could not sign a checkpoint"),
            }
        }
        Ok(answer)
    }

    /// How this node's append groups went since it started: how many were sequenced ahead of
    /// their transaction, how many of those again under the lock, how many under the lock
    /// from the start.
    pub fn group_counts(&self) -> GroupCounts {
        self.shared.groups.counts()
    }

    async fn client(&self) -> Result<deadpool_postgres::Object, StoreError> {
        self.shared.pool.get().await.map_err(pool_error)
    }

    async fn change_key(
        &self,
        tenant: &str,
        change: KeyChange,
        audit: PreparedEvent,
    ) -> Result<Option<ApiKeyRecord>, StoreError> {
        let request = AppendRequest {
            events: vec![audit],
            idempotency_key: None,
        };
        match self.write(tenant, Change::Key(change), request).await? {
            Answer::Key(key) => Ok(key),
            _ => Err(StoreError::Internal(
                "a key change answered something else".into(),
            )),
        }
    }

    async fn change_job(
        &self,
        tenant: &str,
        change: JobChange,
        audit: PreparedEvent,
    ) -> Result<JobChanged, StoreError> {
        let request = AppendRequest {
            events: vec![audit],
            idempotency_key: None,
        };
        match self.write(tenant, Change::Job(change), request).await? {
            Answer::Job(job) => Ok(job),
            _ => Err(StoreError::Internal(
                "a job change answered something else".into(),
            )),
        }
    }
}

#[async_trait]
impl DocumentStore for PostgresStore {
    async fn write_documents(
        &self,
        tenant: &str,
        writes: Vec<DocumentWrite>,
        audit: Vec<PreparedEvent>,
        now: i64,
    ) -> Result<DocumentsWritten, StoreError> {
        check_writes(tenant, &writes, &audit)?;
        if audit.is_empty() {
            let mut client = self.client().await?;
            let mut tx = client.transaction().await.map_err(internal)?;
            // Without events, a set need not wait for its WAL flush: a crash of the server
            // loses at most the last moments' cursors and leases, read then as they were
            // before (the appends, which hold every event, keep waiting for theirs).
            tx.batch_execute("SET LOCAL synchronous_commit = off")
                .await
                .map_err(internal)?;
            let written = documents::apply(&mut tx, tenant, &writes, now).await?;
            tx.commit().await.map_err(internal)?;
            return Ok(written);
        }
        let request = AppendRequest {
            events: audit,
            idempotency_key: None,
        };
        match self
            .write(tenant, Change::Documents { writes, now }, request)
            .await?
        {
            Answer::Documents(written) => Ok(written),
            _ => Err(StoreError::Internal(
                "a document change answered something else".into(),
            )),
        }
    }

    async fn document(
        &self,
        tenant: &str,
        kind: &str,
        id: &str,
    ) -> Result<Option<Document>, StoreError> {
        documents::one(&**self.client().await?, tenant, kind, id).await
    }

    async fn documents(
        &self,
        tenant: &str,
        kind: &str,
        range: DocumentRange,
        limit: usize,
    ) -> Result<Vec<Document>, StoreError> {
        documents::listed(&**self.client().await?, tenant, kind, &range, limit).await
    }

    async fn document_tenants(&self, kind: &str) -> Result<Vec<String>, StoreError> {
        documents::tenants_with(&**self.client().await?, kind).await
    }
}

impl Drop for PostgresStore {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Makes the coming months' partitions every [`PARTITIONS_EVERY`] until the pool closes.
async fn partition_loop(shared: Arc<Shared>) {
    loop {
        tokio::time::sleep(PARTITIONS_EVERY).await;
        if shared.pool.is_closed() {
            return;
        }
        let made = match shared.pool.get().await {
            Ok(mut client) => {
                let raw: &mut tokio_postgres::Client = &mut client;
                shared
                    .partitions
                    .ensure_ahead(raw, Timestamp::now().as_micros())
                    .await
            }
            Err(e) => Err(pool_error(e)),
        };
        if let Err(error) = made {
            tracing::warn!(%error, "could not make the coming months' partitions");
        }
    }
}

#[async_trait]
impl EventStore for PostgresStore {
    async fn append(
        &self,
        tenant: &str,
        request: AppendRequest,
    ) -> Result<AppendOutcome, StoreError> {
        if request.events.is_empty() && request.idempotency_key.is_none() {
            return Ok(AppendOutcome {
                events: Vec::new(),
                stored: 0,
                replayed: false,
            });
        }
        match self.write(tenant, Change::None, request).await? {
            Answer::Appended(outcome) => Ok(outcome),
            _ => Err(StoreError::Internal(
                "an append answered something else".into(),
            )),
        }
    }

    async fn replay(
        &self,
        tenant: &str,
        key: &IdempotencyKey,
    ) -> Result<Option<AppendOutcome>, StoreError> {
        let client = self.client().await?;
        let Some(seqs) = read::previous_use(&**client, tenant, key).await? else {
            return Ok(None);
        };
        Ok(Some(AppendOutcome {
            events: append::by_seqs(&**client, tenant, &seqs).await?,
            stored: 0,
            replayed: true,
        }))
    }

    async fn get(&self, tenant: &str, id: &str) -> Result<Option<StoredEvent>, StoreError> {
        read::by_id(&**self.client().await?, tenant, id).await
    }

    async fn scan(
        &self,
        tenant: &str,
        from: u64,
        max: usize,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        read::scan(&**self.client().await?, tenant, from, max)
            .await?
            .iter()
            .map(rows::stored)
            .collect()
    }

    async fn scan_canonical(
        &self,
        tenant: &str,
        from: u64,
        max: usize,
    ) -> Result<Vec<CanonicalEvent>, StoreError> {
        read::scan(&**self.client().await?, tenant, from, max)
            .await?
            .iter()
            .map(rows::canonical)
            .collect()
    }

    fn commits(&self, tenant: &str) -> watch::Receiver<u64> {
        self.shared.watches.subscribe(tenant)
    }

    async fn stats(
        &self,
        tenant: &str,
        filter: &Filter,
        group_by: &[GroupBy],
    ) -> Result<Stats, StoreError> {
        read::stats(&**self.client().await?, tenant, filter, group_by).await
    }

    async fn get_by_seq(&self, tenant: &str, seq: u64) -> Result<Option<StoredEvent>, StoreError> {
        read::by_seq(&**self.client().await?, tenant, seq).await
    }

    async fn query(&self, tenant: &str, query: &Query) -> Result<Page, StoreError> {
        let page = self.query_canonical(tenant, query).await?;
        let events = page
            .events
            .into_iter()
            .map(|e| {
                let event =
                    trailkeep_event::Event::from_canonical(&e.canonical).map_err(|err| {
                        StoreError::Corrupt(format!("event {} does not parse: {err}", e.seq))
                    })?;
                Ok(StoredEvent {
                    event,
                    canonical: e.canonical,
                    leaf_hash: e.leaf_hash,
                })
            })
            .collect::<Result<_, StoreError>>()?;
        Ok(Page {
            events,
            next: page.next,
            total: page.total,
        })
    }

    async fn query_canonical(
        &self,
        tenant: &str,
        query: &Query,
    ) -> Result<Page<CanonicalEvent>, StoreError> {
        read::page(&**self.client().await?, tenant, query).await
    }

    async fn tenants(&self) -> Result<Vec<String>, StoreError> {
        heads::tenants(&**self.client().await?).await
    }

    async fn tree_size(&self, tenant: &str) -> Result<u64, StoreError> {
        heads::size(&**self.client().await?, tenant).await
    }

    async fn checkpoint(&self, tenant: &str) -> Result<Option<SignedCheckpoint>, StoreError> {
        signing::newest(&**self.client().await?, tenant).await
    }

    async fn checkpoint_covering(
        &self,
        tenant: &str,
        size: u64,
    ) -> Result<SignedCheckpoint, StoreError> {
        let have = self.tree_size(tenant).await?;
        if size > have {
            return Err(StoreError::OutOfRange(format!(
                "the tree has {have} events, fewer than {size}"
            )));
        }
        let deadline = tokio::time::Instant::now() + COVERING_WAIT;
        loop {
            if let Some(newest) = self.checkpoint(tenant).await?
                && newest.size >= size
            {
                return Ok(newest);
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(StoreError::Unavailable(
                    "no checkpoint covers the tree yet; retry shortly".into(),
                ));
            }
            self.shared.signing.mark(tenant);
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn inclusion_proof(
        &self,
        tenant: &str,
        seq: u64,
        tree_size: u64,
    ) -> Result<InclusionProof, StoreError> {
        let client = self.client().await?;
        let have = heads::size(&**client, tenant).await?;
        if tree_size > have || seq >= tree_size {
            return Err(StoreError::OutOfRange(format!(
                "no leaf {seq} in a tree of {tree_size} (the tree has {have})"
            )));
        }
        let hashes = tree::with_tree(&**client, tenant, |source| {
            trailkeep_ledger::inclusion_proof(source, seq, tree_size).map_err(proof_error)
        })
        .await?;
        let leaf = read::by_seq(&**client, tenant, seq)
            .await?
            .ok_or_else(|| StoreError::Corrupt(format!("leaf {seq} is missing")))?;
        Ok(InclusionProof {
            seq,
            tree_size,
            leaf_hash: leaf.leaf_hash,
            hashes,
        })
    }

    async fn consistency_proof(
        &self,
        tenant: &str,
        first: u64,
        second: u64,
    ) -> Result<Vec<Hash>, StoreError> {
        let client = self.client().await?;
        let have = heads::size(&**client, tenant).await?;
        if second > have {
            return Err(StoreError::OutOfRange(format!(
                "the tree has {have} events, fewer than {second}"
            )));
        }
        tree::with_tree(&**client, tenant, |source| {
            trailkeep_ledger::consistency_proof(source, first, second).map_err(proof_error)
        })
        .await
    }

    fn vkey(&self) -> String {
        self.shared.options.signer.verifier().to_vkey()
    }

    fn sign_note(&self, text: &str) -> Result<String, StoreError> {
        self.shared
            .options
            .signer
            .sign(text)
            .map_err(|e| StoreError::Internal(format!("sign note: {e}")))
    }

    fn vitals(&self) -> Vitals {
        Vitals {
            write_queue_depth: self.shared.queues.depth() as u64,
            write_queue_capacity: self.shared.options.queue_capacity as u64,
            index_lag: 0,
            unsigned_events: self.shared.unsigned_events.load(Ordering::Relaxed),
            checkpoint_age_seconds: self.shared.signing.age_seconds(),
        }
    }
}

/// A proof request outside the tree, or a failed read of it.
fn proof_error(e: trailkeep_ledger::ProofError<StoreError>) -> StoreError {
    match e {
        trailkeep_ledger::ProofError::OutOfRange { reason } => StoreError::OutOfRange(reason),
        trailkeep_ledger::ProofError::Source(e) => e,
    }
}

#[async_trait]
impl KeyStore for PostgresStore {
    async fn insert_api_key(
        &self,
        key: ApiKeyRecord,
        audit: PreparedEvent,
    ) -> Result<(), StoreError> {
        let tenant = key.tenant.clone();
        self.change_key(&tenant, KeyChange::Insert(key), audit)
            .await
            .map(|_| ())
    }

    async fn api_key(&self, id: &str) -> Result<Option<ApiKeyRecord>, StoreError> {
        credentials::by_id(&**self.client().await?, id).await
    }

    async fn api_keys(&self, tenant: &str) -> Result<Vec<ApiKeyRecord>, StoreError> {
        credentials::of_tenant(&**self.client().await?, tenant).await
    }

    async fn revoke_api_key(
        &self,
        tenant: &str,
        id: &str,
        at: i64,
        audit: PreparedEvent,
    ) -> Result<Option<ApiKeyRecord>, StoreError> {
        let change = KeyChange::Revoke {
            id: id.to_owned(),
            at,
        };
        self.change_key(tenant, change, audit).await
    }
}

#[async_trait]
impl JobStore for PostgresStore {
    async fn enqueue(&self, job: NewJob, audit: PreparedEvent) -> Result<JobRecord, StoreError> {
        let tenant = job.tenant.clone();
        match self
            .change_job(&tenant, JobChange::Enqueue(job), audit)
            .await?
        {
            Ok(Some(job)) => Ok(job),
            _ => Err(StoreError::Internal("a queued job was not stored".into())),
        }
    }

    async fn claim(
        &self,
        kinds: &[&str],
        worker: &str,
        now: i64,
        lease_ms: i64,
    ) -> Result<Option<JobRecord>, StoreError> {
        jobs::claim(&**self.client().await?, kinds, worker, now, lease_ms).await
    }

    async fn heartbeat(
        &self,
        id: &str,
        worker: &str,
        now: i64,
        lease_ms: i64,
        progress: &str,
    ) -> Result<(), JobError> {
        jobs::heartbeat(&**self.client().await?, id, worker, now, lease_ms, progress)
            .await?
            .map_err(JobError::from)
    }

    async fn complete(
        &self,
        id: &str,
        worker: &str,
        now: i64,
        result: &str,
        audit: PreparedEvent,
    ) -> Result<JobRecord, JobError> {
        let tenant = audit.event.tenant.clone();
        let change = JobChange::Complete {
            id: id.to_owned(),
            worker: worker.to_owned(),
            now,
            result: result.to_owned(),
        };
        worker_answer(self.change_job(&tenant, change, audit).await)
    }

    async fn fail(
        &self,
        id: &str,
        worker: &str,
        now: i64,
        error: &str,
        audit: PreparedEvent,
    ) -> Result<JobRecord, JobError> {
        let tenant = audit.event.tenant.clone();
        let change = JobChange::Fail {
            id: id.to_owned(),
            worker: worker.to_owned(),
            now,
            error: error.to_owned(),
        };
        worker_answer(self.change_job(&tenant, change, audit).await)
    }

    async fn cancel(
        &self,
        tenant: &str,
        id: &str,
        now: i64,
        reason: &str,
        audit: PreparedEvent,
    ) -> Result<Option<JobRecord>, StoreError> {
        let change = JobChange::Cancel {
            id: id.to_owned(),
            now,
            reason: reason.to_owned(),
        };
        Ok(self
            .change_job(tenant, change, audit)
            .await?
            .unwrap_or(None))
    }

    async fn job(&self, tenant: &str, id: &str) -> Result<Option<JobRecord>, StoreError> {
        jobs::by_id(&**self.client().await?, tenant, id).await
    }

    async fn jobs(
        &self,
        tenant: &str,
        kind: &str,
        before: Option<&str>,
        limit: usize,
    ) -> Result<Vec<JobRecord>, StoreError> {
        jobs::list(&**self.client().await?, tenant, kind, before, limit).await
    }
}
