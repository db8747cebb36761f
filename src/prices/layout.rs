//! Where the pages of one instrument go while the history is still arriving (issue 23).
//!
//! The sync pages its streams newest first, and an archive file brings a whole quarter, so
//! the rows of a time range are known once every stream that can hold rows there has been
//! fetched past it: a *complete* range ([`Complete`]). The plan for the whole history lays
//! pages greedily from the newest needed bar down (the first page ends with the hour of the
//! newest needed minute, the next with the newest one below it, …): the fewest that cover
//! the points. While the history arrives, a page is laid only where that plan lays it,
//! whatever rows are still to come:
//!
//! * from the newest down, while everything from the page's start on is complete (the
//!   pages above it are the plan's, so this one is too);
//! * from the oldest up, while everything before the page's end is complete (the archive's
//!   files stored before the newer ledger pages): greedy from the oldest, which takes as
//!   few pages.
//!
//! Each page so laid starts at a needed hour that no other page can share: the ones above
//! or below it are at least a page away. So the pages laid as the history arrives are as
//! few as the plan's. A range complete with time still to come on both sides waits (where
//! its pages go depends on rows not stored yet), and so do the points of the pages that
//! reach past the complete time. A page is fetched once its whole window is complete:
//! until then rows still to come could fall in it (and make it a page of hours instead of
//! minutes). The holdings at a year start are points too: they are read before the pages
//! around it are laid ([`super::boundaries::year_needs_from_above`]).

use super::rules::{BAR_1H, BAR_1M, PAGE, Window, bar_open, windows};

/// The time ranges whose rows are all stored: sorted, disjoint `[from, to)` (Unix ms).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Complete(Vec<(i64, i64)>);

impl Complete {
    /// Every time: the history is complete (a stage run after the sync, `prices`).
    pub fn all() -> Complete {
        Complete(vec![(i64::MIN, i64::MAX)])
    }

    /// These ranges (any order, overlapping or touching ranges merged).
    pub fn of(mut ranges: Vec<(i64, i64)>) -> Complete {
        ranges.retain(|(a, b)| a < b);
        ranges.sort_unstable();
        let mut out: Vec<(i64, i64)> = Vec::with_capacity(ranges.len());
        for (a, b) in ranges {
            match out.last_mut() {
                Some(last) if a <= last.1 => last.1 = last.1.max(b),
                _ => out.push((a, b)),
            }
        }
        Complete(out)
    }

    pub fn ranges(&self) -> &[(i64, i64)] {
        &self.0
    }

    pub fn is_all(&self) -> bool {
        self.0 == [(i64::MIN, i64::MAX)]
    }

    /// Whether `[from, to)` lies inside one complete range.
    pub fn holds(&self, from: i64, to: i64) -> bool {
        let i = self.0.partition_point(|(_, b)| *b <= from);
        self.0.get(i).is_some_and(|(a, b)| *a <= from && to <= *b)
    }

    /// Whether `t` is in a complete range.
    pub fn contains(&self, t: i64) -> bool {
        self.holds(t, t.saturating_add(1))
    }

    /// Where the complete time up to the end of time begins (`i64::MAX` when the newest
    /// time is not complete).
    pub fn from_top(&self) -> i64 {
        match self.0.last() {
            Some(&(a, i64::MAX)) => a,
            _ => i64::MAX,
        }
    }

    /// Where the complete time since the beginning of time ends (`i64::MIN` when the
    /// oldest time is not complete).
    pub fn to_bottom(&self) -> i64 {
        match self.0.first() {
            Some(&(i64::MIN, b)) => b,
            _ => i64::MIN,
        }
    }

    /// What is complete here and was not in `before`.
    pub fn minus(&self, before: &Complete) -> Vec<(i64, i64)> {
        let mut out = Vec::new();
        for &(a, b) in &self.0 {
            let mut cur = a;
            for &(c, d) in &before.0 {
                if d <= cur || c >= b {
                    continue;
                }
                if c > cur {
                    out.push((cur, c));
                }
                cur = cur.max(d);
                if cur >= b {
                    break;
                }
            }
            if cur < b {
                out.push((cur, b));
            }
        }
        out
    }
}

