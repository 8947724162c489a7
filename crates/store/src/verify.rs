//! Offline verification, as every engine does it: what it reports, how one stored event is
//! checked, and how a tenant's leaves are checked against its signed checkpoints. An engine
//! only reads its rows in seq order and feeds them through [`check_row`] and [`LedgerCheck`].
//!
//! Nothing here trusts derived data: leaf hashes are recomputed from the stored bytes, the tree
//! is rebuilt from those, and each stored checkpoint's signature and root are checked against
//! the rebuilt tree at its size. A tombstone ([`crate::redaction`]) cannot be hashed back to
//! its leaf: its kept leaf hash must be the one stored beside it (the tree checks that one),
//! and its bytes must be those the record it names vouches for ([`RedactionCheck`]).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;

use serde::Deserialize;
use trailkeep_event::{
    REDACTION_RECORD_ACTION, Redaction, RedactionReason, canonicalize, check_canonical,
};
use trailkeep_ledger::{Checkpoint, Frontier, Hash, NoteVerifier, leaf_hash};

use crate::redaction::{RecordDigest, sha256};

/// What a successful verification covered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    /// One line per tenant.
    pub tenants: Vec<TenantSummary>,
}

/// One verified tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantSummary {
    /// The tenant.
    pub tenant: String,
    /// Events verified.
    pub events: u64,
    /// Signed checkpoints verified.
    pub checkpoints: u64,
    /// Of the events, how many are tombstones, by the reason of their latest removal.
    pub tombstones: BTreeMap<RedactionReason, u64>,
}

/// The first problem found in data that could be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyFailure {
    /// The tenant whose data is wrong.
    pub tenant: String,
    /// The seq, when the problem is one event.
    pub seq: Option<u64>,
    /// What is wrong.
    pub reason: String,
}

impl fmt::Display for VerifyFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.seq {
            Some(s) => write!(f, "tenant {}, seq {s}: {}", self.tenant, self.reason),
            None => write!(f, "tenant {}: {}", self.tenant, self.reason),
        }
    }
}

/// Why verification did not succeed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// The store could not be read (missing, not a Trailkeep store, I/O); says why.
    #[error("{0}")]
    Unreadable(String),
    /// The data was read and does not verify.
    #[error("{0}")]
    Invalid(VerifyFailure),
}

/// A failure of `tenant` (at `seq`, when one event is wrong).
pub fn fail(tenant: &str, seq: Option<u64>, reason: impl Into<String>) -> VerifyError {
    VerifyError::Invalid(VerifyFailure {
        tenant: tenant.to_owned(),
        seq,
        reason: reason.into(),
    })
}

/// A store that cannot be read.
pub fn unreadable(e: impl fmt::Display) -> VerifyError {
    VerifyError::Unreadable(e.to_string())
}

/// What one stored row turned out to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checked {
    /// Its leaf hash: recomputed from a whole event's bytes, or a tombstone's kept one.
    pub leaf: Hash,
    /// When the row is a tombstone: what verification checks it against.
    pub tombstone: Option<TombstoneSeen>,
    /// When the row is a redaction record: what it vouches for.
    pub record: Option<RecordSeen>,
}

/// A tombstone as verification sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TombstoneSeen {
    /// Why its latest removal was made.
    pub reason: RedactionReason,
    /// The records that vouch for it, each with the SHA-256 of the tombstone as that record
    /// made it: the earlier removals' and, last, the latest one's (of the bytes stored now).
    pub records: Vec<(String, Hash)>,
}

/// A redaction record as verification sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordSeen {
    /// The record's id, which its tombstones name.
    pub id: String,
    /// How many tombstones it made.
    pub count: u64,
    /// Their digest ([`RecordDigest`]).
    pub digest: Hash,
}

/// The metadata of a redaction record that verification reads.
#[derive(Deserialize)]
struct RecordMetadata {
    tombstones: u64,
    tombstones_sha256: String,
}

/// Checks one stored row: the stored leaf hash must match the bytes (or, for a tombstone, be
/// the leaf hash it kept), and the bytes must be the canonical event of this seq, tenant and
/// id.
pub fn check_row(
    body: &[u8],
    stored_leaf: &[u8],
    seq: u64,
    tenant: &str,
    row_id: &str,
) -> Result<Checked, String> {
    let named = check_event(body, seq, tenant, Some(row_id))?;
    checked(body, named, stored_leaf)
}

