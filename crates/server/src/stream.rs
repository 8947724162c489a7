//! `GET /v1/events/stream`: a live tail of the caller's tenant as server-sent events, with the
//! filters of `GET /v1/events`.
//!
//! Each connection keeps only a position (the next seq) and, after every commit notification from
//! [`EventStore::commits`], reads the store from that position in seq order until it is caught
//! up. It does not fan events out from the writer to subscribers. That choice is deliberate:
//!
//! - Nothing is skipped or sent twice. The store's seq order is the one order of acknowledgement,
//!   and a reader that resumes from "last seq sent + 1" sees each event exactly once, across
//!   reconnects too (`Last-Event-ID`). A broadcast channel drops messages when a receiver lags,
//!   so a fan-out would need a second, catch-up path for them, and the two paths would have to
//!   be stitched together without gaps.
//! - A slow consumer holds no memory but its own chunk. The watch channel keeps one value for
//!   everyone; a client that reads slowly just falls behind in the store, and the TCP window
//!   pushes back on this loop rather than on the writer.
//! - Catch-up (`from_seq`, `Last-Event-ID`) and live tail are the same loop.
//!
//! The cost: every commit of the tenant wakes each of its open streams for one scan (other
//! tenants' commits wake nothing here).
//!
//! When the server shuts down, `AppState::stopping` turns true and every idle stream ends, so
//! graceful shutdown is not held up by clients that would otherwise listen forever.
//!
//! A stream lives longer than the request that opened it, so its credential is checked again
//! while it runs ([`Authenticator::recheck`]): before every batch of events it sends, every few
//! seconds while idle, and at the instant a token expires. When the credential no longer
//! stands (the API key revoked, the token expired), the stream sends one last message,
//! `event: stream.closed` with `{"reason": ...}`, and ends; nothing committed after that is sent.
//!
//! Streams are bounded: per tenant and in all (`Limits::tenant_max_streams`, `max_streams`), and
//! each scan takes a place among the tenant's concurrent reads, so a stream replaying a long
//! backlog shares the store's read connections like any other read of its tenant. The commit
//! watch is the tenant's own: other tenants' writes do not wake its streams.
//!
//! Subscribing to the commits watch happens before the first scan: a commit that lands between a
//! scan that came back empty and the wait after it has already marked the receiver changed, so
//! the wait returns at once and the next scan finds it.
//!
//! # Wire format
//!
//! One SSE message per matching event, in seq order:
//!
//! ```text
//! id: <seq>
//! event: audit.event
//! data: <the event's canonical JSON, one line>
//!
//! ```
//!
//! and a `:` comment line every 15 seconds while idle. Start position: the `Last-Event-ID`
//! header (resume after that seq) wins over `?from_seq=N` (start at seq N, such as 0 to replay
//! everything), so a browser's automatic reconnect to the same URL resumes rather than
//! replaying; with neither, only events acknowledged after the request arrive. If the store
//! fails mid-stream the stream ends; the client reconnects with `Last-Event-ID`.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Uri};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::stream::{self, Stream};
use tokio::sync::watch;
use trailkeep_event::Filter;
use trailkeep_store::EventStore;

use crate::AppState;
use crate::auth::{Authenticator, Principal, now_seconds};
use crate::error::ApiError;
use crate::listing::{FILTER_PARAMS, parse_filter};
use crate::params::Params;
use crate::viewer::record_view;
use trailkeep_store::quota::{Full, Place, Quota};

/// The SSE `event:` type of every message (`addEventListener("audit.event", ...)` in a browser).
pub const EVENT_TYPE: &str = "audit.event";

/// Events read from the store per scan; at most this many wait in a connection's queue.
const SCAN_CHUNK: usize = 500;

/// How often an idle stream sends a comment, so proxies and clients keep the connection.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// How often an idle stream checks that its credential still stands.
const RECHECK_EVERY: Duration = Duration::from_secs(5);

/// The SSE `event:` type of the last message of a stream whose credential no longer stands.
pub const CLOSED_EVENT_TYPE: &str = "stream.closed";

const LAST_EVENT_ID: HeaderName = HeaderName::from_static("last-event-id");

