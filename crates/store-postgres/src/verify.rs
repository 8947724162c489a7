//! Offline verification of a database: for every tenant, every stored event in seq order
//! (canonical bytes, leaf hash, seq, tenant and id), the tree rebuilt from them against the
//! stored tree nodes and the head's right edge, and every signed checkpoint against the
//! rebuilt tree (`trailkeep verify --store URL`). Read in one repeatable-read transaction, so
//! nodes may keep writing meanwhile; each chunk of rows is checked on every core while the
//! next is read.

use std::collections::HashMap;

use tokio_postgres::{IsolationLevel, NoTls, Row};
use trailkeep_ledger::{Hash, NoteVerifier};
use trailkeep_store::verify::{
    Checked, LedgerCheck, TenantSummary, VerifyError, VerifyReport, check_row, fail, on_every_core,
    unreadable,
};

use crate::tree::{frontier_bytes, is_stored_level};

/// Rows read at a time.
const CHUNK: i64 = 8192;

/// Verifies every tenant's ledger in the database at `url`. Signatures are checked with
/// `verifier`, or, when it is `None`, with the verification key the database records (which
/// proves less: whoever could rewrite the data could rewrite that too; auditors pass the vkey
/// they trust). `progress` is called with the number of events checked so far.
pub async fn verify(
    url: &str,
    verifier: Option<NoteVerifier>,
    progress: &mut (dyn FnMut(u64) + Send),
) -> Result<VerifyReport, VerifyError> {
    let config = crate::parse_url(url).map_err(unreadable)?;
    let (mut client, connection) = config
        .connect(NoTls)
        .await
        .map_err(|e| unreadable(crate::error_chain(&e)))?;
    let driver = tokio::spawn(connection);
    let report = verify_all(&mut client, verifier, progress).await;
    drop(client);
    let _ = driver.await;
    report
}

