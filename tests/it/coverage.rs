//! Completeness: a report for a period the store does not cover says what is missing and
//! how to fix it, and exits 4 (issue 8).

use crate::common::*;
use okx_export::sim::{SimConfig, SimKey};
use std::path::Path;

async fn sync_with(sim: &okx_export::sim::SimServer, data: &Path, args: &[&str]) -> Run {
    let env = env_for(sim, &SimKey::demo(), sim.config().rate_scale);
    let mut all = vec![
        "--data-dir",
        data.to_str().unwrap(),
        "--no-progress",
        "sync",
        "--archive-poll-ms",
        "50",
    ];
    all.extend_from_slice(args);
    run(&all, &env, data.parent().unwrap()).await
}

async fn report(data: &Path, args: &[&str]) -> Run {
    let mut all = vec![
        "--data-dir",
        data.to_str().unwrap(),
        "report",
        "--format",
        "transactions",
    ];
    all.extend_from_slice(args);
    run(&all, &[], data.parent().unwrap()).await
}

/// Archive quarters refused by OKX: the sync itself succeeds (they are retried next run),
/// but a 2025 report is incomplete and says which quarters and what to do.
#[tokio::test(flavor = "multi_thread")]
async fn refused_archive_quarters_make_the_year_report_exit_4() {
    let sim = sim(SimConfig {
        archive_apply_limit: Some(1),
        ..fast_config()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    assert_code(&sync_with(&sim, &data, &["--since", "2025-01-01"]).await, 0);
    let r = report(&data, &["--year", "2025"]).await;
    assert_code(&r, 4);
    assert!(
        r.err().contains(
            "trading ledger: 2025-01-01T00:00:00.000Z .. 2025-10-01T00:00:00.000Z is not covered (archive quarter 2025Q3 is refused)"
        ) || r.err().contains("(archive quarter 2025Q3 is refused)"),
        "{}",
        r.stderr
    );
    assert!(r.err().contains("rerun `okx-export sync` later"), "{}", r.stderr);
    assert!(
        !data.join("transactions.csv").exists(),
        "no tax file from an incomplete store"
    );
    let cov = std::fs::read_to_string(data.join("coverage.csv")).unwrap();
    assert!(
        cov.contains("bills-history-archive/2025Q3,,,quarter_refused"),
        "{cov}"
    );
    assert!(
        cov.contains(
            "bills-history-archive/2025Q4,2025-10-01T00:00:00.000Z,2026-01-01T00:00:00.000Z,quarter_done"
        ),
        "{cov}"
    );
}

/// Quarters OKX is still generating when the sync stops waiting: pending, exit 4.
#[tokio::test(flavor = "multi_thread")]
async fn pending_archive_quarters_make_the_report_exit_4() {
    let sim = sim(SimConfig {
        archive_ready_after_polls: 1_000_000,
        ..fast_config()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    assert_code(
        &sync_with(&sim, &data, &["--since", "2025-07-01", "--archive-wait", "1"]).await,
        0,
    );
    let r = report(&data, &[]).await;
    assert_code(&r, 4);
    assert!(
        r.err().contains(
            "trading ledger: 2025-07-01T00:00:00.000Z .. 2025-10-01T00:00:00.000Z is not covered (archive quarter 2025Q3 is pending); fix: wait for OKX to generate the 2025Q3 archive"
        ),
        "{}",
        r.stderr
    );
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(data.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["exit_code"], 4);
    assert_eq!(summary["coverage"]["complete"], false);
}

/// A sync that never completed (here: the key was refused) leaves a store with nothing in
/// it; a report says so instead of writing header-only files with "ok".
#[tokio::test(flavor = "multi_thread")]
async fn report_after_a_failed_sync_exits_4() {
    let sim = sim(fast_config()).await;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut key = SimKey::demo();
    key.passphrase = "wrong".into();
    let env = env_for(&sim, &key, FAST);
    let r = run(&sync_args(&data, &[]), &env, dir.path()).await;
    assert_code(&r, 3);
    assert!(data.join(okx_export::store::Store::FILE).exists());
    let r = report(&data, &[]).await;
    assert_code(&r, 4);
    assert!(
        r.err().contains("no sync has completed in this store"),
        "{}",
        r.stderr
    );
    assert!(r.err().contains("run `okx-export sync`"), "{}", r.stderr);
}

/// A year the store does not reach at all.
#[tokio::test(flavor = "multi_thread")]
async fn report_for_a_year_outside_the_store_exits_4() {
    let sim = sim(fast_config()).await;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    assert_code(&sync(&sim, &data, &[]).await, 0);
    assert_code(&report(&data, &[]).await, 0);
    let r = report(&data, &["--year", "1999"]).await;
    assert_code(&r, 4);
    assert!(
        r.err().contains(
            "trading ledger: 1999-01-01T00:00:00.000Z .. 2000-01-01T00:00:00.000Z is not covered (before the store's floor 2025-07-01); fix: `okx-export sync --since 2021-02-01` (OKX keeps no history before it"
        ),
        "{}",
        r.stderr
    );
    // The funding ledger and the deposit, withdrawal and convert histories were walked to
    // OKX's end (nothing older exists), so 1999 is known to be empty there.
    assert!(!r.err().contains("funding ledger:"), "{}", r.stderr);
    // Issue 20 item 12: never a date before OKX's oldest history.
    assert!(!r.err().contains("--since 1999"), "{}", r.stderr);
    // `status` shows the coverage too.
    let st = run(&["--data-dir", data.to_str().unwrap(), "status"], &[], dir.path()).await;
    assert_code(&st, 0);
    assert!(st.stdout.contains("coverage (floor 2025-07-01"), "{}", st.stdout);
    assert!(st.stdout.contains("asset-bills-history"), "{}", st.stdout);
}

/// Issue 19 item 9: the store is as of the simulator's now (2026-02-15). A period that
/// ended after that (and before today) is not covered from there (exit 4, fix: sync); one
/// still running is reported "as of" the last sync.
#[tokio::test(flavor = "multi_thread")]
async fn a_period_ending_after_the_last_sync_says_so() {
    let sim = sim(fast_config()).await;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    assert_code(&sync(&sim, &data, &[]).await, 0);
    let r = report(&data, &["--from", "2026-01-01", "--to", "2026-03-01"]).await;
    assert_code(&r, 4);
    assert!(
        r.stderr
            .contains(".. 2026-03-01T00:00:00.000Z is not covered (after the last sync"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("fix: run `okx-export sync`"), "{}", r.stderr);
    assert!(
        r.stderr.contains("trading ledger: 2026-02-15T00:00:"),
        "{}",
        r.stderr
    );
    let r = report(&data, &["--from", "2026-01-01", "--to", "2099-01-01"]).await;
    assert_code(&r, 0);
    assert!(r.stdout.contains("data as of 2026-02-15T00:00:"), "{}", r.stdout);
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(data.join("summary.json")).unwrap()).unwrap();
    assert!(
        summary["data_as_of"]
            .as_str()
            .is_some_and(|t| t.starts_with("2026-02-15T00:00:")),
        "{summary}"
    );
}
