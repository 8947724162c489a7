//! What a reader asks for: a [`Filter`] over events, and a [`Query`] that pages through the
//! matches in `occurred_at` order.
//!
//! `Filter::matches` is the one definition of what a filter means. Engines may answer from an
//! index, but anything they read straight from the system of record (such as writes the index has
//! not caught up with) is filtered by this function, so both paths agree.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::fields::FieldMatch;
use crate::model::{Category, Event, Outcome};
use crate::timestamp::Timestamp;

/// Largest page a query may ask for.
pub const MAX_PAGE: u32 = 1000;

/// Conditions an event must meet; every set condition must hold. Serialised (as a background
/// job's parameters) field by field.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Filter {
    /// `occurred_at >= since`.
    pub since: Option<Timestamp>,
    /// `occurred_at < until`.
    pub until: Option<Timestamp>,
    /// Any of these actions; a pattern ending in `*` matches by prefix (`contract.*`).
    pub actions: Vec<String>,
    /// Any of these categories.
    pub categories: Vec<Category>,
    /// This outcome.
    pub outcome: Option<Outcome>,
    /// `actor.id` equals this.
    pub actor_id: Option<String>,
    /// `actor.email` equals this (ASCII case-insensitively).
    pub actor_email: Option<String>,
    /// `actor.type` equals this.
    pub actor_type: Option<String>,
    /// `target.type` equals this.
    pub target_type: Option<String>,
    /// `target.id` equals this.
    pub target_id: Option<String>,
    /// `context.ip_address` equals this.
    pub ip: Option<String>,
    /// Full text: every one of these tokens (from [`tokenize`](crate::tokenize)) is among the
    /// event's [`event_tokens`](crate::event_tokens).
    pub text: Vec<String>,
    /// `metadata.<path>=<value>`: every one of these `path=value` terms is among the event's
    /// [`metadata_terms`](crate::metadata_terms).
    pub metadata: Vec<String>,
    /// Conditions on named fields, each positive or negated (the dialects').
    pub fields: Vec<FieldMatch>,
}

impl Filter {
    /// Whether `event` meets every condition.
    pub fn matches(&self, event: &Event) -> bool {
        let actor = event.actor.as_ref();
        let target = event.target.as_ref();
        let ip = event.context.as_ref().and_then(|c| c.ip_address.as_deref());
        self.since.is_none_or(|t| event.occurred_at >= t)
            && self.until.is_none_or(|t| event.occurred_at < t)
            && (self.actions.is_empty()
                || self
                    .actions
                    .iter()
                    .any(|p| action_matches(p, &event.action)))
            && (self.categories.is_empty() || self.categories.contains(&event.category))
            && self.outcome.is_none_or(|o| o == event.outcome)
            && equal(&self.actor_id, actor.and_then(|a| a.id.as_deref()))
            && self.actor_email.as_deref().is_none_or(|want| {
                actor
                    .and_then(|a| a.email.as_deref())
                    .is_some_and(|e| e.eq_ignore_ascii_case(want))
            })
            && equal(&self.actor_type, actor.and_then(|a| a.kind.as_deref()))
            && equal(&self.target_type, target.and_then(|t| t.kind.as_deref()))
            && equal(&self.target_id, target.and_then(|t| t.id.as_deref()))
            && equal(&self.ip, ip)
            && (self.text.is_empty() || {
                let tokens = crate::terms::event_tokens(event);
                self.text.iter().all(|t| tokens.binary_search(t).is_ok())
            })
            && (self.metadata.is_empty() || {
                let terms = crate::terms::metadata_terms(event.metadata.as_ref());
                self.metadata.iter().all(|t| terms.binary_search(t).is_ok())
            })
            && self.fields.iter().all(|f| f.matches(event))
    }
}

fn equal(want: &Option<String>, have: Option<&str>) -> bool {
    want.as_deref().is_none_or(|w| have == Some(w))
}

/// Whether `action` matches `pattern` (exact, or by prefix when the pattern ends in `*`).
pub fn action_matches(pattern: &str, action: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => action.starts_with(prefix),
        None => pattern == action,
    }
}

