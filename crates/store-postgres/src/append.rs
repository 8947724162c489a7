//! Appends: each node gathers a tenant's pending writes and commits them in one transaction
//! that holds the tenant's head row, the only lock and the only sequencer (DESIGN section 4).
//!
//! The transaction: lock the head (`SELECT ... FOR UPDATE`), read in two queries which of the
//! group's idempotency keys and client ids were used before, decide every request in memory,
//! `COPY` the new events in binary, insert the completed tree nodes and the idempotency keys,
//! move the head, commit; only then is any caller answered. Nothing slow happens while the head
//! is locked: checkpoints are signed afterwards ([`crate::signing`]), and other nodes are told
//! of the commit afterwards ([`crate::notify`]).
//!
//! While a tenant's transaction runs, its next writes wait in this node's queue and go
//! together in the next one: a busy tenant gets fewer, larger transactions.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::pin_mut;
use tokio::sync::oneshot;
use tokio_postgres::Transaction;
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use trailkeep_ledger::{Frontier, Hash, leaf_hash};
use trailkeep_store::quota::Place;
use trailkeep_store::slots::{Slot, slots};
use trailkeep_store::{AppendOutcome, AppendRequest, StoreError, StoredEvent};

use crate::credentials::{self, KeyChange};
use crate::jobs;
use crate::partitions::Month;
use crate::rows::{self, COPY_EVENTS, COPY_TYPES, EventRow, READ_COLUMNS};
use crate::tree::{frontier_bytes, frontier_from, is_stored_level};
use crate::{Shared, internal};
use trailkeep_store::jobs::{JobChange, JobChanged};

/// What a write changes besides appending its events.
pub enum Change {
    /// Nothing: a plain append.
    None,
    /// An API key, recorded by the write's event.
    Key(KeyChange),
    /// A job, recorded by the write's event when the change is one the trail records.
    Job(JobChange),
}

/// What a write answers.
pub enum Answer {
    /// A plain append's outcome.
    Appended(AppendOutcome),
    /// The key as it now is.
    Key(Option<trailkeep_store::ApiKeyRecord>),
    /// The job as it now is, or why the worker was refused.
    Job(JobChanged),
}

/// One write waiting for its tenant's next transaction.
pub struct Write {
    change: Change,
    request: AppendRequest,
    reply: oneshot::Sender<Result<Answer, StoreError>>,
    /// The write's place in the node's queue, given back when it is answered.
    _place: Place,
}

impl Write {
    fn events(&self) -> usize {
        self.request.events.len()
    }
}

/// A tenant's writes waiting on this node, and whether a transaction of it is running.
#[derive(Default)]
struct TenantQueue {
    waiting: Vec<Write>,
    running: bool,
}

/// The node's per-tenant queues.
#[derive(Default)]
pub struct Queues {
    tenants: Mutex<HashMap<String, TenantQueue>>,
}

impl Queues {
    /// Writes waiting or being written on this node.
    pub fn depth(&self) -> usize {
        self.tenants
            .lock()
            .expect("queues")
            .values()
            .map(|q| q.waiting.len() + usize::from(q.running))
            .sum()
    }
}

/// Queues a write for `tenant` and waits for its answer.
pub async fn submit(
    shared: &Arc<Shared>,
    tenant: &str,
    change: Change,
    request: AppendRequest,
) -> Result<Answer, StoreError> {
    let place = shared
        .admission
        .take(tenant)
        .map_err(|_| StoreError::Overloaded)?;
    let (reply, answer) = oneshot::channel();
    let write = Write {
        change,
        request,
        reply,
        _place: place,
    };
    let start = {
        let mut tenants = shared.queues.tenants.lock().expect("queues");
        let queue = tenants.entry(tenant.to_owned()).or_default();
        queue.waiting.push(write);
        !std::mem::replace(&mut queue.running, true)
    };
    if start {
        tokio::spawn(drain(shared.clone(), tenant.to_owned()));
    }
    answer
        .await
        .map_err(|_| StoreError::Unavailable("the store is shutting down".into()))?
}

/// Writes the tenant's queue, a group at a time, until it is empty.
async fn drain(shared: Arc<Shared>, tenant: String) {
    if !shared.options.gather.is_zero() {
        tokio::time::sleep(shared.options.gather).await;
    }
    loop {
        let group = {
            let mut tenants = shared.queues.tenants.lock().expect("queues");
            let Some(queue) = tenants.get_mut(&tenant) else {
                return;
            };
            if queue.waiting.is_empty() {
                tenants.remove(&tenant);
                return;
            }
            take_group(&mut queue.waiting, shared.options.max_group_events)
        };
        write_group(&shared, &tenant, group).await;
    }
}

