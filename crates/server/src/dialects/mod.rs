//! The seed systems' APIs (DESIGN section 6, "Dialects"), each a thin translation over the core:
//! its parameters into a [`Filter`](trailkeep_event::Filter), the stored event into its record
//! shape, its envelope and its error body. One file per dialect; `docs/dialects.md` maps every
//! field.
//!
//! Handlers fail with the native [`ApiError`](crate::ApiError) like every other handler; the
//! [`errors_as`] middleware around a dialect's routes rewrites those problem+json answers
//! (including the guard's 401, 403 and 429) into the dialect's own error body, keeping status
//! and headers.

pub mod audit_rail;
pub mod cloudflare;
pub mod kore;
pub mod persys;
pub mod port;

use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use serde_json::Value;
use trailkeep_api::{PROBLEM_CONTENT_TYPE, Problem};
use trailkeep_event::{Filter, Order, Query, Timestamp};

use crate::error::ApiError;
use crate::params::Params;

/// Largest problem body the rewriter reads (they are a few hundred bytes).
const MAX_PROBLEM_BYTES: usize = 64 * 1024;

/// Where a dialect's error bodies are described in the OpenAPI document.
#[derive(Debug)]
pub struct ErrorBody {
    /// Their content type.
    pub content_type: &'static str,
    /// The component schema that describes them.
    pub schema: &'static str,
}

/// The native API's errors: RFC 9457 problem details.
pub const NATIVE_ERRORS: ErrorBody = ErrorBody {
    content_type: PROBLEM_CONTENT_TYPE,
    schema: "Problem",
};

/// Turns a problem into a dialect's error body.
pub type RenderError = fn(StatusCode, &Problem) -> Value;

/// Middleware: rewrites every problem+json answer of the wrapped routes with `render`.
pub async fn errors_as(
    State(render): State<RenderError>,
    request: Request,
    next: Next,
) -> Response {
    let response = next.run(request).await;
    let is_problem = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes() == PROBLEM_CONTENT_TYPE.as_bytes());
    if !is_problem {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let Ok(bytes) = to_bytes(body, MAX_PROBLEM_BYTES).await else {
        return Response::from_parts(parts, Body::empty());
    };
    let Ok(problem) = serde_json::from_slice::<Problem>(&bytes) else {
        return Response::from_parts(parts, Body::from(bytes));
    };
    let rendered = serde_json::to_vec(&render(parts.status, &problem)).unwrap_or_default();
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Response::from_parts(parts, Body::from(rendered))
}

/// A time bound named `key`, as RFC 3339 or a plain date (`2025-01-15`, midnight UTC).
pub fn instant(params: &Params, key: &str) -> Result<Option<Timestamp>, ApiError> {
    params.parsed(key, |v| {
        let text = if v.len() == 10 && v.as_bytes().get(4) == Some(&b'-') {
            format!("{v}T00:00:00Z")
        } else {
            v.to_owned()
        };
        Timestamp::parse(&text).map_err(|e| format!("{e}; use RFC 3339 or YYYY-MM-DD"))
    })
}

/// An instant as the dialects take it: an RFC 3339 date-time or a date (midnight UTC).
pub struct Instant;

impl utoipa::PartialSchema for Instant {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{
            KnownFormat, ObjectBuilder, OneOfBuilder, SchemaFormat, Type,
        };
        let string = |format| {
            ObjectBuilder::new()
                .schema_type(Type::String)
                .format(Some(SchemaFormat::KnownFormat(format)))
        };
        OneOfBuilder::new()
            .item(string(KnownFormat::DateTime))
            .item(string(KnownFormat::Date))
            .into()
    }
}

impl utoipa::ToSchema for Instant {}

/// Page-number paging: page from 1, a page size up to the core's largest page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageNumber {
    /// The page, from 1.
    pub page: u64,
    /// Events a page.
    pub per_page: u32,
}

