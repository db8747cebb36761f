//! [`RecordSource`] over SQLite: ordered scans, several cursors open at once, link
//! lookups, the latest balance snapshot.

use super::{
    BalanceRow, Connection, Context, LinkLookup, OptionalExtension, RecordCursor, RecordKind, RecordRef,
    RecordSource, Result, ScanFn, Store, StoredRecord, UnavailableBalance, from_ms, params,
};

fn parse_dec(s: &str) -> Result<rust_decimal::Decimal> {
    s.parse().with_context(|| format!("bad decimal `{s}` in store"))
}

/// The records of one kind in [`RecordSource::for_each`] order.
const SELECT_ORDERED: &str = "SELECT key, ts, link, raw FROM records WHERE kind = ?1 ORDER BY ts, num, key";

/// [`SELECT_ORDERED`] for the records with a time in `[?2, ?3)`.
const SELECT_ORDERED_BETWEEN: &str =
    "SELECT key, ts, link, raw FROM records WHERE kind = ?1 AND ts >= ?2 AND ts < ?3 ORDER BY ts, num, key";

/// The records of one kind in [`RecordSource::for_each_by_id`] order.
const SELECT_BY_ID: &str = "SELECT key, ts, link, raw FROM records WHERE kind = ?1 ORDER BY num, ts, key";
/// [`SELECT_BY_ID`] for the records before a time, in the same index: it holds `ts`, so
/// only those rows are read from the table, already in order. (Left to itself SQLite picks
/// the time index and sorts every row it finds, which for a closing instant is the whole
/// ledger.)
const SELECT_BY_ID_BEFORE: &str = "SELECT key, ts, link, raw FROM records INDEXED BY records_by_id \
     WHERE kind = ?1 AND ts < ?2 ORDER BY num, ts, key";
/// Whether any record of a kind is before a time (in the time index: a lookup, not a walk).
const ANY_BEFORE: &str = "SELECT EXISTS (SELECT 1 FROM records WHERE kind = ?1 AND ts < ?2)";

/// A `SELECT key, ts, link, raw` row as a record of `kind`.
fn stored(kind: RecordKind, r: &rusqlite::Row<'_>) -> rusqlite::Result<StoredRecord> {
    Ok(StoredRecord {
        kind,
        key: r.get(0)?,
        ts_ms: r.get(1)?,
        link: r.get(2)?,
        raw: r.get(3)?,
    })
}

/// A `SELECT key, ts, link, raw` row borrowed as a record of `kind`.
fn record_ref<'r>(kind: RecordKind, r: &'r rusqlite::Row<'_>) -> Result<RecordRef<'r>> {
    Ok(RecordRef {
        kind,
        key: r.get_ref(0)?.as_str()?,
        ts_ms: r.get(1)?,
        link: r.get_ref(2)?.as_str_or_null()?,
        raw: r.get_ref(3)?.as_str()?,
    })
}

impl Store {
    /// Calls `f` for each row of `sql` (one of the `SELECT_*` scans) for `kind`.
    fn scan(&self, sql: &str, kind: RecordKind, f: &mut dyn FnMut(StoredRecord) -> Result<()>) -> Result<()> {
        let mut st = self.conn.prepare_cached(sql)?;
        let mut rows = st.query([kind.as_str()])?;
        while let Some(r) = rows.next()? {
            f(stored(kind, r)?)?;
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
        Ok(Some(record_ref(kind, r)?))
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
            out.push(stored(kind, r)?);
        }
        Ok(out)
    }
}

impl Store {
    /// [`RecordSource::with_cursors`] on the records with a time in `range` (all without).
    fn ordered_cursors(
        &self,
        kinds: &[RecordKind],
        range: Option<(i64, i64)>,
        f: &mut ScanFn<'_>,
    ) -> Result<()> {
        let sql = if range.is_some() {
            SELECT_ORDERED_BETWEEN
        } else {
            SELECT_ORDERED
        };
        let mut statements = kinds
            .iter()
            .map(|_| self.conn.prepare(sql))
            .collect::<Result<Vec<_>, _>>()?;
        let mut cursors = statements
            .iter_mut()
            .zip(kinds)
            .map(|(st, &kind)| {
                let rows = match range {
                    Some((from, to)) => st.query(params![kind.as_str(), from, to])?,
                    None => st.query([kind.as_str()])?,
                };
                Ok(SqlCursor { kind, rows })
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

    /// The store as a [`RecordSource`] whose ordered cursors hold only the records with a
    /// time in `[from_ms, to_ms)`; everything else (the histories read whole, link
    /// lookups, balances) is the whole store's. Normalizing it gives the rows of that range
    /// (give or take its edges): the price stage reads the rows of each range of a running
    /// sync this way, without reading the whole store each time.
    pub fn between(&self, from_ms: i64, to_ms: i64) -> Between<'_> {
        Between {
            store: self,
            range: (from_ms, to_ms),
        }
    }
}

/// See [`Store::between`].
pub struct Between<'s> {
    store: &'s Store,
    range: (i64, i64),
}

impl RecordSource for Between<'_> {
    fn with_cursors(&self, kinds: &[RecordKind], f: &mut ScanFn<'_>) -> Result<()> {
        self.store.ordered_cursors(kinds, Some(self.range), f)
    }

