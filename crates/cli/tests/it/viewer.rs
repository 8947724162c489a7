//! The viewer (`/ui`) in a real browser: headless Chromium against a live server holding the
//! benchmark's workload, behind a proxy of the test's own that can tamper with the checkpoint
//! the server sends. Every assertion is on what the page shows (or on the trail the page's
//! actions changed), never on timing.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::Response;
use bench::workload::Workload;
use serde_json::{Value, json};
use trailkeep_event::Timestamp;

use crate::browser::Browser;
use crate::support::{Api, Server, create_key, describe, path_str, run, stdout};

/// Events of the benchmark's workload loaded before the browser opens.
const EVENTS: u64 = 6_000;

/// A reverse proxy in front of the server: the browser's only origin. With `tamper` on, the
/// checkpoint in `GET /v1/events/{id}?proof=1` answers has its root changed, as a lying server
/// or a meddler in the middle would.
struct Proxy {
    upstream: String,
    http: reqwest::Client,
    tamper: AtomicBool,
}

async fn forward(State(proxy): State<Arc<Proxy>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let path = parts
        .uri
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_owned();
    let body = axum::body::to_bytes(body, 64 << 20)
        .await
        .expect("request body");
    let mut upstream = proxy
        .http
        .request(parts.method, format!("{}{path}", proxy.upstream));
    for (name, value) in &parts.headers {
        if name != "host" && name != "content-length" {
            upstream = upstream.header(name, value);
        }
    }
    let answer = upstream
        .body(body)
        .send()
        .await
        .expect("the server answers");
    let mut response = Response::builder().status(answer.status());
    for (name, value) in answer.headers() {
        if name != "content-length" && name != "transfer-encoding" {
            response = response.header(name, value);
        }
    }
    let tampering = proxy.tamper.load(Ordering::SeqCst)
        && path.starts_with("/v1/events/")
        && path.contains("proof=1");
    let body = if tampering {
        let mut proof: Value = answer.json().await.expect("a proof answer");
        let note = proof["checkpoint"]
            .as_str()
            .expect("a checkpoint")
            .to_owned();
        let mut lines: Vec<String> = note.split('\n').map(str::to_owned).collect();
        // The root line: one base64 character changed, still 32 bytes.
        let root = &mut lines[2];
        let first = if root.starts_with('A') { "B" } else { "A" };
        root.replace_range(0..1, first);
        proof["checkpoint"] = json!(lines.join("\n"));
        Body::from(proof.to_string())
    } else {
        Body::from_stream(answer.bytes_stream())
    };
    response.body(body).expect("a response")
}

/// Starts the proxy to `upstream`; its address and its switch.
async fn start_proxy(upstream: String) -> (String, Arc<Proxy>) {
    let proxy = Arc::new(Proxy {
        upstream,
        http: reqwest::Client::new(),
        tamper: AtomicBool::new(false),
    });
    let app = axum::Router::new()
        .fallback(forward)
        .with_state(proxy.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}"), proxy)
}

