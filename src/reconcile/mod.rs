//! Balance reconciliation: are the stored ledgers complete, and do they end where OKX says
//! the balances are?
//!
//! Per account (trading from trading bills, funding from funding bills) and asset:
//! 1. The bills are walked in (ts, billId) order; each bill's `bal` must equal the previous
//!    bill's `bal` + this bill's `balChg`. A break means history is missing between the two
//!    bills' times: a [`Gap`].
//! 2. `computed` = the last bill's `bal` (opening + Σ balChg) is compared, exactly, with the
//!    latest balance snapshot. OKX omits zero balances, so an asset with bills but no
//!    snapshot line is reported as 0; an asset with a snapshot line but no bills is computed
//!    as 0. If bills dated after the snapshot were stored later (e.g. a sync without a new
//!    snapshot), the balance as of the snapshot time is compared instead when only it matches.
//! 3. The opening balance (first bill's `bal − balChg`) is not an error: the stored history
//!    simply starts after the account's first activity. It is reported (status
//!    `opening_balance`, and in `opening_balances.csv`) so tax tools can be given it.
//!
//! The earn account has no ledger: its snapshot lines are listed with status `no_history`.
//! Memory is per (account, asset), never per bill.

use crate::model::{Account, plain, rfc3339_ms};
use crate::okx::wire::{self, Bill, FundingBill};
use crate::store::{RecordKind, RecordSource};
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use std::collections::BTreeMap;
use std::fmt;

/// (ts, billId, ccy, balChg, bal) of one ledger row, whichever ledger it comes from.
type LedgerFields = (Option<DateTime<Utc>>, String, String, Decimal, Option<Decimal>);

/// Decodes one stored ledger row into its chain fields.
type DecodeLedger = fn(&str) -> Result<LedgerFields, String>;

