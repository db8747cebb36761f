use super::*;

fn rec(kind: RecordKind, key: &str, ts: i64, raw: &str) -> NewRecord {
    NewRecord {
        kind,
        key: key.into(),
        ts_ms: ts,
        num: key.parse().ok(),
        link: None,
        raw: raw.into(),
    }
}

#[test]
fn page_and_cursor_commit_together_and_dedupe() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Store::open(dir.path()).unwrap();
    let page = [
        rec(RecordKind::Bill, "2", 20, "{\"b\":2}"),
        rec(RecordKind::Bill, "1", 10, "{\"b\":1}"),
    ];
    let out = s
        .insert_page("bills", 1, &page, Some("{\"after\":\"1\"}"))
        .unwrap();
    assert_eq!((out.new, out.updated), (2, 0));
    assert_eq!(out.new_keys, ["2", "1"]);
    let again = s.insert_page("bills", 1, &page, None).unwrap();
    assert_eq!(again, InsertOutcome::default());
    assert_eq!(s.cursor("bills").unwrap().as_deref(), Some("{\"after\":\"1\"}"));
    // The archive copy (priority 0) must not overwrite the API copy.
    let archived = [rec(RecordKind::Bill, "2", 20, "{\"b\":2,\"csv\":1}")];
    assert_eq!(
        s.insert_page("archive", 0, &archived, None).unwrap(),
        InsertOutcome::default()
    );
    // A changed deposit (state 0 -> 2) replaces the stored one.
    s.insert_page(
        "deposits",
        1,
        &[rec(RecordKind::Deposit, "d1", 5, "{\"state\":\"0\"}")],
        None,
    )
    .unwrap();
    let upd = s
        .insert_page(
            "deposits",
            1,
            &[rec(RecordKind::Deposit, "d1", 5, "{\"state\":\"2\"}")],
            None,
        )
        .unwrap();
    assert_eq!(upd.updated, 1);
    let mut seen = Vec::new();
    s.for_each(RecordKind::Bill, &mut |r| {
        seen.push(r.key);
        Ok(())
    })
    .unwrap();
    assert_eq!(seen, ["1", "2"]);
    assert_eq!(s.count(RecordKind::Deposit).unwrap(), 1);
}

