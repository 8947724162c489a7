//! Many nodes on one PostgreSQL database: three `trailkeep serve --store URL` processes take
//! writes for one tenant at once; one of them is killed with SIGKILL in the middle. Then:
//! every acknowledged event is stored exactly once with the seq it was acknowledged with, the
//! seqs are dense, every checkpoint any node served is signed by the shared key and is the
//! root of the stored events at its size (so each is consistent with every later one), a
//! write acknowledged by one node is read at once on another, and `trailkeep verify --store`
//! passes.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};
use trailkeep_api::IngestResponse;
use trailkeep_ledger::{Checkpoint, MemoryTree, NoteVerifier, leaf_hash, verify_consistency};
use trailkeep_store_postgres::testing::TestSchema;

use crate::support::{self, Api, Server};

/// The HS256 secret every node shares, so that one token works on all of them.
const SECRET: &str = "three-nodes-share-this-hs256-secret-0123456789";
/// Writers per node.
const WRITERS: usize = 3;

/// An event a node acknowledged with 201.
#[derive(Debug, Clone)]
struct Ack {
    node: usize,
    id: String,
    seq: u64,
}

/// The warning and error lines of a server's log.
fn problems(log: &str) -> String {
    log.lines()
        .filter(|l| l.contains(" WARN ") || l.contains(" ERROR "))
        .collect::<Vec<_>>()
        .join("\n")
}

