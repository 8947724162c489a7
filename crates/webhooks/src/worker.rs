//! Delivery that follows the trail.
//!
//! Tenants are shared out between nodes in partitions, each under a lease
//! ([`trailkeep_store::lease`]); a node follows every active subscription of the partitions it
//! holds, one task per subscription. A task reads the tenant's trail from the subscription's
//! cursor, keeps the events it receives, and makes a message of at most
//! `max_batch_events` events and `max_batch_bytes` bytes, all of one type. Before sending, the
//! message (its id, type and seqs) is written into the cursor, so that after a crash the same
//! events go again under the same `webhook-id`; after a 2xx the cursor moves past it, and the
//! next message is made and written in the same set (one write per message). Failed
//! attempts wait for the retry schedule; a 410, or the last retry failing, disables the
//! subscription with an event in the trail. Every attempt is logged.
//!
//! One request per subscription is in flight at a time (the ledger's order), and at most
//! `max_in_flight` over all of them, so a dead endpoint holds up only its own subscription.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use tokio::sync::{Notify, Semaphore, watch};
use tokio::task::JoinHandle;
use trailkeep_event::Timestamp;
use trailkeep_store::documents::{DocumentRange, DocumentWrite, Expect, MAX_DOCUMENTS_LISTED};
use trailkeep_store::{CanonicalEvent, Store, StoreError, lease};

use crate::destination::AddressPolicy;
use crate::retry::RetrySchedule;
use crate::send::{Attempt, Sender, message_body, test_body};
use crate::subscription::{
    CURSOR_KIND, Cursor, DELIVERY_KIND, Delivery, EventType, KIND, Pending, State, Subscription,
    decode, delivery_id, delivery_prefix, encode, new_message_id,
};

/// How deliveries run.
#[derive(Debug, Clone)]
pub struct DeliverySettings {
    /// Which destinations may be reached.
    pub policy: AddressPolicy,
    /// When failed messages are tried again.
    pub schedule: RetrySchedule,
    /// Most events in one message.
    pub max_batch_events: usize,
    /// Most bytes of events in one message (one larger event goes alone).
    pub max_batch_bytes: usize,
    /// The deadline of one request.
    pub timeout: Duration,
    /// Most requests in flight over every subscription.
    pub max_in_flight: usize,
    /// Delivery log entries kept per subscription.
    pub keep_deliveries: usize,
    /// How many partitions the tenants are shared out in between nodes.
    pub partitions: u32,
    /// How long a node's hold on a partition lasts without renewal.
    pub lease: Duration,
}

impl Default for DeliverySettings {
    fn default() -> Self {
        DeliverySettings {
            policy: AddressPolicy::default(),
            schedule: RetrySchedule::default(),
            max_batch_events: 100,
            max_batch_bytes: 256 * 1024,
            timeout: Duration::from_secs(15),
            max_in_flight: 32,
            keep_deliveries: 1000,
            partitions: 16,
            lease: Duration::from_secs(15),
        }
    }
}

/// Most events read from the trail at a time.
const SCAN_CHUNK: usize = 500;

/// Most events a message may span in the trail (matching or not) before it goes as it is.
const MAX_SPAN: u64 = 20_000;

/// The longest a task sleeps before it looks at its subscription again.
const IDLE: Duration = Duration::from_secs(5);

/// The shortest time between two rounds of a caught-up task, so that a busy trail is read in
/// chunks rather than one commit at a time.
const ROUND: Duration = Duration::from_millis(100);

/// What the tasks of one node share.
struct Shared {
    store: Arc<dyn Store>,
    settings: DeliverySettings,
    sender: Sender,
    in_flight: Semaphore,
    /// The partitions this node holds.
    held: RwLock<HashSet<u32>>,
    /// Wakes the supervisor and every task (a subscription changed).
    wake: Notify,
    node: String,
}

/// Starts and stops delivery on one node.
pub struct Deliverer {
    shared: Arc<Shared>,
}

/// What the server holds of a node's deliveries: it wakes them when a subscription was made
/// or changed, and sends test messages through the same guarded client.
#[derive(Clone)]
pub struct Handle(Arc<Shared>);

impl Handle {
    /// Wakes the deliveries at once.
    pub fn wake(&self) {
        self.0.wake.notify_waiters();
    }

