//! RFC 8785 JSON Canonicalization Scheme (JCS).
//!
//! The ledger hashes an event's canonical bytes, so two servers (or a server and an auditor's
//! script) must produce exactly the same bytes for the same event. JCS fixes the three things plain
//! JSON leaves open: object member order (sorted by UTF-16 code units), string escaping (only the
//! mandatory escapes, lowercase `\u00xx`), and number formatting (ECMAScript `Number.toString`,
//! done by `ryu-js`).
//!
//! Why by hand over a canonicalisation crate: JCS works on IEEE doubles, so an integer above 2^53
//! would be silently rounded and the stored bytes would no longer say what the client sent. This
//! writer refuses such numbers instead ([`CanonicalError::UnsafeInteger`]), and it can emit an
//! object with a hole for the server-assigned `seq` (see [`canonical_with_slot`]), which lets the
//! single ledger writer finish an event's bytes without re-serialising it.

use serde_json::{Map, Number, Value};

mod check;

pub use check::{CanonicalFault, check_canonical};

/// Largest integer magnitude a JCS number (an IEEE double) carries exactly: 2^53.
pub const MAX_SAFE_INTEGER: u64 = 1 << 53;

/// Why a value has no canonical form.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CanonicalError {
    /// An integer beyond ±2^53, which an IEEE double cannot hold exactly.
    #[error("integer {0} is outside ±2^53 and cannot be represented exactly")]
    UnsafeInteger(String),
    /// A number that is not finite (serde_json never produces one, but the type allows it).
    #[error("number is not finite")]
    NonFinite,
}

/// Returns the RFC 8785 canonical bytes of `value`.
pub fn canonicalize(value: &Value) -> Result<Vec<u8>, CanonicalError> {
    let mut out = Vec::with_capacity(256);
    write_value(&mut out, value)?;
    Ok(out)
}

/// Checks that every number in `value` has an exact canonical form.
pub fn check_numbers(value: &Value) -> Result<(), CanonicalError> {
    match value {
        Value::Number(n) => number_text(n).map(|_| ()),
        Value::Array(items) => items.iter().try_for_each(check_numbers),
        Value::Object(map) => map.values().try_for_each(check_numbers),
        _ => Ok(()),
    }
}

/// Canonicalises the object `map` as if it also held the member `slot` (which `map` must not
/// contain), and returns the bytes before and after that member's value.
///
/// `head` ends with `"slot":` and `tail` starts right after the value, so
/// `head + value_text + tail` is the canonical form of the object with the member filled in, for
/// any value whose canonical text is `value_text`.
pub fn canonical_with_slot(
    map: &Map<String, Value>,
    slot: &str,
) -> Result<(Vec<u8>, Vec<u8>), CanonicalError> {
    let mut keys: Vec<&str> = map.keys().map(String::as_str).collect();
    keys.push(slot);
    keys.sort_by(|a, b| utf16_cmp(a, b));
    let mut head = Vec::with_capacity(512);
    let mut tail = Vec::new();
    head.push(b'{');
    let mut out = &mut head;
    for (i, key) in keys.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_string(out, key);
        out.push(b':');
        if *key == slot {
            out = &mut tail;
        } else {
            write_value(out, &map[*key])?;
        }
    }
    out.push(b'}');
    Ok((head, tail))
}

fn write_value(out: &mut Vec<u8>, value: &Value) -> Result<(), CanonicalError> {
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Number(n) => out.extend_from_slice(number_text(n)?.as_bytes()),
        Value::String(s) => write_string(out, s),
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_value(out, item)?;
            }
            out.push(b']');
        }
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| utf16_cmp(a.0, b.0));
            out.push(b'{');
            for (i, (key, item)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_string(out, key);
                out.push(b':');
                write_value(out, item)?;
            }
            out.push(b'}');
        }
    }
    Ok(())
}

/// The ECMAScript text of a number, refusing integers beyond ±2^53.
fn number_text(n: &Number) -> Result<String, CanonicalError> {
    if let Some(u) = n.as_u64() {
        if u > MAX_SAFE_INTEGER {
            return Err(CanonicalError::UnsafeInteger(u.to_string()));
        }
        return Ok(u.to_string());
    }
    if let Some(i) = n.as_i64() {
        if i.unsigned_abs() > MAX_SAFE_INTEGER {
            return Err(CanonicalError::UnsafeInteger(i.to_string()));
        }
        return Ok(i.to_string());
    }
    float_text(n.as_f64().ok_or(CanonicalError::NonFinite)?)
}

/// The ECMAScript text of a double, refusing integral ones beyond ±2^53 that it would print as
/// plain digits.
fn float_text(f: f64) -> Result<String, CanonicalError> {
    if !f.is_finite() {
        return Err(CanonicalError::NonFinite);
    }
    if f == 0.0 {
        // ECMAScript prints -0 as "0".
        return Ok("0".to_owned());
    }
    // ECMAScript prints integral doubles below 10^21 as plain digits: one beyond 2^53 would be
    // stored as an integer literal that this very writer refuses when the stored bytes are read
    // back (5555555555555550000.5 parses to such a double).
    if f.fract() == 0.0 && f.abs() > MAX_SAFE_INTEGER as f64 && f.abs() < 1e21 {
        return Err(CanonicalError::UnsafeInteger(format!("{f:.0}")));
    }
    let mut buffer = ryu_js::Buffer::new();
    Ok(buffer.format_finite(f).to_owned())
}

fn write_string(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let escape: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            0x08 => b"\\b",
            0x0c => b"\\f",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x00..=0x1f => b"",
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        if escape.is_empty() {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            out.extend_from_slice(b"\\u00");
            out.push(HEX[usize::from(b >> 4)]);
            out.push(HEX[usize::from(b & 0xf)]);
        } else {
            out.extend_from_slice(escape);
        }
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

/// Orders strings by their UTF-16 code units, as RFC 8785 section 3.2.3 requires.
fn utf16_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    a.encode_utf16().cmp(b.encode_utf16())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn integers_beyond_two_to_the_53_are_refused() {
        assert!(canonicalize(&json!(9_007_199_254_740_992u64)).is_ok());
        assert_eq!(
            canonicalize(&json!(9_007_199_254_740_993u64)),
            Err(CanonicalError::UnsafeInteger("9007199254740993".into()))
        );
        assert!(canonicalize(&json!(-9_007_199_254_740_993i64)).is_err());
    }

    #[test]
    fn slot_splits_around_the_missing_member() {
        let Value::Object(map) = json!({"a": 1, "z": [true], "r": "x"}) else {
            unreachable!()
        };
        let (head, tail) = canonical_with_slot(&map, "seq").unwrap();
        let mut whole = head.clone();
        whole.extend_from_slice(b"41");
        whole.extend_from_slice(&tail);
        assert_eq!(
            String::from_utf8(whole).unwrap(),
            r#"{"a":1,"r":"x","seq":41,"z":[true]}"#
        );
    }

    #[test]
    fn control_characters_use_lowercase_escapes() {
        let bytes = canonicalize(&json!("\u{1}\u{1f}\u{7f}\t")).unwrap();
        assert_eq!(
            String::from_utf8(bytes).unwrap(),
            "\"\\u0001\\u001f\u{7f}\\t\""
        );
    }
}
