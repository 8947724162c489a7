//! The writer's queue: one FIFO per tenant, taken round-robin, so that one tenant's backlog
//! never stands in front of another tenant's write.
//!
//! Appends reach the writer thread through a channel in arrival order. The writer moves them into
//! a queue per tenant and builds each group (one transaction) by taking one job from each tenant
//! in turn until the group holds enough events. A tenant that queued a thousand 10,000-event
//! batches then gets a share of every transaction like any other, and a tenant with one event
//! waiting is written in the next transaction instead of after the whole backlog. How much each
//! tenant may queue at all is bounded where appends are submitted (`lib.rs`, a
//! `trailkeep_store::quota::Quota`).

use std::collections::{HashMap, VecDeque};

use crate::writer::Job;

/// Jobs waiting for the writer, by tenant.
#[derive(Default)]
pub struct FairQueue {
    queues: HashMap<String, VecDeque<Job>>,
    /// Tenants with waiting jobs, in the order they get their next turn.
    turns: VecDeque<String>,
    /// A shutdown was asked for: finish what is queued, then stop.
    stopping: bool,
}

impl FairQueue {
    /// Queues `job` behind its tenant's earlier ones.
    pub fn push(&mut self, job: Job) {
        let Some(tenant) = job.tenant() else {
            self.stopping = true;
            return;
        };
        let queue = self.queues.entry(tenant.to_owned()).or_default();
        if queue.is_empty() {
            self.turns.push_back(tenant.to_owned());
        }
        queue.push_back(job);
    }

    /// Whether no job waits.
    pub fn is_empty(&self) -> bool {
        self.turns.is_empty()
    }

    /// Whether a shutdown was asked for.
    pub fn stopping(&self) -> bool {
        self.stopping
    }

    /// The next group: one job per tenant per turn, until the group holds `max_events` events
    /// or nothing waits. Always at least one job when any waits.
    pub fn take_group(&mut self, max_events: usize) -> Vec<Job> {
        let mut group = Vec::new();
        let mut events = 0;
        while events < max_events.max(1) {
            let Some(tenant) = self.turns.pop_front() else {
                break;
            };
            let queue = self.queues.get_mut(&tenant).expect("a turn has a queue");
            let job = queue.pop_front().expect("a turn has a job");
            events += job.events();
            group.push(job);
            if queue.is_empty() {
                self.queues.remove(&tenant);
            } else {
                self.turns.push_back(tenant);
            }
        }
        group
    }
}

#[cfg(test)]
mod tests {
    use trailkeep_store::AppendRequest;

    use super::*;

    fn append(tenant: &str, events: usize) -> Job {
        let (reply, _) = tokio::sync::oneshot::channel();
        let admission = trailkeep_store::quota::Quota::new(1000, 1000);
        let event = trailkeep_event::prepare(
            &serde_json::json!({"action": "a"}),
            tenant,
            trailkeep_event::Timestamp::now(),
        )
        .unwrap();
        Job::Append {
            tenant: tenant.into(),
            request: AppendRequest {
                events: vec![event; events],
                idempotency_key: None,
            },
            reply,
            ticket: admission.take(tenant).unwrap(),
        }
    }

    fn tenants(group: &[Job]) -> Vec<&str> {
        group.iter().filter_map(Job::tenant).collect()
    }

    #[test]
    fn a_backlog_of_one_tenant_does_not_delay_another() {
        let mut queue = FairQueue::default();
        for _ in 0..100 {
            queue.push(append("loud", 10_000));
        }
        queue.push(append("quiet", 1));
        let first = queue.take_group(50_000);
        assert_eq!(
            tenants(&first),
            ["loud", "quiet", "loud", "loud", "loud", "loud"]
        );
        let mut rest = 0;
        while !queue.is_empty() {
            let group = queue.take_group(50_000);
            assert!(tenants(&group).iter().all(|t| *t == "loud"));
            rest += group.len();
        }
        assert_eq!(rest, 95);
    }

    #[test]
    fn a_shutdown_is_remembered_and_queued_work_still_taken() {
        let mut queue = FairQueue::default();
        queue.push(append("a", 1));
        queue.push(Job::Shutdown);
        assert!(queue.stopping());
        assert_eq!(queue.take_group(10).len(), 1);
        assert!(queue.is_empty());
    }
}
