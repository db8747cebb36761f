//! Deterministic generation of the simulated account.
//!
//! Two phases. *Plan*: every event gets its time (and the records whose existence does not
//! depend on balances — deposits, withdrawals, converts — are created), the same-millisecond
//! groups are placed at the page boundaries, and everything is sorted by time. *Run*: the
//! events are applied in time order against running balances; amounts that depend on what
//! the account holds (trades, transfers, withdrawals) are drawn then, so balances never go
//! negative. Bill ids are snowflake-like (time << 22) and strictly increasing, bill times
//! never decrease in id order, and every bill's `bal` is the running balance.

mod funding;
mod ledger;
mod plan;
mod trading;

use super::SIM_NOW_MS;
use super::market::{DAY_MS, PriceBook, SWAP_CT_VAL, SWAP_ID};
use super::model::{
    AccountData, EARN, FUNDING, SavingsHolding, SimConvert, SimDeposit, SimPosition, SimWithdrawal,
};
use funding::confirmations;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use rust_decimal::{Decimal, RoundingStrategy};
use std::collections::BTreeMap;

/// First day of generated activity: 2025-07-01T00:00:00Z ([`AccountSize::TwoYear`]:
/// [`TWO_YEAR_START_MS`]).
pub(crate) const START_MS: i64 = 1_751_328_000_000;
/// First day of [`AccountSize::TwoYear`]'s activity: 2024-01-01T00:00:00Z.
pub(crate) const TWO_YEAR_START_MS: i64 = 1_704_067_200_000;
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
    /// A tax user's first sync: about 24,000 records spread over two years (from
    /// 2024-01-01: eight complete archive quarters before the current one), for the
    /// price-stage bench.
    TwoYear,
}

impl AccountSize {
    /// When the account's activity starts (Unix ms).
    pub fn start_ms(self) -> i64 {
        match self {
            AccountSize::Demo | AccountSize::Bench | AccountSize::Sub => START_MS,
            AccountSize::TwoYear => TWO_YEAR_START_MS,
        }
    }

    /// The span of the market's price path: from a month before the account's start,
    /// for this many days (past the sim clock).
    pub(crate) fn book_span(self) -> (i64, usize) {
        match self {
            AccountSize::Demo | AccountSize::Bench | AccountSize::Sub => (START_MS - 30 * DAY_MS, 420),
            AccountSize::TwoYear => (TWO_YEAR_START_MS - 30 * DAY_MS, 800),
        }
    }
}

struct Plan {
    /// First day of activity.
    start: i64,
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
            start: START_MS,
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
            start: START_MS,
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
            start: START_MS,
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
        AccountSize::TwoYear => Plan {
            start: TWO_YEAR_START_MS,
            spot_old: 3_600,
            spot_recent: 600,
            spot_last3d: 30,
            lunc: 30,
            swap_sessions: 120,
            liquidations: 4,
            deposits: 500,
            withdrawals: 420,
            converts: 200,
            transfers: 300,
            earn_subs: 30,
            earn_redeems: 15,
            lend_interest: 300,
            staking: 400,
            airdrops: 10,
            referrals: 20,
            rebates: 20,
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
        let (book_start, book_days) = size.book_span();
        let book = PriceBook::new(seed, book_start, book_days);
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

    // ---- events ------------------------------------------------------------------------

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
