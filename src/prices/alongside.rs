//! The price stage alongside the sync (issue 23): private limits are per UID and public
//! ones per IP, separate budgets that can be spent at the same time, so candles are
//! fetched while the ledgers are still paging instead of after them.
//!
//! The sync keeps a [`Frontier`]: which time ranges hold all their rows already (streams
//! page newest first). Whenever it grows, the rows of the new complete ranges are read
//! from the store (a second, read-only use of the same SQLite file) and their needs given
//! to the [`Stage`], which lays pages only where the plan for the whole history lays them
//! ([`super::layout`]), so it makes no request more than pricing after the sync. The
//! holdings at a year's start are read before the pages around it are laid: exactly once
//! every row before it is stored, foretold from the running balances of the rows after it
//! until then ([`boundaries::year_needs_from_above`]). When the sync has succeeded, the rest (the ranges it completed last, the
//! holdings now) is given as the final needs, and the stage ends as it does after a sync:
//! ECB rates, every row valued once, the store told where its prices live. When the sync
//! fails, the stage stops: what it stored is kept (each page is stored as it arrives),
//! nothing is valued.
//!
//! A sync that stored nothing new does not price the holdings "now" again: they are
//! valued where the last run priced them (its time is the store's `fetched_at`), so an
//! incremental run with nothing new makes no candle request.

use super::boundaries;
use super::cache::{PriceCache, PricePlace};
use super::layout::Complete;
use super::pipeline::{self, PriceOptions, PriceSummary, Staged};
use super::stage::{Needs, Stage};
use crate::okx::OkxClient;
use crate::store::Store;
use crate::sync::frontier::{Frontier, Reach};
use anyhow::{Context, Result, bail};
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The stage running alongside a sync; dropping it stops it.
pub struct Alongside {
    frontier: Arc<Frontier>,
    task: Option<tokio::task::JoinHandle<Result<PriceSummary>>>,
    refresh_now: Arc<std::sync::atomic::AtomicBool>,
}

/// Starts the stage for the sync that keeps `frontier` (its `SyncOptions::frontier`);
/// `client` is a public client for the same host.
pub fn start(
    place: &PricePlace,
    client: Arc<OkxClient>,
    opts: PriceOptions,
    frontier: Arc<Frontier>,
) -> Alongside {
    let refresh_now = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let task = tokio::spawn(run(
        place.clone(),
        client,
        opts,
        frontier.clone(),
        refresh_now.clone(),
    ));
    Alongside {
        frontier,
        task: Some(task),
        refresh_now,
    }
}

impl Alongside {
    /// The sync succeeded (`anything_new`: it stored new records): prices what is left and
    /// returns what the stage did.
    pub async fn finish(mut self, anything_new: bool) -> Result<PriceSummary> {
        self.refresh_now
            .store(anything_new, std::sync::atomic::Ordering::SeqCst);
        self.frontier.finish(true);
        let task = self.task.take().expect("the stage task is there until finished");
        task.await.context("the price stage panicked")?
    }

    /// The sync failed: stops the stage.
    pub fn abort(mut self) {
        self.frontier.finish(false);
        if let Some(t) = self.task.take() {
            t.abort();
        }
    }
}

impl Drop for Alongside {
    fn drop(&mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
        }
    }
}

/// What a read of the store needs besides the ranges.
struct Reader {
    now: DateTime<Utc>,
    zones: Vec<Tz>,
    /// The year starts whose holdings were read already.
    years: BTreeSet<i64>,
    /// The holdings now are still to be read from the balance snapshot (a store priced for
    /// the first time: they are priced in any case).
    now_first: bool,
}

/// Reads the needs of the rows in `ranges`, and of the holdings at the year starts the
/// pages laid over `complete` can reach (on a blocking thread: it reads the store).
async fn read_needs(
    store: Store,
    mut reader: Reader,
    ranges: Vec<(i64, i64)>,
    complete: Complete,
) -> Result<(Store, Reader, Needs)> {
    tokio::task::spawn_blocking(move || {
        let mut read = || -> Result<Needs> {
            let mut needs = pipeline::needs_within(&store, &ranges)?;
            // The holdings at a year start, before the pages around it are laid: exact once
            // every row before it is stored, foretold from the rows after it until then.
            let exact = boundaries::year_needs(
                &store,
                reader.now,
                &reader.zones,
                |m| complete.holds(i64::MIN, m),
                &mut reader.years,
            )?;
            pipeline::merge(&mut needs, exact);
            let foretold = boundaries::year_needs_from_above(
                &store,
                reader.now,
                &reader.zones,
                complete.from_top(),
                &mut reader.years,
            )?;
            pipeline::merge(&mut needs, foretold);
            if std::mem::take(&mut reader.now_first) {
                pipeline::merge(
                    &mut needs,
                    boundaries::now_needs_from_snapshot(&store, reader.now)?,
                );
            }
            Ok(needs)
        };
        let needs = read();
        needs.map(|n| (store, reader, n))
    })
    .await
    .context("reading the rows to price")?
}

