//! The quarterly trading-ledger archive (`account/bills-history-archive`): the only way to
//! a trading ledger older than three months.
//!
//! For every complete quarter in range that the 3-month API window does not fully cover:
//! apply (POST, its own slow limit), poll (GET) politely until `finished`, download the
//! file, detect zip or gzip by magic bytes, parse the CSV and store its rows as trading bills
//! (the API copy of a bill wins when both exist; the key `billId` de-duplicates). Quarter
//! states are kept in the store, so a later run only does what is missing.

use super::archive_file::{ArchiveLimits, read_archive};
use super::stream::{Progress, StreamReport};
use crate::okx::endpoints;
use crate::okx::wire::ArchivePoll;
use crate::okx::{OkxClient, OkxError};
use crate::store::Store;
use anyhow::{Context, Result};
use chrono::{DateTime, Datelike, Duration as ChronoDuration, TimeZone, Utc};
use serde::Serialize;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The archive's stream name (progress, summary).
const ARCHIVE: &str = "bills-history-archive";

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

#[derive(Debug, Clone, Default, Serialize)]
pub struct ArchiveReport {
    pub quarters_needed: Vec<String>,
    pub quarters_done: Vec<String>,
    pub quarters_pending: Vec<String>,
    pub rows: u64,
    pub new: u64,
    pub notes: Vec<String>,
}

/// How patiently to wait for OKX to generate files.
#[derive(Debug, Clone)]
pub struct ArchiveOptions {
    pub since: DateTime<Utc>,
    pub max_wait: Duration,
    pub first_poll: Duration,
    pub max_poll: Duration,
    pub limits: ArchiveLimits,
}

/// Downloads one quarter's file into a private temporary file in the data directory,
/// then streams it into the store in batches and marks the quarter done. Returns (rows,
/// new records). A crash part-way leaves the quarter not done: the next run downloads it
/// again and the stored rows de-duplicate by `billId`.
async fn fetch_file(
    client: &OkxClient,
    store: &Arc<Mutex<Store>>,
    label: &str,
    href: &str,
    limits: ArchiveLimits,
) -> Result<(u64, u64)> {
    let dir = {
        let s = store.lock().expect("store lock");
        s.path()
            .parent()
            .map(std::path::Path::to_path_buf)
            .unwrap_or_default()
    };
    let mut file = tempfile::tempfile_in(&dir)
        .with_context(|| format!("cannot create a temporary file in `{}`", dir.display()))?;
    client
        .download_to(
            crate::okx::client::ARCHIVE_DOWNLOAD,
            href,
            &mut file,
            limits.max_download,
        )
        .await
        .with_context(|| format!("archive file for {label}"))?;
    let (store, label) = (store.clone(), label.to_string());
    tokio::task::spawn_blocking(move || -> Result<(u64, u64)> {
        let stream = format!("bills-history-archive/{label}");
        let mut new = 0;
        let rows = read_archive(&mut file, limits.max_expanded, &mut |batch| {
            crate::interrupt::check()?;
            new += store
                .lock()
                .expect("store lock")
                .insert_page(&stream, 0, &batch, None)?
                .new;
            Ok(())
        })
        .with_context(|| format!("archive file for {label}"))?;
        store
            .lock()
            .expect("store lock")
            .mark_quarter_done(&label, rows)?;
        Ok((rows, new))
    })
    .await
    .context("the archive parser panicked")?
}

