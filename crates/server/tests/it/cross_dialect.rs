//! One event written through Persys' `POST /audit-logs` and one through `POST /v1/events`, read
//! back through the native API and all five dialects, which agree on the id, the action, the
//! actor, the time and the client address.

use serde_json::{Value, json};

use crate::support::{Client, RW, TestServer};

async fn get(client: &Client, path: &str) -> Value {
    let answer = client.get(path).await;
    assert_eq!(answer.status, 200, "{path}: {}", answer.text);
    answer.json()
}

/// What every surface must agree on.
#[derive(Debug, PartialEq)]
struct Seen {
    id: String,
    action: String,
    actor: String,
    time: String,
    ip: String,
}

fn seen(id: &Value, action: &Value, actor: &Value, time: &Value, ip: &Value) -> Seen {
    let text = |v: &Value| {
        v.as_str()
            .unwrap_or_else(|| panic!("not text: {v}"))
            .to_owned()
    };
    Seen {
        id: text(id),
        action: text(action),
        actor: text(actor),
        time: text(time),
        ip: text(ip),
    }
}

#[tokio::test]
async fn events_written_through_persys_and_native_read_the_same_everywhere() {
    let server = TestServer::start().await;
    let client = server.client("acme", RW);
    let persys = client
        .post(
            "/audit-logs",
            "application/json",
            json!({"user_id": "u-9", "event_type": "order.created",
                   "details": {"ip_address": "198.51.100.7", "user_agent": "UA/1", "order_id": "o-1"}})
            .to_string(),
        )
        .await;
    assert_eq!(persys.status, 201, "{}", persys.text);
    let persys_id = persys.json()["id"].as_str().unwrap().to_owned();
    let native = client
        .post_json(&json!({
            "id": "native-1", "occurred_at": "2025-03-01T12:00:00.123Z", "action": "invoice.updated",
            "actor": {"type": "user", "id": "u-9", "email": "u9@example.com", "name": "U Nine"},
            "target": {"type": "invoice", "id": "inv-1", "name": "Invoice 1"},
            "context": {"ip_address": "198.51.100.8", "user_agent": "UA/2"},
            "changes": {"status": {"from": "draft", "to": "sent"}},
        }))
        .await;
    assert_eq!(native.status, 201, "{}", native.text);

    for id in [persys_id.as_str(), "native-1"] {
        // The native event is the reference.
        let event = get(&client, &format!("/v1/events/{id}")).await;
        let expected = seen(
            &event["id"],
            &event["action"],
            &event["actor"]["id"],
            &event["occurred_at"],
            &event["context"]["ip_address"],
        );
        let mut surfaces = Vec::new();

        let log = get(&client, &format!("/audit-logs/{id}")).await;
        surfaces.push((
            "persys",
            seen(
                &log["id"],
                &log["event_type"],
                &log["user_id"],
                &log["timestamp"],
                &log["details"]["ip_address"],
            ),
        ));

        let v2 = get(
            &client,
            &format!("/accounts/acme/logs/audit?since=2000-01-01&before=2100-01-01&id={id}"),
        )
        .await;
        let r = &v2["result"][0];
        assert_eq!(
            r["action"]["type"],
            event["category"]
                .as_str()
                .map(|c| if c == "read" { "view" } else { c })
                .unwrap()
        );
        surfaces.push((
            "cloudflare v2",
            seen(
                &r["id"],
                &json!(event["action"]),
                &r["actor"]["id"],
                &r["action"]["time"],
                &r["actor"]["ip_address"],
            ),
        ));
        let v1 = get(
            &client,
            &format!("/client/v4/accounts/acme/audit_logs?id={id}"),
        )
        .await;
        let r = &v1["result"][0];
        surfaces.push((
            "cloudflare v1",
            seen(
                &r["id"],
                &r["action"]["type"],
                &r["actor"]["id"],
                &r["when"],
                &r["actor"]["ip"],
            ),
        ));

        let port = get(&client, &format!("/v1/audit/{id}")).await;
        let a = &port["audit"];
        surfaces.push((
            "port",
            seen(
                &a["id"],
                &a["action"],
                &json!(event["actor"]["id"]),
                &a["timestamp"],
                &a["ip_address"],
            ),
        ));

        let rail = get(&client, &format!("/api/v1/audit/logs/{id}")).await;
        let d = &rail["data"];
        surfaces.push((
            "audit rail",
            seen(
                &d["logId"],
                &d["action"],
                &d["actor"]["id"],
                &d["timestamp"],
                &d["ipAddress"],
            ),
        ));

        let kore = get(&client, "/api/public/auditlogs?userId=u-9").await;
        let k = kore["logs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["_id"] == id)
            .unwrap()
            .clone();
        assert_eq!(k["accountId"], "acme");
        // Kore's cOn has milliseconds: compare the instant, not the spelling.
        let instant = |v: &Value| {
            trailkeep_event::Timestamp::parse(v.as_str().unwrap())
                .unwrap()
                .as_micros()
                / 1000
        };
        assert_eq!(
            instant(&k["cOn"]),
            instant(&event["occurred_at"]),
            "kore time"
        );
        surfaces.push((
            "kore",
            seen(
                &k["_id"],
                &json!(event["action"]),
                &k["userId"],
                &event["occurred_at"],
                &event["context"]["ip_address"],
            ),
        ));

        for (surface, got) in surfaces {
            assert_eq!(got, expected, "{surface} disagrees about {id}");
        }
    }
}
