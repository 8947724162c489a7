//! What an owner does with subscriptions: make, read, change, pause, resume, delete, rotate
//! the secret, replay. Every change is written with the event that records it in the tenant's
//! trail (`webhook.created`, `webhook.updated`, ...), both or neither; a secret is never in an
//! event and is answered only by the call that made it.

use std::ops::Bound;

use serde_json::{Map, Value, json};
use trailkeep_event::{Filter, PreparedEvent, Timestamp, prepare};
use trailkeep_store::documents::{DocumentRange, DocumentWrite, Expect, MAX_DOCUMENTS_LISTED};
use trailkeep_store::{Store, StoreError};

use crate::destination::{AddressPolicy, Refused};
use crate::signature::new_secret;
use crate::subscription::{
    CURSOR_KIND, Cursor, DELIVERY_KIND, Delivery, EventType, KIND, SigningSecret, State,
    Subscription, decode, delivery_prefix, encode, new_id,
};

/// Most subscriptions a tenant may have.
pub const MAX_SUBSCRIPTIONS: usize = 100;

/// Longest description.
pub const MAX_DESCRIPTION_CHARS: usize = 500;

/// Longest URL.
pub const MAX_URL_BYTES: usize = 2048;

/// The longest overlap of an old secret after a rotation: 7 days.
pub const MAX_OVERLAP_MS: i64 = 7 * 24 * 3600 * 1000;

/// How many times a change is tried again when a delivery wrote the same document meanwhile.
const RETRIES: usize = 5;

/// Why a call was refused.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    /// The tenant has no such subscription.
    #[error("no such webhook subscription")]
    NotFound,
    /// The request is not acceptable; the text says why.
    #[error("{0}")]
    Invalid(String),
    /// The destination is refused.
    #[error(transparent)]
    Refused(#[from] Refused),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A subscription to make.
#[derive(Debug, Clone, PartialEq)]
pub struct NewSubscription {
    /// Where messages go.
    pub url: String,
    /// What it receives.
    pub event_types: Vec<EventType>,
    /// Which `audit.log.created` events, parsed.
    pub filter: Option<Filter>,
    /// The filter as written.
    pub filter_params: Map<String, Value>,
    /// What it is for.
    pub description: String,
}

/// A change to a subscription: each field given replaces the stored one.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Update {
    /// A new destination.
    pub url: Option<String>,
    /// New event types.
    pub event_types: Option<Vec<EventType>>,
    /// A new filter (parsed, and as written); an empty one removes it.
    pub filter: Option<(Option<Filter>, Map<String, Value>)>,
    /// A new description.
    pub description: Option<String>,
}

/// Who makes a change, as the trail's `actor` records it.
pub type Actor = Value;

/// An event recording a change of subscription `id` in `tenant`'s trail.
pub fn webhook_event(
    tenant: &str,
    action: &str,
    actor: &Actor,
    id: &str,
    metadata: Value,
) -> Result<PreparedEvent, StoreError> {
    let raw = json!({
        "action": action,
        "actor": actor,
        "target": {"type": "webhook", "id": id},
        "metadata": metadata,
    });
    prepare(&raw, tenant, Timestamp::now())
        .map_err(|errors| StoreError::Internal(format!("a webhook event is invalid: {errors:?}")))
}

fn check_fields(url: &str, types: &[EventType], description: &str) -> Result<(), WebhookError> {
    if url.len() > MAX_URL_BYTES {
        return Err(WebhookError::Invalid(format!(
            "url: at most {MAX_URL_BYTES} bytes"
        )));
    }
    if types.is_empty() {
        return Err(WebhookError::Invalid(
            "event_types: name at least one type".into(),
        ));
    }
    if description.chars().count() > MAX_DESCRIPTION_CHARS {
        return Err(WebhookError::Invalid(format!(
            "description: at most {MAX_DESCRIPTION_CHARS} characters"
        )));
    }
    Ok(())
}

