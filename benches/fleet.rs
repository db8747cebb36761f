//! Benchmark: a fleet of simulated clients synced in one run (issue 22).
//! `cargo bench --bench fleet`.
//!
//! 200 client accounts on one simulator (each its own uid, key and per-UID limits, at
//! OKX's real limits; every fourth one demo-sized, a few thousand records, the others a
//! few hundred), one profile each. Runs the release binary as a child process
//! (`sync --all`), so its peak RSS and CPU time are its own, and prints:
//!
//! - the wall time of the run and of its stages (sync, the shared price stage, which
//!   starts with the first client synced and so overlaps the sync stage);
//! - the slowest client's planned bound: for each client, the time the rate limits
//!   allow for the private requests it made (the slowest endpoint: the first window's
//!   burst leaves at once, then one window per `count` requests), the largest over clients;
//!   the sync stage's wall over it, and the goal: wall ≤ 1.3 × that bound + the price
//!   stage (also against the price stage's own bound, its busiest candle endpoint);
//! - requests in all and per endpoint, 429s (goal 0), peak RSS (goal ≤ 300 MB), CPU
//!   seconds of the child and of this process (the simulator);
//! - a second run with nothing new (what a nightly run costs);
//! - the load average before and after each run (the machine may be shared).
//!
//! `FLEET_BENCH_CLIENTS=N` changes the number of clients, `FLEET_BENCH_PRICES=0` leaves
//! the price stage out, `FLEET_BENCH_JOBS=N` passes `--jobs N`.

use okx_export::okx::endpoints;
use okx_export::sim::{AccountSize, SimConfig, SimServer};
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg").map_or_else(
        |_| "?".into(),
        |s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "),
    )
}

/// CPU seconds (user + system) and peak RSS in bytes of `who`.
fn usage(who: i32) -> (f64, u64) {
    // SAFETY: getrusage only writes the struct passed in.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe {
        libc::getrusage(who, &raw mut u);
    }
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    (
        secs(u.ru_utime) + secs(u.ru_stime),
        u64::try_from(u.ru_maxrss).unwrap_or(0) * 1024,
    )
}

/// The time the rate limits allow for `n` requests to endpoint `name`.
fn bound(name: &str, n: u64) -> Duration {
    let Some(ep) = endpoints::ALL.iter().find(|x| x.name == name) else {
        return Duration::ZERO;
    };
    if n == 0 {
        return Duration::ZERO;
    }
    ep.limit.per * u32::try_from((n - 1) / u64::from(ep.limit.count)).unwrap_or(u32::MAX)
}

/// A client's planned bound: its slowest private endpoint's, from its sync-summary.json.
fn client_bound(summary: &Value) -> (Duration, String) {
    summary["endpoints"]
        .as_object()
        .map(|eps| {
            eps.iter()
                .filter(|(name, _)| {
                    endpoints::ALL
                        .iter()
                        .any(|e| e.private && e.name == name.as_str())
                })
                .map(|(name, e)| (bound(name, e["requests"].as_u64().unwrap_or(0)), name.clone()))
                .max()
                .unwrap_or_default()
        })
        .unwrap_or_default()
}

fn write_config(dir: &Path, cfg: &SimConfig, base_url: &str) -> String {
    let secrets = dir.join("secrets");
    std::fs::create_dir_all(&secrets).unwrap();
    let mut text = String::new();
    for (i, k) in cfg.keys.iter().enumerate() {
        let secret = secrets.join(format!("{i}.secret"));
        let pass = secrets.join(format!("{i}.pass"));
        std::fs::write(&secret, &k.secret).unwrap();
        std::fs::write(&pass, &k.passphrase).unwrap();
        for f in [&secret, &pass] {
            std::fs::set_permissions(f, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        let _ = write!(
            text,
            "[profile.client-{i:03}]\napi_key = \"{}\"\nsecret_file = \"{}\"\npassphrase_file = \"{}\"\nbase_url = \"{base_url}\"\n\n",
            k.api_key,
            secret.display(),
            pass.display()
        );
    }
    let path = dir.join("okx-export.toml");
    std::fs::write(&path, text).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    path.display().to_string()
}

/// What the child held at its peak (sampled every 100 ms).
#[derive(Debug, Default)]
struct Sample {
    rss: u64,
    /// Seconds into the run when the RSS peaked.
    at: f64,
    threads: u64,
    fds: u64,
}

impl Sample {
    fn of(pid: u32) -> Option<Sample> {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        let field = |name: &str| -> u64 {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name)?.split_whitespace().next()?.parse().ok())
                .unwrap_or(0)
        };
        let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count() as u64);
        Some(Sample {
            rss: field("VmRSS:") * 1024,
            at: 0.0,
            threads: field("Threads:"),
            fds,
        })
    }
}

struct Run {
    peak: Sample,
    wall: Duration,
    cpu: f64,
    peak_rss: u64,
    summary: Value,
    code: i32,
    stderr: String,
}

