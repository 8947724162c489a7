//! Regression tests of the security review's storage findings: start-up trusts only signed
//! notes and the high-water file, tenant ids are never reused and a stale index never answers
//! for another tenant, and the data directory's files are private.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use serde_json::json;
use trailkeep_event::{Filter, Order, Query, Timestamp, prepare};
use trailkeep_store::{AppendRequest, EventStore, StoreError};
use trailkeep_store_embedded::{
    DB_FILE, EmbeddedStore, HIGH_WATER_FILE, INDEX_DIR, KEY_FILE, LOCK_FILE, Options,
    accept_rollback,
};

fn batch(tenant: &str, action: &str, n: usize) -> AppendRequest {
    AppendRequest {
        events: (0..n)
            .map(|i| {
                prepare(
                    &json!({"action": action, "metadata": {"i": i}}),
                    tenant,
                    Timestamp::now(),
                )
                .unwrap()
            })
            .collect(),
        idempotency_key: None,
    }
}

fn open(dir: &Path) -> Result<EmbeddedStore, StoreError> {
    EmbeddedStore::open(dir, Options::default())
}

fn sql(dir: &Path) -> rusqlite::Connection {
    rusqlite::Connection::open(dir.join(DB_FILE)).unwrap()
}

/// Writes `first` events, restarts, writes `second` more: two signed checkpoints.
async fn ledger_with_two_checkpoints(dir: &Path, first: usize, second: usize) {
    let store = open(dir).unwrap();
    store
        .append("acme", batch("acme", "doc.created", first))
        .await
        .unwrap();
    drop(store);
    let store = open(dir).unwrap();
    store
        .append("acme", batch("acme", "doc.created", second))
        .await
        .unwrap();
}

/// Removes acme's events from `from` on, with their checkpoints and block roots: a tail cut
/// that leaves an older, validly signed checkpoint as the newest.
fn cut_tail(dir: &Path, from: u64) {
    let conn = sql(dir);
    conn.execute(
        "DELETE FROM events WHERE tenant_id = 1 AND (key & 1099511627775) >= ?1",
        [from as i64],
    )
    .unwrap();
    conn.execute(
        "DELETE FROM checkpoints WHERE tenant_id = 1 AND size > ?1",
        [from as i64],
    )
    .unwrap();
    conn.execute("DELETE FROM ledger_nodes WHERE tenant_id = 1", [])
        .unwrap();
}

