//! Benchmark: the price stage for the sync bench account (`AccountSize::Bench`, every row
//! from 2025-07-01 to the sim's now, 2026-02-15) at OKX's real public limits.
//!
//! The account is synced (`--no-prices`) from a simulator with limits ×20; the price stage
//! (`okx-export prices`, release binary) then runs against a second simulator of the same
//! seed (same price path) at limits ×1. Prints: candle requests issued vs the fewest pages
//! that cover the rows (and the probes that found no instrument), the stage's wall time vs
//! the bound the public limits allow for those requests (slowest endpoint; they run in
//! parallel), rows valued/missing, 429s, and the requests of a second run (must be 0).
//! `cargo bench --bench prices`.

use okx_export::okx::endpoints;
use okx_export::sim::{AccountSize, SimConfig, SimKey, SimServer};
use std::path::Path;
use std::time::{Duration, Instant};

async fn run(sim: &SimServer, data: &Path, scale: u32, args: &[&str]) -> (Duration, String) {
    let key = SimKey::demo();
    let t = Instant::now();
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_okx-export"))
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

fn seconds_in(line: &str) -> f64 {
    line.rsplit(" in ")
        .next()
        .and_then(|s| s.trim_end_matches(" s").parse().ok())
        .unwrap_or(f64::NAN)
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let bench = |rate_scale| SimConfig {
        size: AccountSize::Bench,
        rate_scale,
        ..SimConfig::default()
    };
    let fast = SimServer::start(bench(20)).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (t, _) = run(
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
    println!(
        "prices bench: synced the bench account in {:.1} s (limits x20)",
        t.as_secs_f64()
    );
    fast.shutdown().await;

    let real = SimServer::start(bench(1)).await.unwrap();
    let (wall, out) = run(&real, &data, 1, &["prices"]).await;
    let line = out
        .lines()
        .find(|l| l.starts_with("prices:"))
        .unwrap_or_default()
        .to_string();
    println!("first run:  {line}");
    let stats = real.stats();
    let mut worst = Duration::ZERO;
    for ep in [endpoints::INDEX_CANDLES, endpoints::CANDLES] {
        let s = stats.get(ep.name);
        let b = bound(s.requests, ep.limit);
        worst = worst.max(b);
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
    let stage = seconds_in(&line);
    println!(
        "  stage {stage:.1} s (process {:.1} s) vs public-limit bound {:.1} s: ratio {:.3} (target <= 1.1)",
        wall.as_secs_f64(),
        worst.as_secs_f64(),
        stage / worst.as_secs_f64()
    );
    real.reset_stats();
    let (_, out) = run(&real, &data, 1, &["prices"]).await;
    let line = out.lines().find(|l| l.starts_with("prices:")).unwrap_or_default();
    let s = real.stats();
    let again = s.get(endpoints::INDEX_CANDLES.name).requests + s.get(endpoints::CANDLES.name).requests;
    println!("second run: {again} candle requests (must be 0): {line}");
    real.shutdown().await;
    assert_eq!(again, 0);
}
