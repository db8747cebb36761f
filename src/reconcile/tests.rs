use super::*;
use crate::store::{BalanceRow, MemorySource, StoredRecord, UnavailableBalance};
use serde_json::json;
use std::str::FromStr;

const T0: i64 = 1_712_410_901_851;

fn d(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap()
}

fn at(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap()
}

fn tb(id: &str, ts: i64, ccy: &str, bal_chg: &str, bal: &str) -> StoredRecord {
    tb_typed(id, ts, ccy, bal_chg, bal, "2", "1")
}

fn tb_typed(id: &str, ts: i64, ccy: &str, bal_chg: &str, bal: &str, ty: &str, sub: &str) -> StoredRecord {
    let raw = json!({"billId": id, "type": ty, "subType": sub, "ts": ts.to_string(), "ccy": ccy,
                     "balChg": bal_chg, "bal": bal, "fee": "", "pnl": "", "tradeId": "0"})
    .to_string();
    StoredRecord {
        kind: RecordKind::Bill,
        key: id.into(),
        ts_ms: ts,
        link: None,
        raw,
    }
}

fn fb(id: &str, ts: i64, ccy: &str, bal_chg: &str, bal: &str) -> StoredRecord {
    fb_typed(id, ts, ccy, bal_chg, bal, "1")
}

fn fb_typed(id: &str, ts: i64, ccy: &str, bal_chg: &str, bal: &str, ty: &str) -> StoredRecord {
    let raw = json!({"billId": id, "type": ty, "ts": ts.to_string(), "ccy": ccy,
                     "balChg": bal_chg, "bal": bal, "notes": ""})
    .to_string();
    StoredRecord {
        kind: RecordKind::FundingBill,
        key: id.into(),
        ts_ms: ts,
        link: None,
        raw,
    }
}

fn snap(account: &str, ccy: &str, total: &str) -> BalanceRow {
    BalanceRow {
        account: account.into(),
        ccy: ccy.into(),
        total: d(total),
        available: None,
        frozen: None,
        as_of: at(T0 + 1_000_000),
    }
}

fn row<'a>(r: &'a Reconciliation, account: Account, asset: &str) -> &'a ReconcileRow {
    r.rows
        .iter()
        .find(|x| x.account == account && x.asset == asset)
        .unwrap()
}

fn intact() -> Vec<StoredRecord> {
    vec![
        tb("1", T0, "USDT", "100.0000000000000000", "100.0000000000000000"),
        tb(
            "2",
            T0 + 10,
            "USDT",
            "-30.5000000000000000",
            "69.5000000000000000",
        ),
        tb("3", T0 + 10, "BTC", "0.0010000000000000", "0.0010000000000000"),
        tb("4", T0 + 20, "USDT", "0.5", "70"),
        fb("5", T0 + 5, "USDT", "100", "100"),
        fb("6", T0 + 6, "USDT", "-100", "0"),
    ]
}

