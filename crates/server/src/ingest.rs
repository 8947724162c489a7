//! `POST /v1/events`: one event (a JSON object), a batch (a JSON array of up to 10,000), or
//! NDJSON; all-or-nothing, with every bad event's index and field listed in one 400 answer.

use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use sha2::{Digest, Sha256};
use trailkeep_api::{MAX_BATCH, ProblemError, ReceiptBody, hash_b64};
use trailkeep_event::{PreparedEvent, Timestamp, prepare};
use trailkeep_store::{AppendOutcome, AppendRequest, IdempotencyKey};

use crate::AppState;
use crate::auth::Principal;
use crate::error::ApiError;
use crate::events::open_data_object;

/// Most validation errors listed in one answer.
const MAX_LISTED_ERRORS: usize = 100;
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
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let framing = framing(&headers)?;
    let body = body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::too_large("the request body is larger than the server accepts")
        } else {
            ApiError::bad_request("unreadable_body", "the request body could not be read")
        }
    })?;
    let body_len = body.len();
    let idempotency_key = idempotency_key(&headers, framing, &body)?;
    let tenant = principal.tenant.clone();
    let decode = move || -> Result<Vec<PreparedEvent>, ApiError> {
        let raw = match framing {
            Framing::Json => parse_json(&body)?,
            Framing::NdJson => parse_ndjson(&body)?,
        };
        prepare_all(&raw, &tenant)
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

fn malformed(e: &serde_json::Error, line: Option<usize>) -> ApiError {
    let place = match line {
        Some(n) => format!("line {n}"),
        None => format!("line {}, column {}", e.line(), e.column()),
    };
    ApiError::bad_request(
        "malformed_json",
        format!("the body is not valid JSON at {place}: {e}"),
    )
}

fn check_batch_size(n: usize) -> Result<(), ApiError> {
    if n == 0 {
        return Err(ApiError::bad_request(
            "empty_batch",
            "the batch holds no events",
        ));
    }
    if n > MAX_BATCH {
        return Err(ApiError::too_large(format!(
            "the batch holds {n} events; at most {MAX_BATCH} are accepted per request"
        )));
    }
    Ok(())
}

fn parse_json(body: &[u8]) -> Result<Vec<Value>, ApiError> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Array(items)) => {
            check_batch_size(items.len())?;
            Ok(items)
        }
        Ok(object @ Value::Object(_)) => Ok(vec![object]),
        Ok(_) => Err(ApiError::bad_request(
            "bad_body",
            "the body must be an event object or an array of events",
        )),
        Err(e) => Err(malformed(&e, None)),
    }
}

fn parse_ndjson(body: &[u8]) -> Result<Vec<Value>, ApiError> {
    let mut items = Vec::new();
    for (n, line) in body.split(|&b| b == b'\n').enumerate() {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        if items.len() == MAX_BATCH {
            return Err(ApiError::too_large(format!(
                "the body holds more than {MAX_BATCH} events; at most {MAX_BATCH} are accepted per request"
            )));
        }
        items.push(serde_json::from_slice(line).map_err(|e| malformed(&e, Some(n + 1)))?);
    }
    check_batch_size(items.len())?;
    Ok(items)
}

/// Validates and stores one event given as a native event object, as a dialect's write does.
pub async fn store_one(
    state: &AppState,
    tenant: &str,
    raw: Value,
) -> Result<trailkeep_store::StoredEvent, ApiError> {
    let events = prepare_all(std::slice::from_ref(&raw), tenant)?;
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

fn prepare_all(raw: &[Value], tenant: &str) -> Result<Vec<PreparedEvent>, ApiError> {
    let received_at = Timestamp::now();
    let mut events = Vec::with_capacity(raw.len());
    let mut errors = Vec::new();
    let mut bad = 0;
    for (index, item) in raw.iter().enumerate() {
        match prepare(item, tenant, received_at) {
            Ok(event) => events.push(event),
            Err(field_errors) => {
                bad += 1;
                for e in field_errors {
                    if errors.len() < MAX_LISTED_ERRORS {
                        errors.push(ProblemError {
                            index: (raw.len() > 1).then_some(index),
                            field: e.field,
                            message: e.message,
                        });
                    }
                }
            }
        }
    }
    if bad > 0 {
        let detail = if raw.len() == 1 {
            "the event is invalid; nothing was stored".to_owned()
        } else {
            format!(
                "{bad} of {} events are invalid; nothing was stored",
                raw.len()
            )
        };
        return Err(ApiError::validation(detail, errors));
    }
    Ok(events)
}

/// 201 with `{"data": [...], "receipts": [...]}`, the events written as their stored bytes.
fn created(outcome: AppendOutcome) -> Response {
    let mut body = open_data_object(&outcome.events, outcome.events.len() * 120);
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
