//! The single writer: group commit, sequencing, leaf hashing and checkpoint signing.
//!
//! Why one writer thread: SQLite allows one writer at a time anyway, and a single owner of every
//! tenant's tree makes seq assignment trivially dense. Throughput comes from group commit: the
//! writer takes whatever appends are queued (up to a bound), writes them all in one transaction,
//! commits (one fsync), and only then acknowledges each of them. A crash before the commit loses
//! only unacknowledged work; nothing half-written becomes visible.
//!
//! Checkpoints are signed in the same transaction as the batch they cover, at most once per
//! tenant per checkpoint interval (a second by default); a tenant whose newest events are not
//! yet covered is signed by a timer when its interval has passed. Nothing a reader does makes
//! the writer sign sooner: a reader that needs a checkpoint covering a given event waits for
//! the timer (`EventStore::checkpoint_covering`), so reads cannot turn into signed, fsync'd
//! transactions.
//!
//! After each commit the writer bumps the commit watch of every tenant it wrote (and of every
//! tenant whose checkpoint it published), so that live readers of one tenant are not woken by
//! another tenant's writes.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use rusqlite::{Connection, Transaction, params};
use tokio::sync::oneshot;
use trailkeep_event::{PreparedEvent, Timestamp};
use trailkeep_ledger::{Checkpoint, Hash, NoteSigner, perfect_root};
use trailkeep_store::quota::Place;
use trailkeep_store::{
    ApiKeyRecord, AppendOutcome, AppendRequest, SignedCheckpoint, StoreError, StoredEvent,
    Tombstone,
};

use crate::credentials;
use crate::documents;
use crate::high_water::{self, HighWater};
use crate::jobs;
use crate::queue::FairQueue;
use crate::redaction;
use crate::rows;
use crate::schema::{MAX_SEQ, event_key};
use crate::state::{Registry, TenantState};
use crate::tree::{BLOCK_LEAVES, UpperLevels, WriterSource, internal};
use trailkeep_store::documents::{DocumentWrite, DocumentsWritten};
use trailkeep_store::jobs::{JobChange, JobChanged};
use trailkeep_store::slots::{Slot, resolve, sequenced, slots};

/// How the writer groups and signs.
#[derive(Debug, Clone, Copy)]
pub struct WriterSettings {
    /// Most events in one transaction.
    pub max_group_events: usize,
    /// The shortest time between two checkpoints of one tenant.
    pub checkpoint_interval: Duration,
}

/// Work for the writer thread.
pub enum Job {
    /// Append a batch for a tenant.
    Append {
        /// The tenant.
        tenant: String,
        /// The batch.
        request: AppendRequest,
        /// Where the answer goes.
        reply: oneshot::Sender<Result<AppendOutcome, StoreError>>,
        /// Its place among the appends waiting, freed once it is written.
        ticket: Place,
    },
    /// Change an API key and append the event recording it, in one transaction.
    ChangeKey {
        /// The key's tenant, whose trail records the change.
        tenant: String,
        /// The change.
        change: KeyChange,
        /// The event recording it (boxed: jobs move through a queue, and this one is rare).
        audit: Box<PreparedEvent>,
        /// Where the key as it now is goes (`None`: the tenant has no such key).
        reply: oneshot::Sender<Result<Option<ApiKeyRecord>, StoreError>>,
        /// Its place among the appends waiting, freed once it is written.
        ticket: Place,
    },
    /// Change a job and append the event recording it (when the change is one the trail
    /// records), in one transaction.
    ChangeJob {
        /// The job's tenant, whose trail records the change.
        tenant: String,
        /// The change.
        change: JobChange,
        /// The event recording it (boxed, as for keys).
        audit: Box<PreparedEvent>,
        /// Where the answer goes.
        reply: oneshot::Sender<Result<JobChanged, StoreError>>,
        /// Its place among the appends waiting, freed once it is written.
        ticket: Place,
    },
    /// Write a set of documents and append the events recording it, in one transaction.
    ChangeDocuments {
        /// The documents' tenant, whose trail records the change.
        tenant: String,
        /// The writes, made all or none.
        writes: Vec<DocumentWrite>,
        /// When (ms since the epoch).
        now: i64,
        /// The events recording them (at least one).
        audit: AppendRequest,
        /// Where the answer goes.
        reply: oneshot::Sender<Result<DocumentsWritten, StoreError>>,
        /// Its place among the appends waiting, freed once it is written.
        ticket: Place,
    },
    /// Replace event bodies by tombstones and append the record of the removal, in one
    /// transaction.
    Redact {
        /// The events' tenant, whose trail records the removal.
        tenant: String,
        /// The new bodies.
        tombstones: Vec<Tombstone>,
        /// The record (boxed, as for keys).
        record: Box<PreparedEvent>,
        /// Where the stored record goes.
        reply: oneshot::Sender<Result<StoredEvent, StoreError>>,
        /// Its place among the appends waiting, freed once it is written.
        ticket: Place,
    },
    /// Work on the writer's connection that records nothing in any trail (claiming a job,
    /// renewing a lease): run between groups, in its own transaction, outside the tenants'
    /// queues. It sends its own answer.
    Direct(Box<dyn FnOnce(&mut Connection) + Send>),
    /// Finish queued work, sign pending checkpoints and stop.
    Shutdown,
}

