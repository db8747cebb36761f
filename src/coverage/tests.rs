use super::*;
use chrono::TimeZone;

fn t(y: i32, m: u32, d: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, 0, 0, 0).unwrap()
}

fn s(stream: &str, from: Option<DateTime<Utc>>, to: DateTime<Utc>, reason: &str) -> StreamCoverage {
    StreamCoverage {
        group: Group::of_stream(stream).unwrap(),
        stream: stream.into(),
        from,
        to: Some(to),
        unbounded: reason == "api_exhausted",
        end_reason: reason.into(),
        detail: String::new(),
    }
}

fn q(label: &str, state: &str, detail: Option<&str>) -> QuarterState {
    QuarterState {
        quarter: label.into(),
        state: state.into(),
        applied_at: None,
        done_at: None,
        rows: None,
        detail: detail.map(String::from),
    }
}

fn quarter_rows(qs: &[QuarterState]) -> Vec<StreamCoverage> {
    qs.iter()
        .filter(|x| x.state == "done")
        .map(|x| {
            let qq = parse_quarter(&x.quarter).unwrap();
            StreamCoverage {
                from: Some(qq.start()),
                ..s(
                    &format!("bills-history-archive/{}", x.quarter),
                    None,
                    qq.end(),
                    "quarter_done",
                )
            }
        })
        .collect()
}

/// The demo store after `sync --since 2025-07-01` on 2026-02-15.
fn demo(qs: &[QuarterState]) -> Vec<StreamCoverage> {
    let now = t(2026, 2, 15);
    let floor = Some(t(2025, 7, 1));
    let mut v = vec![
        s("bills", Some(t(2026, 2, 8)), now, "api_window"),
        s("bills-archive", Some(t(2025, 11, 17)), now, "api_window"),
        s("asset-bills", Some(t(2026, 1, 16)), now, "api_window"),
        s("asset-bills-history", floor, now, "floor_reached"),
        s("deposit-history", None, now, "api_exhausted"),
        s("withdrawal-history", None, now, "api_exhausted"),
        s("convert-history", None, now, "api_exhausted"),
        s("fills-history/SPOT", Some(t(2025, 11, 17)), now, "api_window"),
    ];
    v.extend(quarter_rows(qs));
    v
}

#[test]
fn a_covered_store_is_complete_as_of_the_last_sync() {
    let qs = [q("2025Q3", "done", None), q("2025Q4", "done", None)];
    let c = check_streams(Some(t(2025, 7, 1)), demo(&qs), &qs, None, None);
    assert!(c.complete(), "{:#?}", c.missing);
    assert_eq!(
        (c.from, c.to, c.as_of),
        (Some(t(2025, 7, 1)), Some(t(2026, 2, 15)), Some(t(2026, 2, 15)))
    );
    // A period ending after the last sync is checked up to the sync; fills are not required.
    let c = check_streams_at(
        Some(t(2025, 7, 1)),
        demo(&qs),
        &qs,
        Some(t(2025, 8, 1)),
        Some(t(2027, 1, 1)),
        t(2026, 3, 1),
    );
    assert!(c.complete(), "{:#?}", c.missing);
}

#[test]
fn pending_and_refused_quarters_are_missing_with_their_fix() {
    let qs = [
        q(
            "2025Q3",
            "pending",
            Some("2025Q3: application refused for now (429)"),
        ),
        q("2025Q4", "applied", None),
    ];
    let c = check_streams(
        Some(t(2025, 7, 1)),
        demo(&qs),
        &qs,
        Some(t(2025, 1, 1)),
        Some(t(2026, 1, 1)),
    );
    let trading: Vec<String> = c
        .missing
        .iter()
        .filter(|m| m.group == Group::Trading)
        .map(std::string::ToString::to_string)
        .collect();
    assert_eq!(
        trading,
        [
            "trading ledger: 2025-01-01T00:00:00.000Z .. 2025-07-01T00:00:00.000Z is not covered (before the store's floor 2025-07-01); fix: `okx-export sync --since 2025-01-01`",
            "trading ledger: 2025-07-01T00:00:00.000Z .. 2025-10-01T00:00:00.000Z is not covered (archive quarter 2025Q3 is refused); fix: OKX refused the 2025Q3 application for now; rerun `okx-export sync` later",
            "trading ledger: 2025-10-01T00:00:00.000Z .. 2025-11-17T00:00:00.000Z is not covered (archive quarter 2025Q4 is pending); fix: wait for OKX to generate the 2025Q4 archive (it can take hours), then rerun `okx-export sync`",
        ]
    );
    // The funding ledger is only short of the floor.
    let funding: Vec<_> = c.missing.iter().filter(|m| m.group == Group::Funding).collect();
    assert_eq!(funding.len(), 1);
    assert_eq!((funding[0].from, funding[0].to), (t(2025, 1, 1), t(2025, 7, 1)));
}

