//! One profile's state, read from its store: the row of `status --all` and the object of
//! `status --json`.
//!
//! The state, worst first (the first that applies):
//!
//! | state | when | exit it adds to `status --all` |
//! |---|---|---|
//! | `failed` | the last sync failed (its reason and fix are shown) | the failed run's (1, 2 or 3) |
//! | `never_synced` | no store, or no sync recorded | 1 |
//! | `incomplete` | the store does not cover its history from the floor to the last sync (a range, an archive quarter), or a master has sub-accounts with holdings or transfers that no profile covers | 4 |
//! | `stale` | the last successful sync is older than `--stale-after` | 1 |
//! | `complete` | none of the above | 0 |

use super::{KeyFacts, KeyProblem, RunFailure};
use crate::error::Exit;
use crate::store::Store;
use anyhow::Result;
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A profile's state (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    Complete,
    Incomplete,
    Failed,
    NeverSynced,
    Stale,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Complete => "complete",
            State::Incomplete => "incomplete",
            State::Failed => "failed",
            State::NeverSynced => "never synced",
            State::Stale => "stale",
        }
    }
}

/// What `status` needs besides the store.
#[derive(Debug, Clone)]
pub struct StatusContext {
    pub now: DateTime<Utc>,
    /// Older successful syncs are `stale`.
    pub stale_after: Duration,
    /// Every configured profile with the uid its store recorded, to tell a master's
    /// sub-account that another profile covers from one without a key.
    pub profiles: Vec<(String, Option<String>)>,
}

/// One profile's row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClientStatus {
    pub profile: String,
    pub data_dir: PathBuf,
    pub uid: Option<String>,
    /// `master` or `sub`, when the store knows whose account it is.
    pub account: Option<&'static str>,
    /// When the last successful sync finished.
    pub last_sync: Option<DateTime<Utc>>,
    /// Seconds since then.
    pub age_seconds: Option<i64>,
    /// When the last sync (successful or not) started.
    pub last_run: Option<DateTime<Utc>>,
    pub state: State,
    /// What is wrong, on one line (`None` when complete).
    pub problem: Option<String>,
    /// What to do about it.
    pub fix: Option<String>,
    /// Ranges the store misses (incomplete), each with its fix.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub missing: Vec<String>,
    /// The exit this profile adds to `status --all` (see the module docs).
    pub exit: u8,
    /// Rows the last price stage (or report into the data dir) could not value; `None`
    /// when prices were never fetched.
    pub rows_without_value: Option<u64>,
    /// The key's problems seen at the last sync.
    pub key_problems: Vec<KeyProblem>,
}

impl ClientStatus {
    fn new(profile: &str, data_dir: &Path) -> ClientStatus {
        ClientStatus {
            profile: profile.to_string(),
            data_dir: data_dir.to_path_buf(),
            uid: None,
            account: None,
            last_sync: None,
            age_seconds: None,
            last_run: None,
            state: State::NeverSynced,
            problem: Some("no sync has run for this profile".into()),
            fix: Some(format!("okx-export --profile {profile} sync")),
            missing: Vec::new(),
            exit: Exit::Runtime as u8,
            rows_without_value: None,
            key_problems: Vec::new(),
        }
    }

    /// The profile's state from the store in `data_dir` (a store that cannot be read is
    /// `failed`, saying why).
    pub fn read(profile: &str, data_dir: &Path, ctx: &StatusContext) -> ClientStatus {
        let mut s = ClientStatus::new(profile, data_dir);
        if !data_dir.join(Store::FILE).exists() {
            return s;
        }
        if let Err(e) = s.read_store(ctx) {
            s.fail(RunFailure {
                exit: Exit::Runtime as u8,
                reason: format!(
                    "cannot read the store in `{}`: {}",
                    data_dir.display(),
                    super::one_line(&e)
                ),
                fix: Some("run `okx-export status` for this profile to see the whole error".into()),
                key_problems: Vec::new(),
            });
        }
        s
    }

    fn fail(&mut self, f: RunFailure) {
        self.state = State::Failed;
        self.problem = Some(f.reason);
        self.fix = f.fix;
        self.exit = f.exit;
        self.key_problems = f.key_problems;
    }