impl Job {
    /// The tenant whose ledger the job writes (`None` for a shutdown).
    pub fn tenant(&self) -> Option<&str> {
        match self {
            Job::Append { tenant, .. }
            | Job::ChangeKey { tenant, .. }
            | Job::ChangeJob { tenant, .. }
            | Job::ChangeDocuments { tenant, .. }
            | Job::Redact { tenant, .. } => Some(tenant),
            // Direct work never reaches the queue (the writer runs it as it arrives).
            Job::Direct(_) | Job::Shutdown => None,
        }
    }

    /// How many events the job writes, at least 1 (what a group's size is counted in).
    pub fn events(&self) -> usize {
        match self {
            Job::Append { request, .. } | Job::ChangeDocuments { audit: request, .. } => {
                request.events.len().max(1)
            }
            Job::Redact { tombstones, .. } => tombstones.len().max(1),
            _ => 1,
        }
    }
}

/// A change to the API keys, made together with the event that records it.
pub enum KeyChange {
    /// Store a new key.
    Insert(ApiKeyRecord),
    /// Revoke the tenant's key `id` at `at` (seconds since the epoch).
    Revoke {
        /// The key id.
        id: String,
        /// When.
        at: i64,
    },
}

/// A change written with its audit event.
enum Change {
    Key(KeyChange),
    Job(JobChange),
    Documents {
        writes: Vec<DocumentWrite>,
        now: i64,
    },
    Redact(Vec<Tombstone>),
}

/// One write of a group, and where its answer goes.
struct Write {
    tenant: String,
    request: AppendRequest,
    change: Option<Change>,
}

/// What a write answers.
enum Written {
    Appended(AppendOutcome),
    KeyChanged(Option<ApiKeyRecord>),
    JobChanged(JobChanged),
    DocumentsWritten(DocumentsWritten),
    Redacted(Box<StoredEvent>),
}

/// Where a write's answer goes.
enum Reply {
    Append(oneshot::Sender<Result<AppendOutcome, StoreError>>),
    Key(oneshot::Sender<Result<Option<ApiKeyRecord>, StoreError>>),
    Job(oneshot::Sender<Result<JobChanged, StoreError>>),
    Documents(oneshot::Sender<Result<DocumentsWritten, StoreError>>),
    Redacted(oneshot::Sender<Result<StoredEvent, StoreError>>),
}

