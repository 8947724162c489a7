//! A small cache of API key records, so that checking a credential rarely needs the store.
//!
//! Credential checks sit in front of every request; going to the store for each would put them
//! in the same queue as listings and statistics, and a tenant running heavy reads would slow
//! every other tenant's authentication. Records are kept for a few seconds: revocation through
//! this server forgets the entry at once ([`KeyCache::forget`]), and a revocation made by another
//! process sharing the store (the PostgreSQL engine's other nodes) holds within [`TTL`]. Unknown
//! ids are never cached, so a key holds from the moment it is created.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use trailkeep_store::ApiKeyRecord;

/// How long a record is trusted without asking the store again.
pub const TTL: Duration = Duration::from_secs(2);
/// Most records kept.
const MAX_ENTRIES: usize = 10_000;

/// Key records by id, each with the instant it was read.
#[derive(Default)]
pub struct KeyCache {
    entries: Mutex<HashMap<String, (ApiKeyRecord, Instant)>>,
    /// Bumped by every [`forget`](KeyCache::forget): a record read before a revocation is not
    /// kept after it.
    forgotten: std::sync::atomic::AtomicU64,
}

impl KeyCache {
    /// The record of key `id`, when it was read less than [`TTL`] ago.
    pub fn get(&self, id: &str) -> Option<ApiKeyRecord> {
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries
            .get(id)
            .filter(|(_, read)| read.elapsed() < TTL)
            .map(|(record, _)| record.clone())
    }

    /// The generation to pass to [`put`](KeyCache::put) for a record about to be read.
    pub fn generation(&self) -> u64 {
        self.forgotten.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Keeps `record`, read from the store since [`generation`](KeyCache::generation) answered
    /// `generation`; nothing when a key was forgotten meanwhile.
    pub fn put(&self, record: ApiKeyRecord, generation: u64) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if self.generation() != generation {
            return;
        }
        if entries.len() >= MAX_ENTRIES {
            entries.retain(|_, (_, read)| read.elapsed() < TTL);
            if entries.len() >= MAX_ENTRIES {
                return;
            }
        }
        entries.insert(record.id.clone(), (record, Instant::now()));
    }

    /// Forgets key `id`.
    pub fn forget(&self, id: &str) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        self.forgotten
            .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        entries.remove(id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: &str) -> ApiKeyRecord {
        ApiKeyRecord {
            id: id.into(),
            tenant: "acme".into(),
            name: "k".into(),
            roles: vec![],
            secret_hash: [0; 32],
            created_by: "t".into(),
            created_at: 0,
            expires_at: None,
            revoked_at: None,
        }
    }

    #[test]
    fn records_are_kept_until_forgotten() {
        let cache = KeyCache::default();
        assert!(cache.get("a").is_none());
        cache.put(record("a"), cache.generation());
        assert_eq!(cache.get("a").unwrap().id, "a");
        cache.forget("a");
        assert!(cache.get("a").is_none());
        // A record read before a revocation is not kept after it.
        let before = cache.generation();
        cache.forget("a");
        cache.put(record("a"), before);
        assert!(cache.get("a").is_none());
    }
}
