//! [`CachedValuer`]: the [`Valuer`] that reads what the price stage stored (no network).
//!
//! For each asset of a row it takes the asset's route (the first candidate of
//! [`rules::candidates`] not known to be absent, as the stage did) and reads, at the row's
//! minute (schemas/README.md "Valuation"):
//!
//! * the close of the row's 1-minute bar, when the cache has it (the price of that minute);
//! * else the row's 15-minute bar, else its 1-hour bar: the bar's open for a minute in its
//!   first half, its close for one in the second (the nearer end), with the bar's
//!   `(high − low) / low` as the stated bound of the error. The stage fetched finer bars
//!   wherever that bound is above [`rules::MAX_BAR_RANGE`]; a wider bar is used only when
//!   OKX has no finer bars there, and its source says how far it can be off
//!   (`;bound=1.2%`).
//!
//! A row of an inverse or USD-quoted contract fill (`BTC-USD-SWAP` PnL and fees, paid in
//! BTC) takes the fill's own price for that coin. A price from `--prices FILE` for the
//! asset's minute wins over all of that.
//!
//! Without a price a row is *missing* (listed in `missing_prices.csv`, with why and how to
//! fix it) or *pending*: its bar was still forming when the prices were fetched, and the
//! next sync values it (not a problem, not listed).

use super::cache::{PriceCache, is_covered};
use super::file::{MissingPrice, UserPrices};
use super::rules::{self, BAR_1H, BAR_1M, BAR_15M, Inst, Route};
use super::{Fiat, RowValue, Valuer};
use crate::model::{Amount, Kind, Transaction};
use anyhow::Result;
use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

/// The `price_source` of a row whose bar had not closed when prices were fetched.
pub const PENDING_SOURCE: &str = "pending";

/// The id prefix of the tax summary's synthetic holding rows (a holding at a period's
/// boundary, valued as a deposit at that instant).
const HOLDING_ID_PREFIX: &str = "holding:";

/// A unit price, how it was found and how far it can be from the price at the row's
/// minute (a fraction; 0 for a minute bar, a fill, a file or a reference rate).
#[derive(Debug, Clone)]
struct Priced {
    price: Decimal,
    source: String,
    bound: Decimal,
}

/// Why there is no price.
#[derive(Debug, Clone)]
struct Gap {
    why: String,
    /// The bar was still forming when prices were fetched: the next run prices it.
    pending: bool,
    /// Fetching would give it (not fetched yet, no ECB rate stored, an old hour bar).
    fetchable: bool,
}

impl Gap {
    /// No price that fetching again would change (no market, before its history).
    fn missing(why: impl Into<String>) -> Gap {
        Gap {
            why: why.into(),
            pending: false,
            fetchable: false,
        }
    }

    /// Not in the cache yet: a fetch from the host gives it.
    fn unfetched(why: impl Into<String>) -> Gap {
        Gap {
            fetchable: true,
            ..Gap::missing(why)
        }
    }
}

type Found = Result<Priced, Gap>;

/// The bound of `a × b` (or `a ÷ b` with `div`) from the bounds of its factors.
fn combine(a: Decimal, b: Decimal, div: bool) -> Decimal {
    if div {
        let room = Decimal::ONE - b;
        if room <= Decimal::ZERO {
            Decimal::ONE
        } else {
            (a + b) / room
        }
    } else {
        a + b + a * b
    }
}

/// The bound as it ends a source: `;bound=0.32%` (rounded up), nothing for 0.
pub fn bound_suffix(bound: Decimal) -> String {
    if bound <= Decimal::ZERO {
        return String::new();
    }
    let pct = (bound * Decimal::ONE_HUNDRED * Decimal::ONE_HUNDRED).ceil() / Decimal::ONE_HUNDRED;
    format!(";bound={}%", pct.normalize())
}

pub struct CachedValuer {
    fiat: Fiat,
    cache: PriceCache,
    user: UserPrices,
    absent: HashMap<Inst, bool>,
    memo: HashMap<(String, i64), Found>,
    missing: BTreeMap<(String, i64), MissingPrice>,
    valued: u64,
    unvalued: u64,
    pending: u64,
    /// The host the prices come from, for the fix of a boundary price not fetched.
    host: Option<String>,
    /// When the prices were fetched (the host's time), if known.
    as_of: Option<DateTime<Utc>>,
}