impl Reply {
    fn send(self, answer: Result<Written, StoreError>) {
        /// Sends what `pick` finds in the answer; the caller may have gone away, and what was
        /// written stays written all the same.
        fn give<T>(
            reply: oneshot::Sender<Result<T, StoreError>>,
            answer: Result<Written, StoreError>,
            pick: impl FnOnce(Written) -> Option<T>,
        ) {
            let answer = answer.and_then(|written| {
                pick(written).ok_or_else(|| StoreError::Internal("a mismatched answer".into()))
            });
            let _ = reply.send(answer);
        }
        match self {
            Reply::Append(reply) => give(reply, answer, |w| match w {
                Written::Appended(outcome) => Some(outcome),
                _ => None,
            }),
            Reply::Key(reply) => give(reply, answer, |w| match w {
                Written::KeyChanged(record) => Some(record),
                _ => None,
            }),
            Reply::Job(reply) => give(reply, answer, |w| match w {
                Written::JobChanged(changed) => Some(changed),
                _ => None,
            }),
            Reply::Documents(reply) => give(reply, answer, |w| match w {
                Written::DocumentsWritten(written) => Some(written),
                _ => None,
            }),
            Reply::Redacted(reply) => give(reply, answer, |w| match w {
                Written::Redacted(record) => Some(*record),
                _ => None,
            }),
        }
    }
}

/// The writer's own view of a tenant's tree.
pub struct WriterTenant {
    /// The shared state readers use.
    pub state: Arc<TenantState>,
    /// Events written (committed, or inside the open transaction).
    pub size: u64,
    /// Leaf hashes of the incomplete block at the tree's right edge.
    pub block: Vec<Hash>,
    /// Size covered by the newest signed checkpoint.
    pub signed_size: u64,
    /// When the newest checkpoint was signed by this process.
    pub signed_at: Option<Instant>,
}

/// What to restore for a tenant if the open transaction fails.
struct Mark {
    size: u64,
    block: Vec<Hash>,
    blocks: u64,
    is_new: bool,
}

/// The writer thread's state.
pub struct Writer {
    conn: Connection,
    signer: NoteSigner,
    registry: Arc<Registry>,
    tenants: HashMap<String, WriterTenant>,
    /// Tenants with events not covered by a checkpoint yet.
    pending: HashSet<String>,
    settings: WriterSettings,
    /// Where every committed checkpoint's size and root are also recorded.
    high_water: HighWater,
}

impl Writer {
    /// A writer over `conn`, continuing the trees recovered at start-up.
    pub fn new(
        conn: Connection,
        signer: NoteSigner,
        registry: Arc<Registry>,
        tenants: HashMap<String, WriterTenant>,
        settings: WriterSettings,
        high_water: HighWater,
    ) -> Self {
        Self {
            conn,
            signer,
            registry,
            tenants,
            pending: HashSet::new(),
            settings,
            high_water,
        }
    }

    /// Runs until a [`Job::Shutdown`] arrives (and everything queued before it is written) or
    /// every sender is gone. Jobs are written in groups taken fairly across tenants
    /// ([`FairQueue`]).
    pub fn run(mut self, jobs: Receiver<Job>) {
        let mut queue = FairQueue::default();
        loop {
            if queue.is_empty() {
                if queue.stopping() {
                    break;
                }
                let job = match self.next_deadline() {
                    Some(deadline) => match jobs.recv_timeout(deadline) {
                        Ok(job) => job,
                        Err(RecvTimeoutError::Timeout) => {
                            self.sign_due(false);
                            continue;
                        }
                        Err(RecvTimeoutError::Disconnected) => break,
                    },
                    None => match jobs.recv() {
                        Ok(job) => job,
                        Err(_) => break,
                    },
                };
                self.intake(&mut queue, job);
            }
            while let Ok(job) = jobs.try_recv() {
                self.intake(&mut queue, job);
            }
            let group = queue.take_group(self.settings.max_group_events);
            if !group.is_empty() {
                self.process(group);
            }
            self.sign_due(false);
        }
        self.sign_due(true);
    }

    /// Queues `job` for its group, or runs it now when it is direct work.
    fn intake(&mut self, queue: &mut FairQueue, job: Job) {
        match job {
            Job::Direct(work) => work(&mut self.conn),
            job => queue.push(job),
        }
    }

