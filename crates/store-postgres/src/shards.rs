//! Tenants spread over several PostgreSQL databases ("shards"): a directory table maps each
//! tenant to the shard that holds its whole ledger, and each shard has its own pool, its own
//! schema and its own background work. Nothing spans two tenants, so nothing spans two shards.
//!
//! A new tenant goes to the shard with the fewest tenants. A tenant moves between shards with
//! [`ShardedStore::move_tenant`]: its head is locked on the old shard (its writes wait), its
//! rows are copied and checked as offline verification checks them, the old head is left
//! behind marked as moved (so a node that still routes the tenant there is refused and asks the
//! directory again, and no second ledger of the tenant can start there), the directory is
//! updated, and the old rows are removed. Every checkpoint signed before the move verifies
//! after it. A node looks placements up again after [`PLACEMENT_TTL`], so a read through
//! another node may see the tenant's old shard, and miss newer events, for that long after a
//! move; writes never go to the old shard.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use deadpool_postgres::Pool;
use tokio::sync::watch;
use trailkeep_event::{Filter, PreparedEvent, Query};
use trailkeep_ledger::{Hash, NoteVerifier};
use trailkeep_store::documents::{
    Document, DocumentRange, DocumentStore, DocumentWrite, DocumentsWritten, SERVICE,
};
use trailkeep_store::redaction::{RedactionStore, Swept, Tombstone};
use trailkeep_store::transfer::{TransferError, transfer_tenant};
use trailkeep_store::{
    ApiKeyRecord, AppendOutcome, AppendRequest, CanonicalEvent, EventStore, GroupBy,
    IdempotencyKey, InclusionProof, JobError, JobRecord, JobRefusal, JobStore, KeyStore, NewJob,
    Page, SignedCheckpoint, Stats, StoreError, StoredEvent, Vitals,
};

use crate::notify::Watches;
use crate::{Options, PostgresStore, PostgresTransfer, internal, parse_url, pool_error};

/// How long a node trusts a placement it looked up.
pub const PLACEMENT_TTL: Duration = Duration::from_secs(1);

/// The directory database's one table.
const DIRECTORY: &str = "SET client_min_messages = warning;
CREATE TABLE IF NOT EXISTS tenant_shards (
    tenant text PRIMARY KEY,
    shard  integer NOT NULL
);";

/// Runs a write of `$tenant` (the expression `$call`, over `$shard`) on the tenant's shard; when
/// the shard refuses it as unavailable (the tenant moved), looks the placement up again and,
/// when it changed, runs it there.
macro_rules! on_tenant_shard {
    ($self:ident, $tenant:expr, |$shard:ident| $call:expr) => {{
        let first = $self.place($tenant).await?;
        let $shard = &$self.shards[first];
        match $call.await {
            Err(StoreError::Unavailable(why)) => {
                $self.forget($tenant);
                let now = $self.place($tenant).await?;
                if now == first {
                    Err(StoreError::Unavailable(why))
                } else {
                    let $shard = &$self.shards[now];
                    $call.await
                }
            }
            other => other,
        }
    }};
}

/// One node of a sharded deployment: a directory and a pool per shard.
pub struct ShardedStore {
    directory: Pool,
    shards: Vec<PostgresStore>,
    urls: Vec<String>,
    verifier: NoteVerifier,
    /// Placements this node looked up, and when.
    placed: Mutex<HashMap<String, (usize, Instant)>>,
    /// Which shard each job this node claimed came from.
    jobs_at: Mutex<HashMap<String, usize>>,
    next_claim: AtomicUsize,
    watches: std::sync::Arc<Watches>,
}

impl ShardedStore {
    /// Connects to the directory database and to every shard (each created or upgraded as a
    /// store of its own, all signing with `options`' key).
    pub async fn connect(
        directory_url: &str,
        shard_urls: &[String],
        options: Options,
    ) -> Result<Self, StoreError> {
        if shard_urls.is_empty() {
            return Err(StoreError::Unavailable("no shards were named".into()));
        }
        let config = parse_url(directory_url).map_err(StoreError::Unavailable)?;
        let directory = crate::connect::pool(config, 4)
            .map_err(|e| StoreError::Unavailable(format!("make the directory's pool: {e}")))?;
        directory
            .get()
            .await
            .map_err(pool_error)?
            .batch_execute(DIRECTORY)
            .await
            .map_err(internal)?;
        let watches = std::sync::Arc::<Watches>::default();
        let mut shards = Vec::with_capacity(shard_urls.len());
        for url in shard_urls {
            shards.push(PostgresStore::connect_with(url, options.clone(), watches.clone()).await?);
        }
        Ok(Self {
            directory,
            shards,
            urls: shard_urls.to_vec(),
            verifier: options.signer.verifier(),
            placed: Mutex::default(),
            jobs_at: Mutex::default(),
            next_claim: AtomicUsize::new(0),
            watches,
        })
    }

