//! Webhook delivery through two `kill -9`s: a real receiver (`tests/webhook_receiver.py`, which
//! checks every request with the `standardwebhooks` package from PyPI) is subscribed, 10,000
//! events are ingested in batches, and the real `trailkeep serve` is SIGKILLed twice while it
//! delivers them and started again on the same data directory. In the end every event arrived
//! at least once, every request's signature verified, messages arrived in seq order, and an
//! event that arrived twice came both times under one `webhook-id`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::{Api, ChildGuard, Server, describe, path_str, python_venv, run, stdout};

const STANDARD_WEBHOOKS: &str = "standardwebhooks==1.1.0";
const RECEIVER: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/webhook_receiver.py");
const EVENTS: usize = 10_000;
const BATCH: usize = 250;

/// The settings every start of the server gets: loopback receivers over plain HTTP, small
/// messages (so delivery takes long enough to be cut), quick retries and short leases (the
/// restarted node takes the partitions over from the dead one when its lease runs out).
const SETTINGS: [(&str, &str); 5] = [
    ("TRAILKEEP_WEBHOOKS__ALLOW", "[\"loopback\"]"),
    ("TRAILKEEP_WEBHOOKS__ALLOW_HTTP", "true"),
    ("TRAILKEEP_WEBHOOKS__MAX_BATCH_EVENTS", "25"),
    (
        "TRAILKEEP_WEBHOOKS__RETRY_DELAYS_MS",
        "[200, 500, 1000, 2000, 4000, 8000]",
    ),
    ("TRAILKEEP_WEBHOOKS__LEASE_SECONDS", "2"),
];

/// One request the receiver logged.
#[derive(Debug, Clone)]
struct Logged {
    id: String,
    seqs: Vec<u64>,
    verified: bool,
    error: Option<String>,
}

fn logged(path: &Path) -> Vec<Logged> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .filter(|line| !line.is_empty())
        .map(|line| {
            let value: Value = serde_json::from_str(line).expect("a receiver log line");
            Logged {
                id: value["id"].as_str().unwrap_or_default().to_owned(),
                seqs: value["seqs"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|s| s.as_u64().unwrap())
                    .collect(),
                verified: value["verified"] == true,
                error: value["error"].as_str().map(str::to_owned),
            }
        })
        .collect()
}

/// The distinct seqs received so far.
fn received_seqs(log: &[Logged]) -> BTreeSet<u64> {
    log.iter().flat_map(|l| l.seqs.iter().copied()).collect()
}

/// Waits up to `limit` until the receiver has at least `count` distinct seqs.
fn wait_for_seqs(log: &Path, count: usize, limit: Duration, server_log: &dyn Fn() -> String) {
    let until = Instant::now() + limit;
    loop {
        let have = received_seqs(&logged(log)).len();
        if have >= count {
            return;
        }
        assert!(
            Instant::now() < until,
            "the receiver has {have} of {count} events after {limit:?}; server log:\n{}",
            server_log()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn admin_token(data_dir: &Path) -> String {
    let output = run(&[
        "token",
        "--tenant",
        "acme",
        "--scope",
        "audit:read audit:write audit:admin",
        "--data-dir",
        path_str(data_dir),
    ]);
    assert!(output.status.success(), "{}", describe(&output));
    stdout(&output).trim().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deliveries_survive_two_kill_9s_verified_in_order_and_at_least_once() {
    let python = python_venv("standardwebhooks-venv", STANDARD_WEBHOOKS).join("bin/python");
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (secret_file, log_file, port_file) = (
        dir.path().join("secret"),
        dir.path().join("received.ndjson"),
        dir.path().join("port"),
    );
    let receiver = Command::new(&python)
        .args([
            RECEIVER,
            path_str(&secret_file),
            path_str(&log_file),
            path_str(&port_file),
            // Each answer waits 20 ms after the request is logged: a kill right after a
            // logged request most likely cuts it off before its 2xx.
            "20",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start the receiver");
    let _receiver = ChildGuard(Some(receiver));
    let started = Instant::now();
    while !port_file.exists() {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the receiver did not start"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let port = std::fs::read_to_string(&port_file).unwrap();

    let mut server = Server::start_with(&data, &[], &SETTINGS);
    let admin = Api::new(&server.url(), admin_token(&data));
    let created = admin
        .post("/v1/webhooks")
        .json(&json!({
            "url": format!("http://127.0.0.1:{port}/hook"),
            "event_types": ["audit.log.created"],
            "description": "kill -9 test",
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let created: Value = created.json().await.unwrap();
    std::fs::write(&secret_file, created["secret"].as_str().unwrap()).unwrap();

    for batch in 0..EVENTS / BATCH {
        let events: Vec<Value> = (0..BATCH)
            .map(|i| {
                json!({
                    "id": format!("evt-{batch}-{i}"),
                    "action": "document.read",
                    "actor": {"id": format!("user-{}", i % 17)},
                    "target": {"type": "document", "id": format!("doc-{batch}")},
                })
            })
            .collect();
        let answer = admin.post_json(&Value::Array(events)).await.unwrap();
        assert_eq!(answer.status(), 201);
    }
    // The subscription's own making (seq 0) and the events after it.
    let total = EVENTS + 1;

    for fraction in [3, 6] {
        wait_for_seqs(
            &log_file,
            total * fraction / 10,
            Duration::from_secs(120),
            &server.log_handle(),
        );
        server.kill();
        server = Server::start_with(&data, &[], &SETTINGS);
    }
    wait_for_seqs(
        &log_file,
        total,
        Duration::from_secs(180),
        &server.log_handle(),
    );

    let log = logged(&log_file);
    let unverified: Vec<&Logged> = log.iter().filter(|l| !l.verified).collect();
    assert!(
        unverified.is_empty(),
        "signatures that did not verify: {unverified:?}"
    );
    assert_eq!(
        received_seqs(&log),
        (0..total as u64).collect::<BTreeSet<_>>(),
        "every event arrived"
    );
    // Each seq under one webhook-id only: a message sent again after a kill is the same
    // message.
    let mut ids_of: BTreeMap<u64, BTreeSet<&str>> = BTreeMap::new();
    for request in &log {
        for seq in &request.seqs {
            ids_of.entry(*seq).or_default().insert(&request.id);
        }
    }
    let split: Vec<_> = ids_of.iter().filter(|(_, ids)| ids.len() > 1).collect();
    assert!(
        split.is_empty(),
        "events under more than one webhook-id: {split:?}"
    );
    // In seq order: each message, the first time it arrives, carries seqs after every seq
    // before it.
    let mut seen = BTreeSet::new();
    let mut last = None;
    let mut repeats = 0;
    for request in &log {
        if !seen.insert(request.id.clone()) {
            repeats += 1;
            continue;
        }
        for seq in &request.seqs {
            assert!(
                last.is_none_or(|l| *seq > l),
                "seq {seq} arrived after {last:?}"
            );
            last = Some(*seq);
        }
        assert!(request.error.is_none());
    }
    println!(
        "{} requests, {} distinct messages, {repeats} sent again after a kill",
        log.len(),
        seen.len()
    );
    let _ = server.terminate();
}
