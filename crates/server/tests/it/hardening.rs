//! Regression tests of the security review's HTTP findings: bounded bodies, requests,
//! connections, streams and reads; failed authentications bounded per address; dialects that
//! count only what they show. Each test is named after what broke.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Semaphore;
use trailkeep_server::Limits;

use crate::spy::Spy;
use crate::support::{RW, Setup, TestServer};

/// Longest wait for anything a test expects to happen.
const WAIT: Duration = Duration::from_secs(20);

fn with_limits(limits: Limits) -> Setup {
    Setup {
        limits,
        ..Setup::default()
    }
}

/// A raw connection, for requests no HTTP client would send (slow, partial, idle).
async fn connect(server: &TestServer) -> TcpStream {
    TcpStream::connect(server.addr).await.unwrap()
}

/// Reads an answer's status code from a raw connection.
async fn status_of(stream: &mut TcpStream) -> u16 {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n") {
        let n = tokio::time::timeout(WAIT, stream.read(&mut byte))
            .await
            .expect("an answer in time")
            .unwrap();
        assert_eq!(n, 1, "the connection closed before an answer");
        head.push(byte[0]);
    }
    let line = String::from_utf8(head).unwrap();
    line.split(' ').nth(1).unwrap().parse().unwrap()
}

/// The head of a `POST /v1/events` with a body of `length` bytes.
fn post_head(token: &str, length: usize) -> String {
    format!(
        "POST /v1/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nContent-Length: {length}\r\n\r\n"
    )
}

#[tokio::test]
async fn a_batch_past_the_limits_is_refused_while_it_is_split_not_after() {
    let server = TestServer::start().await;
    let acme = server.client("acme", RW);
    // 10,001 tiny elements: refused at the 10,001st, with nothing stored.
    let body = format!("[{}]", vec!["{\"action\":\"a\"}"; 10_001].join(","));
    let answer = acme.post("/v1/events", "application/json", body).await;
    let problem = answer.problem(413);
    assert!(
        problem["detail"].as_str().unwrap().contains("10000"),
        "{problem}"
    );
    // One element larger than any event can be.
    let big = json!([{"action": "a", "description": "x".repeat(300 * 1024)}]);
    acme.post_json(&big).await.problem(413);
    let ndjson = "{\"action\":\"a\"}\n".repeat(10_001);
    acme.post("/v1/events", "application/x-ndjson", ndjson)
        .await
        .problem(413);
    assert!(acme.all_events().await.is_empty(), "nothing was stored");
}

#[tokio::test]
async fn a_body_past_the_default_limit_is_refused_before_it_is_read() {
    let server = TestServer::start().await;
    let token = trailkeep_server::mint_token(crate::support::SECRET, "acme", RW, 60).unwrap();
    let mut stream = connect(&server).await;
    // Seventeen mebibytes announced, none sent: the answer comes from the head alone.
    stream
        .write_all(post_head(&token, 17 * 1024 * 1024).as_bytes())
        .await
        .unwrap();
    assert_eq!(status_of(&mut stream).await, 413);
}

