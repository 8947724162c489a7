//! The retention crate over the embedded engine: the daily schedule queues one run per tenant
//! with a period to enforce, once a day whoever calls it.

use std::sync::Arc;

use serde_json::json;
use trailkeep_event::{Timestamp, prepare};
use trailkeep_retention::policy::{self, Policy};
use trailkeep_retention::run::{self, RetentionSettings};
use trailkeep_store::{AppendRequest, Store};
use trailkeep_store_embedded::{EmbeddedStore, Options};

async fn store_with(tenants: &[&str]) -> (Arc<dyn Store>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> =
        Arc::new(EmbeddedStore::open(dir.path(), Options::default()).unwrap());
    for tenant in tenants {
        let event = prepare(&json!({"action": "doc.read"}), tenant, Timestamp::now()).unwrap();
        store
            .append(
                tenant,
                AppendRequest {
                    events: vec![event],
                    idempotency_key: None,
                },
            )
            .await
            .unwrap();
    }
    (store, dir)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daily_run_is_queued_once_for_each_tenant_with_a_period() {
    let (store, _dir) = store_with(&["acme", "beta", "gamma"]).await;
    let admin = json!({"type": "user", "id": "admin"});
    for tenant in ["acme", "beta"] {
        let policy = Policy {
            default_days: Some(30),
            overrides: Vec::new(),
        };
        policy::set(&*store, tenant, &admin, policy, 1)
            .await
            .unwrap();
    }
    let settings = RetentionSettings::default();
    assert_eq!(run::schedule(&*store, &settings).await.unwrap(), 2);
    // Again the same day (another node, or the next hour): nothing more.
    assert_eq!(run::schedule(&*store, &settings).await.unwrap(), 0);
    for (tenant, runs) in [("acme", 1), ("beta", 1), ("gamma", 0)] {
        let jobs = store.jobs(tenant, run::KIND, None, 10).await.unwrap();
        assert_eq!(jobs.len(), runs, "{tenant}: {jobs:?}");
    }
    // A server-wide default period makes every tenant's trail a candidate.
    let everyone = RetentionSettings {
        default_days: Some(365),
        ..RetentionSettings::default()
    };
    assert_eq!(run::schedule(&*store, &everyone).await.unwrap(), 1);
    assert_eq!(
        store
            .jobs("gamma", run::KIND, None, 10)
            .await
            .unwrap()
            .len(),
        1
    );
}
