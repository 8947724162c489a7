//! Every built-in rule against a labelled stream: the benchmark's workload for one tenant
//! (20,000 events over 90 days) as ordinary traffic, with attacks planted by the test at known
//! times, and near misses beside them. Each test runs every built-in rule over its stream and
//! checks that the alerts raised are exactly the planted incidents: the rule that must fire
//! fires once per incident, nothing else fires.
//!
//! The ordinary traffic is the workload's with three things held steady that the workload
//! draws at random and that are, by the rules' own definitions, incidents: each user signs in
//! from their home place with one device (the workload sends users travelling and switching
//! devices), sign-ins carry their place's coordinates, and API keys made outside working hours
//! are left out (each would be a true `api-key-off-hours` alert).

use std::collections::HashMap;
use std::sync::OnceLock;

use bench::workload::{PLACES, Workload};
use serde_json::{Value, json};
use trailkeep_detect::{Detector, builtins};
use trailkeep_event::{Timestamp, prepare};

/// The coordinates of the workload's places, in its order.
const COORDINATES: [(f64, f64); 10] = [
    (24.7136, 46.6753),
    (21.4858, 39.1925),
    (25.2048, 55.2708),
    (25.2854, 51.5310),
    (30.0444, 31.2357),
    (51.5072, -0.1276),
    (50.1109, 8.6821),
    (19.0760, 72.8777),
    (1.3521, 103.8198),
    (40.7128, -74.0060),
];

/// The run's "now": a Tuesday; the events occur in the 90 days before.
const NOW: &str = "2026-12-01T00:00:00Z";

fn at(text: &str) -> i64 {
    Timestamp::parse(text).unwrap().as_micros()
}

fn text(us: i64) -> String {
    Timestamp::from_micros(us).unwrap().to_string()
}

const MINUTE: i64 = 60_000_000;

/// Whether `us` is within 08:00-18:00 UTC, Monday to Friday.
fn working_hours(us: i64) -> bool {
    let seconds = us / 1_000_000;
    let hour = (seconds % 86_400) / 3600;
    let weekday = (seconds / 86_400 + 3) % 7;
    (8..18).contains(&hour) && weekday < 5
}

/// The ordinary traffic, made once.
fn ordinary() -> &'static Vec<(i64, Value)> {
    static STREAM: OnceLock<Vec<(i64, Value)>> = OnceLock::new();
    STREAM.get_or_init(|| {
        let workload = Workload::new(7, 1, 20_000, 500, at(NOW));
        let homes: HashMap<&str, usize> = workload.tenants[0]
            .actors
            .iter()
            .map(|a| (a.id.as_str(), a.home))
            .collect();
        let mut out = Vec::new();
        for b in 0..workload.batches() {
            for event in workload.batch(b).1 {
                if event.action == "api_key.created" && !working_hours(event.occurred_us) {
                    continue;
                }
                let mut bytes = Vec::new();
                event.to_json(&mut bytes);
                let mut raw: Value = serde_json::from_slice(&bytes).unwrap();
                let home = homes[event.actor_id.as_str()];
                let context = &mut raw["context"];
                context["location"] = json!(PLACES[home].0);
                context["device"] = json!(format!("{}'s usual device", event.actor_id));
                context["geo"] = json!({"lat": COORDINATES[home].0, "lon": COORDINATES[home].1});
                out.push((event.occurred_us, raw));
            }
        }
        out
    })
}

/// The workload's users, busiest first.
fn users() -> Vec<String> {
    let workload = Workload::new(7, 1, 20_000, 500, at(NOW));
    workload.tenants[0]
        .actors
        .iter()
        .filter(|a| a.kind == "user")
        .map(|a| a.id.clone())
        .collect()
}

/// A planted event.
fn planted(when: i64, raw: Value) -> (i64, Value) {
    let mut raw = raw;
    raw["occurred_at"] = json!(text(when));
    (when, raw)
}

fn login(when: i64, user: &str, outcome: &str, ip: &str) -> (i64, Value) {
    planted(
        when,
        json!({"action": "user.login", "outcome": outcome,
               "actor": {"type": "user", "id": user}, "context": {"ip_address": ip}}),
    )
}

