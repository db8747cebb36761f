//! `--all`: every profile of the config file, each a client of its own (an accountant's),
//! run at once in ONE process through [`super::runner`] (see it for what a run of several
//! profiles guarantees: own keys, own hosts, per-UID limits, one public limit and price
//! cache per host, one failure stopping nobody).
//!
//! Unlike `--group`, clients are never merged: each keeps its own store, lock, report
//! folder (`output/<profile>/`, or `--out DIR/<profile>/`) and exit status. What a run
//! prints is meant for 500 clients and a cron mail:
//!
//! - each profile's whole console output goes to its own `<data dir>/last-run.log`;
//! - the terminal gets one line per profile as it finishes (`--quiet`: nothing for a
//!   profile that is fine, one `error:` line per profile that is not, at the end);
//! - `output/fleet-summary.json` holds every profile's outcome and the stages' times;
//! - the exit code is the worst profile's ([`runner::worst`]).
//!
//! A sync runs every profile at once (`--jobs`, default: all of them, see
//! [`default_jobs`]); each profile's price stage starts as soon as its sync is done, one
//! profile after another (they share the host's cache, so each fetches only what the ones
//! before it did not) while the other profiles still sync; then (`export`) the reports, as
//! many at once as there are cores.

use super::runner::{self, Member, MemberOutcome};
use crate::cli::{Cli, Command, ReportArgs, SyncArgs};
use crate::console::{Console, Stream};
use crate::error::{Exit, usage};
use crate::fleet::summary::{FleetSummary, ProfileOutcome, Stage};
use crate::prices::Fiat;
use crate::settings::Settings;
use anyhow::Result;
use chrono::Utc;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// File descriptors one running profile may hold at its peak: its store (database, WAL,
/// shared memory, lock), the price cache (three), its log, and one connection per stream
/// running at once (14) plus the price stage's.
const FDS_PER_PROFILE: u64 = 24;
/// Descriptors kept for everything else (the runtime, stdio, the shared caches).
const FDS_RESERVED: u64 = 64;

/// Raises this process's open-file limit to its hard limit (many systems start programs
/// at 1024 with a far higher hard limit, as Go's runtime does for its programs) and
/// returns the limit now in force.
fn raise_open_files() -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read and write the struct passed in.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &raw mut lim) != 0 {
            return 1024;
        }
        if lim.rlim_cur < lim.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: lim.rlim_max,
                rlim_max: lim.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raw const raised) == 0 {
                lim.rlim_cur = lim.rlim_max;
            }
        }
    }
    lim.rlim_cur
}

/// `--jobs` by default: every profile at once. A profile's sync spends its time waiting
/// on its own UID's rate limits, not on the machine, so running all of them together
/// makes the slowest client the whole run's wall time (fewer at once would queue clients
/// behind each other for nothing). The only ceiling is what the process may open: the
/// open-file limit (raised to its hard limit first) over [`FDS_PER_PROFILE`].
pub fn default_jobs(profiles: usize, open_files: u64) -> usize {
    let by_files = open_files.saturating_sub(FDS_RESERVED) / FDS_PER_PROFILE;
    profiles
        .min(usize::try_from(by_files).unwrap_or(usize::MAX))
        .max(1)
}

/// The profiles of a run, as they resolved: a member to run, or the error that keeps it
/// from running (a bad profile stops only itself).
struct Fleet {
    command: String,
    members: Vec<Member>,
    /// Every profile in config order: its index in `members`, or its outcome already.
    order: Vec<Result<usize, MemberOutcome>>,
    terminal: Console,
    jobs: usize,
    stages: Vec<Stage>,
    started: chrono::DateTime<Utc>,
    t0: Instant,
}

