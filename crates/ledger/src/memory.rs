//! [`MemoryTree`]: every perfect subtree hash of a tree, kept in memory.
//!
//! It is the reference [`SubtreeSource`] for tests and for small callers (an offline verifier
//! rebuilding a tree from an export). Level `l` holds the hash of every complete aligned block
//! of 2^l leaves, so a subtree look-up is an index and a push is amortised O(1).

use std::convert::Infallible;

use crate::hash::{Hash, empty_root, node_hash};
use crate::tree::{self, ProofError, SubtreeSource};

/// A tree held in memory: all leaf hashes plus every perfect subtree above them.
#[derive(Clone, Debug, Default)]
pub struct MemoryTree {
    /// `levels[l][i]` is the hash of leaves `i << l .. (i + 1) << l`.
    levels: Vec<Vec<Hash>>,
}

impl MemoryTree {
    /// An empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a leaf hash.
    pub fn push(&mut self, leaf: Hash) {
        let mut hash = leaf;
        let mut level = 0;
        loop {
            if self.levels.len() == level {
                self.levels.push(Vec::new());
            }
            let row = &mut self.levels[level];
            row.push(hash);
            if row.len() % 2 == 1 {
                return;
            }
            let n = row.len();
            hash = node_hash(&row[n - 2], &row[n - 1]);
            level += 1;
        }
    }

    /// The number of leaves.
    pub fn len(&self) -> u64 {
        self.levels.first().map_or(0, |leaves| leaves.len() as u64)
    }

    /// Whether the tree has no leaves.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The leaf hash at `index`, if there is one.
    pub fn leaf(&self, index: u64) -> Option<Hash> {
        let index = usize::try_from(index).ok()?;
        self.levels.first()?.get(index).copied()
    }

    /// The root of the whole tree.
    pub fn root(&self) -> Hash {
        let Ok(root) = tree::root(&mut &*self, self.len());
        root
    }

    /// The root of the tree of the first `size` leaves.
    pub fn root_at(&self, size: u64) -> Result<Hash, ProofError<Infallible>> {
        self.check_size(size)?;
        let Ok(root) = tree::root(&mut &*self, size);
        Ok(root)
    }

    /// The inclusion proof of leaf `index` in the tree of the first `size` leaves.
    pub fn inclusion_proof(
        &self,
        index: u64,
        size: u64,
    ) -> Result<Vec<Hash>, ProofError<Infallible>> {
        self.check_size(size)?;
        tree::inclusion_proof(&mut &*self, index, size)
    }

    /// The consistency proof between the trees of the first `first` and the first `second`
    /// leaves.
    pub fn consistency_proof(
        &self,
        first: u64,
        second: u64,
    ) -> Result<Vec<Hash>, ProofError<Infallible>> {
        self.check_size(second)?;
        tree::consistency_proof(&mut &*self, first, second)
    }

    fn check_size(&self, size: u64) -> Result<(), ProofError<Infallible>> {
        if size > self.len() {
            return Err(ProofError::OutOfRange {
                reason: format!(
                    "tree size {size} is above the {} leaves there are",
                    self.len()
                ),
            });
        }
        Ok(())
    }

    fn subtree_hash(&self, level: u32, index: u64) -> Hash {
        let found = usize::try_from(level)
            .ok()
            .and_then(|l| self.levels.get(l))
            .and_then(|row| row.get(usize::try_from(index).ok()?));
        if let Some(hash) = found {
            return *hash;
        }
        // Out of range: never asked for by the proof functions, which check sizes first. Hash
        // whatever part of the block exists rather than panic.
        let leaves = self.levels.first().map_or(&[][..], Vec::as_slice);
        let width = 1u128 << level.min(64);
        let clamp = |x: u128| usize::try_from(x.min(leaves.len() as u128)).unwrap_or(leaves.len());
        let start = clamp(u128::from(index) * width);
        let end = clamp((u128::from(index) + 1).saturating_mul(width));
        naive_root(&leaves[start..end])
    }
}

fn naive_root(leaves: &[Hash]) -> Hash {
    match leaves.len() {
        0 => empty_root(),
        1 => leaves[0],
        n => {
            let k = tree::split(n as u64) as usize;
            node_hash(&naive_root(&leaves[..k]), &naive_root(&leaves[k..]))
        }
    }
}

impl SubtreeSource for &MemoryTree {
    type Error = Infallible;

    fn subtree(&mut self, level: u32, index: u64) -> Result<Hash, Infallible> {
        Ok(self.subtree_hash(level, index))
    }
}

impl SubtreeSource for MemoryTree {
    type Error = Infallible;

    fn subtree(&mut self, level: u32, index: u64) -> Result<Hash, Infallible> {
        Ok(self.subtree_hash(level, index))
    }
}

impl Extend<Hash> for MemoryTree {
    fn extend<I: IntoIterator<Item = Hash>>(&mut self, iter: I) {
        for leaf in iter {
            self.push(leaf);
        }
    }
}

impl FromIterator<Hash> for MemoryTree {
    fn from_iter<I: IntoIterator<Item = Hash>>(iter: I) -> Self {
        let mut tree = Self::new();
        tree.extend(iter);
        tree
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::leaf_hash;

    #[test]
    fn out_of_range_subtree_does_not_panic() {
        let tree: MemoryTree = (0u8..5).map(|i| leaf_hash(&[i])).collect();
        let mut src = &tree;
        assert_eq!(src.subtree(0, 99), Ok(empty_root()));
        assert_eq!(src.subtree(200, u64::MAX), Ok(empty_root()));
        assert_eq!(src.subtree(200, 0), Ok(tree.root()));
        assert_eq!(src.subtree(3, 0), Ok(tree.root()));
    }

    #[test]
    fn sizes_beyond_the_tree_are_refused() {
        let tree: MemoryTree = (0u8..5).map(|i| leaf_hash(&[i])).collect();
        assert!(matches!(
            tree.inclusion_proof(0, 6),
            Err(ProofError::OutOfRange { .. })
        ));
        assert!(matches!(
            tree.consistency_proof(1, 6),
            Err(ProofError::OutOfRange { .. })
        ));
        assert!(matches!(
            tree.root_at(6),
            Err(ProofError::OutOfRange { .. })
        ));
        assert_eq!(tree.leaf(5), None);
    }
}
