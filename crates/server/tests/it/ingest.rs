//! `POST /v1/events`: the three framings, all-or-nothing batches, every refusal a clear 4xx
//! problem with nothing stored, and idempotency.

use serde_json::{Value, json};

use crate::support::{Client, Engine, RW, TestServer};

async fn assert_nothing_stored(client: &Client) {
    assert!(
        client.all_events().await.is_empty(),
        "a refused request stored something"
    );
    client.get("/v1/ledger/checkpoint").await.problem(404);
}

async fn object_array_and_ndjson_are_accepted(engine: Engine) {
    let server = TestServer::start_on(engine).await;
    let client = server.client("acme", RW);
    let one = client
        .post_json(&json!({"action": "contract.created"}))
        .await;
    assert_eq!(one.status, 201, "{}", one.text);
    let body = one.json();
    assert_eq!(body["data"][0]["seq"], 0);
    assert_eq!(body["data"][0]["category"], "create");
    assert_eq!(body["receipts"][0]["seq"], 0);
    assert_eq!(body["receipts"][0]["id"], body["data"][0]["id"]);

    let batch = client
        .post_json(&json!([{"action": "a.read"}, {"action": "b.deleted"}]))
        .await;
    assert_eq!(batch.status, 201);
    let seqs: Vec<Value> = batch.json()["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["seq"].clone())
        .collect();
    assert_eq!(seqs, [json!(1), json!(2)]);

    let ndjson = "{\"action\":\"c.login\"}\n\n{\"action\":\"d.logout\"}\n";
    let answer = client
        .post("/v1/events", "application/x-ndjson", ndjson)
        .await;
    assert_eq!(answer.status, 201, "{}", answer.text);
    assert_eq!(answer.json()["data"][1]["seq"], 4);
    assert_eq!(client.all_events().await.len(), 5);
}

async fn malformed_json_wrong_type_and_bad_shapes_store_nothing(engine: Engine) {
    let server = TestServer::start_on(engine).await;
    let client = server.client("acme", RW);
    let body = client
        .post("/v1/events", "application/json", "{\"action\": ")
        .await
        .problem(400);
    assert_eq!(body["code"], "malformed_json");
    let body = client
        .post(
            "/v1/events",
            "application/json",
            vec![b'{', b'"', 0xff, b'"', b'}'],
        )
        .await
        .problem(400);
    assert_eq!(body["code"], "malformed_json", "invalid UTF-8 is refused");
    let body = client
        .post("/v1/events", "text/plain", "{\"action\":\"a\"}")
        .await
        .problem(415);
    assert!(body["detail"].as_str().unwrap().contains("text/plain"));
    let answer = client
        .http
        .post(format!("{}/v1/events", client.base))
        .body("{\"action\":\"a\"}")
        .send()
        .await
        .unwrap();
    crate::support::read(answer).await.problem(415);
    client
        .post("/v1/events", "application/json", "[]")
        .await
        .problem(400);
    client
        .post("/v1/events", "application/json", "42")
        .await
        .problem(400);
    let body = client
        .post(
            "/v1/events",
            "application/x-ndjson",
            "{\"action\":\"a\"}\nnot json\n",
        )
        .await
        .problem(400);
    assert!(
        body["detail"].as_str().unwrap().contains("line 2"),
        "{body}"
    );
    assert_nothing_stored(&client).await;
}

#[tokio::test]
async fn bodies_and_batches_over_the_limits_are_413() {
    let server = TestServer::start_with_body_limit(1024 * 1024).await;
    let client = server.client("acme", RW);
    let big = format!(
        "{{\"action\":\"a\",\"description\":\"{}\"}}",
        "x".repeat(2 * 1024 * 1024)
    );
    client
        .post("/v1/events", "application/json", big)
        .await
        .problem(413);

    let server = TestServer::start().await;
    let client = server.client("acme", RW);
    let batch: Vec<Value> = (0..10_001).map(|_| json!({"action": "a"})).collect();
    let body = client.post_json(&Value::Array(batch)).await.problem(413);
    assert!(body["detail"].as_str().unwrap().contains("10000"), "{body}");
    let lines = "{\"action\":\"a\"}\n".repeat(10_001);
    client
        .post("/v1/events", "application/x-ndjson", lines)
        .await
        .problem(413);
    assert_nothing_stored(&client).await;

    let batch: Vec<Value> = (0..10_000).map(|_| json!({"action": "a"})).collect();
    assert_eq!(
        client.post_json(&Value::Array(batch)).await.status,
        201,
        "exactly 10,000 is fine"
    );
}

async fn each_field_limit_is_a_400_naming_the_field(engine: Engine) {
    let server = TestServer::start_on(engine).await;
    let client = server.client("acme", RW);
    let long = |n: usize| "x".repeat(n);
    let mut deep = json!(1);
    for _ in 0..16 {
        deep = json!({"n": deep});
    }
    let cases = [
        (json!({}), "action"),
        (json!({"action": long(129)}), "action"),
        (json!({"action": "a", "id": long(257)}), "id"),
        (
            json!({"action": "a", "actor": {"id": long(257)}}),
            "actor.id",
        ),
        (
            json!({"action": "a", "actor": {"name": long(257)}}),
            "actor.name",
        ),
        (
            json!({"action": "a", "target": {"id": long(257)}}),
            "target.id",
        ),
        (
            json!({"action": "a", "target": {"name": long(257)}}),
            "target.name",
        ),
        (
            json!({"action": "a", "description": long(8 * 1024 + 1)}),
            "description",
        ),
        (
            json!({"action": "a", "occurred_at": "2999-01-01T00:00:00Z"}),
            "occurred_at",
        ),
        (
            json!({"action": "a", "metadata": {"s": "a\u{0}b"}}),
            "metadata.s",
        ),
        (
            json!({"action": "a", "metadata": {"n": 9_007_199_254_740_993u64}}),
            "metadata.n",
        ),
        (
            json!({"action": "a", "metadata": {"blob": long(65 * 1024)}}),
            "",
        ),
        (
            json!({"action": "a", "metadata": deep}),
            "metadata.n.n.n.n.n.n.n.n.n.n.n.n.n.n.n",
        ),
        (json!({"action": "a", "seq": 5}), "seq"),
    ];
    for (event, field) in cases {
        let body = client.post_json(&event).await.problem(400);
        assert_eq!(body["code"], "validation_failed");
        let errors = body["errors"].as_array().unwrap();
        assert!(
            errors
                .iter()
                .any(|e| e["field"] == field && !e["message"].as_str().unwrap().is_empty()),
            "{field:?} not named for {event}: {body}"
        );
    }
    assert_nothing_stored(&client).await;
}

async fn a_batch_with_bad_events_lists_each_index_and_stores_nothing(engine: Engine) {
    let server = TestServer::start_on(engine).await;
    let client = server.client("acme", RW);
    let body = client
        .post_json(&json!([
            {"action": "fine"},
            {"action": ""},
            {"action": "fine"},
            {"action": "a", "actor": {"email": "x".repeat(300)}}
        ]))
        .await
        .problem(400);
    let errors = body["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 2, "{body}");
    assert_eq!(
        (errors[0]["index"].clone(), errors[0]["field"].clone()),
        (json!(1), json!("action"))
    );
    assert_eq!(
        (errors[1]["index"].clone(), errors[1]["field"].clone()),
        (json!(3), json!("actor.email"))
    );
    assert_nothing_stored(&client).await;
}

async fn a_reused_id_with_other_content_is_409_and_a_retry_is_harmless(engine: Engine) {
    let server = TestServer::start_on(engine).await;
    let client = server.client("acme", RW);
    let event = json!({"id": "evt-1", "action": "user.login", "actor": {"id": "u1"}});
    let first = client.post_json(&event).await;
    assert_eq!(first.status, 201);
    let retry = client.post_json(&event).await;
    assert_eq!(retry.status, 201);
    assert_eq!(retry.json()["receipts"], first.json()["receipts"]);

    let body = client
        .post_json(&json!([{"action": "new"}, {"id": "evt-1", "action": "user.login", "actor": {"id": "u2"}}]))
        .await
        .problem(409);
    assert_eq!(body["code"], "duplicate_id");
    assert_eq!(body["errors"][0]["index"], 1);
    assert_eq!(
        client.all_events().await.len(),
        1,
        "nothing of the conflicting batch was stored"
    );
}

async fn idempotency_keys_replay_the_first_answer(engine: Engine) {
    let server = TestServer::start_on(engine).await;
    let client = server.client("acme", RW);
    let post = |body: &'static str| {
        client
            .http
            .post(format!("{}/v1/events", client.base))
            .header("content-type", "application/json")
            .header("idempotency-key", "order-42")
            .body(body)
            .send()
    };
    let first =
        crate::support::read(post(r#"[{"action":"a"},{"action":"b"}]"#).await.unwrap()).await;
    assert_eq!(first.status, 201);
    assert!(first.headers.get("idempotent-replayed").is_none());
    let again =
        crate::support::read(post(r#"[{"action":"a"},{"action":"b"}]"#).await.unwrap()).await;
    assert_eq!(again.status, 201);
    assert_eq!(again.headers["idempotent-replayed"], "true");
    assert_eq!(
        again.json(),
        first.json(),
        "the replay is the first answer, byte for byte"
    );
    let conflict = crate::support::read(post(r#"[{"action":"c"}]"#).await.unwrap()).await;
    assert_eq!(conflict.problem(409)["code"], "idempotency_conflict");
    assert_eq!(client.all_events().await.len(), 2);
}

crate::on_both_engines!(
    object_array_and_ndjson_are_accepted,
    malformed_json_wrong_type_and_bad_shapes_store_nothing,
    each_field_limit_is_a_400_naming_the_field,
    a_batch_with_bad_events_lists_each_index_and_stores_nothing,
    a_reused_id_with_other_content_is_409_and_a_retry_is_harmless,
    idempotency_keys_replay_the_first_answer,
);
