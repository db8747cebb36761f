//! Holdings over the period, for the report page's chart (issue 21): the running balances
//! at each day's start in the report's zone (the same walk as the opening and closing
//! holdings, [`holdings_series`]), each valued exactly as `tax-summary.csv` values the
//! closing holdings ([`TaxSummary::add_holdings`]: one synthetic row per holding through the
//! report's valuer). A long period is thinned to at most [`MAX_POINTS`] instants (every
//! k-th day); the period's first and last instants are always kept.

use crate::export::TaxSummary;
use crate::prices::Valuer;
use crate::reconcile::closing::{Holding, holdings_series};
use crate::store::RecordSource;
use anyhow::Result;
use chrono::{DateTime, Days, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;
use rust_decimal::Decimal;
use std::collections::BTreeMap;

/// The most instants a series holds.
pub const MAX_POINTS: usize = 400;

/// One holding at one instant, with its value in the fiat (`None`: no price).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValuedHolding {
    pub account: &'static str,
    pub asset: String,
    pub balance: Decimal,
    pub value: Option<Decimal>,
}

/// The holdings at each instant of the period.
#[derive(Debug, Clone, Default)]
pub struct HoldingsSeries {
    /// Days between two instants (1 unless thinned).
    pub step_days: u64,
    pub points: Vec<(DateTime<Utc>, Vec<ValuedHolding>)>,
}

/// `from`, each midnight in `tz` after it and before `to`, then `to`; thinned to every
/// k-th day so that there are at most [`MAX_POINTS`].
pub fn instants(from: DateTime<Utc>, to: DateTime<Utc>, tz: Tz) -> (u64, Vec<DateTime<Utc>>) {
    if to <= from {
        return (1, vec![from]);
    }
    let days = (to - from).num_days().unsigned_abs() + 1;
    let step = days.div_ceil(MAX_POINTS as u64 - 2).max(1);
    let mut out = vec![from];
    let mut day = from.with_timezone(&tz).date_naive();
    loop {
        day = match day.checked_add_days(Days::new(step)) {
            Some(d) => d,
            None => break,
        };
        let Some(t) = tz
            .from_local_datetime(&day.and_time(NaiveTime::MIN))
            .earliest()
            .map(|t| t.with_timezone(&Utc))
        else {
            continue;
        };
        if t >= to {
            break;
        }
        if t > from {
            out.push(t);
        }
    }
    out.push(to);
    (step, out)
}

/// The valued holdings at each of `ats` (sorted); for several stores (a group), each
/// account and asset summed over them.
pub fn series(
    srcs: &[&dyn RecordSource],
    step_days: u64,
    ats: &[DateTime<Utc>],
    valuer: &mut dyn Valuer,
) -> Result<HoldingsSeries> {
    let per_store = srcs
        .iter()
        .map(|src| holdings_series(*src, ats))
        .collect::<Result<Vec<_>>>()?;
    series_of(step_days, ats, per_store, valuer)
}

/// [`series`] from each account's holdings at each of `ats`, read already.
pub fn series_of(
    step_days: u64,
    ats: &[DateTime<Utc>],
    per_account: impl IntoIterator<Item = Vec<Vec<Holding>>>,
    valuer: &mut dyn Valuer,
) -> Result<HoldingsSeries> {
    let mut all: Vec<BTreeMap<(&'static str, String), Holding>> = vec![BTreeMap::new(); ats.len()];
    for held in per_account {
        for (at, holdings) in all.iter_mut().zip(held) {
            for h in holdings {
                at.entry((h.account, h.asset.clone()))
                    .and_modify(|sum| {
                        sum.balance += h.balance;
                        sum.last_bill_at = sum.last_bill_at.max(h.last_bill_at);
                    })
                    .or_insert(h);
            }
        }
    }
    let mut points = Vec::with_capacity(ats.len());
    for (at, holdings) in ats.iter().zip(all) {
        let holdings: Vec<Holding> = holdings.into_values().collect();
        points.push((*at, value(&holdings, *at, valuer)?));
    }
    Ok(HoldingsSeries { step_days, points })
}

/// `holdings` valued at `at` as `tax-summary.csv`'s `holdings_closing` lines are.
fn value(holdings: &[Holding], at: DateTime<Utc>, valuer: &mut dyn Valuer) -> Result<Vec<ValuedHolding>> {
    let mut t = TaxSummary::new();
    t.add_holdings(holdings, at, true, valuer)?;
    Ok(holdings
        .iter()
        .map(|h| {
            let item = if h.account == "funding" {
                "funding"
            } else {
                "trading"
            };
            ValuedHolding {
                account: h.account,
                asset: h.asset.clone(),
                balance: h.balance,
                value: t
                    .line("holdings_closing", item, &h.asset)
                    .and_then(crate::export::TaxLine::value),
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().to_utc()
    }

    #[test]
    fn days_in_the_zone_and_both_ends() {
        let tz: Tz = "Europe/Berlin".parse().unwrap();
        let (step, ats) = instants(t("2024-12-31T23:00:00Z"), t("2025-01-03T12:00:00Z"), tz);
        assert_eq!(step, 1);
        assert_eq!(
            ats,
            [
                t("2024-12-31T23:00:00Z"),
                t("2025-01-01T23:00:00Z"),
                t("2025-01-02T23:00:00Z"),
                t("2025-01-03T12:00:00Z"),
            ]
        );
        // Ten years: thinned, still from the first instant to the last.
        let (step, ats) = instants(
            t("2015-01-01T00:00:00Z"),
            t("2025-01-01T00:00:00Z"),
            chrono_tz::UTC,
        );
        assert!(
            ats.len() <= MAX_POINTS && step == 10,
            "{} points, step {step}",
            ats.len()
        );
        assert_eq!(
            (ats[0], ats[ats.len() - 1]),
            (t("2015-01-01T00:00:00Z"), t("2025-01-01T00:00:00Z"))
        );
        assert!(ats.is_sorted());
    }
}