impl CachedValuer {
    pub fn new(fiat: Fiat, cache: PriceCache, user: UserPrices) -> CachedValuer {
        CachedValuer {
            fiat,
            cache,
            user,
            absent: HashMap::new(),
            memo: HashMap::new(),
            missing: BTreeMap::new(),
            valued: 0,
            unvalued: 0,
            pending: 0,
            host: None,
            as_of: None,
        }
    }

    /// Where and when the prices were fetched ([`crate::store::PriceHome`]): the fix of a
    /// boundary price names the host, and holdings "now" are valued at the newest bar that
    /// had closed then ([`Valuer::prices_as_of`]).
    #[must_use]
    pub fn fetched_from(mut self, host: &str, at: DateTime<Utc>) -> CachedValuer {
        self.host = Some(host.to_string());
        self.as_of = Some(at);
        self
    }

    /// The cache it reads.
    pub fn into_cache(self) -> PriceCache {
        self.cache
    }

    /// Whether the cache holds any bar.
    pub fn has_bars(&self) -> Result<bool> {
        self.cache.has_bars()
    }

    /// The (asset, minute)s without a price so far, with the rows that need them.
    pub fn missing(&self) -> impl Iterator<Item = &MissingPrice> {
        self.missing.values()
    }

    /// Rows valued and rows missing a value so far (pending rows are neither).
    pub fn counts(&self) -> (u64, u64) {
        (self.valued, self.unvalued)
    }

    /// Rows pending so far: their bar had not closed when prices were fetched.
    pub fn pending(&self) -> u64 {
        self.pending
    }

    fn is_absent(&mut self, inst: &Inst) -> Result<bool> {
        if let Some(a) = self.absent.get(inst) {
            return Ok(*a);
        }
        let a = self.cache.is_absent(inst)?;
        self.absent.insert(inst.clone(), a);
        Ok(a)
    }

    /// The price of `inst` at minute `m`: its minute bar, else the nearer end of its
    /// quarter or hour bar with that bar's range as the bound (see the module docs).
    fn price_at(&mut self, inst: &Inst, m: i64) -> Result<Found> {
        let name = |bar: &str, which: &str| format!("{}:{}:{bar}:{which}", inst.kind.as_str(), inst.id);
        if let Some(b) = self.cache.bar(inst, BAR_1M.0, m)? {
            return Ok(Ok(Priced {
                price: b.close,
                source: name(BAR_1M.0, "close"),
                bound: Decimal::ZERO,
            }));
        }
        for (bar, step) in [BAR_15M, BAR_1H] {
            let t = rules::bar_open(m, step);
            let Some(b) = self.cache.bar(inst, bar, t)? else {
                continue;
            };
            let Some(range) = b.range() else {
                return Ok(Err(Gap::unfetched(format!(
                    "the cached {bar} bar of {} {} has no high/low (an older okx-export stored it); run `okx-export prices` to fetch it again",
                    inst.kind.as_str(),
                    inst.id
                ))));
            };
            let (price, which) = if m - t < step / 2 {
                (b.open, "open")
            } else {
                (b.close, "close")
            };
            return Ok(Ok(Priced {
                price,
                source: name(bar, which),
                bound: range,
            }));
        }
        let mut fetched = false;
        let mut forming = false;
        for (bar, step) in [BAR_1M, BAR_15M, BAR_1H] {
            let t = rules::bar_open(m, step);
            fetched |= is_covered(self.cache.covered(inst, bar)?, t);
            forming |= self.cache.unconfirmed(inst, bar)?.is_some_and(|f| t >= f);
        }
        if fetched {
            return Ok(Err(Gap::missing(format!(
                "OKX has no {} bar for {} at this time (before its history)",
                inst.kind.as_str(),
                inst.id
            ))));
        }
        if forming {
            return Ok(Err(Gap {
                why: format!(
                    "pending: the {} bar of {} had not closed when prices were fetched; the next sync (or `okx-export prices`) values it",
                    inst.kind.as_str(),
                    inst.id
                ),
                pending: true,
                fetchable: false,
            }));
        }
        Ok(Err(Gap::unfetched(format!(
            "no {} bar for {} at this time in the price cache: not fetched yet; run `{}`",
            inst.kind.as_str(),
            inst.id,
            self.prices_command()
        ))))
    }

