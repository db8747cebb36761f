//! Synthetic market: a deterministic daily price path per asset and the instrument table.

use super::model::obj;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use rust_decimal::Decimal;
use serde_json::{Map, Value};

pub(crate) const DAY_MS: i64 = 86_400_000;

/// Assets with a USD(T) price path: (ccy, start price, max daily move in per-mille).
const ASSETS: [(&str, i64, u32, i64); 5] = [
    // ccy, start price mantissa, scale, max daily move (per-mille)
    ("BTC", 1_070_000, 1, 25),
    ("ETH", 345_000, 2, 35),
    ("SOL", 15_500, 2, 40),
    ("LUNC", 6, 5, 40),
    ("OKB", 4_800, 2, 35),
];

/// The assets that have a price path (and so a `CCY-USD` index in the simulator).
pub(crate) fn priced_assets() -> impl Iterator<Item = &'static str> {
    ASSETS.iter().map(|a| a.0)
}

/// Daily USD prices from `start_ms`, linearly interpolated inside a day; with
/// [`PriceBook::volatile`], some hours swing (see [`swing`]).
pub(crate) struct PriceBook {
    /// Prices exist from here (the first day of the path).
    start_ms: i64,
    days: Vec<[Decimal; ASSETS.len()]>,
    /// Seed of the swings; `None`: the path is linear inside each day.
    swings: Option<u64>,
}

const HOUR_MS: i64 = 3_600_000;

/// Of the even UTC hours, one in `SWING_EVERY` (per asset, drawn from the seed) starts a
/// swing: the price moves `SWING_PER_MILLE` up or down during that hour and back during the
/// next, so both hours' bars span about 1.5% while their ends are on the daily path.
const SWING_EVERY: u64 = 12;
const SWING_PER_MILLE: i64 = 15;

/// The swing factor of asset `i` at `ts` (0 outside a swing): a tent over two hours whose
/// peak (±1.5%) is on an hour boundary, so 1-minute and 1-hour bars still have their high
/// and low at their open or close.
fn swing(seed: u64, i: usize, ts: i64) -> Decimal {
    let hour = ts.div_euclid(HOUR_MS);
    let start = hour - hour.rem_euclid(2);
    // SplitMix64 of (seed, asset, start hour): a stable draw per swing slot.
    let mut z = seed
        ^ (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15)
        ^ (start as u64).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^= z >> 31;
    if !z.is_multiple_of(SWING_EVERY) {
        return Decimal::ZERO;
    }
    let sign = if (z >> 20) & 1 == 0 { 1 } else { -1 };
    let into = ts - start * HOUR_MS; // 0 ..= 2 h
    let tent = if into <= HOUR_MS { into } else { 2 * HOUR_MS - into };
    Decimal::new(sign * SWING_PER_MILLE, 3) * Decimal::from(tent) / Decimal::from(HOUR_MS)
}

impl PriceBook {
    /// Prices from `start_ms` for `n_days` (later times use the last day).
    pub(crate) fn new(seed: u64, start_ms: i64, n_days: usize) -> PriceBook {
        let mut rng = SmallRng::seed_from_u64(seed ^ 0x9e37_79b9_7f4a_7c15);
        let starts: Vec<Decimal> = ASSETS.iter().map(|a| Decimal::new(a.1, a.2)).collect();
        let mut cur: [Decimal; ASSETS.len()] = std::array::from_fn(|i| starts[i]);
        let mut days = Vec::with_capacity(n_days);
        let thousand = Decimal::from(1000);
        for _ in 0..n_days {
            days.push(cur);
            for (i, asset) in ASSETS.iter().enumerate() {
                let max = asset.3;
                let mut k = rng.random_range(-max..=max);
                // Gentle mean reversion keeps the path in a plausible band.
                if cur[i] > starts[i] * Decimal::new(14, 1) {
                    k -= max / 3;
                } else if cur[i] < starts[i] * Decimal::new(6, 1) {
                    k += max / 3;
                }
                cur[i] = (cur[i] * (thousand + Decimal::from(k)) / thousand).round_dp(10);
            }
        }
        PriceBook {
            start_ms,
            days,
            swings: None,
        }
    }

