//! Offline verification of a data directory: canonical bytes -> leaf hashes -> tree -> signed
//! checkpoints, for every tenant, reporting the first bad tenant and seq.
//!
//! Nothing here trusts derived data: leaf hashes are recomputed from the stored bytes, the tree
//! is rebuilt from those, and each stored checkpoint's signature and root are checked against
//! the rebuilt tree at its size. The stored leaf hashes and block roots are compared too, so a
//! mismatch there is named exactly.

use std::fmt;
use std::path::Path;

use trailkeep_event::Event;
use trailkeep_ledger::{Checkpoint, Frontier, Hash, NoteVerifier, leaf_hash};

use crate::schema::{self, key_seq, tenant_key_range};
use crate::tree::{BLOCK_LEAVES, perfect_root};

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
    /// The data directory could not be read (missing, not a Trailkeep directory, I/O).
    #[error("cannot read the data directory: {0}")]
    Unreadable(String),
    /// The data was read and does not verify.
    #[error("{0}")]
    Invalid(VerifyFailure),
}

fn fail(tenant: &str, seq: Option<u64>, reason: impl Into<String>) -> VerifyError {
    VerifyError::Invalid(VerifyFailure {
        tenant: tenant.to_owned(),
        seq,
        reason: reason.into(),
    })
}

fn unreadable(e: impl fmt::Display) -> VerifyError {
    VerifyError::Unreadable(e.to_string())
}

/// Verifies every tenant's ledger in the data directory `dir`.
///
/// Checkpoint signatures are checked with `verifier`, or, when it is `None`, with the public half
/// of the directory's own signing key (which proves less: whoever could rewrite the data could
/// rewrite that key too; auditors should pass the vkey they trust). `progress` is called with the
/// number of events checked so far, every few thousand events.
pub fn verify_data_dir(
    dir: &Path,
    verifier: Option<NoteVerifier>,
    progress: &mut dyn FnMut(u64),
) -> Result<VerifyReport, VerifyError> {
    let verifier = match verifier {
        Some(v) => v,
        None => crate::keys::load(dir).map_err(unreadable)?.verifier(),
    };
    let path = dir.join(crate::DB_FILE);
    if !path.exists() {
        return Err(unreadable(format!("{} does not exist", path.display())));
    }
    let conn = schema::open_read_only(&path).map_err(unreadable)?;
    let tenants: Vec<(i64, String)> = conn
        .prepare("SELECT id, name FROM tenants ORDER BY name")
        .and_then(|mut s| s.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect())
        .map_err(unreadable)?;
    let mut report = VerifyReport {
        tenants: Vec::new(),
    };
    let mut done = 0;
    for (id, name) in tenants {
        report.tenants.push(verify_tenant(
            &conn, &verifier, id, &name, &mut done, progress,
        )?);
    }
    progress(done);
    Ok(report)
}

