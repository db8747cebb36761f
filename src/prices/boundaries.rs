//! What reports need priced beyond the rows (issue 19): the holdings at a period's start
//! and end. The price stage fetches, besides every row's minute:
//!
//! * the holdings at the start of every calendar year the store spans, in UTC and in every
//!   zone the store's reports were asked in (and the zones the caller passes, e.g. the
//!   `--tz` of `export`), so a year report is valued without the network;
//! * the holdings "now" at the newest minute that has closed ([`newest_closed_minute`]):
//!   a report of the year in progress values its closing holdings there, as of the sync.
//!
//! A report needing another boundary (`--from 2025-04-06`) fetches it itself when the
//! store's host can be reached ([`report_needs`]).

use super::rules::{BAR_1M, bar_open};
use super::stage::Needs;
use crate::reconcile::closing::holdings_at_each;
use crate::store::{RecordKind, RecordSource, Store};
use anyhow::Result;
use chrono::{DateTime, Datelike, NaiveDate, Utc};
use chrono_tz::Tz;
use rust_decimal::Decimal;
use std::collections::{BTreeMap, BTreeSet};

/// The open of the newest 1-minute bar that had closed at `at`: where holdings "now" are
/// valued.
pub fn newest_closed_minute(at: DateTime<Utc>) -> DateTime<Utc> {
    let m = bar_open(at.timestamp_millis(), BAR_1M.1) - BAR_1M.1;
    DateTime::from_timestamp_millis(m).unwrap_or(at)
}

/// Where holdings at `at` are valued when the prices were fetched at `as_of`: at `at`, or,
/// for a moment the prices do not reach yet ("now" in the year in progress), at the newest
/// minute that had closed when they were fetched.
pub fn valued_at(at: DateTime<Utc>, as_of: Option<DateTime<Utc>>) -> DateTime<Utc> {
    match as_of.map(newest_closed_minute) {
        Some(last) if at > last => last,
        _ => at,
    }
}

/// The starts of the calendar years from the one holding `first` to the one holding `now`
/// in each zone (UTC always), after `first` and not after `now`.
pub fn year_starts(first: DateTime<Utc>, now: DateTime<Utc>, zones: &[Tz]) -> Vec<DateTime<Utc>> {
    let mut out = Vec::new();
    for tz in std::iter::once(Tz::UTC).chain(zones.iter().copied()) {
        let (y0, y1) = (first.with_timezone(&tz).year(), now.with_timezone(&tz).year());
        for y in y0..=y1 {
            let Some(day) = NaiveDate::from_ymd_opt(y, 1, 1) else {
                continue;
            };
            if let Some(t) = crate::model::day_start(tz, day)
                && t > first
                && t <= now
            {
                out.push(t);
            }
        }
    }
    out.sort_unstable();
    out.dedup();
    out
}

/// The zones the store's reports were asked in, with `extra`, as time zones (unknown names
/// are skipped: they were refused when given).
pub fn zones(store: &Store, extra: &[Tz]) -> Result<Vec<Tz>> {
    let mut out: Vec<Tz> = extra.to_vec();
    for name in store.report_zones()? {
        if let Ok(tz) = name.parse::<Tz>()
            && !out.contains(&tz)
        {
            out.push(tz);
        }
    }
    Ok(out)
}

/// `(asset, minute)` needs of the holdings at each of `ats`, each valued at its own minute.
fn holdings_needs(store: &Store, ats: &[(DateTime<Utc>, DateTime<Utc>)]) -> Result<Needs> {
    let instants: Vec<DateTime<Utc>> = ats.iter().map(|(at, _)| *at).collect();
    let mut needs = Needs::new();
    for (held, (_, valued)) in holdings_at_each(store, &instants)?.iter().zip(ats) {
        let minute = bar_open(valued.timestamp_millis(), BAR_1M.1);
        for h in held {
            needs.entry(h.asset.clone()).or_default().insert(minute);
        }
    }
    Ok(needs)
}

/// What the price stage fetches beyond the rows at the host's `now`: the holdings at every
/// calendar year's start the store spans (UTC and `zones`), and the holdings now at the
/// newest closed minute.
pub fn stage_needs(store: &Store, now: DateTime<Utc>, zones: &[Tz]) -> Result<Needs> {
    let mut needs = year_needs(store, now, zones, |_| true, &mut BTreeSet::new())?;
    for (asset, minutes) in now_needs(store, now)? {
        needs.entry(asset).or_default().extend(minutes);
    }
    Ok(needs)
}

/// [`year_starts`] from the store's first activity to `now` (none for an empty store).
fn store_year_starts(store: &Store, now: DateTime<Utc>, zones: &[Tz]) -> Result<Vec<DateTime<Utc>>> {
    Ok(store
        .first_activity_ms()?
        .and_then(DateTime::from_timestamp_millis)
        .map(|first| year_starts(first, now, zones))
        .unwrap_or_default())
}

