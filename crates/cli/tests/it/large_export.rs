//! A million events exported to NDJSON by a running `trailkeep serve`: the server's resident
//! memory barely moves while the export runs, and `trailkeep verify --export` accepts the file
//! and names the line when one byte is flipped, a line removed or two lines swapped.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::support::{self, Server};

/// Events exported (`TRAILKEEP_EXPORT_EVENTS` to change it).
const EVENTS: usize = 1_000_000;

/// Most the server's resident memory may grow while the export runs.
const MOST_GROWTH_KIB: u64 = 64 * 1024;

/// A `/proc/<pid>/status` field, in KiB.
fn status_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"))
}

fn verify(file: &std::path::Path, vkey: &str) -> std::process::Output {
    support::run(&[
        "verify",
        "--quiet",
        "--export",
        support::path_str(file),
        "--vkey",
        vkey,
    ])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_million_event_export_holds_its_memory_flat_and_verifies_line_by_line() {
    let events = std::env::var("TRAILKEEP_EXPORT_EVENTS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(EVENTS);
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut server = Server::start(&data);
    let api = server.client("acme");
    let started = Instant::now();
    let batch = 10_000;
    for first in (0..events).step_by(batch) {
        let lines: Vec<_> = (first..(first + batch).min(events))
            .map(|i| {
                let action = ["user.login", "document.read", "invoice.updated"][i % 3];
                json!({
                    "action": action,
                    "actor": {"type": "user", "id": format!("user-{}", i % 997)},
                    "target": {"type": "document", "id": format!("doc-{}", i % 10_007)},
                    "context": {"ip_address": "203.0.113.7"},
                    "metadata": {"i": i, "note": "a typical audit event of a few hundred bytes"},
                })
            })
            .collect();
        let answer = api.post_ndjson(&lines).await.unwrap();
        assert_eq!(answer.status().as_u16(), 201);
    }
    eprintln!("ingested {events} events in {:?}", started.elapsed());
    let vkey = api.get_text("/v1/ledger/key").await.trim().to_owned();
    let pid = server.pid();
    // The peak from here on: the export's.
    std::fs::write(format!("/proc/{pid}/clear_refs"), "5").unwrap();
    let before = status_kib(pid, "VmRSS:");
    let exporter = support::Api::new(&server.url(), super::export::export_token(&data, "acme"));
    let id = exporter.request_export(&json!({"format": "ndjson"})).await;
    let started = Instant::now();
    let done = exporter
        .finished_export(&id, Duration::from_secs(1200))
        .await;
    let took = started.elapsed();
    assert_eq!(done["state"], "succeeded", "{done}");
    let peak = status_kib(pid, "VmHWM:");
    eprintln!(
        "exported {} events in {took:?} ({:.0}/s); resident {before} KiB before, peak {peak} KiB",
        done["events_written"],
        done["events_written"].as_f64().unwrap() / took.as_secs_f64()
    );
    assert!(
        peak.saturating_sub(before) < MOST_GROWTH_KIB,
        "the export grew the server's memory by {} KiB",
        peak - before
    );
    let file = dir.path().join("all.ndjson");
    for (part, path) in [
        ("file", file.clone()),
        ("manifest", dir.path().join("all.manifest")),
        ("proofs", dir.path().join("all.proofs.ndjson")),
    ] {
        let response = exporter
            .get(&format!("/v1/exports/{id}/{part}"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 200);
        std::fs::write(path, response.bytes().await.unwrap()).unwrap();
    }
    assert!(server.terminate().success());
    let clean = verify(&file, &vkey);
    assert_eq!(
        clean.status.code(),
        Some(0),
        "{}",
        support::describe(&clean)
    );

    let original = std::fs::read(&file).unwrap();
    let starts: Vec<usize> = std::iter::once(0)
        .chain(
            original
                .iter()
                .enumerate()
                .filter(|(_, b)| **b == b'\n')
                .map(|(i, _)| i + 1),
        )
        .collect();
    let line = |n: usize| starts[n - 1]..starts[n] - 1;
    let names = |output: &std::process::Output, n: usize| {
        assert_eq!(
            output.status.code(),
            Some(1),
            "{}",
            support::describe(output)
        );
        assert!(
            support::stdout(output).contains(&format!("line {n}:")),
            "{}",
            support::describe(output)
        );
    };
    // One byte of line 765,432 (inside its metadata note).
    let target = 765_432.min(events - 10);
    let mut flipped = original.clone();
    let at = line(target).start
        + flipped[line(target)]
            .windows(7)
            .position(|w| w == b"typical")
            .unwrap();
    flipped[at] ^= 0x20;
    std::fs::write(&file, &flipped).unwrap();
    names(&verify(&file, &vkey), target);
    // Line 500,000 removed.
    let removed_line = 500_000.min(events - 10);
    let mut removed = original.clone();
    removed.drain(starts[removed_line - 1]..starts[removed_line]);
    std::fs::write(&file, &removed).unwrap();
    names(&verify(&file, &vkey), removed_line);
    // Lines 1,000 and 1,001 swapped.
    let mut swapped = original[..starts[999]].to_vec();
    swapped.extend_from_slice(&original[starts[1000]..starts[1001]]);
    swapped.extend_from_slice(&original[starts[999]..starts[1000]]);
    swapped.extend_from_slice(&original[starts[1001]..]);
    std::fs::write(&file, &swapped).unwrap();
    names(&verify(&file, &vkey), 1000);
}
