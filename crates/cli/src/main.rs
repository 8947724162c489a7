//! `trailkeep`: the one binary. Serves the API, mints development tokens, verifies ledgers
//! offline, checks proofs by hand and rebuilds the query index. The only
//! crate that names a concrete storage engine.

mod background;
mod client;
mod config;
mod engine;
mod export;
mod keys;
mod migrate;
mod proof;
mod reindex;
mod report;
mod rollback;
mod secret;
mod serve;
mod verify;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};

/// The server allocates and frees many small values per event (parsed JSON, terms, rows);
/// mimalloc does that with less time in the allocator than the system's, and keeps freed
/// memory per thread instead of contending for one arena.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Trailkeep: a tamper-evident audit-log service.
#[derive(Parser)]
#[command(name = "trailkeep", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP service on the embedded store, or on PostgreSQL with --store.
    Serve(serve::ServeArgs),
    /// Mint a development JWT for a tenant, signed with the server's HS256 secret.
    Token(TokenArgs),
    /// Create, list and revoke API keys in a data directory (to bootstrap the first admin key).
    #[command(subcommand)]
    Keys(keys::KeysCommand),
    /// Check a settings file.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Print the OpenAPI 3.1 description of the HTTP API (the one served at /openapi.json).
    Openapi,
    /// Re-verify every tenant's whole ledger offline: bytes, leaf hashes, tree, signed checkpoints.
    Verify(verify::VerifyArgs),
    /// Export events from a running server, download the file with its signed manifest, and
    /// verify it.
    Export(export::ExportArgs),
    /// Make a compliance report on a running server (PDF, HTML or JSON) and download it.
    Report(report::ReportArgs),
    /// Check an inclusion or consistency proof by hand.
    #[command(subcommand)]
    Proof(proof::ProofCommand),
    /// Show the checkpoint signing key.
    #[command(subcommand)]
    Key(KeyCommand),
    /// Rebuild the query index from the stored events (stop the server first).
    Reindex(reindex::ReindexArgs),
    /// Accept a tenant's ledger that is shorter than what was signed before (a restored backup).
    AcceptRollback(rollback::AcceptRollbackArgs),
    /// Create or upgrade the PostgreSQL engine's schema, or move every tenant between stores.
    Migrate(migrate::MigrateArgs),
}

#[derive(clap::Args)]
struct TokenArgs {
    /// The tenant the token acts for.
    #[arg(long)]
    tenant: String,
    /// Space-separated scopes: audit:write, audit:read, audit:export, audit:admin.
    #[arg(long, default_value = "audit:read audit:write")]
    scope: String,
    /// Lifetime in seconds.
    #[arg(long, default_value_t = 3600)]
    ttl: u64,
    /// The server's settings file, for its secret, issuer, audience and claim names.
    #[arg(long, short)]
    config: Option<PathBuf>,
    /// Data directory whose secret to use when no secret is configured.
    #[arg(long)]
    data_dir: Option<PathBuf>,
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Validate a settings file and print the effective settings, secrets masked.
    Check(config::CheckArgs),
}

#[derive(Subcommand)]
enum KeyCommand {
    /// Print the verification key (C2SP vkey) of the data directory's signing key.
    Show {
        /// The data directory.
        #[arg(long, env = "TRAILKEEP_DATA_DIR", default_value = "./trailkeep-data")]
        data_dir: PathBuf,
    },
}

fn main() -> ExitCode {
    match run() {
        Ok(code) => code,
        Err(error) => {
            if is_broken_pipe(&error) {
                return ExitCode::SUCCESS;
            }
            eprintln!("trailkeep: {error:#}");
            ExitCode::from(2)
        }
    }
}

fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

fn run() -> anyhow::Result<ExitCode> {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => serve::run(args),
        Command::Token(args) => {
            trailkeep_event::validate_tenant(&args.tenant)
                .map_err(|e| anyhow::anyhow!("tenant {e}"))?;
            let overrides = match &args.data_dir {
                Some(dir) => vec![("data_dir", dir.display().to_string().into())],
                None => Vec::new(),
            };
            let settings = config::load(args.config.as_deref(), overrides)?;
            let secret = secret::jwt_secret(&settings.data_dir, settings.auth.jwt_secret.as_ref())?;
            let roles: Vec<String> = args.scope.split_whitespace().map(str::to_owned).collect();
            let roles = trailkeep_server::parse_roles(&roles).map_err(anyhow::Error::msg)?;
            let token = trailkeep_server::JwtVerifier::new(&secret, None, settings.jwt)
                .and_then(|jwt| jwt.mint(&args.tenant, &roles, "trailkeep-cli", None, args.ttl))
                .map_err(anyhow::Error::msg)?;
            writeln!(std::io::stdout(), "{token}").context("write the token")?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Keys(command) => keys::run(command),
        Command::Openapi => {
            let json = trailkeep_server::openapi::to_json(&trailkeep_server::openapi());
            std::io::stdout()
                .write_all(json.as_bytes())
                .context("write the description")?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Config(ConfigCommand::Check(args)) => config::check(args),
        Command::Verify(args) => verify::run(args),
        Command::Export(args) => export::run(args),
        Command::Report(args) => report::run(args),
        Command::Proof(command) => proof::run(command),
        Command::Reindex(args) => reindex::run(args),
        Command::AcceptRollback(args) => rollback::run(args),
        Command::Migrate(args) => migrate::run(args),
        Command::Key(KeyCommand::Show { data_dir }) => {
            let path = data_dir.join(trailkeep_store_embedded::KEY_FILE);
            let text = std::fs::read_to_string(&path).with_context(|| {
                format!(
                    "read {} (has `trailkeep serve` run with this data directory?)",
                    path.display()
                )
            })?;
            let signer = trailkeep_ledger::NoteSigner::from_skey(text.trim())
                .with_context(|| format!("parse {}", path.display()))?;
            writeln!(std::io::stdout(), "{}", signer.verifier().to_vkey())
                .context("write the key")?;
            Ok(ExitCode::SUCCESS)
        }
    }
}
