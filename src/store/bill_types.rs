//! OKX's bill-type dictionary (`GET /api/v5/account/subtypes`, schema v4): the names OKX
//! gives its trading-account bill types and subTypes, cached so that a report can name an
//! unclassified code without a network. Refreshed by `sync` when missing or when a stored
//! bill has a code it does not list.

use super::{DateTime, OptionalExtension, Result, Store, Utc, from_ms, ms, params};

/// Schema v4, part 2: the dictionary (`sub_type` is `''` on a type's own row).
pub(super) const SCHEMA_V4_BILL_TYPES: &str = "
CREATE TABLE bill_types (
    type TEXT NOT NULL,
    sub_type TEXT NOT NULL,
    description TEXT NOT NULL,
    PRIMARY KEY (type, sub_type)
);
";

/// One name of OKX's dictionary.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct BillTypeName {
    pub bill_type: String,
    /// `None`: the name of the type itself.
    pub sub_type: Option<String>,
    /// OKX's description; empty means OKX has not enabled the code.
    pub description: String,
}

impl Store {
    /// Replaces the cached dictionary with `names`, fetched at `at`.
    pub fn save_bill_types(&mut self, names: &[BillTypeName], at: DateTime<Utc>) -> Result<()> {
        let tx = self.conn.transaction()?;
        tx.execute("DELETE FROM bill_types", [])?;
        {
            let mut insert = tx.prepare_cached(
                "INSERT OR REPLACE INTO bill_types (type, sub_type, description) VALUES (?1, ?2, ?3)",
            )?;
            for n in names {
                insert.execute(params![
                    n.bill_type,
                    n.sub_type.as_deref().unwrap_or(""),
                    n.description
                ])?;
            }
        }
        tx.execute(
            "INSERT OR REPLACE INTO meta (key, value) VALUES ('bill_types_fetched_at', ?1)",
            [ms(at).to_string()],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// The cached dictionary (empty before the first fetch).
    pub fn bill_types(&self) -> Result<Vec<BillTypeName>> {
        let mut st = self
            .conn
            .prepare("SELECT type, sub_type, description FROM bill_types ORDER BY type, sub_type")?;
        let rows = st.query_map([], |r| {
            let sub: String = r.get(1)?;
            Ok(BillTypeName {
                bill_type: r.get(0)?,
                sub_type: (!sub.is_empty()).then_some(sub),
                description: r.get(2)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// When the dictionary was fetched, if ever.
    pub fn bill_types_fetched_at(&self) -> Result<Option<DateTime<Utc>>> {
        let v: Option<String> = self
            .conn
            .query_row(
                "SELECT value FROM meta WHERE key = 'bill_types_fetched_at'",
                [],
                |r| r.get(0),
            )
            .optional()?;
        Ok(v.and_then(|v| v.parse().ok()).and_then(from_ms))
    }

    /// The (type, subType) pairs of stored trading bills, each once (`subType` `None` when
    /// a bill has none): what the dictionary must name.
    pub fn trading_codes(&self) -> Result<Vec<(Option<String>, Option<String>)>> {
        let mut st = self.conn.prepare(
            "SELECT DISTINCT json_extract(raw, '$.type'), json_extract(raw, '$.subType')
             FROM records WHERE kind = 'bill' AND json_valid(raw)",
        )?;
        let rows = st.query_map([], |r| {
            let text = |v: rusqlite::types::Value| match v {
                rusqlite::types::Value::Text(s) if !s.is_empty() => Some(s),
                rusqlite::types::Value::Integer(i) => Some(i.to_string()),
                _ => None,
            };
            Ok((text(r.get(0)?), text(r.get(1)?)))
        })?;
        let mut out: Vec<_> = rows.collect::<Result<_, _>>()?;
        out.sort();
        out.dedup();
        Ok(out)
    }
}