#[test]
fn intact_chain_and_matching_snapshot_is_ok() {
    let src = MemorySource {
        records: intact(),
        balances: vec![
            snap("trading", "USDT", "70"),
            snap("trading", "BTC", "0.001"),
            snap("earn", "DOT", "5"),
        ],
        unavailable: Vec::new(),
    };
    let r = reconcile(&src, &LedgerRanges::all()).unwrap();
    assert!(r.ok(), "{r:#?}");
    assert!(r.gaps.is_empty());
    let u = row(&r, Account::Trading, "USDT");
    assert_eq!(
        (u.computed, u.reported, u.difference, u.status),
        (d("70"), Some(d("70")), Some(d("0")), Status::Ok)
    );
    assert_eq!(u.bills, 3);
    // Funding USDT went to 0 and is absent from the snapshot (OKX omits zero balances).
    let f = row(&r, Account::Funding, "USDT");
    assert_eq!(
        (f.status, f.computed, f.reported),
        (Status::Ok, d("0"), Some(d("0")))
    );
    // Earn has no ledger: not compared, never a match, and the difference is the real one.
    let earn = row(&r, Account::Earn, "DOT");
    assert_eq!(
        (earn.status, earn.reported, earn.difference, earn.reason),
        (Status::NotCompared, Some(d("5")), Some(d("-5")), Some(NO_LEDGER))
    );
    assert!(!earn.status.is_match() && !earn.status.is_failure());

    let (header, rows) = r.reconciliation_csv();
    assert_eq!(
        header.join(","),
        "check,account,asset,from,to,computed,reported,difference,status,detail"
    );
    let snap_at = "2024-04-06T13:58:21.851Z";
    assert!(
        rows.contains(
            &[
                "balance", "trading", "USDT", "", snap_at, "70", "70", "0", "ok", ""
            ]
            .map(String::from)
            .to_vec()
        ),
        "{rows:?}"
    );
    assert!(
        rows.contains(
            &[
                "continuity",
                "trading",
                "USDT",
                "2024-04-06T13:41:41.851Z",
                "2024-04-06T13:41:41.871Z",
                "",
                "",
                "",
                "ok",
                "3 bills"
            ]
            .map(String::from)
            .to_vec()
        )
    );
    let earn_row = rows.iter().find(|x| x[0] == "balance" && x[1] == "earn").unwrap();
    assert_eq!(
        (
            earn_row[5].as_str(),
            earn_row[6].as_str(),
            earn_row[7].as_str(),
            earn_row[8].as_str()
        ),
        ("0", "5", "-5", "not_compared")
    );
    assert_eq!(earn_row[9], NO_LEDGER);
    assert!(r.opening_balances_csv().1.is_empty());
}

#[test]
fn missing_bill_is_a_gap_with_its_time_range() {
    let mut records = intact();
    records.remove(1); // bill 2 (USDT −30.5) is missing
    let src = MemorySource {
        records,
        balances: vec![snap("trading", "USDT", "70"), snap("trading", "BTC", "0.001")],
        unavailable: Vec::new(),
    };
    let r = reconcile(&src, &LedgerRanges::all()).unwrap();
    assert!(!r.ok());
    assert_eq!(r.gaps.len(), 1);
    let g = &r.gaps[0];
    assert_eq!((g.account, g.asset.as_str()), (Account::Trading, "USDT"));
    assert_eq!((g.from, g.to), (at(T0), at(T0 + 20)));
    assert_eq!((g.expected_bal, g.found_bal), (d("100.5"), d("70")));
    assert_eq!((g.before_bill.as_str(), g.after_bill.as_str()), ("1", "4"));
    let u = row(&r, Account::Trading, "USDT");
    assert_eq!(u.status, Status::Gap);
    assert_eq!(
        (u.first_gap_from, u.first_gap_to),
        (Some(at(T0)), Some(at(T0 + 20)))
    );
    assert_eq!(u.computed, d("70"), "computed is the last bill's bal");
    assert_eq!(row(&r, Account::Trading, "BTC").status, Status::Ok);
    let (_, rows) = r.reconciliation_csv();
    let gap_row = rows
        .iter()
        .find(|r| r[0] == "continuity" && r[1] == "trading" && r[2] == "USDT")
        .unwrap();
    assert_eq!(gap_row[8], "gap");
    assert!(
        gap_row[9].contains("between 2024-04-06T13:41:41.851Z and 2024-04-06T13:41:41.871Z"),
        "{gap_row:?}"
    );
}

#[test]
fn snapshot_difference_is_a_mismatch() {
    let src = MemorySource {
        records: intact(),
        balances: vec![
            snap("trading", "USDT", "69"),
            snap("trading", "ETH", "2"),
            snap("funding", "BTC", "1"),
        ],
        unavailable: Vec::new(),
    };
    let r = reconcile(&src, &LedgerRanges::all()).unwrap();
    assert!(!r.ok());
    let u = row(&r, Account::Trading, "USDT");
    assert_eq!((u.status, u.difference), (Status::Mismatch, Some(d("1"))));
    // Bills but no snapshot line (BTC trading) → reported 0 → mismatch.
    let b = row(&r, Account::Trading, "BTC");
    assert_eq!(
        (b.status, b.reported, b.difference),
        (Status::Mismatch, Some(d("0")), Some(d("0.001")))
    );
    // Snapshot but no bills → computed 0 → mismatch.
    let e = row(&r, Account::Trading, "ETH");
    assert_eq!(
        (e.status, e.computed, e.difference, e.bills),
        (Status::Mismatch, d("0"), Some(d("-2")), 0)
    );
    // Funding USDT ended at 0 and the funding snapshot omits it: fine.
    assert_eq!(row(&r, Account::Funding, "USDT").status, Status::Ok);
    assert_eq!(row(&r, Account::Funding, "BTC").status, Status::Mismatch);
}

