//! The export formats: how each stored event becomes bytes of the file.
//!
//! NDJSON writes the stored canonical bytes, one event a line, so each line hashes to its leaf.
//! JSON writes the same bytes as one array. CSV writes one column per chosen field, nested
//! values as JSON text, RFC 4180 quoting, and a formula guard: a cell a spreadsheet would run
//! (starting with `=`, `+`, `-`, `@`, a tab or a carriage return) gets a leading `'`. OCSF
//! writes one OCSF 1.8.0 record a line (`ocsf.rs`).

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::io::Write;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use trailkeep_event::Event;

/// A file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// Comma-separated values with a header row.
    Csv,
    /// One JSON array of events.
    Json,
    /// One canonical event a line: the stored bytes.
    Ndjson,
    /// One OCSF record a line.
    Ocsf,
}

impl Format {
    /// The file name extension.
    pub fn extension(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::Json => "json",
            Format::Ndjson => "ndjson",
            Format::Ocsf => "ocsf.ndjson",
        }
    }

    /// The media type the file is served with.
    pub fn media_type(self) -> &'static str {
        match self {
            Format::Csv => "text/csv; charset=utf-8",
            Format::Json => "application/json",
            Format::Ndjson | Format::Ocsf => "application/x-ndjson",
        }
    }
}

/// The CSV columns when none are chosen.
pub const DEFAULT_COLUMNS: &[&str] = &[
    "id",
    "seq",
    "occurred_at",
    "received_at",
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
    "description",
    "changes",
    "metadata",
    "redaction",
];

/// Every column a CSV export may choose: the event's fields, nested ones by dotted path.
pub const KNOWN_COLUMNS: &[&str] = &[
    "id",
    "seq",
    "tenant",
    "occurred_at",
    "received_at",
    "action",
    "category",
    "outcome",
    "actor",
    "actor.type",
    "actor.id",
    "actor.email",
    "actor.name",
    "actor.token_id",
    "actor.token_name",
    "actor.context",
    "target",
    "target.type",
    "target.id",
    "target.name",
    "target.product",
    "target.scope",
    "context",
    "context.ip_address",
    "context.user_agent",
    "context.location",
    "context.device",
    "changes",
    "description",
    "metadata",
    "redaction",
];

/// Writes events in one format to `out`.
pub struct EventWriter<W: Write> {
    format: Format,
    columns: Vec<String>,
    csv: Option<csv::Writer<W>>,
    out: Option<W>,
    written: u64,
}

impl<W: Write> EventWriter<W> {
    /// Starts a file: the CSV header row, or the JSON array's opening bracket.
    pub fn new(format: Format, columns: Vec<String>, mut out: W) -> std::io::Result<Self> {
        let csv = match format {
            Format::Csv => {
                let mut csv = csv::WriterBuilder::new()
                    .terminator(csv::Terminator::CRLF)
                    .from_writer(out);
                csv.write_record(&columns)?;
                return Ok(Self {
                    format,
                    columns,
                    csv: Some(csv),
                    out: None,
                    written: 0,
                });
            }
            Format::Json => {
                out.write_all(b"[")?;
                None
            }
            Format::Ndjson | Format::Ocsf => None,
        };
        Ok(Self {
            format,
            columns,
            csv,
            out: Some(out),
            written: 0,
        })
    }

    /// Writes one event, given its stored bytes and, when the caller parsed it already, the
    /// event (NDJSON and JSON copy the bytes; CSV reads them as JSON; OCSF needs the event and
    /// parses it when not given).
    pub fn write(&mut self, canonical: &[u8], event: Option<&Event>) -> std::io::Result<()> {
        match (self.format, &mut self.csv, &mut self.out) {
            (Format::Csv, Some(csv), _) => {
                let event: Members<'_> = serde_json::from_slice(canonical)?;
                let row = self.columns.iter().map(|c| guard(cell(&event, c)));
                csv.write_record(row)?;
            }
            (Format::Json, _, Some(out)) => {
                if self.written > 0 {
                    out.write_all(b",")?;
                }
                out.write_all(canonical)?;
            }
            (Format::Ndjson, _, Some(out)) => {
                out.write_all(canonical)?;
                out.write_all(b"\n")?;
            }
            (Format::Ocsf, _, Some(out)) => {
                let parsed;
                let event = match event {
                    Some(event) => event,
                    None => {
                        parsed = Event::from_canonical(canonical).map_err(std::io::Error::other)?;
                        &parsed
                    }
                };
                serde_json::to_writer(&mut *out, &super::ocsf::record(event))?;
                out.write_all(b"\n")?;
            }
            _ => unreachable!("the writer matches its format"),
        }
        self.written += 1;
        Ok(())
    }

