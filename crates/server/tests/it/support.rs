//! `TestServer`: the real router and a real store (embedded on a temporary directory, or the
//! PostgreSQL engine in a schema of its own on the local server), bound to 127.0.0.1:0, with a
//! client per tenant and scope; `on_both_engines!` runs a test on each engine.

use std::net::SocketAddr;
use std::sync::Arc;

use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderMap, HeaderValue};
use serde_json::Value;
use tokio::sync::oneshot;
use trailkeep_jobs::export::{ExpireHandler, ExportHandler, ExportSettings};
use trailkeep_jobs::{Runner, RunnerSettings};
use trailkeep_server::{AppState, Exports, JwtSettings, JwtVerifier, Limits, Tls, mint_token};
use trailkeep_store::Store;
use trailkeep_store_embedded::{EmbeddedStore, Options};
use trailkeep_store_postgres::PostgresStore;
use trailkeep_store_postgres::testing::TestSchema;

use crate::spy::{Spy, SpyStore};

/// The HS256 secret every test server uses.
pub const SECRET: &[u8] = b"test-secret-test-secret-test-secret!";

/// Which engine a test server stores in.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Engine {
    /// The embedded engine, on a temporary directory.
    #[default]
    Embedded,
    /// The PostgreSQL engine, in a fresh schema of the local server.
    Postgres,
}

/// Runs each named test, an `async fn(Engine)`, once on each engine: as
/// `on_embedded::NAME` and `on_postgres::NAME` (as ripgrep runs its tests on both regex
/// engines).
#[macro_export]
macro_rules! on_both_engines {
    ($($name:ident),* $(,)?) => {
        mod on_embedded {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::support::Engine::Embedded).await
                }
            )*
        }
        mod on_postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::support::Engine::Postgres).await
                }
            )*
        }
    };
}

/// How to set a test server up.
#[derive(Default)]
pub struct Setup {
    /// Which engine.
    pub engine: Engine,
    /// The embedded engine's options (the PostgreSQL engine takes its defaults).
    pub options: Options,
    pub limits: Limits,
    pub jwt: JwtSettings,
    pub jwks: Option<jsonwebtoken::jwk::JwkSet>,
    pub tls: Option<Tls>,
    /// Serve through a `SpyStore` reporting to this spy.
    pub spy: Option<Arc<Spy>>,
    /// The export destinations configured besides download.
    pub deliveries: trailkeep_jobs::export::Deliveries,
    /// How webhooks are delivered ([`webhook_settings`] when `None`).
    pub webhooks: Option<trailkeep_webhooks::DeliverySettings>,
    /// Run detection. Off unless a test asks: the built-in rules append alerts to the trail
    /// on their own (an API key made at night is one), which tests counting events must not
    /// see at some hours and not at others.
    pub detection: bool,
}

/// The webhook delivery of test servers: loopback and plain HTTP allowed (the receivers are
/// local), few partitions, short leases.
pub fn webhook_settings() -> trailkeep_webhooks::DeliverySettings {
    trailkeep_webhooks::DeliverySettings {
        policy: trailkeep_webhooks::AddressPolicy {
            allow: vec![trailkeep_webhooks::AddressClass::Loopback],
            allow_http: true,
        },
        timeout: std::time::Duration::from_secs(5),
        partitions: 4,
        lease: std::time::Duration::from_secs(3),
        ..trailkeep_webhooks::DeliverySettings::default()
    }
}

