//! `trailkeep verify`: re-verify every tenant's whole ledger in a data directory or a
//! PostgreSQL database (`--store`), or one export (`--export`) against the ledger's key,
//! offline.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use trailkeep_event::RedactionReason;
use trailkeep_jobs::export::verify::{ExportFailure, verify_export};
use trailkeep_ledger::NoteVerifier;
use trailkeep_store_embedded::{VerifyError, verify_data_dir};

/// Arguments of `trailkeep verify`.
#[derive(clap::Args)]
pub struct VerifyArgs {
    /// The data directory to verify (the server may be running; a consistent snapshot is read).
    #[arg(long, env = "TRAILKEEP_DATA_DIR", default_value = "./trailkeep-data")]
    data_dir: PathBuf,
    /// Verify the PostgreSQL engine's database instead: a connection string (nodes may keep
    /// running; one consistent snapshot is read).
    #[arg(long, value_name = "URL", conflicts_with = "export")]
    store: Option<String>,
    /// Verify this export file instead (with --vkey): its signed manifest, and for NDJSON every
    /// line against the checkpoint the export was cut at. The first bad line is named.
    #[arg(long, requires = "vkey")]
    export: Option<PathBuf>,
    /// The export's signed manifest [default: the export's name with `.manifest` for its
    /// extension].
    #[arg(long, requires = "export")]
    manifest: Option<PathBuf>,
    /// An NDJSON export's proofs file [default: the export's name with `.proofs.ndjson` for
    /// its extension].
    #[arg(long, requires = "export")]
    proofs: Option<PathBuf>,
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
    if let Some(export) = &args.export {
        return run_export(&args, export);
    }
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
    let (result, place) = match &args.store {
        None => (
            verify_data_dir(&args.data_dir, verifier, &mut |done| bar.set_position(done)),
            format!("the data directory {}", args.data_dir.display()),
        ),
        Some(url) => {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .context("start the runtime")?;
            let result = runtime.block_on(trailkeep_store_postgres::verify(
                url,
                verifier,
                &mut |done| bar.set_position(done),
            ));
            (result, trailkeep_store_postgres::describe_url(url))
        }
    };
    bar.finish_and_clear();
    let mut out = std::io::stdout().lock();
    match result {
        Ok(report) => {
            for t in &report.tenants {
                writeln!(
                    out,
                    "ok  tenant {}: {} events, {} checkpoints{}",
                    t.tenant,
                    t.events,
                    t.checkpoints,
                    tombstones(&t.tombstones, true)
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
        Err(unreadable @ VerifyError::Unreadable(_)) => {
            Err(anyhow::Error::new(unreadable)).with_context(|| format!("cannot read {place}"))
        }
    }
}

/// What a summary line says of tombstones: how many, and why (nothing when there are none).
/// `vouched`: whether each was also held to the record of its removal.
fn tombstones(by_reason: &BTreeMap<RedactionReason, u64>, vouched: bool) -> String {
    let total: u64 = by_reason.values().sum();
    if total == 0 {
        return String::new();
    }
    let reasons: Vec<String> = by_reason
        .iter()
        .map(|(reason, n)| format!("{n} {}", reason.as_str()))
        .collect();
    let held = if vouched {
        "each accepted by its kept leaf hash and the record of its removal"
    } else {
        "each accepted by its kept leaf hash (their records are checked in an unfiltered export)"
    };
    format!(
        ", of which {total} tombstones ({}): {held}",
        reasons.join(", ")
    )
}

/// `trailkeep verify --export`: exit code 1 names what failed, 2 a file that cannot be read.
fn run_export(args: &VerifyArgs, export: &Path) -> anyhow::Result<ExitCode> {
    let vkey = args.vkey.as_deref().context("--export needs --vkey")?;
    let verifier = NoteVerifier::from_vkey(vkey.trim()).context("parse --vkey")?;
    let manifest_path = args
        .manifest
        .clone()
        .unwrap_or_else(|| crate::export::sibling(export, "manifest"));
    let note = std::fs::read_to_string(&manifest_path)
        .with_context(|| format!("read the manifest {}", manifest_path.display()))?;
    let proofs = args
        .proofs
        .clone()
        .unwrap_or_else(|| crate::export::sibling(export, "proofs.ndjson"));
    let bar = if args.quiet {
        ProgressBar::hidden()
    } else {
        let bar = ProgressBar::new_spinner();
        bar.set_style(
            ProgressStyle::with_template("{spinner} verified {pos} lines ({per_sec})")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar
    };
    let proofs = proofs.exists().then_some(proofs);
    let result = verify_export(export, &note, proofs.as_deref(), &verifier, &mut |n| {
        if n % 4096 == 0 {
            bar.set_position(n);
        }
    });
    bar.finish_and_clear();
    let mut out = std::io::stdout().lock();
    match result {
        Ok(verified) => {
            let m = &verified.manifest;
            writeln!(
                out,
                "ok  export {} of tenant {}: {} events ({:?}), cut at the signed checkpoint of size {}{}",
                m.export_id,
                m.tenant,
                m.count,
                m.format,
                m.tree_size,
                tombstones(&verified.tombstones, verified.tombstones_vouched)
            )?;
            Ok(ExitCode::SUCCESS)
        }
        Err(ExportFailure::Unreadable(why)) => Err(anyhow::anyhow!(why)),
        Err(failure) => {
            writeln!(out, "FAILED {}: {failure}", export.display())?;
            Ok(ExitCode::from(1))
        }
    }
}
