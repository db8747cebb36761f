//! Benchmark: the price stage for the sync bench account (`AccountSize::Bench`, every row
//! from 2025-07-01 to the sim's now, 2026-02-15) at OKX's real public limits.
//!
//! The account is synced (`--no-prices`) from a simulator with limits ×20; the price stage
//! (`okx-export prices`, release binary) then runs against a second simulator of the same
//! seed (same price path) at limits ×1. Prints: candle requests issued vs the fewest pages
//! that cover the rows (and the probes that found no instrument), the stage's wall time vs
//! the bound the public limits allow for those requests (slowest endpoint; they run in
//! parallel), rows valued/missing, 429s, and the requests of a second run (must be 0).
//!
//! Then how exact the values are (issue 19): the share of rows whose value is within 0.5 %
//! of the market's price at the row's minute (the simulator's price path), for that
//! account and for the same account on a volatile market (`SimConfig::volatile_hours`: an
//! hour in twelve swings 1.5 %), with that market's candle requests (limits ×10 there: the
//! counts, not the time, are the point). The stage before issue 19 made the fewest covering
//! pages plus the absent probes, which the line prints as well.
//!
//! Then the two-year account (`AccountSize::TwoYear`: about 24,000 records from 2024-01-01,
//! issue 23): its price stage at OKX's real public limits, the requests per candle endpoint,
//! the bound of each and how far the stage is from the combined rate of both.
//!
//! `cargo bench --bench prices`. `BENCH_PRICES=bench,volatile,two-year,two-year-usdt-index`
//! picks the parts (`two-year-usdt-index`: the same account with a `USDT-USD` index);
//! `OKX_EXPORT_BIN=path` runs another build of the binary (an A/B on the same machine).

use okx_export::model::Transaction;
use okx_export::normalize::{NormalizeOptions, normalize};
use okx_export::okx::endpoints;
use okx_export::prices::cache::PriceCache;
use okx_export::prices::file::UserPrices;
use okx_export::prices::{CachedValuer, Fiat, RowValue, Valuer};
use okx_export::sim::{AccountSize, SimConfig, SimKey, SimServer};
use rust_decimal::Decimal;
use std::path::Path;
use std::time::{Duration, Instant};

/// The binary under test: this build's, or `OKX_EXPORT_BIN`.
fn bin() -> String {
    std::env::var("OKX_EXPORT_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_okx-export").to_string())
}

/// Whether `BENCH_PRICES` (default: all) asks for `part`.
fn wanted(part: &str) -> bool {
    std::env::var("BENCH_PRICES").map_or(true, |v| v.split(',').any(|p| p.trim() == part))
}

