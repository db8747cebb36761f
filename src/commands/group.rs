//! `--group NAME`: a command for every member of a `[group.NAME]` of the config file.
//! `sync` and `check-key` run each member at once through [`super::runner`]; `report`
//! and `export` write one set of files for the group (`report::run_group`); `status`
//! shows each member and the group's accounts.

use super::runner::{self, Member, MemberOutcome};
use super::{say, warn};
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
        s
    }
}

/// Prints one line per member (problems on stderr) and returns the worst exit.
pub fn summarize(settings: &Settings, what: &str, outcomes: &[MemberOutcome]) -> Exit {
    for o in outcomes {
        if o.exit == Exit::Success {
            say(settings, format!("{what}: {}", o.line()));
        } else {
            warn(format!("{what}: {}", o.line()));
        }
    }
    runner::worst(outcomes)
}

/// Runs `cli`'s command for group `name`.
pub async fn run(cli: Cli, name: &str) -> Result<Exit> {
    let group = Group::resolve(&cli, name)?;
    let settings = group.settings();
    let jobs = group.members.len();
    match cli.command {
        Command::Sync(args) => {
            if args.refetch.is_some() {
                return Err(usage(
                    "--refetch repairs one store: run it with --profile NAME, not --group",
                ));
            }
            let outcomes = runner::run_each(&group.members, jobs, move |s| {
                let args = args.clone();
                async move {
                    super::sync::run_priced(&s, &args, &[crate::prices::Fiat::usd()])
                        .await
                        .map(|(exit, _)| exit)
                }
            })
            .await;
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
            let fiat = args.report.price.fiat.clone();
            let sync = args.sync.clone();
            let outcomes = runner::run_each(&group.members, jobs, move |s| {
                let (sync, fiat) = (sync.clone(), fiat.clone());
                async move {
                    super::sync::run_priced(&s, &sync, std::slice::from_ref(&fiat))
                        .await
                        .map(|(exit, _)| exit)
                }
            })
            .await;
            let worst = summarize(&settings, &format!("sync --group {name}"), &outcomes);
            if worst != Exit::Success {
                warn(format!(
                    "export --group {name}: no report written, as a member's sync failed (above); fix it and rerun"
                ));
                return Ok(worst);
            }
            super::report::run_group(&group, &args.report)
        }
        Command::Status => super::status::run_group(&group),
        _ => Err(usage(
            "--group works with sync, check-key, report, export and status; for other commands name one profile with --profile",
        )),
    }
}
