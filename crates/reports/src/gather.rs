//! Gathering a report: the store's statistics for the counts, one pass over the tenant's
//! events for the lists and the attestation, the alerts and credentials for the rest.

use std::collections::{HashMap, HashSet};

use serde_json::{Value, json};
use trailkeep_detect::{AlertQuery, AlertState, Predicate, alert};
use trailkeep_event::{Category, Event, Filter, Outcome, Timestamp};
use trailkeep_store::{ApiKeyRecord, CanonicalEvent, GroupBy, Stats, Store, StoreError};

use crate::attest::{self, TrailCheck};
use crate::model::{Chart, ChartKind, Report, Section, Series, Table};
use crate::spec::{Period, ReportSpec, ReportType};

/// Most rows a listing table holds (the total is given beside it).
pub const MAX_ROWS: usize = 200;

/// Most rows a table of counts holds.
const MAX_COUNT_ROWS: usize = 100;

/// Most bars a chart of counts draws.
const MAX_BARS: usize = 15;

/// Events read from the store at a time.
const CHUNK: usize = 2_000;

/// Most distinct addresses counted for failed sign-ins.
const MAX_ADDRESSES: usize = 100_000;

/// Most alerts a report reads.
const MAX_ALERTS: usize = 10_000;

/// The columns of a table of events.
const EVENT_COLUMNS: [&str; 6] = ["Time (UTC)", "Actor", "Action", "Target", "Outcome", "Seq"];

/// Gathers report `id` of `tenant` as `spec` asks. `progress` is told how many events of how
/// many were read after each chunk and answers whether to go on; `None` when it said stop.
pub async fn gather(
    store: &dyn Store,
    id: &str,
    tenant: &str,
    spec: &ReportSpec,
    progress: &(dyn Fn(u64, u64) -> bool + Sync),
) -> Result<Option<Report>, StoreError> {
    let size = store.tree_size(tenant).await?;
    let checkpoint = store.checkpoint_covering(tenant, size.max(1)).await?;
    let keys = store.api_keys(tenant).await?;
    let mut observer = Observer::new(spec, &keys);
    let mut check = TrailCheck::new(tenant);
    let mut next = 0;
    while next < checkpoint.size {
        let want = CHUNK.min((checkpoint.size - next) as usize);
        let chunk = store.scan_canonical(tenant, next, want).await?;
        let Some(last) = chunk.last() else { break };
        next = last.seq + 1;
        for event in &chunk {
            check.push(event);
            observer.observe(event)?;
        }
        if !progress(next, checkpoint.size) {
            return Ok(None);
        }
    }
    let verification = check.finish(&checkpoint, observer.period_events);
    let previous = attest::previous(store, tenant, id, &checkpoint).await?;
    let attestation = attest::attestation(store.vkey(), &checkpoint, previous, verification);
    let counts = Counts::read(store, tenant, spec).await?;
    let alerts = read_alerts(store, tenant, &spec.period).await?;
    let sections = match spec.report_type {
        ReportType::ComplianceSummary => {
            let mut sections = vec![overview(&counts.all)];
            if spec.include_stats {
                sections.push(activity(&counts.all, &spec.period));
            }
            sections.push(sign_ins(&counts, &observer, &spec.period));
            sections.push(privileged(&observer));
            sections.push(audit_access(&observer));
            sections.push(alerts_section(&alerts));
            sections.push(controls(&sections));
            sections
        }
        ReportType::AccessReview => {
            let mut sections = vec![
                credentials(&keys, &observer, &spec.period),
                privileged(&observer),
                data_access(&counts),
                audit_access(&observer),
            ];
            sections.push(controls(&sections));
            sections
        }
        ReportType::SecurityEvents => {
            let mut sections = vec![
                sign_ins(&counts, &observer, &spec.period),
                alerts_section(&alerts),
                after_hours(&observer),
            ];
            sections.push(controls(&sections));
            sections
        }
    };
    Ok(Some(Report {
        id: id.to_owned(),
        report_type: spec.report_type,
        title: spec.report_type.title().to_owned(),
        tenant: tenant.to_owned(),
        period: spec.period,
        generated_at: Timestamp::now(),
        generator: format!("trailkeep {}", env!("CARGO_PKG_VERSION")),
        sections,
        attestation,
    }))
}

