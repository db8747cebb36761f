//! What the user reads: one message style for every command and every layer.
//!
//! Three levels, each with one meaning:
//! - `error:` a problem that fails the run (the exit code is not 0, e.g. 4 for a data
//!   problem);
//! - `warning:` a problem that does not fail the run (it is worth a cron mail);
//! - `note:` advice or a normal state ("before the account's first activity"); left out
//!   with `--quiet`, so a healthy nightly run prints nothing at all.
//!
//! A message may carry detail lines (the ranges an incomplete report misses, an error's
//! causes): printed under it, indented, but not with `--quiet`, where every message is one
//! line (the details are in `sync-summary.json` / `summary.json`). An error is always one
//! line (and its details one line each), whole for a log grep; without `--quiet` notes and
//! warnings are wrapped to [`WIDTH`] columns at spaces. Colour marks the level only, only on a
//! terminal and never with `NO_COLOR` (the caller decides: `settings` reads the
//! environment).
//!
//! A [`Console`] is a cheap handle. Lower layers do not print: they return [`Message`]s (or
//! counts) and the command hands them to its console. [`Console::labelled`] prefixes every
//! line with a profile's name, so several profiles can run in one process;
//! [`Console::buffer`] collects lines instead of printing them (per-profile reports,
//! tests). Progress bars register as the terminal's [`LiveArea`]: messages are printed with
//! the bars suspended, and [`Console::clear_live`] removes them for good (before
//! `interrupted`).

use serde::Serialize;
use std::io::Write;
use std::sync::{Arc, Mutex};

/// Widest line of a message (a classic terminal).
pub const WIDTH: usize = 80;

/// How serious a message is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    /// A problem that fails the run.
    Error,
    /// A problem that does not fail the run.
    Warning,
    /// Advice or a normal state; not shown with `--quiet`.
    Note,
}

impl Level {
    pub fn label(self) -> &'static str {
        match self {
            Level::Error => "error",
            Level::Warning => "warning",
            Level::Note => "note",
        }
    }

    /// ANSI colour of the label (bold red, bold yellow, bold cyan).
    fn colour(self) -> &'static str {
        match self {
            Level::Error => "\x1b[1;31m",
            Level::Warning => "\x1b[1;33m",
            Level::Note => "\x1b[1;36m",
        }
    }
}

/// One message for the user: a level, one line of text and optional detail lines.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Message {
    pub level: Level,
    pub text: String,
    /// Shown under the text, not with `--quiet`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub details: Vec<String>,
}

impl Message {
    pub fn new(level: Level, text: impl Into<String>) -> Message {
        Message {
            level,
            text: text.into(),
            details: Vec::new(),
        }
    }
    pub fn error(text: impl Into<String>) -> Message {
        Message::new(Level::Error, text)
    }
    pub fn warning(text: impl Into<String>) -> Message {
        Message::new(Level::Warning, text)
    }
    pub fn note(text: impl Into<String>) -> Message {
        Message::new(Level::Note, text)
    }
    #[must_use]
    pub fn with_details(mut self, details: impl IntoIterator<Item = String>) -> Message {
        self.details.extend(details);
        self
    }
}

/// Whatever a terminal shows that messages must not be drawn over (progress bars).
pub trait LiveArea: Send + Sync {
    /// Runs `print` with the area hidden, then draws it again.
    fn suspend(&self, print: &mut dyn FnMut());
    /// Removes the area from the screen for good.
    fn clear(&self);
}

/// The terminal's live area: one per process, as the terminal is.
static LIVE: Mutex<Option<Arc<dyn LiveArea>>> = Mutex::new(None);

/// Which output a buffered line was meant for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

/// A line a [`Console::buffer`] collected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub stream: Stream,
    pub text: String,
}

enum Sink {
    Terminal,
    Buffer(Mutex<Vec<Line>>),
}

/// Where messages go and how they look; see the module doc.
#[derive(Clone)]
pub struct Console {
    sink: Arc<Sink>,
    label: Option<Arc<str>>,
    quiet: bool,
    colour: bool,
}

impl std::fmt::Debug for Console {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Console")
            .field("label", &self.label)
            .field("quiet", &self.quiet)
            .field("colour", &self.colour)
            .finish_non_exhaustive()
    }
}

/// Whether to colour the level labels: only on a terminal, never when `NO_COLOR` is set
/// to anything but the empty string (no-color.org).
pub fn colour_wanted(is_terminal: bool, no_color: Option<&str>) -> bool {
    is_terminal && no_color.is_none_or(str::is_empty)
}

