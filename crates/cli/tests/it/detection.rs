//! Detection through `kill -9`: a window of failed sign-ins that spans a crash of the real
//! `trailkeep serve` raises its alert once after the restart (the window was not lost), and
//! alerts raised before a crash are not raised again after it (nor are their events counted
//! twice). A rule of the test's own, one alert per marker event, shows when detection has read
//! up to a point of the trail.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::{Api, Server, describe, path_str, run, stdout};

const SETTINGS: [(&str, &str); 2] = [
    ("TRAILKEEP_DETECTION__ENABLED", "true"),
    ("TRAILKEEP_DETECTION__LEASE_SECONDS", "2"),
];

fn admin(server: &Server) -> Api {
    let output = run(&[
        "token",
        "--tenant",
        "acme",
        "--scope",
        "audit:read audit:write audit:admin",
        "--data-dir",
        path_str(&server.data_dir),
    ]);
    assert!(output.status.success(), "{}", describe(&output));
    Api::new(&server.url(), stdout(&output).trim().to_owned())
}

async fn alerts(api: &Api, rule: &str) -> Vec<Value> {
    let answer: Value = api
        .get(&format!("/v1/alerts?rule={rule}&limit=100"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    answer["data"].as_array().unwrap().clone()
}

/// Ingests a marker event and waits until detection has raised its alert: everything before
/// it has been read.
async fn read_up_to_here(api: &Api, marker_rule: &str, markers: usize, server: &Server) {
    let answer = api
        .post_json(&json!({"action": "test.marker", "actor": {"id": "test"}}))
        .await
        .unwrap();
    assert_eq!(answer.status(), 201);
    let until = Instant::now() + Duration::from_secs(60);
    while alerts(api, marker_rule).await.len() < markers {
        assert!(
            Instant::now() < until,
            "no marker alert; log:\n{}",
            server.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn failures(n: usize) -> Value {
    Value::Array(
        (0..n)
            .map(|i| {
                json!({"action": "user.login", "outcome": "failure",
                       "actor": {"type": "user", "id": "usr_target"},
                       "context": {"ip_address": format!("203.0.113.{i}")}})
            })
            .collect(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_window_spanning_a_kill_9_is_neither_lost_nor_counted_twice() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start_with(dir.path(), &[], &SETTINGS);
    let api = admin(&server);
    let tuned = api
        .get("/v1/rules/failed-login-burst-user")
        .send()
        .await
        .unwrap();
    assert_eq!(tuned.status(), 200);
    let patched = api
        .http_request(reqwest::Method::PATCH, "/v1/rules/failed-login-burst-user")
        .json(&json!({"threshold": 10}))
        .send()
        .await
        .unwrap();
    assert_eq!(patched.status(), 200);
    let marker = api
        .post("/v1/rules")
        .json(
            &json!({"name": "marker", "filter": {"action": "test.marker"},
                      "threshold": 1, "window_minutes": 1, "dedup_minutes": 0}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(marker.status(), 201);
    let marker: Value = marker.json().await.unwrap();
    let marker = marker["id"].as_str().unwrap().to_owned();

    // Six failures, read; a crash; four more: one alert over all ten.
    assert_eq!(api.post_json(&failures(6)).await.unwrap().status(), 201);
    read_up_to_here(&api, &marker, 1, &server).await;
    server.kill();
    server = Server::start_with(dir.path(), &[], &SETTINGS);
    let api = admin(&server);
    assert!(alerts(&api, "failed-login-burst-user").await.is_empty());
    assert_eq!(api.post_json(&failures(4)).await.unwrap().status(), 201);
    read_up_to_here(&api, &marker, 2, &server).await;
    let burst = alerts(&api, "failed-login-burst-user").await;
    assert_eq!(burst.len(), 1, "{burst:?}");
    assert_eq!(
        burst[0]["count"], 10,
        "the window held the six from before the crash"
    );
    assert_eq!(burst[0]["seqs"].as_array().unwrap().len(), 10);

    // A crash right after alerts were raised: after the restart none is raised again.
    server.kill();
    server = Server::start_with(dir.path(), &[], &SETTINGS);
    let api = admin(&server);
    read_up_to_here(&api, &marker, 3, &server).await;
    assert_eq!(alerts(&api, "failed-login-burst-user").await.len(), 1);
    assert_eq!(
        alerts(&api, &marker).await.len(),
        3,
        "one alert per marker, none twice"
    );
    let _ = server.terminate();
}
