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
//! The earn account has no ledger: its snapshot lines are `not_compared` ([`NO_LEDGER`]).
//! An account whose balance endpoint failed when the snapshot was taken (Simple Earn in a
//! region without it) has no reported balance: each of its assets, or the account as a whole
//! (asset empty) when none is known, is `not_compared` ([`ENDPOINT_UNAVAILABLE`]), never a
//! match and never a zero balance.
//! Memory is per (account, asset), never per bill.

mod chain;
pub mod closing;
mod cross;
mod csv;
mod funds;
mod rows;

pub use cross::{LedgerRanges, TOLERANCE_MS};
pub use funds::{FundsRanges, funds_checks};
pub use rows::rows_checks;

use crate::model::Account;
use crate::okx::wire::{self, BillLink, FundingBill};
use crate::store::{RecordKind, RecordSource, UnavailableBalance};
use chain::{Chain, Link};
use chrono::{DateTime, Utc};
use cross::Transfers;
use rust_decimal::Decimal;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// (ts, billId, ccy, balChg, bal, (type, subType)) of one ledger row, whichever ledger it
/// comes from.
type LedgerFields = (
    Option<DateTime<Utc>>,
    String,
    String,
    Decimal,
    Option<Decimal>,
    (Option<String>, Option<String>),
);

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
    /// Nothing to compare with, or nothing to compare (see [`ReconcileRow::reason`]): never
    /// a match, never a failure.
    NotCompared,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Mismatch => "mismatch",
            Status::Gap => "gap",
            Status::OpeningBalance => "opening_balance",
            Status::NotCompared => "not_compared",
        }
    }

    /// Whether this status makes the reconciliation fail.
    pub fn is_failure(self) -> bool {
        matches!(self, Status::Mismatch | Status::Gap)
    }

    /// Whether computed and reported balances were compared and agree.
    pub fn is_match(self) -> bool {
        matches!(self, Status::Ok | Status::OpeningBalance)
    }
}

/// Why a balance was not compared.
pub const NO_LEDGER: &str = "no ledger: OKX has no history endpoint for the earn account";
/// Why a balance was not compared.
pub const NO_SNAPSHOT: &str = "no balance snapshot stored: the balance endpoints failed or no sync finished";
/// Why a balance was not compared.
pub const ENDPOINT_UNAVAILABLE: &str = "endpoint unavailable: OKX did not answer this account's balance endpoint when the last snapshot was taken";

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
    /// `None` when no snapshot was ever taken or the account's balance endpoint was
    /// unavailable.
    pub reported: Option<Decimal>,
    /// computed − reported, also when the balance was not compared (earn: 0 − reported);
    /// `None` without a reported balance.
    pub difference: Option<Decimal>,
    /// Why the balance was not compared ([`Status::NotCompared`]).
    pub reason: Option<&'static str>,
    pub first_gap_from: Option<DateTime<Utc>>,
    pub first_gap_to: Option<DateTime<Utc>>,
    /// Time of the snapshot compared with (`None` without one).
    pub as_of: Option<DateTime<Utc>>,
    /// Balance before the first stored bill.
    pub opening_balance: Decimal,
    /// Time of the first stored bill (the `as_of` of the opening balance).
    pub first_bill_at: Option<DateTime<Utc>>,
    pub last_bill_at: Option<DateTime<Utc>>,
    /// The last bill's `bal` (= opening + Σ balChg when the chain is intact).
    pub balance_after_last_bill: Decimal,
    /// Σ balChg over the stored bills.
    pub ledger_change: Decimal,
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

/// The status of a `reconciliation.csv` row that names codes kept unclassified: a fact,
/// not a failed check (unclassified rows decide the exit code on their own).
pub const UNCLASSIFIED: &str = "unclassified";

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reconciliation {
    pub rows: Vec<ReconcileRow>,
    pub gaps: Vec<Gap>,
    /// Bills that could not be decoded (they are left out of the chains).
    pub decode_errors: u64,
    /// Cross-ledger checks that failed or summarize (transfers, deposits, withdrawals).
    pub cross: Vec<CheckRow>,
    /// The accounts whose balance endpoint failed when the latest snapshot was taken.
    pub unavailable: Vec<UnavailableBalance>,
}

