//! Offline verification, as every engine does it: what it reports, how one stored event is
//! checked, and how a tenant's leaves are checked against its signed checkpoints. An engine
//! only reads its rows in seq order and feeds them through [`check_row`] and [`LedgerCheck`].
//!
//! Nothing here trusts derived data: leaf hashes are recomputed from the stored bytes, the tree
//! is rebuilt from those, and each stored checkpoint's signature and root are checked against
//! the rebuilt tree at its size.

use std::fmt;

use trailkeep_event::{canonicalize, check_canonical};
use trailkeep_ledger::{Checkpoint, Frontier, Hash, NoteVerifier, leaf_hash};

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

/// The leaf hash of one stored row, or why the row is bad: the stored leaf hash must match the
/// bytes, and the bytes must be the canonical event of this seq, tenant and id.
pub fn check_row(
    body: &[u8],
    stored_leaf: &[u8],
    seq: u64,
    tenant: &str,
    row_id: &str,
) -> Result<Hash, String> {
    let leaf = leaf_hash(body);
    if stored_leaf != leaf {
        return Err("the stored bytes do not match the event's leaf hash".to_owned());
    }
    check_event(body, seq, tenant, row_id)?;
    Ok(leaf)
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

/// Checks that stored bytes are a canonical event that belongs at this place: one pass over
/// the bytes checks the canonical form and reads the top-level `seq`, `tenant` and `id`, which
/// must name this row (parsing the event and writing it out again took five times as long).
pub fn check_event(body: &[u8], seq: u64, tenant: &str, row_id: &str) -> Result<(), String> {
    let (mut seq_text, mut tenant_text, mut id_text) = (None, None, None);
    check_canonical(body, |key, value| match key {
        b"seq" => seq_text = Some(value),
        b"tenant" => tenant_text = Some(value),
        b"id" => id_text = Some(value),
        _ => {}
    })
    .map_err(|fault| format!("the stored bytes are not in canonical form: {fault}"))?;
    let names_seq = seq_text.is_some_and(|t| t == seq.to_string().as_bytes());
    let names_tenant = tenant_text.is_some_and(|t| is_json_string(t, tenant));
    let names_id = id_text.is_some_and(|t| is_json_string(t, row_id));
    if !(names_seq && names_tenant && names_id) {
        return Err("the stored event names another seq, tenant or id than its row".into());
    }
    Ok(())
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
        })
    }

    /// The tree so far.
    pub fn frontier(&self) -> &Frontier {
        &self.frontier
    }

    /// Adds the next leaf, calling `completed` for each perfect subtree it completes (level,
    /// index, hash), and checks the checkpoints of the new size.
    pub fn push(
        &mut self,
        leaf: Hash,
        completed: impl FnMut(u32, u64, &Hash),
    ) -> Result<(), VerifyError> {
        self.frontier.push_with(leaf, completed);
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
        Ok(TenantSummary {
            tenant: self.tenant,
            events: self.frontier.size(),
            checkpoints: self.checkpoints.len() as u64,
        })
    }
}
