//! Black-box tests of the `trailkeep` binary: one module per topic, all driving the built
//! executable (`CARGO_BIN_EXE_trailkeep`) the way an operator or auditor would.

mod browser;
mod build;
mod cli;
mod crash;
mod detection;
mod export;
mod fairness;
mod faults;
mod large_export;
mod migrate;
mod multinode;
mod ops;
mod proofs;
mod python_client;
mod reindex;
mod reports;
mod retention;
mod schemathesis;
mod support;
mod tamper;
mod viewer;
mod webhooks;
