//! The results: figures with both columns and their ratio, the machine they were measured on,
//! printed as a markdown table and written as JSON.

use std::fmt::Write;
use std::time::Duration;

use serde::Serialize;

/// Which way is better for a figure.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Better {
    /// Throughputs.
    Higher,
    /// Latencies, memory, bytes, times.
    Lower,
}

/// One measured figure.
#[derive(Debug, Clone, Serialize)]
pub struct Figure {
    /// Stable name in the JSON.
    pub key: String,
    /// What it is, for people.
    pub label: String,
    /// Its unit.
    pub unit: &'static str,
    /// Which way is better.
    pub better: Better,
    /// Trailkeep's value.
    pub trailkeep: Option<f64>,
    /// PostgreSQL's value, where it does the same work.
    pub postgres: Option<f64>,
}

impl Figure {
    /// How many times better Trailkeep is than PostgreSQL (above 1: Trailkeep is better).
    pub fn advantage(&self) -> Option<f64> {
        let (t, p) = (self.trailkeep?, self.postgres?);
        if t <= 0.0 || p <= 0.0 {
            return None;
        }
        Some(match self.better {
            Better::Higher => t / p,
            Better::Lower => p / t,
        })
    }
}

/// The machine and the software measured.
#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    /// Logical cores.
    pub cores: usize,
    /// Total memory, bytes.
    pub memory_bytes: u64,
    /// CPU model.
    pub cpu: String,
    /// Kernel release.
    pub kernel: String,
    /// `trailkeep --version`.
    pub trailkeep: String,
    /// PostgreSQL's `server_version`.
    pub postgres: String,
    /// PostgreSQL's durability and memory settings.
    pub postgres_settings: String,
}

impl Machine {
    /// Reads what `/proc` says about this machine; the versions are filled in by the caller.
    pub fn probe() -> Self {
        let read = |path: &str| std::fs::read_to_string(path).unwrap_or_default();
        let cpuinfo = read("/proc/cpuinfo");
        let meminfo = read("/proc/meminfo");
        Self {
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
            memory_bytes: meminfo
                .lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
                .map_or(0, |kib| kib * 1024),
            cpu: cpuinfo
                .lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map_or_else(|| "unknown".into(), |(_, m)| m.trim().to_owned()),
            kernel: read("/proc/sys/kernel/osrelease").trim().to_owned(),
            trailkeep: String::new(),
            postgres: String::new(),
            postgres_settings: String::new(),
        }
    }
}

/// Everything a run found.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The command line that produced it.
    pub command: String,
    /// When it ran (RFC 3339).
    pub started_at: String,
    /// Where it ran.
    pub machine: Machine,
    /// The workload's size and shape.
    pub workload: WorkloadSummary,
    /// The figures, in table order.
    pub figures: Vec<Figure>,
    /// Whether PostgreSQL ran alone (`--postgres-only`): no Trailkeep figures, no cross-check.
    pub postgres_only: bool,
    /// Queries whose result count differed between the two systems (they hold the same data,
    /// so this should be empty).
    pub disagreements: Vec<String>,
    /// PostgreSQL's SQL and `EXPLAIN ANALYZE` for one query of each shape.
    pub plans: Vec<Plan>,
    /// The whole run, seconds.
    pub wall_seconds: f64,
}

/// What was loaded.
#[derive(Debug, Clone, Serialize)]
pub struct WorkloadSummary {
    /// Events loaded in batches.
    pub batch_events: u64,
    /// Events posted one at a time.
    pub single_events: u64,
    /// Events per batch.
    pub batch_size: usize,
    /// Concurrent batch writers (HTTP clients, PostgreSQL connections).
    pub batch_clients: usize,
    /// Concurrent single-event writers.
    pub single_clients: usize,
    /// Tenants.
    pub tenants: usize,
    /// Events of the largest tenant, which the queries and the export read.
    pub largest_tenant_events: u64,
    /// Mean size of an event as sent (JSON), bytes.
    pub mean_event_bytes: f64,
    /// Timed runs per query shape.
    pub runs: u32,
    /// The seed.
    pub seed: u64,
}

/// One query's plan.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    /// The shape.
    pub shape: String,
    /// The SQL with its parameters written in.
    pub sql: String,
    /// `EXPLAIN (ANALYZE, COSTS OFF)`.
    pub plan: String,
}