    fn read_store(&mut self, ctx: &StatusContext) -> Result<()> {
        let store = Store::open(&self.data_dir)?;
        let identity = store.identity()?;
        if let Some(id) = &identity {
            self.uid = Some(id.uid.clone());
            self.account = Some(if id.is_master() { "master" } else { "sub" });
        }
        self.rows_without_value = rows_without_value(&self.data_dir, &store)?;
        let ok = store.last_run_with("ok")?;
        self.last_sync = ok.as_ref().map(|r| r.finished_at.unwrap_or(r.started_at));
        self.age_seconds = self.last_sync.map(|t| (ctx.now - t).num_seconds().max(0));
        let Some((last, summary)) = store.last_run_summary()? else {
            return Ok(());
        };
        self.last_run = Some(last.started_at);
        let summary: serde_json::Value = serde_json::from_str(&summary).unwrap_or_default();
        if last.status != "ok" {
            self.fail(failure_of(&summary));
            return Ok(());
        }
        if let Some(k) = summary
            .get("key")
            .and_then(|k| serde_json::from_value::<KeyFacts>(k.clone()).ok())
        {
            self.key_problems = k.problems();
        }
        let (problem, fix, missing) = incompleteness(&store, identity.as_ref(), &self.profile, ctx)?;
        if let Some(problem) = problem {
            self.state = State::Incomplete;
            self.problem = Some(problem);
            self.fix = fix;
            self.missing = missing;
            self.exit = Exit::Data as u8;
            return Ok(());
        }
        let stale = self
            .age_seconds
            .is_some_and(|a| a.unsigned_abs() > ctx.stale_after.as_secs());
        if stale {
            self.state = State::Stale;
            self.problem = Some(format!(
                "the last successful sync is {} old (more than {})",
                age(self.age_seconds.unwrap_or_default()),
                age(i64::try_from(ctx.stale_after.as_secs()).unwrap_or(i64::MAX))
            ));
            self.fix = Some(format!("okx-export --profile {} sync", self.profile));
            self.exit = Exit::Runtime as u8;
            return Ok(());
        }
        self.state = State::Complete;
        self.problem = None;
        self.fix = None;
        self.exit = Exit::Success as u8;
        Ok(())
    }
}

/// The failure a failed run recorded; a run recorded before failures were (its summary's
/// first error) is a runtime failure.
fn failure_of(summary: &serde_json::Value) -> RunFailure {
    if let Some(f) = summary
        .get("failure")
        .and_then(|f| serde_json::from_value::<RunFailure>(f.clone()).ok())
    {
        return f;
    }
    let first = summary
        .get("errors")
        .and_then(|e| e.get(0))
        .and_then(serde_json::Value::as_str)
        .unwrap_or("the last sync failed");
    RunFailure {
        exit: Exit::Runtime as u8,
        reason: first.to_string(),
        fix: Some("run sync again; `okx-export status` shows what the store holds".into()),
        key_problems: Vec::new(),
    }
}

/// What keeps the store from being complete: the coverage's missing ranges, then a
/// master's sub-accounts that no profile covers. `(problem, fix, every missing line)`.
fn incompleteness(
    store: &Store,
    identity: Option<&crate::store::Identity>,
    profile: &str,
    ctx: &StatusContext,
) -> Result<(Option<String>, Option<String>, Vec<String>)> {
    let cov = crate::coverage::check(store, None, None)?;
    let mut lines: Vec<String> = cov.missing.iter().map(ToString::to_string).collect();
    let mut first = cov.missing.first().map(|m| {
        (
            format!(
                "{}: {} not covered ({})",
                m.group,
                m.from.format("%Y-%m-%d"),
                m.why
            ),
            m.fix.clone(),
        )
    });
    if identity.is_some_and(crate::store::Identity::is_master)
        && store.sub_accounts()?.is_some_and(|l| !l.subs.is_empty())
    {
        let member = crate::report::accounts::Member {
            profile,
            store,
            identity,
        };
        let acc = crate::report::accounts::check(
            &[member],
            &crate::report::AccountsContext {
                group: None,
                profiles: ctx.profiles.clone(),
            },
            None,
            None,
        )?;
        for l in acc.missing() {
            lines.push(format!(
                "sub-account `{}` is not covered; fix: {}",
                l.name, l.detail
            ));
            if first.is_none() {
                first = Some((
                    format!("sub-account `{}` has no profile", l.name),
                    l.detail.clone(),
                ));
            }
        }
    }
    let Some((what, fix)) = first else {
        return Ok((None, None, lines));
    };
    let problem = if lines.len() > 1 {
        format!("{what} and {} more", lines.len() - 1)
    } else {
        what
    };
    Ok((Some(problem), Some(fix), lines))
}

