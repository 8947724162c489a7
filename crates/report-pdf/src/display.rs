//! A report as the files the template reads: `/data.json` (every number spelled as shown),
//! one SVG per chart, and `/report.json` (the report itself, attached to the PDF).

use serde_json::{Value, json};
use trailkeep_reports::chart::{self, thousands};
use trailkeep_reports::html::cell_text;
use trailkeep_reports::{Report, Table};

/// The files the template reads for `report`: (path, contents).
pub fn display(report: &Report) -> Vec<(String, Vec<u8>)> {
    let mut files = Vec::new();
    let mut sections = Vec::new();
    for (s, section) in report.sections.iter().enumerate() {
        let mut charts = Vec::new();
        for (c, each) in section.charts.iter().enumerate() {
            let path = format!("/chart-{s}-{c}.svg");
            files.push((path.clone(), chart::svg(each).into_bytes()));
            charts.push(json!({"file": path, "title": each.title}));
        }
        sections.push(json!({
            "id": section.id,
            "title": section.title,
            "controls": section.controls,
            "text": section.text,
            "figures": section.figures.iter().map(|f| json!({"label": f.label, "value": thousands(f.value)})).collect::<Vec<_>>(),
            "charts": charts,
            "tables": section.tables.iter().map(table).collect::<Vec<_>>(),
        }));
    }
    let a = &report.attestation;
    let v = &a.verification;
    let data = json!({
        "id": report.id,
        "title": report.title,
        "tenant": report.tenant,
        "period": format!("{} to {} (UTC, end excluded)", report.period.from, report.period.to),
        "generated_at": report.generated_at.to_string(),
        "generator": report.generator,
        "sections": sections,
        "attestation": {
            "tree_size": thousands(a.tree_size),
            "root": a.root,
            "verified": v.verified,
            "result": if v.verified {
                format!("all {} verified", thousands(v.events_checked))
            } else {
                format!("verification failed: {}", v.failure.as_deref().unwrap_or("unknown"))
            },
            "period_events": thousands(v.period_events),
            "checkpoint": a.checkpoint.trim_end(),
            "vkey": a.vkey,
            "fingerprint": a.key_fingerprint,
            "previous": a.previous.as_ref().map(|p| json!({
                "report_id": p.report_id,
                "tree_size": thousands(p.tree_size),
                "root": p.root,
                "consistent": p.consistent,
                "proof": if p.consistency_proof.is_empty() { "(the same tree)".to_owned() } else { p.consistency_proof.join("\n") },
            })),
            "how_to_check": a.how_to_check,
        },
    });
    files.push(("/data.json".into(), data.to_string().into_bytes()));
    files.push((
        "/report.json".into(),
        serde_json::to_vec_pretty(report).expect("a report serialises"),
    ));
    files
}

/// A table with its cells spelled as shown and which columns are numbers.
fn table(table: &Table) -> Value {
    let numeric: Vec<bool> = (0..table.columns.len())
        .map(|i| {
            !table.rows.is_empty()
                && table
                    .rows
                    .iter()
                    .all(|r| r.get(i).is_some_and(Value::is_number))
        })
        .collect();
    json!({
        "title": table.title,
        "columns": table.columns,
        "numeric": numeric,
        "rows": table.rows.iter().map(|r| r.iter().map(cell_text).collect::<Vec<_>>()).collect::<Vec<_>>(),
        "shown": thousands(table.rows.len() as u64),
        "cut": table.total_rows > table.rows.len() as u64,
        "total_rows": thousands(table.total_rows),
    })
}
