//! Reports as PDF, typeset by typst as a library.
//!
//! The report goes into typst as data, never as markup: [`display`] turns it into one JSON
//! file (every number already spelled as the HTML spells it) and one SVG file per chart (the
//! HTML's drawings), and a fixed template (`report.typ`) lays them out. The world typst
//! compiles in holds only those files and the fonts typst ships with: nothing is read from
//! disk and nothing is downloaded. The PDF is PDF/A-3b, with the report's JSON attached.

#![deny(missing_docs)]

mod display;
mod world;

use trailkeep_reports::{PdfRenderer, Report};
use typst::diag::SourceDiagnostic;
use typst_layout::PagedDocument;
use typst_pdf::{PdfOptions, PdfStandard, PdfStandards};

pub use display::display;

/// Makes reports' PDFs with typst.
pub struct TypstPdf;

impl PdfRenderer for TypstPdf {
    fn render(&self, report: &Report) -> Result<Vec<u8>, String> {
        render(report)
    }
}

/// `report` as a PDF/A-3b document with its JSON attached.
pub fn render(report: &Report) -> Result<Vec<u8>, String> {
    let files = display(report);
    let world = world::ReportWorld::new(files, report.generated_at);
    let document: PagedDocument = typst::compile(&world)
        .output
        .map_err(|errors| format!("typesetting the report failed: {}", describe(&errors)))?;
    let options = PdfOptions {
        ident: typst::foundations::Smart::Custom(report.id.clone()),
        timestamp: Some(typst_pdf::Timestamp::new_utc(world::datetime(
            report.generated_at,
        ))),
        standards: PdfStandards::new(&[PdfStandard::A_3b])
            .map_err(|e| format!("PDF/A-3b: {}", e.message()))?,
        ..PdfOptions::default()
    };
    let pdf = typst_pdf::pdf(&document, &options)
        .map_err(|errors| format!("writing the PDF failed: {}", describe(&errors)))?;
    // A long-running server keeps typst's caches from growing without bound.
    typst::comemo::evict(10);
    Ok(pdf)
}

fn describe(errors: &[SourceDiagnostic]) -> String {
    errors
        .iter()
        .map(|e| e.message.to_string())
        .collect::<Vec<_>>()
        .join("; ")
}
