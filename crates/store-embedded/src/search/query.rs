//! Translating a `Filter` into a tantivy query, and collecting the best positions in
//! (`occurred_at`, `seq`) order.
//!
//! Ordering uses one `u128` sort key per document, built from the `occurred` and `seq` fast
//! fields so that "greater is better" in either direction; documents not strictly beyond the
//! page's cursor, or outside the [`Bounds`], get key 0 and are dropped, which keeps the
//! collector a plain top-N.
//!
//! The query holds only term conditions: time windows are unions of bucket terms
//! (`buckets.rs`) and the watermark is no condition at all. Range conditions on fast fields
//! would scan a whole column per segment for every search; the collectors instead read
//! `occurred` and `seq` of the few candidates the terms leave and check them exactly.

use std::collections::HashMap;
use std::ops::Bound;
use std::sync::{Arc, Mutex};

use tantivy::collector::{Collector, SegmentCollector, TopDocs};
use tantivy::columnar::Column;
use tantivy::index::SegmentId;
use tantivy::query::{
    BooleanQuery, EmptyQuery, InvertedIndexRangeQuery, Occur, Query as TantivyQuery, TermQuery,
};
use tantivy::schema::{Field, IndexRecordOption};
use tantivy::{DocId, Score, Searcher, SegmentOrdinal, SegmentReader, Term};
use trailkeep_event::{Cursor, Filter, Order, Query};
use trailkeep_store::StoreError;

use super::buckets::covering;
use super::{Coverage, Fields, SearchIndex, index_error};

/// What the index found below a tenant's watermark.
#[derive(Debug, Default)]
pub struct IndexHits {
    /// The best positions, best first, at most the number asked for.
    pub positions: Vec<Cursor>,
    /// How many documents match the filter (when asked).
    pub total: Option<u64>,
    /// How many time windows the search took (see [`Windows`]).
    pub windows: u32,
}

/// A filter as a tantivy query, with what is known of how many documents it can match.
pub struct Translated {
    /// The query.
    pub query: Box<dyn TantivyQuery>,
    /// The terms of each condition every match must meet (a match has at least one term of
    /// each); conditions whose terms are not listed (a prefix with very many) are left out.
    conditions: Vec<Vec<Term>>,
}

impl Translated {
    /// At most how many documents can match: the fewest that hold a term of any one condition
    /// (counted over every segment, other tenants' documents included).
    pub fn candidates(&self, searcher: &Searcher) -> Result<u64, StoreError> {
        let mut fewest = u64::MAX;
        for terms in &self.conditions {
            let mut holding = 0u64;
            for term in terms {
                holding += searcher.doc_freq(term).map_err(index_error)?;
                if holding >= fewest {
                    break;
                }
            }
            fewest = fewest.min(holding);
        }
        Ok(fewest)
    }
}

/// Builds the query of a [`Translated`], condition by condition.
struct Conditions<'a> {
    searcher: &'a Searcher,
    must: Vec<Box<dyn TantivyQuery>>,
    must_not: Vec<Box<dyn TantivyQuery>>,
    listed: Vec<Vec<Term>>,
}

