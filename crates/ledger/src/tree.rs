//! Tree hashes and proof generation (RFC 9162 sections 2.1.1, 2.1.3.1 and 2.1.4.1) over any
//! [`SubtreeSource`].
//!
//! Every range that the RFC's proof recursion visits starts at a multiple of the largest power
//! of two not above its length, so it splits into *perfect, aligned* subtrees: the ones a store
//! can keep precomputed. Asking the source only for those makes a proof cost O(log n) look-ups
//! instead of O(n) leaf reads. The recursion is written as a loop from the root down (proofs
//! list hashes from the leaf up, so the collected hashes are reversed at the end).

use crate::hash::{Hash, empty_root, node_hash};

/// Anything that can produce the hash of a perfect, aligned subtree: 2^level leaves starting at
/// leaf index (index << level).
///
/// A store answers from a table of subtree hashes; [`crate::MemoryTree`] keeps them in memory.
/// The proof functions only ask for subtrees that lie inside the tree size they were given, so
/// a source may treat any other request as an error.
pub trait SubtreeSource {
    /// What goes wrong when reading a subtree (I/O, a missing row).
    type Error;

    /// The hash of the 2^`level` leaves starting at leaf `index << level`: the leaf hash itself
    /// for level 0.
    fn subtree(&mut self, level: u32, index: u64) -> Result<Hash, Self::Error>;
}

impl<S: SubtreeSource + ?Sized> SubtreeSource for &mut S {
    type Error = S::Error;

    fn subtree(&mut self, level: u32, index: u64) -> Result<Hash, Self::Error> {
        (**self).subtree(level, index)
    }
}

/// Why a proof could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ProofError<E> {
    /// The request does not describe a proof: an index not below the size, a size beyond the
    /// tree, a first size of zero or a first size above the second.
    #[error("proof request out of range: {reason}")]
    OutOfRange {
        /// What is wrong with the request, for people.
        reason: String,
    },
    /// The subtree source failed.
    #[error("reading the tree failed: {0}")]
    Source(E),
}

impl<E> ProofError<E> {
    /// A stable, machine-readable name for the variant.
    pub fn code(&self) -> &'static str {
        match self {
            ProofError::OutOfRange { .. } => "proof_out_of_range",
            ProofError::Source(_) => "tree_read_failed",
        }
    }
}

/// The largest power of two strictly below `n`; `n` must be at least 2.
pub(crate) fn split(n: u64) -> u64 {
    debug_assert!(n >= 2);
    1u64 << (63 - (n - 1).leading_zeros())
}

/// MTH(D\[start:end\]) per RFC 9162 2.1.1, built from perfect aligned subtrees only.
///
/// Any range is accepted. Ranges that arise in proofs (and `0..size`) cost one source call per
/// perfect subtree of their binary decomposition; a range that is not aligned that way has no
/// perfect subtrees of the global tree inside it beyond single leaves, so it costs one call per
/// leaf. An empty range (`start >= end`) gives [`empty_root`].
pub fn range_hash<S: SubtreeSource>(src: &mut S, start: u64, end: u64) -> Result<Hash, S::Error> {
    if start >= end {
        return Ok(empty_root());
    }
    let n = end - start;
    if n.is_power_of_two() && start.is_multiple_of(n) {
        let level = n.trailing_zeros();
        return src.subtree(level, start >> level);
    }
    // MTH(D[n]) = HASH(0x01 || MTH(D[0:k]) || MTH(D[k:n])) with k the largest power of two < n.
    let k = split(n);
    let left = range_hash(src, start, start + k)?;
    let right = range_hash(src, start + k, end)?;
    Ok(node_hash(&left, &right))
}

/// The root of the first `size` leaves: [`empty_root`] for 0.
pub fn root<S: SubtreeSource>(src: &mut S, size: u64) -> Result<Hash, S::Error> {
    range_hash(src, 0, size)
}

/// The inclusion proof (RFC 9162 2.1.3.1 PATH) of leaf `index` in the tree of the first `size`
/// leaves, ordered from the leaf's sibling up to the root's child.
pub fn inclusion_proof<S: SubtreeSource>(
    src: &mut S,
    index: u64,
    size: u64,
) -> Result<Vec<Hash>, ProofError<S::Error>> {
    if index >= size {
        return Err(ProofError::OutOfRange {
            reason: format!("leaf index {index} is not below tree size {size}"),
        });
    }
    let mut proof = Vec::new();
    let (mut start, mut end) = (0u64, size);
    while end - start > 1 {
        let k = split(end - start);
        if index < start + k {
            // PATH(m, D[0:k]) : MTH(D[k:n])
            proof.push(range_hash(src, start + k, end).map_err(ProofError::Source)?);
            end = start + k;
        } else {
            // PATH(m - k, D[k:n]) : MTH(D[0:k])
            proof.push(range_hash(src, start, start + k).map_err(ProofError::Source)?);
            start += k;
        }
    }
    proof.reverse();
    Ok(proof)
}

