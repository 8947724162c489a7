//! The detector: rules evaluated over one tenant's events in seq order, with the state each
//! rule keeps per key (a window of recent matches, the values a user was seen with, a user's
//! last sign-in, a revoked key). Pure: no I/O. The worker loads the state an event needs
//! before it is observed ([`Detector::needs`], [`Detector::load`]) and writes back what changed
//! ([`Detector::take_changes`]) with the cursor and the alerts, in one set, so that a restart
//! neither loses nor repeats a window.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::{Deserialize, Serialize};
use trailkeep_event::Event;

use crate::field::Field;
use crate::rule::{Logic, Predicate, Rule};

/// Most matches a window keeps per key (the oldest go first).
const MAX_WINDOW: usize = 10_000;

/// Most seqs an alert names.
pub const MAX_ALERT_SEQS: usize = 100;

/// How long an impossible-travel rule remembers a sign-in.
const TRAVEL_MEMORY_US: i64 = 24 * 3600 * 1_000_000;

/// A value's last sighting is written again only when it moved by this much.
const SEEN_RESOLUTION_US: i64 = 24 * 3600 * 1_000_000;

const MINUTE_US: i64 = 60 * 1_000_000;

/// One match in a window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Match {
    /// When it happened (µs since the epoch).
    pub at: i64,
    /// Its seq.
    pub seq: u64,
    /// The value of the distinct-count field, when the rule counts one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

/// What a rule keeps for one key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum KeyState {
    /// A threshold rule's recent matches.
    Window {
        /// Matches within the window, oldest first.
        matches: Vec<Match>,
        /// When the key last raised an alert (µs).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        alerted_at: Option<i64>,
    },
    /// Values a user was seen with, and when last (µs).
    Seen {
        /// Value -> last sighting.
        values: BTreeMap<String, i64>,
        /// When the key last raised an alert (µs).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        alerted_at: Option<i64>,
    },
    /// A user's last sign-in with coordinates.
    LastSignIn {
        /// Latitude.
        lat: f64,
        /// Longitude.
        lon: f64,
        /// When (µs).
        at: i64,
        /// Its seq.
        seq: u64,
    },
    /// A key the trail recorded as revoked.
    Revoked {
        /// When (µs).
        at: i64,
        /// The revocation's seq.
        seq: u64,
        /// When its use last raised an alert (µs).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        alerted_at: Option<i64>,
    },
    /// A key's last alert, for rules that keep nothing else.
    Alerted {
        /// When (µs).
        at: i64,
    },
}

/// What a rule found.
#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    /// The rule's id.
    pub rule: String,
    /// The key it found it for (the group-by values, `|`-joined; a user; a key id).
    pub key: String,
    /// When the events behind it begin and end (µs).
    pub window: (i64, i64),
    /// The seqs of the events behind it (at most [`MAX_ALERT_SEQS`]).
    pub seqs: Vec<u64>,
    /// How many events (or distinct values) it counted.
    pub count: u64,
    /// What it saw, in words.
    pub detail: String,
}

/// The name of a rule's state for `key`: also its document's id.
pub fn state_id(rule: &str, key: &str) -> String {
    format!("{rule}/{key}")
}

/// One tenant's rules and the state they keep.
pub struct Detector {
    rules: Vec<Rule>,
    /// State by [`state_id`]; `None` when known to be absent.
    states: HashMap<String, Option<KeyState>>,
    changed: HashSet<String>,
}

impl Detector {
    /// A detector running `rules` (the disabled ones are skipped).
    pub fn new(rules: Vec<Rule>) -> Self {
        Detector {
            rules: rules.into_iter().filter(|r| r.enabled).collect(),
            states: HashMap::new(),
            changed: HashSet::new(),
        }
    }

    /// Runs `rules` from now on, keeping the state loaded so far.
    pub fn set_rules(&mut self, rules: Vec<Rule>) {
        self.rules = rules.into_iter().filter(|r| r.enabled).collect();
    }

    /// The rules it runs.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// The states `event` reads that are not loaded yet.
    pub fn needs(&self, event: &Event) -> Vec<String> {
        let mut needed = Vec::new();
        for rule in &self.rules {
            for key in keys_read(rule, event) {
                let id = state_id(&rule.id, &key);
                if !self.states.contains_key(&id) {
                    needed.push(id);
                }
            }
        }
        needed
    }

    /// Loads state `id` as stored (`None`: there is none).
    pub fn load(&mut self, id: String, state: Option<KeyState>) {
        self.states.entry(id).or_insert(state);
    }

