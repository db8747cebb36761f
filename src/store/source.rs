//! Read access to stored records as normalization and reconciliation need it: the
//! [`RecordSource`] trait, its cursors and link lookups, and [`MemorySource`] for tests.

use super::{BalanceRow, RecordKind, StoredRecord, UnavailableBalance};

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

impl StoredRecord {
    /// The record borrowed, as cursors and [`RecordSource::for_each_by_id`] hand it out.
    pub fn as_record_ref(&self) -> RecordRef<'_> {
        RecordRef {
            kind: self.kind,
            key: &self.key,
            ts_ms: self.ts_ms,
            link: self.link.as_deref(),
            raw: &self.raw,
        }
    }
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
    /// time order. Each record is borrowed for the call only (nothing is copied out of the
    /// store for the walks that read a field or two of every bill).
    fn for_each_by_id(
        &self,
        kind: RecordKind,
        f: &mut dyn FnMut(RecordRef<'_>) -> anyhow::Result<()>,
    ) -> anyhow::Result<()>;

    /// [`RecordSource::for_each_by_id`] over the records with `ts_ms < before` only (the
    /// bills a holding at `before` can come from), in the same order.
    fn for_each_by_id_before(
        &self,
        kind: RecordKind,
        before: i64,
        f: &mut dyn FnMut(RecordRef<'_>) -> anyhow::Result<()>,
    ) -> anyhow::Result<()> {
        self.for_each_by_id(kind, &mut |r| if r.ts_ms < before { f(r) } else { Ok(()) })
    }

    /// Calls `f` once with one cursor per entry of `kinds` (same order), all open at the
    /// same time, so several ordered streams can be merged without buffering any of them,
    /// and a [`LinkLookup`] for joins made while reading them.
    fn with_cursors(&self, kinds: &[RecordKind], f: &mut ScanFn<'_>) -> anyhow::Result<()>;

    /// The record of `kind` whose `link` equals `link` (fills by billId), if stored.
    fn by_link(&self, kind: RecordKind, link: &str) -> anyhow::Result<Vec<StoredRecord>>;

    /// The latest balance snapshot (all accounts), empty if none was taken.
    fn latest_balances(&self) -> anyhow::Result<Vec<BalanceRow>>;

    /// The accounts whose balance endpoint failed when the latest snapshot was taken: their
    /// balances are missing from [`RecordSource::latest_balances`], not zero.
    fn unavailable_balances(&self) -> anyhow::Result<Vec<UnavailableBalance>>;
}

/// An in-memory [`RecordSource`] for unit tests.
#[derive(Debug, Default, Clone)]
pub struct MemorySource {
    pub records: Vec<StoredRecord>,
    pub balances: Vec<BalanceRow>,
    pub unavailable: Vec<UnavailableBalance>,
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
        Ok(self.rows.next().map(StoredRecord::as_record_ref))
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
        f: &mut dyn FnMut(RecordRef<'_>) -> anyhow::Result<()>,
    ) -> anyhow::Result<()> {
        for r in self.sorted_by_id(kind) {
            f(r.as_record_ref())?;
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

    fn unavailable_balances(&self) -> anyhow::Result<Vec<UnavailableBalance>> {
        Ok(self.unavailable.clone())
    }
}
