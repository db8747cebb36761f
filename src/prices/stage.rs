//! The price stage: from the (asset, minute) pairs rows need, fetch the missing bars of
//! each route's instruments from OKX's public candles, each bar at most once ever.
//!
//! Every window is one request of [`PAGE`] bars (`after` = window end, `before` = window
//! start − 1, so it is exactly that window). Windows are laid greedily from the oldest
//! uncovered bar, the fewest pages that cover the points. An instrument not yet known is
//! probed with its first window; when it answers (or OKX says it does not exist, 51001,
//! which the cache remembers) the plan is redone, so a route that falls through to the next
//! candidate fetches only what it needs. Requests run concurrently; the client paces each
//! endpoint at its per-IP limit, so index and spot candles proceed in parallel.

use super::cache::{Bar, PriceCache, is_covered};
use super::rules::{self, Inst, InstKind, PAGE, Route};
use crate::okx::endpoints;
use crate::okx::{OkxClient, OkxError};
use anyhow::{Context, Result};
use rust_decimal::Decimal;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::str::FromStr;
use std::sync::Arc;
use tokio::task::JoinSet;

/// Minute open times (Unix ms) each asset must be priced at.
pub type Needs = BTreeMap<String, BTreeSet<i64>>;

/// What one run of the stage did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StageStats {
    /// Candle pages requested (index + spot).
    pub requests: u64,
    pub index_requests: u64,
    pub spot_requests: u64,
    /// Of those, probes that found an instrument OKX does not have.
    pub absent_probes: u64,
    /// Bars stored.
    pub bars_stored: u64,
    /// The fewest pages that cover the rows with the routes as finally resolved, had the
    /// cache been empty (for the bench; the stage issues these plus absent probes).
    pub fewest_pages: u64,
}

/// Known state of an instrument.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Unknown,
    Probing,
    Present,
    Absent,
}

/// The route `asset` takes given what is known, and the instruments (with the minutes
/// they must price) it needs, added to `out`.
fn add_route(
    asset: &str,
    minutes: &BTreeSet<i64>,
    states: &HashMap<Inst, State>,
    depth: u32,
    out: &mut BTreeMap<Inst, BTreeSet<i64>>,
) {
    if depth > 3 {
        return;
    }
    let absent = |i: &Inst| states.get(i) == Some(&State::Absent);
    for route in rules::candidates(asset) {
        if route.instruments().into_iter().any(absent) {
            continue;
        }
        for i in route.instruments() {
            out.entry(i.clone()).or_default().extend(minutes.iter().copied());
        }
        if let Route::Pair { quote, .. } = &route {
            add_route(quote, minutes, states, depth + 1, out);
        }
        return;
    }
}

