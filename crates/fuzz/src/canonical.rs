//! RFC 8785 canonicalisation of arbitrary JSON: idempotent (the canonical form of the canonical
//! form is itself), and a refusal only for what JCS cannot carry.

use trailkeep_event::canonicalize;

/// The check.
pub fn check(data: &[u8]) {
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    let Ok(first) = canonicalize(&value) else {
        return;
    };
    let text = std::str::from_utf8(&first).expect("canonical JSON is UTF-8");
    let reparsed: serde_json::Value = serde_json::from_str(text).expect("canonical JSON parses");
    let second = canonicalize(&reparsed).expect("canonical JSON canonicalises");
    assert_eq!(first, second, "canonicalisation is idempotent");
}
