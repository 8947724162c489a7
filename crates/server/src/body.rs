//! Reading request bodies: large ones (event batches) within a memory budget shared by every
//! request, and small JSON (or form-encoded) ones into typed values, with problem+json errors
//! that name the field at fault.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::body::{Body, Bytes};
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, header};
use futures_util::StreamExt;
use serde::de::DeserializeOwned;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::error::ApiError;

/// The unit the body budget counts in.
const BUDGET_UNIT: usize = 1024;
/// Most bytes set aside for a body before they arrive.
const PREALLOCATE_AT_MOST: usize = 1024 * 1024;

/// The memory all large request bodies in flight may hold together, and each tenant's share of
/// it (an eighth), so that one tenant's slow uploads cannot take all of it.
#[derive(Debug, Clone)]
pub struct BodyBudget {
    units: Arc<Semaphore>,
    per_tenant: usize,
    tenants: Arc<Mutex<HashMap<String, Arc<Semaphore>>>>,
}

impl BodyBudget {
    /// A budget of `bytes`.
    pub fn new(bytes: usize) -> Self {
        let units = (bytes / BUDGET_UNIT).max(1);
        Self {
            units: Arc::new(Semaphore::new(units)),
            per_tenant: (units / 8).max(1),
            tenants: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    /// The tenant's own semaphore (made on first use; idle ones are dropped when many pile up).
    fn tenant(&self, tenant: &str) -> Arc<Semaphore> {
        let mut tenants = self.tenants.lock().unwrap_or_else(|p| p.into_inner());
        if tenants.len() >= 1024 {
            let full = self.per_tenant;
            tenants.retain(|_, s| s.available_permits() < full);
        }
        tenants
            .entry(tenant.to_owned())
            .or_insert_with(|| Arc::new(Semaphore::new(self.per_tenant)))
            .clone()
    }
}

/// A body read whole, holding its share of the budget until dropped.
#[derive(Debug)]
pub struct HeldBody {
    /// The bytes.
    pub bytes: Bytes,
    /// Their share of the budget; kept past the bytes while what was made of them lives.
    pub share: Share,
}

/// Part of the budget, counted in the `trailkeep_request_body_bytes_held` gauge while held.
#[derive(Debug, Default)]
pub struct Share {
    permits: Option<(OwnedSemaphorePermit, OwnedSemaphorePermit)>,
}

impl Share {
    fn bytes(&self) -> f64 {
        self.permits
            .as_ref()
            .map_or(0.0, |(all, _)| (all.num_permits() * BUDGET_UNIT) as f64)
    }

    /// Adds `all` (from the whole budget) and `mine` (from the tenant's) to this share.
    fn grow(&mut self, all: OwnedSemaphorePermit, mine: OwnedSemaphorePermit) {
        metrics::gauge!("trailkeep_request_body_bytes_held")
            .increment((all.num_permits() * BUDGET_UNIT) as f64);
        match &mut self.permits {
            Some((held_all, held_mine)) => {
                held_all.merge(all);
                held_mine.merge(mine);
            }
            None => self.permits = Some((all, mine)),
        }
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

/// Reads `tenant`'s `body` whole: 413 past `max` bytes (at once when `Content-Length` says
/// so), 503 when the budget, or the tenant's share of it, has no room for it (nothing waits
/// for room: the client retries), 400 when the client breaks off. Memory is taken from the
/// budget as the bytes arrive, and nothing is set aside before it is.
pub async fn read_limited(
    headers: &HeaderMap,
    body: Body,
    tenant: &str,
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
    let mine = budget.tenant(tenant);
    let mut buffer = Vec::with_capacity(declared.unwrap_or(0).min(PREALLOCATE_AT_MOST));
    let mut share = Share::default();
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
            let busy = || {
                metrics::counter!("trailkeep_body_budget_rejections_total").increment(1);
                ApiError::unavailable(
                    "busy",
                    "the server holds as many request bodies as it may; retry shortly".into(),
                )
            };
            let of_tenant = mine
                .clone()
                .try_acquire_many_owned(more)
                .map_err(|_| busy())?;
            let of_all = budget
                .units
                .clone()
                .try_acquire_many_owned(more)
                .map_err(|_| busy())?;
            share.grow(of_all, of_tenant);
        }
        buffer.extend_from_slice(&chunk);
    }
    Ok(HeldBody {
        bytes: Bytes::from(buffer),
        share,
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

/// Decodes an optional JSON body as `T`: none (or `null`) is `T::default()`.
pub fn decode_optional<T: DeserializeOwned + Default>(
    body: &Bytes,
    headers: &HeaderMap,
) -> Result<T, ApiError> {
    if body.is_empty() || body.trim_ascii() == b"null" {
        return Ok(T::default());
    }
    decode(body, encoding(headers, false)?)
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
