//! Deterministic generation of the simulated account.
//!
//! Two phases. *Plan*: every event gets its time (and the records whose existence does not
//! depend on balances — deposits, withdrawals, converts — are created), the same-millisecond
//! groups are placed at the page boundaries, and everything is sorted by time. *Run*: the
//! events are applied in time order against running balances; amounts that depend on what
//! the account holds (trades, transfers, withdrawals) are drawn then, so balances never go
//! negative. Bill ids are snowflake-like (time << 22) and strictly increasing, bill times
//! never decrease in id order, and every bill's `bal` is the running balance.

use super::SIM_NOW_MS;
use super::market::{
    DAY_MS, FUT_CT_VAL, FUT_EXPIRY_MS, FUT_ID, LUNC, PriceBook, SPOT, SWAP_CT_VAL, SWAP_ID, SpotDef,
};
use super::model::{
    AccountData, EARN, FUNDING, FundingBill, SavingsHolding, SimConvert, SimDcdOrder, SimDeposit, SimFill,
    SimPosition, SimWithdrawal, TRADING, TradingBill,
};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use rust_decimal::{Decimal, RoundingStrategy};
use std::collections::BTreeMap;

/// First day of generated activity: 2025-07-01T00:00:00Z.
pub(crate) const START_MS: i64 = 1_751_328_000_000;
/// Generated activity ends one minute before `SIM_NOW`.
pub(crate) const END_MS: i64 = SIM_NOW_MS - 60_000;
const HOUR_MS: i64 = 3_600_000;
const MIN_MS: i64 = 60_000;
const ID_EPOCH_MS: i64 = 1_483_228_800_000; // 2017-01-01
/// How long after a canceled withdrawal its retry is requested.
const RETRY_AFTER_MS: i64 = 15_000;
/// Newest-first positions (0-based) that share one millisecond in the time-cursored streams.
pub(crate) const GROUP_FIRST: usize = 97;
pub(crate) const GROUP_LAST: usize = 101;

/// How much data to generate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AccountSize {
    /// A few hundred records per stream (several pages each).
    #[default]
    Demo,
    /// ≥ 20,000 fills, ≥ 20,000 trading bills, ≥ 2,000 deposits + withdrawals.
    Bench,
    /// A sub-account's: every kind of activity, a few dozen records per stream.
    Sub,
}

struct Plan {
    spot_old: usize,
    spot_recent: usize,
    spot_last3d: usize,
    lunc: usize,
    swap_sessions: usize,
    liquidations: usize,
    deposits: usize,
    withdrawals: usize,
    converts: usize,
    transfers: usize,
    earn_subs: usize,
    earn_redeems: usize,
    lend_interest: usize,
    staking: usize,
    airdrops: usize,
    referrals: usize,
    rebates: usize,
    /// Initial deposits (USDT, BTC, ETH, SOL) as (mantissa, scale).
    seeds: [(i64, u32); 4],
}

fn plan_for(size: AccountSize) -> Plan {
    match size {
        AccountSize::Demo => Plan {
            spot_old: 150,
            spot_recent: 130,
            spot_last3d: 12,
            lunc: 10,
            swap_sessions: 16,
            liquidations: 3,
            deposits: 118,
            withdrawals: 106,
            converts: 110,
            transfers: 50,
            earn_subs: 6,
            earn_redeems: 3,
            lend_interest: 40,
            staking: 30,
            airdrops: 3,
            referrals: 6,
            rebates: 5,
            seeds: [(60_000, 0), (15, 1), (20, 0), (300, 0)],
        },
        AccountSize::Sub => Plan {
            spot_old: 25,
            spot_recent: 30,
            spot_last3d: 3,
            lunc: 4,
            swap_sessions: 4,
            liquidations: 1,
            deposits: 12,
            withdrawals: 6,
            converts: 12,
            transfers: 10,
            earn_subs: 2,
            earn_redeems: 1,
            lend_interest: 6,
            staking: 6,
            airdrops: 1,
            referrals: 1,
            rebates: 1,
            seeds: [(8_000, 0), (3, 1), (4, 0), (60, 0)],
        },
        AccountSize::Bench => Plan {
            spot_old: 2_500,
            spot_recent: 14_000,
            spot_last3d: 400,
            lunc: 30,
            swap_sessions: 250,
            liquidations: 10,
            deposits: 1_150,
            withdrawals: 1_000,
            converts: 500,
            transfers: 400,
            earn_subs: 40,
            earn_redeems: 20,
            lend_interest: 300,
            staking: 300,
            airdrops: 10,
            referrals: 30,
            rebates: 30,
            seeds: [(3_000_000, 0), (50, 0), (500, 0), (10_000, 0)],
        },
    }
}

#[derive(Debug, Clone, Copy)]
enum SwapAct {
    Open,
    Close,
    Liquidate,
}

