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

/// The event recording `action` about a job's target (`target_type`, `target_id`) in
/// `tenant`'s trail, done by `actor`: what exports, reports, retention runs and erasures write.
/// An action ending in `.failed` has the outcome `failure`.
pub fn job_event(
    tenant: &str,
    action: &str,
    actor: &serde_json::Value,
    (target_type, target_id): (&str, &str),
    metadata: serde_json::Value,
) -> Result<trailkeep_event::PreparedEvent, trailkeep_store::StoreError> {
    let raw = serde_json::json!({
        "action": action,
        "outcome": if action.ends_with(".failed") { "failure" } else { "success" },
        "actor": actor,
        "target": {"type": target_type, "id": target_id},
        "metadata": metadata,
    });
    trailkeep_event::prepare(&raw, tenant, trailkeep_event::Timestamp::now()).map_err(|errors| {
        trailkeep_store::StoreError::Internal(format!(
            "a {target_type} event is invalid: {errors:?}"
        ))
    })
}

/// A new job id: `job_` and a ULID, so that ids sort by creation.
pub fn new_job_id() -> String {
    format!("job_{}", ulid::Ulid::new().to_string().to_lowercase())
}
