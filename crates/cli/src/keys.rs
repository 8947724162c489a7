//! `trailkeep keys`: create, list and revoke API keys straight in a data directory, to
//! bootstrap the first admin key (later ones come from `POST /v1/api-keys`). The server must be
//! stopped: the store takes the data directory's lock. Each change is recorded in the tenant's
//! trail, with the CLI as the actor.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use serde_json::json;
use trailkeep_server::auth::api_keys;
use trailkeep_server::auth::now_seconds;
use trailkeep_server::{KeySpec, key_event, parse_roles};
use trailkeep_store::KeyStore;
use trailkeep_store_embedded::{EmbeddedStore, Options};

/// `trailkeep keys ...`.
#[derive(clap::Subcommand)]
pub enum KeysCommand {
    /// Create an API key and print it (the secret is shown this once).
    Create(CreateArgs),
    /// List a tenant's API keys (never their secrets).
    List(ListArgs),
    /// Revoke an API key.
    Revoke(RevokeArgs),
}

/// Arguments of `trailkeep keys create`.
#[derive(clap::Args)]
pub struct CreateArgs {
    /// The data directory (stop the server first).
    #[arg(long, env = "TRAILKEEP_DATA_DIR", default_value = "./trailkeep-data")]
    data_dir: PathBuf,
    /// The tenant the key acts for.
    #[arg(long)]
    tenant: String,
    /// Roles, comma-separated: audit:write, audit:read, audit:export, audit:admin.
    #[arg(long, value_delimiter = ',', required = true)]
    roles: Vec<String>,
    /// A label for the key.
    #[arg(long, default_value = "bootstrap")]
    name: String,
    /// Days until the key expires (default: never).
    #[arg(long)]
    expires_in_days: Option<u32>,
}

/// Arguments of `trailkeep keys list`.
#[derive(clap::Args)]
pub struct ListArgs {
    /// The data directory (stop the server first).
    #[arg(long, env = "TRAILKEEP_DATA_DIR", default_value = "./trailkeep-data")]
    data_dir: PathBuf,
    /// The tenant whose keys to list.
    #[arg(long)]
    tenant: String,
}

/// Arguments of `trailkeep keys revoke`.
#[derive(clap::Args)]
pub struct RevokeArgs {
    /// The data directory (stop the server first).
    #[arg(long, env = "TRAILKEEP_DATA_DIR", default_value = "./trailkeep-data")]
    data_dir: PathBuf,
    /// The tenant the key belongs to.
    #[arg(long)]
    tenant: String,
    /// The key id (`tkk_...`).
    id: String,
}

fn open(data_dir: &std::path::Path) -> anyhow::Result<Arc<EmbeddedStore>> {
    let store = EmbeddedStore::open(data_dir, Options::default())
        .with_context(|| format!("open the store in {}", data_dir.display()))?;
    Ok(Arc::new(store))
}

const CLI_ACTOR: &str = "trailkeep-cli";

/// Runs a `keys` subcommand.
pub fn run(command: KeysCommand) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("start the runtime")?;
    runtime.block_on(async {
        match command {
            KeysCommand::Create(args) => create(args).await,
            KeysCommand::List(args) => list(args).await,
            KeysCommand::Revoke(args) => revoke(args).await,
        }
    })
}

async fn create(args: CreateArgs) -> anyhow::Result<ExitCode> {
    trailkeep_event::validate_tenant(&args.tenant).map_err(|e| anyhow::anyhow!("tenant {e}"))?;
    let roles = parse_roles(&args.roles).map_err(|e| anyhow::anyhow!("--roles: {e}"))?;
    let now = now_seconds();
    let issued = api_keys::issue(
        KeySpec {
            tenant: args.tenant.clone(),
            name: args.name,
            roles,
            expires_at: args.expires_in_days.map(|d| now + i64::from(d) * 86_400),
            created_by: CLI_ACTOR.into(),
        },
        now,
    )
    .map_err(anyhow::Error::msg)?;
    let store = open(&args.data_dir)?;
    let result = async {
        let audit = key_event("trailkeep.api_key.created", cli_actor(), &issued.record)
            .map_err(anyhow::Error::msg)?;
        store.insert_api_key(issued.record.clone(), audit).await?;
        anyhow::Ok(())
    }
    .await;
    store.shutdown();
    result?;
    let out = json!({
        "id": issued.record.id,
        "tenant": issued.record.tenant,
        "roles": issued.record.roles,
        "key": issued.api_key(),
        "client_id": issued.record.id,
        "client_secret": issued.secret,
    });
    writeln!(std::io::stdout(), "{}", serde_json::to_string_pretty(&out)?)?;
    eprintln!("Keep the key now: only its hash is stored, and it is not shown again.");
    Ok(ExitCode::SUCCESS)
}

/// The CLI as the actor of the events it records.
fn cli_actor() -> serde_json::Value {
    json!({"type": "system", "id": CLI_ACTOR})
}

async fn list(args: ListArgs) -> anyhow::Result<ExitCode> {
    let store = open(&args.data_dir)?;
    let keys = store.api_keys(&args.tenant).await;
    store.shutdown();
    let mut out = std::io::stdout().lock();
    for key in keys? {
        let state = if key.revoked_at.is_some() {
            "revoked"
        } else if key.expires_at.is_some_and(|at| at <= now_seconds()) {
            "expired"
        } else {
            "active"
        };
        writeln!(
            out,
            "{}\t{}\t{}\t{}",
            key.id,
            state,
            key.roles.join(","),
            key.name
        )?;
    }
    Ok(ExitCode::SUCCESS)
}

async fn revoke(args: RevokeArgs) -> anyhow::Result<ExitCode> {
    let store = open(&args.data_dir)?;
    let result = async {
        let missing = || anyhow::anyhow!("tenant {} has no API key {}", args.tenant, args.id);
        let before = store
            .api_key(&args.id)
            .await?
            .filter(|k| k.tenant == args.tenant)
            .ok_or_else(missing)?;
        let audit = key_event("trailkeep.api_key.revoked", cli_actor(), &before)
            .map_err(anyhow::Error::msg)?;
        store
            .revoke_api_key(&args.tenant, &args.id, now_seconds(), audit)
            .await?
            .ok_or_else(missing)?;
        anyhow::Ok(())
    }
    .await;
    store.shutdown();
    result?;
    writeln!(std::io::stdout(), "revoked {}", args.id)?;
    Ok(ExitCode::SUCCESS)
}
