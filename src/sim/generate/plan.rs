//! The *plan* phase of the generator: every event of the account gets its time, the records
//! whose existence does not depend on balances (deposits, withdrawals, converts) are
//! created, same-millisecond groups are placed at the page boundaries, and all is sorted.

use super::funding::{HEX, chain_fee, confirmations};
use super::{
    END_MS, Ev, GROUP_FIRST, GROUP_LAST, Gen, HOUR_MS, MIN_MS, Plan, RETRY_AFTER_MS, SwapAct,
    clear_of_window_edges, seed_part, snowflake, sort_and_group,
};
use crate::sim::market::{DAY_MS, FUT_EXPIRY_MS, LUNC};
use crate::sim::model::{SimConvert, SimDcdOrder};
use rand::Rng;
use rust_decimal::Decimal;

impl Gen {
    /// Phase 1: all events with their times, in processing order.
    pub(super) fn plan(&mut self, p: &Plan, unknown: bool) -> Vec<(i64, Ev)> {
        let mut evs: Vec<(i64, Ev)> = Vec::new();
        let ccys4 = ["USDT", "BTC", "ETH", "SOL"];

        // Deposits: seeds first, then regular ones, pending ones at the end, one blacklisted.
        let mut deposits = Vec::new();
        for (i, (m, s)) in p.seeds.iter().enumerate() {
            let ts = p.start + (10 + 5 * i as i64) * MIN_MS + self.between(0, 60_000);
            let mut d = self.new_deposit(ts, ccys4[i], Decimal::new(*m, *s), "2");
            d.dep_type = "4";
            if d.to.is_empty() {
                d.to = self.address(d.chain);
                d.tx_id = self.tx_id(d.chain);
                d.from.clear();
                d.actual_dep_blk_confirm = confirmations(d.chain);
            }
            deposits.push(d);
        }
        let dep_weights = [("USDT", 50), ("BTC", 20), ("ETH", 20), ("SOL", 10)];
        for _ in 0..p.deposits {
            let ts = self.between(p.start + DAY_MS, END_MS - HOUR_MS);
            let ccy = self.pick_ccy(&dep_weights);
            let amt = self.deposit_amount(ccy);
            let d = self.new_deposit(ts, ccy, amt, "2");
            deposits.push(d);
        }
        for (state, lo, hi) in [("0", 10, 120), ("0", 5, 90), ("1", 30, 180)] {
            let ts = END_MS - self.rng.random_range(lo..hi) * MIN_MS;
            let ccy = self.pick_ccy(&dep_weights);
            let amt = self.deposit_amount(ccy);
            let d = self.new_deposit(ts, ccy, amt, state);
            deposits.push(d);
        }
        let ts = self.between(p.start + 10 * DAY_MS, END_MS - 10 * DAY_MS);
        let amt = self.deposit_amount("USDT");
        let d = self.new_deposit(ts, "USDT", amt, "11");
        deposits.push(d);
        sort_and_group(&mut deposits);
        for d in &mut deposits {
            self.next_dep_id += self.rng.random_range(1..5000);
            d.dep_id = self.next_dep_id;
        }
        for (i, d) in deposits.iter().enumerate() {
            if d.state == "2" {
                let at = d.ts + self.rng.random_range(2 * MIN_MS..15 * MIN_MS);
                evs.push((at, Ev::DepositCredit(i)));
            }
        }
        self.out.deposits = deposits;

        // Withdrawals: final ones get their amount when applied (from the balance then).
        let wd_weights = [("USDT", 55), ("BTC", 15), ("ETH", 20), ("SOL", 10)];
        let mut wds = Vec::new();
        for _ in 0..p.withdrawals {
            let ts = self.between(p.start + 2 * DAY_MS, END_MS - HOUR_MS);
            let ccy = self.pick_ccy(&wd_weights);
            let w = self.new_withdrawal(ts, ccy, "2");
            wds.push(w);
        }
        for state in ["-1", "-1", "-2", "-2"] {
            let ts = self.between(p.start + 5 * DAY_MS, END_MS - 5 * DAY_MS);
            let ccy = self.pick_ccy(&wd_weights);
            let w = self.new_withdrawal(ts, ccy, state);
            wds.push(w);
        }
        for (state, lo, hi) in [("0", 10, 100), ("4", 60, 300)] {
            let ts = END_MS - self.rng.random_range(lo..hi) * MIN_MS;
            let ccy = self.pick_ccy(&wd_weights);
            let w = self.new_withdrawal(ts, ccy, state);
            wds.push(w);
        }
        // A withdrawal canceled after its debit and retried 15 s later: the canceled record
        // holds the balance (debit), a type-13 bill returns it, the retry debits again.
        // (Late enough not to fall into the same-ms group at the 100-record page boundary.)
        let retry_at = p.start + 150 * DAY_MS + 11 * HOUR_MS;
        let mut canceled = self.new_withdrawal(retry_at, "USDT", "-2");
        canceled.wd_type = "4";
        canceled.chain = "USDT-TRC20";
        canceled.fee = chain_fee(canceled.chain);
        canceled.to = self.address(canceled.chain);
        let mut retried = canceled.clone();
        retried.state = "2";
        retried.ts = retry_at + RETRY_AFTER_MS;
        retried.tx_id = self.tx_id(retried.chain);
        wds.push(canceled);
        wds.push(retried);
        sort_and_group(&mut wds);
        for w in &mut wds {
            self.next_wd_id += self.rng.random_range(1..5000);
            w.wd_id = self.next_wd_id;
        }
        let retry = |ts: i64| ts == retry_at || ts == retry_at + RETRY_AFTER_MS;
        let canceled = wds.iter().position(|w| w.state == "-2" && w.ts == retry_at);
        for (i, w) in wds.iter().enumerate() {
            if w.state == "2" && !retry(w.ts) {
                let at = w.ts + self.rng.random_range(200..3000);
                evs.push((at, Ev::WithdrawalDebit(i)));
            }
        }
        let retried = wds
            .iter()
            .position(|w| w.state == "2" && w.ts == retry_at + RETRY_AFTER_MS);
        if let (Some(canceled), Some(retried)) = (canceled, retried) {
            evs.push((retry_at + 500, Ev::RetryHold { canceled, retried }));
            evs.push((retry_at + 8_000, Ev::RetryRefund(canceled)));
            evs.push((retry_at + RETRY_AFTER_MS + 500, Ev::RetryDebit(retried)));
        }
        self.out.withdrawals = wds;

        // Converts (trading account): the pair and side are planned, amounts come later.
        let pairs = [("BTC-USDT", "BTC"), ("ETH-USDT", "ETH"), ("SOL-USDT", "SOL")];
        let mut converts = Vec::new();
        for i in 0..p.converts + 2 {
            let ts = self.between(p.start + 2 * DAY_MS, END_MS - HOUR_MS);
            let (inst_id, base) = pairs[self.rng.random_range(0..pairs.len())];
            let side = if self.rng.random_bool(0.5) { "buy" } else { "sell" };
            let rejected = i >= p.converts;
            let fill_px = self.prices.pair(base, "USDT", ts, 4);
            let fill_base_sz = if rejected {
                self.rdec(1, 100, 3)
            } else {
                Decimal::ZERO
            };
            let cl = if self.rng.random_bool(0.3) {
                self.chars(HEX, 32)
            } else {
                String::new()
            };
            converts.push(SimConvert {
                trade_id: 0,
                cl_t_req_id: cl,
                state: if rejected { "rejected" } else { "fullyFilled" },
                inst_id,
                base_ccy: base,
                quote_ccy: "USDT",
                side,
                fill_px,
                fill_base_sz,
                fill_quote_sz: (fill_base_sz * fill_px).round_dp(4),
                ts,
            });
        }
        sort_and_group(&mut converts);
        for c in &mut converts {
            self.next_convert_id += self.rng.random_range(1..50_000);
            c.trade_id = self.next_convert_id;
        }
        // Crypto↔fiat converts in the funding account: BTC sold for EUR from the first
        // deposit, and the EUR bought back into BTC three weeks later. Their ids come from
        // their own range and they draw nothing from the generator, so the rest of the
        // account does not shift.
        let fiat_id = 1_190_000_000 + seed_part(self.next_convert_id);
        for (k, (at, side)) in [
            (p.start + 45 * MIN_MS, "sell"),
            (p.start + 20 * DAY_MS + 7 * HOUR_MS, "buy"),
        ]
        .into_iter()
        .enumerate()
        {
            converts.push(SimConvert {
                trade_id: fiat_id + k as u64,
                cl_t_req_id: String::new(),
                state: "fullyFilled",
                inst_id: "BTC-EUR",
                base_ccy: "BTC",
                quote_ccy: "EUR",
                side,
                fill_px: Decimal::ZERO,
                fill_base_sz: Decimal::ZERO,
                fill_quote_sz: Decimal::ZERO,
                ts: at,
            });
        }
        converts.sort_by_key(|c| c.ts);
        for (i, c) in converts.iter().enumerate() {
            if c.quote_ccy == "EUR" {
                evs.push((c.ts, Ev::FiatConvert(i)));
            } else if c.state == "fullyFilled" {
                evs.push((c.ts, Ev::Convert(i)));
            }
        }
        self.out.converts = converts;

        // Dual Investment: a BTC "buy low" settled in BTC (converted), an ETH "sell high"
        // settled in USDT (converted), a BTC "buy low" settled unconverted. Amounts come
        // from the balances when subscribed; nothing here draws from the generator.
        let dcd: [(i64, &'static str, &'static str, bool); 3] = [
            (40, "BTC", "P", true),
            (75, "ETH", "C", true),
            (110, "BTC", "P", false),
        ];
        for (k, (day, base, opt, converted)) in dcd.into_iter().enumerate() {
            let c_time = p.start + day * DAY_MS + 9 * HOUR_MS;
            let settle_time = c_time + 7 * DAY_MS - HOUR_MS;
            self.out.dcd_orders.push(SimDcdOrder {
                ord_id: snowflake(c_time) + k as u64,
                product_id: String::new(),
                base_ccy: base,
                quote_ccy: "USDT",
                opt_type: opt,
                notional_ccy: if opt == "P" { "USDT" } else { base },
                notional_sz: Decimal::ZERO,
                strike: Decimal::ZERO,
                annualized_yield: Decimal::new(if converted { 45 } else { 18 }, 2),
                settle_px: Decimal::ZERO,
                settle_ccy: "",
                settle_sz: Decimal::ZERO,
                yield_sz: Decimal::ZERO,
                c_time,
                settle_time: if converted { settle_time } else { settle_time + 1 },
            });
            evs.push((c_time, Ev::DcdSubscribe(k)));
            evs.push((settle_time, Ev::DcdSettle(k)));
        }

        // Transfers: the first ones stock the trading account, then random both ways.
        let mut transfer = |g: &mut Gen, ts: i64, to_trading: bool, ccy: &'static str| {
            let slot = g.slots.len();
            g.slots.push((ccy, Decimal::ZERO));
            let delta = g.rng.random_range(20..400);
            evs.push((
                ts,
                Ev::TransferOut {
                    slot,
                    to_trading,
                    ccy,
                },
            ));
            evs.push((ts + delta, Ev::TransferIn { slot, to_trading }));
        };
        for (i, ccy) in ccys4.iter().enumerate() {
            transfer(self, p.start + HOUR_MS + i as i64 * 5 * MIN_MS, true, ccy);
        }
        let tr_weights = [("USDT", 60), ("BTC", 15), ("ETH", 15), ("SOL", 10)];
        for _ in 0..p.transfers {
            let ts = self.between(p.start + DAY_MS, END_MS - HOUR_MS);
            let to_trading = self.rng.random_bool(0.6);
            let ccy = self.pick_ccy(&tr_weights);
            transfer(self, ts, to_trading, ccy);
        }

