//! Whose account the store holds and, for a master, its sub-accounts (schema v4).
//!
//! `identity` is the key's `account/config` at the last sync (`uid`, `mainUid`, `type`,
//! label): a master's `uid` equals its `mainUid`. `sub_accounts` is a master's last
//! `users/subaccount/list` and `sub_account_balances` each sub-account's trading and funding
//! balances read with it; both are replaced as a whole by each sync, in one transaction.
//! The transfers between the master and its sub-accounts are records
//! ([`super::RecordKind::SubTransfer`]), like every other history.

use super::{BalanceRow, DateTime, OptionalExtension, Result, Store, Utc, from_ms, ms, params};
use rust_decimal::Decimal;
use std::str::FromStr;

/// Schema v4: the account identity and a master's sub-accounts.
pub(super) const SCHEMA_V4: &str = "
CREATE TABLE identity (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    uid TEXT NOT NULL,
    main_uid TEXT,
    account_type TEXT,
    label TEXT,
    checked_at INTEGER NOT NULL
);
CREATE TABLE sub_accounts (
    name TEXT PRIMARY KEY,
    uid TEXT,
    label TEXT,
    account_type TEXT,
    enabled TEXT,
    created_at INTEGER,
    raw TEXT NOT NULL
);
CREATE TABLE sub_account_balances (
    name TEXT NOT NULL,
    account TEXT NOT NULL,
    ccy TEXT NOT NULL,
    total TEXT NOT NULL,
    available TEXT,
    frozen TEXT,
    PRIMARY KEY (name, account, ccy)
);
";

/// The account a key belongs to (`account/config`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub uid: String,
    /// The master's uid (equal to `uid` for a master).
    pub main_uid: Option<String>,
    /// `0` main account; `1`, `2`, `5`, `9`, `12` kinds of sub-account.
    pub account_type: Option<String>,
    /// The key's label.
    pub label: Option<String>,
    pub checked_at: DateTime<Utc>,
}

impl Identity {
    /// The account `cfg` (`account/config`) describes, as the store records it (`None`
    /// without a uid).
    pub fn of(cfg: &crate::okx::wire::AccountConfig, at: DateTime<Utc>) -> Option<Identity> {
        Some(Identity {
            uid: cfg.uid.clone()?,
            main_uid: cfg.main_uid.clone(),
            account_type: cfg.account_type.clone(),
            label: cfg.label.clone(),
            checked_at: at,
        })
    }

    /// A master (main) account: `uid == mainUid` (okx-api.md §12.4).
    pub fn is_master(&self) -> bool {
        self.main_uid.as_deref() == Some(self.uid.as_str())
    }
}

/// One sub-account of a master's list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubAccount {
    /// `subAcct`, its name.
    pub name: String,
    pub uid: Option<String>,
    pub label: Option<String>,
    pub account_type: Option<String>,
    /// `enable` as sent (`true` normal, `false` frozen).
    pub enabled: Option<String>,
    pub created_at: Option<DateTime<Utc>>,
}

/// A master's sub-accounts as the last sync read them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubAccounts {
    pub listed_at: DateTime<Utc>,
    pub subs: Vec<SubAccount>,
    /// (sub-account name, balance line) of each sub-account's trading and funding account.
    pub balances: Vec<(String, BalanceRow)>,
}

impl SubAccounts {
    /// The balance lines of sub-account `name`.
    pub fn balances_of<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a BalanceRow> + 'a {
        self.balances
            .iter()
            .filter(move |(n, _)| n == name)
            .map(|(_, b)| b)
    }
}

fn dec(s: Option<String>) -> Option<Decimal> {
    s.and_then(|s| Decimal::from_str(&s).ok())
}

