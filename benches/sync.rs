//! Benchmark: a full sync of a generated account (>= 20,000 fills, >= 20,000 trading
//! bills, >= 2,000 deposits/withdrawals) from the simulator with every rate limit ×20.
//!
//! Runs the release binary as a child process (so its peak RSS is its own), then prints
//! wall time, the minimum time the rate limits allow for the requests made (the slowest
//! endpoint's bound; endpoints run in parallel), their ratio, records/s, requests/s per
//! endpoint, 429s and peak RSS. `cargo bench --bench sync`.

use okx_export::okx::endpoints;
use okx_export::sim::{AccountSize, SimConfig, SimKey, SimServer};
use std::time::{Duration, Instant};

const SCALE: u32 = 20;

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let sim = SimServer::start(SimConfig {
        size: AccountSize::Bench,
        rate_scale: SCALE,
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let a = sim.account().snapshot();
    println!(
        "sync bench: account with {} fills, {} trading bills, {} funding bills, {} deposits, {} withdrawals, {} converts; limits x{SCALE}",
        a.fills.len(),
        a.trading_bills.len(),
        a.funding_bills.len(),
        a.deposits.len(),
        a.withdrawals.len(),
        a.converts.len()
    );
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let key = SimKey::demo();
    let t = Instant::now();
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_okx-export"))
        .args([
            "--data-dir",
            data.to_str().unwrap(),
            "--no-progress",
            "--quiet",
            "sync",
            "--since",
            "2025-07-01",
            "--archive-poll-ms",
            "100",
            "--no-prices", // the price stage has its own bench (benches/prices.rs)
        ])
        .env("OKX_BASE_URL", sim.base_url())
        .env("OKX_API_KEY", &key.api_key)
        .env("OKX_API_SECRET", &key.secret)
        .env("OKX_API_PASSPHRASE", &key.passphrase)
        .env("OKX_EXPORT_RATE_SCALE", SCALE.to_string())
        .output()
        .await
        .unwrap();
    let wall = t.elapsed();
    assert!(
        out.status.success(),
        "sync failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(data.join("sync-summary.json")).unwrap()).unwrap();
    let stats = sim.stats();

    let mut bound = Duration::ZERO;
    let mut slowest = "";
    println!(
        "{:<30} {:>8} {:>10} {:>12} {:>6}",
        "endpoint", "requests", "req/s", "limit bound", "429s"
    );
    for (name, e) in &stats.endpoints {
        let Some(ep) = endpoints::ALL.iter().find(|x| x.name == name.as_str()) else {
            continue;
        };
        let limit = ep.limit.scaled(SCALE);
        let b = if e.requests == 0 {
            Duration::ZERO
        } else {
            limit.per * ((e.requests as u32 - 1) / limit.count)
        };
        if b > bound {
            bound = b;
            slowest = ep.name;
        }
        println!(
            "{:<30} {:>8} {:>10.1} {:>11.2}s {:>6}",
            name,
            e.requests,
            e.requests as f64 / wall.as_secs_f64(),
            b.as_secs_f64(),
            e.rate_limited
        );
    }
    let records = summary["totals"]["fetched_records"].as_u64().unwrap_or(0);
    let rss = summary["peak_rss_bytes"].as_u64().unwrap_or(0) as f64 / 1_048_576.0;
    println!("sync bench: wall time {:.2}s", wall.as_secs_f64());
    println!(
        "sync bench: rate-limit bound {:.2}s (slowest endpoint: {slowest})",
        bound.as_secs_f64()
    );
    println!(
        "sync bench: ratio wall/bound {:.3} (target <= 1.15)",
        wall.as_secs_f64() / bound.as_secs_f64().max(1e-9)
    );
    println!(
        "sync bench: {records} records fetched, {:.0} records/s",
        records as f64 / wall.as_secs_f64()
    );
    println!(
        "sync bench: {} requests, {} rejected with 429",
        stats.total_requests, stats.total_rate_limited
    );
    println!("sync bench: peak RSS of the sync process {rss:.1} MB (target < 100 MB)");
    sim.shutdown().await;
}
