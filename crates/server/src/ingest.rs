//! `POST /v1/events`: one event (a JSON object), a batch (a JSON array of up to 10,000), or
//! NDJSON; all-or-nothing, with every bad event's index and field listed in one 400 answer.

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use sha2::{Digest, Sha256};
use trailkeep_api::{MAX_BATCH, ProblemError, ReceiptBody, hash_b64};
use trailkeep_event::{
    BatchError, BatchLimits, MAX_EVENT_BYTES, PreparedEvent, Timestamp, prepare, split_json,
    split_ndjson,
};
use trailkeep_store::{AppendOutcome, AppendRequest, IdempotencyKey, StoreError};

use crate::AppState;
use crate::auth::Principal;
use crate::body::read_limited;
use crate::error::ApiError;
use crate::events::open_data_object;

/// Most validation errors listed in one answer.
const MAX_LISTED_ERRORS: usize = 100;
/// Bounds on one body: the batch limit, and the most bytes an event may take as sent (its
/// canonical form is at most 64 KiB; this leaves room for whitespace and escapes).
const LIMITS: BatchLimits = BatchLimits {
    max_events: MAX_BATCH,
    max_event_bytes: 4 * MAX_EVENT_BYTES,
};
/// Bodies larger than this are decoded on the blocking pool.
const OFFLOAD_BYTES: usize = 64 * 1024;
/// Longest `Idempotency-Key`.
const MAX_IDEMPOTENCY_KEY: usize = 255;

/// How the body is framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    Json,
    NdJson,
}

/// `POST /v1/events`.
#[utoipa::path(
    post,
    path = "/v1/events",
    tag = "events",
    summary = "Ingest events",
    description = "One event (a JSON object), a batch (a JSON array of up to 10,000) or NDJSON (`application/x-ndjson`, one event a line). All or nothing: one invalid event stores none, and the answer lists every bad index and field. A repeated `Idempotency-Key` with the same body replays the first answer.",
    params(("Idempotency-Key" = Option<String>, Header, min_length = 1, max_length = 255, pattern = "^[!-~]+$", description = "Makes a retry safe: the same key and body give the first answer again")),
    request_body(
        content(
            (crate::openapi::IngestBody = "application/json"),
            (String = "application/x-ndjson"),
        )
    ),
    responses(
        (status = 201, description = "Stored, with a receipt per event", body = trailkeep_api::IngestResponse),
        (status = 400, description = "An event or the body is invalid; nothing was stored", body = trailkeep_api::Problem, content_type = "application/problem+json"),
        (status = 409, description = "A client id names a different event, or the Idempotency-Key was used with another body", body = trailkeep_api::Problem, content_type = "application/problem+json"),
        (status = 413, description = "The body or batch is too large", body = trailkeep_api::Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not JSON or NDJSON", body = trailkeep_api::Problem, content_type = "application/problem+json"),
        (status = 503, description = "Overloaded; nothing was stored; retry after Retry-After", body = trailkeep_api::Problem, content_type = "application/problem+json"),
    )
)]
pub async fn post_events(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let framing = framing(&headers)?;
    let body = read_limited(
        &headers,
        body,
        &principal.tenant,
        state.limits.max_body_bytes,
        &state.body_budget,
    )
    .await?;
    // The body's share of the budget stays held until the batch is stored: the events made
    // of it take as much memory as the body did.
    let (bytes, _share) = (body.bytes, body.share);
    let body_len = bytes.len();
    let idempotency_key = idempotency_key(&headers, framing, &bytes)?;
    // A retry is answered from what the first request stored, before its body costs any
    // parsing, and without taking the writer's time. A key used with another body is left to
    // the usual path: an invalid body is a 400 first, a valid one the writer's 409.
    if let Some(key) = &idempotency_key {
        match state.store.replay(&principal.tenant, key).await {
            Ok(Some(outcome)) => return Ok(created(outcome)),
            Ok(None) | Err(StoreError::IdempotencyConflict) => {}
            Err(other) => return Err(other.into()),
        }
    }
    let tenant = principal.tenant.clone();
    let decode = move || -> Result<Vec<PreparedEvent>, ApiError> {
        let mut batch = Batch::new(&tenant);
        let split = match framing {
            Framing::Json => split_json(&bytes, LIMITS, |i, v| batch.add(i, &v)),
            Framing::NdJson => split_ndjson(&bytes, LIMITS, |i, v| batch.add(i, &v)),
        };
        split.map_err(refused_body)?;
        batch.finish()
    };
    // Parsing and validating a large batch takes milliseconds of CPU: keep it off the async
    // workers so it does not stall other requests.
    let events = if body_len > OFFLOAD_BYTES {
        tokio::task::spawn_blocking(decode)
            .await
            .map_err(|e| ApiError::internal(&e))??
    } else {
        decode()?
    };
    let outcome = state
        .store
        .append(
            &principal.tenant,
            AppendRequest {
                events,
                idempotency_key,
            },
        )
        .await?;
    metrics::counter!("trailkeep_ingest_batches_total").increment(1);
    metrics::counter!("trailkeep_ingest_events_total").increment(outcome.events.len() as u64);
    Ok(created(outcome))
}

