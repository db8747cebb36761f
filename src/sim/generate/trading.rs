//! What the generator makes in the trading account: spot fills, perpetual swaps and their
//! funding, futures and their delivery, converts (type 27) and Dual Investment orders.

use super::{Gen, Pos, SwapAct, ccy_dp, floor_dp};
use crate::sim::market::{FUT_CT_VAL, FUT_ID, SPOT, SWAP_CT_VAL, SWAP_ID, SpotDef};
use crate::sim::model::{FUNDING, SimFill, TRADING, TradingBill};
use rand::Rng;
use rust_decimal::Decimal;

/// One derivatives fill as the generator books it (see `Gen::derivative_fill`).
struct DerivativeFill {
    inst_type: &'static str,
    inst_id: &'static str,
    /// Settlement currency of the bill and the fee.
    ccy: &'static str,
    bill_type: &'static str,
    sub: &'static str,
    side: &'static str,
    exec: &'static str,
    contracts: i64,
    px: Decimal,
    pnl: Decimal,
    fee: Decimal,
    trade_id: i64,
    idx: Decimal,
    mark: Decimal,
}

impl Gen {
    /// Size in base currency for a spot order, or `None` when the account cannot afford it.
    pub(super) fn spot_size(&mut self, def: &SpotDef, buy: bool, px: Decimal) -> Option<Decimal> {
        let sz = if buy {
            let f = self.pct(3, 20);
            floor_dp(self.balance(TRADING, def.quote) * f / px, def.lot_dp)
        } else {
            let f = self.pct(10, 40);
            floor_dp(self.balance(TRADING, def.base) * f, def.lot_dp)
        };
        (sz >= Decimal::new(1, def.lot_dp)).then_some(sz)
    }

    /// One spot order with 1–3 fills. Returns false when it could not be placed.
    pub(super) fn spot(
        &mut self,
        ts: i64,
        inst: usize,
        buy: bool,
        fills: u8,
        maker: bool,
        sell_all: bool,
    ) -> bool {
        let def = SPOT[inst];
        let px0 = self.prices.pair(def.base, def.quote, ts, def.px_dp);
        let mut side_buy = buy;
        let sz = if sell_all {
            side_buy = false;
            Some(self.balance(TRADING, def.base)).filter(|b| *b > Decimal::ZERO)
        } else {
            self.spot_size(&def, buy, px0).or_else(|| {
                side_buy = !buy;
                self.spot_size(&def, !buy, px0)
            })
        };
        let Some(sz) = sz else { return false };
        let n = if sell_all { 1 } else { fills.max(1) };
        let part = floor_dp(sz / Decimal::from(n), def.lot_dp);
        let parts: Vec<Decimal> = if n == 1 || part < Decimal::new(1, def.lot_dp) {
            vec![sz]
        } else {
            let mut v = vec![part; n as usize - 1];
            v.push(sz - part * Decimal::from(n - 1));
            v
        };
        let ord_id = self.next_ord_id(ts);
        let exec = if maker { "M" } else { "T" };
        let rate = if maker {
            if self.rng.random_bool(0.2) {
                Decimal::new(5, 5)
            } else {
                Decimal::new(-8, 4)
            }
        } else {
            Decimal::new(-1, 3)
        };
        let tick = Decimal::new(1, def.px_dp);
        let mut t = ts;
        for part in parts {
            let px = (px0 + tick * Decimal::from(self.rng.random_range(-3..=3))).max(tick);
            let bts = self.at(t + 1);
            let quote_amt = part * px;
            let (recv_ccy, recv_amt, spent_ccy, spent_amt) = if side_buy {
                (def.base, part, def.quote, quote_amt)
            } else {
                (def.quote, quote_amt, def.base, part)
            };
            let fee = (recv_amt * rate).round_dp(12);
            let trade_id = self.next_trade_id(def.inst_id);
            let trade = |b: &mut TradingBill, sz: Decimal| {
                b.sz = sz;
                b.px = Some(px);
                b.pnl = Some(Decimal::ZERO);
                b.mgn_mode = "cash";
                b.inst_type = "SPOT";
                b.inst_id = def.inst_id;
                b.ord_id = Some(ord_id);
                b.exec_type = exec;
                b.trade_id = Some(trade_id);
                b.fill_time = Some(bts - 1);
                b.pos_bal = Some(Decimal::ZERO);
                b.pos_bal_chg = Some(Decimal::ZERO);
            };
            // OKX books the spent leg as subType 2 (sell) and the received leg as 1 (buy).
            let mut spent = self.trading_bill(bts, "2", "2", spent_ccy, -spent_amt);
            trade(&mut spent, spent_amt);
            spent.fee = Some(Decimal::ZERO);
            self.out.trading_bills.push(spent);
            let mut recv = self.trading_bill(bts, "2", "1", recv_ccy, recv_amt + fee);
            trade(&mut recv, recv_amt);
            recv.fee = Some(fee);
            let bill_id = recv.bill_id;
            self.out.trading_bills.push(recv);
            self.out.fills.push(SimFill {
                inst_type: "SPOT",
                inst_id: def.inst_id,
                trade_id,
                ord_id,
                cl_ord_id: String::new(),
                bill_id,
                sub_type: if side_buy { "1" } else { "2" },
                fill_px: px,
                fill_sz: part,
                fill_pnl: Decimal::ZERO,
                side: if side_buy { "buy" } else { "sell" },
                pos_side: "net",
                exec_type: exec,
                fee_ccy: recv_ccy,
                fee,
                fee_rate: Some(rate),
                fill_idx_px: None,
                fill_mark_px: None,
                ts: bts,
                fill_time: bts - 1,
                trade_quote_ccy: def.quote,
            });
            t = bts + self.rng.random_range(0..40);
        }
        true
    }

