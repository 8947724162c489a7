//! The offline commands that work on a stopped data directory: `trailkeep reindex` rebuilds the
//! query index the server then starts with, and fails clearly on a directory without data;
//! `trailkeep bench query` loads, indexes and times every query shape end to end.

use std::time::Duration;

use serde_json::{Value, json};

use crate::support::{self, Server, describe, run, run_command_within, stderr, stdout};

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

#[test]
fn bench_query_times_every_shape_and_reuses_its_data_dir() {
    let data = tempfile::tempdir().expect("temp dir");
    let dir = data.path().join("bench");
    let bench = |runs: &str| {
        let output = run_command_within(
            support::command().args([
                "bench",
                "query",
                "--events",
                "2000",
                "--runs",
                runs,
                "--data-dir",
                support::path_str(&dir),
            ]),
            Duration::from_secs(180),
        );
        assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
        stdout(&output)
    };

    let first = bench("3");
    assert!(
        first.contains("load: 2,100 events (2,000 in \"bench\", 100 in 3 other tenants)"),
        "{first}"
    );
    for shape in [
        "1 list: actor_id + last 30 days",
        "2 list: action=contract.*",
        "3 target history",
        "4 full text: q=murabaha",
        "5 metadata: currency=SAR + region",
        "6 deep paging: 10 pages by cursor",
        "7 page/per_page=50 + exact total",
        "8 stats: all events by action, category, day",
        "9 stats: actor_id",
    ] {
        let row = first
            .lines()
            .find(|l| l.starts_with(shape))
            .unwrap_or_else(|| panic!("no row for {shape:?}:\n{first}"));
        // The last four columns: p50, p99, max (ms) and mean hits.
        let columns: Vec<&str> = row.split_whitespace().rev().take(4).collect();
        let figures: Vec<f64> = columns[1..]
            .iter()
            .rev()
            .map(|f| {
                f.parse()
                    .unwrap_or_else(|_| panic!("not a number in {row:?}"))
            })
            .collect();
        assert!(
            figures[0] <= figures[1] && figures[1] <= figures[2],
            "p50 <= p99 <= max in {row:?}"
        );
    }
    let stats_row = first.lines().find(|l| l.starts_with("8 stats")).unwrap();
    assert!(
        stats_row.ends_with(" 2,000"),
        "stats over the bench tenant count exactly its events: {stats_row:?}"
    );

    let again = bench("1");
    assert!(
        again.contains("load: skipped, tenant \"bench\" already holds 2,000 events"),
        "{again}"
    );
}

#[test]
fn bench_query_removes_its_temporary_directory() {
    let output = run_command_within(
        support::command().args(["bench", "query", "--events", "500", "--runs", "1"]),
        Duration::from_secs(180),
    );
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let text = stdout(&output);
    let dir = text
        .lines()
        .find_map(|l| l.strip_prefix("data directory: "))
        .unwrap_or_else(|| panic!("no data directory line:\n{text}"));
    assert!(
        !std::path::Path::new(dir).exists(),
        "{dir} must be removed after the run"
    );
}
