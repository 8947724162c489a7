//! Shared helpers for the black-box tests: running the built `trailkeep` binary with a bounded
//! wait, a `Server` guard that starts `trailkeep serve` on port 0 and kills it on drop, and a
//! small authenticated HTTP client.

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use serde_json::Value;
use trailkeep_api::{IngestResponse, ListResponse, ReceiptBody};

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_trailkeep");

/// How long a server may take to report its address.
const START_TIMEOUT: Duration = Duration::from_secs(20);
/// How long a one-shot command (`verify`, `token`, `proof`, ...) may run.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a server may take to stop after SIGTERM.
const STOP_TIMEOUT: Duration = Duration::from_secs(20);

/// A command for the binary, with every `TRAILKEEP_*` setting removed from its environment so
/// the tests are hermetic.
pub fn command() -> Command {
    let mut command = Command::new(BIN);
    for var in [
        "TRAILKEEP_JWT_SECRET",
        "TRAILKEEP_DATA_DIR",
        "TRAILKEEP_LISTEN",
        "TRAILKEEP_LOG",
        "TRAILKEEP_LOG_NAME",
    ] {
        command.env_remove(var);
    }
    command.stdin(Stdio::null());
    command
}

/// Kills (SIGKILL) and reaps a child process when dropped, so a failing test leaves nothing
/// running.
pub struct ChildGuard(pub Option<Child>);

impl ChildGuard {
    fn child(&mut self) -> &mut Child {
        self.0.as_mut().expect("the child is still owned")
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn drain(mut pipe: impl Read + Send + 'static) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = pipe.read_to_end(&mut bytes);
        bytes
    })
}

