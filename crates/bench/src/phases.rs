//! The phases of a run. Each measures one thing on Trailkeep and then the same thing on
//! PostgreSQL (or on Trailkeep alone), and adds its figures to the session.

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::bail;
use bytes::Bytes;
use indicatif::ProgressBar;

use crate::cases::{Shape, cases};
use crate::csv;
use crate::postgres;
use crate::report::{Better, Figure, Plan, number, percentile, thousands};
use crate::run::{Session, progress, say};
use crate::trailkeep::{self, Exported, dir_bytes};
use crate::workload::{DAY_US, Event, SPAN_DAYS, Workload};

/// One batch, rendered for one side: tenant index, events, body.
type Rendered = Vec<(usize, usize, Bytes)>;

/// What the batch phase learnt about the workload.
pub struct Loaded {
    /// Mean size of an event as JSON, bytes.
    pub mean_bytes: f64,
    /// Events of the largest tenant (the workload's first).
    pub largest: u64,
    /// How long Trailkeep's index took to cover the last batch (unless PostgreSQL ran alone).
    pub index_catch_up: Option<Duration>,
}

/// Durable batch ingest: NDJSON posts against `COPY`, the same batches, as many writers.
pub async fn batch_ingest(s: &mut Session) -> anyhow::Result<Loaded> {
    let (events, writers) = (s.args.events, s.args.batch_clients as usize);
    let (mut tk_rate, mut index_catch_up, mut mean_bytes) = (None, None, None);
    if let Some(tk) = &s.tk {
        let batches = render(&s.workload, "NDJSON for Trailkeep", |e, _, out| {
            ndjson_line(e, out)
        });
        let bar = progress(events, "events posted to Trailkeep");
        let tk_took = drive(writers, batches.len(), &bar, |_, i| {
            let (tenant, count, body) = batches[i].clone();
            async move {
                tk.ingest(tenant, body, count).await?;
                Ok(count as u64)
            }
        })
        .await?;
        bar.finish_and_clear();
        // Each NDJSON line is one event as JSON and its newline.
        let json_bytes: usize = batches.iter().map(|(_, n, body)| body.len() - n).sum();
        mean_bytes = Some(json_bytes as f64 / events as f64);
        drop(batches);
        let caught_up = tk.wait_indexed().await?;
        say(format_args!(
            "batch ingest: Trailkeep {} events/s; its index caught up {:.1} s after the last acknowledgement",
            number(rate(events, tk_took)),
            caught_up.as_secs_f64()
        ));
        tk_rate = Some(rate(events, tk_took));
        index_catch_up = Some(caught_up);
        if let Some(receiver) = tk.receiver() {
            let delivered = receiver.events();
            // Every event, and each tenant's subscription's own making.
            let expected = events + s.tenants.len() as u64;
            let behind = receiver
                .caught_up(expected, Duration::from_secs(1800))
                .await?;
            say(format_args!(
                "webhooks: {} of {} events delivered by the last acknowledgement; all {:.1} s after it ({} messages)",
                thousands(delivered),
                thousands(expected),
                behind.as_secs_f64(),
                thousands(receiver.messages())
            ));
            s.figures.push(alone(
                "webhook_delivered_at_ingest_end",
                "events delivered by webhook when batch ingest ended (--alerting)",
                "events",
                Better::Higher,
                delivered as f64,
            ));
            s.figures.push(alone(
                "webhook_caught_up_s",
                "webhook delivery caught up after the last acknowledgement (--alerting)",
                "s",
                Better::Lower,
                behind.as_secs_f64(),
            ));
        }
    }

    let rows = render(&s.workload, "CSV for PostgreSQL", |e, tenant, out| {
        csv::load_row(e, tenant, out)
    });
    let largest = rows
        .iter()
        .filter(|(tenant, ..)| *tenant == 0)
        .map(|(_, n, _)| *n as u64)
        .sum();
    let bar = progress(events, "events copied into PostgreSQL");
    let pool = &s.pool;
    let pg_took = drive(writers, rows.len(), &bar, |w, i| {
        let (_, count, body) = rows[i].clone();
        async move {
            pool[w].copy(body).await?;
            Ok(count as u64)
        }
    })
    .await?;
    bar.finish_and_clear();
    drop(rows);
    s.pool[0].analyze().await?;
    analyze_engine(s).await?;
    say(format_args!(
        "batch ingest: PostgreSQL {} events/s (COPY)",
        number(rate(events, pg_took))
    ));
    s.figures.push(throughput(
        "batch_ingest",
        &format!(
            "durable batch ingest ({} events a batch, {} writers)",
            s.args.batch, s.args.batch_clients
        ),
        tk_rate,
        rate(events, pg_took),
    ));
    Ok(Loaded {
        mean_bytes: mean_bytes.unwrap_or_else(|| s.workload.sample_json_bytes()),
        largest,
        index_catch_up,
    })
}

