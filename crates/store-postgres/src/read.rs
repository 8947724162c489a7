//! Reads, all answered by PostgreSQL itself: single events, scans in seq order, listings with
//! their cursors and totals, and statistics. A node keeps nothing a fresh node would lack.

use std::collections::{BTreeMap, BTreeSet};

use tokio_postgres::GenericClient;
use trailkeep_event::{Cursor, Filter, Order, Query};
use trailkeep_store::{
    CanonicalEvent, GroupBy, IdempotencyKey, MAX_GROUP_VALUES, Page, Stats, StoreError, StoredEvent,
};

use crate::internal;
use crate::rows::{self, READ_COLUMNS};
use crate::sql::Where;

/// The tenant's event with this id.
pub async fn by_id(
    client: &impl GenericClient,
    tenant: &str,
    id: &str,
) -> Result<Option<StoredEvent>, StoreError> {
    client
        .query_opt(
            &format!("SELECT {READ_COLUMNS} FROM events WHERE tenant = $1 AND id = $2 LIMIT 1"),
            &[&tenant, &id],
        )
        .await
        .map_err(internal)?
        .as_ref()
        .map(rows::stored)
        .transpose()
}

/// The tenant's event with this seq.
pub async fn by_seq(
    client: &impl GenericClient,
    tenant: &str,
    seq: u64,
) -> Result<Option<StoredEvent>, StoreError> {
    client
        .query_opt(
            &format!("SELECT {READ_COLUMNS} FROM events WHERE tenant = $1 AND seq = $2"),
            &[&tenant, &(seq as i64)],
        )
        .await
        .map_err(internal)?
        .as_ref()
        .map(rows::stored)
        .transpose()
}

/// Up to `max` of the tenant's events from seq `from` on, in seq order.
pub async fn scan(
    client: &impl GenericClient,
    tenant: &str,
    from: u64,
    max: usize,
) -> Result<Vec<tokio_postgres::Row>, StoreError> {
    client
        .query(
            &format!(
                "SELECT {READ_COLUMNS} FROM events WHERE tenant = $1 AND seq >= $2 \
                 ORDER BY seq LIMIT $3"
            ),
            &[
                &tenant,
                &(from as i64),
                &(max.min(i64::MAX as usize) as i64),
            ],
        )
        .await
        .map_err(internal)
}

/// The seqs an earlier append with this idempotency key answered, when it was used with the
/// same request hash; [`StoreError::IdempotencyConflict`] when with another.
pub async fn previous_use(
    client: &impl GenericClient,
    tenant: &str,
    key: &IdempotencyKey,
) -> Result<Option<Vec<i64>>, StoreError> {
    let Some(row) = client
        .query_opt(
            "SELECT request_hash, seqs FROM idempotency_keys WHERE tenant = $1 AND key = $2",
            &[&tenant, &key.key],
        )
        .await
        .map_err(internal)?
    else {
        return Ok(None);
    };
    if rows::hash(row.get(0))? != key.request_hash {
        return Err(StoreError::IdempotencyConflict);
    }
    Ok(Some(row.get(1)))
}

/// One page of the tenant's events matching `query`, as stored bytes.
pub async fn page(
    client: &impl GenericClient,
    tenant: &str,
    query: &Query,
) -> Result<Page<CanonicalEvent>, StoreError> {
    let limit = query.limit.max(1) as usize;
    let mut sql = Where::tenant(tenant);
    sql.filter(&query.filter);
    let direction = match query.order {
        Order::Asc => "ASC",
        Order::Desc => "DESC",
    };
    if let Some(after) = query.after {
        let occurred = sql.param(after.occurred_at);
        let seq = sql.param(after.seq as i64);
        let beyond = match query.order {
            Order::Asc => ">",
            Order::Desc => "<",
        };
        sql.and(&format!("(occurred_us, seq) {beyond} ({occurred}, {seq})"));
    }
    let take = sql.param((limit + 1) as i64);
    let skip = sql.param(query.offset.min(i64::MAX as u64) as i64);
    let statement = format!(
        "SELECT {READ_COLUMNS} FROM events WHERE {} \
         ORDER BY occurred_us {direction}, seq {direction} LIMIT {take} OFFSET {skip}",
        sql.clause
    );
    let found = client
        .query(&statement, &sql.values())
        .await
        .map_err(internal)?;
    let mut events = found
        .iter()
        .map(rows::canonical)
        .collect::<Result<Vec<_>, _>>()?;
    let next = if events.len() > limit {
        events.truncate(limit);
        events.last().map(|e| Cursor {
            occurred_at: e.occurred_at.as_micros(),
            seq: e.seq,
        })
    } else {
        None
    };
    let total = if query.count_total {
        Some(count(client, tenant, &query.filter).await?)
    } else {
        None
    };
    Ok(Page {
        events,
        next,
        total,
    })
}

