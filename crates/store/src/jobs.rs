//! Durable background jobs: the contract every engine keeps for exports, reports, deliveries and
//! retention (DESIGN section 7).
//!
//! A job is a row in the system of record. Workers [`claim`](JobStore::claim) one under a lease
//! and keep it with [`heartbeat`](JobStore::heartbeat); a worker that dies stops heartbeating, its
//! lease runs out and the job is claimed again. A worker name stands for one claim's holder: a
//! runner makes a fresh one for every claim, so that two claims of one job never share a name.
//! A lease that ran out still holds until another claim takes the job. Only the holder of the current lease can move a
//! running job on ([`complete`](JobStore::complete), [`fail`](JobStore::fail)): a worker whose
//! lease was taken over, or whose job was cancelled, is refused with [`JobRefusal::LeaseLost`]
//! and stops. Failures are retried after [`retry_delay`] until the job's attempts are used up.
//!
//! Every change a tenant would want on its record (queued, finished, failed, cancelled) is
//! stored together with the event that records it in the tenant's trail, as API keys are: both
//! or neither. Times are milliseconds since the Unix epoch, given by the caller, so that every
//! node of a cluster and every test agree on what "now" is for a call.
//!
//! `spec`, `progress` and `result` are JSON text the store keeps without reading: each job kind
//! (the `jobs` crate) defines its own.

use async_trait::async_trait;
use trailkeep_event::PreparedEvent;

use crate::StoreError;

/// Where a job is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JobState {
    /// Waiting for a worker (first run, or a retry once `run_after` has passed).
    Queued,
    /// Held by a worker under a lease.
    Running,
    /// Done; `result` holds what it made.
    Succeeded,
    /// Given up after its last attempt; `error` says why.
    Failed,
    /// Cancelled before it finished.
    Cancelled,
}

impl JobState {
    /// The name used on the wire and in storage.
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Queued => "queued",
            JobState::Running => "running",
            JobState::Succeeded => "succeeded",
            JobState::Failed => "failed",
            JobState::Cancelled => "cancelled",
        }
    }

    /// The state named `name` (as [`as_str`](Self::as_str) spells it).
    pub fn parse(name: &str) -> Option<Self> {
        [
            JobState::Queued,
            JobState::Running,
            JobState::Succeeded,
            JobState::Failed,
            JobState::Cancelled,
        ]
        .into_iter()
        .find(|s| s.as_str() == name)
    }

    /// Whether the job will not change any more.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            JobState::Succeeded | JobState::Failed | JobState::Cancelled
        )
    }
}

/// A job to queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewJob {
    /// Its id, unique across tenants and ordered by creation (the caller makes it, `job_` and a
    /// ULID, so that it can name the job in the audit event stored with it).
    pub id: String,
    /// The tenant it works for.
    pub tenant: String,
    /// What kind of work it is (`export`, `export.expire`, ...): workers claim by kind.
    pub kind: String,
    /// The kind's parameters, as JSON text.
    pub spec: String,
    /// How many times it may be claimed before a failure is final (at least 1).
    pub max_attempts: u32,
    /// Not claimed before this time (ms since the epoch).
    pub run_after: i64,
    /// When it was queued (ms since the epoch).
    pub created_at: i64,
    /// Who asked for it (a key id, a token subject, `system`).
    pub created_by: String,
}

/// A job as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobRecord {
    /// Its id.
    pub id: String,
    /// The tenant it works for.
    pub tenant: String,
    /// What kind of work it is.
    pub kind: String,
    /// The kind's parameters, as JSON text.
    pub spec: String,
    /// Where it is in its life.
    pub state: JobState,
    /// How many times it was claimed.
    pub attempts: u32,
    /// How many claims it may have.
    pub max_attempts: u32,
    /// Not claimed before this time (ms since the epoch).
    pub run_after: i64,
    /// The worker holding it while it runs.
    pub worker: Option<String>,
    /// Until when that worker's lease holds (ms since the epoch).
    pub lease_until: Option<i64>,
    /// What the worker last reported, as JSON text (`{}` before it reports).
    pub progress: String,
    /// What a succeeded job made, as JSON text.
    pub result: Option<String>,
    /// Why the last attempt failed (kept through retries), or why it was cancelled.
    pub error: Option<String>,
    /// When it was queued (ms since the epoch).
    pub created_at: i64,
    /// When it last changed (ms since the epoch).
    pub updated_at: i64,
    /// When it reached a final state (ms since the epoch).
    pub finished_at: Option<i64>,
    /// Who asked for it.
    pub created_by: String,
}

/// Why a worker's call on a job was refused. Its job is not what the worker thinks: it stops.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JobRefusal {
    /// The job is not running under this worker's lease any more: the lease ran out and another
    /// worker took it, or the job was cancelled.
    #[error("the job is no longer held by this worker")]
    LeaseLost,
    /// No job has this id.
    #[error("no such job")]
    NotFound,
}

