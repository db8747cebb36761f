//! The page's charts as inline SVG, built by hand: a coverage timeline, a stacked area and
//! stacked monthly bars. Coordinates are `f64` for drawing only; every number a reader can
//! read is printed in the tables next to the chart, from the `Decimal`s. Colours come from
//! CSS classes (`c0`…`c9`, `ok`, `miss`, …) so the page's light/dark themes apply, and each
//! shape carries a `<title>` (the browser's tooltip; no script needed).

use chrono::{DateTime, Datelike, TimeZone, Utc};
use chrono_tz::Tz;
use maud::{Markup, html};
use std::fmt::Write as _;

/// Chart width in SVG units (the SVG scales to the page width).
const W: f64 = 960.0;
/// Left column for row labels (timeline) or the value axis (charts).
const LABEL_W: f64 = 210.0;
const AXIS_W: f64 = 70.0;

/// One coloured range of a timeline row.
#[derive(Debug, Clone)]
pub struct Segment {
    pub from: i64,
    pub to: i64,
    /// CSS class: `ok`, `miss`, `info`, `pend`.
    pub class: &'static str,
    pub title: String,
    /// Text drawn inside when it fits (archive quarters).
    pub label: Option<String>,
}

/// One bar of the timeline.
#[derive(Debug, Clone)]
pub struct Row {
    pub label: String,
    /// A ledger (bold, taller) rather than one of its streams.
    pub strong: bool,
    pub segments: Vec<Segment>,
}

fn ms_x(t: i64, from: i64, to: i64, x0: f64, x1: f64) -> f64 {
    if to <= from {
        return x0;
    }
    let f = (t.clamp(from, to) - from) as f64 / (to - from) as f64;
    x0 + f * (x1 - x0)
}

fn round1(v: f64) -> f64 {
    (v * 10.0).round() / 10.0
}

/// Month (or, over long spans, year) starts in `tz` between `from` and `to`, as ticks.
fn time_ticks(from: i64, to: i64, tz: Tz) -> Vec<(i64, String)> {
    let (Some(a), Some(b)) = (
        DateTime::<Utc>::from_timestamp_millis(from),
        DateTime::<Utc>::from_timestamp_millis(to),
    ) else {
        return Vec::new();
    };
    let (a, b) = (a.with_timezone(&tz), b.with_timezone(&tz));
    let months = (b.year() - a.year()) * 12 + b.month() as i32 - a.month() as i32;
    let every = match months {
        ..=14 => 1,
        15..=36 => 3,
        37..=96 => 12,
        _ => 24,
    };
    let mut out = Vec::new();
    let (mut y, mut m) = (a.year(), a.month());
    loop {
        (y, m) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
        let Some(t) = tz.with_ymd_and_hms(y, m, 1, 0, 0, 0).earliest() else {
            break;
        };
        let ms = t.timestamp_millis();
        if ms >= to {
            break;
        }
        let n = i64::from(y * 12 + m as i32 - 1);
        if n % every == 0 {
            let label = if every >= 12 || m == 1 {
                t.format("%Y").to_string()
            } else {
                t.format("%b").to_string()
            };
            out.push((ms, label));
        }
    }
    out
}

/// The coverage timeline: one bar per ledger and stream across `[from, to)`.
pub fn timeline(from: i64, to: i64, tz: Tz, rows: &[Row]) -> Markup {
    let (x0, x1) = (LABEL_W, W - 10.0);
    let top = 22.0;
    let mut y = top;
    let mut placed = Vec::new();
    for r in rows {
        let h = if r.strong { 16.0 } else { 10.0 };
        if r.strong && y > top {
            y += 6.0;
        }
        placed.push((y, h, r));
        y += h + 5.0;
    }
    let height = y + 6.0;
    let ticks = time_ticks(from, to, tz);
    html! {
        svg class="chart timeline" viewBox={"0 0 " (W) " " (round1(height))} role="img"
            aria-label="Coverage of the period per ledger and stream" {
            @for (t, label) in &ticks {
                @let x = round1(ms_x(*t, from, to, x0, x1));
                line class="grid" x1=(x) x2=(x) y1="14" y2=(round1(height - 4.0)) {}
                text class="tick" x=(x) y="11" text-anchor="middle" { (label) }
            }
            @for (y, h, r) in &placed {
                text class=(if r.strong { "lbl strong" } else { "lbl" }) x=(LABEL_W - 8.0) y=(round1(y + h - 2.0)) text-anchor="end" { (r.label) }
                rect class="track" x=(x0) y=(round1(*y)) width=(round1(x1 - x0)) height=(h) {}
                @for s in &r.segments {
                    @let (a, b) = (ms_x(s.from, from, to, x0, x1), ms_x(s.to, from, to, x0, x1));
                    @let w = round1((b - a).max(1.5));
                    rect class=(s.class) x=(round1(a)) y=(round1(*y)) width=(w) height=(h) {
                        title { (s.title) }
                    }
                    @if let Some(l) = &s.label {
                        @if w > 44.0 {
                            text class="seg" x=(round1(a + w / 2.0)) y=(round1(y + h - 2.0)) text-anchor="middle" { (l) }
                        }
                    }
                }
            }
        }
    }
}

