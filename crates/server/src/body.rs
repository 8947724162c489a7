//! Reading request bodies: large ones (event batches) within a memory budget shared by every
//! request, and small JSON (or form-encoded) ones into typed values, with problem+json errors
//! that name the field at fault.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, header};
use futures_util::StreamExt;
use serde::de::DeserializeOwned;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::error::ApiError;

/// The unit the body budget counts in.
const BUDGET_UNIT: usize = 1024;

/// The memory all large request bodies in flight may hold together.
#[derive(Debug, Clone)]
pub struct BodyBudget {
    units: Arc<Semaphore>,
}

impl BodyBudget {
    /// A budget of `bytes`.
    pub fn new(bytes: usize) -> Self {
        Self {
            units: Arc::new(Semaphore::new((bytes / BUDGET_UNIT).max(1))),
        }
    }
}

/// A body read whole, holding its share of the budget until dropped.
#[derive(Debug)]
pub struct HeldBody {
    /// The bytes.
    pub bytes: Bytes,
    _share: Option<Share>,
}

/// Part of the budget, counted in the `trailkeep_request_body_bytes_held` gauge while held.
#[derive(Debug)]
struct Share {
    permit: OwnedSemaphorePermit,
}

impl Share {
    fn bytes(&self) -> f64 {
        (self.permit.num_permits() * BUDGET_UNIT) as f64
    }

    /// Adds `more` to this share.
    fn grow(&mut self, more: OwnedSemaphorePermit) {
        metrics::gauge!("trailkeep_request_body_bytes_held")
            .increment((more.num_permits() * BUDGET_UNIT) as f64);
        self.permit.merge(more);
    }

    fn new(permit: OwnedSemaphorePermit) -> Self {
        let share = Self { permit };
        metrics::gauge!("trailkeep_request_body_bytes_held").increment(share.bytes());
        share
    }
}

impl Drop for Share {
    fn drop(&mut self) {
        metrics::gauge!("trailkeep_request_body_bytes_held").decrement(self.bytes());
    }
}

fn units(bytes: usize) -> u32 {
    u32::try_from(bytes.div_ceil(BUDGET_UNIT)).unwrap_or(u32::MAX)
}

/// Reads `body` whole: 413 past `max` bytes (at once when `Content-Length` says so), 503 when
/// the budget has no room for it (nothing waits for room: the client retries), 400 when the
/// client breaks off. Memory is taken from the budget as the bytes arrive.
pub async fn read_limited(
    headers: &HeaderMap,
    body: Body,
    max: usize,
    budget: &BodyBudget,
) -> Result<HeldBody, ApiError> {
    let too_large = || {
        ApiError::too_large(format!(
            "the request body is larger than the {max} bytes the server accepts"
        ))
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > max) {
        return Err(too_large());
    }
    let mut buffer = Vec::with_capacity(declared.unwrap_or(0).min(max));
    let mut share: Option<Share> = None;
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|_| {
            ApiError::bad_request("unreadable_body", "the request body could not be read")
        })?;
        let total = buffer.len() + chunk.len();
        if total > max {
            return Err(too_large());
        }
        let more = units(total) - units(buffer.len());
        if more > 0 {
            let permit = budget
                .units
                .clone()
                .try_acquire_many_owned(more)
                .map_err(|_| {
                    metrics::counter!("trailkeep_body_budget_rejections_total").increment(1);
                    ApiError::unavailable(
                        "busy",
                        "the server holds as many request bodies as it may; retry shortly".into(),
                    )
                })?;
            match &mut share {
                Some(held) => held.grow(permit),
                None => share = Some(Share::new(permit)),
            }
        }
        buffer.extend_from_slice(&chunk);
    }
    Ok(HeldBody {
        bytes: Bytes::from(buffer),
        _share: share,
    })
}

/// Largest settings body (API keys, token requests): these are a few hundred bytes.
pub const MAX_SETTINGS_BODY: usize = 64 * 1024;

/// The body, or the problem that kept it from being read (413 past the route's limit).
pub fn received(body: Result<Bytes, BytesRejection>) -> Result<Bytes, ApiError> {
    body.map_err(|rejection| {
        if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::too_large("the request body is larger than the server accepts")
        } else {
            ApiError::bad_request("unreadable_body", "the request body could not be read")
        }
    })
}

/// Caps a small-body route's body at [`MAX_SETTINGS_BODY`], before anything is buffered past
/// it (the server-wide limit is sized for event batches).
pub fn small_body(
    (schemas, paths, route): utoipa_axum::router::UtoipaMethodRouter<crate::AppState>,
) -> utoipa_axum::router::UtoipaMethodRouter<crate::AppState> {
    (
        schemas,
        paths,
        route.layer(axum::extract::DefaultBodyLimit::max(MAX_SETTINGS_BODY)),
    )
}

/// How a body is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// `application/json`.
    Json,
    /// `application/x-www-form-urlencoded`.
    Form,
}

/// The body's encoding from `Content-Type`; `form_too` admits form encoding besides JSON.
pub fn encoding(headers: &HeaderMap, form_too: bool) -> Result<Encoding, ApiError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match essence.as_str() {
        "application/json" => Ok(Encoding::Json),
        "application/x-www-form-urlencoded" if form_too => Ok(Encoding::Form),
        _ => Err(ApiError::unsupported_media_type(if form_too {
            "send application/json or application/x-www-form-urlencoded"
        } else {
            "send application/json"
        })),
    }
}

/// Decodes `body` as `T`, refusing oversized bodies and naming the offending field.
pub fn decode<T: DeserializeOwned>(body: &Bytes, encoding: Encoding) -> Result<T, ApiError> {
    if body.len() > MAX_SETTINGS_BODY {
        return Err(ApiError::too_large(format!(
            "the body must be at most {MAX_SETTINGS_BODY} bytes"
        )));
    }
    match encoding {
        Encoding::Json => {
            // serde would also read a struct from an array, positionally; no client means that.
            if !body.trim_ascii_start().starts_with(b"{") {
                return Err(ApiError::invalid_field(
                    "",
                    "the body must be a JSON object",
                ));
            }
            let mut de = serde_json::Deserializer::from_slice(body);
            serde_path_to_error::deserialize(&mut de).map_err(|e| {
                let field = e.path().to_string();
                let message = e.into_inner().to_string();
                ApiError::invalid_field(if field == "." { String::new() } else { field }, message)
            })
        }
        Encoding::Form => serde_urlencoded::from_bytes(body)
            .map_err(|e| ApiError::invalid_field(String::new(), e.to_string())),
    }
}
