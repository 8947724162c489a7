//! The offline command that works on a stopped data directory: `trailkeep reindex` rebuilds the
//! query index the server then starts with, and fails clearly on a directory without data.

use serde_json::{Value, json};

use crate::support::{self, Server, describe, run, stderr, stdout};

/// What the server logs at start-up when its index does not cover every event.
const CATCHING_UP: &str = "the query index will catch up in the background";

/// `count` events, the ones with an even number mentioning `word`.
fn events(count: usize, word: &str) -> Value {
    let events: Vec<Value> = (0..count)
        .map(|n| {
            let description = if n % 2 == 0 {
                format!("contract {n} reviewed, {word} clause")
            } else {
                format!("contract {n} reviewed")
            };
            json!({"action": "contract.updated", "description": description})
        })
        .collect();
    json!(events)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reindex_rebuilds_the_index_the_server_starts_with() {
    let data = tempfile::tempdir().expect("temp dir");
    let server = Server::start(data.path());
    server.client("acme").ingest(&events(40, "quokka")).await;
    server.client("globex").ingest(&events(10, "quokka")).await;
    let status = server.terminate();
    assert!(status.success(), "serve exited with {status:?}");

    // Lose the index, as a bad disk or a careless operator would.
    let index = data.path().join("index");
    std::fs::remove_dir_all(&index).expect("remove the index");
    let output = run(&["reindex", "--data-dir", support::path_str(data.path())]);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    assert_eq!(
        stdout(&output).trim(),
        "reindexed 50 events",
        "{}",
        describe(&output)
    );
    assert!(index.join("meta.json").is_file(), "no index was written");

    let server = Server::start(data.path());
    assert!(
        !server.log().contains(CATCHING_UP),
        "the rebuilt index must cover every event, so the server has nothing to catch up:\n{}",
        server.log()
    );
    let acme = server.client("acme");
    let page = acme.get_json("/v1/events?q=quokka&limit=100").await;
    let found = page["data"].as_array().expect("data array");
    assert_eq!(found.len(), 20, "{page}");
    assert!(
        found
            .iter()
            .all(|e| e["tenant"] == "acme" && e["description"].as_str().unwrap().contains("quokka")),
        "{page}"
    );
    let globex = server.client("globex");
    let page = globex.get_json("/v1/events?q=quokka&limit=100").await;
    assert_eq!(page["data"].as_array().expect("data array").len(), 5);

    // While the server runs, its indexer holds the index: reindex must refuse, not break it.
    let output = run(&["reindex", "--data-dir", support::path_str(data.path())]);
    assert_eq!(output.status.code(), Some(2), "{}", describe(&output));
    assert!(
        stderr(&output).contains("stop it first"),
        "{}",
        describe(&output)
    );
    assert!(
        index.join("meta.json").is_file(),
        "the refused reindex left the index alone"
    );
    let page = globex.get_json("/v1/events?q=quokka&limit=100").await;
    assert_eq!(page["data"].as_array().expect("data array").len(), 5);
    let status = server.terminate();
    assert!(status.success(), "serve exited with {status:?}");
}

#[test]
fn reindex_of_an_empty_directory_fails_clearly() {
    let dir = tempfile::tempdir().expect("temp dir");
    let output = run(&["reindex", "--data-dir", support::path_str(dir.path())]);
    assert_eq!(output.status.code(), Some(2), "{}", describe(&output));
    let err = stderr(&output);
    assert!(!err.contains("panicked"), "{}", describe(&output));
    assert!(
        err.starts_with("trailkeep: ")
            && err.contains("not a trailkeep data directory")
            && err.contains(support::path_str(dir.path())),
        "the message must say which directory holds no data: {}",
        describe(&output)
    );
    assert!(stdout(&output).is_empty(), "{}", describe(&output));
    assert_eq!(
        std::fs::read_dir(dir.path()).expect("list").count(),
        0,
        "reindex must not create anything in a directory without data"
    );
}