/// The first writes of `waiting` holding at most `max_events` events (always at least one).
fn take_group(waiting: &mut Vec<Write>, max_events: usize) -> Vec<Write> {
    let mut events = 0;
    let mut count = 0;
    for write in waiting.iter() {
        if count > 0 && events + write.events() > max_events {
            break;
        }
        events += write.events();
        count += 1;
    }
    waiting.drain(..count).collect()
}

/// Writes one group and answers every write in it.
async fn write_group(shared: &Arc<Shared>, tenant: &str, group: Vec<Write>) {
    let mut replies = Vec::with_capacity(group.len());
    let mut work = Vec::with_capacity(group.len());
    for write in group {
        replies.push((write.reply, write._place));
        work.push((write.change, write.request));
    }
    match transact(shared, tenant, work).await {
        Ok((answers, committed)) => {
            if committed {
                shared.after_commit(tenant);
            }
            for ((reply, _place), answer) in replies.into_iter().zip(answers) {
                let _ = reply.send(answer);
            }
        }
        Err(error) => {
            tracing::warn!(tenant, error = %error, "an append transaction failed");
            for (reply, _place) in replies {
                let _ = reply.send(Err(error.clone()));
            }
        }
    }
}

/// What one request of the group became, before the rows are written.
enum Decided {
    /// Refused, or answered without appending (a replay, a refused job call).
    Done(Result<Answer, StoreError>),
    /// Appended: the outcome's events are final once the transaction commits.
    Appended {
        outcome: AppendOutcome,
        answer: AnswerKind,
    },
    /// A repeated idempotency key: answered with the events of these seqs.
    Replay(Vec<i64>),
}

/// How an appended request is answered once committed.
enum AnswerKind {
    Append,
    Key(Option<trailkeep_store::ApiKeyRecord>),
    Job(JobChanged),
}

/// Runs the group's transaction. Answers each request, and says whether anything was
/// committed; an error fails every request of the group.
async fn transact(
    shared: &Arc<Shared>,
    tenant: &str,
    work: Vec<(Change, AppendRequest)>,
) -> Result<(Vec<Result<Answer, StoreError>>, bool), StoreError> {
    let mut client = shared.pool.get().await.map_err(crate::pool_error)?;
    let months = work
        .iter()
        .flat_map(|(_, r)| r.events.iter())
        .map(|e| Month::of_micros(e.event.received_at.as_micros()));
    let client: &mut tokio_postgres::Client = &mut client;
    shared.partitions.ensure(client, months).await?;
    shared.heads.ensure(client, tenant).await?;

    let tx = client.transaction().await.map_err(internal)?;
    let head = tx
        .query_one(
            "SELECT size, frontier, moved_to FROM heads WHERE tenant = $1 FOR UPDATE",
            &[&tenant],
        )
        .await
        .map_err(internal)?;
    if let Some(shard) = head.get::<_, Option<i32>>(2) {
        return Err(StoreError::Unavailable(format!(
            "tenant {tenant:?} moved to shard {shard}; retry"
        )));
    }
    let mut frontier = frontier_from(head.get::<_, i64>(0) as u64, head.get(1))?;
    let size_before = frontier.size();
    let mut known = Known::read(&tx, tenant, &work).await?;

    let mut new_events: Vec<StoredEvent> = Vec::new();
    let mut nodes: Vec<(u32, u64, Hash)> = Vec::new();
    let mut used_keys: Vec<(String, Hash, Vec<i64>)> = Vec::new();
    let mut decided = Vec::with_capacity(work.len());
    for (change, request) in work {
        let answer = match change {
            Change::None => AnswerKind::Append,
            Change::Key(change) => match credentials::apply(&tx, tenant, change).await {
                Ok(applied) if applied.audited => AnswerKind::Key(applied.key),
                Ok(applied) => {
                    decided.push(Decided::Done(Ok(Answer::Key(applied.key))));
                    continue;
                }
                Err(refusal @ StoreError::DuplicateId { .. }) => {
                    decided.push(Decided::Done(Err(refusal)));
                    continue;
                }
                Err(error) => return Err(error),
            },
            Change::Job(change) => match jobs::apply(&tx, tenant, change).await {
                Ok(applied) if applied.audited => AnswerKind::Job(applied.answer),
                Ok(applied) => {
                    decided.push(Decided::Done(Ok(Answer::Job(applied.answer))));
                    continue;
                }
                Err(refusal @ StoreError::DuplicateId { .. }) => {
                    decided.push(Decided::Done(Err(refusal)));
                    continue;
                }
                Err(error) => return Err(error),
            },
        };
        let audit = !matches!(answer, AnswerKind::Append);
        let step = decide(
            &mut known,
            &mut frontier,
            &mut new_events,
            &mut nodes,
            &mut used_keys,
            request,
        );
        match step {
            Step::Appended(outcome) => decided.push(Decided::Appended { outcome, answer }),
            Step::Replay(seqs) => decided.push(Decided::Replay(seqs)),
            // A change stands only with its audit event: a refused audit event undoes the
            // group (only a full ledger could refuse one).
            Step::Refused(refusal) if audit => return Err(refusal),
            Step::Refused(refusal) => decided.push(Decided::Done(Err(refusal))),
        }
    }

    let committed = !new_events.is_empty();
    if committed {
        write_events(&tx, &new_events).await?;
        write_nodes(&tx, tenant, &nodes).await?;
        write_keys(&tx, tenant, &used_keys).await?;
        tx.execute(
            "UPDATE heads SET size = $2, frontier = $3 WHERE tenant = $1",
            &[
                &tenant,
                &(frontier.size() as i64),
                &frontier_bytes(&frontier),
            ],
        )
        .await
        .map_err(internal)?;
    }
    let mut answers = Vec::with_capacity(decided.len());
    for decision in decided {
        answers.push(match decision {
            Decided::Done(answer) => answer,
            Decided::Appended { outcome, answer } => Ok(match answer {
                AnswerKind::Append => Answer::Appended(outcome),
                AnswerKind::Key(key) => Answer::Key(key),
                AnswerKind::Job(job) => Answer::Job(job),
            }),
            Decided::Replay(seqs) => Ok(Answer::Appended(AppendOutcome {
                events: by_seqs(&tx, tenant, &seqs).await?,
                stored: 0,
                replayed: true,
            })),
        });
    }
    tx.commit().await.map_err(internal)?;
    tracing::trace!(tenant, from = size_before, to = frontier.size(), "appended");
    Ok((answers, committed))
}

