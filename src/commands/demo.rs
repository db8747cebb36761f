//! `demo`: the whole pipeline against the built-in simulated OKX account, no key needed.
//! Also the hidden `simulate` command that runs the simulator standalone.

use super::{say, tell};
use crate::cli::{DemoArgs, GlobalArgs, ReportArgs, SimulateArgs};
use crate::error::{Exit, usage};
use crate::settings::{ProfileConfig, Settings};
use crate::sim::{AccountSize, SimConfig, SimKey, SimServer};
use crate::sync::SyncOptions;
use anyhow::{Context, Result};
use chrono::{TimeZone, Utc};
use std::path::PathBuf;
use std::time::Duration;

/// Where the simulated account's history starts; the demo's `--since`.
pub fn demo_since() -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 7, 1, 0, 0, 0).unwrap()
}

/// Marks a directory as the demo's own; only such a directory's store is replaced.
pub const MARKER: &str = ".okx-export-demo";

/// Checks that `out` is new, empty, or an earlier demo's (marked), and removes an earlier
/// demo's store. A real store or anything else `demo` did not make is never touched:
/// `demo --out output/default` must not wipe a history OKX may no longer serve.
pub fn prepare_out_dir(out: &std::path::Path) -> Result<()> {
    let entries: Vec<String> = match std::fs::read_dir(out) {
        Ok(rd) => rd
            .filter_map(std::result::Result::ok)
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => {
            return Err(usage(format!(
                "cannot read demo directory `{}`: {e}",
                out.display()
            )));
        }
    };
    if entries.iter().any(|n| n == MARKER) {
        // An earlier demo: a fresh store and price cache every time, because what an
        // older build's simulated account left would not match today's (its prices would
        // leave today's rows unvalued or valued at yesterday's simulated prices).
        let files = [crate::store::Store::FILE, crate::prices::cache::DATA_DIR_CACHE];
        // The sub-accounts' stores live in folders of the demo's own (`bot/`, `savings/`).
        let dirs: Vec<PathBuf> = std::iter::once(out.to_path_buf())
            .chain(
                std::fs::read_dir(out)
                    .into_iter()
                    .flatten()
                    .filter_map(std::result::Result::ok)
                    .map(|e| e.path())
                    .filter(|p| p.join(crate::store::Store::FILE).exists()),
            )
            .collect();
        for (dir, file, suffix) in dirs.iter().flat_map(|d| {
            files
                .iter()
                .flat_map(move |f| ["", "-wal", "-shm"].map(|s| (d, f, s)))
        }) {
            let p = dir.join(format!("{file}{suffix}"));
            match std::fs::remove_file(&p) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    return Err(anyhow::Error::new(e)
                        .context(format!("cannot remove old demo file `{}`", p.display())));
                }
            }
        }
        return Ok(());
    }
    if entries.iter().any(|n| n.starts_with(crate::store::Store::FILE)) {
        return Err(usage(format!(
            "refusing to use `{}` for the demo: it holds an okx-export store that the demo did not make (it may be a real history, part of which OKX no longer serves); give the demo a new directory, e.g. `demo --out output/demo`",
            out.display()
        )));
    }
    if let Some(first) = entries.first() {
        return Err(usage(format!(
            "refusing to use `{}` for the demo: it already holds files the demo did not make (e.g. `{first}`); give it a new or empty directory with --out",
            out.display()
        )));
    }
    Ok(())
}

pub async fn run(g: &GlobalArgs, args: &DemoArgs) -> Result<Exit> {
    let out = match (&args.out, &g.data_dir) {
        (Some(o), Some(d)) if o != d => {
            return Err(usage(format!(
                "demo got both --out `{}` and --data-dir `{}`; give one (the demo keeps its store and files in the same directory)",
                o.display(),
                d.display()
            )));
        }
        (Some(o), _) | (None, Some(o)) => o.clone(),
        (None, None) => PathBuf::from("output").join("demo"),
    };
    prepare_out_dir(&out)?;
    crate::store::Store::open(&out)?;
    std::fs::write(
        out.join(MARKER),
        "This directory was made by `okx-export demo`; the demo replaces its store on each run.\n",
    )
    .with_context(|| format!("cannot write `{}`", out.join(MARKER).display()))?;
    let sim = SimServer::start(SimConfig::family()).await?;
    let settings = Settings {
        profile: "demo".into(),
        explicit_profile: false,
        config_path: None,
        profile_config: ProfileConfig::default(),
        base_url: sim.base_url(),
        demo_trading: false,
        data_dir: out.clone(),
        quiet: g.quiet,
        verbose: g.verbose,
        progress: !g.no_progress && !g.quiet && g.verbose == 0,
        allow_trading_key: false,
        rate_scale: 1,
        backoff_ms: None,
        give_up_after: crate::okx::client::DEFAULT_GIVE_UP_AFTER,
        rate_share: 1.0,
        console: crate::settings::console_for(g),
        public_pacers: None,
        shared_host: None,
        price_cache: None,
    };
    tell(
        &settings,
        format!(
            "demo: simulated OKX master account with two sub-accounts at {} (data as of {})",
            sim.base_url(),
            crate::sim::SIM_NOW
        ),
    );
    let exit = demo_group(&settings, &sim).await?;
    let stats = sim.stats();
    tell(
        &settings,
        format!(
            "demo: done; the simulator served {} requests with {} rate-limit rejections; every file is in {}. Open the report in a browser:",
            stats.total_requests,
            stats.total_rate_limited,
            out.display()
        ),
    );
    // Last, so a first run ends with something to open.
    say(
        &settings,
        format!("  {}", out.join(crate::report::html::FILE_NAME).display()),
    );
    sim.shutdown().await;
    Ok(exit)
}

