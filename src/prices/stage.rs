//! The price stage: from the (asset, minute) pairs rows need, fetch the missing bars of
//! each route's instruments from OKX's public candles, each bar at most once ever.
//!
//! [`Stage`] takes needs as they become known: during a sync, the rows of each time range
//! whose history is complete ([`Stage::add`], see [`super::alongside`]), then the final,
//! exact needs once the sync is over ([`Stage::finish`]; `prices` and reports give those
//! at once, [`run`]). Pages are laid by [`super::layout`]: greedily from the newest needed
//! bar, the fewest that cover the points, each as soon as the rows it covers are known.
//!
//! Every window is one request of [`PAGE`] bars (`after` = window end, `before` = window
//! start − 1, so it is exactly that window). An instrument not yet known is probed with its
//! first window; when it answers (or OKX says it does not exist, 51001, which the cache
//! remembers) the routes are chosen again. Until the first probes have answered only
//! probes go out, so no page is planned over routes still shifting; and an instrument that
//! may still gain minutes (it is on a later route of an asset whose route is not settled:
//! `BTC-USD` while `USDT-USD` is not known to exist) lays nothing, its probe neither, until
//! that route is settled, so its pages are where the plan with the settled routes lays them. The minutes of wide or
//! open hours get finer pages ([`super::known`]).
//!
//! **Two public budgets** (issue 23): index candles and spot candles have separate per-IP
//! limits (10 and 20 per 2 s). A page of an asset's index (`ETH-USD`) may instead be fetched
//! as its spot pair against a USD stablecoin (`ETH-USDT`) when the stablecoin's own price is
//! already covered or on its way at every minute of that page (so the route costs no page
//! more); it is, when that keeps the two endpoints' shares of the requests closest to
//! their rates (pages are assigned in the order they are laid, so the same needs give the
//! same pages). Each such pair is first tried with one page (the asset's second), which
//! tells whether OKX has it; a pair OKX does not have (51001) sends its page back to the
//! index. The valuer takes whichever route the cache holds at a minute
//! ([`super::valuer`]), and `price_source` says which (`route:spot:ETH-USDT:…*…`).
//!
//! A bar still forming when it is fetched is not stored: the cache records where the
//! forming bars start, and the minutes from there on are *pending* until a later run.

use super::cache::{Bar, PriceCache};
use super::known::{Known, Need, Sorted};
use super::layout::{self, Complete};
use super::routes::{Alt, State, add_route, alternative, stable_pair, unsettled};
use super::rules::{self, Inst, InstKind, PAGE};
use crate::okx::endpoints;
use crate::okx::{OkxClient, OkxError};
use anyhow::{Context, Result};
use rust_decimal::Decimal;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
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
    /// Of those, pages of an index's minutes fetched as its spot pair (times the pair's
    /// quote), because the spot endpoint had room.
    pub routed_pages: u64,
    /// Bars stored.
    pub bars_stored: u64,
    /// The fewest pages that cover the rows with the routes as finally resolved, had the
    /// cache been empty and every hour been narrow (for the bench; the stage issues these,
    /// the minute pages of wide hours and the absent probes).
    pub fewest_pages: u64,
}

impl StageStats {
    /// Adds the requests of a later run (`fewest_pages` stays).
    pub fn absorb(&mut self, o: &StageStats) {
        self.requests += o.requests;
        self.index_requests += o.index_requests;
        self.spot_requests += o.spot_requests;
        self.absent_probes += o.absent_probes;
        self.finer_pages += o.finer_pages;
        self.routed_pages += o.routed_pages;
        self.bars_stored += o.bars_stored;
    }
}

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
    /// For a page routed through a spot pair: the index it stands in for (it goes back
    /// there if OKX does not have the pair).
    instead_of: Option<Inst>,
}

impl Job {
    fn new(inst: Inst, w: rules::Window, probe: bool) -> Job {
        Job {
            inst,
            bar: w.bar,
            step: w.step,
            start: w.start,
            last_needed: w.last_needed,
            probe,
            instead_of: None,
        }
    }

    fn end(&self) -> i64 {
        self.start + PAGE * self.step
    }
}

