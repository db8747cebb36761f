//! Running-balance continuity of one (account, asset) ledger.
//!
//! OKX's running `bal` is consistent in billId order, not always in time order (one bill can
//! carry a smaller billId but a later `ts` than another). The bills arrive in billId order
//! (time where ids cannot decide), and the chain still tolerates any local reordering: a bill
//! whose `bal` does not follow from the previous one is held back (at most [`LOOKAHEAD`]
//! per chain) while a held bill that does follow is taken first. Only when no held bill
//! follows and the window is full (or the ledger ends) is the first held bill called a
//! [`Gap`]: no consistent order of the stored bills exists around it. Memory is per
//! (account, asset) plus the window, never per bill.

use super::Gap;
use crate::model::Account;
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

/// Out-of-order bills held per chain while looking for a consistent order.
pub const LOOKAHEAD: usize = 64;

/// The fields of a bill the chain walk needs.
#[derive(Debug, Clone)]
pub struct Link {
    pub bill_id: String,
    pub ccy: String,
    pub time: DateTime<Utc>,
    pub bal_chg: Decimal,
    pub bal: Option<Decimal>,
}

/// One (account, asset) chain being walked.
#[derive(Debug, Default)]
pub struct Chain {
    pub bills: u64,
    pub opening: Decimal,
    /// Earliest and latest bill time.
    pub first_at: Option<DateTime<Utc>>,
    pub last_at: Option<DateTime<Utc>>,
    /// Time and id of the bill taken last (the chain's order, not time order).
    prev_at: Option<DateTime<Utc>>,
    prev_bill: String,
    /// The balance after the last bill taken (`bal`, or opening + Σ balChg where `bal` is
    /// absent).
    pub bal: Decimal,
    /// Σ balChg over the bills taken.
    pub sum_chg: Decimal,
    /// Whether `bal` is known to be the account's real balance (some bill carried `bal`).
    anchored: bool,
    pub first_gap: Option<(DateTime<Utc>, DateTime<Utc>)>,
    /// The balance just before the first bill dated after the snapshot, if any.
    pub at_snapshot: Option<Decimal>,
    /// Bills that did not follow yet, in arrival order.
    held: Vec<Link>,
}

impl Chain {
    /// Adds the next bill in billId order.
    pub fn push(&mut self, account: Account, l: Link, snap: Option<DateTime<Utc>>, gaps: &mut Vec<Gap>) {
        self.held.push(l);
        self.settle(account, snap, gaps, false);
    }

    /// Takes the held bills at the end of the ledger.
    pub fn finish(&mut self, account: Account, snap: Option<DateTime<Utc>>, gaps: &mut Vec<Gap>) {
        self.settle(account, snap, gaps, true);
    }

    fn follows(&self, l: &Link) -> bool {
        match l.bal {
            Some(found) if self.bills > 0 && self.anchored => found == self.bal + l.bal_chg,
            _ => true,
        }
    }

    fn settle(&mut self, account: Account, snap: Option<DateTime<Utc>>, gaps: &mut Vec<Gap>, end: bool) {
        loop {
            if let Some(i) = self.held.iter().position(|l| self.follows(l)) {
                let l = self.held.remove(i);
                self.take(account, l, snap, gaps);
            } else if self.held.len() > LOOKAHEAD || (end && !self.held.is_empty()) {
                let l = self.held.remove(0);
                self.take(account, l, snap, gaps);
            } else {
                break;
            }
        }
    }

    fn take(&mut self, account: Account, l: Link, snap: Option<DateTime<Utc>>, gaps: &mut Vec<Gap>) {
        if self.bills == 0 {
            if let Some(bal) = l.bal {
                self.opening = bal - l.bal_chg;
                self.anchored = true;
            }
            self.bal = self.opening;
        }
        if self.at_snapshot.is_none() && snap.is_some_and(|s| l.time > s) {
            self.at_snapshot = Some(self.bal);
        }
        let expected = self.bal + l.bal_chg;
        match l.bal {
            Some(found) if self.anchored && found != expected => {
                let from = self.prev_at.unwrap_or(l.time);
                self.first_gap.get_or_insert((from, l.time));
                gaps.push(Gap {
                    account,
                    asset: l.ccy,
                    from,
                    to: l.time,
                    expected_bal: expected,
                    found_bal: found,
                    before_bill: self.prev_bill.clone(),
                    after_bill: l.bill_id.clone(),
                });
                self.bal = found;
            }
            Some(found) => {
                if !self.anchored {
                    // The first `bal` seen fixes the opening balance of a chain whose first
                    // bills carried none.
                    self.opening += found - expected;
                    self.anchored = true;
                }
                self.bal = found;
            }
            None => self.bal = expected,
        }
        self.bills += 1;
        self.sum_chg += l.bal_chg;
        self.first_at = self.first_at.min(Some(l.time)).or(Some(l.time));
        self.last_at = self.last_at.max(Some(l.time));
        self.prev_at = Some(l.time);
        self.prev_bill = l.bill_id;
    }
}
