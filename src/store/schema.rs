//! The on-disk schema and its migrations, one step at a time and in place: v1 (the first
//! release) → v2 (per-stream coverage, the remembered floor, the id-order index) → v3 (the
//! balance endpoints a snapshot could not read) → v4 (where the store's prices live, the
//! zones of its reports; earlier versions of records OKX changed; OKX's bill-type
//! dictionary; the account's identity, a master's sub-accounts and their balances). A
//! newer or foreign schema is refused.

use super::{
    OptionalExtension, Result, Store, accounts, bail, balances, bill_types, coverage, history, params, prices,
};

/// Current on-disk schema version. Bump it with a migration step in [`Store::migrate`].
pub const SCHEMA_VERSION: i64 = 4;

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

impl Store {
    pub(super) fn schema_version(&self) -> Result<Option<i64>> {
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
    pub(super) fn migrate(&mut self) -> Result<()> {
        loop {
            let version = self.schema_version()?;
            if version == Some(SCHEMA_VERSION) {
                return Ok(());
            }
            self.migrate_step(version)?;
        }
    }

    /// Creates a new store at [`SCHEMA_VERSION`], or upgrades `version` by one step, or
    /// refuses.
    fn migrate_step(&mut self, version: Option<i64>) -> Result<()> {
        match version {
            None => {
                let tx = self.conn.transaction()?;
                tx.execute_batch(SCHEMA_V1)?;
                tx.execute_batch(coverage::SCHEMA_V2)?;
                tx.execute_batch(balances::SCHEMA_V3)?;
                tx.execute_batch(prices::SCHEMA_V4)?;
                tx.execute_batch(history::SCHEMA_V4_HISTORY)?;
                tx.execute_batch(bill_types::SCHEMA_V4_BILL_TYPES)?;
                tx.execute_batch(accounts::SCHEMA_V4)?;
                tx.execute(
                    "INSERT INTO meta (key, value) VALUES ('schema_version', ?1), ('created_by', ?2)",
                    params![
                        SCHEMA_VERSION.to_string(),
                        concat!("okx-export ", env!("CARGO_PKG_VERSION"))
                    ],
                )?;
                tx.commit()?;
            }
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
            Some(2) => {
                let tx = self.conn.transaction()?;
                tx.execute_batch(balances::SCHEMA_V3)?;
                tx.execute("UPDATE meta SET value = '3' WHERE key = 'schema_version'", [])?;
                tx.commit()?;
            }
            Some(3) => {
                let tx = self.conn.transaction()?;
                tx.execute_batch(prices::SCHEMA_V4)?;
                tx.execute_batch(history::SCHEMA_V4_HISTORY)?;
                tx.execute_batch(bill_types::SCHEMA_V4_BILL_TYPES)?;
                tx.execute_batch(accounts::SCHEMA_V4)?;
                tx.execute("UPDATE meta SET value = '4' WHERE key = 'schema_version'", [])?;
                tx.commit()?;
            }
            // Future migrations go here as `Some(4) => { ...; set schema_version = 5 }`.
            Some(v) => bail!(
                "store `{}` has schema {v}, which this build cannot migrate; move it away and run `sync` again",
                self.path.display()
            ),
        }
        Ok(())
    }
}
