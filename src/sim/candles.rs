//! Simulated public market data: index and spot candles from the same [`PriceBook`] the
//! account's fills are drawn from (so every fill trades near its index), and a stub of the
//! ECB's daily euro reference rates, so valuation stays offline.
//!
//! * `history-index-candles`: `CCY-USD` for every asset with a price path (not for the
//!   assets in `SimConfig::no_market`); `USDT-USD` only with `SimConfig::usdt_index`.
//! * `history-candles`: the spot pairs of [`SPOT`] (the delisted `LUNC-USDT` keeps its
//!   history), none whose base or quote has no market.
//! * Bars `1m`, `15m`, `1H`, `1Dutc`, aligned to UTC; a bar's open is the path at its start, its
//!   close the path at its end; the path bends only on whole hours (linear inside a day,
//!   plus the swings of `SimConfig::volatile_hours`), so high/low are the two ends and, for
//!   a day bar, its whole hours.
//!   Bars exist from the path's first day to the sim clock; the bar holding "now" has
//!   `confirm` `0`. Cursors as OKX: `after` = older than, `before` = newer than (both
//!   exclusive), newest first, `limit` ≤ 100; unknown instId → 51001.
//! * ECB stub: `GET /sim-ecb/service/data/EXR/D.{CCY}.EUR.SP00.A?startPeriod&endPeriod`
//!   answers the ECB data API's `csvdata` shape, working days only.

use super::market::{PriceBook, SPOT, priced_assets};
use chrono::{Datelike, NaiveDate, Weekday};
use rust_decimal::Decimal;
use serde_json::Value;
use std::fmt::Write as _;

/// Bar length in ms of a `bar` parameter the simulator serves.
pub(crate) fn bar_ms(bar: &str) -> Option<i64> {
    match bar {
        "1m" => Some(60_000),
        "15m" => Some(900_000),
        "1H" => Some(3_600_000),
        "1Dutc" => Some(86_400_000),
        _ => None,
    }
}

/// What an instId prices: (base, quote, price decimals).
fn resolve(
    inst_id: &str,
    index: bool,
    no_market: &[&str],
    usdt_index: bool,
) -> Option<(&'static str, &'static str, u32)> {
    if index {
        let base = inst_id.strip_suffix("-USD")?;
        if base == "USDT" && usdt_index {
            return Some(("USDT", "USD", 4));
        }
        let base = priced_assets().find(|a| *a == base)?;
        (!no_market.contains(&base)).then_some((base, "USD", 4))
    } else {
        let def = SPOT.iter().find(|d| d.inst_id == inst_id)?;
        (!no_market.contains(&def.base) && !no_market.contains(&def.quote))
            .then_some((def.base, def.quote, def.px_dp))
    }
}

/// Price of `base` in `quote` (`USD` is the book's unit) at `ts`.
fn price(book: &PriceBook, base: &str, quote: &str, ts: i64, dp: u32) -> Decimal {
    if quote == "USD" {
        // An index below 1 (LUNC) keeps 8 decimals, as OKX's do: 4 would round LUNC's
        // 0.00006 to 0.0001.
        let p = book.usd(base, ts);
        let dp = if p < Decimal::ONE { dp.max(8) } else { dp };
        p.round_dp(dp).max(Decimal::new(1, dp))
    } else {
        book.pair(base, quote, ts, dp)
    }
}

/// The query of one candles request.
pub(crate) struct CandleQuery<'a> {
    pub inst_id: &'a str,
    pub bar: &'a str,
    pub after: Option<i64>,
    pub before: Option<i64>,
    pub limit: usize,
    pub index: bool,
}