impl Conditions<'_> {
    /// A match must hold one of `terms` (none, when there are none: a prefix of no action).
    fn any_term(&mut self, terms: Vec<Term>) {
        if terms.is_empty() {
            self.must.push(Box::new(EmptyQuery));
            self.listed.push(terms);
            return;
        }
        let queries = terms
            .iter()
            .map(|t| {
                Box::new(TermQuery::new(t.clone(), IndexRecordOption::Basic))
                    as Box<dyn TantivyQuery>
            })
            .collect();
        self.must.push(any_of(queries));
        self.listed.push(terms);
    }

    /// A match's `field` must be one of `patterns`: exact texts, or prefixes ending in `*`.
    /// A prefix becomes the terms the index holds that start with it (a union of a few
    /// posting lists, cheap to intersect), or, when it has more than [`MAX_PREFIX_TERMS`], a
    /// range over the term dictionary.
    fn any_pattern(&mut self, field: Field, patterns: &[String]) -> Result<(), StoreError> {
        let mut terms = Vec::new();
        let mut ranges = Vec::new();
        for pattern in patterns {
            match pattern.strip_suffix('*') {
                None => terms.push(Term::from_field_text(field, pattern)),
                Some(prefix) => match terms_with_prefix(self.searcher, field, prefix)? {
                    Some(found) => terms.extend(found),
                    None => ranges.push(prefix_range(field, prefix)),
                },
            }
        }
        if ranges.is_empty() {
            self.any_term(terms);
            return Ok(());
        }
        let mut queries: Vec<Box<dyn TantivyQuery>> = terms
            .into_iter()
            .map(|t| Box::new(TermQuery::new(t, IndexRecordOption::Basic)) as Box<dyn TantivyQuery>)
            .collect();
        queries.extend(ranges);
        self.must.push(any_of(queries));
        Ok(())
    }
}

fn any_of(queries: Vec<Box<dyn TantivyQuery>>) -> Box<dyn TantivyQuery> {
    Box::new(BooleanQuery::union(queries))
}

/// Most terms a prefix is expanded to (see [`Conditions::any_pattern`]).
const MAX_PREFIX_TERMS: usize = 256;

/// The distinct terms of `field` starting with `prefix` in any segment, or `None` when there
/// are more than [`MAX_PREFIX_TERMS`].
fn terms_with_prefix(
    searcher: &Searcher,
    field: Field,
    prefix: &str,
) -> Result<Option<Vec<Term>>, StoreError> {
    let (lower, upper) = prefix_bounds(prefix);
    let mut found = std::collections::BTreeSet::new();
    for segment in searcher.segment_readers() {
        let inverted = segment.inverted_index(field).map_err(index_error)?;
        let mut stream = inverted
            .terms()
            .range()
            .ge(&lower)
            .lt(&upper)
            .into_stream()
            .map_err(index_error)?;
        while stream.advance() {
            if found.len() == MAX_PREFIX_TERMS && !found.contains(stream.key()) {
                return Ok(None);
            }
            found.insert(stream.key().to_vec());
        }
    }
    Ok(Some(
        found
            .into_iter()
            .map(|bytes| text_term(field, &bytes))
            .collect(),
    ))
}

/// The term bytes from `prefix` (inclusive) to past every text that starts with it
/// (exclusive): no UTF-8 string contains the byte 0xFF.
fn prefix_bounds(prefix: &str) -> (Vec<u8>, Vec<u8>) {
    let lower = prefix.as_bytes().to_vec();
    let mut upper = lower.clone();
    upper.push(0xff);
    (lower, upper)
}

/// The term of text field `field` whose bytes are `bytes`.
fn text_term(field: Field, bytes: &[u8]) -> Term {
    let mut term = Term::from_field_text(field, "");
    term.append_bytes(bytes);
    term
}

/// Matches terms of `field` starting with `prefix`, through the term dictionary.
fn prefix_range(field: Field, prefix: &str) -> Box<dyn TantivyQuery> {
    let (lower, upper) = prefix_bounds(prefix);
    Box::new(InvertedIndexRangeQuery::new(
        Bound::Included(text_term(field, &lower)),
        Bound::Excluded(text_term(field, &upper)),
    ))
}

