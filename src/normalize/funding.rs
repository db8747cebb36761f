//! Funding-account bills (`asset/bills`) → rows, one bill at a time; the two legs of a
//! crypto↔fiat convert (272/273) are handed back for pairing ([`super::fiat_convert`]). Deposit (type 1) and withdrawal (type 2) bills are enriched from deposit and
//! withdrawal history; OKX gives no common id, so a bill is matched to the record of the same
//! currency and amount, each record used at most once: a final record first, then one dated
//! no later than the bill (the record comes first: a deposit is credited, a withdrawal debited
//! after it is seen or requested; [`SLACK_MS`] allows for clocks), nearest in time. No fixed
//! time window: a deposit credited hours after its record still matches and keeps its hash.

use super::codes;
use super::{History, PendingItem, Row, join_note, salvage, set_gross};
use crate::model::{Account, Amount, Kind, Transaction};
use crate::okx::wire::{self, Deposit, FundingBill, Withdrawal};
use crate::store::RecordRef;
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

const SOURCE: &str = "asset/bills";

/// How much later than its bill a deposit or withdrawal record may be dated.
pub(super) const SLACK_MS: i64 = 60 * 1000;

/// A deposit (type 1) or withdrawal (type 2) bill that matched no history record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnmatchedBill {
    /// `deposit` or `withdrawal`.
    pub what: &'static str,
    pub bill_id: String,
    pub time: DateTime<Utc>,
    pub asset: String,
    /// The bill's signed `balChg`.
    pub amount: Decimal,
}

/// One 272/273 bill waiting for its partner, with the row it becomes if none arrives.
pub(super) struct FiatLeg {
    pub bill: FundingBill,
    pub time: DateTime<Utc>,
    pub single: Row,
}

impl FiatLeg {
    /// Whether `other` can be this leg's partner: it [`pairs_with`](Self::pairs_with) it no
    /// more than the window apart.
    pub(super) fn within_window(&self, other: &FiatLeg) -> bool {
        (self.time - other.time).num_milliseconds().abs() <= super::trading::PAIR_WINDOW_MS
            && self.pairs_with(other)
    }

    pub(super) fn pairs_with(&self, other: &FiatLeg) -> bool {
        let zero = Decimal::ZERO;
        self.bill.ccy != other.bill.ccy
            && ((self.bill.bal_chg > zero && other.bill.bal_chg < zero)
                || (self.bill.bal_chg < zero && other.bill.bal_chg > zero))
    }
}

/// What one funding bill becomes.
pub(super) enum Pushed {
    Row(Row),
    /// Several rows of one bill (a converted Dual Investment collection).
    Many(Vec<Row>),
    /// A crypto↔fiat convert leg (272/273) that waits for its partner.
    Leg(FiatLeg),
}

pub(super) struct Funding<'h> {
    h: &'h mut History,
    pub unreadable: Vec<super::Unreadable>,
    /// Every deposit/withdrawal bill without its record, inside the period or not.
    pub unmatched: Vec<UnmatchedBill>,
    /// Further rows of the bill just pushed.
    extra: Vec<Row>,
}

