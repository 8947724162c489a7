//! Credentials end to end: API keys (created, used in every header, listed without secrets,
//! revoked, expired), the client-credentials exchange, JWKS-signed tokens (RS256, ES256,
//! EdDSA), every way a token can be bad (401), rate limits (429) and the self-audit trail.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use trailkeep_server::{JwtSettings, Limits};

use crate::support::{SECRET, Setup, TestServer, read};

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn hs256(claims: &Value) -> String {
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(SECRET),
    )
    .unwrap()
}

async fn get_with(
    server: &TestServer,
    path: &str,
    header: &str,
    value: &str,
) -> crate::support::Answer {
    read(
        reqwest::Client::new()
            .get(server.url(path))
            .header(header, value)
            .send()
            .await
            .unwrap(),
    )
    .await
}

async fn create_key(server: &TestServer, tenant: &str, body: Value) -> Value {
    let admin = server.client(tenant, crate::support::EVERY_ROLE);
    let answer = admin
        .post("/v1/api-keys", "application/json", body.to_string())
        .await;
    assert_eq!(answer.status, 201, "{}", answer.text);
    assert_eq!(answer.headers["cache-control"], "no-store");
    answer.json()
}

#[tokio::test]
async fn an_api_key_works_in_every_header_until_revoked() {
    let server = TestServer::start().await;
    let created = create_key(
        &server,
        "acme",
        json!({"name": "ingest bot", "roles": ["audit:write", "audit:read"]}),
    )
    .await;
    let key = created["key"].as_str().unwrap().to_owned();
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(created["client_id"], id.as_str());
    assert!(key.starts_with(&format!("{id}.")));
    assert_eq!(created["tenant"], "acme");
    assert_eq!(created["roles"], json!(["audit:write", "audit:read"]));

    for (header, value) in [
        ("authorization", format!("Bearer {key}")),
        ("x-api-key", key.clone()),
        ("auth", key.clone()),
    ] {
        let answer = get_with(&server, "/v1/events", header, &value).await;
        assert_eq!(answer.status, 200, "{header}: {}", answer.text);
    }
    // The key's roles hold: no admin.
    get_with(&server, "/v1/api-keys", "x-api-key", &key)
        .await
        .problem(403);

    // Listed without any secret.
    let admin = server.client("acme", crate::support::EVERY_ROLE);
    let listed = admin.get("/v1/api-keys").await;
    assert_eq!(listed.status, 200);
    assert!(
        !listed
            .text
            .contains(created["client_secret"].as_str().unwrap())
    );
    assert_eq!(listed.json()["data"][0]["id"], id.as_str());
    assert_eq!(listed.json()["data"][0]["revoked_at"], Value::Null);

    // Another tenant's admin can neither see nor revoke it.
    let beta_admin = server.client("beta", crate::support::EVERY_ROLE);
    assert_eq!(
        beta_admin.get("/v1/api-keys").await.json()["data"],
        json!([])
    );
    let answer = read(
        beta_admin
            .http
            .delete(format!("{}/v1/api-keys/{id}", beta_admin.base))
            .send()
            .await
            .unwrap(),
    )
    .await;
    answer.problem(404);
    assert_eq!(
        get_with(&server, "/v1/events", "x-api-key", &key)
            .await
            .status,
        200
    );

    let answer = read(
        admin
            .http
            .delete(format!("{}/v1/api-keys/{id}", admin.base))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert!(answer.json()["revoked_at"].is_string());
    let body = get_with(&server, "/v1/events", "x-api-key", &key)
        .await
        .problem(401);
    // The client learns only that the key is not valid; why goes into the tenant's trail.
    assert_eq!(body["detail"], "the API key is not valid", "{body}");

    // Creation and revocation are in acme's own trail, with the admin as actor.
    let events = server.client("acme", "audit:read").all_events().await;
    let actions: Vec<&str> = events
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert!(
        actions.contains(&"trailkeep.api_key.created"),
        "{actions:?}"
    );
    assert!(
        actions.contains(&"trailkeep.api_key.revoked"),
        "{actions:?}"
    );
    let created_event = events
        .iter()
        .find(|e| e["action"] == "trailkeep.api_key.created")
        .unwrap();
    assert_eq!(created_event["target"]["id"], id.as_str());
    assert!(
        !created_event
            .to_string()
            .contains(created["client_secret"].as_str().unwrap())
    );
}

#[tokio::test]
async fn bad_key_requests_are_400s_naming_the_field() {
    let server = TestServer::start().await;
    let admin = server.client("acme", crate::support::EVERY_ROLE);
    for (body, field) in [
        (json!({"name": "x", "roles": ["audit:root"]}), "roles"),
        (json!({"name": "x", "roles": []}), "roles"),
        (json!({"name": "", "roles": ["audit:read"]}), "name"),
        (
            json!({"name": "x", "roles": ["audit:read"], "expires_at": "2001-01-01T00:00:00Z"}),
            "expires_at",
        ),
        (
            json!({"name": "x", "roles": ["audit:read"], "extra": 1}),
            "extra",
        ),
    ] {
        let problem = admin
            .post("/v1/api-keys", "application/json", body.to_string())
            .await
            .problem(400);
        assert_eq!(problem["errors"][0]["field"], field, "{problem}");
    }
    admin
        .post("/v1/api-keys", "text/plain", "{}")
        .await
        .problem(415);
}

#[tokio::test]
async fn the_token_exchange_gives_a_jwt_that_dies_with_its_key() {
    let server = TestServer::start().await;
    let created = create_key(
        &server,
        "acme",
        json!({"name": "svc", "roles": ["audit:read", "audit:write"]}),
    )
    .await;
    let anonymous = reqwest::Client::new();
    let exchange = |body: String, content_type: &'static str| {
        let request = anonymous
            .post(server.url("/v1/auth/token"))
            .header("content-type", content_type)
            .body(body);
        async move { read(request.send().await.unwrap()).await }
    };
    let answer = exchange(
        json!({"client_id": created["client_id"], "client_secret": created["client_secret"]})
            .to_string(),
        "application/json",
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    let token = answer.json()["access_token"].as_str().unwrap().to_owned();
    assert_eq!(answer.json()["token_type"], "Bearer");
    assert_eq!(answer.json()["scope"], "audit:write audit:read");
    let client = server.client_with_token(&token);
    assert_eq!(client.get("/v1/events").await.status, 200);

    // Form encoding, narrowed scope.
    let form = format!(
        "grant_type=client_credentials&client_id={}&client_secret={}&scope=audit%3Aread",
        created["client_id"].as_str().unwrap(),
        created["client_secret"].as_str().unwrap()
    );
    let narrowed = exchange(form, "application/x-www-form-urlencoded").await;
    assert_eq!(narrowed.status, 200, "{}", narrowed.text);
    let reader = server.client_with_token(narrowed.json()["access_token"].as_str().unwrap());
    reader
        .post_json(&json!({"action": "a.created"}))
        .await
        .problem(403);

    // A wrong secret is a 401 that says nothing about which part was wrong.
    let wrong = exchange(
        json!({"client_id": created["client_id"], "client_secret": "x".repeat(43)}).to_string(),
        "application/json",
    )
    .await;
    let body = wrong.problem(401);
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("client id or secret")
    );

    let admin = server.client("acme", crate::support::EVERY_ROLE);
    let id = created["id"].as_str().unwrap();
    admin
        .http
        .delete(format!("{}/v1/api-keys/{id}", admin.base))
        .send()
        .await
        .unwrap();
    client.get("/v1/events").await.problem(401);
}

