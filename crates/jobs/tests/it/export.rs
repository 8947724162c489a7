//! Exports run by the runner: the files, the manifest, and what proves them.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};
use tokio::sync::watch;
use trailkeep_event::{Filter, Timestamp, prepare};
use trailkeep_jobs::export::verify::{ExportFailure, Verified, verify_export};
use trailkeep_jobs::export::{
    Destination, ExpireHandler, ExportHandler, ExportResult, ExportSettings, ExportSpec, Format,
    Manifest, request,
};
use trailkeep_jobs::{Runner, RunnerSettings};
use trailkeep_ledger::{Checkpoint, MemoryTree, NoteVerifier, leaf_hash, verify_inclusion};
use trailkeep_store::{AppendRequest, JobRecord, JobState, Store};
use trailkeep_store_embedded::{EmbeddedStore, Options};

struct Setup {
    store: Arc<dyn Store>,
    exports: std::path::PathBuf,
    _dir: tempfile::TempDir,
    stop: watch::Sender<bool>,
    runner: Arc<Runner>,
}

async fn setup(keep: Duration) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> =
        Arc::new(EmbeddedStore::open(&dir.path().join("data"), Options::default()).unwrap());
    let exports = dir.path().join("exports");
    let settings = ExportSettings {
        dir: exports.clone(),
        keep,
        deliveries: Default::default(),
        public_url: None,
    };
    let runner = Runner::new(
        store.clone(),
        RunnerSettings {
            poll_interval: Duration::from_millis(50),
            ..RunnerSettings::default()
        },
        vec![
            Arc::new(ExportHandler::new(store.clone(), settings)),
            Arc::new(ExpireHandler::new(exports.clone())),
        ],
    );
    let (stop, stopped) = watch::channel(false);
    runner.start(stopped).detach_all();
    Setup {
        store,
        exports,
        _dir: dir,
        stop,
        runner,
    }
}

async fn ingest(store: &dyn Store, tenant: &str, events: Vec<Value>) {
    let events = events
        .iter()
        .map(|raw| prepare(raw, tenant, Timestamp::now()).unwrap())
        .collect();
    store
        .append(
            tenant,
            AppendRequest {
                events,
                idempotency_key: None,
            },
        )
        .await
        .unwrap();
}

fn spec(format: Format, filter: Filter) -> ExportSpec {
    ExportSpec {
        format,
        filter,
        columns: None,
        destination: Destination::Download,
        requested_by: json!({"type": "user", "id": "ann"}),
    }
}

