//! Statistics over the index: a collector that counts matching documents by fast-field values,
//! exactly (no sampling, no approximate distinct counts), plus the same counting for tail events
//! read from SQLite, so both halves add up to the brute-force answer.

use std::collections::{BTreeMap, HashMap, HashSet};

use tantivy::collector::{Collector, SegmentCollector};
use tantivy::columnar::{Column, StrColumn};
use tantivy::{DocId, Score, SegmentOrdinal, SegmentReader};
use trailkeep_event::{Category, Event, Filter, Outcome, Timestamp};
use trailkeep_store::{GroupBy, Stats, StoreError};

use super::query::translate;
use super::{SearchIndex, index_error};

/// Counts being gathered, before sorting into [`Stats`].
#[derive(Debug, Default)]
pub struct Tally {
    total: u64,
    failed_logins: u64,
    actors: HashSet<String>,
    groups: BTreeMap<GroupBy, HashMap<String, u64>>,
}

impl Tally {
    fn new(group_by: &[GroupBy]) -> Self {
        Self {
            groups: group_by.iter().map(|g| (*g, HashMap::new())).collect(),
            ..Self::default()
        }
    }

    fn count(&mut self, group: GroupBy, value: String) {
        if let Some(counts) = self.groups.get_mut(&group) {
            *counts.entry(value).or_default() += 1;
        }
    }

    /// Counts one event (a tail event read from SQLite).
    pub fn add_event(&mut self, event: &Event) {
        self.total += 1;
        if event.category == Category::Login && event.outcome == Outcome::Failure {
            self.failed_logins += 1;
        }
        let actor_id = event.actor.as_ref().and_then(|a| a.id.clone());
        if let Some(id) = &actor_id {
            self.actors.insert(id.clone());
        }
        self.count(GroupBy::Action, event.action.clone());
        self.count(GroupBy::Category, event.category.as_str().to_owned());
        self.count(GroupBy::Outcome, event.outcome.as_str().to_owned());
        if let Some(kind) = event.target.as_ref().and_then(|t| t.kind.clone()) {
            self.count(GroupBy::TargetType, kind);
        }
        if let Some(id) = actor_id {
            self.count(GroupBy::Actor, id);
        }
        self.count(GroupBy::Day, day(event.occurred_at.as_micros()));
    }

    fn merge(&mut self, other: Tally) {
        self.total += other.total;
        self.failed_logins += other.failed_logins;
        self.actors.extend(other.actors);
        for (group, counts) in other.groups {
            let mine = self.groups.entry(group).or_default();
            for (value, n) in counts {
                *mine.entry(value).or_default() += n;
            }
        }
    }

    /// Empty statistics with the requested (empty) groups.
    pub fn finish_with(self, group_by: &[GroupBy]) -> Stats {
        let mut tally = Tally::new(group_by);
        tally.merge(self);
        tally.finish()
    }

    /// The finished statistics: groups sorted by count, largest first, then by value.
    pub fn finish(self) -> Stats {
        Stats {
            total: self.total,
            unique_actors: self.actors.len() as u64,
            failed_logins: self.failed_logins,
            groups: self
                .groups
                .into_iter()
                .map(|(group, counts)| {
                    let mut counts: Vec<(String, u64)> = counts.into_iter().collect();
                    counts.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
                    (group, counts)
                })
                .collect(),
        }
    }
}

/// The UTC day of an instant, `YYYY-MM-DD`.
fn day(micros: i64) -> String {
    let day_start = micros.div_euclid(86_400_000_000) * 86_400_000_000;
    Timestamp::from_micros(day_start)
        .map(|t| t.to_string()[..10].to_owned())
        .unwrap_or_default()
}

/// Tallies tenant `tenant_id`'s indexed events (seqs below `below`) matching `filter`.
pub fn tally(
    index: &SearchIndex,
    tenant_id: i64,
    below: u64,
    filter: &Filter,
    group_by: &[GroupBy],
) -> Result<Tally, StoreError> {
    if below == 0 {
        return Ok(Tally::new(group_by));
    }
    let query = translate(&index.fields, tenant_id, below, filter);
    let collector = StatsCollector {
        group_by: group_by.to_vec(),
    };
    index
        .reader()
        .searcher()
        .search(&*query, &collector)
        .map_err(index_error)
}

/// Counts matching documents by their fast-field values.
struct StatsCollector {
    group_by: Vec<GroupBy>,
}