/// The store's statistics a report reads.
struct Counts {
    /// Every event of the period.
    all: Stats,
    /// Its sign-ins, by day and outcome.
    logins: Stats,
    /// Its failed sign-ins, by day and actor.
    failed: Stats,
    /// Its reads, by actor and entity type (an access review's).
    reads: Stats,
    /// Its exports, by actor and entity type (an access review's).
    exports: Stats,
}

impl Counts {
    async fn read(store: &dyn Store, tenant: &str, spec: &ReportSpec) -> Result<Self, StoreError> {
        let period = period_filter(&spec.period);
        let of = |categories: Vec<Category>, outcome: Option<Outcome>| Filter {
            categories,
            outcome,
            ..period.clone()
        };
        // Every dimension but the hours and minutes, which a report never charts.
        let dimensions: Vec<GroupBy> = GroupBy::ALL
            .into_iter()
            .filter(|g| !matches!(g, GroupBy::Hour | GroupBy::Minute))
            .collect();
        let all = store.stats(tenant, &period, &dimensions).await?;
        let logins = store
            .stats(
                tenant,
                &of(vec![Category::Login], None),
                &[GroupBy::Day, GroupBy::Outcome],
            )
            .await?;
        let failed = store
            .stats(
                tenant,
                &of(vec![Category::Login], Some(Outcome::Failure)),
                &[GroupBy::Day, GroupBy::Actor],
            )
            .await?;
        let access = spec.report_type == ReportType::AccessReview;
        let (reads, exports) = if access {
            let groups = [GroupBy::Actor, GroupBy::TargetType];
            (
                store
                    .stats(tenant, &of(vec![Category::Read], None), &groups)
                    .await?,
                store
                    .stats(tenant, &of(vec![Category::Export], None), &groups)
                    .await?,
            )
        } else {
            (Stats::default(), Stats::default())
        };
        Ok(Counts {
            all,
            logins,
            failed,
            reads,
            exports,
        })
    }
}

/// The filter of the period's events.
pub fn period_filter(period: &Period) -> Filter {
    Filter {
        since: Some(period.from),
        until: Some(period.to),
        ..Filter::default()
    }
}

/// A table's rows as it fills, capped at [`MAX_ROWS`], counting every row.
#[derive(Default)]
struct Rows {
    rows: Vec<Vec<Value>>,
    total: u64,
}

impl Rows {
    fn add(&mut self, row: Vec<Value>) {
        self.total += 1;
        if self.rows.len() < MAX_ROWS {
            self.rows.push(row);
        }
    }

    fn table(&self, id: &str, title: &str, columns: &[&str]) -> Table {
        Table {
            id: id.to_owned(),
            title: title.to_owned(),
            columns: columns.iter().map(|c| (*c).to_owned()).collect(),
            rows: self.rows.clone(),
            total_rows: self.total,
        }
    }
}

/// What the pass over the events keeps.
struct Observer {
    period: Period,
    /// Whether every event is read (an access review's last use of each key), or only the
    /// period's.
    read_all: bool,
    key_ids: HashSet<String>,
    period_events: u64,
    privileged: Rows,
    after_hours: Rows,
    audit_access: Rows,
    exports_requested: u64,
    reports_requested: u64,
    failed_addresses: HashMap<String, u64>,
    key_last_seen: HashMap<String, Timestamp>,
}

impl Observer {
    fn new(spec: &ReportSpec, keys: &[ApiKeyRecord]) -> Self {
        Observer {
            period: spec.period,
            read_all: spec.report_type == ReportType::AccessReview,
            key_ids: keys.iter().map(|k| k.id.clone()).collect(),
            period_events: 0,
            privileged: Rows::default(),
            after_hours: Rows::default(),
            audit_access: Rows::default(),
            exports_requested: 0,
            reports_requested: 0,
            failed_addresses: HashMap::new(),
            key_last_seen: HashMap::new(),
        }
    }