/// Waits for `child` to exit, for at most `timeout`; `None` when it is still running.
fn wait_bounded(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait().expect("poll the child") {
            return Some(status);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Runs `command` to completion (at most a minute) and returns its output.
pub fn run_command(command: &mut Command) -> Output {
    run_command_within(command, COMMAND_TIMEOUT)
}

/// Runs `command` to completion, failing the test if it takes longer than `timeout`.
pub fn run_command_within(command: &mut Command, timeout: Duration) -> Output {
    let child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn trailkeep");
    let mut guard = ChildGuard(Some(child));
    let stdout = drain(guard.child().stdout.take().expect("piped stdout"));
    let stderr = drain(guard.child().stderr.take().expect("piped stderr"));
    let status = wait_bounded(guard.child(), timeout);
    if status.is_some() {
        guard.0 = None;
    }
    // Kills the child if it is still running, so the pipes close and the readers finish.
    drop(guard);
    let stdout = stdout.join().expect("stdout reader");
    let stderr = stderr.join().expect("stderr reader");
    let Some(status) = status else {
        panic!(
            "{command:?} did not finish within {timeout:?}\nstdout:\n{}\nstderr:\n{}",
            String::from_utf8_lossy(&stdout),
            String::from_utf8_lossy(&stderr)
        );
    };
    Output {
        status,
        stdout,
        stderr,
    }
}

/// Runs the binary with `args` (bounded) and returns its output.
pub fn run(args: &[&str]) -> Output {
    run_command(command().args(args))
}

/// Stdout of an output, as text.
pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Stderr of an output, as text.
pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// A one-line description of an output, for assertion messages.
pub fn describe(output: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        output.status,
        stdout(output),
        stderr(output)
    )
}

/// `trailkeep token --tenant TENANT --data-dir DIR`: a read and write token.
pub fn token(data_dir: &Path, tenant: &str) -> String {
    let output = run(&[
        "token",
        "--tenant",
        tenant,
        "--scope",
        "audit:read audit:write",
        "--data-dir",
        path_str(data_dir),
    ]);
    assert!(
        output.status.success(),
        "token failed: {}",
        describe(&output)
    );
    let token = stdout(&output).trim().to_owned();
    assert_eq!(token.split('.').count(), 3, "not a JWT: {token:?}");
    token
}

/// `trailkeep keys create` for tenant acme with `roles` (comma-separated), in a data directory
/// whose server is not running: the key as printed (`key`, `client_id`, `client_secret`, ...).
pub fn create_key(data_dir: &Path, roles: &str) -> Value {
    let output = run(&[
        "keys",
        "create",
        "--data-dir",
        path_str(data_dir),
        "--tenant",
        "acme",
        "--roles",
        roles,
        "--name",
        "bootstrap admin",
    ]);
    assert!(output.status.success(), "{}", describe(&output));
    serde_json::from_str(&stdout(&output)).expect("keys create prints JSON")
}

/// A path as `&str` (temp dirs are UTF-8 here).
pub fn path_str(path: &Path) -> &str {
    path.to_str().expect("UTF-8 temp path")
}

/// Finds the address in the `trailkeep is serving addr=...` log line (text or JSON).
fn serving_addr(line: &str) -> Option<SocketAddr> {
    if line.starts_with('{') {
        let value: Value = serde_json::from_str(line).ok()?;
        if value["fields"]["message"] != "trailkeep is serving" {
            return None;
        }
        return value["fields"]["addr"].as_str()?.parse().ok();
    }
    let rest = &line[line.find("trailkeep is serving")?..];
    let addr = &rest[rest.find("addr=")? + "addr=".len()..];
    addr.split_whitespace().next()?.parse().ok()
}

/// A running `trailkeep serve`, killed (SIGKILL) when dropped.
pub struct Server {
    guard: ChildGuard,
    /// The address it listens on.
    pub addr: SocketAddr,
    /// Its data directory.
    pub data_dir: PathBuf,
    log: Arc<Mutex<String>>,
}

impl Server {
    /// Starts `trailkeep serve --data-dir DIR --listen 127.0.0.1:0` and waits (at most 20 s)
    /// for it to log its address.
    pub fn start(data_dir: &Path) -> Self {
        Self::start_with(data_dir, &[], &[])
    }

    /// Like [`start`](Self::start), with more flags and environment variables. Detection is
    /// off unless `env` turns it on (`TRAILKEEP_DETECTION__ENABLED`): the built-in rules append
    /// alerts to the trail on their own (an API key made at night is one), which tests
    /// counting events must not see at some hours and not at others.
    pub fn start_with(data_dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Self {
        let child = command()
            .env("TRAILKEEP_DETECTION__ENABLED", "false")
            .args([
                "serve",
                "--data-dir",
                path_str(data_dir),
                "--listen",
                "127.0.0.1:0",
            ])
            .args(args)
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn trailkeep serve");
        let mut guard = ChildGuard(Some(child));
        let pipe = guard.child().stderr.take().expect("piped stderr");
        let log = Arc::new(Mutex::new(String::new()));
        let (found, addr) = mpsc::channel();
        {
            let log = log.clone();
            // Keeps reading until the process ends, so the server never blocks on a full pipe.
            std::thread::spawn(move || {
                for line in BufReader::new(pipe).split(b'\n') {
                    let Ok(line) = line else { break };
                    let line = String::from_utf8_lossy(&line).into_owned();
                    {
                        let mut log = log.lock().unwrap_or_else(|p| p.into_inner());
                        log.push_str(&line);
                        log.push('\n');
                    }
                    if let Some(addr) = serving_addr(&line) {
                        let _ = found.send(addr);
                    }
                }
            });
        }
        let addr = match addr.recv_timeout(START_TIMEOUT) {
            Ok(addr) => addr,
            Err(why) => {
                let status = guard.child().try_wait().ok().flatten();
                drop(guard);
                panic!(
                    "trailkeep serve did not report its address ({why}; exit status {status:?}); stderr:\n{}",
                    log.lock().unwrap_or_else(|p| p.into_inner())
                );
            }
        };
        Self {
            guard,
            addr,
            data_dir: data_dir.to_owned(),
            log,
        }
    }

    /// `http://ADDR`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Everything the server logged so far.
    pub fn log(&self) -> String {
        self.log.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// A reader of the log that outlives the server (for what it logs while stopping).
    pub fn log_handle(&self) -> impl Fn() -> String + use<> {
        let log = self.log.clone();
        move || log.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// SIGKILL, then reap.
    /// The server's process id.
    pub fn pid(&mut self) -> u32 {
        self.guard.child().id()
    }

    pub fn kill(mut self) {
        let mut child = self.guard.0.take().expect("running");
        child.kill().expect("SIGKILL the server");
        child.wait().expect("reap the server");
    }

    /// SIGTERM, then wait (at most 20 s) for a clean exit; returns the exit status.
    pub fn terminate(mut self) -> ExitStatus {
        let pid = self.guard.child().id().to_string();
        let sent = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("run kill -TERM");
        assert!(sent.success(), "kill -TERM {pid} failed: {sent:?}");
        match wait_bounded(self.guard.child(), STOP_TIMEOUT) {
            Some(status) => {
                self.guard.0 = None;
                status
            }
            None => panic!(
                "trailkeep serve did not stop within {STOP_TIMEOUT:?} of SIGTERM; stderr:\n{}",
                self.log()
            ),
        }
    }

    /// A client acting as `tenant`, with a token minted from the server's data directory.
    pub fn client(&self, tenant: &str) -> Api {
        Api::new(&self.url(), token(&self.data_dir, tenant))
    }
}

/// An HTTP client for one tenant of one server.
#[derive(Clone)]
pub struct Api {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Api {
    /// A client for `base` (`http://host:port`) sending `token`.
    pub fn new(base: &str, token: String) -> Self {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .expect("build the HTTP client");
        Self {
            http,
            base: base.to_owned(),
            token,
        }
    }

    /// A POST to `path`, authenticated; the caller adds the body.
    pub fn post(&self, path: &str) -> reqwest::RequestBuilder {
        self.http
            .post(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
    }

    /// A request of `method` to `path`, authenticated; the caller adds the body.
    pub fn http_request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token)
    }

    /// A GET of `path` (with its query string), authenticated.
    pub fn get(&self, path: &str) -> reqwest::RequestBuilder {
        self.http
            .get(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
    }

    /// `POST /v1/events` with a JSON body (an object or an array).
    pub async fn post_json(&self, body: &Value) -> reqwest::Result<reqwest::Response> {
        self.http
            .post(format!("{}/v1/events", self.base))
            .bearer_auth(&self.token)
            .header("content-type", "application/json")
            .body(serde_json::to_vec(body).expect("serialise"))
            .send()
            .await
    }

    /// `POST /v1/events` with an NDJSON body, one event per line.
    pub async fn post_ndjson(&self, events: &[Value]) -> reqwest::Result<reqwest::Response> {
        let mut body = String::new();
        for event in events {
            body.push_str(&event.to_string());
            body.push('\n');
        }
        self.http
            .post(format!("{}/v1/events", self.base))
            .bearer_auth(&self.token)
            .header("content-type", "application/x-ndjson")
            .body(body)
            .send()
            .await
    }

    /// Ingests `body` (object or array), asserting 201, and returns the receipts.
    pub async fn ingest(&self, body: &Value) -> Vec<ReceiptBody> {
        let response = self.post_json(body).await.expect("POST /v1/events");
        let status = response.status();
        let text = response.text().await.expect("read the ingest answer");
        assert_eq!(status.as_u16(), 201, "POST /v1/events answered {text}");
        let answer: IngestResponse = serde_json::from_str(&text).expect("parse the ingest answer");
        answer.receipts
    }

    /// `POST /v1/exports` with `body`, asserting 202; returns the export's id.
    pub async fn request_export(&self, body: &Value) -> String {
        let response = self
            .post("/v1/exports")
            .json(body)
            .send()
            .await
            .expect("POST");
        let status = response.status();
        let answer: Value = response.json().await.expect("read the answer");
        assert_eq!(status.as_u16(), 202, "POST /v1/exports answered {answer}");
        answer["id"].as_str().expect("an export id").to_owned()
    }

    /// Polls export `id` until it has left `queued` and `running` (at most `limit`).
    pub async fn finished_export(&self, id: &str, limit: Duration) -> Value {
        tokio::time::timeout(limit, async {
            loop {
                let status = self.get_json(&format!("/v1/exports/{id}")).await;
                if status["state"] != "queued" && status["state"] != "running" {
                    return status;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
        .await
        .unwrap_or_else(|_| panic!("export {id} did not finish within {limit:?}"))
    }

    /// GETs `path`, asserting 200, and returns the body text.
    pub async fn get_text(&self, path: &str) -> String {
        let response = self.get(path).send().await.expect("GET");
        let status = response.status();
        let text = response.text().await.expect("read the answer");
        assert_eq!(status.as_u16(), 200, "GET {path} answered {text}");
        text
    }

    /// GETs `path`, asserting 200, and parses the JSON body.
    pub async fn get_json(&self, path: &str) -> Value {
        let text = self.get_text(path).await;
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("GET {path}: {e}: {text}"))
    }

    /// Every event of the tenant, as the exact bytes the server sent, paging through
    /// `GET /v1/events?order=asc&limit=1000` (bounded to 1000 pages).
    pub async fn list_all(&self) -> Vec<String> {
        let mut events = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..1000 {
            let mut path = "/v1/events?order=asc&limit=1000".to_owned();
            if let Some(cursor) = &cursor {
                path.push_str("&cursor=");
                path.push_str(cursor);
            }
            let text = self.get_text(&path).await;
            let page: ListResponse =
                serde_json::from_str(&text).unwrap_or_else(|e| panic!("GET {path}: {e}"));
            events.extend(page.data.into_iter().map(|raw| raw.get().to_owned()));
            match page.next_cursor {
                Some(next) => cursor = Some(next),
                None => return events,
            }
        }
        panic!("GET /v1/events did not finish within 1000 pages");
    }
}

/// The tree size and base64 root hash in a checkpoint note (lines 2 and 3).
pub fn checkpoint_head(note: &str) -> (u64, String) {
    let mut lines = note.lines();
    let _origin = lines.next().expect("origin line");
    let size = lines
        .next()
        .and_then(|l| l.parse().ok())
        .unwrap_or_else(|| panic!("no tree size in the checkpoint:\n{note}"));
    let root = lines
        .next()
        .unwrap_or_else(|| panic!("no root in the checkpoint:\n{note}"))
        .to_owned();
    (size, root)
}

#[test]
fn serving_addr_is_found_in_the_log_line() {
    let line = "2026-01-01T00:00:00Z  INFO trailkeep::serve: trailkeep is serving addr=127.0.0.1:4321 data_dir=x";
    assert_eq!(serving_addr(line), Some("127.0.0.1:4321".parse().unwrap()));
    assert_eq!(serving_addr("addr=127.0.0.1:1 something else"), None);
}

/// A Python virtual environment named `name` under the target directory with `package` (a
/// pinned requirement from PyPI) installed, made on first use; answers its directory. Fails
/// loudly when Python or PyPI is not there.
pub fn python_venv(name: &str, package: &str) -> PathBuf {
    // One at a time: `ensurepip` in venvs made side by side by parallel tests failed once.
    static MAKING: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one_at_a_time = MAKING
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let venv = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let marker = venv.join(package);
    if marker.is_file() {
        return venv;
    }
    let _ = std::fs::remove_dir_all(&venv);
    let made = run_command_within(
        Command::new("python3").args(["-m", "venv", path_str(&venv)]),
        Duration::from_secs(120),
    );
    assert!(
        made.status.success(),
        "python3 -m venv failed: {}",
        describe(&made)
    );
    let installed = run_command_within(
        Command::new(venv.join("bin/python")).args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            package,
        ]),
        Duration::from_secs(600),
    );
    assert!(
        installed.status.success(),
        "pip install {package} failed: {}",
        describe(&installed)
    );
    std::fs::write(&marker, "").unwrap();
    venv
}

/// Makes sure `program` runs (`program --version`, or `probe` instead), installing Debian's
/// `packages` with apt-get when it does not: one install at a time in this process (two
/// apt-gets would fight over dpkg's lock), `apt-get update` first when the package lists are
/// stale. Panics, loudly, when the program still does not run: a test that needs it must not
/// pass without it.
pub fn debian_program(program: &str, probe: &[&str], packages: &[&str]) {
    static APT: Mutex<()> = Mutex::new(());
    let runs = || {
        Command::new(program)
            .args(probe)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if runs() {
        return;
    }
    let _apt = APT.lock().unwrap_or_else(|p| p.into_inner());
    if runs() {
        return;
    }
    let apt = |args: &[&str]| {
        Command::new("apt-get")
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .status()
            .is_ok_and(|s| s.success())
    };
    let install: Vec<&str> = ["install", "-y", "-q"]
        .iter()
        .chain(packages)
        .copied()
        .collect();
    let installed = apt(&install) || (apt(&["update", "-q"]) && apt(&install));
    assert!(
        installed && runs(),
        "{program} is needed: apt-get install {}",
        packages.join(" ")
    );
}