#[test]
fn a_year_outside_the_store_is_missing_in_every_required_group() {
    let qs = [q("2025Q3", "done", None), q("2025Q4", "done", None)];
    let c = check_streams(
        Some(t(2025, 7, 1)),
        demo(&qs),
        &qs,
        Some(t(1999, 1, 1)),
        Some(t(2000, 1, 1)),
    );
    // Deposits, withdrawals and converts: OKX returned nothing older than their oldest.
    let groups: Vec<Group> = c.missing.iter().map(|m| m.group.clone()).collect();
    assert_eq!(groups, [Group::Trading, Group::Funding], "{:#?}", c.missing);
    assert!(c.missing.iter().all(|m| m.from == t(1999, 1, 1)
        && m.to == t(2000, 1, 1)
        && m.fix
            == "`okx-export sync --since 2021-02-01` (OKX keeps no history before it; records older than that must come from elsewhere)"));
    // Issue 20 item 12: never a date before OKX's history; with the floor at its start,
    // nothing to fetch.
    let c = check_streams(
        Some(t(2021, 2, 1)),
        demo(&qs),
        &qs,
        Some(t(1999, 1, 1)),
        Some(t(2000, 1, 1)),
    );
    assert!(c.missing.iter().any(|m| {
        m.fix
            .starts_with("none from OKX: it keeps no history before 2021-02-01")
    }));
}

#[test]
fn never_synced_and_failed_streams_are_missing() {
    let c = check_streams(None, Vec::new(), &[], None, None);
    assert!(!c.complete());
    assert_eq!(c.missing[0].why, "no sync has completed in this store");

    let qs = [q("2025Q3", "done", None), q("2025Q4", "done", None)];
    let mut streams = demo(&qs);
    let dep = streams
        .iter_mut()
        .find(|x| x.stream == "deposit-history")
        .unwrap();
    dep.to = Some(t(2026, 1, 1));
    dep.end_reason = "stream_failed".into();
    dep.detail = "the last sync of this stream failed: boom".into();
    let c = check_streams(Some(t(2025, 7, 1)), streams, &qs, None, None);
    assert_eq!(c.missing.len(), 1, "{:#?}", c.missing);
    let m = &c.missing[0];
    assert_eq!(
        (m.group.clone(), m.from, m.to),
        (Group::Deposits, t(2026, 1, 1), t(2026, 2, 15))
    );
    assert!(
        m.why.contains("boom") && m.fix == "rerun `okx-export sync`",
        "{m}"
    );
}

#[test]
fn subtract_joins_overlapping_ranges() {
    assert_eq!(subtract((0, 10), vec![(2, 4), (3, 5), (7, 20)]), [(0, 2), (5, 7)]);
    assert_eq!(subtract((0, 10), vec![(i64::MIN, 10)]), []);
    assert_eq!(subtract((0, 10), vec![]), [(0, 10)]);
}

#[test]
fn a_quarter_never_fetched_says_so() {
    // `sync --no-archive`: no quarter state at all.
    let c = check_streams(Some(t(2025, 7, 1)), demo(&[]), &[], None, None);
    let m: Vec<String> = c.missing.iter().map(std::string::ToString::to_string).collect();
    assert_eq!(
        m,
        [
            "trading ledger: 2025-07-01T00:00:00.000Z .. 2025-10-01T00:00:00.000Z is not covered (the archive quarter 2025Q3 is not stored); fix: rerun `okx-export sync` (without `--no-archive`)",
            "trading ledger: 2025-10-01T00:00:00.000Z .. 2025-11-17T00:00:00.000Z is not covered (the archive quarter 2025Q4 is not stored); fix: rerun `okx-export sync` (without `--no-archive`)",
        ]
    );
}

#[test]
fn failed_and_refused_quarters_are_missing_with_their_reason_and_fix() {
    // Issue 8 item 7: a quarter the last sync gave up keeps its state and reason; the
    // other quarter was fetched.
    let qs = [
        q(
            "2025Q3",
            "failed",
            Some("archive file for 2025Q3: HTTP 403: archive download refused"),
        ),
        q("2025Q4", "refused", Some("OKX refused the application: 51000")),
    ];
    let streams = demo(&qs);
    let all = streams_of(&qs);
    let c = check_streams(Some(t(2025, 7, 1)), streams, &qs, None, None);
    let m: Vec<String> = c.missing.iter().map(std::string::ToString::to_string).collect();
    assert_eq!(
        m,
        [
            "trading ledger: 2025-07-01T00:00:00.000Z .. 2025-10-01T00:00:00.000Z is not covered (archive quarter 2025Q3 is failed); fix: the 2025Q3 archive could not be fetched (archive file for 2025Q3: HTTP 403: archive download refused); rerun `okx-export sync` to apply for it again",
            "trading ledger: 2025-10-01T00:00:00.000Z .. 2025-11-17T00:00:00.000Z is not covered (archive quarter 2025Q4 is refused); fix: OKX refused the 2025Q4 application (OKX refused the application: 51000); rerun `okx-export sync` to apply again",
        ]
    );
    assert_eq!(
        all,
        [
            ("2025Q3".to_string(), "quarter_failed"),
            ("2025Q4".to_string(), "quarter_refused"),
        ]
    );
    // One quarter failed, the older one done: only the failed one is missing.
    let qs = [
        q("2025Q3", "done", None),
        q(
            "2025Q4",
            "failed",
            Some("OKX failed the archive application twice"),
        ),
    ];
    let c = check_streams(Some(t(2025, 7, 1)), demo(&qs), &qs, None, None);
    assert_eq!(c.missing.len(), 1, "{:#?}", c.missing);
    assert_eq!(
        (c.missing[0].from, c.missing[0].to),
        (t(2025, 10, 1), t(2025, 11, 17))
    );
    assert_eq!(c.missing[0].why, "archive quarter 2025Q4 is failed");
}

