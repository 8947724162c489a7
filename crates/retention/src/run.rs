//! The `retention` job: one pass over a tenant's trail that turns every event past its period
//! into a tombstone (unless a legal hold stands over it), then sweeps what else has expired
//! (idempotency keys, export and report files kept longer than the operator allows) and gives
//! the space back. Runs once a day per tenant ([`schedule`]) or when an admin asks.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use trailkeep_event::{Erasable, REDACTION_RECORD_ACTION, RedactionReason, Timestamp};
use trailkeep_jobs::{Done, Handler, JobFailure, Work, job_to_run_now, now_ms};
use trailkeep_store::{JobRecord, Store, StoreError};

use crate::files::remove_files;
use crate::hold::Holds;
use crate::remove::Remover;
use crate::{Actor, RetentionError, audit_event, failure, policy, system_actor};

/// The job kind.
pub const KIND: &str = "retention";
/// Attempts a run gets: a failed one is made again from the start (what it removed stays
/// removed, and is skipped).
const MAX_ATTEMPTS: u32 = 3;
/// Events read per step.
const SCAN_CHUNK: usize = 1000;
const DAY_MS: i64 = 24 * 3600 * 1000;

/// What retention runs need to know.
#[derive(Debug, Clone)]
pub struct RetentionSettings {
    /// Days events are kept where a tenant's policy leaves it open; `None`: forever.
    pub default_days: Option<u32>,
    /// How long idempotency keys are kept: a retry after that is an ordinary append.
    pub idempotency_keys: Duration,
    /// Where export and report files are kept, and for how long after their job ended:
    /// files a failed expiry left behind are removed by the run.
    pub files: Option<(PathBuf, Duration)>,
}

impl Default for RetentionSettings {
    fn default() -> Self {
        Self {
            default_days: None,
            idempotency_keys: Duration::from_secs(7 * 24 * 3600),
            files: None,
        }
    }
}

/// A run's parameters.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunSpec {
    /// Who asked (an admin, or the service's schedule).
    pub requested_by: Actor,
}

/// What a run did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunResult {
    /// Events read.
    pub examined: u64,
    /// Events that became tombstones.
    pub removed: u64,
    /// Events past their period kept because a legal hold stands over them.
    pub held: u64,
    /// Events removed by an earlier run.
    pub already_removed: u64,
    /// The records written (one per batch of tombstones).
    pub records: Vec<String>,
    /// Idempotency keys swept (from every tenant: the sweep is the store's).
    pub idempotency_keys_swept: u64,
    /// Export and report files removed.
    pub files_removed: u64,
    /// The tree size the run read up to.
    pub tree_size: u64,
}

/// Queues a run of retention over `tenant` now, asked by `actor`, recording the request.
pub async fn request(
    store: &dyn Store,
    tenant: &str,
    actor: &Actor,
) -> Result<JobRecord, StoreError> {
    let id = format!("ret_{}", ulid::Ulid::new().to_string().to_lowercase());
    enqueue(store, tenant, id, actor).await
}

async fn enqueue(
    store: &dyn Store,
    tenant: &str,
    id: String,
    actor: &Actor,
) -> Result<JobRecord, StoreError> {
    let audit = audit_event(
        tenant,
        "audit.retention.requested",
        actor,
        ("retention_run", &id),
        json!({}),
    )?;
    let spec = RunSpec {
        requested_by: actor.clone(),
    };
    let created_by = actor["id"].as_str().unwrap_or("unknown");
    let job = job_to_run_now(id, tenant, KIND, &spec, MAX_ATTEMPTS, created_by);
    store.enqueue(job, audit).await
}

/// Queues today's run for every tenant that has a period to enforce (its own policy, or the
/// server's default), once: the job id names the day, so every node may call this and only
/// the first queues. Answers how many it queued.
pub async fn schedule(store: &dyn Store, settings: &RetentionSettings) -> Result<u64, StoreError> {
    let day = now_ms() / DAY_MS;
    let mut tenants = store.document_tenants(policy::POLICY_KIND).await?;
    if settings.default_days.is_some() {
        tenants = store.tenants().await?;
    }
    let mut queued = 0;
    for tenant in tenants {
        let policy = policy::get(store, &tenant)
            .await
            .map_err(RetentionError::into_store)?;
        let enforces = settings.default_days.is_some()
            || policy.policy.default_days.is_some()
            || !policy.policy.overrides.is_empty();
        if !enforces {
            continue;
        }
        // Job ids are unique across tenants: the day and the tenant make it.
        let id = format!("ret_day{day}_{tenant}");
        match store.job(&tenant, &id).await? {
            Some(_) => continue,
            None => match enqueue(store, &tenant, id, &system_actor()).await {
                Ok(_) => queued += 1,
                Err(StoreError::DuplicateId { .. }) => {}
                Err(error) => return Err(error),
            },
        }
    }
    Ok(queued)
}

