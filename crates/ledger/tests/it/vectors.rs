//! The transparency-dev/merkle proof corpus (196 inclusion and consistency cases, most of
//! them negative), read at run time from the shared test vectors.

use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::Value;
use trailkeep_ledger::{verify_consistency, verify_inclusion};

const EXPECTED_CASES: usize = 196;

fn json_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let entries = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("test vectors missing at {}: {e}", dir.display()));
    for entry in entries {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            json_files(&path, out);
        } else if path.extension().is_some_and(|x| x == "json") {
            out.push(path);
        }
    }
}

fn u64_field(case: &Value, key: &str) -> u64 {
    case[key]
        .as_u64()
        .unwrap_or_else(|| panic!("{key} is not a u64 in {case}"))
}

fn bytes_field(case: &Value, key: &str) -> Result<Vec<u8>, String> {
    let s = case[key]
        .as_str()
        .unwrap_or_else(|| panic!("{key} is not a string in {case}"));
    STANDARD.decode(s).map_err(|e| format!("{key}: {e}"))
}

fn proof_field(case: &Value) -> Result<Vec<Vec<u8>>, String> {
    match &case["proof"] {
        Value::Null => Ok(Vec::new()),
        Value::Array(items) => items
            .iter()
            .map(|item| {
                let s = item.as_str().ok_or("proof item is not a string")?;
                STANDARD.decode(s).map_err(|e| format!("proof: {e}"))
            })
            .collect(),
        other => panic!("proof is neither null nor an array: {other}"),
    }
}

/// Runs one case: `Ok(())` when the verifier accepts, `Err(why)` when it or decoding refuses.
fn run(kind: &str, case: &Value) -> Result<(), String> {
    let proof = proof_field(case)?;
    match kind {
        "inclusion" => verify_inclusion(
            &bytes_field(case, "leafHash")?,
            u64_field(case, "leafIdx"),
            u64_field(case, "treeSize"),
            &proof,
            &bytes_field(case, "root")?,
        )
        .map_err(|e| e.to_string()),
        "consistency" => verify_consistency(
            u64_field(case, "size1"),
            u64_field(case, "size2"),
            &proof,
            &bytes_field(case, "root1")?,
            &bytes_field(case, "root2")?,
        )
        .map_err(|e| e.to_string()),
        _ => unreachable!(),
    }
}

#[test]
fn transparency_dev_merkle_corpus() {
    let base = crate::vectors_dir().join("merkle");
    let mut total = 0;
    let mut passing = 0;
    let mut wrong = Vec::new();
    for kind in ["inclusion", "consistency"] {
        let mut files = Vec::new();
        json_files(&base.join(kind), &mut files);
        files.sort();
        for file in files {
            let text = std::fs::read_to_string(&file).expect("read vector");
            let case: Value = serde_json::from_str(&text).expect("vector is JSON");
            let want_err = case["wantErr"].as_bool().expect("wantErr is a bool");
            let got = run(kind, &case);
            total += 1;
            if !want_err {
                passing += 1;
            }
            if got.is_err() != want_err {
                wrong.push(format!(
                    "{}: wantErr {want_err}, got {got:?}",
                    file.display()
                ));
            }
        }
    }
    assert!(
        total >= EXPECTED_CASES,
        "found only {total} cases under {}, want {EXPECTED_CASES}",
        base.display()
    );
    assert_eq!(passing, 12, "the corpus has 12 positive cases");
    assert!(
        wrong.is_empty(),
        "{} cases disagree:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}