impl Store {
    /// The uid recorded in the store in `dir`, read without opening it as a store (no
    /// migration, no lock, read-only): `None` when there is no store or it records none.
    pub fn recorded_uid(dir: &std::path::Path) -> Option<String> {
        let path = dir.join(Store::FILE);
        if !path.exists() {
            return None;
        }
        let conn =
            rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).ok()?;
        conn.query_row("SELECT uid FROM identity WHERE id = 1", [], |r| r.get(0))
            .ok()
    }

    /// Records whose account the key is (replacing what an earlier sync recorded).
    pub fn set_identity(&mut self, id: &Identity) -> Result<()> {
        self.conn.execute(
            "INSERT OR REPLACE INTO identity (id, uid, main_uid, account_type, label, checked_at) VALUES (1, ?1, ?2, ?3, ?4, ?5)",
            params![id.uid, id.main_uid, id.account_type, id.label, ms(id.checked_at)],
        )?;
        Ok(())
    }

    /// Whose account the store holds, if a sync (or `check-key`) recorded it.
    pub fn identity(&self) -> Result<Option<Identity>> {
        Ok(self
            .conn
            .query_row(
                "SELECT uid, main_uid, account_type, label, checked_at FROM identity WHERE id = 1",
                [],
                |r| {
                    Ok(Identity {
                        uid: r.get(0)?,
                        main_uid: r.get(1)?,
                        account_type: r.get(2)?,
                        label: r.get(3)?,
                        checked_at: from_ms(r.get(4)?).unwrap_or_default(),
                    })
                },
            )
            .optional()?)
    }

    /// Replaces the sub-account list (each with its raw JSON) and their balances, read at
    /// `at`, in one transaction.
    pub fn save_sub_accounts(
        &mut self,
        at: DateTime<Utc>,
        subs: &[(SubAccount, String)],
        balances: &[(String, BalanceRow)],
    ) -> Result<()> {
        let tx = self.conn.transaction()?;
        tx.execute("DELETE FROM sub_accounts", [])?;
        tx.execute("DELETE FROM sub_account_balances", [])?;
        {
            let mut st = tx.prepare(
                "INSERT OR REPLACE INTO sub_accounts (name, uid, label, account_type, enabled, created_at, raw) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?;
            for (s, raw) in subs {
                st.execute(params![
                    s.name,
                    s.uid,
                    s.label,
                    s.account_type,
                    s.enabled,
                    s.created_at.map(ms),
                    raw
                ])?;
            }
            let mut st = tx.prepare(
                "INSERT OR REPLACE INTO sub_account_balances (name, account, ccy, total, available, frozen) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?;
            for (name, b) in balances {
                st.execute(params![
                    name,
                    b.account,
                    b.ccy,
                    b.total.to_string(),
                    b.available.map(|d| d.to_string()),
                    b.frozen.map(|d| d.to_string())
                ])?;
            }
        }
        tx.execute(
            "INSERT OR REPLACE INTO meta (key, value) VALUES ('sub_accounts_listed_at', ?1)",
            [ms(at).to_string()],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// The sub-accounts the last sync listed; `None` when no list was ever read (not a
    /// master, or a store from before schema v4).
    pub fn sub_accounts(&self) -> Result<Option<SubAccounts>> {
        let at: Option<String> = self
            .conn
            .query_row(
                "SELECT value FROM meta WHERE key = 'sub_accounts_listed_at'",
                [],
                |r| r.get(0),
            )
            .optional()?;
        let Some(listed_at) = at.and_then(|v| v.parse::<i64>().ok()).and_then(from_ms) else {
            return Ok(None);
        };
        let mut st = self.conn.prepare(
            "SELECT name, uid, label, account_type, enabled, created_at FROM sub_accounts ORDER BY name",
        )?;
        let subs = st
            .query_map([], |r| {
                Ok(SubAccount {
                    name: r.get(0)?,
                    uid: r.get(1)?,
                    label: r.get(2)?,
                    account_type: r.get(3)?,
                    enabled: r.get(4)?,
                    created_at: r.get::<_, Option<i64>>(5)?.and_then(from_ms),
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        let mut st = self.conn.prepare(
            "SELECT name, account, ccy, total, available, frozen FROM sub_account_balances ORDER BY name, account, ccy",
        )?;
        let balances = st
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, Option<String>>(4)?,
                    r.get::<_, Option<String>>(5)?,
                ))
            })?
            .collect::<Result<Vec<_>, _>>()?
            .into_iter()
            .map(|(name, account, ccy, total, available, frozen)| {
                let row = BalanceRow {
                    account,
                    ccy,
                    total: dec(Some(total)).unwrap_or_default(),
                    available: dec(available),
                    frozen: dec(frozen),
                    as_of: listed_at,
                };
                (name, row)
            })
            .collect();
        Ok(Some(SubAccounts {
            listed_at,
            subs,
            balances,
        }))
    }
}
