//! The `jobs` table. Changes the tenant's trail records (queued, finished, failed for good,
//! cancelled) run inside the tenant's append transaction with their audit event; claims and
//! heartbeats, which record nothing, are single statements that any node runs. A claim takes
//! its row `FOR UPDATE SKIP LOCKED`, so two nodes never take one job, and a job whose lease
//! ran out (its node died) is claimed again by whichever node asks next.

use tokio_postgres::{GenericClient, Row};
use trailkeep_store::jobs::{JobChange, JobChanged, MAX_JOBS_LISTED, retry_delay};
use trailkeep_store::{JobRecord, JobRefusal, JobState, StoreError};

use crate::internal;

const COLUMNS: &str = "id, tenant, kind, spec, state, attempts, max_attempts, run_after, worker, \
                       lease_until, progress, result, error, created_at, updated_at, \
                       finished_at, created_by";

fn record(row: &Row) -> Result<JobRecord, StoreError> {
    let state: String = row.get(4);
    Ok(JobRecord {
        id: row.get(0),
        tenant: row.get(1),
        kind: row.get(2),
        spec: row.get(3),
        state: JobState::parse(&state)
            .ok_or_else(|| StoreError::Corrupt(format!("unknown job state {state:?}")))?,
        attempts: row.get::<_, i32>(5) as u32,
        max_attempts: row.get::<_, i32>(6) as u32,
        run_after: row.get(7),
        worker: row.get(8),
        lease_until: row.get(9),
        progress: row.get(10),
        result: row.get(11),
        error: row.get(12),
        created_at: row.get(13),
        updated_at: row.get(14),
        finished_at: row.get(15),
        created_by: row.get(16),
    })
}

/// What [`apply`] did.
pub struct JobApplied {
    /// The answer for the caller.
    pub answer: JobChanged,
    /// Whether the audit event is stored with the change.
    pub audited: bool,
}

/// The tenant's job `id`, locked for the rest of the transaction.
async fn locked(
    tx: &impl GenericClient,
    tenant: &str,
    id: &str,
) -> Result<Option<JobRecord>, StoreError> {
    tx.query_opt(
        &format!("SELECT {COLUMNS} FROM jobs WHERE tenant = $1 AND id = $2 FOR UPDATE"),
        &[&tenant, &id],
    )
    .await
    .map_err(internal)?
    .as_ref()
    .map(record)
    .transpose()
}

/// Runs `sql` (an `UPDATE ... RETURNING` of the job's columns) and answers the job.
async fn update(
    tx: &impl GenericClient,
    sql: &str,
    params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
) -> Result<JobChanged, StoreError> {
    let row = tx.query_one(sql, params).await.map_err(internal)?;
    Ok(Ok(Some(record(&row)?)))
}