/// Two cursors read at the same time, each in `for_each` order, while links are looked
/// up (in rowid order, as `by_link`).
#[test]
fn cursors_and_links_while_reading() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Store::open(dir.path()).unwrap();
    let mut page = Vec::new();
    for i in (0..50i64).rev() {
        page.push(rec(RecordKind::Bill, &(100 + i).to_string(), 1000 + i / 3, "{}"));
        page.push(rec(
            RecordKind::FundingBill,
            &(900 + i).to_string(),
            1000 + i,
            "{}",
        ));
    }
    let fill = |key: &str, link: &str| NewRecord {
        link: Some(link.to_string()),
        ..rec(RecordKind::Fill, key, 1, &format!("{{\"k\":\"{key}\"}}"))
    };
    page.extend([
        fill("f3", "101"),
        fill("f1", "102"),
        fill("f2", "101"),
        fill("f4", "7"),
        fill("f5", "x9"),
        fill("f6", "0099"),
        fill("f7", "+150"),
    ]);
    s.insert_page("t", 1, &page, None).unwrap();

    let mem = MemorySource {
        records: page
            .iter()
            .map(|r| StoredRecord {
                kind: r.kind,
                key: r.key.clone(),
                ts_ms: r.ts_ms,
                link: r.link.clone(),
                raw: r.raw.clone(),
            })
            .collect(),
        balances: Vec::new(),
        unavailable: Vec::new(),
    };
    for src in [&s as &dyn RecordSource, &mem] {
        let mut expected = Vec::new();
        for kind in [RecordKind::Bill, RecordKind::FundingBill] {
            let mut keys = Vec::new();
            src.for_each(kind, &mut |r| {
                keys.push(r.key);
                Ok(())
            })
            .unwrap();
            expected.push(keys);
        }
        let mut seen = vec![Vec::new(), Vec::new()];
        src.with_cursors(
            &[RecordKind::Bill, RecordKind::FundingBill],
            &mut |cursors, links| {
                let keys = |v: Vec<StoredRecord>| v.into_iter().map(|r| r.key).collect::<Vec<_>>();
                assert_eq!(keys(links.by_link(RecordKind::Fill, "101")?), ["f3", "f2"]);
                assert_eq!(keys(links.by_link(RecordKind::Fill, "102")?), ["f1"]);
                assert_eq!(keys(links.by_link(RecordKind::Fill, "7")?), ["f4"]);
                assert!(links.by_link(RecordKind::Fill, "8")?.is_empty());
                // Texts that are no plain integers, or equal as numbers but not as text.
                assert_eq!(keys(links.by_link(RecordKind::Fill, "x9")?), ["f5"]);
                assert_eq!(keys(links.by_link(RecordKind::Fill, "0099")?), ["f6"]);
                assert!(links.by_link(RecordKind::Fill, "99")?.is_empty());
                assert_eq!(keys(links.by_link(RecordKind::Fill, "+150")?), ["f7"]);
                assert!(links.by_link(RecordKind::Fill, "150")?.is_empty());
                assert!(links.by_link(RecordKind::Fill, "151")?.is_empty());
                assert!(links.by_link(RecordKind::Fill, "-1")?.is_empty());
                // A kind without links at all.
                assert!(links.by_link(RecordKind::Deposit, "101")?.is_empty());
                assert!(links.by_link(RecordKind::Deposit, "d")?.is_empty());
                let mut done = [false, false];
                while done != [true, true] {
                    for (i, c) in cursors.iter_mut().enumerate() {
                        match c.next_record()? {
                            Some(r) => seen[i].push(r.key.to_string()),
                            None => done[i] = true,
                        }
                    }
                    links.by_link(RecordKind::Fill, "101")?;
                }
                Ok(())
            },
        )
        .unwrap();
        assert_eq!(seen, expected);
        assert_eq!(seen[0].len(), 50);
    }
}

#[test]
fn newer_schema_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    drop(Store::open(dir.path()).unwrap());
    let conn = Connection::open(dir.path().join(Store::FILE)).unwrap();
    conn.execute("UPDATE meta SET value = '999' WHERE key = 'schema_version'", [])
        .unwrap();
    drop(conn);
    let err = Store::open(dir.path()).err().unwrap().to_string();
    assert!(err.contains("newer okx-export"), "{err}");
    // A foreign SQLite file is refused, not misread.
    let other = tempfile::tempdir().unwrap();
    let conn = Connection::open(other.path().join(Store::FILE)).unwrap();
    conn.execute("CREATE TABLE t (x)", []).unwrap();
    drop(conn);
    let err = Store::open(other.path()).err().unwrap().to_string();
    assert!(err.contains("not an okx-export store"), "{err}");
}

