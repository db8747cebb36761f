//! What each stream's stored history covers (schema v2): per stream the time range its
//! completed walks reached and why the range ends where it does, plus the store's floor
//! (how far back the user asked to go, remembered across runs).
//!
//! A coverage row only ever claims what stored pages prove: it is written after the pages
//! of a walk are committed, so a crash leaves it behind the data, never ahead of it.

use super::{Store, from_ms, ms};
use anyhow::Result;
use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, params};

/// A currency's oldest stored trading bill: `(ccy, bal, balChg)` as stored.
pub type Opening = (String, Option<String>, Option<String>);

/// Why a stream's covered range ends where it does at its old end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum EndReason {
    /// The walk went past the requested floor (`--since`).
    FloorReached,
    /// The API returned nothing older: the stream covers everything OKX has.
    ApiExhausted,
    /// The API returned nothing older, but the endpoint only reaches back a fixed window:
    /// the range ends at the window's start (older records come from another stream).
    ApiWindow,
    /// Carried over from a schema-v1 store: covers at least its oldest stored record.
    Migrated,
    /// No walk of the stream has completed (see [`Coverage::error`]).
    StreamFailed,
}

impl EndReason {
    pub fn as_str(self) -> &'static str {
        match self {
            EndReason::FloorReached => "floor_reached",
            EndReason::ApiExhausted => "api_exhausted",
            EndReason::ApiWindow => "api_window",
            EndReason::Migrated => "migrated",
            EndReason::StreamFailed => "stream_failed",
        }
    }

    pub fn parse(s: &str) -> Option<EndReason> {
        [
            EndReason::FloorReached,
            EndReason::ApiExhausted,
            EndReason::ApiWindow,
            EndReason::Migrated,
            EndReason::StreamFailed,
        ]
        .into_iter()
        .find(|r| r.as_str() == s)
    }
}

/// The stored coverage of one stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Coverage {
    pub stream: String,
    /// Oldest time covered (inclusive); `None`: no walk has completed.
    pub from: Option<DateTime<Utc>>,
    /// Time covered up to (exclusive): the server time when the last completed walk began.
    pub to: Option<DateTime<Utc>>,
    pub reason: EndReason,
    pub detail: Option<String>,
    /// Why the last walk failed, if it did: the range is then what earlier walks proved, and
    /// nothing newer than `to` is covered.
    pub error: Option<String>,
    /// The cursor from which a walk to older records continues (`after`), if the range ends
    /// at the floor and not at the API's end.
    pub bottom: Option<String>,
    pub updated_at: Option<DateTime<Utc>>,
}

pub(super) const SCHEMA_V2: &str = "
CREATE TABLE coverage (
    stream TEXT PRIMARY KEY,
    from_ms INTEGER,
    to_ms INTEGER,
    reason TEXT NOT NULL,
    detail TEXT,
    error TEXT,
    bottom TEXT,
    updated_at INTEGER NOT NULL
);
CREATE INDEX records_by_id ON records (kind, num, ts, key);
";

impl Store {
    pub fn coverage(&self, stream: &str) -> Result<Option<Coverage>> {
        Ok(self.coverages()?.into_iter().find(|c| c.stream == stream))
    }

