//! Operating the binary: SIGTERM drains and exits 0, overload sheds with 503 and never
//! acknowledges what it did not store, logs hold no secret, HTTPS with a certificate made
//! here, `config check`, and bootstrapping an admin key with `keys create`.

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::{Value, json};

use crate::support::{Api, Server, create_key, describe, path_str, run, stdout};

fn event(id: &str) -> Value {
    json!({"id": id, "action": "invoice.created", "actor": {"id": "u1", "type": "user"}})
}

/// Posts batches from `clients` tasks until `stop` flips or the server stops answering;
/// returns the ids acknowledged with 201 and the number of 503s that carried `Retry-After`.
async fn hammer(
    api: Api,
    clients: usize,
    batch: usize,
    rounds: usize,
) -> (BTreeSet<String>, usize, usize) {
    let mut tasks = Vec::new();
    for client in 0..clients {
        let api = api.clone();
        tasks.push(tokio::spawn(async move {
            let mut acked = BTreeSet::new();
            let (mut shed, mut shed_without_retry_after) = (0, 0);
            for round in 0..rounds {
                let ids: Vec<String> = (0..batch)
                    .map(|i| format!("c{client}-r{round}-e{i}"))
                    .collect();
                let body = Value::Array(ids.iter().map(|id| event(id)).collect());
                let Ok(response) = api.post_json(&body).await else {
                    break; // the server has stopped accepting
                };
                match response.status().as_u16() {
                    201 => acked.extend(ids),
                    503 => {
                        if response.headers().contains_key("retry-after") {
                            shed += 1;
                        } else {
                            shed_without_retry_after += 1;
                        }
                    }
                    other => panic!(
                        "unexpected status {other}: {}",
                        response.text().await.unwrap_or_default()
                    ),
                }
            }
            (acked, shed, shed_without_retry_after)
        }));
    }
    let mut all = BTreeSet::new();
    let (mut shed, mut bare) = (0, 0);
    for task in tasks {
        let (acked, s, b) = task.await.expect("client task");
        all.extend(acked);
        shed += s;
        bare += b;
    }
    (all, shed, bare)
}

