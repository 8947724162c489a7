//! The Kore.ai dialect (`../shared/seeds/003_889c1a71fad99950.txt`): the seed's sample request
//! with the `auth` header (an API key) returns the seed's record, field by field; each filter
//! narrows; unsupported entities and entity/action pairs are 400s that list what is allowed;
//! stored markup comes back inert in `htmlText`.

use serde_json::{Value, json};

use crate::support::{RW, TestServer, read};

const PATH: &str = "/api/public/auditlogs";

/// The seed's sample log as a native event, and a few others.
fn events() -> Value {
    json!([
        {"id": "67584fc8a16721a7bb876d3b", "occurred_at": "2024-12-10T14:27:20.286Z",
         "action": "nlprules.update",
         "actor": {"id": "u-6fd26567-2b99-5265-9b69-54fba448d26f", "name": "John jackob", "email": "test.user@kore.com"},
         "target": {"type": "nlprules", "id": "66a389b40e9b336c5e6edb19", "name": "Answer rule - 67"},
         "changes": {"name": {"to": "Answer rule - 67"}}},
        {"id": "grp-1", "occurred_at": "2024-12-03T09:00:00Z", "action": "usergroup.created",
         "actor": {"id": "u-2", "email": "ops@kore.com"},
         "target": {"type": "usergroup", "id": "g-1", "name": "<script>alert(1)</script>"}},
        {"id": "role-1", "occurred_at": "2024-12-20T09:00:00Z", "action": "role.deleted",
         "actor": {"id": "u-2", "email": "ops@kore.com"},
         "target": {"type": "role", "id": "r-1", "name": "Auditor"},
         "changes": {"name": {"from": "Auditor"}}},
    ])
}

/// A server with the events and an API key that reads, sent as the `auth` header.
async fn setup() -> (TestServer, reqwest::Client, String) {
    let server = TestServer::start().await;
    let writer = server.client("acme", RW);
    assert_eq!(writer.post_json(&events()).await.status, 201);
    let admin = server.client("acme", crate::support::EVERY_ROLE);
    let key = admin
        .post(
            "/v1/api-keys",
            "application/json",
            json!({"name": "kore", "roles": ["audit:read"]}).to_string(),
        )
        .await
        .json()["key"]
        .as_str()
        .unwrap()
        .to_owned();
    (server, reqwest::Client::new(), key)
}

async fn get(
    server: &TestServer,
    http: &reqwest::Client,
    key: &str,
    query: &str,
) -> crate::support::Answer {
    read(
        http.get(server.url(&format!("{PATH}?{query}")))
            .header("auth", key)
            .send()
            .await
            .unwrap(),
    )
    .await
}

