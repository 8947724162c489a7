//! The job runner: a bounded pool of workers that claim jobs of the kinds they have handlers for,
//! keep their leases alive while they work, and record how each attempt ended.
//!
//! Each claim is made under a fresh worker name (`<node>/<ulid>`), so a job taken over after a
//! lease ran out can never be mistaken for the earlier holder's. While a handler works, a
//! heartbeat renews the lease and records the handler's latest progress; when the store refuses
//! a heartbeat (the job was cancelled, or the lease ran out and another worker has it) the
//! handler is told to stop and nothing more is recorded for that attempt.
//!
//! On shutdown workers stop claiming and tell their handlers to stop; an interrupted job keeps
//! its lease until it runs out and is then claimed again (after a restart, by this node or
//! another), so nothing is lost and nothing runs twice at once.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::{Notify, watch};
use tokio::task::JoinSet;
use trailkeep_event::PreparedEvent;
use trailkeep_store::{JobError, JobRecord, Store};

use crate::now_ms;

/// How the runner works.
#[derive(Debug, Clone)]
pub struct RunnerSettings {
    /// How many jobs run at once.
    pub workers: usize,
    /// How often an idle worker looks for work (a job queued by this process wakes it at once).
    pub poll_interval: Duration,
    /// How long a claim holds without a heartbeat.
    pub lease: Duration,
    /// How often a running job's lease is renewed (well inside `lease`).
    pub heartbeat: Duration,
    /// This process's name in worker names (host and process id, say).
    pub node: String,
}

impl Default for RunnerSettings {
    fn default() -> Self {
        Self {
            workers: 2,
            poll_interval: Duration::from_secs(1),
            lease: Duration::from_secs(30),
            heartbeat: Duration::from_secs(5),
            node: format!("node-{}", std::process::id()),
        }
    }
}

/// What a finished job hands back.
#[derive(Debug)]
pub struct Done {
    /// What it made, kept as the job's result.
    pub result: serde_json::Value,
    /// The event recording its completion in the tenant's trail.
    pub audit: PreparedEvent,
}

/// How an attempt ended without finishing.
#[derive(Debug)]
pub enum JobFailure {
    /// It failed: retried after a backoff while attempts remain, else failed for good (then
    /// `audit` is stored).
    Failed {
        /// Why, as the job's error (no secrets: tenants read it).
        error: String,
        /// The event recording a final failure.
        audit: PreparedEvent,
    },
    /// It was told to stop (cancelled, lease lost, shutdown): nothing is recorded.
    Stopped,
}

/// A kind of work.
#[async_trait]
pub trait Handler: Send + Sync + 'static {
    /// The job kind it runs.
    fn kind(&self) -> &'static str;

    /// Runs one attempt at `job`. Long work reports progress through `work` and checks
    /// [`Work::stopped`] between steps.
    async fn run(&self, job: &JobRecord, work: &Work) -> Result<Done, JobFailure>;
}

/// A running attempt's link to its lease.
pub struct Work {
    progress: Mutex<String>,
    lost: AtomicBool,
    shutdown: watch::Receiver<bool>,
}

impl Work {
    /// Records `progress` (sent with the next heartbeat, readable by the tenant).
    pub fn report(&self, progress: serde_json::Value) {
        *self.progress.lock().unwrap_or_else(|p| p.into_inner()) = progress.to_string();
    }

    /// Whether the attempt should stop: its lease is lost (cancelled or taken over) or the
    /// process is shutting down.
    pub fn stopped(&self) -> bool {
        self.lost.load(Ordering::Acquire) || *self.shutdown.borrow()
    }

