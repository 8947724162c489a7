//! The removal part of the contract ([`crate::redaction`]): tombstones replace bodies and keep
//! every proof valid, are written with their record or not at all, never over a newer body,
//! and leave nothing removed to be found.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Map, json};
use trailkeep_event::{
    Erasable, Filter, Order, REDACTION_RECORD_ACTION, RedactionReason, Timestamp,
};
use trailkeep_ledger::{leaf_hash, verify_consistency, verify_inclusion};

use super::{batch, query};
use crate::redaction::{Removal, Tombstone};
use crate::verify::{RedactionCheck, check_stored};
use crate::{Store, StoreError, StoredEvent};

fn removal(reason: RedactionReason, fields: &[Erasable]) -> Removal {
    Removal::new(reason, fields.to_vec(), Timestamp::now())
}

/// Redacts `seqs` of the tenant with `removal`, as a job would: reads them, makes their
/// tombstones and the record, writes both.
async fn redact(
    store: &dyn Store,
    tenant: &str,
    seqs: &[u64],
    removal: &Removal,
) -> Result<StoredEvent, StoreError> {
    let mut tombstones = Vec::new();
    for &seq in seqs {
        let stored = store.get_by_seq(tenant, seq).await?.expect("stored");
        tombstones.extend(removal.tombstone(&stored)?);
    }
    let record = removal.record(
        tenant,
        &json!({"type": "system", "id": "retention"}),
        &tombstones,
        Map::new(),
    )?;
    store.redact(tenant, tombstones, record).await
}

async fn people(store: &dyn Store, tenant: &str, n: usize) {
    let events = (0..n)
        .map(|i| {
            json!({
                "action": if i % 2 == 0 { "user.login" } else { "doc.read" },
                "actor": {"id": format!("u{}", i % 3), "email": format!("p{}@example.com", i % 3), "name": "Pat"},
                "context": {"ip_address": "192.0.2.7"},
                "metadata": {"i": i},
            })
        })
        .collect();
    store
        .append(tenant, batch(tenant, events))
        .await
        .expect("append");
}

/// Every stored event of the tenant held to what verification checks: whole events hash to
/// their leaves, tombstones keep theirs and match the records that vouch for them.
async fn verify_trail(store: &dyn Store, tenant: &str) -> Result<(), String> {
    let size = store.tree_size(tenant).await.unwrap();
    let mut check = RedactionCheck::default();
    for event in store
        .scan_canonical(tenant, 0, size as usize)
        .await
        .unwrap()
    {
        let row = check_stored(&event.canonical, &event.leaf_hash, event.seq, tenant)?;
        check.row(event.seq, &row)?;
    }
    check.finish().map(|_| ()).map_err(|(_, why)| why)
}

