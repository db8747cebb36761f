//! Trading-account bills (`account/bills`) → rows.
//!
//! The two bills of one spot fill or conversion (base leg and quote leg) are adjacent in time
//! order and share `ordId`/`tradeId`; they are paired into one `trade` row with a buffer of
//! at most [`MAX_PENDING`] legs no older than [`PAIR_WINDOW_MS`] before the current bill. A
//! leg whose partner never shows up becomes a single-leg `trade` row, so every bill is still
//! represented exactly once. Because a pair is emitted when its second leg arrives, rows are
//! re-ordered by (time, id) in a heap that only holds rows newer than the oldest open leg.

use super::codes::{self, How};
use super::{Row, SortKey, join_note, salvage, set_gross};
use crate::model::{Account, Amount, Kind, Transaction};
use crate::okx::wire::{self, Bill, Convert, Fill};
use crate::store::{LinkLookup, RecordCursor, RecordKind, RecordRef};
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use std::cmp::{Ordering, Reverse};
use std::collections::{BinaryHeap, HashMap, VecDeque};

/// How far (in bill time) a leg waits for its partner.
pub(super) const PAIR_WINDOW_MS: i64 = 5_000;
/// How many legs may wait for a partner at once.
pub(super) const MAX_PENDING: usize = 1024;

const SOURCE: &str = "account/bills";

type Emit<'e> = dyn FnMut(Row) -> anyhow::Result<()> + 'e;

/// One leg of a two-currency trade waiting for its partner.
struct Leg {
    bill: Bill,
    time: DateTime<Utc>,
    kind: Kind,
    /// `balChg − fee`.
    gross: Decimal,
}

impl Leg {
    /// The ids that tie the two legs of one trade together (`"0"`/absent are no id).
    fn ids(&self) -> Option<(&str, &str)> {
        fn id(s: &Option<String>) -> &str {
            s.as_deref().filter(|s| *s != "0").unwrap_or("")
        }
        let ids = (id(&self.bill.ord_id), id(&self.bill.trade_id));
        (ids != ("", "")).then_some(ids)
    }

    fn pairs_with(&self, other: &Leg) -> bool {
        let zero = Decimal::ZERO;
        let same_sign =
            (self.gross > zero && other.gross > zero) || (self.gross < zero && other.gross < zero);
        if self.bill.ccy == other.bill.ccy || same_sign || self.kind != other.kind {
            return false;
        }
        match (self.ids(), other.ids()) {
            (Some(a), Some(b)) => a == b,
            // Without ids, only legs of the same instant, bill type and instrument pair.
            (None, None) => {
                self.time == other.time
                    && self.bill.bill_type == other.bill.bill_type
                    && self.bill.inst_id == other.bill.inst_id
            }
            _ => false,
        }
    }
}

/// A row in the re-ordering heap, ordered by its [`SortKey`] only.
pub(super) struct Keyed {
    pub ms: i64,
    pub row: Row,
}

impl Keyed {
    pub(super) fn new(row: Row) -> Keyed {
        Keyed {
            ms: row.tx.time.timestamp_millis(),
            row,
        }
    }
}

impl PartialEq for Keyed {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Keyed {}
impl PartialOrd for Keyed {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Keyed {
    fn cmp(&self, other: &Self) -> Ordering {
        // The time decides most comparisons; only ties look at the ids.
        self.ms
            .cmp(&other.ms)
            .then_with(|| SortKey::of(&self.row.tx).cmp(&SortKey::of(&other.row.tx)))
    }
}

pub(super) struct Trading<'a> {
    links: &'a mut dyn LinkLookup,
    converts: &'a HashMap<String, Convert>,
    /// OKX's names of trading codes, for unclassified rows.
    names: Option<&'a codes::BillNames>,
    pending: VecDeque<Leg>,
    heap: BinaryHeap<Reverse<Keyed>>,
    /// Rows released by the heap, not yet taken by [`Trading::next_row`].
    ready: VecDeque<Row>,
    finished: bool,
    pub unreadable: Vec<super::Unreadable>,
}

impl<'a> Trading<'a> {
    pub fn new(
        links: &'a mut dyn LinkLookup,
        converts: &'a HashMap<String, Convert>,
        names: Option<&'a codes::BillNames>,
    ) -> Trading<'a> {
        Trading {
            links,
            converts,
            names,
            pending: VecDeque::new(),
            heap: BinaryHeap::new(),
            ready: VecDeque::new(),
            finished: false,
            unreadable: Vec::new(),
        }
    }

