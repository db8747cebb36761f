//! `--group NAME`: a command for every member of a `[group.NAME]` of the config file.
//! `sync` and `check-key` run each member at once through [`super::runner`]; `report`
//! and `export` write one set of files for the group (`report::run_group`); `status`
//! shows each member and the group's accounts.

use super::runner::{self, Member, MemberOutcome};
use super::say;
use crate::cli::{Cli, Command};
use crate::error::{Exit, usage};
use crate::settings::Settings;
use anyhow::Result;
use std::path::PathBuf;

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
    /// hosts shared ([`runner::share_hosts`]).
    pub fn resolve(cli: &Cli, name: &str) -> Result<Group> {
        let connect = cli.command.connect().cloned().unwrap_or_default();
        let names = crate::settings::group_members(&cli.global, name)?;
        let mut members = runner::resolve(&cli.global, &connect, &names)?;
        let dir = PathBuf::from("output").join(name);
        runner::share_hosts(&mut members, &dir);
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
            say(settings, format!("{what}: {}", o.line()));
        } else {
            settings.console.error(format!("{what}: {}", o.line()));
        }
    }
    runner::worst(outcomes)
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
        let result = stage(m.settings.clone()).await;
        if let Err(e) = &result {
            m.settings.console.error(format!("{e:#}"));
        }
        if let Err(e) = result {
            o.exit = crate::error::exit_for(&e);
            o.reason = format!("{e:#}").replace('\n', "; ");
            o.failure = Some(crate::fleet::RunFailure::of(&e));
        }
    }
}

/// `sync` for every member at once, then their price stages one after another
/// ([`price_members`]) unless `--no-prices`.
async fn sync_members(
    group: &Group,
    jobs: usize,
    args: &crate::cli::SyncArgs,
    fiat: &crate::prices::Fiat,
) -> Vec<MemberOutcome> {
    let mut unpriced = args.clone();
    unpriced.no_prices = true;
    let mut outcomes = runner::run_each(&group.members, jobs, move |s| {
        let args = unpriced.clone();
        async move {
            super::sync::run_priced(&s, &args, &[])
                .await
                .map(|(exit, _)| exit)
        }
    })
    .await;
    if !args.no_prices {
        price_members(&group.members, &mut outcomes, |s| {
            let fiat = fiat.clone();
            async move {
                super::prices::after_sync(&s, std::slice::from_ref(&fiat)).await?;
                Ok(())
            }
        })
        .await;
    }
    outcomes
}

/// Runs `cli`'s command for group `name`.
pub async fn run(cli: Cli, name: &str) -> Result<Exit> {
    let group = Group::resolve(&cli, name)?;
    let settings = group.settings();
    let jobs = cli.global.jobs.map_or(group.members.len(), usize::from);
    match cli.command {
        Command::Sync(args) => {
            if args.refetch.is_some() {
                return Err(usage(
                    "--refetch repairs one store: run it with --profile NAME, not --group",
                ));
            }
            let outcomes = sync_members(&group, jobs, &args, &crate::prices::Fiat::usd()).await;
            Ok(summarize(&settings, &format!("sync --group {name}"), &outcomes))
        }
        Command::CheckKey(args) => {
            let outcomes = runner::run_each(&group.members, jobs, move |s: Settings| {
                let fiat = args.fiat.clone();
                async move { super::check_key::run_with(&s, &fiat).await }
            })
            .await;
            Ok(summarize(
                &settings,
                &format!("check-key --group {name}"),
                &outcomes,
            ))
        }
        Command::Report(args) => super::report::run_group(&group, &args),
        Command::Export(args) => {
            super::report::period(&args.report)?; // fail on a bad flag before syncing
            crate::export::Format::parse_list(&args.report.format)
                .map_err(|e| usage(format!("--format: {e}")))?;
            if args.sync.refetch.is_some() {
                return Err(usage(
                    "--refetch repairs one store: run `sync --refetch` with --profile NAME",
                ));
            }
            let outcomes = sync_members(&group, jobs, &args.sync, &args.report.price.fiat).await;
            let worst = summarize(&settings, &format!("sync --group {name}"), &outcomes);
            if worst != Exit::Success {
                settings.console.error(format!(
                    "export --group {name}: no report written, as a member's sync failed (above); fix it and rerun"
                ));
                return Ok(worst);
            }
            super::report::run_group(&group, &args.report)
        }
        Command::Status(args) if args.json || args.html.is_some() => {
            super::fleet::status_table(&settings, &group.members, &args)
        }
        Command::Status(_) => super::status::run_group(&group),
        _ => Err(usage(
            "--group works with sync, check-key, report, export and status; for other commands name one profile with --profile",
        )),
    }
}
