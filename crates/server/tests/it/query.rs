//! `GET /v1/events` and `GET /v1/events/{id}`: filters, order, cursors, and clear refusals.

use serde_json::{Value, json};

use crate::support::{Engine, RW, TestServer};

async fn filters_order_and_cursors(engine: Engine) {
    let server = TestServer::start_on(engine).await;
    let client = server.client("acme", RW);
    let mut events = Vec::new();
    for day in 1..=20 {
        events.push(json!({
            "action": if day % 2 == 0 { "contract.created" } else { "user.login" },
            "occurred_at": format!("2025-01-{day:02}T10:00:00Z"),
            "actor": {"id": format!("u{}", day % 3)},
            "target": {"type": "contract", "id": format!("c{}", day % 4)},
        }));
    }
    assert_eq!(client.post_json(&Value::Array(events)).await.status, 201);

    let ids = |body: &Value| -> Vec<String> {
        body["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["occurred_at"].as_str().unwrap().to_owned())
            .collect()
    };
    let newest = client.get("/v1/events?limit=3").await.json();
    assert_eq!(
        ids(&newest),
        [
            "2025-01-20T10:00:00Z",
            "2025-01-19T10:00:00Z",
            "2025-01-18T10:00:00Z"
        ]
    );
    let cursor = newest["next_cursor"].as_str().unwrap();
    let next = client
        .get(&format!("/v1/events?limit=3&cursor={cursor}"))
        .await
        .json();
    assert_eq!(ids(&next)[0], "2025-01-17T10:00:00Z");

    let oldest = client.get("/v1/events?order=asc&limit=2").await.json();
    assert_eq!(
        ids(&oldest),
        ["2025-01-01T10:00:00Z", "2025-01-02T10:00:00Z"]
    );

    let logins = client
        .get("/v1/events?action=user.*&limit=100")
        .await
        .json();
    assert_eq!(logins["data"].as_array().unwrap().len(), 10);
    assert!(logins.get("next_cursor").is_none());
    let both = client
        .get("/v1/events?action=user.login&action=contract.created&limit=100")
        .await
        .json();
    assert_eq!(both["data"].as_array().unwrap().len(), 20);

    let narrow = client
        .get("/v1/events?actor_id=u1&target_type=contract&target_id=c1&order=asc&limit=100")
        .await
        .json();
    let want: Vec<i32> = (1..=20).filter(|d| d % 3 == 1 && d % 4 == 1).collect();
    assert_eq!(narrow["data"].as_array().unwrap().len(), want.len());
    for e in narrow["data"].as_array().unwrap() {
        assert_eq!(e["actor"]["id"], "u1");
        assert_eq!(e["target"]["id"], "c1");
    }

    let window = client
        .get("/v1/events?since=2025-01-05T00:00:00Z&until=2025-01-08T10:00:00Z&order=asc")
        .await
        .json();
    assert_eq!(
        ids(&window),
        [
            "2025-01-05T10:00:00Z",
            "2025-01-06T10:00:00Z",
            "2025-01-07T10:00:00Z"
        ]
    );
}

async fn bad_parameters_are_400_problems(engine: Engine) {
    let server = TestServer::start_on(engine).await;
    let client = server.client("acme", RW);
    for path in [
        "/v1/events?limit=0",
        "/v1/events?limit=1001",
        "/v1/events?limit=ten",
        "/v1/events?order=sideways",
        "/v1/events?since=yesterday",
        "/v1/events?cursor=bogus",
        "/v1/events?colour=red",
        "/v1/events?outcome=maybe",
        "/v1/events?category=nonsense",
        "/v1/events?limit=5&limit=6",
        "/v1/events?actor_id=",
    ] {
        let body = client.get(path).await.problem(400);
        assert!(!body["detail"].as_str().unwrap().is_empty(), "{path}");
    }
}

async fn single_events_and_unknown_paths(engine: Engine) {
    let server = TestServer::start_on(engine).await;
    let client = server.client("acme", RW);
    let created = client
        .post_json(&json!({"id": "evt-9", "action": "doc.viewed"}))
        .await;
    let stored = created.json()["data"][0].clone();
    let fetched = client.get("/v1/events/evt-9").await;
    assert_eq!(fetched.status, 200);
    assert_eq!(fetched.json(), stored);
    client.get("/v1/events/nope").await.problem(404);
    client.get("/v1/nothing-here").await.problem(404);
    let answer = crate::support::read(
        client
            .http
            .delete(format!("{}/v1/events", client.base))
            .send()
            .await
            .unwrap(),
    )
    .await;
    answer.problem(405);
    let health = reqwest::get(server.url("/healthz")).await.unwrap();
    assert_eq!(health.status(), 200);
}

crate::on_both_engines!(
    filters_order_and_cursors,
    bad_parameters_are_400_problems,
    single_events_and_unknown_paths,
);
