//! `GET /v1/session` and `POST /v1/viewer-tokens` on both engines: bodies are checked, an
//! embed token reads only its scope (listing, one event, history, statistics and the live
//! tail), writes nothing, dies with the API key of its maker, and every view is on the record.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};
use tokio::time::timeout;

use crate::on_both_engines;
use crate::support::{Client, Engine, TestServer};

const ADMIN: &str = "audit:read audit:write audit:export audit:admin";

fn events() -> Value {
    json!([
        {"id": "a-1", "action": "contract.updated", "actor": {"id": "alice"},
         "target": {"type": "contract", "id": "c-1"}, "changes": {"status": {"from": "a", "to": "b"}}},
        {"id": "b-1", "action": "contract.updated", "actor": {"id": "bob"},
         "target": {"type": "contract", "id": "c-1"}},
        {"id": "a-2", "action": "user.login", "actor": {"id": "alice"}},
        {"id": "b-2", "action": "contract.created", "actor": {"id": "bob"},
         "target": {"type": "contract", "id": "c-2"}},
    ])
}

async fn make_token(admin: &Client, body: Value) -> Value {
    let answer = admin
        .call(Method::POST, "/v1/viewer-tokens", Some(&body))
        .await;
    assert_eq!(answer.status, 201, "{}", answer.text);
    answer.json()
}

async fn bodies_are_checked_and_the_session_says_who(engine: Engine) {
    let server = TestServer::start_on(engine).await;
    let admin = server.client("acme", ADMIN);
    for (body, field) in [
        (json!({"expires_in": 30}), "expires_in"),
        (json!({"expires_in": 7200}), "expires_in"),
        (json!({"scope": {"actor_id": ""}}), "scope.actor_id"),
        (
            json!({"scope": {"target_id": "a\u{7}b"}}),
            "scope.target_id",
        ),
        (json!({"viewer": "x".repeat(257)}), "viewer"),
    ] {
        let answer = admin
            .call(Method::POST, "/v1/viewer-tokens", Some(&body))
            .await;
        let problem = answer.problem(400);
        assert_eq!(problem["errors"][0]["field"], field, "{body}: {problem}");
    }
    for body in [
        json!({"scope": {"actor": "alice"}}),
        json!({"scope": ["alice"]}),
    ] {
        let answer = admin
            .call(Method::POST, "/v1/viewer-tokens", Some(&body))
            .await;
        answer.problem(400);
    }
    // A maker who cannot read cannot hand out reading.
    let blind = server.client("acme", "audit:admin");
    let answer = blind
        .call(Method::POST, "/v1/viewer-tokens", Some(&json!({})))
        .await;
    let said = answer.problem(403);
    assert!(
        said["detail"].as_str().unwrap().contains("audit:read"),
        "{said}"
    );

    let made = make_token(&admin, json!({"scope": {"target_type": "contract", "target_id": "c-1"}, "viewer": "cust-9", "expires_in": 120})).await;
    assert!(made["url"].as_str().unwrap().starts_with("/ui/#token="));
    let embed = server.client_with_token(made["token"].as_str().unwrap());
    let session = embed.get("/v1/session").await.json();
    assert_eq!(session["tenant"], "acme");
    assert_eq!(session["credential"], "viewer");
    assert_eq!(session["roles"], json!(["audit:read"]));
    assert_eq!(session["subject"], "cust-9");
    assert_eq!(
        session["view"],
        json!({"target_type": "contract", "target_id": "c-1"})
    );
    let own = admin.get("/v1/session").await.json();
    assert_eq!(own["credential"], "token");
    assert_eq!(
        own["roles"],
        json!(["audit:admin", "audit:export", "audit:read", "audit:write"])
    );
    let created = admin
        .get("/v1/events?action=audit.viewer_token.created")
        .await
        .json();
    let created = &created["data"][0];
    assert_eq!(created["target"]["id"], "cust-9");
    assert!(
        !created
            .to_string()
            .contains(made["token"].as_str().unwrap()),
        "the trail keeps no token"
    );
}

