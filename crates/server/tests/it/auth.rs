//! Credentials: 401 without valid ones, 403 without the role, and the tenant from the token only.

use serde_json::json;
use trailkeep_server::mint_token;

use crate::support::{RW, SECRET, TestServer, read};

#[tokio::test]
async fn missing_or_bad_credentials_are_401_problems() {
    let server = TestServer::start().await;
    let anonymous = reqwest::Client::new();
    let answer = read(
        anonymous
            .get(server.url("/v1/events"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    answer.problem(401);
    assert_eq!(answer.headers["www-authenticate"], "Bearer");

    let answer = read(
        anonymous
            .get(server.url("/v1/events"))
            .header("authorization", "Basic dXNlcjpwYXNz")
            .send()
            .await
            .unwrap(),
    )
    .await;
    answer.problem(401);

    for token in [
        "not-a-jwt".to_owned(),
        mint_token(b"another-secret-another-secret-another", "acme", RW, 600).unwrap(),
    ] {
        server
            .client_with_token(&token)
            .get("/v1/events")
            .await
            .problem(401);
    }
}

#[tokio::test]
async fn expired_tokens_are_refused() {
    let server = TestServer::start().await;
    let claims = json!({"tenant": "acme", "scope": RW, "exp": 1_000_000_000u64});
    let token = jsonwebtoken_encode(&claims);
    let body = server
        .client_with_token(&token)
        .get("/v1/events")
        .await
        .problem(401);
    assert!(
        body["detail"].as_str().unwrap().contains("expired"),
        "{body}"
    );
}

fn jsonwebtoken_encode(claims: &serde_json::Value) -> String {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use sha2::Digest;
    // HS256 by hand, so the test does not trust the code under test to build tokens.
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
    let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
    let signing_input = format!("{header}.{payload}");
    let mut key = [0u8; 64];
    key[..SECRET.len()].copy_from_slice(SECRET);
    let pad = |byte: u8| key.iter().map(|k| k ^ byte).collect::<Vec<u8>>();
    let inner = sha2::Sha256::new()
        .chain_update(pad(0x36))
        .chain_update(&signing_input)
        .finalize();
    let mac = sha2::Sha256::new()
        .chain_update(pad(0x5c))
        .chain_update(inner)
        .finalize();
    format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(mac))
}

#[tokio::test]
async fn a_hand_made_valid_token_is_accepted() {
    let server = TestServer::start().await;
    let claims = json!({"tenant": "acme", "scope": RW, "exp": 4_000_000_000u64});
    let answer = server
        .client_with_token(&jsonwebtoken_encode(&claims))
        .get("/v1/events")
        .await;
    assert_eq!(answer.status, 200, "{}", answer.text);
}

#[tokio::test]
async fn missing_roles_are_403_problems() {
    let server = TestServer::start().await;
    let reader = server.client("acme", "audit:read");
    let body = reader
        .post_json(&json!({"action": "a.created"}))
        .await
        .problem(403);
    assert!(body["detail"].as_str().unwrap().contains("audit:write"));
    let writer = server.client("acme", "audit:write");
    assert_eq!(
        writer
            .post_json(&json!({"action": "a.created"}))
            .await
            .status,
        201
    );
    writer.get("/v1/events").await.problem(403);
    writer.get("/v1/ledger/checkpoint").await.problem(403);
    writer.get("/v1/ledger/key").await.problem(403);
}

#[tokio::test]
async fn the_tenant_comes_from_the_token_never_the_body() {
    let server = TestServer::start().await;
    let acme = server.client("acme", RW);
    let body = acme
        .post_json(&json!({"action": "a", "tenant": "beta"}))
        .await
        .problem(400);
    assert_eq!(body["errors"][0]["field"], "tenant");
    let created = acme.post_json(&json!({"id": "mine", "action": "a"})).await;
    assert_eq!(created.status, 201);
    assert_eq!(created.json()["data"][0]["tenant"], "acme");
    let beta = server.client("beta", RW);
    beta.get("/v1/events/mine").await.problem(404);
    assert!(beta.all_events().await.is_empty());
}