#[derive(Debug, Clone, Copy)]
enum Ev {
    DepositCredit(usize),
    WithdrawalDebit(usize),
    TransferOut {
        slot: usize,
        to_trading: bool,
        ccy: &'static str,
    },
    TransferIn {
        slot: usize,
        to_trading: bool,
    },
    Spot {
        inst: usize,
        buy: bool,
        fills: u8,
        maker: bool,
        sell_all: bool,
    },
    Swap {
        contracts: i64,
        act: SwapAct,
        maker: bool,
    },
    SwapFunding,
    Futures {
        contracts: i64,
        close: bool,
        maker: bool,
    },
    Delivery,
    Interest,
    Convert(usize),
    /// A crypto↔fiat convert in the funding account (bills 272/273).
    FiatConvert(usize),
    /// The debit of a withdrawal that is canceled later; sets the retry's amount too.
    RetryHold {
        canceled: usize,
        retried: usize,
    },
    /// The canceled withdrawal's balance returned (funding type 13).
    RetryRefund(usize),
    /// The debit of the successful retry (amount fixed by [`Ev::RetryHold`]).
    RetryDebit(usize),
    /// A Dual Investment subscription (funding 160).
    DcdSubscribe(usize),
    /// Its settlement (funding 161 principal in the settle currency, 162 yield).
    DcdSettle(usize),
    EarnSubscribe,
    EarnRedeem,
    Income {
        ty: &'static str,
        ccy: &'static str,
    },
    IncomeBatch,
    Unknown,
}

impl Ev {
    /// How many funding-account bills this event writes (fixed, whatever the balances).
    fn funding_bills(&self) -> usize {
        match self {
            Ev::DepositCredit(_)
            | Ev::WithdrawalDebit(_)
            | Ev::RetryHold { .. }
            | Ev::RetryRefund(_)
            | Ev::RetryDebit(_)
            | Ev::DcdSubscribe(_)
            | Ev::EarnSubscribe
            | Ev::EarnRedeem
            | Ev::Income { .. } => 1,
            Ev::TransferOut { to_trading, .. } => usize::from(*to_trading),
            Ev::TransferIn { to_trading, .. } => usize::from(!*to_trading),
            Ev::IncomeBatch => INCOME_BATCH.len(),
            Ev::FiatConvert(_) | Ev::DcdSettle(_) => 2,
            _ => 0,
        }
    }
}

/// The funding bills that share one millisecond at the funding stream's page boundary.
const INCOME_BATCH: [(&str, &str); 5] = [
    ("400", "USDT"),
    ("83", "ETH"),
    ("83", "SOL"),
    ("229", "OKB"),
    ("151", "USDT"),
];

#[derive(Debug, Clone, Copy, Default)]
struct Pos {
    contracts: i64,
    /// Linear: average entry price. Inverse: average of 1/price.
    avg: Decimal,
}

