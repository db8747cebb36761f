//! `sync`: fetch everything a read-only key can see into the store, every stream
//! concurrently, each paced by its own endpoint limiter.

pub mod archive;
pub mod archive_file;
pub mod bill_types;
mod catalog;
pub mod dcd;
pub mod frontier;
pub mod money;
pub mod plan;
pub mod quarter;
pub mod refetch;
mod snapshot;
pub mod stop;
pub mod stream;
pub mod subaccounts;
mod summary;

use crate::okx::endpoints::{self};
use crate::okx::{OkxClient, OkxError};
use crate::store::Store;
use anyhow::{Context, Result};
use archive::ArchiveOptions;
pub use catalog::{deposit_not_final, streams, withdrawal_not_final};
use chrono::{DateTime, Utc};
use snapshot::{
    OptionalFailure, clone_okx, fetch_instruments, optional_name, snapshot_balances, tell_optional,
};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use stream::{Progress, StreamReport};
use summary::millis;
pub use summary::{EndpointSummary, SyncSummary, Totals, peak_rss_bytes};

/// What to sync.
#[derive(Debug, Clone)]
pub struct SyncOptions {
    /// How far back to go. The first run's (default: the archive's start, 2021-02-01)
    /// becomes the store's floor; a later, earlier one lowers it and backfills every stream;
    /// without it, the floor stays.
    pub since: Option<DateTime<Utc>>,
    pub archive: bool,
    pub archive_max_wait: Duration,
    pub archive_first_poll: Duration,
    pub archive_limits: archive_file::ArchiveLimits,
    /// The key is a master's (`account/config`): also read its sub-accounts, their
    /// balances and the master↔sub transfer history ([`subaccounts`]).
    pub master: bool,
    /// Kept up to date with how far the history is fetched, for a price stage that runs
    /// alongside (issue 23).
    pub frontier: Option<Arc<frontier::Frontier>>,
}

impl Default for SyncOptions {
    fn default() -> Self {
        SyncOptions {
            since: None,
            archive: true,
            archive_max_wait: Duration::from_secs(600),
            archive_first_poll: Duration::from_secs(2),
            archive_limits: archive_file::ArchiveLimits::default(),
            master: false,
            frontier: None,
        }
    }
}

/// Runs a full (or incremental) sync. The caller holds the store lock. A fatal local error
/// (a full disk, a read-only or damaged store) stops every stream at once and is returned
/// naming the store and the fix.
pub async fn sync(
    client: Arc<OkxClient>,
    store: Arc<Mutex<Store>>,
    opts: &SyncOptions,
    progress: Arc<dyn Progress>,
) -> Result<SyncSummary> {
    let path = store.lock().expect("store lock").path().to_path_buf();
    let stop = Arc::new(stop::Stop::default());
    match sync_until_stopped(client, store, opts, progress, &stop).await {
        Err(e) if crate::store::is_local_fault(&e) => Err(crate::store::name_local_fault(e, &path)),
        r => r,
    }
}

