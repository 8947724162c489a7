//! The OpenAPI description: served at `/openapi.json` exactly as generated, committed in
//! `docs/openapi.json` without drift, naming every route's role; and `/docs` loads nothing from
//! elsewhere.

use serde_json::Value;

use crate::support::{TestServer, read};

const COMMITTED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/openapi.json");

#[test]
fn the_committed_description_matches_the_code() {
    let generated = trailkeep_server::openapi::to_json(&trailkeep_server::openapi());
    if std::env::var_os("TRAILKEEP_WRITE_OPENAPI").is_some() {
        std::fs::write(COMMITTED, &generated).unwrap();
    }
    let committed = std::fs::read_to_string(COMMITTED).unwrap_or_default();
    assert!(
        committed == generated,
        "docs/openapi.json is out of date: run `cargo run -q -- openapi > docs/openapi.json` \
         (or this test with TRAILKEEP_WRITE_OPENAPI=1) and commit the result"
    );
}

#[tokio::test]
async fn the_served_description_is_openapi_3_1_with_every_guarded_role() {
    let server = TestServer::start().await;
    let answer = read(reqwest::get(server.url("/openapi.json")).await.unwrap()).await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.content_type(), "application/json");
    let spec: Value = answer.json();
    assert_eq!(
        spec,
        serde_json::from_str::<Value>(&trailkeep_server::openapi::to_json(
            &trailkeep_server::openapi()
        ))
        .unwrap()
    );
    assert!(spec["openapi"].as_str().unwrap().starts_with("3.1"));
    let role = |path: &str, method: &str| spec["paths"][path][method]["x-required-role"].clone();
    assert_eq!(role("/v1/events", "post"), "audit:write");
    assert_eq!(role("/v1/events", "get"), "audit:read");
    assert_eq!(role("/v1/api-keys/{id}", "delete"), "audit:admin");
    assert_eq!(role("/healthz", "get"), Value::Null);
    // Every guarded operation documents 401, 403 and 429 and names its security schemes.
    for (path, item) in spec["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            if operation.get("x-required-role").is_some() {
                for status in ["401", "403", "429"] {
                    assert!(
                        operation["responses"].get(status).is_some(),
                        "{method} {path} lacks {status}"
                    );
                }
                assert!(operation["security"].is_array(), "{method} {path}");
            }
        }
    }
}

#[tokio::test]
async fn docs_render_the_description_without_anything_from_elsewhere() {
    let server = TestServer::start().await;
    let answer = read(reqwest::get(server.url("/docs")).await.unwrap()).await;
    assert_eq!(answer.status, 200);
    assert!(answer.content_type().starts_with("text/html"));
    let csp = answer.headers["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("default-src 'none'") && csp.contains("connect-src 'self'"));
    let page = answer.text.to_ascii_lowercase();
    assert!(page.contains("/openapi.json"));
    for external in [
        "src=\"http",
        "href=\"http",
        "src='http",
        "href='http",
        "@import",
        "cdn",
    ] {
        assert!(!page.contains(external), "the page loads {external}...");
    }
}

/// Tools that follow links between operations (schemathesis among them) find them by id: two
/// operations with one id make every link to either ambiguous.
#[test]
fn every_operation_has_an_id_of_its_own() {
    let spec = serde_json::to_value(trailkeep_server::openapi()).unwrap();
    let mut seen = std::collections::BTreeMap::new();
    for (path, item) in spec["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            if let Some(id) = operation["operationId"].as_str() {
                let here = format!("{method} {path}");
                if let Some(before) = seen.insert(id.to_owned(), here.clone()) {
                    panic!("operationId {id:?} names both {before} and {here}");
                }
            }
        }
    }
}
