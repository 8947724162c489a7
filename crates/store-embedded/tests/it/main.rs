//! Integration tests of the embedded engine: the shared conformance suite, and what only this
//! engine has (restart recovery, block-root repair, offline verification).

mod conformance;
mod hardening;
mod reclaim;
mod recovery;
