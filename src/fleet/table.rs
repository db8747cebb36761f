//! The `status --all` table: a header, one line per profile, a total; every line within
//! [`WIDTH`] columns. Times are UTC; the last sync shows month, day and time (its age
//! tells the year). The columns fit their content; the state comes last and takes what
//! is left, shortened with `…` when it must be (the whole reason and fix are in
//! `status --json`, and `status --profile NAME` shows the store in full).

use super::KeyProblem;
use super::status::{ClientStatus, State, age};
use std::fmt::Write as _;

/// Widest line.
pub const WIDTH: usize = 100;

/// The state column's text: the state and, for a problem, what it is and what to do.
pub fn state_text(s: &ClientStatus) -> String {
    let problem = s.problem.as_deref().unwrap_or_default();
    match s.state {
        State::Complete => "complete".into(),
        State::NeverSynced => "never synced: run sync".into(),
        State::Stale => format!(
            "stale: last sync {} ago: run sync",
            age(s.age_seconds.unwrap_or_default())
        ),
        State::Incomplete => match &s.fix {
            Some(f) => format!("incomplete: {problem}; fix: {f}"),
            None => format!("incomplete: {problem}"),
        },
        State::Failed => match s.key_problems.iter().find(|p| **p != KeyProblem::NoIpBound) {
            Some(p) => format!("failed: {}", p.short()),
            None => match &s.fix {
                Some(f) => format!("failed: {problem}; fix: {f}"),
                None => format!("failed: {problem}"),
            },
        },
    }
}

