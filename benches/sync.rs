//! Benchmark: full and incremental syncs of generated accounts, prices included, from the
//! simulator at OKX's real limits, with every request held 0–50 ms on arrival as a network
//! does (issues 10 and 23). `cargo bench --bench sync`.
//!
//! Runs the release binary as a child process (so its peak RSS is its own) and prints, per
//! account:
//! * the full first sync with its price stage alongside: wall time, the history's own time,
//!   the price stage's line, requests per endpoint with their 429s, and the wall time
//!   against the larger of the two rate-limit bounds: the private one (the slowest private
//!   endpoint for the requests made: private limits are per UID) and the public one (the
//!   candle requests at the combined rate of both candle endpoints: public limits are per
//!   IP, separate from the private ones); target ≤ 1.2;
//! * the planner's numbers for the history: the bound of *paging everything* (the design
//!   before the planner: `bills-archive` and `fills-history` over their whole windows) and
//!   the fewest requests that cover the history;
//! * the candle requests of the same account priced after the history (`sync --no-prices`
//!   then `prices`, limits ×20): the pipelined stage must not make more;
//! * a second run with nothing new: about one request per stream, no candle request.
//!
//! Knobs: `BENCH_ACCOUNTS=bench,demo,two-year` (default all three), `BENCH_JITTER_MS=50`
//! (0: none), `BENCH_HISTORY_ONLY=1` also times the history alone (`--no-prices`, same
//! jitter), `SYNC_BENCH_SCALE=20` multiplies every limit (quicker, less faithful),
//! `OKX_EXPORT_BIN=path` runs another build (an A/B on the same machine).
//!
//! The bench and demo accounts' 90-day windows straddle a quarter boundary: the simulator's
//! clock is 2026-02-15, so the window starts 2025-11-17 in the complete quarter 2025Q4. The
//! two-year account starts 2024-01-01: eight archive quarters.

use okx_export::okx::endpoints::{self, INST_TYPES};
use okx_export::sim::{AccountSize, SimConfig, SimKey, SimServer};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

const DAY: i64 = 86_400_000;
const HOUR: i64 = 3_600_000;
/// 2026-01-01T00:00:00Z, the current quarter's start at the simulator's clock.
const Q1_2026: i64 = 1_767_225_600_000;

fn env_u32(name: &str, default: u32) -> u32 {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

/// The binary under test: this build's, or `OKX_EXPORT_BIN`.
fn bin() -> String {
    std::env::var("OKX_EXPORT_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_okx-export").to_string())
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let scale = env_u32("SYNC_BENCH_SCALE", 1);
    let jitter = Duration::from_millis(u64::from(env_u32("BENCH_JITTER_MS", 50)));
    let accounts = std::env::var("BENCH_ACCOUNTS").unwrap_or_else(|_| "bench,demo,two-year".into());
    for name in accounts.split(',').map(str::trim) {
        let (size, since) = match name {
            "bench" => (AccountSize::Bench, "2025-07-01"),
            "demo" => (AccountSize::Demo, "2025-07-01"),
            "two-year" => (AccountSize::TwoYear, "2024-01-01"),
            other => panic!("BENCH_ACCOUNTS: unknown account `{other}`"),
        };
        bench(size, since, scale, jitter).await;
    }
}

/// The time the rate limits allow for `n` requests at `limit`: the first window's burst
/// leaves at once, then one window per `count` requests.
fn limit_bound(n: u64, limit: endpoints::RateLimit) -> Duration {
    if n == 0 {
        return Duration::ZERO;
    }
    limit.per * u32::try_from((n - 1) / u64::from(limit.count)).unwrap_or(u32::MAX)
}

fn bound(name: &str, n: u64, scale: u32) -> Duration {
    match endpoints::ALL.iter().find(|x| x.name == name) {
        Some(ep) => limit_bound(n, ep.limit.scaled(scale)),
        None => Duration::ZERO,
    }
}

/// The slowest endpoint's bound among `requests` (endpoints run in parallel).
fn set_bound(requests: &BTreeMap<String, u64>, scale: u32) -> (Duration, String) {
    requests
        .iter()
        .map(|(name, &n)| (bound(name, n, scale), name.clone()))
        .max()
        .unwrap_or_default()
}

