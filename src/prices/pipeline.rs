//! The price stage end to end, as `okx-export prices` and the end of `sync` run it: rows
//! from the store → (asset, minute) needs → candles and ECB rates into the cache → every
//! row valued once to count what is missing and write `missing_prices.csv`.

use super::cache::{PriceCache, cache_path_for};
use super::ecb::Ecb;
use super::file::{UserPrices, read_user_prices};
use super::stage::{self, Needs, StageStats};
use super::valuer::CachedValuer;
use super::{Fiat, Valuer};
use crate::normalize::{NormalizeOptions, normalize};
use crate::okx::OkxClient;
use crate::settings::Settings;
use crate::store::Store;
use anyhow::Result;
use chrono::{DateTime, Utc};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What to value in and where to put the results.
#[derive(Debug, Clone)]
pub struct PriceOptions {
    /// The valuation fiat (counts and `missing_prices.csv` are in it).
    pub fiat: Fiat,
    /// More fiat currencies to fetch ECB rates for (e.g. GBP for BittyTax).
    pub extra_fiats: Vec<Fiat>,
    /// `--prices FILE`.
    pub prices_file: Option<PathBuf>,
    /// Where to write `missing_prices.csv` (`None`: do not write it).
    pub missing_out: Option<PathBuf>,
    /// ECB base URL (see [`super::ecb::ecb_url`]).
    pub ecb_url: String,
}

/// What a run of the stage did.
#[derive(Debug, Clone)]
pub struct PriceSummary {
    pub stage: StageStats,
    pub ecb_requests: u64,
    pub rows_valued: u64,
    pub rows_missing: u64,
    /// Distinct (asset, minute)s without a price.
    pub missing_prices: usize,
    pub missing_file: Option<PathBuf>,
    pub cache: PathBuf,
    pub elapsed: Duration,
}

impl PriceSummary {
    /// The one-line summary the commands print.
    pub fn line(&self) -> String {
        let mut s = format!(
            "prices: {} candle requests ({} index, {} spot; fewest covering pages {}, {} absent probes), {} bars stored, {} ECB requests; {} rows valued, {} without a value",
            self.stage.requests,
            self.stage.index_requests,
            self.stage.spot_requests,
            self.stage.fewest_pages,
            self.stage.absent_probes,
            self.stage.bars_stored,
            self.ecb_requests,
            self.rows_valued,
            self.rows_missing
        );
        if let Some(p) = &self.missing_file {
            let _ = write!(
                s,
                " (see {}; fill in `price` and pass --prices FILE)",
                p.display()
            );
        }
        let _ = write!(s, " in {:.1} s", self.elapsed.as_secs_f64());
        s
    }
}

/// The price cache `settings` use.
pub fn open_cache(settings: &Settings) -> Result<PriceCache> {
    PriceCache::open(&cache_path_for(settings))
}

/// The [`Valuer`] for the report: prices from the cache (filled by the price stage) and
/// `prices_file`, valued in `fiat`. After valuing, call
/// [`CachedValuer::write_missing_prices`] with `<out>/missing_prices.csv`.
pub fn open_valuer(settings: &Settings, fiat: Fiat, prices_file: Option<&Path>) -> Result<CachedValuer> {
    let cache = open_cache(settings)?;
    let user = match prices_file {
        Some(p) => read_user_prices(p, &fiat)?,
        None => UserPrices::default(),
    };
    Ok(CachedValuer::new(fiat, cache, user))
}

/// Every (asset, minute) the rows of `store` touch.
pub fn collect_needs(store: &Store) -> Result<Needs> {
    let mut needs = Needs::new();
    normalize(store, &NormalizeOptions::default(), &mut |tx| {
        let minute = super::rules::bar_open(tx.time.timestamp_millis(), 60_000);
        for a in [&tx.sent, &tx.received, &tx.fee].into_iter().flatten() {
            needs.entry(a.asset.clone()).or_default().insert(minute);
        }
        Ok(())
    })?;
    Ok(needs)
}

/// Fetches what `store`'s rows need into the cache and values every row once.
pub async fn run(
    settings: &Settings,
    client: Arc<OkxClient>,
    store: &Store,
    opts: &PriceOptions,
) -> Result<PriceSummary> {
    let started = Instant::now();
    let needs = collect_needs(store)?;
    let path = cache_path_for(settings);
    let mut cache = PriceCache::open(&path)?;
    let stage = stage::run(client, &mut cache, &needs).await?;
    // ECB rates: for fiat assets and for a valuation fiat other than USD.
    let mut ccys: Vec<String> = needs
        .keys()
        .filter(|a| super::rules::is_fiat(a) && *a != "USD")
        .cloned()
        .collect();
    for f in std::iter::once(&opts.fiat).chain(&opts.extra_fiats) {
        if f.as_str() != "USD" {
            ccys.push(f.as_str().to_string());
        }
    }
    let mut ecb_requests = 0;
    if !ccys.is_empty() {
        ccys.push("USD".into());
        ccys.sort();
        ccys.dedup();
        let all = needs.values().flatten();
        let (lo, hi) = (all.clone().min().copied(), all.max().copied());
        if let (Some(lo), Some(hi)) = (lo, hi) {
            let day = |ms: i64| {
                DateTime::<Utc>::from_timestamp_millis(ms)
                    .unwrap_or_default()
                    .date_naive()
            };
            let (from, to) = (day(lo) - chrono::Duration::days(7), day(hi));
            let mut ecb = Ecb::new(opts.ecb_url.clone())?;
            for c in &ccys {
                ecb.ensure(&mut cache, c, from, to).await?;
            }
            ecb_requests = ecb.requests;
        }
    }
    let user = match &opts.prices_file {
        Some(p) => read_user_prices(p, &opts.fiat)?,
        None => UserPrices::default(),
    };
    let mut valuer = CachedValuer::new(opts.fiat.clone(), cache, user);
    normalize(store, &NormalizeOptions::default(), &mut |tx| {
        valuer.value(&tx).map(|_| ())
    })?;
    let (rows_valued, rows_missing) = valuer.counts();
    let missing_prices = valuer.missing().count();
    let missing_file = match &opts.missing_out {
        Some(p) if valuer.write_missing_prices(p)? => Some(p.clone()),
        _ => None,
    };
    Ok(PriceSummary {
        stage,
        ecb_requests,
        rows_valued,
        rows_missing,
        missing_prices,
        missing_file,
        cache: path,
        elapsed: started.elapsed(),
    })
}
