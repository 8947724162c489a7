//! The Trailkeep HTTP server: the native `/v1` API (ingest, read, ledger), auth and operations
//! endpoints, over any [`EventStore`].
//!
//! The caller builds the store and binds the socket; [`router`] gives the routes and [`serve`]
//! runs them until the shutdown future resolves, draining in-flight requests. Tests bind
//! `127.0.0.1:0` and drive the same code path as production.

#![deny(missing_docs)]

pub mod auth;
mod cursor;
pub mod error;
mod events;
mod health;
mod ingest;
mod ledger;
mod listing;
mod params;
mod stats;
mod stream;
mod views;

use std::future::Future;
use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::get;
use tokio::net::TcpListener;
use tokio::sync::watch;
use trailkeep_store::EventStore;

pub use auth::{JwtAuth, Principal, Role, mint_token};
pub use cursor::CursorKey;
pub use error::ApiError;

/// Default largest request body: 64 MiB (a full batch of typical events fits many times over).
pub const DEFAULT_MAX_BODY_BYTES: usize = 64 * 1024 * 1024;

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    /// Where events live.
    pub store: Arc<dyn EventStore>,
    /// Verifies credentials.
    pub auth: Arc<JwtAuth>,
    /// Seals page cursors.
    pub cursor_key: CursorKey,
    /// Turns true when the server begins to shut down; long-lived responses (event streams)
    /// end on it. See [`stopping_signal`].
    pub stopping: watch::Receiver<bool>,
}

/// A shutdown signal for [`AppState::stopping`]: send `true` on the sender when shutdown begins.
pub fn stopping_signal() -> (watch::Sender<bool>, watch::Receiver<bool>) {
    watch::channel(false)
}

/// Every route, with problem+json for unknown paths and methods.
pub fn router(state: AppState, max_body_bytes: usize) -> Router {
    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/v1/events", get(events::list).post(ingest::post_events))
        .route("/v1/events/stream", get(stream::stream))
        .route("/v1/events/{id}", get(events::get_one))
        .route("/v1/entities/{kind}/{id}/history", get(views::history))
        .route("/v1/logins", get(views::logins))
        .route("/v1/access", get(views::access))
        .route("/v1/stats", get(stats::stats))
        .route("/v1/ledger/key", get(ledger::key))
        .route("/v1/ledger/checkpoint", get(ledger::checkpoint))
        .route("/v1/ledger/proofs/inclusion", get(ledger::inclusion))
        .route("/v1/ledger/proofs/consistency", get(ledger::consistency))
        .fallback(|| async { ApiError::not_found("no such endpoint") })
        .method_not_allowed_fallback(|| async { ApiError::method_not_allowed() })
        .layer(DefaultBodyLimit::max(max_body_bytes))
        .with_state(state)
}

/// Serves `router` on `listener` until `shutdown` resolves, then lets in-flight requests finish.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await
}
