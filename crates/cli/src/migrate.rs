//! `trailkeep migrate`: create or upgrade the PostgreSQL engine's schema (`--store URL`), or
//! move every tenant from one store to another, of either engine (`--from ... --to ...`), with
//! seqs, ids, bytes and signed checkpoints unchanged, so that every checkpoint signed before the
//! move still verifies after it. Stop the servers of both stores first.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use indicatif::{ProgressBar, ProgressStyle};
use trailkeep_store::transfer::{TransferError, TransferSink, TransferSource, transfer};
use trailkeep_store_embedded::EmbeddedTransfer;
use trailkeep_store_postgres::PostgresTransfer;

use crate::engine;

/// Arguments of `trailkeep migrate`.
#[derive(clap::Args)]
pub struct MigrateArgs {
    /// Create or upgrade the schema of this PostgreSQL database (a connection string).
    #[arg(long, value_name = "URL", conflicts_with_all = ["from", "to"])]
    store: Option<String>,
    /// Move every tenant from this store: a data directory, or a PostgreSQL connection string.
    #[arg(long, value_name = "DIR|URL", requires = "to")]
    from: Option<String>,
    /// ... into this store, which must be empty: a new data directory, or a database.
    #[arg(long, value_name = "DIR|URL", requires = "from")]
    to: Option<String>,
    /// The signing key file the checkpoints were signed with, when the move leaves PostgreSQL
    /// for a data directory (the key the nodes were given; a data directory carries its own).
    #[arg(long, value_name = "FILE")]
    signing_key: Option<PathBuf>,
    /// Print nothing but the result.
    #[arg(long, short)]
    quiet: bool,
}

/// A store named on the command line.
enum Place {
    Directory(PathBuf),
    Postgres(String),
}

impl Place {
    fn parse(text: &str) -> Self {
        let postgres = text.starts_with("postgres://")
            || text.starts_with("postgresql://")
            || text.contains("host=")
            || text.contains("dbname=");
        if postgres {
            Place::Postgres(text.to_owned())
        } else {
            Place::Directory(PathBuf::from(text))
        }
    }

    fn describe(&self) -> String {
        match self {
            Place::Directory(dir) => dir.display().to_string(),
            Place::Postgres(url) => trailkeep_store_postgres::describe_url(url),
        }
    }
}

/// Runs the command.
pub fn run(args: MigrateArgs) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("start the runtime")?;
    match (&args.store, &args.from, &args.to) {
        (Some(url), _, _) => runtime.block_on(schema(url)),
        (None, Some(from), Some(to)) => {
            runtime.block_on(move_stores(Place::parse(from), Place::parse(to), &args))
        }
        _ => bail!("say --store URL, or --from and --to (see --help)"),
    }
}

/// Brings a database's schema to this build's version and says which it is.
async fn schema(url: &str) -> anyhow::Result<ExitCode> {
    let place = trailkeep_store_postgres::describe_url(url);
    let (before, after) = trailkeep_store_postgres::migrate(url)
        .await
        .with_context(|| format!("migrate {place}"))?;
    if before == after {
        println!("{place}: schema version {after}, up to date");
    } else {
        println!("{place}: schema version {before} -> {after}");
    }
    Ok(ExitCode::SUCCESS)
}

/// Moves every tenant from `from` into `to`.
async fn move_stores(from: Place, to: Place, args: &MigrateArgs) -> anyhow::Result<ExitCode> {
    let mut source: Box<dyn TransferSource> = match &from {
        Place::Directory(dir) => Box::new(
            EmbeddedTransfer::open_source(dir)
                .with_context(|| format!("open {}", dir.display()))?,
        ),
        Place::Postgres(url) => {
            let source = PostgresTransfer::connect(url)
                .await
                .with_context(|| format!("open {}", from.describe()))?;
            if source.stored_vkey().is_none() {
                bail!("{} holds no Trailkeep ledger", from.describe());
            }
            Box::new(source)
        }
    };
    let mut sink: Box<dyn TransferSink> = match &to {
        Place::Directory(dir) => {
            let key = match (&args.signing_key, &from) {
                (Some(key), _) => key.clone(),
                (None, Place::Directory(source)) => source.join(trailkeep_store_embedded::KEY_FILE),
                (None, Place::Postgres(_)) => bail!(
                    "--signing-key FILE: the key the PostgreSQL nodes sign with, which the new \
                     data directory must keep signing with"
                ),
            };
            let signer = engine::load_key(&key)?;
            Box::new(
                EmbeddedTransfer::create_sink(dir, &signer)
                    .with_context(|| format!("create {}", dir.display()))?,
            )
        }
        Place::Postgres(url) => Box::new(
            PostgresTransfer::connect(url)
                .await
                .with_context(|| format!("open {}", to.describe()))?,
        ),
    };
    let bar = if args.quiet {
        ProgressBar::hidden()
    } else {
        let bar = ProgressBar::new_spinner();
        bar.set_style(
            ProgressStyle::with_template("{spinner} moved {pos} events ({per_sec})")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar
    };
    let moved = transfer(&mut *source, &mut *sink, &mut |done| bar.set_position(done)).await;
    bar.finish_and_clear();
    match moved {
        Ok(report) => {
            println!(
                "moved {} tenants, {} events, {} signed checkpoints from {} to {}",
                report.tenants,
                report.events,
                report.checkpoints,
                from.describe(),
                to.describe()
            );
            if let (Place::Directory(dir), Place::Postgres(_)) = (&from, &to) {
                println!(
                    "start the nodes with store.signing_key = {}: the moved checkpoints are \
                     signed with it",
                    dir.join(trailkeep_store_embedded::KEY_FILE).display()
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(TransferError::Invalid(failure)) => {
            println!("FAILED {failure}; nothing more was moved");
            Ok(ExitCode::from(1))
        }
        Err(TransferError::Store(error)) => Err(anyhow::Error::new(error))
            .with_context(|| format!("move {} to {}", from.describe(), to.describe())),
    }
}
