//! A compliance summary as a PDF, typeset by the binary: made from the benchmark's workload
//! through Audit Rail's route with the seed's own request body, turned into text with
//! `pdftotext` (Debian's poppler-utils), and held to `GET /v1/stats` over the same period; the
//! checkpoint it prints verifies with the ledger key. And the same report made by `trailkeep
//! report` as PDF, HTML and JSON: the JSON attached inside the PDF is the JSON format's, and
//! every figure and table number is in the PDF's text and the HTML's.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use bench::workload::Workload;
use serde_json::{Value, json};
use tempfile::tempdir;
use trailkeep_event::Timestamp;
use trailkeep_ledger::NoteVerifier;
use trailkeep_reports::Report;
use trailkeep_reports::html::cell_text;

use crate::export::export_token;
use crate::support::{self, Api, Server, run_command};

const DAY_US: i64 = 86_400 * 1_000_000;

/// `pdftotext` (and `pdfdetach`), installed from Debian's poppler-utils when missing; a loud
/// failure when that fails.
fn pdftotext() -> &'static str {
    support::debian_program("pdftotext", &["-v"], &["poppler-utils"]);
    "pdftotext"
}

/// `n` with commas between groups of three digits, as reports print numbers.
fn thousands(n: u64) -> String {
    trailkeep_reports::chart::thousands(n)
}

/// The PDF's text, laid out as on the page.
fn text_of(pdf: &Path) -> String {
    let out = pdf.with_extension("txt");
    run_command(Command::new(pdftotext()).arg("-layout").arg(pdf).arg(&out));
    std::fs::read_to_string(out).expect("pdftotext wrote the text")
}

/// The signed note printed after "The checkpoint, as signed:", lines trimmed.
fn printed_checkpoint(text: &str, tenant: &str) -> String {
    let lines: Vec<&str> = text.lines().map(str::trim).collect();
    let origin = format!("trailkeep/{tenant}");
    let start = lines
        .iter()
        .position(|l| *l == origin)
        .unwrap_or_else(|| panic!("no checkpoint origin {origin:?} in the PDF's text"));
    // Origin, size, root, an empty line, the signature.
    let signature = lines[start + 3..]
        .iter()
        .find(|l| l.starts_with('—'))
        .expect("the checkpoint's signature line");
    format!(
        "{}\n{}\n{}\n\n{signature}\n",
        lines[start],
        lines[start + 1],
        lines[start + 2]
    )
}

/// The day of `us`, `YYYY-MM-DD`.
fn day(us: i64) -> String {
    Timestamp::from_micros(us).unwrap().to_string()[..10].to_owned()
}