        // Spot orders, mostly recent (fills-history reaches 90 days back).
        let inst_weights = [(0usize, 35u32), (1, 25), (2, 20), (3, 12), (4, 8)];
        let ranges = [
            (p.spot_old, p.start + 3 * HOUR_MS, END_MS - 90 * DAY_MS),
            (p.spot_recent, END_MS - 88 * DAY_MS, END_MS - 3 * DAY_MS),
            (p.spot_last3d, END_MS - 70 * HOUR_MS, END_MS - MIN_MS),
        ];
        for (n, from, to) in ranges {
            for _ in 0..n {
                let ts = self.between(from, to);
                let mut r = self.rng.random_range(0..100u32);
                let mut inst = 0;
                for (i, w) in inst_weights {
                    if r < w {
                        inst = i;
                        break;
                    }
                    r -= w;
                }
                let buy = self.rng.random_bool(0.55);
                let fills = match self.rng.random_range(0..10) {
                    0..=6 => 1,
                    7..=8 => 2,
                    _ => 3,
                };
                let maker = self.rng.random_bool(0.4);
                evs.push((
                    ts,
                    Ev::Spot {
                        inst,
                        buy,
                        fills,
                        maker,
                        sell_all: false,
                    },
                ));
            }
        }
        // The delisted pair: bought, then sold out before it was delisted.
        let lunc_end = 1_758_326_400_000; // 2025-09-20
        let mut lunc_ts: Vec<i64> = (0..p.lunc)
            .map(|_| self.between(p.start + 4 * DAY_MS, lunc_end))
            .collect();
        lunc_ts.sort_unstable();
        for (i, ts) in lunc_ts.iter().enumerate() {
            let buy = i < p.lunc / 2;
            let sell_all = i + 1 == p.lunc;
            let maker = self.rng.random_bool(0.3);
            evs.push((
                *ts,
                Ev::Spot {
                    inst: LUNC,
                    buy,
                    fills: 1,
                    maker,
                    sell_all,
                },
            ));
        }