    /// The next row in (time, id) order, reading bills from `bills` as far as needed.
    pub fn next_row(&mut self, bills: &mut dyn RecordCursor) -> anyhow::Result<Option<Row>> {
        loop {
            if let Some(row) = self.ready.pop_front() {
                return Ok(Some(row));
            }
            if self.finished {
                return Ok(None);
            }
            let mut ready = std::mem::take(&mut self.ready);
            let mut emit = |row: Row| {
                ready.push_back(row);
                Ok(())
            };
            if let Some(rec) = bills.next_record()? {
                self.push(rec, &mut emit)?;
            } else {
                self.finished = true;
                self.finish(&mut emit)?;
            }
            self.ready = ready;
        }
    }

    /// Takes the next stored bill (in time order) and emits every row that can no longer be
    /// preceded by a later one.
    pub fn push(&mut self, rec: RecordRef, emit: &mut Emit) -> anyhow::Result<()> {
        let time = match wire::decode_record::<Bill>(rec.raw) {
            Ok(bill) => {
                let time = bill.ts.unwrap_or_else(|| ms_time(rec.ts_ms));
                self.evict(time)?;
                self.bill(bill, rec.raw, time)?;
                time
            }
            Err(e) => {
                self.unreadable
                    .push(super::Unreadable::of(rec.kind, rec.key, rec.ts_ms, &e));
                let time = ms_time(rec.ts_ms);
                self.evict(time)?;
                self.queue(undecodable(&rec, time));
                time
            }
        };
        let bound = self.pending.front().map_or(time, |l| l.time.min(time));
        self.flush(Some(bound.timestamp_millis()), emit)
    }

    /// Emits everything still held.
    pub fn finish(&mut self, emit: &mut Emit) -> anyhow::Result<()> {
        while let Some(leg) = self.pending.pop_front() {
            let rows = self.single(leg)?;
            self.queue_all(rows);
        }
        self.flush(None, emit)
    }

    fn queue(&mut self, row: Row) {
        self.heap.push(Reverse(Keyed::new(row)));
    }

    fn queue_all(&mut self, rows: Vec<Row>) {
        for row in rows {
            self.queue(row);
        }
    }

    /// Emits queued rows older than `bound_ms` (all when `None`).
    fn flush(&mut self, bound_ms: Option<i64>, emit: &mut Emit) -> anyhow::Result<()> {
        while let Some(Reverse(top)) = self.heap.peek() {
            if bound_ms.is_some_and(|b| top.ms >= b) {
                break;
            }
            let Reverse(top) = self.heap.pop().expect("peeked");
            emit(top.row)?;
        }
        Ok(())
    }

    /// Gives up on legs that waited too long (or too many waiting legs).
    fn evict(&mut self, now: DateTime<Utc>) -> anyhow::Result<()> {
        let cutoff = now.timestamp_millis() - PAIR_WINDOW_MS;
        while let Some(front) = self.pending.front() {
            if front.time.timestamp_millis() >= cutoff && self.pending.len() < MAX_PENDING {
                break;
            }
            let leg = self.pending.pop_front().expect("front");
            let rows = self.single(leg)?;
            self.queue_all(rows);
        }
        Ok(())
    }

    fn bill(&mut self, bill: Bill, raw: &str, time: DateTime<Utc>) -> anyhow::Result<()> {
        let Some(rule) = codes::trading_rule(bill.bill_type.as_deref(), bill.sub_type.as_deref()) else {
            self.queue(unclassified(&bill, raw, time, self.names));
            return Ok(());
        };
        let rows = match rule.how {
            How::One => one(&bill, time, rule.kind),
            How::FundingFee => self.position(&bill, time, rule.kind, true)?,
            How::Pos => self.position(&bill, time, rule.kind, false)?,
            How::Leg if is_derivative(&bill) => {
                let kind = if rule.kind == Kind::Trade {
                    Kind::RealizedPnl
                } else {
                    rule.kind
                };
                self.position(&bill, time, kind, false)?
            }
            How::Leg | How::Pair => {
                let gross = bill.bal_chg - bill.fee.unwrap_or_default();
                let leg = Leg {
                    bill,
                    time,
                    kind: rule.kind,
                    gross,
                };
                if let Some(i) = self.pending.iter().position(|p| p.pairs_with(&leg)) {
                    let first = self.pending.remove(i).expect("index");
                    self.pair(first, leg)?
                } else {
                    self.pending.push_back(leg);
                    Vec::new()
                }
            }
        };
        self.queue_all(rows);
        Ok(())
    }