    /// How long until the earliest pending checkpoint is due.
    fn next_deadline(&self) -> Option<Duration> {
        self.pending
            .iter()
            .filter_map(|name| self.tenants.get(name))
            .map(|t| {
                t.signed_at.map_or(Duration::ZERO, |at| {
                    self.settings
                        .checkpoint_interval
                        .saturating_sub(at.elapsed())
                })
            })
            .min()
    }

    fn process(&mut self, group: Vec<Job>) {
        let mut writes = Vec::with_capacity(group.len());
        let mut replies = Vec::with_capacity(group.len());
        // Held until the group is written.
        let mut tickets = Vec::with_capacity(group.len());
        for job in group {
            match job {
                Job::Append {
                    tenant,
                    request,
                    reply,
                    ticket,
                } => {
                    tickets.push(ticket);
                    writes.push(Write {
                        tenant,
                        request,
                        change: None,
                    });
                    replies.push(Reply::Append(reply));
                }
                Job::ChangeKey {
                    tenant,
                    change,
                    audit,
                    reply,
                    ticket,
                } => {
                    tickets.push(ticket);
                    writes.push(Write {
                        tenant,
                        request: AppendRequest {
                            events: vec![*audit],
                            idempotency_key: None,
                        },
                        change: Some(Change::Key(change)),
                    });
                    replies.push(Reply::Key(reply));
                }
                Job::ChangeJob {
                    tenant,
                    change,
                    audit,
                    reply,
                    ticket,
                } => {
                    tickets.push(ticket);
                    writes.push(Write {
                        tenant,
                        request: AppendRequest {
                            events: vec![*audit],
                            idempotency_key: None,
                        },
                        change: Some(Change::Job(change)),
                    });
                    replies.push(Reply::Job(reply));
                }
                Job::ChangeDocuments {
                    tenant,
                    writes: documents,
                    now,
                    audit,
                    reply,
                    ticket,
                } => {
                    tickets.push(ticket);
                    writes.push(Write {
                        tenant,
                        request: audit,
                        change: Some(Change::Documents {
                            writes: documents,
                            now,
                        }),
                    });
                    replies.push(Reply::Documents(reply));
                }
                Job::Redact {
                    tenant,
                    tombstones,
                    record,
                    reply,
                    ticket,
                } => {
                    tickets.push(ticket);
                    writes.push(Write {
                        tenant,
                        request: AppendRequest {
                            events: vec![*record],
                            idempotency_key: None,
                        },
                        change: Some(Change::Redact(tombstones)),
                    });
                    replies.push(Reply::Redacted(reply));
                }
                Job::Direct(_) | Job::Shutdown => {}
            }
        }
        let answers = self.write_all(writes);
        // Written: their places in the queue are free before anyone hears back.
        drop(tickets);
        for (reply, answer) in replies.into_iter().zip(answers) {
            reply.send(answer);
        }
    }

    /// Writes every write of a group in one transaction; returns one answer per write.
    fn write_all(&mut self, writes: Vec<Write>) -> Vec<Result<Written, StoreError>> {
        let count = writes.len();
        let mut marks: HashMap<String, Mark> = HashMap::new();
        match self.write_group(writes, &mut marks) {
            Ok(answers) => answers,
            Err(error) => {
                tracing::error!(%error, "append transaction failed; nothing of it was stored");
                self.roll_back(marks);
                let error = match error {
                    StoreError::Internal(_) => {
                        StoreError::Unavailable("the write could not be committed".into())
                    }
                    other => other,
                };
                (0..count).map(|_| Err(error.clone())).collect()
            }
        }
    }

