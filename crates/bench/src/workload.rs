//! The workload: audit events as a multi-tenant SaaS would send them, deterministic from a seed.
//!
//! Tenants have Zipf-distributed sizes (a few large customers, a long tail of small ones), and so
//! do the actors inside a tenant (a few busy users and integrations, many occasional ones). The
//! actions come from the vocabularies of the five systems Trailkeep serves (sign-ins with a share
//! of failures, CRUD on contracts, documents, invoices, DNS records, Port entities and Kore
//! settings with `changes` on updates, reads, exports, runs); the context carries realistic IP
//! addresses, user agents and locations, and the metadata has a different shape per kind of
//! action. Event `i` of the run occurs `i / total` of the way through the last 90 days, so time
//! windows hold what they would in a real trail.
//!
//! Batch `b` is generated from its own generator seeded by `(seed, b)`, so any batch can be made
//! again without the ones before it, and both systems receive exactly the same events.

use serde_json::{Value, json};
use time::OffsetDateTime;
use trailkeep_event::{Timestamp, category_for_action};

/// Microseconds in a day.
pub const DAY_US: i64 = 86_400_000_000;
/// Days over which the events are spread, ending at the run's start.
pub const SPAN_DAYS: i64 = 90;

/// A small, fast, deterministic generator (SplitMix64).
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator for the stream named by `seed` and `stream`.
    pub fn new(seed: u64, stream: u64) -> Self {
        let mut rng = Rng(seed ^ stream.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        rng.next();
        rng
    }

    /// The next 64 random bits.
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n` > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next()) * u128::from(n)) >> 64) as u64
    }

    /// True `percent`% of the time.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    /// One item of `items` (not empty), uniformly.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

/// A Zipf distribution over ranks `0..n`: rank `k` has weight `1 / (k + 1)^s`.
#[derive(Debug, Clone)]
pub struct Zipf {
    cumulative: Vec<f64>,
}

impl Zipf {
    /// The distribution over `n` (> 0) ranks with exponent `s`.
    pub fn new(n: usize, s: f64) -> Self {
        let mut total = 0.0;
        let cumulative = (0..n.max(1))
            .map(|k| {
                total += 1.0 / ((k + 1) as f64).powf(s);
                total
            })
            .collect::<Vec<_>>();
        let cumulative = cumulative.into_iter().map(|c| c / total).collect();
        Self { cumulative }
    }

    /// The share of all draws that rank `k` gets.
    pub fn share(&self, k: usize) -> f64 {
        self.cumulative[k] - if k == 0 { 0.0 } else { self.cumulative[k - 1] }
    }

    /// One rank.
    pub fn sample(&self, rng: &mut Rng) -> usize {
        let u = (rng.next() >> 11) as f64 / (1u64 << 53) as f64;
        self.cumulative
            .partition_point(|&c| c <= u)
            .min(self.cumulative.len() - 1)
    }
}

/// What the workload looks like, fixed for a run.
#[derive(Debug, Clone)]
pub struct Workload {
    /// Seed of every generator.
    pub seed: u64,
    /// Tenants, largest first.
    pub tenants: Vec<Tenant>,
    /// Events per batch.
    pub batch: usize,
    /// How tenants share the batches.
    tenant_zipf: Zipf,
    /// The run's "now", in microseconds since the epoch; events occur in the 90 days before.
    pub now_us: i64,
    /// Events in the whole run (batch-loaded ones), which spreads them over the 90 days.
    pub total: u64,
}

/// One tenant and the population it draws actors and targets from.
#[derive(Debug, Clone)]
pub struct Tenant {
    /// Its name: the tenant of the credential on one side, the `tenant` column on the other.
    pub name: String,
    /// The company it stands for (in e-mail domains and names).
    pub company: &'static str,
    /// Its actors, busiest first.
    pub actors: Vec<Actor>,
    actor_zipf: Zipf,
    /// Distinct ids per target type.
    pub targets_per_type: u64,
}

/// Who acts.
#[derive(Debug, Clone)]
pub struct Actor {
    /// user, api_key or system.
    pub kind: &'static str,
    /// Its id.
    pub id: String,
    /// Its e-mail (users only).
    pub email: Option<String>,
    /// Its display name.
    pub name: String,
    /// Index into [`PLACES`] where it usually is.
    pub home: usize,
}

/// One audit event, typed, so that both systems get the same fields.
#[derive(Debug, Clone)]
pub struct Event {
    /// Index of the tenant in [`Workload::tenants`].
    pub tenant: usize,
    /// When it happened, microseconds since the epoch.
    pub occurred_us: i64,
    /// What happened.
    pub action: &'static str,
    /// Its category, derived from the action as Trailkeep derives it.
    pub category: &'static str,
    /// success or failure.
    pub outcome: &'static str,
    /// Actor type, id, e-mail and name.
    pub actor_type: &'static str,
    /// The actor's id.
    pub actor_id: String,
    /// The actor's e-mail, for users.
    pub actor_email: Option<String>,
    /// The actor's name.
    pub actor_name: String,
    /// The target's type.
    pub target_type: &'static str,
    /// The target's id.
    pub target_id: String,
    /// The target's name.
    pub target_name: String,
    /// The client's IP address.
    pub ip: String,
    /// The client's user agent.
    pub user_agent: &'static str,
    /// Where the client was.
    pub location: &'static str,
    /// The rest of the context: device, login method, request.
    pub context_extra: Value,
    /// A sentence for people.
    pub description: String,
    /// Field changes, on updates.
    pub changes: Option<Value>,
    /// Shape depends on the kind of action.
    pub metadata: Value,
}

/// An action of the vocabulary: name, weight, target type.
struct ActionKind {
    name: &'static str,
    weight: u64,
    target: &'static str,
}

/// The actions, from the seeds' vocabularies (native dotted names; each dialect maps them).
const ACTIONS: [ActionKind; 30] = [
    act("user.login", 150, "user"),
    act("user.logout", 50, "user"),
    act("user.password_changed", 6, "user"),
    act("user.mfa_enabled", 4, "user"),
    act("user.invited", 5, "user"),
    act("contract.created", 40, "contract"),
    act("contract.updated", 60, "contract"),
    act("contract.approved", 20, "contract"),
    act("contract.rejected", 8, "contract"),
    act("contract.deleted", 6, "contract"),
    act("document.read", 120, "document"),
    act("document.downloaded", 30, "document"),
    act("document.created", 30, "document"),
    act("document.updated", 30, "document"),
    act("document.deleted", 8, "document"),
    act("invoice.created", 30, "invoice"),
    act("invoice.updated", 20, "invoice"),
    act("invoice.approved", 15, "invoice"),
    act("dns_record.created", 15, "dns_record"),
    act("dns_record.updated", 20, "dns_record"),
    act("dns_record.deleted", 6, "dns_record"),
    act("zone.settings_changed", 8, "zone"),
    act("api_key.created", 4, "api_key"),
    act("api_key.revoked", 2, "api_key"),
    act("role.updated", 5, "role"),
    act("usergroup.updated", 5, "usergroup"),
    act("blueprint.entity.created", 25, "entity"),
    act("blueprint.entity.updated", 35, "entity"),
    act("report.exported", 15, "report"),
    act("workflow.executed", 40, "workflow"),
];

const fn act(name: &'static str, weight: u64, target: &'static str) -> ActionKind {
    ActionKind {
        name,
        weight,
        target,
    }
}

/// Percent of sign-ins that fail.
const FAILED_LOGIN_PERCENT: u64 = 8;

/// Words that appear in roughly one event in 200 each: what the full-text shape searches for.
pub const RARE_WORDS: [&str; 4] = ["murabaha", "sukuk", "escrow", "arbitration"];

const WORDS: [&str; 40] = [
    "quarterly",
    "renewal",
    "draft",
    "annual",
    "budget",
    "vendor",
    "supplier",
    "policy",
    "compliance",
    "review",
    "payment",
    "schedule",
    "amendment",
    "signed",
    "pending",
    "customer",
    "onboarding",
    "migration",
    "legacy",
    "settlement",
    "branch",
    "treasury",
    "regional",
    "audit",
    "account",
    "statement",
    "approval",
    "workflow",
    "template",
    "archive",
    "portfolio",
    "lease",
    "financing",
    "invoice",
    "shipment",
    "warehouse",
    "partner",
    "pricing",
    "clause",
    "deadline",
];

const COMPANIES: [&str; 24] = [
    "acme",
    "globex",
    "initech",
    "umbrella",
    "hooli",
    "stark",
    "wayne",
    "wonka",
    "tyrell",
    "cyberdyne",
    "soylent",
    "massive",
    "oscorp",
    "aperture",
    "vandelay",
    "pied-piper",
    "gringotts",
    "monarch",
    "nakatomi",
    "dunder",
    "virtucon",
    "zorg",
    "prestige",
    "gekko",
];

const FIRST: [&str; 16] = [
    "Aisha", "Omar", "Fatimah", "Khalid", "Sara", "Yusuf", "Layla", "Hassan", "Noor", "Ali",
    "Maryam", "Ibrahim", "Elena", "James", "Priya", "Chen",
];

const LAST: [&str; 12] = [
    "Al-Harbi", "Haddad", "Rahman", "Qureshi", "Nasser", "Farouk", "Smith", "Garcia", "Kumar",
    "Wang", "Okafor", "Novak",
];

/// Places: (city and country, network prefix used for its office addresses).
pub const PLACES: [(&str, &str); 10] = [
    ("Riyadh, SA", "185.24"),
    ("Jeddah, SA", "188.51"),
    ("Dubai, AE", "94.200"),
    ("Doha, QA", "37.186"),
    ("Cairo, EG", "41.33"),
    ("London, GB", "81.2"),
    ("Frankfurt, DE", "85.214"),
    ("Mumbai, IN", "103.21"),
    ("Singapore, SG", "119.73"),
    ("New York, US", "98.116"),
];

const USER_AGENTS: [&str; 11] = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
    "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148",
    "Mozilla/5.0 (Linux; Android 15; Pixel 9) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36",
    "python-requests/2.32.3",
    "terraform-provider-cloudflare/4.48.0",
    "Go-http-client/2.0",
    "Portal/5.2.1 (iOS 18.1)",
    "Portal/5.2.0 (Android 15)",
    "okhttp/4.12.0",
];

const DEVICES: [&str; 5] = [
    "Chrome on Windows",
    "Safari on macOS",
    "Firefox on Linux",
    "iPhone",
    "Android phone",
];

const STATUSES: [&str; 5] = ["DRAFT", "PENDING_APPROVAL", "APPROVED", "ACTIVE", "CLOSED"];

impl Workload {
    /// The workload of `total` batch-loaded events in `tenants` tenants, in batches of `batch`.
    pub fn new(seed: u64, tenants: usize, total: u64, batch: usize, now_us: i64) -> Self {
        let tenant_zipf = Zipf::new(tenants.max(1), 1.1);
        let mut rng = Rng::new(seed, u64::MAX);
        let tenants = (0..tenants.max(1))
            .map(|k| {
                let expected = (total as f64 * tenant_zipf.share(k)) as u64;
                let company = COMPANIES[k % COMPANIES.len()];
                let name = if k < COMPANIES.len() {
                    company.to_owned()
                } else {
                    format!("{company}-{k}")
                };
                let people = (20 + expected / 400).min(5_000) as usize;
                let actors = (0..people)
                    .map(|n| {
                        let roll = rng.below(100);
                        let home = rng.below(PLACES.len() as u64) as usize;
                        if roll < 85 {
                            let first = *rng.pick(&FIRST);
                            let last = *rng.pick(&LAST);
                            Actor {
                                kind: "user",
                                id: format!("usr_{n:05}"),
                                email: Some(format!(
                                    "{}.{}{n}@{company}.example",
                                    first.to_ascii_lowercase(),
                                    last.to_ascii_lowercase().replace('-', "")
                                )),
                                name: format!("{first} {last}"),
                                home,
                            }
                        } else if roll < 96 {
                            Actor {
                                kind: "api_key",
                                id: format!("key_{n:05}"),
                                email: None,
                                name: format!(
                                    "{} integration",
                                    *rng.pick(&["CI", "ERP", "CRM", "billing", "terraform"])
                                ),
                                home,
                            }
                        } else {
                            Actor {
                                kind: "system",
                                id: format!("sys_{n:05}"),
                                email: None,
                                name: (*rng.pick(&["scheduler", "retention", "sync", "importer"]))
                                    .to_owned(),
                                home,
                            }
                        }
                    })
                    .collect::<Vec<_>>();
                let actor_zipf = Zipf::new(actors.len(), 1.0);
                Tenant {
                    name,
                    company,
                    actors,
                    actor_zipf,
                    targets_per_type: (expected / 60).max(50),
                }
            })
            .collect();
        Self {
            seed,
            tenants,
            batch: batch.max(1),
            tenant_zipf,
            now_us,
            total: total.max(1),
        }
    }

    /// Batches in the batch-loaded part.
    pub fn batches(&self) -> u64 {
        self.total.div_ceil(self.batch as u64)
    }

    /// Batch `b` (of [`batches`](Self::batches)): one tenant's events, in time order.
    pub fn batch(&self, b: u64) -> (usize, Vec<Event>) {
        let mut rng = Rng::new(self.seed, b);
        let tenant = self.tenant_zipf.sample(&mut rng);
        let first = b * self.batch as u64;
        let end = (first + self.batch as u64).min(self.total);
        let events = (first..end)
            .map(|i| self.event(&mut rng, tenant, i))
            .collect();
        (tenant, events)
    }

    /// The `n`th event of the single-event phase (after the batches, at the end of the span).
    pub fn single(&self, n: u64) -> Event {
        let mut rng = Rng::new(self.seed ^ 0x51_6E_67_6C_65, n);
        let tenant = self.tenant_zipf.sample(&mut rng);
        self.event(&mut rng, tenant, self.total)
    }

    /// Mean size in JSON of the events of the first (at most) hundred batches, bytes.
    pub fn sample_json_bytes(&self) -> f64 {
        let (mut bytes, mut events, mut out) = (0, 0, Vec::new());
        for b in 0..self.batches().min(100) {
            for event in self.batch(b).1 {
                out.clear();
                event.to_json(&mut out);
                bytes += out.len();
                events += 1;
            }
        }
        bytes as f64 / events.max(1) as f64
    }

    /// The `k`th batch of `size` events of the sustained-load phase: one tenant's, drawn like
    /// the loaded batches, occurring at the end of the span.
    pub fn sustained_batch(&self, k: u64, size: usize) -> (usize, Vec<Event>) {
        let mut rng = Rng::new(self.seed ^ 0x53_75_73_74, k);
        let tenant = self.tenant_zipf.sample(&mut rng);
        let events = (0..size)
            .map(|_| self.event(&mut rng, tenant, self.total))
            .collect();
        (tenant, events)
    }

    /// One event of `tenant`, the `i`th of the run (which sets when it occurred).
    fn event(&self, rng: &mut Rng, tenant_index: usize, i: u64) -> Event {
        let tenant = &self.tenants[tenant_index];
        let span = SPAN_DAYS * DAY_US;
        let occurred_us = self.now_us - span
            + (i128::from(span) * i128::from(i.min(self.total)) / i128::from(self.total)) as i64
            - rng.below(600_000_000) as i64;
        let actor = &tenant.actors[tenant.actor_zipf.sample(rng)];
        let kind = {
            let total: u64 = ACTIONS.iter().map(|a| a.weight).sum();
            let mut roll = rng.below(total);
            ACTIONS
                .iter()
                .find(|a| {
                    if roll < a.weight {
                        true
                    } else {
                        roll -= a.weight;
                        false
                    }
                })
                .unwrap_or(&ACTIONS[0])
        };
        let action = kind.name;
        let is_login = action == "user.login";
        let failed = is_login && rng.chance(FAILED_LOGIN_PERCENT);
        let place = if rng.chance(85) {
            actor.home
        } else {
            rng.below(PLACES.len() as u64) as usize
        };
        let ip = if rng.chance(10) {
            format!(
                "2001:db8:{:x}:{:x}::{:x}",
                place,
                rng.below(65_536),
                1 + rng.below(65_535)
            )
        } else {
            format!(
                "{}.{}.{}",
                PLACES[place].1,
                rng.below(256),
                1 + rng.below(254)
            )
        };
        let (target_id, target_name) = if kind.target == "user" {
            let who = if is_login || action == "user.logout" {
                actor
            } else {
                &tenant.actors[rng.below(tenant.actors.len() as u64) as usize]
            };
            (who.id.clone(), who.name.clone())
        } else {
            let n = rng.below(tenant.targets_per_type);
            (
                format!("{}_{n:06}", short(kind.target)),
                format!("{} {}", title(rng.pick::<&str>(&WORDS)), n),
            )
        };
        let mut words: Vec<&str> = (0..rng.below(3)).map(|_| *rng.pick(&WORDS)).collect();
        if rng.below(1000) < 5 * RARE_WORDS.len() as u64 {
            let at = rng.below(words.len() as u64 + 1) as usize;
            words.insert(at, *rng.pick(&RARE_WORDS));
        }
        let verb = action
            .rsplit('.')
            .next()
            .unwrap_or("changed")
            .replace('_', " ");
        let mut description = format!("{} {}", title(&verb), target_name);
        if !words.is_empty() {
            description.push_str(": ");
            description.push_str(&words.join(" "));
        }
        let mut extra = serde_json::Map::new();
        if actor.kind == "user" && rng.chance(30) {
            extra.insert("device".into(), json!(*rng.pick(&DEVICES)));
        }
        if is_login {
            extra.insert(
                "method".into(),
                json!(*rng.pick(&["PASSWORD", "SSO", "PASSKEY", "MFA_TOTP"])),
            );
        }
        if rng.chance(10) {
            let method = match verb.as_str() {
                "created" | "invited" | "executed" => "POST",
                "updated" | "approved" | "rejected" | "settings changed" => "PATCH",
                "deleted" | "revoked" => "DELETE",
                _ => "GET",
            };
            extra.insert(
                "request".into(),
                json!({
                    "method": method,
                    "uri": format!("/api/{}s/{target_id}", kind.target),
                    "status_code": if failed { 401 } else { 200 },
                }),
            );
        }
        let changes = action
            .ends_with("updated")
            .then(|| changes(rng, kind.target));
        let metadata = metadata(rng, kind.target, action, failed, tenant.company);
        Event {
            tenant: tenant_index,
            occurred_us,
            action,
            category: category_for_action(action).as_str(),
            outcome: if failed { "failure" } else { "success" },
            actor_type: actor.kind,
            actor_id: actor.id.clone(),
            actor_email: actor.email.clone(),
            actor_name: actor.name.clone(),
            target_type: kind.target,
            target_id,
            target_name,
            ip,
            user_agent: match actor.kind {
                // Half in a browser (the same one from the same place), half in the apps.
                "user" if rng.chance(50) => USER_AGENTS[(actor.home + place) % 5],
                "user" => USER_AGENTS[8 + rng.below(3) as usize],
                _ => USER_AGENTS[5 + rng.below(3) as usize],
            },
            location: PLACES[place].0,
            context_extra: Value::Object(extra),
            description,
            changes,
            metadata,
        }
    }
}

/// The id prefix of a target type.
fn short(target: &str) -> &str {
    match target {
        "contract" => "con",
        "document" => "doc",
        "invoice" => "inv",
        "dns_record" => "dns",
        "zone" => "zone",
        "api_key" => "key",
        "role" => "role",
        "usergroup" => "grp",
        "entity" => "ent",
        "report" => "rep",
        "workflow" => "wf",
        _ => "obj",
    }
}

fn title(word: &str) -> String {
    let mut out = word.to_owned();
    if let Some(first) = out.get_mut(..1) {
        first.make_ascii_uppercase();
    }
    out
}

/// What an update changed, by target type.
fn changes(rng: &mut Rng, target: &str) -> Value {
    let from = rng.below(STATUSES.len() as u64 - 1) as usize;
    let status = json!({"from": STATUSES[from], "to": STATUSES[from + 1]});
    match target {
        "contract" | "invoice" => json!({
            "status": status,
            "amount": {"from": money(rng), "to": money(rng)},
        }),
        "dns_record" => {
            json!({"content": {"from": format!("192.0.2.{}", rng.below(255)), "to": format!("192.0.2.{}", rng.below(255))}, "ttl": {"from": 3600, "to": 300}})
        }
        "role" | "usergroup" => json!({"permissions": {"from": ["read"], "to": ["read", "write"]}}),
        _ => json!({"status": status}),
    }
}

fn money(rng: &mut Rng) -> String {
    format!("{}.{:02}", 100 + rng.below(2_000_000), rng.below(100))
}

/// Metadata: a different shape for each kind of action.
fn metadata(rng: &mut Rng, target: &str, action: &str, failed: bool, company: &str) -> Value {
    let currency = *rng.pick(&["SAR", "SAR", "SAR", "USD", "AED", "EUR"]);
    match target {
        "user" if action == "user.login" => {
            let mut m = json!({
                "mfa": rng.chance(60),
            });
            if failed {
                m["reason"] =
                    json!(*rng.pick(&["invalid_password", "unknown_user", "mfa_failed", "locked"]));
            }
            m
        }
        "user" => json!({"session_id": format!("sess_{:012x}", rng.next() >> 16)}),
        "contract" => json!({
            "contractType": *rng.pick(&["MURABAHA", "IJARA", "MUSHARAKA", "TAWARRUQ"]),
            "amount": money(rng),
            "currency": currency,
            "party": {"country": *rng.pick(&["SA", "AE", "QA", "EG", "GB"])},
        }),
        "document" => json!({
            "size_bytes": 1_000 + rng.below(20_000_000),
            "mime": *rng.pick(&["application/pdf", "image/png", "text/csv", "application/zip"]),
            "tags": [*rng.pick(&WORDS), *rng.pick(&WORDS)],
        }),
        "invoice" => {
            json!({"amount": money(rng), "currency": currency, "due_in_days": 7 + rng.below(60)})
        }
        "dns_record" | "zone" => json!({
            "zone": {"id": format!("{:032x}", u128::from(rng.next()) << 64 | u128::from(rng.next())), "name": format!("{company}.example")},
            "record_type": *rng.pick(&["A", "AAAA", "CNAME", "TXT", "MX"]),
            "proxied": rng.chance(70),
        }),
        "api_key" | "role" | "usergroup" => {
            json!({"scopes": ["audit:read", *rng.pick(&["audit:write", "audit:export", "audit:admin"])]})
        }
        "entity" => {
            json!({"blueprint": *rng.pick(&["service", "microservice", "environment", "cluster"]), "properties_changed": rng.below(8)})
        }
        "report" => {
            json!({"format": *rng.pick(&["csv", "pdf", "json"]), "rows": rng.below(100_000)})
        }
        _ => json!({
            "run_id": format!("run_{:012x}", rng.next() >> 16),
            "duration_ms": rng.below(120_000),
            "status": *rng.pick(&["succeeded", "succeeded", "succeeded", "failed"]),
        }),
    }
}

impl Event {
    /// The event as Trailkeep's `POST /v1/events` takes it.
    pub fn to_json(&self, out: &mut Vec<u8>) {
        let mut actor =
            json!({"type": self.actor_type, "id": self.actor_id, "name": self.actor_name});
        if let Some(email) = &self.actor_email {
            actor["email"] = json!(email);
        }
        let mut context = json!({
            "ip_address": self.ip,
            "user_agent": self.user_agent,
            "location": self.location,
        });
        if let (Value::Object(into), Value::Object(extra)) = (&mut context, &self.context_extra) {
            into.extend(extra.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
        let mut event = json!({
            "occurred_at": rfc3339(self.occurred_us),
            "action": self.action,
            "outcome": self.outcome,
            "actor": actor,
            "target": {"type": self.target_type, "id": self.target_id, "name": self.target_name},
            "context": context,
            "description": self.description,
            "metadata": self.metadata,
        });
        if let Some(changes) = &self.changes {
            event["changes"] = changes.clone();
        }
        serde_json::to_writer(out, &event).expect("a JSON value always serialises");
    }

    /// When it happened.
    pub fn occurred_at(&self) -> OffsetDateTime {
        datetime(self.occurred_us)
    }
}

/// Microseconds since the epoch as a date-time.
pub fn datetime(us: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(us) * 1_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// Microseconds since the epoch in RFC 3339, UTC, spelt as Trailkeep spells instants
/// (`trailkeep_event::Timestamp`: microseconds, trailing zeros dropped); empty outside years 1
/// to 9999, which the workload never leaves.
pub fn rfc3339(us: i64) -> String {
    Timestamp::from_micros(us).map_or_else(String::new, |t| t.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn workload() -> Workload {
        let now = Timestamp::now().as_micros();
        Workload::new(7, 12, 20_000, 500, now)
    }

    #[test]
    fn a_batch_is_the_same_every_time_it_is_made() {
        let w = workload();
        let (t1, a) = w.batch(17);
        let (t2, b) = w.batch(17);
        assert_eq!(t1, t2);
        let render = |events: &[Event]| {
            let mut out = Vec::new();
            events.iter().for_each(|e| e.to_json(&mut out));
            out
        };
        assert_eq!(render(&a), render(&b));
        assert_ne!(render(&a), render(&w.batch(18).1));
    }

    #[test]
    fn events_are_about_500_bytes_valid_and_varied() {
        let w = workload();
        let mut bytes = 0;
        let mut count = 0;
        let mut failed_logins = 0;
        let mut logins = 0;
        let mut with_changes = 0;
        let mut rare = 0;
        let mut actor_types = std::collections::BTreeSet::new();
        for b in 0..w.batches() {
            let (tenant, events) = w.batch(b);
            for e in events {
                assert_eq!(e.tenant, tenant);
                let mut json = Vec::new();
                e.to_json(&mut json);
                let value: Value = serde_json::from_slice(&json).expect("JSON");
                trailkeep_event::prepare(
                    &value,
                    &w.tenants[tenant].name,
                    trailkeep_event::Timestamp::now(),
                )
                .unwrap_or_else(|errors| panic!("{errors:?} in {value}"));
                bytes += json.len();
                count += 1;
                logins += u32::from(e.action == "user.login");
                failed_logins += u32::from(e.outcome == "failure");
                with_changes += u32::from(e.changes.is_some());
                rare += u32::from(RARE_WORDS.iter().any(|w| e.description.contains(w)));
                actor_types.insert(e.actor_type);
                assert!(e.occurred_us <= w.now_us);
                assert!(e.occurred_us >= w.now_us - (SPAN_DAYS + 1) * DAY_US);
            }
        }
        assert_eq!(count, 20_000);
        let mean = bytes / count as usize;
        eprintln!("mean event: {mean} bytes as JSON");
        assert!((450..=560).contains(&mean), "mean {mean} bytes");
        let failure_share = f64::from(failed_logins) / f64::from(logins);
        assert!((0.05..0.11).contains(&failure_share), "{failure_share}");
        assert!(with_changes > 1_500, "{with_changes} updates with changes");
        assert!(
            (250..=550).contains(&rare),
            "{rare} events with a rare word"
        );
        assert_eq!(
            actor_types.into_iter().collect::<Vec<_>>(),
            ["api_key", "system", "user"]
        );
    }

    #[test]
    fn tenant_sizes_follow_zipf() {
        let w = Workload::new(3, 10, 2_000_000, 100, 1_800_000_000_000_000);
        let mut per_tenant = vec![0u64; 10];
        for b in 0..w.batches() {
            let mut rng = Rng::new(w.seed, b);
            per_tenant[w.tenant_zipf.sample(&mut rng)] += 1;
        }
        let share0 = per_tenant[0] as f64 / w.batches() as f64;
        assert!((share0 - w.tenant_zipf.share(0)).abs() < 0.01, "{share0}");
        assert!(per_tenant[0] > 3 * per_tenant[4], "{per_tenant:?}");
        assert!(per_tenant[9] > 0, "{per_tenant:?}");
    }

    #[test]
    fn rfc3339_keeps_microseconds() {
        assert_eq!(
            rfc3339(1_700_000_000_123_456),
            "2023-11-14T22:13:20.123456Z"
        );
    }
}