/// Direction of a listing by (`occurred_at`, `seq`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Order {
    /// Newest first (the default).
    #[default]
    Desc,
    /// Oldest first.
    Asc,
}

/// A position in a listing: the (`occurred_at`, `seq`) of the last event returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Cursor {
    /// `occurred_at` of the last event returned, in microseconds.
    pub occurred_at: i64,
    /// `seq` of the last event returned.
    pub seq: u64,
}

impl Cursor {
    /// The position just after `event`.
    pub fn after(event: &Event) -> Self {
        Self {
            occurred_at: event.occurred_at.as_micros(),
            seq: event.seq,
        }
    }

    /// The opaque text form handed to clients (versioned, URL-safe).
    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(format!("v1.{}.{}", self.occurred_at, self.seq))
    }

    /// Parses [`Cursor::encode`]'s output; `None` for anything else.
    pub fn decode(text: &str) -> Option<Self> {
        if text.len() > 128 {
            return None;
        }
        let raw = URL_SAFE_NO_PAD.decode(text).ok()?;
        let raw = std::str::from_utf8(&raw).ok()?;
        let mut parts = raw.split('.');
        if parts.next()? != "v1" {
            return None;
        }
        let occurred_at = parts.next()?.parse().ok()?;
        let seq = parts.next()?.parse().ok()?;
        parts.next().is_none().then_some(Self { occurred_at, seq })
    }

    /// Whether an event at `position` comes after this cursor in `order`.
    pub fn precedes(&self, position: Cursor, order: Order) -> bool {
        match order {
            Order::Asc => position > *self,
            Order::Desc => position < *self,
        }
    }
}

/// A page request: which events, in what order, how many, from where.
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    /// Which events.
    pub filter: Filter,
    /// Listing order.
    pub order: Order,
    /// Page size, 1 to [`MAX_PAGE`].
    pub limit: u32,
    /// Continue after this position.
    pub after: Option<Cursor>,
    /// Skip this many matches first (for `page`/`per_page` listings).
    pub offset: u64,
    /// Also count every match (the page's `total`).
    pub count_total: bool,
}

impl Query {
    /// The first page of `filter` in `order`, `limit` at a time.
    pub fn first_page(filter: Filter, order: Order, limit: u32) -> Self {
        Self {
            filter,
            order,
            limit,
            after: None,
            offset: 0,
            count_total: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_round_trip_and_rejects_garbage() {
        let c = Cursor {
            occurred_at: -5,
            seq: 42,
        };
        assert_eq!(Cursor::decode(&c.encode()), Some(c));
        for bad in ["", "abc", "djEuMS4y.", &URL_SAFE_NO_PAD.encode("v2.1.2")] {
            assert_eq!(Cursor::decode(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_filter_survives_json_whole() {
        let filter = Filter {
            since: Some(Timestamp::parse("2026-01-01T00:00:00Z").unwrap()),
            actions: vec!["doc.*".into()],
            categories: vec![Category::Login],
            outcome: Some(Outcome::Failure),
            actor_email: Some("a@example.com".into()),
            metadata: vec!["party.name=Acme".into()],
            fields: vec![FieldMatch {
                field: crate::EventField::ZoneName,
                values: vec!["example.com".into()],
                negate: true,
            }],
            ..Filter::default()
        };
        let json = serde_json::to_string(&filter).unwrap();
        assert_eq!(serde_json::from_str::<Filter>(&json).unwrap(), filter);
        assert_eq!(
            serde_json::from_str::<Filter>("{}").unwrap(),
            Filter::default()
        );
        assert!(serde_json::from_str::<Filter>(r#"{"actorid":"x"}"#).is_err());
    }

    #[test]
    fn action_patterns() {
        assert!(action_matches("contract.*", "contract.created"));
        assert!(!action_matches("contract.*", "user.created"));
        assert!(action_matches("user.login", "user.login"));
        assert!(!action_matches("user.login", "user.login_failed"));
    }
}
