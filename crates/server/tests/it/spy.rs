//! `SpyStore`: the real embedded store behind a wrapper that records the queries the server asks
//! and can hold reads and stats at a gate, for tests of what the server asks of its store and of
//! what happens while reads are slow.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use tokio::sync::{Semaphore, watch};
use trailkeep_event::{Filter, PreparedEvent, Query};
use trailkeep_ledger::Hash;
use trailkeep_store::documents::{
    Document, DocumentRange, DocumentStore, DocumentWrite, DocumentsWritten,
};
use trailkeep_store::redaction::{RedactionStore, Swept, Tombstone};
use trailkeep_store::{
    ApiKeyRecord, AppendOutcome, AppendRequest, CanonicalEvent, EventStore, GroupBy,
    IdempotencyKey, InclusionProof, JobError, JobRecord, JobStore, KeyStore, NewJob, Page,
    SignedCheckpoint, Stats, StoreError, StoredEvent, Vitals,
};
use trailkeep_store_embedded::EmbeddedStore;

/// What the spy saw, and the gate it holds reads at.
#[derive(Default)]
pub struct Spy {
    /// Every query the server ran, with its tenant.
    pub queries: Mutex<Vec<(String, Query)>>,
    /// How many appends reached the store.
    pub appends: std::sync::atomic::AtomicUsize,
    /// While set, the named tenant's listings and statistics wait for a permit of this
    /// semaphore (one each).
    pub gate: Mutex<Option<(String, Arc<Semaphore>)>>,
}

impl Spy {
    async fn pass_gate(&self, tenant: &str) {
        let gate = self.gate.lock().unwrap().clone();
        if let Some((gated, gate)) = gate
            && gated == tenant
        {
            gate.acquire().await.unwrap().forget();
        }
    }
}

/// The embedded store, watched.
pub struct SpyStore {
    pub inner: Arc<EmbeddedStore>,
    pub spy: Arc<Spy>,
}

#[async_trait]
impl EventStore for SpyStore {
    async fn append(
        &self,
        tenant: &str,
        request: AppendRequest,
    ) -> Result<AppendOutcome, StoreError> {
        self.spy
            .appends
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.inner.append(tenant, request).await
    }

    async fn tenants(&self) -> Result<Vec<String>, StoreError> {
        self.inner.tenants().await
    }

    async fn replay(
        &self,
        tenant: &str,
        key: &IdempotencyKey,
    ) -> Result<Option<AppendOutcome>, StoreError> {
        self.inner.replay(tenant, key).await
    }

    async fn get(&self, tenant: &str, id: &str) -> Result<Option<StoredEvent>, StoreError> {
        self.inner.get(tenant, id).await
    }

    async fn scan(
        &self,
        tenant: &str,
        from: u64,
        max: usize,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        self.inner.scan(tenant, from, max).await
    }

    async fn scan_canonical(
        &self,
        tenant: &str,
        from: u64,
        max: usize,
    ) -> Result<Vec<CanonicalEvent>, StoreError> {
        self.inner.scan_canonical(tenant, from, max).await
    }

    fn commits(&self, tenant: &str) -> watch::Receiver<u64> {
        self.inner.commits(tenant)
    }

    async fn stats(
        &self,
        tenant: &str,
        filter: &Filter,
        group_by: &[GroupBy],
    ) -> Result<Stats, StoreError> {
        self.spy.pass_gate(tenant).await;
        self.inner.stats(tenant, filter, group_by).await
    }

    async fn get_by_seq(&self, tenant: &str, seq: u64) -> Result<Option<StoredEvent>, StoreError> {
        self.inner.get_by_seq(tenant, seq).await
    }

    async fn query(&self, tenant: &str, query: &Query) -> Result<Page, StoreError> {
        self.spy
            .queries
            .lock()
            .unwrap()
            .push((tenant.to_owned(), query.clone()));
        self.spy.pass_gate(tenant).await;
        self.inner.query(tenant, query).await
    }

    async fn tree_size(&self, tenant: &str) -> Result<u64, StoreError> {
        self.inner.tree_size(tenant).await
    }

    async fn checkpoint(&self, tenant: &str) -> Result<Option<SignedCheckpoint>, StoreError> {
        self.inner.checkpoint(tenant).await
    }

    async fn checkpoint_covering(
        &self,
        tenant: &str,
        size: u64,
    ) -> Result<SignedCheckpoint, StoreError> {
        self.inner.checkpoint_covering(tenant, size).await
    }

    async fn inclusion_proof(
        &self,
        tenant: &str,
        seq: u64,
        tree_size: u64,
    ) -> Result<InclusionProof, StoreError> {
        self.inner.inclusion_proof(tenant, seq, tree_size).await
    }

