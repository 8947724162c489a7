//! [`Frontier`]: the compact range of a whole tree, enough to append and to compute the root.
//!
//! A tree of `n` leaves is a sequence of perfect subtrees, one per set bit of `n`, largest
//! first. Keeping only their hashes (at most 64) lets the ledger writer append a batch and sign
//! the new root without reading old leaves. Appending works like incrementing a binary
//! counter: each carry merges the two rightmost subtrees.

use crate::hash::{Hash, empty_root, node_hash};
use crate::tree::SubtreeSource;

/// The hashes of the perfect subtrees of a tree's binary decomposition, largest first.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Frontier {
    size: u64,
    hashes: Vec<Hash>,
}

impl Frontier {
    /// The frontier of the empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// Rebuilds a frontier from its parts: `hashes` are the perfect subtrees of the binary
    /// decomposition of `size`, largest first. `None` if their count is not the number of set
    /// bits of `size`.
    pub fn from_subtrees(size: u64, hashes: Vec<Hash>) -> Option<Self> {
        (hashes.len() == size.count_ones() as usize).then_some(Self { size, hashes })
    }

    /// Rebuilds the frontier of the first `size` leaves by reading its perfect subtrees from a
    /// source: one look-up per set bit of `size`.
    pub fn load<S: SubtreeSource>(src: &mut S, size: u64) -> Result<Self, S::Error> {
        let mut hashes = Vec::with_capacity(size.count_ones() as usize);
        let mut start = 0u64;
        for level in (0..64u32).rev() {
            if size & (1u64 << level) != 0 {
                hashes.push(src.subtree(level, start >> level)?);
                start += 1u64 << level;
            }
        }
        Ok(Self { size, hashes })
    }

    /// The number of leaves.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Appends a leaf hash. (A tree of 2^64 - 1 leaves cannot grow; that is not a practical
    /// limit.)
    pub fn push(&mut self, leaf: Hash) {
        self.push_with(leaf, |_, _, _| {});
    }

    /// Appends a leaf hash and tells `completed` of every perfect subtree above level 0 that
    /// the leaf completes, as (level, index, hash), lowest first: what a store that keeps
    /// some levels of the tree writes once, when they are final.
    pub fn push_with(&mut self, leaf: Hash, mut completed: impl FnMut(u32, u64, &Hash)) {
        let position = self.size;
        let mut hash = leaf;
        let mut carry = self.size;
        let mut level = 0;
        while carry & 1 == 1 {
            if let Some(left) = self.hashes.pop() {
                hash = node_hash(&left, &hash);
            }
            carry >>= 1;
            level += 1;
            completed(level, position >> level, &hash);
        }
        self.hashes.push(hash);
        self.size += 1;
    }

    /// The root of the tree: [`empty_root`] when it is empty.
    pub fn root(&self) -> Hash {
        let mut rest = self.hashes.iter().rev();
        match rest.next() {
            None => empty_root(),
            Some(last) => rest.fold(*last, |acc, left| node_hash(left, &acc)),
        }
    }

    /// The perfect subtree hashes, largest first (their sizes are the set bits of
    /// [`Frontier::size`], from the highest).
    pub fn subtrees(&self) -> &[Hash] {
        &self.hashes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::leaf_hash;

    #[test]
    fn push_keeps_one_hash_per_set_bit() {
        let mut f = Frontier::new();
        for i in 0u32..100 {
            assert_eq!(f.subtrees().len(), f.size().count_ones() as usize);
            f.push(leaf_hash(&i.to_be_bytes()));
        }
        assert_eq!(f.size(), 100);
    }

    #[test]
    fn push_with_names_every_subtree_a_leaf_completes() {
        let leaves: Vec<Hash> = (0u32..64).map(|i| leaf_hash(&i.to_be_bytes())).collect();
        let mut f = Frontier::new();
        let mut seen = Vec::new();
        for leaf in &leaves {
            f.push_with(*leaf, |level, index, hash| seen.push((level, index, *hash)));
        }
        // Every perfect subtree of 64 leaves above the leaves: 32 + 16 + ... + 1.
        assert_eq!(seen.len(), 63);
        for (level, index, hash) in seen {
            let width = 1usize << level;
            let start = index as usize * width;
            assert_eq!(hash, crate::perfect_root(&leaves[start..start + width]));
        }
    }

    #[test]
    fn from_subtrees_checks_the_count() {
        assert!(Frontier::from_subtrees(0, vec![]).is_some());
        assert!(Frontier::from_subtrees(0, vec![[0; 32]]).is_none());
        assert!(Frontier::from_subtrees(5, vec![[0; 32]]).is_none());
        assert!(Frontier::from_subtrees(5, vec![[0; 32]; 2]).is_some());
        assert!(Frontier::from_subtrees(u64::MAX, vec![[0; 32]; 64]).is_some());
    }
}