/// Rows of one candles answer, or the OKX error (code, message) to answer with.
pub(crate) fn candles(
    book: &PriceBook,
    q: &CandleQuery<'_>,
    now_ms: i64,
    no_market: &[&str],
    usdt_index: bool,
) -> Result<Vec<Value>, (&'static str, String)> {
    let step = bar_ms(q.bar).ok_or(("51000", "Parameter bar error".to_string()))?;
    let (base, quote, dp) = resolve(q.inst_id, q.index, no_market, usdt_index)
        .ok_or(("51001", "Instrument ID does not exist".to_string()))?;
    let first = book.start_ms().div_euclid(step) * step + step; // a whole bar of history
    let current = now_ms.div_euclid(step) * step;
    // Newest bar strictly older than `after`, not newer than the current one.
    let mut ts = match q.after {
        Some(a) => ((a - 1).div_euclid(step) * step).min(current),
        None => current,
    };
    let mut out = Vec::new();
    while ts >= first && out.len() < q.limit && q.before.is_none_or(|b| ts > b) {
        let o = price(book, base, quote, ts, dp);
        let c = price(book, base, quote, ts + step, dp);
        let (mut h, mut l) = (o.max(c), o.min(c));
        // The path bends only on whole hours (day starts, swing corners): a bar longer
        // than an hour has its high and low among them.
        let mut corner = ts + 3_600_000;
        while corner < ts + step {
            let p = price(book, base, quote, corner, dp);
            (h, l) = (h.max(p), l.min(p));
            corner += 3_600_000;
        }
        let confirm = if ts == current { "0" } else { "1" };
        let s = |d: Decimal| Value::String(d.normalize().to_string());
        let mut row = vec![Value::String(ts.to_string()), s(o), s(h), s(l), s(c)];
        if !q.index {
            let vol = Decimal::new(1234, 2);
            row.extend([s(vol), s(vol * c), s(vol * c)]);
        }
        row.push(Value::String(confirm.into()));
        out.push(Value::Array(row));
        ts -= step;
    }
    Ok(out)
}

/// The stub's rate of `ccy` per euro on `day` (`None` for a currency it does not know).
fn ecb_rate(ccy: &str, day: NaiveDate) -> Option<Decimal> {
    let (base, step) = match ccy {
        "USD" => (Decimal::new(10800, 4), 7),
        "GBP" => (Decimal::new(8400, 4), 3),
        "CHF" => (Decimal::new(9400, 4), 2),
        "JPY" => (Decimal::new(16200, 2), 11),
        _ => return None,
    };
    let wobble = i64::from(day.num_days_from_ce() % 20) - 10;
    Some(base + Decimal::new(wobble * step, 4))
}

