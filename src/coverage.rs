//! What the store covers, per ledger, and what a reporting period misses.
//!
//! Every stream's coverage row (see [`crate::store::Coverage`]) and every archive quarter
//! become a time range per *group*: the trading ledger (bills, bills-archive, the quarterly
//! archive files), the funding ledger (asset-bills, asset-bills-history), deposits,
//! withdrawals, converts, and fills per instType. A period is complete when each required
//! group's ranges, joined, cover it from its start up to the last sync (`as_of`: a report is
//! complete as of the last sync, not of today). Fills are listed but not required: OKX keeps
//! only 3 months of them, and the trading ledger carries every trade.
//!
//! A master's store has one more required group: the transfers with its sub-accounts
//! (`subaccount-bills`, which names the sub-account of each), from the floor or OKX's
//! 2022-09-28 start of that history, whichever is later.
//!
//! A missing range says why and how to fix it: below the floor (`sync --since`), an
//! archive quarter pending, refused or failed (wait and rerun `sync`), a stream that failed
//! or never ran (rerun `sync`).

use crate::model::rfc3339_ms;
use crate::store::{EndReason, QuarterState, Store};
use crate::sync::quarter::Quarter;
use anyhow::Result;
use chrono::{DateTime, Utc};
use std::fmt;

/// A set of streams that together hold one kind of history.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Group {
    Trading,
    Funding,
    Deposits,
    Withdrawals,
    Converts,
    /// Fills of one instType (`all` for the 3-day `fills` stream).
    Fills(String),
    /// A master's transfers with its sub-accounts (`asset/subaccount/bills`).
    SubTransfers,
}

impl Group {
    /// The groups a report needs complete.
    pub const REQUIRED: [Group; 5] = [
        Group::Trading,
        Group::Funding,
        Group::Deposits,
        Group::Withdrawals,
        Group::Converts,
    ];

    pub fn of_stream(stream: &str) -> Option<Group> {
        Some(match stream {
            "bills" | "bills-archive" => Group::Trading,
            s if s.starts_with("bills-history-archive/") => Group::Trading,
            "asset-bills" | "asset-bills-history" => Group::Funding,
            "deposit-history" => Group::Deposits,
            "withdrawal-history" => Group::Withdrawals,
            "convert-history" => Group::Converts,
            crate::sync::subaccounts::STREAM => Group::SubTransfers,
            "fills" => Group::Fills("all".into()),
            s => Group::Fills(s.strip_prefix("fills-history/")?.to_string()),
        })
    }

    pub fn name(&self) -> String {
        match self {
            Group::Trading => "trading ledger".into(),
            Group::Funding => "funding ledger".into(),
            Group::Deposits => "deposits".into(),
            Group::Withdrawals => "withdrawals".into(),
            Group::Converts => "converts".into(),
            Group::Fills(t) => format!("fills {t}"),
            Group::SubTransfers => "sub-account transfers".into(),
        }
    }
}

impl fmt::Display for Group {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

/// One stream's (or archive quarter's) covered range, as `status` and `coverage.csv` show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamCoverage {
    pub group: Group,
    pub stream: String,
    /// `None` with `unbounded`: OKX has nothing older.
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    /// The old end has no bound: the API returned nothing older.
    pub unbounded: bool,
    /// Why the range ends where it does (`floor_reached`, `api_exhausted`, `api_window`,
    /// `migrated`, `stream_failed`, `quarter_done`, `quarter_pending`, `quarter_refused`,
    /// `quarter_failed`, `quarter_not_applied`, `quarter_before_activity`: no application,
    /// the quarter is older than the account's first activity).
    pub end_reason: String,
    pub detail: String,
}

/// A range of a required group the period needs but the store does not cover.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Missing {
    pub group: Group,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub why: String,
    pub fix: String,
}

impl fmt::Display for Missing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {} .. {} is not covered ({}); fix: {}",
            self.group,
            rfc3339_ms(self.from),
            rfc3339_ms(self.to),
            self.why,
            self.fix
        )
    }
}

