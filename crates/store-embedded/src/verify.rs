//! Offline verification of a data directory: canonical bytes -> leaf hashes -> tree -> signed
//! checkpoints, for every tenant, reporting the first bad tenant and seq.
//!
//! Nothing here trusts derived data: leaf hashes are recomputed from the stored bytes, the tree
//! is rebuilt from those, and each stored checkpoint's signature and root are checked against
//! the rebuilt tree at its size. The stored leaf hashes and block roots are compared too, so a
//! mismatch there is named exactly.

use std::ops::Range;
use std::path::Path;

use trailkeep_ledger::{NoteVerifier, perfect_root};
use trailkeep_store::verify::{
    Checked, LedgerCheck, TenantSummary, VerifyError, VerifyReport, check_row, fail, on_every_core,
    unreadable,
};

use crate::schema::{self, key_seq, tenant_key_range};
use crate::tree::BLOCK_LEAVES;

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
    let stored = stored_checkpoints(conn, id).map_err(unreadable)?;
    let mut ledger = LedgerCheck::new(name, verifier, stored)?;
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
    let mut block = Vec::with_capacity(BLOCK_LEAVES as usize);
    let mut chunk = read_chunk(&mut rows, 0, Chunk::default())?;
    // The chunk before, its buffers ready for the one after.
    let mut spare = Chunk::default();
    loop {
        // The rows are checked on every core while the next chunk is read here; the tree is
        // then built in seq order.
        let more = chunk.gap.is_none() && !chunk.last;
        let after = chunk.first + chunk.rows.len() as u64;
        let (checked, next) = std::thread::scope(|scope| {
            let checking = scope.spawn(|| check_rows(&chunk, name));
            let next = more
                .then(|| read_chunk(&mut rows, after, std::mem::take(&mut spare)))
                .transpose();
            match checking.join() {
                Ok(checked) => (checked, next),
                Err(panic) => std::panic::resume_unwind(panic),
            }
        });
        for (seq, checked) in (chunk.first..).zip(checked) {
            let row = checked.map_err(|reason| fail(name, Some(seq), reason))?;
            block.push(row.leaf);
            if block.len() as u64 == BLOCK_LEAVES {
                let idx = seq / BLOCK_LEAVES;
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
            ledger.push(&row, |_, _, _| {})?;
        }
        *done += chunk.rows.len() as u64;
        progress(*done);
        if let Some((expected, seq)) = chunk.gap {
            return Err(fail(
                name,
                Some(expected),
                format!("event is missing (the next stored seq is {seq})"),
            ));
        }
        match next? {
            Some(next) => spare = std::mem::replace(&mut chunk, next),
            None => break,
        }
    }
    ledger.finish()
}

/// Every stored checkpoint of tenant `id` as it is in its row (size, root, signed note), by
/// size.
pub fn stored_checkpoints(
    conn: &rusqlite::Connection,
    id: i64,
) -> rusqlite::Result<Vec<(u64, Vec<u8>, String)>> {
    conn.prepare_cached(
        "SELECT size, root, note FROM checkpoints WHERE tenant_id = ?1 ORDER BY size",
    )?
    .query_map([id], |r| {
        Ok((r.get::<_, i64>(0)? as u64, r.get(1)?, r.get(2)?))
    })?
    .collect()
}

/// Rows read and checked together: enough to keep every core busy, few enough to hold.
const CHUNK: usize = 8192;

/// A run of consecutive stored rows, read together and checked together. Their bytes share one
/// buffer: a chunk costs a few allocations rather than three for each row.
#[derive(Default)]
struct Chunk {
    /// The first row's seq; the others follow without a gap.
    first: u64,
    /// Every row's body, id and stored leaf hash, one after the other.
    bytes: Vec<u8>,
    rows: Vec<RowSpans>,
    /// The seq expected after the chunk and the one stored instead, when a row is missing.
    gap: Option<(u64, u64)>,
    /// Whether the tenant's rows end with this chunk.
    last: bool,
}

/// Where one row's parts lie in [`Chunk::bytes`].
struct RowSpans {
    body: Range<usize>,
    id: Range<usize>,
    leaf: Range<usize>,
}

/// Up to [`CHUNK`] rows from `rows`, which must start at seq `first`; a gap ends the chunk.
/// The rows go into `buffers`' allocations (a chunk done with), to spare the allocator.
fn read_chunk(
    rows: &mut rusqlite::Rows<'_>,
    first: u64,
    buffers: Chunk,
) -> Result<Chunk, VerifyError> {
    let mut chunk = Chunk {
        first,
        bytes: buffers.bytes,
        rows: buffers.rows,
        gap: None,
        last: false,
    };
    chunk.bytes.clear();
    chunk.rows.clear();
    while chunk.rows.len() < CHUNK {
        let Some(row) = rows.next().map_err(unreadable)? else {
            chunk.last = true;
            break;
        };
        let seq = key_seq(row.get(0).map_err(unreadable)?);
        let expected = first + chunk.rows.len() as u64;
        if seq != expected {
            chunk.gap = Some((expected, seq));
            break;
        }
        let bytes = &mut chunk.bytes;
        let mut put = |column: usize| -> Result<Range<usize>, VerifyError> {
            let value = row
                .get_ref(column)
                .and_then(|v| Ok(v.as_bytes()?))
                .map_err(unreadable)?;
            bytes.extend_from_slice(value);
            Ok(bytes.len() - value.len()..bytes.len())
        };
        let spans = RowSpans {
            id: put(1)?,
            leaf: put(2)?,
            body: put(3)?,
        };
        chunk.rows.push(spans);
    }
    Ok(chunk)
}

/// Each row checked ([`check_row`]), or why the row is bad: the stored leaf hash must match the
/// bytes (or be a tombstone's kept one), and the bytes must be the canonical event of this
/// seq, tenant and id. Rows are
/// independent, so the chunk is split across the machine's cores; the answers keep the rows'
/// order.
fn check_rows(chunk: &Chunk, tenant: &str) -> Vec<Result<Checked, String>> {
    let check = |(seq, row): (u64, &RowSpans)| {
        let id = std::str::from_utf8(&chunk.bytes[row.id.clone()])
            .map_err(|_| "the row's id is not UTF-8".to_owned())?;
        check_row(
            &chunk.bytes[row.body.clone()],
            &chunk.bytes[row.leaf.clone()],
            seq,
            tenant,
            id,
        )
    };
    on_every_core(&chunk.rows, |i, row| check((chunk.first + i as u64, row)))
}
