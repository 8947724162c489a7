//! The PostgreSQL engine as either end of a move between stores (`trailkeep migrate`): its
//! rows read for another store, or another store's rows written here, with seqs, ids, bytes
//! and signed checkpoints unchanged. Nodes should not run against the database meanwhile.

use std::collections::HashMap;

use async_trait::async_trait;
use tokio_postgres::{Client, NoTls};
use trailkeep_event::{Event, Timestamp};
use trailkeep_ledger::{Frontier, Hash};
use trailkeep_store::transfer::{
    StoredIdempotencyKey, TenantRecords, TransferSink, TransferSource,
};
use trailkeep_store::{CanonicalEvent, StoreError, StoredEvent};

use crate::partitions::{Month, Partitions};
use crate::rows::COPY_EVENTS;
use crate::tree::{frontier_bytes, is_stored_level};
use crate::{append, credentials, documents, internal, jobs, rows};

/// One end of a move, on one connection.
pub struct PostgresTransfer {
    client: Client,
    /// The verification key of the database's ledgers, when it has any.
    vkey: Option<String>,
    partitions: Partitions,
    /// Each tenant's tree as written so far.
    frontiers: HashMap<String, Frontier>,
}

impl PostgresTransfer {
    /// Connects to the database at `url` and brings its schema to this build's version.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let config = crate::parse_url(url).map_err(StoreError::Unavailable)?;
        let (mut client, connection) = config
            .connect(NoTls)
            .await
            .map_err(|e| StoreError::Unavailable(format!("connect: {e}")))?;
        tokio::spawn(connection);
        crate::schema::migrate(&mut client).await?;
        let vkey = client
            .query_opt(
                "SELECT value FROM trailkeep_settings WHERE name = 'vkey'",
                &[],
            )
            .await
            .map_err(internal)?
            .map(|r| r.get(0));
        Ok(Self {
            client,
            vkey,
            partitions: Partitions::default(),
            frontiers: HashMap::new(),
        })
    }

    /// The verification key the database's ledgers are signed with, if it has any.
    pub fn stored_vkey(&self) -> Option<&str> {
        self.vkey.as_deref()
    }
}

#[async_trait]
impl TransferSource for PostgresTransfer {
    fn vkey(&self) -> String {
        self.vkey.clone().unwrap_or_default()
    }

    async fn tenants(&mut self) -> Result<Vec<String>, StoreError> {
        Ok(self
            .client
            .query(
                "SELECT tenant FROM heads WHERE moved_to IS NULL ORDER BY tenant",
                &[],
            )
            .await
            .map_err(internal)?
            .iter()
            .map(|r| r.get(0))
            .collect())
    }

    async fn events(
        &mut self,
        tenant: &str,
        from: u64,
        max: usize,
    ) -> Result<Vec<(String, CanonicalEvent)>, StoreError> {
        self.client
            .query(
                &format!(
                    "SELECT {}, id FROM events WHERE tenant = $1 AND seq >= $2 \
                     ORDER BY seq LIMIT $3",
                    rows::READ_COLUMNS
                ),
                &[&tenant, &(from as i64), &(max as i64)],
            )
            .await
            .map_err(internal)?
            .iter()
            .map(|row| Ok((row.get(4), rows::canonical(row)?)))
            .collect()
    }

    async fn records(&mut self, tenant: &str) -> Result<TenantRecords, StoreError> {
        let checkpoints = crate::signing::all(&self.client, tenant).await?;
        let idempotency_keys = self
            .client
            .query(
                "SELECT key, request_hash, seqs FROM idempotency_keys WHERE tenant = $1 \
                 ORDER BY key",
                &[&tenant],
            )
            .await
            .map_err(internal)?
            .iter()
            .map(|r| {
                Ok(StoredIdempotencyKey {
                    key: r.get(0),
                    request_hash: rows::hash(r.get(1))?,
                    seqs: r
                        .get::<_, Vec<i64>>(2)
                        .into_iter()
                        .map(|s| s as u64)
                        .collect(),
                })
            })
            .collect::<Result<_, StoreError>>()?;
        Ok(TenantRecords {
            checkpoints,
            api_keys: credentials::of_tenant(&self.client, tenant).await?,
            jobs: jobs::of_tenant(&self.client, tenant).await?,
            documents: documents::of_tenant(&self.client, tenant).await?,
            idempotency_keys,
        })
    }
}

