//! Alerts: what a hit becomes. Each is a document (`alert`/`alr_<ulid>`) and an event in the
//! tenant's trail (`audit.suspicious.detected`, naming the rule, the window, the key and the
//! seqs behind it), which webhooks deliver. People acknowledge and resolve alerts; each change
//! is an event in the trail with who made it.

use std::ops::Bound;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use trailkeep_event::{PreparedEvent, Timestamp, prepare};
use trailkeep_store::documents::{DocumentRange, DocumentWrite, Expect, MAX_DOCUMENTS_LISTED};
use trailkeep_store::{Store, StoreError};

use crate::engine::Hit;
use crate::rule::{Rule, Severity};

/// The kind of alert documents.
pub const KIND: &str = "alert";

/// The action of the trail event that records an alert.
pub const ALERT_ACTION: &str = "audit.suspicious.detected";

/// Where an alert is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertState {
    /// Raised, nobody has looked.
    Open,
    /// Someone is looking.
    Acknowledged,
    /// Dealt with.
    Resolved,
}

impl AlertState {
    /// The name on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertState::Open => "open",
            AlertState::Acknowledged => "acknowledged",
            AlertState::Resolved => "resolved",
        }
    }

    /// The state named `name`.
    pub fn parse(name: &str) -> Option<Self> {
        [
            AlertState::Open,
            AlertState::Acknowledged,
            AlertState::Resolved,
        ]
        .into_iter()
        .find(|s| s.as_str() == name)
    }
}

/// Who changed an alert, and when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stamp {
    /// Who (the actor's id).
    pub by: String,
    /// When (ms since the epoch).
    pub at: i64,
    /// What they said.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// An alert, as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    /// `alr_` and a ULID.
    pub id: String,
    /// The rule that raised it.
    pub rule: String,
    /// The rule's name then.
    pub rule_name: String,
    /// Its severity.
    pub severity: Severity,
    /// The key it was raised for.
    pub key: String,
    /// When the events behind it begin (µs since the epoch).
    pub window_start: i64,
    /// When they end (µs).
    pub window_end: i64,
    /// The seqs of the events behind it.
    pub seqs: Vec<u64>,
    /// How many events (or distinct values) the rule counted.
    pub count: u64,
    /// What the rule saw, in words.
    pub detail: String,
    /// Where it is in its life.
    pub state: AlertState,
    /// When it was raised (ms since the epoch).
    pub created_at: i64,
    /// The id of its event in the trail.
    pub event_id: String,
    /// Who acknowledged it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acknowledged: Option<Stamp>,
    /// Who resolved it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolved: Option<Stamp>,
}

fn micros_text(us: i64) -> String {
    Timestamp::from_micros(us)
        .map(|t| t.to_string())
        .unwrap_or_default()
}

/// A new alert id: ids sort by creation, even among the alerts of one millisecond (a
/// monotonic ULID generator for the process).
pub fn new_id() -> String {
    static GENERATOR: std::sync::Mutex<Option<ulid::Generator>> = std::sync::Mutex::new(None);
    let mut generator = GENERATOR.lock().unwrap_or_else(|p| p.into_inner());
    let id = generator
        .get_or_insert_with(ulid::Generator::new)
        .generate()
        .unwrap_or_else(|_| ulid::Ulid::new());
    format!("alr_{}", id.to_string().to_lowercase())
}

/// The alert `hit` of `rule` becomes, and the trail event that records it.
pub fn raise(
    tenant: &str,
    rule: &Rule,
    hit: Hit,
    now_ms: i64,
) -> Result<(Alert, PreparedEvent), StoreError> {
    let id = new_id();
    let raw = json!({
        "action": ALERT_ACTION,
        "outcome": "success",
        "actor": {"type": "service", "id": "trailkeep-detection"},
        "target": {"type": "alert", "id": id},
        "description": hit.detail,
        "metadata": {
            "rule": rule.id,
            "rule_name": rule.name,
            "severity": rule.severity,
            "key": hit.key,
            "window_start": micros_text(hit.window.0),
            "window_end": micros_text(hit.window.1),
            "seqs": hit.seqs,
            "count": hit.count,
        },
    });
    let event = prepare(&raw, tenant, Timestamp::now())
        .map_err(|errors| StoreError::Internal(format!("an alert event is invalid: {errors:?}")))?;
    let alert = Alert {
        id,
        rule: rule.id.clone(),
        rule_name: rule.name.clone(),
        severity: rule.severity,
        key: hit.key,
        window_start: hit.window.0,
        window_end: hit.window.1,
        seqs: hit.seqs,
        count: hit.count,
        detail: hit.detail,
        state: AlertState::Open,
        created_at: now_ms,
        event_id: event.event.id.clone(),
        acknowledged: None,
        resolved: None,
    };
    Ok((alert, event))
}