/// Makes a subscription for `tenant` that receives the events recorded from now on; answers it
/// and its signing secret (the only time the secret is answered).
pub async fn create(
    store: &dyn Store,
    policy: &AddressPolicy,
    tenant: &str,
    actor: &Actor,
    new: NewSubscription,
    now: i64,
) -> Result<(Subscription, String), WebhookError> {
    check_fields(&new.url, &new.event_types, &new.description)?;
    policy.check(&new.url).await?;
    let existing = store
        .documents(tenant, KIND, DocumentRange::all(), MAX_SUBSCRIPTIONS)
        .await?;
    if existing.len() >= MAX_SUBSCRIPTIONS {
        return Err(WebhookError::Invalid(format!(
            "a tenant has at most {MAX_SUBSCRIPTIONS} webhook subscriptions"
        )));
    }
    let secret = new_secret().map_err(StoreError::Internal)?;
    let mut event_types = new.event_types;
    event_types.dedup();
    let subscription = Subscription {
        id: new_id(),
        url: new.url,
        event_types,
        filter: new.filter,
        filter_params: new.filter_params,
        description: new.description,
        state: State::Active,
        disabled_reason: None,
        secrets: vec![SigningSecret {
            secret: secret.clone(),
            created_at: now,
            expires_at: None,
        }],
        created_at: now,
        created_by: actor["id"].as_str().unwrap_or("unknown").to_owned(),
        updated_at: now,
    };
    let cursor = Cursor {
        next_seq: store.tree_size(tenant).await?,
        pending: None,
        logged: 0,
    };
    let audit = webhook_event(
        tenant,
        "webhook.created",
        actor,
        &subscription.id,
        described(&subscription),
    )?;
    let writes = vec![
        DocumentWrite::put(
            KIND,
            &subscription.id,
            Expect::Absent,
            encode(&subscription),
        ),
        DocumentWrite::put(
            CURSOR_KIND,
            &subscription.id,
            Expect::Absent,
            encode(&cursor),
        ),
    ];
    store
        .write_documents(tenant, writes, vec![audit], now)
        .await?
        .map_err(|_| StoreError::Internal("a new subscription id was taken".into()))?;
    Ok((subscription, secret))
}

/// What the trail records of a subscription: everything but its secrets.
fn described(subscription: &Subscription) -> Value {
    json!({
        "url": subscription.url,
        "event_types": subscription.event_types,
        "filter": subscription.filter_params,
        "description": subscription.description,
        "state": subscription.state,
    })
}

/// The tenant's subscription `id`, with its document's version.
async fn load(
    store: &dyn Store,
    tenant: &str,
    id: &str,
) -> Result<(Subscription, u64), WebhookError> {
    let document = store
        .document(tenant, KIND, id)
        .await?
        .ok_or(WebhookError::NotFound)?;
    Ok((decode(&document)?, document.version))
}

/// The tenant's subscription `id`.
pub async fn get(store: &dyn Store, tenant: &str, id: &str) -> Result<Subscription, WebhookError> {
    Ok(load(store, tenant, id).await?.0)
}

/// The tenant's subscriptions in id order (oldest first), after `after` when given.
pub async fn list(
    store: &dyn Store,
    tenant: &str,
    after: Option<&str>,
    limit: usize,
) -> Result<Vec<Subscription>, WebhookError> {
    let range = DocumentRange {
        start: after.map_or(Bound::Unbounded, |a| Bound::Excluded(a.to_owned())),
        end: Bound::Unbounded,
        reverse: false,
    };
    let documents = store
        .documents(tenant, KIND, range, limit.min(MAX_SUBSCRIPTIONS))
        .await?;
    documents
        .iter()
        .map(|d| decode(d).map_err(WebhookError::from))
        .collect()
}

/// Who changes which subscription, when.
struct Call<'a> {
    store: &'a dyn Store,
    tenant: &'a str,
    actor: &'a Actor,
    id: &'a str,
    now: i64,
}

/// Changes the subscription with `change` (which may refuse), recording `action` with the
/// metadata `metadata` makes of the result; tried again when a delivery wrote it meanwhile.
async fn change(
    call: Call<'_>,
    action: &str,
    mut change: impl FnMut(&mut Subscription) -> Result<(), WebhookError>,
    metadata: impl Fn(&Subscription) -> Value,
) -> Result<Subscription, WebhookError> {
    let Call {
        store,
        tenant,
        actor,
        id,
        now,
    } = call;
    for _ in 0..RETRIES {
        let (mut subscription, version) = load(store, tenant, id).await?;
        change(&mut subscription)?;
        subscription.updated_at = now;
        let audit = webhook_event(tenant, action, actor, id, metadata(&subscription))?;
        let write = DocumentWrite::put(KIND, id, Expect::Version(version), encode(&subscription));
        if store
            .write_documents(tenant, vec![write], vec![audit], now)
            .await?
            .is_ok()
        {
            return Ok(subscription);
        }
    }
    Err(StoreError::Unavailable("the subscription kept changing; try again".into()).into())
}

