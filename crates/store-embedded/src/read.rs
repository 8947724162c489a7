//! The read side: a small pool of SQLite connections, used off the async runtime.
//!
//! WAL mode lets readers run beside the writer without blocking it. A listing asks the query
//! index for the best positions below the tenant's index watermark and scans the rest from
//! SQLite: the tail rows are skipped by their (occurred_at, seq) position before being parsed,
//! filtered with `Filter::matches` (the one definition of a filter), and kept in a bounded heap,
//! so memory stays O(page) whatever the tenant's size.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use rusqlite::Connection;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use trailkeep_event::{Cursor, Event, Filter, Query};
use trailkeep_store::{
    AppendOutcome, CanonicalEvent, IdempotencyKey, Page, StoreError, StoredEvent,
};

use crate::rows::{self, stored_event};
use crate::schema::{self, event_key, key_seq};
use crate::search::{self, Coverage, SearchIndex, sort_key};
use crate::state::TenantState;
use crate::tree::internal;

/// Most connections kept open while idle.
const MAX_IDLE: usize = 8;

/// A pool of read connections: at most `max` reads at once, and at most a quarter of them for
/// any one tenant.
///
/// The permits are moved into the blocking task, so a read holds its place until it is done
/// even when its caller gave up waiting (a client that disconnects): reads abandoned by their
/// callers can never add up past either bound.
pub struct Readers {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
    permits: Arc<Semaphore>,
    /// Each tenant's permits, by tenant row id.
    tenants: Mutex<HashMap<i64, Arc<Semaphore>>>,
    per_tenant: usize,
}

impl Readers {
    /// A pool over the database at `path`, running at most `max` reads at once.
    pub fn new(path: PathBuf, max: usize) -> Self {
        let max = max.max(1);
        Self {
            path,
            idle: Mutex::new(Vec::new()),
            permits: Arc::new(Semaphore::new(max)),
            tenants: Mutex::new(HashMap::new()),
            per_tenant: (max / 4).max(1),
        }
    }

    /// Runs `f` with a connection on the blocking thread pool, as a read of no tenant (key
    /// lookups, on a pool of their own).
    pub async fn run<T, F>(self: &Arc<Self>, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        self.run_held(None, f).await
    }

    /// Runs `f` as a read of tenant `tenant_id`, within the tenant's share of the pool.
    pub async fn run_for<T, F>(self: &Arc<Self>, tenant_id: i64, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let held = self
            .share(tenant_id)
            .acquire_owned()
            .await
            .map_err(closed)?;
        self.run_held(Some(held), f).await
    }

    /// Like [`run_for`](Self::run_for), but only when a place is free at once: `None`
    /// otherwise (for work that has another way to be done, such as a replay the writer can
    /// answer as well).
    pub async fn try_run_for<T, F>(
        self: &Arc<Self>,
        tenant_id: i64,
        f: F,
    ) -> Option<Result<T, StoreError>>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let mine = self.share(tenant_id).try_acquire_owned().ok()?;
        let permit = self.permits.clone().try_acquire_owned().ok()?;
        Some(self.spawn((permit, Some(mine)), f).await)
    }

    /// The tenant's semaphore, made on first use.
    fn share(&self, tenant_id: i64) -> Arc<Semaphore> {
        let mut tenants = self.tenants.lock().unwrap_or_else(|p| p.into_inner());
        tenants
            .entry(tenant_id)
            .or_insert_with(|| Arc::new(Semaphore::new(self.per_tenant)))
            .clone()
    }

    async fn run_held<T, F>(
        self: &Arc<Self>,
        tenant_permit: Option<OwnedSemaphorePermit>,
        f: F,
    ) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let permit = self.permits.clone().acquire_owned().await.map_err(closed)?;
        self.spawn((permit, tenant_permit), f).await
    }

    /// Runs `f` on the blocking pool with a connection, holding `permits` until it is done.
    async fn spawn<T, F>(
        self: &Arc<Self>,
        permits: (OwnedSemaphorePermit, Option<OwnedSemaphorePermit>),
        f: F,
    ) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let this = self.clone();
        tokio::task::spawn_blocking(move || {
            let _held = permits;
            let conn = this.take()?;
            let result = f(&conn);
            this.give(conn);
            result
        })
        .await
        .map_err(|e| StoreError::Internal(format!("read task failed: {e}")))?
    }

    fn take(&self) -> Result<Connection, StoreError> {
        let idle = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
        match idle {
            Some(conn) => Ok(conn),
            None => schema::open(&self.path).map_err(internal),
        }
    }

    fn give(&self, conn: Connection) {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        if idle.len() < MAX_IDLE {
            idle.push(conn);
        }
    }
}