    /// The states changed since the last call, with their new values (`None`: delete).
    pub fn take_changes(&mut self) -> Vec<(String, Option<KeyState>)> {
        let changed: Vec<String> = self.changed.drain().collect();
        changed
            .into_iter()
            .map(|id| {
                let state = self.states.get(&id).cloned().flatten();
                (id, state)
            })
            .collect()
    }

    /// Forgets every loaded state (after a failed write: what is stored is the truth).
    pub fn forget(&mut self) {
        self.states.clear();
        self.changed.clear();
    }

    /// Observes `event` (its state loaded), answering every hit it makes.
    pub fn observe(&mut self, event: &Event) -> Vec<Hit> {
        if event.action == crate::alert::ALERT_ACTION {
            return Vec::new();
        }
        let mut hits = Vec::new();
        let rules = std::mem::take(&mut self.rules);
        for rule in &rules {
            self.apply(rule, event, &mut hits);
        }
        self.rules = rules;
        hits
    }

    fn state(&mut self, id: &str) -> &mut Option<KeyState> {
        self.states.entry(id.to_owned()).or_insert(None)
    }

    fn set(&mut self, id: &str, state: Option<KeyState>) {
        self.changed.insert(id.to_owned());
        *self.state(id) = state;
    }

    fn apply(&mut self, rule: &Rule, event: &Event, hits: &mut Vec<Hit>) {
        let at = event.occurred_at.as_micros();
        let dedup = i64::from(rule.dedup_minutes) * MINUTE_US;
        let deduped = |alerted: Option<i64>| alerted.is_some_and(|a| at - a < dedup && at >= a);
        match &rule.logic {
            Logic::Threshold {
                predicate,
                group_by,
                threshold,
                window_minutes,
                distinct,
            } => {
                if !predicate.matches(event) {
                    return;
                }
                let Some(key) = group_key(group_by, event) else {
                    return;
                };
                let value = match distinct {
                    Some(field) => match field.value(event) {
                        Some(v) => Some(v),
                        None => return,
                    },
                    None => None,
                };
                let id = state_id(&rule.id, &key);
                let (mut matches, alerted_at) = match self.state(&id).take() {
                    Some(KeyState::Window {
                        matches,
                        alerted_at,
                    }) => (matches, alerted_at),
                    _ => (Vec::new(), None),
                };
                let window = i64::from(*window_minutes) * MINUTE_US;
                matches.retain(|m| m.at > at - window);
                matches.push(Match {
                    at,
                    seq: event.seq,
                    value,
                });
                if matches.len() > MAX_WINDOW {
                    matches.remove(0);
                }
                let count = match distinct {
                    Some(_) => matches
                        .iter()
                        .filter_map(|m| m.value.as_deref())
                        .collect::<HashSet<_>>()
                        .len() as u64,
                    None => matches.len() as u64,
                };
                let mut alerted = alerted_at;
                if count >= u64::from(*threshold) {
                    if !deduped(alerted_at) {
                        let what = match distinct {
                            Some(field) => format!("{count} distinct {field}"),
                            None => format!("{count} events"),
                        };
                        hits.push(Hit {
                            rule: rule.id.clone(),
                            key: key.clone(),
                            window: (matches[0].at, at),
                            seqs: matches
                                .iter()
                                .rev()
                                .take(MAX_ALERT_SEQS)
                                .rev()
                                .map(|m| m.seq)
                                .collect(),
                            count,
                            detail: format!("{what} within {window_minutes} minutes for {key}"),
                        });
                        alerted = Some(at);
                    }
                    // Counted once: the next alert needs a new run of matches.
                    matches.clear();
                }
                let state =
                    (!matches.is_empty() || alerted.is_some()).then_some(KeyState::Window {
                        matches,
                        alerted_at: alerted,
                    });
                self.set(&id, state);
            }
            Logic::NewValue {
                fields,
                remember_days,
            } => {
                if !Predicate::SuccessfulLogin.matches(event) {
                    return;
                }
                let Some(user) = user_of(event) else {
                    return;
                };
                let id = state_id(&rule.id, &user);
                let (mut values, alerted_at) = match self.state(&id).take() {
                    Some(KeyState::Seen { values, alerted_at }) => (values, alerted_at),
                    _ => (BTreeMap::new(), None),
                };
                let memory = i64::from(*remember_days) * 24 * 60 * MINUTE_US;
                let before = values.clone();
                values.retain(|_, last| *last > at - memory);
                let known = !values.is_empty();
                let mut new = Vec::new();
                for field in fields {
                    let Some(value) = field.value(event) else {
                        continue;
                    };
                    let name = format!("{field}={value}");
                    match values.get(&name) {
                        None => {
                            new.push(name.clone());
                            values.insert(name, at);
                        }
                        Some(last) if at - *last >= SEEN_RESOLUTION_US => {
                            values.insert(name, at);
                        }
                        Some(_) => {}
                    }
                }
                let mut alerted = alerted_at;
                if known && !new.is_empty() && !deduped(alerted_at) {
                    hits.push(Hit {
                        rule: rule.id.clone(),
                        key: user.clone(),
                        window: (at, at),
                        seqs: vec![event.seq],
                        count: new.len() as u64,
                        detail: format!(
                            "{user} signed in with {} not seen in {remember_days} days",
                            new.join(", ")
                        ),
                    });
                    alerted = Some(at);
                }
                if values != before || alerted != alerted_at {
                    self.set(
                        &id,
                        Some(KeyState::Seen {
                            values,
                            alerted_at: alerted,
                        }),
                    );
                } else {
                    *self.state(&id) = Some(KeyState::Seen { values, alerted_at });
                }
            }
            Logic::ImpossibleTravel { max_kmh } => {
                if !Predicate::SuccessfulLogin.matches(event) {
                    return;
                }
                let (Some(user), Some(geo)) =
                    (user_of(event), event.context.as_ref().and_then(|c| c.geo))
                else {
                    return;
                };
                let id = state_id(&rule.id, &user);
                if let Some(KeyState::LastSignIn {
                    lat,
                    lon,
                    at: then,
                    seq,
                }) = self.state(&id).clone()
                    && at >= then
                    && at - then <= TRAVEL_MEMORY_US
                {
                    let km = distance_km(lat, lon, geo.lat, geo.lon);
                    let hours = ((at - then) as f64 / 3_600_000_000.0).max(1.0 / 3600.0);
                    let speed = km / hours;
                    if km > 100.0 && speed > *max_kmh {
                        hits.push(Hit {
                            rule: rule.id.clone(),
                            key: user.clone(),
                            window: (then, at),
                            seqs: vec![seq, event.seq],
                            count: 2,
                            detail: format!("{user} signed in {km:.0} km apart in {:.1} hours ({speed:.0} km/h)", hours),
                        });
                    }
                }
                let later = match self.state(&id) {
                    Some(KeyState::LastSignIn { at: then, .. }) => at >= *then,
                    _ => true,
                };
                if later {
                    self.set(
                        &id,
                        Some(KeyState::LastSignIn {
                            lat: geo.lat,
                            lon: geo.lon,
                            at,
                            seq: event.seq,
                        }),
                    );
                }
            }
            Logic::OffHours {
                predicate,
                start_hour,
                end_hour,
                weekends_off,
            } => {
                if !predicate.matches(event)
                    || within_hours(at, *start_hour, *end_hour, *weekends_off)
                {
                    return;
                }
                let key = user_of(event).unwrap_or_else(|| "(unknown)".into());
                let id = state_id(&rule.id, &key);
                let alerted_at = match self.state(&id) {
                    Some(KeyState::Alerted { at }) => Some(*at),
                    _ => None,
                };
                if deduped(alerted_at) {
                    return;
                }
                hits.push(Hit {
                    rule: rule.id.clone(),
                    key: key.clone(),
                    window: (at, at),
                    seqs: vec![event.seq],
                    count: 1,
                    detail: format!(
                        "{} by {key} at {} UTC, outside {start_hour:02}:00-{end_hour:02}:00{}",
                        event.action,
                        &event.occurred_at.to_string()[..16].replace('T', " "),
                        if *weekends_off {
                            " Monday to Friday"
                        } else {
                            ""
                        }
                    ),
                });
                self.set(&id, Some(KeyState::Alerted { at }));
            }
            Logic::RevokedKey => {
                if Predicate::KeyRevoked.matches(event) {
                    if let Some(key) = event.target.as_ref().and_then(|t| t.id.clone()) {
                        let id = state_id(&rule.id, &key);
                        if !matches!(self.state(&id), Some(KeyState::Revoked { .. })) {
                            self.set(
                                &id,
                                Some(KeyState::Revoked {
                                    at,
                                    seq: event.seq,
                                    alerted_at: None,
                                }),
                            );
                        }
                    }
                    return;
                }
                let Some(key) = key_of(event) else {
                    return;
                };
                let id = state_id(&rule.id, &key);
                let Some(KeyState::Revoked {
                    at: revoked,
                    seq,
                    alerted_at,
                }) = self.state(&id).clone()
                else {
                    return;
                };
                if at < revoked || deduped(alerted_at) {
                    return;
                }
                hits.push(Hit {
                    rule: rule.id.clone(),
                    key: key.clone(),
                    window: (revoked, at),
                    seqs: vec![seq, event.seq],
                    count: 1,
                    detail: format!("{} by key {key} after its revocation", event.action),
                });
                self.set(
                    &id,
                    Some(KeyState::Revoked {
                        at: revoked,
                        seq,
                        alerted_at: Some(at),
                    }),
                );
            }
        }
    }
}