    /// One `trade` row from two legs: received = gross of the incoming leg, sent = |gross| of
    /// the outgoing one, fee = the charged fee (a second charged fee or any rebate gets its
    /// own row, so each leg's balChg is still fully accounted for).
    fn pair(&mut self, a: Leg, b: Leg) -> anyhow::Result<Vec<Row>> {
        let (recv, sent) = if a.gross <= Decimal::ZERO && b.gross > Decimal::ZERO {
            (b, a)
        } else {
            (a, b)
        };
        let id = ["tb-", recv.bill.bill_id.as_str()].concat();
        let source_id = [recv.bill.bill_id.as_str(), ";", &sent.bill.bill_id].concat();
        let mut tx = Transaction::new(id, recv.time, Account::Trading, recv.kind, SOURCE, source_id);
        set_gross(&mut tx, recv.gross, &recv.bill.ccy);
        set_gross(&mut tx, sent.gross, &sent.bill.ccy);
        tx.instrument = recv.bill.inst_id.clone().or_else(|| sent.bill.inst_id.clone());
        tx.note = join_note([recv.bill.notes.clone(), sent.bill.notes.clone()]);

        let mut extra = Vec::new();
        for leg in [&recv, &sent] {
            let fee = leg.bill.fee.unwrap_or_default();
            if fee < Decimal::ZERO && tx.fee.is_none() {
                tx.fee = Some(Amount::new(-fee, &leg.bill.ccy));
            } else if fee != Decimal::ZERO {
                extra.push(fee_row(&leg.bill, leg.time, fee));
            }
        }
        let priced = self.enrich_trade(&mut tx, &[&recv.bill, &sent.bill])?;
        let mut rows = vec![Row {
            unmatched: !priced,
            ..Row::new(tx)
        }];
        rows.extend(extra);
        Ok(rows)
    }

    /// A leg that found no partner: a single-leg trade row.
    fn single(&mut self, leg: Leg) -> anyhow::Result<Vec<Row>> {
        let mut rows = one(&leg.bill, leg.time, leg.kind);
        let main = &mut rows[0];
        let priced = self.enrich_trade(&mut main.tx, &[&leg.bill])?;
        main.unmatched = !priced;
        main.tx.note = join_note([
            main.tx.note.take(),
            Some("single leg: no partner bill found".into()),
        ]);
        Ok(rows)
    }

    /// Price, side, order and trade id from convert history, the fill or the bills. Returns
    /// whether a price was found.
    fn enrich_trade(&mut self, tx: &mut Transaction, bills: &[&Bill]) -> anyhow::Result<bool> {
        let first = |f: fn(&Bill) -> Option<String>| bills.iter().find_map(|b| f(b));
        // Convert history is looked up only for convert bills (type 27, subType 318/319;
        // archive-file rows may lack `type`): another bill's tradeId is a spot or
        // derivatives trade id from a different id space, and a collision would give a
        // spot trade the price and side of an unrelated convert.
        let is_convert = |b: &&&Bill| {
            b.bill_type.as_deref() == Some("27") || matches!(b.sub_type.as_deref(), Some("318" | "319"))
        };
        let convert = bills
            .iter()
            .filter(is_convert)
            .filter_map(|b| b.trade_id.as_deref())
            .find_map(|t| self.converts.get(t));
        if let Some(c) = convert {
            tx.instrument = c.inst_id.clone().or(tx.instrument.take());
            tx.price = c.fill_px;
            tx.side.clone_from(&c.side);
            tx.trade_id = Some(c.trade_id.clone());
        } else if let Some(fill) = self.fill(bills)? {
            tx.price = fill.fill_px;
            tx.side = fill.side;
            tx.order_id = fill.ord_id;
            tx.trade_id = Some(fill.trade_id);
            tx.instrument = Some(fill.inst_id);
        }
        if tx.price.is_none() {
            tx.price = bills.iter().find_map(|b| b.px);
        }
        if tx.order_id.is_none() {
            tx.order_id = first(|b| b.ord_id.clone());
        }
        if tx.trade_id.is_none() {
            tx.trade_id = first(|b| b.trade_id.clone().filter(|t| t != "0"));
        }
        if tx.side.is_none() {
            tx.side = spot_side(tx, bills);
        }
        Ok(tx.price.is_some())
    }