/// A store written by the schema-v1 build (fixtures/store/v1.sql) opens, upgrades to v2
/// (and on to v3) in place and keeps every record; coverage and the floor are guessed from what v1 kept.
#[test]
fn v1_store_upgrades_to_v2() {
    let dir = tempfile::tempdir().unwrap();
    let sql = include_str!("../../fixtures/store/v1.sql");
    Connection::open(dir.path().join(Store::FILE))
        .unwrap()
        .execute_batch(sql)
        .unwrap();
    let s = Store::open(dir.path()).unwrap();
    // v1 → v2 → v3 → v4 (v3 and v4 only add tables).
    assert_eq!(s.schema_version().unwrap(), Some(SCHEMA_VERSION));
    assert_eq!(SCHEMA_VERSION, 4);
    assert_eq!(s.price_home().unwrap(), None);
    assert_eq!(s.count(RecordKind::Bill).unwrap(), 2);
    assert_eq!(s.quarters().unwrap().len(), 2);
    assert_eq!(s.latest_balances().unwrap().len(), 1);
    let t = |ms: i64| DateTime::from_timestamp_millis(ms).unwrap();
    // The oldest archive quarter asked for: 2025Q3.
    assert_eq!(s.floor().unwrap(), Some(t(1_751_328_000_000)));
    let cov = s.coverages().unwrap();
    let streams: Vec<&str> = cov.iter().map(|c| c.stream.as_str()).collect();
    // Idle cursors only: the convert walk never finished.
    assert_eq!(
        streams,
        ["asset-bills-history", "bills-archive", "deposit-history"]
    );
    let dep = s.coverage("deposit-history").unwrap().unwrap();
    assert_eq!(
        (dep.from, dep.to, dep.reason, dep.bottom.as_deref()),
        (
            Some(t(1_751_399_000_000)),
            Some(t(1_771_113_600_000)),
            EndReason::Migrated,
            Some("1751399000001")
        )
    );
    let bills = s.coverage("bills-archive").unwrap().unwrap();
    assert_eq!(
        (bills.from, bills.bottom.as_deref()),
        (Some(t(1_768_000_000_000)), Some("1002"))
    );
    // The id-order index of v2 exists, and a reopen is a no-op.
    let idx: i64 = s
        .conn
        .query_row(
            "SELECT count(*) FROM sqlite_master WHERE name = 'records_by_id'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(idx, 1);
    drop(s);
    assert_eq!(Store::open(dir.path()).unwrap().coverages().unwrap(), cov);
}

#[test]
fn second_lock_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let _held = Store::lock(dir.path()).unwrap();
    let err = Store::lock(dir.path()).unwrap_err().to_string();
    assert!(err.contains("already running"), "{err}");
}

#[test]
fn balances_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Store::open(dir.path()).unwrap();
    let t = DateTime::from_timestamp_millis(1_700_000_000_000).unwrap();
    let row = BalanceRow {
        account: "trading".into(),
        ccy: "BTC".into(),
        total: "1.5".parse().unwrap(),
        available: Some("1".parse().unwrap()),
        frozen: None,
        as_of: t,
    };
    s.save_balances(t, std::slice::from_ref(&row), &[]).unwrap();
    assert_eq!(s.latest_balances().unwrap(), vec![row.clone()]);
    assert_eq!(s.unavailable_balances().unwrap(), []);
    // A later snapshot whose earn endpoint failed: the failure is the latest snapshot's.
    let t2 = DateTime::from_timestamp_millis(1_700_000_060_000).unwrap();
    let row2 = BalanceRow { as_of: t2, ..row };
    s.save_balances(t2, std::slice::from_ref(&row2), &[("earn", "HTTP 404".into())])
        .unwrap();
    assert_eq!(s.latest_balances().unwrap(), vec![row2.clone()]);
    assert_eq!(
        s.unavailable_balances().unwrap(),
        [UnavailableBalance {
            account: "earn".into(),
            error: "HTTP 404".into(),
            as_of: t2
        }]
    );
    // A snapshot that read everything clears it.
    let t3 = DateTime::from_timestamp_millis(1_700_000_120_000).unwrap();
    s.save_balances(t3, &[], &[]).unwrap();
    assert_eq!(s.unavailable_balances().unwrap(), []);
}