    fn write_group(
        &mut self,
        writes: Vec<Write>,
        marks: &mut HashMap<String, Mark>,
    ) -> Result<Vec<Result<Written, StoreError>>, StoreError> {
        let now = Timestamp::now();
        let tx = self.conn.transaction().map_err(internal)?;
        let mut answers = Vec::with_capacity(writes.len());
        for Write {
            tenant: name,
            request,
            change,
        } in writes
        {
            if !self.tenants.contains_key(&name) {
                let id = create_tenant(&tx, &name)?;
                let state = Arc::new(TenantState::new(id, 0, UpperLevels::default(), None));
                self.tenants.insert(
                    name.clone(),
                    WriterTenant {
                        state,
                        size: 0,
                        block: Vec::new(),
                        signed_size: 0,
                        signed_at: None,
                    },
                );
                marks.insert(
                    name.clone(),
                    Mark {
                        size: 0,
                        block: Vec::new(),
                        blocks: 0,
                        is_new: true,
                    },
                );
            }
            let tenant = self.tenants.get_mut(&name).expect("inserted above");
            marks.entry(name.clone()).or_insert_with(|| Mark {
                size: tenant.size,
                block: tenant.block.clone(),
                blocks: read_upper(&tenant.state).blocks(),
                is_new: false,
            });
            let answer = match change {
                None => append_one(&tx, tenant, request, now)?.map(Written::Appended),
                Some(Change::Key(change)) => change_key(&tx, tenant, &name, change, request, now)?,
                Some(Change::Job(change)) => change_job(&tx, tenant, &name, change, request, now)?,
                Some(Change::Documents { writes, now: at }) => {
                    change_documents(&tx, tenant, &name, &writes, at, request, now)?
                }
                Some(Change::Redact(tombstones)) => {
                    redact(&tx, tenant, &name, &tombstones, request, now)?
                }
            };
            answers.push(answer);
        }

        let mut signed = Vec::new();
        for name in marks.keys() {
            let tenant = &self.tenants[name];
            if tenant.size == tenant.signed_size {
                continue;
            }
            if tenant
                .signed_at
                .is_none_or(|at| at.elapsed() >= self.settings.checkpoint_interval)
            {
                let checkpoint = sign_checkpoint(&self.signer, name, tenant)?;
                insert_checkpoint(&tx, tenant.state.id, &checkpoint, now)?;
                signed.push((name.clone(), checkpoint));
            }
        }
        tx.commit().map_err(internal)?;

        let mut written = Vec::with_capacity(marks.len());
        for (name, mark) in marks.drain() {
            let tenant = &self.tenants[&name];
            tenant.state.set_committed(tenant.size);
            if mark.is_new {
                self.registry.insert(name.clone(), tenant.state.clone());
            }
            if tenant.size != tenant.signed_size {
                self.pending.insert(name.clone());
            }
            written.push(name);
        }
        for (name, checkpoint) in signed {
            self.publish(&name, checkpoint);
        }
        self.sync_high_water();
        for name in written {
            self.registry.notify(&name);
        }
        Ok(answers)
    }

    /// Undoes the in-memory effects of a failed transaction.
    fn roll_back(&mut self, marks: HashMap<String, Mark>) {
        for (name, mark) in marks {
            if mark.is_new {
                self.tenants.remove(&name);
                continue;
            }
            if let Some(tenant) = self.tenants.get_mut(&name) {
                tenant.size = mark.size;
                tenant.block = mark.block;
                write_upper(&tenant.state).truncate_blocks(mark.blocks);
            }
        }
    }

    /// Records a committed checkpoint as the tenant's newest, and as its high-water mark (made
    /// durable by the caller's `sync_high_water`).
    fn publish(&mut self, name: &str, checkpoint: SignedCheckpoint) {
        let mark = high_water::HighWaterMark {
            size: checkpoint.size,
            root: checkpoint.root,
        };
        if let Err(error) = self.high_water.record(name, mark) {
            // The checkpoint is committed; the file only lags (a lower bound stays true).
            tracing::error!(%error, tenant = %name, "recording a high-water mark failed");
        }
        if let Some(tenant) = self.tenants.get_mut(name) {
            tenant.signed_size = checkpoint.size;
            tenant.signed_at = Some(Instant::now());
            self.registry.note_signed();
            if tenant.signed_size == tenant.size {
                self.pending.remove(name);
            }
            *tenant
                .state
                .checkpoint
                .write()
                .unwrap_or_else(|p| p.into_inner()) = Some(checkpoint);
        }
        self.registry.notify(name);
    }