/// The demo's group: the master (its store in the demo directory) and its two keyed
/// sub-accounts (`bot/`, `savings/` inside it), synced at once with their prices, then
/// reported as ONE set of files in the demo directory (`report --group`).
async fn demo_group(settings: &Settings, sim: &SimServer) -> Result<Exit> {
    let out = settings.data_dir.clone();
    let keys: Vec<(String, SimKey)> = std::iter::once(("main".to_string(), SimKey::demo()))
        .chain(
            sim.config()
                .subaccounts
                .iter()
                .map(|s| (s.name.clone(), SimKey::sub(&s.name, &s.uid))),
        )
        .collect();
    let mut members: Vec<super::runner::Member> = keys
        .iter()
        .map(|(name, _)| super::runner::Member {
            name: name.clone(),
            settings: Settings {
                profile: name.clone(),
                data_dir: if name == "main" {
                    out.clone()
                } else {
                    out.join(name)
                },
                ..settings.clone()
            },
        })
        .collect();
    super::runner::share_hosts(&mut members, &out);
    let mut outcomes = super::runner::run_each(&members, members.len(), move |s: Settings| {
        let key = keys
            .iter()
            .find(|(n, _)| *n == s.profile)
            .map(|(_, k)| k.clone())
            .expect("a member's key");
        async move {
            let creds = crate::secret::Credentials {
                api_key: key.api_key.clone(),
                secret: crate::secret::Secret::new(key.secret.clone()),
                passphrase: crate::secret::Secret::new(key.passphrase.clone()),
            };
            let opts = SyncOptions {
                since: Some(demo_since()),
                archive_first_poll: Duration::from_millis(500),
                ..SyncOptions::default()
            };
            super::sync::run_with(&s, creds, opts).await?;
            Ok(Exit::Success)
        }
    })
    .await;
    // Values for every format: USD, plus ECB rates (the simulator's stub) for GBP and EUR.
    let ecb = format!("{}/sim-ecb", sim.base_url());
    super::runner::price_members(&members, &mut outcomes, |s| {
        let ecb = ecb.clone();
        async move {
            let fiats = ["USD", "GBP", "EUR"].map(|f| crate::prices::Fiat::parse(f).expect("fiat code"));
            let missing = s.data_dir.join("missing_prices.csv");
            super::prices::stage(&s, &fiats, None, Some(missing), ecb).await?;
            Ok(())
        }
    })
    .await;
    let worst = super::runner::summarize(settings, "demo sync", &outcomes);
    if worst != Exit::Success {
        return Ok(worst);
    }
    // The simulated accounts' whole history as one period, so the demo writes what a
    // period report adds (tax-summary.csv, closing_balances.csv) and report.html.
    let report = ReportArgs {
        year: None,
        from: Some(demo_since().format("%Y-%m-%d").to_string()),
        to: Some(crate::sim::SIM_NOW.format("%Y-%m-%d").to_string()),
        tz: "UTC".into(),
        format: "all".into(),
        out: Some(out.clone()),
        allow_unclassified: false,
        allow_incomplete: false,
        price: crate::cli::PriceArgs::default(),
    };
    let group = super::runner::Group {
        name: "demo".into(),
        members,
        dir: out,
    };
    super::report::run_group(&group, &report)
}

pub async fn simulate(args: &SimulateArgs) -> Result<Exit> {
    let size = match args.size.as_str() {
        "demo" => AccountSize::Demo,
        "bench" => AccountSize::Bench,
        other => return Err(usage(format!("--size `{other}`: use demo or bench"))),
    };
    let config = SimConfig {
        seed: args.seed,
        size,
        rate_scale: args.rate_scale.max(1),
        ..SimConfig::default()
    };
    crate::sim::serve_forever(config).await?;
    Ok(Exit::Success)
}
