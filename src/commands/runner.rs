//! Runs one piece of work for several profiles at once, in ONE process: the members of a
//! `[group.NAME]` now (`sync --group`, `check-key --group`), every profile of the config
//! file later (`--all`, the fleet).
//!
//! What a run guarantees, and how:
//!
//! | promise | how |
//! |---|---|
//! | each member is its own account | a [`Member`] is a profile resolved to its own [`Settings`]: credentials, host, data dir, store and lock; its work builds its own OKX client, so every request is signed with its own key and goes to its own host |
//! | private limits are per UID | each member's client keeps its own pacers for private endpoints |
//! | public limits are per IP | members that talk to the same host share one [`PublicPacers`], and read OKX's clock and instrument lists once for all ([`SharedHost`], [`share_hosts`]) |
//! | one price cache per host | members on the same non-OKX host get one cache file ([`share_hosts`]; OKX's hosts already share the machine-wide one) |
//! | at most `jobs` at once | a semaphore in [`run_each`] |
//! | one failure stops nobody | each member runs in its own task to completion; an error, a non-zero exit or a panic becomes that member's [`MemberOutcome`]; only Ctrl-C / SIGTERM stops them all |
//! | the console says who | in a run of several, each member's console is labelled: its lines carry `[name] `, and progress bars are off ([`share_hosts`]) |
//!
//! The run's exit code is the worst of its members' ([`worst`]), in this order (worst
//! first): interrupted (130/143), usage or configuration (2: nothing ran as asked),
//! credentials or key refused (3: the user must act on OKX), runtime (1: nothing or
//! part was fetched; rerun), data (4: fetched, but incomplete or not reconciled), success.
//!
//! To extend it (the fleet): resolve the members with [`resolve`] from any list of profile
//! names, call [`share_hosts`], then [`run_each`] with the command's work; print or
//! serialize the outcomes ([`MemberOutcome::line`]).

use crate::cli::{Cli, ConnectArgs, GlobalArgs};
use crate::error::{Exit, exit_for};
use crate::fleet::RunFailure;
use crate::okx::pacing::PublicPacers;
use crate::okx::shared::SharedHost;
use crate::settings::Settings;
use anyhow::Result;
use std::collections::BTreeMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// One profile of a run, resolved.
#[derive(Debug, Clone)]
pub struct Member {
    pub name: String,
    pub settings: Settings,
}

/// Resolves each profile of `names` to its own [`Settings`], as `--profile NAME` would.
pub fn resolve(g: &GlobalArgs, c: &ConnectArgs, names: &[String]) -> Result<Vec<Member>> {
    names
        .iter()
        .map(|name| {
            Ok(Member {
                name: name.clone(),
                settings: Settings::resolve_member(g, c, name)?,
            })
        })
        .collect()
}

/// Makes members that talk to the same host share one set of public-endpoint pacers and,
/// for a host other than OKX's, one price cache in `shared_dir` (OKX's hosts use the
/// machine-wide cache already). With more than one member, progress bars are turned off:
/// several would draw over each other.
pub fn share_hosts(members: &mut [Member], shared_dir: &Path) {
    let mut pacers: BTreeMap<String, PublicPacers> = BTreeMap::new();
    let mut hosts: BTreeMap<String, SharedHost> = BTreeMap::new();
    let custom_hosts: std::collections::BTreeSet<String> = members
        .iter()
        .map(|m| m.settings.base_url.clone())
        .filter(|u| !crate::prices::cache::is_okx_host(u))
        .collect();
    let several = members.len() > 1;
    for m in members.iter_mut() {
        let s = &mut m.settings;
        let shared = pacers
            .entry(s.base_url.clone())
            .or_insert_with(|| PublicPacers::new(s.rate_scale, s.rate_share));
        s.public_pacers = Some(shared.clone());
        s.shared_host = Some(hosts.entry(s.base_url.clone()).or_default().clone());
        if custom_hosts.contains(&s.base_url) {
            let file = if custom_hosts.len() == 1 {
                crate::prices::cache::DATA_DIR_CACHE.to_string()
            } else {
                let host: String = s
                    .base_url
                    .chars()
                    .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
                    .collect();
                format!("price-cache-{host}.sqlite")
            };
            s.price_cache = Some(shared_dir.join(file));
        }
        if several {
            s.progress = false;
            s.console = s.console.labelled(&m.name);
        }
    }
}

