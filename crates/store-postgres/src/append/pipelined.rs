//! Groups of plain appends sequenced ahead of their transaction, on the head this node
//! expects the tenant to have.
//!
//! The node gives the group's events their seqs, canonical bytes and leaf hashes, and computes
//! their terms and the tree nodes they complete, before it opens the transaction. The
//! transaction then `COPY`s the rows and inserts the nodes without holding anything but its
//! own connection, waits until the tenant's group before it (if one is in flight) has
//! settled, and only then locks the head, with an update that moves it only from where this
//! group expects it. The expensive part of an append in PostgreSQL, inserting rows into the
//! table and its indexes, thus runs for several groups of one tenant at once; the head is held
//! for one update and the commit.
//!
//! Why this keeps the ledger right: the head's size only grows, and every commit that moves
//! it moves it from the size it had. A group expecting a head that some commit left (this
//! node's last commit of the tenant, or the group before it, which must have committed) moves
//! the head only when the size is still that one, and then the head still is that commit's,
//! frontier and all. Otherwise the update moves nothing, the group is rolled back, and its
//! events are sequenced again under the lock ([`super::locked::resequence`]).

use std::sync::Arc;

use tokio::sync::watch;
use tokio_postgres::error::SqlState;
use trailkeep_ledger::{Frontier, Hash};
use trailkeep_store::{AppendOutcome, StoreError, StoredEvent};

use super::locked::{self, sequence_event, write_rows};
use super::write::{events_of, terms_of};
use super::{Answer, GroupCounters, Reply, Settled, Write, settled};
use crate::partitions::Month;
use crate::tree::frontier_bytes;
use crate::{Shared, internal};

/// Moves the head from the size the group expects (`$2`) to the group's (`$3`, `$4`), unless
/// it is elsewhere or the tenant moved to another shard.
const MOVE_EXPECTED_HEAD: &str = "UPDATE heads SET size = $3, frontier = $4 \
     WHERE tenant = $1 AND size = $2 AND moved_to IS NULL";

/// A group of plain appends with its events sequenced, ready to be written.
pub struct Sequenced {
    replies: Vec<Reply>,
    /// Each write's outcome, in the order of `replies`: every event new, in seq order.
    outcomes: Vec<AppendOutcome>,
    /// The terms of the outcomes' events, in the same order.
    terms: Vec<Vec<i64>>,
    /// The perfect subtrees the events complete at the stored levels.
    nodes: Vec<(u32, u64, Hash)>,
    /// The head's size the group expects, and the head it leaves.
    size_before: u64,
    after: Frontier,
}

impl Sequenced {
    /// The head the group leaves once committed.
    pub fn head_after(&self) -> &Frontier {
        &self.after
    }
}

/// Sequences a group of plain appends (every write [`Write::is_plain`]: every event new) on
/// `head`.
pub fn sequence(group: Vec<Write>, head: Frontier) -> Sequenced {
    let size_before = head.size();
    let mut frontier = head;
    let mut nodes = Vec::new();
    let mut replies = Vec::with_capacity(group.len());
    let mut outcomes = Vec::with_capacity(group.len());
    for write in group {
        let events: Vec<StoredEvent> = write
            .request
            .events
            .into_iter()
            .map(|prepared| sequence_event(prepared, &mut frontier, &mut nodes))
            .collect();
        replies.push(write.reply);
        outcomes.push(AppendOutcome {
            stored: events.len(),
            events,
            replayed: false,
        });
    }
    let terms = terms_of(events_of(&outcomes));
    Sequenced {
        replies,
        outcomes,
        terms,
        nodes,
        size_before,
        after: frontier,
    }
}

/// How a group's transaction ended, when it did not commit.
enum Failure {
    /// The head was not where the group expected it; `contended` when another writer moved
    /// it (rather than the group before failing).
    Unexpected { contended: bool },
    /// The database refused or failed.
    Error(StoreError),
}

/// Writes a sequenced group after the group `after` (in flight before it), says on `settle`
/// whether it committed as sequenced, and answers its writes; sequences it again under the
/// lock when the head was not where it expected.
pub async fn write(
    shared: Arc<Shared>,
    tenant: String,
    group: Sequenced,
    after: Option<Settled>,
    settle: watch::Sender<Option<bool>>,
) {
    let attempt = commit(&shared, &tenant, &group, after).await;
    let _ = settle.send(Some(attempt.is_ok()));
    let Sequenced {
        replies, outcomes, ..
    } = group;
    let answers = match attempt {
        Ok(()) => {
            GroupCounters::count(&shared.groups.sequenced_ahead);
            shared.heads.expect(&tenant, &group.after);
            shared.after_commit(&tenant);
            Ok(outcomes)
        }
        Err(Failure::Unexpected { contended }) => {
            GroupCounters::count(&shared.groups.sequenced_again);
            if contended {
                shared.heads.contended(&tenant);
            } else {
                shared.heads.forget(&tenant);
            }
            let again = locked::resequence(&shared, &tenant, outcomes).await;
            if again.is_ok() {
                shared.after_commit(&tenant);
            }
            again
        }
        Err(Failure::Error(error)) => {
            shared.heads.forget(&tenant);
            Err(error)
        }
    };
    match answers {
        Ok(outcomes) => {
            for (reply, outcome) in replies.into_iter().zip(outcomes) {
                reply.send(Ok(Answer::Appended(outcome)));
            }
        }
        Err(error) => {
            tracing::warn!(tenant, %error, "an append transaction failed");
            for reply in replies {
                reply.send(Err(error.clone()));
            }
        }
    }
}

/// The group's transaction: rows first, then (once the group before has committed) the head
/// from where the group expects it, then the commit.
async fn commit(
    shared: &Arc<Shared>,
    tenant: &str,
    group: &Sequenced,
    after: Option<Settled>,
) -> Result<(), Failure> {
    let mut client = shared
        .pool
        .get()
        .await
        .map_err(|e| Failure::Error(crate::pool_error(e)))?;
    let months =
        events_of(&group.outcomes).map(|e| Month::of_micros(e.event.received_at.as_micros()));
    shared
        .partitions
        .ensure(&mut client, months)
        .await
        .map_err(Failure::Error)?;
    let tx = client.transaction().await.map_err(error)?;
    write_rows(
        &tx,
        tenant,
        events_of(&group.outcomes),
        &group.terms,
        &group.nodes,
    )
    .await
    .map_err(error)?;
    if let Some(before) = after
        && !settled(before).await
    {
        return Err(Failure::Unexpected { contended: false });
    }
    let update = tx.prepare_cached(MOVE_EXPECTED_HEAD).await.map_err(error)?;
    let moved = tx
        .execute(
            &update,
            &[
                &tenant,
                &(group.size_before as i64),
                &(group.after.size() as i64),
                &frontier_bytes(&group.after),
            ],
        )
        .await
        .map_err(error)?;
    if moved == 0 {
        return Err(Failure::Unexpected { contended: true });
    }
    tx.commit().await.map_err(error)?;
    Ok(())
}

/// A database error as a failure: a tree node or key another writer inserted first, or a
/// deadlock with another writer's transaction, means the head was not where expected.
fn error(e: tokio_postgres::Error) -> Failure {
    match e.code() {
        Some(code)
            if *code == SqlState::UNIQUE_VIOLATION || *code == SqlState::T_R_DEADLOCK_DETECTED =>
        {
            Failure::Unexpected { contended: true }
        }
        _ => Failure::Error(internal(e)),
    }
}
