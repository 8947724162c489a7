//! The ledger crate's integration tests: the outside test vectors (RFC 6962 reference roots,
//! the transparency-dev proof corpus, Go's signed-note keys), property tests tying the prover,
//! the verifier, the frontier and a naive tree together, and checkpoint handling.

mod checkpoint;
mod frontier;
mod notes;
mod props;
mod reference;
mod vectors;

use trailkeep_ledger::{Hash, empty_root, leaf_hash, node_hash};

/// MTH straight from RFC 9162 2.1.1, over a slice of leaf hashes.
pub fn naive_root(leaves: &[Hash]) -> Hash {
    match leaves.len() {
        0 => empty_root(),
        1 => leaves[0],
        n => {
            let mut k = 1;
            while k * 2 < n {
                k *= 2;
            }
            node_hash(&naive_root(&leaves[..k]), &naive_root(&leaves[k..]))
        }
    }
}

/// `n` distinct leaf hashes derived from `seed`.
pub fn leaves(seed: u64, n: u64) -> Vec<Hash> {
    (0..n)
        .map(|i| {
            let mut data = seed.to_be_bytes().to_vec();
            data.extend_from_slice(&i.to_be_bytes());
            leaf_hash(&data)
        })
        .collect()
}

/// The directory of the outside test vectors.
pub fn vectors_dir() -> std::path::PathBuf {
    std::path::PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/test-vectors"
    ))
}
