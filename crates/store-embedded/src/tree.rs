//! The tenant's Merkle tree as the embedded engine keeps it.
//!
//! Leaf hashes live in the `events` rows. Above them, the roots of complete 256-leaf blocks
//! (level 8) are stored in `ledger_nodes` and, with every level above 8, kept in memory in
//! [`UpperLevels`]: about 2 hashes per 256 events, 2.5 MB at 10 million events. Any perfect
//! subtree a proof needs is then either an O(1) lookup (level >= 8) or a fold of at most 128 leaf
//! hashes read in one range query (level < 8).

use rusqlite::Connection;
use trailkeep_ledger::{Hash, SubtreeSource, node_hash, perfect_root};
use trailkeep_store::StoreError;

use crate::schema::{event_key, hash_from_blob};

/// The level of the stored block roots.
pub const BLOCK_LEVEL: u32 = 8;
/// Leaves per block.
pub const BLOCK_LEAVES: u64 = 1 << BLOCK_LEVEL;

/// Hashes of every complete perfect subtree at level 8 and above.
#[derive(Debug, Default)]
pub struct UpperLevels {
    /// `levels[k][i]` is the subtree at level `8 + k`, index `i`.
    levels: Vec<Vec<Hash>>,
}

impl UpperLevels {
    /// Number of complete 256-leaf blocks.
    pub fn blocks(&self) -> u64 {
        self.levels.first().map_or(0, |l| l.len() as u64)
    }

    /// Adds the root of the next block and every parent it completes.
    pub fn push_block(&mut self, hash: Hash) {
        let mut carry = hash;
        let mut k = 0;
        loop {
            if self.levels.len() == k {
                self.levels.push(Vec::new());
            }
            let level = &mut self.levels[k];
            level.push(carry);
            if level.len() % 2 == 1 {
                return;
            }
            carry = node_hash(&level[level.len() - 2], &level[level.len() - 1]);
            k += 1;
        }
    }

    /// Forgets every block from `blocks` on (undoes pushes of a rolled-back transaction).
    pub fn truncate_blocks(&mut self, blocks: u64) {
        for (k, level) in self.levels.iter_mut().enumerate() {
            level.truncate((blocks >> k) as usize);
        }
    }

    /// The subtree at `level` (>= 8) and `index`, if complete.
    pub fn get(&self, level: u32, index: u64) -> Option<Hash> {
        let k = level.checked_sub(BLOCK_LEVEL)? as usize;
        self.levels
            .get(k)?
            .get(usize::try_from(index).ok()?)
            .copied()
    }
}

/// The writer's view: upper levels plus the leaves of the current, incomplete block.
pub struct WriterSource<'a> {
    /// Complete subtrees at level 8 and above.
    pub upper: &'a UpperLevels,
    /// Leaf hashes from `upper.blocks() * 256` on.
    pub block: &'a [Hash],
}

impl SubtreeSource for WriterSource<'_> {
    type Error = StoreError;

    fn subtree(&mut self, level: u32, index: u64) -> Result<Hash, StoreError> {
        if level >= BLOCK_LEVEL {
            return self
                .upper
                .get(level, index)
                .ok_or_else(|| StoreError::Internal(format!("no subtree {level}/{index} yet")));
        }
        let first = (index << level)
            .checked_sub(self.upper.blocks() * BLOCK_LEAVES)
            .ok_or_else(|| StoreError::Internal("writer asked for an old leaf".into()))?;
        let first = first as usize;
        let leaves = self
            .block
            .get(first..first + (1 << level))
            .ok_or_else(|| StoreError::Internal("writer asked for a future leaf".into()))?;
        Ok(perfect_root(leaves))
    }
}

/// A reader's view: upper levels in memory, leaves from SQLite.
pub struct ReaderSource<'a> {
    /// A connection to read leaf hashes with.
    pub conn: &'a Connection,
    /// The tenant's id.
    pub tenant_id: i64,
    /// Complete subtrees at level 8 and above.
    pub upper: &'a UpperLevels,
}

impl SubtreeSource for ReaderSource<'_> {
    type Error = StoreError;

    fn subtree(&mut self, level: u32, index: u64) -> Result<Hash, StoreError> {
        if level >= BLOCK_LEVEL {
            return self.upper.get(level, index).ok_or_else(|| {
                StoreError::Corrupt(format!(
                    "subtree at level {level}, index {index} is missing"
                ))
            });
        }
        let first = index << level;
        let leaves = read_leaf_hashes(self.conn, self.tenant_id, first, 1 << level)?;
        Ok(perfect_root(&leaves))
    }
}

/// Reads exactly `count` consecutive leaf hashes from `first` on.
pub fn read_leaf_hashes(
    conn: &Connection,
    tenant_id: i64,
    first: u64,
    count: u64,
) -> Result<Vec<Hash>, StoreError> {
    let mut leaves = Vec::with_capacity(count as usize);
    if count == 0 {
        return Ok(leaves);
    }
    let mut stmt = conn
        .prepare_cached("SELECT leaf_hash FROM events WHERE key BETWEEN ?1 AND ?2 ORDER BY key")
        .map_err(internal)?;
    let mut rows = stmt
        .query([
            event_key(tenant_id, first),
            event_key(tenant_id, first + count - 1),
        ])
        .map_err(internal)?;
    while let Some(row) = rows.next().map_err(internal)? {
        let blob: Vec<u8> = row.get(0).map_err(internal)?;
        leaves.push(hash_from_blob(blob).map_err(StoreError::Corrupt)?);
    }
    if leaves.len() as u64 != count {
        return Err(StoreError::Corrupt(format!(
            "expected {count} leaves from seq {first}, found {}",
            leaves.len()
        )));
    }
    Ok(leaves)
}

/// Wraps a database error as an internal store error.
pub fn internal(e: impl std::fmt::Display) -> StoreError {
    StoreError::Internal(e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use trailkeep_ledger::{MemoryTree, leaf_hash};

    #[test]
    fn upper_levels_match_a_memory_tree() {
        let mut tree = MemoryTree::new();
        let mut upper = UpperLevels::default();
        let mut block = Vec::new();
        for i in 0..(BLOCK_LEAVES * 5 + 17) {
            let leaf = leaf_hash(&i.to_le_bytes());
            tree.push(leaf);
            block.push(leaf);
            if block.len() as u64 == BLOCK_LEAVES {
                upper.push_block(perfect_root(&block));
                block.clear();
            }
        }
        let mut source = WriterSource {
            upper: &upper,
            block: &block,
        };
        assert_eq!(
            trailkeep_ledger::root(&mut source, tree.len()).unwrap(),
            tree.root()
        );
        assert_eq!(
            upper.get(10, 0),
            Some(trailkeep_ledger::root(&mut tree.clone(), 1024).unwrap())
        );
        upper.truncate_blocks(2);
        assert_eq!(upper.blocks(), 2);
        assert!(upper.get(9, 0).is_some());
        assert_eq!(upper.get(10, 0), None);
    }
}
