//! Leases that share background work out between the nodes of one store: each piece of work
//! (a partition of the tenants' webhook subscriptions, of their detection) is done by the one
//! node holding its lease, and taken over by another when that node stops renewing it (it
//! died). A lease is a service document (`lease`/`<name>`) written at the version read, so two
//! nodes never both take one; every engine gets this from [`DocumentStore`] alone.

use serde_json::{Value, json};

use crate::StoreError;
use crate::documents::{DocumentStore, DocumentWrite, Expect, SERVICE};

/// The kind of the service documents that hold leases.
pub const KIND: &str = "lease";

/// Who holds a lease, and until when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// The holding node's name.
    pub holder: String,
    /// Until when it holds (ms since the epoch).
    pub until: i64,
}

fn parse(body: &str) -> Result<Lease, StoreError> {
    let value: Value = serde_json::from_str(body)
        .map_err(|e| StoreError::Corrupt(format!("a lease is not JSON: {e}")))?;
    match (value["holder"].as_str(), value["until"].as_i64()) {
        (Some(holder), Some(until)) => Ok(Lease {
            holder: holder.to_owned(),
            until,
        }),
        _ => Err(StoreError::Corrupt(format!("a lease is malformed: {body}"))),
    }
}

/// Takes lease `name` for `holder` until `now + ttl_ms`, or renews it when `holder` has it.
/// Answers whether `holder` holds it now: `false` when another node holds a lease that has
/// not run out, or won the race for it.
pub async fn acquire(
    store: &dyn DocumentStore,
    name: &str,
    holder: &str,
    now: i64,
    ttl_ms: i64,
) -> Result<bool, StoreError> {
    let expect = match store.document(SERVICE, KIND, name).await? {
        None => Expect::Absent,
        Some(document) => {
            let lease = parse(&document.body)?;
            if lease.holder != holder && lease.until > now {
                return Ok(false);
            }
            Expect::Version(document.version)
        }
    };
    let body = json!({"holder": holder, "until": now + ttl_ms}).to_string();
    let write = DocumentWrite::put(KIND, name, expect, body);
    Ok(store
        .write_documents(SERVICE, vec![write], Vec::new(), now)
        .await?
        .is_ok())
}

/// Gives lease `name` up when `holder` has it (a node stopping), so that another node takes
/// the work over at once rather than when the lease runs out.
pub async fn release(
    store: &dyn DocumentStore,
    name: &str,
    holder: &str,
    now: i64,
) -> Result<(), StoreError> {
    if let Some(document) = store.document(SERVICE, KIND, name).await?
        && parse(&document.body)?.holder == holder
    {
        let write = DocumentWrite::delete(KIND, name, Expect::Version(document.version));
        // Lost in a race: the lease was taken over, which is what releasing is for.
        let _ = store
            .write_documents(SERVICE, vec![write], Vec::new(), now)
            .await?;
    }
    Ok(())
}

/// Which of `partitions` parts of the work `tenant` falls in: the same on every node and every
/// build (FNV-1a of the name).
pub fn partition(tenant: &str, partitions: u32) -> u32 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in tenant.as_bytes() {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    (hash % u64::from(partitions.max(1))) as u32
}
