//! `--group NAME`: a command for every member of a `[group.NAME]` of the config file.
//! `sync` and `check-key` run each member at once through [`super::runner`]; `report`
//! and `export` write one set of files for the group (`report::run_group`); the group itself is [`Group`]; `status`
//! shows each member and the group's accounts.

use super::runner::{self, Group, MemberOutcome, price_members, summarize};
use crate::cli::{Cli, Command};
use crate::error::{Exit, usage};
use crate::settings::Settings;
use anyhow::Result;

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
            args.report.period()?; // fail on a bad flag before syncing
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
            super::status::status_table(&settings, &group.members, &args)
        }
        Command::Status(_) => super::status::run_group(&group),
        _ => Err(usage(
            "--group works with sync, check-key, report, export and status; for other commands name one profile with --profile",
        )),
    }
}