/// A tombstone keeps its seq, id, times and leaf hash, says what was removed and why; every
/// inclusion and consistency proof against checkpoints signed before still verifies; the
/// record is appended in the same write and vouches for the tombstones.
pub async fn tombstones_keep_every_proof_and_are_vouched_for_by_their_record(
    store: Arc<dyn Store>,
) {
    people(&*store, "acme", 10).await;
    let before = store.checkpoint_covering("acme", 10).await.unwrap();
    let originals = store.scan("acme", 0, 10).await.unwrap();

    let retention = removal(RedactionReason::Retention, &Erasable::EXPIRED);
    let record = redact(&*store, "acme", &[2, 5], &retention).await.unwrap();
    assert_eq!(record.event.seq, 10);
    assert_eq!(record.event.action, REDACTION_RECORD_ACTION);
    assert_eq!(record.event.id, retention.record);
    assert_eq!(record.event.metadata.as_ref().unwrap()["tombstones"], 2);
    assert_eq!(store.tree_size("acme").await.unwrap(), 11);

    for seq in 0..10 {
        let now = store.get_by_seq("acme", seq).await.unwrap().unwrap();
        let was = &originals[seq as usize];
        assert_eq!(
            now.leaf_hash, was.leaf_hash,
            "seq {seq} keeps its leaf hash"
        );
        if seq == 2 || seq == 5 {
            let redaction = now.event.redaction.as_ref().expect("a tombstone");
            assert_eq!(redaction.reason, RedactionReason::Retention);
            assert_eq!(redaction.record, record.event.id);
            assert_eq!(redaction.leaf_hash, hex::encode(was.leaf_hash));
            assert_eq!(
                redaction.removed,
                ["actor", "context", "metadata"],
                "only what was there"
            );
            assert_eq!(now.event.id, was.event.id);
            assert_eq!(now.event.occurred_at, was.event.occurred_at);
            assert_eq!(now.event.received_at, was.event.received_at);
            assert_eq!(now.event.action, was.event.action);
            assert_eq!((&now.event.actor, &now.event.metadata), (&None, &None));
            assert_ne!(leaf_hash(&now.canonical), now.leaf_hash);
            assert_eq!(
                store.get("acme", &was.event.id).await.unwrap().unwrap(),
                now
            );
        } else {
            assert_eq!(&now, was, "seq {seq} is untouched");
        }
        let proof = store
            .inclusion_proof("acme", seq, before.size)
            .await
            .unwrap();
        verify_inclusion(
            &now.leaf_hash,
            seq,
            before.size,
            &proof.hashes,
            &before.root,
        )
        .unwrap_or_else(|e| panic!("seq {seq}: {e}"));
    }
    let after = store.checkpoint_covering("acme", 11).await.unwrap();
    let proof = store
        .consistency_proof("acme", before.size, after.size)
        .await
        .unwrap();
    verify_consistency(before.size, after.size, &proof, &before.root, &after.root)
        .expect("the old checkpoint is a prefix of the new one");
    verify_trail(&*store, "acme")
        .await
        .expect("the trail verifies");

    // A retry of a removed event with its client id is answered with the tombstone, and
    // stored no second time.
    let retry = json!({"id": "client-7", "action": "doc.read", "actor": {"id": "u9", "email": "z@example.com"}});
    store
        .append("acme", batch("acme", vec![retry.clone()]))
        .await
        .unwrap();
    let stored = store.get("acme", "client-7").await.unwrap().unwrap();
    redact(
        &*store,
        "acme",
        &[stored.event.seq],
        &removal(RedactionReason::Erasure, &[Erasable::ActorEmail]),
    )
    .await
    .unwrap();
    let size = store.tree_size("acme").await.unwrap();
    let again = batch("acme", vec![retry]);
    let answer = store.append("acme", again).await.unwrap();
    assert_eq!(
        (answer.stored, answer.events[0].event.seq),
        (0, stored.event.seq)
    );
    assert_eq!(store.tree_size("acme").await.unwrap(), size);
}

/// An altered tombstone, or one naming no record, does not verify; a record that vouches for
/// fewer tombstones than name it does not either.
pub async fn altered_tombstones_are_found(store: Arc<dyn Store>) {
    people(&*store, "acme", 4).await;
    let erasure = removal(RedactionReason::Erasure, &[Erasable::ActorEmail]);
    redact(&*store, "acme", &[1, 3], &erasure).await.unwrap();
    verify_trail(&*store, "acme")
        .await
        .expect("verifies as written");

    // The same tombstone with its action changed: well formed, kept leaf right, and still
    // found by the record's digest.
    let stored = store.get_by_seq("acme", 1).await.unwrap().unwrap();
    let mut altered = stored.event.clone();
    altered.action = "doc.deleted".into();
    let altered = altered.canonical_bytes().unwrap();
    let row = check_stored(&altered, &stored.leaf_hash, 1, "acme").expect("well formed");
    let mut check = RedactionCheck::default();
    let mut failure = None;
    for event in store.scan_canonical("acme", 0, 5).await.unwrap() {
        let row = if event.seq == 1 {
            row.clone()
        } else {
            check_stored(&event.canonical, &event.leaf_hash, event.seq, "acme").unwrap()
        };
        if let Err(why) = check.row(event.seq, &row) {
            failure = Some(why);
        }
    }
    let failure = failure.expect("the record's digest finds the altered tombstone");
    assert!(failure.contains(&erasure.record), "{failure}");

    // A kept leaf hash changed: named at once.
    let mut other_leaf = stored.leaf_hash;
    other_leaf[0] ^= 1;
    let why = check_stored(&stored.canonical, &other_leaf, 1, "acme").unwrap_err();
    assert!(why.contains("kept leaf hash"), "{why}");
}

