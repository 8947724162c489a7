//! `trailkeep migrate --store URL`: create or upgrade the PostgreSQL engine's schema, one
//! version at a time, without starting a node (every node also does it when it starts).

use std::process::ExitCode;

use anyhow::Context;

/// Arguments of `trailkeep migrate`.
#[derive(clap::Args)]
pub struct MigrateArgs {
    /// The database: a PostgreSQL connection string (`postgres://user@host/db`).
    #[arg(long, value_name = "URL", env = "TRAILKEEP_STORE__URL")]
    store: String,
}

/// Brings the schema to this build's version and says which it is.
pub fn run(args: MigrateArgs) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("start the runtime")?;
    let (before, after) = runtime
        .block_on(trailkeep_store_postgres::migrate(&args.store))
        .with_context(|| {
            format!(
                "migrate {}",
                trailkeep_store_postgres::describe_url(&args.store)
            )
        })?;
    let place = trailkeep_store_postgres::describe_url(&args.store);
    if before == after {
        println!("{place}: schema version {after}, up to date");
    } else {
        println!("{place}: schema version {before} -> {after}");
    }
    Ok(ExitCode::SUCCESS)
}