impl<'h> Funding<'h> {
    pub fn new(h: &'h mut History) -> Funding<'h> {
        Funding {
            h,
            unreadable: Vec::new(),
            unmatched: Vec::new(),
            extra: Vec::new(),
        }
    }

    fn lone(&mut self, what: &'static str, bill: &FundingBill, time: DateTime<Utc>) {
        self.unmatched.push(UnmatchedBill {
            what,
            bill_id: bill.bill_id.clone(),
            time,
            asset: bill.ccy.clone(),
            amount: bill.bal_chg,
        });
    }

    /// The row of one stored funding bill, or a convert leg to pair.
    pub fn push(&mut self, rec: RecordRef) -> Pushed {
        match self.row(rec) {
            Ok(row) if self.extra.is_empty() => Pushed::Row(row),
            Ok(row) => {
                let mut rows = vec![row];
                rows.append(&mut self.extra);
                Pushed::Many(rows)
            }
            Err(leg) => Pushed::Leg(*leg),
        }
    }

    /// The row of one bill; `Err` is a convert leg (with its single-leg row).
    fn row(&mut self, rec: RecordRef) -> Result<Row, Box<FiatLeg>> {
        let bill = match wire::decode_record::<FundingBill>(rec.raw) {
            Ok(b) => b,
            Err(e) => {
                self.unreadable
                    .push(super::Unreadable::of(rec.kind, rec.key, rec.ts_ms, e));
                return Ok(undecodable(&rec));
            }
        };
        let time = bill
            .ts
            .unwrap_or_else(|| DateTime::from_timestamp_millis(rec.ts_ms).unwrap_or_default());
        let code = bill.bill_type.as_deref();
        let Some((kind, _)) = codes::funding_rule(code) else {
            let mut tx = base(&bill, time, Kind::Unclassified);
            set_gross(&mut tx, bill.bal_chg, &bill.ccy);
            tx.note = Some(rec.raw.to_string());
            return Ok(Row {
                code: Some(codes::funding_code_label(code)),
                ..Row::new(tx)
            });
        };
        if super::accounts::is_sub_transfer(code) {
            let mut tx = base(&bill, time, kind);
            set_gross(&mut tx, bill.bal_chg, &bill.ccy);
            return Ok(self.h.accounts.row(&bill, time, tx));
        }
        match code {
            Some("1") if bill.bal_chg > Decimal::ZERO => Ok(self.deposit(&bill, time)),
            Some("2") if bill.bal_chg < Decimal::ZERO => Ok(self.withdrawal(&bill, time)),
            Some("272" | "273") if !bill.bal_chg.is_zero() => {
                let mut tx = base(&bill, time, kind);
                set_gross(&mut tx, bill.bal_chg, &bill.ccy);
                let why = "single leg: no partner convert bill found";
                tx.note = join_note([tx.note.take(), Some(why.into())]);
                let single = Row {
                    unmatched: true,
                    ..Row::new(tx)
                };
                Err(Box::new(FiatLeg { bill, time, single }))
            }
            Some("160") if bill.bal_chg < Decimal::ZERO => Ok(self.dcd_subscription(&bill, time, kind)),
            Some("161") if bill.bal_chg > Decimal::ZERO => Ok(self.dcd_collection(&bill, time, kind)),
            _ => {
                let mut tx = base(&bill, time, kind);
                set_gross(&mut tx, bill.bal_chg, &bill.ccy);
                if let Some(what) = withdrawal_fee_note(code) {
                    tx.note = join_note([tx.note.take(), Some(what.into())]);
                }
                if code.is_some_and(|c| codes::STRUCTURED_COLLECTIONS.contains(&c)) {
                    let why = "structured product collection: may be in another currency than subscribed";
                    tx.note = join_note([tx.note.take(), Some(why.into())]);
                }
                Ok(Row::new(tx))
            }
        }
    }

    /// A Dual Investment subscription: a `transfer` into the product, with its order.
    fn dcd_subscription(&mut self, bill: &FundingBill, time: DateTime<Utc>, kind: Kind) -> Row {
        let mut tx = base(bill, time, kind);
        set_gross(&mut tx, bill.bal_chg, &bill.ccy);
        if let Some(o) = self.h.dcd.subscription(&bill.ccy, -bill.bal_chg, time) {
            let what = format!("dual investment order {}: subscribed", o.ord_id);
            tx.note = join_note([tx.note.take(), Some(what)]);
        }
        Row::new(tx)
    }

    /// A Dual Investment collection, booked by its order (see [`super::dual`]).
    fn dcd_collection(&mut self, bill: &FundingBill, time: DateTime<Utc>, kind: Kind) -> Row {
        let mut tx = base(bill, time, kind);
        set_gross(&mut tx, bill.bal_chg, &bill.ccy);
        let Some(o) = self.h.dcd.collection(&bill.ccy, bill.bal_chg, time) else {
            let why = "structured product collection: may be in another currency than subscribed; \
                       no Dual Investment order (finance/sfp/dcd/order-history) matches it, so an \
                       exchange at settlement is not booked: check this row";
            tx.note = join_note([tx.note.take(), Some(why.into())]);
            return Row {
                unmatched: true,
                ..Row::new(tx)
            };
        };
        if !o.converted() {
            let what = format!(
                "dual investment order {}: principal returned unconverted",
                o.ord_id
            );
            tx.note = join_note([tx.note.take(), Some(what)]);
            return Row::new(tx);
        }
        tx.kind = Kind::Trade;
        tx.sent = Some(Amount::new(o.notional_sz, &o.notional_ccy));
        tx.price = o.strike;
        tx.instrument.clone_from(&o.product_id);
        tx.trade_id = Some(o.ord_id.clone());
        let what = format!(
            "dual investment order {}: {} {} settled as {} {} at strike {}",
            o.ord_id,
            o.notional_sz,
            o.notional_ccy,
            bill.bal_chg,
            bill.ccy,
            o.strike.map(|s| s.to_string()).unwrap_or_default()
        );
        tx.note = join_note([tx.note.take(), Some(what)]);
        let mut back = Transaction::new(
            format!("fb-{}:principal", bill.bill_id),
            time,
            Account::Funding,
            Kind::Transfer,
            SOURCE,
            bill.bill_id.clone(),
        );
        back.received = Some(Amount::new(o.notional_sz, &o.notional_ccy));
        back.note = Some(format!(
            "dual investment order {}: principal back from the product, exchanged in fb-{}",
            o.ord_id, bill.bill_id
        ));
        self.extra.push(Row::new(back));
        Row::new(tx)
    }

    fn deposit(&mut self, bill: &FundingBill, time: DateTime<Utc>) -> Row {
        let mut tx = base(bill, time, Kind::Deposit);
        set_gross(&mut tx, bill.bal_chg, &bill.ccy);
        let best = self
            .h
            .deposits
            .iter_mut()
            .filter(|(d, used)| !used && d.ccy == bill.ccy && d.amt == bill.bal_chg && not_after(d.ts, time))
            .min_by_key(|(d, _)| (d.state.as_deref() != Some("2"), distance(d.ts, time)));
        let Some((d, used)) = best else {
            self.lone("deposit", bill, time);
            return Row {
                unmatched: true,
                ..Row::new(tx)
            };
        };
        *used = true;
        tx.tx_hash.clone_from(&d.tx_id);
        tx.address.clone_from(&d.to);
        tx.chain.clone_from(&d.chain);
        let state = (d.state.as_deref() != Some("2")).then(|| format!("state: {}", deposit_state_text(d)));
        let from = d.from.as_ref().map(|f| format!("from {f}"));
        tx.note = join_note([Some(format!("depId {}", d.dep_id)), state, from, tx.note.take()]);
        let key = format!("dep:{}", d.dep_id);
        self.extra.extend(self.h.accounts.member_move(&key, &mut tx));
        Row::new(tx)
    }

    fn withdrawal(&mut self, bill: &FundingBill, time: DateTime<Utc>) -> Row {
        let total = -bill.bal_chg;
        let mut tx = base(bill, time, Kind::Withdrawal);
        let best = self
            .h
            .withdrawals
            .iter_mut()
            .filter(|(w, used)| {
                !used
                    && w.ccy == bill.ccy
                    && not_after(w.ts, time)
                    && (w.amt == total || w.amt + included_fee(w, &bill.ccy) == total)
            })
            // A record dated after the debit (only within the clock slack) comes last: a
            // withdrawal retried seconds after a cancel has a successful record dated
            // after the canceled attempt's debit, and must not take that debit.
            .min_by_key(|(w, _)| (dated_after(w.ts, time), withdrawal_rank(w), distance(w.ts, time)));
        let Some((w, used)) = best else {
            self.lone("withdrawal", bill, time);
            tx.sent = Some(Amount::new(total, &bill.ccy));
            return Row {
                unmatched: true,
                ..Row::new(tx)
            };
        };
        *used = true;
        let fee = included_fee(w, &bill.ccy);
        let fee_in_bill = !fee.is_zero() && w.amt + fee == total;
        tx.sent = Some(Amount::new(w.amt, &bill.ccy));
        if fee_in_bill {
            tx.fee = Some(Amount::new(fee, &bill.ccy));
        }
        tx.tx_hash.clone_from(&w.tx_id);
        tx.address.clone_from(&w.to);
        tx.chain.clone_from(&w.chain);
        let mut notes = vec![Some(format!("wdId {}", w.wd_id))];
        match withdrawal_rank(w) {
            0 => {}
            1 => notes.push(Some(format!("state: {}", withdrawal_state_text(w)))),
            _ => {
                // The debit was a hold; a canceled-withdrawal bill (type 13) returns it,
                // fee included: no fee was paid, the whole debit is the transfer.
                tx.kind = Kind::Transfer;
                tx.sent = Some(Amount::new(total, &bill.ccy));
                tx.fee = None;
                notes.push(Some(format!(
                    "withdrawal {}: balance held and returned by a canceled-withdrawal bill",
                    withdrawal_state_text(w)
                )));
            }
        }
        if !fee_in_bill && let Some(f) = w.fee.filter(|f| !f.is_zero()) {
            let ccy = w.fee_ccy.as_deref().unwrap_or(&bill.ccy);
            notes.push(Some(format!("withdrawal fee {f} {ccy} not in this bill")));
        }
        notes.push(tx.note.take());
        tx.note = join_note(notes);
        if tx.kind == Kind::Withdrawal {
            let key = format!("wd:{}", w.wd_id);
            self.extra.extend(self.h.accounts.member_move(&key, &mut tx));
        }
        Row::new(tx)
    }
}

/// The withdrawal fee when it is charged in the withdrawn currency (then it can be part of
/// the debit), else zero.
fn included_fee(w: &Withdrawal, ccy: &str) -> Decimal {
    match (&w.fee, w.fee_ccy.as_deref()) {
        (Some(f), None) => f.abs(),
        (Some(f), Some(c)) if c == ccy => f.abs(),
        _ => Decimal::ZERO,
    }
}

/// Preference when several withdrawal records fit a debit: success, then in progress, then
/// failed/canceled.
fn withdrawal_rank(w: &Withdrawal) -> u8 {
    match w.state.as_deref() {
        Some("2") => 0,
        Some("-1" | "-2") => 2,
        _ => 1,
    }
}

/// The record is dated no later than the bill (plus [`SLACK_MS`]).
fn not_after(t: Option<DateTime<Utc>>, bill: DateTime<Utc>) -> bool {
    t.is_some_and(|t| (t - bill).num_milliseconds() <= SLACK_MS)
}

fn dated_after(t: Option<DateTime<Utc>>, bill: DateTime<Utc>) -> bool {
    t.is_some_and(|t| t > bill)
}

fn distance(t: Option<DateTime<Utc>>, bill: DateTime<Utc>) -> i64 {
    t.map_or(i64::MAX, |t| (t - bill).num_milliseconds().abs())
}

/// The note that marks a withdrawal fee booked as its own funding bill (type 221), or its
/// refund (222), so `tax-summary.csv` books it as a withdrawal fee.
pub const WITHDRAWAL_FEE_NOTE: &str = "blockchain withdrawal fee";
pub const WITHDRAWAL_FEE_REFUND_NOTE: &str = "withdrawal fee refund";

fn withdrawal_fee_note(code: Option<&str>) -> Option<&'static str> {
    match code {
        Some("221") => Some(WITHDRAWAL_FEE_NOTE),
        Some("222") => Some(WITHDRAWAL_FEE_REFUND_NOTE),
        _ => None,
    }
}

