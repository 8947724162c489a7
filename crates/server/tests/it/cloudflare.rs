//! The Cloudflare dialect (`../shared/seeds/001_c3a2365c21d5c7b8.txt`): v2 records exactly as the
//! seed shows them, every v2 filter positive and negated, cursor paging with `cursor` and
//! `cursors.after` and none on the last page; v1 parameters and records; `/user/audit_logs`;
//! the `/client/v4` prefix; `X-Auth-Email` + `X-Auth-Key`; another account is a 403; every 4xx
//! in the seed's error envelope.

use serde_json::{Value, json};

use crate::support::{Answer, Client, RW, TestServer, read};

const WINDOW: &str = "since=2025-01-01&before=2025-02-01";

/// Three events that differ in every field a filter names.
fn events() -> Value {
    let event = |n: u32, category: &str, outcome: &str| {
        json!({
            "id": format!("cf-{n}"), "occurred_at": format!("2025-01-1{n}T10:00:00Z"),
            "action": format!("dns_record.{category}"), "category": category, "outcome": outcome,
            "description": format!("change {n}"),
            "actor": {"type": format!("type{n}"), "id": format!("actor-{n}"), "email": format!("a{n}@example.com"),
                      "context": format!("ctx{n}"), "token_id": format!("tok-{n}"), "token_name": format!("token {n}")},
            "target": {"type": format!("rtype{n}"), "id": format!("res-{n}"), "product": format!("prod{n}"), "scope": format!("scope{n}")},
            "context": {"ip_address": format!("192.0.2.{n}"), "user_agent": format!("agent/{n}"),
                        "zone": {"id": format!("zone-{n}"), "name": format!("zone{n}.example")},
                        "request": {"method": if n == 1 { "POST" } else { "PUT" }, "uri": format!("/zones/{n}"),
                                    "status_code": 200 + n, "ray_id": format!("ray{n}")}},
            "metadata": {"request": {"n": n}, "interface": "API"},
            "changes": {"ttl": {"from": n, "to": n + 1}},
        })
    };
    json!([
        event(1, "create", "success"),
        event(2, "update", "failure"),
        event(3, "read", "success")
    ])
}

async fn setup() -> (TestServer, Client) {
    let server = TestServer::start().await;
    let client = server.client("acme", RW);
    assert_eq!(client.post_json(&events()).await.status, 201);
    (server, client)
}