async fn finished(store: &dyn Store, tenant: &str, id: &str) -> JobRecord {
    tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            let job = store.job(tenant, id).await.unwrap().unwrap();
            if job.state.is_final() {
                return job;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the export finishes")
}

fn manifest_of(setup: &Setup, result: &ExportResult) -> Manifest {
    let note = std::fs::read_to_string(setup.exports.join(&result.manifest)).unwrap();
    let verifier = NoteVerifier::from_vkey(&setup.store.vkey()).unwrap();
    Manifest::open(&note, &verifier).expect("the manifest verifies with the ledger's vkey")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unfiltered_ndjson_export_rebuilds_the_signed_root() {
    let setup = setup(Duration::from_secs(3600)).await;
    let events: Vec<Value> = (0..2_500)
        .map(|i| json!({"action": "doc.created", "metadata": {"i": i}}))
        .collect();
    ingest(&*setup.store, "acme", events).await;
    ingest(
        &*setup.store,
        "beta",
        vec![json!({"action": "other.tenant"})],
    )
    .await;
    let job = request(
        &*setup.store,
        "acme",
        &spec(Format::Ndjson, Filter::default()),
        "ann",
    )
    .await
    .unwrap();
    setup.runner.wake();
    let job = finished(&*setup.store, "acme", &job.id).await;
    assert_eq!(job.state, JobState::Succeeded, "{:?}", job.error);
    let result: ExportResult = serde_json::from_str(job.result.as_deref().unwrap()).unwrap();
    // Every event below the cut: the 2,500 and the export's own request.
    assert_eq!(result.count, 2_501);
    let bytes = std::fs::read(setup.exports.join(&result.file.name)).unwrap();
    assert_eq!(bytes.len() as u64, result.file.bytes);
    assert_eq!(
        hex::encode(sha2::Sha256::digest(&bytes)),
        result.file.sha256
    );
    let manifest = manifest_of(&setup, &result);
    assert_eq!(manifest.file, result.file);
    assert_eq!(
        (manifest.first_seq, manifest.last_seq),
        (Some(0), Some(2_500))
    );
    assert_eq!(manifest.tenant, "acme");
    let verifier = NoteVerifier::from_vkey(&setup.store.vkey()).unwrap();
    let checkpoint = Checkpoint::open(&manifest.checkpoint, &verifier).unwrap();
    assert_eq!(checkpoint.size, 2_501);
    assert_eq!(manifest.tree_size, 2_501);
    let mut tree = MemoryTree::new();
    for line in bytes.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
        tree.push(leaf_hash(line));
    }
    assert_eq!(
        tree.root(),
        checkpoint.root,
        "the lines rebuild the signed root"
    );
    let trail: Vec<String> = setup
        .store
        .scan("acme", 2_500, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.event.action)
        .collect();
    assert_eq!(
        trail,
        [
            "audit.export.requested",
            "audit.export.expiry_scheduled",
            "audit.export.completed"
        ]
    );
    setup.stop.send(true).unwrap();
}

use sha2::Digest;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_filtered_export_carries_a_proof_for_every_event() {
    let setup = setup(Duration::from_secs(3600)).await;
    let events: Vec<Value> = (0..300)
        .map(|i| json!({"action": if i % 7 == 0 { "user.login" } else { "doc.read" }}))
        .collect();
    ingest(&*setup.store, "acme", events).await;
    let filter = Filter {
        actions: vec!["user.login".into()],
        ..Filter::default()
    };
    let job = request(&*setup.store, "acme", &spec(Format::Ndjson, filter), "ann")
        .await
        .unwrap();
    let job = finished(&*setup.store, "acme", &job.id).await;
    assert_eq!(job.state, JobState::Succeeded, "{:?}", job.error);
    let result: ExportResult = serde_json::from_str(job.result.as_deref().unwrap()).unwrap();
    assert_eq!(result.count, 43);
    let manifest = manifest_of(&setup, &result);
    let verifier = NoteVerifier::from_vkey(&setup.store.vkey()).unwrap();
    let checkpoint = Checkpoint::open(&manifest.checkpoint, &verifier).unwrap();
    let lines = std::fs::read_to_string(setup.exports.join(&result.file.name)).unwrap();
    let proofs = std::fs::read_to_string(
        setup
            .exports
            .join(&result.proofs.as_ref().expect("a proofs file").name),
    )
    .unwrap();
    assert_eq!(lines.lines().count(), 43);
    for (line, proof) in lines.lines().zip(proofs.lines()) {
        let proof: Value = serde_json::from_str(proof).unwrap();
        let event: Value = serde_json::from_str(line).unwrap();
        assert_eq!(event["action"], "user.login");
        assert_eq!(proof["seq"], event["seq"]);
        let hashes: Vec<Vec<u8>> = proof["proof"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| STANDARD.decode(h.as_str().unwrap()).unwrap())
            .collect();
        verify_inclusion(
            &leaf_hash(line.as_bytes()),
            event["seq"].as_u64().unwrap(),
            checkpoint.size,
            &hashes,
            &checkpoint.root,
        )
        .expect("each line is in the signed tree");
    }
    setup.stop.send(true).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn csv_and_json_exports_hold_the_matching_events_and_expire() {
    let setup = setup(Duration::from_millis(300)).await;
    ingest(
        &*setup.store,
        "acme",
        vec![
            json!({"action": "doc.created", "actor": {"id": "=cmd"}}),
            json!({"action": "doc.deleted"}),
        ],
    )
    .await;
    let filter = Filter {
        actions: vec!["doc.created".into()],
        ..Filter::default()
    };
    let csv = request(&*setup.store, "acme", &spec(Format::Csv, filter), "ann")
        .await
        .unwrap();
    let json = request(
        &*setup.store,
        "acme",
        &spec(Format::Json, Filter::default()),
        "ann",
    )
    .await
    .unwrap();
    let csv = finished(&*setup.store, "acme", &csv.id).await;
    let json = finished(&*setup.store, "acme", &json.id).await;
    let csv: ExportResult = serde_json::from_str(csv.result.as_deref().unwrap()).unwrap();
    let text = std::fs::read_to_string(setup.exports.join(&csv.file.name)).unwrap();
    assert!(text.starts_with("id,seq,occurred_at"), "{text}");
    assert!(text.contains(",'=cmd,"), "{text}");
    assert_eq!(text.lines().count(), 2, "{text}");
    let json: ExportResult = serde_json::from_str(json.result.as_deref().unwrap()).unwrap();
    let array: Vec<Value> =
        serde_json::from_slice(&std::fs::read(setup.exports.join(&json.file.name)).unwrap())
            .unwrap();
    assert!(
        array.len() >= 4,
        "the two events and both requests, at least"
    );
    assert_eq!(array[1]["action"], "doc.deleted");
    assert!(array.iter().all(|e| e["tenant"] == "acme"));
    // Kept for 300 ms, then removed by the expiry job.
    tokio::time::timeout(Duration::from_secs(20), async {
        while setup.exports.join(&csv.file.name).exists()
            || setup.exports.join(&json.manifest).exists()
        {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("the files expire");
    setup.stop.send(true).unwrap();
}

/// Writes `lines` (each without its newline) as an NDJSON file next to the export.
fn rewrite(path: &std::path::Path, lines: &[Vec<u8>]) {
    let mut bytes = Vec::new();
    for line in lines {
        bytes.extend_from_slice(line);
        bytes.push(b'\n');
    }
    std::fs::write(path, bytes).unwrap();
}

fn line_failure(result: Result<Verified, ExportFailure>) -> u64 {
    match result {
        Err(ExportFailure::Line { line, .. }) => line,
        other => panic!("expected a bad line, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verification_names_the_first_altered_removed_or_moved_line() {
    let setup = setup(Duration::from_secs(3600)).await;
    let events: Vec<Value> = (0..200)
        .map(|i| json!({"action": if i % 3 == 0 { "user.login" } else { "doc.read" }, "description": format!("event {i}")}))
        .collect();
    ingest(&*setup.store, "acme", events).await;
    let verifier = NoteVerifier::from_vkey(&setup.store.vkey()).unwrap();
    for filter in [
        Filter::default(),
        Filter {
            actions: vec!["user.login".into()],
            ..Filter::default()
        },
    ] {
        let job = request(
            &*setup.store,
            "acme",
            &spec(Format::Ndjson, filter.clone()),
            "ann",
        )
        .await
        .unwrap();
        let job = finished(&*setup.store, "acme", &job.id).await;
        let result: ExportResult = serde_json::from_str(job.result.as_deref().unwrap()).unwrap();
        let file = setup.exports.join(&result.file.name);
        let proofs = setup.exports.join(&result.proofs.as_ref().unwrap().name);
        let note = std::fs::read_to_string(setup.exports.join(&result.manifest)).unwrap();
        let verify = |file: &std::path::Path| {
            verify_export(file, &note, Some(&proofs), &verifier, &mut |_| {})
        };
        let verified = verify(&file).expect("the export verifies");
        assert_eq!(verified.events, result.count);
        let lines: Vec<Vec<u8>> = std::fs::read(&file)
            .unwrap()
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .map(<[u8]>::to_vec)
            .collect();
        let copy = setup.exports.join("tampered.ndjson");
        // One byte of line 40's description.
        let mut flipped = lines.clone();
        let at = flipped[39].windows(6).position(|w| w == b"event ").unwrap() + 6;
        flipped[39][at] ^= 0x01;
        rewrite(&copy, &flipped);
        assert_eq!(line_failure(verify(&copy)), 40, "{filter:?}");
        // Line 12 removed.
        let mut removed = lines.clone();
        removed.remove(11);
        rewrite(&copy, &removed);
        assert_eq!(line_failure(verify(&copy)), 12, "{filter:?}");
        // Lines 5 and 9 swapped.
        let mut swapped = lines.clone();
        swapped.swap(4, 8);
        rewrite(&copy, &swapped);
        assert_eq!(line_failure(verify(&copy)), 5, "{filter:?}");
        // Another key does not verify the manifest at all.
        let other = trailkeep_ledger::NoteSigner::generate("trailkeep")
            .unwrap()
            .verifier();
        assert!(matches!(
            verify_export(&file, &note, Some(&proofs), &other, &mut |_| {}),
            Err(ExportFailure::Manifest(_))
        ));
    }
    setup.stop.send(true).unwrap();
}
