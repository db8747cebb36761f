//! The quarterly archive pipeline: newest first, each quarter polled right after its own
//! application, forgotten applications re-applied, empty quarters (issues 8 and 10).

use crate::common::*;
use okx_export::sim::SimConfig;

fn state_of(data: &std::path::Path, q: &str) -> Option<(String, Option<u64>)> {
    store(data)
        .quarters()
        .unwrap()
        .into_iter()
        .find(|s| s.quarter == q)
        .map(|s| (s.state, s.rows))
}

/// At OKX's real application limit (1 per 10 s), the newest quarter's file is
/// downloaded before the next application is even allowed: polling does not wait for
/// every application to be made.
#[tokio::test(flavor = "multi_thread")]
async fn newest_quarter_is_fetched_while_older_ones_wait_to_be_applied() {
    let sim = sim(SimConfig::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let r = sync(&sim, &data, &[]).await;
    assert_code(&r, 0);
    assert_eq!(
        sim.archive_events(),
        [
            "apply 2025Q4",
            "download 2025Q4",
            "apply 2025Q3",
            "download 2025Q3"
        ]
    );
}

/// OKX forgets an application after 30 days (or a restart) and then answers a poll with
/// 51604: the quarter is applied for again instead of failing the sync.
#[tokio::test(flavor = "multi_thread")]
async fn a_forgotten_application_is_made_again() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    // First run: applied, but OKX has not finished before --archive-wait runs out.
    let slow = sim(SimConfig {
        archive_ready_after_polls: 1000,
        ..fast_config()
    })
    .await;
    let r = sync(&slow, &data, &["--archive-wait", "1"]).await;
    assert_code(&r, 0);
    assert_eq!(state_of(&data, "2025Q4").unwrap().0, "applied");
    let first_applied = store(&data)
        .quarter("2025Q4")
        .unwrap()
        .unwrap()
        .applied_at
        .unwrap();
    drop(slow);
    // Second run against a server that no longer knows the application.
    let forgetful = sim(SimConfig {
        archive_forgets: true,
        ..fast_config()
    })
    .await;
    std::thread::sleep(std::time::Duration::from_millis(20));
    let r = sync(&forgetful, &data, &[]).await;
    assert_code(&r, 0);
    assert!(!r.all().contains("51604"), "{}", r.all());
    for q in ["2025Q3", "2025Q4"] {
        assert_eq!(state_of(&data, q).unwrap().0, "done", "{q}");
    }
    let mut events = forgetful.archive_events();
    events.sort();
    assert_eq!(
        events,
        [
            "apply 2025Q3",
            "apply 2025Q4",
            "download 2025Q3",
            "download 2025Q4"
        ]
    );
    // The application time was refreshed by the new application.
    let q = store(&data).quarter("2025Q4").unwrap().unwrap();
    assert!(q.applied_at.unwrap() > first_applied, "{q:?}");
}

