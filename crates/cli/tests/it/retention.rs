//! Retention, legal holds and erasure through a running `trailkeep serve`, on the embedded
//! engine and on PostgreSQL: exactly the expected events become tombstones, held ones stay
//! whole, `trailkeep verify` passes on the store and on an export and counts the tombstones,
//! every checkpoint signed before still verifies and is linked to the newest by a consistency
//! proof; an erasure leaves nothing of the person in events, the index or exports; an altered
//! tombstone or event is named by verify.

use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};
use trailkeep_api::hash_from_b64;
use trailkeep_event::Timestamp;
use trailkeep_ledger::{Checkpoint, Hash, NoteVerifier, verify_consistency, verify_inclusion};
use trailkeep_store_postgres::testing::TestSchema;

use crate::support::{self, Api, Server};

/// The HS256 secret of these servers, so that the test mints tokens for either engine.
const SECRET: &str = "retention-tests-share-this-hs256-secret-01234";
const DAY_MS: i64 = 24 * 3600 * 1000;
/// Days of simulated history.
const DAYS: i64 = 100;
/// The actor a legal hold is placed on.
const HELD: &str = "u3";

/// A token of `tenant` with every role.
fn admin_token(tenant: &str) -> String {
    let output = support::run_command(support::command().env("TRAILKEEP_JWT_SECRET", SECRET).args(
        [
            "token",
            "--tenant",
            tenant,
            "--scope",
            "audit:read audit:write audit:export audit:admin",
        ],
    ));
    assert!(output.status.success(), "{}", support::describe(&output));
    support::stdout(&output).trim().to_owned()
}

/// Where a test's server keeps its events.
enum Engine {
    Embedded,
    Postgres(TestSchema),
}

/// A server on `engine`, its data directory under `dir`.
fn start(engine: &Engine, dir: &Path) -> Server {
    let key = dir.join("signing.key").display().to_string();
    let env = [
        ("TRAILKEEP_JWT_SECRET", SECRET),
        ("TRAILKEEP_STORE__SIGNING_KEY", key.as_str()),
    ];
    let data = dir.join("data");
    match engine {
        Engine::Embedded => Server::start_with(&data, &[], &env),
        Engine::Postgres(schema) => Server::start_with(&data, &["--store", &schema.url()], &env),
    }
}

/// `trailkeep verify` of the engine's store (the server stopped, for the embedded one).
fn verify_store(engine: &Engine, dir: &Path, vkey: &str) -> std::process::Output {
    match engine {
        Engine::Embedded => support::run(&[
            "verify",
            "--data-dir",
            support::path_str(&dir.join("data")),
            "--vkey",
            vkey,
            "--quiet",
        ]),
        Engine::Postgres(schema) => support::run(&[
            "verify",
            "--store",
            &schema.url(),
            "--vkey",
            vkey,
            "--quiet",
        ]),
    }
}

