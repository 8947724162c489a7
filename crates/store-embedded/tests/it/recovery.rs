//! Restarting on an existing data directory: state survives, block roots are repaired, and
//! offline verification finds altered bytes.

use serde_json::json;
use trailkeep_event::{Timestamp, prepare};
use trailkeep_ledger::NoteVerifier;
use trailkeep_store::{AppendRequest, EventStore};
use trailkeep_store_embedded::{DB_FILE, EmbeddedStore, Options, VerifyError, verify_data_dir};

fn batch(tenant: &str, n: usize) -> AppendRequest {
    AppendRequest {
        events: (0..n)
            .map(|i| {
                prepare(
                    &json!({"action": "doc.created", "metadata": {"i": i}}),
                    tenant,
                    Timestamp::now(),
                )
                .unwrap()
            })
            .collect(),
        idempotency_key: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reopening_continues_the_same_ledgers() {
    let dir = tempfile::tempdir().unwrap();
    let (vkey, before) = {
        let store = EmbeddedStore::open(dir.path(), Options::default()).unwrap();
        store.append("acme", batch("acme", 700)).await.unwrap();
        store.append("beta", batch("beta", 3)).await.unwrap();
        (
            store.vkey(),
            store.checkpoint_covering("acme", 700).await.unwrap(),
        )
    };
    let store = EmbeddedStore::open(dir.path(), Options::default()).unwrap();
    assert_eq!(store.vkey(), vkey, "the signing key is kept");
    assert_eq!(store.tree_size("acme").await.unwrap(), 700);
    assert_eq!(store.checkpoint("acme").await.unwrap().unwrap(), before);
    let out = store.append("acme", batch("acme", 1)).await.unwrap();
    assert_eq!(out.events[0].event.seq, 700);
    let after = store.checkpoint_covering("acme", 701).await.unwrap();
    let proof = store
        .consistency_proof("acme", before.size, after.size)
        .await
        .unwrap();
    trailkeep_ledger::verify_consistency(
        before.size,
        after.size,
        &proof,
        &before.root,
        &after.root,
    )
    .unwrap();
    let report = verify_data_dir(
        dir.path(),
        Some(NoteVerifier::from_vkey(&vkey).unwrap()),
        &mut |_| {},
    );
    drop(store);
    let report = report.unwrap();
    assert_eq!(report.tenants.len(), 2);
    assert_eq!(report.tenants[0].events, 701);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_block_roots_are_recomputed_from_the_leaves() {
    let dir = tempfile::tempdir().unwrap();
    let checkpoint = {
        let store = EmbeddedStore::open(dir.path(), Options::default()).unwrap();
        store.append("acme", batch("acme", 1000)).await.unwrap();
        store.checkpoint_covering("acme", 1000).await.unwrap()
    };
    let conn = rusqlite::Connection::open(dir.path().join(DB_FILE)).unwrap();
    let deleted = conn
        .execute("DELETE FROM ledger_nodes WHERE idx IN (0, 2)", [])
        .unwrap();
    assert_eq!(deleted, 2);
    drop(conn);

    let store = EmbeddedStore::open(dir.path(), Options::default()).unwrap();
    let proof = store.inclusion_proof("acme", 5, 1000).await.unwrap();
    trailkeep_ledger::verify_inclusion(&proof.leaf_hash, 5, 1000, &proof.hashes, &checkpoint.root)
        .unwrap();
    drop(store);
    let conn = rusqlite::Connection::open(dir.path().join(DB_FILE)).unwrap();
    let rows: i64 = conn
        .query_row("SELECT COUNT(*) FROM ledger_nodes", [], |r| r.get(0))
        .unwrap();
    assert_eq!(
        rows, 3,
        "1000 leaves make three complete blocks, all stored again"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_names_the_tenant_and_seq_of_altered_bytes() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = EmbeddedStore::open(dir.path(), Options::default()).unwrap();
        store.append("acme", batch("acme", 50)).await.unwrap();
        store.append("beta", batch("beta", 50)).await.unwrap();
    }
    assert!(verify_data_dir(dir.path(), None, &mut |_| {}).is_ok());
    let conn = rusqlite::Connection::open(dir.path().join(DB_FILE)).unwrap();
    // Change one character of beta's event 17, keeping it valid JSON.
    let changed = conn
        .execute(
            "UPDATE events SET body = CAST(replace(CAST(body AS TEXT), 'doc.created', 'doc.deleted') AS BLOB)
             WHERE tenant_id = (SELECT id FROM tenants WHERE name = 'beta') AND (key & 1099511627775) = 17",
            [],
        )
        .unwrap();
    assert_eq!(changed, 1);
    drop(conn);
    let failure = match verify_data_dir(dir.path(), None, &mut |_| {}) {
        Err(VerifyError::Invalid(failure)) => failure,
        other => panic!("expected an invalid ledger, got {other:?}"),
    };
    assert_eq!(failure.tenant, "beta");
    assert_eq!(failure.seq, Some(17));
    assert!(
        failure.to_string().starts_with("tenant beta, seq 17:"),
        "{failure}"
    );
}

/// Bytes whose leaf hash was rewritten to match still have to be the canonical event of their
/// row: verification checks the canonical form and the row's seq, tenant and id in one pass
/// over the bytes, and names each departure.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_refuses_rehashed_bytes_that_are_not_the_rows_canonical_event() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = EmbeddedStore::open(dir.path(), Options::default()).unwrap();
        store.append("acme", batch("acme", 20)).await.unwrap();
    }
    assert!(verify_data_dir(dir.path(), None, &mut |_| {}).is_ok());
    let conn = rusqlite::Connection::open(dir.path().join(DB_FILE)).unwrap();
    let body = |seq: u64| -> Vec<u8> {
        conn.query_row(
            "SELECT body FROM events WHERE (key & 1099511627775) = ?1",
            [seq],
            |r| r.get(0),
        )
        .unwrap()
    };
    let store_body = |seq: u64, bytes: &[u8]| {
        let leaf = trailkeep_ledger::leaf_hash(bytes);
        let changed = conn
            .execute(
                "UPDATE events SET body = ?1, leaf_hash = ?2 WHERE (key & 1099511627775) = ?3",
                rusqlite::params![bytes, &leaf[..], seq],
            )
            .unwrap();
        assert_eq!(changed, 1);
    };
    let failure = || match verify_data_dir(dir.path(), None, &mut |_| {}) {
        Err(VerifyError::Invalid(failure)) => failure,
        other => panic!("expected an invalid ledger, got {other:?}"),
    };
    let original = body(12);
    // The same event with a space after its first comma: still JSON, not canonical.
    let comma = original.iter().position(|&b| b == b',').unwrap();
    let mut spaced = original.clone();
    spaced.insert(comma + 1, b' ');
    store_body(12, &spaced);
    let found = failure();
    assert_eq!(found.seq, Some(12));
    assert!(
        found.reason.contains("not in canonical form")
            && found.reason.contains("expected a member name"),
        "{found}"
    );
    // Event 11's canonical bytes in row 12.
    store_body(12, &body(11));
    let found = failure();
    assert_eq!(found.seq, Some(12));
    assert!(found.reason.contains("names another seq"), "{found}");
    // Back as it was, the ledger verifies again.
    store_body(12, &original);
    assert!(verify_data_dir(dir.path(), None, &mut |_| {}).is_ok());
}

/// Verification reads rows in chunks and checks each chunk's rows on every core; the first bad
/// seq must still be the one named, whichever chunk and whichever core found it, and a missing
/// row must not hide a bad one before it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_names_the_first_bad_seq_across_chunks_and_cores() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = EmbeddedStore::open(dir.path(), Options::default()).unwrap();
        for _ in 0..2 {
            store.append("acme", batch("acme", 10_000)).await.unwrap();
        }
    }
    let mut seen = 0;
    let report = verify_data_dir(dir.path(), None, &mut |done| seen = done).unwrap();
    assert_eq!(report.tenants[0].events, 20_000);
    assert_eq!(seen, 20_000, "progress reaches every event");

    let conn = rusqlite::Connection::open(dir.path().join(DB_FILE)).unwrap();
    let first_failure = || match verify_data_dir(dir.path(), None, &mut |_| {}) {
        Err(VerifyError::Invalid(failure)) => failure,
        other => panic!("expected an invalid ledger, got {other:?}"),
    };
    let alter = |seq: u64| {
        let changed = conn
            .execute(
                "UPDATE events SET body = CAST(replace(CAST(body AS TEXT), 'doc.created', 'doc.deleted') AS BLOB)
                 WHERE (key & 1099511627775) = ?1",
                [seq],
            )
            .unwrap();
        assert_eq!(changed, 1);
    };
    // The second half of the second chunk.
    alter(16_001);
    assert_eq!(first_failure().seq, Some(16_001));
    // A missing row before it is what is named then.
    conn.execute("DELETE FROM events WHERE (key & 1099511627775) = 15000", [])
        .unwrap();
    let failure = first_failure();
    assert_eq!(failure.seq, Some(15_000));
    assert!(failure.reason.contains("missing"), "{failure}");
    // And a bad row before the gap, in the same chunk, comes first.
    alter(14_000);
    assert_eq!(first_failure().seq, Some(14_000));
    // The first chunk, on the second core.
    alter(5_000);
    assert_eq!(first_failure().seq, Some(5_000));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_refuses_to_extend_a_ledger_that_contradicts_its_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = EmbeddedStore::open(dir.path(), Options::default()).unwrap();
        store.append("acme", batch("acme", 10)).await.unwrap();
    }
    let conn = rusqlite::Connection::open(dir.path().join(DB_FILE)).unwrap();
    conn.execute(
        "UPDATE events SET leaf_hash = zeroblob(32) WHERE key & 1099511627775 = 3",
        [],
    )
    .unwrap();
    drop(conn);
    let error = EmbeddedStore::open(dir.path(), Options::default())
        .err()
        .expect("refused");
    assert_eq!(error.code(), "corrupt");
    assert!(error.to_string().contains("trailkeep verify"), "{error}");
}

