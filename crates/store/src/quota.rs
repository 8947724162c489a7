//! Counted places: how many of something one tenant, and everyone together, may hold at once.
//!
//! The one mechanism behind every per-tenant bound: the appends an engine lets wait for its
//! writer, the reads a tenant runs at once in the server, the live streams it keeps open.
//! Without a per-tenant bound, one tenant flooding any of them would make every other tenant's
//! requests fail. A [`Place`] owns its quota, so it can travel with the work it stands for (a
//! job in a writer's queue) and is given back only when that work is done.

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

    /// A place for `tenant`, waiting for one to free (checking every few milliseconds) until
    /// `deadline`, or for ever without one.
    pub async fn take_waiting(
        self: &Arc<Self>,
        tenant: &str,
        deadline: Option<tokio::time::Instant>,
    ) -> Result<Place, Full> {
        loop {
            match self.take(tenant) {
                Ok(place) => return Ok(place),
                Err(full) if deadline.is_some_and(|d| tokio::time::Instant::now() >= d) => {
                    return Err(full);
                }
                Err(_) => tokio::time::sleep(std::time::Duration::from_millis(20)).await,
            }
        }
    }

    /// Places held now, by everyone.
    pub fn held(&self) -> usize {
        self.held.lock().unwrap_or_else(|p| p.into_inner()).total
    }

    /// The bound on places held by everyone.
    pub fn total(&self) -> usize {
        self.total
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
        assert_eq!(quota.held(), 2);
        assert!(quota.take("c").is_ok());
    }

    #[tokio::test]
    async fn a_waiting_take_gets_a_freed_place_or_gives_up_at_its_deadline() {
        let quota = Quota::new(1, 10);
        let held = quota.take("a").unwrap();
        let soon = tokio::time::Instant::now() + std::time::Duration::from_millis(50);
        assert_eq!(
            quota.take_waiting("a", Some(soon)).await.unwrap_err(),
            Full::Tenant
        );
        let waiting = {
            let quota = quota.clone();
            tokio::spawn(async move { quota.take_waiting("a", None).await.is_ok() })
        };
        drop(held);
        assert!(waiting.await.unwrap());
    }
}