#[test]
fn history_starting_mid_way_reports_an_opening_balance() {
    let records = vec![
        tb("7", T0, "USDT", "-10.0000000000000000", "990.0000000000000000"),
        tb("8", T0 + 5, "USDT", "5", "995"),
        tb("9", T0 + 6, "ETH", "1", "1"),
    ];
    let src = MemorySource {
        records,
        balances: vec![snap("trading", "USDT", "995"), snap("trading", "ETH", "1")],
        unavailable: Vec::new(),
    };
    let r = reconcile(&src, &LedgerRanges::all()).unwrap();
    assert!(r.ok(), "{r:#?}");
    let u = row(&r, Account::Trading, "USDT");
    assert_eq!(
        (u.status, u.opening_balance, u.computed),
        (Status::OpeningBalance, d("1000"), d("995"))
    );
    assert_eq!(u.first_bill_at, Some(at(T0)));
    let (header, rows) = r.opening_balances_csv();
    assert_eq!(header.join(","), "account,asset,opening_balance,as_of");
    assert_eq!(
        rows,
        vec![
            ["trading", "USDT", "1000", "2024-04-06T13:41:41.851Z"]
                .map(String::from)
                .to_vec()
        ]
    );
}

#[test]
fn bills_without_bal_are_summed_and_undecodable_counted() {
    let records = vec![
        tb("11", T0, "USDT", "10", ""),
        tb("12", T0 + 1, "USDT", "5", ""),
        tb("13", T0 + 2, "USDT", "1", "21"),
        StoredRecord {
            kind: RecordKind::Bill,
            key: "14".into(),
            ts_ms: T0 + 3,
            link: None,
            raw: "{".into(),
        },
    ];
    let src = MemorySource {
        records,
        balances: vec![snap("trading", "USDT", "21")],
        unavailable: Vec::new(),
    };
    let r = reconcile(&src, &LedgerRanges::all()).unwrap();
    let u = row(&r, Account::Trading, "USDT");
    assert_eq!(
        (u.computed, u.opening_balance, u.status),
        (d("21"), d("5"), Status::OpeningBalance)
    );
    assert_eq!(r.decode_errors, 1);
    assert!(r.ok());
}

