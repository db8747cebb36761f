//! Where the pages of one instrument go while the history is still arriving (issue 23).
//!
//! The sync pages its streams newest first, so the rows of a time range are known once
//! every stream that can hold rows there has been fetched past it: a *complete* range
//! ([`Complete`]). Pages are laid greedily from the newest needed bar down (the first page
//! ends with the hour of the newest needed minute, the next with the newest one below it,
//! …), which covers the points with the fewest pages, as greedy from the oldest does, and
//! lets a page be placed as soon as everything newer is known. A page is fetched once its
//! whole window lies in one complete range: until then rows still to come could fall in
//! it (and make it a page of hours instead of minutes). Where a range completes before the
//! range above it (an archive quarter stored before the newer pages of the ledger), its
//! pages are laid from its own newest bar, which can cost one page more per instrument
//! than laying them all at once.

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
/// bar holds them yet), laid greedily from the newest; those whose window lies in a
/// complete range (see the module docs). Inside a page of hours whose minutes all fit in
/// one page of minutes, that page is fetched instead (as cheap, and the minutes' own
/// prices).
pub fn page_windows(minutes: &[i64], complete: &Complete) -> Vec<Window> {
    let (hour, step) = (BAR_1H.0, BAR_1H.1);
    let mut out = Vec::new();
    let mut hi = minutes.len();
    while hi > 0 {
        let newest = minutes[hi - 1];
        let end = bar_open(newest, step) + step;
        let start = end - PAGE * step;
        let lo = minutes[..hi].partition_point(|m| *m < start);
        let ms = &minutes[lo..hi];
        let fits = windows(ms.iter().copied(), BAR_1M.1).len() <= 1;
        let minute_page = Window {
            bar: BAR_1M.0,
            step: BAR_1M.1,
            start: ms[0],
            last_needed: newest,
        };
        let hour_page = Window {
            bar: hour,
            step,
            start,
            last_needed: bar_open(newest, step),
        };
        if complete.holds(start, end) {
            out.push(if fits { minute_page } else { hour_page });
        }
        hi = lo;
    }
    out.reverse();
    out
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
        // An island complete below a range that is not: laid from its own newest bar.
        let island = Complete::of(vec![(-10 * day, 5 * day), (20 * day, i64::MAX)]);
        let w = page_windows(&[H, 4 * day, 25 * day], &island);
        assert_eq!(
            w.iter().map(|w| (w.bar, w.start)).collect::<Vec<_>>(),
            vec![("1H", 4 * day + H - 100 * H), ("1m", 25 * day)]
        );
    }
}
