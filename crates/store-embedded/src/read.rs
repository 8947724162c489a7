//! The read side: a small pool of SQLite connections, used off the async runtime.
//!
//! WAL mode lets readers run beside the writer without blocking it. Until the query index
//! arrives, a listing scans the tenant's rows inside the time window, skips rows by their
//! (occurred_at, seq) position before parsing them, filters with `Filter::matches` (the one
//! definition of a filter), and keeps only the best `limit + 1` in a heap: memory stays
//! O(limit) whatever the tenant's size.

use std::collections::BinaryHeap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use rusqlite::Connection;
use tokio::sync::Semaphore;
use trailkeep_event::{Cursor, Order, Query};
use trailkeep_store::{Page, StoreError, StoredEvent};

use crate::rows::stored_event;
use crate::schema::{self, key_seq, tenant_key_range};
use crate::tree::internal;

/// Most connections kept open while idle.
const MAX_IDLE: usize = 8;

/// A pool of read connections.
pub struct Readers {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
    permits: Semaphore,
}

impl Readers {
    /// A pool over the database at `path`, running at most `max` reads at once.
    pub fn new(path: PathBuf, max: usize) -> Self {
        Self {
            path,
            idle: Mutex::new(Vec::new()),
            permits: Semaphore::new(max.max(1)),
        }
    }

    /// Runs `f` with a connection on the blocking thread pool.
    pub async fn run<T, F>(self: &Arc<Self>, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| StoreError::Unavailable("the store is closed".into()))?;
        let this = self.clone();
        tokio::task::spawn_blocking(move || {
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

/// A candidate in the page heap, ordered so that the heap's top is the worst kept candidate.
struct Candidate {
    rank: (i64, u64),
    order: Order,
    event: StoredEvent,
}

impl Candidate {
    /// Sort key where smaller is better in either order.
    fn better_key(&self) -> (i64, i128) {
        better_key(self.rank, self.order)
    }
}

fn better_key((occurred, seq): (i64, u64), order: Order) -> (i64, i128) {
    match order {
        Order::Asc => (occurred, i128::from(seq)),
        Order::Desc => (-occurred, -i128::from(seq)),
    }
}

impl PartialEq for Candidate {
    fn eq(&self, other: &Self) -> bool {
        self.better_key() == other.better_key()
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
        self.better_key().cmp(&other.better_key())
    }
}

/// One page of the tenant's events matching `query`, among the first `committed` seqs.
pub fn query_page(
    conn: &Connection,
    tenant_id: i64,
    committed: u64,
    query: &Query,
) -> Result<Page, StoreError> {
    let (lo, _) = tenant_key_range(tenant_id);
    if committed == 0 {
        return Ok(Page::default());
    }
    let hi = lo + committed as i64 - 1;
    let since = query.filter.since.map_or(i64::MIN, |t| t.as_micros());
    let until = query.filter.until.map_or(i64::MAX, |t| t.as_micros());
    let keep = query.limit as usize + 1;
    let mut stmt = conn
        .prepare_cached(
            "SELECT key, occurred_us, body, leaf_hash FROM events
             WHERE key BETWEEN ?1 AND ?2 AND occurred_us >= ?3 AND occurred_us < ?4",
        )
        .map_err(internal)?;
    let mut rows = stmt.query([lo, hi, since, until]).map_err(internal)?;
    let mut heap: BinaryHeap<Candidate> = BinaryHeap::with_capacity(keep + 1);
    while let Some(row) = rows.next().map_err(internal)? {
        let key: i64 = row.get(0).map_err(internal)?;
        let occurred: i64 = row.get(1).map_err(internal)?;
        let rank = (occurred, key_seq(key));
        let position = Cursor {
            occurred_at: rank.0,
            seq: rank.1,
        };
        if query
            .after
            .is_some_and(|c| !c.precedes(position, query.order))
        {
            continue;
        }
        if heap.len() == keep
            && heap
                .peek()
                .is_some_and(|worst| better_key(rank, query.order) >= worst.better_key())
        {
            continue;
        }
        let event = stored_event(row.get(2).map_err(internal)?, row.get(3).map_err(internal)?)?;
        if !query.filter.matches(&event.event) {
            continue;
        }
        heap.push(Candidate {
            rank,
            order: query.order,
            event,
        });
        if heap.len() > keep {
            heap.pop();
        }
    }
    let mut best = heap.into_sorted_vec();
    let more = best.len() > query.limit as usize;
    best.truncate(query.limit as usize);
    let next = if more {
        best.last().map(|c| Cursor::after(&c.event.event))
    } else {
        None
    };
    Ok(Page {
        events: best.into_iter().map(|c| c.event).collect(),
        next,
    })
}