    /// The same path with hourly swings (`SimConfig::volatile_hours`): some hours' bars
    /// span about 1.5%, as a volatile market's do.
    pub(crate) fn volatile(mut self, seed: u64) -> PriceBook {
        self.swings = Some(seed);
        self
    }

    /// The first instant with a price.
    pub(crate) fn start_ms(&self) -> i64 {
        self.start_ms
    }

    /// USD price of `ccy` at `ts` (USDT = 1; unknown assets = 1).
    pub(crate) fn usd(&self, ccy: &str, ts: i64) -> Decimal {
        let Some(i) = ASSETS.iter().position(|a| a.0 == ccy) else {
            return Decimal::ONE;
        };
        let off = (ts - self.start_ms).max(0);
        let day = ((off / DAY_MS) as usize).min(self.days.len() - 2);
        let within = (off - day as i64 * DAY_MS).min(DAY_MS);
        let a = self.days[day][i];
        let b = self.days[day + 1][i];
        let p = a + (b - a) * Decimal::from(within) / Decimal::from(DAY_MS);
        match self.swings {
            Some(seed) => p * (Decimal::ONE + swing(seed, i, ts)),
            None => p,
        }
    }

    /// Price of `base` in `quote` at `ts`, rounded to `dp` decimals (never zero).
    pub(crate) fn pair(&self, base: &str, quote: &str, ts: i64, dp: u32) -> Decimal {
        let p = (self.usd(base, ts) / self.usd(quote, ts)).round_dp(dp);
        p.max(Decimal::new(1, dp))
    }
}

/// A spot pair the account trades.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SpotDef {
    pub inst_id: &'static str,
    pub base: &'static str,
    pub quote: &'static str,
    /// Price decimals (tick = 10^-px_dp).
    pub px_dp: u32,
    /// Size decimals (lot = 10^-lot_dp).
    pub lot_dp: u32,
}

pub(crate) const SPOT: [SpotDef; 6] = [
    SpotDef {
        inst_id: "BTC-USDT",
        base: "BTC",
        quote: "USDT",
        px_dp: 1,
        lot_dp: 6,
    },
    SpotDef {
        inst_id: "ETH-USDT",
        base: "ETH",
        quote: "USDT",
        px_dp: 2,
        lot_dp: 5,
    },
    SpotDef {
        inst_id: "SOL-USDT",
        base: "SOL",
        quote: "USDT",
        px_dp: 2,
        lot_dp: 3,
    },
    SpotDef {
        inst_id: "ETH-BTC",
        base: "ETH",
        quote: "BTC",
        px_dp: 5,
        lot_dp: 4,
    },
    SpotDef {
        inst_id: "OKB-USDT",
        base: "OKB",
        quote: "USDT",
        px_dp: 2,
        lot_dp: 3,
    },
    // Delisted before SIM_NOW: absent from /public/instruments.
    SpotDef {
        inst_id: "LUNC-USDT",
        base: "LUNC",
        quote: "USDT",
        px_dp: 8,
        lot_dp: 0,
    },
];
pub(crate) const LUNC: usize = 5;

pub(crate) const SWAP_ID: &str = "BTC-USDT-SWAP";
pub(crate) const SWAP_CT_VAL: Decimal = Decimal::from_parts(1, 0, 0, false, 2); // 0.01 BTC
pub(crate) const FUT_ID: &str = "BTC-USD-251226";
pub(crate) const FUT_CT_VAL: i64 = 100; // USD per contract (inverse)
pub(crate) const FUT_EXPIRY_MS: i64 = 1_766_736_000_000; // 2025-12-26T08:00:00Z

/// One row of the (simulated) instrument table.
struct InstDef {
    inst_type: &'static str,
    inst_id: &'static str,
    base: &'static str,
    quote: &'static str,
    settle: &'static str,
    ct_val: &'static str,
    ct_val_ccy: &'static str,
    ct_type: &'static str,
    exp_time: &'static str,
    tick: &'static str,
    lot: &'static str,
    live: bool,
}