fn str_column(reader: &SegmentReader, name: &str) -> tantivy::Result<Option<StrColumn>> {
    reader.fast_fields().str(name)
}

impl Collector for StatsCollector {
    type Fruit = Tally;
    type Child = SegmentStats;

    fn for_segment(
        &self,
        _: SegmentOrdinal,
        reader: &SegmentReader,
    ) -> tantivy::Result<SegmentStats> {
        Ok(SegmentStats {
            group_by: self.group_by.clone(),
            action: str_column(reader, "action")?,
            category: str_column(reader, "category")?,
            outcome: str_column(reader, "outcome")?,
            target_type: str_column(reader, "target_type")?,
            actor: str_column(reader, "actor_id")?,
            occurred: reader.fast_fields().i64("occurred")?,
            total: 0,
            by_ord: HashMap::new(),
            category_outcome: HashMap::new(),
            actor_ords: HashSet::new(),
            days: HashMap::new(),
        })
    }

    fn requires_scoring(&self) -> bool {
        false
    }

    fn merge_fruits(&self, fruits: Vec<Tally>) -> tantivy::Result<Tally> {
        let mut all = Tally::new(&self.group_by);
        for fruit in fruits {
            all.merge(fruit);
        }
        Ok(all)
    }
}

/// One segment's counts, by term ordinal until harvest.
struct SegmentStats {
    group_by: Vec<GroupBy>,
    action: Option<StrColumn>,
    category: Option<StrColumn>,
    outcome: Option<StrColumn>,
    target_type: Option<StrColumn>,
    actor: Option<StrColumn>,
    occurred: Column<i64>,
    total: u64,
    by_ord: HashMap<(GroupBy, u64), u64>,
    category_outcome: HashMap<(u64, u64), u64>,
    actor_ords: HashSet<u64>,
    days: HashMap<i64, u64>,
}

fn first_ord(column: &Option<StrColumn>, doc: DocId) -> Option<u64> {
    column.as_ref()?.term_ords(doc).next()
}

fn ord_text(column: &Option<StrColumn>, ord: u64) -> String {
    let mut text = String::new();
    if let Some(column) = column {
        let _ = column.ord_to_str(ord, &mut text);
    }
    text
}

impl SegmentStats {
    fn column(&self, group: GroupBy) -> &Option<StrColumn> {
        match group {
            GroupBy::Action => &self.action,
            GroupBy::Category => &self.category,
            GroupBy::Outcome => &self.outcome,
            GroupBy::TargetType => &self.target_type,
            GroupBy::Actor | GroupBy::Day => &self.actor,
        }
    }
}

impl SegmentCollector for SegmentStats {
    type Fruit = Tally;

    fn collect(&mut self, doc: DocId, _: Score) {
        self.total += 1;
        if let (Some(c), Some(o)) = (
            first_ord(&self.category, doc),
            first_ord(&self.outcome, doc),
        ) {
            *self.category_outcome.entry((c, o)).or_default() += 1;
        }
        if let Some(actor) = first_ord(&self.actor, doc) {
            self.actor_ords.insert(actor);
        }
        for i in 0..self.group_by.len() {
            let group = self.group_by[i];
            if group == GroupBy::Day {
                if let Some(micros) = self.occurred.first(doc) {
                    *self
                        .days
                        .entry(micros.div_euclid(86_400_000_000))
                        .or_default() += 1;
                }
            } else if let Some(ord) = first_ord(self.column(group), doc) {
                *self.by_ord.entry((group, ord)).or_default() += 1;
            }
        }
    }

    fn harvest(self) -> Tally {
        let mut tally = Tally::new(&self.group_by);
        tally.total = self.total;
        for ((c, o), n) in &self.category_outcome {
            if ord_text(&self.category, *c) == Category::Login.as_str()
                && ord_text(&self.outcome, *o) == Outcome::Failure.as_str()
            {
                tally.failed_logins += n;
            }
        }
        tally.actors = self
            .actor_ords
            .iter()
            .map(|o| ord_text(&self.actor, *o))
            .collect();
        for ((group, ord), n) in &self.by_ord {
            let text = ord_text(self.column(*group), *ord);
            *tally
                .groups
                .entry(*group)
                .or_default()
                .entry(text)
                .or_default() += n;
        }
        for (d, n) in &self.days {
            *tally
                .groups
                .entry(GroupBy::Day)
                .or_default()
                .entry(day(d * 86_400_000_000))
                .or_default() += n;
        }
        tally
    }
}