    /// The shard holding `tenant`, if it was placed.
    pub async fn shard_of(&self, tenant: &str) -> Result<Option<usize>, StoreError> {
        if let Some((shard, at)) = self.placed.lock().expect("placements").get(tenant)
            && at.elapsed() < PLACEMENT_TTL
        {
            return Ok(Some(*shard));
        }
        let row = self
            .directory
            .get()
            .await
            .map_err(pool_error)?
            .query_opt(
                "SELECT shard FROM tenant_shards WHERE tenant = $1",
                &[&tenant],
            )
            .await
            .map_err(internal)?;
        let shard = row.map(|r| r.get::<_, i32>(0) as usize);
        if let Some(shard) = shard {
            self.remember(tenant, shard);
        }
        Ok(shard)
    }

    fn remember(&self, tenant: &str, shard: usize) {
        self.placed
            .lock()
            .expect("placements")
            .insert(tenant.to_owned(), (shard, Instant::now()));
    }

    fn forget(&self, tenant: &str) {
        self.placed.lock().expect("placements").remove(tenant);
    }

    /// The shard of `tenant`, placing a new tenant on the shard with the fewest tenants.
    async fn place(&self, tenant: &str) -> Result<usize, StoreError> {
        if let Some(shard) = self.shard_of(tenant).await? {
            return Ok(shard);
        }
        let shards = self.shards.len() as i32;
        let client = self.directory.get().await.map_err(pool_error)?;
        client
            .execute(
                "INSERT INTO tenant_shards (tenant, shard)
                 SELECT $1, s FROM generate_series(0, $2 - 1) AS s
                 ORDER BY (SELECT count(*) FROM tenant_shards t WHERE t.shard = s), s
                 LIMIT 1
                 ON CONFLICT (tenant) DO NOTHING",
                &[&tenant, &shards],
            )
            .await
            .map_err(internal)?;
        let shard: i32 = client
            .query_one(
                "SELECT shard FROM tenant_shards WHERE tenant = $1",
                &[&tenant],
            )
            .await
            .map_err(internal)?
            .get(0);
        let shard = usize::try_from(shard)
            .ok()
            .filter(|s| *s < self.shards.len())
            .ok_or_else(|| {
                StoreError::Corrupt(format!(
                    "the directory places tenant {tenant:?} on shard {shard}, which this node \
                     does not know"
                ))
            })?;
        self.remember(tenant, shard);
        Ok(shard)
    }

    /// The store to read `tenant` from: its shard, or (a tenant never written) the first.
    async fn reader(&self, tenant: &str) -> Result<&PostgresStore, StoreError> {
        Ok(&self.shards[self.shard_of(tenant).await?.unwrap_or(0)])
    }

