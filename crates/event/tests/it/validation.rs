//! Validation: every limit of DESIGN section 3 refuses with a message naming the field, and valid
//! events are normalised so their canonical bytes do not depend on the client's spelling.

use serde_json::{Value, json};
use trailkeep_event::{Category, Event, Outcome, Timestamp, prepare};

fn now() -> Timestamp {
    Timestamp::parse("2025-01-15T10:00:00.123Z").unwrap()
}

/// The fields named by the errors for `raw`, or a panic if it was accepted.
fn refused_fields(raw: Value) -> Vec<String> {
    match prepare(&raw, "acme", now()) {
        Ok(_) => panic!("accepted: {raw}"),
        Err(errors) => {
            for e in &errors {
                assert!(!e.message.is_empty());
            }
            errors.into_iter().map(|e| e.field).collect()
        }
    }
}

#[test]
fn minimal_event_gets_server_fields_and_derived_category() {
    let prepared = prepare(&json!({"action": "contract.created"}), "acme", now()).unwrap();
    let event = prepared.into_event(7);
    assert_eq!(event.seq, 7);
    assert_eq!(event.tenant, "acme");
    assert_eq!(event.category, Category::Create);
    assert_eq!(event.outcome, Outcome::Success);
    assert_eq!(event.occurred_at, now());
    assert_eq!(event.id.len(), 26, "a ULID");
}