#[tokio::test]
async fn request_bodies_in_flight_share_a_bounded_budget_with_a_share_per_tenant() {
    let server = TestServer::start_with(with_limits(Limits {
        // A tenant may hold an eighth: one mebibyte.
        max_inflight_body_bytes: 8 * 1024 * 1024,
        ..Limits::default()
    }))
    .await;
    let token = trailkeep_server::mint_token(crate::support::SECRET, "acme", RW, 60).unwrap();
    let acme = server.client("acme", RW);
    // A slow client holds 900 KiB of a 1000 KiB body in the server's memory.
    let held_bytes = 900 * 1024;
    let length = 1000 * 1024;
    let mut slow = connect(&server).await;
    slow.write_all(post_head(&token, length).as_bytes())
        .await
        .unwrap();
    slow.write_all(&vec![b' '; held_bytes]).await.unwrap();
    // Once the server holds the slow body (the gauge says so; other tests' servers in this
    // process may add to it), another 200 KiB body finds no room: 503 with Retry-After.
    tokio::time::timeout(WAIT, async {
        loop {
            let metrics = crate::support::read(reqwest::get(server.url("/metrics")).await.unwrap())
                .await
                .text;
            let held = metrics
                .lines()
                .find_map(|l| l.strip_prefix("trailkeep_request_body_bytes_held "))
                .and_then(|v| v.trim().parse::<f64>().ok())
                .unwrap_or(0.0);
            if held >= held_bytes as f64 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the server reads the slow body");
    let padding = " ".repeat(200 * 1024);
    let refused = acme
        .post(
            "/v1/events",
            "application/json",
            format!("{padding}{{\"action\":\"b\"}}"),
        )
        .await;
    assert_eq!(refused.problem(503)["code"], "busy");
    assert_eq!(refused.headers["retry-after"], "1");
    // Another tenant's body fits: the slow client used up acme's share, not everyone's.
    let beta = server.client("beta", RW);
    let other = beta
        .post(
            "/v1/events",
            "application/json",
            format!("{padding}{{\"action\":\"b\"}}"),
        )
        .await;
    assert_eq!(other.status, 201, "{}", other.text);
    // The slow body completes; its share is given back and the next body fits again.
    let event = b"{\"action\":\"a\"}";
    let mut rest = vec![b' '; length - held_bytes - event.len()];
    rest.extend_from_slice(event);
    slow.write_all(&rest).await.unwrap();
    assert_eq!(status_of(&mut slow).await, 201);
    let answer = acme
        .post(
            "/v1/events",
            "application/json",
            format!("{padding}{{\"action\":\"c\"}}"),
        )
        .await;
    assert_eq!(answer.status, 201, "{}", answer.text);
}

#[tokio::test]
async fn a_body_sent_too_slowly_is_cut_off_at_the_request_timeout() {
    let server = TestServer::start_with(with_limits(Limits {
        request_timeout_seconds: 1,
        ..Limits::default()
    }))
    .await;
    let token = trailkeep_server::mint_token(crate::support::SECRET, "acme", RW, 60).unwrap();
    let mut slow = connect(&server).await;
    slow.write_all(post_head(&token, 100).as_bytes())
        .await
        .unwrap();
    slow.write_all(b"[{\"act").await.unwrap();
    assert_eq!(status_of(&mut slow).await, 408);
}

#[tokio::test]
async fn connections_past_the_cap_wait_until_one_closes() {
    let server = TestServer::start_with(with_limits(Limits {
        max_connections: 2,
        ..Limits::default()
    }))
    .await;
    let idle_a = connect(&server).await;
    let _idle_b = connect(&server).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut third = connect(&server).await;
    third
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut byte = [0u8; 1];
    assert!(
        tokio::time::timeout(Duration::from_millis(500), third.read(&mut byte))
            .await
            .is_err(),
        "the third connection is not served while two are open"
    );
    drop(idle_a);
    assert_eq!(status_of(&mut third).await, 200);
}

#[tokio::test]
async fn failed_authentications_from_one_address_are_cut_off_for_the_minute() {
    let server = TestServer::start_with(with_limits(Limits {
        failed_auth_per_minute: 5,
        ..Limits::default()
    }))
    .await;
    let forged = server.client_with_token("eyJhbGciOiJIUzI1NiJ9.e30.c2lnbmF0dXJl");
    for _ in 0..5 {
        forged.get("/v1/events").await.problem(401);
    }
    let refused = forged.get("/v1/events").await;
    let problem = refused.problem(429);
    assert_eq!(problem["code"], "too_many_failures");
    assert!(
        refused.headers["retry-after"]
            .to_str()
            .unwrap()
            .parse::<u64>()
            .unwrap()
            > 1
    );
    // The token exchange counts and refuses the same way.
    let exchange = server
        .client("acme", RW)
        .post(
            "/v1/auth/token",
            "application/json",
            json!({"client_id": "tkk_01hzy3q5v8w9x0y1z2a3b4c5d6", "client_secret": "x"})
                .to_string(),
        )
        .await;
    assert_eq!(exchange.problem(429)["code"], "too_many_failures");
}

#[tokio::test]
async fn a_tenant_past_its_stream_cap_is_refused_and_other_tenants_are_not() {
    let server = TestServer::start_with(with_limits(Limits {
        tenant_max_streams: 2,
        ..Limits::default()
    }))
    .await;
    let acme = server.client("acme", RW);
    let beta = server.client("beta", RW);
    let open = |client: &crate::support::Client| {
        let request = client
            .http
            .get(format!("{}/v1/events/stream", client.base))
            .send();
        async move { tokio::time::timeout(WAIT, request).await.unwrap().unwrap() }
    };
    let first = open(&acme).await;
    let second = open(&acme).await;
    assert_eq!(
        (first.status().as_u16(), second.status().as_u16()),
        (200, 200)
    );
    // Bounded: without the cap, the third stream opens and its body never ends.
    let third = tokio::time::timeout(WAIT, crate::support::read(open(&acme).await))
        .await
        .expect("the third stream is answered, not opened");
    assert_eq!(third.problem(429)["code"], "too_many_streams");
    assert_eq!(open(&beta).await.status(), 200, "beta has its own share");
    drop(first);
    // The closed stream's place is given back (once the server notices the close).
    let mut reopened = None;
    for _ in 0..100 {
        let answer = open(&acme).await;
        if answer.status() == 200 {
            reopened = Some(answer);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(reopened.is_some(), "a place frees when a stream closes");
}

#[tokio::test]
async fn one_tenants_heavy_reads_hold_neither_another_tenants_reads_nor_its_sign_in() {
    let spy = Arc::new(Spy::default());
    let gate = Arc::new(Semaphore::new(0));
    *spy.gate.lock().unwrap() = Some(("loud".into(), gate.clone()));
    let server = TestServer::start_with(Setup {
        spy: Some(spy.clone()),
        ..Setup::default()
    })
    .await;
    let loud = Arc::new(server.client("loud", RW));
    // Four slow reads: the tenant's whole share of concurrent reads.
    let mut slow = Vec::new();
    for _ in 0..4 {
        let loud = loud.clone();
        slow.push(tokio::spawn(async move { loud.get("/v1/events").await }));
    }
    tokio::time::timeout(WAIT, async {
        while spy.queries.lock().unwrap().len() < 4 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("four reads reach the store");
    // A fifth waits a little, then is told to come back.
    // Bounded: without the tenant's share, the fifth read reaches the gated store and waits.
    let fifth = tokio::time::timeout(WAIT, loud.get("/v1/stats"))
        .await
        .expect("the fifth read is refused, not run");
    assert_eq!(fifth.problem(429)["code"], "tenant_reads_busy");

    // Meanwhile another tenant signs in with an API key and reads.
    let admin = server.client("quiet", crate::support::EVERY_ROLE);
    admin.post_json(&json!({"action": "doc.created"})).await;
    let created = admin.create_key("reader", &["audit:read"]).await;
    let quiet = server.client_with_token(created["key"].as_str().unwrap());
    let listed = quiet.get("/v1/events?action=doc.*").await;
    assert_eq!(listed.status, 200, "{}", listed.text);
    assert_eq!(listed.json()["data"].as_array().unwrap().len(), 1);

    gate.add_permits(4);
    for read in slow {
        assert_eq!(read.await.unwrap().status, 200);
    }
}

#[tokio::test]
async fn page_number_dialects_count_totals_only_where_they_show_them() {
    let spy = Arc::new(Spy::default());
    let server = TestServer::start_with(Setup {
        spy: Some(spy.clone()),
        ..Setup::default()
    })
    .await;
    let acme = server.client("acme", RW);
    for (path, shows_total) in [
        ("/audit-logs", false),
        ("/v1/audit", false),
        ("/api/v1/audit/logs", true),
        ("/accounts/acme/audit_logs", true),
    ] {
        spy.queries.lock().unwrap().clear();
        let answer = acme.get(path).await;
        assert_eq!(answer.status, 200, "{path}: {}", answer.text);
        let queries = spy.queries.lock().unwrap().clone();
        assert_eq!(queries.len(), 1, "{path}");
        assert_eq!(queries[0].1.count_total, shows_total, "{path}");
        if shows_total {
            let body: Value = answer.json();
            assert!(body.to_string().contains("total"), "{path}: {body}");
        }
    }
}

#[tokio::test]
async fn a_key_cannot_grant_a_role_its_creator_does_not_hold() {
    let server = TestServer::start().await;
    let admin = server.client("acme", "audit:admin audit:read");
    let create = |roles: Value| {
        admin.post(
            "/v1/api-keys",
            "application/json",
            json!({"name": "k", "roles": roles}).to_string(),
        )
    };
    let refused = create(json!(["audit:read", "audit:export"])).await;
    let problem = refused.problem(403);
    assert!(
        problem["detail"].as_str().unwrap().contains("audit:export"),
        "{problem}"
    );
    assert_eq!(create(json!(["audit:read"])).await.status, 201);
    assert_eq!(create(json!(["audit:admin"])).await.status, 201);
}

#[tokio::test]
async fn a_retry_with_the_same_client_id_and_an_equal_number_is_stored_once_not_refused() {
    let server = TestServer::start().await;
    let acme = server.client("acme", RW);
    let first = acme
        .post(
            "/v1/events",
            "application/json",
            r#"{"id":"evt-1","action":"payment.made","metadata":{"amount":1}}"#,
        )
        .await;
    assert_eq!(first.status, 201, "{}", first.text);
    let retry = acme
        .post(
            "/v1/events",
            "application/json",
            r#"{"id":"evt-1","action":"payment.made","metadata":{"amount":1.0}}"#,
        )
        .await;
    assert_eq!(retry.status, 201, "{}", retry.text);
    assert_eq!(
        retry.json()["receipts"][0],
        first.json()["receipts"][0],
        "the first event's receipt"
    );
    assert_eq!(acme.all_events().await.len(), 1);
}

#[tokio::test]
async fn metadata_filters_tell_a_dotted_key_from_a_nested_one() {
    let server = TestServer::start().await;
    let acme = server.client("acme", RW);
    acme.post_json(&json!([
        {"action": "a", "metadata": {"party.name": "Acme"}},
        {"action": "b", "metadata": {"party": {"name": "Acme"}}},
    ]))
    .await;
    let actions = |path: &'static str| {
        let acme = &acme;
        async move {
            let body = acme.get(path).await.json();
            body["data"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["action"].as_str().unwrap().to_owned())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(actions("/v1/events?metadata.party.name=Acme").await, ["b"]);
    assert_eq!(
        actions("/v1/events?metadata.party%5C.name=Acme").await,
        ["a"]
    );
}

#[tokio::test]
async fn statistics_by_actor_list_at_most_a_thousand_and_say_when_they_were_cut() {
    let server = TestServer::start().await;
    let acme = server.client("acme", RW);
    let events: Vec<Value> = (0..1_001)
        .map(|i| json!({"action": "doc.read", "actor": {"id": format!("user-{i}")}}))
        .collect();
    assert_eq!(acme.post_json(&Value::Array(events)).await.status, 201);
    let stats = acme.get("/v1/stats?group_by=actor,action").await.json();
    assert_eq!(stats["total"], 1_001);
    assert_eq!(stats["unique_actors"], 1_001);
    assert_eq!(stats["groups"]["actor"].as_array().unwrap().len(), 1_000);
    assert_eq!(stats["groups"]["action"].as_array().unwrap().len(), 1);
    assert_eq!(stats["truncated"], json!(["actor"]));
}

/// `action=*` was a range over every tenant's actions in the index.
#[tokio::test]
async fn a_bare_star_action_filter_is_refused() {
    let server = TestServer::start().await;
    let acme = server.client("acme", RW);
    for path in [
        "/v1/events?action=*",
        "/v1/events?action=**",
        "/v1/stats?action=*",
        "/v1/entities/doc/d1/history?action=*",
    ] {
        let answer = acme.get(path).await;
        if answer.status == 400 {
            let problem = answer.problem(400);
            assert!(
                problem["detail"].as_str().unwrap().contains("every action"),
                "{path}: {problem}"
            );
        } else {
            panic!("{path}: {} {}", answer.status, answer.text);
        }
    }
    assert_eq!(acme.get("/v1/events?action=doc.*").await.status, 200);
}

/// A retry of a 10,000-event batch with its Idempotency-Key used to be parsed, validated and
/// queued for the writer, only for the writer to find the key and read the answer back. It is
/// now answered from the store's records before the body is parsed and without an append.
#[tokio::test]
async fn a_replayed_batch_is_answered_without_reaching_the_writer() {
    let spy = Arc::new(Spy::default());
    let server = TestServer::start_with(Setup {
        spy: Some(spy.clone()),
        ..Setup::default()
    })
    .await;
    let acme = server.client("acme", RW);
    let body: Vec<Value> = (0..10_000)
        .map(|i| json!({"action": "bulk.load", "metadata": {"i": i}}))
        .collect();
    let body = Value::Array(body).to_string();
    let send = || {
        acme.http
            .post(format!("{}/v1/events", acme.base))
            .header("content-type", "application/json")
            .header("idempotency-key", "import-1")
            .body(body.clone())
            .send()
    };
    let first = crate::support::read(send().await.unwrap()).await;
    assert_eq!(first.status, 201);
    let appends = spy.appends.load(std::sync::atomic::Ordering::SeqCst);
    let again = crate::support::read(send().await.unwrap()).await;
    assert_eq!(again.status, 201);
    assert_eq!(again.headers["idempotent-replayed"], "true");
    assert_eq!(again.json()["receipts"], first.json()["receipts"]);
    assert_eq!(
        spy.appends.load(std::sync::atomic::Ordering::SeqCst),
        appends,
        "the replay made no append"
    );
}
