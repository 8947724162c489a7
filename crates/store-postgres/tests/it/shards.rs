//! Tenants spread over three PostgreSQL databases with a directory in a fourth: placement,
//! isolation and verification per shard, and a tenant moved from one shard to another with
//! every checkpoint signed before the move still verifying after it.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::json;
use tokio_postgres::NoTls;
use trailkeep_event::{Timestamp, prepare};
use trailkeep_ledger::{NoteSigner, verify_consistency, verify_inclusion};
use trailkeep_store::{AppendRequest, EventStore, SignedCheckpoint};
use trailkeep_store_postgres::testing::TestDatabase;
use trailkeep_store_postgres::{Options, ShardedStore, verify};

const TENANTS: usize = 9;

fn batch(tenant: &str, n: usize, round: usize) -> AppendRequest {
    AppendRequest {
        events: (0..n)
            .map(|i| {
                let raw = json!({"action": "doc.created", "metadata": {"round": round, "i": i}});
                prepare(&raw, tenant, Timestamp::now()).unwrap()
            })
            .collect(),
        idempotency_key: None,
    }
}

/// The tenants whose heads live (not moved away) in the database at `url`.
async fn tenants_in(url: &str) -> BTreeSet<String> {
    let (client, connection) = tokio_postgres::connect(url, NoTls).await.unwrap();
    tokio::spawn(connection);
    let live = client
        .query("SELECT tenant FROM heads WHERE moved_to IS NULL", &[])
        .await
        .unwrap();
    let stray = client
        .query_one(
            "SELECT count(*) FROM events e WHERE NOT EXISTS \
                    (SELECT 1 FROM heads h WHERE h.tenant = e.tenant AND h.moved_to IS NULL)",
            &[],
        )
        .await
        .unwrap()
        .get::<_, i64>(0);
    assert_eq!(stray, 0, "{url} holds events of a tenant it does not hold");
    live.iter().map(|r| r.get(0)).collect()
}

async fn verified(url: &str) -> BTreeMap<String, u64> {
    let report = verify(url, None, &mut |_| {})
        .await
        .expect("the shard verifies");
    report
        .tenants
        .into_iter()
        .map(|t| (t.tenant, t.events))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenants_are_placed_kept_apart_verified_and_moved_between_three_databases() {
    let directory = TestDatabase::new().await;
    let databases = [
        TestDatabase::new().await,
        TestDatabase::new().await,
        TestDatabase::new().await,
    ];
    let urls: Vec<String> = databases.iter().map(TestDatabase::url).collect();
    let signer = NoteSigner::generate("trailkeep-test").unwrap();
    let store = ShardedStore::connect(&directory.url(), &urls, Options::new(signer.clone()))
        .await
        .expect("connect the shards");

    let names: Vec<String> = (0..TENANTS).map(|t| format!("tenant-{t}")).collect();
    for round in 0..3 {
        for (t, name) in names.iter().enumerate() {
            store
                .append(name, batch(name, 100 + t * 10, round))
                .await
                .unwrap();
        }
    }

    // Placement: the fewest tenants first, so three on each shard.
    let mut placed: BTreeMap<usize, BTreeSet<String>> = BTreeMap::new();
    for name in &names {
        let shard = store.shard_of(name).await.unwrap().expect("placed");
        placed.entry(shard).or_default().insert(name.clone());
    }
    assert_eq!(placed.len(), 3, "{placed:?}");
    assert!(
        placed.values().all(|t| t.len() == TENANTS / 3),
        "{placed:?}"
    );

    // Isolation: each database holds exactly its own tenants, and verifies on its own.
    for (shard, url) in urls.iter().enumerate() {
        assert_eq!(tenants_in(url).await, placed[&shard], "shard {shard}");
        let report = verified(url).await;
        assert_eq!(
            report.keys().cloned().collect::<BTreeSet<_>>(),
            placed[&shard]
        );
    }

    // A move: the tenant's checkpoints before, its events after, its proofs after.
    let mover = placed[&0].iter().next().unwrap().clone();
    let size = store.tree_size(&mover).await.unwrap();
    let mut before: Vec<SignedCheckpoint> = Vec::new();
    before.push(store.checkpoint_covering(&mover, size).await.unwrap());
    let events_before: Vec<Vec<u8>> = store
        .scan(&mover, 0, 10_000)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.canonical)
        .collect();
    let moved = store.move_tenant(&mover, 2).await.expect("the move");
    assert_eq!(moved, size);
    assert_eq!(store.shard_of(&mover).await.unwrap(), Some(2));
    assert!(!tenants_in(&urls[0]).await.contains(&mover));
    assert!(tenants_in(&urls[2]).await.contains(&mover));
    let after: Vec<Vec<u8>> = store
        .scan(&mover, 0, 10_000)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.canonical)
        .collect();
    assert_eq!(after, events_before, "the same bytes at the same seqs");

    // Writes go on at the new shard, densely; the old checkpoint still verifies.
    store.append(&mover, batch(&mover, 7, 9)).await.unwrap();
    let grown = store.tree_size(&mover).await.unwrap();
    assert_eq!(grown, size + 7);
    let newest = store.checkpoint_covering(&mover, grown).await.unwrap();
    for old in &before {
        let proof = store
            .consistency_proof(&mover, old.size, newest.size)
            .await
            .unwrap();
        verify_consistency(old.size, newest.size, &proof, &old.root, &newest.root)
            .expect("the checkpoint from before the move is consistent with the one after");
        for seq in [0, old.size - 1] {
            let proof = store.inclusion_proof(&mover, seq, old.size).await.unwrap();
            verify_inclusion(&proof.leaf_hash, seq, old.size, &proof.hashes, &old.root)
                .expect("a leaf from before the move proves against the old checkpoint");
        }
    }
    // Every shard verifies after the move, the mover on its new shard only.
    let old_shard = verified(&urls[0]).await;
    let new_shard = verified(&urls[2]).await;
    assert!(!old_shard.contains_key(&mover));
    assert_eq!(new_shard.get(&mover), Some(&grown));
    verified(&urls[1]).await;
    eprintln!(
        "{TENANTS} tenants on 3 shards ({:?}); moved {mover} ({size} events) from shard 0 to 2",
        placed.values().map(BTreeSet::len).collect::<Vec<_>>()
    );
    store.close().await;
}