/// Issue 8 item 4: an account whose balance endpoint failed when the snapshot was taken is
/// `not_compared` (endpoint unavailable), never a match and never a zero balance; an earn
/// account without any known asset is one row for the whole account.
#[test]
fn unavailable_balance_endpoint_is_not_compared() {
    let unavailable = |account: &str| UnavailableBalance {
        account: account.into(),
        error: "HTTP 404 Not Found".into(),
        as_of: at(T0 + 1_000_000),
    };
    let src = MemorySource {
        records: intact(),
        balances: vec![snap("trading", "USDT", "70"), snap("trading", "BTC", "0.001")],
        unavailable: vec![unavailable("earn"), unavailable("funding")],
    };
    let r = reconcile(&src, &LedgerRanges::all()).unwrap();
    assert!(r.ok(), "not compared is no failure: {r:#?}");
    let earn = row(&r, Account::Earn, "");
    assert_eq!(
        (
            earn.status,
            earn.computed,
            earn.reported,
            earn.difference,
            earn.reason
        ),
        (
            Status::NotCompared,
            d("0"),
            None,
            None,
            Some(ENDPOINT_UNAVAILABLE)
        )
    );
    // A ledger account whose endpoint failed: computed from its bills, reported unknown
    // (not the 0 a missing snapshot line would mean).
    let f = row(&r, Account::Funding, "USDT");
    assert_eq!(
        (f.status, f.computed, f.reported, f.difference, f.reason),
        (
            Status::NotCompared,
            d("0"),
            None,
            None,
            Some(ENDPOINT_UNAVAILABLE)
        )
    );
    assert_eq!(row(&r, Account::Trading, "USDT").status, Status::Ok);
    let matched = r.rows.iter().filter(|x| x.status.is_match()).count();
    assert_eq!(matched, 2, "trading USDT and BTC only");
    let (_, rows) = r.reconciliation_csv();
    let earn_row = rows.iter().find(|x| x[0] == "balance" && x[1] == "earn").unwrap();
    assert_eq!(
        earn_row[2..].to_vec(),
        [
            "",
            "",
            "2024-04-06T13:58:21.851Z",
            "0",
            "",
            "",
            "not_compared",
            &format!("{ENDPOINT_UNAVAILABLE} (HTTP 404 Not Found)")
        ]
    );

    // A known earn asset (here from a snapshot line that survived) is listed by asset, and
    // a gap still wins over the missing snapshot.
    let mut records = intact();
    records.remove(1);
    let src = MemorySource {
        records,
        balances: vec![snap("earn", "DOT", "5")],
        unavailable: vec![unavailable("earn"), unavailable("trading")],
    };
    let r = reconcile(&src, &LedgerRanges::all()).unwrap();
    assert_eq!(row(&r, Account::Trading, "USDT").status, Status::Gap);
    let btc = row(&r, Account::Trading, "BTC");
    assert_eq!(
        (btc.status, btc.reported, btc.reason),
        (Status::NotCompared, None, Some(ENDPOINT_UNAVAILABLE))
    );
    assert!(
        r.rows
            .iter()
            .all(|x| !(x.account == Account::Earn && x.asset.is_empty()))
    );
    let dot = row(&r, Account::Earn, "DOT");
    assert_eq!((dot.status, dot.reported), (Status::NotCompared, None));
}

#[test]
fn without_any_snapshot_nothing_is_compared() {
    let src = MemorySource {
        records: intact(),
        balances: vec![],
        unavailable: Vec::new(),
    };
    let r = reconcile(&src, &LedgerRanges::all()).unwrap();
    assert!(r.ok());
    assert!(r.rows.iter().all(|x| x.status == Status::NotCompared
        && x.reported.is_none()
        && x.difference.is_none()
        && x.reason == Some(NO_SNAPSHOT)));
    let (_, rows) = r.reconciliation_csv();
    assert!(
        rows.iter()
            .filter(|x| x[0] == "balance")
            .all(|x| x[6].is_empty() && x[8] == "not_compared")
    );
}

#[test]
fn bills_after_the_snapshot_compare_as_of_the_snapshot() {
    let mut records = intact();
    // Stored by a later sync that took no new snapshot.
    records.push(tb("20", T0 + 2_000_000, "USDT", "-20", "50"));
    let src = MemorySource {
        records,
        balances: vec![snap("trading", "USDT", "70"), snap("trading", "BTC", "0.001")],
        unavailable: Vec::new(),
    };
    let r = reconcile(&src, &LedgerRanges::all()).unwrap();
    assert!(r.ok(), "{r:#?}");
    let u = row(&r, Account::Trading, "USDT");
    assert_eq!(
        (u.computed, u.balance_after_last_bill, u.status),
        (d("70"), d("50"), Status::Ok)
    );
}

