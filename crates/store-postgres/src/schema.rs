//! The tables, their versions, and the monthly partitions of `events`.
//!
//! Every key and every query starts with the tenant, so the same schema runs on Citus with
//! `tenant` as the distribution column (`docs/scale-out.md`). The schema is created and
//! upgraded by the binary itself ([`migrate`]), one version at a time, each in its own
//! transaction, under a row lock that keeps two nodes from doing it at once.

use tokio_postgres::GenericClient;
use trailkeep_store::StoreError;

use crate::internal;

/// The schema version this build writes and reads.
pub const SCHEMA_VERSION: i32 = 2;

/// Version 1. Notes on choices:
/// - `heads` is each tenant's ledger head: the next seq (`size`) and the tree's right edge
///   (`frontier`, the perfect subtrees' hashes, largest first). Locking it is the only way to
///   append, so it is the only sequencer; nothing in it is indexed, so its updates stay HOT.
///   A tenant moved to another shard leaves its head behind with `moved_to` set: appends that
///   reach this database with an old idea of where the tenant lives are refused, and no one
///   starts a second ledger of the tenant here.
/// - `events` is partitioned by month of receipt; its primary key starts with the tenant and
///   must hold the partition key. Client ids are unique per tenant because every append of a
///   tenant checks them under the tenant's head lock; a unique index could not say so across
///   partitions.
/// - `terms` holds every searchable term of an event (full-text tokens, metadata `path=value`
///   pairs, named field values), computed by the same functions as `Filter::matches` uses, in
///   one GIN index: what a query asks and what the filter means cannot drift apart.
/// - Every text column of `events` compares bytes (`COLLATE "C"`): its indexes need equality
///   and one order, never a language's, and comparing bytes is what keeps the cost of
///   maintaining them (the `terms` GIN index above all) down.
/// - `ledger_nodes` holds perfect subtrees at levels 8, 16, 24, ...: one row per 256 events,
///   inserted once when complete, never rewritten.
const V1: &str = r#"
CREATE TABLE heads (
    tenant   text PRIMARY KEY,
    size     bigint NOT NULL,
    frontier bytea NOT NULL,
    moved_to integer
) WITH (fillfactor = 50);
CREATE TABLE signing (
    tenant       text PRIMARY KEY,
    signed_size  bigint NOT NULL,
    signed_at_ms bigint NOT NULL
) WITH (fillfactor = 50);
CREATE TABLE events (
    tenant      text COLLATE "C" NOT NULL,
    seq         bigint NOT NULL,
    received_at timestamptz NOT NULL,
    id          text COLLATE "C" NOT NULL,
    occurred_us bigint NOT NULL,
    action      text COLLATE "C" NOT NULL,
    category    text COLLATE "C" NOT NULL,
    outcome     text COLLATE "C" NOT NULL,
    actor_type  text COLLATE "C",
    actor_id    text COLLATE "C",
    target_type text COLLATE "C",
    target_id   text COLLATE "C",
    terms       bigint[] NOT NULL,
    leaf_hash   bytea NOT NULL,
    body        bytea NOT NULL,
    PRIMARY KEY (tenant, seq, received_at)
) PARTITION BY RANGE (received_at);
CREATE INDEX events_id ON events (tenant, id);
CREATE INDEX events_time ON events (tenant, occurred_us, seq);
CREATE INDEX events_actor ON events (tenant, actor_id, occurred_us, seq);
CREATE INDEX events_target ON events (tenant, target_type, target_id, occurred_us, seq);
CREATE INDEX events_action ON events (tenant, action, occurred_us, seq);
CREATE INDEX events_terms ON events USING gin (terms);
CREATE TABLE ledger_nodes (
    tenant text NOT NULL,
    level  integer NOT NULL,
    idx    bigint NOT NULL,
    hash   bytea NOT NULL,
    PRIMARY KEY (tenant, level, idx)
);
CREATE TABLE checkpoints (
    tenant     text NOT NULL,
    size       bigint NOT NULL,
    root       bytea NOT NULL,
    note       text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant, size)
);
CREATE TABLE idempotency_keys (
    tenant       text NOT NULL,
    key          text NOT NULL,
    request_hash bytea NOT NULL,
    seqs         bigint[] NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant, key)
);
CREATE TABLE api_keys (
    tenant      text NOT NULL,
    id          text NOT NULL,
    name        text NOT NULL,
    roles       text[] NOT NULL,
    secret_hash bytea NOT NULL,
    created_by  text NOT NULL,
    created_at  bigint NOT NULL,
    expires_at  bigint,
    revoked_at  bigint,
    PRIMARY KEY (tenant, id)
);
CREATE INDEX api_keys_id ON api_keys (id);
CREATE TABLE jobs (
    tenant       text NOT NULL,
    id           text COLLATE "C" NOT NULL,
    kind         text NOT NULL,
    spec         text NOT NULL,
    state        text NOT NULL,
    attempts     integer NOT NULL,
    max_attempts integer NOT NULL,
    run_after    bigint NOT NULL,
    worker       text,
    lease_until  bigint,
    progress     text NOT NULL,
    result       text,
    error        text,
    created_at   bigint NOT NULL,
    updated_at   bigint NOT NULL,
    finished_at  bigint,
    created_by   text NOT NULL,
    PRIMARY KEY (tenant, id)
) WITH (autovacuum_vacuum_scale_factor = 0.01, autovacuum_vacuum_threshold = 100);
CREATE INDEX jobs_id ON jobs (id);
CREATE INDEX jobs_by_kind ON jobs (tenant, kind, id);
CREATE INDEX jobs_queued ON jobs (run_after) WHERE state = 'queued';
CREATE INDEX jobs_leased ON jobs (lease_until) WHERE state = 'running';
"#;

