//! Counted places: how many of something one tenant, and everyone together, may hold at once.
//!
//! Used for the reads a tenant runs at once (listings, statistics, proofs: each holds one of the
//! store's read connections while it runs) and for the live streams it keeps open. Without a
//! per-tenant bound, one tenant running heavy statistics in a loop could hold every read
//! connection, and every other tenant's reads would queue behind it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Which bound refused a place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Full {
    /// The tenant holds its share.
    Tenant,
    /// Everyone together holds the total.
    Total,
}

/// Places per tenant and in all.
#[derive(Debug)]
pub struct Quota {
    per_tenant: usize,
    total: usize,
    held: Mutex<Held>,
}

#[derive(Debug, Default)]
struct Held {
    total: usize,
    by_tenant: HashMap<String, usize>,
}

/// A place held until dropped.
#[derive(Debug)]
pub struct Place {
    quota: Arc<Quota>,
    tenant: String,
}

impl Quota {
    /// At most `per_tenant` places per tenant and `total` in all (each at least 1).
    pub fn new(per_tenant: usize, total: usize) -> Arc<Self> {
        Arc::new(Self {
            per_tenant: per_tenant.max(1),
            total: total.max(1),
            held: Mutex::new(Held::default()),
        })
    }

    /// A place for `tenant`, or which bound is reached.
    pub fn take(self: &Arc<Self>, tenant: &str) -> Result<Place, Full> {
        let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        let mine = held.by_tenant.get(tenant).copied().unwrap_or(0);
        if mine >= self.per_tenant {
            return Err(Full::Tenant);
        }
        if held.total >= self.total {
            return Err(Full::Total);
        }
        held.total += 1;
        held.by_tenant.insert(tenant.to_owned(), mine + 1);
        Ok(Place {
            quota: self.clone(),
            tenant: tenant.to_owned(),
        })
    }

    /// Places held now by `tenant`.
    #[cfg(test)]
    pub fn held_by(&self, tenant: &str) -> usize {
        let held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        held.by_tenant.get(tenant).copied().unwrap_or(0)
    }
}

impl Drop for Place {
    fn drop(&mut self) {
        let mut held = self.quota.held.lock().unwrap_or_else(|p| p.into_inner());
        held.total -= 1;
        if let Some(mine) = held.by_tenant.get_mut(&self.tenant) {
            *mine -= 1;
            if *mine == 0 {
                held.by_tenant.remove(&self.tenant);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tenant_gets_its_share_and_the_total_bounds_everyone() {
        let quota = Quota::new(2, 3);
        let a1 = quota.take("a").unwrap();
        let _a2 = quota.take("a").unwrap();
        assert_eq!(quota.take("a").unwrap_err(), Full::Tenant);
        let _b1 = quota.take("b").unwrap();
        assert_eq!(quota.take("c").unwrap_err(), Full::Total);
        drop(a1);
        assert_eq!(quota.held_by("a"), 1);
        assert!(quota.take("c").is_ok());
    }
}
