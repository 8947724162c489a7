//! Legal holds: while one stands, the events it covers are removed neither by retention nor by
//! an erasure. Each hold is a document of its tenant; placing and lifting one are events in
//! the tenant's trail, written with it. A lifted hold is kept, with who lifted it and why.

use std::ops::Bound;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use trailkeep_event::{Event, Filter};
use trailkeep_store::documents::{DocumentRange, DocumentWrite, Expect};
use trailkeep_store::{Store, StoreError};

use crate::{Actor, RetentionError, audit_event};

/// The kind of hold documents (id: the hold's id).
pub const HOLD_KIND: &str = "legal-hold";
/// Most holds (standing or lifted) a tenant keeps.
pub const MAX_HOLDS: usize = 1000;
/// Longest reason, in characters.
pub const MAX_REASON_CHARS: usize = 1000;

/// What a hold covers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Scope {
    /// Every event of the tenant.
    Tenant,
    /// The events of one actor (`actor.id`).
    Actor {
        /// The actor's id.
        id: String,
    },
    /// The events done to one target (`target.id`, and `target.type` when given).
    Target {
        /// The target's type, when it matters.
        #[serde(
            default,
            skip_serializing_if = "Option::is_none",
            rename = "target_type"
        )]
        kind: Option<String>,
        /// The target's id.
        id: String,
    },
    /// The events a listing filter matches.
    Filter {
        /// The filter, parsed (boxed: it is much larger than the other scopes).
        filter: Box<Filter>,
        /// The filter as written (the parameters of `GET /v1/events`).
        params: Map<String, Value>,
    },
}

impl Scope {
    /// Whether `event` falls under it.
    pub fn covers(&self, event: &Event) -> bool {
        match self {
            Scope::Tenant => true,
            Scope::Actor { id } => event.actor.as_ref().and_then(|a| a.id.as_ref()) == Some(id),
            Scope::Target { kind, id } => event.target.as_ref().is_some_and(|t| {
                t.id.as_ref() == Some(id)
                    && kind.as_ref().is_none_or(|k| t.kind.as_ref() == Some(k))
            }),
            Scope::Filter { filter, .. } => filter.matches(event),
        }
    }

    fn described(&self) -> Value {
        match self {
            Scope::Filter { params, .. } => json!({"type": "filter", "filter": params}),
            other => serde_json::to_value(other).unwrap_or(Value::Null),
        }
    }
}

/// A legal hold.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hold {
    /// `hold_` and a ULID.
    pub id: String,
    /// What it covers.
    pub scope: Scope,
    /// Why it was placed (a matter, a case number).
    pub reason: String,
    /// Who placed it (the actor's id).
    pub placed_by: String,
    /// When (ms since the epoch).
    pub placed_at: i64,
    /// When it was lifted; `None` while it stands.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lifted_at: Option<i64>,
    /// Who lifted it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lifted_by: Option<String>,
    /// Why it was lifted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lift_reason: Option<String>,
}

impl Hold {
    /// Whether it still stands.
    pub fn stands(&self) -> bool {
        self.lifted_at.is_none()
    }
}

/// The holds standing over a tenant's events, as a removal checks them.
#[derive(Debug, Clone, Default)]
pub struct Holds(Vec<Hold>);

impl Holds {
    /// The tenant's standing holds.
    pub async fn standing(store: &dyn Store, tenant: &str) -> Result<Self, RetentionError> {
        let all = list(store, tenant, None, MAX_HOLDS).await?;
        Ok(Self(all.into_iter().filter(Hold::stands).collect()))
    }

    /// The first standing hold covering `event`.
    pub fn covering(&self, event: &Event) -> Option<&Hold> {
        self.0.iter().find(|hold| hold.scope.covers(event))
    }
}

fn check_reason(field: &str, reason: &str) -> Result<(), RetentionError> {
    if reason.trim().is_empty() || reason.chars().count() > MAX_REASON_CHARS {
        return Err(RetentionError::Invalid(format!(
            "{field}: say why, in 1 to {MAX_REASON_CHARS} characters"
        )));
    }
    Ok(())
}

