//! Retention, legal holds and erasure (DESIGN sections 4 and 7): background work over the store
//! contract that removes events, or fields of them, while every ledger stays verifiable.
//!
//! - [`policy`]: how long a tenant keeps its events, by default and by action or category.
//! - [`hold`]: legal holds, which keep the events they cover from every removal.
//! - [`run`]: the `retention` job, which turns the events past their period into tombstones,
//!   sweeps expired idempotency keys and gives the space back; and the daily schedule of it.
//! - [`erase`]: the `erasure` job, which removes one person's data from their events and from
//!   the tenant's export and report files.
//! - [`remove`]: how both write tombstones, in batches each vouched for by its record
//!   (`trailkeep_store::redaction`).
//!
//! Every change of a policy or hold, every request, and every removal is an event in the
//! tenant's own trail.

#![deny(missing_docs)]

pub mod erase;
mod files;
pub mod hold;
pub mod policy;
pub mod remove;
pub mod run;

use serde_json::{Value, json};
use trailkeep_store::StoreError;

pub use erase::{ErasureHandler, ErasureSettings, ErasureSpec, Subject};
pub use hold::{Hold, Holds, Scope};
pub use policy::{Override, Policy, StoredPolicy};
pub use run::{RetentionHandler, RetentionSettings};

/// Who makes a change, as the trail's `actor` records it.
pub type Actor = Value;

/// Why a call was refused.
#[derive(Debug, thiserror::Error)]
pub enum RetentionError {
    /// No such hold or job in the tenant.
    #[error("not found")]
    NotFound,
    /// The request is not acceptable; the text says why.
    #[error("{0}")]
    Invalid(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl RetentionError {
    /// The error as the store's, for work that answers in the store's terms.
    pub fn into_store(self) -> StoreError {
        match self {
            RetentionError::Store(error) => error,
            other => StoreError::Internal(other.to_string()),
        }
    }
}

/// A failed attempt of `job`, its final failure recorded as `action` about (`target_type`,
/// the job's id) in the tenant's trail.
fn failure(
    job: &trailkeep_store::JobRecord,
    action: &str,
    target_type: &str,
    error: String,
) -> trailkeep_jobs::JobFailure {
    let audit = audit_event(
        &job.tenant,
        action,
        &system_actor(),
        (target_type, &job.id),
        json!({"error": error}),
    )
    .expect("a failure's event is valid");
    trailkeep_jobs::JobFailure::Failed { error, audit }
}

/// An event recording something about `target` (type, id) in `tenant`'s trail.
pub use trailkeep_jobs::job_event as audit_event;

/// Every job of `kind` of the tenant, newest first, read a page at a time.
pub async fn all_jobs(
    store: &dyn trailkeep_store::Store,
    tenant: &str,
    kind: &str,
) -> Result<Vec<trailkeep_store::JobRecord>, StoreError> {
    let mut all: Vec<trailkeep_store::JobRecord> = Vec::new();
    loop {
        let before = all.last().map(|j| j.id.clone());
        let page = store
            .jobs(
                tenant,
                kind,
                before.as_deref(),
                trailkeep_store::jobs::MAX_JOBS_LISTED,
            )
            .await?;
        let full = page.len() == trailkeep_store::jobs::MAX_JOBS_LISTED;
        all.extend(page);
        if !full {
            return Ok(all);
        }
    }
}

/// The service itself, as the actor of scheduled work.
pub fn system_actor() -> Actor {
    json!({"type": "system", "id": "trailkeep.retention"})
}