/// The answer of one job.
struct Done {
    job: Job,
    result: Result<Vec<Vec<String>>, OkxError>,
}

/// Requests per second each candle endpoint takes (index, spot), for the choice of route.
const RATES: [f64; 2] = [
    endpoints::INDEX_CANDLES.limit.count as f64 / 2.0,
    endpoints::CANDLES.limit.count as f64 / 2.0,
];

fn slot(kind: InstKind) -> usize {
    match kind {
        InstKind::Index => 0,
        InstKind::Spot => 1,
    }
}

/// The price stage as it runs (see the module docs).
pub struct Stage<'c> {
    client: Arc<OkxClient>,
    cache: &'c mut PriceCache,
    known: Known,
    /// Every need given so far.
    needs: Needs,
    complete: Complete,
    states: HashMap<Inst, State>,
    /// Per instrument of the routes, the minutes it must price.
    wanted: BTreeMap<Inst, BTreeSet<i64>>,
    /// Of those, the minutes not yet priced, coming or given up on.
    open: BTreeMap<Inst, BTreeSet<i64>>,
    /// Minutes priced through a spot pair instead of an index: the pair's and its quote's
    /// (for their finer pages).
    routed: BTreeMap<Inst, BTreeSet<i64>>,
    alts: HashMap<Inst, Alt>,
    set: JoinSet<Done>,
    /// Requests spawned, per endpoint (index, spot).
    assigned: [u64; 2],
    /// Pages (not probes) have been planned: later probes no longer hold the others.
    paging: bool,
    replan: bool,
    stats: StageStats,
}