async fn verify_all(
    client: &mut tokio_postgres::Client,
    verifier: Option<NoteVerifier>,
    progress: &mut (dyn FnMut(u64) + Send),
) -> Result<VerifyReport, VerifyError> {
    let tx = client
        .build_transaction()
        .isolation_level(IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .await
        .map_err(|e| unreadable(crate::error_chain(&e)))?;
    let ours = tx
        .query_one("SELECT to_regclass('heads') IS NOT NULL", &[])
        .await
        .map_err(|e| unreadable(crate::error_chain(&e)))?
        .get::<_, bool>(0);
    if !ours {
        return Err(unreadable("the database holds no Trailkeep ledger"));
    }
    let verifier = match verifier {
        Some(verifier) => verifier,
        None => {
            let vkey: String = tx
                .query_opt(
                    "SELECT value FROM trailkeep_settings WHERE name = 'vkey'",
                    &[],
                )
                .await
                .map_err(|e| unreadable(crate::error_chain(&e)))?
                .ok_or_else(|| unreadable("the database holds no Trailkeep ledger"))?
                .get(0);
            NoteVerifier::from_vkey(&vkey).map_err(|e| unreadable(crate::error_chain(&e)))?
        }
    };
    let heads = tx
        .query(
            "SELECT tenant, size FROM heads WHERE moved_to IS NULL ORDER BY tenant",
            &[],
        )
        .await
        .map_err(|e| unreadable(crate::error_chain(&e)))?;
    let mut report = VerifyReport {
        tenants: Vec::new(),
    };
    let mut done = 0;
    for head in heads {
        let tenant: String = head.get(0);
        let size = head.get::<_, i64>(1) as u64;
        let summary = verify_tenant(&tx, &verifier, &tenant, &mut done, progress).await?;
        if summary.events != size {
            return Err(fail(
                &tenant,
                Some(summary.events),
                format!(
                    "the ledger head counts {size} events but {} are stored",
                    summary.events
                ),
            ));
        }
        report.tenants.push(summary);
    }
    progress(done);
    Ok(report)
}

/// The tenant's rows from seq `from` on, [`CHUNK`] at most, in seq order.
async fn chunk(
    tx: &tokio_postgres::Transaction<'_>,
    tenant: &str,
    from: i64,
) -> Result<Vec<Row>, VerifyError> {
    tx.query(
        "SELECT seq, id, leaf_hash, body FROM events WHERE tenant = $1 AND seq >= $2 \
         ORDER BY seq LIMIT $3",
        &[&tenant, &from, &CHUNK],
    )
    .await
    .map_err(|e| unreadable(crate::error_chain(&e)))
}

/// Each row's seq and leaf hash, or why the row is bad ([`check_row`]), checked on every core
/// of a blocking thread's scope.
async fn check_rows(
    rows: Vec<Row>,
    tenant: &str,
) -> Result<Vec<(i64, Result<Checked, String>)>, VerifyError> {
    let tenant = tenant.to_owned();
    tokio::task::spawn_blocking(move || {
        on_every_core(&rows, |_, row| {
            let seq: i64 = row.get(0);
            let id: &str = row.get(1);
            (
                seq,
                check_row(row.get(3), row.get(2), seq as u64, &tenant, id),
            )
        })
    })
    .await
    .map_err(|e| unreadable(format!("a verifying thread failed: {e}")))
}

async fn verify_tenant(
    tx: &tokio_postgres::Transaction<'_>,
    verifier: &NoteVerifier,
    tenant: &str,
    done: &mut u64,
    progress: &mut (dyn FnMut(u64) + Send),
) -> Result<TenantSummary, VerifyError> {
    let stored = crate::signing::all(tx, tenant)
        .await
        .map_err(unreadable)?
        .into_iter()
        .map(|c| (c.size, c.root.to_vec(), c.note))
        .collect();
    let mut ledger = LedgerCheck::new(tenant, verifier, stored)?;
    let mut nodes: HashMap<(u32, u64), Vec<u8>> = tx
        .query(
            "SELECT level, idx, hash FROM ledger_nodes WHERE tenant = $1",
            &[&tenant],
        )
        .await
        .map_err(|e| unreadable(crate::error_chain(&e)))?
        .iter()
        .map(|r| {
            (
                (r.get::<_, i32>(0) as u32, r.get::<_, i64>(1) as u64),
                r.get(2),
            )
        })
        .collect();
    // Each chunk's rows are checked on every core while the next chunk is read.
    let mut next: i64 = 0;
    let mut rows = chunk(tx, tenant, 0).await?;
    while !rows.is_empty() {
        let after = rows.last().map_or(next, |row| row.get::<_, i64>(0) + 1);
        let (checked, following) = tokio::join!(check_rows(rows, tenant), chunk(tx, tenant, after));
        for (seq, leaf) in checked? {
            if seq != next {
                return Err(fail(
                    tenant,
                    Some(next as u64),
                    format!("event is missing (the next stored seq is {seq})"),
                ));
            }
            let row = leaf.map_err(|reason| fail(tenant, Some(seq as u64), reason))?;
            let mut wrong_node = None;
            ledger.push(&row, |level, index, hash: &Hash| {
                if is_stored_level(level)
                    && nodes
                        .remove(&(level, index))
                        .is_none_or(|stored| stored[..] != hash[..])
                {
                    wrong_node.get_or_insert((level, index));
                }
            })?;
            if let Some((level, index)) = wrong_node {
                return Err(fail(
                    tenant,
                    None,
                    format!("the stored tree node {level}/{index} is missing or wrong"),
                ));
            }
            next += 1;
            *done += 1;
        }
        progress(*done);
        rows = following?;
    }
    if let Some((level, index)) = nodes.keys().next() {
        return Err(fail(
            tenant,
            None,
            format!("the stored tree node {level}/{index} lies beyond the stored events"),
        ));
    }
    let frontier = frontier_bytes(ledger.frontier());
    let head: Vec<u8> = tx
        .query_one("SELECT frontier FROM heads WHERE tenant = $1", &[&tenant])
        .await
        .map_err(|e| unreadable(crate::error_chain(&e)))?
        .get(0);
    if head != frontier {
        return Err(fail(
            tenant,
            None,
            "the ledger head's right edge is not the tree of the stored events",
        ));
    }
    ledger.finish()
}
