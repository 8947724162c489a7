//! A compliance summary as a PDF, typeset by the binary: made from the benchmark's workload
//! through Audit Rail's route with the seed's own request body, turned into text with
//! `pdftotext` (Debian's poppler-utils), and held to `GET /v1/stats` over the same period; the
//! checkpoint it prints verifies with the ledger key.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use bench::workload::Workload;
use serde_json::{Value, json};
use tempfile::tempdir;
use trailkeep_event::Timestamp;
use trailkeep_ledger::NoteVerifier;

use crate::export::export_token;
use crate::support::{Api, Server, run_command};

const DAY_US: i64 = 86_400 * 1_000_000;

/// `pdftotext`, installed from Debian's packages when missing; a loud failure when that fails.
fn pdftotext() -> &'static str {
    let found = |name: &str| {
        Command::new(name)
            .arg("-v")
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if !found("pdftotext") {
        let install = || {
            Command::new("apt-get")
                .args(["install", "-y", "-q", "poppler-utils"])
                .status()
                .is_ok_and(|s| s.success())
        };
        let installed = install()
            || (Command::new("apt-get")
                .args(["update", "-q"])
                .status()
                .is_ok_and(|s| s.success())
                && install());
        assert!(
            installed && found("pdftotext"),
            "pdftotext is needed: apt-get install poppler-utils"
        );
    }
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_compliance_summary_pdf_prints_the_stats_and_a_checkpoint_that_verifies() {
    let dir = tempdir().unwrap();
    let server = Server::start(dir.path());
    let api = Api::new(&server.url(), export_token(dir.path(), "acme"));
    let now = Timestamp::now().as_micros();
    let workload = Workload::new(11, 1, 5_000, 500, now);
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
    // The 30 whole days before today.
    let day = |us: i64| Timestamp::from_micros(us).unwrap().to_string()[..10].to_owned();
    let (from, to) = (day(now - 30 * DAY_US), day(now - DAY_US));
    let until = format!("{}T00:00:00Z", day(now));
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
        squeezed.iter().any(|l| *l == figures),
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