    /// ECB rate of `ccy` per euro for the day of `ts` (previous working day on weekends).
    fn ecb(&self, ccy: &str, ts: i64) -> Result<Result<(Decimal, NaiveDate), String>> {
        let day =
            DateTime::<Utc>::from_timestamp_millis(ts).map_or_else(|| NaiveDate::MIN, |t| t.date_naive());
        if ccy == "EUR" {
            return Ok(Ok((Decimal::ONE, day)));
        }
        Ok(match self.cache.ecb_rate(ccy, day)? {
            Some((d, r)) => Ok((r, d)),
            None => Err(format!(
                "no ECB rate for {ccy} on or before {day} in the price cache"
            )),
        })
    }

    /// USD per unit of `asset` at minute `m`: by the first of its routes (not known to be
    /// absent) the cache can price at that minute, so a minute the stage fetched through a
    /// spot pair instead of the asset's index (issue 23) is valued that way; without any,
    /// the first route says why.
    fn usd(&mut self, asset: &str, m: i64, depth: u32) -> Result<Found> {
        let mut first: Option<Found> = None;
        for r in rules::candidates(asset) {
            let mut ok = true;
            for i in r.instruments() {
                if self.is_absent(i)? {
                    ok = false;
                }
            }
            if !ok {
                continue;
            }
            let found = self.by_route(asset, r, m, depth)?;
            if found.is_ok() {
                return Ok(found);
            }
            first.get_or_insert(found);
        }
        Ok(first.unwrap_or_else(|| {
            Err(Gap::missing(format!(
                "OKX has no market for {asset} (no {asset}-USD index and no {asset}-USDT/USDC/BTC/ETH pair)"
            )))
        }))
    }

    /// USD per unit of `asset` at minute `m` by `route`.
    fn by_route(&mut self, asset: &str, route: Route, m: i64, depth: u32) -> Result<Found> {
        Ok(match route {
            Route::Usd => Ok(Priced {
                price: Decimal::ONE,
                source: "usd".into(),
                bound: Decimal::ZERO,
            }),
            Route::Ecb(ccy) => match (self.ecb("USD", m)?, self.ecb(&ccy, m)?) {
                (Ok((usd, d)), Ok((c, _))) => Ok(Priced {
                    price: usd / c,
                    source: format!("ecb:{d}"),
                    bound: Decimal::ZERO,
                }),
                (Err(e), _) | (_, Err(e)) => Err(Gap::unfetched(format!(
                    "{e} (needed for the {ccy} amount; run `{}`)",
                    self.prices_command()
                ))),
            },
            Route::Index(i) => self.price_at(&i, m)?,
            Route::Pair { pair, quote } => match self.price_at(&pair, m)? {
                Ok(p) if depth < 3 => match self.usd(&quote, m, depth + 1)? {
                    Ok(q) => Ok(Priced {
                        price: p.price * q.price,
                        source: format!("route:{}*{}", p.source, q.source),
                        bound: combine(p.bound, q.bound, false),
                    }),
                    Err(e) => Err(e),
                },
                Ok(_) => Err(Gap::missing(format!("{asset}: route too long"))),
                Err(e) => Err(e),
            },
            Route::Derived { index, pair } => match (self.price_at(&index, m)?, self.price_at(&pair, m)?) {
                (Ok(i), Ok(p)) if !p.price.is_zero() => Ok(Priced {
                    price: i.price / p.price,
                    source: format!("derived:{}/{}", i.source, p.source),
                    bound: combine(i.bound, p.bound, true),
                }),
                (Ok(_), Ok(_)) => Err(Gap::missing(format!("{} close is zero", pair.id))),
                (Err(e), _) | (_, Err(e)) => Err(e),
            },
        })
    }

