//! The `jobs` table: [`JobStore`] for the embedded engine.
//!
//! Every change goes through the writer thread, so no two workers can claim one job: the
//! writer is the only one that writes. Changes a tenant's trail records (queued, finished,
//! failed for good, cancelled) ride in the writer's groups with their audit event, in one
//! transaction, as API key changes do; claims and heartbeats, which record nothing, are run by
//! the writer between groups in small transactions of their own. Reads use the read pool.

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, Row, params};
use tokio::sync::oneshot;
use trailkeep_event::PreparedEvent;
use trailkeep_store::jobs::{JobChange, JobChanged, MAX_JOBS_LISTED, retry_delay, worker_answer};
use trailkeep_store::{JobError, JobRecord, JobRefusal, JobState, JobStore, NewJob, StoreError};

use crate::EmbeddedStore;
use crate::writer::Job;

/// The table, created on open when missing.
pub const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS jobs (
    id           TEXT PRIMARY KEY,
    tenant       TEXT NOT NULL,
    kind         TEXT NOT NULL,
    spec         TEXT NOT NULL,
    state        TEXT NOT NULL,
    attempts     INTEGER NOT NULL,
    max_attempts INTEGER NOT NULL,
    run_after    INTEGER NOT NULL,
    worker       TEXT,
    lease_until  INTEGER,
    progress     TEXT NOT NULL,
    result       TEXT,
    error        TEXT,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    finished_at  INTEGER,
    created_by   TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS jobs_by_tenant ON jobs (tenant, kind, id);
CREATE INDEX IF NOT EXISTS jobs_queued ON jobs (state, run_after);
CREATE INDEX IF NOT EXISTS jobs_leased ON jobs (state, lease_until);
";

const COLUMNS: &str = "id, tenant, kind, spec, state, attempts, max_attempts, run_after, worker, \
                       lease_until, progress, result, error, created_at, updated_at, \
                       finished_at, created_by";

fn internal(e: impl std::fmt::Display) -> StoreError {
    StoreError::Internal(e.to_string())
}

fn record(row: &Row<'_>) -> rusqlite::Result<JobRecord> {
    let state: String = row.get(4)?;
    Ok(JobRecord {
        id: row.get(0)?,
        tenant: row.get(1)?,
        kind: row.get(2)?,
        spec: row.get(3)?,
        state: JobState::parse(&state).ok_or_else(|| {
            rusqlite::Error::FromSqlConversionFailure(
                4,
                rusqlite::types::Type::Text,
                format!("unknown job state {state:?}").into(),
            )
        })?,
        attempts: row.get(5)?,
        max_attempts: row.get(6)?,
        run_after: row.get(7)?,
        worker: row.get(8)?,
        lease_until: row.get(9)?,
        progress: row.get(10)?,
        result: row.get(11)?,
        error: row.get(12)?,
        created_at: row.get(13)?,
        updated_at: row.get(14)?,
        finished_at: row.get(15)?,
        created_by: row.get(16)?,
    })
}

/// The job with this id, of any tenant.
pub fn by_id(conn: &Connection, id: &str) -> Result<Option<JobRecord>, StoreError> {
    conn.prepare_cached(&format!("SELECT {COLUMNS} FROM jobs WHERE id = ?1"))
        .and_then(|mut stmt| stmt.query_row([id], record).optional())
        .map_err(internal)
}

/// Every job of the tenant, by id (for a move between stores).
pub fn of_tenant(conn: &Connection, tenant: &str) -> Result<Vec<JobRecord>, StoreError> {
    conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM jobs WHERE tenant = ?1 ORDER BY id"
    ))
    .and_then(|mut stmt| stmt.query_map([tenant], record)?.collect())
    .map_err(internal)
}

