//! Splitting an ingest body into events, one at a time, within bounds.
//!
//! A body is parsed element by element: each event is handed over as its own JSON value and can
//! be validated and dropped before the next is parsed, so the memory a request costs is that of
//! its body plus one event, not a whole tree of `serde_json::Value`s (a 16 MiB body of `[0,0,...]`
//! used to cost over half a gigabyte as one tree). Counting stops at the batch limit and each
//! element's size is checked before it is parsed, so a body past either bound is refused after
//! reading only as far as the bound.

use serde::de::{self, DeserializeSeed, SeqAccess, Visitor};
use serde_json::Value;
use serde_json::value::RawValue;

/// Bounds on a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchLimits {
    /// Most events in one body.
    pub max_events: usize,
    /// Most bytes of one event's JSON text as sent (whitespace included).
    pub max_event_bytes: usize,
}

/// Why a body could not be split into events.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BatchError {
    /// Not JSON (or a line of NDJSON that is not).
    #[error("the body is not valid JSON at {place}: {message}")]
    Malformed {
        /// Where: `line L, column C`, or `line L` for NDJSON.
        place: String,
        /// What the parser said.
        message: String,
    },
    /// JSON, but neither an object nor an array.
    #[error("the body must be an event object or an array of events")]
    NotEvents,
    /// No events at all.
    #[error("the batch holds no events")]
    Empty,
    /// More events than a batch may hold.
    #[error("the body holds more than {max} events; at most {max} are accepted per request")]
    TooMany {
        /// The limit.
        max: usize,
    },
    /// One event's JSON text is larger than any valid event.
    #[error("event {index} is {bytes} bytes as sent; at most {max} are accepted")]
    EventTooLarge {
        /// The event's index in the body.
        index: usize,
        /// Its size as sent.
        bytes: usize,
        /// The limit.
        max: usize,
    },
}

fn malformed(e: &serde_json::Error) -> BatchError {
    BatchError::Malformed {
        place: format!("line {}, column {}", e.line(), e.column()),
        message: e.to_string(),
    }
}

/// Hands each event of a JSON body (one object, or an array of them) to `each` with its index,
/// in order; answers how many there were.
pub fn split_json(
    body: &[u8],
    limits: BatchLimits,
    mut each: impl FnMut(usize, Value),
) -> Result<usize, BatchError> {
    match body.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'[') => {
            let mut deserializer = serde_json::Deserializer::from_slice(body);
            let mut refusal = None;
            let seed = Elements {
                limits,
                each: &mut each,
                refusal: &mut refusal,
            };
            let parsed = seed
                .deserialize(&mut deserializer)
                .and_then(|n| deserializer.end().map(|()| n));
            match (parsed, refusal) {
                (_, Some(refusal)) => Err(refusal),
                (Ok(0), None) => Err(BatchError::Empty),
                (Ok(n), None) => Ok(n),
                (Err(e), None) => Err(malformed(&e)),
            }
        }
        Some(b'{') => {
            let event = body.trim_ascii();
            if event.len() > limits.max_event_bytes {
                return Err(BatchError::EventTooLarge {
                    index: 0,
                    bytes: event.len(),
                    max: limits.max_event_bytes,
                });
            }
            let value: Value = serde_json::from_slice(body).map_err(|e| malformed(&e))?;
            each(0, value);
            Ok(1)
        }
        Some(_) => match serde_json::from_slice::<serde::de::IgnoredAny>(body) {
            Ok(_) => Err(BatchError::NotEvents),
            Err(e) => Err(malformed(&e)),
        },
        None => Err(BatchError::Malformed {
            place: "line 1, column 0".into(),
            message: "the body is empty".into(),
        }),
    }
}

/// Hands each non-blank line of an NDJSON body to `each` as a JSON value with its index, in
/// order; answers how many there were.
pub fn split_ndjson(
    body: &[u8],
    limits: BatchLimits,
    mut each: impl FnMut(usize, Value),
) -> Result<usize, BatchError> {
    let mut count = 0;
    for (n, line) in body.split(|&b| b == b'\n').enumerate() {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        if count == limits.max_events {
            return Err(BatchError::TooMany {
                max: limits.max_events,
            });
        }
        if line.len() > limits.max_event_bytes {
            return Err(BatchError::EventTooLarge {
                index: count,
                bytes: line.len(),
                max: limits.max_event_bytes,
            });
        }
        let value = serde_json::from_slice(line).map_err(|e| BatchError::Malformed {
            place: format!("line {}", n + 1),
            message: e.to_string(),
        })?;
        each(count, value);
        count += 1;
    }
    if count == 0 {
        return Err(BatchError::Empty);
    }
    Ok(count)
}

