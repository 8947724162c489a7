//! Background work over the store contract (DESIGN section 7): the job runner that claims
//! durable jobs under a lease and runs them on a bounded pool of workers, and the handlers that
//! do the work, starting with exports.
//!
//! Nothing here knows HTTP: the server queues jobs (`export::request`) and reads them back; the
//! runner, started by `trailkeep serve`, does the rest, on any engine that implements
//! [`trailkeep_store::JobStore`].

#![deny(missing_docs)]

pub mod export;
pub mod runner;

pub use runner::{Done, Handler, JobFailure, Runner, RunnerSettings, Work};

/// Milliseconds since the Unix epoch, the store's job clock.
pub fn now_ms() -> i64 {
    trailkeep_event::Timestamp::now_millis()
}

/// A job of `kind` with id `id` for `tenant`, to run now: `spec` as its parameters, asked for
/// by `created_by`.
pub fn job_to_run_now(
    id: String,
    tenant: &str,
    kind: &str,
    spec: &impl serde::Serialize,
    max_attempts: u32,
    created_by: &str,
) -> trailkeep_store::NewJob {
    let now = now_ms();
    trailkeep_store::NewJob {
        id,
        tenant: tenant.to_owned(),
        kind: kind.to_owned(),
        spec: serde_json::to_string(spec).expect("a job's spec serialises"),
        max_attempts,
        run_after: now,
        created_at: now,
        created_by: created_by.to_owned(),
    }
}

/// A new job id: `job_` and a ULID, so that ids sort by creation.
pub fn new_job_id() -> String {
    format!("job_{}", ulid::Ulid::new().to_string().to_lowercase())
}
