//! The bench's workload generator as a library, so that tests elsewhere in the workspace can
//! run over the very events the benchmark measures (the OCSF export test validates every record
//! of an export of it). The benchmark itself is the `trailkeep-bench` binary.

pub mod workload;
