//! The Trailkeep HTTP server: the native `/v1` API (ingest, read, ledger, API keys), auth and
//! operations endpoints, over any [`Store`].
//!
//! The caller builds the store and binds the socket; [`router`] gives the routes (each with the
//! role it needs, in `routes.rs`) and [`serve`] runs them, over plain TCP or TLS, until the
//! shutdown future resolves, then drains in-flight requests. Tests bind `127.0.0.1:0` and drive
//! the same code path as production.

#![deny(missing_docs)]

mod attachment;
pub mod audit;
pub mod auth;
mod body;
mod cursor;
mod detection;
pub mod dialects;
pub mod error;
mod events;
mod export_links;
mod exports;
mod health;
mod ingest;
mod keys;
mod ledger;
mod limits;
mod listing;
pub mod openapi;
mod params;
mod reports;
mod retention;
mod routes;
mod stats;
mod stream;
pub mod telemetry;
pub mod transport;
mod ui;
mod viewer;
mod views;
mod webhooks;

use std::sync::Arc;

use tokio::sync::watch;
use trailkeep_store::quota::Quota;
use trailkeep_store::{EventStore, KeyStore, Store};

pub use audit::SelfAudit;
pub use auth::api_keys::{IssuedKey, KeySpec};
pub use auth::{
    Authenticator, FailureLimiter, Hs256Tokens, JwtSettings, JwtVerifier, Principal, RateLimiter,
    Role, mint_token,
};
pub use cursor::CursorKey;
pub use error::ApiError;
pub use exports::Exports;
pub use keys::{key_event, parse_roles};
pub use limits::Limits;
pub use reports::Reports;
pub use retention::Retention;
pub use routes::{openapi, router};
pub use transport::{Tls, serve};
pub use ui::ViewerHeaders;

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    /// Where events and keys live.
    pub store: Arc<dyn Store>,
    /// Checks credentials and rate limits.
    pub auth: Arc<Authenticator>,
    /// Writes the service's own events.
    pub audit: Arc<SelfAudit>,
    /// Seals page cursors.
    pub cursor_key: CursorKey,
    /// Request limits and readiness bounds.
    pub limits: Arc<Limits>,
    /// Turns true when the server begins to shut down; long-lived responses (event streams)
    /// end on it and `/readyz` fails. See [`stopping_signal`].
    pub stopping: watch::Receiver<bool>,
    /// The memory large request bodies in flight may hold together.
    pub body_budget: body::BodyBudget,
    /// Reads each tenant may run at once.
    pub reads: Arc<Quota>,
    /// Live streams open, per tenant and in all.
    pub streams: Arc<Quota>,
    /// Where exports are kept, when this server runs them ([`AppState::with_exports`]).
    pub exports: Option<Arc<Exports>>,
    /// Where reports are kept, when this server makes them ([`AppState::with_reports`]).
    pub reports: Option<Arc<Reports>>,
    /// The default period and the runner's wake-up, when this server runs retention and
    /// erasures ([`AppState::with_retention`]).
    pub retention: Option<Arc<Retention>>,
    /// The node's webhook deliveries, when it runs them ([`AppState::with_webhooks`]).
    pub webhooks: Option<trailkeep_webhooks::Handle>,
    /// The node's detection, told when rules change ([`AppState::with_detection`]).
    pub detection: Option<trailkeep_detect::Handle>,
    /// The viewer's response headers ([`AppState::with_viewer`]).
    pub viewer: Arc<ViewerHeaders>,
}

impl AppState {
    /// The state over `store`, verifying tokens with `jwt` and sealing cursors with a key
    /// derived from `secret`. Inside a Tokio runtime, also starts the task that writes
    /// coalesced failed-authentication events.
    pub fn new(
        store: Arc<dyn Store>,
        jwt: JwtVerifier,
        secret: &[u8],
        limits: Limits,
        stopping: watch::Receiver<bool>,
    ) -> Self {
        let keys: Arc<dyn KeyStore> = store.clone();
        let events: Arc<dyn EventStore> = store.clone();
        let audit = Arc::new(SelfAudit::new(events));
        audit.spawn_flusher();
        Self {
            auth: Arc::new(Authenticator::new(
                jwt,
                keys,
                RateLimiter::new(limits.rate_per_second, limits.rate_burst),
                FailureLimiter::new(limits.failed_auth_per_minute),
            )),
            audit,
            store,
            cursor_key: CursorKey::derive(secret),
            body_budget: body::BodyBudget::new(limits.max_inflight_body_bytes),
            reads: Quota::new(limits.tenant_concurrent_reads, usize::MAX),
            streams: Quota::new(limits.tenant_max_streams, limits.max_streams),
            limits: Arc::new(limits),
            stopping,
            exports: None,
            reports: None,
            retention: None,
            webhooks: None,
            detection: None,
            viewer: Arc::new(ViewerHeaders::default()),
        }
    }

    /// The same state, letting the origins `frame_ancestors` embed the viewer.
    pub fn with_viewer(self, viewer: ViewerHeaders) -> Self {
        Self {
            viewer: Arc::new(viewer),
            ..self
        }
    }

    /// The same state, telling `detection` when a tenant's rules change.
    pub fn with_detection(self, detection: trailkeep_detect::Handle) -> Self {
        Self {
            detection: Some(detection),
            ..self
        }
    }

    /// The same state, managing webhook subscriptions delivered by `deliveries`.
    pub fn with_webhooks(self, deliveries: trailkeep_webhooks::Handle) -> Self {
        Self {
            webhooks: Some(deliveries),
            ..self
        }
    }

    /// The same state, serving exports written into `exports.dir` by a job runner.
    pub fn with_exports(self, exports: Exports) -> Self {
        Self {
            exports: Some(Arc::new(exports)),
            ..self
        }
    }

    /// The state, making reports as `reports` says.
    pub fn with_reports(self, reports: Reports) -> Self {
        Self {
            reports: Some(Arc::new(reports)),
            ..self
        }
    }

    /// The state, running retention and erasures as `retention` says.
    pub fn with_retention(self, retention: Retention) -> Self {
        Self {
            retention: Some(Arc::new(retention)),
            ..self
        }
    }
}

/// A shutdown signal for [`AppState::stopping`]: send `true` on the sender when shutdown begins.
pub fn stopping_signal() -> (watch::Sender<bool>, watch::Receiver<bool>) {
    watch::channel(false)
}