/// A tombstone made from a body that changed since (another removal won) is refused with
/// nothing written; so is one for another seq's event, and one over a record.
pub async fn stale_or_misplaced_tombstones_are_refused_whole(store: Arc<dyn Store>) {
    people(&*store, "acme", 3).await;
    let original = store.get_by_seq("acme", 0).await.unwrap().unwrap();
    let first = removal(RedactionReason::Erasure, &[Erasable::ActorEmail]);
    let stale = removal(RedactionReason::Retention, &Erasable::EXPIRED);
    let stale_tombstone = stale.tombstone(&original).unwrap().unwrap();
    let record = redact(&*store, "acme", &[0], &first).await.unwrap();
    let size = store.tree_size("acme").await.unwrap();

    let refused = |r: Result<StoredEvent, StoreError>| matches!(r, Err(StoreError::Conflict(_)));
    let whole = stale
        .tombstone(&store.get_by_seq("acme", 1).await.unwrap().unwrap())
        .unwrap()
        .unwrap();
    let written = store
        .redact(
            "acme",
            vec![whole.clone(), stale_tombstone.clone()],
            stale
                .record(
                    "acme",
                    &json!({"id": "x"}),
                    &[whole.clone(), stale_tombstone],
                    Map::new(),
                )
                .unwrap(),
        )
        .await;
    assert!(refused(written), "a stale tombstone is refused");
    assert_eq!(store.tree_size("acme").await.unwrap(), size, "no record");
    assert_eq!(
        store
            .get_by_seq("acme", 1)
            .await
            .unwrap()
            .unwrap()
            .event
            .redaction,
        None,
        "no tombstone"
    );

    let moved = Tombstone {
        seq: 2,
        ..whole.clone()
    };
    let written = store
        .redact(
            "acme",
            vec![moved.clone()],
            stale
                .record("acme", &json!({"id": "x"}), &[moved], Map::new())
                .unwrap(),
        )
        .await;
    assert!(
        refused(written),
        "a tombstone in another event's place is refused"
    );

    let record_stored = store
        .get_by_seq("acme", record.event.seq)
        .await
        .unwrap()
        .unwrap();
    assert!(
        stale.tombstone(&record_stored).unwrap().is_none(),
        "records are never removed"
    );
    let mut forged = record_stored.event.clone();
    forged.metadata = None;
    forged.redaction = Some(trailkeep_event::Redaction {
        reason: RedactionReason::Retention,
        removed: vec!["metadata".into()],
        record: stale.record.clone(),
        redacted_at: Timestamp::now(),
        leaf_hash: hex::encode(record_stored.leaf_hash),
        earlier: Vec::new(),
    });
    let forged = Tombstone {
        seq: record.event.seq,
        body: forged.canonical_bytes().unwrap(),
        replaces: crate::redaction::sha256(&record_stored.canonical),
    };
    let written = store
        .redact(
            "acme",
            vec![forged.clone()],
            stale
                .record("acme", &json!({"id": "x"}), &[forged], Map::new())
                .unwrap(),
        )
        .await;
    assert!(refused(written), "a record is never replaced");
    assert_eq!(store.tree_size("acme").await.unwrap(), size);
    verify_trail(&*store, "acme").await.expect("still verifies");
}

/// Removed again, a tombstone keeps its first leaf hash, names the earlier record with the
/// digest of what that record vouched for, and the trail still verifies; other tenants'
/// events and ledgers are untouched.
pub async fn a_tombstone_removed_from_again_keeps_its_history(store: Arc<dyn Store>) {
    people(&*store, "acme", 4).await;
    people(&*store, "beta", 4).await;
    let beta_before = store.scan("beta", 0, 4).await.unwrap();
    let leaf = store
        .get_by_seq("acme", 0)
        .await
        .unwrap()
        .unwrap()
        .leaf_hash;
    let erasure = removal(
        RedactionReason::Erasure,
        &[Erasable::ActorEmail, Erasable::IpAddress],
    );
    redact(&*store, "acme", &[0, 2], &erasure).await.unwrap();
    let retention = removal(RedactionReason::Retention, &Erasable::EXPIRED);
    redact(&*store, "acme", &[0, 1], &retention).await.unwrap();

    let twice = store.get_by_seq("acme", 0).await.unwrap().unwrap();
    let redaction = twice.event.redaction.unwrap();
    assert_eq!(redaction.leaf_hash, hex::encode(leaf));
    assert_eq!(redaction.record, retention.record);
    assert_eq!(redaction.earlier.len(), 1);
    assert_eq!(redaction.earlier[0].record, erasure.record);
    assert_eq!(
        redaction.removed,
        ["actor", "actor.email", "context.ip_address", "metadata"]
    );
    let once = store.get_by_seq("acme", 2).await.unwrap().unwrap().event;
    assert_eq!(
        once.actor.as_ref().unwrap().id.as_deref(),
        Some("u2"),
        "the rest stays readable"
    );
    assert_eq!(once.actor.as_ref().unwrap().email, None);
    assert_eq!(once.context, None);
    verify_trail(&*store, "acme")
        .await
        .expect("both records vouch for their tombstones");
    assert_eq!(store.scan("beta", 0, 4).await.unwrap(), beta_before);
    assert_eq!(store.tree_size("beta").await.unwrap(), 4);
}

