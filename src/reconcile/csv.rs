//! `reconciliation.csv` (one row per check) and `opening_balances.csv`.

use super::{Reconciliation, Status};
use crate::model::{plain, rfc3339_ms};
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

pub const RECONCILIATION_COLUMNS: &[&str] = &[
    "check",
    "account",
    "asset",
    "from",
    "to",
    "computed",
    "reported",
    "difference",
    "status",
    "detail",
];

pub const OPENING_BALANCE_COLUMNS: &[&str] = &["account", "asset", "opening_balance", "as_of"];

/// One row of `reconciliation.csv`: which check, on what, over which time range, verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckRow {
    /// `continuity`, `balance`, `transfers`, `deposits`, `withdrawals`, `rows`, `file:<format>`.
    pub check: &'static str,
    pub account: String,
    pub asset: String,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    pub computed: Option<Decimal>,
    pub reported: Option<Decimal>,
    pub difference: Option<Decimal>,
    pub status: String,
    pub detail: String,
}

impl CheckRow {
    /// Whether this check failed (neither `ok` nor a row that only names facts).
    pub fn failed(&self) -> bool {
        self.status != "ok" && self.status != super::UNCLASSIFIED
    }

    /// The closing row of a check: `ok` when nothing failed, else `failure`, with the
    /// counts in `detail` and no range or amounts.
    pub fn summary(
        check: &'static str,
        account: &str,
        failed: usize,
        failure: &str,
        detail: String,
    ) -> CheckRow {
        CheckRow {
            check,
            account: account.to_string(),
            asset: String::new(),
            from: None,
            to: None,
            computed: None,
            reported: None,
            difference: None,
            status: if failed == 0 { "ok" } else { failure }.into(),
            detail,
        }
    }

    pub fn fields(&self) -> Vec<String> {
        let t = |t: Option<DateTime<Utc>>| t.map(rfc3339_ms).unwrap_or_default();
        let d = |d: Option<Decimal>| d.map(plain).unwrap_or_default();
        vec![
            self.check.to_string(),
            self.account.clone(),
            self.asset.clone(),
            t(self.from),
            t(self.to),
            d(self.computed),
            d(self.reported),
            d(self.difference),
            self.status.clone(),
            self.detail.clone(),
        ]
    }
}

/// Every check of `r`: per (account, asset) the chain's continuity (accounts with bills)
/// and the balance match, then the cross-ledger checks.
pub fn check_rows(r: &Reconciliation) -> Vec<CheckRow> {
    let mut out = Vec::new();
    for row in &r.rows {
        if row.bills > 0 {
            let gaps = r
                .gaps
                .iter()
                .filter(|g| g.account == row.account && g.asset == row.asset)
                .count();
            let detail = match (row.first_gap_from, row.first_gap_to) {
                (Some(a), Some(b)) => format!(
                    "{} bills; {gaps} break(s), the first between {} and {}: history is missing there",
                    row.bills,
                    rfc3339_ms(a),
                    rfc3339_ms(b)
                ),
                _ => format!("{} bills", row.bills),
            };
            out.push(CheckRow {
                check: "continuity",
                account: row.account.as_str().to_string(),
                asset: row.asset.clone(),
                from: row.first_bill_at,
                to: row.last_bill_at,
                computed: None,
                reported: None,
                difference: None,
                status: if gaps > 0 { "gap" } else { "ok" }.to_string(),
                detail,
            });
        }
        let detail = match row.status {
            Status::NotCompared => {
                let reason = row.reason.unwrap_or_default();
                // What the endpoint answered, as the sync stored it.
                match r.unavailable.iter().find(|u| u.account == row.account.as_str()) {
                    Some(u) if reason == super::ENDPOINT_UNAVAILABLE => format!("{reason} ({})", u.error),
                    _ => reason.to_string(),
                }
            }
            Status::OpeningBalance => format!(
                "history starts with a balance of {} (see opening_balances.csv)",
                plain(row.opening_balance)
            ),
            Status::Gap => "the ledger has a gap (see its continuity row)".to_string(),
            _ => String::new(),
        };
        out.push(CheckRow {
            check: "balance",
            account: row.account.as_str().to_string(),
            asset: row.asset.clone(),
            from: None,
            to: row.as_of,
            computed: Some(row.computed),
            reported: row.reported,
            difference: row.difference,
            status: row.status.as_str().to_string(),
            detail,
        });
    }
    out.extend(r.cross.iter().cloned());
    out
}

/// The header and rows of `reconciliation.csv`.
pub fn reconciliation_csv(r: &Reconciliation) -> (Vec<&'static str>, Vec<Vec<String>>) {
    let rows = check_rows(r).iter().map(CheckRow::fields).collect();
    (RECONCILIATION_COLUMNS.to_vec(), rows)
}

/// The header and rows of `opening_balances.csv`: each (account, asset) whose stored
/// history starts with a non-zero balance, as of its first bill.
pub fn opening_balances_csv(r: &Reconciliation) -> (Vec<&'static str>, Vec<Vec<String>>) {
    let rows = r
        .rows
        .iter()
        .filter(|row| !row.opening_balance.is_zero())
        .map(|row| {
            vec![
                row.account.as_str().to_string(),
                row.asset.clone(),
                plain(row.opening_balance),
                row.first_bill_at.map(rfc3339_ms).unwrap_or_default(),
            ]
        })
        .collect();
    (OPENING_BALANCE_COLUMNS.to_vec(), rows)
}