impl Reconciliation {
    /// No mismatch, no gap, no failed cross-ledger check.
    pub fn ok(&self) -> bool {
        self.gaps.is_empty()
            && !self.rows.iter().any(|r| r.status.is_failure())
            && self.cross.iter().all(|c| !c.failed())
    }

    /// `reconciliation.csv`: one row per check.
    pub fn reconciliation_csv(&self) -> (Vec<&'static str>, Vec<Vec<String>>) {
        csv::reconciliation_csv(self)
    }

    /// `opening_balances.csv`.
    pub fn opening_balances_csv(&self) -> (Vec<&'static str>, Vec<Vec<String>>) {
        csv::opening_balances_csv(self)
    }
}

pub use csv::{CheckRow, OPENING_BALANCE_COLUMNS, RECONCILIATION_COLUMNS, check_rows};

/// Walks both ledgers and compares them with the latest balance snapshot.
pub fn reconcile(src: &dyn RecordSource, ranges: &LedgerRanges) -> anyhow::Result<Reconciliation> {
    reconcile_walking(src, ranges, &mut |_, _, _| Ok(()))
}

/// What [`reconcile_walking`] hands each bill to: its ledger, the stored record, and its
/// (asset, balance) when decoded.
pub type WalkFn<'a> =
    dyn FnMut(RecordKind, &crate::store::RecordRef<'_>, Option<(&str, Decimal)>) -> anyhow::Result<()> + 'a;

/// [`reconcile`], handing every bill of both ledgers to `also` as the walk in billId order
/// passes it, with its asset and balance when the chain decoded them (the report works out
/// its holdings in the same walk: [`closing::HoldingsWalk`]).
pub fn reconcile_walking(
    src: &dyn RecordSource,
    ranges: &LedgerRanges,
    also: &mut WalkFn<'_>,
) -> anyhow::Result<Reconciliation> {
    let mut transfers = Transfers::default();
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
    // Accounts the snapshot could not read: their balances are unknown, not zero.
    let unavailable = src.unavailable_balances()?;
    let mut unread: BTreeSet<Account> = BTreeSet::new();
    for u in &unavailable {
        let Some(account) = Account::parse(&u.account) else {
            tracing::warn!("unavailable balance for unknown account `{}`", u.account);
            continue;
        };
        snap_time = snap_time.max(Some(u.as_of));
        unread.insert(account);
    }

    let time = |ts: Option<DateTime<Utc>>, ms: i64| {
        ts.unwrap_or_else(|| DateTime::from_timestamp_millis(ms).unwrap_or_default())
    };
    // Both ledgers carry the same chain fields; only the wire type differs.
    let ledgers: [(RecordKind, Account, DecodeLedger); 2] = [
        (RecordKind::Bill, Account::Trading, |raw| {
            wire::decode_record::<BillLink>(raw).map(|b| {
                (
                    b.ts,
                    b.bill_id,
                    b.ccy,
                    b.bal_chg,
                    b.bal,
                    (b.bill_type, b.sub_type),
                )
            })
        }),
        (RecordKind::FundingBill, Account::Funding, |raw| {
            wire::decode_record::<FundingBill>(raw)
                .map(|b| (b.ts, b.bill_id, b.ccy, b.bal_chg, b.bal, (b.bill_type, None)))
        }),
    ];
    for (kind, account, decode) in ledgers {
        src.for_each_by_id(kind, &mut |rec| {
            let decoded = decode(rec.raw);
            let known = match &decoded {
                Ok((_, _, ccy, _, Some(bal), _)) => Some((ccy.as_str(), *bal)),
                _ => None,
            };
            also(kind, &rec, known)?;
            match decoded {
                Ok((ts, bill_id, ccy, bal_chg, bal, kind)) => {
                    let time = time(ts, rec.ts_ms);
                    transfers.push(
                        account,
                        &bill_id,
                        &ccy,
                        time.timestamp_millis(),
                        bal_chg,
                        (kind.0.as_deref(), kind.1.as_deref()),
                    );
                    let link = Link {
                        bill_id,
                        ccy,
                        time,
                        bal_chg,
                        bal,
                    };
                    // The chain's key is built only for an asset's first bill.
                    let key = (account, link.ccy);
                    let chain = match chains.get_mut(&key) {
                        Some(chain) => chain,
                        None => chains.entry(key.clone()).or_default(),
                    };
                    let link = Link { ccy: key.1, ..link };
                    chain.push(account, link, snap_time, &mut gaps);
                }
                Err(e) => {
                    tracing::warn!("{account} bill `{}` does not decode: {e}", rec.key);
                    decode_errors += 1;
                }
            }
            Ok(())
        })?;
    }
    for ((account, _), chain) in &mut chains {
        chain.finish(*account, snap_time, &mut gaps);
    }

    let mut keys: Vec<(Account, String)> = chains.keys().cloned().collect();
    keys.extend(snapshot.keys().filter(|k| !chains.contains_key(*k)).cloned());
    // An unread account without any known asset is one row for the whole account.
    for account in &unread {
        if !keys.iter().any(|k| k.0 == *account) {
            keys.push((*account, String::new()));
        }
    }
    keys.sort();

    let rows = keys
        .into_iter()
        .map(|key| {
            let chain = chains.remove(&key).unwrap_or_default();
            let (account, asset) = key;
            let snap = snapshot.get(&(account, asset.clone())).map(|s| s.1);
            let not_read = unread.contains(&account);
            let reported = snap_time.filter(|_| !not_read).map(|_| snap.unwrap_or_default());
            // Normally the snapshot is newer than every bill. If bills dated after it were
            // stored later, the snapshot is compared with the balance as of its time.
            let computed = match (reported, chain.at_snapshot) {
                (Some(r), Some(at)) if chain.bal != r && at == r => at,
                _ => chain.bal,
            };
            let difference = reported.map(|r| computed - r);
            let (status, reason) = if account == Account::Earn && not_read {
                (Status::NotCompared, Some(ENDPOINT_UNAVAILABLE))
            } else if account == Account::Earn {
                (Status::NotCompared, Some(NO_LEDGER))
            } else if chain.first_gap.is_some() {
                (Status::Gap, None)
            } else if not_read {
                (Status::NotCompared, Some(ENDPOINT_UNAVAILABLE))
            } else if reported.is_none() {
                (Status::NotCompared, Some(NO_SNAPSHOT))
            } else if difference.is_some_and(|d| !d.is_zero()) {
                (Status::Mismatch, None)
            } else if !chain.opening.is_zero() {
                (Status::OpeningBalance, None)
            } else {
                (Status::Ok, None)
            };
            ReconcileRow {
                account,
                asset,
                computed,
                reported,
                difference,
                reason,
                as_of: snap_time,
                first_gap_from: chain.first_gap.map(|g| g.0),
                first_gap_to: chain.first_gap.map(|g| g.1),
                opening_balance: chain.opening,
                first_bill_at: chain.first_at,
                last_bill_at: chain.last_at,
                balance_after_last_bill: chain.bal,
                ledger_change: chain.sum_chg,
                bills: chain.bills,
                status,
            }
        })
        .collect();
    Ok(Reconciliation {
        rows,
        gaps,
        decode_errors,
        cross: transfer_rows(src, transfers, ranges)?,
        unavailable,
    })
}

/// The transfer checks; when a side is missing, one more pass over the ledger it is
/// missing from finds the bills around it.
fn transfer_rows(
    src: &dyn RecordSource,
    t: Transfers,
    ranges: &LedgerRanges,
) -> anyhow::Result<Vec<CheckRow>> {
    let pairing = t.pair(ranges);
    let mut wanted = pairing.wanted();
    for (kind, account) in [
        (RecordKind::Bill, Account::Trading),
        (RecordKind::FundingBill, Account::Funding),
    ] {
        if !wanted.keys().any(|k| k.0 == account) {
            continue;
        }
        src.for_each(kind, &mut |rec| {
            if let (_, Some(ccy), _, _) = crate::normalize::salvage(&rec.raw) {
                cross::see_bill(&mut wanted, account, &ccy, rec.ts_ms);
            }
            Ok(())
        })?;
    }
    Ok(pairing.rows(&wanted))
}

#[cfg(test)]
mod tests;
