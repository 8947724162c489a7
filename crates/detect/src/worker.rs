//! Detection that follows the trail.
//!
//! Tenants are shared out between nodes in partitions, each under a lease
//! ([`trailkeep_store::lease`]); a node follows every tenant of the partitions it holds, one
//! task per tenant. A task reads the tenant's trail from its detection cursor a chunk at a
//! time, loads the rule state the chunk's events need, observes them, and writes in one set:
//! the cursor moved past the chunk, every state that changed, and every alert raised with its
//! event in the trail. Both or neither: a restart (or another node taking over) goes on from
//! the cursor with the state as of the cursor, so no window is lost or counted twice.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::json;
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;
use trailkeep_event::{Actor, Category, Context, Event, Outcome, Target, Timestamp};
use trailkeep_store::documents::{DocumentWrite, Expect};
use trailkeep_store::{CanonicalEvent, Store, StoreError, lease};

use crate::alert;
use crate::engine::{Detector, KeyState};
use crate::rule::Rule;
use crate::rules;

/// The kind of the cursor document (one per tenant, id `cursor`).
pub const CURSOR_KIND: &str = "detect.cursor";

/// The kind of rule state documents (id `<rule>/<key>`).
pub const STATE_KIND: &str = "detect.state";

const CURSOR_ID: &str = "cursor";

/// How detection runs.
#[derive(Debug, Clone)]
pub struct DetectionSettings {
    /// How many partitions the tenants are shared out in between nodes.
    pub partitions: u32,
    /// How long a node's hold on a partition lasts without renewal.
    pub lease: Duration,
    /// Most events observed per write.
    pub chunk: usize,
}

impl Default for DetectionSettings {
    fn default() -> Self {
        DetectionSettings {
            partitions: 16,
            lease: Duration::from_secs(15),
            chunk: 1000,
        }
    }
}

/// How often a task reads the tenant's rules again (sooner when woken).
const RULES_EVERY: Duration = Duration::from_secs(10);

/// The longest a task sleeps before it looks at its tenant again.
const IDLE: Duration = Duration::from_secs(5);

/// The shortest time between two rounds of a caught-up task: a busy trail is read in chunks.
const ROUND: Duration = Duration::from_millis(200);

struct Shared {
    store: Arc<dyn Store>,
    settings: DetectionSettings,
    held: RwLock<std::collections::HashSet<u32>>,
    wake: Notify,
    /// Counts rule changes: a task whose count is behind reads its rules again.
    rules_changed: AtomicU64,
    node: String,
}

/// Starts and stops detection on one node.
pub struct Detection {
    shared: Arc<Shared>,
}

/// What the server holds of a node's detection: told when a tenant's rules changed.
#[derive(Clone)]
pub struct Handle(Arc<Shared>);

impl Handle {
    /// Rules changed: every task reads its tenant's rules again before its next chunk.
    pub fn rules_changed(&self) {
        self.0.rules_changed.fetch_add(1, Ordering::SeqCst);
        self.0.wake.notify_waiters();
    }
}

impl Detection {
    /// Detection over `store` with `settings`, under the node name `node`.
    pub fn new(store: Arc<dyn Store>, settings: DetectionSettings, node: String) -> Self {
        Detection {
            shared: Arc::new(Shared {
                store,
                settings,
                held: RwLock::default(),
                wake: Notify::new(),
                rules_changed: AtomicU64::new(0),
                node,
            }),
        }
    }

    /// What the server holds of it.
    pub fn handle(&self) -> Handle {
        Handle(self.shared.clone())
    }

    /// Runs until `shutdown` turns true; then gives its partitions up.
    pub fn start(self, shutdown: watch::Receiver<bool>) -> JoinHandle<()> {
        tokio::spawn(supervise(self.shared, shutdown))
    }
}