    /// Posts a `webhook.test` message to `subscription` now, whatever its state, and answers
    /// what came of it (not logged: it moves nothing).
    pub async fn send_test(&self, tenant: &str, subscription: &Subscription) -> Attempt {
        let body = test_body(tenant, &subscription.id, &Timestamp::now().to_string());
        let secrets = subscription.secrets_at(Timestamp::now_millis());
        self.0
            .sender
            .post(&subscription.url, &new_message_id(), body, &secrets)
            .await
    }

    /// The destinations deliveries may reach.
    pub fn policy(&self) -> &AddressPolicy {
        self.0.sender.policy()
    }
}

impl Deliverer {
    /// A deliverer over `store` with `settings`, under the node name `node` (unique per node).
    pub fn new(
        store: Arc<dyn Store>,
        settings: DeliverySettings,
        node: String,
    ) -> Result<Self, String> {
        let sender = Sender::new(settings.policy.clone(), settings.timeout)?;
        Ok(Deliverer {
            shared: Arc::new(Shared {
                store,
                in_flight: Semaphore::new(settings.max_in_flight.max(1)),
                settings,
                sender,
                held: RwLock::new(HashSet::new()),
                wake: Notify::new(),
                node,
            }),
        })
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

/// Keeps the node's partitions leased and a task following each of their active
/// subscriptions.
async fn supervise(shared: Arc<Shared>, mut shutdown: watch::Receiver<bool>) {
    let mut tasks: HashMap<(String, String), JoinHandle<()>> = HashMap::new();
    let lease_ms = shared.settings.lease.as_millis() as i64;
    loop {
        if *shutdown.borrow() {
            break;
        }
        let mut held = HashSet::new();
        for partition in 0..shared.settings.partitions {
            let name = format!("webhooks/{partition}");
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
                Err(error) => tracing::warn!(%error, "a webhook partition lease failed"),
            }
        }
        *shared.held.write().expect("held partitions") = held.clone();
        tasks.retain(|_, task| !task.is_finished());
        match active_subscriptions(&shared, &held).await {
            Ok(active) => {
                for key in active {
                    if let std::collections::hash_map::Entry::Vacant(slot) = tasks.entry(key) {
                        let (tenant, id) = slot.key().clone();
                        slot.insert(tokio::spawn(follow(
                            shared.clone(),
                            tenant,
                            id,
                            shutdown.clone(),
                        )));
                    }
                }
            }
            Err(error) => tracing::warn!(%error, "listing webhook subscriptions failed"),
        }
        tokio::select! {
            _ = tokio::time::sleep(shared.settings.lease / 3) => {}
            _ = shared.wake.notified() => {}
            _ = shutdown.changed() => {}
        }
    }
    // A message in flight is in its cursor already: cut off, it goes again under the same
    // id from whichever node holds the partition next.
    for (_, task) in tasks {
        task.abort();
    }
    for partition in 0..shared.settings.partitions {
        let name = format!("webhooks/{partition}");
        let _ = lease::release(&*shared.store, &name, &shared.node, Timestamp::now_millis()).await;
    }
}

/// The (tenant, id) of every active subscription in the partitions `held`.
async fn active_subscriptions(
    shared: &Shared,
    held: &HashSet<u32>,
) -> Result<Vec<(String, String)>, StoreError> {
    let mut active = Vec::new();
    for tenant in shared.store.document_tenants(KIND).await? {
        if !held.contains(&lease::partition(&tenant, shared.settings.partitions)) {
            continue;
        }
        let documents = shared
            .store
            .documents(&tenant, KIND, DocumentRange::all(), MAX_DOCUMENTS_LISTED)
            .await?;
        for document in documents {
            if let Ok(subscription) = serde_json::from_str::<Subscription>(&document.body)
                && subscription.state == State::Active
            {
                active.push((tenant.clone(), subscription.id));
            }
        }
    }
    Ok(active)
}

/// Follows one subscription until it is no longer active here.
async fn follow(
    shared: Arc<Shared>,
    tenant: String,
    id: String,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut commits = shared.store.commits(&tenant);
    let partition = lease::partition(&tenant, shared.settings.partitions);
    let mut made = None;
    loop {
        if *shutdown.borrow() || !shared.held.read().expect("held").contains(&partition) {
            return;
        }
        let wait = match step(&shared, &tenant, &id, &mut made).await {
            Ok(Step::Stop) => return,
            Ok(Step::Again) => None,
            Ok(Step::Wait(wait)) => Some(wait),
            Err(error) => {
                tracing::warn!(tenant, subscription = id, %error, "webhook delivery failed");
                Some(IDLE)
            }
        };
        if let Some(wait) = wait {
            tokio::time::sleep(ROUND.min(wait)).await;
            tokio::select! {
                _ = tokio::time::sleep(wait.saturating_sub(ROUND)) => {}
                _ = commits.changed() => {}
                _ = shared.wake.notified() => {}
                _ = shutdown.changed() => {}
            }
        }
    }
}

/// What a task does after a step.
enum Step {
    /// The subscription is gone or not active: the task ends.
    Stop,
    /// More to do at once.
    Again,
    /// Nothing to do for up to this long (or until the trail grows).
    Wait(Duration),
}

/// A message this task made, with the events it carries: its first attempt sends them
/// without reading them again.
struct Made {
    message_id: String,
    events: Vec<CanonicalEvent>,
}

/// Reads the subscription and its cursor and does the next thing: send the message in flight
/// when it is due, or make the next one.
async fn step(
    shared: &Shared,
    tenant: &str,
    id: &str,
    made: &mut Option<Made>,
) -> Result<Step, StoreError> {
    let store = &*shared.store;
    let Some(document) = store.document(tenant, KIND, id).await? else {
        return Ok(Step::Stop);
    };
    let subscription: Subscription = decode(&document)?;
    if subscription.state != State::Active {
        return Ok(Step::Stop);
    }
    let Some(cursor_document) = store.document(tenant, CURSOR_KIND, id).await? else {
        return Ok(Step::Stop);
    };
    let mut cursor: Cursor = decode(&cursor_document)?;
    let version = cursor_document.version;
    let now = Timestamp::now_millis();
    if let Some(pending) = cursor.pending.clone() {
        if pending.next_attempt_at > now {
            let due = Duration::from_millis((pending.next_attempt_at - now) as u64);
            return Ok(Step::Wait(due.min(IDLE)));
        }
        let events = match made.take() {
            Some(made) if made.message_id == pending.message_id => made.events,
            _ => events_of(store, tenant, &pending.seqs).await?,
        };
        let flight = InFlight {
            cursor,
            version,
            pending,
            events,
        };
        return attempt(shared, tenant, &subscription, flight, made).await;
    }
    let size = store.tree_size(tenant).await?;
    if cursor.next_seq >= size {
        return Ok(Step::Wait(IDLE));
    }
    let (message, end) = next_message(shared, tenant, &subscription, cursor.next_seq, size).await?;
    let Some((pending, events)) = message.map(|m| m.pending(end, now)) else {
        cursor.next_seq = end;
        let write = DocumentWrite::put(CURSOR_KIND, id, Expect::Version(version), encode(&cursor));
        store
            .write_documents(tenant, vec![write], Vec::new(), now)
            .await?
            .ok();
        return Ok(Step::Again);
    };
    cursor.pending = Some(pending.clone());
    let write = DocumentWrite::put(CURSOR_KIND, id, Expect::Version(version), encode(&cursor));
    if store
        .write_documents(tenant, vec![write], Vec::new(), now)
        .await?
        .is_err()
    {
        // Replayed or edited meanwhile: read it again.
        return Ok(Step::Again);
    }
    let flight = InFlight {
        cursor,
        version: version + 1,
        pending,
        events,
    };
    attempt(shared, tenant, &subscription, flight, made).await
}

/// A message to send now: the cursor it is in (at `version`) and its events.
struct InFlight {
    cursor: Cursor,
    version: u64,
    pending: Pending,
    events: Vec<CanonicalEvent>,
}

/// The events of a message being made, all of one type.
struct Message {
    event_type: EventType,
    events: Vec<CanonicalEvent>,
}

impl Message {
    /// The message in flight it becomes, made at `now`, after which the cursor goes to
    /// `end_seq`; and its events.
    fn pending(self, end_seq: u64, now: i64) -> (Pending, Vec<CanonicalEvent>) {
        let pending = Pending {
            message_id: new_message_id(),
            event_type: self.event_type,
            seqs: self.events.iter().map(|e| e.seq).collect(),
            made_at: now,
            end_seq,
            attempts: 0,
            next_attempt_at: now,
        };
        (pending, self.events)
    }
}

/// The next message from `from` on (none when no event there is wanted), and where the cursor
/// goes after it. The trail is read a message's worth at a time at first, then in growing
/// chunks while few events match.
async fn next_message(
    shared: &Shared,
    tenant: &str,
    subscription: &Subscription,
    from: u64,
    size: u64,
) -> Result<(Option<Message>, u64), StoreError> {
    let settings = &shared.settings;
    let mut events: Vec<CanonicalEvent> = Vec::new();
    let mut kind = EventType::LogCreated;
    let mut bytes = 0usize;
    let mut at = from;
    let mut read = settings.max_batch_events.clamp(1, SCAN_CHUNK);
    let message = |events: Vec<CanonicalEvent>, kind| {
        (!events.is_empty()).then_some(Message {
            event_type: kind,
            events,
        })
    };
    while at < size && at - from < MAX_SPAN {
        let chunk = shared
            .store
            .scan_canonical(tenant, at, read.min((size - at) as usize))
            .await?;
        if chunk.is_empty() {
            break;
        }
        for event in chunk {
            let seq = event.seq;
            if let Some(wanted) = wants(subscription, &event)? {
                let full = !events.is_empty()
                    && (wanted != kind || bytes + event.canonical.len() > settings.max_batch_bytes);
                if full {
                    return Ok((message(events, kind), seq));
                }
                kind = wanted;
                bytes += event.canonical.len();
                events.push(event);
                if events.len() >= settings.max_batch_events {
                    return Ok((message(events, kind), seq + 1));
                }
            }
            at = seq + 1;
        }
        read = (read * 2).min(SCAN_CHUNK);
    }
    Ok((message(events, kind), at))
}

/// The type under which `subscription` receives the stored event, parsing only its action
/// unless a filter needs the whole event.
fn wants(
    subscription: &Subscription,
    event: &CanonicalEvent,
) -> Result<Option<EventType>, StoreError> {
    if subscription.needs_whole_events() {
        let parsed: trailkeep_event::Event = serde_json::from_slice(&event.canonical)
            .map_err(|e| StoreError::Corrupt(format!("seq {}: {e}", event.seq)))?;
        return Ok(subscription.wants(&parsed));
    }
    #[derive(serde::Deserialize)]
    struct Action<'a> {
        #[serde(borrow)]
        action: std::borrow::Cow<'a, str>,
    }
    let head: Action<'_> = serde_json::from_slice(&event.canonical)
        .map_err(|e| StoreError::Corrupt(format!("seq {}: {e}", event.seq)))?;
    let kind = EventType::of_action(&head.action);
    Ok(subscription.event_types.contains(&kind).then_some(kind))
}

