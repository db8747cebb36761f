//! The machine-wide price cache: one SQLite file shared by every profile and data dir, so
//! many client profiles on one machine never fetch the same public bar twice.
//!
//! It holds public market data only (no account data, no secrets). Location: for an OKX
//! host, `OKX_EXPORT_PRICE_CACHE`, else `$XDG_CACHE_HOME/okx-export/prices.sqlite`, else
//! `~/.cache/okx-export/prices.sqlite`; for any other host (the simulator, a custom
//! `--base-url`) always `<data dir>/price-cache.sqlite`, whatever the environment says, so
//! simulated prices never mix with real ones (`demo` with `OKX_EXPORT_PRICE_CACHE` set must
//! not write the simulator's prices into the real cache). Two processes may use it at once
//! (WAL, busy timeout).
//!
//! Tables: `bars` (instrument, source kind, bar, open time, open, close, high, low),
//! `covered` (the `[from, to)` ranges of open times already asked for, with or without
//! bars), `unconfirmed` (per instrument and bar, the oldest bar an answer said was not
//! final yet: times from there on are *pending*, not missing), `absent` (instruments OKX
//! says do not exist), `ecb` and `ecb_covered` (reference rates).
//!
//! A cache written before bars kept their high and low gains the two columns when opened;
//! its 1-hour ranges are forgotten (their bars stay until fetched again), because an hour
//! bar is used only when its high and low bound its error.

use super::rules::Inst;
use anyhow::{Context, Result};
use chrono::NaiveDate;
use rusqlite::{Connection, OptionalExtension, params};
use rust_decimal::Decimal;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

/// Environment variable naming the cache file (tests always set it, or use a sim host).
pub const CACHE_ENV: &str = "OKX_EXPORT_PRICE_CACHE";

/// The cache's file name in the data dir, for hosts other than OKX's.
pub const DATA_DIR_CACHE: &str = "price-cache.sqlite";

/// Whether `base_url` is one of OKX's own hosts (a region preset).
pub fn is_okx_host(base_url: &str) -> bool {
    ["global", "eea", "us"]
        .iter()
        .filter_map(|r| crate::okx::client::region_url(r))
        .any(|u| u == base_url.trim_end_matches('/'))
}

/// Where a profile's prices come from and are kept: the host its candles are fetched
/// from, the cache they go into, and its data dir (for `missing_prices.csv` and a
/// non-OKX host's cache). The commands build it from their settings
/// ([`crate::settings::Settings::price_place`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PricePlace {
    pub host: String,
    pub cache: PathBuf,
    pub data_dir: PathBuf,
}

impl PricePlace {
    /// `cache`: the one a group or fleet run chose for the host (one per host, so its
    /// profiles fetch each bar once), else [`cache_path`]. Every opener of the cache asks
    /// here.
    pub fn new(host: &str, data_dir: &Path, cache: Option<PathBuf>) -> PricePlace {
        PricePlace {
            host: host.to_string(),
            cache: cache.unwrap_or_else(|| cache_path(host, data_dir)),
            data_dir: data_dir.to_path_buf(),
        }
    }
}

/// Where the cache lives for `base_url` and `data_dir` (see the module docs).
pub fn cache_path(base_url: &str, data_dir: &Path) -> PathBuf {
    if !is_okx_host(base_url) {
        return data_dir.join(DATA_DIR_CACHE);
    }
    if let Some(p) = std::env::var_os(CACHE_ENV).filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(|| data_dir.to_path_buf());
    base.join("okx-export").join("prices.sqlite")
}

/// One bar as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bar {
    pub ts: i64,
    pub open: Decimal,
    pub close: Decimal,
    /// `None` for a bar stored before the cache kept them.
    pub high: Option<Decimal>,
    pub low: Option<Decimal>,
}

impl Bar {
    /// `(high − low) / low`: how far any price inside the bar can be from another, so the
    /// error of valuing a time inside it with one of its prices. `None` without high/low.
    pub fn range(&self) -> Option<Decimal> {
        match (self.high, self.low) {
            (Some(h), Some(l)) if l > Decimal::ZERO && h >= l => Some((h - l) / l),
            _ => None,
        }
    }
}

