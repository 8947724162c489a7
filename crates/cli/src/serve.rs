//! `trailkeep serve`: read the settings, open the store (embedded, or PostgreSQL with
//! `--store`), bind (TLS when configured), serve until SIGINT or SIGTERM, then stop accepting,
//! finish in-flight requests, drain the write queue, sign the final checkpoints and exit 0.

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use std::time::Duration;

use trailkeep_detect::Detection;
use trailkeep_jobs::export::{ExpireHandler, ExportHandler, ExportSettings};
use trailkeep_jobs::{Handler, Runner, RunnerSettings};
use trailkeep_report_pdf::TypstPdf;
use trailkeep_reports::{ReportHandler, ReportSettings};
use trailkeep_retention::{ErasureHandler, ErasureSettings, RetentionHandler, RetentionSettings};
use trailkeep_server::{AppState, Exports, JwtVerifier, Reports, Retention, Tls, ViewerHeaders};
use trailkeep_store::Store;
use trailkeep_webhooks::Deliverer;

use crate::background;
use crate::config::{self, LogFormat, Overrides, Settings};
use crate::engine::{self, Engine};
use crate::secret;

/// Arguments of `trailkeep serve`. Each flag overrides the same setting from the file and the
/// environment.
#[derive(clap::Args)]
pub struct ServeArgs {
    /// A TOML settings file (see `trailkeep config check`).
    #[arg(long, short)]
    config: Option<PathBuf>,
    /// Where the embedded store keeps its data (created if missing), and every engine its
    /// secrets and exports [default: ./trailkeep-data].
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Run on PostgreSQL: a connection string (`postgres://user@host/db`). Any number of
    /// nodes can serve one database; give them all the same `store.signing_key` and
    /// `auth.jwt_secret`.
    #[arg(long, value_name = "URL")]
    store: Option<String>,
    /// Address to listen on [default: 127.0.0.1:8080].
    #[arg(long)]
    listen: Option<SocketAddr>,
    /// Name of the checkpoint signing key when one is created [default: trailkeep].
    #[arg(long)]
    log_name: Option<String>,
    /// Largest request body accepted, in bytes.
    #[arg(long)]
    max_body_bytes: Option<usize>,
    /// PEM certificate chain: serve HTTPS (with --tls-key).
    #[arg(long, requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// PEM private key of --tls-cert.
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Log lines as text or JSON.
    #[arg(long, value_enum)]
    log_format: Option<LogFormat>,
}

impl ServeArgs {
    fn overrides(&self) -> Overrides {
        let path = |p: &PathBuf| p.display().to_string().into();
        let mut out: Overrides = Vec::new();
        if let Some(dir) = &self.data_dir {
            out.push(("data_dir", path(dir)));
        }
        if let Some(url) = &self.store {
            out.push(("store.url", url.clone().into()));
        }
        if let Some(listen) = self.listen {
            out.push(("listen", listen.to_string().into()));
        }
        if let Some(name) = &self.log_name {
            out.push(("store.log_name", name.clone().into()));
        }
        if let Some(bytes) = self.max_body_bytes {
            out.push(("limits.max_body_bytes", (bytes as u64).into()));
        }
        if let Some(cert) = &self.tls_cert {
            out.push(("tls.cert", path(cert)));
        }
        if let Some(key) = &self.tls_key {
            out.push(("tls.key", path(key)));
        }
        if let Some(format) = self.log_format {
            let name = match format {
                LogFormat::Text => "text",
                LogFormat::Json => "json",
            };
            out.push(("log.format", name.into()));
        }
        out
    }
}

fn init_logging(settings: &Settings) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("TRAILKEEP_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(&settings.log.level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match settings.log.format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.with_ansi(std::io::stderr().is_terminal()).init(),
    }
}

