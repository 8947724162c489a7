//! The service audits itself: what it does on a tenant's behalf (API keys created and revoked)
//! and failed authentications become events in that tenant's own trail.
//!
//! Failed authentications are coalesced so that a flood cannot fill a trail: per tenant and
//! credential, the first failure of a minute is written at once, and the rest of that minute
//! become one summary event (`metadata.attempts`) when the minute is over.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use trailkeep_event::{Timestamp, prepare};
use trailkeep_store::{AppendRequest, EventStore};

use crate::error::ApiError;

/// How long failures of one credential are gathered into one event.
pub const FAILURE_WINDOW: Duration = Duration::from_secs(60);
/// Most credentials whose failures are tracked at once; past it, failures are only counted in
/// the metrics until windows expire.
const MAX_WINDOWS: usize = 10_000;

/// A failed authentication whose tenant is known for sure (a real key's id, or a token whose
/// signature was good).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailedAuth {
    /// The tenant the credential belongs to.
    pub tenant: String,
    /// The API key id or token subject.
    pub credential: String,
    /// Why it failed, in a few words (never the credential itself).
    pub reason: &'static str,
}

#[derive(Debug)]
struct Window {
    started: Instant,
    suppressed: u64,
    reason: &'static str,
}

/// Writes the service's own events.
pub struct SelfAudit {
    store: Arc<dyn EventStore>,
    windows: Mutex<HashMap<(String, String), Window>>,
    window: Duration,
}

impl std::fmt::Debug for SelfAudit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SelfAudit").finish_non_exhaustive()
    }
}

impl SelfAudit {
    /// Self-audit into `store`.
    pub fn new(store: Arc<dyn EventStore>) -> Self {
        Self::with_window(store, FAILURE_WINDOW)
    }

    /// Self-audit into `store`, gathering failures over `window` instead of a minute.
    pub fn with_window(store: Arc<dyn EventStore>, window: Duration) -> Self {
        Self {
            store,
            windows: Mutex::new(HashMap::new()),
            window,
        }
    }

    /// Appends `event` (an event object as a client would send it) to `tenant`'s trail.
    pub async fn record(&self, tenant: &str, event: Value) -> Result<(), ApiError> {
        let prepared = prepare(&event, tenant, Timestamp::now()).map_err(|errors| {
            ApiError::internal(&format!("a self-audit event is invalid: {errors:?}"))
        })?;
        self.store
            .append(
                tenant,
                AppendRequest {
                    events: vec![prepared],
                    idempotency_key: None,
                },
            )
            .await?;
        Ok(())
    }

    /// Notes a failed authentication, writing an event now if it opens a new window.
    pub fn failed_auth(self: &Arc<Self>, failure: FailedAuth) {
        let now = Instant::now();
        let attempts = {
            let mut windows = self.windows.lock().unwrap_or_else(|p| p.into_inner());
            let key = (failure.tenant.clone(), failure.credential.clone());
            match windows.get_mut(&key) {
                Some(window) if now.duration_since(window.started) < self.window => {
                    window.suppressed += 1;
                    return;
                }
                Some(window) => {
                    let carried = window.suppressed;
                    *window = Window {
                        started: now,
                        suppressed: 0,
                        reason: failure.reason,
                    };
                    1 + carried
                }
                None => {
                    if windows.len() >= MAX_WINDOWS {
                        windows.retain(|_, w| now.duration_since(w.started) < self.window);
                        if windows.len() >= MAX_WINDOWS {
                            return;
                        }
                    }
                    windows.insert(
                        key,
                        Window {
                            started: now,
                            suppressed: 0,
                            reason: failure.reason,
                        },
                    );
                    1
                }
            }
        };
        self.spawn_failure_event(failure, attempts);
    }

    /// Writes the summaries of windows that are over and forgets them.
    pub fn flush_failures(self: &Arc<Self>) {
        let now = Instant::now();
        let mut due = Vec::new();
        {
            let mut windows = self.windows.lock().unwrap_or_else(|p| p.into_inner());
            windows.retain(|(tenant, credential), window| {
                if now.duration_since(window.started) < self.window {
                    return true;
                }
                if window.suppressed > 0 {
                    due.push((
                        FailedAuth {
                            tenant: tenant.clone(),
                            credential: credential.clone(),
                            reason: window.reason,
                        },
                        window.suppressed,
                    ));
                }
                false
            });
        }
        for (failure, attempts) in due {
            self.spawn_failure_event(failure, attempts);
        }
    }

    /// Flushes expired windows every few seconds for as long as the runtime runs.
    pub fn spawn_flusher(self: &Arc<Self>) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let weak = Arc::downgrade(self);
        runtime.spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(5));
            loop {
                tick.tick().await;
                match weak.upgrade() {
                    Some(audit) => audit.flush_failures(),
                    None => return,
                }
            }
        });
    }

    fn spawn_failure_event(self: &Arc<Self>, failure: FailedAuth, attempts: u64) {
        let this = self.clone();
        tokio::spawn(async move {
            let kind = if crate::auth::api_keys::is_key_id(&failure.credential) {
                "api_key"
            } else {
                "service"
            };
            let event = json!({
                "action": "trailkeep.authenticate",
                "outcome": "failure",
                "actor": {"type": kind, "id": failure.credential},
                "description": format!("authentication failed: {}", failure.reason),
                "metadata": {"reason": failure.reason, "attempts": attempts},
            });
            if let Err(error) = this.record(&failure.tenant, event).await {
                tracing::warn!(
                    tenant = %failure.tenant,
                    problem = %error.problem().kind,
                    "could not record a failed authentication"
                );
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use trailkeep_store_embedded::{EmbeddedStore, Options};

    use super::*;

    fn failure(credential: &str) -> FailedAuth {
        FailedAuth {
            tenant: "acme".into(),
            credential: credential.into(),
            reason: "wrong secret",
        }
    }

    async fn attempts(store: &EmbeddedStore) -> Vec<(String, u64)> {
        let events = store.scan("acme", 0, 100).await.unwrap();
        events
            .iter()
            .map(|e| {
                let event = &e.event;
                let actor = event
                    .actor
                    .as_ref()
                    .and_then(|a| a.id.clone())
                    .unwrap_or_default();
                let attempts = event.metadata.as_ref().unwrap()["attempts"]
                    .as_u64()
                    .unwrap();
                (actor, attempts)
            })
            .collect()
    }

    async fn settle() {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    #[tokio::test]
    async fn a_flood_becomes_one_event_now_and_one_summary_when_the_window_ends() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(EmbeddedStore::open(dir.path(), Options::default()).unwrap());
        let events: Arc<dyn EventStore> = store.clone();
        let audit = Arc::new(SelfAudit::with_window(events, Duration::from_millis(300)));
        for _ in 0..1000 {
            audit.failed_auth(failure("key-a"));
        }
        audit.failed_auth(failure("key-b"));
        settle().await;
        assert_eq!(
            attempts(&store).await,
            vec![("key-a".into(), 1), ("key-b".into(), 1)],
            "the first failure of each credential, at once"
        );
        audit.flush_failures();
        settle().await;
        assert_eq!(
            attempts(&store).await.len(),
            2,
            "nothing more inside the window"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
        audit.flush_failures();
        settle().await;
        assert_eq!(
            attempts(&store).await,
            vec![
                ("key-a".into(), 1),
                ("key-b".into(), 1),
                ("key-a".into(), 999)
            ],
            "the rest of key-a's flood as one summary; key-b had nothing more"
        );
        store.shutdown();
    }
}
