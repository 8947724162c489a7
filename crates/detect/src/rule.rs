//! Rules: what events a rule looks at ([`Predicate`]), what makes a hit ([`Logic`], with
//! Panther's semantics: a filter, a group-by key, a threshold within a window, an optional
//! distinct-count field, a deduplication period), and the built-in rules every tenant has,
//! with the thresholds of the research notes (section 4).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use trailkeep_event::{Category, Event, Filter, Outcome};

use crate::field::Field;

/// How urgent a rule's alerts are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// For the record.
    Info,
    /// Worth a look.
    Low,
    /// Worth a look soon.
    Medium,
    /// Look now.
    High,
    /// Look now, and wake someone.
    Critical,
}

impl Severity {
    /// Its name on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
}

/// Which events a rule looks at.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Predicate {
    /// Events matching a filter of the listing's language (a tenant's own rules).
    Filter(Box<Filter>),
    /// Sign-ins that failed.
    FailedLogin,
    /// Sign-ins that succeeded.
    SuccessfulLogin,
    /// Deletions.
    Deletion,
    /// Exports and downloads.
    Export,
    /// Reads and views.
    Read,
    /// A role or administrative right granted (`user.role_assigned`, `admin.added`, ...).
    AdminGranted,
    /// Multi-factor authentication turned off (`user.mfa_disabled`, `2fa.removed`, ...).
    MfaDisabled,
    /// An API key or token made (`api_key.created`, `token.issued`, ...).
    KeyCreated,
    /// An API key or token revoked (`api_key.revoked`, `token.deleted`, ...): its id is the
    /// event's target id.
    KeyRevoked,
}

/// The words of an action: split at every character that is not a letter or digit.
fn words(action: &str) -> impl Iterator<Item = &str> {
    action
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
}

/// Whether `action` holds one of the words `set`, in any case.
fn has_word(action: &str, set: &[&str]) -> bool {
    words(action).any(|w| set.iter().any(|s| s.eq_ignore_ascii_case(w)))
}

/// Whether `action` holds one of the words `nouns` and one of the words `verbs`.
fn says(action: &str, nouns: &[&str], verbs: &[&str]) -> bool {
    has_word(action, nouns) && has_word(action, verbs)
}

const KEY_NOUNS: [&str; 9] = [
    "key",
    "keys",
    "apikey",
    "apikeys",
    "accesskey",
    "token",
    "tokens",
    "credential",
    "credentials",
];

impl Predicate {
    /// Whether `event` is one of the rule's.
    pub fn matches(&self, event: &Event) -> bool {
        let login = event.category == Category::Login;
        match self {
            Predicate::Filter(filter) => filter.matches(event),
            Predicate::FailedLogin => login && event.outcome == Outcome::Failure,
            Predicate::SuccessfulLogin => login && event.outcome == Outcome::Success,
            Predicate::Deletion => event.category == Category::Delete,
            Predicate::Export => event.category == Category::Export,
            Predicate::Read => event.category == Category::Read,
            Predicate::AdminGranted => {
                event.outcome != Outcome::Failure
                    && says(
                        &event.action,
                        &[
                            "admin",
                            "administrator",
                            "role",
                            "roles",
                            "owner",
                            "superuser",
                            "privilege",
                            "privileges",
                        ],
                        &[
                            "grant", "granted", "assign", "assigned", "add", "added", "promote",
                            "promoted", "elevate", "elevated",
                        ],
                    )
            }
            Predicate::MfaDisabled => {
                let action = event.action.as_str();
                let mfa = has_word(
                    action,
                    &["mfa", "2fa", "otp", "totp", "twofactor", "u2f", "webauthn"],
                ) || (has_word(action, &["two"]) && has_word(action, &["factor"]));
                event.outcome != Outcome::Failure
                    && mfa
                    && has_word(
                        action,
                        &[
                            "disable",
                            "disabled",
                            "remove",
                            "removed",
                            "deactivate",
                            "deactivated",
                            "delete",
                            "deleted",
                            "reset",
                            "off",
                        ],
                    )
            }
            Predicate::KeyCreated => {
                event.outcome != Outcome::Failure
                    && says(
                        &event.action,
                        &KEY_NOUNS,
                        &[
                            "create",
                            "created",
                            "generate",
                            "generated",
                            "issue",
                            "issued",
                            "add",
                            "added",
                        ],
                    )
            }
            Predicate::KeyRevoked => {
                event.outcome != Outcome::Failure
                    && says(
                        &event.action,
                        &KEY_NOUNS,
                        &[
                            "revoke",
                            "revoked",
                            "delete",
                            "deleted",
                            "disable",
                            "disabled",
                            "deactivate",
                            "deactivated",
                        ],
                    )
            }
        }
    }
}