/// A read of the store in flight: its task, the ranges it reads up to, when it began.
type Reading = (
    tokio::task::JoinHandle<Result<(Store, Reader, Needs)>>,
    Complete,
    Instant,
);

/// How long to wait after a read of the store before the next one (each reads it all):
/// twice as long as the last one took, at least a fifth of a second.
fn pause_after(took: Duration) -> Duration {
    (took * 2).max(Duration::from_millis(200))
}

async fn run(
    place: PricePlace,
    client: Arc<OkxClient>,
    opts: PriceOptions,
    frontier: Arc<Frontier>,
    refresh_now: Arc<std::sync::atomic::AtomicBool>,
) -> Result<PriceSummary> {
    let started = Instant::now();
    let mut changes = frontier.subscribe();
    // The sync opens (and on a first run creates) the store first.
    while frontier.reach() == Reach::NotStarted {
        changes
            .changed()
            .await
            .context("the sync ended before it started")?;
    }
    let now = pipeline::host_now(&client).await?;
    let first_store = Store::open(&place.data_dir)?;
    let cache_file = place.cache.clone();
    let before = pipeline::last_fetched(&first_store, &place.host, &cache_file)?;
    let mut reader = Some(Reader {
        now,
        zones: boundaries::zones(&first_store, &opts.zones)?,
        years: BTreeSet::new(),
        now_first: before.is_none(),
    });
    let mut store = Some(first_store);
    let mut cache = PriceCache::open(&cache_file)?;
    let stage_client = client.clone();
    let mut stage = Stage::new(client, &mut cache, now.timestamp_millis());
    // The ranges whose needs the stage has.
    let mut fed = Complete::default();
    let mut reading: Option<Reading> = None;
    let mut next_read = Instant::now();
    loop {
        let mut waiting_to_read = false;
        if reading.is_none() {
            match frontier.reach() {
                Reach::Over(false) => bail!("the sync failed"),
                Reach::Over(true) => break,
                Reach::NotStarted => unreachable!("the sync had started"),
                Reach::Running(ranges) => {
                    let complete = Complete::of(ranges);
                    let new = complete.minus(&fed);
                    if !new.is_empty() {
                        if Instant::now() >= next_read || stage.idle() {
                            let s = store.take().expect("the store is back after each read");
                            let r = reader.take().expect("the reader is back after each read");
                            let task = tokio::spawn(read_needs(s, r, new, complete.clone()));
                            reading = Some((task, complete, Instant::now()));
                        } else {
                            waiting_to_read = true;
                        }
                    }
                }
            }
        }
        tokio::select! {
            read = async { (&mut reading.as_mut().expect("guarded").0).await }, if reading.is_some() => {
                let (_, complete, began) = reading.take().expect("guarded");
                let (s, r, needs) = read.context("reading the rows to price")??;
                store = Some(s);
                reader = Some(r);
                next_read = Instant::now() + pause_after(began.elapsed());
                stage.add(needs, complete.clone());
                fed = complete;
            }
            changed = changes.changed() => {
                if changed.is_err() {
                    bail!("the sync went away");
                }
            }
            more = stage.step(), if !stage.idle() => {
                more?;
            }
            () = tokio::time::sleep_until(next_read.into()), if waiting_to_read => {}
        }
    }
    // The sync succeeded: the rest of its rows, and what reports need besides rows.
    let store = store.expect("no read is running");
    let reader = reader.expect("no read is running");
    // Exact now that every bill is stored (a year start read early may have missed a
    // holding whose last bill was not stored yet).
    let mut last = pipeline::needs_within(&store, &Complete::all().minus(&fed))?;
    let years = boundaries::year_needs(&store, now, &reader.zones, |_| true, &mut BTreeSet::new())?;
    pipeline::merge(&mut last, years);
    let valued_now = match before {
        Some(t) if !refresh_now.load(std::sync::atomic::Ordering::SeqCst) => t,
        _ => {
            pipeline::merge(&mut last, boundaries::now_needs(&store, now)?);
            now
        }
    };
    stage.finish(last);
    stage.drain().await?;
    let stats = stage.stats();
    let needs = stage.into_needs();
    let mut ecb_requests = pipeline::fetch_ecb(&mut cache, &needs, &opts).await?;
    let (mut valuer, lacking) = pipeline::value_all(&store, cache, &opts, &place.host, valued_now)?;
    let mut stats = stats;
    if !lacking.is_empty() {
        // Rows whose ranges were read before all their rows were stored: a value is never
        // left out when the host can give it.
        tracing::warn!(
            "prices of {} assets were missed while the sync ran; fetching them",
            lacking.len()
        );
        let mut cache = valuer.into_cache();
        let more = super::stage::run(stage_client, &mut cache, &lacking, now.timestamp_millis()).await?;
        stats.absorb(&more);
        ecb_requests += pipeline::fetch_ecb(&mut cache, &lacking, &opts).await?;
        valuer = pipeline::value_all(&store, cache, &opts, &place.host, valued_now)?.0;
    }
    pipeline::conclude(
        &place,
        &store,
        &valuer,
        &opts,
        Staged {
            stats,
            now: valued_now,
            started,
            ecb_requests,
        },
    )
}