impl Console {
    /// Messages to stderr, result lines to stdout.
    pub fn terminal(quiet: bool, colour: bool) -> Console {
        Console {
            sink: Arc::new(Sink::Terminal),
            label: None,
            quiet,
            colour,
        }
    }

    /// Collects every line (never coloured); read them with [`Console::lines`].
    pub fn buffer(quiet: bool) -> Console {
        Console {
            sink: Arc::new(Sink::Buffer(Mutex::new(Vec::new()))),
            label: None,
            quiet,
            colour: false,
        }
    }

    /// The same console without a label (what several labelled members do together).
    #[must_use]
    pub fn unlabelled(&self) -> Console {
        Console {
            label: None,
            ..self.clone()
        }
    }

    /// The same console, every line prefixed with `[label] `.
    #[must_use]
    pub fn labelled(&self, label: &str) -> Console {
        Console {
            label: Some(Arc::from(label)),
            ..self.clone()
        }
    }

    pub fn quiet(&self) -> bool {
        self.quiet
    }

    /// Whether level labels are coloured (the log lines follow the same choice).
    pub fn colour(&self) -> bool {
        self.colour
    }

    /// What a buffer collected so far (empty for a terminal console).
    pub fn lines(&self) -> Vec<Line> {
        match &*self.sink {
            Sink::Terminal => Vec::new(),
            Sink::Buffer(b) => b.lock().expect("console buffer").clone(),
        }
    }

    pub fn error(&self, text: impl Into<String>) {
        self.emit(&Message::error(text));
    }
    pub fn warning(&self, text: impl Into<String>) {
        self.emit(&Message::warning(text));
    }
    pub fn note(&self, text: impl Into<String>) {
        self.emit(&Message::note(text));
    }

    /// Prints a message (a note not with `--quiet`).
    pub fn emit(&self, m: &Message) {
        if m.level == Level::Note && self.quiet {
            return;
        }
        let lines = self.render(m);
        self.write(Stream::Stderr, &lines);
    }

    /// A result line on stdout (tables, summaries), not with `--quiet`: a quiet success
    /// prints nothing, so cron mails nothing.
    pub fn out(&self, line: impl AsRef<str>) {
        if self.quiet {
            return;
        }
        let text = match &self.label {
            Some(l) => format!("[{l}] {}", line.as_ref()),
            None => line.as_ref().to_string(),
        };
        self.write(Stream::Stdout, &[text]);
    }

    /// The columns of [`WIDTH`] a line has after this console's `[label] `.
    pub fn room(&self) -> usize {
        WIDTH - self.label.as_ref().map_or(0, |l| l.chars().count() + 3)
    }

    /// A sentence for the user on stdout ([`Console::out`]), wrapped to [`WIDTH`] columns
    /// with its label: the lines after the first are indented by two spaces. Tables use
    /// [`Console::out`], which keeps each row whole.
    pub fn prose(&self, text: impl AsRef<str>) {
        for line in wrap_lines(text.as_ref(), self.room(), "  ") {
            self.out(line);
        }
    }

    /// A line on stderr as it is, also with `--quiet` (what a failure prints last, e.g.
    /// `interrupted; run sync again to resume`).
    pub fn plain(&self, line: impl AsRef<str>) {
        let text = match &self.label {
            Some(l) => format!("[{l}] {}", line.as_ref()),
            None => line.as_ref().to_string(),
        };
        self.write(Stream::Stderr, &[text]);
    }

    /// Prints the error a run failed with: with `--quiet` one line (`error: what: cause;
    /// hint: fix`), else the error, its causes under it (`caused by: …`) and the hint.
    pub fn failure(&self, err: &anyhow::Error, hint: Option<&str>) {
        let mut causes: Vec<String> = Vec::new();
        let top = err.to_string();
        for c in err.chain().skip(1) {
            let text = c.to_string();
            // Sources that repeat what is already said add nothing.
            if !top.contains(&text) && !causes.iter().any(|p| p.contains(&text)) {
                causes.push(text);
            }
        }
        let mut lines = if self.quiet {
            let mut line = std::iter::once(top).chain(causes).collect::<Vec<_>>().join(": ");
            if let Some(h) = hint {
                line = format!("{line}; hint: {h}");
            }
            self.render(&Message::error(line))
        } else {
            let details = causes.into_iter().map(|c| format!("caused by: {c}"));
            self.render(&Message::error(top).with_details(details))
        };
        if let (false, Some(h)) = (self.quiet, hint) {
            let hint = Console {
                colour: false,
                ..self.clone()
            };
            let mut l = hint.render(&Message::note(h));
            // The same style, its own word.
            if let Some(first) = l.first_mut() {
                *first = first.replacen("note: ", "hint: ", 1);
            }
            lines.extend(l);
        }
        self.write(Stream::Stderr, &lines);
    }