    /// Signs the pending tenants whose interval has passed (all of them with `all`).
    fn sign_due(&mut self, all: bool) {
        let due: Vec<String> = self
            .pending
            .iter()
            .filter(|name| {
                all || self.tenants.get(*name).is_some_and(|t| {
                    t.signed_at
                        .is_none_or(|at| at.elapsed() >= self.settings.checkpoint_interval)
                })
            })
            .cloned()
            .collect();
        for name in due {
            if let Err(error) = self.sign_now(&name) {
                tracing::error!(%error, tenant = %name, "signing a checkpoint failed");
            }
        }
        self.sync_high_water();
    }

    /// Makes the marks recorded since the last call durable, with one fsync.
    fn sync_high_water(&mut self) {
        if let Err(error) = self.high_water.sync() {
            // The checkpoints are committed; the file only lags (a lower bound stays true).
            tracing::error!(%error, "recording high-water marks failed");
        }
    }

    /// Signs and stores a checkpoint of the tenant's committed tree now.
    fn sign_now(&mut self, name: &str) -> Result<(), StoreError> {
        let Some(tenant) = self.tenants.get(name) else {
            return Ok(());
        };
        if tenant.size == tenant.signed_size {
            self.pending.remove(name);
            return Ok(());
        }
        let checkpoint = sign_checkpoint(&self.signer, name, tenant)?;
        let tx = self.conn.transaction().map_err(internal)?;
        insert_checkpoint(&tx, tenant.state.id, &checkpoint, Timestamp::now())?;
        tx.commit().map_err(internal)?;
        self.publish(name, checkpoint);
        Ok(())
    }
}

fn read_upper(state: &TenantState) -> std::sync::RwLockReadGuard<'_, UpperLevels> {
    state.upper.read().unwrap_or_else(|p| p.into_inner())
}

fn write_upper(state: &TenantState) -> std::sync::RwLockWriteGuard<'_, UpperLevels> {
    state.upper.write().unwrap_or_else(|p| p.into_inner())
}

fn create_tenant(tx: &Transaction<'_>, name: &str) -> Result<i64, StoreError> {
    tx.prepare_cached("INSERT INTO tenants (name) VALUES (?1)")
        .and_then(|mut s| s.execute([name]))
        .map_err(internal)?;
    let id = tx.last_insert_rowid();
    if id >= 1 << (63 - crate::schema::SEQ_BITS) {
        return Err(StoreError::Internal("too many tenants".into()));
    }
    Ok(id)
}

/// Changes an API key and appends `request` (the event recording the change) inside the group's
/// transaction: both or neither. A revocation that changes nothing (no such key, or revoked
/// before) appends nothing.
fn change_key(
    tx: &Transaction<'_>,
    tenant: &mut WriterTenant,
    name: &str,
    change: KeyChange,
    request: AppendRequest,
    now: Timestamp,
) -> Result<Result<Written, StoreError>, StoreError> {
    let record = match change {
        KeyChange::Insert(key) => {
            if key.tenant != name {
                return Ok(Err(StoreError::Internal(
                    "a key's audit event belongs in the key's own tenant".into(),
                )));
            }
            if !credentials::insert(tx, &key)? {
                return Ok(Err(StoreError::DuplicateId {
                    index: 0,
                    id: key.id,
                }));
            }
            Some(key)
        }
        KeyChange::Revoke { id, at } => {
            if !credentials::revoke(tx, name, &id, at)? {
                let current = credentials::by_id(tx, &id)?.filter(|k| k.tenant == name);
                return Ok(Ok(Written::KeyChanged(current)));
            }
            credentials::by_id(tx, &id)?
        }
    };
    match append_one(tx, tenant, request, now)? {
        Ok(_) => Ok(Ok(Written::KeyChanged(record))),
        // The key row is written already, and a change must not stand unaudited: undo the whole
        // group instead (only a full ledger refuses a self-audit event).
        Err(refusal) => Err(refusal),
    }
}

