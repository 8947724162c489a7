//! One run: the phases in order, each on Trailkeep and then on PostgreSQL, and the report.

use std::future::Future;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use bytes::Bytes;
use indicatif::{ProgressBar, ProgressStyle};

use crate::Args;
use crate::cases::{Shape, cases};
use crate::csv;
use crate::postgres::{self, Postgres};
use crate::report::{
    Better, Figure, Machine, Plan, Report, WorkloadSummary, number, percentile, thousands,
};
use crate::trailkeep::{self, Trailkeep};
use crate::workload::{Event, Workload};

/// One batch, rendered for one side: tenant index, events, body.
type Rendered = Vec<(usize, usize, Bytes)>;

/// Runs every phase and writes the report.
pub async fn run(args: Args) -> anyhow::Result<()> {
    let wall = Instant::now();
    let started_at = crate::workload::rfc3339(now_us());
    let binary = match &args.trailkeep {
        Some(path) => path.clone(),
        None => release_binary()?,
    };
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
    let tenant_names: Vec<String> = workload.tenants.iter().map(|t| t.name.clone()).collect();

    let mut machine = Machine::probe();
    machine.trailkeep = version_of(&binary)?;
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
    let pg = &pool[0];
    machine.postgres = pg.version().await?;
    machine.postgres_settings = pg.durability().await?;

    let port = match args.port {
        Some(port) => port,
        None => free_port()?,
    };
    let mut tk = Trailkeep::start(&binary, &data_dir, port, &tenant_names).await?;
    say(format_args!(
        "{} on 127.0.0.1:{port} (data in {}); PostgreSQL {} (table {})",
        machine.trailkeep,
        data_dir.display(),
        machine.postgres,
        args.table
    ));

    let mut figures = Vec::new();

    // Batch ingest.
    let (batches, mean_bytes, per_tenant) =
        render(&workload, "NDJSON for Trailkeep", |e, _, out| {
            e.to_json(out);
            out.push(b'\n');
        });
    let bar = progress(args.events, "events posted to Trailkeep");
    let tk_batch = drive(args.batch_clients as usize, batches.len(), &bar, |_, i| {
        let (tenant, count, body) = batches[i].clone();
        let tk = &tk;
        async move {
            tk.ingest(tenant, body, count).await?;
            Ok(count as u64)
        }
    })
    .await?;
    bar.finish_and_clear();
    drop(batches);
    let index_after_batches = tk.wait_indexed().await?;
    say(format_args!(
        "batch ingest: Trailkeep {} events/s; its index caught up {:.1} s after the last acknowledgement",
        number(rate(args.events, tk_batch)),
        index_after_batches.as_secs_f64()
    ));

    let (rows, _, _) = render(&workload, "CSV for PostgreSQL", |e, tenant, out| {
        csv::load_row(e, tenant, out)
    });
    let bar = progress(args.events, "events copied into PostgreSQL");
    let pg_batch = drive(args.batch_clients as usize, rows.len(), &bar, |w, i| {
        let (_, count, body) = rows[i].clone();
        let pg = &pool[w];
        async move {
            pg.copy(body).await?;
            Ok(count as u64)
        }
    })
    .await?;
    bar.finish_and_clear();
    drop(rows);
    pg.execute(&format!("VACUUM ANALYZE {}", args.table))
        .await?;
    say(format_args!(
        "batch ingest: PostgreSQL {} events/s (COPY)",
        number(rate(args.events, pg_batch))
    ));
    figures.push(throughput(
        "batch_ingest",
        &format!(
            "durable batch ingest ({} events a batch, {} writers)",
            args.batch, args.batch_clients
        ),
        rate(args.events, tk_batch),
        rate(args.events, pg_batch),
    ));

    // Single-event ingest.
    let singles: Vec<Event> = (0..single_events).map(|n| workload.single(n)).collect();
    let bodies: Vec<Bytes> = singles
        .iter()
        .map(|e| {
            let mut out = Vec::with_capacity(600);
            e.to_json(&mut out);
            Bytes::from(out)
        })
        .collect();
    let bar = progress(single_events, "single events posted to Trailkeep");
    let tk_single = drive(args.clients as usize, singles.len(), &bar, |_, i| {
        let (tenant, body) = (singles[i].tenant, bodies[i].clone());
        let tk = &tk;
        async move {
            tk.ingest_one(tenant, body).await?;
            Ok(1)
        }
    })
    .await?;
    bar.finish_and_clear();
    let bar = progress(single_events, "single events inserted into PostgreSQL");
    let pg_single = drive(args.clients as usize, singles.len(), &bar, |w, i| {
        let event = &singles[i];
        let (pg, tenant) = (&pool[w], &tenant_names[event.tenant]);
        async move {
            pg.insert(event, tenant).await?;
            Ok(1)
        }
    })
    .await?;
    bar.finish_and_clear();
    figures.push(throughput(
        "single_ingest",
        &format!("single-event ingest ({} concurrent clients)", args.clients),
        rate(single_events, tk_single),
        rate(single_events, pg_single),
    ));
    say(format_args!(
        "single-event ingest: Trailkeep {} events/s, PostgreSQL {} events/s",
        number(rate(single_events, tk_single)),
        number(rate(single_events, pg_single))
    ));
    let index_after_singles = tk.wait_indexed().await?;
    pg.execute(&format!("VACUUM ANALYZE {}", args.table))
        .await?;
    let largest = per_tenant[0] + singles.iter().filter(|e| e.tenant == 0).count() as u64;
    drop(singles);
    drop(bodies);

    // Queries.
    let mut disagreements = Vec::new();
    let mut plans = Vec::new();
    for shape in Shape::ALL {
        let list = cases(&workload, shape, args.runs);
        let bar = progress(2 * list.len() as u64, shape.key());
        let mut tk_times = Vec::with_capacity(list.len());
        let mut tk_hits = Vec::with_capacity(list.len());
        for case in &list {
            let started = Instant::now();
            tk_hits.push(tk.query(0, case).await?);
            tk_times.push(started.elapsed());
            bar.inc(1);
        }
        let mut pg_times = Vec::with_capacity(list.len());
        for (i, case) in list.iter().enumerate() {
            let started = Instant::now();
            let hits = pg.query(case).await?;
            pg_times.push(started.elapsed());
            bar.inc(1);
            if hits != tk_hits[i] {
                disagreements.push(format!(
                    "{} run {i}: Trailkeep {} rows, PostgreSQL {hits} ({case:?})",
                    shape.key(),
                    tk_hits[i]
                ));
            }
        }
        bar.finish_and_clear();
        plans.push(Plan {
            shape: format!("{}: {}", shape.key(), shape.describe()),
            sql: postgres::shown_sql(&args.table, &list[1]),
            plan: pg.explain(&list[1]).await?,
        });
        // Run 0 warmed the caches on each side.
        let (tk_ms, pg_ms) = (sorted(&tk_times[1..]), sorted(&pg_times[1..]));
        for p in [50.0, 99.0] {
            figures.push(Figure {
                key: format!("query_{}_p{p:.0}_ms", shape.key()),
                label: format!("query p{p:.0}: {}", shape.describe()),
                unit: "ms",
                better: Better::Lower,
                trailkeep: Some(millis(percentile(&tk_ms, p))),
                postgres: Some(millis(percentile(&pg_ms, p))),
            });
        }
        say(format_args!(
            "query {}: p50 {:.2} / {:.2} ms, p99 {:.2} / {:.2} ms (Trailkeep / PostgreSQL)",
            shape.key(),
            millis(percentile(&tk_ms, 50.0)),
            millis(percentile(&pg_ms, 50.0)),
            millis(percentile(&tk_ms, 99.0)),
            millis(percentile(&pg_ms, 99.0)),
        ));
    }

    // Export.
    let mut out = Vec::new();
    let started = Instant::now();
    let tk_exported = tk.export_csv(0, &mut out).await?;
    let tk_export = started.elapsed();
    let tk_export_bytes = out.len();
    out = Vec::new();
    let started = Instant::now();
    let pg_exported = pg.export_csv(&tenant_names[0], &mut out).await?;
    let pg_export = started.elapsed();
    if tk_exported != largest || pg_exported != largest {
        bail!(
            "the export of {} should hold {largest} events: Trailkeep gave {tk_exported}, PostgreSQL {pg_exported}",
            tenant_names[0]
        );
    }
    say(format_args!(
        "export: {} events as CSV; Trailkeep {} events/s ({} MB), PostgreSQL {} events/s ({} MB)",
        thousands(largest),
        number(rate(largest, tk_export)),
        tk_export_bytes / 1_000_000,
        number(rate(largest, pg_export)),
        out.len() / 1_000_000
    ));
    drop(out);
    figures.push(throughput(
        "export_csv",
        &format!(
            "CSV export of the largest tenant ({} events)",
            thousands(largest)
        ),
        rate(largest, tk_export),
        rate(largest, pg_export),
    ));

    // Trailkeep alone: memory, disk, crash recovery, verification.
    let total = args.events + single_events;
    let rss = tk.peak_rss()?;
    let recovery = tk.crash_and_recover().await?;
    tk.stop()?;
    let tk_bytes = dir_bytes(&data_dir);
    let (pg_rows, pg_bytes) = pg.size().await?;
    if pg_rows != total {
        bail!("PostgreSQL holds {pg_rows} rows, {total} were written");
    }
    let bar = ProgressBar::new_spinner().with_message("trailkeep verify");
    bar.enable_steady_tick(Duration::from_millis(200));
    let verified = trailkeep::verify(&binary, &data_dir)?;
    bar.finish_and_clear();
    say(format_args!(
        "verify: {} events in {:.1} s; peak memory {} MiB; {:.0} / {:.0} bytes per event on disk; kill -9 to ready {:.2} s",
        thousands(total),
        verified.as_secs_f64(),
        rss >> 20,
        tk_bytes as f64 / total as f64,
        pg_bytes as f64 / total as f64,
        recovery.as_secs_f64(),
    ));
    figures.push(Figure {
        key: "disk_bytes_per_event".into(),
        label: "on-disk bytes per event (data, indexes, ledger)".into(),
        unit: "bytes",
        better: Better::Lower,
        trailkeep: Some(tk_bytes as f64 / total as f64),
        postgres: Some(pg_bytes as f64 / total as f64),
    });
    figures.extend([
        alone(
            "verify",
            "full-ledger verification (trailkeep verify)",
            "events/s",
            Better::Higher,
            rate(total, verified),
        ),
        alone(
            "peak_rss_mib",
            "peak resident memory of the server",
            "MiB",
            Better::Lower,
            rss as f64 / f64::from(1 << 20),
        ),
        alone(
            "crash_recovery_s",
            "kill -9 to /readyz answering 200",
            "s",
            Better::Lower,
            recovery.as_secs_f64(),
        ),
        alone(
            "index_catch_up_s",
            "index catch-up after the last batch",
            "s",
            Better::Lower,
            index_after_batches.as_secs_f64(),
        ),
        alone(
            "index_catch_up_single_s",
            "index catch-up after the last single event",
            "s",
            Better::Lower,
            index_after_singles.as_secs_f64(),
        ),
    ]);

    if !args.keep {
        pg.execute(&format!("DROP TABLE {}", args.table)).await?;
        std::fs::remove_dir_all(&data_dir)
            .with_context(|| format!("remove {}", data_dir.display()))?;
    }

    let report = Report {
        command: std::env::args().collect::<Vec<_>>().join(" "),
        started_at,
        machine,
        workload: WorkloadSummary {
            batch_events: args.events,
            single_events,
            batch_size: args.batch as usize,
            batch_clients: args.batch_clients as usize,
            single_clients: args.clients as usize,
            tenants: args.tenants as usize,
            largest_tenant_events: largest,
            mean_event_bytes: mean_bytes,
            runs: args.runs,
            seed: args.seed,
        },
        figures,
        disagreements,
        plans,
        wall_seconds: wall.elapsed().as_secs_f64(),
    };
    let markdown = report.markdown();
    println!("\n{markdown}");
    write(&args.out.join("report.md"), markdown.as_bytes())?;
    let json = serde_json::to_vec_pretty(&report).context("serialise the report")?;
    write(&args.out.join("report.json"), &json)?;
    let mut plans_md = String::new();
    for plan in &report.plans {
        plans_md.push_str(&format!(
            "### {}\n\n```sql\n{}\n```\n\n```\n{}```\n\n",
            plan.shape, plan.sql, plan.plan
        ));
    }
    write(&args.out.join("plans.md"), plans_md.as_bytes())?;
    say(format_args!(
        "wrote {}, report.json and plans.md",
        args.out.join("report.md").display()
    ));
    Ok(())
}

