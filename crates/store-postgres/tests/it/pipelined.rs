//! Groups sequenced ahead of their transaction (`append::pipelined`): a node writing a tenant
//! alone keeps several groups in flight, and a node whose expectation of the head is wrong
//! (another node wrote the tenant) sequences its group again under the lock. Either way every
//! acknowledged event is stored once, at the seq and with the leaf hash it was acknowledged
//! with, seqs are dense and the ledger verifies.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::json;
use tokio_postgres::NoTls;
use trailkeep_event::{Timestamp, prepare};
use trailkeep_ledger::{Hash, NoteSigner};
use trailkeep_store::{AppendRequest, EventStore, StoredEvent};
use trailkeep_store_postgres::testing::TestSchema;
use trailkeep_store_postgres::{Options, PostgresStore, verify};

const TENANT: &str = "busy";

fn batch(writer: usize, round: usize, n: usize) -> AppendRequest {
    AppendRequest {
        events: (0..n)
            .map(|i| {
                let raw = json!({
                    "action": "doc.read",
                    "description": format!("writer {writer} round {round} event {i}"),
                });
                prepare(&raw, TENANT, Timestamp::now()).unwrap()
            })
            .collect(),
        idempotency_key: None,
    }
}

/// Appends `rounds` batches of `n` events from each of `writers` concurrent tasks; answers
/// every acknowledged event.
async fn write_at_once(
    store: &Arc<PostgresStore>,
    writers: usize,
    rounds: usize,
    n: usize,
) -> Vec<StoredEvent> {
    let tasks: Vec<_> = (0..writers)
        .map(|writer| {
            let store = store.clone();
            tokio::spawn(async move {
                let mut acknowledged = Vec::new();
                for round in 0..rounds {
                    let outcome = store
                        .append(TENANT, batch(writer, round, n))
                        .await
                        .expect("an append is acknowledged");
                    assert_eq!(outcome.stored, n);
                    acknowledged.extend(outcome.events);
                }
                acknowledged
            })
        })
        .collect();
    let mut acknowledged = Vec::new();
    for task in tasks {
        acknowledged.extend(task.await.unwrap());
    }
    acknowledged
}

/// Checks that the tenant holds exactly `acknowledged`, each at its acknowledged seq with its
/// acknowledged id and leaf hash, seqs dense from 0, and that the ledger verifies.
async fn holds_exactly(url: &str, acknowledged: &[StoredEvent]) {
    let (client, connection) = tokio_postgres::connect(url, NoTls).await.unwrap();
    tokio::spawn(connection);
    let rows = client
        .query(
            "SELECT seq, id, leaf_hash FROM events WHERE tenant = $1 ORDER BY seq",
            &[&TENANT],
        )
        .await
        .unwrap();
    let stored: BTreeMap<u64, (String, Vec<u8>)> = rows
        .iter()
        .map(|r| (r.get::<_, i64>(0) as u64, (r.get(1), r.get(2))))
        .collect();
    assert_eq!(stored.len(), rows.len(), "a seq is stored twice");
    assert_eq!(
        stored.keys().copied().collect::<Vec<_>>(),
        (0..acknowledged.len() as u64).collect::<Vec<_>>(),
        "the stored seqs are the dense run of the acknowledged events"
    );
    for event in acknowledged {
        let (id, leaf) = &stored[&event.event.seq];
        assert_eq!(id, &event.event.id, "seq {}", event.event.seq);
        assert_eq!(
            leaf.as_slice(),
            &event.leaf_hash as &Hash,
            "seq {}",
            event.event.seq
        );
    }
    let report = verify(url, None, &mut |_| {})
        .await
        .expect("the ledger verifies");
    assert_eq!(report.tenants.len(), 1);
    assert_eq!(report.tenants[0].events, acknowledged.len() as u64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_node_writing_a_tenant_alone_sequences_its_groups_ahead() {
    let schema = TestSchema::new().await;
    let signer = NoteSigner::generate("trailkeep-test").unwrap();
    let store = Arc::new(
        PostgresStore::connect(&schema.url(), Options::new(signer))
            .await
            .unwrap(),
    );
    let acknowledged = write_at_once(&store, 32, 8, 25).await;
    holds_exactly(&schema.url(), &acknowledged).await;
    let counts = store.group_counts();
    assert!(counts.sequenced_ahead > 0, "{counts:?}");
    assert_eq!(
        counts.sequenced_again, 0,
        "alone, the node's expectation of the head is never wrong: {counts:?}"
    );
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_node_whose_expectation_is_wrong_sequences_its_group_again_under_the_lock() {
    let schema = TestSchema::new().await;
    let signer = NoteSigner::generate("trailkeep-test").unwrap();
    let url = schema.url();
    let connect = || PostgresStore::connect(&url, Options::new(signer.clone()));
    let (first, second) = (
        Arc::new(connect().await.unwrap()),
        Arc::new(connect().await.unwrap()),
    );

    // The first node writes, and so expects the head it left; the second moves the head.
    let mut acknowledged = write_at_once(&first, 1, 2, 10).await;
    acknowledged.extend(write_at_once(&second, 1, 1, 10).await);
    let before = first.group_counts();
    // The first node's next group is sequenced on the head it left, which is no longer there.
    let again = write_at_once(&first, 1, 1, 10).await;
    assert_eq!(
        again.iter().map(|e| e.event.seq).collect::<Vec<_>>(),
        (30..40).collect::<Vec<_>>(),
        "the group was sequenced again after the second node's events"
    );
    acknowledged.extend(again);
    let after = first.group_counts();
    assert_eq!(
        after.sequenced_again,
        before.sequenced_again + 1,
        "{after:?}"
    );

    // Both nodes writing the tenant at once, many groups each.
    let (a, b) = tokio::join!(
        write_at_once(&first, 16, 6, 10),
        write_at_once(&second, 16, 6, 10)
    );
    acknowledged.extend(a);
    acknowledged.extend(b);
    holds_exactly(&schema.url(), &acknowledged).await;
    first.close().await;
    second.close().await;
}
