//! Fiat values for normalized rows, from OKX's own public market data (issue 11).
//!
//! This file is the contract between the two halves of the price work:
//!
//! * the **price side** (fetching candles and reference rates, the machine-wide price cache,
//!   the valuation rules, `missing_prices.csv` and `--prices FILE`) implements [`Valuer`];
//! * the **export side** (value columns in `transactions.csv` and every tax format,
//!   `tax-summary.csv`) only consumes [`RowValue`]s through that trait.
//!
//! Money stays `Decimal`; a value is never made up: an asset without a price is `None` and the
//! row is reported as missing, never valued at zero.

pub mod alongside;
pub mod boundaries;
pub mod cache;
pub mod ecb;
pub mod file;
pub mod known;
pub mod layout;
pub mod pipeline;
pub mod routes;
pub mod rules;
pub mod stage;
pub mod valuer;

pub use pipeline::{PriceOptions, PriceSummary, open_store_valuer, open_valuer};
pub use valuer::CachedValuer;

use crate::model::Transaction;
use rust_decimal::Decimal;
use std::fmt;

/// The fiat currency values are expressed in (`--fiat`, default `USD`): an ISO 4217 code in
/// upper case, e.g. `USD`, `EUR`, `GBP`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Fiat(String);

impl Fiat {
    /// The default valuation currency.
    pub fn usd() -> Fiat {
        Fiat("USD".to_string())
    }

