//! The Persys dialect (`../shared/seeds/000_26b402f646cf5969.txt`) driven with the seed's own
//! requests: `POST /audit-logs` answers 201 with the stored log, `GET /audit-logs` answers
//! `{"logs": [...]}` with the seed's record shape, both also under `/audit-service`, every
//! documented error with a JSON body, and each filter narrows.

use serde_json::{Value, json};

use crate::support::{Client, RW, TestServer, read};

/// The seed's `POST /audit-logs` body.
fn seed_create() -> Value {
    json!({"user_id": "123", "event_type": "create_order", "details": {"order_id": "456", "order_total": 100.0}})
}

/// The two logs of the seed's `GET /audit-logs` example, as `POST` bodies.
fn seed_logins() -> [Value; 2] {
    let agent = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/93.0.4577.63 Safari/537.36";
    [
        json!({"user_id": "456", "event_type": "login", "details": {"ip_address": "192.168.0.1", "user_agent": agent}}),
        json!({"user_id": "789", "event_type": "logout", "details": {"ip_address": "192.168.0.2", "user_agent": agent}}),
    ]
}

async fn create(client: &Client, base: &str, body: &Value) -> Value {
    let answer = client
        .post(
            &format!("{base}/audit-logs"),
            "application/json",
            body.to_string(),
        )
        .await;
    assert_eq!(answer.status, 201, "{}", answer.text);
    assert_eq!(answer.content_type(), "application/json");
    answer.json()
}

fn assert_log_shape(log: &Value) {
    let keys: Vec<&str> = log
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        ["details", "event_type", "id", "timestamp", "user_id"],
        "{log}"
    );
    assert!(log["id"].is_string() && log["timestamp"].is_string() && log["details"].is_object());
    trailkeep_event::Timestamp::parse(log["timestamp"].as_str().unwrap()).unwrap();
}

/// A Persys error: the status, and `{error, message, status}`.
fn assert_error(answer: &crate::support::Answer, status: u16) -> Value {
    assert_eq!(answer.status, status, "{}", answer.text);
    assert_eq!(answer.content_type(), "application/json");
    let body = answer.json();
    assert_eq!(body["status"], status, "{body}");
    assert!(
        body["error"].is_string() && body["message"].is_string(),
        "{body}"
    );
    body
}

#[tokio::test]
async fn the_seed_examples_work_at_the_root_and_under_audit_service() {
    let server = TestServer::start().await;
    let client = server.client("acme", RW);
    for base in ["", "/audit-service"] {
        let created = create(&client, base, &seed_create()).await;
        assert_log_shape(&created);
        assert_eq!(created["user_id"], "123");
        assert_eq!(created["event_type"], "create_order");
        // JSON numbers: 100.0 is stored canonically (RFC 8785) as 100, the same number.
        assert_eq!(created["details"]["order_id"], "456");
        assert_eq!(created["details"]["order_total"].as_f64(), Some(100.0));

        let one = client
            .get(&format!(
                "{base}/audit-logs/{}",
                created["id"].as_str().unwrap()
            ))
            .await;
        assert_eq!(one.status, 200, "{}", one.text);
        assert_eq!(one.json(), created);
    }
    for body in seed_logins() {
        create(&client, "", &body).await;
    }
    let listed = client.get("/audit-service/audit-logs").await;
    assert_eq!(listed.status, 200, "{}", listed.text);
    let logs = listed.json()["logs"].as_array().unwrap().clone();
    assert_eq!(logs.len(), 4);
    for log in &logs {
        assert_log_shape(log);
    }
    // Newest first: the seed's logout, then its login, with details exactly as sent.
    assert_eq!(logs[0]["event_type"], "logout");
    assert_eq!(logs[0]["user_id"], "789");
    assert_eq!(logs[1]["details"], seed_logins()[0]["details"]);

    // The login's address and agent are the native event's context, so the logins view
    // sees them.
    let native = client.get("/v1/logins").await.json();
    let login = native["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "login")
        .unwrap();
    assert_eq!(login["context"]["ip_address"], "192.168.0.1");
    assert_eq!(login["actor"], json!({"id": "456", "type": "user"}));
}

#[tokio::test]
async fn each_filter_narrows_and_pages_page() {
    let server = TestServer::start().await;
    let client = server.client("acme", RW);
    for body in seed_logins() {
        create(&client, "", &body).await;
    }
    create(&client, "", &seed_create()).await;
    let events = |path: &str| {
        let client = &client;
        let path = path.to_owned();
        async move {
            let answer = client.get(&path).await;
            assert_eq!(answer.status, 200, "{path}: {}", answer.text);
            answer.json()["logs"]
                .as_array()
                .unwrap()
                .iter()
                .map(|l| l["event_type"].as_str().unwrap().to_owned())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(events("/audit-logs?user_id=456").await, ["login"]);
    assert_eq!(events("/audit-logs?event_type=logout").await, ["logout"]);
    assert_eq!(
        events("/audit-logs?user_id=123&event_type=login").await,
        Vec::<String>::new()
    );
    assert_eq!(events("/audit-logs?start_time=2000-01-01").await.len(), 3);
    assert_eq!(
        events("/audit-logs?end_time=2000-01-01T00:00:00Z").await,
        Vec::<String>::new()
    );
    assert_eq!(
        events("/audit-logs?per_page=2").await,
        ["create_order", "logout"]
    );
    assert_eq!(events("/audit-logs?per_page=2&page=2").await, ["login"]);
}

#[tokio::test]
async fn every_documented_error_has_a_json_body() {
    let server = TestServer::start().await;
    let client = server.client("acme", RW);
    // 400: a missing field, a wrong type, unknown parameters.
    for body in [
        json!({"event_type": "login"}),
        json!({"user_id": "1", "event_type": 7}),
        json!({"user_id": "1", "event_type": "x", "extra": true}),
    ] {
        let answer = client
            .post("/audit-logs", "application/json", body.to_string())
            .await;
        assert_error(&answer, 400);
    }
    assert_error(
        &client
            .post("/audit-logs", "application/json", "{not json")
            .await,
        400,
    );
    assert_error(&client.get("/audit-logs?colour=red").await, 400);
    assert_error(
        &client.post("/audit-logs", "text/plain", "hello").await,
        415,
    );
    // 401: missing or invalid JWT.
    let anonymous = read(reqwest::get(server.url("/audit-logs")).await.unwrap()).await;
    assert_error(&anonymous, 401);
    assert_error(
        &server.client_with_token("a.b.c").get("/audit-logs").await,
        401,
    );
    // 403: a reader may not write.
    let reader = server.client("acme", "audit:read");
    let body = assert_error(
        &reader
            .post("/audit-logs", "application/json", seed_create().to_string())
            .await,
        403,
    );
    assert!(
        body["message"].as_str().unwrap().contains("audit:write"),
        "{body}"
    );
    // 404: no such log.
    assert_error(&client.get("/audit-logs/nope").await, 404);
}
