//! The Audit Rail dialect (`../shared/seeds/004_43b0886660c44472.txt`) under `/api/v1/audit`,
//! with the seed's records: logs with pagination, one log with its ledger receipt, an entity's
//! history with `changes`, access logs, login history and statistics, in the seed's shapes and
//! enums; each filter narrows; errors are JSON.

use serde_json::{Value, json};

use crate::support::{Client, RW, TestServer, read};

const BASE: &str = "/api/v1/audit";

/// The seed's log entry and history, as native events, plus sign-ins and data access.
fn seed_events() -> Value {
    json!([
        {"id": "log_abc123", "occurred_at": "2025-01-15T10:00:00Z", "action": "CONTRACT_CREATED",
         "category": "create",
         "actor": {"type": "USER", "id": "user_123", "email": "user@example.com"},
         "target": {"type": "CONTRACT", "id": "con_xyz"},
         "metadata": {"contractType": "MURABAHA", "amount": "500000.00"},
         "context": {"ip_address": "192.168.1.100", "user_agent": "Mozilla/5.0...", "trace_id": "trace_abc"}},
        {"id": "log_def456", "occurred_at": "2025-01-15T11:00:00Z", "action": "CONTRACT_UPDATED",
         "actor": {"type": "API_KEY", "id": "user_456"},
         "target": {"type": "CONTRACT", "id": "con_xyz"},
         "changes": {"status": {"from": "DRAFT", "to": "PENDING_APPROVAL"}}},
        {"id": "login_1", "occurred_at": "2025-01-15T10:00:00Z", "action": "user.login",
         "actor": {"type": "user", "id": "user_123", "email": "user@example.com"},
         "context": {"method": "PASSWORD", "ip_address": "192.168.1.100", "location": "Riyadh, SA",
                     "device": "Chrome on Windows"}},
        {"id": "login_2", "occurred_at": "2025-01-16T09:00:00Z", "action": "user.login", "outcome": "failure",
         "actor": {"type": "user", "id": "user_789"}},
        {"id": "read_1", "occurred_at": "2025-02-01T09:00:00Z", "action": "customer.viewed",
         "actor": {"type": "system", "id": "batch"}, "target": {"type": "CUSTOMER", "id": "cus_1"}},
        {"id": "delete_1", "occurred_at": "2025-02-02T09:00:00Z", "action": "payment.deleted",
         "actor": {"type": "webhook", "id": "hook_1"}, "target": {"type": "PAYMENT", "id": "pay_1"}},
    ])
}

async fn seeded(server: &TestServer) -> Client {
    let client = server.client("acme", RW);
    let answer = client.post_json(&seed_events()).await;
    assert_eq!(answer.status, 201, "{}", answer.text);
    client
}

async fn get(client: &Client, path: &str) -> Value {
    let answer = client.get(&format!("{BASE}{path}")).await;
    assert_eq!(answer.status, 200, "{path}: {}", answer.text);
    assert_eq!(answer.content_type(), "application/json");
    answer.json()
}

fn ids(body: &Value, key: &str) -> Vec<String> {
    body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r[key].as_str().unwrap_or("").to_owned())
        .collect()
}

#[tokio::test]
async fn logs_come_in_the_seed_shape_with_pagination() {
    let server = TestServer::start().await;
    let client = seeded(&server).await;
    let body = get(&client, "/logs?entityId=con_xyz&perPage=1").await;
    assert_eq!(
        body["data"][0],
        json!({
            "logId": "log_def456", "timestamp": "2025-01-15T11:00:00Z", "action": "CONTRACT_UPDATED",
            "entityType": "CONTRACT", "entityId": "con_xyz",
            "actor": {"type": "API_KEY", "id": "user_456", "email": null},
            "metadata": {}, "ipAddress": null, "userAgent": null, "traceId": null,
        })
    );
    assert_eq!(
        body["pagination"],
        json!({"page": 1, "perPage": 1, "total": 2})
    );
    let second = get(&client, "/logs?entityId=con_xyz&perPage=1&page=2").await;
    assert_eq!(
        second["data"][0],
        json!({
            "logId": "log_abc123", "timestamp": "2025-01-15T10:00:00Z", "action": "CONTRACT_CREATED",
            "entityType": "CONTRACT", "entityId": "con_xyz",
            "actor": {"type": "USER", "id": "user_123", "email": "user@example.com"},
            "metadata": {"contractType": "MURABAHA", "amount": "500000.00"},
            "ipAddress": "192.168.1.100", "userAgent": "Mozilla/5.0...", "traceId": "trace_abc",
        })
    );
}

