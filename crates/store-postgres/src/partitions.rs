//! The monthly partitions of `events`, made by the engine itself ahead of need.
//!
//! An event lands in the partition of the month it was received in (UTC). A node makes the
//! partitions of the last month, this one and the next two when it starts, again every hour,
//! and any other month a batch needs (a migration of old events) before writing it; it
//! remembers which it has seen so that the check costs nothing on the append path.

use std::collections::HashSet;
use std::sync::Mutex;

use tokio_postgres::Client;
use trailkeep_store::StoreError;

use crate::internal;

/// A calendar month (UTC).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Month {
    year: i32,
    month: u32,
}

const MICROS_PER_DAY: i64 = 86_400_000_000;

impl Month {
    /// The month holding `micros` since the Unix epoch.
    pub fn of_micros(micros: i64) -> Self {
        let (year, month) = civil_from_days(micros.div_euclid(MICROS_PER_DAY));
        Self { year, month }
    }

    /// The month after this one.
    pub fn next(self) -> Self {
        if self.month == 12 {
            Self {
                year: self.year + 1,
                month: 1,
            }
        } else {
            Self {
                year: self.year,
                month: self.month + 1,
            }
        }
    }

    /// The month before this one.
    pub fn previous(self) -> Self {
        if self.month == 1 {
            Self {
                year: self.year - 1,
                month: 12,
            }
        } else {
            Self {
                year: self.year,
                month: self.month - 1,
            }
        }
    }

    /// The partition's table name.
    fn table(self) -> String {
        format!("events_y{:04}m{:02}", self.year, self.month)
    }

    /// The first instant of the month, as a PostgreSQL literal.
    fn start(self) -> String {
        format!("{:04}-{:02}-01 00:00:00+00", self.year, self.month)
    }
}

/// (year, month) of a day counted from 1970-01-01 (the proleptic Gregorian calendar).
fn civil_from_days(days: i64) -> (i32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year as i32, month)
}

/// The partitions this node knows exist.
#[derive(Debug, Default)]
pub struct Partitions {
    known: Mutex<HashSet<Month>>,
}

impl Partitions {
    /// Makes sure each of `months` has its partition, creating the missing ones.
    pub async fn ensure(
        &self,
        client: &mut Client,
        months: impl IntoIterator<Item = Month>,
    ) -> Result<(), StoreError> {
        let missing: Vec<Month> = {
            let known = self.known.lock().expect("partition set");
            let mut wanted: Vec<Month> =
                months.into_iter().filter(|m| !known.contains(m)).collect();
            wanted.sort();
            wanted.dedup();
            wanted
        };
        if missing.is_empty() {
            return Ok(());
        }
        let tx = client.transaction().await.map_err(internal)?;
        // One node at a time: the schema version's row lock serialises partition DDL.
        tx.execute(
            "SELECT 1 FROM trailkeep_settings WHERE name = 'schema_version' FOR UPDATE",
            &[],
        )
        .await
        .map_err(internal)?;
        for month in &missing {
            tx.batch_execute(&format!(
                "CREATE TABLE IF NOT EXISTS {} PARTITION OF events \
                 FOR VALUES FROM ('{}') TO ('{}')",
                month.table(),
                month.start(),
                month.next().start()
            ))
            .await
            .map_err(internal)?;
        }
        tx.commit().await.map_err(internal)?;
        self.known.lock().expect("partition set").extend(missing);
        Ok(())
    }

    /// Makes the partitions of the month before `now_micros`, its own and the two after it.
    pub async fn ensure_ahead(
        &self,
        client: &mut Client,
        now_micros: i64,
    ) -> Result<(), StoreError> {
        let this = Month::of_micros(now_micros);
        self.ensure(
            client,
            [this.previous(), this, this.next(), this.next().next()],
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_of_instants_and_their_neighbours() {
        assert_eq!(
            Month::of_micros(0),
            Month {
                year: 1970,
                month: 1
            }
        );
        // 2026-12-31T23:59:59.999999Z and the next microsecond.
        let new_year = 1_798_761_600_000_000;
        assert_eq!(
            Month::of_micros(new_year - 1),
            Month {
                year: 2026,
                month: 12
            }
        );
        assert_eq!(
            Month::of_micros(new_year),
            Month {
                year: 2027,
                month: 1
            }
        );
        // 2024-02-29 (a leap day).
        assert_eq!(
            Month::of_micros(1_709_164_800_000_000),
            Month {
                year: 2024,
                month: 2
            }
        );
        assert_eq!(
            Month::of_micros(-1),
            Month {
                year: 1969,
                month: 12
            }
        );
        let dec = Month {
            year: 2026,
            month: 12,
        };
        assert_eq!(
            dec.next(),
            Month {
                year: 2027,
                month: 1
            }
        );
        assert_eq!(dec.next().previous(), dec);
        assert_eq!(dec.table(), "events_y2026m12");
        assert_eq!(dec.next().start(), "2027-01-01 00:00:00+00");
    }
}