/// The ECB stub's CSV body for `key` (e.g. `D.USD.EUR.SP00.A`) between two dates.
pub(crate) fn ecb_csv(key: &str, start: Option<&str>, end: Option<&str>) -> Option<String> {
    let mut parts = key.split('.');
    let (freq, ccy, denom) = (parts.next()?, parts.next()?, parts.next()?);
    if freq != "D" || denom != "EUR" {
        return None;
    }
    let parse =
        |s: Option<&str>, d: NaiveDate| s.map_or(Some(d), |s| NaiveDate::parse_from_str(s, "%Y-%m-%d").ok());
    let from = parse(start, NaiveDate::from_ymd_opt(2024, 1, 1)?)?;
    let to = parse(end, NaiveDate::from_ymd_opt(2026, 12, 31)?)?;
    ecb_rate(ccy, from)?;
    let mut csv = String::from(
        "KEY,FREQ,CURRENCY,CURRENCY_DENOM,EXR_TYPE,EXR_SUFFIX,TIME_PERIOD,OBS_VALUE,OBS_STATUS\n",
    );
    let mut day = from;
    while day <= to {
        if !matches!(day.weekday(), Weekday::Sat | Weekday::Sun)
            && let Some(r) = ecb_rate(ccy, day)
        {
            let _ = writeln!(csv, "EXR.{key},D,{ccy},EUR,SP00,A,{day},{r},A");
        }
        day = day.succ_opt()?;
    }
    Some(csv)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(after: Option<i64>, before: Option<i64>, limit: usize) -> CandleQuery<'static> {
        CandleQuery {
            inst_id: "BTC-USD",
            bar: "1H",
            after,
            before,
            limit,
            index: true,
        }
    }

    fn ts(v: &Value) -> i64 {
        v[0].as_str().unwrap().parse().unwrap()
    }

    #[test]
    fn cursors_as_okx() {
        let book = PriceBook::new(7, 1_700_000_000_000 / 86_400_000 * 86_400_000, 30);
        let now = book.start_ms() + 10 * 86_400_000 + 1_800_000;
        let h = 3_600_000;
        let t0 = book.start_ms() + 5 * 86_400_000;
        // after: strictly older, newest first.
        let rows = candles(&book, &q(Some(t0), None, 3), now, &[], false).unwrap();
        assert_eq!(
            rows.iter().map(ts).collect::<Vec<_>>(),
            vec![t0 - h, t0 - 2 * h, t0 - 3 * h]
        );
        // before alone: the newest rows, the current one unconfirmed.
        let rows = candles(&book, &q(None, Some(t0), 2), now, &[], false).unwrap();
        assert_eq!(ts(&rows[0]), now / h * h);
        assert_eq!(rows[0][5], "0");
        assert_eq!(rows[1][5], "1");
        // Both: a window, exclusive at both ends.
        let rows = candles(&book, &q(Some(t0 + 3 * h), Some(t0), 100), now, &[], false).unwrap();
        assert_eq!(rows.iter().map(ts).collect::<Vec<_>>(), vec![t0 + 2 * h, t0 + h]);
        // Close of a bar = open of the next.
        let rows = candles(&book, &q(Some(t0 + 2 * h), None, 2), now, &[], false).unwrap();
        assert_eq!(rows[0][1], rows[1][4]);
        assert!(
            candles(
                &book,
                &CandleQuery {
                    inst_id: "USDT-USD",
                    ..q(None, None, 1)
                },
                now,
                &[],
                false
            )
            .is_err()
        );
        assert!(
            candles(
                &book,
                &CandleQuery {
                    inst_id: "USDT-USD",
                    ..q(None, None, 1)
                },
                now,
                &[],
                true
            )
            .is_ok()
        );
        assert!(candles(&book, &q(None, None, 1), now, &["BTC"], false).is_err());
    }

    /// `SimConfig::volatile_hours`: some hour bars span about 1.5%, their minute bars
    /// still have high/low at open/close, and a day bar's range holds its swings.
    #[test]
    fn volatile_hours_span_a_percent_and_a_half() {
        let start = 1_700_000_000_000 / 86_400_000 * 86_400_000;
        let book = PriceBook::new(7, start, 30).volatile(7);
        let now = start + 20 * 86_400_000;
        let h = 3_600_000;
        let bars = |bar: &'static str, after: i64, n: usize| {
            let q = CandleQuery {
                bar,
                ..q(Some(after), None, n)
            };
            candles(&book, &q, now, &[], false).unwrap()
        };
        let d = |v: &Value, i: usize| v[i].as_str().unwrap().parse::<Decimal>().unwrap();
        let range = |v: &Value| (d(v, 2) - d(v, 3)) / d(v, 3);
        let hours = bars("1H", start + 10 * 86_400_000, 100);
        let wide: Vec<&Value> = hours.iter().filter(|b| range(b) > Decimal::new(5, 3)).collect();
        assert!(
            wide.len() >= 3 && wide.len() <= 25,
            "{} of 100 hours wide",
            wide.len()
        );
        assert!(wide.iter().all(|b| range(b) < Decimal::new(2, 2)));
        // Inside a wide hour the minutes are narrow and their ends are the path.
        let t = ts(wide[0]);
        let minutes = bars("1m", t + h, 60);
        assert_eq!(minutes.len(), 60);
        for m in &minutes {
            assert!(range(m) < Decimal::new(5, 4));
            assert_eq!(d(m, 2), d(m, 1).max(d(m, 4)));
        }
        let day = bars("1Dutc", start + 11 * 86_400_000, 1);
        let (hi, lo) = (d(&day[0], 2), d(&day[0], 3));
        let hours = bars("1H", start + 11 * 86_400_000, 24);
        assert!(hours.iter().all(|b| d(b, 2) <= hi && d(b, 3) >= lo));
        // Without the option the path is linear inside a day: every hour is narrow.
        let calm = PriceBook::new(7, start, 30);
        let q = q(Some(start + 10 * 86_400_000), None, 100);
        assert!(
            candles(&calm, &q, now, &[], false)
                .unwrap()
                .iter()
                .all(|b| range(b) < Decimal::new(5, 3))
        );
    }

    #[test]
    fn ecb_working_days_only() {
        let csv = ecb_csv("D.USD.EUR.SP00.A", Some("2025-03-01"), Some("2025-03-04")).unwrap();
        let days: Vec<&str> = csv
            .lines()
            .skip(1)
            .map(|l| l.split(',').nth(6).unwrap())
            .collect();
        assert_eq!(days, vec!["2025-03-03", "2025-03-04"]);
        assert!(ecb_csv("D.XXX.EUR.SP00.A", None, None).is_none());
    }
}