    /// Parses a code (case-insensitive), e.g. `eur` → `EUR`: USD (OKX's own index prices)
    /// or a currency the ECB publishes a euro reference rate for ([`ecb::CURRENCIES`]),
    /// since every other value is converted through those rates.
    pub fn parse(s: &str) -> Result<Fiat, String> {
        let code = s.trim().to_ascii_uppercase();
        if ecb::CURRENCIES.contains(&code.as_str()) {
            Ok(Fiat(code))
        } else {
            Err(format!(
                "`{s}` is not a currency values can be given in; use USD or one of the ECB's reference currencies: {}",
                ecb::CURRENCIES.join(", ")
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Fiat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The fiat value of one normalized row and the unit prices behind it.
#[derive(Debug, PartialEq, Eq)]
pub struct RowValue {
    /// The currency of `value` and of every unit price.
    pub fiat: Fiat,
    /// What the row is worth in `fiat`: for a trade, the value of what changed hands (one
    /// number for both legs); for a one-sided row (deposit, income, fee, pnl, …), its amount
    /// times its asset's unit price. `None` when it cannot be valued.
    pub value: Option<Decimal>,
    /// How `value` was found, in one short machine-readable text, e.g.
    /// `leg:USDT:…` (a trade valued by its stablecoin leg), `index:BTC-USD:1m:close`,
    /// `route:spot:SOL-USDT:1H:open*…;bound=0.21%` (from 1-hour bars: the stated bound of
    /// the error, see [`RowValue::bound`]), `fill:BTC-USD-SWAP`, `ecb:2025-03-03`,
    /// `file:prices.csv`. Empty when `value` is `None`, or `pending` when its bar had not
    /// closed when prices were fetched.
    pub source: String,
    /// The unit price in `fiat` at the row's time of every asset the row touches (sent,
    /// received and fee assets), `None` for an asset that has no price. Formats that value
    /// legs or fees separately (BittyTax fee value, DaLI `spot_price`) read these.
    pub unit_prices: Vec<(String, Option<Decimal>)>,
}

impl Clone for RowValue {
    fn clone(&self) -> RowValue {
        RowValue {
            fiat: self.fiat.clone(),
            value: self.value,
            source: self.source.clone(),
            unit_prices: self.unit_prices.clone(),
        }
    }

    /// Reuses the texts already allocated (the export copies the value of every row it
    /// holds back to merge into the one it keeps; a derived `clone_from` allocates anew).
    fn clone_from(&mut self, from: &RowValue) {
        self.fiat.0.clone_from(&from.fiat.0);
        self.value = from.value;
        self.source.clone_from(&from.source);
        let n = from.unit_prices.len();
        self.unit_prices.truncate(n);
        for ((asset, price), (from_asset, from_price)) in self.unit_prices.iter_mut().zip(&from.unit_prices) {
            asset.clone_from(from_asset);
            *price = *from_price;
        }
        let kept = self.unit_prices.len();
        self.unit_prices.extend_from_slice(&from.unit_prices[kept..]);
    }
}

impl RowValue {
    /// The unit price of `asset` in this row, if it has one.
    pub fn unit_price(&self, asset: &str) -> Option<Decimal> {
        self.unit_prices
            .iter()
            .find(|(a, _)| a == asset)
            .and_then(|(_, p)| *p)
    }

    /// How far `value` can be from the value at the row's minute, as a fraction, when its
    /// source states it (`…;bound=0.32%`, a price from a 1-hour bar; the widest of merged
    /// parts). `None`: the price of the row's minute (a minute bar, a fill, a file, a
    /// reference rate or a fiat leg).
    pub fn bound(&self) -> Option<Decimal> {
        self.source
            .split('+')
            .filter_map(|part| {
                let pct = part.rsplit_once(";bound=")?.1.strip_suffix('%')?;
                pct.parse::<Decimal>().ok()
            })
            .max()
            .map(|pct| pct / Decimal::ONE_HUNDRED)
    }

    /// Whether the row has no value yet because its price bar had not closed when prices
    /// were fetched (the next sync values it): not a missing price.
    pub fn is_pending(&self) -> bool {
        self.value.is_none() && self.source == valuer::PENDING_SOURCE
    }
}

/// Values rows, one at a time, in the order they are exported (time order).
///
/// Implementations look prices up in what the price stage stored; they do no network I/O.
/// A row whose assets have no price gets a [`RowValue`] with `value: None` and is remembered
/// for `missing_prices.csv`.
pub trait Valuer {
    /// The fiat every value is in.
    fn fiat(&self) -> &Fiat;

    /// The value of `tx`.
    fn value(&mut self, tx: &Transaction) -> anyhow::Result<RowValue>;

    /// Writes `missing_prices.csv` (the rows valued so far without a price) to `path`, or
    /// removes a stale one when nothing is missing; returns whether a file was written.
    /// A valuer that keeps no such list writes nothing.
    fn write_missing_prices(&self, _path: &std::path::Path) -> anyhow::Result<bool> {
        Ok(false)
    }

    /// Every unit price looked up so far, by (asset, minute), with its source: the report
    /// page's price appendix (issue 21). A valuer that keeps no such list gives none.
    fn used_prices(&self) -> Vec<UsedPrice> {
        Vec::new()
    }

    /// The (asset, minute)s without a price so far, with the rows that need them: what
    /// `missing_prices.csv` lists.
    fn missing_prices(&self) -> Vec<file::MissingPrice> {
        Vec::new()
    }

    /// When the prices were fetched (the host's time), if known: holdings "now" are valued
    /// at the newest minute that had closed by then.
    fn prices_as_of(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        None
    }
}

/// A unit price a [`Valuer`] looked up: `asset` at the minute opening at `minute` (Unix
/// ms) was `price` in the fiat, found as `source` (see [`RowValue::source`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsedPrice {
    pub asset: String,
    pub minute: i64,
    pub price: Decimal,
    pub source: String,
}

/// A [`Valuer`] that knows no prices: every row is `value: None`. For exports run without a
/// price stage, and as the placeholder until one exists.
#[derive(Debug, Clone)]
pub struct NoPrices {
    fiat: Fiat,
}

impl NoPrices {
    pub fn new(fiat: Fiat) -> NoPrices {
        NoPrices { fiat }
    }
}

impl Valuer for NoPrices {
    fn fiat(&self) -> &Fiat {
        &self.fiat
    }

    fn value(&mut self, tx: &Transaction) -> anyhow::Result<RowValue> {
        let mut unit_prices: Vec<(String, Option<Decimal>)> = Vec::new();
        for a in [&tx.sent, &tx.received, &tx.fee].into_iter().flatten() {
            if !unit_prices.iter().any(|(x, _)| *x == a.asset) {
                unit_prices.push((a.asset.clone(), None));
            }
        }
        Ok(RowValue {
            fiat: self.fiat.clone(),
            value: None,
            source: String::new(),
            unit_prices,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn row_value_clone_from_copies_every_field() {
        let value = |fiat: &str, v: Option<i64>, source: &str, assets: &[(&str, Option<i64>)]| RowValue {
            fiat: Fiat(fiat.to_string()),
            value: v.map(|v| Decimal::new(v, 2)),
            source: source.to_string(),
            unit_prices: assets
                .iter()
                .map(|(a, p)| ((*a).to_string(), p.map(|p| Decimal::new(p, 1))))
                .collect(),
        };
        let long = value(
            "EUR",
            Some(1234),
            "index:BTC-USD:1m:close",
            &[("BTC", Some(5)), ("USDT", None), ("ETH", Some(7))],
        );
        let short = value("USD", None, "", &[("SOL", None)]);
        let empty = value("USD", Some(1), "leg:USDT", &[]);
        for (into, from) in [
            (&short, &long),
            (&long, &short),
            (&long, &empty),
            (&empty, &long),
            (&long, &long),
        ] {
            let mut v = into.clone();
            v.clone_from(from);
            assert_eq!(&v, from);
            assert_eq!(&from.clone(), from);
        }
    }

    #[test]
    fn fiat_codes() {
        assert_eq!(Fiat::parse("eur").unwrap().as_str(), "EUR");
        assert_eq!(Fiat::parse(" gbp ").unwrap().as_str(), "GBP");
        assert_eq!(Fiat::usd().to_string(), "USD");
        assert!(Fiat::parse("EURO").is_err());
        assert!(Fiat::parse("U1D").is_err());
        // Issue 19 item 7: a code the ECB does not publish is refused, listing those it does.
        let e = Fiat::parse("XYZ").unwrap_err();
        assert!(
            e.contains("`XYZ`") && e.contains("USD") && e.contains("CHF, CNY"),
            "{e}"
        );
        assert!(Fiat::parse("RUB").is_err());
    }
}
