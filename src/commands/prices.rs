//! `prices`: the price stage alone (for a store already synced), and the same stage at the
//! end of `sync`.

use super::say;
use crate::cli::PricesArgs;
use crate::error::{Exit, usage};
use crate::prices::{Fiat, PriceOptions, PriceSummary, ecb, pipeline};
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
    };
    let summary = pipeline::run(settings, client, &store, &opts).await?;
    say(settings, summary.line());
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
    Ok(summary)
}

/// The price stage after a successful sync (`fiats` as the report will use them).
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
    let out = args.out.clone().unwrap_or_else(|| settings.data_dir.clone());
    std::fs::create_dir_all(&out)
        .with_context(|| format!("cannot create output directory `{}`", out.display()))?;
    stage(
        settings,
        std::slice::from_ref(&args.price.fiat),
        args.price.prices_file.clone(),
        Some(out.join("missing_prices.csv")),
        ecb::ecb_url(&settings.base_url),
    )
    .await?;
    Ok(Exit::Success)
}