/// The holdings at the starts of the calendar years the store spans (UTC and `zones`, up
/// to `now`) whose minute `ready` accepts and that are not in `done` (they are added to
/// it). While a sync runs, a year start is taken once the rows around it are stored, so
/// the price stage lays its pages with that point (issue 23).
pub fn year_needs(
    store: &Store,
    now: DateTime<Utc>,
    zones: &[Tz],
    ready: impl Fn(i64) -> bool,
    done: &mut BTreeSet<i64>,
) -> Result<Needs> {
    let ats: Vec<(DateTime<Utc>, DateTime<Utc>)> = store_year_starts(store, now, zones)?
        .into_iter()
        .filter(|t| ready(t.timestamp_millis()) && done.insert(t.timestamp_millis()))
        .map(|t| (t, t))
        .collect();
    if ats.is_empty() {
        return Ok(Needs::new());
    }
    holdings_needs(store, &ats)
}

/// [`year_needs`] for the year starts at or after `top` (not in `done`, added to it) while
/// a sync runs and every row from `top` on is stored, but not all rows before (issue 23):
/// a holding at a year start is the running balance of its last bill before it, which is
/// the balance before its first bill after it (`bal` − `balChg`), or, without a bill from
/// `top` on, the balance now as the latest snapshot has it. The sync then lays the pages
/// around a year start with its holdings, as the plan after the history does; the exact
/// holdings are read again once every bill is stored ([`year_needs`]), and any the
/// ledger's balances did not foretell are priced then.
pub fn year_needs_from_above(
    store: &Store,
    now: DateTime<Utc>,
    zones: &[Tz],
    top: i64,
    done: &mut BTreeSet<i64>,
) -> Result<Needs> {
    let ats: Vec<i64> = store_year_starts(store, now, zones)?
        .into_iter()
        .map(|t| t.timestamp_millis())
        .filter(|t| *t >= top && done.insert(*t))
        .collect();
    let mut needs = Needs::new();
    for (y, held) in ats.iter().zip(foretold_holdings(store, &ats, top)?) {
        let minute = bar_open(*y, BAR_1M.1);
        for asset in held {
            needs.entry(asset).or_default().insert(minute);
        }
    }
    Ok(needs)
}

/// The assets held (trading and funding accounts) at each of `ats`, all at or after `top`,
/// as the bills from `top` on and the latest balance snapshot foretell them (see
/// [`year_needs_from_above`]). A bill whose balances cannot be read tells nothing: the
/// exact read once the sync is over has the last word.
fn foretold_holdings(src: &dyn RecordSource, ats: &[i64], top: i64) -> Result<Vec<BTreeSet<String>>> {
    #[derive(serde::Deserialize)]
    struct Bill {
        ccy: String,
        bal: Decimal,
        #[serde(rename = "balChg")]
        bal_chg: Decimal,
    }
    let mut out = vec![BTreeSet::new(); ats.len()];
    if ats.is_empty() {
        return Ok(out);
    }
    let balances = src.latest_balances()?;
    for (kind, account) in [
        (RecordKind::Bill, "trading"),
        (RecordKind::FundingBill, "funding"),
    ] {
        // Per instant and currency: its balance there, once a bill tells it.
        let mut at: Vec<BTreeMap<String, Decimal>> = vec![BTreeMap::new(); ats.len()];
        src.for_each_by_id(kind, &mut |r| {
            if r.ts_ms < top {
                return Ok(());
            }
            let Ok(b) = serde_json::from_str::<Bill>(r.raw) else {
                return Ok(());
            };
            for (i, t) in ats.iter().enumerate() {
                if r.ts_ms < *t {
                    // The last bill before it: its balance.
                    at[i].insert(b.ccy.clone(), b.bal);
                } else {
                    // The first bill after it, unless one before told already.
                    at[i].entry(b.ccy.clone()).or_insert(b.bal - b.bal_chg);
                }
            }
            Ok(())
        })?;
        for (held, told) in out.iter_mut().zip(&at) {
            let quiet = balances
                .iter()
                .filter(|b| b.account == account && !told.contains_key(&b.ccy))
                .map(|b| (&b.ccy, &b.total));
            for (ccy, bal) in told.iter().chain(quiet) {
                if !bal.is_zero() {
                    held.insert(ccy.clone());
                }
            }
        }
    }
    Ok(out)
}

/// The holdings now (the host's `now`), valued at the newest closed minute.
pub fn now_needs(store: &Store, now: DateTime<Utc>) -> Result<Needs> {
    holdings_needs(store, &[(now, newest_closed_minute(now))])
}

/// [`now_needs`] as the latest balance snapshot has them (trading and funding accounts),
/// before the ledgers are all stored: a sync takes the snapshot first (issue 23).
pub fn now_needs_from_snapshot(store: &Store, now: DateTime<Utc>) -> Result<Needs> {
    use crate::store::RecordSource;
    let minute = bar_open(newest_closed_minute(now).timestamp_millis(), BAR_1M.1);
    let mut needs = Needs::new();
    for b in store.latest_balances()? {
        if (b.account == "trading" || b.account == "funding") && !b.total.is_zero() {
            needs.entry(b.ccy).or_default().insert(minute);
        }
    }
    Ok(needs)
}