fn ids(answer: &Answer) -> Vec<String> {
    assert_eq!(answer.status, 200, "{}", answer.text);
    answer.json()["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_owned())
        .collect()
}

fn assert_error(answer: &Answer, status: u16, code: u64) {
    assert_eq!(answer.status, status, "{}", answer.text);
    let body = answer.json();
    assert_eq!(body["success"], false, "{body}");
    assert_eq!(body["errors"][0]["code"], code, "{body}");
    assert!(body["errors"][0]["message"].is_string(), "{body}");
    assert_eq!(body["messages"], json!([]), "{body}");
}

#[tokio::test]
async fn v2_records_look_exactly_as_the_seed_shows() {
    let (_server, client) = setup().await;
    let answer = client
        .get(&format!("/accounts/acme/logs/audit?{WINDOW}&id=cf-1"))
        .await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    let body = answer.json();
    assert_eq!(body["success"], true);
    assert_eq!(body["errors"], json!([]));
    assert_eq!(body["messages"], json!([]));
    assert_eq!(
        body["result_info"],
        json!({"count": 1}),
        "no cursor on the last page"
    );
    assert_eq!(
        body["result"][0],
        json!({
            "account": {"id": "acme", "name": "acme"},
            "action": {"description": "change 1", "result": "success", "time": "2025-01-11T10:00:00Z", "type": "create"},
            "actor": {"context": "ctx1", "email": "a1@example.com", "id": "actor-1", "ip_address": "192.0.2.1",
                      "token_id": "tok-1", "token_name": "token 1", "type": "type1"},
            "id": "cf-1",
            "raw": {"cf_ray_id": "ray1", "method": "POST", "status_code": 201, "uri": "/zones/1", "user_agent": "agent/1"},
            "resource": {"id": "res-1", "product": "prod1", "request": {"n": 1}, "response": {}, "scope": {"type": "scope1"}, "type": "rtype1"},
            "zone": {"id": "zone-1", "name": "zone1.example"}
        })
    );
}

#[tokio::test]
async fn every_v2_filter_narrows_and_its_negation_excludes() {
    let (_server, client) = setup().await;
    let all = ids(&client
        .get(&format!("/accounts/acme/logs/audit?{WINDOW}"))
        .await);
    assert_eq!(all, ["cf-3", "cf-2", "cf-1"]);
    let cases: [(&str, &str); 21] = [
        ("id", "cf-2"),
        ("account_name", "acme"),
        ("action_result", "failure"),
        ("action_type", "update"),
        ("actor_context", "ctx2"),
        ("actor_email", "a2@example.com"),
        ("actor_id", "actor-2"),
        ("actor_ip_address", "192.0.2.2"),
        ("actor_token_id", "tok-2"),
        ("actor_token_name", "token 2"),
        ("actor_type", "type2"),
        ("raw_cf_ray_id", "ray2"),
        ("raw_method", "PUT"),
        ("raw_status_code", "202"),
        ("raw_uri", "/zones/2"),
        ("resource_id", "res-2"),
        ("resource_product", "prod2"),
        ("resource_scope", "scope2"),
        ("resource_type", "rtype2"),
        ("zone_id", "zone-2"),
        ("zone_name", "zone2.example"),
    ];
    for (name, value) in cases {
        let value = value.replace(' ', "%20").replace('/', "%2F");
        let positive = ids(&client
            .get(&format!(
                "/accounts/acme/logs/audit?{WINDOW}&{name}={value}"
            ))
            .await);
        let negative = ids(&client
            .get(&format!(
                "/accounts/acme/logs/audit?{WINDOW}&{name}.not={value}"
            ))
            .await);
        let (want_positive, want_negative): (Vec<&str>, Vec<&str>) = match name {
            "account_name" => (vec!["cf-3", "cf-2", "cf-1"], vec![]),
            "raw_method" => (vec!["cf-3", "cf-2"], vec!["cf-1"]),
            _ => (vec!["cf-2"], vec!["cf-3", "cf-1"]),
        };
        assert_eq!(positive, want_positive, "{name}={value}");
        assert_eq!(negative, want_negative, "{name}.not={value}");
    }
    // Repeated values are alternatives; `view` is Cloudflare's word for a read.
    let two = ids(&client
        .get(&format!(
            "/accounts/acme/logs/audit?{WINDOW}&action_type=view&action_type=create"
        ))
        .await);
    assert_eq!(two, ["cf-3", "cf-1"]);
    assert_eq!(
        ids(&client
            .get(&format!(
                "/accounts/acme/logs/audit?{WINDOW}&action_type.not=view"
            ))
            .await),
        ["cf-2", "cf-1"]
    );
    // The time window is required and bounds the results.
    assert_eq!(
        ids(&client
            .get("/accounts/acme/logs/audit?since=2025-01-12&before=2025-01-13T00:00:00Z")
            .await),
        ["cf-2"]
    );
}

#[tokio::test]
async fn v2_pages_with_a_cursor_in_both_spellings_and_none_at_the_end() {
    let (_server, client) = setup().await;
    let first = client
        .get(&format!(
            "/client/v4/accounts/acme/logs/audit?{WINDOW}&limit=2&direction=asc"
        ))
        .await;
    assert_eq!(ids(&first), ["cf-1", "cf-2"]);
    let info = first.json()["result_info"].clone();
    assert_eq!(info["count"], 2);
    let cursor = info["cursor"].as_str().unwrap().to_owned();
    assert_eq!(info["cursors"]["after"], cursor.as_str());
    let second = client
        .get(&format!(
            "/client/v4/accounts/acme/logs/audit?{WINDOW}&limit=2&direction=asc&cursor={cursor}"
        ))
        .await;
    assert_eq!(ids(&second), ["cf-3"]);
    assert_eq!(second.json()["result_info"], json!({"count": 1}));
    // A cursor is bound to its filter.
    let other = client
        .get(&format!("/accounts/acme/logs/audit?{WINDOW}&limit=2&direction=asc&actor_id=actor-1&cursor={cursor}"))
        .await;
    assert_error(&other, 400, 1004);
}

#[tokio::test]
async fn v1_parameters_records_and_result_info() {
    let (_server, client) = setup().await;
    let answer = client.get("/accounts/acme/audit_logs?id=cf-2").await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    let body = answer.json();
    assert_eq!(
        body["result_info"],
        json!({"page": 1, "per_page": 100, "count": 1, "total_count": 1})
    );
    assert_eq!(
        body["result"][0],
        json!({
            "id": "cf-2",
            "action": {"type": "dns_record.update", "result": false, "info": "change 2"},
            "actor": {"id": "actor-2", "email": "a2@example.com", "ip": "192.0.2.2", "type": "type2"},
            "interface": "API",
            "metadata": {"request": {"n": 2}, "interface": "API"},
            "newValue": "{\"ttl\":3}",
            "oldValue": "{\"ttl\":2}",
            "owner": {"id": "acme"},
            "resource": {"id": "res-2", "type": "rtype2"},
            "when": "2025-01-12T10:00:00Z"
        })
    );
    for (query, expected) in [
        ("action.type=dns_record.create", vec!["cf-1"]),
        ("actor.ip=192.0.2.3", vec!["cf-3"]),
        ("actor.email=a1@example.com", vec!["cf-1"]),
        ("since=2025-01-12&before=2025-01-13", vec!["cf-2"]),
        ("zone.name=zone3.example", vec!["cf-3"]),
        (
            "since=2025-01-01&before=2025-02-01&direction=asc&per_page=2&page=2",
            vec!["cf-3"],
        ),
        (
            "since=2025-01-01&before=2025-02-01&export=true&hide_user_logs=false",
            vec!["cf-3", "cf-2", "cf-1"],
        ),
    ] {
        assert_eq!(
            ids(&client
                .get(&format!("/accounts/acme/audit_logs?{query}"))
                .await),
            expected,
            "{query}"
        );
    }
    // hide_user_logs leaves out actors of type user.
    let user_event = json!({"id": "cf-user", "occurred_at": "2025-01-15T10:00:00Z", "action": "login", "actor": {"type": "user", "id": "u"}});
    assert_eq!(client.post_json(&user_event).await.status, 201);
    let shown = ids(&client
        .get("/accounts/acme/audit_logs?since=2025-01-01&before=2025-02-01")
        .await);
    let hidden = ids(&client
        .get("/accounts/acme/audit_logs?since=2025-01-01&before=2025-02-01&hide_user_logs=true")
        .await);
    assert!(shown.contains(&"cf-user".to_owned()) && !hidden.contains(&"cf-user".to_owned()));
}

#[tokio::test]
async fn user_logs_are_the_callers_and_x_auth_key_works() {
    let (server, client) = setup().await;
    let admin = server.client("acme", crate::support::EVERY_ROLE);
    let key = admin
        .post(
            "/v1/api-keys",
            "application/json",
            json!({"name": "cf", "roles": ["audit:read", "audit:write"]}).to_string(),
        )
        .await
        .json();
    let api_key = key["key"].as_str().unwrap();
    let http = reqwest::Client::new();
    // An event made with the key has the key as actor.
    let made = read(
        http.post(server.url("/audit-logs"))
            .header("x-auth-email", "ops@example.com")
            .header("x-auth-key", api_key)
            .json(&json!({"user_id": key["id"], "event_type": "zone.purged"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(made.status, 201, "{}", made.text);
    let mine = read(
        http.get(server.url("/client/v4/user/audit_logs"))
            .header("x-auth-email", "ops@example.com")
            .header("x-auth-key", api_key)
            .send()
            .await
            .unwrap(),
    )
    .await;
    let mine = ids(&mine);
    assert_eq!(mine.len(), 1, "{mine:?}");
    // The test clients' tokens all have the subject "cli": its only action was creating the key.
    let theirs = client.get("/user/audit_logs").await;
    assert_eq!(ids(&theirs).len(), 1, "{}", theirs.text);
    assert_eq!(
        theirs.json()["result"][0]["action"]["type"],
        "trailkeep.api_key.created"
    );
}

#[tokio::test]
async fn errors_use_the_seed_envelope_with_numeric_codes() {
    let (server, client) = setup().await;
    assert_error(
        &client
            .get(&format!("/accounts/other/logs/audit?{WINDOW}"))
            .await,
        403,
        10000,
    );
    assert_error(&client.get("/accounts/other/audit_logs").await, 403, 10000);
    assert_error(
        &client
            .get("/accounts/acme/logs/audit?since=2025-01-01")
            .await,
        400,
        1004,
    );
    assert_error(
        &client
            .get(&format!("/accounts/acme/logs/audit?{WINDOW}&limit=1001"))
            .await,
        400,
        1004,
    );
    assert_error(
        &client
            .get(&format!("/accounts/acme/logs/audit?{WINDOW}&colour=red"))
            .await,
        400,
        1004,
    );
    assert_error(
        &client
            .get("/accounts/acme/audit_logs?direction=sideways")
            .await,
        400,
        1004,
    );
    let anonymous = read(
        reqwest::get(server.url("/client/v4/accounts/acme/audit_logs"))
            .await
            .unwrap(),
    )
    .await;
    assert_error(&anonymous, 401, 10000);
    let writer = server.client("acme", "audit:write");
    assert_error(&writer.get("/accounts/acme/audit_logs").await, 403, 10000);
}
