//! Cross-ledger proof: every funding↔trading transfer has both sides.
//!
//! A transfer is booked twice: in the funding ledger as type 130 (from trading, +x) or 131
//! (to trading, −x), and in the trading ledger as type 1 subType 12 (out, −x) or 11 (in, +x),
//! same currency and amount, at the same millisecond on OKX. The two sides are paired by
//! (currency, amount, direction) and nearest time, each bill used once; a pair more than
//! [`TOLERANCE_MS`] apart is no pair (the simulator books the second side up to 0.4 s later).
//! A side without its partner is a failure only where the other ledger's stored history
//! covers that time; elsewhere the coverage check already names the missing range. A
//! missing side names the range of the other ledger it must be in: between that ledger's
//! neighbouring bills in the currency.

use super::CheckRow;
use crate::model::{Account, plain, rfc3339_ms};
use chrono::DateTime;
use rust_decimal::Decimal;
use std::collections::BTreeMap;

/// How far apart the two sides of one transfer may be booked.
pub const TOLERANCE_MS: i64 = 5_000;

/// The time ranges `[from, to)` (ms) each ledger's stored history covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerRanges {
    pub trading: Vec<(i64, i64)>,
    pub funding: Vec<(i64, i64)>,
}

impl LedgerRanges {
    /// Both ledgers complete at all times (unit tests, stores without coverage checks).
    pub fn all() -> LedgerRanges {
        LedgerRanges {
            trading: vec![(i64::MIN, i64::MAX)],
            funding: vec![(i64::MIN, i64::MAX)],
        }
    }

    fn covers(&self, account: Account, t: i64) -> bool {
        let r = match account {
            Account::Trading => &self.trading,
            _ => &self.funding,
        };
        r.iter().any(|&(a, b)| a <= t && t < b)
    }
}

#[derive(Debug, Clone)]
struct Side {
    bill_id: String,
    ts: i64,
    bal_chg: Decimal,
    used: bool,
}

/// (currency, amount, towards trading) → the sides found in (trading, funding).
type Sides = BTreeMap<(String, Decimal, bool), (Vec<Side>, Vec<Side>)>;

/// Collects transfer bills (and every bill's time, for the neighbours of a missing side)
/// while the ledgers are walked.
#[derive(Debug, Default)]
pub struct Transfers {
    sides: Sides,
    times: BTreeMap<(Account, String), Vec<i64>>,
}

impl Transfers {
    /// One bill of either ledger; `kind` is (type, subType).
    pub fn push(
        &mut self,
        account: Account,
        bill_id: &str,
        ccy: &str,
        ts: i64,
        bal_chg: Decimal,
        kind: (Option<&str>, Option<&str>),
    ) {
        self.times.entry((account, ccy.to_string())).or_default().push(ts);
        let transfer = match account {
            // The archive CSV has no `type` column: subType 11/12 alone says transfer.
            Account::Trading => {
                matches!(kind.0, None | Some("1" | "")) && matches!(kind.1, Some("11" | "12"))
            }
            _ => matches!(kind.0, Some("130" | "131")),
        };
        if !transfer || bal_chg.is_zero() {
            return;
        }
        let to_trading = match account {
            Account::Trading => bal_chg > Decimal::ZERO,
            _ => bal_chg < Decimal::ZERO,
        };
        let e = self
            .sides
            .entry((ccy.to_string(), bal_chg.abs().normalize(), to_trading))
            .or_default();
        let side = Side {
            bill_id: bill_id.to_string(),
            ts,
            bal_chg,
            used: false,
        };
        match account {
            Account::Trading => e.0.push(side),
            _ => e.1.push(side),
        }
    }