    async fn consistency_proof(
        &self,
        tenant: &str,
        first: u64,
        second: u64,
    ) -> Result<Vec<Hash>, StoreError> {
        self.inner.consistency_proof(tenant, first, second).await
    }

    fn vkey(&self) -> String {
        self.inner.vkey()
    }

    fn sign_note(&self, text: &str) -> Result<String, StoreError> {
        self.inner.sign_note(text)
    }

    fn vitals(&self) -> Vitals {
        self.inner.vitals()
    }
}

#[async_trait]
impl KeyStore for SpyStore {
    async fn insert_api_key(
        &self,
        key: ApiKeyRecord,
        audit: PreparedEvent,
    ) -> Result<(), StoreError> {
        self.inner.insert_api_key(key, audit).await
    }

    async fn api_key(&self, id: &str) -> Result<Option<ApiKeyRecord>, StoreError> {
        self.inner.api_key(id).await
    }

    async fn api_keys(&self, tenant: &str) -> Result<Vec<ApiKeyRecord>, StoreError> {
        self.inner.api_keys(tenant).await
    }

    async fn revoke_api_key(
        &self,
        tenant: &str,
        id: &str,
        at: i64,
        audit: PreparedEvent,
    ) -> Result<Option<ApiKeyRecord>, StoreError> {
        self.inner.revoke_api_key(tenant, id, at, audit).await
    }
}

#[async_trait]
impl RedactionStore for SpyStore {
    async fn redact(
        &self,
        tenant: &str,
        tombstones: Vec<Tombstone>,
        record: PreparedEvent,
    ) -> Result<StoredEvent, StoreError> {
        self.inner.redact(tenant, tombstones, record).await
    }

    async fn sweep(&self, before: trailkeep_event::Timestamp) -> Result<Swept, StoreError> {
        self.inner.sweep(before).await
    }

    async fn reclaim(&self) -> Result<(), StoreError> {
        self.inner.reclaim().await
    }
}

#[async_trait]
impl DocumentStore for SpyStore {
    async fn write_documents(
        &self,
        tenant: &str,
        writes: Vec<DocumentWrite>,
        audit: Vec<PreparedEvent>,
        now: i64,
    ) -> Result<DocumentsWritten, StoreError> {
        self.inner.write_documents(tenant, writes, audit, now).await
    }

    async fn document(
        &self,
        tenant: &str,
        kind: &str,
        id: &str,
    ) -> Result<Option<Document>, StoreError> {
        self.inner.document(tenant, kind, id).await
    }

    async fn documents(
        &self,
        tenant: &str,
        kind: &str,
        range: DocumentRange,
        limit: usize,
    ) -> Result<Vec<Document>, StoreError> {
        self.inner.documents(tenant, kind, range, limit).await
    }

    async fn document_tenants(&self, kind: &str) -> Result<Vec<String>, StoreError> {
        self.inner.document_tenants(kind).await
    }
}

#[async_trait]
impl JobStore for SpyStore {
    async fn enqueue(&self, job: NewJob, audit: PreparedEvent) -> Result<JobRecord, StoreError> {
        self.inner.enqueue(job, audit).await
    }

    async fn claim(
        &self,
        kinds: &[&str],
        worker: &str,
        now: i64,
        lease_ms: i64,
    ) -> Result<Option<JobRecord>, StoreError> {
        self.inner.claim(kinds, worker, now, lease_ms).await
    }

    async fn heartbeat(
        &self,
        id: &str,
        worker: &str,
        now: i64,
        lease_ms: i64,
        progress: &str,
    ) -> Result<(), JobError> {
        self.inner
            .heartbeat(id, worker, now, lease_ms, progress)
            .await
    }

    async fn complete(
        &self,
        id: &str,
        worker: &str,
        now: i64,
        result: &str,
        audit: PreparedEvent,
    ) -> Result<JobRecord, JobError> {
        self.inner.complete(id, worker, now, result, audit).await
    }

    async fn fail(
        &self,
        id: &str,
        worker: &str,
        now: i64,
        error: &str,
        audit: PreparedEvent,
    ) -> Result<JobRecord, JobError> {
        self.inner.fail(id, worker, now, error, audit).await
    }

    async fn cancel(
        &self,
        tenant: &str,
        id: &str,
        now: i64,
        reason: &str,
        audit: PreparedEvent,
    ) -> Result<Option<JobRecord>, StoreError> {
        self.inner.cancel(tenant, id, now, reason, audit).await
    }

    async fn job(&self, tenant: &str, id: &str) -> Result<Option<JobRecord>, StoreError> {
        self.inner.job(tenant, id).await
    }

    async fn jobs(
        &self,
        tenant: &str,
        kind: &str,
        before: Option<&str>,
        limit: usize,
    ) -> Result<Vec<JobRecord>, StoreError> {
        self.inner.jobs(tenant, kind, before, limit).await
    }
}
