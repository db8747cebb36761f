//! The reporting period: `--year` or `--from/--to`, boundaries taken in `--tz`.

use crate::error::usage;
use anyhow::Result;
use chrono::{DateTime, NaiveDate, TimeZone, Utc};
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
    /// apart); dates are `YYYY-MM-DD`, midnight in `tz`.
    pub fn parse(year: Option<i32>, from: Option<&str>, to: Option<&str>, tz: &str) -> Result<Period> {
        let tz: Tz = tz.parse().map_err(|_| {
            usage(format!(
                "--tz `{tz}` is not a time zone; use an IANA name like `Europe/Berlin` or `UTC`"
            ))
        })?;
        let at_midnight = |flag: &str, d: NaiveDate| -> Result<DateTime<Utc>> {
            tz.from_local_datetime(&d.and_hms_opt(0, 0, 0).expect("midnight"))
                .earliest()
                .map(|t| t.with_timezone(&Utc))
                .ok_or_else(|| usage(format!("{flag}: midnight of {d} does not exist in {tz}")))
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
