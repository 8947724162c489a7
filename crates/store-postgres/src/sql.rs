//! A `Filter` as a SQL condition over `events`, with its parameters.
//!
//! Each condition maps to a column when the field has one (b-tree indexes serve the listing
//! shapes) and to the `terms` array of term keys otherwise (one GIN index). Every term comes from
//! [`crate::terms`], which builds them as `Filter::matches` reads the event, so the two agree;
//! the conformance suite checks that on 1,000 random filters.

use tokio_postgres::types::ToSql;
use trailkeep_event::{EventField, Filter};

use crate::terms::{column_of, field_term, metadata_term, token_term};

/// A parameter of a statement.
pub type Param = Box<dyn ToSql + Sync + Send>;

/// A `WHERE` condition over one tenant's events, and its parameters (`$1` is the tenant).
pub struct Where {
    /// The condition, `tenant = $1 AND ...`.
    pub clause: String,
    /// The values of `$1`, `$2`, ...
    pub params: Vec<Param>,
}

impl Where {
    /// Every event of `tenant`.
    pub fn tenant(tenant: &str) -> Self {
        Self {
            clause: "tenant = $1".into(),
            params: vec![Box::new(tenant.to_owned())],
        }
    }

    /// Adds a parameter and names it (`$n`).
    pub fn param(&mut self, value: impl ToSql + Sync + Send + 'static) -> String {
        self.params.push(Box::new(value));
        format!("${}", self.params.len())
    }

    /// Adds a condition.
    pub fn and(&mut self, condition: &str) {
        self.clause.push_str(" AND ");
        self.clause.push_str(condition);
    }

    /// The parameters as a statement takes them.
    pub fn values(&self) -> Vec<&(dyn ToSql + Sync)> {
        self.params
            .iter()
            .map(|p| &**p as &(dyn ToSql + Sync))
            .collect()
    }

    /// Adds every condition of `filter`.
    pub fn filter(&mut self, filter: &Filter) {
        if let Some(since) = filter.since {
            let p = self.param(since.as_micros());
            self.and(&format!("occurred_us >= {p}"));
        }
        if let Some(until) = filter.until {
            let p = self.param(until.as_micros());
            self.and(&format!("occurred_us < {p}"));
        }
        if !filter.actions.is_empty() {
            let mut exact = Vec::new();
            let mut any = Vec::new();
            for pattern in &filter.actions {
                match pattern.strip_suffix('*') {
                    Some(prefix) => {
                        let p = self.param(format!("{}%", escape_like(prefix)));
                        any.push(format!("action LIKE {p}"));
                    }
                    None => exact.push(pattern.clone()),
                }
            }
            if !exact.is_empty() {
                let p = self.param(exact);
                any.push(format!("action = ANY({p})"));
            }
            self.and(&format!("({})", any.join(" OR ")));
        }
        if !filter.categories.is_empty() {
            let names: Vec<String> = filter
                .categories
                .iter()
                .map(|c| c.as_str().to_owned())
                .collect();
            let p = self.param(names);
            self.and(&format!("category = ANY({p})"));
        }
        if let Some(outcome) = filter.outcome {
            let p = self.param(outcome.as_str().to_owned());
            self.and(&format!("outcome = {p}"));
        }
        for (column, value) in [
            ("actor_id", &filter.actor_id),
            ("actor_type", &filter.actor_type),
            ("target_type", &filter.target_type),
            ("target_id", &filter.target_id),
        ] {
            if let Some(value) = value {
                let p = self.param(value.clone());
                self.and(&format!("{column} = {p}"));
            }
        }
        let mut all_terms: Vec<i64> = Vec::new();
        if let Some(email) = &filter.actor_email {
            all_terms.push(field_term(EventField::ActorEmail, email));
        }
        if let Some(ip) = &filter.ip {
            all_terms.push(field_term(EventField::IpAddress, ip));
        }
        all_terms.extend(filter.text.iter().map(|t| token_term(t)));
        all_terms.extend(filter.metadata.iter().map(|m| metadata_term(m)));
        if !all_terms.is_empty() {
            let p = self.param(all_terms);
            self.and(&format!("terms @> {p}::bigint[]"));
        }
        for condition in &filter.fields {
            let field = condition.field;
            let test = match column_of(field) {
                Some(column) => {
                    let values: Vec<String> = condition
                        .values
                        .iter()
                        .map(|v| field.normalize(v))
                        .collect();
                    let p = self.param(values);
                    if condition.negate {
                        format!("({column} IS NULL OR NOT {column} = ANY({p}))")
                    } else {
                        format!("{column} = ANY({p})")
                    }
                }
                None => {
                    let terms: Vec<i64> = condition
                        .values
                        .iter()
                        .map(|v| field_term(field, v))
                        .collect();
                    let p = self.param(terms);
                    if condition.negate {
                        format!("NOT (terms && {p}::bigint[])")
                    } else {
                        format!("terms && {p}::bigint[]")
                    }
                }
            };
            self.and(&test);
        }
    }
}

/// `text` with LIKE's special characters escaped (the default escape character, `\`).
fn escape_like(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '\\' | '%' | '_') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_patterns_escape_their_wildcards() {
        assert_eq!(escape_like("a_b%c\\d"), "a\\_b\\%c\\\\d");
        assert_eq!(escape_like("contract."), "contract.");
    }

    #[test]
    fn each_condition_takes_its_own_parameter() {
        let mut sql = Where::tenant("acme");
        sql.filter(&Filter {
            actions: vec!["doc.*".into(), "user.login".into()],
            actor_id: Some("u1".into()),
            text: vec!["murabaha".into()],
            ..Filter::default()
        });
        assert_eq!(
            sql.clause,
            "tenant = $1 AND (action LIKE $2 OR action = ANY($3)) AND actor_id = $4 \
             AND terms @> $5::bigint[]"
        );
        assert_eq!(sql.params.len(), 5);
    }
}
