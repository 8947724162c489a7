//! Cloudflare's audit logs (`../shared/seeds/001_c3a2365c21d5c7b8.txt`), also under the
//! `/client/v4` prefix of Cloudflare's base URL: v2 `GET /accounts/{account_id}/logs/audit`
//! (cursor paging, every filter of Cloudflare's reference, positive and `.not`), v1
//! `GET /accounts/{account_id}/audit_logs` (page paging) and `GET /user/audit_logs` (the v1
//! shape, for the caller's own actions).
//!
//! The account is the tenant: an `{account_id}` other than the credential's tenant is a 403.
//! Credentials: `Authorization: Bearer`, or `X-Auth-Key` (an API key) with `X-Auth-Email`.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{StatusCode, Uri};
use serde_json::{Map, Value, json};
use trailkeep_api::Problem;
use trailkeep_event::{Category, Event, EventField, FieldMatch, Filter, Order, Outcome, Query};
use utoipa::IntoParams;
use utoipa::openapi::path::{Parameter, ParameterBuilder, ParameterIn, ParameterStyle};
use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Type};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::auth::{Principal, Role};
use crate::dialects::{ErrorBody, Instant, PageNumber, errors_as, exact_action, instant};
use crate::error::ApiError;
use crate::listing::single;
use crate::params::Params;
use crate::routes::Needs;

mod shapes;
use shapes::*;

/// Cloudflare's errors: `{success: false, errors: [{code, message}], messages: [], result: null}`.
pub const ERRORS: ErrorBody = ErrorBody {
    content_type: "application/json",
    schema: "CloudflareError",
};

/// The numeric code Cloudflare's API uses for a status.
fn error_code(status: StatusCode) -> u32 {
    match status.as_u16() {
        400 | 413 => 1004,
        401 | 403 => 10000,
        404 => 7003,
        405 => 7001,
        415 => 6003,
        429 => 971,
        _ => 10001,
    }
}

fn render_error(status: StatusCode, problem: &Problem) -> Value {
    let mut message = problem
        .detail
        .clone()
        .unwrap_or_else(|| problem.title.clone());
    if let Some(first) = problem.errors.first() {
        message = format!("{message}: {} {}", first.field, first.message);
    }
    json!(CloudflareError {
        success: false,
        errors: vec![CloudflareMessage {
            code: error_code(status),
            message,
        }],
        messages: Vec::new(),
        result: None,
    })
}

/// The v2 filter parameters and the fields they compare (`account_name` is the tenant's name).
const V2_FILTERS: [(&str, Option<EventField>); 21] = [
    ("id", Some(EventField::Id)),
    ("account_name", None),
    ("action_result", Some(EventField::Outcome)),
    ("action_type", Some(EventField::Category)),
    ("actor_context", Some(EventField::ActorContext)),
    ("actor_email", Some(EventField::ActorEmail)),
    ("actor_id", Some(EventField::ActorId)),
    ("actor_ip_address", Some(EventField::IpAddress)),
    ("actor_token_id", Some(EventField::ActorTokenId)),
    ("actor_token_name", Some(EventField::ActorTokenName)),
    ("actor_type", Some(EventField::ActorType)),
    ("raw_cf_ray_id", Some(EventField::RequestRayId)),
    ("raw_method", Some(EventField::RequestMethod)),
    ("raw_status_code", Some(EventField::RequestStatusCode)),
    ("raw_uri", Some(EventField::RequestUri)),
    ("resource_id", Some(EventField::TargetId)),
    ("resource_product", Some(EventField::TargetProduct)),
    ("resource_scope", Some(EventField::TargetScope)),
    ("resource_type", Some(EventField::TargetType)),
    ("zone_id", Some(EventField::ZoneId)),
    ("zone_name", Some(EventField::ZoneName)),
];

/// Cloudflare's action type of a category (`view` for reads).
fn action_type(category: Category) -> &'static str {
    match category {
        Category::Read => "view",
        other => other.as_str(),
    }
}