/// The consistency proof (RFC 9162 2.1.4.1 PROOF) between the trees of the first `first` and
/// the first `second` leaves. `first == second` gives an empty proof; `first == 0` is an error
/// (every tree extends the empty one, so such a proof says nothing).
pub fn consistency_proof<S: SubtreeSource>(
    src: &mut S,
    first: u64,
    second: u64,
) -> Result<Vec<Hash>, ProofError<S::Error>> {
    check_consistency_sizes(first, second)?;
    let mut proof = Vec::new();
    // SUBPROOF(m, D[start:end], b) with m = first - start.
    let (mut start, mut end, mut whole) = (0u64, second, true);
    loop {
        if first == end {
            if !whole {
                proof.push(range_hash(src, start, end).map_err(ProofError::Source)?);
            }
            break;
        }
        let k = split(end - start);
        if first - start <= k {
            // SUBPROOF(m, D[0:k], b) : MTH(D[k:n])
            proof.push(range_hash(src, start + k, end).map_err(ProofError::Source)?);
            end = start + k;
        } else {
            // SUBPROOF(m - k, D[k:n], false) : MTH(D[0:k])
            proof.push(range_hash(src, start, start + k).map_err(ProofError::Source)?);
            start += k;
            whole = false;
        }
    }
    proof.reverse();
    Ok(proof)
}

fn check_consistency_sizes<E>(first: u64, second: u64) -> Result<(), ProofError<E>> {
    if first == 0 {
        return Err(ProofError::OutOfRange {
            reason: "a consistency proof needs a first size above zero".to_owned(),
        });
    }
    if first > second {
        return Err(ProofError::OutOfRange {
            reason: format!("first size {first} is above second size {second}"),
        });
    }
    Ok(())
}

/// The number of hashes in the inclusion proof of `index` in a tree of `size`
/// (`index < size`), following the PATH recursion on sizes alone.
pub(crate) fn inclusion_proof_len(index: u64, size: u64) -> usize {
    let (mut m, mut n, mut len) = (index, size, 0);
    while n > 1 {
        let k = split(n);
        if m < k {
            n = k;
        } else {
            m -= k;
            n -= k;
        }
        len += 1;
    }
    len
}

/// The number of hashes in the consistency proof from `first` to `second`
/// (`0 < first <= second`), following the SUBPROOF recursion on sizes alone.
pub(crate) fn consistency_proof_len(first: u64, second: u64) -> usize {
    let (mut m, mut n, mut whole, mut len) = (first, second, true, 0);
    loop {
        if m == n {
            return if whole { len } else { len + 1 };
        }
        let k = split(n);
        if m <= k {
            n = k;
        } else {
            m -= k;
            n -= k;
            whole = false;
        }
        len += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_is_largest_power_of_two_below() {
        let cases = [
            (2, 1),
            (3, 2),
            (4, 2),
            (5, 4),
            (8, 4),
            (9, 8),
            (u64::MAX, 1 << 63),
        ];
        for (n, k) in cases {
            assert_eq!(split(n), k, "n = {n}");
        }
        assert_eq!(split(1 << 63), 1 << 62);
    }

    #[test]
    fn proof_lengths_match_rfc_examples() {
        // RFC 9162 2.1.5: the 7-leaf tree.
        assert_eq!(inclusion_proof_len(0, 7), 3); // [b, h, l]
        assert_eq!(inclusion_proof_len(3, 7), 3); // [c, g, l]
        assert_eq!(inclusion_proof_len(4, 7), 3); // [f, j, k]
        assert_eq!(inclusion_proof_len(6, 7), 2); // [i, k]
        assert_eq!(consistency_proof_len(3, 7), 4); // [c, d, g, l]
        assert_eq!(consistency_proof_len(4, 7), 1); // [l]
        assert_eq!(consistency_proof_len(6, 7), 3); // [i, j, k]
        assert_eq!(consistency_proof_len(7, 7), 0);
        assert_eq!(inclusion_proof_len(0, 1), 0);
    }

    #[test]
    fn proof_lengths_fit_in_64_levels() {
        assert_eq!(inclusion_proof_len(0, u64::MAX), 64);
        assert_eq!(inclusion_proof_len(u64::MAX - 1, u64::MAX), 63);
        assert!(consistency_proof_len(u64::MAX - 1, u64::MAX) <= 128);
    }
}