/// Gives Trailkeep's PostgreSQL engine, when it runs, what the plain table gets after each
/// load: fresh planner statistics (autovacuum would gather them within a minute or so; the
/// queries come sooner).
async fn analyze_engine(s: &Session) -> anyhow::Result<()> {
    if s.tk.as_ref().is_some_and(|tk| tk.store().is_some()) {
        s.pool[0]
            .execute(&format!(
                "VACUUM ANALYZE {}.events",
                crate::run::ENGINE_SCHEMA
            ))
            .await?;
    }
    Ok(())
}

/// Single-event ingest: one POST against one INSERT per event, from as many clients. Returns
/// how long Trailkeep's index took to cover the last one, and how many went to the largest
/// tenant.
pub async fn single_ingest(s: &mut Session) -> anyhow::Result<(Option<Duration>, u64)> {
    let (count, clients) = (s.single_events, s.args.clients as usize);
    let singles: Vec<Event> = (0..count).map(|n| s.workload.single(n)).collect();
    let (mut tk_rate, mut index_catch_up) = (None, None);
    if let Some(tk) = &s.tk {
        let bodies: Vec<Bytes> = singles
            .iter()
            .map(|e| {
                let mut out = Vec::with_capacity(600);
                e.to_json(&mut out);
                Bytes::from(out)
            })
            .collect();
        let bar = progress(count, "single events posted to Trailkeep");
        let tk_took = drive(clients, singles.len(), &bar, |_, i| {
            let (tenant, body) = (singles[i].tenant, bodies[i].clone());
            async move {
                tk.ingest_one(tenant, body).await?;
                Ok(1)
            }
        })
        .await?;
        bar.finish_and_clear();
        say(format_args!(
            "single-event ingest: Trailkeep {} events/s",
            number(rate(count, tk_took)),
        ));
        tk_rate = Some(rate(count, tk_took));
    }
    let bar = progress(count, "single events inserted into PostgreSQL");
    let (pool, tenants) = (&s.pool, &s.tenants);
    let pg_took = drive(clients, singles.len(), &bar, |w, i| {
        let event = &singles[i];
        async move {
            pool[w].insert(event, &tenants[event.tenant]).await?;
            Ok(1)
        }
    })
    .await?;
    bar.finish_and_clear();
    say(format_args!(
        "single-event ingest: PostgreSQL {} events/s",
        number(rate(count, pg_took))
    ));
    s.figures.push(throughput(
        "single_ingest",
        &format!("single-event ingest ({clients} concurrent clients)"),
        tk_rate,
        rate(count, pg_took),
    ));
    if let Some(tk) = &s.tk {
        index_catch_up = Some(tk.wait_indexed().await?);
    }
    s.pool[0].analyze().await?;
    analyze_engine(s).await?;
    let to_largest = singles.iter().filter(|e| e.tenant == 0).count() as u64;
    Ok((index_catch_up, to_largest))
}

