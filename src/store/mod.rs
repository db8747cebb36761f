//! The local store: an embedded SQLite database under `--data-dir`.
//!
//! Raw OKX records are kept exactly as received (JSON text) with their stream, key and fetch
//! time, under a UNIQUE (kind, key); a page of rows and the cursor that follows it are
//! committed in one transaction, so a crash can cause a harmless re-fetch but never a gap or
//! a duplicate. Normalization reads from here, so new classification rules never need a
//! re-fetch.

use std::fmt;

mod coverage;
pub use coverage::{Coverage, EndReason};

/// What a stored raw record is. One kind can be fed by several endpoints (e.g. `fills` and
/// `fills-history` both feed [`RecordKind::Fill`]); the key makes them meet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RecordKind {
    /// Key `instType:instId:tradeId:billId`; `link` = billId.
    Fill,
    /// Trading-account bill; key = billId.
    Bill,
    /// Funding-account bill; key = billId.
    FundingBill,
    /// Key = depId.
    Deposit,
    /// Key = wdId.
    Withdrawal,
    /// Key = tradeId.
    Convert,
    /// Key = instId.
    Instrument,
}

impl RecordKind {
    pub const ALL: [RecordKind; 7] = [
        RecordKind::Fill,
        RecordKind::Bill,
        RecordKind::FundingBill,
        RecordKind::Deposit,
        RecordKind::Withdrawal,
        RecordKind::Convert,
        RecordKind::Instrument,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RecordKind::Fill => "fill",
            RecordKind::Bill => "bill",
            RecordKind::FundingBill => "funding_bill",
            RecordKind::Deposit => "deposit",
            RecordKind::Withdrawal => "withdrawal",
            RecordKind::Convert => "convert",
            RecordKind::Instrument => "instrument",
        }
    }

    pub fn parse(s: &str) -> Option<RecordKind> {
        RecordKind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

impl fmt::Display for RecordKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One raw record as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRecord {
    pub kind: RecordKind,
    pub key: String,
    /// Record time in Unix ms (the `ts` of the record; 0 when it has none).
    pub ts_ms: i64,
    /// A secondary id used to join records (fills: billId), if any.
    pub link: Option<String>,
    /// The JSON object exactly as OKX sent it.
    pub raw: String,
}

/// One balance line of a snapshot taken during a sync.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BalanceRow {
    /// `trading`, `funding` or `earn`.
    pub account: String,
    pub ccy: String,
    pub total: rust_decimal::Decimal,
    pub available: Option<rust_decimal::Decimal>,
    pub frozen: Option<rust_decimal::Decimal>,
    pub as_of: chrono::DateTime<chrono::Utc>,
}

/// One stored record borrowed from the source while a [`RecordCursor`] is on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordRef<'a> {
    pub kind: RecordKind,
    pub key: &'a str,
    /// Record time in Unix ms (the `ts` of the record; 0 when it has none).
    pub ts_ms: i64,
    /// A secondary id used to join records (fills: billId), if any.
    pub link: Option<&'a str>,
    /// The JSON object exactly as OKX sent it.
    pub raw: &'a str,
}

/// A pull-based reader over the records of one kind, in [`RecordSource::for_each`] order.
pub trait RecordCursor {
    /// The next record, borrowed until the next call; `None` at the end.
    fn next_record(&mut self) -> anyhow::Result<Option<RecordRef<'_>>>;
}

/// [`RecordSource::by_link`] while cursors are open, on statements prepared once per scan.
pub trait LinkLookup {
    /// The records of `kind` whose `link` equals `link`, as [`RecordSource::by_link`].
    fn by_link(&mut self, kind: RecordKind, link: &str) -> anyhow::Result<Vec<StoredRecord>>;
}

/// The callback of [`RecordSource::with_cursors`]: the open cursors and a lookup.
pub type ScanFn<'f> = dyn FnMut(&mut [&mut dyn RecordCursor], &mut dyn LinkLookup) -> anyhow::Result<()> + 'f;

/// Read access to stored records, as normalization and reconciliation need it. The SQLite
/// [`Store`] implements it; tests can implement it over a `Vec`.
pub trait RecordSource {
    /// Calls `f` for every record of `kind`, ordered by (`ts_ms`, key as number when numeric).
    fn for_each(
        &self,
        kind: RecordKind,
        f: &mut dyn FnMut(StoredRecord) -> anyhow::Result<()>,
    ) -> anyhow::Result<()>;

    /// Calls `f` for every record of `kind` in id order: by the numeric id (`num`, the
    /// billId of ledger rows), then `ts`, then key; records without a numeric id come first,
    /// ordered by time. OKX's running `bal` is consistent in billId order, not always in
    /// time order.
    fn for_each_by_id(
        &self,
        kind: RecordKind,
        f: &mut dyn FnMut(StoredRecord) -> anyhow::Result<()>,
    ) -> anyhow::Result<()>;

    /// Calls `f` once with one cursor per entry of `kinds` (same order), all open at the
    /// same time, so several ordered streams can be merged without buffering any of them,
    /// and a [`LinkLookup`] for joins made while reading them.
    fn with_cursors(&self, kinds: &[RecordKind], f: &mut ScanFn<'_>) -> anyhow::Result<()>;

    /// The record of `kind` whose `link` equals `link` (fills by billId), if stored.
    fn by_link(&self, kind: RecordKind, link: &str) -> anyhow::Result<Vec<StoredRecord>>;

    /// The latest balance snapshot (all accounts), empty if none was taken.
    fn latest_balances(&self) -> anyhow::Result<Vec<BalanceRow>>;
}

/// An in-memory [`RecordSource`] for unit tests.
#[derive(Debug, Default, Clone)]
pub struct MemorySource {
    pub records: Vec<StoredRecord>,
    pub balances: Vec<BalanceRow>,
}

impl MemorySource {
    fn sorted(&self, kind: RecordKind) -> Vec<&StoredRecord> {
        let mut rows: Vec<&StoredRecord> = self.records.iter().filter(|r| r.kind == kind).collect();
        rows.sort_by(|a, b| (a.ts_ms, a.key.len(), &a.key).cmp(&(b.ts_ms, b.key.len(), &b.key)));
        rows
    }

