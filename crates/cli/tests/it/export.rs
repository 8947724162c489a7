//! `trailkeep export` against a running `trailkeep serve`: the job runs in the server, the CLI
//! downloads the file, its manifest and proofs and verifies them; `trailkeep verify --export`
//! names the line someone changed afterwards.

use serde_json::json;

use crate::support::{self, Server};

/// A token of `tenant` with every role (`trailkeep token` mints read and write only).
fn export_token(data_dir: &std::path::Path, tenant: &str) -> String {
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
