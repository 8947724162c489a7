//! Appends: each node gathers a tenant's pending writes and commits them in groups, each in one
//! transaction that moves the tenant's head row, the only lock and the only sequencer (DESIGN
//! section 4). Only then is any caller answered. Nothing slow happens while the head is
//! locked: checkpoints are signed afterwards ([`crate::signing`]), and other nodes are told of
//! the commit afterwards ([`crate::notify`]).
//!
//! A group goes one of two ways:
//!
//! - **Sequenced ahead** ([`pipelined`]): a group of plain appends (no idempotency key, no
//!   client-chosen id, no key or job change), when this node expects the tenant's head (it
//!   moved it last). The node gives the events their seqs and hashes before it opens the
//!   transaction, `COPY`s them, and locks the head last, with an update that moves it only if
//!   it still is where the node expected. The expensive part, PostgreSQL inserting rows into
//!   the table and its indexes, then runs for up to [`PIPELINE_DEPTH`] groups of one tenant
//!   at once, each on its own connection; the head is held only for the update and the commit.
//!   A group whose expectation was wrong (another node wrote the tenant, or the group before
//!   it failed) is rolled back and sequenced again under the lock.
//! - **Under the lock** ([`locked`]): every other group, and every group of a tenant this node
//!   has no expectation for. It locks the head first, reads which of its idempotency keys and
//!   client ids were used before, decides every request, writes and commits.
//!
//! While a tenant's groups run, its next writes wait in this node's queue and go together in
//! the next group: a busy tenant gets fewer, larger transactions.

mod locked;
mod pipelined;
mod write;

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{oneshot, watch};
use trailkeep_store::quota::Place;
use trailkeep_store::{AppendOutcome, AppendRequest, StoreError};

use crate::Shared;
use crate::credentials::KeyChange;
use trailkeep_store::documents::{DocumentWrite, DocumentsWritten};
use trailkeep_store::jobs::{JobChange, JobChanged};

pub use write::{INSERT_NODES, by_seqs, terms_of, write_events, write_nodes};

/// How long to wait before the first transaction of an idle tenant, so that writes arriving
/// together share it.
pub const DEFAULT_GATHER: Duration = Duration::from_millis(1);

/// Most groups of one tenant a node has in flight at once when it sequences them ahead.
pub const PIPELINE_DEPTH: usize = 4;

/// Groups of at least this many events are sequenced on a blocking thread.
const BLOCKING_GROUP: usize = 64;

/// What a write changes besides appending its events.
pub enum Change {
    /// Nothing: a plain append.
    None,
    /// An API key, recorded by the write's event.
    Key(KeyChange),
    /// A job, recorded by the write's event when the change is one the trail records.
    Job(JobChange),
    /// A set of documents, recorded by the write's events.
    Documents {
        /// The writes, made all or none.
        writes: Vec<DocumentWrite>,
        /// When (ms since the epoch).
        now: i64,
    },
    /// Tombstones replacing event bodies, recorded by the write's event.
    Redact(Vec<trailkeep_store::Tombstone>),
}

/// What a write answers.
pub enum Answer {
    /// A plain append's outcome.
    Appended(AppendOutcome),
    /// The key as it now is.
    Key(Option<trailkeep_store::ApiKeyRecord>),
    /// The job as it now is, or why the worker was refused.
    Job(JobChanged),
    /// Whether the documents were written.
    Documents(DocumentsWritten),
    /// The record of a removal, as stored.
    Redacted(Box<trailkeep_store::StoredEvent>),
}

/// How a node's append groups went since it started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GroupCounts {
    /// Groups written under the head lock from the start.
    pub under_lock: u64,
    /// Groups sequenced ahead that committed as sequenced.
    pub sequenced_ahead: u64,
    /// Groups sequenced ahead on a wrong expectation of the head, then again under the lock.
    pub sequenced_again: u64,
}

/// The node's [`GroupCounts`], counted as groups end.
#[derive(Debug, Default)]
pub struct GroupCounters {
    under_lock: AtomicU64,
    sequenced_ahead: AtomicU64,
    sequenced_again: AtomicU64,
}

impl GroupCounters {
    /// The counts so far.
    pub fn counts(&self) -> GroupCounts {
        GroupCounts {
            under_lock: self.under_lock.load(Ordering::Relaxed),
            sequenced_ahead: self.sequenced_ahead.load(Ordering::Relaxed),
            sequenced_again: self.sequenced_again.load(Ordering::Relaxed),
        }
    }