    /// The lines of a message as they will be printed.
    pub fn render(&self, m: &Message) -> Vec<String> {
        let prefix = self.label.as_ref().map(|l| format!("[{l}] ")).unwrap_or_default();
        let label = m.level.label();
        let head = if self.colour {
            format!("{prefix}{}{label}:\x1b[0m ", m.level.colour())
        } else {
            format!("{prefix}{label}: ")
        };
        // The columns the head takes on screen (colour codes take none).
        let head_cols = prefix.chars().count() + label.len() + 2;
        let indent = format!("{prefix}  ");
        // An error is one line (a log grep or a cron mail shows it whole, as every bad
        // input's error is); notes and warnings are wrapped to fit the terminal.
        if self.quiet || m.level == Level::Error {
            let mut lines = vec![format!("{head}{}", one_line(&m.text))];
            if !self.quiet {
                lines.extend(m.details.iter().map(|d| format!("{prefix}  {}", one_line(d))));
            }
            return lines;
        }
        let plen = prefix.chars().count();
        let mut out = wrap(&m.text, head_cols, plen + 2, WIDTH);
        let first = out.remove(0);
        let mut lines = vec![format!("{head}{first}")];
        lines.extend(out.into_iter().map(|l| format!("{indent}{l}")));
        for d in &m.details {
            for (i, l) in wrap(d, plen + 2, plen + 4, WIDTH).into_iter().enumerate() {
                let pad = if i == 0 { "  " } else { "    " };
                lines.push(format!("{prefix}{pad}{l}"));
            }
        }
        lines
    }

    fn write(&self, stream: Stream, lines: &[String]) {
        match &*self.sink {
            Sink::Buffer(b) => {
                let mut b = b.lock().expect("console buffer");
                b.extend(lines.iter().map(|t| Line {
                    stream,
                    text: t.clone(),
                }));
            }
            Sink::Terminal => {
                let mut print = || {
                    // A closed pipe (`| head`) is not an error worth a panic here; the
                    // command's own output path reports it.
                    match stream {
                        Stream::Stdout => {
                            let mut o = std::io::stdout().lock();
                            for l in lines {
                                let _ = writeln!(o, "{l}");
                            }
                        }
                        Stream::Stderr => {
                            let mut e = std::io::stderr().lock();
                            for l in lines {
                                let _ = writeln!(e, "{l}");
                            }
                        }
                    }
                };
                let live = LIVE.lock().expect("live area").clone();
                match live {
                    Some(area) => area.suspend(&mut print),
                    None => print(),
                }
            }
        }
    }

    /// Registers the terminal's live area (progress bars); messages are then printed with
    /// it suspended.
    pub fn set_live(&self, area: Arc<dyn LiveArea>) {
        if matches!(*self.sink, Sink::Terminal) {
            *LIVE.lock().expect("live area") = Some(area);
        }
    }

    /// Clears the live area off the screen and forgets it (the bars are done, or a signal
    /// stops the run: its message must not be drawn over).
    pub fn clear_live(&self) {
        let area = LIVE.lock().expect("live area").take();
        if let Some(area) = area {
            area.clear();
        }
    }
}

/// `text` as lines of at most `width` columns (split at spaces), the lines after the first
/// prefixed with `indent`: for tables on stdout that fit a width.
pub fn wrap_lines(text: &str, width: usize, indent: &str) -> Vec<String> {
    let n = indent.chars().count();
    let mut lines = wrap(text, 0, n, width);
    for l in lines.iter_mut().skip(1) {
        *l = format!("{indent}{l}");
    }
    lines
}

/// `text` with line breaks turned into spaces: one message, one line.
fn one_line(text: &str) -> String {
    text.split('\n').map(str::trim_end).collect::<Vec<_>>().join(" ")
}

