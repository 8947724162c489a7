//! Every route and the role it needs, in one table a reader can check at a glance.
//!
//! Routes are registered through `utoipa_axum`, so each comes with its OpenAPI description and
//! the two cannot drift. Open routes take no credentials (operations endpoints and the token
//! exchange, which carries its credentials in the body). Every other route sits behind
//! [`guard`], which authenticates, rate-limits and checks the role named beside the route; the
//! same `needs` call writes that role into the description.

use std::sync::OnceLock;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware::{from_fn, from_fn_with_state};
use axum::routing::{MethodRouter, get};
use utoipa::OpenApi;
use utoipa_axum::router::{OpenApiRouter, UtoipaMethodRouter};
use utoipa_axum::routes;

use crate::auth::{Access, Role, guard};
use crate::body::small_body;
use crate::dialects::{ErrorBody, NATIVE_ERRORS, audit_rail, cloudflare, kore, persys, port};
use crate::error::ApiError;
use crate::openapi::{self, ApiDoc};
use crate::{
    AppState, detection, events, export_links, exports, health, ingest, keys, ledger, limits,
    reports, retention, stats, stream, telemetry, ui, viewer, views, webhooks,
};

/// Puts whatever enforces an access rule in front of a route (the guard, or nothing when only
/// the description is wanted).
type Enforce<'a> = &'a dyn Fn(Access, MethodRouter<AppState>) -> MethodRouter<AppState>;

/// Marks routes as needing a role: enforced, and written into their description with the
/// error body their 401, 403 and 429 carry.
pub type Needs<'a> = &'a dyn Fn(
    Role,
    &'static ErrorBody,
    UtoipaMethodRouter<AppState>,
) -> UtoipaMethodRouter<AppState>;

