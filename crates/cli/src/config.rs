//! Settings of `trailkeep serve`: a TOML file, then `TRAILKEEP_*` environment variables, then
//! command-line flags, each overriding the one before; `trailkeep config check` validates a
//! file and prints the effective settings with secrets masked.
//!
//! Environment variables name a setting by its path with `__` between levels:
//! `TRAILKEEP_LISTEN`, `TRAILKEEP_LIMITS__RATE_PER_SECOND`, `TRAILKEEP_TLS__CERT`.
//! `TRAILKEEP_JWT_SECRET` is short for `TRAILKEEP_AUTH__JWT_SECRET`.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use figment::Figment;
use figment::providers::{Env, Format, Toml};
use serde::{Deserialize, Serialize, Serializer};
use trailkeep_server::{JwtSettings, Limits};

/// A value never shown: it serializes and prints as `********`.
#[derive(Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// The secret itself, for the one place that uses it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("********")
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str("********")
    }
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object a line.
    Json,
}

/// `[log]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogSettings {
    /// `text` or `json`.
    pub format: LogFormat,
    /// A `tracing` filter such as `info` or `trailkeep=debug,info` (`TRAILKEEP_LOG` overrides it).
    pub level: String,
}

impl Default for LogSettings {
    fn default() -> Self {
        Self {
            format: LogFormat::Text,
            level: "info".into(),
        }
    }
}

/// `[tls]`: serve HTTPS when both are set.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TlsSettings {
    /// PEM certificate chain.
    pub cert: Option<PathBuf>,
    /// PEM private key.
    pub key: Option<PathBuf>,
}

/// `[auth]`: where the keys come from (how tokens are checked is `[jwt]`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthSettings {
    /// HS256 secret (at least 32 bytes); unset: a random one kept in `<data_dir>/jwt.secret`.
    pub jwt_secret: Option<Secret>,
    /// A JWKS file with the RS256, ES256 or EdDSA public keys of an identity provider.
    pub jwks_file: Option<PathBuf>,
}

/// `[store]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StoreSettings {
    /// A PostgreSQL connection string (`postgres://user@host/db`, or `host=... dbname=...`):
    /// run on the PostgreSQL engine, beside any other nodes on the same database. Unset: the
    /// embedded engine in `data_dir`.
    pub url: Option<Secret>,
    /// The PostgreSQL engine's checkpoint signing key file, the same on every node [default:
    /// `<data_dir>/signing.key`, created when missing].
    pub signing_key: Option<PathBuf>,
    /// Connections each node keeps to PostgreSQL.
    pub pool_size: usize,
    /// Appends that may wait for the writer; past it, 503 with `Retry-After`.
    pub write_queue: usize,
    /// Appends of any one tenant that may wait for the writer; past it, that tenant's appends
    /// get 503 while other tenants' are still taken.
    pub tenant_write_queue: usize,
    /// Name of the signing key created on first start; checkpoint origins read `<name>/<tenant>`.
    pub log_name: String,
}

impl Default for StoreSettings {
    fn default() -> Self {
        Self {
            url: None,
            signing_key: None,
            pool_size: 16,
            write_queue: 4096,
            tenant_write_queue: 256,
            log_name: "trailkeep".into(),
        }
    }
}

/// `[jobs]`: the background job runner.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct JobSettings {
    /// Jobs (exports, expiries) run at once.
    pub workers: usize,
    /// How long a claimed job is held without a heartbeat before another worker may take it.
    pub lease_seconds: u64,
    /// How often an idle worker looks for work queued by other processes, in milliseconds.
    pub poll_ms: u64,
}

impl Default for JobSettings {
    fn default() -> Self {
        Self {
            workers: 2,
            lease_seconds: 30,
            poll_ms: 1000,
        }
    }
}

/// `[webhooks]`: delivery of webhook subscriptions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebhooksConfig {
    /// Whether this node delivers webhooks (and serves `/v1/webhooks`).
    pub enabled: bool,
    /// Address classes webhooks may reach besides public addresses: `loopback`, `private`,
    /// `link_local`, `metadata`, `reserved`. None by default.
    pub allow: Vec<trailkeep_webhooks::AddressClass>,
    /// Whether plain `http://` destinations are allowed (otherwise `https://` only).
    pub allow_http: bool,
    /// The delays between attempts, in milliseconds; empty for the Standard Webhooks schedule
    /// (5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 14 h, 20 h, 24 h).
    pub retry_delays_ms: Vec<u64>,
    /// Most events in one message.
    pub max_batch_events: usize,
    /// Most bytes of events in one message.
    pub max_batch_bytes: usize,
    /// The deadline of one request, in milliseconds.
    pub timeout_ms: u64,
    /// Most requests in flight over every subscription.
    pub max_in_flight: usize,
    /// Partitions the tenants are shared out in between nodes.
    pub partitions: u32,
    /// How long a node holds a partition without renewing it, in seconds.
    pub lease_seconds: u64,
}

