//! Translating a `Filter` into a tantivy query, and collecting the best positions in
//! (`occurred_at`, `seq`) order.
//!
//! Ordering uses one `u128` sort key per document, built from the `occurred` and `seq` fast
//! fields so that "greater is better" in either direction; documents not strictly beyond the
//! page's cursor get key 0 and are dropped, which keeps the collector a plain top-N.

use std::ops::Bound;

use tantivy::collector::{Count, TopDocs};
use tantivy::query::{
    BooleanQuery, InvertedIndexRangeQuery, Occur, Query as TantivyQuery, RangeQuery, TermQuery,
};
use tantivy::schema::{Field, IndexRecordOption};
use tantivy::{DocId, SegmentReader, Term};
use trailkeep_event::{Cursor, Filter, Order, Query};
use trailkeep_store::StoreError;

use super::{Fields, SearchIndex, index_error};

/// What the index found below a tenant's watermark.
#[derive(Debug, Default)]
pub struct IndexHits {
    /// The best positions, best first, at most the number asked for.
    pub positions: Vec<Cursor>,
    /// How many documents match the filter (when asked).
    pub total: Option<u64>,
}

fn term(field: Field, text: &str) -> Box<dyn TantivyQuery> {
    Box::new(TermQuery::new(
        Term::from_field_text(field, text),
        IndexRecordOption::Basic,
    ))
}

fn any_of(queries: Vec<Box<dyn TantivyQuery>>) -> Box<dyn TantivyQuery> {
    Box::new(BooleanQuery::union(queries))
}

/// Matches terms of `field` starting with `prefix`.
fn prefix(field: Field, prefix: &str) -> Box<dyn TantivyQuery> {
    let lower = Term::from_field_text(field, prefix);
    let mut upper = Term::from_field_text(field, prefix);
    // No UTF-8 string contains the byte 0xFF, so every term with the prefix sorts below this.
    upper.append_bytes(&[0xff]);
    Box::new(InvertedIndexRangeQuery::new(
        Bound::Included(lower),
        Bound::Excluded(upper),
    ))
}

/// The tantivy query for `filter` over tenant `tenant_id`'s documents with seq below `below`.
pub fn translate(f: &Fields, tenant_id: i64, below: u64, filter: &Filter) -> Box<dyn TantivyQuery> {
    let mut must: Vec<Box<dyn TantivyQuery>> = vec![
        Box::new(TermQuery::new(
            Term::from_field_u64(f.tenant, tenant_id as u64),
            IndexRecordOption::Basic,
        )),
        Box::new(RangeQuery::new(
            Bound::Unbounded,
            Bound::Excluded(Term::from_field_u64(f.seq, below)),
        )),
    ];
    if filter.since.is_some() || filter.until.is_some() {
        must.push(Box::new(RangeQuery::new(
            filter.since.map_or(Bound::Unbounded, |t| {
                Bound::Included(Term::from_field_i64(f.occurred, t.as_micros()))
            }),
            filter.until.map_or(Bound::Unbounded, |t| {
                Bound::Excluded(Term::from_field_i64(f.occurred, t.as_micros()))
            }),
        )));
    }
    if !filter.actions.is_empty() {
        must.push(any_of(
            filter
                .actions
                .iter()
                .map(|pattern| match pattern.strip_suffix('*') {
                    Some(p) => prefix(f.action, p),
                    None => term(f.action, pattern),
                })
                .collect(),
        ));
    }
    if !filter.categories.is_empty() {
        must.push(any_of(
            filter
                .categories
                .iter()
                .map(|c| term(f.category, c.as_str()))
                .collect(),
        ));
    }
    if let Some(outcome) = filter.outcome {
        must.push(term(f.outcome, outcome.as_str()));
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
            must.push(term(field, &value));
        }
    }
    for token in &filter.text {
        must.push(term(f.text, token));
    }
    for pair in &filter.metadata {
        must.push(term(f.meta, pair));
    }
    Box::new(BooleanQuery::new(
        must.into_iter().map(|q| (Occur::Must, q)).collect(),
    ))
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

/// The best `want` positions of tenant `tenant_id`'s indexed events (seq below `below`) that
/// match `query` and come after its cursor, best first; and the filter's total when asked.
pub fn search(
    index: &SearchIndex,
    tenant_id: i64,
    below: u64,
    query: &Query,
    want: usize,
) -> Result<IndexHits, StoreError> {
    if below == 0 {
        return Ok(IndexHits {
            positions: Vec::new(),
            total: query.count_total.then_some(0),
        });
    }
    let searcher = index.reader().searcher();
    let translated = translate(&index.fields, tenant_id, below, &query.filter);
    // Past the cursor only: the range lets deep pages skip what earlier pages covered (ties on
    // the cursor's instant are sorted out by the sort key below).
    let paged: Box<dyn TantivyQuery> = match query.after {
        None => translated.box_clone(),
        Some(cursor) => {
            let at = Term::from_field_i64(index.fields.occurred, cursor.occurred_at);
            let range = match query.order {
                Order::Asc => RangeQuery::new(Bound::Included(at), Bound::Unbounded),
                Order::Desc => RangeQuery::new(Bound::Unbounded, Bound::Included(at)),
            };
            Box::new(BooleanQuery::intersection(vec![
                translated.box_clone(),
                Box::new(range),
            ]))
        }
    };
    let order = query.order;
    let after = query.after;
    let by_position = move |segment: &SegmentReader| {
        let fast = segment.fast_fields();
        let occurred = fast.i64("occurred").ok().map(|c| c.first_or_default_col(0));
        let seq = fast.u64("seq").ok().map(|c| c.first_or_default_col(0));
        move |doc: DocId| -> u128 {
            let (Some(occurred), Some(seq)) = (&occurred, &seq) else {
                return 0;
            };
            let position = Cursor {
                occurred_at: occurred.get_val(doc),
                seq: seq.get_val(doc),
            };
            if after.is_some_and(|c| !c.precedes(position, order)) {
                return 0;
            }
            sort_key(position, order)
        }
    };
    let top = TopDocs::with_limit(want.max(1)).order_by(by_position);
    let found = searcher.search(&*paged, &top).map_err(index_error)?;
    let positions = found
        .into_iter()
        .filter(|(key, _)| *key != 0)
        .map(|(key, _)| position_of(key, order))
        .collect();
    let total = if query.count_total {
        Some(searcher.search(&*translated, &Count).map_err(index_error)? as u64)
    } else {
        None
    };
    Ok(IndexHits { positions, total })
}