    /// The fill of any of `bills` (fills are linked by billId).
    fn fill(&mut self, bills: &[&Bill]) -> anyhow::Result<Option<Fill>> {
        for b in bills {
            for rec in self.links.by_link(RecordKind::Fill, &b.bill_id)? {
                match wire::decode::<Fill>(&rec.raw) {
                    Ok(f) => return Ok(Some(f)),
                    Err(e) => self
                        .unreadable
                        .push(super::Unreadable::of(rec.kind, &rec.key, rec.ts_ms, e)),
                }
            }
        }
        Ok(None)
    }

    /// A derivative bill (or a funding-fee bill): `:pnl` from `pnl`, `:fee`/`:rebate` from
    /// `fee`, and `:residual` for whatever of `balChg` the two do not explain. A funding fee
    /// takes the bare id for its main row.
    fn position(
        &mut self,
        bill: &Bill,
        time: DateTime<Utc>,
        kind: Kind,
        funding: bool,
    ) -> anyhow::Result<Vec<Row>> {
        let fee = bill.fee.unwrap_or_default();
        let pnl = match (funding, bill.pnl) {
            (_, Some(p)) => p,
            (true, None) => bill.bal_chg - fee,
            (false, None) => Decimal::ZERO,
        };
        let residual = bill.bal_chg - pnl - fee;

        let mut template = base(bill, time, kind, "");
        if !funding && let Some(fill) = self.fill(&[bill])? {
            template.side = fill.side;
            template.price = fill.fill_px;
            template.trade_id = Some(fill.trade_id);
        }
        template.price = template.price.or(bill.px);
        let with = |suffix: &str, kind: Kind| {
            let mut tx = template.clone();
            tx.id.push_str(suffix);
            tx.kind = kind;
            tx
        };

        let mut rows = Vec::new();
        if pnl != Decimal::ZERO {
            let mut tx = with(if funding { "" } else { ":pnl" }, kind);
            set_gross(&mut tx, pnl, &bill.ccy);
            rows.push(Row::new(tx));
        }
        if fee != Decimal::ZERO {
            rows.push(fee_row_from(with("", Kind::Fee), &bill.ccy, fee));
        }
        if residual != Decimal::ZERO {
            // Isolated margin moves between the account balance and the position (posBalChg):
            // not income, a transfer. For options the residual is the premium: a trade of the
            // contract. Anything else unexplained stays with the bill's own kind.
            let (rkind, why) = if bill.pos_bal_chg.is_some_and(|p| !p.is_zero()) {
                (
                    Kind::Transfer,
                    "isolated margin moved between account and position",
                )
            } else if bill.inst_type.as_deref() == Some("OPTION") {
                (Kind::Trade, "option premium")
            } else {
                (kind, "balChg not explained by pnl and fee")
            };
            let mut tx = with(":residual", rkind);
            set_gross(&mut tx, residual, &bill.ccy);
            tx.note = join_note([tx.note.take(), Some(why.to_string())]);
            rows.push(Row::new(tx));
        }
        if rows.is_empty() {
            let mut tx = with("", kind);
            tx.note = join_note([tx.note.take(), Some("no balance change".to_string())]);
            rows.push(Row::new(tx));
        }
        Ok(rows)
    }
}