/// The six query shapes, the same questions in the same order on both sides, one client.
/// Returns the queries whose row counts differed, and one PostgreSQL plan per shape.
pub async fn queries(s: &mut Session) -> anyhow::Result<(Vec<String>, Vec<Plan>)> {
    let pg = &s.pool[0];
    let mut disagreements = Vec::new();
    let mut plans = Vec::new();
    for shape in Shape::ALL {
        let list = cases(&s.workload, shape, s.args.runs);
        let bar = progress(2 * list.len() as u64, shape.key());
        let mut tk_times = Vec::with_capacity(list.len());
        let mut tk_hits = Vec::with_capacity(list.len());
        if let Some(tk) = &s.tk {
            for case in &list {
                let started = Instant::now();
                tk_hits.push(tk.query(0, case).await?);
                tk_times.push(started.elapsed());
                bar.inc(1);
            }
        }
        let mut pg_times = Vec::with_capacity(list.len());
        for (i, case) in list.iter().enumerate() {
            let started = Instant::now();
            let hits = pg.query(case).await?;
            pg_times.push(started.elapsed());
            bar.inc(1);
            if let Some(&tk) = tk_hits.get(i).filter(|&&tk| tk != hits) {
                disagreements.push(format!(
                    "{} run {i}: Trailkeep {tk} rows, PostgreSQL {hits} ({case:?})",
                    shape.key(),
                ));
            }
        }
        bar.finish_and_clear();
        plans.push(Plan {
            shape: format!("{}: {}", shape.key(), shape.describe()),
            sql: postgres::shown_sql(&s.args.table, &list[1]),
            plan: pg.explain(&list[1]).await?,
        });
        // Run 0 warmed the caches on each side.
        let tk_ms = (!tk_times.is_empty()).then(|| sorted(&tk_times[1..]));
        let pg_ms = sorted(&pg_times[1..]);
        let tk_at = |p: f64| tk_ms.as_ref().map(|ms| millis(percentile(ms, p)));
        for p in [50.0, 99.0] {
            s.figures.push(Figure {
                key: format!("query_{}_p{p:.0}_ms", shape.key()),
                label: format!("query p{p:.0}: {}", shape.describe()),
                unit: "ms",
                better: Better::Lower,
                trailkeep: tk_at(p),
                postgres: Some(millis(percentile(&pg_ms, p))),
            });
        }
        let shown = |ms: Option<f64>| ms.map_or("–".into(), |ms| format!("{ms:.2}"));
        say(format_args!(
            "query {}: p50 {} / {:.2} ms, p99 {} / {:.2} ms (Trailkeep / PostgreSQL)",
            shape.key(),
            shown(tk_at(50.0)),
            millis(percentile(&pg_ms, 50.0)),
            shown(tk_at(99.0)),
            millis(percentile(&pg_ms, 99.0)),
        ));
    }
    Ok((disagreements, plans))
}

/// The largest tenant, which holds `largest` events, exported by Trailkeep's export job as
/// NDJSON and as CSV (request, poll, download), beside PostgreSQL's `COPY ... TO STDOUT` of the
/// same rows as CSV.
pub async fn export(s: &mut Session, largest: u64) -> anyhow::Result<()> {
    let exports = match &s.tk {
        Some(tk) => Some((
            tk.export(0, "ndjson", None).await?,
            tk.export(0, "csv", Some(&csv::EXPORT_PATHS)).await?,
        )),
        None => None,
    };
    let mut out = Vec::new();
    let started = Instant::now();
    let pg_exported = s.pool[0].export_csv(&s.tenants[0], &mut out).await?;
    let pg_took = started.elapsed();
    let pg_rate = rate(pg_exported, pg_took);
    if pg_exported != largest {
        bail!(
            "PostgreSQL's export of {} should hold {largest} events, not {pg_exported}",
            s.tenants[0]
        );
    }
    say(format_args!(
        "export: PostgreSQL COPY {} events/s ({} MB of CSV)",
        number(pg_rate),
        out.len() / 1_000_000
    ));
    // Trailkeep's exports also hold the tenant's own audit events of the exports before them.
    for (name, exported, header) in exports
        .iter()
        .flat_map(|(ndjson, csv)| [("NDJSON", ndjson, 0), ("CSV", csv, 1)])
    {
        if exported.events < largest || exported.lines != exported.events + header {
            bail!(
                "the {name} export of {} wrote {} events in {} lines; the tenant holds at least {largest}",
                s.tenants[0],
                exported.events,
                exported.lines
            );
        }
        say(format_args!(
            "export: {} events as {name}; Trailkeep {} events/s ({} MB; the job {:.2} s, the download {:.2} s)",
            thousands(exported.events),
            number(rate(exported.events, exported.took)),
            exported.bytes / 1_000_000,
            exported.on_server.as_secs_f64(),
            (exported.took.saturating_sub(exported.on_server)).as_secs_f64(),
        ));
    }
    let label = |format: &str| {
        format!(
            "{format} export of the largest tenant ({} events; the job and the download, against COPY to CSV)",
            thousands(largest)
        )
    };
    let tk_rate = |pick: fn(&(Exported, Exported)) -> &Exported| {
        exports.as_ref().map(|e| {
            let exported = pick(e);
            rate(exported.events, exported.took)
        })
    };
    s.figures.push(throughput(
        "export_ndjson",
        &label("NDJSON"),
        tk_rate(|e| &e.0),
        pg_rate,
    ));
    s.figures.push(throughput(
        "export_csv",
        &label("CSV"),
        tk_rate(|e| &e.1),
        pg_rate,
    ));
    Ok(())
}