const fn spot(inst_type: &'static str, id: &'static str, base: &'static str, quote: &'static str) -> InstDef {
    InstDef {
        inst_type,
        inst_id: id,
        base,
        quote,
        settle: "",
        ct_val: "",
        ct_val_ccy: "",
        ct_type: "",
        exp_time: "",
        tick: "0.01",
        lot: "0.0001",
        live: true,
    }
}

const INSTRUMENTS: [InstDef; 13] = [
    spot("SPOT", "BTC-USDT", "BTC", "USDT"),
    spot("SPOT", "ETH-USDT", "ETH", "USDT"),
    spot("SPOT", "ETH-BTC", "ETH", "BTC"),
    spot("SPOT", "SOL-USDT", "SOL", "USDT"),
    spot("SPOT", "OKB-USDT", "OKB", "USDT"),
    InstDef {
        live: false,
        ..spot("SPOT", "LUNC-USDT", "LUNC", "USDT")
    },
    spot("MARGIN", "BTC-USDT", "BTC", "USDT"),
    spot("MARGIN", "ETH-USDT", "ETH", "USDT"),
    InstDef {
        settle: "USDT",
        ct_val: "0.01",
        ct_val_ccy: "BTC",
        ct_type: "linear",
        base: "",
        quote: "",
        tick: "0.1",
        lot: "0.01",
        ..spot("SWAP", "BTC-USDT-SWAP", "", "")
    },
    InstDef {
        settle: "USDT",
        ct_val: "0.1",
        ct_val_ccy: "ETH",
        ct_type: "linear",
        base: "",
        quote: "",
        tick: "0.01",
        lot: "0.01",
        ..spot("SWAP", "ETH-USDT-SWAP", "", "")
    },
    InstDef {
        settle: "BTC",
        ct_val: "100",
        ct_val_ccy: "USD",
        ct_type: "inverse",
        base: "",
        quote: "",
        tick: "0.1",
        lot: "1",
        exp_time: "1766736000000",
        live: false,
        ..spot("FUTURES", "BTC-USD-251226", "", "")
    },
    InstDef {
        settle: "BTC",
        ct_val: "100",
        ct_val_ccy: "USD",
        ct_type: "inverse",
        base: "",
        quote: "",
        tick: "0.1",
        lot: "1",
        exp_time: "1774598400000",
        ..spot("FUTURES", "BTC-USD-260327", "", "")
    },
    InstDef {
        settle: "BTC",
        ct_val: "100",
        ct_val_ccy: "USD",
        ct_type: "inverse",
        base: "",
        quote: "",
        tick: "0.1",
        lot: "1",
        exp_time: "1782460800000",
        ..spot("FUTURES", "BTC-USD-260626", "", "")
    },
];

/// `/public/instruments` data for one instType: live instruments only, like OKX.
pub(crate) fn instruments(inst_type: &str, inst_id: Option<&str>) -> Vec<Value> {
    INSTRUMENTS
        .iter()
        .filter(|i| i.live && i.inst_type == inst_type)
        .filter(|i| inst_id.is_none_or(|id| id == i.inst_id))
        .map(|i| {
            let uly = if i.inst_type == "SWAP" || i.inst_type == "FUTURES" {
                let parts: Vec<&str> = i.inst_id.split('-').collect();
                format!("{}-{}", parts[0], parts[1])
            } else {
                String::new()
            };
            let ct_mult = if i.ct_val.is_empty() { "" } else { "1" };
            obj! {
                "instType" => i.inst_type,
                "instId" => i.inst_id,
                "uly" => uly.clone(),
                "instFamily" => uly,
                "baseCcy" => i.base,
                "quoteCcy" => i.quote,
                "settleCcy" => i.settle,
                "ctVal" => i.ct_val,
                "ctMult" => ct_mult,
                "ctValCcy" => i.ct_val_ccy,
                "ctType" => i.ct_type,
                "optType" => "",
                "stk" => "",
                "listTime" => "1606468572000",
                "expTime" => i.exp_time,
                "lever" => if i.inst_type == "SPOT" { "" } else { "10" },
                "tickSz" => i.tick,
                "lotSz" => i.lot,
                "minSz" => i.lot,
                "state" => "live",
                "ruleType" => "normal",
            }
        })
        .collect()
}
