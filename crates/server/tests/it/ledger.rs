//! The ledger over HTTP, checked the way an outside auditor would: only the wire data (event
//! bytes as received, checkpoint notes, the vkey, proofs) and the ledger crate's verifier.

use serde_json::{Value, json};
use trailkeep_api::hash_from_b64;
use trailkeep_ledger::{Checkpoint, NoteVerifier, leaf_hash, verify_consistency, verify_inclusion};

use crate::support::{Client, Engine, RW, TestServer};

fn b64(v: &Value) -> Vec<u8> {
    hash_from_b64(v.as_str().unwrap()).unwrap()
}

/// The raw bytes of each event in a 201 answer, exactly as received.
fn raw_events(text: &str) -> Vec<String> {
    #[derive(serde::Deserialize)]
    struct Raw {
        data: Vec<Box<serde_json::value::RawValue>>,
    }
    let raw: Raw = serde_json::from_str(text).unwrap();
    raw.data.into_iter().map(|r| r.get().to_owned()).collect()
}

/// The tenant's checkpoint covering at least `size` events.
async fn checkpoint(client: &Client, verifier: &NoteVerifier, size: u64) -> Checkpoint {
    let answer = client
        .get(&format!("/v1/ledger/checkpoint?min_size={size}"))
        .await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert!(answer.content_type().starts_with("text/plain"));
    Checkpoint::open(&answer.text, verifier).expect("the checkpoint's signature verifies")
}

struct Ingested {
    seq: u64,
    id: String,
    leaf: Vec<u8>,
}

async fn ingest(client: &Client, batches: &[usize], tag: &str) -> Vec<Ingested> {
    let mut out = Vec::new();
    for (b, &n) in batches.iter().enumerate() {
        let events: Vec<Value> = (0..n)
            .map(|i| json!({"action": format!("{tag}.created"), "metadata": {"batch": b, "i": i}}))
            .collect();
        let answer = client.post_json(&Value::Array(events)).await;
        assert_eq!(answer.status, 201, "{}", answer.text);
        let body = answer.json();
        for (raw, receipt) in raw_events(&answer.text)
            .iter()
            .zip(body["receipts"].as_array().unwrap())
        {
            let leaf = leaf_hash(raw.as_bytes());
            assert_eq!(
                leaf.to_vec(),
                b64(&receipt["leaf_hash"]),
                "the receipt hashes the bytes received"
            );
            out.push(Ingested {
                seq: receipt["seq"].as_u64().unwrap(),
                id: receipt["id"].as_str().unwrap().to_owned(),
                leaf: leaf.to_vec(),
            });
        }
    }
    out
}

