//! Balance snapshots taken at sync time, the accounts a snapshot could not read (schema
//! v3), and the record of each sync run.

use super::{BalanceRow, DateTime, OptionalExtension, Result, RunInfo, Store, Utc, from_ms, ms, params};

/// Schema v3: per snapshot, the accounts whose balance endpoint failed (their balances are
/// unknown, not zero).
pub(super) const SCHEMA_V3: &str = "
CREATE TABLE balances_unavailable (
    snapshot INTEGER NOT NULL REFERENCES balance_snapshots(id),
    account TEXT NOT NULL,
    error TEXT NOT NULL,
    PRIMARY KEY (snapshot, account)
);
";

impl Store {
    /// Saves a balance snapshot taken at `taken_at`; `unavailable` lists (account, error)
    /// of the accounts whose balance endpoint failed, in the same transaction.
    pub fn save_balances(
        &mut self,
        taken_at: DateTime<Utc>,
        rows: &[BalanceRow],
        unavailable: &[(&str, String)],
    ) -> Result<()> {
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
            let mut st = tx.prepare(
                "INSERT OR REPLACE INTO balances_unavailable (snapshot, account, error) VALUES (?1, ?2, ?3)",
            )?;
            for (account, error) in unavailable {
                st.execute(params![id, account, error])?;
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
        Ok(self.run_where("", [])?.map(|(info, _)| info))
    }

    /// The last run and its summary JSON (`fleet status` reads why it failed from it).
    pub fn last_run_summary(&self) -> Result<Option<(RunInfo, String)>> {
        self.run_where("", [])
    }

    /// The last run whose status is `status` (e.g. `ok`: the last successful sync).
    pub fn last_run_with(&self, status: &str) -> Result<Option<RunInfo>> {
        Ok(self
            .run_where("WHERE status = ?1", [status])?
            .map(|(info, _)| info))
    }

    fn run_where<P: rusqlite::Params>(&self, filter: &str, p: P) -> Result<Option<(RunInfo, String)>> {
        let sql = format!(
            "SELECT started_at, finished_at, status, summary FROM runs {filter} ORDER BY id DESC LIMIT 1"
        );
        Ok(self
            .conn
            .query_row(&sql, p, |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, Option<i64>>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, Option<String>>(3)?,
                ))
            })
            .optional()?
            .and_then(|(s, f, status, summary)| {
                Some((
                    RunInfo {
                        started_at: from_ms(s)?,
                        finished_at: f.and_then(from_ms),
                        status,
                    },
                    summary.unwrap_or_default(),
                ))
            }))
    }
}

impl Store {
    /// Remembers that the optional endpoint `what` answered `reason` (e.g. `HTTP 404`: the
    /// product is missing in this region), or forgets it (`None`: it answered). Returns
    /// what was remembered before, so a sync says an unchanged absence once, not nightly.
    pub fn remember_unavailable(&mut self, what: &str, reason: Option<&str>) -> Result<Option<String>> {
        let key = format!("unavailable:{what}");
        let tx = self.conn.transaction()?;
        let before: Option<String> = tx
            .query_row("SELECT value FROM meta WHERE key = ?1", [&key], |r| r.get(0))
            .optional()?;
        match reason {
            Some(r) => tx.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES (?1, ?2)",
                params![key, r],
            )?,
            None => tx.execute("DELETE FROM meta WHERE key = ?1", [&key])?,
        };
        tx.commit()?;
        Ok(before)
    }
}
