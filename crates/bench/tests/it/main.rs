//! Black-box test of `trailkeep-bench`: a small run end to end against the real PostgreSQL
//! server and the `trailkeep` binary built for the tests, checking that every figure is
//! measured, that both systems return the same rows for every query, and that the reports are
//! written.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

const BENCH: &str = env!("CARGO_BIN_EXE_trailkeep-bench");

/// The debug `trailkeep` beside this test's binaries. `cargo test --workspace` builds it for the
/// CLI's own tests before any test runs; only when it is missing (`cargo test -p bench` on a
/// fresh tree) is it built here. A nested build would otherwise resolve features for the CLI
/// alone and rebuild half the dependency graph.
fn trailkeep_binary() -> PathBuf {
    let binary = PathBuf::from(BENCH)
        .parent()
        .expect("the bench binary has a folder")
        .join("trailkeep");
    if !binary.exists() {
        let status = Command::new(env!("CARGO"))
            .args([
                "build",
                "--quiet",
                "-p",
                "trailkeep-cli",
                "--bin",
                "trailkeep",
            ])
            .status()
            .expect("run cargo build");
        assert!(status.success(), "cargo build -p trailkeep-cli failed");
    }
    assert!(binary.exists(), "{} was not built", binary.display());
    binary
}

/// Whether PostgreSQL answers on 127.0.0.1:5432; under `CI=true` its absence is a failure.
fn postgres_is_up() -> bool {
    let up = std::net::TcpStream::connect_timeout(
        &"127.0.0.1:5432".parse().expect("an address"),
        Duration::from_secs(2),
    )
    .is_ok();
    if !up {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "PostgreSQL is not listening on 127.0.0.1:5432, and CI needs it"
        );
        eprintln!("skipped: PostgreSQL is not listening on 127.0.0.1:5432");
    }
    up
}

/// Figures PostgreSQL has no counterpart for.
const TRAILKEEP_ALONE: [&str; 11] = [
    "verify",
    "report_pdf_s",
    "report_peak_anon_mib",
    "peak_rss_mib",
    "peak_anon_mib",
    "crash_recovery_s",
    "sustained_events_per_s",
    "index_lag_median_s",
    "index_lag_max_s",
    "index_catch_up_s",
    "index_catch_up_single_s",
];

/// Figures that may be zero: an index that kept up lags by nothing.
const MAY_BE_ZERO: [&str; 2] = ["index_lag_median_s", "index_lag_max_s"];

/// The report's figures and their keys, which must include every one of `wanted`.
fn figures_with<'a>(report: &'a Value, wanted: &[&str]) -> (&'a [Value], Vec<&'a str>) {
    let figures = report["figures"].as_array().expect("figures");
    let keys: Vec<&str> = figures.iter().filter_map(|f| f["key"].as_str()).collect();
    for key in wanted {
        assert!(keys.contains(key), "no figure {key} in {keys:?}");
    }
    (figures, keys)
}

/// Runs the bench on a small workload with `extra` arguments; returns its report and stdout.
fn small_run(table: &str, extra: &[&str]) -> (Value, String, tempfile::TempDir) {
    let out = tempfile::tempdir().expect("a temporary folder");
    let output = Command::new(BENCH)
        .args([
            "--events",
            "3000",
            "--batch",
            "250",
            "--batch-clients",
            "2",
            "--single-events",
            "300",
            "--clients",
            "8",
            "--runs",
            "4",
            "--tenants",
            "5",
            "--sustained-rate",
            "2000",
            "--sustained-seconds",
            "2",
            "--table",
            table,
        ])
        .args(extra)
        .arg("--trailkeep")
        .arg(trailkeep_binary())
        .arg("--out")
        .arg(out.path())
        .env_remove("TRAILKEEP_BENCH_POSTGRES")
        .output()
        .expect("run trailkeep-bench");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    let report: Value = serde_json::from_slice(
        &std::fs::read(out.path().join("report.json")).expect("report.json"),
    )
    .expect("report.json is JSON");
    (report, stdout, out)
}

