//! Export destinations delivered for real: an e-mail through an SMTP server on loopback
//! (`aiosmtpd`, from PyPI), a webhook whose signature the `standardwebhooks` package from PyPI
//! checks, and a directory on disk. Each delivered file must equal the one downloaded from the
//! server. Reports go to the same destinations, tested here too.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};
use trailkeep_jobs::export::{Deliveries, SmtpSecurity, SmtpSettings, WebhookSettings};

use crate::support::{Client, Setup, TestServer, python_with};

const EXPORTER: &str = "audit:read audit:write audit:export";

/// A child process killed when dropped.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs `python` on `script` with `args`; answers the process and the first line it prints
/// (the port it listens on).
fn spawn_python(python: &Path, script: &str, args: &[&str]) -> (Running, String) {
    let mut child = Command::new(python)
        .arg("-c")
        .arg(script)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn python");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    (Running(child), line.trim().to_owned())
}

async fn export_to(acme: &Client, destination: Value) -> (String, Value) {
    acme.post_json(&json!([
        {"action": "user.login", "actor": {"id": "ann"}},
        {"action": "doc.read", "description": "=1+1"},
    ]))
    .await;
    let answer = acme
        .post(
            "/v1/exports",
            "application/json",
            json!({"format": "csv", "destination": destination}).to_string(),
        )
        .await;
    assert_eq!(answer.status, 202, "{}", answer.text);
    let id = answer.json()["id"].as_str().unwrap().to_owned();
    let export = acme.finished_export(&id).await;
    assert_eq!(export["state"], "succeeded", "{export}");
    (id, export)
}

/// An SMTP server on loopback that writes every message it receives into a Maildir.
const SMTP_SERVER: &str = r#"
import asyncio, socket, sys
from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Mailbox
sock = socket.socket(); sock.bind(("127.0.0.1", 0)); port = sock.getsockname()[1]; sock.close()
controller = Controller(Mailbox(sys.argv[1]), hostname="127.0.0.1", port=port)
controller.start()
print(port, flush=True)
asyncio.get_event_loop().run_forever()
"#;

/// Prints the received message's subject, recipient, and writes each attachment into a dir,
/// and its text as `body.txt` there.
const READ_MAILDIR: &str = r#"
import mailbox, os, sys
box = mailbox.Maildir(sys.argv[1], create=False)
messages = list(box)
assert len(messages) == 1, len(messages)
message = messages[0]
print(message["To"])
print(message["Subject"])
for part in message.walk():
    name = part.get_filename()
    if not name and part.get_content_type() == "text/plain":
        name = "body.txt"
    if name:
        with open(os.path.join(sys.argv[2], name), "wb") as f:
            f.write(part.get_payload(decode=True))
"#;

/// An SMTP server on loopback writing into a Maildir, and the settings that send through it.
struct Mail {
    python: std::path::PathBuf,
    dir: tempfile::TempDir,
    smtp: SmtpSettings,
    _server: Running,
}

impl Mail {
    /// Starts the server; mail may go to `allowed_domains` (any, when empty).
    fn start(allowed_domains: &[&str]) -> Self {
        let python = python_with("smtp-venv", &["aiosmtpd==1.4.6"]);
        let dir = tempfile::tempdir().unwrap();
        let maildir = dir.path().join("maildir");
        let (server, port) = spawn_python(&python, SMTP_SERVER, &[maildir.to_str().unwrap()]);
        let smtp = SmtpSettings {
            host: "127.0.0.1".into(),
            port: port.parse().unwrap(),
            security: SmtpSecurity::None,
            username: None,
            password: None,
            from: "Audit log <audit@trailkeep.test>".into(),
            max_attachment_bytes: 1024 * 1024,
            allowed_domains: allowed_domains.iter().map(|d| (*d).to_owned()).collect(),
        };
        Self {
            python,
            dir,
            smtp,
            _server: server,
        }
    }

    /// A test server sending e-mail through it.
    fn setup(&self) -> Setup {
        Setup {
            deliveries: Deliveries {
                smtp: Some(self.smtp.clone()),
                ..Deliveries::default()
            },
            ..Setup::default()
        }
    }

