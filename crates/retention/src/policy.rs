//! A tenant's retention policy: how many days after it occurred an event is kept, by default
//! and by action or category. Kept as one document per tenant; every change is an event in the
//! tenant's trail, written with it.

use serde::{Deserialize, Serialize};
use serde_json::json;
use trailkeep_event::{Category, Event, action_matches};
use trailkeep_store::documents::{DocumentWrite, Expect};
use trailkeep_store::{Store, StoreError};

use crate::{Actor, RetentionError, audit_event};

/// The kind of the policy document (one per tenant, id [`POLICY_ID`]).
pub const POLICY_KIND: &str = "retention-policy";
/// The id of the policy document.
pub const POLICY_ID: &str = "policy";
/// Most overrides a policy holds.
pub const MAX_OVERRIDES: usize = 100;
/// The longest period a policy may name: a hundred years.
pub const MAX_DAYS: u32 = 36_500;
/// Longest action pattern of an override.
const MAX_PATTERN_CHARS: usize = 128;

/// How long events are kept.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Policy {
    /// Days an event is kept after it occurred when no override names it; `None`: the
    /// server's default (which may be "forever").
    pub default_days: Option<u32>,
    /// Periods for some actions or categories, the most specific first: an override by action
    /// wins over one by category, a longer action pattern over a shorter one.
    pub overrides: Vec<Override>,
}

/// A period for the events of one action (exact, or a prefix ending in `*`) or one category.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Override {
    /// The action, or a prefix ending in `*` (`user.*`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    /// The category.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<Category>,
    /// Days its events are kept.
    pub days: u32,
}

/// A policy as stored, with who changed it last and when.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredPolicy {
    /// The policy.
    #[serde(flatten)]
    pub policy: Policy,
    /// When it was last changed (ms since the epoch); 0 when never.
    pub updated_at: i64,
    /// Who changed it last (the actor's id).
    pub updated_by: String,
}

impl Policy {
    /// Checks the bounds: periods of 1 to [`MAX_DAYS`] days, at most [`MAX_OVERRIDES`]
    /// overrides, each naming an action or a category (not both), none twice.
    pub fn check(&self) -> Result<(), RetentionError> {
        let invalid = |m: String| Err(RetentionError::Invalid(m));
        if let Some(days) = self.default_days
            && !(1..=MAX_DAYS).contains(&days)
        {
            return invalid(format!("default_days: from 1 to {MAX_DAYS}"));
        }
        if self.overrides.len() > MAX_OVERRIDES {
            return invalid(format!("overrides: at most {MAX_OVERRIDES}"));
        }
        for (i, o) in self.overrides.iter().enumerate() {
            if !(1..=MAX_DAYS).contains(&o.days) {
                return invalid(format!("overrides[{i}].days: from 1 to {MAX_DAYS}"));
            }
            match (&o.action, &o.category) {
                (Some(action), None) => {
                    let stem = action.strip_suffix('*').unwrap_or(action);
                    if stem.is_empty()
                        || stem.contains('*')
                        || action.chars().count() > MAX_PATTERN_CHARS
                    {
                        return invalid(format!(
                            "overrides[{i}].action: an action, or a prefix ending in '*', of \
                             at most {MAX_PATTERN_CHARS} characters"
                        ));
                    }
                }
                (None, Some(_)) => {}
                _ => {
                    return invalid(format!(
                        "overrides[{i}]: name either an action or a category"
                    ));
                }
            }
            if self.overrides[..i]
                .iter()
                .any(|p| p.action == o.action && p.category == o.category)
            {
                return invalid(format!("overrides[{i}]: named twice"));
            }
        }
        Ok(())
    }

    /// Days `event` is kept under this policy, with `server_default` for what it leaves open;
    /// `None`: forever.
    pub fn days_for(&self, event: &Event, server_default: Option<u32>) -> Option<u32> {
        let by_action = self
            .overrides
            .iter()
            .filter_map(|o| Some((o.action.as_deref()?, o.days)))
            .filter(|(pattern, _)| action_matches(pattern, &event.action))
            .max_by_key(|(pattern, _)| (!pattern.ends_with('*'), pattern.len()))
            .map(|(_, days)| days);
        by_action
            .or_else(|| {
                self.overrides
                    .iter()
                    .find(|o| o.category == Some(event.category))
                    .map(|o| o.days)
            })
            .or(self.default_days)
            .or(server_default)
    }
}

