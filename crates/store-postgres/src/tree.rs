//! The tenant's Merkle tree as PostgreSQL keeps it, and proofs over it.
//!
//! Leaf hashes live in the event rows. Perfect subtrees at levels 8, 16, 24, ... are rows of
//! `ledger_nodes`, each written once, in the append that completes it; the right edge is the
//! head's frontier. Any perfect subtree is then a fold of at most 128 stored hashes of the
//! stored level below it.
//!
//! The proof functions of `trailkeep_ledger` ask for subtrees one at a time, synchronously.
//! Which ones they ask for depends only on the sizes and the index, never on the hashes, so a
//! proof is made in two passes: a dry run records the subtrees asked for, two queries fetch
//! every hash they need, and the real run answers from memory.

use std::collections::HashMap;

use tokio_postgres::GenericClient;
use trailkeep_ledger::{Frontier, Hash, SubtreeSource, perfect_root};
use trailkeep_store::StoreError;

use crate::internal;
use crate::rows::hash;

/// Every stored level is a multiple of this.
pub const NODE_STRIDE: u32 = 8;

/// Whether perfect subtrees of `level` are stored in `ledger_nodes`.
pub fn is_stored_level(level: u32) -> bool {
    level > 0 && level.is_multiple_of(NODE_STRIDE)
}

/// The head's frontier as stored: the subtree hashes, largest first, one after the other.
pub fn frontier_bytes(frontier: &Frontier) -> Vec<u8> {
    frontier.subtrees().concat()
}

/// A frontier read back from the head of a tree of `size` leaves.
pub fn frontier_from(size: u64, bytes: &[u8]) -> Result<Frontier, StoreError> {
    let hashes: Vec<Hash> = bytes.chunks(32).map(hash).collect::<Result<_, _>>()?;
    Frontier::from_subtrees(size, hashes).ok_or_else(|| {
        StoreError::Corrupt(format!(
            "the ledger head of size {size} holds {} bytes of frontier",
            bytes.len()
        ))
    })
}

/// The two passes' source: first recording what is asked (answering placeholders), then
/// answering from what was fetched.
pub enum TwoPass {
    /// The dry run: the subtrees asked for, in order.
    Recording(Vec<(u32, u64)>),
    /// The real run: the fetched subtrees.
    Fetched(HashMap<(u32, u64), Hash>),
}

impl SubtreeSource for TwoPass {
    type Error = StoreError;

    fn subtree(&mut self, level: u32, index: u64) -> Result<Hash, StoreError> {
        match self {
            TwoPass::Recording(asked) => {
                asked.push((level, index));
                Ok([0; 32])
            }
            TwoPass::Fetched(known) => known.get(&(level, index)).copied().ok_or_else(|| {
                StoreError::Internal(format!("subtree {level}/{index} was not fetched"))
            }),
        }
    }
}

/// Runs `make` (a proof function of `trailkeep_ledger` over the source it is given) over the
/// tenant's stored tree, in the two passes.
pub async fn with_tree<T>(
    client: &impl GenericClient,
    tenant: &str,
    make: impl Fn(&mut TwoPass) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    let mut dry = TwoPass::Recording(Vec::new());
    make(&mut dry)?;
    let TwoPass::Recording(asked) = dry else {
        unreachable!("the dry run records")
    };
    make(&mut TwoPass::Fetched(fetch(client, tenant, &asked).await?))
}

/// Where a subtree's hashes are stored: `count` consecutive hashes of stored level `base`
/// (level 0: leaves) from `first`.
fn parts(level: u32, index: u64) -> (u32, u64, u64) {
    let above = level % NODE_STRIDE;
    (level - above, index << above, 1 << above)
}

/// The hashes of the subtrees `wanted`, by (level, index).
async fn fetch(
    client: &impl GenericClient,
    tenant: &str,
    wanted: &[(u32, u64)],
) -> Result<HashMap<(u32, u64), Hash>, StoreError> {
    let mut leaves: Vec<i64> = Vec::new();
    let mut node_levels: Vec<i32> = Vec::new();
    let mut node_indexes: Vec<i64> = Vec::new();
    for &(level, index) in wanted {
        let (base, first, count) = parts(level, index);
        for i in first..first + count {
            if base == 0 {
                leaves.push(i as i64);
            } else {
                node_levels.push(base as i32);
                node_indexes.push(i as i64);
            }
        }
    }
    let mut stored: HashMap<(u32, u64), Hash> = HashMap::new();
    if !leaves.is_empty() {
        for row in client
            .query(
                "SELECT seq, leaf_hash FROM events WHERE tenant = $1 AND seq = ANY($2)",
                &[&tenant, &leaves],
            )
            .await
            .map_err(internal)?
        {
            stored.insert((0, row.get::<_, i64>(0) as u64), hash(row.get(1))?);
        }
    }
    if !node_levels.is_empty() {
        for row in client
            .query(
                "SELECT n.level, n.idx, n.hash FROM ledger_nodes n
                 JOIN unnest($2::int[], $3::bigint[]) AS w(level, idx)
                   ON n.level = w.level AND n.idx = w.idx
                 WHERE n.tenant = $1",
                &[&tenant, &node_levels, &node_indexes],
            )
            .await
            .map_err(internal)?
        {
            stored.insert(
                (row.get::<_, i32>(0) as u32, row.get::<_, i64>(1) as u64),
                hash(row.get(2))?,
            );
        }
    }
    let mut answers = HashMap::with_capacity(wanted.len());
    for &(level, index) in wanted {
        let (base, first, count) = parts(level, index);
        let hashes: Vec<Hash> = (first..first + count)
            .map(|i| {
                stored.get(&(base, i)).copied().ok_or_else(|| {
                    StoreError::Corrupt(format!(
                        "the tree of tenant {tenant:?} lacks its subtree {base}/{i}"
                    ))
                })
            })
            .collect::<Result<_, _>>()?;
        answers.insert((level, index), perfect_root(&hashes));
    }
    Ok(answers)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subtrees_fold_from_the_stored_level_below() {
        assert_eq!(parts(0, 5), (0, 5, 1));
        assert_eq!(parts(3, 2), (0, 16, 8));
        assert_eq!(parts(8, 7), (8, 7, 1));
        assert_eq!(parts(15, 1), (8, 128, 128));
        assert_eq!(parts(16, 0), (16, 0, 1));
        assert!(is_stored_level(8) && is_stored_level(24));
        assert!(!is_stored_level(0) && !is_stored_level(9));
    }

    #[test]
    fn frontiers_survive_the_head_row() {
        let mut f = Frontier::new();
        for i in 0u32..11 {
            f.push(trailkeep_ledger::leaf_hash(&i.to_be_bytes()));
        }
        let back = frontier_from(11, &frontier_bytes(&f)).unwrap();
        assert_eq!(back, f);
        assert!(frontier_from(12, &frontier_bytes(&f)).is_err());
    }
}