/// The stored events of `seqs` (ascending), read in ranges.
async fn events_of(
    store: &dyn Store,
    tenant: &str,
    seqs: &[u64],
) -> Result<Vec<CanonicalEvent>, StoreError> {
    let wanted: HashSet<u64> = seqs.iter().copied().collect();
    let mut events = Vec::with_capacity(seqs.len());
    let (Some(&first), Some(&last)) = (seqs.first(), seqs.last()) else {
        return Ok(events);
    };
    let mut at = first;
    while at <= last {
        let chunk = store
            .scan_canonical(tenant, at, SCAN_CHUNK.min((last - at + 1) as usize))
            .await?;
        let Some(end) = chunk.last().map(|e| e.seq + 1) else {
            break;
        };
        events.extend(chunk.into_iter().filter(|e| wanted.contains(&e.seq)));
        at = end;
    }
    if events.len() != seqs.len() {
        return Err(StoreError::Corrupt(format!(
            "a message's events are missing from {tenant}'s trail"
        )));
    }
    Ok(events)
}

/// Sends the message in flight and records what came of it. After a 2xx the next message,
/// when there is one, is made and goes into the same write as the completion (and into
/// `made`, for the next step to send).
async fn attempt(
    shared: &Shared,
    tenant: &str,
    subscription: &Subscription,
    flight: InFlight,
    made: &mut Option<Made>,
) -> Result<Step, StoreError> {
    let store = &*shared.store;
    let InFlight {
        mut cursor,
        version,
        mut pending,
        events,
    } = flight;
    let body = message_body(
        tenant,
        &subscription.id,
        pending.event_type,
        &Timestamp::millis_rfc3339(pending.made_at),
        &events,
    );
    let now = Timestamp::now_millis();
    let secrets = subscription.secrets_at(now);
    let result = {
        let _permit = shared
            .in_flight
            .acquire()
            .await
            .map_err(|_| StoreError::Unavailable("deliveries are stopping".into()))?;
        shared
            .sender
            .post(&subscription.url, &pending.message_id, body, &secrets)
            .await
    };
    let now = Timestamp::now_millis();
    pending.attempts += 1;
    let delay = if result.delivered() || result.gone() {
        None
    } else {
        shared
            .settings
            .schedule
            .delay_after(pending.attempts, result.retry_after)
    };
    let number = cursor.logged;
    cursor.logged += 1;
    let entry = Delivery {
        number,
        message_id: pending.message_id.clone(),
        event_type: pending.event_type.name().to_owned(),
        attempt: pending.attempts,
        at: now,
        status: result.status,
        error: result.error.clone(),
        latency_ms: result.latency.as_millis() as u64,
        answer: result.answer.clone(),
        seqs: pending
            .seqs
            .first()
            .zip(pending.seqs.last())
            .map(|(a, b)| (*a, *b)),
        events: pending.seqs.len(),
        delivered: result.delivered(),
        next_attempt_at: delay.map(|d| now + d.as_millis() as i64),
    };
    let give_up = !result.delivered() && delay.is_none();
    let mut next = None;
    if result.delivered() {
        cursor.next_seq = pending.end_seq;
        cursor.pending = None;
        let size = store.tree_size(tenant).await?;
        if cursor.next_seq < size {
            let (message, end) =
                next_message(shared, tenant, subscription, cursor.next_seq, size).await?;
            match message.map(|m| m.pending(end, now)) {
                Some((following, events)) => {
                    next = Some(Made {
                        message_id: following.message_id.clone(),
                        events,
                    });
                    cursor.pending = Some(following);
                }
                None => cursor.next_seq = end,
            }
        }
    } else {
        pending.next_attempt_at = entry.next_attempt_at.unwrap_or(i64::MAX);
        cursor.pending = Some(pending);
    }
    let mut writes = vec![
        DocumentWrite::put(
            CURSOR_KIND,
            &subscription.id,
            Expect::Version(version),
            encode(&cursor),
        ),
        DocumentWrite::put(
            DELIVERY_KIND,
            &delivery_id(&subscription.id, number),
            Expect::Anything,
            encode(&entry),
        ),
    ];
    let keep = shared.settings.keep_deliveries as u64;
    if number >= keep && number.is_multiple_of(64) {
        writes.push(DocumentWrite::DeleteRange {
            kind: DELIVERY_KIND.into(),
            from: delivery_prefix(&subscription.id),
            to: delivery_id(&subscription.id, number + 1 - keep),
        });
    }
    if store
        .write_documents(tenant, writes, Vec::new(), now)
        .await?
        .is_err()
    {
        // Replayed or edited meanwhile: the attempt stands in the receiver's log, not ours.
        return Ok(Step::Again);
    }
    *made = next;
    if give_up {
        let reason = disabled_reason(&result, shared.settings.schedule.attempts());
        crate::manage::disable(store, tenant, &subscription.id, &reason, now).await?;
        tracing::warn!(
            tenant,
            subscription = subscription.id,
            reason,
            "webhook subscription disabled"
        );
        return Ok(Step::Stop);
    }
    Ok(Step::Again)
}

/// Why a subscription is disabled after `result`.
fn disabled_reason(result: &Attempt, attempts: u32) -> String {
    if result.gone() {
        "the endpoint answered 410 Gone".to_owned()
    } else {
        format!("every one of {attempts} attempts at a message failed")
    }
}
