//! The query side over HTTP: full text and metadata filters, sealed cursors, page/per_page
//! totals, history, logins, access, statistics, and read-your-writes under a slow indexer.

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use serde_json::{Value, json};
use trailkeep_store_embedded::Options;

use crate::support::{Client, Engine, RW, TestServer};

fn seqs(body: &Value) -> Vec<u64> {
    body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["seq"].as_u64().unwrap())
        .collect()
}

async fn seed(client: &Client) -> Vec<Value> {
    let mut events = Vec::new();
    for i in 0..60u32 {
        let action = [
            "contract.created",
            "contract.updated",
            "user.login",
            "user.logout",
            "doc.viewed",
            "doc.deleted",
        ][i as usize % 6];
        let mut e = json!({
            "action": action,
            "occurred_at": format!("2025-03-{:02}T{:02}:00:00Z", 1 + i % 28, i % 24),
            "actor": {"id": format!("u{}", i % 4), "email": format!("u{}@example.com", i % 4)},
            "target": {"type": if i % 2 == 0 { "contract" } else { "doc" }, "id": format!("t{}", i % 5)},
            "context": {"method": "PASSWORD", "location": "Riyadh, SA", "device": "Chrome on Windows"},
            "metadata": {"amount": format!("{}.00", i * 10), "currency": if i % 3 == 0 { "SAR" } else { "USD" }},
        });
        if i % 7 == 0 {
            e["description"] = json!(format!("MURABAHA contract number {i}"));
        }
        if action == "user.login" && i % 4 == 2 {
            e["outcome"] = json!("failure");
        }
        if action == "contract.updated" {
            e["changes"] = json!({"status": {"from": "DRAFT", "to": "PENDING"}});
        }
        events.push(e);
    }
    let answer = client.post_json(&Value::Array(events)).await;
    assert_eq!(answer.status, 201, "{}", answer.text);
    answer.json()["data"].as_array().unwrap().clone()
}

async fn full_text_metadata_and_totals(engine: Engine) {
    let server = TestServer::start_on(engine).await;
    let client = server.client("acme", RW);
    let events = seed(&client).await;
    let murabaha: HashSet<u64> = events
        .iter()
        .filter(|e| {
            e["description"]
                .as_str()
                .is_some_and(|d| d.contains("MURABAHA"))
        })
        .map(|e| e["seq"].as_u64().unwrap())
        .collect();
    let found: HashSet<u64> = seqs(&client.get("/v1/events?q=murabaha&limit=100").await.json())
        .into_iter()
        .collect();
    assert_eq!(found, murabaha);
    // Every word must appear: only event 42's description has all three.
    assert_eq!(
        seqs(
            &client
                .get("/v1/events?q=murabaha%20contract%2042&limit=100")
                .await
                .json()
        ),
        [42]
    );

    let sar = client
        .get("/v1/events?metadata.currency=SAR&limit=100")
        .await
        .json();
    assert_eq!(seqs(&sar).len(), 20);
    let both = client
        .get("/v1/events?metadata.currency=SAR&metadata.amount=30.00")
        .await
        .json();
    assert_eq!(seqs(&both), [3]);

    let page = client
        .get("/v1/events?action=contract.*&page=2&per_page=7&order=asc")
        .await
        .json();
    assert_eq!(page["total"], 20);
    assert_eq!(page["page"], 2);
    assert_eq!(page["per_page"], 7);
    assert_eq!(page["data"].as_array().unwrap().len(), 7);
    let last = client
        .get("/v1/events?action=contract.*&page=3&per_page=7&order=asc")
        .await
        .json();
    assert_eq!(last["data"].as_array().unwrap().len(), 6);
    client.get("/v1/events?page=2&cursor=x").await.problem(400);
    client.get("/v1/events?q=%21%21").await.problem(400);
    client.get("/v1/events?metadata.=x").await.problem(400);
}

