//! `GET /v1/events/stream`: the live tail sends exactly the caller's matching events, in seq
//! order, resumes after `Last-Event-ID` without gap or duplicate, replays with `from_seq`, and
//! refuses bad input with problem+json.

use std::time::Duration;

use serde_json::{Value, json};
use tokio::time::timeout;

use crate::support::{Client, Engine, RW, TestServer, read};

/// Longest wait for any one read; a bug fails the test instead of hanging it.
const WAIT: Duration = Duration::from_secs(20);

/// One SSE message.
#[derive(Debug)]
struct Message {
    id: Option<String>,
    event: Option<String>,
    data: String,
}

impl Message {
    fn seq(&self) -> u64 {
        self.id
            .as_deref()
            .and_then(|id| id.parse().ok())
            .unwrap_or_else(|| panic!("message without a numeric id: {self:?}"))
    }
}

/// An open stream, parsed message by message.
struct Sse {
    response: reqwest::Response,
    buffer: String,
    /// The last id the stream gave (as EventSource keeps it for `Last-Event-ID`), positions
    /// included.
    last_id: Option<String>,
}

impl Sse {
    async fn open(client: &Client, query: &str, last_event_id: Option<u64>) -> Self {
        let mut request = client
            .http
            .get(format!("{}/v1/events/stream{query}", client.base));
        if let Some(seq) = last_event_id {
            request = request.header("Last-Event-ID", seq.to_string());
        }
        let response = timeout(WAIT, request.send())
            .await
            .expect("stream headers in time")
            .unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(
            response.headers()["content-type"].to_str().unwrap(),
            "text/event-stream"
        );
        Self {
            response,
            buffer: String::new(),
            last_id: None,
        }
    }

    /// The next message (keep-alive comments skipped).
    async fn next(&mut self) -> Message {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let mut message = Message {
                    id: None,
                    event: None,
                    data: String::new(),
                };
                let mut data_lines = Vec::new();
                for line in block.lines() {
                    if line.is_empty() || line.starts_with(':') {
                        continue;
                    }
                    let (name, value) = line.split_once(':').unwrap_or((line, ""));
                    let value = value.strip_prefix(' ').unwrap_or(value).to_owned();
                    match name {
                        "id" => message.id = Some(value),
                        "event" => message.event = Some(value),
                        "data" => data_lines.push(value),
                        other => panic!("unexpected SSE field {other:?} in {block:?}"),
                    }
                }
                if message.id.is_some() {
                    self.last_id.clone_from(&message.id);
                }
                if data_lines.is_empty() && message.event.is_none() {
                    // A comment, or a position (an id alone): EventSource dispatches neither.
                    continue;
                }
                message.data = data_lines.join("\n");
                return message;
            }
            let chunk = timeout(WAIT, self.response.chunk())
                .await
                .expect("an SSE message in time")
                .unwrap()
                .expect("the stream stays open");
            self.buffer.push_str(std::str::from_utf8(&chunk).unwrap());
        }
    }

    /// Asserts the server ended the stream (after any keep-alive comments).
    async fn assert_ended(&mut self) {
        loop {
            let chunk = timeout(WAIT, self.response.chunk())
                .await
                .expect("the stream ends in time")
                .unwrap();
            match chunk {
                None => return,
                Some(bytes) => {
                    let text = std::str::from_utf8(&bytes).unwrap();
                    assert!(
                        text.lines().all(|l| l.is_empty() || l.starts_with(':')),
                        "more after the end: {text:?}"
                    );
                }
            }
        }
    }

    async fn take(&mut self, n: usize) -> Vec<Message> {
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            out.push(self.next().await);
        }
        out
    }
}

/// Posts `body` and returns the stored events.
async fn post(client: &Client, body: Value) -> Vec<Value> {
    let answer = client.post_json(&body).await;
    assert_eq!(answer.status, 201, "{}", answer.text);
    answer.json()["data"].as_array().unwrap().clone()
}

