//! A full disk under load: the data directory sits on a small filesystem the test makes (a
//! tmpfs, which needs root, as CI runs). Two tenants ingest until the disk is full; every answer
//! is then a 201 or a 503 with `Retry-After`, never another error; when space returns, ingest
//! works again without a restart; after a restart every acknowledged event is there and
//! `trailkeep verify` passes.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::{self, Api, Server};

/// A tmpfs mounted on a temporary directory, unmounted when dropped.
struct SmallFs {
    dir: tempfile::TempDir,
}

impl SmallFs {
    /// Mounts a tmpfs of `megabytes`, or says why it could not.
    fn mount(megabytes: u32) -> Result<Self, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let output = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={megabytes}m"), "tmpfs"])
            .arg(dir.path())
            .output()
            .map_err(|e| format!("run mount: {e}"))?;
        if !output.status.success() {
            return Err(format!(
                "mount -t tmpfs failed (it needs root): {}",
                String::from_utf8_lossy(&output.stderr).trim()
            ));
        }
        Ok(Self { dir })
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Gives the filesystem `megabytes` of room, in place.
    fn resize(&self, megabytes: u32) {
        let status = Command::new("mount")
            .args(["-o", &format!("remount,size={megabytes}m")])
            .arg(self.path())
            .status()
            .expect("run mount -o remount");
        assert!(status.success(), "remount failed: {status:?}");
    }
}

impl Drop for SmallFs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(self.path()).status();
    }
}

/// Answers seen while the disk filled and emptied.
#[derive(Default)]
struct Tally {
    acked: Mutex<Vec<(usize, String)>>,
    unavailable: AtomicUsize,
    /// Acknowledgements since the last refusal.
    streak: AtomicUsize,
    unexpected: Mutex<Vec<String>>,
}

/// Posts 20-event batches of about 2 KiB events for `tenant` until `stop`.
async fn ingest(api: Api, tenant: usize, worker: usize, stop: Arc<AtomicBool>, tally: Arc<Tally>) {
    let padding = "x".repeat(2000);
    let mut batch_no = 0;
    while !stop.load(Ordering::SeqCst) {
        let events: Vec<Value> = (0..20)
            .map(|i| {
                json!({"id": format!("w{worker}-b{batch_no}-{i}"), "action": "disk.fill",
                       "description": padding})
            })
            .collect();
        batch_no += 1;
        let Ok(response) = api.post_json(&Value::Array(events)).await else {
            continue;
        };
        let status = response.status().as_u16();
        let retry_after = response.headers().contains_key("retry-after");
        let text = response.text().await.unwrap_or_default();
        match status {
            201 => {
                let body: Value = serde_json::from_str(&text).expect("a 201 body");
                let mut acked = tally.acked.lock().unwrap();
                for event in body["data"].as_array().expect("data") {
                    acked.push((tenant, event["id"].as_str().expect("id").to_owned()));
                }
                tally.streak.fetch_add(1, Ordering::SeqCst);
            }
            503 if retry_after => {
                tally.unavailable.fetch_add(1, Ordering::SeqCst);
                tally.streak.store(0, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            other => tally
                .unexpected
                .lock()
                .unwrap()
                .push(format!("{other}: {text}")),
        }
    }
}

/// Waits (at most `limit`) until `done` holds, failing with `what` and the server log.
async fn wait_until(limit: Duration, server: &Server, what: &str, done: impl Fn() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(
            started.elapsed() < limit,
            "{what} within {limit:?}; server log:\n{}",
            server.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_answers_503_loses_nothing_acknowledged_and_recovers_when_space_returns() {
    let fs = match SmallFs::mount(24) {
        Ok(fs) => fs,
        Err(why) if std::env::var_os("CI").is_some() => panic!("{why}"),
        Err(why) => {
            eprintln!("skipped: {why}");
            return;
        }
    };
    let data: PathBuf = fs.path().join("data");
    let server = Server::start(&data);
    let tenants = ["alpha", "beta"];
    let stop = Arc::new(AtomicBool::new(false));
    let tally = Arc::new(Tally::default());
    let workers: Vec<_> = (0..4)
        .map(|worker| {
            let tenant = worker % tenants.len();
            tokio::spawn(ingest(
                server.client(tenants[tenant]),
                tenant,
                worker,
                stop.clone(),
                tally.clone(),
            ))
        })
        .collect();

    wait_until(Duration::from_secs(120), &server, "the disk fills", || {
        tally.unavailable.load(Ordering::SeqCst) >= 20
    })
    .await;
    let acked_when_full = tally.acked.lock().unwrap().len();
    fs.resize(512);
    wait_until(
        Duration::from_secs(60),
        &server,
        "ingest works again",
        || tally.streak.load(Ordering::SeqCst) >= 20,
    )
    .await;
    stop.store(true, Ordering::SeqCst);
    for worker in workers {
        worker.await.expect("a worker");
    }
    let unexpected = tally.unexpected.lock().unwrap().clone();
    assert!(
        unexpected.is_empty(),
        "answers other than 201 and 503: {:?}",
        &unexpected[..unexpected.len().min(5)]
    );
    let acked = tally.acked.lock().unwrap().clone();
    assert!(
        acked.len() > acked_when_full,
        "acknowledged after space returned"
    );
    eprintln!(
        "{} events acknowledged, {} answers 503 while the disk was full",
        acked.len(),
        tally.unavailable.load(Ordering::SeqCst)
    );

    let status = server.terminate();
    assert!(status.success(), "serve exited with {status:?} on SIGTERM");
    let server = Server::start(&data);
    for (t, tenant) in tenants.iter().enumerate() {
        let stored: std::collections::HashSet<String> = server
            .client(tenant)
            .list_all()
            .await
            .iter()
            .map(|raw| {
                let event: Value = serde_json::from_str(raw).expect("an event");
                event["id"].as_str().expect("an id").to_owned()
            })
            .collect();
        let lost: Vec<&String> = acked
            .iter()
            .filter(|(owner, _)| *owner == t)
            .map(|(_, id)| id)
            .filter(|id| !stored.contains(*id))
            .collect();
        assert!(
            lost.is_empty(),
            "{} acknowledged events of {tenant} are gone: {:?}",
            lost.len(),
            &lost[..lost.len().min(5)]
        );
    }
    let status = server.terminate();
    assert!(status.success());
    let output = support::run(&["verify", "--data-dir", support::path_str(&data)]);
    assert!(output.status.success(), "{}", support::describe(&output));
}
