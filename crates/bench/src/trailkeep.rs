//! Trailkeep's side: the release binary started on a fresh data directory (or, with the
//! PostgreSQL engine, as one or more nodes on a fresh schema), driven over HTTP like any client
//! would drive it, stopped, killed, restarted and verified.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use bytes::Bytes;
use serde_json::Value;

use crate::cases::{Case, PAGE, Shape};
use crate::memory::{self, AnonPeak};
use crate::workload::rfc3339;

/// The HS256 secret the bench gives the server, so that it can mint tokens for every tenant.
const SECRET: &str = "trailkeep-bench-secret-0123456789abcdef";
/// How long start-up (or recovery) may take before the bench gives up.
const START_TIMEOUT: Duration = Duration::from_secs(600);

/// The part of an ingest answer the bench reads: one entry per stored event.
#[derive(serde::Deserialize)]
struct Acknowledged {
    data: Vec<serde::de::IgnoredAny>,
}

/// One export job, as the bench saw it.
pub struct Exported {
    /// Events the job wrote.
    pub events: u64,
    /// Bytes of the downloaded file.
    pub bytes: u64,
    /// Line breaks in it.
    pub lines: u64,
    /// From the request to the job's finish, by the job's own timestamps.
    pub on_server: Duration,
    /// From the request to the last byte of the download.
    pub took: Duration,
}

/// One compliance report, as the bench saw it.
pub struct Reported {
    /// The events of the report's period.
    pub period_events: u64,
    /// Bytes of the downloaded PDF.
    pub bytes: u64,
    /// From the request to the job's finish, by the job's own timestamps.
    pub on_server: Duration,
    /// From the request to the last byte of the download.
    pub took: Duration,
    /// The server's anonymous memory just before the request.
    pub anon_before: u64,
    /// Its highest sample while the report was made and downloaded.
    pub anon_peak: u64,
}

/// How long a finished export job ran: `finished_at - created_at`.
fn job_millis(info: &Value) -> anyhow::Result<Duration> {
    let at = |field: &str| -> anyhow::Result<time::OffsetDateTime> {
        let text = info[field]
            .as_str()
            .with_context(|| format!("the export has no {field}"))?;
        time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
            .with_context(|| format!("the export's {field} {text:?} is not RFC 3339"))
    };
    let ran = at("finished_at")? - at("created_at")?;
    Ok(Duration::try_from(ran).unwrap_or_default())
}

/// A running `trailkeep serve` and a client for it.
pub struct Trailkeep {
    binary: PathBuf,
    data_dir: PathBuf,
    /// The PostgreSQL engine's database, when Trailkeep runs on it.
    store: Option<StoreAt>,
    /// The first node's address: every phase but ingest asks it.
    base: String,
    port: u16,
    child: Child,
    /// The other nodes (PostgreSQL engine only): ingest is spread over all of them, each
    /// tenant's to one node.
    others: Vec<(String, Child)>,
    http: reqwest::Client,
    /// A bearer token per tenant, in the workload's tenant order.
    tokens: Vec<String>,
    /// The first server process's anonymous memory, sampled.
    anon: AnonPeak,
    /// With `--alerting`, the endpoint every tenant's subscription posts to.
    receiver: Option<crate::alerting::Receiver>,
    /// Whether detection runs (restarts keep it so).
    alerting: bool,
}

impl Trailkeep {
    /// Starts `binary serve` on `data_dir` at `127.0.0.1:port` (on the PostgreSQL engine in
    /// `store` when given, as `nodes` nodes on free ports from `port` on) and waits until it is
    /// ready; mints a token for each of `tenants`.
    pub async fn start(
        binary: &Path,
        data_dir: &Path,
        port: u16,
        tenants: &[String],
        store: Option<StoreAt>,
        nodes: usize,
        alerting: bool,
    ) -> anyhow::Result<Self> {
        let child = spawn(binary, data_dir, port, store.as_ref(), alerting)?;
        let anon = AnonPeak::watch(child.id());
        let tokens = tenants
            .iter()
            .map(|tenant| mint(binary, data_dir, tenant))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(128)
            .timeout(Duration::from_secs(300))
            .build()
            .context("build the HTTP client")?;
        let mut server = Self {
            binary: binary.to_owned(),
            data_dir: data_dir.to_owned(),
            store: store.clone(),
            base: format!("http://127.0.0.1:{port}"),
            port,
            child,
            others: Vec::new(),
            http,
            tokens,
            anon,
            receiver: None,
            alerting,
        };
        server.wait_ready().await?;
        // The first node made the shared signing key; the others start with it.
        for node in 1..nodes {
            let port = free_port()?;
            let dir = data_dir.join(format!("node-{node}"));
            std::fs::create_dir_all(&dir).with_context(|| format!("create {}", dir.display()))?;
            let child = spawn(binary, &dir, port, store.as_ref(), alerting)?;
            server
                .others
                .push((format!("http://127.0.0.1:{port}"), child));
        }
        for (base, child) in &mut server.others {
            wait_for(&server.http, base, || match child.try_wait() {
                Ok(Some(status)) => bail!("a node exited with {status} before it was ready"),
                _ => Ok(()),
            })
            .await?;
        }
        if alerting {
            server.subscribe_every_tenant(tenants).await?;
        }
        Ok(server)
    }