    fn observe(&mut self, stored: &CanonicalEvent) -> Result<(), StoreError> {
        let in_period = self.period.contains(stored.occurred_at);
        if !in_period && !self.read_all {
            return Ok(());
        }
        let mut event: Event = serde_json::from_slice(&stored.canonical)
            .map_err(|e| StoreError::Corrupt(format!("seq {}: {e}", stored.seq)))?;
        event.seq = stored.seq;
        if let Some(key) = key_used(&event).filter(|k| self.key_ids.contains(*k)) {
            let seen = self
                .key_last_seen
                .entry(key.to_owned())
                .or_insert(event.occurred_at);
            *seen = (*seen).max(event.occurred_at);
        }
        if !in_period {
            return Ok(());
        }
        self.period_events += 1;
        if is_privileged(&event) {
            self.privileged.add(event_row(&event));
            if !working_hours(event.occurred_at) {
                self.after_hours.add(event_row(&event));
            }
        }
        if event.action.starts_with("audit.export.") || event.action.starts_with("audit.report.") {
            self.audit_access.add(event_row(&event));
            match event.action.as_str() {
                "audit.export.requested" => self.exports_requested += 1,
                "audit.report.requested" => self.reports_requested += 1,
                _ => {}
            }
        }
        if event.category == Category::Login && event.outcome == Outcome::Failure {
            let address = event.context.as_ref().and_then(|c| c.ip_address.as_deref());
            if let Some(address) = address {
                if let Some(count) = self.failed_addresses.get_mut(address) {
                    *count += 1;
                } else if self.failed_addresses.len() < MAX_ADDRESSES {
                    self.failed_addresses.insert(address.to_owned(), 1);
                }
            }
        }
        Ok(())
    }
}

/// The key an event names as its actor: `actor.token_id`, or the actor's id.
fn key_used(event: &Event) -> Option<&str> {
    let actor = event.actor.as_ref()?;
    actor.token_id.as_deref().or(actor.id.as_deref())
}

/// Whether an event is an administrative or privileged change: a role or right granted, MFA
/// turned off, a credential made or revoked, or a change to roles, permissions or settings.
fn is_privileged(event: &Event) -> bool {
    const OBJECTS: [&str; 10] = [
        "role",
        "roles",
        "permission",
        "permissions",
        "setting",
        "settings",
        "config",
        "configuration",
        "policy",
        "policies",
    ];
    let changes = matches!(
        event.category,
        Category::Create | Category::Update | Category::Delete
    );
    [
        Predicate::AdminGranted,
        Predicate::MfaDisabled,
        Predicate::KeyCreated,
        Predicate::KeyRevoked,
    ]
    .iter()
    .any(|p| p.matches(event))
        || (changes
            && event
                .action
                .split(|c: char| !c.is_ascii_alphanumeric())
                .any(|w| OBJECTS.iter().any(|o| o.eq_ignore_ascii_case(w))))
}

/// Whether `at` falls within working hours: 08:00 to 18:00 UTC, Monday to Friday.
fn working_hours(at: Timestamp) -> bool {
    let seconds = at.as_micros().div_euclid(1_000_000);
    let hour = seconds.rem_euclid(86_400) / 3600;
    // 1970-01-01 was a Thursday: day 0 is weekday 3 counting Monday as 0.
    let weekday = (seconds.div_euclid(86_400) + 3).rem_euclid(7);
    (8..18).contains(&hour) && weekday < 5
}

/// An event as a row of [`EVENT_COLUMNS`].
fn event_row(event: &Event) -> Vec<Value> {
    let actor = event
        .actor
        .as_ref()
        .and_then(|a| a.id.clone().or_else(|| a.email.clone()))
        .unwrap_or_else(|| "-".into());
    let target = event
        .target
        .as_ref()
        .map(|t| {
            format!(
                "{}:{}",
                t.kind.as_deref().unwrap_or("-"),
                t.id.as_deref().unwrap_or("-")
            )
        })
        .unwrap_or_else(|| "-".into());
    vec![
        json!(event.occurred_at.to_string()),
        json!(actor),
        json!(event.action),
        json!(target),
        json!(event.outcome.as_str()),
        json!(event.seq),
    ]
}