/// The `retention` job handler.
pub struct RetentionHandler {
    store: Arc<dyn Store>,
    settings: RetentionSettings,
}

impl RetentionHandler {
    /// A handler over `store`.
    pub fn new(store: Arc<dyn Store>, settings: RetentionSettings) -> Self {
        Self { store, settings }
    }

    async fn run_pass(
        &self,
        job: &JobRecord,
        spec: &RunSpec,
        work: &Work,
    ) -> Result<Option<RunResult>, StoreError> {
        let store = &*self.store;
        let tenant = job.tenant.as_str();
        let policy = policy::get(store, tenant)
            .await
            .map_err(RetentionError::into_store)?
            .policy;
        let holds = Holds::standing(store, tenant)
            .await
            .map_err(RetentionError::into_store)?;
        let now = Timestamp::now().as_micros();
        let mut details = Map::new();
        details.insert("job".into(), job.id.clone().into());
        let mut remover = Remover::new(
            store,
            tenant,
            spec.requested_by.clone(),
            RedactionReason::Retention,
            Erasable::EXPIRED.to_vec(),
            details,
        );
        let mut result = RunResult {
            tree_size: store.tree_size(tenant).await?,
            ..RunResult::default()
        };
        let mut next = 0;
        while next < result.tree_size {
            if work.stopped() {
                return Ok(None);
            }
            let want = SCAN_CHUNK.min((result.tree_size - next) as usize);
            let chunk = store.scan(tenant, next, want).await?;
            let Some(last) = chunk.last() else { break };
            next = last.event.seq + 1;
            for stored in &chunk {
                result.examined += 1;
                let event = &stored.event;
                if event.action == REDACTION_RECORD_ACTION {
                    continue;
                }
                if event
                    .redaction
                    .as_ref()
                    .is_some_and(|r| r.reason == RedactionReason::Retention)
                {
                    result.already_removed += 1;
                    continue;
                }
                let Some(days) = policy.days_for(event, self.settings.default_days) else {
                    continue;
                };
                let expires = event.occurred_at.as_micros() + i64::from(days) * DAY_MS * 1000;
                if expires > now {
                    continue;
                }
                if holds.covering(event).is_some() {
                    result.held += 1;
                    continue;
                }
                remover.push(stored).await?;
            }
            work.report(json!({"examined": result.examined, "of": result.tree_size, "removed": remover.removed}));
        }
        remover.flush().await?;
        result.removed = remover.removed;
        result.records = remover.records;
        let before =
            Timestamp::now().plus_micros(-(self.settings.idempotency_keys.as_micros() as i64));
        result.idempotency_keys_swept = store.sweep(before).await?.idempotency_keys;
        result.files_removed = self.sweep_files(tenant).await?;
        store.reclaim().await?;
        Ok(Some(result))
    }

    /// Removes the files of the tenant's exports and reports that ended longer ago than the
    /// operator keeps files.
    async fn sweep_files(&self, tenant: &str) -> Result<u64, StoreError> {
        let Some((dir, keep)) = &self.settings.files else {
            return Ok(0);
        };
        let cutoff = now_ms() - keep.as_millis() as i64;
        let ended_long_ago = |job: &JobRecord| job.state.is_final() && job.updated_at < cutoff;
        remove_files(&*self.store, tenant, dir, ended_long_ago, |_| true).await
    }
}

fn failed(job: &JobRecord, error: String) -> JobFailure {
    failure(job, "audit.retention.failed", "retention_run", error)
}

#[async_trait]
impl Handler for RetentionHandler {
    fn kind(&self) -> &'static str {
        KIND
    }

    async fn run(&self, job: &JobRecord, work: &Work) -> Result<Done, JobFailure> {
        let spec: RunSpec = serde_json::from_str(&job.spec)
            .map_err(|e| failed(job, format!("the parameters do not parse: {e}")))?;
        let result = match self.run_pass(job, &spec, work).await {
            Ok(Some(result)) => result,
            Ok(None) => return Err(JobFailure::Stopped),
            Err(error) => return Err(failed(job, format!("the run stopped: {error}"))),
        };
        let audit = audit_event(
            &job.tenant,
            "audit.retention.completed",
            &spec.requested_by,
            ("retention_run", &job.id),
            json!({
                "examined": result.examined,
                "removed": result.removed,
                "held": result.held,
                "records": result.records.len(),
                "files_removed": result.files_removed,
            }),
        )
        .map_err(|e| failed(job, e.to_string()))?;
        let result: Value = serde_json::to_value(&result).expect("a result serialises");
        Ok(Done { result, audit })
    }
}