/// A schema-v2 store (v3 without the table of unavailable balance endpoints) upgrades to
/// v3 in place, keeping its snapshot.
#[test]
fn v2_store_upgrades_to_v3() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Store::open(dir.path()).unwrap();
    let t = DateTime::from_timestamp_millis(1_700_000_000_000).unwrap();
    let row = BalanceRow {
        account: "funding".into(),
        ccy: "USDT".into(),
        total: "12.5".parse().unwrap(),
        available: None,
        frozen: None,
        as_of: t,
    };
    s.save_balances(t, std::slice::from_ref(&row), &[]).unwrap();
    s.conn
        .execute_batch(
            "DROP TABLE balances_unavailable; DROP TABLE price_home; DROP TABLE report_zones; \
             DROP TABLE record_history; DROP TABLE bill_types; DROP TABLE identity; \
             DROP TABLE sub_accounts; DROP TABLE sub_account_balances; \
             UPDATE meta SET value = '2' WHERE key = 'schema_version';",
        )
        .unwrap();
    drop(s);
    let s = Store::open(dir.path()).unwrap();
    // v2 → v3 → v4.
    assert_eq!(s.schema_version().unwrap(), Some(SCHEMA_VERSION));
    assert_eq!(s.latest_balances().unwrap(), vec![row]);
    assert_eq!(s.unavailable_balances().unwrap(), []);
}

/// A schema-v3 store (v4 without the identity and sub-account tables) upgrades to v4 in
/// place, keeping its records; it knows no identity and no sub-account list until the next
/// sync records them, and then keeps both across a reopen.
#[test]
fn v3_store_upgrades_to_v4_and_knows_its_sub_accounts() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Store::open(dir.path()).unwrap();
    s.insert_page(
        "asset-bills",
        1,
        &[rec(RecordKind::FundingBill, "7", 70, "{\"type\":\"20\"}")],
        None,
    )
    .unwrap();
    s.conn
        .execute_batch(
            "DROP TABLE price_home; DROP TABLE report_zones; DROP TABLE record_history; \
             DROP TABLE bill_types; DROP TABLE identity; DROP TABLE sub_accounts; \
             DROP TABLE sub_account_balances; UPDATE meta SET value = '3' WHERE key = 'schema_version';",
        )
        .unwrap();
    drop(s);
    let mut s = Store::open(dir.path()).unwrap();
    assert_eq!(s.schema_version().unwrap(), Some(4));
    assert_eq!(s.count(RecordKind::FundingBill).unwrap(), 1);
    assert_eq!(s.identity().unwrap(), None);
    assert_eq!(s.sub_accounts().unwrap(), None);

    let t = DateTime::from_timestamp_millis(1_771_113_600_000).unwrap();
    let id = Identity {
        uid: "10000001".into(),
        main_uid: Some("10000001".into()),
        account_type: Some("0".into()),
        label: Some("tax".into()),
        checked_at: t,
    };
    assert!(id.is_master());
    assert!(
        !Identity {
            main_uid: Some("1".into()),
            ..id.clone()
        }
        .is_master()
    );
    s.set_identity(&id).unwrap();
    let bot = SubAccount {
        name: "bot".into(),
        uid: Some("20000002".into()),
        label: Some("grid bot".into()),
        account_type: Some("1".into()),
        enabled: Some("true".into()),
        created_at: Some(t),
    };
    let usdt = BalanceRow {
        account: "funding".into(),
        ccy: "USDT".into(),
        total: "12.5".parse().unwrap(),
        available: Some("12.5".parse().unwrap()),
        frozen: None,
        as_of: t,
    };
    s.save_sub_accounts(t, &[(bot.clone(), "{}".into())], &[("bot".into(), usdt.clone())])
        .unwrap();
    // A second list replaces the first as a whole.
    s.save_sub_accounts(t, &[(bot.clone(), "{}".into())], &[("bot".into(), usdt.clone())])
        .unwrap();
    drop(s);
    let s = Store::open(dir.path()).unwrap();
    assert_eq!(s.identity().unwrap(), Some(id));
    let subs = s.sub_accounts().unwrap().unwrap();
    assert_eq!((subs.listed_at, subs.subs.clone()), (t, vec![bot]));
    assert_eq!(subs.balances_of("bot").cloned().collect::<Vec<_>>(), vec![usdt]);
    assert_eq!(subs.balances_of("other").count(), 0);
}