    fn progress(&self) -> String {
        self.progress
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

/// The pool of workers.
pub struct Runner {
    store: Arc<dyn Store>,
    settings: RunnerSettings,
    handlers: HashMap<&'static str, Arc<dyn Handler>>,
    wake: Notify,
}

impl Runner {
    /// A runner of `handlers` over `store`.
    pub fn new(
        store: Arc<dyn Store>,
        settings: RunnerSettings,
        handlers: Vec<Arc<dyn Handler>>,
    ) -> Arc<Self> {
        Arc::new(Self {
            store,
            settings,
            handlers: handlers.into_iter().map(|h| (h.kind(), h)).collect(),
            wake: Notify::new(),
        })
    }

    /// Tells idle workers that a job was queued.
    pub fn wake(&self) {
        self.wake.notify_waiters();
    }

    /// Starts the workers; they stop once `shutdown` turns true, after telling running
    /// handlers to stop. Await the set to wait for them.
    pub fn start(self: &Arc<Self>, shutdown: watch::Receiver<bool>) -> JoinSet<()> {
        let mut workers = JoinSet::new();
        for _ in 0..self.settings.workers.max(1) {
            let this = self.clone();
            let shutdown = shutdown.clone();
            workers.spawn(async move { this.work(shutdown).await });
        }
        workers
    }

    async fn work(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        let kinds: Vec<&str> = self.handlers.keys().copied().collect();
        let lease_ms = millis(self.settings.lease);
        while !*shutdown.borrow() {
            let worker = format!("{}/{}", self.settings.node, ulid::Ulid::new());
            let wake = self.wake.notified();
            match self.store.claim(&kinds, &worker, now_ms(), lease_ms).await {
                Ok(Some(job)) => {
                    self.run_one(job, &worker, shutdown.clone()).await;
                    continue;
                }
                Ok(None) => {}
                Err(error) => tracing::warn!(%error, "claiming a job failed"),
            }
            tokio::select! {
                () = wake => {}
                () = tokio::time::sleep(self.settings.poll_interval) => {}
                _ = shutdown.changed() => {}
            }
        }
    }

    async fn run_one(&self, job: JobRecord, worker: &str, shutdown: watch::Receiver<bool>) {
        let Some(handler) = self.handlers.get(job.kind.as_str()).cloned() else {
            return;
        };
        let work = Arc::new(Work {
            progress: Mutex::new(job.progress.clone()),
            lost: AtomicBool::new(false),
            shutdown,
        });
        let heartbeat = tokio::spawn(keep_lease(
            self.store.clone(),
            job.id.clone(),
            worker.to_owned(),
            self.settings.clone(),
            work.clone(),
        ));
        tracing::info!(job = %job.id, kind = %job.kind, tenant = %job.tenant, attempt = job.attempts, "job started");
        let outcome = handler.run(&job, &work).await;
        heartbeat.abort();
        let recorded = match outcome {
            Ok(done) => self
                .store
                .complete(
                    &job.id,
                    worker,
                    now_ms(),
                    &done.result.to_string(),
                    done.audit,
                )
                .await
                .map(|_| "succeeded"),
            Err(JobFailure::Failed { error, audit }) => {
                tracing::warn!(job = %job.id, %error, "job attempt failed");
                self.store
                    .fail(&job.id, worker, now_ms(), &error, audit)
                    .await
                    .map(|record| record.state.as_str())
            }
            Err(JobFailure::Stopped) => {
                tracing::info!(job = %job.id, "job stopped");
                return;
            }
        };
        match recorded {
            Ok(state) => tracing::info!(job = %job.id, state, "job ended"),
            Err(JobError::Refused(refusal)) => {
                tracing::info!(job = %job.id, %refusal, "job's end not recorded");
            }
            Err(JobError::Store(error)) => {
                // The lease runs out and the job is claimed again.
                tracing::error!(job = %job.id, %error, "recording a job's end failed");
            }
        }
    }
}

/// Renews the lease every heartbeat with the latest progress, until the store refuses (then
/// the attempt is told to stop) or the task is aborted.
async fn keep_lease(
    store: Arc<dyn Store>,
    id: String,
    worker: String,
    settings: RunnerSettings,
    work: Arc<Work>,
) {
    let lease_ms = millis(settings.lease);
    loop {
        tokio::time::sleep(settings.heartbeat).await;
        match store
            .heartbeat(&id, &worker, now_ms(), lease_ms, &work.progress())
            .await
        {
            Ok(()) => {}
            Err(JobError::Refused(refusal)) => {
                tracing::info!(job = %id, %refusal, "job lease lost; stopping it");
                work.lost.store(true, Ordering::Release);
                return;
            }
            Err(JobError::Store(error)) => tracing::warn!(job = %id, %error, "heartbeat failed"),
        }
    }
}

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}
