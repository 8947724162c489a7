//! The indexer thread: every commit interval, it indexes each tenant's events between its
//! watermark and the committed size, reading them from SQLite, then commits with the new
//! watermarks and only then publishes them to queries.
//!
//! Reading from SQLite rather than taking events from the writer keeps one code path for live
//! indexing, catch-up after a restart, and full rebuilds.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc::{RecvTimeoutError, SyncSender, sync_channel};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rusqlite::Connection;
use tantivy::{IndexWriter, TantivyDocument, Term};
use trailkeep_store::StoreError;

use super::{Coverage, SearchIndex, index_error, payload_text};
use crate::rows;
use crate::schema;
use crate::state::Registry;
use crate::tree::internal;

/// Documents added between intermediate commits of a long catch-up, so queries benefit early.
const COMMIT_EVERY_DOCS: u64 = 200_000;
/// Rows read from SQLite per statement.
const READ_CHUNK: u64 = 10_000;

/// Stops the indexer thread when dropped or shut down.
pub struct IndexerHandle {
    stop: SyncSender<()>,
    thread: Option<JoinHandle<()>>,
}

impl IndexerHandle {
    /// Stops the thread and waits for it.
    pub fn shutdown(&mut self) {
        if let Some(thread) = self.thread.take() {
            let _ = self.stop.send(());
            let _ = thread.join();
        }
    }
}

impl Drop for IndexerHandle {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Starts the indexer over the database at `db`, continuing from what the index covers.
pub fn spawn_indexer(
    index: Arc<SearchIndex>,
    db: PathBuf,
    registry: Arc<Registry>,
    covered: HashMap<i64, Coverage>,
    interval: Duration,
) -> Result<IndexerHandle, StoreError> {
    let writer = index.writer()?;
    let conn = schema::open(&db).map_err(internal)?;
    let (stop, stopped) = sync_channel::<()>(1);
    let thread = std::thread::Builder::new()
        .name("trailkeep-indexer".into())
        .spawn(move || {
            let mut indexer = Indexer {
                index,
                writer,
                conn,
                registry,
                committed: covered.clone(),
                pending: covered,
            };
            // A cycle starts every `interval` (at once when the last one took longer), so
            // that an event waits at most one interval and one cycle to be searchable.
            let mut cycle_started = Instant::now();
            loop {
                match stopped.recv_timeout(interval.saturating_sub(cycle_started.elapsed())) {
                    Err(RecvTimeoutError::Timeout) => {}
                    Ok(()) | Err(RecvTimeoutError::Disconnected) => return,
                }
                cycle_started = Instant::now();
                if let Err(error) = indexer.catch_up() {
                    tracing::error!(%error, "indexing failed; retrying from the last commit");
                    indexer.roll_back();
                }
            }
        })
        .map_err(|e| StoreError::Unavailable(format!("start the indexer: {e}")))?;
    Ok(IndexerHandle {
        stop,
        thread: Some(thread),
    })
}

struct Indexer {
    index: Arc<SearchIndex>,
    writer: IndexWriter<TantivyDocument>,
    conn: Connection,
    registry: Arc<Registry>,
    /// Coverage of the last commit.
    committed: HashMap<i64, Coverage>,
    /// Coverage of what has been added, committed or not.
    pending: HashMap<i64, Coverage>,
}

impl Indexer {
    fn catch_up(&mut self) -> Result<(), StoreError> {
        let started = Instant::now();
        let mut added = 0;
        let mut announced = false;
        for (name, state) in self.registry.all() {
            let mut coverage = self.pending.get(&state.id).copied().unwrap_or_default();
            let from = coverage.below;
            let to = state.committed();
            if to <= from {
                continue;
            }
            if to - from > COMMIT_EVERY_DOCS && !announced {
                tracing::info!(tenant = %name, behind = to - from, "indexing a backlog");
                announced = true;
            }
            let mut next = from;
            while next < to {
                let end = (next + READ_CHUNK).min(to);
                added += add_range(
                    &self.conn,
                    &self.index,
                    &self.writer,
                    state.id,
                    (next, end),
                    &mut coverage,
                )?;
                next = end;
                self.pending.insert(state.id, coverage);
                if added >= COMMIT_EVERY_DOCS {
                    self.commit()?;
                    tracing::info!(tenant = %name, indexed = next, of = to, "indexing progress");
                    added = 0;
                }
            }
        }
        while self.replace_changed()? == READ_CHUNK {}
        if added > 0 {
            let added_by = started.elapsed();
            self.commit()?;
            tracing::debug!(
                events = added,
                add_ms = added_by.as_millis() as u64,
                commit_ms = (started.elapsed() - added_by).as_millis() as u64,
                segments = self.index.reader().searcher().segment_readers().len(),
                "indexed"
            );
        }
        Ok(())
    }

