//! The cells every section prints: a fiat value (exact, or a dash with the partial sum when
//! rows lack a price) and a plain number.

use super::view::Money;
use crate::model::plain;
use maud::{Markup, html};
use rust_decimal::Decimal;

/// A fiat value cell: the exact value, or a dash with the partial sum when rows lack a price.
pub(super) fn money(m: Option<Money>, tax_key: Option<&str>) -> Markup {
    let m = m.unwrap_or_default();
    html! {
        @match m.value() {
            Some(v) => span.num data-tax=[tax_key] { (plain(v)) },
            None => {
                span.num.nop data-tax=[tax_key] title={(m.missing) " of " (m.rows) " rows have no price; the priced rows sum to " (plain(m.priced))} { "—" }
                small.nop { " (" (m.missing) " unpriced; priced rows: " (plain(m.priced)) ")" }
            }
        }
    }
}

pub(super) fn num(d: Decimal) -> Markup {
    html! { span.num { (plain(d)) } }
}