    pub(super) fn swap(&mut self, ts: i64, contracts: i64, act: SwapAct, maker: bool) {
        let idx = self.prices.usd("BTC", ts).round_dp(1);
        let tick = Decimal::new(1, 1);
        let mut px = idx + tick * Decimal::from(self.rng.random_range(-20..=20));
        let mark = idx + tick * Decimal::from(self.rng.random_range(-5..=5));
        let pos = self.swap.contracts;
        let ct = SWAP_CT_VAL;
        let mut bill_type = "2";
        let mut exec = if maker { "M" } else { "T" };
        let mut rate = if maker {
            Decimal::new(2, 4)
        } else {
            Decimal::new(5, 4)
        };
        let (n, sub, side, pnl) = match act {
            SwapAct::Open => {
                let n = contracts.abs();
                let avg = (self.swap.avg * Decimal::from(pos.abs()) + px * Decimal::from(n))
                    / Decimal::from(pos.abs() + n);
                self.swap = Pos {
                    contracts: pos + contracts,
                    avg: avg.round_dp(8),
                };
                if contracts > 0 {
                    (n, "3", "buy", Decimal::ZERO)
                } else {
                    (n, "4", "sell", Decimal::ZERO)
                }
            }
            SwapAct::Close | SwapAct::Liquidate => {
                if pos == 0 {
                    return;
                }
                let liq = matches!(act, SwapAct::Liquidate);
                let n = if liq {
                    pos.abs()
                } else {
                    contracts.abs().min(pos.abs())
                };
                let sign = Decimal::from(pos.signum());
                if liq {
                    // Liquidated 4 % beyond the entry price: always a loss.
                    px = (self.swap.avg * (Decimal::ONE - sign * Decimal::new(4, 2))).round_dp(1);
                    bill_type = "5";
                    exec = "";
                    rate = Decimal::new(1, 3);
                }
                let pnl = ((px - self.swap.avg) * Decimal::from(n) * ct * sign).round_dp(8);
                let left = pos - pos.signum() * n;
                self.swap = Pos {
                    contracts: left,
                    avg: if left == 0 { Decimal::ZERO } else { self.swap.avg },
                };
                let (sub, side) = match (liq, pos > 0) {
                    (false, true) => ("5", "sell"),
                    (false, false) => ("6", "buy"),
                    (true, true) => ("104", "sell"),
                    (true, false) => ("105", "buy"),
                };
                (n, sub, side, pnl)
            }
        };
        let fee = -(Decimal::from(n) * ct * px * rate).round_dp(8);
        let trade_id = if bill_type == "5" {
            self.liq_trade_id -= 1 + self.rng.random_range(0..50);
            self.liq_trade_id - 100_000
        } else {
            self.next_trade_id(SWAP_ID)
        };
        self.derivative_fill(
            ts,
            DerivativeFill {
                inst_type: "SWAP",
                inst_id: SWAP_ID,
                ccy: "USDT",
                bill_type,
                sub,
                side,
                exec,
                contracts: n,
                px,
                pnl,
                fee,
                trade_id,
                idx,
                mark,
            },
        );
    }

