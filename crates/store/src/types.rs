//! The values that cross the storage contract.

use trailkeep_event::{Cursor, Event, PreparedEvent, Timestamp};
use trailkeep_ledger::Hash;

/// A client's `Idempotency-Key` and a hash of the request it came with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey {
    /// The key as the client sent it.
    pub key: String,
    /// SHA-256 of the request body (and anything else that makes two requests "the same").
    pub request_hash: Hash,
}

/// One batch to append.
#[derive(Debug, Clone, Default)]
pub struct AppendRequest {
    /// Validated events, in the order the client sent them.
    pub events: Vec<PreparedEvent>,
    /// The request's idempotency key, if any.
    pub idempotency_key: Option<IdempotencyKey>,
}

/// Proof that an event was stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    /// The event's id.
    pub id: String,
    /// Its leaf index in the tenant's tree.
    pub seq: u64,
    /// Its leaf hash, `SHA-256(0x00 || canonical bytes)`.
    pub leaf_hash: Hash,
}

/// The answer to an append.
#[derive(Debug, Clone)]
pub struct AppendOutcome {
    /// The stored events, in input order.
    pub events: Vec<StoredEvent>,
    /// How many of them this call stored (the rest were already there).
    pub stored: usize,
    /// Whether the whole answer is a replay of an earlier request with the same idempotency key.
    pub replayed: bool,
}

/// An event's stored bytes without the parsed form: what a stream of whole events (an export)
/// needs, at the cost of no JSON parsing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CanonicalEvent {
    /// Its seq.
    pub seq: u64,
    /// When it happened.
    pub occurred_at: Timestamp,
    /// The RFC 8785 canonical bytes the leaf hash covers.
    pub canonical: Vec<u8>,
    /// `SHA-256(0x00 || canonical)`.
    pub leaf_hash: Hash,
}

/// An event as stored: the parsed form, its canonical bytes and its leaf hash.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredEvent {
    /// The parsed event.
    pub event: Event,
    /// The RFC 8785 canonical bytes the leaf hash covers.
    pub canonical: Vec<u8>,
    /// `SHA-256(0x00 || canonical)`.
    pub leaf_hash: Hash,
}

impl StoredEvent {
    /// The event's receipt.
    pub fn receipt(&self) -> Receipt {
        Receipt {
            id: self.event.id.clone(),
            seq: self.event.seq,
            leaf_hash: self.leaf_hash,
        }
    }
}

impl From<StoredEvent> for CanonicalEvent {
    fn from(stored: StoredEvent) -> Self {
        Self {
            seq: stored.event.seq,
            occurred_at: stored.event.occurred_at,
            canonical: stored.canonical,
            leaf_hash: stored.leaf_hash,
        }
    }
}

/// One page of a listing: of parsed events, or of [`CanonicalEvent`]s for answers that send
/// the stored bytes on as they are.
#[derive(Debug, Clone)]
pub struct Page<E = StoredEvent> {
    /// The events, in the query's order.
    pub events: Vec<E>,
    /// Where the next page starts, when there may be one.
    pub next: Option<Cursor>,
    /// How many events match the filter in all, when the query asked for it.
    pub total: Option<u64>,
}

impl<E> Default for Page<E> {
    fn default() -> Self {
        Self {
            events: Vec::new(),
            next: None,
            total: None,
        }
    }
}

/// A signed tree head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedCheckpoint {
    /// Tree size.
    pub size: u64,
    /// Root hash of the tree of that size.
    pub root: Hash,
    /// The C2SP signed note: exactly the signed text plus the signature lines.
    pub note: String,
}

/// An inclusion proof, as `GET /v1/ledger/proofs/inclusion` returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InclusionProof {
    /// The leaf's index.
    pub seq: u64,
    /// The size of the tree the proof is against.
    pub tree_size: u64,
    /// The leaf's hash.
    pub leaf_hash: Hash,
    /// The audit path, leaf to root.
    pub hashes: Vec<Hash>,
}

