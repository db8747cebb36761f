//! Progress lines (indicatif), one per stream, drawn only on a terminal.
//!
//! Each line is rendered here, not by an indicatif template, so it can be checked: at most
//! [`WIDTH`] columns, a rate over the last [`RATE_WINDOW`] (indicatif's own per-second
//! figure jumps to millions when a page lands at once), and the stream's state (the
//! archive shows applying / generating / downloading from the start). The lines are
//! cleared before the final summary table is printed.

use crate::console::{Console, LiveArea};
use crate::sync::stream::{Progress, StreamReport};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::collections::{HashMap, VecDeque};
use std::io::IsTerminal;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Widest line drawn (a classic terminal).
pub const WIDTH: usize = 80;
/// The rate is measured over this much recent time.
pub const RATE_WINDOW: Duration = Duration::from_secs(5);

/// What one stream's line shows.
#[derive(Debug, Clone)]
pub struct StreamLine {
    name: String,
    records: u64,
    new: u64,
    pages: u64,
    state: String,
    started: Instant,
    finished: Option<Instant>,
    /// (time, records so far), oldest first, covering at least the rate window.
    samples: VecDeque<(Instant, u64)>,
}

impl StreamLine {
    pub fn new(name: &str, now: Instant) -> StreamLine {
        StreamLine {
            name: name.to_string(),
            records: 0,
            new: 0,
            pages: 0,
            state: "starting".into(),
            started: now,
            finished: None,
            samples: VecDeque::from([(now, 0)]),
        }
    }

    pub fn page(&mut self, fetched: u64, new: u64, now: Instant) {
        self.pages += 1;
        self.records += fetched;
        self.new += new;
        self.state = "fetching".into();
        self.samples.push_back((now, self.records));
        while self.samples.len() > 2 && now - self.samples[1].0 >= RATE_WINDOW {
            self.samples.pop_front();
        }
    }

    pub fn set_state(&mut self, state: &str) {
        self.state = state.to_string();
    }

    pub fn done(&mut self, now: Instant) {
        self.finished = Some(now);
        self.state = "done".into();
    }

    /// Records per second: over the whole run once done, else over the recent window
    /// (nothing until a second of it has passed, rather than a made-up figure).
    pub fn rate(&self, now: Instant) -> Option<f64> {
        let (t0, n0) = match self.finished {
            Some(_) => (self.started, 0),
            None => *self.samples.front()?,
        };
        let end = self.finished.unwrap_or(now);
        let secs = end.saturating_duration_since(t0).as_secs_f64();
        let enough = if self.finished.is_some() { 0.1 } else { 1.0 };
        (secs >= enough).then(|| (self.records - n0) as f64 / secs)
    }

    /// The line, at most [`WIDTH`] columns.
    pub fn render(&self, now: Instant) -> String {
        let rate = match self.rate(now) {
            Some(r) => format!("{}/s", group(r.round() as u64)),
            None => "-".into(),
        };
        let line = format!(
            "{:<21} {:>9} rec {:>9} new {:>8}  {}",
            self.name,
            group(self.records),
            group(self.new),
            rate,
            self.state
        );
        fit(&line, WIDTH - 2) // the spinner and its space
    }
}

