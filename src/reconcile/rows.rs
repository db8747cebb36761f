//! The exported rows reconcile with the ledgers on every run: per (account, asset),
//! Σ received − sent − fee over every transaction row equals Σ balChg over the stored bills.
//! A difference means the normalizer dropped, doubled or mis-signed a balance change. The
//! earn account has no ledger and is left out.

use super::{CheckRow, Reconciliation};
use crate::model::{Account, plain};
use rust_decimal::Decimal;
use std::collections::BTreeMap;

/// One row per (account, asset) whose sums differ, then one summary row.
pub fn rows_checks(
    rec: &Reconciliation,
    by_account: &BTreeMap<Account, BTreeMap<String, Decimal>>,
) -> Vec<CheckRow> {
    let mut ledger: BTreeMap<(Account, String), Decimal> = BTreeMap::new();
    for r in rec.rows.iter().filter(|r| r.bills > 0) {
        ledger.insert((r.account, r.asset.clone()), r.ledger_change);
    }
    let row_sums: BTreeMap<(Account, String), Decimal> = by_account
        .iter()
        .flat_map(|(a, m)| m.iter().map(move |(asset, v)| ((*a, asset.clone()), *v)))
        .collect();
    let mut keys: Vec<(Account, String)> = ledger.keys().chain(row_sums.keys()).cloned().collect();
    keys.sort();
    keys.dedup();
    let mut out = Vec::new();
    let mut compared = 0;
    for key in keys.iter().filter(|k| k.0 != Account::Earn) {
        let rows = row_sums.get(key).copied().unwrap_or_default();
        let bills = ledger.get(key).copied().unwrap_or_default();
        compared += 1;
        if rows != bills {
            out.push(CheckRow {
                check: "rows",
                account: key.0.as_str().to_string(),
                asset: key.1.clone(),
                from: None,
                to: None,
                computed: Some(rows),
                reported: Some(bills),
                difference: Some(rows - bills),
                status: "mismatch".into(),
                detail: format!(
                    "the transaction rows sum to {} but the stored bills' balChg to {}",
                    plain(rows),
                    plain(bills)
                ),
            });
        }
    }
    let failed = out.len();
    out.push(CheckRow::summary(
        "rows",
        "",
        failed,
        "mismatch",
        format!("{compared} account/asset row sums compared with the ledgers' Σ balChg; {failed} differ"),
    ));
    out
}