#[tokio::test]
async fn expired_and_unknown_api_keys_are_401() {
    let server = TestServer::start().await;
    // An expired key can only exist in the store (the API refuses past expiry dates).
    let issued = trailkeep_server::auth::api_keys::issue(
        trailkeep_server::KeySpec {
            tenant: "acme".into(),
            name: "old".into(),
            roles: vec![trailkeep_server::Role::Read],
            expires_at: Some(now() as i64 - 10),
            created_by: "test".into(),
        },
        now() as i64 - 100,
    )
    .unwrap();
    server
        .store
        .insert_api_key(
            issued.record.clone(),
            trailkeep_server::key_event(
                "trailkeep.api_key.created",
                serde_json::json!({"type": "system"}),
                &issued.record,
            )
            .unwrap(),
        )
        .await
        .unwrap();
    let body = get_with(&server, "/v1/events", "x-api-key", &issued.api_key())
        .await
        .problem(401);
    assert_eq!(body["detail"], "the API key is not valid", "{body}");
    let trail = server.client("acme", "audit:read");
    let mut reasons = Vec::new();
    for _ in 0..100 {
        let failures = trail
            .get("/v1/events?action=trailkeep.authenticate")
            .await
            .json();
        reasons = failures["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["metadata"]["reason"].as_str().unwrap().to_owned())
            .collect();
        if !reasons.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(reasons, ["expired key"]);

    let unknown = trailkeep_server::auth::api_keys::issue(
        trailkeep_server::KeySpec {
            tenant: "acme".into(),
            name: "never stored".into(),
            roles: vec![trailkeep_server::Role::Read],
            expires_at: None,
            created_by: "test".into(),
        },
        now() as i64,
    )
    .unwrap();
    get_with(&server, "/v1/events", "x-api-key", &unknown.api_key())
        .await
        .problem(401);
}

#[tokio::test]
async fn every_bad_token_is_401() {
    let audience = "trailkeep-api";
    let issuer = "https://idp.example";
    let server = TestServer::start_with(Setup {
        jwt: JwtSettings {
            issuer: Some(issuer.into()),
            audience: Some(audience.into()),
            leeway_seconds: 0,
            ..JwtSettings::default()
        },
        ..Setup::default()
    })
    .await;
    let t = now();
    let good = json!({"tenant": "acme", "scope": "audit:read", "iss": issuer, "aud": audience, "exp": t + 600});
    assert_eq!(
        server
            .client_with_token(&hs256(&good))
            .get("/v1/events")
            .await
            .status,
        200
    );

    let with = |patch: Value| {
        let mut claims = good.clone();
        for (k, v) in patch.as_object().unwrap() {
            if v.is_null() {
                claims.as_object_mut().unwrap().remove(k);
            } else {
                claims[k] = v.clone();
            }
        }
        hs256(&claims)
    };
    let mut bad_signature = hs256(&good);
    let last = bad_signature.pop().unwrap();
    bad_signature.push(if last == 'A' { 'B' } else { 'A' });
    let alg_none = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#),
        URL_SAFE_NO_PAD.encode(good.to_string())
    );
    let other_secret = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &good,
        &EncodingKey::from_secret(b"another-secret-another-secret-another"),
    )
    .unwrap();
    let cases = [
        ("bad signature", bad_signature),
        ("other secret", other_secret),
        ("alg none", alg_none),
        ("expired", with(json!({"exp": t - 60}))),
        ("not yet valid", with(json!({"nbf": t + 600}))),
        ("wrong audience", with(json!({"aud": "someone-else"}))),
        ("no audience", with(json!({"aud": null}))),
        ("wrong issuer", with(json!({"iss": "https://evil.example"}))),
        ("no expiry", with(json!({"exp": null}))),
        ("no tenant", with(json!({"tenant": null}))),
    ];
    for (name, token) in cases {
        let answer = server.client_with_token(&token).get("/v1/events").await;
        assert_eq!(answer.status, 401, "{name}: {}", answer.text);
        answer.problem(401);
        assert!(!answer.text.contains(&token), "{name}: the token is echoed");
    }
    // No credentials at all.
    read(
        reqwest::Client::new()
            .get(server.url("/v1/events"))
            .send()
            .await
            .unwrap(),
    )
    .await
    .problem(401);
}

