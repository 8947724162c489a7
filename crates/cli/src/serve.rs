//! `trailkeep serve`: open the embedded store, bind, serve until SIGINT or SIGTERM, then drain
//! in-flight requests and the write queue.

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use trailkeep_server::{AppState, CursorKey, JwtAuth};
use trailkeep_store_embedded::{EmbeddedStore, Options};

use crate::secret;

/// Arguments of `trailkeep serve`.
#[derive(clap::Args)]
pub struct ServeArgs {
    /// Where the embedded store keeps its data (created if missing).
    #[arg(long, env = "TRAILKEEP_DATA_DIR", default_value = "./trailkeep-data")]
    data_dir: PathBuf,
    /// Address to listen on.
    #[arg(long, env = "TRAILKEEP_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Name of the checkpoint signing key when one is created; origins read `<name>/<tenant>`.
    #[arg(long, env = "TRAILKEEP_LOG_NAME", default_value = "trailkeep")]
    log_name: String,
    /// Largest request body accepted, in bytes.
    #[arg(long, default_value_t = trailkeep_server::DEFAULT_MAX_BODY_BYTES)]
    max_body_bytes: usize,
}

/// Runs the service.
pub fn run(args: ServeArgs) -> anyhow::Result<ExitCode> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("TRAILKEEP_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .init();
    let secret = secret::jwt_secret(&args.data_dir)?;
    let auth = JwtAuth::hs256(&secret).map_err(anyhow::Error::msg)?;
    let options = Options {
        key_name: args.log_name,
        ..Options::default()
    };
    let store = Arc::new(
        EmbeddedStore::open(&args.data_dir, options)
            .with_context(|| format!("open the store in {}", args.data_dir.display()))?,
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("start the runtime")?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .with_context(|| format!("listen on {}", args.listen))?;
        let addr = listener.local_addr().context("read the bound address")?;
        tracing::info!(%addr, data_dir = %args.data_dir.display(), vkey = %trailkeep_store::EventStore::vkey(&*store), "trailkeep is serving");
        let (stop, stopping) = trailkeep_server::stopping_signal();
        let state = AppState {
            store: store.clone(),
            auth: Arc::new(auth),
            cursor_key: CursorKey::derive(&secret),
            stopping,
        };
        let router = trailkeep_server::router(state, args.max_body_bytes);
        let shutdown = async move {
            shutdown_signal().await;
            let _ = stop.send(true);
        };
        trailkeep_server::serve(listener, router, shutdown)
            .await
            .context("serve HTTP")
    })?;
    store.shutdown();
    tracing::info!("stopped cleanly");
    Ok(ExitCode::SUCCESS)
}

async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = interrupt => {},
        () = terminate => {},
    }
    tracing::info!("shutting down: finishing in-flight requests");
}