fn token(tenant: &str) -> String {
    let output = support::run_command(
        support::command()
            .env("TRAILKEEP_JWT_SECRET", SECRET)
            .args(["token", "--tenant", tenant]),
    );
    assert!(output.status.success(), "{}", support::describe(&output));
    support::stdout(&output).trim().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_on_one_database_lose_nothing_when_one_is_killed() {
    let schema = TestSchema::new().await;
    let url = schema.url();
    let shared = tempfile::tempdir().expect("temp dir");
    let key = shared.path().join("signing.key");
    let key_env = key.display().to_string();
    let env = [
        ("TRAILKEEP_JWT_SECRET", SECRET),
        ("TRAILKEEP_STORE__SIGNING_KEY", key_env.as_str()),
    ];
    let dirs: Vec<tempfile::TempDir> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    // The first node makes the shared key; the others start with it.
    let mut nodes: Vec<Option<Server>> = Vec::new();
    for dir in &dirs {
        nodes.push(Some(Server::start_with(
            dir.path(),
            &["--store", &url],
            &env,
        )));
    }
    let token = token("acme");
    // What each node logged, for a failure's message.
    let logs: Arc<Vec<Box<dyn Fn() -> String + Send + Sync>>> = Arc::new(
        nodes
            .iter()
            .map(|n| {
                Box::new(n.as_ref().unwrap().log_handle()) as Box<dyn Fn() -> String + Send + Sync>
            })
            .collect(),
    );
    let apis: Vec<Api> = nodes
        .iter()
        .map(|n| Api::new(&n.as_ref().unwrap().url(), token.clone()))
        .collect();

    let alive = Arc::new([
        AtomicBool::new(true),
        AtomicBool::new(true),
        AtomicBool::new(true),
    ]);
    let stop = Arc::new(AtomicBool::new(false));
    let acks: Arc<Mutex<Vec<Ack>>> = Arc::default();
    let cross_reads = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut writers = Vec::new();
    for node in 0..3 {
        for writer in 0..WRITERS {
            let (apis, alive, stop, acks, cross_reads, logs) = (
                apis.clone(),
                alive.clone(),
                stop.clone(),
                acks.clone(),
                cross_reads.clone(),
                logs.clone(),
            );
            writers.push(tokio::spawn(async move {
                let mut round = 0usize;
                while !stop.load(Ordering::Relaxed) {
                    let events: Vec<Value> = (0..1 + (writer + round) % 4)
                        .map(|i| json!({"action": "doc.created", "metadata": {"node": node, "writer": writer, "round": round, "i": i}}))
                        .collect();
                    round += 1;
                    let Ok(response) = apis[node].post_json(&json!(events)).await else {
                        // The node is gone: only the killed node's writers get here.
                        assert!(!alive[node].load(Ordering::SeqCst), "node {node} failed a write while alive");
                        return;
                    };
                    let status = response.status().as_u16();
                    let Ok(text) = response.text().await else {
                        assert!(!alive[node].load(Ordering::SeqCst));
                        return;
                    };
                    assert_eq!(
                        status,
                        201,
                        "node {node} answered {text}; it logged these warnings and errors:\n{}",
                        problems(&logs[node]())
                    );
                    let answer: IngestResponse = serde_json::from_str(&text).expect("an ingest answer");
                    let receipts = answer.receipts;
                    acks.lock().unwrap().extend(receipts.iter().map(|r| Ack {
                        node,
                        id: r.id.clone(),
                        seq: r.seq,
                    }));
                    // Read-your-writes across nodes: another live node has it at once.
                    let other = (1..3)
                        .map(|k| (node + k) % 3)
                        .find(|&n| alive[n].load(Ordering::SeqCst));
                    if let Some(other) = other {
                        let id = &receipts[0].id;
                        match apis[other].get(&format!("/v1/events/{id}")).send().await {
                            Ok(response) if alive[other].load(Ordering::SeqCst) => {
                                assert_eq!(
                                    response.status().as_u16(),
                                    200,
                                    "node {other} does not have event {id} that node {node} acknowledged"
                                );
                                let event: Value = response.json().await.expect("an event");
                                assert_eq!(event["seq"].as_u64(), Some(receipts[0].seq));
                                cross_reads.fetch_add(1, Ordering::Relaxed);
                            }
                            _ => {}
                        }
                    }
                }
            }));
        }
    }
    // Checkpoints as the nodes serve them, from whichever node is alive.
    let notes: Arc<Mutex<Vec<(usize, String)>>> = Arc::default();
    let collector = {
        let (apis, alive, stop, notes) = (apis.clone(), alive.clone(), stop.clone(), notes.clone());
        tokio::spawn(async move {
            let mut turn = 0;
            while !stop.load(Ordering::Relaxed) {
                let node = turn % 3;
                turn += 1;
                if !alive[node].load(Ordering::SeqCst) {
                    continue;
                }
                if let Ok(response) = apis[node].get("/v1/ledger/checkpoint").send().await
                    && response.status().as_u16() == 200
                    && let Ok(note) = response.text().await
                {
                    notes.lock().unwrap().push((node, note));
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
    };

    tokio::time::sleep(Duration::from_millis(1500)).await;
    let before_kill = acks.lock().unwrap().len();
    alive[1].store(false, Ordering::SeqCst);
    nodes[1].take().unwrap().kill();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    stop.store(true, Ordering::SeqCst);
    for writer in writers {
        writer.await.expect("a writer panicked");
    }
    collector.await.unwrap();
    let acks = acks.lock().unwrap().clone();
    let by_node = |n| acks.iter().filter(|a| a.node == n).count();
    assert!(
        by_node(0) > 0 && by_node(1) > 0 && by_node(2) > 0,
        "every node acknowledged writes: {} / {} / {}",
        by_node(0),
        by_node(1),
        by_node(2)
    );
    assert!(
        acks.len() > before_kill,
        "the other nodes went on after the kill"
    );
    assert!(cross_reads.load(Ordering::Relaxed) > 0);

    // Every acknowledged event exactly once, with its seq; seqs dense.
    let stored = apis[2].list_all().await;
    let mut by_seq: BTreeMap<u64, (String, Vec<u8>)> = BTreeMap::new();
    for raw in &stored {
        let event: Value = serde_json::from_str(raw).unwrap();
        let seq = event["seq"].as_u64().unwrap();
        let id = event["id"].as_str().unwrap().to_owned();
        let earlier = by_seq.insert(seq, (id, raw.as_bytes().to_vec()));
        assert!(earlier.is_none(), "seq {seq} is stored twice");
    }
    let size = by_seq.len() as u64;
    assert_eq!(
        by_seq.keys().copied().collect::<Vec<_>>(),
        (0..size).collect::<Vec<_>>(),
        "seqs are dense"
    );
    let ids: HashMap<&str, u64> = by_seq
        .iter()
        .map(|(s, (id, _))| (id.as_str(), *s))
        .collect();
    assert_eq!(ids.len() as u64, size, "every id is stored once");
    for ack in &acks {
        assert_eq!(
            ids.get(ack.id.as_str()),
            Some(&ack.seq),
            "event {} acknowledged by node {} at seq {}",
            ack.id,
            ack.node,
            ack.seq
        );
    }

    // Every served checkpoint is signed by the shared key and is the root of the stored events
    // at its size: all of them lie on one tree.
    let vkey = apis[0].get_text("/v1/ledger/key").await;
    let verifier = NoteVerifier::from_vkey(vkey.trim()).expect("the vkey parses");
    let mut tree = MemoryTree::new();
    for (_, bytes) in by_seq.values() {
        tree.push(leaf_hash(bytes));
    }
    let notes = notes.lock().unwrap().clone();
    assert!(!notes.is_empty(), "no node served a checkpoint");
    let mut served = Vec::new();
    for (node, note) in &notes {
        let checkpoint = Checkpoint::open(note, &verifier).unwrap_or_else(|e| {
            panic!("node {node} served a checkpoint that does not verify: {e}")
        });
        assert!(checkpoint.size <= size);
        let root = trailkeep_ledger::root(&mut tree.clone(), checkpoint.size)
            .unwrap_or_else(|never| match never {});
        assert_eq!(
            checkpoint.root, root,
            "node {node}'s checkpoint at size {} is not the stored tree's",
            checkpoint.size
        );
        served.push(checkpoint);
    }
    // A node's consistency proof links the first checkpoint served to the last.
    served.sort_by_key(|c| c.size);
    let (first, last) = (&served[0], &served[served.len() - 1]);
    if first.size < last.size {
        let proof = apis[2]
            .get_json(&format!(
                "/v1/ledger/proofs/consistency?first={}&second={}",
                first.size, last.size
            ))
            .await;
        let hashes: Vec<Vec<u8>> = proof["hashes"]
            .as_array()
            .unwrap_or_else(|| panic!("{proof}"))
            .iter()
            .map(|h| STANDARD.decode(h.as_str().unwrap()).unwrap())
            .collect();
        verify_consistency(first.size, last.size, &hashes, &first.root, &last.root)
            .expect("the consistency proof verifies");
    }
    eprintln!(
        "acknowledged {} events (nodes 0/1/2: {}/{}/{}; {before_kill} before the kill), \
         {size} stored, {} checkpoints served from {} to {}, {} reads on another node",
        acks.len(),
        by_node(0),
        by_node(1),
        by_node(2),
        notes.len(),
        first.size,
        last.size,
        cross_reads.load(Ordering::Relaxed)
    );
    // The final checkpoint covers everything once the nodes stop.
    for node in [0, 2] {
        let status = nodes[node].take().unwrap().terminate();
        assert!(status.success(), "node {node} stopped with {status:?}");
    }
    let output = support::run_command(support::command().args(["verify", "--store", &url]));
    assert!(
        output.status.success(),
        "verify --store failed: {}",
        support::describe(&output)
    );
    let report = support::stdout(&output);
    assert!(
        report.contains(&format!("ok  tenant acme: {size} events")),
        "{report}"
    );
    drop(schema);
}