    /// Subscribes a receiver in this process to every event of every tenant.
    async fn subscribe_every_tenant(&mut self, tenants: &[String]) -> anyhow::Result<()> {
        let receiver = crate::alerting::Receiver::start().await?;
        for tenant in tenants {
            let token = mint_with(&self.binary, &self.data_dir, tenant, "audit:admin")?;
            let answer = self
                .http
                .post(format!("{}/v1/webhooks", self.base))
                .bearer_auth(token)
                .json(&serde_json::json!({
                    "url": receiver.url,
                    "event_types": ["audit.log.created"],
                    "description": "trailkeep-bench --alerting",
                }))
                .send()
                .await
                .context("subscribe a tenant")?;
            if !answer.status().is_success() {
                bail!(
                    "subscribing {tenant} failed: {} {}",
                    answer.status(),
                    answer.text().await.unwrap_or_default()
                );
            }
        }
        self.receiver = Some(receiver);
        Ok(())
    }

    /// With `--alerting`, the receiver of every tenant's events.
    pub fn receiver(&self) -> Option<&crate::alerting::Receiver> {
        self.receiver.as_ref()
    }

    /// Where an ingest request of `tenant` goes: every tenant's to one node, as a load
    /// balancer routing by tenant sends them, so that a node's expectation of a tenant's
    /// ledger head holds and its appends are sequenced ahead of their transactions
    /// (`docs/scale-out.md`).
    fn ingest_base(&self, tenant: usize) -> &str {
        match tenant % (1 + self.others.len()) {
            0 => &self.base,
            n => &self.others[n - 1].0,
        }
    }

    /// Polls the first node's `/readyz` until it answers 200.
    async fn wait_ready(&mut self) -> anyhow::Result<()> {
        let child = &mut self.child;
        wait_for(&self.http, &self.base, || {
            match child.try_wait().context("poll the server")? {
                Some(status) => bail!("trailkeep serve exited with {status} before it was ready"),
                None => Ok(()),
            }
        })
        .await
    }

    /// Posts one NDJSON batch for tenant `tenant` (an index into the token list); fails unless
    /// all `count` events were acknowledged.
    pub async fn ingest(&self, tenant: usize, body: Bytes, count: usize) -> anyhow::Result<()> {
        self.post_events(tenant, body, count, "application/x-ndjson")
            .await
    }

    /// Posts one event (a JSON object) for tenant `tenant`.
    pub async fn ingest_one(&self, tenant: usize, body: Bytes) -> anyhow::Result<()> {
        self.post_events(tenant, body, 1, "application/json").await
    }

    async fn post_events(
        &self,
        tenant: usize,
        body: Bytes,
        count: usize,
        content_type: &str,
    ) -> anyhow::Result<()> {
        let response = self
            .http
            .post(format!("{}/v1/events", self.ingest_base(tenant)))
            .bearer_auth(&self.tokens[tenant])
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .context("POST /v1/events")?;
        let status = response.status();
        let answer = response.bytes().await.context("read the ingest answer")?;
        if status != reqwest::StatusCode::CREATED {
            bail!(
                "POST /v1/events answered {status}: {}",
                String::from_utf8_lossy(&answer[..answer.len().min(500)])
            );
        }
        // Only the count is checked: parsing every receipt would make the bench, which shares
        // the machine, a heavier client than the server it measures.
        let stored = serde_json::from_slice::<Acknowledged>(&answer)
            .ok()
            .map(|a| a.data.len());
        if stored != Some(count) {
            bail!("POST /v1/events acknowledged {stored:?} of {count} events");
        }
        Ok(())
    }