/// Windows in flight: (instrument, bar) → start → end.
type Inflight = HashMap<(Inst, &'static str), BTreeMap<i64, i64>>;

/// One request to make.
#[derive(Debug, Clone)]
struct Job {
    inst: Inst,
    bar: &'static str,
    step: i64,
    start: i64,
    /// The newest bar in the window a row needs.
    last_needed: i64,
    probe: bool,
}

/// The answer of one job.
struct Done {
    job: Job,
    result: Result<Vec<Vec<String>>, OkxError>,
}

/// Runs the stage for `needs`, storing into `cache`.
pub async fn run(client: Arc<OkxClient>, cache: &mut PriceCache, needs: &Needs) -> Result<StageStats> {
    let mut states: HashMap<Inst, State> = HashMap::new();
    // Windows on their way, by start (all of one bar have the same length, so the nearest
    // start at or before a time is the only one that can hold it).
    let mut inflight: Inflight = HashMap::new();
    let mut stats = StageStats::default();
    let mut set: JoinSet<Done> = JoinSet::new();
    let mut replan = true;
    loop {
        if replan {
            replan = false;
            // Routes are chosen with what is known of their instruments; an instrument seen
            // for the first time takes its state from the cache, and when the cache knows it
            // is absent the routes are chosen again (else the assets routed through it would
            // be planned on an instrument that is never fetched, and stay unpriced).
            let wanted = loop {
                let mut wanted = BTreeMap::new();
                for (asset, minutes) in needs {
                    add_route(asset, minutes, &states, 0, &mut wanted);
                }
                let mut absent_found = false;
                for inst in wanted.keys() {
                    if !states.contains_key(inst) {
                        let s = if cache.is_absent(inst)? {
                            absent_found = true;
                            State::Absent
                        } else if cache.is_known(inst)? {
                            State::Present
                        } else {
                            State::Unknown
                        };
                        states.insert(inst.clone(), s);
                    }
                }
                if !absent_found {
                    break wanted;
                }
            };
            // While some route is still being resolved, only probes go out: the pages of
            // the others are laid once every route (and so every instrument's set of
            // minutes) is known, so no page is planned twice over shifting needs.
            let resolving = wanted
                .keys()
                .any(|i| matches!(states.get(i), Some(State::Unknown | State::Probing)));
            for (inst, minutes) in wanted {
                let state = states.get(&inst).copied().unwrap_or(State::Unknown);
                if matches!(state, State::Absent | State::Probing) || (resolving && state == State::Present) {
                    continue;
                }
                let mut todo = Vec::new();
                for m in minutes {
                    if !satisfied(cache, &inflight, &inst, m)? {
                        todo.push(m);
                    }
                }
                let probe = state == State::Unknown;
                for w in rules::plan(&todo) {
                    inflight
                        .entry((inst.clone(), w.bar))
                        .or_default()
                        .insert(w.start, w.start + PAGE * w.step);
                    let job = Job {
                        inst: inst.clone(),
                        bar: w.bar,
                        step: w.step,
                        start: w.start,
                        last_needed: w.last_needed,
                        probe,
                    };
                    let client = client.clone();
                    set.spawn(async move {
                        let result = fetch(&client, &job).await;
                        Done { job, result }
                    });
                    if probe {
                        states.insert(inst.clone(), State::Probing);
                        break;
                    }
                }
            }
        }
        let Some(done) = set.join_next().await else { break };
        let Done { job, result } = done.context("a price request task failed")?;
        stats.requests += 1;
        match job.inst.kind {
            InstKind::Index => stats.index_requests += 1,
            InstKind::Spot => stats.spot_requests += 1,
        }
        if let Some(v) = inflight.get_mut(&(job.inst.clone(), job.bar)) {
            v.remove(&job.start);
        }
        match result {
            Err(OkxError::Api { code, .. }) if code == "51001" => {
                stats.absent_probes += 1;
                cache.mark_absent(&job.inst, chrono::Utc::now().timestamp_millis())?;
                states.insert(job.inst.clone(), State::Absent);
                replan = true;
            }
            Err(e) => {
                return Err(anyhow::Error::new(e).context(format!("fetching {} {} bars", job.inst, job.bar)));
            }
            Ok(rows) => {
                let (bars, range) = page_bars(&job, &rows)?;
                stats.bars_stored += bars.len() as u64;
                cache.store_page(&job.inst, job.bar, &bars, range)?;
                if job.probe {
                    states.insert(job.inst.clone(), State::Present);
                    replan = true;
                }
            }
        }
    }
    stats.fewest_pages = fewest_pages(needs, &states);
    Ok(stats)
}

/// Whether minute `m` of `inst` is already priced: its 1-minute bar or its 1-hour bar is
/// stored or on its way.
fn satisfied(cache: &mut PriceCache, inflight: &Inflight, inst: &Inst, m: i64) -> Result<bool> {
    for (bar, step) in [rules::BAR_1M, rules::BAR_1H] {
        let t = rules::bar_open(m, step);
        let flying = inflight
            .get(&(inst.clone(), bar))
            .and_then(|w| w.range(..=t).next_back())
            .is_some_and(|(_, end)| t < *end);
        if flying || is_covered(cache.covered(inst, bar)?, t) {
            return Ok(true);
        }
    }
    Ok(false)
}

/// The greedy page count for `needs` with the routes `states` resolve to, from nothing.
fn fewest_pages(needs: &Needs, states: &HashMap<Inst, State>) -> u64 {
    let mut wanted = BTreeMap::new();
    for (asset, minutes) in needs {
        add_route(asset, minutes, states, 0, &mut wanted);
    }
    wanted
        .into_values()
        .map(|m| rules::plan(&m.into_iter().collect::<Vec<_>>()).len() as u64)
        .sum()
}

async fn fetch(client: &OkxClient, job: &Job) -> Result<Vec<Vec<String>>, OkxError> {
    let ep = match job.inst.kind {
        InstKind::Index => endpoints::INDEX_CANDLES,
        InstKind::Spot => endpoints::CANDLES,
    };
    let query = [
        ("instId", job.inst.id.clone()),
        ("bar", job.bar.to_string()),
        ("after", (job.start + PAGE * job.step).to_string()),
        ("before", (job.start - 1).to_string()),
        ("limit", PAGE.to_string()),
    ];
    client.get::<Vec<String>>(ep, &query).await
}

/// The confirmed bars of one answer and the range of open times it settles: up to the
/// newer of the last bar a row needs and the newest bar returned, never past an
/// unconfirmed bar (it is fetched again once it is final).
fn page_bars(job: &Job, rows: &[Vec<String>]) -> Result<(Vec<Bar>, (i64, i64))> {
    let end = job.start + PAGE * job.step;
    let mut bars = Vec::with_capacity(rows.len());
    let mut unconfirmed = i64::MAX;
    for r in rows {
        let bad = || {
            format!(
                "{} {} candle {r:?} is not [ts, o, h, l, c, …, confirm]",
                job.inst, job.bar
            )
        };
        let (Some(ts), Some(o), Some(c), Some(confirm)) = (r.first(), r.get(1), r.get(4), r.last()) else {
            anyhow::bail!(bad());
        };
        let ts: i64 = ts.parse().with_context(bad)?;
        if ts < job.start || ts >= end {
            continue; // outside the window asked for: not ours to store
        }
        if confirm == "0" {
            unconfirmed = unconfirmed.min(ts);
            continue;
        }
        let open = Decimal::from_str(o).with_context(bad)?;
        let close = Decimal::from_str(c).with_context(bad)?;
        bars.push(Bar { ts, open, close });
    }
    let newest = bars.iter().map(|b| b.ts).max().unwrap_or(job.start);
    let to = (job.last_needed.max(newest) + job.step).min(end).min(unconfirmed);
    Ok((bars, (job.start, to)))
}
