//! Client-side pacing that holds OKX's rule where OKX counts: at most `count` requests per
//! endpoint in any window of `per` (per UID for private endpoints, per IP for public ones),
//! counted by *arrival* at OKX's servers.
//!
//! Arrivals jitter: a request reaches OKX a little later than it left, by a delay that
//! varies (the network, the other end's queue, our own signing and connection setup). A
//! window held on our clock, on send times plus a fixed guard, lets two requests `count`
//! places apart arrive closer than `per` whenever the first was delayed by more than the
//! guard: that is where the 429s of a long sync came from.
//!
//! So a place in the window is held from the send until the *answer*, and released `per`
//! after the latest moment the request can have arrived. A request arrives before its
//! answer comes back by at least the answer's way back; half the fastest round trip seen on
//! that endpoint stands for that (a path as fast one way as the other), once
//! [`MIN_SAMPLES`] answers are in (before that the fastest seen may still be well above the
//! true one, and nothing is subtracted). Two requests `count` places apart then arrive at
//! least `per` apart whatever their delays, and a request waits only as long as the one
//! `count` places before it was actually late, plus a small guard ([`GUARD_BASE`] +
//! [`GUARD_SHARE`] of the window) for clocks and an uneven path. A request may leave when
//! fewer than `count` places are held; the first window's burst still goes at once.
//!
//! If OKX answers 429 (code 50011) anyway, the endpoint's guard widens by
//! [`widen_step`] for the rest of the run (at most half a window; at most once per window),
//! and the client says so with `-v`.
//!
//! `rate_share` (`--rate-share 0.5`) keeps a fraction of each limit for another client of
//! the same UID, such as a trading bot.

use super::endpoints::{self, RateLimit};
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::Notify;

/// Fixed part of the guard.
pub const GUARD_BASE: Duration = Duration::from_millis(10);
/// Part of the guard proportional to the window.
pub const GUARD_SHARE: f64 = 0.005;
/// Answers an endpoint needs before its fastest round trip is trusted.
pub const MIN_SAMPLES: u32 = 20;

/// The limit we pace at: `share` of `limit`, never less than one request per window
/// (a fraction below one request stretches the window instead).
pub fn shared_limit(limit: RateLimit, share: f64) -> RateLimit {
    let share = share.clamp(0.01, 1.0);
    let wanted = f64::from(limit.count) * share;
    if wanted >= 1.0 {
        let count = wanted.floor() as u32;
        // Keep the rate exact: `count` whole requests per a slightly longer window.
        let per = limit.per.mul_f64(f64::from(count) / wanted);
        RateLimit { count, per }
    } else {
        RateLimit {
            count: 1,
            per: limit.per.mul_f64(1.0 / wanted),
        }
    }
}

/// The guard added to a window.
pub fn guard_for(per: Duration) -> Duration {
    GUARD_BASE + per.mul_f64(GUARD_SHARE)
}

/// How much one 429 widens the guard of a window of `per`: 5 % of it, at least 50 ms.
pub fn widen_step(per: Duration) -> Duration {
    per.mul_f64(0.05).max(Duration::from_millis(50))
}

/// One place in the window.
#[derive(Debug)]
struct Place {
    id: u64,
    sent: Instant,
    answered: Option<Instant>,
}

#[derive(Debug, Default)]
struct State {
    places: VecDeque<Place>,
    next_id: u64,
    /// The fastest round trip seen (send to answer).
    min_rtt: Option<Duration>,
    /// Answers seen.
    samples: u32,
    /// Added to the guard after 429s.
    extra: Duration,
    widened_at: Option<Instant>,
}

/// One endpoint's window of requests in flight or recently answered.
#[derive(Debug)]
pub struct Pacer {
    count: usize,
    per: Duration,
    window: Duration,
    state: Mutex<State>,
    answered: Notify,
}

/// A place taken by one request: released when its answer is in ([`Ticket::answered`],
/// or when the ticket is dropped, e.g. on a timeout).
#[derive(Debug)]
pub struct Ticket<'a> {
    pacer: &'a Pacer,
    id: u64,
    open: bool,
}

impl Ticket<'_> {
    /// The answer came back now.
    pub fn answered(mut self) {
        self.pacer.answered_at(self.id, Instant::now());
        self.open = false;
    }
}

