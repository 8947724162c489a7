//! The searchable terms of an event: full-text tokens and `metadata.<path>=<value>` pairs.
//!
//! A path joins object keys with `.`, and the term joins the path and the value with `=`; a key
//! that holds `.`, `=` or `\` has them escaped with `\` ([`escape_metadata_key`]), so that
//! `{"a.b": 1}` and `{"a": {"b": 1}}` give different terms (`a\.b=1` and `a.b=1`), and the
//! first unescaped `=` of a term always ends its path. A filter names such a key escaped too:
//! `metadata.a\.b=1`.
//!
//! Both the query index and `Filter::matches` get an event's terms from these functions, so the
//! index and the filter cannot disagree about what `q=murabaha` or `metadata.amount=5` matches:
//! the index stores exactly these strings as terms, and the filter compares against them.

use serde_json::{Map, Value};

use crate::model::Event;

/// Longest token kept, in bytes; longer runs of letters are not searchable words.
pub const MAX_TOKEN_BYTES: usize = 64;
/// Longest metadata value (in bytes) that `metadata.<path>=<value>` can match.
pub const MAX_METADATA_VALUE_BYTES: usize = 256;
/// Deepest metadata path that is indexed.
const MAX_METADATA_PATH_DEPTH: usize = 8;

/// Splits text into lowercase words: maximal runs of alphanumeric characters, each at most
/// [`MAX_TOKEN_BYTES`] long (longer runs are dropped).
pub fn tokenize(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|word| !word.is_empty() && word.len() <= MAX_TOKEN_BYTES)
        .map(str::to_lowercase)
}

/// Every full-text token of the event: from the action, description, actor id, name and e-mail,
/// target type, id and name, location, and every string or number in `metadata`. Sorted and
/// without repeats.
pub fn event_tokens(event: &Event) -> Vec<String> {
    let mut tokens = Vec::new();
    let mut add = |text: Option<&str>| {
        if let Some(text) = text {
            tokens.extend(tokenize(text));
        }
    };
    add(Some(&event.action));
    add(event.description.as_deref());
    if let Some(actor) = &event.actor {
        add(actor.id.as_deref());
        add(actor.name.as_deref());
        add(actor.email.as_deref());
    }
    if let Some(target) = &event.target {
        add(target.kind.as_deref());
        add(target.id.as_deref());
        add(target.name.as_deref());
    }
    add(event.context.as_ref().and_then(|c| c.location.as_deref()));
    if let Some(metadata) = &event.metadata {
        metadata
            .values()
            .for_each(|value| scalar_tokens(value, &mut tokens));
    }
    tokens.sort_unstable();
    tokens.dedup();
    tokens
}

/// Adds the tokens of every string and number in `value` to `out`.
fn scalar_tokens(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::String(s) => out.extend(tokenize(s)),
        Value::Number(n) => out.extend(tokenize(&n.to_string())),
        Value::Array(items) => items.iter().for_each(|v| scalar_tokens(v, out)),
        Value::Object(map) => map.values().for_each(|v| scalar_tokens(v, out)),
        Value::Bool(_) | Value::Null => {}
    }
}

/// The text of a scalar metadata value as `metadata.<path>=<value>` compares it: strings as
/// they are, numbers as JSON writes them, booleans as `true`/`false`; `None` for null.
fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Joins a metadata path (keys escaped, joined with `.`) and value into the one term the index
/// stores: `path=value`.
pub fn metadata_term(path: &str, value: &str) -> String {
    format!("{path}={value}")
}

/// A metadata key as it stands in a path: `\`, `.` and `=` escaped with `\`.
pub fn escape_metadata_key(key: &str) -> std::borrow::Cow<'_, str> {
    if !key.contains(['\\', '.', '=']) {
        return std::borrow::Cow::Borrowed(key);
    }
    let mut escaped = String::with_capacity(key.len() + 4);
    for c in key.chars() {
        if matches!(c, '\\' | '.' | '=') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    std::borrow::Cow::Owned(escaped)
}

/// Every `path=value` term of the event's metadata. Paths join object keys with `.`; an array
/// contributes each element under the array's own path. Values longer than
/// [`MAX_METADATA_VALUE_BYTES`] and paths deeper than 8 are not indexed. Sorted, no repeats.
pub fn metadata_terms(metadata: Option<&Map<String, Value>>) -> Vec<String> {
    let mut terms = Vec::new();
    if let Some(map) = metadata {
        for (key, value) in map {
            walk_metadata(&escape_metadata_key(key), value, 1, &mut terms);
        }
    }
    terms.sort();
    terms.dedup();
    terms
}

fn walk_metadata(path: &str, value: &Value, depth: usize, out: &mut Vec<String>) {
    if depth > MAX_METADATA_PATH_DEPTH {
        return;
    }
    match value {
        Value::Object(map) => {
            for (key, inner) in map {
                let path = format!("{path}.{}", escape_metadata_key(key));
                walk_metadata(&path, inner, depth + 1, out);
            }
        }
        Value::Array(items) => {
            for item in items {
                walk_metadata(path, item, depth, out);
            }
        }
        scalar => {
            if let Some(text) = scalar_text(scalar)
                && text.len() <= MAX_METADATA_VALUE_BYTES
            {
                out.push(metadata_term(path, &text));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn tokens_are_lowercase_alphanumeric_runs() {
        let words: Vec<String> =
            tokenize("Created MURABAHA-17, for user@Example.com; naïve").collect();
        assert_eq!(
            words,
            [
                "created", "murabaha", "17", "for", "user", "example", "com", "naïve"
            ]
        );
        assert_eq!(tokenize(&"x".repeat(65)).count(), 0);
    }

    /// `{"a.b": 1}` and `{"a": {"b": 1}}` used to give the same term, so a filter for one
    /// matched the other; so did `{"a=1": 2}` and `{"a": "1=2"}`.
    #[test]
    fn keys_holding_dots_or_equals_signs_are_escaped_so_terms_are_unambiguous() {
        let terms = |value: Value| {
            let Value::Object(map) = value else {
                unreachable!()
            };
            metadata_terms(Some(&map))
        };
        assert_eq!(terms(json!({"a.b": 1})), [r"a\.b=1"]);
        assert_eq!(terms(json!({"a": {"b": 1}})), ["a.b=1"]);
        assert_eq!(terms(json!({"a=1": 2})), [r"a\=1=2"]);
        assert_eq!(terms(json!({"a": "1=2"})), ["a=1=2"]);
        assert_eq!(terms(json!({r"a\": {"b": 1}})), [r"a\\.b=1"]);
        assert_eq!(terms(json!({r"a\.b": 1})), [r"a\\\.b=1"]);
    }

    #[test]
    fn metadata_terms_flatten_objects_and_arrays() {
        let Value::Object(map) = json!({
            "amount": "500000.00", "count": 5, "ok": true, "none": null,
            "party": {"name": "Acme", "tags": ["a", "b"]}, "long": "x".repeat(300)
        }) else {
            unreachable!()
        };
        assert_eq!(
            metadata_terms(Some(&map)),
            [
                "amount=500000.00",
                "count=5",
                "ok=true",
                "party.name=Acme",
                "party.tags=a",
                "party.tags=b"
            ]
        );
    }
}
