//! A real browser for the viewer's tests: Debian's headless Chromium driven through its
//! ChromeDriver (WebDriver), both installed from Debian's packages by the test itself when
//! missing (nothing is downloaded from elsewhere), each in a fresh profile.
//!
//! The browser keeps a performance log, so a test can list every request the page made
//! ([`Browser::requests`]) and hold it to one origin.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::elements::Element;
use fantoccini::wd::{Capabilities, WebDriverCompatibleCommand};
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

use crate::support::{ChildGuard, debian_program};

/// How long a page may take to show what a test waits for.
const WAIT: Duration = Duration::from_secs(20);

/// A headless Chromium under ChromeDriver, gone when dropped.
pub struct Browser {
    /// The WebDriver session.
    pub client: Client,
    _driver: ChildGuard,
    _profile: tempfile::TempDir,
}

/// A ChromeDriver command outside the W3C set: a POST of `body` to `session/{id}/{path}`
/// (`se/log` for the performance log, `goog/cdp/execute` for a DevTools call).
#[derive(Debug)]
struct ChromeCommand {
    path: &'static str,
    body: Value,
}

impl WebDriverCompatibleCommand for ChromeCommand {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!(
            "session/{}/{}",
            session_id.unwrap_or_default(),
            self.path
        ))
    }

    fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
        (http::Method::POST, Some(self.body.to_string()))
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