    /// The check rows: one per side without its partner inside the other ledger's
    /// coverage, then one summary row.
    pub fn check(self, ranges: &LedgerRanges) -> Vec<CheckRow> {
        let Transfers { mut sides, mut times } = self;
        for v in times.values_mut() {
            v.sort_unstable();
        }
        let mut rows = Vec::new();
        let (mut matched, mut outside) = (0u64, 0u64);
        for ((ccy, _, _), (trading, funding)) in sides.iter_mut() {
            trading.sort_by_key(|s| s.ts);
            funding.sort_by_key(|s| s.ts);
            for f in funding.iter_mut() {
                let start = trading.partition_point(|t| t.ts < f.ts - TOLERANCE_MS);
                let best = trading[start..]
                    .iter()
                    .enumerate()
                    .take_while(|(_, t)| t.ts <= f.ts + TOLERANCE_MS)
                    .filter(|(_, t)| !t.used)
                    .min_by_key(|(_, t)| (t.ts - f.ts).abs())
                    .map(|(i, _)| start + i);
                if let Some(i) = best {
                    trading[i].used = true;
                    f.used = true;
                    matched += 1;
                }
            }
            for (account, other, list) in [
                (Account::Trading, Account::Funding, &*trading),
                (Account::Funding, Account::Trading, &*funding),
            ] {
                for s in list.iter().filter(|s| !s.used) {
                    if !ranges.covers(other, s.ts) {
                        outside += 1;
                        continue;
                    }
                    rows.push(missing_side(&times, account, other, ccy, s));
                }
            }
        }
        let failed = rows.len();
        rows.push(CheckRow {
            check: "transfers",
            account: "funding↔trading".into(),
            asset: String::new(),
            from: None,
            to: None,
            computed: None,
            reported: None,
            difference: None,
            status: if failed == 0 { "ok" } else { "missing_side" }.into(),
            detail: format!(
                "{matched} transfers have both sides; {failed} miss a side the other ledger should hold; {outside} fall outside the other ledger's stored history"
            ),
        });
        rows
    }
}

fn missing_side(
    times: &BTreeMap<(Account, String), Vec<i64>>,
    account: Account,
    other: Account,
    ccy: &str,
    s: &Side,
) -> CheckRow {
    {
        let at = DateTime::from_timestamp_millis(s.ts);
        let times = times.get(&(other, ccy.to_string()));
        let before = times.and_then(|v| v[..v.partition_point(|&t| t <= s.ts)].last().copied());
        let after = times.and_then(|v| v.get(v.partition_point(|&t| t <= s.ts)).copied());
        let t = |v: Option<i64>| {
            v.and_then(DateTime::from_timestamp_millis)
                .map(rfc3339_ms)
                .unwrap_or_else(|| "-".into())
        };
        let expected = match (other, s.bal_chg > Decimal::ZERO) {
            (Account::Trading, true) => "type 1 subType 12",
            (Account::Trading, false) => "type 1 subType 11",
            (_, true) => "type 131",
            (_, false) => "type 130",
        };
        CheckRow {
            check: "transfer",
            account: account.as_str().to_string(),
            asset: ccy.to_string(),
            from: before.and_then(DateTime::from_timestamp_millis),
            to: after.and_then(DateTime::from_timestamp_millis),
            computed: Some(s.bal_chg),
            reported: None,
            difference: None,
            status: "missing_side".into(),
            detail: format!(
                "{account} bill {} ({} {ccy} at {}) has no {other} side ({expected}, {} {ccy}); the {other} ledger is missing history between {} and {}",
                s.bill_id,
                plain(s.bal_chg),
                t(Some(s.ts)),
                plain(-s.bal_chg),
                t(before),
                t(after),
            ),
        }
        .with_time(at)
    }
}

impl CheckRow {
    /// Keeps `from`/`to` as the other ledger's neighbours; falls back to the bill's time.
    fn with_time(mut self, at: Option<chrono::DateTime<chrono::Utc>>) -> CheckRow {
        if self.from.is_none() {
            self.from = at;
        }
        if self.to.is_none() {
            self.to = at;
        }
        self
    }
}