/// OKX's `bal` follows billId order; a bill with a smaller billId can carry a later `ts`.
/// Walked in time order these chains break; in billId order (or any consistent order) they
/// are intact. Both ledgers, and through the SQLite store as well as in memory.
#[test]
fn bill_id_order_and_time_order_disagree_in_both_ledgers() {
    let records = vec![
        // Trading USDT: bill 31 is dated after bill 32 and 33.
        tb("30", T0, "USDT", "100", "100"),
        tb("31", T0 + 50, "USDT", "-10", "90"),
        tb("32", T0 + 10, "USDT", "5", "95"),
        tb("33", T0 + 20, "USDT", "5", "100"),
        // Funding BTC: bill 41 is dated after bill 42 (same ms as 43).
        fb("40", T0, "BTC", "1", "1"),
        fb("41", T0 + 30, "BTC", "0.5", "1.5"),
        fb("42", T0 + 20, "BTC", "-0.25", "1.25"),
        fb("43", T0 + 30, "BTC", "0.25", "1.5"),
    ];
    let balances = vec![snap("trading", "USDT", "100"), snap("funding", "BTC", "1.5")];
    let mem = MemorySource {
        records: records.clone(),
        balances: balances.clone(),
        unavailable: Vec::new(),
    };
    let dir = tempfile::tempdir().unwrap();
    let mut store = crate::store::Store::open(dir.path()).unwrap();
    let page: Vec<crate::store::NewRecord> = records
        .iter()
        .map(|r| crate::store::NewRecord {
            kind: r.kind,
            key: r.key.clone(),
            ts_ms: r.ts_ms,
            num: r.key.parse().ok(),
            link: None,
            raw: r.raw.clone(),
        })
        .collect();
    store.insert_page("t", 1, &page, None).unwrap();
    store.save_balances(at(T0 + 1_000_000), &balances, &[]).unwrap();
    for src in [&mem as &dyn RecordSource, &store] {
        let r = reconcile(src, &LedgerRanges::all()).unwrap();
        assert!(r.gaps.is_empty(), "{:#?}", r.gaps);
        assert!(r.ok());
        let u = row(&r, Account::Trading, "USDT");
        assert_eq!((u.status, u.computed, u.bills), (Status::Ok, d("100"), 4));
        assert_eq!(
            (u.first_bill_at, u.last_bill_at),
            (Some(at(T0)), Some(at(T0 + 50)))
        );
        let b = row(&r, Account::Funding, "BTC");
        assert_eq!((b.status, b.computed), (Status::Ok, d("1.5")));
    }
}

/// Where even billId order is off (e.g. ids that cannot decide), any consistent order of the
/// stored bills is accepted; a real hole is still a gap.
#[test]
fn any_consistent_order_is_accepted_but_a_hole_is_a_gap() {
    let records = vec![
        tb("50", T0, "ETH", "2", "2"),
        // Its bal only follows after bill 60's, which sorts last by id and by nothing else.
        tb("52", T0 + 2, "ETH", "1", "4"),
        tb("53", T0 + 3, "ETH", "-1", "3"),
        tb("55", T0 + 5, "ETH", "1", "5"), // a +1 between 53 and 55 is missing
        tb("60", T0 + 1, "ETH", "1", "3"),
    ];
    let src = MemorySource {
        records,
        balances: vec![snap("trading", "ETH", "5")],
        unavailable: Vec::new(),
    };
    let r = reconcile(&src, &LedgerRanges::all()).unwrap();
    assert_eq!(r.gaps.len(), 1, "{:#?}", r.gaps);
    let g = &r.gaps[0];
    assert_eq!((g.before_bill.as_str(), g.after_bill.as_str()), ("53", "55"));
    assert_eq!((g.expected_bal, g.found_bal), (d("4"), d("5")));
    assert_eq!(row(&r, Account::Trading, "ETH").status, Status::Gap);
}