async fn run(sim: &SimServer, data: &Path, scale: u32, args: &[&str]) -> (Duration, String) {
    let key = SimKey::demo();
    let t = Instant::now();
    let out = tokio::process::Command::new(bin())
        .args(["--data-dir", data.to_str().unwrap(), "--no-progress"])
        .args(args)
        .env("OKX_BASE_URL", sim.base_url())
        .env("OKX_API_KEY", &key.api_key)
        .env("OKX_API_SECRET", &key.secret)
        .env("OKX_API_PASSPHRASE", &key.passphrase)
        .env("OKX_EXPORT_RATE_SCALE", scale.to_string())
        .env("OKX_EXPORT_ECB_URL", format!("{}/sim-ecb", sim.base_url()))
        .env_remove("OKX_EXPORT_PRICE_CACHE")
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (t.elapsed(), String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The time of the last send of `n` requests under `count` per `per` (sliding window, the
/// first window's burst at once).
fn bound(n: u64, limit: endpoints::RateLimit) -> Duration {
    if n == 0 {
        return Duration::ZERO;
    }
    limit.per * ((n - 1) / u64::from(limit.count)) as u32
}

/// The price line of a command's stdout, its wrapped lines joined (sentences wrap to 80
/// columns, continued with an indent).
fn price_line(out: &str) -> String {
    let mut lines = out.lines().skip_while(|l| !l.starts_with("prices:"));
    let Some(first) = lines.next() else {
        return String::new();
    };
    std::iter::once(first)
        .chain(lines.take_while(|l| l.starts_with("  ")).map(str::trim))
        .collect::<Vec<_>>()
        .join(" ")
}

fn seconds_in(line: &str) -> f64 {
    line.rsplit(" in ")
        .next()
        .and_then(|s| s.trim_end_matches(" s").parse().ok())
        .unwrap_or(f64::NAN)
}

/// The asset whose unit price gives the row its value: a trade's leg, else the amount.
fn value_asset<'a>(tx: &'a Transaction, v: &'a RowValue) -> Option<&'a str> {
    if let Some(rest) = v.source.strip_prefix("leg:") {
        return rest.split(':').next();
    }
    tx.received
        .as_ref()
        .or(tx.sent.as_ref())
        .or(tx.fee.as_ref())
        .map(|a| a.asset.as_str())
}

/// (rows compared, within 0.5 % of the price at the row's time, beyond without a bound
/// that holds, worst error) for the rows of the store in `data`, valued from its cache.
fn accuracy(sim: &SimServer, data: &Path) -> (usize, usize, usize, Decimal) {
    let cache = PriceCache::open(&data.join("price-cache.sqlite")).unwrap();
    let mut v = CachedValuer::new(Fiat::usd(), cache, UserPrices::default());
    let store = okx_export::store::Store::open(data).unwrap();
    let (mut rows, mut within, mut unbounded, mut worst) = (0, 0, 0, Decimal::ZERO);
    normalize(&store, &NormalizeOptions::default(), &mut |tx| {
        let rv = v.value(&tx)?;
        let Some(asset) = rv.value.and(value_asset(&tx, &rv)) else {
            return Ok(());
        };
        if let (Some(p), Some(truth)) = (
            rv.unit_price(asset),
            sim.usd_price(asset, tx.time.timestamp_millis()),
        ) {
            rows += 1;
            let err = ((p - truth) / truth).abs();
            worst = worst.max(err);
            if err <= Decimal::new(5, 3) {
                within += 1;
            } else if rv.bound().is_none_or(|b| b < err) {
                unbounded += 1;
            }
        }
        Ok(())
    })
    .unwrap();
    (rows, within, unbounded, worst)
}

fn print_accuracy(what: &str, (rows, within, unbounded, worst): (usize, usize, usize, Decimal)) {
    println!(
        "  {what}: {within} of {rows} valued rows within 0.5 % of the minute price ({:.2} %), worst {} %, {unbounded} beyond it without a bound",
        within as f64 * 100.0 / rows.max(1) as f64,
        (worst * Decimal::ONE_HUNDRED).round_dp(2)
    );
}

/// Syncs `size` (limits ×20, no prices) into `data`, then starts a simulator of the same
/// account at OKX's real limits for the price stage (the caller runs it).
async fn synced(config: SimConfig, data: &Path, since: &str) -> SimServer {
    let fast = SimServer::start(SimConfig {
        rate_scale: 20,
        ..config.clone()
    })
    .await
    .unwrap();
    let (t, _) = run(
        &fast,
        data,
        20,
        &[
            "--quiet",
            "sync",
            "--since",
            since,
            "--archive-poll-ms",
            "100",
            "--no-prices",
        ],
    )
    .await;
    println!(
        "prices bench: synced the {:?} account in {:.1} s (limits x20)",
        config.size,
        t.as_secs_f64()
    );
    fast.shutdown().await;
    SimServer::start(SimConfig {
        rate_scale: 1,
        ..config
    })
    .await
    .unwrap()
}

/// Runs `prices` on `data` against `sim` (limits ×1) and prints the stage's line, the
/// requests and bound of each candle endpoint, and the stage's time against the slowest
/// endpoint's bound and against the bound of the same requests at both endpoints' combined
/// rate. Returns the stage's seconds.
async fn first_stage(sim: &SimServer, data: &Path) -> f64 {
    let (wall, out) = run(sim, data, 1, &["prices"]).await;
    let line = price_line(&out);
    println!("first run:  {line}");
    let stats = sim.stats();
    let mut worst = Duration::ZERO;
    let mut total = 0;
    for ep in [endpoints::INDEX_CANDLES, endpoints::CANDLES] {
        let s = stats.get(ep.name);
        let b = bound(s.requests, ep.limit);
        worst = worst.max(b);
        total += s.requests;
        println!(
            "  {:<22} {:>5} requests, limit {}/{:?}, bound {:>6.1} s, 429s {}",
            ep.name,
            s.requests,
            ep.limit.count,
            ep.limit.per,
            b.as_secs_f64(),
            s.rate_limited
        );
    }
    // Both endpoints' windows are 2 s: together they take 30 requests per window.
    let combined = endpoints::RateLimit {
        count: endpoints::INDEX_CANDLES.limit.count + endpoints::CANDLES.limit.count,
        per: endpoints::CANDLES.limit.per,
    };
    let both = bound(total, combined);
    let stage = seconds_in(&line);
    println!(
        "  stage {stage:.1} s (process {:.1} s) vs public-limit bound {:.1} s: ratio {:.3} (target <= 1.1); {total} requests at the combined rate of both endpoints: {:.1} s",
        wall.as_secs_f64(),
        worst.as_secs_f64(),
        stage / worst.as_secs_f64(),
        both.as_secs_f64()
    );
    stage
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let bench = SimConfig {
        size: AccountSize::Bench,
        ..SimConfig::default()
    };
    let dir = tempfile::tempdir().unwrap();
    if wanted("bench") {
        let data = dir.path().join("data");
        let real = synced(bench.clone(), &data, "2025-07-01").await;
        first_stage(&real, &data).await;
        real.reset_stats();
        let (_, out) = run(&real, &data, 1, &["prices"]).await;
        let line = price_line(&out);
        let s = real.stats();
        let again = s.get(endpoints::INDEX_CANDLES.name).requests + s.get(endpoints::CANDLES.name).requests;
        println!("second run: {again} candle requests (must be 0): {line}");
        print_accuracy("values", accuracy(&real, &data));
        real.shutdown().await;
        assert_eq!(again, 0);
    }

    if wanted("volatile") {
        // The same account on a volatile market (limits x10 there: the counts, not the
        // time, are the point).
        let volatile = SimConfig {
            volatile_hours: true,
            ..bench.clone()
        };
        let data = dir.path().join("volatile");
        let fast = SimServer::start(SimConfig {
            rate_scale: 20,
            ..volatile.clone()
        })
        .await
        .unwrap();
        run(
            &fast,
            &data,
            20,
            &[
                "--quiet",
                "sync",
                "--since",
                "2025-07-01",
                "--archive-poll-ms",
                "100",
                "--no-prices",
            ],
        )
        .await;
        fast.shutdown().await;
        let sim = SimServer::start(SimConfig {
            rate_scale: 10,
            ..volatile
        })
        .await
        .unwrap();
        let (_, out) = run(&sim, &data, 10, &["prices"]).await;
        let line = price_line(&out);
        println!("volatile market: {line}");
        print_accuracy("values", accuracy(&sim, &data));
        sim.shutdown().await;
    }

    // A tax user's first sync: two years of history (issue 23 item 2), with the default
    // simulator (USDT priced through BTC-USD / BTC-USDT: OKX's USDT-USD index is
    // unverified) and with a USDT-USD index.
    for (part, usdt_index) in [("two-year", false), ("two-year-usdt-index", true)] {
        if !wanted(part) {
            continue;
        }
        let data = dir.path().join(part);
        let two = SimConfig {
            size: AccountSize::TwoYear,
            usdt_index,
            ..SimConfig::default()
        };
        let real = synced(two, &data, "2024-01-01").await;
        let stage = first_stage(&real, &data).await;
        println!("{part} account: price stage {stage:.1} s");
        print_accuracy("values", accuracy(&real, &data));
        real.shutdown().await;
    }
}