async fn sync_until_stopped(
    client: Arc<OkxClient>,
    store: Arc<Mutex<Store>>,
    opts: &SyncOptions,
    progress: Arc<dyn Progress>,
    stop: &Arc<stop::Stop>,
) -> Result<SyncSummary> {
    let started_at = Utc::now();
    let t0 = Instant::now();
    let frontier = opts.frontier.clone();
    let progress = match &frontier {
        Some(f) => f.tracking(progress),
        None => progress,
    };
    let server_time = client.server_time().await?;
    let since = {
        let mut s = store.lock().expect("store lock");
        let floor = resolve_floor(s.floor()?, opts.since);
        s.set_floor(floor)?;
        floor
    };

    let mut errors: Vec<anyhow::Error> = Vec::new();
    let mut warnings = Vec::new();
    let mut notes = Vec::new();
    let mut optional_ok: Vec<&str> = Vec::new();
    let mut optional_failed = Vec::new();
    let balances = match snapshot_balances(&client, &store, server_time).await {
        Ok((n, earn)) => {
            match earn {
                Ok(()) => optional_ok.push(endpoints::SAVINGS_BALANCE.name),
                Err(f) => optional_failed.push(f),
            }
            n
        }
        Err(e) if crate::store::is_local_fault(&e) => return Err(e.context("balance snapshot")),
        Err(e) => {
            errors.push(e.context("balance snapshot"));
            0
        }
    };

    let planner = {
        let s = store.lock().expect("store lock");
        plan::Planner::new(&s, since, server_time, opts.archive)?
    };
    let (funding_tx, funding_rx) = tokio::sync::watch::channel(false);
    let mut funding_tx = Some(funding_tx);
    let mut plans = BTreeMap::new();
    let mut reports = Vec::new();
    let mut tasks = tokio::task::JoinSet::new();
    let mut specs = streams();
    let sub_list = opts.master.then(|| {
        specs.push(subaccounts::transfer_stream());
        let (client, store) = (client.clone(), store.clone());
        AbortOnDrop(tokio::spawn(async move {
            subaccounts::fetch_list(&client, &store, server_time).await
        }))
    });
    for spec in specs {
        let (spec, p) = planner.spec(spec);
        plans.insert(spec.name.clone(), p.clone());
        if p.skip {
            // Its stored range already meets the recent stream's: nothing to fetch.
            reports.push(StreamReport {
                stream: spec.name.clone(),
                endpoint: spec.endpoint.name,
                ..Default::default()
            });
            continue;
        }
        if let Some(f) = &frontier {
            frontier::expect_stream(f, &spec, &p, planner.boundary.is_some());
        }
        let (client, store, progress, stop) = (client.clone(), store.clone(), progress.clone(), stop.clone());
        // The archive waits for the funding walk before skipping a quarter as older than
        // the account's first activity.
        let done_tx = (spec.name == "asset-bills-history")
            .then(|| funding_tx.take())
            .flatten();
        tasks.spawn(async move {
            let r = stream::run_stream_upto(
                &client,
                &store,
                &spec,
                Some(p.floor),
                server_time,
                p.upto,
                progress.as_ref(),
            )
            .await
            .with_context(|| format!("stream `{}`", spec.name));
            let r = stop.pass(r);
            if let Some(tx) = done_tx {
                let _ = tx.send(true);
            }
            (spec.name.clone(), r)
        });
    }
    if opts.archive {
        progress.on_state("bills-history-archive", "starting");
        if let Some(f) = &frontier {
            frontier::expect_archive(f, since, server_time);
        }
    }
    let archive_task = opts.archive.then(|| {
        let (client, store, progress, stop) = (client.clone(), store.clone(), progress.clone(), stop.clone());
        let aopts = ArchiveOptions {
            since,
            max_wait: opts.archive_max_wait,
            first_poll: opts.archive_first_poll,
            max_poll: Duration::from_secs(60),
            limits: opts.archive_limits,
            funding_done: Some(funding_rx),
        };
        AbortOnDrop(tokio::spawn(async move {
            stop.pass(archive::run_archive(&client, &store, server_time, &aopts, progress.as_ref()).await)
        }))
    });
    let instruments = {
        let (client, store, stop) = (client.clone(), store.clone(), stop.clone());
        AbortOnDrop(tokio::spawn(async move {
            stop.pass(fetch_instruments(&client, &store).await)
        }))
    };
    let dcd_task = {
        let (client, store, stop, frontier) = (client.clone(), store.clone(), stop.clone(), frontier.clone());
        if let Some(f) = &frontier {
            f.expect(dcd::STREAM, i64::MIN, i64::MAX);
            f.start();
        }
        AbortOnDrop(tokio::spawn(async move {
            let r = dcd::fetch(&client, &store).await;
            // Failed or not, the orders this run has are all it will have.
            if let Some(f) = frontier {
                f.done(dcd::STREAM);
            }
            stop.pass(r)
        }))
    };

    // Every wait below ends at once when a task stops the sync (a full disk): returning
    // drops the tasks, which aborts them.
    while let Some(joined) = stop.until(tasks.join_next()).await? {
        let (name, result) = joined.context("a sync task panicked")?;
        let optional = endpoints::OPTIONAL_INST_TYPES
            .iter()
            .any(|t| name == format!("fills-history/{t}"));
        match result {
            Ok(r) => {
                if optional {
                    optional_ok.push(optional_name(&name));
                }
                reports.push(r);
            }
            Err(e) if optional && !e.downcast_ref::<OkxError>().is_some_and(OkxError::is_credentials) => {
                optional_failed.push(OptionalFailure {
                    what: optional_name(&name),
                    message: format!(
                        "`{name}` unavailable (fills of a product this site may not offer): {e:#}"
                    ),
                    error: e
                        .chain()
                        .find_map(|c| c.downcast_ref::<OkxError>())
                        .map(clone_okx),
                });
            }
            Err(e) => errors.push(e),
        }
    }
    // Dual Investment is optional, like Simple Earn (see `dcd`).
    let mut dcd_task = dcd_task;
    match (&mut dcd_task.0)
        .await
        .context("the dual-investment task panicked")?
    {
        Ok(r) => {
            optional_ok.push(dcd::STREAM);
            reports.push(r);
        }
        Err(e) if e.downcast_ref::<OkxError>().is_some_and(OkxError::is_credentials) => {
            errors.push(e.context(dcd::STREAM));
        }
        Err(e) => {
            let message = format!(
                "Dual Investment order history unavailable, structured-product collections are booked without their orders: {e:#}"
            );
            let error = e.downcast::<OkxError>().ok();
            optional_failed.push(OptionalFailure {
                what: dcd::STREAM,
                message,
                error,
            });
        }
    }

    reports.sort_by(|a, b| a.stream.cmp(&b.stream));
    let archive = match archive_task {
        Some(mut t) => match stop.until(&mut t.0).await?.context("the archive task panicked")? {
            Ok(run) => {
                // Each quarter given up fails the sync (after every other was fetched).
                errors.extend(
                    run.failures
                        .into_iter()
                        .map(|e| e.context("bills-history-archive")),
                );
                Some(run.report)
            }
            Err(e) => {
                errors.push(e.context("bills-history-archive"));
                None
            }
        },
        None => None,
    };
    if let Some(b) = planner.boundary
        && reports.iter().any(|r| r.stream == plan::BILLS_ARCHIVE)
        && !plan::file_stored(&store.lock().expect("store lock"), b.quarter)?
    {
        // The file could not be had within --archive-wait: page the rest of the window.
        let (spec, p) = planner.spec(
            streams()
                .into_iter()
                .find(|s| s.name == plan::BILLS_ARCHIVE)
                .expect("bills-archive is a stream"),
        );
        let more = stream::run_stream_upto(
            &client,
            &store,
            &spec,
            Some(since),
            server_time,
            p.upto,
            progress.as_ref(),
        )
        .await;
        let more = match more {
            Err(e) if crate::store::is_local_fault(&e) => return Err(e),
            more => more,
        };
        match more {
            Ok(more) => {
                if let Some(r) = reports.iter_mut().find(|r| r.stream == plan::BILLS_ARCHIVE) {
                    r.absorb(&more);
                }
            }
            Err(e) => errors.push(e.context(format!("stream `{}`", plan::BILLS_ARCHIVE))),
        }
    }
    for r in &reports {
        if let Some(p) = plans.get(&r.stream) {
            planner.note(&mut store.lock().expect("store lock"), &r.stream, p)?;
        }
    }
    // OKX's names of the trading codes stored, for the report's unclassified rows.
    let bill_types = match stop
        .until(bill_types::refresh(&client, &store, server_time))
        .await?
    {
        Ok(n) => {
            optional_ok.push(bill_types::NAME);
            n
        }
        Err(e) if crate::store::is_local_fault(&e) => return Err(e.context("bill-type dictionary")),
        Err(e) if e.downcast_ref::<OkxError>().is_some_and(OkxError::is_credentials) => {
            errors.push(e.context(bill_types::NAME));
            None
        }
        Err(e) => {
            let message = format!(
                "OKX's bill-type dictionary (`account/subtypes`) unavailable, unclassified codes are reported without OKX's names for them: {e:#}"
            );
            optional_failed.push(OptionalFailure {
                what: bill_types::NAME,
                message,
                error: e.downcast::<OkxError>().ok(),
            });
            None
        }
    };
    tell_optional(&store, &optional_ok, optional_failed, &mut warnings, &mut notes)?;
    let sub_accounts = match sub_list {
        Some(mut t) => match (&mut t.0).await.context("the sub-account list task panicked")? {
            Ok(n) => Some(n),
            Err(e) => {
                errors.push(e.context("sub-account list"));
                None
            }
        },
        None => None,
    };
    let mut instruments = instruments;
    let instruments = match stop
        .until(&mut instruments.0)
        .await?
        .context("the instruments task panicked")?
    {
        Ok(n) => n,
        Err(e) => {
            errors.push(e.context("instruments"));
            0
        }
    };

    let stats = client.stats();
    let endpoints: BTreeMap<String, EndpointSummary> = stats
        .iter()
        .map(|(k, v)| (k.to_string(), EndpointSummary::from(v)))
        .collect();
    let mut totals = Totals::default();
    for s in stats.values() {
        totals.requests += s.requests;
        totals.retries += s.retries;
        totals.rate_limited += s.rate_limited;
    }
    for r in &reports {
        totals.new_records += r.new;
        totals.fetched_records += r.fetched;
    }
    if let Some(a) = &archive {
        totals.new_records += a.new;
        totals.fetched_records += a.rows;
    }
    let store_counts = {
        let s = store.lock().expect("store lock");
        s.kind_stats()?
            .into_iter()
            .map(|k| (k.kind.to_string(), k.count))
            .collect()
    };
    let summary = SyncSummary {
        started_at,
        finished_at: Utc::now(),
        elapsed_seconds: millis(t0.elapsed().as_secs_f64()),
        server_time,
        streams: reports,
        archive,
        instruments,
        balances,
        bill_types,
        sub_accounts,
        endpoints,
        totals,
        store_counts,
        peak_rss_bytes: peak_rss_bytes(),
        errors: errors.iter().map(|e| format!("{e:#}")).collect(),
        warnings,
        notes,
    };
    if let Some(first) = pick_error(errors) {
        return Err(SyncFailed {
            summary: Box::new(summary),
            source: first,
        }
        .into());
    }
    Ok(summary)
}

