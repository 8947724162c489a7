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
use trailkeep_store_embedded::{DB_FILE, HighWaterMark, accept_rollback};

/// Arguments of `trailkeep accept-rollback`.
#[derive(clap::Args)]
pub struct AcceptRollbackArgs {
    /// The data directory (stop the server first).
    #[arg(long, env = "TRAILKEEP_DATA_DIR", default_value = "./trailkeep-data")]
    data_dir: PathBuf,
    /// A tenant whose ledger to accept as it is now; repeat for several.
    #[arg(long = "tenant", required_unless_present = "all_tenants")]
    tenants: Vec<String>,
    /// Every tenant: for a data directory whose high-water file was lost, or written before
    /// the file existed.
    #[arg(long, conflicts_with = "tenants")]
    all_tenants: bool,
}

fn describe(mark: Option<HighWaterMark>) -> String {
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
    let tenants = (!args.all_tenants).then_some(args.tenants.as_slice());
    let changed = accept_rollback(&args.data_dir, tenants)
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
