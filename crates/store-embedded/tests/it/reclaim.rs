//! Space comes back: after retention replaces half the events' bodies by tombstones, the
//! incremental vacuum gives the freed pages back to the file system, and the data directory
//! still verifies, tombstones and all.

use std::path::Path;

use serde_json::{Map, json};
use trailkeep_event::{Erasable, RedactionReason, Timestamp, prepare};
use trailkeep_store::redaction::Removal;
use trailkeep_store::{AppendRequest, EventStore, RedactionStore};
use trailkeep_store_embedded::{EmbeddedStore, Options, verify_data_dir};

/// The database file and its write-ahead log.
fn database_bytes(dir: &Path) -> u64 {
    ["trailkeep.db", "trailkeep.db-wal"]
        .iter()
        .filter_map(|name| std::fs::metadata(dir.join(name)).ok())
        .map(|m| m.len())
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removed_bodies_give_their_space_back_and_the_trail_still_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(dir.path(), Options::default()).unwrap();
    let filler = "x".repeat(2000);
    for batch in 0..8 {
        let events = (0..500)
            .map(|i| {
                let raw = json!({"action": "doc.read", "actor": {"id": format!("u{i}")},
                                 "metadata": {"batch": batch, "filler": filler}});
                prepare(&raw, "acme", Timestamp::now()).unwrap()
            })
            .collect();
        store
            .append(
                "acme",
                AppendRequest {
                    events,
                    idempotency_key: None,
                },
            )
            .await
            .unwrap();
    }
    // Written back from the log first, so that both sizes are of the database alone.
    store.reclaim().await.unwrap();
    let before = database_bytes(dir.path());

    for first in (0..2000).step_by(1000) {
        let removal = Removal::new(
            RedactionReason::Retention,
            Erasable::EXPIRED.to_vec(),
            Timestamp::now(),
        );
        let mut tombstones = Vec::new();
        for stored in store.scan("acme", first, 1000).await.unwrap() {
            tombstones.extend(removal.tombstone(&stored).unwrap());
        }
        let record = removal
            .record(
                "acme",
                &json!({"type": "system", "id": "test"}),
                &tombstones,
                Map::new(),
            )
            .unwrap();
        store.redact("acme", tombstones, record).await.unwrap();
    }
    store.reclaim().await.unwrap();
    let after = database_bytes(dir.path());
    assert!(
        (after as f64) < before as f64 * 0.7,
        "half the bodies removed: {before} bytes before, {after} after"
    );
    let vkey = store.vkey();
    drop(store);
    let verifier = trailkeep_ledger::NoteVerifier::from_vkey(&vkey).unwrap();
    let report = verify_data_dir(dir.path(), Some(verifier), &mut |_| {}).expect("verifies");
    assert_eq!(report.tenants[0].events, 4002);
    assert_eq!(
        report.tenants[0].tombstones[&RedactionReason::Retention],
        2000
    );
}
