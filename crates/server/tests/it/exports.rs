//! `/v1/exports`: queued, run by the job runner, downloaded, verified; bad requests queue
//! nothing.

use serde_json::{Value, json};
use sha2::Digest;
use trailkeep_event::Timestamp;
use trailkeep_ledger::{Checkpoint, MemoryTree, NoteVerifier, leaf_hash};

use crate::support::{Client, Engine, TestServer};

const EXPORTER: &str = "audit:read audit:write audit:export";

async fn request(client: &Client, body: Value) -> Value {
    let answer = client
        .post("/v1/exports", "application/json", body.to_string())
        .await;
    assert_eq!(answer.status, 202, "{}", answer.text);
    let created = answer.json();
    assert_eq!(
        answer.headers["location"].to_str().unwrap(),
        created["status_url"].as_str().unwrap()
    );
    created
}

async fn an_export_is_queued_run_downloaded_and_verifies_against_the_signed_root(engine: Engine) {
    let server = TestServer::start_on(engine).await;
    let acme = server.client("acme", EXPORTER);
    let events: Vec<Value> = (0..120)
        .map(|i| json!({"action": "doc.read", "metadata": {"i": i}}))
        .collect();
    assert_eq!(acme.post_json(&Value::Array(events)).await.status, 201);
    let created = request(&acme, json!({"format": "ndjson"})).await;
    assert_eq!(created["state"], "queued");
    assert_eq!(created["tenant"], "acme");
    let id = created["id"].as_str().unwrap();
    let export = acme.finished_export(id).await;
    assert_eq!(export["state"], "succeeded", "{export}");
    assert_eq!(
        export["events_written"], 121,
        "the 120 and the request itself"
    );
    let file = acme.get(&format!("/v1/exports/{id}/file")).await;
    assert_eq!(file.status, 200);
    assert_eq!(file.content_type(), "application/x-ndjson");
    assert_eq!(
        file.text.len() as u64,
        export["file"]["bytes"].as_u64().unwrap()
    );
    assert_eq!(
        hex::encode(sha2::Sha256::digest(file.text.as_bytes())),
        export["file"]["sha256"].as_str().unwrap()
    );
    let vkey = acme.get("/v1/ledger/key").await.text;
    let verifier = NoteVerifier::from_vkey(vkey.trim()).unwrap();
    let manifest = acme.get(&format!("/v1/exports/{id}/manifest")).await;
    assert_eq!(manifest.status, 200);
    let manifest = trailkeep_jobs::export::Manifest::open(&manifest.text, &verifier)
        .expect("the manifest verifies with the ledger key");
    assert_eq!(
        manifest.file.sha256,
        export["file"]["sha256"].as_str().unwrap()
    );
    let checkpoint = Checkpoint::open(&manifest.checkpoint, &verifier).unwrap();
    let mut tree = MemoryTree::new();
    for line in file.text.lines() {
        tree.push(leaf_hash(line.as_bytes()));
    }
    assert_eq!(tree.root(), checkpoint.root);
    // Its proofs file: a line per event, leaf hashes with empty audit paths (the leaves
    // rebuild the root); the download is in the trail.
    let proofs = acme.get(&format!("/v1/exports/{id}/proofs")).await;
    assert_eq!(proofs.status, 200);
    assert_eq!(proofs.text.lines().count(), 121);
    let first: Value = serde_json::from_str(proofs.text.lines().next().unwrap()).unwrap();
    assert_eq!(first["proof"], json!([]));
    let trail = acme.all_events().await;
    let actions: Vec<&str> = trail
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    for action in [
        "audit.export.requested",
        "audit.export.completed",
        "audit.export.downloaded",
    ] {
        assert!(actions.contains(&action), "{action} in {actions:?}");
    }
    let listed = acme.get("/v1/exports").await.json();
    assert_eq!(listed["data"][0]["id"], id);
}

async fn csv_exports_take_columns_and_filters_like_the_listing(engine: Engine) {
    let server = TestServer::start_on(engine).await;
    let acme = server.client("acme", EXPORTER);
    acme.post_json(&json!([
        {"action": "user.login", "actor": {"id": "ann"}},
        {"action": "user.login", "actor": {"id": "bob"}},
        {"action": "doc.read", "actor": {"id": "ann"}},
    ]))
    .await;
    let body = json!({
        "format": "csv",
        "filter": {"action": ["user.*"], "actor_id": "ann"},
        "columns": ["action", "actor.id"],
    });
    let id = request(&acme, body).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let export = acme.finished_export(&id).await;
    assert_eq!(export["state"], "succeeded", "{export}");
    let file = acme.get(&format!("/v1/exports/{id}/file")).await;
    assert_eq!(file.content_type(), "text/csv; charset=utf-8");
    assert_eq!(file.text, "action,actor.id\r\nuser.login,ann\r\n");
}