/// Whether `tx` is a withdrawal fee (or its refund) booked on its own funding bill.
pub fn is_withdrawal_fee(tx: &Transaction) -> bool {
    tx.account == Account::Funding
        && tx.note.as_deref().is_some_and(|n| {
            n.split("; ")
                .any(|p| p == WITHDRAWAL_FEE_NOTE || p == WITHDRAWAL_FEE_REFUND_NOTE)
        })
}

fn base(bill: &FundingBill, time: DateTime<Utc>, kind: Kind) -> Transaction {
    let id = format!("fb-{}", bill.bill_id);
    let mut tx = Transaction::new(id, time, Account::Funding, kind, SOURCE, bill.bill_id.clone());
    tx.note.clone_from(&bill.notes);
    tx
}

fn undecodable(rec: &RecordRef) -> Row {
    let (bill_id, ccy, bal_chg, bill_type) = salvage(rec.raw);
    let bill_id = bill_id.unwrap_or_else(|| rec.key.to_string());
    let time = DateTime::from_timestamp_millis(rec.ts_ms).unwrap_or_default();
    let id = format!("fb-{bill_id}");
    let mut tx = Transaction::new(id, time, Account::Funding, Kind::Unclassified, SOURCE, bill_id);
    if let (Some(ccy), Some(b)) = (ccy, bal_chg) {
        set_gross(&mut tx, b, &ccy);
    }
    tx.note = Some(rec.raw.to_string());
    let code = format!(
        "funding decode error (type {})",
        bill_type.as_deref().unwrap_or("-")
    );
    Row {
        code: Some(code),
        ..Row::new(tx)
    }
}

