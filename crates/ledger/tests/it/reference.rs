//! The RFC 6962 reference tree (google/certificate-transparency, transparency-dev/merkle):
//! roots of the first n of eight fixed leaves, computed four independent ways.

use trailkeep_ledger::{Frontier, MemoryTree, leaf_hash, root};

const LEAVES: [&str; 8] = [
    "",
    "00",
    "10",
    "2021",
    "3031",
    "40414243",
    "5051525354555657",
    "606162636465666768696a6b6c6d6e6f",
];

const ROOTS: [&str; 9] = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
];

#[test]
fn reference_roots_for_0_to_8_leaves() {
    let leaf_hashes: Vec<_> = LEAVES
        .iter()
        .map(|h| leaf_hash(&hex::decode(h).expect("hex leaf")))
        .collect();
    let full: MemoryTree = leaf_hashes.iter().copied().collect();
    let mut frontier = Frontier::new();
    for (n, want) in ROOTS.iter().enumerate() {
        if n > 0 {
            frontier.push(leaf_hashes[n - 1]);
        }
        let prefix: MemoryTree = leaf_hashes[..n].iter().copied().collect();
        let mut src = &full;
        let got = [
            ("MemoryTree::root", prefix.root()),
            (
                "MemoryTree::root_at",
                full.root_at(n as u64).expect("in range"),
            ),
            (
                "root() over SubtreeSource",
                root(&mut src, n as u64).expect("infallible"),
            ),
            ("Frontier::root", frontier.root()),
            ("naive MTH", crate::naive_root(&leaf_hashes[..n])),
        ];
        for (how, hash) in got {
            assert_eq!(hex::encode(hash), *want, "{how} for n = {n}");
        }
    }
}