impl Report {
    /// The table: one row a figure, both columns and Trailkeep's advantage.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "| figure | unit | Trailkeep | PostgreSQL | Trailkeep ÷ PostgreSQL (> 1: Trailkeep better) |"
        );
        let _ = writeln!(out, "| --- | --- | ---: | ---: | ---: |");
        for f in &self.figures {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} |",
                f.label,
                f.unit,
                f.trailkeep.map_or("–".into(), number),
                f.postgres.map_or("–".into(), number),
                f.advantage().map_or("–".into(), |a| format!("{a:.2}×")),
            );
        }
        out
    }

    /// PostgreSQL's query plans in markdown: the SQL and the plan of each shape.
    pub fn plans_markdown(&self) -> String {
        let mut out = String::new();
        for plan in &self.plans {
            let _ = write!(
                out,
                "### {}\n\n```sql\n{}\n```\n\n```\n{}```\n\n",
                plan.shape, plan.sql, plan.plan
            );
        }
        out
    }

    /// The whole report in markdown: the table, the workload, the machine and the plans.
    pub fn markdown(&self) -> String {
        let w = &self.workload;
        let m = &self.machine;
        let mut out = String::new();
        let _ = writeln!(out, "{}", self.table());
        let _ = writeln!(
            out,
            "Workload: {} events in batches of {} ({} concurrent writers) and {} single events ({} concurrent clients), {} tenants (the largest, which every query and the export read, holds {}), mean event {:.0} bytes as JSON, {} timed runs per query shape, seed {}.",
            thousands(w.batch_events),
            w.batch_size,
            w.batch_clients,
            thousands(w.single_events),
            w.single_clients,
            w.tenants,
            thousands(w.largest_tenant_events),
            w.mean_event_bytes,
            w.runs,
            w.seed,
        );
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "Machine: {} cores ({}), {:.1} GiB, Linux {}; {}; PostgreSQL {} ({}). Run took {:.0} s; started {}.",
            m.cores,
            m.cpu,
            m.memory_bytes as f64 / (1u64 << 30) as f64,
            m.kernel,
            m.trailkeep,
            m.postgres,
            m.postgres_settings,
            self.wall_seconds,
            self.started_at,
        );
        let _ = writeln!(out);
        if self.postgres_only {
            let _ = writeln!(
                out,
                "PostgreSQL ran alone (--postgres-only): no answers were cross-checked."
            );
        } else if self.disagreements.is_empty() {
            let _ = writeln!(
                out,
                "Both systems returned the same number of rows for every query."
            );
        } else {
            let _ = writeln!(
                out,
                "Queries whose row counts differed ({}):",
                self.disagreements.len()
            );
            for d in &self.disagreements {
                let _ = writeln!(out, "- {d}");
            }
        }
        out
    }
}

/// A figure for a table: three significant digits, thousands grouped.
pub fn number(x: f64) -> String {
    if x >= 1000.0 {
        thousands(x.round() as u64)
    } else if x >= 100.0 {
        format!("{x:.0}")
    } else if x >= 10.0 {
        format!("{x:.1}")
    } else {
        format!("{x:.2}")
    }
}

/// `1234567` as `1,234,567`.
pub fn thousands(n: u64) -> String {
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

/// The nearest-rank percentile of sorted samples.
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn figure(better: Better, t: f64, p: f64) -> Figure {
        Figure {
            key: "k".into(),
            label: "l".into(),
            unit: "u",
            better,
            trailkeep: Some(t),
            postgres: Some(p),
        }
    }

    #[test]
    fn advantage_is_above_one_when_trailkeep_is_better_either_way() {
        assert_eq!(figure(Better::Higher, 200.0, 50.0).advantage(), Some(4.0));
        assert_eq!(figure(Better::Lower, 2.0, 8.0).advantage(), Some(4.0));
        assert_eq!(figure(Better::Lower, 8.0, 2.0).advantage(), Some(0.25));
        let mut alone = figure(Better::Higher, 1.0, 1.0);
        alone.postgres = None;
        assert_eq!(alone.advantage(), None);
    }

    #[test]
    fn percentiles_use_the_nearest_rank() {
        let samples: Vec<Duration> = (1..=200).map(Duration::from_millis).collect();
        assert_eq!(percentile(&samples, 50.0), Duration::from_millis(100));
        assert_eq!(percentile(&samples, 99.0), Duration::from_millis(198));
        assert_eq!(percentile(&[], 50.0), Duration::ZERO);
    }

    #[test]
    fn numbers_are_readable() {
        assert_eq!(number(1_234_567.4), "1,234,567");
        assert_eq!(number(123.4), "123");
        assert_eq!(number(12.34), "12.3");
        assert_eq!(number(1.234), "1.23");
        assert_eq!(thousands(999), "999");
    }
}