    fn sorted_by_id(&self, kind: RecordKind) -> Vec<&StoredRecord> {
        let mut rows: Vec<&StoredRecord> = self.records.iter().filter(|r| r.kind == kind).collect();
        rows.sort_by_key(|r| (r.key.parse::<i64>().ok(), r.ts_ms, &r.key));
        rows
    }
}

/// A cursor over records sorted in memory.
struct SliceCursor<'a> {
    rows: std::vec::IntoIter<&'a StoredRecord>,
}

impl RecordCursor for SliceCursor<'_> {
    fn next_record(&mut self) -> anyhow::Result<Option<RecordRef<'_>>> {
        Ok(self.rows.next().map(|r| RecordRef {
            kind: r.kind,
            key: &r.key,
            ts_ms: r.ts_ms,
            link: r.link.as_deref(),
            raw: &r.raw,
        }))
    }
}

impl LinkLookup for &MemorySource {
    fn by_link(&mut self, kind: RecordKind, link: &str) -> anyhow::Result<Vec<StoredRecord>> {
        RecordSource::by_link(*self, kind, link)
    }
}

impl RecordSource for MemorySource {
    fn for_each(
        &self,
        kind: RecordKind,
        f: &mut dyn FnMut(StoredRecord) -> anyhow::Result<()>,
    ) -> anyhow::Result<()> {
        for r in self.sorted(kind) {
            f(r.clone())?;
        }
        Ok(())
    }

    fn for_each_by_id(
        &self,
        kind: RecordKind,
        f: &mut dyn FnMut(StoredRecord) -> anyhow::Result<()>,
    ) -> anyhow::Result<()> {
        for r in self.sorted_by_id(kind) {
            f(r.clone())?;
        }
        Ok(())
    }

    fn with_cursors(&self, kinds: &[RecordKind], f: &mut ScanFn<'_>) -> anyhow::Result<()> {
        let mut cursors: Vec<SliceCursor> = kinds
            .iter()
            .map(|&k| SliceCursor {
                rows: self.sorted(k).into_iter(),
            })
            .collect();
        let mut dyns: Vec<&mut dyn RecordCursor> =
            cursors.iter_mut().map(|c| c as &mut dyn RecordCursor).collect();
        f(&mut dyns, &mut { self })
    }

    fn by_link(&self, kind: RecordKind, link: &str) -> anyhow::Result<Vec<StoredRecord>> {
        Ok(self
            .records
            .iter()
            .filter(|r| r.kind == kind && r.link.as_deref() == Some(link))
            .cloned()
            .collect())
    }

    fn latest_balances(&self) -> anyhow::Result<Vec<BalanceRow>> {
        Ok(self.balances.clone())
    }
}

mod private;

use anyhow::{Context, Result, bail};
use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params};
use std::fs::File;
use std::path::{Path, PathBuf};

/// Current on-disk schema version. Bump it with a migration step in [`Store::migrate`].
pub const SCHEMA_VERSION: i64 = 2;

const SCHEMA_V1: &str = "
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE records (
    kind TEXT NOT NULL,
    key TEXT NOT NULL,
    ts INTEGER NOT NULL,
    num INTEGER,
    link TEXT,
    stream TEXT NOT NULL,
    priority INTEGER NOT NULL,
    raw TEXT NOT NULL,
    fetched_at INTEGER NOT NULL,
    PRIMARY KEY (kind, key)
);
CREATE INDEX records_order ON records (kind, ts, num, key);
CREATE INDEX records_link ON records (kind, link) WHERE link IS NOT NULL;
CREATE TABLE cursors (stream TEXT PRIMARY KEY, state TEXT NOT NULL, updated_at INTEGER NOT NULL);
CREATE TABLE archive_quarters (
    quarter TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    applied_at INTEGER,
    done_at INTEGER,
    rows INTEGER,
    detail TEXT
);
CREATE TABLE balance_snapshots (id INTEGER PRIMARY KEY, taken_at INTEGER NOT NULL);
CREATE TABLE balances (
    snapshot INTEGER NOT NULL REFERENCES balance_snapshots(id),
    account TEXT NOT NULL,
    ccy TEXT NOT NULL,
    total TEXT NOT NULL,
    available TEXT,
    frozen TEXT,
    PRIMARY KEY (snapshot, account, ccy)
);
CREATE TABLE runs (
    id INTEGER PRIMARY KEY,
    started_at INTEGER NOT NULL,
    finished_at INTEGER,
    status TEXT NOT NULL,
    summary TEXT
);
";

/// A record about to be stored.
#[derive(Debug, Clone)]
pub struct NewRecord {
    pub kind: RecordKind,
    pub key: String,
    pub ts_ms: i64,
    /// Numeric id for ordering ties (billId), if the key has one.
    pub num: Option<i64>,
    pub link: Option<String>,
    pub raw: String,
}

/// How a page insert went.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct InsertOutcome {
    pub new: u64,
    pub updated: u64,
}