async fn cursors_bind_to_tenant_endpoint_and_filter(engine: Engine) {
    let server = TestServer::start_on(engine).await;
    let acme = server.client("acme", RW);
    let beta = server.client("beta", RW);
    seed(&acme).await;
    seed(&beta).await;
    let first = acme.get("/v1/events?action=user.*&limit=3").await.json();
    let cursor = first["next_cursor"].as_str().unwrap().to_owned();
    assert_eq!(
        acme.get(&format!("/v1/events?action=user.*&limit=3&cursor={cursor}"))
            .await
            .status,
        200
    );
    assert_eq!(
        acme.get(&format!("/v1/events?limit=9&action=user.*&cursor={cursor}"))
            .await
            .status,
        200,
        "the page size may change"
    );
    for path in [
        format!("/v1/events?action=doc.*&limit=3&cursor={cursor}"),
        format!("/v1/events?action=user.*&order=asc&cursor={cursor}"),
        format!("/v1/logins?cursor={cursor}"),
    ] {
        acme.get(&path).await.problem(400);
    }
    beta.get(&format!("/v1/events?action=user.*&limit=3&cursor={cursor}"))
        .await
        .problem(400);
    let mut forged = cursor.into_bytes();
    let last = forged.len() - 1;
    forged[last] = if forged[last] == b'A' { b'B' } else { b'A' };
    let forged = String::from_utf8(forged).unwrap();
    acme.get(&format!("/v1/events?action=user.*&limit=3&cursor={forged}"))
        .await
        .problem(400);
}

async fn history_logins_and_access(engine: Engine) {
    let server = TestServer::start_on(engine).await;
    let client = server.client("acme", RW);
    let events = seed(&client).await;

    let history = client
        .get("/v1/entities/doc/t1/history?limit=100")
        .await
        .json();
    let want: Vec<&Value> = events
        .iter()
        .filter(|e| e["target"]["type"] == "doc" && e["target"]["id"] == "t1")
        .collect();
    let got = history["data"].as_array().unwrap();
    assert_eq!(got.len(), want.len());
    let times: Vec<&str> = got
        .iter()
        .map(|e| e["occurred_at"].as_str().unwrap())
        .collect();
    let mut sorted = times.clone();
    sorted.sort();
    assert_eq!(times, sorted, "oldest first");
    assert!(
        got.iter()
            .any(|e| e["changes"]["status"]["to"] == "PENDING"),
        "history carries changes"
    );

    let logins = client.get("/v1/logins?limit=100").await.json();
    let all: Vec<&Value> = logins["data"].as_array().unwrap().iter().collect();
    assert_eq!(all.len(), 20);
    assert!(
        all.iter()
            .all(|e| e["category"] == "login" || e["category"] == "logout")
    );
    assert_eq!(all[0]["context"]["method"], "PASSWORD");
    let failed = client
        .get("/v1/logins?status=failure&user=u2@example.com&limit=100")
        .await
        .json();
    let failed = failed["data"].as_array().unwrap();
    assert!(!failed.is_empty());
    assert!(
        failed
            .iter()
            .all(|e| e["outcome"] == "failure" && e["actor"]["id"] == "u2")
    );
    client.get("/v1/logins?status=sideways").await.problem(400);

    let deletes = client
        .get("/v1/access?access_type=delete&resource_type=doc&limit=100")
        .await
        .json();
    let deletes = deletes["data"].as_array().unwrap();
    assert_eq!(deletes.len(), 10);
    assert!(
        deletes
            .iter()
            .all(|e| e["category"] == "delete" && e["target"]["type"] == "doc")
    );
    let writes = client
        .get("/v1/access?access_type=write&limit=100")
        .await
        .json();
    assert_eq!(writes["data"].as_array().unwrap().len(), 20);
    client.get("/v1/access?access_type=peek").await.problem(400);
}

