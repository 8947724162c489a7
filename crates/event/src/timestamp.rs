//! Instants as stored and shown: UTC, microsecond precision, RFC 3339 text.
//!
//! Canonical bytes must not depend on how a client spelled a time, so every instant is normalised
//! on the way in: converted to UTC, truncated to microseconds, and printed with a `Z` and with
//! trailing fractional zeros removed (`10:00:00Z`, `10:00:00.12Z`).

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Microseconds since the Unix epoch, UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(i64);

/// The earliest instant accepted: 0001-01-01T00:00:00Z.
const MIN_MICROS: i64 = -62_135_596_800_000_000;
/// The latest instant accepted: 9999-12-31T23:59:59.999999Z.
const MAX_MICROS: i64 = 253_402_300_799_999_999;

impl Timestamp {
    /// The current instant.
    pub fn now() -> Self {
        Self::from_datetime(OffsetDateTime::now_utc())
    }

    /// The instant `micros` microseconds after the epoch, if it lies in years 1 to 9999.
    pub fn from_micros(micros: i64) -> Option<Self> {
        (MIN_MICROS..=MAX_MICROS)
            .contains(&micros)
            .then_some(Self(micros))
    }

    /// Microseconds since the Unix epoch.
    pub fn as_micros(self) -> i64 {
        self.0
    }

    /// Now, in milliseconds since the Unix epoch: the clock jobs, documents and leases are
    /// stamped with.
    pub fn now_millis() -> i64 {
        Self::now().0 / 1000
    }

    /// `millis` milliseconds since the epoch in RFC 3339 (empty outside years 1 to 9999).
    pub fn millis_rfc3339(millis: i64) -> String {
        Self::from_micros(millis.saturating_mul(1000))
            .map(|t| t.to_string())
            .unwrap_or_default()
    }

    /// This instant moved by `micros` microseconds (saturating at the accepted range).
    pub fn plus_micros(self, micros: i64) -> Self {
        Self(self.0.saturating_add(micros).clamp(MIN_MICROS, MAX_MICROS))
    }

    /// Parses RFC 3339 text (any offset) into a UTC instant truncated to microseconds.
    pub fn parse(text: &str) -> Result<Self, String> {
        let parsed = OffsetDateTime::parse(text, &Rfc3339)
            .map_err(|e| format!("is not an RFC 3339 timestamp ({e})"))?;
        let micros = parsed.unix_timestamp_nanos().div_euclid(1000);
        i64::try_from(micros)
            .ok()
            .and_then(Self::from_micros)
            .ok_or_else(|| "is outside the years 1 to 9999".to_owned())
    }

    fn from_datetime(dt: OffsetDateTime) -> Self {
        let micros = dt.unix_timestamp_nanos().div_euclid(1000);
        Self(
            i64::try_from(micros)
                .unwrap_or(MAX_MICROS)
                .clamp(MIN_MICROS, MAX_MICROS),
        )
    }

    fn to_datetime(self) -> OffsetDateTime {
        // The constructor keeps the value in years 1..=9999, which `time` always represents.
        OffsetDateTime::from_unix_timestamp_nanos(i128::from(self.0) * 1000)
            .unwrap_or(OffsetDateTime::UNIX_EPOCH)
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let dt = self.to_datetime();
        write!(
            f,
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
            dt.year(),
            u8::from(dt.month()),
            dt.day(),
            dt.hour(),
            dt.minute(),
            dt.second()
        )?;
        let mut micros = dt.microsecond();
        if micros != 0 {
            let mut digits = 6;
            while micros.is_multiple_of(10) {
                micros /= 10;
                digits -= 1;
            }
            write!(f, ".{micros:0digits$}")?;
        }
        f.write_str("Z")
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_offsets_and_precision() {
        let cases = [
            ("2025-01-15T10:00:00Z", "2025-01-15T10:00:00Z"),
            ("2025-01-15T12:00:00+02:00", "2025-01-15T10:00:00Z"),
            ("2025-01-15T10:00:00.120Z", "2025-01-15T10:00:00.12Z"),
            (
                "2025-01-15T10:00:00.1234567Z",
                "2025-01-15T10:00:00.123456Z",
            ),
            ("2025-01-15t10:00:00.000001z", "2025-01-15T10:00:00.000001Z"),
            ("1969-12-31T23:59:59.5Z", "1969-12-31T23:59:59.5Z"),
        ];
        for (input, want) in cases {
            assert_eq!(
                Timestamp::parse(input).unwrap().to_string(),
                want,
                "{input}"
            );
        }
    }

    #[test]
    fn rejects_non_rfc3339() {
        for bad in ["2025-01-15", "yesterday", "2025-13-01T00:00:00Z", ""] {
            assert!(Timestamp::parse(bad).is_err(), "{bad}");
        }
    }
}
