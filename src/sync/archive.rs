//! The quarterly trading-ledger archive (`account/bills-history-archive`): the only way to
//! a trading ledger older than three months.
//!
//! For every complete quarter in range that the 3-month API window does not fully cover:
//! apply (POST, its own slow limit), poll (GET) politely until `finished`, download the
//! file, detect zip or gzip by magic bytes, parse the CSV and store its rows as trading bills
//! (the API copy of a bill wins when both exist; the key `billId` de-duplicates). Quarter
//! states are kept in the store, so a later run only does what is missing.

use super::archive_file::{ArchiveLimits, read_archive};
use super::quarter::{Quarter, quarters_needed};
use super::stream::{Progress, StreamReport};
use crate::okx::endpoints;
use crate::okx::wire::ArchivePoll;
use crate::okx::{OkxClient, OkxError};
use crate::store::Store;
use anyhow::{Context, Result};
use chrono::{DateTime, Duration as ChronoDuration, Utc};
use serde::Serialize;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The archive's stream name (progress, summary).
pub const ARCHIVE: &str = "bills-history-archive";

#[derive(Debug, Clone, Default, Serialize)]
pub struct ArchiveReport {
    pub quarters_needed: Vec<String>,
    pub quarters_done: Vec<String>,
    pub quarters_pending: Vec<String>,
    /// Given up in this run, each with its state and reason in the store (`failed`: OKX
    /// failed to generate it, the download or the file was refused; `refused`: OKX refused
    /// the application with a code other than rate limiting). The other quarters went on;
    /// the sync fails, naming them.
    pub quarters_failed: Vec<String>,
    /// Not applied for: before the account's first activity.
    pub quarters_skipped: Vec<String>,
    /// Why the quarters above were skipped (the same for all of them), e.g. "before the
    /// account's first activity (oldest stored record 2025-07-01; …)".
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skipped_because: Option<String>,
    pub rows: u64,
    pub new: u64,
    /// Stored bills a file held with other content than before, or twice (see
    /// [`StreamReport::tell_changes`]).
    pub changes: StreamReport,
    /// Normal states of quarters that will be fetched by a later run (OKX is still
    /// generating a file; the application budget is spent for now). Quarters given up are
    /// errors of the sync, not notes.
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
    /// Turns `true` when this run's `asset-bills-history` walk has ended: quarters that may
    /// lie before the account's first activity wait for it (see
    /// [`super::plan::before_first_activity`]). `None`: decide from the store as it is.
    pub funding_done: Option<tokio::sync::watch::Receiver<bool>>,
}

/// Downloads one quarter's file into a private temporary file in the data directory,
/// then streams it into the store in batches and marks the quarter done. Returns what it
/// stored (rows in `fetched`). A crash part-way leaves the quarter not done: the next run downloads it
/// again and the stored rows de-duplicate by `billId`.
async fn fetch_file(
    client: &OkxClient,
    store: &Arc<Mutex<Store>>,
    label: &str,
    href: &str,
    limits: ArchiveLimits,
) -> Result<StreamReport> {
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
            crate::okx::endpoints::ARCHIVE_DOWNLOAD,
            href,
            &mut file,
            limits.max_download,
        )
        .await
        .with_context(|| format!("archive file for {label}"))?;
    let (store, label) = (store.clone(), label.to_string());
    tokio::task::spawn_blocking(move || -> Result<StreamReport> {
        let stream = format!("bills-history-archive/{label}");
        let mut counts = StreamReport::default();
        let rows = read_archive(&mut file, limits.max_expanded, &mut |batch| {
            crate::interrupt::check()?;
            let outcome = store
                .lock()
                .expect("store lock")
                .insert_page(&stream, 0, &batch, None)?;
            counts.stored(&outcome);
            Ok(())
        })
        .with_context(|| format!("archive file for {label}"))?;
        store
            .lock()
            .expect("store lock")
            .mark_quarter_done(&label, rows)?;
        counts.fetched = rows;
        Ok(counts)
    })
    .await
    .context("the archive parser panicked")?
}

fn apply_body(q: Quarter) -> serde_json::Value {
    serde_json::json!({"year": q.year.to_string(), "quarter": format!("Q{}", q.q)})
}

/// How an application ended.
enum Applied {
    Yes,
    /// OKX's application budget is spent for now (rate limited after retries).
    BudgetSpent(String),
    /// This quarter was refused (another code): older ones are still applied for.
    Refused(String),
}