fn closed(_: tokio::sync::AcquireError) -> StoreError {
    StoreError::Unavailable("the store is closed".into())
}

/// What a page is made of: parsed events, or their stored bytes alone.
pub trait PageEvent: Sized {
    /// The tenant's events at `seqs` (which the index named), in that order.
    fn read(conn: &Connection, tenant_id: i64, seqs: &[u64]) -> Result<Vec<Self>, StoreError>;
    /// A tail event, read and parsed to be filtered.
    fn from_stored(event: StoredEvent) -> Self;
    /// Where the event stands in a listing.
    fn position(&self) -> Cursor;
}

/// What an index hit that is not stored means.
fn not_stored(seq: u64) -> StoreError {
    StoreError::Corrupt(format!("the index names seq {seq}, which is not stored"))
}

impl PageEvent for StoredEvent {
    fn read(conn: &Connection, tenant_id: i64, seqs: &[u64]) -> Result<Vec<Self>, StoreError> {
        rows::all_by_seq(conn, tenant_id, seqs, &not_stored)
    }
    fn from_stored(event: StoredEvent) -> Self {
        event
    }
    fn position(&self) -> Cursor {
        Cursor::after(&self.event)
    }
}

impl PageEvent for CanonicalEvent {
    fn read(conn: &Connection, tenant_id: i64, seqs: &[u64]) -> Result<Vec<Self>, StoreError> {
        rows::all_canonical_by_seq(conn, tenant_id, seqs, &not_stored)
    }
    fn from_stored(event: StoredEvent) -> Self {
        event.into()
    }
    fn position(&self) -> Cursor {
        Cursor {
            occurred_at: self.occurred_at.as_micros(),
            seq: self.seq,
        }
    }
}

/// A page found but not read yet: its events in page order, the tail's already read and the
/// index's hits still seqs ([`read_close`] or [`read_hits`] reads them).
pub struct PagePlan {
    hits: Vec<Result<StoredEvent, u64>>,
    more: bool,
    total: Option<u64>,
}

impl PagePlan {
    /// The seqs of the index's hits, in page order: what [`finish`](Self::finish) needs read.
    pub fn seqs(&self) -> Vec<u64> {
        self.hits
            .iter()
            .filter_map(|h| h.as_ref().err().copied())
            .collect()
    }

    /// The page, given the events at [`seqs`](Self::seqs) in that order.
    pub fn finish<E: PageEvent>(self, read: Vec<E>) -> Page<E> {
        let mut read = read.into_iter();
        let events: Vec<E> = self
            .hits
            .into_iter()
            .map(|hit| match hit {
                Ok(event) => E::from_stored(event),
                Err(_) => read.next().expect("one event read for each seq"),
            })
            .collect();
        let next = if self.more {
            events.last().map(E::position)
        } else {
            None
        };
        Page {
            events,
            next,
            total: self.total,
        }
    }
}