    /// Ends the file (the JSON array's closing bracket) and hands back the output.
    pub fn finish(self) -> std::io::Result<W> {
        match (self.csv, self.out) {
            (Some(csv), _) => csv.into_inner().map_err(|e| e.into_error()),
            (None, Some(mut out)) => {
                if self.format == Format::Json {
                    out.write_all(b"]\n")?;
                }
                Ok(out)
            }
            (None, None) => unreachable!("a writer has an output"),
        }
    }
}

/// A member name, borrowed from the stored bytes unless it holds an escape.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
struct Name<'a>(#[serde(borrow)] Cow<'a, str>);

/// One level of a JSON object: each member's JSON text as stored, not parsed further, so that
/// a CSV row reads only what its columns name.
#[derive(Debug, Deserialize)]
struct Members<'a>(#[serde(borrow)] BTreeMap<Name<'a>, &'a RawValue>);

impl<'a> Members<'a> {
    fn get(&self, name: &str) -> Option<&'a RawValue> {
        self.0.get(&Name(Cow::Borrowed(name))).copied()
    }
}

/// The text of `column` (a dotted path) in `event`: strings as they are, other scalars,
/// objects and arrays as their canonical JSON text, missing fields empty.
fn cell(event: &Members<'_>, column: &str) -> String {
    let mut parts = column.split('.');
    let Some(mut value) = parts.next().and_then(|first| event.get(first)) else {
        return String::new();
    };
    for part in parts {
        match serde_json::from_str::<Members<'_>>(value.get())
            .ok()
            .and_then(|inner| inner.get(part))
        {
            Some(inner) => value = inner,
            None => return String::new(),
        }
    }
    match value.get() {
        "null" => String::new(),
        text if text.starts_with('"') => serde_json::from_str::<String>(text).unwrap_or_default(),
        text => text.to_owned(),
    }
}

/// A cell a spreadsheet would read as a formula, made inert with a leading `'`.
fn guard(cell: String) -> String {
    if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{cell}")
    } else {
        cell
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};
    use trailkeep_event::{Timestamp, prepare};
    use trailkeep_store::StoredEvent;

    use super::*;

    fn stored(raw: Value, seq: u64) -> StoredEvent {
        let prepared = prepare(&raw, "acme", Timestamp::now()).unwrap();
        let canonical = prepared.canonical_bytes(seq);
        StoredEvent {
            leaf_hash: trailkeep_ledger::leaf_hash(&canonical),
            event: prepared.into_event(seq),
            canonical,
        }
    }

    fn render(format: Format, columns: &[&str], events: &[StoredEvent]) -> String {
        let columns = columns.iter().map(|c| (*c).to_owned()).collect();
        let mut writer = EventWriter::new(format, columns, Vec::new()).unwrap();
        for event in events {
            writer.write(&event.canonical, None).unwrap();
        }
        String::from_utf8(writer.finish().unwrap()).unwrap()
    }

    #[test]
    fn ndjson_and_json_carry_the_stored_bytes() {
        let events = [
            stored(json!({"action": "a.created"}), 0),
            stored(json!({"action": "b.created"}), 1),
        ];
        let ndjson = render(Format::Ndjson, &[], &events);
        let lines: Vec<&str> = ndjson.lines().collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[1].as_bytes(), events[1].canonical.as_slice());
        let json = render(Format::Json, &[], &events);
        let parsed: Vec<Value> = serde_json::from_str(&json).unwrap();
        assert_eq!(parsed[0]["action"], "a.created");
        assert_eq!(render(Format::Json, &[], &[]).trim(), "[]");
    }

    #[test]
    fn csv_quotes_nests_and_guards_formulas() {
        let events = [stored(
            json!({
                "action": "doc.updated",
                "actor": {"id": "=HYPERLINK(\"http://x\")", "name": "Ann, \"the\" admin"},
                "metadata": {"k": [1, 2]},
                "description": "-2+3",
            }),
            0,
        )];
        let csv = render(
            Format::Csv,
            &[
                "action",
                "actor.id",
                "actor.name",
                "metadata",
                "description",
                "target.id",
            ],
            &events,
        );
        let mut reader = csv::Reader::from_reader(csv.as_bytes());
        let headers = reader.headers().unwrap().clone();
        assert_eq!(&headers[1], "actor.id");
        let row = reader.records().next().unwrap().unwrap();
        assert_eq!(&row[0], "doc.updated");
        assert_eq!(&row[1], "'=HYPERLINK(\"http://x\")");
        assert_eq!(&row[2], "Ann, \"the\" admin");
        assert_eq!(&row[3], r#"{"k":[1,2]}"#);
        assert_eq!(&row[4], "'-2+3");
        assert_eq!(&row[5], "");
        assert!(csv.contains("\r\n"), "RFC 4180 line ends");
    }
}