/// Runs the service.
pub fn run(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let settings = config::load(args.config.as_deref(), args.overrides())?;
    init_logging(&settings);
    let secret = secret::jwt_secret(&settings.data_dir, settings.auth.jwt_secret.as_ref())?;
    let jwt = JwtVerifier::new(&secret, settings.jwks()?.as_ref(), settings.jwt.clone())
        .map_err(anyhow::Error::msg)?;
    let tls = match (&settings.tls.cert, &settings.tls.key) {
        (Some(cert), Some(key)) => {
            Some(Tls::from_pem_files(cert, key).map_err(anyhow::Error::msg)?)
        }
        _ => None,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("start the runtime")?;
    let background = background::runtime()?;
    runtime.block_on(async {
        let signalled = shutdown_signal()?;
        let engine = Engine::open(&settings).await?;
        let store = engine.store();
        let listener = tokio::net::TcpListener::bind(settings.listen)
            .await
            .with_context(|| format!("listen on {}", settings.listen))?;
        let addr = listener.local_addr().context("read the bound address")?;
        let scheme = if tls.is_some() { "https" } else { "http" };
        tracing::info!(%addr, scheme, store = %engine::describe(&settings), vkey = %store.vkey(), "trailkeep is serving");
        let (stop, stopping) = trailkeep_server::stopping_signal();
        let shared: Arc<dyn Store> = store;
        // Background work is spawned onto the background runtime (lower CPU priority).
        let entered = background.enter();
        let (runner, mut workers) = start_jobs(&settings, shared.clone(), stopping.clone());
        let exports = Exports {
            dir: settings.exports_dir(),
            deliveries: settings.deliveries(),
            public_url: settings.exports.public_url.clone(),
            wake: Box::new({
                let runner = runner.clone();
                move || runner.wake()
            }),
        };
        let reports = Reports {
            dir: settings.exports_dir(),
            pdf: true,
            deliveries: settings.deliveries(),
            wake: Box::new({
                let runner = runner.clone();
                move || runner.wake()
            }),
        };
        let mut state =
            AppState::new(shared.clone(), jwt, &secret, settings.limits.clone(), stopping.clone())
                .with_exports(exports)
                .with_reports(reports)
                .with_viewer(ViewerHeaders::new(&settings.ui.frame_ancestors).map_err(|e| anyhow::anyhow!("ui.frame_ancestors: {e}"))?);
        let schedule = if settings.retention.enabled {
            state = state.with_retention(Retention {
                default_days: settings.retention.default_days,
                wake: Box::new({
                    let runner = runner.clone();
                    move || runner.wake()
                }),
            });
            Some(tokio::spawn(retention_schedule(
                shared.clone(),
                retention_settings(&settings),
                runner,
                stopping.clone(),
            )))
        } else {
            None
        };
        let node = node_name(addr);
        let detection = if settings.detection.enabled {
            let detection = Detection::new(shared.clone(), settings.detection.settings(), node.clone());
            state = state.with_detection(detection.handle());
            Some(detection.start(stopping.clone()))
        } else {
            None
        };
        let deliveries = if settings.webhooks.enabled {
            let deliverer = Deliverer::new(
                shared,
                settings.webhooks.delivery(),
                node,
            )
            .map_err(anyhow::Error::msg)?;
            state = state.with_webhooks(deliverer.handle());
            Some(deliverer.start(stopping))
        } else {
            None
        };
        drop(entered);
        let router = trailkeep_server::router(state);
        let shutdown = async move {
            signalled.await;
            let _ = stop.send(true);
        };
        trailkeep_server::serve(listener, router, tls, &settings.limits, shutdown)
            .await
            .context("serve HTTP")?;
        tracing::info!("stopping the job workers and webhook deliveries");
        while workers.join_next().await.is_some() {}
        for background in [deliveries, detection, schedule].into_iter().flatten() {
            let _ = background.await;
        }
        tracing::info!("draining the write queue and signing the final checkpoints");
        engine.close().await;
        anyhow::Ok(())
    })?;
    background.shutdown_timeout(Duration::from_secs(10));
    tracing::info!("stopped cleanly");
    Ok(ExitCode::SUCCESS)
}

/// Starts the job runner with every job handler; its workers stop when `stopping` turns true.
fn start_jobs(
    settings: &Settings,
    store: Arc<dyn Store>,
    stopping: tokio::sync::watch::Receiver<bool>,
) -> (Arc<Runner>, tokio::task::JoinSet<()>) {
    let dir = settings.exports_dir();
    let handlers: Vec<Arc<dyn Handler>> = vec![
        Arc::new(ExportHandler::new(
            store.clone(),
            ExportSettings {
                dir: dir.clone(),
                keep: Duration::from_secs(settings.exports.keep_hours * 3600),
                deliveries: settings.deliveries(),
                public_url: settings.exports.public_url.clone(),
            },
        )),
        Arc::new(ExpireHandler::new(dir.clone())),
        Arc::new(ReportHandler::new(
            store.clone(),
            ReportSettings {
                dir: dir.clone(),
                pdf: Some(Arc::new(TypstPdf)),
                deliveries: settings.deliveries(),
            },
        )),
    ];
    let handlers = if settings.retention.enabled {
        let retention: Vec<Arc<dyn Handler>> = vec![
            Arc::new(RetentionHandler::new(
                store.clone(),
                retention_settings(settings),
            )),
            Arc::new(ErasureHandler::new(
                store.clone(),
                ErasureSettings {
                    files_dir: Some(dir),
                },
            )),
        ];
        handlers.into_iter().chain(retention).collect()
    } else {
        handlers
    };
    let lease = Duration::from_secs(settings.jobs.lease_seconds);
    let runner = Runner::new(
        store,
        RunnerSettings {
            workers: settings.jobs.workers,
            poll_interval: Duration::from_millis(settings.jobs.poll_ms),
            lease,
            heartbeat: lease / 4,
            node: format!("{}-{}", settings.listen, std::process::id()),
        },
        handlers,
    );
    let workers = runner.start(stopping);
    (runner, workers)
}

/// What retention runs on this node need to know.
fn retention_settings(settings: &Settings) -> RetentionSettings {
    RetentionSettings {
        default_days: settings.retention.default_days,
        idempotency_keys: Duration::from_secs(settings.retention.idempotency_key_days * 24 * 3600),
        files: Some((
            settings.exports_dir(),
            Duration::from_secs(settings.exports.keep_hours * 3600),
        )),
    }
}

/// Queues each tenant's daily retention run (once a day, whichever node comes first) until
/// `stopping` turns true; checks every hour, and at start.
async fn retention_schedule(
    store: Arc<dyn Store>,
    settings: RetentionSettings,
    runner: Arc<Runner>,
    mut stopping: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        match trailkeep_retention::run::schedule(&*store, &settings).await {
            Ok(0) => {}
            Ok(queued) => {
                tracing::info!(queued, "queued the daily retention runs");
                runner.wake();
            }
            Err(error) => tracing::warn!(%error, "queuing the daily retention runs failed"),
        }
        tokio::select! {
            () = tokio::time::sleep(Duration::from_secs(3600)) => {}
            _ = stopping.wait_for(|stop| *stop) => return,
        }
    }
}

/// A name for this node among every node of the store: the address it listens on, its
/// process and a random part (two hosts may share both).
fn node_name(addr: SocketAddr) -> String {
    let mut random = [0u8; 4];
    // Without randomness the address and process still tell most nodes apart.
    let _ = getrandom::fill(&mut random);
    format!(
        "{}-{}-{:08x}",
        addr,
        std::process::id(),
        u32::from_le_bytes(random)
    )
}

/// Waits for SIGINT or SIGTERM. Both are registered here, at once, not when the returned future
/// is first polled: the accept loop may serve requests (a readiness probe's) before it polls
/// it, and a SIGTERM sent then would otherwise end the process without draining.
fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut interrupt = signal(SignalKind::interrupt()).context("listen for SIGINT")?;
    let mut terminate = signal(SignalKind::terminate()).context("listen for SIGTERM")?;
    Ok(async move {
        tokio::select! {
            _ = interrupt.recv() => {},
            _ = terminate.recv() => {},
        }
        tracing::info!("shutting down: no new connections; finishing in-flight requests");
    })
}