/// Per-kind statistics for `status`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KindStats {
    pub kind: RecordKind,
    pub count: u64,
    pub oldest: Option<DateTime<Utc>>,
    pub newest: Option<DateTime<Utc>>,
}

/// A stream's saved cursor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CursorInfo {
    pub stream: String,
    /// The cursor state as JSON.
    pub state: String,
    pub updated_at: Option<DateTime<Utc>>,
}

/// One recorded sync run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunInfo {
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub status: String,
}

/// State of one archive quarter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuarterState {
    pub quarter: String,
    pub state: String,
    pub applied_at: Option<DateTime<Utc>>,
    pub done_at: Option<DateTime<Utc>>,
    pub rows: Option<u64>,
    pub detail: Option<String>,
}

/// The SQLite store of one profile.
pub struct Store {
    conn: Connection,
    path: PathBuf,
}

/// An exclusive lock on a data directory, held for the duration of a sync.
#[derive(Debug)]
pub struct StoreLock {
    _file: File,
}

fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

/// A store SQLite cannot read: name the file and what to do.
fn broken_store(path: &Path, e: rusqlite::Error) -> anyhow::Error {
    anyhow::anyhow!(
        "cannot open the store `{}`: {e}; if it is damaged, move it away (e.g. `mv {} {}.broken`) and run `sync` again to fetch the history anew",
        path.display(),
        path.display(),
        path.display()
    )
}

fn from_ms(v: i64) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp_millis(v)
}

impl Store {
    /// File name of the database inside the data directory.
    pub const FILE: &'static str = "okx-export.sqlite3";

