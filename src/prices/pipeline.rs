//! The price stage end to end, as `okx-export prices` and the end of `sync` run it: rows
//! from the store → (asset, minute) needs, plus what reports need beyond rows
//! ([`super::boundaries`]) → candles and ECB rates into the cache → every row valued once
//! to count what is missing and write `missing_prices.csv` → the store remembers where its
//! prices live ([`PriceHome`]), so every later command on it finds them.

use super::boundaries;
use super::cache::{PriceCache, PricePlace};
use super::ecb::Ecb;
use super::file::{UserPrices, read_user_prices};
use super::stage::{self, Needs, StageStats};
use super::valuer::CachedValuer;
use super::{Fiat, Valuer};
use crate::error::DataProblem;
use crate::normalize::{NormalizeOptions, normalize};
use crate::okx::OkxClient;
use crate::store::{PriceHome, Store};
use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
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
    /// Zones whose year boundaries to price, besides UTC and the zones the store's reports
    /// were asked in (e.g. the `--tz` of `export`).
    pub zones: Vec<Tz>,
}

/// What a run of the stage did.
#[derive(Debug, Clone)]
pub struct PriceSummary {
    pub stage: StageStats,
    pub ecb_requests: u64,
    pub rows_valued: u64,
    pub rows_missing: u64,
    /// Rows whose bar had not closed when the prices were fetched (the next run values
    /// them; not a problem).
    pub rows_pending: u64,
    /// Distinct (asset, minute)s without a price.
    pub missing_prices: usize,
    pub missing_file: Option<PathBuf>,
    pub cache: PathBuf,
    pub elapsed: Duration,
}

/// `one` for a count of 1, else `many`.
fn plural<N: TryInto<u64>>(n: N, one: &'static str, many: &'static str) -> &'static str {
    if n.try_into().ok() == Some(1) { one } else { many }
}

