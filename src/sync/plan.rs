//! The sync planner (issue 10): which source serves which part of the trading ledger.
//!
//! `account/bills-archive` reaches back 90 days, so its window always straddles the start
//! of the current quarter: the older part lies in the previous, complete quarter, whose
//! `bills-history-archive` file holds every bill of it. When that file is stored (or the
//! archive task is fetching it in this run), `bills-archive` pages only back to the start
//! of the current quarter (the *archive boundary*); the page that crosses it also stores a
//! few bills of the previous quarter, which the file's copies merge with by `billId`.
//! If the file cannot be had within `--archive-wait` (refused, failed, still generating),
//! the walk continues from where it stopped down to its window, as without the plan.
//!
//! Coverage stays truthful: `bills-archive` then covers `[boundary, as_of)` (its detail
//! names the file that serves the older part) and the quarter's file `[start, end)`; the
//! coverage check joins them. If the file is missing, the fallback walk widens the stream's
//! own range, so no claim ever rests on a file that is not stored.

use super::quarter::{Quarter, quarters_needed};
use crate::store::{Coverage, EndReason, Store};
use anyhow::Result;
use chrono::{DateTime, Duration, Utc};
use rust_decimal::Decimal;

/// The trading-bills stream the boundary applies to.
pub const BILLS_ARCHIVE: &str = "bills-archive";

/// `bills-archive`'s window (../shared/okx-api.md §4).
pub fn bills_archive_window() -> Duration {
    Duration::days(90)
}

/// Where `bills-archive` stops because an archive file serves the older part.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArchiveBoundary {
    /// The previous quarter, whose file serves everything older than `at`.
    pub quarter: Quarter,
    /// The start of the current quarter.
    pub at: DateTime<Utc>,
}

impl ArchiveBoundary {
    /// The coverage detail of a `bills-archive` range that ends at the boundary.
    pub fn detail(self) -> String {
        format!(
            "planned: older bills come from the archive file {}",
            self.quarter.label()
        )
    }
}

/// The boundary for this run, if any: the window reaches into the previous quarter, that
/// quarter is one the archive serves (complete, inside the floor), the floor is older than
/// the current quarter's start, and its file is stored or being fetched in this run.
pub fn archive_boundary(
    since: DateTime<Utc>,
    as_of: DateTime<Utc>,
    archive_runs: bool,
    file_stored: impl FnOnce(Quarter) -> Result<bool>,
) -> Result<Option<ArchiveBoundary>> {
    let current = Quarter::containing(as_of);
    let Some(&prev) = quarters_needed(since, as_of, bills_archive_window()).last() else {
        return Ok(None);
    };
    if prev.next() != current || current.start() <= since {
        return Ok(None);
    }
    Ok((archive_runs || file_stored(prev)?).then(|| ArchiveBoundary {
        quarter: prev,
        at: current.start(),
    }))
}

/// Streams whose newest part another endpoint serves (issue 10 item 2): the recent
/// endpoint (its own, faster limit) covers its window, the older one pages only below it.
/// `(recent stream, older stream or prefix, the recent endpoint's window in days)`.
/// Funding bills are not split: `asset/bills-history` has no `end` filter, so its walk
/// cannot start below the month `asset/bills` serves.
const SPLITS: [(&str, &str, i64); 2] = [("bills", "bills-archive", 7), ("fills", "fills-history/", 3)];

/// How far past the split the older stream still reads. The recent endpoint's window is
/// measured from the time of each of its requests, not from the run's start: a record just
/// older than `as_of - window` may be out of its reach by the walk's last page, so the
/// older stream covers up to an hour past the split (the overlap merges by key).
pub fn split_overlap() -> Duration {
    Duration::hours(1)
}

/// What one stream does in this run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamPlan {
    /// How far back it walks (the archive boundary for `bills-archive`).
    pub floor: DateTime<Utc>,
    /// It serves records up to here only (`end` filter); a newer endpoint serves the rest.
    pub upto: Option<DateTime<Utc>>,
    /// Nothing to fetch: its stored range already meets the recent stream's, which
    /// continues its own range in this run.
    pub skip: bool,
    /// The recent stream serving what is newer than `upto`.
    pub recent: Option<&'static str>,
}

/// The planner's choices for one run.
#[derive(Debug, Clone)]
pub struct Planner {
    pub since: DateTime<Utc>,
    pub as_of: DateTime<Utc>,
    pub boundary: Option<ArchiveBoundary>,
    coverages: Vec<Coverage>,
}