#[async_trait]
impl TransferSink for PostgresTransfer {
    async fn is_empty(&mut self) -> Result<bool, StoreError> {
        let row = self
            .client
            .query_one("SELECT count(*) FROM heads WHERE moved_to IS NULL", &[])
            .await
            .map_err(internal)?;
        Ok(row.get::<_, i64>(0) == 0)
    }

    async fn adopt_vkey(&mut self, vkey: &str) -> Result<(), StoreError> {
        crate::schema::check_key(&self.client, vkey).await?;
        self.vkey = Some(vkey.to_owned());
        Ok(())
    }

    async fn events(
        &mut self,
        tenant: &str,
        events: &[(String, CanonicalEvent)],
    ) -> Result<(), StoreError> {
        let mut stored = Vec::with_capacity(events.len());
        for (_, event) in events {
            let parsed = Event::from_canonical(&event.canonical).map_err(|e| {
                StoreError::Corrupt(format!("event {} does not parse: {e}", event.seq))
            })?;
            stored.push(StoredEvent {
                event: parsed,
                canonical: event.canonical.clone(),
                leaf_hash: event.leaf_hash,
            });
        }
        self.partitions
            .ensure(
                &mut self.client,
                stored
                    .iter()
                    .map(|e| Month::of_micros(e.event.received_at.as_micros())),
            )
            .await?;
        let frontier = self.frontiers.entry(tenant.to_owned()).or_default();
        let mut nodes: Vec<(u32, u64, Hash)> = Vec::new();
        for event in &stored {
            frontier.push_with(event.leaf_hash, |level, index, hash| {
                if is_stored_level(level) {
                    nodes.push((level, index, *hash));
                }
            });
        }
        let (size, edge) = (frontier.size() as i64, frontier_bytes(frontier));
        let tx = self.client.transaction().await.map_err(internal)?;
        let terms = append::terms_of(&stored);
        append::write_events(&tx, COPY_EVENTS, &stored, &terms)
            .await
            .map_err(internal)?;
        append::write_nodes(&tx, append::INSERT_NODES, tenant, &nodes)
            .await
            .map_err(internal)?;
        tx.execute(
            "INSERT INTO heads (tenant, size, frontier) VALUES ($1, $2, $3) \
             ON CONFLICT (tenant) DO UPDATE SET size = $2, frontier = $3, moved_to = NULL",
            &[&tenant, &size, &edge],
        )
        .await
        .map_err(internal)?;
        tx.commit().await.map_err(internal)
    }

    async fn finish_tenant(
        &mut self,
        tenant: &str,
        records: &TenantRecords,
    ) -> Result<(), StoreError> {
        let tx = self.client.transaction().await.map_err(internal)?;
        for checkpoint in &records.checkpoints {
            tx.execute(
                "INSERT INTO checkpoints (tenant, size, root, note) VALUES ($1, $2, $3, $4)",
                &[
                    &tenant,
                    &(checkpoint.size as i64),
                    &&checkpoint.root[..],
                    &checkpoint.note,
                ],
            )
            .await
            .map_err(internal)?;
        }
        let signed = records
            .checkpoints
            .iter()
            .map(|c| c.size)
            .max()
            .unwrap_or(0) as i64;
        let now_ms = Timestamp::now().as_micros() / 1000;
        tx.execute(
            "INSERT INTO signing (tenant, signed_size, signed_at_ms) VALUES ($1, $2, $3)",
            &[&tenant, &signed, &now_ms],
        )
        .await
        .map_err(internal)?;
        for key in &records.api_keys {
            credentials::insert(&tx, key).await?;
        }
        for job in &records.jobs {
            jobs::insert_record(&tx, job).await?;
        }
        for document in &records.documents {
            documents::insert(&tx, tenant, document).await?;
        }
        for key in &records.idempotency_keys {
            let seqs: Vec<i64> = key.seqs.iter().map(|s| *s as i64).collect();
            tx.execute(
                "INSERT INTO idempotency_keys (tenant, key, request_hash, seqs) \
                 VALUES ($1, $2, $3, $4)",
                &[&tenant, &key.key, &&key.request_hash[..], &seqs],
            )
            .await
            .map_err(internal)?;
        }
        tx.commit().await.map_err(internal)
    }
}
