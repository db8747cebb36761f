//! How far a running sync has fetched the history that rows are made of (issue 23), so the
//! price stage can price a time range as soon as its rows are all stored, while the sync
//! goes on ([`crate::prices::alongside`]).
//!
//! Rows come from the two ledgers, trading bills (`bills`, `bills-archive`, the quarterly
//! archive files) and funding bills (`asset-bills`, `asset-bills-history`), and from the
//! Dual Investment orders (a collection settled in another currency is booked by its order);
//! fills, deposits, withdrawals and converts only enrich rows, never change which assets a
//! row has or when. Each stream of those is *expected* over the times it can hold (its
//! floor to the end of its part, [`super::plan`]); a stream pages newest first, so after
//! each page everything it will store at or after the page's oldest record is stored
//! ([`Progress::on_stored_from`]); an archive quarter is complete once its file is stored
//! or it is known to have no activity ([`Progress::on_stored_range`]); a stream that ends
//! blocks nothing more. A time is *complete* when no stream still expects rows there.
//!
//! A stream that fails keeps blocking its times: the sync then fails, and nothing is
//! priced from a history that is not whole.

use super::plan::{self, StreamPlan};
use super::stream::{Progress, StreamReport, StreamSpec};
use crate::store::RecordKind;
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use tokio::sync::watch;

/// One stream's times still to come.
#[derive(Debug, Clone)]
struct Expected {
    /// The times it can hold: `[from, to)`.
    from: i64,
    to: i64,
    /// Everything at or after this is stored.
    stored_from: i64,
    /// Sub-ranges stored (archive quarters).
    stored: Vec<(i64, i64)>,
}

impl Expected {
    /// The times it still blocks, newest first.
    fn blocked(&self) -> Vec<(i64, i64)> {
        let mut out = Vec::new();
        let mut top = self.to.min(self.stored_from);
        let mut stored = self.stored.clone();
        stored.sort_unstable_by(|a, b| b.cmp(a));
        for (a, b) in stored {
            if a >= top {
                continue;
            }
            if b < top {
                out.push((b.max(self.from), top));
            }
            top = a;
            if top <= self.from {
                break;
            }
        }
        if top > self.from {
            out.push((self.from, top));
        }
        out.retain(|(a, b)| a < b);
        out
    }
}

#[derive(Debug, Default)]
struct State {
    expected: BTreeMap<String, Expected>,
    started: bool,
    /// The sync is over: `Some(true)` when it succeeded.
    over: Option<bool>,
}

/// A running sync's progress through the history (see the module docs).
#[derive(Debug)]
pub struct Frontier {
    state: Mutex<State>,
    changed: watch::Sender<u64>,
}

/// Where the sync is, as the price stage reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reach {
    /// The sync has not opened its store yet.
    NotStarted,
    /// These ranges `[from, to)` (sorted, disjoint) hold all their rows.
    Running(Vec<(i64, i64)>),
    /// The sync is over (`true`: it succeeded; then everything is complete).
    Over(bool),
}

impl Frontier {
    pub fn new() -> Arc<Frontier> {
        Arc::new(Frontier {
            state: Mutex::new(State::default()),
            changed: watch::channel(0).0,
        })
    }

    fn update(&self, f: impl FnOnce(&mut State)) {
        f(&mut self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner));
        self.changed.send_modify(|n| *n += 1);
    }

    /// A receiver that sees every change.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }

    /// The sync has opened and migrated its store, and expects its streams.
    pub fn start(&self) {
        self.update(|s| s.started = true);
    }

    /// `stream` will store rows with times in `[from, to)` in this run.
    pub fn expect(&self, stream: &str, from: i64, to: i64) {
        self.update(|s| {
            s.expected.insert(
                stream.to_string(),
                Expected {
                    from,
                    to,
                    stored_from: i64::MAX,
                    stored: Vec::new(),
                },
            );
        });
    }

    /// Everything `stream` stores in this run at or after `ms` is stored.
    pub fn stored_from(&self, stream: &str, ms: i64) {
        self.update(|s| {
            if let Some(e) = s.expected.get_mut(stream) {
                e.stored_from = e.stored_from.min(ms);
            }
        });
    }

    /// Everything `stream` has in `[from, to)` is stored.
    pub fn stored_range(&self, stream: &str, from: i64, to: i64) {
        self.update(|s| {
            if let Some(e) = s.expected.get_mut(stream) {
                e.stored.push((from, to));
            }
        });
    }

    /// `stream` has ended: it stores nothing more.
    pub fn done(&self, stream: &str) {
        self.update(|s| {
            s.expected.remove(stream);
        });
    }

    /// The sync is over (`ok`: it succeeded).
    pub fn finish(&self, ok: bool) {
        self.update(|s| s.over = Some(ok));
    }

    /// Where the sync is now.
    pub fn reach(&self) -> Reach {
        let s = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(ok) = s.over {
            return Reach::Over(ok);
        }
        if !s.started {
            return Reach::NotStarted;
        }
        let mut blocked: Vec<(i64, i64)> = s.expected.values().flat_map(Expected::blocked).collect();
        blocked.sort_unstable();
        let mut out = Vec::new();
        let mut cur = i64::MIN;
        for (a, b) in blocked {
            if a > cur {
                out.push((cur, a));
            }
            cur = cur.max(b);
        }
        if cur < i64::MAX {
            out.push((cur, i64::MAX));
        }
        Reach::Running(out)
    }

    /// A [`Progress`] that reports to `inner` and keeps this frontier.
    pub fn tracking(self: &Arc<Self>, inner: Arc<dyn Progress>) -> Arc<dyn Progress> {
        Arc::new(Tracking {
            inner,
            frontier: self.clone(),
        })
    }
}

