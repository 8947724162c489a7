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
