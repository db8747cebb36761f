//! Cross-ledger proof: every funding↔trading transfer has both sides.
//!
//! A transfer is booked twice: in the funding ledger as type 130 (from trading, +x) or 131
//! (to trading, −x), and in the trading ledger as type 1 subType 12 (out, −x) or 11 (in, +x),
//! same currency and amount. The two sides are paired by (currency, amount, direction),
//! each bill used once: first the sides booked at the same millisecond, then, as a
//! fallback, the nearest remaining side up to [`TOLERANCE_MS`] apart. The summary row says
//! how many pairs needed the fallback and how far apart they were at most.
//!
//! Why keep a tolerance: nothing we have shows that OKX stamps both sides with the same
//! millisecond. No captured funding 130/131 bill exists (`../shared/okx-samples/` has only
//! the trading side), and that trading bill's own `ts` and `fillTime` are 162 ms apart, so
//! one transfer is not a single instant on OKX's side; the simulator books the second side
//! up to 0.4 s later. Same-ms first still matters: of two equal transfers a few seconds
//! apart, one missing a side, the lone side reported (and the range named) is the one
//! whose partner is really missing, not its neighbour.
//! A side without its partner is a failure only where the other ledger's stored history
//! covers that time; elsewhere the coverage check already names the missing range. A
//! missing side names the range of the other ledger it must be in: between that ledger's
//! neighbouring bills in the currency.

use super::CheckRow;
use crate::model::{Account, plain, rfc3339_ms};
use chrono::DateTime;
use rust_decimal::Decimal;
use std::collections::BTreeMap;

pub use crate::model::TOLERANCE_MS;

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

/// Collects transfer bills while the ledgers are walked.
#[derive(Debug, Default)]
pub struct Transfers {
    sides: Sides,
}

/// A side without its partner, where the other ledger is stored.
#[derive(Debug, Clone)]
struct Lone {
    account: Account,
    other: Account,
    ccy: String,
    side: Side,
}

/// The outcome of pairing, before the lone sides' neighbours are known.
#[derive(Debug, Default)]
pub struct Pairing {
    lone: Vec<Lone>,
    matched: u64,
    /// Pairs whose sides were booked at different milliseconds (the fallback).
    apart: u64,
    /// The largest distance of such a pair (ms).
    max_apart: i64,
    outside: u64,
}

/// For each (ledger, currency, time) wanted: the latest bill time ≤ it and the earliest
/// after it in that ledger and currency.
pub type Neighbours = BTreeMap<(Account, String, i64), (Option<i64>, Option<i64>)>;

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

    /// Pairs the sides; a lone side counts where the other ledger is stored.
    pub fn pair(self, ranges: &LedgerRanges) -> Pairing {
        let mut p = Pairing::default();
        for ((ccy, _, _), (mut trading, mut funding)) in self.sides {
            trading.sort_by_key(|s| s.ts);
            funding.sort_by_key(|s| s.ts);
            // Same millisecond first, then the nearest within the tolerance.
            for tolerance in [0, TOLERANCE_MS] {
                for f in funding.iter_mut().filter(|f| !f.used) {
                    let start = trading.partition_point(|t| t.ts < f.ts - tolerance);
                    let best = trading[start..]
                        .iter()
                        .enumerate()
                        .take_while(|(_, t)| t.ts <= f.ts + tolerance)
                        .filter(|(_, t)| !t.used)
                        .min_by_key(|(_, t)| (t.ts - f.ts).abs())
                        .map(|(i, _)| start + i);
                    if let Some(i) = best {
                        trading[i].used = true;
                        f.used = true;
                        p.matched += 1;
                        let apart = (trading[i].ts - f.ts).abs();
                        if apart > 0 {
                            p.apart += 1;
                            p.max_apart = p.max_apart.max(apart);
                        }
                    }
                }
            }
            for (account, other, list) in [
                (Account::Trading, Account::Funding, trading),
                (Account::Funding, Account::Trading, funding),
            ] {
                for side in list.into_iter().filter(|s| !s.used) {
                    if ranges.covers(other, side.ts) {
                        p.lone.push(Lone {
                            account,
                            other,
                            ccy: ccy.clone(),
                            side,
                        });
                    } else {
                        p.outside += 1;
                    }
                }
            }
        }
        p
    }
}

impl Pairing {
    /// The (other ledger, currency, time) whose neighbouring bills name the missing range.
    pub fn wanted(&self) -> Neighbours {
        self.lone
            .iter()
            .map(|l| ((l.other, l.ccy.clone(), l.side.ts), (None, None)))
            .collect()
    }

    /// The check rows: one per lone side, then one summary row.
    pub fn rows(self, neighbours: &Neighbours) -> Vec<CheckRow> {
        let mut rows: Vec<CheckRow> = self
            .lone
            .iter()
            .map(|l| {
                let n = neighbours
                    .get(&(l.other, l.ccy.clone(), l.side.ts))
                    .copied()
                    .unwrap_or_default();
                missing_side(n, l)
            })
            .collect();
        let failed = rows.len();
        rows.push(CheckRow::summary(
            "transfers",
            "funding↔trading",
            failed,
            "missing_side",
            format!(
                "{} transfers have both sides ({} booked at the same ms, {} up to {} ms apart); {failed} miss a side the other ledger should hold; {} fall outside the other ledger's stored history",
                self.matched,
                self.matched - self.apart,
                self.apart,
                self.max_apart,
                self.outside
            ),
        ));
        rows
    }
}

/// Records one bill of `account` in the neighbours wanted.
pub fn see_bill(wanted: &mut Neighbours, account: Account, ccy: &str, ts: i64) {
    let lo = (account, ccy.to_string(), i64::MIN);
    let hi = (account, ccy.to_string(), i64::MAX);
    for ((_, _, t), (before, after)) in wanted.range_mut(lo..=hi) {
        if ts <= *t {
            *before = (*before).max(Some(ts));
        } else {
            *after = Some(after.map_or(ts, |a| a.min(ts)));
        }
    }
}

fn missing_side((before, after): (Option<i64>, Option<i64>), l: &Lone) -> CheckRow {
    let (account, other, ccy, s) = (l.account, l.other, l.ccy.as_str(), &l.side);
    let at = DateTime::from_timestamp_millis(s.ts);
    let t = |v: Option<i64>| {
        v.and_then(DateTime::from_timestamp_millis)
            .map_or_else(|| "-".into(), rfc3339_ms)
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
        from: before.and_then(DateTime::from_timestamp_millis).or(at),
        to: after.and_then(DateTime::from_timestamp_millis).or(at),
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
}
