//! Kill -9 recovery: concurrent clients of two tenants ingest single events, JSON batches and
//! NDJSON batches while the real `trailkeep serve` is SIGKILLed at a different moment in each
//! round. After each restart on the same data directory every acknowledged (201) event must be
//! there with its seq and bytes, each tenant's seqs must be dense from 0, and the signed
//! checkpoint must cover exactly the stored events; at the end `trailkeep verify` must pass.
//!
//! The default test command runs six rounds; `TRAILKEEP_CRASH_ROUNDS=50 cargo test -p
//! trailkeep-cli --test it acknowledged_events_survive` runs fifty (the kill moments cycle
//! through the list below, each round a little later than the last).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::Notify;
use trailkeep_api::IngestResponse;
use trailkeep_ledger::{Checkpoint, MemoryTree, NoteVerifier, leaf_hash};

use crate::support::{self, Api, Server};

const TENANTS: [&str; 2] = ["alpha", "beta"];
/// Concurrent clients; client `w` writes for tenant `w % 2`.
const CLIENTS: usize = 6;
/// When to kill, counted from the round's first acknowledgement: one right away, then later
/// and later, so the kill lands in different phases (first group commits, steady load, around
/// the one-second checkpoint timer).
const KILL_AFTER_MS: [u64; 6] = [0, 150, 400, 700, 1000, 1500];