    /// Moves `tenant` to shard `to` with its events, checkpoints, keys, jobs, documents and
    /// idempotency keys; answers the events moved. Its writes wait meanwhile. Resumes a move that stopped
    /// after the old head was marked.
    pub async fn move_tenant(&self, tenant: &str, to: usize) -> Result<u64, StoreError> {
        if to >= self.shards.len() {
            return Err(StoreError::OutOfRange(format!("there is no shard {to}")));
        }
        let from = self
            .shard_of(tenant)
            .await?
            .ok_or_else(|| StoreError::OutOfRange(format!("no tenant {tenant:?}")))?;
        if from == to {
            return Ok(0);
        }
        let config = parse_url(&self.urls[from]).map_err(StoreError::Unavailable)?;
        let (mut fence, _driver) = crate::connect::open(&config).await.map_err(internal)?;
        let tx = fence.transaction().await.map_err(internal)?;
        let head = tx
            .query_opt(
                "SELECT moved_to FROM heads WHERE tenant = $1 FOR UPDATE",
                &[&tenant],
            )
            .await
            .map_err(internal)?;
        let mut moved = 0;
        match head.map(|h| h.get::<_, Option<i32>>(0)) {
            Some(Some(already)) if already as usize == to => {}
            Some(Some(other)) => {
                return Err(StoreError::Corrupt(format!(
                    "shard {from} says tenant {tenant:?} moved to shard {other}"
                )));
            }
            _ => {
                moved = self.copy(tenant, from, to).await?;
                tx.execute(
                    "INSERT INTO heads (tenant, size, frontier, moved_to) VALUES ($1, 0, '', $2)
                     ON CONFLICT (tenant) DO UPDATE SET moved_to = $2",
                    &[&tenant, &(to as i32)],
                )
                .await
                .map_err(internal)?;
            }
        }
        tx.commit().await.map_err(internal)?;
        self.directory
            .get()
            .await
            .map_err(pool_error)?
            .execute(
                "UPDATE tenant_shards SET shard = $2 WHERE tenant = $1",
                &[&tenant, &(to as i32)],
            )
            .await
            .map_err(internal)?;
        self.remember(tenant, to);
        fence
            .batch_execute(&format!(
                "BEGIN;
                 DELETE FROM events WHERE tenant = {t};
                 DELETE FROM ledger_nodes WHERE tenant = {t};
                 DELETE FROM checkpoints WHERE tenant = {t};
                 DELETE FROM idempotency_keys WHERE tenant = {t};
                 DELETE FROM api_keys WHERE tenant = {t};
                 DELETE FROM jobs WHERE tenant = {t};
                 DELETE FROM documents WHERE tenant = {t};
                 DELETE FROM signing WHERE tenant = {t};
                 UPDATE heads SET size = 0, frontier = '' WHERE tenant = {t};
                 COMMIT;",
                t = quote_literal(tenant)
            ))
            .await
            .map_err(internal)?;
        Ok(moved)
    }

    /// Copies `tenant` from shard `from` to shard `to`, checking every event and checkpoint.
    async fn copy(&self, tenant: &str, from: usize, to: usize) -> Result<u64, StoreError> {
        let mut source = PostgresTransfer::connect(&self.urls[from]).await?;
        let mut sink = PostgresTransfer::connect(&self.urls[to]).await?;
        if self.shards[to].tree_size(tenant).await? > 0 {
            return Err(StoreError::Corrupt(format!(
                "shard {to} already holds events of tenant {tenant:?}"
            )));
        }
        let summary = transfer_tenant(&mut source, &mut sink, &self.verifier, tenant, &mut |_| {})
            .await
            .map_err(|e| match e {
                TransferError::Invalid(failure) => StoreError::Corrupt(failure.to_string()),
                TransferError::Store(error) => error,
            })?;
        Ok(summary.events)
    }

    /// Stops every shard's background work.
    pub async fn close(&self) {
        for shard in &self.shards {
            shard.close().await;
        }
        self.directory.close();
    }
}

/// `text` as a SQL string literal.
fn quote_literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

#[async_trait]
impl EventStore for ShardedStore {
    async fn append(
        &self,
        tenant: &str,
        request: AppendRequest,
    ) -> Result<AppendOutcome, StoreError> {
        on_tenant_shard!(self, tenant, |shard| shard.append(tenant, request.clone()))
    }

    async fn replay(
        &self,
        tenant: &str,
        key: &IdempotencyKey,
    ) -> Result<Option<AppendOutcome>, StoreError> {
        self.reader(tenant).await?.replay(tenant, key).await
    }

    async fn get(&self, tenant: &str, id: &str) -> Result<Option<StoredEvent>, StoreError> {
        self.reader(tenant).await?.get(tenant, id).await
    }

    async fn scan(
        &self,
        tenant: &str,
        from: u64,
        max: usize,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        self.reader(tenant).await?.scan(tenant, from, max).await
    }

    async fn scan_canonical(
        &self,
        tenant: &str,
        from: u64,
        max: usize,
    ) -> Result<Vec<CanonicalEvent>, StoreError> {
        self.reader(tenant)
            .await?
            .scan_canonical(tenant, from, max)
            .await
    }

    fn commits(&self, tenant: &str) -> watch::Receiver<u64> {
        self.watches.subscribe(tenant)
    }

    async fn stats(
        &self,
        tenant: &str,
        filter: &Filter,
        group_by: &[GroupBy],
    ) -> Result<Stats, StoreError> {
        self.reader(tenant)
            .await?
            .stats(tenant, filter, group_by)
            .await
    }

    async fn get_by_seq(&self, tenant: &str, seq: u64) -> Result<Option<StoredEvent>, StoreError> {
        self.reader(tenant).await?.get_by_seq(tenant, seq).await
    }

    async fn query(&self, tenant: &str, query: &Query) -> Result<Page, StoreError> {
        self.reader(tenant).await?.query(tenant, query).await
    }