/// Stores `job` as it is (a move between stores: its audit events moved with the trail).
pub fn insert_record(conn: &Connection, job: &JobRecord) -> Result<(), StoreError> {
    conn.prepare_cached(&format!(
        "INSERT INTO jobs ({COLUMNS}) VALUES \
         (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)"
    ))
    .and_then(|mut stmt| {
        stmt.execute(params![
            job.id,
            job.tenant,
            job.kind,
            job.spec,
            job.state.as_str(),
            job.attempts,
            job.max_attempts,
            job.run_after,
            job.worker,
            job.lease_until,
            job.progress,
            job.result,
            job.error,
            job.created_at,
            job.updated_at,
            job.finished_at,
            job.created_by,
        ])
    })
    .map_err(internal)?;
    Ok(())
}

/// What [`apply`] did: its answer, and whether the audit event is to be stored with it.
pub struct Applied {
    /// The answer for the caller.
    pub answer: JobChanged,
    /// Whether the change is one the trail records (the writer then appends the audit event in
    /// the same transaction).
    pub audited: bool,
}

/// Makes `change` for tenant `tenant` inside the writer's transaction. Errors doom the
/// transaction; refusals leave it untouched.
pub fn apply(conn: &Connection, tenant: &str, change: JobChange) -> Result<Applied, StoreError> {
    let refused = |refusal| Applied {
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
            let inserted = conn
                .prepare_cached(&format!(
                    "INSERT INTO jobs ({COLUMNS}) VALUES \
                     (?1, ?2, ?3, ?4, 'queued', 0, ?5, ?6, NULL, NULL, '{{}}', NULL, NULL, \
                      ?7, ?7, NULL, ?8) ON CONFLICT (id) DO NOTHING"
                ))
                .and_then(|mut stmt| {
                    stmt.execute(params![
                        job.id,
                        job.tenant,
                        job.kind,
                        job.spec,
                        job.max_attempts.max(1),
                        job.run_after,
                        job.created_at,
                        job.created_by,
                    ])
                })
                .map_err(internal)?;
            if inserted == 0 {
                return Err(StoreError::DuplicateId {
                    index: 0,
                    id: job.id,
                });
            }
            Ok(Applied {
                answer: Ok(by_id(conn, &job.id)?),
                audited: true,
            })
        }
        JobChange::Complete {
            id,
            worker,
            now,
            result,
        } => {
            let Some(job) = held(conn, tenant, &id, &worker)? else {
                return Ok(refused(JobRefusal::LeaseLost));
            };
            conn.prepare_cached(
                "UPDATE jobs SET state = 'succeeded', result = ?2, worker = NULL, \
                 lease_until = NULL, updated_at = ?3, finished_at = ?3 WHERE id = ?1",
            )
            .and_then(|mut stmt| stmt.execute(params![job.id, result, now]))
            .map_err(internal)?;
            Ok(Applied {
                answer: Ok(by_id(conn, &id)?),
                audited: true,
            })
        }
        JobChange::Fail {
            id,
            worker,
            now,
            error,
        } => {
            let Some(job) = held(conn, tenant, &id, &worker)? else {
                return Ok(refused(JobRefusal::LeaseLost));
            };
            let last = job.attempts >= job.max_attempts;
            if last {
                conn.prepare_cached(
                    "UPDATE jobs SET state = 'failed', error = ?2, worker = NULL, \
                     lease_until = NULL, updated_at = ?3, finished_at = ?3 WHERE id = ?1",
                )
                .and_then(|mut stmt| stmt.execute(params![id, error, now]))
            } else {
                conn.prepare_cached(
                    "UPDATE jobs SET state = 'queued', error = ?2, worker = NULL, \
                     lease_until = NULL, updated_at = ?3, run_after = ?4 WHERE id = ?1",
                )
                .and_then(|mut stmt| {
                    stmt.execute(params![id, error, now, now + retry_delay(job.attempts)])
                })
            }
            .map_err(internal)?;
            Ok(Applied {
                answer: Ok(by_id(conn, &id)?),
                audited: last,
            })
        }
        JobChange::Cancel { id, now, reason } => {
            let Some(job) = by_id(conn, &id)?.filter(|j| j.tenant == tenant) else {
                return Ok(Applied {
                    answer: Ok(None),
                    audited: false,
                });
            };
            if job.state.is_final() {
                return Ok(Applied {
                    answer: Ok(Some(job)),
                    audited: false,
                });
            }
            conn.prepare_cached(
                "UPDATE jobs SET state = 'cancelled', error = ?2, worker = NULL, \
                 lease_until = NULL, updated_at = ?3, finished_at = ?3 WHERE id = ?1",
            )
            .and_then(|mut stmt| stmt.execute(params![id, reason, now]))
            .map_err(internal)?;
            Ok(Applied {
                answer: Ok(by_id(conn, &id)?),
                audited: true,
            })
        }
    }
}

