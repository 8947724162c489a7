//! The Trailkeep ledger: the tamper-evidence maths, with no I/O.
//!
//! Each tenant's events form an RFC 9162 (RFC 6962) Merkle tree over SHA-256 whose leaves are
//! the events' canonical bytes. This crate holds the tree hashes, proof generation and
//! verification, the append-only [`Frontier`] the writer keeps, and the C2SP signed checkpoint
//! that commits to a tree head.
//!
//! Decisions worth knowing:
//!
//! - Proofs are generated over a [`SubtreeSource`], not a list of leaves. Every hash a proof
//!   needs is a combination of *perfect, aligned* subtrees, so a store that keeps those (one
//!   row per completed subtree) answers a proof with O(log n) reads. [`MemoryTree`] is the
//!   in-memory source for tests and offline verification.
//! - The writer keeps only a [`Frontier`] (at most 64 hashes) to append and compute the new
//!   root, so committing a batch never reads old leaves.
//! - Verification takes byte slices, because proofs arrive from the wire: lengths are checked
//!   and reported as errors, never panics. The policy matches the transparency-dev test corpus
//!   we check against: hashes are exactly 32 bytes and a consistency proof from size 0 is an
//!   error.
//! - Checkpoints are C2SP signed notes with Ed25519 keys in the Go `sumdb/note` key formats, so
//!   standard tooling (and an auditor's own code written from the specs) can check them.
//! - Proof algorithms are the RFC's recursions written as loops; the verifier follows RFC 9162
//!   step by step. The reference roots and the transparency-dev proof vectors pin both down in
//!   the tests.

#![deny(missing_docs)]

mod checkpoint;
mod frontier;
mod hash;
mod memory;
mod note;
mod tree;
mod verify;

pub use checkpoint::Checkpoint;
pub use frontier::Frontier;
pub use hash::{HASH_LEN, Hash, empty_root, leaf_hash, node_hash, perfect_root};
pub use memory::MemoryTree;
pub use note::{KeyError, NoteError, NoteSigner, NoteVerifier};
pub use tree::{ProofError, SubtreeSource, consistency_proof, inclusion_proof, range_hash, root};
pub use verify::{VerifyError, verify_consistency, verify_inclusion};
