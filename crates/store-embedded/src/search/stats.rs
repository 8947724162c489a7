//! Statistics over the index: a collector that counts matching documents by fast-field values,
//! exactly (no sampling, no approximate distinct counts), plus the same counting for tail events
//! read from SQLite, so both halves add up to the brute-force answer.
//!
//! A segment's dictionaries hold every tenant's values. Counts are kept per term ordinal, but
//! only for ordinals a matching document has (a map, not an array the size of the dictionary),
//! so statistics over one tenant's ten events cost ten entries however many actors the other
//! tenants have. Each group lists at most [`MAX_GROUP_VALUES`] values, largest first, and says
//! when it was cut.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use rustc_hash::{FxHashMap, FxHashSet};

use tantivy::collector::{Collector, SegmentCollector};
use tantivy::columnar::StrColumn;
use tantivy::query::EnableScoring;
use tantivy::{DocId, Score, SegmentOrdinal, SegmentReader};
use trailkeep_event::{Category, Event, Filter, Outcome};
use trailkeep_store::{GroupBy, MAX_GROUP_VALUES, Stats, StoreError};

use super::query::{Bounds, BoundsColumns, IndexColumns, translate, within};
use super::{Coverage, SearchIndex, index_error};

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
        let micros = event.occurred_at.as_micros();
        let buckets: Vec<(GroupBy, i64)> = self
            .groups
            .keys()
            .filter_map(|g| g.bucket_of(micros).map(|b| (*g, b)))
            .collect();
        for (group, bucket) in buckets {
            self.count(group, group.bucket_name(bucket));
        }
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

    /// The finished statistics: groups sorted by count, largest first, then by value, each cut
    /// at [`MAX_GROUP_VALUES`].
    pub fn finish(self) -> Stats {
        let mut truncated = std::collections::BTreeSet::new();
        let groups = self
            .groups
            .into_iter()
            .map(|(group, counts)| {
                let mut counts: Vec<(String, u64)> = counts.into_iter().collect();
                counts.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
                if counts.len() > MAX_GROUP_VALUES {
                    counts.truncate(MAX_GROUP_VALUES);
                    truncated.insert(group);
                }
                (group, counts)
            })
            .collect();
        Stats {
            total: self.total,
            unique_actors: self.actors.len() as u64,
            failed_logins: self.failed_logins,
            groups,
            truncated,
        }
    }
}