/// A compliance summary PDF of the largest tenant over the whole workload (Trailkeep alone):
/// its time and the server's memory while it is made.
pub async fn report(s: &mut Session) -> anyhow::Result<()> {
    let Some(tk) = &s.tk else {
        return Ok(());
    };
    let day = |us: i64| crate::workload::rfc3339(us)[..10].to_owned();
    // The workload's span, to the day of the run (later phases' events are in it too).
    let from = day(s.workload.now_us - (SPAN_DAYS + 1) * DAY_US);
    let to = day(trailkeep_event::Timestamp::now().as_micros());
    let reported = tk.report(0, &from, &to).await?;
    say(format_args!(
        "report: a compliance summary PDF of {} events in {:.1} s (the job {:.1} s, {} KB); anonymous memory {} MiB before, {} MiB at most while it ran",
        thousands(reported.period_events),
        reported.took.as_secs_f64(),
        reported.on_server.as_secs_f64(),
        reported.bytes / 1_000,
        reported.anon_before >> 20,
        reported.anon_peak >> 20,
    ));
    s.figures.extend([
        alone(
            "report_pdf_s",
            &format!(
                "compliance summary PDF of the largest tenant ({} events; the job and the download)",
                thousands(reported.period_events)
            ),
            "s",
            Better::Lower,
            reported.took.as_secs_f64(),
        ),
        alone(
            "report_peak_anon_mib",
            "the server's anonymous memory at its highest while the report was made",
            "MiB",
            Better::Lower,
            reported.anon_peak as f64 / f64::from(1 << 20),
        ),
    ]);
    Ok(())
}

/// Days of the retention phase's policy: half the workload's span.
const RETENTION_DAYS: u32 = (SPAN_DAYS / 2) as u32;