/// Issue 10 item 5: the planner reads each currency's oldest trading bill (lowest billId,
/// not the oldest `ts`) and the oldest stored record of any kind but instruments.
#[test]
fn oldest_trading_openings_and_first_activity() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Store::open(dir.path()).unwrap();
    assert_eq!(s.first_activity_ms().unwrap(), None);
    let bill = |id: &str, ts: i64, ccy: &str, bal: &str, chg: &str| {
        rec(
            RecordKind::Bill,
            id,
            ts,
            &format!(r#"{{"ccy":"{ccy}","bal":"{bal}","balChg":"{chg}"}}"#),
        )
    };
    let page = [
        bill("30", 300, "BTC", "1.5", "0.5"),
        bill("20", 310, "BTC", "1", "1"),
        bill("25", 200, "USDT", "90", "-10"),
        rec(RecordKind::Instrument, "SPOT:BTC-USDT", 0, "{}"),
        rec(RecordKind::FundingBill, "7", 150, "{}"),
    ];
    s.insert_page("x", 1, &page, None).unwrap();
    let mut got = s.oldest_trading_openings().unwrap();
    got.sort();
    assert_eq!(
        got,
        [
            ("BTC".to_string(), Some("1".to_string()), Some("1".to_string())),
            (
                "USDT".to_string(),
                Some("90".to_string()),
                Some("-10".to_string())
            ),
        ]
    );
    assert_eq!(s.first_activity_ms().unwrap(), Some(150));
}

/// Issue 19: a schema-v3 store (before the store remembered where its prices live)
/// upgrades to v4 in place, keeping its records; the price home and the report zones
/// round-trip.
#[test]
fn v3_store_upgrades_to_v4_and_remembers_its_prices() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Store::open(dir.path()).unwrap();
    s.insert_page("bills", 1, &[rec(RecordKind::Bill, "1", 10, "{}")], None)
        .unwrap();
    s.conn
        .execute_batch(
            "DROP TABLE price_home; DROP TABLE report_zones; DROP TABLE record_history; \
             DROP TABLE bill_types; DROP TABLE identity; DROP TABLE sub_accounts; \
             DROP TABLE sub_account_balances; UPDATE meta SET value = '3' WHERE key = 'schema_version';",
        )
        .unwrap();
    drop(s);
    let s = Store::open(dir.path()).unwrap();
    assert_eq!(s.schema_version().unwrap(), Some(4));
    assert_eq!(s.count(RecordKind::Bill).unwrap(), 1);
    assert_eq!(s.price_home().unwrap(), None);
    assert_eq!(s.report_zones().unwrap(), Vec::<String>::new());
    let t = DateTime::from_timestamp_millis(1_771_113_600_000).unwrap();
    let home = PriceHome {
        host: "http://127.0.0.1:4000".into(),
        cache: dir.path().join("price-cache.sqlite"),
        fetched_at: t,
        has_bars: true,
    };
    s.set_price_home(&home).unwrap();
    let moved = PriceHome {
        host: "https://www.okx.com".into(),
        ..home
    };
    s.set_price_home(&moved).unwrap();
    s.remember_report_zone("Europe/Berlin", t).unwrap();
    s.remember_report_zone("Asia/Tokyo", t).unwrap();
    s.remember_report_zone("Europe/Berlin", t).unwrap();
    drop(s);
    let s = Store::open(dir.path()).unwrap();
    assert_eq!(s.price_home().unwrap(), Some(moved));
    assert_eq!(s.report_zones().unwrap(), ["Asia/Tokyo", "Europe/Berlin"]);
}

