//! The index against `Filter::matches`: for a thousand random event sets and filters, the
//! index returns exactly the events the filter matches, in the same order, page by page.

use serde_json::{Value, json};
use trailkeep_event::{
    Category, Cursor, Event, EventField, FieldMatch, Filter, Order, Outcome, Query, Timestamp,
    prepare, tokenize,
};

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

/// A small, seeded xorshift generator: reproducible cases without another dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

const ACTIONS: &[&str] = &[
    "contract.created",
    "contract.updated",
    "contract.approved",
    "user.login",
    "user.logout",
    "doc.viewed",
    "doc.deleted",
    "report.exported",
];
const ACTORS: &[&str] = &["u0", "u1", "u2", "u3"];
const EMAILS: &[&str] = &["Ana@Example.com", "ana@example.com", "bo@example.com"];
const ACTOR_TYPES: &[&str] = &["user", "API_KEY", "robot"];
const TARGET_TYPES: &[&str] = &["contract", "doc"];
const TARGETS: &[&str] = &["t0", "t1", "t2"];
const IPS: &[&str] = &["10.0.0.1", "10.0.0.2", "2001:db8::1"];
const WORDS: &[&str] = &[
    "murabaha",
    "Transfer approved",
    "naïve café",
    "loan 17",
    "MURABAHA-17",
];
const ZONES: &[&str] = &["example.com", "example.org"];
const METADATA: &[&str] = &[
    "amount=5",
    "amount=500.00",
    "tags=a",
    "tags=b",
    "party.name=Acme",
    "ok=true",
];

/// An instant on one of a few days of `months` months from `first_month` of 2025, at the start, middle or end of a day, so
/// that time windows cut through hour, day and 32-day buckets (`buckets.rs`).
fn instant(rng: &mut Rng, first_month: usize, months: usize, second: usize) -> String {
    format!(
        "2025-{:02}-{:02}T{:02}:00:0{second}Z",
        first_month + rng.below(months),
        [1, 2, 3, 15, 28][rng.below(5)],
        [0, 10, 23][rng.below(3)],
    )
}

fn random_event(rng: &mut Rng, seq: u64) -> Event {
    let second = rng.below(3);
    let mut raw = json!({
        "action": rng.pick(ACTIONS),
        "occurred_at": instant(rng, 1, 4, second),
    });
    if rng.chance(80) {
        raw["actor"] = json!({"id": rng.pick(ACTORS), "type": rng.pick(ACTOR_TYPES)});
        if rng.chance(50) {
            raw["actor"]["email"] = json!(rng.pick(EMAILS));
        }
    }
    if rng.chance(80) {
        raw["target"] = json!({"type": rng.pick(TARGET_TYPES), "id": rng.pick(TARGETS)});
    }
    if rng.chance(60) {
        raw["context"] = json!({"ip_address": rng.pick(IPS)});
        if rng.chance(50) {
            raw["context"]["zone"] = json!({"name": rng.pick(ZONES)});
            let status = [200, 403][rng.below(2)];
            raw["context"]["request"] =
                json!({"method": rng.pick(&["GET", "POST"]), "status_code": status});
        }
    }
    if rng.chance(50) {
        raw["description"] = json!(rng.pick(WORDS));
    }
    if rng.chance(30) {
        raw["outcome"] = json!(if rng.chance(50) { "failure" } else { "unknown" });
    }
    if rng.chance(60) {
        let amount: Value = match rng.below(3) {
            0 => json!(5),
            1 => json!("5"),
            _ => json!("500.00"),
        };
        raw["metadata"] = json!({"amount": amount, "tags": ["a", rng.pick(&["b", "c"])], "party": {"name": rng.pick(&["Acme", "Bolt"])}, "ok": rng.chance(50)});
    }
    let received = Timestamp::parse("2025-06-01T00:00:00Z").unwrap();
    prepare(&raw, "t", received)
        .expect("generated event is valid")
        .into_event(seq)
}

fn random_filter(rng: &mut Rng) -> Filter {
    let mut f = Filter::default();
    // Mostly since before until, so that windows often hold something.
    if rng.chance(25) {
        f.since = Some(Timestamp::parse(&instant(rng, 1, 3, 1)).unwrap());
    }
    if rng.chance(25) {
        f.until = Some(Timestamp::parse(&instant(rng, 2, 3, 1)).unwrap());
    }
    if rng.chance(30) {
        for _ in 0..1 + rng.below(2) {
            let a = rng.pick(ACTIONS);
            f.actions.push(if rng.chance(40) {
                format!("{}*", &a[..a.find('.').unwrap() + 1])
            } else {
                a.to_owned()
            });
        }
    }
    if rng.chance(15) {
        f.categories.push(
            [
                Category::Create,
                Category::Login,
                Category::Update,
                Category::Read,
            ][rng.below(4)],
        );
    }
    if rng.chance(15) {
        f.outcome = Some([Outcome::Success, Outcome::Failure, Outcome::Unknown][rng.below(3)]);
    }
    let maybe = |rng: &mut Rng, items: &[&str]| rng.chance(15).then(|| rng.pick(items).to_owned());
    f.actor_id = maybe(rng, ACTORS);
    f.actor_email = maybe(rng, EMAILS);
    f.actor_type = maybe(rng, &["user", "api_key", "robot", "API_KEY"]);
    f.target_type = maybe(rng, TARGET_TYPES);
    f.target_id = maybe(rng, TARGETS);
    f.ip = maybe(rng, IPS);
    if rng.chance(20) {
        f.text = tokenize(rng.pick(&[
            "murabaha", "approved", "CAFÉ", "17 loan", "acme", "contract",
        ]))
        .collect();
    }
    if rng.chance(20) {
        f.metadata.push(rng.pick(METADATA).to_owned());
    }
    // Named-field conditions, positive and negated, as the dialects build them.
    for _ in 0..rng.below(3) {
        let (field, values): (EventField, &[&str]) = match rng.below(6) {
            0 => (EventField::ActorEmail, EMAILS),
            1 => (EventField::ZoneName, ZONES),
            2 => (EventField::RequestMethod, &["GET", "POST"]),
            3 => (EventField::RequestStatusCode, &["200", "403"]),
            4 => (EventField::Category, &["create", "read", "login"]),
            _ => (EventField::ActorId, ACTORS),
        };
        let values = (0..1 + rng.below(2))
            .map(|_| rng.pick(values).to_owned())
            .collect();
        f.fields.push(FieldMatch {
            field,
            values,
            negate: rng.chance(50),
        });
    }
    f
}

#[test]
fn the_index_returns_exactly_what_filter_matches_returns() {
    let seed = std::env::var("TRAILKEEP_TEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed_1234_abcd_u64);
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
