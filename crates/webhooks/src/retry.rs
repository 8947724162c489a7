//! When a failed message is tried again: the Standard Webhooks example schedule (at once, then
//! after 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 14 h, 20 h and 24 h: the last attempt about three
//! days after the first), each delay with ±10% jitter so that a recovering endpoint is not hit
//! by every subscription at one instant, and an answer's `Retry-After` honoured.

use std::time::Duration;

/// The spec's example delays between attempts.
pub const STANDARD_DELAYS: [Duration; 9] = [
    Duration::from_secs(5),
    Duration::from_secs(5 * 60),
    Duration::from_secs(30 * 60),
    Duration::from_secs(2 * 3600),
    Duration::from_secs(5 * 3600),
    Duration::from_secs(10 * 3600),
    Duration::from_secs(14 * 3600),
    Duration::from_secs(20 * 3600),
    Duration::from_secs(24 * 3600),
];

/// The longest `Retry-After` honoured.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(24 * 3600);

/// The delays between a message's attempts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetrySchedule {
    /// The delay after each failed attempt: after the first failure `delays[0]`, and so on;
    /// once they are used up the message has failed for good.
    pub delays: Vec<Duration>,
}

impl Default for RetrySchedule {
    fn default() -> Self {
        RetrySchedule {
            delays: STANDARD_DELAYS.to_vec(),
        }
    }
}

impl RetrySchedule {
    /// Every attempt a message gets: the first and one per delay.
    pub fn attempts(&self) -> u32 {
        self.delays.len() as u32 + 1
    }

    /// How long to wait after the `attempts`-th failed attempt (1 for the first), or `None`
    /// when that was the last. A `Retry-After` the endpoint sent replaces the scheduled delay
    /// (at most [`MAX_RETRY_AFTER`]); the scheduled one gets ±10% jitter.
    pub fn delay_after(&self, attempts: u32, retry_after: Option<Duration>) -> Option<Duration> {
        let scheduled = *self.delays.get(attempts.checked_sub(1)? as usize)?;
        Some(match retry_after {
            Some(asked) => asked.min(MAX_RETRY_AFTER),
            None => jittered(scheduled),
        })
    }
}

/// `delay` times a random factor between 0.9 and 1.1.
fn jittered(delay: Duration) -> Duration {
    let mut bytes = [0u8; 4];
    // Without randomness the delay goes unjittered, which is still a valid schedule.
    let _ = getrandom::fill(&mut bytes);
    let unit = f64::from(u32::from_le_bytes(bytes)) / f64::from(u32::MAX);
    delay.mul_f64(0.9 + 0.2 * unit)
}

/// The delay an answer's `Retry-After` asks for: seconds, or an HTTP date.
pub fn parse_retry_after(value: &str, now: std::time::SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = httpdate(value)?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// An IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`), the form HTTP dates take.
fn httpdate(value: &str) -> Option<std::time::SystemTime> {
    let parts: Vec<&str> = value.split_whitespace().collect();
    let [_, day, month, year, time, "GMT"] = parts.as_slice() else {
        return None;
    };
    let month = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ]
    .iter()
    .position(|m| m == month)? as u32
        + 1;
    let rfc3339 = format!("{year}-{month:02}-{day:0>2}T{time}Z");
    let at = trailkeep_event::Timestamp::parse(&rfc3339).ok()?;
    let micros = u64::try_from(at.as_micros()).ok()?;
    Some(std::time::UNIX_EPOCH + Duration::from_micros(micros))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_standard_schedule_spans_about_three_days_with_jitter() {
        let schedule = RetrySchedule::default();
        assert_eq!(schedule.attempts(), 10);
        let mut total = Duration::ZERO;
        for attempt in 1..=9 {
            let delay = schedule.delay_after(attempt, None).unwrap();
            let nominal = STANDARD_DELAYS[attempt as usize - 1];
            assert!(delay >= nominal.mul_f64(0.9) && delay <= nominal.mul_f64(1.1));
            total += nominal;
        }
        assert_eq!(total, Duration::from_secs(75 * 3600 + 35 * 60 + 5));
        assert_eq!(
            schedule.delay_after(10, None),
            None,
            "the tenth failure is final"
        );
        assert_eq!(
            schedule.delay_after(1, Some(Duration::from_secs(120))),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            schedule.delay_after(1, Some(Duration::from_secs(10 * 24 * 3600))),
            Some(MAX_RETRY_AFTER)
        );
    }

    #[test]
    fn retry_after_is_read_in_both_forms() {
        let now = std::time::UNIX_EPOCH + Duration::from_secs(784_111_777);
        assert_eq!(parse_retry_after("30", now), Some(Duration::from_secs(30)));
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:50:37 GMT", now),
            Some(Duration::from_secs(60))
        );
        assert_eq!(parse_retry_after("soon", now), None);
    }
}
