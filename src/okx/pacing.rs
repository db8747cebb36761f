//! Client-side pacing that matches OKX's rule: at most `count` requests per endpoint in
//! any window of `per` (per UID for private endpoints, per IP for public ones).
//!
//! A request may leave when fewer than `count` requests left in the last `per + guard`.
//! So the first window's burst goes at once (up to `count` requests), and after that
//! each request waits only for the one `count` places before it to age out. The guard
//! covers network jitter: requests reach OKX a little later or earlier than they left, and
//! OKX counts arrivals. It is [`GUARD_BASE`] plus [`GUARD_SHARE`] of the window (35 ms on
//! a 1 s window, 45 ms on 2 s, 125 ms on 10 s), not a fixed 5% tax on every request.
//!
//! `rate_share` (`--rate-share 0.5`) keeps a fraction of each limit for another client of
//! the same UID, such as a trading bot.

use super::endpoints::{self, RateLimit};
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Fixed part of the jitter guard.
pub const GUARD_BASE: Duration = Duration::from_millis(25);
/// Part of the guard proportional to the window.
pub const GUARD_SHARE: f64 = 0.01;

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

/// One endpoint's sliding window of send times.
#[derive(Debug)]
pub struct Pacer {
    count: usize,
    window: Duration,
    sent: Mutex<VecDeque<Instant>>,
}

impl Pacer {
    pub fn new(limit: RateLimit) -> Pacer {
        Pacer {
            count: limit.count.max(1) as usize,
            window: limit.per + guard_for(limit.per),
            sent: Mutex::new(VecDeque::new()),
        }
    }

    /// Takes a place at `now`, or says how long to wait for one.
    pub fn try_at(&self, now: Instant) -> Result<(), Duration> {
        let mut sent = self.sent.lock().expect("pacer lock");
        while sent
            .front()
            .is_some_and(|t| now.saturating_duration_since(*t) >= self.window)
        {
            sent.pop_front();
        }
        if sent.len() < self.count {
            sent.push_back(now);
            Ok(())
        } else {
            let oldest = sent.front().copied().expect("full window");
            Err((oldest + self.window).saturating_duration_since(now))
        }
    }

    /// Waits for a place; returns how long it waited.
    pub async fn acquire(&self) -> Duration {
        let started = Instant::now();
        loop {
            match self.try_at(Instant::now()) {
                Ok(()) => return started.elapsed(),
                Err(wait) => tokio::time::sleep(wait.max(Duration::from_micros(100))).await,
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

    fn limit(count: u32, ms: u64) -> RateLimit {
        RateLimit {
            count,
            per: Duration::from_millis(ms),
        }
    }

    /// The first window's burst goes at once; then each request waits for the one
    /// `count` places earlier to leave the window (plus the guard), never less.
    #[test]
    fn sliding_window_with_first_burst() {
        let p = Pacer::new(limit(5, 1000));
        let t0 = Instant::now();
        for _ in 0..5 {
            assert!(p.try_at(t0).is_ok());
        }
        let wait = p.try_at(t0).unwrap_err();
        assert_eq!(wait, Duration::from_millis(1035));
        assert!(p.try_at(t0 + Duration::from_millis(1034)).is_err());
        assert!(p.try_at(t0 + Duration::from_millis(1035)).is_ok());
        // Any window of 1 s (the server's rule) holds at most 5 of the accepted sends.
        let p = Pacer::new(limit(5, 1000));
        let mut sends = Vec::new();
        let mut now = t0;
        while sends.len() < 40 {
            match p.try_at(now) {
                Ok(()) => sends.push(now),
                Err(w) => now += w,
            }
        }
        for (i, s) in sends.iter().enumerate() {
            let in_window = sends[i..]
                .iter()
                .take_while(|t| t.duration_since(*s) < Duration::from_secs(1))
                .count();
            assert!(in_window <= 5, "{in_window} sends within 1 s from #{i}");
        }
        // And it is not slower than the rule needs: 40 sends in 7 windows plus guards.
        let span = sends.last().unwrap().duration_since(t0);
        assert_eq!(span, Duration::from_millis(7 * 1035));
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
        assert_eq!(guard_for(Duration::from_secs(1)), Duration::from_millis(35));
        assert_eq!(guard_for(Duration::from_secs(2)), Duration::from_millis(45));
        assert_eq!(guard_for(Duration::from_secs(10)), Duration::from_millis(125));
    }
}