/// The array's elements, each parsed on its own.
struct Elements<'a, F> {
    limits: BatchLimits,
    each: &'a mut F,
    /// Set when the array is refused for a bound (the parse error then only stops it).
    refusal: &'a mut Option<BatchError>,
}

impl<'de, F: FnMut(usize, Value)> DeserializeSeed<'de> for Elements<'_, F> {
    type Value = usize;

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<usize, D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de, F: FnMut(usize, Value)> Visitor<'de> for Elements<'_, F> {
    type Value = usize;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("an array of events")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<usize, A::Error> {
        let mut count = 0;
        // Borrowed raw text: the element is checked for size before anything is built from it.
        while let Some(raw) = seq.next_element::<&'de RawValue>()? {
            let refuse = |refusal: BatchError, slot: &mut Option<BatchError>| -> A::Error {
                *slot = Some(refusal);
                de::Error::custom("refused")
            };
            if count == self.limits.max_events {
                let max = self.limits.max_events;
                return Err(refuse(BatchError::TooMany { max }, self.refusal));
            }
            let text = raw.get();
            if text.len() > self.limits.max_event_bytes {
                let too_large = BatchError::EventTooLarge {
                    index: count,
                    bytes: text.len(),
                    max: self.limits.max_event_bytes,
                };
                return Err(refuse(too_large, self.refusal));
            }
            let value: Value = serde_json::from_str(text).map_err(de::Error::custom)?;
            (self.each)(count, value);
            count += 1;
        }
        Ok(count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: BatchLimits = BatchLimits {
        max_events: 3,
        max_event_bytes: 40,
    };

    fn json(body: &str) -> Result<Vec<Value>, BatchError> {
        let mut out = Vec::new();
        split_json(body.as_bytes(), LIMITS, |i, v| {
            assert_eq!(i, out.len());
            out.push(v);
        })
        .map(|n| {
            assert_eq!(n, out.len());
            out
        })
    }

    fn ndjson(body: &str) -> Result<Vec<Value>, BatchError> {
        let mut out = Vec::new();
        split_ndjson(body.as_bytes(), LIMITS, |_, v| out.push(v)).map(|_| out)
    }

    #[test]
    fn objects_arrays_and_lines_become_events_in_order() {
        assert_eq!(json(r#" {"action":"a"} "#).unwrap().len(), 1);
        let events = json(r#"[{"action":"a"}, 7, {"action":"c"}]"#).unwrap();
        assert_eq!(events[1], Value::from(7));
        assert_eq!(ndjson("{\"a\":1}\n\n  \n{\"a\":2}\n").unwrap().len(), 2);
    }

    #[test]
    fn bounds_stop_the_parse() {
        assert_eq!(json("[1,2,3,4]"), Err(BatchError::TooMany { max: 3 }));
        // Past the bound, the rest is not even looked at.
        assert_eq!(json("[1,2,3,4,!!!"), Err(BatchError::TooMany { max: 3 }));
        let big = format!(r#"[1, "{}"]"#, "x".repeat(50));
        assert!(matches!(
            json(&big),
            Err(BatchError::EventTooLarge { index: 1, .. })
        ));
        assert!(matches!(
            json(&format!(r#"{{"a":"{}"}}"#, "x".repeat(50))),
            Err(BatchError::EventTooLarge { index: 0, .. })
        ));
        assert_eq!(ndjson("1\n2\n3\n4\n"), Err(BatchError::TooMany { max: 3 }));
    }

    #[test]
    fn bad_bodies_are_named() {
        assert_eq!(json("[]"), Err(BatchError::Empty));
        assert_eq!(json("  "), json(""));
        assert!(matches!(json(""), Err(BatchError::Malformed { .. })));
        assert_eq!(json("42"), Err(BatchError::NotEvents));
        assert!(matches!(json("[1,"), Err(BatchError::Malformed { .. })));
        assert!(matches!(json("[1] x"), Err(BatchError::Malformed { .. })));
        assert!(matches!(json("nope"), Err(BatchError::Malformed { .. })));
        assert_eq!(ndjson("\n \n"), Err(BatchError::Empty));
        match ndjson("{}\n{oops\n") {
            Err(BatchError::Malformed { place, .. }) => assert_eq!(place, "line 2"),
            other => panic!("{other:?}"),
        }
    }
}
