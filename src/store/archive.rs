//! The state of each quarterly archive file: pending, applied (with its time), done.

use super::{InsertOutcome, NewRecord, QuarterState, Result, Store, Utc, from_ms, ms, params};

impl Store {
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
}