/// Once removed, a field no longer finds its events, in listings and statistics alike (an
/// index may take a moment to follow; the listing's own pages never show the removed value).
pub async fn removed_fields_are_not_found(store: Arc<dyn Store>) {
    people(&*store, "acme", 30).await;
    let email = "p1@example.com";
    let by_email = Filter {
        actor_email: Some(email.into()),
        ..Filter::default()
    };
    let found = store
        .query("acme", &query(by_email.clone(), Order::Desc, 100))
        .await
        .unwrap();
    let seqs: Vec<u64> = found.events.iter().map(|e| e.event.seq).collect();
    assert_eq!(seqs.len(), 10);
    let erasure = removal(RedactionReason::Erasure, &Erasable::PERSONAL);
    redact(&*store, "acme", &seqs, &erasure).await.unwrap();

    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let page = store
            .query("acme", &query(by_email.clone(), Order::Desc, 100))
            .await
            .unwrap();
        for event in &page.events {
            let shown = serde_json::to_string(&event.event).unwrap();
            assert!(
                !shown.contains(email),
                "a listed event shows the removed e-mail"
            );
        }
        let text = Filter {
            text: trailkeep_event::tokenize(email).collect(),
            ..Filter::default()
        };
        let by_text = store
            .query("acme", &query(text, Order::Desc, 100))
            .await
            .unwrap();
        let stats = store.stats("acme", &by_email, &[]).await.unwrap();
        if page.events.is_empty() && by_text.events.is_empty() && stats.total == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the index still finds the erased e-mail"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let by_actor = Filter {
        actor_id: Some("u1".into()),
        ..Filter::default()
    };
    let still = store
        .query("acme", &query(by_actor, Order::Desc, 100))
        .await
        .unwrap();
    assert_eq!(still.events.len(), 10, "fields not removed are still found");
}

/// Expired idempotency keys are swept: a request repeated with one is then appended anew.
pub async fn expired_idempotency_keys_are_swept(store: Arc<dyn Store>) {
    let key = crate::IdempotencyKey {
        key: "k1".into(),
        request_hash: [7; 32],
    };
    let mut request = batch("acme", vec![json!({"action": "a.created"})]);
    request.idempotency_key = Some(key.clone());
    store.append("acme", request).await.unwrap();
    assert!(store.replay("acme", &key).await.unwrap().is_some());
    let swept = store
        .sweep(Timestamp::from_micros(0).unwrap())
        .await
        .unwrap();
    assert_eq!(swept.idempotency_keys, 0, "nothing is older than 1970");
    assert!(store.replay("acme", &key).await.unwrap().is_some());
    let later = Timestamp::now().plus_micros(1_000_000);
    assert!(store.sweep(later).await.unwrap().idempotency_keys >= 1);
    assert!(store.replay("acme", &key).await.unwrap().is_none());
    // The client's retry, prepared again (a server-made id is new each time).
    let mut retry = batch("acme", vec![json!({"action": "a.created"})]);
    retry.idempotency_key = Some(key);
    let again = store.append("acme", retry).await.unwrap();
    assert!(!again.replayed);
    assert_eq!(store.tree_size("acme").await.unwrap(), 2);
    store.reclaim().await.expect("reclaiming runs");
}
