//! Checkpoints, signed after commit, at most once per interval per tenant, by whichever node
//! claims the tenant's signing row (`FOR UPDATE SKIP LOCKED`); every node signs with the same
//! configured key. The head is only read, never locked, so signing never holds up an append.
//!
//! The node that commits a tenant's first events after a quiet interval signs before it
//! answers, so that a checkpoint is at hand as soon as the events are; later commits within
//! the interval are signed by this node's background loop once the interval has passed. The
//! loop also sweeps, every [`SWEEP_EVERY`], for tenants whose events no checkpoint covers
//! (a node that died between its commit and its signature).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::sync::Notify;
use tokio_postgres::GenericClient;
use trailkeep_ledger::{Checkpoint, NoteSigner};
use trailkeep_store::{SignedCheckpoint, StoreError};

use crate::tree::frontier_from;
use crate::{Shared, internal, rows};

/// How often the loop looks for tenants no node signed.
pub const SWEEP_EVERY: Duration = Duration::from_secs(10);

/// What an attempt to sign came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signed {
    /// A new checkpoint covers the tree.
    Now,
    /// The newest checkpoint already covers the tree.
    UpToDate,
    /// The tenant was signed less than an interval ago; try after it.
    TooSoon,
    /// Another node is signing the tenant right now.
    Busy,
}

/// The node's signing state: tenants with unsigned commits, and when it last signed.
#[derive(Debug, Default)]
pub struct Signing {
    dirty: Mutex<HashSet<String>>,
    last_signed: Mutex<HashMap<String, Instant>>,
    /// When this node last tried to sign each tenant before answering a write.
    last_attempt: Mutex<HashMap<String, Instant>>,
    any_signed: Mutex<Option<Instant>>,
    wake: Notify,
}

impl Signing {
    /// Notes that `tenant` has commits no checkpoint covers.
    pub fn mark(&self, tenant: &str) {
        self.dirty
            .lock()
            .expect("signing")
            .insert(tenant.to_owned());
        self.wake.notify_one();
    }

    /// The marked tenants, unmarked.
    pub fn take_dirty(&self) -> Vec<String> {
        std::mem::take(&mut *self.dirty.lock().expect("signing"))
            .into_iter()
            .collect()
    }

    /// Whether this node signed `tenant` less than `interval` ago.
    pub fn signed_recently(&self, tenant: &str, interval: Duration) -> bool {
        self.last_signed
            .lock()
            .expect("signing")
            .get(tenant)
            .is_some_and(|at| at.elapsed() < interval)
    }

    /// Whether a write of `tenant` should try to sign before it is answered: not when this node
    /// tried less than `interval` ago, whatever came of it (when another node signs the
    /// tenant, this one would otherwise try, and be told it is too soon, on every write).
    /// Notes the attempt.
    pub fn try_before_answer(&self, tenant: &str, interval: Duration) -> bool {
        let mut attempts = self.last_attempt.lock().expect("signing");
        if attempts
            .get(tenant)
            .is_some_and(|at| at.elapsed() < interval)
        {
            return false;
        }
        attempts.insert(tenant.to_owned(), Instant::now());
        true
    }

    /// Seconds since this node last signed any checkpoint.
    pub fn age_seconds(&self) -> Option<f64> {
        self.any_signed
            .lock()
            .expect("signing")
            .map(|at| at.elapsed().as_secs_f64())
    }