impl Fleet {
    fn resolve(cli: &Cli, command: &str) -> Result<Fleet> {
        let terminal = crate::settings::console_for(&cli.global);
        let profiles = crate::settings::all_profiles(&cli.global)?;
        let connect = cli.command.connect().cloned().unwrap_or_default();
        let mut members = Vec::new();
        let mut order = Vec::new();
        for (name, _) in &profiles {
            match Settings::resolve_member(&cli.global, &connect, name) {
                Ok(settings) => {
                    order.push(Ok(members.len()));
                    members.push(Member {
                        name: name.clone(),
                        settings,
                    });
                }
                Err(e) => order.push(Err(MemberOutcome {
                    profile: name.clone(),
                    exit: crate::error::exit_for(&e),
                    reason: crate::fleet::one_line(&e),
                    failure: Some(crate::fleet::RunFailure::of(&e)),
                    elapsed: Duration::ZERO,
                })),
            }
        }
        runner::share_hosts(&mut members, Path::new("output"));
        for m in &mut members {
            // Its whole output goes to its log, not the terminal.
            m.settings.console = Console::buffer(false);
        }
        let open_files = raise_open_files();
        let jobs = cli
            .global
            .jobs
            .map_or_else(|| default_jobs(members.len(), open_files), usize::from);
        Ok(Fleet {
            command: command.to_string(),
            members,
            order,
            terminal,
            jobs,
            stages: Vec::new(),
            started: Utc::now(),
            t0: Instant::now(),
        })
    }

