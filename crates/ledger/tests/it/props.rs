//! Property tests: the generic prover, the verifier, the frontier and a naive tree agree, and
//! any single change to a valid proof's inputs is caught unless it cannot be seen by design.

use proptest::prelude::*;
use proptest::sample::Index;
use trailkeep_ledger::{
    Frontier, Hash, MemoryTree, consistency_proof, inclusion_proof, verify_consistency,
    verify_inclusion,
};

use crate::naive_root;

fn largest_power_below(n: usize) -> usize {
    let mut k = 1;
    while k * 2 < n {
        k *= 2;
    }
    k
}

/// RFC 9162 2.1.3.1 PATH, straight from the definition over the leaves.
fn naive_path(m: usize, leaves: &[Hash]) -> Vec<Hash> {
    let n = leaves.len();
    if n <= 1 {
        return Vec::new();
    }
    let k = largest_power_below(n);
    let (mut path, sibling) = if m < k {
        (naive_path(m, &leaves[..k]), naive_root(&leaves[k..]))
    } else {
        (naive_path(m - k, &leaves[k..]), naive_root(&leaves[..k]))
    };
    path.push(sibling);
    path
}

/// RFC 9162 2.1.4.1 SUBPROOF, straight from the definition over the leaves.
fn naive_subproof(m: usize, leaves: &[Hash], whole: bool) -> Vec<Hash> {
    let n = leaves.len();
    if m == n {
        return if whole {
            Vec::new()
        } else {
            vec![naive_root(leaves)]
        };
    }
    let k = largest_power_below(n);
    let (mut proof, other) = if m <= k {
        (
            naive_subproof(m, &leaves[..k], whole),
            naive_root(&leaves[k..]),
        )
    } else {
        (
            naive_subproof(m - k, &leaves[k..], false),
            naive_root(&leaves[..k]),
        )
    };
    proof.push(other);
    proof
}

/// The left/right steps of PATH from the root down: two (index, size) pairs with equal shapes
/// hash the same inputs the same way, so a verifier cannot tell them apart.
fn inclusion_shape(mut m: u64, mut n: u64) -> Vec<bool> {
    let mut shape = Vec::new();
    while n > 1 {
        let k = largest_power_below(n as usize) as u64;
        shape.push(m < k);
        if m >= k {
            m -= k;
            n -= k;
        } else {
            n = k;
        }
    }
    shape
}

/// The steps of SUBPROOF from the root down, and whether the first root is implicit.
fn consistency_shape(mut m: u64, mut n: u64) -> (Vec<bool>, bool) {
    let (mut shape, mut whole) = (Vec::new(), true);
    while m != n {
        let k = largest_power_below(n as usize) as u64;
        shape.push(m <= k);
        if m > k {
            m -= k;
            n -= k;
            whole = false;
        } else {
            n = k;
        }
    }
    (shape, whole)
}

fn tree(seed: u64, size: u64) -> (Vec<Hash>, MemoryTree) {
    let leaves = crate::leaves(seed, size);
    let tree = leaves.iter().copied().collect();
    (leaves, tree)
}

/// Every single-bit change of `hash`.
fn bit_flips(hash: &Hash) -> impl Iterator<Item = Hash> + '_ {
    (0..256).map(move |bit| {
        let mut h = *hash;
        h[bit / 8] ^= 1 << (bit % 8);
        h
    })
}