fn seqs_of(events: &[Value]) -> Vec<u64> {
    events.iter().map(|e| e["seq"].as_u64().unwrap()).collect()
}

fn matching(events: &[Value]) -> Vec<Value> {
    events
        .iter()
        .filter(|e| e["action"].as_str().unwrap().starts_with("doc."))
        .cloned()
        .collect()
}

/// Posts one matching event and checks it is the very next message: nothing unexpected was
/// queued before it.
async fn assert_nothing_more(client: &Client, sse: &mut Sse) {
    let sentinel = post(client, json!({"action": "doc.sentinel"})).await;
    let next = sse.next().await;
    assert_eq!(next.seq(), sentinel[0]["seq"].as_u64().unwrap(), "{next:?}");
}

async fn live_tail_sends_exactly_the_matching_events_in_seq_order(engine: Engine) {
    let server = TestServer::start_on(engine).await;
    let acme = server.client("acme", RW);
    let beta = server.client("beta", RW);
    // Acknowledged before the stream opens: not sent.
    post(
        &acme,
        json!([{"action": "doc.old"}, {"action": "user.login"}]),
    )
    .await;

    let mut sse = Sse::open(&acme, "?action=doc.*", None).await;
    let noise = tokio::spawn(async move {
        for i in 0..20 {
            post(
                &beta,
                json!({"action": "doc.created", "target": {"id": format!("b{i}")}}),
            )
            .await;
        }
    });
    let mut posted = Vec::new();
    for i in 0..5 {
        posted.extend(
            post(
                &acme,
                json!({"action": "doc.created", "target": {"id": format!("d{i}")}}),
            )
            .await,
        );
        posted.extend(post(&acme, json!({"action": "user.login"})).await);
    }
    posted.extend(
        post(
            &acme,
            json!([{"action": "doc.deleted"}, {"action": "user.logout"}, {"action": "doc.read"}]),
        )
        .await,
    );
    noise.await.unwrap();
    let want = matching(&posted);
    assert_eq!(want.len(), 7);

    let got = sse.take(want.len()).await;
    for (message, stored) in got.iter().zip(&want) {
        assert_eq!(message.event.as_deref(), Some("audit.event"));
        assert_eq!(message.seq(), stored["seq"].as_u64().unwrap());
        let data: Value = serde_json::from_str(&message.data).unwrap();
        assert_eq!(&data, stored);
        // The data is the stored canonical bytes, exactly as `GET /v1/events/{id}` gives them.
        let one = acme
            .get(&format!("/v1/events/{}", stored["id"].as_str().unwrap()))
            .await;
        assert_eq!(message.data, one.text);
    }
    assert_nothing_more(&acme, &mut sse).await;
}

async fn reconnecting_with_last_event_id_resumes_without_gap_or_duplicate(engine: Engine) {
    let server = TestServer::start_on(engine).await;
    let acme = server.client("acme", RW);
    let mut sse = Sse::open(&acme, "?action=doc.*", None).await;
    let mut posted = Vec::new();
    for i in 0..6 {
        let pair = json!([
            {"action": "doc.updated", "target": {"id": format!("d{i}")}},
            {"action": "user.login"},
        ]);
        posted.extend(post(&acme, pair).await);
    }
    let mut got: Vec<u64> = sse.take(3).await.iter().map(Message::seq).collect();
    let last = *got.last().unwrap();
    drop(sse);

    for _ in 0..4 {
        posted.extend(
            post(
                &acme,
                json!([{"action": "user.logout"}, {"action": "doc.read"}]),
            )
            .await,
        );
    }
    let want = seqs_of(&matching(&posted));
    assert_eq!(want.len(), 10);

    // Last-Event-ID wins over from_seq, as when a browser reconnects to the URL it started with.
    let mut sse = Sse::open(&acme, "?action=doc.*&from_seq=0", Some(last)).await;
    got.extend(sse.take(want.len() - 3).await.iter().map(Message::seq));
    assert_eq!(got, want);
    assert_nothing_more(&acme, &mut sse).await;
}