/// Places a hold on the tenant's events, recording it (`audit.legal_hold.placed`).
pub async fn place(
    store: &dyn Store,
    tenant: &str,
    actor: &Actor,
    scope: Scope,
    reason: String,
    now: i64,
) -> Result<Hold, RetentionError> {
    check_reason("reason", &reason)?;
    let existing = store
        .documents(tenant, HOLD_KIND, DocumentRange::all(), MAX_HOLDS)
        .await?;
    if existing.len() >= MAX_HOLDS {
        return Err(RetentionError::Invalid(format!(
            "a tenant keeps at most {MAX_HOLDS} legal holds"
        )));
    }
    let hold = Hold {
        id: format!("hold_{}", ulid::Ulid::new().to_string().to_lowercase()),
        scope,
        reason,
        placed_by: actor["id"].as_str().unwrap_or("unknown").to_owned(),
        placed_at: now,
        lifted_at: None,
        lifted_by: None,
        lift_reason: None,
    };
    let audit = audit_event(
        tenant,
        "audit.legal_hold.placed",
        actor,
        ("legal_hold", &hold.id),
        json!({"scope": hold.scope.described(), "reason": hold.reason}),
    )?;
    let body = serde_json::to_string(&hold).expect("a hold serialises");
    store
        .write_documents(
            tenant,
            vec![DocumentWrite::put(
                HOLD_KIND,
                &hold.id,
                Expect::Absent,
                body,
            )],
            vec![audit],
            now,
        )
        .await?
        .map_err(|_| StoreError::Internal("a new hold id was taken".into()))?;
    Ok(hold)
}

/// Lifts the tenant's standing hold `id`, recording it (`audit.legal_hold.lifted`).
pub async fn lift(
    store: &dyn Store,
    tenant: &str,
    actor: &Actor,
    id: &str,
    reason: String,
    now: i64,
) -> Result<Hold, RetentionError> {
    check_reason("reason", &reason)?;
    let document = store
        .document(tenant, HOLD_KIND, id)
        .await?
        .ok_or(RetentionError::NotFound)?;
    let mut hold: Hold = decode(&document.body)?;
    if !hold.stands() {
        return Err(RetentionError::Invalid(
            "the hold was lifted already".into(),
        ));
    }
    hold.lifted_at = Some(now);
    hold.lifted_by = Some(actor["id"].as_str().unwrap_or("unknown").to_owned());
    hold.lift_reason = Some(reason);
    let audit = audit_event(
        tenant,
        "audit.legal_hold.lifted",
        actor,
        ("legal_hold", id),
        json!({"scope": hold.scope.described(), "reason": hold.lift_reason}),
    )?;
    let body = serde_json::to_string(&hold).expect("a hold serialises");
    let written = store
        .write_documents(
            tenant,
            vec![DocumentWrite::put(
                HOLD_KIND,
                id,
                Expect::Version(document.version),
                body,
            )],
            vec![audit],
            now,
        )
        .await?;
    if written.is_err() {
        return Err(RetentionError::Invalid(
            "the hold changed meanwhile; read it again".into(),
        ));
    }
    Ok(hold)
}

/// The tenant's hold `id`.
pub async fn get(store: &dyn Store, tenant: &str, id: &str) -> Result<Hold, RetentionError> {
    let document = store
        .document(tenant, HOLD_KIND, id)
        .await?
        .ok_or(RetentionError::NotFound)?;
    decode(&document.body)
}

/// The tenant's holds, standing and lifted, oldest first, after `after` when given.
pub async fn list(
    store: &dyn Store,
    tenant: &str,
    after: Option<&str>,
    limit: usize,
) -> Result<Vec<Hold>, RetentionError> {
    let range = DocumentRange {
        start: after.map_or(Bound::Unbounded, |a| Bound::Excluded(a.to_owned())),
        end: Bound::Unbounded,
        reverse: false,
    };
    store
        .documents(tenant, HOLD_KIND, range, limit.min(MAX_HOLDS))
        .await?
        .iter()
        .map(|d| decode(&d.body))
        .collect()
}

fn decode(body: &str) -> Result<Hold, RetentionError> {
    serde_json::from_str(body).map_err(|e| {
        RetentionError::Store(StoreError::Internal(format!(
            "a legal hold does not parse: {e}"
        )))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use trailkeep_event::{Timestamp, prepare};

    #[test]
    fn scopes_cover_what_they_name() {
        let event = prepare(
            &json!({"action": "doc.read", "actor": {"id": "u1"}, "target": {"type": "doc", "id": "d9"}}),
            "t",
            Timestamp::now(),
        )
        .unwrap()
        .event;
        assert!(Scope::Tenant.covers(&event));
        assert!(Scope::Actor { id: "u1".into() }.covers(&event));
        assert!(!Scope::Actor { id: "u2".into() }.covers(&event));
        assert!(
            Scope::Target {
                kind: None,
                id: "d9".into()
            }
            .covers(&event)
        );
        assert!(
            !Scope::Target {
                kind: Some("user".into()),
                id: "d9".into()
            }
            .covers(&event)
        );
        let filter = Filter {
            actions: vec!["doc.*".into()],
            ..Filter::default()
        };
        assert!(
            Scope::Filter {
                filter: Box::new(filter),
                params: Map::new()
            }
            .covers(&event)
        );
    }
}
