//! Random events and filters, seeded: the cases behind the property tests that hold an
//! engine's answers to `Filter::matches` (the conformance suite's, and the embedded query
//! index's own). Events fall on a few days of a few months, so that time windows cut through
//! hour, day and month boundaries; fields repeat across events, so that filters match some.

use serde_json::{Value, json};
use trailkeep_event::{
    Category, Event, EventField, FieldMatch, Filter, Outcome, Timestamp, prepare, tokenize,
};

/// The seed of the cases: `TRAILKEEP_TEST_SEED` when set, to reproduce a failure.
pub fn seed() -> u64 {
    std::env::var("TRAILKEEP_TEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed_1234_abcd_u64)
}

/// A small, seeded xorshift generator: reproducible cases without another dependency.
pub struct Rng(pub u64);

impl Rng {
    /// The next number.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    /// A number below `n`.
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
    /// True `percent` times in a hundred.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.next_u64() % 100 < percent
    }
    /// One of `items`.
    pub fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
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
        "2025-{:02}-{:02}T{:02}:{:02}:0{second}Z",
        first_month + rng.below(months),
        [1, 2, 3, 15, 28][rng.below(5)],
        [0, 10, 23][rng.below(3)],
        [0, 1, 59][rng.below(3)],
    )
}

/// A random event's JSON, as a client would send it, with `occurred_at` given.
pub fn random_raw_event(rng: &mut Rng) -> Value {
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
    raw
}

/// A random event of tenant `t` with `seq`, received on 2025-06-01.
pub fn random_event(rng: &mut Rng, seq: u64) -> Event {
    let received = Timestamp::parse("2025-06-01T00:00:00Z").expect("a valid instant");
    prepare(&random_raw_event(rng), "t", received)
        .expect("generated event is valid")
        .into_event(seq)
}

/// A random filter over such events: every kind of condition, positive and negated.
pub fn random_filter(rng: &mut Rng) -> Filter {
    let mut f = Filter::default();
    // Mostly since before until, so that windows often hold something.
    if rng.chance(25) {
        f.since = Some(Timestamp::parse(&instant(rng, 1, 3, 1)).expect("a valid instant"));
    }
    if rng.chance(25) {
        f.until = Some(Timestamp::parse(&instant(rng, 2, 3, 1)).expect("a valid instant"));
    }
    if rng.chance(30) {
        for _ in 0..1 + rng.below(2) {
            let a = rng.pick(ACTIONS);
            f.actions.push(if rng.chance(40) {
                format!("{}*", &a[..a.find('.').map_or(0, |dot| dot + 1)])
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
