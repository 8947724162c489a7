//! Checking that bytes are already in RFC 8785 canonical form, in one pass over them.
//!
//! Verification has to show that every stored event is canonical. Parsing each one into a
//! value and writing it out again costs several allocations per member; this checker walks the
//! bytes once instead and asks of each token exactly what [`canonicalize`](super::canonicalize)
//! would have written there: no whitespace, members in strictly increasing UTF-16 order, only
//! the mandatory string escapes in their one spelling, and numbers as ECMAScript prints them.

use std::cmp::Ordering;

use super::{MAX_SAFE_INTEGER, float_text, utf16_cmp};

/// Deepest nesting the checker follows (stored events are far shallower; the bound keeps
/// hostile bytes from exhausting the stack).
const MAX_NESTING: usize = 512;

/// How a byte inside a string is treated: most need nothing.
const ORDINARY: u8 = 0;
const QUOTE: u8 = 1;
const BACKSLASH: u8 = 2;
const CONTROL: u8 = 3;
const NON_ASCII: u8 = 4;

/// The class of each byte value inside a string.
static BYTE_CLASS: [u8; 256] = {
    let mut classes = [ORDINARY; 256];
    let mut b = 0;
    while b < 256 {
        classes[b] = match b {
            0x00..=0x1f => CONTROL,
            0x22 => QUOTE,
            0x5c => BACKSLASH,
            0x80..=0xff => NON_ASCII,
            _ => ORDINARY,
        };
        b += 1;
    }
    classes
};

/// The length of the longest prefix of `bytes` that a string may hold as it is: eight bytes
/// at a time while none of them needs a look (strings are short and many, so this beats both
/// a byte-by-byte loop and a vectorised search), then by the table.
fn ordinary_prefix(bytes: &[u8]) -> usize {
    const ONES: u64 = u64::from_le_bytes([0x01; 8]);
    const HIGH: u64 = u64::from_le_bytes([0x80; 8]);
    /// Whether any byte of `w` is below `n` (exact for bytes below 0x80, which is all that
    /// reaches it unflagged).
    fn any_below(w: u64, n: u8) -> bool {
        w.wrapping_sub(ONES * u64::from(n)) & !w & HIGH != 0
    }
    fn any_equal(w: u64, b: u8) -> bool {
        any_below(w ^ (ONES * u64::from(b)), 1)
    }
    let mut i = 0;
    while let Some(word) = bytes.get(i..i + 8) {
        let w = u64::from_le_bytes(word.try_into().expect("eight bytes"));
        if w & HIGH != 0 || any_below(w, 0x20) || any_equal(w, b'"') || any_equal(w, b'\\') {
            break;
        }
        i += 8;
    }
    while bytes
        .get(i)
        .is_some_and(|&b| BYTE_CLASS[usize::from(b)] == ORDINARY)
    {
        i += 1;
    }
    i
}

/// Where and why bytes are not canonical.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what} at byte {at}")]
pub struct CanonicalFault {
    /// Offset of the first byte that differs from the canonical form.
    pub at: usize,
    /// What is wrong there.
    pub what: &'static str,
}

/// Checks that `bytes` are a JSON object exactly as [`canonicalize`](super::canonicalize)
/// writes it, and calls `member` with the raw text of each top-level member: its key as written
/// between the quotes, and its value.
pub fn check_canonical<'a>(
    bytes: &'a [u8],
    mut member: impl FnMut(&'a [u8], &'a [u8]),
) -> Result<(), CanonicalFault> {
    if let Err(e) = std::str::from_utf8(bytes) {
        return Err(CanonicalFault {
            at: e.valid_up_to(),
            what: "invalid UTF-8",
        });
    }
    let mut checker = Checker { bytes, at: 0 };
    if checker.peek() != Some(b'{') {
        return Err(checker.fault("not a JSON object"));
    }
    checker.object(0, &mut member)?;
    if checker.at != bytes.len() {
        return Err(checker.fault("bytes after the object"));
    }
    Ok(())
}