fn ids(answer: &crate::support::Answer) -> Vec<String> {
    assert_eq!(answer.status, 200, "{}", answer.text);
    answer.json()["logs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["_id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn the_seed_sample_request_returns_the_seed_record() {
    let (server, http, key) = setup().await;
    let answer = get(
        &server,
        &http,
        &key,
        "startTime=2024-12-01T23%3A59%3A59Z&endTime=2024-12-12T23%3A59%3A59Z&entity=nlprules&action=update&emailId=test.user%40kore.com",
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(
        answer.json(),
        json!({"logs": [{
            "parentIds": [],
            "_id": "67584fc8a16721a7bb876d3b",
            "entity": "nlprules",
            "action": "update",
            "userId": "u-6fd26567-2b99-5265-9b69-54fba448d26f",
            "accountId": "acme",
            "entityId": "66a389b40e9b336c5e6edb19",
            "delta": {"from": {}, "to": {"name": "Answer rule - 67"}},
            "htmlText": "Update business rule <b>Answer rule - 67</b>",
            "userName": "John jackob",
            "emailId": "test.user@kore.com",
            "keywords": "",
            "cOn": "2024-12-10T14:27:20.286Z",
            "__v": 0
        }]})
    );
}

#[tokio::test]
async fn each_filter_narrows() {
    let (server, http, key) = setup().await;
    // (The key's creation is in the trail too, today: the seed events are from 2024.)
    let all = ids(&get(&server, &http, &key, "endTime=2025-01-01").await);
    assert_eq!(all, ["role-1", "67584fc8a16721a7bb876d3b", "grp-1"]);
    for (query, expected) in [
        ("entity=usergroup", vec!["grp-1"]),
        ("entityId=r-1", vec!["role-1"]),
        ("userId=u-2", vec!["role-1", "grp-1"]),
        ("emailId=ops%40kore.com", vec!["role-1", "grp-1"]),
        (
            "startTime=2024-12-05&endTime=2025-01-01",
            vec!["role-1", "67584fc8a16721a7bb876d3b"],
        ),
        ("endTime=2024-12-05", vec!["grp-1"]),
        ("action=delete", vec!["role-1"]),
        ("entity=role&action=create", vec![]),
        ("endTime=2025-01-01&limit=1", vec!["role-1"]),
        (
            "endTime=2025-01-01&limit=1&skip=1",
            vec!["67584fc8a16721a7bb876d3b"],
        ),
    ] {
        assert_eq!(
            ids(&get(&server, &http, &key, query).await),
            expected,
            "{query}"
        );
    }
}

#[tokio::test]
async fn stored_markup_is_escaped_and_deletes_keep_the_old_value() {
    let (server, http, key) = setup().await;
    let answer = get(&server, &http, &key, "").await;
    let logs = answer.json()["logs"].as_array().unwrap().clone();
    let group = logs.iter().find(|l| l["_id"] == "grp-1").unwrap();
    assert_eq!(
        group["htmlText"],
        "Create user group <b>&lt;script&gt;alert(1)&lt;/script&gt;</b>"
    );
    assert!(!answer.text.contains("<script>alert(1)</script></b>"));
    assert_eq!(
        group["cOn"], "2024-12-03T09:00:00.000Z",
        "always three digits of milliseconds"
    );
    let role = logs.iter().find(|l| l["_id"] == "role-1").unwrap();
    assert_eq!(role["action"], "delete");
    assert_eq!(
        role["delta"],
        json!({"from": {"name": "Auditor"}, "to": {}})
    );
}

#[tokio::test]
async fn unsupported_entities_and_pairs_list_what_is_allowed() {
    let (server, http, key) = setup().await;
    let expect = |answer: crate::support::Answer, needle: &str| {
        assert_eq!(answer.status, 400, "{}", answer.text);
        let body = answer.json();
        assert_eq!(body["errors"][0]["code"], 400, "{body}");
        let msg = body["errors"][0]["msg"].as_str().unwrap();
        assert!(msg.contains(needle), "{msg}");
    };
    expect(
        get(&server, &http, &key, "entity=invoices").await,
        "usergroup, Agent, role, ssostatus",
    );
    expect(
        get(&server, &http, &key, "entity=ssostatus&action=create").await,
        "supported: update",
    );
    expect(
        get(&server, &http, &key, "entity=nlprules&action=approve").await,
        "create, update, delete",
    );
    expect(
        get(&server, &http, &key, "action=approve").await,
        "create, update, delete",
    );
    expect(get(&server, &http, &key, "limit=0").await, "limit");
    // Credentials: none is 401; a key without audit:read is 403; both in Kore's error body.
    let anonymous = read(http.get(server.url(PATH)).send().await.unwrap()).await;
    assert_eq!(anonymous.status, 401);
    assert_eq!(anonymous.json()["errors"][0]["code"], 401);
    let admin = server.client("acme", crate::support::EVERY_ROLE);
    let writer_key = admin
        .post(
            "/v1/api-keys",
            "application/json",
            json!({"name": "w", "roles": ["audit:write"]}).to_string(),
        )
        .await
        .json()["key"]
        .as_str()
        .unwrap()
        .to_owned();
    let refused = get(&server, &http, &writer_key, "").await;
    assert_eq!(refused.status, 403);
    assert_eq!(refused.json()["errors"][0]["code"], 403);
}