/// Tallies the tenant's events the index covers (`covered`) matching `filter`.
pub fn tally(
    index: &SearchIndex,
    tenant_id: i64,
    covered: Coverage,
    filter: &Filter,
    group_by: &[GroupBy],
) -> Result<Tally, StoreError> {
    let Some(span) = covered.span.filter(|_| covered.below > 0) else {
        return Ok(Tally::new(group_by));
    };
    let searcher = index.reader().searcher();
    let columns = index.column_cache.columns(&searcher)?;
    let bounds = Bounds::new(covered.below, filter);
    let query = within(
        translate(&searcher, &index.fields, tenant_id, filter)?.query,
        &index.fields,
        (bounds.lo, bounds.hi),
        span,
    );
    let collector = StatsCollector {
        group_by: group_by.to_vec(),
        bounds,
        columns,
    };
    searcher
        .search_with_executor(
            &*query,
            &collector,
            &index.stats_executor,
            EnableScoring::disabled_from_searcher(&searcher),
        )
        .map_err(index_error)
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
        let grouped = self
            .group_by
            .iter()
            .filter_map(|g| group_field(*g).map(|field| (*g, field)))
            .map(|(g, field)| Ok((g, str_column(reader, field)?, FxHashMap::default())))
            .collect::<tantivy::Result<Vec<_>>>()?;
        let times = self
            .group_by
            .iter()
            .filter(|g| g.bucket_micros().is_some())
            .map(|g| (*g, FxHashMap::default()))
            .collect();
        Ok(SegmentStats {
            group_by: self.group_by.clone(),
            category_outcome: FxHashMap::default(),
            actor_seen: FxHashSet::default(),
            category: str_column(reader, "category")?,
            outcome: str_column(reader, "outcome")?,
            actor: str_column(reader, "actor_id")?,
            grouped,
            bounds: self.bounds,
            columns: self.columns.of(reader)?,
            total: 0,
            times,
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

/// One segment's counts, by term ordinal until harvest (a string per document would dominate
/// the cost of statistics over millions of events), kept only for ordinals that matched.
struct SegmentStats {
    group_by: Vec<GroupBy>,
    category: Option<StrColumn>,
    outcome: Option<StrColumn>,
    actor: Option<StrColumn>,
    /// Requested dimensions read from a column: column and counts by ordinal.
    grouped: Vec<(GroupBy, Option<StrColumn>, FxHashMap<u64, u64>)>,
    bounds: Bounds,
    columns: BoundsColumns,
    total: u64,
    /// Counts by (category ordinal, outcome ordinal).
    category_outcome: FxHashMap<(u64, u64), u64>,
    actor_seen: FxHashSet<u64>,
    /// Requested time dimensions: counts by bucket number.
    times: Vec<(GroupBy, FxHashMap<i64, u64>)>,
}

#[cfg(test)]
impl SegmentStats {
    /// How many counts the segment holds: what its memory grows with.
    pub fn counted_values(&self) -> usize {
        self.category_outcome.len()
            + self.actor_seen.len()
            + self.grouped.iter().map(|(_, _, c)| c.len()).sum::<usize>()
            + self.times.iter().map(|(_, c)| c.len()).sum::<usize>()
    }
}

/// The fast field a dimension reads; `None` for the time dimensions, counted by bucket.
fn group_field(group: GroupBy) -> Option<&'static str> {
    match group {
        GroupBy::Action => Some("action"),
        GroupBy::Category => Some("category"),
        GroupBy::Outcome => Some("outcome"),
        GroupBy::TargetType => Some("target_type"),
        GroupBy::Actor => Some("actor_id"),
        GroupBy::Day | GroupBy::Hour | GroupBy::Minute => None,
    }
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

/// The texts of `ords` in `column`, found in one ordered walk over its dictionary. Looking
/// ordinals up one at a time decodes a dictionary block for each: that was most of the time of
/// statistics over a month of three million events, with their tens of thousands of actors.
fn ord_texts(column: &Option<StrColumn>, ords: impl Iterator<Item = u64>) -> Vec<(u64, String)> {
    let Some(column) = column else {
        return Vec::new();
    };
    let mut sorted: Vec<u64> = ords.collect();
    sorted.sort_unstable();
    let mut texts = Vec::with_capacity(sorted.len());
    let found = column
        .dictionary()
        .sorted_ords_to_term_cb(&sorted, |bytes| {
            texts.push(String::from_utf8_lossy(bytes).into_owned());
        });
    if !matches!(found, Ok(true)) {
        tracing::warn!("a statistics column names ordinals its dictionary lacks");
    }
    sorted.into_iter().zip(texts).collect()
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
            *self.category_outcome.entry((c, o)).or_default() += 1;
        }
        if let Some(actor) = first_ord(&self.actor, doc) {
            self.actor_seen.insert(actor);
        }
        for (_, column, counts) in &mut self.grouped {
            if let Some(ord) = first_ord(column, doc) {
                *counts.entry(ord).or_default() += 1;
            }
        }
        for (group, counts) in &mut self.times {
            if let Some(bucket) = group.bucket_of(position.occurred_at) {
                *counts.entry(bucket).or_default() += 1;
            }
        }
    }

    fn harvest(self) -> Tally {
        let mut tally = Tally::new(&self.group_by);
        tally.total = self.total;
        for (&(c, o), n) in &self.category_outcome {
            if ord_text(&self.category, c) == Category::Login.as_str()
                && ord_text(&self.outcome, o) == Outcome::Failure.as_str()
            {
                tally.failed_logins += n;
            }
        }
        tally.actors = ord_texts(&self.actor, self.actor_seen.iter().copied())
            .into_iter()
            .map(|(_, text)| text)
            .collect();
        for (group, column, counts) in &self.grouped {
            let target = tally.groups.entry(*group).or_default();
            for (ord, text) in ord_texts(column, counts.keys().copied()) {
                *target.entry(text).or_default() += counts[&ord];
            }
        }
        for (group, counts) in &self.times {
            let target = tally.groups.entry(*group).or_default();
            for (bucket, n) in counts {
                *target.entry(group.bucket_name(*bucket)).or_default() += n;
            }
        }
        tally
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use tantivy::collector::Collector;
    use trailkeep_event::{Event, Timestamp, prepare};

    use super::*;

    fn event(seq: u64, action: &str, actor: &str) -> Event {
        prepare(
            &json!({"action": action, "actor": {"id": actor}}),
            "t",
            Timestamp::now(),
        )
        .unwrap()
        .into_event(seq)
    }

    /// An index where tenant 1 has three events and tenant 2 five thousand distinct actors.
    fn index() -> SearchIndex {
        let index = SearchIndex::in_memory().unwrap();
        let mut writer = index.writer().unwrap();
        for (seq, actor) in ["a", "b", "a"].iter().enumerate() {
            let event = event(seq as u64, "doc.read", actor);
            writer.add_document(index.document(1, &event)).unwrap();
        }
        for seq in 0..5_000 {
            let event = event(seq, &format!("x.{}", seq % 1500), &format!("user-{seq}"));
            writer.add_document(index.document(2, &event)).unwrap();
        }
        writer.commit().unwrap();
        index.reader().reload().unwrap();
        index
    }

    /// Statistics used to size their arrays by the segment's whole dictionary: one tenant's
    /// three events cost an array entry for each of every other tenant's five thousand actors.
    #[test]
    fn statistics_count_only_the_values_of_matching_events() {
        let index = index();
        let searcher = index.reader().searcher();
        let segment = &searcher.segment_readers()[0];
        let collector = StatsCollector {
            group_by: vec![GroupBy::Actor, GroupBy::Action],
            bounds: Bounds::new(3, &Filter::default()),
            columns: index.column_cache.columns(&searcher).unwrap(),
        };
        let mut counts = collector.for_segment(0, segment).unwrap();
        assert_eq!(
            counts.counted_values(),
            0,
            "nothing before anything matched"
        );
        // Tenant 1's documents were added first: ids 0, 1 and 2.
        for doc in 0..3 {
            counts.collect(doc, 0.0);
        }
        assert!(
            counts.counted_values() <= 6,
            "{} counts for three events",
            counts.counted_values()
        );
        let tally = counts.harvest().finish();
        assert_eq!(tally.total, 3);
        assert_eq!(tally.unique_actors, 2);
        assert_eq!(
            tally.groups[&GroupBy::Actor],
            [("a".to_owned(), 2), ("b".to_owned(), 1)]
        );
    }

    #[test]
    fn a_group_with_more_values_than_it_lists_says_it_was_cut() {
        let index = index();
        let filter = Filter::default();
        let everything = Coverage {
            below: 5_000,
            span: Some((i64::MIN, i64::MAX)),
        };
        let groups = [GroupBy::Actor, GroupBy::Action];
        let stats = tally(&index, 2, everything, &filter, &groups)
            .unwrap()
            .finish();
        assert_eq!(stats.total, 5_000);
        assert_eq!(stats.unique_actors, 5_000, "totals count every value");
        assert_eq!(stats.groups[&GroupBy::Actor].len(), MAX_GROUP_VALUES);
        assert_eq!(stats.groups[&GroupBy::Action].len(), MAX_GROUP_VALUES);
        assert_eq!(
            stats.truncated.iter().copied().collect::<Vec<_>>(),
            [GroupBy::Action, GroupBy::Actor]
        );
        // The listed values are the largest: every action x.N for N < 500 occurs 4 times.
        assert!(
            stats.groups[&GroupBy::Action][..500]
                .iter()
                .all(|(_, n)| *n == 4)
        );
        let small = tally(
            &index,
            1,
            everything.with_below(3),
            &filter,
            &[GroupBy::Actor],
        )
        .unwrap()
        .finish();
        assert!(small.truncated.is_empty());
    }
}
