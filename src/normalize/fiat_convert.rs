//! Funding-account rows in (time, id) order, with the two bills of one crypto↔fiat convert
//! (funding types 272 "buy crypto/fiat" / 273 "sell crypto/fiat", okx-api.md §5.4) paired
//! into one `trade` row, as the trading account's type-27 converts are.
//!
//! Funding bills carry no `tradeId`, so the legs are paired by what OKX gives: two 272/273
//! bills of different currencies and opposite signs, no more than
//! [`PAIR_WINDOW_MS`](super::trading::PAIR_WINDOW_MS) apart (the oldest waiting leg first).
//! Assumption (the docs are silent): both legs of one convert are 272/273 bills written at the
//! same millisecond; the window only tolerates clock jitter. The pair is enriched from
//! `asset/convert/history`: the `fullyFilled` record whose base/quote currencies are the two
//! legs' currencies, preferring equal sizes, then the nearest `ts` within the window; each
//! record is used once. A leg without a partner stays a single-leg `trade` row, so every
//! bill is still represented exactly once.

use super::funding::{Funding, Pushed};
use super::trading::{Keyed, PAIR_WINDOW_MS};
use super::{Row, join_note};
use crate::model::{Account, Amount, Kind, Transaction};
use crate::okx::wire::{Convert, FundingBill};
use crate::store::RecordCursor;
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet, VecDeque};

const SOURCE: &str = "asset/bills";

/// One 272/273 bill waiting for its partner, with the row it becomes if none arrives.
pub(super) struct FiatLeg {
    pub bill: FundingBill,
    pub time: DateTime<Utc>,
    pub single: Row,
}

impl FiatLeg {
    fn pairs_with(&self, other: &FiatLeg) -> bool {
        let zero = Decimal::ZERO;
        self.bill.ccy != other.bill.ccy
            && ((self.bill.bal_chg > zero && other.bill.bal_chg < zero)
                || (self.bill.bal_chg < zero && other.bill.bal_chg > zero))
    }
}

/// The funding rows of a cursor, paired and re-ordered.
pub(super) struct FundingRows<'h, 'c> {
    pub fp: Funding<'h>,
    converts: &'c HashMap<String, Convert>,
    used: HashSet<String>,
    pending: VecDeque<FiatLeg>,
    heap: BinaryHeap<Reverse<Keyed>>,
    ready: VecDeque<Row>,
    finished: bool,
}

impl<'h, 'c> FundingRows<'h, 'c> {
    pub fn new(fp: Funding<'h>, converts: &'c HashMap<String, Convert>) -> FundingRows<'h, 'c> {
        FundingRows {
            fp,
            converts,
            used: HashSet::new(),
            pending: VecDeque::new(),
            heap: BinaryHeap::new(),
            ready: VecDeque::new(),
            finished: false,
        }
    }

    /// The next funding row in (time, id) order.
    pub fn next_row(&mut self, cursor: &mut dyn RecordCursor) -> anyhow::Result<Option<Row>> {
        loop {
            if let Some(row) = self.ready.pop_front() {
                return Ok(Some(row));
            }
            if self.finished {
                return Ok(None);
            }
            let Some(rec) = cursor.next_record()? else {
                self.finished = true;
                while let Some(leg) = self.pending.pop_front() {
                    self.queue(leg.single);
                }
                self.flush(None);
                continue;
            };
            let time = match self.fp.push(rec) {
                Pushed::Row(row) => {
                    let time = row.tx.time;
                    self.evict(time);
                    self.queue(row);
                    time
                }
                Pushed::Many(rows) => {
                    let time = rows.iter().map(|r| r.tx.time).min().unwrap_or_default();
                    self.evict(time);
                    for row in rows {
                        self.queue(row);
                    }
                    time
                }
                Pushed::Leg(leg) => {
                    let time = leg.time;
                    self.evict(time);
                    if let Some(i) = self.pending.iter().position(|p| p.pairs_with(&leg)) {
                        let first = self.pending.remove(i).expect("index");
                        let row = self.pair(first, leg);
                        self.queue(row);
                    } else {
                        self.pending.push_back(leg);
                    }
                    time
                }
            };
            let bound = self.pending.front().map_or(time, |l| l.time.min(time));
            self.flush(Some(bound.timestamp_millis()));
        }
    }