/// The category an action type names.
fn category_value(action_type: &str) -> String {
    match action_type {
        "view" => "read".to_owned(),
        other => other.to_owned(),
    }
}

/// v2 `GET .../logs/audit` parameters: the paging ones and each filter, positive and `.not`.
pub struct V2Query;

impl IntoParams for V2Query {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        let string = || {
            ObjectBuilder::new()
                .schema_type(Type::String)
                .min_length(Some(1))
                .max_length(Some(256))
        };
        let query = |name: &str, description: &str| {
            ParameterBuilder::new()
                .name(name)
                .parameter_in(ParameterIn::Query)
                .description(Some(description))
        };
        let instant = <Instant as utoipa::PartialSchema>::schema;
        let mut params = vec![
            query("since", "At or after (RFC 3339 or YYYY-MM-DD); required")
                .required(utoipa::openapi::Required::True)
                .schema(Some(instant()))
                .build(),
            query("before", "Before (RFC 3339 or YYYY-MM-DD); required")
                .required(utoipa::openapi::Required::True)
                .schema(Some(instant()))
                .build(),
            query("limit", "Records a page, 1 to 1000 (default 100)")
                .schema(Some(
                    ObjectBuilder::new()
                        .schema_type(Type::Integer)
                        .minimum(Some(1))
                        .maximum(Some(1000)),
                ))
                .build(),
            query("cursor", "The `result_info.cursor` of the previous page")
                .schema(Some(
                    ObjectBuilder::new()
                        .schema_type(Type::String)
                        .min_length(Some(1)),
                ))
                .build(),
            query("direction", "`desc` (newest first, the default) or `asc`")
                .schema(Some(
                    ObjectBuilder::new()
                        .schema_type(Type::String)
                        .enum_values(Some(["desc", "asc"])),
                ))
                .build(),
        ];
        for (name, _) in V2_FILTERS {
            for (suffix, sense) in [("", "equal to"), (".not", "not equal to")] {
                params.push(
                    query(
                        &format!("{name}{suffix}"),
                        &format!("Only records whose {name} is {sense} one of these (repeatable)"),
                    )
                    .style(Some(ParameterStyle::Form))
                    .explode(Some(true))
                    .schema(Some(
                        ArrayBuilder::new().items(string()).max_items(Some(32)),
                    ))
                    .build(),
                );
            }
        }
        params
    }
}

fn object_or_empty(value: Option<&Value>) -> Value {
    match value {
        Some(Value::Object(map)) => Value::Object(map.clone()),
        _ => json!({}),
    }
}

/// The v2 record of an event.
pub fn v2_record(event: &Event) -> V2Record {
    let actor = event.actor.as_ref();
    let target = event.target.as_ref();
    let context = event.context.as_ref();
    let request = context.and_then(|c| c.request.as_ref());
    let zone = context.and_then(|c| c.zone.as_ref());
    let metadata = event.metadata.as_ref();
    V2Record {
        account: Account {
            id: event.tenant.clone(),
            name: event.tenant.clone(),
        },
        action: V2Action {
            description: super::noted_description(event),
            result: event.outcome.as_str().to_owned(),
            time: event.occurred_at.to_string(),
            kind: action_type(event.category).to_owned(),
        },
        actor: V2Actor {
            context: actor.and_then(|a| a.context.clone()),
            email: actor.and_then(|a| a.email.clone()),
            id: actor.and_then(|a| a.id.clone()),
            ip_address: context.and_then(|c| c.ip_address.clone()),
            token_id: actor.and_then(|a| a.token_id.clone()),
            token_name: actor.and_then(|a| a.token_name.clone()),
            kind: actor.and_then(|a| a.kind.clone()),
        },
        id: event.id.clone(),
        raw: Raw {
            cf_ray_id: request.and_then(|r| r.ray_id.clone()),
            method: request.and_then(|r| r.method.clone()),
            status_code: request.and_then(|r| r.status_code),
            uri: request.and_then(|r| r.uri.clone()),
            user_agent: context.and_then(|c| c.user_agent.clone()),
        },
        resource: V2Resource {
            id: target.and_then(|t| t.id.clone()),
            product: target.and_then(|t| t.product.clone()),
            request: object_or_empty(metadata.and_then(|m| m.get("request"))),
            response: object_or_empty(metadata.and_then(|m| m.get("response"))),
            scope: target
                .and_then(|t| t.scope.clone())
                .map_or_else(|| json!({}), |s| json!({"type": s})),
            kind: target.and_then(|t| t.kind.clone()),
        },
        zone: V2Zone {
            id: zone.and_then(|z| z.id.clone()),
            name: zone.and_then(|z| z.name.clone()),
        },
    }
}