/// The verdict for one (account, asset).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Status {
    /// Chain intact, opening balance 0, computed = reported.
    Ok,
    /// Chain intact but computed ≠ reported.
    Mismatch,
    /// The chain breaks: history is missing somewhere.
    Gap,
    /// Chain intact and computed = reported, but the history starts with a non-zero balance.
    OpeningBalance,
    /// No balance snapshot was ever taken; nothing to compare with.
    NoSnapshot,
    /// Snapshot only (earn account): there is no ledger to compute from.
    NoHistory,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Mismatch => "mismatch",
            Status::Gap => "gap",
            Status::OpeningBalance => "opening_balance",
            Status::NoSnapshot => "no_snapshot",
            Status::NoHistory => "no_history",
        }
    }

    /// Whether this status makes the reconciliation fail.
    pub fn is_failure(self) -> bool {
        matches!(self, Status::Mismatch | Status::Gap)
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReconcileRow {
    pub account: Account,
    pub asset: String,
    /// Balance according to the ledger: the last bill's `bal` (0 without bills); or, when
    /// bills dated after the snapshot exist and only the balance as of the snapshot time
    /// matches it, that balance.
    pub computed: Decimal,
    /// Balance according to the latest snapshot (0 when the snapshot omits the asset);
    /// `None` when no snapshot was ever taken.
    pub reported: Option<Decimal>,
    /// computed − reported (0 when there is nothing to compare with).
    pub difference: Decimal,
    pub first_gap_from: Option<DateTime<Utc>>,
    pub first_gap_to: Option<DateTime<Utc>>,
    /// Balance before the first stored bill.
    pub opening_balance: Decimal,
    /// Time of the first stored bill (the `as_of` of the opening balance).
    pub first_bill_at: Option<DateTime<Utc>>,
    pub last_bill_at: Option<DateTime<Utc>>,
    /// The last bill's `bal` (= opening + Σ balChg when the chain is intact).
    pub balance_after_last_bill: Decimal,
    pub bills: u64,
    pub status: Status,
}

/// A break in a balance chain: `from` is the time of the last bill before the break, `to`
/// the time of the first bill after it. `expected_bal` = previous `bal` + this `balChg`;
/// `found_bal` = this bill's `bal`. Their difference is the net of the missing bills.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gap {
    pub account: Account,
    pub asset: String,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub expected_bal: Decimal,
    pub found_bal: Decimal,
    /// The bill ids on either side of the break.
    pub before_bill: String,
    pub after_bill: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reconciliation {
    pub rows: Vec<ReconcileRow>,
    pub gaps: Vec<Gap>,
    /// Bills that could not be decoded (they are left out of the chains).
    pub decode_errors: u64,
}

impl Reconciliation {
    /// No mismatch and no gap.
    pub fn ok(&self) -> bool {
        self.gaps.is_empty() && !self.rows.iter().any(|r| r.status.is_failure())
    }

    /// `reconciliation.csv`.
    pub fn reconciliation_csv(&self) -> (Vec<&'static str>, Vec<Vec<String>>) {
        reconciliation_csv(self)
    }

    /// `opening_balances.csv`.
    pub fn opening_balances_csv(&self) -> (Vec<&'static str>, Vec<Vec<String>>) {
        opening_balances_csv(self)
    }
}

pub const RECONCILIATION_COLUMNS: &[&str] = &[
    "account",
    "asset",
    "computed",
    "reported",
    "difference",
    "first_gap_from",
    "first_gap_to",
    "status",
];

pub const OPENING_BALANCE_COLUMNS: &[&str] = &["account", "asset", "opening_balance", "as_of"];

/// The header and rows of `reconciliation.csv`, one row per (account, asset).
pub fn reconciliation_csv(r: &Reconciliation) -> (Vec<&'static str>, Vec<Vec<String>>) {
    let t = |t: Option<DateTime<Utc>>| t.map(rfc3339_ms).unwrap_or_default();
    let rows = r
        .rows
        .iter()
        .map(|row| {
            vec![
                row.account.as_str().to_string(),
                row.asset.clone(),
                plain(row.computed),
                row.reported.map(plain).unwrap_or_default(),
                plain(row.difference),
                t(row.first_gap_from),
                t(row.first_gap_to),
                row.status.as_str().to_string(),
            ]
        })
        .collect();
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

/// One (account, asset) chain being walked.
#[derive(Debug, Default)]
struct Chain {
    bills: u64,
    opening: Decimal,
    first_at: Option<DateTime<Utc>>,
    last_at: Option<DateTime<Utc>>,
    last_bill: String,
    /// The balance after the last bill (`bal`, or opening + Σ balChg where `bal` is absent).
    bal: Decimal,
    /// Whether `bal` is known to be the account's real balance (some bill carried `bal`).
    anchored: bool,
    first_gap: Option<(DateTime<Utc>, DateTime<Utc>)>,
    /// The balance just before the first bill dated after the snapshot, if any.
    at_snapshot: Option<Decimal>,
}

/// The fields of a bill the chain walk needs.
struct Link {
    bill_id: String,
    ccy: String,
    time: DateTime<Utc>,
    bal_chg: Decimal,
    bal: Option<Decimal>,
}

impl Chain {
    fn push(&mut self, account: Account, l: Link, snap_time: Option<DateTime<Utc>>, gaps: &mut Vec<Gap>) {
        if self.bills == 0 {
            self.first_at = Some(l.time);
            if let Some(bal) = l.bal {
                self.opening = bal - l.bal_chg;
                self.anchored = true;
            }
            self.bal = self.opening;
        }
        if self.at_snapshot.is_none() && snap_time.is_some_and(|s| l.time > s) {
            self.at_snapshot = Some(self.bal);
        }
        let expected = self.bal + l.bal_chg;
        match l.bal {
            Some(found) if self.anchored && found != expected => {
                let from = self.last_at.unwrap_or(l.time);
                self.first_gap.get_or_insert((from, l.time));
                gaps.push(Gap {
                    account,
                    asset: l.ccy,
                    from,
                    to: l.time,
                    expected_bal: expected,
                    found_bal: found,
                    before_bill: self.last_bill.clone(),
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
        self.last_at = Some(l.time);
        self.last_bill = l.bill_id;
    }
}

/// Walks both ledgers and compares them with the latest balance snapshot.
pub fn reconcile(src: &dyn RecordSource) -> anyhow::Result<Reconciliation> {
    let mut chains: BTreeMap<(Account, String), Chain> = BTreeMap::new();
    let mut gaps = Vec::new();
    let mut decode_errors = 0;

    // Latest snapshot per (account, asset); the newest line wins if one appears twice. OKX
    // omits zero balances, so once any snapshot was taken, a missing line means 0.
    let mut snapshot: BTreeMap<(Account, String), (DateTime<Utc>, Decimal)> = BTreeMap::new();
    let mut snap_time: Option<DateTime<Utc>> = None;
    for b in src.latest_balances()? {
        let Some(account) = Account::parse(&b.account) else {
            tracing::warn!("balance snapshot line for unknown account `{}`", b.account);
            continue;
        };
        snap_time = snap_time.max(Some(b.as_of));
        let e = snapshot.entry((account, b.ccy)).or_insert((b.as_of, b.total));
        if b.as_of >= e.0 {
            *e = (b.as_of, b.total);
        }
    }

    let time = |ts: Option<DateTime<Utc>>, ms: i64| {
        ts.unwrap_or_else(|| DateTime::from_timestamp_millis(ms).unwrap_or_default())
    };
    // Both ledgers carry the same chain fields; only the wire type differs.
    let ledgers: [(RecordKind, Account, DecodeLedger); 2] = [
        (RecordKind::Bill, Account::Trading, |raw| {
            wire::decode::<Bill>(raw).map(|b| (b.ts, b.bill_id, b.ccy, b.bal_chg, b.bal))
        }),
        (RecordKind::FundingBill, Account::Funding, |raw| {
            wire::decode::<FundingBill>(raw).map(|b| (b.ts, b.bill_id, b.ccy, b.bal_chg, b.bal))
        }),
    ];
    for (kind, account, decode) in ledgers {
        src.for_each(kind, &mut |rec| {
            match decode(&rec.raw) {
                Ok((ts, bill_id, ccy, bal_chg, bal)) => {
                    let link = Link {
                        time: time(ts, rec.ts_ms),
                        bill_id,
                        ccy,
                        bal_chg,
                        bal,
                    };
                    chains
                        .entry((account, link.ccy.clone()))
                        .or_default()
                        .push(account, link, snap_time, &mut gaps);
                }
                Err(e) => {
                    tracing::warn!("{account} bill `{}` does not decode: {e}", rec.key);
                    decode_errors += 1;
                }
            }
            Ok(())
        })?;
    }

    let mut keys: Vec<(Account, String)> = chains.keys().cloned().collect();
    keys.extend(snapshot.keys().filter(|k| !chains.contains_key(*k)).cloned());
    keys.sort();

    let rows = keys
        .into_iter()
        .map(|key| {
            let chain = chains.remove(&key).unwrap_or_default();
            let (account, asset) = key;
            let snap = snapshot.get(&(account, asset.clone())).map(|s| s.1);
            let reported = snap_time.map(|_| snap.unwrap_or_default());
            // Normally the snapshot is newer than every bill. If bills dated after it were
            // stored later, the snapshot is compared with the balance as of its time.
            let computed = match (reported, chain.at_snapshot) {
                (Some(r), Some(at)) if chain.bal != r && at == r => at,
                _ => chain.bal,
            };
            let difference = match reported {
                Some(r) if account != Account::Earn => computed - r,
                _ => Decimal::ZERO,
            };
            let status = if account == Account::Earn {
                Status::NoHistory
            } else if chain.first_gap.is_some() {
                Status::Gap
            } else if reported.is_none() {
                Status::NoSnapshot
            } else if !difference.is_zero() {
                Status::Mismatch
            } else if !chain.opening.is_zero() {
                Status::OpeningBalance
            } else {
                Status::Ok
            };
            ReconcileRow {
                account,
                asset,
                computed,
                reported,
                difference,
                first_gap_from: chain.first_gap.map(|g| g.0),
                first_gap_to: chain.first_gap.map(|g| g.1),
                opening_balance: chain.opening,
                first_bill_at: chain.first_at,
                last_bill_at: chain.last_at,
                balance_after_last_bill: chain.bal,
                bills: chain.bills,
                status,
            }
        })
        .collect();
    Ok(Reconciliation {
        rows,
        gaps,
        decode_errors,
    })
}

#[cfg(test)]
mod tests;
