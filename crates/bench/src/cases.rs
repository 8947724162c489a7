//! The six query shapes, and the list of concrete queries both systems answer, drawn once from
//! the seed so that each system gets exactly the same questions in the same order.

use crate::workload::{DAY_US, RARE_WORDS, Rng, SPAN_DAYS, Workload};

/// Rows a listing asks for, as a UI's first page would.
pub const PAGE: u32 = 50;

/// The query shapes of the comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// Tenant + a one-day time window, newest first.
    TimePage,
    /// Tenant + one actor over the last 30 days.
    Actor,
    /// Tenant + an action prefix (`contract.*`) over the last 30 days.
    ActionPrefix,
    /// Every event on one entity, oldest first.
    EntityHistory,
    /// A full-text word, newest first.
    FullText,
    /// Totals, unique actors, failed logins and counts by action over 30 days.
    StatsMonth,
    /// Counts by hour over the last 7 days: the viewer's histogram above its first page.
    HistogramWeek,
}

impl Shape {
    /// Every shape, in report order.
    pub const ALL: [Shape; 7] = [
        Shape::TimePage,
        Shape::Actor,
        Shape::ActionPrefix,
        Shape::EntityHistory,
        Shape::FullText,
        Shape::StatsMonth,
        Shape::HistogramWeek,
    ];

    /// Whether it counts (statistics) rather than lists.
    pub fn counts(self) -> bool {
        matches!(self, Shape::StatsMonth | Shape::HistogramWeek)
    }

    /// Its name in the report and the JSON.
    pub fn key(self) -> &'static str {
        match self {
            Shape::TimePage => "time_page",
            Shape::Actor => "actor",
            Shape::ActionPrefix => "action_prefix",
            Shape::EntityHistory => "entity_history",
            Shape::FullText => "full_text",
            Shape::StatsMonth => "stats_month",
            Shape::HistogramWeek => "histogram_week",
        }
    }

    /// What it asks, for people.
    pub fn describe(self) -> &'static str {
        match self {
            Shape::TimePage => "tenant + one-day window, first 50, newest first",
            Shape::Actor => "+ actor_id, last 30 days, first 50",
            Shape::ActionPrefix => "+ action prefix (contract.*), last 30 days, first 50",
            Shape::EntityHistory => "entity history (target type + id), oldest first",
            Shape::FullText => "full text, one rare word, first 50",
            Shape::StatsMonth => {
                "stats over 30 days: totals, unique actors, failed logins, by action"
            }
            Shape::HistogramWeek => "counts by hour over the last 7 days (the viewer's histogram)",
        }
    }
}

/// One concrete query.
#[derive(Debug, Clone)]
pub struct Case {
    /// Its shape.
    pub shape: Shape,
    /// The tenant asked about (the largest).
    pub tenant: String,
    /// Lower bound on `occurred_at`, microseconds, inclusive.
    pub since_us: Option<i64>,
    /// Upper bound on `occurred_at`, microseconds, exclusive.
    pub until_us: Option<i64>,
    /// Actor id (Actor).
    pub actor_id: Option<String>,
    /// Action prefix without the `.*` (ActionPrefix).
    pub action_prefix: Option<&'static str>,
    /// Target type and id (EntityHistory).
    pub target: Option<(&'static str, String)>,
    /// Full-text word (FullText).
    pub word: Option<&'static str>,
}

const PREFIXES: [&str; 4] = ["contract", "document", "invoice", "dns_record"];
const HISTORY_TYPES: [(&str, &str); 4] = [
    ("contract", "con"),
    ("document", "doc"),
    ("invoice", "inv"),
    ("entity", "ent"),
];

/// `runs` queries of `shape` about the largest tenant (plus one warm-up before them).
pub fn cases(workload: &Workload, shape: Shape, runs: u32) -> Vec<Case> {
    let mut rng = Rng::new(workload.seed ^ 0xCA5E, shape as u64);
    let tenant = &workload.tenants[0];
    let now = workload.now_us;
    (0..=runs)
        .map(|_| {
            let mut case = Case {
                shape,
                tenant: tenant.name.clone(),
                since_us: None,
                until_us: None,
                actor_id: None,
                action_prefix: None,
                target: None,
                word: None,
            };
            match shape {
                Shape::TimePage => {
                    let since = now - rng.below(SPAN_DAYS as u64) as i64 * DAY_US - DAY_US;
                    case.since_us = Some(since);
                    case.until_us = Some(since + DAY_US);
                }
                Shape::Actor => {
                    // Busy and occasional actors alike: ranks drawn uniformly.
                    let actor = rng.pick(&tenant.actors);
                    case.actor_id = Some(actor.id.clone());
                    case.since_us = Some(now - 30 * DAY_US);
                }
                Shape::ActionPrefix => {
                    case.action_prefix = Some(*rng.pick(&PREFIXES));
                    case.since_us = Some(now - 30 * DAY_US);
                }
                Shape::EntityHistory => {
                    let (kind, prefix) = *rng.pick(&HISTORY_TYPES);
                    let n = rng.below(tenant.targets_per_type);
                    case.target = Some((kind, format!("{prefix}_{n:06}")));
                }
                Shape::FullText => case.word = Some(*rng.pick(&RARE_WORDS)),
                Shape::StatsMonth => {
                    let end = now - rng.below(60) as i64 * DAY_US;
                    case.since_us = Some(end - 30 * DAY_US);
                    case.until_us = Some(end);
                }
                Shape::HistogramWeek => case.since_us = Some(now - 7 * DAY_US),
            }
            case
        })
        .collect()
}