/// How one member's work ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberOutcome {
    pub profile: String,
    pub exit: Exit,
    /// One line: `ok`, or what went wrong (the error chain on one line).
    pub reason: String,
    /// The error the work failed with (reason, fix, the key's problems); `None` for a
    /// success or an exit without an error.
    pub failure: Option<RunFailure>,
    pub elapsed: Duration,
}

impl MemberOutcome {
    /// `profile: exit N (reason)`, the line a summary prints per member.
    pub fn line(&self) -> String {
        format!("{}: exit {} ({})", self.profile, self.exit as u8, self.reason)
    }

    /// Turns this (successful) outcome into a failure with `e`, the error of a stage run
    /// after the member's work (its price stage), and prints it on the member's `console`.
    pub fn fail(&mut self, console: &crate::console::Console, e: &anyhow::Error) {
        console.error(format!("{e:#}"));
        self.exit = exit_for(e);
        self.reason = one_line(e);
        self.failure = Some(RunFailure::of(e));
    }
}

/// How bad an exit is for [`worst`] (higher is worse); see the module docs for the order.
pub fn severity(exit: Exit) -> u8 {
    match exit {
        Exit::Success => 0,
        Exit::Data => 1,
        Exit::Runtime => 2,
        Exit::Credentials => 3,
        Exit::Usage => 4,
        Exit::Terminated => 5,
        Exit::Interrupted => 6,
    }
}

/// The worst exit of `outcomes` (success for none).
pub fn worst(outcomes: &[MemberOutcome]) -> Exit {
    outcomes
        .iter()
        .map(|o| o.exit)
        .max_by_key(|e| severity(*e))
        .unwrap_or(Exit::Success)
}

/// A one-line reason for an exit without an error.
fn exit_reason(exit: Exit) -> &'static str {
    match exit {
        Exit::Success => "ok",
        Exit::Data => "data problem (see its lines above)",
        Exit::Runtime => "runtime failure (see its lines above)",
        Exit::Usage => "usage or configuration error",
        Exit::Credentials => "credentials rejected",
        Exit::Interrupted | Exit::Terminated => "interrupted",
    }
}

/// An error's chain on one line.
fn one_line(e: &anyhow::Error) -> String {
    format!("{e:#}").replace('\n', "; ")
}

/// Runs `work` for every member, at most `jobs` at once, each to completion, and returns
/// one outcome per member in `members`' order. `work` gets the member's settings; an error
/// it returns is printed (with the member's prefix) and becomes the outcome's reason and
/// exit code ([`exit_for`]); so does a panic (exit 1).
///
/// Each member's future runs on a thread of its own (tokio's blocking pool, driving the
/// future on the process's runtime), so a command's work need not be `Send` (a store is
/// not) and its blocking parts (normalizing, writing files) use every core.
pub async fn run_each<W, Fut>(members: &[Member], jobs: usize, work: W) -> Vec<MemberOutcome>
where
    W: Fn(Settings) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Exit>> + 'static,
{
    run_each_then(members, jobs, work, |_| {}).await
}