/// Funding 131 (−x) pairs with trading 1/11 (+x), funding 130 (+x) with trading 1/12 (−x),
/// same currency and amount, nearest time. A side without its partner fails where the other
/// ledger is covered and names the range it is missing from; outside, it is left to the
/// coverage check.
/// Two equal transfers 2 s apart, the first missing its trading side: the sides booked at
/// the same ms pair first, so the lone side reported is the first one and the range named
/// is around it (nearest-time pairing in time order took the second transfer's trading
/// side for the first and reported the wrong bill and range).
#[test]
fn same_ms_sides_pair_first_and_the_right_side_is_lone() {
    let records = vec![
        tb_typed("90", T0 - 60_000, "USDT", "500", "500", "2", "1"),
        fb_typed("60", T0 - 60_000, "USDT", "1000", "1000", "1"),
        fb_typed("61", T0, "USDT", "-100", "900", "131"),
        tb_typed("91", T0 + 1_000, "USDT", "-1", "499", "2", "1"),
        fb_typed("62", T0 + 2_000, "USDT", "-100", "800", "131"),
        tb_typed("92", T0 + 2_000, "USDT", "100", "599", "1", "11"),
        // One pair booked 40 ms apart: the fallback, reported in the summary.
        fb_typed("63", T0 + 9_000, "USDT", "-10", "790", "131"),
        tb_typed("93", T0 + 9_040, "USDT", "10", "609", "1", "11"),
    ];
    let src = MemorySource {
        records,
        ..MemorySource::default()
    };
    let r = reconcile(&src, &LedgerRanges::all()).unwrap();
    let lone: Vec<&CheckRow> = r.cross.iter().filter(|c| c.check == "transfer").collect();
    assert_eq!(lone.len(), 1, "{:#?}", r.cross);
    assert!(
        lone[0].detail.starts_with("funding bill 61 "),
        "{}",
        lone[0].detail
    );
    // Between the trading USDT bills before and after T0.
    assert_eq!(
        (lone[0].from, lone[0].to),
        (Some(at(T0 - 60_000)), Some(at(T0 + 1_000)))
    );
    let summary = r.cross.last().unwrap();
    assert_eq!(
        summary.detail,
        "2 transfers have both sides (1 booked at the same ms, 1 up to 40 ms apart); 1 miss a side the other ledger should hold; 0 fall outside the other ledger's stored history"
    );
}

#[test]
fn every_transfer_has_both_sides() {
    let records = vec![
        fb_typed("70", T0, "USDT", "100", "100", "1"),
        fb_typed("71", T0 + 10, "USDT", "-40", "60", "131"),
        tb_typed("80", T0 + 10, "USDT", "40", "40", "1", "11"),
        // Archive rows carry no `type`: subType 12 alone is a transfer out. Booked 0.3 s
        // before its funding side.
        tb_typed("81", T0 + 20, "USDT", "-15", "25", "", "12"),
        fb_typed("72", T0 + 320, "USDT", "15", "75", "130"),
        // To trading, but the trading side is missing.
        fb_typed("73", T0 + 1_000, "USDT", "-5", "70", "131"),
        tb_typed("82", T0 + 2_000, "USDT", "1", "26", "2", "1"),
    ];
    let src = MemorySource {
        records,
        balances: vec![],
        unavailable: Vec::new(),
    };
    let r = reconcile(&src, &LedgerRanges::all()).unwrap();
    assert!(!r.ok());
    let failed: Vec<&CheckRow> = r.cross.iter().filter(|c| c.check == "transfer").collect();
    assert_eq!(failed.len(), 1, "{:#?}", r.cross);
    let f = failed[0];
    assert_eq!(
        (
            f.account.as_str(),
            f.asset.as_str(),
            f.status.as_str(),
            f.computed
        ),
        ("funding", "USDT", "missing_side", Some(d("-5")))
    );
    // The trading ledger's neighbouring USDT bills bracket the missing side.
    assert_eq!((f.from, f.to), (Some(at(T0 + 20)), Some(at(T0 + 2_000))));
    assert!(f.detail.contains("funding bill 73"), "{}", f.detail);
    assert!(
        f.detail.contains("no trading side (type 1 subType 11, 5 USDT)"),
        "{}",
        f.detail
    );
    let summary = r.cross.last().unwrap();
    assert_eq!(
        (summary.check, summary.status.as_str()),
        ("transfers", "missing_side")
    );
    assert!(
        summary.detail.starts_with(
            "2 transfers have both sides (1 booked at the same ms, 1 up to 300 ms apart); 1 miss a side"
        ),
        "{}",
        summary.detail
    );

    // Where the trading ledger is not stored, a lone funding side is no failure here.
    let ranges = LedgerRanges {
        trading: vec![(T0, T0 + 500)],
        funding: vec![(i64::MIN, i64::MAX)],
    };
    let r = reconcile(&src, &ranges).unwrap();
    assert!(r.cross.iter().all(|c| c.status == "ok"), "{:#?}", r.cross);
    assert!(
        r.cross[0].detail.contains("1 fall outside"),
        "{}",
        r.cross[0].detail
    );
}

