//! Data assembly: the [`ReportOutcome`]'s numbers grouped the way the page shows them.
//! Nothing is recomputed: sums here add the `tax-summary.csv` lines (or their monthly and
//! per-instrument breakdown, booked by the same code) and nothing else. Long lists are
//! thinned for the page with the count of what was left out (the CSVs keep everything).

use super::svg::{Row, Segment};
use crate::coverage::{CoverageCheck, Group};
use crate::export::{TaxLine, TaxSummary};
use crate::report::PriceLog;
use crate::report::holdings::HoldingsSeries;
use chrono::{DateTime, TimeZone, Utc};
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use std::collections::{BTreeMap, BTreeSet};

/// Most prices the appendix lists (the rest are counted; every row's value and
/// `price_source` are in `transactions.csv`).
pub const MAX_PRICES: usize = 3000;
/// Most rows any other list shows.
pub const MAX_ROWS: usize = 500;
/// Assets drawn one by one in the holdings chart; the rest are stacked as "other".
pub const MAX_BANDS: usize = 8;

/// A sum of tax-summary lines (values in the fiat).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Money {
    pub priced: Decimal,
    pub rows: u64,
    pub missing: u64,
}

impl Money {
    pub fn of(l: &TaxLine) -> Money {
        Money {
            priced: l.priced_value,
            rows: l.rows,
            missing: l.missing,
        }
    }

    pub fn add(&mut self, o: Money) {
        self.priced += o.priced;
        self.rows += o.rows;
        self.missing += o.missing;
    }

    /// The value, only when every row has a price (as in `tax-summary.csv`).
    pub fn value(&self) -> Option<Decimal> {
        (self.missing == 0).then_some(self.priced)
    }

    pub fn f64(&self) -> f64 {
        self.priced.to_f64().unwrap_or(0.0)
    }
}

/// Item order within each section, as `tax_summary.rs` documents them.
pub const INCOME_ITEMS: [&str; 5] = ["staking", "earn", "airdrops", "referral", "other"];
pub const FEE_ITEMS: [&str; 5] = ["spot", "derivatives", "withdrawal", "interest", "rebates"];

