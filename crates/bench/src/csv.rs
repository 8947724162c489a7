//! CSV as both sides write it (RFC 4180: every text field quoted, quotes doubled; an empty
//! unquoted field is PostgreSQL's NULL): the export's columns, Trailkeep's events turned into
//! them, and the rows `COPY ... FROM STDIN (FORMAT csv)` loads.

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

/// Writes the export's header line.
pub fn header(out: &mut Vec<u8>) {
    out.extend_from_slice(EXPORT_COLUMNS.join(",").as_bytes());
    out.push(b'\n');
}

/// Writes one of Trailkeep's events (its native JSON) as an export row.
pub fn event_row(event: &Value, out: &mut Vec<u8>) {
    let text = |v: &Value| match v {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    };
    let fields = [
        text(&event["id"]),
        text(&event["seq"]),
        text(&event["occurred_at"]),
        text(&event["action"]),
        text(&event["category"]),
        text(&event["outcome"]),
        text(&event["actor"]["type"]),
        text(&event["actor"]["id"]),
        text(&event["actor"]["email"]),
        text(&event["actor"]["name"]),
        text(&event["target"]["type"]),
        text(&event["target"]["id"]),
        text(&event["target"]["name"]),
        text(&event["context"]["ip_address"]),
        text(&event["context"]["user_agent"]),
        text(&event["context"]["location"]),
        text(&event["description"]),
        text(&event["changes"]),
        text(&event["metadata"]),
    ];
    row(fields.iter().map(Option::as_deref), out);
}

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

    #[test]
    fn an_event_becomes_one_row_of_every_export_column() {
        let event = serde_json::json!({
            "id": "01J", "seq": 4, "occurred_at": "2025-01-01T00:00:00Z", "action": "a.created",
            "category": "create", "outcome": "success",
            "actor": {"type": "user", "id": "u1", "name": "N"},
            "target": {"type": "t", "id": "t1"},
            "context": {"ip_address": "192.0.2.1"},
            "metadata": {"k": "v"}
        });
        let mut out = Vec::new();
        event_row(&event, &mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "\"01J\",\"4\",\"2025-01-01T00:00:00Z\",\"a.created\",\"create\",\"success\",\"user\",\"u1\",,\"N\",\"t\",\"t1\",,\"192.0.2.1\",,,,,\"{\"\"k\"\":\"\"v\"\"}\"\n"
        );
    }
}