/// Generates every batch and renders it with `row` (event, tenant name, output); returns the
/// batches, the mean size of an event as JSON, and the events per tenant.
fn render(
    workload: &Workload,
    what: &str,
    row: impl Fn(&Event, &str, &mut Vec<u8>),
) -> (Rendered, f64, Vec<u64>) {
    let bar = progress(workload.total, &format!("events rendered as {what}"));
    let mut per_tenant = vec![0u64; workload.tenants.len()];
    let mut json_bytes = 0usize;
    let mut scratch = Vec::with_capacity(1024);
    let batches = (0..workload.batches())
        .map(|b| {
            let (tenant, events) = workload.batch(b);
            let name = &workload.tenants[tenant].name;
            let mut body = Vec::with_capacity(events.len() * 600);
            for event in &events {
                row(event, name, &mut body);
                scratch.clear();
                event.to_json(&mut scratch);
                json_bytes += scratch.len();
            }
            per_tenant[tenant] += events.len() as u64;
            bar.inc(events.len() as u64);
            (tenant, events.len(), Bytes::from(body))
        })
        .collect();
    bar.finish_and_clear();
    (
        batches,
        json_bytes as f64 / workload.total as f64,
        per_tenant,
    )
}

/// Runs `jobs` jobs on `workers` concurrent workers (job `i` on worker `w` is `job(w, i)`,
/// which returns the events it wrote); returns the time from the first start to the last end.
async fn drive<F, Fut>(
    workers: usize,
    jobs: usize,
    bar: &ProgressBar,
    job: F,
) -> anyhow::Result<Duration>
where
    F: Fn(usize, usize) -> Fut,
    Fut: Future<Output = anyhow::Result<u64>>,
{
    let next = AtomicUsize::new(0);
    let started = Instant::now();
    let workers = (0..workers).map(|w| {
        let (next, job) = (&next, &job);
        async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= jobs {
                    return anyhow::Ok(());
                }
                bar.inc(job(w, i).await?);
            }
        }
    });
    futures_util::future::try_join_all(workers).await?;
    Ok(started.elapsed())
}