/// A listener standing for "another origin": it counts what reaches it.
async fn start_elsewhere() -> (String, Arc<AtomicUsize>) {
    let hits = Arc::new(AtomicUsize::new(0));
    let counted = hits.clone();
    let app = axum::Router::new().fallback(move || {
        let counted = counted.clone();
        async move {
            counted.fetch_add(1, Ordering::SeqCst);
            "reached"
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://localhost:{}", addr.port()), hits)
}

/// Where screenshots go: `TRAILKEEP_UI_SCREENSHOTS` (the README's are made with
/// `TRAILKEEP_UI_SCREENSHOTS=docs/ui`), else a temporary directory.
fn screenshot_dir(temp: &Path) -> PathBuf {
    match std::env::var_os("TRAILKEEP_UI_SCREENSHOTS") {
        Some(dir) => {
            let dir = PathBuf::from(dir);
            let dir = if dir.is_relative() {
                Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("../..")
                    .join(dir)
            } else {
                dir
            };
            std::fs::create_dir_all(&dir).unwrap();
            dir
        }
        None => temp.to_owned(),
    }
}

/// Loads the workload's events into acme; returns them (as sent) for choosing what to look
/// for.
async fn load_workload(api: &Api) -> Vec<bench::workload::Event> {
    let now = Timestamp::now().as_micros();
    let workload = Workload::new(11, 1, EVENTS, 2_000, now);
    let mut all = Vec::new();
    for b in 0..workload.batches() {
        let (_, events) = workload.batch(b);
        let mut body = b"[".to_vec();
        for (i, event) in events.iter().enumerate() {
            if i > 0 {
                body.push(b',');
            }
            event.to_json(&mut body);
        }
        body.push(b']');
        let answer = api
            .post("/v1/events")
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 201, "{}", answer.text().await.unwrap());
        all.extend(events);
    }
    all
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_viewer_searches_verifies_exports_and_embeds_in_a_real_browser() {
    let dir = tempfile::tempdir().unwrap();
    let admin = create_key(
        dir.path(),
        "audit:read,audit:write,audit:export,audit:admin",
    )["key"]
        .as_str()
        .unwrap()
        .to_owned();
    let server = Server::start_with(dir.path(), &[], &[("TRAILKEEP_DETECTION__ENABLED", "true")]);
    let api = Api::new(&server.url(), admin.clone());
    let events = load_workload(&api).await;
    let (base, proxy) = start_proxy(server.url()).await;
    let shots = screenshot_dir(dir.path());
    let browser = Browser::start().await;

    // Sign in with the API key.
    browser.open(&format!("{base}/ui/")).await;
    browser.type_into("#credential", &admin).await;
    browser.screenshot(&shots.join("sign-in.png")).await;
    browser.click("#sign-in button[type=submit]").await;
    browser.find("#events tbody tr").await;
    browser.find("#histogram svg rect.bar").await;
    browser.screenshot(&shots.join("events.png")).await;

    // Search with a field term and free text; the page lists exactly what the API does.
    let week_ago = Timestamp::now().as_micros() - 7 * 86_400_000_000;
    let chosen = events
        .iter()
        .rev()
        .find(|e| e.action == "contract.updated" && e.changes.is_some() && e.occurred_us > week_ago)
        .expect("the workload updates a contract in the last week");
    let word = chosen.target_id.clone();
    let query = format!("action:contract.updated {word}");
    browser.type_into("#search", &query).await;
    browser.click("form.search button[type=submit]").await;
    let expected = api
        .get_json(&format!(
            "/v1/events?action=contract.updated&q={word}&limit=1000&since={}",
            Timestamp::from_micros(week_ago).unwrap()
        ))
        .await;
    let expected_ids: Vec<&str> = expected["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap())
        .collect();
    assert!(!expected_ids.is_empty());
    let shown = browser
        .until(
            "the search's rows",
            &format!(
                "const ids = [...document.querySelectorAll('#events tbody tr')].map(r => r.dataset.id);
                 return location.hash.includes('contract.updated') && ids.length === {} ? ids : null;",
                expected_ids.len()
            ),
        )
        .await;
    let shown: Vec<&str> = shown
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    // The API's week is counted from a moment before the page's: the page may hold the same.
    assert_eq!(shown, expected_ids, "the page lists what the API answers");
    assert!(browser.page_text().await.contains("contract.updated"));

    // Narrow by dragging across the histogram: the range becomes the bars dragged over.
    browser.type_into("#search", "").await;
    browser.click("form.search button[type=submit]").await;
    browser
        .until("the unfiltered list", "return !location.hash.includes('q=') && document.querySelectorAll('#events tbody tr').length > 50;")
        .await;
    let before: u64 = browser
        .until("the histogram's total", "const s = document.querySelector('.histogram-axis span:nth-child(2)'); return s ? s.textContent : null;")
        .await
        .as_str()
        .unwrap()
        .split(' ')
        .next()
        .unwrap()
        .replace(',', "")
        .parse()
        .unwrap();
    drag_across(&browser, 0.55, 0.8).await;
    let hash = browser
        .until(
            "a custom range in the URL",
            "return location.hash.includes('range=custom') ? location.hash : null;",
        )
        .await;
    let hash = hash.as_str().unwrap().to_owned();
    let since = query_value(&hash, "since");
    let until = query_value(&hash, "until");
    let (since_us, until_us) = (
        Timestamp::parse(&since).unwrap().as_micros(),
        Timestamp::parse(&until).unwrap().as_micros(),
    );
    assert!(since_us < until_us);
    let after: u64 = browser
        .until(
            "the zoomed histogram",
            &format!("const s = document.querySelector('.histogram-axis span:nth-child(2)'); const n = s && Number(s.textContent.split(' ')[0].replaceAll(',', '')); return n && n < {before} ? n : null;"),
        )
        .await
        .as_u64()
        .unwrap();
    let in_range = api
        .get_json(&format!("/v1/stats?since={since}&until={until}"))
        .await;
    assert_eq!(
        after,
        in_range["total"].as_u64().unwrap(),
        "the zoomed chart counts the dragged range"
    );
    let times = browser
        .js("return [...document.querySelectorAll('#events tbody tr time')].map(t => t.getAttribute('datetime'));")
        .await;
    for time in times.as_array().unwrap() {
        let at = Timestamp::parse(time.as_str().unwrap())
            .unwrap()
            .as_micros();
        assert!(
            (since_us..until_us).contains(&at),
            "{time} is outside the dragged range"
        );
    }

    // Open the chosen event: every field, and its changes as a diff.
    let (from, to) = first_change(chosen.changes.as_ref().unwrap());
    browser
        .open(&format!(
            "{base}/ui/#/events?q=action%3Acontract.updated+{word}&range=all"
        ))
        .await;
    let row = format!("#events tbody tr[data-seq]");
    browser.find(&row).await;
    let id = api
        .get_json(&format!(
            "/v1/events?action=contract.updated&q={word}&limit=1"
        ))
        .await["data"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    browser
        .click(&format!("#events tbody tr[data-id='{id}']"))
        .await;
    let diff = browser.text("#diff", &to).await;
    assert!(
        diff.contains(&from),
        "the diff shows the value before: {diff}"
    );
    browser.screenshot(&shots.join("event-drawer.png")).await;
    // The target's timeline: every event on it, oldest first, as the history route has them.
    browser.click("#show-history").await;
    let history = api
        .get_json(&format!("/v1/entities/contract/{word}/history?limit=100"))
        .await;
    let expected = history["data"].as_array().unwrap().len();
    let shown = browser
        .until(
            "the timeline",
            &format!("const n = document.querySelectorAll('#history .timeline > li').length; return n === {expected} ? n : null;"),
        )
        .await;
    assert_eq!(shown, json!(expected));

    // Verify needs a pinned key: pin the one `trailkeep key show` prints (not the server's word).
    let output = run(&["key", "show", "--data-dir", path_str(dir.path())]);
    assert!(output.status.success(), "{}", describe(&output));
    let vkey = stdout(&output)
        .lines()
        .find(|l| l.contains('+'))
        .unwrap()
        .trim()
        .to_owned();
    browser.open(&format!("{base}/ui/#/ledger")).await;
    browser.type_into("#vkey", &vkey).await;
    browser.click("#pin-form button").await;
    browser.text("#ledger-out", "pinned").await;
    browser.click("#check-log").await;
    browser.text("#ledger-out", "Verified").await;
    browser.screenshot(&shots.join("ledger.png")).await;

    // Verify the event in the browser: green.
    browser
        .open(&format!(
            "{base}/ui/#/events?q=action%3Acontract.updated+{word}&range=all"
        ))
        .await;
    browser
        .click(&format!("#events tbody tr[data-id='{id}']"))
        .await;
    browser.click("#verify").await;
    let verdict = browser.text("#verify-result .verdict-ok", "Verified").await;
    for step in [
        "Leaf hash",
        "Checkpoint signature",
        "Inclusion proof",
        "Consistency",
    ] {
        assert!(verdict.contains(step), "{step} missing from {verdict}");
    }
    browser.screenshot(&shots.join("verified.png")).await;
    let seen = verdict_size(&verdict);

    // A tampered checkpoint: red, with the reason.
    proxy.tamper.store(true, Ordering::SeqCst);
    browser.click("#verify").await;
    let verdict = browser
        .text("#verify-result .verdict-bad", "Not verified")
        .await;
    assert!(
        verdict.contains("signature does not verify against the pinned key"),
        "{verdict}"
    );
    browser.screenshot(&shots.join("tampered.png")).await;
    proxy.tamper.store(false, Ordering::SeqCst);

    // The log grows; the browser checks the new checkpoint extends the one it saw.
    let more: Vec<Value> = (0..5)
        .map(|i| json!({"action": "doc.read", "actor": {"id": format!("later-{i}")}}))
        .collect();
    api.ingest(&json!(more)).await;
    api.get_text(&format!("/v1/ledger/checkpoint?min_size={}", seen + 5))
        .await;
    browser.open(&format!("{base}/ui/#/ledger")).await;
    browser.click("#check-log").await;
    let extended = browser.text("#ledger-out", "extends the one of").await;
    assert!(
        extended.contains(&format!("extends the one of {}", thousands(seen))),
        "the newer tree is checked against the one seen before: {extended}"
    );

    // The keyboard alone: '/' to the search, arrows through the rows, Enter opens, Escape closes.
    browser.open(&format!("{base}/ui/#/events?range=all")).await;
    browser.find("#events tbody tr + tr").await;
    browser.find("body").await.send_keys("/").await.unwrap();
    browser
        .until(
            "the search focused",
            "return document.activeElement.id === 'search';",
        )
        .await;
    browser
        .js("document.querySelector('#events tbody tr').focus();")
        .await;
    let first = browser
        .js("return document.activeElement.dataset.id;")
        .await;
    browser
        .find("#events tbody tr")
        .await
        .send_keys("\u{E015}")
        .await
        .unwrap();
    let second = browser
        .js("return document.activeElement.dataset.id;")
        .await;
    assert_ne!(first, second, "ArrowDown moves to the next row");
    browser
        .find(&format!(
            "#events tbody tr[data-id='{}']",
            second.as_str().unwrap()
        ))
        .await
        .send_keys("\u{E007}")
        .await
        .unwrap();
    browser.find("#drawer h2").await;
    browser
        .find("#drawer")
        .await
        .send_keys("\u{E00C}")
        .await
        .unwrap();
    browser
        .until(
            "the drawer closed",
            "return !document.getElementById('drawer');",
        )
        .await;

    // The live tail: an event acknowledged now appears at the top without a reload.
    browser.click("#live").await;
    browser.text("#status", "Live tail on").await;
    api.ingest(&json!({"action": "tail.checked", "actor": {"id": "tail-7"}}))
        .await;
    browser
        // The list was loaded before the event existed: only the tail can have brought it.
        .until("the tailed event", "return [...document.querySelectorAll('#events tbody tr')].some(r => r.innerText.includes('tail.checked'));")
        .await;
    browser.click("#live").await;

    // The dark theme.
    browser
        .click("#who button[aria-label='Switch theme']")
        .await;
    browser
        .until(
            "the dark theme",
            "return document.documentElement.dataset.theme === 'dark';",
        )
        .await;
    browser.find("#histogram svg rect.bar").await;
    browser.screenshot(&shots.join("events-dark.png")).await;
    browser
        .click("#who button[aria-label='Switch theme']")
        .await;

    // Statistics.
    browser.open(&format!("{base}/ui/#/stats?range=30d")).await;
    browser.find(".bar-chart li").await;
    browser.screenshot(&shots.join("stats.png")).await;

    // Export the current search and download it: the browser checks its SHA-256.
    browser
        .open(&format!(
            "{base}/ui/#/events?q=action%3Acontract.updated&range=all"
        ))
        .await;
    browser.find("#events tbody tr").await;
    browser.open(&format!("{base}/ui/#/exports")).await;
    browser.click("#export-create button[type=submit]").await;
    browser.click("dialog.confirm button.primary").await;
    browser.text("#exports tbody", "succeeded").await;
    let exports = api.get_json("/v1/exports").await;
    let export = &exports["data"][0];
    assert_eq!(
        export["filter"]["actions"],
        json!(["contract.updated"]),
        "{export}"
    );
    let expected_count = api.get_json("/v1/stats?action=contract.updated").await["total"]
        .as_u64()
        .unwrap();
    assert_eq!(export["events_written"].as_u64(), Some(expected_count));
    browser.click("#exports tbody button").await;
    let done = browser.text("#exports-out", "Downloaded").await;
    assert!(done.contains("is the one the service recorded"), "{done}");
    browser.screenshot(&shots.join("exports.png")).await;

    // An alert: a rule that fires on one event, then acknowledged in the page.
    let rule = api
        .post("/v1/rules")
        .json(
            &json!({"name": "Wire transfer approved", "filter": {"action": ["wire.approved"]},
                      "threshold": 1, "window_minutes": 5, "severity": "high"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(rule.status(), 201, "{}", rule.text().await.unwrap());
    api.ingest(&json!({"action": "wire.approved", "actor": {"id": "user_wire"}}))
        .await;
    let mut alert = Value::Null;
    for _ in 0..200 {
        let alerts = api.get_json("/v1/alerts").await;
        let ours = alerts["data"].as_array().and_then(|a| {
            a.iter()
                .find(|alert| alert["rule_name"] == "Wire transfer approved")
        });
        if let Some(found) = ours {
            alert = found.clone();
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let alert_id = alert["id"]
        .as_str()
        .expect("an alert was raised")
        .to_owned();
    browser.open(&format!("{base}/ui/#/alerts")).await;
    browser
        .text("#alerts tbody", "Wire transfer approved")
        .await;
    browser.screenshot(&shots.join("alerts.png")).await;
    browser
        .click(&format!(
            "#alerts tbody tr[data-id='{alert_id}'] td.actions button:nth-child(3)"
        ))
        .await;
    browser.click("dialog.confirm button.primary").await;
    browser.text("#alerts-out", "Acknowledge: done").await;
    browser.text("#alerts tbody", "acknowledged").await;
    let alert = api.get_json(&format!("/v1/alerts/{alert_id}")).await;
    assert_eq!(alert["state"], "acknowledged", "{alert}");
    // The events behind it: its window and its rule's filter, its own events marked.
    let seqs: Vec<u64> = alert["seqs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_u64().unwrap())
        .collect();
    browser
        .click(&format!(
            "#alerts tbody tr[data-id='{alert_id}'] td.actions button:first-child"
        ))
        .await;
    let marked = browser
        .until(
            "the marked events",
            "const rows = [...document.querySelectorAll('#events tbody tr.marked')]; return rows.length ? rows.map(r => [Number(r.dataset.seq), r.innerText]) : null;",
        )
        .await;
    let marked = marked.as_array().unwrap();
    assert_eq!(marked.len(), seqs.len(), "{marked:?}");
    for row in marked {
        assert!(seqs.contains(&row[0].as_u64().unwrap()), "{row}");
        assert!(row[1].as_str().unwrap().contains("wire.approved"), "{row}");
    }
    assert!(
        browser
            .text("main", "behind the alert")
            .await
            .contains("Marked")
    );
    browser.screenshot(&shots.join("alert-events.png")).await;

    // The admin pages list what the API lists.
    for (page, table, title) in [
        ("reports", "", "Reports"),
        ("webhooks", "", "Webhooks"),
        ("rules", "#rules", "Detection rules"),
        ("retention", "", "Retention and legal holds"),
        ("keys", "#keys", "API keys"),
    ] {
        browser.open(&format!("{base}/ui/#/{page}")).await;
        browser.text("main h1", title).await;
        if !table.is_empty() {
            browser.find(&format!("{table} tbody tr")).await;
        } else {
            browser.find("main .note-empty, main table.list").await;
        }
        browser.screenshot(&shots.join(format!("{page}.png"))).await;
    }

    // Nothing the page did went to another origin, and the policy stops it trying.
    let (elsewhere, hits) = start_elsewhere().await;
    let violations = browser
        .js(&format!(
            "const seen = [];
             document.addEventListener('securitypolicyviolation', e => seen.push(e.violatedDirective));
             const image = new Image(); image.src = '{elsewhere}/pixel.png';
             try {{ await fetch('{elsewhere}/data'); }} catch (e) {{ seen.push('fetch refused'); }}
             await new Promise(r => setTimeout(r, 300));
             return seen;"
        ))
        .await;
    let violations: Vec<&str> = violations
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(violations.contains(&"connect-src"), "{violations:?}");
    assert!(violations.contains(&"img-src"), "{violations:?}");
    assert_eq!(
        hits.load(Ordering::SeqCst),
        0,
        "a request reached another origin"
    );
    let requests = browser.requests().await;
    assert_only_to(&base, &requests.sent);
    assert!(
        requests.sent.len() > 20,
        "the log holds the page's requests: {requests:?}"
    );
    // The image was refused as a request; the fetch never became one (connect-src above).
    assert!(
        requests.blocked.contains(&format!("{elsewhere}/pixel.png")),
        "the browser blocked the image: {requests:?}"
    );

    // An embed token for one actor: that actor's events only, no admin page, and the viewing
    // is in the trail.
    let actor = chosen.actor_id.clone();
    let made = api
        .post("/v1/viewer-tokens")
        .json(&json!({"scope": {"actor_id": actor}, "viewer": "customer-7"}))
        .send()
        .await
        .unwrap();
    assert_eq!(made.status(), 201);
    let made: Value = made.json().await.unwrap();
    browser
        .open(&format!("{base}{}", made["url"].as_str().unwrap()))
        .await;
    browser.find("#events tbody tr").await;
    let actors = browser
        .until("the embedded list", "const cells = [...document.querySelectorAll('#events tbody tr')]; return cells.length ? cells.map(r => r.dataset.id) : null;")
        .await;
    for id in actors.as_array().unwrap() {
        let event = api
            .get_json(&format!("/v1/events/{}", id.as_str().unwrap()))
            .await;
        assert_eq!(
            event["actor"]["id"],
            json!(actor),
            "an embed token showed {event}"
        );
    }
    let nav = browser
        .js("return [...document.querySelectorAll('#nav a')].map(a => a.textContent);")
        .await;
    assert_eq!(
        nav,
        json!(["Events", "Ledger"]),
        "an embed token sees no admin page"
    );
    browser.screenshot(&shots.join("embedded.png")).await;
    browser.viewport(390, 844, true).await;
    browser.screenshot(&shots.join("embedded-phone.png")).await;
    browser.viewport(1280, 800, false).await;
    browser.open(&format!("{base}/ui/#/keys")).await;
    browser
        .text("main", "not part of the embedded viewer")
        .await;
    let other = events.iter().find(|e| e.actor_id != actor).unwrap();
    let other_id = api
        .get_json(&format!("/v1/events?actor_id={}&limit=1", other.actor_id))
        .await["data"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let statuses = browser
        .js(&format!(
            "const token = sessionStorage.getItem('trailkeep.credential');
             const get = async (path) => (await fetch(path, {{ headers: {{ Authorization: `Bearer ${{token}}` }} }})).status;
             return [await get('/v1/events/{other_id}'), await get('/v1/events?actor_id={}'),
                     await get('/v1/api-keys'), await get('/v1/exports')];",
            other.actor_id
        ))
        .await;
    assert_eq!(
        statuses,
        json!([404, 403, 403, 403]),
        "what an embed token may not see"
    );
    let viewed = api
        .get_json("/v1/events?action=audit.log.viewed&limit=100")
        .await;
    let viewed = viewed["data"].as_array().unwrap();
    assert!(
        viewed.iter().any(|e| e["actor"]["id"] == "customer-7"
            && e["metadata"]["view"] == "search"
            && e["metadata"]["scope"]["actor_id"] == json!(actor)),
        "viewing through the token is in the trail: {viewed:?}"
    );
    assert_only_to(&base, &browser.requests().await.sent);
}

/// Every request that went out on the network (the browser's own chrome:// pages are not
/// network requests) went to `origin`.
fn assert_only_to(origin: &str, sent: &[String]) {
    let network = ["http:", "https:", "ws:", "wss:", "ftp:"];
    for url in sent
        .iter()
        .filter(|u| network.iter().any(|s| u.starts_with(s)))
    {
        assert!(
            url.starts_with(&format!("{origin}/")),
            "the page asked another origin: {url}"
        );
    }
}

/// The tree size a verdict names last ("... extends the one of N ..." or "the tree of N").
fn verdict_size(verdict: &str) -> u64 {
    let after = verdict
        .split("the tree of ")
        .nth(1)
        .expect("a tree size in the verdict");
    after
        .split(' ')
        .next()
        .unwrap()
        .replace(',', "")
        .parse()
        .expect("a number")
}

/// `n` with thousands separators, as the page writes it.
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The published vectors in `../shared/test-vectors/<dir>`, every JSON file under it.
fn vectors(dir: &str) -> Vec<Value> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/test-vectors")
        .join(dir);
    let mut files = Vec::new();
    let mut stack = vec![root.clone()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "json") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
        .iter()
        .map(|f| serde_json::from_str(&std::fs::read_to_string(f).unwrap()).unwrap())
        .collect()
}

/// RFC 8785's inputs and outputs, as `[input text, canonical text]`.
fn jcs_vectors() -> Vec<Value> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/test-vectors/jcs");
    let mut names: Vec<_> = std::fs::read_dir(root.join("input"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    names.sort();
    names
        .iter()
        .map(|name| {
            let input = std::fs::read_to_string(root.join("input").join(name)).unwrap();
            let output = std::fs::read_to_string(root.join("output").join(name)).unwrap();
            json!([input, output])
        })
        .collect()
}

/// The viewer's own cryptography, run in the browser against published vectors: RFC 9162
/// inclusion and consistency proofs (transparency-dev/merkle's corpus, bad cases included),
/// RFC 8785 canonical JSON, and C2SP signed notes with Ed25519.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_browsers_proof_code_passes_the_published_vectors() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let browser = Browser::start().await;
    browser.open(&format!("{}/ui/", server.url())).await;
    browser.find("#credential").await;
    let inclusion = vectors("merkle/inclusion");
    let consistency = vectors("merkle/consistency");
    assert!(inclusion.len() > 50 && consistency.len() > 50);
    let jcs = jcs_vectors();
    assert!(jcs.len() >= 6);
    let peter = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
    let enoch = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop";
    let text = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n";
    let peter_line = "\u{2014} PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";
    let enoch_line = "\u{2014} EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n";
    let example_key = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k";
    let example = "This is an example message.\n\n\u{2014} example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n";
    let notes = json!([
        // [note, vkey, whether it opens]
        [format!("{text}\n{peter_line}"), peter, true],
        [format!("{text}\n{peter_line}{enoch_line}"), peter, true],
        [format!("{text}\n{peter_line}{enoch_line}"), enoch, true],
        [format!("{text}\n{enoch_line}"), peter, false],
        [
            format!(
                "{}\n{peter_line}",
                text.replace("cryptography", "cryptographY")
            ),
            peter,
            false
        ],
        [example, example_key, true],
        [
            example.replace("example message", "exemplary message"),
            example_key,
            false
        ],
    ]);
    let failures = browser
        .js_with(
            "const [inclusion, consistency, jcs, notes] = arguments;
             const p = await import('/ui/js/proof.js');
             const j = await import('/ui/js/jcs.js');
             const b = (x) => p.fromBase64(x);
             const failures = [];
             for (const v of inclusion) {
               let ok;
               try {
                 const root = await p.rootFromInclusion(v.leafIdx, v.treeSize, b(v.leafHash || ''),
                   (v.proof || []).map(b));
                 ok = p.equal(root, b(v.root || ''));
               } catch (e) { ok = false; }
               if (ok === v.wantErr) failures.push(`inclusion ${v.desc}: ${ok}`);
             }
             for (const v of consistency) {
               let ok = true;
               try {
                 await p.checkConsistency(v.size1, v.size2, b(v.root1 || ''), b(v.root2 || ''),
                   (v.proof || []).map(b));
               } catch (e) { ok = false; }
               if (ok === v.wantErr) failures.push(`consistency ${v.desc}: ${ok}`);
             }
             for (const [input, output] of jcs) {
               const got = j.canonicalize(JSON.parse(input));
               if (got !== output) failures.push(`jcs: ${got} != ${output}`);
             }
             for (const [note, vkey, opens] of notes) {
               let ok = true;
               try { await p.openNote(note, vkey); } catch (e) { ok = false; }
               if (ok !== opens) failures.push(`note with ${vkey.split('+')[0]}: ${ok}`);
             }
             return failures;",
            vec![json!(inclusion), json!(consistency), json!(jcs), notes],
        )
        .await;
    assert_eq!(
        failures,
        json!([]),
        "the browser's code disagrees with the vectors"
    );
}

/// Drags across the histogram from `from` to `to` (fractions of its width).
async fn drag_across(browser: &Browser, from: f64, to: f64) {
    use fantoccini::actions::{InputSource as _, MOUSE_BUTTON_LEFT, MouseActions, PointerAction};
    let rect = browser
        .js("const r = document.querySelector('#histogram svg').getBoundingClientRect(); return [r.left, r.top, r.width, r.height];")
        .await;
    let r: Vec<f64> = rect
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    let y = (r[1] + r[3] / 2.0).round();
    let x = |f: f64| (r[0] + r[2] * f).round();
    let mouse = MouseActions::new("mouse".into())
        .then(PointerAction::MoveTo {
            duration: None,
            x: x(from),
            y,
        })
        .then(PointerAction::Down {
            button: MOUSE_BUTTON_LEFT,
        })
        .then(PointerAction::MoveTo {
            duration: Some(Duration::from_millis(200)),
            x: x(to),
            y,
        })
        .then(PointerAction::Up {
            button: MOUSE_BUTTON_LEFT,
        });
    browser.client.perform_actions(mouse).await.expect("drag");
}

/// A parameter of the query in a `#/events?...` hash.
fn query_value(hash: &str, name: &str) -> String {
    let query = hash.split_once('?').map_or("", |(_, q)| q);
    url::form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
        .unwrap_or_else(|| panic!("{name} is not in {hash}"))
}

/// The first change's before and after, as the page shows them.
fn first_change(changes: &Value) -> (String, String) {
    let (_, change) = changes.as_object().unwrap().iter().next().unwrap();
    let text = |v: &Value| match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    (text(&change["from"]), text(&change["to"]))
}