/// A readable axis step for values up to `max`: 1, 2 or 5 × 10^k, about 5 steps.
fn nice_step(max: f64) -> f64 {
    if max <= 0.0 || !max.is_finite() {
        return 1.0;
    }
    let raw = max / 5.0;
    let mag = 10f64.powf(raw.log10().floor());
    let r = raw / mag;
    let k = if r <= 1.0 {
        1.0
    } else if r <= 2.0 {
        2.0
    } else if r <= 5.0 {
        5.0
    } else {
        10.0
    };
    k * mag
}

fn axis_label(v: f64) -> String {
    let a = v.abs();
    if a >= 1e9 {
        format!("{:.1}G", v / 1e9)
    } else if a >= 1e6 {
        format!("{:.1}M", v / 1e6)
    } else if a >= 1e3 {
        format!("{:.0}k", v / 1e3)
    } else {
        format!("{v:.0}")
    }
}

/// Value-axis grid lines and labels between `lo` and `hi` mapped to `[y_lo, y_hi]`.
fn value_axis(lo: f64, hi: f64, y_of: &dyn Fn(f64) -> f64, x1: f64) -> Markup {
    let step = nice_step((hi - lo).max(hi.abs()).max(lo.abs()));
    let mut v = (lo / step).floor() * step;
    let mut marks = Vec::new();
    while v <= hi + step * 1e-9 {
        marks.push(v);
        v += step;
        if marks.len() > 40 {
            break;
        }
    }
    html! {
        @for v in &marks {
            @let y = round1(y_of(*v));
            line class=(if *v == 0.0 { "zero" } else { "grid" }) x1=(AXIS_W) x2=(x1) y1=(y) y2=(y) {}
            text class="tick" x=(AXIS_W - 6.0) y=(round1(y + 4.0)) text-anchor="end" { (axis_label(*v)) }
        }
    }
}

/// `vals` with each `None` drawn as the straight line between its priced neighbours (the
/// nearest one at either end; 0 when none is priced): a chart must not dip to 0 on a day
/// the cache has no price. Only the drawing is bridged, and each such x is flagged.
fn bridge(vals: &[Option<f64>], xs: &[i64]) -> Vec<f64> {
    let known: Vec<usize> = (0..vals.len()).filter(|i| vals[*i].is_some()).collect();
    (0..vals.len())
        .map(|i| {
            if let Some(v) = vals[i] {
                return v;
            }
            let k = known.partition_point(|j| *j < i);
            match (k.checked_sub(1).map(|k| known[k]), known.get(k)) {
                (Some(a), Some(&b)) => {
                    let (va, vb) = (vals[a].unwrap_or(0.0), vals[b].unwrap_or(0.0));
                    let f = (xs[i] - xs[a]) as f64 / (xs[b] - xs[a]).max(1) as f64;
                    va + f * (vb - va)
                }
                (Some(a), None) => vals[a].unwrap_or(0.0),
                (None, Some(&b)) => vals[b].unwrap_or(0.0),
                (None, None) => 0.0,
            }
        })
        .collect()
}

/// A stacked area: `series` (label, value per x; `None` = no price, bridged, see
/// [`bridge`]) over the times `xs`; `flagged` marks the x where any value is `None`.
pub fn stacked_area(xs: &[i64], tz: Tz, series: &[(String, Vec<Option<f64>>)], fiat: &str) -> Markup {
    let (x0, x1, y0, y1) = (AXIS_W, W - 10.0, 260.0, 20.0);
    let (Some(&from), Some(&to)) = (xs.first(), xs.last()) else {
        return html! {};
    };
    let n = xs.len();
    let mut base = vec![0.0f64; n];
    let mut bands = Vec::new();
    for (label, vals) in series {
        let vals = bridge(vals, xs);
        let top: Vec<f64> = (0..n).map(|i| base[i] + vals[i].max(0.0)).collect();
        bands.push((label, base.clone(), top.clone()));
        base = top;
    }
    let max = base.iter().copied().fold(0.0f64, f64::max);
    let hi = (max / nice_step(max)).ceil() * nice_step(max);
    let hi = if hi > 0.0 { hi } else { 1.0 };
    let y_of = |v: f64| y0 - (v / hi) * (y0 - y1);
    let x_of = |t: i64| ms_x(t, from, to, x0, x1);
    let flagged: Vec<i64> = (0..n)
        .filter(|i| series.iter().any(|(_, v)| v.get(*i).copied().flatten().is_none()))
        .map(|i| xs[i])
        .collect();
    let ticks = time_ticks(from, to, tz);
    let paths: Vec<(&String, String)> = bands
        .iter()
        .map(|(label, lo, top)| {
            let mut d = String::new();
            for (k, t) in xs.iter().enumerate() {
                let cmd = if k == 0 { "M" } else { "L" };
                let _ = write!(d, "{cmd}{},{} ", round1(x_of(*t)), round1(y_of(top[k])));
            }
            for (k, t) in xs.iter().enumerate().rev() {
                let _ = write!(d, "L{},{} ", round1(x_of(*t)), round1(y_of(lo[k])));
            }
            d.push('Z');
            (*label, d)
        })
        .collect();
    html! {
        svg class="chart area" viewBox={"0 0 " (W) " 300"} role="img"
            aria-label={"Holdings valued in " (fiat) ", stacked by asset"} {
            (value_axis(0.0, hi, &y_of, x1))
            @for (t, label) in &ticks {
                @let x = round1(x_of(*t));
                line class="grid" x1=(x) x2=(x) y1=(y1) y2=(y0) {}
                text class="tick" x=(x) y=(y0 + 16.0) text-anchor="middle" { (label) }
            }
            @for (i, (label, d)) in paths.iter().enumerate() {
                path class={"band c" (i % 10)} d=(d) { title { (label) } }
            }
            @for t in &flagged {
                @let x = round1(x_of(*t));
                path class="flag" d={"M" (x) "," (y0 + 2.0) " l-3,6 h6 Z"} { title { "a holding without a price in the cache at this instant (bridged from its neighbours)" } }
            }
        }
    }
}

