//! Fiat values in the export (issue 11): what each format's value cells hold, worked out
//! from the row's [`RowValue`] (the [`crate::prices::Valuer`]'s answer), and how the values
//! of rows that a format merges are merged.
//!
//! * A **total** (Koinly `Net Worth Amount`, CoinTracking `Buy/Sell Value in Account
//!   Currency`, BittyTax `Buy/Sell/Fee Value in GBP`) is what the amount written in that cell
//!   is worth: for the two legs of a trade, the row's `value` (one number for both legs, as
//!   the valuer decided, e.g. by its stablecoin leg); for any other amount (income, deposit,
//!   a fee, a folded amount), that amount × its asset's unit price. Totals are rounded to 8
//!   decimal places (sub-cent, and no 28-digit cells).
//! * A **unit price** (DaLI `spot_price`, CTC `Reference Price Per Unit`): for a coin that is
//!   one leg of a trade, the row's `value` ÷ that leg's amount, so the price a tool sees is
//!   the price the trade was done at (a 1900 USDT buy of 0.02 BTC gives BTC 95000 × the
//!   USDT rate); otherwise the asset's unit price. Rounded to 12 significant digits (RP2
//!   reads 11 decimal places).
//! * Nothing is made up: a missing price gives an empty cell (`__unknown` in DaLI), never 0.

use super::prep::Prep;
use crate::model::{Amount, Kind, Transaction};
use crate::prices::RowValue;
use rust_decimal::{Decimal, RoundingStrategy};

/// Decimal places of a written total.
const TOTAL_DP: u32 = 8;
/// Significant digits of a written unit price.
const UNIT_SF: u32 = 12;

fn round_total(d: Decimal) -> Decimal {
    d.round_dp_with_strategy(TOTAL_DP, RoundingStrategy::MidpointAwayFromZero)
        .normalize()
}

fn round_unit(d: Decimal) -> Decimal {
    d.round_sf_with_strategy(UNIT_SF, RoundingStrategy::MidpointAwayFromZero)
        .unwrap_or(d)
        .normalize()
}

impl Prep<'_> {
    /// The fiat every value of this row is in.
    pub fn fiat(&self) -> &str {
        self.value.fiat.as_str()
    }

    /// The value of the whole trade (both legs), if known.
    pub fn trade_value(&self) -> Option<Decimal> {
        self.value.value.map(round_total)
    }

    /// What `amount` (a one-sided amount: income, deposit, fee, a folded amount) is worth.
    /// Falls back to the row's value when the valuer gave no unit price and `amount` is the
    /// row's only amount.
    pub fn worth(&self, amount: &Amount) -> Option<Decimal> {
        worth(self.tx, self.value, amount)
    }

    /// The unit price of `asset` in this row (see the module doc), rounded for a cell.
    pub fn unit_price(&self, asset: &str) -> Option<Decimal> {
        exact_unit_price(self.tx, self.value, asset).map(round_unit)
    }
}

/// What `amount` of row `tx` is worth ([`Prep::worth`]).
pub(crate) fn worth(tx: &Transaction, value: &RowValue, amount: &Amount) -> Option<Decimal> {
    if let Some(p) = exact_unit_price(tx, value, &amount.asset) {
        return Some(round_total(p * amount.amount));
    }
    let only = match (&tx.sent, &tx.received, &tx.fee) {
        (Some(a), None, None) | (None, Some(a), None) | (None, None, Some(a)) => Some(a),
        _ => None,
    };
    match (only, value.value) {
        (Some(a), Some(v)) if a == amount => Some(round_total(v)),
        _ => None,
    }
}

/// The unit price of `asset` in row `tx`: derived from the trade's value for a trade leg's
/// coin, else the valuer's.
fn exact_unit_price(tx: &Transaction, value: &RowValue, asset: &str) -> Option<Decimal> {
    let traded = matches!(tx.kind, Kind::Trade | Kind::Liquidation);
    if let (true, Some(s), Some(r), Some(v)) = (traded, &tx.sent, &tx.received, value.value) {
        for leg in [r, s] {
            if leg.asset == asset && !leg.amount.is_zero() {
                return v.checked_div(leg.amount);
            }
        }
    }
    value.unit_price(asset)
}

/// Folds the value of `next` into `held` when a format merges the two rows: values add up,
/// and the merged row is missing a value if either part is; sources are kept, distinct ones
/// joined with `+`; unit prices of assets new to `held` are added.
pub(crate) fn merge(held: &mut RowValue, next: &RowValue) {
    held.value = match (held.value, next.value) {
        (Some(a), Some(b)) => Some(a + b),
        _ => None,
    };
    if held.value.is_none() {
        held.source.clear();
    } else if !next.source.is_empty() && !held.source.split('+').any(|s| s == next.source) {
        if !held.source.is_empty() {
            held.source.push('+');
        }
        held.source.push_str(&next.source);
    }
    for (asset, price) in &next.unit_prices {
        if !held.unit_prices.iter().any(|(a, _)| a == asset) {
            held.unit_prices.push((asset.clone(), *price));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testdata::dec;
    use super::*;
    use crate::prices::Fiat;

    fn v(value: Option<&str>, source: &str, prices: &[(&str, Option<&str>)]) -> RowValue {
        RowValue {
            fiat: Fiat::usd(),
            value: value.map(dec),
            source: source.into(),
            unit_prices: prices
                .iter()
                .map(|(a, p)| ((*a).to_string(), p.map(dec)))
                .collect(),
        }
    }

    #[test]
    fn merged_values_add_up_and_a_missing_part_makes_the_row_missing() {
        let mut held = v(
            Some("1900"),
            "leg:USDT",
            &[("USDT", Some("1")), ("BTC", Some("95000"))],
        );
        merge(&mut held, &v(Some("0.0102"), "leg:USDT", &[("USDT", Some("1"))]));
        assert_eq!(held.value, Some(dec("1900.0102")));
        assert_eq!(held.source, "leg:USDT");
        merge(
            &mut held,
            &v(Some("1"), "file:prices.csv", &[("OKB", Some("50"))]),
        );
        assert_eq!(held.source, "leg:USDT+file:prices.csv");
        assert_eq!(held.unit_price("OKB"), Some(dec("50")));
        merge(&mut held, &v(None, "", &[("USDT", None)]));
        assert_eq!((held.value, held.source.as_str()), (None, ""));
        merge(&mut held, &v(Some("5"), "leg:USDT", &[]));
        assert_eq!(held.value, None, "missing stays missing");
    }

    #[test]
    fn rounding() {
        assert_eq!(round_total(dec("0.000000015")), dec("0.00000002"));
        assert_eq!(round_total(dec("1900.00")).to_string(), "1900");
        assert_eq!(round_unit(dec("1") / dec("3")).to_string(), "0.333333333333");
        assert_eq!(round_unit(dec("95000.000000000001")).to_string(), "95000");
    }
}
