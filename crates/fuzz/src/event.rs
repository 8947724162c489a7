//! Event validation and canonicalisation: any JSON either validates or is refused with field
//! errors, and a valid event's canonical bytes parse back to an event that canonicalises to the
//! same bytes (canonicalisation is idempotent) and parses back to itself (`parse(canonical(x))
//! == x` for a stored event `x`; an event as sent may spell numbers otherwise, `1.0` for `1`).

use trailkeep_event::{Event, Timestamp, prepare};

/// The check.
pub fn check(data: &[u8]) {
    let Ok(raw) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    let received = Timestamp::from_micros(1_767_225_600_000_000).expect("2026-01-01");
    let prepared = match prepare(&raw, "fuzz", received) {
        Ok(prepared) => prepared,
        Err(errors) => {
            assert!(!errors.is_empty(), "a refusal names at least one field");
            return;
        }
    };
    let canonical = prepared.canonical_bytes(41);
    assert!(canonical.len() <= trailkeep_event::MAX_EVENT_BYTES + 64);
    let parsed = Event::from_canonical(&canonical).expect("canonical bytes parse");
    let again = parsed
        .canonical_bytes()
        .expect("a parsed event canonicalises");
    assert_eq!(
        String::from_utf8_lossy(&again),
        String::from_utf8_lossy(&canonical),
        "canonical(parse(canonical)) == canonical"
    );
    let reparsed = Event::from_canonical(&again).expect("canonical bytes parse");
    assert_eq!(reparsed, parsed, "parse(canonical(x)) == x");
    // The event as sent and as stored differ only in how numbers are spelled (1.0 is 1).
    let sent = prepared.clone().into_event(41);
    assert_eq!(sent.canonical_bytes().ok(), Some(canonical.clone()));
    assert!(
        prepared.same_content(&parsed),
        "an event is the same as itself"
    );
}