/// Makes `change` for `tenant` inside the append transaction `tx`. Refusals write nothing.
pub async fn apply(
    tx: &impl GenericClient,
    tenant: &str,
    change: JobChange,
) -> Result<JobApplied, StoreError> {
    let refused = |refusal| JobApplied {
        answer: Err(refusal),
        audited: false,
    };
    match change {
        JobChange::Enqueue(job) => {
            if job.tenant != tenant {
                return Err(StoreError::Internal(
                    "a job's audit event belongs in the job's own tenant".into(),
                ));
            }
            let taken = tx
                .query_opt("SELECT 1 FROM jobs WHERE id = $1", &[&job.id])
                .await
                .map_err(internal)?;
            if taken.is_some() {
                return Err(StoreError::DuplicateId {
                    index: 0,
                    id: job.id,
                });
            }
            let max_attempts = job.max_attempts.max(1) as i32;
            let answer = update(
                tx,
                &format!(
                    "INSERT INTO jobs ({COLUMNS}) VALUES \
                     ($1, $2, $3, $4, 'queued', 0, $5, $6, NULL, NULL, '{{}}', NULL, NULL, \
                      $7, $7, NULL, $8) RETURNING {COLUMNS}"
                ),
                &[
                    &job.id,
                    &job.tenant,
                    &job.kind,
                    &job.spec,
                    &max_attempts,
                    &job.run_after,
                    &job.created_at,
                    &job.created_by,
                ],
            )
            .await?;
            Ok(JobApplied {
                answer,
                audited: true,
            })
        }
        JobChange::Complete {
            id,
            worker,
            now,
            result,
        } => {
            let Some(_) = locked(tx, tenant, &id).await?.filter(|j| holds(j, &worker)) else {
                return Ok(refused(JobRefusal::LeaseLost));
            };
            let answer = update(
                tx,
                &format!(
                    "UPDATE jobs SET state = 'succeeded', result = $3, worker = NULL, \
                     lease_until = NULL, updated_at = $4, finished_at = $4 \
                     WHERE tenant = $1 AND id = $2 RETURNING {COLUMNS}"
                ),
                &[&tenant, &id, &result, &now],
            )
            .await?;
            Ok(JobApplied {
                answer,
                audited: true,
            })
        }
        JobChange::Fail {
            id,
            worker,
            now,
            error,
        } => {
            let Some(job) = locked(tx, tenant, &id).await?.filter(|j| holds(j, &worker)) else {
                return Ok(refused(JobRefusal::LeaseLost));
            };
            let last = job.attempts >= job.max_attempts;
            let answer = if last {
                update(
                    tx,
                    &format!(
                        "UPDATE jobs SET state = 'failed', error = $3, worker = NULL, \
                         lease_until = NULL, updated_at = $4, finished_at = $4 \
                         WHERE tenant = $1 AND id = $2 RETURNING {COLUMNS}"
                    ),
                    &[&tenant, &id, &error, &now],
                )
                .await?
            } else {
                let run_after = now + retry_delay(job.attempts);
                update(
                    tx,
                    &format!(
                        "UPDATE jobs SET state = 'queued', error = $3, worker = NULL, \
                         lease_until = NULL, updated_at = $4, run_after = $5 \
                         WHERE tenant = $1 AND id = $2 RETURNING {COLUMNS}"
                    ),
                    &[&tenant, &id, &error, &now, &run_after],
                )
                .await?
            };
            Ok(JobApplied {
                answer,
                audited: last,
            })
        }
        JobChange::Cancel { id, now, reason } => {
            let Some(job) = locked(tx, tenant, &id).await? else {
                return Ok(JobApplied {
                    answer: Ok(None),
                    audited: false,
                });
            };
            if job.state.is_final() {
                return Ok(JobApplied {
                    answer: Ok(Some(job)),
                    audited: false,
                });
            }
            let answer = update(
                tx,
                &format!(
                    "UPDATE jobs SET state = 'cancelled', error = $3, worker = NULL, \
                     lease_until = NULL, updated_at = $4, finished_at = $4 \
                     WHERE tenant = $1 AND id = $2 RETURNING {COLUMNS}"
                ),
                &[&tenant, &id, &reason, &now],
            )
            .await?;
            Ok(JobApplied {
                answer,
                audited: true,
            })
        }
    }
}

/// Whether `worker` holds `job`: it runs under that worker's lease. A lease that ran out still
/// holds until another worker claims the job (which changes `worker`).
fn holds(job: &JobRecord, worker: &str) -> bool {
    job.state == JobState::Running && job.worker.as_deref() == Some(worker)
}

