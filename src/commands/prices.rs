//! `prices`: the price stage alone (for a store already synced), the same stage at the
//! end of `sync`, and the boundary prices a `report` fetches before it values.

use super::{say, tell};
use crate::cli::{PricesArgs, ReportArgs};
use crate::error::{Exit, usage};
use crate::prices::{Fiat, PriceOptions, PriceSummary, ecb, pipeline};
use crate::report::Period;
use crate::settings::Settings;
use crate::store::Store;
use anyhow::{Context, Result};
use std::path::PathBuf;

/// Runs the stage for the store in `settings.data_dir`, valuing in `fiats[0]` (ECB rates
/// are fetched for all of `fiats`); `missing_out` gets `missing_prices.csv`.
pub async fn stage(
    settings: &Settings,
    fiats: &[Fiat],
    prices_file: Option<PathBuf>,
    missing_out: Option<PathBuf>,
    ecb_url: String,
) -> Result<PriceSummary> {
    let store = Store::open(&settings.data_dir)?;
    let client = super::client(settings, None)?;
    let fiat = fiats.first().cloned().unwrap_or_else(Fiat::usd);
    let opts = PriceOptions {
        fiat,
        extra_fiats: fiats.iter().skip(1).cloned().collect(),
        prices_file,
        missing_out,
        ecb_url,
        zones: Vec::new(),
    };
    let summary = pipeline::run(&settings.price_place(), client, &store, &opts).await?;
    print_summary(settings, &summary);
    Ok(summary)
}

/// Prints the stage's line, and a warning when rows lack a value.
pub fn print_summary(settings: &Settings, summary: &PriceSummary) {
    tell(settings, summary.line());
    if summary.rows_missing > 0 || summary.missing_prices > 0 {
        settings.console.warning(format!(
            "{} rows without a value ({} asset/minute prices missing){}",
            summary.rows_missing,
            summary.missing_prices,
            summary
                .missing_file
                .as_ref()
                .map(|p| format!("; see {}", p.display()))
                .unwrap_or_default()
        ));
    }
}

/// What the price stage of a sync values in: `fiats` as the report will use them, the
/// missing prices listed in the data dir.
pub fn after_sync_options(settings: &Settings, fiats: &[Fiat]) -> PriceOptions {
    PriceOptions {
        fiat: fiats.first().cloned().unwrap_or_else(Fiat::usd),
        extra_fiats: fiats.iter().skip(1).cloned().collect(),
        prices_file: None,
        missing_out: Some(settings.data_dir.join("missing_prices.csv")),
        ecb_url: ecb::ecb_url(&settings.base_url),
        zones: Vec::new(),
    }
}

/// The price stage after a sync that ran without it: a group's or a fleet's members, one
/// after another, so members of one host share the cache without fetching a bar twice.
pub async fn after_sync(settings: &Settings, fiats: &[Fiat]) -> Result<PriceSummary> {
    let out = settings.data_dir.join("missing_prices.csv");
    stage(settings, fiats, None, Some(out), ecb::ecb_url(&settings.base_url))
        .await
        .context("the sync is complete, but the price stage failed; run `okx-export prices` to retry")
}

pub async fn run(settings: &Settings, args: &PricesArgs) -> Result<Exit> {
    if !settings.data_dir.join(Store::FILE).exists() {
        return Err(usage(format!(
            "no store in `{}` yet; run `okx-export sync` first (or pass --data-dir)",
            settings.data_dir.display()
        )));
    }
    // Without a host of its own, `prices` fetches from where the store's prices came from.
    let mut settings = settings.clone();
    if !crate::settings::host_is_explicit(&args.connect, &settings.profile_config)
        && let Some(home) = Store::open(&settings.data_dir)?.price_home()?
    {
        settings.base_url = crate::settings::check_base_url(&home.host)?;
    }
    let out = args.out.clone().unwrap_or_else(|| settings.data_dir.clone());
    std::fs::create_dir_all(&out)
        .with_context(|| format!("cannot create output directory `{}`", out.display()))?;
    stage(
        &settings,
        std::slice::from_ref(&args.price.fiat),
        args.price.prices_file.clone(),
        Some(out.join("missing_prices.csv")),
        ecb::ecb_url(&settings.base_url),
    )
    .await?;
    Ok(Exit::Success)
}

/// Remembers the zone of a report (not UTC) in the store, so each later price stage
/// fetches that zone's year boundaries too.
pub fn remember_zone(store: &Store, period: &Period) -> Result<()> {
    if period.tz != chrono_tz::Tz::UTC {
        store.remember_report_zone(period.tz.name(), chrono::Utc::now())?;
    }
    Ok(())
}

/// Before `report`: the holdings at the period's boundaries priced, fetching from the
/// store's host what its price cache lacks (public candles, no key). When the host cannot
/// be reached the report goes on and lists those prices in `missing_prices.csv`.
pub async fn before_report(settings: &Settings, args: &ReportArgs) -> Result<()> {
    if !settings.data_dir.join(Store::FILE).exists() {
        return Ok(()); // the report says what to do
    }
    let period = args.period()?;
    let store = Store::open(&settings.data_dir)?;
    remember_zone(&store, &period)?;
    let opening = period.to.and(period.from);
    let closing = period.closing_at(chrono::Utc::now());
    if closing.is_none() {
        return Ok(());
    }
    let fetched = pipeline::fetch_for_report(
        &settings.price_place(),
        &store,
        &args.price.fiat,
        opening,
        closing,
        |host| {
            let mut at_host = settings.clone();
            at_host.base_url = crate::settings::check_base_url(host)?;
            // A report should not hang on a host that is down: it lists what it lacks.
            at_host.give_up_after = at_host.give_up_after.min(std::time::Duration::from_secs(15));
            super::client(&at_host, None)
        },
    )
    .await;
    match fetched {
        Ok(f) if f.wanted > 0 => say(
            settings,
            format!(
                "report: fetched {} price(s) at the period's boundaries from {} ({} requests)",
                f.wanted,
                f.host.unwrap_or_default(),
                f.requests
            ),
        ),
        Ok(_) => {}
        Err(e) if crate::error::exit_for(&e) == Exit::Data => return Err(e),
        Err(e) => settings.console.warning(format!(
            "report: could not fetch the prices at the period's boundaries ({e:#}); the holdings without one are listed in missing_prices.csv"
        )),
    }
    Ok(())
}