/// The end reason each quarter's state gives (as `status` and `coverage.csv` show it).
fn streams_of(qs: &[QuarterState]) -> Vec<(String, &'static str)> {
    qs.iter()
        .map(|x| (x.quarter.clone(), quarter_reason(x).0))
        .collect()
}

/// Issue 19 item 9: a period that has ended, but after the last sync, is not covered from
/// the sync to its end (every required group, fix: sync); one that has not ended is
/// complete as of the last sync.
#[test]
fn the_tail_of_an_ended_period_after_the_last_sync_is_missing() {
    let qs = [q("2025Q3", "done", None), q("2025Q4", "done", None)];
    let floor = Some(t(2025, 7, 1));
    let now = t(2026, 3, 20);
    let c = check_streams_at(
        floor,
        demo(&qs),
        &qs,
        Some(t(2026, 1, 1)),
        Some(t(2026, 3, 1)),
        now,
    );
    assert!(!c.complete());
    assert_eq!((c.to, c.as_of), (Some(t(2026, 3, 1)), Some(t(2026, 2, 15))));
    assert_eq!(c.missing.len(), Group::REQUIRED.len(), "{:#?}", c.missing);
    for m in &c.missing {
        assert_eq!((m.from, m.to), (t(2026, 2, 15), t(2026, 3, 1)), "{m}");
        assert!(m.why.contains("after the last sync"), "{m}");
        assert_eq!(m.fix, "run `okx-export sync`");
    }
    // Not ended yet (ends after now): complete as of the last sync.
    let c = check_streams_at(
        floor,
        demo(&qs),
        &qs,
        Some(t(2026, 1, 1)),
        Some(t(2026, 4, 1)),
        now,
    );
    assert!(c.complete(), "{:#?}", c.missing);
    assert_eq!(c.to, Some(t(2026, 2, 15)));
    // Ended exactly at the sync: nothing is missing.
    let c = check_streams_at(
        floor,
        demo(&qs),
        &qs,
        Some(t(2026, 1, 1)),
        Some(t(2026, 2, 15)),
        now,
    );
    assert!(c.complete(), "{:#?}", c.missing);
}

/// Issue 18: a master's store also needs the transfers with its sub-accounts
/// (`subaccount-bills`) over the period, from OKX's 2022-09-28 start of that history; a
/// store that is not a master's does not.
#[test]
fn a_master_needs_its_sub_account_transfers() {
    let qs = [q("2025Q3", "done", None), q("2025Q4", "done", None)];
    let floor = Some(t(2025, 7, 1));
    let c = check_streams_for(floor, demo(&qs), &qs, None, None, true);
    assert_eq!(c.missing.len(), 1, "{:#?}", c.missing);
    let m = &c.missing[0];
    assert_eq!(
        (m.group.clone(), m.from, m.to),
        (Group::SubTransfers, t(2025, 7, 1), t(2026, 2, 15))
    );
    assert_eq!(m.fix, "rerun `okx-export sync`");
    assert!(check_streams_for(floor, demo(&qs), &qs, None, None, false).complete());
    let mut streams = demo(&qs);
    streams.push(s("subaccount-bills", floor, t(2026, 2, 15), "floor_reached"));
    assert!(check_streams_for(floor, streams, &qs, None, None, true).complete());
    // Before 2022-09-28 OKX keeps no such history: a 2022 period misses it only from then.
    let mut old = demo(&qs);
    for st in &mut old {
        if st.from == floor {
            st.from = Some(t(2022, 1, 1));
        }
    }
    old.push(s(
        "subaccount-bills",
        Some(t(2022, 9, 28)),
        t(2026, 2, 15),
        "api_window",
    ));
    let c = check_streams_for(
        Some(t(2022, 1, 1)),
        old,
        &[],
        Some(t(2022, 1, 1)),
        Some(t(2022, 12, 1)),
        true,
    );
    assert!(
        !c.missing.iter().any(|m| m.group == Group::SubTransfers),
        "{:#?}",
        c.missing
    );
}