        // Perpetual swap sessions; the last one stays open (funding fees up to the end).
        let from = p.start + 2 * DAY_MS;
        let n = p.swap_sessions.max(1);
        let slot = (END_MS - from) / n as i64;
        let liq: Vec<usize> = (0..p.liquidations)
            .map(|j| (j + 1) * n / (p.liquidations + 1))
            .collect();
        for i in 0..n {
            let open_t = from + i as i64 * slot + self.between(0, slot / 4);
            let last = i + 1 == n;
            let close_t = if last {
                END_MS - MIN_MS
            } else {
                open_t + self.between(slot / 8, slot * 3 / 4)
            };
            let dir = if self.rng.random_bool(0.5) { 1 } else { -1 };
            let open_end = open_t + (close_t - open_t) / 3;
            let mut total = 0;
            for k in 0..self.rng.random_range(1..=3) {
                let t = if k == 0 {
                    open_t
                } else {
                    self.between(open_t + 1, open_end)
                };
                let c = self.rng.random_range(1..=8);
                total += c;
                let maker = self.rng.random_bool(0.3);
                evs.push((
                    t,
                    Ev::Swap {
                        contracts: dir * c,
                        act: SwapAct::Open,
                        maker,
                    },
                ));
            }
            if !last {
                if liq.contains(&i) {
                    let act = SwapAct::Liquidate;
                    evs.push((
                        close_t,
                        Ev::Swap {
                            contracts: total,
                            act,
                            maker: false,
                        },
                    ));
                } else {
                    if total >= 2 && self.rng.random_bool(0.5) {
                        let part = self.rng.random_range(1..total);
                        total -= part;
                        let t = self.between(open_end + 1, close_t);
                        let maker = self.rng.random_bool(0.3);
                        evs.push((
                            t,
                            Ev::Swap {
                                contracts: part,
                                act: SwapAct::Close,
                                maker,
                            },
                        ));
                    }
                    let maker = self.rng.random_bool(0.3);
                    evs.push((
                        close_t,
                        Ev::Swap {
                            contracts: total,
                            act: SwapAct::Close,
                            maker,
                        },
                    ));
                }
            }
            let period = 8 * HOUR_MS;
            let mut mark = (open_t / period + 1) * period;
            while mark < close_t {
                let t = clear_of_window_edges(mark + self.rng.random_range(0..300));
                evs.push((t, Ev::SwapFunding));
                mark += period;
            }
        }