impl Browser {
    /// Starts ChromeDriver and a headless Chromium with a 1280×800 window.
    pub async fn start() -> Self {
        debian_program("chromium", &["--version"], &["chromium", "chromium-driver"]);
        debian_program("chromedriver", &["--version"], &["chromium-driver"]);
        let port = free_port();
        let driver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let driver = ChildGuard(Some(driver));
        let profile = tempfile::tempdir().expect("a profile directory");
        let mut capabilities = Capabilities::new();
        capabilities.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": "/usr/bin/chromium",
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                    "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync",
                    "--disable-dev-shm-usage", "--window-size=1280,800",
                    "--force-device-scale-factor=1",
                    format!("--user-data-dir={}", profile.path().display()),
                ],
            }),
        );
        capabilities.insert("goog:loggingPrefs".into(), json!({"performance": "ALL"}));
        let url = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + WAIT;
        let client = loop {
            let connector = hyper_util::client::legacy::connect::HttpConnector::new();
            match ClientBuilder::new(connector)
                .capabilities(capabilities.clone())
                .connect(&url)
                .await
            {
                Ok(client) => break client,
                Err(e) if Instant::now() < deadline => {
                    let _ = e;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => panic!("no WebDriver session from chromedriver: {e}"),
            }
        };
        let browser = Self {
            client,
            _driver: driver,
            _profile: profile,
        };
        browser.viewport(1280, 800, false).await;
        browser
    }

    /// Makes the page's viewport `width`×`height` CSS pixels (`mobile`: as a phone lays it out).
    pub async fn viewport(&self, width: u32, height: u32, mobile: bool) {
        let body = json!({
            "cmd": "Emulation.setDeviceMetricsOverride",
            "params": {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile},
        });
        self.client
            .issue_cmd(ChromeCommand {
                path: "goog/cdp/execute",
                body,
            })
            .await
            .expect("set the viewport");
    }

    /// Opens `url`.
    pub async fn open(&self, url: &str) {
        self.client.goto(url).await.expect("navigate");
    }

    /// Waits for an element matching `css`.
    pub async fn find(&self, css: &str) -> Element {
        match self
            .client
            .wait()
            .at_most(WAIT)
            .for_element(Locator::Css(css))
            .await
        {
            Ok(element) => element,
            Err(e) => {
                let page = self.page_text().await;
                panic!("no element {css:?} appeared: {e}; the page says:\n{page}")
            }
        }
    }

    /// Waits until `script` (a function body returning a value) returns something truthy, and
    /// returns it; panics with `what` after the wait.
    pub async fn until(&self, what: &str, script: &str) -> Value {
        let deadline = Instant::now() + WAIT;
        loop {
            let value = self
                .client
                .execute(script, vec![])
                .await
                .unwrap_or(Value::Null);
            let truthy = match &value {
                Value::Null => false,
                Value::Bool(b) => *b,
                Value::String(s) => !s.is_empty(),
                Value::Array(a) => !a.is_empty(),
                Value::Number(n) => n.as_f64() != Some(0.0),
                Value::Object(_) => true,
            };
            if truthy {
                return value;
            }
            if Instant::now() >= deadline {
                let page = self.page_text().await;
                panic!("waited {WAIT:?} for {what}; the page says:\n{page}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits for an element matching `css` whose text contains `text`, and returns its text.
    pub async fn text(&self, css: &str, text: &str) -> String {
        let script = format!(
            "return [...document.querySelectorAll({css})].map(e => e.innerText).find(t => t.includes({text})) || null;",
            css = json!(css),
            text = json!(text),
        );
        self.until(&format!("{css:?} saying {text:?}"), &script)
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// The visible text of the whole page.
    pub async fn page_text(&self) -> String {
        self.client
            .execute("return document.body.innerText;", vec![])
            .await
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default()
    }

    /// Runs `script` (a function body) and returns what it returns.
    pub async fn js(&self, script: &str) -> Value {
        self.client
            .execute(script, vec![])
            .await
            .unwrap_or_else(|e| panic!("script failed: {e}\n{script}"))
    }

    /// Runs `script` (a function body reading `arguments`) with `args`; returns what it returns.
    pub async fn js_with(&self, script: &str, args: Vec<Value>) -> Value {
        self.client
            .execute(script, args)
            .await
            .unwrap_or_else(|e| panic!("script failed: {e}"))
    }

    /// Clicks the element matching `css`.
    pub async fn click(&self, css: &str) {
        self.find(css)
            .await
            .click()
            .await
            .unwrap_or_else(|e| panic!("click {css:?}: {e}"));
    }

    /// Clears the field matching `css` and types `text` into it.
    pub async fn type_into(&self, css: &str, text: &str) {
        let field = self.find(css).await;
        field.clear().await.expect("clear the field");
        field.send_keys(text).await.expect("type");
    }

    /// Saves a screenshot of the window to `path`.
    pub async fn screenshot(&self, path: &Path) {
        let png = self.client.screenshot().await.expect("screenshot");
        std::fs::write(path, png).expect("write the screenshot");
    }

    /// The requests the browser made since the last call, from its performance log: the URL
    /// of each that went out, and of each it blocked before sending (`blockedReason`, such as
    /// the page's Content-Security-Policy).
    pub async fn requests(&self) -> Requests {
        let log = self
            .client
            .issue_cmd(ChromeCommand {
                path: "se/log",
                body: json!({"type": "performance"}),
            })
            .await
            .expect("read the performance log");
        let messages: Vec<Value> = log
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|entry| entry["message"].as_str())
            .filter_map(|m| serde_json::from_str::<Value>(m).ok())
            .map(|m| m["message"].clone())
            .collect();
        let blocked_ids: Vec<&Value> = messages
            .iter()
            .filter(|m| {
                m["method"] == "Network.loadingFailed" && !m["params"]["blockedReason"].is_null()
            })
            .map(|m| &m["params"]["requestId"])
            .collect();
        let mut requests = Requests::default();
        for m in messages
            .iter()
            .filter(|m| m["method"] == "Network.requestWillBeSent")
        {
            let url = m["params"]["request"]["url"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            if blocked_ids.contains(&&m["params"]["requestId"]) {
                requests.blocked.push(url);
            } else {
                requests.sent.push(url);
            }
        }
        requests
    }
}

/// What the browser asked for: what it sent, and what it blocked before sending.
#[derive(Debug, Default)]
pub struct Requests {
    /// The URLs of requests that went out.
    pub sent: Vec<String>,
    /// The URLs of requests the browser refused to send.
    pub blocked: Vec<String>,
}