#[tokio::test]
async fn every_logs_filter_narrows() {
    let server = TestServer::start().await;
    let client = seeded(&server).await;
    let cases: [(&str, &[&str]); 9] = [
        ("action=CREATE", &["log_abc123"]),
        ("action=UPDATE", &["log_def456"]),
        ("action=CONTRACT_CREATED", &["log_abc123"]),
        ("action=DELETE", &["delete_1"]),
        ("entityType=CUSTOMER", &["read_1"]),
        ("entityId=pay_1", &["delete_1"]),
        ("actorId=user_123", &["log_abc123", "login_1"]),
        ("from=2025-02-01", &["delete_1", "read_1"]),
        ("to=2025-01-15T10:30:00Z", &["log_abc123", "login_1"]),
    ];
    for (query, expected) in cases {
        let mut got = ids(&get(&client, &format!("/logs?{query}")).await, "logId");
        got.sort();
        let mut expected: Vec<String> = expected.iter().map(|s| s.to_string()).collect();
        expected.sort();
        assert_eq!(got, expected, "{query}");
    }
    // The dotted spelling of an exact action is found by its Audit Rail spelling too.
    let native = server.client("acme", RW);
    let answer = native
        .post_json(&json!({"id": "dotted", "action": "invoice.approved"}))
        .await;
    assert_eq!(answer.status, 201);
    assert_eq!(
        ids(
            &get(&client, "/logs?action=INVOICE_APPROVED").await,
            "logId"
        ),
        ["dotted"]
    );
    assert_eq!(
        ids(&get(&client, "/logs?action=APPROVE").await, "logId"),
        ["dotted"]
    );
}

#[tokio::test]
async fn one_log_has_every_detail_and_a_receipt_that_verifies() {
    let server = TestServer::start().await;
    let client = seeded(&server).await;
    let body = get(&client, "/logs/log_def456").await;
    let log = &body["data"];
    assert_eq!(log["logId"], "log_def456");
    assert_eq!(log["category"], "UPDATE");
    assert_eq!(log["status"], "SUCCESS");
    assert_eq!(
        log["changes"],
        json!({"status": {"from": "DRAFT", "to": "PENDING_APPROVAL"}})
    );
    let receipt = &log["receipt"];
    assert_eq!(receipt["seq"], 1);
    assert_eq!(receipt["treeSize"], 6);
    assert!(
        receipt["checkpoint"]
            .as_str()
            .unwrap()
            .starts_with("trailkeep/acme\n6\n")
    );
    // The receipt is the native proof: same leaf hash and path.
    let native = client.get("/v1/events/log_def456?proof=1").await.json();
    assert_eq!(receipt["leafHash"], native["leaf_hash"]);
    assert_eq!(receipt["inclusionProof"], native["inclusion"]["hashes"]);
}

#[tokio::test]
async fn history_access_logins_and_stats_match_the_seed() {
    let server = TestServer::start().await;
    let client = seeded(&server).await;
    let history = get(&client, "/entities/CONTRACT/con_xyz/history").await;
    assert_eq!(
        history["data"],
        json!([
            {"timestamp": "2025-01-15T10:00:00Z", "action": "CREATED", "actor": "user_123", "changes": null},
            {"timestamp": "2025-01-15T11:00:00Z", "action": "UPDATED", "actor": "user_456",
             "changes": {"status": {"from": "DRAFT", "to": "PENDING_APPROVAL"}}},
        ])
    );

    let logins = get(&client, "/login-history?userId=user_123").await;
    assert_eq!(
        logins["data"],
        json!([{"timestamp": "2025-01-15T10:00:00Z", "userId": "user_123", "status": "SUCCESS",
                "method": "PASSWORD", "ipAddress": "192.168.1.100", "location": "Riyadh, SA",
                "device": "Chrome on Windows"}])
    );
    assert_eq!(
        ids(
            &get(&client, "/login-history?status=FAILED").await,
            "userId"
        ),
        ["user_789"]
    );
    assert_eq!(
        ids(
            &get(&client, "/login-history?userId=user@example.com").await,
            "userId"
        ),
        ["user_123"]
    );
    assert_eq!(
        ids(
            &get(&client, "/login-history?from=2025-01-16").await,
            "userId"
        ),
        ["user_789"]
    );

    let access = get(&client, "/access-logs").await;
    assert_eq!(
        ids(&access, "logId"),
        ["delete_1", "read_1", "log_def456", "log_abc123"]
    );
    let first = &access["data"][0];
    assert_eq!(first["accessType"], "DELETE");
    assert_eq!(first["actorType"], "WEBHOOK");
    assert_eq!(first["resourceType"], "PAYMENT");
    assert_eq!(
        ids(&get(&client, "/access-logs?accessType=READ").await, "logId"),
        ["read_1"]
    );
    assert_eq!(
        ids(
            &get(&client, "/access-logs?accessType=WRITE").await,
            "logId"
        ),
        ["log_def456", "log_abc123"]
    );
    assert_eq!(
        ids(
            &get(&client, "/access-logs?resourceType=PAYMENT").await,
            "logId"
        ),
        ["delete_1"]
    );
    assert_eq!(
        ids(&get(&client, "/access-logs?actorId=batch").await, "logId"),
        ["read_1"]
    );

    let stats = get(&client, "/stats?period=2025-01").await;
    assert_eq!(
        stats["data"],
        json!({"period": "2025-01", "totalEvents": 4,
               "byAction": {"CREATE": 1, "UPDATE": 1, "LOGIN": 2},
               "byEntityType": {"CONTRACT": 2},
               "uniqueActors": 3, "failedLogins": 1})
    );
    assert_eq!(get(&client, "/stats").await["data"]["totalEvents"], 6);
    assert_eq!(get(&client, "/stats").await["data"]["period"], "all");
}