/// What the database already holds of the group's idempotency keys and client ids, and what
/// the group itself stores as it goes.
struct Known {
    /// Idempotency key -> (request hash, seqs of the answer).
    keys: HashMap<String, (Hash, Vec<i64>)>,
    /// Client id -> the stored event.
    ids: HashMap<String, StoredEvent>,
}

impl Known {
    /// Reads the group's keys and ids, under the head lock (so no other append can add one).
    async fn read(
        tx: &Transaction<'_>,
        tenant: &str,
        work: &[(Change, AppendRequest)],
    ) -> Result<Self, StoreError> {
        let keys: Vec<&str> = work
            .iter()
            .filter_map(|(_, r)| r.idempotency_key.as_ref().map(|k| k.key.as_str()))
            .collect();
        let ids: Vec<&str> = work
            .iter()
            .flat_map(|(_, r)| r.events.iter())
            .filter(|e| e.client_id)
            .map(|e| e.event.id.as_str())
            .collect();
        let mut known = Known {
            keys: HashMap::new(),
            ids: HashMap::new(),
        };
        if !keys.is_empty() {
            for row in tx
                .query(
                    "SELECT key, request_hash, seqs FROM idempotency_keys
                     WHERE tenant = $1 AND key = ANY($2)",
                    &[&tenant, &keys],
                )
                .await
                .map_err(internal)?
            {
                known
                    .keys
                    .insert(row.get(0), (rows::hash(row.get(1))?, row.get(2)));
            }
        }
        if !ids.is_empty() {
            for row in tx
                .query(
                    &format!(
                        "SELECT {READ_COLUMNS} FROM events WHERE tenant = $1 AND id = ANY($2)"
                    ),
                    &[&tenant, &ids],
                )
                .await
                .map_err(internal)?
            {
                let stored = rows::stored(&row)?;
                known.ids.insert(stored.event.id.clone(), stored);
            }
        }
        Ok(known)
    }
}

/// What one request came to.
enum Step {
    /// Its events, new ones sequenced.
    Appended(AppendOutcome),
    /// A repeated idempotency key: answer with these seqs.
    Replay(Vec<i64>),
    /// Refused; nothing of it is written.
    Refused(StoreError),
}