/// Runs every built-in rule over the ordinary traffic with `planted` mixed in at their times;
/// answers the alerts as (rule, key), sorted.
fn alerts(planted: Vec<(i64, Value)>) -> Vec<(String, String)> {
    let mut stream: Vec<(i64, Value)> = ordinary().clone();
    stream.extend(planted);
    stream.sort_by_key(|(when, _)| *when);
    let received = Timestamp::parse(NOW).unwrap();
    let mut detector = Detector::new(builtins());
    let mut found = Vec::new();
    for (seq, (_, raw)) in stream.iter().enumerate() {
        let event = prepare(raw, "acme", received)
            .unwrap_or_else(|e| panic!("{raw}: {e:?}"))
            .into_event(seq as u64);
        for id in detector.needs(&event) {
            detector.load(id, None);
        }
        for hit in detector.observe(&event) {
            assert!(
                !hit.seqs.is_empty() && hit.seqs.contains(&(seq as u64)),
                "{hit:?}"
            );
            found.push((hit.rule, hit.key));
        }
    }
    found.sort();
    found
}

fn expect(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut pairs: Vec<(String, String)> = pairs
        .iter()
        .map(|(r, k)| ((*r).to_owned(), (*k).to_owned()))
        .collect();
    pairs.sort();
    pairs
}

#[test]
fn ordinary_traffic_raises_nothing() {
    assert_eq!(alerts(Vec::new()), expect(&[]));
}

#[test]
fn a_burst_of_failed_sign_ins_of_one_user() {
    let users = users();
    let mut stream = Vec::new();
    // 25 failures of one user from 25 addresses in 25 minutes.
    let start = at("2026-10-14T10:00:00Z");
    for i in 0..25 {
        stream.push(login(
            start + i * MINUTE,
            &users[3],
            "failure",
            &format!("203.0.113.{i}"),
        ));
    }
    // A near miss: 15 failures of another.
    let start = at("2026-11-02T10:00:00Z");
    for i in 0..15 {
        stream.push(login(
            start + i * MINUTE,
            &users[4],
            "failure",
            &format!("203.0.113.{}", 100 + i),
        ));
    }
    assert_eq!(
        alerts(stream),
        expect(&[("failed-login-burst-user", &users[3])])
    );
}

#[test]
fn a_burst_of_failed_sign_ins_from_one_address() {
    let users = users();
    let mut stream = Vec::new();
    // 24 failures from one address, 8 each for 3 users, in 48 minutes.
    let start = at("2026-10-20T09:00:00Z");
    for i in 0..24 {
        stream.push(login(
            start + i * 2 * MINUTE,
            &users[5 + (i as usize % 3)],
            "failure",
            "198.51.100.7",
        ));
    }
    // A near miss: 15 from another address.
    let start = at("2026-11-05T09:00:00Z");
    for i in 0..15 {
        stream.push(login(
            start + i * MINUTE,
            &users[8],
            "failure",
            "198.51.100.8",
        ));
    }
    assert_eq!(
        alerts(stream),
        expect(&[("failed-login-burst-ip", "198.51.100.7")])
    );
}

#[test]
fn password_spraying_from_one_address() {
    let users = users();
    let mut stream = Vec::new();
    // 12 users fail once each from one address within 24 minutes.
    let start = at("2026-10-21T11:00:00Z");
    for i in 0..12 {
        stream.push(login(
            start + i * 2 * MINUTE,
            &users[10 + i as usize],
            "failure",
            "198.51.100.9",
        ));
    }
    // A near miss: 8 users from another.
    for i in 0..8 {
        stream.push(login(
            start + i * 2 * MINUTE,
            &users[30 + i as usize],
            "failure",
            "198.51.100.10",
        ));
    }
    assert_eq!(
        alerts(stream),
        expect(&[("password-spraying", "198.51.100.9")])
    );
}

/// A successful sign-in of `user` at `when` from `location` with `device`.
fn sign_in(when: i64, user: &str, location: &str, device: &str) -> (i64, Value) {
    planted(
        when,
        json!({"action": "user.login", "actor": {"type": "user", "id": user},
               "context": {"location": location, "device": device}}),
    )
}

#[test]
fn a_sign_in_from_a_new_location_or_device() {
    let users = users();
    let (a, b, c, d) = (&users[0], &users[1], &users[2], &users[3]);
    let usual = |user: &str| format!("{user}'s usual device");
    let home = |user: &str| {
        let workload = Workload::new(7, 1, 20_000, 500, at(NOW));
        let actor = workload.tenants[0]
            .actors
            .iter()
            .find(|x| x.id == user)
            .unwrap();
        PLACES[actor.home].0
    };
    let stream = vec![
        // A new place, the usual device.
        sign_in(at("2026-11-10T10:00:00Z"), a, "Pyongyang, KP", &usual(a)),
        // The usual place, a new device.
        sign_in(at("2026-11-11T10:00:00Z"), b, home(b), "Unknown Linux box"),
        // Near miss: the usual place and device.
        sign_in(at("2026-11-12T10:00:00Z"), c, home(c), &usual(c)),
        // A place seen 40 days before is new again (remembered for 28): two alerts; one seen
        // 10 days before is not.
        sign_in(at("2026-10-01T10:00:00Z"), d, "Lisbon, PT", &usual(d)),
        sign_in(at("2026-11-10T12:00:00Z"), d, "Lisbon, PT", &usual(d)),
        sign_in(at("2026-11-20T12:00:00Z"), d, "Lisbon, PT", &usual(d)),
        // Near miss: a user's very first sign-in is no one's new place.
        sign_in(
            at("2026-11-13T10:00:00Z"),
            "usr_newcomer",
            "Reykjavik, IS",
            "Phone",
        ),
    ];
    assert_eq!(
        alerts(stream),
        expect(&[
            ("new-login-location", a),
            ("new-login-location", b),
            ("new-login-location", d),
            ("new-login-location", d),
        ])
    );
}