/// A running server.
pub struct TestServer {
    pub addr: SocketAddr,
    pub store: Arc<dyn Store>,
    _dir: tempfile::TempDir,
    /// The PostgreSQL engine's schema, dropped after the server.
    _schema: Option<TestSchema>,
    stop: Option<oneshot::Sender<()>>,
    serving: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl TestServer {
    pub async fn start() -> Self {
        Self::start_with(Setup::default()).await
    }

    /// A server on `engine` that runs detection.
    pub async fn detecting_on(engine: Engine) -> Self {
        Self::start_with(Setup {
            engine,
            detection: true,
            ..Setup::default()
        })
        .await
    }

    /// A server on `engine`.
    pub async fn start_on(engine: Engine) -> Self {
        Self::start_with(Setup {
            engine,
            ..Setup::default()
        })
        .await
    }

    pub async fn start_with_body_limit(max_body_bytes: usize) -> Self {
        Self::start_with(Setup {
            limits: Limits {
                max_body_bytes,
                ..Limits::default()
            },
            ..Setup::default()
        })
        .await
    }

    /// A server whose store uses `options`.
    pub async fn start_with_options(options: Options) -> Self {
        Self::start_with(Setup {
            options,
            ..Setup::default()
        })
        .await
    }

    pub async fn start_with(setup: Setup) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        // Signed links are absolute URLs of this server.
        let scheme = if setup.tls.is_some() { "https" } else { "http" };
        let public_url = Some(format!("{scheme}://{addr}"));
        let dir = tempfile::tempdir().unwrap();
        let (store, schema): (Arc<dyn Store>, _) = match setup.engine {
            Engine::Embedded => {
                let store = Arc::new(EmbeddedStore::open(dir.path(), setup.options).unwrap());
                let store: Arc<dyn Store> = match setup.spy {
                    Some(spy) => Arc::new(SpyStore { inner: store, spy }),
                    None => store,
                };
                (store, None)
            }
            Engine::Postgres => {
                assert!(setup.spy.is_none(), "the spy wraps the embedded engine");
                let schema = TestSchema::new().await;
                let signer = trailkeep_ledger::NoteSigner::generate("trailkeep").unwrap();
                let options = trailkeep_store_postgres::Options::new(signer);
                let store = PostgresStore::connect(&schema.url(), options)
                    .await
                    .unwrap();
                (Arc::new(store) as Arc<dyn Store>, Some(schema))
            }
        };
        let (stop_streams, stopping) = trailkeep_server::stopping_signal();
        let jwt = JwtVerifier::new(SECRET, setup.jwks.as_ref(), setup.jwt).unwrap();
        let shared = store.clone();
        // Exports run here too: a job runner over the same store, polling often.
        let exports_dir = dir.path().join("exports");
        let runner = Runner::new(
            shared.clone(),
            RunnerSettings {
                poll_interval: std::time::Duration::from_millis(100),
                ..RunnerSettings::default()
            },
            vec![
                Arc::new(ExportHandler::new(
                    shared.clone(),
                    ExportSettings {
                        dir: exports_dir.clone(),
                        keep: std::time::Duration::from_secs(3600),
                        deliveries: setup.deliveries.clone(),
                        public_url: public_url.clone(),
                    },
                )),
                Arc::new(ExpireHandler::new(exports_dir.clone())),
                Arc::new(trailkeep_reports::ReportHandler::new(
                    shared.clone(),
                    trailkeep_reports::ReportSettings {
                        dir: exports_dir.clone(),
                        pdf: None,
                        deliveries: setup.deliveries.clone(),
                    },
                )),
                Arc::new(trailkeep_retention::RetentionHandler::new(
                    shared.clone(),
                    trailkeep_retention::RetentionSettings {
                        files: Some((exports_dir.clone(), std::time::Duration::from_secs(3600))),
                        ..trailkeep_retention::RetentionSettings::default()
                    },
                )),
                Arc::new(trailkeep_retention::ErasureHandler::new(
                    shared.clone(),
                    trailkeep_retention::ErasureSettings {
                        files_dir: Some(exports_dir.clone()),
                    },
                )),
            ],
        );
        runner.start(stopping.clone()).detach_all();
        let deliverer = trailkeep_webhooks::Deliverer::new(
            shared.clone(),
            setup.webhooks.unwrap_or_else(webhook_settings),
            format!("test-{addr}"),
        )
        .unwrap();
        let deliveries = deliverer.handle();
        deliverer.start(stopping.clone());
        let detection = trailkeep_detect::Detection::new(
            shared.clone(),
            trailkeep_detect::DetectionSettings {
                partitions: 4,
                lease: std::time::Duration::from_secs(3),
                ..trailkeep_detect::DetectionSettings::default()
            },
            format!("test-{addr}"),
        );
        let detecting = detection.handle();
        if setup.detection {
            detection.start(stopping.clone());
        }
        let state = AppState::new(shared, jwt, SECRET, setup.limits.clone(), stopping)
            .with_webhooks(deliveries)
            .with_detection(detecting)
            .with_reports(trailkeep_server::Reports {
                dir: exports_dir.clone(),
                pdf: false,
                deliveries: setup.deliveries.clone(),
                wake: Box::new({
                    let runner = runner.clone();
                    move || runner.wake()
                }),
            })
            .with_retention(trailkeep_server::Retention {
                default_days: None,
                wake: Box::new({
                    let runner = runner.clone();
                    move || runner.wake()
                }),
            })
            .with_exports(Exports {
                dir: exports_dir,
                deliveries: setup.deliveries,
                public_url,
                wake: Box::new(move || runner.wake()),
            });
        let (stop, stopped) = oneshot::channel::<()>();
        let router = trailkeep_server::router(state);
        let limits = setup.limits;
        let tls = setup.tls;
        let serving = tokio::spawn(async move {
            trailkeep_server::serve(listener, router, tls, &limits, async move {
                let _ = stopped.await;
                let _ = stop_streams.send(true);
            })
            .await
        });
        Self {
            addr,
            store,
            _dir: dir,
            _schema: schema,
            stop: Some(stop),
            serving: Some(serving),
        }
    }

