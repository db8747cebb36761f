//! [`CachedValuer`]: the [`Valuer`] that reads what the price stage stored (no network).
//!
//! For each asset of a row it takes the asset's route (the first candidate of
//! [`rules::candidates`] not known to be absent, as the stage did) and reads the close of
//! the bar holding the row's time: the 1-minute bar if the cache has it, else the 1-hour
//! one. A price from `--prices FILE` for the asset's minute wins over all of that.

use super::cache::PriceCache;
use super::file::{MissingPrice, UserPrices};
use super::rules::{self, BAR_1H, BAR_1M, Inst, Route};
use super::{Fiat, RowValue, Valuer};
use crate::model::{Amount, Kind, Transaction};
use anyhow::Result;
use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

/// A price and how it was found.
type Priced = (Decimal, String);

pub struct CachedValuer {
    fiat: Fiat,
    cache: PriceCache,
    user: UserPrices,
    absent: HashMap<Inst, bool>,
    memo: HashMap<(String, i64), Result<Priced, String>>,
    missing: BTreeMap<(String, i64), MissingPrice>,
    valued: u64,
    unvalued: u64,
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
        }
    }

    /// The (asset, minute)s without a price so far, with the rows that need them.
    pub fn missing(&self) -> impl Iterator<Item = &MissingPrice> {
        self.missing.values()
    }

    /// Rows valued and rows without a value so far.
    pub fn counts(&self) -> (u64, u64) {
        (self.valued, self.unvalued)
    }

    fn is_absent(&mut self, inst: &Inst) -> Result<bool> {
        if let Some(a) = self.absent.get(inst) {
            return Ok(*a);
        }
        let a = self.cache.is_absent(inst)?;
        self.absent.insert(inst.clone(), a);
        Ok(a)
    }

    /// Close of the bar of `inst` holding `ts`: 1-minute if stored, else 1-hour.
    fn close(&self, inst: &Inst, ts: i64) -> Result<Result<Priced, String>> {
        for (bar, step) in [BAR_1M, BAR_1H] {
            if let Some(b) = self.cache.bar(inst, bar, rules::bar_open(ts, step))? {
                return Ok(Ok((
                    b.close,
                    format!("{}:{}:{bar}:close", inst.kind.as_str(), inst.id),
                )));
            }
        }
        Ok(Err(format!(
            "no {} bar for {} at this time in the price cache (before its history, or run `okx-export prices`)",
            inst.kind.as_str(),
            inst.id
        )))
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

    /// USD per unit of `asset` at `ts`.
    fn usd(&mut self, asset: &str, ts: i64, depth: u32) -> Result<Result<Priced, String>> {
        let mut route = None;
        for r in rules::candidates(asset) {
            let mut ok = true;
            for i in r.instruments() {
                if self.is_absent(i)? {
                    ok = false;
                }
            }
            if ok {
                route = Some(r);
                break;
            }
        }
        let Some(route) = route else {
            return Ok(Err(format!(
                "OKX has no market for {asset} (no {asset}-USD index and no {asset}-USDT/USDC/BTC/ETH pair)"
            )));
        };
        Ok(match route {
            Route::Usd => Ok((Decimal::ONE, "usd".into())),
            Route::Ecb(ccy) => match (self.ecb("USD", ts)?, self.ecb(&ccy, ts)?) {
                (Ok((usd, d)), Ok((c, _))) => Ok((usd / c, format!("ecb:{d}"))),
                (Err(e), _) | (_, Err(e)) => Err(format!(
                    "{e} (needed for the {ccy} amount; run `{}`)",
                    self.prices_command()
                )),
            },
            Route::Index(i) => self.close(&i, ts)?,
            Route::Pair { pair, quote } => match self.close(&pair, ts)? {
                Ok((p, src)) if depth < 3 => match self.usd(&quote, ts, depth + 1)? {
                    Ok((q, qsrc)) => Ok((p * q, format!("route:{src}*{qsrc}"))),
                    Err(e) => Err(e),
                },
                Ok(_) => Err(format!("{asset}: route too long")),
                Err(e) => Err(e),
            },
            Route::Derived { index, pair } => match (self.close(&index, ts)?, self.close(&pair, ts)?) {
                (Ok((i, isrc)), Ok((p, psrc))) if !p.is_zero() => {
                    Ok((i / p, format!("derived:{isrc}/{psrc}")))
                }
                (Ok(_), Ok(_)) => Err(format!("{} close is zero", pair.id)),
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

    /// Unit price of `asset` in the valuation fiat at `ts` (memoized per minute).
    pub fn unit_price(&mut self, asset: &str, ts: i64) -> Result<Result<Priced, String>> {
        let minute = rules::bar_open(ts, 60_000);
        let key = (asset.to_string(), minute);
        if let Some(p) = self.memo.get(&key) {
            return Ok(p.clone());
        }
        let p = if let Some(p) = self.user.prices.get(&key) {
            Ok((*p, self.user.source.clone()))
        } else if asset == self.fiat.as_str() {
            Ok((Decimal::ONE, format!("fiat:{asset}")))
        } else {
            match (self.usd(asset, ts, 0)?, self.usd_to_fiat(ts)?) {
                (Ok((p, src)), Ok((k, ksrc))) => {
                    Ok(((p * k).round_dp(12).normalize(), format!("{src}{ksrc}")))
                }
                (Err(e), _) | (_, Err(e)) => Err(e),
            }
        };
        self.memo.insert(key, p.clone());
        Ok(p)
    }

    fn note_missing(&mut self, asset: &str, ts: i64, row: &str, why: &str) {
        let minute = rules::bar_open(ts, 60_000);
        let m = self
            .missing
            .entry((asset.to_string(), minute))
            .or_insert_with(|| MissingPrice {
                asset: asset.to_string(),
                minute,
                row_ids: Vec::new(),
                why: why.to_string(),
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

    fn value(&mut self, tx: &Transaction) -> Result<RowValue> {
        let ts = tx.time.timestamp_millis();
        let mut unit_prices: Vec<(String, Option<Decimal>)> = Vec::new();
        let mut sources: HashMap<String, Result<String, String>> = HashMap::new();
        for a in [&tx.sent, &tx.received, &tx.fee].into_iter().flatten() {
            if unit_prices.iter().any(|(x, _)| *x == a.asset) {
                continue;
            }
            let p = self.unit_price(&a.asset, ts)?;
            unit_prices.push((a.asset.clone(), p.as_ref().ok().map(|x| x.0)));
            if let Err(why) = &p {
                self.note_missing(&a.asset, ts, &tx.id, why);
            }
            sources.insert(a.asset.clone(), p.map(|x| x.1));
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
        let (value, source) = match leg {
            Some((a, is_trade)) => match (price_of(&a.asset), sources.get(&a.asset)) {
                (Some(p), Some(Ok(src))) => {
                    let v = (a.amount * p).round_dp(8).normalize();
                    let src = if is_trade {
                        format!("leg:{}:{src}", a.asset)
                    } else {
                        src.clone()
                    };
                    (Some(v), src)
                }
                _ => (None, String::new()),
            },
            None => (None, String::new()),
        };
        if value.is_some() {
            self.valued += 1;
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
