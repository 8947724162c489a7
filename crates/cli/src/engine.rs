//! Which engine a command runs on: the embedded one in the data directory, or PostgreSQL when
//! `store.url` (`--store`) names a database.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use trailkeep_ledger::NoteSigner;
use trailkeep_store::Store;
use trailkeep_store_embedded::{EmbeddedStore, files};
use trailkeep_store_postgres::PostgresStore;

use crate::config::Settings;

/// An open store of either engine.
pub enum Engine {
    /// The embedded engine.
    Embedded(Arc<EmbeddedStore>),
    /// One node of the PostgreSQL engine.
    Postgres(Arc<PostgresStore>),
}

impl Engine {
    /// Opens the store `settings` name. Must run inside a Tokio runtime.
    pub async fn open(settings: &Settings) -> anyhow::Result<Self> {
        let store = &settings.store;
        let Some(url) = &store.url else {
            let options = trailkeep_store_embedded::Options {
                key_name: store.log_name.clone(),
                queue_capacity: store.write_queue,
                tenant_queue_share: store.tenant_write_queue,
                ..trailkeep_store_embedded::Options::default()
            };
            let embedded = EmbeddedStore::open(&settings.data_dir, options)
                .with_context(|| format!("open the store in {}", settings.data_dir.display()))?;
            return Ok(Self::Embedded(Arc::new(embedded)));
        };
        let signer = load_or_create_key(&key_path(settings), &store.log_name)?;
        let options = trailkeep_store_postgres::Options {
            pool_size: store.pool_size,
            queue_capacity: store.write_queue,
            tenant_queue_share: store.tenant_write_queue,
            ..trailkeep_store_postgres::Options::new(signer)
        };
        let node = PostgresStore::connect(url.expose(), options)
            .await
            .with_context(|| {
                format!(
                    "open the store on {}",
                    trailkeep_store_postgres::describe_url(url.expose())
                )
            })?;
        Ok(Self::Postgres(Arc::new(node)))
    }

    /// The store, as the server and the job runner hold it.
    pub fn store(&self) -> Arc<dyn Store> {
        match self {
            Engine::Embedded(store) => store.clone(),
            Engine::Postgres(store) => store.clone(),
        }
    }

    /// Drains what is queued, signs the final checkpoints and closes the store.
    pub async fn close(self) {
        match self {
            // Joins the writer thread: not on a runtime thread.
            Engine::Embedded(store) => {
                let _ = tokio::task::spawn_blocking(move || store.shutdown()).await;
            }
            Engine::Postgres(store) => store.close().await,
        }
    }
}

/// The PostgreSQL engine's signing key at `path`, made (named `name`, readable only by its
/// owner) when the file does not exist. Every node of one database must use the same key: the
/// database remembers the first key's verification key and refuses nodes with another.
fn load_or_create_key(path: &Path, name: &str) -> anyhow::Result<NoteSigner> {
    if path.exists() {
        return load_key(path);
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        files::create_private_dir(dir).map_err(anyhow::Error::msg)?;
    }
    let signer = NoteSigner::generate(name).context("generate a signing key")?;
    files::create_private_file(path).map_err(anyhow::Error::msg)?;
    std::fs::write(path, format!("{}\n", signer.to_skey()))
        .with_context(|| format!("write the signing key {}", path.display()))?;
    tracing::info!(path = %path.display(), "made a new checkpoint signing key; give every node a copy");
    Ok(signer)
}

/// The signing key in the file `path`, which only its owner may read.
pub fn load_key(path: &Path) -> anyhow::Result<NoteSigner> {
    files::check_private_file(path).map_err(anyhow::Error::msg)?;
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("read the signing key {}", path.display()))?;
    NoteSigner::from_skey(text.trim())
        .with_context(|| format!("read the signing key {}", path.display()))
}

/// Where the store `settings` name is, for logs: never a password.
pub fn describe(settings: &Settings) -> String {
    match &settings.store.url {
        Some(url) => trailkeep_store_postgres::describe_url(url.expose()),
        None => settings.data_dir.display().to_string(),
    }
}

/// The key file `settings` name for the PostgreSQL engine.
fn key_path(settings: &Settings) -> PathBuf {
    settings
        .store
        .signing_key
        .clone()
        .unwrap_or_else(|| settings.data_dir.join(trailkeep_store_embedded::KEY_FILE))
}
