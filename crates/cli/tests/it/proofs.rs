//! Proofs checked by hand: what a running server hands out (`?proof=1` answers, inclusion and
//! consistency proofs, signed checkpoints, the vkey) must satisfy `trailkeep proof ...`, and
//! the same values with one thing changed must not. `trailkeep key show` must print the key the
//! server publishes.

use std::path::Path;
use std::process::Output;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};
use trailkeep_ledger::{NoteSigner, leaf_hash};

use crate::support::{self, Api, Server, checkpoint_head};

fn proof(args: &[&str]) -> Output {
    let mut all = vec!["proof"];
    all.extend_from_slice(args);
    support::run(&all)
}

fn assert_ok(output: &Output, what: &str) {
    assert_eq!(
        output.status.code(),
        Some(0),
        "{what} must verify: {}",
        support::describe(output)
    );
    assert!(
        support::stdout(output).starts_with("OK "),
        "{what}: {}",
        support::describe(output)
    );
}

fn assert_failed(output: &Output, what: &str) {
    assert_eq!(
        output.status.code(),
        Some(1),
        "{what} must not verify: {}",
        support::describe(output)
    );
    assert!(
        support::stdout(output).starts_with("FAILED "),
        "{what}: {}",
        support::describe(output)
    );
}

/// The same hash with its first byte flipped, base64 again.
fn flipped(b64: &str) -> String {
    let mut bytes = STANDARD.decode(b64).expect("base64 hash");
    bytes[0] ^= 0x01;
    STANDARD.encode(bytes)
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write a temp file");
    support::path_str(&path).to_owned()
}