/// `GET /v1/events/stream`.
#[utoipa::path(
    get,
    path = "/v1/events/stream",
    tag = "events",
    summary = "Live tail",
    description = "Server-sent events in seq order (each event's `id` is its seq), with the listing filters; resumes after `Last-Event-ID`.",
    params(
        crate::openapi::params::FilterParams,
        crate::openapi::params::StreamParams,
        ("Last-Event-ID" = Option<String>, Header, pattern = "^[0-9]{1,19}$", description = "Resume after this seq"),
    ),
    responses(
        (status = 200, description = "The stream: one server-sent event per audit event", body = crate::openapi::StreamEvent, content_type = "text/event-stream"),
        (status = 400, description = "A parameter is invalid", body = trailkeep_api::Problem, content_type = "application/problem+json"),
        (status = 503, description = "The server holds as many streams as it may", body = trailkeep_api::Problem, content_type = "application/problem+json"),
    )
)]
pub async fn stream(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    uri: Uri,
) -> Result<Response, ApiError> {
    let allowed: Vec<&str> = FILTER_PARAMS.iter().copied().chain(["from_seq"]).collect();
    let params = Params::parse(&uri, &allowed)?;
    let mut filter = parse_filter(&params)?;
    principal.confine(&mut filter)?;
    let from_seq = params.number("from_seq")?;
    let resume = resume_after(&headers)?;
    let place = state
        .streams
        .take(&principal.tenant)
        .map_err(|full| match full {
            Full::Tenant => ApiError::throttled(
                "too_many_streams",
                format!(
                    "this tenant already has {} streams open; close one first",
                    state.limits.tenant_max_streams
                ),
                Duration::from_secs(5),
            ),
            Full::Total => ApiError::unavailable(
                "too_many_streams",
                "the server holds as many streams as it may; retry shortly".into(),
            ),
        })?;

    // Before any read: see the module doc.
    let commits = state.store.commits(&principal.tenant);
    // Last-Event-ID wins: a browser reconnects to the URL it started with, from_seq included.
    let next = match resume.or(from_seq) {
        Some(seq) => seq,
        None => state.store.tree_size(&principal.tenant).await?,
    };
    let details = serde_json::json!({ "query": uri.query().unwrap_or_default(), "from_seq": next });
    record_view(&state, &principal, "live tail", details).await?;
    let tail = Tail {
        store: state.store,
        auth: state.auth,
        reads: state.reads,
        _place: place,
        tenant: principal.tenant.clone(),
        principal,
        filter,
        next,
        announced: next,
        commits,
        stopping: state.stopping,
        queue: VecDeque::new(),
        ended: false,
        next_recheck: tokio::time::Instant::now() + RECHECK_EVERY,
    };
    let sse = Sse::new(tail.into_stream()).keep_alive(KeepAlive::new().interval(KEEP_ALIVE));
    // Tells nginx-style proxies not to buffer the stream.
    let no_buffering = [(
        HeaderName::from_static("x-accel-buffering"),
        HeaderValue::from_static("no"),
    )];
    Ok((no_buffering, sse).into_response())
}

/// The seq to start at from a `Last-Event-ID` header: the one after it.
fn resume_after(headers: &HeaderMap) -> Result<Option<u64>, ApiError> {
    let mut values = headers.get_all(&LAST_EVENT_ID).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    let bad = || {
        ApiError::bad_request(
            "bad_last_event_id",
            "the Last-Event-ID header must be one seq (a non-negative integer) from this stream",
        )
    };
    if values.next().is_some() {
        return Err(bad());
    }
    value
        .to_str()
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .and_then(|seq| seq.checked_add(1))
        .map(Some)
        .ok_or_else(bad)
}

/// One connection's position in its tenant's trail.
struct Tail {
    store: Arc<dyn EventStore>,
    /// Checks that `principal` still stands.
    auth: Arc<Authenticator>,
    /// The tenant's concurrent reads: each scan takes a place, like any other read.
    reads: Arc<Quota>,
    /// This stream's place among the open streams.
    _place: Place,
    /// The credential that opened the stream.
    principal: Principal,
    tenant: String,
    filter: Filter,
    /// The next seq to read.
    next: u64,
    /// The `next` the client last heard of (through an event's id or a position message).
    announced: u64,
    commits: watch::Receiver<u64>,
    /// Turns true when the server shuts down: the stream ends so shutdown is not held up.
    stopping: watch::Receiver<bool>,
    /// Matching events read but not yet sent (at most one scan's worth).
    queue: VecDeque<SseEvent>,
    /// Set once the closing message went out: the stream ends.
    ended: bool,
    /// When the credential is next checked (also checked before each batch it sends).
    next_recheck: tokio::time::Instant,
}

