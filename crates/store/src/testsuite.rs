//! The conformance suite: the storage contract as executable checks, run by every engine.
//!
//! An engine's tests instantiate it with [`conformance_suite!`](crate::conformance_suite), giving
//! an async factory that returns a fresh, empty store (and whatever must live as long as it),
//! and an async restart that closes a store and opens it again over the same data, given that
//! guard:
//!
//! ```text
//! trailkeep_store::conformance_suite!(
//!     || async {
//!         let dir = tempfile::tempdir().unwrap();
//!         let store = EmbeddedStore::open(dir.path(), Options::default()).unwrap();
//!         (std::sync::Arc::new(store) as std::sync::Arc<dyn Store>, Box::new(dir) as _)
//!     },
//!     |store, guard| async { /* drop store, open again over guard's directory */ }
//! );
//! ```

pub mod cases;
mod documents;
mod redaction;

pub use documents::{
    audited_document_writes_store_their_events_or_nothing,
    concurrent_writers_of_one_document_never_both_win,
    documents_keep_their_expectations_and_sets_are_all_or_none,
    leases_have_one_holder_and_are_taken_over_when_they_run_out,
};
pub use redaction::{
    a_tombstone_removed_from_again_keeps_its_history, altered_tombstones_are_found,
    expired_idempotency_keys_are_swept, removed_fields_are_not_found,
    stale_or_misplaced_tombstones_are_refused_whole,
    tombstones_keep_every_proof_and_are_vouched_for_by_their_record,
};

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::Arc;

use serde_json::json;
use trailkeep_event::{Filter, Order, Query, Timestamp, prepare};
use trailkeep_ledger::{Checkpoint, NoteVerifier, leaf_hash, verify_consistency, verify_inclusion};

use crate::{
    ApiKeyRecord, AppendRequest, EventStore, GroupBy, IdempotencyKey, JobError, JobRecord,
    JobRefusal, JobState, MAX_GROUP_VALUES, NewJob, Stats, Store, StoreError, StoredEvent,
};

/// What a factory hands the suite: the store, and a guard kept alive as long as it.
pub type Fixture = (Arc<dyn Store>, Box<dyn std::any::Any + Send>);

/// Instantiates every conformance test for an engine, given an async factory of fresh stores.
#[macro_export]
macro_rules! conformance_suite {
    ($factory:expr, $restart:expr) => {
        $crate::conformance_suite!(@tests $factory;
            seqs_are_dense_and_independent_per_tenant,
            appended_events_are_readable_at_once,
            canonical_scans_are_the_scans_stored_bytes,
            client_ids_make_writes_idempotent,
            batches_are_all_or_nothing,
            idempotency_keys_replay_or_conflict,
            queries_filter_order_and_page,
            queries_and_statistics_agree_with_filter_matches,
            checkpoints_sign_the_newest_root,
            inclusion_proofs_verify_for_every_leaf,
            consistency_proofs_link_checkpoints,
            proofs_outside_the_tree_are_refused,
            tenants_never_see_each_other,
            concurrent_appends_stay_dense,
            commit_watches_are_per_tenant,
            key_changes_and_their_audit_events_are_one_unit_per_tenant,
            jobs_are_claimed_by_one_worker_at_a_time,
            an_expired_lease_is_claimed_again_and_its_old_worker_refused,
            failed_attempts_are_retried_after_the_backoff_then_fail_for_good,
            cancelled_jobs_stop_and_stay_within_their_tenant,
            jobs_are_listed_newest_first_within_their_tenant,
            documents_keep_their_expectations_and_sets_are_all_or_none,
            audited_document_writes_store_their_events_or_nothing,
            concurrent_writers_of_one_document_never_both_win,
            leases_have_one_holder_and_are_taken_over_when_they_run_out,
            tombstones_keep_every_proof_and_are_vouched_for_by_their_record,
            altered_tombstones_are_found,
            stale_or_misplaced_tombstones_are_refused_whole,
            a_tombstone_removed_from_again_keeps_its_history,
            removed_fields_are_not_found,
            expired_idempotency_keys_are_swept
        );
        $crate::conformance_suite!(@restart $factory, $restart; jobs_survive_a_restart);
    };
    (@restart $factory:expr, $restart:expr; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let (store, guard): $crate::testsuite::Fixture = ($factory)().await;
                $crate::testsuite::$name(store, |store| ($restart)(store, &*guard)).await;
            }
        )*
    };
    (@tests $factory:expr; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let (store, _guard): $crate::testsuite::Fixture = ($factory)().await;
                $crate::testsuite::$name(store).await;
            }
        )*
    };
}

fn now() -> Timestamp {
    Timestamp::now()
}

fn batch(tenant: &str, events: Vec<serde_json::Value>) -> AppendRequest {
    AppendRequest {
        events: events
            .iter()
            .map(|raw| prepare(raw, tenant, now()).expect("test event is valid"))
            .collect(),
        idempotency_key: None,
    }
}

async fn append_n(store: &dyn EventStore, tenant: &str, n: usize, action: &str) {
    let events = (0..n)
        .map(|i| json!({"action": action, "metadata": {"i": i}}))
        .collect();
    store
        .append(tenant, batch(tenant, events))
        .await
        .expect("append");
}

/// Seqs start at 0, are dense, and each tenant counts on its own.
pub async fn seqs_are_dense_and_independent_per_tenant(store: Arc<dyn EventStore>) {
    let a = store
        .append(
            "alpha",
            batch("alpha", vec![json!({"action": "a.created"}); 3]),
        )
        .await
        .unwrap();
    let b = store
        .append(
            "beta",
            batch("beta", vec![json!({"action": "b.created"}); 2]),
        )
        .await
        .unwrap();
    let a2 = store
        .append(
            "alpha",
            batch("alpha", vec![json!({"action": "a.updated"})]),
        )
        .await
        .unwrap();
    let seqs = |o: &crate::AppendOutcome| o.events.iter().map(|e| e.event.seq).collect::<Vec<_>>();
    assert_eq!(seqs(&a), [0, 1, 2]);
    assert_eq!(seqs(&b), [0, 1]);
    assert_eq!(seqs(&a2), [3]);
    assert_eq!(a.stored, 3);
    assert_eq!(store.tree_size("alpha").await.unwrap(), 4);
    assert_eq!(store.tree_size("beta").await.unwrap(), 2);
    assert_eq!(store.tree_size("nobody").await.unwrap(), 0);
    for e in a.events.iter().chain(&b.events) {
        assert_eq!(e.leaf_hash, leaf_hash(&e.canonical));
        assert_eq!(e.canonical, e.event.canonical_bytes().unwrap());
    }
}