/// The items of `section` that have lines: the documented ones first, then any other.
pub fn items(tax: &TaxSummary, section: &str, known: &[&'static str]) -> Vec<&'static str> {
    let mut out: Vec<&'static str> = known.to_vec();
    for (s, item, _, _) in tax.lines() {
        if s == section && !out.contains(&item) {
            out.push(item);
        }
    }
    out
}

/// (month, item) → the month's sum over assets, for one section; months in order.
pub fn by_month(tax: &TaxSummary, section: &str) -> (Vec<String>, BTreeMap<(String, &'static str), Money>) {
    let mut cells: BTreeMap<(String, &'static str), Money> = BTreeMap::new();
    let mut months = BTreeSet::new();
    if let Some(d) = tax.detail() {
        for e in d.by_month().filter(|e| e.section == section) {
            months.insert(e.key.to_string());
            cells
                .entry((e.key.to_string(), e.item))
                .or_default()
                .add(Money::of(e.line));
        }
    }
    (months.into_iter().collect(), cells)
}

/// One instrument's derivatives results (values; amounts in `asset`).
#[derive(Debug, Clone, Default)]
pub struct InstrumentRow {
    pub instrument: String,
    pub asset: String,
    pub pnl: Money,
    pub funding_received: Money,
    pub funding_paid: Money,
    pub liquidation: Money,
    pub fees: Money,
    pub amount: Decimal,
}

/// The per-instrument table: realized PnL, funding in and out, liquidations and fees.
pub fn instruments(tax: &TaxSummary) -> Vec<InstrumentRow> {
    let mut rows: BTreeMap<(String, String), InstrumentRow> = BTreeMap::new();
    let Some(d) = tax.detail() else {
        return Vec::new();
    };
    for e in d.by_instrument() {
        let r = rows
            .entry((e.key.to_string(), e.asset.to_string()))
            .or_insert_with(|| InstrumentRow {
                instrument: if e.key.is_empty() {
                    "(no instrument)".to_string()
                } else {
                    e.key.to_string()
                },
                asset: e.asset.to_string(),
                ..InstrumentRow::default()
            });
        let m = Money::of(e.line);
        match (e.section, e.item, e.negative) {
            ("fees", _, _) => r.fees.add(m),
            (_, "trading", _) => r.pnl.add(m),
            (_, "funding", false) => r.funding_received.add(m),
            (_, "funding", true) => r.funding_paid.add(m),
            _ => r.liquidation.add(m),
        }
        if e.section == "derivatives" {
            r.amount += e.line.amount;
        }
    }
    rows.into_values().collect()
}

/// The total of (section, item) as `tax-summary.csv`'s `*` line.
pub fn total(tax: &TaxSummary, section: &str, item: &str) -> Option<Money> {
    tax.total(section, item).map(|l| Money::of(&l))
}

/// The lines of one section: (item, asset, line).
pub fn lines<'a>(tax: &'a TaxSummary, section: &str) -> Vec<(&'static str, &'a str, &'a TaxLine)> {
    tax.lines()
        .filter(|(s, ..)| *s == section)
        .map(|(_, i, a, l)| (i, a, l))
        .collect()
}

/// The quarter `2025Q3` as `[start, end)` in ms.
fn quarter_range(label: &str) -> Option<(i64, i64)> {
    let (y, q) = label.split_once('Q')?;
    let (y, q): (i32, u32) = (y.parse().ok()?, q.parse().ok()?);
    if !(1..=4).contains(&q) {
        return None;
    }
    let start = Utc.with_ymd_and_hms(y, q * 3 - 2, 1, 0, 0, 0).single()?;
    let end = if q == 4 {
        Utc.with_ymd_and_hms(y + 1, 1, 1, 0, 0, 0).single()?
    } else {
        Utc.with_ymd_and_hms(y, q * 3 + 1, 1, 0, 0, 0).single()?
    };
    Some((start.timestamp_millis(), end.timestamp_millis()))
}

fn day(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .map_or_else(String::new, |t| t.format("%Y-%m-%d %H:%M UTC").to_string())
}

/// The timeline's span and rows: per group a ledger bar (its streams' ranges joined, the
/// missing ranges red with why and fix), then a bar per stream; archive quarters on one bar.
pub fn timeline(c: &CoverageCheck, from: i64, to: i64) -> Vec<Row> {
    let mut groups: Vec<Group> = Group::REQUIRED.to_vec();
    for s in &c.streams {
        if !groups.contains(&s.group) {
            groups.push(s.group.clone());
        }
    }
    let mut rows = Vec::new();
    for g in groups {
        let required = Group::REQUIRED.contains(&g);
        let mut ledger = Vec::new();
        for (a, b) in c.ranges(&g) {
            ledger.push(Segment {
                from: a.max(from),
                to: b.min(to),
                class: if required { "ok" } else { "info" },
                title: format!("{}: covered {} .. {}", g.name(), day(a.max(from)), day(b.min(to))),
                label: None,
            });
        }
        for m in c.missing.iter().filter(|m| m.group == g) {
            ledger.push(Segment {
                from: m.from.timestamp_millis(),
                to: m.to.timestamp_millis(),
                class: "miss",
                title: format!(
                    "MISSING {} .. {}: {}; fix: {}",
                    day(m.from.timestamp_millis()),
                    day(m.to.timestamp_millis()),
                    m.why,
                    m.fix
                ),
                label: None,
            });
        }
        ledger.retain(|s| s.to > s.from || s.class == "miss");
        rows.push(Row {
            label: g.name(),
            strong: true,
            segments: ledger,
        });
        let mut quarters = Vec::new();
        for s in c.streams.iter().filter(|s| s.group == g) {
            if let Some(q) = s.stream.strip_prefix("bills-history-archive/") {
                let Some((a, b)) = quarter_range(q) else { continue };
                let class = match s.end_reason.as_str() {
                    "quarter_done" => "ok",
                    "quarter_before_activity" => "info",
                    "quarter_pending" | "quarter_not_applied" => "pend",
                    _ => "miss",
                };
                quarters.push(Segment {
                    from: a,
                    to: b,
                    class,
                    title: format!("archive quarter {q}: {} ({})", s.end_reason, s.detail),
                    label: Some(q.to_string()),
                });
                continue;
            }
            let a = if s.unbounded {
                Some(i64::MIN)
            } else {
                s.from.map(|t| t.timestamp_millis())
            };
            let segments = match (a, s.to.map(|t| t.timestamp_millis())) {
                (Some(a), Some(b)) if b > from && a < to => vec![Segment {
                    from: a.max(from),
                    to: b.min(to),
                    class: if s.end_reason == "stream_failed" {
                        "miss"
                    } else {
                        "stream"
                    },
                    title: format!(
                        "{}: {} .. {} ({}: {})",
                        s.stream,
                        if s.unbounded { "beginning".into() } else { day(a) },
                        day(b),
                        s.end_reason,
                        s.detail
                    ),
                    label: None,
                }],
                _ => Vec::new(),
            };
            rows.push(Row {
                label: s.stream.clone(),
                strong: false,
                segments,
            });
        }
        if !quarters.is_empty() {
            rows.push(Row {
                label: "archive quarters".into(),
                strong: false,
                segments: quarters,
            });
        }
    }
    rows
}

/// Chart bands: (label, value per instant; `None` without a price).
pub type Bands = Vec<(String, Vec<Option<f64>>)>;

/// The holdings chart: per asset (summed over accounts) the value at each instant, the
/// largest [`MAX_BANDS`] assets by their largest value first, the rest as "other".
pub fn holdings_bands(s: &HoldingsSeries) -> (Vec<i64>, Bands) {
    let xs: Vec<i64> = s.points.iter().map(|(t, _)| t.timestamp_millis()).collect();
    let mut per_asset: BTreeMap<&str, Vec<Option<Decimal>>> = BTreeMap::new();
    for (i, (_, hs)) in s.points.iter().enumerate() {
        for h in hs {
            let v = per_asset
                .entry(h.asset.as_str())
                .or_insert_with(|| vec![Some(Decimal::ZERO); xs.len()]);
            v[i] = match (v[i], h.value) {
                (Some(a), Some(b)) => Some(a + b),
                _ => None,
            };
        }
    }
    let peak = |v: &Vec<Option<Decimal>>| v.iter().flatten().max().copied().unwrap_or_default();
    let mut assets: Vec<(&str, Vec<Option<Decimal>>)> = per_asset.into_iter().collect();
    assets.sort_by(|a, b| peak(&b.1).cmp(&peak(&a.1)).then(a.0.cmp(b.0)));
    let f = |v: &[Option<Decimal>]| -> Vec<Option<f64>> {
        v.iter().map(|x| x.and_then(|d| d.to_f64())).collect()
    };
    let mut out: Vec<(String, Vec<Option<f64>>)> = Vec::new();
    let mut other: Option<Vec<Option<Decimal>>> = None;
    for (i, (asset, vals)) in assets.iter().enumerate() {
        if i < MAX_BANDS {
            out.push(((*asset).to_string(), f(vals)));
        } else {
            let o = other.get_or_insert_with(|| vec![Some(Decimal::ZERO); xs.len()]);
            for (k, v) in vals.iter().enumerate() {
                o[k] = match (o[k], v) {
                    (Some(a), Some(b)) => Some(a + b),
                    _ => None,
                };
            }
        }
    }
    if let Some(o) = other {
        out.push((format!("other ({} assets)", assets.len() - MAX_BANDS), f(&o)));
    }
    (xs, out)
}

/// One asset's prices in the appendix.
#[derive(Debug, Clone)]
pub struct PriceGroup {
    pub asset: String,
    /// Every price of the asset: its count per source.
    pub sources: BTreeMap<String, usize>,
    pub total: usize,
    /// The prices listed (all, or evenly spread when thinned): (minute, price, source).
    pub shown: Vec<(i64, Decimal, String)>,
}

/// The appendix: prices per asset, at most [`MAX_PRICES`] listed in all (each asset keeps
/// its share, evenly spread over its period).
pub fn price_groups(log: &PriceLog) -> Vec<PriceGroup> {
    let mut groups: Vec<PriceGroup> = Vec::new();
    for p in &log.used {
        if groups.last().is_none_or(|g| g.asset != p.asset) {
            groups.push(PriceGroup {
                asset: p.asset.clone(),
                sources: BTreeMap::new(),
                total: 0,
                shown: Vec::new(),
            });
        }
        let g = groups.last_mut().expect("pushed above");
        *g.sources.entry(p.source.clone()).or_default() += 1;
        g.total += 1;
    }
    let all = log.used.len().max(1);
    let mut at = 0;
    for g in &mut groups {
        let prices = &log.used[at..at + g.total];
        at += g.total;
        let share = if log.used.len() <= MAX_PRICES {
            g.total
        } else {
            (MAX_PRICES * g.total / all).max(2).min(g.total)
        };
        let step = g.total as f64 / share as f64;
        let mut last = usize::MAX;
        for k in 0..share {
            let i = ((k as f64 * step) as usize).min(g.total - 1);
            if i != last {
                let p = &prices[i];
                g.shown.push((p.minute, p.price, p.source.clone()));
                last = i;
            }
        }
    }
    groups
}
