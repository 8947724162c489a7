//! `trailkeep report`: ask a server for a compliance report over a period, follow it with a
//! progress bar while it reads and checks the period's events, download the file and check it
//! is the one the server made (its SHA-256).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use indicatif::{ProgressBar, ProgressStyle};
use trailkeep_api::{CreateReport, ReportFileFormat, ReportInfo, ReportKind, ReportPeriod};

use crate::client::Api;

/// Arguments of `trailkeep report`.
#[derive(clap::Args)]
pub struct ReportArgs {
    /// The server's base URL, such as `https://audit.example.com`.
    #[arg(long, env = "TRAILKEEP_SERVER")]
    server: String,
    /// An API key or a token with the `audit:export` role.
    #[arg(long, env = "TRAILKEEP_TOKEN", hide_env_values = true)]
    token: String,
    /// Which report.
    #[arg(long = "type", value_enum, default_value = "compliance-summary")]
    report_type: Kind,
    /// The period's start: a date (`2026-11-01`, from its midnight UTC) or an RFC 3339 time.
    #[arg(long)]
    from: String,
    /// The period's end: a date (`2026-11-30`, that whole day included) or an RFC 3339 time
    /// (excluded).
    #[arg(long)]
    to: String,
    /// The file format.
    #[arg(long, value_enum, default_value = "pdf")]
    format: Format,
    /// Leave the activity figures (volume, actions, categories, entities, actors) out of a
    /// compliance summary.
    #[arg(long)]
    no_stats: bool,
    /// Where to write the report.
    #[arg(long, short)]
    output: PathBuf,
}

/// The report types, as the command line names them.
#[derive(Clone, Copy, clap::ValueEnum)]
enum Kind {
    /// Volume, actions, sign-ins, privileged changes, access to the trail and alerts, mapped
    /// to SOC 2, ISO 27001 and PCI DSS controls.
    ComplianceSummary,
    /// Credentials and roles, grants and revocations, who read or exported what.
    AccessReview,
    /// Failed sign-ins, alerts, administrative activity outside working hours.
    SecurityEvents,
}

/// The file formats, as the command line names them.
#[derive(Clone, Copy, clap::ValueEnum)]
enum Format {
    /// PDF/A, with the report's JSON attached inside.
    Pdf,
    /// One self-contained HTML file.
    Html,
    /// The report's data.
    Json,
}

impl ReportArgs {
    /// The body of `POST /v1/reports`.
    fn body(&self) -> CreateReport {
        CreateReport {
            report_type: match self.report_type {
                Kind::ComplianceSummary => ReportKind::ComplianceSummary,
                Kind::AccessReview => ReportKind::AccessReview,
                Kind::SecurityEvents => ReportKind::SecurityEvents,
            },
            period: ReportPeriod {
                from: self.from.clone(),
                to: self.to.clone(),
            },
            format: Some(match self.format {
                Format::Pdf => ReportFileFormat::Pdf,
                Format::Html => ReportFileFormat::Html,
                Format::Json => ReportFileFormat::Json,
            }),
            include_stats: Some(!self.no_stats),
            // The command downloads the file; other destinations are the API's.
            destination: None,
        }
    }
}

/// Runs the report: exit code 1 when it failed on the server or its events did not verify.
pub fn run(args: ReportArgs) -> anyhow::Result<ExitCode> {
    crate::client::runtime()?.block_on(report(args))
}

async fn report(args: ReportArgs) -> anyhow::Result<ExitCode> {
    let api = Api::new(&args.server, &args.token)?;
    let created = api
        .json(
            api.request(reqwest::Method::POST, "/v1/reports")
                .json(&args.body()),
        )
        .await?;
    let created: ReportInfo =
        serde_json::from_value(created).context("read the server's answer")?;
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template("report {msg} [{bar:30}] {pos}/{len} events checked")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.set_message(created.id.clone());
    let report = loop {
        let status = api
            .json(api.request(reqwest::Method::GET, &created.status_url))
            .await?;
        let status: ReportInfo =
            serde_json::from_value(status).context("read the server's answer")?;
        if let Some(progress) = &status.progress {
            bar.set_length(progress.of);
            bar.set_position(progress.checked);
        }
        match status.state.as_str() {
            "queued" | "running" => tokio::time::sleep(Duration::from_millis(250)).await,
            _ => break status,
        }
    };
    bar.finish_and_clear();
    let id = &report.id;
    let (Some(file), "succeeded") = (&report.file, report.state.as_str()) else {
        println!(
            "FAILED report {id} is {}: {}",
            report.state,
            report.error.as_deref().unwrap_or("no error given")
        );
        return Ok(ExitCode::from(1));
    };
    let (bytes, sha256) = api.download(&file.url, &args.output).await?;
    if sha256 != file.sha256 {
        bail!(
            "{} is not the file the server made: its SHA-256 is {sha256}, the server's {}",
            args.output.display(),
            file.sha256
        );
    }
    println!(
        "downloaded {} ({bytes} bytes, SHA-256 {sha256}): {} events in the period, checkpoint at tree size {}",
        args.output.display(),
        report.period_events.unwrap_or(0),
        report.tree_size.unwrap_or(0),
    );
    if report.verified == Some(true) {
        println!("ok  every event below the checkpoint verified when the report was made");
        Ok(ExitCode::SUCCESS)
    } else {
        println!("FAILED the report says its events did not all verify against the checkpoint");
        Ok(ExitCode::from(1))
    }
}