fn ms_time(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

fn is_derivative(bill: &Bill) -> bool {
    matches!(
        bill.inst_type.as_deref(),
        Some("SWAP" | "FUTURES" | "OPTION" | "EVENTS")
    )
}

/// A row with the bill's common fields; `suffix` is appended to `tb-<billId>`.
fn base(bill: &Bill, time: DateTime<Utc>, kind: Kind, suffix: &str) -> Transaction {
    // Not `format!`: an id is made for every bill, and concatenating is cheaper.
    let id = ["tb-", bill.bill_id.as_str(), suffix].concat();
    let mut tx = Transaction::new(id, time, Account::Trading, kind, SOURCE, bill.bill_id.clone());
    tx.instrument.clone_from(&bill.inst_id);
    tx.order_id.clone_from(&bill.ord_id);
    tx.trade_id = bill.trade_id.clone().filter(|t| t != "0");
    tx.note.clone_from(&bill.notes);
    tx
}

/// The bare row of a bill from `balChg`: a charged fee in the fee column, a rebate as its
/// own `:rebate` row.
fn one(bill: &Bill, time: DateTime<Utc>, kind: Kind) -> Vec<Row> {
    let fee = bill.fee.unwrap_or_default();
    let mut tx = base(bill, time, kind, "");
    set_gross(&mut tx, bill.bal_chg - fee, &bill.ccy);
    if fee < Decimal::ZERO {
        tx.fee = Some(Amount::new(-fee, &bill.ccy));
    }
    let mut rows = vec![Row::new(tx)];
    if fee > Decimal::ZERO {
        rows.push(fee_row(bill, time, fee));
    }
    rows
}

/// A standalone `:fee` (charged, in `sent`) or `:rebate` (received) row for a signed OKX fee.
fn fee_row(bill: &Bill, time: DateTime<Utc>, fee: Decimal) -> Row {
    fee_row_from(base(bill, time, Kind::Fee, ""), &bill.ccy, fee)
}

fn fee_row_from(mut tx: Transaction, ccy: &str, fee: Decimal) -> Row {
    if fee < Decimal::ZERO {
        tx.id.push_str(":fee");
        tx.kind = Kind::Fee;
        tx.sent = Some(Amount::new(-fee, ccy));
    } else {
        tx.id.push_str(":rebate");
        tx.kind = Kind::Rebate;
        tx.received = Some(Amount::new(fee, ccy));
    }
    Row::new(tx)
}

/// `buy` when the base currency of `BASE-QUOTE` was received, `sell` when it was sent;
/// else from the subType (1 buy, 2 sell).
fn spot_side(tx: &Transaction, bills: &[&Bill]) -> Option<String> {
    let base = tx.instrument.as_deref().and_then(|i| i.split('-').next());
    let is = |a: &Option<Amount>| a.as_ref().is_some_and(|a| Some(a.asset.as_str()) == base);
    if base.is_some() && is(&tx.received) {
        return Some("buy".into());
    }
    if base.is_some() && is(&tx.sent) {
        return Some("sell".into());
    }
    match bills.first()?.sub_type.as_deref() {
        Some("1") => Some("buy".into()),
        Some("2") => Some("sell".into()),
        _ => None,
    }
}

/// One `unclassified` row for a bill whose codes are unknown; amounts from `balChg` so the
/// ledger invariant still holds, raw JSON in the note.
/// With OKX's name of the codes (its dictionary) in front of the raw JSON, when known.
fn unclassified(bill: &Bill, raw: &str, time: DateTime<Utc>, names: Option<&codes::BillNames>) -> Row {
    let mut tx = base(bill, time, Kind::Unclassified, "");
    set_gross(&mut tx, bill.bal_chg, &bill.ccy);
    let name = names.and_then(|n| n.describe(bill.bill_type.as_deref(), bill.sub_type.as_deref()));
    tx.note = Some(match &name {
        Some(n) => format!("{n}; {raw}"),
        None => raw.to_string(),
    });
    let code = codes::trading_code_label(bill.bill_type.as_deref(), bill.sub_type.as_deref());
    Row {
        code: Some(code),
        name,
        ..Row::new(tx)
    }
}

/// One `unclassified` row for a stored bill that does not decode.
fn undecodable(rec: &RecordRef, time: DateTime<Utc>) -> Row {
    let (bill_id, ccy, bal_chg, _) = salvage(rec.raw);
    let bill_id = bill_id.unwrap_or_else(|| rec.key.to_string());
    let id = format!("tb-{bill_id}");
    let mut tx = Transaction::new(id, time, Account::Trading, Kind::Unclassified, SOURCE, bill_id);
    if let (Some(ccy), Some(b)) = (ccy, bal_chg) {
        set_gross(&mut tx, b, &ccy);
    }
    tx.note = Some(rec.raw.to_string());
    Row {
        code: Some("trading decode error".into()),
        ..Row::new(tx)
    }
}
