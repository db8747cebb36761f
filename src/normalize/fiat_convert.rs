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
//! legs' currencies and exactly the legs' sizes, the nearest `ts` within the window; each
//! record is used once. A record of the two currencies with other sizes gives no price: the
//! pair is unmatched and its note names the record.
//!
//! Several converts in one millisecond are told apart by those records (issue 19): a leg
//! waits until every bill within the window has been read, then pairs with the leg whose
//! record has both their sizes; only without one does it pair with the oldest compatible
//! leg that has no such record with another leg. A leg without a partner stays a
//! single-leg `trade` row, so every bill is still represented exactly once.

use super::funding::{FiatLeg, Funding, Pushed};
use super::trading::{Keyed, PAIR_WINDOW_MS};
use super::{Row, join_note};
use crate::model::{Account, Amount, Kind, Transaction};
use crate::okx::wire::Convert;
use crate::store::RecordCursor;
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet, VecDeque};

const SOURCE: &str = "asset/bills";

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
                while !self.pending.is_empty() {
                    self.resolve_front();
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
                    self.pending.push_back(leg);
                    time
                }
            };
            let bound = self.pending.front().map_or(time, |l| l.time.min(time));
            self.flush(Some(bound.timestamp_millis()));
        }
    }

    /// Unused `fullyFilled` records of the currencies of `a` and `b` within the window of
    /// `recv_time`, with the legs' amounts as (base, quote).
    fn records_of<'s>(
        &'s self,
        recv: &'s FiatLeg,
        sent: &'s FiatLeg,
    ) -> impl Iterator<Item = (&'c Convert, (Decimal, Decimal), i64)> + 's {
        let (r_amt, s_amt) = (recv.bill.bal_chg.abs(), sent.bill.bal_chg.abs());
        self.converts
            .values()
            .filter(|c| c.state.as_deref() == Some("fullyFilled") && !self.used.contains(&c.trade_id))
            .filter_map(move |c| {
                let (base, quote) = (c.base_ccy.as_deref()?, c.quote_ccy.as_deref()?);
                let dt = (c.ts?.timestamp_millis() - recv.time.timestamp_millis()).abs();
                let amounts = if base == recv.bill.ccy && quote == sent.bill.ccy {
                    (r_amt, s_amt)
                } else if base == sent.bill.ccy && quote == recv.bill.ccy {
                    (s_amt, r_amt)
                } else {
                    return None;
                };
                (dt <= PAIR_WINDOW_MS).then_some((c, amounts, dt))
            })
    }

    /// The nearest unused record whose sizes are exactly the two legs' amounts.
    fn sized_record(&self, a: &FiatLeg, b: &FiatLeg) -> Option<&'c Convert> {
        self.records_of(a, b)
            .filter(|(c, (base, quote), _)| c.fill_base_sz == Some(*base) && c.fill_quote_sz == Some(*quote))
            .min_by_key(|(c, _, dt)| (*dt, &c.trade_id))
            .map(|(c, _, _)| c)
    }

    /// Whether a waiting leg other than `leg` within the window has a record with `leg`.
    fn has_sized_partner(&self, leg: &FiatLeg) -> bool {
        self.pending
            .iter()
            .any(|q| !std::ptr::eq(q, leg) && leg.within_window(q) && self.sized_record(leg, q).is_some())
    }

    /// Pairs the oldest waiting leg, whose every possible partner has arrived (see the
    /// module docs), or makes it a single-leg row.
    fn resolve_front(&mut self) {
        let Some(first) = self.pending.pop_front() else {
            return;
        };
        let fits = |p: &FiatLeg| first.within_window(p);
        let pick = self
            .pending
            .iter()
            .position(|p| fits(p) && self.sized_record(&first, p).is_some())
            .or_else(|| {
                self.pending
                    .iter()
                    .position(|p| fits(p) && !self.has_sized_partner(p))
            });
        match pick {
            Some(i) => {
                let other = self.pending.remove(i).expect("index");
                let row = self.pair(first, other);
                self.queue(row);
            }
            None => self.queue(first.single),
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

    /// Legs whose window has passed (every leg that could pair with them has arrived) are
    /// paired or become single-leg rows.
    fn evict(&mut self, now: DateTime<Utc>) {
        let cutoff = now.timestamp_millis() - PAIR_WINDOW_MS;
        while self
            .pending
            .front()
            .is_some_and(|l| l.time.timestamp_millis() < cutoff)
        {
            self.resolve_front();
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
        let missing = match &found {
            Ok(_) => None,
            Err(why) => Some(why.clone()),
        };
        if let Ok(c) = found {
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

    /// The convert-history record of a fiat convert (see the module docs), marked used: the
    /// one with both legs' sizes; a record of the same currencies with other sizes gives no
    /// price (the error says which), nor does none.
    fn convert_of(&mut self, recv: &FiatLeg, sent: &FiatLeg) -> Result<&'c Convert, String> {
        if let Some(c) = self.sized_record(recv, sent) {
            self.used.insert(c.trade_id.clone());
            return Ok(c);
        }
        let other = self
            .records_of(recv, sent)
            .min_by_key(|(c, _, dt)| (*dt, &c.trade_id))
            .map(|(c, _, _)| c);
        Err(match other {
            Some(c) => format!(
                "convert-history record {} has other sizes ({} {} / {} {}) than these bills: price unknown",
                c.trade_id,
                c.fill_base_sz.map(crate::model::plain).unwrap_or_default(),
                c.base_ccy.as_deref().unwrap_or_default(),
                c.fill_quote_sz.map(crate::model::plain).unwrap_or_default(),
                c.quote_ccy.as_deref().unwrap_or_default(),
            ),
            None => "no convert-history record found: price unknown".to_string(),
        })
    }
}
