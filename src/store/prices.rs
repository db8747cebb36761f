//! Where the store's prices live (schema v4): the price stage records the host it fetched
//! from, the price cache it filled and when, so every later command on the store (a
//! `report` has no connection flags) values from the same cache; and the time zones the
//! store's reports were asked in, so the next stage fetches their year boundaries too.

use super::{Store, from_ms, ms};
use anyhow::Result;
use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, params};
use std::path::PathBuf;

/// Schema v4: one row of where the prices live, and the zones of earlier reports.
pub(super) const SCHEMA_V4: &str = "
CREATE TABLE price_home (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    host TEXT NOT NULL,
    cache TEXT NOT NULL,
    fetched_at INTEGER NOT NULL,
    has_bars INTEGER NOT NULL
);
CREATE TABLE report_zones (tz TEXT PRIMARY KEY, last_used INTEGER NOT NULL);
";

/// Where the store's prices were last fetched to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PriceHome {
    /// The OKX base URL the candles came from.
    pub host: String,
    /// The price cache they were stored in.
    pub cache: PathBuf,
    /// The host's time when the stage ran: bars closing later were not final then.
    pub fetched_at: DateTime<Utc>,
    /// The cache held bars when the stage finished: a report that finds none there must
    /// not value its rows as if nothing had been fetched.
    pub has_bars: bool,
}

impl Store {
    /// Where the price stage last put this store's prices, if it ever ran.
    pub fn price_home(&self) -> Result<Option<PriceHome>> {
        let row: Option<(String, String, i64, bool)> = self
            .conn
            .query_row(
                "SELECT host, cache, fetched_at, has_bars FROM price_home WHERE id = 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .optional()?;
        Ok(row.and_then(|(host, cache, at, has_bars)| {
            Some(PriceHome {
                host,
                cache: PathBuf::from(cache),
                fetched_at: from_ms(at)?,
                has_bars,
            })
        }))
    }

    /// Records where the price stage just put this store's prices (one statement, so a
    /// shared `&Store` will do).
    pub fn set_price_home(&self, home: &PriceHome) -> Result<()> {
        self.conn.execute(
            "INSERT INTO price_home (id, host, cache, fetched_at, has_bars) VALUES (1, ?1, ?2, ?3, ?4)
             ON CONFLICT(id) DO UPDATE SET host = excluded.host, cache = excluded.cache,
               fetched_at = excluded.fetched_at, has_bars = excluded.has_bars",
            params![
                home.host,
                home.cache.to_string_lossy(),
                ms(home.fetched_at),
                home.has_bars
            ],
        )?;
        Ok(())
    }

    /// Remembers that a report was asked in time zone `tz` (an IANA name).
    pub fn remember_report_zone(&self, tz: &str, at: DateTime<Utc>) -> Result<()> {
        self.conn.execute(
            "INSERT INTO report_zones (tz, last_used) VALUES (?1, ?2)
             ON CONFLICT(tz) DO UPDATE SET last_used = excluded.last_used",
            params![tz, ms(at)],
        )?;
        Ok(())
    }

    /// The time zones reports on this store were asked in, by name.
    pub fn report_zones(&self) -> Result<Vec<String>> {
        let mut st = self.conn.prepare("SELECT tz FROM report_zones ORDER BY tz")?;
        let zones = st
            .query_map([], |r| r.get(0))?
            .collect::<rusqlite::Result<Vec<String>>>()?;
        Ok(zones)
    }
}