/// How many of the tenant's events match `filter`.
async fn count(
    client: &impl GenericClient,
    tenant: &str,
    filter: &Filter,
) -> Result<u64, StoreError> {
    let mut sql = Where::tenant(tenant);
    sql.filter(filter);
    let row = client
        .query_one(
            &format!("SELECT count(*) FROM events WHERE {}", sql.clause),
            &sql.values(),
        )
        .await
        .map_err(internal)?;
    Ok(row.get::<_, i64>(0) as u64)
}

/// The column a statistics dimension groups by; `None` for the time dimensions, computed.
fn column(group: GroupBy) -> Option<&'static str> {
    match group {
        GroupBy::Action => Some("action"),
        GroupBy::Category => Some("category"),
        GroupBy::TargetType => Some("target_type"),
        GroupBy::Outcome => Some("outcome"),
        GroupBy::Actor => Some("actor_id"),
        GroupBy::Day | GroupBy::Hour | GroupBy::Minute => None,
    }
}

/// The bucket number (buckets of `width` microseconds since the epoch, rounded down) of
/// `occurred_us`, as [`GroupBy::bucket_of`] computes it: buckets sort as their instants do,
/// and are named here.
fn bucket_number(width: i64) -> String {
    format!("(occurred_us - (((occurred_us % {width}) + {width}) % {width})) / {width}")
}

/// Counts over the tenant's events matching `filter`, grouped by each of `group_by`.
pub async fn stats(
    client: &impl GenericClient,
    tenant: &str,
    filter: &Filter,
    group_by: &[GroupBy],
) -> Result<Stats, StoreError> {
    let mut sql = Where::tenant(tenant);
    sql.filter(filter);
    let values = sql.values();
    let totals = client
        .query_one(
            &format!(
                "SELECT count(*), count(DISTINCT actor_id), \
                 count(*) FILTER (WHERE category = 'login' AND outcome = 'failure') \
                 FROM events WHERE {}",
                sql.clause
            ),
            &values,
        )
        .await
        .map_err(internal)?;
    let mut groups = BTreeMap::new();
    let mut truncated = BTreeSet::new();
    for &group in group_by {
        let mut rows = if let Some(expression) = column(group) {
            client
                .query(
                    &format!(
                        "SELECT {expression} AS v, count(*) AS n FROM events \
                         WHERE {} AND {expression} IS NOT NULL \
                         GROUP BY {expression} ORDER BY n DESC, {expression} COLLATE \"C\" \
                         LIMIT {}",
                        sql.clause,
                        MAX_GROUP_VALUES + 1
                    ),
                    &values,
                )
                .await
                .map_err(internal)?
                .iter()
                .map(|r| (r.get::<_, String>(0), r.get::<_, i64>(1) as u64))
                .collect::<Vec<_>>()
        } else {
            let width = group.bucket_micros().unwrap_or(1);
            client
                .query(
                    &format!(
                        "SELECT {} AS v, count(*) AS n FROM events WHERE {} \
                         GROUP BY v ORDER BY n DESC, v LIMIT {}",
                        bucket_number(width),
                        sql.clause,
                        MAX_GROUP_VALUES + 1
                    ),
                    &values,
                )
                .await
                .map_err(internal)?
                .iter()
                .map(|r| {
                    (
                        group.bucket_name(r.get::<_, i64>(0)),
                        r.get::<_, i64>(1) as u64,
                    )
                })
                .collect::<Vec<_>>()
        };
        if rows.len() > MAX_GROUP_VALUES {
            rows.truncate(MAX_GROUP_VALUES);
            truncated.insert(group);
        }
        groups.insert(group, rows);
    }
    Ok(Stats {
        total: totals.get::<_, i64>(0) as u64,
        unique_actors: totals.get::<_, i64>(1) as u64,
        failed_logins: totals.get::<_, i64>(2) as u64,
        groups,
        truncated,
    })
}