/// The candle endpoints (public, per IP).
fn is_candles(name: &str) -> bool {
    [endpoints::INDEX_CANDLES.name, endpoints::CANDLES.name].contains(&name)
}

/// The bound of `n` candle requests at the combined rate of both candle endpoints (their
/// windows are both 2 s).
fn candles_bound(n: u64, scale: u32) -> Duration {
    let combined = endpoints::RateLimit {
        count: endpoints::INDEX_CANDLES.limit.count + endpoints::CANDLES.limit.count,
        per: endpoints::CANDLES.limit.per,
    };
    limit_bound(n, combined.scaled(scale))
}

/// Pages a walk takes over `n` records (it ends at the first page holding an older one).
fn pages(n: usize) -> u64 {
    n as u64 / 100 + 1
}

struct Run {
    wall: Duration,
    stdout: String,
    summary: serde_json::Value,
}

async fn sync(sim: &SimServer, data: &std::path::Path, scale: u32, since: &str, extra: &[&str]) -> Run {
    let key = SimKey::demo();
    let t = Instant::now();
    let out = tokio::process::Command::new(bin())
        .args([
            "--data-dir",
            data.to_str().unwrap(),
            "--no-progress",
            "sync",
            "--since",
            since,
        ])
        .args(["--archive-poll-ms", "100"])
        .args(extra)
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
    let wall = t.elapsed();
    assert!(
        out.status.success(),
        "sync failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary =
        serde_json::from_str(&std::fs::read_to_string(data.join("sync-summary.json")).unwrap()).unwrap();
    Run {
        wall,
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        summary,
    }
}

/// The price line of `stdout`, its wrapped lines joined (sentences wrap to 80 columns,
/// continued with an indent).
fn prices_line(stdout: &str) -> String {
    let mut lines = stdout.lines().skip_while(|l| !l.starts_with("prices:"));
    let Some(first) = lines.next() else {
        return "prices: (none)".to_string();
    };
    std::iter::once(first)
        .chain(lines.take_while(|l| l.starts_with("  ")).map(str::trim))
        .collect::<Vec<_>>()
        .join(" ")
}

fn candle_requests(sim: &SimServer) -> u64 {
    let s = sim.stats();
    s.get(endpoints::INDEX_CANDLES.name).requests + s.get(endpoints::CANDLES.name).requests
}

/// The candle requests of the same account priced after its history (`sync --no-prices`,
/// then `prices`), limits ×20: the plan the pipelined stage must not exceed.
async fn sequential_candles(config: &SimConfig, since: &str) -> u64 {
    let sim = SimServer::start(SimConfig {
        rate_scale: 20,
        arrival_jitter: None,
        ..config.clone()
    })
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    sync(&sim, &data, 20, since, &["--no-prices"]).await;
    let key = SimKey::demo();
    let out = tokio::process::Command::new(bin())
        .args(["--data-dir", data.to_str().unwrap(), "--no-progress", "prices"])
        .env("OKX_BASE_URL", sim.base_url())
        .env("OKX_API_KEY", &key.api_key)
        .env("OKX_API_SECRET", &key.secret)
        .env("OKX_API_PASSPHRASE", &key.passphrase)
        .env("OKX_EXPORT_RATE_SCALE", "20")
        .env("OKX_EXPORT_ECB_URL", format!("{}/sim-ecb", sim.base_url()))
        .env_remove("OKX_EXPORT_PRICE_CACHE")
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "prices failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let n = candle_requests(&sim);
    sim.shutdown().await;
    n
}

async fn bench(size: AccountSize, since: &str, scale: u32, jitter: Duration) {
    let config = SimConfig {
        size,
        rate_scale: scale,
        arrival_jitter: (!jitter.is_zero()).then_some(jitter),
        ..SimConfig::default()
    };
    let sim = SimServer::start(config.clone()).await.unwrap();
    let a = sim.account().snapshot();
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "sync bench {size:?}: {} fills, {} trading bills, {} funding bills, {} deposits, {} withdrawals, {} converts; limits x{scale}; arrival jitter 0-{} ms; load average {}",
        a.fills.len(),
        a.trading_bills.len(),
        a.funding_bills.len(),
        a.deposits.len(),
        a.withdrawals.len(),
        a.converts.len(),
        jitter.as_millis(),
        load.split_whitespace().take(3).collect::<Vec<_>>().join(" ")
    );
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let run = sync(&sim, &data, scale, since, &[]).await;
    let stats = sim.stats();
    let summary = &run.summary;
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
    let private: BTreeMap<String, u64> = made
        .iter()
        .filter(|(n, _)| endpoints::ALL.iter().any(|e| e.name == n.as_str() && e.private))
        .map(|(n, v)| (n.clone(), *v))
        .collect();
    let mut fewest = private.clone();
    fewest.insert(
        "bills-archive".into(),
        pages(bills_in(Q1_2026.max(window), as_of - 7 * DAY + HOUR)),
    );
    fewest.insert("fills-history".into(), fills_history(as_of - 3 * DAY + HOUR));
    let mut everything = private.clone();
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
            fewest.get(name).map_or("-".into(), u64::to_string),
            everything.get(name).map_or("-".into(), u64::to_string),
            bound(name, *n, scale).as_secs_f64(),
            stats.get(name).rate_limited
        );
    }
    let (planned, slowest) = set_bound(&private, scale);
    let (all, all_slowest) = set_bound(&everything, scale);
    let candles: u64 = made.iter().filter(|(n, _)| is_candles(n)).map(|(_, v)| v).sum();
    let public = candles_bound(candles, scale);
    let larger = planned.max(public);
    let total_private: u64 = private.values().sum();
    let total_fewest: u64 = fewest.values().sum();
    let total_all: u64 = everything.values().sum();
    let w = run.wall.as_secs_f64();
    let ratio = |b: Duration| {
        if b.is_zero() {
            "n/a (no limit binds)".to_string()
        } else {
            format!("{:.3}", w / b.as_secs_f64())
        }
    };
    println!(
        "  full sync with prices: wall {w:.2}s (history {:.2}s); {}",
        summary["elapsed_seconds"].as_f64().unwrap_or(f64::NAN),
        prices_line(&run.stdout)
    );
    println!(
        "  bounds: private {:.2}s ({slowest}), public {:.2}s ({candles} candle requests at both endpoints' combined rate); wall/larger {} (target <= 1.2)",
        planned.as_secs_f64(),
        public.as_secs_f64(),
        ratio(larger)
    );
    println!(
        "  bound of paging everything {:.2}s ({all_slowest}); history requests {total_private} (paging everything {total_all}, fewest {total_fewest}); requests/fewest {:.3} (target <= 1.05)",
        all.as_secs_f64(),
        total_private as f64 / total_fewest as f64
    );
    println!(
        "  {} rejected with 429 (under 0-{} ms arrival jitter); peak RSS {:.1} MB",
        stats.total_rate_limited,
        jitter.as_millis(),
        summary["peak_rss_bytes"].as_u64().unwrap_or(0) as f64 / 1_048_576.0
    );
    let reference = sequential_candles(&config, since).await;
    println!(
        "  candle requests: {candles} alongside the sync, {reference} when priced after it (must not be fewer)"
    );

    // Incremental: nothing new, at most one request per stream, no candle request.
    sim.reset_stats();
    let again = sync(&sim, &data, scale, since, &[]).await;
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
        "  incremental run: {:.2}s, {paged} paging requests for {} streams, {} candle requests ({} requests in all, {} 429s)",
        again.wall.as_secs_f64(),
        streams.len(),
        candle_requests(&sim),
        stats.total_requests,
        stats.total_rate_limited
    );
    sim.shutdown().await;
    if std::env::var_os("BENCH_HISTORY_ONLY").is_some() {
        // A simulator of its own: the windows of the runs above are not this one's.
        let sim = SimServer::start(config.clone()).await.unwrap();
        let dir = tempfile::tempdir().unwrap();
        let history = sync(&sim, &dir.path().join("data"), scale, since, &["--no-prices"]).await;
        println!(
            "  history alone (--no-prices): wall {:.2}s, {} 429s",
            history.wall.as_secs_f64(),
            sim.stats().total_rate_limited
        );
        sim.shutdown().await;
    }
}
