//! Admission of writes: how many appends may wait for the writer, in all and per tenant.
//!
//! Past either bound an append is refused at once as [`StoreError::Overloaded`] (the server
//! answers 503 with `Retry-After`), before anything is queued. The per-tenant bound is what keeps
//! one tenant's flood from filling the queue and making every other tenant's ingest fail: the
//! flooding tenant meets its own share long before the queue is full. Together with the
//! writer's round-robin groups (`queue.rs`), a quiet tenant's append is both admitted and
//! written promptly whatever another tenant does.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use trailkeep_store::StoreError;

/// The bounds and the current counts.
#[derive(Debug)]
pub struct Admission {
    capacity: u64,
    share: usize,
    total: AtomicU64,
    per_tenant: Mutex<HashMap<String, usize>>,
}

/// One admitted append. It travels with the job and is dropped once the writer has answered
/// it, so a caller that stops waiting (a client that disconnects) does not free its place while
/// its job still waits in the writer's queue.
#[derive(Debug)]
pub struct Ticket {
    admission: Arc<Admission>,
    tenant: String,
}

impl Admission {
    /// At most `capacity` appends waiting in all, and `share` of them for any one tenant.
    pub fn new(capacity: usize, share: usize) -> Arc<Self> {
        Arc::new(Self {
            capacity: capacity.max(1) as u64,
            share: share.clamp(1, capacity.max(1)),
            total: AtomicU64::new(0),
            per_tenant: Mutex::new(HashMap::new()),
        })
    }

    /// A place for one of `tenant`'s appends, or [`StoreError::Overloaded`].
    pub fn admit(self: &Arc<Self>, tenant: &str) -> Result<Ticket, StoreError> {
        let mut per_tenant = self.per_tenant.lock().unwrap_or_else(|p| p.into_inner());
        let mine = per_tenant.get(tenant).copied().unwrap_or(0);
        if mine >= self.share || self.total.load(Ordering::Relaxed) >= self.capacity {
            return Err(StoreError::Overloaded);
        }
        per_tenant.insert(tenant.to_owned(), mine + 1);
        self.total.fetch_add(1, Ordering::Relaxed);
        Ok(Ticket {
            admission: self.clone(),
            tenant: tenant.to_owned(),
        })
    }

    /// Appends admitted and not yet answered.
    pub fn depth(&self) -> u64 {
        self.total.load(Ordering::Relaxed)
    }

    /// The bound on all appends waiting.
    pub fn capacity(&self) -> u64 {
        self.capacity
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        let mut per_tenant = self
            .admission
            .per_tenant
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if let Some(count) = per_tenant.get_mut(&self.tenant) {
            *count -= 1;
            if *count == 0 {
                per_tenant.remove(&self.tenant);
            }
        }
        self.admission.total.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tenant_past_its_share_is_refused_and_others_are_not() {
        let admission = Admission::new(10, 3);
        let loud: Vec<_> = (0..3).map(|_| admission.admit("loud").unwrap()).collect();
        assert!(matches!(
            admission.admit("loud"),
            Err(StoreError::Overloaded)
        ));
        let quiet = admission.admit("quiet").unwrap();
        assert_eq!(admission.depth(), 4);
        drop(loud);
        drop(quiet);
        assert_eq!(admission.depth(), 0);
        assert!(admission.admit("loud").is_ok());
    }

    #[test]
    fn the_whole_queue_is_bounded_too() {
        let admission = Admission::new(4, 2);
        let _held: Vec<_> = ["a", "a", "b", "b"]
            .iter()
            .map(|t| admission.admit(t).unwrap())
            .collect();
        assert!(matches!(admission.admit("c"), Err(StoreError::Overloaded)));
    }
}