/// `text` cut to `width` characters, ending in `…` when cut.
fn fit(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        return text.to_string();
    }
    let mut out: String = text.chars().take(width.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// The cells before the state: profile, uid, acct, last sync, age, no value, key.
fn cells(s: &ClientStatus) -> [String; 7] {
    // The first (worst) problem, and how many more.
    let key = match s.key_problems.as_slice() {
        [] => "-".to_string(),
        [one] => one.label().to_string(),
        [first, rest @ ..] => format!("{}+{}", first.label(), rest.len()),
    };
    [
        fit(&s.profile, 16),
        fit(s.uid.as_deref().unwrap_or("-"), 20),
        s.account.unwrap_or("-").to_string(),
        s.last_sync
            .map_or_else(|| "-".into(), |t| t.format("%m-%d %H:%M").to_string()),
        s.age_seconds.map_or_else(|| "-".into(), age),
        s.rows_without_value.map_or_else(|| "-".into(), |n| n.to_string()),
        key,
    ]
}

/// The table's lines.
pub fn lines(rows: &[ClientStatus]) -> Vec<String> {
    const HEAD: [&str; 7] = ["profile", "uid", "acct", "last sync", "age", "no value", "key"];
    /// The right-aligned column (a count).
    const NUMBER: usize = 5;
    let cells: Vec<[String; 7]> = rows.iter().map(cells).collect();
    let mut widths = HEAD.map(|h| h.chars().count());
    for c in &cells {
        for (w, cell) in widths.iter_mut().zip(c) {
            *w = (*w).max(cell.chars().count());
        }
    }
    // The state keeps at least MIN_STATE columns where it can: the key and profile
    // columns give way (their cells cut with `…`), in that order, down to their floors.
    // A uid is never cut.
    const MIN_STATE: usize = 28;
    for (col, floor) in [(6, 11), (0, 10)] {
        let fixed: usize = widths.iter().sum::<usize>() + widths.len();
        let excess = (fixed + MIN_STATE).saturating_sub(WIDTH);
        widths[col] -= excess.min(widths[col].saturating_sub(floor));
    }
    let fixed: usize = widths.iter().sum::<usize>() + widths.len();
    let room = WIDTH.saturating_sub(fixed);
    let line = |c: &[String; 7], state: &str| {
        let mut l = String::new();
        for (i, (cell, w)) in c.iter().zip(widths).enumerate() {
            let cell = fit(cell, w);
            let _ = if i == NUMBER {
                write!(l, "{cell:>w$} ")
            } else {
                write!(l, "{cell:<w$} ")
            };
        }
        l.push_str(&fit(state, room));
        l.trim_end().to_string()
    };
    let mut out = vec![line(&HEAD.map(str::to_string), "state")];
    for (c, s) in cells.iter().zip(rows) {
        out.push(line(c, &state_text(s)));
    }
    out.push(fit(&totals(rows), WIDTH));
    out
}

/// `20 profiles: 17 complete, 2 failed, 1 stale`.
pub fn totals(rows: &[ClientStatus]) -> String {
    let order = [
        State::Complete,
        State::Incomplete,
        State::Failed,
        State::Stale,
        State::NeverSynced,
    ];
    let parts: Vec<String> = order
        .iter()
        .filter_map(|st| {
            let n = rows.iter().filter(|r| r.state == *st).count();
            (n > 0).then(|| format!("{n} {}", st.as_str()))
        })
        .collect();
    format!(
        "{} profile{}: {}",
        rows.len(),
        if rows.len() == 1 { "" } else { "s" },
        if parts.is_empty() {
            "none".into()
        } else {
            parts.join(", ")
        }
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};
    use std::path::PathBuf;

    fn row(profile: &str, state: State) -> ClientStatus {
        ClientStatus {
            profile: profile.into(),
            data_dir: PathBuf::from("output").join(profile),
            uid: Some("374579799097793561".into()),
            account: Some("master"),
            last_sync: Some(Utc.with_ymd_and_hms(2026, 2, 15, 3, 17, 0).unwrap()),
            age_seconds: Some(7200),
            last_run: None,
            state,
            problem: None,
            fix: None,
            missing: Vec::new(),
            exit: 0,
            rows_without_value: Some(0),
            key_problems: Vec::new(),
        }
    }

    /// Real 18-digit uids and long names: every line within 100 columns, the state cut
    /// with `…`, each profile on one line.
    #[test]
    fn one_line_per_profile_within_100_columns() {
        let mut revoked = row("a-very-long-client-name-indeed", State::Failed);
        revoked.key_problems = vec![KeyProblem::Revoked];
        revoked.exit = 3;
        let mut broken = row("bob", State::Failed);
        broken.problem = Some("no usable answer from `www.okx.com` for OKX `bills` after 9 attempts in 60.0s (9× connect error); last: connect error".into());
        broken.fix = Some("check the network".into());
        let mut inc = row("carol", State::Incomplete);
        inc.problem = Some("trading ledger: 2025-07-01 not covered (archive quarter 2025Q3 pending)".into());
        inc.fix = Some("run `okx-export sync` again".into());
        let mut never = row("dave", State::NeverSynced);
        never.uid = None;
        never.account = None;
        never.last_sync = None;
        never.age_seconds = None;
        never.rows_without_value = None;
        let mut trade = row("erin", State::Complete);
        trade.key_problems = vec![KeyProblem::CanTrade, KeyProblem::NoIpBound];
        trade.rows_without_value = Some(12_345);
        let rows = [revoked, broken, inc, never, trade];
        let lines = lines(&rows);
        assert_eq!(lines.len(), rows.len() + 2, "{lines:#?}");
        for l in &lines {
            assert!(l.chars().count() <= WIDTH, "{} columns: {l}", l.chars().count());
        }
        assert!(
            lines[0].starts_with("profile ") && lines[0].ends_with(" state"),
            "{}",
            lines[0]
        );
        assert!(
            lines[1].starts_with("a-very-lo… 374579799097793561 "),
            "{}",
            lines[1]
        );
        assert!(
            lines[1].contains("374579799097793561 master 02-15 03:17 2h"),
            "{}",
            lines[1]
        );
        assert!(
            lines[1].contains(" revoked ") && lines[1].contains("failed: key revoked"),
            "{}",
            lines[1]
        );
        assert!(
            lines[2].contains("failed: no usable") && lines[2].ends_with('…'),
            "{}",
            lines[2]
        );
        assert!(
            lines[4].starts_with("dave ") && lines[4].contains(" never synced"),
            "{}",
            lines[4]
        );
        assert!(lines[5].contains("12345 can-trade+1 complete"), "{}", lines[5]);
        assert_eq!(
            lines[6],
            "5 profiles: 1 complete, 1 incomplete, 2 failed, 1 never synced"
        );
        // Columns line up: the state starts at the same column on every line.
        let at = |l: &str, what: &str| l.find(what).unwrap();
        assert_eq!(at(&lines[0], "state"), at(&lines[5], "complete"));
        // Usual names and a simulator's 8-digit uids: a key problem's state whole.
        let mut short = rows.clone();
        short[0].profile = "client-01".into();
        for r in &mut short {
            r.uid = r.uid.as_ref().map(|_| "40000001".to_string());
        }
        let lines = super::lines(&short);
        assert!(
            lines[1].ends_with("revoked     failed: key revoked: make a new one"),
            "{}",
            lines[1]
        );
        assert!(lines.iter().all(|l| l.chars().count() <= WIDTH));
    }
}