#[test]
fn canonical_bytes_with_seq_equal_the_full_canonicalisation() {
    let raw = json!({
        "action": "contract.created",
        "occurred_at": "2025-01-15T12:00:00+02:00",
        "actor": {"type": "USER", "id": "user_123", "email": "user@example.com"},
        "target": {"type": "contract", "id": "con_xyz", "name": "Murabaha 17"},
        "context": {"ip_address": "192.168.1.100", "request": {"method": "POST", "status_code": 201}},
        "changes": {"status": {"from": "DRAFT", "to": "PENDING_APPROVAL"}},
        "metadata": {"amount": "500000.00", "nested": {"z": 1, "a": [1.5, null]}},
        "description": "Created contract"
    });
    let prepared = prepare(&raw, "acme", now()).unwrap();
    let bytes = prepared.canonical_bytes(41);
    let event = prepared.into_event(41);
    assert_eq!(bytes, event.canonical_bytes().unwrap());
    let parsed = Event::from_canonical(&bytes).unwrap();
    assert_eq!(parsed, event);
    assert_eq!(parsed.actor.unwrap().kind.as_deref(), Some("user"));
    assert_eq!(parsed.occurred_at.to_string(), "2025-01-15T10:00:00Z");
    let text = String::from_utf8(bytes).unwrap();
    assert!(
        text.starts_with(r#"{"action":"contract.created","actor":"#),
        "{text}"
    );
    assert!(text.contains(r#""seq":41,"target""#), "{text}");
}

#[test]
fn absent_null_and_empty_spell_nothing_the_same_way() {
    let a = prepare(&json!({"id": "e1", "action": "x.read"}), "t", now()).unwrap();
    let b = prepare(
        &json!({"id": "e1", "action": "x.read", "actor": {"id": ""}, "target": null,
                "metadata": {}, "description": null, "changes": {}}),
        "t",
        now(),
    )
    .unwrap();
    assert_eq!(a.canonical_bytes(0), b.canonical_bytes(0));
}

#[test]
fn each_limit_names_its_field() {
    let long = |n: usize| "x".repeat(n);
    assert_eq!(refused_fields(json!({})), ["action"]);
    assert_eq!(refused_fields(json!({"action": ""})), ["action"]);
    assert_eq!(refused_fields(json!({"action": long(129)})), ["action"]);
    assert!(prepare(&json!({"action": long(128)}), "t", now()).is_ok());
    assert_eq!(
        refused_fields(json!({"action": "a", "id": long(257)})),
        ["id"]
    );
    assert_eq!(
        refused_fields(json!({"action": "a", "id": "has space"})),
        ["id"]
    );
    for field in ["id", "name", "email", "token_id", "token_name", "type"] {
        assert_eq!(
            refused_fields(json!({"action": "a", "actor": {field: long(257)}})),
            [format!("actor.{field}")]
        );
    }
    for field in ["id", "name", "type"] {
        assert_eq!(
            refused_fields(json!({"action": "a", "target": {field: long(257)}})),
            [format!("target.{field}")]
        );
    }
    assert_eq!(
        refused_fields(json!({"action": "a", "description": long(8 * 1024 + 1)})),
        ["description"]
    );
    assert!(
        prepare(
            &json!({"action": "a", "description": long(8 * 1024)}),
            "t",
            now()
        )
        .is_ok()
    );
    assert_eq!(
        refused_fields(json!({"action": "a", "occurred_at": "2025-01-15T10:05:01Z"})),
        ["occurred_at"]
    );
    assert!(
        prepare(
            &json!({"action": "a", "occurred_at": "2025-01-15T10:05:00Z"}),
            "t",
            now()
        )
        .is_ok()
    );
    assert_eq!(
        refused_fields(json!({"action": "a", "occurred_at": "last tuesday"})),
        ["occurred_at"]
    );
    assert_eq!(
        refused_fields(json!({"action": "a", "metadata": {"note": "nul\u{0}here"}})),
        ["metadata.note"]
    );
    assert_eq!(
        refused_fields(json!({"action": "a", "metadata": {"big": 9_007_199_254_740_993u64}})),
        ["metadata.big"]
    );
    assert_eq!(
        refused_fields(json!({"action": "a", "context": {"ip_address": "not-an-ip"}})),
        ["context.ip_address"]
    );
    assert_eq!(
        refused_fields(json!({"action": "a", "colour": "red"})),
        ["colour"]
    );
    assert_eq!(refused_fields(json!({"action": "a", "seq": 3})), ["seq"]);
    assert_eq!(
        refused_fields(json!({"action": "a", "tenant": "other"})),
        ["tenant"]
    );
    assert_eq!(
        refused_fields(json!({"action": "a", "outcome": "maybe"})),
        ["outcome"]
    );
    assert_eq!(refused_fields(json!({"action": 5})), ["action"]);
    assert_eq!(refused_fields(json!(["not", "an", "object"])), [""]);
}

#[test]
fn depth_is_limited_to_sixteen() {
    // The event object is depth 1; metadata is depth 2; 15 nested objects reach exactly 16.
    let mut inner = json!(1);
    for _ in 0..15 {
        inner = json!({ "n": inner });
    }
    assert!(
        prepare(
            &json!({"action": "a", "metadata": inner.clone()}),
            "t",
            now()
        )
        .is_ok()
    );
    let deeper = json!({"action": "a", "metadata": {"n": inner}});
    let fields = refused_fields(deeper);
    assert_eq!(fields.len(), 1);
    assert!(fields[0].starts_with("metadata.n"), "{fields:?}");
}

#[test]
fn canonical_size_is_limited() {
    let blob = "x".repeat(64 * 1024);
    assert_eq!(
        refused_fields(json!({"action": "a", "metadata": {"blob": blob}})),
        [""]
    );
    let fits = "x".repeat(60 * 1024);
    assert!(
        prepare(
            &json!({"action": "a", "metadata": {"blob": fits}}),
            "t",
            now()
        )
        .is_ok()
    );
}

#[test]
fn same_content_ignores_only_server_fields() {
    let raw = json!({"id": "evt-1", "action": "a.created", "actor": {"id": "u1"}});
    let first = prepare(&raw, "t", now()).unwrap().into_event(3);
    let later = now().plus_micros(1_000_000);
    assert!(prepare(&raw, "t", later).unwrap().same_content(&first));
    let changed = json!({"id": "evt-1", "action": "a.created", "actor": {"id": "u2"}});
    assert!(!prepare(&changed, "t", later).unwrap().same_content(&first));
}

/// A retry that spells a number differently (`1.0` for `1`, `1e2` for `100`) is the same JSON,
/// the same canonical bytes and the same leaf: it used to be refused as a conflicting event.
#[test]
fn a_retry_spelling_a_number_differently_is_the_same_event() {
    let first = json!({"id": "evt-1", "action": "a", "metadata": {"n": 1, "m": 100}});
    let stored = prepare(&first, "t", now()).unwrap().into_event(0);
    let retry: serde_json::Value =
        serde_json::from_str(r#"{"id":"evt-1","action":"a","metadata":{"n":1.0,"m":1e2}}"#)
            .unwrap();
    assert!(prepare(&retry, "t", now()).unwrap().same_content(&stored));
    let other = json!({"id": "evt-1", "action": "a", "metadata": {"n": 1.5, "m": 100}});
    assert!(!prepare(&other, "t", now()).unwrap().same_content(&stored));
}

#[test]
fn arrays_are_refused_where_objects_belong() {
    for (raw, field) in [
        (json!({"action": "a", "target": [null, null]}), "target"),
        (json!({"action": "a", "actor": ["user", "u1"]}), "actor"),
        (
            json!({"action": "a", "context": {"zone": ["z1"]}}),
            "context.zone",
        ),
        (
            json!({"action": "a", "context": {"request": ["GET"]}}),
            "context.request",
        ),
        (
            json!({"action": "a", "changes": {"status": ["DRAFT", "DONE"]}}),
            "changes.status",
        ),
        (json!({"action": "a", "metadata": [1, 2]}), "metadata"),
    ] {
        assert_eq!(refused_fields(raw.clone()), vec![field.to_owned()], "{raw}");
    }
}

#[test]
fn coordinates_are_kept_within_their_ranges() {
    let raw = json!({"action": "user.login", "context": {"geo": {"lat": 24.7136, "lon": 46.6753}}});
    let event = prepare(&raw, "acme", now()).unwrap().into_event(0);
    let geo = event.context.unwrap().geo.unwrap();
    assert_eq!((geo.lat, geo.lon), (24.7136, 46.6753));
    for bad in [
        json!({"lat": 91.0, "lon": 0.0}),
        json!({"lat": 0.0, "lon": -180.5}),
    ] {
        let raw = json!({"action": "user.login", "context": {"geo": bad}});
        assert_eq!(refused_fields(raw), ["context.geo"]);
    }
    let raw = json!({"action": "user.login", "context": {"geo": {"lat": 1.0}}});
    assert!(
        prepare(&raw, "acme", now()).is_err(),
        "both coordinates are needed"
    );
}