impl Default for WebhooksConfig {
    fn default() -> Self {
        let delivery = trailkeep_webhooks::DeliverySettings::default();
        Self {
            enabled: true,
            allow: Vec::new(),
            allow_http: false,
            retry_delays_ms: Vec::new(),
            max_batch_events: delivery.max_batch_events,
            max_batch_bytes: delivery.max_batch_bytes,
            timeout_ms: delivery.timeout.as_millis() as u64,
            max_in_flight: delivery.max_in_flight,
            partitions: delivery.partitions,
            lease_seconds: delivery.lease.as_secs(),
        }
    }
}

impl WebhooksConfig {
    /// The delivery settings these make.
    pub fn delivery(&self) -> trailkeep_webhooks::DeliverySettings {
        let defaults = trailkeep_webhooks::DeliverySettings::default();
        trailkeep_webhooks::DeliverySettings {
            policy: trailkeep_webhooks::AddressPolicy {
                allow: self.allow.clone(),
                allow_http: self.allow_http,
            },
            schedule: if self.retry_delays_ms.is_empty() {
                trailkeep_webhooks::RetrySchedule::default()
            } else {
                trailkeep_webhooks::RetrySchedule {
                    delays: self
                        .retry_delays_ms
                        .iter()
                        .map(|ms| Duration::from_millis(*ms))
                        .collect(),
                }
            },
            max_batch_events: self.max_batch_events,
            max_batch_bytes: self.max_batch_bytes,
            timeout: Duration::from_millis(self.timeout_ms),
            max_in_flight: self.max_in_flight,
            partitions: self.partitions,
            lease: Duration::from_secs(self.lease_seconds),
            ..defaults
        }
    }
}

/// `[ui]`: the viewer at `/ui`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct UiConfig {
    /// Origins whose pages may show the viewer in a frame (`https://app.example.com`); empty:
    /// only the viewer's own origin.
    pub frame_ancestors: Vec<String>,
}

/// `[retention]`: how long events are kept where a tenant's policy leaves it open, and what
/// else a retention run sweeps.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetentionConfig {
    /// Days an event is kept after it occurred when its tenant's policy names no period;
    /// unset: forever.
    pub default_days: Option<u32>,
    /// Days an idempotency key is kept (a retry after that is an ordinary append).
    pub idempotency_key_days: u64,
    /// Whether this node runs retention runs and erasures, and queues the daily runs.
    pub enabled: bool,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        Self {
            default_days: None,
            idempotency_key_days: 7,
            enabled: true,
        }
    }
}

/// `[detection]`: rules over each tenant's trail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DetectionConfig {
    /// Whether this node runs detection (and serves `/v1/rules` and `/v1/alerts`).
    pub enabled: bool,
    /// Partitions the tenants are shared out in between nodes.
    pub partitions: u32,
    /// How long a node holds a partition without renewing it, in seconds.
    pub lease_seconds: u64,
    /// Most events observed per write of state and alerts.
    pub chunk: usize,
}

impl Default for DetectionConfig {
    fn default() -> Self {
        let defaults = trailkeep_detect::DetectionSettings::default();
        Self {
            enabled: true,
            partitions: defaults.partitions,
            lease_seconds: defaults.lease.as_secs(),
            chunk: defaults.chunk,
        }
    }
}

impl DetectionConfig {
    /// The detection settings these make.
    pub fn settings(&self) -> trailkeep_detect::DetectionSettings {
        trailkeep_detect::DetectionSettings {
            partitions: self.partitions,
            lease: Duration::from_secs(self.lease_seconds),
            chunk: self.chunk,
        }
    }
}