#[tokio::test]
async fn errors_are_json_with_codes() {
    let server = TestServer::start().await;
    let client = seeded(&server).await;
    let expect = |answer: crate::support::Answer, status: u16, code: &str| {
        assert_eq!(answer.status, status, "{}", answer.text);
        assert_eq!(answer.content_type(), "application/json");
        let body = answer.json();
        assert_eq!(body["error"]["code"], code, "{body}");
        assert!(body["error"]["message"].is_string());
    };
    expect(
        client.get(&format!("{BASE}/logs/nope")).await,
        404,
        "NOT_FOUND",
    );
    expect(
        client.get(&format!("{BASE}/logs?perPage=0")).await,
        400,
        "BAD_REQUEST",
    );
    expect(
        client.get(&format!("{BASE}/logs?colour=red")).await,
        400,
        "BAD_REQUEST",
    );
    expect(
        client
            .get(&format!("{BASE}/access-logs?accessType=PEEK"))
            .await,
        400,
        "BAD_REQUEST",
    );
    expect(
        client
            .get(&format!("{BASE}/login-history?status=MAYBE"))
            .await,
        400,
        "BAD_REQUEST",
    );
    expect(
        client.get(&format!("{BASE}/stats?period=2025-13")).await,
        400,
        "BAD_REQUEST",
    );
    let anonymous = read(
        reqwest::get(server.url(&format!("{BASE}/logs")))
            .await
            .unwrap(),
    )
    .await;
    expect(anonymous, 401, "UNAUTHORIZED");
    let writer = server.client("acme", "audit:write");
    expect(writer.get(&format!("{BASE}/logs")).await, 403, "FORBIDDEN");
}

/// The seed's three webhook events: subscribed in the Rail's envelope with its filter object,
/// delivered as native subscriptions are, refused in the Rail's error shape.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_events_are_subscribed_in_the_rails_shape() {
    use reqwest::Method;

    let server = TestServer::start().await;
    let admin = server.client("acme", crate::support::EVERY_ROLE);
    let receiver = crate::receiver::Receiver::start().await;
    let created = admin
        .call(
            Method::POST,
            "/api/v1/audit/webhooks",
            Some(&json!({
                "url": receiver.url("/rail"),
                "events": ["audit.log.created", "audit.suspicious.detected"],
                "filter": {"action": "LOGIN"},
            })),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    let data = created.json()["data"].clone();
    assert!(data["secret"].as_str().unwrap().starts_with("whsec_"));
    assert_eq!(
        data["events"],
        json!(["audit.log.created", "audit.suspicious.detected"])
    );
    assert_eq!(data["filter"], json!({"action": "LOGIN"}));
    assert_eq!(data["active"], true);
    let id = data["id"].as_str().unwrap().to_owned();

    admin
        .post_json(&json!([
            {"action": "contract.created", "actor": {"id": "u1"}},
            {"action": "user.login", "actor": {"id": "u1"}},
        ]))
        .await;
    let got = receiver
        .wait_for(std::time::Duration::from_secs(30), |r| !r.is_empty())
        .await;
    let events = got[0].body["data"]["events"].as_array().unwrap().clone();
    assert_eq!(events.len(), 1, "the Rail's LOGIN filter: {events:?}");
    assert_eq!(events[0]["event"]["action"], "user.login");
    assert_eq!(got[0].body["type"], "audit.log.created");

    let listed = get(&admin, "/webhooks").await;
    assert_eq!(listed["data"][0]["id"], id.as_str());
    assert!(listed["data"][0].get("secret").is_none(), "shown once");
    let native = admin.get(&format!("/v1/webhooks/{id}")).await;
    assert_eq!(native.status, 200, "the same subscription: {}", native.text);

    let refused = admin
        .call(
            Method::POST,
            "/api/v1/audit/webhooks",
            Some(&json!({"url": receiver.url("/x"), "events": ["audit.everything"]})),
        )
        .await;
    assert_eq!(refused.status, 400);
    assert_eq!(
        refused.json()["error"]["code"],
        "VALIDATION_ERROR",
        "{}",
        refused.text
    );
    let beta = server.client("beta", crate::support::EVERY_ROLE);
    let missing = beta.get(&format!("/api/v1/audit/webhooks/{id}")).await;
    assert_eq!(missing.status, 404);
    assert_eq!(missing.json()["error"]["code"], "NOT_FOUND");

    let deleted = admin
        .call(
            Method::DELETE,
            &format!("/api/v1/audit/webhooks/{id}"),
            None,
        )
        .await;
    assert_eq!(deleted.status, 204);
    assert_eq!(
        admin
            .get(&format!("/api/v1/audit/webhooks/{id}"))
            .await
            .status,
        404
    );
}