/// Generator state; kept after generation so `add_activity` can continue the account.
pub(crate) struct Gen {
    rng: SmallRng,
    prices: PriceBook,
    last_bill_id: u64,
    last_ord_id: u64,
    last_bill_ts: i64,
    trade_ids: BTreeMap<&'static str, i64>,
    liq_trade_id: i64,
    next_dep_id: u64,
    next_wd_id: u64,
    next_convert_id: u64,
    bal: BTreeMap<(&'static str, &'static str), Decimal>,
    bal_ts: BTreeMap<(&'static str, &'static str), i64>,
    savings: BTreeMap<&'static str, SavingsHolding>,
    swap: Pos,
    fut: Pos,
    slots: Vec<(&'static str, Decimal)>,
    pub(crate) out: AccountData,
}

pub(crate) fn snowflake(ts: i64) -> u64 {
    ((ts - ID_EPOCH_MS).max(0) as u64) << 22
}

/// Decimal places used for amounts of a currency.
pub(crate) fn ccy_dp(ccy: &str) -> u32 {
    match ccy {
        "USDT" => 4,
        "BTC" | "ETH" => 8,
        "LUNC" => 0,
        _ => 6,
    }
}

pub(crate) fn floor_dp(d: Decimal, dp: u32) -> Decimal {
    d.round_dp_with_strategy(dp, RoundingStrategy::ToZero)
}

/// Funding balance kept back from transfers, withdrawals and subscriptions.
fn reserve(ccy: &str) -> Decimal {
    if ccy == "USDT" {
        Decimal::from(1000)
    } else {
        Decimal::ZERO
    }
}

const BASE58: &[u8] = b"123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
const HEX: &[u8] = b"0123456789abcdef";
const LOWER: &[u8] = b"023456789acdefghjklmnpqrstuvwxyz";

/// Withdrawal fee per chain (in the withdrawn currency).
fn chain_fee(chain: &str) -> Decimal {
    match chain {
        "USDT-TRC20" => Decimal::ONE,
        "USDT-ERC20" => Decimal::from(3),
        "BTC-Bitcoin" => Decimal::new(1, 4),
        "ETH-ERC20" => Decimal::new(8, 4),
        "SOL-Solana" => Decimal::new(8, 3),
        _ => Decimal::ZERO,
    }
}

fn confirmations(chain: &str) -> u32 {
    match chain {
        "USDT-TRC20" => 20,
        "BTC-Bitcoin" => 2,
        "SOL-Solana" => 32,
        _ => 64,
    }
}

trait Timed {
    fn ts_mut(&mut self) -> &mut i64;
    fn ts(&self) -> i64;
}
macro_rules! timed {
    ($($t:ty),*) => {$(
        impl Timed for $t {
            fn ts_mut(&mut self) -> &mut i64 {
                &mut self.ts
            }
            fn ts(&self) -> i64 {
                self.ts
            }
        }
    )*};
}
timed!(SimDeposit, SimWithdrawal, SimConvert);

/// A bill a few milliseconds after the start of an API window (`SIM_NOW` − 3, 7, 30 or
/// 90 days, all at 00:00 UTC like the 8-hourly funding marks) is inside the window for the
/// first request after the simulator starts and outside it a moment later (the sim clock
/// runs in real time), so two syncs would store different copies of it (API vs archive
/// file). Such a time moves one second before the edge, where it is outside the window
/// for good.
pub(crate) fn clear_of_window_edges(t: i64) -> i64 {
    for days in [3, 7, 30, 90] {
        let edge = SIM_NOW_MS - days * DAY_MS;
        if (edge..edge + 10 * MIN_MS).contains(&t) {
            return edge - 1_000;
        }
    }
    t
}

/// The seed-dependent part of an id range start (the last 7 digits).
fn seed_part(id: u64) -> u64 {
    id % 10_000_000
}

/// Sorts by time and gives newest-first positions GROUP_FIRST..=GROUP_LAST one common ts
/// (the one at the middle position), so the group straddles the 100-record page boundary.
fn sort_and_group<T: Timed>(items: &mut [T]) {
    items.sort_by_key(Timed::ts);
    let n = items.len();
    if n <= GROUP_LAST + 1 {
        return;
    }
    let mid = n - 1 - usize::midpoint(GROUP_FIRST, GROUP_LAST);
    let t = items[mid].ts();
    for item in &mut items[(n - 1 - GROUP_LAST)..=(n - 1 - GROUP_FIRST)] {
        *item.ts_mut() = t;
    }
}

impl Gen {
    /// Generates the whole account for `seed` and `size`.
    pub(crate) fn generate(seed: u64, size: AccountSize, unknown_bill_type: bool, volatile: bool) -> Gen {
        let book = PriceBook::new(seed, START_MS - 30 * DAY_MS, 420);
        let mut g = Gen {
            rng: SmallRng::seed_from_u64(seed),
            prices: if volatile { book.volatile(seed) } else { book },
            last_bill_id: 0,
            last_ord_id: 0,
            last_bill_ts: 0,
            trade_ids: BTreeMap::new(),
            liq_trade_id: 0,
            next_dep_id: 150_000_000 + seed % 1000 * 1000,
            next_wd_id: 21_000_000 + seed % 1000 * 1000,
            next_convert_id: 1_100_000_000 + seed % 1000 * 10_000,
            bal: BTreeMap::new(),
            bal_ts: BTreeMap::new(),
            savings: BTreeMap::new(),
            swap: Pos::default(),
            fut: Pos::default(),
            slots: Vec::new(),
            out: AccountData::default(),
        };
        let plan = plan_for(size);
        let events = g.plan(&plan, unknown_bill_type);
        for (ts, ev) in events {
            g.apply(ts, ev);
        }
        g.finish();
        g
    }

    fn between(&mut self, from: i64, to: i64) -> i64 {
        if to <= from {
            from
        } else {
            self.rng.random_range(from..to)
        }
    }

    fn rdec(&mut self, lo: i64, hi: i64, scale: u32) -> Decimal {
        Decimal::new(self.rng.random_range(lo..=hi), scale)
    }

    /// A random fraction `lo%..=hi%`.
    fn pct(&mut self, lo: i64, hi: i64) -> Decimal {
        self.rdec(lo, hi, 2)
    }

    fn chars(&mut self, alphabet: &[u8], n: usize) -> String {
        (0..n)
            .map(|_| alphabet[self.rng.random_range(0..alphabet.len())] as char)
            .collect()
    }

    fn address(&mut self, chain: &str) -> String {
        match chain {
            "USDT-TRC20" => format!("T{}", self.chars(BASE58, 33)),
            "USDT-ERC20" | "ETH-ERC20" => format!("0x{}", self.chars(HEX, 40)),
            "BTC-Bitcoin" => format!("bc1q{}", self.chars(LOWER, 38)),
            _ => self.chars(BASE58, 44),
        }
    }