/// A cursor over the bytes being checked.
struct Checker<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Checker<'a> {
    fn fault(&self, what: &'static str) -> CanonicalFault {
        CanonicalFault { at: self.at, what }
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    /// Consumes `byte`, or fails with `what`.
    fn expect(&mut self, byte: u8, what: &'static str) -> Result<(), CanonicalFault> {
        if self.peek() != Some(byte) {
            return Err(self.fault(what));
        }
        self.at += 1;
        Ok(())
    }

    fn value(&mut self, depth: usize) -> Result<(), CanonicalFault> {
        match self.peek() {
            Some(b'{') => self.object(depth + 1, &mut |_, _| {}),
            Some(b'[') => self.array(depth + 1),
            Some(b'"') => self.string().map(|_| ()),
            Some(b't') => self.literal(b"true"),
            Some(b'f') => self.literal(b"false"),
            Some(b'n') => self.literal(b"null"),
            Some(b'-' | b'0'..=b'9') => self.number(),
            _ => Err(self.fault("not a JSON value")),
        }
    }

    /// An object; `member` sees each member's raw key and value when this is the top level.
    fn object(
        &mut self,
        depth: usize,
        member: &mut dyn FnMut(&'a [u8], &'a [u8]),
    ) -> Result<(), CanonicalFault> {
        if depth > MAX_NESTING {
            return Err(self.fault("nested too deeply"));
        }
        self.at += 1;
        if self.peek() == Some(b'}') {
            self.at += 1;
            return Ok(());
        }
        let mut previous: Option<(&'a [u8], bool)> = None;
        loop {
            let key_at = self.at;
            if self.peek() != Some(b'"') {
                return Err(self.fault("expected a member name"));
            }
            let key = self.string()?;
            if previous.is_some_and(|p| key_order(p, key) != Ordering::Less) {
                return Err(CanonicalFault {
                    at: key_at,
                    what: "member out of order or repeated",
                });
            }
            previous = Some(key);
            let (key, _) = key;
            self.expect(b':', "expected ':' right after a member name")?;
            let value_at = self.at;
            self.value(depth)?;
            member(key, &self.bytes[value_at..self.at]);
            match self.peek() {
                Some(b',') => self.at += 1,
                Some(b'}') => {
                    self.at += 1;
                    return Ok(());
                }
                _ => return Err(self.fault("expected ',' or '}' right after a value")),
            }
        }
    }

    fn array(&mut self, depth: usize) -> Result<(), CanonicalFault> {
        if depth > MAX_NESTING {
            return Err(self.fault("nested too deeply"));
        }
        self.at += 1;
        if self.peek() == Some(b']') {
            self.at += 1;
            return Ok(());
        }
        loop {
            self.value(depth)?;
            match self.peek() {
                Some(b',') => self.at += 1,
                Some(b']') => {
                    self.at += 1;
                    return Ok(());
                }
                _ => return Err(self.fault("expected ',' or ']' right after a value")),
            }
        }
    }

    /// A string; returns its raw text between the quotes, and whether that text is plain
    /// (ASCII without escapes, so that it orders as its bytes do).
    fn string(&mut self) -> Result<(&'a [u8], bool), CanonicalFault> {
        self.at += 1;
        let start = self.at;
        let mut plain = true;
        loop {
            let rest = &self.bytes[self.at..];
            let stop = ordinary_prefix(rest);
            self.at += stop;
            match rest.get(stop).map(|&b| BYTE_CLASS[usize::from(b)]) {
                Some(QUOTE) => {
                    self.at += 1;
                    return Ok((&self.bytes[start..self.at - 1], plain));
                }
                Some(BACKSLASH) => {
                    plain = false;
                    self.escape()?;
                }
                Some(NON_ASCII) => {
                    plain = false;
                    self.at += 1;
                }
                Some(_) => return Err(self.fault("control character not escaped")),
                None => return Err(self.fault("unterminated string")),
            }
        }
    }

    /// One escape sequence, which must be the one spelling JCS gives its character.
    fn escape(&mut self) -> Result<(), CanonicalFault> {
        let short = match self.bytes.get(self.at + 1) {
            Some(b'"' | b'\\' | b'b' | b'f' | b'n' | b'r' | b't') => true,
            Some(b'u') => false,
            _ => return Err(self.fault("escape that JCS never writes")),
        };
        if short {
            self.at += 2;
            return Ok(());
        }
        // `\u00xx` with lowercase hex, only for control characters without a short escape.
        let code = match self.bytes.get(self.at + 2..self.at + 6) {
            Some([b'0', b'0', high @ (b'0' | b'1'), low]) => match low {
                b'0'..=b'9' => Some((high - b'0') << 4 | (low - b'0')),
                b'a'..=b'f' => Some((high - b'0') << 4 | (low - b'a' + 10)),
                _ => None,
            },
            _ => None,
        };
        match code {
            Some(0x08 | 0x09 | 0x0a | 0x0c | 0x0d) | None => {
                Err(self.fault("escape that JCS never writes"))
            }
            Some(_) => {
                self.at += 6;
                Ok(())
            }
        }
    }

    fn literal(&mut self, text: &'static [u8]) -> Result<(), CanonicalFault> {
        if !self.bytes[self.at..].starts_with(text) {
            return Err(self.fault("not a JSON value"));
        }
        self.at += text.len();
        Ok(())
    }

    /// A number, which must read exactly as ECMAScript prints its value.
    fn number(&mut self) -> Result<(), CanonicalFault> {
        let start = self.at;
        let digits = |c: &mut Self| {
            let from = c.at;
            while c.peek().is_some_and(|b| b.is_ascii_digit()) {
                c.at += 1;
            }
            c.at - from
        };
        if self.peek() == Some(b'-') {
            self.at += 1;
        }
        let whole = self.at;
        if digits(self) == 0 {
            return Err(self.fault("a number without digits"));
        }
        let mut integer = true;
        if self.peek() == Some(b'.') {
            self.at += 1;
            integer = false;
            if digits(self) == 0 {
                return Err(self.fault("a fraction without digits"));
            }
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.at += 1;
            integer = false;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.at += 1;
            }
            if digits(self) == 0 {
                return Err(self.fault("an exponent without digits"));
            }
        }
        let text = &self.bytes[start..self.at];
        let fault = |what| CanonicalFault { at: start, what };
        if integer {
            let magnitude = &self.bytes[whole..self.at];
            if magnitude.len() > 1 && magnitude[0] == b'0' {
                return Err(fault("a number with a leading zero"));
            }
            if text == b"-0" {
                return Err(fault("-0, which JCS writes as 0"));
            }
            // 2^53 has 16 digits: anything longer is beyond it.
            let value = (magnitude.len() <= 16)
                .then(|| std::str::from_utf8(magnitude).ok()?.parse::<u64>().ok())
                .flatten();
            if value.is_none_or(|v| v > MAX_SAFE_INTEGER) {
                return Err(fault("an integer beyond ±2^53"));
            }
            return Ok(());
        }
        let value: f64 = std::str::from_utf8(text)
            .ok()
            .and_then(|t| t.parse().ok())
            .ok_or_else(|| fault("not a number"))?;
        match float_text(value) {
            Ok(canonical) if canonical.as_bytes() == text => Ok(()),
            _ => Err(fault("a number not written as ECMAScript prints it")),
        }
    }
}

