//! `trailkeep migrate --from --to`: the benchmark's workload at 100,000 events moved from a data
//! directory to PostgreSQL and back to a new data directory. Every checkpoint signed before the
//! moves is checked after each: the newest is the same, every older one is linked to it by a
//! consistency proof and proves its first and last leaf, and the idempotency keys and API keys
//! came along; the round trip's data directory holds the same bytes and checkpoints as the
//! first, and both stores verify offline.

use std::collections::BTreeMap;
use std::time::Duration;

use bench::workload::Workload;
use sha2::{Digest, Sha256};
use trailkeep_event::{Timestamp, prepare};
use trailkeep_ledger::{NoteSigner, verify_consistency, verify_inclusion};
use trailkeep_store::transfer::TransferSource;
use trailkeep_store::{
    ApiKeyRecord, AppendRequest, EventStore, IdempotencyKey, KeyStore, SignedCheckpoint, Store,
};
use trailkeep_store_embedded::{EmbeddedStore, EmbeddedTransfer, Options};
use trailkeep_store_postgres::PostgresStore;
use trailkeep_store_postgres::testing::TestSchema;

use crate::support::{self, path_str};

const EVENTS: u64 = 100_000;
const TENANTS: usize = 10;

fn idempotency_key(batch: u64) -> IdempotencyKey {
    IdempotencyKey {
        key: format!("batch-{batch}"),
        request_hash: Sha256::digest(batch.to_be_bytes()).into(),
    }
}

/// Fills `dir` with the workload; answers the API key it made and each idempotency key's
/// (tenant, seqs).
async fn fill(dir: &std::path::Path) -> (ApiKeyRecord, BTreeMap<u64, (String, Vec<u64>)>) {
    let store = EmbeddedStore::open(
        dir,
        Options {
            // Many checkpoints to carry across.
            checkpoint_interval: Duration::from_millis(20),
            ..Options::default()
        },
    )
    .expect("open the data directory");
    let workload = Workload::new(
        20_261_206,
        TENANTS,
        EVENTS,
        1_000,
        Timestamp::now().as_micros(),
    );
    let mut keyed = BTreeMap::new();
    for b in 0..workload.batches() {
        let (tenant, events) = workload.batch(b);
        let name = workload.tenants[tenant].name.clone();
        let mut json = Vec::new();
        let prepared = events
            .iter()
            .map(|event| {
                json.clear();
                event.to_json(&mut json);
                let raw: serde_json::Value = serde_json::from_slice(&json).unwrap();
                prepare(&raw, &name, Timestamp::now()).expect("a valid workload event")
            })
            .collect();
        let key = (b % 10 == 0).then(|| idempotency_key(b));
        let outcome = store
            .append(
                &name,
                AppendRequest {
                    events: prepared,
                    idempotency_key: key,
                },
            )
            .await
            .expect("append");
        if b % 10 == 0 {
            let seqs = outcome.events.iter().map(|e| e.event.seq).collect();
            keyed.insert(b, (name, seqs));
        }
    }
    let tenant = workload.tenants[0].name.clone();
    let key = ApiKeyRecord {
        id: "tk_moved_key".into(),
        tenant: tenant.clone(),
        name: "moved".into(),
        roles: vec!["audit:read".into()],
        secret_hash: [7; 32],
        created_by: "test".into(),
        created_at: 1_800_000_000,
        expires_at: None,
        revoked_at: None,
    };
    let audit = prepare(
        &serde_json::json!({"action": "trailkeep.api_key.created", "target": {"type": "api_key", "id": key.id}}),
        &tenant,
        Timestamp::now(),
    )
    .unwrap();
    store.insert_api_key(key.clone(), audit).await.unwrap();
    // Wait for a checkpoint of every tenant's whole tree, then stop.
    for t in &workload.tenants {
        let size = store.tree_size(&t.name).await.unwrap();
        store.checkpoint_covering(&t.name, size).await.unwrap();
    }
    tokio::task::spawn_blocking(move || store.shutdown())
        .await
        .unwrap();
    (key, keyed)
}

/// Every tenant's signed checkpoints in the data directory `dir`.
async fn checkpoints(dir: &std::path::Path) -> BTreeMap<String, Vec<SignedCheckpoint>> {
    let mut source = EmbeddedTransfer::open_source(dir).unwrap();
    let mut all = BTreeMap::new();
    for tenant in source.tenants().await.unwrap() {
        let records = source.records(&tenant).await.unwrap();
        all.insert(tenant, records.checkpoints);
    }
    all
}

/// Every tenant's events in the data directory `dir`, as (id, seq, bytes, leaf hash).
async fn events(dir: &std::path::Path) -> Vec<(String, u64, Vec<u8>, [u8; 32])> {
    let mut source = EmbeddedTransfer::open_source(dir).unwrap();
    let mut all = Vec::new();
    for tenant in source.tenants().await.unwrap() {
        let mut from = 0;
        loop {
            let chunk = source.events(&tenant, from, 10_000).await.unwrap();
            if chunk.is_empty() {
                break;
            }
            from += chunk.len() as u64;
            all.extend(
                chunk
                    .into_iter()
                    .map(|(id, e)| (id, e.seq, e.canonical, e.leaf_hash)),
            );
        }
    }
    all
}