async fn from_seq_replays_from_the_beginning_across_scan_chunks(engine: Engine) {
    let server = TestServer::start_on(engine).await;
    let acme = server.client("acme", RW);
    let batch: Vec<Value> = (0..1200)
        .map(|i| json!({"action": if i % 2 == 0 { "doc.created" } else { "user.login" }}))
        .collect();
    let posted = post(&acme, Value::Array(batch)).await;
    let want = seqs_of(&matching(&posted));

    let mut sse = Sse::open(&acme, "?action=doc.*&from_seq=0", None).await;
    let got: Vec<u64> = sse
        .take(want.len())
        .await
        .iter()
        .map(Message::seq)
        .collect();
    assert_eq!(got, want);
    assert_nothing_more(&acme, &mut sse).await;

    // Without a filter, from the middle.
    let mut sse = Sse::open(&acme, "?from_seq=1195", None).await;
    let got: Vec<u64> = sse.take(5).await.iter().map(Message::seq).collect();
    assert_eq!(got, [1195, 1196, 1197, 1198, 1199]);
}

/// A replay sends a tombstone as it is stored now: marked, with nothing removed in it.
async fn a_replay_sends_tombstones_as_they_are_now(engine: Engine) {
    let server = TestServer::start_on(engine).await;
    let admin = server.client("acme", "audit:read audit:write audit:admin");
    post(
        &admin,
        json!([{"action": "user.login", "actor": {"id": "u1", "email": "u1@example.com"}},
               {"action": "user.login", "actor": {"id": "u2", "email": "u2@example.com"}}]),
    )
    .await;
    let erasure = admin
        .call(
            reqwest::Method::POST,
            "/v1/erasures",
            Some(&json!({"actor_id": "u1", "reason": "DSAR 3"})),
        )
        .await;
    assert_eq!(erasure.status, 202, "{}", erasure.text);
    let status = erasure.json()["status_url"].as_str().unwrap().to_owned();
    timeout(WAIT, async {
        while admin.get(&status).await.json()["state"] != "succeeded" {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("the erasure finishes");
    let mut sse = Sse::open(&admin, "?action=user.login&from_seq=0", None).await;
    let sent = sse.take(2).await;
    let first: Value = serde_json::from_str(&sent[0].data).unwrap();
    assert_eq!(first["redaction"]["reason"], "erasure", "{first}");
    assert!(!sent[0].data.contains("u1@example.com"), "{}", sent[0].data);
    let second: Value = serde_json::from_str(&sent[1].data).unwrap();
    assert_eq!(second["actor"]["email"], "u2@example.com");
    assert!(second.get("redaction").is_none());
}

async fn other_tenants_events_never_appear(engine: Engine) {
    let server = TestServer::start_on(engine).await;
    let acme = server.client("acme", RW);
    let beta = server.client("beta", RW);
    post(
        &beta,
        json!([{"action": "doc.created"}, {"action": "doc.created"}]),
    )
    .await;

    let mut acme_sse = Sse::open(&acme, "?from_seq=0", None).await;
    let mut beta_sse = Sse::open(&beta, "?from_seq=0", None).await;
    let (acme_posted, beta_posted) = tokio::join!(
        async {
            let mut out = Vec::new();
            for _ in 0..10 {
                out.extend(post(&acme, json!({"action": "doc.acme"})).await);
            }
            out
        },
        async {
            let mut out = Vec::new();
            for _ in 0..10 {
                out.extend(post(&beta, json!({"action": "doc.beta"})).await);
            }
            out
        },
    );
    let acme_ids: Vec<&str> = acme_posted
        .iter()
        .map(|e| e["id"].as_str().unwrap())
        .collect();
    for message in acme_sse.take(acme_posted.len()).await {
        let data: Value = serde_json::from_str(&message.data).unwrap();
        assert_eq!(data["action"], "doc.acme");
        assert!(acme_ids.contains(&data["id"].as_str().unwrap()));
    }
    assert_nothing_more(&acme, &mut acme_sse).await;
    let beta_all = beta_sse.take(beta_posted.len() + 2).await;
    assert!(beta_all.iter().all(|m| !m.data.contains("doc.acme")));
    assert_eq!(
        beta_all.iter().map(Message::seq).collect::<Vec<_>>(),
        (0..12).collect::<Vec<u64>>()
    );
}

async fn bad_requests_are_problems(engine: Engine) {
    let server = TestServer::start_on(engine).await;
    let acme = server.client("acme", RW);
    let url = format!("{}/v1/events/stream", acme.base);
    for bad in ["abc", "-1", "1.5", "", "18446744073709551615"] {
        let request = acme.http.get(&url).header("Last-Event-ID", bad).send();
        let answer = timeout(WAIT, async { read(request.await.unwrap()).await })
            .await
            .expect("an answer in time");
        let problem = answer.problem(400);
        assert_eq!(problem["code"], "bad_last_event_id", "{bad:?}");
    }
    for query in ["?from_seq=x", "?from_seq=-1", "?limit=5", "?outcome=maybe"] {
        timeout(WAIT, acme.get(&format!("/v1/events/stream{query}")))
            .await
            .expect("an answer in time")
            .problem(400);
    }
    server
        .client("acme", "audit:write")
        .get("/v1/events/stream")
        .await
        .problem(403);
    let anonymous = read(reqwest::get(&url).await.unwrap()).await;
    anonymous.problem(401);
}

async fn open_streams_end_when_the_server_shuts_down(engine: Engine) {
    let server = TestServer::start_on(engine).await;
    let client = server.client("acme", RW);
    let mut sse = Sse::open(&client, "?from_seq=0", None).await;
    post(&client, json!({"action": "doc.viewed"})).await;
    assert_eq!(sse.next().await.seq(), 0);
    assert!(
        server.shut_down(Duration::from_secs(5)).await,
        "graceful shutdown must not wait for open streams"
    );
    let end = timeout(WAIT, sse.response.chunk())
        .await
        .expect("the stream ends in time");
    assert!(
        matches!(end, Ok(None) | Err(_)),
        "the stream is closed: {end:?}"
    );
}

/// Asserts `message` is the last message of a stream whose credential no longer stands.
fn assert_closed_because(message: &Message, words: &str) {
    assert_eq!(
        message.event.as_deref(),
        Some("stream.closed"),
        "{message:?}"
    );
    let reason: Value = serde_json::from_str(&message.data).unwrap();
    assert!(
        reason["reason"].as_str().unwrap().contains(words),
        "{message:?}"
    );
}

async fn a_stream_ends_when_its_api_key_is_revoked(engine: Engine) {
    let server = TestServer::start_on(engine).await;
    let admin = server.client("acme", crate::support::EVERY_ROLE);
    let created = admin.create_key("siem", &["audit:read"]).await;
    let keyed = server.client_with_token(created["key"].as_str().unwrap());
    let mut sse = Sse::open(&keyed, "", None).await;
    let first = post(&admin, json!({"action": "doc.created"})).await;
    assert_eq!(sse.next().await.seq(), first[0]["seq"].as_u64().unwrap());

    let revoked = admin.revoke_key(created["id"].as_str().unwrap()).await;
    assert_eq!(revoked.status, 200, "{}", revoked.text);
    post(&admin, json!({"action": "doc.after_revocation"})).await;
    let last = sse.next().await;
    assert_closed_because(&last, "revoked");
    sse.assert_ended().await;
}

async fn a_stream_ends_when_its_token_expires_even_while_idle(engine: Engine) {
    let server = TestServer::start_on(engine).await;
    let writer = server.client("acme", RW);
    let token =
        trailkeep_server::mint_token(crate::support::SECRET, "acme", "audit:read", 2).unwrap();
    let reader = server.client_with_token(&token);
    let mut sse = Sse::open(&reader, "", None).await;
    let first = post(&writer, json!({"action": "doc.created"})).await;
    assert_eq!(sse.next().await.seq(), first[0]["seq"].as_u64().unwrap());
    // Nothing is posted: the stream closes on its own when the token's exp passes.
    let last = sse.next().await;
    assert_closed_because(&last, "expired");
    sse.assert_ended().await;
    post(&writer, json!({"action": "doc.too_late"})).await;
}

/// A stream whose filter matches nothing gave its client no id to resume from: every reconnect
/// started again from where the client first came in (or from seq 0), reading the same
/// non-matching events again. Skipped events now move the resume point with an id-only message.
async fn a_stream_whose_filter_never_matches_still_moves_its_resume_point(engine: Engine) {
    let server = TestServer::start_on(engine).await;
    let acme = server.client("acme", RW);
    let mut sse = Sse::open(&acme, "?action=never.*", None).await;
    let posted = post(
        &acme,
        json!([{"action": "a"}, {"action": "b"}, {"action": "c"}]),
    )
    .await;
    let last = posted[2]["seq"].as_u64().unwrap();
    // The sentinel matches nothing either; wait until the position reaches past it.
    timeout(WAIT, async {
        loop {
            if sse.last_id.as_deref() == Some(last.to_string().as_str()) {
                return;
            }
            let chunk = sse.response.chunk().await.unwrap().expect("open");
            sse.buffer.push_str(std::str::from_utf8(&chunk).unwrap());
            while let Some(end) = sse.buffer.find("\n\n") {
                let block: String = sse.buffer.drain(..end + 2).collect();
                for line in block.lines() {
                    if let Some(id) = line.strip_prefix("id: ") {
                        sse.last_id = Some(id.to_owned());
                    }
                    assert!(!line.starts_with("data:"), "nothing matches: {block:?}");
                }
            }
        }
    })
    .await
    .expect("a position message in time");
}

/// A stream re-checked its credential only while idle or before sending events: on a busy
/// tenant whose commits never matched its filter, every commit put the check off, and a revoked
/// key kept its stream for as long as the tenant kept writing.
async fn a_revoked_keys_stream_closes_even_while_its_tenant_keeps_writing(engine: Engine) {
    let server = TestServer::start_on(engine).await;
    let admin = server.client("acme", crate::support::EVERY_ROLE);
    let created = admin.create_key("siem", &["audit:read"]).await;
    let keyed = server.client_with_token(created["key"].as_str().unwrap());
    let mut sse = Sse::open(&keyed, "?action=never.*", None).await;
    let busy = server.client("acme", RW);
    let writing = tokio::spawn(async move {
        for i in 0..400 {
            post(
                &busy,
                json!({"action": "doc.touched", "metadata": {"i": i}}),
            )
            .await;
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    });
    let revoked = admin.revoke_key(created["id"].as_str().unwrap()).await;
    assert_eq!(revoked.status, 200);
    let last = sse.next().await;
    assert_closed_because(&last, "revoked");
    writing.abort();
}

crate::on_both_engines!(
    live_tail_sends_exactly_the_matching_events_in_seq_order,
    reconnecting_with_last_event_id_resumes_without_gap_or_duplicate,
    from_seq_replays_from_the_beginning_across_scan_chunks,
    a_replay_sends_tombstones_as_they_are_now,
    other_tenants_events_never_appear,
    bad_requests_are_problems,
    open_streams_end_when_the_server_shuts_down,
    a_stream_ends_when_its_api_key_is_revoked,
    a_stream_ends_when_its_token_expires_even_while_idle,
    a_stream_whose_filter_never_matches_still_moves_its_resume_point,
    a_revoked_keys_stream_closes_even_while_its_tenant_keeps_writing,
);
