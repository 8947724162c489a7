//! `/v1/retention`, `/v1/legal-holds` and `/v1/erasures` (`audit:admin`): the tenant's
//! retention policy and its runs, legal holds, and erasures of a person's data.
//!
//! The work is `trailkeep_retention`'s: these handlers read bodies, call it for the caller's
//! tenant and write answers. Every route looks things up within the caller's tenant, so
//! another tenant's id is a 404 everywhere; every change and request is an event in the
//! tenant's trail, written with it.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};
use trailkeep_api::{
    CreateErasure, CreateLegalHold, ErasureInfo, ErasureList, LegalHoldInfo, LegalHoldList,
    LiftLegalHold, RetentionOverride, RetentionPolicyBody, RetentionPolicyInfo, RetentionRunInfo,
    RetentionRunList,
};
use trailkeep_event::Category;
use trailkeep_jobs::now_ms;
use trailkeep_retention::erase::{self, ErasureResult, ErasureSpec, Subject};
use trailkeep_retention::hold::{self, Hold, Scope};
use trailkeep_retention::policy::{self, Override, Policy};
use trailkeep_retention::{RetentionError, run};
use trailkeep_store::JobRecord;

use crate::AppState;
use crate::auth::Principal;
use crate::body::{decode, encoding, received};
use crate::error::ApiError;
use crate::exports::rfc3339;
use crate::listing::parse_filter_object;
use crate::params::Params;

/// What the server knows of retention: the default period, and how to tell the runner a run
/// or an erasure was asked for.
pub struct Retention {
    /// Days events are kept where a tenant's policy leaves it open; `None`: forever.
    pub default_days: Option<u32>,
    /// Wakes an idle worker.
    pub wake: Box<dyn Fn() + Send + Sync>,
}

/// The server's retention, or 503 when it runs none.
fn retention(state: &AppState) -> Result<&Retention, ApiError> {
    state.retention.as_deref().ok_or_else(|| {
        ApiError::unavailable(
            "retention_disabled",
            "this server does not run retention or erasures".into(),
        )
    })
}

impl From<RetentionError> for ApiError {
    fn from(error: RetentionError) -> Self {
        match error {
            RetentionError::NotFound => ApiError::not_found("no such legal hold"),
            RetentionError::Invalid(message) => ApiError::bad_request("invalid_request", message),
            RetentionError::Store(error) => error.into(),
        }
    }
}

fn wire_override(o: &Override) -> RetentionOverride {
    RetentionOverride {
        action: o.action.clone(),
        category: o.category.map(|c| c.as_str().to_owned()),
        days: o.days,
    }
}

fn policy_of(body: RetentionPolicyBody) -> Result<Policy, ApiError> {
    let mut overrides = Vec::with_capacity(body.overrides.len());
    for (i, o) in body.overrides.into_iter().enumerate() {
        let category = match o.category.as_deref() {
            Some(name) => Some(Category::parse(name).ok_or_else(|| {
                ApiError::invalid_field(
                    format!("overrides[{i}].category"),
                    "is not a category (create, read, update, delete, login, logout, export, approve, reject, execute, other)",
                )
            })?),
            None => None,
        };
        overrides.push(Override {
            action: o.action,
            category,
            days: o.days,
        });
    }
    Ok(Policy {
        default_days: body.default_days,
        overrides,
    })
}

async fn policy_info(state: &AppState, tenant: &str) -> Result<RetentionPolicyInfo, ApiError> {
    let stored = policy::get(&*state.store, tenant).await?;
    let changed = stored.updated_at > 0;
    Ok(RetentionPolicyInfo {
        default_days: stored.policy.default_days,
        overrides: stored.policy.overrides.iter().map(wire_override).collect(),
        server_default_days: state.retention.as_ref().and_then(|r| r.default_days),
        updated_at: changed.then(|| rfc3339(stored.updated_at)),
        updated_by: changed.then_some(stored.updated_by),
    })
}

