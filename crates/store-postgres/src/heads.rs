//! Each tenant's ledger head (next seq and the tree's right edge) and its signing row, made on
//! the tenant's first write by whichever node sees it first.

use std::collections::HashSet;
use std::sync::Mutex;

use tokio_postgres::GenericClient;
use trailkeep_store::StoreError;

use crate::internal;

/// The tenants this node knows to have a head row.
#[derive(Debug, Default)]
pub struct Heads {
    known: Mutex<HashSet<String>>,
}

impl Heads {
    /// Makes the tenant's head and signing rows unless this node made or saw them before.
    pub async fn ensure(
        &self,
        client: &impl GenericClient,
        tenant: &str,
    ) -> Result<(), StoreError> {
        if self.known.lock().expect("heads").contains(tenant) {
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
        self.known.lock().expect("heads").insert(tenant.to_owned());
        Ok(())
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