/// An acknowledged event is readable by id and by seq immediately, byte for byte.
pub async fn appended_events_are_readable_at_once(store: Arc<dyn EventStore>) {
    let out = store
        .append(
            "acme",
            batch(
                "acme",
                vec![json!({"action": "contract.created", "actor": {"id": "u1"},
                            "metadata": {"amount": "500000.00"}})],
            ),
        )
        .await
        .unwrap();
    let stored = &out.events[0];
    let by_id = store.get("acme", &stored.event.id).await.unwrap().unwrap();
    assert_eq!(&by_id, stored);
    let by_seq = store.get_by_seq("acme", 0).await.unwrap().unwrap();
    assert_eq!(&by_seq, stored);
    assert!(store.get("acme", "no-such-id").await.unwrap().is_none());
    assert!(store.get_by_seq("acme", 1).await.unwrap().is_none());
}

/// An unparsed scan answers exactly what a scan does (seq, occurred_at, the stored bytes, the
/// leaf hash), from the same seq, as many, within the tenant, never past the committed end.
pub async fn canonical_scans_are_the_scans_stored_bytes(store: Arc<dyn EventStore>) {
    append_n(&*store, "acme", 7, "doc.read").await;
    append_n(&*store, "beta", 3, "doc.read").await;
    store
        .append(
            "acme",
            batch(
                "acme",
                vec![
                    json!({"action": "doc.updated", "occurred_at": "2024-02-29T12:00:00.5Z",
                            "description": "naïve \"quoted\" text"}),
                ],
            ),
        )
        .await
        .unwrap();
    for (tenant, from, max) in [
        ("acme", 0, 100),
        ("acme", 2, 3),
        ("acme", 7, 5),
        ("beta", 1, 10),
    ] {
        let parsed = store.scan(tenant, from, max).await.unwrap();
        let raw = store.scan_canonical(tenant, from, max).await.unwrap();
        assert_eq!(raw.len(), parsed.len(), "{tenant} {from} {max}");
        for (raw, parsed) in raw.iter().zip(&parsed) {
            assert_eq!(raw.seq, parsed.event.seq);
            assert_eq!(raw.occurred_at, parsed.event.occurred_at);
            assert_eq!(raw.canonical, parsed.canonical);
            assert_eq!(raw.leaf_hash, parsed.leaf_hash);
            assert_eq!(raw.leaf_hash, leaf_hash(&raw.canonical));
        }
    }
    assert_eq!(store.scan_canonical("acme", 2, 3).await.unwrap()[0].seq, 2);
    assert!(
        store
            .scan_canonical("acme", 8, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .scan_canonical("nobody", 0, 10)
            .await
            .unwrap()
            .is_empty()
    );
}

/// A client id makes a retry harmless, and a reused id with other content is refused.
pub async fn client_ids_make_writes_idempotent(store: Arc<dyn EventStore>) {
    let raw = json!({"id": "evt-1", "action": "user.login", "actor": {"id": "u1"}});
    let first = store
        .append("acme", batch("acme", vec![raw.clone()]))
        .await
        .unwrap();
    let again = store
        .append(
            "acme",
            batch("acme", vec![raw, json!({"action": "user.logout"})]),
        )
        .await
        .unwrap();
    assert_eq!(again.events[0], first.events[0]);
    assert_eq!(again.stored, 1);
    assert_eq!(again.events[1].event.seq, 1);

    let other = json!({"id": "evt-1", "action": "user.login", "actor": {"id": "u2"}});
    let err = store
        .append(
            "acme",
            batch("acme", vec![json!({"action": "x.created"}), other]),
        )
        .await
        .unwrap_err();
    assert_eq!(
        err,
        StoreError::DuplicateId {
            index: 1,
            id: "evt-1".into()
        }
    );
    assert_eq!(
        store.tree_size("acme").await.unwrap(),
        2,
        "nothing of the refused batch stored"
    );

    // The same id in another tenant is another event.
    let elsewhere = json!({"id": "evt-1", "action": "user.login", "actor": {"id": "u2"}});
    let out = store
        .append("other", batch("other", vec![elsewhere]))
        .await
        .unwrap();
    assert_eq!(out.events[0].event.seq, 0);
}

/// A batch that fails stores nothing, and later batches are unaffected.
pub async fn batches_are_all_or_nothing(store: Arc<dyn EventStore>) {
    store
        .append(
            "acme",
            batch("acme", vec![json!({"id": "k1", "action": "a"})]),
        )
        .await
        .unwrap();
    let bad = batch(
        "acme",
        vec![
            json!({"action": "fine.1"}),
            json!({"action": "fine.2"}),
            json!({"id": "k1", "action": "b"}),
        ],
    );
    assert!(store.append("acme", bad).await.is_err());
    assert_eq!(store.tree_size("acme").await.unwrap(), 1);
    let page = store
        .query("acme", &query(Filter::default(), Order::Asc, 100))
        .await
        .unwrap();
    assert_eq!(page.events.len(), 1);
    let out = store
        .append("acme", batch("acme", vec![json!({"action": "after"})]))
        .await
        .unwrap();
    assert_eq!(out.events[0].event.seq, 1);
}

/// The same idempotency key and request replays the first answer; another request conflicts.
pub async fn idempotency_keys_replay_or_conflict(store: Arc<dyn EventStore>) {
    let key = |hash: u8| {
        Some(IdempotencyKey {
            key: "req-1".into(),
            request_hash: [hash; 32],
        })
    };
    let mut request = batch("acme", vec![json!({"action": "a"}), json!({"action": "b"})]);
    request.idempotency_key = key(1);
    let first = store.append("acme", request.clone()).await.unwrap();
    assert!(!first.replayed);
    // A retry re-validates, so ULIDs and received_at differ; the stored answer must win.
    let mut retry = batch("acme", vec![json!({"action": "a"}), json!({"action": "b"})]);
    retry.idempotency_key = key(1);
    let replay = store.append("acme", retry).await.unwrap();
    assert!(replay.replayed);
    assert_eq!(replay.stored, 0);
    assert_eq!(replay.events, first.events);
    assert_eq!(store.tree_size("acme").await.unwrap(), 2);
    // The same answers without an append: what the server asks before parsing a retry's body.
    let looked_up = store
        .replay("acme", key(1).as_ref().unwrap())
        .await
        .unwrap()
        .expect("a used key replays");
    assert!(looked_up.replayed);
    assert_eq!(looked_up.events, first.events);
    assert_eq!(
        store
            .replay("acme", key(2).as_ref().unwrap())
            .await
            .unwrap_err(),
        StoreError::IdempotencyConflict
    );
    let unused = IdempotencyKey {
        key: "req-2".into(),
        request_hash: [1; 32],
    };
    assert!(store.replay("acme", &unused).await.unwrap().is_none());
    assert!(
        store
            .replay("other", key(1).as_ref().unwrap())
            .await
            .unwrap()
            .is_none()
    );

    let mut conflicting = batch("acme", vec![json!({"action": "c"})]);
    conflicting.idempotency_key = key(2);
    assert_eq!(
        store.append("acme", conflicting).await.unwrap_err(),
        StoreError::IdempotencyConflict
    );
    // Keys are per tenant.
    let mut elsewhere = batch("other", vec![json!({"action": "c"})]);
    elsewhere.idempotency_key = key(2);
    assert!(!store.append("other", elsewhere).await.unwrap().replayed);
}

fn query(filter: Filter, order: Order, limit: u32) -> Query {
    Query::first_page(filter, order, limit)
}

/// Filters select, order is by (occurred_at, seq), and cursors walk every match exactly once.
pub async fn queries_filter_order_and_page(store: Arc<dyn EventStore>) {
    let mut events = Vec::new();
    for i in 0..25 {
        let action = if i % 2 == 0 {
            "contract.created"
        } else {
            "user.login"
        };
        events.push(json!({
            "action": action,
            // Out of arrival order on purpose; two events share each instant.
            "occurred_at": format!("2025-01-{:02}T10:00:00Z", 25 - i / 2),
            "actor": {"id": format!("u{}", i % 3)},
            "target": {"type": "contract", "id": format!("c{}", i % 5)},
        }));
    }
    store.append("acme", batch("acme", events)).await.unwrap();
    append_n(&*store, "noise", 10, "contract.created").await;

    let all = collect_pages(&*store, "acme", Filter::default(), Order::Asc, 7).await;
    assert_eq!(all.len(), 25);
    let keys: Vec<_> = all.iter().map(|e| (e.occurred_at, e.seq)).collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted, "ascending by occurred_at then seq");

    let desc = collect_pages(&*store, "acme", Filter::default(), Order::Desc, 4).await;
    let mut reversed: Vec<_> = desc.iter().map(|e| (e.occurred_at, e.seq)).collect();
    reversed.reverse();
    assert_eq!(reversed, sorted, "descending is the mirror image");

    let logins = Filter {
        actions: vec!["user.*".into()],
        ..Filter::default()
    };
    let got = collect_pages(&*store, "acme", logins.clone(), Order::Desc, 5).await;
    assert_eq!(got.len(), 12);
    assert!(got.iter().all(|e| logins.matches(e)));

    let narrow = Filter {
        actor_id: Some("u1".into()),
        target_type: Some("contract".into()),
        target_id: Some("c1".into()),
        ..Filter::default()
    };
    let got = collect_pages(&*store, "acme", narrow.clone(), Order::Asc, 50).await;
    let want = all.iter().filter(|e| narrow.matches(e)).count();
    assert!(want > 0);
    assert_eq!(got.len(), want);

    let window = Filter {
        since: Some(Timestamp::parse("2025-01-20T00:00:00Z").unwrap()),
        until: Some(Timestamp::parse("2025-01-22T10:00:00Z").unwrap()),
        ..Filter::default()
    };
    let got = collect_pages(&*store, "acme", window, Order::Asc, 50).await;
    assert_eq!(
        got.len(),
        4,
        "days 20 and 21, two events each; until is exclusive"
    );
}

