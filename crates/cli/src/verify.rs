//! `trailkeep verify`: re-verify every tenant's whole ledger in a data directory, offline.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use trailkeep_ledger::NoteVerifier;
use trailkeep_store_embedded::{VerifyError, verify_data_dir};

/// Arguments of `trailkeep verify`.
#[derive(clap::Args)]
pub struct VerifyArgs {
    /// The data directory to verify (the server may be running; a consistent snapshot is read).
    #[arg(long, env = "TRAILKEEP_DATA_DIR", default_value = "./trailkeep-data")]
    data_dir: PathBuf,
    /// The verification key you trust (`trailkeep key show` on a known-good copy, or
    /// `GET /v1/ledger/key`). Without it, the data directory's own key is used, which proves the
    /// data is self-consistent but not who signed it.
    #[arg(long)]
    vkey: Option<String>,
    /// Print nothing but the result.
    #[arg(long, short)]
    quiet: bool,
}

/// Runs the verification: exit code 1 names the first bad tenant and seq; a directory that
/// cannot be read is an error (exit code 2).
pub fn run(args: VerifyArgs) -> anyhow::Result<ExitCode> {
    let verifier = args
        .vkey
        .as_deref()
        .map(|v| NoteVerifier::from_vkey(v.trim()).context("parse --vkey"))
        .transpose()?;
    let bar = if args.quiet {
        ProgressBar::hidden()
    } else {
        let bar = ProgressBar::new_spinner();
        bar.set_style(
            ProgressStyle::with_template("{spinner} verified {pos} events ({per_sec})")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar
    };
    let result = verify_data_dir(&args.data_dir, verifier, &mut |done| bar.set_position(done));
    bar.finish_and_clear();
    let mut out = std::io::stdout().lock();
    match result {
        Ok(report) => {
            for t in &report.tenants {
                writeln!(
                    out,
                    "ok  tenant {}: {} events, {} checkpoints",
                    t.tenant, t.events, t.checkpoints
                )?;
            }
            let total: u64 = report.tenants.iter().map(|t| t.events).sum();
            writeln!(
                out,
                "verified {} tenants, {total} events",
                report.tenants.len()
            )?;
            Ok(ExitCode::SUCCESS)
        }
        Err(VerifyError::Invalid(failure)) => {
            writeln!(out, "FAILED {failure}")?;
            Ok(ExitCode::from(1))
        }
        Err(unreadable @ VerifyError::Unreadable(_)) => Err(anyhow::Error::new(unreadable))
            .with_context(|| format!("verify {}", args.data_dir.display())),
    }
}
