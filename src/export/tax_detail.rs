//! The breakdown of `tax-summary.csv`'s lines (issue 21): every amount [`super::TaxSummary`]
//! books on a flow line (income, derivatives, fees, disposals) is also booked here by the
//! month it falls in (in the report's zone) and, for derivatives, by instrument. The report
//! page's monthly charts and per-instrument table read these, so their sums are the CSV's
//! lines by construction: the same booking, kept twice, never a second computation.

use chrono::{DateTime, Datelike, Utc};
use chrono_tz::Tz;
use rust_decimal::Decimal;
use std::collections::BTreeMap;

/// A booked amount's row: when, and on which instrument.
#[derive(Debug, Clone, Default)]
pub(super) struct RowContext {
    pub time: DateTime<Utc>,
    pub instrument: Option<String>,
}

/// Monthly and per-instrument sums of the flow lines.
#[derive(Debug, Clone)]
pub struct TaxDetail {
    tz: Tz,
    /// Month `YYYY-MM` in `tz` → (section, item) → asset → sums: nested, so that a booking
    /// finds its line without building a key (a report books every row here).
    by_month: BTreeMap<String, MonthLines>,
    /// The (year, month) of the last booking and its `YYYY-MM` (rows come in time order).
    last_month: Option<((i32, u32), String)>,
    /// (instrument, section, item, asset, `true` for a negative amount) → sums: realized
    /// PnL, funding and liquidations (`derivatives`) and derivatives fees (`fees`).
    by_instrument: BTreeMap<(String, &'static str, &'static str, String, bool), Line>,
}

/// A month's lines: (section, item) → asset → sums.
type MonthLines = BTreeMap<(&'static str, &'static str), BTreeMap<String, Line>>;

/// One (month or instrument) cell of the breakdown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DetailEntry<'a> {
    pub key: &'a str,
    pub section: &'static str,
    pub item: &'static str,
    pub asset: &'a str,
    /// For [`TaxDetail::by_instrument`]: the booked amounts were negative (paid, lost).
    pub negative: bool,
    pub line: &'a Line,
}

impl TaxDetail {
    pub fn new(tz: Tz) -> TaxDetail {
        TaxDetail {
            tz,
            by_month: BTreeMap::new(),
            last_month: None,
            by_instrument: BTreeMap::new(),
        }
    }

    /// The zone months are taken in.
    pub fn tz(&self) -> Tz {
        self.tz
    }

    pub(super) fn book(
        &mut self,
        ctx: &RowContext,
        section: &'static str,
        item: &'static str,
        asset: &str,
        amount: Decimal,
        value: Option<Decimal>,
    ) {
        let local = ctx.time.with_timezone(&self.tz);
        let ym = (local.year(), local.month());
        let month = match &self.last_month {
            Some((at, text)) if *at == ym => text,
            _ => &self.last_month.insert((ym, format!("{:04}-{:02}", ym.0, ym.1))).1,
        };
        let items = match self.by_month.get_mut(month.as_str()) {
            Some(items) => items,
            None => self.by_month.entry(month.clone()).or_default(),
        };
        let assets = items.entry((section, item)).or_default();
        let line = match assets.get_mut(asset) {
            Some(line) => line,
            None => assets.entry(asset.to_string()).or_default(),
        };
        add(line, amount, value);
        let per_instrument = section == "derivatives" || (section == "fees" && item == "derivatives");
        if per_instrument {
            let inst = ctx.instrument.clone().unwrap_or_default();
            let key = (inst, section, item, asset.to_string(), amount.is_sign_negative());
            add(self.by_instrument.entry(key).or_default(), amount, value);
        }
    }

    /// Every (month, section, item, asset) booked, in month order.
    pub fn by_month(&self) -> impl Iterator<Item = DetailEntry<'_>> {
        self.by_month.iter().flat_map(|(m, items)| {
            items.iter().flat_map(move |((s, i), assets)| {
                assets.iter().map(move |(a, line)| DetailEntry {
                    key: m,
                    section: s,
                    item: i,
                    asset: a,
                    negative: false,
                    line,
                })
            })
        })
    }

    /// Every (instrument, section, item, asset, sign) booked, in instrument order.
    pub fn by_instrument(&self) -> impl Iterator<Item = DetailEntry<'_>> {
        self.by_instrument
            .iter()
            .map(|((k, s, i, a, neg), line)| DetailEntry {
                key: k,
                section: s,
                item: i,
                asset: a,
                negative: *neg,
                line,
            })
    }
}

fn add(line: &mut Line, amount: Decimal, value: Option<Decimal>) {
    line.amount += amount;
    line.rows += 1;
    match value {
        Some(v) => line.priced_value += v,
        None => line.missing += 1,
    }
}

/// One line's sums.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Line {
    pub amount: Decimal,
    /// Sum of the values of the rows that have one.
    pub priced_value: Decimal,
    pub rows: u64,
    pub missing: u64,
}

impl Line {
    /// The line's value, only when every row has a price.
    pub fn value(&self) -> Option<Decimal> {
        (self.missing == 0).then_some(self.priced_value)
    }
}

#[cfg(test)]
mod tests {
    use super::super::TaxSummary;
    use super::super::testdata::*;
    use rust_decimal::Decimal;

    /// Each line's monthly pieces sum to the line, to the last digit, and derivatives are
    /// split per instrument and sign; holdings are not flows and get no breakdown.
    #[test]
    fn months_and_instruments_sum_to_the_lines() {
        let mut late = staking_reward();
        late.time = ts("2025-03-31T23:30:00Z"); // April in Berlin
        let txs = [
            buy(),
            sell(),
            withdrawal(),
            staking_reward(),
            late,
            funding_fee_paid(),
            pnl_loss(),
            pnl_gain(),
            rebate(),
            fee_only_okb(),
        ];
        let mut t = TaxSummary::with_detail("Europe/Berlin".parse().unwrap());
        for tx in &txs {
            t.add(tx, &fixed_value(tx, "USD"));
        }
        let d = t.detail().unwrap();
        for (section, item, asset, line) in t.lines() {
            let parts: Vec<_> = d
                .by_month()
                .filter(|e| (e.section, e.item, e.asset) == (section, item, asset))
                .collect();
            assert!(!parts.is_empty(), "{section} {item} {asset}");
            let value: Decimal = parts.iter().map(|e| e.line.priced_value).sum();
            let amount: Decimal = parts.iter().map(|e| e.line.amount).sum();
            let rows: u64 = parts.iter().map(|e| e.line.rows).sum();
            assert_eq!((value, amount, rows), (line.priced_value, line.amount, line.rows));
        }
        let months: Vec<&str> = d
            .by_month()
            .filter(|e| e.item == "staking")
            .map(|e| e.key)
            .collect();
        assert!(months.contains(&"2025-04"), "{months:?}");
        let inst: Vec<_> = d.by_instrument().collect();
        assert!(
            inst.iter()
                .all(|e| e.section == "derivatives" || e.item == "derivatives")
        );
        let trading: Decimal = inst
            .iter()
            .filter(|e| e.item == "trading")
            .map(|e| e.line.priced_value)
            .sum();
        assert_eq!(Some(trading), t.total("derivatives", "trading").unwrap().value());
        assert!(inst.iter().any(|e| e.item == "funding" && e.negative));
    }
}