        // The expired inverse future: opened in October, partly closed, delivered.
        let fut_open = 1_759_363_200_000; // 2025-10-02
        let dir = if self.rng.random_bool(0.5) { 1 } else { -1 };
        let mut total = 0;
        for _ in 0..3 {
            let t = self.between(fut_open, fut_open + 8 * DAY_MS);
            let c = self.rng.random_range(5..=30);
            total += c;
            let maker = self.rng.random_bool(0.3);
            evs.push((
                t,
                Ev::Futures {
                    contracts: dir * c,
                    close: false,
                    maker,
                },
            ));
        }
        let close_from = 1_762_300_800_000; // 2025-11-05
        for _ in 0..2 {
            let t = self.between(close_from, close_from + 30 * DAY_MS);
            let maker = self.rng.random_bool(0.3);
            evs.push((
                t,
                Ev::Futures {
                    contracts: total / 4,
                    close: true,
                    maker,
                },
            ));
        }
        evs.push((FUT_EXPIRY_MS, Ev::Delivery));

        // Monthly margin interest.
        let month_starts = [
            1_754_006_400_000i64, // 2025-08-01
            1_756_684_800_000,
            1_759_276_800_000,
            1_761_955_200_000,
            1_764_547_200_000,
            1_767_225_600_000,
            1_769_904_000_000, // 2026-02-01
        ];
        for m in month_starts {
            let t = m + self.between(0, 2 * HOUR_MS);
            evs.push((t, Ev::Interest));
        }