async fn collect_pages(
    store: &dyn EventStore,
    tenant: &str,
    filter: Filter,
    order: Order,
    limit: u32,
) -> Vec<trailkeep_event::Event> {
    let mut out = Vec::new();
    let mut q = query(filter, order, limit);
    for _ in 0..100 {
        let page = store.query(tenant, &q).await.unwrap();
        assert!(page.events.len() <= limit as usize);
        // The same page as stored bytes: the same events, bytes and cursor.
        let canonical = store.query_canonical(tenant, &q).await.unwrap();
        let bytes: Vec<_> = page.events.iter().map(|e| &e.canonical).collect();
        assert_eq!(
            canonical
                .events
                .iter()
                .map(|e| &e.canonical)
                .collect::<Vec<_>>(),
            bytes
        );
        assert!(
            canonical
                .events
                .iter()
                .zip(&page.events)
                .all(|(c, e)| c.seq == e.event.seq
                    && c.occurred_at == e.event.occurred_at
                    && c.leaf_hash == e.leaf_hash)
        );
        assert_eq!((canonical.next, canonical.total), (page.next, page.total));
        out.extend(page.events.into_iter().map(|e| e.event));
        match page.next {
            Some(next) => q.after = Some(next),
            None => return out,
        }
    }
    panic!("paging did not end");
}