async fn supervise(shared: Arc<Shared>, mut shutdown: watch::Receiver<bool>) {
    let mut tasks: HashMap<String, JoinHandle<()>> = HashMap::new();
    let lease_ms = shared.settings.lease.as_millis() as i64;
    loop {
        if *shutdown.borrow() {
            break;
        }
        let mut held = std::collections::HashSet::new();
        for partition in 0..shared.settings.partitions {
            let name = format!("detection/{partition}");
            match lease::acquire(
                &*shared.store,
                &name,
                &shared.node,
                Timestamp::now_millis(),
                lease_ms,
            )
            .await
            {
                Ok(true) => {
                    held.insert(partition);
                }
                Ok(false) => {}
                Err(error) => tracing::warn!(%error, "a detection partition lease failed"),
            }
        }
        *shared.held.write().expect("held partitions") = held.clone();
        tasks.retain(|_, task| !task.is_finished());
        match shared.store.tenants().await {
            Ok(tenants) => {
                for tenant in tenants {
                    if held.contains(&lease::partition(&tenant, shared.settings.partitions))
                        && !tasks.contains_key(&tenant)
                    {
                        let task =
                            tokio::spawn(follow(shared.clone(), tenant.clone(), shutdown.clone()));
                        tasks.insert(tenant, task);
                    }
                }
            }
            Err(error) => tracing::warn!(%error, "listing tenants for detection failed"),
        }
        tokio::select! {
            _ = tokio::time::sleep(shared.settings.lease / 3) => {}
            _ = shutdown.changed() => {}
        }
    }
    // The cursor and the state are written together: a task cut off mid-chunk is taken up
    // again from the cursor by whichever node holds the partition next.
    for (_, task) in tasks {
        task.abort();
    }
    for partition in 0..shared.settings.partitions {
        let name = format!("detection/{partition}");
        let _ = lease::release(&*shared.store, &name, &shared.node, Timestamp::now_millis()).await;
    }
}

/// One tenant's detection, as a task keeps it between chunks.
struct Follower {
    tenant: String,
    detector: Detector,
    rules_read: Option<(Instant, u64)>,
    /// The cursor as this task last read or wrote it (the next seq, and what its next write
    /// expects): read from the store only when unknown.
    cursor: Option<(u64, Expect)>,
}

impl Follower {
    /// Forgets what it holds of the stored state (after a failure, or another node's write):
    /// the store is read again.
    fn forget(&mut self) {
        self.detector.forget();
        self.cursor = None;
    }

    /// The cursor: as known, or read.
    async fn cursor(&mut self, store: &dyn Store) -> Result<(u64, Expect), StoreError> {
        if let Some(cursor) = self.cursor {
            return Ok(cursor);
        }
        let cursor = match store.document(&self.tenant, CURSOR_KIND, CURSOR_ID).await? {
            Some(document) => {
                let value: serde_json::Value = serde_json::from_str(&document.body)
                    .map_err(|e| StoreError::Corrupt(format!("a detection cursor: {e}")))?;
                (
                    value["next_seq"].as_u64().unwrap_or(0),
                    Expect::Version(document.version),
                )
            }
            None => (0, Expect::Absent),
        };
        self.cursor = Some(cursor);
        Ok(cursor)
    }
}

async fn follow(shared: Arc<Shared>, tenant: String, mut shutdown: watch::Receiver<bool>) {
    let mut commits = shared.store.commits(&tenant);
    let partition = lease::partition(&tenant, shared.settings.partitions);
    let mut follower = Follower {
        tenant,
        detector: Detector::new(Vec::new()),
        rules_read: None,
        cursor: None,
    };
    loop {
        if *shutdown.borrow() || !shared.held.read().expect("held").contains(&partition) {
            return;
        }
        let wait = match step(&shared, &mut follower).await {
            Ok(true) => None,
            Ok(false) => Some(IDLE),
            Err(error) => {
                follower.forget();
                tracing::warn!(tenant = follower.tenant, %error, "detection failed");
                Some(IDLE)
            }
        };
        if let Some(wait) = wait {
            tokio::time::sleep(ROUND).await;
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = commits.changed() => {}
                _ = shared.wake.notified() => {}
                _ = shutdown.changed() => {}
            }
        }
    }
}