fn forbid_other_accounts(principal: &Principal, account_id: &str) -> Result<(), ApiError> {
    if account_id == principal.tenant {
        Ok(())
    } else {
        Err(ApiError::forbidden(
            "the credentials are not for this account",
        ))
    }
}

fn direction(params: &Params) -> Result<Order, ApiError> {
    Ok(params
        .parsed("direction", |v| match v {
            "desc" => Ok(Order::Desc),
            "asc" => Ok(Order::Asc),
            _ => Err("must be desc or asc".into()),
        })?
        .unwrap_or(Order::Desc))
}

/// The v2 filter: every condition of the query string. `None` when `account_name` excludes
/// the caller's own account, so nothing can match.
fn v2_filter(params: &Params, tenant: &str) -> Result<Option<Filter>, ApiError> {
    let since = instant(params, "since")?.ok_or_else(|| {
        ApiError::bad_request(
            "missing_parameter",
            "since is required (a date or RFC 3339)",
        )
    })?;
    let before = instant(params, "before")?.ok_or_else(|| {
        ApiError::bad_request(
            "missing_parameter",
            "before is required (a date or RFC 3339)",
        )
    })?;
    let mut filter = Filter {
        since: Some(since),
        until: Some(before),
        ..Filter::default()
    };
    // Every parameter is checked, even once the account filter has excluded everything.
    let mut excluded = false;
    for (name, field) in V2_FILTERS {
        for negate in [false, true] {
            let key = if negate {
                format!("{name}.not")
            } else {
                name.to_owned()
            };
            let values = crate::listing::checked(&key, params.all(&key))?;
            if values.is_empty() {
                continue;
            }
            let Some(field) = field else {
                // account_name: the caller's account is the only one it can see.
                let named = values.iter().any(|v| v == tenant);
                excluded |= named == negate;
                continue;
            };
            let values = match field {
                EventField::Category => values.iter().map(|v| category_value(v)).collect(),
                _ => values,
            };
            filter.fields.push(FieldMatch {
                field,
                values,
                negate,
            });
        }
    }
    Ok((!excluded).then_some(filter))
}