/// Applies `update` to subscription `id`.
pub async fn update(
    store: &dyn Store,
    policy: &AddressPolicy,
    tenant: &str,
    actor: &Actor,
    id: &str,
    update: Update,
    now: i64,
) -> Result<Subscription, WebhookError> {
    if let Some(url) = &update.url {
        check_fields(url, &[EventType::LogCreated], "")?;
        policy.check(url).await?;
    }
    if let Some(types) = &update.event_types {
        check_fields("", types, "")?;
    }
    if let Some(description) = &update.description {
        check_fields("", &[EventType::LogCreated], description)?;
    }
    change(
        Call {
            store,
            tenant,
            actor,
            id,
            now,
        },
        "webhook.updated",
        |s| {
            if let Some(url) = &update.url {
                s.url.clone_from(url);
            }
            if let Some(types) = &update.event_types {
                s.event_types.clone_from(types);
                s.event_types.dedup();
            }
            if let Some((filter, params)) = &update.filter {
                s.filter.clone_from(filter);
                s.filter_params.clone_from(params);
            }
            if let Some(description) = &update.description {
                s.description.clone_from(description);
            }
            Ok(())
        },
        described,
    )
    .await
}

/// Disables subscription `id` for `reason` (the service's doing: its endpoint answered 410,
/// or a message's every attempt failed), with the event `webhook.disabled` in the trail. A
/// subscription deleted meanwhile is left so.
pub async fn disable(
    store: &dyn Store,
    tenant: &str,
    id: &str,
    reason: &str,
    now: i64,
) -> Result<(), StoreError> {
    let actor = json!({"type": "service", "id": "trailkeep"});
    let disabled = change(
        Call {
            store,
            tenant,
            actor: &actor,
            id,
            now,
        },
        "webhook.disabled",
        |s| {
            s.state = State::Disabled;
            s.disabled_reason = Some(reason.to_owned());
            Ok(())
        },
        |_| json!({"reason": reason}),
    )
    .await;
    match disabled {
        Ok(_) | Err(WebhookError::NotFound) => Ok(()),
        Err(WebhookError::Store(error)) => Err(error),
        Err(other) => Err(StoreError::Internal(other.to_string())),
    }
}

/// Pauses subscription `id` (`paused`), or resumes a paused or disabled one: its cursor has
/// waited where it was, so nothing recorded meanwhile is lost.
pub async fn set_paused(
    store: &dyn Store,
    tenant: &str,
    actor: &Actor,
    id: &str,
    paused: bool,
    now: i64,
) -> Result<Subscription, WebhookError> {
    let action = if paused {
        "webhook.paused"
    } else {
        "webhook.resumed"
    };
    let resumed = change(
        Call {
            store,
            tenant,
            actor,
            id,
            now,
        },
        action,
        |s| {
            s.state = if paused { State::Paused } else { State::Active };
            s.disabled_reason = None;
            Ok(())
        },
        described,
    )
    .await?;
    if !paused {
        // A message that exhausted its retries is tried again from its first attempt.
        edit_cursor(store, tenant, id, now, |cursor| {
            if let Some(pending) = &mut cursor.pending {
                pending.attempts = 0;
                pending.next_attempt_at = now;
            }
        })
        .await?;
    }
    Ok(resumed)
}

/// Stops using every secret of subscription `id` but a new one after `overlap_ms` (both sign
/// meanwhile); answers the subscription and the new secret.
pub async fn rotate(
    store: &dyn Store,
    tenant: &str,
    actor: &Actor,
    id: &str,
    overlap_ms: i64,
    now: i64,
) -> Result<(Subscription, String), WebhookError> {
    if !(0..=MAX_OVERLAP_MS).contains(&overlap_ms) {
        return Err(WebhookError::Invalid(format!(
            "overlap: between 0 and {} seconds",
            MAX_OVERLAP_MS / 1000
        )));
    }
    let secret = new_secret().map_err(StoreError::Internal)?;
    let rotated = change(
        Call {
            store,
            tenant,
            actor,
            id,
            now,
        },
        "webhook.secret_rotated",
        |s| {
            let until = now + overlap_ms;
            s.secrets
                .retain(|old| old.expires_at.is_none_or(|at| at > now));
            for old in &mut s.secrets {
                old.expires_at = Some(old.expires_at.map_or(until, |at| at.min(until)));
            }
            s.secrets.push(SigningSecret {
                secret: secret.clone(),
                created_at: now,
                expires_at: None,
            });
            Ok(())
        },
        |_| json!({"overlap_seconds": overlap_ms / 1000}),
    )
    .await?;
    Ok((rotated, secret))
}