    /// Begins a graceful shutdown and waits up to `limit` for the server to finish; false if it
    /// did not.
    pub async fn shut_down(mut self, limit: std::time::Duration) -> bool {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let serving = self.serving.take().expect("started");
        matches!(tokio::time::timeout(limit, serving).await, Ok(Ok(Ok(()))))
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// A client for `tenant` with `scope`.
    pub fn client(&self, tenant: &str, scope: &str) -> Client {
        let token = mint_token(SECRET, tenant, scope, 600).unwrap();
        self.client_with_token(&token)
    }

    pub fn client_with_token(&self, token: &str) -> Client {
        let mut headers = HeaderMap::new();
        headers.insert(
            AUTHORIZATION,
            HeaderValue::from_str(&format!("Bearer {token}")).unwrap(),
        );
        Client {
            http: reqwest::Client::builder()
                .default_headers(headers)
                .build()
                .unwrap(),
            base: format!("http://{}", self.addr),
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// An authenticated client.
pub struct Client {
    pub http: reqwest::Client,
    pub base: String,
}

/// A response read whole.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub text: String,
}

impl Answer {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text))
    }

    pub fn content_type(&self) -> &str {
        self.headers
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    /// Asserts a problem+json answer with `status` and returns its body.
    pub fn problem(&self, status: u16) -> Value {
        assert_eq!(self.status, status, "{}", self.text);
        assert_eq!(
            self.content_type(),
            "application/problem+json",
            "{}",
            self.text
        );
        let body = self.json();
        assert_eq!(body["status"], status);
        assert!(
            body["type"]
                .as_str()
                .unwrap()
                .starts_with("urn:trailkeep:problem:")
        );
        assert!(body["title"].is_string() && body["code"].is_string());
        body
    }
}

pub async fn read(response: reqwest::Response) -> Answer {
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = response.text().await.unwrap();
    Answer {
        status,
        headers,
        text,
    }
}

impl Client {
    pub async fn get(&self, path: &str) -> Answer {
        read(
            self.http
                .get(format!("{}{path}", self.base))
                .send()
                .await
                .unwrap(),
        )
        .await
    }

    pub async fn post(
        &self,
        path: &str,
        content_type: &str,
        body: impl Into<reqwest::Body>,
    ) -> Answer {
        let request = self
            .http
            .post(format!("{}{path}", self.base))
            .header(CONTENT_TYPE, content_type)
            .body(body);
        read(request.send().await.unwrap()).await
    }

