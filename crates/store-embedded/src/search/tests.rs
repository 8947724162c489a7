//! The index against `Filter::matches`: for a thousand random event sets and filters, the
//! index returns exactly the events the filter matches, in the same order, page by page.

use serde_json::json;
use trailkeep_event::{Cursor, Event, Filter, Order, Query, Timestamp, prepare};
use trailkeep_store::testsuite::cases::{Rng, random_event, random_filter, seed};

use super::{Coverage, SearchIndex, search, sort_key};

/// What an index holding `events` (seqs `0..n`) covers of them, up to seq `below`.
fn covering(events: &[Event], below: u64) -> Coverage {
    events
        .iter()
        .fold(Coverage::default(), |c, e| {
            c.widened(e.occurred_at.as_micros())
        })
        .with_below(below)
}

#[test]
fn the_index_returns_exactly_what_filter_matches_returns() {
    let seed = seed();
    let mut rng = Rng(seed);
    let mut index = SearchIndex::in_memory().unwrap();
    let mut writer = index.writer().unwrap();
    const CASES: usize = 1000;
    let mut sets = Vec::with_capacity(CASES);
    for tenant in 0..CASES {
        let events: Vec<Event> = (0..1 + rng.below(30) as u64)
            .map(|seq| random_event(&mut rng, seq))
            .collect();
        for event in &events {
            writer
                .add_document(index.document(tenant as i64, event))
                .unwrap();
        }
        sets.push(events);
    }
    writer.commit().unwrap();
    index.reader().reload().unwrap();

    // Every tenant here is small enough to be searched at once; half the cases are searched
    // in time windows all the same.
    let mut non_empty = 0;
    for (tenant, events) in sets.iter().enumerate() {
        index.narrow_candidates = if tenant % 2 == 0 { 0 } else { u64::MAX };
        let filter = random_filter(&mut rng);
        let order = if rng.chance(50) {
            Order::Asc
        } else {
            Order::Desc
        };
        let mut expected: Vec<&Event> = events.iter().filter(|e| filter.matches(e)).collect();
        expected.sort_by_key(|e| std::cmp::Reverse(sort_key(Cursor::after(e), order)));
        let want: Vec<u64> = expected.iter().map(|e| e.seq).collect();
        non_empty += usize::from(!want.is_empty());

        let mut query = Query::first_page(filter.clone(), order, 1000);
        query.count_total = true;
        let all = covering(events, events.len() as u64);
        let found = search(&index, tenant as i64, all, &query, 1000).unwrap();
        let got: Vec<u64> = found.positions.iter().map(|p| p.seq).collect();
        assert_eq!(
            got, want,
            "case {tenant} (seed {seed}): filter {filter:?}, order {order:?}"
        );
        assert_eq!(found.total, Some(want.len() as u64));

        // Page through with a cursor, two at a time, and below a watermark.
        let below = (events.len() as u64).saturating_sub(rng.below(3) as u64);
        let want_below: Vec<u64> = want.iter().copied().filter(|s| *s < below).collect();
        let mut paged = Vec::new();
        let mut page = Query::first_page(filter.clone(), order, 2);
        loop {
            let found = search(&index, tenant as i64, covering(events, below), &page, 3).unwrap();
            paged.extend(found.positions.iter().take(2).map(|p| p.seq));
            if found.positions.len() <= 2 {
                break;
            }
            page.after = Some(found.positions[1]);
        }
        assert_eq!(
            paged, want_below,
            "paging case {tenant} (seed {seed}): {filter:?}"
        );
    }
    assert!(
        non_empty > CASES / 3,
        "too few cases matched anything ({non_empty}); the generators are off"
    );
}