/// With `--retention`: the events older than [`RETENTION_DAYS`] removed on both sides
/// (Trailkeep: a policy and a retention run per tenant, which leave tombstones and give the
/// space back; PostgreSQL: an update emptying the same columns, then VACUUM), timed, with the
/// bytes on disk before and after.
pub async fn retention(s: &mut Session) -> anyhow::Result<()> {
    if !s.args.retention {
        return Ok(());
    }
    let (_, pg_before) = s.pool[0].size().await?;
    let started = Instant::now();
    let pg_removed = s.pool[0].retain(RETENTION_DAYS).await?;
    let pg_took = started.elapsed();
    let (_, pg_after) = s.pool[0].size().await?;
    let mib = |bytes: u64| bytes as f64 / f64::from(1 << 20);
    let Some(tk) = &s.tk else {
        say(format_args!(
            "retention: PostgreSQL emptied {} rows in {:.1} s; {:.0} MiB before, {:.0} MiB after",
            thousands(pg_removed),
            pg_took.as_secs_f64(),
            mib(pg_before),
            mib(pg_after)
        ));
        return Ok(());
    };
    tk.wait_indexed().await?;
    let tk_before = store_bytes(s).await?;
    let bar = ProgressBar::new_spinner().with_message("retention runs");
    bar.enable_steady_tick(Duration::from_millis(200));
    let retained = tk.retain(&s.tenants, RETENTION_DAYS).await?;
    bar.finish_and_clear();
    tk.wait_indexed().await?;
    let tk_after = store_bytes(s).await?;
    say(format_args!(
        "retention ({RETENTION_DAYS} days): Trailkeep made {} tombstones in {:.1} s, {:.0} MiB on disk before, {:.0} MiB after; PostgreSQL emptied {} rows in {:.1} s, {:.0} MiB before, {:.0} MiB after",
        thousands(retained.removed),
        retained.took.as_secs_f64(),
        mib(tk_before),
        mib(tk_after),
        thousands(pg_removed),
        pg_took.as_secs_f64(),
        mib(pg_before),
        mib(pg_after),
    ));
    let both = |key: &str, label: String, unit: &'static str, tk: f64, pg: f64| Figure {
        key: key.to_owned(),
        label,
        unit,
        better: Better::Lower,
        trailkeep: Some(tk),
        postgres: Some(pg),
    };
    s.figures.extend([
        both(
            "retention_s",
            format!(
                "retention removing the events older than {RETENTION_DAYS} days ({} Trailkeep, {} PostgreSQL)",
                thousands(retained.removed),
                thousands(pg_removed)
            ),
            "s",
            retained.took.as_secs_f64(),
            pg_took.as_secs_f64(),
        ),
        both(
            "retention_disk_before_mib",
            "bytes on disk before retention".into(),
            "MiB",
            mib(tk_before),
            mib(pg_before),
        ),
        both(
            "retention_disk_after_mib",
            "bytes on disk after retention (and its vacuum)".into(),
            "MiB",
            mib(tk_after),
            mib(pg_after),
        ),
    ]);
    Ok(())
}

/// Trailkeep's store's bytes: the engine's schema on PostgreSQL, or the data directory without
/// the export phase's files (under `exports/`), which are not the store.
async fn store_bytes(s: &Session) -> anyhow::Result<u64> {
    let on_postgres = s.tk.as_ref().and_then(|tk| tk.store()).is_some();
    Ok(if on_postgres {
        s.pool[0].schema_bytes(crate::run::ENGINE_SCHEMA).await?
    } else {
        dir_bytes(&s.data_dir) - dir_bytes(&s.data_dir.join("exports"))
    })
}

/// Peak memory, `kill -9` and recovery, SIGTERM, bytes on disk (both sides) and `trailkeep
/// verify`. Leaves the server stopped.
pub async fn trailkeep_alone(s: &mut Session) -> anyhow::Result<()> {
    let pg_total = s.args.events + s.single_events;
    let (pg_rows, pg_bytes) = s.pool[0].size().await?;
    if pg_rows != pg_total {
        bail!("PostgreSQL holds {pg_rows} rows, {pg_total} were written");
    }
    let pg_per_event = pg_bytes as f64 / pg_total as f64;
    let disk = |trailkeep| Figure {
        key: "disk_bytes_per_event".into(),
        label: "on-disk bytes per event (data, indexes, ledger)".into(),
        unit: "bytes",
        better: Better::Lower,
        trailkeep,
        postgres: Some(pg_per_event),
    };
    let Some(tk) = &mut s.tk else {
        say(format_args!("{pg_per_event:.0} bytes per event on disk"));
        s.figures.push(disk(None));
        return Ok(());
    };
    let total = pg_total + s.sustained_events;
    let rss = tk.peak_rss()?;
    let anon = tk.peak_anon();
    let recovery = tk.crash_and_recover().await?;
    tk.stop()?;
    let store = tk.store().cloned();
    let tk_bytes = store_bytes(s).await?;
    let bar = ProgressBar::new_spinner().with_message("trailkeep verify");
    bar.enable_steady_tick(Duration::from_millis(200));
    let verified = trailkeep::verify(&s.binary, &s.data_dir, store.as_ref())?;
    bar.finish_and_clear();
    say(format_args!(
        "verify: {} events in {:.1} s; peak memory {} MiB ({} MiB anonymous); {:.0} / {:.0} bytes per event on disk; kill -9 to ready {:.2} s",
        thousands(total),
        verified.as_secs_f64(),
        rss >> 20,
        anon >> 20,
        tk_bytes as f64 / total as f64,
        pg_per_event,
        recovery.as_secs_f64(),
    ));
    s.figures.push(disk(Some(tk_bytes as f64 / total as f64)));
    s.figures.extend([
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
            "peak_anon_mib",
            "of which anonymous at its highest (the rest: mapped index files, page cache)",
            "MiB",
            Better::Lower,
            anon as f64 / f64::from(1 << 20),
        ),
        alone(
            "crash_recovery_s",
            "kill -9 to /readyz answering 200",
            "s",
            Better::Lower,
            recovery.as_secs_f64(),
        ),
    ]);
    Ok(())
}