fn throughput(key: &str, label: &str, trailkeep: f64, postgres: f64) -> Figure {
    Figure {
        key: format!("{key}_events_per_s"),
        label: label.to_owned(),
        unit: "events/s",
        better: Better::Higher,
        trailkeep: Some(trailkeep),
        postgres: Some(postgres),
    }
}

fn alone(key: &str, label: &str, unit: &'static str, better: Better, value: f64) -> Figure {
    Figure {
        key: key.to_owned(),
        label: label.to_owned(),
        unit,
        better,
        trailkeep: Some(value),
        postgres: None,
    }
}

fn rate(events: u64, took: Duration) -> f64 {
    events as f64 / took.as_secs_f64().max(1e-9)
}

fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn sorted(samples: &[Duration]) -> Vec<Duration> {
    let mut v = samples.to_vec();
    v.sort();
    v
}

fn progress(len: u64, what: &str) -> ProgressBar {
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
fn say(line: std::fmt::Arguments<'_>) {
    let _ = writeln!(std::io::stderr(), "{line}");
}

fn write(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    std::fs::write(path, bytes).with_context(|| format!("write {}", path.display()))
}

fn now_us() -> i64 {
    (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000) as i64
}

/// The release `trailkeep` beside this executable, built first when cargo runs the bench.
fn release_binary() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe().context("find the bench's own executable")?;
    let dir = exe
        .parent()
        .context("the bench's executable has no folder")?;
    if let Ok(cargo) = std::env::var("CARGO") {
        say(format_args!("building trailkeep (release) ..."));
        let status = Command::new(cargo)
            .args([
                "build",
                "--release",
                "--quiet",
                "-p",
                "trailkeep-cli",
                "--bin",
                "trailkeep",
            ])
            .status()
            .context("run cargo build")?;
        if !status.success() {
            bail!("cargo build --release -p trailkeep-cli failed");
        }
    }
    let binary = dir.join("trailkeep");
    if !binary.exists() {
        bail!(
            "{} does not exist: build it with `cargo build --release -p trailkeep-cli`, or pass --trailkeep",
            binary.display()
        );
    }
    Ok(binary)
}

fn version_of(binary: &Path) -> anyhow::Result<String> {
    let output = Command::new(binary)
        .arg("--version")
        .output()
        .with_context(|| format!("run {} --version", binary.display()))?;
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

fn free_port() -> anyhow::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").context("find a free port")?;
    Ok(listener.local_addr().context("read the free port")?.port())
}

/// Bytes under `path` (a file or a folder).
fn dir_bytes(path: &Path) -> u64 {
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return 0;
    };
    if !meta.is_dir() {
        return meta.len();
    }
    std::fs::read_dir(path)
        .map(|entries| entries.flatten().map(|e| dir_bytes(&e.path())).sum())
        .unwrap_or(0)
}
