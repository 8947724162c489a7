//! Compliance reports: evidence over a period of a tenant's trail, made as a durable job and
//! kept as a file (DESIGN section 7).
//!
//! A report is gathered once ([`gather`]) into a [`Report`]: sections of figures, tables and
//! charts, each naming the controls it evidences, and an integrity attestation (the signed
//! checkpoint it was made at, the consistency proof from the tenant's previous report, and the
//! result of checking every event below that checkpoint against it). The same `Report` is then
//! written as JSON, as one self-contained HTML file ([`html`]), or as PDF by a [`PdfRenderer`]
//! the binary supplies (typst lives in a crate of its own, so that nothing else waits for it to
//! compile).
//!
//! Counts come from the store's statistics (the numbers `GET /v1/stats` answers); the lists
//! come from one pass over the tenant's events in seq order, which is also the pass that
//! checks them against the checkpoint. Memory stays bounded: every list is capped.

#![deny(missing_docs)]

pub mod attest;
pub mod chart;
pub mod gather;
pub mod html;
pub mod job;
pub mod model;
pub mod spec;

pub use gather::gather;
pub use job::{PdfRenderer, ReportHandler, ReportResult, ReportSettings, request};
pub use model::{Attestation, Chart, Figure, Report, Section, Table};
pub use spec::{Period, ReportFormat, ReportSpec, ReportType};