fn geo_sign_in(when: i64, user: &str, place: usize) -> (i64, Value) {
    planted(
        when,
        json!({"action": "user.login", "actor": {"type": "user", "id": user},
               "context": {"location": PLACES[place].0,
                           "geo": {"lat": COORDINATES[place].0, "lon": COORDINATES[place].1}}}),
    )
}

#[test]
fn impossible_travel_between_two_sign_ins() {
    let t = at("2026-11-03T08:00:00Z");
    let stream = vec![
        // Riyadh, then New York 30 minutes later.
        geo_sign_in(t, "usr_traveller", 0),
        geo_sign_in(t + 30 * MINUTE, "usr_traveller", 9),
        // Near miss: Riyadh to Jeddah (845 km) in three hours.
        geo_sign_in(t, "usr_driver", 0),
        geo_sign_in(t + 180 * MINUTE, "usr_driver", 1),
        // Near miss: Riyadh to London two days later.
        geo_sign_in(t, "usr_flyer", 0),
        geo_sign_in(t + 2 * 24 * 60 * MINUTE, "usr_flyer", 5),
    ];
    let mut stream = stream;
    // Each of them lives in Riyadh: give them a history there.
    for user in ["usr_traveller", "usr_driver", "usr_flyer"] {
        stream.push(geo_sign_in(t - 3 * 24 * 60 * MINUTE, user, 0));
    }
    // Each trip, possible or not, is also a sign-in from a place new to the traveller.
    assert_eq!(
        alerts(stream),
        expect(&[
            ("impossible-travel", "usr_traveller"),
            ("new-login-location", "usr_traveller"),
            ("new-login-location", "usr_driver"),
            ("new-login-location", "usr_flyer"),
        ])
    );
}

fn act(when: i64, actor: &str, action: &str, target: &str) -> (i64, Value) {
    planted(
        when,
        json!({"action": action, "actor": {"type": "user", "id": actor},
               "target": {"type": "document", "id": target}}),
    )
}

#[test]
fn mass_deletion_by_one_actor() {
    let users = users();
    let t = at("2026-10-28T13:00:00Z");
    let mut stream = Vec::new();
    for i in 0..12 {
        stream.push(act(
            t + i * MINUTE,
            &users[6],
            "document.deleted",
            &format!("doc_doomed_{i}"),
        ));
    }
    // Near misses: 10 different things; 20 deletions of the same 3.
    for i in 0..10 {
        stream.push(act(
            t + i * MINUTE,
            &users[7],
            "document.deleted",
            &format!("doc_spared_{i}"),
        ));
    }
    for i in 0..20 {
        stream.push(act(
            t + i * MINUTE,
            &users[8],
            "document.deleted",
            &format!("doc_same_{}", i % 3),
        ));
    }
    assert_eq!(alerts(stream), expect(&[("mass-delete", &users[6])]));
}

#[test]
fn mass_export_by_one_actor() {
    let users = users();
    let t = at("2026-10-29T13:00:00Z");
    let mut stream = Vec::new();
    for i in 0..11 {
        stream.push(act(
            t + i * 2 * MINUTE,
            &users[9],
            "report.exported",
            &format!("rep_{i}"),
        ));
    }
    // Near miss: 8 exports.
    for i in 0..8 {
        stream.push(act(
            t + i * 2 * MINUTE,
            &users[11],
            "document.downloaded",
            &format!("doc_{i}"),
        ));
    }
    assert_eq!(alerts(stream), expect(&[("mass-export", &users[9])]));
}

