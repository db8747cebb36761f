//! Sliding-window rate limiting, as the simulator enforces it.

use crate::okx::endpoints::RateLimit;
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::Instant;

/// The instants of the requests accepted within the last window.
///
/// A request at `now` is admitted iff fewer than `limit.count` requests were accepted at
/// instants strictly newer than `now - limit.per`.
#[derive(Debug, Default, Clone)]
pub struct SlidingWindow {
    accepted: VecDeque<Instant>,
}

impl SlidingWindow {
    pub fn new() -> SlidingWindow {
        SlidingWindow::default()
    }

    /// Admits (and records) a request at `now`, or refuses it.
    pub fn try_acquire(&mut self, now: Instant, limit: RateLimit) -> bool {
        if let Some(cutoff) = now.checked_sub(limit.per) {
            while self.accepted.front().is_some_and(|t| *t <= cutoff) {
                self.accepted.pop_front();
            }
        }
        if self.accepted.len() < limit.count as usize {
            self.accepted.push_back(now);
            true
        } else {
            false
        }
    }
}

/// One sliding window per (bucket, endpoint); a bucket is an API key or `""` for public.
#[derive(Debug, Default)]
pub(crate) struct Limiter {
    windows: Mutex<HashMap<(String, &'static str), SlidingWindow>>,
}

impl Limiter {
    pub(crate) fn try_acquire(&self, bucket: &str, endpoint: &'static str, limit: RateLimit) -> bool {
        let mut windows = self
            .windows
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        windows
            .entry((bucket.to_string(), endpoint))
            .or_default()
            .try_acquire(Instant::now(), limit)
    }
}