impl PageNumber {
    /// Reads `page_key` and `size_key` (default page size `default_size`).
    pub fn parse(
        params: &Params,
        page_key: &str,
        size_key: &str,
        default_size: u32,
    ) -> Result<Self, ApiError> {
        let page = params
            .parsed(page_key, |v| match v.parse::<u64>() {
                Ok(n) if (1..=100_000).contains(&n) => Ok(n),
                _ => Err("must be an integer from 1 to 100000".into()),
            })?
            .unwrap_or(1);
        let per_page = params
            .parsed(size_key, |v| match v.parse::<u32>() {
                Ok(n) if (1..=trailkeep_event::MAX_PAGE).contains(&n) => Ok(n),
                _ => Err(format!(
                    "must be an integer from 1 to {}",
                    trailkeep_event::MAX_PAGE
                )),
            })?
            .unwrap_or(default_size);
        let depth = (page - 1).saturating_mul(u64::from(per_page));
        if depth > 100_000 {
            return Err(ApiError::bad_request(
                "bad_parameter",
                "pages reach at most 100,000 events deep; narrow the filter",
            ));
        }
        Ok(Self { page, per_page })
    }

    /// The store query for this page of `filter`, newest first; it counts every match only
    /// when the dialect's answer shows the total (`with_total`), since an exact count costs a
    /// pass over every match.
    pub fn query(self, filter: Filter, with_total: bool) -> Query {
        let mut query = Query::first_page(filter, Order::Desc, self.per_page);
        query.offset = (self.page - 1) * u64::from(self.per_page);
        query.count_total = with_total;
        query
    }
}

/// The tenant's event with this id, or a 404 that names `what` (an id longer than any stored
/// one is not looked up).
pub async fn event_by_id(
    state: &crate::AppState,
    tenant: &str,
    id: &str,
    what: &str,
) -> Result<trailkeep_store::StoredEvent, ApiError> {
    let not_found = || ApiError::not_found(format!("no {what} with id {id:?}"));
    if id.len() > trailkeep_event::MAX_ID_CHARS * 4 {
        return Err(not_found());
    }
    state.store.get(tenant, id).await?.ok_or_else(not_found)
}

/// The condition "the action is exactly `action`" (a `*` in it is a character, not a prefix
/// pattern as in the native `action` filter), or none.
pub fn exact_action(action: Option<String>) -> Vec<trailkeep_event::FieldMatch> {
    action
        .map(|action| trailkeep_event::FieldMatch {
            field: trailkeep_event::EventField::Action,
            values: vec![action],
            negate: false,
        })
        .into_iter()
        .collect()
}

/// Prefixes every operation id of `router` (a dialect mounted twice needs distinct ids).
pub fn prefix_operation_ids(
    router: &mut utoipa_axum::router::OpenApiRouter<crate::AppState>,
    prefix: &str,
) {
    for item in router.get_openapi_mut().paths.paths.values_mut() {
        for operation in [
            &mut item.get,
            &mut item.post,
            &mut item.put,
            &mut item.delete,
        ]
        .into_iter()
        .flatten()
        {
            if let Some(id) = &operation.operation_id {
                operation.operation_id = Some(format!("{prefix}{id}"));
            }
        }
    }
}

/// What a dialect's free-form object (Persys `details`, Audit Rail and Cloudflare `metadata`,
/// Port `details`) carries for a tombstone under `redaction`: why and when fields were removed,
/// which, and by which record, and that what remains can no longer be proved against the leaf
/// hash. `None` for a whole event.
pub fn redaction_marker(event: &trailkeep_event::Event) -> Option<Value> {
    let redaction = event.redaction.as_ref()?;
    Some(serde_json::json!({
        "reason": redaction.reason,
        "removed": redaction.removed,
        "record": redaction.record,
        "redacted_at": redaction.redacted_at,
        "provable": false,
    }))
}

/// The words a dialect with no free-form object (Kore's `keywords`, Cloudflare v2's
/// `action.description`) shows for a tombstone, before the event's own description.
pub fn redaction_note(event: &trailkeep_event::Event) -> Option<String> {
    let redaction = event.redaction.as_ref()?;
    Some(format!(
        "[tombstone: {} removed {}; what remains is not provable against the leaf hash]",
        redaction.reason.as_str(),
        redaction.removed.join(", ")
    ))
}

/// `description` with a tombstone's note before it.
pub fn noted_description(event: &trailkeep_event::Event) -> Option<String> {
    match (redaction_note(event), &event.description) {
        (Some(note), Some(text)) => Some(format!("{note} {text}")),
        (Some(note), None) => Some(note),
        (None, text) => text.clone(),
    }
}
