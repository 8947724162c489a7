//! `/v1/retention`, `/v1/legal-holds` and `/v1/erasures` on both engines: bodies are checked
//! and refused with the field named, every change is on the record, a hold keeps its events
//! from an erasure, and a tombstone says what it is through the native API, every dialect and
//! every export format.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};
use tokio::time::timeout;

use crate::on_both_engines;
use crate::support::{Client, Engine, TestServer};

const ADMIN: &str = "audit:read audit:write audit:export audit:admin";

async fn call(client: &Client, method: Method, path: &str, body: Value) -> (u16, Value) {
    let answer = client.call(method, path, Some(&body)).await;
    let status = answer.status;
    (status, answer.json())
}

/// Waits for the job at `path` to end; answers it.
async fn finished(client: &Client, path: &str) -> Value {
    timeout(Duration::from_secs(30), async {
        loop {
            let job = client.get(path).await.json();
            if job["state"] != "queued" && job["state"] != "running" {
                return job;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("{path} did not finish"))
}

/// The actions of the tenant's trail, in order.
async fn actions(client: &Client) -> Vec<String> {
    client
        .all_events()
        .await
        .iter()
        .map(|e| e["action"].as_str().unwrap().to_owned())
        .collect()
}

async fn policies_and_holds_are_checked_and_on_the_record(engine: Engine) {
    let server = TestServer::start_on(engine).await;
    let admin = server.client("acme", ADMIN);
    for (body, field) in [
        (json!({"default_days": 0}), "default_days"),
        (json!({"overrides": [{"days": 3}]}), "overrides[0]"),
        (
            json!({"overrides": [{"action": "a.*.b", "days": 3}]}),
            "overrides[0].action",
        ),
        (
            json!({"overrides": [{"category": "nap", "days": 3}]}),
            "overrides[0].category",
        ),
        (
            json!({"overrides": [{"action": "a", "days": 40000}]}),
            "overrides[0].days",
        ),
        (json!({"keep": 3}), "keep"),
    ] {
        let (status, problem) = call(&admin, Method::PUT, "/v1/retention", body.clone()).await;
        assert_eq!(status, 400, "{body}: {problem}");
        assert!(problem.to_string().contains(field), "{body}: {problem}");
    }
    let (status, policy) = call(
        &admin,
        Method::PUT,
        "/v1/retention",
        json!({"default_days": 30, "overrides": [{"action": "user.login", "days": 7}, {"category": "export", "days": 365}]}),
    )
    .await;
    assert_eq!(status, 200, "{policy}");
    let read = admin.get("/v1/retention").await.json();
    assert_eq!(read, policy);
    assert_eq!(read["default_days"], 30);
    assert_eq!(read["overrides"][1]["category"], "export");
    assert_eq!(read["server_default_days"], Value::Null);

    for (scope, field) in [
        (json!({"type": "everyone"}), "scope.type"),
        (json!({"type": "actor"}), "scope.id"),
        (
            json!({"type": "actor", "id": "u1", "extra": 1}),
            "scope.extra",
        ),
        (json!({"type": "filter", "filter": {}}), "scope.filter"),
        (
            json!({"type": "filter", "filter": {"nonsense": "x"}}),
            "nonsense",
        ),
    ] {
        let (status, problem) = call(
            &admin,
            Method::POST,
            "/v1/legal-holds",
            json!({"scope": scope, "reason": "matter 1"}),
        )
        .await;
        assert_eq!(status, 400, "{scope}: {problem}");
        assert!(problem.to_string().contains(field), "{scope}: {problem}");
    }
    let (status, problem) = call(
        &admin,
        Method::POST,
        "/v1/legal-holds",
        json!({"scope": {"type": "tenant"}, "reason": "  "}),
    )
    .await;
    assert_eq!(status, 400, "{problem}");
    let (status, hold) = call(
        &admin,
        Method::POST,
        "/v1/legal-holds",
        json!({"scope": {"type": "filter", "filter": {"action": "invoice.*"}}, "reason": "matter 1"}),
    )
    .await;
    assert_eq!(status, 201, "{hold}");
    assert_eq!(
        hold["scope"],
        json!({"type": "filter", "filter": {"action": "invoice.*"}})
    );
    let id = hold["id"].as_str().unwrap();
    assert_eq!(
        admin.get("/v1/legal-holds").await.json()["data"][0]["id"],
        id
    );
    let lift = format!("/v1/legal-holds/{id}/lift");
    let (status, _) = call(&admin, Method::POST, &lift, json!({"reason": ""})).await;
    assert_eq!(status, 400);
    let (status, lifted) = call(&admin, Method::POST, &lift, json!({"reason": "closed"})).await;
    assert_eq!(status, 200, "{lifted}");
    assert_eq!(lifted["state"], "lifted");
    assert_eq!(lifted["lift_reason"], "closed");
    let (status, again) = call(&admin, Method::POST, &lift, json!({"reason": "closed"})).await;
    assert_eq!(status, 400, "{again}");
    assert_eq!(admin.get("/v1/legal-holds/hold_nope").await.status, 404);
    assert_eq!(
        admin.get(&format!("/v1/legal-holds/{id}")).await.json()["state"],
        "lifted"
    );

    let trail = actions(&admin).await;
    for action in [
        "audit.retention.updated",
        "audit.legal_hold.placed",
        "audit.legal_hold.lifted",
    ] {
        assert_eq!(
            trail.iter().filter(|a| *a == action).count(),
            1,
            "{action} once in {trail:?}"
        );
    }
    // A reader is refused.
    let reader = server.client("acme", "audit:read");
    assert_eq!(reader.get("/v1/retention").await.status, 403);
}

async fn erasures_are_checked_and_a_hold_keeps_its_events_whole(engine: Engine) {
    let server = TestServer::start_on(engine).await;
    let admin = server.client("acme", ADMIN);
    for (body, said) in [
        (json!({"reason": "r"}), "actor_id, email"),
        (
            json!({"actor_id": "u1", "reason": "r", "fields": ["seq"]}),
            "cannot be erased",
        ),
        (json!({"actor_id": "u1", "reason": ""}), "reason"),
        (json!({"actor_id": "u1"}), "reason"),
    ] {
        let (status, problem) = call(&admin, Method::POST, "/v1/erasures", body.clone()).await;
        assert_eq!(status, 400, "{body}: {problem}");
        assert!(problem.to_string().contains(said), "{body}: {problem}");
    }
    let events: Vec<Value> = (0..6)
        .map(|i| {
            json!({"id": format!("e{i}"), "action": if i < 3 { "invoice.paid" } else { "doc.read" },
                   "actor": {"id": "u1", "email": "u1@example.com"},
                   "context": {"ip_address": "192.0.2.1"}})
        })
        .collect();
    assert_eq!(admin.post_json(&json!(events)).await.status, 201);
    let (status, _) = call(
        &admin,
        Method::POST,
        "/v1/legal-holds",
        json!({"scope": {"type": "filter", "filter": {"action": "invoice.*"}}, "reason": "audit of invoices"}),
    )
    .await;
    assert_eq!(status, 201);
    let (status, erasure) = call(
        &admin,
        Method::POST,
        "/v1/erasures",
        json!({"actor_id": "u1", "reason": "DSAR 9"}),
    )
    .await;
    assert_eq!(status, 202, "{erasure}");
    assert_eq!(
        erasure["fields"],
        json!([
            "actor.email",
            "actor.name",
            "context.ip_address",
            "context.user_agent",
            "context.location",
            "context.device",
            "context.geo"
        ])
    );
    let erasure = finished(&admin, erasure["status_url"].as_str().unwrap()).await;
    assert_eq!(erasure["state"], "succeeded", "{erasure}");
    assert_eq!(erasure["result"]["matched"], 6, "{erasure}");
    assert_eq!(erasure["result"]["held"], 3, "{erasure}");
    assert_eq!(erasure["result"]["erased"], 3, "{erasure}");
    for i in 0..6 {
        let event = admin.get(&format!("/v1/events/e{i}")).await.json();
        assert_eq!(event["redaction"].is_object(), i >= 3, "e{i}: {event}");
        assert_eq!(event["actor"]["email"].is_string(), i < 3, "e{i}: {event}");
    }
    assert_eq!(
        admin.get("/v1/erasures").await.json()["data"][0]["id"],
        erasure["id"]
    );
}

async fn every_surface_shows_a_tombstone_as_one(engine: Engine) {
    let server = TestServer::start_on(engine).await;
    let admin = server.client("acme", ADMIN);
    let event = json!({
        "id": "t-1", "action": "invoice.updated", "description": "sent the invoice",
        "actor": {"type": "user", "id": "u-7", "email": "u7@example.com", "name": "U Seven"},
        "target": {"type": "invoice", "id": "inv-1"},
        "context": {"ip_address": "198.51.100.8"},
        "metadata": {"plan": "pro"},
    });
    assert_eq!(admin.post_json(&event).await.status, 201);
    let (_, erasure) = call(
        &admin,
        Method::POST,
        "/v1/erasures",
        json!({"actor_id": "u-7", "fields": ["actor.email", "context.ip_address"], "reason": "DSAR 1"}),
    )
    .await;
    let erasure = finished(&admin, erasure["status_url"].as_str().unwrap()).await;
    assert_eq!(erasure["result"]["erased"], 1, "{erasure}");
    let removed = json!(["actor.email", "context.ip_address"]);

    let native = admin.get("/v1/events/t-1").await.json();
    assert_eq!(native["redaction"]["reason"], "erasure");
    assert_eq!(native["redaction"]["removed"], removed);
    let record = native["redaction"]["record"].as_str().unwrap().to_owned();
    let marker = |v: &Value, surface: &str| {
        assert_eq!(v["reason"], "erasure", "{surface}: {v}");
        assert_eq!(v["removed"], removed, "{surface}: {v}");
        assert_eq!(v["record"], record.as_str(), "{surface}: {v}");
        assert_eq!(v["provable"], false, "{surface}: {v}");
    };
    let persys = admin.get("/audit-logs/t-1").await.json();
    marker(&persys["details"]["redaction"], "persys");
    assert_eq!(persys["details"]["ip_address"], Value::Null);
    let rail = admin.get("/api/v1/audit/logs/t-1").await.json();
    marker(&rail["data"]["metadata"]["redaction"], "audit rail");
    assert_eq!(rail["data"]["actor"]["email"], Value::Null);
    let port = admin.get("/v1/audit/t-1").await.json();
    marker(&port["audit"]["details"]["redaction"], "port");
    let v1 = admin
        .get("/client/v4/accounts/acme/audit_logs?id=t-1")
        .await
        .json();
    marker(&v1["result"][0]["metadata"]["redaction"], "cloudflare v1");
    let v2 = admin
        .get("/accounts/acme/logs/audit?since=2000-01-01&before=2100-01-01&id=t-1")
        .await
        .json();
    let note = v2["result"][0]["action"]["description"].as_str().unwrap();
    assert!(
        note.starts_with("[tombstone: erasure removed actor.email, context.ip_address;")
            && note.ends_with("sent the invoice"),
        "cloudflare v2: {note}"
    );
    let kore = admin.get("/api/public/auditlogs?userId=u-7").await.json();
    let keywords = kore["logs"][0]["keywords"].as_str().unwrap();
    assert!(
        keywords.starts_with("[tombstone: erasure"),
        "kore: {keywords}"
    );

    // Every export format says it too.
    for (format, needle) in [
        ("ndjson", "\"redaction\":{"),
        ("json", "\"redaction\":{"),
        ("csv", ",redaction\r\n"),
        ("ocsf", "\"redaction\":{"),
    ] {
        let (status, export) = call(
            &admin,
            Method::POST,
            "/v1/exports",
            json!({"format": format, "filter": {"action": "invoice.updated"}}),
        )
        .await;
        assert_eq!(status, 202, "{export}");
        let done = finished(
            &admin,
            &format!("/v1/exports/{}", export["id"].as_str().unwrap()),
        )
        .await;
        assert_eq!(done["state"], "succeeded", "{done}");
        let file = admin
            .get(&format!(
                "/v1/exports/{}/file",
                export["id"].as_str().unwrap()
            ))
            .await
            .text;
        assert!(file.contains(needle), "{format}: {file}");
        assert!(file.contains("erasure"), "{format}: {file}");
        assert!(!file.contains("u7@example.com"), "{format}: {file}");
    }
}

on_both_engines!(
    policies_and_holds_are_checked_and_on_the_record,
    erasures_are_checked_and_a_hold_keeps_its_events_whole,
    every_surface_shows_a_tombstone_as_one,
);