    fn signed(&self, tenant: &str) {
        let now = Instant::now();
        self.last_signed
            .lock()
            .expect("signing")
            .insert(tenant.to_owned(), now);
        *self.any_signed.lock().expect("signing") = Some(now);
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Signs a checkpoint of `tenant`'s tree as committed, unless one covers it already, one was
/// signed less than `interval` ago, or another node is at it.
pub async fn sign(shared: &Shared, tenant: &str, interval: Duration) -> Result<Signed, StoreError> {
    let mut client = shared.pool.get().await.map_err(crate::pool_error)?;
    let client: &mut tokio_postgres::Client = &mut client;
    let tx = client.transaction().await.map_err(internal)?;
    let Some(claim) = tx
        .query_opt(
            "SELECT signed_size, signed_at_ms FROM signing WHERE tenant = $1 \
             FOR UPDATE SKIP LOCKED",
            &[&tenant],
        )
        .await
        .map_err(internal)?
    else {
        return Ok(Signed::Busy);
    };
    let (signed_size, signed_at): (i64, i64) = (claim.get(0), claim.get(1));
    let head = tx
        .query_one(
            "SELECT size, frontier FROM heads WHERE tenant = $1",
            &[&tenant],
        )
        .await
        .map_err(internal)?;
    let size: i64 = head.get(0);
    if size <= signed_size {
        return Ok(Signed::UpToDate);
    }
    let now = now_ms();
    if now - signed_at < interval.as_millis() as i64 {
        return Ok(Signed::TooSoon);
    }
    let frontier = frontier_from(size as u64, head.get(1))?;
    let checkpoint = sign_checkpoint(&shared.options.signer, tenant, size as u64, frontier.root())?;
    tx.execute(
        "INSERT INTO checkpoints (tenant, size, root, note) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (tenant, size) DO NOTHING",
        &[&tenant, &size, &&checkpoint.root[..], &checkpoint.note],
    )
    .await
    .map_err(internal)?;
    tx.execute(
        "UPDATE signing SET signed_size = $2, signed_at_ms = $3 WHERE tenant = $1",
        &[&tenant, &size, &now],
    )
    .await
    .map_err(internal)?;
    tx.commit().await.map_err(internal)?;
    shared.signing.signed(tenant);
    shared.watches.wake(tenant);
    shared.notifier.mark(tenant);
    Ok(Signed::Now)
}

/// A checkpoint of `tenant`'s tree of `size` leaves with root `root`, signed.
pub fn sign_checkpoint(
    signer: &NoteSigner,
    tenant: &str,
    size: u64,
    root: trailkeep_ledger::Hash,
) -> Result<SignedCheckpoint, StoreError> {
    let checkpoint = Checkpoint {
        origin: format!("{}/{tenant}", signer.name()),
        size,
        root,
    };
    let note = checkpoint
        .sign(signer)
        .map_err(|e| StoreError::Internal(format!("sign checkpoint: {e}")))?;
    Ok(SignedCheckpoint { size, root, note })
}

/// The tenant's newest checkpoint.
pub async fn newest(
    client: &impl GenericClient,
    tenant: &str,
) -> Result<Option<SignedCheckpoint>, StoreError> {
    client
        .query_opt(
            "SELECT size, root, note FROM checkpoints WHERE tenant = $1 \
             ORDER BY size DESC LIMIT 1",
            &[&tenant],
        )
        .await
        .map_err(internal)?
        .map(|row| checkpoint(&row))
        .transpose()
}

/// A row of `size, root, note` from `checkpoints`.
fn checkpoint(row: &tokio_postgres::Row) -> Result<SignedCheckpoint, StoreError> {
    Ok(SignedCheckpoint {
        size: row.get::<_, i64>(0) as u64,
        root: rows::hash(row.get(1))?,
        note: row.get(2),
    })
}

/// Every signed checkpoint of the tenant, by size.
pub async fn all(
    client: &impl GenericClient,
    tenant: &str,
) -> Result<Vec<SignedCheckpoint>, StoreError> {
    client
        .query(
            "SELECT size, root, note FROM checkpoints WHERE tenant = $1 ORDER BY size",
            &[&tenant],
        )
        .await
        .map_err(internal)?
        .iter()
        .map(checkpoint)
        .collect()
}

/// Signs this node's marked tenants as their intervals pass, and sweeps for tenants no node
/// signed, until the pool closes.
pub async fn sign_loop(shared: Arc<Shared>) {
    let interval = shared.options.checkpoint_interval;
    let mut last_sweep: Option<Instant> = None;
    loop {
        tokio::select! {
            () = shared.signing.wake.notified() => {}
            () = tokio::time::sleep(interval / 4) => {}
        }
        if shared.pool.is_closed() {
            return;
        }
        if last_sweep.is_none_or(|at| at.elapsed() >= SWEEP_EVERY) {
            last_sweep = Some(Instant::now());
            if let Err(error) = sweep(&shared).await {
                tracing::warn!(%error, "could not look for unsigned tenants");
            }
        }
        let due: Vec<String> = {
            let dirty = shared.signing.dirty.lock().expect("signing");
            dirty
                .iter()
                .filter(|t| !shared.signing.signed_recently(t, interval))
                .cloned()
                .collect()
        };
        for tenant in due {
            match sign(&shared, &tenant, interval).await {
                Ok(Signed::Now | Signed::UpToDate) => {
                    shared
                        .signing
                        .dirty
                        .lock()
                        .expect("signing")
                        .remove(&tenant);
                }
                Ok(Signed::TooSoon | Signed::Busy) => {}
                Err(error) => tracing::warn!(tenant, %error, "could not sign a checkpoint"),
            }
        }
    }
}

/// Marks every tenant whose committed events no checkpoint covers.
async fn sweep(shared: &Shared) -> Result<(), StoreError> {
    let client = shared.pool.get().await.map_err(crate::pool_error)?;
    let rows = client
        .query(
            "SELECT h.tenant, h.size - s.signed_size FROM heads h JOIN signing s USING (tenant) \
             WHERE h.size > s.signed_size AND h.moved_to IS NULL",
            &[],
        )
        .await
        .map_err(internal)?;
    let mut unsigned = 0u64;
    let mut dirty = shared.signing.dirty.lock().expect("signing");
    for row in &rows {
        dirty.insert(row.get(0));
        unsigned += row.get::<_, i64>(1) as u64;
    }
    shared
        .unsigned_events
        .store(unsigned, std::sync::atomic::Ordering::Relaxed);
    Ok(())
}