/// Deletes subscription `id`, its cursor and its delivery log.
pub async fn delete(
    store: &dyn Store,
    tenant: &str,
    actor: &Actor,
    id: &str,
    now: i64,
) -> Result<(), WebhookError> {
    let (subscription, version) = load(store, tenant, id).await?;
    let prefix = delivery_prefix(id);
    let writes = vec![
        DocumentWrite::delete(KIND, id, Expect::Version(version)),
        DocumentWrite::delete(CURSOR_KIND, id, Expect::Anything),
        DocumentWrite::DeleteRange {
            kind: DELIVERY_KIND.into(),
            from: prefix.clone(),
            to: trailkeep_store::documents::prefix_end(&prefix).unwrap_or_default(),
        },
    ];
    let audit = webhook_event(
        tenant,
        "webhook.deleted",
        actor,
        id,
        described(&subscription),
    )?;
    store
        .write_documents(tenant, writes, vec![audit], now)
        .await?
        .map_err(|_| {
            StoreError::Unavailable("the subscription changed meanwhile; try again".into())
        })?;
    Ok(())
}

/// Where a replay starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplayFrom {
    /// At this seq.
    Seq(u64),
    /// At the first event received at or after this time.
    Time(Timestamp),
}

/// Sends subscription `id`'s events again from `from` on (those it receives): its cursor moves
/// back, and a message in flight is dropped. Answers the seq it starts at.
pub async fn replay(
    store: &dyn Store,
    tenant: &str,
    actor: &Actor,
    id: &str,
    from: ReplayFrom,
    now: i64,
) -> Result<u64, WebhookError> {
    let size = store.tree_size(tenant).await?;
    let start = match from {
        ReplayFrom::Seq(seq) if seq > size => {
            return Err(WebhookError::Invalid(format!(
                "from_seq: the tenant's trail has {size} events"
            )));
        }
        ReplayFrom::Seq(seq) => seq,
        ReplayFrom::Time(at) => first_received_at(store, tenant, at, size).await?,
    };
    change(
        Call {
            store,
            tenant,
            actor,
            id,
            now,
        },
        "webhook.replayed",
        |_| Ok(()),
        |_| json!({"from_seq": start}),
    )
    .await?;
    edit_cursor(store, tenant, id, now, |cursor| {
        cursor.next_seq = start;
        cursor.pending = None;
    })
    .await?;
    Ok(start)
}

/// The first seq of the tenant whose event was received at or after `at` (`size` when none):
/// a binary search, as receipt times grow with seqs.
async fn first_received_at(
    store: &dyn Store,
    tenant: &str,
    at: Timestamp,
    size: u64,
) -> Result<u64, WebhookError> {
    let (mut low, mut high) = (0, size);
    while low < high {
        let mid = low + (high - low) / 2;
        let received = store
            .get_by_seq(tenant, mid)
            .await?
            .map(|e| e.event.received_at)
            .ok_or_else(|| StoreError::Corrupt(format!("seq {mid} is missing")))?;
        if received < at {
            low = mid + 1;
        } else {
            high = mid;
        }
    }
    Ok(low)
}

/// Rewrites subscription `id`'s cursor with `edit`, tried again when the delivery wrote it
/// meanwhile.
async fn edit_cursor(
    store: &dyn Store,
    tenant: &str,
    id: &str,
    now: i64,
    mut edit: impl FnMut(&mut Cursor),
) -> Result<(), WebhookError> {
    for _ in 0..RETRIES {
        let document = store
            .document(tenant, CURSOR_KIND, id)
            .await?
            .ok_or(WebhookError::NotFound)?;
        let mut cursor: Cursor = decode(&document)?;
        edit(&mut cursor);
        let write = DocumentWrite::put(
            CURSOR_KIND,
            id,
            Expect::Version(document.version),
            encode(&cursor),
        );
        if store
            .write_documents(tenant, vec![write], Vec::new(), now)
            .await?
            .is_ok()
        {
            return Ok(());
        }
    }
    Err(StoreError::Unavailable("the subscription kept changing; try again".into()).into())
}

/// Subscription `id`'s delivery log, newest first, before entry `before` when given.
pub async fn deliveries(
    store: &dyn Store,
    tenant: &str,
    id: &str,
    before: Option<u64>,
    limit: usize,
) -> Result<Vec<Delivery>, WebhookError> {
    load(store, tenant, id).await?;
    let prefix = delivery_prefix(id);
    let range = DocumentRange {
        start: Bound::Included(prefix.clone()),
        end: match before {
            Some(n) => Bound::Excluded(crate::subscription::delivery_id(id, n)),
            None => {
                Bound::Excluded(trailkeep_store::documents::prefix_end(&prefix).unwrap_or_default())
            }
        },
        reverse: true,
    };
    let documents = store
        .documents(
            tenant,
            DELIVERY_KIND,
            range,
            limit.min(MAX_DOCUMENTS_LISTED),
        )
        .await?;
    documents
        .iter()
        .map(|d| decode(d).map_err(WebhookError::from))
        .collect()
}