/// The routes with their descriptions; `enforce` decides how a role is enforced.
fn api(enforce: Enforce<'_>) -> OpenApiRouter<AppState> {
    let guarded = |access: Access,
                   errors: &'static ErrorBody,
                   (schemas, mut paths, route): UtoipaMethodRouter<AppState>| {
        openapi::require(&mut paths, access, errors);
        (schemas, paths, enforce(access, route))
    };
    let needs_with = |role: Role, errors: &'static ErrorBody, route| {
        let access = Access {
            role: Some(role),
            embed: false,
        };
        guarded(access, errors, route)
    };
    let needs =
        |role: Role, route: UtoipaMethodRouter<AppState>| needs_with(role, &NATIVE_ERRORS, route);
    // The viewer's reads: embed tokens may call them, and see only their scope's events.
    let viewable = |route: UtoipaMethodRouter<AppState>| {
        let access = Access {
            role: Some(Role::Read),
            embed: true,
        };
        guarded(access, &NATIVE_ERRORS, route)
    };
    // Any valid credential, embed tokens included.
    let signed_in = |route: UtoipaMethodRouter<AppState>| {
        let access = Access {
            role: None,
            embed: true,
        };
        guarded(access, &NATIVE_ERRORS, route)
    };
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        // Operations and the token exchange: no credentials.
        .routes(routes!(health::healthz))
        .routes(routes!(health::readyz))
        .routes(routes!(telemetry::render))
        .routes(small_body(routes!(keys::token)))
        // A signed link is its own credential.
        .routes(routes!(export_links::open))
        // The viewer's session and embed tokens.
        .routes(signed_in(routes!(viewer::session)))
        .routes(needs(
            Role::Admin,
            small_body(routes!(viewer::create_token)),
        ))
        // Events.
        .routes(needs(Role::Write, routes!(ingest::post_events)))
        .routes(viewable(routes!(events::list)))
        .routes(viewable(routes!(stream::stream)))
        .routes(viewable(routes!(events::get_one)))
        // Views.
        .routes(viewable(routes!(views::history)))
        .routes(needs(Role::Read, routes!(views::logins)))
        .routes(needs(Role::Read, routes!(views::access)))
        .routes(viewable(routes!(stats::stats)))
        // The ledger.
        .routes(viewable(routes!(ledger::key)))
        .routes(viewable(routes!(ledger::checkpoint)))
        .routes(needs(Role::Read, routes!(ledger::inclusion)))
        .routes(viewable(routes!(ledger::consistency)))
        // Exports.
        .routes(needs(
            Role::Export,
            small_body(routes!(exports::create, exports::list)),
        ))
        .routes(needs(
            Role::Export,
            routes!(exports::get_one, exports::cancel),
        ))
        .routes(needs(Role::Export, routes!(exports::file)))
        .routes(needs(Role::Export, routes!(exports::manifest)))
        .routes(needs(Role::Export, routes!(exports::proofs)))
        .routes(needs(
            Role::Export,
            small_body(routes!(export_links::create)),
        ))
        // Reports.
        .routes(needs(
            Role::Export,
            small_body(routes!(reports::create, reports::list)),
        ))
        .routes(needs(Role::Export, routes!(reports::get_one)))
        .routes(needs(Role::Export, routes!(reports::file)))
        // Retention, legal holds, erasures.
        .routes(needs(
            Role::Admin,
            small_body(routes!(retention::get_policy, retention::set_policy)),
        ))
        .routes(needs(
            Role::Admin,
            routes!(retention::create_run, retention::list_runs),
        ))
        .routes(needs(Role::Admin, routes!(retention::get_run)))
        .routes(needs(
            Role::Admin,
            small_body(routes!(retention::create_hold, retention::list_holds)),
        ))
        .routes(needs(Role::Admin, routes!(retention::get_hold)))
        .routes(needs(
            Role::Admin,
            small_body(routes!(retention::lift_hold)),
        ))
        .routes(needs(
            Role::Admin,
            small_body(routes!(retention::create_erasure, retention::list_erasures)),
        ))
        .routes(needs(Role::Admin, routes!(retention::get_erasure)))
        // Credentials.
        .routes(needs(Role::Admin, routes!(keys::list)))
        .routes(needs(Role::Admin, small_body(routes!(keys::create))))
        .routes(needs(Role::Admin, routes!(keys::revoke)))
        // Webhooks.
        .routes(needs(
            Role::Admin,
            small_body(routes!(webhooks::create, webhooks::list)),
        ))
        .routes(needs(
            Role::Admin,
            small_body(routes!(
                webhooks::get_one,
                webhooks::update,
                webhooks::delete
            )),
        ))
        .routes(needs(Role::Admin, routes!(webhooks::pause)))
        .routes(needs(Role::Admin, routes!(webhooks::resume)))
        .routes(needs(Role::Admin, small_body(routes!(webhooks::rotate))))
        .routes(needs(Role::Admin, routes!(webhooks::test)))
        .routes(needs(Role::Admin, routes!(webhooks::list_deliveries)))
        .routes(needs(Role::Admin, small_body(routes!(webhooks::replay))))
        // Detection.
        .routes(needs(
            Role::Admin,
            small_body(routes!(detection::list_rules, detection::create_rule)),
        ))
        .routes(needs(
            Role::Admin,
            small_body(routes!(
                detection::get_rule,
                detection::update_rule,
                detection::delete_rule
            )),
        ))
        .routes(needs(Role::Read, routes!(detection::list_alerts)))
        .routes(needs(Role::Read, routes!(detection::get_alert)))
        .routes(needs(
            Role::Admin,
            small_body(routes!(detection::acknowledge)),
        ))
        .routes(needs(Role::Admin, small_body(routes!(detection::resolve))))
        // Dialects: the seed systems' APIs.
        .merge(persys::routes(&needs_with, "persys_"))
        .nest(
            "/audit-service",
            persys::routes(&needs_with, "persys_audit_service_"),
        )
        .nest("/api/v1/audit", audit_rail::routes(&needs_with))
        .merge(kore::routes(&needs_with))
        .merge(port::routes(&needs_with))
        .merge(cloudflare::routes(&needs_with, "cloudflare_"))
        .nest(
            "/client/v4",
            cloudflare::routes(&needs_with, "cloudflare_v4_"),
        )
}

/// The OpenAPI description of every route.
pub fn openapi() -> utoipa::openapi::OpenApi {
    api(&|_, route| route).into_openapi()
}

/// The description as served at `/openapi.json` (built once per process).
fn openapi_json() -> &'static str {
    static JSON: OnceLock<String> = OnceLock::new();
    JSON.get_or_init(|| openapi::to_json(&openapi()))
}

/// Every route, with problem+json for unknown paths and methods.
pub fn router(state: AppState) -> Router {
    let guarded = state.clone();
    let enforce = move |access: Access, route: MethodRouter<AppState>| {
        route.route_layer(from_fn_with_state((guarded.clone(), access), guard))
    };
    let (routes, _) = api(&enforce).split_for_parts();
    routes
        .route(
            "/openapi.json",
            get(|| async { openapi::serve_json(openapi_json()) }),
        )
        .route("/docs", get(openapi::docs))
        .route("/ui", get(ui::redirect))
        .route("/ui/", get(ui::page))
        .route("/ui/{*path}", get(ui::file))
        .fallback(|| async { ApiError::not_found("no such endpoint") })
        .method_not_allowed_fallback(|| async { ApiError::method_not_allowed() })
        .layer(from_fn_with_state(state.limits.clone(), limits::deadline))
        .layer(from_fn(telemetry::observe))
        .layer(DefaultBodyLimit::max(state.limits.max_body_bytes))
        .with_state(state)
}
