//! [`FixedPrices`]: a deterministic [`Valuer`] from a table of unit prices, for tests and
//! the offline tax-engine checks (`tests/dali.rs`, `tests/bittytax.rs`) until they run on
//! the price stage's valuer. Not a price source: every time has the same price.
//!
//! Rules (a small copy of the real valuation rules, so expected numbers can be worked out
//! by hand): a trade with a leg in the fiat or a USD stablecoin (`USDT`, `USDC`) is valued
//! by that leg (`leg:<asset>`); any other row by its main amount (received, else sent, else
//! fee) × its asset's price (`fixed:<asset>`). The fiat itself is worth 1. An asset not in
//! the table has no price, and a row that needs it has no value.

use crate::model::{Amount, Transaction};
use crate::prices::{Fiat, RowValue, UsedPrice, Valuer};
use rust_decimal::Decimal;
use std::collections::{BTreeMap, BTreeSet};

/// See the module doc.
#[derive(Debug, Clone)]
pub struct FixedPrices {
    fiat: Fiat,
    prices: Vec<(String, Decimal)>,
    /// Per asset, the minutes of every price given, for [`Valuer::used_prices`] (looked up
    /// by `&str`, so a row allocates nothing for an asset already there).
    used: BTreeMap<String, BTreeSet<i64>>,
}

impl FixedPrices {
    /// Unit prices in `fiat`, e.g. `[("BTC", 95000), ("USDT", 1)]`.
    pub fn new(fiat: Fiat, prices: &[(&str, Decimal)]) -> FixedPrices {
        FixedPrices {
            fiat,
            prices: prices.iter().map(|(a, p)| ((*a).to_string(), *p)).collect(),
            used: BTreeMap::new(),
        }
    }

    /// Prices for every asset of the demo and test accounts, in USD; in another fiat they
    /// are divided by that fiat's USD price (GBP = 1.25 USD, EUR = 1.08 USD).
    pub fn demo(fiat: Fiat) -> FixedPrices {
        let usd: [(&str, &str); 15] = [
            ("BTC", "95000"),
            ("ETH", "3400"),
            ("USDT", "1"),
            ("USDC", "1"),
            ("OKB", "50"),
            ("SOL", "180"),
            ("XRP", "2.2"),
            ("DOGE", "0.35"),
            ("LTC", "105"),
            ("TRX", "0.25"),
            ("TON", "5.5"),
            ("LUNC", "0.0001"),
            ("USD", "1"),
            ("GBP", "1.25"),
            ("EUR", "1.08"),
        ];
        let parse = |s: &str| s.parse::<Decimal>().expect("a decimal literal");
        let rate = usd
            .iter()
            .find(|(a, _)| *a == fiat.as_str())
            .map_or(Decimal::ONE, |(_, p)| parse(p));
        let prices: Vec<(&str, Decimal)> = usd.iter().map(|(a, p)| (*a, parse(p) / rate)).collect();
        FixedPrices::new(fiat, &prices)
    }

    fn price(&self, asset: &str) -> Option<Decimal> {
        if asset == self.fiat.as_str() {
            return Some(Decimal::ONE);
        }
        self.prices.iter().find(|(a, _)| a == asset).map(|(_, p)| *p)
    }
}

impl Valuer for FixedPrices {
    fn fiat(&self) -> &Fiat {
        &self.fiat
    }

    fn used_prices(&self) -> Vec<UsedPrice> {
        self.used
            .iter()
            .flat_map(|(asset, minutes)| minutes.iter().map(move |m| (asset, m)))
            .filter_map(|(asset, minute)| {
                Some(UsedPrice {
                    asset: asset.clone(),
                    minute: *minute,
                    price: self.price(asset)?,
                    source: format!("fixed:{asset}"),
                })
            })
            .collect()
    }

    fn value(&mut self, tx: &Transaction) -> anyhow::Result<RowValue> {
        let mut unit_prices: Vec<(String, Option<Decimal>)> = Vec::new();
        let minute = tx.time.timestamp_millis().div_euclid(60_000) * 60_000;
        for a in [&tx.sent, &tx.received, &tx.fee].into_iter().flatten() {
            if !unit_prices.iter().any(|(x, _)| *x == a.asset) {
                unit_prices.push((a.asset.clone(), self.price(&a.asset)));
                if self.price(&a.asset).is_some() {
                    match self.used.get_mut(a.asset.as_str()) {
                        Some(minutes) => {
                            minutes.insert(minute);
                        }
                        None => {
                            self.used.insert(a.asset.clone(), BTreeSet::from([minute]));
                        }
                    }
                }
            }
        }
        let fiat = self.fiat.as_str();
        let stable = |a: &&Amount| a.asset == fiat || a.asset == "USDT" || a.asset == "USDC";
        let (by, source) = match (&tx.sent, &tx.received) {
            (Some(s), Some(r)) => match [r, s].into_iter().find(stable) {
                Some(leg) => (Some(leg), "leg"),
                None => (Some(r), "fixed"),
            },
            (None, Some(a)) | (Some(a), None) => (Some(a), "fixed"),
            (None, None) => (tx.fee.as_ref(), "fixed"),
        };
        let value = by.and_then(|a| self.price(&a.asset).map(|p| p * a.amount));
        let source = match (value, by) {
            (Some(_), Some(a)) => format!("{source}:{}", a.asset),
            _ => String::new(),
        };
        Ok(RowValue {
            fiat: self.fiat.clone(),
            value,
            source,
            unit_prices,
        })
    }
}