/// The tantivy query for `filter` over tenant `tenant_id`'s documents in `searcher`, without
/// its time window and without the watermark: those are [`Bounds`], narrowed by [`within`] and
/// checked exactly by the collectors.
pub fn translate(
    searcher: &Searcher,
    f: &Fields,
    tenant_id: i64,
    filter: &Filter,
) -> Result<Translated, StoreError> {
    let text = |field: Field, value: &str| Term::from_field_text(field, value);
    let mut c = Conditions {
        searcher,
        must: Vec::new(),
        must_not: Vec::new(),
        listed: Vec::new(),
    };
    c.any_term(vec![Term::from_field_u64(f.tenant, tenant_id as u64)]);
    if !filter.actions.is_empty() {
        c.any_pattern(f.action, &filter.actions)?;
    }
    if !filter.categories.is_empty() {
        c.any_term(
            filter
                .categories
                .iter()
                .map(|k| text(f.category, k.as_str()))
                .collect(),
        );
    }
    if let Some(outcome) = filter.outcome {
        c.any_term(vec![text(f.outcome, outcome.as_str())]);
    }
    for (field, value) in [
        (f.actor_id, filter.actor_id.clone()),
        (
            f.actor_email,
            filter.actor_email.as_ref().map(|e| e.to_ascii_lowercase()),
        ),
        (f.actor_type, filter.actor_type.clone()),
        (f.target_type, filter.target_type.clone()),
        (f.target_id, filter.target_id.clone()),
        (f.ip, filter.ip.clone()),
    ] {
        if let Some(value) = value {
            c.any_term(vec![text(field, &value)]);
        }
    }
    for token in &filter.text {
        c.any_term(vec![text(f.text, token)]);
    }
    for pair in &filter.metadata {
        c.any_term(vec![text(f.meta, pair)]);
    }
    for condition in &filter.fields {
        let field = condition.field;
        let terms: Vec<Term> = condition
            .values
            .iter()
            .map(|v| match f.keyword(field) {
                Some(keyword) => text(keyword, &field.normalize(v)),
                None => text(f.fields, &field.term(v)),
            })
            .collect();
        if condition.negate {
            let queries = terms
                .into_iter()
                .map(|t| {
                    Box::new(TermQuery::new(t, IndexRecordOption::Basic)) as Box<dyn TantivyQuery>
                })
                .collect();
            c.must_not.push(any_of(queries));
        } else {
            c.any_term(terms);
        }
    }
    let query = Box::new(BooleanQuery::new(
        c.must
            .into_iter()
            .map(|q| (Occur::Must, q))
            .chain(c.must_not.into_iter().map(|q| (Occur::MustNot, q)))
            .collect(),
    ));
    Ok(Translated {
        query,
        conditions: c.listed,
    })
}

/// The sort key of a position: greater is better in `order`; never 0.
pub fn sort_key(position: Cursor, order: Order) -> u128 {
    let occurred = (position.occurred_at as u64) ^ (1 << 63);
    let key = (u128::from(occurred) << 64) | u128::from(position.seq);
    match order {
        Order::Desc => key,
        Order::Asc => !key,
    }
}

fn position_of(key: u128, order: Order) -> Cursor {
    let key = match order {
        Order::Desc => key,
        Order::Asc => !key,
    };
    Cursor {
        occurred_at: (((key >> 64) as u64) ^ (1 << 63)) as i64,
        seq: key as u64,
    }
}

/// What the collectors check exactly, from fast fields, for each candidate the query yields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bounds {
    /// Only seqs below this (the tenant's watermark) count.
    pub below: u64,
    /// Earliest `occurred` admitted, microseconds, inclusive.
    pub lo: i64,
    /// Latest `occurred` admitted, microseconds, inclusive.
    pub hi: i64,
}

impl Bounds {
    /// The watermark `below` and `filter`'s time window.
    pub fn new(below: u64, filter: &Filter) -> Self {
        Self {
            below,
            lo: filter.since.map_or(i64::MIN, |t| t.as_micros()),
            hi: filter
                .until
                .map_or(i64::MAX, |t| t.as_micros().saturating_sub(1)),
        }
    }

    /// Whether a document with these values is in bounds.
    pub fn admits(&self, seq: u64, occurred: i64) -> bool {
        seq < self.below && (self.lo..=self.hi).contains(&occurred)
    }
}

