//! Conformance cases for [`DocumentStore`](crate::DocumentStore): expectations, sets made all or
//! none, audit events stored with their set or not at all, ranges, tenants apart, and one
//! winner among concurrent writers.

use std::ops::Bound;
use std::sync::Arc;

use serde_json::json;

use super::{key_audit, trail};
use crate::documents::{DocumentConflict, DocumentRange, SERVICE};
use crate::{DocumentWrite, Expect, Store, lease};

fn put(kind: &str, id: &str, expect: Expect, body: serde_json::Value) -> DocumentWrite {
    DocumentWrite::put(kind, id, expect, body.to_string())
}

fn conflict(kind: &str, id: &str) -> DocumentConflict {
    DocumentConflict {
        kind: kind.to_owned(),
        id: id.to_owned(),
    }
}

async fn ids(store: &dyn Store, tenant: &str, kind: &str, range: DocumentRange) -> Vec<String> {
    store
        .documents(tenant, kind, range, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|d| d.id)
        .collect()
}

/// Documents: created only when absent, replaced only at the version expected, versions count
/// writes, a set with one failed expectation writes nothing, ranges list and delete in id
/// order, and each tenant sees only its own.
pub async fn documents_keep_their_expectations_and_sets_are_all_or_none(store: Arc<dyn Store>) {
    let s = &*store;
    let write = |tenant: &'static str, writes: Vec<DocumentWrite>| async move {
        s.write_documents(tenant, writes, Vec::new(), 1_000)
            .await
            .unwrap()
    };
    assert_eq!(
        write(
            "acme",
            vec![put("hook", "a", Expect::Absent, json!({"n": 1}))]
        )
        .await,
        Ok(())
    );
    assert_eq!(
        write(
            "acme",
            vec![put("hook", "a", Expect::Absent, json!({"n": 2}))]
        )
        .await,
        Err(conflict("hook", "a"))
    );
    let a = s.document("acme", "hook", "a").await.unwrap().unwrap();
    assert_eq!(
        (a.version, a.body.as_str(), a.updated_at),
        (1, r#"{"n":1}"#, 1_000)
    );
    assert_eq!(
        write(
            "acme",
            vec![put("hook", "a", Expect::Version(1), json!({"n": 3}))]
        )
        .await,
        Ok(())
    );
    assert_eq!(
        write(
            "acme",
            vec![put("hook", "a", Expect::Version(1), json!({"n": 4}))]
        )
        .await,
        Err(conflict("hook", "a")),
        "a stale version is refused"
    );
    let a = s.document("acme", "hook", "a").await.unwrap().unwrap();
    assert_eq!((a.version, a.body.as_str()), (2, r#"{"n":3}"#));

    // One failed expectation: none of the set is written, not even the writes before it.
    assert_eq!(
        write(
            "acme",
            vec![
                put("hook", "b", Expect::Absent, json!({})),
                put("hook", "a", Expect::Version(2), json!({"n": 5})),
                put("hook", "c", Expect::Version(7), json!({})),
            ]
        )
        .await,
        Err(conflict("hook", "c"))
    );
    assert_eq!(s.document("acme", "hook", "b").await.unwrap(), None);
    assert_eq!(
        s.document("acme", "hook", "a")
            .await
            .unwrap()
            .unwrap()
            .version,
        2
    );

    // Anything: created, then replaced whatever the version.
    for n in 0..2 {
        assert_eq!(
            write(
                "acme",
                vec![put("hook", "z", Expect::Anything, json!({"n": n}))]
            )
            .await,
            Ok(())
        );
    }
    assert_eq!(
        s.document("acme", "hook", "z")
            .await
            .unwrap()
            .unwrap()
            .version,
        2
    );

    // A log under prefixes: ranges in order, reversed, bounded, and deleted.
    let log: Vec<DocumentWrite> = (0..6)
        .flat_map(|i| {
            [
                put("log", &format!("w1/{i:04}"), Expect::Absent, json!(i)),
                put("log", &format!("w10/{i:04}"), Expect::Absent, json!(i)),
            ]
        })
        .collect();
    assert_eq!(write("acme", log).await, Ok(()));
    assert_eq!(
        ids(s, "acme", "log", DocumentRange::prefixed("w1/")).await,
        [
            "w1/0000", "w1/0001", "w1/0002", "w1/0003", "w1/0004", "w1/0005"
        ]
    );
    let newest_first = DocumentRange {
        start: Bound::Included("w1/".into()),
        end: Bound::Excluded("w1/0004".into()),
        reverse: true,
    };
    assert_eq!(
        ids(s, "acme", "log", newest_first).await,
        ["w1/0003", "w1/0002", "w1/0001", "w1/0000"]
    );
    let after = DocumentRange {
        start: Bound::Excluded("w1/0003".into()),
        end: Bound::Included("w1/0005".into()),
        reverse: false,
    };
    assert_eq!(ids(s, "acme", "log", after).await, ["w1/0004", "w1/0005"]);
    assert_eq!(
        s.documents("acme", "log", DocumentRange::all(), 3)
            .await
            .unwrap()
            .len(),
        3,
        "the limit holds"
    );
    let prune = DocumentWrite::DeleteRange {
        kind: "log".into(),
        from: "w1/".into(),
        to: "w1/0004".into(),
    };
    assert_eq!(write("acme", vec![prune]).await, Ok(()));
    assert_eq!(
        ids(s, "acme", "log", DocumentRange::prefixed("w1/")).await,
        ["w1/0004", "w1/0005"]
    );
    assert_eq!(
        ids(s, "acme", "log", DocumentRange::prefixed("w10/"))
            .await
            .len(),
        6
    );

    // Deletes: at a version, or whatever it is.
    assert_eq!(
        write(
            "acme",
            vec![DocumentWrite::delete("hook", "a", Expect::Version(1))]
        )
        .await,
        Err(conflict("hook", "a"))
    );
    assert_eq!(
        write(
            "acme",
            vec![DocumentWrite::delete("hook", "a", Expect::Version(2))]
        )
        .await,
        Ok(())
    );
    assert_eq!(
        write(
            "acme",
            vec![DocumentWrite::delete("hook", "gone", Expect::Anything)]
        )
        .await,
        Ok(())
    );
    assert_eq!(s.document("acme", "hook", "a").await.unwrap(), None);

    // Tenants apart; the service's own documents are no tenant's.
    assert_eq!(
        write(
            "beta",
            vec![put("hook", "z", Expect::Absent, json!({"beta": true}))]
        )
        .await,
        Ok(())
    );
    assert_eq!(
        s.document("beta", "hook", "z")
            .await
            .unwrap()
            .unwrap()
            .version,
        1
    );
    assert_eq!(
        s.document("acme", "hook", "z")
            .await
            .unwrap()
            .unwrap()
            .version,
        2
    );
    assert_eq!(
        ids(s, "beta", "log", DocumentRange::all()).await,
        Vec::<String>::new()
    );
    assert_eq!(
        write(SERVICE, vec![put("lease", "p0", Expect::Absent, json!({}))]).await,
        Ok(())
    );
    assert_eq!(s.document("acme", "lease", "p0").await.unwrap(), None);
    assert_eq!(s.document_tenants("hook").await.unwrap(), ["acme", "beta"]);
    assert_eq!(s.document_tenants("lease").await.unwrap(), [SERVICE]);
    assert_eq!(
        s.document_tenants("nothing").await.unwrap(),
        Vec::<String>::new()
    );
    assert!(
        s.write_documents(SERVICE, vec![], vec![key_audit("acme", "x.y", "1")], 1)
            .await
            .is_err(),
        "the service's documents have no trail"
    );
}

/// A set with audit events is stored with them: both, or on a conflict neither.
pub async fn audited_document_writes_store_their_events_or_nothing(store: Arc<dyn Store>) {
    let created = vec![
        key_audit("acme", "webhook.created", "w1"),
        key_audit("acme", "webhook.secret_rotated", "w1"),
    ];
    let writes = vec![put(
        "hook",
        "w1",
        Expect::Absent,
        json!({"url": "https://example.com"}),
    )];
    assert_eq!(
        store
            .write_documents("acme", writes.clone(), created, 5)
            .await
            .unwrap(),
        Ok(())
    );
    let refused = vec![key_audit("acme", "webhook.created", "again")];
    assert_eq!(
        store
            .write_documents("acme", writes, refused, 6)
            .await
            .unwrap(),
        Err(conflict("hook", "w1"))
    );
    let pair = |action: &str, id: &str| (action.to_owned(), id.to_owned());
    assert_eq!(
        trail(&*store, "acme").await,
        [
            pair("webhook.created", "w1"),
            pair("webhook.secret_rotated", "w1")
        ],
        "the refused set left no event"
    );
    assert_eq!(store.tree_size("acme").await.unwrap(), 2);
    assert_eq!(store.tree_size("beta").await.unwrap(), 0);
    assert!(store.tenants().await.unwrap().contains(&"acme".to_owned()));
    assert!(!store.tenants().await.unwrap().contains(&"beta".to_owned()));
}

/// Writers racing on one document at the version each read: exactly one wins each version.
pub async fn concurrent_writers_of_one_document_never_both_win(store: Arc<dyn Store>) {
    store
        .write_documents(
            "acme",
            vec![put("cursor", "c", Expect::Absent, json!(0))],
            vec![],
            0,
        )
        .await
        .unwrap()
        .unwrap();
    let mut tasks = Vec::new();
    for writer in 0..8 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let mut won = 0u64;
            for _ in 0..20 {
                let seen = store
                    .document("acme", "cursor", "c")
                    .await
                    .unwrap()
                    .unwrap();
                let next = put("cursor", "c", Expect::Version(seen.version), json!(writer));
                // Half the writers also audit their write: both paths race each other.
                let audit = if writer % 2 == 0 {
                    vec![]
                } else {
                    vec![key_audit("acme", "cursor.moved", "c")]
                };
                if store
                    .write_documents("acme", vec![next], audit, 1)
                    .await
                    .unwrap()
                    .is_ok()
                {
                    won += 1;
                }
            }
            won
        }));
    }
    let mut wins = 0;
    for task in tasks {
        wins += task.await.unwrap();
    }
    let end = store
        .document("acme", "cursor", "c")
        .await
        .unwrap()
        .unwrap();
    assert!(wins >= 20, "some writes win ({wins})");
    assert_eq!(end.version, 1 + wins, "every version was won exactly once");
}