impl Drop for Ticket<'_> {
    fn drop(&mut self) {
        if self.open {
            self.pacer.answered_at(self.id, Instant::now());
        }
    }
}

impl Pacer {
    pub fn new(limit: RateLimit) -> Pacer {
        Pacer {
            count: limit.count.max(1) as usize,
            per: limit.per,
            window: limit.per + guard_for(limit.per),
            state: Mutex::new(State::default()),
            answered: Notify::new(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// When place `p` leaves the window; `None` while its request is in flight.
    fn free_at(&self, min_rtt: Option<Duration>, extra: Duration, p: &Place) -> Option<Instant> {
        let answered = p.answered?;
        // The latest its request can have arrived: the answer, less the way back of the
        // fastest round trip (never before it was sent).
        let arrived = answered
            .checked_sub(min_rtt.unwrap_or_default() / 2)
            .map_or(p.sent, |t| t.max(p.sent));
        Some(arrived + self.window + extra)
    }

    /// Takes a place at `now` (its id), or says how long to wait for one (`None`: until a
    /// request in flight is answered).
    pub fn try_at(&self, now: Instant) -> Result<u64, Option<Duration>> {
        let mut st = self.lock();
        let min_rtt = st.min_rtt.filter(|_| st.samples >= MIN_SAMPLES);
        let extra = st.extra;
        st.places
            .retain(|p| self.free_at(min_rtt, extra, p).is_none_or(|f| f > now));
        if st.places.len() < self.count {
            let id = st.next_id;
            st.next_id += 1;
            st.places.push_back(Place {
                id,
                sent: now,
                answered: None,
            });
            Ok(id)
        } else {
            Err(st
                .places
                .iter()
                .filter_map(|p| self.free_at(min_rtt, extra, p))
                .min()
                .map(|f| f.saturating_duration_since(now)))
        }
    }

    /// The request of place `id` was answered at `now`.
    pub fn answered_at(&self, id: u64, now: Instant) {
        {
            let mut st = self.lock();
            let mut rtt = None;
            if let Some(p) = st.places.iter_mut().find(|p| p.id == id) {
                p.answered = Some(now);
                rtt = Some(now.saturating_duration_since(p.sent));
            }
            if let Some(rtt) = rtt {
                st.min_rtt = Some(st.min_rtt.map_or(rtt, |m| m.min(rtt)));
                st.samples += 1;
            }
        }
        self.answered.notify_waiters();
    }

    /// OKX refused a request as over the limit: widens the guard for the rest of the run
    /// (once per window at most, up to half a window). Returns the guard's widening now, if
    /// this call widened it.
    pub fn rate_limited_at(&self, now: Instant) -> Option<Duration> {
        let mut st = self.lock();
        if st
            .widened_at
            .is_some_and(|t| now.saturating_duration_since(t) < self.window)
        {
            return None;
        }
        let cap = self.per / 2;
        if st.extra >= cap {
            return None;
        }
        st.extra = (st.extra + widen_step(self.per)).min(cap);
        st.widened_at = Some(now);
        Some(st.extra)
    }

    /// [`Pacer::rate_limited_at`] now.
    pub fn rate_limited(&self) -> Option<Duration> {
        self.rate_limited_at(Instant::now())
    }

    /// Waits for a place; returns how long it waited and the place, to be released with
    /// [`Ticket::answered`] when the answer is in.
    pub async fn acquire(&self) -> (Duration, Ticket<'_>) {
        let started = Instant::now();
        loop {
            let answered = self.answered.notified();
            tokio::pin!(answered);
            answered.as_mut().enable();
            match self.try_at(Instant::now()) {
                Ok(id) => {
                    let ticket = Ticket {
                        pacer: self,
                        id,
                        open: true,
                    };
                    return (started.elapsed(), ticket);
                }
                Err(Some(wait)) => {
                    tokio::select! {
                        () = tokio::time::sleep(wait.max(Duration::from_micros(100))) => {}
                        () = &mut answered => {}
                    }
                }
                Err(None) => answered.await,
            }
        }
    }
}

/// The pacers of the public endpoints (OKX limits them per IP), to be shared by every
/// client of one process that talks to the same host: several profiles run at once in one
/// process (a group or fleet run) then stay together within one IP's limits, while each
/// client keeps its own pacers for the private endpoints (limited per UID).
#[derive(Clone)]
pub struct PublicPacers(Arc<HashMap<&'static str, Arc<Pacer>>>);

impl std::fmt::Debug for PublicPacers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PublicPacers({} endpoints)", self.0.len())
    }
}

impl PublicPacers {
    /// One pacer per public endpoint of [`endpoints::ALL`], at `share` of each limit
    /// times `rate_scale` (as [`crate::okx::ClientConfig`] paces them).
    pub fn new(rate_scale: u32, share: f64) -> PublicPacers {
        let map = endpoints::ALL
            .iter()
            .filter(|e| !e.private)
            .map(|e| {
                (
                    e.name,
                    Arc::new(Pacer::new(shared_limit(e.limit.scaled(rate_scale), share))),
                )
            })
            .collect();
        PublicPacers(Arc::new(map))
    }

    /// The shared pacer of public endpoint `name`.
    pub fn get(&self, name: &str) -> Option<Arc<Pacer>> {
        self.0.get(name).cloned()
    }

    /// Whether `self` and `other` are the same set (not merely equal limits).
    pub fn same(&self, other: &PublicPacers) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::SmallRng;
    use rand::{Rng, SeedableRng};

    fn limit(count: u32, ms: u64) -> RateLimit {
        RateLimit {
            count,
            per: Duration::from_millis(ms),
        }
    }

    const MS: Duration = Duration::from_millis(1);

    /// The first window's burst goes at once; then a request waits for the one `count`
    /// places earlier to be answered, and for `per` (plus the guard) after the latest it can
    /// have arrived: its answer less half the fastest round trip, once enough answers are in.
    #[test]
    fn a_place_is_held_until_per_after_the_latest_arrival() {
        let p = Pacer::new(limit(2, 1000));
        let t0 = Instant::now();
        let a = p.try_at(t0).unwrap();
        let b = p.try_at(t0).unwrap();
        // Both in flight: wait for an answer.
        assert_eq!(p.try_at(t0), Err(None));
        // `a` answered after 30 ms: with few answers in, the fastest round trip is not
        // trusted yet, so its place is held until 1 s + 15 ms (the guard) after the answer.
        p.answered_at(a, t0 + 30 * MS);
        assert_eq!(p.try_at(t0 + 30 * MS), Err(Some(1015 * MS)));
        p.answered_at(b, t0 + 80 * MS);
        // Twenty answers in, the fastest 30 ms.
        let mut at = t0 + 1200 * MS;
        for _ in 0..MIN_SAMPLES - 2 {
            at += 2000 * MS;
            let id = p.try_at(at).unwrap();
            p.answered_at(id, at + 40 * MS);
        }
        let t1 = at + 4000 * MS;
        let c = p.try_at(t1).unwrap();
        let d = p.try_at(t1).unwrap();
        // `c` answered after 30 ms: it arrived by 15 ms.
        p.answered_at(c, t1 + 30 * MS);
        // `d` took 80 ms: it may have arrived as late as 65 ms.
        p.answered_at(d, t1 + 80 * MS);
        assert_eq!(p.try_at(t1 + 30 * MS), Err(Some(1000 * MS)));
        assert!(p.try_at(t1 + 1029 * MS).is_err());
        p.try_at(t1 + 1030 * MS).unwrap();
        assert_eq!(p.try_at(t1 + 1030 * MS), Err(Some(50 * MS)));
        assert!(p.try_at(t1 + 1080 * MS).is_ok());
        assert_eq!(p.try_at(t1 + 1080 * MS), Err(None));
    }

    /// A simulated server that counts arrivals, each delayed by 0–50 ms: no window of
    /// `per` on its clock ever holds more than `count`, and the run is not slower than the
    /// limit needs by more than the jitter that actually happened.
    #[test]
    fn no_window_on_the_servers_clock_holds_more_than_the_limit() {
        // One request a second paged one at a time (`asset/bills-history`) in many runs:
        // its first windows are where a round trip measured on few answers misleads.
        let cases = [(5, 1000, 8, 1), (10, 2000, 20, 2), (60, 2000, 100, 4)]
            .into_iter()
            .chain((10..40).map(|seed| (1, 1000, 1, seed)));
        for (count, per_ms, concurrency, seed) in cases {
            let per = Duration::from_millis(per_ms);
            let p = Pacer::new(limit(count, per_ms));
            let mut rng = SmallRng::seed_from_u64(seed);
            let t0 = Instant::now();
            let mut now = t0;
            // (answer time, id) of requests in flight; arrival times at the server.
            let mut flying: Vec<(Instant, u64)> = Vec::new();
            let mut arrivals = Vec::new();
            let total = 30 * count as usize;
            let total = if count == 1 { 40 } else { total };
            while arrivals.len() < total {
                flying.sort();
                while flying.first().is_some_and(|(at, _)| *at <= now) {
                    let (at, id) = flying.remove(0);
                    p.answered_at(id, at);
                }
                let wait = if flying.len() < concurrency {
                    match p.try_at(now) {
                        Ok(id) => {
                            let arrive = now + Duration::from_micros(rng.random_range(0..=50_000));
                            let answer = arrive + Duration::from_micros(rng.random_range(500..3_000));
                            arrivals.push(arrive);
                            flying.push((answer, id));
                            continue;
                        }
                        Err(w) => w,
                    }
                } else {
                    None
                };
                let next_answer = flying.iter().map(|(at, _)| *at).min();
                now = match (wait, next_answer) {
                    (Some(w), Some(a)) => (now + w).min(a),
                    (Some(w), None) => now + w,
                    (None, Some(a)) => a,
                    (None, None) => unreachable!("nothing in flight and nothing to wait for"),
                };
            }
            arrivals.sort();
            for (i, a) in arrivals.iter().enumerate() {
                // The server admits a request while fewer than `count` were accepted at
                // instants strictly newer than `arrival - per`.
                let in_window = arrivals[..i]
                    .iter()
                    .filter(|x| x.duration_since(t0) + per > a.duration_since(t0))
                    .count();
                assert!(
                    in_window < count as usize,
                    "limit {count}/{per:?}: {in_window} earlier arrivals within {per:?} of #{i}"
                );
            }
            // Not slower than the limit by more than the jitter and the guard, per window.
            let windows = (total - 1) / count as usize;
            let span = arrivals.last().unwrap().duration_since(t0);
            let allowed = (per + guard_for(per) + 55 * MS) * u32::try_from(windows).unwrap() + 60 * MS;
            assert!(
                span <= allowed,
                "limit {count}/{per:?}: {span:?} for {total} requests, allowed {allowed:?}"
            );
        }
    }

    /// A 429 widens the endpoint's guard for the rest of the run: once per window, up to
    /// half a window.
    #[test]
    fn a_429_widens_the_guard() {
        let p = Pacer::new(limit(1, 2000));
        let t0 = Instant::now();
        assert_eq!(p.rate_limited_at(t0), Some(100 * MS));
        assert_eq!(p.rate_limited_at(t0 + 500 * MS), None, "once per window");
        let id = p.try_at(t0).unwrap();
        p.answered_at(id, t0);
        assert_eq!(
            p.try_at(t0),
            Err(Some(2000 * MS + guard_for(2000 * MS) + 100 * MS))
        );
        let mut at = t0;
        let mut last = Duration::ZERO;
        for _ in 0..20 {
            at += 3 * Duration::from_secs(1);
            if let Some(w) = p.rate_limited_at(at) {
                last = w;
            }
        }
        assert_eq!(last, Duration::from_secs(1));
    }

    #[test]
    fn shares_of_a_limit() {
        let half = shared_limit(limit(5, 2000), 0.5);
        assert_eq!(half.count, 2);
        // 2.5 per 2 s exactly: 2 per 1.6 s.
        assert_eq!(half.per, Duration::from_millis(1600));
        let tenth = shared_limit(limit(1, 1000), 0.5);
        assert_eq!((tenth.count, tenth.per), (1, Duration::from_secs(2)));
        assert_eq!(shared_limit(limit(20, 2000), 1.0), limit(20, 2000));
    }

    #[test]
    fn guards() {
        assert_eq!(guard_for(Duration::from_secs(1)), Duration::from_millis(15));
        assert_eq!(guard_for(Duration::from_secs(2)), Duration::from_millis(20));
        assert_eq!(widen_step(Duration::from_secs(1)), Duration::from_millis(50));
        assert_eq!(widen_step(Duration::from_secs(10)), Duration::from_millis(500));
    }
}
