//! The canonicaliser against the RFC 8785 test vectors in `shared/test-vectors/jcs`.

use std::path::PathBuf;

fn vectors_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/test-vectors/jcs")
}

#[test]
fn reproduces_every_rfc8785_vector_byte_for_byte() {
    let dir = vectors_dir();
    let inputs = std::fs::read_dir(dir.join("input"))
        .unwrap_or_else(|e| panic!("the JCS vectors must exist at {}: {e}", dir.display()));
    let mut checked = 0;
    for entry in inputs {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_owned();
        let input: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        let want = std::fs::read(dir.join("output").join(&name)).unwrap();
        let got = trailkeep_event::canonicalize(&input).unwrap();
        assert_eq!(
            String::from_utf8_lossy(&got),
            String::from_utf8_lossy(&want),
            "{name:?}"
        );
        assert_eq!(got, want, "{name:?}: bytes differ");

        let hex_name = PathBuf::from(&name).with_extension("txt");
        let hex_text = std::fs::read_to_string(dir.join("outhex").join(hex_name)).unwrap();
        let want_hex: String = hex_text.split_whitespace().collect();
        let got_hex: String = got.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(got_hex, want_hex, "{name:?}: outhex differs");
        checked += 1;
    }
    assert!(checked >= 6, "only {checked} JCS vectors found");
}

#[test]
fn canonical_form_is_a_fixed_point() {
    let dir = vectors_dir().join("output");
    for entry in std::fs::read_dir(dir).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        let value: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(trailkeep_event::canonicalize(&value).unwrap(), bytes);
    }
}

/// An integral double between 2^53 and 10^21 (such as `5555555555555550000.5` once parsed) used
/// to be written as plain digits, an integer literal beyond 2^53 that the same writer refuses
/// when the stored bytes are read back; the fuzzer found it. Such numbers are refused on input.
#[test]
fn an_integral_double_beyond_2_53_is_refused_instead_of_stored_as_an_unsafe_integer() {
    for text in ["5555555555555550000.5", "1e19", "-9007199254740994.0"] {
        let value: serde_json::Value = serde_json::from_str(text).unwrap();
        assert!(
            matches!(
                trailkeep_event::canonicalize(&value),
                Err(trailkeep_event::CanonicalError::UnsafeInteger(_))
            ),
            "{text}"
        );
    }
    for text in ["9007199254740992.0", "1e21", "1.5e300", "0.1"] {
        let value: serde_json::Value = serde_json::from_str(text).unwrap();
        let canonical = trailkeep_event::canonicalize(&value).unwrap();
        let back: serde_json::Value = serde_json::from_slice(&canonical).unwrap();
        assert!(trailkeep_event::canonicalize(&back).is_ok(), "{text}");
    }
}

fn json_values() -> impl proptest::strategy::Strategy<Value = serde_json::Value> {
    use proptest::prelude::*;
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::Bool),
        (-(1i64 << 53)..=(1i64 << 53)).prop_map(serde_json::Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(serde_json::Value::from),
        any::<String>().prop_map(serde_json::Value::String),
    ];
    leaf.prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..8).prop_map(serde_json::Value::Array),
            proptest::collection::btree_map(any::<String>(), inner, 0..8)
                .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest::proptest! {
    /// Canonicalisation is idempotent, and the canonical form parses back to itself:
    /// `canonical(parse(canonical(x))) == canonical(x)` and `parse(canonical(y)) == y` for a
    /// canonical-form `y`; anything refused is refused for a number JCS cannot carry exactly.
    #[test]
    fn canonicalisation_is_idempotent_and_parses_back(value in json_values()) {
        match trailkeep_event::canonicalize(&value) {
            Ok(first) => {
                let parsed: serde_json::Value = serde_json::from_slice(&first).unwrap();
                let second = trailkeep_event::canonicalize(&parsed).unwrap();
                proptest::prop_assert_eq!(&first, &second);
                let again: serde_json::Value = serde_json::from_slice(&second).unwrap();
                proptest::prop_assert_eq!(again, parsed);
            }
            Err(e) => proptest::prop_assert!(
                matches!(e, trailkeep_event::CanonicalError::UnsafeInteger(_)),
                "{e}"
            ),
        }
    }
}
