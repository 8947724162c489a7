//! `trailkeep export`: ask a server for an export, follow it with a progress bar, download the
//! file with its signed manifest (and an NDJSON export's proofs), and verify it offline.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{Map, Value, json};
use trailkeep_jobs::export::verify::{ExportFailure, verify_export};
use trailkeep_ledger::NoteVerifier;

use crate::client::Api;

/// Arguments of `trailkeep export`.
#[derive(clap::Args)]
pub struct ExportArgs {
    /// The server's base URL, such as `https://audit.example.com`.
    #[arg(long, env = "TRAILKEEP_SERVER")]
    server: String,
    /// An API key or a token with the `audit:export` role.
    #[arg(long, env = "TRAILKEEP_TOKEN", hide_env_values = true)]
    token: String,
    /// The file format.
    #[arg(long, value_parser = ["ndjson", "json", "csv"], default_value = "ndjson")]
    format: String,
    /// A filter of `GET /v1/events`, as `name=value` (repeat it: `--filter action=user.*
    /// --filter since=2026-01-01T00:00:00Z`; a name given twice matches either value).
    #[arg(long = "filter", value_name = "NAME=VALUE")]
    filters: Vec<String>,
    /// A CSV column (repeat it for more; the defaults when none is given).
    #[arg(long = "column")]
    columns: Vec<String>,
    /// Where to write the export; its manifest and proofs go beside it (`<name>.manifest`,
    /// `<name>.proofs.ndjson`).
    #[arg(long, short)]
    output: PathBuf,
    /// The ledger's verification key you trust (`trailkeep key show` on the server's machine).
    /// Without it, the server's `GET /v1/ledger/key` is used, which shows the export is whole
    /// and as the server signed it, but not that the server is the one you trust.
    #[arg(long)]
    vkey: Option<String>,
    /// Skip the verification.
    #[arg(long)]
    no_verify: bool,
}

/// The filters as the JSON object `POST /v1/exports` takes.
fn filter_object(filters: &[String]) -> anyhow::Result<Map<String, Value>> {
    let mut object = Map::new();
    for filter in filters {
        let (name, value) = filter
            .split_once('=')
            .with_context(|| format!("--filter {filter:?} is not NAME=VALUE"))?;
        match object.get_mut(name) {
            None => {
                object.insert(name.to_owned(), Value::from(value));
            }
            Some(Value::Array(values)) => values.push(Value::from(value)),
            Some(first) => *first = json!([first.clone(), value]),
        }
    }
    Ok(object)
}

/// `path` with its extension (after the first dot of its file name) replaced by `extension`.
pub fn sibling(path: &Path, extension: &str) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let stem = name.split_once('.').map_or(name.as_str(), |(stem, _)| stem);
    path.with_file_name(format!("{stem}.{extension}"))
}

/// Runs the export: exit code 1 when it failed on the server or does not verify.
pub fn run(args: ExportArgs) -> anyhow::Result<ExitCode> {
    crate::client::runtime()?.block_on(export(args))
}

async fn export(args: ExportArgs) -> anyhow::Result<ExitCode> {
    let api = Api::new(&args.server, &args.token)?;
    let mut body = json!({"format": args.format, "filter": filter_object(&args.filters)?});
    if !args.columns.is_empty() {
        body["columns"] = json!(args.columns);
    }
    let created = api
        .json(
            api.request(reqwest::Method::POST, "/v1/exports")
                .json(&body),
        )
        .await?;
    let id = created["id"]
        .as_str()
        .context("the answer names no export id")?
        .to_owned();
    let bar = ProgressBar::new_spinner();
    bar.set_style(
        ProgressStyle::with_template("{spinner} export {msg}: {pos} events written")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    bar.set_message(id.clone());
    let status = loop {
        let status = api
            .json(api.request(reqwest::Method::GET, &format!("/v1/exports/{id}")))
            .await?;
        bar.set_position(status["events_written"].as_u64().unwrap_or(0));
        match status["state"].as_str() {
            Some("queued" | "running") => tokio::time::sleep(Duration::from_millis(250)).await,
            _ => break status,
        }
    };
    bar.finish_and_clear();
    if status["state"] != "succeeded" {
        println!(
            "FAILED export {id} is {}: {}",
            status["state"].as_str().unwrap_or("unknown"),
            status["error"].as_str().unwrap_or("no error given")
        );
        return Ok(ExitCode::from(1));
    }
    let manifest = sibling(&args.output, "manifest");
    let proofs = sibling(&args.output, "proofs.ndjson");
    let (bytes, _) = api
        .download(&format!("/v1/exports/{id}/file"), &args.output)
        .await?;
    api.download(&format!("/v1/exports/{id}/manifest"), &manifest)
        .await?;
    let with_proofs = status["proofs"].is_object();
    if with_proofs {
        api.download(&format!("/v1/exports/{id}/proofs"), &proofs)
            .await?;
    }
    println!(
        "downloaded {} ({bytes} bytes, {} events) and {}",
        args.output.display(),
        status["events_written"],
        manifest.display()
    );
    if args.no_verify {
        return Ok(ExitCode::SUCCESS);
    }
    let vkey = match &args.vkey {
        Some(vkey) => vkey.clone(),
        None => {
            println!("verifying with the server's own key (pin one with --vkey)");
            api.ledger_key().await?
        }
    };
    let verifier = NoteVerifier::from_vkey(vkey.trim()).context("parse the vkey")?;
    let note = std::fs::read_to_string(&manifest)
        .with_context(|| format!("read {}", manifest.display()))?;
    let proofs = with_proofs.then_some(proofs);
    match verify_export(
        &args.output,
        &note,
        proofs.as_deref(),
        &verifier,
        &mut |_| {},
    ) {
        Ok(verified) => {
            println!(
                "ok  verified {} events against the signed checkpoint of size {}",
                verified.manifest.count, verified.manifest.tree_size
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(ExportFailure::Unreadable(why)) => Err(anyhow::anyhow!(why)),
        Err(failure) => {
            println!("FAILED {}: {failure}", args.output.display());
            Ok(ExitCode::from(1))
        }
    }
}
