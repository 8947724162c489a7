//! The frontier: rebuilding it from its parts or from a subtree source gives the same state.

use trailkeep_ledger::{Frontier, MemoryTree};

#[test]
fn from_subtrees_round_trips() {
    let leaves = crate::leaves(7, 300);
    let mut frontier = Frontier::new();
    for (n, leaf) in leaves.iter().enumerate() {
        let rebuilt = Frontier::from_subtrees(frontier.size(), frontier.subtrees().to_vec())
            .expect("counts match");
        assert_eq!(rebuilt.size(), n as u64);
        assert_eq!(rebuilt.subtrees(), frontier.subtrees());
        assert_eq!(rebuilt.root(), frontier.root());

        // Both go on the same way.
        let mut a = rebuilt;
        a.push(*leaf);
        frontier.push(*leaf);
        assert_eq!(a.root(), frontier.root());
        assert_eq!(a.subtrees(), frontier.subtrees());
    }
}

#[test]
fn from_subtrees_refuses_wrong_counts() {
    let mut frontier = Frontier::new();
    for leaf in crate::leaves(1, 11) {
        frontier.push(leaf);
    }
    let hashes = frontier.subtrees().to_vec(); // 11 = 8 + 2 + 1
    assert_eq!(hashes.len(), 3);
    assert!(Frontier::from_subtrees(11, hashes[..2].to_vec()).is_none());
    assert!(Frontier::from_subtrees(12, hashes.clone()).is_none());
    assert!(Frontier::from_subtrees(10, hashes).is_none());
}

#[test]
fn load_from_a_source_matches_pushing() {
    let leaves = crate::leaves(3, 200);
    let tree: MemoryTree = leaves.iter().copied().collect();
    let mut frontier = Frontier::new();
    for size in 0..=leaves.len() {
        let mut src = &tree;
        let loaded = Frontier::load(&mut src, size as u64).expect("infallible");
        assert_eq!(loaded, frontier, "size {size}");
        if let Some(leaf) = leaves.get(size) {
            frontier.push(*leaf);
        }
    }
}
