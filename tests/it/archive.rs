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

/// Issue 8 item 6: an archive file with a bad money field in one row (after more than one
/// batch of good rows) fails its quarter naming the endpoint, quarter, line, billId and
/// field; none of that file's rows is stored.
#[tokio::test(flavor = "multi_thread")]
async fn archive_row_with_bad_money_field_refuses_the_file() {
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
        archive_file_override: Some(std::sync::Arc::new(gz.finish().unwrap())),
        ..fast_config()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let r = sync(&sim, &data, &[]).await;
    assert_ne!(r.code, 0, "{}", r.all());
    let line = good_rows + 2;
    let want = format!(
        "archive row {line} (billId 900000000000999999): field `balChg` is `1e5`, not a plain decimal"
    );
    assert!(r.all().contains(&want), "{}", r.all());
    // Endpoint and quarter head the error chain.
    assert!(r.stderr.contains("error: bills-history-archive"), "{}", r.stderr);
    assert!(
        r.stderr.contains("caused by: archive file for 20"),
        "{}",
        r.stderr
    );
    let keys = store(&data).keys(okx_export::store::RecordKind::Bill).unwrap();
    assert!(
        !keys.iter().any(|k| k.starts_with("9000000000000")),
        "nothing of the refused file is stored"
    );
    let quarters = store(&data).quarters().unwrap();
    assert!(quarters.iter().all(|q| q.state != "done"), "{quarters:?}");
}