async fn apply_one(client: &OkxClient, store: &Arc<Mutex<Store>>, q: Quarter) -> Result<Applied> {
    let label = q.label();
    match client
        .request(endpoints::BILLS_HISTORY_ARCHIVE_APPLY, &[], Some(&apply_body(q)))
        .await
    {
        Ok(_) => {
            store
                .lock()
                .expect("store lock")
                .set_quarter(&label, "applied", None)?;
            Ok(Applied::Yes)
        }
        Err(e @ (OkxError::Credentials { .. } | OkxError::Clock { .. })) => Err(e.into()),
        Err(e @ OkxError::GaveUp { .. }) => Ok(Applied::BudgetSpent(e.to_string())),
        Err(e) => Ok(Applied::Refused(e.to_string())),
    }
}

/// Why `q` needs no application (before the account's first activity), or `None`. As
/// long as this run's funding walk is under way and no stream has yet stored a record
/// older than `q`'s end, waits for it (until `deadline`); a record stored before the end
/// means an application at once (the streams' first pages usually prove it at once).
async fn skip_reason(
    store: &Arc<Mutex<Store>>,
    q: Quarter,
    funding_done: Option<&tokio::sync::watch::Receiver<bool>>,
    deadline: Instant,
) -> Result<Option<String>> {
    use super::plan::{Activity, before_first_activity};
    let decide = || before_first_activity(&store.lock().expect("store lock"), q);
    let Some(done) = funding_done else {
        return Ok(match decide()? {
            Activity::Skip(why) => Some(why),
            Activity::Apply | Activity::Wait => None,
        });
    };
    let mut done = done.clone();
    let mut finished = *done.borrow();
    let end = q.end().timestamp_millis();
    loop {
        let first = store.lock().expect("store lock").first_activity_ms()?;
        if first.is_some_and(|f| f < end) {
            return Ok(None);
        }
        match decide()? {
            Activity::Skip(why) => return Ok(Some(why)),
            Activity::Apply if finished => return Ok(None),
            Activity::Apply | Activity::Wait => {}
        }
        if Instant::now() >= deadline {
            return Ok(None);
        }
        let nap = tokio::time::sleep(Duration::from_millis(100));
        if finished {
            nap.await;
        } else {
            tokio::select! {
                // An error: the funding task is gone; decide from what it stored.
                changed = done.changed() => finished = changed.is_err() || *done.borrow(),
                () = nap => {}
            }
        }
    }
}

/// Applies for every quarter of `todo` that needs it (newest first) and sends each
/// applied quarter to the polling loop.
#[allow(clippy::too_many_arguments)] // the two loops' shared state, each used once
async fn apply_all(
    client: &OkxClient,
    store: &Arc<Mutex<Store>>,
    todo: &[(Quarter, bool)],
    funding_done: Option<&tokio::sync::watch::Receiver<bool>>,
    deadline: Instant,
    report: &Mutex<ArchiveReport>,
    failures: &Mutex<Vec<anyhow::Error>>,
    blocked: &Mutex<Option<String>>,
    progress: &dyn Progress,
    tx: tokio::sync::mpsc::UnboundedSender<Quarter>,
) -> Result<()> {
    let note = |msg: String| report.lock().expect("report lock").notes.push(msg);
    // Once OKX refuses an application as rate limited (1 per 10 s by [D26], possibly
    // only 12 per day by [D25]), further ones in this run would be refused too: they are
    // left for the next run instead of spending minutes on retries. A refusal of one
    // quarter for another reason does not stop the older ones.
    let mut budget_spent = false;
    for (q, already) in todo {
        let label = q.label();
        if *already {
            let _ = tx.send(*q);
            continue;
        }
        let unreachable = blocked.lock().expect("blocked lock").clone();
        if budget_spent || unreachable.is_some() || Instant::now() >= deadline {
            let why = if budget_spent {
                "not applied yet: OKX refused an earlier application in this run".to_string()
            } else if let Some(why) = unreachable {
                format!("not applied yet: {why}")
            } else {
                "not applied yet: --archive-wait ran out".to_string()
            };
            store
                .lock()
                .expect("store lock")
                .set_quarter(&label, "pending", Some(&why))?;
            continue;
        }
        if let Some(why) = skip_reason(store, *q, funding_done, deadline).await? {
            store.lock().expect("store lock").set_quarter(
                &label,
                super::plan::QUARTER_SKIPPED,
                Some(&why),
            )?;
            let mut r = report.lock().expect("report lock");
            r.skipped_because = Some(why);
            r.quarters_skipped.push(label);
            progress.on_stored_range(ARCHIVE, q.start().timestamp_millis(), q.end().timestamp_millis());
            continue;
        }
        progress.on_state(ARCHIVE, &format!("applying {label}"));
        match apply_one(client, store, *q).await? {
            Applied::Yes => {
                let _ = tx.send(*q);
            }
            Applied::BudgetSpent(e) => {
                let msg =
                    format!("{label}: application refused for now ({e}); it will be retried on the next run");
                store
                    .lock()
                    .expect("store lock")
                    .set_quarter(&label, "pending", Some(&msg))?;
                note(msg);
                budget_spent = true;
            }
            Applied::Refused(e) => {
                give_up(
                    store,
                    report,
                    failures,
                    &label,
                    QUARTER_REFUSED,
                    anyhow::anyhow!("OKX refused the application: {e}"),
                )?;
            }
        }
    }
    Ok(())
}