/// `GET /accounts/{account_id}/logs/audit` (v2).
#[utoipa::path(
    get,
    path = "/accounts/{account_id}/logs/audit",
    tag = "cloudflare",
    summary = "Cloudflare: account audit logs (version 2)",
    params(("account_id" = String, Path, description = "The account (the caller's tenant)"), V2Query),
    responses(
        (status = 200, description = "A page of records", body = V2Answer),
        (status = 400, description = "A parameter is invalid or missing", body = CloudflareError),
    )
)]
pub async fn v2(
    State(state): State<AppState>,
    principal: Principal,
    Path(account_id): Path<String>,
    uri: Uri,
) -> Result<Json<V2Answer>, ApiError> {
    forbid_other_accounts(&principal, &account_id)?;
    let mut allowed: Vec<String> = ["since", "before", "limit", "cursor", "direction"]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
    for (name, _) in V2_FILTERS {
        allowed.push(name.to_owned());
        allowed.push(format!("{name}.not"));
    }
    let allowed: Vec<&str> = allowed.iter().map(String::as_str).collect();
    let params = Params::parse(&uri, &allowed)?;
    let order = direction(&params)?;
    let limit = params
        .parsed("limit", |v| match v.parse::<u32>() {
            Ok(n) if (1..=trailkeep_event::MAX_PAGE).contains(&n) => Ok(n),
            _ => Err("must be an integer from 1 to 1000".into()),
        })?
        .unwrap_or(100);
    let binding = format!(
        "{}|cloudflare-v2|{}",
        principal.tenant,
        params.fingerprint(&["cursor", "limit"])
    );
    let after = params.parsed("cursor", |v| {
        state
            .cursor_key
            .open(v, &binding)
            .ok_or_else(|| "is not a cursor of this account and filter".to_owned())
    })?;
    let empty = || V2Answer {
        success: true,
        errors: Vec::new(),
        messages: Vec::new(),
        result: Vec::new(),
        result_info: V2ResultInfo {
            count: 0,
            cursor: None,
            cursors: None,
        },
    };
    let Some(filter) = v2_filter(&params, &principal.tenant)? else {
        return Ok(Json(empty()));
    };
    let mut query = Query::first_page(filter, order, limit);
    query.after = after;
    let page = state.store.query(&principal.tenant, &query).await?;
    let next = page.next.map(|c| state.cursor_key.seal(c, &binding));
    Ok(Json(V2Answer {
        result_info: V2ResultInfo {
            count: page.events.len(),
            cursors: next.clone().map(|after| Cursors { after }),
            cursor: next,
        },
        result: page.events.iter().map(|e| v2_record(&e.event)).collect(),
        ..empty()
    }))
}

/// The v1 record of an event.
pub fn v1_record(event: &Event) -> V1Record {
    let actor = event.actor.as_ref();
    let target = event.target.as_ref();
    let mut metadata = event.metadata.clone().unwrap_or_default();
    if let Some(marker) = super::redaction_marker(event) {
        metadata.insert("redaction".into(), marker);
    }
    let side = |new: bool| {
        let changes = event.changes.as_ref()?;
        let values: Map<String, Value> = changes
            .iter()
            .filter_map(|(field, change)| {
                let value = if new { &change.to } else { &change.from };
                value.clone().map(|v| (field.clone(), v))
            })
            .collect();
        Some(Value::Object(values).to_string())
    };
    V1Record {
        id: event.id.clone(),
        action: V1Action {
            kind: event.action.clone(),
            result: event.outcome == Outcome::Success,
            info: event.description.clone(),
        },
        actor: V1Actor {
            id: actor.and_then(|a| a.id.clone()),
            email: actor.and_then(|a| a.email.clone()),
            ip: event.context.as_ref().and_then(|c| c.ip_address.clone()),
            kind: actor.and_then(|a| a.kind.clone()),
        },
        interface: metadata
            .get("interface")
            .and_then(Value::as_str)
            .map(str::to_owned),
        new_value: side(true),
        old_value: side(false),
        metadata,
        owner: Owner {
            id: event.tenant.clone(),
        },
        resource: V1Resource {
            id: target.and_then(|t| t.id.clone()),
            kind: target.and_then(|t| t.kind.clone()),
        },
        when: event.occurred_at.to_string(),
    }
}

const V1_PARAMS: [&str; 12] = [
    "id",
    "export",
    "action.type",
    "actor.ip",
    "actor.email",
    "since",
    "before",
    "zone.name",
    "direction",
    "per_page",
    "page",
    "hide_user_logs",
];

fn flag(params: &Params, key: &str) -> Result<bool, ApiError> {
    Ok(params
        .parsed(key, |v| match v {
            "true" => Ok(true),
            "false" => Ok(false),
            _ => Err("must be true or false".into()),
        })?
        .unwrap_or(false))
}

