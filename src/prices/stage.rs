//! The price stage: from the (asset, minute) pairs rows need, fetch the missing bars of
//! each route's instruments from OKX's public candles, each bar at most once ever.
//!
//! Every window is one request of [`PAGE`] bars (`after` = window end, `before` = window
//! start − 1, so it is exactly that window). Windows are laid greedily from the oldest
//! uncovered bar, the fewest pages that cover the points ([`rules::plan`]). An instrument
//! not yet known is probed with its first window; when it answers (or OKX says it does not
//! exist, 51001, which the cache remembers) the plan is redone, so a route that falls
//! through to the next candidate fetches only what it needs. Requests run concurrently;
//! the client paces each endpoint at its per-IP limit, so index and spot candles proceed
//! in parallel.
//!
//! A value comes from the row's own minute bar, or from a coarser bar holding it whose
//! high and low are within [`rules::MAX_BAR_RANGE`] of each other (issue 19). So when an
//! hour page answers, the minutes of its wide hours are fetched as 15-minute pages (25
//! hours each), and when those answer, the minutes of their wide quarters as minute pages;
//! minutes of an hour that has not closed yet (at the host's `now`) are fetched as minute
//! pages at once. A bar still forming when it is fetched is not stored: the cache records
//! where the forming bars start, and the minutes from there on are *pending* until a later
//! run.

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
    /// Of those, 15-minute and 1-minute pages for minutes a coarser bar could not value:
    /// its high and low too far apart, or the hour not closed yet.
    pub finer_pages: u64,
    /// Bars stored.
    pub bars_stored: u64,
    /// The fewest pages that cover the rows with the routes as finally resolved, had the
    /// cache been empty and every hour been narrow (for the bench; the stage issues these,
    /// the minute pages of wide hours and the absent probes).
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

/// What one needed minute of an instrument still needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Need {
    /// Priced, on its way, or pending (its minute was still forming when asked this run).
    Nothing,
    /// Any page holding it: the plan chooses hour or minute bars.
    Page,
    /// Its 15-minute bar: its hour is too wide.
    Quarter,
    /// Its minute bar: its quarter is too wide, or its hour has not closed.
    Minute,
}