    /// Books one derivatives fill: its bill in the settlement currency (balChg = pnl + fee)
    /// and the fill pointing at that bill.
    fn derivative_fill(&mut self, ts: i64, f: DerivativeFill) {
        let ord_id = self.next_ord_id(ts);
        let bts = self.at(ts + 1);
        let mut b = self.trading_bill(bts, f.bill_type, f.sub, f.ccy, f.pnl + f.fee);
        b.sz = Decimal::from(f.contracts);
        b.px = Some(f.px);
        b.pnl = Some(f.pnl);
        b.fee = Some(f.fee);
        b.mgn_mode = "cross";
        b.inst_type = f.inst_type;
        b.inst_id = f.inst_id;
        b.ord_id = Some(ord_id);
        b.exec_type = f.exec;
        b.trade_id = Some(f.trade_id);
        b.fill_time = Some(bts - 1);
        b.fill_idx_px = Some(f.idx);
        b.fill_mark_px = Some(f.mark);
        b.pos_bal = Some(Decimal::ZERO);
        b.pos_bal_chg = Some(Decimal::ZERO);
        let bill_id = b.bill_id;
        self.out.trading_bills.push(b);
        self.out.fills.push(SimFill {
            inst_type: f.inst_type,
            inst_id: f.inst_id,
            trade_id: f.trade_id,
            ord_id,
            cl_ord_id: String::new(),
            bill_id,
            sub_type: f.sub,
            fill_px: f.px,
            fill_sz: Decimal::from(f.contracts),
            fill_pnl: f.pnl,
            side: f.side,
            pos_side: "net",
            exec_type: f.exec,
            fee_ccy: f.ccy,
            fee: f.fee,
            fee_rate: None,
            fill_idx_px: Some(f.idx),
            fill_mark_px: Some(f.mark),
            ts: bts,
            fill_time: bts - 1,
            trade_quote_ccy: "",
        });
    }

    pub(super) fn swap_funding(&mut self, ts: i64) {
        let pos = self.swap.contracts;
        if pos == 0 {
            return;
        }
        let mark = self.prices.usd("BTC", ts).round_dp(1);
        let k = self.rng.random_range(1..=30);
        let rate = Decimal::new(if self.rng.random_bool(0.75) { k } else { -k }, 5);
        let pnl = -(Decimal::from(pos) * SWAP_CT_VAL * mark * rate).round_dp(8);
        if pnl.is_zero() {
            return;
        }
        let sub = if pnl < Decimal::ZERO { "173" } else { "174" };
        let t = self.at(ts);
        let mut b = self.trading_bill(t, "8", sub, "USDT", pnl);
        b.sz = Decimal::from(pos.abs());
        b.px = Some(mark);
        b.pnl = Some(pnl);
        b.fee = Some(Decimal::ZERO);
        b.mgn_mode = "cross";
        b.inst_type = "SWAP";
        b.inst_id = SWAP_ID;
        b.pos_bal = Some(Decimal::ZERO);
        b.pos_bal_chg = Some(Decimal::ZERO);
        self.out.trading_bills.push(b);
    }

