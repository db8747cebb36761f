//! Ledger-first normalization: stored OKX records → [`Transaction`] rows.
//!
//! The two account ledgers are the source of every balance change: trading-account bills
//! ([`RecordKind::Bill`]) and funding-account bills ([`RecordKind::FundingBill`]). Each bill
//! is represented exactly once. Fills, deposits, withdrawals and converts only enrich rows
//! (price, side, order and trade id, tx hash, address, chain, fee split).
//!
//! Per bill, with OKX's signed `fee` (negative = charged, positive = rebate):
//! `gross = balChg − fee`; gross > 0 is `received`, < 0 is `sent`; a charged fee is the
//! row's fee (asset = bill ccy), a rebate is its own `rebate` row (`:rebate`). So for every
//! (account, asset): Σ received − Σ sent − Σ fee = Σ balChg, exactly.
//!
//! Ids: `tb-<billId>` (trading) / `fb-<billId>` (funding), with suffixes `:fee`, `:rebate`,
//! `:pnl` and `:residual` for the extra rows of one bill. A paired trade takes the id of its
//! received leg and lists both bill ids in `source_id`. Derivative position bills have no
//! bare-id row: they split into `:pnl`, `:fee`/`:rebate` and `:residual` rows, none of which
//! is "the" bill. A bill that changes no balance still gets one (empty) bare-id row.
//!
//! Funding bills of a crypto↔fiat convert (272/273) pair into one `trade` row the same way
//! ([`fiat_convert`]). Dual Investment collections settled in another currency are booked by
//! their order as a trade ([`dual`]).
//!
//! Streaming: memory stays flat in the number of bills. Both ledgers are read at the same
//! time through two cursors ([`RecordSource::with_cursors`]): trading bills are paired with a
//! small bounded buffer and re-ordered with a small heap, and their rows are merged with the
//! funding rows by (time, id), so `sink` sees rows in time order. Only deposits,
//! withdrawals and converts (few) are held in memory.
//!
//! Classification tables live in [`codes`]. Rules where OKX's docs are silent:
//! - Derivative residual `balChg − pnl − fee`: `transfer` when the bill moved isolated
//!   margin (`posBalChg` ≠ 0: margin goes between the account balance and the position, it
//!   is not income); `trade` for OPTION bills (the premium paid or received); otherwise
//!   `realized_pnl` (or `funding_fee` for funding-fee bills).
//! - Standalone `fee` rows carry the amount in `sent` (as tax tools expect a cost row).
//! - Withdrawal bills are matched against records dated no later than the bill first (a
//!   record dated up to [`funding::SLACK_MS`] later only as a fallback), then successful
//!   records before pending, before failed/canceled ones. A bill matching a failed/canceled
//!   record is a `transfer` (a hold that a type-13 "canceled withdrawal" bill, also
//!   `transfer`, returns: the pair nets to zero). So a withdrawal retried after a cancel
//!   (debit, refund, debit) is booked on the second debit with the successful record's hash.
//! - Deposits in states 11/12/13 (blacklisted, frozen, intercepted) are listed as
//!   failed_or_canceled; other non-final deposit states as pending.
//! - `unmatched_enrichment` counts deposit/withdrawal bills without a history record and
//!   trade rows with no price from fills, bills or converts.

pub mod accounts;
pub mod codes;
mod dual;
mod fiat_convert;
mod funding;

pub use accounts::{AccountScope, SubBill, TransferSide};
pub use funding::{UnmatchedBill, is_withdrawal_fee};
mod trading;

#[cfg(test)]
mod tests;

use crate::model::{Account, Amount, Kind, Transaction};
use crate::okx::wire::{self, Convert, Deposit, Withdrawal};
use crate::store::{RecordCursor, RecordKind, RecordSource};
use anyhow::Context;
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use std::collections::{BTreeMap, HashMap};

/// Which rows to emit.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NormalizeOptions {
    /// Rows before this time are not emitted (but still processed, e.g. for pairing).
    pub from: Option<DateTime<Utc>>,
    /// Rows at or after this time are not emitted.
    pub to: Option<DateTime<Utc>>,
    /// OKX's names of trading codes, to name unclassified ones (see [`codes::BillNames`]).
    pub names: Option<std::sync::Arc<codes::BillNames>>,
    /// The accounts of the report: a move between a master and its sub-account is
    /// internal only when both are in it ([`accounts`]).
    pub accounts: AccountScope,
}