async fn bad_export_requests_are_refused_and_queue_nothing(engine: Engine) {
    let server = TestServer::start_on(engine).await;
    let acme = server.client("acme", EXPORTER);
    for (body, field) in [
        (json!({"format": "xml"}), None),
        (json!({"format": "csv", "filter": {"actorid": "x"}}), None),
        (
            json!({"format": "csv", "filter": {"since": "yesterday"}}),
            None,
        ),
        (
            json!({"format": "csv", "filter": {"action": 7}}),
            Some("filter.action"),
        ),
        (
            json!({"format": "csv", "columns": ["secret"]}),
            Some("columns"),
        ),
        (
            json!({"format": "csv", "destination": {"type": "ftp"}}),
            None,
        ),
        (json!({"format": "csv", "extra": 1}), None),
    ] {
        let answer = acme
            .post("/v1/exports", "application/json", body.to_string())
            .await;
        let problem = answer.problem(400);
        if let Some(field) = field {
            assert_eq!(problem["errors"][0]["field"], field, "{body}: {problem}");
        }
    }
    assert_eq!(acme.get("/v1/exports").await.json()["data"], json!([]));
    assert!(
        acme.all_events().await.is_empty(),
        "no request was recorded"
    );
    acme.get("/v1/exports/job_missing").await.problem(404);
    acme.get("/v1/exports?limit=0").await.problem(400);
}

/// `url` fetched with no credential at all.
async fn fetch_anonymously(url: &str) -> crate::support::Answer {
    crate::support::read(reqwest::get(url).await.unwrap()).await
}

/// A link's token with `from` replaced by `to` inside its signed text.
fn bent(url: &str, from: &str, to: &str) -> String {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let (base, token) = url.rsplit_once('/').unwrap();
    let note = String::from_utf8(URL_SAFE_NO_PAD.decode(token).unwrap()).unwrap();
    assert!(note.contains(from), "{note}");
    format!("{base}/{}", URL_SAFE_NO_PAD.encode(note.replace(from, to)))
}

async fn signed_links_download_an_export_without_a_credential_until_bent_or_expired(
    engine: Engine,
) {
    let server = TestServer::start_on(engine).await;
    let acme = server.client("acme", EXPORTER);
    acme.post_json(&json!([{"action": "doc.read"}, {"action": "doc.updated"}]))
        .await;
    let id = request(&acme, json!({"format": "ndjson"})).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(acme.finished_export(&id).await["state"], "succeeded");
    // An empty body takes the defaults: a day, but never past the removal of the files, which
    // this server keeps for an hour.
    let made = acme
        .post(&format!("/v1/exports/{id}/links"), "application/json", "")
        .await;
    assert_eq!(made.status, 201, "{}", made.text);
    let links = made.json();
    let expires = Timestamp::parse(links["expires_at"].as_str().unwrap()).unwrap();
    let hours = (expires.as_micros() - Timestamp::now().as_micros()) as f64 / 3.6e9;
    assert!((0.95..=1.0).contains(&hours), "{links}");
    let base = format!("http://{}/v1/export-links/", server.addr);
    for part in ["file", "manifest", "proofs"] {
        let url = links[part].as_str().unwrap();
        assert!(url.starts_with(&base), "{part}: {url}");
        let by_link = fetch_anonymously(url).await;
        assert_eq!(by_link.status, 200, "{part}: {}", by_link.text);
        let by_credential = acme.get(&format!("/v1/exports/{id}/{part}")).await;
        assert_eq!(by_link.text, by_credential.text, "{part}");
    }
    // The link is bound to its tenant, export, file and time: bent, it does not open.
    let file = links["file"].as_str().unwrap();
    for (from, to) in [
        ("\"acme\"", "\"beta\""),
        ("\"file\"", "\"manifest\""),
        (id.as_str(), "exp_other"),
    ] {
        let refused = fetch_anonymously(&bent(file, from, to)).await;
        assert_eq!(refused.status, 403, "{from} -> {to}: {}", refused.text);
        assert!(refused.text.contains("not valid"), "{}", refused.text);
    }
    // Its life is bounded.
    for expires_in in [0, 59, 604_801] {
        let refused = acme
            .post(
                &format!("/v1/exports/{id}/links"),
                "application/json",
                json!({"expires_in": expires_in}).to_string(),
            )
            .await;
        assert_eq!(refused.problem(400)["errors"][0]["field"], "expires_in");
    }
    // Another tenant cannot make links to acme's export.
    let beta = server.client("beta", EXPORTER);
    let hidden = beta
        .post(&format!("/v1/exports/{id}/links"), "application/json", "")
        .await;
    assert_eq!(hidden.status, 404, "{}", hidden.text);
    // Making the links and the download through one are in acme's trail.
    let trail = acme.all_events().await;
    assert!(
        trail
            .iter()
            .any(|e| e["action"] == "audit.export.link_created"),
        "{trail:?}"
    );
    let through_link = trail
        .iter()
        .find(|e| e["action"] == "audit.export.downloaded" && e["metadata"]["via"] == "signed link")
        .expect("the download through the link is recorded");
    assert_eq!(through_link["actor"]["type"], "signed_link");
    assert_eq!(through_link["target"]["id"], id.as_str());
}

crate::on_both_engines!(
    an_export_is_queued_run_downloaded_and_verifies_against_the_signed_root,
    csv_exports_take_columns_and_filters_like_the_listing,
    signed_links_download_an_export_without_a_credential_until_bent_or_expired,
    bad_export_requests_are_refused_and_queue_nothing,
);