/// `1234567` → `1,234,567`.
pub fn group(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Cuts `s` to `width` columns, marking the cut with `…`.
fn fit(s: &str, width: usize) -> String {
    if s.chars().count() <= width {
        return s.to_string();
    }
    let mut out: String = s.chars().take(width - 1).collect();
    out.push('…');
    out
}

/// Bars keyed by stream name.
pub struct Bars {
    multi: MultiProgress,
    lines: Mutex<HashMap<String, (ProgressBar, StreamLine)>>,
    style: ProgressStyle,
    console: Console,
}

impl LiveArea for Bars {
    fn suspend(&self, print: &mut dyn FnMut()) {
        self.multi.suspend(print);
    }

    fn clear(&self) {
        self.clear_all();
    }
}

impl Bars {
    /// Bars on stderr when it is a terminal and progress is wanted; else nothing. The bars
    /// are `console`'s live area: its messages are printed with them suspended, and a
    /// signal clears them before `interrupted` is printed.
    pub fn for_stderr(wanted: bool, console: &Console) -> Arc<dyn Progress> {
        if !wanted || !std::io::stderr().is_terminal() {
            return Arc::new(crate::sync::stream::NoProgress);
        }
        let style = ProgressStyle::with_template("{spinner} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner());
        let bars = Arc::new(Bars {
            multi: MultiProgress::with_draw_target(ProgressDrawTarget::stderr()),
            lines: Mutex::new(HashMap::new()),
            style,
            console: console.clone(),
        });
        console.set_live(bars.clone());
        bars
    }

    /// Removes every line from the screen.
    fn clear_all(&self) {
        for (bar, _) in self.lines.lock().expect("bars lock").values() {
            bar.finish_and_clear();
        }
        let _ = self.multi.clear();
    }

    fn with_line(&self, stream: &str, f: impl FnOnce(&mut StreamLine, Instant)) {
        let now = Instant::now();
        let mut lines = self.lines.lock().expect("bars lock");
        let (bar, line) = lines.entry(stream.to_string()).or_insert_with(|| {
            let bar = self.multi.add(ProgressBar::new_spinner());
            bar.set_style(self.style.clone());
            bar.enable_steady_tick(Duration::from_millis(250));
            (bar, StreamLine::new(stream, now))
        });
        f(line, now);
        bar.set_message(line.render(now));
    }
}

impl Progress for Bars {
    fn on_page(&self, stream: &str, fetched: u64, new: u64) {
        self.with_line(stream, |l, now| l.page(fetched, new, now));
    }

    fn on_state(&self, stream: &str, state: &str) {
        self.with_line(stream, |l, _| l.set_state(state));
    }

    fn on_done(&self, stream: &str, _report: &StreamReport) {
        self.with_line(stream, StreamLine::done);
        if let Some((bar, _)) = self.lines.lock().expect("bars lock").get(stream) {
            bar.finish();
        }
    }

    fn finish(&self) {
        // The console forgets the bars and clears them.
        self.console.clear_live();
        self.clear_all();
    }
}

/// Prints `retrying <endpoint> (attempt n, next in s)` on a terminal, above the bars.
pub fn retry_hook(console: &Console) -> crate::okx::client::RetryHook {
    let console = console.clone();
    crate::okx::client::RetryHook(Arc::new(move |e: &crate::okx::client::RetryEvent| {
        if std::io::stderr().is_terminal() {
            let line = format!(
                "retrying {} (attempt {}, next in {:.1}s): {}",
                e.endpoint,
                e.attempt,
                e.next_in.as_secs_f64(),
                e.reason
            );
            console.plain(fit(&line, WIDTH));
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_fit_80_columns_at_their_widest() {
        let t0 = Instant::now();
        let mut l = StreamLine::new("bills-history-archive", t0);
        // The largest accounts seen: ten million records, 50,000 records/s.
        l.page(9_999_999, 9_999_999, t0 + Duration::from_secs(200));
        l.set_state("downloading 2025Q4");
        let s = l.render(t0 + Duration::from_secs(200));
        assert!(s.ends_with("downloading 2025Q4"), "{s}");
        l.set_state("generating 2025Q4, 2025Q3, 2025Q2");
        let s = l.render(t0 + Duration::from_secs(200));
        assert!(
            s.chars().count() <= WIDTH - 2,
            "{} columns: {s}",
            s.chars().count()
        );
        let mut short = StreamLine::new("fills", t0);
        short.page(100, 100, t0 + Duration::from_secs(1));
        let s = short.render(t0 + Duration::from_secs(2));
        assert_eq!(
            s,
            "fills                       100 rec       100 new     50/s  fetching"
        );
        assert!(!s.contains('…'));
    }

    /// The rate is records over the recent window, not the last page over a few
    /// microseconds; nothing is shown before a second has passed.
    #[test]
    fn rate_is_measured_over_a_window() {
        let t0 = Instant::now();
        let mut l = StreamLine::new("bills", t0);
        l.page(100, 100, t0 + Duration::from_micros(5));
        assert_eq!(l.rate(t0 + Duration::from_millis(10)), None);
        assert!(l.render(t0 + Duration::from_millis(10)).contains(" - "));
        for i in 1..=20 {
            l.page(100, 0, t0 + Duration::from_secs(i));
        }
        // 100 records a second, whatever the page bursts looked like.
        let r = l.rate(t0 + Duration::from_secs(20)).unwrap();
        assert!((r - 100.0).abs() < 25.0, "{r}");
        // A stall shows as a falling rate, not the last burst.
        let later = l.rate(t0 + Duration::from_secs(60)).unwrap();
        assert!(later < 20.0, "{later}");
        l.done(t0 + Duration::from_secs(21));
        let avg = l.rate(t0 + Duration::from_secs(99)).unwrap();
        assert!((avg - 2100.0 / 21.0).abs() < 1.0, "{avg}");
        assert!(l.render(t0).ends_with("done"));
    }

    #[test]
    fn thousands_are_grouped() {
        assert_eq!(group(0), "0");
        assert_eq!(group(999), "999");
        assert_eq!(group(1000), "1,000");
        assert_eq!(group(12_231_737), "12,231,737");
    }
}