/// A deposit or withdrawal that is not booked from its history record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingItem {
    /// `deposit` or `withdrawal`.
    pub what: &'static str,
    /// depId or wdId.
    pub id: String,
    pub time: Option<DateTime<Utc>>,
    pub asset: String,
    pub amount: Decimal,
    /// OKX `state` code as sent (`""` when absent).
    pub state: String,
    /// Human-readable state, e.g. `waiting for confirmation`.
    pub state_text: String,
    pub tx_hash: Option<String>,
    pub chain: Option<String>,
}

/// What a normalization run did. Row counts cover emitted rows (inside the time window).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NormalizeSummary {
    pub rows_by_kind: BTreeMap<Kind, u64>,
    pub unclassified: u64,
    /// e.g. `trading type 999/9999`, `funding type 999`, `trading decode error`.
    pub unclassified_codes: BTreeMap<String, u64>,
    /// OKX's own name of an unclassified code, where its dictionary has one (key as in
    /// `unclassified_codes`).
    pub unclassified_names: BTreeMap<String, String>,
    /// Deposits whose history state is not final (listed, never booked from history).
    pub pending_deposits: Vec<PendingItem>,
    /// Withdrawals whose history state is not final (listed, never booked from history).
    pub pending_withdrawals: Vec<PendingItem>,
    /// Failed or canceled withdrawals; blocked deposits.
    pub failed_or_canceled: Vec<PendingItem>,
    /// Successful deposits/withdrawals in history that matched no funding bill (the bill may
    /// lie outside the stored ledger history).
    pub final_without_bill: Vec<PendingItem>,
    pub unmatched_enrichment: u64,
    /// Every deposit/withdrawal bill (of the whole store, not only the period) that matched
    /// no history record.
    pub bills_without_record: Vec<UnmatchedBill>,
    /// Σ received − sent − fee per (account, asset) over every row of the store (not only
    /// the period): what the ledger's Σ balChg must equal.
    pub row_sums: BTreeMap<Account, BTreeMap<String, Decimal>>,
    /// Stored records that failed to decode (bills become `unclassified` rows).
    pub decode_errors: u64,
    /// Every master↔sub transfer bill of the store (not only the period's), as booked.
    pub sub_transfers: Vec<TransferSide>,
    /// Each of them, by kind and key: a data problem the report names with its fix.
    pub unreadable: Vec<Unreadable>,
}

/// A stored record that does not decode as its kind (e.g. a money value no decimal holds,
/// stored before the sync refused such values): the report cannot book it as OKX meant.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Unreadable {
    pub kind: RecordKind,
    pub key: String,
    /// Record time in Unix ms (0 when unknown).
    pub ts_ms: i64,
    pub error: String,
}

impl Unreadable {
    pub(crate) fn of(kind: RecordKind, key: &str, ts_ms: i64, error: impl std::fmt::Display) -> Unreadable {
        Unreadable {
            kind,
            key: key.to_string(),
            ts_ms,
            error: error.to_string(),
        }
    }
}

/// Normalizes every stored bill into rows, calling `sink` in time order (ties by id).
pub fn normalize(
    src: &dyn RecordSource,
    opts: &NormalizeOptions,
    sink: &mut dyn FnMut(Transaction) -> anyhow::Result<()>,
) -> anyhow::Result<NormalizeSummary> {
    let mut summary = NormalizeSummary::default();
    let mut history = History::load(src, &mut summary)?;
    history.accounts = accounts::SubTransfers::load(src, &opts.accounts)?;
    let converts = std::mem::take(&mut history.converts);
    let mut fp = fiat_convert::FundingRows::new(funding::Funding::new(&mut history), &converts);
    let mut out = Output {
        opts,
        summary: &mut summary,
        sink,
    };
    let mut trading_errors = Vec::new();
    // Both ledgers are read at once and merged by (time, id); neither is buffered.
    src.with_cursors(
        &[RecordKind::Bill, RecordKind::FundingBill],
        &mut |cursors, links| {
            let [bills, funding] = cursors else {
                anyhow::bail!("expected two cursors, got {}", cursors.len());
            };
            let mut tp = trading::Trading::new(links, &converts, opts.names.as_deref());
            let merged = merge(&mut tp, &mut **bills, &mut fp, &mut **funding, &mut out);
            trading_errors = std::mem::take(&mut tp.unreadable);
            merged
        },
    )?;
    let lone_bills = std::mem::take(&mut fp.fp.unmatched);
    let mut unreadable = trading_errors;
    unreadable.append(&mut fp.fp.unreadable);
    drop(fp);
    unreadable.append(&mut history.unreadable);
    // A fill looked up for two legs is counted once.
    unreadable.sort();
    unreadable.dedup();
    summary.sub_transfers = std::mem::take(&mut history.accounts.sides);
    summary.decode_errors += unreadable.len() as u64 + history.accounts.decode_errors;
    summary.unreadable.append(&mut unreadable);
    summary.bills_without_record = lone_bills;
    summary.final_without_bill.extend(history.unbooked());
    Ok(summary)
}