/// Issue 20 item 7: a v3 store (before the history and the bill-type dictionary) opens,
/// upgrades to v4 in place, keeps its records and can keep earlier versions.
#[test]
fn v3_store_upgrades_to_v4_and_keeps_changed_records() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Store::open(dir.path()).unwrap();
    s.insert_page(
        "bills",
        1,
        &[rec(RecordKind::Bill, "1", 10, r#"{"balChg":"1"}"#)],
        None,
    )
    .unwrap();
    s.conn
        .execute_batch(
            "DROP TABLE price_home; DROP TABLE report_zones; DROP TABLE record_history; \
             DROP TABLE bill_types; DROP TABLE identity; DROP TABLE sub_accounts; \
             DROP TABLE sub_account_balances; UPDATE meta SET value = '3' WHERE key = 'schema_version';",
        )
        .unwrap();
    drop(s);
    let mut s = Store::open(dir.path()).unwrap();
    assert_eq!(s.schema_version().unwrap(), Some(4));
    assert_eq!(s.count(RecordKind::Bill).unwrap(), 1);
    assert_eq!(s.history().unwrap(), []);
    assert_eq!(s.bill_types().unwrap(), []);
    let out = s
        .insert_page(
            "bills",
            1,
            &[rec(RecordKind::Bill, "1", 10, r#"{"balChg":"2"}"#)],
            None,
        )
        .unwrap();
    assert_eq!(out.changed, ["1"]);
    assert_eq!(s.history().unwrap()[0].raw, r#"{"balChg":"1"}"#);
}

/// Issue 20 item 7: OKX answering a stored bill with other content replaces it, keeps the
/// earlier version and says so; a page with one id twice keeps the first and says so; a
/// deposit that becomes final, an archive copy replaced by the API copy and a field OKX
/// added are no changes.
#[test]
fn changed_records_and_duplicates_are_kept_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Store::open(dir.path()).unwrap();
    let bill = |raw: &str| rec(RecordKind::Bill, "7", 10, raw);
    s.insert_page(
        "bills",
        1,
        &[bill(r#"{"billId":"7","balChg":"1","bal":"1"}"#)],
        None,
    )
    .unwrap();
    // The same content, and a field OKX added: nothing to say.
    let same = s
        .insert_page(
            "bills",
            1,
            &[bill(r#"{"billId":"7","balChg":"1","bal":"1","tag":""}"#)],
            None,
        )
        .unwrap();
    assert!(same.changed.is_empty() && same.duplicates.is_empty(), "{same:?}");
    let changed = s
        .insert_page(
            "bills",
            1,
            &[bill(r#"{"billId":"7","balChg":"2","bal":"2"}"#)],
            None,
        )
        .unwrap();
    assert_eq!(changed.changed, ["7"]);
    assert_eq!((changed.new, changed.updated), (0, 0));
    let h = s.history().unwrap();
    assert_eq!(h.len(), 1);
    assert_eq!(
        (h[0].kind, h[0].key.as_str(), h[0].reason.as_str()),
        (RecordKind::Bill, "7", CHANGED)
    );
    assert!(
        h[0].raw.contains(r#""balChg":"1""#),
        "the earlier version is kept"
    );
    let mut now = Vec::new();
    s.for_each(RecordKind::Bill, &mut |r| {
        now.push(r.raw);
        Ok(())
    })
    .unwrap();
    assert!(
        now[0].contains(r#""balChg":"2""#),
        "OKX's latest version is stored"
    );

    // One page, one id, two contents: the first is stored, the other kept.
    let page = [
        rec(RecordKind::Bill, "8", 11, r#"{"billId":"8","balChg":"5"}"#),
        rec(RecordKind::Bill, "8", 11, r#"{"billId":"8","balChg":"6"}"#),
        rec(RecordKind::Bill, "9", 12, r#"{"billId":"9","balChg":"1"}"#),
        rec(RecordKind::Bill, "9", 12, r#"{"billId":"9","balChg":"1"}"#),
    ];
    let out = s.insert_page("bills", 1, &page, None).unwrap();
    assert_eq!((out.new, out.duplicates.as_slice()), (2, &["8".to_string()][..]));
    assert_eq!(s.history().unwrap().len(), 2);

    // Expected changes are no news.
    let dep = |state: &str| rec(RecordKind::Deposit, "d1", 5, &format!(r#"{{"state":"{state}"}}"#));
    s.insert_page("deposits", 1, &[dep("0")], None).unwrap();
    let fin = s.insert_page("deposits", 1, &[dep("2")], None).unwrap();
    assert_eq!((fin.updated, fin.changed.len()), (1, 0));
    s.insert_page(
        "archive",
        0,
        &[rec(RecordKind::Bill, "10", 13, r#"{"billId":"10","csv":"1"}"#)],
        None,
    )
    .unwrap();
    let api = s
        .insert_page(
            "bills",
            1,
            &[rec(RecordKind::Bill, "10", 13, r#"{"billId":"10","balChg":"3"}"#)],
            None,
        )
        .unwrap();
    assert_eq!((api.updated, api.changed.len()), (1, 0));
    assert_eq!(s.history().unwrap().len(), 2);
}

/// A process holding many stores at once (`--all` over 200 clients) gives each store
/// beyond the first few a small page cache, so their caches do not add up to hundreds of
/// MB; closing a store counts it out again.
#[test]
fn many_open_stores_get_a_small_page_cache() {
    let cache = |s: &Store| -> i64 {
        s.conn
            .pragma_query_value(None, "cache_size", |r| r.get(0))
            .unwrap()
    };
    let dirs: Vec<_> = (0..=FULL_CACHE_STORES)
        .map(|_| tempfile::tempdir().unwrap())
        .collect();
    let stores: Vec<Store> = dirs.iter().map(|d| Store::open(d.path()).unwrap()).collect();
    // The last one was opened with at least FULL_CACHE_STORES others open (other tests
    // may hold more).
    assert_eq!(cache(stores.last().unwrap()), -SMALL_CACHE_KIB);
    let held = OPEN_STORES.load(Ordering::SeqCst);
    assert!(held > FULL_CACHE_STORES, "{held}");
    drop(stores);
    assert!(
        OPEN_STORES.load(Ordering::SeqCst) < held,
        "closed stores are counted out"
    );
}

/// The walk before a time is the walk by id with the later records left out: same
/// records, same order (billId order, which here is not time order), none read from
/// another kind.
#[test]
fn walk_by_id_before_a_time_is_the_walk_by_id_cut() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Store::open(dir.path()).unwrap();
    let page = [
        rec(RecordKind::Bill, "5", 10, "{}"),
        rec(RecordKind::Bill, "3", 40, "{}"),
        rec(RecordKind::Bill, "4", 20, "{}"),
        rec(RecordKind::Bill, "1", 30, "{}"),
        rec(RecordKind::Bill, "x", 15, "{}"),
        rec(RecordKind::FundingBill, "2", 5, "{}"),
    ];
    s.insert_page("bills", 1, &page, None).unwrap();
    let keys = |before: Option<i64>| {
        let mut out = Vec::new();
        let mut f = |r: RecordRef<'_>| {
            out.push(r.key.to_string());
            Ok(())
        };
        match before {
            Some(t) => s.for_each_by_id_before(RecordKind::Bill, t, &mut f).unwrap(),
            None => s.for_each_by_id(RecordKind::Bill, &mut f).unwrap(),
        }
        out
    };
    let all = keys(None);
    assert_eq!(all, ["x", "1", "3", "4", "5"]);
    for before in [0, 10, 11, 16, 25, 31, 40, 41] {
        let ts = |k: &str| {
            page.iter()
                .find(|r| r.key == k && r.kind == RecordKind::Bill)
                .unwrap()
                .ts_ms
        };
        let cut: Vec<String> = all.iter().filter(|k| ts(k) < before).cloned().collect();
        assert_eq!(keys(Some(before)), cut, "before {before}");
    }
}
