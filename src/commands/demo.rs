//! `demo`: the whole pipeline against the built-in simulated OKX account, no key needed.
//! Also the hidden `simulate` command that runs the simulator standalone.

use super::say;
use crate::cli::{DemoArgs, GlobalArgs, ReportArgs, SimulateArgs};
use crate::error::{Exit, usage};
use crate::settings::{ProfileConfig, Settings};
use crate::sim::{AccountSize, SimConfig, SimKey, SimServer};
use crate::sync::SyncOptions;
use anyhow::Result;
use chrono::{TimeZone, Utc};
use std::path::PathBuf;
use std::time::Duration;

/// Where the simulated account's history starts; the demo's `--since`.
pub fn demo_since() -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 7, 1, 0, 0, 0).unwrap()
}

pub async fn run(g: &GlobalArgs, args: &DemoArgs) -> Result<Exit> {
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from("output").join("demo"));
    // A fresh store every time: the demo shows the whole pipeline, and a store left by an
    // older build's simulated account would not reconcile with today's.
    for suffix in ["", "-wal", "-shm"] {
        let p = out.join(format!("{}{suffix}", crate::store::Store::FILE));
        match std::fs::remove_file(&p) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(
                    anyhow::Error::new(e).context(format!("cannot remove old demo store `{}`", p.display()))
                );
            }
        }
    }
    let sim = SimServer::start(SimConfig::default()).await?;
    let key = SimKey::demo();
    let settings = Settings {
        profile: "demo".into(),
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
    };
    say(
        &settings,
        format!(
            "demo: simulated OKX account at {} (data as of {})",
            sim.base_url(),
            crate::sim::SIM_NOW
        ),
    );
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
    super::sync::run_with(&settings, creds, opts).await?;
    let report = ReportArgs {
        year: None,
        from: None,
        to: None,
        tz: "UTC".into(),
        format: "all".into(),
        out: Some(out.clone()),
        allow_unclassified: false,
        allow_incomplete: false,
    };
    let store = crate::store::Store::open(&settings.data_dir)?;
    let exit = super::report::report_from(&settings, &store, &report)?;
    let stats = sim.stats();
    say(
        &settings,
        format!(
            "demo: done; the simulator served {} requests with {} rate-limit rejections. Open {} to see the files.",
            stats.total_requests,
            stats.total_rate_limited,
            out.display()
        ),
    );
    sim.shutdown().await;
    Ok(exit)
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
