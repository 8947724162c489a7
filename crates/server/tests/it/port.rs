//! The Port dialect (`../shared/seeds/002_0337c949d3034aa3.txt`) as Port's SDK calls it: an
//! access token for an API key's id and secret, `GET /v1/audit` and `/v1/audit-log` with the
//! seed's filters, `GET /v1/audit/{id}`, records in the seed's "Audit Log Structure", errors as
//! `{ok: false, error, message}`.

use serde_json::{Value, json};

use crate::support::{Client, RW, TestServer, read};

/// The seed's record as a native event, and a few more.
fn events() -> Value {
    json!([
        {"id": "log_123456", "occurred_at": "2024-01-15T10:30:00Z", "action": "entity.created",
         "actor": {"type": "user", "id": "u-1", "email": "john.doe@example.com", "name": "John Doe"},
         "target": {"type": "entity", "id": "payment-service"},
         "metadata": {"blueprint": "service"},
         "changes": {"properties": {"to": {"language": "Python"}}},
         "context": {"ip_address": "192.168.1.100", "user_agent": "Mozilla/5.0..."}},
        {"id": "log_2", "occurred_at": "2024-01-20T10:00:00Z", "action": "entity.updated",
         "actor": {"id": "u-2", "email": "admin@example.com"},
         "target": {"type": "entity", "id": "checkout"}},
        {"id": "log_3", "occurred_at": "2024-02-02T10:00:00Z", "action": "blueprint.created",
         "actor": {"id": "u-2", "email": "admin@example.com"},
         "target": {"type": "blueprint", "id": "service"}},
    ])
}

/// A server with the events, and the id and secret of an API key that reads.
async fn setup() -> (TestServer, Value) {
    let server = TestServer::start().await;
    assert_eq!(
        server.client("acme", RW).post_json(&events()).await.status,
        201
    );
    let key = server
        .client("acme", crate::support::EVERY_ROLE)
        .post(
            "/v1/api-keys",
            "application/json",
            json!({"name": "port sdk", "roles": ["audit:read"]}).to_string(),
        )
        .await
        .json();
    (server, key)
}

async fn access_token(server: &TestServer, key: &Value) -> crate::support::Answer {
    read(
        reqwest::Client::new()
            .post(server.url("/v1/auth/access_token"))
            .json(&json!({"clientId": key["client_id"], "clientSecret": key["client_secret"]}))
            .send()
            .await
            .unwrap(),
    )
    .await
}

async fn port_client(server: &TestServer, key: &Value) -> Client {
    let answer = access_token(server, key).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    server.client_with_token(answer.json()["accessToken"].as_str().unwrap())
}

fn assert_error(answer: &crate::support::Answer, status: u16, error: &str) {
    assert_eq!(answer.status, status, "{}", answer.text);
    assert_eq!(answer.content_type(), "application/json");
    let body = answer.json();
    assert_eq!(body["ok"], false, "{body}");
    assert_eq!(body["error"], error, "{body}");
    assert!(body["message"].is_string(), "{body}");
}

#[tokio::test]
async fn the_access_token_and_the_seed_record() {
    let (server, key) = setup().await;
    let token = access_token(&server, &key).await;
    let body = token.json();
    assert_eq!(body["ok"], true);
    assert_eq!(body["tokenType"], "Bearer");
    assert_eq!(body["expiresIn"], 900);
    assert_eq!(body.as_object().unwrap().len(), 4, "{body}");

    let client = port_client(&server, &key).await;
    let one = client.get("/v1/audit/log_123456").await;
    assert_eq!(one.status, 200, "{}", one.text);
    assert_eq!(
        one.json(),
        json!({"ok": true, "audit": {
            "id": "log_123456",
            "timestamp": "2024-01-15T10:30:00Z",
            "action": "entity.created",
            "user": {"email": "john.doe@example.com", "name": "John Doe"},
            "resource": {"type": "entity", "identifier": "payment-service", "blueprint": "service"},
            "details": {"changes": {"properties": {"to": {"language": "Python"}}}},
            "ip_address": "192.168.1.100",
            "user_agent": "Mozilla/5.0..."
        }})
    );
    let listed = client.get("/v1/audit").await.json();
    assert_eq!(listed["ok"], true);
    assert_eq!(
        listed["audits"].as_array().unwrap().len(),
        4,
        "three events and the key's creation"
    );
    assert_eq!(client.get("/v1/audit-log").await.json(), listed);
}

#[tokio::test]
async fn each_seed_filter_narrows() {
    let (server, key) = setup().await;
    let client = port_client(&server, &key).await;
    let ids = |body: Value| -> Vec<String> {
        body["audits"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["id"].as_str().unwrap().to_owned())
            .collect()
    };
    for (query, expected) in [
        (
            "start_date=2024-01-01T00:00:00Z&end_date=2024-01-31T23:59:59Z",
            vec!["log_2", "log_123456"],
        ),
        ("action=entity.created", vec!["log_123456"]),
        ("user=john.doe@example.com", vec!["log_123456"]),
        ("user=u-2", vec!["log_3", "log_2"]),
        (
            "resource_type=entity&resource_identifier=payment-service",
            vec!["log_123456"],
        ),
        (
            "end_date=2025-01-01&page=1&per_page=2",
            vec!["log_3", "log_2"],
        ),
        ("end_date=2025-01-01&page=2&per_page=2", vec!["log_123456"]),
    ] {
        let answer = client.get(&format!("/v1/audit?{query}")).await;
        assert_eq!(answer.status, 200, "{query}: {}", answer.text);
        assert_eq!(ids(answer.json()), expected, "{query}");
    }
}

#[tokio::test]
async fn errors_say_ok_false_with_a_code() {
    let (server, key) = setup().await;
    let client = port_client(&server, &key).await;
    assert_error(
        &client.get("/v1/audit?colour=red").await,
        400,
        "invalid_request",
    );
    assert_error(
        &client.get("/v1/audit?per_page=0").await,
        400,
        "invalid_request",
    );
    assert_error(&client.get("/v1/audit/nope").await, 404, "not_found");
    let wrong = json!({"client_id": key["client_id"], "client_secret": "A".repeat(43)});
    assert_error(&access_token(&server, &wrong).await, 401, "unauthorized");
    let anonymous = read(reqwest::get(server.url("/v1/audit")).await.unwrap()).await;
    assert_error(&anonymous, 401, "unauthorized");
    let writer = server.client("acme", "audit:write");
    assert_error(&writer.get("/v1/audit").await, 403, "forbidden");
    let bad_body = read(
        reqwest::Client::new()
            .post(server.url("/v1/auth/access_token"))
            .json(&json!({"clientId": "x"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_error(&bad_body, 400, "invalid_request");
}