/// Listings (each order, with totals, paged by cursor two at a time) and statistics answer
/// exactly what `Filter::matches` says, on 1,000 random event sets and filters
/// ([`cases`]; `TRAILKEEP_TEST_SEED` reproduces a failure).
pub async fn queries_and_statistics_agree_with_filter_matches(store: Arc<dyn EventStore>) {
    const CASES: usize = 1000;
    let seed = cases::seed();
    let mut rng = cases::Rng(seed);
    let raw_sets: Vec<Vec<serde_json::Value>> = (0..CASES)
        .map(|_| {
            (0..1 + rng.below(30))
                .map(|_| cases::random_raw_event(&mut rng))
                .collect()
        })
        .collect();
    // Appended a few tenants at a time, as many clients would.
    let mut sets: Vec<Vec<StoredEvent>> = Vec::with_capacity(CASES);
    for chunk in raw_sets.chunks(16).enumerate() {
        let (first, chunk) = chunk;
        let mut tasks = Vec::new();
        for (i, raws) in chunk.iter().enumerate() {
            let tenant = format!("case-{}", first * 16 + i);
            let request = batch(&tenant, raws.clone());
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                store.append(&tenant, request).await.expect("append")
            }));
        }
        for task in tasks {
            sets.push(task.await.expect("append task").events);
        }
    }

    let mut non_empty = 0;
    for (case, events) in sets.iter().enumerate() {
        let tenant = format!("case-{case}");
        let filter = cases::random_filter(&mut rng);
        let order = if rng.chance(50) {
            Order::Asc
        } else {
            Order::Desc
        };
        let mut matching: Vec<&StoredEvent> =
            events.iter().filter(|e| filter.matches(&e.event)).collect();
        matching.sort_by_key(|e| (e.event.occurred_at, e.event.seq));
        if order == Order::Desc {
            matching.reverse();
        }
        let want: Vec<u64> = matching.iter().map(|e| e.event.seq).collect();
        non_empty += usize::from(!want.is_empty());
        let context = format!("case {case} (seed {seed}): {filter:?}, {order:?}");

        let mut whole = query(filter.clone(), order, 1000);
        whole.count_total = true;
        let page = store.query(&tenant, &whole).await.expect("query");
        let got: Vec<u64> = page.events.iter().map(|e| e.event.seq).collect();
        assert_eq!(got, want, "{context}");
        assert_eq!(page.total, Some(want.len() as u64), "total, {context}");
        assert!(
            page.next.is_none(),
            "a page holding every match has no next, {context}"
        );

        let paged: Vec<u64> = collect_pages(&*store, &tenant, filter.clone(), order, 2)
            .await
            .iter()
            .map(|e| e.seq)
            .collect();
        assert_eq!(paged, want, "paged two at a time, {context}");

        if case % 3 == 0 {
            let stats = store
                .stats(&tenant, &filter, &GroupBy::ALL)
                .await
                .expect("stats");
            assert_eq!(stats, expected_stats(&matching), "statistics, {context}");
        }
    }
    assert!(
        non_empty > CASES / 3,
        "too few cases matched anything ({non_empty}); the generators are off"
    );
}

/// The statistics of `events`, computed from the events themselves.
fn expected_stats(events: &[&StoredEvent]) -> Stats {
    let mut groups: BTreeMap<GroupBy, BTreeMap<String, u64>> = BTreeMap::new();
    let mut actors = BTreeSet::new();
    let mut failed_logins = 0;
    for stored in events {
        let event = &stored.event;
        let actor = event.actor.as_ref().and_then(|a| a.id.clone());
        let target_type = event.target.as_ref().and_then(|t| t.kind.clone());
        let micros = event.occurred_at.as_micros();
        let day_start = micros.div_euclid(86_400_000_000) * 86_400_000_000;
        let day = Timestamp::from_micros(day_start)
            .expect("a day within range")
            .to_string()[..10]
            .to_owned();
        let hour_start = micros.div_euclid(3_600_000_000) * 3_600_000_000;
        let hour = format!(
            "{}:00:00Z",
            &Timestamp::from_micros(hour_start)
                .expect("an hour within range")
                .to_string()[..13]
        );
        let minute_start = micros.div_euclid(60_000_000) * 60_000_000;
        let minute = format!(
            "{}:00Z",
            &Timestamp::from_micros(minute_start)
                .expect("a minute within range")
                .to_string()[..16]
        );
        if event.category == trailkeep_event::Category::Login
            && event.outcome == trailkeep_event::Outcome::Failure
        {
            failed_logins += 1;
        }
        actors.extend(actor.clone());
        for (group, value) in [
            (GroupBy::Action, Some(event.action.clone())),
            (GroupBy::Category, Some(event.category.as_str().to_owned())),
            (GroupBy::TargetType, target_type),
            (GroupBy::Outcome, Some(event.outcome.as_str().to_owned())),
            (GroupBy::Actor, actor),
            (GroupBy::Day, Some(day)),
            (GroupBy::Hour, Some(hour)),
            (GroupBy::Minute, Some(minute)),
        ] {
            let counts = groups.entry(group).or_default();
            if let Some(value) = value {
                *counts.entry(value).or_default() += 1;
            }
        }
    }
    let mut truncated = BTreeSet::new();
    let groups = GroupBy::ALL
        .into_iter()
        .map(|group| {
            let mut counts: Vec<(String, u64)> = groups
                .remove(&group)
                .unwrap_or_default()
                .into_iter()
                .collect();
            counts.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
            if counts.len() > MAX_GROUP_VALUES {
                counts.truncate(MAX_GROUP_VALUES);
                truncated.insert(group);
            }
            (group, counts)
        })
        .collect();
    Stats {
        total: events.len() as u64,
        unique_actors: actors.len() as u64,
        failed_logins,
        groups,
        truncated,
    }
}

/// A checkpoint covering every acknowledged event comes (within the signing interval), is
/// signed by the store's key, and its root is the Merkle root of the events' canonical bytes;
/// the newest checkpoint is at hand at once and never beyond the tree.
pub async fn checkpoints_sign_the_newest_root(store: Arc<dyn EventStore>) {
    assert!(store.checkpoint("acme").await.unwrap().is_none());
    let verifier = NoteVerifier::from_vkey(&store.vkey()).expect("vkey parses");
    let mut tree = trailkeep_ledger::MemoryTree::new();
    for round in 0..3 {
        append_n(&*store, "acme", 5 + round * 100, "a.created").await;
        let size = store.tree_size("acme").await.unwrap();
        let newest = store.checkpoint("acme").await.unwrap().unwrap();
        assert!(newest.size <= size);
        let checkpoint = store.checkpoint_covering("acme", size).await.unwrap();
        assert_eq!(checkpoint.size, size);
        let opened = Checkpoint::open(&checkpoint.note, &verifier).expect("signature verifies");
        assert_eq!(opened.size, size);
        assert_eq!(opened.root, checkpoint.root);
        assert!(opened.origin.ends_with("/acme"), "{}", opened.origin);
        while tree.len() < size {
            let e = store.get_by_seq("acme", tree.len()).await.unwrap().unwrap();
            tree.push(leaf_hash(&e.canonical));
        }
        assert_eq!(tree.root(), checkpoint.root);
    }
    // Other notes (export manifests) are signed with the same key.
    let note = store.sign_note("trailkeep/manifest\n{\"a\":1}\n").unwrap();
    assert_eq!(
        verifier.verify(&note).expect("the ledger's vkey checks it"),
        "trailkeep/manifest\n{\"a\":1}\n"
    );
}