impl<'c> Stage<'c> {
    /// A stage with nothing to do yet; `now_ms` is the host's time (hours that have not
    /// closed by then are fetched as minute bars).
    pub fn new(client: Arc<OkxClient>, cache: &'c mut PriceCache, now_ms: i64) -> Stage<'c> {
        Stage {
            client,
            cache,
            known: Known::new(now_ms),
            needs: Needs::new(),
            complete: Complete::default(),
            states: HashMap::new(),
            wanted: BTreeMap::new(),
            open: BTreeMap::new(),
            routed: BTreeMap::new(),
            alts: HashMap::new(),
            set: JoinSet::new(),
            assigned: [0; 2],
            paging: false,
            replan: false,
            stats: StageStats::default(),
        }
    }

    /// More needs (the rows of ranges now complete), and the ranges whose rows are all
    /// stored now.
    pub fn add(&mut self, needs: Needs, complete: Complete) {
        for (asset, minutes) in needs {
            let mut new = BTreeMap::new();
            let have = self.needs.entry(asset.clone()).or_default();
            let fresh: BTreeSet<i64> = minutes.difference(have).copied().collect();
            if fresh.is_empty() {
                continue;
            }
            have.extend(fresh.iter().copied());
            add_route(&asset, &fresh, &self.states, 0, &mut new);
            for (inst, ms) in new {
                self.open
                    .entry(inst.clone())
                    .or_default()
                    .extend(ms.iter().copied());
                self.wanted.entry(inst).or_default().extend(ms);
            }
        }
        self.complete = complete;
        self.replan = true;
    }

    /// The last needs: the history is complete.
    pub fn finish(&mut self, needs: Needs) {
        self.add(needs, Complete::all());
    }

    /// Nothing in flight and nothing to plan.
    pub fn idle(&self) -> bool {
        self.set.is_empty() && !self.replan
    }

    /// What the stage did so far.
    pub fn stats(&self) -> StageStats {
        let mut s = self.stats.clone();
        s.fewest_pages = fewest_pages(&self.needs, &self.states);
        s
    }

    /// Every need it was given.
    pub fn into_needs(self) -> Needs {
        self.needs
    }

    /// Plans what can be planned, then waits for one answer and handles it; `false` when
    /// nothing is in flight. Cancel-safe while it waits.
    pub async fn step(&mut self) -> Result<bool> {
        if self.replan {
            self.replan = false;
            self.plan()?;
        }
        let Some(done) = self.set.join_next().await else {
            return Ok(false);
        };
        let done = done.context("a price request task failed")?;
        self.answer(done)?;
        Ok(true)
    }

    /// Runs until nothing is in flight.
    pub async fn drain(&mut self) -> Result<()> {
        while self.step().await? {}
        Ok(())
    }

    fn spawn(&mut self, job: Job) {
        self.known.fly(&job.inst, job.bar, job.step, job.start);
        self.assigned[slot(job.inst.kind)] += 1;
        let client = self.client.clone();
        self.set.spawn(async move {
            let result = fetch(&client, &job).await;
            Done { job, result }
        });
    }

    /// Rebuilds the instruments' minutes from the needs (after an instrument turned out
    /// absent, which changes routes).
    fn reroute(&mut self) {
        let mut wanted = BTreeMap::new();
        for (asset, minutes) in &self.needs {
            add_route(asset, minutes, &self.states, 0, &mut wanted);
        }
        self.open = wanted.clone();
        self.wanted = wanted;
    }

    /// Takes each instrument's state from the cache the first time it is seen; reroutes
    /// while the cache knows one to be absent.
    fn resolve_states(&mut self) -> Result<()> {
        loop {
            let mut absent_found = false;
            let unseen: Vec<Inst> = self
                .wanted
                .keys()
                .filter(|i| !self.states.contains_key(*i))
                .cloned()
                .collect();
            for inst in unseen {
                let s = if self.cache.is_absent(&inst)? {
                    absent_found = true;
                    State::Absent
                } else if self.cache.is_known(&inst)? {
                    State::Present
                } else {
                    State::Unknown
                };
                self.states.insert(inst, s);
            }
            if !absent_found {
                return Ok(());
            }
            self.reroute();
        }
    }

    /// What minute `m` of `inst` still needs, counting the spot route of an index.
    fn need(&mut self, inst: &Inst, m: i64) -> Result<Need> {
        let n = self.known.need(self.cache, inst, m)?;
        if n == Need::Nothing {
            return Ok(n);
        }
        if let Some(alt) = self.alts.get(inst).cloned()
            && self.states.get(&alt.pair) != Some(&State::Absent)
            && self.known.need(self.cache, &alt.pair, m)? == Need::Nothing
        {
            let mut quotes = Need::Nothing;
            for q in &alt.quote_insts {
                if self.known.need(self.cache, q, m)? != Need::Nothing {
                    quotes = Need::Page;
                }
            }
            if quotes == Need::Nothing {
                return Ok(Need::Nothing);
            }
        }
        Ok(n)
    }

    /// Plans the pages of every instrument whose route is known.
    fn plan(&mut self) -> Result<()> {
        self.resolve_states()?;
        self.probe_pairs(&unsettled(&self.needs, &self.states))?;
        let probing = |i: &Inst| matches!(self.states.get(i), Some(State::Unknown | State::Probing));
        let resolving = !self.paging
            && (self.wanted.keys().any(probing)
                || self.wanted.keys().filter_map(stable_pair).any(|p| probing(&p)));
        self.alts.clear();
        let mut quote_insts = BTreeSet::new();
        if !resolving {
            for inst in self.wanted.keys() {
                if inst.kind == InstKind::Index
                    && let Some(alt) = alternative(inst, &self.states)
                {
                    quote_insts.extend(alt.quote_insts.iter().cloned());
                    self.alts.insert(inst.clone(), alt);
                }
            }
        }
        // The stablecoins' instruments first: a page routed through a pair needs its quote
        // covered.
        let mut order: Vec<Inst> = self.open.keys().cloned().collect();
        order.sort_by_key(|i| !quote_insts.contains(i));
        // An instrument that may still gain minutes waits for the routes that would give
        // them, unless nothing else is on its way.
        let unsettled = unsettled(&self.needs, &self.states);
        for pass in [true, false] {
            let mut held = false;
            for inst in &order {
                if pass && unsettled.contains(inst) {
                    held = true;
                    continue;
                }
                self.lay(inst, resolving)?;
            }
            if !held || !self.set.is_empty() {
                break;
            }
        }
        Ok(())
    }

    /// Lays the pages of `inst` that can be laid (its probe, while it is not known yet).
    fn lay(&mut self, inst: &Inst, resolving: bool) -> Result<()> {
        let inst = inst.clone();
        let state = self.states.get(&inst).copied().unwrap_or(State::Unknown);
        if matches!(state, State::Absent | State::Probing) || (resolving && state == State::Present) {
            return Ok(());
        }
        let probe = state == State::Unknown;
        let minutes: Vec<i64> = self.open.get(&inst).into_iter().flatten().copied().collect();
        let mut sorted = Sorted::default();
        let mut settled = Vec::new();
        for m in minutes {
            match self.need(&inst, m)? {
                Need::Nothing => settled.push(m),
                n => sorted.push(n, m),
            }
        }
        if let Some(open) = self.open.get_mut(&inst) {
            for m in settled {
                open.remove(&m);
            }
        }
        let finer = sorted.finer();
        if !probe {
            self.stats.finer_pages += finer.len() as u64;
        }
        let windows = layout::page_windows(&sorted.page, &self.complete);
        for w in windows.into_iter().chain(finer) {
            if probe {
                self.spawn(Job::new(inst.clone(), w, true));
                self.states.insert(inst.clone(), State::Probing);
                break;
            }
            self.paging = true;
            let job = self.route(&inst, w)?;
            self.spawn(job);
        }
        Ok(())
    }

    /// Tries the stablecoin pair of each index whose state is not known yet with one page of
    /// the index's minutes (the second it would lay), so pages can be routed through the
    /// pair once it answers.
    fn probe_pairs(&mut self, unsettled: &HashSet<Inst>) -> Result<()> {
        let indexes: Vec<Inst> = self
            .wanted
            .keys()
            .filter(|i| {
                i.kind == InstKind::Index
                    && self.states.get(*i) != Some(&State::Absent)
                    && !unsettled.contains(*i)
            })
            .cloned()
            .collect();
        for index in indexes {
            let Some(pair) = stable_pair(&index) else {
                continue;
            };
            if alternative(&index, &self.states).is_none() {
                continue; // its quote is priced through this index: no page can go there
            }
            if !self.states.contains_key(&pair) {
                let s = if self.cache.is_absent(&pair)? {
                    State::Absent
                } else if self.cache.is_known(&pair)? {
                    State::Present
                } else {
                    State::Unknown
                };
                self.states.insert(pair.clone(), s);
            }
            if self.states.get(&pair) != Some(&State::Unknown) {
                continue;
            }
            let mut page = Vec::new();
            for m in self
                .open
                .get(&index)
                .into_iter()
                .flatten()
                .copied()
                .collect::<Vec<_>>()
            {
                if self.known.need(self.cache, &index, m)? == Need::Page
                    && self.known.need(self.cache, &pair, m)? == Need::Page
                {
                    page.push(m);
                }
            }
            let windows = layout::page_windows(&page, &self.complete);
            let Some(w) = windows.get(1).copied() else {
                continue;
            };
            let end = w.start + PAGE * w.step;
            let ms: Vec<i64> = self.wanted[&index].range(w.start..end).copied().collect();
            self.routed.entry(pair.clone()).or_default().extend(ms);
            self.states.insert(pair.clone(), State::Probing);
            self.stats.routed_pages += 1;
            self.spawn(Job {
                instead_of: Some(index),
                ..Job::new(pair, w, true)
            });
        }
        Ok(())
    }

    /// The job for window `w` of `inst`: on `inst`, or on its spot route when the spot
    /// endpoint has room and the route's quote is covered at every minute of the window.
    fn route(&mut self, inst: &Inst, w: rules::Window) -> Result<Job> {
        let plain = Job::new(inst.clone(), w, false);
        let Some(alt) = self.alts.get(inst).cloned() else {
            return Ok(plain);
        };
        if w.bar == rules::BAR_15M.0 {
            return Ok(plain);
        }
        let pair_state = self.states.get(&alt.pair).copied().unwrap_or(State::Unknown);
        if matches!(pair_state, State::Absent | State::Probing) {
            return Ok(plain);
        }
        if pair_state != State::Present {
            return Ok(plain);
        }
        // The share of each endpoint, were this page added to it.
        let share = |n: u64, rate: f64| (n + 1) as f64 / rate;
        if share(self.assigned[1], RATES[1]) >= share(self.assigned[0], RATES[0]) {
            return Ok(plain);
        }
        let end = w.start + PAGE * w.step;
        let ms: Vec<i64> = self.wanted[inst].range(w.start..end).copied().collect();
        for &m in &ms {
            if self.known.need(self.cache, &alt.pair, m)? != Need::Page {
                return Ok(plain);
            }
            for q in &alt.quote_insts {
                if self.known.need(self.cache, q, m)? != Need::Nothing {
                    return Ok(plain);
                }
            }
        }
        for i in std::iter::once(&alt.pair).chain(&alt.quote_insts) {
            self.routed
                .entry(i.clone())
                .or_default()
                .extend(ms.iter().copied());
        }
        self.stats.routed_pages += 1;
        Ok(Job {
            inst: alt.pair,
            instead_of: Some(inst.clone()),
            ..plain
        })
    }

    /// Stores an answer and lays the finer pages its wide or open bars call for.
    fn answer(&mut self, done: Done) -> Result<()> {
        let Done { job, result } = done;
        self.stats.requests += 1;
        match job.inst.kind {
            InstKind::Index => self.stats.index_requests += 1,
            InstKind::Spot => self.stats.spot_requests += 1,
        }
        self.known.landed(&job.inst, job.bar, job.start);
        let rows = match result {
            Err(OkxError::Api { code, .. }) if code == "51001" => {
                self.stats.absent_probes += 1;
                self.cache
                    .mark_absent(&job.inst, chrono::Utc::now().timestamp_millis())?;
                self.states.insert(job.inst.clone(), State::Absent);
                if let Some(index) = job.instead_of
                    && self.states.get(&index) != Some(&State::Absent)
                {
                    // The pair does not exist: its page goes back to the index.
                    self.spawn(Job {
                        inst: index,
                        probe: false,
                        instead_of: None,
                        ..job
                    });
                }
                self.reroute();
                self.replan = true;
                return Ok(());
            }
            Err(e) => {
                return Err(anyhow::Error::new(e).context(format!("fetching {} {} bars", job.inst, job.bar)));
            }
            Ok(rows) => rows,
        };
        let page = page_bars(&job, &rows)?;
        self.stats.bars_stored += page.bars.len() as u64;
        self.cache
            .store_page(&job.inst, job.bar, &page.bars, page.range)?;
        if let Some(f) = page.forming {
            self.cache.set_unconfirmed(&job.inst, job.bar, f)?;
            self.known.set_forming(&job.inst, job.bar, f);
        }
        self.known.learn(&job.inst, job.bar, &page.bars);
        if self.states.get(&job.inst) == Some(&State::Probing) {
            self.states.insert(job.inst.clone(), State::Present);
            self.replan = true;
        }
        if job.probe || job.bar == rules::BAR_1M.0 {
            return Ok(());
        }
        // The minutes of this page's wide (or still open) bars: finer pages.
        let (inst, end) = (job.inst.clone(), job.end());
        let minutes: BTreeSet<i64> = [&self.wanted, &self.routed]
            .into_iter()
            .filter_map(|m| m.get(&inst))
            .flat_map(|m| m.range(job.start..end).copied())
            .collect();
        let mut sorted = Sorted::default();
        for m in minutes {
            let n = self.known.need(self.cache, &inst, m)?;
            sorted.push(n, m);
        }
        let finer = sorted.finer();
        self.stats.finer_pages += finer.len() as u64;
        for w in finer {
            self.spawn(Job::new(inst.clone(), w, false));
        }
        Ok(())
    }
}

/// Runs the stage for `needs` (the history complete), storing into `cache`; `now_ms` is
/// the host's time (hours that have not closed by then are fetched as minute bars).
pub async fn run(
    client: Arc<OkxClient>,
    cache: &mut PriceCache,
    needs: &Needs,
    now_ms: i64,
) -> Result<StageStats> {
    let mut stage = Stage::new(client, cache, now_ms);
    stage.finish(needs.clone());
    stage.drain().await?;
    Ok(stage.stats())
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
        ("after", job.end().to_string()),
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
    let end = job.end();
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
