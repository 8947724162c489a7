//! `trailkeep accept-rollback`: the operator's way to start on a ledger that is shorter than
//! what was signed before, such as a database restored from an older backup.
//!
//! The server refuses such a ledger at start-up (the high-water file says a larger tree was
//! signed). This command lowers the named tenants' marks to the newest checkpoints the database
//! holds, after checking their signatures, and prints what it changed. It is a deliberate act:
//! events acknowledged after the backup are gone, and any checkpoint a client kept from then
//! will no longer be consistent with the ledger.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use trailkeep_store_embedded::{DB_FILE, Mark, accept_rollback};

/// Arguments of `trailkeep accept-rollback`.
#[derive(clap::Args)]
pub struct AcceptRollbackArgs {
    /// The data directory (stop the server first).
    #[arg(long, env = "TRAILKEEP_DATA_DIR", default_value = "./trailkeep-data")]
    data_dir: PathBuf,
    /// A tenant whose ledger to accept as it is now; repeat for several.
    #[arg(long = "tenant", required = true)]
    tenants: Vec<String>,
}

fn describe(mark: Option<Mark>) -> String {
    mark.map_or_else(|| "nothing".to_owned(), |m| format!("{} events", m.size))
}

/// Lowers the marks and prints each change.
pub fn run(args: AcceptRollbackArgs) -> anyhow::Result<ExitCode> {
    if !args.data_dir.join(DB_FILE).is_file() {
        bail!(
            "{} is not a trailkeep data directory: it has no {DB_FILE}",
            args.data_dir.display()
        );
    }
    let changed = accept_rollback(&args.data_dir, &args.tenants)
        .map_err(anyhow::Error::msg)
        .with_context(|| format!("accept the ledgers of {}", args.data_dir.display()))?;
    let mut out = std::io::stdout();
    for change in changed {
        writeln!(
            out,
            "tenant {}: signed high-water mark {} -> {}",
            change.tenant,
            describe(change.was),
            describe(change.now)
        )
        .context("write the result")?;
    }
    Ok(ExitCode::SUCCESS)
}