fn neighbours(x: u64) -> impl Iterator<Item = u64> {
    [x.checked_sub(1), x.checked_add(1)].into_iter().flatten()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn roots_agree_at_every_size(size in 0u64..300, seed in any::<u64>()) {
        let (leaves, tree) = tree(seed, size);
        let mut frontier = Frontier::new();
        for n in 0..=size {
            let naive = naive_root(&leaves[..n as usize]);
            let mut src = &tree;
            prop_assert_eq!(trailkeep_ledger::root(&mut src, n).expect("infallible"), naive);
            prop_assert_eq!(frontier.root(), naive);
            prop_assert_eq!(frontier.size(), n);
            if let Some(leaf) = leaves.get(n as usize) {
                frontier.push(*leaf);
            }
        }
        prop_assert_eq!(tree.root(), frontier.root());
    }

    #[test]
    fn every_inclusion_proof_verifies(
        size in 1u64..300,
        seed in any::<u64>(),
        smaller in any::<Index>(),
        sample in any::<Index>(),
    ) {
        let (leaves, tree) = tree(seed, size);
        // Every leaf in the whole tree, and every leaf in one smaller tree.
        let sizes = [size, smaller.index(size as usize) as u64 + 1];
        for n in sizes {
            let root = tree.root_at(n).expect("in range");
            for index in 0..n {
                let mut src = &tree;
                let proof = inclusion_proof(&mut src, index, n).expect("in range");
                prop_assert_eq!(&proof, &tree.inclusion_proof(index, n).expect("in range"));
                let leaf = leaves[index as usize];
                let checked = verify_inclusion(&leaf, index, n, &proof, &root);
                prop_assert!(checked.is_ok(), "index {} size {}: {:?}", index, n, checked);
            }
        }
        // The prover is the RFC's PATH (checked on one leaf: the naive version is slow).
        let index = sample.index(size as usize);
        prop_assert_eq!(
            tree.inclusion_proof(index as u64, size).expect("in range"),
            naive_path(index, &leaves)
        );
    }

    #[test]
    fn consistency_proofs_verify(
        size in 1u64..300,
        seed in any::<u64>(),
        pairs in proptest::collection::vec((any::<Index>(), any::<Index>()), 24),
    ) {
        let (leaves, tree) = tree(seed, size);
        for (i, (a, b)) in pairs.iter().enumerate() {
            let second = b.index(size as usize) as u64 + 1;
            let first = a.index(second as usize) as u64 + 1;
            let mut src = &tree;
            let proof = consistency_proof(&mut src, first, second).expect("in range");
            let (r1, r2) = (tree.root_at(first).expect("in range"), tree.root_at(second).expect("in range"));
            let checked = verify_consistency(first, second, &proof, &r1, &r2);
            prop_assert!(checked.is_ok(), "{} -> {}: {:?}", first, second, checked);
            if i < 4 {
                prop_assert_eq!(
                    proof,
                    naive_subproof(first as usize, &leaves[..second as usize], true)
                );
            }
        }
    }

    #[test]
    fn tampered_inclusion_fails(
        size in 1u64..300,
        seed in any::<u64>(),
        pick in any::<Index>(),
    ) {
        let (leaves, tree) = tree(seed, size);
        let index = pick.index(size as usize) as u64;
        let leaf = leaves[index as usize];
        let root = tree.root();
        let proof = tree.inclusion_proof(index, size).expect("in range");
        prop_assert!(verify_inclusion(&leaf, index, size, &proof, &root).is_ok());

        for bad in bit_flips(&leaf) {
            prop_assert!(verify_inclusion(&bad, index, size, &proof, &root).is_err());
        }
        for bad in bit_flips(&root) {
            prop_assert!(verify_inclusion(&leaf, index, size, &proof, &bad).is_err());
        }
        for i in 0..proof.len() {
            for bad in bit_flips(&proof[i]) {
                let mut p = proof.clone();
                p[i] = bad;
                prop_assert!(verify_inclusion(&leaf, index, size, &p, &root).is_err());
            }
        }
        let mut longer = proof.clone();
        longer.push(root);
        prop_assert!(verify_inclusion(&leaf, index, size, &longer, &root).is_err());
        if !proof.is_empty() {
            let shorter = &proof[..proof.len() - 1];
            prop_assert!(verify_inclusion(&leaf, index, size, shorter, &root).is_err());
        }

        // Another index always fails. Another size fails unless it gives the proof the same
        // shape: inclusion proofs commit to the size only through their shape.
        for other in neighbours(index) {
            prop_assert!(verify_inclusion(&leaf, other, size, &proof, &root).is_err());
        }
        for other in neighbours(size) {
            let ok = verify_inclusion(&leaf, index, other, &proof, &root).is_ok();
            let same_shape = index < other
                && inclusion_shape(index, other) == inclusion_shape(index, size);
            prop_assert_eq!(ok, same_shape, "index {} size {} -> {}", index, size, other);
        }
    }

    #[test]
    fn tampered_consistency_fails(
        size in 2u64..300,
        seed in any::<u64>(),
        a in any::<Index>(),
        b in any::<Index>(),
    ) {
        let (_, tree) = tree(seed, size);
        let second = b.index(size as usize - 1) as u64 + 2; // 2..=size
        let first = a.index(second as usize - 1) as u64 + 1; // 1..second
        let (r1, r2) = (tree.root_at(first).expect("in range"), tree.root_at(second).expect("in range"));
        let proof = tree.consistency_proof(first, second).expect("in range");
        prop_assert!(verify_consistency(first, second, &proof, &r1, &r2).is_ok());

        for bad in bit_flips(&r1) {
            prop_assert!(verify_consistency(first, second, &proof, &bad, &r2).is_err());
        }
        for bad in bit_flips(&r2) {
            prop_assert!(verify_consistency(first, second, &proof, &r1, &bad).is_err());
        }
        for i in 0..proof.len() {
            for bad in bit_flips(&proof[i]) {
                let mut p = proof.clone();
                p[i] = bad;
                prop_assert!(verify_consistency(first, second, &p, &r1, &r2).is_err());
            }
        }
        let mut longer = proof.clone();
        longer.push(r2);
        prop_assert!(verify_consistency(first, second, &longer, &r1, &r2).is_err());
        let shorter = &proof[..proof.len() - 1];
        prop_assert!(verify_consistency(first, second, shorter, &r1, &r2).is_err());
        prop_assert!(verify_consistency(first, second, &proof, &r2, &r1).is_err());

        // Other sizes fail unless the proof keeps its shape.
        let base = consistency_shape(first, second);
        let others = neighbours(first)
            .map(|f| (f, second))
            .chain(neighbours(second).map(|s| (first, s)));
        for (f, s) in others {
            let ok = verify_consistency(f, s, &proof, &r1, &r2).is_ok();
            let same_shape = 0 < f && f < s && consistency_shape(f, s) == base;
            prop_assert_eq!(ok, same_shape, "{} -> {} as {} -> {}", first, second, f, s);
        }
    }
}

