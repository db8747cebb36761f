//! Moves between a master and its sub-accounts: funding bills `20`/`21` on the master (to /
//! from a sub-account), `22`/`23` on the sub-account (out to / in from the master) and `361`
//! (from a closed sub-account), okx-api.md §12.1.3.
//!
//! Whether such a move is internal depends on the report, not on the bill:
//! - both accounts are in the report ([`AccountScope::members`]): a `transfer`, left out of
//!   every tax file like a funding↔trading transfer (the other side is in the same files);
//! - the other account is not (a sub-account without a profile, any one-profile report):
//!   a `withdrawal` (money leaving) or `deposit` (arriving), which every tool books as a
//!   move to or from the user's own other wallet, so each tool's balance of this account
//!   stays right. The row names the other account ([`Transaction::counterparty`], the note).
//!
//! The master's bill does not name the sub-account; its `asset/subaccount/bills` record does
//! ([`RecordKind::SubTransfer`]). They are matched on currency, amount and direction: the
//! record with the same `billId` first (OKX may give both the same id: unverified), then the
//! one at the same millisecond, then the nearest within [`TOLERANCE_MS`]. Notes are never
//! read for the name (whether OKX puts it there is unverified too). A master bill no
//! record matches (OKX keeps that history from 2022-09-28) meets the bill of a sub-account
//! in the report at the same millisecond (else the nearest within [`TOLERANCE_MS`],
//! [`AccountScope::member_sub_bills`]), so a group never books one side alone; else it
//! goes to "a sub-account OKX does not name": external. A sub-account's bill's other side is always its
//! master (`mainUid`).
//!
//! A deposit or withdrawal between two accounts of a group (an internal withdrawal, type 3,
//! whose deposit names it in `fromWdId`; or an on-chain one, the same `txId` on both sides)
//! is internal the same way: the report pairs the records before normalizing
//! ([`AccountScope::internal_moves`]) and both rows become `transfer`s; a fee paid on the
//! way stays a `fee` row (`:fee`), since it left the user's accounts.

use super::{Row, join_note};
use crate::model::TOLERANCE_MS;
use crate::model::{Kind, Transaction};
use crate::okx::wire::{self, FundingBill, SubAccountBill};
use crate::store::{RecordKind, RecordSource};
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use std::collections::{BTreeMap, BTreeSet};

/// A sub-account's transfer bill (22/23) as a master's scope knows it: (ms, currency, the
/// sub-account's signed amount, its name, its uid).
pub type SubBill = (i64, String, Decimal, String, String);

/// Which accounts a report covers, for the moves between a master and its sub-accounts.
/// The default knows no account: every such move is external.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccountScope {
    /// This store's account and its master (from `account/config`), when recorded.
    pub uid: Option<String>,
    pub main_uid: Option<String>,
    /// A master's sub-accounts: name → uid.
    pub subs: BTreeMap<String, String>,
    /// The uids of every account in the report (this one included).
    pub members: BTreeSet<String>,
    /// This account's deposits and withdrawals whose other side is another account of the
    /// report: `dep:<depId>` / `wd:<wdId>` → that account, e.g. `profile bot`.
    pub internal_moves: BTreeMap<String, String>,
    /// A master's: the transfer bills (22/23) of its sub-accounts in the report, to name a
    /// master bill no `asset/subaccount/bills` record names (OKX keeps those from
    /// 2022-09-28): (ms, currency, the sub-account's signed amount, its name, its uid).
    pub member_sub_bills: Vec<SubBill>,
}

/// One side of a master↔sub transfer (a bill of this store), for the checks across
/// accounts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransferSide {
    pub bill_id: String,
    pub time: DateTime<Utc>,
    pub asset: String,
    /// This account's signed `balChg`.
    pub amount: Decimal,
    /// The other account's uid, when known.
    pub counterparty_uid: Option<String>,
    /// The sub-account's name, for a master's side matched to its record.
    pub sub_name: Option<String>,
    /// `sub-account bot`, `master account`, …
    pub counterparty: String,
    /// Both accounts are in the report: the row is a `transfer`.
    pub internal: bool,
}

/// Whether a funding bill type is a move between a master and a sub-account.
pub fn is_sub_transfer(code: Option<&str>) -> bool {
    matches!(code, Some("20" | "21" | "22" | "23" | "361"))
}

/// The master's transfer records and the sides booked so far.
#[derive(Debug, Default)]
pub(crate) struct SubTransfers {
    scope: AccountScope,
    /// Each record with its time, and whether a bill took it.
    records: Vec<(SubAccountBill, i64, bool)>,
    pub sides: Vec<TransferSide>,
    pub decode_errors: u64,
}

impl SubTransfers {
    pub fn load(src: &dyn RecordSource, scope: &AccountScope) -> anyhow::Result<SubTransfers> {
        let mut out = SubTransfers {
            scope: scope.clone(),
            ..SubTransfers::default()
        };
        src.for_each(RecordKind::SubTransfer, &mut |rec| {
            match wire::decode::<SubAccountBill>(&rec.raw) {
                Ok(b) => out.records.push((b, rec.ts_ms, false)),
                Err(e) => {
                    tracing::warn!("sub-account transfer `{}` does not decode: {e}", rec.key);
                    out.decode_errors += 1;
                }
            }
            Ok(())
        })?;
        Ok(out)
    }