/// The order of two raw member names (as written between their quotes, each with whether it
/// is plain) by their decoded UTF-16 code units: plain names compare as bytes, anything else
/// is decoded first.
fn key_order((a, a_plain): (&[u8], bool), (b, b_plain): (&[u8], bool)) -> Ordering {
    if a_plain && b_plain {
        return a.cmp(b);
    }
    utf16_cmp(&unescape(a), &unescape(b))
}

/// The text of a raw string already checked by [`Checker::string`].
fn unescape(raw: &[u8]) -> String {
    let text = String::from_utf8_lossy(raw);
    if !raw.contains(&b'\\') {
        return text.into_owned();
    }
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('b') => out.push('\u{8}'),
            Some('f') => out.push('\u{c}'),
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('t') => out.push('\t'),
            Some('u') => {
                let hex: String = chars.by_ref().take(4).collect();
                let code = u32::from_str_radix(&hex, 16).unwrap_or(0);
                out.push(char::from_u32(code).unwrap_or('\u{fffd}'));
            }
            Some(other) => out.push(other),
            None => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::{Value, json};

    use super::*;
    use crate::canonicalize;

    fn check(text: &str) -> Result<(), CanonicalFault> {
        check_canonical(text.as_bytes(), |_, _| {})
    }

    /// The slow answer the checker replaces: parse, write canonically, compare.
    fn reference(bytes: &[u8]) -> bool {
        serde_json::from_slice::<Value>(bytes)
            .ok()
            .filter(Value::is_object)
            .and_then(|v| canonicalize(&v).ok())
            .is_some_and(|c| c == bytes)
    }

    #[test]
    fn the_writers_output_passes_and_top_level_members_are_reported() {
        let value = json!({
            "z": [1, -2.5, 1e300, 0.000001, true, null, {}],
            "a": "quote \" slash \\ tab \t bell \u{7} del \u{7f} é 😀",
            "\u{e000}": 1, "\u{1f600}": 2, "é": 3, "\n": 4,
            "n": {"b": [], "a": {"x": 9007199254740992u64}},
        });
        let bytes = canonicalize(&value).unwrap();
        let mut members = Vec::new();
        check_canonical(&bytes, |k, v| members.push((k.to_vec(), v.to_vec()))).unwrap();
        assert_eq!(members.len(), 7);
        let z = members.iter().find(|(k, _)| k == b"z").unwrap();
        assert_eq!(z.1, br#"[1,-2.5,1e+300,0.000001,true,null,{}]"#);
    }

    #[test]
    fn each_departure_from_the_canonical_form_is_named() {
        for (text, what) in [
            (r#"{"a":1, "b":2}"#, "expected a member name"),
            (r#" {"a":1}"#, "not a JSON object"),
            (r#"{"a":1} "#, "bytes after the object"),
            (r#"{"b":1,"a":2}"#, "member out of order or repeated"),
            (r#"{"a":1,"a":2}"#, "member out of order or repeated"),
            (r#"{"a":"\u0041"}"#, "escape that JCS never writes"),
            (r#"{"a":"\u000A"}"#, "escape that JCS never writes"),
            (r#"{"a":"\u000a"}"#, "escape that JCS never writes"),
            (r#"{"a":"\/"}"#, "escape that JCS never writes"),
            ("{\"a\":\"\n\"}", "control character not escaped"),
            (r#"{"a":01}"#, "a number with a leading zero"),
            (r#"{"a":-0}"#, "-0, which JCS writes as 0"),
            (
                r#"{"a":1.0}"#,
                "a number not written as ECMAScript prints it",
            ),
            (
                r#"{"a":1E3}"#,
                "a number not written as ECMAScript prints it",
            ),
            (r#"{"a":9007199254740993}"#, "an integer beyond ±2^53"),
            (r#"{"a":tru}"#, "not a JSON value"),
            (r#"{"a":[1,]}"#, "not a JSON value"),
            (r#"{"a":"x"#, "unterminated string"),
        ] {
            let fault = check(text).expect_err(text);
            assert_eq!(fault.what, what, "{text}");
            assert!(!reference(text.as_bytes()), "{text}");
        }
        // Supplementary characters sort by UTF-16 code units, before U+E000.
        assert!(check("{\"\u{1f600}\":1,\"\u{e000}\":2}").is_ok());
        assert!(check("{\"\u{e000}\":1,\"\u{1f600}\":2}").is_err());
        let deep = format!("{{\"a\":{}{}}}", "[".repeat(600), "]".repeat(600));
        assert_eq!(check(&deep).unwrap_err().what, "nested too deeply");
    }

    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            (-1_000_000i64..1_000_000).prop_map(Value::from),
            (-1e6f64..1e6).prop_map(Value::from),
            "[ -~\t\n\u{1}\u{7}é😀\u{e000}]{0,8}".prop_map(Value::from),
        ];
        leaf.prop_recursive(4, 32, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
                prop::collection::btree_map("[a-c\u{1f600}\u{e000}\n]{0,3}", inner, 0..5)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        /// The checker agrees with parsing and re-writing, on canonical bytes and on every
        /// one-byte change of them (a byte dropped, doubled, or replaced by a space).
        #[test]
        fn agrees_with_parse_and_rewrite(
            members in prop::collection::btree_map("[a-z]{1,4}", json_value(), 0..6),
            at in any::<prop::sample::Index>(),
            edit in 0u8..3,
        ) {
            let canonical = canonicalize(&Value::Object(members.into_iter().collect())).unwrap();
            let accepted = check_canonical(&canonical, |_, _| ()).is_ok();
            prop_assert!(accepted);
            let i = at.index(canonical.len());
            let mut changed = canonical.clone();
            match edit {
                0 => { changed.remove(i); }
                1 => changed.insert(i, canonical[i]),
                _ => changed.insert(i, b' '),
            }
            let accepted = check_canonical(&changed, |_, _| ()).is_ok();
            prop_assert_eq!(
                accepted,
                reference(&changed),
                "{}", String::from_utf8_lossy(&changed)
            );
        }
    }
}