/// Decides one request against what is known, sequencing its new events onto `frontier`.
/// Every refusal is decided before anything of the request is added, so a refused request
/// leaves nothing behind.
fn decide(
    known: &mut Known,
    frontier: &mut Frontier,
    new_events: &mut Vec<StoredEvent>,
    nodes: &mut Vec<(u32, u64, Hash)>,
    used_keys: &mut Vec<(String, Hash, Vec<i64>)>,
    request: AppendRequest,
) -> Step {
    if let Some(key) = &request.idempotency_key
        && let Some((hash, seqs)) = known.keys.get(&key.key)
    {
        return if *hash == key.request_hash {
            Step::Replay(seqs.clone())
        } else {
            Step::Refused(StoreError::IdempotencyConflict)
        };
    }
    let found = slots(request.events, |id| {
        Ok::<_, std::convert::Infallible>(known.ids.get(id).cloned())
    });
    let slots = match found.unwrap_or_else(|never| match never {}) {
        Ok(slots) => slots,
        Err(refusal) => return Step::Refused(refusal),
    };

    let mut events: Vec<StoredEvent> = Vec::with_capacity(slots.len());
    let mut stored = 0;
    for slot in slots {
        let event = match slot {
            Slot::Existing(event) => event,
            Slot::SameAs(earlier) => events[earlier].clone(),
            Slot::New(prepared) => {
                let seq = frontier.size();
                let canonical = prepared.canonical_bytes(seq);
                let leaf = leaf_hash(&canonical);
                let client_id = prepared.client_id;
                let event = StoredEvent {
                    event: prepared.into_event(seq),
                    canonical,
                    leaf_hash: leaf,
                };
                frontier.push_with(leaf, |level, index, hash| {
                    if is_stored_level(level) {
                        nodes.push((level, index, *hash));
                    }
                });
                if client_id {
                    known.ids.insert(event.event.id.clone(), event.clone());
                }
                new_events.push(event.clone());
                stored += 1;
                event
            }
        };
        events.push(event);
    }
    if let Some(key) = request.idempotency_key {
        let seqs: Vec<i64> = events.iter().map(|e| e.event.seq as i64).collect();
        known
            .keys
            .insert(key.key.clone(), (key.request_hash, seqs.clone()));
        used_keys.push((key.key, key.request_hash, seqs));
    }
    Step::Appended(AppendOutcome {
        events,
        stored,
        replayed: false,
    })
}

/// `COPY`s new events in binary (a group's, or a move's).
pub async fn write_events(tx: &Transaction<'_>, events: &[StoredEvent]) -> Result<(), StoreError> {
    let sink = tx.copy_in(COPY_EVENTS).await.map_err(internal)?;
    let writer = BinaryCopyInWriter::new(sink, &COPY_TYPES);
    pin_mut!(writer);
    for event in events {
        let row = EventRow::of(event);
        writer
            .as_mut()
            .write(&row.values())
            .await
            .map_err(internal)?;
    }
    writer.finish().await.map_err(internal)?;
    Ok(())
}

/// Inserts the perfect subtrees the group completed at the stored levels.
pub async fn write_nodes(
    tx: &Transaction<'_>,
    tenant: &str,
    nodes: &[(u32, u64, Hash)],
) -> Result<(), StoreError> {
    if nodes.is_empty() {
        return Ok(());
    }
    let levels: Vec<i32> = nodes.iter().map(|n| n.0 as i32).collect();
    let indexes: Vec<i64> = nodes.iter().map(|n| n.1 as i64).collect();
    let hashes: Vec<&[u8]> = nodes.iter().map(|n| &n.2[..]).collect();
    tx.execute(
        "INSERT INTO ledger_nodes (tenant, level, idx, hash)
         SELECT $1, * FROM unnest($2::int[], $3::bigint[], $4::bytea[])",
        &[&tenant, &levels, &indexes, &hashes],
    )
    .await
    .map_err(internal)?;
    Ok(())
}

/// Inserts the idempotency keys the group used for the first time.
async fn write_keys(
    tx: &Transaction<'_>,
    tenant: &str,
    keys: &[(String, Hash, Vec<i64>)],
) -> Result<(), StoreError> {
    for (key, hash, seqs) in keys {
        tx.execute(
            "INSERT INTO idempotency_keys (tenant, key, request_hash, seqs) VALUES ($1, $2, $3, $4)",
            &[&tenant, key, &&hash[..], seqs],
        )
        .await
        .map_err(internal)?;
    }
    Ok(())
}

/// The tenant's events with these seqs, in the order given.
pub async fn by_seqs(
    client: &impl tokio_postgres::GenericClient,
    tenant: &str,
    seqs: &[i64],
) -> Result<Vec<StoredEvent>, StoreError> {
    let rows = client
        .query(
            &format!("SELECT {READ_COLUMNS} FROM events WHERE tenant = $1 AND seq = ANY($2)"),
            &[&tenant, &seqs],
        )
        .await
        .map_err(internal)?;
    let mut found: HashMap<u64, StoredEvent> = HashMap::with_capacity(rows.len());
    for row in &rows {
        let event = rows::stored(row)?;
        found.insert(event.event.seq, event);
    }
    seqs.iter()
        .map(|&seq| {
            found.get(&(seq as u64)).cloned().ok_or_else(|| {
                StoreError::Corrupt(format!(
                    "an idempotency key names event {seq}, which is not stored"
                ))
            })
        })
        .collect()
}

/// How long to wait before the first transaction of an idle tenant, so that writes arriving
/// together share it.
pub const DEFAULT_GATHER: Duration = Duration::from_millis(1);
