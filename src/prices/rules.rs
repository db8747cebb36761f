//! The rules of valuation (schemas/README.md "Valuation"): which instruments price an
//! asset, in which order, and which bar a time falls in.
//!
//! * Fiat: `USD` is 1; other fiat currencies go through ECB reference rates.
//! * An asset with a `ASSET-USD` index is priced by it.
//! * Otherwise through the first listed spot pair `ASSET-USDT`, `ASSET-USDC`, `ASSET-BTC`,
//!   `ASSET-ETH` (times the quote's own USD price).
//! * USDT and USDC: their index if OKX has one, else `BTC-USD` index ÷ `BTC-USDT`
//!   (`BTC-USDC`) spot at the same bar.
//!
//! A candidate is skipped only when OKX said it does not exist (code 51001, remembered in
//! the cache); the first candidate not known to be absent is the asset's route.

use rust_decimal::Decimal;
use std::fmt;

/// Quote currencies tried, in order, for an asset without a USD index.
pub const ROUTE_QUOTES: [&str; 4] = ["USDT", "USDC", "BTC", "ETH"];

/// USD stablecoins whose legs value a trade like fiat.
pub const USD_STABLECOINS: [&str; 2] = ["USDT", "USDC"];

/// Fiat currencies (ISO 4217) that can appear as assets and that the ECB publishes.
pub const FIAT: [&str; 12] = [
    "USD", "EUR", "GBP", "CHF", "JPY", "AUD", "CAD", "PLN", "CZK", "SEK", "TRY", "BRL",
];

pub fn is_fiat(asset: &str) -> bool {
    FIAT.contains(&asset)
}

pub fn is_usd_stablecoin(asset: &str) -> bool {
    USD_STABLECOINS.contains(&asset)
}

/// Where an instrument's candles come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum InstKind {
    /// `market/history-index-candles`.
    Index,
    /// `market/history-candles`.
    Spot,
}

impl InstKind {
    pub fn as_str(self) -> &'static str {
        match self {
            InstKind::Index => "index",
            InstKind::Spot => "spot",
        }
    }
}

/// A priced instrument, e.g. index `BTC-USD` or spot `SOL-USDT`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Inst {
    pub kind: InstKind,
    pub id: String,
}

impl Inst {
    pub fn index(base: &str) -> Inst {
        Inst {
            kind: InstKind::Index,
            id: format!("{base}-USD"),
        }
    }

    pub fn spot(base: &str, quote: &str) -> Inst {
        Inst {
            kind: InstKind::Spot,
            id: format!("{base}-{quote}"),
        }
    }
}

impl fmt::Display for Inst {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.kind.as_str(), self.id)
    }
}

/// One way to get an asset's USD price.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// The asset is USD.
    Usd,
    /// A fiat currency: USD per unit from ECB rates (USD per EUR ÷ CCY per EUR).
    Ecb(String),
    /// The index `ASSET-USD`.
    Index(Inst),
    /// Spot `ASSET-QUOTE` times the quote's USD price.
    Pair { pair: Inst, quote: String },
    /// A USD stablecoin without an index: `BTC-USD` index ÷ `BTC-ASSET` spot.
    Derived { index: Inst, pair: Inst },
}

impl Route {
    /// The instruments this route reads directly (not those of a pair's quote).
    pub fn instruments(&self) -> Vec<&Inst> {
        match self {
            Route::Usd | Route::Ecb(_) => Vec::new(),
            Route::Index(i) => vec![i],
            Route::Pair { pair, .. } => vec![pair],
            Route::Derived { index, pair } => vec![index, pair],
        }
    }
}

/// The routes of `asset`, best first.
pub fn candidates(asset: &str) -> Vec<Route> {
    if asset == "USD" {
        return vec![Route::Usd];
    }
    if is_fiat(asset) {
        return vec![Route::Ecb(asset.to_string())];
    }
    let mut out = vec![Route::Index(Inst::index(asset))];
    if is_usd_stablecoin(asset) {
        out.push(Route::Derived {
            index: Inst::index("BTC"),
            pair: Inst::spot("BTC", asset),
        });
        return out;
    }
    for q in ROUTE_QUOTES {
        if q != asset {
            out.push(Route::Pair {
                pair: Inst::spot(asset, q),
                quote: q.to_string(),
            });
        }
    }
    out
}

/// The widest bar (1-hour or 15-minute) a value may come from: `(high − low) / low` ≤
/// 0.5 %. Any price of such a bar is within that of the price at every minute inside it; a
/// wider bar is valued from finer bars.
pub const MAX_BAR_RANGE: Decimal = Decimal::from_parts(5, 0, 0, false, 3);