/// The index-wide time span used to bound every tenant's search windows, so one event dated
/// year 1 in any tenant made every tenant's selective query run windows back to year 1, each
/// a union of thousands of 32-day bucket terms. Windows now run over the tenant's own span,
/// there are at most six, and a window needing more than 64 buckets is asked without them.
#[test]
fn another_tenants_ancient_event_does_not_widen_this_tenants_search() {
    let mut index = SearchIndex::in_memory().unwrap();
    // Searched in windows, as a broad filter over a large tenant would be.
    index.narrow_candidates = 0;
    let mut writer = index.writer().unwrap();
    let at = |text: &str| Timestamp::parse(text).unwrap();
    let mut acme = Vec::new();
    for seq in 0..50u64 {
        let action = if seq == 7 { "rare.thing" } else { "doc.read" };
        let raw =
            json!({"action": action, "occurred_at": format!("2025-06-01T{:02}:00:00Z", seq % 24)});
        acme.push(
            prepare(&raw, "acme", at("2025-06-02T00:00:00Z"))
                .unwrap()
                .into_event(seq),
        );
    }
    let ancient = [
        json!({"action": "rare.thing", "occurred_at": "0001-01-01T00:00:00Z"}),
        json!({"action": "doc.read", "occurred_at": "2025-06-01T00:00:00Z"}),
    ];
    let beta: Vec<Event> = ancient
        .iter()
        .enumerate()
        .map(|(seq, raw)| {
            prepare(raw, "beta", at("2025-06-02T00:00:00Z"))
                .unwrap()
                .into_event(seq as u64)
        })
        .collect();
    for event in &acme {
        writer.add_document(index.document(1, event)).unwrap();
    }
    for event in &beta {
        writer.add_document(index.document(2, event)).unwrap();
    }
    writer.commit().unwrap();
    index.reader().reload().unwrap();

    let rare = Filter {
        actions: vec!["rare.thing".into()],
        ..Filter::default()
    };
    let query = Query::first_page(rare, Order::Desc, 50);
    let found = search(&index, 1, covering(&acme, 50), &query, 51).unwrap();
    assert_eq!(found.positions.len(), 1);
    assert_eq!(found.positions[0].seq, 7);
    assert!(
        found.windows <= 3,
        "{} windows over one day of events",
        found.windows
    );
    // The tenant with the ancient event itself: at most six windows, and it finds both ends.
    let found = search(&index, 2, covering(&beta, 2), &query, 51).unwrap();
    assert_eq!(found.positions.len(), 1);
    assert_eq!(found.positions[0].seq, 0);
    assert!(found.windows <= 6, "{} windows", found.windows);
    // A filter this narrow is searched in one go, with the same answer.
    index.narrow_candidates = super::query::NARROW_CANDIDATES;
    let found = search(&index, 2, covering(&beta, 2), &query, 51).unwrap();
    assert_eq!(found.positions[0].seq, 0);
    assert_eq!(found.windows, 1);
}

/// An action prefix is asked as the terms the index holds that start with it, or, past a few
/// hundred of them, as a range over the term dictionary: both find the same events.
#[test]
fn action_prefixes_find_every_action_they_cover_however_many() {
    let index = SearchIndex::in_memory().unwrap();
    let mut writer = index.writer().unwrap();
    let events: Vec<Event> = (0..600u64)
        .map(|seq| {
            let action = format!("bulk.a{:03}", seq % 300);
            prepare(
                &serde_json::json!({"action": action, "occurred_at": "2025-03-01T10:00:00Z"}),
                "t",
                Timestamp::now(),
            )
            .unwrap()
            .into_event(seq)
        })
        .collect();
    for event in &events {
        writer.add_document(index.document(1, event)).unwrap();
    }
    writer.commit().unwrap();
    index.reader().reload().unwrap();
    let all = covering(&events, events.len() as u64);
    for (pattern, matching) in [
        ("bulk.*", 600),
        ("bulk.a01*", 20),
        ("bulk.a2*", 200),
        ("none.*", 0),
    ] {
        let filter = Filter {
            actions: vec![pattern.to_owned()],
            ..Filter::default()
        };
        let mut query = Query::first_page(filter, Order::Asc, 1000);
        query.count_total = true;
        let found = search(&index, 1, all, &query, 1000).unwrap();
        assert_eq!(found.positions.len(), matching, "{pattern}");
        assert_eq!(found.total, Some(matching as u64), "{pattern}");
    }
}