/// OKX deposit `state` in words (okx-api.md §5.5).
pub(super) fn deposit_state_text(d: &Deposit) -> String {
    let s = d.state.as_deref().unwrap_or("");
    let text = match s {
        "0" => "waiting for confirmation",
        "1" => "credited, not yet withdrawable",
        "2" => "successful",
        "8" => "pending: deposits of this currency suspended",
        "11" => "matched address blacklist",
        "12" => "account or deposit frozen",
        "13" => "sub-account deposit interception",
        "14" => "KYC limit",
        "17" => "pending Travel Rule vendor",
        _ => return format!("unknown state `{s}`"),
    };
    text.to_string()
}

/// OKX withdrawal `state` in words (okx-api.md §5.6).
pub(super) fn withdrawal_state_text(w: &Withdrawal) -> String {
    let s = w.state.as_deref().unwrap_or("");
    let text = match s {
        "2" => "successful",
        "-1" => "failed",
        "-2" => "canceled",
        "-3" => "canceling",
        "0" => "waiting withdrawal",
        "1" => "broadcasting",
        "7" => "approved",
        "10" => "waiting transfer",
        "15" => "pending validation",
        "16" => "delayed (local regulation)",
        "17" => "pending Travel Rule vendor",
        "19" => "hot wallet balance insufficient",
        "4" | "5" | "6" | "8" | "9" | "12" => "waiting manual review",
        _ => return format!("unknown state `{s}`"),
    };
    text.to_string()
}

pub(super) fn deposit_item(d: &Deposit) -> PendingItem {
    PendingItem {
        what: "deposit",
        id: d.dep_id.clone(),
        time: d.ts,
        asset: d.ccy.clone(),
        amount: d.amt,
        state: d.state.clone().unwrap_or_default(),
        state_text: deposit_state_text(d),
        tx_hash: d.tx_id.clone(),
        chain: d.chain.clone(),
    }
}

pub(super) fn withdrawal_item(w: &Withdrawal) -> PendingItem {
    PendingItem {
        what: "withdrawal",
        id: w.wd_id.clone(),
        time: w.ts,
        asset: w.ccy.clone(),
        amount: w.amt,
        state: w.state.clone().unwrap_or_default(),
        state_text: withdrawal_state_text(w),
        tx_hash: w.tx_id.clone(),
        chain: w.chain.clone(),
    }
}