    /// Prints a profile's outcome as it comes (not with `--quiet`: then the failures
    /// come at the end, one line each).
    fn live(&self, stage: &'static str) -> impl Fn(&MemberOutcome) + Send + Sync + 'static {
        let terminal = self.terminal.clone();
        move |o: &MemberOutcome| {
            if terminal.quiet() {
                return;
            }
            if o.exit == Exit::Success {
                terminal.out(format!(
                    "{}: {stage} ok in {:.1} s",
                    o.profile,
                    o.elapsed.as_secs_f64()
                ));
            } else {
                terminal.error(failure_line(o));
            }
        }
    }

    /// Runs `stage` for the members whose outcome so far is a success (all of them when
    /// `outcomes` is `None`), at most `jobs` at once; merges the new outcomes in.
    async fn stage<W, Fut>(
        &mut self,
        name: &'static str,
        jobs: usize,
        outcomes: Option<Vec<MemberOutcome>>,
        work: W,
    ) -> Vec<MemberOutcome>
    where
        W: Fn(Settings) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = Result<Exit>> + 'static,
    {
        let t = Instant::now();
        let todo: Vec<usize> = (0..self.members.len())
            .filter(|&i| outcomes.as_ref().is_none_or(|o| o[i].exit == Exit::Success))
            .collect();
        let chosen: Vec<Member> = todo.iter().map(|&i| self.members[i].clone()).collect();
        let done = runner::run_each_then(&chosen, jobs, work, self.live(name)).await;
        let all = match outcomes {
            None => done,
            Some(mut all) => {
                for (i, o) in todo.into_iter().zip(done) {
                    // A profile's time is that of all its stages.
                    let before = all[i].elapsed;
                    all[i] = MemberOutcome {
                        elapsed: before + o.elapsed,
                        ..o
                    };
                }
                all
            }
        };
        self.stages.push(Stage {
            name,
            started_seconds: t.duration_since(self.t0).as_secs_f64(),
            seconds: t.elapsed().as_secs_f64(),
        });
        all
    }

    /// Every member's sync at once (`work`) and, with `fiats`, each synced member's price
    /// stage as soon as its sync is done, one member after another (members of a host
    /// share its price cache, so each fetches only the bars the ones before it did not).
    /// The price stage is bound by the public per-IP limit and the syncs by each UID's
    /// own, so the two run at the same time: the run takes about the price stage plus the
    /// first sync to finish, not the slowest sync plus the price stage. A price failure is
    /// recorded in that member's store and becomes its outcome.
    async fn sync_and_price<W, Fut>(&mut self, work: W, fiats: Option<Vec<Fiat>>) -> Vec<MemberOutcome>
    where
        W: Fn(Settings) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = Result<Exit>> + 'static,
    {
        let t = Instant::now();
        let (synced, mut queue) = tokio::sync::mpsc::unbounded_channel::<usize>();
        let by_name: std::collections::HashMap<String, usize> = self
            .members
            .iter()
            .enumerate()
            .map(|(i, m)| (m.name.clone(), i))
            .collect();
        let live = self.live("sync");
        let price = fiats.is_some();
        let done = move |o: &MemberOutcome| {
            live(o);
            if price
                && o.exit == Exit::Success
                && let Some(&i) = by_name.get(&o.profile)
            {
                // The receiver outlives every sender: a send cannot fail.
                let _ = synced.send(i);
            }
        };
        let members = self.members.clone();
        let fiats = fiats.unwrap_or_default();
        let prices = async {
            let mut priced: Vec<(usize, Result<()>)> = Vec::new();
            let mut span: Option<(Instant, Instant)> = None;
            let mut ready: Vec<usize> = Vec::new();
            loop {
                while let Ok(i) = queue.try_recv() {
                    ready.push(i);
                }
                if ready.is_empty() {
                    match queue.recv().await {
                        Some(i) => ready.push(i),
                        None => break,
                    }
                    continue;
                }
                // The largest store first: its pages span the most time, so the smaller
                // ones after it find more of their bars in the cache already.
                let pick = (0..ready.len())
                    .max_by_key(|&k| store_size(&members[ready[k]].settings.data_dir))
                    .expect("ready is not empty");
                let i = ready.swap_remove(pick);
                let began = Instant::now();
                let s = members[i].settings.clone();
                let started = Utc::now();
                let r = super::prices::after_sync(&s, &fiats)
                    .await
                    .inspect_err(|e| super::sync::record_failure(&s, started, e))
                    .map(|_| ());
                span = Some((span.map_or(began, |(b, _)| b), Instant::now()));
                priced.push((i, r));
            }
            (priced, span)
        };
        let syncs = async {
            let outcomes = runner::run_each_then(&self.members, self.jobs, work, done).await;
            (outcomes, Instant::now())
        };
        let ((mut outcomes, synced_at), (priced, span)) = tokio::join!(syncs, prices);
        self.stages.push(Stage {
            name: "sync",
            started_seconds: t.duration_since(self.t0).as_secs_f64(),
            seconds: synced_at.duration_since(t).as_secs_f64(),
        });
        let live = self.live("prices");
        for (i, r) in priced {
            if let Err(e) = r {
                outcomes[i].fail(&self.members[i].settings.console, &e);
                live(&outcomes[i]);
            }
        }
        if let Some((began, ended)) = span {
            self.stages.push(Stage {
                name: "prices",
                started_seconds: began.duration_since(self.t0).as_secs_f64(),
                seconds: ended.duration_since(began).as_secs_f64(),
            });
        }
        outcomes
    }

    /// Writes each member's log and `output/fleet-summary.json`, prints the failures
    /// (`--quiet`) and the total, and returns the run's exit.
    fn finish(self, outcomes: Vec<MemberOutcome>) -> Result<Exit> {
        let mut all: Vec<(MemberOutcome, Option<PathBuf>)> = Vec::new();
        for slot in &self.order {
            match slot {
                Ok(i) => {
                    let m = &self.members[*i];
                    let mut o = outcomes[*i].clone();
                    let lines = m.settings.console.lines();
                    if o.failure.is_none() && o.exit != Exit::Success {
                        // An exit without an error (a report's exit 4): its first error line.
                        if let Some(l) = lines
                            .iter()
                            .find(|l| l.stream == Stream::Stderr && l.text.starts_with("error: "))
                        {
                            o.reason = l.text.trim_start_matches("error: ").to_string();
                        }
                    }
                    write_log(&m.settings.data_dir, &self.command, &lines);
                    all.push((o, Some(m.settings.data_dir.clone())));
                }
                Err(o) => {
                    if !self.terminal.quiet() {
                        self.terminal.error(failure_line(o));
                    }
                    all.push((o.clone(), None));
                }
            }
        }
        let plain: Vec<MemberOutcome> = all.iter().map(|(o, _)| o.clone()).collect();
        let exit = runner::worst(&plain);
        let failed: Vec<&MemberOutcome> = plain.iter().filter(|o| o.exit != Exit::Success).collect();
        let summary = FleetSummary {
            command: self.command.clone(),
            started_at: self.started,
            finished_at: Utc::now(),
            elapsed_seconds: self.t0.elapsed().as_secs_f64(),
            jobs: self.jobs,
            stages: self.stages,
            exit: exit as u8,
            profiles_ok: plain.len() - failed.len(),
            profiles_failed: failed.len(),
            profiles: all
                .iter()
                .map(|(o, dir)| ProfileOutcome {
                    profile: o.profile.clone(),
                    data_dir: dir.clone().unwrap_or_default(),
                    status: if o.exit == Exit::Success { "ok" } else { "failed" },
                    exit: o.exit as u8,
                    reason: o.reason.clone(),
                    failure: o.failure.clone(),
                    elapsed_seconds: o.elapsed.as_secs_f64(),
                })
                .collect(),
            peak_rss_bytes: crate::sync::peak_rss_bytes(),
        };
        let path = crate::fleet::summary::path();
        let written = std::fs::create_dir_all(path.parent().unwrap_or(Path::new(".")))
            .map_err(anyhow::Error::from)
            .and_then(|()| crate::export::write_json_atomic(&path, &summary));
        if let Err(e) = written {
            self.terminal.error(format!(
                "{}: cannot write `{}`: {e:#}",
                self.command,
                path.display()
            ));
        }
        if self.terminal.quiet() {
            for o in &failed {
                self.terminal.error(failure_line(o));
            }
        }
        self.terminal.out(format!(
            "{}: {} profiles, {} ok, {} failed{} in {:.1} s; see {}",
            self.command,
            plain.len(),
            summary.profiles_ok,
            summary.profiles_failed,
            if failed.is_empty() {
                String::new()
            } else {
                format!(" (exit {})", exit as u8)
            },
            summary.elapsed_seconds,
            path.display()
        ));
        Ok(exit)
    }
}

/// `client-07: exit 3: <reason>; fix: <fix>`: what a cron mail says about a profile.
fn failure_line(o: &MemberOutcome) -> String {
    let what = o
        .failure
        .as_ref()
        .map_or_else(|| o.reason.clone(), crate::fleet::RunFailure::line);
    format!("{}: exit {}: {what}", o.profile, o.exit as u8)
}

/// Writes a profile's console lines to `<data dir>/last-run.log` (best effort: the
/// terminal and fleet-summary.json have its outcome anyway).
fn write_log(dir: &Path, command: &str, lines: &[crate::console::Line]) {
    let mut text = format!(
        "okx-export {command} at {}\n",
        Utc::now().format("%Y-%m-%d %H:%M:%S UTC")
    );
    for l in lines {
        text.push_str(&l.text);
        text.push('\n');
    }
    let write = || -> Result<()> {
        std::fs::create_dir_all(dir)?;
        let mut f = tempfile::Builder::new()
            .prefix(".last-run.log.")
            .tempfile_in(dir)?;
        std::io::Write::write_all(&mut f, text.as_bytes())?;
        f.persist(dir.join("last-run.log")).map_err(|e| e.error)?;
        Ok(())
    };
    if let Err(e) = write() {
        tracing::debug!("cannot write the log in `{}`: {e:#}", dir.display());
    }
}

/// Runs `cli`'s command for every profile of the config file.
pub async fn run(cli: Cli) -> Result<Exit> {
    if let Command::Status(args) = &cli.command {
        let terminal = crate::settings::console_for(&cli.global);
        let profiles = crate::settings::all_profiles(&cli.global)?;
        let uids = profiles
            .iter()
            .map(|(n, d)| (n.clone(), crate::store::Store::recorded_uid(d)))
            .collect();
        return super::status::status_rows(&terminal, &profiles, uids, args);
    }
    let name = match &cli.command {
        Command::Sync(_) => "sync",
        Command::Export(_) => "export",
        Command::Report(_) => "report",
        Command::CheckKey(_) => "check-key",
        _ => {
            return Err(usage(
                "--all works with sync, export, report, check-key and status; for other commands name one profile with --profile",
            ));
        }
    };
    let mut fleet = Fleet::resolve(&cli, &format!("{name} --all"))?;
    let jobs = fleet.jobs;
    let outcomes = match cli.command {
        Command::Sync(args) => {
            refuse_refetch(&args)?;
            let fiats = (!args.no_prices).then(|| vec![Fiat::usd()]);
            sync_stage(&mut fleet, &args, None, fiats).await
        }
        Command::Export(args) => {
            let period = args.report.period()?; // a bad flag fails before any sync
            crate::export::Format::parse_list(&args.report.format)
                .map_err(|e| usage(format!("--format: {e}")))?;
            refuse_refetch(&args.sync)?;
            let fiats = vec![args.report.price.fiat.clone()];
            let o = sync_stage(&mut fleet, &args.sync, Some(period), Some(fiats)).await;
            report_stage(&mut fleet, &args.report, Some(o)).await
        }
        Command::Report(args) => {
            args.period()?;
            report_stage(&mut fleet, &args, None).await
        }
        Command::CheckKey(args) => {
            let fiat = args.fiat.clone();
            fleet
                .stage("check-key", jobs, None, move |s| {
                    let fiat = fiat.clone();
                    async move { super::check_key::run_with(&s, &fiat).await }
                })
                .await
        }
        _ => unreachable!("refused above"),
    };
    fleet.finish(outcomes)
}

/// The size of a profile's store on disk (0 when it cannot be read): how much history it
/// holds, roughly.
fn store_size(data_dir: &Path) -> u64 {
    let file = crate::store::Store::FILE;
    [file.to_string(), format!("{file}-wal")]
        .iter()
        .map(|f| std::fs::metadata(data_dir.join(f)).map_or(0, |m| m.len()))
        .sum()
}

fn refuse_refetch(args: &SyncArgs) -> Result<()> {
    if args.refetch.is_some() {
        return Err(usage(
            "--refetch repairs one store: run `sync --refetch` with --profile NAME, not --all",
        ));
    }
    Ok(())
}

/// Every member's sync at once, its price stage (in `fiats`, none without) as soon as it
/// is synced ([`Fleet::sync_and_price`]); `period`: an export's, whose zone the price
/// stage prices the year boundaries of.
async fn sync_stage(
    fleet: &mut Fleet,
    args: &SyncArgs,
    period: Option<crate::report::Period>,
    fiats: Option<Vec<Fiat>>,
) -> Vec<MemberOutcome> {
    let mut unpriced = args.clone();
    unpriced.no_prices = true;
    let period = Arc::new(period);
    fleet
        .sync_and_price(
            move |s| {
                let (args, period) = (unpriced.clone(), period.clone());
                async move {
                    if let Some(p) = period.as_ref() {
                        super::prices::remember_zone(&crate::store::Store::open(&s.data_dir)?, p)?;
                    }
                    super::sync::run_priced(&s, &args, &[])
                        .await
                        .map(|(exit, _)| exit)
                }
            },
            fiats,
        )
        .await
}

/// Each member's report into its own folder (`--out DIR` → `DIR/<profile>/`), as many at
/// once as there are cores (a report is work for the CPU, not a wait).
async fn report_stage(
    fleet: &mut Fleet,
    args: &ReportArgs,
    outcomes: Option<Vec<MemberOutcome>>,
) -> Vec<MemberOutcome> {
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    let jobs = fleet.jobs.min(cores);
    let args = args.clone();
    fleet
        .stage("report", jobs, outcomes, move |s| {
            let mut args = args.clone();
            args.out = args.out.map(|d| d.join(&s.profile));
            async move {
                super::prices::before_report(&s, &args).await?;
                super::report::run(&s, &args)
            }
        })
        .await
}
