//! Bounds on what one request, one connection, one credential, one source address and one
//! tenant may take: every resource a client can hold has a number here.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use crate::error::ApiError;

/// Request limits, rate limits and readiness bounds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Largest request body, in bytes (413 past it). The default holds a 10,000-event batch of
    /// events averaging 1.6 KiB.
    pub max_body_bytes: usize,
    /// Request body bytes all requests together may hold in memory at once; a request that
    /// would go past it is answered 503 with `Retry-After` instead of buffered.
    pub max_inflight_body_bytes: usize,
    /// Seconds a request may take from its head to its answer, body included (408 past it;
    /// a live stream's answer begins at once and is not cut).
    pub request_timeout_seconds: u64,
    /// Most connections open at once; past it, new connections wait in the listen backlog.
    pub max_connections: usize,
    /// Most read requests of one tenant running at once; past it, that tenant's reads get 429
    /// while other tenants' go on.
    pub tenant_concurrent_reads: usize,
    /// Most live streams open at once, over all tenants (503 past it).
    pub max_streams: usize,
    /// Most live streams one tenant may hold open (429 past it).
    pub tenant_max_streams: usize,
    /// Failed authentications one source address may make per minute before all its
    /// authentication attempts get 429 for the rest of the minute (0: unlimited).
    pub failed_auth_per_minute: u32,
    /// Largest request head (request line and headers), in bytes; past it the connection is
    /// answered 431 and closed.
    pub max_header_bytes: usize,
    /// Most request headers.
    pub max_headers: usize,
    /// Seconds a client may take to send a request head.
    pub header_timeout_seconds: u64,
    /// Requests a second each credential may make (0: unlimited); past it, 429.
    pub rate_per_second: u32,
    /// Requests a credential may make at once before the rate applies.
    pub rate_burst: u32,
    /// `/readyz` fails while the query index lags by more events than this.
    pub ready_max_index_lag: u64,
    /// Seconds open requests get to finish after a shutdown signal.
    pub drain_timeout_seconds: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_body_bytes: 16 * 1024 * 1024,
            max_inflight_body_bytes: 256 * 1024 * 1024,
            request_timeout_seconds: 60,
            max_connections: 10_000,
            tenant_concurrent_reads: 4,
            max_streams: 1_000,
            tenant_max_streams: 64,
            failed_auth_per_minute: 60,
            max_header_bytes: 64 * 1024,
            max_headers: 100,
            header_timeout_seconds: 30,
            rate_per_second: 10_000,
            rate_burst: 20_000,
            ready_max_index_lag: 1_000_000,
            drain_timeout_seconds: 30,
        }
    }
}

/// The middleware that answers 408 when a request, its body included, is not answered within
/// the request timeout: a client sending its body a byte a minute holds a connection and a
/// task for as long as this and no longer. A live stream's answer begins at once, so the
/// timeout never cuts a stream.
pub async fn deadline(State(limits): State<Arc<Limits>>, request: Request, next: Next) -> Response {
    let limit = Duration::from_secs(limits.request_timeout_seconds.max(1));
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => {
            metrics::counter!("trailkeep_request_timeouts_total").increment(1);
            ApiError::request_timeout(format!(
                "the request was not complete within {} seconds",
                limit.as_secs()
            ))
            .into_response()
        }
    }
}