/// Reading the checkpoint of a tenant under load used to make the writer sign a fresh one, an
/// fsync'd transaction per read outside the once-a-second throttle; reads are now served from
/// the newest signed note, and a reader that needs a covering one waits for the timer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checkpoint_reads_under_load_never_make_the_writer_sign_sooner() {
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(dir.path(), Options::default()).unwrap();
    let started = std::time::Instant::now();
    let mut batches = 0u64;
    let mut reads = 0u64;
    while started.elapsed() < std::time::Duration::from_millis(600) {
        store.append("acme", batch("acme", 2)).await.unwrap();
        batches += 1;
        for _ in 0..10 {
            let newest = store.checkpoint("acme").await.unwrap().unwrap();
            assert!(newest.size <= batches * 2);
            reads += 1;
        }
    }
    let count = |dir: &std::path::Path| -> i64 {
        let conn = rusqlite::Connection::open(dir.join(DB_FILE)).unwrap();
        conn.query_row("SELECT COUNT(*) FROM checkpoints", [], |r| r.get(0))
            .unwrap()
    };
    assert!(batches >= 10, "only {batches} batches in 600 ms");
    assert!(
        count(dir.path()) <= 2,
        "{} checkpoints for {batches} batches and {reads} checkpoint reads in 600 ms",
        count(dir.path())
    );
    // A reader that needs every event covered gets the timer's next checkpoint.
    let covering = store
        .checkpoint_covering("acme", batches * 2)
        .await
        .unwrap();
    assert_eq!(covering.size, batches * 2);
    assert!(count(dir.path()) <= 3);
    drop(store);
    let conn = rusqlite::Connection::open(dir.path().join(DB_FILE)).unwrap();
    let newest: i64 = conn
        .query_row("SELECT MAX(size) FROM checkpoints", [], |r| r.get(0))
        .unwrap();
    assert_eq!(
        newest as u64,
        batches * 2,
        "the covering checkpoint was stored"
    );
}

