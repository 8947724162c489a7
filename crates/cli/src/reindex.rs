//! `trailkeep reindex`: rebuild a data directory's query index from its events, offline.
//!
//! The index is derived data (SQLite is the system of record), so a lost, corrupt or suspect
//! index is repaired by throwing it away and indexing every event again. The server does this by
//! itself in the background when it finds the index missing; this command does it up front, with
//! a progress bar, so the server starts with a complete index instead of scanning until the
//! indexer catches up.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use indicatif::{ProgressBar, ProgressStyle};
use trailkeep_store_embedded::{DB_FILE, rebuild_index};

/// Arguments of `trailkeep reindex`.
#[derive(clap::Args)]
pub struct ReindexArgs {
    /// The data directory whose query index to rebuild. Stop the server first: the rebuild
    /// replaces the index folder the server's indexer writes to.
    #[arg(long, env = "TRAILKEEP_DATA_DIR", default_value = "./trailkeep-data")]
    data_dir: PathBuf,
    /// Print nothing but the result.
    #[arg(long, short)]
    quiet: bool,
}

/// Rebuilds the index; a directory without a database is an error (exit code 2).
pub fn run(args: ReindexArgs) -> anyhow::Result<ExitCode> {
    let db = args.data_dir.join(DB_FILE);
    if !db.is_file() {
        bail!(
            "{} is not a trailkeep data directory: {} does not exist",
            args.data_dir.display(),
            db.display()
        );
    }
    let bar = if args.quiet {
        ProgressBar::hidden()
    } else {
        let bar = ProgressBar::new(0);
        bar.set_style(
            ProgressStyle::with_template(
                "{bar:40} {human_pos}/{human_len} events indexed ({per_sec}, ETA {eta})",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar
    };
    let result = rebuild_index(&args.data_dir, &mut |done, total| {
        bar.set_length(total);
        bar.set_position(done);
    });
    bar.finish_and_clear();
    let events = result
        .with_context(|| format!("rebuild the query index of {}", args.data_dir.display()))?;
    writeln!(std::io::stdout(), "reindexed {events} events").context("write the result")?;
    Ok(ExitCode::SUCCESS)
}