    /// Waits until the query index covers every acknowledged event; returns how long it took.
    pub async fn wait_indexed(&self) -> anyhow::Result<Duration> {
        let started = Instant::now();
        loop {
            let lag = self.index_lag().await?;
            if lag == 0 {
                return Ok(started.elapsed());
            }
            if started.elapsed() > START_TIMEOUT {
                bail!("the index still lags {lag} events after {START_TIMEOUT:?}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Events committed but not yet in the query index (`trailkeep_index_lag_events`).
    pub async fn index_lag(&self) -> anyhow::Result<u64> {
        let metrics = self
            .http
            .get(format!("{}/metrics", self.base))
            .send()
            .await
            .context("GET /metrics")?
            .text()
            .await
            .context("read /metrics")?;
        metrics
            .lines()
            .find_map(|l| l.strip_prefix("trailkeep_index_lag_events "))
            .and_then(|v| v.trim().parse::<f64>().ok())
            .map(|lag| lag as u64)
            .context("/metrics has no trailkeep_index_lag_events")
    }

    /// Answers one query; returns the number of events listed (or counted, for statistics).
    pub async fn query(&self, tenant: usize, case: &Case) -> anyhow::Result<u64> {
        let mut params: Vec<(&str, String)> = Vec::new();
        if let Some(since) = case.since_us {
            params.push(("since", rfc3339(since)));
        }
        if let Some(until) = case.until_us {
            params.push(("until", rfc3339(until)));
        }
        let path = match case.shape {
            Shape::EntityHistory => {
                let (kind, id) = case.target.as_ref().context("history without a target")?;
                format!("/v1/entities/{kind}/{id}/history")
            }
            Shape::StatsMonth => {
                params.push(("group_by", "action".into()));
                "/v1/stats".into()
            }
            Shape::HistogramWeek => {
                params.push(("group_by", "hour".into()));
                "/v1/stats".into()
            }
            _ => "/v1/events".into(),
        };
        if !case.shape.counts() {
            params.push(("limit", PAGE.to_string()));
        }
        if let Some(actor) = &case.actor_id {
            params.push(("actor_id", actor.clone()));
        }
        if let Some(prefix) = case.action_prefix {
            params.push(("action", format!("{prefix}.*")));
        }
        if let Some(word) = case.word {
            params.push(("q", word.to_owned()));
        }
        let body = self.get_json(&path, &params, tenant).await?;
        let hits = if case.shape.counts() {
            body["total"].as_u64()
        } else {
            body["data"].as_array().map(|a| a.len() as u64)
        };
        hits.with_context(|| format!("GET {path} answered no count"))
    }

    /// Exports every event of `tenant` the way a user does: `POST /v1/exports` with `format`
    /// (and CSV `columns`), polling the job until it succeeds, then streaming its file down.
    /// Returns the events the job wrote, the file's bytes and lines, and how long the job ran
    /// on the server (request to finish, by the job's own clock) and the whole took.
    pub async fn export(
        &self,
        tenant: usize,
        format: &str,
        columns: Option<&[&str]>,
    ) -> anyhow::Result<Exported> {
        let started = Instant::now();
        let mut request =
            serde_json::json!({"format": format, "destination": {"type": "download"}});
        if let Some(columns) = columns {
            request["columns"] = serde_json::json!(columns);
        }
        let (status_url, finished) = self.finished_job(tenant, "/v1/exports", &request).await?;
        let on_server = job_millis(&finished)?;
        let mut response = self.job_file(tenant, &status_url).await?;
        let (mut bytes, mut lines) = (0u64, 0u64);
        while let Some(chunk) = response.chunk().await.context("read the export's file")? {
            bytes += chunk.len() as u64;
            lines += chunk.iter().filter(|&&b| b == b'\n').count() as u64;
        }
        Ok(Exported {
            events: finished["events_written"]
                .as_u64()
                .context("the export has no events_written")?,
            bytes,
            lines,
            on_server,
            took: started.elapsed(),
        })
    }

    /// Asks for a `COMPLIANCE_SUMMARY` PDF of `tenant` over `from`..=`to` (dates), polls it
    /// until it succeeds and downloads it, sampling the server's memory all the while.
    pub async fn report(&self, tenant: usize, from: &str, to: &str) -> anyhow::Result<Reported> {
        let pid = self.child.id();
        let anon_before = memory::status_bytes(pid, "RssAnon:")?;
        let watch = AnonPeak::watch(pid);
        let started = Instant::now();
        let request = serde_json::json!({
            "type": "COMPLIANCE_SUMMARY",
            "period": {"from": from, "to": to},
            "format": "pdf",
        });
        let (status_url, finished) = self.finished_job(tenant, "/v1/reports", &request).await?;
        if finished["verified"] != true {
            bail!("the report says its events did not verify: {finished}");
        }
        let on_server = job_millis(&finished)?;
        let response = self.job_file(tenant, &status_url).await?;
        let pdf = response.bytes().await.context("read the report's file")?;
        if !pdf.starts_with(b"%PDF-") {
            bail!("the report's file is not a PDF");
        }
        Ok(Reported {
            period_events: finished["period_events"]
                .as_u64()
                .context("the report has no period_events")?,
            bytes: pdf.len() as u64,
            on_server,
            took: started.elapsed(),
            anon_before,
            anon_peak: watch.peak(),
        })
    }

    /// POSTs `request` to a job route (`/v1/exports`, `/v1/reports`) for `tenant` and polls the
    /// job until it succeeds; answers its status URL and its last status.
    async fn finished_job(
        &self,
        tenant: usize,
        route: &str,
        request: &Value,
    ) -> anyhow::Result<(String, Value)> {
        let started = Instant::now();
        let response = self
            .http
            .post(format!("{}{route}", self.base))
            .bearer_auth(&self.tokens[tenant])
            .json(request)
            .send()
            .await
            .with_context(|| format!("POST {route}"))?;
        let status = response.status();
        let body = response.bytes().await.context("read the job's answer")?;
        if status != reqwest::StatusCode::ACCEPTED {
            bail!(
                "POST {route} answered {status}: {}",
                String::from_utf8_lossy(&body[..body.len().min(500)])
            );
        }
        let queued: Value =
            serde_json::from_slice(&body).with_context(|| format!("POST {route}: not JSON"))?;
        let status_url = queued["status_url"]
            .as_str()
            .with_context(|| format!("POST {route} answered no status_url"))?
            .to_owned();
        loop {
            let info = self.get_json(&status_url, &[], tenant).await?;
            match info["state"].as_str() {
                Some("succeeded") => return Ok((status_url, info)),
                Some("queued" | "running") => {}
                other => bail!("{status_url} ended {other:?}: {}", info["error"]),
            }
            if started.elapsed() > START_TIMEOUT {
                bail!("{status_url} had not finished after {START_TIMEOUT:?}");
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Sets every tenant's retention to `days` and runs retention over each, one after the
    /// other; answers how long the runs took in all and how many events they removed.
    pub async fn retain(&self, tenants: &[String], days: u32) -> anyhow::Result<Retained> {
        let admins = tenants
            .iter()
            .map(|t| mint_with(&self.binary, &self.data_dir, t, "audit:admin"))
            .collect::<anyhow::Result<Vec<_>>>()?;
        for admin in &admins {
            let answer = self
                .http
                .put(format!("{}/v1/retention", self.base))
                .bearer_auth(admin)
                .json(&serde_json::json!({"default_days": days}))
                .send()
                .await
                .context("PUT /v1/retention")?;
            if !answer.status().is_success() {
                bail!("PUT /v1/retention answered {}", answer.status());
            }
        }
        let started = Instant::now();
        let mut removed = 0;
        for admin in &admins {
            let answer = self
                .http
                .post(format!("{}/v1/retention/runs", self.base))
                .bearer_auth(admin)
                .send()
                .await
                .context("POST /v1/retention/runs")?;
            let queued: Value = answer.json().await.context("read the run")?;
            let status_url = queued["status_url"]
                .as_str()
                .with_context(|| format!("the run answered no status_url: {queued}"))?
                .to_owned();
            loop {
                let run: Value = self
                    .http
                    .get(format!("{}{status_url}", self.base))
                    .bearer_auth(admin)
                    .send()
                    .await
                    .context("GET the run")?
                    .json()
                    .await
                    .context("read the run")?;
                match run["state"].as_str() {
                    Some("succeeded") => {
                        removed += run["result"]["removed"].as_u64().unwrap_or(0);
                        break;
                    }
                    Some("queued" | "running") => {}
                    other => bail!("{status_url} ended {other:?}: {}", run["error"]),
                }
                if started.elapsed() > Duration::from_secs(3600) {
                    bail!("{status_url} had not finished after an hour");
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        Ok(Retained {
            took: started.elapsed(),
            removed,
        })
    }

    /// The answer of `GET <status_url>/file` for `tenant`, once it is a success.
    async fn job_file(&self, tenant: usize, status_url: &str) -> anyhow::Result<reqwest::Response> {
        let response = self
            .http
            .get(format!("{}{status_url}/file", self.base))
            .bearer_auth(&self.tokens[tenant])
            .send()
            .await
            .with_context(|| format!("GET {status_url}/file"))?;
        if !response.status().is_success() {
            bail!("GET {status_url}/file answered {}", response.status());
        }
        Ok(response)
    }

    async fn get_json(
        &self,
        path: &str,
        params: &[(&str, String)],
        tenant: usize,
    ) -> anyhow::Result<Value> {
        let response = self
            .http
            .get(format!("{}{path}", self.base))
            .query(params)
            .bearer_auth(&self.tokens[tenant])
            .send()
            .await
            .with_context(|| format!("GET {path}"))?;
        let status = response.status();
        let body = response.bytes().await.context("read the answer")?;
        if !status.is_success() {
            bail!(
                "GET {path} answered {status}: {}",
                String::from_utf8_lossy(&body[..body.len().min(500)])
            );
        }
        serde_json::from_slice(&body).with_context(|| format!("GET {path}: not JSON"))
    }

    /// The PostgreSQL engine's database, when Trailkeep runs on it.
    pub fn store(&self) -> Option<&StoreAt> {
        self.store.as_ref()
    }

    /// The server's peak resident memory so far (VmHWM), in bytes.
    pub fn peak_rss(&self) -> anyhow::Result<u64> {
        memory::status_bytes(self.child.id(), "VmHWM:")
    }

    /// The server's peak anonymous memory so far (sampled `RssAnon`), in bytes.
    pub fn peak_anon(&self) -> u64 {
        self.anon.peak()
    }

    /// `kill -9`s the server, starts it again on the same data, and returns the time from the
    /// kill to the first 200 from `/readyz`.
    pub async fn crash_and_recover(&mut self) -> anyhow::Result<Duration> {
        let killed = Instant::now();
        self.child.kill().context("kill -9 the server")?;
        self.child.wait().context("reap the killed server")?;
        self.child = spawn(
            &self.binary,
            &self.data_dir,
            self.port,
            self.store.as_ref(),
            self.alerting,
        )?;
        self.wait_ready().await?;
        Ok(killed.elapsed())
    }

    /// Stops every node with SIGTERM (drain, final checkpoints) and waits for them.
    pub fn stop(&mut self) -> anyhow::Result<()> {
        for (_, child) in &mut self.others {
            terminate(child)?;
        }
        terminate(&mut self.child)
    }
}

impl Drop for Trailkeep {
    fn drop(&mut self) {
        for child in
            std::iter::once(&mut self.child).chain(self.others.iter_mut().map(|o| &mut o.1))
        {
            if let Ok(None) = child.try_wait() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
}

/// Polls `base`'s `/readyz` until it answers 200, while `alive` says the process may still
/// answer.
async fn wait_for(
    http: &reqwest::Client,
    base: &str,
    mut alive: impl FnMut() -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let started = Instant::now();
    loop {
        alive()?;
        let ready = http
            .get(format!("{base}/readyz"))
            .timeout(Duration::from_secs(1))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success());
        if ready {
            return Ok(());
        }
        if started.elapsed() > START_TIMEOUT {
            bail!("trailkeep at {base} was not ready after {START_TIMEOUT:?}");
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Runs `binary verify` over the whole data directory, or the PostgreSQL engine's `store`
/// (servers stopped); returns its time.
pub fn verify(binary: &Path, data_dir: &Path, store: Option<&StoreAt>) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let mut command = Command::new(binary);
    command.args(["verify", "--quiet"]);
    match store {
        Some(store) => command.arg("--store").arg(&store.url),
        None => command.arg("--data-dir").arg(data_dir),
    };
    let output = command.output().context("run trailkeep verify")?;
    let took = started.elapsed();
    if !output.status.success() {
        bail!(
            "trailkeep verify failed ({}): {}{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(took)
}

/// The PostgreSQL engine's database, and the signing key file every node shares.
#[derive(Debug, Clone)]
pub struct StoreAt {
    /// The connection string.
    pub url: String,
    /// The key file (made by the first node).
    pub key: PathBuf,
    /// Connections each node keeps: the nodes and the bench's own writers share the server's
    /// `max_connections`.
    pub pool_size: usize,
    /// The files directory (exports, reports) every node shares.
    pub files: PathBuf,
}

fn spawn(
    binary: &Path,
    data_dir: &Path,
    port: u16,
    store: Option<&StoreAt>,
    alerting: bool,
) -> anyhow::Result<Child> {
    let mut command = Command::new(binary);
    command.envs(crate::alerting::server_env(alerting));
    command
        .arg("serve")
        .arg("--data-dir")
        .arg(data_dir)
        .arg("--listen")
        .arg(format!("127.0.0.1:{port}"));
    if let Some(store) = store {
        // Nodes share one files directory, as docs/scale-out.md asks: a job's file is written
        // by whichever node runs it and downloaded through any node.
        command
            .env("TRAILKEEP_EXPORTS__DIR", &store.files)
            .arg("--store")
            .arg(&store.url)
            .env("TRAILKEEP_STORE__SIGNING_KEY", &store.key)
            .env("TRAILKEEP_STORE__POOL_SIZE", store.pool_size.to_string());
    }
    command
        .env("TRAILKEEP_JWT_SECRET", SECRET)
        // Client credentials are not what is measured: no per-credential rate limit.
        .env("TRAILKEEP_LIMITS__RATE_PER_SECOND", "0")
        .env("TRAILKEEP_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .with_context(|| format!("start {} serve", binary.display()))
}

fn mint(binary: &Path, data_dir: &Path, tenant: &str) -> anyhow::Result<String> {
    mint_with(
        binary,
        data_dir,
        tenant,
        "audit:read audit:write audit:export",
    )
}

/// What a retention pass over every tenant did.
pub struct Retained {
    /// From the first run's request to the last run's end.
    pub took: Duration,
    /// Events that became tombstones.
    pub removed: u64,
}

/// A day's token for `tenant` with `scope`.
fn mint_with(binary: &Path, data_dir: &Path, tenant: &str, scope: &str) -> anyhow::Result<String> {
    let output = Command::new(binary)
        .args(["token", "--ttl", "86400", "--tenant", tenant])
        .args(["--scope", scope, "--data-dir"])
        .arg(data_dir)
        .env("TRAILKEEP_JWT_SECRET", SECRET)
        .output()
        .context("run trailkeep token")?;
    if !output.status.success() {
        bail!(
            "trailkeep token failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(String::from_utf8(output.stdout)
        .context("trailkeep token printed no UTF-8")?
        .trim()
        .to_owned())
}

/// Sends SIGTERM and waits for the process to exit.
fn terminate(child: &mut Child) -> anyhow::Result<()> {
    let status = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()
        .context("send SIGTERM")?;
    if !status.success() {
        bail!("kill -TERM {} failed", child.id());
    }
    let status = child.wait().context("wait for the server to stop")?;
    if !status.success() {
        bail!("trailkeep serve exited with {status} on SIGTERM");
    }
    Ok(())
}

/// The release `trailkeep` beside this executable, built first when cargo runs the bench.
pub fn release_binary() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe().context("find the bench's own executable")?;
    let dir = exe
        .parent()
        .context("the bench's executable has no folder")?;
    if let Ok(cargo) = std::env::var("CARGO") {
        eprintln!("building trailkeep (release) ...");
        let status = Command::new(cargo)
            .args([
                "build",
                "--release",
                "--quiet",
                "-p",
                "trailkeep-cli",
                "--bin",
                "trailkeep",
            ])
            .status()
            .context("run cargo build")?;
        if !status.success() {
            bail!("cargo build --release -p trailkeep-cli failed");
        }
    }
    let binary = dir.join("trailkeep");
    if !binary.exists() {
        bail!(
            "{} does not exist: build it with `cargo build --release -p trailkeep-cli`, or pass --trailkeep",
            binary.display()
        );
    }
    Ok(binary)
}

/// What `binary --version` prints.
pub fn version_of(binary: &Path) -> anyhow::Result<String> {
    let output = Command::new(binary)
        .arg("--version")
        .output()
        .with_context(|| format!("run {} --version", binary.display()))?;
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

/// A port on 127.0.0.1 that nothing listens on now.
pub fn free_port() -> anyhow::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").context("find a free port")?;
    Ok(listener.local_addr().context("read the free port")?.port())
}

/// Bytes under `path` (a file or a folder).
pub fn dir_bytes(path: &Path) -> u64 {
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return 0;
    };
    if !meta.is_dir() {
        return meta.len();
    }
    std::fs::read_dir(path)
        .map(|entries| entries.flatten().map(|e| dir_bytes(&e.path())).sum())
        .unwrap_or(0)
}