/// A spawned task that is aborted when the sync future is dropped (Ctrl-C), like the
/// streams in the `JoinSet`, so nothing keeps fetching after the store lock is released.
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The floor of this run: the stored one, lowered by an earlier `--since`; the first run's
/// `--since` or the archive's start when none is stored. A `--since` later than the stored
/// floor does not raise it: the store already reaches further back.
pub fn resolve_floor(stored: Option<DateTime<Utc>>, since: Option<DateTime<Utc>>) -> DateTime<Utc> {
    match (stored, since) {
        (Some(f), Some(s)) => f.min(s),
        (Some(f), None) => f,
        (None, Some(s)) => s,
        (None, None) => quarter::archive_start(),
    }
}

/// Credential errors first: they explain every other failure.
fn pick_error(mut errors: Vec<anyhow::Error>) -> Option<anyhow::Error> {
    let cred = errors
        .iter()
        .position(|e| e.downcast_ref::<OkxError>().is_some_and(OkxError::is_credentials));
    match cred {
        Some(i) => Some(errors.swap_remove(i)),
        None => errors.into_iter().next(),
    }
}

/// A sync that failed part-way, with what it did manage.
#[derive(Debug, thiserror::Error)]
#[error("sync incomplete")]
pub struct SyncFailed {
    pub summary: Box<SyncSummary>,
    #[source]
    pub source: anyhow::Error,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 8 item 8: frozen (12) and KYC-limited (14) deposits are re-read until final.
    #[test]
    fn which_deposits_are_final() {
        let st = |s: &str| serde_json::json!({ "state": s });
        for s in ["0", "1", "8", "12", "13", "14", "17"] {
            assert!(deposit_not_final(&st(s)), "state {s}");
        }
        for s in ["2", "11"] {
            assert!(!deposit_not_final(&st(s)), "state {s}");
        }
        assert!(deposit_not_final(&serde_json::json!({})));
        assert!(!withdrawal_not_final(&st("-2")));
        assert!(withdrawal_not_final(&st("4")));
    }

    /// Issue 8 item 3: the first run without `--since` starts at 2021-02-01 (OKX's oldest
    /// history); a stored floor is kept, lowered by an earlier `--since`, never raised.
    #[test]
    fn floor_defaults_to_2021_02_01_and_is_remembered() {
        let day = |y, m, d| chrono::TimeZone::with_ymd_and_hms(&Utc, y, m, d, 0, 0, 0).unwrap();
        assert_eq!(resolve_floor(None, None), day(2021, 2, 1));
        assert_eq!(
            resolve_floor(None, None).to_rfc3339(),
            "2021-02-01T00:00:00+00:00"
        );
        assert_eq!(resolve_floor(None, Some(day(2025, 7, 1))), day(2025, 7, 1));
        assert_eq!(resolve_floor(Some(day(2025, 7, 1)), None), day(2025, 7, 1));
        assert_eq!(
            resolve_floor(Some(day(2025, 7, 1)), Some(day(2024, 1, 1))),
            day(2024, 1, 1)
        );
        assert_eq!(
            resolve_floor(Some(day(2025, 7, 1)), Some(day(2025, 9, 1))),
            day(2025, 7, 1)
        );
    }
}
