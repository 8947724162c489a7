//! A tenant's rules: the built-in ones as they ship, overlaid with the tenant's tuning, and the
//! tenant's own, all documents (`rule`/`<id>`) changed with an event in the trail
//! (`rule.created`, `rule.updated`, `rule.deleted`).

use serde_json::{Map, Value, json};
use trailkeep_event::{Filter, Timestamp, prepare};
use trailkeep_store::documents::{DocumentRange, DocumentWrite, Expect};
use trailkeep_store::{Store, StoreError};

use crate::field::Field;
use crate::rule::{Logic, Predicate, Rule, Severity, builtins};

/// The kind of rule documents.
pub const KIND: &str = "rule";

/// Most rules of its own a tenant may have.
pub const MAX_CUSTOM_RULES: usize = 200;

/// Why a rules call was refused.
#[derive(Debug, thiserror::Error)]
pub enum RuleError {
    /// The tenant has no such rule.
    #[error("no such rule")]
    NotFound,
    /// The request is not acceptable; the text says why.
    #[error("{0}")]
    Invalid(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A rule of the tenant's own: a threshold over a filter.
#[derive(Debug, Clone, PartialEq)]
pub struct NewRule {
    /// What it is called.
    pub name: String,
    /// What it finds.
    pub description: String,
    /// How urgent its alerts are.
    pub severity: Severity,
    /// The events it counts, parsed.
    pub filter: Filter,
    /// The filter as written.
    pub filter_params: Map<String, Value>,
    /// The key events are grouped by.
    pub group_by: Vec<Field>,
    /// How many make a hit.
    pub threshold: u32,
    /// Within how long.
    pub window_minutes: u32,
    /// Count distinct values of this field instead of events.
    pub distinct: Option<Field>,
    /// After an alert, how long the same key raises no other.
    pub dedup_minutes: u32,
}

/// A change to a rule: each field given replaces the rule's own; a field that does not apply
/// to the rule's kind is refused.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RuleUpdate {
    /// A new name.
    pub name: Option<String>,
    /// A new description.
    pub description: Option<String>,
    /// A new severity.
    pub severity: Option<Severity>,
    /// On or off.
    pub enabled: Option<bool>,
    /// A new deduplication period.
    pub dedup_minutes: Option<u32>,
    /// A new threshold (threshold rules).
    pub threshold: Option<u32>,
    /// A new window (threshold rules).
    pub window_minutes: Option<u32>,
    /// A new group-by key (threshold rules).
    pub group_by: Option<Vec<Field>>,
    /// A new distinct-count field, or none (threshold rules).
    pub distinct: Option<Option<Field>>,
    /// A new filter, parsed and as written (the tenant's own rules).
    pub filter: Option<(Filter, Map<String, Value>)>,
    /// How long values are remembered (new-location rules).
    pub remember_days: Option<u32>,
    /// The fastest plausible travel (impossible-travel rules).
    pub max_kmh: Option<f64>,
    /// When working hours start (off-hours rules).
    pub start_hour: Option<u8>,
    /// When they end (off-hours rules).
    pub end_hour: Option<u8>,
    /// Whether weekends are outside them (off-hours rules).
    pub weekends_off: Option<bool>,
}

fn parse(body: &str) -> Result<Rule, StoreError> {
    serde_json::from_str(body).map_err(|e| StoreError::Corrupt(format!("a rule: {e}")))
}

/// The tenant's rules: each built-in one (as the tenant tuned it), then its own in the order
/// they were made; with each stored rule's document version (`None`: a built-in as shipped).
pub async fn effective_versions(
    store: &dyn Store,
    tenant: &str,
) -> Result<Vec<(Rule, Option<u64>)>, StoreError> {
    let stored = store
        .documents(tenant, KIND, DocumentRange::all(), MAX_CUSTOM_RULES + 64)
        .await?;
    let mut rules: Vec<(Rule, Option<u64>)> = builtins().into_iter().map(|r| (r, None)).collect();
    for document in stored {
        let rule = parse(&document.body)?;
        match rules.iter_mut().find(|(r, _)| r.id == rule.id) {
            Some(slot) => *slot = (rule, Some(document.version)),
            None => rules.push((rule, Some(document.version))),
        }
    }
    Ok(rules)
}

/// The tenant's rules, built-in ones first.
pub async fn effective(store: &dyn Store, tenant: &str) -> Result<Vec<Rule>, StoreError> {
    Ok(effective_versions(store, tenant)
        .await?
        .into_iter()
        .map(|(r, _)| r)
        .collect())
}

/// The tenant's rule `id`, with its document's version.
async fn find(store: &dyn Store, tenant: &str, id: &str) -> Result<(Rule, Option<u64>), RuleError> {
    effective_versions(store, tenant)
        .await?
        .into_iter()
        .find(|(r, _)| r.id == id)
        .ok_or(RuleError::NotFound)
}

/// The tenant's rule `id`.
pub async fn get(store: &dyn Store, tenant: &str, id: &str) -> Result<Rule, RuleError> {
    Ok(find(store, tenant, id).await?.0)
}

fn rule_event(
    tenant: &str,
    action: &str,
    actor: &Value,
    rule: &Rule,
) -> Result<trailkeep_event::PreparedEvent, StoreError> {
    let raw = json!({
        "action": action,
        "actor": actor,
        "target": {"type": "rule", "id": rule.id, "name": rule.name},
        "metadata": {"rule": serde_json::to_value(rule).unwrap_or(Value::Null)},
    });
    prepare(&raw, tenant, Timestamp::now())
        .map_err(|e| StoreError::Internal(format!("a rule event is invalid: {e:?}")))
}

/// Makes a rule of the tenant's own.
pub async fn create(
    store: &dyn Store,
    tenant: &str,
    actor: &Value,
    new: NewRule,
    now_ms: i64,
) -> Result<Rule, RuleError> {
    let rule = Rule {
        id: format!("rul_{}", ulid::Ulid::new().to_string().to_lowercase()),
        name: new.name,
        description: new.description,
        severity: new.severity,
        enabled: true,
        builtin: false,
        dedup_minutes: new.dedup_minutes,
        logic: Logic::Threshold {
            predicate: Predicate::Filter(Box::new(new.filter)),
            group_by: new.group_by,
            threshold: new.threshold,
            window_minutes: new.window_minutes,
            distinct: new.distinct,
        },
        filter_params: new.filter_params,
    };
    rule.check().map_err(RuleError::Invalid)?;
    let own = effective(store, tenant)
        .await?
        .iter()
        .filter(|r| !r.builtin)
        .count();
    if own >= MAX_CUSTOM_RULES {
        return Err(RuleError::Invalid(format!(
            "a tenant has at most {MAX_CUSTOM_RULES} rules of its own"
        )));
    }
    let audit = rule_event(tenant, "rule.created", actor, &rule)?;
    let body = serde_json::to_string(&rule).expect("a rule serialises");
    store
        .write_documents(
            tenant,
            vec![DocumentWrite::put(KIND, &rule.id, Expect::Absent, body)],
            vec![audit],
            now_ms,
        )
        .await?
        .map_err(|_| StoreError::Internal("a new rule id was taken".into()))?;
    Ok(rule)
}

fn not_for(field: &str, rule: &Rule) -> RuleError {
    RuleError::Invalid(format!("{field} does not apply to rule {}", rule.id))
}

/// Applies `update` to `rule`.
fn apply(rule: &mut Rule, update: RuleUpdate) -> Result<(), RuleError> {
    if let Some(name) = update.name {
        rule.name = name;
    }
    if let Some(description) = update.description {
        rule.description = description;
    }
    if let Some(severity) = update.severity {
        rule.severity = severity;
    }
    if let Some(enabled) = update.enabled {
        rule.enabled = enabled;
    }
    if let Some(dedup) = update.dedup_minutes {
        rule.dedup_minutes = dedup;
    }
    let builtin = rule.builtin;
    let id = rule.id.clone();
    let snapshot = rule.clone();
    match &mut rule.logic {
        Logic::Threshold {
            predicate,
            group_by,
            threshold,
            window_minutes,
            distinct,
        } => {
            if let Some(v) = update.threshold {
                *threshold = v;
            }
            if let Some(v) = update.window_minutes {
                *window_minutes = v;
            }
            if let Some(v) = update.group_by {
                *group_by = v;
            }
            if let Some(v) = update.distinct {
                *distinct = v;
            }
            if let Some((filter, params)) = update.filter {
                if builtin {
                    return Err(RuleError::Invalid(format!(
                        "filter: the built-in rule {id} keeps its own; make a rule of your own"
                    )));
                }
                *predicate = Predicate::Filter(Box::new(filter));
                rule.filter_params = params;
            }
            for (given, field) in [
                (update.remember_days.is_some(), "remember_days"),
                (update.max_kmh.is_some(), "max_kmh"),
                (
                    update.start_hour.is_some()
                        || update.end_hour.is_some()
                        || update.weekends_off.is_some(),
                    "working hours",
                ),
            ] {
                if given {
                    return Err(not_for(field, &snapshot));
                }
            }
        }
        other => {
            for (given, field) in [
                (update.threshold.is_some(), "threshold"),
                (update.window_minutes.is_some(), "window_minutes"),
                (update.group_by.is_some(), "group_by"),
                (update.distinct.is_some(), "distinct"),
                (update.filter.is_some(), "filter"),
            ] {
                if given {
                    return Err(not_for(field, &snapshot));
                }
            }
            match other {
                Logic::NewValue { remember_days, .. } => {
                    if let Some(v) = update.remember_days {
                        *remember_days = v;
                    }
                }
                Logic::ImpossibleTravel { max_kmh } => {
                    if let Some(v) = update.max_kmh {
                        *max_kmh = v;
                    }
                }
                Logic::OffHours {
                    start_hour,
                    end_hour,
                    weekends_off,
                    ..
                } => {
                    if let Some(v) = update.start_hour {
                        *start_hour = v;
                    }
                    if let Some(v) = update.end_hour {
                        *end_hour = v;
                    }
                    if let Some(v) = update.weekends_off {
                        *weekends_off = v;
                    }
                }
                _ => {}
            }
            let wrong = match other {
                Logic::NewValue { .. } => {
                    update.max_kmh.is_some()
                        || update.start_hour.is_some()
                        || update.end_hour.is_some()
                        || update.weekends_off.is_some()
                }
                Logic::ImpossibleTravel { .. } => {
                    update.remember_days.is_some()
                        || update.start_hour.is_some()
                        || update.end_hour.is_some()
                        || update.weekends_off.is_some()
                }
                Logic::OffHours { .. } => {
                    update.remember_days.is_some() || update.max_kmh.is_some()
                }
                _ => {
                    update.remember_days.is_some()
                        || update.max_kmh.is_some()
                        || update.start_hour.is_some()
                        || update.end_hour.is_some()
                        || update.weekends_off.is_some()
                }
            };
            if wrong {
                return Err(RuleError::Invalid(format!(
                    "a setting given does not apply to rule {id}"
                )));
            }
        }
    }
    rule.check().map_err(RuleError::Invalid)
}

/// Tunes or changes rule `id`.
pub async fn update(
    store: &dyn Store,
    tenant: &str,
    actor: &Value,
    id: &str,
    update: RuleUpdate,
    now_ms: i64,
) -> Result<Rule, RuleError> {
    let (mut rule, version) = find(store, tenant, id).await?;
    apply(&mut rule, update)?;
    let audit = rule_event(tenant, "rule.updated", actor, &rule)?;
    let expect = version.map_or(Expect::Absent, Expect::Version);
    let body = serde_json::to_string(&rule).expect("a rule serialises");
    store
        .write_documents(
            tenant,
            vec![DocumentWrite::put(KIND, id, expect, body)],
            vec![audit],
            now_ms,
        )
        .await?
        .map_err(|_| StoreError::Unavailable("the rule changed meanwhile; try again".into()))?;
    Ok(rule)
}

/// Deletes rule `id` of the tenant's own; a built-in rule goes back to how it shipped.
pub async fn delete(
    store: &dyn Store,
    tenant: &str,
    actor: &Value,
    id: &str,
    now_ms: i64,
) -> Result<(), RuleError> {
    let (rule, version) = find(store, tenant, id).await?;
    let Some(version) = version else {
        return Err(RuleError::Invalid(format!(
            "the built-in rule {id} is as it shipped; disable it with enabled: false"
        )));
    };
    let action = if rule.builtin {
        "rule.reset"
    } else {
        "rule.deleted"
    };
    let audit = rule_event(tenant, action, actor, &rule)?;
    store
        .write_documents(
            tenant,
            vec![DocumentWrite::delete(KIND, id, Expect::Version(version))],
            vec![audit],
            now_ms,
        )
        .await?
        .map_err(|_| StoreError::Unavailable("the rule changed meanwhile; try again".into()))?;
    Ok(())
}
