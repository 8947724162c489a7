//! Detection over real HTTP on both engines: a tuned built-in rule and a tenant's own rule
//! raise alerts from ingested events, each alert is an `audit.suspicious.detected` event in
//! the trail that a webhook subscription receives, alerts are acknowledged and resolved on
//! the record, a disabled rule raises nothing, and another tenant sees none of it.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};

use crate::on_both_engines;
use crate::receiver::Receiver;
use crate::support::{Client, EVERY_ROLE, Engine, TestServer};

const WAIT: Duration = Duration::from_secs(30);

/// Polls the tenant's alerts until `done` holds of them.
async fn alerts_until(client: &Client, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let until = Instant::now() + WAIT;
    loop {
        let answer = client.get("/v1/alerts?limit=100").await;
        assert_eq!(answer.status, 200, "{}", answer.text);
        let alerts = answer.json()["data"].as_array().unwrap().clone();
        if done(&alerts) {
            return alerts;
        }
        assert!(Instant::now() < until, "alerts so far: {alerts:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn failed_logins(user: &str, n: usize) -> Value {
    Value::Array(
        (0..n)
            .map(|i| {
                json!({"action": "user.login", "outcome": "failure",
                       "actor": {"type": "user", "id": user},
                       "context": {"ip_address": format!("203.0.113.{i}")}})
            })
            .collect(),
    )
}

async fn rules_raise_alerts_that_are_on_the_record_and_delivered(engine: Engine) {
    let server = TestServer::detecting_on(engine).await;
    let admin = server.client("acme", EVERY_ROLE);
    let receiver = Receiver::start().await;
    let subscribed = admin
        .call(
            Method::POST,
            "/v1/webhooks",
            Some(&json!({"url": receiver.url("/alerts"), "event_types": ["audit.suspicious.detected"]})),
        )
        .await;
    assert_eq!(subscribed.status, 201, "{}", subscribed.text);

    // The built-in rules are there, on, with the research thresholds.
    let rules = admin.get("/v1/rules").await.json();
    let burst = rules["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == "failed-login-burst-user")
        .unwrap()
        .clone();
    assert_eq!(burst["logic"]["threshold"], 20);
    assert_eq!(burst["enabled"], true);
    assert_eq!(rules["data"].as_array().unwrap().len(), 12);

    // Tuned down to 5, and a rule of the tenant's own; one built-in rule switched off.
    let tuned = admin
        .call(
            Method::PATCH,
            "/v1/rules/failed-login-burst-user",
            Some(&json!({"threshold": 5})),
        )
        .await;
    assert_eq!(tuned.status, 200, "{}", tuned.text);
    assert_eq!(tuned.json()["logic"]["threshold"], 5);
    let wrong = admin
        .call(
            Method::PATCH,
            "/v1/rules/failed-login-burst-user",
            Some(&json!({"max_kmh": 5000})),
        )
        .await;
    assert_eq!(wrong.status, 400, "{}", wrong.text);
    let own = admin
        .call(
            Method::POST,
            "/v1/rules",
            Some(&json!({
                "name": "Refund spree",
                "severity": "high",
                "filter": {"action": "invoice.refunded"},
                "group_by": ["actor.id"],
                "threshold": 3,
                "window_minutes": 10,
            })),
        )
        .await;
    assert_eq!(own.status, 201, "{}", own.text);
    let own_id = own.json()["id"].as_str().unwrap().to_owned();
    let off = admin
        .call(
            Method::PATCH,
            "/v1/rules/mfa-disabled",
            Some(&json!({"enabled": false})),
        )
        .await;
    assert_eq!(off.status, 200, "{}", off.text);
    for bad in [
        json!({"name": "x", "filter": {}, "threshold": 1, "window_minutes": 1}),
        json!({"name": "x", "filter": {"action": "a.b"}, "threshold": 0, "window_minutes": 1}),
        json!({"name": "x", "filter": {"action": "a.b"}, "threshold": 1, "window_minutes": 1, "group_by": ["actor.password"]}),
        json!({"name": "x", "filter": {"nonsense": "1"}, "threshold": 1, "window_minutes": 1}),
    ] {
        let answer = admin.call(Method::POST, "/v1/rules", Some(&bad)).await;
        assert_eq!(answer.status, 400, "{bad}: {}", answer.text);
    }

    // Off: nothing. Then the burst and the spree, in that order.
    admin
        .post_json(
            &json!({"action": "user.mfa_disabled", "actor": {"type": "user", "id": "usr_lax"}}),
        )
        .await;
    admin.post_json(&failed_logins("usr_target", 6)).await;
    let refunds: Vec<Value> = (0..3)
        .map(|i| json!({"action": "invoice.refunded", "actor": {"id": "usr_clerk"}, "target": {"type": "invoice", "id": format!("inv_{i}")}}))
        .collect();
    admin.post_json(&Value::Array(refunds)).await;

    let alerts = alerts_until(&admin, |a| a.len() >= 2).await;
    let rules_hit: Vec<&str> = alerts.iter().map(|a| a["rule"].as_str().unwrap()).collect();
    assert_eq!(
        rules_hit,
        [own_id.as_str(), "failed-login-burst-user"],
        "newest first; nothing for the rule switched off"
    );
    let burst_alert = &alerts[1];
    assert_eq!(burst_alert["key"], "usr_target");
    assert_eq!(burst_alert["state"], "open");
    assert_eq!(burst_alert["count"], 5);
    assert_eq!(alerts[0]["severity"], "high");

    // Each alert is in the trail, naming the rule, the key, the window and the seqs.
    let trail = admin.all_events().await;
    let recorded = trail
        .iter()
        .find(|e| e["id"] == burst_alert["event_id"])
        .expect("the alert's event is in the trail");
    assert_eq!(recorded["action"], "audit.suspicious.detected");
    assert_eq!(recorded["target"]["id"], burst_alert["id"]);
    assert_eq!(recorded["metadata"]["rule"], "failed-login-burst-user");
    assert_eq!(recorded["metadata"]["key"], "usr_target");
    let seqs: Vec<u64> = recorded["metadata"]["seqs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_u64().unwrap())
        .collect();
    assert_eq!(seqs.len(), 5);
    for seq in &seqs {
        assert_eq!(trail[*seq as usize]["action"], "user.login");
        assert_eq!(trail[*seq as usize]["actor"]["id"], "usr_target");
    }
    assert!(recorded["metadata"]["window_start"].is_string());

    // ... and the subscription receives both, as their own type.
    let delivered = receiver
        .wait_for(WAIT, |r| {
            r.iter().map(|m| m.seqs().len()).sum::<usize>() >= 2
        })
        .await;
    assert!(
        delivered
            .iter()
            .all(|m| m.body["type"] == "audit.suspicious.detected")
    );
    let ids: Vec<Value> = delivered
        .iter()
        .flat_map(|m| m.body["data"]["events"].as_array().unwrap().clone())
        .map(|e| e["event"]["target"]["id"].clone())
        .collect();
    assert!(ids.contains(&burst_alert["id"]));

    // Acknowledged, resolved, with who and why; resolving twice is a conflict.
    let path = format!("/v1/alerts/{}", burst_alert["id"].as_str().unwrap());
    let reader = server.client("acme", "audit:read");
    assert_eq!(reader.get(&path).await.json()["id"], burst_alert["id"]);
    assert_eq!(
        reader
            .call(Method::POST, &format!("{path}/acknowledge"), None)
            .await
            .status,
        403
    );
    let acked = admin
        .call(
            Method::POST,
            &format!("{path}/acknowledge"),
            Some(&json!({"note": "looking"})),
        )
        .await;
    assert_eq!(acked.status, 200, "{}", acked.text);
    assert_eq!(acked.json()["state"], "acknowledged");
    assert_eq!(acked.json()["acknowledged"]["note"], "looking");
    let resolved = admin
        .call(Method::POST, &format!("{path}/resolve"), None)
        .await;
    assert_eq!(resolved.json()["state"], "resolved");
    assert!(resolved.json()["resolved"]["by"].is_string());
    assert_eq!(
        admin
            .call(Method::POST, &format!("{path}/resolve"), None)
            .await
            .status,
        409
    );
    let open = admin.get("/v1/alerts?state=open").await.json();
    assert_eq!(open["data"].as_array().unwrap().len(), 1);
    let high = admin.get("/v1/alerts?severity=high").await.json();
    assert_eq!(high["data"][0]["rule"], own_id.as_str());
    assert_eq!(admin.get("/v1/alerts?state=nonsense").await.status, 400);
    let actions: Vec<String> = admin
        .all_events()
        .await
        .iter()
        .map(|e| e["action"].as_str().unwrap().to_owned())
        .filter(|a| a.starts_with("alert.") || a.starts_with("rule."))
        .collect();
    assert_eq!(
        actions,
        [
            "rule.updated",
            "rule.created",
            "rule.updated",
            "alert.acknowledged",
            "alert.resolved"
        ]
    );

    // Another tenant sees none of it.
    let beta = server.client("beta", EVERY_ROLE);
    assert_eq!(beta.get(&path).await.status, 404);
    assert_eq!(beta.get("/v1/alerts").await.json()["data"], json!([]));
    assert_eq!(beta.get(&format!("/v1/rules/{own_id}")).await.status, 404);
    let beta_burst = beta.get("/v1/rules/failed-login-burst-user").await.json();
    assert_eq!(beta_burst["logic"]["threshold"], 20, "tuning is per tenant");

    // A tenant's own rule is deleted; a tuned built-in one goes back to how it shipped.
    assert_eq!(
        admin
            .call(Method::DELETE, &format!("/v1/rules/{own_id}"), None)
            .await
            .status,
        204
    );
    assert_eq!(admin.get(&format!("/v1/rules/{own_id}")).await.status, 404);
    assert_eq!(
        admin
            .call(Method::DELETE, "/v1/rules/failed-login-burst-user", None)
            .await
            .status,
        204
    );
    assert_eq!(
        admin.get("/v1/rules/failed-login-burst-user").await.json()["logic"]["threshold"],
        20
    );
    assert_eq!(
        admin
            .call(Method::DELETE, "/v1/rules/password-spraying", None)
            .await
            .status,
        400
    );
}

on_both_engines!(rules_raise_alerts_that_are_on_the_record_and_delivered);
