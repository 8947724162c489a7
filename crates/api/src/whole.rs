//! Whole numbers as JSON Schema means them: any number without a fractional part, so `60` and
//! `60.0` alike. The OpenAPI description calls such fields `integer`, and a client (or a
//! generator of test requests) may write either spelling; serde's integers take only the first.

use serde::{Deserialize, Deserializer, de::Error};

/// Largest float that holds every whole number up to it exactly (2^53).
const EXACT_FLOAT_LIMIT: f64 = 9_007_199_254_740_992.0;

/// Reads an optional non-negative whole number, written with or without a `.0`.
pub fn option_u64<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<u64>, D::Error> {
    let Some(number) = Option::<serde_json::Number>::deserialize(deserializer)? else {
        return Ok(None);
    };
    number
        .as_u64()
        .or_else(|| {
            number
                .as_f64()
                .filter(|f| f.fract() == 0.0 && (0.0..=EXACT_FLOAT_LIMIT).contains(f))
                .map(|f| f as u64)
        })
        .map(Some)
        .ok_or_else(|| D::Error::custom(format!("expected a whole number, got {number}")))
}

#[cfg(test)]
mod tests {
    use crate::CreateExportLinks;

    fn expires_in(body: &str) -> Result<Option<u64>, String> {
        serde_json::from_str::<CreateExportLinks>(body)
            .map(|b| b.expires_in)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn whole_numbers_are_taken_in_either_spelling() {
        assert_eq!(expires_in(r#"{"expires_in": 1133}"#), Ok(Some(1133)));
        assert_eq!(expires_in(r#"{"expires_in": 1133.0}"#), Ok(Some(1133)));
        assert_eq!(expires_in(r#"{"expires_in": 1.1e3}"#), Ok(Some(1100)));
        assert_eq!(expires_in("{}"), Ok(None));
        assert_eq!(expires_in(r#"{"expires_in": null}"#), Ok(None));
        for bad in ["1133.5", "-60", "-60.0", "1e300", "\"60\""] {
            assert!(
                expires_in(&format!(r#"{{"expires_in": {bad}}}"#)).is_err(),
                "{bad} is refused"
            );
        }
    }
}