    /// USD → valuation fiat at `ts`: (factor, source suffix).
    fn usd_to_fiat(&self, ts: i64) -> Result<Result<(Decimal, String), String>> {
        let f = self.fiat.as_str();
        if f == "USD" {
            return Ok(Ok((Decimal::ONE, String::new())));
        }
        Ok(match (self.ecb("USD", ts)?, self.ecb(f, ts)?) {
            (Ok((usd, d)), Ok((c, _))) => Ok((c / usd, format!("*ecb:{d}"))),
            (Err(e), _) | (_, Err(e)) => Err(format!(
                "{e} (needed for {f} values; run `{}`)",
                self.prices_command()
            )),
        })
    }

    /// The command that fetches what this valuer's fiat needs.
    fn prices_command(&self) -> String {
        match self.fiat.as_str() {
            "USD" => "okx-export prices".to_string(),
            f => format!("okx-export prices --fiat {f}"),
        }
    }

    /// `p` (USD) in the valuation fiat at `ts`, its source ending in its bound.
    fn in_fiat(&self, p: Priced, ts: i64) -> Result<Found> {
        Ok(match self.usd_to_fiat(ts)? {
            Ok((k, ksrc)) => Ok(Priced {
                price: (p.price * k).round_dp(12).normalize(),
                source: format!("{}{ksrc}{}", p.source, bound_suffix(p.bound)),
                bound: p.bound,
            }),
            Err(e) => Err(Gap::unfetched(e)),
        })
    }

    /// Unit price of `asset` in the valuation fiat at `ts` (memoized per minute).
    fn found(&mut self, asset: &str, ts: i64) -> Result<Found> {
        let minute = rules::bar_open(ts, BAR_1M.1);
        let key = (asset.to_string(), minute);
        if let Some(p) = self.memo.get(&key) {
            return Ok(p.clone());
        }
        let p = if let Some(p) = self.user.prices.get(&key) {
            Ok(Priced {
                price: *p,
                source: self.user.source.clone(),
                bound: Decimal::ZERO,
            })
        } else if asset == self.fiat.as_str() {
            Ok(Priced {
                price: Decimal::ONE,
                source: format!("fiat:{asset}"),
                bound: Decimal::ZERO,
            })
        } else {
            match self.usd(asset, minute, 0)? {
                Ok(p) => self.in_fiat(p, ts)?,
                Err(e) => Err(e),
            }
        };
        self.memo.insert(key, p.clone());
        Ok(p)
    }

    /// Unit price of `asset` in the valuation fiat at `ts` and its source, or why there is
    /// none.
    pub fn unit_price(&mut self, asset: &str, ts: i64) -> Result<Result<(Decimal, String), String>> {
        Ok(self
            .found(asset, ts)?
            .map(|p| (p.price, p.source))
            .map_err(|g| g.why))
    }

    /// Whether `asset` has no price at `ts` that fetching from the host would give (not
    /// pending, and not a market OKX lacks).
    pub fn lacks(&mut self, asset: &str, ts: i64) -> Result<bool> {
        Ok(self.found(asset, ts)?.err().is_some_and(|g| g.fetchable))
    }

    /// The price of `asset` in row `tx` when the row belongs to a fill of an inverse or
    /// USD-quoted contract and `asset` is that contract's coin: the fill's price.
    fn fill_price(&self, tx: &Transaction, asset: &str) -> Result<Option<Found>> {
        let (Some(inst), Some(px), Some(_)) = (tx.instrument.as_deref(), tx.price, &tx.trade_id) else {
            return Ok(None);
        };
        if rules::usd_contract_base(inst) != Some(asset) || px <= Decimal::ZERO {
            return Ok(None);
        }
        let p = Priced {
            price: px,
            source: format!("fill:{inst}"),
            bound: Decimal::ZERO,
        };
        Ok(Some(self.in_fiat(p, tx.time.timestamp_millis())?))
    }

    fn note_missing(&mut self, asset: &str, ts: i64, row: &str, why: &str, fetchable: bool) {
        let minute = rules::bar_open(ts, BAR_1M.1);
        let why = if row.starts_with(HOLDING_ID_PREFIX) && fetchable {
            // A holding at a period's boundary: `prices` fetches rows and calendar years,
            // the report fetches its own boundaries.
            format!(
                "the price at this period boundary was not fetched: run this report again while {} can be reached (it fetches it), or fill in `price` and pass --prices FILE",
                self.host.as_deref().unwrap_or("OKX")
            )
        } else {
            why.to_string()
        };
        let m = self
            .missing
            .entry((asset.to_string(), minute))
            .or_insert_with(|| MissingPrice {
                asset: asset.to_string(),
                minute,
                row_ids: Vec::new(),
                why,
            });
        if !m.row_ids.iter().any(|r| r == row) {
            m.row_ids.push(row.to_string());
        }
    }
}

