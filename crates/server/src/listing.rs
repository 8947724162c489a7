//! What every listing endpoint shares: the filter parameters, paging by sealed cursor or by
//! `page`/`per_page` (with an exact total), and the answer's shape.

use axum::http::StatusCode;
use axum::response::Response;
use trailkeep_event::{
    Category, Filter, MAX_METADATA_VALUE_BYTES, MAX_PAGE, Order, Outcome, Query, Timestamp,
    metadata_term, normalize_actor_type, tokenize,
};
use trailkeep_store::{CanonicalEvent, Page};

use crate::cursor::CursorKey;
use crate::error::ApiError;
use crate::events::{json_response, open_data_object};
use crate::params::Params;

/// The filter parameters of DESIGN section 6.
pub const FILTER_PARAMS: &[&str] = &[
    "since",
    "until",
    "action",
    "category",
    "outcome",
    "actor_id",
    "actor_email",
    "actor_type",
    "target_type",
    "target_id",
    "ip",
    "q",
    "metadata.*",
];

/// The paging parameters.
pub const PAGING_PARAMS: &[&str] = &["order", "limit", "cursor", "page", "per_page"];

/// Page size when neither `limit` nor `per_page` is given.
const DEFAULT_PAGE: u32 = 50;
/// Deepest `page`/`per_page` offset; beyond it, page with the cursor.
const MAX_OFFSET: u64 = 100_000;
/// Most values of a repeatable filter.
const MAX_VALUES: usize = 32;

fn bad(detail: impl Into<String>) -> ApiError {
    ApiError::bad_request("bad_parameter", detail)
}

fn timestamp(v: &str) -> Result<Timestamp, String> {
    Timestamp::parse(v).map_err(|e| format!("{e}; use RFC 3339, such as 2025-01-15T10:00:00Z"))
}

/// Refuses too many values, or values that are empty or longer than 256 bytes.
pub fn checked(key: &str, values: Vec<String>) -> Result<Vec<String>, ApiError> {
    if values.len() > MAX_VALUES {
        return Err(bad(format!("at most {MAX_VALUES} values of {key:?}")));
    }
    if values.iter().any(|v| v.is_empty() || v.len() > 256) {
        return Err(bad(format!(
            "query parameter {key:?} must be 1 to 256 characters"
        )));
    }
    Ok(values)
}

/// `action` patterns, checked like every filter value; a bare `*` (every action of every
/// tenant, as an index range) is refused: leaving the filter out means the same.
pub fn action_patterns(values: Vec<String>) -> Result<Vec<String>, ApiError> {
    let values = checked("action", values)?;
    if values.iter().any(|v| v.trim_end_matches('*').is_empty()) {
        return Err(bad(
            "action \"*\" matches every action; leave the action filter out instead",
        ));
    }
    Ok(values)
}

/// The one value of `key`, checked like every filter value.
pub fn single(params: &Params, key: &str) -> Result<Option<String>, ApiError> {
    Ok(checked(
        key,
        params.one(key)?.map(str::to_owned).into_iter().collect(),
    )?
    .pop())
}

/// A user named by id or by e-mail (when it holds `@`), as `(actor_email, actor_id)`.
pub fn id_or_email(user: Option<String>) -> (Option<String>, Option<String>) {
    match user {
        Some(u) if u.contains('@') => (Some(u), None),
        other => (None, other),
    }
}

/// Parses every category named by `key`.
pub fn categories(params: &Params, key: &str) -> Result<Vec<Category>, ApiError> {
    checked(key, params.all(key))?
        .iter()
        .map(|c| Category::parse(c).ok_or_else(|| bad(format!("unknown category {c:?}"))))
        .collect()
}

/// Parses an outcome.
pub fn outcome(v: &str) -> Result<Outcome, String> {
    Outcome::parse(v).ok_or_else(|| "must be success, failure or unknown".into())
}

/// The [`Filter`] the filter parameters describe (those the endpoint allowed).
pub fn parse_filter(params: &Params) -> Result<Filter, ApiError> {
    let mut text = Vec::new();
    if let Some(q) = params.one("q")? {
        if q.len() > 1024 {
            return Err(bad("q must be at most 1024 bytes"));
        }
        text = tokenize(q).collect();
        if text.is_empty() {
            return Err(bad("q must contain at least one word"));
        }
        if text.len() > MAX_VALUES {
            return Err(bad(format!("q may contain at most {MAX_VALUES} words")));
        }
    }
    let mut metadata = Vec::new();
    for (path, value) in params.with_prefix("metadata.") {
        if path.is_empty() || path.len() > 256 || value.len() > MAX_METADATA_VALUE_BYTES {
            return Err(bad(format!(
                "metadata filters read metadata.<path>=<value>, with a path of at most 256 and a value of at most {MAX_METADATA_VALUE_BYTES} bytes"
            )));
        }
        metadata.push(metadata_term(path, value));
    }
    if metadata.len() > MAX_VALUES {
        return Err(bad(format!("at most {MAX_VALUES} metadata filters")));
    }
    Ok(Filter {
        since: params.parsed("since", timestamp)?,
        until: params.parsed("until", timestamp)?,
        actions: action_patterns(params.all("action"))?,
        categories: categories(params, "category")?,
        outcome: params.parsed("outcome", outcome)?,
        actor_id: single(params, "actor_id")?,
        actor_email: single(params, "actor_email")?,
        actor_type: single(params, "actor_type")?.map(|t| normalize_actor_type(&t)),
        target_type: single(params, "target_type")?,
        target_id: single(params, "target_id")?,
        ip: single(params, "ip")?,
        text,
        metadata,
        fields: Vec::new(),
    })
}

