//! CSV as the bench writes it (RFC 4180: every text field quoted, quotes doubled; an empty
//! unquoted field is PostgreSQL's NULL): the export's columns on both sides, and the rows
//! `COPY ... FROM STDIN (FORMAT csv)` loads.

use serde_json::Value;

use crate::workload::{Event, rfc3339};

/// The export's columns, the same on both sides.
pub const EXPORT_COLUMNS: [&str; 19] = [
    "id",
    "seq",
    "occurred_at",
    "action",
    "category",
    "outcome",
    "actor_type",
    "actor_id",
    "actor_email",
    "actor_name",
    "target_type",
    "target_id",
    "target_name",
    "ip",
    "user_agent",
    "location",
    "description",
    "changes",
    "metadata",
];

/// The same columns as Trailkeep's CSV export names them (`columns` of `POST /v1/exports`).
pub const EXPORT_PATHS: [&str; 19] = [
    "id",
    "seq",
    "occurred_at",
    "action",
    "category",
    "outcome",
    "actor.type",
    "actor.id",
    "actor.email",
    "actor.name",
    "target.type",
    "target.id",
    "target.name",
    "context.ip_address",
    "context.user_agent",
    "context.location",
    "description",
    "changes",
    "metadata",
];

/// The columns of the PostgreSQL table the bench loads, in `COPY` order.
pub const LOAD_COLUMNS: [&str; 19] = [
    "tenant",
    "occurred_at",
    "action",
    "category",
    "outcome",
    "actor_type",
    "actor_id",
    "actor_email",
    "actor_name",
    "target_type",
    "target_id",
    "target_name",
    "ip",
    "user_agent",
    "location",
    "description",
    "context",
    "changes",
    "metadata",
];

/// Writes one generated event as a row of [`LOAD_COLUMNS`] for tenant `tenant`.
pub fn load_row(event: &Event, tenant: &str, out: &mut Vec<u8>) {
    let changes = event.changes.as_ref().map(Value::to_string);
    let fields = [
        Some(tenant.to_owned()),
        Some(rfc3339(event.occurred_us)),
        Some(event.action.to_owned()),
        Some(event.category.to_owned()),
        Some(event.outcome.to_owned()),
        Some(event.actor_type.to_owned()),
        Some(event.actor_id.clone()),
        event.actor_email.clone(),
        Some(event.actor_name.clone()),
        Some(event.target_type.to_owned()),
        Some(event.target_id.clone()),
        Some(event.target_name.clone()),
        Some(event.ip.clone()),
        Some(event.user_agent.to_owned()),
        Some(event.location.to_owned()),
        Some(event.description.clone()),
        Some(event.context_extra.to_string()),
        changes,
        Some(event.metadata.to_string()),
    ];
    row(fields.iter().map(Option::as_deref), out);
}

/// Writes one CSV line: `None` as an empty unquoted field, text quoted.
fn row<'a>(fields: impl Iterator<Item = Option<&'a str>>, out: &mut Vec<u8>) {
    for (i, field) in fields.enumerate() {
        if i > 0 {
            out.push(b',');
        }
        if let Some(text) = field {
            out.push(b'"');
            for &b in text.as_bytes() {
                if b == b'"' {
                    out.push(b'"');
                }
                out.push(b);
            }
            out.push(b'"');
        }
    }
    out.push(b'\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_are_doubled_and_absent_fields_are_empty() {
        let mut out = Vec::new();
        row(
            [Some("a"), None, Some("say \"hi\", then go"), Some("")].into_iter(),
            &mut out,
        );
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "\"a\",,\"say \"\"hi\"\", then go\",\"\"\n"
        );
    }
}