fn framing(headers: &HeaderMap) -> Result<Framing, ApiError> {
    let Some(value) = headers.get(header::CONTENT_TYPE) else {
        return Err(ApiError::unsupported_media_type(
            "send Content-Type: application/json or application/x-ndjson",
        ));
    };
    let media = value
        .to_str()
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match media.as_str() {
        "application/json" => Ok(Framing::Json),
        "application/x-ndjson"
        | "application/ndjson"
        | "application/jsonl"
        | "application/x-jsonlines" => Ok(Framing::NdJson),
        _ => Err(ApiError::unsupported_media_type(format!(
            "Content-Type {media:?} is not accepted; use application/json or application/x-ndjson"
        ))),
    }
}

fn idempotency_key(
    headers: &HeaderMap,
    framing: Framing,
    body: &[u8],
) -> Result<Option<IdempotencyKey>, ApiError> {
    let Some(value) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    let key = value
        .to_str()
        .ok()
        .filter(|k| {
            !k.is_empty()
                && k.len() <= MAX_IDEMPOTENCY_KEY
                && k.bytes().all(|b| b.is_ascii_graphic())
        })
        .ok_or_else(|| {
            ApiError::bad_request(
                "bad_idempotency_key",
                format!(
                    "Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY} visible ASCII characters"
                ),
            )
        })?;
    let mut hasher = Sha256::new();
    hasher.update([framing as u8]);
    hasher.update(body);
    Ok(Some(IdempotencyKey {
        key: key.to_owned(),
        request_hash: hasher.finalize().into(),
    }))
}

/// The problem a body that could not be split into events answers with.
fn refused_body(error: BatchError) -> ApiError {
    match error {
        BatchError::Malformed { .. } => ApiError::bad_request("malformed_json", error.to_string()),
        BatchError::NotEvents => ApiError::bad_request("bad_body", error.to_string()),
        BatchError::Empty => ApiError::bad_request("empty_batch", error.to_string()),
        BatchError::TooMany { .. } | BatchError::EventTooLarge { .. } => {
            ApiError::too_large(error.to_string())
        }
    }
}

/// Validates and stores one event given as a native event object, as a dialect's write does.
pub async fn store_one(
    state: &AppState,
    tenant: &str,
    raw: Value,
) -> Result<trailkeep_store::StoredEvent, ApiError> {
    let mut batch = Batch::new(tenant);
    batch.add(0, &raw);
    let events = batch.finish()?;
    let outcome = state
        .store
        .append(
            tenant,
            AppendRequest {
                events,
                idempotency_key: None,
            },
        )
        .await?;
    metrics::counter!("trailkeep_ingest_batches_total").increment(1);
    metrics::counter!("trailkeep_ingest_events_total").increment(1);
    outcome
        .events
        .into_iter()
        .next()
        .ok_or_else(|| ApiError::internal(&"an append answered no event"))
}

/// Events being validated one by one as the body is split, with every bad one's errors.
struct Batch<'a> {
    tenant: &'a str,
    received_at: Timestamp,
    events: Vec<PreparedEvent>,
    errors: Vec<ProblemError>,
    bad: usize,
    seen: usize,
}

impl<'a> Batch<'a> {
    fn new(tenant: &'a str) -> Self {
        Self {
            tenant,
            received_at: Timestamp::now(),
            events: Vec::new(),
            errors: Vec::new(),
            bad: 0,
            seen: 0,
        }
    }

    /// Validates the event at `index`.
    fn add(&mut self, index: usize, raw: &Value) {
        self.seen += 1;
        match prepare(raw, self.tenant, self.received_at) {
            Ok(event) => self.events.push(event),
            Err(field_errors) => {
                self.bad += 1;
                for e in field_errors {
                    if self.errors.len() < MAX_LISTED_ERRORS {
                        self.errors.push(ProblemError {
                            index: Some(index),
                            field: e.field,
                            message: e.message,
                        });
                    }
                }
            }
        }
    }

    /// The valid events, or the 400 listing every bad one (all or nothing).
    fn finish(mut self) -> Result<Vec<PreparedEvent>, ApiError> {
        if self.bad == 0 {
            return Ok(self.events);
        }
        let detail = if self.seen == 1 {
            for error in &mut self.errors {
                error.index = None;
            }
            "the event is invalid; nothing was stored".to_owned()
        } else {
            format!(
                "{} of {} events are invalid; nothing was stored",
                self.bad, self.seen
            )
        };
        Err(ApiError::validation(detail, self.errors))
    }
}

/// 201 with `{"data": [...], "receipts": [...]}`, the events written as their stored bytes.
fn created(outcome: AppendOutcome) -> Response {
    let mut body = open_data_object(
        outcome.events.iter().map(|e| &e.canonical[..]),
        outcome.events.len() * 120,
    );
    body.extend_from_slice(b",\"receipts\":");
    let receipts: Vec<ReceiptBody> = outcome
        .events
        .iter()
        .map(|e| ReceiptBody {
            id: e.event.id.clone(),
            seq: e.event.seq,
            leaf_hash: hash_b64(&e.leaf_hash),
        })
        .collect();
    body.extend_from_slice(&serde_json::to_vec(&receipts).unwrap_or_default());
    body.push(b'}');
    let mut response = (StatusCode::CREATED, body).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if outcome.replayed {
        headers.insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    response
}
