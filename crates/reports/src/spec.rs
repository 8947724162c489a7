//! What a report is asked to be: its type, period and format, as the job keeps them.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use trailkeep_event::Timestamp;
use trailkeep_jobs::export::Destination;

/// The longest period a report covers.
pub const MAX_PERIOD_DAYS: i64 = 1_000;

const DAY_US: i64 = 86_400 * 1_000_000;

/// Which report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ReportType {
    /// Volume, who did what, sign-ins, privileged changes, exports and alerts, mapped to SOC 2,
    /// ISO 27001 and PCI DSS controls.
    ComplianceSummary,
    /// Who holds which credentials and roles, what was granted and revoked, who read or
    /// exported what.
    AccessReview,
    /// Failed sign-ins, alerts and administrative activity outside working hours.
    SecurityEvents,
}

impl ReportType {
    /// Every type.
    pub const ALL: [ReportType; 3] = [
        ReportType::ComplianceSummary,
        ReportType::AccessReview,
        ReportType::SecurityEvents,
    ];

    /// The name on the wire (`COMPLIANCE_SUMMARY`).
    pub fn name(self) -> &'static str {
        match self {
            ReportType::ComplianceSummary => "COMPLIANCE_SUMMARY",
            ReportType::AccessReview => "ACCESS_REVIEW",
            ReportType::SecurityEvents => "SECURITY_EVENTS",
        }
    }

    /// The report's title.
    pub fn title(self) -> &'static str {
        match self {
            ReportType::ComplianceSummary => "Compliance summary",
            ReportType::AccessReview => "Access review",
            ReportType::SecurityEvents => "Security events",
        }
    }

    /// The type named `text` (any case), or what the names are.
    pub fn parse(text: &str) -> Result<Self, String> {
        ReportType::ALL
            .into_iter()
            .find(|t| t.name().eq_ignore_ascii_case(text))
            .ok_or_else(|| {
                let names: Vec<&str> = ReportType::ALL.iter().map(|t| t.name()).collect();
                format!("unknown report type {text:?}: one of {}", names.join(", "))
            })
    }
}

/// The file a report is written as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReportFormat {
    /// PDF (made by the binary's [`PdfRenderer`](crate::PdfRenderer)).
    Pdf,
    /// One self-contained HTML file.
    Html,
    /// The report's data as JSON.
    Json,
}

impl ReportFormat {
    /// Every format.
    pub const ALL: [ReportFormat; 3] = [ReportFormat::Pdf, ReportFormat::Html, ReportFormat::Json];

    /// The file name's extension.
    pub fn extension(self) -> &'static str {
        match self {
            ReportFormat::Pdf => "pdf",
            ReportFormat::Html => "html",
            ReportFormat::Json => "json",
        }
    }

    /// The media type a download is served with.
    pub fn media_type(self) -> &'static str {
        match self {
            ReportFormat::Pdf => "application/pdf",
            ReportFormat::Html => "text/html; charset=utf-8",
            ReportFormat::Json => "application/json",
        }
    }

    /// The format named `text` (any case), or what the names are.
    pub fn parse(text: &str) -> Result<Self, String> {
        ReportFormat::ALL
            .into_iter()
            .find(|f| f.extension().eq_ignore_ascii_case(text))
            .ok_or_else(|| format!("unknown report format {text:?}: one of pdf, html, json"))
    }
}

/// The time a report covers: from `from` (included) to `to` (excluded), by `occurred_at`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Period {
    /// The first instant covered.
    pub from: Timestamp,
    /// The first instant after it.
    pub to: Timestamp,
}

impl Period {
    /// Reads a period from its two ends, each a date (`2025-01-31`: the whole day, so a `to`
    /// date is included) or an RFC 3339 time (a `to` time is excluded); says what is wrong.
    pub fn parse(from: &str, to: &str) -> Result<Self, String> {
        let from_at = start_of(from, "from")?;
        let to_at = match date(to) {
            Some(day) => day.plus_micros(DAY_US),
            None => start_of(to, "to")?,
        };
        if to_at <= from_at {
            return Err("period: `to` must come after `from`".into());
        }
        if to_at.as_micros() - from_at.as_micros() > MAX_PERIOD_DAYS * DAY_US {
            return Err(format!("period: at most {MAX_PERIOD_DAYS} days"));
        }
        Ok(Period {
            from: from_at,
            to: to_at,
        })
    }