#[test]
fn mass_reading_by_one_actor() {
    let users = users();
    let t = at("2026-10-30T13:00:00Z");
    let mut stream = Vec::new();
    for i in 0..55 {
        stream.push(act(
            t + i * 20_000_000,
            &users[12],
            "document.read",
            &format!("doc_secret_{i}"),
        ));
    }
    // Near misses: 45 different documents; 80 reads of the same 5.
    for i in 0..45 {
        stream.push(act(
            t + i * 20_000_000,
            &users[13],
            "document.read",
            &format!("doc_open_{i}"),
        ));
    }
    for i in 0..80 {
        stream.push(act(
            t + i * 10_000_000,
            &users[14],
            "document.read",
            &format!("doc_fave_{}", i % 5),
        ));
    }
    assert_eq!(alerts(stream), expect(&[("mass-read", &users[12])]));
}

#[test]
fn an_administrative_role_granted() {
    let t = at("2026-11-04T15:00:00Z");
    let stream = vec![
        act(t, "usr_admin", "user.role_assigned", "usr_intern"),
        // The same actor again within the deduplication hour: the same alert.
        act(t + 10 * MINUTE, "usr_admin", "admin.added", "usr_other"),
        act(
            t + 5 * MINUTE,
            "usr_owner",
            "org.owner.promoted",
            "usr_friend",
        ),
        // Near misses: a role's permissions changed; a grant that failed.
        act(t, "usr_editor", "role.updated", "role_1"),
        planted(
            t,
            json!({"action": "user.role_assigned", "outcome": "failure",
                   "actor": {"type": "user", "id": "usr_blocked"}}),
        ),
    ];
    assert_eq!(
        alerts(stream),
        expect(&[
            ("admin-granted", "usr_admin"),
            ("admin-granted", "usr_owner")
        ])
    );
}

#[test]
fn multi_factor_authentication_disabled() {
    let t = at("2026-11-06T09:30:00Z");
    let stream = vec![
        act(t, "usr_careless", "user.mfa_disabled", "usr_careless"),
        act(t, "usr_helpdesk", "two_factor.reset", "usr_victim"),
        // Near misses: turned on; an attempt that failed.
        act(t, "usr_careful", "user.mfa_enabled", "usr_careful"),
        planted(
            t,
            json!({"action": "user.mfa_disabled", "outcome": "failure",
                   "actor": {"type": "user", "id": "usr_stopped"}}),
        ),
    ];
    assert_eq!(
        alerts(stream),
        expect(&[
            ("mfa-disabled", "usr_careless"),
            ("mfa-disabled", "usr_helpdesk")
        ])
    );
}

#[test]
fn an_api_key_made_outside_working_hours() {
    let key = |when: &str, actor: &str| {
        planted(
            at(when),
            json!({"action": "api_key.created", "actor": {"type": "user", "id": actor},
                   "target": {"type": "api_key", "id": format!("key_of_{actor}")}}),
        )
    };
    let stream = vec![
        // A Saturday afternoon; a Wednesday night.
        key("2026-11-07T14:00:00Z", "usr_weekend"),
        key("2026-11-11T23:30:00Z", "usr_night"),
        // Near miss: a Wednesday morning.
        key("2026-11-11T10:00:00Z", "usr_day"),
    ];
    assert_eq!(
        alerts(stream),
        expect(&[
            ("api-key-off-hours", "usr_night"),
            ("api-key-off-hours", "usr_weekend")
        ])
    );
}

#[test]
fn activity_by_a_revoked_key() {
    let t = at("2026-11-09T10:00:00Z");
    let by_key = |when: i64, key: &str| {
        planted(
            when,
            json!({"action": "invoice.created", "actor": {"type": "api_key", "id": key}}),
        )
    };
    let stream = vec![
        // Used before, revoked, used after.
        by_key(t - 60 * MINUTE, "key_stolen"),
        planted(
            t,
            json!({"action": "api_key.revoked", "actor": {"type": "user", "id": "usr_admin"},
                   "target": {"type": "api_key", "id": "key_stolen"}}),
        ),
        by_key(t + 120 * MINUTE, "key_stolen"),
        // A token named by id: revoked, then used.
        planted(
            t,
            json!({"action": "token.deleted", "actor": {"type": "user", "id": "usr_admin"},
                   "target": {"type": "token", "id": "tok_leaked"}}),
        ),
        planted(
            t + 5 * MINUTE,
            json!({"action": "document.read",
                   "actor": {"type": "user", "id": "usr_x", "token_id": "tok_leaked"}}),
        ),
        // Near miss: a key never revoked.
        by_key(t + 120 * MINUTE, "key_fine"),
    ];
    assert_eq!(
        alerts(stream),
        expect(&[
            ("revoked-key-activity", "key_stolen"),
            ("revoked-key-activity", "tok_leaked"),
        ])
    );
}