/// The `occurred` and `seq` columns of a segment, for checking [`Bounds`].
#[derive(Clone)]
pub struct BoundsColumns {
    occurred: Column<i64>,
    seq: Column<u64>,
}

impl BoundsColumns {
    /// Opens them in `segment`.
    fn open(segment: &SegmentReader) -> tantivy::Result<Self> {
        let fast = segment.fast_fields();
        Ok(Self {
            occurred: fast.i64("occurred")?,
            seq: fast.u64("seq")?,
        })
    }

    /// The document's position, when it has one.
    pub fn position(&self, doc: DocId) -> Option<Cursor> {
        Some(Cursor {
            occurred_at: self.occurred.first(doc)?,
            seq: self.seq.first(doc)?,
        })
    }

    /// The document's position, when it is within `bounds`.
    pub fn admitted(&self, doc: DocId, bounds: &Bounds) -> Option<Cursor> {
        self.position(doc)
            .filter(|p| bounds.admits(p.seq, p.occurred_at))
    }
}

/// Every segment's [`BoundsColumns`] for one search, shared by its collectors.
pub struct IndexColumns {
    segments: HashMap<SegmentId, BoundsColumns>,
}

/// The [`BoundsColumns`] of the segments searched lately, kept between searches: opening a
/// column reads its block headers, a cost in proportion to the segment, and opening every
/// segment's columns for each search took a third of a listing's time at three million
/// events. Segments never change, so an entry stays right until its segment is merged away.
#[derive(Default)]
pub struct ColumnCache {
    segments: Mutex<HashMap<SegmentId, BoundsColumns>>,
}

impl ColumnCache {
    /// The columns of every segment `searcher` sees, opening only those not seen before, and
    /// forgetting segments that are gone.
    pub fn columns(&self, searcher: &Searcher) -> Result<Arc<IndexColumns>, StoreError> {
        let readers = searcher.segment_readers();
        let mut cached = self.segments.lock().unwrap_or_else(|p| p.into_inner());
        let mut segments = HashMap::with_capacity(readers.len());
        for segment in readers {
            let id = segment.segment_id();
            let columns = match cached.get(&id) {
                Some(columns) => columns.clone(),
                None => {
                    let columns = BoundsColumns::open(segment).map_err(index_error)?;
                    cached.insert(id, columns.clone());
                    columns
                }
            };
            segments.insert(id, columns);
        }
        if cached.len() > segments.len() {
            cached.retain(|id, _| segments.contains_key(id));
        }
        Ok(Arc::new(IndexColumns { segments }))
    }
}

impl IndexColumns {
    /// The columns of `segment` (opened now if the search did not see it).
    pub fn of(&self, segment: &SegmentReader) -> tantivy::Result<BoundsColumns> {
        match self.segments.get(&segment.segment_id()) {
            Some(columns) => Ok(columns.clone()),
            None => BoundsColumns::open(segment),
        }
    }
}

/// `query` restricted to the time buckets covering `lo..=hi`: the whole bucket at each end,
/// so the collector checks the exact bounds. Unrestricted when the window holds all of `span`
/// (the tenant's own earliest and latest `occurred`), or would take more than
/// [`MAX_BUCKETS`] buckets (a union of thousands of posting lists costs more than the
/// collector's exact check); nothing when it holds none of the span.
pub fn within(
    query: Box<dyn TantivyQuery>,
    f: &Fields,
    (lo, hi): (i64, i64),
    (oldest, newest): (i64, i64),
) -> Box<dyn TantivyQuery> {
    if lo <= oldest && hi >= newest {
        return query;
    }
    let (lo, hi) = (lo.max(oldest), hi.min(newest));
    if lo > hi {
        return Box::new(EmptyQuery);
    }
    let Some(buckets) = covering(lo, hi, MAX_BUCKETS) else {
        return query;
    };
    let buckets = buckets
        .into_iter()
        .map(|(level, value)| {
            Box::new(TermQuery::new(
                Term::from_field_i64(f.bucket(level), value),
                IndexRecordOption::Basic,
            )) as Box<dyn TantivyQuery>
        })
        .collect();
    Box::new(BooleanQuery::intersection(vec![query, any_of(buckets)]))
}