#[test]
fn all_small_consistency_proofs_verify() {
    let (leaves, tree) = tree(42, 64);
    for second in 1..=64u64 {
        let r2 = tree.root_at(second).expect("in range");
        for first in 1..=second {
            let r1 = tree.root_at(first).expect("in range");
            let proof = tree.consistency_proof(first, second).expect("in range");
            assert_eq!(
                proof,
                naive_subproof(first as usize, &leaves[..second as usize], true),
                "{first} -> {second}"
            );
            assert_eq!(
                verify_consistency(first, second, &proof, &r1, &r2),
                Ok(()),
                "{first} -> {second}"
            );
        }
    }
}

#[test]
fn all_small_inclusion_proofs_match_the_rfc() {
    let (leaves, tree) = tree(43, 40);
    for size in 1..=40u64 {
        let root = tree.root_at(size).expect("in range");
        for index in 0..size {
            let proof = tree.inclusion_proof(index, size).expect("in range");
            assert_eq!(proof, naive_path(index as usize, &leaves[..size as usize]));
            assert_eq!(
                verify_inclusion(&leaves[index as usize], index, size, &proof, &root),
                Ok(())
            );
        }
    }
}

#[test]
fn out_of_range_requests_are_refused() {
    use trailkeep_ledger::{ProofError, VerifyError};
    let (_, tree) = tree(1, 10);
    let mut src = &tree;
    assert!(matches!(
        inclusion_proof(&mut src, 10, 10),
        Err(ProofError::OutOfRange { .. })
    ));
    assert!(matches!(
        inclusion_proof(&mut src, 0, 0),
        Err(ProofError::OutOfRange { .. })
    ));
    assert!(matches!(
        consistency_proof(&mut src, 0, 5),
        Err(ProofError::OutOfRange { .. })
    ));
    assert!(matches!(
        consistency_proof(&mut src, 6, 5),
        Err(ProofError::OutOfRange { .. })
    ));
    assert_eq!(
        consistency_proof(&mut src, 5, 5).expect("equal sizes"),
        Vec::<Hash>::new()
    );
    assert!(matches!(
        tree.inclusion_proof(0, 11),
        Err(ProofError::OutOfRange { .. })
    ));

    let h = tree.root();
    let none: [Hash; 0] = [];
    assert_eq!(
        verify_inclusion(&h, 0, 0, &none, &h),
        Err(VerifyError::EmptyTree)
    );
    assert_eq!(
        verify_inclusion(&h, 3, 3, &none, &h),
        Err(VerifyError::IndexOutOfRange { index: 3, size: 3 })
    );
    assert_eq!(
        verify_inclusion(&h[..31], 0, 1, &none, &h),
        Err(VerifyError::BadHashLength {
            what: "leaf hash",
            len: 31
        })
    );
    assert_eq!(
        verify_inclusion(&h, 0, 2, &[&h[..]], &h),
        Err(VerifyError::RootMismatch)
    );
    assert_eq!(
        verify_inclusion(&h, 0, 2, &[&h[..3]], &h),
        Err(VerifyError::BadProofHashLength {
            position: 0,
            len: 3
        })
    );
    assert_eq!(
        verify_inclusion(&h, 0, 4, &[h], &h),
        Err(VerifyError::WrongProofLength { got: 1, want: 2 })
    );
    assert_eq!(
        verify_consistency(0, 0, &none, &h, &h),
        Err(VerifyError::FirstSizeZero)
    );
    assert_eq!(
        verify_consistency(2, 1, &none, &h, &h),
        Err(VerifyError::FirstAboveSecond {
            first: 2,
            second: 1
        })
    );
    assert_eq!(verify_consistency(3, 3, &none, &h, &h), Ok(()));
    assert_eq!(
        verify_consistency(3, 3, &[h], &h, &h),
        Err(VerifyError::WrongProofLength { got: 1, want: 0 })
    );
    assert_eq!(
        verify_consistency(3, 3, &none, &h, &h[..31]),
        Err(VerifyError::RootMismatch)
    );
}

/// Regression guard for a property of RFC 9162 itself, not a bug: a proof says nothing about
/// the tree size beyond its shape, so a size with the same shape verifies too. The signed
/// checkpoint is what binds root and size; callers must check the size from it.
#[test]
fn proofs_bind_the_size_only_through_their_shape() {
    let (leaves, tree) = tree(5, 4);
    let root3 = tree.root_at(3).expect("in range");
    let proof = tree.inclusion_proof(0, 3).expect("in range");
    assert_eq!(verify_inclusion(&leaves[0], 0, 3, &proof, &root3), Ok(()));
    assert_eq!(verify_inclusion(&leaves[0], 0, 4, &proof, &root3), Ok(()));

    let (r2, r3) = (tree.root_at(2).expect("in range"), root3);
    let proof = tree.consistency_proof(2, 3).expect("in range");
    assert_eq!(verify_consistency(2, 3, &proof, &r2, &r3), Ok(()));
    assert_eq!(verify_consistency(2, 4, &proof, &r2, &r3), Ok(()));
}
