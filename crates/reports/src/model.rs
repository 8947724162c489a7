//! A report as gathered: what every format shows, in the same order with the same numbers.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use trailkeep_event::Timestamp;

use crate::spec::{Period, ReportType};

/// A report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// Its id (the job's).
    pub id: String,
    /// Which report.
    pub report_type: ReportType,
    /// Its title.
    pub title: String,
    /// The tenant it is about.
    pub tenant: String,
    /// The time it covers.
    pub period: Period,
    /// When it was made.
    pub generated_at: Timestamp,
    /// What made it (`trailkeep <version>`).
    pub generator: String,
    /// Its sections, in order.
    pub sections: Vec<Section>,
    /// The ledger's word on the trail it was made from.
    pub attestation: Attestation,
}

impl Report {
    /// The figure `id` of section `section`, when there is one.
    pub fn figure(&self, section: &str, id: &str) -> Option<&Figure> {
        self.section(section)?.figures.iter().find(|f| f.id == id)
    }

    /// The section `id`, when there is one.
    pub fn section(&self, id: &str) -> Option<&Section> {
        self.sections.iter().find(|s| s.id == id)
    }
}

/// One part of a report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Section {
    /// Its id (`activity`, `sign_ins`, ...).
    pub id: String,
    /// Its heading.
    pub title: String,
    /// The controls it evidences (`SOC 2 CC6.1`, ...).
    pub controls: Vec<String>,
    /// What it shows, in words.
    pub text: String,
    /// Its key numbers.
    pub figures: Vec<Figure>,
    /// Its charts.
    pub charts: Vec<Chart>,
    /// Its tables.
    pub tables: Vec<Table>,
}

impl Section {
    /// An empty section.
    pub fn new(id: &str, title: &str, controls: &[&str], text: impl Into<String>) -> Self {
        Section {
            id: id.to_owned(),
            title: title.to_owned(),
            controls: controls.iter().map(|c| (*c).to_owned()).collect(),
            text: text.into(),
            figures: Vec::new(),
            charts: Vec::new(),
            tables: Vec::new(),
        }
    }

    /// Adds a figure.
    pub fn figure(mut self, id: &str, label: &str, value: u64) -> Self {
        self.figures.push(Figure {
            id: id.to_owned(),
            label: label.to_owned(),
            value,
        });
        self
    }

    /// Adds a chart.
    pub fn chart(mut self, chart: Chart) -> Self {
        self.charts.push(chart);
        self
    }

    /// Adds a table.
    pub fn table(mut self, table: Table) -> Self {
        self.tables.push(table);
        self
    }
}

/// A key number.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Figure {
    /// Its id within the section.
    pub id: String,
    /// What it counts.
    pub label: String,
    /// The count.
    pub value: u64,
}

/// How a chart is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChartKind {
    /// Columns over time, series stacked.
    Columns,
    /// Horizontal bars, one per label, largest first.
    Bars,
}

/// A chart: values per label, in one or more series.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Chart {
    /// Its id within the section.
    pub id: String,
    /// Its caption.
    pub title: String,
    /// How it is drawn.
    pub kind: ChartKind,
    /// The labels (days, actions, ...).
    pub labels: Vec<String>,
    /// The series, each with a value per label.
    pub series: Vec<Series>,
}

/// One series of a chart.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Series {
    /// Its name in the legend.
    pub name: String,
    /// A value per label.
    pub values: Vec<u64>,
}

/// A table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Table {
    /// Its id within the section.
    pub id: String,
    /// Its caption.
    pub title: String,
    /// The column headings.
    pub columns: Vec<String>,
    /// The rows: each cell a string or a number.
    pub rows: Vec<Vec<Value>>,
    /// How many rows there were in all (more than `rows` holds when it was cut).
    pub total_rows: u64,
}

/// What the ledger says about the trail the report was made from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Attestation {
    /// The tenant's signed checkpoint the report was made at (a C2SP signed note).
    pub checkpoint: String,
    /// Its tree size.
    pub tree_size: u64,
    /// Its root hash, standard base64.
    pub root: String,
    /// The ledger's verification key (C2SP vkey).
    pub vkey: String,
    /// SHA-256 of the vkey, lowercase hex: what a reader compares with the key they hold.
    pub key_fingerprint: String,
    /// The tenant's previous report's checkpoint and the proof that this one extends it.
    pub previous: Option<PreviousCheckpoint>,
    /// What checking the trail against the checkpoint found.
    pub verification: Verification,
    /// How a reader checks all this with `trailkeep`, in words.
    pub how_to_check: String,
}

/// The checkpoint of the tenant's previous report, and the way from it to this one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PreviousCheckpoint {
    /// That report's id.
    pub report_id: String,
    /// Its tree size.
    pub tree_size: u64,
    /// Its root hash, standard base64.
    pub root: String,
    /// The RFC 9162 consistency proof from that tree to this one, standard base64.
    pub consistency_proof: Vec<String>,
    /// Whether the proof checks out against both roots.
    pub consistent: bool,
}

/// What checking every event below the checkpoint found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verification {
    /// Whether every event's bytes hash to its leaf and the leaves rebuild the root.
    pub verified: bool,
    /// Events checked (every event below the checkpoint).
    pub events_checked: u64,
    /// Of those, the events of the period.
    pub period_events: u64,
    /// What failed, when something did.
    pub failure: Option<String>,
}