    async fn query_canonical(
        &self,
        tenant: &str,
        query: &Query,
    ) -> Result<Page<CanonicalEvent>, StoreError> {
        self.reader(tenant)
            .await?
            .query_canonical(tenant, query)
            .await
    }

    async fn tenants(&self) -> Result<Vec<String>, StoreError> {
        let mut tenants = Vec::new();
        for shard in &self.shards {
            tenants.extend(shard.tenants().await?);
        }
        tenants.sort_unstable();
        Ok(tenants)
    }

    async fn tree_size(&self, tenant: &str) -> Result<u64, StoreError> {
        self.reader(tenant).await?.tree_size(tenant).await
    }

    async fn checkpoint(&self, tenant: &str) -> Result<Option<SignedCheckpoint>, StoreError> {
        self.reader(tenant).await?.checkpoint(tenant).await
    }

    async fn checkpoint_covering(
        &self,
        tenant: &str,
        size: u64,
    ) -> Result<SignedCheckpoint, StoreError> {
        self.reader(tenant)
            .await?
            .checkpoint_covering(tenant, size)
            .await
    }

    async fn inclusion_proof(
        &self,
        tenant: &str,
        seq: u64,
        tree_size: u64,
    ) -> Result<InclusionProof, StoreError> {
        self.reader(tenant)
            .await?
            .inclusion_proof(tenant, seq, tree_size)
            .await
    }

    async fn consistency_proof(
        &self,
        tenant: &str,
        first: u64,
        second: u64,
    ) -> Result<Vec<Hash>, StoreError> {
        self.reader(tenant)
            .await?
            .consistency_proof(tenant, first, second)
            .await
    }

    fn vkey(&self) -> String {
        self.shards[0].vkey()
    }

    fn sign_note(&self, text: &str) -> Result<String, StoreError> {
        self.shards[0].sign_note(text)
    }

    fn vitals(&self) -> Vitals {
        let all: Vec<Vitals> = self.shards.iter().map(EventStore::vitals).collect();
        Vitals {
            write_queue_depth: all.iter().map(|v| v.write_queue_depth).sum(),
            write_queue_capacity: all.iter().map(|v| v.write_queue_capacity).sum(),
            index_lag: 0,
            unsigned_events: all.iter().map(|v| v.unsigned_events).sum(),
            checkpoint_age_seconds: all
                .iter()
                .filter_map(|v| v.checkpoint_age_seconds)
                .reduce(f64::min),
        }
    }
}

/// A tenant's removals run on its shard; sweeping and reclaiming on every shard.
#[async_trait]
impl RedactionStore for ShardedStore {
    async fn redact(
        &self,
        tenant: &str,
        tombstones: Vec<Tombstone>,
        record: PreparedEvent,
    ) -> Result<StoredEvent, StoreError> {
        on_tenant_shard!(self, tenant, |shard| shard.redact(
            tenant,
            tombstones.clone(),
            record.clone()
        ))
    }

    async fn sweep(&self, before: trailkeep_event::Timestamp) -> Result<Swept, StoreError> {
        let mut swept = Swept::default();
        for shard in &self.shards {
            swept.idempotency_keys += shard.sweep(before).await?.idempotency_keys;
        }
        Ok(swept)
    }

    async fn reclaim(&self) -> Result<(), StoreError> {
        for shard in &self.shards {
            shard.reclaim().await?;
        }
        Ok(())
    }
}

/// The service's own documents live on the first shard; a tenant's on the tenant's shard.
#[async_trait]
impl DocumentStore for ShardedStore {
    async fn write_documents(
        &self,
        tenant: &str,
        writes: Vec<DocumentWrite>,
        audit: Vec<PreparedEvent>,
        now: i64,
    ) -> Result<DocumentsWritten, StoreError> {
        if tenant == SERVICE {
            return self.shards[0]
                .write_documents(tenant, writes, audit, now)
                .await;
        }
        on_tenant_shard!(self, tenant, |shard| shard.write_documents(
            tenant,
            writes.clone(),
            audit.clone(),
            now
        ))
    }

    async fn document(
        &self,
        tenant: &str,
        kind: &str,
        id: &str,
    ) -> Result<Option<Document>, StoreError> {
        self.reader(tenant).await?.document(tenant, kind, id).await
    }

    async fn documents(
        &self,
        tenant: &str,
        kind: &str,
        range: DocumentRange,
        limit: usize,
    ) -> Result<Vec<Document>, StoreError> {
        self.reader(tenant)
            .await?
            .documents(tenant, kind, range, limit)
            .await
    }