/// [`check_row`] for bytes read without their row's id (a stream of stored events): the id is
/// the one the bytes name.
pub fn check_stored(
    body: &[u8],
    stored_leaf: &[u8],
    seq: u64,
    tenant: &str,
) -> Result<Checked, String> {
    let named = check_event(body, seq, tenant, None)?;
    checked(body, named, stored_leaf)
}

fn checked(body: &[u8], named: Named<'_>, stored_leaf: &[u8]) -> Result<Checked, String> {
    if let Some(raw) = named.redaction {
        let redaction: Redaction = serde_json::from_slice(raw)
            .map_err(|e| format!("the tombstone's redaction cannot be read: {e}"))?;
        let kept = hex::decode(&redaction.leaf_hash).unwrap_or_default();
        if kept != stored_leaf {
            return Err(
                "the tombstone's kept leaf hash is not the leaf hash stored beside it".into(),
            );
        }
        let mut records = Vec::with_capacity(redaction.earlier.len() + 1);
        for earlier in redaction.earlier {
            let digest = decode_hash(&earlier.tombstone_sha256)
                .ok_or("the tombstone names an earlier removal with a malformed digest")?;
            records.push((earlier.record, digest));
        }
        records.push((redaction.record, sha256(body)));
        let leaf = Hash::try_from(stored_leaf).map_err(|_| "the stored leaf hash is malformed")?;
        return Ok(Checked {
            leaf,
            tombstone: Some(TombstoneSeen {
                reason: redaction.reason,
                records,
            }),
            record: None,
        });
    }
    let leaf = leaf_hash(body);
    if stored_leaf != leaf {
        return Err("the stored bytes do not match the event's leaf hash".to_owned());
    }
    let record = match (named.action, named.metadata) {
        (Some(action), Some(metadata)) if is_json_string(action, REDACTION_RECORD_ACTION) => {
            let read: RecordMetadata = serde_json::from_slice(metadata)
                .map_err(|e| format!("the redaction record cannot be read: {e}"))?;
            Some(RecordSeen {
                id: named.id,
                count: read.tombstones,
                digest: decode_hash(&read.tombstones_sha256)
                    .ok_or("the redaction record's digest is malformed")?,
            })
        }
        _ => None,
    };
    Ok(Checked {
        leaf,
        tombstone: None,
        record,
    })
}

fn decode_hash(text: &str) -> Option<Hash> {
    Hash::try_from(hex::decode(text).ok()?.as_slice()).ok()
}

/// Every tombstone of a tenant held to the records that vouch for it, row by row in seq order:
/// a record comes after the tombstones it made (it was appended when they were written), so
/// each record's digest is complete when the record is reached.
#[derive(Default)]
pub struct RedactionCheck {
    /// Records not reached yet: the digest of the tombstones naming each so far, and the
    /// first seq among them.
    open: HashMap<String, (RecordDigest, u64)>,
    /// Records reached.
    closed: HashSet<String>,
    /// Tombstones by reason.
    tombstones: BTreeMap<RedactionReason, u64>,
}

impl RedactionCheck {
    /// Takes the checked row at `seq` into account; says why it fails, if it does.
    pub fn row(&mut self, seq: u64, checked: &Checked) -> Result<(), String> {
        if let Some(tombstone) = &checked.tombstone {
            *self.tombstones.entry(tombstone.reason).or_default() += 1;
            for (record, digest) in &tombstone.records {
                if self.closed.contains(record) {
                    return Err(format!(
                        "the tombstone names redaction record {record}, which comes before it"
                    ));
                }
                self.open
                    .entry(record.clone())
                    .or_insert_with(|| (RecordDigest::default(), seq))
                    .0
                    .add(seq, digest);
            }
        }
        if let Some(record) = &checked.record {
            let (digest, first) = self
                .open
                .remove(&record.id)
                .unwrap_or_else(|| (RecordDigest::default(), seq));
            let (count, found) = digest.finish();
            if count != record.count || found != record.digest {
                return Err(format!(
                    "redaction record {} vouches for {} tombstones, and the {count} that name it \
                     (from seq {first}) do not match its digest: a tombstone was altered",
                    record.id, record.count
                ));
            }
            self.closed.insert(record.id.clone());
        }
        Ok(())
    }