/// Polls `path` until its `state` is final (at most a minute); answers it.
async fn finished(api: &Api, path: &str) -> Value {
    tokio::time::timeout(Duration::from_secs(60), async {
        loop {
            let status = api.get_json(path).await;
            if status["state"] != "queued" && status["state"] != "running" {
                return status;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("{path} did not finish within a minute"))
}

async fn send(api: &Api, method: reqwest::Method, path: &str, body: &Value) -> Value {
    let response = api
        .http_request(method, path)
        .json(body)
        .send()
        .await
        .expect("request");
    let status = response.status();
    let answer: Value = response.json().await.expect("a JSON answer");
    assert!(status.is_success(), "{path} answered {status}: {answer}");
    answer
}

/// Downloads export `id`'s file, manifest and proofs into `dir`; answers the file's path.
async fn download_export(api: &Api, id: &str, dir: &Path) -> std::path::PathBuf {
    let file = dir.join("trail.ndjson");
    for (route, path) in [
        ("file", file.clone()),
        ("manifest", dir.join("trail.manifest")),
        ("proofs", dir.join("trail.proofs.ndjson")),
    ] {
        let text = api.get_text(&format!("/v1/exports/{id}/{route}")).await;
        std::fs::write(&path, text).expect("write the download");
    }
    file
}

/// An unfiltered NDJSON export of the tenant, downloaded into `dir` and checked with
/// `trailkeep verify --export`; answers what verify said and the file's text.
async fn export_and_verify(api: &Api, dir: &Path, vkey: &str) -> (String, String) {
    let id = api.request_export(&json!({"format": "ndjson"})).await;
    let done = api.finished_export(&id, Duration::from_secs(60)).await;
    assert_eq!(done["state"], "succeeded", "{done}");
    let file = download_export(api, &id, dir).await;
    let output = support::run(&[
        "verify",
        "--export",
        support::path_str(&file),
        "--vkey",
        vkey,
        "--quiet",
    ]);
    assert!(output.status.success(), "{}", support::describe(&output));
    (
        support::stdout(&output),
        std::fs::read_to_string(&file).unwrap(),
    )
}

fn b64_hash(text: &str) -> Hash {
    Hash::try_from(hash_from_b64(text).expect("base64").as_slice()).expect("32 bytes")
}

async fn retention_keeps_the_ledger_verifiable(engine: Engine) {
    let dir = tempfile::tempdir().unwrap();
    let server = start(&engine, dir.path());
    let api = Api::new(&server.url(), admin_token("acme"));
    let vkey = api.get_text("/v1/ledger/key").await.trim().to_owned();
    let verifier = NoteVerifier::from_vkey(&vkey).unwrap();

    // 100 days of history, four events a day by four actors, sent ten days at a time; a
    // checkpoint kept after each batch.
    let now = Timestamp::now_millis();
    let mut sent = Vec::new();
    let mut checkpoints = Vec::new();
    for first_day in (0..DAYS).step_by(10) {
        let mut events = Vec::new();
        for day in first_day..first_day + 10 {
            let at = Timestamp::millis_rfc3339(now - day * DAY_MS - DAY_MS / 2);
            let actor = format!("u{}", day % 4);
            for action in ["user.login", "doc.read", "doc.updated", "user.logout"] {
                let id = format!("ev-{day}-{action}");
                events.push(json!({
                    "id": id, "action": action, "occurred_at": at,
                    "actor": {"id": actor, "email": format!("{actor}@example.com")},
                    "context": {"ip_address": "198.51.100.7"},
                    "metadata": {"day": day},
                }));
                sent.push((id, day, action, actor.clone()));
            }
        }
        let receipts = api.ingest(&json!(events)).await;
        let size = receipts.last().unwrap().seq + 1;
        checkpoints.push(
            api.get_text(&format!("/v1/ledger/checkpoint?min_size={size}"))
                .await,
        );
    }

    send(
        &api,
        reqwest::Method::PUT,
        "/v1/retention",
        &json!({"default_days": 30, "overrides": [{"action": "user.login", "days": 7}]}),
    )
    .await;
    let hold = send(
        &api,
        reqwest::Method::POST,
        "/v1/legal-holds",
        &json!({"scope": {"type": "actor", "id": HELD}, "reason": "matter 2026-114"}),
    )
    .await;
    assert_eq!(hold["state"], "standing");
    let run = send(
        &api,
        reqwest::Method::POST,
        "/v1/retention/runs",
        &json!({}),
    )
    .await;
    let run = finished(&api, run["status_url"].as_str().unwrap()).await;
    assert_eq!(run["state"], "succeeded", "{run}");

    // Exactly the expected events are tombstones; the held ones are whole.
    let mut expected_removed = 0;
    let mut held = 0;
    for (id, day, action, actor) in &sent {
        let event = api.get_json(&format!("/v1/events/{id}")).await;
        let past = if *action == "user.login" {
            *day >= 7
        } else {
            *day >= 30
        };
        let removed = past && actor != HELD;
        held += u64::from(past && actor == HELD);
        if removed {
            expected_removed += 1;
            assert_eq!(event["redaction"]["reason"], "retention", "{id}: {event}");
            assert_eq!(
                event["redaction"]["removed"],
                json!(["actor", "context", "metadata"]),
                "{id}"
            );
            assert_eq!(event["action"], *action);
            assert!(event.get("actor").is_none(), "{id}: {event}");
        } else {
            assert!(event.get("redaction").is_none(), "{id} is whole: {event}");
            assert_eq!(event["actor"]["id"], *actor);
            assert_eq!(event["metadata"]["day"], *day);
        }
    }
    assert_eq!(run["result"]["removed"], expected_removed, "{run}");
    assert_eq!(run["result"]["held"], held, "{run}");
    assert!(
        expected_removed > 200 && held > 10,
        "{expected_removed} {held}"
    );

    // The trail records the policy, the hold, the run and each batch's removal.
    let trail = api.list_all().await;
    for action in [
        "audit.retention.updated",
        "audit.legal_hold.placed",
        "audit.retention.requested",
        "trailkeep.redaction",
        "audit.retention.completed",
    ] {
        assert!(
            trail
                .iter()
                .any(|e| e.contains(&format!("\"action\":\"{action}\""))),
            "no {action} in the trail"
        );
    }

    // Every checkpoint signed before the run verifies, proves a removed event's kept leaf,
    // and is linked to the newest by a consistency proof.
    let newest_note = api.get_text("/v1/ledger/checkpoint").await;
    let newest = Checkpoint::open(&newest_note, &verifier).expect("the newest verifies");
    let removed_seq = api.get_json("/v1/events/ev-50-doc.read").await["seq"]
        .as_u64()
        .unwrap();
    let removed_leaf = api.get_json("/v1/events/ev-50-doc.read").await["redaction"]["leaf_hash"]
        .as_str()
        .map(|h| hex::decode(h).unwrap())
        .unwrap();
    for note in &checkpoints {
        let old = Checkpoint::open(note, &verifier).expect("an old checkpoint still verifies");
        let proof = api
            .get_json(&format!(
                "/v1/ledger/proofs/consistency?first={}&second={}",
                old.size, newest.size
            ))
            .await;
        let hashes: Vec<Hash> = proof["hashes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| b64_hash(h.as_str().unwrap()))
            .collect();
        verify_consistency(old.size, newest.size, &hashes, &old.root, &newest.root)
            .unwrap_or_else(|e| panic!("{} -> {}: {e}", old.size, newest.size));
        if removed_seq < old.size {
            let proof = api
                .get_json(&format!(
                    "/v1/ledger/proofs/inclusion?seq={removed_seq}&tree_size={}",
                    old.size
                ))
                .await;
            let path: Vec<Hash> = proof["hashes"]
                .as_array()
                .unwrap()
                .iter()
                .map(|h| b64_hash(h.as_str().unwrap()))
                .collect();
            let leaf = Hash::try_from(removed_leaf.as_slice()).unwrap();
            verify_inclusion(&leaf, removed_seq, old.size, &path, &old.root)
                .expect("a tombstone's kept leaf is in every old checkpoint");
        }
    }

    // An unfiltered export verifies, tombstones and all.
    let (said, _) = export_and_verify(&api, dir.path(), &vkey).await;
    assert!(
        said.contains(&format!(
            "{expected_removed} tombstones ({expected_removed} retention)"
        )),
        "{said}"
    );
    // And the store, offline.
    if matches!(engine, Engine::Embedded) {
        assert!(server.terminate().success());
    }
    let output = verify_store(&engine, dir.path(), &vkey);
    assert!(output.status.success(), "{}", support::describe(&output));
    let said = support::stdout(&output);
    assert!(
        said.contains(&format!(
            "{expected_removed} tombstones ({expected_removed} retention)"
        )),
        "{said}"
    );
}

async fn an_erasure_leaves_nothing_of_the_person(engine: Engine) {
    let dir = tempfile::tempdir().unwrap();
    let server = start(&engine, dir.path());
    let api = Api::new(&server.url(), admin_token("acme"));
    let vkey = api.get_text("/v1/ledger/key").await.trim().to_owned();
    let person = json!({"id": "u-ann", "email": "Ann.Lee@Example.com", "name": "Ann Lee"});
    let other = json!({"id": "u-bob", "email": "bob@example.com", "name": "Bob Roe"});
    let events: Vec<Value> = (0..40)
        .map(|i| {
            json!({
                "id": format!("e{i}"),
                "action": if i % 2 == 0 { "user.login" } else { "invoice.paid" },
                "actor": if i % 4 < 2 { person.clone() } else { other.clone() },
                "target": {"type": "invoice", "id": format!("inv-{i}")},
                "context": {"ip_address": if i % 4 < 2 { "203.0.113.9" } else { "198.51.100.2" },
                            "user_agent": "Mozilla/5.0"},
                "metadata": {"amount": i},
            })
        })
        .collect();
    api.ingest(&json!(events)).await;
    // An export made before the erasure holds the person's data.
    let before = api.request_export(&json!({"format": "ndjson"})).await;
    api.finished_export(&before, Duration::from_secs(60)).await;
    let found = api
        .get_json("/v1/events?actor_email=ann.lee@example.com&limit=100")
        .await;
    assert_eq!(found["data"].as_array().unwrap().len(), 20);

    let erasure = send(
        &api,
        reqwest::Method::POST,
        "/v1/erasures",
        &json!({"email": "ann.lee@example.com", "fields": ["actor.email", "actor.name", "context.ip_address"], "reason": "DSAR 2026-0042"}),
    )
    .await;
    assert!(
        !erasure.to_string().contains("ann.lee"),
        "the answer repeats the e-mail: {erasure}"
    );
    let erasure = finished(&api, erasure["status_url"].as_str().unwrap()).await;
    assert_eq!(erasure["state"], "succeeded", "{erasure}");
    assert_eq!(erasure["result"]["matched"], 20, "{erasure}");
    assert_eq!(erasure["result"]["erased"], 20, "{erasure}");
    assert_eq!(
        erasure["result"]["files_removed"], 3,
        "the earlier export's three files: {erasure}"
    );
    let gone = api
        .get(&format!("/v1/exports/{before}/file"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        gone.status().as_u16(),
        404,
        "the earlier export's file is gone"
    );

    // Nothing of the person is left in any event, and the rest of their events is readable.
    let trail = api.list_all().await;
    for event in &trail {
        for gone in [
            "Ann.Lee@Example.com",
            "ann.lee@example.com",
            "Ann Lee",
            "203.0.113.9",
        ] {
            assert!(!event.contains(gone), "{gone} is still in {event}");
        }
    }
    for i in (0..40).filter(|i| i % 4 < 2) {
        let event = api.get_json(&format!("/v1/events/e{i}")).await;
        assert_eq!(event["actor"]["id"], "u-ann");
        assert_eq!(event["target"]["id"], format!("inv-{i}"));
        assert_eq!(event["context"]["user_agent"], "Mozilla/5.0");
        assert_eq!(event["metadata"]["amount"], i);
        assert_eq!(event["redaction"]["reason"], "erasure");
        assert_eq!(
            event["redaction"]["removed"],
            json!(["actor.email", "actor.name", "context.ip_address"])
        );
    }
    let bob = api.get_json("/v1/events/e2").await;
    assert_eq!(bob["actor"]["email"], "bob@example.com");
    assert!(bob.get("redaction").is_none());

    // No index entry finds them: by e-mail, by address, by name as free text (their id,
    // `u-ann`, is kept, so "ann" is still a token).
    tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            let mut left = 0;
            for query in ["actor_email=ann.lee@example.com", "ip=203.0.113.9", "q=Lee"] {
                let page = api.get_json(&format!("/v1/events?{query}&limit=100")).await;
                left += page["data"].as_array().unwrap().len();
            }
            if left == 0 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
    .await
    .expect("the index still finds the erased person");
    let stats = api
        .get_json("/v1/stats?actor_email=ann.lee@example.com")
        .await;
    assert_eq!(stats["total"], 0, "{stats}");

    // The erasure is on the record with counts, without the identifiers.
    let completed = trail
        .iter()
        .find(|e| e.contains("\"action\":\"audit.erasure.completed\""))
        .expect("the completion is recorded");
    let completed: Value = serde_json::from_str(completed).unwrap();
    assert_eq!(completed["metadata"]["erased"], 20);
    assert!(
        trail
            .iter()
            .any(|e| e.contains("\"action\":\"audit.erasure.requested\""))
    );
    assert!(
        trail
            .iter()
            .any(|e| e.contains("\"action\":\"trailkeep.redaction\""))
    );

    // A new export holds nothing of them and verifies; so does the store.
    let (said, text) = export_and_verify(&api, dir.path(), &vkey).await;
    assert!(said.contains("20 tombstones (20 erasure)"), "{said}");
    for gone in ["ann.lee@example.com", "Ann Lee", "203.0.113.9"] {
        assert!(
            !text
                .to_ascii_lowercase()
                .contains(&gone.to_ascii_lowercase()),
            "{gone} is in the export"
        );
    }
    if matches!(engine, Engine::Embedded) {
        assert!(server.terminate().success());
    }
    let output = verify_store(&engine, dir.path(), &vkey);
    assert!(output.status.success(), "{}", support::describe(&output));
    assert!(
        support::stdout(&output).contains("20 tombstones (20 erasure)"),
        "{}",
        support::stdout(&output)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_keeps_the_ledger_verifiable_on_the_embedded_engine() {
    retention_keeps_the_ledger_verifiable(Engine::Embedded).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_keeps_the_ledger_verifiable_on_postgres() {
    retention_keeps_the_ledger_verifiable(Engine::Postgres(TestSchema::new().await)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_erasure_leaves_nothing_of_the_person_on_the_embedded_engine() {
    an_erasure_leaves_nothing_of_the_person(Engine::Embedded).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_erasure_leaves_nothing_of_the_person_on_postgres() {
    an_erasure_leaves_nothing_of_the_person(Engine::Postgres(TestSchema::new().await)).await;
}

/// One stored row of tenant `acme`: its body and its leaf hash column, read and written
/// behind the server's back.
struct Rows<'a> {
    engine: &'a Engine,
    dir: &'a Path,
}

impl Rows<'_> {
    async fn read(&self, seq: u64) -> (Vec<u8>, Vec<u8>) {
        match self.engine {
            Engine::Embedded => {
                let conn = rusqlite::Connection::open(self.dir.join("data/trailkeep.db")).unwrap();
                conn.query_row(
                    "SELECT body, leaf_hash FROM events WHERE key = \
                     ((SELECT id FROM tenants WHERE name = 'acme') << 40) | ?1",
                    [seq as i64],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .unwrap()
            }
            Engine::Postgres(schema) => {
                let client = connect(schema).await;
                let row = client
                    .query_one(
                        "SELECT body, leaf_hash FROM events WHERE tenant = 'acme' AND seq = $1",
                        &[&(seq as i64)],
                    )
                    .await
                    .unwrap();
                (row.get(0), row.get(1))
            }
        }
    }

    async fn write(&self, seq: u64, body: &[u8], leaf: &[u8]) {
        match self.engine {
            Engine::Embedded => {
                let conn = rusqlite::Connection::open(self.dir.join("data/trailkeep.db")).unwrap();
                let changed = conn
                    .execute(
                        "UPDATE events SET body = ?1, leaf_hash = ?2 WHERE key = \
                         ((SELECT id FROM tenants WHERE name = 'acme') << 40) | ?3",
                        rusqlite::params![body, leaf, seq as i64],
                    )
                    .unwrap();
                assert_eq!(changed, 1);
            }
            Engine::Postgres(schema) => {
                let changed = connect(schema)
                    .await
                    .execute(
                        "UPDATE events SET body = $1, leaf_hash = $2 WHERE tenant = 'acme' AND seq = $3",
                        &[&body, &leaf, &(seq as i64)],
                    )
                    .await
                    .unwrap();
                assert_eq!(changed, 1);
            }
        }
    }
}

async fn connect(schema: &TestSchema) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(&schema.url(), tokio_postgres::NoTls)
        .await
        .expect("connect to PostgreSQL");
    tokio::spawn(connection);
    client
}

/// `text` with its first `from` replaced by `to` (of the same length), asserting it was there.
fn replaced(text: &[u8], from: &str, to: &str) -> Vec<u8> {
    let text = String::from_utf8(text.to_vec()).unwrap();
    assert!(text.contains(from), "no {from} in {text}");
    assert_eq!(from.len(), to.len());
    text.replacen(from, to, 1).into_bytes()
}

async fn altered_tombstones_and_events_are_named(engine: Engine) {
    let dir = tempfile::tempdir().unwrap();
    let server = start(&engine, dir.path());
    let api = Api::new(&server.url(), admin_token("acme"));
    let vkey = api.get_text("/v1/ledger/key").await.trim().to_owned();
    let events: Vec<Value> = (0..12)
        .map(|i| {
            json!({"action": "user.login", "actor": {"id": format!("u{}", i % 2), "email": format!("p{}@example.com", i % 2)}})
        })
        .collect();
    api.ingest(&json!(events)).await;
    let erasure = send(
        &api,
        reqwest::Method::POST,
        "/v1/erasures",
        &json!({"actor_id": "u1", "reason": "DSAR 7"}),
    )
    .await;
    let erasure = finished(&api, erasure["status_url"].as_str().unwrap()).await;
    assert_eq!(erasure["result"]["erased"], 6, "{erasure}");
    // Seq 1 is a tombstone (u1's first event), seq 0 is whole (u0's).
    assert!(
        api.get_text("/v1/events?actor_id=u1&order=asc&limit=1")
            .await
            .contains("\"seq\":1")
    );
    if matches!(engine, Engine::Embedded) {
        assert!(server.terminate().success());
    } else {
        drop(server);
    }
    let rows = Rows {
        engine: &engine,
        dir: dir.path(),
    };
    let check = |expected: &'static str, named: &'static str| {
        let output = verify_store(&engine, dir.path(), &vkey);
        assert_eq!(
            output.status.code(),
            Some(1),
            "{expected}: {}",
            support::describe(&output)
        );
        let said = support::stdout(&output);
        assert!(
            said.contains(named),
            "{expected}: verify must say {named:?}: {said}"
        );
    };
    let output = verify_store(&engine, dir.path(), &vkey);
    assert!(output.status.success(), "{}", support::describe(&output));

    let (tombstone, leaf) = rows.read(1).await;
    let kept = hex::encode(&leaf);
    let mut other = leaf.clone();
    other[0] ^= 1;
    let other_hex = hex::encode(&other);

    // The kept leaf hash in the tombstone changed.
    rows.write(1, &replaced(&tombstone, &kept, &other_hex), &leaf)
        .await;
    check(
        "a changed kept hash",
        "FAILED tenant acme, seq 1: the tombstone's kept leaf hash",
    );
    // The leaf hash column changed.
    rows.write(1, &tombstone, &other).await;
    check(
        "a changed leaf column",
        "FAILED tenant acme, seq 1: the tombstone's kept leaf hash",
    );
    // Both changed alike: the tree no longer matches the signed checkpoints.
    rows.write(1, &replaced(&tombstone, &kept, &other_hex), &other)
        .await;
    check("both changed", "do not match the signed checkpoint");
    // The tombstone's remaining fields changed: its record's digest no longer matches.
    rows.write(1, &replaced(&tombstone, "\"u1\"", "\"u7\""), &leaf)
        .await;
    check("a changed tombstone", "a tombstone was altered");
    rows.write(1, &tombstone, &leaf).await;

    // A whole event's body changed.
    let (whole, whole_leaf) = rows.read(0).await;
    rows.write(
        0,
        &replaced(&whole, "p0@example.com", "p9@example.com"),
        &whole_leaf,
    )
    .await;
    check(
        "a changed event",
        "FAILED tenant acme, seq 0: the stored bytes do not match",
    );
    rows.write(0, &whole, &whole_leaf).await;

    let output = verify_store(&engine, dir.path(), &vkey);
    assert!(
        output.status.success(),
        "restored: {}",
        support::describe(&output)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn altered_tombstones_and_events_are_named_on_the_embedded_engine() {
    altered_tombstones_and_events_are_named(Engine::Embedded).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn altered_tombstones_and_events_are_named_on_postgres() {
    altered_tombstones_and_events_are_named(Engine::Postgres(TestSchema::new().await)).await;
}