/// A group's counts, as the store answered them.
fn group(stats: &Stats, by: GroupBy) -> &[(String, u64)] {
    stats.groups.get(&by).map(Vec::as_slice).unwrap_or(&[])
}

/// A table of counts, the first [`MAX_COUNT_ROWS`] of a group.
fn count_table(stats: &Stats, by: GroupBy, id: &str, title: &str, heading: &str) -> Table {
    let counts = group(stats, by);
    Table {
        id: id.to_owned(),
        title: title.to_owned(),
        columns: vec![heading.to_owned(), "Events".to_owned()],
        rows: counts
            .iter()
            .take(MAX_COUNT_ROWS)
            .map(|(value, count)| vec![json!(value), json!(count)])
            .collect(),
        total_rows: counts.len() as u64,
    }
}

/// A bar chart of a group's largest counts.
fn bars(stats: &Stats, by: GroupBy, id: &str, title: &str) -> Chart {
    let counts = group(stats, by);
    Chart {
        id: id.to_owned(),
        title: title.to_owned(),
        kind: ChartKind::Bars,
        labels: counts
            .iter()
            .take(MAX_BARS)
            .map(|(v, _)| v.clone())
            .collect(),
        series: vec![Series {
            name: "Events".into(),
            values: counts.iter().take(MAX_BARS).map(|(_, c)| *c).collect(),
        }],
    }
}

/// Each day of the period's count in a by-day group (0 for a day without events).
fn per_day(stats: &Stats, period: &Period) -> (Vec<String>, Vec<u64>) {
    let counts: HashMap<&str, u64> = group(stats, GroupBy::Day)
        .iter()
        .map(|(day, count)| (day.as_str(), *count))
        .collect();
    let days = period.days();
    let values = days
        .iter()
        .map(|d| counts.get(d.as_str()).copied().unwrap_or(0))
        .collect();
    (days, values)
}

fn overview(all: &Stats) -> Section {
    Section::new(
        "overview",
        "Overview",
        &["ISO 27001 A.8.15", "PCI DSS 10.2.2"],
        "Every event recorded in the trail with a time (occurred_at) within the period, \
         counted by the store's statistics: the same numbers GET /v1/stats answers for the \
         period.",
    )
    .figure("total_events", "Events", all.total)
    .figure("unique_actors", "Unique actors", all.unique_actors)
    .figure("failed_logins", "Failed sign-ins", all.failed_logins)
}

fn activity(all: &Stats, period: &Period) -> Section {
    let (days, values) = per_day(all, period);
    Section::new(
        "activity",
        "Activity",
        &["ISO 27001 A.8.15", "SOC 2 CC7.2"],
        "What was done, to what and by whom: events per day, by action, by category, by \
         entity type, and the most active actors.",
    )
    .chart(Chart {
        id: "daily_volume".into(),
        title: "Events per day (UTC)".into(),
        kind: ChartKind::Columns,
        labels: days,
        series: vec![Series {
            name: "Events".into(),
            values,
        }],
    })
    .chart(bars(
        all,
        GroupBy::Action,
        "top_actions",
        "Most frequent actions",
    ))
    .table(count_table(
        all,
        GroupBy::Action,
        "by_action",
        "Events by action",
        "Action",
    ))
    .table(count_table(
        all,
        GroupBy::Category,
        "by_category",
        "Events by category",
        "Category",
    ))
    .table(count_table(
        all,
        GroupBy::TargetType,
        "by_entity_type",
        "Events by entity type",
        "Entity type",
    ))
    .table(count_table(
        all,
        GroupBy::Actor,
        "top_actors",
        "Most active actors",
        "Actor",
    ))
}