    fn tx_id(&mut self, chain: &str) -> String {
        match chain {
            "USDT-ERC20" | "ETH-ERC20" => format!("0x{}", self.chars(HEX, 64)),
            "SOL-Solana" => self.chars(BASE58, 88),
            _ => self.chars(HEX, 64),
        }
    }

    fn masked_email(&mut self) -> String {
        let user = self.chars(b"abcdefghijklmnopqrstuvwxyz", 2);
        let domain = ["gmail.com", "outlook.com", "proton.me"][self.rng.random_range(0..3)];
        format!("{user}****@{domain}")
    }

    fn chain_for(&mut self, ccy: &str) -> &'static str {
        match ccy {
            "USDT" => {
                if self.rng.random_bool(0.7) {
                    "USDT-TRC20"
                } else {
                    "USDT-ERC20"
                }
            }
            "BTC" => "BTC-Bitcoin",
            "ETH" => "ETH-ERC20",
            _ => "SOL-Solana",
        }
    }

    fn pick_ccy(&mut self, weights: &[(&'static str, u32)]) -> &'static str {
        let total: u32 = weights.iter().map(|w| w.1).sum();
        let mut r = self.rng.random_range(0..total);
        for (c, w) in weights {
            if r < *w {
                return c;
            }
            r -= w;
        }
        weights[0].0
    }

    fn deposit_amount(&mut self, ccy: &str) -> Decimal {
        match ccy {
            "USDT" => self.rdec(5_000, 500_000, 2),
            "BTC" => self.rdec(100_000, 5_000_000, 8),
            "ETH" => self.rdec(10_000_000, 300_000_000, 8),
            _ => self.rdec(1_000_000, 100_000_000, 6),
        }
    }

    fn new_deposit(&mut self, ts: i64, ccy: &'static str, amt: Decimal, state: &'static str) -> SimDeposit {
        let chain = self.chain_for(ccy);
        let internal = state == "2" && self.rng.random_bool(0.1);
        let (from, to, tx_id, dep_type) = if internal {
            (self.masked_email(), String::new(), String::new(), "3")
        } else {
            (String::new(), self.address(chain), self.tx_id(chain), "4")
        };
        let confirm = match (internal, state) {
            (true, _) => 0,
            (false, "0") => self.rng.random_range(0..3),
            _ => confirmations(chain),
        };
        SimDeposit {
            dep_id: 0,
            ccy,
            chain,
            amt,
            from,
            to,
            tx_id,
            ts,
            state,
            actual_dep_blk_confirm: confirm,
            dep_type,
            from_wd_id: None,
        }
    }

    fn new_withdrawal(&mut self, ts: i64, ccy: &'static str, state: &'static str) -> SimWithdrawal {
        let chain = self.chain_for(ccy);
        let internal = self.rng.random_bool(0.08);
        let amt = self.deposit_amount(ccy) / Decimal::from(2);
        let (to, tx_id, wd_type, fee) = if internal {
            (self.masked_email(), String::new(), "3", Decimal::ZERO)
        } else {
            let to = self.address(chain);
            let tx = if state == "2" {
                self.tx_id(chain)
            } else {
                String::new()
            };
            (to, tx, "4", chain_fee(chain))
        };
        SimWithdrawal {
            wd_id: 0,
            ccy,
            chain,
            amt,
            fee,
            ts,
            to,
            tx_id,
            state,
            wd_type,
        }
    }

    /// Phase 1: all events with their times, in processing order.
    fn plan(&mut self, p: &Plan, unknown: bool) -> Vec<(i64, Ev)> {
        let mut evs: Vec<(i64, Ev)> = Vec::new();
        let ccys4 = ["USDT", "BTC", "ETH", "SOL"];

        // Deposits: seeds first, then regular ones, pending ones at the end, one blacklisted.
        let mut deposits = Vec::new();
        for (i, (m, s)) in p.seeds.iter().enumerate() {
            let ts = START_MS + (10 + 5 * i as i64) * MIN_MS + self.between(0, 60_000);
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
            let ts = self.between(START_MS + DAY_MS, END_MS - HOUR_MS);
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
        let ts = self.between(START_MS + 10 * DAY_MS, END_MS - 10 * DAY_MS);
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
            let ts = self.between(START_MS + 2 * DAY_MS, END_MS - HOUR_MS);
            let ccy = self.pick_ccy(&wd_weights);
            let w = self.new_withdrawal(ts, ccy, "2");
            wds.push(w);
        }
        for state in ["-1", "-1", "-2", "-2"] {
            let ts = self.between(START_MS + 5 * DAY_MS, END_MS - 5 * DAY_MS);
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
        let retry_at = START_MS + 150 * DAY_MS + 11 * HOUR_MS;
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
            let ts = self.between(START_MS + 2 * DAY_MS, END_MS - HOUR_MS);
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
            (START_MS + 45 * MIN_MS, "sell"),
            (START_MS + 20 * DAY_MS + 7 * HOUR_MS, "buy"),
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
            let c_time = START_MS + day * DAY_MS + 9 * HOUR_MS;
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
            transfer(self, START_MS + HOUR_MS + i as i64 * 5 * MIN_MS, true, ccy);
        }
        let tr_weights = [("USDT", 60), ("BTC", 15), ("ETH", 15), ("SOL", 10)];
        for _ in 0..p.transfers {
            let ts = self.between(START_MS + DAY_MS, END_MS - HOUR_MS);
            let to_trading = self.rng.random_bool(0.6);
            let ccy = self.pick_ccy(&tr_weights);
            transfer(self, ts, to_trading, ccy);
        }

        // Spot orders, mostly recent (fills-history reaches 90 days back).
        let inst_weights = [(0usize, 35u32), (1, 25), (2, 20), (3, 12), (4, 8)];
        let ranges = [
            (p.spot_old, START_MS + 3 * HOUR_MS, END_MS - 90 * DAY_MS),
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
            .map(|_| self.between(START_MS + 4 * DAY_MS, lunc_end))
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
        let from = START_MS + 2 * DAY_MS;
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
        let first_sub = START_MS + 2 * DAY_MS + self.between(0, DAY_MS);
        evs.push((first_sub, Ev::EarnSubscribe));
        for _ in 1..p.earn_subs {
            let t = self.between(START_MS + 3 * DAY_MS, END_MS - DAY_MS);
            evs.push((t, Ev::EarnSubscribe));
        }
        for _ in 0..p.earn_redeems {
            let t = self.between(START_MS + 4 * DAY_MS, END_MS - DAY_MS);
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
                let t = self.between(START_MS + from_days * DAY_MS, END_MS - HOUR_MS);
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

    // ---- bookkeeping -------------------------------------------------------------------

    /// A bill time: never earlier than the previous bill (bill times follow id order).
    fn at(&mut self, want: i64) -> i64 {
        let t = want.max(self.last_bill_ts);
        self.last_bill_ts = t;
        t
    }

    fn next_bill_id(&mut self, ts: i64) -> u64 {
        let id = snowflake(ts).max(self.last_bill_id + 1);
        self.last_bill_id = id;
        id
    }

    fn next_ord_id(&mut self, ts: i64) -> u64 {
        let id = (snowflake(ts - 3) + self.rng.random_range(0..1 << 20)).max(self.last_ord_id + 1);
        self.last_ord_id = id;
        id
    }

    fn next_trade_id(&mut self, inst_id: &'static str) -> i64 {
        let next = self.trade_ids.entry(inst_id).or_insert(400_000_000);
        *next += 1 + (*next % 7);
        *next
    }

    fn balance(&self, account: &'static str, ccy: &'static str) -> Decimal {
        self.bal.get(&(account, ccy)).copied().unwrap_or_default()
    }

    fn book(&mut self, account: &'static str, ccy: &'static str, chg: Decimal, ts: i64) -> Decimal {
        let b = self.bal.entry((account, ccy)).or_default();
        *b += chg;
        let after = *b;
        self.bal_ts.insert((account, ccy), ts);
        after
    }

    /// A trading bill with balance and id filled in and OKX's defaults for the rest; the
    /// caller adjusts fields and pushes it.
    fn trading_bill(
        &mut self,
        ts: i64,
        ty: &'static str,
        sub: &'static str,
        ccy: &'static str,
        chg: Decimal,
    ) -> TradingBill {
        let bill_id = self.next_bill_id(ts);
        let bal = self.book(TRADING, ccy, chg, ts);
        TradingBill {
            bill_id,
            bill_type: ty,
            sub_type: sub,
            ts,
            ccy,
            bal_chg: chg,
            bal,
            pos_bal_chg: None,
            pos_bal: None,
            sz: chg.abs(),
            px: None,
            pnl: None,
            fee: None,
            interest: Decimal::ZERO,
            mgn_mode: "",
            inst_type: "",
            inst_id: "",
            ord_id: None,
            exec_type: "",
            from: "",
            to: "",
            notes: "",
            fill_time: Some(ts),
            trade_id: None,
            cl_ord_id: String::new(),
            tag: "",
            fill_idx_px: None,
            fill_mark_px: None,
        }
    }

    fn funding_bill(
        &mut self,
        ts: i64,
        ty: &'static str,
        ccy: &'static str,
        chg: Decimal,
        notes: &'static str,
    ) {
        let bill_id = self.next_bill_id(ts);
        let bal = self.book(FUNDING, ccy, chg, ts);
        self.out.funding_bills.push(FundingBill {
            bill_id,
            bill_type: ty,
            ts,
            ccy,
            bal_chg: chg,
            bal,
            notes,
        });
    }

    // ---- events ------------------------------------------------------------------------

    fn apply(&mut self, ts: i64, ev: Ev) {
        match ev {
            Ev::DepositCredit(i) => {
                let (ccy, amt) = (self.out.deposits[i].ccy, self.out.deposits[i].amt);
                let t = self.at(ts);
                self.funding_bill(t, "1", ccy, amt, "Deposit");
            }
            Ev::WithdrawalDebit(i) => self.withdrawal(ts, i),
            Ev::TransferOut {
                slot,
                to_trading,
                ccy,
            } => self.transfer_out(ts, slot, to_trading, ccy),
            Ev::TransferIn { slot, to_trading } => {
                let (ccy, x) = self.slots[slot];
                let t = self.at(ts);
                if to_trading {
                    let mut b = self.trading_bill(t, "1", "11", ccy, x);
                    self.transfer_fields(&mut b, "6", "18");
                    self.out.trading_bills.push(b);
                } else {
                    self.funding_bill(t, "130", ccy, x, "Transferred from trading account");
                }
            }
            Ev::Spot {
                inst,
                buy,
                fills,
                maker,
                sell_all,
            } => {
                self.spot(ts, inst, buy, fills, maker, sell_all);
            }
            Ev::Swap {
                contracts,
                act,
                maker,
            } => self.swap(ts, contracts, act, maker),
            Ev::SwapFunding => self.swap_funding(ts),
            Ev::Futures {
                contracts,
                close,
                maker,
            } => self.futures(ts, contracts, close, maker),
            Ev::Delivery => self.delivery(ts),
            Ev::Interest => {
                let amt = self.rdec(50, 1500, 2);
                let t = self.at(ts);
                let mut b = self.trading_bill(t, "7", "9", "USDT", -amt);
                b.interest = amt;
                b.mgn_mode = "cross";
                self.out.trading_bills.push(b);
            }
            Ev::Convert(i) => self.convert(ts, i),
            Ev::FiatConvert(i) => self.fiat_convert(ts, i),
            Ev::DcdSubscribe(i) => self.dcd_subscribe(ts, i),
            Ev::DcdSettle(i) => self.dcd_settle(ts, i),
            Ev::RetryHold { canceled, retried } => {
                let avail = self.balance(FUNDING, "USDT") - reserve("USDT");
                let w = &self.out.withdrawals[canceled];
                let amt = floor_dp((avail - w.fee) / Decimal::TEN, 4).max(Decimal::from(10));
                self.out.withdrawals[canceled].amt = amt;
                self.out.withdrawals[retried].amt = amt;
                let total = amt + self.out.withdrawals[canceled].fee;
                let t = self.at(ts);
                self.funding_bill(t, "2", "USDT", -total, "Withdrawal");
            }
            Ev::RetryRefund(i) => {
                let total = self.out.withdrawals[i].amt + self.out.withdrawals[i].fee;
                let t = self.at(ts);
                self.funding_bill(t, "13", "USDT", total, "Canceled withdrawal");
            }
            Ev::RetryDebit(i) => {
                let total = self.out.withdrawals[i].amt + self.out.withdrawals[i].fee;
                let t = self.at(ts);
                self.funding_bill(t, "2", "USDT", -total, "Withdrawal");
            }
            Ev::EarnSubscribe => {
                let avail = self.balance(FUNDING, "USDT") - reserve("USDT");
                let f = self.pct(10, 25);
                let x = floor_dp(avail * f, 2).max(Decimal::ONE);
                let t = self.at(ts);
                self.funding_bill(t, "75", "USDT", -x, "Simple earn flexible subscription");
                self.savings.entry("USDT").or_default().amt += x;
            }
            Ev::EarnRedeem => {
                let held = self.savings.get("USDT").map(|s| s.amt).unwrap_or_default();
                let f = self.pct(20, 60);
                let mut y = floor_dp(held * f, 2);
                if y.is_zero() {
                    y = held;
                }
                let t = self.at(ts);
                self.funding_bill(t, "76", "USDT", y, "Simple earn flexible redemption");
                self.savings.entry("USDT").or_default().amt -= y;
            }
            Ev::Income { ty, ccy } => {
                let t = self.at(ts);
                self.income(t, ty, ccy);
            }
            Ev::IncomeBatch => {
                let t = self.at(ts);
                for (ty, ccy) in INCOME_BATCH {
                    self.income(t, ty, ccy);
                }
            }
            Ev::Unknown => {
                let t = self.at(ts);
                let b = self.trading_bill(t, "999", "9999", "USDT", Decimal::new(5, 1));
                self.out.trading_bills.push(b);
            }
        }
    }

    fn income(&mut self, t: i64, ty: &'static str, ccy: &'static str) {
        let (amt, notes) = match (ty, ccy) {
            ("400", _) => {
                let held = self.savings.get("USDT").map(|s| s.amt).unwrap_or_default();
                let r = self.rdec(1, 8, 4);
                let amt = (held * r).round_dp(8).max(Decimal::new(1, 2));
                self.savings.entry("USDT").or_default().earnings += amt;
                (amt, "Auto lend interest")
            }
            ("83", "ETH") => (self.rdec(500, 10_000, 6), "Staking yield"),
            ("83", _) => (self.rdec(10_000, 200_000, 6), "Staking yield"),
            ("229", _) => (self.rdec(500, 5_000, 3), "Airdrop"),
            ("151", _) => (self.rdec(100, 3_000, 2), "Referral reward"),
            _ => (self.rdec(50, 2_000, 2), "Fee rebate"),
        };
        self.funding_bill(t, ty, ccy, amt, notes);
    }

    fn withdrawal(&mut self, ts: i64, i: usize) {
        let w = self.out.withdrawals[i].clone();
        let dp = ccy_dp(w.ccy);
        let f = self.pct(5, 20);
        let avail = self.balance(FUNDING, w.ccy) - reserve(w.ccy) - w.fee;
        let mut amt = floor_dp(avail * f, dp);
        let mut w = w;
        let min = if w.ccy == "USDT" {
            Decimal::from(10)
        } else {
            Decimal::new(1, 4)
        };
        if amt < min {
            // Not enough of the planned currency: withdraw USDT instead.
            w.ccy = "USDT";
            w.chain = "USDT-TRC20";
            if w.wd_type == "4" {
                w.fee = chain_fee(w.chain);
                w.to = self.address(w.chain);
                w.tx_id = self.tx_id(w.chain);
            }
            let avail = self.balance(FUNDING, "USDT") - reserve("USDT") - w.fee;
            amt = floor_dp(avail * f, 4).max(Decimal::from(10));
        }
        w.amt = amt;
        let t = self.at(ts);
        self.funding_bill(t, "2", w.ccy, -(w.amt + w.fee), "Withdrawal");
        self.out.withdrawals[i] = w;
    }

    fn transfer_fields(&mut self, b: &mut TradingBill, from: &'static str, to: &'static str) {
        b.from = from;
        b.to = to;
        b.trade_id = Some(0);
        b.fill_time = Some(b.ts + self.rng.random_range(50..300));
    }

    fn transfer_out(&mut self, ts: i64, slot: usize, to_trading: bool, ccy: &'static str) {
        let f = self.pct(5, 30);
        let source = if to_trading { FUNDING } else { TRADING };
        let amount = |g: &Gen, ccy: &'static str| {
            let avail = g.balance(source, ccy) - if to_trading { reserve(ccy) } else { Decimal::ZERO };
            floor_dp(avail * f, ccy_dp(ccy))
        };
        let mut ccy = ccy;
        let mut x = amount(self, ccy);
        if x <= Decimal::ZERO {
            ccy = "USDT";
            x = amount(self, ccy).max(Decimal::ONE);
        }
        self.slots[slot] = (ccy, x);
        let t = self.at(ts);
        if to_trading {
            self.funding_bill(t, "131", ccy, -x, "Transferred to trading account");
        } else {
            let mut b = self.trading_bill(t, "1", "12", ccy, -x);
            self.transfer_fields(&mut b, "18", "6");
            self.out.trading_bills.push(b);
        }
    }

    /// Size in base currency for a spot order, or `None` when the account cannot afford it.
    fn spot_size(&mut self, def: &SpotDef, buy: bool, px: Decimal) -> Option<Decimal> {
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
    fn spot(&mut self, ts: i64, inst: usize, buy: bool, fills: u8, maker: bool, sell_all: bool) -> bool {
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

    fn swap(&mut self, ts: i64, contracts: i64, act: SwapAct, maker: bool) {
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

    fn swap_funding(&mut self, ts: i64) {
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

    fn futures(&mut self, ts: i64, contracts: i64, close: bool, maker: bool) {
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

    fn delivery(&mut self, ts: i64) {
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

    fn convert(&mut self, ts: i64, i: usize) {
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

    /// A crypto↔fiat convert in the funding account: two bills of one type (272 buy crypto,
    /// 273 sell crypto) at one millisecond and its convert-history record. A sell converts
    /// a tenth of the funding BTC (at most 0.1), a buy spends all funding EUR; with nothing
    /// to convert the record is `rejected` and there are no bills.
    fn fiat_convert(&mut self, ts: i64, i: usize) {
        let mut rec = self.out.converts[i].clone();
        // EUR per USD, fixed: the simulator's price book has no fiat.
        let eur_per_usd = Decimal::new(92, 2);
        let px = (self.prices.usd(rec.base_ccy, ts) * eur_per_usd).round_dp(2);
        let buy = rec.side == "buy";
        let (base, quote) = if buy {
            let quote = self.balance(FUNDING, rec.quote_ccy);
            (floor_dp(quote / px, 8), quote)
        } else {
            let base =
                floor_dp(self.balance(FUNDING, rec.base_ccy) / Decimal::TEN, 8).min(Decimal::new(1, 1));
            (base, floor_dp(base * px, 2))
        };
        rec.fill_px = px;
        if base <= Decimal::ZERO || quote <= Decimal::ZERO {
            rec.state = "rejected";
            self.out.converts[i] = rec;
            return;
        }
        rec.fill_base_sz = base;
        rec.fill_quote_sz = quote;
        let t = self.at(ts);
        let (ty, legs) = if buy {
            ("272", [(rec.quote_ccy, -quote), (rec.base_ccy, base)])
        } else {
            ("273", [(rec.base_ccy, -base), (rec.quote_ccy, quote)])
        };
        let notes = if buy {
            "Convert: buy crypto"
        } else {
            "Convert: sell crypto"
        };
        for (ccy, chg) in legs {
            self.funding_bill(t, ty, ccy, chg, notes);
        }
        self.out.converts[i] = rec;
    }

    /// Subscribes a tenth of the funding balance of the notional currency at a strike 3 %
    /// below (put) or above (call) the price.
    fn dcd_subscribe(&mut self, ts: i64, i: usize) {
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
    fn dcd_settle(&mut self, ts: i64, i: usize) {
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

    // ---- after generation --------------------------------------------------------------

    /// Copies balances, savings, positions and prices into the output.
    pub(crate) fn finish(&mut self) {
        let now = self.last_bill_ts.max(END_MS);
        let mut balances = BTreeMap::new();
        for (k, v) in &self.bal {
            if !v.is_zero() {
                balances.insert(*k, *v);
            }
        }
        let mut times = self.bal_ts.clone();
        for (ccy, s) in &self.savings {
            if !s.amt.is_zero() {
                balances.insert((EARN, *ccy), s.amt);
                if let Some(t) = self.bal_ts.get(&(FUNDING, *ccy)) {
                    times.insert((EARN, *ccy), *t);
                }
            }
        }
        self.out.balances = balances;
        self.out.balance_times = times;
        self.out.savings = self.savings.clone();
        self.out.positions.clear();
        if self.swap.contracts != 0 {
            self.out.positions.push(SimPosition {
                inst_id: SWAP_ID,
                contracts: self.swap.contracts,
                avg_px: self.swap.avg,
                ct_val: SWAP_CT_VAL,
            });
        }
        self.out.last_prices = ["USDT", "BTC", "ETH", "SOL", "LUNC", "OKB"]
            .into_iter()
            .map(|c| (c, self.prices.usd(c, now).round_dp(8)))
            .collect();
    }

    /// Adds a USDT deposit record dated `ts_ms` in the non-final `state` (e.g. `12`,
    /// frozen): on chain, with a tx hash, but not credited (no bill, no balance). Returns
    /// its depId.
    pub(crate) fn add_held_deposit(&mut self, ts_ms: i64, state: &'static str) -> u64 {
        let amt = self.deposit_amount("USDT");
        let mut d = self.new_deposit(ts_ms, "USDT", amt, state);
        self.next_dep_id += self.rng.random_range(1..5000);
        d.dep_id = self.next_dep_id;
        let at = self.out.deposits.partition_point(|x| x.ts <= ts_ms);
        self.out.deposits.insert(at, d);
        self.next_dep_id
    }

    /// Deposit `dep_id` turns final (state `2`) and is credited at `now_ms` (sim clock):
    /// its funding bill comes after every existing bill, and the balances follow. `false`
    /// when there is no such deposit or it is final already.
    pub(crate) fn credit_deposit(&mut self, dep_id: u64, now_ms: i64) -> bool {
        let Some(d) = self
            .out
            .deposits
            .iter_mut()
            .find(|d| d.dep_id == dep_id && !matches!(d.state, "2" | "11"))
        else {
            return false;
        };
        d.state = "2";
        d.actual_dep_blk_confirm = confirmations(d.chain);
        let (ccy, amt) = (d.ccy, d.amt);
        let t = self.at(now_ms.max(self.last_bill_ts + 1));
        self.funding_bill(t, "1", ccy, amt, "Deposit");
        self.finish();
        true
    }

    /// Appends `n` spot trades and one USDT deposit at `now_ms` (sim clock), updating the
    /// balances. Everything gets ids and times after all existing records.
    pub(crate) fn add_activity(&mut self, n: usize, now_ms: i64) {
        let base = now_ms.max(self.last_bill_ts + 1);
        let amt = self.deposit_amount("USDT");
        let mut d = self.new_deposit(base, "USDT", amt, "2");
        self.next_dep_id += self.rng.random_range(1..5000);
        d.dep_id = self.next_dep_id;
        self.out.deposits.push(d);
        let t = self.at(base + 1);
        self.funding_bill(t, "1", "USDT", amt, "Deposit");
        let mut made = 0;
        let mut tries = 0;
        while made < n && tries < n * 4 + 8 {
            let inst = self.rng.random_range(0..3);
            let buy = self.rng.random_bool(0.5);
            let ts = self.last_bill_ts + 1;
            if self.spot(ts, inst, buy, 1, false, false) {
                made += 1;
            }
            tries += 1;
        }
        self.finish();
    }
}

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
