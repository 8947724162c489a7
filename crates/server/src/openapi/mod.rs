//! The OpenAPI 3.1 description of the native API, generated from the handlers' annotations and
//! the wire types' schemas, and served at `/openapi.json` with a reader at `/docs`.
//!
//! `routes.rs` registers every route through [`utoipa_axum`], so a route cannot exist without
//! its description; [`require`] writes the role a route needs (and the 401, 403 and 429 every
//! guarded route can answer) into the same description. The repository keeps a copy in
//! `docs/openapi.json`, and a test fails when the two drift apart.

pub mod params;

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use utoipa::openapi::path::{Operation, PathItem, Paths};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{
    ContentBuilder, Ref, RefOr, ResponseBuilder, SecurityRequirement, extensions::ExtensionsBuilder,
};
use utoipa::{Modify, OpenApi};

use crate::auth::{Access, Role};
use crate::dialects::ErrorBody;

/// The fixed parts of the description: title, version, security schemes, shared schemas.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Trailkeep",
        description = "A tamper-evident audit-log service: ingest, search, statistics, per-tenant Merkle ledger proofs, API keys.",
        license(name = "Apache-2.0", identifier = "Apache-2.0")
    ),
    components(schemas(trailkeep_api::Problem, trailkeep_api::ProblemError)),
    modifiers(&SecuritySchemes),
    tags(
        (name = "events", description = "Ingest and read audit events"),
        (name = "views", description = "History, logins, data access and statistics"),
        (name = "ledger", description = "Checkpoints and proofs"),
        (name = "credentials", description = "API keys and the token exchange"),
        (name = "exports", description = "Exports of events with signed manifests"),
        (name = "reports", description = "Compliance reports with the ledger's integrity attestation"),
        (name = "retention", description = "Retention policies, legal holds and erasures that keep every ledger verifiable"),
        (name = "viewer", description = "The web viewer's session and embed tokens (the viewer itself is served at /ui)"),
        (name = "detection", description = "Rules over the trail and the alerts they raise"),
        (name = "webhooks", description = "Subscriptions that deliver the trail's events as Standard Webhooks"),
        (name = "operations", description = "Health, readiness and metrics"),
        (name = "persys", description = "Persys Cloud Audit Service dialect"),
        (name = "audit-rail", description = "Audit Rail dialect, under /api/v1/audit"),
        (name = "kore", description = "Kore.ai audit log dialect"),
        (name = "cloudflare", description = "Cloudflare audit logs dialect (also under /client/v4)"),
        (name = "port", description = "Port audit dialect, as Port's Python SDK calls it"),
    )
)]
pub struct ApiDoc;

/// The body of `POST /v1/events` as JSON: one event or a batch.
#[derive(utoipa::ToSchema)]
#[serde(untagged)]
#[allow(dead_code)] // Described, never built: the handler parses the body itself.
pub enum IngestBody {
    /// One event.
    One(Box<trailkeep_event::EventInput>),
    /// A batch of 1 to 10,000 events.
    Batch(EventBatch),
}

/// A batch of 1 to [`MAX_BATCH`](trailkeep_api::MAX_BATCH) events.
pub struct EventBatch;

impl utoipa::PartialSchema for EventBatch {
    fn schema() -> RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::schema::ArrayBuilder::new()
            .items(Ref::from_schema_name("EventInput"))
            .min_items(Some(1))
            .max_items(Some(trailkeep_api::MAX_BATCH))
            .into()
    }
}

impl utoipa::ToSchema for EventBatch {
    fn schemas(schemas: &mut Vec<(String, RefOr<utoipa::openapi::schema::Schema>)>) {
        schemas.push((
            "EventInput".into(),
            <trailkeep_event::EventInput as utoipa::PartialSchema>::schema(),
        ));
        <trailkeep_event::EventInput as utoipa::ToSchema>::schemas(schemas);
    }
}