/// What makes a hit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Logic {
    /// At least `threshold` matching events with one key (or that many distinct values of
    /// `distinct` among them) within `window_minutes`.
    Threshold {
        /// The events counted.
        predicate: Predicate,
        /// The key events are grouped by; an event without every field is not counted.
        group_by: Vec<Field>,
        /// How many make a hit.
        threshold: u32,
        /// Within how long.
        window_minutes: u32,
        /// Count distinct values of this field instead of events.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        distinct: Option<Field>,
    },
    /// A successful sign-in from a location or device the user has not signed in from within
    /// `remember_days` (a user's first sign-in only starts the memory).
    NewValue {
        /// The fields whose values are remembered.
        fields: Vec<Field>,
        /// How long a value is remembered.
        remember_days: u32,
    },
    /// Two successful sign-ins of one user, both with coordinates (`context.geo`), farther
    /// apart than `max_kmh` allows in the time between them (and more than 100 km apart);
    /// the earlier one is forgotten after a day.
    ImpossibleTravel {
        /// The fastest plausible travel.
        max_kmh: f64,
    },
    /// A matching event outside working hours (UTC).
    OffHours {
        /// The events looked at.
        predicate: Predicate,
        /// When working hours start (hour of the day, 0-23).
        start_hour: u8,
        /// When they end (hour of the day, 1-24).
        end_hour: u8,
        /// Whether Saturdays and Sundays are outside them.
        weekends_off: bool,
    },
    /// Any event by a key (`actor.token_id`, or `actor.id` of an actor of type `api_key`)
    /// after the trail recorded the key's revocation.
    RevokedKey,
}

/// A rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rule {
    /// Its id: a built-in's name, or `rul_` and a ULID.
    pub id: String,
    /// What it is called.
    pub name: String,
    /// What it finds.
    pub description: String,
    /// How urgent its alerts are.
    pub severity: Severity,
    /// Whether it runs.
    pub enabled: bool,
    /// Whether it is one of the built-in rules (which can be tuned and disabled, not deleted).
    pub builtin: bool,
    /// After an alert, how long the same key raises no other.
    pub dedup_minutes: u32,
    /// What makes a hit.
    pub logic: Logic,
    /// A custom rule's filter as written (the parameters of `GET /v1/events`).
    #[serde(default)]
    pub filter_params: Map<String, Value>,
}

impl Rule {
    /// Whether the rule reads more of an event than who did what to what, where and when: a
    /// filter, or a `metadata.` field. Detection parses the rest of each event only for a
    /// tenant with such a rule.
    pub fn reads_whole_events(&self) -> bool {
        let filter = |p: &Predicate| matches!(p, Predicate::Filter(_));
        let metadata = |f: &Field| matches!(f, Field::Metadata(_));
        match &self.logic {
            Logic::Threshold {
                predicate,
                group_by,
                distinct,
                ..
            } => {
                filter(predicate) || group_by.iter().any(metadata) || distinct.iter().any(metadata)
            }
            Logic::NewValue { fields, .. } => fields.iter().any(metadata),
            Logic::OffHours { predicate, .. } => filter(predicate),
            Logic::ImpossibleTravel { .. } | Logic::RevokedKey => false,
        }
    }