/// The leg that values a trade: fiat first, then a USD stablecoin, then what was received.
fn trade_leg<'a>(sent: &'a Amount, received: &'a Amount, priced: impl Fn(&str) -> bool) -> &'a Amount {
    for pick in [|a: &str| rules::is_fiat(a), |a: &str| rules::is_usd_stablecoin(a)] {
        if pick(&received.asset) {
            return received;
        }
        if pick(&sent.asset) {
            return sent;
        }
    }
    if priced(&received.asset) || !priced(&sent.asset) {
        received
    } else {
        sent
    }
}

impl Valuer for CachedValuer {
    fn fiat(&self) -> &Fiat {
        &self.fiat
    }

    fn write_missing_prices(&self, path: &Path) -> Result<bool> {
        super::file::write_missing(path, &self.fiat, &self.missing)
    }

    fn used_prices(&self) -> Vec<super::UsedPrice> {
        let mut out: Vec<super::UsedPrice> = self
            .memo
            .iter()
            .filter_map(|((asset, minute), p)| {
                let priced = p.as_ref().ok()?;
                Some(super::UsedPrice {
                    asset: asset.clone(),
                    minute: *minute,
                    price: priced.price,
                    source: format!("{}{}", priced.source, bound_suffix(priced.bound)),
                })
            })
            .collect();
        out.sort_by(|a, b| (&a.asset, a.minute).cmp(&(&b.asset, b.minute)));
        out
    }

    fn missing_prices(&self) -> Vec<MissingPrice> {
        self.missing.values().cloned().collect()
    }

    fn prices_as_of(&self) -> Option<DateTime<Utc>> {
        self.as_of
    }

