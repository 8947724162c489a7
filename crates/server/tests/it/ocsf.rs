//! OCSF exports: every record validates against the OCSF 1.8.0 JSON schema of its class, as the
//! `ocsf-json-schema` package from PyPI builds it, checked with `jsonschema`.

use std::process::Command;

use serde_json::{Value, json};

use crate::support::{TestServer, python_with};

/// Validates each line of the file named by argv[1] against its class's schema; prints how
/// many records of each class it checked, or the first error.
const VALIDATE: &str = r#"
import json, sys
from jsonschema import Draft202012Validator
from ocsf_json_schema import get_ocsf_schema, OcsfJsonSchemaEmbedded
schema = OcsfJsonSchemaEmbedded(get_ocsf_schema(version="1.8.0"))
names = {3002: "authentication", 3004: "entity_management", 6003: "api_activity"}
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_ocsf_record_validates_against_the_schema_of_its_class() {
    let python = python_with(
        "ocsf-venv",
        &["ocsf-json-schema==1.2.0", "jsonschema==4.23.0"],
    );
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
    let answer = acme
        .post(
            "/v1/exports",
            "application/json",
            json!({"format": "ocsf"}).to_string(),
        )
        .await;
    assert_eq!(answer.status, 202, "{}", answer.text);
    let id = answer.json()["id"].as_str().unwrap().to_owned();
    let export = acme.finished_export(&id).await;
    assert_eq!(export["state"], "succeeded", "{export}");
    let file = acme.get(&format!("/v1/exports/{id}/file")).await;
    assert_eq!(file.content_type(), "application/x-ndjson");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("export.ocsf.ndjson");
    std::fs::write(&path, &file.text).unwrap();
    let checked = Command::new(&python)
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
    let counts: Value = serde_json::from_slice(&checked.stdout).unwrap();
    // Four sign-ins and -outs; five events with a target and the export's own request event
    // (whose target is the export); the four others as API activity.
    assert_eq!(
        counts,
        json!({"authentication": 4, "entity_management": 6, "api_activity": 4}),
        "{}",
        file.text
    );
    let first: Value = serde_json::from_str(file.text.lines().next().unwrap()).unwrap();
    assert_eq!(first["user"]["email_addr"], "ann@example.com");
    assert_eq!(first["src_endpoint"]["ip"], "203.0.113.9");
    assert_eq!(first["metadata"]["tenant_uid"], "acme");
}
