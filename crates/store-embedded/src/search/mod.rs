//! The query index: tantivy, derived from SQLite and rebuildable from it at any time.
//!
//! Each event is one document of plain terms and fast fields, no stored text: the index answers
//! "which seqs match, in what order", and the events themselves are read from SQLite. Full-text
//! tokens and metadata `path=value` pairs are computed by `trailkeep_event`'s term functions and
//! stored as raw terms, so the index and `Filter::matches` agree by construction.
//!
//! Each commit carries a payload with every tenant's *watermark*: the number of its events (seqs
//! `0..watermark`) the commit covers, with the tenant's own time span ([`Coverage`]). A query uses the index only below the watermark it read
//! and scans the rest (the tail) from SQLite, so a read sees every acknowledged write however far
//! behind the indexer is, and a missing or corrupt index only costs speed until it is rebuilt.

mod buckets;
mod indexer;
mod query;
mod stats;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use tantivy::directory::MmapDirectory;
use tantivy::indexer::IndexWriterOptions;
use tantivy::schema::{FAST, Field, INDEXED, STRING, Schema};
use tantivy::{Executor, Index, IndexReader, IndexWriter, ReloadPolicy, TantivyDocument};
use trailkeep_event::{Event, EventField, event_tokens, metadata_terms};
use trailkeep_store::StoreError;

use buckets::Level;

pub use indexer::{IndexerHandle, rebuild, spawn_indexer};
pub use query::{search, sort_key};
pub use stats::{Tally, tally};

/// Version of the index layout; a different version on disk is rebuilt.
const INDEX_FORMAT: u32 = 8;
/// The share of a segment's documents deleted that makes it a candidate for merging (tantivy's
/// default, 1.0, never merges a segment for its deletions alone).
const DELETED_SHARE_BEFORE_MERGE: f32 = 0.3;
/// Memory the index writer may buffer before it flushes a segment.
const WRITER_MEMORY_BYTES: usize = 64 * 1024 * 1024;
/// Threads merging segments in the background. tantivy's default is four: on a two-core
/// machine they could take both cores from ingest and the indexer for as long as merges of
/// million-event segments run (seconds); one thread leaves the other core to the live work.
const MERGE_THREADS: usize = 1;

/// The schema's fields.
#[derive(Debug, Clone, Copy)]
pub struct Fields {
    /// Tenant row id.
    pub tenant: Field,
    /// The event key (`tenant_id << 40 | seq`), indexed so that a changed event's document
    /// (a tombstone's) can be deleted and added again.
    pub key: Field,
    /// The event's seq (fast only: the watermark is checked by the collectors).
    pub seq: Field,
    /// `occurred_at` in microseconds (fast only: ranges are asked through the buckets).
    pub occurred: Field,
    /// The hour `occurred_at` falls in (`buckets::Level::Hour`).
    pub hour: Field,
    /// The UTC day `occurred_at` falls in.
    pub day: Field,
    /// The 32-day block `occurred_at` falls in.
    pub block: Field,
    /// `action`.
    pub action: Field,
    /// `category`.
    pub category: Field,
    /// `outcome`.
    pub outcome: Field,
    /// `actor.id`.
    pub actor_id: Field,
    /// `actor.email`, ASCII-lowercased.
    pub actor_email: Field,
    /// `actor.type`.
    pub actor_type: Field,
    /// `target.type`.
    pub target_type: Field,
    /// `target.id`.
    pub target_id: Field,
    /// `context.ip_address`.
    pub ip: Field,
    /// Full-text tokens (multi-valued).
    pub text: Field,
    /// Metadata `path=value` terms (multi-valued).
    pub meta: Field,
    /// Named-field `path=value` terms (multi-valued), for field conditions on fields without a
    /// keyword field of their own ([`Fields::keyword`]).
    pub fields: Field,
}

impl Fields {
    /// The keyword field that holds `field`'s value already, if any: a condition on the field
    /// is asked there, and the `fields` field does not repeat it (each repeat was one more
    /// term to index for every event).
    pub fn keyword(&self, field: EventField) -> Option<Field> {
        Some(match field {
            EventField::Action => self.action,
            EventField::Category => self.category,
            EventField::Outcome => self.outcome,
            EventField::ActorType => self.actor_type,
            EventField::ActorId => self.actor_id,
            EventField::ActorEmail => self.actor_email,
            EventField::TargetType => self.target_type,
            EventField::TargetId => self.target_id,
            EventField::IpAddress => self.ip,
            _ => return None,
        })
    }

    /// The field holding buckets of `level`.
    pub fn bucket(&self, level: Level) -> Field {
        match level {
            Level::Hour => self.hour,
            Level::Day => self.day,
            Level::Block => self.block,
        }
    }
}

