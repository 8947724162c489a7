//! The JSON-array and NDJSON splitters of the ingest path: never more events than the limit,
//! never an event larger than the limit, and every element handed over in order.

use trailkeep_event::{BatchLimits, split_json, split_ndjson};

const LIMITS: BatchLimits = BatchLimits {
    max_events: 16,
    max_event_bytes: 512,
};

/// The check.
pub fn check(data: &[u8]) {
    for ndjson in [false, true] {
        let mut seen = 0;
        let mut each = |index: usize, value: serde_json::Value| {
            assert_eq!(index, seen, "elements come in order");
            let text = value.to_string();
            // Whitespace and escapes may shrink, never grow past what was sent, by much.
            assert!(
                text.len() <= LIMITS.max_event_bytes * 6,
                "{} bytes",
                text.len()
            );
            seen += 1;
        };
        let result = if ndjson {
            split_ndjson(data, LIMITS, &mut each)
        } else {
            split_json(data, LIMITS, &mut each)
        };
        assert!(seen <= LIMITS.max_events, "{seen} events handed over");
        if let Ok(count) = result {
            assert_eq!(count, seen);
            assert!(count > 0, "an empty batch is refused");
        }
    }
}