    pub(super) fn futures(&mut self, ts: i64, contracts: i64, close: bool, maker: bool) {
        let idx = self.prices.usd("BTC", ts).round_dp(1);
        let px = (idx * Decimal::new(1002, 3)).round_dp(1) + Decimal::new(self.rng.random_range(-20..=20), 1);
        let ct = Decimal::from(FUT_CT_VAL);
        let inv = Decimal::ONE / px;
        let pos = self.fut.contracts;
        let (n, sub, side, pnl) = if !close {
            let n = contracts.abs();
            let avg = (self.fut.avg * Decimal::from(pos.abs()) + inv * Decimal::from(n))
                / Decimal::from(pos.abs() + n);
            self.fut = Pos {
                contracts: pos + contracts,
                avg: avg.round_dp(20),
            };
            if contracts > 0 {
                (n, "3", "buy", Decimal::ZERO)
            } else {
                (n, "4", "sell", Decimal::ZERO)
            }
        } else {
            if pos == 0 {
                return;
            }
            let n = contracts.abs().min(pos.abs());
            let sign = Decimal::from(pos.signum());
            let pnl = ((self.fut.avg - inv) * Decimal::from(n) * ct * sign).round_dp(8);
            self.fut.contracts = pos - pos.signum() * n;
            if pos > 0 {
                (n, "5", "sell", pnl)
            } else {
                (n, "6", "buy", pnl)
            }
        };
        let rate = if maker {
            Decimal::new(2, 4)
        } else {
            Decimal::new(5, 4)
        };
        let fee = -(Decimal::from(n) * ct * inv * rate).round_dp(8);
        let exec = if maker { "M" } else { "T" };
        let trade_id = self.next_trade_id(FUT_ID);
        self.derivative_fill(
            ts,
            DerivativeFill {
                inst_type: "FUTURES",
                inst_id: FUT_ID,
                ccy: "BTC",
                bill_type: "2",
                sub,
                side,
                exec,
                contracts: n,
                px,
                pnl,
                fee,
                trade_id,
                idx,
                mark: px,
            },
        );
    }

    pub(super) fn delivery(&mut self, ts: i64) {
        let pos = self.fut.contracts;
        if pos == 0 {
            return;
        }
        let px = self.prices.usd("BTC", ts).round_dp(1);
        let ct = Decimal::from(FUT_CT_VAL);
        let sign = Decimal::from(pos.signum());
        let pnl = ((self.fut.avg - Decimal::ONE / px) * Decimal::from(pos.abs()) * ct * sign).round_dp(8);
        let t = self.at(ts);
        let sub = if pos > 0 { "112" } else { "113" };
        let mut b = self.trading_bill(t, "3", sub, "BTC", pnl);
        b.sz = Decimal::from(pos.abs());
        b.px = Some(px);
        b.pnl = Some(pnl);
        b.fee = Some(Decimal::ZERO);
        b.mgn_mode = "cross";
        b.inst_type = "FUTURES";
        b.inst_id = FUT_ID;
        b.pos_bal = Some(Decimal::ZERO);
        b.pos_bal_chg = Some(Decimal::ZERO);
        self.out.trading_bills.push(b);
        self.fut = Pos::default();
    }

    pub(super) fn convert(&mut self, ts: i64, i: usize) {
        let c = self.out.converts[i].clone();
        let spread = Decimal::new(self.rng.random_range(-20..=20), 4);
        let px = (self.prices.pair(c.base_ccy, c.quote_ccy, ts, 4) * (Decimal::ONE + spread)).round_dp(4);
        let sizes = |g: &mut Gen, buy: bool| -> Option<(Decimal, Decimal)> {
            let (base, quote) = if buy {
                let f = g.pct(2, 10);
                let quote = floor_dp(g.balance(TRADING, c.quote_ccy) * f, 4);
                (floor_dp(quote / px, 8), quote)
            } else {
                let f = g.pct(5, 25);
                let base = floor_dp(g.balance(TRADING, c.base_ccy) * f, 8);
                (base, floor_dp(base * px, 4))
            };
            (base > Decimal::ZERO && quote > Decimal::ZERO).then_some((base, quote))
        };
        let mut buy = c.side == "buy";
        let amounts = sizes(self, buy).or_else(|| {
            buy = !buy;
            sizes(self, buy)
        });
        let mut rec = c;
        rec.fill_px = px;
        rec.side = if buy { "buy" } else { "sell" };
        let Some((base, quote)) = amounts else {
            rec.state = "rejected";
            rec.fill_base_sz = Decimal::ZERO;
            rec.fill_quote_sz = Decimal::ZERO;
            self.out.converts[i] = rec;
            return;
        };
        rec.fill_base_sz = base;
        rec.fill_quote_sz = quote;
        let (out_ccy, out_amt, in_ccy, in_amt) = if buy {
            (rec.quote_ccy, quote, rec.base_ccy, base)
        } else {
            (rec.base_ccy, base, rec.quote_ccy, quote)
        };
        let t = self.at(ts);
        for (sub, ccy, chg) in [("319", out_ccy, -out_amt), ("318", in_ccy, in_amt)] {
            let mut b = self.trading_bill(t, "27", sub, ccy, chg);
            b.px = Some(px);
            b.fee = Some(Decimal::ZERO);
            b.pnl = Some(Decimal::ZERO);
            b.trade_id = Some(rec.trade_id as i64);
            self.out.trading_bills.push(b);
        }
        self.out.converts[i] = rec;
    }

