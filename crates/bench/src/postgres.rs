//! PostgreSQL's side: what a team would build instead of Trailkeep. One audit table with the
//! same fields (`jsonb` for metadata, context and changes, a generated `tsvector` for full
//! text), the indexes the six query shapes need (the time index also covers what the monthly
//! statistics read, so they can be answered from the index alone), default durable settings, `COPY` for batches,
//! one `INSERT` per event for single writes, and `COPY ... TO STDOUT` for the export.

use std::net::IpAddr;

use anyhow::Context;
use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use time::format_description::well_known::Rfc3339;
use tokio_postgres::{Client, NoTls, Statement};

use crate::cases::{Case, PAGE, Shape};
use crate::csv::{EXPORT_COLUMNS, LOAD_COLUMNS};
use crate::workload::{Event, datetime};

/// The table's definition (`{t}` is the table name): what `docs/benchmark.md` shows.
pub const SCHEMA: &str = "\
CREATE TABLE {t} (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    seq         bigint GENERATED ALWAYS AS IDENTITY,
    tenant      text NOT NULL,
    occurred_at timestamptz NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    action      text NOT NULL,
    category    text NOT NULL,
    outcome     text NOT NULL,
    actor_type  text,
    actor_id    text,
    actor_email text,
    actor_name  text,
    target_type text,
    target_id   text,
    target_name text,
    ip          inet,
    user_agent  text,
    location    text,
    description text,
    context     jsonb,
    changes     jsonb,
    metadata    jsonb,
    search      tsvector GENERATED ALWAYS AS (
        to_tsvector('simple'::regconfig,
            action || ' ' || coalesce(description, '') || ' ' || coalesce(actor_id, '') || ' ' ||
            coalesce(actor_email, '') || ' ' || coalesce(actor_name, '') || ' ' ||
            coalesce(target_id, '') || ' ' || coalesce(target_name, ''))
        || jsonb_to_tsvector('simple'::regconfig, coalesce(metadata, '{}'), '[\"string\"]')
    ) STORED
);
CREATE INDEX {t}_time ON {t} (tenant, occurred_at, seq) INCLUDE (actor_id, category, outcome);
CREATE INDEX {t}_actor ON {t} (tenant, actor_id, occurred_at);
CREATE INDEX {t}_action ON {t} (tenant, action text_pattern_ops, occurred_at);
CREATE INDEX {t}_target ON {t} (tenant, target_type, target_id, occurred_at);
CREATE INDEX {t}_search ON {t} USING gin (search);";

/// One connection to the server, with the statements the bench reuses.
pub struct Postgres {
    client: Client,
    table: String,
    insert: Statement,
}

impl Postgres {
    /// Connects to `url` and prepares the single-row insert into `table`.
    pub async fn connect(url: &str, table: &str) -> anyhow::Result<Self> {
        let client = connect(url).await?;
        let placeholders = (1..=LOAD_COLUMNS.len())
            .map(|i| format!("${i}"))
            .collect::<Vec<_>>()
            .join(", ");
        let insert = client
            .prepare(&format!(
                "INSERT INTO {table} ({}) VALUES ({placeholders})",
                LOAD_COLUMNS.join(", ")
            ))
            .await
            .context("prepare the INSERT")?;
        Ok(Self {
            client,
            table: table.to_owned(),
            insert,
        })
    }

    /// Loads one batch of CSV rows with `COPY` in its own transaction.
    pub async fn copy(&self, rows: Bytes) -> anyhow::Result<()> {
        let sink = self
            .client
            .copy_in::<_, Bytes>(&format!(
                "COPY {} ({}) FROM STDIN (FORMAT csv)",
                self.table,
                LOAD_COLUMNS.join(", ")
            ))
            .await
            .context("start COPY")?;
        futures_util::pin_mut!(sink);
        sink.send(rows).await.context("send COPY data")?;
        sink.finish().await.context("finish COPY")?;
        Ok(())
    }

    /// Inserts one event (one statement, one commit).
    pub async fn insert(&self, event: &Event, tenant: &str) -> anyhow::Result<()> {
        let ip: IpAddr = event.ip.parse().context("a generated IP address")?;
        let context = &event.context_extra;
        self.client
            .execute(
                &self.insert,
                &[
                    &tenant,
                    &event.occurred_at(),
                    &event.action,
                    &event.category,
                    &event.outcome,
                    &event.actor_type,
                    &event.actor_id,
                    &event.actor_email,
                    &event.actor_name,
                    &event.target_type,
                    &event.target_id,
                    &event.target_name,
                    &ip,
                    &event.user_agent,
                    &event.location,
                    &event.description,
                    context,
                    &event.changes,
                    &event.metadata,
                ],
            )
            .await
            .context("INSERT one event")?;
        Ok(())
    }