/// Stacked bars per label (month): positive values stack up, negative ones down.
pub fn stacked_bars(labels: &[String], series: &[(String, Vec<f64>)], fiat: &str) -> Markup {
    let (x0, x1, y_top, y_bottom) = (AXIS_W, W - 10.0, 20.0, 250.0);
    let n = labels.len().max(1);
    let mut hi = 0.0f64;
    let mut lo = 0.0f64;
    for i in 0..labels.len() {
        let pos: f64 = series.iter().map(|(_, v)| v[i].max(0.0)).sum();
        let neg: f64 = series.iter().map(|(_, v)| v[i].min(0.0)).sum();
        hi = hi.max(pos);
        lo = lo.min(neg);
    }
    let step = nice_step(hi.max(-lo));
    let hi = if hi > 0.0 { (hi / step).ceil() * step } else { 0.0 };
    let lo = if lo < 0.0 { (lo / step).floor() * step } else { 0.0 };
    let span = if hi - lo > 0.0 { hi - lo } else { 1.0 };
    let y_of = |v: f64| y_bottom - (v - lo) / span * (y_bottom - y_top);
    let slot = (x1 - x0) / n as f64;
    let bar = (slot * 0.7).min(48.0);
    let mut centers = Vec::new();
    let mut rects = Vec::new();
    for (i, label) in labels.iter().enumerate() {
        let cx = x0 + slot * (i as f64 + 0.5);
        centers.push((cx, label));
        let (mut up, mut down) = (0.0f64, 0.0f64);
        for (k, (name, vals)) in series.iter().enumerate() {
            let v = vals[i];
            if v == 0.0 {
                continue;
            }
            let (a, b) = if v > 0.0 {
                up += v;
                (up - v, up)
            } else {
                down += v;
                (down - v, down)
            };
            let (ya, yb) = (y_of(a), y_of(b));
            rects.push((
                k,
                round1(cx - bar / 2.0),
                round1(ya.min(yb)),
                round1((ya - yb).abs().max(0.5)),
                format!("{label} {name}: {v:.2} {fiat}"),
            ));
        }
    }
    html! {
        svg class="chart bars" viewBox={"0 0 " (W) " 280"} role="img" aria-label={"Per month, in " (fiat)} {
            (value_axis(lo, hi, &y_of, x1))
            @for (cx, label) in &centers {
                text class="tick" x=(round1(*cx)) y=(y_bottom + 16.0) text-anchor="middle" { (label) }
            }
            @for (k, x, y, h, title) in &rects {
                rect class={"c" (k % 10)} x=(x) y=(y) width=(round1(bar)) height=(h) { title { (title) } }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axis_steps_are_round() {
        assert!((nice_step(1234.0) - 500.0).abs() < 1e-9);
        assert!((nice_step(9.0) - 2.0).abs() < 1e-9);
        assert_eq!(axis_label(25_000.0), "25k");
    }

    #[test]
    fn month_ticks_in_the_zone() {
        let from = Utc
            .with_ymd_and_hms(2025, 7, 1, 0, 0, 0)
            .unwrap()
            .timestamp_millis();
        let to = Utc
            .with_ymd_and_hms(2026, 2, 15, 0, 0, 0)
            .unwrap()
            .timestamp_millis();
        let ticks = time_ticks(from, to, chrono_tz::UTC);
        let labels: Vec<&str> = ticks.iter().map(|(_, l)| l.as_str()).collect();
        assert_eq!(labels, ["Aug", "Sep", "Oct", "Nov", "Dec", "2026", "Feb"]);
    }
}