    /// Opens (creating if needed) the store in `dir`, migrating or refusing older/newer
    /// schemas.
    pub fn open(dir: &Path) -> Result<Store> {
        private::create_dir(dir)?;
        let path = dir.join(Self::FILE);
        // SQLite gives -wal and -shm the database file's mode, so a 0600 store keeps them
        // private too; files left readable by an older version are tightened.
        private::create_file(&path)?;
        for suffix in ["-wal", "-shm"] {
            private::tighten(&dir.join(format!("{}{suffix}", Self::FILE)))?;
        }
        let conn = Connection::open(&path).map_err(|e| broken_store(&path, e))?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(|e| broken_store(&path, e))?;
        // WAL + NORMAL: a commit survives a killed process (the WAL is written before the
        // commit returns); only an OS crash or power loss can drop the last commits, and then
        // the page and its cursor go together, so the next run re-fetches: no gap either way.
        // FULL would fsync every page and slow paced streams down.
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        let mut store = Store { conn, path };
        store.migrate()?;
        Ok(store)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Takes the data directory's lock, or fails at once if another process holds it.
    pub fn lock(dir: &Path) -> Result<StoreLock> {
        private::create_dir(dir)?;
        let path = dir.join("okx-export.lock");
        let file =
            private::open_rw(&path).with_context(|| format!("cannot open lock file `{}`", path.display()))?;
        private::tighten(&path)?;
        match file.try_lock() {
            Ok(()) => Ok(StoreLock { _file: file }),
            Err(std::fs::TryLockError::WouldBlock) => bail!(
                "another okx-export sync is already running on `{}`; wait for it to finish (or stop it) and retry",
                dir.display()
            ),
            Err(std::fs::TryLockError::Error(e)) => {
                Err(e).with_context(|| format!("cannot lock `{}`", path.display()))
            }
        }
    }

    fn schema_version(&self) -> Result<Option<i64>> {
        let has_meta: bool = self.conn.query_row(
            "SELECT count(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = 'meta'",
            [],
            |r| r.get(0),
        )?;
        if !has_meta {
            let tables: i64 = self.conn.query_row(
                "SELECT count(*) FROM sqlite_master WHERE type = 'table'",
                [],
                |r| r.get(0),
            )?;
            if tables > 0 {
                bail!(
                    "`{}` is not an okx-export store (or one too old to read): move it away and run `sync` again",
                    self.path.display()
                );
            }
            return Ok(None);
        }
        let v: Option<String> = self
            .conn
            .query_row("SELECT value FROM meta WHERE key = 'schema_version'", [], |r| {
                r.get(0)
            })
            .optional()?;
        match v.map(|v| v.parse::<i64>()) {
            Some(Ok(v)) => Ok(Some(v)),
            _ => bail!(
                "`{}` has no readable schema version; move it away and run `sync` again",
                self.path.display()
            ),
        }
    }

    /// Brings the schema to [`SCHEMA_VERSION`], one step at a time, or refuses.
    fn migrate(&mut self) -> Result<()> {
        let version = self.schema_version()?;
        match version {
            None => {
                let tx = self.conn.transaction()?;
                tx.execute_batch(SCHEMA_V1)?;
                tx.execute_batch(coverage::SCHEMA_V2)?;
                tx.execute(
                    "INSERT INTO meta (key, value) VALUES ('schema_version', ?1), ('created_by', ?2)",
                    params![
                        SCHEMA_VERSION.to_string(),
                        concat!("okx-export ", env!("CARGO_PKG_VERSION"))
                    ],
                )?;
                tx.commit()?;
            }
            Some(v) if v == SCHEMA_VERSION => {}
            Some(v) if v > SCHEMA_VERSION => bail!(
                "store `{}` was written by a newer okx-export (schema {v}, this build reads {SCHEMA_VERSION}); upgrade okx-export",
                self.path.display()
            ),
            Some(1) => {
                let tx = self.conn.transaction()?;
                coverage::migrate_v1(&tx)?;
                tx.execute("UPDATE meta SET value = '2' WHERE key = 'schema_version'", [])?;
                tx.commit()?;
            }
            // Future migrations go here as `Some(2) => { ...; set schema_version = 3 }`.
            Some(v) => bail!(
                "store `{}` has schema {v}, which this build cannot migrate; move it away and run `sync` again",
                self.path.display()
            ),
        }
        Ok(())
    }

    /// Stores a page of records and the cursor state that follows it, atomically.
    /// A record already stored is updated only when its JSON changed (a pending deposit
    /// that became final) and the new copy has at least the stored copy's priority (the API
    /// copy of a bill wins over the archive-file copy).
    pub fn insert_page(
        &mut self,
        stream: &str,
        priority: i64,
        records: &[NewRecord],
        cursor: Option<&str>,
    ) -> Result<InsertOutcome> {
        let now = ms(Utc::now());
        let tx = self.conn.transaction()?;
        let mut outcome = InsertOutcome::default();
        {
            let mut exists =
                tx.prepare_cached("SELECT raw, priority FROM records WHERE kind = ?1 AND key = ?2")?;
            let mut insert = tx.prepare_cached(
                "INSERT INTO records (kind, key, ts, num, link, stream, priority, raw, fetched_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            )?;
            let mut update = tx.prepare_cached(
                "UPDATE records SET ts = ?3, num = ?4, link = ?5, stream = ?6, priority = ?7, raw = ?8, fetched_at = ?9
                 WHERE kind = ?1 AND key = ?2",
            )?;
            for r in records {
                let found: Option<(String, i64)> = exists
                    .query_row(params![r.kind.as_str(), r.key], |row| {
                        Ok((row.get(0)?, row.get(1)?))
                    })
                    .optional()?;
                let args = params![
                    r.kind.as_str(),
                    r.key,
                    r.ts_ms,
                    r.num,
                    r.link,
                    stream,
                    priority,
                    r.raw,
                    now
                ];
                match found {
                    None => {
                        insert.execute(args)?;
                        outcome.new += 1;
                    }
                    Some((raw, p)) if raw != r.raw && priority >= p => {
                        update.execute(args)?;
                        outcome.updated += 1;
                    }
                    Some(_) => {}
                }
            }
        }
        if let Some(state) = cursor {
            tx.execute(
                "INSERT INTO cursors (stream, state, updated_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT(stream) DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at",
                params![stream, state, now],
            )?;
        }
        tx.commit()?;
        Ok(outcome)
    }

    /// The saved cursor state of a stream.
    pub fn cursor(&self, stream: &str) -> Result<Option<String>> {
        Ok(self
            .conn
            .query_row("SELECT state FROM cursors WHERE stream = ?1", [stream], |r| {
                r.get(0)
            })
            .optional()?)
    }

    /// All cursors with their update time.
    pub fn cursors(&self) -> Result<Vec<CursorInfo>> {
        let mut st = self
            .conn
            .prepare("SELECT stream, state, updated_at FROM cursors ORDER BY stream")?;
        let rows = st.query_map([], |r| {
            Ok(CursorInfo {
                stream: r.get(0)?,
                state: r.get(1)?,
                updated_at: from_ms(r.get(2)?),
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The oldest time of the stored records of `kind` whose JSON matches `predicate`; used
    /// to re-walk deposits and withdrawals down to their oldest non-final record.
    pub fn min_ts_where(&self, kind: RecordKind, predicate: impl Fn(&str) -> bool) -> Result<Option<i64>> {
        let mut st = self.conn.prepare("SELECT ts, raw FROM records WHERE kind = ?1")?;
        let mut rows = st.query([kind.as_str()])?;
        let mut min = None::<i64>;
        while let Some(row) = rows.next()? {
            let raw: String = row.get(1)?;
            if predicate(&raw) {
                let ts: i64 = row.get(0)?;
                min = Some(min.map_or(ts, |m| m.min(ts)));
            }
        }
        Ok(min)
    }

    /// How many stored records each stream holds (the stream that stored a record last).
    pub fn stream_counts(&self) -> Result<std::collections::BTreeMap<String, u64>> {
        let mut st = self
            .conn
            .prepare("SELECT stream, count(*) FROM records GROUP BY stream")?;
        let rows = st.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)? as u64)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    pub fn count(&self, kind: RecordKind) -> Result<u64> {
        let n: i64 = self.conn.query_row(
            "SELECT count(*) FROM records WHERE kind = ?1",
            [kind.as_str()],
            |r| r.get(0),
        )?;
        Ok(n as u64)
    }

    /// Every stored key of `kind`, sorted (tests compare these with the simulator's ids).
    pub fn keys(&self, kind: RecordKind) -> Result<Vec<String>> {
        let mut st = self
            .conn
            .prepare("SELECT key FROM records WHERE kind = ?1 ORDER BY key")?;
        let rows = st.query_map([kind.as_str()], |r| r.get(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Count and time range per kind.
    pub fn kind_stats(&self) -> Result<Vec<KindStats>> {
        RecordKind::ALL
            .iter()
            .map(|&kind| {
                let (count, min, max): (i64, Option<i64>, Option<i64>) = self.conn.query_row(
                    "SELECT count(*), min(ts), max(ts) FROM records WHERE kind = ?1",
                    [kind.as_str()],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )?;
                Ok(KindStats {
                    kind,
                    count: count as u64,
                    oldest: min.and_then(from_ms),
                    newest: max.and_then(from_ms),
                })
            })
            .collect()
    }

    /// A digest of every record (kind, key, raw) for "the store ends identical" tests.
    pub fn content_digest(&self) -> Result<String> {
        use sha2::Digest;
        let mut h = sha2::Sha256::new();
        let mut st = self
            .conn
            .prepare("SELECT kind, key, raw FROM records ORDER BY kind, key")?;
        let mut rows = st.query([])?;
        while let Some(r) = rows.next()? {
            for i in 0..3 {
                let s: String = r.get(i)?;
                h.update(s.as_bytes());
                h.update([0u8]);
            }
        }
        Ok(format!("{:x}", h.finalize()))
    }

    pub fn quarter(&self, quarter: &str) -> Result<Option<QuarterState>> {
        Ok(self.quarters()?.into_iter().find(|q| q.quarter == quarter))
    }

    pub fn quarters(&self) -> Result<Vec<QuarterState>> {
        let mut st = self.conn.prepare(
            "SELECT quarter, state, applied_at, done_at, rows, detail FROM archive_quarters ORDER BY quarter",
        )?;
        let rows = st.query_map([], |r| {
            Ok(QuarterState {
                quarter: r.get(0)?,
                state: r.get(1)?,
                applied_at: r.get::<_, Option<i64>>(2)?.and_then(from_ms),
                done_at: r.get::<_, Option<i64>>(3)?.and_then(from_ms),
                rows: r.get::<_, Option<i64>>(4)?.map(|v| v as u64),
                detail: r.get(5)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Records the state of an archive quarter (`pending`, `applied`, `failed`). Each
    /// application (a re-application too) refreshes `applied_at`: OKX keeps one 30 days.
    pub fn set_quarter(&mut self, quarter: &str, state: &str, detail: Option<&str>) -> Result<()> {
        let now = ms(Utc::now());
        self.conn.execute(
            "INSERT INTO archive_quarters (quarter, state, applied_at, detail) VALUES (?1, ?2, CASE WHEN ?2 = 'applied' THEN ?3 END, ?4)
             ON CONFLICT(quarter) DO UPDATE SET state = excluded.state, detail = excluded.detail,
               applied_at = COALESCE(excluded.applied_at, archive_quarters.applied_at)",
            params![quarter, state, now, detail],
        )?;
        Ok(())
    }

    /// Stores the rows of a downloaded quarter and marks it done, in one transaction.
    pub fn finish_quarter(
        &mut self,
        quarter: &str,
        stream: &str,
        records: &[NewRecord],
    ) -> Result<InsertOutcome> {
        let outcome = self.insert_page(stream, 0, records, None)?;
        // insert_page committed the rows; the quarter mark below is idempotent, so a crash
        // between the two only causes a harmless re-download next run.
        self.mark_quarter_done(quarter, records.len() as u64)?;
        Ok(outcome)
    }

    /// Marks a quarter done once all of its `rows` are stored.
    pub fn mark_quarter_done(&mut self, quarter: &str, rows: u64) -> Result<()> {
        self.conn.execute(
            "INSERT INTO archive_quarters (quarter, state, done_at, rows) VALUES (?1, 'done', ?2, ?3)
             ON CONFLICT(quarter) DO UPDATE SET state = 'done', done_at = excluded.done_at, rows = excluded.rows, detail = NULL",
            params![quarter, ms(Utc::now()), rows as i64],
        )?;
        Ok(())
    }

    /// Saves a balance snapshot taken at `taken_at`.
    pub fn save_balances(&mut self, taken_at: DateTime<Utc>, rows: &[BalanceRow]) -> Result<()> {
        let tx = self.conn.transaction()?;
        tx.execute(
            "INSERT INTO balance_snapshots (taken_at) VALUES (?1)",
            [ms(taken_at)],
        )?;
        let id = tx.last_insert_rowid();
        {
            let mut st = tx.prepare(
                "INSERT OR REPLACE INTO balances (snapshot, account, ccy, total, available, frozen) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?;
            for b in rows {
                st.execute(params![
                    id,
                    b.account,
                    b.ccy,
                    b.total.to_string(),
                    b.available.map(|d| d.to_string()),
                    b.frozen.map(|d| d.to_string())
                ])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Records a run's summary JSON.
    pub fn record_run(&mut self, started: DateTime<Utc>, status: &str, summary: &str) -> Result<()> {
        self.conn.execute(
            "INSERT INTO runs (started_at, finished_at, status, summary) VALUES (?1, ?2, ?3, ?4)",
            params![ms(started), ms(Utc::now()), status, summary],
        )?;
        Ok(())
    }

    /// (started, finished, status) of the last run.
    pub fn last_run(&self) -> Result<Option<RunInfo>> {
        Ok(self
            .conn
            .query_row(
                "SELECT started_at, finished_at, status FROM runs ORDER BY id DESC LIMIT 1",
                [],
                |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, Option<i64>>(1)?,
                        r.get::<_, String>(2)?,
                    ))
                },
            )
            .optional()?
            .and_then(|(s, f, status)| {
                Some(RunInfo {
                    started_at: from_ms(s)?,
                    finished_at: f.and_then(from_ms),
                    status,
                })
            }))
    }
}

fn parse_dec(s: &str) -> Result<rust_decimal::Decimal> {
    s.parse().with_context(|| format!("bad decimal `{s}` in store"))
}

/// The records of one kind in [`RecordSource::for_each`] order.
const SELECT_ORDERED: &str = "SELECT key, ts, link, raw FROM records WHERE kind = ?1 ORDER BY ts, num, key";

/// The records of one kind in [`RecordSource::for_each_by_id`] order.
const SELECT_BY_ID: &str = "SELECT key, ts, link, raw FROM records WHERE kind = ?1 ORDER BY num, ts, key";

impl Store {
    /// Calls `f` for each row of `sql` (one of the `SELECT_*` scans) for `kind`.
    fn scan(&self, sql: &str, kind: RecordKind, f: &mut dyn FnMut(StoredRecord) -> Result<()>) -> Result<()> {
        let mut st = self.conn.prepare_cached(sql)?;
        let mut rows = st.query([kind.as_str()])?;
        while let Some(r) = rows.next()? {
            f(StoredRecord {
                kind,
                key: r.get(0)?,
                ts_ms: r.get(1)?,
                link: r.get(2)?,
                raw: r.get(3)?,
            })?;
        }
        Ok(())
    }
}

/// A cursor on an open SQLite query ([`SELECT_ORDERED`]).
struct SqlCursor<'s> {
    kind: RecordKind,
    rows: rusqlite::Rows<'s>,
}

impl RecordCursor for SqlCursor<'_> {
    fn next_record(&mut self) -> Result<Option<RecordRef<'_>>> {
        let kind = self.kind;
        let Some(r) = self.rows.next()? else {
            return Ok(None);
        };
        Ok(Some(RecordRef {
            kind,
            key: r.get_ref(0)?.as_str()?,
            ts_ms: r.get(1)?,
            link: r.get_ref(2)?.as_str_or_null()?,
            raw: r.get_ref(3)?.as_str()?,
        }))
    }
}

/// [`LinkLookup`] on statements prepared at the first lookup of each kind. The kind is part
/// of the SQL text (kinds are fixed identifiers), which spares binding it every time.
/// (One `link IN (?1, ?2)` query for a trade's two bills was measured slower than two
/// lookups: SQLite builds a temporary table for the list on every run.)
struct SqlLinks<'c> {
    conn: &'c Connection,
    kinds: Vec<LinkKind<'c>>,
}

struct LinkKind<'c> {
    kind: RecordKind,
    lookup: rusqlite::Statement<'c>,
    /// The least and greatest link of the kind read as integers (`None`: no links). A
    /// link that is an integer outside this range matches nothing, so the many bills older
    /// than any stored fill cost no query.
    range: Option<(i64, i64)>,
}

impl<'c> SqlLinks<'c> {
    fn kind(&mut self, kind: RecordKind) -> Result<&mut LinkKind<'c>> {
        let i = if let Some(i) = self.kinds.iter().position(|k| k.kind == kind) {
            i
        } else {
            let name = kind.as_str();
            // CAST gives every text that Rust parses as an i64 the same value (and some
            // other texts some value), so equal texts always fall inside the range.
            let (lo, hi): (Option<i64>, Option<i64>) = self.conn.query_row(
                "SELECT min(CAST(link AS INTEGER)), max(CAST(link AS INTEGER))
                 FROM records WHERE kind = ?1 AND link IS NOT NULL",
                [name],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?;
            let sql = format!("SELECT key, ts, link, raw FROM records WHERE kind = '{name}' AND link = ?1");
            self.kinds.push(LinkKind {
                kind,
                lookup: self.conn.prepare(&sql)?,
                range: lo.zip(hi),
            });
            self.kinds.len() - 1
        };
        Ok(&mut self.kinds[i])
    }
}

impl LinkLookup for SqlLinks<'_> {
    fn by_link(&mut self, kind: RecordKind, link: &str) -> Result<Vec<StoredRecord>> {
        let k = self.kind(kind)?;
        if let Ok(n) = link.parse::<i64>()
            && !k.range.is_some_and(|(lo, hi)| (lo..=hi).contains(&n))
        {
            return Ok(Vec::new());
        }
        let mut rows = k.lookup.query([link])?;
        let mut out = Vec::new();
        while let Some(r) = rows.next()? {
            out.push(StoredRecord {
                kind,
                key: r.get(0)?,
                ts_ms: r.get(1)?,
                link: r.get(2)?,
                raw: r.get(3)?,
            });
        }
        Ok(out)
    }
}

impl RecordSource for Store {
    fn with_cursors(&self, kinds: &[RecordKind], f: &mut ScanFn<'_>) -> Result<()> {
        let mut statements = kinds
            .iter()
            .map(|_| self.conn.prepare(SELECT_ORDERED))
            .collect::<Result<Vec<_>, _>>()?;
        let mut cursors = statements
            .iter_mut()
            .zip(kinds)
            .map(|(st, &kind)| {
                Ok(SqlCursor {
                    kind,
                    rows: st.query([kind.as_str()])?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let mut dyns: Vec<&mut dyn RecordCursor> =
            cursors.iter_mut().map(|c| c as &mut dyn RecordCursor).collect();
        let mut links = SqlLinks {
            conn: &self.conn,
            kinds: Vec::new(),
        };
        f(&mut dyns, &mut links)
    }

    fn for_each(&self, kind: RecordKind, f: &mut dyn FnMut(StoredRecord) -> Result<()>) -> Result<()> {
        self.scan(SELECT_ORDERED, kind, f)
    }

    fn for_each_by_id(&self, kind: RecordKind, f: &mut dyn FnMut(StoredRecord) -> Result<()>) -> Result<()> {
        self.scan(SELECT_BY_ID, kind, f)
    }

    fn by_link(&self, kind: RecordKind, link: &str) -> Result<Vec<StoredRecord>> {
        let mut st = self
            .conn
            .prepare_cached("SELECT key, ts, link, raw FROM records WHERE kind = ?1 AND link = ?2")?;
        let rows = st.query_map(params![kind.as_str(), link], |r| {
            Ok(StoredRecord {
                kind,
                key: r.get(0)?,
                ts_ms: r.get(1)?,
                link: r.get(2)?,
                raw: r.get(3)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn latest_balances(&self) -> Result<Vec<BalanceRow>> {
        let latest: Option<(i64, i64)> = self
            .conn
            .query_row(
                "SELECT id, taken_at FROM balance_snapshots ORDER BY id DESC LIMIT 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        let Some((id, taken_at)) = latest else {
            return Ok(Vec::new());
        };
        let as_of = from_ms(taken_at).context("bad snapshot time in store")?;
        let mut st = self.conn.prepare(
            "SELECT account, ccy, total, available, frozen FROM balances WHERE snapshot = ?1 ORDER BY account, ccy",
        )?;
        let mut rows = st.query([id])?;
        let mut out = Vec::new();
        while let Some(r) = rows.next()? {
            let opt = |i: usize| -> Result<Option<rust_decimal::Decimal>> {
                r.get::<_, Option<String>>(i)?
                    .as_deref()
                    .map(parse_dec)
                    .transpose()
            };
            out.push(BalanceRow {
                account: r.get(0)?,
                ccy: r.get(1)?,
                total: parse_dec(&r.get::<_, String>(2)?)?,
                available: opt(3)?,
                frozen: opt(4)?,
                as_of,
            });
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(kind: RecordKind, key: &str, ts: i64, raw: &str) -> NewRecord {
        NewRecord {
            kind,
            key: key.into(),
            ts_ms: ts,
            num: key.parse().ok(),
            link: None,
            raw: raw.into(),
        }
    }

    #[test]
    fn page_and_cursor_commit_together_and_dedupe() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::open(dir.path()).unwrap();
        let page = [
            rec(RecordKind::Bill, "2", 20, "{\"b\":2}"),
            rec(RecordKind::Bill, "1", 10, "{\"b\":1}"),
        ];
        let out = s
            .insert_page("bills", 1, &page, Some("{\"after\":\"1\"}"))
            .unwrap();
        assert_eq!(out, InsertOutcome { new: 2, updated: 0 });
        let again = s.insert_page("bills", 1, &page, None).unwrap();
        assert_eq!(again, InsertOutcome::default());
        assert_eq!(s.cursor("bills").unwrap().as_deref(), Some("{\"after\":\"1\"}"));
        // The archive copy (priority 0) must not overwrite the API copy.
        let archived = [rec(RecordKind::Bill, "2", 20, "{\"b\":2,\"csv\":1}")];
        assert_eq!(
            s.insert_page("archive", 0, &archived, None).unwrap(),
            InsertOutcome::default()
        );
        // A changed deposit (state 0 -> 2) replaces the stored one.
        s.insert_page(
            "deposits",
            1,
            &[rec(RecordKind::Deposit, "d1", 5, "{\"state\":\"0\"}")],
            None,
        )
        .unwrap();
        let upd = s
            .insert_page(
                "deposits",
                1,
                &[rec(RecordKind::Deposit, "d1", 5, "{\"state\":\"2\"}")],
                None,
            )
            .unwrap();
        assert_eq!(upd.updated, 1);
        let mut seen = Vec::new();
        s.for_each(RecordKind::Bill, &mut |r| {
            seen.push(r.key);
            Ok(())
        })
        .unwrap();
        assert_eq!(seen, ["1", "2"]);
        assert_eq!(s.count(RecordKind::Deposit).unwrap(), 1);
    }

    /// Two cursors read at the same time, each in `for_each` order, while links are looked
    /// up (in rowid order, as `by_link`).
    #[test]
    fn cursors_and_links_while_reading() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::open(dir.path()).unwrap();
        let mut page = Vec::new();
        for i in (0..50i64).rev() {
            page.push(rec(RecordKind::Bill, &(100 + i).to_string(), 1000 + i / 3, "{}"));
            page.push(rec(
                RecordKind::FundingBill,
                &(900 + i).to_string(),
                1000 + i,
                "{}",
            ));
        }
        let fill = |key: &str, link: &str| NewRecord {
            link: Some(link.to_string()),
            ..rec(RecordKind::Fill, key, 1, &format!("{{\"k\":\"{key}\"}}"))
        };
        page.extend([
            fill("f3", "101"),
            fill("f1", "102"),
            fill("f2", "101"),
            fill("f4", "7"),
            fill("f5", "x9"),
            fill("f6", "0099"),
            fill("f7", "+150"),
        ]);
        s.insert_page("t", 1, &page, None).unwrap();

        let mem = MemorySource {
            records: page
                .iter()
                .map(|r| StoredRecord {
                    kind: r.kind,
                    key: r.key.clone(),
                    ts_ms: r.ts_ms,
                    link: r.link.clone(),
                    raw: r.raw.clone(),
                })
                .collect(),
            balances: Vec::new(),
        };
        for src in [&s as &dyn RecordSource, &mem] {
            let mut expected = Vec::new();
            for kind in [RecordKind::Bill, RecordKind::FundingBill] {
                let mut keys = Vec::new();
                src.for_each(kind, &mut |r| {
                    keys.push(r.key);
                    Ok(())
                })
                .unwrap();
                expected.push(keys);
            }
            let mut seen = vec![Vec::new(), Vec::new()];
            src.with_cursors(
                &[RecordKind::Bill, RecordKind::FundingBill],
                &mut |cursors, links| {
                    let keys = |v: Vec<StoredRecord>| v.into_iter().map(|r| r.key).collect::<Vec<_>>();
                    assert_eq!(keys(links.by_link(RecordKind::Fill, "101")?), ["f3", "f2"]);
                    assert_eq!(keys(links.by_link(RecordKind::Fill, "102")?), ["f1"]);
                    assert_eq!(keys(links.by_link(RecordKind::Fill, "7")?), ["f4"]);
                    assert!(links.by_link(RecordKind::Fill, "8")?.is_empty());
                    // Texts that are no plain integers, or equal as numbers but not as text.
                    assert_eq!(keys(links.by_link(RecordKind::Fill, "x9")?), ["f5"]);
                    assert_eq!(keys(links.by_link(RecordKind::Fill, "0099")?), ["f6"]);
                    assert!(links.by_link(RecordKind::Fill, "99")?.is_empty());
                    assert_eq!(keys(links.by_link(RecordKind::Fill, "+150")?), ["f7"]);
                    assert!(links.by_link(RecordKind::Fill, "150")?.is_empty());
                    assert!(links.by_link(RecordKind::Fill, "151")?.is_empty());
                    assert!(links.by_link(RecordKind::Fill, "-1")?.is_empty());
                    // A kind without links at all.
                    assert!(links.by_link(RecordKind::Deposit, "101")?.is_empty());
                    assert!(links.by_link(RecordKind::Deposit, "d")?.is_empty());
                    let mut done = [false, false];
                    while done != [true, true] {
                        for (i, c) in cursors.iter_mut().enumerate() {
                            match c.next_record()? {
                                Some(r) => seen[i].push(r.key.to_string()),
                                None => done[i] = true,
                            }
                        }
                        links.by_link(RecordKind::Fill, "101")?;
                    }
                    Ok(())
                },
            )
            .unwrap();
            assert_eq!(seen, expected);
            assert_eq!(seen[0].len(), 50);
        }
    }

    #[test]
    fn newer_schema_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        drop(Store::open(dir.path()).unwrap());
        let conn = Connection::open(dir.path().join(Store::FILE)).unwrap();
        conn.execute("UPDATE meta SET value = '999' WHERE key = 'schema_version'", [])
            .unwrap();
        drop(conn);
        let err = Store::open(dir.path()).err().unwrap().to_string();
        assert!(err.contains("newer okx-export"), "{err}");
        // A foreign SQLite file is refused, not misread.
        let other = tempfile::tempdir().unwrap();
        let conn = Connection::open(other.path().join(Store::FILE)).unwrap();
        conn.execute("CREATE TABLE t (x)", []).unwrap();
        drop(conn);
        let err = Store::open(other.path()).err().unwrap().to_string();
        assert!(err.contains("not an okx-export store"), "{err}");
    }

    /// A store written by the schema-v1 build (fixtures/store/v1.sql) opens, upgrades to v2
    /// in place and keeps every record; coverage and the floor are guessed from what v1 kept.
    #[test]
    fn v1_store_upgrades_to_v2() {
        let dir = tempfile::tempdir().unwrap();
        let sql = include_str!("../../fixtures/store/v1.sql");
        Connection::open(dir.path().join(Store::FILE))
            .unwrap()
            .execute_batch(sql)
            .unwrap();
        let s = Store::open(dir.path()).unwrap();
        assert_eq!(s.schema_version().unwrap(), Some(2));
        assert_eq!(s.count(RecordKind::Bill).unwrap(), 2);
        assert_eq!(s.quarters().unwrap().len(), 2);
        assert_eq!(s.latest_balances().unwrap().len(), 1);
        let t = |ms: i64| DateTime::from_timestamp_millis(ms).unwrap();
        // The oldest archive quarter asked for: 2025Q3.
        assert_eq!(s.floor().unwrap(), Some(t(1_751_328_000_000)));
        let cov = s.coverages().unwrap();
        let streams: Vec<&str> = cov.iter().map(|c| c.stream.as_str()).collect();
        // Idle cursors only: the convert walk never finished.
        assert_eq!(
            streams,
            ["asset-bills-history", "bills-archive", "deposit-history"]
        );
        let dep = s.coverage("deposit-history").unwrap().unwrap();
        assert_eq!(
            (dep.from, dep.to, dep.reason, dep.bottom.as_deref()),
            (
                Some(t(1_751_399_000_000)),
                Some(t(1_771_113_600_000)),
                EndReason::Migrated,
                Some("1751399000001")
            )
        );
        let bills = s.coverage("bills-archive").unwrap().unwrap();
        assert_eq!(
            (bills.from, bills.bottom.as_deref()),
            (Some(t(1_768_000_000_000)), Some("1002"))
        );
        // The id-order index of v2 exists, and a reopen is a no-op.
        let idx: i64 = s
            .conn
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE name = 'records_by_id'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(idx, 1);
        drop(s);
        assert_eq!(Store::open(dir.path()).unwrap().coverages().unwrap(), cov);
    }

    #[test]
    fn second_lock_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let _held = Store::lock(dir.path()).unwrap();
        let err = Store::lock(dir.path()).unwrap_err().to_string();
        assert!(err.contains("already running"), "{err}");
    }

    #[test]
    fn balances_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::open(dir.path()).unwrap();
        let t = DateTime::from_timestamp_millis(1_700_000_000_000).unwrap();
        let row = BalanceRow {
            account: "trading".into(),
            ccy: "BTC".into(),
            total: "1.5".parse().unwrap(),
            available: Some("1".parse().unwrap()),
            frozen: None,
            as_of: t,
        };
        s.save_balances(t, std::slice::from_ref(&row)).unwrap();
        assert_eq!(s.latest_balances().unwrap(), vec![row]);
    }
}