/// Observes the next chunk of the tenant's trail; answers whether there may be more at once.
async fn step(shared: &Shared, follower: &mut Follower) -> Result<bool, StoreError> {
    let store = &*shared.store;
    let tenant = follower.tenant.clone();
    let changes = shared.rules_changed.load(Ordering::SeqCst);
    if follower
        .rules_read
        .is_none_or(|(at, seen)| at.elapsed() >= RULES_EVERY || seen != changes)
    {
        follower
            .detector
            .set_rules(rules::effective(store, &tenant).await?);
        follower.rules_read = Some((Instant::now(), changes));
    }
    let (next, expect) = follower.cursor(store).await?;
    let size = store.tree_size(&tenant).await?;
    if next >= size {
        return Ok(false);
    }
    let chunk = store
        .scan_canonical(
            &tenant,
            next,
            shared.settings.chunk.min((size - next) as usize),
        )
        .await?;
    let Some(end) = chunk.last().map(|e| e.seq + 1) else {
        return Ok(false);
    };
    let whole = follower
        .detector
        .rules()
        .iter()
        .any(Rule::reads_whole_events);
    let events = chunk
        .iter()
        .map(|stored| read_event(stored, whole))
        .collect::<Result<Vec<_>, _>>()?;
    // Load the state the chunk reads, once per state.
    let mut needed: Vec<String> = events
        .iter()
        .flat_map(|e| follower.detector.needs(e))
        .collect();
    needed.sort_unstable();
    needed.dedup();
    for id in needed {
        let state = match store.document(&tenant, STATE_KIND, &id).await? {
            Some(document) => Some(
                serde_json::from_str::<KeyState>(&document.body)
                    .map_err(|e| StoreError::Corrupt(format!("detection state {id}: {e}")))?,
            ),
            None => None,
        };
        follower.detector.load(id, state);
    }
    let mut hits = Vec::new();
    for event in &events {
        hits.extend(follower.detector.observe(event));
    }
    let now = Timestamp::now_millis();
    let mut writes = vec![DocumentWrite::put(
        CURSOR_KIND,
        CURSOR_ID,
        expect,
        json!({"next_seq": end}).to_string(),
    )];
    for (id, state) in follower.detector.take_changes() {
        writes.push(match state {
            Some(state) => DocumentWrite::put(
                STATE_KIND,
                &id,
                Expect::Anything,
                serde_json::to_string(&state).expect("a state serialises"),
            ),
            None => DocumentWrite::delete(STATE_KIND, &id, Expect::Anything),
        });
    }
    let mut audit = Vec::new();
    for hit in hits {
        let Some(rule) = follower
            .detector
            .rules()
            .iter()
            .find(|r| r.id == hit.rule)
            .cloned()
        else {
            continue;
        };
        let (alert, event) = alert::raise(&tenant, &rule, hit, now)?;
        writes.push(DocumentWrite::put(
            alert::KIND,
            &alert.id,
            Expect::Absent,
            serde_json::to_string(&alert).expect("an alert serialises"),
        ));
        audit.push(event);
    }
    let raised = audit.len();
    if store
        .write_documents(&tenant, writes, audit, now)
        .await?
        .is_err()
    {
        // Another node moved the cursor: what is stored is the truth.
        follower.forget();
        return Ok(false);
    }
    let written = match expect {
        Expect::Version(version) => version + 1,
        Expect::Absent | Expect::Anything => 1,
    };
    follower.cursor = Some((end, Expect::Version(written)));
    if raised > 0 {
        tracing::info!(tenant, alerts = raised, "detection raised alerts");
    }
    Ok(true)
}

