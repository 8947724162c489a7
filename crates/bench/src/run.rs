//! One run: set both systems up, run the phases in order, write the report.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};

use crate::phases;
use crate::postgres::{self, Postgres};
use crate::report::{Figure, Machine, Report, WorkloadSummary, thousands};
use crate::trailkeep::{StoreAt, Trailkeep, free_port, release_binary, version_of};
use crate::workload::{Workload, rfc3339};
use crate::{Args, Engine};

/// The schema the PostgreSQL engine runs in, made afresh for each run with `--engine postgres`.
pub const ENGINE_SCHEMA: &str = "trailkeep_engine";

/// What the phases share: the workload, both systems, and the figures so far.
pub struct Session {
    /// The command line.
    pub args: Args,
    /// The events and their tenants.
    pub workload: Workload,
    /// Tenant names, in the workload's order.
    pub tenants: Vec<String>,
    /// Events written one at a time.
    pub single_events: u64,
    /// The `trailkeep` binary.
    pub binary: PathBuf,
    /// Trailkeep's data directory.
    pub data_dir: PathBuf,
    /// The running server, unless PostgreSQL runs alone.
    pub tk: Option<Trailkeep>,
    /// Events written by the sustained-load phase (Trailkeep alone).
    pub sustained_events: u64,
    /// PostgreSQL connections, one per concurrent writer.
    pub pool: Vec<Postgres>,
    /// Figures measured so far, in table order.
    pub figures: Vec<Figure>,
}

