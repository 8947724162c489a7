//! Groups written under the head lock: lock the tenant's head (`SELECT ... FOR UPDATE`), read
//! in two queries which of the group's idempotency keys and client ids were used before,
//! decide every request in memory, `COPY` the new events in binary, insert the completed tree
//! nodes and the idempotency keys, move the head, commit. Also where a group sequenced ahead
//! ([`super::pipelined`]) is sequenced again when its expectation of the head was wrong.

use std::collections::HashMap;
use std::sync::Arc;

use tokio_postgres::Transaction;
use trailkeep_event::PreparedEvent;
use trailkeep_ledger::{Frontier, Hash, leaf_hash};
use trailkeep_store::slots::{resolve, sequenced, slots};
use trailkeep_store::{AppendOutcome, AppendRequest, StoreError, StoredEvent};

use super::write::{
    INSERT_KEY, INSERT_NODES, by_seqs, events_of, terms_of, write_events, write_keys, write_nodes,
};
use super::{Answer, Change, Write};
use crate::credentials;
use crate::documents;
use crate::jobs;
use crate::partitions::Month;
use crate::redaction;
use crate::rows::{self, COPY_EVENTS, READ_COLUMNS};
use crate::tree::{frontier_bytes, frontier_from, is_stored_level};
use crate::{Shared, internal};

/// Locks the tenant's head for the rest of the transaction.
const LOCK_HEAD: &str = "SELECT size, frontier, moved_to FROM heads WHERE tenant = $1 FOR UPDATE";

/// Moves the tenant's head.
const MOVE_HEAD: &str = "UPDATE heads SET size = $2, frontier = $3 WHERE tenant = $1";

/// Writes one group and answers every write in it.
pub async fn write_group(shared: &Arc<Shared>, tenant: &str, group: Vec<Write>) {
    let mut replies = Vec::with_capacity(group.len());
    let mut work = Vec::with_capacity(group.len());
    for write in group {
        replies.push(write.reply);
        work.push((write.change, write.request));
    }
    match transact(shared, tenant, work).await {
        Ok((answers, committed)) => {
            if committed {
                shared.after_commit(tenant);
            }
            for (reply, answer) in replies.into_iter().zip(answers) {
                reply.send(answer);
            }
        }
        Err(error) => {
            shared.heads.forget(tenant);
            tracing::warn!(tenant, error = %error, "an append transaction failed");
            for reply in replies {
                reply.send(Err(error.clone()));
            }
        }
    }
}

/// What one request of the group became, before the rows are written.
enum Decided {
    /// Refused, or answered without appending (a replay, a refused job call).
    Done(Box<Result<Answer, StoreError>>),
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
    /// With its outcome: a plain append.
    Append,
    /// With the key or job as the change left it; the appended event records the change.
    Changed(Box<Answer>),
    /// With the appended event: the record of a removal.
    Record,
}

