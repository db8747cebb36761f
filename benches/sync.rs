//! Benchmark: full and incremental syncs of generated accounts from the simulator at
//! OKX's real limits (issue 10). `cargo bench --bench sync`.
//!
//! Runs the release binary as a child process (so its peak RSS is its own) and prints, per
//! account: wall time, requests per endpoint, the rate-limit bound of *paging everything*
//! (today's design before the planner: `bills-archive` and `fills-history` over their whole
//! windows), the bound of the planned request set, the fewest requests that cover the
//! history, their ratios, 429s, and the requests of a second run with nothing new.
//!
//! Both accounts' 90-day windows straddle a quarter boundary: the simulator's clock is
//! 2026-02-15, so the window starts 2025-11-17 in the complete quarter 2025Q4.
//! `SYNC_BENCH_SCALE=20` multiplies every limit (quicker, less faithful).

use okx_export::okx::endpoints::{self, INST_TYPES};
use okx_export::sim::{AccountSize, SimConfig, SimKey, SimServer};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

const DAY: i64 = 86_400_000;
const HOUR: i64 = 3_600_000;
/// 2026-01-01T00:00:00Z, the current quarter's start at the simulator's clock.
const Q1_2026: i64 = 1_767_225_600_000;

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let scale: u32 = std::env::var("SYNC_BENCH_SCALE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1);
    for size in [AccountSize::Bench, AccountSize::Demo] {
        bench(size, scale).await;
    }
}

/// The time the rate limits allow for `n` requests to an endpoint: the first window's burst
/// leaves at once, then one window per `count` requests.
fn bound(name: &str, n: u64, scale: u32) -> Duration {
    let Some(ep) = endpoints::ALL.iter().find(|x| x.name == name) else {
        return Duration::ZERO;
    };
    let limit = ep.limit.scaled(scale);
    if n == 0 {
        return Duration::ZERO;
    }
    limit.per * u32::try_from((n - 1) / u64::from(limit.count)).unwrap_or(u32::MAX)
}

/// The slowest endpoint's bound (endpoints run in parallel).
fn set_bound(requests: &BTreeMap<String, u64>, scale: u32) -> (Duration, String) {
    requests
        .iter()
        .map(|(name, &n)| (bound(name, n, scale), name.clone()))
        .max()
        .unwrap_or_default()
}

/// Pages a walk takes over `n` records (it ends at the first page holding an older one).
fn pages(n: usize) -> u64 {
    n as u64 / 100 + 1
}

async fn sync(sim: &SimServer, data: &std::path::Path, scale: u32) -> (Duration, serde_json::Value) {
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
        .env("OKX_EXPORT_RATE_SCALE", scale.to_string())
        .output()
        .await
        .unwrap();
    let wall = t.elapsed();
    assert!(
        out.status.success(),
        "sync failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary =
        serde_json::from_str(&std::fs::read_to_string(data.join("sync-summary.json")).unwrap()).unwrap();
    (wall, summary)
}

async fn bench(size: AccountSize, scale: u32) {
    let sim = SimServer::start(SimConfig {
        size,
        rate_scale: scale,
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let a = sim.account().snapshot();
    println!(
        "sync bench {size:?}: {} fills, {} trading bills, {} funding bills, {} deposits, {} withdrawals, {} converts; limits x{scale}",
        a.fills.len(),
        a.trading_bills.len(),
        a.funding_bills.len(),
        a.deposits.len(),
        a.withdrawals.len(),
        a.converts.len()
    );
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (wall, summary) = sync(&sim, &data, scale).await;
    let stats = sim.stats();
    let as_of = chrono::DateTime::parse_from_rfc3339(summary["server_time"].as_str().unwrap())
        .unwrap()
        .timestamp_millis();

    // What the split streams take: planned (below the recent window, down to the quarter
    // start for bills-archive) and paging everything (the whole window).
    let bills_in = |from: i64, to: i64| {
        a.trading_bills
            .iter()
            .filter(|b| b.ts >= from && b.ts <= to)
            .count()
    };
    let fills_in = |t: &str, from: i64, to: i64| {
        a.fills
            .iter()
            .filter(|f| f.inst_type == t && f.ts >= from && f.ts <= to)
            .count()
    };
    let window = as_of - 90 * DAY;
    let fills_history = |to: i64| {
        INST_TYPES
            .iter()
            .map(|t| pages(fills_in(t, window, to)))
            .sum::<u64>()
    };
    let made: BTreeMap<String, u64> = stats
        .endpoints
        .iter()
        .filter(|(n, _)| endpoints::ALL.iter().any(|e| e.name == n.as_str()))
        .map(|(n, e)| (n.clone(), e.requests))
        .collect();
    let mut fewest = made.clone();
    fewest.insert(
        "bills-archive".into(),
        pages(bills_in(Q1_2026, as_of - 7 * DAY + HOUR)),
    );
    fewest.insert("fills-history".into(), fills_history(as_of - 3 * DAY + HOUR));
    let mut everything = made.clone();
    everything.insert("bills-archive".into(), pages(bills_in(window, i64::MAX)));
    everything.insert("fills-history".into(), fills_history(i64::MAX));

    println!(
        "{:<30} {:>8} {:>8} {:>10} {:>12} {:>6}",
        "endpoint", "requests", "fewest", "paging all", "limit bound", "429s"
    );
    for (name, n) in &made {
        println!(
            "{:<30} {:>8} {:>8} {:>10} {:>11.2}s {:>6}",
            name,
            n,
            fewest[name],
            everything[name],
            bound(name, *n, scale).as_secs_f64(),
            stats.get(name).rate_limited
        );
    }
    let (planned, slowest) = set_bound(&made, scale);
    let (all, all_slowest) = set_bound(&everything, scale);
    let total: u64 = made.values().sum();
    let total_fewest: u64 = fewest.values().sum();
    let total_all: u64 = everything.values().sum();
    let w = wall.as_secs_f64();
    let ratio = |b: Duration| {
        if b.is_zero() {
            "n/a (no limit binds)".to_string()
        } else {
            format!("{:.3}", w / b.as_secs_f64())
        }
    };
    println!("  wall time {w:.2}s");
    println!(
        "  bound of the planned requests {:.2}s ({slowest}); wall/planned {} (target <= 1.05)",
        planned.as_secs_f64(),
        ratio(planned)
    );
    println!(
        "  bound of paging everything {:.2}s ({all_slowest}); wall/paging-everything {} (target <= 0.80)",
        all.as_secs_f64(),
        ratio(all)
    );
    println!(
        "  requests {total} (paging everything {total_all}, fewest {total_fewest}); requests/fewest {:.3} (target <= 1.05)",
        total as f64 / total_fewest as f64
    );
    println!(
        "  {} rejected with 429; peak RSS {:.1} MB",
        stats.total_rate_limited,
        summary["peak_rss_bytes"].as_u64().unwrap_or(0) as f64 / 1_048_576.0
    );

    // Incremental: nothing new, at most one request per stream.
    sim.reset_stats();
    let (wall, _) = sync(&sim, &data, scale).await;
    let stats = sim.stats();
    let streams = okx_export::sync::streams();
    let paged: u64 = streams
        .iter()
        .map(|s| s.endpoint.name)
        .collect::<std::collections::BTreeSet<_>>()
        .iter()
        .map(|n| stats.get(n).requests)
        .sum();
    println!(
        "  incremental run: {:.2}s, {paged} paging requests for {} streams ({} requests in all, {} 429s)",
        wall.as_secs_f64(),
        streams.len(),
        stats.total_requests,
        stats.total_rate_limited
    );
    sim.shutdown().await;
}