/// Finds one page of the tenant's events matching `query`: the index answers for what it
/// covers (`indexed`: seqs below its watermark), a scan of SQLite for `indexed..committed` (the
/// tail the indexer has not reached), and the two are merged in (`occurred_at`, `seq`) order.
pub fn plan_page(
    conn: &Connection,
    index: &SearchIndex,
    tenant_id: i64,
    indexed: Coverage,
    committed: u64,
    query: &Query,
) -> Result<PagePlan, StoreError> {
    let want = (query.offset as usize).saturating_add(query.limit as usize + 1);
    let from_index = search::search(index, tenant_id, indexed, query, want)?;
    tracing::trace!(windows = from_index.windows, "searched the index");
    let (tail, tail_matches) = scan_tail(conn, tenant_id, indexed.below, committed, query, want)?;

    let mut merged: Vec<(u128, Result<StoredEvent, u64>)> = from_index
        .positions
        .iter()
        .map(|p| (sort_key(*p, query.order), Err(p.seq)))
        .chain(tail.into_iter().map(|(key, event)| (key, Ok(event))))
        .collect();
    merged.sort_by_key(|(key, _)| std::cmp::Reverse(*key));
    let mut hits: Vec<Result<StoredEvent, u64>> = merged
        .into_iter()
        .skip(query.offset as usize)
        .take(query.limit as usize + 1)
        .map(|(_, hit)| hit)
        .collect();
    let more = hits.len() > query.limit as usize;
    hits.truncate(query.limit as usize);
    Ok(PagePlan {
        hits,
        more,
        total: from_index.total.map(|t| t + tail_matches),
    })
}

/// Reads the plan's hits on `conn`, the connection that planned it, when they lie close
/// together (one range scan), and returns the page; hands the plan back when they are
/// scattered, for [`read_hits`] to read in parts.
pub fn read_close<E: PageEvent>(
    conn: &Connection,
    tenant_id: i64,
    plan: PagePlan,
) -> Result<Result<Page<E>, PagePlan>, StoreError> {
    let seqs = plan.seqs();
    if rows::scattered(&seqs) {
        return Ok(Err(plan));
    }
    let read = E::read(conn, tenant_id, &seqs)?;
    Ok(Ok(plan.finish(read)))
}

/// Most parts a page's scattered rows are read in, side by side.
const READ_PARTS: usize = 4;
/// Fewest rows in one of those parts.
const ROWS_PER_PART: usize = 8;

/// The tenant's events at `seqs` (committed, distinct), in that order, read as `E`.
///
/// Rows close together are read with one range scan. Scattered ones (an actor's events over a
/// month, an entity's history) are each a B-tree lookup that, once the file outgrows the page
/// cache, waits for its own disk read; they are split into parts read on separate connections
/// at once, so that a page waits for its reads together rather than one after another. Each
/// part holds one of the tenant's places in the pool.
pub async fn read_hits<E: PageEvent + Send + 'static>(
    readers: &Arc<Readers>,
    tenant_id: i64,
    seqs: Vec<u64>,
) -> Result<Vec<E>, StoreError> {
    if seqs.is_empty() {
        return Ok(Vec::new());
    }
    let parts = if rows::scattered(&seqs) {
        READ_PARTS.min(seqs.len().div_ceil(ROWS_PER_PART))
    } else {
        1
    };
    let per_part = seqs.len().div_ceil(parts);
    let reads: Vec<_> = seqs
        .chunks(per_part)
        .map(|part| {
            let (readers, part) = (readers.clone(), part.to_vec());
            tokio::spawn(async move {
                readers
                    .run_for(tenant_id, move |conn| E::read(conn, tenant_id, &part))
                    .await
            })
        })
        .collect();
    let mut events = Vec::with_capacity(seqs.len());
    for read in reads {
        let part = read
            .await
            .map_err(|e| StoreError::Internal(format!("read task failed: {e}")))??;
        events.extend(part);
    }
    Ok(events)
}