/// Every leaf's inclusion proof verifies against the root of every tree size that contains it.
pub async fn inclusion_proofs_verify_for_every_leaf(store: Arc<dyn EventStore>) {
    append_n(&*store, "acme", 300, "a.created").await;
    append_n(&*store, "acme", 300, "a.updated").await;
    let size = store.tree_size("acme").await.unwrap();
    let mut tree = trailkeep_ledger::MemoryTree::new();
    for seq in 0..size {
        let e = store.get_by_seq("acme", seq).await.unwrap().unwrap();
        tree.push(e.leaf_hash);
    }
    for tree_size in [1, 2, 255, 256, 257, 511, 512, 513, 599, 600] {
        let root = tree_root(&tree, tree_size);
        for seq in (0..tree_size).step_by(7).chain([tree_size - 1]) {
            let proof = store.inclusion_proof("acme", seq, tree_size).await.unwrap();
            assert_eq!(proof.seq, seq);
            assert_eq!(proof.tree_size, tree_size);
            assert_eq!(proof.hashes, tree.inclusion_proof(seq, tree_size).unwrap());
            verify_inclusion(&proof.leaf_hash, seq, tree_size, &proof.hashes, &root)
                .unwrap_or_else(|e| panic!("seq {seq} size {tree_size}: {e}"));
        }
    }
}

fn tree_root(tree: &trailkeep_ledger::MemoryTree, size: u64) -> trailkeep_ledger::Hash {
    match trailkeep_ledger::root(&mut tree.clone(), size) {
        Ok(root) => root,
        Err(never) => match never {},
    }
}

/// Consistency proofs link any two tree sizes, including across checkpoints.
pub async fn consistency_proofs_link_checkpoints(store: Arc<dyn EventStore>) {
    let mut checkpoints = Vec::new();
    for n in [1, 2, 5, 250, 10, 300] {
        append_n(&*store, "acme", n, "a.created").await;
        let size = store.tree_size("acme").await.unwrap();
        checkpoints.push(store.checkpoint_covering("acme", size).await.unwrap());
    }
    for (i, a) in checkpoints.iter().enumerate() {
        for b in &checkpoints[i..] {
            let proof = store
                .consistency_proof("acme", a.size, b.size)
                .await
                .unwrap();
            verify_consistency(a.size, b.size, &proof, &a.root, &b.root)
                .unwrap_or_else(|e| panic!("{} -> {}: {e}", a.size, b.size));
        }
    }
}

/// Proofs beyond the tree, and a consistency proof from size 0, are refused.
pub async fn proofs_outside_the_tree_are_refused(store: Arc<dyn EventStore>) {
    append_n(&*store, "acme", 10, "a.created").await;
    fn out_of_range<T>(r: Result<T, StoreError>) -> bool {
        matches!(r, Err(StoreError::OutOfRange(_)))
    }
    assert!(out_of_range(store.inclusion_proof("acme", 10, 10).await));
    assert!(out_of_range(store.inclusion_proof("acme", 0, 11).await));
    assert!(out_of_range(store.inclusion_proof("acme", 0, 0).await));
    assert!(out_of_range(store.consistency_proof("acme", 0, 5).await));
    assert!(out_of_range(store.consistency_proof("acme", 6, 5).await));
    assert!(out_of_range(store.consistency_proof("acme", 5, 11).await));
    assert!(out_of_range(store.inclusion_proof("nobody", 0, 1).await));
}

/// No read of one tenant returns, counts or proves another tenant's events.
pub async fn tenants_never_see_each_other(store: Arc<dyn EventStore>) {
    let secret = store
        .append(
            "alpha",
            batch(
                "alpha",
                vec![json!({"id": "shared-id", "action": "secret.read"})],
            ),
        )
        .await
        .unwrap();
    append_n(&*store, "beta", 3, "beta.created").await;
    assert!(store.get("beta", "shared-id").await.unwrap().is_none());
    assert!(
        store
            .get("beta", &secret.events[0].event.id)
            .await
            .unwrap()
            .is_none()
    );
    let page = store
        .query("beta", &query(Filter::default(), Order::Asc, 100))
        .await
        .unwrap();
    assert_eq!(page.events.len(), 3);
    assert!(page.events.iter().all(|e| e.event.tenant == "beta"));
    let alpha = store.checkpoint_covering("alpha", 1).await.unwrap();
    let beta = store.checkpoint_covering("beta", 3).await.unwrap();
    assert_eq!((alpha.size, beta.size), (1, 3));
    assert_ne!(alpha.root, beta.root);
    assert!(matches!(
        store.checkpoint_covering("beta", 4).await,
        Err(StoreError::OutOfRange(_))
    ));
    assert!(store.checkpoint("nobody").await.unwrap().is_none());
}

/// A tenant's commit watch wakes for its own commits only, even before its first event.
pub async fn commit_watches_are_per_tenant(store: Arc<dyn EventStore>) {
    let mut acme = store.commits("acme");
    let mut beta = store.commits("beta");
    append_n(&*store, "beta", 2, "b.created").await;
    tokio::time::timeout(std::time::Duration::from_secs(10), beta.changed())
        .await
        .expect("beta's watch wakes")
        .unwrap();
    assert!(
        !acme.has_changed().unwrap(),
        "another tenant's commit does not wake acme"
    );
    append_n(&*store, "acme", 1, "a.created").await;
    tokio::time::timeout(std::time::Duration::from_secs(10), acme.changed())
        .await
        .expect("acme's watch wakes")
        .unwrap();
}

