//! A report typesets into a PDF/A-3b document with its JSON attached; data that looks like
//! typst markup is printed as it is, never run.

use serde_json::json;
use trailkeep_event::Timestamp;
use trailkeep_reports::model::{
    Attestation, Chart, ChartKind, Report, Section, Series, Table, Verification,
};
use trailkeep_reports::{Period, ReportType};

fn report() -> Report {
    let period = Period::parse("2026-11-01", "2026-11-03").unwrap();
    let section = Section::new(
        "activity",
        "Activity",
        &["SOC 2 CC7.2"],
        "What was done. #panic(\"not run\") *not bold* $x$",
    )
    .figure("total_events", "Events", 12_345)
    .chart(Chart {
        id: "daily_volume".into(),
        title: "Events per day".into(),
        kind: ChartKind::Columns,
        labels: period.days(),
        series: vec![Series {
            name: "Events".into(),
            values: vec![4_000, 5_000, 3_345],
        }],
    })
    .table(Table {
        id: "by_action".into(),
        title: "Events by action".into(),
        columns: vec!["Action".into(), "Events".into()],
        rows: vec![
            vec![json!("#import \"x.typ\""), json!(12_000)],
            vec![json!("user.login"), json!(345)],
        ],
        total_rows: 2,
    });
    Report {
        id: "rep_test".into(),
        report_type: ReportType::ComplianceSummary,
        title: "Compliance summary".into(),
        tenant: "acme".into(),
        period,
        generated_at: Timestamp::parse("2026-12-01T10:00:00Z").unwrap(),
        generator: "trailkeep test".into(),
        sections: vec![section],
        attestation: Attestation {
            checkpoint: "trailkeep/acme\n12345\nAAAA\n\n— trailkeep BBBB\n".into(),
            tree_size: 12_345,
            root: "AAAA".into(),
            vkey: "trailkeep+00000000+CCCC".into(),
            key_fingerprint: "00".repeat(32),
            previous: None,
            verification: Verification {
                verified: true,
                events_checked: 12_345,
                period_events: 12_345,
                failure: None,
            },
            how_to_check: "Run trailkeep verify.".into(),
        },
    }
}

#[test]
fn a_report_typesets_into_a_pdf_a_with_its_json_attached() {
    let pdf = trailkeep_report_pdf::render(&report()).expect("the report typesets");
    assert!(pdf.starts_with(b"%PDF-"), "a PDF");
    let text = String::from_utf8_lossy(&pdf);
    assert!(text.contains("report.json"), "the JSON is attached");
    assert!(
        text.contains("pdfaid:part>3<") || text.contains("pdfaid:part=\"3\""),
        "PDF/A-3"
    );
}