/// Runs a fixed set of queries and statistics, for comparing answers across index states.
async fn answers(store: &EmbeddedStore) -> Vec<String> {
    use trailkeep_event::{Filter, Order, Query, tokenize};
    use trailkeep_store::GroupBy;
    let filters = [
        Filter::default(),
        Filter {
            actions: vec!["doc.*".into()],
            ..Filter::default()
        },
        Filter {
            text: tokenize("murabaha").collect(),
            ..Filter::default()
        },
        Filter {
            metadata: vec!["i=7".into()],
            ..Filter::default()
        },
    ];
    let mut out = Vec::new();
    for filter in filters {
        for order in [Order::Asc, Order::Desc] {
            let mut query = Query::first_page(filter.clone(), order, 25);
            query.count_total = true;
            let page = store.query("acme", &query).await.unwrap();
            let seqs: Vec<u64> = page.events.iter().map(|e| e.event.seq).collect();
            out.push(format!(
                "{filter:?} {order:?} {seqs:?} {:?} {:?}",
                page.total, page.next
            ));
        }
        let stats = store.stats("acme", &filter, &GroupBy::ALL).await.unwrap();
        out.push(format!("{stats:?}"));
    }
    out
}

async fn wait_for_index(store: &EmbeddedStore) {
    for _ in 0..400 {
        if store.index_lag() == 0 {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    panic!(
        "the index did not catch up within 10 s (lag {})",
        store.index_lag()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_index_is_rebuilt_and_gives_the_same_answers() {
    let dir = tempfile::tempdir().unwrap();
    let options = || Options {
        index_interval: std::time::Duration::from_millis(20),
        ..Options::default()
    };
    let before = {
        let store = EmbeddedStore::open(dir.path(), options()).unwrap();
        let events: Vec<_> = (0..900)
            .map(|i| {
                let action = ["doc.created", "doc.viewed", "user.login"][i % 3];
                let raw = json!({
                    "action": action,
                    "occurred_at": format!("2025-01-{:02}T00:00:00Z", 1 + i % 28),
                    "description": if i % 5 == 0 { "MURABAHA deal" } else { "other" },
                    "metadata": {"i": i % 10},
                });
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
        store.append("beta", batch("beta", 40)).await.unwrap();
        wait_for_index(&store).await;
        answers(&store).await
    };
    std::fs::remove_dir_all(dir.path().join(trailkeep_store_embedded::INDEX_DIR)).unwrap();
    let store = EmbeddedStore::open(dir.path(), options()).unwrap();
    assert_eq!(
        answers(&store).await,
        before,
        "answers while the index is rebuilt"
    );
    wait_for_index(&store).await;
    assert_eq!(
        answers(&store).await,
        before,
        "answers from the rebuilt index"
    );
    drop(store);

    // A corrupt index (garbage in its meta file) is rebuilt the same way.
    std::fs::write(
        dir.path()
            .join(trailkeep_store_embedded::INDEX_DIR)
            .join("meta.json"),
        b"{not json",
    )
    .unwrap();
    let store = EmbeddedStore::open(dir.path(), options()).unwrap();
    wait_for_index(&store).await;
    assert_eq!(
        answers(&store).await,
        before,
        "answers after a corrupt index was rebuilt"
    );
}