async fn two_tenants_ledgers_verify_from_wire_data_alone(engine: Engine) {
    let server = TestServer::start_on(engine).await;
    let acme = server.client("acme", RW);
    let beta = server.client("beta", RW);

    let vkey = acme.get("/v1/ledger/key").await;
    assert_eq!(vkey.status, 200);
    assert_eq!(
        vkey.text,
        beta.get("/v1/ledger/key").await.text,
        "one service key"
    );
    let verifier = NoteVerifier::from_vkey(vkey.text.trim()).unwrap();

    let a1 = ingest(&acme, &[1, 3, 260], "acme").await;
    let b1 = ingest(&beta, &[2, 5], "beta").await;
    assert_eq!(
        a1.iter().map(|e| e.seq).collect::<Vec<_>>(),
        (0..264).collect::<Vec<_>>()
    );
    assert_eq!(
        b1.iter().map(|e| e.seq).collect::<Vec<_>>(),
        (0..7).collect::<Vec<_>>(),
        "beta counts on its own"
    );

    let acme_first = checkpoint(&acme, &verifier, 264).await;
    let beta_first = checkpoint(&beta, &verifier, 7).await;
    assert_eq!(acme_first.size, 264);
    assert_eq!(beta_first.size, 7);
    assert_eq!(acme_first.origin, "trailkeep/acme");
    assert_eq!(beta_first.origin, "trailkeep/beta");

    for (client, events, head) in [(&acme, &a1, &acme_first), (&beta, &b1, &beta_first)] {
        for e in events
            .iter()
            .filter(|e| e.seq % 9 == 0 || e.seq + 1 == head.size)
        {
            // The ledger endpoint.
            let proof = client
                .get(&format!(
                    "/v1/ledger/proofs/inclusion?seq={}&tree_size={}",
                    e.seq, head.size
                ))
                .await
                .json();
            assert_eq!(proof["seq"], e.seq);
            assert_eq!(proof["tree_size"], head.size);
            assert_eq!(b64(&proof["leaf_hash"]), e.leaf);
            let hashes: Vec<Vec<u8>> = proof["hashes"]
                .as_array()
                .unwrap()
                .iter()
                .map(b64)
                .collect();
            verify_inclusion(&e.leaf, e.seq, head.size, &hashes, &head.root)
                .unwrap_or_else(|err| panic!("seq {}: {err}", e.seq));
        }
    }

    // Ingest more, then prove the new trees extend the old ones, and check receipts via ?proof=1.
    let a2 = ingest(&acme, &[40], "acme").await;
    let acme_second = checkpoint(&acme, &verifier, 304).await;
    assert_eq!(acme_second.size, 304);
    let consistency = acme
        .get(&format!(
            "/v1/ledger/proofs/consistency?first={}&second={}",
            acme_first.size, acme_second.size
        ))
        .await
        .json();
    assert_eq!(consistency["first"], 264);
    assert_eq!(consistency["second"], 304);
    let hashes: Vec<Vec<u8>> = consistency["hashes"]
        .as_array()
        .unwrap()
        .iter()
        .map(b64)
        .collect();
    verify_consistency(
        acme_first.size,
        acme_second.size,
        &hashes,
        &acme_first.root,
        &acme_second.root,
    )
    .unwrap();
    assert_eq!(
        checkpoint(&beta, &verifier, 7).await,
        beta_first,
        "acme's writes leave beta's ledger alone"
    );

    for e in [&a1[0], &a1[200], &a2[39]] {
        let answer = acme.get(&format!("/v1/events/{}?proof=1", e.id)).await;
        assert_eq!(answer.status, 200, "{}", answer.text);
        #[derive(serde::Deserialize)]
        struct WithProof {
            event: Box<serde_json::value::RawValue>,
            leaf_hash: String,
            inclusion: Inclusion,
            checkpoint: String,
        }
        #[derive(serde::Deserialize)]
        struct Inclusion {
            tree_size: u64,
            hashes: Vec<String>,
        }
        let body: WithProof = serde_json::from_str(&answer.text).unwrap();
        let leaf = leaf_hash(body.event.get().as_bytes());
        assert_eq!(leaf.to_vec(), hash_from_b64(&body.leaf_hash).unwrap());
        let head = Checkpoint::open(&body.checkpoint, &verifier).unwrap();
        assert_eq!(head.size, body.inclusion.tree_size);
        assert_eq!(head.size, 304, "the proof is against the newest state");
        let hashes: Vec<Vec<u8>> = body
            .inclusion
            .hashes
            .iter()
            .map(|h| hash_from_b64(h).unwrap())
            .collect();
        verify_inclusion(&leaf, e.seq, head.size, &hashes, &head.root).unwrap();
    }

    // Beta cannot reach acme's events, even by id.
    beta.get(&format!("/v1/events/{}", a1[0].id))
        .await
        .problem(404);
    beta.get(&format!("/v1/events/{}?proof=1", a1[0].id))
        .await
        .problem(404);
}

async fn proof_requests_outside_the_tree_are_400(engine: Engine) {
    let server = TestServer::start_on(engine).await;
    let client = server.client("acme", RW);
    client.get("/v1/ledger/checkpoint").await.problem(404);
    ingest(&client, &[5], "a").await;
    for path in [
        "/v1/ledger/proofs/inclusion?seq=5&tree_size=5",
        "/v1/ledger/proofs/inclusion?seq=0&tree_size=6",
        "/v1/ledger/proofs/inclusion?seq=0",
        "/v1/ledger/proofs/inclusion?seq=x&tree_size=1",
        "/v1/ledger/proofs/consistency?first=0&second=5",
        "/v1/ledger/proofs/consistency?first=3&second=2",
        "/v1/ledger/proofs/consistency?first=1&second=99",
        "/v1/ledger/proofs/consistency?first=1&second=5&extra=1",
    ] {
        client.get(path).await.problem(400);
    }
}

crate::on_both_engines!(
    two_tenants_ledgers_verify_from_wire_data_alone,
    proof_requests_outside_the_tree_are_400,
);