fn sign_ins(counts: &Counts, observer: &Observer, period: &Period) -> Section {
    let outcomes: HashMap<&str, u64> = group(&counts.logins, GroupBy::Outcome)
        .iter()
        .map(|(o, c)| (o.as_str(), *c))
        .collect();
    let (days, failed) = per_day(&counts.failed, period);
    let (_, all) = per_day(&counts.logins, period);
    let succeeded = all
        .iter()
        .zip(&failed)
        .map(|(a, f)| a.saturating_sub(*f))
        .collect();
    let mut addresses: Vec<(&String, &u64)> = observer.failed_addresses.iter().collect();
    addresses.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    Section::new(
        "sign_ins",
        "Sign-ins",
        &["SOC 2 CC6.1", "PCI DSS 10.2.1.4", "ISO 27001 A.8.15"],
        "Sign-ins (events of category login) per day, those that failed, and where the \
         failures came from.",
    )
    .figure("sign_ins", "Sign-ins", counts.logins.total)
    .figure(
        "succeeded",
        "Succeeded",
        outcomes.get("success").copied().unwrap_or(0),
    )
    .figure("failed", "Failed", counts.failed.total)
    .chart(Chart {
        id: "sign_ins_per_day".into(),
        title: "Sign-ins per day (UTC)".into(),
        kind: ChartKind::Columns,
        labels: days,
        series: vec![
            Series {
                name: "Other".into(),
                values: succeeded,
            },
            Series {
                name: "Failed".into(),
                values: failed,
            },
        ],
    })
    .table(count_table(
        &counts.failed,
        GroupBy::Actor,
        "failed_by_actor",
        "Failed sign-ins by actor",
        "Actor",
    ))
    .table(Table {
        id: "failed_by_address".into(),
        title: "Failed sign-ins by address".into(),
        columns: vec!["Address".into(), "Events".into()],
        rows: addresses
            .iter()
            .take(MAX_COUNT_ROWS)
            .map(|(a, c)| vec![json!(a), json!(c)])
            .collect(),
        total_rows: addresses.len() as u64,
    })
}

fn privileged(observer: &Observer) -> Section {
    Section::new(
        "privileged_changes",
        "Administrative and privileged changes",
        &[
            "SOC 2 CC6.2",
            "SOC 2 CC6.3",
            "PCI DSS 10.2.1.2",
            "PCI DSS 10.2.1.5",
        ],
        "Roles and rights granted, multi-factor authentication turned off, credentials made \
         or revoked, and changes to roles, permissions, settings and policies, oldest first.",
    )
    .figure("privileged_changes", "Changes", observer.privileged.total)
    .table(
        observer
            .privileged
            .table("privileged_changes", "Changes", &EVENT_COLUMNS),
    )
}

fn audit_access(observer: &Observer) -> Section {
    Section::new(
        "audit_log_access",
        "Access to the audit trail",
        &["PCI DSS 10.2.1.3", "ISO 27001 A.8.15"],
        "Exports and reports of the trail itself, as the service recorded them, oldest first.",
    )
    .figure(
        "exports_requested",
        "Exports requested",
        observer.exports_requested,
    )
    .figure(
        "reports_requested",
        "Reports requested",
        observer.reports_requested,
    )
    .table(observer.audit_access.table(
        "audit_log_access",
        "Exports and reports",
        &EVENT_COLUMNS,
    ))
}

fn after_hours(observer: &Observer) -> Section {
    Section::new(
        "after_hours",
        "Administrative activity outside working hours",
        &["SOC 2 CC7.2", "PCI DSS 10.2.1.2"],
        "Administrative and privileged changes made outside 08:00-18:00 UTC, Monday to \
         Friday, oldest first.",
    )
    .figure("after_hours_changes", "Changes", observer.after_hours.total)
    .table(
        observer
            .after_hours
            .table("after_hours_changes", "Changes", &EVENT_COLUMNS),
    )
}

/// The period's alerts (raised within it), newest first.
async fn read_alerts(
    store: &dyn Store,
    tenant: &str,
    period: &Period,
) -> Result<Vec<alert::Alert>, StoreError> {
    let query = AlertQuery {
        since: Some(period.from.as_micros().div_euclid(1000)),
        until: Some(period.to.as_micros().div_euclid(1000)),
        ..AlertQuery::default()
    };
    match alert::list(store, tenant, &query, MAX_ALERTS).await {
        Ok((alerts, _)) => Ok(alerts),
        Err(alert::AlertError::Store(e)) => Err(e),
        Err(e) => Err(StoreError::Internal(e.to_string())),
    }
}