/// The store's coverage and what one period misses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoverageCheck {
    pub floor: Option<DateTime<Utc>>,
    /// The last sync's server time (the newest `to` of a required stream).
    pub as_of: Option<DateTime<Utc>>,
    pub streams: Vec<StreamCoverage>,
    /// The period checked, clipped to `as_of`.
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    pub missing: Vec<Missing>,
}

impl CoverageCheck {
    pub fn complete(&self) -> bool {
        self.missing.is_empty()
    }

    /// The ranges `[from, to)` (ms) the streams of `group` cover, joined or not.
    pub fn ranges(&self, group: &Group) -> Vec<(i64, i64)> {
        self.streams
            .iter()
            .filter(|s| &s.group == group)
            .filter_map(|s| {
                let from = if s.unbounded {
                    i64::MIN
                } else {
                    s.from?.timestamp_millis()
                };
                Some((from, s.to?.timestamp_millis()))
            })
            .collect()
    }

    /// What the cross-ledger checks may rely on: each ledger's covered ranges.
    pub fn ledger_ranges(&self) -> crate::reconcile::LedgerRanges {
        crate::reconcile::LedgerRanges {
            trading: self.ranges(&Group::Trading),
            funding: self.ranges(&Group::Funding),
        }
    }
}

/// What an archive quarter's stored state means.
fn quarter_reason(q: &QuarterState) -> (&'static str, String) {
    let detail = q.detail.clone().unwrap_or_default();
    let label = &q.quarter;
    match q.state.as_str() {
        "done" => ("quarter_done", format!("{} rows", q.rows.unwrap_or(0))),
        // Covered by rule, not by a file: the detail says which rule (issue 10 item 5).
        crate::sync::plan::QUARTER_SKIPPED => ("quarter_before_activity", detail),
        "applied" => (
            "quarter_pending",
            format!(
                "wait for OKX to generate the {label} archive (it can take hours), then rerun `okx-export sync`"
            ),
        ),
        // Given up by the last sync, with the reason it recorded (issue 8 item 7).
        crate::sync::archive::QUARTER_REFUSED => (
            "quarter_refused",
            format!("OKX refused the {label} application ({detail}); rerun `okx-export sync` to apply again"),
        ),
        crate::sync::archive::QUARTER_FAILED => (
            "quarter_failed",
            format!(
                "the {label} archive could not be fetched ({detail}); rerun `okx-export sync` to apply for it again"
            ),
        ),
        _ if detail.contains("refused") => (
            "quarter_refused",
            format!("OKX refused the {label} application for now; rerun `okx-export sync` later"),
        ),
        _ if detail.contains("failed") => (
            "quarter_failed",
            format!("OKX failed to generate the {label} archive; rerun `okx-export sync` to apply again"),
        ),
        _ => (
            "quarter_not_applied",
            format!("the {label} archive is not applied for yet; rerun `okx-export sync`"),
        ),
    }
}

