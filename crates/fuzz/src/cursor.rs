//! Page cursors: a sealed cursor opens to what was sealed, only with its own binding, and any
//! other text (a tampered cursor included) opens to nothing.

use trailkeep_event::Cursor;
use trailkeep_server::CursorKey;

/// The check: the input is `occurred (8 bytes) seq (8 bytes) binding \0 tamper`.
pub fn check(data: &[u8]) {
    let key = CursorKey::derive(b"fuzz secret fuzz secret fuzz secret");
    if let Ok(text) = std::str::from_utf8(data) {
        // Arbitrary text is never taken for a cursor unless it is exactly a sealed one.
        if let Some(cursor) = key.open(text, "tenant|/v1/events") {
            assert_eq!(key.seal(cursor, "tenant|/v1/events"), text);
        }
    }
    if data.len() < 16 {
        return;
    }
    let cursor = Cursor {
        occurred_at: i64::from_be_bytes(data[..8].try_into().expect("8 bytes")),
        seq: u64::from_be_bytes(data[8..16].try_into().expect("8 bytes")),
    };
    let (binding, tamper) = crate::split_at_zero(&data[16..]);
    let binding = String::from_utf8_lossy(binding);
    let sealed = key.seal(cursor, &binding);
    assert_eq!(key.open(&sealed, &binding), Some(cursor), "a cursor opens");
    assert_eq!(
        key.open(&sealed, &format!("{binding}x")),
        None,
        "only with its binding"
    );
    if let Some((&at, rest)) = tamper.split_first() {
        let mut bytes = sealed.clone().into_bytes();
        let at = usize::from(at) % bytes.len();
        bytes[at] = rest.first().copied().unwrap_or(b'A');
        if let Ok(tampered) = String::from_utf8(bytes)
            && tampered != sealed
        {
            assert_eq!(key.open(&tampered, &binding), None, "a tampered cursor");
        }
    }
}