    /// Creates an API key named `name` with `roles`; returns the 201 answer's body.
    pub async fn create_key(&self, name: &str, roles: &[&str]) -> Value {
        let body = serde_json::json!({"name": name, "roles": roles});
        let answer = self
            .post("/v1/api-keys", "application/json", body.to_string())
            .await;
        assert_eq!(answer.status, 201, "{}", answer.text);
        answer.json()
    }

    /// Revokes API key `id`.
    pub async fn revoke_key(&self, id: &str) -> Answer {
        read(
            self.http
                .delete(format!("{}/v1/api-keys/{id}", self.base))
                .send()
                .await
                .unwrap(),
        )
        .await
    }

    /// `method` on `path`, with `body` as JSON when given.
    pub async fn call(&self, method: reqwest::Method, path: &str, body: Option<&Value>) -> Answer {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(body) = body {
            request = request
                .header(CONTENT_TYPE, "application/json")
                .body(body.to_string());
        }
        read(request.send().await.unwrap()).await
    }

    pub async fn post_json(&self, body: &Value) -> Answer {
        self.post("/v1/events", "application/json", body.to_string())
            .await
    }

    /// Polls export `id` until it has left `queued` and `running` (at most 60 s); answers it.
    pub async fn finished_export(&self, id: &str) -> Value {
        tokio::time::timeout(std::time::Duration::from_secs(60), async {
            loop {
                let export = self.get(&format!("/v1/exports/{id}")).await.json();
                if export["state"] != "queued" && export["state"] != "running" {
                    return export;
                }
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
        })
        .await
        .expect("the export finishes")
    }

    /// Every event of the tenant, oldest first.
    pub async fn all_events(&self) -> Vec<Value> {
        let mut out = Vec::new();
        let mut path = "/v1/events?order=asc&limit=1000".to_owned();
        loop {
            let answer = self.get(&path).await;
            assert_eq!(answer.status, 200, "{}", answer.text);
            let body = answer.json();
            out.extend(body["data"].as_array().unwrap().iter().cloned());
            match body["next_cursor"].as_str() {
                Some(cursor) => path = format!("/v1/events?order=asc&limit=1000&cursor={cursor}"),
                None => return out,
            }
        }
    }
}

pub const RW: &str = "audit:read audit:write";

/// Every role: what an administrator needs to create keys of any role (a key cannot grant a
/// role its creator lacks).
pub const EVERY_ROLE: &str = "audit:read audit:write audit:export audit:admin";

/// A Python virtual environment under the target directory with `packages` installed from PyPI
/// (made on first use, by one test while the others wait, and kept for later runs); answers its
/// `python`. Fails loudly when Python or PyPI is not there.
pub fn python_with(name: &str, packages: &[&str]) -> std::path::PathBuf {
    // Tests run at once: one makes a venv while the others that want it wait.
    static MAKING: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _making = MAKING.lock().unwrap_or_else(|p| p.into_inner());
    let venv = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let python = venv.join("bin/python");
    let marker = venv.join(format!("installed-{}", packages.join("-")));
    if python.is_file() && marker.is_file() {
        return python;
    }
    let _ = std::fs::remove_dir_all(&venv);
    let made = std::process::Command::new("python3")
        .args(["-m", "venv"])
        .arg(&venv)
        .output()
        .expect("run python3 -m venv");
    assert!(made.status.success(), "python3 -m venv failed: {made:?}");
    let installed = std::process::Command::new(venv.join("bin/pip"))
        .args(["install", "--quiet", "--disable-pip-version-check"])
        .args(packages)
        .output()
        .expect("run pip");
    assert!(
        installed.status.success(),
        "pip install {packages:?} failed: {}",
        String::from_utf8_lossy(&installed.stderr)
    );
    std::fs::write(&marker, "").unwrap();
    python
}
