//! `trailkeep-bench`: Trailkeep beside PostgreSQL on the same audit workload, in one run.
//!
//! What teams build instead of an audit-log service is an audit table in PostgreSQL with a few
//! indexes, so every speed claim Trailkeep makes is a ratio against that: the same machine, the
//! same events, the same questions, in the same run, so that the noise of a shared machine
//! falls on both. The phases alternate between the two systems (batch ingest on both, then
//! single-event ingest on both, and so on) so that neither gets a quieter stretch of the run.
//!
//! Trailkeep is the release binary, started on a fresh data directory and driven over HTTP;
//! PostgreSQL is the server at `--postgres` with its settings as they are (the report names
//! them; `--postgres-only` runs its side alone, for a second, tuned column). The bench is one
//! client process for both: its own CPU use counts against both equally.

mod alerting;
mod cases;
mod csv;
mod memory;
mod phases;
mod postgres;
mod report;
mod run;
mod trailkeep;

use bench::workload;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;

/// Trailkeep beside PostgreSQL on the same audit workload: ingest, queries, export, and for
/// Trailkeep alone verification, memory, disk and crash recovery. Prints a markdown table and
/// writes it, with the raw numbers as JSON, to --out.
#[derive(Parser, Debug, Clone)]
#[command(name = "trailkeep-bench", version)]
pub struct Args {
    /// Events loaded in batches (the data every later phase reads). 10,000,000 for the full run.
    #[arg(long, default_value_t = 1_000_000, value_parser = clap::value_parser!(u64).range(1_000..))]
    pub events: u64,
    /// Events per batch: one NDJSON POST to Trailkeep, one COPY to PostgreSQL.
    #[arg(long, default_value_t = 1_000, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    pub batch: u64,
    /// Concurrent batch writers (HTTP connections; PostgreSQL connections).
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u64).range(1..=64))]
    pub batch_clients: u64,
    /// Events written one at a time in the single-event phase [default: events / 20, at most
    /// 50,000].
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub single_events: Option<u64>,
    /// Concurrent single-event writers (HTTP connections; PostgreSQL connections).
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u64).range(1..=90))]
    pub clients: u64,
    /// Timed runs of each query shape (after one warm-up run).
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u32).range(1..))]
    pub runs: u32,
    /// Tenants, with Zipf-distributed sizes.
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u64).range(1..=1_000))]
    pub tenants: u64,
    /// Seed of the workload: the same seed, the same events and queries.
    #[arg(long, default_value_t = 20_261_130)]
    pub seed: u64,
    /// PostgreSQL to compare with (libpq key=value or URL).
    #[arg(
        long,
        env = "TRAILKEEP_BENCH_POSTGRES",
        default_value = "host=127.0.0.1 port=5432 user=postgres dbname=test"
    )]
    pub postgres: String,
    /// Table the bench (re)creates in that database.
    #[arg(long, default_value = "trailkeep_bench_events", value_parser = table_name)]
    pub table: String,
    /// The `trailkeep` binary [default: the release build beside this one, built first with
    /// cargo when the bench runs under `cargo run`].
    #[arg(long)]
    pub trailkeep: Option<PathBuf>,
    /// Port for Trailkeep on 127.0.0.1 [default: a free one].
    #[arg(long)]
    pub port: Option<u16>,
    /// Folder for report.md, report.json and Trailkeep's data directory.
    #[arg(long, default_value = "target/bench")]
    pub out: PathBuf,
    /// Offered rate of the sustained-load phase, which measures how long an acknowledged event
    /// waits to be searchable (one batch of rate / 100 events every 10 ms).
    #[arg(long, default_value_t = 20_000, value_parser = clap::value_parser!(u64).range(100..=1_000_000))]
    pub sustained_rate: u64,
    /// Length of the sustained-load phase; 0 leaves it out.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(0..=3_600))]
    pub sustained_seconds: u64,
    /// Run PostgreSQL's side alone, to put a differently configured server beside an earlier
    /// run's figures: the same workload, phases and questions, no Trailkeep.
    #[arg(long)]
    pub postgres_only: bool,
    /// Keep Trailkeep's data directory and the PostgreSQL table afterwards.
    #[arg(long)]
    pub keep: bool,
    /// The engine Trailkeep runs on: its embedded store, or the PostgreSQL engine in the
    /// `--postgres` database (schema `trailkeep_engine`, made afresh).
    #[arg(long, value_enum, default_value = "embedded")]
    pub engine: Engine,
    /// Run Trailkeep with every built-in detection rule on and one webhook subscription per
    /// tenant receiving every event (posted to a receiver in the bench); without it both are
    /// off. The report then says how far delivery had come by the end of batch ingest and
    /// when it caught up.
    #[arg(long)]
    pub alerting: bool,
    /// Before the last phase, remove the events older than 45 days (half the batch-loaded
    /// ones) on both sides, Trailkeep by a retention policy and run, PostgreSQL by an update
    /// that empties the same columns and a VACUUM, and measure the time and the bytes on disk
    /// before and after. The later figures (disk, verify) are then of the trail with its
    /// tombstones.
    #[arg(long)]
    pub retention: bool,
    /// Trailkeep nodes on the PostgreSQL engine; ingest is spread over them, every other phase
    /// asks the first.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=8))]
    pub nodes: u64,
}

/// Which engine Trailkeep runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Engine {
    /// The embedded store in a data directory.
    Embedded,
    /// The PostgreSQL engine.
    Postgres,
}

fn table_name(s: &str) -> Result<String, String> {
    let ok = !s.is_empty()
        && s.len() <= 48
        && s.starts_with(|c: char| c.is_ascii_lowercase())
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    ok.then(|| s.to_owned())
        .ok_or_else(|| "a table name is lowercase letters, digits and _, at most 48".into())
}

fn main() -> ExitCode {
    let args = Args::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("trailkeep-bench: start the runtime: {error}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(run::run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("trailkeep-bench: {error:#}");
            ExitCode::from(2)
        }
    }
}
