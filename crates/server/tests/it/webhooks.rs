//! Webhooks over real HTTP on both engines: subscriptions and their trail, signed batches in
//! seq order with leaf hashes, filters and types, the retry schedule with `Retry-After` and
//! 410, giving up, the destination guard, cut-off answers, a dead endpoint beside a live one,
//! secret rotation and replay.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use trailkeep_webhooks::signature::sign;

use crate::on_both_engines;
use crate::receiver::{Received, Receiver, Reply};
use crate::support::{Client, EVERY_ROLE, Engine, Setup, TestServer, webhook_settings};

/// The longest a test waits for deliveries.
const WAIT: Duration = Duration::from_secs(30);

/// Subscribes `url` to `types` (with `filter`), answering the new subscription's body.
async fn subscribe(client: &Client, url: &str, types: &[&str], filter: Value) -> Value {
    let answer = client
        .call(
            Method::POST,
            "/v1/webhooks",
            Some(
                &json!({"url": url, "event_types": types, "filter": filter, "description": "test"}),
            ),
        )
        .await;
    assert_eq!(answer.status, 201, "{}", answer.text);
    answer.json()
}

fn events(n: usize, action: &str) -> Value {
    Value::Array(
        (0..n)
            .map(|i| json!({"action": action, "actor": {"id": format!("user-{i}")}}))
            .collect(),
    )
}

/// Whether `received` carries a `v1` signature of `secret` over its id, timestamp and body.
fn signed_by(received: &Received, secret: &str) -> bool {
    let timestamp: i64 = received.timestamp.parse().unwrap();
    let expected = sign(secret, &received.id, timestamp, &received.raw).unwrap();
    received.signatures.contains(&expected)
}

/// Every seq delivered, in arrival order, once per webhook-id.
fn delivered_seqs(received: &[Received]) -> Vec<u64> {
    let mut seen = std::collections::HashSet::new();
    received
        .iter()
        .filter(|r| seen.insert(r.id.clone()))
        .flat_map(Received::seqs)
        .collect()
}