        // Earn and other funding income.
        let first_sub = p.start + 2 * DAY_MS + self.between(0, DAY_MS);
        evs.push((first_sub, Ev::EarnSubscribe));
        for _ in 1..p.earn_subs {
            let t = self.between(p.start + 3 * DAY_MS, END_MS - DAY_MS);
            evs.push((t, Ev::EarnSubscribe));
        }
        for _ in 0..p.earn_redeems {
            let t = self.between(p.start + 4 * DAY_MS, END_MS - DAY_MS);
            evs.push((t, Ev::EarnRedeem));
        }
        let incomes: [(usize, &str, &[&'static str], i64); 5] = [
            (p.lend_interest, "400", &["USDT"], 4),
            (p.staking, "83", &["ETH", "SOL"], 5),
            (p.airdrops, "229", &["OKB"], 1),
            (p.referrals, "151", &["USDT"], 1),
            (p.rebates, "68", &["USDT"], 1),
        ];
        for (n, ty, ccys, from_days) in incomes {
            for _ in 0..n {
                let t = self.between(p.start + from_days * DAY_MS, END_MS - HOUR_MS);
                let ccy = ccys[self.rng.random_range(0..ccys.len())];
                evs.push((t, Ev::Income { ty, ccy }));
            }
        }
        if unknown {
            let t = END_MS - 20 * DAY_MS + self.between(0, DAY_MS);
            evs.push((t, Ev::Unknown));
        }

        // The funding stream's same-millisecond group: a batch of payouts placed so that
        // exactly GROUP_FIRST funding bills are newer than it.
        let mut fts: Vec<i64> = evs
            .iter()
            .flat_map(|(t, e)| std::iter::repeat_n(*t, e.funding_bills()))
            .collect();
        fts.sort_unstable_by(|a, b| b.cmp(a));
        if fts.len() > GROUP_LAST {
            let (newer, older) = (fts[GROUP_FIRST - 1], fts[GROUP_FIRST]);
            let t = if newer - older >= 2 {
                self.between(older + 1, newer)
            } else {
                newer
            };
            evs.push((t, Ev::IncomeBatch));
        }

        evs.sort_by_key(|(t, _)| *t);
        evs
    }
}