impl Planner {
    pub fn new(
        store: &Store,
        since: DateTime<Utc>,
        as_of: DateTime<Utc>,
        archive_runs: bool,
    ) -> Result<Planner> {
        Ok(Planner {
            since,
            as_of,
            boundary: archive_boundary(since, as_of, archive_runs, |q| file_stored(store, q))?,
            coverages: store.coverages()?,
        })
    }

    fn coverage(&self, stream: &str) -> Option<&Coverage> {
        self.coverages.iter().find(|c| c.stream == stream)
    }

    pub fn for_stream(&self, name: &str) -> StreamPlan {
        let floor = match self.boundary {
            Some(b) if name == BILLS_ARCHIVE => b.at,
            _ => self.since,
        };
        let mut plan = StreamPlan {
            floor,
            upto: None,
            skip: false,
            recent: None,
        };
        let Some(&(recent, _, days)) = SPLITS
            .iter()
            .find(|(_, older, _)| name == *older || (older.ends_with('/') && name.starts_with(older)))
        else {
            return plan;
        };
        let split = self.as_of - Duration::days(days);
        plan.upto = Some(split + split_overlap());
        plan.recent = Some(recent);
        // Skip when this stream's stored range reaches the recent stream's, which reaches
        // past the split (so this run's recent walk joins it), and no backfill is due.
        let ok = |c: &&Coverage| c.error.is_none() && c.reason != EndReason::StreamFailed;
        if let (Some(older), Some(newer)) = (self.coverage(name).filter(ok), self.coverage(recent).filter(ok))
            && let (Some(of), Some(ot), Some(nf), Some(nt)) = (older.from, older.to, newer.from, newer.to)
            && ot >= nf
            && nt >= split + split_overlap()
            && (of <= floor || matches!(older.reason, EndReason::ApiWindow | EndReason::ApiExhausted))
        {
            plan.skip = true;
        }
        plan
    }

    /// The spec as this run walks it (the `end` filter of a split stream).
    pub fn spec(&self, mut spec: super::stream::StreamSpec) -> (super::stream::StreamSpec, StreamPlan) {
        let plan = self.for_stream(&spec.name);
        if let Some(upto) = plan.upto {
            spec.query.push(("end", upto.timestamp_millis().to_string()));
        }
        (spec, plan)
    }

    /// After the stream's walk: the coverage detail names the sources serving its other
    /// parts, so `status` and `coverage.csv` show the planner's choices. The archive part
    /// is named only while the range really ends at the boundary.
    pub fn note(&self, store: &mut Store, name: &str, plan: &StreamPlan) -> Result<()> {
        let Some(c) = store.coverage(name)? else {
            return Ok(());
        };
        if c.error.is_some() || c.reason == EndReason::StreamFailed {
            return Ok(());
        }
        let mut parts = Vec::new();
        if let Some(b) = self.boundary
            && name == BILLS_ARCHIVE
            && c.reason == EndReason::FloorReached
            && c.from == Some(b.at)
        {
            parts.push(b.detail());
        }
        if let (Some(upto), Some(recent)) = (plan.upto, plan.recent) {
            parts.push(format!(
                "planned: newer than {} comes from `{recent}`",
                (upto - split_overlap()).format("%Y-%m-%d %H:%M")
            ));
        }
        if parts.is_empty() {
            return Ok(());
        }
        store.set_coverage(&Coverage {
            detail: Some(parts.join("; ")),
            ..c
        })
    }
}

/// The archive state of a quarter older than the account's first activity.
pub const QUARTER_SKIPPED: &str = "skipped";

/// Whether a quarter is applied for (issue 10 item 5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Activity {
    /// Apply: activity before the quarter's end, or not proven otherwise.
    Apply,
    /// No application: the detail says by which rule.
    Skip(String),
    /// The funding ledger says "before the first activity", but the trading ledger from
    /// that activity on is not stored yet, so the zero-opening guard cannot be checked.
    Wait,
}