    /// The tombstones by reason, once every row was seen; fails when a tombstone names a
    /// record that is not in the trail.
    pub fn finish(self) -> Result<BTreeMap<RedactionReason, u64>, (u64, String)> {
        if let Some((record, (_, first))) = self.open.into_iter().min_by_key(|(_, (_, s))| *s) {
            return Err((
                first,
                format!("the tombstone names redaction record {record}, which is not in the trail"),
            ));
        }
        Ok(self.tombstones)
    }
}

/// `check` of each of `rows` (with its index), in order, the rows split across the machine's
/// cores: each row's check is independent of the others', and costs microseconds.
pub fn on_every_core<T: Sync, R: Send>(
    rows: &[T],
    check: impl Fn(usize, &T) -> R + Sync,
) -> Vec<R> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    if threads == 1 || rows.len() < 2 * threads {
        return rows
            .iter()
            .enumerate()
            .map(|(i, row)| check(i, row))
            .collect();
    }
    let part = rows.len().div_ceil(threads);
    let check = &check;
    std::thread::scope(|scope| {
        let workers: Vec<_> = rows
            .chunks(part)
            .enumerate()
            .map(|(n, part_rows)| {
                scope.spawn(move || {
                    part_rows
                        .iter()
                        .enumerate()
                        .map(|(i, row)| check(n * part + i, row))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|worker| match worker.join() {
                Ok(checked) => checked,
                Err(panic) => std::panic::resume_unwind(panic),
            })
            .collect()
    })
}

/// The top-level values of a stored event that verification reads, as raw JSON.
#[derive(Default)]
pub struct Named<'a> {
    /// `action`.
    pub action: Option<&'a [u8]>,
    /// `metadata`.
    pub metadata: Option<&'a [u8]>,
    /// `redaction`: present only on a tombstone.
    pub redaction: Option<&'a [u8]>,
    /// The id.
    pub id: String,
}

/// Checks that stored bytes are a canonical event that belongs at this place: one pass over
/// the bytes checks the canonical form and reads the top-level `seq`, `tenant` and `id`, which
/// must name this row (parsing the event and writing it out again took five times as long).
/// Answers the values a tombstone or record is recognised by. Without a `row_id`, any id is
/// taken.
pub fn check_event<'a>(
    body: &'a [u8],
    seq: u64,
    tenant: &str,
    row_id: Option<&str>,
) -> Result<Named<'a>, String> {
    let (mut seq_text, mut tenant_text, mut id_text) = (None, None, None);
    let mut named = Named::default();
    check_canonical(body, |key, value| match key {
        b"seq" => seq_text = Some(value),
        b"tenant" => tenant_text = Some(value),
        b"id" => id_text = Some(value),
        b"action" => named.action = Some(value),
        b"metadata" => named.metadata = Some(value),
        b"redaction" => named.redaction = Some(value),
        _ => {}
    })
    .map_err(|fault| format!("the stored bytes are not in canonical form: {fault}"))?;
    let names_seq = seq_text.is_some_and(|t| t == seq.to_string().as_bytes());
    let names_tenant = tenant_text.is_some_and(|t| is_json_string(t, tenant));
    let names_id = match (id_text, row_id) {
        (Some(text), Some(row_id)) => is_json_string(text, row_id),
        (Some(text), None) => match serde_json::from_slice::<String>(text) {
            Ok(id) => {
                named.id = id;
                true
            }
            Err(_) => false,
        },
        (None, _) => false,
    };
    if !(names_seq && names_tenant && names_id) {
        return Err("the stored event names another seq, tenant or id than its row".into());
    }
    if let Some(row_id) = row_id {
        named.id = row_id.to_owned();
    }
    Ok(named)
}

