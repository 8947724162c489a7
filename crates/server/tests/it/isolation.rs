//! Tenant isolation, table-driven over every route the server registers.
//!
//! Tenant acme stores distinctive events and an API key; tenant beta stores a few events of its
//! own. [`table`] holds a row for every method and route the server serves (its OpenAPI
//! description plus the few routes outside it), filled in with acme's real event ids, seqs,
//! cursors and key id, and a test fails when a route is added without a row here. Against that table:
//!
//! - beta, holding every role, never gets back anything of acme's it did not send itself:
//!   acme's ids are 404, acme's cursors 400, proofs past beta's own tree 400, listings, counts
//!   and the stream hold beta's events only, writes land in beta, and naming acme in a header
//!   or a query parameter changes none of that; nothing beta does changes acme's trail or keys;
//! - a caller of acme lacking the row's role gets 403, and one without credentials 401;
//! - acme itself, with only the row's role, gets a 2xx carrying acme's data, so every row
//!   reaches something real and beta's refusals are not broken paths.

use std::collections::BTreeSet;
use std::time::Duration;

use reqwest::Method;
use reqwest::header::CONTENT_TYPE;
use serde_json::{Value, json};
use tokio::time::timeout;
use trailkeep_server::Role;

use crate::receiver::Receiver;
use crate::support::{Answer, Client, Engine, TestServer};

/// Longest wait for a stream's first message.
const WAIT: Duration = Duration::from_secs(20);
/// A stream that sends nothing for this long has replayed all it has.
const QUIET: Duration = Duration::from_millis(500);

/// Values found in acme's events and key and nowhere in beta's.
const ACME_VALUES: &[&str] = &[
    "invoice.created",
    "user.login",
    "document.read",
    "acme-alice",
    "acme-bob",
    "alice@acme.example",
    "203.0.113.77",
    "acme-moonshot",
    "acme-inv-77",
    "acme-doc-1",
    "acme-ingest-bot",
    "acme-security-hook",
    "acme-invoice-watch",
];

/// acme's events, each with a client-supplied id.
fn acme_events() -> Value {
    let read_doc = |n: u32, actor: &str| {
        json!({
            "id": format!("acme-secret-{n}"),
            "action": "document.read",
            "actor": {"id": actor},
            "target": {"type": "document", "id": "acme-doc-1"},
        })
    };
    json!([
        {
            "id": "acme-secret-1",
            "action": "invoice.created",
            "actor": {"id": "acme-alice", "email": "alice@acme.example"},
            "target": {"type": "invoice", "id": "acme-inv-77"},
            "context": {"ip_address": "203.0.113.77"},
            "metadata": {"project": "acme-moonshot"},
        },
        {
            "id": "acme-secret-2",
            "action": "user.login",
            "outcome": "failure",
            "actor": {"id": "acme-bob"},
            "context": {"ip_address": "203.0.113.77"},
        },
        {"id": "acme-secret-3", "action": "user.login", "actor": {"id": "acme-alice"}},
        {"id": "acme-secret-4", "action": "user.login", "actor": {"id": "acme-bob"}},
        read_doc(5, "acme-alice"),
        read_doc(6, "acme-bob"),
        read_doc(7, "acme-alice"),
    ])
}

/// beta's events: a login, a read and another, none sharing a value with acme's.
fn beta_events() -> Value {
    json!([
        {"id": "beta-own-1", "action": "parcel.scanned", "actor": {"id": "beta-carol"}},
        {"id": "beta-own-2", "action": "driver.signin", "actor": {"id": "beta-carol"}},
        {
            "id": "beta-own-3",
            "action": "manifest.viewed",
            "actor": {"id": "beta-carol"},
            "target": {"type": "manifest", "id": "beta-m-1"},
        },
    ])
}

/// An API key: its id and secret, and the two as one key.
struct Key {
    id: String,
    secret: String,
    key: String,
}

/// What acme stored, and with it every value beta must never get back.
struct Acme {
    /// The exact body acme imported its events with, under the `Idempotency-Key` "acme-import-1".
    import: String,
    leaf_hashes: Vec<String>,
    /// The seq of acme's first imported event (its rule's events come before).
    first_seq: u64,
    /// The seq of acme's last imported event, past the end of beta's tree while the reads run.
    last_seq: u64,
    tree_size: u64,
    root: String,
    key: Key,
    events_cursor: String,
    history_cursor: String,
    logins_cursor: String,
    access_cursor: String,
    /// A finished export of acme's logins (NDJSON, filtered: its proofs file has audit paths).
    export_id: String,
    /// A signed link to that export's file (the path, token included).
    export_link: String,
    /// A finished HTML compliance summary of acme's day.
    report_id: String,
    /// acme's webhook subscription, and its signing secret.
    webhook_id: String,
    webhook_secret: String,
    /// acme's webhook made through Audit Rail's routes.
    rail_webhook_id: String,
    /// acme's own detection rule, and the alert it raised on acme's invoice.
    rule_id: String,
    alert_id: String,
    /// acme's legal hold (on acme-alice), its retention run and its erasure.
    hold_id: String,
    run_id: String,
    erasure_id: String,
}

/// Both tenants, seeded.
struct World {
    acme: Acme,
    beta_key: Key,
    /// The endpoint acme's webhooks post to.
    receiver: Receiver,
}