    fn count(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// Where a write's answer goes, with its place in the node's queue (given back when answered).
struct Reply {
    to: oneshot::Sender<Result<Answer, StoreError>>,
    _place: Place,
}

impl Reply {
    fn send(self, answer: Result<Answer, StoreError>) {
        let _ = self.to.send(answer);
    }
}

/// One write waiting for its tenant's next transaction.
pub struct Write {
    change: Change,
    request: AppendRequest,
    reply: Reply,
}

impl Write {
    fn events(&self) -> usize {
        self.request.events.len()
    }

    /// Whether the write only appends events that need no look-up: no change, no
    /// idempotency key, no client-chosen id.
    fn is_plain(&self) -> bool {
        matches!(self.change, Change::None)
            && self.request.idempotency_key.is_none()
            && self.request.events.iter().all(|e| !e.client_id)
    }
}

/// A tenant's writes waiting on this node, and whether a drain of it is running.
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
    let (to, answer) = oneshot::channel();
    let write = Write {
        change,
        request,
        reply: Reply { to, _place: place },
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

/// Whether a sequenced-ahead group committed as sequenced: `None` while it runs.
type Settled = watch::Receiver<Option<bool>>;

/// Waits until a group in flight settles; says whether it committed as sequenced.
async fn settled(mut group: Settled) -> bool {
    match group.wait_for(Option::is_some).await {
        Ok(value) => value.unwrap_or(false),
        // The group's task ended without saying: it did not commit as sequenced.
        Err(_) => false,
    }
}

/// Writes the tenant's queue, a group at a time, until it is empty and nothing of it is in
/// flight.
async fn drain(shared: Arc<Shared>, tenant: String) {
    if !shared.options.gather.is_zero() {
        tokio::time::sleep(shared.options.gather).await;
    }
    let mut in_flight: VecDeque<Settled> = VecDeque::new();
    // The head the last group sequenced ahead will leave, when it commits.
    let mut predicted = None;
    loop {
        let group = {
            let mut tenants = shared.queues.tenants.lock().expect("queues");
            let Some(queue) = tenants.get_mut(&tenant) else {
                return;
            };
            if queue.waiting.is_empty() && in_flight.is_empty() {
                tenants.remove(&tenant);
                return;
            }
            (!queue.waiting.is_empty())
                .then(|| take_group(&mut queue.waiting, shared.options.max_group_events))
        };
        let Some(group) = group else {
            // Nothing waits: let the groups in flight settle, then look again, so that the
            // next drain of the tenant starts from a settled head.
            for group in in_flight.drain(..) {
                settled(group).await;
            }
            predicted = None;
            continue;
        };
        let plain = group.iter().all(Write::is_plain);
        let mut expected = if plain {
            predicted.take().or_else(|| shared.heads.expected(&tenant))
        } else {
            None
        };
        while expected.is_some() && in_flight.len() >= PIPELINE_DEPTH {
            let oldest = in_flight.pop_front().expect("a group in flight");
            if !settled(oldest).await {
                // Every group sequenced after it fails too: this one goes under the lock.
                expected = None;
            }
        }
        match expected {
            Some(head) => {
                let sequenced = if group.iter().map(Write::events).sum::<usize>() < BLOCKING_GROUP {
                    pipelined::sequence(group, head)
                } else {
                    // Sequencing hashes and encodes every event: a large group's is work for a
                    // blocking thread, so that the runtime's workers keep driving connections
                    // and requests meanwhile.
                    match tokio::task::spawn_blocking(move || pipelined::sequence(group, head))
                        .await
                    {
                        Ok(sequenced) => sequenced,
                        // Only a panic ends the task early: its writes' callers are told the
                        // store is unavailable when their replies are dropped.
                        Err(_) => continue,
                    }
                };
                predicted = Some(sequenced.head_after().clone());
                let (settle, settles) = watch::channel(None);
                let after = in_flight.back().cloned();
                in_flight.push_back(settles);
                tokio::spawn(pipelined::write(
                    shared.clone(),
                    tenant.clone(),
                    sequenced,
                    after,
                    settle,
                ));
            }
            None => {
                // A group under the lock waits for the groups in flight, so that what it
                // reads under the lock includes them.
                for group in in_flight.drain(..) {
                    settled(group).await;
                }
                predicted = None;
                GroupCounters::count(&shared.groups.under_lock);
                locked::write_group(&shared, &tenant, group).await;
            }
        }
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