/// [`run_each`], calling `done` with each member's outcome as soon as it is known (in the
/// order members finish).
pub async fn run_each_then<W, Fut, D>(members: &[Member], jobs: usize, work: W, done: D) -> Vec<MemberOutcome>
where
    W: Fn(Settings) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Exit>> + 'static,
    D: Fn(&MemberOutcome) + Send + Sync + 'static,
{
    let work = Arc::new(work);
    let done = Arc::new(done);
    let permits = Arc::new(tokio::sync::Semaphore::new(jobs.max(1)));
    let mut tasks = tokio::task::JoinSet::new();
    for (i, m) in members.iter().enumerate() {
        let (work, permits, done) = (work.clone(), permits.clone(), done.clone());
        let (name, settings) = (m.name.clone(), m.settings.clone());
        tasks.spawn(async move {
            let _permit = permits
                .acquire_owned()
                .await
                .expect("the semaphore is never closed");
            let started = Instant::now();
            let runtime = tokio::runtime::Handle::current();
            let console = settings.console.clone();
            let result = tokio::task::spawn_blocking(move || {
                runtime.block_on(async {
                    // Ctrl-C / SIGTERM stops the member at once (its future is dropped,
                    // like a one-profile command's), whatever thread it runs on.
                    let r = tokio::select! {
                        r = work(settings) => r,
                        _ = crate::interrupt::wait() => Err(crate::interrupt::Interrupted.into()),
                    };
                    if let Err(e) = &r
                        && crate::interrupt::requested().is_none()
                    {
                        console.error(one_line(e));
                    }
                    r
                })
            })
            .await;
            let (exit, reason, failure) = match result {
                Ok(Ok(exit)) => (exit, exit_reason(exit).to_string(), None),
                Ok(Err(e)) => (exit_for(&e), one_line(&e), Some(RunFailure::of(&e))),
                Err(_) => (
                    Exit::Runtime,
                    "its task panicked (a bug: please report it)".to_string(),
                    None,
                ),
            };
            let outcome = MemberOutcome {
                profile: name,
                exit,
                reason,
                failure,
                elapsed: started.elapsed(),
            };
            done(&outcome);
            (i, outcome)
        });
    }
    let mut out: Vec<Option<MemberOutcome>> = vec![None; members.len()];
    while let Some(joined) = tasks.join_next().await {
        if let Ok((i, o)) = joined {
            out[i] = Some(o);
        }
    }
    out.into_iter()
        .zip(members)
        .map(|(o, m)| {
            o.unwrap_or_else(|| MemberOutcome {
                profile: m.name.clone(),
                exit: Exit::Runtime,
                reason: "its task was stopped".into(),
                failure: None,
                elapsed: Duration::ZERO,
            })
        })
        .collect()
}

/// A group, resolved: its name, its members and its folder.
pub struct Group {
    pub name: String,
    pub members: Vec<Member>,
    /// Where its merged files go by default (`output/<name>/`), and its shared price cache
    /// for a host other than OKX's.
    pub dir: PathBuf,
}

impl Group {
    /// Resolves group `name` from the config file: each member as `--profile` would, the
    /// hosts shared ([`share_hosts`]).
    pub fn resolve(cli: &Cli, name: &str) -> Result<Group> {
        let connect = cli.command.connect().cloned().unwrap_or_default();
        let names = crate::settings::group_members(&cli.global, name)?;
        let mut members = resolve(&cli.global, &connect, &names)?;
        let dir = PathBuf::from("output").join(name);
        share_hosts(&mut members, &dir);
        Ok(Group {
            name: name.to_string(),
            members,
            dir,
        })
    }

    /// Settings for what the group does as a whole (its report): the first member's, with
    /// the group's folder as data dir.
    pub fn settings(&self) -> Settings {
        let mut s = self.members[0].settings.clone();
        s.profile.clone_from(&self.name);
        s.data_dir.clone_from(&self.dir);
        s.console = s.console.unlabelled();
        s
    }
}

/// Prints one line per member (problems on stderr) and returns the worst exit.
pub fn summarize(settings: &Settings, what: &str, outcomes: &[MemberOutcome]) -> Exit {
    for o in outcomes {
        if o.exit == Exit::Success {
            super::say(settings, format!("{what}: {}", o.line()));
        } else {
            settings.console.error(format!("{what}: {}", o.line()));
        }
    }
    worst(outcomes)
}