/// What the built-in rules read of an event: the rest (changes, description, metadata) is
/// skipped unparsed.
#[derive(Deserialize)]
struct Lean {
    id: String,
    tenant: String,
    occurred_at: Timestamp,
    received_at: Timestamp,
    action: String,
    category: Category,
    outcome: Outcome,
    #[serde(default)]
    actor: Option<Actor>,
    #[serde(default)]
    target: Option<Target>,
    #[serde(default)]
    context: Option<Context>,
}

/// The stored event as the detector sees it: whole, or (`whole` false) without the fields
/// only filters and `metadata.` fields read.
fn read_event(stored: &CanonicalEvent, whole: bool) -> Result<Event, StoreError> {
    let corrupt = |e: serde_json::Error| StoreError::Corrupt(format!("seq {}: {e}", stored.seq));
    if whole {
        let mut event: Event = serde_json::from_slice(&stored.canonical).map_err(corrupt)?;
        event.seq = stored.seq;
        return Ok(event);
    }
    let lean: Lean = serde_json::from_slice(&stored.canonical).map_err(corrupt)?;
    Ok(Event {
        id: lean.id,
        seq: stored.seq,
        tenant: lean.tenant,
        occurred_at: lean.occurred_at,
        received_at: lean.received_at,
        action: lean.action,
        category: lean.category,
        outcome: lean.outcome,
        actor: lean.actor,
        target: lean.target,
        context: lean.context,
        changes: None,
        description: None,
        metadata: None,
        redaction: None,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use trailkeep_event::prepare;

    use super::*;
    use crate::builtins;

    fn stored(raw: serde_json::Value, seq: u64) -> (Event, CanonicalEvent) {
        let prepared = prepare(&raw, "t", Timestamp::now()).unwrap();
        let stored = CanonicalEvent {
            seq,
            occurred_at: prepared.event.occurred_at,
            canonical: prepared.canonical_bytes(seq),
            leaf_hash: [0; 32],
        };
        (prepared.into_event(seq), stored)
    }

    #[test]
    fn a_lean_read_is_the_whole_event_without_what_built_in_rules_never_read() {
        let (whole, stored) = stored(
            json!({
                "action": "user.login",
                "outcome": "failure",
                "actor": {"type": "user", "id": "u1", "email": "u1@example.com", "token_id": "k1"},
                "target": {"type": "user", "id": "u1"},
                "context": {"ip_address": "192.0.2.1", "location": "Riyadh",
                            "geo": {"lat": 24.7, "lon": 46.7}},
                "description": "a sign-in",
                "changes": {"role": {"from": "a", "to": "b"}},
                "metadata": {"plan": "pro", "nested": {"a": [1, 2]}},
            }),
            7,
        );
        assert_eq!(read_event(&stored, true).unwrap(), whole);
        let lean = read_event(&stored, false).unwrap();
        assert_eq!(
            lean,
            Event {
                changes: None,
                description: None,
                metadata: None,
                redaction: None,
                ..whole
            }
        );
        assert_eq!(lean.seq, 7);
    }

    #[test]
    fn only_filters_and_metadata_fields_need_whole_events() {
        assert!(!builtins().iter().any(Rule::reads_whole_events));
        let mut by_plan = builtins()
            .into_iter()
            .find(|r| matches!(r.logic, crate::rule::Logic::Threshold { .. }))
            .unwrap();
        if let crate::rule::Logic::Threshold { group_by, .. } = &mut by_plan.logic {
            group_by.push(crate::field::Field::Metadata("plan".into()));
        }
        assert!(by_plan.reads_whole_events());
        let mut filtered = builtins()
            .into_iter()
            .find(|r| matches!(r.logic, crate::rule::Logic::OffHours { .. }))
            .unwrap();
        if let crate::rule::Logic::OffHours { predicate, .. } = &mut filtered.logic {
            *predicate = crate::rule::Predicate::Filter(Box::default());
        }
        assert!(filtered.reads_whole_events());
    }
}