async fn subscriptions_deliver_signed_batches_in_order(engine: Engine) {
    let server = TestServer::start_on(engine).await;
    let admin = server.client("acme", EVERY_ROLE);
    let receiver = Receiver::start().await;
    let all = subscribe(
        &admin,
        &receiver.url("/all"),
        &["audit.log.created"],
        json!({}),
    )
    .await;
    let secret = all["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("whsec_"));
    let logins = subscribe(
        &admin,
        &receiver.url("/logins"),
        &["audit.log.created"],
        json!({"action": "user.login"}),
    )
    .await;
    let exports_only = subscribe(
        &admin,
        &receiver.url("/exports"),
        &["audit.export.completed"],
        json!({}),
    )
    .await;

    for action in ["user.login", "document.read", "user.login"] {
        let answer = admin.post_json(&events(40, action)).await;
        assert_eq!(answer.status, 201, "{}", answer.text);
    }
    // The trail: 3 subscriptions created (seqs 0..3; a subscription receives the event of its
    // own making), then 120 events.
    let size = 3 + 120;
    let to_all = receiver
        .wait_for(WAIT, |r| delivered_seqs(&filtered(r, "/all")).len() >= size)
        .await;
    let to_all = filtered(&to_all, "/all");
    assert_eq!(
        delivered_seqs(&to_all),
        (0..size as u64).collect::<Vec<_>>(),
        "every event once, in seq order"
    );
    let stored = admin.all_events().await;
    for message in &to_all {
        assert!(
            signed_by(message, &secret),
            "signed with the subscription's secret"
        );
        assert_eq!(message.body["type"], "audit.log.created");
        assert!(message.body["timestamp"].as_str().unwrap().ends_with('Z'));
        assert_eq!(message.body["data"]["tenant"], "acme");
        assert_eq!(message.body["data"]["subscription"], all["webhook"]["id"]);
        assert!(
            message.seqs().len() <= 100,
            "a message holds at most 100 events"
        );
        for event in message.body["data"]["events"].as_array().unwrap() {
            let seq = event["seq"].as_u64().unwrap() as usize;
            assert_eq!(event["event"], stored[seq], "the event as stored");
            // The leaf hash is SHA-256(0x00 || the event's canonical bytes), as the ledger's.
            let canonical = serde_json::to_vec(&event["event"]).unwrap();
            let leaf = Sha256::new()
                .chain_update([0u8])
                .chain_update(&canonical)
                .finalize();
            assert_eq!(event["leaf_hash"], trailkeep_api::hash_b64(&leaf));
        }
    }
    let to_logins = receiver
        .wait_for(WAIT, |r| {
            delivered_seqs(&filtered(r, "/logins")).len() >= 80
        })
        .await;
    let logins_seqs = delivered_seqs(&filtered(&to_logins, "/logins"));
    assert_eq!(logins_seqs.len(), 80, "only the filter's events");
    for message in filtered(&to_logins, "/logins") {
        for event in message.body["data"]["events"].as_array().unwrap() {
            assert_eq!(event["event"]["action"], "user.login");
        }
        assert!(signed_by(&message, logins["secret"].as_str().unwrap()));
    }
    assert!(
        filtered(&receiver.received(), "/exports").is_empty(),
        "no export finished"
    );

    // An export finishing reaches the subscription to its type.
    let export = admin
        .call(
            Method::POST,
            "/v1/exports",
            Some(&json!({"format": "ndjson"})),
        )
        .await;
    assert_eq!(export.status, 202, "{}", export.text);
    let id = export.json()["id"].as_str().unwrap().to_owned();
    admin.finished_export(&id).await;
    let to_exports = receiver
        .wait_for(WAIT, |r| !filtered(r, "/exports").is_empty())
        .await;
    let message = &filtered(&to_exports, "/exports")[0];
    assert_eq!(message.body["type"], "audit.export.completed");
    assert_eq!(
        message.body["data"]["events"][0]["event"]["target"]["id"],
        id.as_str()
    );
    assert!(signed_by(message, exports_only["secret"].as_str().unwrap()));

    // The deliveries are logged.
    let log = admin
        .get(&format!(
            "/v1/webhooks/{}/deliveries?limit=100",
            all["webhook"]["id"].as_str().unwrap()
        ))
        .await
        .json();
    let entries = log["data"].as_array().unwrap();
    assert!(!entries.is_empty());
    assert!(
        entries
            .iter()
            .all(|e| e["delivered"] == true && e["status"] == 200 && e["answer"] == "thanks")
    );
}

/// The requests to `path`.
fn filtered(received: &[Received], path: &str) -> Vec<Received> {
    received
        .iter()
        .filter(|r| r.path == path)
        .cloned()
        .collect()
}

async fn subscriptions_are_managed_within_their_tenant_and_on_the_record(engine: Engine) {
    let server = TestServer::start_on(engine).await;
    let admin = server.client("acme", EVERY_ROLE);
    let receiver = Receiver::start().await;
    let created = subscribe(
        &admin,
        &receiver.url("/a"),
        &["audit.log.created"],
        json!({}),
    )
    .await;
    let id = created["webhook"]["id"].as_str().unwrap().to_owned();
    let path = format!("/v1/webhooks/{id}");

    let got = admin.get(&path).await;
    assert_eq!(got.status, 200);
    assert!(
        !got.text.contains("whsec_"),
        "a secret is shown once: {}",
        got.text
    );
    assert_eq!(got.json()["state"], "active");
    let listed = admin.get("/v1/webhooks").await.json();
    assert_eq!(listed["data"].as_array().unwrap().len(), 1);
    assert!(!listed.to_string().contains("whsec_"));

    let changed = admin
        .call(
            Method::PATCH,
            &path,
            Some(&json!({"description": "billing", "filter": {"action": "invoice.*"}})),
        )
        .await;
    assert_eq!(changed.status, 200, "{}", changed.text);
    assert_eq!(changed.json()["description"], "billing");
    assert_eq!(changed.json()["filter"]["action"], "invoice.*");
    let bad = admin
        .call(Method::PATCH, &path, Some(&json!({"event_types": []})))
        .await;
    assert_eq!(bad.status, 400, "{}", bad.text);
    let bad_filter = admin
        .call(
            Method::PATCH,
            &path,
            Some(&json!({"filter": {"bogus": "x"}})),
        )
        .await;
    assert_eq!(bad_filter.status, 400, "{}", bad_filter.text);

    assert_eq!(
        admin
            .call(Method::POST, &format!("{path}/pause"), None)
            .await
            .json()["state"],
        "paused"
    );
    assert_eq!(
        admin
            .call(Method::POST, &format!("{path}/resume"), None)
            .await
            .json()["state"],
        "active"
    );
    let test = admin
        .call(Method::POST, &format!("{path}/test"), None)
        .await;
    assert_eq!(test.status, 200, "{}", test.text);
    assert_eq!(test.json()["delivered"], true);
    let tested = receiver
        .wait_for(WAIT, |r| r.iter().any(|r| r.body["type"] == "webhook.test"))
        .await;
    let rotated = admin
        .call(Method::POST, &format!("{path}/rotate"), None)
        .await;
    assert_eq!(rotated.status, 200, "{}", rotated.text);
    assert_ne!(rotated.json()["secret"], created["secret"]);
    assert!(
        tested
            .iter()
            .any(|r| signed_by(r, created["secret"].as_str().unwrap()))
    );

    // Another tenant sees none of it.
    let beta = server.client("beta", EVERY_ROLE);
    assert_eq!(beta.get(&path).await.status, 404);
    assert_eq!(beta.call(Method::DELETE, &path, None).await.status, 404);
    assert_eq!(beta.get("/v1/webhooks").await.json()["data"], json!([]));
    // A reader is not an administrator.
    assert_eq!(
        server
            .client("acme", "audit:read")
            .get("/v1/webhooks")
            .await
            .status,
        403
    );

    assert_eq!(admin.call(Method::DELETE, &path, None).await.status, 204);
    assert_eq!(admin.get(&path).await.status, 404);

    let trail: Vec<String> = admin
        .all_events()
        .await
        .iter()
        .filter(|e| e["target"]["type"] == "webhook")
        .map(|e| e["action"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        trail,
        [
            "webhook.created",
            "webhook.updated",
            "webhook.paused",
            "webhook.resumed",
            "webhook.secret_rotated",
            "webhook.deleted"
        ]
    );
    let everything = admin
        .all_events()
        .await
        .iter()
        .map(Value::to_string)
        .collect::<String>();
    assert!(!everything.contains("whsec_"), "no secret in the trail");
}

async fn destinations_on_refused_addresses_are_refused(engine: Engine) {
    let mut settings = webhook_settings();
    settings.policy.allow.clear();
    let server = TestServer::start_with(Setup {
        engine,
        webhooks: Some(settings),
        ..Setup::default()
    })
    .await;
    let admin = server.client("acme", EVERY_ROLE);
    for (url, class) in [
        ("http://127.0.0.1:9/x", "loopback"),
        ("http://[::1]:9/x", "loopback"),
        ("http://localhost:9/x", "loopback"),
        ("http://10.1.2.3/x", "private"),
        ("http://172.16.5.4/x", "private"),
        ("http://192.168.1.1/x", "private"),
        ("http://[fd12::1]/x", "private"),
        ("http://169.254.1.1/x", "link_local"),
        ("http://[fe80::1]/x", "link_local"),
        ("http://169.254.169.254/latest/meta-data", "metadata"),
        ("http://[fd00:ec2::254]/x", "metadata"),
        ("http://0.0.0.0/x", "reserved"),
    ] {
        let answer = admin
            .call(
                Method::POST,
                "/v1/webhooks",
                Some(&json!({"url": url, "event_types": ["audit.log.created"]})),
            )
            .await;
        assert_eq!(answer.status, 400, "{url}: {}", answer.text);
        assert!(
            answer.text.contains(&format!("a {class} address")),
            "{url}: {}",
            answer.text
        );
    }
    for url in [
        "ftp://example.com/x",
        "https://user:pw@example.com/x",
        "not a url",
    ] {
        let answer = admin
            .call(
                Method::POST,
                "/v1/webhooks",
                Some(&json!({"url": url, "event_types": ["audit.log.created"]})),
            )
            .await;
        assert_eq!(answer.status, 400, "{url}: {}", answer.text);
    }
    assert_eq!(
        admin.get("/v1/webhooks").await.json()["data"],
        json!([]),
        "nothing was made"
    );
}

on_both_engines!(
    subscriptions_deliver_signed_batches_in_order,
    subscriptions_are_managed_within_their_tenant_and_on_the_record,
    destinations_on_refused_addresses_are_refused,
);

/// The delivery log of subscription `id`, oldest first.
async fn log_of(client: &Client, id: &str) -> Vec<Value> {
    let mut log = client
        .get(&format!("/v1/webhooks/{id}/deliveries?limit=100"))
        .await
        .json()["data"]
        .as_array()
        .unwrap()
        .clone();
    log.reverse();
    log
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_are_retried_on_schedule_honouring_retry_after_and_410_disables() {
    let mut settings = webhook_settings();
    settings.schedule.delays = vec![Duration::from_millis(400); 3];
    let server = TestServer::start_with(Setup {
        webhooks: Some(settings),
        ..Setup::default()
    })
    .await;
    let admin = server.client("acme", EVERY_ROLE);
    let receiver = Receiver::start().await;
    receiver.script(vec![
        Reply::Status(500, vec![]),
        Reply::Status(429, vec![("retry-after", "2".into())]),
        Reply::Status(410, vec![]),
    ]);
    let created = subscribe(
        &admin,
        &receiver.url("/gone"),
        &["audit.log.created"],
        json!({}),
    )
    .await;
    let id = created["webhook"]["id"].as_str().unwrap().to_owned();
    admin.post_json(&events(3, "user.login")).await;
    let got = receiver.wait_for(WAIT, |r| r.len() >= 3).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(receiver.received().len(), 3, "nothing is sent after 410");
    assert!(
        got.iter().all(|r| r.id == got[0].id),
        "one webhook-id across retries"
    );
    assert!(
        got.iter().all(|r| r.raw == got[0].raw),
        "the same body across retries"
    );
    // The schedule's 400 ms less 10% jitter after the 500; the 2 s asked after the 429.
    assert!(
        got[1].at - got[0].at >= Duration::from_millis(360),
        "{:?}",
        got[1].at - got[0].at
    );
    assert!(
        got[2].at - got[1].at >= Duration::from_secs(2),
        "{:?}",
        got[2].at - got[1].at
    );

    let subscription = admin.get(&format!("/v1/webhooks/{id}")).await.json();
    assert_eq!(subscription["state"], "disabled");
    assert!(
        subscription["disabled_reason"]
            .as_str()
            .unwrap()
            .contains("410")
    );
    let log = log_of(&admin, &id).await;
    let statuses: Vec<_> = log
        .iter()
        .map(|e| (e["attempt"].clone(), e["status"].clone()))
        .collect();
    assert_eq!(
        statuses,
        [
            (json!(1), json!(500)),
            (json!(2), json!(429)),
            (json!(3), json!(410))
        ]
    );
    assert!(
        log.iter()
            .all(|e| e["delivered"] == false && e["message_id"] == got[0].id.as_str())
    );
    assert_eq!(log[0]["answer"], "scripted");
    let disabled: Vec<Value> = admin
        .all_events()
        .await
        .into_iter()
        .filter(|e| e["action"] == "webhook.disabled")
        .collect();
    assert_eq!(disabled.len(), 1);
    assert_eq!(disabled[0]["target"]["id"], id.as_str());

    // Resumed, the message goes again from its first attempt, and the events are not lost.
    admin
        .call(Method::POST, &format!("/v1/webhooks/{id}/resume"), None)
        .await;
    let got = receiver.wait_for(WAIT, |r| r.len() >= 4).await;
    assert_eq!(got[3].id, got[0].id, "the same message, resumed");
    assert_eq!(got[3].seqs(), got[0].seqs());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_failing_every_retry_disables_its_subscription_on_the_record() {
    let mut settings = webhook_settings();
    settings.schedule.delays = vec![Duration::from_millis(100); 2];
    let server = TestServer::start_with(Setup {
        webhooks: Some(settings),
        ..Setup::default()
    })
    .await;
    let admin = server.client("acme", EVERY_ROLE);
    let receiver = Receiver::start().await;
    receiver.script(vec![Reply::Status(503, vec![]); 3]);
    let created = subscribe(
        &admin,
        &receiver.url("/down"),
        &["audit.log.created"],
        json!({}),
    )
    .await;
    let id = created["webhook"]["id"].as_str().unwrap().to_owned();
    receiver.wait_for(WAIT, |r| r.len() >= 3).await;
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let subscription = admin.get(&format!("/v1/webhooks/{id}")).await.json();
        if subscription["state"] == "disabled" {
            assert!(
                subscription["disabled_reason"]
                    .as_str()
                    .unwrap()
                    .contains("3 attempts")
            );
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{subscription}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(receiver.received().len(), 3, "three attempts, no more");
    let events = admin.all_events().await;
    let disabled = events
        .iter()
        .find(|e| e["action"] == "webhook.disabled")
        .unwrap();
    assert!(
        disabled["metadata"]["reason"]
            .as_str()
            .unwrap()
            .contains("3 attempts")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_huge_and_redirecting_answers_are_cut_off_and_a_dead_endpoint_holds_up_no_other() {
    let mut settings = webhook_settings();
    settings.timeout = Duration::from_millis(700);
    settings.schedule.delays = vec![Duration::from_secs(60)];
    let server = TestServer::start_with(Setup {
        webhooks: Some(settings),
        ..Setup::default()
    })
    .await;
    let admin = server.client("acme", EVERY_ROLE);
    let slow = Receiver::start().await;
    slow.script(vec![Reply::Hang(Duration::from_secs(30))]);
    let huge = Receiver::start().await;
    huge.script(vec![Reply::Huge(8 << 20)]);
    let redirecting = Receiver::start().await;
    let elsewhere = Receiver::start().await;
    redirecting.script(vec![Reply::Status(
        307,
        vec![("location", elsewhere.url("/else"))],
    )]);
    let live = Receiver::start().await;
    let mut subscriptions = Vec::new();
    for receiver in [&slow, &huge, &redirecting, &live] {
        let created = subscribe(
            &admin,
            &receiver.url("/hook"),
            &["audit.log.created"],
            json!({}),
        )
        .await;
        subscriptions.push(created["webhook"]["id"].as_str().unwrap().to_owned());
    }
    admin.post_json(&events(5, "user.login")).await;
    // The live endpoint gets every event while the slow one hangs.
    // Its own creation (seq 3) and the five events.
    live.wait_for(WAIT, |r| delivered_seqs(r).len() >= 6).await;
    assert!(slow.received().len() <= 1);

    let last_entry = |id: String| {
        let admin = &admin;
        async move {
            let deadline = std::time::Instant::now() + WAIT;
            loop {
                if let Some(entry) = log_of(admin, &id).await.first().cloned() {
                    return entry;
                }
                assert!(
                    std::time::Instant::now() < deadline,
                    "no attempt logged for {id}"
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    };
    let timed_out = last_entry(subscriptions[0].clone()).await;
    assert_eq!(timed_out["delivered"], false);
    assert!(
        timed_out["error"].as_str().unwrap().contains("deadline"),
        "{timed_out}"
    );
    assert!(timed_out["latency_ms"].as_u64().unwrap() < 5_000);
    let big = last_entry(subscriptions[1].clone()).await;
    assert_eq!(big["delivered"], true);
    assert_eq!(
        big["answer"].as_str().unwrap().len(),
        256,
        "the answer's first bytes only"
    );
    let redirected = last_entry(subscriptions[2].clone()).await;
    assert_eq!(redirected["status"], 307);
    assert_eq!(
        redirected["delivered"], false,
        "a redirect is not a delivery"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        elsewhere.received().is_empty(),
        "a redirect is not followed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_secret_signs_beside_the_old_one_until_the_overlap_ends() {
    let server = TestServer::start().await;
    let admin = server.client("acme", EVERY_ROLE);
    let receiver = Receiver::start().await;
    let created = subscribe(
        &admin,
        &receiver.url("/r"),
        &["audit.log.created"],
        json!({}),
    )
    .await;
    let id = created["webhook"]["id"].as_str().unwrap().to_owned();
    let old = created["secret"].as_str().unwrap().to_owned();
    let carrying = |received: &[Received], seq: u64| {
        received
            .iter()
            .find(|r| r.seqs().contains(&seq))
            .cloned()
            .expect("a message carries the seq")
    };
    // Seq 0 is the subscription's making, 1 an event.
    admin.post_json(&events(1, "a.b")).await;
    let before = receiver
        .wait_for(WAIT, |r| delivered_seqs(r).len() >= 2)
        .await;
    let message = carrying(&before, 1);
    assert_eq!(message.signatures.len(), 1);
    assert!(signed_by(&message, &old));

    let rotated = admin
        .call(
            Method::POST,
            &format!("/v1/webhooks/{id}/rotate"),
            Some(&json!({"overlap_seconds": 2})),
        )
        .await
        .json();
    let new = rotated["secret"].as_str().unwrap().to_owned();
    assert_eq!(rotated["webhook"]["secrets"].as_array().unwrap().len(), 2);
    // Seq 2 is the rotation, 3 an event.
    admin.post_json(&events(1, "a.b")).await;
    let during = receiver
        .wait_for(WAIT, |r| delivered_seqs(r).len() >= 4)
        .await;
    let message = carrying(&during, 3);
    assert_eq!(
        message.signatures.len(),
        2,
        "both signatures during the overlap"
    );
    assert!(signed_by(&message, &old) && signed_by(&message, &new));

    tokio::time::sleep(Duration::from_millis(2200)).await;
    admin.post_json(&events(1, "a.b")).await;
    let after = receiver
        .wait_for(WAIT, |r| delivered_seqs(r).len() >= 5)
        .await;
    let message = carrying(&after, 4);
    assert_eq!(message.signatures.len(), 1, "the new one alone after it");
    assert!(signed_by(&message, &new) && !signed_by(&message, &old));
    let bad = admin
        .call(
            Method::POST,
            &format!("/v1/webhooks/{id}/rotate"),
            Some(&json!({"overlap_seconds": 9_999_999})),
        )
        .await;
    assert_eq!(bad.status, 400, "{}", bad.text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_sends_events_again_from_a_seq_or_a_time() {
    let server = TestServer::start().await;
    let admin = server.client("acme", EVERY_ROLE);
    let receiver = Receiver::start().await;
    let created = subscribe(
        &admin,
        &receiver.url("/r"),
        &["audit.log.created"],
        json!({}),
    )
    .await;
    let id = created["webhook"]["id"].as_str().unwrap().to_owned();
    admin.post_json(&events(10, "first.batch")).await;
    tokio::time::sleep(Duration::from_millis(20)).await;
    let middle = trailkeep_event::Timestamp::now().to_string();
    tokio::time::sleep(Duration::from_millis(20)).await;
    admin.post_json(&events(10, "second.batch")).await;
    let first = receiver
        .wait_for(WAIT, |r| delivered_seqs(r).len() >= 21)
        .await;
    let before_replay = first.len();
    assert_eq!(delivered_seqs(&first), (0..21).collect::<Vec<_>>());

    let replayed = admin
        .call(
            Method::POST,
            &format!("/v1/webhooks/{id}/replay"),
            Some(&json!({"from_seq": 5})),
        )
        .await;
    assert_eq!(replayed.status, 202, "{}", replayed.text);
    assert_eq!(replayed.json()["from_seq"], 5);
    // Again from 5: the 16 events to 20, and the replay's own event at 21.
    let again = receiver
        .wait_for(WAIT, |r| delivered_seqs(&r[before_replay..]).len() >= 17)
        .await;
    assert_eq!(
        delivered_seqs(&again[before_replay..]),
        (5..22).collect::<Vec<_>>()
    );
    assert!(
        again[before_replay..]
            .iter()
            .all(|r| !first.iter().any(|f| f.id == r.id)),
        "new webhook-ids"
    );

    let by_time = admin
        .call(
            Method::POST,
            &format!("/v1/webhooks/{id}/replay"),
            Some(&json!({"from_time": middle})),
        )
        .await;
    assert_eq!(by_time.status, 202, "{}", by_time.text);
    assert_eq!(
        by_time.json()["from_seq"],
        11,
        "the first event received after the time"
    );
    for bad in [
        json!({}),
        json!({"from_seq": 1, "from_time": middle}),
        json!({"from_seq": 10_000}),
        json!({"from_time": "yesterday"}),
    ] {
        let answer = admin
            .call(
                Method::POST,
                &format!("/v1/webhooks/{id}/replay"),
                Some(&bad),
            )
            .await;
        assert_eq!(answer.status, 400, "{bad}: {}", answer.text);
    }
    let trail = admin.all_events().await;
    assert_eq!(
        trail
            .iter()
            .filter(|e| e["action"] == "webhook.replayed")
            .count(),
        2
    );
}
