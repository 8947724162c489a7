//! What each fuzz target checks, one function per target, each taking the fuzzer's raw bytes.
//!
//! The targets themselves (`fuzz/fuzz_targets/*.rs`, run with `cargo fuzz`, which needs
//! libFuzzer's instrumentation) are one line each: they call these functions. Keeping the checks
//! here, in the workspace, means `cargo test --workspace` replays every committed corpus input
//! (`fuzz/corpus/<target>/`) through the very same code (`tests/it`), so a crash the fuzzer once
//! found stays fixed, and the checks build and run with every change.
//!
//! A check panics when the property it states is broken; anything else the input does is fine.

#![deny(missing_docs)]

pub mod batch;
pub mod canonical;
pub mod cursor;
pub mod event;
pub mod http;
pub mod jwt;
pub mod note;
pub mod proof;

/// A check: panics when its property is broken by the input.
pub type Check = fn(&[u8]);

/// Every target: its name (the folder of its corpus) and its check.
pub const TARGETS: [(&str, Check); 8] = [
    ("event_prepare", event::check),
    ("canonical_json", canonical::check),
    ("batch_split", batch::check),
    ("http_queries", http::check),
    ("cursor", cursor::check),
    ("jwt", jwt::check),
    ("signed_note", note::check),
    ("proof_verify", proof::check),
];

/// Splits `data` at its first zero byte: a structured input's two parts.
pub fn split_at_zero(data: &[u8]) -> (&[u8], &[u8]) {
    match data.iter().position(|&b| b == 0) {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (data, &[]),
    }
}
