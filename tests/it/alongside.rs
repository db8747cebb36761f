//! The price stage alongside the sync (issue 23): candles for a time range only once the
//! ledger pages holding its rows have arrived, each page once, no more pages than the
//! stage after the history takes, and a failed sync stops it.

use crate::common::{assert_code, env_for, run, sim, sync};
use okx_export::sim::{LoggedRequest, SimConfig, SimKey, SimServer};
use std::collections::BTreeSet;
use std::path::Path;

/// Limits ×2: the ledger streams and the archive's applications take a few seconds, so
/// the candles have something to overlap.
const SCALE: u32 = 2;

fn env(sim: &SimServer) -> Vec<(String, String)> {
    let mut e = env_for(sim, &SimKey::demo(), SCALE);
    e.push(("OKX_EXPORT_ECB_URL".into(), format!("{}/sim-ecb", sim.base_url())));
    e
}

async fn sync_priced(sim: &SimServer, data: &Path) -> crate::common::Run {
    let args = [
        "--data-dir",
        data.to_str().unwrap(),
        "--no-progress",
        "sync",
        "--since",
        "2025-07-01",
        "--archive-poll-ms",
        "50",
    ];
    run(&args, &env(sim), data.parent().unwrap()).await
}

fn is_candles(r: &LoggedRequest) -> bool {
    r.endpoint == "history-index-candles" || r.endpoint == "history-candles"
}

/// The requests whose answers hold rows: the two ledgers, the Dual Investment orders
/// and the archive files.
fn holds_rows(r: &LoggedRequest) -> bool {
    [
        "bills",
        "bills-archive",
        "asset-bills",
        "asset-bills-history",
        "dcd-order-history",
        "sim-files",
    ]
    .contains(&r.endpoint.as_str())
}

/// A candle request's window `[start, end)` (Unix ms): `before` is start − 1, `after` the end.
fn window(r: &LoggedRequest) -> (i64, i64) {
    let p = |k| r.param(k).and_then(|v| v.parse::<i64>().ok()).unwrap();
    (p("before") + 1, p("after"))
}

/// Issue 23 item 1: a full sync with its price stage alongside. Every candle request came
/// after every ledger page (and archive file) holding a row inside its window; no page was
/// requested twice; candles were fetched while the ledgers were still arriving; every row
/// has a value; and the stage made no more requests than the same account priced after
/// its history (pages are laid only where the plan for the whole history lays them).
#[tokio::test(flavor = "multi_thread")]
async fn candles_wait_for_their_rows_each_page_once() {
    let config = SimConfig {
        rate_scale: SCALE,
        log_requests: true,
        ..SimConfig::default()
    };
    let sim = sim(config.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let r = sync_priced(&sim, &data).await;
    assert_code(&r, 0);
    assert!(r.stdout.contains(", 0 without a value"), "{}", r.stdout);
    let log = sim.request_log();
    let candles: Vec<&LoggedRequest> = log.iter().filter(|r| is_candles(r)).collect();
    let ledger: Vec<&LoggedRequest> = log.iter().filter(|r| holds_rows(r)).collect();
    assert!(
        candles.len() > 20 && ledger.len() > 10,
        "{} {}",
        candles.len(),
        ledger.len()
    );

    let mut checked = 0;
    for c in &candles {
        let (start, end) = window(c);
        for l in &ledger {
            let Some((oldest, newest)) = l.times else { continue };
            if oldest < end && newest >= start {
                checked += 1;
                assert!(
                    l.at < c.at,
                    "{} {} [{start}, {end}) was requested before the {} page holding rows {oldest}..{newest} arrived",
                    c.endpoint,
                    c.query,
                    l.endpoint
                );
            }
        }
    }
    assert!(checked > 100, "only {checked} overlaps checked");

    let pages: BTreeSet<(String, String)> = candles
        .iter()
        .map(|c| (c.endpoint.clone(), c.query.clone()))
        .collect();
    assert_eq!(pages.len(), candles.len(), "a candle page was requested twice");

    let last_ledger = ledger.iter().map(|l| l.at).max().unwrap();
    let early = candles.iter().filter(|c| c.at < last_ledger).count();
    assert!(
        early > 0,
        "no candle was fetched while the ledgers were still arriving"
    );

    // The same account priced after its history.
    let after = crate::common::sim(SimConfig {
        log_requests: false,
        ..config
    })
    .await;
    let data2 = dir.path().join("after");
    assert_code(&sync(&after, &data2, &[]).await, 0);
    let args = ["--data-dir", data2.to_str().unwrap(), "--no-progress", "prices"];
    let r = run(&args, &env(&after), dir.path()).await;
    assert_code(&r, 0);
    let s = after.stats();
    let sequential = s.get("history-index-candles").requests + s.get("history-candles").requests;
    println!(
        "alongside: {} candle requests ({early} while the ledgers were arriving), after the history: {sequential}",
        candles.len()
    );
    assert!(
        candles.len() as u64 <= sequential,
        "{} candle requests alongside the sync, {sequential} after it",
        candles.len()
    );
}

/// A sync that fails stops its price stage: no price line, no values, no
/// `missing_prices.csv`.
#[tokio::test(flavor = "multi_thread")]
async fn a_failed_sync_stops_the_price_stage() {
    let sim = sim(SimConfig {
        rate_scale: SCALE,
        unavailable: vec!["asset-bills-history"],
        ..SimConfig::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let r = sync_priced(&sim, &data).await;
    assert_ne!(r.code, 0, "{}", r.all());
    assert!(!r.stdout.contains("prices:"), "{}", r.stdout);
    assert!(!data.join("missing_prices.csv").exists());
}