/// A quarter that finishes with an empty link had no activity: it is done with 0 rows.
#[tokio::test(flavor = "multi_thread")]
async fn finished_with_an_empty_link_is_an_empty_quarter() {
    let sim = sim(SimConfig {
        archive_empty_quarters: vec!["2025Q3".into()],
        ..fast_config()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let r = sync(&sim, &data, &[]).await;
    assert_code(&r, 0);
    assert_eq!(state_of(&data, "2025Q3"), Some(("done".into(), Some(0))));
    assert_eq!(state_of(&data, "2025Q4").unwrap().0, "done");
}

/// Trading bills of the simulated account at or after `from_ms`, by billId.
fn sim_bill_ids(sim: &okx_export::sim::SimServer, from_ms: i64) -> std::collections::BTreeSet<String> {
    let a = sim.account().snapshot();
    a.trading_bills
        .iter()
        .filter(|b| b.ts >= from_ms)
        .map(|b| b.bill_id.to_string())
        .collect()
}

/// Pages `bills-archive` needs to walk from now down past `boundary_ms` (100 per page,
/// the walk stops at the first page holding a bill older than the boundary).
fn pages_to(sim: &okx_export::sim::SimServer, boundary_ms: i64) -> u64 {
    let newer = sim
        .account()
        .snapshot()
        .trading_bills
        .iter()
        .filter(|b| b.ts >= boundary_ms)
        .count() as u64;
    newer / 100 + 1
}

const Q1_2026_MS: i64 = 1_767_225_600_000; // 2026-01-01T00:00:00Z
const FLOOR_MS: i64 = 1_751_328_000_000; // 2025-07-01T00:00:00Z

/// Issue 10 item 1: the sim's 90-day window (from 2025-11-17) straddles 2026-01-01. The
/// complete 2025Q4 comes from its archive file, so `bills-archive` pages only back to the
/// quarter's start; every bill is stored exactly once and the coverage check passes, with
/// the planner's choice in the stream's coverage detail.
#[tokio::test(flavor = "multi_thread")]
async fn the_previous_quarter_comes_from_its_file_not_from_paging() {
    let sim = sim(fast_config()).await;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let r = sync(&sim, &data, &[]).await;
    assert_code(&r, 0);
    // bills-archive starts below the newest 7 days (`account/bills` serves those, issue 10
    // item 2) and ends at the quarter: at most the pages of that part.
    let requests = sim.stats().get("bills-archive").requests;
    assert!(
        requests <= pages_to(&sim, Q1_2026_MS) && requests >= 1,
        "{requests} bills-archive requests"
    );
    // Paging the whole window would take more: the plan saved the Q4 part of it.
    let (planned, full) = (
        pages_to(&sim, Q1_2026_MS),
        pages_to(&sim, sim.now_ms() - 90 * 86_400_000),
    );
    assert!(planned < full, "{planned} pages planned, {full} in the window");
    let s = store(&data);
    let stored: std::collections::BTreeSet<String> = s
        .keys(okx_export::store::RecordKind::Bill)
        .unwrap()
        .into_iter()
        .collect();
    assert_eq!(stored, sim_bill_ids(&sim, FLOOR_MS), "stored bills == the sim's");
    let cov = s.coverage("bills-archive").unwrap().unwrap();
    assert_eq!(cov.from.unwrap().timestamp_millis(), Q1_2026_MS, "{cov:?}");
    let detail = cov.detail.unwrap();
    assert!(
        detail.starts_with("planned: older bills come from the archive file 2025Q4; planned: newer than "),
        "{detail}"
    );
    let check = okx_export::coverage::check(&s, None, None).unwrap();
    assert!(check.complete(), "{:?}", check.missing);
    // `status` shows which source covered which range.
    let st = run(&["--data-dir", data.to_str().unwrap(), "status"], &[], dir.path()).await;
    assert!(
        st.stdout
            .contains("planned: older bills come from the archive file 2025Q4"),
        "{}",
        st.stdout
    );
    // A second run with nothing new: no backfill below the quarter (and nothing at all,
    // since `account/bills` continues the range).
    sim.reset_stats();
    let r = sync(&sim, &data, &[]).await;
    assert_code(&r, 0);
    assert_eq!(sim.stats().get("bills-archive").requests, 0);
    assert!(
        okx_export::coverage::check(&store(&data), None, None)
            .unwrap()
            .complete()
    );
}

/// The fallback: when the 2025Q4 file cannot be had within `--archive-wait` (refused, or
/// still generating), `bills-archive` pages its whole 90-day window as before, and the
/// coverage still holds for the part the file would have served.
#[tokio::test(flavor = "multi_thread")]
async fn without_the_file_paging_goes_back_the_whole_window() {
    for (name, cfg, extra) in [
        (
            "refused",
            SimConfig {
                archive_apply_limit: Some(0),
                ..fast_config()
            },
            vec![],
        ),
        (
            "late",
            SimConfig {
                archive_ready_after_polls: 1000,
                ..fast_config()
            },
            vec!["--archive-wait", "1"],
        ),
    ] {
        let sim = sim(cfg).await;
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let r = sync(&sim, &data, &extra).await;
        assert_code(&r, 0);
        assert_ne!(
            state_of(&data, "2025Q4").map(|s| s.0).as_deref(),
            Some("done"),
            "{name}"
        );
        let window_ms = sim.now_ms() - 90 * 86_400_000;
        let s = store(&data);
        let stored: std::collections::BTreeSet<String> = s
            .keys(okx_export::store::RecordKind::Bill)
            .unwrap()
            .into_iter()
            .collect();
        // Everything the window holds is stored (Q3 and Q4 before the window are missing).
        let reachable = sim_bill_ids(&sim, window_ms + 60_000);
        assert!(stored.is_superset(&reachable), "{name}: window bills stored");
        let cov = s.coverage("bills-archive").unwrap().unwrap();
        assert!(
            cov.from.unwrap().timestamp_millis() <= window_ms + 60_000,
            "{name}: {cov:?}"
        );
        assert!(!cov.detail.unwrap_or_default().contains("archive file"), "{name}");
        // The walk to the boundary, one request to resume, then the rest of the window.
        let full = pages_to(&sim, window_ms);
        let requests = sim.stats().get("bills-archive").requests;
        assert!(
            (full..=full + 2).contains(&requests),
            "{name}: {requests} requests, {full} pages in the window"
        );
        // The coverage check blames only the quarters the file would have served, never a
        // day of the window.
        let check = okx_export::coverage::check(&s, None, None).unwrap();
        for m in &check.missing {
            assert!(m.to.timestamp_millis() <= window_ms + 60_000, "{name}: {m}");
        }
    }
}

/// Issue 10 item 5: the simulated account begins on 2025-07-01, so with `--since
/// 2025-01-01` the quarters 2025Q1 and 2025Q2 lie before its first activity: no
/// application is made for them, and coverage counts them only under that rule, saying so.
#[tokio::test(flavor = "multi_thread")]
async fn no_applications_for_quarters_before_the_first_activity() {
    let sim = sim(fast_config()).await;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let r = sync_from_2025(&sim, &data).await;
    assert_code(&r, 0);
    let mut events = sim.archive_events();
    events.sort();
    assert_eq!(
        events,
        [
            "apply 2025Q3",
            "apply 2025Q4",
            "download 2025Q3",
            "download 2025Q4"
        ]
    );
    for q in ["2025Q1", "2025Q2"] {
        assert_eq!(state_of(&data, q).map(|s| s.0).as_deref(), Some("skipped"), "{q}");
    }
    let s = store(&data);
    let check = okx_export::coverage::check(&s, None, None).unwrap();
    assert!(check.complete(), "{:?}", check.missing);
    let q1 = check
        .streams
        .iter()
        .find(|c| c.stream == "bills-history-archive/2025Q1")
        .unwrap();
    assert_eq!(q1.end_reason, "quarter_before_activity");
    assert!(
        q1.detail
            .starts_with("before the account's first activity (oldest stored record 2025-07-01"),
        "{}",
        q1.detail
    );
    let st = run(&["--data-dir", data.to_str().unwrap(), "status"], &[], dir.path()).await;
    assert!(
        st.stdout.contains(
            "archive quarters not applied for (before the account's first activity): 2025Q1–2025Q2"
        ),
        "{}",
        st.stdout
    );
    // A second run decides again from the store and still applies for nothing.
    let r = sync_from_2025(&sim, &data).await;
    assert_code(&r, 0);
    assert_eq!(sim.archive_events().len(), 4, "{:?}", sim.archive_events());
}

/// The guard: when the oldest stored trading bills do not open at zero (here the sim
/// withholds the account's first three days of trading bills, so the oldest stored ones
/// carry a balance from before), the older quarters are applied for after all.
#[tokio::test(flavor = "multi_thread")]
async fn a_trading_bill_not_opening_at_zero_applies_for_older_quarters() {
    const START: i64 = 1_751_328_000_000; // 2025-07-01, the sim account's first activity
    let sim = sim(SimConfig {
        withhold_bills: Some((START, START + 3 * 86_400_000)),
        ..fast_config()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let r = sync_from_2025(&sim, &data).await;
    let mut events = sim.archive_events();
    events.sort();
    assert!(
        events.contains(&"apply 2025Q2".to_string()),
        "{events:?}\n{}",
        r.all()
    );
    assert!(events.contains(&"apply 2025Q1".to_string()), "{events:?}");
    for q in ["2025Q1", "2025Q2"] {
        assert_eq!(state_of(&data, q).map(|s| s.0).as_deref(), Some("done"), "{q}");
    }
}

/// `sync --since 2025-01-01` (two quarters before the sim account's first activity).
async fn sync_from_2025(sim: &okx_export::sim::SimServer, data: &std::path::Path) -> Run {
    let env = env_for(sim, &okx_export::sim::SimKey::demo(), sim.config().rate_scale);
    let args = [
        "--data-dir",
        data.to_str().unwrap(),
        "--no-progress",
        "sync",
        "--since",
        "2025-01-01",
        "--archive-poll-ms",
        "50",
    ];
    run(&args, &env, data.parent().unwrap()).await
}

/// Issue 8 items 6 and 7: an archive file with a bad money field in one row (after more
/// than one batch of good rows) refuses that quarter alone, naming the endpoint, quarter,
/// line, billId and field; none of that file's rows is stored, the other quarter is fetched
/// and stored, and the sync still fails (exit 1), naming the quarter.
#[tokio::test(flavor = "multi_thread")]
async fn archive_row_with_bad_money_field_refuses_the_file() {
    use okx_export::sim::ArchiveFault;
    use std::fmt::Write as _;
    use std::io::Write as _;
    let mut csv = String::from("billId,ts,type,subType,ccy,balChg,bal,sz,px,pnl,fee\n");
    let good_rows = okx_export::sync::archive_file::BATCH + 10;
    for i in 0..good_rows {
        let id = 900_000_000_000_000_000u64 + i as u64;
        writeln!(
            csv,
            "{id},{},2,1,USDT,1.5,{i},1.5,1,0,0",
            1_752_000_000_000u64 + i as u64
        )
        .unwrap();
    }
    csv.push_str("900000000000999999,1752100000000,2,1,USDT,1e5,1,1,1,0,0\n");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(csv.as_bytes()).unwrap();
    let sim = sim(SimConfig {
        archive_faults: vec![(
            "2025Q3".into(),
            ArchiveFault::File(std::sync::Arc::new(gz.finish().unwrap())),
        )],
        ..fast_config()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let r = sync(&sim, &data, &[]).await;
    assert_code(&r, 1);
    let line = good_rows + 2;
    let want = format!(
        "archive row {line} (billId 900000000000999999): field `balChg` is `1e5`, not a plain decimal"
    );
    assert!(r.all().contains(&want), "{}", r.all());
    // Endpoint and quarter head the error chain.
    assert!(r.err().contains("error: bills-history-archive"), "{}", r.stderr);
    assert!(
        r.err().contains("caused by: archive quarter 2025Q3 failed")
            && r.err().contains("caused by: archive file for 2025Q3"),
        "{}",
        r.stderr
    );
    let s = store(&data);
    let keys: std::collections::BTreeSet<String> = s
        .keys(okx_export::store::RecordKind::Bill)
        .unwrap()
        .into_iter()
        .collect();
    assert!(
        !keys.iter().any(|k| k.starts_with("9000000000000")),
        "nothing of the refused file is stored"
    );
    let q3 = s.quarter("2025Q3").unwrap().unwrap();
    assert_eq!(q3.state, "failed", "{q3:?}");
    assert!(q3.detail.as_deref().unwrap_or_default().contains(&want), "{q3:?}");
    // The other quarter went on: done, and every one of its bills stored.
    assert_eq!(state_of(&data, "2025Q4").unwrap().0, "done");
    let q4 = sim_bill_ids_in(&sim, Q4_2025_MS, Q1_2026_MS);
    assert!(!q4.is_empty() && keys.is_superset(&q4), "2025Q4 bills stored");
    assert!(r.stdout.contains("quarters failed: 2025Q3"), "{}", r.stdout);
    // The report for a period that needs the quarter exits 4 naming it and the fix.
    let rep = run(&["--data-dir", data.to_str().unwrap(), "report"], &[], dir.path()).await;
    assert_code(&rep, 4);
    assert!(
        rep.err().contains(
            "trading ledger: 2025-07-01T00:00:00.000Z .. 2025-10-01T00:00:00.000Z is not covered (archive quarter 2025Q3 is failed); fix: the 2025Q3 archive could not be fetched (archive file for 2025Q3: "
        ) && rep.err().contains("rerun `okx-export sync` to apply for it again"),
        "{}",
        rep.stderr
    );
    let cov = std::fs::read_to_string(data.join("coverage.csv")).unwrap();
    assert!(
        cov.lines().any(|l| l.starts_with(
            "trading ledger,bills-history-archive/2025Q3,,,quarter_failed,\"the 2025Q3 archive could not be fetched (archive file for 2025Q3: archive row"
        )),
        "{cov}"
    );
}

const Q4_2025_MS: i64 = 1_759_276_800_000; // 2025-10-01T00:00:00Z

/// Trading bills of the simulated account with `from_ms <= ts < to_ms`, by billId.
fn sim_bill_ids_in(
    sim: &okx_export::sim::SimServer,
    from_ms: i64,
    to_ms: i64,
) -> std::collections::BTreeSet<String> {
    let a = sim.account().snapshot();
    a.trading_bills
        .iter()
        .filter(|b| b.ts >= from_ms && b.ts < to_ms)
        .map(|b| b.bill_id.to_string())
        .collect()
}

/// Issue 8 item 7: the newest quarter fails (its download is refused, or OKX fails to
/// generate it even after a second application); the older quarter is still applied for,
/// downloaded and stored, the failed one is recorded as `failed` with the reason, the sync
/// exits 1 naming it, a report that needs it exits 4 naming it and the fix, and a later sync
/// against a healthy OKX applies for it again and completes the store.
#[tokio::test(flavor = "multi_thread")]
async fn one_failed_quarter_does_not_block_the_older_ones() {
    use okx_export::sim::ArchiveFault;
    for (fault, events, says) in [
        (
            ArchiveFault::DownloadRefused,
            vec![
                "apply 2025Q4",
                "download 2025Q4",
                "apply 2025Q3",
                "download 2025Q3",
            ],
            "archive download refused",
        ),
        (
            ArchiveFault::GenerationFails,
            vec!["apply 2025Q4", "apply 2025Q3", "apply 2025Q4", "download 2025Q3"],
            "OKX failed the archive application twice",
        ),
    ] {
        let name = format!("{fault:?}");
        let broken = sim(SimConfig {
            archive_faults: vec![("2025Q4".into(), fault)],
            ..fast_config()
        })
        .await;
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let r = sync(&broken, &data, &[]).await;
        assert_code(&r, 1);
        assert!(
            r.err().contains("error: bills-history-archive")
                && r.err().contains("caused by: archive quarter 2025Q4 failed")
                && r.err().contains(says),
            "{name}: {}",
            r.stderr
        );
        let mut got = broken.archive_events();
        let mut want: Vec<String> = events.iter().map(ToString::to_string).collect();
        got.sort();
        want.sort();
        assert_eq!(got, want, "{name}");
        let s = store(&data);
        let q4 = s.quarter("2025Q4").unwrap().unwrap();
        assert_eq!(q4.state, "failed", "{name}: {q4:?}");
        assert!(
            q4.detail.as_deref().unwrap_or_default().contains(says),
            "{name}: {q4:?}"
        );
        assert_eq!(state_of(&data, "2025Q3").unwrap().0, "done", "{name}");
        let keys: std::collections::BTreeSet<String> = s
            .keys(okx_export::store::RecordKind::Bill)
            .unwrap()
            .into_iter()
            .collect();
        let q3 = sim_bill_ids_in(&broken, FLOOR_MS, Q4_2025_MS);
        assert!(!q3.is_empty() && keys.is_superset(&q3), "{name}: 2025Q3 stored");
        // Coverage names the quarter; `status` shows it; the report exits 4 with the fix.
        let check = okx_export::coverage::check(&s, None, None).unwrap();
        let row = check
            .streams
            .iter()
            .find(|c| c.stream == "bills-history-archive/2025Q4")
            .unwrap();
        assert_eq!(row.end_reason, "quarter_failed", "{name}");
        assert!(row.detail.contains(says), "{name}: {}", row.detail);
        let missing: Vec<String> = check.missing.iter().map(ToString::to_string).collect();
        assert_eq!(missing.len(), 1, "{name}: {missing:?}");
        assert!(
            missing[0].starts_with("trading ledger: 2025-10-01T00:00:00.000Z .. 2025-11-17T")
                && missing[0].contains(
                    "(archive quarter 2025Q4 is failed); fix: the 2025Q4 archive could not be fetched ("
                )
                && missing[0].ends_with("rerun `okx-export sync` to apply for it again"),
            "{name}: {missing:?}"
        );
        drop(s);
        let st = run(&["--data-dir", data.to_str().unwrap(), "status"], &[], dir.path()).await;
        let out = unwrap_lines(&st.stdout);
        assert!(
            out.contains(
                "archive quarters failed or refused (the next `okx-export sync` applies for them again): 2025Q4 (failed: "
            ) && out.contains("archive quarters pending: -"),
            "{name}: {}",
            st.stdout
        );
        let rep = run(&["--data-dir", data.to_str().unwrap(), "report"], &[], dir.path()).await;
        assert_code(&rep, 4);
        assert!(
            rep.err().contains("(archive quarter 2025Q4 is failed)"),
            "{name}: {}",
            rep.stderr
        );
        drop(broken);
        // The fix: rerun sync once OKX serves the quarter.
        let healthy = sim(fast_config()).await;
        let r = sync(&healthy, &data, &[]).await;
        assert_code(&r, 0);
        assert_eq!(
            healthy.archive_events(),
            ["apply 2025Q4", "download 2025Q4"],
            "{name}"
        );
        assert_eq!(state_of(&data, "2025Q4").unwrap().0, "done", "{name}");
        let check = okx_export::coverage::check(&store(&data), None, None).unwrap();
        assert!(check.complete(), "{name}: {:?}", check.missing);
    }
}

/// Issue 20 item 2: when the archive's file host cannot be reached (connection refused),
/// every other link points to it too. The first such download fails its quarter and ends
/// the archive stage: the other quarters are left pending (not applied for, or not
/// downloaded), instead of each waiting out its own retries until `--archive-wait`.
#[tokio::test(flavor = "multi_thread")]
async fn an_unreachable_file_host_ends_the_archive_stage() {
    use okx_export::sim::ArchiveFault;
    let broken = sim(SimConfig {
        archive_faults: vec![
            ("2025Q4".into(), ArchiveFault::LinkUnreachable),
            ("2025Q3".into(), ArchiveFault::LinkUnreachable),
        ],
        ..fast_config()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let r = sync(&broken, &data, &["--give-up-after", "3"]).await;
    assert_code(&r, 1);
    assert!(r.err().contains("archive quarter 2025Q4 failed"), "{}", r.stderr);
    assert!(!r.err().contains("2025Q3 failed"), "{}", r.stderr);
    let q3 = store(&data).quarter("2025Q3").unwrap().unwrap();
    assert_eq!(q3.state, "pending", "{q3:?}");
    let detail = q3.detail.unwrap_or_default();
    assert!(
        detail.contains("file host `127.0.0.1:1` could not be reached"),
        "{detail}"
    );
}