/// A deterministic generator for test keys (never for real keys).
struct TestRng(u64);

impl rsa::rand_core::RngCore for TestRng {
    fn next_u32(&mut self) -> u32 {
        self.next_u64() as u32
    }
    fn next_u64(&mut self) -> u64 {
        // SplitMix64.
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        for chunk in dest.chunks_mut(8) {
            let bytes = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rsa::rand_core::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}

impl rsa::rand_core::CryptoRng for TestRng {}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Three identity-provider keys (RS256, ES256, EdDSA): their JWKS and their signing keys.
fn identity_provider() -> (JwkSet, Vec<(Algorithm, &'static str, EncodingKey)>) {
    use rsa::pkcs1::EncodeRsaPrivateKey;
    use rsa::traits::PublicKeyParts;
    let rsa_key = rsa::RsaPrivateKey::new(&mut TestRng(7), 2048).unwrap();
    let rsa_der = rsa_key.to_pkcs1_der().unwrap();

    use p256::pkcs8::EncodePrivateKey;
    let ec_key = p256::SecretKey::from_slice(&[0x42; 32]).unwrap();
    let ec_point =
        p256::elliptic_curve::sec1::ToEncodedPoint::to_encoded_point(&ec_key.public_key(), false);
    let ec_der = ec_key.to_pkcs8_der().unwrap();

    let ed_key = ed25519_dalek::SigningKey::from_bytes(&[0x24; 32]);
    let ed_der = ed25519_dalek::pkcs8::EncodePrivateKey::to_pkcs8_der(&ed_key).unwrap();

    let jwks: JwkSet = serde_json::from_value(json!({"keys": [
        {"kty": "RSA", "kid": "rsa-1", "alg": "RS256", "use": "sig",
         "n": b64(&rsa_key.n().to_bytes_be()), "e": b64(&rsa_key.e().to_bytes_be())},
        {"kty": "EC", "kid": "ec-1", "crv": "P-256",
         "x": b64(ec_point.x().unwrap()), "y": b64(ec_point.y().unwrap())},
        {"kty": "OKP", "kid": "ed-1", "crv": "Ed25519",
         "x": b64(ed_key.verifying_key().as_bytes())},
    ]}))
    .unwrap();
    let signers = vec![
        (
            Algorithm::RS256,
            "rsa-1",
            EncodingKey::from_rsa_der(rsa_der.as_bytes()),
        ),
        (
            Algorithm::ES256,
            "ec-1",
            EncodingKey::from_ec_der(ec_der.as_bytes()),
        ),
        (
            Algorithm::EdDSA,
            "ed-1",
            EncodingKey::from_ed_der(ed_der.as_bytes()),
        ),
    ];
    (jwks, signers)
}

#[tokio::test]
async fn tokens_signed_by_jwks_keys_are_accepted_with_configured_claim_names() {
    let (jwks, signers) = identity_provider();
    let server = TestServer::start_with(Setup {
        jwks: Some(jwks),
        jwt: JwtSettings {
            tenant_claim: "org_id".into(),
            roles_claim: Some("permissions".into()),
            ..JwtSettings::default()
        },
        ..Setup::default()
    })
    .await;
    let claims = json!({"org_id": "acme", "permissions": ["audit:read"], "sub": "alice", "exp": now() + 600});
    for (algorithm, kid, key) in &signers {
        let mut header = Header::new(*algorithm);
        header.kid = Some((*kid).into());
        let token = jsonwebtoken::encode(&header, &claims, key).unwrap();
        let answer = server.client_with_token(&token).get("/v1/events").await;
        assert_eq!(answer.status, 200, "{algorithm:?}: {}", answer.text);
        // Roles come from the configured claim: no write.
        server
            .client_with_token(&token)
            .post_json(&json!({"action": "a.created"}))
            .await
            .problem(403);
        // A key id that names another key's slot does not verify.
        let mut wrong = Header::new(*algorithm);
        wrong.kid = Some("rsa-1".into());
        if *kid != "rsa-1" {
            let token = jsonwebtoken::encode(&wrong, &claims, key).unwrap();
            server
                .client_with_token(&token)
                .get("/v1/events")
                .await
                .problem(401);
        }
    }
    // The default claim name no longer names the tenant.
    let token = hs256(&json!({"tenant": "acme", "scope": "audit:read", "exp": now() + 600}));
    server
        .client_with_token(&token)
        .get("/v1/events")
        .await
        .problem(401);
}

/// With an identity provider's JWKS configured, the server's own HS256 secret used to sign
/// tokens for any tenant as well: a leaked secret outranked the identity provider. Now it signs
/// only the token exchange's tokens, unless `jwt.hs256_tokens` says otherwise.
#[tokio::test]
async fn hs256_tokens_are_limited_to_the_exchange_when_a_jwks_is_configured() {
    let start = |hs256_tokens| {
        let (jwks, _) = identity_provider();
        TestServer::start_with(Setup {
            jwks: Some(jwks),
            jwt: JwtSettings {
                hs256_tokens,
                ..JwtSettings::default()
            },
            ..Setup::default()
        })
    };
    let server = start(trailkeep_server::Hs256Tokens::Auto).await;
    let minted = server.client("acme", "audit:read");
    let refused = minted.get("/v1/events").await.problem(401);
    assert!(
        refused["detail"]
            .as_str()
            .unwrap()
            .contains("token exchange"),
        "{refused}"
    );
    // The exchange's own tokens still work (the key is made in the store: no HS256 token
    // could make it over HTTP here).
    let issued = trailkeep_server::auth::api_keys::issue(
        trailkeep_server::KeySpec {
            tenant: "acme".into(),
            name: "k".into(),
            roles: vec![trailkeep_server::Role::Read],
            expires_at: None,
            created_by: "test".into(),
        },
        now() as i64,
    )
    .unwrap();
    let audit = trailkeep_server::key_event(
        "trailkeep.api_key.created",
        json!({"type": "system"}),
        &issued.record,
    )
    .unwrap();
    server
        .store
        .insert_api_key(issued.record.clone(), audit)
        .await
        .unwrap();
    let exchanged = minted
        .post(
            "/v1/auth/token",
            "application/json",
            json!({"client_id": issued.record.id, "client_secret": issued.secret}).to_string(),
        )
        .await;
    assert_eq!(exchanged.status, 200, "{}", exchanged.text);
    let token = exchanged.json()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        server
            .client_with_token(&token)
            .get("/v1/events")
            .await
            .status,
        200
    );

    let open = start(trailkeep_server::Hs256Tokens::All).await;
    assert_eq!(
        open.client("acme", "audit:read")
            .get("/v1/events")
            .await
            .status,
        200,
        "an operator can keep every HS256 token"
    );
    let closed = start(trailkeep_server::Hs256Tokens::None).await;
    closed
        .client("acme", "audit:read")
        .get("/v1/events")
        .await
        .problem(401);
}

#[tokio::test]
async fn failed_authentications_are_recorded_once_a_minute_per_credential() {
    let server = TestServer::start().await;
    let created = create_key(
        &server,
        "acme",
        json!({"name": "k", "roles": ["audit:read"]}),
    )
    .await;
    let wrong = format!("{}.{}", created["id"].as_str().unwrap(), "A".repeat(43));
    for _ in 0..50 {
        get_with(&server, "/v1/events", "x-api-key", &wrong)
            .await
            .problem(401);
    }
    let reader = server.client("acme", "audit:read");
    let path = "/v1/events?action=trailkeep.authenticate";
    for _ in 0..100 {
        if !reader.get(path).await.json()["data"]
            .as_array()
            .unwrap()
            .is_empty()
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let failures = reader.get(path).await.json()["data"].clone();
    assert_eq!(failures.as_array().unwrap().len(), 1, "{failures}");
    assert_eq!(failures[0]["category"], "login");
    assert_eq!(failures[0]["outcome"], "failure");
    assert_eq!(failures[0]["metadata"]["attempts"], 1);
    assert_eq!(failures[0]["actor"]["id"], created["id"]);
    assert_eq!(failures[0]["metadata"]["reason"], "wrong secret");
    assert!(!failures.to_string().contains(&"A".repeat(43)));
    // Another tenant's trail holds none of it.
    let beta = server.client("beta", "audit:read");
    assert!(beta.all_events().await.is_empty());
}

#[tokio::test]
async fn a_credential_past_its_rate_gets_429_with_retry_after() {
    let server = TestServer::start_with(Setup {
        limits: Limits {
            rate_per_second: 1,
            rate_burst: 5,
            ..Limits::default()
        },
        ..Setup::default()
    })
    .await;
    let greedy = server.client("acme", "audit:read");
    let mut statuses = Vec::new();
    for _ in 0..10 {
        statuses.push(greedy.get("/v1/events").await);
    }
    assert!(statuses[..5].iter().all(|a| a.status == 200));
    let limited = statuses.iter().find(|a| a.status == 429).expect("some 429");
    limited.problem(429);
    let retry: u64 = limited.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=2).contains(&retry), "{retry}");
    // Another credential is not held back.
    let other = crate::support::TestServer::client(&server, "beta", "audit:read");
    assert_eq!(other.get("/v1/events").await.status, 200);
}

#[tokio::test]
async fn an_exchanged_token_dies_when_its_key_expires_and_big_bodies_are_refused_early() {
    let server = TestServer::start().await;
    let expires_at = trailkeep_event::Timestamp::from_micros((now() as i64 + 2) * 1_000_000)
        .unwrap()
        .to_string();
    let created = create_key(
        &server,
        "acme",
        json!({"name": "short", "roles": ["audit:read"], "expires_at": expires_at}),
    )
    .await;
    let answer = read(
        reqwest::Client::new()
            .post(server.url("/v1/auth/token"))
            .json(&json!({"client_id": created["client_id"], "client_secret": created["client_secret"]}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert!(
        answer.json()["expires_in"].as_u64().unwrap() <= 2,
        "{}",
        answer.text
    );
    let client = server.client_with_token(answer.json()["access_token"].as_str().unwrap());
    assert_eq!(client.get("/v1/events").await.status, 200);
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    // The token's own exp has 30 s of leeway; the key's expiry has none.
    client.get("/v1/events").await.problem(401);

    // The token exchange reads small bodies only: a large one is a 413 before it is buffered.
    let huge = format!("{{\"client_id\": \"{}\"}}", "x".repeat(200_000));
    read(
        reqwest::Client::new()
            .post(server.url("/v1/auth/token"))
            .header("content-type", "application/json")
            .body(huge)
            .send()
            .await
            .unwrap(),
    )
    .await
    .problem(413);
}

/// Exchange tokens were only checked for naming a live key: anyone holding the HS256 secret
/// could mint one for any key id (ids are not secret) with any roles. They must now carry the
/// key's binding, and never grant more than the key.
#[tokio::test]
async fn an_exchange_token_needs_its_keys_binding_and_grants_no_more_than_the_key() {
    let server = TestServer::start().await;
    let created = create_key(
        &server,
        "acme",
        json!({"name": "reader", "roles": ["audit:read"]}),
    )
    .await;
    let id = created["id"].as_str().unwrap();
    let forged = hs256(&json!({
        "tenant": "acme", "scope": "audit:read audit:admin", "sub": id, "key_id": id,
        "exp": now() + 600,
    }));
    server
        .client_with_token(&forged)
        .get("/v1/events")
        .await
        .problem(401);
    // The real exchange, asked for more than the key has, is refused; a token with the
    // binding but extra roles in its claims gets only the key's roles.
    let exchanged = server
        .client("acme", "audit:read")
        .post(
            "/v1/auth/token",
            "application/json",
            json!({"client_id": id, "client_secret": created["client_secret"]}).to_string(),
        )
        .await
        .json();
    let token = exchanged["access_token"].as_str().unwrap();
    let claims: Value = serde_json::from_slice(
        &base64::Engine::decode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            token.split('.').nth(1).unwrap(),
        )
        .unwrap(),
    )
    .unwrap();
    let widened = hs256(&json!({
        "tenant": "acme", "scope": "audit:read audit:admin", "sub": id, "key_id": id,
        "kb": claims["kb"], "exp": now() + 600,
    }));
    let client = server.client_with_token(&widened);
    assert_eq!(client.get("/v1/events").await.status, 200);
    client.get("/v1/api-keys").await.problem(403);
}