/// The state keys `rule` reads for `event`.
fn keys_read(rule: &Rule, event: &Event) -> Vec<String> {
    match &rule.logic {
        Logic::Threshold {
            predicate,
            group_by,
            ..
        } => {
            if predicate.matches(event) {
                group_key(group_by, event).into_iter().collect()
            } else {
                Vec::new()
            }
        }
        Logic::NewValue { .. } | Logic::ImpossibleTravel { .. } => {
            if Predicate::SuccessfulLogin.matches(event) {
                user_of(event).into_iter().collect()
            } else {
                Vec::new()
            }
        }
        Logic::OffHours { predicate, .. } => {
            if predicate.matches(event) {
                vec![user_of(event).unwrap_or_else(|| "(unknown)".into())]
            } else {
                Vec::new()
            }
        }
        Logic::RevokedKey => {
            if Predicate::KeyRevoked.matches(event) {
                event
                    .target
                    .as_ref()
                    .and_then(|t| t.id.clone())
                    .into_iter()
                    .collect()
            } else {
                key_of(event).into_iter().collect()
            }
        }
    }
}

/// The group-by values `|`-joined, or `None` when the event lacks one.
fn group_key(group_by: &[Field], event: &Event) -> Option<String> {
    if group_by.is_empty() {
        return Some("*".into());
    }
    let values: Option<Vec<String>> = group_by.iter().map(|f| f.value(event)).collect();
    values.map(|v| v.join("|"))
}

