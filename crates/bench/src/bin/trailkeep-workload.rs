//! `trailkeep-workload`: the benchmark's workload for one tenant as NDJSON on standard output,
//! ready for `POST /v1/events`. The same seed, count and end time give the same events, so a
//! document or an example made from them can be made again (`docs/examples/make-example-report.sh`).

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;
use bench::workload::Workload;
use clap::Parser;
use trailkeep_event::Timestamp;

/// Prints the benchmark's audit workload for one tenant as NDJSON: sign-ins with a share of
/// failures, changes, reads, exports and runs from the five dialects' vocabularies, spread
/// over the 90 days before --until, in time order.
#[derive(Parser)]
#[command(name = "trailkeep-workload", version)]
struct Args {
    /// Events to print (at most 10,000 fit one `POST /v1/events`).
    #[arg(long, default_value_t = 2_000, value_parser = clap::value_parser!(u64).range(1..=10_000_000))]
    events: u64,
    /// Seed of the workload: the same seed, the same events.
    #[arg(long, default_value_t = 20_261_130)]
    seed: u64,
    /// When the workload ends, RFC 3339 (`2026-12-01T00:00:00Z`) [default: now].
    #[arg(long)]
    until: Option<String>,
}

fn main() -> ExitCode {
    match print(Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("trailkeep-workload: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn print(args: Args) -> anyhow::Result<()> {
    let until = match &args.until {
        Some(text) => Timestamp::parse(text)
            .map_err(anyhow::Error::msg)
            .with_context(|| format!("--until {text:?}"))?,
        None => Timestamp::now(),
    };
    let workload = Workload::new(args.seed, 1, args.events, 1_000, until.as_micros());
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let mut line = Vec::new();
    for b in 0..workload.batches() {
        for event in workload.batch(b).1 {
            line.clear();
            event.to_json(&mut line);
            line.push(b'\n');
            out.write_all(&line).context("write the events")?;
        }
    }
    out.flush().context("write the events")
}