/// Version 2: the background features' documents (webhook subscriptions, cursors, delivery
/// logs, rules, alerts, leases). Small rows rewritten often, so autovacuum visits early; the
/// second index finds the tenants that have documents of a kind.
const V2: &str = r#"
CREATE TABLE documents (
    tenant     text COLLATE "C" NOT NULL,
    kind       text COLLATE "C" NOT NULL,
    id         text COLLATE "C" NOT NULL,
    version    bigint NOT NULL,
    body       text NOT NULL,
    updated_at bigint NOT NULL,
    PRIMARY KEY (tenant, kind, id)
) WITH (fillfactor = 70, autovacuum_vacuum_scale_factor = 0.01,
        autovacuum_vacuum_threshold = 100);
CREATE INDEX documents_by_kind ON documents (kind, tenant);
"#;

/// Each version's statements, in order: `UPGRADES[v - 1]` takes a database from version
/// `v - 1` to `v`.
const UPGRADES: [&str; SCHEMA_VERSION as usize] = [V1, V2];

/// Creates the schema in an empty database (or schema) or upgrades it to [`SCHEMA_VERSION`];
/// refuses one written by a newer build. Safe to run from several nodes at once. Answers the
/// version before and after.
pub async fn migrate(client: &mut tokio_postgres::Client) -> Result<(i32, i32), StoreError> {
    client
        .batch_execute(
            "SET client_min_messages = warning;
             CREATE TABLE IF NOT EXISTS trailkeep_settings (
                 name  text PRIMARY KEY,
                 value text NOT NULL
             );
             INSERT INTO trailkeep_settings (name, value) VALUES ('schema_version', '0')
             ON CONFLICT (name) DO NOTHING;",
        )
        .await
        .or_else(|e| {
            // Two nodes creating the table at the same instant: one of them loses the race on
            // the catalog and finds the table there on the next statement.
            if e.code() == Some(&tokio_postgres::error::SqlState::UNIQUE_VIOLATION) {
                Ok(())
            } else {
                Err(internal(e))
            }
        })?;
    let tx = client.transaction().await.map_err(internal)?;
    let version = locked_version(&tx).await?;
    match version {
        older @ 0..SCHEMA_VERSION => {
            for upgrade in &UPGRADES[older as usize..] {
                tx.batch_execute(upgrade).await.map_err(internal)?;
            }
            set_version(&tx, SCHEMA_VERSION).await?;
        }
        SCHEMA_VERSION => {}
        newer => {
            return Err(StoreError::Unavailable(format!(
                "the database has schema version {newer}; this build reads version \
                 {SCHEMA_VERSION} (upgrade every node first)"
            )));
        }
    }
    tx.commit().await.map_err(internal)?;
    Ok((version, SCHEMA_VERSION))
}

/// The schema version, read under a row lock held until the transaction ends.
async fn locked_version(client: &impl GenericClient) -> Result<i32, StoreError> {
    let row = client
        .query_one(
            "SELECT value FROM trailkeep_settings WHERE name = 'schema_version' FOR UPDATE",
            &[],
        )
        .await
        .map_err(internal)?;
    let text: String = row.get(0);
    text.parse()
        .map_err(|_| StoreError::Corrupt(format!("schema version {text:?} is not a number")))
}

async fn set_version(client: &impl GenericClient, version: i32) -> Result<(), StoreError> {
    client
        .execute(
            "UPDATE trailkeep_settings SET value = $1 WHERE name = 'schema_version'",
            &[&version.to_string()],
        )
        .await
        .map_err(internal)?;
    Ok(())
}

/// Makes sure the database holds `vkey` as its ledger's verification key: stores it on first
/// start, and refuses a node configured with another key (it would sign the tenants' ledgers
/// under another identity).
pub async fn check_key(client: &impl GenericClient, vkey: &str) -> Result<(), StoreError> {
    client
        .execute(
            "INSERT INTO trailkeep_settings (name, value) VALUES ('vkey', $1)
             ON CONFLICT (name) DO NOTHING",
            &[&vkey],
        )
        .await
        .map_err(internal)?;
    let stored: String = client
        .query_one(
            "SELECT value FROM trailkeep_settings WHERE name = 'vkey'",
            &[],
        )
        .await
        .map_err(internal)?
        .get(0);
    if stored != vkey {
        return Err(StoreError::Unavailable(format!(
            "this node's signing key is not the one the database's ledgers are signed with \
             ({stored}); every node must be configured with the same key"
        )));
    }
    Ok(())
}