/// `GET /v1/retention`: the tenant's retention policy.
#[utoipa::path(
    operation_id = "get_retention",
    get,
    path = "/v1/retention",
    tag = "retention",
    summary = "Get the retention policy",
    description = "The tenant's retention policy: a default period and periods by action or category, in days after an event occurred, and the server's default for what the policy leaves open. Events past their period become tombstones at the next retention run (daily, or asked for): the fields besides id, seq, times, action, category and outcome are removed, the leaf hash is kept, and every proof and checkpoint stays valid.",
    responses(
        (status = 200, description = "The policy", body = trailkeep_api::RetentionPolicyInfo),
    ),
)]
pub async fn get_policy(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<RetentionPolicyInfo>, ApiError> {
    Ok(Json(policy_info(&state, &principal.tenant).await?))
}

/// `PUT /v1/retention`: replace the tenant's retention policy.
#[utoipa::path(
    operation_id = "set_retention",
    put,
    path = "/v1/retention",
    tag = "retention",
    summary = "Set the retention policy",
    description = "Replaces the tenant's retention policy. The change is an event in the trail (audit.retention.updated, with the policy before and after). It takes effect at the next retention run.",
    request_body = trailkeep_api::RetentionPolicyBody,
    responses(
        (status = 200, description = "The policy now", body = trailkeep_api::RetentionPolicyInfo),
        (status = 400, description = "The policy is invalid", body = trailkeep_api::Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not JSON", body = trailkeep_api::Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn set_policy(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<RetentionPolicyInfo>, ApiError> {
    let request: RetentionPolicyBody = decode(&received(body)?, encoding(&headers, false)?)?;
    let policy = policy_of(request)?;
    policy::set(
        &*state.store,
        &principal.tenant,
        &principal.actor(),
        policy,
        now_ms(),
    )
    .await?;
    Ok(Json(policy_info(&state, &principal.tenant).await?))
}

fn run_info(job: &JobRecord) -> RetentionRunInfo {
    let status_url = format!("/v1/retention/runs/{}", job.id);
    RetentionRunInfo {
        id: job.id.clone(),
        state: job.state.as_str().into(),
        created_by: job.created_by.clone(),
        created_at: rfc3339(job.created_at),
        finished_at: job.finished_at.map(rfc3339),
        result: job
            .result
            .as_deref()
            .and_then(|r| serde_json::from_str(r).ok()),
        progress: (!job.state.is_final())
            .then(|| serde_json::from_str(&job.progress).ok())
            .flatten(),
        error: job.error.clone(),
        status_url,
    }
}

/// A `Location` header for `url`, on `response`.
fn located(mut response: Response, url: &str) -> Response {
    if let Ok(location) = HeaderValue::from_str(url) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    response
}

/// `POST /v1/retention/runs`: run retention over the tenant now.
#[utoipa::path(
    operation_id = "create_retention_run",
    post,
    path = "/v1/retention/runs",
    tag = "retention",
    summary = "Run retention now",
    description = "Queues a retention run over the caller's tenant (one also runs every day). It turns every event past its period into a tombstone, unless a legal hold stands over it, writing with each batch of tombstones an event (trailkeep.redaction) whose digest vouches for them; then sweeps expired idempotency keys and old export and report files, and gives the space back. Answers 202 at once; follow the status URL.",
    responses(
        (status = 202, description = "Queued", body = trailkeep_api::RetentionRunInfo),
        (status = 503, description = "This server runs no retention", body = trailkeep_api::Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn create_run(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Response, ApiError> {
    let retention = retention(&state)?;
    let job = run::request(&*state.store, &principal.tenant, &principal.actor()).await?;
    (retention.wake)();
    let info = run_info(&job);
    let url = info.status_url.clone();
    Ok(located(
        (StatusCode::ACCEPTED, Json(info)).into_response(),
        &url,
    ))
}

/// `GET /v1/retention/runs`: the tenant's retention runs, newest first.
#[utoipa::path(
    operation_id = "list_retention_runs",
    get,
    path = "/v1/retention/runs",
    tag = "retention",
    summary = "List retention runs",
    params(
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 100, description = "At most this many (default 20)"),
        ("before" = Option<String>, Query, description = "Only runs older than this id (the previous page's next_before)"),
    ),
    responses(
        (status = 200, description = "The runs", body = trailkeep_api::RetentionRunList),
        (status = 400, description = "A parameter is invalid", body = trailkeep_api::Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn list_runs(
    State(state): State<AppState>,
    principal: Principal,
    uri: Uri,
) -> Result<Json<RetentionRunList>, ApiError> {
    let (jobs, next_before) = jobs_page(&state, &principal, &uri, run::KIND).await?;
    Ok(Json(RetentionRunList {
        data: jobs.iter().map(run_info).collect(),
        next_before,
    }))
}

/// A page of the tenant's jobs of `kind`, by the `limit` and `before` parameters.
async fn jobs_page(
    state: &AppState,
    principal: &Principal,
    uri: &Uri,
    kind: &str,
) -> Result<(Vec<JobRecord>, Option<String>), ApiError> {
    let params = Params::parse(uri, &["limit", "before"])?;
    let limit = params.page_limit()?;
    let jobs = state
        .store
        .jobs(&principal.tenant, kind, params.one("before")?, limit)
        .await?;
    let next_before = (jobs.len() == limit)
        .then(|| jobs.last().map(|j| j.id.clone()))
        .flatten();
    Ok((jobs, next_before))
}

/// The tenant's job `id` of `kind`, or 404 saying `what`.
async fn job_in(
    state: &AppState,
    tenant: &str,
    id: &str,
    kind: &str,
    what: &str,
) -> Result<JobRecord, ApiError> {
    state
        .store
        .job(tenant, id)
        .await?
        .filter(|job| job.kind == kind)
        .ok_or_else(|| ApiError::not_found(format!("no such {what}")))
}

/// `GET /v1/retention/runs/{id}`: one retention run.
#[utoipa::path(
    operation_id = "get_retention_run",
    get,
    path = "/v1/retention/runs/{id}",
    tag = "retention",
    summary = "Get a retention run",
    params(("id" = String, Path, description = "The run's id")),
    responses(
        (status = 200, description = "The run", body = trailkeep_api::RetentionRunInfo),
        (status = 404, description = "The tenant has no such run", body = trailkeep_api::Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn get_run(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<RetentionRunInfo>, ApiError> {
    let job = job_in(&state, &principal.tenant, &id, run::KIND, "retention run").await?;
    Ok(Json(run_info(&job)))
}

fn hold_info(hold: &Hold) -> LegalHoldInfo {
    let scope = match &hold.scope {
        Scope::Filter { params, .. } => json!({"type": "filter", "filter": params}),
        other => serde_json::to_value(other).unwrap_or(Value::Null),
    };
    LegalHoldInfo {
        id: hold.id.clone(),
        state: if hold.stands() { "standing" } else { "lifted" }.into(),
        scope,
        reason: hold.reason.clone(),
        placed_by: hold.placed_by.clone(),
        placed_at: rfc3339(hold.placed_at),
        lifted_at: hold.lifted_at.map(rfc3339),
        lifted_by: hold.lifted_by.clone(),
        lift_reason: hold.lift_reason.clone(),
    }
}

/// A hold's scope, read from its body.
fn scope_of(scope: &Map<String, Value>) -> Result<Scope, ApiError> {
    let text = |key: &str| -> Result<String, ApiError> {
        match scope.get(key) {
            Some(Value::String(s)) if !s.is_empty() && s.chars().count() <= 256 => Ok(s.clone()),
            _ => Err(ApiError::invalid_field(
                format!("scope.{key}"),
                "a string of 1 to 256 characters",
            )),
        }
    };
    let only = |keys: &[&str]| -> Result<(), ApiError> {
        match scope.keys().find(|k| !keys.contains(&k.as_str())) {
            Some(extra) => Err(ApiError::invalid_field(
                format!("scope.{extra}"),
                "is not a field of this scope",
            )),
            None => Ok(()),
        }
    };
    match scope.get("type").and_then(Value::as_str) {
        Some("tenant") => only(&["type"]).map(|()| Scope::Tenant),
        Some("actor") => {
            only(&["type", "id"])?;
            Ok(Scope::Actor { id: text("id")? })
        }
        Some("target") => {
            only(&["type", "id", "target_type"])?;
            Ok(Scope::Target {
                kind: scope
                    .contains_key("target_type")
                    .then(|| text("target_type"))
                    .transpose()?,
                id: text("id")?,
            })
        }
        Some("filter") => {
            only(&["type", "filter"])?;
            let Some(Value::Object(params)) = scope.get("filter") else {
                return Err(ApiError::invalid_field(
                    "scope.filter",
                    "an object of the parameters of GET /v1/events",
                ));
            };
            if params.is_empty() {
                return Err(ApiError::invalid_field(
                    "scope.filter",
                    "name at least one condition (a hold on everything is {\"type\": \"tenant\"})",
                ));
            }
            Ok(Scope::Filter {
                filter: Box::new(parse_filter_object(params)?),
                params: params.clone(),
            })
        }
        _ => Err(ApiError::invalid_field(
            "scope.type",
            "one of tenant, actor, target, filter",
        )),
    }
}

/// `POST /v1/legal-holds`: place a legal hold.
#[utoipa::path(
    operation_id = "create_legal_hold",
    post,
    path = "/v1/legal-holds",
    tag = "retention",
    summary = "Place a legal hold",
    description = "Places a legal hold on the tenant's events: all of them, one actor's, one target's, or those a filter matches. While it stands, the events it covers are removed neither by retention nor by an erasure. Placing it is an event in the trail (audit.legal_hold.placed).",
    request_body = trailkeep_api::CreateLegalHold,
    responses(
        (status = 201, description = "Placed", body = trailkeep_api::LegalHoldInfo),
        (status = 400, description = "The body is invalid", body = trailkeep_api::Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not JSON", body = trailkeep_api::Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn create_hold(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let request: CreateLegalHold = decode(&received(body)?, encoding(&headers, false)?)?;
    let scope = scope_of(&request.scope)?;
    let placed = hold::place(
        &*state.store,
        &principal.tenant,
        &principal.actor(),
        scope,
        request.reason,
        now_ms(),
    )
    .await?;
    let url = format!("/v1/legal-holds/{}", placed.id);
    Ok(located(
        (StatusCode::CREATED, Json(hold_info(&placed))).into_response(),
        &url,
    ))
}

/// `GET /v1/legal-holds`: the tenant's legal holds, standing and lifted.
#[utoipa::path(
    operation_id = "list_legal_holds",
    get,
    path = "/v1/legal-holds",
    tag = "retention",
    summary = "List legal holds",
    params(
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 100, description = "At most this many (default 20)"),
        ("after" = Option<String>, Query, description = "Only holds placed after this id (the previous page's next_after)"),
    ),
    responses(
        (status = 200, description = "The holds, oldest first", body = trailkeep_api::LegalHoldList),
        (status = 400, description = "A parameter is invalid", body = trailkeep_api::Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn list_holds(
    State(state): State<AppState>,
    principal: Principal,
    uri: Uri,
) -> Result<Json<LegalHoldList>, ApiError> {
    let params = Params::parse(&uri, &["limit", "after"])?;
    let limit = params.page_limit()?;
    let holds = hold::list(
        &*state.store,
        &principal.tenant,
        params.one("after")?,
        limit,
    )
    .await?;
    let next_after = (holds.len() == limit)
        .then(|| holds.last().map(|h| h.id.clone()))
        .flatten();
    Ok(Json(LegalHoldList {
        data: holds.iter().map(hold_info).collect(),
        next_after,
    }))
}

/// `GET /v1/legal-holds/{id}`: one legal hold.
#[utoipa::path(
    operation_id = "get_legal_hold",
    get,
    path = "/v1/legal-holds/{id}",
    tag = "retention",
    summary = "Get a legal hold",
    params(("id" = String, Path, description = "The hold's id")),
    responses(
        (status = 200, description = "The hold", body = trailkeep_api::LegalHoldInfo),
        (status = 404, description = "The tenant has no such hold", body = trailkeep_api::Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn get_hold(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<LegalHoldInfo>, ApiError> {
    let found = hold::get(&*state.store, &principal.tenant, &id).await?;
    Ok(Json(hold_info(&found)))
}

/// `POST /v1/legal-holds/{id}/lift`: lift a legal hold.
#[utoipa::path(
    operation_id = "lift_legal_hold",
    post,
    path = "/v1/legal-holds/{id}/lift",
    tag = "retention",
    summary = "Lift a legal hold",
    description = "Lifts a standing hold; the events it covered fall under retention and erasure again. The hold is kept, lifted, with who lifted it and why; lifting is an event in the trail (audit.legal_hold.lifted).",
    params(("id" = String, Path, description = "The hold's id")),
    request_body = trailkeep_api::LiftLegalHold,
    responses(
        (status = 200, description = "Lifted", body = trailkeep_api::LegalHoldInfo),
        (status = 400, description = "No reason, or lifted already", body = trailkeep_api::Problem, content_type = "application/problem+json"),
        (status = 404, description = "The tenant has no such hold", body = trailkeep_api::Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not JSON", body = trailkeep_api::Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn lift_hold(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<LegalHoldInfo>, ApiError> {
    let request: LiftLegalHold = decode(&received(body)?, encoding(&headers, false)?)?;
    let lifted = hold::lift(
        &*state.store,
        &principal.tenant,
        &principal.actor(),
        &id,
        request.reason,
        now_ms(),
    )
    .await?;
    Ok(Json(hold_info(&lifted)))
}

fn erasure_info(job: &JobRecord) -> Result<ErasureInfo, ApiError> {
    let spec: ErasureSpec = serde_json::from_str(&job.spec)
        .map_err(|e| ApiError::internal(&format!("erasure {}: {e}", job.id)))?;
    let result: Option<ErasureResult> = job
        .result
        .as_deref()
        .and_then(|r| serde_json::from_str(r).ok());
    let status_url = format!("/v1/erasures/{}", job.id);
    Ok(ErasureInfo {
        id: job.id.clone(),
        state: job.state.as_str().into(),
        subject_sha256: spec.subject.digests(),
        fields: spec.fields,
        reason: spec.reason,
        created_by: job.created_by.clone(),
        created_at: rfc3339(job.created_at),
        finished_at: job.finished_at.map(rfc3339),
        result: result.and_then(|r| serde_json::to_value(r).ok()),
        error: job.error.clone(),
        status_url,
    })
}

/// `POST /v1/erasures`: erase a person's data from their events.
#[utoipa::path(
    operation_id = "create_erasure",
    post,
    path = "/v1/erasures",
    tag = "retention",
    summary = "Erase a person's data",
    description = "Queues the erasure of fields (by default the e-mail, the name and what locates the person: IP address, user agent, location, device, coordinates) from every event whose actor.id or actor.email is the person's, except where a legal hold stands. Each event keeps its place and leaf hash and says what was removed and why; the rest stays readable. Export and report files of the tenant that hold a removed value are deleted. The request and its completion are events in the trail, with digests of the identifiers instead of them, and counts. Answers 202 at once; follow the status URL.",
    request_body = trailkeep_api::CreateErasure,
    responses(
        (status = 202, description = "Queued", body = trailkeep_api::ErasureInfo),
        (status = 400, description = "The body is invalid (no identifier, an unknown field, no reason)", body = trailkeep_api::Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not JSON", body = trailkeep_api::Problem, content_type = "application/problem+json"),
        (status = 503, description = "This server runs no erasures", body = trailkeep_api::Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn create_erasure(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let retention = retention(&state)?;
    let request: CreateErasure = decode(&received(body)?, encoding(&headers, false)?)?;
    let job = erase::request(
        &*state.store,
        &principal.tenant,
        &principal.actor(),
        Subject {
            actor_id: request.actor_id,
            email: request.email,
        },
        request.fields,
        request.reason,
    )
    .await?;
    (retention.wake)();
    let info = erasure_info(&job)?;
    let url = info.status_url.clone();
    Ok(located(
        (StatusCode::ACCEPTED, Json(info)).into_response(),
        &url,
    ))
}

/// `GET /v1/erasures`: the tenant's erasures, newest first.
#[utoipa::path(
    operation_id = "list_erasures",
    get,
    path = "/v1/erasures",
    tag = "retention",
    summary = "List erasures",
    params(
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 100, description = "At most this many (default 20)"),
        ("before" = Option<String>, Query, description = "Only erasures older than this id (the previous page's next_before)"),
    ),
    responses(
        (status = 200, description = "The erasures", body = trailkeep_api::ErasureList),
        (status = 400, description = "A parameter is invalid", body = trailkeep_api::Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn list_erasures(
    State(state): State<AppState>,
    principal: Principal,
    uri: Uri,
) -> Result<Json<ErasureList>, ApiError> {
    let (jobs, next_before) = jobs_page(&state, &principal, &uri, erase::KIND).await?;
    Ok(Json(ErasureList {
        data: jobs.iter().map(erasure_info).collect::<Result<_, _>>()?,
        next_before,
    }))
}

/// `GET /v1/erasures/{id}`: one erasure.
#[utoipa::path(
    operation_id = "get_erasure",
    get,
    path = "/v1/erasures/{id}",
    tag = "retention",
    summary = "Get an erasure",
    params(("id" = String, Path, description = "The erasure's id")),
    responses(
        (status = 200, description = "The erasure", body = trailkeep_api::ErasureInfo),
        (status = 404, description = "The tenant has no such erasure", body = trailkeep_api::Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn get_erasure(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<ErasureInfo>, ApiError> {
    let job = job_in(&state, &principal.tenant, &id, erase::KIND, "erasure").await?;
    Ok(Json(erasure_info(&job)?))
}