/// Emits the rows of both ledgers in (time, id) order; on a tie the funding row goes first.
fn merge(
    tp: &mut trading::Trading,
    bills: &mut dyn RecordCursor,
    fp: &mut fiat_convert::FundingRows,
    funding: &mut dyn RecordCursor,
    out: &mut Output,
) -> anyhow::Result<()> {
    let (mut t_next, mut f_next): (Option<Row>, Option<Row>) = (None, None);
    loop {
        if t_next.is_none() {
            t_next = tp.next_row(bills).context("reading trading bills")?;
        }
        if f_next.is_none() {
            f_next = fp.next_row(funding).context("reading funding bills")?;
        }
        let row = match (&t_next, &f_next) {
            (Some(t), Some(f)) if SortKey::of(&t.tx) < SortKey::of(&f.tx) => t_next.take(),
            (_, Some(_)) => f_next.take(),
            (Some(_), None) => t_next.take(),
            (None, None) => return Ok(()),
        };
        out.emit(row.expect("matched Some"))?;
    }
}

/// One row plus what the summary needs to know about it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Row {
    pub tx: Transaction,
    /// For `unclassified` rows: the `unclassified_codes` key.
    pub code: Option<String>,
    /// For `unclassified` rows: OKX's name of the code, when its dictionary has one.
    pub name: Option<String>,
    /// The row expected enrichment that was not found.
    pub unmatched: bool,
}

impl Row {
    fn new(tx: Transaction) -> Row {
        Row {
            tx,
            code: None,
            name: None,
            unmatched: false,
        }
    }
}

/// Total order of rows: time, then id with its number compared numerically
/// (`tb-9` < `tb-10`, `tb-10` < `tb-10:fee`). Borrows the id: building one allocates nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct SortKey<'a> {
    pub ms: i64,
    prefix: &'a str,
    num_len: usize,
    num: &'a str,
    rest: &'a str,
}

impl SortKey<'_> {
    pub(crate) fn of(tx: &Transaction) -> SortKey<'_> {
        let id = tx.id.as_str();
        let start = id.find('-').map_or(0, |i| i + 1);
        let end = id[start..]
            .find(|c: char| !c.is_ascii_digit())
            .map_or(id.len(), |i| start + i);
        SortKey {
            ms: tx.time.timestamp_millis(),
            prefix: &id[..start],
            num_len: end - start,
            num: &id[start..end],
            rest: &id[end..],
        }
    }
}

/// The filter and counters in front of the caller's sink.
struct Output<'a> {
    opts: &'a NormalizeOptions,
    summary: &'a mut NormalizeSummary,
    sink: &'a mut dyn FnMut(Transaction) -> anyhow::Result<()>,
}

impl Output<'_> {
    fn emit(&mut self, row: Row) -> anyhow::Result<()> {
        let sums = self.summary.row_sums.entry(row.tx.account).or_default();
        for (a, sign) in [
            (&row.tx.received, Decimal::ONE),
            (&row.tx.sent, -Decimal::ONE),
            (&row.tx.fee, -Decimal::ONE),
        ] {
            if let Some(a) = a {
                // Look up by &str: no allocation per row once the asset is known.
                match sums.get_mut(a.asset.as_str()) {
                    Some(v) => *v += sign * a.amount,
                    None => {
                        sums.insert(a.asset.clone(), sign * a.amount);
                    }
                }
            }
        }
        let t = row.tx.time;
        if self.opts.from.is_some_and(|f| t < f) || self.opts.to.is_some_and(|to| t >= to) {
            return Ok(());
        }
        let s = &mut *self.summary;
        *s.rows_by_kind.entry(row.tx.kind).or_default() += 1;
        if row.tx.kind == Kind::Unclassified {
            s.unclassified += 1;
            let code = row.code.unwrap_or_else(|| "unknown".to_string());
            if let Some(name) = row.name {
                s.unclassified_names.insert(code.clone(), name);
            }
            *s.unclassified_codes.entry(code).or_default() += 1;
        }
        if row.unmatched {
            s.unmatched_enrichment += 1;
        }
        (self.sink)(row.tx)
    }
}

/// Deposit, withdrawal and convert history, loaded once (these are few).
pub(crate) struct History {
    pub deposits: Vec<(Deposit, bool)>,
    pub withdrawals: Vec<(Withdrawal, bool)>,
    pub converts: HashMap<String, Convert>,
    pub dcd: dual::DcdBook,
    unreadable: Vec<Unreadable>,
    /// A master's transfer records with its sub-accounts, and the report's accounts.
    pub accounts: accounts::SubTransfers,
}