pub struct PriceCache {
    conn: Connection,
    path: PathBuf,
    /// Covered ranges per (inst, bar), loaded on first use.
    covered: HashMap<(Inst, &'static str), Vec<(i64, i64)>>,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS bars (inst TEXT NOT NULL, kind TEXT NOT NULL, bar TEXT NOT NULL,
  ts INTEGER NOT NULL, open TEXT NOT NULL, close TEXT NOT NULL, high TEXT, low TEXT,
  PRIMARY KEY (inst, kind, bar, ts)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS unconfirmed (inst TEXT NOT NULL, kind TEXT NOT NULL, bar TEXT NOT NULL,
  ts INTEGER NOT NULL, PRIMARY KEY (inst, kind, bar)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS covered (inst TEXT NOT NULL, kind TEXT NOT NULL, bar TEXT NOT NULL,
  from_ts INTEGER NOT NULL, to_ts INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS covered_by_inst ON covered (inst, kind, bar);
CREATE TABLE IF NOT EXISTS absent (inst TEXT NOT NULL, kind TEXT NOT NULL, checked_at INTEGER NOT NULL,
  PRIMARY KEY (inst, kind)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS ecb (ccy TEXT NOT NULL, day TEXT NOT NULL, rate TEXT NOT NULL,
  PRIMARY KEY (ccy, day)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS ecb_covered (ccy TEXT NOT NULL, from_day TEXT NOT NULL, to_day TEXT NOT NULL);
";

impl PriceCache {
    pub fn open(path: &Path) -> Result<PriceCache> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create the price cache directory `{}`", dir.display()))?;
        }
        let conn = Connection::open(path).with_context(|| {
            format!(
                "cannot open the price cache `{}` (set {CACHE_ENV} to move it)",
                path.display()
            )
        })?;
        conn.busy_timeout(Duration::from_secs(30))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.execute_batch(SCHEMA)
            .and_then(|()| add_high_low(&conn))
            .with_context(|| {
                format!(
                    "price cache `{}` is not usable; delete it to start over",
                    path.display()
                )
            })?;
        Ok(PriceCache {
            conn,
            path: path.to_path_buf(),
            covered: HashMap::new(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn is_absent(&self, inst: &Inst) -> Result<bool> {
        Ok(self
            .conn
            .query_row(
                "SELECT 1 FROM absent WHERE inst = ?1 AND kind = ?2",
                params![inst.id, inst.kind.as_str()],
                |_| Ok(()),
            )
            .optional()?
            .is_some())
    }

    /// Whether anything was ever fetched for `inst` (so OKX knows it).
    pub fn is_known(&self, inst: &Inst) -> Result<bool> {
        Ok(self
            .conn
            .query_row(
                "SELECT 1 FROM covered WHERE inst = ?1 AND kind = ?2 LIMIT 1",
                params![inst.id, inst.kind.as_str()],
                |_| Ok(()),
            )
            .optional()?
            .is_some())
    }

    pub fn mark_absent(&mut self, inst: &Inst, now_ms: i64) -> Result<()> {
        self.conn.execute(
            "INSERT OR REPLACE INTO absent (inst, kind, checked_at) VALUES (?1, ?2, ?3)",
            params![inst.id, inst.kind.as_str(), now_ms],
        )?;
        Ok(())
    }

    /// The `[from, to)` ranges already fetched for `inst` at `bar`.
    pub fn covered(&mut self, inst: &Inst, bar: &'static str) -> Result<&[(i64, i64)]> {
        let key = (inst.clone(), bar);
        if !self.covered.contains_key(&key) {
            let mut st = self.conn.prepare_cached(
                "SELECT from_ts, to_ts FROM covered WHERE inst = ?1 AND kind = ?2 AND bar = ?3",
            )?;
            let ranges = st
                .query_map(params![inst.id, inst.kind.as_str(), bar], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })?
                .collect::<rusqlite::Result<Vec<(i64, i64)>>>()?;
            self.covered.insert(key.clone(), merged(ranges));
        }
        Ok(self.covered.get(&key).map_or(&[], Vec::as_slice))
    }

    /// Stores one fetched page: its bars and the range it covers, in one transaction.
    pub fn store_page(
        &mut self,
        inst: &Inst,
        bar: &'static str,
        bars: &[Bar],
        range: (i64, i64),
    ) -> Result<()> {
        let tx = self.conn.transaction()?;
        {
            let mut ins = tx.prepare_cached(
                "INSERT OR REPLACE INTO bars (inst, kind, bar, ts, open, close, high, low) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )?;
            for b in bars {
                ins.execute(params![
                    inst.id,
                    inst.kind.as_str(),
                    bar,
                    b.ts,
                    b.open.to_string(),
                    b.close.to_string(),
                    b.high.map(|d| d.to_string()),
                    b.low.map(|d| d.to_string())
                ])?;
            }
            if range.1 > range.0 {
                tx.execute(
                    "INSERT INTO covered (inst, kind, bar, from_ts, to_ts) VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![inst.id, inst.kind.as_str(), bar, range.0, range.1],
                )?;
            }
        }
        tx.commit()?;
        if range.1 > range.0 {
            self.covered(inst, bar)?;
            if let Some(v) = self.covered.get_mut(&(inst.clone(), bar)) {
                v.push(range);
                *v = merged(std::mem::take(v));
            }
        }
        Ok(())
    }

    /// The stored bar of `inst` at `bar` opening at `ts`.
    pub fn bar(&self, inst: &Inst, bar: &str, ts: i64) -> Result<Option<Bar>> {
        let mut st = self.conn.prepare_cached(
            "SELECT open, close, high, low FROM bars WHERE inst = ?1 AND kind = ?2 AND bar = ?3 AND ts = ?4",
        )?;
        type Row = (String, String, Option<String>, Option<String>);
        let row: Option<Row> = st
            .query_row(params![inst.id, inst.kind.as_str(), bar, ts], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
            })
            .optional()?;
        row.map(|(o, c, h, l)| {
            let d = |s: &str| {
                Decimal::from_str(s)
                    .with_context(|| format!("price cache `{}` holds a bad price `{s}`", self.path.display()))
            };
            Ok(Bar {
                ts,
                open: d(&o)?,
                close: d(&c)?,
                high: h.as_deref().map(d).transpose()?,
                low: l.as_deref().map(d).transpose()?,
            })
        })
        .transpose()
    }

    /// Records that `ts` is the oldest bar of `inst` at `bar` an answer just called not
    /// final (bars from there on were still forming when prices were fetched).
    pub fn set_unconfirmed(&mut self, inst: &Inst, bar: &str, ts: i64) -> Result<()> {
        self.conn.execute(
            "INSERT INTO unconfirmed (inst, kind, bar, ts) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT(inst, kind, bar) DO UPDATE SET ts = max(ts, excluded.ts)",
            params![inst.id, inst.kind.as_str(), bar, ts],
        )?;
        Ok(())
    }

    /// The newest bar of `inst` at `bar` known to have been still forming when fetched.
    pub fn unconfirmed(&self, inst: &Inst, bar: &str) -> Result<Option<i64>> {
        Ok(self
            .conn
            .query_row(
                "SELECT ts FROM unconfirmed WHERE inst = ?1 AND kind = ?2 AND bar = ?3",
                params![inst.id, inst.kind.as_str(), bar],
                |r| r.get(0),
            )
            .optional()?)
    }

    /// Whether the cache holds any bar at all.
    pub fn has_bars(&self) -> Result<bool> {
        Ok(self
            .conn
            .query_row("SELECT 1 FROM bars LIMIT 1", [], |_| Ok(()))
            .optional()?
            .is_some())
    }

    /// The ECB rate of `ccy` per euro on the latest working day at or before `day`
    /// (looking back at most a week), with that day.
    pub fn ecb_rate(&self, ccy: &str, day: NaiveDate) -> Result<Option<(NaiveDate, Decimal)>> {
        let lo = day - chrono::Duration::days(7);
        let mut st = self.conn.prepare_cached(
            "SELECT day, rate FROM ecb WHERE ccy = ?1 AND day <= ?2 AND day >= ?3 ORDER BY day DESC LIMIT 1",
        )?;
        let row: Option<(String, String)> = st
            .query_row(params![ccy, day.to_string(), lo.to_string()], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .optional()?;
        row.map(|(d, r)| {
            let bad = || {
                format!(
                    "price cache `{}` holds a bad ECB rate `{d}` `{r}`",
                    self.path.display()
                )
            };
            Ok((
                NaiveDate::parse_from_str(&d, "%Y-%m-%d").with_context(bad)?,
                Decimal::from_str(&r).with_context(bad)?,
            ))
        })
        .transpose()
    }

    /// Whether the ECB series of `ccy` was fetched for every day in `[from, to]`.
    pub fn ecb_covers(&self, ccy: &str, from: NaiveDate, to: NaiveDate) -> Result<bool> {
        let mut st = self
            .conn
            .prepare_cached("SELECT from_day, to_day FROM ecb_covered WHERE ccy = ?1")?;
        let ranges = st
            .query_map(params![ccy], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        let (f, t) = (from.to_string(), to.to_string());
        Ok(ranges.iter().any(|(a, b)| *a <= f && t <= *b))
    }

    pub fn store_ecb(
        &mut self,
        ccy: &str,
        rates: &[(NaiveDate, Decimal)],
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<()> {
        let tx = self.conn.transaction()?;
        {
            let mut ins =
                tx.prepare_cached("INSERT OR REPLACE INTO ecb (ccy, day, rate) VALUES (?1, ?2, ?3)")?;
            for (d, r) in rates {
                ins.execute(params![ccy, d.to_string(), r.to_string()])?;
            }
            tx.execute(
                "INSERT INTO ecb_covered (ccy, from_day, to_day) VALUES (?1, ?2, ?3)",
                params![ccy, from.to_string(), to.to_string()],
            )?;
        }
        tx.commit()?;
        Ok(())
    }
}

/// A cache from before bars kept their high and low: add the columns and forget which
/// 1-hour ranges were fetched, so the next stage fetches them again with high and low.
fn add_high_low(conn: &Connection) -> rusqlite::Result<()> {
    let has_high: bool = conn.query_row(
        "SELECT count(*) > 0 FROM pragma_table_info('bars') WHERE name = 'high'",
        [],
        |r| r.get(0),
    )?;
    if !has_high {
        conn.execute_batch(
            "BEGIN;
             ALTER TABLE bars ADD COLUMN high TEXT;
             ALTER TABLE bars ADD COLUMN low TEXT;
             DELETE FROM covered WHERE bar = '1H';
             COMMIT;",
        )?;
    }
    Ok(())
}

/// `ranges` sorted and merged into disjoint `[from, to)` ranges.
pub fn merged(mut ranges: Vec<(i64, i64)>) -> Vec<(i64, i64)> {
    ranges.sort_unstable();
    let mut out: Vec<(i64, i64)> = Vec::with_capacity(ranges.len());
    for (a, b) in ranges {
        match out.last_mut() {
            Some(last) if a <= last.1 => last.1 = last.1.max(b),
            _ => out.push((a, b)),
        }
    }
    out
}

/// Whether `ts` lies in one of `ranges` (sorted and disjoint, as [`merged`] makes them).
pub fn is_covered(ranges: &[(i64, i64)], ts: i64) -> bool {
    let i = ranges.partition_point(|r| r.0 <= ts);
    i > 0 && ts < ranges[i - 1].1
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A cache written before bars kept high and low opens: the columns are added, its
    /// 1-hour ranges are forgotten (fetched again, with high and low), the rest is kept.
    #[test]
    fn a_cache_without_high_and_low_is_upgraded() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.sqlite");
        Connection::open(&path)
            .unwrap()
            .execute_batch(
                "CREATE TABLE bars (inst TEXT NOT NULL, kind TEXT NOT NULL, bar TEXT NOT NULL,
                   ts INTEGER NOT NULL, open TEXT NOT NULL, close TEXT NOT NULL,
                   PRIMARY KEY (inst, kind, bar, ts)) WITHOUT ROWID;
                 CREATE TABLE covered (inst TEXT NOT NULL, kind TEXT NOT NULL, bar TEXT NOT NULL,
                   from_ts INTEGER NOT NULL, to_ts INTEGER NOT NULL);
                 INSERT INTO bars VALUES ('BTC-USD', 'index', '1H', 0, '1', '2');
                 INSERT INTO bars VALUES ('BTC-USD', 'index', '1m', 0, '1', '1.1');
                 INSERT INTO covered VALUES ('BTC-USD', 'index', '1H', 0, 3600000);
                 INSERT INTO covered VALUES ('BTC-USD', 'index', '1m', 0, 60000);",
            )
            .unwrap();
        let mut c = PriceCache::open(&path).unwrap();
        let btc = Inst::index("BTC");
        assert_eq!(c.covered(&btc, "1H").unwrap(), []);
        assert_eq!(c.covered(&btc, "1m").unwrap(), [(0, 60_000)]);
        let old = c.bar(&btc, "1H", 0).unwrap().unwrap();
        assert_eq!((old.high, old.range()), (None, None));
        assert!(c.has_bars().unwrap());
        // Opening it again changes nothing more.
        drop(c);
        let mut c = PriceCache::open(&path).unwrap();
        assert_eq!(c.covered(&btc, "1m").unwrap(), [(0, 60_000)]);
    }

    #[test]
    fn ranges_merge_and_cover() {
        let r = merged(vec![(10, 20), (0, 5), (5, 8), (15, 30)]);
        assert_eq!(r, vec![(0, 8), (10, 30)]);
        assert!(is_covered(&r, 0) && is_covered(&r, 7) && is_covered(&r, 29));
        assert!(!is_covered(&r, 8) && !is_covered(&r, 30) && !is_covered(&r, -1));
    }
}
