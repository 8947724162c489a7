//! OCSF exports: every record validates against the OCSF 1.8.0 JSON schema of its class, as the
//! `ocsf-json-schema` package from PyPI builds it, checked with `jsonschema`.

use std::process::Command;

use bench::workload::Workload;
use serde_json::{Value, json};
use trailkeep_event::Timestamp;

use crate::support::{TestServer, python_with};

/// Validates each line of the file named by argv[1] against its class's schema; prints how
/// many records of each class it checked, or the first error.
const VALIDATE: &str = r#"
import json, sys
from jsonschema import Draft202012Validator
from ocsf_json_schema import get_ocsf_schema, OcsfJsonSchemaEmbedded
schema = OcsfJsonSchemaEmbedded(get_ocsf_schema(version="1.8.0"))
names = {3002: "authentication", 3004: "entity_management", 6003: "api_activity", 6005: "datastore_activity"}
validators = {uid: Draft202012Validator(schema.get_class_schema(name)) for uid, name in names.items()}
counts = {}
for number, line in enumerate(open(sys.argv[1]), 1):
    record = json.loads(line)
    uid = record["class_uid"]
    errors = sorted(validators[uid].iter_errors(record), key=lambda e: e.path)
    if errors:
        sys.exit(f"line {number} ({names[uid]}): {errors[0].message} at {list(errors[0].path)}")
    if record["type_uid"] != uid * 100 + record["activity_id"]:
        sys.exit(f"line {number}: type_uid {record['type_uid']} is not class_uid * 100 + activity_id")
    if record["metadata"]["version"] != "1.8.0":
        sys.exit(f"line {number}: metadata.version {record['metadata']['version']}")
    counts[names[uid]] = counts.get(names[uid], 0) + 1
print(json.dumps(counts, sort_keys=True))
"#;

/// Events of the benchmark's workload the second test exports.
const WORKLOAD_EVENTS: u64 = 10_000;

/// A Python with the OCSF schema package and a JSON Schema validator.
fn ocsf_python() -> std::path::PathBuf {
    python_with(
        "ocsf-venv",
        &["ocsf-json-schema==1.2.0", "jsonschema==4.23.0"],
    )
}

/// Exports the caller's tenant as OCSF, writes the file into `dir`, validates every record with
/// [`VALIDATE`] and returns the file and the records counted per class.
async fn export_and_validate(
    client: &crate::support::Client,
    dir: &std::path::Path,
) -> (String, Value) {
    let answer = client
        .post(
            "/v1/exports",
            "application/json",
            json!({"format": "ocsf"}).to_string(),
        )
        .await;
    assert_eq!(answer.status, 202, "{}", answer.text);
    let id = answer.json()["id"].as_str().unwrap().to_owned();
    let export = client.finished_export(&id).await;
    assert_eq!(export["state"], "succeeded", "{export}");
    let file = client.get(&format!("/v1/exports/{id}/file")).await;
    assert_eq!(file.content_type(), "application/x-ndjson");
    let path = dir.join("export.ocsf.ndjson");
    std::fs::write(&path, &file.text).unwrap();
    let checked = Command::new(ocsf_python())
        .args(["-c", VALIDATE])
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        checked.status.success(),
        "{}{}",
        String::from_utf8_lossy(&checked.stdout),
        String::from_utf8_lossy(&checked.stderr)
    );
    (file.text, serde_json::from_slice(&checked.stdout).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_ocsf_record_validates_against_the_schema_of_its_class() {
    let server = TestServer::start().await;
    let acme = server.client("acme", "audit:read audit:write audit:export");
    let ip = json!({"ip_address": "203.0.113.9", "user_agent": "curl/8"});
    let events = json!([
        {"action": "user.login", "actor": {"type": "user", "id": "ann", "email": "ann@example.com"}, "context": ip},
        {"action": "user.login", "outcome": "failure", "actor": {"id": "bob"}},
        {"action": "user.login"},
        {"action": "user.logout", "actor": {"email": "ann@example.com"}},
        {"action": "contract.created", "actor": {"id": "ann"}, "target": {"type": "contract", "id": "c1", "name": "Lease"},
         "changes": {"status": {"from": null, "to": "draft"}}, "metadata": {"amount": 12.5}},
        {"action": "contract.updated", "target": {"type": "contract", "id": "c1"}, "context": ip},
        {"action": "contract.deleted", "target": {"type": "contract"}},
        {"action": "document.read", "actor": {"id": "svc", "type": "service"}, "target": {"type": "document", "id": "d1"}},
        {"action": "invoice.approved", "target": {"id": "i1"}},
        {"action": "report.exported", "actor": {"id": "ann"}, "context": ip},
        {"action": "job.executed"},
        {"action": "settings.viewed", "description": "Opened the settings page"},
        {"action": "thing.happened", "outcome": "unknown", "actor": {"name": "Robot"}},
    ]);
    assert_eq!(acme.post_json(&events).await.status, 201);
    let dir = tempfile::tempdir().unwrap();
    let (text, counts) = export_and_validate(&acme, dir.path()).await;
    // Four sign-ins and -outs; four changes to a target; two data accesses: a read of a
    // document and the export's own request event (an export, whose target is the export);
    // the four others as API activity.
    assert_eq!(
        counts,
        json!({"authentication": 4, "entity_management": 4, "datastore_activity": 2, "api_activity": 4}),
        "{text}"
    );
    let first: Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    assert_eq!(first["user"]["email_addr"], "ann@example.com");
    assert_eq!(first["src_endpoint"]["ip"], "203.0.113.9");
    assert_eq!(first["metadata"]["tenant_uid"], "acme");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_ocsf_record_of_the_benchmark_workload_validates() {
    let server = TestServer::start().await;
    let acme = server.client("acme", "audit:read audit:write audit:export");
    // The benchmark's own generator, one tenant: its sign-ins and their failures, CRUD with
    // changes on six kinds of entity, reads, exports and runs, as the benchmark sends them.
    let workload = Workload::new(
        20_261_130,
        1,
        WORKLOAD_EVENTS,
        1_000,
        Timestamp::now().as_micros(),
    );
    for b in 0..workload.batches() {
        let (_, events) = workload.batch(b);
        let mut body = Vec::new();
        for event in &events {
            event.to_json(&mut body);
            body.push(b'\n');
        }
        let answer = acme
            .post(
                "/v1/events",
                "application/x-ndjson",
                String::from_utf8(body).unwrap(),
            )
            .await;
        assert_eq!(answer.status, 201, "{}", answer.text);
    }
    let dir = tempfile::tempdir().unwrap();
    let (_, counts) = export_and_validate(&acme, dir.path()).await;
    let classes = counts.as_object().unwrap();
    let total: u64 = classes.values().map(|n| n.as_u64().unwrap()).sum();
    // Every event, and the export's own request event.
    assert_eq!(total, WORKLOAD_EVENTS + 1, "{counts}");
    // Every workload event has a target, so none is API activity.
    for class in ["authentication", "entity_management", "datastore_activity"] {
        assert!(
            classes[class].as_u64().unwrap() > 0,
            "no {class} records: {counts}"
        );
    }
}