    fn value(&mut self, tx: &Transaction) -> Result<RowValue> {
        let ts = tx.time.timestamp_millis();
        let mut unit_prices: Vec<(String, Option<Decimal>)> = Vec::new();
        let mut found: HashMap<String, Found> = HashMap::new();
        for a in [&tx.sent, &tx.received, &tx.fee].into_iter().flatten() {
            if unit_prices.iter().any(|(x, _)| *x == a.asset) {
                continue;
            }
            let user = self
                .user
                .prices
                .contains_key(&(a.asset.clone(), rules::bar_open(ts, BAR_1M.1)));
            let p = match self.fill_price(tx, &a.asset)? {
                Some(p) if !user => p,
                _ => self.found(&a.asset, ts)?,
            };
            unit_prices.push((a.asset.clone(), p.as_ref().ok().map(|x| x.price)));
            if let Err(g) = &p
                && !g.pending
            {
                self.note_missing(&a.asset, ts, &tx.id, &g.why, g.fetchable);
            }
            found.insert(a.asset.clone(), p);
        }
        let price_of = |asset: &str| unit_prices.iter().find(|(a, _)| a == asset).and_then(|(_, p)| *p);
        let leg = match (&tx.sent, &tx.received) {
            (Some(s), Some(r)) if tx.kind == Kind::Trade || s.asset != r.asset => {
                let leg = trade_leg(s, r, |a| price_of(a).is_some());
                Some((leg, true))
            }
            (_, Some(r)) => Some((r, false)),
            (Some(s), None) => Some((s, false)),
            (None, None) => tx.fee.as_ref().map(|f| (f, false)),
        };
        let (value, source) = match leg.map(|(a, t)| (a, t, found.get(&a.asset))) {
            Some((a, is_trade, Some(Ok(p)))) => {
                let v = (a.amount * p.price).round_dp(8).normalize();
                let src = if is_trade {
                    format!("leg:{}:{}", a.asset, p.source)
                } else {
                    p.source.clone()
                };
                (Some(v), src)
            }
            Some((_, _, Some(Err(g)))) if g.pending => (None, PENDING_SOURCE.to_string()),
            _ => (None, String::new()),
        };
        if value.is_some() {
            self.valued += 1;
        } else if source == PENDING_SOURCE {
            self.pending += 1;
        } else {
            self.unvalued += 1;
        }
        Ok(RowValue {
            fiat: self.fiat.clone(),
            value,
            source,
            unit_prices,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Account;

    fn row(asset: &str, amount: &str) -> Transaction {
        let t = DateTime::from_timestamp_millis(1_756_000_000_000).unwrap();
        let mut tx = Transaction::new("r1", t, Account::Funding, Kind::Deposit, "test", "1");
        tx.received = Some(Amount::new(amount.parse().unwrap(), asset));
        tx
    }

    const H: i64 = 3_600_000;
    /// 2025-08-24T16:00:00Z.
    const T16: i64 = 1_756_051_200_000;

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    fn bar(ts: i64, o: &str, h: &str, l: &str, c: &str) -> super::super::cache::Bar {
        super::super::cache::Bar {
            ts,
            open: d(o),
            close: d(c),
            high: Some(d(h)),
            low: Some(d(l)),
        }
    }

    fn at(ms: i64, id: &str, asset: &str, amount: &str) -> Transaction {
        let mut tx = row(asset, amount);
        tx.time = DateTime::from_timestamp_millis(ms).unwrap();
        tx.id = id.into();
        tx
    }

    /// A cache with BTC-USD hour bars: 16:00 wide (58,000 → 59,075, low 57,950, high
    /// 59,100: 1.98 %), 17:00 narrow (59,075 → 59,200: 0.25 %), and the minute bar of
    /// 16:03 only.
    fn btc_cache(dir: &Path) -> PriceCache {
        let mut cache = PriceCache::open(&dir.join("c.sqlite")).unwrap();
        let btc = Inst::index("BTC");
        let hours = [
            bar(T16, "58000", "59100", "57950", "59075"),
            bar(T16 + H, "59075", "59230", "59075", "59200"),
        ];
        cache.store_page(&btc, "1H", &hours, (T16, T16 + 2 * H)).unwrap();
        let minute = [bar(T16 + 3 * 60_000, "58220", "58240", "58210", "58227")];
        cache
            .store_page(&btc, "1m", &minute, (T16 + 3 * 60_000, T16 + 4 * 60_000))
            .unwrap();
        cache
    }

    /// Issue 19 item 1: a row is valued at its minute: its minute bar when there is one;
    /// else the nearer end of its hour bar, with the hour's range as the stated bound (a
    /// wide hour only when no minute bar can be had, and then its bound says so).
    #[test]
    fn values_at_the_rows_minute_or_with_a_stated_bound() {
        let dir = tempfile::tempdir().unwrap();
        let mut v = CachedValuer::new(Fiat::usd(), btc_cache(dir.path()), UserPrices::default());
        // 16:03:28: the minute bar (58,227), not the hour's close (59,075, 1.46 % off).
        let rv = v.value(&at(T16 + 208_000, "a", "BTC", "1")).unwrap();
        assert_eq!(
            (rv.value, rv.source.as_str()),
            (Some(d("58227")), "index:BTC-USD:1m:close")
        );
        assert_eq!(rv.bound(), None);
        // 16:10 in the wide hour, no minute bar: the hour's open, bound 1.98 % stated.
        let rv = v.value(&at(T16 + 10 * 60_000, "b", "BTC", "1")).unwrap();
        assert_eq!(rv.value, Some(d("58000")));
        assert_eq!(rv.source, "index:BTC-USD:1H:open;bound=1.99%");
        assert_eq!(rv.bound(), Some(d("0.0199")));
        // 17:45 in the narrow hour: its close (the nearer end), bound 0.27 %.
        let rv = v.value(&at(T16 + H + 45 * 60_000, "c", "BTC", "2")).unwrap();
        assert_eq!(rv.value, Some(d("118400")));
        assert_eq!(rv.source, "index:BTC-USD:1H:close;bound=0.27%");
        // 19:00: nothing fetched there: missing, and it says how to fetch it.
        let rv = v.value(&at(T16 + 3 * H, "e", "BTC", "1")).unwrap();
        assert_eq!((rv.value, rv.source.as_str()), (None, ""));
        let why = &v.missing().next().unwrap().why;
        assert!(
            why.contains("not fetched yet") && why.contains("okx-export prices"),
            "{why}"
        );
        assert_eq!(v.counts(), (3, 1));
    }

    /// Issue 19 item 1: the PnL and fee of an inverse contract's fill (paid in BTC, priced
    /// in USD per BTC) take the fill's price; a linear contract's USDT rows do not.
    #[test]
    fn an_inverse_contract_fill_takes_its_own_price() {
        let dir = tempfile::tempdir().unwrap();
        let mut v = CachedValuer::new(Fiat::usd(), btc_cache(dir.path()), UserPrices::default());
        let mut pnl = at(T16 + 10 * 60_000, "tb-1:pnl", "BTC", "0.01");
        pnl.kind = Kind::RealizedPnl;
        pnl.instrument = Some("BTC-USD-SWAP".into());
        pnl.price = Some(d("58227.5"));
        pnl.trade_id = Some("77".into());
        let rv = v.value(&pnl).unwrap();
        assert_eq!(rv.value, Some(d("582.275")));
        assert_eq!(rv.source, "fill:BTC-USD-SWAP");
        assert_eq!(rv.unit_price("BTC"), Some(d("58227.5")));
        // Without a fill (a bill's own price, no trade id) the market's price is used.
        pnl.trade_id = None;
        assert!(v.value(&pnl).unwrap().source.starts_with("index:BTC-USD:1H:open"));
    }

    /// Issue 19 item 4: a minute at or after the first bar still forming when prices were
    /// fetched is pending (not missing, not listed); one in a fetched range without a bar
    /// is before the instrument's history.
    #[test]
    fn pending_and_before_history() {
        let dir = tempfile::tempdir().unwrap();
        let mut cache = btc_cache(dir.path());
        let btc = Inst::index("BTC");
        cache.set_unconfirmed(&btc, "1m", T16 + 5 * H).unwrap();
        cache
            .store_page(&btc, "1m", &[], (T16 - 10 * H, T16 - 9 * H))
            .unwrap();
        let mut v = CachedValuer::new(Fiat::usd(), cache, UserPrices::default());
        let rv = v.value(&at(T16 + 5 * H + 30_000, "p", "BTC", "1")).unwrap();
        assert!(rv.is_pending(), "{rv:?}");
        assert_eq!(rv.source, PENDING_SOURCE);
        assert_eq!(v.missing().count(), 0);
        let rv = v.value(&at(T16 - 10 * H + 60_000, "old", "BTC", "1")).unwrap();
        assert_eq!(rv.value, None);
        assert!(!rv.is_pending());
        let why = &v.missing().next().unwrap().why;
        assert!(why.contains("before its history"), "{why}");
        assert_eq!((v.counts(), v.pending()), ((0, 1), 1));
    }

    #[test]
    fn bounds_round_up_and_compose() {
        assert_eq!(bound_suffix(Decimal::ZERO), "");
        assert_eq!(bound_suffix(d("0.00311")), ";bound=0.32%");
        assert_eq!(bound_suffix(d("0.0025")), ";bound=0.25%");
        assert_eq!(combine(d("0.001"), d("0.002"), false), d("0.003002"));
        assert!(combine(d("0.001"), d("0.002"), true) > d("0.003"));
    }

    /// Issue 19 item 7: a EUR value lacking the ECB's USD series says EUR, and its fix is
    /// `prices --fiat EUR`.
    #[test]
    fn a_missing_ecb_rate_names_the_fiat_asked_for() {
        let dir = tempfile::tempdir().unwrap();
        let cache = PriceCache::open(&dir.path().join("c.sqlite")).unwrap();
        let mut v = CachedValuer::new(Fiat::parse("EUR").unwrap(), cache, UserPrices::default());
        let rv = v.value(&row("USD", "10")).unwrap();
        assert_eq!(rv.value, None);
        let why = &v.missing().next().unwrap().why;
        assert!(why.contains("EUR values"), "{why}");
        assert!(why.contains("okx-export prices --fiat EUR"), "{why}");
    }
}
