//! The sections that show `tax-summary.csv`'s lines: income by month and kind, derivatives
//! per instrument, fees by kind, disposals. Every `*` total is printed by [`total_cell`]
//! with its `data-tax="section/item"` key and the CSV's digits.

use super::cells::{money, num};
use super::svg;
use super::view::{self, Money};
use crate::export::TaxSummary;
use crate::report::Written;
use maud::{Markup, html};

/// The `*` total of (section, item) with its `data-tax` key, or `0` when nothing was booked
/// (then `tax-summary.csv` has no such line either).
fn total_cell(tax: &TaxSummary, section: &str, item: &str) -> Markup {
    if let Some(t) = view::total(tax, section, item) {
        money(Some(t), Some(&format!("{section}/{item}")))
    } else {
        html! { span.num { "0" } }
    }
}

fn no_tax() -> Markup {
    html! { p.note { "A report without an end date has no tax summary: give --year or --to." } }
}

pub(super) fn income(w: &Written) -> Markup {
    let fiat = w.values.fiat.as_str();
    let Some(tax) = &w.tax else {
        return html! { section #income { h2 { "Income" } (no_tax()) } };
    };
    let items = view::items(tax, "income", &view::INCOME_ITEMS);
    let (months, cells) = view::by_month(tax, "income");
    let series: Vec<(String, Vec<f64>)> = items
        .iter()
        .map(|i| {
            (
                (*i).to_string(),
                months
                    .iter()
                    .map(|m| cells.get(&(m.clone(), *i)).map_or(0.0, Money::f64))
                    .collect(),
            )
        })
        .collect();
    html! {
        section #income {
            h2 { "Income by month and kind" }
            p.note { "Staking, Earn, airdrops, referral and other income, valued in " (fiat) " at each row's time; the totals are tax-summary.csv's income lines." }
            @if !months.is_empty() {
                (svg::stacked_bars(&months, &series, fiat))
                ul.legend { @for (i, item) in items.iter().enumerate() { li { span class={"sw c" (i % 10)} {} (item) } } }
            }
            table {
                thead { tr { th { "month" } @for i in &items { th.r { (i) } } } }
                tbody {
                    @for m in &months {
                        tr { td { (m) } @for i in &items { td.r { @if let Some(c) = cells.get(&(m.clone(), *i)) { (money(Some(*c), None)) } } } }
                    }
                }
                tfoot {
                    tr { th { "total" } @for i in &items { td.r { (total_cell(tax, "income", i)) } } }
                }
            }
            (asset_lines(tax, "income"))
        }
    }
}

/// A section's lines per item and asset (amounts in the asset), collapsed.
fn asset_lines(tax: &TaxSummary, section: &str) -> Markup {
    let lines = view::lines(tax, section);
    html! {
        @if !lines.is_empty() {
            details {
                summary { "Per asset (" (lines.len()) " lines)" }
                table {
                    thead { tr { th { "item" } th { "asset" } th.r { "amount" } th.r { "value" } th.r { "rows" } } }
                    tbody {
                        @for (item, asset, l) in &lines {
                            tr { td { (item) } td { (asset) } td.r { (num(l.amount)) } td.r { (money(Some(Money::of(l)), None)) } td.r { (l.rows) } }
                        }
                    }
                }
            }
        }
    }
}

pub(super) fn derivatives(w: &Written) -> Markup {
    let fiat = w.values.fiat.as_str();
    let Some(tax) = &w.tax else {
        return html! { section #derivatives { h2 { "Derivatives" } (no_tax()) } };
    };
    let rows = view::instruments(tax);
    let sum = |f: fn(&view::InstrumentRow) -> Money| {
        let mut t = Money::default();
        rows.iter().for_each(|r| t.add(f(r)));
        t
    };
    html! {
        section #derivatives {
            h2 { "Derivatives per instrument" }
            p.note { "Realized PnL, funding received and paid, liquidations and trading fees per instrument, in " (fiat) " (gains +, losses −; fees as costs +). The totals are tax-summary.csv's derivatives lines; fees are in the fees section's derivatives line." }
            @if rows.is_empty() {
                p { "No derivatives activity in the period." }
            } @else {
                table {
                    thead { tr { th { "instrument" } th { "settled in" } th.r { "realized PnL" } th.r { "funding received" } th.r { "funding paid" } th.r { "liquidation" } th.r { "fees" } } }
                    tbody {
                        @for r in &rows {
                            tr { td { (r.instrument) } td { (r.asset) } td.r { (money(Some(r.pnl), None)) } td.r { (money(Some(r.funding_received), None)) } td.r { (money(Some(r.funding_paid), None)) } td.r { (money(Some(r.liquidation), None)) } td.r { (money(Some(r.fees), None)) } }
                        }
                    }
                    tfoot {
                        tr { th colspan="2" { "total" } td.r { (total_cell(tax, "derivatives", "trading")) } td.r { (money(Some(sum(|r| r.funding_received)), None)) } td.r { (money(Some(sum(|r| r.funding_paid)), None)) } td.r { (total_cell(tax, "derivatives", "liquidation")) } td.r { (money(Some(sum(|r| r.fees)), None)) } }
                        tr { th colspan="2" { "funding, net" } td {} td.r colspan="2" { (total_cell(tax, "derivatives", "funding")) } td {} td {} }
                        @for item in view::items(tax, "derivatives", &["trading", "funding", "liquidation"]).into_iter().skip(3) {
                            tr { th colspan="2" { (item) } td.r colspan="5" { (total_cell(tax, "derivatives", item)) } }
                        }
                    }
                }
            }
        }
    }
}

pub(super) fn fees(w: &Written) -> Markup {
    let Some(tax) = &w.tax else {
        return html! { section #fees { h2 { "Fees" } (no_tax()) } };
    };
    let items = view::items(tax, "fees", &view::FEE_ITEMS);
    html! {
        section #fees {
            h2 { "Fees by kind" }
            p.note { "Trading fees (spot and derivatives), withdrawal fees, interest paid, and rebates (money back, +), in " (w.values.fiat) "." }
            table {
                thead { tr { th { "kind" } th.r { "value" } th.r { "rows" } } }
                tbody {
                    @for i in &items {
                        @if let Some(t) = view::total(tax, "fees", i) {
                            tr { td { (i) } td.r { (money(Some(t), Some(&format!("fees/{i}")))) } td.r { (t.rows) } }
                        }
                    }
                }
            }
            (asset_lines(tax, "fees"))
        }
    }
}

pub(super) fn disposals(w: &Written) -> Markup {
    let Some(tax) = &w.tax else {
        return html! { section #disposals { h2 { "Disposals" } (no_tax()) } };
    };
    let lines = view::lines(tax, "disposals");
    html! {
        section #disposals {
            h2 { "Disposals (gross proceeds)" }
            p.note { "Every trade whose sent side is not fiat, valued as the trade, in " (w.values.fiat) ": what was disposed of. Gains need lot matching: your tax tool computes them from the files." }
            table {
                thead { tr { th { "asset disposed of" } th.r { "amount" } th.r { "proceeds" } th.r { "trades" } } }
                tbody {
                    @for (_, asset, l) in &lines {
                        tr { td { (asset) } td.r { (num(l.amount)) } td.r { (money(Some(Money::of(l)), None)) } td.r { (l.rows) } }
                    }
                }
                tfoot {
                    tr { th { "total" } td {} td.r { (total_cell(tax, "disposals", "gross_proceeds")) } td.r { (lines.iter().map(|l| l.2.rows).sum::<u64>()) } }
                }
            }
        }
    }
}