/// Changes a job and, when the change is one the trail records, appends its audit event.
fn change_job(
    tx: &Transaction<'_>,
    tenant: &mut WriterTenant,
    name: &str,
    change: JobChange,
    request: AppendRequest,
    now: Timestamp,
) -> Result<Result<Written, StoreError>, StoreError> {
    let applied = match jobs::apply(tx, name, change) {
        Ok(applied) => applied,
        // Refused before anything was written (a duplicate id): the group goes on.
        Err(refusal @ StoreError::DuplicateId { .. }) => return Ok(Err(refusal)),
        Err(error) => return Err(error),
    };
    if applied.audited {
        // The job row is written already, and a change must not stand unaudited: undo the
        // whole group instead (only a full ledger refuses a self-audit event).
        append_one(tx, tenant, request, now)??;
    }
    Ok(Ok(Written::JobChanged(applied.answer)))
}

/// Writes a set of documents and appends `request` (the events recording it) inside the
/// group's transaction: both or neither. A conflict writes and appends nothing.
fn change_documents(
    tx: &Transaction<'_>,
    tenant: &mut WriterTenant,
    name: &str,
    writes: &[DocumentWrite],
    at: i64,
    request: AppendRequest,
    now: Timestamp,
) -> Result<Result<Written, StoreError>, StoreError> {
    let written = documents::apply(tx, name, writes, at)?;
    if written.is_ok() {
        // The documents are written already, and a change must not stand unaudited: undo the
        // whole group instead (only a full ledger refuses a self-audit event).
        append_one(tx, tenant, request, now)??;
    }
    Ok(Ok(Written::DocumentsWritten(written)))
}

/// Writes tombstones and appends `request` (the record of their removal) inside the group's
/// transaction: both or neither. A refused tombstone writes and appends nothing.
fn redact(
    tx: &Transaction<'_>,
    tenant: &mut WriterTenant,
    name: &str,
    tombstones: &[Tombstone],
    request: AppendRequest,
    now: Timestamp,
) -> Result<Result<Written, StoreError>, StoreError> {
    if let Err(refusal) = redaction::apply(tx, tenant.state.id, name, tenant.size, tombstones)? {
        return Ok(Err(refusal));
    }
    // The bodies are replaced already, and a removal must not stand unrecorded: undo the
    // whole group instead (only a full ledger or a taken record id refuses the record).
    let mut outcome = append_one(tx, tenant, request, now)??;
    let record = outcome
        .events
        .pop()
        .ok_or_else(|| StoreError::Internal("the redaction record was not appended".into()))?;
    Ok(Ok(Written::Redacted(Box::new(record))))
}