/// The index catch-up figures, measured during the ingest phases (none when PostgreSQL ran
/// alone).
pub fn index_catch_up(
    s: &mut Session,
    after_batches: Option<Duration>,
    after_singles: Option<Duration>,
) {
    let (Some(after_batches), Some(after_singles)) = (after_batches, after_singles) else {
        return;
    };
    s.figures.extend([
        alone(
            "index_catch_up_s",
            "index catch-up after the last batch",
            "s",
            Better::Lower,
            after_batches.as_secs_f64(),
        ),
        alone(
            "index_catch_up_single_s",
            "index catch-up after the last single event",
            "s",
            Better::Lower,
            after_singles.as_secs_f64(),
        ),
    ]);
}

/// How far the index falls behind under a steady load, on Trailkeep alone (PostgreSQL's
/// indexes are updated in the writing transaction): `--sustained-rate` events a second for
/// `--sustained-seconds`, one NDJSON batch every [`TICK`] from as many senders as it takes to
/// keep the schedule, while `/metrics` is sampled every [`SAMPLE`]. A sample's lag is the time
/// since the oldest acknowledged event the index did not yet cover was acknowledged.
pub async fn sustained(s: &mut Session) -> anyhow::Result<()> {
    let seconds = s.args.sustained_seconds;
    let Some(tk) = s.tk.as_ref().filter(|_| seconds > 0) else {
        return Ok(());
    };
    tk.wait_indexed().await?;
    let per_request = (s.args.sustained_rate / TICKS_PER_SECOND).max(1) as usize;
    let requests = seconds * TICKS_PER_SECOND;
    let bodies: Vec<(usize, Bytes)> = (0..requests)
        .map(|k| {
            let (tenant, events) = s.workload.sustained_batch(k, per_request);
            let mut body = Vec::with_capacity(events.len() * 600);
            for event in &events {
                ndjson_line(event, &mut body);
            }
            (tenant, Bytes::from(body))
        })
        .collect();
    let total = requests * per_request as u64;
    let bar = progress(total, "events posted at a steady rate");
    let acks = std::sync::Mutex::new(Vec::with_capacity(requests as usize));
    let acked = || acks.lock().expect("no sender panicked").len() as u64 * per_request as u64;
    let (next, done) = (AtomicUsize::new(0), AtomicBool::new(false));
    let start = Instant::now() + SAMPLE;
    let sender = |_| async {
        loop {
            let k = next.fetch_add(1, Ordering::Relaxed);
            let Some((tenant, body)) = bodies.get(k) else {
                return anyhow::Ok(());
            };
            tokio::time::sleep_until((start + TICK * k as u32).into()).await;
            tk.ingest(*tenant, body.clone(), per_request).await?;
            let now = Instant::now();
            acks.lock().expect("no sender panicked").push(now);
            bar.inc(per_request as u64);
        }
    };
    let senders = async {
        let all = futures_util::future::try_join_all((0..SENDERS).map(sender)).await;
        done.store(true, Ordering::Relaxed);
        all
    };
    let sampler = async {
        tokio::time::sleep_until(start.into()).await;
        let mut samples = Vec::new();
        while !done.load(Ordering::Relaxed) {
            let acked_then = acked();
            let lag = tk.index_lag().await?;
            samples.push((Instant::now(), acked_then, lag));
            tokio::time::sleep(SAMPLE).await;
        }
        anyhow::Ok(samples)
    };
    let (sent, samples) = tokio::join!(senders, sampler);
    sent?;
    let samples = samples?;
    let took = start.elapsed();
    bar.finish_and_clear();
    let caught_up = tk.wait_indexed().await?;
    s.sustained_events = total;

    let mut acks = acks.into_inner().expect("no sender panicked");
    acks.sort();
    let mut lags: Vec<Duration> = samples
        .iter()
        .map(|&(at, acked_then, lag)| {
            // The index covers the first `acked_then - lag` acknowledged events (or more: the
            // lag also counts events committed but not yet acknowledged); the next one was
            // acknowledged at `acks[covered / per_request]`.
            let covered = acked_then.saturating_sub(lag) as usize / per_request;
            match acks.get(covered) {
                Some(&oldest) if lag > 0 && covered < acked_then as usize / per_request => {
                    at.saturating_duration_since(oldest)
                }
                _ => Duration::ZERO,
            }
        })
        .collect();
    lags.sort();
    let offered = s.args.sustained_rate as f64;
    let achieved = rate(total, took);
    let (median, worst) = (
        percentile(&lags, 50.0).as_secs_f64(),
        lags.last().copied().unwrap_or_default().as_secs_f64(),
    );
    say(format_args!(
        "sustained load: {} events/s offered, {} acknowledged; index lag median {median:.2} s, worst {worst:.2} s over {} samples; caught up {:.2} s after the last",
        number(offered),
        number(achieved),
        lags.len(),
        caught_up.as_secs_f64()
    ));
    let at_rate = format!("{} events/s for {seconds} s", number(offered));
    s.figures.extend([
        alone(
            "sustained_events_per_s",
            &format!("steady load offered at {at_rate}: acknowledged"),
            "events/s",
            Better::Higher,
            achieved,
        ),
        alone(
            "index_lag_median_s",
            "searchable after acknowledgement under that load, median sample",
            "s",
            Better::Lower,
            median,
        ),
        alone(
            "index_lag_max_s",
            "searchable after acknowledgement under that load, worst sample",
            "s",
            Better::Lower,
            worst,
        ),
    ]);
    Ok(())
}