fn schema() -> (Schema, Fields) {
    let mut b = Schema::builder();
    // Keywords that statistics count by have a fast column as well; the others are only
    // searched (a column costs indexing time and disk for every event).
    let counted = STRING | FAST;
    let keyword = STRING;
    let fields = Fields {
        tenant: b.add_u64_field("tenant", INDEXED),
        key: b.add_u64_field("key", INDEXED),
        seq: b.add_u64_field("seq", FAST),
        occurred: b.add_i64_field("occurred", FAST),
        hour: b.add_i64_field("hour", INDEXED),
        day: b.add_i64_field("day", INDEXED),
        block: b.add_i64_field("block", INDEXED),
        action: b.add_text_field("action", counted.clone()),
        category: b.add_text_field("category", counted.clone()),
        outcome: b.add_text_field("outcome", counted.clone()),
        actor_id: b.add_text_field("actor_id", counted.clone()),
        actor_email: b.add_text_field("actor_email", keyword.clone()),
        actor_type: b.add_text_field("actor_type", keyword.clone()),
        target_type: b.add_text_field("target_type", counted),
        target_id: b.add_text_field("target_id", keyword.clone()),
        ip: b.add_text_field("ip", keyword),
        text: b.add_text_field("text", STRING),
        meta: b.add_text_field("meta", STRING),
        fields: b.add_text_field("fields", STRING),
    };
    (b.build(), fields)
}

/// What the index covers of one tenant: its events with seqs `0..below`, all of which occurred
/// between `span`'s two instants (microseconds, inclusive; `None` while it covers none).
///
/// The span is the tenant's own: a search widens its time windows only over the tenant's own
/// events, so another tenant's event dated year 1 costs this tenant's searches nothing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Coverage {
    /// Events covered: seqs `0..below`.
    pub below: u64,
    /// The earliest and latest `occurred` among them.
    pub span: Option<(i64, i64)>,
}

impl Coverage {
    /// The same span with watermark `below`.
    pub fn with_below(self, below: u64) -> Self {
        Self { below, ..self }
    }

    /// The coverage once an event that occurred at `occurred` is added.
    pub fn widened(self, occurred: i64) -> Self {
        let span = match self.span {
            Some((lo, hi)) => (lo.min(occurred), hi.max(occurred)),
            None => (occurred, occurred),
        };
        Self {
            below: self.below,
            span: Some(span),
        }
    }
}

/// What a commit records about itself.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Payload {
    format: u32,
    /// Tenant row id -> what the commit covers of it.
    tenants: HashMap<i64, Coverage>,
}

/// An opened index with what it covers of each tenant (by tenant row id).
type Opened = (SearchIndex, HashMap<i64, Coverage>);

/// The opened index: where it lives, its fields, and a reader for queries.
pub struct SearchIndex {
    index: Index,
    fields: Fields,
    reader: IndexReader,
    /// Segment columns kept between searches.
    column_cache: query::ColumnCache,
    /// Threads that statistics tally segments on, side by side.
    stats_executor: Executor,
    /// Filters with at most this many candidates are searched without time windows
    /// ([`query::NARROW_CANDIDATES`]; tests lower it to run the windows).
    narrow_candidates: u64,
}

impl SearchIndex {
    /// Opens the index in `dir`, or creates an empty one there when it is missing, unreadable or
    /// of another format (the indexer then rebuilds it from SQLite). Returns the index and each
    /// tenant's watermark.
    pub fn open_or_create(dir: &Path) -> Result<Opened, StoreError> {
        match Self::open_existing(dir) {
            Ok(Some(opened)) => return Ok(opened),
            Ok(None) => {}
            Err(reason) => {
                tracing::warn!(%reason, dir = %dir.display(), "the query index is unusable; rebuilding it from the events");
            }
        }
        if dir.exists() {
            std::fs::remove_dir_all(dir)
                .map_err(|e| StoreError::Unavailable(format!("remove {}: {e}", dir.display())))?;
        }
        std::fs::create_dir_all(dir)
            .map_err(|e| StoreError::Unavailable(format!("create {}: {e}", dir.display())))?;
        let (schema, fields) = schema();
        let index = Index::create_in_dir(dir, schema).map_err(index_error)?;
        Ok((Self::with_index(index, fields)?, HashMap::new()))
    }

    /// An empty index in memory (tests).
    #[cfg(test)]
    pub fn in_memory() -> Result<Self, StoreError> {
        let (schema, fields) = schema();
        Self::with_index(Index::create_in_ram(schema), fields)
    }