async fn ingest(api: &Api, count: usize, from: usize) -> Vec<trailkeep_api::ReceiptBody> {
    let events: Vec<Value> = (from..from + count)
        .map(|n| json!({"action": "doc.created", "metadata": {"n": n}}))
        .collect();
    api.ingest(&json!(events)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proofs_from_the_server_verify_with_the_cli() {
    let data = tempfile::tempdir().expect("temp dir");
    let files = tempfile::tempdir().expect("temp dir");
    let server = Server::start(data.path());
    let api = server.client("acme");
    let receipts = ingest(&api, 20, 0).await;
    assert_eq!(receipts.len(), 20);
    let vkey = api.get_text("/v1/ledger/key").await.trim().to_owned();

    // `key show` reads the same key from the data directory.
    let shown = support::run(&["key", "show", "--data-dir", support::path_str(data.path())]);
    assert!(shown.status.success(), "{}", support::describe(&shown));
    assert_eq!(support::stdout(&shown).trim(), vkey);

    // A whole `?proof=1` answer.
    let answer = api
        .get_text(&format!("/v1/events/{}?proof=1", receipts[5].id))
        .await;
    let body: Value = serde_json::from_str(&answer).expect("proof answer is JSON");
    assert_eq!(body["leaf_hash"], receipts[5].leaf_hash.as_str());
    let file = write(files.path(), "event-proof.json", &answer);
    assert_ok(
        &proof(&[
            "verify-inclusion",
            "--event-proof",
            &file,
            "--vkey",
            vkey.as_str(),
        ]),
        "the ?proof=1 answer",
    );
    let first_hash = body["inclusion"]["hashes"][0]
        .as_str()
        .expect("a 20-leaf tree gives a non-empty audit path");
    let bad = answer.replacen(first_hash, &flipped(first_hash), 1);
    assert_ne!(bad, answer);
    let file = write(files.path(), "event-proof-bad.json", &bad);
    assert_failed(
        &proof(&[
            "verify-inclusion",
            "--event-proof",
            &file,
            "--vkey",
            vkey.as_str(),
        ]),
        "a ?proof=1 answer with one audit-path hash changed",
    );

    // The event's bytes changed, or a checkpoint key nobody trusts: never OK.
    let forged = answer.replacen("doc.created", "doc.deleted", 1);
    assert_ne!(forged, answer);
    let forged_file = write(files.path(), "event-proof-forged.json", &forged);
    assert_failed(
        &proof(&[
            "verify-inclusion",
            "--event-proof",
            &forged_file,
            "--vkey",
            vkey.as_str(),
        ]),
        "a ?proof=1 answer whose event was changed",
    );
    let stranger = NoteSigner::generate("trailkeep")
        .expect("generate a key")
        .verifier()
        .to_vkey();
    let good_file = write(files.path(), "event-proof-again.json", &answer);
    assert_failed(
        &proof(&[
            "verify-inclusion",
            "--event-proof",
            &good_file,
            "--vkey",
            stranger.as_str(),
        ]),
        "a ?proof=1 answer checked against another key",
    );

    // An inclusion proof by seq, against the signed checkpoint.
    let note_a = api.get_text("/v1/ledger/checkpoint?min_size=20").await;
    let (size_a, root_a) = checkpoint_head(&note_a);
    assert_eq!(size_a, 20, "the checkpoint covers every acknowledged event");
    let inclusion = api
        .get_json(&format!(
            "/v1/ledger/proofs/inclusion?seq=3&tree_size={size_a}"
        ))
        .await;
    let leaf = inclusion["leaf_hash"]
        .as_str()
        .expect("leaf_hash")
        .to_owned();
    assert_eq!(leaf, receipts[3].leaf_hash);
    let event3 = api
        .get_text(&format!("/v1/events/{}", receipts[3].id))
        .await;
    assert_eq!(
        leaf,
        STANDARD.encode(leaf_hash(event3.as_bytes())),
        "the leaf hash is SHA-256(0x00 || the event's bytes as served)"
    );
    let hashes: Vec<String> = inclusion["hashes"]
        .as_array()
        .expect("hashes")
        .iter()
        .map(|h| h.as_str().expect("a hash").to_owned())
        .collect();
    let checkpoint_file = write(files.path(), "checkpoint-a.txt", &note_a);
    let inclusion_args = |index: &str, head: &[&str]| -> Output {
        let mut args = vec![
            "verify-inclusion",
            "--leaf-hash",
            leaf.as_str(),
            "--index",
            index,
        ];
        args.extend_from_slice(head);
        for h in &hashes {
            args.extend(["--hash", h.as_str()]);
        }
        proof(&args)
    };
    let with_checkpoint = [
        "--checkpoint",
        checkpoint_file.as_str(),
        "--vkey",
        vkey.as_str(),
    ];
    assert_ok(
        &inclusion_args("3", &with_checkpoint),
        "seq 3 against the checkpoint",
    );
    assert_failed(
        &inclusion_args("4", &with_checkpoint),
        "seq 3's proof given as index 4",
    );
    let size_text = size_a.to_string();
    let with_root = ["--tree-size", size_text.as_str(), "--root", root_a.as_str()];
    assert_failed(
        &inclusion_args(
            "3",
            &[
                "--checkpoint",
                checkpoint_file.as_str(),
                "--vkey",
                stranger.as_str(),
            ],
        ),
        "a checkpoint checked against another key",
    );
    assert_ok(
        &inclusion_args("3", &with_root),
        "seq 3 against tree size and root",
    );

    // Consistency between two checkpoints.
    let more = ingest(&api, 13, 20).await;
    assert_eq!(more.last().map(|r| r.seq), Some(32));
    let note_b = api.get_text("/v1/ledger/checkpoint?min_size=33").await;
    let (size_b, root_b) = checkpoint_head(&note_b);
    assert_eq!(size_b, 33);
    let consistency = api
        .get_json(&format!(
            "/v1/ledger/proofs/consistency?first={size_a}&second={size_b}"
        ))
        .await;
    let hashes: Vec<String> = consistency["hashes"]
        .as_array()
        .expect("hashes")
        .iter()
        .map(|h| h.as_str().expect("a hash").to_owned())
        .collect();
    assert!(!hashes.is_empty());
    let consistency_args = |first_root: &str, second_root: &str| -> Output {
        let (a, b) = (size_a.to_string(), size_b.to_string());
        let mut args = vec![
            "verify-consistency",
            "--first",
            a.as_str(),
            "--second",
            b.as_str(),
            "--first-root",
            first_root,
            "--second-root",
            second_root,
        ];
        for h in &hashes {
            args.extend(["--hash", h.as_str()]);
        }
        proof(&args)
    };
    assert_ok(
        &consistency_args(&root_a, &root_b),
        "checkpoint A is a prefix of checkpoint B",
    );
    assert_failed(&consistency_args(&root_b, &root_a), "swapped roots");

    let status = server.terminate();
    assert!(status.success(), "serve exited with {status:?} on SIGTERM");
}

/// A receipt whose event is in another tenant's ledger than the checkpoint's: every hash and
/// signature is good, but the checkpoint's origin names another tenant. It used to verify.
#[test]
fn a_receipt_checked_against_another_tenants_checkpoint_fails() {
    let signer = NoteSigner::generate("trailkeep").expect("generate a key");
    let event = json!({
        "action": "doc.created", "category": "create", "id": "01JHV3T6ZP7Q2W3E4R5T6Y7X8K",
        "occurred_at": "2026-01-01T00:00:00Z", "outcome": "success",
        "received_at": "2026-01-01T00:00:00Z", "seq": 0, "tenant": "acme",
    });
    let canonical = trailkeep_event::canonicalize(&event).expect("canonical");
    let leaf = leaf_hash(&canonical);
    let checkpoint = |origin: &str| {
        trailkeep_ledger::Checkpoint {
            origin: origin.into(),
            size: 1,
            root: leaf,
        }
        .sign(&signer)
        .expect("sign")
    };
    let receipt = |origin: &str| {
        json!({
            "event": event,
            "leaf_hash": STANDARD.encode(leaf),
            "inclusion": {"tree_size": 1, "hashes": []},
            "checkpoint": checkpoint(origin),
        })
        .to_string()
    };
    let files = tempfile::tempdir().unwrap();
    let vkey = signer.verifier().to_vkey();
    let verify = |file: &str| {
        proof(&[
            "verify-inclusion",
            "--event-proof",
            file,
            "--vkey",
            vkey.as_str(),
        ])
    };
    let own = write(files.path(), "own.json", &receipt("trailkeep/acme"));
    assert_ok(
        &verify(&own),
        "a receipt against its own tenant's checkpoint",
    );
    let other = write(files.path(), "other.json", &receipt("trailkeep/beta"));
    let output = verify(&other);
    assert_failed(&output, "a receipt against another tenant's checkpoint");
    assert!(
        support::stdout(&output).contains("trailkeep/beta"),
        "{}",
        support::describe(&output)
    );
}
