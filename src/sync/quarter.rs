//! Calendar quarters, the unit of OKX's trading-ledger archive: which quarters a sync needs
//! from the archive, and how a list of them is said (`2021Q1–2025Q2`).

use chrono::{DateTime, Datelike, Duration as ChronoDuration, TimeZone, Utc};

/// The oldest data the archive has.
pub fn archive_start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2021, 2, 1, 0, 0, 0).unwrap()
}

/// A calendar quarter, e.g. 2025 Q3 = [2025-07-01, 2025-10-01) UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Quarter {
    pub year: i32,
    pub q: u32,
}

impl Quarter {
    pub fn containing(t: DateTime<Utc>) -> Quarter {
        Quarter {
            year: t.year(),
            q: (t.month() - 1) / 3 + 1,
        }
    }
    pub fn start(self) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(self.year, (self.q - 1) * 3 + 1, 1, 0, 0, 0)
            .unwrap()
    }
    #[must_use]
    pub fn next(self) -> Quarter {
        if self.q == 4 {
            Quarter {
                year: self.year + 1,
                q: 1,
            }
        } else {
            Quarter {
                year: self.year,
                q: self.q + 1,
            }
        }
    }
    pub fn end(self) -> DateTime<Utc> {
        self.next().start()
    }
    pub fn label(self) -> String {
        format!("{}Q{}", self.year, self.q)
    }
}

/// Quarters to fetch from the archive: complete, not before the archive's start or the
/// `since` bound, and starting before the API window (which covers the rest).
pub fn quarters_needed(since: DateTime<Utc>, now: DateTime<Utc>, api_window: ChronoDuration) -> Vec<Quarter> {
    let current = Quarter::containing(now);
    let window_start = now - api_window;
    let mut q = Quarter::containing(since.max(archive_start()));
    let mut out = Vec::new();
    while q < current {
        if q.start() < window_start {
            out.push(q);
        }
        q = q.next();
    }
    out
}

/// Quarter labels (`2021Q1`, …) as runs of consecutive quarters: `2021Q1–2025Q2`,
/// `2025Q4`. Unreadable labels are kept as they are.
pub fn quarter_runs(labels: &[String]) -> Vec<String> {
    let parse = |l: &str| -> Option<Quarter> {
        let (y, q) = l.split_once('Q')?;
        let q: u32 = q.parse().ok()?;
        (1..=4).contains(&q).then_some(Quarter {
            year: y.parse().ok()?,
            q,
        })
    };
    let mut quarters: Vec<Quarter> = labels.iter().filter_map(|l| parse(l)).collect();
    quarters.sort();
    quarters.dedup();
    let mut out: Vec<String> = labels.iter().filter(|l| parse(l).is_none()).cloned().collect();
    let mut i = 0;
    while i < quarters.len() {
        let mut j = i;
        while j + 1 < quarters.len() && quarters[j].next() == quarters[j + 1] {
            j += 1;
        }
        out.push(if i == j {
            quarters[i].label()
        } else {
            format!("{}–{}", quarters[i].label(), quarters[j].label())
        });
        i = j + 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn consecutive_quarters_are_one_run() {
        let labels = |v: &[&str]| v.iter().map(|s| (*s).to_string()).collect::<Vec<_>>();
        let mut all = Vec::new();
        let mut q = Quarter { year: 2021, q: 1 };
        while q.label() != "2025Q3" {
            all.push(q.label());
            q = q.next();
        }
        all.reverse();
        assert_eq!(quarter_runs(&all), ["2021Q1–2025Q2"]);
        assert_eq!(
            quarter_runs(&labels(&["2025Q4", "2024Q1", "2024Q2", "2023Q4", "2025Q2"])),
            ["2023Q4–2024Q2", "2025Q2", "2025Q4"]
        );
        assert_eq!(quarter_runs(&labels(&[])), Vec::<String>::new());
    }

    #[test]
    fn quarters_in_range() {
        let now = t("2026-02-15T00:00:00Z");
        let q: Vec<_> = quarters_needed(t("2025-07-01T00:00:00Z"), now, ChronoDuration::days(90))
            .into_iter()
            .map(Quarter::label)
            .collect();
        assert_eq!(q, ["2025Q3", "2025Q4"]);
        let all = quarters_needed(t("2020-01-01T00:00:00Z"), now, ChronoDuration::days(90));
        assert_eq!(all.first().unwrap().label(), "2021Q1");
        assert_eq!(all.len(), 20);
        // A quarter entirely inside the API window is not needed.
        let q: Vec<_> = quarters_needed(
            t("2025-07-01T00:00:00Z"),
            t("2026-01-20T00:00:00Z"),
            ChronoDuration::days(90),
        )
        .into_iter()
        .map(Quarter::label)
        .collect();
        assert_eq!(q, ["2025Q3", "2025Q4"]);
        let q = quarters_needed(
            t("2025-10-01T00:00:00Z"),
            t("2026-04-02T00:00:00Z"),
            ChronoDuration::days(90),
        );
        assert_eq!(
            q.into_iter().map(Quarter::label).collect::<Vec<_>>(),
            ["2025Q4", "2026Q1"]
        );
    }
}
