//! One file per subcommand: each turns settings into options and calls the library.

pub mod check_key;
pub mod demo;
pub mod export;
pub mod fleet;
pub mod group;
pub mod prices;
pub mod progress;
pub mod report;
pub mod runner;
pub mod status;
pub mod subaccounts;
pub mod sync;

use crate::cli::{Cli, Command};
use crate::console::Console;
use crate::error::Exit;
use crate::okx::{ClientConfig, OkxClient};
use crate::secret::Credentials;
use crate::settings::Settings;
use anyhow::Result;
use std::sync::Arc;
use std::time::Duration;

/// Builds the OKX client from settings.
pub fn client(settings: &Settings, credentials: Option<Credentials>) -> Result<Arc<OkxClient>> {
    let mut cfg = ClientConfig::new(settings.base_url.clone(), credentials);
    cfg.demo_trading = settings.demo_trading;
    cfg.rate_scale = settings.rate_scale;
    cfg.give_up_after = settings.give_up_after;
    cfg.rate_share = settings.rate_share;
    cfg.public_pacers.clone_from(&settings.public_pacers);
    cfg.shared_host.clone_from(&settings.shared_host);
    cfg.timeout = cfg.timeout.min(settings.give_up_after);
    if settings.progress {
        cfg.on_retry = Some(progress::retry_hook(&settings.console));
    }
    if let Some(ms) = settings.backoff_ms {
        cfg.backoff_base = Duration::from_millis(ms);
        cfg.backoff_cap = Duration::from_millis(ms.saturating_mul(20).max(1));
    }
    Ok(Arc::new(OkxClient::new(cfg)?))
}

/// Writes a line for the user on stdout unless `--quiet` (see [`Console::out`]).
pub fn say(settings: &Settings, line: impl AsRef<str>) {
    settings.console.out(line);
}

/// A sentence for the user on stdout, wrapped to 80 columns (see [`Console::prose`]).
pub fn tell(settings: &Settings, text: impl AsRef<str>) {
    settings.console.prose(text);
}

/// Advice that is not a problem with this run's data (e.g. an unbound key): a note, not
/// with `--quiet`, so a nightly cron job stays silent.
pub fn advise(settings: &Settings, line: impl AsRef<str>) {
    settings.console.note(line.as_ref());
}

/// Dispatches a parsed command line; the first Ctrl-C or SIGTERM stops the command (see
/// [`crate::interrupt`]) and exits 130 or 143.
pub async fn run(cli: Cli, console: Console) -> Result<Exit> {
    if let Err(e) = crate::interrupt::install() {
        console.warning(format!(
            "cannot install signal handlers ({e}); Ctrl-C stops at once"
        ));
    }
    let resumable = matches!(
        cli.command,
        Command::Sync(_) | Command::Export(_) | Command::Demo(_)
    );
    let outcome = tokio::select! {
        r = dispatch(cli) => r,
        signal = crate::interrupt::wait() => Ok(Exit::for_signal(signal)),
    };
    // Blocking work that noticed the signal fails with `Interrupted`: same exit.
    let outcome = match (outcome, crate::interrupt::requested()) {
        #[allow(clippy::redundant_closure_for_method_calls)] // the method path needs a `dyn` type spelled out
        (Err(e), Some(signal)) if e.chain().any(|c| c.is::<crate::interrupt::Interrupted>()) => {
            Ok(Exit::for_signal(signal))
        }
        (o, _) => o,
    };
    if let Ok(Exit::Interrupted | Exit::Terminated) = outcome {
        // The progress bars would be drawn over the message (and leave stale copies).
        console.clear_live();
        if resumable {
            console.plain("interrupted; run sync again to resume");
        } else {
            console.plain("interrupted");
        }
    }
    outcome
}

async fn dispatch(cli: Cli) -> Result<Exit> {
    if let Command::Simulate(args) = &cli.command {
        return demo::simulate(args).await;
    }
    if let Command::Demo(args) = &cli.command {
        return demo::run(&cli.global, args).await;
    }
    if let Some(name) = cli.global.group.clone() {
        return group::run(cli, &name).await;
    }
    if cli.global.all {
        return fleet::run(cli).await;
    }
    let connect = cli.command.connect().cloned().unwrap_or_default();
    let settings = Settings::resolve(&cli.global, &connect)?;
    match cli.command {
        Command::CheckKey(args) => check_key::run_with(&settings, &args.fiat).await,
        Command::Sync(args) if args.refetch.is_some() => sync::refetch(&settings, &args).await,
        Command::Sync(args) => sync::run(&settings, &args).await.map(|(exit, _)| exit),
        Command::Report(args) => {
            prices::before_report(&settings, &args).await?;
            report::run(&settings, &args)
        }
        Command::Export(args) => export::run(&settings, &args).await,
        Command::Reconcile(args) => report::reconcile(&settings, &args),
        Command::Status(args) if args.json || args.html.is_some() => {
            let me = runner::Member {
                name: settings.profile.clone(),
                settings: settings.clone(),
            };
            status::status_table(&settings, &[me], &args)
        }
        Command::Status(_) => status::run(&settings),
        Command::Prices(args) => prices::run(&settings, &args).await,
        Command::Demo(_) | Command::Simulate(_) => unreachable!("handled above"),
    }
}