    fn open_existing(dir: &Path) -> Result<Option<Opened>, String> {
        if !dir.join("meta.json").exists() {
            return Ok(None);
        }
        let directory = MmapDirectory::open(dir).map_err(|e| e.to_string())?;
        let index = Index::open(directory).map_err(|e| e.to_string())?;
        let (expected, fields) = schema();
        if index.schema() != expected {
            return Err("the index schema differs from this build's".into());
        }
        let metas = index.load_metas().map_err(|e| e.to_string())?;
        let payload: Payload = match metas.payload {
            Some(text) => serde_json::from_str(&text).map_err(|e| format!("bad payload: {e}"))?,
            None => Payload {
                format: INDEX_FORMAT,
                tenants: HashMap::new(),
            },
        };
        if payload.format != INDEX_FORMAT {
            return Err(format!(
                "index format {} is not {INDEX_FORMAT}",
                payload.format
            ));
        }
        let opened = Self::with_index(index, fields).map_err(|e| e.to_string())?;
        Ok(Some((opened, payload.tenants)))
    }

    fn with_index(index: Index, fields: Fields) -> Result<Self, StoreError> {
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()
            .map_err(index_error)?;
        Ok(Self {
            index,
            fields,
            reader,
            column_cache: query::ColumnCache::default(),
            stats_executor: stats_executor(),
            narrow_candidates: query::NARROW_CANDIDATES,
        })
    }

    /// The reader queries search with.
    pub fn reader(&self) -> &IndexReader {
        &self.reader
    }

    /// A writer (only the indexer holds one).
    pub fn writer(&self) -> Result<IndexWriter<TantivyDocument>, StoreError> {
        let options = IndexWriterOptions::builder()
            .num_worker_threads(1)
            .num_merge_threads(MERGE_THREADS)
            .memory_budget_per_thread(WRITER_MEMORY_BYTES)
            .build();
        let writer = self
            .index
            .writer_with_options(options)
            .map_err(index_error)?;
        // Retention and erasure delete documents (and add their tombstones'): a segment that
        // lost this share of its documents is merged, so the index gives the space back.
        let mut policy = tantivy::indexer::LogMergePolicy::default();
        policy.set_del_docs_ratio_before_merge(DELETED_SHARE_BEFORE_MERGE);
        writer.set_merge_policy(Box::new(policy));
        Ok(writer)
    }

    /// The document for an event of tenant `tenant_id`.
    pub fn document(&self, tenant_id: i64, event: &Event) -> TantivyDocument {
        let f = &self.fields;
        let mut doc = TantivyDocument::new();
        doc.add_u64(f.tenant, tenant_id as u64);
        doc.add_u64(f.key, crate::schema::event_key(tenant_id, event.seq) as u64);
        doc.add_u64(f.seq, event.seq);
        let occurred = event.occurred_at.as_micros();
        doc.add_i64(f.occurred, occurred);
        for level in Level::ALL {
            doc.add_i64(f.bucket(level), level.bucket(occurred));
        }
        doc.add_text(f.action, &event.action);
        doc.add_text(f.category, event.category.as_str());
        doc.add_text(f.outcome, event.outcome.as_str());
        let mut add = |field: Field, value: Option<&str>| {
            if let Some(value) = value {
                doc.add_text(field, value);
            }
        };
        if let Some(actor) = &event.actor {
            add(f.actor_id, actor.id.as_deref());
            add(
                f.actor_email,
                actor
                    .email
                    .as_ref()
                    .map(|e| e.to_ascii_lowercase())
                    .as_deref(),
            );
            add(f.actor_type, actor.kind.as_deref());
        }
        if let Some(target) = &event.target {
            add(f.target_type, target.kind.as_deref());
            add(f.target_id, target.id.as_deref());
        }
        add(
            f.ip,
            event.context.as_ref().and_then(|c| c.ip_address.as_deref()),
        );
        for token in event_tokens(event) {
            doc.add_text(f.text, &token);
        }
        for term in metadata_terms(event.metadata.as_ref()) {
            doc.add_text(f.meta, &term);
        }
        for field in EventField::ALL {
            if f.keyword(field).is_none()
                && let Some(value) = field.value(event)
            {
                doc.add_text(f.fields, &field.term(&value));
            }
        }
        doc
    }
}

/// Most threads statistics use: a month of a large tenant is millions of documents spread over
/// a dozen segments, and the tallies of separate segments are independent.
const STATS_THREADS: usize = 4;

/// The pool statistics run on: one thread for each core, up to [`STATS_THREADS`], or the
/// caller's thread when a pool cannot be started.
fn stats_executor() -> Executor {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let threads = cores.min(STATS_THREADS);
    if threads < 2 {
        return Executor::single_thread();
    }
    Executor::multi_thread(threads, "trailkeep-stats-").unwrap_or_else(|error| {
        tracing::warn!(%error, "statistics run on one thread: no pool");
        Executor::single_thread()
    })
}

/// The commit payload recording `tenants`.
fn payload_text(tenants: &HashMap<i64, Coverage>) -> String {
    serde_json::to_string(&Payload {
        format: INDEX_FORMAT,
        tenants: tenants.clone(),
    })
    .unwrap_or_default()
}

/// Wraps an index error.
pub fn index_error(e: impl std::fmt::Display) -> StoreError {
    StoreError::Internal(format!("query index: {e}"))
}