/// `[exports]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ExportSettings {
    /// Where export files are written [default: `<data_dir>/exports`].
    pub dir: Option<PathBuf>,
    /// How long a finished export's files are kept, in hours.
    pub keep_hours: u64,
    /// The directory `directory` destinations write under (unset: no such destination).
    pub directory_root: Option<PathBuf>,
    /// The endpoint `webhook` destinations post to (unset: no such destination).
    pub webhook: Option<WebhookConfig>,
    /// The address users reach this server at (`https://audit.example.com`): signed links are
    /// absolute URLs under it, and e-mail and webhook deliveries of files above their size
    /// bound send links instead (unset: links are paths, and such deliveries fail).
    pub public_url: Option<String>,
}

impl Default for ExportSettings {
    fn default() -> Self {
        Self {
            dir: None,
            keep_hours: 24 * 7,
            directory_root: None,
            webhook: None,
            public_url: None,
        }
    }
}

/// `[exports.webhook]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// The URL exports are posted to.
    pub url: String,
    /// The Standard Webhooks signing secret (`whsec_` and base64 of 24 to 64 random bytes).
    pub secret: Secret,
    /// Largest export posted, in bytes (it travels base64 in the JSON body).
    #[serde(default = "ten_mebibytes")]
    pub max_file_bytes: u64,
}

/// `[smtp]`: the server `email` destinations send through (unset: no such destination).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpConfig {
    /// Host name.
    pub host: String,
    /// Port (587 for STARTTLS, 465 for TLS).
    pub port: u16,
    /// `starttls`, `tls` or `none` (a relay on this host only).
    pub security: trailkeep_jobs::export::SmtpSecurity,
    /// User name, when the server wants one.
    #[serde(default)]
    pub username: Option<String>,
    /// Its password.
    #[serde(default)]
    pub password: Option<Secret>,
    /// The sender address.
    pub from: String,
    /// Largest export sent as an attachment, in bytes.
    #[serde(default = "ten_mebibytes")]
    pub max_attachment_bytes: u64,
    /// Recipient domains allowed; empty allows any.
    #[serde(default)]
    pub allowed_domains: Vec<String>,
}

fn ten_mebibytes() -> u64 {
    10 * 1024 * 1024
}

/// Everything `trailkeep serve` can be told.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Where the embedded store keeps its data (created if missing).
    pub data_dir: PathBuf,
    /// Logging.
    pub log: LogSettings,
    /// HTTPS.
    pub tls: TlsSettings,
    /// Key material.
    pub auth: AuthSettings,
    /// Token checks and claim names.
    pub jwt: JwtSettings,
    /// Request, rate and readiness limits.
    pub limits: Limits,
    /// The store: the embedded engine in `data_dir`, or PostgreSQL.
    pub store: StoreSettings,
    /// The background job runner.
    pub jobs: JobSettings,
    /// Exports.
    pub exports: ExportSettings,
    /// The SMTP server of e-mailed exports.
    pub smtp: Option<SmtpConfig>,
    /// Webhook delivery.
    pub webhooks: WebhooksConfig,
    /// Detection.
    pub detection: DetectionConfig,
    /// Retention.
    pub retention: RetentionConfig,
    /// The viewer.
    pub ui: UiConfig,
}

impl Settings {
    /// The export destinations configured besides download.
    pub fn deliveries(&self) -> trailkeep_jobs::export::Deliveries {
        trailkeep_jobs::export::Deliveries {
            directory_root: self.exports.directory_root.clone(),
            smtp: self
                .smtp
                .as_ref()
                .map(|s| trailkeep_jobs::export::SmtpSettings {
                    host: s.host.clone(),
                    port: s.port,
                    security: s.security,
                    username: s.username.clone(),
                    password: s.password.as_ref().map(|p| p.expose().to_owned()),
                    from: s.from.clone(),
                    max_attachment_bytes: s.max_attachment_bytes,
                    allowed_domains: s.allowed_domains.clone(),
                }),
            webhook: self.exports.webhook.as_ref().map(|w| {
                trailkeep_jobs::export::WebhookSettings {
                    url: w.url.clone(),
                    secret: w.secret.expose().to_owned(),
                    max_file_bytes: w.max_file_bytes,
                }
            }),
        }
    }

    /// Where export files are written.
    pub fn exports_dir(&self) -> PathBuf {
        self.exports
            .dir
            .clone()
            .unwrap_or_else(|| self.data_dir.join("exports"))
    }
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: PathBuf::from("./trailkeep-data"),
            log: LogSettings::default(),
            tls: TlsSettings::default(),
            auth: AuthSettings::default(),
            jwt: JwtSettings::default(),
            limits: Limits::default(),
            store: StoreSettings::default(),
            jobs: JobSettings::default(),
            exports: ExportSettings::default(),
            smtp: None,
            webhooks: WebhooksConfig::default(),
            detection: DetectionConfig::default(),
            retention: RetentionConfig::default(),
            ui: UiConfig::default(),
        }
    }
}