/// Checks and writes one append request inside the group's transaction.
///
/// Every refusal (conflicting id, reused idempotency key) is decided before the first row is
/// written, so a refused request leaves nothing behind in the transaction. The outer `Result`
/// is for failures that doom the whole transaction.
fn append_one(
    tx: &Transaction<'_>,
    tenant: &mut WriterTenant,
    request: AppendRequest,
    now: Timestamp,
) -> Result<Result<AppendOutcome, StoreError>, StoreError> {
    let tenant_id = tenant.state.id;
    if let Some(key) = &request.idempotency_key {
        match rows::previous_use(tx, tenant_id, key)? {
            None => {}
            Some(rows::Previous::Other) => return Ok(Err(StoreError::IdempotencyConflict)),
            Some(rows::Previous::Same(seqs)) => {
                return Ok(Ok(AppendOutcome {
                    events: rows::all_by_seq(tx, tenant_id, &seqs, &rows::replayed_seq_missing)?,
                    stored: 0,
                    replayed: true,
                }));
            }
        }
    }

    // Decide, for each event, whether it is new or the retry of one already stored.
    let slots = match slots(request.events, |id| rows::by_id(tx, tenant_id, id))? {
        Ok(slots) => slots,
        Err(refusal) => return Ok(Err(refusal)),
    };
    let new_count = slots.iter().filter(|s| matches!(s, Slot::New(_))).count() as u64;
    if tenant.size + new_count > MAX_SEQ {
        return Ok(Err(StoreError::OutOfRange(
            "the tenant's ledger is full".into(),
        )));
    }

    let mut insert = tx
        .prepare_cached(
            "INSERT INTO events (key, tenant_id, id, occurred_us, leaf_hash, body)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )
        .map_err(internal)?;
    let (events, stored) = resolve(slots, |prepared| {
        let event = sequenced(prepared, tenant.size);
        insert
            .execute(params![
                event_key(tenant_id, event.event.seq),
                tenant_id,
                event.event.id,
                event.event.occurred_at.as_micros(),
                &event.leaf_hash[..],
                event.canonical,
            ])
            .map_err(internal)?;
        push_leaf(tx, tenant, event.leaf_hash)?;
        Ok(event)
    })?;

    if let Some(key) = &request.idempotency_key {
        let seqs: Vec<u8> = events
            .iter()
            .flat_map(|e| e.event.seq.to_le_bytes())
            .collect();
        tx.prepare_cached(
            "INSERT INTO idempotency_keys (tenant_id, key, request_hash, seqs, created_us)
             VALUES (?1, ?2, ?3, ?4, ?5)",
        )
        .and_then(|mut s| {
            s.execute(params![
                tenant_id,
                key.key,
                &key.request_hash[..],
                seqs,
                now.as_micros()
            ])
        })
        .map_err(internal)?;
    }
    Ok(Ok(AppendOutcome {
        events,
        stored,
        replayed: false,
    }))
}

/// Adds a leaf to the tenant's tree; stores the block root when it completes a block.
fn push_leaf(
    tx: &Transaction<'_>,
    tenant: &mut WriterTenant,
    leaf: Hash,
) -> Result<(), StoreError> {
    tenant.block.push(leaf);
    tenant.size += 1;
    if tenant.block.len() as u64 == BLOCK_LEAVES {
        let root = perfect_root(&tenant.block);
        let mut upper = write_upper(&tenant.state);
        tx.prepare_cached(
            "INSERT OR REPLACE INTO ledger_nodes (tenant_id, idx, hash) VALUES (?1, ?2, ?3)",
        )
        .and_then(|mut s| s.execute(params![tenant.state.id, upper.blocks() as i64, &root[..]]))
        .map_err(internal)?;
        upper.push_block(root);
        tenant.block.clear();
    }
    Ok(())
}

/// Signs a checkpoint of the tenant's tree as the writer currently sees it.
pub fn sign_checkpoint(
    signer: &NoteSigner,
    name: &str,
    tenant: &WriterTenant,
) -> Result<SignedCheckpoint, StoreError> {
    let upper = read_upper(&tenant.state);
    let mut source = WriterSource {
        upper: &upper,
        block: &tenant.block,
    };
    let root = trailkeep_ledger::root(&mut source, tenant.size)?;
    let checkpoint = Checkpoint {
        origin: format!("{}/{}", signer.name(), name),
        size: tenant.size,
        root,
    };
    let note = checkpoint
        .sign(signer)
        .map_err(|e| StoreError::Internal(format!("sign checkpoint: {e}")))?;
    Ok(SignedCheckpoint {
        size: tenant.size,
        root,
        note,
    })
}

/// Stores a signed checkpoint.
pub fn insert_checkpoint(
    conn: &Connection,
    tenant_id: i64,
    checkpoint: &SignedCheckpoint,
    now: Timestamp,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT OR REPLACE INTO checkpoints (tenant_id, size, root, note, created_us)
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )
    .and_then(|mut s| {
        s.execute(params![
            tenant_id,
            checkpoint.size as i64,
            &checkpoint.root[..],
            checkpoint.note,
            now.as_micros()
        ])
    })
    .map_err(internal)?;
    Ok(())
}