/// Distinct rows listed in the data dir's `missing_prices.csv` (0 when prices were fetched
/// and the file is gone; `None` when prices were never fetched).
fn rows_without_value(dir: &Path, store: &Store) -> Result<Option<u64>> {
    let path = dir.join("missing_prices.csv");
    if !path.exists() {
        return Ok(store.price_home()?.map(|_| 0));
    }
    let mut reader = csv::Reader::from_path(&path)?;
    let col = reader.headers()?.iter().position(|h| h == "row_ids");
    let mut rows = std::collections::BTreeSet::new();
    for rec in reader.records() {
        let rec = rec?;
        if let Some(ids) = col.and_then(|c| rec.get(c)) {
            rows.extend(ids.split(';').filter(|s| !s.is_empty()).map(str::to_string));
        }
    }
    Ok(Some(rows.len() as u64))
}

/// `45s`, `12m`, `5h`, `3d`: an age in its largest whole unit.
pub fn age(seconds: i64) -> String {
    match seconds {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m", s / 60),
        s if s < 86_400 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86_400),
    }
}

/// `--stale-after`: a whole number with a unit, `d` (days), `h`, `m` or `s`, e.g. `2d`,
/// `36h`.
pub fn parse_age(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    let (n, unit) = t.split_at(t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len()));
    let secs = match unit {
        "d" => 86_400,
        "h" => 3600,
        "m" => 60,
        "s" => 1,
        _ => 0,
    };
    match n.parse::<u64>() {
        Ok(n) if n > 0 && secs > 0 => Ok(Duration::from_secs(n * secs)),
        _ => Err(format!(
            "`{s}` is not an age; give a whole number and d, h or m, e.g. --stale-after 2d or 36h"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages() {
        assert_eq!(parse_age("2d"), Ok(Duration::from_secs(172_800)));
        assert_eq!(parse_age("36h"), Ok(Duration::from_secs(129_600)));
        assert_eq!(parse_age("90m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_age("5s"), Ok(Duration::from_secs(5)));
        for bad in ["", "2", "d", "0d", "1.5d", "2 days", "-1h", "2w"] {
            let e = parse_age(bad).unwrap_err();
            assert!(e.contains("--stale-after 2d"), "{bad}: {e}");
        }
        assert_eq!(
            [0, 59, 60, 3599, 3600, 86_399, 86_400, 900_000].map(age),
            ["0s", "59s", "1m", "59m", "1h", "23h", "1d", "10d"]
        );
    }

    #[test]
    fn a_profile_without_a_store_never_synced() {
        let dir = tempfile::tempdir().unwrap();
        let ctx = StatusContext {
            now: Utc::now(),
            stale_after: Duration::from_secs(172_800),
            profiles: Vec::new(),
        };
        let s = ClientStatus::read("alice", &dir.path().join("alice"), &ctx);
        assert_eq!((s.state, s.exit), (State::NeverSynced, 1));
        assert_eq!(s.fix.as_deref(), Some("okx-export --profile alice sync"));
        assert!(!dir.path().join("alice").exists(), "reading creates nothing");
    }

    /// A failed run's recorded failure is the state, and the last success is kept.
    #[test]
    fn state_from_the_recorded_runs() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(dir.path()).unwrap();
        let failure = RunFailure {
            exit: 3,
            reason: "OKX rejected the credentials (code 50111: Invalid OK-ACCESS-KEY)".into(),
            fix: Some("create a new read-only key".into()),
            key_problems: vec![KeyProblem::Revoked],
        };
        let then = Utc::now() - chrono::Duration::days(3);
        store
            .record_run(
                then,
                "ok",
                r#"{"key":{"uid":"1","perm":"read_only","read_only":true,"ip_bound":false}}"#,
            )
            .unwrap();
        store
            .record_run(
                Utc::now(),
                "failed",
                &serde_json::json!({ "failure": failure }).to_string(),
            )
            .unwrap();
        let ctx = StatusContext {
            now: Utc::now(),
            stale_after: Duration::from_secs(172_800),
            profiles: Vec::new(),
        };
        let s = ClientStatus::read("a", dir.path(), &ctx);
        assert_eq!((s.state, s.exit), (State::Failed, 3));
        assert_eq!(s.problem.as_deref(), Some(failure.reason.as_str()));
        assert_eq!(s.key_problems, [KeyProblem::Revoked]);
        assert!(
            s.last_sync.is_some_and(|t| t <= Utc::now()),
            "the last success is kept"
        );
        assert!(s.age_seconds.is_some_and(|a| a < 10), "recorded when it finished");
        // An old-style failed run (no `failure`): its first error, exit 1.
        store
            .record_run(
                Utc::now(),
                "failed",
                r#"{"errors":["stream `bills`: no usable answer"]}"#,
            )
            .unwrap();
        let s = ClientStatus::read("a", dir.path(), &ctx);
        assert_eq!((s.state, s.exit), (State::Failed, 1));
        assert_eq!(s.problem.as_deref(), Some("stream `bills`: no usable answer"));
    }
}
