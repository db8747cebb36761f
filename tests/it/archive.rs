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