/// The user an event is of: the actor's id, or else its e-mail.
fn user_of(event: &Event) -> Option<String> {
    let actor = event.actor.as_ref()?;
    actor.id.clone().or_else(|| actor.email.clone())
}

/// The key an event was made with: `actor.token_id`, or the id of an `api_key` actor.
fn key_of(event: &Event) -> Option<String> {
    let actor = event.actor.as_ref()?;
    actor.token_id.clone().or_else(|| {
        (actor.kind.as_deref() == Some("api_key"))
            .then(|| actor.id.clone())
            .flatten()
    })
}

/// Whether `at` (µs) falls within working hours, UTC.
fn within_hours(at: i64, start: u8, end: u8, weekends_off: bool) -> bool {
    let seconds = at.div_euclid(1_000_000);
    let days = seconds.div_euclid(86_400);
    let hour = (seconds.rem_euclid(86_400) / 3600) as u8;
    // 1970-01-01 was a Thursday: day 0 is weekday 3 counting Monday as 0.
    let weekday = (days + 3).rem_euclid(7);
    (start..end).contains(&hour) && !(weekends_off && weekday >= 5)
}

/// The great-circle distance between two points, in km (haversine, mean Earth radius).
pub fn distance_km(lat1: f64, lon1: f64, lat2: f64, lon2: f64) -> f64 {
    let (p1, p2) = (lat1.to_radians(), lat2.to_radians());
    let dp = (lat2 - lat1).to_radians();
    let dl = (lon2 - lon1).to_radians();
    let a = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
    2.0 * 6371.0 * a.sqrt().asin()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distances_and_working_hours() {
        // Riyadh to London: about 4,930 km.
        let km = distance_km(24.7136, 46.6753, 51.5072, -0.1276);
        assert!((4900.0..4960.0).contains(&km), "{km}");
        // 2026-12-07 is a Monday.
        let monday_noon = trailkeep_event::Timestamp::parse("2026-12-07T12:00:00Z")
            .unwrap()
            .as_micros();
        assert!(within_hours(monday_noon, 8, 18, true));
        assert!(!within_hours(monday_noon + 7 * 3_600_000_000, 8, 18, true));
        assert!(
            !within_hours(monday_noon - 2 * 86_400_000_000, 8, 18, true),
            "a Saturday"
        );
        assert!(within_hours(monday_noon - 2 * 86_400_000_000, 8, 18, false));
    }
}