/// A quarter's state when OKX refused its application for a reason other than its rate
/// limit (that one is `pending`: the application is made again on the next run).
pub const QUARTER_REFUSED: &str = "refused";
/// A quarter's state when OKX failed to generate its file, or its download or file was
/// refused.
pub const QUARTER_FAILED: &str = "failed";

/// Whether `e` must stop the whole sync, not only its quarter: a signal, rejected
/// credentials, a clock OKX refuses, a full disk or a store that cannot be written.
fn stops_everything(e: &anyhow::Error) -> bool {
    crate::store::is_local_fault(e)
        || e.chain().any(|c| {
            c.is::<crate::interrupt::Interrupted>()
                || c.downcast_ref::<OkxError>()
                    .is_some_and(|o| o.is_credentials() || matches!(o, OkxError::Clock { .. }))
        })
}

/// The host of an archive link that could not be reached at all (connection refused or
/// timed out on every try), if that is why `e` failed.
fn unreachable_host(e: &anyhow::Error) -> Option<String> {
    e.chain().find_map(|c| match c.downcast_ref::<OkxError>() {
        Some(OkxError::GaveUp {
            endpoint,
            host,
            network: true,
            ..
        }) if *endpoint == crate::okx::endpoints::ARCHIVE_DOWNLOAD => Some(host.clone()),
        _ => None,
    })
}

/// Gives up `label` for this run: records `state` (`failed` or `refused`) and the reason in
/// the store (coverage shows it, `report` names it and the fix), notes it in the report and
/// keeps the error for the sync's exit code. Older quarters go on.
fn give_up(
    store: &Arc<Mutex<Store>>,
    report: &Mutex<ArchiveReport>,
    failures: &Mutex<Vec<anyhow::Error>>,
    label: &str,
    state: &str,
    err: anyhow::Error,
) -> Result<()> {
    let why = format!("{err:#}").replace('\n', " ");
    store
        .lock()
        .expect("store lock")
        .set_quarter(label, state, Some(&why))?;
    report
        .lock()
        .expect("report lock")
        .quarters_failed
        .push(label.to_string());
    failures.lock().expect("failures lock").push(err.context(format!(
        "archive quarter {label} {state} (the other quarters went on; the next `okx-export sync` applies for it again)"
    )));
    Ok(())
}

/// One applied quarter being polled.
struct Polling {
    q: Quarter,
    next: Instant,
    wait: Duration,
    reapplied: bool,
}