/// Leases: one holder at a time, renewed by it, taken over once they run out, given up on
/// release; racing nodes never both take one.
pub async fn leases_have_one_holder_and_are_taken_over_when_they_run_out(store: Arc<dyn Store>) {
    let s = &*store;
    assert!(
        lease::acquire(s, "webhooks/3", "node-a", 1_000, 500)
            .await
            .unwrap()
    );
    assert!(
        !lease::acquire(s, "webhooks/3", "node-b", 1_200, 500)
            .await
            .unwrap()
    );
    assert!(
        lease::acquire(s, "webhooks/3", "node-a", 1_400, 500)
            .await
            .unwrap(),
        "renewed"
    );
    assert!(
        !lease::acquire(s, "webhooks/3", "node-b", 1_800, 500)
            .await
            .unwrap()
    );
    assert!(
        lease::acquire(s, "webhooks/3", "node-b", 1_901, 500)
            .await
            .unwrap(),
        "ran out"
    );
    assert!(
        !lease::acquire(s, "webhooks/3", "node-a", 1_950, 500)
            .await
            .unwrap()
    );
    lease::release(s, "webhooks/3", "node-a", 1_960)
        .await
        .unwrap();
    assert!(
        !lease::acquire(s, "webhooks/3", "node-a", 1_970, 500)
            .await
            .unwrap(),
        "not a's to give"
    );
    lease::release(s, "webhooks/3", "node-b", 1_980)
        .await
        .unwrap();
    assert!(
        lease::acquire(s, "webhooks/3", "node-a", 1_990, 500)
            .await
            .unwrap(),
        "given up"
    );

    let mut racers = Vec::new();
    for node in 0..6 {
        let store = store.clone();
        racers.push(tokio::spawn(async move {
            lease::acquire(
                &*store,
                "detection/0",
                &format!("node-{node}"),
                5_000,
                1_000,
            )
            .await
            .unwrap()
        }));
    }
    let mut holders = 0;
    for racer in racers {
        holders += usize::from(racer.await.unwrap());
    }
    assert_eq!(holders, 1, "exactly one racer holds the lease");
    assert_eq!(lease::partition("acme", 16), lease::partition("acme", 16));
    assert!(lease::partition("acme", 16) < 16);
}