/// A successful deposit without its bill fails where the funding ledger is stored; a bill
/// without its record fails where deposit history is stored; elsewhere both are counted.
#[test]
fn deposits_and_withdrawals_need_their_other_side_where_it_is_stored() {
    use crate::normalize::{PendingItem, UnmatchedBill};
    let item = PendingItem {
        what: "deposit",
        id: "D9".into(),
        time: Some(at(T0)),
        asset: "BTC".into(),
        amount: d("0.5"),
        state: "2".into(),
        state_text: "successful".into(),
        tx_hash: Some("0xhash".into()),
        chain: None,
    };
    let bill = UnmatchedBill {
        what: "withdrawal",
        bill_id: "77".into(),
        time: at(T0 + 10),
        asset: "ETH".into(),
        amount: d("-1"),
    };
    let all = FundsRanges {
        funding: vec![(i64::MIN, i64::MAX)],
        deposits: vec![(i64::MIN, i64::MAX)],
        withdrawals: vec![(i64::MIN, i64::MAX)],
    };
    let rows = funds_checks(std::slice::from_ref(&item), std::slice::from_ref(&bill), &all);
    let statuses: Vec<(&str, &str)> = rows.iter().map(|r| (r.check, r.status.as_str())).collect();
    assert_eq!(
        statuses,
        [
            ("deposit", "missing_bill"),
            ("deposits", "unmatched"),
            ("withdrawal", "missing_record"),
            ("withdrawals", "unmatched")
        ]
    );
    assert!(
        rows[0].detail.contains("D9 (0.5 BTC, tx 0xhash)"),
        "{}",
        rows[0].detail
    );
    assert!(
        rows[2].detail.contains("funding bill 77 (-1 ETH"),
        "{}",
        rows[2].detail
    );

    let none = FundsRanges::default();
    let rows = funds_checks(&[item], &[bill], &none);
    assert!(rows.iter().all(|r| r.status == "ok"), "{rows:#?}");
    assert!(
        rows[0]
            .detail
            .ends_with("1 fall outside the other side's stored history")
    );
}

/// Per (account, asset) the exported rows must sum to the ledger's Σ balChg.
#[test]
fn exported_rows_must_sum_to_the_ledger() {
    let src = MemorySource {
        records: intact(),
        balances: vec![],
        unavailable: Vec::new(),
    };
    let r = reconcile(&src, &LedgerRanges::all()).unwrap();
    let mut sums: BTreeMap<Account, BTreeMap<String, Decimal>> = BTreeMap::new();
    fn put(sums: &mut BTreeMap<Account, BTreeMap<String, Decimal>>, a: Account, asset: &str, v: &str) {
        sums.entry(a).or_default().insert(asset.into(), d(v));
    }
    put(&mut sums, Account::Trading, "USDT", "70");
    put(&mut sums, Account::Trading, "BTC", "0.001");
    put(&mut sums, Account::Funding, "USDT", "0");
    put(&mut sums, Account::Earn, "DOT", "5");
    let rows = rows_checks(&r, &sums);
    assert_eq!(rows.len(), 1, "{rows:#?}");
    assert_eq!(rows[0].status, "ok");
    // A row dropped by the normalizer (−30.5 USDT) shows as a difference.
    put(&mut sums, Account::Trading, "USDT", "100.5");
    let rows = rows_checks(&r, &sums);
    assert_eq!(
        (
            rows[0].check,
            rows[0].asset.as_str(),
            rows[0].status.as_str(),
            rows[0].difference
        ),
        ("rows", "USDT", "mismatch", Some(d("30.5")))
    );
    assert_eq!(rows.last().unwrap().status, "mismatch");
}