/// The best `want` matches among seqs `from..to`, read from SQLite and filtered with
/// `Filter::matches`, with their sort keys; and how many matched in all.
fn scan_tail(
    conn: &Connection,
    tenant_id: i64,
    from: u64,
    to: u64,
    query: &Query,
    want: usize,
) -> Result<(Vec<(u128, StoredEvent)>, u64), StoreError> {
    if from >= to {
        return Ok((Vec::new(), 0));
    }
    let since = query.filter.since.map_or(i64::MIN, |t| t.as_micros());
    let until = query.filter.until.map_or(i64::MAX, |t| t.as_micros());
    let mut stmt = conn
        .prepare_cached(
            "SELECT key, occurred_us, body, leaf_hash FROM events
             WHERE key >= ?1 AND key < ?2 AND occurred_us >= ?3 AND occurred_us < ?4",
        )
        .map_err(internal)?;
    let mut rows = stmt
        .query([
            event_key(tenant_id, from),
            event_key(tenant_id, to),
            since,
            until,
        ])
        .map_err(internal)?;
    // A min-heap on the key: its top is the worst candidate kept.
    let mut heap: BinaryHeap<Reverse<Candidate>> = BinaryHeap::with_capacity(want + 1);
    let mut matched = 0;
    while let Some(row) = rows.next().map_err(internal)? {
        let key: i64 = row.get(0).map_err(internal)?;
        let position = Cursor {
            occurred_at: row.get(1).map_err(internal)?,
            seq: key_seq(key),
        };
        let beyond_cursor = query
            .after
            .is_none_or(|c| c.precedes(position, query.order));
        let sort = sort_key(position, query.order);
        let could_place = heap.len() < want || heap.peek().is_some_and(|worst| sort > worst.0.key);
        let keep = beyond_cursor && could_place;
        if !query.count_total && !keep {
            continue;
        }
        let event = stored_event(row.get(2).map_err(internal)?, row.get(3).map_err(internal)?)?;
        if !query.filter.matches(&event.event) {
            continue;
        }
        matched += 1;
        if keep {
            heap.push(Reverse(Candidate { key: sort, event }));
            if heap.len() > want {
                heap.pop();
            }
        }
    }
    Ok((
        heap.into_iter()
            .map(|Reverse(c)| (c.key, c.event))
            .collect(),
        matched,
    ))
}

/// The answer of an earlier append with idempotency key `key`, read beside the writer: `Some`
/// when the key was used with the same request and all it stored is committed,
/// [`StoreError::IdempotencyConflict`] when it was used with another request, and `None` when
/// it was not used (or its events are not published yet): then the writer decides, as for any
/// append. A retried 10,000-event batch is then answered without taking the writer's time.
pub fn replay(
    conn: &Connection,
    state: &TenantState,
    key: &IdempotencyKey,
) -> Result<Option<AppendOutcome>, StoreError> {
    match rows::previous_use(conn, state.id, key)? {
        None => Ok(None),
        Some(rows::Previous::Other) => Err(StoreError::IdempotencyConflict),
        Some(rows::Previous::Same(seqs)) => {
            let committed = state.committed();
            if seqs.iter().any(|&seq| seq >= committed) {
                return Ok(None);
            }
            Ok(Some(AppendOutcome {
                events: rows::all_by_seq(conn, state.id, &seqs, &rows::replayed_seq_missing)?,
                stored: 0,
                replayed: true,
            }))
        }
    }
}

/// Calls `each` for every event with seq in `from..to` that matches `filter`.
pub fn for_each_match(
    conn: &Connection,
    tenant_id: i64,
    from: u64,
    to: u64,
    filter: &Filter,
    mut each: impl FnMut(&Event),
) -> Result<(), StoreError> {
    let mut next = from;
    while next < to {
        let end = (next + 10_000).min(to);
        for stored in rows::range(conn, tenant_id, next, end)? {
            if filter.matches(&stored.event) {
                each(&stored.event);
            }
        }
        next = end;
    }
    Ok(())
}

/// A tail match waiting in the heap, ordered by its sort key.
struct Candidate {
    key: u128,
    event: StoredEvent,
}

impl PartialEq for Candidate {
    fn eq(&self, other: &Self) -> bool {
        self.key == other.key
    }
}
impl Eq for Candidate {}
impl PartialOrd for Candidate {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Candidate {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.key.cmp(&other.key)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    /// A page's close hits are read on the planning connection, scattered ones in parts on
    /// separate connections; either way the events come back in the order asked, and
    /// a seq that is not stored fails the read whichever part it falls in.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_pages_hits_come_back_in_page_order_however_they_are_split() {
        let (dir, conn, tenant_id) = crate::test_trail::trail_of(2_000).await;
        let readers = Arc::new(Readers::new(dir.path().join(crate::DB_FILE), 16));