    fn for_each(&self, kind: RecordKind, f: &mut dyn FnMut(StoredRecord) -> Result<()>) -> Result<()> {
        self.store.for_each(kind, f)
    }

    fn for_each_by_id(&self, kind: RecordKind, f: &mut dyn FnMut(RecordRef<'_>) -> Result<()>) -> Result<()> {
        self.store.for_each_by_id(kind, f)
    }

    fn for_each_by_id_before(
        &self,
        kind: RecordKind,
        before: i64,
        f: &mut dyn FnMut(RecordRef<'_>) -> Result<()>,
    ) -> Result<()> {
        self.store.for_each_by_id_before(kind, before, f)
    }

    fn by_link(&self, kind: RecordKind, link: &str) -> Result<Vec<StoredRecord>> {
        self.store.by_link(kind, link)
    }

    fn latest_balances(&self) -> Result<Vec<BalanceRow>> {
        self.store.latest_balances()
    }

    fn unavailable_balances(&self) -> Result<Vec<UnavailableBalance>> {
        self.store.unavailable_balances()
    }
}

impl RecordSource for Store {
    fn with_cursors(&self, kinds: &[RecordKind], f: &mut ScanFn<'_>) -> Result<()> {
        self.ordered_cursors(kinds, None, f)
    }

    fn for_each(&self, kind: RecordKind, f: &mut dyn FnMut(StoredRecord) -> Result<()>) -> Result<()> {
        self.scan(SELECT_ORDERED, kind, f)
    }

    fn for_each_by_id(&self, kind: RecordKind, f: &mut dyn FnMut(RecordRef<'_>) -> Result<()>) -> Result<()> {
        let mut st = self.conn.prepare_cached(SELECT_BY_ID)?;
        let mut rows = st.query([kind.as_str()])?;
        while let Some(r) = rows.next()? {
            f(record_ref(kind, r)?)?;
        }
        Ok(())
    }

    fn for_each_by_id_before(
        &self,
        kind: RecordKind,
        before: i64,
        f: &mut dyn FnMut(RecordRef<'_>) -> Result<()>,
    ) -> Result<()> {
        // The id index holds every record of the kind: when none is before `before` (a
        // period from the first record on), the time index says so without that walk.
        let any: bool = self
            .conn
            .prepare_cached(ANY_BEFORE)?
            .query_row(params![kind.as_str(), before], |r| r.get(0))?;
        if !any {
            return Ok(());
        }
        let mut st = self.conn.prepare_cached(SELECT_BY_ID_BEFORE)?;
        let mut rows = st.query(params![kind.as_str(), before])?;
        while let Some(r) = rows.next()? {
            f(record_ref(kind, r)?)?;
        }
        Ok(())
    }

    fn by_link(&self, kind: RecordKind, link: &str) -> Result<Vec<StoredRecord>> {
        let mut st = self
            .conn
            .prepare_cached("SELECT key, ts, link, raw FROM records WHERE kind = ?1 AND link = ?2")?;
        let rows = st.query_map(params![kind.as_str(), link], |r| stored(kind, r))?;
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

    fn unavailable_balances(&self) -> Result<Vec<UnavailableBalance>> {
        let mut st = self.conn.prepare(
            "SELECT u.account, u.error, s.taken_at FROM balances_unavailable u
             JOIN balance_snapshots s ON s.id = u.snapshot
             WHERE u.snapshot = (SELECT max(id) FROM balance_snapshots) ORDER BY u.account",
        )?;
        let rows = st.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, i64>(2)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (account, error, taken_at) = row?;
            out.push(UnavailableBalance {
                account,
                error,
                as_of: from_ms(taken_at).context("bad snapshot time in store")?,
            });
        }
        Ok(out)
    }
}