impl World {
    async fn seed(server: &TestServer) -> Self {
        let acme = server.client("acme", &every_role());
        let rule = acme
            .post(
                "/v1/rules",
                "application/json",
                json!({
                    "name": "acme-invoice-watch",
                    "filter": {"action": "invoice.created"},
                    "group_by": ["actor.id"],
                    "threshold": 1,
                    "window_minutes": 5,
                })
                .to_string(),
            )
            .await;
        assert_eq!(rule.status, 201, "{}", rule.text);
        let rule_id = rule.json()["id"].as_str().unwrap().to_owned();
        // The keys made below must raise no alert of their own whatever the day: the only
        // alert is the one of acme's rule.
        for tenant in ["acme", "beta"] {
            let off = server
                .client(tenant, &every_role())
                .call(
                    Method::PATCH,
                    "/v1/rules/api-key-off-hours",
                    Some(&json!({"enabled": false})),
                )
                .await;
            assert_eq!(off.status, 200, "{}", off.text);
        }
        let import = acme_events().to_string();
        let answer = acme
            .http
            .post(format!("{}/v1/events", acme.base))
            .header(CONTENT_TYPE, "application/json")
            .header("idempotency-key", "acme-import-1")
            .body(import.clone())
            .send()
            .await
            .unwrap();
        let answer = crate::support::read(answer).await;
        assert_eq!(answer.status, 201, "{}", answer.text);
        let receipts = answer.json()["receipts"].as_array().unwrap().clone();
        let key = create_key(&acme, "acme-ingest-bot").await;
        let beta = server.client("beta", &every_role());
        let answer = beta.post_json(&beta_events()).await;
        assert_eq!(answer.status, 201, "{}", answer.text);
        let beta_key = create_key(&beta, "beta-bot").await;

        // The export's own events are in acme's trail before its checkpoint is taken.
        let export_id = finished_export(&acme).await;
        let report_id = finished_report(&acme).await;
        let links = acme
            .post(
                &format!("/v1/exports/{export_id}/links"),
                "application/json",
                "",
            )
            .await;
        assert_eq!(links.status, 201, "{}", links.text);
        let file_link = links.json()["file"].as_str().unwrap().to_owned();
        let export_link = file_link[file_link.find("/v1/").unwrap()..].to_owned();
        let receiver = Receiver::start().await;
        let webhook = acme
            .post(
                "/v1/webhooks",
                "application/json",
                json!({
                    "url": receiver.url("/acme"),
                    "event_types": ["audit.log.created"],
                    "description": "acme-security-hook",
                })
                .to_string(),
            )
            .await;
        assert_eq!(webhook.status, 201, "{}", webhook.text);
        let webhook = webhook.json();
        let rail_webhook = acme
            .post(
                "/api/v1/audit/webhooks",
                "application/json",
                json!({"url": receiver.url("/rail"), "events": ["audit.export.completed"],
                       "description": "acme-security-hook"})
                .to_string(),
            )
            .await;
        assert_eq!(rail_webhook.status, 201, "{}", rail_webhook.text);
        let rail_webhook_id = rail_webhook.json()["data"]["id"]
            .as_str()
            .unwrap()
            .to_owned();
        // The rule's alert is in acme's trail before anything is compared.
        let alert_id = timeout(WAIT, async {
            loop {
                let alerts = acme.get("/v1/alerts").await.json();
                if let Some(id) = alerts["data"][0]["id"].as_str() {
                    return id.to_owned();
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
        .await
        .expect("acme's rule raises an alert");
        // A policy that keeps acme's invoices ten years, a hold on one of acme's actors, a
        // retention run that removes nothing, and an erasure of a person acme never saw.
        let policy = acme
            .call(
                Method::PUT,
                "/v1/retention",
                Some(&json!({"overrides": [{"action": "invoice.created", "days": 3650}]})),
            )
            .await;
        assert_eq!(policy.status, 200, "{}", policy.text);
        let hold = acme
            .post(
                "/v1/legal-holds",
                "application/json",
                json!({"scope": {"type": "actor", "id": "acme-alice"}, "reason": "acme-moonshot review"})
                    .to_string(),
            )
            .await;
        assert_eq!(hold.status, 201, "{}", hold.text);
        let hold_id = hold.json()["id"].as_str().unwrap().to_owned();
        let run_id = finished_job(&acme, "/v1/retention/runs", json!({})).await;
        let erasure_id = finished_job(
            &acme,
            "/v1/erasures",
            json!({"actor_id": "acme-nobody", "reason": "acme-moonshot request"}),
        )
        .await;
        let size = acme.all_events().await.len();
        let checkpoint = acme
            .get(&format!("/v1/ledger/checkpoint?min_size={size}"))
            .await;
        assert_eq!(checkpoint.status, 200, "{}", checkpoint.text);
        let lines: Vec<&str> = checkpoint.text.lines().collect();
        let acme = Acme {
            import,
            leaf_hashes: receipts
                .iter()
                .map(|r| r["leaf_hash"].as_str().unwrap().to_owned())
                .collect(),
            first_seq: receipts[0]["seq"].as_u64().unwrap(),
            last_seq: receipts.last().unwrap()["seq"].as_u64().unwrap(),
            tree_size: lines[1].parse().unwrap(),
            root: lines[2].to_owned(),
            key,
            events_cursor: next_cursor(&acme, "/v1/events?limit=2").await,
            history_cursor: next_cursor(&acme, "/v1/entities/document/acme-doc-1/history?limit=2")
                .await,
            logins_cursor: next_cursor(&acme, "/v1/logins?limit=2").await,
            access_cursor: next_cursor(&acme, "/v1/access?limit=2").await,
            export_id,
            export_link,
            report_id,
            webhook_id: webhook["webhook"]["id"].as_str().unwrap().to_owned(),
            webhook_secret: webhook["secret"].as_str().unwrap().to_owned(),
            rail_webhook_id,
            rule_id,
            alert_id,
            hold_id,
            run_id,
            erasure_id,
        };
        Self {
            acme,
            beta_key,
            receiver,
        }
    }
}

impl Acme {
    /// Everything of acme's that must not reach beta.
    fn secrets(&self) -> Vec<String> {
        let ids = (1..=7).map(|n| format!("acme-secret-{n}"));
        let values = ACME_VALUES.iter().map(|v| (*v).to_owned());
        let stored = [
            &self.root,
            &self.key.id,
            &self.key.secret,
            &self.events_cursor,
            &self.history_cursor,
            &self.logins_cursor,
            &self.access_cursor,
            &self.export_id,
            &self.export_link,
            &self.report_id,
            &self.webhook_id,
            &self.webhook_secret,
            &self.rail_webhook_id,
            &self.rule_id,
            &self.alert_id,
            &self.hold_id,
            &self.run_id,
            &self.erasure_id,
        ];
        ids.chain(values)
            .chain(self.leaf_hashes.iter().cloned())
            .chain(stored.into_iter().cloned())
            .collect()
    }

    fn token_request(&self, secret: &str) -> String {
        json!({
            "grant_type": "client_credentials",
            "client_id": self.key.id,
            "client_secret": secret,
        })
        .to_string()
    }

    /// Port's `POST /v1/auth/access_token` body for acme's key id with `secret`.
    fn port_token_request(&self, secret: &str) -> String {
        json!({"clientId": self.key.id, "clientSecret": secret}).to_string()
    }
}

/// The scope of every role.
fn every_role() -> String {
    Role::ALL.map(Role::scope).join(" ")
}

/// The scope of every role but `missing`.
fn every_role_but(missing: Role) -> String {
    Role::ALL
        .into_iter()
        .filter(|r| *r != missing)
        .map(Role::scope)
        .collect::<Vec<_>>()
        .join(" ")
}

async fn create_key(admin: &Client, name: &str) -> Key {
    let body = json!({"name": name, "roles": ["audit:read", "audit:write"]});
    let answer = admin
        .post("/v1/api-keys", "application/json", body.to_string())
        .await;
    assert_eq!(answer.status, 201, "{}", answer.text);
    let created = answer.json();
    Key {
        id: created["client_id"].as_str().unwrap().to_owned(),
        secret: created["client_secret"].as_str().unwrap().to_owned(),
        key: created["key"].as_str().unwrap().to_owned(),
    }
}

/// A link's path with its signed text changed to name beta instead of acme.
fn bent_to_beta(link: &str) -> String {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let (base, token) = link.rsplit_once('/').unwrap();
    let note = String::from_utf8(URL_SAFE_NO_PAD.decode(token).unwrap()).unwrap();
    let bent = note.replace("\"tenant\":\"acme\"", "\"tenant\":\"beta\"");
    assert_ne!(bent, note, "the link names acme: {note}");
    format!("{base}/{}", URL_SAFE_NO_PAD.encode(bent))
}

/// Exports acme's logins and waits for the export to finish; answers its id.
async fn finished_export(acme: &Client) -> String {
    let body = json!({"format": "ndjson", "filter": {"action": "user.login"}});
    finished_job(acme, "/v1/exports", body).await
}

/// Posts `body` to `path` (a job's route), waits until the job succeeded; answers its id.
async fn finished_job(acme: &Client, path: &str, body: Value) -> String {
    let answer = acme.post(path, "application/json", body.to_string()).await;
    assert_eq!(answer.status, 202, "{}", answer.text);
    let id = answer.json()["id"].as_str().unwrap().to_owned();
    timeout(WAIT, async {
        loop {
            let state = acme.get(&format!("{path}/{id}")).await.json();
            if state["state"] == "succeeded" {
                return;
            }
            assert!(
                state["state"] == "queued" || state["state"] == "running",
                "{state}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("acme's {path} job finishes"));
    id
}

/// Makes an HTML compliance summary of acme's day and waits for it; answers its id.
async fn finished_report(acme: &Client) -> String {
    let today = &trailkeep_event::Timestamp::now().to_string()[..10];
    let body = json!({
        "type": "COMPLIANCE_SUMMARY",
        "period": {"from": today, "to": today},
        "format": "html",
    });
    finished_job(acme, "/v1/reports", body).await
}

async fn next_cursor(client: &Client, path: &str) -> String {
    let answer = client.get(path).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    answer.json()["next_cursor"]
        .as_str()
        .unwrap_or_else(|| panic!("{path} has a second page: {}", answer.text))
        .to_owned()
}

/// What beta, holding every role, must get from a row.
#[derive(Clone, Copy, Debug)]
enum BetaGets {
    /// A 2xx with nothing tenant-specific in it (operations endpoints, the service's key).
    Answer,
    /// A refusal with this status: problem+json, or a dialect's JSON error body.
    Problem(u16),
    /// A 2xx whose records all carry ids of beta's own events, and at least one (dialects'
    /// records name no tenant).
    OwnIds,
    /// A 2xx whose records (events, keys, stream messages) are all beta's, and at least one.
    OwnRecords,
    /// A 2xx that lists and counts nothing.
    Nothing,
    /// Statistics over beta's own events.
    OwnStats,
    /// A dialect's statistics: the count at this JSON pointer is beta's number of events.
    OwnTotal(&'static str),
    /// beta's own checkpoint.
    OwnCheckpoint,
}

/// One request to one route.
struct Row {
    method: Method,
    /// The route as `routes.rs` registers it.
    route: &'static str,
    /// The role the route needs; `None` for the open routes and those any credential opens.
    needs: Option<Role>,
    /// The route takes any valid credential, whatever its roles.
    any_credential: bool,
    /// A second role the route needs for its work (an embed token reads, so its maker must).
    also_needs: Option<Role>,
    /// The path and query, with acme's ids, seqs and cursors in it.
    path: String,
    headers: Vec<(&'static str, String)>,
    /// A JSON body.
    body: Option<String>,
    /// What beta sends instead of `body`, where acme's body is acme's credential itself.
    beta_body: Option<String>,
    /// What beta requests instead of `path`, where acme's path is acme's credential itself.
    beta_path: Option<String>,
    beta_gets: BetaGets,
    /// acme's own answer carries acme's data.
    shows_acme: bool,
}

impl Row {
    fn new(
        method: Method,
        route: &'static str,
        needs: Option<Role>,
        path: impl Into<String>,
        beta_gets: BetaGets,
    ) -> Self {
        Self {
            method,
            route,
            needs,
            any_credential: false,
            also_needs: None,
            path: path.into(),
            headers: Vec::new(),
            body: None,
            beta_body: None,
            beta_path: None,
            beta_gets,
            shows_acme: false,
        }
    }

    /// A `GET` of a route that needs the read role, whose answer to acme shows acme's data.
    fn read(route: &'static str, path: impl Into<String>, beta_gets: BetaGets) -> Self {
        Self::new(Method::GET, route, Some(Role::Read), path, beta_gets).showing_acme()
    }

    /// A `GET` of a route that any valid credential opens, whatever its roles.
    fn signed_in(route: &'static str, path: impl Into<String>, beta_gets: BetaGets) -> Self {
        Self {
            any_credential: true,
            ..Self::new(Method::GET, route, None, path, beta_gets)
        }
    }

    /// What the route needs, as the description's `x-required-role` names it.
    fn needs_name(&self) -> Option<String> {
        if self.any_credential {
            Some("Any".to_owned())
        } else {
            self.needs.map(|r| format!("{r:?}"))
        }
    }

    fn also_needing(mut self, role: Role) -> Self {
        self.also_needs = Some(role);
        self
    }

    fn showing_acme(mut self) -> Self {
        self.shows_acme = true;
        self
    }

    fn with_body(mut self, body: impl Into<String>) -> Self {
        self.body = Some(body.into());
        self
    }

    fn with_beta_body(mut self, body: String) -> Self {
        self.beta_body = Some(body);
        self
    }

    fn with_beta_path(mut self, path: String) -> Self {
        self.beta_path = Some(path);
        self
    }

    fn with_header(mut self, name: &'static str, value: &str) -> Self {
        self.headers.push((name, value.to_owned()));
        self
    }
}

/// Every route with acme's real values filled in. Reads come first and writes after them, the
/// revocation of acme's key last: beta's copy of acme's import puts acme's ids into beta's own
/// trail, and acme's own run of the table must exchange its key before revoking it.
fn table(world: &World) -> Vec<Row> {
    use BetaGets::{
        Answer, Nothing, OwnCheckpoint, OwnIds, OwnRecords, OwnStats, OwnTotal, Problem,
    };
    let acme = &world.acme;
    let history = "/v1/entities/{kind}/{id}/history";
    let webhook = format!("/v1/webhooks/{}", acme.webhook_id);
    let rule = format!("/v1/rules/{}", acme.rule_id);
    let alert = format!("/v1/alerts/{}", acme.alert_id);
    vec![
        Row::new(Method::GET, "/healthz", None, "/healthz", Answer),
        Row::new(Method::GET, "/readyz", None, "/readyz", Answer),
        Row::new(Method::GET, "/metrics", None, "/metrics", Answer),
        Row::new(Method::GET, "/openapi.json", None, "/openapi.json", Answer),
        Row::new(Method::GET, "/docs", None, "/docs", Answer),
        // The viewer: its files, the session and embed tokens.
        Row::new(Method::GET, "/ui", None, "/ui", Answer),
        Row::new(Method::GET, "/ui/", None, "/ui/", Answer),
        Row::new(Method::GET, "/ui/{*path}", None, "/ui/style.css", Answer),
        Row::signed_in("/v1/session", "/v1/session", Answer),
        Row::new(
            Method::POST,
            "/v1/viewer-tokens",
            Some(Role::Admin),
            "/v1/viewer-tokens",
            Answer,
        )
        .with_body(json!({"scope": {"actor_id": "acme-alice"}, "viewer": "acme-viewer"}).to_string())
        .with_beta_body(json!({"scope": {"actor_id": "beta-carol"}}).to_string())
        .also_needing(Role::Read),
        // Audit Rail.
        Row::read("/api/v1/audit/logs", "/api/v1/audit/logs", OwnIds),
        Row::read(
            "/api/v1/audit/logs",
            "/api/v1/audit/logs?actorId=acme-alice",
            Nothing,
        ),
        Row::read(
            "/api/v1/audit/logs/{logId}",
            "/api/v1/audit/logs/acme-secret-1",
            Problem(404),
        ),
        Row::read(
            "/api/v1/audit/entities/{entityType}/{entityId}/history",
            "/api/v1/audit/entities/document/acme-doc-1/history",
            Nothing,
        ),
        Row::read(
            "/api/v1/audit/access-logs",
            "/api/v1/audit/access-logs?actorId=acme-alice",
            Nothing,
        ),
        Row::read(
            "/api/v1/audit/login-history",
            "/api/v1/audit/login-history?userId=acme-bob",
            Nothing,
        ),
        Row::new(
            Method::GET,
            "/api/v1/audit/export/{exportId}",
            Some(Role::Export),
            format!("/api/v1/audit/export/{}", acme.export_id),
            Problem(404),
        ),
        Row::new(
            Method::GET,
            "/api/v1/audit/stats",
            Some(Role::Read),
            "/api/v1/audit/stats",
            OwnTotal("/data/totalEvents"),
        ),
        // Port.
        Row::read("/v1/audit", "/v1/audit", OwnIds),
        Row::read("/v1/audit", "/v1/audit?user=acme-alice", Nothing),
        Row::read("/v1/audit-log", "/v1/audit-log", OwnIds),
        Row::read("/v1/audit/{id}", "/v1/audit/acme-secret-1", Problem(404)),
        // Cloudflare: acme's account in the path is a 403 for beta.
        Row::read(
            "/accounts/{account_id}/logs/audit",
            "/accounts/acme/logs/audit?since=2000-01-01&before=2100-01-01",
            Problem(403),
        ),
        Row::read(
            "/accounts/{account_id}/audit_logs",
            "/accounts/acme/audit_logs",
            Problem(403),
        ),
        Row::new(
            Method::GET,
            "/user/audit_logs",
            Some(Role::Read),
            "/user/audit_logs",
            OwnIds,
        ),
        Row::read(
            "/client/v4/accounts/{account_id}/logs/audit",
            "/client/v4/accounts/acme/logs/audit?since=2000-01-01&before=2100-01-01",
            Problem(403),
        ),
        Row::read(
            "/client/v4/accounts/{account_id}/audit_logs",
            "/client/v4/accounts/acme/audit_logs",
            Problem(403),
        ),
        Row::new(
            Method::GET,
            "/client/v4/user/audit_logs",
            Some(Role::Read),
            "/client/v4/user/audit_logs",
            OwnIds,
        ),
        // Kore.
        Row::read("/api/public/auditlogs", "/api/public/auditlogs", OwnIds),
        Row::read(
            "/api/public/auditlogs",
            "/api/public/auditlogs?userId=acme-alice",
            Nothing,
        ),
        // Persys, at the root and under /audit-service.
        Row::read("/audit-logs", "/audit-logs", OwnIds),
        Row::read("/audit-logs", "/audit-logs?user_id=acme-alice", Nothing),
        Row::read(
            "/audit-logs/{id}",
            "/audit-logs/acme-secret-1",
            Problem(404),
        ),
        Row::read(
            "/audit-service/audit-logs",
            "/audit-service/audit-logs",
            OwnIds,
        ),
        Row::read(
            "/audit-service/audit-logs",
            "/audit-service/audit-logs?event_type=invoice.created",
            Nothing,
        ),
        Row::read(
            "/audit-service/audit-logs/{id}",
            "/audit-service/audit-logs/acme-secret-1",
            Problem(404),
        ),
        Row::read("/v1/events", "/v1/events", OwnRecords),
        Row::read(
            "/v1/events",
            "/v1/events?actor_id=acme-alice&page=1&per_page=10",
            Nothing,
        ),
        Row::read(
            "/v1/events",
            "/v1/events?q=moonshot&metadata.project=acme-moonshot&ip=203.0.113.77",
            Nothing,
        ),
        Row::read(
            "/v1/events",
            "/v1/events?target_type=document&target_id=acme-doc-1",
            Nothing,
        ),
        Row::read(
            "/v1/events",
            format!("/v1/events?limit=2&cursor={}", acme.events_cursor),
            Problem(400),
        ),
        Row::read(
            "/v1/events/stream",
            "/v1/events/stream?from_seq=0",
            OwnRecords,
        ),
        Row::read("/v1/events/{id}", "/v1/events/acme-secret-1", Problem(404)),
        Row::read(
            "/v1/events/{id}",
            "/v1/events/acme-secret-5?proof=1",
            Problem(404),
        ),
        Row::read(history, "/v1/entities/document/acme-doc-1/history", Nothing),
        Row::read(
            history,
            format!(
                "/v1/entities/document/acme-doc-1/history?limit=2&cursor={}",
                acme.history_cursor
            ),
            Problem(400),
        ),
        Row::read("/v1/logins", "/v1/logins", OwnRecords),
        Row::read(
            "/v1/logins",
            "/v1/logins?user=acme-bob&status=failure",
            Nothing,
        ),
        Row::read(
            "/v1/logins",
            format!("/v1/logins?limit=2&cursor={}", acme.logins_cursor),
            Problem(400),
        ),
        Row::read("/v1/access", "/v1/access", OwnRecords),
        Row::read(
            "/v1/access",
            "/v1/access?resource_type=document&access_type=read",
            Nothing,
        ),
        Row::read(
            "/v1/access",
            format!("/v1/access?limit=2&cursor={}", acme.access_cursor),
            Problem(400),
        ),
        Row::read("/v1/stats", "/v1/stats?group_by=action,actor", OwnStats),
        Row::read(
            "/v1/stats",
            "/v1/stats?actor_id=acme-alice&group_by=action",
            Nothing,
        ),
        Row::new(
            Method::GET,
            "/v1/ledger/key",
            Some(Role::Read),
            "/v1/ledger/key",
            Answer,
        ),
        Row::read(
            "/v1/ledger/checkpoint",
            "/v1/ledger/checkpoint",
            OwnCheckpoint,
        ),
        Row::read(
            "/v1/ledger/proofs/inclusion",
            format!(
                "/v1/ledger/proofs/inclusion?seq={}&tree_size={}",
                acme.last_seq, acme.tree_size
            ),
            Problem(400),
        ),
        Row::read(
            "/v1/ledger/proofs/consistency",
            format!(
                "/v1/ledger/proofs/consistency?first={}&second={}",
                acme.first_seq + 1,
                acme.tree_size
            ),
            Problem(400),
        ),
        Row::new(
            Method::GET,
            "/v1/api-keys",
            Some(Role::Admin),
            "/v1/api-keys",
            OwnRecords,
        )
        .showing_acme(),
        // Exports: acme's export id is a 404 for beta on every route.
        Row::new(
            Method::GET,
            "/v1/exports",
            Some(Role::Export),
            "/v1/exports",
            Nothing,
        )
        .showing_acme(),
        Row::new(
            Method::GET,
            "/v1/exports/{id}",
            Some(Role::Export),
            format!("/v1/exports/{}", acme.export_id),
            Problem(404),
        )
        .showing_acme(),
        Row::new(
            Method::GET,
            "/v1/exports/{id}/file",
            Some(Role::Export),
            format!("/v1/exports/{}/file", acme.export_id),
            Problem(404),
        )
        .showing_acme(),
        Row::new(
            Method::GET,
            "/v1/exports/{id}/manifest",
            Some(Role::Export),
            format!("/v1/exports/{}/manifest", acme.export_id),
            Problem(404),
        )
        .showing_acme(),
        Row::new(
            Method::GET,
            "/v1/exports/{id}/proofs",
            Some(Role::Export),
            format!("/v1/exports/{}/proofs", acme.export_id),
            Problem(404),
        )
        .showing_acme(),
        // Reports: acme's report id is a 404 for beta on every route (acme's own answers to
        // the two status routes name nothing of acme's but the id it asked with).
        Row::new(
            Method::GET,
            "/v1/reports",
            Some(Role::Export),
            "/v1/reports",
            Nothing,
        )
        .showing_acme(),
        Row::new(
            Method::GET,
            "/v1/reports/{id}",
            Some(Role::Export),
            format!("/v1/reports/{}", acme.report_id),
            Problem(404),
        ),
        Row::new(
            Method::GET,
            "/v1/reports/{id}/file",
            Some(Role::Export),
            format!("/v1/reports/{}/file", acme.report_id),
            Problem(404),
        )
        .showing_acme(),
        Row::new(
            Method::GET,
            "/api/v1/audit/reports/{reportId}",
            Some(Role::Export),
            format!("/api/v1/audit/reports/{}", acme.report_id),
            Problem(404),
        ),
        // A signed link is a credential of its own: beta holds no link of acme's, and acme's
        // link bent to name beta does not open.
        Row::new(
            Method::GET,
            "/v1/export-links/{token}",
            None,
            acme.export_link.clone(),
            Problem(403),
        )
        .with_beta_path(bent_to_beta(&acme.export_link))
        .showing_acme(),
        // A copy of acme's import, ids and idempotency key included: acme gets its own events
        // back (a replay), beta a new batch of its own.
        Row::new(
            Method::POST,
            "/v1/events",
            Some(Role::Write),
            "/v1/events",
            OwnRecords,
        )
        .with_header("idempotency-key", "acme-import-1")
        .with_body(acme.import.clone())
        .showing_acme(),
        Row::new(
            Method::POST,
            "/v1/api-keys",
            Some(Role::Admin),
            "/v1/api-keys",
            OwnRecords,
        )
        .with_body(json!({"name": "copied key", "roles": ["audit:admin"]}).to_string()),
        // Audit Rail's export: beta's is beta's own.
        Row::new(
            Method::POST,
            "/api/v1/audit/export",
            Some(Role::Export),
            "/api/v1/audit/export",
            Answer,
        )
        .with_body(json!({"format": "CSV", "filter": {"entityType": "invoice"}}).to_string()),
        // Reports: beta's are beta's own (acme's answers name acme's tenant and report).
        Row::new(
            Method::POST,
            "/v1/reports",
            Some(Role::Export),
            "/v1/reports",
            OwnRecords,
        )
        .with_body(
            json!({"type": "SECURITY_EVENTS", "period": {"from": "2026-01-01", "to": "2026-01-31"}, "format": "json"})
                .to_string(),
        ),
        Row::new(
            Method::POST,
            "/api/v1/audit/reports",
            Some(Role::Export),
            "/api/v1/audit/reports",
            Answer,
        )
        .with_body(
            json!({"reportType": "COMPLIANCE_SUMMARY", "period": {"from": "2025-01-01", "to": "2025-01-31"}, "includeStats": true, "format": "JSON"})
                .to_string(),
        ),
        // beta's export of the same filter is beta's own (acme's answer names acme).
        Row::new(
            Method::POST,
            "/v1/exports",
            Some(Role::Export),
            "/v1/exports",
            OwnRecords,
        )
        .with_body(json!({"format": "csv", "filter": {"action": "invoice.created"}}).to_string()),
        // Links to acme's export: a 404 for beta.
        Row::new(
            Method::POST,
            "/v1/exports/{id}/links",
            Some(Role::Export),
            format!("/v1/exports/{}/links", acme.export_id),
            Problem(404),
        )
        .with_body("{}"),
        // Webhooks: acme's subscription is a 404 for beta on every route; beta's listing holds
        // none of acme's, and a subscription beta makes is its own.
        Row::new(
            Method::GET,
            "/v1/webhooks",
            Some(Role::Admin),
            "/v1/webhooks",
            Nothing,
        )
        .showing_acme(),
        Row::new(
            Method::GET,
            "/v1/webhooks/{id}",
            Some(Role::Admin),
            webhook.clone(),
            Problem(404),
        )
        .showing_acme(),
        Row::new(
            Method::GET,
            "/v1/webhooks/{id}/deliveries",
            Some(Role::Admin),
            format!("{webhook}/deliveries"),
            Problem(404),
        ),
        Row::new(
            Method::POST,
            "/v1/webhooks",
            Some(Role::Admin),
            "/v1/webhooks",
            Answer,
        )
        .with_body(
            json!({"url": world.receiver.url("/copied"), "event_types": ["audit.log.created"]})
                .to_string(),
        ),
        Row::new(
            Method::PATCH,
            "/v1/webhooks/{id}",
            Some(Role::Admin),
            webhook.clone(),
            Problem(404),
        )
        .with_body(json!({"filter": {"action": "user.login"}}).to_string())
        .showing_acme(),
        Row::new(
            Method::POST,
            "/v1/webhooks/{id}/pause",
            Some(Role::Admin),
            format!("{webhook}/pause"),
            Problem(404),
        )
        .showing_acme(),
        Row::new(
            Method::POST,
            "/v1/webhooks/{id}/resume",
            Some(Role::Admin),
            format!("{webhook}/resume"),
            Problem(404),
        )
        .showing_acme(),
        Row::new(
            Method::POST,
            "/v1/webhooks/{id}/test",
            Some(Role::Admin),
            format!("{webhook}/test"),
            Problem(404),
        ),
        Row::new(
            Method::POST,
            "/v1/webhooks/{id}/replay",
            Some(Role::Admin),
            format!("{webhook}/replay"),
            Problem(404),
        )
        .with_body(json!({"from_seq": 0}).to_string()),
        Row::new(
            Method::POST,
            "/v1/webhooks/{id}/rotate",
            Some(Role::Admin),
            format!("{webhook}/rotate"),
            Problem(404),
        )
        .showing_acme(),
        Row::new(
            Method::DELETE,
            "/v1/webhooks/{id}",
            Some(Role::Admin),
            webhook.clone(),
            Problem(404),
        ),
        // Audit Rail's webhooks: the same subscriptions in the Rail's envelope.
        Row::new(
            Method::GET,
            "/api/v1/audit/webhooks",
            Some(Role::Admin),
            "/api/v1/audit/webhooks",
            // beta's own, made by the row of POST /v1/webhooks before: the same subscriptions.
            Answer,
        )
        .showing_acme(),
        Row::new(
            Method::GET,
            "/api/v1/audit/webhooks/{webhookId}",
            Some(Role::Admin),
            format!("/api/v1/audit/webhooks/{}", acme.rail_webhook_id),
            Problem(404),
        )
        .showing_acme(),
        Row::new(
            Method::POST,
            "/api/v1/audit/webhooks",
            Some(Role::Admin),
            "/api/v1/audit/webhooks",
            Answer,
        )
        .with_body(
            json!({"url": world.receiver.url("/rail-copied"), "events": ["audit.log.created"]})
                .to_string(),
        ),
        Row::new(
            Method::DELETE,
            "/api/v1/audit/webhooks/{webhookId}",
            Some(Role::Admin),
            format!("/api/v1/audit/webhooks/{}", acme.rail_webhook_id),
            Problem(404),
        ),
        // Retention: acme's policy, hold, run and erasure are acme's alone; beta's listings
        // hold none of them; what beta sets or asks for is its own.
        Row::new(
            Method::GET,
            "/v1/retention",
            Some(Role::Admin),
            "/v1/retention",
            Answer,
        )
        .showing_acme(),
        Row::new(
            Method::GET,
            "/v1/retention/runs",
            Some(Role::Admin),
            "/v1/retention/runs",
            Nothing,
        )
        .showing_acme(),
        Row::new(
            Method::GET,
            "/v1/retention/runs/{id}",
            Some(Role::Admin),
            format!("/v1/retention/runs/{}", acme.run_id),
            Problem(404),
        ),
        Row::new(
            Method::GET,
            "/v1/legal-holds",
            Some(Role::Admin),
            "/v1/legal-holds",
            Nothing,
        )
        .showing_acme(),
        Row::new(
            Method::GET,
            "/v1/legal-holds/{id}",
            Some(Role::Admin),
            format!("/v1/legal-holds/{}", acme.hold_id),
            Problem(404),
        )
        .showing_acme(),
        Row::new(
            Method::GET,
            "/v1/erasures",
            Some(Role::Admin),
            "/v1/erasures",
            Nothing,
        )
        .showing_acme(),
        Row::new(
            Method::GET,
            "/v1/erasures/{id}",
            Some(Role::Admin),
            format!("/v1/erasures/{}", acme.erasure_id),
            Problem(404),
        )
        .showing_acme(),
        Row::new(
            Method::PUT,
            "/v1/retention",
            Some(Role::Admin),
            "/v1/retention",
            Answer,
        )
        .with_body(json!({"default_days": 3650, "overrides": [{"category": "export", "days": 3650}]}).to_string()),
        Row::new(
            Method::POST,
            "/v1/retention/runs",
            Some(Role::Admin),
            "/v1/retention/runs",
            Answer,
        ),
        Row::new(
            Method::POST,
            "/v1/legal-holds",
            Some(Role::Admin),
            "/v1/legal-holds",
            Answer,
        )
        .with_body(json!({"scope": {"type": "actor", "id": "beta-carol"}, "reason": "a matter"}).to_string()),
        Row::new(
            Method::POST,
            "/v1/legal-holds/{id}/lift",
            Some(Role::Admin),
            format!("/v1/legal-holds/{}/lift", acme.hold_id),
            Problem(404),
        )
        .with_body(json!({"reason": "the matter is closed"}).to_string()),
        Row::new(
            Method::POST,
            "/v1/erasures",
            Some(Role::Admin),
            "/v1/erasures",
            Answer,
        )
        .with_body(json!({"actor_id": "nobody-here", "reason": "a request"}).to_string()),
        // Detection: acme's rule and alert are 404s for beta; beta's listings hold none of
        // acme's; a rule beta makes is its own.
        Row::new(
            Method::GET,
            "/v1/rules",
            Some(Role::Admin),
            "/v1/rules",
            Answer,
        )
        .showing_acme(),
        Row::new(
            Method::GET,
            "/v1/rules/{id}",
            Some(Role::Admin),
            rule.clone(),
            Problem(404),
        )
        .showing_acme(),
        Row::new(
            Method::GET,
            "/v1/alerts",
            Some(Role::Read),
            "/v1/alerts",
            Nothing,
        )
        .showing_acme(),
        Row::new(
            Method::GET,
            "/v1/alerts/{id}",
            Some(Role::Read),
            alert.clone(),
            Problem(404),
        )
        .showing_acme(),
        Row::new(
            Method::POST,
            "/v1/rules",
            Some(Role::Admin),
            "/v1/rules",
            Answer,
        )
        .with_body(
            json!({"name": "copied rule", "filter": {"action": "parcel.scanned"},
                   "threshold": 1000, "window_minutes": 5})
            .to_string(),
        ),
        Row::new(
            Method::PATCH,
            "/v1/rules/{id}",
            Some(Role::Admin),
            rule.clone(),
            Problem(404),
        )
        .with_body(json!({"threshold": 2}).to_string())
        .showing_acme(),
        Row::new(
            Method::POST,
            "/v1/alerts/{id}/acknowledge",
            Some(Role::Admin),
            format!("{alert}/acknowledge"),
            Problem(404),
        )
        .showing_acme(),
        Row::new(
            Method::POST,
            "/v1/alerts/{id}/resolve",
            Some(Role::Admin),
            format!("{alert}/resolve"),
            Problem(404),
        )
        .showing_acme(),
        Row::new(
            Method::DELETE,
            "/v1/rules/{id}",
            Some(Role::Admin),
            rule.clone(),
            Problem(404),
        ),
        // Cancelling acme's finished export: a 404 for beta, acme's export unchanged for acme.
        Row::new(
            Method::DELETE,
            "/v1/exports/{id}",
            Some(Role::Export),
            format!("/v1/exports/{}", acme.export_id),
            Problem(404),
        )
        .showing_acme(),
        Row::new(
            Method::POST,
            "/audit-logs",
            Some(Role::Write),
            "/audit-logs",
            OwnIds,
        )
        .with_body(
            json!({"user_id": "acme-alice", "event_type": "persys.copied", "details": {}})
                .to_string(),
        ),
        Row::new(
            Method::POST,
            "/audit-service/audit-logs",
            Some(Role::Write),
            "/audit-service/audit-logs",
            OwnIds,
        )
        .with_body(
            json!({"user_id": "acme-alice", "event_type": "persys.copied", "details": {}})
                .to_string(),
        ),
        // The exchange takes its credential in the body: acme sends its key's id and secret,
        // beta acme's key id with beta's own secret.
        Row::new(
            Method::POST,
            "/v1/auth/token",
            None,
            "/v1/auth/token",
            Problem(401),
        )
        .with_body(acme.token_request(&acme.key.secret))
        .with_beta_body(acme.token_request(&world.beta_key.secret)),
        Row::new(
            Method::POST,
            "/v1/auth/access_token",
            None,
            "/v1/auth/access_token",
            Problem(401),
        )
        .with_body(acme.port_token_request(&acme.key.secret))
        .with_beta_body(acme.port_token_request(&world.beta_key.secret)),
        Row::new(
            Method::DELETE,
            "/v1/api-keys/{id}",
            Some(Role::Admin),
            format!("/v1/api-keys/{}", acme.key.id),
            Problem(404),
        )
        .showing_acme(),
    ]
}

/// Every (method, route, role) the server serves: the OpenAPI description's operations with
/// their `x-required-role`, plus the routes `routes.rs` adds outside it (`.route(...)`, the
/// description and its reader), so that a route added without a row in [`table`] fails a test.
fn registered_routes() -> BTreeSet<(String, String, Option<String>)> {
    let spec = serde_json::to_value(trailkeep_server::openapi()).unwrap();
    let mut routes = BTreeSet::new();
    for (path, item) in spec["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let role = operation["x-required-role"].as_str().map(|scope| {
                if scope == trailkeep_server::openapi::ANY_CREDENTIAL {
                    return "Any".to_owned();
                }
                let role =
                    Role::from_scope(scope).unwrap_or_else(|| panic!("unknown role {scope}"));
                format!("{role:?}")
            });
            routes.insert((method.to_uppercase(), path.clone(), role));
        }
    }
    let source: String = include_str!("../../src/routes.rs")
        .lines()
        .map(|line| line.split("//").next().unwrap_or(""))
        .collect::<String>()
        .split_whitespace()
        .collect();
    for (start, call) in source.match_indices(".route(") {
        let args = call_arguments(&source[start + call.len()..]);
        let (path, methods) = args
            .strip_prefix('"')
            .and_then(|a| a.split_once('"'))
            .unwrap_or_else(|| panic!("a route without a path literal: {args}"));
        for method in ["get", "post", "put", "patch", "delete"] {
            if methods.contains(&format!(",{method}(")) {
                routes.insert((method.to_uppercase(), path.to_owned(), None));
            }
        }
    }
    routes
}

/// The text of a call's arguments, given the text just after its opening parenthesis.
fn call_arguments(after_open: &str) -> &str {
    let mut depth = 1;
    for (i, c) in after_open.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth == 0 {
                    return &after_open[..i];
                }
            }
            _ => {}
        }
    }
    panic!("unbalanced parentheses in routes.rs")
}

/// Whether `path` (query and all) is a request to `route`.
fn is_request_to(path: &str, route: &str) -> bool {
    let path = path.split('?').next().unwrap_or(path);
    let (path, route): (Vec<&str>, Vec<&str>) =
        (path.split('/').collect(), route.split('/').collect());
    path.len() == route.len()
        && path
            .iter()
            .zip(&route)
            .all(|(p, r)| p == r || (r.starts_with('{') && !p.is_empty()))
}

/// How a request names acme besides its credentials.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Disguise {
    Plain,
    TenantHeader,
    TenantParam,
}

/// A client that sends no credentials.
fn anonymous(server: &TestServer) -> Client {
    Client {
        http: reqwest::Client::new(),
        base: server.url(""),
    }
}

/// Sends `row` as `caller` (with beta's path and body instead of acme's when `as_beta`);
/// returns the request's text and the answer.
async fn send(caller: &Client, row: &Row, as_beta: bool, disguise: Disguise) -> (String, Answer) {
    let (mut path, body) = if as_beta {
        (
            row.beta_path.clone().unwrap_or_else(|| row.path.clone()),
            row.beta_body.as_ref().or(row.body.as_ref()),
        )
    } else {
        (row.path.clone(), row.body.as_ref())
    };
    if disguise == Disguise::TenantParam {
        path.push(if path.contains('?') { '&' } else { '?' });
        path.push_str("tenant=acme");
    }
    let mut request = caller
        .http
        .request(row.method.clone(), format!("{}{path}", caller.base));
    for (name, value) in &row.headers {
        request = request.header(*name, value);
    }
    if disguise == Disguise::TenantHeader {
        request = request.header("x-tenant", "acme");
    }
    if let Some(body) = body {
        request = request
            .header(CONTENT_TYPE, "application/json")
            .body(body.clone());
    }
    let answer = read_answer(request.send().await.unwrap()).await;
    let sent = format!("{path} {:?} {}", row.headers, body.map_or("", |b| b));
    (sent, answer)
}

/// Reads a response whole or, for an event stream, what it sends until it falls quiet.
async fn read_answer(mut response: reqwest::Response) -> Answer {
    let streaming = response
        .headers()
        .get(CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream"));
    if !streaming {
        return crate::support::read(response).await;
    }
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let mut text = String::new();
    let mut wait = WAIT;
    while let Ok(chunk) = timeout(wait, response.chunk()).await {
        let Some(chunk) = chunk.unwrap() else { break };
        text.push_str(std::str::from_utf8(&chunk).unwrap());
        wait = QUIET;
    }
    Answer {
        status,
        headers,
        text,
    }
}

/// The secrets an answer (body or headers) carries that its request did not.
fn returned_secrets<'a>(secrets: &'a [String], sent: &str, answer: &Answer) -> Vec<&'a str> {
    let headers: Vec<&str> = answer
        .headers
        .values()
        .filter_map(|v| v.to_str().ok())
        .collect();
    secrets
        .iter()
        .map(String::as_str)
        .filter(|s| !sent.contains(s))
        .filter(|s| answer.text.contains(s) || headers.iter().any(|h| h.contains(s)))
        .collect()
}

/// The tenant of every record in an answer: each `tenant` member of a JSON body, or of each
/// event a stream sent.
fn record_tenants(answer: &Answer) -> Vec<String> {
    fn walk(value: &Value, out: &mut Vec<String>) {
        match value {
            Value::Object(members) => {
                for (name, member) in members {
                    match (name.as_str(), member) {
                        ("tenant", Value::String(tenant)) => out.push(tenant.clone()),
                        _ => walk(member, out),
                    }
                }
            }
            Value::Array(items) => items.iter().for_each(|item| walk(item, out)),
            _ => {}
        }
    }
    let mut tenants = Vec::new();
    if answer.content_type().starts_with("text/event-stream") {
        for data in answer.text.lines().filter_map(|l| l.strip_prefix("data:")) {
            walk(&serde_json::from_str(data.trim()).unwrap(), &mut tenants);
        }
    } else {
        walk(&answer.json(), &mut tenants);
    }
    tenants
}

/// The ids of the records in a dialect's answer: the `id`, `logId` or `_id` of each record of
/// its listing (`data` or `logs`), or of the one record it is.
fn record_ids(body: &Value) -> Vec<String> {
    let records: Vec<&Value> = match ["data", "logs", "audits", "audit", "result"]
        .iter()
        .find_map(|k| body.get(*k))
    {
        Some(Value::Array(items)) => items.iter().collect(),
        Some(one) => vec![one],
        None => vec![body],
    };
    records
        .iter()
        .filter_map(|r| {
            ["id", "logId", "_id"]
                .iter()
                .find_map(|k| r.get(*k)?.as_str())
        })
        .map(str::to_owned)
        .collect()
}

/// Asserts a refusal with `status`, as problem+json or as a dialect's JSON error body, and
/// returns what it says.
fn refusal(answer: &Answer, status: u16, context: &str) -> String {
    assert_eq!(answer.status, status, "{context}: {}", answer.text);
    if answer.content_type() == "application/problem+json" {
        let problem = answer.problem(status);
        return problem["detail"].as_str().unwrap_or_default().to_owned();
    }
    assert!(
        answer.content_type().starts_with("application/json"),
        "{context}: a refusal that is not JSON: {}",
        answer.text
    );
    answer.json();
    answer.text.clone()
}

fn assert_success(answer: &Answer, context: &str) {
    assert!(
        (200..300).contains(&answer.status),
        "{context}: {} {}",
        answer.status,
        answer.text
    );
}

/// Asserts that beta got what `expected` says; `beta` looks at beta's own trail.
async fn assert_beta_gets(expected: BetaGets, answer: &Answer, beta: &Client, context: &str) {
    match expected {
        BetaGets::Answer => assert_success(answer, context),
        BetaGets::Problem(status) => {
            refusal(answer, status, context);
        }
        BetaGets::OwnIds => {
            assert_success(answer, context);
            let own: BTreeSet<String> = beta
                .all_events()
                .await
                .iter()
                .map(|e| e["id"].as_str().unwrap().to_owned())
                .collect();
            let ids = record_ids(&answer.json());
            assert!(
                !ids.is_empty() && ids.iter().all(|id| own.contains(id)),
                "{context}: records {ids:?} are not all beta's {own:?}"
            );
        }
        BetaGets::OwnRecords => {
            assert_success(answer, context);
            let tenants = record_tenants(answer);
            assert!(
                !tenants.is_empty() && tenants.iter().all(|t| t == "beta"),
                "{context}: records of {tenants:?} in {}",
                answer.text
            );
        }
        BetaGets::Nothing => {
            assert_eq!(answer.status, 200, "{context}: {}", answer.text);
            let body = answer.json();
            let listing = ["data", "logs", "audits", "result"]
                .into_iter()
                .find_map(|k| body.get(k));
            assert!(
                listing.is_some() || body.get("total").is_some(),
                "{context}: neither a listing nor a count: {body}"
            );
            if let Some(data) = listing {
                assert_eq!(data, &json!([]), "{context}");
            }
            if let Some(total) = body.get("total") {
                assert_eq!(total, 0, "{context}");
            }
        }
        BetaGets::OwnTotal(pointer) => {
            assert_success(answer, context);
            let events = beta.all_events().await;
            assert_eq!(
                answer.json().pointer(pointer),
                Some(&json!(events.len())),
                "{context}: {}",
                answer.text
            );
        }
        BetaGets::OwnStats => {
            assert_eq!(answer.status, 200, "{context}: {}", answer.text);
            let stats = answer.json();
            let events = beta.all_events().await;
            assert_eq!(stats["total"], events.len(), "{context}: {stats}");
            let counted: BTreeSet<&str> = stats["groups"]["action"]
                .as_array()
                .unwrap()
                .iter()
                .map(|g| g["value"].as_str().unwrap())
                .collect();
            let own: BTreeSet<&str> = events
                .iter()
                .map(|e| e["action"].as_str().unwrap())
                .collect();
            assert_eq!(counted, own, "{context}");
        }
        BetaGets::OwnCheckpoint => {
            assert_eq!(answer.status, 200, "{context}: {}", answer.text);
            assert_eq!(
                answer.text.lines().next(),
                Some("trailkeep/beta"),
                "{context}"
            );
        }
    }
}

/// acme's trail and keys as acme sees them, less the failed sign-ins that others' attempts on
/// acme's key leave there (acme's own record of them, which beta never sees).
async fn acme_state(acme: &Client) -> (Vec<Value>, Value) {
    let events = acme
        .all_events()
        .await
        .into_iter()
        .filter(|e| e["action"] != "trailkeep.authenticate")
        .collect();
    let keys = acme.get("/v1/api-keys").await;
    assert_eq!(keys.status, 200, "{}", keys.text);
    (events, keys.json())
}

#[tokio::test]
async fn the_table_has_a_row_for_every_route_and_role() {
    let server = TestServer::detecting_on(Engine::Embedded).await;
    let world = World::seed(&server).await;
    let rows = table(&world);
    for row in &rows {
        assert!(
            is_request_to(&row.path, row.route),
            "{} is not a request to {}",
            row.path,
            row.route
        );
    }
    let covered: BTreeSet<(String, String, Option<String>)> = rows
        .iter()
        .map(|row| {
            (
                row.method.to_string(),
                row.route.to_owned(),
                row.needs_name(),
            )
        })
        .collect();
    let registered = registered_routes();
    let missing: Vec<_> = registered.difference(&covered).collect();
    assert!(
        missing.is_empty(),
        "the server has routes without a row: {missing:?}"
    );
    let stale: Vec<_> = covered.difference(&registered).collect();
    assert!(
        stale.is_empty(),
        "rows for routes the server lacks: {stale:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn beta_with_every_role_never_sees_counts_proves_or_pages_acme() {
    let server = TestServer::detecting_on(Engine::Embedded).await;
    let world = World::seed(&server).await;
    let secrets = world.acme.secrets();
    let acme = server.client("acme", &every_role());
    let beta = server.client("beta", &every_role());
    let before = acme_state(&acme).await;

    for row in table(&world) {
        for disguise in [
            Disguise::Plain,
            Disguise::TenantHeader,
            Disguise::TenantParam,
        ] {
            let (sent, answer) = send(&beta, &row, true, disguise).await;
            let context = format!("{} {} as beta ({disguise:?})", row.method, row.path);
            let leaks = returned_secrets(&secrets, &sent, &answer);
            assert!(
                leaks.is_empty(),
                "{context} leaked {leaks:?}: {}",
                answer.text
            );
            // A listing refuses the unknown parameter; a route that reads none ignores it.
            if disguise == Disguise::TenantParam && answer.status == 400 {
                let said = refusal(&answer, 400, &context);
                assert!(said.contains("unknown"), "{context}: {said}");
                continue;
            }
            assert_beta_gets(row.beta_gets, &answer, &beta, &context).await;
        }
    }

    assert_eq!(
        acme_state(&acme).await,
        before,
        "nothing beta did changed acme's trail or keys"
    );
    let with_key = crate::support::read(
        reqwest::Client::new()
            .get(server.url("/v1/events"))
            .header("x-api-key", &world.acme.key.key)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        with_key.status, 200,
        "acme's key still works: {}",
        with_key.text
    );
}

#[tokio::test]
async fn a_tenant_named_in_the_body_is_refused() {
    let server = TestServer::detecting_on(Engine::Embedded).await;
    World::seed(&server).await;
    let acme = server.client("acme", &every_role());
    let before = acme_state(&acme).await;
    let beta = server.client("beta", &every_role());
    for body in [
        json!({"tenant": "acme", "action": "invoice.created"}),
        json!([{"action": "parcel.scanned"}, {"tenant": "acme", "action": "invoice.created"}]),
    ] {
        let problem = beta.post_json(&body).await.problem(400);
        assert_eq!(problem["errors"][0]["field"], "tenant", "{problem}");
    }
    assert_eq!(acme_state(&acme).await, before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_missing_role_is_403_and_missing_credentials_401() {
    // Every row is refused twice from one address: more than the default bound on failed
    // authentications per address and minute.
    let server = TestServer::start_with(crate::support::Setup {
        limits: trailkeep_server::Limits {
            failed_auth_per_minute: 1_000,
            ..trailkeep_server::Limits::default()
        },
        detection: true,
        ..crate::support::Setup::default()
    })
    .await;
    let world = World::seed(&server).await;
    let nobody = anonymous(&server);
    for row in table(&world) {
        let context = format!("{} {}", row.method, row.path);
        let (_, answer) = send(&nobody, &row, false, Disguise::Plain).await;
        if row.any_credential {
            refusal(&answer, 401, &format!("{context} without credentials"));
            continue;
        }
        let Some(role) = row.needs else {
            assert_ne!(answer.status, 401, "{context} is open: {}", answer.text);
            continue;
        };
        refusal(&answer, 401, &format!("{context} without credentials"));
        let lacking = server.client("acme", &every_role_but(role));
        let (_, answer) = send(&lacking, &row, false, Disguise::Plain).await;
        let said = refusal(&answer, 403, &format!("{context} without {}", role.scope()));
        assert!(said.contains(role.scope()), "{context}: {said}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acme_gets_every_row_with_only_the_role_it_needs() {
    let server = TestServer::detecting_on(Engine::Embedded).await;
    let world = World::seed(&server).await;
    let secrets = world.acme.secrets();
    for row in table(&world) {
        let caller = match row.needs {
            Some(role) => match row.also_needs {
                Some(also) => server.client("acme", &format!("{} {}", role.scope(), also.scope())),
                None => server.client("acme", role.scope()),
            },
            // Any credential: one with a role the route has no use for.
            None if row.any_credential => server.client("acme", Role::Write.scope()),
            None => anonymous(&server),
        };
        let context = format!("{} {} as acme", row.method, row.path);
        let (sent, answer) = send(&caller, &row, false, Disguise::Plain).await;
        assert_success(&answer, &context);
        if row.shows_acme {
            assert!(
                !returned_secrets(&secrets, &sent, &answer).is_empty(),
                "{context} shows none of acme's data: {}",
                answer.text
            );
        }
    }
}

/// The routes an embed token may call: those whose description says so.
fn embed_routes() -> BTreeSet<(String, String)> {
    let spec = serde_json::to_value(trailkeep_server::openapi()).unwrap();
    let mut routes = BTreeSet::new();
    for (path, item) in spec["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let description = operation["description"].as_str().unwrap_or_default();
            if description.contains(trailkeep_server::openapi::EMBED_NOTE) {
                routes.insert((method.to_uppercase(), path.clone()));
            }
        }
    }
    routes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_embed_token_opens_only_the_viewer_routes_and_sees_only_its_scope() {
    let server = TestServer::detecting_on(Engine::Embedded).await;
    let world = World::seed(&server).await;
    let admin = server.client("acme", &every_role());
    let made = admin
        .http
        .post(format!("{}/v1/viewer-tokens", admin.base))
        .json(&json!({"scope": {"actor_id": "acme-alice"}, "viewer": "customer-1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(made.status(), 201);
    let made: Value = made.json().await.unwrap();
    let embed = server.client_with_token(made["token"].as_str().unwrap());
    let embed_routes = embed_routes();
    assert!(embed_routes.contains(&("GET".into(), "/v1/events".into())));
    let mut opened = 0;
    for row in table(&world) {
        if row.needs.is_none() && !row.any_credential {
            continue;
        }
        let context = format!(
            "{} {} with an embed token for acme-alice",
            row.method, row.path
        );
        let (_, answer) = send(&embed, &row, false, Disguise::Plain).await;
        let open = embed_routes.contains(&(row.method.to_string(), row.route.to_owned()));
        if !open {
            let said = refusal(&answer, 403, &context);
            assert!(said.contains("embed token"), "{context}: {said}");
            continue;
        }
        assert!(
            answer.status < 300 || answer.status == 404 || answer.status == 403,
            "{context}: {} {}",
            answer.status,
            answer.text
        );
        for other in ["acme-bob", "acme-ingest-bot"] {
            assert!(
                !answer.text.contains(other),
                "{context} showed {other}: {}",
                answer.text
            );
        }
        opened += 1;
    }
    assert!(opened >= 8, "the embed token opened {opened} routes");
    // Its own actor's events it sees; another's is as good as absent.
    let alice = embed.get("/v1/events").await;
    assert_eq!(alice.status, 200, "{}", alice.text);
    let alice = alice.json();
    let actors: BTreeSet<&str> = alice["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["actor"]["id"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(actors, BTreeSet::from(["acme-alice"]));
    embed.get("/v1/events/acme-secret-2").await.problem(404);
    let said = embed.get("/v1/events?actor_id=acme-bob").await.problem(403);
    assert!(
        said["detail"].as_str().unwrap().contains("acme-alice"),
        "{said}"
    );
    // What the token looked at is in acme's trail, by the viewer it was made for.
    let viewed = admin.get("/v1/events?action=audit.log.viewed").await.json();
    let viewed = viewed["data"].as_array().unwrap();
    assert!(
        viewed
            .iter()
            .any(|e| e["actor"]["id"] == "customer-1" && e["metadata"]["view"] == "event"),
        "{viewed:?}"
    );
}