    /// Subscribes a tenth of the funding balance of the notional currency at a strike 3 %
    /// below (put) or above (call) the price.
    pub(super) fn dcd_subscribe(&mut self, ts: i64, i: usize) {
        let o = self.out.dcd_orders[i].clone();
        let px = self.prices.usd(o.base_ccy, ts);
        let put = o.opt_type == "P";
        let strike = if put {
            px * Decimal::new(97, 2)
        } else {
            px * Decimal::new(103, 2)
        }
        .round_dp(0);
        let notional = floor_dp(
            self.balance(FUNDING, o.notional_ccy) / Decimal::TEN,
            ccy_dp(o.notional_ccy),
        );
        let t = self.at(ts);
        let o = &mut self.out.dcd_orders[i];
        o.strike = strike;
        o.notional_sz = notional;
        o.c_time = t;
        let expiry = chrono::DateTime::from_timestamp_millis(o.settle_time).unwrap_or_default();
        o.product_id = format!(
            "{}-USDT-{}-{}-{}",
            o.base_ccy,
            expiry.format("%y%m%d"),
            strike,
            o.opt_type
        );
        if notional > Decimal::ZERO {
            let ccy = self.out.dcd_orders[i].notional_ccy;
            self.funding_bill(t, "160", ccy, -notional, "Dual investment subscribe");
        }
    }

    /// Settles: the `converted` orders (odd `settle_time`: no) exchange the notional at the
    /// strike; the yield is paid in the settle currency.
    pub(super) fn dcd_settle(&mut self, ts: i64, i: usize) {
        let o = self.out.dcd_orders[i].clone();
        if o.notional_sz.is_zero() {
            return;
        }
        let converted = o.settle_time == ts;
        let put = o.opt_type == "P";
        let other = if put { o.base_ccy } else { o.quote_ccy };
        let (settle_ccy, settle_sz, settle_px) = match (converted, put) {
            (true, true) => (
                other,
                floor_dp(o.notional_sz / o.strike, 8),
                o.strike * Decimal::new(98, 2),
            ),
            (true, false) => (
                other,
                floor_dp(o.notional_sz * o.strike, 4),
                o.strike * Decimal::new(102, 2),
            ),
            (false, true) => (o.notional_ccy, o.notional_sz, o.strike * Decimal::new(101, 2)),
            (false, false) => (o.notional_ccy, o.notional_sz, o.strike * Decimal::new(99, 2)),
        };
        // 7 days of the annualized yield.
        let dp = ccy_dp(settle_ccy);
        let yield_sz = floor_dp(
            settle_sz * o.annualized_yield * Decimal::from(7) / Decimal::from(365),
            dp,
        );
        let t = self.at(ts);
        let o = &mut self.out.dcd_orders[i];
        o.settle_ccy = settle_ccy;
        o.settle_sz = settle_sz;
        o.settle_px = settle_px.round_dp(2);
        o.yield_sz = yield_sz;
        o.settle_time = t;
        self.funding_bill(t, "161", settle_ccy, settle_sz, "Dual investment collection");
        if yield_sz > Decimal::ZERO {
            self.funding_bill(t, "162", settle_ccy, yield_sz, "Dual investment profit");
        }
    }
}