/// Counts the matching documents within bounds.
struct BoundedCount {
    bounds: Bounds,
    columns: Arc<IndexColumns>,
}

/// [`BoundedCount`] in one segment.
struct SegmentCount {
    bounds: Bounds,
    columns: BoundsColumns,
    count: u64,
}

impl Collector for BoundedCount {
    type Fruit = u64;
    type Child = SegmentCount;

    fn for_segment(
        &self,
        _: SegmentOrdinal,
        reader: &SegmentReader,
    ) -> tantivy::Result<SegmentCount> {
        Ok(SegmentCount {
            bounds: self.bounds,
            columns: self.columns.of(reader)?,
            count: 0,
        })
    }

    fn requires_scoring(&self) -> bool {
        false
    }

    fn merge_fruits(&self, fruits: Vec<u64>) -> tantivy::Result<u64> {
        Ok(fruits.into_iter().sum())
    }
}

impl SegmentCollector for SegmentCount {
    type Fruit = u64;

    fn collect(&mut self, doc: DocId, _: Score) {
        self.count += u64::from(self.columns.admitted(doc, &self.bounds).is_some());
    }

    fn harvest(self) -> u64 {
        self.count
    }
}

/// The best `want` positions of the tenant's events the index covers (`covered`: seqs below
/// its watermark, all within its own time span) that match `query` and come after its cursor,
/// best first; and the filter's total when asked.
pub fn search(
    index: &SearchIndex,
    tenant_id: i64,
    covered: Coverage,
    query: &Query,
    want: usize,
) -> Result<IndexHits, StoreError> {
    let below = covered.below;
    let Some(span) = covered.span.filter(|_| below > 0) else {
        return Ok(IndexHits {
            positions: Vec::new(),
            total: query.count_total.then_some(0),
            windows: 0,
        });
    };
    let searcher = index.reader().searcher();
    let columns = index.column_cache.columns(&searcher)?;
    let translated = translate(&searcher, &index.fields, tenant_id, &query.filter)?;
    let bounds = Bounds::new(below, &query.filter);
    let order = query.order;
    let after = query.after;

    // Collecting the top N visits every document the query matches, so a page is searched in
    // widening time windows from its near edge (the newest instant, or the cursor): once a
    // window holds N matches, nothing outside it can rank higher. Broad filters then touch a
    // page's worth of documents instead of the whole tenant. A narrow filter (an entity's
    // history, a rare actor) has few candidates anywhere: it is searched in one go, as each
    // window would cost a pass over every segment, and without the window's buckets.
    let narrow = translated.candidates(&searcher)? <= index.narrow_candidates;
    let mut windows_taken = Windows::new(query, span.0, span.1);
    if narrow {
        windows_taken = windows_taken.all_at_once();
    }
    let mut positions = Vec::new();
    let mut windows = 0;
    for window in windows_taken {
        windows += 1;
        let window_bounds = Bounds {
            lo: window.0,
            hi: window.1,
            ..bounds
        };
        let columns = columns.clone();
        let by_position = move |segment: &SegmentReader| {
            let columns = columns.of(segment).ok();
            move |doc: DocId| -> u128 {
                let Some(position) = columns
                    .as_ref()
                    .and_then(|c| c.admitted(doc, &window_bounds))
                else {
                    return 0;
                };
                if after.is_some_and(|c| !c.precedes(position, order)) {
                    return 0;
                }
                sort_key(position, order)
            }
        };
        let top = TopDocs::with_limit(want.max(1)).order_by(by_position);
        // A narrow filter's few candidates are cheaper to check against the window in the
        // collector than to intersect with the window's buckets: each bucket's postings hold
        // every tenant's documents of that hour or day.
        let windowed = if narrow {
            translated.query.box_clone()
        } else {
            within(translated.query.box_clone(), &index.fields, window, span)
        };
        let found = searcher.search(&*windowed, &top).map_err(index_error)?;
        positions = found
            .into_iter()
            .filter(|(key, _)| *key != 0)
            .map(|(key, _)| position_of(key, order))
            .collect();
        if positions.len() >= want {
            break;
        }
    }
    let total = if query.count_total {
        let counted = within(
            translated.query,
            &index.fields,
            (bounds.lo, bounds.hi),
            span,
        );
        Some(
            searcher
                .search(&*counted, &BoundedCount { bounds, columns })
                .map_err(index_error)?,
        )
    } else {
        None
    };
    Ok(IndexHits {
        positions,
        total,
        windows,
    })
}