/// Whether a bar of `range` ([`super::cache::Bar::range`]; `None`: unknown) may value the
/// minutes inside it.
pub fn bar_is_tight(range: Option<Decimal>) -> bool {
    range.is_some_and(|r| r <= MAX_BAR_RANGE)
}

/// The base currency of an inverse or USD-quoted futures or perpetual contract
/// (`BTC-USD-SWAP`, `BTC-USD-251226`): its fills' price is that currency's USD price, the
/// best price there is for the PnL and fees of the fill (paid in that currency).
pub fn usd_contract_base(instrument: &str) -> Option<&str> {
    let mut parts = instrument.split('-');
    let (base, quote, kind) = (parts.next()?, parts.next()?, parts.next()?);
    let dated = kind.len() == 6 && kind.bytes().all(|b| b.is_ascii_digit());
    (parts.next().is_none() && quote == "USD" && (kind == "SWAP" || dated) && !base.is_empty())
        .then_some(base)
}

/// Bars the price stage uses: 1-hour pages where rows are spread, 15-minute bars inside an
/// hour too wide to value its minutes, 1-minute bars inside a quarter too wide (or an hour
/// not closed) and where a page of them is as cheap as one of hours.
pub const BAR_1M: (&str, i64) = ("1m", 60_000);
pub const BAR_15M: (&str, i64) = ("15m", 900_000);
pub const BAR_1H: (&str, i64) = ("1H", 3_600_000);
/// Bars per page (both candle endpoints: limit ≤ 100).
pub const PAGE: i64 = 100;

/// The open time of the bar of length `step` holding `ts`.
pub fn bar_open(ts: i64, step: i64) -> i64 {
    ts.div_euclid(step) * step
}

/// Pages needed to cover the sorted, distinct bar open times `points` with windows of
/// `PAGE` bars of `step`: greedy from the oldest, which is the fewest (interval covering).
pub fn windows(points: impl IntoIterator<Item = i64>, step: i64) -> Vec<i64> {
    let mut out = Vec::new();
    let mut end = i64::MIN;
    for p in points {
        if p >= end {
            out.push(p);
            end = p + PAGE * step;
        }
    }
    out
}

/// Pages of `bar` bars (greedy from the oldest) holding the sorted, distinct minute open
/// times `minutes`: for minutes a coarser bar cannot value (its high and low too far apart,
/// or its hour not closed yet).
pub fn bar_windows(minutes: &[i64], (bar, step): (&'static str, i64)) -> Vec<Window> {
    let mut opens: Vec<i64> = minutes.iter().map(|m| bar_open(*m, step)).collect();
    opens.dedup();
    windows(opens.iter().copied(), step)
        .into_iter()
        .map(|start| {
            let end = start + PAGE * step;
            let last = opens[..opens.partition_point(|o| *o < end)]
                .last()
                .copied()
                .unwrap_or(start);
            Window {
                bar,
                step,
                start,
                last_needed: last,
            }
        })
        .collect()
}

/// One page to request: bars of `bar` (`step` ms) opening in `[start, start + PAGE·step)`;
/// `last_needed` is the newest bar in it a row needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub bar: &'static str,
    pub step: i64,
    pub start: i64,
    pub last_needed: i64,
}

/// The bar rule: lay 1-hour pages greedily over the hours the rows need (the fewest
/// 1-hour pages); inside each such page, if all of its minutes fit in one 1-minute page,
/// fetch that instead. So minute precision costs no request more than hour precision, and
/// 1-hour bars are used exactly where minute bars would cost more. `minutes` are the
/// distinct minute open times still to be priced, sorted.
pub fn plan(minutes: &[i64]) -> Vec<Window> {
    plan_in(minutes, BAR_1H)
}