/// A worker's call on a job: refused ([`JobRefusal`]) or failed ([`StoreError`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JobError {
    /// The store refused the call; the worker stops working on the job.
    #[error(transparent)]
    Refused(#[from] JobRefusal),
    /// The store could not answer.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// How long a job waits after its `attempts`-th failed attempt before it is claimed again:
/// 10 s, 20 s, 40 s, ... doubling up to an hour. Every engine uses this one schedule.
pub fn retry_delay(attempts: u32) -> i64 {
    const FIRST_MS: i64 = 10_000;
    const MOST_MS: i64 = 3_600_000;
    FIRST_MS
        .saturating_mul(1i64 << attempts.saturating_sub(1).min(20))
        .min(MOST_MS)
}

/// A change to a job that the tenant's trail records, made by an engine together with its
/// audit event (both or neither).
pub enum JobChange {
    /// Queue a new job.
    Enqueue(NewJob),
    /// A worker finished its job.
    Complete {
        /// The job.
        id: String,
        /// The worker that must hold it.
        worker: String,
        /// Now (ms).
        now: i64,
        /// The result (JSON text).
        result: String,
    },
    /// A worker's attempt failed.
    Fail {
        /// The job.
        id: String,
        /// The worker that must hold it.
        worker: String,
        /// Now (ms).
        now: i64,
        /// Why.
        error: String,
    },
    /// The tenant cancels its job.
    Cancel {
        /// The job.
        id: String,
        /// Now (ms).
        now: i64,
        /// Why.
        reason: String,
    },
}

/// What a job change answers: the job as it now is (`None`: the tenant has no such job), or
/// why a worker's call was refused.
pub type JobChanged = Result<Option<JobRecord>, JobRefusal>;

/// A worker's answer from what a change came to: the job as it now is, or why the worker was
/// refused (a job that is gone is [`JobRefusal::NotFound`]).
pub fn worker_answer(changed: Result<JobChanged, StoreError>) -> Result<JobRecord, JobError> {
    match changed? {
        Ok(Some(job)) => Ok(job),
        Ok(None) => Err(JobRefusal::NotFound.into()),
        Err(refusal) => Err(refusal.into()),
    }
}

/// Most jobs one [`JobStore::jobs`] call lists.
pub const MAX_JOBS_LISTED: usize = 1000;

/// Where background jobs live.
#[async_trait]
pub trait JobStore: Send + Sync + 'static {
    /// Queues `job` and stores `audit` in its tenant's trail with it. An id that exists already
    /// is [`StoreError::DuplicateId`] and stores neither.
    async fn enqueue(&self, job: NewJob, audit: PreparedEvent) -> Result<JobRecord, StoreError>;

    /// Takes the oldest claimable job of one of `kinds` for `worker` until `now + lease_ms`: a
    /// queued job whose `run_after` has passed, or a running job whose lease ran out (its worker
    /// is presumed dead). Its attempts count up by one. No two calls ever get the same job
    /// under the same lease. `None` when nothing is claimable.
    async fn claim(
        &self,
        kinds: &[&str],
        worker: &str,
        now: i64,
        lease_ms: i64,
    ) -> Result<Option<JobRecord>, StoreError>;

    /// Extends `worker`'s lease on job `id` to `now + lease_ms` and records `progress` (JSON
    /// text). Refused with [`JobRefusal::LeaseLost`] when the worker no longer holds it.
    async fn heartbeat(
        &self,
        id: &str,
        worker: &str,
        now: i64,
        lease_ms: i64,
        progress: &str,
    ) -> Result<(), JobError>;

    /// Marks `worker`'s job `id` succeeded with `result` (JSON text), storing `audit` in the
    /// tenant's trail with it.
    async fn complete(
        &self,
        id: &str,
        worker: &str,
        now: i64,
        result: &str,
        audit: PreparedEvent,
    ) -> Result<JobRecord, JobError>;

    /// Records that `worker`'s attempt at job `id` failed with `error`. While attempts remain
    /// the job is queued again after [`retry_delay`] and `audit` is not stored; after the last
    /// one it is failed for good and `audit` is stored in the tenant's trail with that change.
    async fn fail(
        &self,
        id: &str,
        worker: &str,
        now: i64,
        error: &str,
        audit: PreparedEvent,
    ) -> Result<JobRecord, JobError>;

    /// Cancels the tenant's job `id` unless it has finished, storing `audit` with the change; a
    /// running job's worker finds its lease lost at its next call. Answers the job as it now is
    /// (a finished job unchanged, with nothing stored); `None` when the tenant has no such job.
    async fn cancel(
        &self,
        tenant: &str,
        id: &str,
        now: i64,
        reason: &str,
        audit: PreparedEvent,
    ) -> Result<Option<JobRecord>, StoreError>;

    /// The tenant's job `id`.
    async fn job(&self, tenant: &str, id: &str) -> Result<Option<JobRecord>, StoreError>;

    /// The tenant's jobs of `kind`, newest (greatest id) first, at most `limit` (and at most
    /// [`MAX_JOBS_LISTED`]), only those whose id sorts before `before` when given (the next
    /// page after a listing's last id).
    async fn jobs(
        &self,
        tenant: &str,
        kind: &str,
        before: Option<&str>,
        limit: usize,
    ) -> Result<Vec<JobRecord>, StoreError>;
}
