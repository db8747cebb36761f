//! Quarterly trading-bill archives (`account/bills-history-archive`): apply, poll, download.

use super::ArchiveFormat;
use super::model::{ARCHIVE_CSV_COLUMNS, TradingBill};
use chrono::NaiveDate;
use std::collections::HashMap;
use std::io::Write;
use std::sync::Mutex;

/// Archives exist from 2021-02-01 on.
const ARCHIVE_FIRST_MS: i64 = 1_612_137_600_000;

/// A calendar quarter, boundaries in UTC: [start, next start).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct Quarter {
    pub year: i32,
    pub q: u32,
}

impl Quarter {
    /// Parses `year` (`"2025"`) and `quarter` (`"Q3"`, case-insensitive).
    pub(crate) fn parse(year: &str, quarter: &str) -> Option<Quarter> {
        let year: i32 = year.trim().parse().ok()?;
        let q = quarter.trim().to_ascii_uppercase();
        let q: u32 = q.strip_prefix('Q')?.parse().ok()?;
        ((1..=4).contains(&q) && (2000..=2100).contains(&year)).then_some(Quarter { year, q })
    }

    fn month_start_ms(year: i32, month: u32) -> i64 {
        NaiveDate::from_ymd_opt(year, month, 1)
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .map(|d| d.and_utc().timestamp_millis())
            .unwrap_or_default()
    }

    pub(crate) fn start_ms(self) -> i64 {
        Self::month_start_ms(self.year, 3 * (self.q - 1) + 1)
    }

    pub(crate) fn end_ms(self) -> i64 {
        if self.q == 4 {
            Self::month_start_ms(self.year + 1, 1)
        } else {
            Self::month_start_ms(self.year, 3 * self.q + 1)
        }
    }

    /// OKX only archives complete quarters that end after 2021-02-01.
    pub(crate) fn available(self, now_ms: i64) -> bool {
        self.end_ms() > ARCHIVE_FIRST_MS && self.end_ms() <= now_ms
    }
}

#[derive(Debug, Clone)]
struct Job {
    applied_ts: i64,
    /// Polls answered "ongoing" so far.
    polls: u32,
    token: Option<String>,
}

/// What a poll answers.
pub(crate) enum PollState {
    NotApplied,
    Ongoing { applied_ts: i64 },
    Finished { applied_ts: i64, token: String },
}

/// Archive jobs per (account uid, quarter) and the download tokens handed out.
#[derive(Debug, Default)]
pub(crate) struct Archives {
    jobs: Mutex<HashMap<(String, Quarter), Job>>,
    /// Download token → (the applying account's uid, quarter).
    files: Mutex<HashMap<String, (String, Quarter)>>,
    /// `apply 2025Q4`, `download 2025Q4`, … in the order they happened (pipeline tests).
    events: Mutex<Vec<String>>,
}

impl Archives {
    /// POST: `(result, ts)` — `"false"` while generating (always the first time), `"true"`
    /// once the file exists.
    pub(crate) fn apply(&self, key: &str, q: Quarter, now_ms: i64, ready_after: u32) -> (bool, i64) {
        self.event("apply", q);
        let mut jobs = self
            .jobs
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match jobs.get(&(key.to_string(), q)) {
            None => {
                let job = Job {
                    applied_ts: now_ms,
                    polls: 0,
                    token: None,
                };
                jobs.insert((key.to_string(), q), job);
                (false, now_ms)
            }
            Some(job) => (job.polls >= ready_after, job.applied_ts),
        }
    }

    /// GET: the first `ready_after` polls after an apply answer "ongoing", later ones
    /// "finished" with a download token.
    pub(crate) fn poll(&self, key: &str, q: Quarter, ready_after: u32, seed: u64) -> PollState {
        let mut jobs = self
            .jobs
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let Some(job) = jobs.get_mut(&(key.to_string(), q)) else {
            return PollState::NotApplied;
        };
        if job.polls < ready_after {
            job.polls += 1;
            return PollState::Ongoing {
                applied_ts: job.applied_ts,
            };
        }
        let token = if let Some(t) = &job.token {
            t.clone()
        } else {
            let mut files = self
                .files
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let n = files.len() as u64 + 1;
            let mix = (seed ^ n.wrapping_mul(0x9e37_79b9_7f4a_7c15)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            let token = format!("{}Q{}-{:016x}", q.year, q.q, mix);
            files.insert(token.clone(), (key.to_string(), q));
            job.token = Some(token.clone());
            token
        };
        PollState::Finished {
            applied_ts: job.applied_ts,
            token,
        }
    }

    /// The (uid, quarter) a download token stands for.
    pub(crate) fn file(&self, token: &str) -> Option<(String, Quarter)> {
        let q = self
            .files
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(token)
            .cloned();
        if let Some((_, q)) = &q {
            self.event("download", *q);
        }
        q
    }

    fn event(&self, what: &str, q: Quarter) {
        self.events
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(format!("{what} {}Q{}", q.year, q.q));
    }

    pub(crate) fn events(&self) -> Vec<String> {
        self.events
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}

/// The compressed archive of a quarter: CSV, newest billId first, one entry.
pub(crate) fn build_file<'a>(
    bills: impl DoubleEndedIterator<Item = &'a TradingBill>,
    q: Quarter,
    format: ArchiveFormat,
) -> anyhow::Result<Vec<u8>> {
    let (from, to) = (q.start_ms(), q.end_ms());
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(ARCHIVE_CSV_COLUMNS)?;
    for b in bills.rev().filter(|b| b.ts >= from && b.ts < to) {
        w.write_record(b.csv_row())?;
    }
    let csv = w.into_inner().map_err(|e| anyhow::anyhow!("csv: {e}"))?;
    let name = format!("bills-history-archive-{}-Q{}.csv", q.year, q.q);
    match format {
        ArchiveFormat::Zip => {
            let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
            let opts =
                zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
            zip.start_file(name, opts)?;
            zip.write_all(&csv)?;
            Ok(zip.finish()?.into_inner())
        }
        ArchiveFormat::Gzip => {
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            gz.write_all(&csv)?;
            Ok(gz.finish()?)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quarter_bounds() {
        let q = Quarter::parse("2025", "q3").unwrap();
        assert_eq!(q.start_ms(), 1_751_328_000_000);
        assert_eq!(q.end_ms(), 1_759_276_800_000);
        let q4 = Quarter::parse("2025", "Q4").unwrap();
        assert_eq!(q4.end_ms(), 1_767_225_600_000);
        assert!(Quarter::parse("2025", "Q5").is_none());
        assert!(Quarter::parse("x", "Q1").is_none());
        let now = super::super::SIM_NOW_MS;
        assert!(q4.available(now));
        assert!(!Quarter::parse("2026", "Q1").unwrap().available(now));
        assert!(!Quarter::parse("2020", "Q4").unwrap().available(now));
        assert!(Quarter::parse("2021", "Q1").unwrap().available(now));
    }
}
