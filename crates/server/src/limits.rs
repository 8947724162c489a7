//! Bounds on what one request, one connection and one credential may take.

use serde::{Deserialize, Serialize};

/// Request limits, rate limits and readiness bounds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Largest request body, in bytes (413 past it).
    pub max_body_bytes: usize,
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
            max_body_bytes: 64 * 1024 * 1024,
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