/// Many concurrent writers: every acknowledged event gets a distinct seq, with no gaps.
pub async fn concurrent_appends_stay_dense(store: Arc<dyn EventStore>) {
    let mut tasks = Vec::new();
    for writer in 0..16 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let mut seqs = Vec::new();
            for round in 0..10 {
                let events = (0..1 + (writer + round) % 4)
                    .map(|i| json!({"action": "c.created", "metadata": {"w": writer, "r": round, "i": i}}))
                    .collect();
                let out = store.append("acme", batch("acme", events)).await.unwrap();
                seqs.extend(out.events.iter().map(|e| e.event.seq));
            }
            seqs
        }));
    }
    let mut all = HashSet::new();
    for task in tasks {
        for seq in task.await.unwrap() {
            assert!(all.insert(seq), "seq {seq} handed out twice");
        }
    }
    let size = store.tree_size("acme").await.unwrap();
    assert_eq!(all.len() as u64, size);
    assert!((0..size).all(|s| all.contains(&s)), "seqs are dense");
}

fn api_key(id: &str, tenant: &str) -> ApiKeyRecord {
    ApiKeyRecord {
        id: id.to_owned(),
        tenant: tenant.to_owned(),
        name: format!("key {id}"),
        roles: vec!["audit:read".into(), "audit:write".into()],
        secret_hash: [id.len() as u8; 32],
        created_by: "cli".into(),
        created_at: 1_700_000_000,
        expires_at: Some(1_800_000_000),
        revoked_at: None,
    }
}

/// The event recording a change to key `id` in `tenant`'s trail.
fn key_audit(tenant: &str, action: &str, id: &str) -> trailkeep_event::PreparedEvent {
    trailkeep_event::prepare(
        &json!({"action": action, "target": {"type": "api_key", "id": id}}),
        tenant,
        trailkeep_event::Timestamp::now(),
    )
    .expect("a valid audit event")
}

/// The actions and target ids of the tenant's trail, oldest first.
async fn trail(store: &dyn Store, tenant: &str) -> Vec<(String, String)> {
    store
        .scan(tenant, 0, 1000)
        .await
        .unwrap()
        .into_iter()
        .map(|e| {
            let target = e.event.target.and_then(|t| t.id).unwrap_or_default();
            (e.event.action, target)
        })
        .collect()
}