    /// Replaces the documents of events whose bodies changed (tombstones), as the `reindex`
    /// queue lists them, commits, then takes them off the queue unless they changed again
    /// meanwhile. Answers how many were read off the queue.
    fn replace_changed(&mut self) -> Result<u64, StoreError> {
        let queued: Vec<(i64, i64)> = self
            .conn
            .prepare_cached("SELECT key, changes FROM reindex ORDER BY key LIMIT ?1")
            .and_then(|mut s| {
                s.query_map([READ_CHUNK as i64], |r| Ok((r.get(0)?, r.get(1)?)))?
                    .collect()
            })
            .map_err(internal)?;
        if queued.is_empty() {
            return Ok(0);
        }
        for &(key, _) in &queued {
            let tenant_id = key >> schema::SEQ_BITS;
            let seq = schema::key_seq(key);
            self.writer
                .delete_term(Term::from_field_u64(self.index.fields.key, key as u64));
            // An event the index does not cover yet is indexed as it is now when it is reached.
            let covered = self.pending.get(&tenant_id).map_or(0, |c| c.below);
            if seq < covered
                && let Some(stored) = rows::by_seq(&self.conn, tenant_id, seq)?
            {
                self.writer
                    .add_document(self.index.document(tenant_id, &stored.event))
                    .map_err(index_error)?;
            }
        }
        self.commit()?;
        // One short transaction, with the write lock from its start: the writer waits for it
        // (its busy timeout), and for nothing longer.
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(internal)?;
        {
            let mut done = tx
                .prepare_cached("DELETE FROM reindex WHERE key = ?1 AND changes = ?2")
                .map_err(internal)?;
            for (key, changes) in &queued {
                done.execute([key, changes]).map_err(internal)?;
            }
        }
        tx.commit().map_err(internal)?;
        Ok(queued.len() as u64)
    }

    fn commit(&mut self) -> Result<(), StoreError> {
        let mut prepared = self.writer.prepare_commit().map_err(index_error)?;
        prepared.set_payload(&payload_text(&self.pending));
        prepared.commit().map_err(index_error)?;
        self.index.reader().reload().map_err(index_error)?;
        self.committed = self.pending.clone();
        for (_, state) in self.registry.all() {
            if let Some(&coverage) = self.committed.get(&state.id) {
                state.set_indexed(coverage);
            }
        }
        Ok(())
    }

    fn roll_back(&mut self) {
        if let Err(error) = self.writer.rollback() {
            tracing::error!(%error, "rolling back the index writer failed");
        }
        self.pending = self.committed.clone();
    }
}

/// Adds tenant `tenant_id`'s events with seqs `from..to` to the writer, widening `coverage` to
/// them; returns how many.
fn add_range(
    conn: &Connection,
    index: &SearchIndex,
    writer: &IndexWriter<TantivyDocument>,
    tenant_id: i64,
    (from, to): (u64, u64),
    coverage: &mut Coverage,
) -> Result<u64, StoreError> {
    let mut added = 0;
    for stored in rows::range(conn, tenant_id, from, to)? {
        writer
            .add_document(index.document(tenant_id, &stored.event))
            .map_err(index_error)?;
        *coverage = coverage.widened(stored.event.occurred_at.as_micros());
        added += 1;
    }
    if added != to - from {
        return Err(StoreError::Corrupt(format!(
            "expected {} events of tenant {tenant_id} from seq {from}, found {added}",
            to - from
        )));
    }
    *coverage = coverage.with_below(to);
    Ok(added)
}

/// Fails if a running server holds the index's writer lock: rebuilding under it would delete
/// files the server's indexer still commits to.
fn refuse_if_in_use(index_dir: &Path) -> Result<(), StoreError> {
    let Ok(index) = tantivy::Index::open_in_dir(index_dir) else {
        return Ok(());
    };
    match index.writer_with_num_threads::<TantivyDocument>(1, 15_000_000) {
        Ok(_writer) => Ok(()),
        Err(tantivy::TantivyError::LockFailure(..)) => Err(StoreError::Unavailable(format!(
            "{} is in use by a running server; stop it first",
            index_dir.display()
        ))),
        Err(_) => Ok(()),
    }
}

/// Rebuilds the query index of the data directory `dir` from its events (the server must not
/// be running). `progress` is called with the events indexed so far and the total.
pub fn rebuild(dir: &Path, progress: &mut dyn FnMut(u64, u64)) -> Result<u64, StoreError> {
    let db = dir.join(crate::DB_FILE);
    if !db.exists() {
        return Err(StoreError::Unavailable(format!(
            "{} does not exist",
            db.display()
        )));
    }
    let index_dir = dir.join(crate::INDEX_DIR);
    refuse_if_in_use(&index_dir)?;
    if index_dir.exists() {
        std::fs::remove_dir_all(&index_dir)
            .map_err(|e| StoreError::Unavailable(format!("remove {}: {e}", index_dir.display())))?;
    }
    let (index, _) = SearchIndex::open_or_create(&index_dir)?;
    let mut writer = index.writer()?;
    let conn = schema::open(&db).map_err(internal)?;
    let tenants: Vec<(i64, u64)> = conn
        .prepare("SELECT id FROM tenants ORDER BY id")
        .and_then(|mut s| {
            s.query_map([], |r| r.get::<_, i64>(0))?
                .collect::<Result<Vec<_>, _>>()
        })
        .map_err(internal)?
        .into_iter()
        .map(|id| Ok((id, crate::rows::tenant_size(&conn, id)?)))
        .collect::<Result<_, StoreError>>()?;
    let total: u64 = tenants.iter().map(|(_, n)| n).sum();
    let mut done = 0;
    let mut covered = HashMap::new();
    for (id, size) in tenants {
        let mut coverage = Coverage::default();
        let mut next = 0;
        while next < size {
            let end = (next + READ_CHUNK).min(size);
            done += add_range(&conn, &index, &writer, id, (next, end), &mut coverage)?;
            next = end;
            progress(done, total);
        }
        covered.insert(id, coverage);
    }
    let mut prepared = writer.prepare_commit().map_err(index_error)?;
    prepared.set_payload(&payload_text(&covered));
    prepared.commit().map_err(index_error)?;
    writer.wait_merging_threads().map_err(index_error)?;
    Ok(done)
}