/// Sends `events` events of the benchmark's workload for one tenant (90 days up to now);
/// answers the 30 whole days before today as a report's `from` and `to` (dates, `to`
/// included), and the end of that period as an RFC 3339 time.
async fn load_workload(api: &Api, events: u64) -> (String, String, String) {
    let now = Timestamp::now().as_micros();
    let workload = Workload::new(11, 1, events, 500, now);
    for b in 0..workload.batches() {
        let events: Vec<Value> = workload
            .batch(b)
            .1
            .iter()
            .map(|e| {
                let mut bytes = Vec::new();
                e.to_json(&mut bytes);
                serde_json::from_slice(&bytes).unwrap()
            })
            .collect();
        let answer = api.post_ndjson(&events).await.unwrap();
        assert_eq!(answer.status(), 201);
    }
    (
        day(now - 30 * DAY_US),
        day(now - DAY_US),
        format!("{}T00:00:00Z", day(now)),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_compliance_summary_pdf_prints_the_stats_and_a_checkpoint_that_verifies() {
    let dir = tempdir().unwrap();
    let server = Server::start(dir.path());
    let api = Api::new(&server.url(), export_token(dir.path(), "acme"));
    let (from, to, until) = load_workload(&api, 5_000).await;
    let body = json!({
        "reportType": "COMPLIANCE_SUMMARY",
        "period": {"from": from, "to": to},
        "includeStats": true,
        "format": "PDF",
    });
    let answer = api
        .post("/api/v1/audit/reports")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 202);
    let data = answer.json::<Value>().await.unwrap()["data"].clone();
    let status_url = data["statusUrl"].as_str().unwrap().to_owned();
    let started = std::time::Instant::now();
    let done = loop {
        let data = api.get_json(&status_url).await["data"].clone();
        match data["status"].as_str().unwrap() {
            "COMPLETED" => break data,
            "QUEUED" | "RUNNING" => {}
            other => panic!("the report ended {other}: {data}"),
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "the report takes too long"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let download = api
        .get(done["downloadUrl"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(download.headers()["content-type"], "application/pdf");
    let pdf = download.bytes().await.unwrap();
    assert!(pdf.starts_with(b"%PDF-"), "a PDF");
    let path = dir.path().join("report.pdf");
    std::fs::write(&path, &pdf).unwrap();
    let text = text_of(&path);

    let stats = api
        .get_json(&format!(
            "/v1/stats?since={from}T00:00:00Z&until={until}&group_by=action"
        ))
        .await;
    let total = stats["total"].as_u64().unwrap();
    assert!(
        total > 1_000,
        "the period holds most of the workload: {stats}"
    );
    // The overview's three figures, side by side.
    let figures = format!(
        "{}{}{}",
        thousands(total),
        thousands(stats["unique_actors"].as_u64().unwrap()),
        thousands(stats["failed_logins"].as_u64().unwrap())
    );
    let squeezed: Vec<String> = text
        .lines()
        .map(|l| l.split_whitespace().collect::<String>())
        .collect();
    assert!(
        squeezed.contains(&figures),
        "the overview prints {figures} (total, unique actors, failed sign-ins)"
    );
    // Every action's count, a row of the table.
    for row in stats["groups"]["action"].as_array().unwrap() {
        let line = format!(
            "{}{}",
            row["value"].as_str().unwrap(),
            thousands(row["count"].as_u64().unwrap())
        );
        assert!(squeezed.contains(&line), "the PDF lists {line}");
    }
    // The checkpoint it prints is signed by the ledger key.
    let vkey = api.get_text("/v1/ledger/key").await;
    let note = printed_checkpoint(&text, "acme");
    NoteVerifier::from_vkey(vkey.trim())
        .unwrap()
        .verify(&note)
        .unwrap_or_else(|e| panic!("the printed checkpoint does not verify: {e}\n{note}"));
    assert!(
        text.contains("verified"),
        "the verification's result is printed"
    );
}

/// Number tokens of `text` (digits, with commas between groups), counted.
fn numbers(text: &str) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for token in text.split(|c: char| !(c.is_ascii_digit() || c == ',')) {
        let token = token.trim_matches(',');
        if !token.is_empty() {
            *counts.entry(token.to_owned()).or_default() += 1;
        }
    }
    counts
}

/// The text a reader of an HTML report sees, charts left out (their numbers are drawn).
fn html_text(html: &str) -> String {
    let mut text = String::new();
    let mut rest = html;
    while let Some(start) = rest.find('<') {
        text.push_str(&rest[..start]);
        text.push(' ');
        rest = &rest[start..];
        let end = if rest.starts_with("<svg") {
            rest.find("</svg>").map(|e| e + "</svg>".len())
        } else if rest.starts_with("<style") {
            rest.find("</style>").map(|e| e + "</style>".len())
        } else {
            rest.find('>').map(|e| e + 1)
        };
        rest = &rest[end.expect("closed markup")..];
    }
    text.push_str(rest);
    text.replace("&amp;", "&")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
}

/// `trailkeep report` over the period, as `format`, written to `path`.
fn cli_report(server: &Server, token: &str, from: &str, to: &str, format: &str, path: &Path) {
    let output = run_command(support::command().args([
        "report",
        "--server",
        &server.url(),
        "--token",
        token,
        "--from",
        from,
        "--to",
        to,
        "--format",
        format,
        "--output",
        support::path_str(path),
    ]));
    assert!(output.status.success(), "{}", support::describe(&output));
    let said = support::stdout(&output);
    assert!(
        said.contains("ok  every event below the checkpoint verified"),
        "{said}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_report_as_pdf_html_and_json_agrees_on_every_number() {
    let dir = tempdir().unwrap();
    let server = Server::start(dir.path());
    let token = export_token(dir.path(), "acme");
    let api = Api::new(&server.url(), token.clone());
    let (from, to, _) = load_workload(&api, 3_000).await;
    let path = |format: &str| dir.path().join(format!("report.{format}"));
    for format in ["pdf", "html", "json"] {
        cli_report(&server, &token, &from, &to, format, &path(format));
    }
    let json: Report =
        serde_json::from_slice(&std::fs::read(path("json")).unwrap()).expect("a JSON report");

    // The PDF carries the report's JSON: the same sections as the JSON format's.
    let attached_dir = dir.path().join("attached");
    std::fs::create_dir(&attached_dir).unwrap();
    pdftotext();
    let detach = run_command(
        Command::new("pdfdetach")
            .arg("-saveall")
            .arg("-o")
            .arg(&attached_dir)
            .arg(path("pdf")),
    );
    assert!(detach.status.success(), "{}", support::describe(&detach));
    let attached: Report = serde_json::from_slice(
        &std::fs::read(attached_dir.join("report.json")).expect("report.json is attached"),
    )
    .expect("the attached JSON is a report");
    assert_eq!(attached.period, json.period);
    assert_eq!(attached.sections, json.sections);

    // Every figure and every number in a table, as many times as the JSON has it, in the
    // PDF's text and the HTML's.
    let mut expected: BTreeMap<String, usize> = BTreeMap::new();
    let mut labels = Vec::new();
    for section in &json.sections {
        labels.push(section.title.clone());
        for figure in &section.figures {
            *expected.entry(thousands(figure.value)).or_default() += 1;
            labels.push(figure.label.clone());
        }
        for table in &section.tables {
            for cell in table.rows.iter().flatten().filter(|c| c.is_number()) {
                *expected.entry(cell_text(cell)).or_default() += 1;
            }
        }
    }
    assert!(
        expected.values().sum::<usize>() > 50,
        "the report has numbers to compare: {expected:?}"
    );
    let pdf_text = text_of(&path("pdf"));
    let html_text = html_text(&std::fs::read_to_string(path("html")).unwrap());
    for (name, text) in [("PDF", &pdf_text), ("HTML", &html_text)] {
        let found = numbers(text);
        for (number, times) in &expected {
            let there = found.get(number).copied().unwrap_or(0);
            assert!(
                there >= *times,
                "the {name} shows {number} {there} times, the JSON {times} times"
            );
        }
        let squeezed: String = text.split_whitespace().collect();
        for label in &labels {
            let label: String = label.split_whitespace().collect();
            assert!(squeezed.contains(&label), "the {name} names {label:?}");
        }
    }
}
