//! `trailkeep export` against a running `trailkeep serve`: the job runs in the server, the CLI
//! downloads the file, its manifest and proofs and verifies them; `trailkeep verify --export`
//! names the line someone changed afterwards.

use serde_json::json;

use crate::support::{self, Server};

/// A token of `tenant` with every role (`trailkeep token` mints read and write only).
pub fn export_token(data_dir: &std::path::Path, tenant: &str) -> String {
    let output = support::run(&[
        "token",
        "--tenant",
        tenant,
        "--scope",
        "audit:read audit:write audit:export",
        "--data-dir",
        support::path_str(data_dir),
    ]);
    assert!(output.status.success(), "{}", support::describe(&output));
    support::stdout(&output).trim().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_exports_downloads_and_verifies_and_verify_names_a_changed_line() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = Server::start(&data);
    let api = server.client("acme");
    let events: Vec<_> = (0..50)
        .map(|i| json!({"action": if i % 2 == 0 { "user.login" } else { "doc.read" }, "description": format!("event {i}")}))
        .collect();
    api.ingest(&json!(events)).await;
    let vkey = api.get_text("/v1/ledger/key").await.trim().to_owned();
    let token = export_token(&data, "acme");
    let output_file = dir.path().join("logins.ndjson");
    let url = server.url();
    let output = support::run(&[
        "export",
        "--server",
        &url,
        "--token",
        &token,
        "--filter",
        "action=user.login",
        "--vkey",
        &vkey,
        "-o",
        support::path_str(&output_file),
    ]);
    assert!(output.status.success(), "{}", support::describe(&output));
    let said = support::stdout(&output);
    assert!(said.contains("ok  verified 25 events"), "{said}");
    assert!(dir.path().join("logins.manifest").exists());
    assert!(dir.path().join("logins.proofs.ndjson").exists());

    let verify = |vkey: &str| {
        support::run(&[
            "verify",
            "--export",
            support::path_str(&output_file),
            "--vkey",
            vkey,
        ])
    };
    let clean = verify(&vkey);
    assert_eq!(
        clean.status.code(),
        Some(0),
        "{}",
        support::describe(&clean)
    );
    // Line 7's description changes by one character.
    let text = std::fs::read_to_string(&output_file).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    lines[6] = lines[6].replacen("event ", "Event ", 1);
    std::fs::write(&output_file, lines.join("\n") + "\n").unwrap();
    let tampered = verify(&vkey);
    assert_eq!(
        tampered.status.code(),
        Some(1),
        "{}",
        support::describe(&tampered)
    );
    assert!(
        support::stdout(&tampered).contains("line 7:"),
        "{}",
        support::describe(&tampered)
    );
    // Another key: the manifest itself is refused.
    let other = trailkeep_ledger::NoteSigner::generate("trailkeep")
        .unwrap()
        .verifier()
        .to_vkey();
    let refused = verify(&other);
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        support::stdout(&refused).contains("manifest"),
        "{}",
        support::describe(&refused)
    );
    let status = server.terminate();
    assert!(status.success());
}

/// An export cut off by `kill -9` halfway through its file is claimed again once its lease runs
/// out after the restart, runs to completion, and its file is whole and verifies.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_export_killed_halfway_is_run_again_after_restart_and_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let lease = [("TRAILKEEP_JOBS__LEASE_SECONDS", "2")];
    let server = Server::start_with(&data, &[], &lease);
    let api = server.client("acme");
    for batch in 0..5 {
        let events: Vec<_> = (0..10_000)
            .map(|i| json!({"action": "doc.read", "metadata": {"batch": batch, "i": i}}))
            .collect();
        api.ingest(&json!(events)).await;
    }
    let vkey = api.get_text("/v1/ledger/key").await.trim().to_owned();
    let exporter = support::Api::new(&server.url(), export_token(&data, "acme"));
    let id = exporter.request_export(&json!({"format": "ndjson"})).await;
    // Killed once part of the file is written.
    let partial = data.join("exports").join(format!("{id}.ndjson.partial"));
    let halfway = tokio::time::timeout(std::time::Duration::from_secs(60), async {
        loop {
            if std::fs::metadata(&partial).is_ok_and(|m| m.len() > 1_000_000) {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(2)).await;
        }
    })
    .await;
    assert!(
        halfway.is_ok(),
        "the export never got halfway: {}",
        server.log()
    );
    server.kill();

    let server = Server::start_with(&data, &[], &lease);
    let exporter = support::Api::new(&server.url(), export_token(&data, "acme"));
    let done = exporter
        .finished_export(&id, std::time::Duration::from_secs(120))
        .await;
    assert_eq!(done["state"], "succeeded", "{done}");
    assert_eq!(
        done["attempts"], 2,
        "claimed again once the dead worker's lease ran out"
    );
    assert!(
        !partial.exists(),
        "the partial file was replaced by the whole one"
    );
    let file = dir.path().join("export.ndjson");
    for (part, path) in [
        ("file", file.clone()),
        ("manifest", dir.path().join("export.manifest")),
        ("proofs", dir.path().join("export.proofs.ndjson")),
    ] {
        let text = exporter.get_text(&format!("/v1/exports/{id}/{part}")).await;
        std::fs::write(path, text).unwrap();
    }
    let verified = support::run(&[
        "verify",
        "--export",
        support::path_str(&file),
        "--vkey",
        &vkey,
    ]);
    assert_eq!(
        verified.status.code(),
        Some(0),
        "{}",
        support::describe(&verified)
    );
    assert!(
        support::stdout(&verified).contains("50001 events"),
        "{}",
        support::describe(&verified)
    );
    assert!(server.terminate().success());
}
