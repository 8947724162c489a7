//! Failed authentications per source address: past a number a minute, the source's attempts are
//! refused with 429 before any credential is looked at, for the rest of the minute.
//!
//! The per-credential rate limit cannot stop guessing: every guess names a different (made-up)
//! credential. Counting failures by the address they come from does, and it also bounds the
//! store lookups and failed-authentication events a single source can cause. Windows are fixed
//! minutes per address; the map is swept when it grows, so it stays small.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;

use crate::error::ApiError;

/// The address failures are counted by: the address itself for IPv4, its /64 network for IPv6
/// (one host usually holds a whole /64, and could otherwise try from each of its addresses).
fn network(source: IpAddr) -> IpAddr {
    match source {
        IpAddr::V4(_) => source,
        IpAddr::V6(v6) => {
            let bits = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(bits.into())
        }
    }
}

/// The window failures are counted over.
const WINDOW: Duration = Duration::from_secs(60);
/// Addresses tracked before expired windows are swept; at most this many are tracked.
const SWEEP_PAST: usize = 100_000;

/// Failed authentications by source address.
#[derive(Debug)]
pub struct FailureLimiter {
    per_window: u32,
    windows: Mutex<HashMap<IpAddr, (Instant, u32)>>,
}

impl FailureLimiter {
    /// At most `per_minute` failures per address a minute; 0 turns the limit off.
    pub fn new(per_minute: u32) -> Self {
        Self {
            per_window: per_minute,
            windows: Mutex::new(HashMap::new()),
        }
    }

    /// How long `source` must wait before it may try again, when it used up its failures.
    pub fn blocked(&self, source: IpAddr) -> Option<Duration> {
        if self.per_window == 0 {
            return None;
        }
        let windows = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        let (started, failures) = windows.get(&network(source))?;
        let left = WINDOW.checked_sub(started.elapsed())?;
        (*failures >= self.per_window).then_some(left)
    }

    /// Counts one failed authentication from `source`.
    pub fn record(&self, source: IpAddr) {
        if self.per_window == 0 {
            return;
        }
        let mut windows = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        let source = network(source);
        if windows.len() >= SWEEP_PAST && !windows.contains_key(&source) {
            windows.retain(|_, (started, _)| started.elapsed() < WINDOW);
            if windows.len() >= SWEEP_PAST {
                // Past this many sources at once, new ones go uncounted (the per-credential
                // rate still applies) rather than the map growing without end.
                metrics::counter!("trailkeep_auth_sources_untracked_total").increment(1);
                return;
            }
        }
        let entry = windows.entry(source).or_insert((Instant::now(), 0));
        if entry.0.elapsed() >= WINDOW {
            *entry = (Instant::now(), 0);
        }
        entry.1 = entry.1.saturating_add(1);
    }
}

/// The address a request came from, when the transport recorded it (`serve` always does).
#[derive(Debug, Clone, Copy)]
pub struct Source(pub Option<IpAddr>);

impl Source {
    /// 429 when this source used up its failed authentications.
    pub fn check(&self, limiter: &FailureLimiter) -> Result<(), ApiError> {
        match self.0.and_then(|ip| limiter.blocked(ip)) {
            None => Ok(()),
            Some(wait) => {
                metrics::counter!("trailkeep_auth_sources_refused_total").increment(1);
                Err(ApiError::throttled(
                    "too_many_failures",
                    "too many failed authentications from this address; retry after the \
                     Retry-After seconds",
                    wait,
                ))
            }
        }
    }

    /// Counts a failed authentication from this source.
    pub fn failed(&self, limiter: &FailureLimiter) {
        if let Some(ip) = self.0 {
            limiter.record(ip);
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Source {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Source(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|info| info.0.ip()),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_source_past_its_failures_waits_and_others_do_not() {
        let limiter = FailureLimiter::new(3);
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        for _ in 0..3 {
            assert_eq!(limiter.blocked(a), None);
            limiter.record(a);
        }
        let wait = limiter.blocked(a).expect("blocked");
        assert!(wait <= WINDOW && wait > Duration::from_secs(50));
        assert_eq!(limiter.blocked(b), None);
        assert_eq!(FailureLimiter::new(0).blocked(a), None);
        // An IPv6 host cannot escape by moving within its /64.
        let v6 = |s: &str| s.parse::<IpAddr>().unwrap();
        for n in 1..=3 {
            limiter.record(v6(&format!("2001:db8:0:1::{n}")));
        }
        assert!(limiter.blocked(v6("2001:db8:0:1:ffff::9")).is_some());
        assert_eq!(limiter.blocked(v6("2001:db8:0:2::1")), None);
    }
}