/// A parsed listing request.
pub struct Listing {
    /// The store query.
    pub query: Query,
    /// `Some((page, per_page))` in page mode.
    paged: Option<(u64, u32)>,
    /// What cursors of this listing bind to.
    binding: String,
}

impl Listing {
    /// Parses the paging parameters for `filter`. `binding_scope` names the caller's tenant and
    /// the endpoint; cursors bind to it and to every non-paging parameter.
    pub fn parse(
        params: &Params,
        filter: Filter,
        default_order: Order,
        binding_scope: &str,
        key: &CursorKey,
    ) -> Result<Self, ApiError> {
        let binding = format!(
            "{binding_scope}|{}",
            params.fingerprint(&["cursor", "limit", "page", "per_page"])
        );
        let order = params
            .parsed("order", |v| match v {
                "asc" => Ok(Order::Asc),
                "desc" => Ok(Order::Desc),
                _ => Err("must be asc or desc".into()),
            })?
            .unwrap_or(default_order);
        let size = |v: &str| match v.parse::<u32>() {
            Ok(n) if (1..=MAX_PAGE).contains(&n) => Ok(n),
            _ => Err(format!("must be an integer from 1 to {MAX_PAGE}")),
        };
        let limit = params.parsed("limit", size)?;
        let per_page = params.parsed("per_page", size)?;
        let page = params.parsed("page", |v| match v.parse::<u64>() {
            Ok(n) if n >= 1 => Ok(n),
            _ => Err("must be an integer from 1".into()),
        })?;
        let after = params.parsed("cursor", |v| {
            key.open(v, &binding).ok_or_else(|| {
                "is not a cursor issued for this tenant, endpoint and filter".to_owned()
            })
        })?;
        let paged = page.is_some() || per_page.is_some();
        if paged && (after.is_some() || limit.is_some()) {
            return Err(bad("use either page/per_page or limit/cursor, not both"));
        }
        let mut query =
            Query::first_page(filter, order, limit.or(per_page).unwrap_or(DEFAULT_PAGE));
        query.after = after;
        let paged = if paged {
            let page = page.unwrap_or(1);
            let offset = (page - 1).saturating_mul(u64::from(query.limit));
            if offset > MAX_OFFSET {
                return Err(bad(format!(
                    "page/per_page reach at most {MAX_OFFSET} events deep; page further with limit and cursor"
                )));
            }
            query.offset = offset;
            query.count_total = true;
            Some((page, query.limit))
        } else {
            None
        };
        Ok(Self {
            query,
            paged,
            binding,
        })
    }

    /// The answer: `{data, next_cursor}`, or in page mode `{data, page, per_page, total}`.
    pub fn respond(&self, page: Page<CanonicalEvent>, key: &CursorKey) -> Response {
        let mut body = open_data_object(page.events.iter().map(|e| &e.canonical[..]), 96);
        match self.paged {
            Some((number, per_page)) => {
                let total = page.total.unwrap_or(0);
                body.extend_from_slice(
                    format!(",\"page\":{number},\"per_page\":{per_page},\"total\":{total}")
                        .as_bytes(),
                );
            }
            None => {
                if let Some(next) = page.next {
                    body.extend_from_slice(b",\"next_cursor\":\"");
                    body.extend_from_slice(key.seal(next, &self.binding).as_bytes());
                    body.push(b'"');
                }
            }
        }
        body.push(b'}');
        json_response(StatusCode::OK, body)
    }
}

/// Most values in a filter object.
const MAX_FILTER_VALUES: usize = 64;

/// A filter object (the listing's parameters as JSON: exports, webhooks, rules) as `(key,
/// value)` pairs: strings, or arrays of strings for repeated keys.
pub fn filter_pairs(
    filter: &serde_json::Map<String, serde_json::Value>,
) -> Result<Vec<(String, String)>, ApiError> {
    let bad = |key: &str| {
        ApiError::invalid_field(
            format!("filter.{key}"),
            "must be a string or an array of strings",
        )
    };
    let mut pairs = Vec::new();
    for (key, value) in filter {
        match value {
            serde_json::Value::String(s) => pairs.push((key.clone(), s.clone())),
            serde_json::Value::Array(values) => {
                for v in values {
                    pairs.push((key.clone(), v.as_str().ok_or_else(|| bad(key))?.to_owned()));
                }
            }
            _ => return Err(bad(key)),
        }
    }
    if pairs.len() > MAX_FILTER_VALUES {
        return Err(ApiError::invalid_field(
            "filter",
            format!("at most {MAX_FILTER_VALUES} values"),
        ));
    }
    Ok(pairs)
}

/// A filter object parsed as `GET /v1/events` parses its parameters.
pub fn parse_filter_object(
    filter: &serde_json::Map<String, serde_json::Value>,
) -> Result<Filter, ApiError> {
    let params = Params::from_pairs(filter_pairs(filter)?, FILTER_PARAMS)?;
    parse_filter(&params)
}