/// Polls each applied quarter from the moment it arrives (fast first poll, then
/// doubling up to `max_poll`), downloads finished files, re-applies once when OKX says
/// `failed` or has forgotten the application (51604), until `deadline`. A quarter that
/// cannot be had (its poll or download fails, its file is refused, OKX fails it twice) is
/// given up alone (see [`give_up`]); the others go on.
#[allow(clippy::too_many_arguments)] // the loop's shared state, each used once
async fn poll_all(
    client: &OkxClient,
    store: &Arc<Mutex<Store>>,
    opts: &ArchiveOptions,
    deadline: Instant,
    report: &Mutex<ArchiveReport>,
    failures: &Mutex<Vec<anyhow::Error>>,
    blocked: &Mutex<Option<String>>,
    progress: &dyn Progress,
    mut rx: tokio::sync::mpsc::UnboundedReceiver<Quarter>,
) -> Result<()> {
    let mut active: Vec<Polling> = Vec::new();
    let mut open = true;
    let add = |active: &mut Vec<Polling>, q: Quarter| {
        active.push(Polling {
            q,
            next: Instant::now() + opts.first_poll,
            wait: opts.first_poll,
            reapplied: false,
        });
    };
    loop {
        while let Ok(q) = rx.try_recv() {
            add(&mut active, q);
        }
        if active.is_empty() {
            if !open {
                break;
            }
            match rx.recv().await {
                Some(q) => add(&mut active, q),
                None => open = false,
            }
            continue;
        }
        let i = (0..active.len())
            .min_by_key(|&i| active[i].next)
            .expect("non-empty");
        let due = active[i].next;
        if due > deadline {
            // Nothing more can finish in time; what is left is fetched on the next run.
            let mut r = report.lock().expect("report lock");
            for p in &active {
                r.notes.push(format!(
                    "{}: OKX is still generating the archive file; run `sync` again later to fetch it",
                    p.q.label()
                ));
            }
            break;
        }
        if open {
            tokio::select! {
                () = tokio::time::sleep_until(due.into()) => {}
                got = rx.recv() => {
                    match got {
                        Some(q) => add(&mut active, q),
                        None => open = false,
                    }
                    continue;
                }
            }
        } else {
            tokio::time::sleep_until(due.into()).await;
        }
        let n = active.len();
        let what = if n == 1 {
            active[0].q.label()
        } else {
            format!("{n} quarters")
        };
        progress.on_state(ARCHIVE, &format!("building {what}"));
        let q = active[i].q;
        let label = q.label();
        let query = [("year", q.year.to_string()), ("quarter", format!("Q{}", q.q))];
        let answer = client
            .get::<ArchivePoll>(endpoints::BILLS_HISTORY_ARCHIVE_POLL, &query)
            .await;
        let poll = match answer {
            Ok(rows) => rows.into_iter().next(),
            Err(OkxError::Api { code, .. }) if code.starts_with("51604") => None,
            Err(e) => {
                let e = anyhow::Error::new(e).context(format!("polling the archive for {label}"));
                if stops_everything(&e) {
                    return Err(e);
                }
                active.swap_remove(i);
                give_up(store, report, failures, &label, QUARTER_FAILED, e)?;
                continue;
            }
        };
        let state = match &poll {
            Some(p) => p.state.as_deref().unwrap_or("ongoing"),
            None => "forgotten",
        };
        match state {
            "finished" => {
                active.swap_remove(i);
                let href = poll.and_then(|p| p.file_href).unwrap_or_default();
                let got = if href.trim().is_empty() {
                    // OKX finishes a quarter without activity with no file: it is empty.
                    store.lock().expect("store lock").mark_quarter_done(&label, 0)?;
                    StreamReport::default()
                } else {
                    progress.on_state(ARCHIVE, &format!("downloading {label}"));
                    match fetch_file(client, store, &label, &href, opts.limits).await {
                        Ok(got) => got,
                        Err(e) if stops_everything(&e) => return Err(e),
                        Err(e) => {
                            let host = unreachable_host(&e);
                            give_up(store, report, failures, &label, QUARTER_FAILED, e)?;
                            if let Some(host) = host {
                                // Every other link points to the same file host: waiting for
                                // each to fail the same way would only delay the error.
                                let why = format!(
                                    "the archive's file host `{host}` could not be reached for {label}; rerun `okx-export sync` once it can be"
                                );
                                *blocked.lock().expect("blocked lock") = Some(why.clone());
                                for p in active.drain(..) {
                                    store.lock().expect("store lock").set_quarter(
                                        &p.q.label(),
                                        "pending",
                                        Some(&format!("not fetched: {why}")),
                                    )?;
                                }
                                // Quarters still being applied for stop at the next one.
                                while let Ok(q) = rx.try_recv() {
                                    store.lock().expect("store lock").set_quarter(
                                        &q.label(),
                                        "pending",
                                        Some(&format!("not fetched: {why}")),
                                    )?;
                                }
                                rx.close();
                                open = false;
                            }
                            continue;
                        }
                    }
                };
                let mut r = report.lock().expect("report lock");
                r.rows += got.fetched;
                r.new += got.new;
                r.changes.absorb(&got);
                r.quarters_done.push(label);
                progress.on_page(ARCHIVE, got.fetched, got.new);
                progress.on_stored_range(ARCHIVE, q.start().timestamp_millis(), q.end().timestamp_millis());
            }
            "failed" | "forgotten" if !active[i].reapplied => {
                active[i].reapplied = true;
                progress.on_state(ARCHIVE, &format!("applying {label} again"));
                match apply_one(client, store, q).await? {
                    Applied::Yes => {
                        active[i].wait = opts.first_poll;
                        active[i].next = Instant::now() + opts.first_poll;
                    }
                    Applied::BudgetSpent(e) => {
                        // Rate limited: a wait, not a failure (as for a first application).
                        active.swap_remove(i);
                        let msg = format!(
                            "{label}: OKX {} the application and refused a new one for now ({e}); it is retried on the next run",
                            if state == "failed" { "failed" } else { "forgot" }
                        );
                        store
                            .lock()
                            .expect("store lock")
                            .set_quarter(&label, "pending", Some(&msg))?;
                        report.lock().expect("report lock").notes.push(msg);
                    }
                    Applied::Refused(e) => {
                        active.swap_remove(i);
                        let err = anyhow::anyhow!(
                            "OKX {} the application and refused a new one: {e}",
                            if state == "failed" { "failed" } else { "forgot" }
                        );
                        give_up(store, report, failures, &label, QUARTER_REFUSED, err)?;
                    }
                }
            }
            "failed" | "forgotten" => {
                active.swap_remove(i);
                let err = anyhow::anyhow!(
                    "OKX {} the archive application twice (state `{state}` after applying again)",
                    if state == "failed" { "failed" } else { "forgot" }
                );
                give_up(store, report, failures, &label, QUARTER_FAILED, err)?;
            }
            _ => {
                let p = &mut active[i];
                p.next = Instant::now() + p.wait;
                p.wait = (p.wait * 2).min(opts.max_poll);
            }
        }
    }
    Ok(())
}