    /// Whether the rule's settings are sound; says which is not.
    pub fn check(&self) -> Result<(), String> {
        let bounded = |name: &str, value: u32, low: u32, high: u32| {
            if (low..=high).contains(&value) {
                Ok(())
            } else {
                Err(format!("{name}: from {low} to {high}"))
            }
        };
        bounded("dedup_minutes", self.dedup_minutes, 0, 7 * 24 * 60)?;
        if self.name.trim().is_empty() || self.name.chars().count() > 200 {
            return Err("name: 1 to 200 characters".into());
        }
        if self.description.chars().count() > 1000 {
            return Err("description: at most 1000 characters".into());
        }
        match &self.logic {
            Logic::Threshold {
                group_by,
                threshold,
                window_minutes,
                ..
            } => {
                bounded("threshold", *threshold, 1, 100_000)?;
                bounded("window_minutes", *window_minutes, 1, 7 * 24 * 60)?;
                if group_by.len() > 4 {
                    return Err("group_by: at most 4 fields".into());
                }
            }
            Logic::NewValue {
                remember_days,
                fields,
            } => {
                bounded("remember_days", *remember_days, 1, 365)?;
                if fields.is_empty() {
                    return Err("fields: at least one".into());
                }
            }
            Logic::ImpossibleTravel { max_kmh } => {
                if !(100.0..=20_000.0).contains(max_kmh) {
                    return Err("max_kmh: from 100 to 20000".into());
                }
            }
            Logic::OffHours {
                start_hour,
                end_hour,
                ..
            } => {
                if *start_hour >= *end_hour || *end_hour > 24 {
                    return Err(
                        "working hours: start_hour before end_hour, both within 0-24".into(),
                    );
                }
            }
            Logic::RevokedKey => {}
        }
        Ok(())
    }
}

fn builtin(
    id: &str,
    name: &str,
    description: &str,
    severity: Severity,
    dedup_minutes: u32,
    logic: Logic,
) -> Rule {
    Rule {
        id: id.to_owned(),
        name: name.to_owned(),
        description: description.to_owned(),
        severity,
        enabled: true,
        builtin: true,
        dedup_minutes,
        logic,
        filter_params: Map::new(),
    }
}

fn threshold(
    predicate: Predicate,
    group_by: &[Field],
    threshold: u32,
    window_minutes: u32,
    distinct: Option<Field>,
) -> Logic {
    Logic::Threshold {
        predicate,
        group_by: group_by.to_vec(),
        threshold,
        window_minutes,
        distinct,
    }
}