async fn an_embed_token_reads_its_scope_only(engine: Engine) {
    let server = TestServer::start_on(engine).await;
    let admin = server.client("acme", ADMIN);
    admin.post_json(&events()).await;
    let made = make_token(
        &admin,
        json!({"scope": {"actor_id": "alice"}, "viewer": "cust-1"}),
    )
    .await;
    let embed = server.client_with_token(made["token"].as_str().unwrap());

    let listed = embed.get("/v1/events").await.json();
    let ids: Vec<&str> = listed["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["a-2", "a-1"]);
    assert_eq!(embed.get("/v1/events/a-1").await.status, 200);
    embed.get("/v1/events/b-1").await.problem(404);
    let proof = embed.get("/v1/events/a-1?proof=1").await.json();
    assert_eq!(proof["event"]["id"], "a-1");
    let history = embed.get("/v1/entities/contract/c-1/history").await.json();
    let ids: Vec<&str> = history["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        ["a-1"],
        "another actor's change to the same target is not shown"
    );
    let stats = embed.get("/v1/stats?group_by=actor").await.json();
    assert_eq!(stats["total"], 2);
    assert_eq!(
        stats["groups"]["actor"],
        json!([{"value": "alice", "count": 2}])
    );
    embed.get("/v1/events?actor_id=bob").await.problem(403);
    assert_eq!(embed.get("/v1/ledger/key").await.status, 200);
    assert_eq!(embed.get("/v1/ledger/checkpoint").await.status, 200);
    // Reading only, through the viewer's routes only.
    embed
        .post_json(&json!({"action": "x.y"}))
        .await
        .problem(403);
    for path in [
        "/v1/logins",
        "/v1/access",
        "/v1/alerts",
        "/v1/exports",
        "/v1/api-keys",
        "/v1/ledger/proofs/inclusion?seq=0&tree_size=1",
    ] {
        let said = embed.get(path).await.problem(403);
        assert!(
            said["detail"].as_str().unwrap().contains("embed token"),
            "{path}: {said}"
        );
    }
    // A dialect refuses in its own error shape.
    let dialect = embed.get("/api/v1/audit/logs").await;
    assert_eq!(dialect.status, 403);
    assert!(dialect.text.contains("embed token"), "{}", dialect.text);

    // The live tail sends the scope's events only.
    let stream = embed
        .http
        .get(format!("{}/v1/events/stream?from_seq=0", embed.base))
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 200);
    admin
        .post_json(
            &json!([{"id": "b-3", "action": "doc.read", "actor": {"id": "bob"}},
                            {"id": "a-3", "action": "doc.read", "actor": {"id": "alice"}}]),
        )
        .await;
    let mut body = stream;
    let mut text = String::new();
    timeout(Duration::from_secs(20), async {
        while !text.contains("\"a-3\"") {
            let chunk = body.chunk().await.unwrap().expect("the stream goes on");
            text.push_str(&String::from_utf8_lossy(&chunk));
        }
    })
    .await
    .expect("alice's new event arrives");
    for id in ["a-1", "a-2", "a-3"] {
        assert!(
            text.contains(&format!("\"id\":\"{id}\"")),
            "{id} missing: {text}"
        );
    }
    for id in ["b-1", "b-2", "b-3"] {
        assert!(
            !text.contains(&format!("\"id\":\"{id}\"")),
            "{id} sent: {text}"
        );
    }

    // Every view is an event, by the viewer, with what was looked at.
    let viewed = admin
        .get("/v1/events?action=audit.log.viewed&limit=100")
        .await
        .json();
    let views: Vec<&str> = viewed["data"]
        .as_array()
        .unwrap()
        .iter()
        .inspect(|e| assert_eq!(e["actor"]["id"], "cust-1", "{e}"))
        .map(|e| e["metadata"]["view"].as_str().unwrap())
        .collect();
    for view in ["search", "event", "history", "live tail"] {
        assert!(views.contains(&view), "{view} not recorded: {views:?}");
    }
    // The admin's own reads are not views.
    assert!(
        viewed["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["actor"]["id"] != "acme")
    );
}

async fn an_embed_token_dies_with_its_makers_key(engine: Engine) {
    let server = TestServer::start_on(engine).await;
    let admin = server.client("acme", ADMIN);
    admin.post_json(&events()).await;
    let key = admin
        .call(
            Method::POST,
            "/v1/api-keys",
            Some(&json!({"name": "portal", "roles": ["audit:admin", "audit:read"]})),
        )
        .await
        .json();
    let with_key = server.client_with_token(key["key"].as_str().unwrap());
    let made = make_token(&with_key, json!({})).await;
    let embed = server.client_with_token(made["token"].as_str().unwrap());
    assert_eq!(embed.get("/v1/events").await.status, 200);
    let revoked = admin
        .call(
            Method::DELETE,
            &format!("/v1/api-keys/{}", key["client_id"].as_str().unwrap()),
            None,
        )
        .await;
    assert!(revoked.status < 300, "{}", revoked.text);
    let said = embed.get("/v1/events").await.problem(401);
    assert!(
        said["detail"].as_str().unwrap().contains("revoked"),
        "{said}"
    );
}

on_both_engines!(
    bodies_are_checked_and_the_session_says_who,
    an_embed_token_reads_its_scope_only,
    an_embed_token_dies_with_its_makers_key,
);