    /// The record of a master's bill (see the module docs), marked used.
    fn take_record(&mut self, bill: &FundingBill, ms: i64) -> Option<String> {
        let to_sub = bill.bal_chg < Decimal::ZERO;
        let fits = |(r, _, used): &(SubAccountBill, i64, bool)| {
            !used
                && r.ccy == bill.ccy
                && r.amt == bill.bal_chg.abs()
                && r.bill_type.as_deref() == Some(if to_sub { "0" } else { "1" })
        };
        let pick = self
            .records
            .iter()
            .position(|r| fits(r) && r.0.bill_id == bill.bill_id)
            .or_else(|| self.records.iter().position(|r| fits(r) && r.1 == ms))
            .or_else(|| {
                self.records
                    .iter()
                    .enumerate()
                    .filter(|(_, r)| fits(r) && (r.1 - ms).abs() <= TOLERANCE_MS)
                    .min_by_key(|(_, r)| (r.1 - ms).abs())
                    .map(|(i, _)| i)
            })?;
        self.records[pick].2 = true;
        Some(self.records[pick].0.sub_acct.clone())
    }

    /// Makes a deposit or withdrawal row (`key`: `dep:<depId>` / `wd:<wdId>`) a `transfer`
    /// when its other side is another account of the report; returns the row of a fee it
    /// carried (`<id>:fee`), which stays a cost.
    pub fn member_move(&self, key: &str, tx: &mut Transaction) -> Option<Row> {
        let other = self.scope.internal_moves.get(key)?;
        let out = tx.sent.is_some();
        let dir = if out { "to" } else { "from" };
        tx.kind = Kind::Transfer;
        tx.note = join_note([
            Some(format!(
                "{} {dir} {other}, which is in this report: internal, left out of the tax files",
                if out { "withdrawal" } else { "deposit" }
            )),
            tx.note.take(),
        ]);
        tx.counterparty = Some(format!("{dir} {other}"));
        let fee = tx.fee.take()?;
        let mut f = Transaction::new(
            format!("{}:fee", tx.id),
            tx.time,
            tx.account,
            Kind::Fee,
            tx.source.clone(),
            tx.source_id.clone(),
        );
        f.note = Some(format!("fee of the withdrawal {dir} {other}"));
        f.sent = Some(fee);
        Some(Row::new(f))
    }

    /// The report's sub-account bill that is the other side of a master's bill no record
    /// names (the same ms first, else the nearest within [`TOLERANCE_MS`]): its name and
    /// uid, taken (each bill names one master bill).
    fn take_member_bill(&mut self, bill: &FundingBill, ms: i64) -> Option<(String, String)> {
        let fits = |(t, ccy, amt, _, _): &SubBill| {
            *ccy == bill.ccy && *amt == -bill.bal_chg && (t - ms).abs() <= TOLERANCE_MS
        };
        let i = self
            .scope
            .member_sub_bills
            .iter()
            .enumerate()
            .filter(|(_, b)| fits(b))
            .min_by_key(|(_, b)| (b.0 - ms).abs())
            .map(|(i, _)| i)?;
        let (_, _, _, name, uid) = self.scope.member_sub_bills.remove(i);
        Some((name, uid))
    }

    /// The row of a transfer bill: `tx` is the bill's base row (kind `transfer`, gross set).
    pub fn row(&mut self, bill: &FundingBill, time: DateTime<Utc>, mut tx: Transaction) -> Row {
        let out = bill.bal_chg < Decimal::ZERO;
        let code = bill.bill_type.as_deref();
        let ms = time.timestamp_millis();
        let (name, uid, who) = match code {
            Some("20" | "21") => match self.take_record(bill, ms) {
                Some(name) => {
                    let uid = self.scope.subs.get(&name).cloned();
                    let who = format!("sub-account `{name}`");
                    (Some(name), uid, who)
                }
                None => match self.take_member_bill(bill, ms) {
                    Some((name, uid)) => {
                        let who = format!("sub-account `{name}`");
                        (Some(name), Some(uid), who)
                    }
                    None => (None, None, "a sub-account OKX does not name".to_string()),
                },
            },
            Some("361") => (None, None, "a closed sub-account".to_string()),
            _ => (
                None,
                self.scope.main_uid.clone(),
                "the master account".to_string(),
            ),
        };
        let internal = uid.as_ref().is_some_and(|u| self.scope.members.contains(u));
        let dir = if out { "to" } else { "from" };
        let uid_text = uid.as_deref().map(|u| format!(" (uid {u})")).unwrap_or_default();
        let ours = if internal {
            tx.kind = Kind::Transfer;
            format!(
                "transfer {dir} {who}{uid_text}, which is in this report: internal, left out of the tax files"
            )
        } else {
            if !bill.bal_chg.is_zero() {
                tx.kind = if out { Kind::Withdrawal } else { Kind::Deposit };
            }
            format!(
                "transfer {dir} {who}{uid_text}, your own account that is not in this report: a {} your own other wallet",
                if out { "withdrawal to" } else { "deposit from" }
            )
        };
        tx.note = join_note([Some(ours), tx.note.take()]);
        let plain_who = who.replace('`', "");
        tx.counterparty = Some(format!("{dir} {plain_who}"));
        self.sides.push(TransferSide {
            bill_id: bill.bill_id.clone(),
            time,
            asset: bill.ccy.clone(),
            amount: bill.bal_chg,
            counterparty_uid: uid,
            sub_name: name,
            counterparty: plain_who,
            internal,
        });
        Row::new(tx)
    }
}
