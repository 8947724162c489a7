//! Reports: a compliance summary over a past period agrees with `GET /v1/stats` on every count,
//! the HTML shows the same numbers, the attestation's checkpoint verifies with the ledger key
//! and every event below it checked out, a second report proves consistency with the first;
//! Audit Rail's route answers in the Rail's shape. (PDFs are made by the binary: see the CLI's
//! tests.)

use std::time::Duration;

use serde_json::{Value, json};
use tokio::time::timeout;
use trailkeep_ledger::NoteVerifier;

use crate::support::{Client, Engine, Setup, TestServer};

const EXPORTER: &str = "audit:read audit:write audit:export";

/// The period the events fall in: 10 to 12 November 2026, whole days.
const FROM: &str = "2026-11-10";
const TO: &str = "2026-11-12";

/// Events over the period (and one on each side of it), with sign-ins, failures, reads, a role
/// granted after hours and a key made.
fn events() -> Value {
    let mut events = Vec::new();
    let at =
        |day: u32, hour: u32, minute: u32| format!("2026-11-{day:02}T{hour:02}:{minute:02}:00Z");
    for day in 10..=12 {
        for (n, actor) in ["alice", "bob", "carol"].iter().enumerate() {
            events.push(json!({"action": "user.login", "occurred_at": at(day, 9, n as u32), "actor": {"id": actor}, "context": {"ip_address": "198.51.100.7"}}));
            events.push(json!({"action": "document.read", "occurred_at": at(day, 10, n as u32), "actor": {"id": actor}, "target": {"type": "document", "id": format!("doc-{day}")}}));
        }
        events.push(json!({"action": "user.login", "outcome": "failure", "occurred_at": at(day, 3, 0), "actor": {"id": "mallory"}, "context": {"ip_address": "203.0.113.9"}}));
        events.push(json!({"action": "invoice.created", "occurred_at": at(day, 11, 0), "actor": {"id": "alice"}, "target": {"type": "invoice", "id": format!("inv-{day}")}}));
    }
    events.push(json!({"action": "user.role_assigned", "occurred_at": at(11, 22, 30), "actor": {"id": "bob"}, "target": {"type": "user", "id": "carol"}}));
    events.push(json!({"action": "api_key.created", "occurred_at": at(12, 14, 0), "actor": {"id": "alice"}, "target": {"type": "api_key", "id": "key-1"}}));
    events.push(
        json!({"action": "user.login", "occurred_at": at(9, 23, 59), "actor": {"id": "outside"}}),
    );
    events.push(
        json!({"action": "user.login", "occurred_at": at(13, 0, 0), "actor": {"id": "outside"}}),
    );
    Value::Array(events)
}

/// Asks for a report and waits until it succeeded; answers its info.
async fn made(client: &Client, body: Value) -> Value {
    let answer = client
        .post("/v1/reports", "application/json", body.to_string())
        .await;
    assert_eq!(answer.status, 202, "{}", answer.text);
    let id = answer.json()["id"].as_str().unwrap().to_owned();
    timeout(Duration::from_secs(30), async {
        loop {
            let info = client.get(&format!("/v1/reports/{id}")).await.json();
            match info["state"].as_str().unwrap() {
                "succeeded" => return info,
                "queued" | "running" => tokio::time::sleep(Duration::from_millis(50)).await,
                other => panic!("the report ended {other}: {info}"),
            }
        }
    })
    .await
    .expect("the report finishes")
}

fn figure(report: &Value, section: &str, id: &str) -> u64 {
    let section = report["sections"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == section)
        .unwrap_or_else(|| panic!("no section {section}"));
    section["figures"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["id"] == id)
        .unwrap_or_else(|| panic!("no figure {id} in {section}"))["value"]
        .as_u64()
        .unwrap()
}

fn table<'a>(report: &'a Value, section: &str, id: &str) -> &'a Value {
    report["sections"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == section)
        .and_then(|s| {
            s["tables"]
                .as_array()
                .unwrap()
                .iter()
                .find(|t| t["id"] == id)
        })
        .unwrap_or_else(|| panic!("no table {id} in {section}"))
}

/// A stats group as `value -> count`.
fn group(stats: &Value, name: &str) -> Vec<(String, u64)> {
    stats["groups"][name]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            (
                g["value"].as_str().unwrap().to_owned(),
                g["count"].as_u64().unwrap(),
            )
        })
        .collect()
}

