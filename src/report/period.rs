//! The reporting period: `--year` or `--from/--to`, boundaries taken in `--tz`.

use crate::error::usage;
pub use crate::model::day_start;
use anyhow::Result;
use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;

/// The reporting period `[from, to)` in UTC and the zone its boundaries were taken in.
#[derive(Debug, Clone, Copy)]
pub struct Period {
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    pub tz: Tz,
}

impl Period {
    /// The period from the flags' values: `year` wins over `from`/`to` (clap keeps them
    /// apart); dates are `YYYY-MM-DD`, each the first instant of that day in `tz`
    /// ([`day_start`]).
    pub fn parse(year: Option<i32>, from: Option<&str>, to: Option<&str>, tz: &str) -> Result<Period> {
        let tz: Tz = tz.parse().map_err(|_| {
            usage(format!(
                "--tz `{tz}` is not a time zone; use an IANA name like `Europe/Berlin` or `UTC`"
            ))
        })?;
        let at_midnight = |flag: &str, d: NaiveDate| -> Result<DateTime<Utc>> {
            day_start(tz, d).ok_or_else(|| usage(format!("{flag}: {d} has no instant in {tz}")))
        };
        let parse = |flag: &str, v: &str| -> Result<DateTime<Utc>> {
            let d = NaiveDate::parse_from_str(v, "%Y-%m-%d").map_err(|_| {
                usage(format!(
                    "{flag} `{v}` is not a date; use YYYY-MM-DD, e.g. 2025-01-01"
                ))
            })?;
            at_midnight(flag, d)
        };
        if let Some(y) = year {
            let start = NaiveDate::from_ymd_opt(y, 1, 1)
                .ok_or_else(|| usage(format!("--year {y} is out of range")))?;
            let end = NaiveDate::from_ymd_opt(y + 1, 1, 1)
                .ok_or_else(|| usage(format!("--year {y} is out of range")))?;
            return Ok(Period {
                from: Some(at_midnight("--year", start)?),
                to: Some(at_midnight("--year", end)?),
                tz,
            });
        }
        let from = from.map(|v| parse("--from", v)).transpose()?;
        let to = to.map(|v| parse("--to", v)).transpose()?;
        if let (Some(f), Some(t)) = (from, to)
            && f >= t
        {
            return Err(usage("--from must be before --to"));
        }
        Ok(Period { from, to, tz })
    }

    /// The instant the period's closing holdings are taken at: its end, or now when the
    /// period has not ended; `None` without an end (a whole-history report).
    pub fn closing_at(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.to.map(|t| t.min(now))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().to_utc()
    }

    /// Issue 19 item 8: in Santiago the clocks go from 00:00 straight to 01:00 on
    /// 2026-09-06; that day starts at its first instant (01:00 local = 04:00Z), it is not
    /// refused.
    #[test]
    fn a_day_whose_midnight_is_skipped_starts_at_its_first_instant() {
        let p = Period::parse(None, Some("2026-09-06"), Some("2026-09-07"), "America/Santiago").unwrap();
        assert_eq!(p.from, Some(utc("2026-09-06T04:00:00Z")));
        assert_eq!(p.to, Some(utc("2026-09-07T03:00:00Z")));
        // The day before ends where it starts.
        let p = Period::parse(None, Some("2026-09-05"), Some("2026-09-06"), "America/Santiago").unwrap();
        assert_eq!(p.to, Some(utc("2026-09-06T04:00:00Z")));
        // A midnight that exists twice (clocks back at 24:00 → 23:00 the day before) is
        // taken at its earlier instant, as before.
        let p = Period::parse(Some(2025), None, None, "Europe/Berlin").unwrap();
        assert_eq!(p.from, Some(utc("2024-12-31T23:00:00Z")));
        assert_eq!(p.to, Some(utc("2025-12-31T23:00:00Z")));
    }
}