/// The tenant's job `id` when `worker` holds it: running under its lease. A lease that ran out
/// still holds until another worker claims the job (which changes `worker`).
fn held(
    conn: &Connection,
    tenant: &str,
    id: &str,
    worker: &str,
) -> Result<Option<JobRecord>, StoreError> {
    Ok(by_id(conn, id)?.filter(|job| {
        job.tenant == tenant
            && job.state == JobState::Running
            && job.worker.as_deref() == Some(worker)
    }))
}

/// Claims the oldest claimable job of `kinds` (the writer runs this, so claims never race).
pub fn claim(
    conn: &mut Connection,
    kinds: &[String],
    worker: &str,
    now: i64,
    lease_ms: i64,
) -> Result<Option<JobRecord>, StoreError> {
    let tx = conn.transaction().map_err(internal)?;
    // The kinds are bound as ?2, ?3, ...: the database picks the one job, rather than this
    // code reading every due job of every kind.
    let kind_params: Vec<String> = (0..kinds.len()).map(|i| format!("?{}", i + 2)).collect();
    let sql = format!(
        "SELECT id FROM jobs \
         WHERE ((state = 'queued' AND run_after <= ?1) \
             OR (state = 'running' AND lease_until < ?1)) \
           AND kind IN ({}) \
         ORDER BY CASE state WHEN 'running' THEN lease_until ELSE run_after END, id LIMIT 1",
        kind_params.join(", ")
    );
    let mut values: Vec<&dyn rusqlite::ToSql> = vec![&now];
    values.extend(kinds.iter().map(|k| k as &dyn rusqlite::ToSql));
    let found: Option<String> = tx
        .prepare_cached(&sql)
        .and_then(|mut stmt| stmt.query_row(values.as_slice(), |r| r.get(0)).optional())
        .map_err(internal)?;
    let Some(id) = found else {
        return Ok(None);
    };
    tx.prepare_cached(
        "UPDATE jobs SET state = 'running', worker = ?2, lease_until = ?3, \
         attempts = attempts + 1, updated_at = ?4 WHERE id = ?1",
    )
    .and_then(|mut stmt| stmt.execute(params![id, worker, now + lease_ms, now]))
    .map_err(internal)?;
    let job = by_id(&tx, &id)?;
    tx.commit().map_err(internal)?;
    Ok(job)
}

/// Extends `worker`'s lease on job `id` and records its progress.
pub fn heartbeat(
    conn: &Connection,
    id: &str,
    worker: &str,
    now: i64,
    lease_ms: i64,
    progress: &str,
) -> Result<Result<(), JobRefusal>, StoreError> {
    let changed = conn
        .prepare_cached(
            "UPDATE jobs SET lease_until = ?3, progress = ?4, updated_at = ?5 \
             WHERE id = ?1 AND worker = ?2 AND state = 'running'",
        )
        .and_then(|mut stmt| stmt.execute(params![id, worker, now + lease_ms, progress, now]))
        .map_err(internal)?;
    if changed == 1 {
        return Ok(Ok(()));
    }
    Ok(Err(if by_id(conn, id)?.is_some() {
        JobRefusal::LeaseLost
    } else {
        JobRefusal::NotFound
    }))
}

impl EmbeddedStore {
    /// Runs `work` on the writer's connection between groups, and answers what it returns.
    pub(crate) async fn on_writer<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.submit(Job::Direct(Box::new(move |conn| {
            let _ = reply.send(work(conn));
        })))?;
        answer
            .await
            .map_err(|_| StoreError::Unavailable("the store is shut down".into()))?
    }
}

