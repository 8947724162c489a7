//! Webhook delivery through two `kill -9`s: a real receiver (`tests/webhook_receiver.py`, which
//! checks every request with the `standardwebhooks` package from PyPI) is subscribed, 10,000
//! events are ingested in batches, and the real `trailkeep serve` is SIGKILLed twice while it
//! delivers them and started again on the same data directory. In the end every event arrived
//! at least once, every request's signature verified, messages arrived in seq order, and an
//! event that arrived twice came both times under one `webhook-id`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use trailkeep_store_postgres::testing::TestSchema;

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

/// The receiver process and its files.
struct Endpoint {
    _process: ChildGuard,
    url: String,
    secret_file: PathBuf,
    log_file: PathBuf,
}

impl Endpoint {
    /// Starts `webhook_receiver.py` with its files in `dir`.
    fn start(dir: &Path) -> Self {
        let python = python_venv("standardwebhooks-venv", STANDARD_WEBHOOKS).join("bin/python");
        let (secret_file, log_file, port_file) = (
            dir.join("secret"),
            dir.join("received.ndjson"),
            dir.join("port"),
        );
        let process = Command::new(&python)
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
        let process = ChildGuard(Some(process));
        let started = Instant::now();
        while !port_file.exists() {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "the receiver did not start"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        let port = std::fs::read_to_string(&port_file).unwrap();
        Endpoint {
            _process: process,
            url: format!("http://127.0.0.1:{port}/hook"),
            secret_file,
            log_file,
        }
    }

    /// Subscribes it through `admin` and hands it the secret.
    async fn subscribe(&self, admin: &Api) {
        let created = admin
            .post("/v1/webhooks")
            .json(&json!({
                "url": self.url,
                "event_types": ["audit.log.created"],
                "description": "kill -9 test",
            }))
            .send()
            .await
            .unwrap();
        assert_eq!(created.status(), 201);
        let created: Value = created.json().await.unwrap();
        std::fs::write(&self.secret_file, created["secret"].as_str().unwrap()).unwrap();
    }

    /// Checks what arrived: seqs `0..total` each at least once, every signature verified,
    /// messages in seq order, a repeated event only under one webhook-id. Answers how many
    /// messages were sent again.
    fn check(&self, total: usize) -> usize {
        let log = logged(&self.log_file);
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
        for request in &log {
            if !seen.insert(request.id.clone()) {
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
            "{} requests, {} distinct messages, {} sent again",
            log.len(),
            seen.len(),
            log.len() - seen.len()
        );
        log.len() - seen.len()
    }
}

/// Ingests `EVENTS` events through `api` in batches of `BATCH`.
async fn ingest(api: &Api) {
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
        let answer = api.post_json(&Value::Array(events)).await.unwrap();
        assert_eq!(answer.status(), 201);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deliveries_survive_two_kill_9s_verified_in_order_and_at_least_once() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let endpoint = Endpoint::start(dir.path());
    let mut server = Server::start_with(&data, &[], &SETTINGS);
    let admin = Api::new(&server.url(), admin_token(&data));
    endpoint.subscribe(&admin).await;
    ingest(&admin).await;
    // The subscription's own making (seq 0) and the events after it.
    let total = EVENTS + 1;
    for fraction in [3, 6] {
        wait_for_seqs(
            &endpoint.log_file,
            total * fraction / 10,
            Duration::from_secs(120),
            &server.log_handle(),
        );
        server.kill();
        server = Server::start_with(&data, &[], &SETTINGS);
    }
    wait_for_seqs(
        &endpoint.log_file,
        total,
        Duration::from_secs(180),
        &server.log_handle(),
    );
    endpoint.check(total);
    let _ = server.terminate();
}

/// The node holding the lease on `tenant`'s webhook partition, by its listening address.
async fn lease_holder(url: &str, tenant: &str) -> Option<String> {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    let partition = trailkeep_store::lease::partition(tenant, 16);
    let row = client
        .query_opt(
            "SELECT body FROM documents WHERE tenant = '' AND kind = 'lease' AND id = $1",
            &[&format!("webhooks/{partition}")],
        )
        .await
        .unwrap()?;
    let body: Value = serde_json::from_str(row.get::<_, &str>(0)).unwrap();
    Some(body["holder"].as_str()?.to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_two_postgres_nodes_the_survivor_takes_delivery_over_from_a_killed_one() {
    let schema = TestSchema::new().await;
    let url = schema.url();
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("signing.key").display().to_string();
    let mut env = SETTINGS.to_vec();
    env.push((
        "TRAILKEEP_JWT_SECRET",
        "two-nodes-share-this-hs256-secret-0123456789",
    ));
    env.push(("TRAILKEEP_STORE__SIGNING_KEY", &key));
    let data: Vec<PathBuf> = (0..2)
        .map(|n| dir.path().join(format!("node-{n}")))
        .collect();
    let mut nodes: Vec<Option<Server>> = data
        .iter()
        .map(|d| Some(Server::start_with(d, &["--store", &url], &env)))
        .collect();
    let endpoint = Endpoint::start(dir.path());
    let token = {
        let output = crate::support::run_command(
            crate::support::command()
                .env(
                    "TRAILKEEP_JWT_SECRET",
                    "two-nodes-share-this-hs256-secret-0123456789",
                )
                .args([
                    "token",
                    "--tenant",
                    "acme",
                    "--scope",
                    "audit:read audit:write audit:admin",
                ]),
        );
        assert!(output.status.success(), "{}", describe(&output));
        stdout(&output).trim().to_owned()
    };
    let apis: Vec<Api> = nodes
        .iter()
        .map(|n| Api::new(&n.as_ref().unwrap().url(), token.clone()))
        .collect();
    endpoint.subscribe(&apis[0]).await;
    ingest(&apis[1]).await;
    let total = EVENTS + 1;
    wait_for_seqs(
        &endpoint.log_file,
        total * 3 / 10,
        Duration::from_secs(120),
        &nodes[0].as_ref().unwrap().log_handle(),
    );
    let holder = lease_holder(&url, "acme")
        .await
        .expect("a node holds the partition");
    let doomed = nodes
        .iter()
        .position(|n| holder.starts_with(&n.as_ref().unwrap().addr.to_string()))
        .expect("the holder is one of the nodes");
    nodes[doomed].take().unwrap().kill();
    let survivor = nodes[1 - doomed].as_ref().unwrap();
    wait_for_seqs(
        &endpoint.log_file,
        total,
        Duration::from_secs(180),
        &survivor.log_handle(),
    );
    endpoint.check(total);
    let now_holding = lease_holder(&url, "acme")
        .await
        .expect("the partition is held");
    assert!(
        now_holding.starts_with(&survivor.addr.to_string()),
        "the survivor took the partition over: {now_holding}"
    );
}
