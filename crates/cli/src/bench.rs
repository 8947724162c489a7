//! `trailkeep bench query`: load synthetic audit events straight into an embedded store, wait
//! for the query index, then time the query shapes the API serves.
//!
//! The events go through `trailkeep_event::prepare` and `EventStore::append` exactly as the
//! server's would, but without HTTP, so the figures are the store's: group commit, leaf hashing
//! and SQLite on the way in, the tantivy index and the SQLite point reads on the way out. The
//! data is deterministic (a fixed-seed generator), so two runs on one machine compare.
//!
//! Why the load keeps two appends in flight: the writer commits one batch while the next one is
//! prepared and queued, the way concurrent clients keep it busy, without letting the queue grow.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{Value, json};
use tokio::task::JoinSet;
use trailkeep_event::{
    Filter, Order, PreparedEvent, Query, Timestamp, metadata_term, prepare, tokenize,
};
use trailkeep_store::{AppendRequest, EventStore, GroupBy};
use trailkeep_store_embedded::{EmbeddedStore, Options};

/// The tenant that holds most events and that every query reads.
const TENANT: &str = "bench";
/// Events per append.
const BATCH: u64 = 10_000;
/// Appends waiting for the writer at once.
const IN_FLIGHT: usize = 2;
/// The other tenants get this fraction of the bench tenant's events between them.
const OTHER_SHARE: u64 = 20;
/// Page size of every listing.
const PAGE: u32 = 50;
/// Pages followed by the deep-paging shape.
const DEEP_PAGES: usize = 10;
/// Days over which `occurred_at` is spread, ending now.
const SPAN_DAYS: i64 = 90;
/// Microseconds in a day.
const DAY_US: i64 = 86_400_000_000;
/// How long the index may make no progress before the benchmark gives up on it.
const INDEX_STALL: Duration = Duration::from_secs(300);
/// Seed of the generator: the same data on every run.
const SEED: u64 = 0x7472_6169_6c6b_6565;

/// Benchmarks.
#[derive(clap::Subcommand)]
pub enum BenchCommand {
    /// Load synthetic events into an embedded store (not over HTTP), wait for the query index,
    /// then time each query shape the API serves and print p50 / p99 / max.
    Query(QueryArgs),
}

/// Arguments of `trailkeep bench query`.
#[derive(clap::Args)]
pub struct QueryArgs {
    /// Events in the `bench` tenant, which every query reads (the other tenants get another
    /// 5% between them).
    #[arg(long, default_value_t = 1_000_000)]
    events: u64,
    /// Data directory to load into and keep; when it already holds the events it is reused
    /// without loading. Without it, a fresh temporary directory, removed afterwards.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Timed runs of each query shape, with varied parameters (after one warm-up run).
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u32).range(1..))]
    runs: u32,
    /// Tenants besides `bench` that get a few events, so that tenant filtering is exercised.
    #[arg(long, default_value_t = 3)]
    tenants: u32,
}

/// Runs a benchmark.
pub fn run(command: BenchCommand) -> anyhow::Result<ExitCode> {
    match command {
        BenchCommand::Query(args) => query(args),
    }
}

