//! Issue 19: the values a report files. The store remembers where its prices live, the
//! holdings at a period's boundaries are priced, and the newest rows of a sync are valued
//! (or pending, never a warning).

use crate::common::*;
use okx_export::sim::{SIM_NOW_MS, SimConfig, SimKey, SimServer};
use std::path::Path;

/// The environment of a user who gives the host as a flag: no `OKX_BASE_URL`, the machine
/// price cache moved into `dir` (never the developer's own).
fn flag_env(sim: &SimServer, dir: &Path) -> Vec<(String, String)> {
    let mut e = env_for(sim, &SimKey::demo(), FAST);
    e.retain(|(k, _)| k != "OKX_BASE_URL");
    e.push((
        "OKX_EXPORT_PRICE_CACHE".into(),
        dir.join("machine-prices.sqlite").to_str().unwrap().into(),
    ));
    e
}

/// The simulator's environment, with the machine price cache kept in `dir`.
fn sim_env(sim: &SimServer, dir: &Path) -> Vec<(String, String)> {
    let mut e = env_for(sim, &SimKey::demo(), FAST);
    e.push((
        "OKX_EXPORT_PRICE_CACHE".into(),
        dir.join("machine-prices.sqlite").to_str().unwrap().into(),
    ));
    e
}

/// `sync --since 2025-07-01` with the price stage on.
async fn sync_priced(data: &Path, env: &[(String, String)], extra: &[&str]) -> Run {
    let mut args = vec![
        "--data-dir",
        data.to_str().unwrap(),
        "--no-progress",
        "sync",
        "--since",
        "2025-07-01",
        "--archive-poll-ms",
        "50",
    ];
    args.extend_from_slice(extra);
    run(&args, env, data.parent().unwrap()).await
}

