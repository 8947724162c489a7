//! Proof verification: real proofs over a tree the input shapes verify, and any change to a
//! proof, a root, an index, or the size with its root makes verification fail (never panic).
//! (A size alone is not part of an inclusion proof: the fuzzer showed that leaf 26's proof in
//! a tree of 47 also verifies "in a tree of 48" against the 47-leaf root, as RFC 9162 allows;
//! a signed checkpoint is what ties a size to its root.)

use trailkeep_ledger::{MemoryTree, leaf_hash, verify_consistency, verify_inclusion};

/// The check: the input is `leaves (1 byte) first (1) index (1) mutation (rest)`.
pub fn check(data: &[u8]) {
    let [leaves, first, index, mutation @ ..] = data else {
        return;
    };
    let size = u64::from(*leaves % 64) + 1;
    let mut tree = MemoryTree::new();
    for i in 0..size {
        tree.push(leaf_hash(&i.to_be_bytes()));
    }
    let root = tree.root();
    let index = u64::from(*index) % size;
    let leaf = tree.leaf(index).expect("a leaf");
    let proof = tree.inclusion_proof(index, size).expect("a proof");
    verify_inclusion(&leaf, index, size, &proof, &root).expect("a real inclusion proof");
    let first = u64::from(*first) % size + 1;
    let first_root = tree.root_at(first).expect("a root");
    let consistency = tree.consistency_proof(first, size).expect("a proof");
    verify_consistency(first, size, &consistency, &first_root, &root)
        .expect("a real consistency proof");

    // The mutation: which part to change, where, and to what.
    let [what, at, byte, ..] = mutation else {
        return;
    };
    let flip = |hashes: &mut Vec<[u8; 32]>| {
        if hashes.is_empty() {
            return false;
        }
        let i = usize::from(*at) % hashes.len();
        let j = usize::from(*byte) % 32;
        hashes[i][j] ^= 1 | byte;
        true
    };
    match what % 6 {
        0 => {
            let mut bad = proof.clone();
            if flip(&mut bad) {
                assert!(verify_inclusion(&leaf, index, size, &bad, &root).is_err());
            }
        }
        1 => {
            let other = (index + 1 + u64::from(*at)) % size;
            if other != index {
                assert!(verify_inclusion(&leaf, other, size, &proof, &root).is_err());
            }
        }
        2 => {
            let mut bad = consistency.clone();
            if flip(&mut bad) {
                assert!(verify_consistency(first, size, &bad, &first_root, &root).is_err());
            }
        }
        3 => {
            let mut bad_root = root;
            bad_root[usize::from(*at) % 32] ^= 1;
            assert!(verify_inclusion(&leaf, index, size, &proof, &bad_root).is_err());
        }
        4 => {
            // The size is not in the proof (a signed checkpoint pairs it with its root), so the
            // property is: checked against another size's root, the proof fails.
            let other = index + 1 + u64::from(*at) % (size - index);
            let other_root = tree.root_at(other).expect("a root");
            if other_root != root {
                assert!(verify_inclusion(&leaf, index, other, &proof, &other_root).is_err());
            }
        }
        _ => {
            // Arbitrary sizes and a made-up proof: refused or accepted, never a panic.
            let sizes = [u64::from(*at), u64::from(*byte), u64::MAX, u64::MAX / 2];
            let hashes = vec![[*byte; 32]; usize::from(*at) % 70];
            for &a in &sizes {
                for &b in &sizes {
                    let _ = verify_consistency(a, b, &hashes, &root, &root);
                    let _ = verify_inclusion(&leaf, a, b, &hashes, &root);
                }
            }
        }
    }
}