/// Most candidates a filter may have to be searched without windows (see [`search`]).
pub const NARROW_CANDIDATES: u64 = 5_000;
/// First window width: one hour, in microseconds.
const FIRST_WINDOW: i64 = 3_600_000_000;
/// Each window is this many times wider than the one before.
const WIDENING: i64 = 8;
/// Most windows a search takes: the last one reaches the far end, however far that is.
const MAX_WINDOWS: u32 = 6;
/// Most time buckets one window is asked through (see [`within`]).
const MAX_BUCKETS: usize = 64;

/// The time windows a page is searched in, narrowest first; the last covers the whole range,
/// and there are at most [`MAX_WINDOWS`].
struct Windows {
    /// The instant nearest the page's start (inclusive).
    edge: i64,
    /// The farthest instant the page may reach (inclusive).
    far: i64,
    order: Order,
    width: Option<i64>,
    /// Windows given so far.
    given: u32,
}

impl Windows {
    /// The windows for `query` over documents that occurred between `oldest` and `newest`.
    fn new(query: &Query, oldest: i64, newest: i64) -> Self {
        let since = query.filter.since.map(|t| t.as_micros());
        let until = query.filter.until.map(|t| t.as_micros().saturating_sub(1));
        let cursor = query.after.map(|c| c.occurred_at);
        let (edge, far) = match query.order {
            Order::Desc => (
                [Some(newest), until, cursor]
                    .into_iter()
                    .flatten()
                    .min()
                    .unwrap_or(newest),
                since.map_or(oldest, |s| s.max(oldest)),
            ),
            Order::Asc => (
                [Some(oldest), since, cursor]
                    .into_iter()
                    .flatten()
                    .max()
                    .unwrap_or(oldest),
                until.map_or(newest, |u| u.min(newest)),
            ),
        };
        Self {
            edge,
            far,
            order: query.order,
            width: Some(FIRST_WINDOW),
            given: 0,
        }
    }
}

impl Windows {
    /// One window from the near edge to the far end.
    fn all_at_once(mut self) -> Self {
        self.width = Some(i64::MAX);
        self
    }
}

impl Iterator for Windows {
    type Item = (i64, i64);

    fn next(&mut self) -> Option<(i64, i64)> {
        let mut width = self.width?;
        self.given += 1;
        if self.given == MAX_WINDOWS {
            // The last window: all the way to the far end.
            width = i64::MAX;
        }
        let empty = match self.order {
            Order::Desc => self.edge < self.far,
            Order::Asc => self.edge > self.far,
        };
        if empty {
            self.width = None;
            return None;
        }
        let (window, complete) = match self.order {
            Order::Desc => {
                let lo = self.edge.saturating_sub(width).max(self.far);
                ((lo, self.edge), lo == self.far)
            }
            Order::Asc => {
                let hi = self.edge.saturating_add(width).min(self.far);
                ((self.edge, hi), hi == self.far)
            }
        };
        self.width = (!complete).then(|| width.saturating_mul(WIDENING));
        Some(window)
    }
}
