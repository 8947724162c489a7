//! Query strings of every listing, native and dialect, through the real router over a real
//! embedded store: whatever the query, the answer is a 2xx or a 4xx, never a 5xx or a panic.
//! This covers parsing each API's parameters into a `Filter`, cursors and page numbers, and
//! running the resulting queries.

use std::sync::OnceLock;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, Uri, header};
use serde_json::json;
use tower::ServiceExt;
use trailkeep_server::{AppState, JwtSettings, JwtVerifier, Limits, mint_token};
use trailkeep_store::{AppendRequest, EventStore, Store};
use trailkeep_store_embedded::{EmbeddedStore, Options};

const SECRET: &[u8] = b"fuzz secret fuzz secret fuzz secret";

/// The listings a query string is sent to (`{}` is the query).
const ROUTES: &[&str] = &[
    "/v1/events",
    "/v1/stats",
    "/v1/logins",
    "/v1/access",
    "/v1/entities/doc/d1/history",
    "/v1/ledger/checkpoint",
    "/v1/ledger/proofs/inclusion",
    "/v1/ledger/proofs/consistency",
    "/audit-logs",
    "/v1/audit",
    "/api/v1/audit/logs",
    "/api/v1/audit/access-logs",
    "/api/v1/audit/login-history",
    "/api/v1/audit/stats",
    "/api/v1/audit/entities/doc/d1/history",
    "/api/public/auditlogs",
    "/accounts/fuzz/logs/audit",
    "/accounts/fuzz/audit_logs",
    "/user/audit_logs",
];

struct Harness {
    runtime: tokio::runtime::Runtime,
    router: Router,
    token: String,
    _dir: tempfile::TempDir,
}

fn harness() -> &'static Harness {
    static HARNESS: OnceLock<Harness> = OnceLock::new();
    HARNESS.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("a runtime");
        let dir = tempfile::tempdir().expect("a temporary directory");
        let router = runtime.block_on(async {
            let store = std::sync::Arc::new(
                EmbeddedStore::open(dir.path(), Options::default()).expect("a store"),
            );
            let events = [
                json!({"action": "user.login", "actor": {"id": "u1", "email": "a@example.com"}, "outcome": "failure"}),
                json!({"action": "doc.read", "target": {"type": "doc", "id": "d1"}, "metadata": {"a.b": 1, "c": {"d": "e"}}}),
                json!({"action": "doc.updated", "target": {"type": "doc", "id": "d1"}, "changes": {"s": {"from": "A", "to": "B"}}}),
                json!({"action": "contract.created", "occurred_at": "2001-01-01T00:00:00Z"}),
            ];
            let now = trailkeep_event::Timestamp::now();
            let prepared = events
                .iter()
                .map(|e| trailkeep_event::prepare(e, "fuzz", now).expect("a valid event"))
                .collect();
            let request = AppendRequest {
                events: prepared,
                idempotency_key: None,
            };
            store.append("fuzz", request).await.expect("stored");
            store.checkpoint_covering("fuzz", 4).await.expect("signed");
            let jwt = JwtVerifier::new(SECRET, None, JwtSettings::default()).expect("a verifier");
            let limits = Limits {
                rate_per_second: 0,
                ..Limits::default()
            };
            let shared: std::sync::Arc<dyn Store> = store;
            let (_, stopping) = trailkeep_server::stopping_signal();
            trailkeep_server::router(AppState::new(shared, jwt, SECRET, limits, stopping))
        });
        let token = mint_token(
            SECRET,
            "fuzz",
            "audit:read audit:write audit:export audit:admin",
            365 * 86_400,
        )
        .expect("a token");
        Harness {
            runtime,
            router,
            token,
            _dir: dir,
        }
    })
}

/// The check: the input is `route (1 byte) query string (rest)`.
pub fn check(data: &[u8]) {
    let Some((&route, query)) = data.split_first() else {
        return;
    };
    let Ok(query) = std::str::from_utf8(query) else {
        return;
    };
    let path = ROUTES[usize::from(route) % ROUTES.len()];
    let Ok(uri) = format!("{path}?{query}").parse::<Uri>() else {
        return;
    };
    let harness = harness();
    let request = Request::get(uri)
        .header(header::AUTHORIZATION, format!("Bearer {}", harness.token))
        .header("auth", &harness.token)
        .body(Body::empty())
        .expect("a request");
    let response = harness
        .runtime
        .block_on(harness.router.clone().oneshot(request))
        .expect("the router answers");
    let status = response.status();
    assert!(
        !status.is_server_error(),
        "{path}?{query} answered {status}"
    );
}