    /// Answers one query; returns the rows listed (or counted, for statistics).
    pub async fn query(&self, case: &Case) -> anyhow::Result<u64> {
        let (statements, params) = sql(&self.table, case);
        let refs = params.iter().map(Param::as_sql).collect::<Vec<_>>();
        let mut answers = Vec::with_capacity(statements.len());
        for statement in &statements {
            answers.push(
                self.client
                    .query(statement, &refs)
                    .await
                    .with_context(|| format!("{} query", case.shape.key()))?,
            );
        }
        let first = &answers[0];
        Ok(if case.shape.counts() {
            // The totals' first column is the count.
            first
                .first()
                .context("stats totals: no row")?
                .get::<_, i64>(0) as u64
        } else {
            first.len() as u64
        })
    }

    /// The plan PostgreSQL chose for `case`, with actual times (`EXPLAIN ANALYZE`).
    pub async fn explain(&self, case: &Case) -> anyhow::Result<String> {
        let (statements, params) = sql(&self.table, case);
        let refs = params.iter().map(Param::as_sql).collect::<Vec<_>>();
        let mut plan = String::new();
        for statement in statements {
            let rows = self
                .client
                .query(&format!("EXPLAIN (ANALYZE, COSTS OFF) {statement}"), &refs)
                .await
                .context("EXPLAIN")?;
            for row in rows {
                plan.push_str(row.get::<_, &str>(0));
                plan.push('\n');
            }
        }
        Ok(plan)
    }

    /// Exports every event of `tenant`, oldest first, as CSV with `COPY ... TO STDOUT`; returns
    /// the rows.
    pub async fn export_csv(&self, tenant: &str, out: &mut Vec<u8>) -> anyhow::Result<u64> {
        let columns = EXPORT_COLUMNS
            .iter()
            .map(|c| match *c {
                "ip" => "host(ip)".to_owned(),
                c => c.to_owned(),
            })
            .collect::<Vec<_>>()
            .join(", ");
        let literal = tenant.replace('\'', "''");
        let stream = self
            .client
            .copy_out(&format!(
                "COPY (SELECT {columns} FROM {} WHERE tenant = '{literal}' ORDER BY occurred_at, seq) \
                 TO STDOUT (FORMAT csv, HEADER)",
                self.table
            ))
            .await
            .context("start COPY TO STDOUT")?;
        futures_util::pin_mut!(stream);
        let mut newlines = 0u64;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.context("read COPY data")?;
            newlines += chunk.iter().filter(|&&b| b == b'\n').count() as u64;
            out.extend_from_slice(&chunk);
        }
        // No generated field holds a line break, so lines are rows; one is the header.
        Ok(newlines.saturating_sub(1))
    }

    /// Refreshes the planner's statistics after a load (`VACUUM ANALYZE`).
    pub async fn analyze(&self) -> anyhow::Result<()> {
        self.execute(&format!("VACUUM ANALYZE {}", self.table))
            .await
    }

    /// Runs one statement.
    pub async fn execute(&self, sql: &str) -> anyhow::Result<()> {
        self.client
            .batch_execute(sql)
            .await
            .with_context(|| format!("run {sql}"))
    }

    /// What retention does to an event, done to every row that occurred more than `days`
    /// ago: every column but the id, times, action, category and outcome emptied; then a
    /// plain VACUUM, as autovacuum would. Answers how many rows changed.
    pub async fn retain(&self, days: u32) -> anyhow::Result<u64> {
        let changed = self
            .client
            .execute(
                &format!(
                    "UPDATE {} SET actor_type = NULL, actor_id = NULL, actor_email = NULL, \
                     actor_name = NULL, target_type = NULL, target_id = NULL, target_name = NULL, \
                     ip = NULL, user_agent = NULL, location = NULL, description = NULL, \
                     context = NULL, changes = NULL, metadata = NULL \
                     WHERE occurred_at < now() - interval '{days} days' AND actor_type IS NOT NULL",
                    self.table
                ),
                &[],
            )
            .await
            .context("empty the expired rows")?;
        self.execute(&format!("VACUUM (ANALYZE) {}", self.table))
            .await?;
        Ok(changed)
    }

    /// Rows and total bytes (table, indexes and TOAST) of the table.
    pub async fn size(&self) -> anyhow::Result<(u64, u64)> {
        let row = self
            .client
            .query_one(
                &format!(
                    "SELECT count(*), pg_total_relation_size('{}') FROM {}",
                    self.table, self.table
                ),
                &[],
            )
            .await
            .context("measure the table")?;
        Ok((row.get::<_, i64>(0) as u64, row.get::<_, i64>(1) as u64))
    }

    /// Total bytes (tables, indexes, TOAST) of every table in `schema`.
    pub async fn schema_bytes(&self, schema: &str) -> anyhow::Result<u64> {
        let row = self
            .client
            .query_one(
                "SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0)::bigint \
                 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
                 WHERE n.nspname = $1 AND c.relkind = 'r'",
                &[&schema],
            )
            .await
            .context("measure the engine's schema")?;
        Ok(row.get::<_, i64>(0) as u64)
    }

    /// The server's version string.
    pub async fn version(&self) -> anyhow::Result<String> {
        Ok(self
            .client
            .query_one("SHOW server_version", &[])
            .await
            .context("SHOW server_version")?
            .get(0))
    }

    /// The settings that decide durability and memory, as `name=value` pairs.
    pub async fn settings(&self) -> anyhow::Result<String> {
        let mut out = Vec::new();
        for name in [
            "fsync",
            "synchronous_commit",
            "full_page_writes",
            "wal_sync_method",
            "shared_buffers",
            "effective_cache_size",
            "max_wal_size",
            "work_mem",
        ] {
            let row = self
                .client
                .query_one(&format!("SHOW {name}"), &[])
                .await
                .with_context(|| format!("SHOW {name}"))?;
            out.push(format!("{name}={}", row.get::<_, &str>(0)));
        }
        Ok(out.join(", "))
    }
}