    /// Whether `at` falls within it.
    pub fn contains(&self, at: Timestamp) -> bool {
        self.from <= at && at < self.to
    }

    /// The UTC days it touches, `YYYY-MM-DD`, in order.
    pub fn days(&self) -> Vec<String> {
        let first = self.from.as_micros().div_euclid(DAY_US);
        let last = (self.to.as_micros() - 1).div_euclid(DAY_US);
        (first..=last)
            .filter_map(|day| Timestamp::from_micros(day * DAY_US))
            .map(|t| t.to_string()[..10].to_owned())
            .collect()
    }
}

/// `text` as a date at midnight UTC, when it is one.
fn date(text: &str) -> Option<Timestamp> {
    let bytes = text.as_bytes();
    let shaped = bytes.len() == 10
        && bytes[4] == b'-'
        && bytes[7] == b'-'
        && bytes
            .iter()
            .enumerate()
            .all(|(i, b)| i == 4 || i == 7 || b.is_ascii_digit());
    shaped
        .then(|| Timestamp::parse(&format!("{text}T00:00:00Z")).ok())
        .flatten()
}

fn start_of(text: &str, name: &str) -> Result<Timestamp, String> {
    date(text)
        .or_else(|| Timestamp::parse(text).ok())
        .ok_or_else(|| {
            format!("period.{name}: {text:?} is neither a date (2025-01-31) nor an RFC 3339 time")
        })
}

/// What a report job is asked to make: its parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportSpec {
    /// Which report.
    pub report_type: ReportType,
    /// The period.
    pub period: Period,
    /// The file it is written as.
    pub format: ReportFormat,
    /// Whether the activity figures (volume, actions, categories, entities, actors) are in it.
    pub include_stats: bool,
    /// Where the file goes besides the server's download route.
    #[serde(default = "download")]
    pub destination: Destination,
    /// Who asked (the audit events' actor).
    pub requested_by: Value,
}

fn download() -> Destination {
    Destination::Download
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_period_of_dates_covers_whole_days_and_a_period_of_times_is_exact() {
        let january = Period::parse("2025-01-01", "2025-01-31").unwrap();
        assert_eq!(january.from.to_string(), "2025-01-01T00:00:00Z");
        assert_eq!(january.to.to_string(), "2025-02-01T00:00:00Z");
        assert_eq!(january.days().len(), 31);
        let hours = Period::parse("2025-01-01T10:00:00Z", "2025-01-01T12:00:00Z").unwrap();
        assert_eq!(hours.days(), vec!["2025-01-01".to_owned()]);
        assert!(hours.contains(Timestamp::parse("2025-01-01T11:59:59Z").unwrap()));
        assert!(!hours.contains(Timestamp::parse("2025-01-01T12:00:00Z").unwrap()));
    }

    #[test]
    fn bad_periods_say_what_is_wrong() {
        for (from, to, says) in [
            ("2025-02-01", "2025-01-01", "after"),
            ("yesterday", "2025-01-01", "period.from"),
            ("2025-01-01", "2025-13-45", "period.to"),
            ("2020-01-01", "2025-01-01", "at most"),
        ] {
            let error = Period::parse(from, to).unwrap_err();
            assert!(error.contains(says), "{from}..{to}: {error}");
        }
    }

    #[test]
    fn types_and_formats_read_in_any_case() {
        assert_eq!(
            ReportType::parse("compliance_summary").unwrap(),
            ReportType::ComplianceSummary
        );
        assert!(
            ReportType::parse("SUMMARY")
                .unwrap_err()
                .contains("ACCESS_REVIEW")
        );
        assert_eq!(ReportFormat::parse("PDF").unwrap(), ReportFormat::Pdf);
        assert!(ReportFormat::parse("docx").is_err());
    }
}