/// Runs the group's transaction. Answers each request, and says whether anything was
/// committed; an error fails every request of the group.
async fn transact(
    shared: &Arc<Shared>,
    tenant: &str,
    work: Vec<(Change, AppendRequest)>,
) -> Result<(Vec<Result<Answer, StoreError>>, bool), StoreError> {
    let mut client = shared.pool.get().await.map_err(crate::pool_error)?;
    let months = months_of(work.iter().map(|(_, r)| r));
    shared.partitions.ensure(&mut client, months).await?;
    shared.heads.ensure(&**client, tenant).await?;

    let mut tx = client.transaction().await.map_err(internal)?;
    let mut frontier = lock_head(&tx, tenant).await?;
    let size_before = frontier.size();
    let mut known = Known::read(&tx, tenant, &work).await?;

    let mut new_events: Vec<StoredEvent> = Vec::new();
    let mut nodes: Vec<(u32, u64, Hash)> = Vec::new();
    let mut used_keys: Vec<(String, Hash, Vec<i64>)> = Vec::new();
    let mut decided = Vec::with_capacity(work.len());
    for (change, request) in work {
        // A removal's tombstones, written: its record is appended next, and answers it.
        let redaction = matches!(change, Change::Redact(_));
        if let Change::Redact(tombstones) = &change {
            match redaction::apply(&tx, tenant, frontier.size(), tombstones).await {
                Ok(()) => {}
                Err(refusal @ StoreError::Conflict(_)) => {
                    decided.push(Decided::Done(Box::new(Err(refusal))));
                    continue;
                }
                Err(error) => return Err(error),
            }
        }
        // A key or job change, applied: whether its event is to be appended, and its answer.
        let applied = match change {
            Change::None | Change::Redact(_) => Ok(None),
            Change::Key(change) => credentials::apply(&*tx, tenant, change)
                .await
                .map(|applied| Some((applied.audited, Answer::Key(applied.key)))),
            Change::Job(change) => jobs::apply(&*tx, tenant, change)
                .await
                .map(|applied| Some((applied.audited, Answer::Job(applied.answer)))),
            Change::Documents { writes, now } => documents::apply(&mut tx, tenant, &writes, now)
                .await
                .map(|written| Some((written.is_ok(), Answer::Documents(written)))),
        };
        let answer = match applied {
            Ok(None) if redaction => AnswerKind::Record,
            Ok(None) => AnswerKind::Append,
            Ok(Some((true, answer))) => AnswerKind::Changed(Box::new(answer)),
            Ok(Some((false, answer))) => {
                decided.push(Decided::Done(Box::new(Ok(answer))));
                continue;
            }
            Err(refusal @ StoreError::DuplicateId { .. }) => {
                decided.push(Decided::Done(Box::new(Err(refusal))));
                continue;
            }
            Err(error) => return Err(error),
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
            Step::Refused(refusal) => decided.push(Decided::Done(Box::new(Err(refusal)))),
        }
    }

    let committed = !new_events.is_empty();
    if committed {
        let terms = terms_of(&new_events);
        write_rows(&tx, tenant, &new_events, &terms, &nodes)
            .await
            .map_err(internal)?;
        let insert_key = tx.prepare_cached(INSERT_KEY).await.map_err(internal)?;
        write_keys(&tx, &insert_key, tenant, &used_keys)
            .await
            .map_err(internal)?;
        move_head(&tx, tenant, &frontier).await?;
    }
    let mut answers = Vec::with_capacity(decided.len());
    for decision in decided {
        answers.push(match decision {
            Decided::Done(answer) => *answer,
            Decided::Appended { outcome, answer } => match answer {
                AnswerKind::Append => Ok(Answer::Appended(outcome)),
                AnswerKind::Changed(answer) => Ok(*answer),
                AnswerKind::Record => match outcome.events.into_iter().next() {
                    Some(record) => Ok(Answer::Redacted(Box::new(record))),
                    None => Err(StoreError::Internal("the record was not appended".into())),
                },
            },
            Decided::Replay(seqs) => Ok(Answer::Appended(AppendOutcome {
                events: by_seqs(&*tx, tenant, &seqs).await?,
                stored: 0,
                replayed: true,
            })),
        });
    }
    tx.commit().await.map_err(internal)?;
    shared.heads.expect(tenant, &frontier);
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
    /// Nothing known yet.
    fn nothing() -> Self {
        Known {
            keys: HashMap::new(),
            ids: HashMap::new(),
        }
    }

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
        let mut known = Known::nothing();
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

    let resolved = resolve(slots, |prepared| {
        let client_id = prepared.client_id;
        let event = sequence_event(prepared, frontier, nodes);
        if client_id {
            known.ids.insert(event.event.id.clone(), event.clone());
        }
        new_events.push(event.clone());
        Ok::<_, std::convert::Infallible>(event)
    });
    let (events, stored) = resolved.unwrap_or_else(|never| match never {});
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

/// Locks the tenant's head for the rest of `tx` and answers it; refuses a tenant that moved
/// to another shard.
async fn lock_head(
    tx: &deadpool_postgres::Transaction<'_>,
    tenant: &str,
) -> Result<Frontier, StoreError> {
    let lock = tx.prepare_cached(LOCK_HEAD).await.map_err(internal)?;
    let head = tx.query_one(&lock, &[&tenant]).await.map_err(internal)?;
    if let Some(shard) = head.get::<_, Option<i32>>(2) {
        return Err(StoreError::Unavailable(format!(
            "tenant {tenant:?} moved to shard {shard}; retry"
        )));
    }
    frontier_from(head.get::<_, i64>(0) as u64, head.get(1))
}

/// Gives `prepared` the next seq of `frontier`, with the canonical bytes and leaf hash that go
/// with it; adds the perfect subtrees it completes at the stored levels to `nodes`.
pub(super) fn sequence_event(
    prepared: PreparedEvent,
    frontier: &mut Frontier,
    nodes: &mut Vec<(u32, u64, Hash)>,
) -> StoredEvent {
    let event = sequenced(prepared, frontier.size());
    push_leaf(frontier, nodes, event.leaf_hash);
    event
}

/// Adds `leaf` to the tree's right edge, and the perfect subtrees it completes at the stored
/// levels to `nodes`.
fn push_leaf(frontier: &mut Frontier, nodes: &mut Vec<(u32, u64, Hash)>, leaf: Hash) {
    frontier.push_with(leaf, |level, index, hash| {
        if is_stored_level(level) {
            nodes.push((level, index, *hash));
        }
    });
}

/// Writes a group's events (with their `terms`, in order) and the tree nodes they completed,
/// with the connection's prepared statements.
pub(super) async fn write_rows<'a>(
    tx: &deadpool_postgres::Transaction<'_>,
    tenant: &str,
    events: impl IntoIterator<Item = &'a StoredEvent>,
    terms: &[Vec<i64>],
    nodes: &[(u32, u64, Hash)],
) -> Result<(), tokio_postgres::Error> {
    let copy = tx.prepare_cached(COPY_EVENTS).await?;
    write_events(tx, &copy, events, terms).await?;
    if !nodes.is_empty() {
        let insert = tx.prepare_cached(INSERT_NODES).await?;
        write_nodes(tx, &insert, tenant, nodes).await?;
    }
    Ok(())
}