/// The words of `text`, a number kept with the word after it (`0 without`): a line never
/// ends in a bare count whose meaning starts the next one.
fn units(text: &str) -> Vec<String> {
    let is_number = |w: &str| {
        w.chars().any(|c| c.is_ascii_digit())
            && w.chars()
                .all(|c| c.is_ascii_digit() || matches!(c, '.' | ',' | '('))
    };
    let mut out: Vec<String> = Vec::new();
    let mut glue = false;
    for word in text.split(' ').filter(|w| !w.is_empty()) {
        match out.last_mut() {
            Some(last) if glue => {
                last.push(' ');
                last.push_str(word);
            }
            _ => out.push(word.to_string()),
        }
        glue = is_number(word);
    }
    out
}

/// Splits `text` at spaces into lines: the first fits `width - first_used` columns, the
/// others `width - then_used`. A word longer than a line stays whole.
fn wrap(text: &str, first_used: usize, then_used: usize, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut cur = String::new();
    let mut room = width.saturating_sub(first_used).max(20);
    for word in units(&one_line(text)) {
        let word = word.as_str();
        let need = word.chars().count() + usize::from(!cur.is_empty());
        if !cur.is_empty() && cur.chars().count() + need > room {
            lines.push(std::mem::take(&mut cur));
            room = width.saturating_sub(then_used).max(20);
        }
        if !cur.is_empty() {
            cur.push(' ');
        }
        cur.push_str(word);
    }
    lines.push(cur);
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(c: &Console) -> Vec<String> {
        c.lines().into_iter().map(|l| l.text).collect()
    }

    /// A sentence fits 80 columns with its label; a table row (`out`) stays whole.
    #[test]
    fn prose_wraps_within_80_columns_label_included() {
        let c = Console::buffer(false).labelled("savings");
        let long = "prices: 35 candle requests (12 index, 23 spot; fewest covering pages 146), 3500 bars stored, 0 ECB requests; 631 rows valued, 0 without a value, 0 pending in 2.1 s";
        c.prose(long);
        let lines = texts(&c);
        assert!(lines.len() >= 3, "{lines:?}");
        assert!(lines.iter().all(|l| l.chars().count() <= WIDTH), "{lines:?}");
        assert!(lines.iter().all(|l| l.starts_with("[savings] ")), "{lines:?}");
        assert!(lines[1].starts_with("[savings]   "), "{lines:?}");
        let joined: Vec<&str> = lines
            .iter()
            .flat_map(|l| l.trim_start_matches("[savings] ").split_whitespace())
            .collect();
        assert_eq!(joined.join(" "), long);
        let row = "x".repeat(95);
        c.out(&row);
        assert_eq!(texts(&c).last().unwrap(), &format!("[savings] {row}"));
    }

    /// A count stays on the line of what it counts: the demo's price line broke as
    /// `… 1418 rows valued, 0` / `without a value, …`.
    #[test]
    fn a_number_is_not_left_at_a_line_end() {
        let text = "prices: 21000 bars stored, 2 ECB requests; 1418 rows valued, 0 without a value, 0 pending in 14.3 s";
        for width in 30..=100 {
            let lines = wrap_lines(text, width, "  ");
            for l in &lines[..lines.len() - 1] {
                let last = l.split(' ').next_back().unwrap();
                assert!(
                    !last.chars().all(|c| c.is_ascii_digit() || c == '.'),
                    "width {width}: {lines:?}"
                );
            }
            let joined: Vec<&str> = lines.iter().flat_map(|l| l.split_whitespace()).collect();
            assert_eq!(joined.join(" "), text);
        }
    }

    #[test]
    fn one_style_for_every_level() {
        let c = Console::buffer(false);
        c.error("the store is full");
        c.warning("2 records changed");
        c.note("2021Q1–2025Q2: before the account's first activity");
        c.out("report: 3 transactions");
        assert_eq!(
            texts(&c),
            [
                "error: the store is full",
                "warning: 2 records changed",
                "note: 2021Q1–2025Q2: before the account's first activity",
                "report: 3 transactions",
            ]
        );
        assert_eq!(c.lines()[3].stream, Stream::Stdout);
    }

    /// `--quiet`: no notes, no result lines, and every message one line without its
    /// details; problems still show.
    #[test]
    fn quiet_keeps_problems_on_one_line() {
        let c = Console::buffer(true);
        c.note("advice");
        c.out("table");
        let long = "word ".repeat(40);
        let loud = Console::buffer(false);
        loud.emit(&Message::error(format!("one {long}")).with_details([format!("two {long}")]));
        assert_eq!(
            texts(&loud).len(),
            2,
            "an error is one line, each detail one line"
        );
        c.emit(&Message::error(format!("a failure\nwith {long}")).with_details(["detail".to_string()]));
        c.warning("a problem");
        let lines = texts(&c);
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert!(lines[0].starts_with("error: a failure with word word"));
        assert!(!lines[0].contains('\n'));
        assert_eq!(lines[1], "warning: a problem");
    }

    #[test]
    fn lines_fit_80_columns() {
        let c = Console::buffer(false);
        let text = "2021Q1: before the account's first activity (oldest stored record 2025-07-01; every currency's oldest trading bill opens at zero): not applied for, nothing to fetch";
        c.emit(
            &Message::warning(text).with_details([
                "missing: trading ledger 2025-07-01 00:00 .. 2025-10-01 00:00: archive quarter 2025Q3 failed"
                    .to_string(),
            ]),
        );
        let lines = texts(&c);
        assert!(lines.len() >= 4, "{lines:?}");
        for l in &lines {
            assert!(l.chars().count() <= WIDTH, "{} columns: {l}", l.chars().count());
        }
        assert!(
            lines[1].starts_with("  ") && !lines[1].starts_with("   "),
            "{lines:?}"
        );
        let joined: Vec<&str> = lines.iter().flat_map(|l| l.split_whitespace()).collect();
        let whole = format!("warning: {text}");
        let expected: Vec<&str> = whole.split_whitespace().collect();
        assert_eq!(&joined[..expected.len()], &expected[..], "no word lost");
    }

    /// Several profiles in one process: each line names its profile.
    #[test]
    fn a_label_prefixes_every_line() {
        let c = Console::buffer(false);
        let company = c.labelled("company");
        company.warning("Simple Earn balances unavailable");
        company.out("sync: 3 new records");
        c.note("unlabelled");
        assert_eq!(
            texts(&c),
            [
                "[company] warning: Simple Earn balances unavailable",
                "[company] sync: 3 new records",
                "note: unlabelled",
            ]
        );
    }

    /// A failure: its causes and hint under it, or all on one line with `--quiet`.
    #[test]
    fn a_failure_is_one_line_when_quiet() {
        let err = anyhow::anyhow!("database or disk is full")
            .context("storing a page of `bills`")
            .context("stream `bills`");
        let loud = Console::buffer(false);
        loud.failure(&err, Some("free space"));
        assert_eq!(
            texts(&loud),
            [
                "error: stream `bills`",
                "  caused by: storing a page of `bills`",
                "  caused by: database or disk is full",
                "hint: free space",
            ]
        );
        let quiet = Console::buffer(true);
        quiet.failure(&err, Some("free space"));
        assert_eq!(
            texts(&quiet),
            ["error: stream `bills`: storing a page of `bills`: database or disk is full; hint: free space"]
        );
    }

    /// A live area (progress bars) is suspended around every message and cleared before
    /// the last one (`interrupted`), so nothing draws over it or leaves stale copies.
    #[test]
    fn messages_suspend_the_live_area_and_clear_it() {
        #[derive(Default)]
        struct Recorder(Mutex<Vec<&'static str>>);
        impl LiveArea for Recorder {
            fn suspend(&self, print: &mut dyn FnMut()) {
                self.0.lock().unwrap().push("suspend");
                print();
                self.0.lock().unwrap().push("resume");
            }
            fn clear(&self) {
                self.0.lock().unwrap().push("clear");
            }
        }
        let area = Arc::new(Recorder::default());
        let c = Console::terminal(true, false);
        c.set_live(area.clone());
        c.warning("a problem");
        c.clear_live();
        c.plain("interrupted");
        assert_eq!(*area.0.lock().unwrap(), ["suspend", "resume", "clear"]);
        assert!(LIVE.lock().unwrap().is_none(), "forgotten once cleared");
    }

    #[test]
    fn colour_only_on_a_terminal_and_never_with_no_color() {
        assert!(colour_wanted(true, None));
        assert!(colour_wanted(true, Some("")));
        assert!(!colour_wanted(true, Some("1")));
        assert!(!colour_wanted(false, None));
        let c = Console::terminal(false, true);
        let l = c.render(&Message::error("x"));
        assert_eq!(l, ["\x1b[1;31merror:\x1b[0m x"]);
        let plain = Console::terminal(false, false).render(&Message::error("x"));
        assert_eq!(plain, ["error: x"]);
    }
}
