//! Tamper evidence, offline: after a clean stop, one stored event of tenant `beta` (seq 7) is
//! altered directly in `trailkeep.db`; `trailkeep verify` must exit 1 and name the tenant (and,
//! when the leaf hash column was left alone, the seq). An attacker who also recomputes the leaf
//! hash is still caught by the signed checkpoints, and the server refuses to start on such data.

use std::path::Path;

use rusqlite::{Connection, params};
use serde_json::json;
use trailkeep_ledger::leaf_hash;

use crate::support::{self, Server};

/// Events per tenant: three batches of four, so several checkpoints may be signed.
const EVENTS: usize = 12;

/// Ingests `EVENTS` events for `alpha` and `beta`, stops the server with SIGTERM, checks the
/// untouched directory verifies, and returns the vkey the server published.
async fn prepare(dir: &Path) -> String {
    let server = Server::start(dir);
    let mut vkey = String::new();
    for tenant in ["alpha", "beta"] {
        let api = server.client(tenant);
        for batch in 0..EVENTS / 4 {
            let events: Vec<_> = (0..4)
                .map(|i| json!({"action": "doc.created", "metadata": {"n": batch * 4 + i}}))
                .collect();
            let receipts = api.ingest(&json!(events)).await;
            let seqs: Vec<u64> = receipts.iter().map(|r| r.seq).collect();
            let first = (batch * 4) as u64;
            assert_eq!(seqs, (first..first + 4).collect::<Vec<_>>());
        }
        vkey = api.get_text("/v1/ledger/key").await.trim().to_owned();
    }
    let status = server.terminate();
    assert!(status.success(), "serve exited with {status:?} on SIGTERM");
    let output = verify(dir, None);
    assert_eq!(
        output.status.code(),
        Some(0),
        "the untouched directory must verify: {}",
        support::describe(&output)
    );
    assert!(
        support::stdout(&output).contains(&format!("verified 2 tenants, {} events", 2 * EVENTS)),
        "{}",
        support::describe(&output)
    );
    vkey
}

fn verify(dir: &Path, vkey: Option<&str>) -> std::process::Output {
    let mut args = vec!["verify", "--data-dir", support::path_str(dir)];
    if let Some(vkey) = vkey {
        args.extend(["--vkey", vkey]);
    }
    support::run(&args)
}

/// Rewrites `doc.created` to `doc.deleted` (same length) in beta's event at seq 7, and, with
/// `fix_leaf_hash`, the leaf hash column to match the new bytes.
fn tamper_beta_seq_7(dir: &Path, fix_leaf_hash: bool) {
    let conn = Connection::open(dir.join("trailkeep.db")).expect("open trailkeep.db");
    let tenant_id: i64 = conn
        .query_row("SELECT id FROM tenants WHERE name = 'beta'", [], |r| {
            r.get(0)
        })
        .expect("tenant beta exists");
    let key = (tenant_id << 40) | 7;
    let body: Vec<u8> = conn
        .query_row("SELECT body FROM events WHERE key = ?1", [key], |r| {
            r.get(0)
        })
        .expect("beta's seq 7 exists");
    let text = String::from_utf8(body).expect("the body is UTF-8 JSON");
    assert!(
        text.contains("\"seq\":7") && text.contains("\"tenant\":\"beta\""),
        "key {key} holds {text}"
    );
    let tampered = text.replacen("doc.created", "doc.deleted", 1);
    assert_ne!(tampered, text, "nothing to tamper with in {text}");
    assert_eq!(tampered.len(), text.len());
    let changed = if fix_leaf_hash {
        conn.execute(
            "UPDATE events SET body = ?1, leaf_hash = ?2 WHERE key = ?3",
            params![
                tampered.as_bytes(),
                &leaf_hash(tampered.as_bytes())[..],
                key
            ],
        )
    } else {
        conn.execute(
            "UPDATE events SET body = ?1 WHERE key = ?2",
            params![tampered.as_bytes(), key],
        )
    }
    .expect("update the event");
    assert_eq!(changed, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_names_the_event_whose_bytes_were_changed() {
    let dir = tempfile::tempdir().expect("temp dir");
    let vkey = prepare(dir.path()).await;
    tamper_beta_seq_7(dir.path(), false);

    for trusted in [None, Some(vkey.as_str())] {
        let output = verify(dir.path(), trusted);
        assert_eq!(
            output.status.code(),
            Some(1),
            "verify (vkey {trusted:?}) must fail: {}",
            support::describe(&output)
        );
        let out = support::stdout(&output);
        assert!(
            out.contains("FAILED tenant beta, seq 7"),
            "verify (vkey {trusted:?}) must name beta's seq 7: {}",
            support::describe(&output)
        );
        assert!(!out.contains("verified 2 tenants"), "{out}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_catches_a_change_with_a_recomputed_leaf_hash() {
    let dir = tempfile::tempdir().expect("temp dir");
    let vkey = prepare(dir.path()).await;
    tamper_beta_seq_7(dir.path(), true);

    for trusted in [None, Some(vkey.as_str())] {
        let output = verify(dir.path(), trusted);
        assert_eq!(
            output.status.code(),
            Some(1),
            "verify (vkey {trusted:?}) must fail: {}",
            support::describe(&output)
        );
        let out = support::stdout(&output);
        assert!(
            out.contains("FAILED tenant beta") && out.contains("checkpoint"),
            "verify (vkey {trusted:?}) must name tenant beta and the checkpoint: {}",
            support::describe(&output)
        );
    }

    // The server must not extend a ledger whose leaves no longer match the signed checkpoint.
    let output = support::run_command_within(
        support::command().args([
            "serve",
            "--data-dir",
            support::path_str(dir.path()),
            "--listen",
            "127.0.0.1:0",
        ]),
        std::time::Duration::from_secs(20),
    );
    assert!(
        !output.status.success(),
        "serve must refuse tampered data: {}",
        support::describe(&output)
    );
    let err = support::stderr(&output);
    assert!(
        err.contains("tenant beta") && err.contains("trailkeep verify"),
        "serve must say which tenant is altered and what to run: {}",
        support::describe(&output)
    );
    assert!(!err.contains("panicked"), "{err}");
}