/// Moves the tenant's head (locked by this transaction) to `frontier`.
async fn move_head(
    tx: &deadpool_postgres::Transaction<'_>,
    tenant: &str,
    frontier: &Frontier,
) -> Result<(), StoreError> {
    let update = tx.prepare_cached(MOVE_HEAD).await.map_err(internal)?;
    tx.execute(
        &update,
        &[
            &tenant,
            &(frontier.size() as i64),
            &frontier_bytes(frontier),
        ],
    )
    .await
    .map_err(internal)?;
    Ok(())
}

/// Appends again, under the lock, the events of a group of plain appends that was sequenced
/// on a wrong expectation of the head: each event gets the next seq and the canonical bytes
/// and leaf hash that go with it. Answers each write's outcome, in order.
pub async fn resequence(
    shared: &Arc<Shared>,
    tenant: &str,
    outcomes: Vec<AppendOutcome>,
) -> Result<Vec<AppendOutcome>, StoreError> {
    let mut client = shared.pool.get().await.map_err(crate::pool_error)?;
    let tx = client.transaction().await.map_err(internal)?;
    let mut frontier = lock_head(&tx, tenant).await?;
    let mut nodes = Vec::new();
    let mut resequenced = Vec::with_capacity(outcomes.len());
    for outcome in outcomes {
        let mut events = Vec::with_capacity(outcome.events.len());
        for stored in outcome.events {
            let mut event = stored.event;
            event.seq = frontier.size();
            let canonical = event.canonical_bytes().map_err(|e| {
                StoreError::Internal(format!("an accepted event has no canonical form: {e}"))
            })?;
            let leaf = leaf_hash(&canonical);
            push_leaf(&mut frontier, &mut nodes, leaf);
            events.push(StoredEvent {
                event,
                canonical,
                leaf_hash: leaf,
            });
        }
        resequenced.push(AppendOutcome { events, ..outcome });
    }
    let terms = terms_of(events_of(&resequenced));
    write_rows(&tx, tenant, events_of(&resequenced), &terms, &nodes)
        .await
        .map_err(internal)?;
    move_head(&tx, tenant, &frontier).await?;
    tx.commit().await.map_err(internal)?;
    shared.heads.expect(tenant, &frontier);
    Ok(resequenced)
}

/// The months of receipt of `requests`' events, whose partitions an append needs.
pub(super) fn months_of<'a>(requests: impl IntoIterator<Item = &'a AppendRequest>) -> Vec<Month> {
    requests
        .into_iter()
        .flat_map(|r| r.events.iter())
        .map(|e| Month::of_micros(e.event.received_at.as_micros()))
        .collect()
}
