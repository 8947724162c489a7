//! A closed data directory holding one tenant's events, for the read path's unit tests.

use serde_json::json;
use trailkeep_event::{Timestamp, prepare};
use trailkeep_store::{AppendRequest, EventStore};

use crate::{DB_FILE, EmbeddedStore, Options};

/// A data directory whose tenant `acme` holds `count` events (seqs `0..count`), the store
/// closed again; with a connection to its database and the tenant's row id.
pub async fn trail_of(count: usize) -> (tempfile::TempDir, rusqlite::Connection, i64) {
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(dir.path(), Options::default()).unwrap();
    let events = (0..count)
        .map(|i| {
            let event = json!({"action": "doc.read", "metadata": {"i": i}});
            prepare(&event, "acme", Timestamp::now()).unwrap()
        })
        .collect();
    let request = AppendRequest {
        events,
        idempotency_key: None,
    };
    store.append("acme", request).await.unwrap();
    drop(store);
    let conn = crate::schema::open(&dir.path().join(DB_FILE)).unwrap();
    let tenant_id = conn
        .query_row("SELECT id FROM tenants WHERE name = 'acme'", [], |r| {
            r.get(0)
        })
        .unwrap();
    (dir, conn, tenant_id)
}