/// An event the server acknowledged with 201.
#[derive(Debug, Clone)]
struct Ack {
    round: usize,
    tenant: usize,
    id: String,
    seq: u64,
    /// The event as the 201 answer returned it.
    event: Value,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_events_survive_kill_9_at_any_moment() {
    let dir = tempfile::tempdir().expect("temp dir");
    let tokens: Vec<String> = TENANTS
        .iter()
        .map(|t| support::token(dir.path(), t))
        .collect();
    let mut server = Server::start(dir.path());
    let mut acks: Vec<Ack> = Vec::new();
    let rounds = std::env::var("TRAILKEEP_CRASH_ROUNDS")
        .ok()
        .and_then(|n| n.parse::<usize>().ok())
        .unwrap_or(KILL_AFTER_MS.len());
    for round in 0..rounds {
        let delay = KILL_AFTER_MS[round % KILL_AFTER_MS.len()] + (round as u64 * 37) % 200;
        let first_of_round = acks.len();
        acks.extend(load_then_kill(server, &tokens, round, Duration::from_millis(delay)).await);
        assert!(
            acks.len() > first_of_round,
            "round {round}: nothing was acknowledged"
        );
        eprintln!("round {round}: {} acks", acks.len() - first_of_round);
        server = Server::start(dir.path());
        check_recovered(&server, &tokens, &acks, &acks[first_of_round..]).await;
    }

    let status = server.terminate();
    assert!(status.success(), "serve exited with {status:?} on SIGTERM");
    let output = support::run(&["verify", "--data-dir", support::path_str(dir.path())]);
    assert_eq!(
        output.status.code(),
        Some(0),
        "verify after the kill rounds: {}",
        support::describe(&output)
    );
    assert!(
        support::stdout(&output).contains("verified 2 tenants, "),
        "verify output: {}",
        support::describe(&output)
    );
}

/// Runs the clients against `server`, kills it `delay` after the first acknowledgement, and
/// returns everything acknowledged.
async fn load_then_kill(
    server: Server,
    tokens: &[String],
    round: usize,
    delay: Duration,
) -> Vec<Ack> {
    let stop = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(Mutex::new(Vec::new()));
    let first = Arc::new(Notify::new());
    let clients: Vec<_> = (0..CLIENTS)
        .map(|worker| {
            let tenant = worker % TENANTS.len();
            let api = Api::new(&server.url(), tokens[tenant].clone());
            tokio::spawn(client(
                api,
                Load {
                    round,
                    worker,
                    tenant,
                },
                stop.clone(),
                acked.clone(),
                first.clone(),
            ))
        })
        .collect();
    if tokio::time::timeout(Duration::from_secs(20), first.notified())
        .await
        .is_err()
    {
        stop.store(true, Ordering::SeqCst);
        panic!(
            "round {round}: no event acknowledged within 20 s; server log:\n{}",
            server.log()
        );
    }
    tokio::time::sleep(delay).await;
    server.kill();
    stop.store(true, Ordering::SeqCst);
    let mut problems = Vec::new();
    for handle in clients {
        let result = tokio::time::timeout(Duration::from_secs(40), handle)
            .await
            .expect("a client did not stop within 40 s of the kill");
        problems.extend(result.expect("a client task panicked"));
    }
    assert!(
        problems.is_empty(),
        "round {round}: unexpected answers:\n{}",
        problems.join("\n")
    );
    Arc::try_unwrap(acked)
        .expect("every client has finished")
        .into_inner()
        .expect("acks")
}

/// Who a client is.
#[derive(Clone, Copy)]
struct Load {
    round: usize,
    worker: usize,
    tenant: usize,
}

/// Posts until `stop`: a single event, a JSON array or an NDJSON body, in turn. Records every
/// 201; connection failures and 5xx (the server died or is stopping) are simply not
/// acknowledged. Returns the answers that should never happen.
async fn client(
    api: Api,
    who: Load,
    stop: Arc<AtomicBool>,
    acked: Arc<Mutex<Vec<Ack>>>,
    first: Arc<Notify>,
) -> Vec<String> {
    let mut problems = Vec::new();
    let mut n: u64 = 0;
    while !stop.load(Ordering::SeqCst) && problems.len() < 10 {
        n += 1;
        let count = match n % 3 {
            0 => 1,
            1 => 1 + n % 5,
            _ => 2 + n % 3,
        } as usize;
        let events: Vec<Value> = (0..count)
            .map(|i| {
                json!({
                    "action": "doc.created",
                    "metadata": {"round": who.round, "worker": who.worker, "n": n, "i": i},
                })
            })
            .collect();
        let sent = match n % 3 {
            0 => api.post_json(&events[0]).await,
            1 => api.post_json(&Value::Array(events.clone())).await,
            _ => api.post_ndjson(&events).await,
        };
        let Ok(response) = sent else { continue };
        let status = response.status().as_u16();
        let Ok(text) = response.text().await else {
            continue;
        };
        if status != 201 {
            if status < 500 {
                problems.push(format!("POST answered {status}: {text}"));
            }
            continue;
        }
        let answer: IngestResponse = match serde_json::from_str(&text) {
            Ok(answer) => answer,
            Err(e) => {
                problems.push(format!("a 201 answer does not parse ({e}): {text}"));
                continue;
            }
        };
        if answer.receipts.len() != count || answer.data.len() != count {
            problems.push(format!("{count} events sent, answer: {text}"));
            continue;
        }
        let mut new = Vec::with_capacity(count);
        for ((sent, raw), receipt) in events.iter().zip(&answer.data).zip(&answer.receipts) {
            let event: Value = serde_json::from_str(raw.get()).expect("RawValue is JSON");
            if event["id"] != receipt.id.as_str()
                || event["seq"] != receipt.seq
                || event["tenant"] != TENANTS[who.tenant]
                || event["metadata"] != sent["metadata"]
            {
                problems.push(format!(
                    "the answer's event does not match the request or receipt: {text}"
                ));
            }
            new.push(Ack {
                round: who.round,
                tenant: who.tenant,
                id: receipt.id.clone(),
                seq: receipt.seq,
                event,
            });
        }
        acked.lock().expect("acks").extend(new);
        first.notify_one();
    }
    problems
}

/// Checks a restarted server: every acknowledged event at its seq, dense seqs, a signed
/// checkpoint over exactly the stored bytes, and each of this round's events by id.
async fn check_recovered(server: &Server, tokens: &[String], all: &[Ack], this_round: &[Ack]) {
    let round = this_round.first().map_or(0, |a| a.round);
    let apis: Vec<Api> = tokens
        .iter()
        .map(|t| Api::new(&server.url(), t.clone()))
        .collect();
    let vkey = apis[0].get_text("/v1/ledger/key").await;
    let verifier = NoteVerifier::from_vkey(vkey.trim()).expect("the served vkey parses");

    for (t, tenant) in TENANTS.iter().enumerate() {
        let listed = apis[t].list_all().await;
        let mut by_seq: BTreeMap<u64, (String, String)> = BTreeMap::new();
        for raw in listed {
            let event: Value = serde_json::from_str(&raw).expect("a listed event is JSON");
            let seq = event["seq"].as_u64().expect("a listed event has a seq");
            assert_eq!(event["tenant"], *tenant, "round {round}: listed {raw}");
            let id = event["id"].as_str().expect("an id").to_owned();
            assert!(
                by_seq.insert(seq, (id, raw)).is_none(),
                "round {round}: tenant {tenant} lists seq {seq} twice"
            );
        }
        let size = by_seq.len() as u64;
        if let Some(gap) = (0..size).find(|s| !by_seq.contains_key(s)) {
            panic!(
                "round {round}: tenant {tenant}'s seqs are not dense: {size} events listed but seq {gap} is missing"
            );
        }
        for ack in all.iter().filter(|a| a.tenant == t) {
            let Some((id, raw)) = by_seq.get(&ack.seq) else {
                panic!(
                    "round {round}: event {} (tenant {tenant}, seq {}, acknowledged in round {}) is missing after kill -9; {size} events listed",
                    ack.id, ack.seq, ack.round
                );
            };
            assert_eq!(
                id, &ack.id,
                "round {round}: tenant {tenant} seq {} holds another event than the one acknowledged in round {}",
                ack.seq, ack.round
            );
            let stored: Value = serde_json::from_str(raw).expect("JSON");
            assert_eq!(
                stored, ack.event,
                "round {round}: acknowledged event changed"
            );
        }

        if size == 0 {
            // Killed before this tenant's first acknowledgement (round 0 kills at once): no
            // events, so no checkpoint either.
            continue;
        }
        let note = apis[t].get_text("/v1/ledger/checkpoint").await;
        let checkpoint = Checkpoint::open(&note, &verifier).unwrap_or_else(|e| {
            panic!("round {round}: the checkpoint does not verify: {e}\n{note}")
        });
        assert_eq!(
            checkpoint.size, size,
            "round {round}: tenant {tenant}'s checkpoint does not cover exactly the stored events"
        );
        let tree: MemoryTree = by_seq
            .values()
            .map(|(_, raw)| leaf_hash(raw.as_bytes()))
            .collect();
        assert_eq!(
            tree.root(),
            checkpoint.root,
            "round {round}: tenant {tenant}'s signed root is not the root of the listed events"
        );
    }

    // Every event acknowledged in this round, fetched by id, four requests at a time.
    let fetchers: Vec<_> = (0..4)
        .map(|k| {
            let mine: Vec<Ack> = this_round.iter().skip(k).step_by(4).cloned().collect();
            let apis = apis.clone();
            tokio::spawn(async move {
                for ack in mine {
                    let event = apis[ack.tenant]
                        .get_json(&format!("/v1/events/{}", ack.id))
                        .await;
                    assert_eq!(
                        event, ack.event,
                        "round {}: GET /v1/events/{} after kill -9",
                        ack.round, ack.id
                    );
                }
            })
        })
        .collect();
    for fetcher in fetchers {
        fetcher.await.expect("fetching acknowledged events by id");
    }
}
