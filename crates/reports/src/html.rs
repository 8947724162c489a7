//! A report as one self-contained HTML file: inline CSS, charts as inline SVG, no script and
//! nothing fetched from anywhere.

use std::fmt::Write;

use serde_json::Value;

use crate::chart::{self, escape, thousands};
use crate::model::{Report, Table};

const STYLE: &str = "body{font-family:Georgia,'Libertinus Serif',serif;max-width:800px;margin:2em auto;padding:0 1em;color:#1d1d1d;line-height:1.4}\
h1{font-size:1.8em;margin-bottom:.2em}h2{border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:2em}\
.meta{color:#555}.controls{color:#555;font-size:.9em}\
.figures{display:flex;flex-wrap:wrap;gap:1em;margin:1em 0}.figure{border:1px solid #ddd;padding:.5em 1em;min-width:8em}\
.figure .value{font-size:1.5em;font-weight:bold}table{border-collapse:collapse;width:100%;margin:1em 0;font-size:.9em}\
caption{text-align:left;font-weight:bold;margin-bottom:.3em}th,td{border-bottom:1px solid #e5e5e5;padding:.25em .5em;text-align:left}\
td.number,th.number{text-align:right;font-variant-numeric:tabular-nums}.note{color:#555;font-size:.85em}\
pre{background:#f6f6f6;padding:.8em;overflow-x:auto;font-size:.8em}.ok{color:#1b6e2e;font-weight:bold}.bad{color:#a4161a;font-weight:bold}\
svg{max-width:100%;height:auto}";

/// `report` as an HTML document.
pub fn render(report: &Report) -> String {
    let mut out = String::with_capacity(64 * 1024);
    let _ = write!(
        out,
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\
         <title>{title} · {tenant}</title><style>{STYLE}</style></head><body>\
         <h1>{title}</h1><p class=\"meta\">Tenant <b>{tenant}</b> · period {from} to {to} (UTC, end excluded)<br>\
         Report {id} · made {generated} by {generator}</p>",
        title = escape(&report.title),
        tenant = escape(&report.tenant),
        from = report.period.from,
        to = report.period.to,
        id = escape(&report.id),
        generated = report.generated_at,
        generator = escape(&report.generator),
    );
    for section in &report.sections {
        let _ = write!(
            out,
            "<section id=\"{}\"><h2>{}</h2>",
            escape(&section.id),
            escape(&section.title)
        );
        if !section.controls.is_empty() {
            let _ = write!(
                out,
                "<p class=\"controls\">Evidences {}</p>",
                escape(&section.controls.join(", "))
            );
        }
        let _ = write!(out, "<p>{}</p>", escape(&section.text));
        if !section.figures.is_empty() {
            out.push_str("<div class=\"figures\">");
            for figure in &section.figures {
                let _ = write!(
                    out,
                    "<div class=\"figure\" id=\"{}-{}\"><div class=\"value\">{}</div><div>{}</div></div>",
                    escape(&section.id),
                    escape(&figure.id),
                    thousands(figure.value),
                    escape(&figure.label)
                );
            }
            out.push_str("</div>");
        }
        for chart in &section.charts {
            let _ = write!(
                out,
                "<figure>{}<figcaption>{}</figcaption></figure>",
                chart::svg(chart),
                escape(&chart.title)
            );
        }
        for table in &section.tables {
            table_html(&mut out, table);
        }
        out.push_str("</section>");
    }
    attestation_html(&mut out, report);
    out.push_str("</body></html>\n");
    out
}

/// A cell as shown: numbers grouped by thousands.
pub fn cell_text(value: &Value) -> String {
    match value {
        Value::Number(n) => n.as_u64().map_or_else(|| n.to_string(), thousands),
        Value::String(s) => s.clone(),
        Value::Null => "-".into(),
        other => other.to_string(),
    }
}

fn table_html(out: &mut String, table: &Table) {
    let numeric: Vec<bool> = (0..table.columns.len())
        .map(|i| {
            !table.rows.is_empty()
                && table
                    .rows
                    .iter()
                    .all(|r| r.get(i).is_some_and(Value::is_number))
        })
        .collect();
    let class = |i: usize| if numeric[i] { " class=\"number\"" } else { "" };
    let _ = write!(
        out,
        "<table id=\"{}\"><caption>{}</caption><thead><tr>",
        escape(&table.id),
        escape(&table.title)
    );
    for (i, column) in table.columns.iter().enumerate() {
        let _ = write!(out, "<th{}>{}</th>", class(i), escape(column));
    }
    out.push_str("</tr></thead><tbody>");
    for row in &table.rows {
        out.push_str("<tr>");
        for (i, cell) in row.iter().enumerate() {
            let _ = write!(out, "<td{}>{}</td>", class(i), escape(&cell_text(cell)));
        }
        out.push_str("</tr>");
    }
    out.push_str("</tbody></table>");
    if table.rows.is_empty() {
        out.push_str("<p class=\"note\">None in the period.</p>");
    } else if table.total_rows > table.rows.len() as u64 {
        let _ = write!(
            out,
            "<p class=\"note\">The first {} of {} rows.</p>",
            thousands(table.rows.len() as u64),
            thousands(table.total_rows)
        );
    }
}

fn attestation_html(out: &mut String, report: &Report) {
    let a = &report.attestation;
    let v = &a.verification;
    let _ = write!(
        out,
        "<section id=\"attestation\"><h2>Integrity attestation</h2>\
         <p class=\"controls\">Evidences ISO 27001 A.8.15, PCI DSS 10.5.1</p>\
         <p>This report was made at the tenant's signed checkpoint of <b>{size}</b> events (root <code>{root}</code>). \
         When it was made, every one of those events was read back, hashed to its leaf and built into the tree: {result}. \
         {period} of them are the period's.</p>",
        size = thousands(a.tree_size),
        root = escape(&a.root),
        result = if v.verified {
            format!(
                "<span class=\"ok\">all {} verified</span>",
                thousands(v.events_checked)
            )
        } else {
            format!(
                "<span class=\"bad\">verification failed: {}</span>",
                escape(v.failure.as_deref().unwrap_or("unknown"))
            )
        },
        period = thousands(v.period_events),
    );
    let _ = write!(
        out,
        "<p>The checkpoint, as signed:</p><pre id=\"checkpoint\">{}</pre>\
         <p>The ledger's verification key (vkey), SHA-256 fingerprint <code id=\"fingerprint\">{}</code>:</p><pre id=\"vkey\">{}</pre>",
        escape(&a.checkpoint),
        escape(&a.key_fingerprint),
        escape(&a.vkey)
    );
    match &a.previous {
        Some(p) => {
            let _ = write!(
                out,
                "<p>The previous report, {id}, was made at {size} events (root <code>{root}</code>). \
                 The consistency proof below shows that today's tree extends that one, so nothing it covered was changed or removed: {result}.</p><pre>{proof}</pre>",
                id = escape(&p.report_id),
                size = thousands(p.tree_size),
                root = escape(&p.root),
                result = if p.consistent { "<span class=\"ok\">consistent</span>" } else { "<span class=\"bad\">NOT consistent</span>" },
                proof = if p.consistency_proof.is_empty() { "(the same tree)".to_owned() } else { escape(&p.consistency_proof.join("\n")) },
            );
        }
        None => out.push_str("<p>This is the tenant's first report: there is no earlier checkpoint to prove consistency with.</p>"),
    }
    let _ = write!(out, "<p>{}</p></section>", escape(&a.how_to_check));
}