/// Why an alert call was refused.
#[derive(Debug, thiserror::Error)]
pub enum AlertError {
    /// The tenant has no such alert.
    #[error("no such alert")]
    NotFound,
    /// The change does not apply to the alert as it is.
    #[error("{0}")]
    Conflict(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Which alerts a listing answers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AlertQuery {
    /// Only in this state.
    pub state: Option<AlertState>,
    /// Only of this rule.
    pub rule: Option<String>,
    /// Only at least this severe.
    pub min_severity: Option<Severity>,
    /// Only for this key.
    pub key: Option<String>,
    /// Only raised at or after this time (ms).
    pub since: Option<i64>,
    /// Only raised before this time (ms).
    pub until: Option<i64>,
    /// Only older than this alert id (the previous page's last).
    pub before: Option<String>,
}

impl AlertQuery {
    fn matches(&self, alert: &Alert) -> bool {
        self.state.is_none_or(|s| alert.state == s)
            && self.rule.as_ref().is_none_or(|r| &alert.rule == r)
            && self.min_severity.is_none_or(|s| alert.severity >= s)
            && self.key.as_ref().is_none_or(|k| &alert.key == k)
            && self.since.is_none_or(|t| alert.created_at >= t)
            && self.until.is_none_or(|t| alert.created_at < t)
    }
}

/// Most alerts looked at for one page of a filtered listing.
const MAX_SCANNED: usize = 10_000;

fn parse(body: &str) -> Result<Alert, StoreError> {
    serde_json::from_str(body).map_err(|e| StoreError::Corrupt(format!("an alert: {e}")))
}

/// The tenant's alerts matching `query`, newest first, at most `limit`; and whether the page
/// stopped early (more may match past its last id).
pub async fn list(
    store: &dyn Store,
    tenant: &str,
    query: &AlertQuery,
    limit: usize,
) -> Result<(Vec<Alert>, bool), AlertError> {
    let mut found = Vec::new();
    let mut end = query.before.clone();
    let mut scanned = 0;
    loop {
        let range = DocumentRange {
            start: Bound::Unbounded,
            end: end.clone().map_or(Bound::Unbounded, Bound::Excluded),
            reverse: true,
        };
        let page = store
            .documents(tenant, KIND, range, MAX_DOCUMENTS_LISTED)
            .await?;
        let exhausted = page.len() < MAX_DOCUMENTS_LISTED;
        for document in &page {
            scanned += 1;
            let alert = parse(&document.body)?;
            if query.matches(&alert) {
                found.push(alert);
                if found.len() == limit {
                    return Ok((found, true));
                }
            }
        }
        end = page.last().map(|d| d.id.clone());
        if exhausted || scanned >= MAX_SCANNED {
            return Ok((found, !exhausted));
        }
    }
}

/// The tenant's alert `id`.
pub async fn get(store: &dyn Store, tenant: &str, id: &str) -> Result<Alert, AlertError> {
    let document = store
        .document(tenant, KIND, id)
        .await?
        .ok_or(AlertError::NotFound)?;
    Ok(parse(&document.body)?)
}

/// Moves alert `id` to `to` for `actor` (acknowledged from open; resolved from open or
/// acknowledged), with the event `alert.acknowledged` or `alert.resolved` in the trail.
pub async fn change_state(
    store: &dyn Store,
    tenant: &str,
    actor: &Value,
    id: &str,
    to: AlertState,
    note: Option<String>,
    now_ms: i64,
) -> Result<Alert, AlertError> {
    for _ in 0..5 {
        let document = store
            .document(tenant, KIND, id)
            .await?
            .ok_or(AlertError::NotFound)?;
        let mut alert = parse(&document.body)?;
        let allowed = match to {
            AlertState::Acknowledged => alert.state == AlertState::Open,
            AlertState::Resolved => alert.state != AlertState::Resolved,
            AlertState::Open => false,
        };
        if !allowed {
            return Err(AlertError::Conflict(format!(
                "the alert is {}; it cannot become {}",
                alert.state.as_str(),
                to.as_str()
            )));
        }
        let stamp = Stamp {
            by: actor["id"].as_str().unwrap_or("unknown").to_owned(),
            at: now_ms,
            note: note.clone(),
        };
        alert.state = to;
        let action = match to {
            AlertState::Acknowledged => {
                alert.acknowledged = Some(stamp);
                "alert.acknowledged"
            }
            _ => {
                alert.resolved = Some(stamp);
                "alert.resolved"
            }
        };
        let mut metadata = json!({"rule": alert.rule, "key": alert.key});
        if let Some(note) = &note {
            metadata["note"] = json!(note);
        }
        let raw = json!({
            "action": action,
            "actor": actor,
            "target": {"type": "alert", "id": id},
            "metadata": metadata,
        });
        let audit = prepare(&raw, tenant, Timestamp::now()).map_err(|e| {
            StoreError::Internal(format!("an alert change event is invalid: {e:?}"))
        })?;
        let body = serde_json::to_string(&alert).expect("an alert serialises");
        let write = DocumentWrite::put(KIND, id, Expect::Version(document.version), body);
        if store
            .write_documents(tenant, vec![write], vec![audit], now_ms)
            .await?
            .is_ok()
        {
            return Ok(alert);
        }
    }
    Err(StoreError::Unavailable("the alert kept changing; try again".into()).into())
}