async fn fleet_sync(dir: &Path, config: &str, prices: bool, jobs: Option<u32>) -> Run {
    let (cpu0, _) = usage(libc::RUSAGE_CHILDREN);
    let mut args = vec![
        "--config".to_string(),
        config.to_string(),
        "--quiet".into(),
        "sync".into(),
        "--all".into(),
        "--since".into(),
        "2025-07-01".into(),
        "--archive-poll-ms".into(),
        "100".into(),
    ];
    if !prices {
        args.push("--no-prices".into());
    }
    if let Some(j) = jobs {
        args.extend(["--jobs".into(), j.to_string()]);
    }
    let t = Instant::now();
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_okx-export"));
    cmd.args(&args).current_dir(dir);
    for (k, _) in std::env::vars() {
        if k.starts_with("OKX_") {
            cmd.env_remove(k);
        }
    }
    cmd.stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let child = cmd.spawn().unwrap();
    // Sample the child's threads, open files and resident memory while it runs.
    let pid = child.id().unwrap_or(0);
    let sampler = tokio::spawn(async move {
        let mut peak = Sample::default();
        while let Some(s) = Sample::of(pid) {
            if s.rss > peak.rss {
                peak.rss = s.rss;
                peak.at = t.elapsed().as_secs_f64();
            }
            peak.threads = peak.threads.max(s.threads);
            peak.fds = peak.fds.max(s.fds);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        peak
    });
    let out = child.wait_with_output().await.unwrap();
    let wall = t.elapsed();
    let peak = sampler.await.unwrap_or_default();
    let (cpu1, peak_rss) = usage(libc::RUSAGE_CHILDREN);
    let summary = serde_json::from_str(
        &std::fs::read_to_string(dir.join("output").join("fleet-summary.json")).unwrap_or_default(),
    )
    .unwrap_or_default();
    Run {
        peak,
        wall,
        cpu: cpu1 - cpu0,
        peak_rss,
        summary,
        code: out.status.code().unwrap_or(-1),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn stage(summary: &Value, name: &str) -> f64 {
    stage_field(summary, name, "seconds")
}

/// When stage `name` started, in seconds after the run did.
fn stage_start(summary: &Value, name: &str) -> f64 {
    stage_field(summary, name, "started_seconds")
}

fn stage_field(summary: &Value, name: &str, field: &str) -> f64 {
    summary["stages"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["name"] == name))
        .and_then(|s| s[field].as_f64())
        .unwrap_or(0.0)
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let n: usize = env_or("FLEET_BENCH_CLIENTS", 200);
    let prices = env_or("FLEET_BENCH_PRICES", 1u8) != 0;
    let jobs: Option<u32> = std::env::var("FLEET_BENCH_JOBS")
        .ok()
        .and_then(|v| v.parse().ok());
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    println!(
        "fleet bench: {n} clients, OKX's real limits, {cores} cores, load average {}",
        loadavg()
    );
    let t = Instant::now();
    let cfg = SimConfig::clients(n, |i| {
        if i % 4 == 0 {
            AccountSize::Demo
        } else {
            AccountSize::Sub
        }
    });
    let sim = SimServer::start(cfg.clone()).await.unwrap();
    let records: Vec<usize> = cfg
        .clients
        .iter()
        .map(|c| {
            let a = sim.client_account(&c.uid).unwrap().snapshot();
            a.fills.len()
                + a.trading_bills.len()
                + a.funding_bills.len()
                + a.deposits.len()
                + a.withdrawals.len()
                + a.converts.len()
        })
        .collect();
    println!(
        "  simulator: {} accounts generated in {:.1} s; records per client {}..{} ({} in all)",
        n,
        t.elapsed().as_secs_f64(),
        records.iter().min().unwrap_or(&0),
        records.iter().max().unwrap_or(&0),
        records.iter().sum::<usize>()
    );
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &cfg, &sim.base_url());

    let (sim_cpu0, _) = usage(libc::RUSAGE_SELF);
    let before = loadavg();
    let first = fleet_sync(dir.path(), &config, prices, jobs).await;
    let (sim_cpu1, _) = usage(libc::RUSAGE_SELF);
    let stats = sim.stats();
    assert_eq!(first.code, 0, "the fleet sync failed:\n{}", first.stderr);

    // Each client's planned bound, from its own sync-summary.json.
    let mut slowest = (Duration::ZERO, String::new(), String::new());
    let mut client_walls = Vec::new();
    for i in 0..n {
        let name = format!("client-{i:03}");
        let s: Value = serde_json::from_str(
            &std::fs::read_to_string(dir.path().join("output").join(&name).join("sync-summary.json"))
                .unwrap(),
        )
        .unwrap();
        client_walls.push(s["elapsed_seconds"].as_f64().unwrap_or(0.0));
        let (b, ep) = client_bound(&s);
        if b > slowest.0 {
            slowest = (b, ep, name);
        }
    }
    // The price stage per client (its log's `prices: N candle requests` line), in the
    // order the stages ran: the first ones fill the shared cache for the later ones.
    let candles: Vec<u64> = (0..n)
        .map(|i| {
            let log = std::fs::read_to_string(
                dir.path()
                    .join("output")
                    .join(format!("client-{i:03}"))
                    .join("last-run.log"),
            )
            .unwrap_or_default();
            log.lines()
                .find_map(|l| l.strip_prefix("prices: ")?.split(' ').next()?.parse().ok())
                .unwrap_or(0)
        })
        .collect();
    let sync_s = stage(&first.summary, "sync");
    let prices_s = stage(&first.summary, "prices");
    let prices_at = stage_start(&first.summary, "prices");
    let bound_s = slowest.0.as_secs_f64();
    // The price stage's own bound: its busiest public candle endpoint at its per-IP limit.
    let price_bound = stats
        .endpoints
        .iter()
        .filter(|(name, _)| name.contains("candles"))
        .map(|(name, e)| (bound(name, e.requests), name.clone()))
        .max()
        .unwrap_or_default();
    let wall = first.wall.as_secs_f64();
    println!(
        "  full sync --all (load average before {before}, after {}):",
        loadavg()
    );
    println!(
        "    wall {wall:.1} s: sync stage {sync_s:.1} s; price stage {prices_s:.1} s, from {prices_at:.1} s (it starts with the first client synced)"
    );
    println!(
        "    slowest client's planned bound {bound_s:.1} s ({}, `{}`); sync stage / bound = {:.3}",
        slowest.2,
        slowest.1,
        sync_s / bound_s.max(1e-9),
    );
    println!(
        "    goal: wall <= 1.3 x bound + price stage = {:.1} s: wall / that = {:.3}; the price stage's own bound {:.1} s (`{}`), wall / (1.3 x bound + price bound) = {:.3}",
        1.3 * bound_s + prices_s,
        wall / (1.3 * bound_s + prices_s).max(1e-9),
        price_bound.0.as_secs_f64(),
        price_bound.1,
        wall / (1.3 * bound_s + price_bound.0.as_secs_f64()).max(1e-9)
    );
    let mut walls = client_walls.clone();
    walls.sort_by(f64::total_cmp);
    println!(
        "    clients' own sync times: median {:.1} s, slowest {:.1} s",
        walls.get(walls.len() / 2).copied().unwrap_or(0.0),
        walls.last().copied().unwrap_or(0.0)
    );
    println!(
        "    requests {} ({} rate-limited with 429: goal 0); peak RSS {:.1} MB (goal <= 300); CPU {:.1} s in okx-export, {:.1} s in the simulator; jobs {}",
        stats.total_requests,
        stats.total_rate_limited,
        first.peak_rss as f64 / 1_048_576.0,
        first.cpu,
        sim_cpu1 - sim_cpu0,
        first.summary["jobs"]
    );
    if prices {
        let first10: Vec<String> = candles.iter().take(10).map(u64::to_string).collect();
        let rest: u64 = candles.iter().skip(10).sum();
        println!(
            "    price stage: {} candle requests; the first ten clients {}; the other {} clients {} in all",
            candles.iter().sum::<u64>(),
            first10.join(", "),
            n.saturating_sub(10),
            rest
        );
    }
    println!(
        "    sampled at its peak: {:.1} MB resident at {:.1} s, {} threads, {} open files",
        first.peak.rss as f64 / 1_048_576.0,
        first.peak.at,
        first.peak.threads,
        first.peak.fds
    );
    let mut by_endpoint: BTreeMap<&str, (u64, u64)> = BTreeMap::new();
    for (name, e) in &stats.endpoints {
        by_endpoint.insert(name, (e.requests, e.rate_limited));
    }
    let line: Vec<String> = by_endpoint
        .iter()
        .map(|(n, (r, l))| {
            if *l > 0 {
                format!("{n} {r} ({l} 429s)")
            } else {
                format!("{n} {r}")
            }
        })
        .collect();
    println!("    per endpoint: {}", line.join(", "));

    // Nothing new: what a nightly run of the same fleet costs.
    sim.reset_stats();
    let before = loadavg();
    let again = fleet_sync(dir.path(), &config, prices, jobs).await;
    assert_eq!(again.code, 0, "the second fleet sync failed:\n{}", again.stderr);
    let stats = sim.stats();
    println!(
        "  incremental sync --all (nothing new; load average before {before}, after {}): wall {:.1} s (sync {:.1} s, prices {:.1} s), {} requests, {} 429s, CPU {:.1} s",
        loadavg(),
        again.wall.as_secs_f64(),
        stage(&again.summary, "sync"),
        stage(&again.summary, "prices"),
        stats.total_requests,
        stats.total_rate_limited,
        again.cpu
    );
    sim.shutdown().await;
}