async fn report(data: &Path, out: &Path, env: &[(String, String)], extra: &[&str]) -> Run {
    let mut args = vec![
        "--data-dir",
        data.to_str().unwrap(),
        "report",
        "--format",
        "transactions",
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    run(&args, env, data.parent().unwrap()).await
}

fn json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn csv_rows(path: &Path) -> Vec<Vec<String>> {
    let mut rdr = csv::Reader::from_path(path).unwrap();
    rdr.records()
        .map(|r| r.unwrap().iter().map(str::to_string).collect())
        .collect()
}

/// Issue 19 item 2: `sync --base-url URL`, then `report` (which has no connection flags):
/// the report finds the prices the sync fetched, because the store remembers where they
/// live. Before, it opened the (empty) machine cache: 0 rows valued, exit 0. A report that
/// then finds no prices where the store says they are fails (exit 4) and says how to fix it.
#[tokio::test(flavor = "multi_thread")]
async fn report_after_sync_with_a_base_url_flag_finds_its_prices() {
    let sim = sim(fast_config()).await;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let env = flag_env(&sim, dir.path());
    let r = sync_priced(&data, &env, &["--base-url", &sim.base_url()]).await;
    assert_code(&r, 0);
    let out = dir.path().join("out");
    let r = report(&data, &out, &env, &[]).await;
    assert_code(&r, 0);
    assert!(r.stdout.contains(", 0 without a price"), "{}", r.all());
    let summary = json(&out.join("summary.json"));
    assert_eq!(summary["values"]["missing"], 0, "{summary}");
    assert!(summary["values"]["valued"].as_u64().unwrap() > 1000);
    assert!(
        !dir.path().join("machine-prices.sqlite").exists(),
        "no machine cache for a simulator"
    );
    let st = run(
        &["--data-dir", data.to_str().unwrap(), "status"],
        &env,
        dir.path(),
    )
    .await;
    assert!(
        st.stdout
            .contains(&format!("prices: fetched from {} into ", sim.base_url())),
        "{}",
        st.stdout
    );
    // `prices` without a host flag also uses the store's host: nothing to fetch.
    sim.reset_stats();
    let r = run(
        &["--data-dir", data.to_str().unwrap(), "--no-progress", "prices"],
        &env,
        dir.path(),
    )
    .await;
    assert_code(&r, 0);
    assert!(r.stdout.contains("prices: 0 candle requests"), "{}", r.all());
    assert!(r.stdout.contains(", 0 without a value"), "{}", r.all());
    // The cache is gone: loud, with the fix.
    std::fs::rename(data.join("price-cache.sqlite"), dir.path().join("moved.sqlite")).unwrap();
    let r = report(&data, &dir.path().join("out2"), &env, &[]).await;
    assert_code(&r, 4);
    assert!(r.stderr.contains("price-cache.sqlite"), "{}", r.stderr);
    assert!(r.stderr.contains("okx-export prices"), "{}", r.stderr);
    assert!(!dir.path().join("out2").join("transactions.csv").exists());
}

/// The `holdings_opening`/`holdings_closing` lines of `tax-summary.csv`.
fn holding_lines(out: &Path) -> Vec<Vec<String>> {
    csv_rows(&out.join("tax-summary.csv"))
        .into_iter()
        .filter(|r| r[0].starts_with("holdings_") && r[2] != "*")
        .collect()
}

/// Issue 19 item 3: the price stage of a sync fetches the boundaries of every calendar year
/// the store spans and the newest closed bar ("holdings now"), so a year report and the
/// year in progress value every holding with the simulator switched off; a report with
/// other boundaries fetches them from the store's host, and when that host cannot be
/// reached lists them in missing_prices.csv with a fix that works (and counts them).
#[tokio::test(flavor = "multi_thread")]
async fn holdings_at_a_periods_boundaries_are_valued() {
    let sim = sim(fast_config()).await;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let env = sim_env(&sim, dir.path());
    assert_code(&sync_priced(&data, &env, &[]).await, 0);

    // Another boundary (2025-09-15 in Berlin): the report fetches it from the store's host.
    let other = dir.path().join("other");
    sim.reset_stats();
    let r = report(
        &data,
        &other,
        &env,
        &[
            "--from",
            "2025-09-15",
            "--to",
            "2026-01-20",
            "--tz",
            "Europe/Berlin",
        ],
    )
    .await;
    assert_code(&r, 0);
    let lines = holding_lines(&other);
    assert!(lines.iter().any(|l| l[0] == "holdings_opening"), "{lines:?}");
    for l in &lines {
        assert!(!l[4].is_empty() && l[7] == "0", "{l:?}\n{}", r.all());
    }
    let fetched = sim.stats().get("history-index-candles").requests;
    assert!(fetched > 0, "the report fetched its opening boundary");

    sim.shutdown().await;
    // A year that has ended: both ends valued without the network.
    let y2025 = dir.path().join("y2025");
    let r = report(&data, &y2025, &env, &["--year", "2025", "--allow-incomplete"]).await;
    assert_code(&r, 0);
    let lines = holding_lines(&y2025);
    assert!(
        lines.iter().filter(|l| l[0] == "holdings_closing").count() >= 5,
        "{lines:?}"
    );
    for l in &lines {
        assert!(!l[4].is_empty() && l[7] == "0", "{l:?}\n{}", r.all());
    }
    // The year in progress: opened 2026-01-01 (a calendar boundary), closing now, valued at
    // the newest bar that had closed when the sync's price stage ran.
    let now = dir.path().join("now");
    let r = report(&data, &now, &env, &["--from", "2026-01-01", "--to", "2099-01-01"]).await;
    assert_code(&r, 0);
    let lines = holding_lines(&now);
    assert!(lines.iter().any(|l| l[0] == "holdings_opening"), "{lines:?}");
    assert!(lines.iter().any(|l| l[0] == "holdings_closing"), "{lines:?}");
    for l in &lines {
        assert!(!l[4].is_empty() && l[7] == "0", "{l:?}\n{}", r.all());
    }
    let summary = json(&now.join("summary.json"));
    assert_eq!(summary["values"]["holdings_missing"], 0, "{summary}");
    // Boundaries no stage fetched, with the host gone: listed with a fix that works, and
    // counted (the console and summary.json no longer say 0).
    let gone = dir.path().join("gone");
    let r = report(
        &data,
        &gone,
        &env,
        &["--from", "2025-08-03", "--to", "2025-10-07"],
    )
    .await;
    assert_code(&r, 0);
    let summary = json(&gone.join("summary.json"));
    let missing = summary["values"]["holdings_missing"].as_u64().unwrap();
    assert!(missing > 0, "{summary}");
    assert!(r.stderr.contains("holdings"), "{}", r.stderr);
    let listed = csv_rows(&gone.join("missing_prices.csv"));
    let holdings: Vec<&Vec<String>> = listed.iter().filter(|l| l[5].contains("holding:")).collect();
    assert!(!holdings.is_empty(), "{listed:?}");
    for l in holdings {
        assert!(
            l[6].contains("--prices FILE") && l[6].contains("can be reached"),
            "{l:?}"
        );
        assert!(!l[6].contains("run `okx-export prices`"), "{l:?}");
    }
}

/// Issue 19 item 4: rows 26-35 minutes old when the first sync runs, in an hour whose bar
/// has not closed, are valued by that sync (from minute bars), so a second `prices` has
/// nothing to fetch. A row whose minute has not closed is pending: not a warning, not in
/// missing_prices.csv, valued by the next run once its bar has closed.
#[tokio::test(flavor = "multi_thread")]
async fn the_newest_rows_are_valued_or_pending() {
    let sim = sim(SimConfig {
        clock_offset_ms: 40 * 60_000,
        ..fast_config()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let env = sim_env(&sim, dir.path());
    sim.add_activity_at(3, SIM_NOW_MS + 5 * 60_000);
    sim.add_activity_at(2, SIM_NOW_MS + 14 * 60_000);
    let r = sync_priced(&data, &env, &[]).await;
    assert_code(&r, 0);
    assert!(r.stdout.contains(", 0 without a value"), "{}", r.all());
    sim.reset_stats();
    let prices_args = ["--data-dir", data.to_str().unwrap(), "--no-progress", "prices"];
    let r = run(&prices_args, &env, dir.path()).await;
    assert_code(&r, 0);
    assert!(r.stdout.contains("prices: 0 candle requests"), "{}", r.all());

    // A trade in the current minute: pending, quietly.
    sim.add_activity(1);
    let r = run(
        &[
            "--data-dir",
            data.to_str().unwrap(),
            "--no-progress",
            "sync",
            "--archive-poll-ms",
            "50",
        ],
        &env,
        dir.path(),
    )
    .await;
    assert_code(&r, 0);
    assert!(!r.stderr.contains("without a value"), "{}", r.stderr);
    assert!(r.stdout.contains("pending"), "{}", r.stdout);
    let out = dir.path().join("out");
    let r = report(&data, &out, &env, &[]).await;
    assert_code(&r, 0);
    assert!(!r.stderr.contains("warning"), "{}", r.stderr);
    let summary = json(&out.join("summary.json"));
    assert_eq!(summary["values"]["missing"], 0, "{summary}");
    assert!(summary["values"]["pending"].as_u64().unwrap() >= 1, "{summary}");
    assert!(!out.join("missing_prices.csv").exists());
    // Two minutes later the bar has closed: the next run values it.
    sim.advance_clock(120_000);
    let r = run(&prices_args, &env, dir.path()).await;
    assert_code(&r, 0);
    assert!(r.stdout.contains(", 0 without a value, 0 pending"), "{}", r.all());
}