/// The pages for the sorted, distinct minute open times `minutes` that need a page (no
/// bar holds them yet): those that are pages of the plan for the whole history, whatever
/// rows are still to come (see the module docs). Inside a page of hours whose minutes all
/// fit in one page of minutes, that page is fetched instead (as cheap, and the minutes'
/// own prices).
pub fn page_windows(minutes: &[i64], complete: &Complete) -> Vec<Window> {
    let mut out = Vec::new();
    let mut hi = minutes.len();
    // From the newest, while everything from the page's start on is complete.
    let top = complete.from_top();
    while hi > 0 {
        let newest = minutes[hi - 1];
        let end = bar_open(newest, BAR_1H.1) + BAR_1H.1;
        let start = end - PAGE * BAR_1H.1;
        if start < top {
            break;
        }
        let lo = minutes[..hi].partition_point(|m| *m < start);
        out.push(page(&minutes[lo..hi], start));
        hi = lo;
    }
    // From the oldest, while everything before the page's end is complete.
    let bottom = complete.to_bottom();
    let mut lo = 0;
    while lo < hi {
        let start = bar_open(minutes[lo], BAR_1H.1);
        let end = start + PAGE * BAR_1H.1;
        if end > bottom {
            break;
        }
        let next = lo + minutes[lo..hi].partition_point(|m| *m < end);
        out.push(page(&minutes[lo..next], start));
        lo = next;
    }
    out.sort_unstable_by_key(|w| w.start);
    out
}

