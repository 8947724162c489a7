//! Every committed fuzz corpus input (`fuzz/corpus/<target>/`) replayed through its target's
//! check: what the fuzzer once found stays fixed, and the checks run with every change.

use std::path::Path;

const CORPUS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fuzz/corpus");

#[test]
fn every_committed_corpus_input_passes_its_check() {
    let mut replayed = 0;
    for (name, check) in trailkeep_fuzz::TARGETS {
        let dir = Path::new(CORPUS).join(name);
        let mut inputs: Vec<_> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|entry| entry.unwrap().path())
            .collect();
        inputs.sort();
        assert!(!inputs.is_empty(), "{name} has no corpus");
        for input in inputs {
            let data = std::fs::read(&input).unwrap();
            let outcome = std::panic::catch_unwind(|| check(&data));
            assert!(
                outcome.is_ok(),
                "{name}: {} fails its check",
                input.display()
            );
            replayed += 1;
        }
    }
    assert!(replayed >= trailkeep_fuzz::TARGETS.len());
}