/// Top-level keys an environment variable may set (anything else under `TRAILKEEP_` is left
/// alone: `TRAILKEEP_LOG` is the log filter, for one).
const ENV_KEYS: [&str; 15] = [
    "listen",
    "data_dir",
    "log",
    "tls",
    "auth",
    "jwt",
    "limits",
    "store",
    "jobs",
    "exports",
    "smtp",
    "webhooks",
    "detection",
    "retention",
    "ui",
];

/// Settings given as flags: `(dotted.path, value)` pairs applied last.
pub type Overrides = Vec<(&'static str, figment::value::Value)>;

/// Reads the file (if any), the environment and `overrides`, in that order of precedence.
pub fn load(file: Option<&Path>, overrides: Overrides) -> anyhow::Result<Settings> {
    let mut figment = Figment::from(figment::providers::Serialized::defaults(Settings::default()));
    if let Some(file) = file {
        if !file.is_file() {
            bail!("the configuration file {} does not exist", file.display());
        }
        figment = figment.merge(Toml::file_exact(file));
    }
    let env = Env::prefixed("TRAILKEEP_")
        .map(|key| {
            if key == "jwt_secret" {
                "auth__jwt_secret".into()
            } else {
                key.into()
            }
        })
        .filter(|key| {
            // Keys keep the variable's case here; compare in lowercase.
            let key = key.as_str().to_ascii_lowercase();
            let top = key.split("__").next().unwrap_or("");
            // `TRAILKEEP_LOG` alone is the log filter, not the `[log]` section.
            let log_filter = top == "log" && !key.contains("__");
            ENV_KEYS.contains(&top) && !log_filter
        })
        .split("__");
    figment = figment.merge(env);
    for (key, value) in overrides {
        figment = figment.merge((key, value));
    }
    let settings: Settings = figment.extract().map_err(|e| {
        let messages: Vec<String> = e.into_iter().map(|e| e.to_string()).collect();
        anyhow::anyhow!("invalid configuration: {}", messages.join("; "))
    })?;
    settings.check()?;
    Ok(settings)
}

impl Settings {
    /// Checks what types alone cannot: pairs that go together, files that must exist.
    pub fn check(&self) -> anyhow::Result<()> {
        match (&self.tls.cert, &self.tls.key) {
            (Some(_), None) | (None, Some(_)) => {
                bail!("tls.cert and tls.key go together: set both or neither")
            }
            (Some(cert), Some(key)) => {
                trailkeep_server::Tls::from_pem_files(cert, key).map_err(anyhow::Error::msg)?;
            }
            (None, None) => {}
        }
        if let Some(secret) = &self.auth.jwt_secret
            && secret.expose().len() < trailkeep_server::auth::MIN_SECRET_BYTES
        {
            bail!(
                "auth.jwt_secret must be at least {} bytes",
                trailkeep_server::auth::MIN_SECRET_BYTES
            );
        }
        self.jwks()?;
        if self.limits.max_inflight_body_bytes / 8 < self.limits.max_body_bytes {
            bail!(
                "limits.max_inflight_body_bytes must be at least 8 x limits.max_body_bytes: a \
                 tenant may hold an eighth of it, and a body of the largest size must fit"
            );
        }
        let webhooks = &self.webhooks;
        if webhooks.max_batch_events == 0
            || webhooks.max_batch_bytes == 0
            || webhooks.timeout_ms == 0
            || webhooks.max_in_flight == 0
            || webhooks.partitions == 0
            || webhooks.lease_seconds == 0
        {
            bail!(
                "webhooks.max_batch_events, max_batch_bytes, timeout_ms, max_in_flight, \
                 partitions and lease_seconds must each be at least 1"
            );
        }
        let detection = &self.detection;
        if detection.partitions == 0 || detection.lease_seconds == 0 || detection.chunk == 0 {
            bail!("detection.partitions, lease_seconds and chunk must each be at least 1");
        }
        if detection.chunk > 5_000 {
            bail!("detection.chunk must be at most 5000");
        }
        if self.store.write_queue == 0 || self.store.tenant_write_queue == 0 {
            bail!("store.write_queue and store.tenant_write_queue must be at least 1");
        }
        if let Some(url) = &self.store.url {
            trailkeep_store_postgres::check_url(url.expose())
                .map_err(|e| anyhow::anyhow!("store.url: {e}"))?;
            if self.store.pool_size < 2 {
                bail!("store.pool_size must be at least 2");
            }
        }
        if self.jobs.workers == 0 || self.jobs.lease_seconds < 2 || self.jobs.poll_ms == 0 {
            bail!(
                "jobs.workers and jobs.poll_ms must be at least 1, jobs.lease_seconds at least 2"
            );
        }
        if self.exports.keep_hours == 0 {
            bail!("exports.keep_hours must be at least 1");
        }
        if let Some(days) = self.retention.default_days
            && !(1..=trailkeep_retention::policy::MAX_DAYS).contains(&days)
        {
            bail!(
                "retention.default_days must be from 1 to {}",
                trailkeep_retention::policy::MAX_DAYS
            );
        }
        if self.retention.idempotency_key_days == 0 {
            bail!("retention.idempotency_key_days must be at least 1");
        }
        trailkeep_server::ViewerHeaders::new(&self.ui.frame_ancestors)
            .map_err(|e| anyhow::anyhow!("ui.frame_ancestors: {e}"))?;
        if let Some(url) = &self.exports.public_url
            && !(url.starts_with("https://") || url.starts_with("http://"))
        {
            bail!("exports.public_url must be an http(s) URL");
        }
        if let Some(webhook) = &self.exports.webhook {
            trailkeep_webhooks::signature::sign(webhook.secret.expose(), "id", 0, b"")
                .map_err(|e| anyhow::anyhow!("exports.webhook.secret: {e}"))?;
            if !(webhook.url.starts_with("https://") || webhook.url.starts_with("http://")) {
                bail!("exports.webhook.url must be an http(s) URL");
            }
        }
        if let Some(smtp) = &self.smtp {
            if !trailkeep_jobs::export::is_email_address(&smtp.from) {
                bail!("smtp.from {:?} is not an e-mail address", smtp.from);
            }
        }
        tracing_subscriber::EnvFilter::try_new(&self.log.level)
            .with_context(|| format!("log.level {:?} is not a log filter", self.log.level))?;
        Ok(())
    }

    /// The JWKS file's keys, if one is configured.
    pub fn jwks(&self) -> anyhow::Result<Option<jsonwebtoken::jwk::JwkSet>> {
        let Some(path) = &self.auth.jwks_file else {
            return Ok(None);
        };
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("read the JWKS file {}", path.display()))?;
        let set: jsonwebtoken::jwk::JwkSet = serde_json::from_str(&text)
            .with_context(|| format!("parse the JWKS file {}", path.display()))?;
        // The same checks the server makes, so `config check` catches a bad key.
        trailkeep_server::JwtVerifier::new(&[0; 32], Some(&set), self.jwt.clone())
            .map_err(anyhow::Error::msg)?;
        Ok(Some(set))
    }

    /// The settings as TOML, secrets masked.
    pub fn to_masked_toml(&self) -> anyhow::Result<String> {
        toml::to_string_pretty(self).context("print the settings")
    }
}

/// Arguments of `trailkeep config check`.
#[derive(clap::Args)]
pub struct CheckArgs {
    /// The TOML file to check (the environment's `TRAILKEEP_*` variables apply on top, as they
    /// would for `serve`).
    file: PathBuf,
}

/// Validates a file and prints the effective settings, secrets masked.
pub fn check(args: CheckArgs) -> anyhow::Result<std::process::ExitCode> {
    use std::io::Write;
    let settings = load(Some(&args.file), Vec::new())?;
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "# {} is valid; the effective settings:",
        args.file.display()
    )?;
    write!(out, "{}", settings.to_masked_toml()?)?;
    Ok(std::process::ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `[detection]` was once missing here, so `TRAILKEEP_DETECTION__ENABLED=false` did
    /// nothing: every section of the settings must be reachable from the environment.
    #[test]
    fn every_section_can_be_set_from_the_environment() {
        let defaults = serde_json::to_value(Settings::default()).unwrap();
        for section in defaults.as_object().unwrap().keys() {
            assert!(
                ENV_KEYS.contains(&section.as_str()),
                "TRAILKEEP_{}__... is ignored: add {section:?} to ENV_KEYS",
                section.to_ascii_uppercase()
            );
        }
    }
}