/// API keys: stored whole, unique by id, listed and revoked only within their tenant; every
/// change is in the tenant's trail, and a refused change leaves no event behind.
pub async fn key_changes_and_their_audit_events_are_one_unit_per_tenant(store: Arc<dyn Store>) {
    let a1 = api_key("k_a1", "acme");
    let a2 = ApiKeyRecord {
        expires_at: None,
        ..api_key("k_a2", "acme")
    };
    let b1 = api_key("k_b1", "beta");
    for key in [&a1, &a2, &b1] {
        let audit = key_audit(&key.tenant, "key.created", &key.id);
        store.insert_api_key(key.clone(), audit).await.unwrap();
    }
    assert!(matches!(
        store
            .insert_api_key(
                api_key("k_a1", "beta"),
                key_audit("beta", "key.created", "k_a1")
            )
            .await,
        Err(StoreError::DuplicateId { .. })
    ));
    assert_eq!(store.api_key("k_a1").await.unwrap(), Some(a1.clone()));
    assert_eq!(store.api_key("k_b1").await.unwrap(), Some(b1.clone()));
    assert_eq!(store.api_key("missing").await.unwrap(), None);
    assert_eq!(store.api_keys("acme").await.unwrap(), vec![a1.clone(), a2]);
    assert_eq!(store.api_keys("nobody").await.unwrap(), vec![]);

    // One tenant cannot revoke another's key.
    let refused = key_audit("beta", "key.revoked", "k_a1");
    assert_eq!(
        store
            .revoke_api_key("beta", "k_a1", 5, refused)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store.api_key("k_a1").await.unwrap().unwrap().revoked_at,
        None
    );
    let revoked = store
        .revoke_api_key("acme", "k_a1", 5, key_audit("acme", "key.revoked", "k_a1"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(revoked.revoked_at, Some(5));
    let again = store
        .revoke_api_key("acme", "k_a1", 9, key_audit("acme", "key.revoked", "k_a1"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(again.revoked_at, Some(5), "the first revocation time stays");
    assert_eq!(
        store.api_key("k_a1").await.unwrap().unwrap().revoked_at,
        Some(5)
    );
    let pair = |action: &str, id: &str| (action.to_owned(), id.to_owned());
    assert_eq!(
        trail(&*store, "acme").await,
        vec![
            pair("key.created", "k_a1"),
            pair("key.created", "k_a2"),
            pair("key.revoked", "k_a1"),
        ],
        "each change once, nothing for the repeated revocation"
    );
    assert_eq!(
        trail(&*store, "beta").await,
        vec![pair("key.created", "k_b1")],
        "nothing for the refused insert or the refused revocation"
    );
}

/// A job of `kind` for `tenant`, queued at `now` (ms).
fn new_job(id: &str, tenant: &str, kind: &str, now: i64, max_attempts: u32) -> NewJob {
    NewJob {
        id: id.to_owned(),
        tenant: tenant.to_owned(),
        kind: kind.to_owned(),
        spec: json!({"n": id}).to_string(),
        max_attempts,
        run_after: now,
        created_at: now,
        created_by: "test".into(),
    }
}

/// The event recording a change to job `id` in `tenant`'s trail.
fn job_audit(tenant: &str, action: &str, id: &str) -> trailkeep_event::PreparedEvent {
    trailkeep_event::prepare(
        &json!({"action": action, "target": {"type": "job", "id": id}}),
        tenant,
        trailkeep_event::Timestamp::now(),
    )
    .expect("a valid audit event")
}

async fn enqueue(store: &dyn Store, job: NewJob) -> JobRecord {
    let audit = job_audit(&job.tenant, "job.queued", &job.id);
    store.enqueue(job, audit).await.expect("enqueue")
}

/// A time far from the real clock: the contract's times are the caller's.
const T0: i64 = 1_000_000_000_000;

/// Eight workers claiming at once share forty jobs: each job is claimed exactly once, and a
/// claim counts an attempt and sets the lease.
pub async fn jobs_are_claimed_by_one_worker_at_a_time(store: Arc<dyn Store>) {
    for i in 0..40 {
        let tenant = if i % 2 == 0 { "acme" } else { "beta" };
        let job = enqueue(
            &*store,
            new_job(&format!("job_{i:03}"), tenant, "export", T0, 3),
        )
        .await;
        assert_eq!(job.state, JobState::Queued);
        assert_eq!((job.attempts, job.worker.as_deref()), (0, None));
    }
    enqueue(&*store, new_job("job_other", "acme", "report", T0, 3)).await;
    let mut workers = Vec::new();
    for w in 0..8 {
        let store = store.clone();
        workers.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            loop {
                let worker = format!("w{w}-{}", mine.len());
                match store.claim(&["export"], &worker, T0, 60_000).await.unwrap() {
                    Some(job) => {
                        assert_eq!(job.state, JobState::Running);
                        assert_eq!(job.worker.as_deref(), Some(worker.as_str()));
                        assert_eq!(job.lease_until, Some(T0 + 60_000));
                        assert_eq!(job.attempts, 1);
                        mine.push(job.id);
                    }
                    None => return mine,
                }
            }
        }));
    }
    let mut claimed = Vec::new();
    for worker in workers {
        claimed.extend(worker.await.unwrap());
    }
    claimed.sort();
    let expected: Vec<String> = (0..40).map(|i| format!("job_{i:03}")).collect();
    assert_eq!(claimed, expected, "every export job once, no report job");
    assert_eq!(
        store
            .claim(&["export", "report"], "late", T0, 60_000)
            .await
            .unwrap()
            .map(|j| j.id),
        Some("job_other".to_owned())
    );
    // Not before its time.
    enqueue(
        &*store,
        new_job("job_later", "acme", "export", T0 + 5_000, 3),
    )
    .await;
    let later = store.claim(&["export"], "early", T0 + 4_999, 1_000).await;
    assert_eq!(later.unwrap(), None);
}

/// Whether a worker's call was refused because it no longer holds its job.
fn lost<T>(answer: Result<T, JobError>) -> bool {
    matches!(answer, Err(JobError::Refused(JobRefusal::LeaseLost)))
}

/// A worker that stops heartbeating loses its job to the next claim once its lease runs out;
/// its later calls are refused, and only the new holder finishes the job.
pub async fn an_expired_lease_is_claimed_again_and_its_old_worker_refused(store: Arc<dyn Store>) {
    enqueue(&*store, new_job("job_a", "acme", "export", T0, 3)).await;
    let first = store.claim(&["export"], "w1", T0, 1_000).await.unwrap();
    assert_eq!(first.unwrap().attempts, 1);
    store
        .heartbeat("job_a", "w1", T0 + 900, 1_000, r#"{"written":5}"#)
        .await
        .unwrap();
    let job = store.job("acme", "job_a").await.unwrap().unwrap();
    assert_eq!(
        (job.lease_until, job.progress.as_str()),
        (Some(T0 + 1_900), r#"{"written":5}"#)
    );
    assert_eq!(
        store
            .claim(&["export"], "w2", T0 + 1_900, 1_000)
            .await
            .unwrap(),
        None,
        "the lease still holds"
    );
    let second = store
        .claim(&["export"], "w2", T0 + 1_901, 1_000)
        .await
        .unwrap()
        .expect("taken over after the lease ran out");
    assert_eq!((second.attempts, second.worker.as_deref()), (2, Some("w2")));
    assert!(lost(
        store
            .heartbeat("job_a", "w1", T0 + 2_000, 1_000, "{}")
            .await
    ));
    assert!(lost(
        store
            .complete(
                "job_a",
                "w1",
                T0 + 2_000,
                "{}",
                job_audit("acme", "job.done", "job_a")
            )
            .await
    ));
    assert!(lost(
        store
            .fail(
                "job_a",
                "w1",
                T0 + 2_000,
                "x",
                job_audit("acme", "job.failed", "job_a")
            )
            .await
    ));
    let done = store
        .complete(
            "job_a",
            "w2",
            T0 + 2_000,
            r#"{"bytes":10}"#,
            job_audit("acme", "job.done", "job_a"),
        )
        .await
        .unwrap();
    assert_eq!(done.state, JobState::Succeeded);
    assert_eq!(done.result.as_deref(), Some(r#"{"bytes":10}"#));
    assert_eq!(done.finished_at, Some(T0 + 2_000));
    assert_eq!((done.worker, done.lease_until), (None, None));
    assert_eq!(
        store
            .claim(&["export"], "w3", T0 + 99_999, 1_000)
            .await
            .unwrap(),
        None,
        "a finished job is never claimed again"
    );
    assert!(matches!(
        store.heartbeat("missing", "w2", T0, 1_000, "{}").await,
        Err(JobError::Refused(JobRefusal::NotFound))
    ));
    let pair = |action: &str| (action.to_owned(), "job_a".to_owned());
    assert_eq!(
        trail(&*store, "acme").await,
        vec![pair("job.queued"), pair("job.done")],
        "refused calls leave nothing in the trail"
    );
}

/// A failed attempt is queued again after the backoff; the last failure is final and is the
/// only one the trail records.
pub async fn failed_attempts_are_retried_after_the_backoff_then_fail_for_good(
    store: Arc<dyn Store>,
) {
    enqueue(&*store, new_job("job_r", "acme", "export", T0, 2)).await;
    store.claim(&["export"], "w1", T0, 1_000).await.unwrap();
    let audit = || job_audit("acme", "job.failed", "job_r");
    let retried = store
        .fail("job_r", "w1", T0 + 10, "disk full", audit())
        .await
        .unwrap();
    let delay = crate::jobs::retry_delay(1);
    assert!(delay > 0);
    assert_eq!(retried.state, JobState::Queued);
    assert_eq!(retried.run_after, T0 + 10 + delay);
    assert_eq!(retried.error.as_deref(), Some("disk full"));
    assert_eq!(retried.worker, None);
    let early = store.claim(&["export"], "w2", T0 + 9 + delay, 1_000).await;
    assert_eq!(early.unwrap(), None, "not before the backoff");
    let again = store
        .claim(&["export"], "w2", T0 + 10 + delay, 1_000)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(again.attempts, 2);
    let failed = store
        .fail("job_r", "w2", T0 + 20 + delay, "disk still full", audit())
        .await
        .unwrap();
    assert_eq!(failed.state, JobState::Failed);
    assert_eq!(failed.error.as_deref(), Some("disk still full"));
    assert_eq!(failed.finished_at, Some(T0 + 20 + delay));
    assert_eq!(
        store
            .claim(&["export"], "w3", i64::MAX / 2, 1_000)
            .await
            .unwrap(),
        None
    );
    let actions: Vec<String> = trail(&*store, "acme")
        .await
        .into_iter()
        .map(|(a, _)| a)
        .collect();
    assert_eq!(actions, ["job.queued", "job.failed"]);
    assert!(crate::jobs::retry_delay(2) > delay, "the backoff grows");
    assert_eq!(
        crate::jobs::retry_delay(40),
        crate::jobs::retry_delay(41),
        "up to a cap"
    );
}

/// Cancelling a queued or running job is final and recorded; a running job's worker is refused
/// afterwards; another tenant can neither see nor cancel it; a finished job stays as it was.
pub async fn cancelled_jobs_stop_and_stay_within_their_tenant(store: Arc<dyn Store>) {
    enqueue(&*store, new_job("job_q", "acme", "export", T0, 3)).await;
    enqueue(&*store, new_job("job_run", "acme", "export", T0 + 1, 3)).await;
    let audit = |id: &str, tenant: &str| job_audit(tenant, "job.cancelled", id);
    assert_eq!(
        store
            .cancel("beta", "job_q", T0, "not mine", audit("job_q", "beta"))
            .await
            .unwrap(),
        None
    );
    assert_eq!(store.job("beta", "job_q").await.unwrap(), None);
    let queued = store
        .cancel(
            "acme",
            "job_q",
            T0 + 5,
            "changed my mind",
            audit("job_q", "acme"),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(queued.state, JobState::Cancelled);
    assert_eq!(queued.error.as_deref(), Some("changed my mind"));
    let running = store
        .claim(&["export"], "w1", T0 + 6, 60_000)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(running.id, "job_run", "the cancelled job is not claimed");
    let cancelled = store
        .cancel("acme", "job_run", T0 + 7, "stop", audit("job_run", "acme"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(cancelled.state, JobState::Cancelled);
    assert!(matches!(
        store.heartbeat("job_run", "w1", T0 + 8, 60_000, "{}").await,
        Err(JobError::Refused(JobRefusal::LeaseLost))
    ));
    assert!(matches!(
        store
            .complete(
                "job_run",
                "w1",
                T0 + 8,
                "{}",
                job_audit("acme", "job.done", "job_run")
            )
            .await,
        Err(JobError::Refused(JobRefusal::LeaseLost))
    ));
    let again = store
        .cancel("acme", "job_run", T0 + 9, "again", audit("job_run", "acme"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(again, cancelled, "a finished job is left as it was");
    let acme = trail(&*store, "acme").await;
    let cancels = acme.iter().filter(|(a, _)| a == "job.cancelled").count();
    assert_eq!(cancels, 2, "{acme:?}");
    assert!(trail(&*store, "beta").await.is_empty());
}

/// Listings are per tenant and kind, newest first, paged by id; an id is unique across
/// tenants.
pub async fn jobs_are_listed_newest_first_within_their_tenant(store: Arc<dyn Store>) {
    for i in 0..5 {
        enqueue(
            &*store,
            new_job(&format!("job_{i}"), "acme", "export", T0 + i, 3),
        )
        .await;
    }
    enqueue(&*store, new_job("job_b", "beta", "export", T0, 3)).await;
    enqueue(&*store, new_job("job_rep", "acme", "report", T0, 3)).await;
    let duplicate = store
        .enqueue(
            new_job("job_b", "acme", "export", T0, 3),
            job_audit("acme", "job.queued", "job_b"),
        )
        .await;
    assert!(matches!(duplicate, Err(StoreError::DuplicateId { .. })));
    let ids = |jobs: Vec<JobRecord>| jobs.into_iter().map(|j| j.id).collect::<Vec<_>>();
    let first = store.jobs("acme", "export", None, 3).await.unwrap();
    assert_eq!(ids(first), ["job_4", "job_3", "job_2"]);
    let rest = store
        .jobs("acme", "export", Some("job_2"), 10)
        .await
        .unwrap();
    assert_eq!(ids(rest), ["job_1", "job_0"]);
    assert_eq!(
        ids(store.jobs("beta", "export", None, 10).await.unwrap()),
        ["job_b"]
    );
    assert_eq!(
        ids(store.jobs("acme", "report", None, 10).await.unwrap()),
        ["job_rep"]
    );
    assert!(
        store
            .jobs("nobody", "export", None, 10)
            .await
            .unwrap()
            .is_empty()
    );
    let actions = trail(&*store, "acme").await;
    assert_eq!(
        actions.len(),
        6,
        "the refused duplicate left no event: {actions:?}"
    );
}

/// Jobs, their leases and their progress survive a restart: a queued job is claimed after it,
/// and a running one is taken again once its lease runs out.
pub async fn jobs_survive_a_restart<F, Fut>(store: Arc<dyn Store>, restart: F)
where
    F: FnOnce(Arc<dyn Store>) -> Fut,
    Fut: std::future::Future<Output = Arc<dyn Store>>,
{
    enqueue(&*store, new_job("job_1", "acme", "export", T0, 3)).await;
    enqueue(&*store, new_job("job_2", "acme", "export", T0 + 1, 3)).await;
    store
        .claim(&["export"], "dead", T0 + 2, 1_000)
        .await
        .unwrap()
        .unwrap();
    store
        .heartbeat("job_1", "dead", T0 + 3, 1_000, r#"{"written":7}"#)
        .await
        .unwrap();
    let store = restart(store).await;
    let running = store.job("acme", "job_1").await.unwrap().unwrap();
    assert_eq!(running.state, JobState::Running);
    assert_eq!(running.progress, r#"{"written":7}"#);
    let next = store
        .claim(&["export"], "alive", T0 + 4, 1_000)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(next.id, "job_2");
    let retaken = store
        .claim(&["export"], "alive2", T0 + 1_004, 1_000)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((retaken.id.as_str(), retaken.attempts), ("job_1", 2));
    let actions: Vec<String> = trail(&*store, "acme")
        .await
        .into_iter()
        .map(|(a, _)| a)
        .collect();
    assert_eq!(actions, ["job.queued", "job.queued"]);
}