/// Connects, and drives the connection on its own task.
async fn connect(url: &str) -> anyhow::Result<Client> {
    let (client, connection) = tokio_postgres::connect(url, NoTls)
        .await
        .with_context(|| format!("connect to PostgreSQL at {url:?}"))?;
    tokio::spawn(async move {
        // An error here also fails the next statement on the client, which reports it.
        let _ = connection.await;
    });
    Ok(client)
}

/// Drops and creates the bench's table and its indexes.
pub async fn create_table(url: &str, table: &str) -> anyhow::Result<()> {
    let client = connect(url).await?;
    client
        .batch_execute(&format!("DROP TABLE IF EXISTS {table};\n{}", schema(table)))
        .await
        .context("create the PostgreSQL table")
}

/// [`SCHEMA`] for `table`.
pub fn schema(table: &str) -> String {
    SCHEMA.replace("{t}", table)
}

/// A query parameter.
enum Param {
    Text(String),
    Time(time::OffsetDateTime),
}

impl Param {
    fn as_sql(&self) -> &(dyn tokio_postgres::types::ToSql + Sync) {
        match self {
            Param::Text(s) => s,
            Param::Time(t) => t,
        }
    }
}

/// The statements of `case` (statistics take two) and their parameters.
fn sql(table: &str, case: &Case) -> (Vec<String>, Vec<Param>) {
    let mut params = vec![Param::Text(case.tenant.clone())];
    let mut conditions = vec!["tenant = $1".to_owned()];
    let mut add = |params: &mut Vec<Param>, condition: &str, value: Param| {
        params.push(value);
        conditions.push(condition.replace('?', &format!("${}", params.len())));
    };
    if let Some(since) = case.since_us {
        add(
            &mut params,
            "occurred_at >= ?",
            Param::Time(datetime(since)),
        );
    }
    if let Some(until) = case.until_us {
        add(&mut params, "occurred_at < ?", Param::Time(datetime(until)));
    }
    if let Some(actor) = &case.actor_id {
        add(&mut params, "actor_id = ?", Param::Text(actor.clone()));
    }
    if let Some(prefix) = case.action_prefix {
        // `_` is a LIKE wildcard; the prefix means it literally.
        let pattern = format!("{}.%", prefix.replace('_', "\\_"));
        add(&mut params, "action LIKE ?", Param::Text(pattern));
    }
    if let Some((kind, id)) = &case.target {
        add(
            &mut params,
            "target_type = ?",
            Param::Text((*kind).to_owned()),
        );
        add(&mut params, "target_id = ?", Param::Text(id.clone()));
    }
    if let Some(word) = case.word {
        add(
            &mut params,
            "search @@ to_tsquery('simple', ?)",
            Param::Text(word.to_owned()),
        );
    }
    let filter = conditions.join(" AND ");
    let statements = match case.shape {
        Shape::StatsMonth => vec![
            format!(
                "SELECT count(*), count(DISTINCT actor_id), \
                 count(*) FILTER (WHERE category = 'login' AND outcome = 'failure') \
                 FROM {table} WHERE {filter}"
            ),
            format!(
                "SELECT action, count(*) FROM {table} WHERE {filter} GROUP BY action ORDER BY count(*) DESC"
            ),
        ],
        Shape::HistogramWeek => vec![
            format!("SELECT count(*) FROM {table} WHERE {filter}"),
            format!(
                "SELECT date_trunc('hour', occurred_at) AS hour, count(*) FROM {table} \
                 WHERE {filter} GROUP BY hour"
            ),
        ],
        Shape::EntityHistory => vec![format!(
            "SELECT * FROM {table} WHERE {filter} ORDER BY occurred_at, seq LIMIT {PAGE}"
        )],
        _ => vec![format!(
            "SELECT * FROM {table} WHERE {filter} ORDER BY occurred_at DESC, seq DESC LIMIT {PAGE}"
        )],
    };
    (statements, params)
}

/// The SQL of a case as it appears in the report, with its parameters written in.
pub fn shown_sql(table: &str, case: &Case) -> String {
    let (statements, params) = sql(table, case);
    let mut sql = statements.join(";\n");
    for (i, param) in params.iter().enumerate().rev() {
        let literal = match param {
            Param::Text(s) => format!("'{}'", s.replace('\'', "''")),
            Param::Time(t) => format!("'{}'", t.format(&Rfc3339).unwrap_or_else(|_| t.to_string())),
        };
        sql = sql.replace(&format!("${}", i + 1), &literal);
    }
    sql
}