/// Whether `q` needs an archive application: not when the funding ledger (which
/// `asset/bills-history` gives back to 2021-02) is stored without a gap from before `q`
/// up to now, the oldest stored record (a funding bill or deposit, or anything older) is
/// not older than `q`'s end, and the oldest stored trading bill of every currency opens at
/// zero (`bal - balChg = 0`), so no trading balance came from before it. The guard needs
/// the trading ledger from the first activity on: the quarter holding it stored, or the
/// API streams reaching it. Anything unproven (a walk not finished, a failed stream, an
/// unreadable amount) means: apply.
pub fn before_first_activity(store: &Store, q: Quarter) -> Result<Activity> {
    let funding_proven = store.coverage("asset-bills-history")?.is_some_and(|c| {
        c.error.is_none() && (c.reason == EndReason::ApiExhausted || c.from.is_some_and(|f| f <= q.start()))
    });
    if !funding_proven {
        return Ok(Activity::Apply);
    }
    let Some(first) = store.first_activity_ms()? else {
        return Ok(Activity::Apply);
    };
    if first < q.end().timestamp_millis() {
        return Ok(Activity::Apply);
    }
    let Some(first_t) = DateTime::from_timestamp_millis(first) else {
        return Ok(Activity::Apply);
    };
    let api_reaches = |name: &str| -> Result<bool> {
        Ok(store
            .coverage(name)?
            .is_some_and(|c| c.error.is_none() && c.from.is_some_and(|f| f <= first_t)))
    };
    let trading_stored = file_stored(store, Quarter::containing(first_t))?
        || api_reaches(BILLS_ARCHIVE)?
        || api_reaches("bills")?;
    if !trading_stored {
        return Ok(Activity::Wait);
    }
    for (_, bal, chg) in store.oldest_trading_openings()? {
        let (Some(bal), Some(chg)) = (bal, chg) else {
            return Ok(Activity::Apply);
        };
        match (bal.parse::<Decimal>(), chg.parse::<Decimal>()) {
            (Ok(b), Ok(c)) if b - c == Decimal::ZERO => {}
            _ => return Ok(Activity::Apply),
        }
    }
    let day = first_t.format("%Y-%m-%d");
    Ok(Activity::Skip(format!(
        "before the account's first activity (oldest stored record {day}; every currency's oldest trading bill opens at zero): not applied for, nothing to fetch"
    )))
}