/// The tenant an audit event is for.
fn tenant_of(audit: &PreparedEvent) -> String {
    audit.event.tenant.clone()
}

#[async_trait]
impl JobStore for EmbeddedStore {
    async fn enqueue(&self, job: NewJob, audit: PreparedEvent) -> Result<JobRecord, StoreError> {
        let tenant = job.tenant.clone();
        match self
            .change_job(tenant, JobChange::Enqueue(job), audit)
            .await?
        {
            Ok(Some(job)) => Ok(job),
            _ => Err(StoreError::Internal("a queued job was not stored".into())),
        }
    }

    async fn claim(
        &self,
        kinds: &[&str],
        worker: &str,
        now: i64,
        lease_ms: i64,
    ) -> Result<Option<JobRecord>, StoreError> {
        let kinds: Vec<String> = kinds.iter().map(|k| (*k).to_owned()).collect();
        let worker = worker.to_owned();
        self.on_writer(move |conn| claim(conn, &kinds, &worker, now, lease_ms))
            .await
    }

    async fn heartbeat(
        &self,
        id: &str,
        worker: &str,
        now: i64,
        lease_ms: i64,
        progress: &str,
    ) -> Result<(), JobError> {
        let (id, worker, progress) = (id.to_owned(), worker.to_owned(), progress.to_owned());
        self.on_writer(move |conn| heartbeat(conn, &id, &worker, now, lease_ms, &progress))
            .await?
            .map_err(JobError::from)
    }

    async fn complete(
        &self,
        id: &str,
        worker: &str,
        now: i64,
        result: &str,
        audit: PreparedEvent,
    ) -> Result<JobRecord, JobError> {
        let change = JobChange::Complete {
            id: id.to_owned(),
            worker: worker.to_owned(),
            now,
            result: result.to_owned(),
        };
        worker_answer(self.change_job(tenant_of(&audit), change, audit).await)
    }

    async fn fail(
        &self,
        id: &str,
        worker: &str,
        now: i64,
        error: &str,
        audit: PreparedEvent,
    ) -> Result<JobRecord, JobError> {
        let change = JobChange::Fail {
            id: id.to_owned(),
            worker: worker.to_owned(),
            now,
            error: error.to_owned(),
        };
        worker_answer(self.change_job(tenant_of(&audit), change, audit).await)
    }

    async fn cancel(
        &self,
        tenant: &str,
        id: &str,
        now: i64,
        reason: &str,
        audit: PreparedEvent,
    ) -> Result<Option<JobRecord>, StoreError> {
        let change = JobChange::Cancel {
            id: id.to_owned(),
            now,
            reason: reason.to_owned(),
        };
        Ok(self
            .change_job(tenant.to_owned(), change, audit)
            .await?
            .unwrap_or(None))
    }

    async fn job(&self, tenant: &str, id: &str) -> Result<Option<JobRecord>, StoreError> {
        let (tenant, id) = (tenant.to_owned(), id.to_owned());
        self.readers
            .run(move |conn| Ok(by_id(conn, &id)?.filter(|j| j.tenant == tenant)))
            .await
    }

    async fn jobs(
        &self,
        tenant: &str,
        kind: &str,
        before: Option<&str>,
        limit: usize,
    ) -> Result<Vec<JobRecord>, StoreError> {
        let (tenant, kind) = (tenant.to_owned(), kind.to_owned());
        // U+10FFFF sorts after every id: no bound.
        let before = before.map_or_else(|| "\u{10FFFF}".to_owned(), str::to_owned);
        let limit = limit.min(MAX_JOBS_LISTED) as i64;
        self.readers
            .run(move |conn| {
                let mut stmt = conn
                    .prepare_cached(&format!(
                        "SELECT {COLUMNS} FROM jobs WHERE tenant = ?1 AND kind = ?2 AND id < ?3 \
                         ORDER BY id DESC LIMIT ?4"
                    ))
                    .map_err(internal)?;
                stmt.query_map(params![tenant, kind, before, limit], record)
                    .map_err(internal)?
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(internal)
            })
            .await
    }
}