    async fn document_tenants(&self, kind: &str) -> Result<Vec<String>, StoreError> {
        let mut tenants = Vec::new();
        for shard in &self.shards {
            tenants.extend(shard.document_tenants(kind).await?);
        }
        tenants.sort_unstable();
        tenants.dedup();
        Ok(tenants)
    }
}

#[async_trait]
impl KeyStore for ShardedStore {
    async fn insert_api_key(
        &self,
        key: ApiKeyRecord,
        audit: PreparedEvent,
    ) -> Result<(), StoreError> {
        for shard in &self.shards {
            if shard.api_key(&key.id).await?.is_some() {
                return Err(StoreError::DuplicateId {
                    index: 0,
                    id: key.id,
                });
            }
        }
        let tenant = key.tenant.clone();
        on_tenant_shard!(self, &tenant, |shard| shard
            .insert_api_key(key.clone(), audit.clone()))
    }

    async fn api_key(&self, id: &str) -> Result<Option<ApiKeyRecord>, StoreError> {
        for shard in &self.shards {
            if let Some(key) = shard.api_key(id).await? {
                return Ok(Some(key));
            }
        }
        Ok(None)
    }

    async fn api_keys(&self, tenant: &str) -> Result<Vec<ApiKeyRecord>, StoreError> {
        self.reader(tenant).await?.api_keys(tenant).await
    }

    async fn revoke_api_key(
        &self,
        tenant: &str,
        id: &str,
        at: i64,
        audit: PreparedEvent,
    ) -> Result<Option<ApiKeyRecord>, StoreError> {
        on_tenant_shard!(self, tenant, |shard| shard.revoke_api_key(
            tenant,
            id,
            at,
            audit.clone()
        ))
    }
}

#[async_trait]
impl JobStore for ShardedStore {
    async fn enqueue(&self, job: NewJob, audit: PreparedEvent) -> Result<JobRecord, StoreError> {
        let tenant = job.tenant.clone();
        on_tenant_shard!(self, &tenant, |shard| shard
            .enqueue(job.clone(), audit.clone()))
    }

    async fn claim(
        &self,
        kinds: &[&str],
        worker: &str,
        now: i64,
        lease_ms: i64,
    ) -> Result<Option<JobRecord>, StoreError> {
        let first = self.next_claim.fetch_add(1, Ordering::Relaxed);
        for k in 0..self.shards.len() {
            let shard = (first + k) % self.shards.len();
            if let Some(job) = self.shards[shard]
                .claim(kinds, worker, now, lease_ms)
                .await?
            {
                self.jobs_at
                    .lock()
                    .expect("job shards")
                    .insert(job.id.clone(), shard);
                return Ok(Some(job));
            }
        }
        Ok(None)
    }

    async fn heartbeat(
        &self,
        id: &str,
        worker: &str,
        now: i64,
        lease_ms: i64,
        progress: &str,
    ) -> Result<(), JobError> {
        let known = self.jobs_at.lock().expect("job shards").get(id).copied();
        let order: Vec<usize> = match known {
            Some(shard) => vec![shard],
            None => (0..self.shards.len()).collect(),
        };
        for shard in order {
            match self.shards[shard]
                .heartbeat(id, worker, now, lease_ms, progress)
                .await
            {
                Err(JobError::Refused(JobRefusal::NotFound)) => continue,
                answer => return answer,
            }
        }
        Err(JobRefusal::NotFound.into())
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
        let shard = self.place(&tenant).await?;
        self.shards[shard]
            .complete(id, worker, now, result, audit)
            .await
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
        let shard = self.place(&tenant).await?;
        self.shards[shard].fail(id, worker, now, error, audit).await
    }

    async fn cancel(
        &self,
        tenant: &str,
        id: &str,
        now: i64,
        reason: &str,
        audit: PreparedEvent,
    ) -> Result<Option<JobRecord>, StoreError> {
        on_tenant_shard!(self, tenant, |shard| shard.cancel(
            tenant,
            id,
            now,
            reason,
            audit.clone()
        ))
    }

    async fn job(&self, tenant: &str, id: &str) -> Result<Option<JobRecord>, StoreError> {
        self.reader(tenant).await?.job(tenant, id).await
    }

    async fn jobs(
        &self,
        tenant: &str,
        kind: &str,
        before: Option<&str>,
        limit: usize,
    ) -> Result<Vec<JobRecord>, StoreError> {
        self.reader(tenant)
            .await?
            .jobs(tenant, kind, before, limit)
            .await
    }
}