/// [`plan`] with `coarse` bars instead of hours (15-minute bars inside wide hours): pages
/// of `coarse` laid greedily, each replaced by one 1-minute page when its minutes fit in
/// one (as cheap, and the minutes' own prices).
pub fn plan_in(minutes: &[i64], (bar, step): (&'static str, i64)) -> Vec<Window> {
    let mut opens: Vec<i64> = minutes.iter().map(|t| bar_open(*t, step)).collect();
    opens.dedup();
    let mut out = Vec::new();
    for cs in windows(opens.iter().copied(), step) {
        let ce = cs + PAGE * step;
        let lo = minutes.partition_point(|m| *m < cs);
        let hi = minutes.partition_point(|m| *m < ce);
        let mins = &minutes[lo..hi];
        let mw = windows(mins.iter().copied(), BAR_1M.1);
        if mw.len() <= 1 {
            for start in mw {
                out.push(Window {
                    bar: BAR_1M.0,
                    step: BAR_1M.1,
                    start,
                    last_needed: mins.last().copied().unwrap_or(start),
                });
            }
        } else {
            let last = mins.last().map_or(cs, |m| bar_open(*m, step));
            out.push(Window {
                bar,
                step,
                start: cs,
                last_needed: last,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_in_order() {
        assert_eq!(candidates("USD"), vec![Route::Usd]);
        assert_eq!(candidates("EUR"), vec![Route::Ecb("EUR".into())]);
        let usdt = candidates("USDT");
        assert_eq!(usdt[0], Route::Index(Inst::index("USDT")));
        assert_eq!(
            usdt[1],
            Route::Derived {
                index: Inst::index("BTC"),
                pair: Inst::spot("BTC", "USDT")
            }
        );
        let sol = candidates("SOL");
        assert_eq!(sol.len(), 5);
        assert_eq!(
            sol[1],
            Route::Pair {
                pair: Inst::spot("SOL", "USDT"),
                quote: "USDT".into()
            }
        );
        assert_eq!(
            sol[4],
            Route::Pair {
                pair: Inst::spot("SOL", "ETH"),
                quote: "ETH".into()
            }
        );
        // ETH does not route through itself.
        assert!(
            candidates("ETH")
                .iter()
                .all(|r| !matches!(r, Route::Pair { quote, .. } if quote == "ETH"))
        );
    }

    #[test]
    fn greedy_windows_and_bar_choice() {
        let m = 60_000;
        // 0, 99 in one page; 100 starts the next; 250 a third.
        assert_eq!(
            windows([0, 99 * m, 100 * m, 250 * m], m),
            vec![0, 100 * m, 250 * m]
        );
        assert!(windows([], m).is_empty());
        let h = 3_600_000;
        // A few minutes close together: one 1m page (as cheap as one 1H page).
        let p = plan(&[0, m, 5 * m]);
        assert_eq!(
            p,
            vec![Window {
                bar: "1m",
                step: m,
                start: 0,
                last_needed: 5 * m
            }]
        );
        // One row a day for 8 days: 8 minute pages vs 2 hour pages → 1H: hours 0..99 hold
        // days 0-4 (hour 96 the last), the next page starts at day 5's hour.
        let daily: Vec<i64> = (0..8).map(|d| d * 86_400_000 + 30 * m).collect();
        let p = plan(&daily);
        assert_eq!(
            p.iter().map(|w| (w.bar, w.start)).collect::<Vec<_>>(),
            vec![("1H", 0), ("1H", 120 * h)]
        );
        assert_eq!(p[0].last_needed, 96 * h);
        // Busy hours far apart: each gets its own 1m page.
        let p = plan(&[0, 10 * m, 200 * h, 200 * h + m]);
        assert_eq!(
            p.iter().map(|w| (w.bar, w.start)).collect::<Vec<_>>(),
            vec![("1m", 0), ("1m", 200 * h)]
        );
        assert_eq!(bar_open(3_599_999, 3_600_000), 0);
        assert_eq!(bar_open(-1, 60_000), -60_000);
        // Finer pages for minutes a coarser bar cannot value.
        let w = bar_windows(&[0, 5 * m, 150 * m, 151 * m], BAR_1M);
        assert_eq!(
            w.iter()
                .map(|w| (w.bar, w.start, w.last_needed))
                .collect::<Vec<_>>(),
            vec![("1m", 0, 5 * m), ("1m", 150 * m, 151 * m)]
        );
        let q = 15 * m;
        let w = bar_windows(&[0, 5 * m, 20 * m, 101 * q + 3 * m], BAR_15M);
        assert_eq!(
            w.iter()
                .map(|w| (w.bar, w.start, w.last_needed))
                .collect::<Vec<_>>(),
            vec![("15m", 0, q), ("15m", 101 * q, 101 * q)]
        );
    }

    #[test]
    fn the_bound_of_an_hour_bar_and_usd_contracts() {
        assert!(bar_is_tight(Some(Decimal::new(5, 3))));
        assert!(!bar_is_tight(Some(Decimal::new(51, 4))));
        assert!(!bar_is_tight(None));
        assert_eq!(usd_contract_base("BTC-USD-SWAP"), Some("BTC"));
        assert_eq!(usd_contract_base("ETH-USD-251226"), Some("ETH"));
        assert_eq!(usd_contract_base("BTC-USDT-SWAP"), None);
        assert_eq!(usd_contract_base("BTC-USD"), None);
        // Options are quoted in the coin, not in USD.
        assert_eq!(usd_contract_base("BTC-USD-250328-100000-C"), None);
    }
}
