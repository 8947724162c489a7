//! `verify` against a database someone changed behind the engine's back: an event's bytes, a
//! missing event, a stored tree node, the head's right edge, a signed checkpoint. Each change
//! is found and named (tenant, and seq where one event is wrong); undone, the ledger verifies
//! again.

use serde_json::json;
use tokio_postgres::NoTls;
use trailkeep_event::{Timestamp, prepare};
use trailkeep_ledger::NoteSigner;
use trailkeep_store::verify::{VerifyError, VerifyFailure};
use trailkeep_store::{AppendRequest, EventStore};
use trailkeep_store_postgres::testing::TestSchema;
use trailkeep_store_postgres::{Options, PostgresStore, verify};

fn batch(tenant: &str, n: usize) -> AppendRequest {
    AppendRequest {
        events: (0..n)
            .map(|i| {
                let raw = json!({"action": "doc.read", "metadata": {"i": i}});
                prepare(&raw, tenant, Timestamp::now()).unwrap()
            })
            .collect(),
        idempotency_key: None,
    }
}

/// What `verify` says of the database at `url`: `Ok` with each tenant's count, or the failure.
async fn verdict(url: &str) -> Result<Vec<(String, u64)>, VerifyFailure> {
    match verify(url, None, &mut |_| {}).await {
        Ok(report) => Ok(report
            .tenants
            .into_iter()
            .map(|t| (t.tenant, t.events))
            .collect()),
        Err(VerifyError::Invalid(failure)) => Err(failure),
        Err(other) => panic!("the database could not be read: {other}"),
    }
}

/// Runs `change`, checks that verification fails for `tenant` at `seq` with a reason holding
/// `says`, runs `undo` and checks that it verifies again.
async fn found(
    client: &tokio_postgres::Client,
    url: &str,
    (change, undo): (&str, &str),
    (tenant, seq, says): (&str, Option<u64>, &str),
) {
    client.batch_execute(change).await.unwrap();
    let failure = verdict(url).await.expect_err(change);
    assert_eq!(failure.tenant, tenant, "{change}: {failure:?}");
    assert_eq!(failure.seq, seq, "{change}: {failure:?}");
    assert!(failure.reason.contains(says), "{change}: {failure:?}");
    client.batch_execute(undo).await.unwrap();
    verdict(url).await.expect(undo);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_change_behind_the_engines_back_is_found_and_named() {
    let schema = TestSchema::new().await;
    let url = schema.url();
    let signer = NoteSigner::generate("trailkeep-test").unwrap();
    let store = PostgresStore::connect(&url, Options::new(signer))
        .await
        .unwrap();
    // Two chunks of the verifier's reads and more for acme, a few events for beta.
    for _ in 0..20 {
        store.append("acme", batch("acme", 500)).await.unwrap();
    }
    store.append("beta", batch("beta", 7)).await.unwrap();
    store.close().await;
    assert_eq!(
        verdict(&url).await.unwrap(),
        vec![("acme".to_owned(), 10_000), ("beta".to_owned(), 7)]
    );

    let (client, connection) = tokio_postgres::connect(&url, NoTls).await.unwrap();
    tokio::spawn(connection);
    client
        .batch_execute(
            "CREATE TABLE saved_events AS SELECT * FROM events;
             CREATE TABLE saved_nodes AS SELECT * FROM ledger_nodes;
             CREATE TABLE saved_heads AS SELECT * FROM heads;
             CREATE TABLE saved_checkpoints AS SELECT * FROM checkpoints;",
        )
        .await
        .unwrap();

    // One byte of an event in the second chunk of reads.
    found(
        &client,
        &url,
        (
            "UPDATE events SET body = overlay(body PLACING '\\x20'::bytea FROM 3 FOR 1) \
             WHERE tenant = 'acme' AND seq = 9000",
            "UPDATE events e SET body = s.body FROM saved_events s \
             WHERE e.tenant = 'acme' AND e.seq = 9000 AND s.tenant = 'acme' AND s.seq = 9000",
        ),
        ("acme", Some(9000), ""),
    )
    .await;
    // An event gone.
    found(
        &client,
        &url,
        (
            "DELETE FROM events WHERE tenant = 'beta' AND seq = 3",
            "INSERT INTO events SELECT * FROM saved_events WHERE tenant = 'beta' AND seq = 3",
        ),
        ("beta", Some(3), "missing"),
    )
    .await;
    // A stored perfect subtree.
    found(
        &client,
        &url,
        (
            "UPDATE ledger_nodes SET hash = sha256(hash) \
             WHERE tenant = 'acme' AND level = 8 AND idx = 20",
            "UPDATE ledger_nodes n SET hash = s.hash FROM saved_nodes s WHERE n.tenant = 'acme' \
             AND n.level = 8 AND n.idx = 20 AND s.tenant = 'acme' AND s.level = 8 AND s.idx = 20",
        ),
        ("acme", None, "tree node 8/20"),
    )
    .await;
    // The head's right edge.
    found(
        &client,
        &url,
        (
            "UPDATE heads SET frontier = sha256(frontier) || frontier WHERE tenant = 'beta'",
            "UPDATE heads h SET frontier = s.frontier FROM saved_heads s \
             WHERE h.tenant = 'beta' AND s.tenant = 'beta'",
        ),
        ("beta", None, "right edge"),
    )
    .await;
    // A signed checkpoint's root.
    found(
        &client,
        &url,
        (
            "UPDATE checkpoints SET root = sha256(root) WHERE tenant = 'acme'",
            "UPDATE checkpoints c SET root = s.root FROM saved_checkpoints s \
             WHERE c.tenant = s.tenant AND c.size = s.size",
        ),
        ("acme", None, ""),
    )
    .await;
}