async fn v1_answer(
    state: &AppState,
    principal: &Principal,
    uri: &Uri,
    actor_id: Option<String>,
) -> Result<Json<V1Answer>, ApiError> {
    let params = Params::parse(uri, &V1_PARAMS)?;
    flag(&params, "export")?;
    let mut filter = Filter {
        fields: exact_action(single(&params, "action.type")?),
        ip: single(&params, "actor.ip")?,
        actor_email: single(&params, "actor.email")?,
        since: instant(&params, "since")?,
        until: instant(&params, "before")?,
        actor_id,
        ..Filter::default()
    };
    if let Some(id) = single(&params, "id")? {
        filter.fields.push(FieldMatch {
            field: EventField::Id,
            values: vec![id],
            negate: false,
        });
    }
    if let Some(zone) = single(&params, "zone.name")? {
        filter.fields.push(FieldMatch {
            field: EventField::ZoneName,
            values: vec![zone],
            negate: false,
        });
    }
    if flag(&params, "hide_user_logs")? {
        filter.fields.push(FieldMatch {
            field: EventField::ActorType,
            values: vec!["user".into()],
            negate: true,
        });
    }
    let order = direction(&params)?;
    let page = PageNumber::parse(&params, "page", "per_page", 100)?;
    let mut query = page.query(filter, true);
    query.order = order;
    let found = state.store.query(&principal.tenant, &query).await?;
    Ok(Json(V1Answer {
        success: true,
        errors: Vec::new(),
        messages: Vec::new(),
        result_info: V1ResultInfo {
            page: page.page,
            per_page: page.per_page,
            count: found.events.len(),
            total_count: found.total.unwrap_or(0),
        },
        result: found.events.iter().map(|e| v1_record(&e.event)).collect(),
    }))
}

/// `GET /accounts/{account_id}/audit_logs` (v1).
#[utoipa::path(
    get,
    path = "/accounts/{account_id}/audit_logs",
    tag = "cloudflare",
    summary = "Cloudflare: account audit logs (version 1)",
    params(("account_id" = String, Path, description = "The account (the caller's tenant)"), V1Query),
    responses(
        (status = 200, description = "A page of records", body = V1Answer),
        (status = 400, description = "A parameter is invalid", body = CloudflareError),
    )
)]
pub async fn v1(
    State(state): State<AppState>,
    principal: Principal,
    Path(account_id): Path<String>,
    uri: Uri,
) -> Result<Json<V1Answer>, ApiError> {
    forbid_other_accounts(&principal, &account_id)?;
    v1_answer(&state, &principal, &uri, None).await
}

/// `GET /user/audit_logs`: the caller's own actions, in the v1 shape.
#[utoipa::path(
    get,
    path = "/user/audit_logs",
    tag = "cloudflare",
    summary = "Cloudflare: the caller's own audit logs",
    description = "Events whose actor id is the caller: the API key's id, or the token's subject.",
    params(V1Query),
    responses(
        (status = 200, description = "A page of records", body = V1Answer),
        (status = 400, description = "A parameter is invalid", body = CloudflareError),
    )
)]
pub async fn user(
    State(state): State<AppState>,
    principal: Principal,
    uri: Uri,
) -> Result<Json<V1Answer>, ApiError> {
    // A caller without an identity has no actions of its own: match an id no event has.
    let me = principal.id.clone().unwrap_or_else(|| "\u{0}".into());
    v1_answer(&state, &principal, &uri, Some(me)).await
}

/// The routes, as mounted at the root and again under `/client/v4`.
pub fn routes(needs: Needs<'_>, operation_prefix: &str) -> OpenApiRouter<AppState> {
    let mut router = OpenApiRouter::new()
        .routes(needs(Role::Read, &ERRORS, routes!(v2)))
        .routes(needs(Role::Read, &ERRORS, routes!(v1)))
        .routes(needs(Role::Read, &ERRORS, routes!(user)))
        .layer(axum::middleware::from_fn_with_state(
            render_error as super::RenderError,
            errors_as,
        ));
    super::prefix_operation_ids(&mut router, operation_prefix);
    router
}
