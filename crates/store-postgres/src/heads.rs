//! Each tenant's ledger head (next seq and the tree's right edge) and its signing row, made on
//! the tenant's first write by whichever node sees it first; and what this node expects the
//! head to be, so that it can sequence a tenant's next events before it locks the head.
//!
//! The expectation is a cache, never the truth: an append sequenced on it moves the head only
//! if the head still is what the node expected (`crate::append::pipelined`), and a fresh node
//! starts without one.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tokio_postgres::GenericClient;
use trailkeep_ledger::Frontier;
use trailkeep_store::StoreError;

use crate::internal;

/// Most tenants whose heads a node remembers; past it the cache starts again empty.
const REMEMBERED_TENANTS: usize = 100_000;

/// How long a node writes a tenant only under the head lock after another writer moved the
/// head under it: several nodes writing one tenant at once take turns at the lock instead of
/// undoing each other's work.
pub const CONTENDED_FOR: Duration = Duration::from_secs(1);

/// What this node knows of one tenant's head.
#[derive(Debug, Default)]
struct Known {
    /// The head as this node last committed or read it.
    expected: Option<Frontier>,
    /// Until when the tenant is written only under the lock.
    contended_until: Option<Instant>,
}

/// The tenants this node knows to have a head row, and what it expects their heads to be.
#[derive(Debug, Default)]
pub struct Heads {
    known: Mutex<HashMap<String, Known>>,
}

impl Heads {
    /// Makes the tenant's head and signing rows unless this node made or saw them before.
    pub async fn ensure(
        &self,
        client: &impl GenericClient,
        tenant: &str,
    ) -> Result<(), StoreError> {
        if self.known.lock().expect("heads").contains_key(tenant) {
            return Ok(());
        }
        client
            .execute(
                "INSERT INTO heads (tenant, size, frontier) VALUES ($1, 0, '') \
                 ON CONFLICT (tenant) DO NOTHING",
                &[&tenant],
            )
            .await
            .map_err(internal)?;
        client
            .execute(
                "INSERT INTO signing (tenant, signed_size, signed_at_ms) VALUES ($1, 0, 0) \
                 ON CONFLICT (tenant) DO NOTHING",
                &[&tenant],
            )
            .await
            .map_err(internal)?;
        let mut known = self.known.lock().expect("heads");
        if known.len() >= REMEMBERED_TENANTS {
            known.clear();
        }
        known.entry(tenant.to_owned()).or_default();
        Ok(())
    }

    /// The head this node expects `tenant` to have, when it expects one and no other writer
    /// moved it lately.
    pub fn expected(&self, tenant: &str) -> Option<Frontier> {
        let known = self.known.lock().expect("heads");
        let entry = known.get(tenant)?;
        if entry
            .contended_until
            .is_some_and(|until| until > Instant::now())
        {
            return None;
        }
        entry.expected.clone()
    }

    /// Notes the head `tenant` has after a commit of this node, or as read under its lock.
    pub fn expect(&self, tenant: &str, head: &Frontier) {
        if let Some(entry) = self.known.lock().expect("heads").get_mut(tenant) {
            entry.expected = Some(head.clone());
        }
    }

    /// Notes that another writer moved `tenant`'s head where this node did not expect it:
    /// forget the expectation, and write the tenant under the lock for [`CONTENDED_FOR`].
    pub fn contended(&self, tenant: &str) {
        if let Some(entry) = self.known.lock().expect("heads").get_mut(tenant) {
            entry.expected = None;
            entry.contended_until = Some(Instant::now() + CONTENDED_FOR);
        }
    }

    /// Forgets what this node expects of `tenant`'s head (after a failed write).
    pub fn forget(&self, tenant: &str) {
        if let Some(entry) = self.known.lock().expect("heads").get_mut(tenant) {
            entry.expected = None;
        }
    }
}

/// The tenant's tree size as last committed (0 for a tenant without a head here).
pub async fn size(client: &impl GenericClient, tenant: &str) -> Result<u64, StoreError> {
    Ok(client
        .query_opt(
            "SELECT size FROM heads WHERE tenant = $1 AND moved_to IS NULL",
            &[&tenant],
        )
        .await
        .map_err(internal)?
        .map_or(0, |row| row.get::<_, i64>(0) as u64))
}

/// Every tenant whose ledger lives here and has events, in name order.
pub async fn tenants(client: &impl GenericClient) -> Result<Vec<String>, StoreError> {
    Ok(client
        .query(
            "SELECT tenant FROM heads WHERE moved_to IS NULL AND size > 0 \
             ORDER BY tenant COLLATE \"C\"",
            &[],
        )
        .await
        .map_err(internal)?
        .iter()
        .map(|row| row.get(0))
        .collect())
}