fn refusal(dir: &Path) -> String {
    let error = open(dir).err().expect("the store must refuse to open");
    assert_eq!(error.code(), "corrupt", "{error}");
    error.to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_tail_back_to_an_older_signed_checkpoint_is_refused_at_start_up() {
    let dir = tempfile::tempdir().unwrap();
    ledger_with_two_checkpoints(dir.path(), 300, 400).await;
    cut_tail(dir.path(), 300);
    let error = refusal(dir.path());
    assert!(
        error.contains("holds 300 events, but a checkpoint of 700 was signed"),
        "{error}"
    );
    assert!(error.contains("accept-rollback"), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_tail_without_any_checkpoint_row_is_not_signed_afresh() {
    let dir = tempfile::tempdir().unwrap();
    ledger_with_two_checkpoints(dir.path(), 300, 400).await;
    cut_tail(dir.path(), 300);
    sql(dir.path())
        .execute("DELETE FROM checkpoints", [])
        .unwrap();
    let error = refusal(dir.path());
    assert!(error.contains("a checkpoint of 700 was signed"), "{error}");
    let signed: i64 = sql(dir.path())
        .query_row("SELECT COUNT(*) FROM checkpoints", [], |r| r.get(0))
        .unwrap();
    assert_eq!(signed, 0, "nothing was signed over the cut ledger");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_altered_event_with_a_matching_root_column_is_refused_by_the_signed_note() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = open(dir.path()).unwrap();
        store
            .append("acme", batch("acme", "doc.created", 10))
            .await
            .unwrap();
    }
    // Rewrite the last event's leaf hash and the newest checkpoint's root column to agree with
    // each other, as someone with write access to the database could; the note stays as signed.
    let conn = sql(dir.path());
    conn.execute(
        "UPDATE events SET leaf_hash = zeroblob(32) WHERE (key & 1099511627775) = 9",
        [],
    )
    .unwrap();
    let mut tree = trailkeep_ledger::MemoryTree::new();
    for leaf in conn
        .prepare("SELECT leaf_hash FROM events ORDER BY key")
        .unwrap()
        .query_map([], |r| r.get::<_, Vec<u8>>(0))
        .unwrap()
    {
        tree.push(leaf.unwrap().try_into().unwrap());
    }
    let root = tree.root();
    conn.execute("UPDATE checkpoints SET root = ?1", [&root[..]])
        .unwrap();
    // With no mark in the high-water file, only the note's signature stands in the way.
    std::fs::write(dir.path().join(HIGH_WATER_FILE), "").unwrap();
    let error = refusal(dir.path());
    assert!(
        error.contains("do not match the checkpoint at size 10"),
        "{error}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_checkpoint_note_not_signed_by_the_data_directorys_key_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = open(dir.path()).unwrap();
        store
            .append("acme", batch("acme", "doc.created", 4))
            .await
            .unwrap();
    }
    let conn = sql(dir.path());
    let note: String = conn
        .query_row("SELECT note FROM checkpoints", [], |r| r.get(0))
        .unwrap();
    let body = note.split("\n\n").next().unwrap();
    let other = trailkeep_ledger::NoteSigner::generate("trailkeep").unwrap();
    let forged = other.sign(&format!("{body}\n")).unwrap();
    conn.execute("UPDATE checkpoints SET note = ?1", [&forged])
        .unwrap();
    let error = refusal(dir.path());
    assert!(
        error.contains("not signed by this data directory's key"),
        "{error}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removed_tenant_or_high_water_file_is_refused_and_accept_rollback_lets_the_operator_choose()
 {
    let dir = tempfile::tempdir().unwrap();
    ledger_with_two_checkpoints(dir.path(), 3, 2).await;
    {
        let store = open(dir.path()).unwrap();
        store
            .append("beta", batch("beta", "doc.created", 2))
            .await
            .unwrap();
    }
    let backup = std::fs::read(dir.path().join(DB_FILE)).unwrap();
    {
        let store = open(dir.path()).unwrap();
        store
            .append("acme", batch("acme", "doc.created", 5))
            .await
            .unwrap();
    }
    // An older copy of the database, restored beside the newer high-water file.
    std::fs::write(dir.path().join(DB_FILE), &backup).unwrap();
    let error = refusal(dir.path());
    assert!(error.contains("tenant acme"), "{error}");
    assert!(error.contains("a checkpoint of 10 was signed"), "{error}");

    let accepted = accept_rollback(dir.path(), Some(&["acme".to_owned()])).unwrap();
    assert_eq!(accepted[0].was.map(|m| m.size), Some(10));
    assert_eq!(accepted[0].now.map(|m| m.size), Some(5));
    let store = open(dir.path()).unwrap();
    let out = store
        .append("acme", batch("acme", "doc.created", 1))
        .await
        .unwrap();
    assert_eq!(
        out.events[0].event.seq, 5,
        "the ledger goes on from the backup"
    );
    drop(store);

    std::fs::remove_file(dir.path().join(HIGH_WATER_FILE)).unwrap();
    let error = open(dir.path()).err().expect("refused without the file");
    assert!(error.to_string().contains("is missing"), "{error}");
}

/// Waits until the tenant's events are all in the query index.
async fn wait_for_index(store: &EmbeddedStore) {
    for _ in 0..200 {
        if store.index_lag() == 0 {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("the index did not catch up");
}

async fn count(store: &EmbeddedStore, tenant: &str, action: &str) -> usize {
    let filter = Filter {
        actions: vec![action.to_owned()],
        ..Filter::default()
    };
    let query = Query::first_page(filter, Order::Desc, 100);
    store.query(tenant, &query).await.unwrap().events.len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_index_never_shows_a_vanished_tenants_events_to_a_new_tenant() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = open(dir.path()).unwrap();
        store
            .append("acme", batch("acme", "doc.created", 3))
            .await
            .unwrap();
        wait_for_index(&store).await;
    }
    let backup = std::fs::read(dir.path().join(DB_FILE)).unwrap();
    {
        let store = open(dir.path()).unwrap();
        store
            .append("beta", batch("beta", "beta.secret", 20))
            .await
            .unwrap();
        wait_for_index(&store).await;
        assert_eq!(count(&store, "beta", "beta.secret").await, 20);
    }
    // The database goes back to before beta existed; the index folder stays as it was.
    std::fs::write(dir.path().join(DB_FILE), &backup).unwrap();
    assert!(dir.path().join(INDEX_DIR).exists());
    accept_rollback(dir.path(), Some(&["beta".to_owned()])).unwrap();
    let store = open(dir.path()).unwrap();
    store
        .append("gamma", batch("gamma", "doc.created", 1))
        .await
        .unwrap();
    wait_for_index(&store).await;
    assert_eq!(
        count(&store, "gamma", "beta.secret").await,
        0,
        "gamma sees none of beta's events"
    );
    assert_eq!(count(&store, "gamma", "doc.created").await, 1);
    assert_eq!(count(&store, "acme", "doc.created").await, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_id_is_never_handed_out_twice() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = open(dir.path()).unwrap();
        store.append("acme", batch("acme", "a", 1)).await.unwrap();
        store.append("beta", batch("beta", "b", 1)).await.unwrap();
    }
    let conn = sql(dir.path());
    conn.execute("DELETE FROM events WHERE tenant_id = 2", [])
        .unwrap();
    conn.execute("DELETE FROM checkpoints WHERE tenant_id = 2", [])
        .unwrap();
    conn.execute("DELETE FROM tenants WHERE id = 2", [])
        .unwrap();
    drop(conn);
    accept_rollback(dir.path(), Some(&["beta".to_owned()])).unwrap();
    {
        let store = open(dir.path()).unwrap();
        store.append("gamma", batch("gamma", "g", 1)).await.unwrap();
    }
    let id: i64 = sql(dir.path())
        .query_row("SELECT id FROM tenants WHERE name = 'gamma'", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(id, 3, "id 2 was beta's");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_signing_key_is_refused_instead_of_silently_regenerated() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = open(dir.path()).unwrap();
        store.append("acme", batch("acme", "a", 1)).await.unwrap();
    }
    std::fs::remove_file(dir.path().join(KEY_FILE)).unwrap();
    let error = open(dir.path()).err().expect("refused");
    assert!(error.to_string().contains("signing key"), "{error}");
    assert!(error.to_string().contains("is missing"), "{error}");
    assert!(!dir.path().join(KEY_FILE).exists(), "no new key was made");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signing_key_readable_by_others_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    drop(open(dir.path()).unwrap());
    let key = dir.path().join(KEY_FILE);
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let error = open(dir.path()).err().expect("refused");
    assert!(error.to_string().contains("chmod 600"), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_files_are_created_readable_by_their_owner_only() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("data");
    let store = open(&dir).unwrap();
    store.append("acme", batch("acme", "a", 1)).await.unwrap();
    let mode = |name: &str| {
        std::fs::metadata(dir.join(name))
            .unwrap_or_else(|e| panic!("{name}: {e}"))
            .permissions()
            .mode()
            & 0o777
    };
    assert_eq!(mode(""), 0o700, "the data directory");
    for name in [
        DB_FILE,
        &format!("{DB_FILE}-wal"),
        KEY_FILE,
        HIGH_WATER_FILE,
        LOCK_FILE,
    ] {
        assert_eq!(mode(name), 0o600, "{name}");
    }
}

/// One queue for every tenant: a tenant flooding the writer filled it, and every other tenant's
/// appends were refused as overload. Each tenant now has its share.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flooding_tenant_meets_its_own_share_and_other_tenants_still_write() {
    let dir = tempfile::tempdir().unwrap();
    let store = std::sync::Arc::new(
        EmbeddedStore::open(
            dir.path(),
            Options {
                queue_capacity: 64,
                tenant_queue_share: 8,
                ..Options::default()
            },
        )
        .unwrap(),
    );
    let mut flood = Vec::new();
    for _ in 0..200 {
        let store = store.clone();
        flood.push(tokio::spawn(async move {
            store.append("loud", batch("loud", "bulk.load", 500)).await
        }));
    }
    for i in 0..20 {
        let out = store
            .append("quiet", batch("quiet", "doc.created", 1))
            .await
            .unwrap_or_else(|e| panic!("quiet append {i} refused: {e}"));
        assert_eq!(out.events[0].event.seq, i);
    }
    let mut refused = 0;
    for task in flood {
        match task.await.unwrap() {
            Ok(_) => {}
            Err(StoreError::Overloaded) => refused += 1,
            Err(other) => panic!("{other}"),
        }
    }
    assert!(refused > 0, "the flood met its share");
}

/// Marking the database as written before the high-water file existed (format version 1) and
/// deleting the file used to pass as an upgrade, with every mark lifted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lowering_the_format_version_does_not_lift_the_high_water_marks() {
    let dir = tempfile::tempdir().unwrap();
    ledger_with_two_checkpoints(dir.path(), 300, 400).await;
    cut_tail(dir.path(), 300);
    sql(dir.path())
        .pragma_update(None, "user_version", 1)
        .unwrap();
    std::fs::remove_file(dir.path().join(HIGH_WATER_FILE)).unwrap();
    let error = refusal(dir.path());
    assert!(error.contains("is missing"), "{error}");
    assert!(error.contains("--all-tenants"), "{error}");
    // The operator's deliberate way through: every tenant accepted as it is.
    let accepted = accept_rollback(dir.path(), None).unwrap();
    assert_eq!(accepted.len(), 1);
    assert_eq!(accepted[0].now.map(|m| m.size), Some(300));
    let store = open(dir.path()).unwrap();
    assert_eq!(store.tree_size("acme").await.unwrap(), 300);
}