/// One server-sent event of `GET /v1/events/stream`.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // Described, never built: the stream writes the fields itself.
pub struct StreamEvent {
    /// The event's seq (send it back as `Last-Event-ID` to resume).
    #[schema(pattern = "^[0-9]+$")]
    id: String,
    /// Always `audit.event`.
    #[schema(pattern = "^audit\\.event$")]
    event: String,
    /// The event, as canonical JSON text.
    data: String,
}

struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT or API key")
                    .description(Some("A JWT (HS256, or RS256/ES256/EdDSA from the configured JWKS) or an API key"))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "api_key",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "X-API-Key",
                "An API key, instead of Authorization: Bearer (never both)",
            ))),
        );
    }
}

fn error(description: &str, body: &ErrorBody) -> RefOr<utoipa::openapi::Response> {
    ResponseBuilder::new()
        .description(description)
        .content(
            body.content_type,
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name(body.schema)))
                .build(),
        )
        .build()
        .into()
}

fn operations(item: &mut PathItem) -> impl Iterator<Item = &mut Operation> {
    [
        &mut item.get,
        &mut item.put,
        &mut item.post,
        &mut item.delete,
        &mut item.patch,
    ]
    .into_iter()
    .filter_map(Option::as_mut)
}

/// What `x-required-role` says of a route any valid credential may call.
pub const ANY_CREDENTIAL: &str = "any";

/// The sentence in the description of every route embed tokens may call.
pub const EMBED_NOTE: &str =
    "Embed tokens (`POST /v1/viewer-tokens`) may call it and see only their scope's events.";

/// Marks every operation in `paths` as needing `access`: security requirements, the
/// `x-required-role` extension (a scope, or [`ANY_CREDENTIAL`]), a sentence in the description
/// (with [`EMBED_NOTE`] where embed tokens may call it), and the 401/403/429 answers with the
/// route's error `body`.
pub fn require(paths: &mut Paths, access: Access, body: &ErrorBody) {
    for item in paths.paths.values_mut() {
        for operation in operations(item) {
            // Only the bearer scheme is required here: an API key also works as `X-API-Key` (the
            // `api_key` scheme) or `auth`, but a request carrying two different credentials is
            // refused, so the description must not invite sending both.
            operation.security = Some(vec![SecurityRequirement::new(
                "bearer",
                Vec::<String>::new(),
            )]);
            let mut note = match access.role {
                Some(role) => format!("Requires the `{}` role.", role.scope()),
                None => "Requires any valid credential.".to_owned(),
            };
            if access.embed {
                note.push(' ');
                note.push_str(EMBED_NOTE);
            }
            operation.description = Some(match operation.description.take() {
                Some(text) => format!("{text}\n\n{note}"),
                None => note,
            });
            let extension = ExtensionsBuilder::new()
                .add(
                    "x-required-role",
                    access.role.map_or(ANY_CREDENTIAL, Role::scope),
                )
                .build();
            match &mut operation.extensions {
                Some(existing) => existing.merge(extension),
                None => operation.extensions = Some(extension),
            }
            let responses = &mut operation.responses.responses;
            responses.insert("401".into(), error("Missing or invalid credentials", body));
            responses.insert(
                "403".into(),
                error("The credentials lack the role this endpoint needs", body),
            );
            responses.insert(
                "429".into(),
                error(
                    "The credential's rate limit is spent; see Retry-After",
                    body,
                ),
            );
        }
    }
}

/// The description as JSON, for `/openapi.json`.
pub fn to_json(spec: &utoipa::openapi::OpenApi) -> String {
    let mut text = spec.to_pretty_json().expect("the description serialises");
    text.push('\n');
    text
}

/// `GET /openapi.json`.
pub fn serve_json(json: &'static str) -> Response {
    let mut response = json.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// `GET /docs`: a page of our own that reads `/openapi.json` and lists every operation, its
/// parameters, body and answers. No script or style from anywhere else.
pub async fn docs() -> Response {
    let mut response = include_str!("docs.html").into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    response.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; script-src 'self' 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'",
        ),
    );
    response
}