impl History {
    fn load(src: &dyn RecordSource, summary: &mut NormalizeSummary) -> anyhow::Result<History> {
        let mut h = History {
            deposits: Vec::new(),
            withdrawals: Vec::new(),
            converts: HashMap::new(),
            dcd: dual::DcdBook::default(),
            unreadable: Vec::new(),
            accounts: accounts::SubTransfers::default(),
        };
        src.for_each(RecordKind::Deposit, &mut |rec| {
            match wire::decode::<Deposit>(&rec.raw) {
                Ok(d) => h.deposits.push((d, false)),
                Err(e) => {
                    h.unreadable
                        .push(Unreadable::of(rec.kind, &rec.key, rec.ts_ms, e));
                }
            }
            Ok(())
        })?;
        src.for_each(RecordKind::Withdrawal, &mut |rec| {
            match wire::decode::<Withdrawal>(&rec.raw) {
                Ok(w) => h.withdrawals.push((w, false)),
                Err(e) => {
                    h.unreadable
                        .push(Unreadable::of(rec.kind, &rec.key, rec.ts_ms, e));
                }
            }
            Ok(())
        })?;
        src.for_each(RecordKind::Convert, &mut |rec| {
            match wire::decode::<Convert>(&rec.raw) {
                Ok(c) => {
                    h.converts.insert(c.trade_id.clone(), c);
                }
                Err(e) => {
                    h.unreadable
                        .push(Unreadable::of(rec.kind, &rec.key, rec.ts_ms, e));
                }
            }
            Ok(())
        })?;
        src.for_each(RecordKind::DualInvestment, &mut |rec| {
            if let Some(o) = dual::DcdOrder::decode(&rec.raw) {
                h.dcd.push(o);
            } else {
                h.unreadable.push(Unreadable::of(
                    rec.kind,
                    &rec.key,
                    rec.ts_ms,
                    "not a Dual Investment order",
                ));
            }
            Ok(())
        })?;

        for (d, _) in &h.deposits {
            let state = d.state.as_deref().unwrap_or("");
            if state == "2" {
                continue;
            }
            let item = funding::deposit_item(d);
            if matches!(state, "11" | "12" | "13") {
                summary.failed_or_canceled.push(item);
            } else {
                summary.pending_deposits.push(item);
            }
        }
        for (w, _) in &h.withdrawals {
            let state = w.state.as_deref().unwrap_or("");
            if state == "2" {
                continue;
            }
            let item = funding::withdrawal_item(w);
            if matches!(state, "-1" | "-2") {
                summary.failed_or_canceled.push(item);
            } else {
                summary.pending_withdrawals.push(item);
            }
        }
        Ok(h)
    }

    /// Successful deposits and withdrawals no bill was matched to.
    fn unbooked(&self) -> Vec<PendingItem> {
        let deps = self
            .deposits
            .iter()
            .filter(|(d, used)| !used && d.state.as_deref() == Some("2"));
        let wds = self
            .withdrawals
            .iter()
            .filter(|(w, used)| !used && w.state.as_deref() == Some("2"));
        deps.map(|(d, _)| funding::deposit_item(d))
            .chain(wds.map(|(w, _)| funding::withdrawal_item(w)))
            .collect()
    }
}

/// Joins the non-empty parts of a note with `; `.
pub(crate) fn join_note(parts: impl IntoIterator<Item = Option<String>>) -> Option<String> {
    let parts: Vec<String> = parts.into_iter().flatten().filter(|p| !p.is_empty()).collect();
    if parts.is_empty() {
        None
    } else {
        Some(parts.join("; "))
    }
}

/// `received`/`sent` of a signed gross amount (zero → neither).
pub(crate) fn set_gross(tx: &mut Transaction, gross: Decimal, asset: &str) {
    if gross > Decimal::ZERO {
        tx.received = Some(Amount::new(gross, asset));
    } else if gross < Decimal::ZERO {
        tx.sent = Some(Amount::new(-gross, asset));
    }
}

/// The best-effort fields of a record that failed to decode: (billId, ccy, balChg, type).
pub(crate) fn salvage(raw: &str) -> (Option<String>, Option<String>, Option<Decimal>, Option<String>) {
    let v: serde_json::Value = serde_json::from_str(raw).unwrap_or_default();
    let s = |k: &str| match &v[k] {
        serde_json::Value::String(s) if !s.is_empty() => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    };
    let bal_chg = s("balChg").and_then(|b| wire::de::parse_decimal(&b));
    (s("billId"), s("ccy"), bal_chg, s("type"))
}