/// What the stage knows while it runs, besides the cache.
struct Known {
    now_ms: i64,
    inflight: Inflight,
    /// Per (instrument, bar), the oldest bar an answer of this run said was still forming.
    forming: HashMap<(Inst, &'static str), i64>,
    /// Per (instrument, bar), the stored bars: whether each may value its minutes.
    tight: HashMap<(Inst, &'static str), HashMap<i64, bool>>,
}

impl Known {
    fn flying(&self, inst: &Inst, bar: &'static str, t: i64) -> bool {
        self.inflight
            .get(&(inst.clone(), bar))
            .and_then(|w| w.range(..=t).next_back())
            .is_some_and(|(_, end)| t < *end)
    }

    fn forming(&self, inst: &Inst, bar: &'static str, t: i64) -> bool {
        self.forming.get(&(inst.clone(), bar)).is_some_and(|f| t >= *f)
    }

    /// Whether the stored bar of `bar` opening at `t` may value its minutes (`true` without
    /// a bar: OKX has none there, so it has no finer bars either).
    fn tight(&mut self, cache: &PriceCache, inst: &Inst, bar: &'static str, t: i64) -> Result<bool> {
        let key = (inst.clone(), bar);
        if let Some(v) = self.tight.get(&key).and_then(|m| m.get(&t)) {
            return Ok(*v);
        }
        let v = cache
            .bar(inst, bar, t)?
            .is_none_or(|b| rules::bar_is_tight(b.range()));
        self.tight.entry(key).or_default().insert(t, v);
        Ok(v)
    }

    /// Remembers the bars of an answer: whether each may value its minutes.
    fn learn(&mut self, inst: &Inst, bar: &'static str, bars: &[Bar]) {
        let tight = self.tight.entry((inst.clone(), bar)).or_default();
        for b in bars {
            tight.insert(b.ts, rules::bar_is_tight(b.range()));
        }
    }

    /// What minute `m` of `inst` still needs: its minute bar stored (or coming), else a
    /// narrow quarter, else a narrow hour (see the module docs).
    fn need(&mut self, cache: &mut PriceCache, inst: &Inst, m: i64) -> Result<Need> {
        let (m_bar, q_bar, h_bar) = (rules::BAR_1M.0, rules::BAR_15M.0, rules::BAR_1H.0);
        if is_covered(cache.covered(inst, m_bar)?, m)
            || self.flying(inst, m_bar, m)
            || self.forming(inst, m_bar, m)
        {
            return Ok(Need::Nothing);
        }
        let q = rules::bar_open(m, rules::BAR_15M.1);
        if self.flying(inst, q_bar, q) {
            return Ok(Need::Nothing); // its answer lays the minute pages it needs
        }
        if self.forming(inst, q_bar, q) {
            return Ok(Need::Minute);
        }
        if is_covered(cache.covered(inst, q_bar)?, q) {
            return Ok(if self.tight(cache, inst, q_bar, q)? {
                Need::Nothing
            } else {
                Need::Minute
            });
        }
        let h = rules::bar_open(m, rules::BAR_1H.1);
        if self.flying(inst, h_bar, h) {
            return Ok(Need::Nothing); // its answer lays the finer pages it needs
        }
        if h + rules::BAR_1H.1 > self.now_ms || self.forming(inst, h_bar, h) {
            return Ok(Need::Minute);
        }
        if is_covered(cache.covered(inst, h_bar)?, h) {
            return Ok(if self.tight(cache, inst, h_bar, h)? {
                Need::Nothing
            } else {
                Need::Quarter
            });
        }
        Ok(Need::Page)
    }

    /// The pages for minutes `ms` of `inst` that need something, by what they need:
    /// `plan` for the rest, 15-minute and minute pages for those finer bars must value.
    /// Also returns how many of them are finer pages.
    fn pages(
        &mut self,
        cache: &mut PriceCache,
        inst: &Inst,
        ms: impl Iterator<Item = i64>,
    ) -> Result<(Vec<rules::Window>, u64)> {
        let (mut page, mut quarter, mut minute) = (Vec::new(), Vec::new(), Vec::new());
        for m in ms {
            match self.need(cache, inst, m)? {
                Need::Nothing => {}
                Need::Page => page.push(m),
                Need::Quarter => quarter.push(m),
                Need::Minute => minute.push(m),
            }
        }
        let finer: Vec<rules::Window> = rules::plan_in(&quarter, rules::BAR_15M)
            .into_iter()
            .chain(rules::bar_windows(&minute, rules::BAR_1M))
            .collect();
        let n = finer.len() as u64;
        Ok((rules::plan(&page).into_iter().chain(finer).collect(), n))
    }
}

/// The answer of one job.
struct Done {
    job: Job,
    result: Result<Vec<Vec<String>>, OkxError>,
}

/// Runs the stage for `needs`, storing into `cache`; `now_ms` is the host's time (hours
/// that have not closed by then are fetched as minute bars).
pub async fn run(
    client: Arc<OkxClient>,
    cache: &mut PriceCache,
    needs: &Needs,
    now_ms: i64,
) -> Result<StageStats> {
    let mut states: HashMap<Inst, State> = HashMap::new();
    // Windows on their way, by start (all of one bar have the same length, so the nearest
    // start at or before a time is the only one that can hold it).
    let mut known = Known {
        now_ms,
        inflight: HashMap::new(),
        forming: HashMap::new(),
        tight: HashMap::new(),
    };
    let mut stats = StageStats::default();
    let mut set: JoinSet<Done> = JoinSet::new();
    let mut wanted: BTreeMap<Inst, BTreeSet<i64>> = BTreeMap::new();
    let mut replan = true;
    let spawn = |set: &mut JoinSet<Done>, known: &mut Known, job: Job| {
        known
            .inflight
            .entry((job.inst.clone(), job.bar))
            .or_default()
            .insert(job.start, job.start + PAGE * job.step);
        let client = client.clone();
        set.spawn(async move {
            let result = fetch(&client, &job).await;
            Done { job, result }
        });
    };
    loop {
        if replan {
            replan = false;
            // Routes are chosen with what is known of their instruments; an instrument seen
            // for the first time takes its state from the cache, and when the cache knows it
            // is absent the routes are chosen again (else the assets routed through it would
            // be planned on an instrument that is never fetched, and stay unpriced).
            wanted = loop {
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
            for (inst, minutes) in &wanted {
                let state = states.get(inst).copied().unwrap_or(State::Unknown);
                if matches!(state, State::Absent | State::Probing) || (resolving && state == State::Present) {
                    continue;
                }
                let probe = state == State::Unknown;
                let (windows, finer) = known.pages(cache, inst, minutes.iter().copied())?;
                if !probe {
                    stats.finer_pages += finer;
                }
                for w in windows {
                    let job = Job {
                        inst: inst.clone(),
                        bar: w.bar,
                        step: w.step,
                        start: w.start,
                        last_needed: w.last_needed,
                        probe,
                    };
                    spawn(&mut set, &mut known, job);
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
        if let Some(v) = known.inflight.get_mut(&(job.inst.clone(), job.bar)) {
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
                let page = page_bars(&job, &rows)?;
                stats.bars_stored += page.bars.len() as u64;
                cache.store_page(&job.inst, job.bar, &page.bars, page.range)?;
                if let Some(f) = page.forming {
                    cache.set_unconfirmed(&job.inst, job.bar, f)?;
                    let at = known.forming.entry((job.inst.clone(), job.bar)).or_insert(f);
                    *at = (*at).max(f);
                }
                known.learn(&job.inst, job.bar, &page.bars);
                if job.probe {
                    states.insert(job.inst.clone(), State::Present);
                    replan = true;
                } else if job.bar != rules::BAR_1M.0 {
                    // The minutes of this page's wide (or still open) bars: finer pages.
                    let end = job.start + PAGE * job.step;
                    let minutes: Vec<i64> = wanted
                        .get(&job.inst)
                        .map(|m| m.range(job.start..end).copied().collect())
                        .unwrap_or_default();
                    let (windows, finer) = known.pages(cache, &job.inst, minutes.into_iter())?;
                    stats.finer_pages += finer;
                    for w in windows {
                        let next = Job {
                            inst: job.inst.clone(),
                            bar: w.bar,
                            step: w.step,
                            start: w.start,
                            last_needed: w.last_needed,
                            probe: false,
                        };
                        spawn(&mut set, &mut known, next);
                    }
                }
            }
        }
    }
    stats.fewest_pages = fewest_pages(needs, &states);
    Ok(stats)
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

/// What one answer settles.
struct Page {
    /// Its confirmed bars.
    bars: Vec<Bar>,
    /// The open times it covers: up to the newer of the last bar a row needs and the
    /// newest bar returned, never past a bar still forming (fetched again once final).
    range: (i64, i64),
    /// The oldest bar still forming, if the answer had one.
    forming: Option<i64>,
}

/// The [`Page`] of one answer.
fn page_bars(job: &Job, rows: &[Vec<String>]) -> Result<Page> {
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
        let (Some(ts), Some(o), Some(h), Some(l), Some(c), Some(confirm)) =
            (r.first(), r.get(1), r.get(2), r.get(3), r.get(4), r.last())
        else {
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
        let d = |v: &str| Decimal::from_str(v).with_context(bad);
        bars.push(Bar {
            ts,
            open: d(o)?,
            close: d(c)?,
            high: Some(d(h)?),
            low: Some(d(l)?),
        });
    }
    let newest = bars.iter().map(|b| b.ts).max().unwrap_or(job.start);
    let to = (job.last_needed.max(newest) + job.step).min(end).min(unconfirmed);
    Ok(Page {
        bars,
        range: (job.start, to),
        forming: (unconfirmed != i64::MAX).then_some(unconfirmed),
    })
}