/// Whether the store holds the quarter's file.
pub fn file_stored(store: &Store, q: Quarter) -> Result<bool> {
    Ok(store.quarter(&q.label())?.is_some_and(|s| s.state == "done"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn boundary_is_the_current_quarter_start() {
        let now = t("2026-02-15T00:00:00Z");
        let b = archive_boundary(t("2025-07-01T00:00:00Z"), now, true, |_| Ok(false))
            .unwrap()
            .unwrap();
        assert_eq!(b.quarter.label(), "2025Q4");
        assert_eq!(b.at, t("2026-01-01T00:00:00Z"));
        // Without the archive in this run, only a stored file moves the boundary.
        assert_eq!(
            archive_boundary(t("2025-07-01T00:00:00Z"), now, false, |_| Ok(false)).unwrap(),
            None
        );
        assert_eq!(
            archive_boundary(t("2025-07-01T00:00:00Z"), now, false, |q| Ok(
                q.label() == "2025Q4"
            ))
            .unwrap(),
            Some(b)
        );
    }

    #[test]
    fn no_boundary_when_the_window_or_floor_stays_in_the_quarter() {
        // A floor inside the current quarter: nothing older is needed.
        assert_eq!(
            archive_boundary(
                t("2026-01-10T00:00:00Z"),
                t("2026-02-15T00:00:00Z"),
                true,
                |_| Ok(true)
            )
            .unwrap(),
            None
        );
        // 2025-04-01 minus 90 days is 2025-01-01: the window holds all of 2025Q1, which the
        // archive does not serve (it is inside the API window).
        assert_eq!(
            archive_boundary(
                t("2024-07-01T00:00:00Z"),
                t("2025-04-01T00:00:00Z"),
                true,
                |_| Ok(true)
            )
            .unwrap(),
            None
        );
        // A floor in the previous quarter still uses its file.
        let b = archive_boundary(t("2025-12-20T00:00:00Z"), t("2026-02-15T00:00:00Z"), true, |_| {
            Ok(false)
        })
        .unwrap();
        assert_eq!(b.map(|b| b.quarter.label()), Some("2025Q4".into()));
    }

    fn cov(stream: &str, from: &str, to: &str, reason: EndReason) -> Coverage {
        Coverage {
            stream: stream.into(),
            from: Some(t(from)),
            to: Some(t(to)),
            reason,
            detail: None,
            error: None,
            bottom: None,
            updated_at: None,
        }
    }

    /// The older stream of a split pair reads only below the recent window (plus the
    /// overlap), and nothing once its range meets the recent stream's; never when that
    /// stream failed or a backfill below its range is due.
    #[test]
    fn split_streams_stop_below_the_recent_window() {
        let since = t("2025-07-01T00:00:00Z");
        let as_of = t("2026-02-15T00:00:00Z");
        let planner = |coverages| Planner {
            since,
            as_of,
            boundary: None,
            coverages,
        };
        let first = planner(vec![]).for_stream("fills-history/SPOT");
        assert_eq!(first.upto, Some(t("2026-02-12T01:00:00Z")));
        assert_eq!((first.skip, first.recent), (false, Some("fills")));
        assert_eq!(planner(vec![]).for_stream("deposit-history").upto, None);

        let older = cov(
            "fills-history/SPOT",
            "2025-11-17T00:00:00Z",
            "2026-02-11T01:00:00Z",
            EndReason::ApiWindow,
        );
        let recent = cov(
            "fills",
            "2026-02-08T00:00:00Z",
            "2026-02-14T00:00:00Z",
            EndReason::ApiWindow,
        );
        assert!(
            planner(vec![older.clone(), recent.clone()])
                .for_stream("fills-history/SPOT")
                .skip
        );
        // The recent stream's range ends before this run's split: its walk cannot join it.
        let stale = cov(
            "fills",
            "2026-02-01T00:00:00Z",
            "2026-02-11T00:00:00Z",
            EndReason::ApiWindow,
        );
        assert!(
            !planner(vec![older.clone(), stale])
                .for_stream("fills-history/SPOT")
                .skip
        );
        // A gap between the two ranges.
        let gap = cov(
            "fills",
            "2026-02-11T02:00:00Z",
            "2026-02-14T00:00:00Z",
            EndReason::ApiWindow,
        );
        assert!(
            !planner(vec![older.clone(), gap])
                .for_stream("fills-history/SPOT")
                .skip
        );
        // The recent stream's last walk failed.
        let failed = Coverage {
            error: Some("boom".into()),
            ..recent.clone()
        };
        assert!(!planner(vec![older, failed]).for_stream("fills-history/SPOT").skip);
        // A backfill is due below the range.
        let shallow = cov(
            "fills-history/SPOT",
            "2026-01-01T00:00:00Z",
            "2026-02-11T01:00:00Z",
            EndReason::FloorReached,
        );
        assert!(
            !planner(vec![shallow, recent])
                .for_stream("fills-history/SPOT")
                .skip
        );
    }

    /// The first-activity rule: wait for the trading ledger, skip when every opening is
    /// zero, apply on a non-zero opening or an unproven funding ledger.
    #[test]
    fn quarters_before_the_first_activity() {
        use crate::store::{NewRecord, RecordKind};
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::open(dir.path()).unwrap();
        let q2 = Quarter { year: 2025, q: 2 };
        let rec = |kind, key: &str, ts: &str, raw: &str| NewRecord {
            kind,
            key: key.into(),
            ts_ms: t(ts).timestamp_millis(),
            num: key.parse().ok(),
            link: None,
            raw: raw.into(),
        };
        // Nothing proven about the funding ledger: apply.
        assert_eq!(before_first_activity(&s, q2).unwrap(), Activity::Apply);
        let funding = cov(
            "asset-bills-history",
            "2021-02-01T00:00:00Z",
            "2026-02-15T00:00:00Z",
            EndReason::ApiExhausted,
        );
        s.set_coverage(&funding).unwrap();
        s.insert_page(
            "asset-bills-history",
            1,
            &[rec(RecordKind::FundingBill, "5", "2025-07-02T00:00:00Z", "{}")],
            None,
        )
        .unwrap();
        s.insert_page(
            "bills-history-archive/2025Q3",
            0,
            &[rec(
                RecordKind::Bill,
                "20",
                "2025-07-03T00:00:00Z",
                r#"{"ccy":"USDT","bal":"100","balChg":"100"}"#,
            )],
            None,
        )
        .unwrap();
        // The quarter holding the first activity is not stored yet: the guard must wait.
        assert_eq!(before_first_activity(&s, q2).unwrap(), Activity::Wait);
        s.mark_quarter_done("2025Q3", 1).unwrap();
        assert!(
            matches!(before_first_activity(&s, q2).unwrap(), Activity::Skip(w) if w.contains("2025-07-02"))
        );
        // 2025Q3 itself holds activity: apply.
        assert_eq!(
            before_first_activity(&s, Quarter { year: 2025, q: 3 }).unwrap(),
            Activity::Apply
        );
        // An older bill of another currency that opens with a balance: apply.
        s.insert_page(
            "bills-history-archive/2025Q3",
            0,
            &[rec(
                RecordKind::Bill,
                "10",
                "2025-07-04T00:00:00Z",
                r#"{"ccy":"BTC","bal":"2","balChg":"1"}"#,
            )],
            None,
        )
        .unwrap();
        assert_eq!(before_first_activity(&s, q2).unwrap(), Activity::Apply);
        // A failed funding walk proves nothing.
        s.set_coverage(&Coverage {
            error: Some("boom".into()),
            ..funding
        })
        .unwrap();
        assert_eq!(before_first_activity(&s, q2).unwrap(), Activity::Apply);
    }
}