impl Tail {
    fn into_stream(self) -> impl Stream<Item = Result<SseEvent, Infallible>> + Send + 'static {
        stream::unfold(self, |mut tail| async move {
            let event = tail.next_event().await?;
            Some((Ok(event), tail))
        })
    }

    /// The message that ends a stream whose credential no longer stands.
    fn close(&mut self, reason: &str) -> SseEvent {
        self.ended = true;
        self.queue.clear();
        SseEvent::default()
            .event(CLOSED_EVENT_TYPE)
            .data(serde_json::json!({ "reason": reason }).to_string())
    }

    /// A place among the tenant's concurrent reads, waiting for one as long as it takes;
    /// `None` when the server stops meanwhile.
    async fn read_place(&mut self) -> Option<Place> {
        tokio::select! {
            place = self.reads.take_waiting(&self.tenant, None) => place.ok(),
            _ = self.stopping.wait_for(|stop| *stop) => None,
        }
    }

    /// When the stream next checks its credential: at its periodic time, or when its token
    /// expires if that comes first.
    fn recheck_at(&self) -> tokio::time::Instant {
        match self.principal.expires_at {
            Some(at) => {
                let left = u64::try_from(at.saturating_sub(now_seconds())).unwrap_or(0);
                self.next_recheck
                    .min(tokio::time::Instant::now() + Duration::from_secs(left))
            }
            None => self.next_recheck,
        }
    }

    /// Checks the credential when its time has come, whatever woke the stream (a busy tenant's
    /// commits must not keep putting the check off); `Err` with the reason when it no longer
    /// stands.
    async fn recheck_when_due(&mut self) -> Result<(), &'static str> {
        if tokio::time::Instant::now() < self.recheck_at() {
            return Ok(());
        }
        self.next_recheck = tokio::time::Instant::now() + RECHECK_EVERY;
        self.auth.recheck(&self.principal).await
    }

    /// The next matching event, waiting for commits as long as it takes; `None` ends the stream.
    async fn next_event(&mut self) -> Option<SseEvent> {
        loop {
            // A stream that is replaying a backlog ends on shutdown too, not only an idle one.
            if *self.stopping.borrow() || self.ended {
                return None;
            }
            if let Some(event) = self.queue.pop_front() {
                return Some(event);
            }
            if let Err(reason) = self.recheck_when_due().await {
                return Some(self.close(reason));
            }
            let place = self.read_place().await?;
            let scanned = self.store.scan(&self.tenant, self.next, SCAN_CHUNK).await;
            drop(place);
            let batch = match scanned {
                Ok(batch) => batch,
                Err(error) => {
                    tracing::warn!(
                        tenant = %self.tenant,
                        seq = self.next,
                        %error,
                        "event stream ended: the store read failed"
                    );
                    return None;
                }
            };
            if batch.is_empty() {
                // Caught up. Events skipped since the client last heard of a position (none of
                // them matched) move its resume point on: a message with only an id, which
                // EventSource records as Last-Event-ID without dispatching anything, so a
                // reconnect does not read them again.
                if self.announced != self.next {
                    self.announced = self.next;
                    return Some(SseEvent::default().id((self.next - 1).to_string()));
                }
                // Wait for the next commit, or end when the server stops (the client
                // reconnects elsewhere with Last-Event-ID). An error means the store is gone.
                // The credential check is due at `recheck_at`; the loop's top makes it.
                let recheck_at = self.recheck_at();
                tokio::select! {
                    changed = self.commits.changed() => changed.ok()?,
                    _ = self.stopping.wait_for(|stop| *stop) => return None,
                    () = tokio::time::sleep_until(recheck_at) => {}
                }
                continue;
            }
            for stored in batch {
                self.next = stored.event.seq + 1;
                if !self.filter.matches(&stored.event) {
                    continue;
                }
                let Ok(data) = std::str::from_utf8(&stored.canonical) else {
                    tracing::error!(
                        tenant = %self.tenant,
                        seq = stored.event.seq,
                        "event stream ended: stored canonical bytes are not UTF-8"
                    );
                    return None;
                };
                self.queue.push_back(
                    SseEvent::default()
                        .id(stored.event.seq.to_string())
                        .event(EVENT_TYPE)
                        .data(data),
                );
                self.announced = self.next;
            }
            // Nothing goes out under a credential that no longer stands.
            if !self.queue.is_empty()
                && let Err(reason) = self.auth.recheck(&self.principal).await
            {
                return Some(self.close(reason));
            }
        }
    }
}