async fn a_compliance_summary_agrees_with_the_stats_and_attests_the_trail(engine: Engine) {
    let server = TestServer::start_on(engine).await;
    let client = server.client("acme", EXPORTER);
    let answer = client.post_json(&events()).await;
    assert_eq!(answer.status, 201, "{}", answer.text);
    let body =
        json!({"type": "COMPLIANCE_SUMMARY", "period": {"from": FROM, "to": TO}, "format": "json"});
    let info = made(&client, body.clone()).await;
    assert_eq!(
        info["period"],
        json!({"from": "2026-11-10T00:00:00Z", "to": "2026-11-13T00:00:00Z"})
    );
    let file = client.get(info["file"]["url"].as_str().unwrap()).await;
    assert_eq!(file.status, 200, "{}", file.text);
    let report = file.json();
    let stats = client
        .get("/v1/stats?since=2026-11-10T00:00:00Z&until=2026-11-13T00:00:00Z&group_by=action&group_by=day")
        .await
        .json();
    assert_eq!(stats["total"], 26, "{stats}");
    assert_eq!(figure(&report, "overview", "total_events"), 26);
    assert_eq!(
        figure(&report, "overview", "unique_actors"),
        stats["unique_actors"].as_u64().unwrap()
    );
    assert_eq!(figure(&report, "overview", "failed_logins"), 3);
    assert_eq!(figure(&report, "sign_ins", "failed"), 3);
    assert_eq!(figure(&report, "sign_ins", "sign_ins"), 12);
    let by_action: Vec<(String, u64)> = table(&report, "activity", "by_action")["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r[0].as_str().unwrap().to_owned(), r[1].as_u64().unwrap()))
        .collect();
    assert_eq!(by_action, group(&stats, "action"));
    let daily = &report["sections"][1]["charts"][0];
    assert_eq!(daily["id"], "daily_volume");
    let per_day: Vec<(String, u64)> = daily["labels"]
        .as_array()
        .unwrap()
        .iter()
        .zip(daily["series"][0]["values"].as_array().unwrap())
        .map(|(d, v)| (d.as_str().unwrap().to_owned(), v.as_u64().unwrap()))
        .collect();
    let mut by_day = group(&stats, "day");
    by_day.sort();
    assert_eq!(per_day, by_day);
    // The role granted at 22:30 is a privileged change, and one outside working hours.
    assert_eq!(
        figure(&report, "privileged_changes", "privileged_changes"),
        2
    );
    assert_eq!(
        table(&report, "privileged_changes", "privileged_changes")["rows"][0][2],
        "user.role_assigned"
    );
    assert_eq!(
        table(&report, "sign_ins", "failed_by_address")["rows"][0],
        json!(["203.0.113.9", 3])
    );

    // The attestation: the checkpoint is the ledger's, every event below it checked out.
    let attestation = &report["attestation"];
    let vkey = client.get("/v1/ledger/key").await.text;
    assert_eq!(attestation["vkey"].as_str().unwrap(), vkey.trim());
    let verifier = NoteVerifier::from_vkey(vkey.trim()).unwrap();
    let signed = verifier
        .verify(attestation["checkpoint"].as_str().unwrap())
        .unwrap();
    let size = attestation["tree_size"].as_u64().unwrap();
    assert!(signed.contains(&format!("\n{size}\n")), "{signed}");
    assert!(
        size >= 29,
        "the events and the request are below the checkpoint: {size}"
    );
    assert_eq!(
        attestation["verification"]["verified"], true,
        "{attestation}"
    );
    assert_eq!(attestation["verification"]["events_checked"], size);
    assert_eq!(attestation["verification"]["period_events"], 26);
    assert_eq!(attestation["previous"], Value::Null);
    assert_eq!(info["verified"], true);

    // The same report as HTML shows the same numbers.
    let html_info = made(
        &client,
        json!({"type": "COMPLIANCE_SUMMARY", "period": {"from": FROM, "to": TO}, "format": "html"}),
    )
    .await;
    let html = client.get(html_info["file"]["url"].as_str().unwrap()).await;
    assert_eq!(html.status, 200);
    assert!(
        html.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html"),
        "{:?}",
        html.headers
    );
    let page = html.text;
    assert!(
        page.contains(r#"id="overview-total_events"><div class="value">26<"#),
        "the total is shown"
    );
    assert!(page.contains(r#"id="overview-failed_logins"><div class="value">3<"#));
    for (action, count) in group(&stats, "action") {
        assert!(
            page.contains(&format!(
                "<td>{action}</td><td class=\"number\">{count}</td>"
            )),
            "{action} {count}"
        );
    }
    assert!(
        page.contains("<svg") && !page.contains("<script"),
        "inline SVG, no script"
    );
    // It was made after the JSON one: it proves its checkpoint extends that one's.
    let second = client
        .get(&format!(
            "/v1/reports/{}/file",
            html_info["id"].as_str().unwrap()
        ))
        .await
        .text;
    assert!(
        second.contains(info["id"].as_str().unwrap()),
        "names the previous report"
    );
    assert!(
        second.contains("class=\"ok\">consistent<"),
        "the consistency proof checks out"
    );

    // Asking, making and downloading are on the record.
    let trail = client
        .get("/v1/events?action=audit.report.*&limit=100")
        .await
        .json();
    let actions: Vec<&str> = trail["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    for action in [
        "audit.report.requested",
        "audit.report.completed",
        "audit.report.downloaded",
    ] {
        assert!(actions.contains(&action), "{action} in {actions:?}");
    }
}

async fn bad_requests_are_refused_with_reasons(engine: Engine) {
    let server = TestServer::start_with(Setup {
        engine,
        ..Setup::default()
    })
    .await;
    let client = server.client("acme", EXPORTER);
    for (body, field) in [
        (
            json!({"type": "EVERYTHING", "period": {"from": FROM, "to": TO}}),
            None,
        ),
        (
            json!({"type": "ACCESS_REVIEW", "period": {"from": TO, "to": FROM}, "format": "json"}),
            Some("period"),
        ),
        (
            json!({"type": "ACCESS_REVIEW", "period": {"from": "last week", "to": TO}, "format": "json"}),
            Some("period.from"),
        ),
        (
            json!({"type": "ACCESS_REVIEW", "period": {"from": FROM, "to": TO}, "format": "pdf"}),
            Some("format"),
        ),
    ] {
        let answer = client
            .post("/v1/reports", "application/json", body.to_string())
            .await;
        assert_eq!(answer.status, 400, "{body}: {}", answer.text);
        if let Some(field) = field {
            assert_eq!(
                answer.json()["errors"][0]["field"],
                field,
                "{}",
                answer.text
            );
        }
    }
    let reader = server.client("acme", "audit:read");
    let answer = reader
        .post(
            "/v1/reports",
            "application/json",
            json!({"type": "ACCESS_REVIEW", "period": {"from": FROM, "to": TO}}).to_string(),
        )
        .await;
    assert_eq!(answer.status, 403, "reports need audit:export");
}

async fn audit_rail_asks_for_reports_in_its_own_shape(engine: Engine) {
    let server = TestServer::start_on(engine).await;
    let client = server.client("acme", EXPORTER);
    assert_eq!(client.post_json(&events()).await.status, 201);
    // The seed's body, in JSON (PDFs come from the binary).
    let body = json!({"reportType": "SECURITY_EVENTS", "period": {"from": FROM, "to": TO}, "includeStats": true, "format": "JSON"});
    let answer = client
        .post(
            "/api/v1/audit/reports",
            "application/json",
            body.to_string(),
        )
        .await;
    assert_eq!(answer.status, 202, "{}", answer.text);
    let data = answer.json()["data"].clone();
    assert_eq!(data["reportType"], "SECURITY_EVENTS");
    assert_eq!(data["format"], "JSON");
    let status_url = data["statusUrl"].as_str().unwrap().to_owned();
    let done = timeout(Duration::from_secs(30), async {
        loop {
            let data = client.get(&status_url).await.json()["data"].clone();
            if data["status"] == "COMPLETED" {
                return data;
            }
            assert!(
                data["status"] == "QUEUED" || data["status"] == "RUNNING",
                "{data}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("the report finishes");
    assert_eq!(done["verified"], true);
    let report = client
        .get(done["downloadUrl"].as_str().unwrap())
        .await
        .json();
    assert_eq!(report["report_type"], "SECURITY_EVENTS");
    assert_eq!(figure(&report, "sign_ins", "failed"), 3);
    assert_eq!(figure(&report, "after_hours", "after_hours_changes"), 1);
    for (body, field) in [
        (
            json!({"reportType": "MONTHLY", "period": {"from": FROM, "to": TO}, "format": "JSON"}),
            "reportType",
        ),
        (
            json!({"reportType": "COMPLIANCE_SUMMARY", "period": {"from": "2025-13-01", "to": TO}, "format": "JSON"}),
            "period.from",
        ),
        (
            json!({"reportType": "COMPLIANCE_SUMMARY", "period": {"from": FROM, "to": TO}, "format": "DOCX"}),
            "format",
        ),
    ] {
        let answer = client
            .post(
                "/api/v1/audit/reports",
                "application/json",
                body.to_string(),
            )
            .await;
        assert_eq!(answer.status, 400, "{}", answer.text);
        let error = &answer.json()["error"];
        assert_eq!(error["code"], "VALIDATION_ERROR", "{error}");
        assert_eq!(error["details"][0]["field"], field, "{error}");
    }
    assert_eq!(
        client.get("/api/v1/audit/reports/rep_nothing").await.status,
        404
    );
}

crate::on_both_engines!(
    a_compliance_summary_agrees_with_the_stats_and_attests_the_trail,
    bad_requests_are_refused_with_reasons,
    audit_rail_asks_for_reports_in_its_own_shape,
);
