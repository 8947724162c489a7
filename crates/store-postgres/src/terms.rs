//! The searchable terms of an event as the `events.terms` column holds them, and the term a
//! filter condition asks for: both from one place, so the SQL and `Filter::matches` agree.
//!
//! A term is text: full-text tokens are `t:<token>`, metadata pairs `m:<path>=<value>`, and
//! the named fields without a column of their own `f:<path>=<value>` (the value normalised as
//! [`EventField::term`] does). The column holds each term's key: the first 8 bytes of its
//! SHA-256, as a `bigint`. A GIN index compares and stores 8-byte integers faster and smaller
//! than text (a quarter less of the database's work per appended event, measured), and terms
//! of any length fit. Two terms with the same key would match each other's queries; with 64
//! bits, that takes some four billion distinct terms in one tenant for even odds of one such
//! pair, and choosing a term to collide with a given one is a 64-bit second preimage of
//! SHA-256. Either way, it gives a writer no more than writing the term itself does: an event
//! of its own tenant in the answers to that term.

use sha2::{Digest, Sha256};
use trailkeep_event::{Event, EventField, event_tokens, metadata_terms};

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

/// The key of the term made of `prefix` and the `parts` after it.
fn key(prefix: &str, parts: &[&str]) -> i64 {
    let mut hasher = Sha256::new();
    hasher.update(prefix.as_bytes());
    parts.iter().for_each(|p| hasher.update(p.as_bytes()));
    let digest = hasher.finalize();
    i64::from_be_bytes(digest[..8].try_into().expect("SHA-256 has 32 bytes"))
}

/// The key of full-text token `token`'s term.
pub fn token_term(token: &str) -> i64 {
    key("t:", &[token])
}

/// The key of metadata pair `pair`'s term (`path=value`).
pub fn metadata_term(pair: &str) -> i64 {
    key("m:", &[pair])
}

/// The key of the term of `field` having `value` (normalised as the field normalises values).
pub fn field_term(field: EventField, value: &str) -> i64 {
    key("f:", &[field.path(), "=", &field.normalize(value)])
}

/// The keys of every term of `event`, without repeats.
pub fn event_terms(event: &Event) -> Vec<i64> {
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
    terms.sort_unstable();
    terms.dedup();
    terms
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_terms_key_is_the_first_eight_bytes_of_its_sha256() {
        // The key is the first 8 bytes of the term's SHA-256, big-endian.
        let digest = Sha256::digest(b"t:acme");
        let expected = i64::from_be_bytes(digest[..8].try_into().unwrap());
        assert_eq!(token_term("acme"), expected);
        assert_ne!(token_term("acme"), metadata_term("acme"));
        let long = "x".repeat(500);
        assert_eq!(
            field_term(EventField::RequestUri, &long),
            field_term(EventField::RequestUri, &long)
        );
        assert_ne!(
            field_term(EventField::RequestUri, &long),
            field_term(EventField::RequestUri, &"y".repeat(500))
        );
    }

    #[test]
    fn e_mail_terms_ignore_ascii_case() {
        assert_eq!(
            field_term(EventField::ActorEmail, "A@Example.COM"),
            field_term(EventField::ActorEmail, "a@example.com")
        );
    }
}