    /// The one message received: its recipient and subject lines, and where its attachments
    /// were written.
    fn received(&self) -> (String, std::path::PathBuf) {
        let attachments = self.dir.path().join("attachments");
        std::fs::create_dir_all(&attachments).unwrap();
        let read = Command::new(&self.python)
            .args(["-c", READ_MAILDIR])
            .arg(self.dir.path().join("maildir"))
            .arg(&attachments)
            .output()
            .unwrap();
        assert!(
            read.status.success(),
            "{}",
            String::from_utf8_lossy(&read.stderr)
        );
        (String::from_utf8(read.stdout).unwrap(), attachments)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_export_emailed_through_a_real_smtp_server_equals_the_download() {
    let mail = Mail::start(&["example.com"]);
    let server = TestServer::start_with(mail.setup()).await;
    let acme = server.client("acme", EXPORTER);
    // Outside the allowed domains, or not an address: refused before anything is queued.
    for to in ["eve@elsewhere.org", "not an address"] {
        let refused = acme
            .post(
                "/v1/exports",
                "application/json",
                json!({"format": "csv", "destination": {"type": "email", "to": to}}).to_string(),
            )
            .await;
        assert_eq!(refused.problem(400)["errors"][0]["field"], "destination");
    }
    let (id, export) = export_to(
        &acme,
        json!({"type": "email", "to": "compliance@example.com"}),
    )
    .await;
    assert_eq!(export["destination"]["type"], "email");
    let downloaded = acme.get(&format!("/v1/exports/{id}/file")).await.text;
    let (said, attachments) = mail.received();
    assert!(said.starts_with("compliance@example.com\n"), "{said}");
    assert!(said.contains(&id), "the subject names the export: {said}");
    let attached = std::fs::read_to_string(attachments.join(format!("{id}.csv"))).unwrap();
    assert_eq!(
        attached, downloaded,
        "the attachment is the downloaded file"
    );
    assert!(attachments.join(format!("{id}.manifest")).exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_export_too_large_to_attach_is_emailed_as_links_that_work_without_a_credential() {
    let mut mail = Mail::start(&[]);
    mail.smtp.max_attachment_bytes = 64;
    let server = TestServer::start_with(mail.setup()).await;
    let acme = server.client("acme", EXPORTER);
    let (id, export) = export_to(&acme, json!({"type": "email", "to": "ann@example.com"})).await;
    assert_eq!(export["file"]["bytes"].as_u64().map(|b| b > 64), Some(true));
    let downloaded = acme.get(&format!("/v1/exports/{id}/file")).await.text;
    let (_, attachments) = mail.received();
    assert!(
        !attachments.join(format!("{id}.csv")).exists(),
        "the file is not attached"
    );
    assert!(attachments.join(format!("{id}.manifest")).exists());
    let body = std::fs::read_to_string(attachments.join("body.txt")).unwrap();
    let link = body
        .lines()
        .find_map(|l| l.strip_prefix("events:"))
        .unwrap_or_else(|| panic!("no link in {body}"))
        .trim();
    let fetched = reqwest::get(link).await.unwrap();
    assert_eq!(fetched.status(), 200);
    assert_eq!(fetched.text().await.unwrap(), downloaded);
}

/// A webhook receiver that checks each request with `standardwebhooks` and writes the file it
/// carries into a directory; it answers 204, or 401 when the signature does not verify.
const WEBHOOK_RECEIVER: &str = r#"
import base64, http.server, os, sys
from standardwebhooks import Webhook
hook = Webhook(sys.argv[1])
class Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers["content-length"]))
        try:
            payload = hook.verify(body, {k.lower(): v for k, v in self.headers.items()})
        except Exception as e:
            self.send_response(401); self.end_headers(); print("refused", e, file=sys.stderr); return
        data = payload["data"]
        if "file_base64" in data:
            with open(os.path.join(sys.argv[2], data["file_name"]), "wb") as f:
                f.write(base64.b64decode(data["file_base64"]))
        else:
            with open(os.path.join(sys.argv[2], "file_url"), "w") as f:
                f.write(data["file_url"])
        with open(os.path.join(sys.argv[2], "type"), "w") as f:
            f.write(payload["type"])
        self.send_response(204); self.end_headers()
    def log_message(self, *args):
        pass
server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
"#;

/// The webhook receiver, writing what it receives into `dir`, and a server posting to it
/// files of at most `max_file_bytes`.
async fn webhook_to(dir: &Path, max_file_bytes: u64) -> (Running, TestServer) {
    let python = python_with("webhooks-venv", &["standardwebhooks==1.1.0"]);
    let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let (receiver, port) =
        spawn_python(&python, WEBHOOK_RECEIVER, &[secret, dir.to_str().unwrap()]);
    let server = TestServer::start_with(Setup {
        deliveries: Deliveries {
            webhook: Some(WebhookSettings {
                url: format!("http://127.0.0.1:{port}/exports"),
                secret: secret.into(),
                max_file_bytes,
            }),
            ..Deliveries::default()
        },
        ..Setup::default()
    })
    .await;
    (receiver, server)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_export_is_signed_as_standard_webhooks_verifies_it() {
    let dir = tempfile::tempdir().unwrap();
    let (_receiver, server) = webhook_to(dir.path(), 1024 * 1024).await;
    let acme = server.client("acme", EXPORTER);
    let (id, export) = export_to(&acme, json!({"type": "webhook"})).await;
    assert_eq!(export["destination"]["type"], "webhook");
    let downloaded = acme.get(&format!("/v1/exports/{id}/file")).await.text;
    let received = std::fs::read_to_string(dir.path().join(format!("{id}.csv")))
        .expect("the receiver verified the signature and wrote the file");
    assert_eq!(received, downloaded);
    assert_eq!(
        std::fs::read_to_string(dir.path().join("type")).unwrap(),
        "audit.export.completed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_export_too_large_to_post_carries_a_link_that_works_without_a_credential() {
    let dir = tempfile::tempdir().unwrap();
    let (_receiver, server) = webhook_to(dir.path(), 64).await;
    let acme = server.client("acme", EXPORTER);
    let (id, _) = export_to(&acme, json!({"type": "webhook"})).await;
    let downloaded = acme.get(&format!("/v1/exports/{id}/file")).await.text;
    let link = std::fs::read_to_string(dir.path().join("file_url"))
        .expect("the receiver verified the signature and got a link");
    assert!(!dir.path().join(format!("{id}.csv")).exists());
    let fetched = reqwest::get(&link).await.unwrap();
    assert_eq!(fetched.status(), 200);
    assert_eq!(fetched.text().await.unwrap(), downloaded);
}

/// A server delivering `directory` destinations under `root`.
async fn directory_server(root: &Path) -> TestServer {
    TestServer::start_with(Setup {
        deliveries: Deliveries {
            directory_root: Some(root.to_owned()),
            ..Deliveries::default()
        },
        ..Setup::default()
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_directory_export_lands_under_the_allowed_root_with_its_manifest() {
    let root = tempfile::tempdir().unwrap();
    let server = directory_server(root.path()).await;
    let acme = server.client("acme", EXPORTER);
    let outside = acme
        .post(
            "/v1/exports",
            "application/json",
            json!({"format": "csv", "destination": {"type": "directory", "path": "../escape"}})
                .to_string(),
        )
        .await;
    assert_eq!(outside.problem(400)["errors"][0]["field"], "destination");
    let (id, _) = export_to(&acme, json!({"type": "directory", "path": "2026-q4"})).await;
    let downloaded = acme.get(&format!("/v1/exports/{id}/file")).await.text;
    // Under the tenant's own folder.
    let landed = root.path().join("acme/2026-q4");
    assert_eq!(
        std::fs::read_to_string(landed.join(format!("{id}.csv"))).unwrap(),
        downloaded
    );
    let manifest = acme.get(&format!("/v1/exports/{id}/manifest")).await.text;
    assert_eq!(
        std::fs::read_to_string(landed.join(format!("{id}.manifest"))).unwrap(),
        manifest
    );
}

#[tokio::test]
async fn a_destination_the_server_lacks_is_refused_naming_it() {
    let server = TestServer::start().await;
    let acme = server.client("acme", EXPORTER);
    for (destination, name) in [
        (json!({"type": "email", "to": "a@example.com"}), "email"),
        (json!({"type": "webhook"}), "webhook"),
        (json!({"type": "directory", "path": "x"}), "directory"),
    ] {
        let answer = acme
            .post(
                "/v1/exports",
                "application/json",
                json!({"format": "ndjson", "destination": destination}).to_string(),
            )
            .await;
        let problem = answer.problem(400);
        let message = problem["errors"][0]["message"].as_str().unwrap();
        assert!(message.contains(name), "{message}");
    }
    assert_eq!(acme.get("/v1/exports").await.json()["data"], json!([]));
}

/// The seed's own request body for `POST /api/v1/audit/export`.
const SEED_EXPORT: &str = r#"{
"format": "CSV",
"filter": {
"from": "2025-01-01T00:00:00Z",
"to": "2025-01-31T23:59:59Z",
"entityType": "CONTRACT"
},
"destination": {
"type": "EMAIL",
"email": "compliance@example.com"
}
}"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_rails_export_takes_the_seeds_body_and_emails_the_contracts_of_january() {
    let mail = Mail::start(&[]);
    let server = TestServer::start_with(mail.setup()).await;
    let acme = server.client("acme", EXPORTER);
    acme.post_json(&json!([
        {"action": "contract.created", "occurred_at": "2025-01-15T10:00:00Z",
         "target": {"type": "CONTRACT", "id": "con_jan"}},
        {"action": "contract.created", "occurred_at": "2025-02-15T10:00:00Z",
         "target": {"type": "CONTRACT", "id": "con_feb"}},
        {"action": "customer.created", "occurred_at": "2025-01-15T10:00:00Z",
         "target": {"type": "CUSTOMER", "id": "cus_jan"}},
    ]))
    .await;
    let bad_address = SEED_EXPORT.replace("compliance@example.com", "compliance at example");
    let refused = acme
        .post("/api/v1/audit/export", "application/json", bad_address)
        .await;
    assert_eq!(refused.status, 400, "{}", refused.text);
    let error = refused.json()["error"].clone();
    assert_eq!(error["code"], "VALIDATION_ERROR", "{error}");
    assert_eq!(error["details"][0]["field"], "destination", "{error}");
    let answer = acme
        .post("/api/v1/audit/export", "application/json", SEED_EXPORT)
        .await;
    assert_eq!(answer.status, 202, "{}", answer.text);
    let queued = answer.json()["data"].clone();
    assert_eq!(queued["status"], "QUEUED");
    assert_eq!(queued["format"], "CSV");
    let id = queued["exportId"].as_str().unwrap().to_owned();
    let done = tokio::time::timeout(Duration::from_secs(60), async {
        loop {
            let status = acme.get(&format!("/api/v1/audit/export/{id}")).await.json();
            if !matches!(
                status["data"]["status"].as_str(),
                Some("QUEUED" | "RUNNING")
            ) {
                return status["data"].clone();
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("the export finishes");
    assert_eq!(done["status"], "COMPLETED", "{done}");
    assert_eq!(done["recordCount"], 1, "January's contract only: {done}");
    let downloaded = acme.get(done["downloadUrl"].as_str().unwrap()).await.text;
    assert!(downloaded.contains("con_jan") && !downloaded.contains("con_feb"));
    let (_, attachments) = mail.received();
    assert_eq!(
        std::fs::read_to_string(attachments.join(format!("{id}.csv"))).unwrap(),
        downloaded
    );
    // Another tenant's export id is unknown to beta.
    let beta = server.client("beta", EXPORTER);
    let hidden = beta.get(&format!("/api/v1/audit/export/{id}")).await;
    assert_eq!(hidden.status, 404);
    assert_eq!(hidden.json()["error"]["code"], "NOT_FOUND");
}

#[tokio::test]
async fn audit_rails_bad_export_bodies_get_its_error_shape_and_queue_nothing() {
    let server = TestServer::start().await;
    let acme = server.client("acme", EXPORTER);
    for body in [
        // An unknown format.
        r#"{"format": "XML"}"#,
        // An unknown destination.
        r#"{"format": "CSV", "destination": {"type": "FTP"}}"#,
        // E-mail, which this server is not configured for.
        r#"{"format": "CSV", "destination": {"type": "EMAIL", "email": "a@example.com"}}"#,
        // A bad e-mail address.
        r#"{"format": "CSV", "destination": {"type": "EMAIL", "email": "not an address"}}"#,
        // `from` after `to`.
        r#"{"format": "CSV", "filter": {"from": "2025-02-01", "to": "2025-01-01"}}"#,
        r#"{"format": "CSV", "filter": {"from": "soon"}}"#,
        r#"{"format": "CSV", "filter": {"colour": "red"}}"#,
    ] {
        let answer = acme
            .post("/api/v1/audit/export", "application/json", body)
            .await;
        assert_eq!(answer.status, 400, "{body}: {}", answer.text);
        let error = answer.json();
        assert!(error["error"]["code"].is_string(), "{body}: {error}");
        assert!(error["error"]["message"].is_string(), "{body}: {error}");
    }
    assert_eq!(acme.get("/v1/exports").await.json()["data"], json!([]));
    assert!(
        acme.all_events().await.is_empty(),
        "nothing was queued or recorded"
    );
}

/// Asks for an HTML compliance summary of today sent to `destination`; answers its id and
/// state once it finished.
async fn report_to(acme: &Client, destination: Value) -> (String, Value) {
    acme.post_json(&json!([{"action": "user.login", "actor": {"id": "ann"}}]))
        .await;
    let today = &trailkeep_event::Timestamp::now().to_string()[..10];
    let answer = acme
        .post(
            "/v1/reports",
            "application/json",
            json!({
                "type": "COMPLIANCE_SUMMARY",
                "period": {"from": today, "to": today},
                "format": "html",
                "destination": destination,
            })
            .to_string(),
        )
        .await;
    assert_eq!(answer.status, 202, "{}", answer.text);
    let id = answer.json()["id"].as_str().unwrap().to_owned();
    let report = tokio::time::timeout(Duration::from_secs(60), async {
        loop {
            let report = acme.get(&format!("/v1/reports/{id}")).await.json();
            if report["state"] != "queued" && report["state"] != "running" {
                return report;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("the report finishes");
    assert_eq!(report["state"], "succeeded", "{report}");
    (id, report)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reports_go_to_the_destinations_of_exports_each_equal_to_the_download() {
    // E-mail, through a real SMTP server; only to the allowed domains.
    let mail = Mail::start(&["example.com"]);
    let server = TestServer::start_with(mail.setup()).await;
    let acme = server.client("acme", EXPORTER);
    let today = &trailkeep_event::Timestamp::now().to_string()[..10];
    let refused = acme
        .post(
            "/v1/reports",
            "application/json",
            json!({"type": "COMPLIANCE_SUMMARY", "period": {"from": today, "to": today},
                   "format": "json", "destination": {"type": "webhook"}})
            .to_string(),
        )
        .await;
    assert_eq!(refused.problem(400)["errors"][0]["field"], "destination");
    let (id, report) =
        report_to(&acme, json!({"type": "email", "to": "auditor@example.com"})).await;
    assert_eq!(report["destination"]["type"], "email");
    let downloaded = acme.get(&format!("/v1/reports/{id}/file")).await.text;
    let (said, attachments) = mail.received();
    assert!(said.starts_with("auditor@example.com\n"), "{said}");
    assert!(said.contains(&id), "the subject names the report: {said}");
    let name = report["file"]["name"].as_str().unwrap();
    assert_eq!(
        std::fs::read_to_string(attachments.join(name)).unwrap(),
        downloaded,
        "the attachment is the downloaded file"
    );
    drop(server);

    // A webhook, signed as standardwebhooks verifies it.
    let dir = tempfile::tempdir().unwrap();
    let (_receiver, server) = webhook_to(dir.path(), 1024 * 1024).await;
    let acme = server.client("acme", EXPORTER);
    let (id, report) = report_to(&acme, json!({"type": "webhook"})).await;
    let downloaded = acme.get(&format!("/v1/reports/{id}/file")).await.text;
    let name = report["file"]["name"].as_str().unwrap();
    assert_eq!(
        std::fs::read_to_string(dir.path().join(name))
            .expect("the receiver verified the signature and wrote the file"),
        downloaded
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("type")).unwrap(),
        "audit.report.completed"
    );
    drop(server);

    // A directory, under the tenant's own folder.
    let root = tempfile::tempdir().unwrap();
    let server = directory_server(root.path()).await;
    let acme = server.client("acme", EXPORTER);
    let (id, report) = report_to(&acme, json!({"type": "directory", "path": "reports"})).await;
    let downloaded = acme.get(&format!("/v1/reports/{id}/file")).await.text;
    let name = report["file"]["name"].as_str().unwrap();
    assert_eq!(
        std::fs::read_to_string(root.path().join("acme/reports").join(name)).unwrap(),
        downloaded
    );
}