/// The page of hours from `start` holding the minutes `ms`, or the page of minutes from
/// the first of them when they all fit in one.
fn page(ms: &[i64], start: i64) -> Window {
    let newest = ms[ms.len() - 1];
    if windows(ms.iter().copied(), BAR_1M.1).len() <= 1 {
        Window {
            bar: BAR_1M.0,
            step: BAR_1M.1,
            start: ms[0],
            last_needed: newest,
        }
    } else {
        Window {
            bar: BAR_1H.0,
            step: BAR_1H.1,
            start,
            last_needed: bar_open(newest, BAR_1H.1),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prices::rules::plan;

    const M: i64 = 60_000;
    const H: i64 = 3_600_000;

    #[test]
    fn complete_ranges() {
        let c = Complete::of(vec![(10, 20), (0, 5), (5, 8), (30, 40)]);
        assert_eq!(c.ranges(), &[(0, 8), (10, 20), (30, 40)]);
        assert!(c.holds(10, 20) && c.holds(0, 8) && !c.holds(5, 11) && !c.holds(19, 21));
        assert!(c.contains(0) && !c.contains(8) && c.contains(39) && !c.contains(40));
        let before = Complete::of(vec![(12, 15), (30, 50)]);
        assert_eq!(c.minus(&before), vec![(0, 8), (10, 12), (15, 20)]);
        assert_eq!(c.minus(&Complete::default()), c.ranges().to_vec());
        assert!(c.minus(&Complete::all()).is_empty());
        assert!(Complete::all().holds(i64::MIN, i64::MAX - 1) && Complete::all().is_all());
    }

    /// With everything complete, greedy from the newest takes as many pages as greedy from
    /// the oldest ([`plan`]) and covers every point.
    #[test]
    fn as_few_pages_as_greedy_from_the_oldest() {
        let mut rng = 12_345u64;
        let mut next = || {
            rng = rng.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            (rng >> 33) as i64
        };
        for case in 0..200 {
            let n = 1 + next() % 60;
            let spread = [200 * M, 30 * H, 400 * H, 3000 * H][case % 4];
            let mut ms: Vec<i64> = (0..n).map(|_| bar_open(next() % spread, M)).collect();
            ms.sort_unstable();
            ms.dedup();
            let desc = page_windows(&ms, &Complete::all());
            let asc = plan(&ms);
            assert_eq!(desc.len(), asc.len(), "case {case}: {ms:?}");
            for m in &ms {
                assert!(
                    desc.iter().any(|w| *m >= w.start && *m < w.start + PAGE * w.step),
                    "case {case}: {m} not covered"
                );
            }
        }
    }

    /// The minutes a laid page covers (a page of minutes only its own hundred minutes).
    fn covered_by(w: &Window, m: i64) -> bool {
        m >= w.start && m < w.start + PAGE * w.step
    }

    /// Issue 23: however the history arrives (newest first from the top, an archive file
    /// holding everything below some time, in any interleaving), the pages laid as it
    /// arrives are no more than the plan for the whole history at once.
    #[test]
    fn pages_laid_as_the_history_arrives_are_no_more_than_at_once() {
        let mut rng = 987_654_321u64;
        let mut next = || {
            rng = rng.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            (rng >> 33) as i64
        };
        for case in 0..400 {
            let spread = [400 * H, 3000 * H, 8000 * H][case % 3];
            let n = 5 + next() % 300;
            let mut ms: Vec<i64> = (0..n).map(|_| bar_open(next() % spread, M)).collect();
            ms.sort_unstable();
            ms.dedup();
            let at_once = plan(&ms).len();
            // Complete: from `top` on, and below `low` once the archive is in.
            let mut top = spread;
            let mut low: Option<i64> = None;
            let archive_at = next() % 5;
            let mut laid: Vec<Window> = Vec::new();
            for step in 0.. {
                let complete = match low {
                    Some(l) if l >= top => Complete::all(),
                    Some(l) => Complete::of(vec![(i64::MIN, l), (top, i64::MAX)]),
                    None => Complete::of(vec![(top, i64::MAX)]),
                };
                // The stage knows the rows of the complete ranges only.
                let open: Vec<i64> = ms
                    .iter()
                    .copied()
                    .filter(|m| complete.contains(*m) && !laid.iter().any(|w| covered_by(w, *m)))
                    .collect();
                if open.is_empty() && complete.is_all() {
                    break;
                }
                laid.extend(page_windows(&open, &complete));
                if complete.is_all() {
                    continue;
                }
                if step == archive_at {
                    low = Some(next() % top);
                } else {
                    top -= 1 + next() % (spread / 6);
                    if let Some(l) = low
                        && next() % 2 == 0
                    {
                        low = Some(l + next() % (spread / 6));
                    }
                }
            }
            assert!(
                laid.len() <= at_once,
                "case {case}: {} pages as the history arrived, {at_once} at once",
                laid.len()
            );
        }
    }

    /// A page reaching into a range whose rows are not all stored waits; pages inside
    /// complete ranges go at once, laid from the newest bar.
    #[test]
    fn pages_wait_for_their_rows() {
        let day = 24 * H;
        // Complete from day 10 on; rows on days 11, 12 and 30.
        let complete = Complete::of(vec![(10 * day, i64::MAX)]);
        let ms = [11 * day + 5 * H, 12 * day, 30 * day + 3 * M, 30 * day + 9 * M];
        let w = page_windows(&ms, &complete);
        // Day 30: one minute page. Days 11-12 lie in the page ending at hour 12d+1h, which
        // starts 100 hours earlier (day 7): not complete, it waits.
        assert_eq!(
            w.iter().map(|w| (w.bar, w.start)).collect::<Vec<_>>(),
            vec![("1m", 30 * day + 3 * M)]
        );
        let w = page_windows(&ms, &Complete::of(vec![(7 * day, i64::MAX)]));
        assert_eq!(
            w.iter().map(|w| (w.bar, w.start)).collect::<Vec<_>>(),
            vec![("1H", 12 * day + H - 100 * H), ("1m", 30 * day + 3 * M)]
        );
        // Complete since the beginning of time below a range that is not (the archive's
        // files in before the newer ledger pages): laid from the oldest bar.
        let bottom = Complete::of(vec![(i64::MIN, 5 * day), (20 * day, i64::MAX)]);
        let w = page_windows(&[H, 4 * day, 25 * day], &bottom);
        assert_eq!(
            w.iter().map(|w| (w.bar, w.start)).collect::<Vec<_>>(),
            vec![("1H", H), ("1m", 25 * day)]
        );
        // An island with time still to come on both sides waits: where its pages go
        // depends on rows not stored yet.
        let island = Complete::of(vec![(-10 * day, 5 * day), (20 * day, i64::MAX)]);
        let w = page_windows(&[H, 4 * day, 25 * day], &island);
        assert_eq!(
            w.iter().map(|w| (w.bar, w.start)).collect::<Vec<_>>(),
            vec![("1m", 25 * day)]
        );
    }
}