/// The tenant's policy (the default one, with no periods, when it never set one).
pub async fn get(store: &dyn Store, tenant: &str) -> Result<StoredPolicy, RetentionError> {
    match store.document(tenant, POLICY_KIND, POLICY_ID).await? {
        Some(document) => serde_json::from_str(&document.body).map_err(|e| {
            RetentionError::Store(StoreError::Internal(format!(
                "the retention policy does not parse: {e}"
            )))
        }),
        None => Ok(StoredPolicy::default()),
    }
}

/// Replaces the tenant's policy, recording the change (`audit.retention.updated`, with the
/// policy before and after) in its trail.
pub async fn set(
    store: &dyn Store,
    tenant: &str,
    actor: &Actor,
    policy: Policy,
    now: i64,
) -> Result<StoredPolicy, RetentionError> {
    policy.check()?;
    let before = get(store, tenant).await?;
    let stored = StoredPolicy {
        policy,
        updated_at: now,
        updated_by: actor["id"].as_str().unwrap_or("unknown").to_owned(),
    };
    let audit = audit_event(
        tenant,
        "audit.retention.updated",
        actor,
        ("retention_policy", POLICY_ID),
        json!({"before": before.policy, "after": stored.policy}),
    )?;
    let body = serde_json::to_string(&stored).expect("a policy serialises");
    store
        .write_documents(
            tenant,
            vec![DocumentWrite::put(
                POLICY_KIND,
                POLICY_ID,
                Expect::Anything,
                body,
            )],
            vec![audit],
            now,
        )
        .await?
        .map_err(|_| {
            StoreError::Internal("a policy write without expectation conflicted".into())
        })?;
    Ok(stored)
}

#[cfg(test)]
mod tests {
    use super::*;
    use trailkeep_event::{Timestamp, prepare};

    fn event(action: &str) -> Event {
        prepare(&json!({"action": action}), "t", Timestamp::now())
            .unwrap()
            .event
    }

    fn by_action(action: &str, days: u32) -> Override {
        Override {
            action: Some(action.into()),
            category: None,
            days,
        }
    }

    #[test]
    fn the_most_specific_period_wins() {
        let policy = Policy {
            default_days: Some(30),
            overrides: vec![
                Override {
                    action: None,
                    category: Some(Category::Login),
                    days: 90,
                },
                by_action("user.*", 60),
                by_action("user.login", 7),
            ],
        };
        assert_eq!(policy.days_for(&event("user.login"), None), Some(7));
        assert_eq!(policy.days_for(&event("user.logout"), None), Some(60));
        assert_eq!(policy.days_for(&event("session.login"), None), Some(90));
        assert_eq!(policy.days_for(&event("doc.read"), None), Some(30));
        let open = Policy::default();
        assert_eq!(open.days_for(&event("doc.read"), Some(365)), Some(365));
        assert_eq!(open.days_for(&event("doc.read"), None), None);
    }

    #[test]
    fn bounds_are_checked() {
        let bad = [
            Policy {
                default_days: Some(0),
                overrides: vec![],
            },
            Policy {
                default_days: None,
                overrides: vec![by_action("", 3)],
            },
            Policy {
                default_days: None,
                overrides: vec![by_action("a.*.b", 3)],
            },
            Policy {
                default_days: None,
                overrides: vec![by_action("a", 3), by_action("a", 4)],
            },
            Policy {
                default_days: None,
                overrides: vec![Override {
                    action: Some("a".into()),
                    category: Some(Category::Read),
                    days: 1,
                }],
            },
        ];
        for policy in bad {
            assert!(policy.check().is_err(), "{policy:?}");
        }
        assert!(
            Policy {
                default_days: Some(30),
                overrides: vec![by_action("user.login", 7)]
            }
            .check()
            .is_ok()
        );
    }
}