async fn stats_equal_a_brute_force_count_and_stay_in_the_tenant(engine: Engine) {
    let server = TestServer::start_on(engine).await;
    let acme = server.client("acme", RW);
    let events = seed(&acme).await;
    seed(&server.client("beta", RW)).await;
    for _ in 0..2 {
        // Once over the tail (just written), once more later (after the indexer ran).
        let stats = acme
            .get("/v1/stats?group_by=action,category,target_type&group_by=outcome,actor,day")
            .await
            .json();
        assert_eq!(stats["total"], 60);
        let actors: HashSet<&str> = events
            .iter()
            .map(|e| e["actor"]["id"].as_str().unwrap())
            .collect();
        assert_eq!(stats["unique_actors"], actors.len());
        let failed = events
            .iter()
            .filter(|e| e["category"] == "login" && e["outcome"] == "failure")
            .count();
        assert_eq!(stats["failed_logins"], failed);
        for (group, field) in [
            ("action", "/action"),
            ("category", "/category"),
            ("target_type", "/target/type"),
            ("outcome", "/outcome"),
            ("actor", "/actor/id"),
        ] {
            let mut want: BTreeMap<String, u64> = BTreeMap::new();
            for e in &events {
                *want
                    .entry(e.pointer(field).unwrap().as_str().unwrap().to_owned())
                    .or_default() += 1;
            }
            let got: BTreeMap<String, u64> = stats["groups"][group]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| {
                    (
                        r["value"].as_str().unwrap().to_owned(),
                        r["count"].as_u64().unwrap(),
                    )
                })
                .collect();
            assert_eq!(got, want, "group {group}");
        }
        let days: u64 = stats["groups"]["day"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["count"].as_u64().unwrap())
            .sum();
        assert_eq!(days, 60);
        assert_eq!(stats["groups"]["day"].as_array().unwrap().len(), 28);
        let filtered = acme
            .get("/v1/stats?actor_id=u1&group_by=action")
            .await
            .json();
        assert_eq!(filtered["total"], 15);
        tokio::time::sleep(Duration::from_millis(700)).await;
    }
    acme.get("/v1/stats?group_by=colour").await.problem(400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_write_is_readable_at_once_even_with_a_slow_indexer() {
    let server = TestServer::start_with_options(Options {
        index_interval: Duration::from_secs(3600),
        ..Options::default()
    })
    .await;
    let client = server.client("acme", RW);
    for i in 0..1000 {
        let id = format!("ryw-{i}");
        let posted = client
            .post_json(
                &json!({"id": id, "action": "doc.viewed", "actor": {"id": format!("a{}", i % 7)}}),
            )
            .await;
        assert_eq!(posted.status, 201, "{}", posted.text);
        let listed = client
            .get(&format!("/v1/events?actor_id=a{}&limit=1", i % 7))
            .await
            .json();
        assert_eq!(
            listed["data"][0]["id"], id,
            "write {i} is the newest event for its actor"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cursor_walk_sees_every_older_event_once_while_others_insert() {
    let server = TestServer::start_with_options(Options {
        index_interval: Duration::from_millis(50),
        ..Options::default()
    })
    .await;
    let client = server.client("acme", RW);
    let batch: Vec<Value> = (0..1500)
        .map(|i| json!({"action": "doc.viewed", "occurred_at": format!("2025-01-01T00:{:02}:{:02}Z", (i / 60) % 60, i % 60)}))
        .collect();
    let existing: Vec<u64> = seqs(&client.post_json(&Value::Array(batch)).await.json());

    let writer = server.client("acme", RW);
    let inserting = tokio::spawn(async move {
        for _ in 0..40 {
            // Newer and older instants than the walk: only the ones that existed must appear once.
            let batch: Vec<Value> = (0..25)
                .map(|i| json!({"action": "doc.viewed", "occurred_at": format!("2025-01-01T00:00:{:02}Z", i)}))
                .collect();
            assert_eq!(writer.post_json(&Value::Array(batch)).await.status, 201);
        }
    });
    let mut seen = Vec::new();
    let mut positions = Vec::new();
    let mut path = "/v1/events?order=asc&limit=40".to_owned();
    loop {
        let body = client.get(&path).await.json();
        seen.extend(seqs(&body));
        positions.extend(body["data"].as_array().unwrap().iter().map(|e| {
            (
                e["occurred_at"].as_str().unwrap().to_owned(),
                e["seq"].as_u64().unwrap(),
            )
        }));
        match body["next_cursor"].as_str() {
            Some(c) => path = format!("/v1/events?order=asc&limit=40&cursor={c}"),
            None => break,
        }
    }
    inserting.await.unwrap();
    let unique: HashSet<u64> = seen.iter().copied().collect();
    assert_eq!(unique.len(), seen.len(), "no event twice");
    for seq in &existing {
        assert!(
            unique.contains(seq),
            "seq {seq} existed before the walk and was missed"
        );
    }
    assert!(
        positions.windows(2).all(|w| w[0] < w[1]),
        "the walk is in (occurred_at, seq) order"
    );
}

crate::on_both_engines!(
    full_text_metadata_and_totals,
    cursors_bind_to_tenant_endpoint_and_filter,
    history_logins_and_access,
    stats_equal_a_brute_force_count_and_stay_in_the_tenant,
);