        // 50 seqs spread over the trail, newest first as a listing asks them: four parts.
        let scattered: Vec<u64> = (0..50).map(|i| 1_990 - i * 37).collect();
        assert!(rows::scattered(&scattered));
        let close: Vec<u64> = (0..50).map(|i| 1_000 - i).collect();
        assert!(!rows::scattered(&close));
        for seqs in [scattered.clone(), close.clone()] {
            let read: Vec<StoredEvent> =
                read_hits(&readers, tenant_id, seqs.clone()).await.unwrap();
            let got: Vec<u64> = read.iter().map(|e| e.event.seq).collect();
            assert_eq!(got, seqs);
            let canonical: Vec<CanonicalEvent> =
                read_hits(&readers, tenant_id, seqs.clone()).await.unwrap();
            assert_eq!(canonical.iter().map(|e| e.seq).collect::<Vec<_>>(), seqs);
        }
        // The planning connection reads close hits itself, between the tail's events, and
        // hands scattered ones back.
        let tail = rows::by_seq(&conn, tenant_id, 1_999).unwrap().unwrap();
        let plan = |hits: &[u64]| PagePlan {
            hits: std::iter::once(Ok(tail.clone()))
                .chain(hits.iter().map(|&seq| Err(seq)))
                .collect(),
            more: false,
            total: None,
        };
        let Ok(Ok(page)) = read_close::<StoredEvent>(&conn, tenant_id, plan(&close)) else {
            panic!("close hits were not read on the planning connection");
        };
        let got: Vec<u64> = page.events.iter().map(|e| e.event.seq).collect();
        assert_eq!(got[0], 1_999);
        assert_eq!(got[1..], close[..]);
        let Ok(Err(handed)) = read_close::<StoredEvent>(&conn, tenant_id, plan(&scattered)) else {
            panic!("scattered hits were read on the planning connection");
        };
        assert_eq!(handed.seqs(), scattered);
        assert!(
            read_hits::<StoredEvent>(&readers, tenant_id, Vec::new())
                .await
                .unwrap()
                .is_empty()
        );

        let mut missing_in_last_part = scattered;
        missing_in_last_part[49] = 5_000;
        let error = read_hits::<StoredEvent>(&readers, tenant_id, missing_in_last_part)
            .await
            .unwrap_err();
        assert!(error.to_string().contains("seq 5000"), "{error}");
    }

    /// A read's place used to be given back when its caller stopped waiting, while the read
    /// itself went on in the blocking pool: callers that disconnect could run any number of
    /// reads at once. The place now stays with the read until it is done.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_abandoned_read_keeps_its_place_until_it_is_done() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        schema::open(&path).unwrap();
        // Four places in all: one per tenant.
        let readers = Arc::new(Readers::new(path, 4));
        let (release, released) = std::sync::mpsc::channel::<()>();
        let slow = {
            let readers = readers.clone();
            tokio::spawn(async move {
                readers
                    .run_for(1, move |_| {
                        let _ = released.recv();
                        Ok(())
                    })
                    .await
            })
        };
        tokio::time::sleep(Duration::from_millis(100)).await;
        slow.abort();
        let next = readers.run_for(1, |_| Ok(()));
        tokio::pin!(next);
        assert!(
            tokio::time::timeout(Duration::from_millis(300), &mut next)
                .await
                .is_err(),
            "the abandoned read still holds the tenant's place"
        );
        // Another tenant is not held up.
        readers.run_for(2, |_| Ok(())).await.unwrap();
        release.send(()).unwrap();
        tokio::time::timeout(Duration::from_secs(10), next)
            .await
            .expect("the place frees when the read ends")
            .unwrap();
    }
}