/// The built-in rules, on for every tenant, as they ship.
pub fn builtins() -> Vec<Rule> {
    use Field::{ActorId, Ip, TargetId};
    vec![
        builtin(
            "failed-login-burst-user",
            "Failed sign-in burst for one user",
            "20 failed sign-ins of one user within an hour (Panther brute_force_by_user).",
            Severity::Medium,
            60,
            threshold(Predicate::FailedLogin, &[ActorId], 20, 60, None),
        ),
        builtin(
            "failed-login-burst-ip",
            "Failed sign-in burst from one address",
            "20 failed sign-ins from one IP address within an hour (Panther brute_force_by_ip).",
            Severity::Medium,
            60,
            threshold(Predicate::FailedLogin, &[Ip], 20, 60, None),
        ),
        builtin(
            "password-spraying",
            "Password spraying",
            "Failed sign-ins of 10 different users from one IP address within an hour (Panther aws_cloudtrail_password_spraying).",
            Severity::High,
            60,
            threshold(Predicate::FailedLogin, &[Ip], 10, 60, Some(ActorId)),
        ),
        builtin(
            "new-login-location",
            "Sign-in from a new location or device",
            "A user signs in from a location or device not seen for them in the last 28 days (Panther notion_login_from_new_location).",
            Severity::Medium,
            60,
            Logic::NewValue {
                fields: vec![Field::Location, Field::Device],
                remember_days: 28,
            },
        ),
        builtin(
            "impossible-travel",
            "Impossible travel",
            "Two sign-ins of one user farther apart than 900 km/h allows (Panther impossible_travel_login); needs context.geo.",
            Severity::High,
            60,
            Logic::ImpossibleTravel { max_kmh: 900.0 },
        ),
        builtin(
            "mass-delete",
            "Mass deletion",
            "One actor deletes 11 different things within an hour (Panther gsuite_drive_many_docs_deleted).",
            Severity::Medium,
            60,
            threshold(Predicate::Deletion, &[ActorId], 11, 60, Some(TargetId)),
        ),
        builtin(
            "mass-export",
            "Mass export",
            "One actor exports or downloads 10 times within an hour (Panther notion_many_pages_exported).",
            Severity::High,
            60,
            threshold(Predicate::Export, &[ActorId], 10, 60, None),
        ),
        builtin(
            "mass-read",
            "Mass read",
            "One actor reads 50 different things within 30 minutes (after Panther k8s_secret_enumeration, 15 secrets in 30 minutes, raised for ordinary documents).",
            Severity::Medium,
            60,
            threshold(Predicate::Read, &[ActorId], 50, 30, Some(TargetId)),
        ),
        builtin(
            "admin-granted",
            "Administrative role granted",
            "A role or administrative right is granted (Panther admin_assigned).",
            Severity::Medium,
            60,
            threshold(Predicate::AdminGranted, &[ActorId], 1, 60, None),
        ),
        builtin(
            "mfa-disabled",
            "Multi-factor authentication disabled",
            "Multi-factor authentication is turned off (Panther mfa_disabled).",
            Severity::High,
            60,
            threshold(Predicate::MfaDisabled, &[ActorId], 1, 60, None),
        ),
        builtin(
            "api-key-off-hours",
            "API key created outside working hours",
            "An API key or token is made outside 08:00-18:00 UTC, Monday to Friday.",
            Severity::Medium,
            60,
            Logic::OffHours {
                predicate: Predicate::KeyCreated,
                start_hour: 8,
                end_hour: 18,
                weekends_off: true,
            },
        ),
        builtin(
            "revoked-key-activity",
            "Activity by a revoked key",
            "An event is recorded for a key after the trail recorded its revocation.",
            Severity::High,
            60,
            Logic::RevokedKey,
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(action: &str) -> Event {
        trailkeep_event::prepare(
            &serde_json::json!({"action": action}),
            "t",
            trailkeep_event::Timestamp::now(),
        )
        .unwrap()
        .into_event(0)
    }

    #[test]
    fn built_in_predicates_read_the_common_spellings() {
        for (action, predicate) in [
            ("user.role_assigned", Predicate::AdminGranted),
            ("admin.added", Predicate::AdminGranted),
            ("org.owner.promoted", Predicate::AdminGranted),
            ("user.mfa_disabled", Predicate::MfaDisabled),
            ("two_factor.removed", Predicate::MfaDisabled),
            ("account.2fa.disable", Predicate::MfaDisabled),
            ("api_key.created", Predicate::KeyCreated),
            ("token.issued", Predicate::KeyCreated),
            ("trailkeep.api_key.created", Predicate::KeyCreated),
            ("api_key.revoked", Predicate::KeyRevoked),
        ] {
            assert!(
                predicate.matches(&event(action)),
                "{action} is {predicate:?}"
            );
        }
        for (action, predicate) in [
            ("role.updated", Predicate::AdminGranted),
            ("user.mfa_enabled", Predicate::MfaDisabled),
            ("contract.created", Predicate::KeyCreated),
            ("keyboard.revoked", Predicate::KeyRevoked),
        ] {
            assert!(
                !predicate.matches(&event(action)),
                "{action} is not {predicate:?}"
            );
        }
    }

    #[test]
    fn every_built_in_rule_is_sound() {
        let rules = builtins();
        for rule in &rules {
            rule.check().unwrap();
        }
        let mut ids: Vec<&str> = rules.iter().map(|r| r.id.as_str()).collect();
        ids.dedup();
        assert_eq!(ids.len(), rules.len());
    }
}