#[test]
fn a_small_run_measures_every_figure_on_both_systems_with_the_same_answers() {
    if !postgres_is_up() {
        return;
    }
    let (report, stdout, out) = small_run("trailkeep_bench_it", &["--retention"]);
    let (figures, _) = figures_with(
        &report,
        &[
            "retention_s",
            "retention_disk_before_mib",
            "retention_disk_after_mib",
            "batch_ingest_events_per_s",
            "single_ingest_events_per_s",
            "query_time_page_p50_ms",
            "query_actor_p99_ms",
            "query_action_prefix_p50_ms",
            "query_entity_history_p99_ms",
            "query_full_text_p50_ms",
            "query_stats_month_p99_ms",
            "query_histogram_week_p50_ms",
            "export_ndjson_events_per_s",
            "export_csv_events_per_s",
            "disk_bytes_per_event",
            "verify",
            "peak_rss_mib",
            "peak_anon_mib",
            "crash_recovery_s",
            "sustained_events_per_s",
            "index_lag_max_s",
            "report_pdf_s",
            "report_peak_anon_mib",
        ],
    );
    for figure in figures {
        let t = figure["trailkeep"].as_f64().expect("a Trailkeep value");
        let key = figure["key"].as_str().unwrap();
        let least = if MAY_BE_ZERO.contains(&key) {
            0.0
        } else {
            f64::MIN_POSITIVE
        };
        assert!(t >= least && t.is_finite(), "{figure}");
        if !TRAILKEEP_ALONE.contains(&key) {
            let p = figure["postgres"].as_f64().expect("a PostgreSQL value");
            assert!(p > 0.0 && p.is_finite(), "{figure}");
            // The table prints the same figure with its ratio.
            assert!(
                stdout.contains(figure["label"].as_str().unwrap()),
                "the table lacks {figure}"
            );
        }
    }
    assert_eq!(
        report["disagreements"].as_array().map(Vec::len),
        Some(0),
        "both systems hold the same events, so they must give the same answers: {}",
        report["disagreements"]
    );
    let w = &report["workload"];
    assert_eq!(w["batch_events"], 3000);
    assert_eq!(w["single_events"], 300);
    let mean = w["mean_event_bytes"].as_f64().unwrap();
    assert!((400.0..700.0).contains(&mean), "mean event {mean} bytes");
    assert!(
        report["machine"]["postgres"]
            .as_str()
            .is_some_and(|v| !v.is_empty())
    );
    // One plan for each of the seven query shapes.
    assert_eq!(report["plans"].as_array().map(Vec::len), Some(7));
    for plan in report["plans"].as_array().unwrap() {
        assert!(
            plan["plan"].as_str().unwrap().contains("actual time="),
            "not EXPLAIN ANALYZE output: {plan}"
        );
    }
    assert!(
        std::fs::read_to_string(out.path().join("plans.md"))
            .expect("plans.md")
            .contains("actual time="),
    );
    assert!(stdout.contains("| figure |"), "{stdout}");
    // Without --keep, the bench removes what it made.
    assert!(!out.path().join("trailkeep-data").exists());
}

#[test]
fn postgres_only_measures_postgres_alone_on_the_same_workload() {
    if !postgres_is_up() {
        return;
    }
    let (report, stdout, out) = small_run("trailkeep_bench_it_pg", &["--postgres-only"]);
    let (figures, keys) = figures_with(
        &report,
        &[
            "batch_ingest_events_per_s",
            "single_ingest_events_per_s",
            "query_time_page_p50_ms",
            "query_stats_month_p99_ms",
            "export_csv_events_per_s",
            "disk_bytes_per_event",
        ],
    );
    for figure in figures {
        assert!(
            figure["trailkeep"].is_null(),
            "Trailkeep was not run: {figure}"
        );
        let p = figure["postgres"].as_f64().expect("a PostgreSQL value");
        assert!(p > 0.0 && p.is_finite(), "{figure}");
    }
    for key in TRAILKEEP_ALONE {
        assert!(!keys.contains(&key), "{key} is Trailkeep's alone");
    }
    assert_eq!(report["postgres_only"], true);
    assert!(stdout.contains("PostgreSQL ran alone"), "{stdout}");
    assert!(
        report["machine"]["postgres_settings"]
            .as_str()
            .is_some_and(|s| s.contains("shared_buffers=") && s.contains("max_wal_size=")),
        "{}",
        report["machine"]
    );
    assert!(!out.path().join("trailkeep-data").exists());
}

#[test]
fn the_postgres_engine_runs_every_phase_on_two_nodes_with_the_same_answers() {
    if !postgres_is_up() {
        return;
    }
    let (report, _, out) = small_run(
        "trailkeep_bench_it_engine",
        &["--engine", "postgres", "--nodes", "2", "--retention"],
    );
    // The engine has no query index: its lag and catch-up figures are zero, the rest measured.
    let measured = [
        "retention_s",
        "retention_disk_before_mib",
        "retention_disk_after_mib",
        "batch_ingest_events_per_s",
        "single_ingest_events_per_s",
        "query_time_page_p50_ms",
        "query_full_text_p99_ms",
        "query_stats_month_p50_ms",
        "query_histogram_week_p50_ms",
        "export_ndjson_events_per_s",
        "disk_bytes_per_event",
        "verify",
        "crash_recovery_s",
    ];
    let (figures, _) = figures_with(&report, &measured);
    for figure in figures
        .iter()
        .filter(|f| measured.contains(&f["key"].as_str().unwrap_or("")))
    {
        let t = figure["trailkeep"].as_f64().expect("a Trailkeep value");
        assert!(t > 0.0 && t.is_finite(), "{figure}");
    }
    assert_eq!(
        report["disagreements"].as_array().map(Vec::len),
        Some(0),
        "the engine holds the same events as the table: {}",
        report["disagreements"]
    );
    assert!(
        report["machine"]["trailkeep"]
            .as_str()
            .is_some_and(|t| t.contains("PostgreSQL engine (2 nodes)")),
        "{}",
        report["machine"]
    );
    assert!(!out.path().join("trailkeep-data").exists());
}