    /// Every stream's coverage, by stream name.
    pub fn coverages(&self) -> Result<Vec<Coverage>> {
        let mut st = self.conn.prepare(
            "SELECT stream, from_ms, to_ms, reason, detail, error, bottom, updated_at FROM coverage ORDER BY stream",
        )?;
        let rows = st.query_map([], |r| {
            let reason: String = r.get(3)?;
            Ok(Coverage {
                stream: r.get(0)?,
                from: r.get::<_, Option<i64>>(1)?.and_then(from_ms),
                to: r.get::<_, Option<i64>>(2)?.and_then(from_ms),
                reason: EndReason::parse(&reason).unwrap_or(EndReason::StreamFailed),
                detail: r.get(4)?,
                error: r.get(5)?,
                bottom: r.get(6)?,
                updated_at: from_ms(r.get(7)?),
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    pub fn set_coverage(&mut self, c: &Coverage) -> Result<()> {
        self.conn.execute(
            "INSERT INTO coverage (stream, from_ms, to_ms, reason, detail, error, bottom, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
             ON CONFLICT(stream) DO UPDATE SET from_ms = excluded.from_ms, to_ms = excluded.to_ms,
               reason = excluded.reason, detail = excluded.detail, error = excluded.error,
               bottom = excluded.bottom, updated_at = excluded.updated_at",
            params![
                c.stream,
                c.from.map(ms),
                c.to.map(ms),
                c.reason.as_str(),
                c.detail,
                c.error,
                c.bottom,
                ms(Utc::now())
            ],
        )?;
        Ok(())
    }

    /// The oldest stored record's time (ms, instruments aside): the account's first
    /// activity as far as the store shows it (issue 10 item 5).
    pub fn first_activity_ms(&self) -> Result<Option<i64>> {
        Ok(self.conn.query_row(
            "SELECT min(ts) FROM records WHERE kind != 'instrument' AND ts > 0",
            [],
            |r| r.get(0),
        )?)
    }

    /// Per currency, `bal` and `balChg` of its oldest stored trading bill (lowest billId):
    /// a bill that does not open at zero means trading activity before it.
    pub fn oldest_trading_openings(&self) -> Result<Vec<Opening>> {
        // SQLite returns the bare columns of the row holding min(num) in each group.
        let mut st = self.conn.prepare(
            "SELECT json_extract(raw, '$.ccy') AS c, json_extract(raw, '$.bal'), json_extract(raw, '$.balChg'), min(num)
             FROM records WHERE kind = 'bill' GROUP BY c",
        )?;
        let rows = st.query_map([], |r| {
            Ok((
                r.get::<_, Option<String>>(0)?.unwrap_or_default(),
                r.get::<_, Option<String>>(1)?,
                r.get::<_, Option<String>>(2)?,
            ))
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The store's floor: how far back its history is meant to reach.
    pub fn floor(&self) -> Result<Option<DateTime<Utc>>> {
        let v: Option<String> = self
            .conn
            .query_row("SELECT value FROM meta WHERE key = 'floor'", [], |r| r.get(0))
            .optional()?;
        Ok(v.and_then(|v| v.parse().ok()).and_then(from_ms))
    }

    pub fn set_floor(&mut self, floor: DateTime<Utc>) -> Result<()> {
        self.conn.execute(
            "INSERT INTO meta (key, value) VALUES ('floor', ?1)
             ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            [ms(floor).to_string()],
        )?;
        Ok(())
    }
}

/// Schema v1 → v2 inside the migration's transaction: the coverage table and the id-order
/// index, and coverage guessed from what v1 kept. A stream whose cursor is idle finished a
/// walk: it covers at least its oldest stored record up to the cursor's update time, and a
/// walk with an earlier floor continues below that record. The floor is the oldest archive
/// quarter asked for, else the oldest stored record's day.
pub(super) fn migrate_v1(tx: &rusqlite::Transaction) -> Result<()> {
    tx.execute_batch(SCHEMA_V2)?;
    let mut st = tx.prepare(
        "SELECT c.stream, c.updated_at, min(r.ts), min(r.num)
         FROM cursors c LEFT JOIN records r ON r.stream = c.stream AND r.ts > 0
         WHERE c.state LIKE '%\"phase\":\"idle\"%' GROUP BY c.stream",
    )?;
    let rows: Vec<(String, i64, Option<i64>, Option<i64>)> = st
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
        .collect::<Result<_, _>>()?;
    drop(st);
    let detail = "carried over from a schema-v1 store: covers at least its oldest stored record";
    for (stream, updated, min_ts, min_num) in rows {
        // Time-cursor streams continue below a millisecond with `after = ts + 1` (records
        // sharing it are re-read and de-duplicated); id-cursor streams below the id.
        let time_cursor = matches!(
            stream.as_str(),
            "asset-bills" | "deposit-history" | "withdrawal-history" | "convert-history"
        );
        let bottom = if time_cursor {
            min_ts.map(|t| (t + 1).to_string())
        } else {
            min_num.map(|n| n.to_string())
        };
        tx.execute(
            "INSERT INTO coverage (stream, from_ms, to_ms, reason, detail, bottom, updated_at)
             VALUES (?1, ?2, ?3, 'migrated', ?4, ?5, ?6)",
            params![
                stream,
                min_ts.unwrap_or(updated),
                updated,
                detail,
                bottom,
                updated
            ],
        )?;
    }
    let quarter: Option<String> =
        tx.query_row("SELECT min(quarter) FROM archive_quarters", [], |r| r.get(0))?;
    let floor = match quarter.as_deref().and_then(quarter_start_ms) {
        Some(f) => Some(f),
        None => tx
            .query_row("SELECT min(ts) FROM records WHERE ts > 0", [], |r| {
                r.get::<_, Option<i64>>(0)
            })?
            .map(|t| t - t.rem_euclid(86_400_000)),
    };
    if let Some(f) = floor {
        tx.execute(
            "INSERT OR REPLACE INTO meta (key, value) VALUES ('floor', ?1)",
            [f.to_string()],
        )?;
    }
    Ok(())
}

/// `2025Q3` → 2025-07-01T00:00Z in ms.
fn quarter_start_ms(label: &str) -> Option<i64> {
    use chrono::TimeZone;
    let (y, q) = label.split_once('Q')?;
    let (y, q): (i32, u32) = (y.parse().ok()?, q.parse().ok()?);
    Some(
        Utc.with_ymd_and_hms(y, (q - 1) * 3 + 1, 1, 0, 0, 0)
            .single()?
            .timestamp_millis(),
    )
}
