//! Progress bars (indicatif), one per stream, drawn only on a terminal.

use crate::sync::stream::{Progress, StreamReport};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::collections::HashMap;
use std::io::IsTerminal;
use std::sync::{Arc, Mutex};

/// Bars keyed by stream name.
pub struct Bars {
    multi: MultiProgress,
    bars: Mutex<HashMap<String, (ProgressBar, u64)>>,
    style: ProgressStyle,
}

impl Bars {
    /// Bars on stderr when it is a terminal and progress is wanted; else nothing.
    pub fn for_stderr(wanted: bool) -> Arc<dyn Progress> {
        if !wanted || !std::io::stderr().is_terminal() {
            return Arc::new(crate::sync::stream::NoProgress);
        }
        let style =
            ProgressStyle::with_template("{spinner} {prefix:<28} {human_pos:>8} records  {msg}  {per_sec}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner());
        Arc::new(Bars {
            multi: MultiProgress::with_draw_target(ProgressDrawTarget::stderr()),
            bars: Mutex::new(HashMap::new()),
            style,
        })
    }

    fn with_bar(&self, stream: &str, f: impl FnOnce(&ProgressBar, &mut u64)) {
        let mut bars = self.bars.lock().expect("bars lock");
        let entry = bars.entry(stream.to_string()).or_insert_with(|| {
            let bar = self.multi.add(ProgressBar::new_spinner());
            bar.set_style(self.style.clone());
            bar.set_prefix(stream.to_string());
            (bar, 0)
        });
        f(&entry.0, &mut entry.1);
    }
}

impl Progress for Bars {
    fn on_page(&self, stream: &str, fetched: u64, new: u64) {
        self.with_bar(stream, |bar, pages| {
            *pages += 1;
            bar.inc(fetched);
            bar.set_message(format!("{pages} pages, {new} new in last"));
            bar.tick();
        });
    }

    fn on_done(&self, stream: &str, report: &StreamReport) {
        self.with_bar(stream, |bar, _| {
            bar.finish_with_message(format!("done: {} new", report.new));
        });
    }
}

/// Prints `retrying <endpoint> (attempt n, next in s)` above the bars.
pub fn retry_hook() -> crate::okx::client::RetryHook {
    crate::okx::client::RetryHook(Arc::new(|e: &crate::okx::client::RetryEvent| {
        if std::io::stderr().is_terminal() {
            eprintln!(
                "retrying {} (attempt {}, next in {:.1}s): {}",
                e.endpoint,
                e.attempt,
                e.next_in.as_secs_f64(),
                e.reason
            );
        }
    }))
}
