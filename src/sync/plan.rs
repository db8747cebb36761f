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

use super::archive::{Quarter, quarters_needed};
use crate::store::{Coverage, EndReason, Store};
use anyhow::Result;
use chrono::{DateTime, Duration, Utc};

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

/// Whether the store holds the quarter's file.
pub fn file_stored(store: &Store, q: Quarter) -> Result<bool> {
    Ok(store.quarter(&q.label())?.is_some_and(|s| s.state == "done"))
}

/// After the walk to the boundary: names the file serving the older part in the stream's
/// coverage detail, so `status` and `coverage.csv` show the planner's choice.
pub fn note_boundary(store: &mut Store, b: ArchiveBoundary) -> Result<()> {
    if let Some(c) = store.coverage(BILLS_ARCHIVE)?
        && c.error.is_none()
        && c.reason == EndReason::FloorReached
        && c.from == Some(b.at)
    {
        store.set_coverage(&Coverage {
            detail: Some(b.detail()),
            ..c
        })?;
    }
    Ok(())
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
}