fn alerts_section(alerts: &[alert::Alert]) -> Section {
    let in_state = |state| alerts.iter().filter(|a| a.state == state).count() as u64;
    let mut by_rule: HashMap<&str, u64> = HashMap::new();
    for alert in alerts {
        *by_rule.entry(alert.rule_name.as_str()).or_default() += 1;
    }
    let mut by_rule: Vec<(&str, u64)> = by_rule.into_iter().collect();
    by_rule.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    let mut rows = Rows::default();
    for alert in alerts {
        rows.add(vec![
            json!(trailkeep_event::Timestamp::millis_rfc3339(alert.created_at)),
            json!(alert.rule_name),
            json!(alert.severity.as_str()),
            json!(alert.key),
            json!(alert.state.as_str()),
            json!(alert.count),
        ]);
    }
    Section::new(
        "alerts",
        "Alerts",
        &["SOC 2 CC7.2", "SOC 2 CC7.3", "PCI DSS 10.4.1.1"],
        "What detection raised in the period (automated review of the trail), and where each \
         alert stands.",
    )
    .figure("alerts_raised", "Raised", alerts.len() as u64)
    .figure("alerts_open", "Open", in_state(AlertState::Open))
    .figure(
        "alerts_acknowledged",
        "Acknowledged",
        in_state(AlertState::Acknowledged),
    )
    .figure(
        "alerts_resolved",
        "Resolved",
        in_state(AlertState::Resolved),
    )
    .table(Table {
        id: "alerts_by_rule".into(),
        title: "Alerts by rule".into(),
        columns: vec!["Rule".into(), "Alerts".into()],
        rows: by_rule
            .iter()
            .map(|(r, c)| vec![json!(r), json!(c)])
            .collect(),
        total_rows: by_rule.len() as u64,
    })
    .table(rows.table(
        "alerts",
        "Alerts, newest first",
        &["Raised (UTC)", "Rule", "Severity", "Key", "State", "Events"],
    ))
}

fn credentials(keys: &[ApiKeyRecord], observer: &Observer, period: &Period) -> Section {
    let seconds = |at: i64| Timestamp::from_micros(at.saturating_mul(1_000_000));
    let within = |at: Option<i64>| at.and_then(seconds).is_some_and(|t| period.contains(t));
    let text = |at: Option<i64>| {
        at.and_then(seconds)
            .map_or_else(|| "-".to_owned(), |t| t.to_string())
    };
    let mut rows = Rows::default();
    for key in keys {
        rows.add(vec![
            json!(key.id),
            json!(key.name),
            json!(key.roles.join(" ")),
            json!(key.created_by),
            json!(text(Some(key.created_at))),
            json!(text(key.revoked_at)),
            json!(
                observer
                    .key_last_seen
                    .get(&key.id)
                    .map_or_else(|| "-".to_owned(), |t| t.to_string())
            ),
        ]);
    }
    let active = keys.iter().filter(|k| k.revoked_at.is_none()).count() as u64;
    Section::new(
        "credentials",
        "Credentials and roles",
        &[
            "SOC 2 CC6.1",
            "SOC 2 CC6.2",
            "SOC 2 CC6.3",
            "PCI DSS 10.2.1.5",
        ],
        "Every API key of the tenant with its roles, who made it, when it was made and \
         revoked, and when the trail last names it as an actor.",
    )
    .figure("keys", "API keys", keys.len() as u64)
    .figure("keys_active", "Not revoked", active)
    .figure(
        "keys_created",
        "Made in the period",
        keys.iter().filter(|k| within(Some(k.created_at))).count() as u64,
    )
    .figure(
        "keys_revoked",
        "Revoked in the period",
        keys.iter().filter(|k| within(k.revoked_at)).count() as u64,
    )
    .table(rows.table(
        "keys",
        "API keys",
        &[
            "Key",
            "Name",
            "Roles",
            "Made by",
            "Made (UTC)",
            "Revoked (UTC)",
            "Last named (UTC)",
        ],
    ))
}