/// Runs every phase and writes the report.
pub async fn run(args: Args) -> anyhow::Result<()> {
    let binary = match &args.trailkeep {
        Some(path) => path.clone(),
        None => release_binary()?,
    };
    // From here on: the build above is not part of the run.
    let wall = Instant::now();
    let started_at = rfc3339(now_us());
    std::fs::create_dir_all(&args.out).with_context(|| format!("create {}", args.out.display()))?;
    let data_dir = args.out.join("trailkeep-data");
    if data_dir.exists() {
        std::fs::remove_dir_all(&data_dir)
            .with_context(|| format!("remove the old {}", data_dir.display()))?;
    }
    let single_events = args
        .single_events
        .unwrap_or((args.events / 20).clamp(1, 50_000));
    let workload = Workload::new(
        args.seed,
        args.tenants as usize,
        args.events,
        args.batch as usize,
        now_us(),
    );
    let tenants: Vec<String> = workload.tenants.iter().map(|t| t.name.clone()).collect();

    let mut machine = Machine::probe();
    machine.trailkeep = if args.postgres_only {
        "Trailkeep not run (--postgres-only)".into()
    } else {
        match args.engine {
            Engine::Embedded => version_of(&binary)?,
            Engine::Postgres => format!(
                "{} on its PostgreSQL engine ({} node{})",
                version_of(&binary)?,
                args.nodes,
                if args.nodes == 1 { "" } else { "s" }
            ),
        }
    };
    if args.nodes > 1 && args.engine != Engine::Postgres {
        anyhow::bail!("--nodes needs --engine postgres: the embedded store has one node");
    }
    if args.alerting {
        machine.trailkeep.push_str(
            ", every built-in detection rule on and a webhook subscription per tenant receiving every event",
        );
    }
    say(format_args!(
        "trailkeep-bench: {} events in batches of {}, {} single events, {} tenants; {} cores ({})",
        thousands(args.events),
        args.batch,
        thousands(single_events),
        args.tenants,
        machine.cores,
        machine.cpu
    ));

    postgres::create_table(&args.postgres, &args.table).await?;
    let writers = args.batch_clients.max(args.clients) as usize;
    let mut pool = Vec::with_capacity(writers);
    for _ in 0..writers {
        pool.push(Postgres::connect(&args.postgres, &args.table).await?);
    }
    machine.postgres = pool[0].version().await?;
    machine.postgres_settings = pool[0].settings().await?;

    let tk = if args.postgres_only {
        None
    } else {
        let port = match args.port {
            Some(port) => port,
            None => free_port()?,
        };
        say(format_args!(
            "{} on 127.0.0.1:{port} (data in {})",
            machine.trailkeep,
            data_dir.display(),
        ));
        let store = match args.engine {
            Engine::Embedded => None,
            Engine::Postgres => {
                pool[0]
                    .execute(&format!(
                        "DROP SCHEMA IF EXISTS {ENGINE_SCHEMA} CASCADE; CREATE SCHEMA {ENGINE_SCHEMA}"
                    ))
                    .await?;
                Some(StoreAt {
                    url: format!("{} options='-c search_path={ENGINE_SCHEMA}'", args.postgres),
                    key: data_dir.join("signing.key"),
                    pool_size: (16 / args.nodes as usize).max(4),
                    files: data_dir.join("exports"),
                })
            }
        };
        Some(
            Trailkeep::start(
                &binary,
                &data_dir,
                port,
                &tenants,
                store,
                args.nodes as usize,
                args.alerting,
            )
            .await?,
        )
    };
    say(format_args!(
        "PostgreSQL {} (table {}; {})",
        machine.postgres, args.table, machine.postgres_settings
    ));

    let mut s = Session {
        args,
        workload,
        tenants,
        single_events,
        binary,
        data_dir,
        tk,
        sustained_events: 0,
        pool,
        figures: Vec::new(),
    };
    let loaded = phases::batch_ingest(&mut s).await?;
    let (index_after_singles, singles_to_largest) = phases::single_ingest(&mut s).await?;
    let (disagreements, plans) = phases::queries(&mut s).await?;
    let largest = loaded.largest + singles_to_largest;
    phases::export(&mut s, largest).await?;
    phases::report(&mut s).await?;
    phases::sustained(&mut s).await?;
    phases::retention(&mut s).await?;
    phases::trailkeep_alone(&mut s).await?;
    phases::index_catch_up(&mut s, loaded.index_catch_up, index_after_singles);

    let args = &s.args;
    if !args.keep {
        s.pool[0]
            .execute(&format!("DROP TABLE {}", args.table))
            .await?;
        if args.engine == Engine::Postgres {
            s.pool[0]
                .execute(&format!("DROP SCHEMA IF EXISTS {ENGINE_SCHEMA} CASCADE"))
                .await?;
        }
        if s.data_dir.exists() {
            std::fs::remove_dir_all(&s.data_dir)
                .with_context(|| format!("remove {}", s.data_dir.display()))?;
        }
    }
    let report = Report {
        command: std::env::args().collect::<Vec<_>>().join(" "),
        started_at,
        machine,
        workload: WorkloadSummary {
            batch_events: args.events,
            single_events: s.single_events,
            batch_size: args.batch as usize,
            batch_clients: args.batch_clients as usize,
            single_clients: args.clients as usize,
            tenants: args.tenants as usize,
            largest_tenant_events: largest,
            mean_event_bytes: loaded.mean_bytes,
            runs: args.runs,
            seed: args.seed,
        },
        figures: s.figures,
        postgres_only: args.postgres_only,
        disagreements,
        plans,
        wall_seconds: wall.elapsed().as_secs_f64(),
    };
    write_reports(&report, &args.out)
}

/// Prints the table and writes `report.md`, `report.json` and `plans.md` to `out`.
fn write_reports(report: &Report, out: &Path) -> anyhow::Result<()> {
    let markdown = report.markdown();
    println!("\n{markdown}");
    write(&out.join("report.md"), markdown.as_bytes())?;
    let json = serde_json::to_vec_pretty(report).context("serialise the report")?;
    write(&out.join("report.json"), &json)?;
    write(&out.join("plans.md"), report.plans_markdown().as_bytes())?;
    say(format_args!(
        "wrote {}, report.json and plans.md",
        out.join("report.md").display()
    ));
    Ok(())
}

/// A progress bar of `len` steps, labelled `what`.
pub fn progress(len: u64, what: &str) -> ProgressBar {
    let bar = ProgressBar::new(len);
    bar.set_style(
        ProgressStyle::with_template(
            "{bar:40} {human_pos}/{human_len} {msg} ({per_sec}, ETA {eta})",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.set_message(what.to_owned());
    bar
}

/// A line of progress on stderr, so that stdout holds only the report.
pub fn say(line: std::fmt::Arguments<'_>) {
    let _ = writeln!(std::io::stderr(), "{line}");
}

fn write(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    std::fs::write(path, bytes).with_context(|| format!("write {}", path.display()))
}

fn now_us() -> i64 {
    trailkeep_event::Timestamp::now().as_micros()
}