/// Every checkpoint of `before` holds in `store`: the newest is the store's newest, and every
/// one is linked to it by a consistency proof and proves its first and last leaf.
async fn every_checkpoint_verifies(
    store: &dyn Store,
    before: &BTreeMap<String, Vec<SignedCheckpoint>>,
) -> usize {
    let mut checked = 0;
    for (tenant, list) in before {
        let newest = store
            .checkpoint(tenant)
            .await
            .unwrap()
            .expect("a checkpoint");
        assert_eq!(
            Some(&newest),
            list.last(),
            "tenant {tenant}'s newest checkpoint"
        );
        for old in list {
            let proof = store
                .consistency_proof(tenant, old.size, newest.size)
                .await
                .unwrap();
            verify_consistency(old.size, newest.size, &proof, &old.root, &newest.root)
                .unwrap_or_else(|e| panic!("{tenant} {} -> {}: {e}", old.size, newest.size));
            for seq in [0, old.size - 1] {
                let proof = store.inclusion_proof(tenant, seq, old.size).await.unwrap();
                verify_inclusion(&proof.leaf_hash, seq, old.size, &proof.hashes, &old.root)
                    .unwrap_or_else(|e| panic!("{tenant} leaf {seq} in {}: {e}", old.size));
            }
            checked += 1;
        }
    }
    checked
}

fn succeeds(args: &[&str]) -> String {
    let output =
        support::run_command_within(support::command().args(args), Duration::from_secs(600));
    assert!(
        output.status.success(),
        "{args:?}: {}",
        support::describe(&output)
    );
    support::stdout(&output)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_move_to_postgres_and_back_keeps_every_checkpoint_verifying() {
    let first = tempfile::tempdir().unwrap();
    let (api_key, keyed) = fill(first.path()).await;
    let before = checkpoints(first.path()).await;
    let signed: usize = before.values().map(Vec::len).sum();
    assert!(
        signed > TENANTS,
        "{signed} checkpoints: more than one per tenant"
    );
    let key_file = first.path().join(trailkeep_store_embedded::KEY_FILE);
    let signer = NoteSigner::from_skey(std::fs::read_to_string(&key_file).unwrap().trim()).unwrap();
    let vkey = signer.verifier().to_vkey();

    // Embedded -> PostgreSQL.
    let schema = TestSchema::new().await;
    let url = schema.url();
    let out = succeeds(&[
        "migrate",
        "--quiet",
        "--from",
        path_str(first.path()),
        "--to",
        &url,
    ]);
    assert!(
        out.contains(&format!(
            "moved {TENANTS} tenants, {} events, {signed} signed checkpoints",
            EVENTS + 1
        )),
        "{out}"
    );
    let out = succeeds(&["verify", "--quiet", "--store", &url, "--vkey", &vkey]);
    assert!(out.contains(&format!("{} events", EVENTS + 1)), "{out}");
    let postgres =
        PostgresStore::connect(&url, trailkeep_store_postgres::Options::new(signer.clone()))
            .await
            .expect("a node of the moved database");
    let checked = every_checkpoint_verifies(&postgres, &before).await;
    assert_eq!(checked, signed);
    for (batch, (tenant, seqs)) in &keyed {
        let replay = postgres
            .replay(tenant, &idempotency_key(*batch))
            .await
            .unwrap()
            .expect("the idempotency key moved");
        let moved: Vec<u64> = replay.events.iter().map(|e| e.event.seq).collect();
        assert_eq!(&moved, seqs, "batch {batch}'s idempotency key");
    }
    assert_eq!(
        postgres.api_key(&api_key.id).await.unwrap(),
        Some(api_key.clone())
    );
    postgres.close().await;
    drop(postgres);

    // PostgreSQL -> a new data directory.
    let second = tempfile::tempdir().unwrap();
    let back = second.path().join("data");
    let out = succeeds(&[
        "migrate",
        "--quiet",
        "--from",
        &url,
        "--to",
        path_str(&back),
        "--signing-key",
        path_str(&key_file),
    ]);
    assert!(out.contains(&format!("moved {TENANTS} tenants")), "{out}");
    succeeds(&[
        "verify",
        "--quiet",
        "--data-dir",
        path_str(&back),
        "--vkey",
        &vkey,
    ]);
    assert_eq!(
        events(&back).await,
        events(first.path()).await,
        "the same events, byte for byte"
    );
    assert_eq!(
        checkpoints(&back).await,
        before,
        "the same signed checkpoints"
    );
    let embedded =
        EmbeddedStore::open(&back, Options::default()).expect("the moved directory opens");
    assert_eq!(every_checkpoint_verifies(&embedded, &before).await, signed);
    assert_eq!(embedded.api_key(&api_key.id).await.unwrap(), Some(api_key));
    eprintln!(
        "moved {} events and {signed} checkpoints of {TENANTS} tenants there and back",
        EVENTS + 1
    );
    tokio::task::spawn_blocking(move || embedded.shutdown())
        .await
        .unwrap();
    drop(schema);
}
