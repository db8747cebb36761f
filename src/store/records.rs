//! Raw records and stream cursors: a page and the cursor after it in one transaction,
//! counts, keys and the content digest the crash tests compare.

use super::{
    CursorInfo, InsertOutcome, KindStats, NewRecord, OptionalExtension, RecordKind, Result, Store, Utc,
    from_ms, ms, params,
};

impl Store {
    /// Stores a page of records and the cursor state that follows it, atomically.
    /// A record already stored is updated only when its JSON changed (a pending deposit
    /// that became final) and the new copy has at least the stored copy's priority (the API
    /// copy of a bill wins over the archive-file copy). Deposits, withdrawals, Dual
    /// Investment orders and instruments may change; a bill or a convert that changes is
    /// reported (see [`Store::insert_page_checked`]).
    pub fn insert_page(
        &mut self,
        stream: &str,
        priority: i64,
        records: &[NewRecord],
        cursor: Option<&str>,
    ) -> Result<InsertOutcome> {
        self.insert_page_checked(stream, priority, records, cursor, &|kind, _| {
            matches!(
                kind,
                RecordKind::Deposit
                    | RecordKind::Withdrawal
                    | RecordKind::DualInvestment
                    | RecordKind::Instrument
            )
        })
    }

    /// [`Store::insert_page`], where `may_change(kind, stored_raw)` tells whether the stored
    /// copy could still change (a deposit not yet final). A stored copy that could not,
    /// answered again at the same priority with other content (see
    /// [`super::content_changed`]), is replaced by OKX's new version and the earlier one is
    /// kept in the history (`changed`). A page holding one key twice with different content
    /// stores the first and keeps the other in the history (`duplicates`).
    pub fn insert_page_checked(
        &mut self,
        stream: &str,
        priority: i64,
        records: &[NewRecord],
        cursor: Option<&str>,
        may_change: &dyn Fn(RecordKind, &str) -> bool,
    ) -> Result<InsertOutcome> {
        let now = ms(Utc::now());
        let tx = self.conn.transaction()?;
        let mut outcome = InsertOutcome::default();
        {
            let mut exists = tx.prepare_cached(
                "SELECT raw, priority, stream, fetched_at FROM records WHERE kind = ?1 AND key = ?2",
            )?;
            let mut insert = tx.prepare_cached(
                "INSERT INTO records (kind, key, ts, num, link, stream, priority, raw, fetched_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            )?;
            let mut update = tx.prepare_cached(
                "UPDATE records SET ts = ?3, num = ?4, link = ?5, stream = ?6, priority = ?7, raw = ?8, fetched_at = ?9
                 WHERE kind = ?1 AND key = ?2",
            )?;
            let mut keep = tx.prepare_cached(
                "INSERT INTO record_history (kind, key, raw, stream, fetched_at, replaced_at, reason)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?;
            // The page's own keys: a second copy is a duplicate, not an update.
            let mut in_page: std::collections::HashMap<(RecordKind, &str), &str> =
                std::collections::HashMap::with_capacity(records.len());
            for r in records {
                if let Some(first) = in_page.get(&(r.kind, r.key.as_str())) {
                    if *first != r.raw {
                        keep.execute(params![
                            r.kind.as_str(),
                            r.key,
                            r.raw,
                            stream,
                            now,
                            now,
                            super::DUPLICATE
                        ])?;
                        outcome.duplicates.push(r.key.clone());
                    }
                    continue;
                }
                in_page.insert((r.kind, r.key.as_str()), r.raw.as_str());
                let found: Option<(String, i64, String, i64)> = exists
                    .query_row(params![r.kind.as_str(), r.key], |row| {
                        Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
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
                        outcome.new_keys.push(r.key.clone());
                    }
                    Some((raw, p, old_stream, fetched_at)) if raw != r.raw && priority >= p => {
                        // The API copy replacing an archive-file copy is another form of
                        // the same record; only the same source answering differently is
                        // a change.
                        let surprise = p == priority
                            && !may_change(r.kind, &raw)
                            && super::content_changed(&raw, &r.raw);
                        if surprise {
                            keep.execute(params![
                                r.kind.as_str(),
                                r.key,
                                raw,
                                old_stream,
                                fetched_at,
                                now,
                                super::CHANGED
                            ])?;
                            outcome.changed.push(r.key.clone());
                        } else {
                            outcome.updated += 1;
                        }
                        update.execute(args)?;
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

    /// Replaces, in one transaction, the stored records of `kind` with `from_ms <= ts <
    /// to_ms` (and, when given, a key starting with `key_prefix`) by `records` (a
    /// `sync --refetch`; API copies, priority 1 like the stream pages). Returns (removed, inserted). Nothing changes if it fails.
    pub fn replace_range(
        &mut self,
        stream: &str,
        kind: RecordKind,
        key_prefix: Option<&str>,
        (from_ms, to_ms): (i64, i64),
        records: &[NewRecord],
    ) -> Result<(u64, u64)> {
        let now = ms(Utc::now());
        let tx = self.conn.transaction()?;
        // `substr` instead of LIKE: keys may hold `%` or `_`.
        let prefix = key_prefix.unwrap_or("");
        let removed = tx.execute(
            "DELETE FROM records WHERE kind = ?1 AND ts >= ?2 AND ts < ?3
             AND substr(key, 1, length(?4)) = ?4",
            params![kind.as_str(), from_ms, to_ms, prefix],
        )? as u64;
        let mut inserted = 0;
        {
            let mut insert = tx.prepare_cached(
                "INSERT INTO records (kind, key, ts, num, link, stream, priority, raw, fetched_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, 1, ?7, ?8)
                 ON CONFLICT(kind, key) DO UPDATE SET ts = excluded.ts, num = excluded.num,
                   link = excluded.link, stream = excluded.stream, priority = 1, raw = excluded.raw,
                   fetched_at = excluded.fetched_at",
            )?;
            for r in records {
                inserted += insert.execute(params![
                    r.kind.as_str(),
                    r.key,
                    r.ts_ms,
                    r.num,
                    r.link,
                    stream,
                    r.raw,
                    now
                ])? as u64;
            }
        }
        tx.commit()?;
        Ok((removed, inserted))
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

    /// The stored JSON of the record of `kind` with `key`.
    pub fn raw_of(&self, kind: RecordKind, key: &str) -> Result<Option<String>> {
        Ok(self
            .conn
            .query_row(
                "SELECT raw FROM records WHERE kind = ?1 AND key = ?2",
                params![kind.as_str(), key],
                |r| r.get(0),
            )
            .optional()?)
    }

    /// The stream that stored the record of `kind` with `key` last.
    pub fn stream_of(&self, kind: RecordKind, key: &str) -> Result<Option<String>> {
        Ok(self
            .conn
            .query_row(
                "SELECT stream FROM records WHERE kind = ?1 AND key = ?2",
                params![kind.as_str(), key],
                |r| r.get(0),
            )
            .optional()?)
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
}