/// The sustained phase's schedule: one batch every `TICK`.
const TICK: Duration = Duration::from_millis(10);
/// Batches a second at that schedule.
const TICKS_PER_SECOND: u64 = 100;
/// Concurrent senders of the sustained phase: enough to keep the schedule while the server
/// keeps up; when it does not, the schedule slips and the achieved rate says so.
const SENDERS: usize = 16;
/// How often the sustained phase reads the index's lag.
const SAMPLE: Duration = Duration::from_millis(100);

/// One event as an NDJSON line: its JSON and a newline.
fn ndjson_line(event: &Event, out: &mut Vec<u8>) {
    event.to_json(out);
    out.push(b'\n');
}

/// Generates every batch and renders it with `row` (event, tenant name, output).
fn render(workload: &Workload, what: &str, row: impl Fn(&Event, &str, &mut Vec<u8>)) -> Rendered {
    let bar = progress(workload.total, &format!("events rendered as {what}"));
    let batches = (0..workload.batches())
        .map(|b| {
            let (tenant, events) = workload.batch(b);
            let name = &workload.tenants[tenant].name;
            let mut body = Vec::with_capacity(events.len() * 600);
            for event in &events {
                row(event, name, &mut body);
            }
            bar.inc(events.len() as u64);
            (tenant, events.len(), Bytes::from(body))
        })
        .collect();
    bar.finish_and_clear();
    batches
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

fn throughput(key: &str, label: &str, trailkeep: Option<f64>, postgres: f64) -> Figure {
    Figure {
        key: format!("{key}_events_per_s"),
        label: label.to_owned(),
        unit: "events/s",
        better: Better::Higher,
        trailkeep,
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