    fn queue(&mut self, row: Row) {
        self.heap.push(Reverse(Keyed::new(row)));
    }

    /// Moves queued rows older than `bound_ms` (all when `None`) to `ready`.
    fn flush(&mut self, bound_ms: Option<i64>) {
        while let Some(Reverse(top)) = self.heap.peek() {
            if bound_ms.is_some_and(|b| top.ms >= b) {
                break;
            }
            let Reverse(top) = self.heap.pop().expect("peeked");
            self.ready.push_back(top.row);
        }
    }

    /// Legs that waited longer than the window become single-leg rows.
    fn evict(&mut self, now: DateTime<Utc>) {
        let cutoff = now.timestamp_millis() - PAIR_WINDOW_MS;
        while self
            .pending
            .front()
            .is_some_and(|l| l.time.timestamp_millis() < cutoff)
        {
            let leg = self.pending.pop_front().expect("front");
            self.queue(leg.single);
        }
    }

    /// One `trade` row from the two legs: the id and time of the received leg, both bill ids
    /// in `source_id`, price/side/instrument/trade id from convert history when found.
    fn pair(&mut self, a: FiatLeg, b: FiatLeg) -> Row {
        let (recv, sent) = if a.bill.bal_chg > Decimal::ZERO {
            (a, b)
        } else {
            (b, a)
        };
        let id = format!("fb-{}", recv.bill.bill_id);
        let source_id = format!("{};{}", recv.bill.bill_id, sent.bill.bill_id);
        let mut tx = Transaction::new(id, recv.time, Account::Funding, Kind::Trade, SOURCE, source_id);
        tx.received = Some(Amount::new(recv.bill.bal_chg, &recv.bill.ccy));
        tx.sent = Some(Amount::new(-sent.bill.bal_chg, &sent.bill.ccy));
        let found = self.convert_of(&recv, &sent);
        let missing = found
            .is_none()
            .then(|| "no convert-history record found: price unknown".to_string());
        if let Some(c) = found {
            tx.instrument.clone_from(&c.inst_id);
            tx.price = c.fill_px;
            tx.side.clone_from(&c.side);
            tx.trade_id = Some(c.trade_id.clone());
        }
        let sent_notes = sent
            .bill
            .notes
            .clone()
            .filter(|n| recv.bill.notes.as_ref() != Some(n));
        tx.note = join_note([recv.bill.notes.clone(), sent_notes, missing]);
        Row {
            unmatched: tx.price.is_none(),
            ..Row::new(tx)
        }
    }

    /// The convert-history record of a fiat convert (see the module docs), marked used.
    fn convert_of(&mut self, recv: &FiatLeg, sent: &FiatLeg) -> Option<&'c Convert> {
        let (r_amt, s_amt) = (recv.bill.bal_chg, -sent.bill.bal_chg);
        let best = self
            .converts
            .values()
            .filter(|c| c.state.as_deref() == Some("fullyFilled") && !self.used.contains(&c.trade_id))
            .filter_map(|c| {
                let (base, quote) = (c.base_ccy.as_deref()?, c.quote_ccy.as_deref()?);
                let dt = (c.ts?.timestamp_millis() - recv.time.timestamp_millis()).abs();
                let (base_amt, quote_amt) = if base == recv.bill.ccy && quote == sent.bill.ccy {
                    (r_amt, s_amt)
                } else if base == sent.bill.ccy && quote == recv.bill.ccy {
                    (s_amt, r_amt)
                } else {
                    return None;
                };
                let sizes_differ = c.fill_base_sz != Some(base_amt) || c.fill_quote_sz != Some(quote_amt);
                (dt <= PAIR_WINDOW_MS).then_some(((sizes_differ, dt, &c.trade_id), c))
            })
            .min_by(|a, b| a.0.cmp(&b.0))
            .map(|(_, c)| c)?;
        self.used.insert(best.trade_id.clone());
        Some(best)
    }
}