fn query(args: QueryArgs) -> anyhow::Result<ExitCode> {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("TRAILKEEP_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .try_init();
    // Declared first, so it is removed only after the store is closed.
    let (_temp, dir) = match &args.data_dir {
        Some(dir) => (None, dir.clone()),
        None => {
            let temp = tempfile::Builder::new()
                .prefix("trailkeep-bench-")
                .tempdir()
                .context("create a temporary data directory")?;
            let dir = temp.path().to_owned();
            (Some(temp), dir)
        }
    };
    let store = Arc::new(
        EmbeddedStore::open(&dir, Options::default())
            .with_context(|| format!("open the store in {}", dir.display()))?,
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("start the runtime")?;
    let result = runtime.block_on(bench(&store, &dir, &args));
    store.shutdown();
    result?;
    Ok(ExitCode::SUCCESS)
}

async fn bench(store: &Arc<EmbeddedStore>, dir: &Path, args: &QueryArgs) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    writeln!(
        out,
        "trailkeep bench query: {} events in tenant {TENANT:?}, {} runs per shape",
        thousands(args.events),
        args.runs
    )?;
    writeln!(out, "machine: {cores} cores ({})", cpu_model())?;
    writeln!(out, "data directory: {}", dir.display())?;

    let existing = store
        .tree_size(TENANT)
        .await
        .context("read the tenant size")?;
    if existing >= args.events {
        writeln!(
            out,
            "load: skipped, tenant {TENANT:?} already holds {} events",
            thousands(existing)
        )?;
    } else {
        let plan = Plan {
            from: existing,
            to: args.events,
            others: args.tenants,
        };
        let report = load(store, plan).await?;
        writeln!(
            out,
            "load: {} events ({} in {TENANT:?}, {} in {} other tenants) in {:.1} s: {} events/s",
            thousands(report.events),
            thousands(report.bench_events),
            thousands(report.events - report.bench_events),
            args.tenants,
            report.elapsed.as_secs_f64(),
            thousands((report.events as f64 / report.elapsed.as_secs_f64()) as u64),
        )?;
        writeln!(
            out,
            "      the generator thread worked {:.1} s ({:.1} s of it in trailkeep_event::prepare); {} appends of up to {} events took {:.1} s from submission to acknowledgement ({:.0} ms each on average, {IN_FLIGHT} in flight)",
            report.generating.as_secs_f64(),
            report.preparing.as_secs_f64(),
            report.batches,
            thousands(BATCH),
            report.append.as_secs_f64(),
            report.append.as_secs_f64() * 1000.0 / report.batches.max(1) as f64,
        )?;
    }
    out.flush()?;

    let lag = store.index_lag();
    let indexing = wait_for_index(store).await?;
    writeln!(
        out,
        "index: {} events behind when the load ended, caught up {:.1} s later",
        thousands(lag),
        indexing.as_secs_f64()
    )?;
    let db = trailkeep_store_embedded::DB_FILE;
    let sqlite = dir_bytes(&dir.join(db)) + dir_bytes(&dir.join(format!("{db}-wal")));
    let index = dir_bytes(&dir.join(trailkeep_store_embedded::INDEX_DIR));
    writeln!(
        out,
        "disk: {} MB of events (SQLite with its WAL), {} MB of query index",
        sqlite / 1_000_000,
        index / 1_000_000
    )?;
    out.flush()?;

    let now = Timestamp::now();
    let mut rng = Rng(SEED ^ 0x5eed);
    let mut rows = Vec::new();
    let bar = ProgressBar::new(SHAPES.len() as u64 * u64::from(args.runs + 1));
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} queries {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    for shape in SHAPES {
        bar.set_message(shape.name());
        let mut samples = Vec::with_capacity(args.runs as usize);
        let mut hits = 0u64;
        for run in 0..=args.runs {
            let (elapsed, found) = shape
                .run_once(store.as_ref(), &mut rng, now, run)
                .await
                .with_context(|| format!("run {}", shape.name()))?;
            bar.inc(1);
            // Run 0 warms the caches and is not counted.
            if run > 0 {
                samples.push(elapsed);
                hits += found;
            }
        }
        samples.sort();
        rows.push((shape, samples, hits as f64 / f64::from(args.runs)));
    }
    bar.finish_and_clear();

    writeln!(out)?;
    writeln!(
        out,
        "{:<52} {:>8} {:>8} {:>8} {:>11}",
        "query shape", "p50 ms", "p99 ms", "max ms", "mean hits"
    )?;
    writeln!(out, "{}", "-".repeat(52 + 4 * 9 + 3))?;
    for (shape, samples, hits) in &rows {
        writeln!(
            out,
            "{:<52} {:>8.2} {:>8.2} {:>8.2} {:>11}",
            shape.name(),
            millis(percentile(samples, 50.0)),
            millis(percentile(samples, 99.0)),
            millis(samples.last().copied().unwrap_or_default()),
            if *hits >= 100.0 {
                thousands(*hits as u64)
            } else {
                format!("{hits:.1}")
            },
        )?;
    }
    writeln!(out)?;
    writeln!(
        out,
        "hits: events returned (listings), the exact total (paged), matching events (statistics)"
    )?;
    writeln!(
        out,
        "{cores} cores, {} events in {TENANT:?}, {} timed runs per shape",
        thousands(args.events.max(existing)),
        args.runs
    )?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Loading

/// What to append: the bench tenant's events `from..to`, and the other tenants' share.
#[derive(Debug, Clone, Copy)]
struct Plan {
    from: u64,
    to: u64,
    others: u32,
}

/// One append's worth of events.
struct Batch {
    tenant: String,
    events: Vec<PreparedEvent>,
}

struct LoadReport {
    events: u64,
    bench_events: u64,
    batches: u64,
    elapsed: Duration,
    /// Time the generator thread spent building and preparing events.
    generating: Duration,
    /// The part of it spent in `trailkeep_event::prepare`.
    preparing: Duration,
    /// Sum over appends of the time from submission to acknowledgement.
    append: Duration,
}

/// Appends the plan's events with a progress bar; a generator thread builds and prepares the
/// batches while the writer commits the previous ones.
async fn load(store: &Arc<EmbeddedStore>, plan: Plan) -> anyhow::Result<LoadReport> {
    let bench_events = plan.to - plan.from;
    let other_events = if plan.others == 0 {
        0
    } else {
        let (full, rest) = (bench_events / BATCH, bench_events % BATCH);
        full * (BATCH / OTHER_SHARE) + rest.div_ceil(OTHER_SHARE)
    };
    let bar = ProgressBar::new(bench_events + other_events);
    bar.set_style(
        ProgressStyle::with_template(
            "{bar:40} {human_pos}/{human_len} events loaded ({per_sec}, ETA {eta})",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let started = Instant::now();
    let (batches, mut incoming) = tokio::sync::mpsc::channel::<Result<Batch, String>>(IN_FLIGHT);
    let generator = std::thread::Builder::new()
        .name("bench-generator".into())
        .spawn(move || generate(plan, &batches))
        .context("start the generator thread")?;

    let mut in_flight = JoinSet::new();
    let mut loaded = 0;
    let mut count = 0;
    let mut append_time = Duration::ZERO;
    let mut settle = |done: Result<anyhow::Result<(u64, Duration)>, tokio::task::JoinError>| {
        let (n, took) = done.context("an append task failed")??;
        loaded += n;
        count += 1;
        append_time += took;
        bar.inc(n);
        anyhow::Ok(())
    };
    while let Some(batch) = incoming.recv().await {
        let batch = batch.map_err(anyhow::Error::msg)?;
        while in_flight.len() >= IN_FLIGHT {
            if let Some(done) = in_flight.join_next().await {
                settle(done)?;
            }
        }
        let store = store.clone();
        in_flight.spawn(async move {
            let n = batch.events.len();
            let submitted = Instant::now();
            let outcome = store
                .append(
                    &batch.tenant,
                    AppendRequest {
                        events: batch.events,
                        idempotency_key: None,
                    },
                )
                .await
                .with_context(|| format!("append {n} events to tenant {}", batch.tenant))?;
            if outcome.stored != n {
                bail!("stored {} of {n} events", outcome.stored);
            }
            Ok((n as u64, submitted.elapsed()))
        });
    }
    while let Some(done) = in_flight.join_next().await {
        settle(done)?;
    }
    let elapsed = started.elapsed();
    bar.finish_and_clear();
    let (generating, preparing) = generator
        .join()
        .map_err(|_| anyhow::anyhow!("the generator thread panicked"))?;
    Ok(LoadReport {
        events: loaded,
        bench_events,
        batches: count,
        elapsed,
        generating,
        preparing,
        append: append_time,
    })
}

/// Builds and prepares every batch of `plan`, sending each; returns the time spent working
/// (not waiting to send), and the part of it spent in `prepare`. Stops early when the receiver
/// is gone.
fn generate(
    plan: Plan,
    batches: &tokio::sync::mpsc::Sender<Result<Batch, String>>,
) -> (Duration, Duration) {
    let mut synth = Synth::new(plan.to);
    let mut busy = Duration::ZERO;
    let mut next = plan.from;
    let mut other = 0u32;
    while next < plan.to {
        let started = Instant::now();
        let end = (next + BATCH).min(plan.to);
        let received_at = Timestamp::now();
        let batch = (next..end)
            .map(|i| synth.prepared(TENANT, i, received_at))
            .collect::<Result<Vec<_>, _>>()
            .map(|events| Batch {
                tenant: TENANT.to_owned(),
                events,
            });
        let others = (plan.others > 0).then(|| {
            other = other % plan.others + 1;
            let tenant = format!("bench-other-{other}");
            (0..(end - next).div_ceil(OTHER_SHARE))
                .map(|_| {
                    let i = synth.rng.below(plan.to);
                    synth.prepared(&tenant, i, received_at)
                })
                .collect::<Result<Vec<_>, _>>()
                .map(|events| Batch { tenant, events })
        });
        busy += started.elapsed();
        if batches.blocking_send(batch).is_err() {
            return (busy, synth.preparing);
        }
        if let Some(others) = others
            && batches.blocking_send(others).is_err()
        {
            return (busy, synth.preparing);
        }
        next = end;
    }
    (busy, synth.preparing)
}

/// Polls the index lag until it is zero, with a progress bar; returns how long that took.
async fn wait_for_index(store: &EmbeddedStore) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let behind = store.index_lag();
    let bar = ProgressBar::new(behind);
    bar.set_style(
        ProgressStyle::with_template(
            "{bar:40} {human_pos}/{human_len} events indexed ({per_sec}, ETA {eta})",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let mut last_lag = behind;
    let mut last_progress = Instant::now();
    loop {
        let lag = store.index_lag();
        bar.set_position(behind.saturating_sub(lag));
        if lag == 0 {
            break;
        }
        if lag < last_lag {
            last_lag = lag;
            last_progress = Instant::now();
        } else if last_progress.elapsed() > INDEX_STALL {
            bail!(
                "the query index made no progress for {} s ({lag} events behind); run with TRAILKEEP_LOG=info to see why",
                INDEX_STALL.as_secs()
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    bar.finish_and_clear();
    Ok(started.elapsed())
}

// ---------------------------------------------------------------------------------------------
// Synthetic events

/// Actions, with their relative weights (they add up to 100).
const ACTIONS: [(&str, u64); 20] = [
    ("contract.created", 6),
    ("contract.updated", 8),
    ("contract.viewed", 12),
    ("contract.approved", 3),
    ("contract.signed", 3),
    ("contract.deleted", 1),
    ("user.login", 14),
    ("user.logout", 8),
    ("user.created", 1),
    ("user.updated", 2),
    ("document.viewed", 12),
    ("document.uploaded", 5),
    ("document.downloaded", 6),
    ("document.exported", 2),
    ("invoice.created", 4),
    ("invoice.paid", 4),
    ("invoice.rejected", 1),
    ("payment.executed", 4),
    ("report.exported", 3),
    ("settings.updated", 1),
];
/// Share of all events that are failed logins, in percent.
const FAILED_LOGIN_PERCENT: u64 = 5;
/// Share of descriptions that mention MURABAHA, in per mille.
const MURABAHA_PER_MILLE: u64 = 30;
/// Actors (`usr_0000` ..).
const ACTORS: u64 = 1_000;
/// Target types other than `user`: name, id prefix, how many (about 50,000 with the users).
const TARGETS: [(&str, &str, u64); 6] = [
    ("contract", "ctr", 20_000),
    ("document", "doc", 15_000),
    ("invoice", "inv", 10_000),
    ("payment", "pay", 3_500),
    ("report", "rpt", 450),
    ("settings", "cfg", 50),
];
/// Regions (metadata) and their cities (context.location).
const REGIONS: [(&str, &str); 13] = [
    ("riyadh", "Riyadh, SA"),
    ("makkah", "Jeddah, SA"),
    ("madinah", "Madinah, SA"),
    ("eastern", "Dammam, SA"),
    ("qassim", "Buraydah, SA"),
    ("asir", "Abha, SA"),
    ("tabuk", "Tabuk, SA"),
    ("hail", "Hail, SA"),
    ("northern-borders", "Arar, SA"),
    ("jazan", "Jazan, SA"),
    ("najran", "Najran, SA"),
    ("al-baha", "Al Bahah, SA"),
    ("al-jawf", "Sakakah, SA"),
];
const FIRST_NAMES: [&str; 16] = [
    "fatima", "mohammed", "aisha", "abdullah", "noura", "khalid", "sara", "omar", "huda", "faisal",
    "lama", "yousef", "reem", "turki", "maha", "saud",
];
const LAST_NAMES: [&str; 12] = [
    "alharbi",
    "alqahtani",
    "alghamdi",
    "alzahrani",
    "aldosari",
    "alshehri",
    "almutairi",
    "alotaibi",
    "alanazi",
    "alshamrani",
    "alsubaie",
    "alyami",
];
const VOCABULARY: [&str; 40] = [
    "quarterly",
    "review",
    "renewal",
    "supplier",
    "payment",
    "schedule",
    "approved",
    "pending",
    "branch",
    "retail",
    "corporate",
    "facility",
    "limit",
    "tawarruq",
    "ijara",
    "sukuk",
    "customer",
    "compliance",
    "audit",
    "policy",
    "risk",
    "budget",
    "shipment",
    "warehouse",
    "draft",
    "final",
    "amendment",
    "clause",
    "signature",
    "portal",
    "batch",
    "import",
    "reconciliation",
    "ledger",
    "treasury",
    "vendor",
    "mudaraba",
    "profit",
    "rate",
    "term",
];
const USER_AGENTS: [&str; 4] = [
    "Chrome/126.0 (Windows)",
    "Safari/17.5 (macOS)",
    "TrailkeepMobile/3.2",
    "erp-sync/1.8",
];

/// A small deterministic generator (SplitMix64): enough for synthetic data, no dependency.
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n > 0`).
    fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

/// The actor with number `n`: id, e-mail and home region.
fn actor(n: u64) -> (String, String, usize) {
    let first = FIRST_NAMES[(n % FIRST_NAMES.len() as u64) as usize];
    let last = LAST_NAMES[((n / FIRST_NAMES.len() as u64) % LAST_NAMES.len() as u64) as usize];
    (
        format!("usr_{n:04}"),
        format!("{first}.{last}{n}@example.sa"),
        (n % REGIONS.len() as u64) as usize,
    )
}

/// `word` with its first letter in upper case (ASCII).
fn capitalized(word: &str) -> String {
    let mut out = word.to_owned();
    if let Some(first) = out.get_mut(..1) {
        first.make_ascii_uppercase();
    }
    out
}

/// Builds the synthetic events; event `i` of `total` occurs at `i / total` of the way through
/// the last 90 days (with up to an hour of jitter), as an application's trail would.
struct Synth {
    rng: Rng,
    start_us: i64,
    total: u64,
    /// Time spent in `trailkeep_event::prepare`.
    preparing: Duration,
}

impl Synth {
    fn new(total: u64) -> Self {
        let now = Timestamp::now().as_micros();
        Self {
            rng: Rng(SEED),
            start_us: now - SPAN_DAYS * DAY_US,
            total: total.max(1),
            preparing: Duration::ZERO,
        }
    }

    fn prepared(
        &mut self,
        tenant: &str,
        i: u64,
        received_at: Timestamp,
    ) -> Result<PreparedEvent, String> {
        let raw = self.event(i, received_at);
        let started = Instant::now();
        let prepared = prepare(&raw, tenant, received_at);
        self.preparing += started.elapsed();
        prepared.map_err(|errors| {
            format!(
                "a synthetic event is invalid: {}",
                errors
                    .iter()
                    .map(|e| format!("{}: {}", e.field, e.message))
                    .collect::<Vec<_>>()
                    .join("; ")
            )
        })
    }

    fn event(&mut self, i: u64, received_at: Timestamp) -> Value {
        let r = &mut self.rng;
        let offset = (i128::from(SPAN_DAYS * DAY_US) * i128::from(i) / i128::from(self.total))
            as i64
            + r.below(3_600_000_000) as i64;
        let occurred = Timestamp::from_micros(
            (self.start_us + offset).min(received_at.as_micros() - r.below(60_000_000) as i64),
        )
        .unwrap_or(received_at);
        let failed_login = r.below(100) < FAILED_LOGIN_PERCENT;
        let action = if failed_login {
            "user.login"
        } else {
            let mut roll = r.below(100);
            let mut chosen = ACTIONS[0].0;
            for (name, weight) in ACTIONS {
                if roll < weight {
                    chosen = name;
                    break;
                }
                roll -= weight;
            }
            chosen
        };
        let actor_n = r.below(ACTORS);
        let (actor_id, email, home) = actor(actor_n);
        let kind = action.split('.').next().unwrap_or("other");
        let (target_type, target_id) = match TARGETS.iter().find(|t| t.0 == kind) {
            Some((target_type, prefix, count)) => {
                (*target_type, format!("{prefix}_{:06}", r.below(*count)))
            }
            None if action.starts_with("user.log") => ("user", actor_id.clone()),
            None => ("user", format!("usr_{:04}", r.below(ACTORS))),
        };
        // Mostly the actor's home region and office network, sometimes travelling.
        let region = if r.below(10) < 8 {
            home
        } else {
            r.below(REGIONS.len() as u64) as usize
        };
        let ip = if r.below(10) < 7 {
            format!("10.{}.{}.{}", actor_n / 256, actor_n % 256, 10 + r.below(4))
        } else {
            format!(
                "{}.{}.{}.{}",
                37 + r.below(150),
                r.below(256),
                r.below(256),
                1 + r.below(254)
            )
        };
        let mut words: Vec<&str> = (0..3 + r.below(6)).map(|_| *r.pick(&VOCABULARY)).collect();
        if r.below(1000) < MURABAHA_PER_MILLE {
            let at = r.below(words.len() as u64 + 1) as usize;
            words.insert(at, "MURABAHA");
        }
        let verb = action.split('.').nth(1).unwrap_or("changed");
        let description = format!("{} {}", capitalized(verb), words.join(" "));
        let currency = match r.below(100) {
            0..85 => "SAR",
            85..93 => "USD",
            _ => "AED",
        };
        let amount = format!("{}.{:02}", 100 + r.below(2_000_000), r.below(100));
        let mut event = json!({
            "occurred_at": occurred.to_string(),
            "action": action,
            "actor": {"type": "user", "id": actor_id, "email": email},
            "target": {"type": target_type, "id": target_id},
            "context": {
                "ip_address": ip,
                "user_agent": r.pick(&USER_AGENTS),
                "location": REGIONS[region].1,
            },
            "description": description,
            "metadata": {
                "amount": amount,
                "currency": currency,
                "region": REGIONS[region].0,
            },
        });
        if failed_login {
            event["outcome"] = json!("failure");
            event["metadata"]["reason"] = json!("invalid_password");
        }
        event
    }
}

// ---------------------------------------------------------------------------------------------
// Query shapes

/// Prefixes the action-prefix shape cycles through.
const PREFIXES: [&str; 4] = ["contract.*", "document.*", "invoice.*", "user.*"];

#[derive(Debug, Clone, Copy)]
enum Shape {
    ListActor,
    ListActionPrefix,
    TargetHistory,
    FullText,
    Metadata,
    DeepPaging,
    PagedTotal,
    StatsAll,
    StatsActor,
}

const SHAPES: [Shape; 9] = [
    Shape::ListActor,
    Shape::ListActionPrefix,
    Shape::TargetHistory,
    Shape::FullText,
    Shape::Metadata,
    Shape::DeepPaging,
    Shape::PagedTotal,
    Shape::StatsAll,
    Shape::StatsActor,
];

impl Shape {
    fn name(self) -> &'static str {
        match self {
            Shape::ListActor => "1 list: actor_id + last 30 days, 50 desc",
            Shape::ListActionPrefix => "2 list: action=contract.* (and 3 others), 50",
            Shape::TargetHistory => "3 target history: type+id, 50 asc",
            Shape::FullText => "4 full text: q=murabaha, 50",
            Shape::Metadata => "5 metadata: currency=SAR + region, 50",
            Shape::DeepPaging => "6 deep paging: 10 pages by cursor (all events)",
            Shape::PagedTotal => "7 page/per_page=50 + exact total (one action)",
            Shape::StatsAll => "8 stats: all events by action, category, day",
            Shape::StatsActor => "9 stats: actor_id by action, category, day",
        }
    }

    /// Runs the shape once with parameters drawn from `rng`; returns the time spent in the
    /// store and the number of hits.
    async fn run_once(
        self,
        store: &EmbeddedStore,
        rng: &mut Rng,
        now: Timestamp,
        run: u32,
    ) -> anyhow::Result<(Duration, u64)> {
        let order = if run.is_multiple_of(2) {
            Order::Desc
        } else {
            Order::Asc
        };
        let query = match self {
            Shape::ListActor => Query::first_page(
                Filter {
                    actor_id: Some(format!("usr_{:04}", rng.below(ACTORS))),
                    since: Some(now.plus_micros(-30 * DAY_US)),
                    ..Filter::default()
                },
                Order::Desc,
                PAGE,
            ),
            Shape::ListActionPrefix => Query::first_page(
                Filter {
                    actions: vec![PREFIXES[run as usize % PREFIXES.len()].to_owned()],
                    ..Filter::default()
                },
                Order::Desc,
                PAGE,
            ),
            Shape::TargetHistory => {
                let (target_type, prefix, count) = *rng.pick(&TARGETS);
                Query::first_page(
                    Filter {
                        target_type: Some(target_type.to_owned()),
                        target_id: Some(format!("{prefix}_{:06}", rng.below(count))),
                        ..Filter::default()
                    },
                    Order::Asc,
                    PAGE,
                )
            }
            Shape::FullText => Query::first_page(
                Filter {
                    text: tokenize("murabaha").collect(),
                    ..Filter::default()
                },
                order,
                PAGE,
            ),
            Shape::Metadata => Query::first_page(
                Filter {
                    metadata: vec![
                        metadata_term("currency", "SAR"),
                        metadata_term("region", rng.pick(&REGIONS).0),
                    ],
                    ..Filter::default()
                },
                Order::Desc,
                PAGE,
            ),
            Shape::DeepPaging => return deep_paging(store, order).await,
            Shape::PagedTotal => Query {
                filter: Filter {
                    actions: vec![rng.pick(&ACTIONS).0.to_owned()],
                    ..Filter::default()
                },
                order: Order::Desc,
                limit: PAGE,
                after: None,
                offset: rng.below(20) * u64::from(PAGE),
                count_total: true,
            },
            Shape::StatsAll | Shape::StatsActor => {
                let filter = match self {
                    Shape::StatsActor => Filter {
                        actor_id: Some(format!("usr_{:04}", rng.below(ACTORS))),
                        ..Filter::default()
                    },
                    _ => Filter::default(),
                };
                let group_by = [GroupBy::Action, GroupBy::Category, GroupBy::Day];
                let started = Instant::now();
                let stats = store.stats(TENANT, &filter, &group_by).await?;
                return Ok((started.elapsed(), stats.total));
            }
        };
        let started = Instant::now();
        let page = store.query(TENANT, &query).await?;
        let elapsed = started.elapsed();
        let hits = match query.count_total {
            true => page
                .total
                .context("a query with count_total answered no total")?,
            false => page.events.len() as u64,
        };
        Ok((elapsed, hits))
    }
}

/// Follows the cursor through the first pages of the whole tenant; returns the time of all the
/// store calls together and the events returned.
async fn deep_paging(store: &EmbeddedStore, order: Order) -> anyhow::Result<(Duration, u64)> {
    let mut query = Query::first_page(Filter::default(), order, PAGE);
    let mut elapsed = Duration::ZERO;
    let mut hits = 0;
    for _ in 0..DEEP_PAGES {
        let started = Instant::now();
        let page = store.query(TENANT, &query).await?;
        elapsed += started.elapsed();
        hits += page.events.len() as u64;
        match page.next {
            Some(next) => query.after = Some(next),
            None => break,
        }
    }
    Ok((elapsed, hits))
}

// ---------------------------------------------------------------------------------------------
// Reporting

/// The nearest-rank percentile of sorted samples.
fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// `1234567` as `1,234,567`.
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Bytes under `path` (a file or a folder), 0 when it cannot be read.
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

/// The CPU model from `/proc/cpuinfo`, or "unknown CPU".
fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|text| {
            text.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, model)| model.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use trailkeep_event::{Category, Outcome};

    #[test]
    fn synthetic_events_are_valid_and_about_500_bytes() {
        let mut synth = Synth::new(10_000);
        let now = Timestamp::now();
        let mut sizes = Vec::new();
        let mut failed = 0;
        let mut murabaha = 0;
        for i in 0..10_000 {
            let prepared = synth.prepared(TENANT, i, now).expect("valid");
            let event = prepared.clone().into_event(i);
            sizes.push(prepared.canonical_bytes(i).len());
            failed +=
                u32::from(event.category == Category::Login && event.outcome == Outcome::Failure);
            murabaha += u32::from(
                Filter {
                    text: vec!["murabaha".into()],
                    ..Filter::default()
                }
                .matches(&event),
            );
            assert!(event.occurred_at <= now, "{i}: occurred in the future");
            assert!(
                event.occurred_at.as_micros() >= now.as_micros() - (SPAN_DAYS + 1) * DAY_US,
                "{i}: older than 90 days"
            );
        }
        let mean = sizes.iter().sum::<usize>() / sizes.len();
        assert!((450..=650).contains(&mean), "mean size {mean}");
        assert!((350..=650).contains(&failed), "failed logins {failed}");
        assert!((200..=400).contains(&murabaha), "murabaha {murabaha}");
    }

    #[test]
    fn percentiles_use_the_nearest_rank() {
        let samples: Vec<Duration> = (1..=200).map(Duration::from_millis).collect();
        assert_eq!(percentile(&samples, 50.0), Duration::from_millis(100));
        assert_eq!(percentile(&samples, 99.0), Duration::from_millis(198));
        assert_eq!(percentile(&samples[..1], 99.0), Duration::from_millis(1));
        assert_eq!(percentile(&[], 50.0), Duration::ZERO);
    }

    #[test]
    fn thousands_are_grouped() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_000), "1,000");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }
}