async fn stored_ids(api: &Api) -> BTreeSet<String> {
    api.list_all()
        .await
        .iter()
        .map(|raw| {
            serde_json::from_str::<Value>(raw).unwrap()["id"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigterm_during_ingest_exits_0_keeps_every_acknowledgement_and_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let api = server.client("acme");
    let load = tokio::spawn(hammer(api, 8, 50, 400));
    tokio::time::sleep(Duration::from_millis(400)).await;
    let status = tokio::task::spawn_blocking(move || server.terminate())
        .await
        .unwrap();
    assert!(status.success(), "exit status {status:?}");
    let (acked, _, _) = load.await.unwrap();
    assert!(!acked.is_empty(), "nothing was acknowledged before SIGTERM");

    let verify = run(&["verify", "--data-dir", path_str(dir.path())]);
    assert!(verify.status.success(), "{}", describe(&verify));
    let server = Server::start(dir.path());
    let stored = stored_ids(&server.client("acme")).await;
    let lost: Vec<_> = acked.difference(&stored).collect();
    assert!(
        lost.is_empty(),
        "{} acknowledged events are gone: {:?}",
        lost.len(),
        &lost[..lost.len().min(5)]
    );
    // The final checkpoint covers everything: the ledger was signed on the way out.
    let checkpoint = server
        .client("acme")
        .get_text("/v1/ledger/checkpoint")
        .await;
    assert_eq!(
        crate::support::checkpoint_head(&checkpoint).0,
        stored.len() as u64
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_flood_past_the_write_queue_is_shed_with_503_and_every_2xx_is_stored() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_with(
        dir.path(),
        &[],
        &[
            ("TRAILKEEP_STORE__WRITE_QUEUE", "1"),
            ("TRAILKEEP_LIMITS__RATE_PER_SECOND", "0"),
        ],
    );
    let api = server.client("acme");
    let (acked, shed, bare) = hammer(api.clone(), 48, 200, 6).await;
    assert!(shed > 0, "the flood never filled the queue");
    assert_eq!(bare, 0, "a 503 without Retry-After");
    assert!(!acked.is_empty(), "nothing got through");
    // Exactly what was acknowledged is stored: no 2xx for a lost event, no event for a 503.
    assert_eq!(stored_ids(&api).await, acked);
    let metrics = reqwest::get(format!("{}/metrics", server.url()))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("trailkeep_overload_rejections_total"),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_log_never_holds_a_key_a_token_or_an_event_body() {
    let dir = tempfile::tempdir().unwrap();
    let key = create_key(dir.path(), "audit:read,audit:write,audit:admin");
    let api_key = key["key"].as_str().unwrap().to_owned();
    let secret = key["client_secret"].as_str().unwrap().to_owned();
    let server = Server::start_with(
        dir.path(),
        &["--log-format", "json"],
        &[("TRAILKEEP_LOG", "debug")],
    );
    let http = reqwest::Client::new();
    let marker = "body-marker-7f3a9c";
    let posted = http
        .post(format!("{}/v1/events", server.url()))
        .header("x-api-key", &api_key)
        .header("content-type", "application/json")
        .body(json!({"action": "note.created", "description": marker}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(posted.status(), 201);
    let exchanged: Value = http
        .post(format!("{}/v1/auth/token", server.url()))
        .json(&json!({"client_id": key["client_id"], "client_secret": secret}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = exchanged["access_token"].as_str().unwrap().to_owned();
    let listed = http
        .get(format!("{}/v1/events", server.url()))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(listed.status(), 200);
    assert!(listed.text().await.unwrap().contains(marker));
    // Failures too: a tampered token and a wrong secret.
    let tampered = format!("{token}x");
    let refused = http
        .get(format!("{}/v1/events", server.url()))
        .bearer_auth(&tampered)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);
    let wrong = format!("{}.{}", key["id"].as_str().unwrap(), "B".repeat(43));
    let refused = http
        .get(format!("{}/v1/events", server.url()))
        .header("x-api-key", &wrong)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);

    let log_reader = server.log_handle();
    let status = tokio::task::spawn_blocking(move || server.terminate())
        .await
        .unwrap();
    assert!(status.success());
    std::thread::sleep(Duration::from_millis(300)); // the reader drains the closed pipe
    let log = log_reader();
    assert!(
        log.contains("\"route\":\"/v1/events\""),
        "the debug request lines are missing:\n{log}"
    );
    for line in log.lines() {
        assert!(
            serde_json::from_str::<Value>(line).is_ok(),
            "not a JSON log line: {line}"
        );
    }
    for (what, needle) in [
        ("the API key", api_key.as_str()),
        ("the client secret", secret.as_str()),
        ("the JWT", token.as_str()),
        ("the JWT's signature", token.rsplit('.').next().unwrap()),
        ("the wrong secret", &"B".repeat(43)),
        ("the event body", marker),
    ] {
        assert!(!log.contains(needle), "the log holds {what}:\n{log}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_serves_with_a_certificate_made_here() {
    let dir = tempfile::tempdir().unwrap();
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let cert_path = dir.path().join("cert.pem");
    let key_path = dir.path().join("key.pem");
    std::fs::write(&cert_path, certified.cert.pem()).unwrap();
    std::fs::write(&key_path, certified.signing_key.serialize_pem()).unwrap();
    let data = dir.path().join("data");
    let server = Server::start_with(
        &data,
        &[
            "--tls-cert",
            path_str(&cert_path),
            "--tls-key",
            path_str(&key_path),
        ],
        &[],
    );
    let https = reqwest::Client::builder()
        .add_root_certificate(
            reqwest::Certificate::from_pem(certified.cert.pem().as_bytes()).unwrap(),
        )
        .resolve("localhost", server.addr)
        .build()
        .unwrap();
    let base = format!("https://localhost:{}", server.addr.port());
    let token = crate::support::token(&data, "acme");
    let created = https
        .post(format!("{base}/v1/events"))
        .bearer_auth(&token)
        .json(&event("over-tls"))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let listed: Value = https
        .get(format!("{base}/v1/events"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed["data"][0]["id"], "over-tls");
    // Plain HTTP on the TLS port gets no answer, and a client that does not trust the
    // certificate refuses it.
    assert!(
        reqwest::get(format!("http://{}/healthz", server.addr))
            .await
            .is_err()
    );
    let untrusting = reqwest::Client::builder()
        .resolve("localhost", server.addr)
        .build()
        .unwrap();
    assert!(
        untrusting
            .get(format!("{base}/healthz"))
            .send()
            .await
            .is_err()
    );
}

#[test]
fn config_check_prints_the_effective_settings_with_secrets_masked() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("trailkeep.toml");
    let secret = "a-configured-secret-that-is-long-enough-1234";
    std::fs::write(
        &file,
        format!("listen = \"0.0.0.0:9000\"\n[auth]\njwt_secret = \"{secret}\"\n[limits]\nrate_per_second = 5\n[jwt]\nissuer = \"https://idp.example\"\n"),
    )
    .unwrap();
    let output = run(&["config", "check", path_str(&file)]);
    assert!(output.status.success(), "{}", describe(&output));
    let text = stdout(&output);
    assert!(text.contains("listen = \"0.0.0.0:9000\""), "{text}");
    assert!(text.contains("rate_per_second = 5"), "{text}");
    assert!(text.contains("issuer = \"https://idp.example\""), "{text}");
    assert!(text.contains("jwt_secret = \"********\""), "{text}");
    assert!(!text.contains(secret), "{text}");

    // The environment overrides the file.
    let output = crate::support::run_command(
        crate::support::command()
            .args(["config", "check", path_str(&file)])
            .env("TRAILKEEP_LIMITS__RATE_PER_SECOND", "7"),
    );
    assert!(
        stdout(&output).contains("rate_per_second = 7"),
        "{}",
        describe(&output)
    );

    for (body, expected) in [
        ("[limits]\nrate_per_secnd = 5\n", "rate_per_secnd"),
        (
            "[tls]\ncert = \"/nonexistent.pem\"\n",
            "tls.cert and tls.key",
        ),
        ("[auth]\njwt_secret = \"short\"\n", "at least 32 bytes"),
        ("listen = \"nowhere\"\n", "listen"),
    ] {
        std::fs::write(&file, body).unwrap();
        let output = run(&["config", "check", path_str(&file)]);
        assert!(!output.status.success(), "{body} was accepted");
        assert!(
            crate::support::stderr(&output).contains(expected),
            "{body}: {}",
            describe(&output)
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_create_bootstraps_an_admin_and_refuses_while_a_server_runs() {
    let dir = tempfile::tempdir().unwrap();
    let admin = create_key(dir.path(), "audit:admin,audit:read,audit:write");
    let server = Server::start(dir.path());
    let http = reqwest::Client::new();
    let made = http
        .post(format!("{}/v1/api-keys", server.url()))
        .header("x-api-key", admin["key"].as_str().unwrap())
        .json(&json!({"name": "writer", "roles": ["audit:write"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(made.status(), 201);

    let busy = run(&[
        "keys",
        "create",
        "--data-dir",
        path_str(dir.path()),
        "--tenant",
        "acme",
        "--roles",
        "audit:read",
    ]);
    assert!(!busy.status.success());
    assert!(
        crate::support::stderr(&busy).contains("another trailkeep process"),
        "{}",
        describe(&busy)
    );
    let status = tokio::task::spawn_blocking(move || server.terminate())
        .await
        .unwrap();
    assert!(status.success());

    let listed = run(&[
        "keys",
        "list",
        "--data-dir",
        path_str(dir.path()),
        "--tenant",
        "acme",
    ]);
    assert!(listed.status.success(), "{}", describe(&listed));
    let text = stdout(&listed);
    assert!(
        text.contains(admin["id"].as_str().unwrap()) && text.contains("writer"),
        "{text}"
    );
    assert!(!text.contains(admin["client_secret"].as_str().unwrap()));
}