fn verify_tenant(
    conn: &rusqlite::Connection,
    verifier: &NoteVerifier,
    id: i64,
    name: &str,
    done: &mut u64,
    progress: &mut dyn FnMut(u64),
) -> Result<TenantSummary, VerifyError> {
    let origin = format!("{}/{}", verifier.name(), name);
    let mut checkpoints: Vec<(u64, Checkpoint)> = Vec::new();
    let rows: Vec<(i64, Vec<u8>, String)> = conn
        .prepare("SELECT size, root, note FROM checkpoints WHERE tenant_id = ?1 ORDER BY size")
        .and_then(|mut s| {
            s.query_map([id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                .collect()
        })
        .map_err(unreadable)?;
    for (size, root, note) in rows {
        let size = size as u64;
        let checkpoint = Checkpoint::open(&note, verifier).map_err(|e| {
            fail(
                name,
                None,
                format!("checkpoint at size {size} does not verify: {e}"),
            )
        })?;
        if checkpoint.size != size || checkpoint.root[..] != root[..] || checkpoint.origin != origin
        {
            return Err(fail(
                name,
                None,
                format!("checkpoint at size {size} disagrees with its own signed note"),
            ));
        }
        checkpoints.push((size, checkpoint));
    }
    let block_roots: Vec<Vec<u8>> = conn
        .prepare("SELECT hash FROM ledger_nodes WHERE tenant_id = ?1 ORDER BY idx")
        .and_then(|mut s| s.query_map([id], |r| r.get(0))?.collect())
        .map_err(unreadable)?;

    let (lo, hi) = tenant_key_range(id);
    let mut stmt = conn
        .prepare(
            "SELECT key, id, leaf_hash, body FROM events WHERE key BETWEEN ?1 AND ?2 ORDER BY key",
        )
        .map_err(unreadable)?;
    let mut rows = stmt.query([lo, hi]).map_err(unreadable)?;
    let mut frontier = Frontier::new();
    let mut block = Vec::with_capacity(BLOCK_LEAVES as usize);
    let mut next_checkpoint = 0;
    let mut last_good_checkpoint = 0;
    loop {
        // A chunk of consecutive rows; a gap ends it, and is reported after the rows before it.
        let mut chunk = Vec::with_capacity(CHUNK);
        let mut gap = None;
        let mut exhausted = false;
        while chunk.len() < CHUNK {
            let Some(row) = rows.next().map_err(unreadable)? else {
                exhausted = true;
                break;
            };
            let seq = key_seq(row.get(0).map_err(unreadable)?);
            let expected = frontier.size() + chunk.len() as u64;
            if seq != expected {
                gap = Some((expected, seq));
                break;
            }
            chunk.push(StoredRow {
                seq,
                id: row.get(1).map_err(unreadable)?,
                leaf: row.get(2).map_err(unreadable)?,
                body: row.get(3).map_err(unreadable)?,
            });
        }
        // Per-row checks on every core; the tree, in seq order, here.
        for (row, checked) in chunk.iter().zip(check_rows(&chunk, name)) {
            let leaf = checked.map_err(|reason| fail(name, Some(row.seq), reason))?;
            frontier.push(leaf);
            block.push(leaf);
            if block.len() as u64 == BLOCK_LEAVES {
                let idx = row.seq / BLOCK_LEAVES;
                if let Some(stored) = block_roots.get(idx as usize)
                    && stored[..] != perfect_root(&block)[..]
                {
                    return Err(fail(
                        name,
                        None,
                        format!("the stored root of leaf block {idx} is wrong"),
                    ));
                }
                block.clear();
            }
            while let Some((size, checkpoint)) = checkpoints.get(next_checkpoint) {
                if *size != frontier.size() {
                    break;
                }
                if checkpoint.root != frontier.root() {
                    return Err(fail(
                        name,
                        None,
                        format!(
                            "the events from seq {last_good_checkpoint} to {} do not match the signed checkpoint at size {size}",
                            size - 1
                        ),
                    ));
                }
                last_good_checkpoint = *size;
                next_checkpoint += 1;
            }
        }
        *done += chunk.len() as u64;
        progress(*done);
        if let Some((expected, seq)) = gap {
            return Err(fail(
                name,
                Some(expected),
                format!("event is missing (the next stored seq is {seq})"),
            ));
        }
        if exhausted {
            break;
        }
    }
    if let Some((size, _)) = checkpoints.get(next_checkpoint) {
        return Err(fail(
            name,
            Some(frontier.size()),
            format!(
                "a signed checkpoint covers {size} events but only {} are stored",
                frontier.size()
            ),
        ));
    }
    Ok(TenantSummary {
        tenant: name.to_owned(),
        events: frontier.size(),
        checkpoints: checkpoints.len() as u64,
    })
}

/// Rows read and checked together: enough to keep every core busy, few enough to hold.
const CHUNK: usize = 8192;

/// One stored event as read for verification.
struct StoredRow {
    seq: u64,
    id: String,
    leaf: Vec<u8>,
    body: Vec<u8>,
}

/// The leaf hash of each row, or why the row is bad: the stored leaf hash must match the
/// bytes, and the bytes must be the canonical event of this seq, tenant and id. Parsing and
/// re-canonicalising dominate verification, and rows are independent, so the chunk is split
/// across the machine's cores; the answers keep the rows' order.
fn check_rows(rows: &[StoredRow], tenant: &str) -> Vec<Result<Hash, String>> {
    let check = |row: &StoredRow| {
        let leaf = leaf_hash(&row.body);
        if row.leaf[..] != leaf[..] {
            return Err("the stored bytes do not match the event's leaf hash".to_owned());
        }
        check_event(&row.body, row.seq, tenant, &row.id)?;
        Ok(leaf)
    };
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    if threads == 1 || rows.len() < 2 * threads {
        return rows.iter().map(check).collect();
    }
    let part = rows.len().div_ceil(threads);
    std::thread::scope(|scope| {
        let workers: Vec<_> = rows
            .chunks(part)
            .map(|rows| scope.spawn(move || rows.iter().map(check).collect::<Vec<_>>()))
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

/// Checks that stored bytes are a canonical event that belongs at this place.
fn check_event(body: &[u8], seq: u64, tenant: &str, row_id: &str) -> Result<(), String> {
    let event =
        Event::from_canonical(body).map_err(|e| format!("the stored event does not parse: {e}"))?;
    if event.seq != seq || event.tenant != tenant || event.id != row_id {
        return Err("the stored event names another seq, tenant or id than its row".into());
    }
    let canonical = event
        .canonical_bytes()
        .map_err(|e| format!("the stored event has no canonical form: {e}"))?;
    if canonical != body {
        return Err("the stored bytes are not in canonical form".into());
    }
    Ok(())
}
