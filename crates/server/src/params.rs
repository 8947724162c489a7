//! Query-string parsing with clear errors: repeated keys, unknown keys refused, every value
//! checked, so a typo in a filter is a 400 rather than a silently wider search.

use axum::http::Uri;

use crate::error::ApiError;

/// The decoded `key=value` pairs of a request's query string.
pub struct Params {
    pairs: Vec<(String, String)>,
}

/// Longest query string accepted.
const MAX_QUERY_BYTES: usize = 16 * 1024;

impl Params {
    /// Decodes `uri`'s query string, refusing keys not in `allowed` (an allowed key ending in
    /// `.*` admits every key with that prefix, as `metadata.*` does).
    pub fn parse(uri: &Uri, allowed: &[&str]) -> Result<Self, ApiError> {
        let raw = uri.query().unwrap_or("");
        if raw.len() > MAX_QUERY_BYTES {
            return Err(ApiError::bad_request(
                "query_too_long",
                format!("the query string must be at most {MAX_QUERY_BYTES} bytes"),
            ));
        }
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(raw).map_err(|e| {
            ApiError::bad_request("bad_query", format!("the query string does not parse: {e}"))
        })?;
        Self::from_pairs(pairs, allowed)
    }

    /// The parameters `pairs` (from a query string or another encoding of the same
    /// parameters, such as an export's filter object), refusing keys not in `allowed`.
    pub fn from_pairs(pairs: Vec<(String, String)>, allowed: &[&str]) -> Result<Self, ApiError> {
        let known = |key: &str| {
            allowed.iter().any(|a| match a.strip_suffix('*') {
                Some(prefix) => key.starts_with(prefix) && key.len() > prefix.len(),
                None => *a == key,
            })
        };
        if let Some((key, _)) = pairs.iter().find(|(k, _)| !known(k)) {
            return Err(ApiError::bad_request(
                "unknown_parameter",
                format!(
                    "unknown query parameter {key:?}; known: {}",
                    allowed.join(", ")
                ),
            ));
        }
        Ok(Self { pairs })
    }

    /// Every pair whose key starts with `prefix`, with the prefix removed.
    pub fn with_prefix<'a>(
        &'a self,
        prefix: &'a str,
    ) -> impl Iterator<Item = (&'a str, &'a str)> + 'a {
        self.pairs
            .iter()
            .filter_map(move |(k, v)| Some((k.strip_prefix(prefix)?, v.as_str())))
    }

    /// A stable text of every pair except those named in `skip`: what a cursor binds to.
    pub fn fingerprint(&self, skip: &[&str]) -> String {
        let mut pairs: Vec<&(String, String)> = self
            .pairs
            .iter()
            .filter(|(k, _)| !skip.contains(&k.as_str()))
            .collect();
        pairs.sort();
        serde_urlencoded::to_string(pairs).unwrap_or_default()
    }

    /// Every value of `key`.
    pub fn all(&self, key: &str) -> Vec<String> {
        self.pairs
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// The one value of `key`, refusing repeats.
    pub fn one(&self, key: &str) -> Result<Option<&str>, ApiError> {
        let mut values = self
            .pairs
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.as_str());
        let first = values.next();
        if values.next().is_some() {
            return Err(ApiError::bad_request(
                "repeated_parameter",
                format!("query parameter {key:?} may appear only once"),
            ));
        }
        Ok(first)
    }

    /// The one value of `key` parsed with `parse`, which explains a bad value.
    pub fn parsed<T>(
        &self,
        key: &str,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Result<Option<T>, ApiError> {
        self.one(key)?
            .map(|v| {
                parse(v).map_err(|why| {
                    ApiError::bad_request("bad_parameter", format!("query parameter {key:?} {why}"))
                })
            })
            .transpose()
    }

    /// The one value of `key` as an unsigned integer.
    pub fn number(&self, key: &str) -> Result<Option<u64>, ApiError> {
        // Bounded to i64 (OpenAPI's int64), which every seq and size fits many times over.
        self.parsed(key, |v| match v.parse::<u64>() {
            Ok(n) if n <= i64::MAX as u64 => Ok(n),
            _ => Err("must be an integer from 0 to 2^63 - 1".into()),
        })
    }

    /// `limit` of a listing of jobs, subscriptions or alerts: from 1 to 100, 20 when absent.
    pub fn page_limit(&self) -> Result<usize, ApiError> {
        let limit = self.number("limit")?.unwrap_or(20);
        if !(1..=100).contains(&limit) {
            return Err(ApiError::bad_request(
                "bad_parameter",
                "query parameter \"limit\" must be from 1 to 100",
            ));
        }
        Ok(limit as usize)
    }

    /// The one value of `key`, which must be present.
    pub fn required_number(&self, key: &str) -> Result<u64, ApiError> {
        self.number(key)?.ok_or_else(|| {
            ApiError::bad_request(
                "missing_parameter",
                format!("query parameter {key:?} is required"),
            )
        })
    }
}