/// Whether `raw` is the canonical JSON string of `text`.
fn is_json_string(raw: &[u8], text: &str) -> bool {
    let plain = !text.bytes().any(|b| b == b'"' || b == b'\\' || b < 0x20);
    if plain {
        return raw.len() == text.len() + 2
            && raw[0] == b'"'
            && raw[raw.len() - 1] == b'"'
            && &raw[1..raw.len() - 1] == text.as_bytes();
    }
    canonicalize(&serde_json::Value::from(text)).is_ok_and(|c| c == raw)
}

/// A tenant's tree rebuilt leaf by leaf and held to its signed checkpoints: each checkpoint's
/// signature, origin, size and root are checked, and its root against the rebuilt tree when
/// the tree reaches its size.
pub struct LedgerCheck {
    tenant: String,
    frontier: Frontier,
    /// The stored checkpoints, by size, opened.
    checkpoints: Vec<(u64, Checkpoint)>,
    next: usize,
    last_good: u64,
    redactions: RedactionCheck,
}

impl LedgerCheck {
    /// Opens `tenant`'s stored checkpoints (size, root, note) with `verifier`.
    pub fn new(
        tenant: &str,
        verifier: &NoteVerifier,
        mut stored: Vec<(u64, Vec<u8>, String)>,
    ) -> Result<Self, VerifyError> {
        stored.sort_by_key(|c| c.0);
        let origin = format!("{}/{}", verifier.name(), tenant);
        let mut checkpoints = Vec::with_capacity(stored.len());
        for (size, root, note) in stored {
            let checkpoint = Checkpoint::open(&note, verifier).map_err(|e| {
                fail(
                    tenant,
                    None,
                    format!("checkpoint at size {size} does not verify: {e}"),
                )
            })?;
            if checkpoint.size != size
                || checkpoint.root[..] != root[..]
                || checkpoint.origin != origin
            {
                return Err(fail(
                    tenant,
                    None,
                    format!("checkpoint at size {size} disagrees with its own signed note"),
                ));
            }
            checkpoints.push((size, checkpoint));
        }
        Ok(Self {
            tenant: tenant.to_owned(),
            frontier: Frontier::new(),
            checkpoints,
            next: 0,
            last_good: 0,
            redactions: RedactionCheck::default(),
        })
    }

    /// The tree so far.
    pub fn frontier(&self) -> &Frontier {
        &self.frontier
    }

    /// Adds the next row's leaf, calling `completed` for each perfect subtree it completes
    /// (level, index, hash), checks the checkpoints of the new size, and holds a tombstone or
    /// redaction record to the others ([`RedactionCheck`]).
    pub fn push(
        &mut self,
        row: &Checked,
        completed: impl FnMut(u32, u64, &Hash),
    ) -> Result<(), VerifyError> {
        let seq = self.frontier.size();
        self.redactions
            .row(seq, row)
            .map_err(|reason| fail(&self.tenant, Some(seq), reason))?;
        self.frontier.push_with(row.leaf, completed);
        while let Some((size, checkpoint)) = self.checkpoints.get(self.next) {
            if *size != self.frontier.size() {
                break;
            }
            if checkpoint.root != self.frontier.root() {
                return Err(fail(
                    &self.tenant,
                    None,
                    format!(
                        "the events from seq {} to {} do not match the signed checkpoint at size {size}",
                        self.last_good,
                        size - 1
                    ),
                ));
            }
            self.last_good = *size;
            self.next += 1;
        }
        Ok(())
    }

    /// The tenant's summary once every stored leaf was pushed; fails when a checkpoint covers
    /// more events than are stored.
    pub fn finish(self) -> Result<TenantSummary, VerifyError> {
        if let Some((size, _)) = self.checkpoints.get(self.next) {
            return Err(fail(
                &self.tenant,
                Some(self.frontier.size()),
                format!(
                    "a signed checkpoint covers {size} events but only {} are stored",
                    self.frontier.size()
                ),
            ));
        }
        let tombstones = self
            .redactions
            .finish()
            .map_err(|(seq, reason)| fail(&self.tenant, Some(seq), reason))?;
        Ok(TenantSummary {
            tenant: self.tenant,
            events: self.frontier.size(),
            checkpoints: self.checkpoints.len() as u64,
            tombstones,
        })
    }
}