/// Claims the oldest claimable job of `kinds` for `worker`.
pub async fn claim(
    client: &impl GenericClient,
    kinds: &[&str],
    worker: &str,
    now: i64,
    lease_ms: i64,
) -> Result<Option<JobRecord>, StoreError> {
    let kinds: Vec<&str> = kinds.to_vec();
    let lease_until = now + lease_ms;
    client
        .query_opt(
            &format!(
                "WITH next AS (
                     SELECT tenant, id FROM jobs
                     WHERE ((state = 'queued' AND run_after <= $1)
                         OR (state = 'running' AND lease_until < $1))
                       AND kind = ANY($2)
                     ORDER BY CASE state WHEN 'running' THEN lease_until ELSE run_after END, id
                     LIMIT 1
                     FOR UPDATE SKIP LOCKED)
                 UPDATE jobs j SET state = 'running', worker = $3, lease_until = $4,
                     attempts = j.attempts + 1, updated_at = $1
                 FROM next WHERE j.tenant = next.tenant AND j.id = next.id
                 RETURNING {}",
                COLUMNS
                    .split(", ")
                    .map(|c| format!("j.{c}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            &[&now, &kinds, &worker, &lease_until],
        )
        .await
        .map_err(internal)?
        .as_ref()
        .map(record)
        .transpose()
}

/// Extends `worker`'s lease on job `id` and records its progress.
pub async fn heartbeat(
    client: &impl GenericClient,
    id: &str,
    worker: &str,
    now: i64,
    lease_ms: i64,
    progress: &str,
) -> Result<Result<(), JobRefusal>, StoreError> {
    let changed = client
        .execute(
            "UPDATE jobs SET lease_until = $3, progress = $4, updated_at = $5 \
             WHERE id = $1 AND worker = $2 AND state = 'running'",
            &[&id, &worker, &(now + lease_ms), &progress, &now],
        )
        .await
        .map_err(internal)?;
    if changed == 1 {
        return Ok(Ok(()));
    }
    let exists = client
        .query_opt("SELECT 1 FROM jobs WHERE id = $1", &[&id])
        .await
        .map_err(internal)?
        .is_some();
    Ok(Err(if exists {
        JobRefusal::LeaseLost
    } else {
        JobRefusal::NotFound
    }))
}

/// The tenant's job `id`.
pub async fn by_id(
    client: &impl GenericClient,
    tenant: &str,
    id: &str,
) -> Result<Option<JobRecord>, StoreError> {
    client
        .query_opt(
            &format!("SELECT {COLUMNS} FROM jobs WHERE tenant = $1 AND id = $2"),
            &[&tenant, &id],
        )
        .await
        .map_err(internal)?
        .as_ref()
        .map(record)
        .transpose()
}

/// The tenant's jobs of `kind`, newest first, before `before` when given.
pub async fn list(
    client: &impl GenericClient,
    tenant: &str,
    kind: &str,
    before: Option<&str>,
    limit: usize,
) -> Result<Vec<JobRecord>, StoreError> {
    let limit = limit.min(MAX_JOBS_LISTED) as i64;
    client
        .query(
            &format!(
                "SELECT {COLUMNS} FROM jobs WHERE tenant = $1 AND kind = $2 \
                 AND ($3::text IS NULL OR id < $3) ORDER BY id DESC LIMIT $4"
            ),
            &[&tenant, &kind, &before, &limit],
        )
        .await
        .map_err(internal)?
        .iter()
        .map(record)
        .collect()
}

/// Every job of the tenant, by id (for a move between stores).
pub async fn of_tenant(
    client: &impl GenericClient,
    tenant: &str,
) -> Result<Vec<JobRecord>, StoreError> {
    client
        .query(
            &format!("SELECT {COLUMNS} FROM jobs WHERE tenant = $1 ORDER BY id"),
            &[&tenant],
        )
        .await
        .map_err(internal)?
        .iter()
        .map(record)
        .collect()
}

/// Stores `job` as it is (a move between stores: its audit events moved with the trail).
pub async fn insert_record(client: &impl GenericClient, job: &JobRecord) -> Result<(), StoreError> {
    client
        .execute(
            &format!(
                "INSERT INTO jobs ({COLUMNS}) VALUES \
                 ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)"
            ),
            &[
                &job.id,
                &job.tenant,
                &job.kind,
                &job.spec,
                &job.state.as_str(),
                &(job.attempts as i32),
                &(job.max_attempts as i32),
                &job.run_after,
                &job.worker,
                &job.lease_until,
                &job.progress,
                &job.result,
                &job.error,
                &job.created_at,
                &job.updated_at,
                &job.finished_at,
                &job.created_by,
            ],
        )
        .await
        .map_err(internal)?;
    Ok(())
}