/// Runs `stage` (a member's price stage) for each member whose work succeeded, one after
/// another: members of a host share one price cache, so a later member fetches only the
/// bars an earlier one did not (at once, each would fetch its own and wait on the shared
/// public limit). A failure becomes that member's outcome.
pub async fn price_members<F, Fut>(members: &[Member], outcomes: &mut [MemberOutcome], stage: F)
where
    F: Fn(Settings) -> Fut,
    Fut: std::future::Future<Output = Result<()>>,
{
    for (m, o) in members.iter().zip(outcomes.iter_mut()) {
        if o.exit != Exit::Success {
            continue;
        }
        if let Err(e) = stage(m.settings.clone()).await {
            o.fail(&m.settings.console, &e);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn members(names: &[&str]) -> Vec<Member> {
        names
            .iter()
            .map(|n| Member {
                name: (*n).to_string(),
                settings: Settings {
                    profile: (*n).to_string(),
                    explicit_profile: true,
                    config_path: None,
                    profile_config: crate::settings::ProfileConfig::default(),
                    base_url: "https://www.okx.com".into(),
                    demo_trading: false,
                    data_dir: std::path::PathBuf::from("output").join(n),
                    quiet: true,
                    verbose: 0,
                    progress: true,
                    allow_trading_key: false,
                    rate_scale: 1,
                    backoff_ms: None,
                    give_up_after: Duration::from_secs(60),
                    rate_share: 1.0,
                    public_pacers: None,
                    shared_host: None,
                    price_cache: None,
                    console: crate::console::Console::buffer(true),
                },
            })
            .collect()
    }

    /// A failing member (an error, a bad exit, a panic) stops nobody; every member gets
    /// its own outcome, in order; the run's exit is the worst.
    #[tokio::test(flavor = "multi_thread")]
    async fn every_member_runs_to_completion() {
        let ms = members(&["a", "revoked", "b", "boom", "c"]);
        let done = Arc::new(AtomicUsize::new(0));
        let d = done.clone();
        let outcomes = run_each(&ms, 2, move |s: Settings| {
            let d = d.clone();
            async move {
                tokio::time::sleep(Duration::from_millis(20)).await;
                let r = match s.profile.as_str() {
                    "revoked" => Err(anyhow::Error::new(crate::okx::OkxError::Credentials {
                        endpoint: "account-config",
                        code: "50111".into(),
                        msg: "Invalid OK-ACCESS-KEY".into(),
                        hint: "the key was deleted or mistyped",
                    })),
                    "boom" => panic!("a bug in one member"),
                    "b" => Ok(Exit::Data),
                    _ => Ok(Exit::Success),
                };
                d.fetch_add(1, Ordering::SeqCst);
                r
            }
        })
        .await;
        assert_eq!(
            done.load(Ordering::SeqCst),
            4,
            "every member but the panicking one finished"
        );
        let got: Vec<(&str, Exit)> = outcomes.iter().map(|o| (o.profile.as_str(), o.exit)).collect();
        assert_eq!(
            got,
            [
                ("a", Exit::Success),
                ("revoked", Exit::Credentials),
                ("b", Exit::Data),
                ("boom", Exit::Runtime),
                ("c", Exit::Success)
            ]
        );
        assert!(outcomes[1].reason.contains("50111"), "{}", outcomes[1].reason);
        assert!(outcomes[3].reason.contains("panicked"), "{}", outcomes[3].reason);
        assert_eq!(
            outcomes[1].line(),
            format!("revoked: exit 3 ({})", outcomes[1].reason)
        );
        assert_eq!(worst(&outcomes), Exit::Credentials);
        assert_eq!(worst(&outcomes[2..3]), Exit::Data);
        assert_eq!(worst(&[]), Exit::Success);
    }

    /// At most `jobs` members run at once, and a slow one does not hold back the others.
    #[tokio::test(flavor = "multi_thread")]
    async fn at_most_jobs_at_once() {
        let ms = members(&["a", "b", "c", "d", "e", "f"]);
        let running = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let (r, p) = (running.clone(), peak.clone());
        let started = Instant::now();
        let outcomes = run_each(&ms, 3, move |s: Settings| {
            let (r, p) = (r.clone(), p.clone());
            async move {
                let now = r.fetch_add(1, Ordering::SeqCst) + 1;
                p.fetch_max(now, Ordering::SeqCst);
                let ms = if s.profile == "a" { 300 } else { 50 };
                tokio::time::sleep(Duration::from_millis(ms)).await;
                r.fetch_sub(1, Ordering::SeqCst);
                Ok(Exit::Success)
            }
        })
        .await;
        assert_eq!(peak.load(Ordering::SeqCst), 3);
        assert!(outcomes.iter().all(|o| o.exit == Exit::Success));
        // b..f (5 × 50 ms on the two free slots) finish while `a` (300 ms) still runs.
        assert!(
            started.elapsed() < Duration::from_millis(600),
            "{:?}",
            started.elapsed()
        );
    }

    #[test]
    fn worst_order() {
        let order = [
            Exit::Success,
            Exit::Data,
            Exit::Runtime,
            Exit::Credentials,
            Exit::Usage,
            Exit::Terminated,
            Exit::Interrupted,
        ];
        for w in order.windows(2) {
            assert!(severity(w[0]) < severity(w[1]), "{:?} < {:?}", w[0], w[1]);
        }
    }

    /// Members on one host share one set of public pacers and (off OKX) one price cache;
    /// members on another host have their own.
    #[test]
    fn hosts_share_public_pacers_and_cache() {
        let mut ms = members(&["a", "b", "c"]);
        ms[0].settings.base_url = "http://127.0.0.1:1".into();
        ms[1].settings.base_url = "http://127.0.0.1:1".into();
        ms[2].settings.base_url = "https://www.okx.com".into();
        share_hosts(&mut ms, Path::new("out/g"));
        let p = |i: usize| ms[i].settings.public_pacers.clone().unwrap();
        assert!(p(0).same(&p(1)));
        assert!(!p(0).same(&p(2)));
        let h = |i: usize| ms[i].settings.shared_host.clone().unwrap();
        assert!(h(0).same(&h(1)));
        assert!(!h(0).same(&h(2)));
        assert_eq!(
            ms[0].settings.price_cache.as_deref(),
            Some(Path::new("out/g/price-cache.sqlite"))
        );
        assert_eq!(ms[0].settings.price_cache, ms[1].settings.price_cache);
        assert_eq!(
            ms[2].settings.price_cache, None,
            "OKX hosts keep the machine-wide cache"
        );
        assert!(ms.iter().all(|m| !m.settings.progress));
    }

    #[test]
    fn lines_of_several_members_carry_their_name() {
        let mut ms = members(&["bot", "savings"]);
        share_hosts(&mut ms, Path::new("out/g"));
        ms[0].settings.console.warning("3 new records");
        let lines = ms[0].settings.console.lines();
        assert_eq!(lines.len(), 1);
        assert_eq!(lines[0].text, "[bot] warning: 3 new records");
        assert!(ms[1].settings.console.lines().is_empty());
        let mut one = members(&["solo"]);
        share_hosts(&mut one, Path::new("out/g"));
        one[0].settings.console.warning("x");
        assert_eq!(one[0].settings.console.lines()[0].text, "warning: x");
    }

    /// A member whose price stage fails after its sync succeeded: the outcome says so on
    /// one line and the member's own console has the error.
    #[test]
    fn a_later_stage_failing_makes_the_outcome_a_failure() {
        let mut o = MemberOutcome {
            profile: "bot".into(),
            exit: Exit::Success,
            reason: "ok".into(),
            failure: None,
            elapsed: Duration::ZERO,
        };
        let console = crate::console::Console::buffer(false);
        let e = anyhow::anyhow!("no answer\nfrom the host").context("the price stage failed");
        o.fail(&console, &e);
        assert_eq!(o.exit, Exit::Runtime);
        assert_eq!(o.reason, "the price stage failed: no answer; from the host");
        assert!(o.failure.is_some());
        assert!(o.line().starts_with("bot: exit 1 (the price stage failed"));
        assert!(
            console.lines()[0]
                .text
                .starts_with("error: the price stage failed"),
            "{:?}",
            console.lines()
        );
    }
}
