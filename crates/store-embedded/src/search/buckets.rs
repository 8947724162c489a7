//! Time buckets: each document carries the hour, the day and the 32-day block its
//! `occurred_at` falls in, as indexed terms, so that a time window becomes a union of a few
//! posting lists (the widest aligned buckets that fit inside it, hours at its ragged ends).
//!
//! Why not a range query on the `occurred` fast field: tantivy answers that by scanning the
//! column of every segment, so a first page over one day cost as much as reading the whole
//! index's timestamps (about 10 ms at a million events, growing with the index). The bucket
//! terms cost in proportion to the window instead. They cover whole hours, so the collectors
//! then check each candidate's exact `occurred` value (`query::Bounds`).

/// Microseconds in an hour, the narrowest bucket.
const HOUR_US: i64 = 3_600_000_000;

/// A bucket width.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// One hour.
    Hour,
    /// 24 hours (UTC days).
    Day,
    /// 32 days.
    Block,
}

impl Level {
    /// Widest first.
    pub const ALL: [Level; 3] = [Level::Block, Level::Day, Level::Hour];

    /// Hours in one bucket.
    fn hours(self) -> i64 {
        match self {
            Level::Hour => 1,
            Level::Day => 24,
            Level::Block => 24 * 32,
        }
    }

    /// The bucket of this width holding instant `micros`.
    pub fn bucket(self, micros: i64) -> i64 {
        micros.div_euclid(HOUR_US).div_euclid(self.hours())
    }
}

/// Buckets that together hold every instant of `lo..=hi` (microseconds) and nothing outside
/// the hours that `lo` and `hi` fall in: the widest aligned bucket that fits at each step.
/// `None` when that takes more than `max` buckets (a window of centuries, say).
pub fn covering(lo: i64, hi: i64, max: usize) -> Option<Vec<(Level, i64)>> {
    let mut buckets = Vec::new();
    if lo > hi {
        return Some(buckets);
    }
    let (mut hour, last) = (lo.div_euclid(HOUR_US), hi.div_euclid(HOUR_US));
    // Blocks alone would be more than `max`: no need to list them to know.
    if (last - hour) / Level::Block.hours() > i64::try_from(max).unwrap_or(i64::MAX) {
        return None;
    }
    while hour <= last {
        if buckets.len() == max {
            return None;
        }
        let level = Level::ALL
            .into_iter()
            .find(|l| hour.rem_euclid(l.hours()) == 0 && hour + l.hours() - 1 <= last)
            .unwrap_or(Level::Hour);
        buckets.push((level, hour.div_euclid(level.hours())));
        hour += level.hours();
    }
    Some(buckets)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The hours a bucket spans.
    fn hours_of((level, value): (Level, i64)) -> std::ops::Range<i64> {
        value * level.hours()..(value + 1) * level.hours()
    }

    #[test]
    fn buckets_tile_exactly_the_hours_of_the_window() {
        let mut state = 0x9e37_79b9_u64;
        let mut next = move |n: i64| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % n as u64) as i64
        };
        for _ in 0..2_000 {
            // Around 1970 too, where buckets of negative instants must floor, not truncate.
            let lo = next(400 * 24 * HOUR_US) - 200 * 24 * HOUR_US;
            let width = [HOUR_US / 2, 3 * 24 * HOUR_US, 150 * 24 * HOUR_US][next(3) as usize];
            let hi = lo + next(width);
            let buckets = covering(lo, hi, usize::MAX).unwrap();
            let hours: Vec<i64> = buckets.iter().flat_map(|b| hours_of(*b)).collect();
            let want: Vec<i64> = (lo.div_euclid(HOUR_US)..=hi.div_euclid(HOUR_US)).collect();
            assert_eq!(hours, want, "{lo}..={hi}: {buckets:?}");
            for (level, value) in &buckets {
                let first_hour = value * level.hours();
                assert_eq!(level.bucket(first_hour * HOUR_US), *value);
            }
            // Wide windows use wide buckets: at most 2 * (31 + 23) edge buckets plus blocks.
            let blocks = (hi - lo) / (768 * HOUR_US) + 1;
            assert!(
                buckets.len() as i64 <= 108 + blocks,
                "{} buckets",
                buckets.len()
            );
        }
        assert_eq!(covering(5, 4, 10), Some(vec![]));
        // A window of two thousand years is not listed bucket by bucket.
        let years = 2_000 * 365 * 24 * HOUR_US;
        assert_eq!(covering(-years, 0, 64), None);
        assert!(covering(0, 40 * 24 * HOUR_US, 64).is_some());
    }

    #[test]
    fn an_instant_falls_in_the_floor_bucket_of_each_width() {
        assert_eq!(Level::Hour.bucket(HOUR_US - 1), 0);
        assert_eq!(Level::Hour.bucket(HOUR_US), 1);
        assert_eq!(Level::Hour.bucket(-1), -1);
        assert_eq!(Level::Day.bucket(24 * HOUR_US - 1), 0);
        assert_eq!(Level::Day.bucket(-1), -1);
        assert_eq!(Level::Block.bucket(768 * HOUR_US), 1);
    }
}
