//! Statistics over the index: a collector that counts matching documents by fast-field values,
//! exactly (no sampling, no approximate distinct counts), plus the same counting for tail events
//! read from SQLite, so both halves add up to the brute-force answer.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use tantivy::collector::{Collector, SegmentCollector};
use tantivy::columnar::StrColumn;
use tantivy::{DocId, Score, SegmentOrdinal, SegmentReader};
use trailkeep_event::{Category, Event, Filter, Outcome, Timestamp};
use trailkeep_store::{GroupBy, Stats, StoreError};

use super::query::{Bounds, BoundsColumns, IndexColumns, translate, within};
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
    let searcher = index.reader().searcher();
    let columns = IndexColumns::open(&searcher)?;
    let Some(span) = columns.span().filter(|_| below > 0) else {
        return Ok(Tally::new(group_by));
    };
    let bounds = Bounds::new(below, filter);
    let query = within(
        translate(&index.fields, tenant_id, filter),
        &index.fields,
        (bounds.lo, bounds.hi),
        span,
    );
    let collector = StatsCollector {
        group_by: group_by.to_vec(),
        bounds,
        columns,
    };
    searcher.search(&*query, &collector).map_err(index_error)
}

/// Counts matching documents by their fast-field values.
struct StatsCollector {
    group_by: Vec<GroupBy>,
    bounds: Bounds,
    columns: Arc<IndexColumns>,
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
        let category = str_column(reader, "category")?;
        let outcome = str_column(reader, "outcome")?;
        let actor = str_column(reader, "actor_id")?;
        let grouped = self
            .group_by
            .iter()
            .filter(|g| **g != GroupBy::Day)
            .map(|g| {
                let column = str_column(reader, group_field(*g))?;
                let counts = vec![0; terms(&column)];
                Ok((*g, column, counts))
            })
            .collect::<tantivy::Result<Vec<_>>>()?;
        Ok(SegmentStats {
            group_by: self.group_by.clone(),
            category_outcome: vec![0; terms(&category) * terms(&outcome)],
            outcome_terms: terms(&outcome),
            actor_seen: vec![false; terms(&actor)],
            category,
            outcome,
            actor,
            grouped,
            bounds: self.bounds,
            columns: self.columns.of(reader)?,
            total: 0,
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

/// One segment's counts, in arrays indexed by term ordinal until harvest (a map update per
/// document would dominate the cost of statistics over millions of events).
struct SegmentStats {
    group_by: Vec<GroupBy>,
    category: Option<StrColumn>,
    outcome: Option<StrColumn>,
    actor: Option<StrColumn>,
    /// Requested dimensions other than the day: column and counts per ordinal.
    grouped: Vec<(GroupBy, Option<StrColumn>, Vec<u64>)>,
    bounds: Bounds,
    columns: BoundsColumns,
    total: u64,
    /// Counts per (category ordinal, outcome ordinal).
    category_outcome: Vec<u64>,
    outcome_terms: usize,
    actor_seen: Vec<bool>,
    days: HashMap<i64, u64>,
}

/// The fast field a dimension reads.
fn group_field(group: GroupBy) -> &'static str {
    match group {
        GroupBy::Action => "action",
        GroupBy::Category => "category",
        GroupBy::Outcome => "outcome",
        GroupBy::TargetType => "target_type",
        GroupBy::Actor | GroupBy::Day => "actor_id",
    }
}

fn terms(column: &Option<StrColumn>) -> usize {
    column.as_ref().map_or(0, |c| c.dictionary().num_terms())
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

impl SegmentCollector for SegmentStats {
    type Fruit = Tally;

    fn collect(&mut self, doc: DocId, _: Score) {
        let Some(position) = self.columns.admitted(doc, &self.bounds) else {
            return;
        };
        self.total += 1;
        if let (Some(c), Some(o)) = (
            first_ord(&self.category, doc),
            first_ord(&self.outcome, doc),
        ) {
            self.category_outcome[c as usize * self.outcome_terms + o as usize] += 1;
        }
        if let Some(actor) = first_ord(&self.actor, doc) {
            self.actor_seen[actor as usize] = true;
        }
        for (_, column, counts) in &mut self.grouped {
            if let Some(ord) = first_ord(column, doc) {
                counts[ord as usize] += 1;
            }
        }
        if self.group_by.contains(&GroupBy::Day) {
            *self
                .days
                .entry(position.occurred_at.div_euclid(86_400_000_000))
                .or_default() += 1;
        }
    }

    fn harvest(self) -> Tally {
        let mut tally = Tally::new(&self.group_by);
        tally.total = self.total;
        for (index, n) in self.category_outcome.iter().enumerate() {
            if *n == 0 {
                continue;
            }
            let (c, o) = (index / self.outcome_terms, index % self.outcome_terms);
            if ord_text(&self.category, c as u64) == Category::Login.as_str()
                && ord_text(&self.outcome, o as u64) == Outcome::Failure.as_str()
            {
                tally.failed_logins += n;
            }
        }
        tally.actors = self
            .actor_seen
            .iter()
            .enumerate()
            .filter(|(_, seen)| **seen)
            .map(|(ord, _)| ord_text(&self.actor, ord as u64))
            .collect();
        for (group, column, counts) in &self.grouped {
            let target = tally.groups.entry(*group).or_default();
            for (ord, n) in counts.iter().enumerate().filter(|(_, n)| **n > 0) {
                *target.entry(ord_text(column, ord as u64)).or_default() += n;
            }
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
