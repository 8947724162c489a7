//! Every route and the role it needs, in one table a reader can check at a glance.
//!
//! `open` routes take no credentials (operations endpoints and the token exchange, which takes
//! its credentials in the body). Every other route sits behind [`guard`], which authenticates,
//! rate-limits and checks the role named beside the route.

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware::{from_fn, from_fn_with_state};
use axum::routing::{MethodRouter, delete, get, post};

use crate::auth::{Role, guard};
use crate::error::ApiError;
use crate::{AppState, events, health, ingest, keys, ledger, stats, stream, telemetry, views};

/// Every route, with problem+json for unknown paths and methods.
pub fn router(state: AppState) -> Router {
    let needs = |role: Role, route: MethodRouter<AppState>| {
        route.route_layer(from_fn_with_state((state.clone(), role), guard))
    };
    Router::new()
        // Operations and the token exchange: no credentials.
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(telemetry::render))
        .route("/v1/auth/token", post(keys::token))
        // Ingest.
        .route(
            "/v1/events",
            needs(Role::Read, get(events::list))
                .merge(needs(Role::Write, post(ingest::post_events))),
        )
        // Reads.
        .route("/v1/events/stream", needs(Role::Read, get(stream::stream)))
        .route("/v1/events/{id}", needs(Role::Read, get(events::get_one)))
        .route(
            "/v1/entities/{kind}/{id}/history",
            needs(Role::Read, get(views::history)),
        )
        .route("/v1/logins", needs(Role::Read, get(views::logins)))
        .route("/v1/access", needs(Role::Read, get(views::access)))
        .route("/v1/stats", needs(Role::Read, get(stats::stats)))
        // The ledger.
        .route("/v1/ledger/key", needs(Role::Read, get(ledger::key)))
        .route(
            "/v1/ledger/checkpoint",
            needs(Role::Read, get(ledger::checkpoint)),
        )
        .route(
            "/v1/ledger/proofs/inclusion",
            needs(Role::Read, get(ledger::inclusion)),
        )
        .route(
            "/v1/ledger/proofs/consistency",
            needs(Role::Read, get(ledger::consistency)),
        )
        // Credentials.
        .route(
            "/v1/api-keys",
            needs(Role::Admin, get(keys::list)).merge(needs(Role::Admin, post(keys::create))),
        )
        .route(
            "/v1/api-keys/{id}",
            needs(Role::Admin, delete(keys::revoke)),
        )
        .fallback(|| async { ApiError::not_found("no such endpoint") })
        .method_not_allowed_fallback(|| async { ApiError::method_not_allowed() })
        .layer(from_fn(telemetry::observe))
        .layer(DefaultBodyLimit::max(state.limits.max_body_bytes))
        .with_state(state)
}