impl PriceSummary {
    /// The one-line summary the commands print.
    pub fn line(&self) -> String {
        let mut s = format!(
            "prices: {} candle {} ({} index, {} spot; {} pages would cover the rows from an empty cache, {} finer pages for wide or open hours, {} absent {}), {} bars stored, {} ECB {}; {} rows valued, {} without a value, {} pending",
            self.stage.requests,
            plural(self.stage.requests, "request", "requests"),
            self.stage.index_requests,
            self.stage.spot_requests,
            self.stage.fewest_pages,
            self.stage.finer_pages,
            self.stage.absent_probes,
            plural(self.stage.absent_probes, "probe", "probes"),
            self.stage.bars_stored,
            self.ecb_requests,
            plural(self.ecb_requests, "request", "requests"),
            self.rows_valued,
            self.rows_missing,
            self.rows_pending
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

/// The price cache of `place`.
pub fn open_cache(place: &PricePlace) -> Result<PriceCache> {
    PriceCache::open(&place.cache)
}

/// The [`Valuer`] for a report without a store: prices from the cache of `place`
/// and `prices_file`, valued in `fiat`. A report on a store uses
/// [`open_store_valuer`], which finds the cache the store's prices were fetched to.
pub fn open_valuer(place: &PricePlace, fiat: Fiat, prices_file: Option<&Path>) -> Result<CachedValuer> {
    let cache = open_cache(place)?;
    let user = match prices_file {
        Some(p) => read_user_prices(p, &fiat)?,
        None => UserPrices::default(),
    };
    Ok(CachedValuer::new(fiat, cache, user))
}

/// Where `store`'s prices live: the cache its last price stage filled, or (never priced)
/// the one of `place`. Fails (exit 4) when the store says its prices were fetched
/// to a cache that no longer holds any: valuing its rows from nothing would write empty
/// value cells as if that were all OKX has.
pub fn store_cache(place: &PricePlace, store: &Store) -> Result<(PriceCache, Option<PriceHome>)> {
    let Some(home) = store.price_home()? else {
        return Ok((open_cache(place)?, None));
    };
    let gone = |what: &str| {
        anyhow::Error::new(DataProblem(format!(
            "the store's prices were fetched from {} into `{}`, but {what}; restore that file, or run `okx-export prices --base-url {}` to fetch them again (public data, no key needed)",
            home.host,
            home.cache.display(),
            home.host
        )))
    };
    if home.has_bars && !home.cache.exists() {
        return Err(gone("that file is gone"));
    }
    let cache = PriceCache::open(&home.cache)?;
    if home.has_bars && !cache.has_bars()? {
        return Err(gone("it holds no prices now"));
    }
    Ok((cache, Some(home)))
}

/// The [`Valuer`] for a report on `store` ([`store_cache`]), with `prices_file`, valued in
/// `fiat`. After valuing, call [`CachedValuer::write_missing_prices`] with
/// `<out>/missing_prices.csv`.
pub fn open_store_valuer(
    place: &PricePlace,
    store: &Store,
    fiat: Fiat,
    prices_file: Option<&Path>,
) -> Result<CachedValuer> {
    let (cache, home) = store_cache(place, store)?;
    let user = match prices_file {
        Some(p) => read_user_prices(p, &fiat)?,
        None => UserPrices::default(),
    };
    let valuer = CachedValuer::new(fiat, cache, user);
    Ok(match home {
        Some(h) => valuer.fetched_from(&h.host, h.fetched_at),
        None => valuer,
    })
}

/// Every (asset, minute) the rows of `store` touch.
pub fn collect_needs(store: &Store) -> Result<Needs> {
    needs_within(store, &[(i64::MIN, i64::MAX)])
}

/// Every (asset, minute) the rows of `store` with a time in one of `ranges` (sorted,
/// disjoint `[from, to)`, Unix ms) touch. Each range is read on its own
/// ([`Store::between`]), with a day more on each side so rows made of several bills
/// (paired trade legs, conversions) come out as in a whole-store run.
pub fn needs_within(store: &Store, ranges: &[(i64, i64)]) -> Result<Needs> {
    const EDGE_MS: i64 = 86_400_000;
    let mut needs = Needs::new();
    for &(from, to) in ranges {
        let at = |ms: i64| {
            (ms > i64::MIN && ms < i64::MAX)
                .then(|| DateTime::from_timestamp_millis(ms))
                .flatten()
        };
        let opts = NormalizeOptions {
            from: at(from),
            to: at(to),
            ..NormalizeOptions::default()
        };
        let mut sink = |tx: crate::model::Transaction| {
            let minute = super::rules::bar_open(tx.time.timestamp_millis(), 60_000);
            for a in [&tx.sent, &tx.received, &tx.fee].into_iter().flatten() {
                needs.entry(a.asset.clone()).or_default().insert(minute);
            }
            Ok(())
        };
        if from == i64::MIN && to == i64::MAX {
            normalize(store, &opts, &mut sink)?;
        } else {
            let window = store.between(from.saturating_sub(EDGE_MS), to.saturating_add(EDGE_MS));
            normalize(&window, &opts, &mut sink)?;
        }
    }
    Ok(needs)
}

/// `extra` added to `needs`.
pub(crate) fn merge(needs: &mut Needs, extra: Needs) {
    for (asset, minutes) in extra {
        needs.entry(asset).or_default().extend(minutes);
    }
}

/// What the ECB series of `ccy` is fetched for, naming the currencies asked for (an error
/// about the USD series of EUR values must say EUR).
fn ecb_purpose(ccy: &str, fiats: &[&Fiat]) -> String {
    let fiats: Vec<&str> = fiats.iter().map(|f| f.as_str()).filter(|f| *f != "USD").collect();
    if ccy == "USD" || fiats.contains(&ccy) {
        format!(
            "ECB rates for {} values (the euro reference rate of {ccy})",
            fiats.join("/")
        )
    } else {
        format!("ECB rates for the rows in {ccy} (the euro reference rate of {ccy})")
    }
}

/// Makes sure `cache` holds the ECB rates `needs` call for in `fiats` (fiat assets, and
/// every valuation fiat but USD) over the days of `needs`; returns the requests made.
async fn ensure_ecb(cache: &mut PriceCache, needs: &Needs, fiats: &[&Fiat], ecb_url: &str) -> Result<u64> {
    let mut ccys: Vec<String> = needs
        .keys()
        .filter(|a| super::rules::is_fiat(a) && *a != "USD")
        .cloned()
        .collect();
    for f in fiats {
        if f.as_str() != "USD" {
            ccys.push(f.as_str().to_string());
        }
    }
    if ccys.is_empty() {
        return Ok(0);
    }
    ccys.push("USD".into());
    ccys.sort();
    ccys.dedup();
    let all = needs.values().flatten();
    let (Some(lo), Some(hi)) = (all.clone().min().copied(), all.max().copied()) else {
        return Ok(0);
    };
    let day = |ms: i64| {
        DateTime::<Utc>::from_timestamp_millis(ms)
            .unwrap_or_default()
            .date_naive()
    };
    let (from, to) = (day(lo) - chrono::Duration::days(7), day(hi));
    let mut ecb = Ecb::new(ecb_url.to_string())?;
    for c in &ccys {
        ecb.ensure(cache, c, from, to)
            .await
            .with_context(|| ecb_purpose(c, fiats))?;
    }
    Ok(ecb.requests)
}

/// Fetches what `store`'s rows and reports need into the cache, values every row once and
/// records in the store where its prices now live.
pub async fn run(
    place: &PricePlace,
    client: Arc<OkxClient>,
    store: &Store,
    opts: &PriceOptions,
) -> Result<PriceSummary> {
    let started = Instant::now();
    let now = host_now(&client).await?;
    let mut needs = collect_needs(store)?;
    merge(&mut needs, year_and_now_needs(store, now, opts)?);
    let path = place.cache.clone();
    let mut cache = PriceCache::open(&path)?;
    let mut stats = stage::run(client.clone(), &mut cache, &needs, now.timestamp_millis()).await?;
    let mut ecb_requests = fetch_ecb(&mut cache, &needs, opts).await?;
    let (mut valuer, lacking) = value_all(store, cache, opts, &place.host, now)?;
    if !lacking.is_empty() {
        // Rows the stage's needs missed (they cannot be, but a value is never left out
        // when the host can give it).
        tracing::warn!(
            "{} rows' prices were not fetched with the others; fetching them",
            lacking.len()
        );
        let mut cache = valuer.into_cache();
        stats.absorb(&stage::run(client, &mut cache, &lacking, now.timestamp_millis()).await?);
        ecb_requests += fetch_ecb(&mut cache, &lacking, opts).await?;
        valuer = value_all(store, cache, opts, &place.host, now)?.0;
    }
    conclude(
        place,
        store,
        &valuer,
        opts,
        Staged {
            stats,
            now,
            started,
            ecb_requests,
        },
    )
}

/// OKX's time, which decides which bars have closed.
pub(crate) async fn host_now(client: &OkxClient) -> Result<DateTime<Utc>> {
    client
        .server_time()
        .await
        .context("asking OKX for its time (the price stage fetches only bars that have closed)")
}

/// What reports need beyond rows: the holdings at each year start and now
/// ([`boundaries`]).
pub(crate) fn year_and_now_needs(store: &Store, now: DateTime<Utc>, opts: &PriceOptions) -> Result<Needs> {
    let zones = boundaries::zones(store, &opts.zones)?;
    boundaries::stage_needs(store, now, &zones)
}

/// When the prices of `store` were last fetched from `host` into the cache at `cache`.
pub(crate) fn last_fetched(store: &Store, host: &str, cache: &Path) -> Result<Option<DateTime<Utc>>> {
    Ok(store.price_home()?.and_then(|h| {
        let same_cache = std::path::absolute(cache).is_ok_and(|c| c == h.cache);
        (h.host == host && same_cache).then_some(h.fetched_at)
    }))
}

/// What the candle stage did, for [`conclude`].
pub(crate) struct Staged {
    pub stats: StageStats,
    /// The host's time the holdings "now" are valued at: when the stage ran, or when the
    /// prices were last fetched if nothing new came since ([`super::alongside`]).
    pub now: DateTime<Utc>,
    pub started: Instant,
    /// ECB requests made ([`fetch_ecb`]).
    pub ecb_requests: u64,
}

/// The ECB rates `needs` call for in the fiats of `opts`; returns the requests made.
pub(crate) async fn fetch_ecb(cache: &mut PriceCache, needs: &Needs, opts: &PriceOptions) -> Result<u64> {
    let fiats: Vec<&Fiat> = std::iter::once(&opts.fiat).chain(&opts.extra_fiats).collect();
    ensure_ecb(cache, needs, &fiats, &opts.ecb_url).await
}

/// Every row valued once with what the cache holds, and the (asset, minute)s still
/// lacking a price that a fetch from the host would give (none after a complete stage).
pub(crate) fn value_all(
    store: &Store,
    cache: PriceCache,
    opts: &PriceOptions,
    host: &str,
    now: DateTime<Utc>,
) -> Result<(CachedValuer, Needs)> {
    let user = match &opts.prices_file {
        Some(p) => read_user_prices(p, &opts.fiat)?,
        None => UserPrices::default(),
    };
    let mut valuer = CachedValuer::new(opts.fiat.clone(), cache, user).fetched_from(host, now);
    let mut lacking = Needs::new();
    normalize(store, &NormalizeOptions::default(), &mut |tx| {
        valuer.value(&tx)?;
        let ts = tx.time.timestamp_millis();
        for a in [&tx.sent, &tx.received, &tx.fee].into_iter().flatten() {
            if valuer.lacks(&a.asset, ts)? {
                let minute = super::rules::bar_open(ts, 60_000);
                lacking.entry(a.asset.clone()).or_default().insert(minute);
            }
        }
        Ok(())
    })?;
    Ok((valuer, lacking))
}

/// After the candles and the ECB rates, with every row valued ([`value_all`]): the counts,
/// `missing_prices.csv`, and the store told where its prices live.
pub(crate) fn conclude(
    place: &PricePlace,
    store: &Store,
    valuer: &CachedValuer,
    opts: &PriceOptions,
    staged: Staged,
) -> Result<PriceSummary> {
    let Staged {
        stats: stage,
        now,
        started,
        ecb_requests,
    } = staged;
    let path = place.cache.clone();
    let (rows_valued, rows_missing) = valuer.counts();
    let missing_prices = valuer.missing().count();
    let missing_file = match &opts.missing_out {
        Some(p) if valuer.write_missing_prices(p)? => Some(p.clone()),
        _ => None,
    };
    store.set_price_home(&PriceHome {
        host: place.host.clone(),
        cache: std::path::absolute(&path).unwrap_or_else(|_| path.clone()),
        fetched_at: now,
        has_bars: valuer.has_bars()?,
    })?;
    Ok(PriceSummary {
        stage,
        ecb_requests,
        rows_valued,
        rows_missing,
        rows_pending: valuer.pending(),
        missing_prices,
        missing_file,
        cache: path,
        elapsed: started.elapsed(),
    })
}

/// What [`fetch_for_report`] did.
#[derive(Debug, Clone, Default)]
pub struct ReportFetch {
    /// Asset/minute prices the report needed that the cache lacked.
    pub wanted: usize,
    /// Candle and ECB requests made for them.
    pub requests: u64,
    /// The host, when asked.
    pub host: Option<String>,
}

/// Before a report on `store`: the holdings at its boundaries (`opening`; `closing`, the
/// end or now) priced, fetching from the store's host what its cache lacks (no key
/// needed: candles are public). Nothing is asked when the cache has them all, or when the
/// store was never priced. A failure is returned for the caller to report: the report
/// then lists those prices as missing, with a fix that works.
pub async fn fetch_for_report(
    place: &PricePlace,
    store: &Store,
    fiat: &Fiat,
    opening: Option<DateTime<Utc>>,
    closing: Option<DateTime<Utc>>,
    connect: impl FnOnce(&str) -> Result<Arc<OkxClient>>,
) -> Result<ReportFetch> {
    let (cache, Some(home)) = store_cache(place, store)? else {
        return Ok(ReportFetch::default());
    };
    let needs = boundaries::report_needs(store, opening, closing, Some(home.fetched_at))?;
    // What the cache cannot price yet (pending and absent markets are not fetched again).
    let mut valuer = CachedValuer::new(fiat.clone(), cache, UserPrices::default());
    let mut lacking = Needs::new();
    for (asset, minutes) in &needs {
        for &m in minutes {
            if valuer.lacks(asset, m)? {
                lacking.entry(asset.clone()).or_default().insert(m);
            }
        }
    }
    let wanted = lacking.values().map(std::collections::BTreeSet::len).sum();
    if wanted == 0 {
        return Ok(ReportFetch::default());
    }
    let mut done = ReportFetch {
        wanted,
        requests: 0,
        host: Some(home.host.clone()),
    };
    let client = connect(&home.host)?;
    let now = client.server_time().await?;
    let mut cache = PriceCache::open(&home.cache)?;
    let stats = stage::run(client, &mut cache, &lacking, now.timestamp_millis()).await?;
    done.requests = stats.requests;
    done.requests += ensure_ecb(&mut cache, &lacking, &[fiat], &super::ecb::ecb_url(&home.host)).await?;
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One of a thing is not "1 things" (the demo printed "1 absent probes").
    #[test]
    fn the_price_line_counts_in_the_singular_and_the_plural() {
        let summary = |n: u64| PriceSummary {
            stage: StageStats {
                requests: n,
                absent_probes: n,
                ..StageStats::default()
            },
            ecb_requests: n,
            rows_valued: 0,
            rows_missing: 0,
            rows_pending: 0,
            missing_prices: 0,
            missing_file: None,
            cache: PathBuf::new(),
            elapsed: Duration::ZERO,
        };
        let one = summary(1).line();
        for part in ["1 candle request (", "1 absent probe)", "1 ECB request;"] {
            assert!(one.contains(part), "{one}");
        }
        for n in [0, 2] {
            let many = summary(n).line();
            for part in [" candle requests (", " absent probes)", " ECB requests;"] {
                assert!(many.contains(&format!("{n}{part}")), "{many}");
            }
        }
    }
}