fn data_access(counts: &Counts) -> Section {
    Section::new(
        "data_access",
        "Who read or exported what",
        &["PCI DSS 10.2.1.1", "ISO 27001 A.8.15"],
        "Reads (category read) and exports (category export) in the period, by actor and by \
         entity type.",
    )
    .figure("reads", "Reads", counts.reads.total)
    .figure("exports", "Exports", counts.exports.total)
    .table(count_table(
        &counts.reads,
        GroupBy::Actor,
        "reads_by_actor",
        "Reads by actor",
        "Actor",
    ))
    .table(count_table(
        &counts.reads,
        GroupBy::TargetType,
        "reads_by_entity_type",
        "Reads by entity type",
        "Entity type",
    ))
    .table(count_table(
        &counts.exports,
        GroupBy::Actor,
        "exports_by_actor",
        "Exports by actor",
        "Actor",
    ))
    .table(count_table(
        &counts.exports,
        GroupBy::TargetType,
        "exports_by_entity_type",
        "Exports by entity type",
        "Entity type",
    ))
}

/// What each control is, in a line.
fn control_text(control: &str) -> &'static str {
    match control {
        "SOC 2 CC6.1" => "Logical access: authentication and privileged use",
        "SOC 2 CC6.2" => "Access granted to new users and credentials",
        "SOC 2 CC6.3" => "Access changed and removed",
        "SOC 2 CC7.2" => "System components monitored for anomalies",
        "SOC 2 CC7.3" => "Security events evaluated",
        "ISO 27001 A.8.15" => "Logs produced, stored, protected and analysed",
        "PCI DSS 10.2.1.1" => "Individual access to cardholder data logged",
        "PCI DSS 10.2.1.2" => "Administrative actions logged",
        "PCI DSS 10.2.1.3" => "Access to audit logs logged",
        "PCI DSS 10.2.1.4" => "Invalid logical access attempts logged",
        "PCI DSS 10.2.1.5" => "Changes to identification and authentication credentials logged",
        "PCI DSS 10.2.2" => "Each event records user, type, time, outcome, origin and resource",
        "PCI DSS 10.4.1.1" => "Automated mechanisms perform audit log reviews",
        "PCI DSS 10.5.1" => "Audit logs protected and retained",
        _ => "",
    }
}

/// The controls the report evidences, each with the sections that evidence it; the
/// attestation evidences log protection.
fn controls(sections: &[Section]) -> Section {
    let mut controls: Vec<(String, Vec<String>)> = Vec::new();
    let attested = ["ISO 27001 A.8.15", "PCI DSS 10.5.1"];
    let named = sections
        .iter()
        .flat_map(|s| {
            s.controls
                .iter()
                .map(move |c| (c.as_str(), s.title.as_str()))
        })
        .chain(attested.iter().map(|c| (*c, "Integrity attestation")));
    for (control, title) in named {
        match controls.iter_mut().find(|(c, _)| c == control) {
            Some((_, titles)) if !titles.iter().any(|t| t == title) => titles.push(title.into()),
            Some(_) => {}
            None => controls.push((control.to_owned(), vec![title.to_owned()])),
        }
    }
    controls.sort();
    Section::new(
        "controls",
        "Control mapping",
        &[],
        "The controls this report evidences, and where.",
    )
    .table(Table {
        id: "controls".into(),
        title: "Controls".into(),
        columns: vec![
            "Control".into(),
            "Requirement".into(),
            "Evidenced by".into(),
        ],
        total_rows: controls.len() as u64,
        rows: controls
            .into_iter()
            .map(|(c, titles)| vec![json!(c), json!(control_text(&c)), json!(titles.join("; "))])
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn working_hours_are_weekday_office_hours_in_utc() {
        let at = |text: &str| Timestamp::parse(text).unwrap();
        assert!(working_hours(at("2026-12-01T09:00:00Z")));
        assert!(!working_hours(at("2026-12-01T18:00:00Z")));
        assert!(!working_hours(at("2026-12-01T07:59:59Z")));
        assert!(!working_hours(at("2026-12-05T10:00:00Z")), "a Saturday");
    }

    #[test]
    fn every_named_control_says_what_it_is() {
        let sections = [
            overview(&Stats::default()),
            activity(
                &Stats::default(),
                &Period::parse("2026-01-01", "2026-01-02").unwrap(),
            ),
        ];
        let mapping = controls(&sections);
        for row in &mapping.tables[0].rows {
            assert_ne!(row[1], json!(""), "{row:?}");
        }
    }
}