/// A dimension statistics can be grouped by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum GroupBy {
    /// The event's action.
    Action,
    /// The event's category.
    Category,
    /// `target.type`.
    TargetType,
    /// The outcome.
    Outcome,
    /// `actor.id`.
    Actor,
    /// The UTC day of `occurred_at` (`YYYY-MM-DD`).
    Day,
    /// The UTC hour of `occurred_at`, as the instant it starts (`YYYY-MM-DDTHH:00:00Z`).
    Hour,
    /// The UTC minute of `occurred_at`, as the instant it starts (`YYYY-MM-DDTHH:MM:00Z`).
    Minute,
}

impl GroupBy {
    /// Every dimension.
    pub const ALL: [GroupBy; 8] = [
        GroupBy::Action,
        GroupBy::Category,
        GroupBy::TargetType,
        GroupBy::Outcome,
        GroupBy::Actor,
        GroupBy::Day,
        GroupBy::Hour,
        GroupBy::Minute,
    ];

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            GroupBy::Action => "action",
            GroupBy::Category => "category",
            GroupBy::TargetType => "target_type",
            GroupBy::Outcome => "outcome",
            GroupBy::Actor => "actor",
            GroupBy::Day => "day",
            GroupBy::Hour => "hour",
            GroupBy::Minute => "minute",
        }
    }

    /// The width of a time dimension's buckets in microseconds; `None` for the others.
    pub fn bucket_micros(self) -> Option<i64> {
        match self {
            GroupBy::Day => Some(86_400_000_000),
            GroupBy::Hour => Some(3_600_000_000),
            GroupBy::Minute => Some(60_000_000),
            _ => None,
        }
    }

    /// The number of the time bucket holding `micros` (buckets of [`GroupBy::bucket_micros`]
    /// counted from the epoch, rounding down); `None` for the other dimensions.
    pub fn bucket_of(self, micros: i64) -> Option<i64> {
        self.bucket_micros().map(|width| micros.div_euclid(width))
    }

    /// The wire value of time bucket number `bucket` (see [`GroupBy::bucket_of`]): the day,
    /// or the instant the hour or minute starts.
    pub fn bucket_name(self, bucket: i64) -> String {
        let start = bucket.saturating_mul(self.bucket_micros().unwrap_or(0));
        let text = Timestamp::from_micros(start)
            .map(|t| t.to_string())
            .unwrap_or_default();
        match self {
            GroupBy::Hour if text.len() >= 13 => format!("{}:00:00Z", &text[..13]),
            GroupBy::Minute if text.len() >= 16 => format!("{}:00Z", &text[..16]),
            _ => text.chars().take(10).collect(),
        }
    }

    /// Parses a wire name.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|g| g.as_str() == text)
    }
}

/// Counts over the events matching a filter.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    /// Matching events.
    pub total: u64,
    /// Distinct `actor.id`s among them.
    pub unique_actors: u64,
    /// Matching events that are failed logins (category `login`, outcome `failure`).
    pub failed_logins: u64,
    /// For each requested dimension, each value's count (events without the value are not
    /// counted), sorted by count, largest first, then by value; at most
    /// [`MAX_GROUP_VALUES`] values each.
    pub groups: std::collections::BTreeMap<GroupBy, Vec<(String, u64)>>,
    /// The dimensions that had more values than their list holds.
    pub truncated: std::collections::BTreeSet<GroupBy>,
}

/// Most values a statistics group lists; the rest are counted in the totals only.
pub const MAX_GROUP_VALUES: usize = 1000;

/// What an operator watches: how far behind the background work is.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Vitals {
    /// Appends waiting for, or being written by, the writer.
    pub write_queue_depth: u64,
    /// Appends that may wait before new ones are refused as overload.
    pub write_queue_capacity: u64,
    /// Committed events the query index does not cover yet (they are found by scanning).
    pub index_lag: u64,
    /// Committed events no signed checkpoint covers yet.
    pub unsigned_events: u64,
    /// Seconds since this process last signed a checkpoint; `None` before the first.
    pub checkpoint_age_seconds: Option<f64>,
}