/// Every stream's and archive quarter's coverage in the store.
pub fn streams(store: &Store) -> Result<Vec<StreamCoverage>> {
    let mut out = Vec::new();
    for c in store.coverages()? {
        let Some(group) = Group::of_stream(&c.stream) else {
            continue;
        };
        let unbounded = c.reason == EndReason::ApiExhausted;
        let mut detail = match c.reason {
            EndReason::FloorReached => c
                .detail
                .clone()
                .unwrap_or_else(|| "reached the floor".to_string()),
            EndReason::ApiExhausted => "OKX returned nothing older".to_string(),
            EndReason::ApiWindow => {
                "OKX returned nothing older: the endpoint's window starts here".to_string()
            }
            EndReason::Migrated => c.detail.clone().unwrap_or_default(),
            EndReason::StreamFailed => "no walk has completed".to_string(),
        };
        // The planner's note on which other source serves the rest (issue 10).
        if let (Some(d), EndReason::ApiWindow | EndReason::ApiExhausted) = (&c.detail, c.reason) {
            detail = format!("{detail}; {d}");
        }
        if let Some(e) = &c.error {
            detail = format!("the last sync of this stream failed: {e}");
        }
        out.push(StreamCoverage {
            group,
            stream: c.stream,
            from: if unbounded { None } else { c.from },
            to: c.to,
            unbounded,
            end_reason: if c.error.is_some() {
                EndReason::StreamFailed.as_str().to_string()
            } else {
                c.reason.as_str().to_string()
            },
            detail,
        });
    }
    for q in store.quarters()? {
        let Some(quarter) = parse_quarter(&q.quarter) else {
            continue;
        };
        let (reason, detail) = quarter_reason(&q);
        let done = matches!(reason, "quarter_done" | "quarter_before_activity");
        out.push(StreamCoverage {
            group: Group::Trading,
            stream: format!("bills-history-archive/{}", q.quarter),
            from: done.then(|| quarter.start()),
            to: done.then(|| quarter.end()),
            unbounded: false,
            end_reason: reason.to_string(),
            detail,
        });
    }
    out.sort_by(|a, b| (&a.group, &a.stream).cmp(&(&b.group, &b.stream)));
    Ok(out)
}

fn parse_quarter(label: &str) -> Option<Quarter> {
    let (y, q) = label.split_once('Q')?;
    let (year, q) = (y.parse().ok()?, q.parse().ok()?);
    (1..=4).contains(&q).then_some(Quarter { year, q })
}

/// Checks `[from, to)` (`None`: from the floor, up to the last sync) against the store.
/// A master's store (its recorded identity) also needs its sub-account transfers.
pub fn check(store: &Store, from: Option<DateTime<Utc>>, to: Option<DateTime<Utc>>) -> Result<CoverageCheck> {
    let floor = store.floor()?;
    let streams = streams(store)?;
    let quarters = store.quarters()?;
    let master = store.identity()?.is_some_and(|i| i.is_master());
    Ok(check_streams_full(
        floor,
        streams,
        &quarters,
        from,
        to,
        Utc::now(),
        master,
    ))
}

/// [`check`] on rows already read, for a store that is not a master's.
pub fn check_streams(
    floor: Option<DateTime<Utc>>,
    streams: Vec<StreamCoverage>,
    quarters: &[QuarterState],
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
) -> CoverageCheck {
    check_streams_full(floor, streams, quarters, from, to, Utc::now(), false)
}

