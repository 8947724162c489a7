//! The searchable terms of an event as the `events.terms` column holds them, and the term a
//! filter condition asks for: both from one place, so the SQL and `Filter::matches` agree.
//!
//! Full-text tokens are `t:<token>`, metadata pairs `m:<path>=<value>`, and the named fields
//! without a column of their own `f:<path>=<value>` (the value normalised as
//! [`EventField::term`] does). A term longer than [`LONGEST_TERM`] bytes is stored as
//! `h:` and its SHA-256, since a GIN index entry cannot hold an arbitrary length; the query
//! side hashes the same way, so equality is unchanged.

use sha2::{Digest, Sha256};
use trailkeep_event::{Event, EventField, event_tokens, metadata_terms};

/// Longest term stored as it is, in bytes.
pub const LONGEST_TERM: usize = 240;

/// The column holding `field`, when it has one.
pub fn column_of(field: EventField) -> Option<&'static str> {
    Some(match field {
        EventField::Id => "id",
        EventField::Action => "action",
        EventField::Category => "category",
        EventField::Outcome => "outcome",
        EventField::ActorType => "actor_type",
        EventField::ActorId => "actor_id",
        EventField::TargetType => "target_type",
        EventField::TargetId => "target_id",
        _ => return None,
    })
}

/// A term as stored: `prefix` and the `parts` after it, or `h:` and the hash of that when it
/// is long. Made in one allocation: an event has some thirty terms, each made on every append.
fn stored(prefix: &str, parts: &[&str]) -> String {
    let len = prefix.len() + parts.iter().map(|p| p.len()).sum::<usize>();
    let mut term = String::with_capacity(len);
    term.push_str(prefix);
    parts.iter().for_each(|p| term.push_str(p));
    if term.len() <= LONGEST_TERM {
        term
    } else {
        format!("h:{}", hex::encode(Sha256::digest(term.as_bytes())))
    }
}

/// The term of full-text token `token`.
pub fn token_term(token: &str) -> String {
    stored("t:", &[token])
}

/// The term of metadata pair `pair` (`path=value`).
pub fn metadata_term(pair: &str) -> String {
    stored("m:", &[pair])
}

/// The term of `field` having `value` (normalised as the field normalises values).
pub fn field_term(field: EventField, value: &str) -> String {
    stored("f:", &[field.path(), "=", &field.normalize(value)])
}

/// Every term of `event`, without repeats: the named fields' terms, then the metadata pairs',
/// then the tokens' (each group is free of repeats, and the prefixes keep them apart).
pub fn event_terms(event: &Event) -> Vec<String> {
    let tokens = event_tokens(event);
    let pairs = metadata_terms(event.metadata.as_ref());
    let mut terms = Vec::with_capacity(tokens.len() + pairs.len() + 4);
    terms.extend(
        EventField::ALL
            .into_iter()
            .filter(|f| column_of(*f).is_none())
            .filter_map(|f| f.value(event).map(|v| field_term(f, &v))),
    );
    terms.extend(pairs.iter().map(|p| metadata_term(p)));
    terms.extend(tokens.iter().map(|t| token_term(t)));
    terms
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_terms_are_hashed_alike_on_both_sides() {
        let long = "x".repeat(500);
        let term = field_term(EventField::RequestUri, &long);
        assert!(term.starts_with("h:") && term.len() == 66, "{term}");
        assert_eq!(term, field_term(EventField::RequestUri, &long));
        assert_ne!(term, field_term(EventField::RequestUri, &"y".repeat(500)));
        assert_eq!(token_term("acme"), "t:acme");
    }

    #[test]
    fn e_mail_terms_ignore_ascii_case() {
        assert_eq!(
            field_term(EventField::ActorEmail, "A@Example.COM"),
            field_term(EventField::ActorEmail, "a@example.com")
        );
    }
}
