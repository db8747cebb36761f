//! Cross-ledger proof for deposits and withdrawals: every final (successful) record in
//! deposit/withdrawal history has its funding bill (type 1 / type 2), and every such bill
//! its record. The pairing itself is the normalizer's (same currency and amount, the record
//! dated no later than the bill, nearest first; no fixed time window), so the check and the
//! exported rows agree. Only what the other side's stored history covers can fail: a record
//! whose time the funding ledger does not cover, or a bill whose time the history stream does
//! not cover, is counted and left to the coverage check.

use super::CheckRow;
use crate::model::{plain, rfc3339_ms};
use crate::normalize::{PendingItem, UnmatchedBill};

fn covers(ranges: &[(i64, i64)], t: i64) -> bool {
    ranges.iter().any(|&(a, b)| a <= t && t < b)
}

/// The covered ranges (ms) the check needs.
#[derive(Debug, Clone, Default)]
pub struct FundsRanges {
    pub funding: Vec<(i64, i64)>,
    pub deposits: Vec<(i64, i64)>,
    pub withdrawals: Vec<(i64, i64)>,
}

/// One row per record without its bill and per bill without its record (where the other
/// side is covered), then one summary row each for deposits and withdrawals.
pub fn funds_checks(
    final_without_bill: &[PendingItem],
    bills_without_record: &[UnmatchedBill],
    ranges: &FundsRanges,
) -> Vec<CheckRow> {
    let mut out = Vec::new();
    for (what, history, stream) in [
        ("deposit", &ranges.deposits, "deposit-history"),
        ("withdrawal", &ranges.withdrawals, "withdrawal-history"),
    ] {
        let mut failed = 0;
        let mut outside = 0;
        for p in final_without_bill.iter().filter(|p| p.what == what) {
            let t = p.time.map_or(0, |t| t.timestamp_millis());
            if !covers(&ranges.funding, t) {
                outside += 1;
                continue;
            }
            failed += 1;
            let code = if what == "deposit" { "type 1" } else { "type 2" };
            out.push(CheckRow {
                check: what,
                account: "funding".into(),
                asset: p.asset.clone(),
                from: p.time,
                to: p.time,
                computed: None,
                reported: Some(p.amount),
                difference: None,
                status: "missing_bill".into(),
                detail: format!(
                    "{what} {} ({} {}, tx {}) is successful in {stream} but the funding ledger has no {what} bill ({code}) for it",
                    p.id,
                    plain(p.amount),
                    p.asset,
                    p.tx_hash.as_deref().unwrap_or("-")
                ),
            });
        }
        for b in bills_without_record.iter().filter(|b| b.what == what) {
            if !covers(history, b.time.timestamp_millis()) {
                outside += 1;
                continue;
            }
            failed += 1;
            out.push(CheckRow {
                check: what,
                account: "funding".into(),
                asset: b.asset.clone(),
                from: Some(b.time),
                to: Some(b.time),
                computed: Some(b.amount),
                reported: None,
                difference: None,
                status: "missing_record".into(),
                detail: format!(
                    "funding bill {} ({} {} at {}) has no {what} record in {stream} dated before it",
                    b.bill_id,
                    plain(b.amount),
                    b.asset,
                    rfc3339_ms(b.time)
                ),
            });
        }
        out.push(CheckRow::summary(
            if what == "deposit" { "deposits" } else { "withdrawals" },
            "funding",
            failed,
            "unmatched",
            format!(
                "{failed} successful {what}s or {what} bills lack their other side; {outside} fall outside the other side's stored history"
            ),
        ));
    }
    out
}