/// What the archive stage did, and each quarter it gave up in this run with the error
/// that names why (the sync fails with them, after every other quarter was tried).
pub struct ArchiveRun {
    pub report: ArchiveReport,
    pub failures: Vec<anyhow::Error>,
}

/// Applies for, waits for, downloads and stores every needed quarter. A quarter that
/// fails is recorded as such and the others go on; only a store error, a signal or a
/// credentials or clock problem fails the whole stage.
pub async fn run_archive(
    client: &OkxClient,
    store: &Arc<Mutex<Store>>,
    now: DateTime<Utc>,
    opts: &ArchiveOptions,
    progress: &dyn Progress,
) -> Result<ArchiveRun> {
    let needed = quarters_needed(opts.since, now, ChronoDuration::days(90));
    let mut report = ArchiveReport {
        quarters_needed: needed.iter().map(|q| q.label()).collect(),
        ..Default::default()
    };
    let mut todo = Vec::new();
    for q in needed {
        let state = store.lock().expect("store lock").quarter(&q.label())?;
        match state {
            Some(s) if s.state == "done" => {
                report.quarters_done.push(q.label());
                progress.on_stored_range(ARCHIVE, q.start().timestamp_millis(), q.end().timestamp_millis());
            }
            Some(s)
                if s.state == "applied"
                    && s.applied_at
                        .is_some_and(|t| Utc::now() - t < ChronoDuration::days(30)) =>
            {
                todo.push((q, true));
            }
            _ => todo.push((q, false)),
        }
    }
    // Newest quarters first: they matter most for this year's taxes.
    todo.reverse();
    let started = Instant::now();
    let deadline = started + opts.max_wait;
    let report = Mutex::new(report);
    let failures = Mutex::new(Vec::new());
    let blocked = Mutex::new(None);
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    // Two loops run together: applications (paced at OKX's 1 per 10 s) hand each applied
    // quarter to the polling loop at once, so the newest file is fetched while older
    // quarters are still being applied for.
    let applying = apply_all(
        client,
        store,
        &todo,
        opts.funding_done.as_ref(),
        deadline,
        &report,
        &failures,
        &blocked,
        progress,
        tx,
    );
    let polling = poll_all(
        client, store, opts, deadline, &report, &failures, &blocked, progress, rx,
    );
    let (applied, polled) = tokio::join!(applying, polling);
    applied?;
    polled?;
    let mut report = report.into_inner().expect("report lock");
    let done: std::collections::BTreeSet<_> = report
        .quarters_done
        .iter()
        .chain(&report.quarters_skipped)
        .chain(&report.quarters_failed)
        .cloned()
        .collect();
    report.quarters_pending = report
        .quarters_needed
        .iter()
        .filter(|q| !done.contains(*q))
        .cloned()
        .collect();
    report.quarters_done.sort();
    report.quarters_failed.sort();
    report.changes.stream = ARCHIVE.into();
    report.changes.tell_changes();
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
    Ok(ArchiveRun {
        report,
        failures: failures.into_inner().expect("failures lock"),
    })
}