/// [`check_streams`] at `now`: a period that has not ended (`to` after `now`) is checked up
/// to the last sync (`as_of`); one that has ended is checked to its end, so what happened
/// between the last sync and its end is missing (issue 19 item 9).
pub fn check_streams_at(
    floor: Option<DateTime<Utc>>,
    streams: Vec<StreamCoverage>,
    quarters: &[QuarterState],
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> CoverageCheck {
    check_streams_full(floor, streams, quarters, from, to, now, false)
}

/// [`check_streams`]; `master` adds the sub-account transfers to the required groups.
pub fn check_streams_for(
    floor: Option<DateTime<Utc>>,
    streams: Vec<StreamCoverage>,
    quarters: &[QuarterState],
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
    master: bool,
) -> CoverageCheck {
    check_streams_full(floor, streams, quarters, from, to, Utc::now(), master)
}

/// The check itself: [`check_streams_at`] `now`, with a master's sub-account transfers
/// required when `master`.
fn check_streams_full(
    floor: Option<DateTime<Utc>>,
    streams: Vec<StreamCoverage>,
    quarters: &[QuarterState],
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
    master: bool,
) -> CoverageCheck {
    let as_of = streams
        .iter()
        .filter(|s| Group::REQUIRED.contains(&s.group) && !s.stream.starts_with("bills-history-archive/"))
        .filter_map(|s| s.to)
        .max();
    let p_from = from.or(floor);
    // The part of an ended period after the last sync: not covered, whatever the streams.
    let tail = match (to, as_of) {
        (Some(t), Some(a)) if t <= now && t > a => Some((a, t)),
        _ => None,
    };
    let p_to = match (to, as_of) {
        (Some(t), Some(a)) => Some(t.min(a)),
        (t, a) => t.or(a),
    };
    let mut check = CoverageCheck {
        floor,
        as_of,
        streams,
        from: p_from,
        to: p_to,
        missing: Vec::new(),
    };
    let (Some(_), Some(p_to)) = (as_of, p_to) else {
        // Nothing was ever synced.
        let now = Utc::now();
        check.missing.push(Missing {
            group: Group::Trading,
            from: p_from.unwrap_or(now),
            to: to.unwrap_or(now),
            why: "no sync has completed in this store".into(),
            fix: "run `okx-export sync`".into(),
        });
        return check;
    };
    let Some(p_from) = p_from else {
        return check;
    };
    if let Some((a, t)) = tail {
        check.to = Some(t);
        for group in Group::REQUIRED {
            check.missing.push(Missing {
                group,
                from: a.max(p_from),
                to: t,
                why: format!("after the last sync: the store's data is as of {}", rfc3339_ms(a)),
                fix: "run `okx-export sync`".into(),
            });
        }
    }
    if p_from >= p_to {
        check.missing.sort_by_key(|m| (m.group.clone(), m.from));
        return check;
    }
    let (a, b) = (p_from.timestamp_millis(), p_to.timestamp_millis());
    let as_of_ms = check.as_of.map_or(b, |t| t.timestamp_millis());
    let mut required = Group::REQUIRED.to_vec();
    if master {
        required.push(Group::SubTransfers);
    }
    for group in required {
        let ranges = check.ranges(&group);
        // OKX keeps no sub-account transfer history before its start: nothing to miss there.
        let a = if group == Group::SubTransfers {
            a.max(crate::sync::subaccounts::history_start().timestamp_millis())
        } else {
            a
        };
        if a >= b {
            continue;
        }
        for (x, y) in subtract((a, b), ranges) {
            let failed: Vec<&StreamCoverage> = check
                .streams
                .iter()
                .filter(|s| s.group == group && s.end_reason == "stream_failed")
                .collect();
            for (x, y, why, fix) in explain(&group, x, y, floor, as_of_ms, quarters, &failed) {
                let (Some(from), Some(to)) = (
                    DateTime::from_timestamp_millis(x),
                    DateTime::from_timestamp_millis(y),
                ) else {
                    continue;
                };
                check.missing.push(Missing {
                    group: group.clone(),
                    from,
                    to,
                    why,
                    fix,
                });
            }
        }
    }
    check.missing.sort_by_key(|m| (m.group.clone(), m.from));
    check
}

/// `[a, b)` minus the union of `ranges`, as sorted disjoint pieces.
fn subtract((a, b): (i64, i64), mut ranges: Vec<(i64, i64)>) -> Vec<(i64, i64)> {
    ranges.sort_unstable();
    let mut out = Vec::new();
    let mut at = a;
    for (x, y) in ranges {
        if y <= at || x >= b {
            continue;
        }
        if x > at {
            out.push((at, x.min(b)));
        }
        at = at.max(y);
        if at >= b {
            break;
        }
    }
    if at < b {
        out.push((at, b));
    }
    out
}

type Piece = (i64, i64, String, String);

/// Splits a missing `[x, y)` by cause: below the floor, per archive quarter, the rest.
fn explain(
    group: &Group,
    x: i64,
    y: i64,
    floor: Option<DateTime<Utc>>,
    as_of: i64,
    quarters: &[QuarterState],
    failed: &[&StreamCoverage],
) -> Vec<Piece> {
    let mut out = Vec::new();
    let mut x = x;
    if let Some(f) = floor.map(|f| f.timestamp_millis())
        && x < f
    {
        let end = y.min(f);
        // OKX keeps nothing older than its archive's start: never suggest a date before it.
        let oldest = crate::sync::quarter::archive_start().timestamp_millis();
        let day = |ms: i64| {
            DateTime::from_timestamp_millis(ms)
                .map(|t| t.format("%Y-%m-%d").to_string())
                .unwrap_or_default()
        };
        let fix = if x >= oldest {
            format!("`okx-export sync --since {}`", day(x))
        } else if f > oldest {
            format!(
                "`okx-export sync --since {}` (OKX keeps no history before it; records older than that must come from elsewhere)",
                day(oldest)
            )
        } else {
            format!(
                "none from OKX: it keeps no history before {}; records older than that must come from elsewhere",
                day(oldest)
            )
        };
        out.push((
            x,
            end,
            format!(
                "before the store's floor {}",
                floor
                    .map(|f| f.format("%Y-%m-%d").to_string())
                    .unwrap_or_default()
            ),
            fix,
        ));
        x = end;
    }
    if x >= y {
        return out;
    }
    let rest = |x: i64, y: i64| -> Piece {
        match failed.first() {
            Some(s) => (x, y, s.detail.clone(), "rerun `okx-export sync`".into()),
            None => (
                x,
                y,
                "not covered by the last sync".into(),
                "rerun `okx-export sync`".into(),
            ),
        }
    };
    if *group != Group::Trading {
        out.push(rest(x, y));
        return out;
    }
    // The trading ledger older than the API windows comes from archive quarters.
    let Some(mut q) = DateTime::from_timestamp_millis(x).map(Quarter::containing) else {
        return out;
    };
    let mut at = x;
    while at < y {
        let end = q.end().timestamp_millis().min(y);
        let state = quarters.iter().find(|s| s.quarter == q.label());
        let piece = match state {
            Some(s) if s.state != "done" => {
                let (reason, fix) = quarter_reason(s);
                (
                    at,
                    end,
                    format!("archive quarter {} is {}", q.label(), &reason[8..]),
                    fix,
                )
            }
            None if q.end().timestamp_millis() <= as_of && failed.is_empty() => (
                at,
                end,
                format!("the archive quarter {} is not stored", q.label()),
                "rerun `okx-export sync` (without `--no-archive`)".into(),
            ),
            _ => rest(at, end),
        };
        match out.last_mut() {
            Some(last) if last.1 == piece.0 && last.2 == piece.2 => last.1 = piece.1,
            _ => out.push(piece),
        }
        at = end;
        q = q.next();
    }
    out
}

/// `coverage.csv`: one row per stream and archive quarter.
pub fn coverage_csv(c: &CoverageCheck) -> (Vec<&'static str>, Vec<Vec<String>>) {
    let t = |t: Option<DateTime<Utc>>| t.map(rfc3339_ms).unwrap_or_default();
    let rows = c
        .streams
        .iter()
        .map(|s| {
            vec![
                s.group.name(),
                s.stream.clone(),
                if s.unbounded {
                    "beginning".to_string()
                } else {
                    t(s.from)
                },
                t(s.to),
                s.end_reason.clone(),
                s.detail.clone(),
            ]
        })
        .collect();
    (
        vec!["group", "stream", "from", "to", "end_reason", "detail"],
        rows,
    )
}

/// The coverage block of `summary.json`.
pub fn coverage_json(c: &CoverageCheck) -> serde_json::Value {
    let t = |t: Option<DateTime<Utc>>| t.map(rfc3339_ms);
    serde_json::json!({
        "complete": c.complete(),
        "floor": t(c.floor),
        "as_of": t(c.as_of),
        "period_checked": {"from": t(c.from), "to": t(c.to)},
        "streams": c.streams.iter().map(|s| serde_json::json!({
            "group": s.group.name(), "stream": s.stream,
            "from": if s.unbounded { Some("beginning".to_string()) } else { t(s.from) },
            "to": t(s.to), "end_reason": s.end_reason, "detail": s.detail,
        })).collect::<Vec<_>>(),
        "missing": c.missing.iter().map(|m| serde_json::json!({
            "group": m.group.name(), "from": rfc3339_ms(m.from), "to": rfc3339_ms(m.to),
            "why": m.why, "fix": m.fix,
        })).collect::<Vec<_>>(),
    })
}

#[cfg(test)]
mod tests;