/// What a report of `[from, to)` values beyond its rows: the holdings at its start (with
/// both ends) and at its end, or now (`closing`), each where it is valued ([`valued_at`]).
pub fn report_needs(
    store: &Store,
    opening: Option<DateTime<Utc>>,
    closing: Option<DateTime<Utc>>,
    as_of: Option<DateTime<Utc>>,
) -> Result<Needs> {
    let ats: Vec<(DateTime<Utc>, DateTime<Utc>)> = opening
        .map(|t| (t, t))
        .into_iter()
        .chain(closing.map(|t| (t, valued_at(t, as_of))))
        .collect();
    holdings_needs(store, &ats)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().to_utc()
    }

    #[test]
    fn year_starts_in_utc_and_other_zones() {
        let first = t("2025-07-01T00:00:00Z");
        let now = t("2026-02-15T00:00:30Z");
        let berlin: Tz = "Europe/Berlin".parse().unwrap();
        assert_eq!(year_starts(first, now, &[]), [t("2026-01-01T00:00:00Z")]);
        assert_eq!(
            year_starts(first, now, &[berlin, Tz::UTC]),
            [t("2025-12-31T23:00:00Z"), t("2026-01-01T00:00:00Z")]
        );
        // A store starting on a year's first instant needs no opening there.
        assert!(year_starts(t("2026-01-01T00:00:00Z"), now, &[]).is_empty());
    }

    #[test]
    fn holdings_now_are_valued_at_the_newest_closed_minute() {
        let fetched = t("2026-02-15T00:40:12Z");
        assert_eq!(newest_closed_minute(fetched), t("2026-02-15T00:39:00Z"));
        // Now (later than the prices): the newest minute closed when they were fetched.
        assert_eq!(
            valued_at(t("2026-12-07T04:00:00Z"), Some(fetched)),
            t("2026-02-15T00:39:00Z")
        );
        // An end the prices reach: itself.
        assert_eq!(
            valued_at(t("2026-01-01T00:00:00Z"), Some(fetched)),
            t("2026-01-01T00:00:00Z")
        );
        assert_eq!(
            valued_at(t("2026-12-07T04:00:00Z"), None),
            t("2026-12-07T04:00:00Z")
        );
    }

    /// On a ledger whose running balances agree with themselves and with the snapshot,
    /// the holdings foretold from the bills after an instant are the exact ones, wherever
    /// the stored part begins (issue 23).
    #[test]
    fn holdings_foretold_from_the_bills_after_are_the_exact_ones() {
        use crate::reconcile::closing::holdings_at_each;
        use crate::store::{BalanceRow, MemorySource, StoredRecord};
        let mut rng = 4_242u64;
        let mut next = || {
            rng = rng.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            rng >> 33
        };
        for case in 0..60 {
            let mut records = Vec::new();
            let mut bal: BTreeMap<(RecordKind, &str), Decimal> = BTreeMap::new();
            let ccys = ["BTC", "ETH", "OKB", "USDT"];
            for id in 0..80i64 {
                let kind = if next() % 3 == 0 {
                    RecordKind::FundingBill
                } else {
                    RecordKind::Bill
                };
                let ccy = ccys[(next() % 4) as usize];
                let b = bal.entry((kind, ccy)).or_default();
                // Now and then everything out, else in or out a little.
                let chg = if next() % 5 == 0 {
                    -*b
                } else {
                    Decimal::new(next() as i64 % 2000 - 500, 2).max(-*b)
                };
                *b += chg;
                let ts = 1_000 * id;
                records.push(StoredRecord {
                    kind,
                    key: id.to_string(),
                    ts_ms: ts,
                    link: None,
                    raw: format!(
                        r#"{{"billId":"{id}","ccy":"{ccy}","bal":"{b}","balChg":"{chg}","ts":"{ts}"}}"#
                    ),
                });
            }
            let balances = bal
                .iter()
                .map(|((kind, ccy), total)| BalanceRow {
                    account: if *kind == RecordKind::Bill {
                        "trading"
                    } else {
                        "funding"
                    }
                    .into(),
                    ccy: (*ccy).into(),
                    total: *total,
                    available: None,
                    frozen: None,
                    as_of: DateTime::from_timestamp_millis(100_000).unwrap(),
                })
                .collect();
            let top = (next() % 90_000) as i64;
            let ats: Vec<i64> = (0..3).map(|_| top + (next() % 90_000) as i64).collect();
            // What is stored: the bills from `top` on.
            let src = MemorySource {
                records: records.iter().filter(|r| r.ts_ms >= top).cloned().collect(),
                balances,
                ..MemorySource::default()
            };
            let all = MemorySource {
                records,
                ..MemorySource::default()
            };
            let instants: Vec<DateTime<Utc>> = ats
                .iter()
                .map(|t| DateTime::from_timestamp_millis(*t).unwrap())
                .collect();
            let exact: Vec<BTreeSet<String>> = holdings_at_each(&all, &instants)
                .unwrap()
                .into_iter()
                .map(|h| h.into_iter().map(|h| h.asset).collect())
                .collect();
            assert_eq!(foretold_holdings(&src, &ats, top).unwrap(), exact, "case {case}");
        }
    }
}
