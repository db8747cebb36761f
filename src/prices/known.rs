//! What the price stage knows about each instrument's bars while it runs, besides the
//! cache: the windows in flight, the bars still forming, which stored bars may value their
//! minutes; and from that, what a needed minute still needs ([`Need`]).
//!
//! A value comes from the row's own minute bar, or from a coarser bar holding it whose
//! high and low are within [`rules::MAX_BAR_RANGE`] of each other (issue 19). So when an
//! hour page answers, the minutes of its wide hours are fetched as 15-minute pages (25
//! hours each), and when those answer, the minutes of their wide quarters as minute pages;
//! minutes of an hour that has not closed yet (at the host's `now`) are fetched as minute
//! pages at once.

use super::cache::{Bar, PriceCache, is_covered};
use super::rules::{self, Inst, PAGE};
use anyhow::Result;
use std::collections::{BTreeMap, HashMap};

/// What one needed minute of an instrument still needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// Priced, on its way, or pending (its minute was still forming when asked this run).
    Nothing,
    /// Any page holding it: the layout chooses hour or minute bars.
    Page,
    /// Its 15-minute bar: its hour is too wide.
    Quarter,
    /// Its minute bar: its quarter is too wide, or its hour has not closed.
    Minute,
}

/// Windows in flight: (instrument, bar) → start → end.
type Inflight = HashMap<(Inst, &'static str), BTreeMap<i64, i64>>;

/// What the stage knows while it runs, besides the cache.
pub struct Known {
    pub now_ms: i64,
    inflight: Inflight,
    /// Per (instrument, bar), the oldest bar an answer of this run said was still forming.
    forming: HashMap<(Inst, &'static str), i64>,
    /// Per (instrument, bar), the stored bars: whether each may value its minutes.
    tight: HashMap<(Inst, &'static str), HashMap<i64, bool>>,
}

impl Known {
    pub fn new(now_ms: i64) -> Known {
        Known {
            now_ms,
            inflight: HashMap::new(),
            forming: HashMap::new(),
            tight: HashMap::new(),
        }
    }

    /// A window of `bar` bars (`step` ms) from `start` is on its way.
    pub fn fly(&mut self, inst: &Inst, bar: &'static str, step: i64, start: i64) {
        self.inflight
            .entry((inst.clone(), bar))
            .or_default()
            .insert(start, start + PAGE * step);
    }

    /// Its answer is in.
    pub fn landed(&mut self, inst: &Inst, bar: &'static str, start: i64) {
        if let Some(v) = self.inflight.get_mut(&(inst.clone(), bar)) {
            v.remove(&start);
        }
    }

    /// Windows of one bar all have the same length, so the nearest start at or before a
    /// time is the only one that can hold it.
    fn flying(&self, inst: &Inst, bar: &'static str, t: i64) -> bool {
        self.inflight
            .get(&(inst.clone(), bar))
            .and_then(|w| w.range(..=t).next_back())
            .is_some_and(|(_, end)| t < *end)
    }

    fn forming(&self, inst: &Inst, bar: &'static str, t: i64) -> bool {
        self.forming.get(&(inst.clone(), bar)).is_some_and(|f| t >= *f)
    }

    /// An answer said the bars of `bar` from `from` on are still forming.
    pub fn set_forming(&mut self, inst: &Inst, bar: &'static str, from: i64) {
        let at = self.forming.entry((inst.clone(), bar)).or_insert(from);
        *at = (*at).max(from);
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
    pub fn learn(&mut self, inst: &Inst, bar: &'static str, bars: &[Bar]) {
        let tight = self.tight.entry((inst.clone(), bar)).or_default();
        for b in bars {
            tight.insert(b.ts, rules::bar_is_tight(b.range()));
        }
    }

    /// What minute `m` of `inst` still needs: its minute bar stored (or coming), else a
    /// narrow quarter, else a narrow hour (see the module docs).
    pub fn need(&mut self, cache: &mut PriceCache, inst: &Inst, m: i64) -> Result<Need> {
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
}

/// The minutes of one instrument sorted by what they still need.
#[derive(Debug, Default)]
pub struct Sorted {
    pub page: Vec<i64>,
    pub quarter: Vec<i64>,
    pub minute: Vec<i64>,
}

impl Sorted {
    pub fn push(&mut self, need: Need, m: i64) {
        match need {
            Need::Nothing => {}
            Need::Page => self.page.push(m),
            Need::Quarter => self.quarter.push(m),
            Need::Minute => self.minute.push(m),
        }
    }

    /// The 15-minute pages for minutes in wide hours and the minute pages for minutes in
    /// wide quarters or open hours.
    pub fn finer(&self) -> Vec<rules::Window> {
        rules::plan_in(&self.quarter, rules::BAR_15M)
            .into_iter()
            .chain(rules::bar_windows(&self.minute, rules::BAR_1M))
            .collect()
    }
}