/// Applies for, waits for, downloads and stores every needed quarter.
pub async fn run_archive(
    client: &OkxClient,
    store: &Arc<Mutex<Store>>,
    now: DateTime<Utc>,
    opts: &ArchiveOptions,
    progress: &dyn Progress,
) -> Result<ArchiveReport> {
    let needed = quarters_needed(opts.since, now, ChronoDuration::days(90));
    let mut report = ArchiveReport {
        quarters_needed: needed.iter().map(|q| q.label()).collect(),
        ..Default::default()
    };
    let mut todo = Vec::new();
    for q in needed {
        let state = store.lock().expect("store lock").quarter(&q.label())?;
        match state {
            Some(s) if s.state == "done" => report.quarters_done.push(q.label()),
            Some(s)
                if s.state == "applied"
                    && s.applied_at
                        .is_some_and(|t| Utc::now() - t < ChronoDuration::days(30)) =>
            {
                todo.push((q, true))
            }
            _ => todo.push((q, false)),
        }
    }
    // Newest quarters first: they matter most for this year's taxes.
    todo.reverse();
    let started = Instant::now();
    let mut applied = Vec::new();
    // Once OKX refuses an application (its limit is 1 per 10 s by [D26], possibly only 12
    // per day by [D25]), further applications in this run would be refused too: leave the
    // rest for the next run instead of spending minutes on retries.
    let mut refused = false;
    for (q, already) in &todo {
        let label = q.label();
        if refused && !*already {
            store.lock().expect("store lock").set_quarter(
                &label,
                "pending",
                Some("not applied yet: OKX refused an earlier application in this run"),
            )?;
            continue;
        }
        if !*already {
            progress.on_state(ARCHIVE, &format!("applying {label}"));
            let body = serde_json::json!({"year": q.year.to_string(), "quarter": format!("Q{}", q.q)});
            match client
                .request(endpoints::BILLS_HISTORY_ARCHIVE_APPLY, &[], Some(&body))
                .await
            {
                Ok(_) => {
                    store
                        .lock()
                        .expect("store lock")
                        .set_quarter(&label, "applied", None)?;
                }
                Err(e @ OkxError::Credentials { .. }) | Err(e @ OkxError::Clock { .. }) => {
                    return Err(e.into());
                }
                Err(e) => {
                    let msg = format!(
                        "{label}: application refused for now ({e}); it will be retried on the next run"
                    );
                    store
                        .lock()
                        .expect("store lock")
                        .set_quarter(&label, "pending", Some(&msg))?;
                    report.notes.push(msg);
                    refused = true;
                    continue;
                }
            }
        }
        applied.push(*q);
    }

    let mut wait = opts.first_poll;
    let mut pending = applied;
    let mut reapplied = std::collections::BTreeSet::new();
    while !pending.is_empty() {
        let labels: Vec<String> = pending.iter().map(|q| q.label()).collect();
        let what = match labels.len() {
            1 => labels.join(" "),
            n => format!("{n} quarters"),
        };
        progress.on_state(ARCHIVE, &format!("building {what}"));
        let mut still = Vec::new();
        for q in pending {
            let label = q.label();
            let query = [("year", q.year.to_string()), ("quarter", format!("Q{}", q.q))];
            let rows: Vec<ArchivePoll> = client.get(endpoints::BILLS_HISTORY_ARCHIVE_POLL, &query).await?;
            let poll = rows.into_iter().next();
            match poll.as_ref().and_then(|p| p.state.as_deref()) {
                Some("finished") => {
                    let href = poll
                        .and_then(|p| p.file_href)
                        .context("archive finished without a fileHref")?;
                    progress.on_state(ARCHIVE, &format!("downloading {label}"));
                    let (rows, new) = fetch_file(client, store, &label, &href, opts.limits).await?;
                    report.rows += rows;
                    report.new += new;
                    report.quarters_done.push(label.clone());
                    progress.on_page("bills-history-archive", rows, new);
                }
                Some("failed") if !reapplied.contains(&q) => {
                    reapplied.insert(q);
                    let body =
                        serde_json::json!({"year": q.year.to_string(), "quarter": format!("Q{}", q.q)});
                    client
                        .request(endpoints::BILLS_HISTORY_ARCHIVE_APPLY, &[], Some(&body))
                        .await?;
                    store.lock().expect("store lock").set_quarter(
                        &label,
                        "applied",
                        Some("re-applied after OKX reported failed"),
                    )?;
                    still.push(q);
                }
                Some("failed") => {
                    let msg = format!("{label}: OKX failed to generate the archive twice; rerun later");
                    store
                        .lock()
                        .expect("store lock")
                        .set_quarter(&label, "pending", Some(&msg))?;
                    report.notes.push(msg);
                }
                _ => still.push(q),
            }
        }
        pending = still;
        if pending.is_empty() {
            break;
        }
        if started.elapsed() + wait > opts.max_wait {
            for q in &pending {
                report.notes.push(format!(
                    "{}: OKX is still generating the archive file; run `sync` again later to fetch it",
                    q.label()
                ));
            }
            break;
        }
        tokio::time::sleep(wait).await;
        wait = (wait * 2).min(opts.max_poll);
    }
    let done: std::collections::BTreeSet<_> = report.quarters_done.iter().cloned().collect();
    report.quarters_pending = report
        .quarters_needed
        .iter()
        .filter(|q| !done.contains(*q))
        .cloned()
        .collect();
    report.quarters_done.sort();
    progress.on_done(
        "bills-history-archive",
        &StreamReport {
            stream: "bills-history-archive".into(),
            endpoint: endpoints::BILLS_HISTORY_ARCHIVE_POLL.name,
            fetched: report.rows,
            new: report.new,
            ..Default::default()
        },
    );
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
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
