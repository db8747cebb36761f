//! The local store: an embedded SQLite database under `--data-dir`.
//!
//! Raw OKX records are kept exactly as received (JSON text) with their stream, key and fetch
//! time, under a UNIQUE (kind, key); a page of rows and the cursor that follows it are
//! committed in one transaction, so a crash can cause a harmless re-fetch but never a gap or
//! a duplicate. Normalization reads from here, so new classification rules never need a
//! re-fetch.
//!
//! | file | what it holds |
//! |---|---|
//! | `mod.rs` | the record kinds and row types, opening the store, the run lock |
//! | `schema.rs` | the schema and its migrations |
//! | `accounts.rs` | whose account the store holds; a master's sub-accounts and their balances |
//! | `records.rs` | raw records and cursors (a page and its cursor in one transaction) |
//! | `archive.rs` | archive quarter states |
//! | `balances.rs` | balance snapshots (and the endpoints they could not read) and sync runs |
//! | `coverage.rs` | per-stream coverage and the remembered floor |
//! | `prices.rs` | where the store's prices live, the zones of its reports |
//! | `source.rs` / `sql_source.rs` | the read interface and its SQLite implementation |
//! | `private.rs` | 0700/0600 permissions |
//! | `bill_types.rs` | OKX's bill-type dictionary (`account/subtypes`), cached |
//! | `fault.rs` | disk and store failures that stop a sync at once |
//! | `history.rs` | earlier versions of records OKX changed, and a page's duplicates |

use std::fmt;

mod accounts;
mod archive;
mod balances;
mod bill_types;
mod coverage;
mod fault;
mod history;
mod prices;
mod records;
mod schema;
mod source;
mod sql_source;
pub use accounts::{Identity, SubAccount, SubAccounts};
pub use bill_types::BillTypeName;
pub use coverage::{Coverage, EndReason};
pub use fault::{is_local_fault, name_local_fault};
pub use history::{CHANGED, DUPLICATE, HistoryEntry, content_changed};
pub use prices::PriceHome;
pub use schema::SCHEMA_VERSION;
pub use source::{LinkLookup, MemorySource, RecordCursor, RecordRef, RecordSource, ScanFn};
pub use sql_source::Between;

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
    /// Dual Investment order (`finance/sfp/dcd/order-history`); key = ordId.
    DualInvestment,
    /// A transfer between a master and one of its sub-accounts, as the master's
    /// `asset/subaccount/bills` lists it (names the sub-account); key = billId.
    SubTransfer,
}

impl RecordKind {
    pub const ALL: [RecordKind; 9] = [
        RecordKind::Fill,
        RecordKind::Bill,
        RecordKind::FundingBill,
        RecordKind::Deposit,
        RecordKind::Withdrawal,
        RecordKind::Convert,
        RecordKind::Instrument,
        RecordKind::DualInvestment,
        RecordKind::SubTransfer,
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
            RecordKind::DualInvestment => "dcd_order",
            RecordKind::SubTransfer => "sub_transfer",
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

mod private;

use anyhow::{Context, Result, bail};
use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

/// An account whose balance endpoint failed when a snapshot was taken: its balances are
/// unknown at that time (not zero), so they cannot be compared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnavailableBalance {
    /// `trading`, `funding` or `earn`.
    pub account: String,
    /// What the endpoint answered (the sync's warning), e.g. an HTTP 404.
    pub error: String,
    pub as_of: chrono::DateTime<chrono::Utc>,
}

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
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InsertOutcome {
    pub new: u64,
    /// Records whose content changed as expected (a deposit that became final).
    pub updated: u64,
    /// Keys of the records stored for the first time.
    pub new_keys: Vec<String>,
    /// Keys of stored records OKX answered with other content although they were final
    /// (the earlier version is kept in the history).
    pub changed: Vec<String>,
    /// Keys that the page held twice with different content (the first is stored, the
    /// other kept in the history).
    pub duplicates: Vec<String>,
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
    _open: OpenStore,
}

/// Stores open in this process now: a run of many profiles (`--all`) holds one per client.
static OPEN_STORES: AtomicUsize = AtomicUsize::new(0);
/// Stores open at once that keep SQLite's default page cache (up to 2 MB each).
const FULL_CACHE_STORES: usize = 8;
/// The page cache of each store opened beyond [`FULL_CACHE_STORES`]: 200 clients' stores
/// then hold about 50 MB of cache instead of 400 MB (a client's store is a few MB; its
/// pages are in the OS's file cache anyway). Measured with `cargo bench --bench fleet`.
const SMALL_CACHE_KIB: i64 = 256;

/// One open store, counted in [`OPEN_STORES`] while it lives.
struct OpenStore;

impl OpenStore {
    /// Counts a store in; returns it and how many are open now, itself included.
    fn count() -> (OpenStore, usize) {
        (OpenStore, OPEN_STORES.fetch_add(1, Ordering::SeqCst) + 1)
    }
}

impl Drop for OpenStore {
    fn drop(&mut self) {
        OPEN_STORES.fetch_sub(1, Ordering::SeqCst);
    }
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
        private::tighten_data_dir(dir)?;
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
        let (open, open_now) = OpenStore::count();
        if open_now > FULL_CACHE_STORES {
            conn.pragma_update(None, "cache_size", -SMALL_CACHE_KIB)?;
        }
        let mut store = Store {
            conn,
            path,
            _open: open,
        };
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
}

#[cfg(test)]
mod tests;