/// Expects `spec`'s rows, if rows are made of its records: below the end of its part
/// (`p.upto`), and (for `bills-archive` when an archive file serves the older part,
/// `boundary`) above its floor; any other stream's last page may hold records older than
/// its floor, so it blocks everything below it until it ends.
pub fn expect_stream(f: &Frontier, spec: &StreamSpec, p: &StreamPlan, boundary: bool) {
    if !matches!(spec.kind, RecordKind::Bill | RecordKind::FundingBill) {
        return;
    }
    let from = if boundary && spec.name == plan::BILLS_ARCHIVE {
        p.floor.timestamp_millis()
    } else {
        i64::MIN
    };
    let to = p
        .upto
        .map_or(i64::MAX, |u| u.timestamp_millis().saturating_add(1));
    f.expect(&spec.name, from, to);
}

/// Expects the archive's quarters (older than the API windows, from `since`): each is
/// complete once stored, or known to have no activity.
pub fn expect_archive(f: &Frontier, since: DateTime<Utc>, now: DateTime<Utc>) {
    let quarters = super::quarter::quarters_needed(since, now, plan::bills_archive_window());
    if let (Some(first), Some(last)) = (quarters.first(), quarters.last()) {
        f.expect(
            super::archive::ARCHIVE,
            first.start().timestamp_millis(),
            last.end().timestamp_millis(),
        );
    }
}

/// See [`Frontier::tracking`].
struct Tracking {
    inner: Arc<dyn Progress>,
    frontier: Arc<Frontier>,
}

impl Progress for Tracking {
    fn on_page(&self, stream: &str, fetched: u64, new: u64) {
        self.inner.on_page(stream, fetched, new);
    }

    fn on_done(&self, stream: &str, report: &StreamReport) {
        // The archive ends with quarters it could not store: they keep blocking (the sync
        // pages the boundary quarter's part or fails).
        if stream != super::archive::ARCHIVE {
            self.frontier.done(stream);
        }
        self.inner.on_done(stream, report);
    }

    fn on_state(&self, stream: &str, state: &str) {
        self.inner.on_state(stream, state);
    }

    fn finish(&self) {
        self.inner.finish();
    }

    fn on_stored_from(&self, stream: &str, ms: i64) {
        self.frontier.stored_from(stream, ms);
    }

    fn on_stored_range(&self, stream: &str, from_ms: i64, to_ms: i64) {
        self.frontier.stored_range(stream, from_ms, to_ms);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ranges(f: &Frontier) -> Vec<(i64, i64)> {
        match f.reach() {
            Reach::Running(r) => r,
            other => panic!("{other:?}"),
        }
    }

    /// Streams page newest first; a range is complete once no stream expects rows in it;
    /// an archive quarter completes on its own; an ended stream blocks nothing.
    #[test]
    fn a_range_is_complete_when_no_stream_expects_rows_there() {
        let f = Frontier::new();
        assert_eq!(f.reach(), Reach::NotStarted);
        f.start();
        f.expect("bills-archive", 100, 1000);
        f.expect("asset-bills-history", 0, i64::MAX);
        f.expect("archive", 0, 100);
        assert_eq!(ranges(&f), vec![(i64::MIN, 0)]);
        f.stored_from("asset-bills-history", 500);
        assert_eq!(ranges(&f), vec![(i64::MIN, 0), (1000, i64::MAX)]);
        f.stored_from("bills-archive", 700);
        assert_eq!(ranges(&f), vec![(i64::MIN, 0), (700, i64::MAX)]);
        f.stored_from("bills-archive", 300);
        assert_eq!(ranges(&f), vec![(i64::MIN, 0), (500, i64::MAX)]);
        f.stored_from("asset-bills-history", 50);
        assert_eq!(ranges(&f), vec![(i64::MIN, 0), (300, i64::MAX)]);
        // The archive's quarter [50, 100) is stored: only bills-archive blocks above it.
        f.stored_range("archive", 50, 100);
        assert_eq!(ranges(&f), vec![(i64::MIN, 0), (50, 100), (300, i64::MAX)]);
        f.done("bills-archive");
        assert_eq!(ranges(&f), vec![(i64::MIN, 0), (50, i64::MAX)]);
        f.done("asset-bills-history");
        f.stored_range("archive", 0, 50);
        assert_eq!(ranges(&f), vec![(i64::MIN, i64::MAX)]);
        let rx = f.subscribe();
        f.finish(true);
        assert!(rx.has_changed().unwrap());
        assert_eq!(f.reach(), Reach::Over(true));
    }

    #[test]
    fn blocked_parts_of_one_stream() {
        let e = Expected {
            from: 0,
            to: 100,
            stored_from: 80,
            stored: vec![(10, 20), (50, 90), (30, 40)],
        };
        assert_eq!(e.blocked(), vec![(40, 50), (20, 30), (0, 10)]);
    }
}
