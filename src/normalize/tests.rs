//! Normalization tests over hand-written bills in OKX's real wire shape (numbers as strings,
//! 16-decimal `balChg`, `""` for absent).

use super::*;
use crate::model::Account;
use crate::store::{MemorySource, StoredRecord};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::str::FromStr;

const T0: i64 = 1_712_410_901_851;

fn d(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap()
}

fn merge(mut v: Value, extra: Value) -> Value {
    if let (Value::Object(m), Value::Object(e)) = (&mut v, extra) {
        m.extend(e);
    }
    v
}

/// A trading bill shaped like the `account/bills` sample; `extra` overrides fields.
fn tb(id: &str, ts: i64, ty: &str, st: &str, ccy: &str, bal_chg: &str, extra: Value) -> StoredRecord {
    let v = json!({
        "bal": "", "balChg": bal_chg, "billId": id, "ccy": ccy, "clOrdId": "", "execType": "",
        "fee": "", "fillFwdPx": "", "fillIdxPx": "", "fillMarkPx": "", "fillMarkVol": "",
        "fillPxUsd": "", "fillPxVol": "", "fillTime": ts.to_string(), "from": "", "instId": "",
        "instType": "", "interest": "0", "mgnMode": "", "notes": "", "ordId": "", "pnl": "",
        "posBal": "", "posBalChg": "", "px": "", "subType": st, "sz": "", "tag": "", "to": "",
        "tradeId": "0", "ts": ts.to_string(), "type": ty
    });
    let raw = merge(v, extra).to_string();
    StoredRecord {
        kind: RecordKind::Bill,
        key: id.into(),
        ts_ms: ts,
        link: None,
        raw,
    }
}

/// A spot leg: type 2, SPOT, with order and trade id.
fn spot(
    id: &str,
    ts: i64,
    st: &str,
    ccy: &str,
    bal_chg: &str,
    fee: &str,
    (ord, trade): (&str, &str),
) -> StoredRecord {
    tb(
        id,
        ts,
        "2",
        st,
        ccy,
        bal_chg,
        json!({"instType": "SPOT", "instId": "LTC-USDT", "mgnMode": "cash", "fee": fee,
               "ordId": ord, "tradeId": trade, "px": "101.58", "pnl": "0", "posBal": "0", "posBalChg": "0"}),
    )
}

fn fb(id: &str, ts: i64, ty: &str, ccy: &str, bal_chg: &str) -> StoredRecord {
    let raw = json!({"billId": id, "ccy": ccy, "clientId": "", "balChg": bal_chg, "bal": "",
                     "type": ty, "notes": "", "ts": ts.to_string()})
    .to_string();
    StoredRecord {
        kind: RecordKind::FundingBill,
        key: id.into(),
        ts_ms: ts,
        link: None,
        raw,
    }
}

fn deposit(id: &str, ts: i64, ccy: &str, amt: &str, state: &str) -> StoredRecord {
    let raw = json!({"actualDepBlkConfirm": "12", "amt": amt, "areaCodeFrom": "", "ccy": ccy,
                     "chain": format!("{ccy}-TRC20"), "depId": id, "from": "", "fromWdId": "",
                     "state": state, "to": "TXaddr", "ts": ts.to_string(), "txId": format!("0xtx{id}")})
    .to_string();
    StoredRecord {
        kind: RecordKind::Deposit,
        key: id.into(),
        ts_ms: ts,
        link: None,
        raw,
    }
}

fn withdrawal(id: &str, ts: i64, ccy: &str, amt: &str, fee: &str, state: &str) -> StoredRecord {
    let raw = json!({"chain": format!("{ccy}-ERC20"), "fee": fee, "feeCcy": ccy, "ccy": ccy,
                     "clientId": "", "amt": amt, "txId": format!("0xwd{id}"), "from": "",
                     "to": "0xdest", "state": state, "ts": ts.to_string(), "wdId": id,
                     "nonTradableAsset": false})
    .to_string();
    StoredRecord {
        kind: RecordKind::Withdrawal,
        key: id.into(),
        ts_ms: ts,
        link: None,
        raw,
    }
}

fn fill(bill_id: &str, ts: i64, side: &str, px: &str, ord: &str, trade: &str) -> StoredRecord {
    let raw = json!({"side": side, "fillSz": "0.1", "fillPx": px, "fee": "-0.0001", "fillPnl": "0",
                     "ordId": ord, "instType": "SPOT", "instId": "LTC-USDT", "billId": bill_id,
                     "tradeId": trade, "feeCcy": "LTC", "ts": ts.to_string(), "fillTime": ts.to_string()})
    .to_string();
    let key = format!("SPOT:LTC-USDT:{trade}:{bill_id}");
    StoredRecord {
        kind: RecordKind::Fill,
        key,
        ts_ms: ts,
        link: Some(bill_id.into()),
        raw,
    }
}

fn source(records: Vec<StoredRecord>) -> MemorySource {
    MemorySource {
        records,
        balances: Vec::new(),
        unavailable: Vec::new(),
    }
}

fn run_with(src: &MemorySource, opts: &NormalizeOptions) -> (Vec<Transaction>, NormalizeSummary) {
    let mut rows = Vec::new();
    let summary = normalize(src, opts, &mut |t| {
        rows.push(t);
        Ok(())
    })
    .unwrap();
    (rows, summary)
}

fn run(src: &MemorySource) -> (Vec<Transaction>, NormalizeSummary) {
    let (rows, summary) = run_with(src, &NormalizeOptions::default());
    assert_invariant(src, &rows);
    assert_exactly_once(src, &rows);
    assert_ordered(&rows);
    (rows, summary)
}

fn row<'a>(rows: &'a [Transaction], id: &str) -> &'a Transaction {
    rows.iter()
        .find(|r| r.id == id)
        .unwrap_or_else(|| panic!("no row `{id}` in {rows:#?}"))
}

fn amt(a: &Option<Amount>) -> Option<(Decimal, &str)> {
    a.as_ref().map(|a| (a.amount, a.asset.as_str()))
}

/// Σ received − Σ sent − Σ fee = Σ balChg for every (account, asset) with decodable bills.
fn assert_invariant(src: &MemorySource, rows: &[Transaction]) {
    let mut want: BTreeMap<(Account, String), Decimal> = BTreeMap::new();
    for r in &src.records {
        let account = match r.kind {
            RecordKind::Bill => Account::Trading,
            RecordKind::FundingBill => Account::Funding,
            _ => continue,
        };
        let Ok(v) = serde_json::from_str::<Value>(&r.raw) else {
            continue;
        };
        let (Some(ccy), Some(chg)) = (v["ccy"].as_str(), v["balChg"].as_str()) else {
            continue;
        };
        let Some(chg) = wire::de::parse_decimal(chg) else {
            continue;
        };
        *want.entry((account, ccy.to_string())).or_default() += chg;
    }
    let mut got: BTreeMap<(Account, String), Decimal> = BTreeMap::new();
    for t in rows {
        let assets: HashSet<&str> = [&t.sent, &t.received, &t.fee]
            .into_iter()
            .flatten()
            .map(|a| a.asset.as_str())
            .collect();
        for a in assets {
            *got.entry((t.account, a.to_string())).or_default() += t.net_change(a);
        }
    }
    want.retain(|_, v| !v.is_zero());
    got.retain(|_, v| !v.is_zero());
    assert_eq!(got, want, "ledger invariant");
}

/// Every bill has a row; no bill is represented twice: it is never in two different paired
/// rows, nor in a paired row and a bare (unsuffixed) row of its own. Row ids are unique.
fn assert_exactly_once(src: &MemorySource, rows: &[Transaction]) {
    let mut pair_of: HashMap<String, &str> = HashMap::new();
    let mut bare: HashSet<String> = HashSet::new();
    let mut seen: HashSet<String> = HashSet::new();
    for t in rows {
        let paired = t.source_id.contains(';');
        for id in t.source_id.split(';') {
            let key = format!("{}:{id}", t.account);
            seen.insert(key.clone());
            if paired {
                let prev = pair_of.insert(key.clone(), &t.source_id);
                assert!(prev.is_none(), "bill {id} in two paired rows");
            } else if !t.id.contains(':') {
                assert!(bare.insert(key), "bill {id} has two bare rows");
            }
        }
    }
    for key in pair_of.keys() {
        assert!(!bare.contains(key), "{key} is paired and also booked alone");
    }
    for r in &src.records {
        let account = match r.kind {
            RecordKind::Bill => Account::Trading,
            RecordKind::FundingBill => Account::Funding,
            _ => continue,
        };
        assert!(
            seen.contains(&format!("{account}:{}", r.key)),
            "bill {} has no row",
            r.key
        );
    }
    let ids: HashSet<&str> = rows.iter().map(|t| t.id.as_str()).collect();
    assert_eq!(ids.len(), rows.len(), "row ids are unique");
}

fn assert_ordered(rows: &[Transaction]) {
    for w in rows.windows(2) {
        assert!(
            SortKey::of(&w[0]) < SortKey::of(&w[1]),
            "{} before {}",
            w[0].id,
            w[1].id
        );
    }
}

// ---- spot trades -------------------------------------------------------------------------

#[test]
fn spot_buy_pairs_two_legs_into_one_trade() {
    let src = source(vec![
        spot(
            "101",
            T0,
            "1",
            "USDT",
            "-10.1580000000000000",
            "0",
            ("77", "58148845"),
        ),
        spot(
            "102",
            T0,
            "1",
            "LTC",
            "0.0999000000000000",
            "-0.0001",
            ("77", "58148845"),
        ),
        fill("102", T0 - 1, "buy", "101.58", "77", "58148845"),
    ]);
    let (rows, summary) = run(&src);
    assert_eq!(rows.len(), 1, "{rows:#?}");
    let t = &rows[0];
    assert_eq!(t.id, "tb-102");
    assert_eq!(t.source_id, "102;101");
    assert_eq!(t.kind, Kind::Trade);
    assert_eq!(amt(&t.received), Some((d("0.1"), "LTC")));
    assert_eq!(amt(&t.sent), Some((d("10.158"), "USDT")));
    assert_eq!(amt(&t.fee), Some((d("0.0001"), "LTC")));
    assert_eq!(t.price, Some(d("101.58")));
    assert_eq!(t.side.as_deref(), Some("buy"));
    assert_eq!(t.order_id.as_deref(), Some("77"));
    assert_eq!(t.trade_id.as_deref(), Some("58148845"));
    assert_eq!(t.instrument.as_deref(), Some("LTC-USDT"));
    assert_eq!(t.source, "account/bills");
    assert_eq!(summary.rows_by_kind.get(&Kind::Trade), Some(&1));
    assert_eq!(summary.unmatched_enrichment, 0);
}

#[test]
fn spot_sell_without_fill_uses_bill_price_and_instrument_side() {
    // Received (USDT) leg arrives first this time; fee charged in USDT.
    let src = source(vec![
        spot(
            "201",
            T0,
            "2",
            "USDT",
            "10.1478420000000000",
            "-0.010158",
            ("78", "9"),
        ),
        spot("202", T0 + 2, "2", "LTC", "-0.1000000000000000", "0", ("78", "9")),
    ]);
    let (rows, _) = run(&src);
    assert_eq!(rows.len(), 1);
    let t = &rows[0];
    assert_eq!(t.id, "tb-201");
    assert_eq!(amt(&t.received), Some((d("10.158"), "USDT")));
    assert_eq!(amt(&t.sent), Some((d("0.1"), "LTC")));
    assert_eq!(amt(&t.fee), Some((d("0.010158"), "USDT")));
    assert_eq!(t.price, Some(d("101.58")));
    assert_eq!(t.side.as_deref(), Some("sell"));
    assert_eq!(t.time.timestamp_millis(), T0);
}

#[test]
fn maker_rebate_becomes_its_own_row() {
    let src = source(vec![
        spot("301", T0, "1", "USDT", "-10.1580000000000000", "0", ("5", "6")),
        spot("302", T0, "1", "LTC", "0.1002000000000000", "0.0002", ("5", "6")),
    ]);
    let (rows, summary) = run(&src);
    assert_eq!(rows.len(), 2, "{rows:#?}");
    let t = row(&rows, "tb-302");
    assert_eq!(amt(&t.received), Some((d("0.1"), "LTC")), "gross = balChg − fee");
    assert_eq!(t.fee, None);
    let r = row(&rows, "tb-302:rebate");
    assert_eq!(r.kind, Kind::Rebate);
    assert_eq!(amt(&r.received), Some((d("0.0002"), "LTC")));
    assert_eq!(r.source_id, "302");
    assert_eq!(summary.rows_by_kind.get(&Kind::Rebate), Some(&1));
}

#[test]
fn fees_on_both_legs_keep_every_fee() {
    let src = source(vec![
        spot(
            "311",
            T0,
            "1",
            "USDT",
            "-10.2000000000000000",
            "-0.042",
            ("5", "6"),
        ),
        spot("312", T0, "1", "LTC", "0.0999000000000000", "-0.0001", ("5", "6")),
    ]);
    let (rows, _) = run(&src);
    assert_eq!(amt(&row(&rows, "tb-312").fee), Some((d("0.0001"), "LTC")));
    assert_eq!(amt(&row(&rows, "tb-312").sent), Some((d("10.158"), "USDT")));
    let f = row(&rows, "tb-311:fee");
    assert_eq!((f.kind, amt(&f.sent)), (Kind::Fee, Some((d("0.042"), "USDT"))));
}

#[test]
fn legs_without_partner_become_single_leg_trades() {
    let src = source(vec![
        spot("401", T0, "1", "USDT", "-5.0000000000000000", "0", ("1", "1")),
        // Same ids but 10 s later: outside the pairing window.
        spot(
            "402",
            T0 + 10_000,
            "1",
            "LTC",
            "0.0500000000000000",
            "0",
            ("1", "1"),
        ),
    ]);
    let (rows, summary) = run(&src);
    assert_eq!(rows.len(), 2);
    for (id, want) in [("tb-401", "USDT"), ("tb-402", "LTC")] {
        let t = row(&rows, id);
        assert_eq!(t.kind, Kind::Trade);
        assert!(t.note.as_deref().unwrap().contains("single leg"), "{t:?}");
        assert!(
            [&t.sent, &t.received]
                .iter()
                .any(|a| amt(a).is_some_and(|a| a.1 == want))
        );
        assert_eq!(t.price, Some(d("101.58")));
    }
    assert_eq!(summary.unmatched_enrichment, 0);
}

#[test]
fn interleaved_trades_in_one_millisecond_pair_by_ids() {
    let src = source(vec![
        spot("501", T0, "1", "USDT", "-10", "0", ("1", "a")),
        spot("502", T0, "1", "USDT", "-20", "0", ("1", "b")),
        spot("503", T0, "1", "LTC", "0.2", "0", ("1", "b")),
        spot("504", T0, "1", "LTC", "0.1", "0", ("1", "a")),
        tb(
            "505",
            T0,
            "1",
            "11",
            "USDT",
            "1.0000000000000000",
            json!({"from": "6", "to": "18"}),
        ),
    ]);
    let (rows, _) = run(&src);
    assert_eq!(rows.len(), 3);
    assert_eq!(row(&rows, "tb-504").source_id, "504;501");
    assert_eq!(amt(&row(&rows, "tb-503").sent), Some((d("20"), "USDT")));
    assert_eq!(
        rows.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
        ["tb-503", "tb-504", "tb-505"]
    );
}

/// A convert-history record at T0.
fn convert(id: &str, inst: &str, side: &str, px: &str, base: &str, quote: &str) -> StoredRecord {
    let (b, q) = inst.split_once('-').unwrap();
    let raw = json!({"tradeId": id, "clTReqId": "", "state": "fullyFilled", "instId": inst,
                     "baseCcy": b, "quoteCcy": q, "side": side, "fillPx": px,
                     "fillBaseSz": base, "fillQuoteSz": quote, "ts": T0.to_string()});
    StoredRecord {
        kind: RecordKind::Convert,
        key: id.into(),
        ts_ms: T0,
        link: None,
        raw: raw.to_string(),
    }
}

#[test]
fn convert_legs_pair_and_take_convert_history() {
    let src = source(vec![
        tb(
            "601",
            T0,
            "27",
            "319",
            "USDT",
            "-60.0000000000000000",
            json!({"tradeId": "C1"}),
        ),
        tb(
            "602",
            T0,
            "27",
            "318",
            "BTC",
            "0.0010000000000000",
            json!({"tradeId": "C1"}),
        ),
        convert("C1", "BTC-USDT", "buy", "60000", "0.001", "60"),
    ]);
    let (rows, _) = run(&src);
    assert_eq!(rows.len(), 1);
    let t = &rows[0];
    assert_eq!((t.id.as_str(), t.kind), ("tb-602", Kind::Trade));
    assert_eq!(amt(&t.received), Some((d("0.001"), "BTC")));
    assert_eq!(amt(&t.sent), Some((d("60"), "USDT")));
    assert_eq!(t.price, Some(d("60000")));
    assert_eq!(t.side.as_deref(), Some("buy"));
    assert_eq!(t.instrument.as_deref(), Some("BTC-USDT"));
}

/// Issue 8 item 11: a spot trade whose tradeId happens to equal a convert's tradeId keeps
/// its own price and side; convert history is only for convert bills.
#[test]
fn convert_history_is_only_for_convert_bills() {
    let src = source(vec![
        tb(
            "701",
            T0,
            "2",
            "1",
            "BTC",
            "0.001",
            json!({"tradeId": "77", "instId": "BTC-USDT", "px": "60000"}),
        ),
        tb(
            "702",
            T0,
            "2",
            "2",
            "USDT",
            "-60",
            json!({"tradeId": "77", "instId": "BTC-USDT", "px": "60000"}),
        ),
        convert("77", "ETH-USDT", "sell", "9999", "1", "9999"),
    ]);
    let (rows, _) = run(&src);
    assert_eq!(rows.len(), 1);
    let t = &rows[0];
    assert_eq!(t.price, Some(d("60000")));
    assert_ne!(t.side.as_deref(), Some("sell"));
    assert_eq!(t.instrument.as_deref(), Some("BTC-USDT"));
}

#[test]
fn easy_convert_and_system_conversion_pair_without_history() {
    let src = source(vec![
        tb("611", T0, "28", "237", "DOGE", "-3", json!({"ordId": "E1"})),
        tb("612", T0, "28", "236", "OKB", "0.01", json!({"ordId": "E1"})),
        // No ids at all: paired by same instant, type and instrument.
        tb("613", T0 + 50, "11", "119", "OLD", "-5", json!({})),
        tb("614", T0 + 50, "11", "118", "NEW", "5", json!({})),
    ]);
    let (rows, summary) = run(&src);
    assert_eq!(rows.len(), 2);
    assert_eq!(row(&rows, "tb-612").source_id, "612;611");
    assert_eq!(row(&rows, "tb-614").source_id, "614;613");
    assert_eq!(summary.unmatched_enrichment, 2, "no price anywhere");
}

// ---- derivatives -------------------------------------------------------------------------

/// A USDT-margined swap bill: `(type, subType)`, then balChg, pnl, fee, posBalChg.
fn swap(
    id: &str,
    ts: i64,
    (ty, st): (&str, &str),
    bal_chg: &str,
    pnl: &str,
    fee: &str,
    pos_chg: &str,
) -> StoredRecord {
    tb(
        id,
        ts,
        ty,
        st,
        "USDT",
        bal_chg,
        json!({"instType": "SWAP", "instId": "BTC-USDT-SWAP", "mgnMode": "cross", "pnl": pnl,
               "fee": fee, "posBalChg": pos_chg, "ordId": "9", "tradeId": "99", "px": "60000", "sz": "1"}),
    )
}

#[test]
fn derivative_close_gives_pnl_and_fee_rows() {
    let src = source(vec![swap(
        "701",
        T0,
        ("2", "5"),
        "9.5000000000000000",
        "10",
        "-0.5",
        "",
    )]);
    let (rows, _) = run(&src);
    assert_eq!(rows.len(), 2, "{rows:#?}");
    let p = row(&rows, "tb-701:pnl");
    assert_eq!(
        (p.kind, amt(&p.received)),
        (Kind::RealizedPnl, Some((d("10"), "USDT")))
    );
    assert_eq!(p.instrument.as_deref(), Some("BTC-USDT-SWAP"));
    assert_eq!(p.price, Some(d("60000")));
    let f = row(&rows, "tb-701:fee");
    assert_eq!((f.kind, amt(&f.sent)), (Kind::Fee, Some((d("0.5"), "USDT"))));
}

#[test]
fn derivative_loss_with_rebate() {
    let src = source(vec![swap(
        "702",
        T0,
        ("2", "6"),
        "-3.9000000000000000",
        "-4",
        "0.1",
        "",
    )]);
    let (rows, _) = run(&src);
    assert_eq!(amt(&row(&rows, "tb-702:pnl").sent), Some((d("4"), "USDT")));
    let r = row(&rows, "tb-702:rebate");
    assert_eq!(
        (r.kind, amt(&r.received)),
        (Kind::Rebate, Some((d("0.1"), "USDT")))
    );
}

#[test]
fn isolated_open_moves_margin_as_transfer() {
    let src = source(vec![swap(
        "703",
        T0,
        ("2", "3"),
        "-100.1000000000000000",
        "0",
        "-0.1",
        "100",
    )]);
    let (rows, _) = run(&src);
    assert_eq!(rows.len(), 2, "{rows:#?}");
    assert_eq!(amt(&row(&rows, "tb-703:fee").sent), Some((d("0.1"), "USDT")));
    let r = row(&rows, "tb-703:residual");
    assert_eq!((r.kind, amt(&r.sent)), (Kind::Transfer, Some((d("100"), "USDT"))));
}

#[test]
fn net_mode_derivative_buy_is_not_paired() {
    let src = source(vec![
        swap("704", T0, ("2", "1"), "-0.0300000000000000", "0", "-0.03", ""),
        swap("705", T0, ("2", "2"), "1.9700000000000000", "2", "-0.03", ""),
    ]);
    let (rows, _) = run(&src);
    let ids: Vec<&str> = rows.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, ["tb-704:fee", "tb-705:fee", "tb-705:pnl"]);
    assert_eq!(row(&rows, "tb-705:pnl").kind, Kind::RealizedPnl);
}

#[test]
fn liquidation_and_adl_are_liquidation_rows() {
    let src = source(vec![
        swap("711", T0, ("5", "104"), "-50", "-50", "0", ""),
        swap("712", T0 + 1, ("9", "125"), "3", "3", "", ""),
    ]);
    let (rows, summary) = run(&src);
    assert_eq!(row(&rows, "tb-711:pnl").kind, Kind::Liquidation);
    assert_eq!(amt(&row(&rows, "tb-711:pnl").sent), Some((d("50"), "USDT")));
    assert_eq!(row(&rows, "tb-712:pnl").kind, Kind::Liquidation);
    assert_eq!(summary.rows_by_kind.get(&Kind::Liquidation), Some(&2));
}

#[test]
fn option_premium_is_a_trade_residual() {
    let src = source(vec![tb(
        "713",
        T0,
        "2",
        "1",
        "BTC",
        "-0.0051",
        json!({"instType": "OPTION", "instId": "BTC-USD-250808-60000-C", "pnl": "0", "fee": "-0.0001"}),
    )]);
    let (rows, _) = run(&src);
    let r = row(&rows, "tb-713:residual");
    assert_eq!((r.kind, amt(&r.sent)), (Kind::Trade, Some((d("0.005"), "BTC"))));
}

#[test]
fn bill_without_balance_change_still_has_a_row() {
    let src = source(vec![swap("714", T0, ("2", "3"), "0", "0", "0", "")]);
    let (rows, _) = run(&src);
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].id, "tb-714");
    assert_eq!(
        (
            rows[0].sent.clone(),
            rows[0].received.clone(),
            rows[0].fee.clone()
        ),
        (None, None, None)
    );
}

#[test]
fn funding_fees_from_pnl_or_bal_chg() {
    let src = source(vec![
        swap("721", T0, ("8", "173"), "-0.3000000000000000", "-0.3", "", ""),
        swap("722", T0 + 1, ("8", "174"), "0.2000000000000000", "", "", ""),
        // Isolated: the funding fee is taken from position margin, the account balance moves
        // the other way (posBalChg); pnl is the fee, the residual a transfer.
        swap("723", T0 + 2, ("8", "173"), "0", "-0.4", "", "-0.4"),
    ]);
    let (rows, _) = run(&src);
    let f = row(&rows, "tb-721");
    assert_eq!(
        (f.kind, amt(&f.sent)),
        (Kind::FundingFee, Some((d("0.3"), "USDT")))
    );
    assert_eq!(amt(&row(&rows, "tb-722").received), Some((d("0.2"), "USDT")));
    assert_eq!(amt(&row(&rows, "tb-723").sent), Some((d("0.4"), "USDT")));
    assert_eq!(row(&rows, "tb-723:residual").kind, Kind::Transfer);
}

// ---- other trading bills -----------------------------------------------------------------

#[test]
fn transfer_interest_earn_and_profit_share() {
    let src = source(vec![
        tb(
            "801",
            T0,
            "1",
            "11",
            "USDT",
            "1.0000000000000000",
            json!({"from": "6", "to": "18"}),
        ),
        tb(
            "802",
            T0 + 1,
            "7",
            "9",
            "USDT",
            "-0.0012000000000000",
            json!({"interest": "0.0012"}),
        ),
        tb(
            "803",
            T0 + 2,
            "",
            "381",
            "USDT",
            "0.0050000000000000",
            json!({"earnAmt": "100"}),
        ),
        tb(
            "804",
            T0 + 3,
            "250",
            "280",
            "USDT",
            "-1.2000000000000000",
            json!({}),
        ),
        tb("805", T0 + 4, "22", "308", "USDT", "-50", json!({})),
    ]);
    let (rows, _) = run(&src);
    let kinds: Vec<Kind> = rows.iter().map(|r| r.kind).collect();
    assert_eq!(
        kinds,
        [
            Kind::Transfer,
            Kind::InterestPaid,
            Kind::EarnInterest,
            Kind::Fee,
            Kind::Transfer
        ]
    );
    assert_eq!(amt(&row(&rows, "tb-801").received), Some((d("1"), "USDT")));
    assert_eq!(row(&rows, "tb-801").trade_id, None, "tradeId \"0\" is no id");
    assert_eq!(amt(&row(&rows, "tb-802").sent), Some((d("0.0012"), "USDT")));
    assert_eq!(amt(&row(&rows, "tb-804").sent), Some((d("1.2"), "USDT")));
}

#[test]
fn unknown_codes_are_unclassified_with_raw_json() {
    let src = source(vec![
        tb("901", T0, "999", "9999", "USDT", "2.5000000000000000", json!({})),
        tb("902", T0 + 1, "2", "9999", "USDT", "-1", json!({})),
        fb("903", T0 + 2, "9999", "ETH", "-0.5"),
    ]);
    let (rows, summary) = run(&src);
    assert_eq!(rows.len(), 3);
    assert!(rows.iter().all(|r| r.kind == Kind::Unclassified));
    let t = row(&rows, "tb-901");
    assert_eq!(amt(&t.received), Some((d("2.5"), "USDT")));
    assert!(t.note.as_deref().unwrap().contains("\"subType\":\"9999\""));
    assert_eq!(amt(&row(&rows, "fb-903").sent), Some((d("0.5"), "ETH")));
    assert_eq!(summary.unclassified, 3);
    assert_eq!(summary.unclassified_codes.get("trading type 999/9999"), Some(&1));
    assert_eq!(summary.unclassified_codes.get("trading type 2/9999"), Some(&1));
    assert_eq!(summary.unclassified_codes.get("funding type 9999"), Some(&1));
}

#[test]
fn undecodable_records_are_unclassified_and_counted() {
    let src = source(vec![
        tb("911", T0, "2", "1", "USDT", "abc", json!({})),
        StoredRecord {
            kind: RecordKind::Bill,
            key: "912".into(),
            ts_ms: T0 + 1,
            link: None,
            raw: "{not json".into(),
        },
        fb("913", T0 + 2, "1", "BTC", "0.5"),
        // `bal` is not a number: the bill does not decode, but balChg is salvaged and the
        // stored time is used.
        StoredRecord {
            kind: RecordKind::FundingBill,
            key: "914".into(),
            ts_ms: T0 + 3,
            link: None,
            raw: r#"{"billId":"914","ccy":"BTC","balChg":"0.25","bal":"x","type":"1","ts":""}"#.into(),
        },
    ]);
    let (rows, summary) = run(&src);
    assert_eq!(summary.decode_errors, 3);
    assert_eq!(summary.unclassified, 3);
    assert_eq!(summary.unclassified_codes.get("trading decode error"), Some(&2));
    assert_eq!(amt(&row(&rows, "fb-914").received), Some((d("0.25"), "BTC")));
    assert_eq!(row(&rows, "fb-914").time.timestamp_millis(), T0 + 3);
    assert_eq!(row(&rows, "tb-912").note.as_deref(), Some("{not json"));
}

// ---- funding: deposits, withdrawals, income ----------------------------------------------

#[test]
fn deposits_are_matched_by_amount_and_nearest_time() {
    let min = 60_000;
    // D5 is credited 10 h 40 min after its record: no fixed window, it still matches.
    // D6's record is dated after bill 1004: a record comes before its credit, so no match.
    let src = source(vec![
        deposit("D1", T0, "USDT", "100", "2"),
        deposit("D2", T0 + 30 * min, "USDT", "100", "2"),
        deposit("D3", T0, "USDT", "5", "0"),
        deposit("D4", T0, "USDT", "6", "11"),
        deposit("D5", T0 - 10 * 3600 * 1000, "USDT", "7", "2"),
        fb("1001", T0 + 5 * min, "1", "USDT", "100.0000000000000000"),
        fb("1002", T0 + 33 * min, "1", "USDT", "100.0000000000000000"),
        fb("1003", T0 + 40 * min, "1", "USDT", "7"),
        deposit("D6", T0 + 50 * min, "USDT", "8", "2"),
        fb("1004", T0 + 45 * min, "1", "USDT", "8"),
    ]);
    let (rows, summary) = run(&src);
    let a = row(&rows, "fb-1001");
    assert_eq!(a.kind, Kind::Deposit);
    assert_eq!(amt(&a.received), Some((d("100"), "USDT")));
    assert_eq!(a.tx_hash.as_deref(), Some("0xtxD1"));
    assert_eq!(a.address.as_deref(), Some("TXaddr"));
    assert_eq!(a.chain.as_deref(), Some("USDT-TRC20"));
    assert!(a.note.as_deref().unwrap().contains("depId D1"));
    assert_eq!(a.source, "asset/bills");
    assert_eq!(
        row(&rows, "fb-1002").tx_hash.as_deref(),
        Some("0xtxD2"),
        "each deposit used once"
    );
    let c = row(&rows, "fb-1003");
    assert_eq!(
        (c.kind, c.tx_hash.as_deref()),
        (Kind::Deposit, Some("0xtxD5")),
        "D5 credited hours after its record"
    );
    assert_eq!(row(&rows, "fb-1004").tx_hash, None);
    assert_eq!(summary.unmatched_enrichment, 1);
    assert_eq!(
        summary
            .bills_without_record
            .iter()
            .map(|b| (b.what, b.bill_id.as_str(), b.amount))
            .collect::<Vec<_>>(),
        [("deposit", "1004", d("8"))]
    );
    assert_eq!(
        summary
            .pending_deposits
            .iter()
            .map(|p| p.id.as_str())
            .collect::<Vec<_>>(),
        ["D3"]
    );
    assert_eq!(summary.pending_deposits[0].state_text, "waiting for confirmation");
    assert_eq!(
        summary
            .failed_or_canceled
            .iter()
            .map(|p| p.id.as_str())
            .collect::<Vec<_>>(),
        ["D4"]
    );
    assert_eq!(
        summary
            .final_without_bill
            .iter()
            .map(|p| p.id.as_str())
            .collect::<Vec<_>>(),
        ["D6"]
    );
    assert_eq!(rows.len(), 4, "history records never make rows of their own");
}

#[test]
fn withdrawals_split_amount_and_fee() {
    let src = source(vec![
        withdrawal("W1", T0, "ETH", "1", "0.0005", "2"),
        withdrawal("W2", T0 + 1000, "ETH", "2", "0.001", "2"),
        fb("1101", T0 + 10, "2", "ETH", "-1.0005000000000000"),
        // Fee booked separately (type 221), refunded partly (222).
        fb("1102", T0 + 1010, "2", "ETH", "-2.0000000000000000"),
        fb("1103", T0 + 1010, "221", "ETH", "-0.001"),
        fb("1104", T0 + 2000, "222", "ETH", "0.0004"),
    ]);
    let (rows, summary) = run(&src);
    let a = row(&rows, "fb-1101");
    assert_eq!(a.kind, Kind::Withdrawal);
    assert_eq!(amt(&a.sent), Some((d("1"), "ETH")));
    assert_eq!(amt(&a.fee), Some((d("0.0005"), "ETH")));
    assert_eq!(
        (a.tx_hash.as_deref(), a.address.as_deref()),
        (Some("0xwdW1"), Some("0xdest"))
    );
    let b = row(&rows, "fb-1102");
    assert_eq!((amt(&b.sent), b.fee.clone()), (Some((d("2"), "ETH")), None));
    assert!(b.note.as_deref().unwrap().contains("not in this bill"));
    let f = row(&rows, "fb-1103");
    assert_eq!((f.kind, amt(&f.sent)), (Kind::Fee, Some((d("0.001"), "ETH"))));
    assert_eq!(row(&rows, "fb-1104").kind, Kind::Rebate);
    assert_eq!(summary.unmatched_enrichment, 0);
}

#[test]
fn withdrawal_states_pending_and_canceled() {
    let src = source(vec![
        withdrawal("W3", T0, "BTC", "0.1", "0", "0"),
        withdrawal("W4", T0, "BTC", "0.2", "0", "-2"),
        withdrawal("W5", T0, "BTC", "0.3", "0", "-1"),
        fb("1201", T0 + 5, "2", "BTC", "-0.1"),
        fb("1202", T0 + 6, "2", "BTC", "-0.2"),
        fb("1203", T0 + 60_000, "13", "BTC", "0.2"),
    ]);
    let (rows, summary) = run(&src);
    let p = row(&rows, "fb-1201");
    assert_eq!(
        p.kind,
        Kind::Withdrawal,
        "the balance left; the record is still in progress"
    );
    assert!(p.note.as_deref().unwrap().contains("waiting withdrawal"));
    let c = row(&rows, "fb-1202");
    assert_eq!((c.kind, amt(&c.sent)), (Kind::Transfer, Some((d("0.2"), "BTC"))));
    let r = row(&rows, "fb-1203");
    assert_eq!(
        (r.kind, amt(&r.received)),
        (Kind::Transfer, Some((d("0.2"), "BTC")))
    );
    assert_eq!(
        summary
            .pending_withdrawals
            .iter()
            .map(|p| p.id.as_str())
            .collect::<Vec<_>>(),
        ["W3"]
    );
    let failed: Vec<(&str, &str)> = summary
        .failed_or_canceled
        .iter()
        .map(|p| (p.id.as_str(), p.state_text.as_str()))
        .collect();
    assert_eq!(failed, [("W4", "canceled"), ("W5", "failed")]);
    assert!(summary.final_without_bill.is_empty());
}

/// Issue 8 item 4: a successful withdrawal record without its bill lands in
/// `final_without_bill`, a withdrawal bill without its record in `bills_without_record`,
/// and both fail the `withdrawal` check where the other side's history is stored (and are
/// only counted where it is not).
#[test]
fn lone_withdrawal_record_and_lone_withdrawal_bill_fail_the_check() {
    let hour = 3_600_000;
    let src = source(vec![
        // W9 and bill 1401 pair; W8 has no bill; bill 1402 has no record.
        withdrawal("W9", T0, "SOL", "2", "0.01", "2"),
        fb("1401", T0 + 400, "2", "SOL", "-2.0100000000000000"),
        withdrawal("W8", T0 + hour, "SOL", "5", "0.01", "2"),
        fb("1402", T0 + 2 * hour, "2", "ADA", "-7.0000000000000000"),
    ]);
    let (rows, summary) = run(&src);
    assert_eq!(row(&rows, "fb-1401").tx_hash.as_deref(), Some("0xwdW9"));
    let lone_record: Vec<_> = summary
        .final_without_bill
        .iter()
        .map(|p| (p.what, p.id.as_str(), p.asset.as_str(), p.amount, p.time))
        .collect();
    assert_eq!(
        lone_record,
        [(
            "withdrawal",
            "W8",
            "SOL",
            d("5"),
            DateTime::from_timestamp_millis(T0 + hour)
        )]
    );
    let lone_bill: Vec<_> = summary
        .bills_without_record
        .iter()
        .map(|b| (b.what, b.bill_id.as_str(), b.asset.as_str(), b.amount))
        .collect();
    assert_eq!(lone_bill, [("withdrawal", "1402", "ADA", d("-7"))]);
    // The lone bill is still booked (a withdrawal without its hash): nothing is dropped.
    let b = row(&rows, "fb-1402");
    assert_eq!((b.kind, b.tx_hash.clone()), (Kind::Withdrawal, None));

    let everything = vec![(i64::MIN, i64::MAX)];
    let covered = crate::reconcile::FundsRanges {
        funding: everything.clone(),
        deposits: everything.clone(),
        withdrawals: everything,
    };
    let checks = crate::reconcile::funds_checks(
        &summary.final_without_bill,
        &summary.bills_without_record,
        &covered,
    );
    let got: Vec<(&str, &str, &str)> = checks
        .iter()
        .filter(|c| c.check.starts_with("withdrawal"))
        .map(|c| (c.check, c.asset.as_str(), c.status.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            ("withdrawal", "SOL", "missing_bill"),
            ("withdrawal", "ADA", "missing_record"),
            ("withdrawals", "", "unmatched"),
        ]
    );
    assert!(
        checks[checks.len() - 1].detail.starts_with(
            "2 successful withdrawals or withdrawal bills lack their other side; 0 fall outside"
        ),
        "{:?}",
        checks.last()
    );
    assert!(
        checks.iter().any(|c| c.detail
            == "withdrawal W8 (5 SOL, tx 0xwdW8) is successful in withdrawal-history but the funding ledger has no withdrawal bill (type 2) for it"),
        "{checks:#?}"
    );
    // The deposits check is untouched.
    assert!(checks.iter().any(|c| c.check == "deposits" && c.status == "ok"));

    // Where the other side's history is not stored, the lone sides are only counted: the
    // coverage check names those ranges.
    let uncovered = crate::reconcile::FundsRanges::default();
    let checks = crate::reconcile::funds_checks(
        &summary.final_without_bill,
        &summary.bills_without_record,
        &uncovered,
    );
    let w = checks.iter().find(|c| c.check == "withdrawals").unwrap();
    assert_eq!(w.status, "ok");
    assert!(w.detail.contains("; 2 fall outside"), "{}", w.detail);
    assert!(!checks.iter().any(|c| c.check == "withdrawal"));
}

/// Issue 8 item 11: debit (canceled attempt), refund, debit (retry 15 s later, inside the
/// clock slack of the first debit). The successful record books the second debit; the first
/// debit and the refund are transfers that cancel out.
#[test]
fn withdrawal_retried_after_cancel_books_the_second_debit() {
    let src = source(vec![
        withdrawal("W6", T0, "USDT", "100", "1", "-2"),
        fb("1211", T0 + 500, "2", "USDT", "-101"),
        fb("1212", T0 + 8_000, "13", "USDT", "101"),
        withdrawal("W7", T0 + 15_000, "USDT", "100", "1", "2"),
        fb("1213", T0 + 15_500, "2", "USDT", "-101"),
    ]);
    let (rows, summary) = run(&src);
    let w = row(&rows, "fb-1213");
    assert_eq!(w.kind, Kind::Withdrawal);
    assert_eq!(w.tx_hash.as_deref(), Some("0xwdW7"));
    assert_eq!(
        (amt(&w.sent), amt(&w.fee)),
        (Some((d("100"), "USDT")), Some((d("1"), "USDT")))
    );
    let hold = row(&rows, "fb-1211");
    assert_eq!(
        (hold.kind, amt(&hold.sent), amt(&hold.fee)),
        (Kind::Transfer, Some((d("101"), "USDT")), None),
        "the whole hold, fee included, is the transfer the refund returns"
    );
    assert!(hold.note.as_deref().unwrap().contains("wdId W6"));
    let back = row(&rows, "fb-1212");
    assert_eq!(
        (back.kind, amt(&back.received)),
        (Kind::Transfer, Some((d("101"), "USDT")))
    );
    assert!(summary.final_without_bill.is_empty() && summary.bills_without_record.is_empty());
}

#[test]
fn funding_income_and_transfers() {
    let src = source(vec![
        fb("1301", T0, "83", "DOT", "0.1"),
        fb("1302", T0 + 1, "229", "XYZ", "10"),
        fb("1303", T0 + 2, "151", "USDT", "3"),
        fb("1304", T0 + 3, "131", "USDT", "-50"),
        fb("1305", T0 + 4, "343", "USDT", "0.01"),
        fb("1306", T0 + 5, "84", "USDT", "-2"),
        fb("1307", T0 + 6, "273", "BTC", "-0.01"),
        fb("1308", T0 + 7, "161", "USDT", "105"),
    ]);
    let (rows, _) = run(&src);
    let kinds: Vec<Kind> = rows.iter().map(|r| r.kind).collect();
    assert_eq!(
        kinds,
        [
            Kind::StakingReward,
            Kind::Airdrop,
            Kind::ReferralReward,
            Kind::Transfer,
            Kind::EarnInterest,
            Kind::Fee,
            Kind::Trade,
            Kind::Transfer
        ]
    );
    assert_eq!(amt(&row(&rows, "fb-1306").sent), Some((d("2"), "USDT")));
    assert!(
        row(&rows, "fb-1308")
            .note
            .as_deref()
            .unwrap()
            .contains("another currency")
    );
}

// ---- crypto↔fiat converts in the funding account (272/273) ------------------------------

/// Issue 8 item 9: a EUR→BTC buy is two funding bills (272) and one convert-history record;
/// it is one `trade` row with the cost basis in EUR, not a withdrawal plus a deposit.
#[test]
fn fiat_convert_legs_pair_into_one_trade_with_history() {
    let mut c = convert("F1", "BTC-EUR", "buy", "60000", "0.0166", "996");
    let mut other = convert("F2", "BTC-EUR", "buy", "61000", "0.0166", "996");
    // A second record of the same pair, 10 s away: outside the pairing window.
    other.raw = other.raw.replace(&T0.to_string(), &(T0 + 10_000).to_string());
    c.ts_ms = T0;
    let src = source(vec![
        fb("1401", T0, "272", "EUR", "-996"),
        fb("1402", T0, "83", "ETH", "0.001"),
        fb("1403", T0, "272", "BTC", "0.0166"),
        c,
        other,
    ]);
    let (rows, summary) = run(&src);
    assert_eq!(
        rows.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
        ["fb-1402", "fb-1403"]
    );
    let t = row(&rows, "fb-1403");
    assert_eq!((t.kind, t.account), (Kind::Trade, Account::Funding));
    assert_eq!(amt(&t.received), Some((d("0.0166"), "BTC")));
    assert_eq!(amt(&t.sent), Some((d("996"), "EUR")));
    assert_eq!(t.fee, None);
    assert_eq!(t.price, Some(d("60000")));
    assert_eq!(t.side.as_deref(), Some("buy"));
    assert_eq!(t.instrument.as_deref(), Some("BTC-EUR"));
    assert_eq!(t.trade_id.as_deref(), Some("F1"));
    assert_eq!(t.source_id, "1403;1401");
    assert_eq!(summary.unmatched_enrichment, 0);
    assert_eq!(summary.rows_by_kind.get(&Kind::Trade), Some(&1));
}

/// A crypto→fiat sell (273) pairs the same way; without a convert-history record the pair
/// still books both sides (the cost basis is there) but has no price and is counted.
#[test]
fn fiat_convert_without_history_is_paired_and_counted() {
    let src = source(vec![
        fb("1411", T0, "273", "BTC", "-0.1"),
        fb("1412", T0 + 3, "273", "EUR", "5600.5"),
    ]);
    let (rows, summary) = run(&src);
    assert_eq!(rows.len(), 1);
    let t = &rows[0];
    assert_eq!((t.id.as_str(), t.kind), ("fb-1412", Kind::Trade));
    assert_eq!(amt(&t.received), Some((d("5600.5"), "EUR")));
    assert_eq!(amt(&t.sent), Some((d("0.1"), "BTC")));
    assert_eq!(t.price, None);
    assert!(t.note.as_deref().unwrap().contains("no convert-history record"));
    assert_eq!(summary.unmatched_enrichment, 1);
}

/// Legs too far apart, or of one currency, do not pair: each stays a single-leg trade.
#[test]
fn fiat_convert_legs_that_do_not_fit_stay_single() {
    let src = source(vec![
        fb("1421", T0, "272", "EUR", "-100"),
        fb("1422", T0 + 6_000, "272", "BTC", "0.001"),
        fb("1423", T0 + 7_000, "273", "BTC", "0.002"),
    ]);
    let (rows, summary) = run(&src);
    assert_eq!(rows.len(), 3);
    for r in &rows {
        assert_eq!(r.kind, Kind::Trade);
        assert!(r.note.as_deref().unwrap().contains("single leg"), "{r:?}");
    }
    assert_eq!(summary.unmatched_enrichment, 3);
}

// ---- Dual Investment (160/161/162) -------------------------------------------------------

/// A Dual Investment order record as assumed for `finance/sfp/dcd/order-history`.
fn dcd(
    id: &str,
    notional: (&str, &str),
    settle: (&str, &str),
    strike: &str,
    times: (i64, i64),
) -> StoredRecord {
    let raw = json!({"ordId": id, "productId": "BTC-USDT-250817-60000-P", "state": "settled",
                     "baseCcy": "BTC", "quoteCcy": "USDT", "optType": "P",
                     "notionalSz": notional.0, "notionalCcy": notional.1, "strike": strike,
                     "annualizedYield": "0.45", "settlePx": "59000", "settleSz": settle.0,
                     "settleCcy": settle.1, "yieldSz": "0.0001", "cTime": times.0.to_string(),
                     "settleTime": times.1.to_string(), "uTime": times.1.to_string()});
    StoredRecord {
        kind: RecordKind::DualInvestment,
        key: id.into(),
        ts_ms: times.0,
        link: None,
        raw: raw.to_string(),
    }
}

/// Issue 8 item 10: subscribed 3000 USDT, settled as 0.05 BTC (converted at the strike):
/// a trade USDT→BTC at settlement, the yield as income, and every balance still sums to its
/// bills (the subscription transfer out and the principal transfer back cancel).
#[test]
fn dual_investment_settled_in_another_currency_is_a_trade() {
    let week = 7 * 86_400_000;
    let src = source(vec![
        fb("1501", T0, "160", "USDT", "-3000"),
        fb("1502", T0 + week, "161", "BTC", "0.05"),
        fb("1503", T0 + week, "162", "BTC", "0.0001"),
        dcd("D1", ("3000", "USDT"), ("0.05", "BTC"), "60000", (T0, T0 + week)),
    ]);
    let (rows, summary) = run(&src);
    assert_eq!(
        rows.iter().map(|r| (r.id.as_str(), r.kind)).collect::<Vec<_>>(),
        [
            ("fb-1501", Kind::Transfer),
            ("fb-1502", Kind::Trade),
            ("fb-1502:principal", Kind::Transfer),
            ("fb-1503", Kind::EarnInterest)
        ]
    );
    let t = row(&rows, "fb-1502");
    assert_eq!(amt(&t.sent), Some((d("3000"), "USDT")));
    assert_eq!(amt(&t.received), Some((d("0.05"), "BTC")));
    assert_eq!(t.price, Some(d("60000")));
    assert_eq!(t.trade_id.as_deref(), Some("D1"));
    assert_eq!(t.instrument.as_deref(), Some("BTC-USDT-250817-60000-P"));
    let back = row(&rows, "fb-1502:principal");
    assert_eq!(amt(&back.received), Some((d("3000"), "USDT")));
    assert_eq!(amt(&row(&rows, "fb-1503").received), Some((d("0.0001"), "BTC")));
    assert!(
        row(&rows, "fb-1501")
            .note
            .as_deref()
            .unwrap()
            .contains("order D1")
    );
    assert_eq!(summary.unmatched_enrichment, 0);
}

/// Settled in the subscribed currency: the principal comes back as a transfer; without an
/// order record a collection keeps that booking but is marked and counted, never dropped.
#[test]
fn dual_investment_unconverted_or_without_order() {
    let week = 7 * 86_400_000;
    let src = source(vec![
        fb("1511", T0, "160", "USDT", "-1000"),
        fb("1512", T0 + week, "161", "USDT", "1000"),
        fb("1513", T0 + week + 1, "161", "ETH", "0.4"),
        dcd("D2", ("1000", "USDT"), ("1000", "USDT"), "60000", (T0, T0 + week)),
    ]);
    let (rows, summary) = run(&src);
    let same = row(&rows, "fb-1512");
    assert_eq!(
        (same.kind, amt(&same.received)),
        (Kind::Transfer, Some((d("1000"), "USDT")))
    );
    assert!(same.note.as_deref().unwrap().contains("unconverted"));
    let lone = row(&rows, "fb-1513");
    assert_eq!(
        (lone.kind, amt(&lone.received)),
        (Kind::Transfer, Some((d("0.4"), "ETH")))
    );
    assert!(
        lone.note.as_deref().unwrap().contains("no Dual Investment order"),
        "{lone:?}"
    );
    assert_eq!(summary.unmatched_enrichment, 1);
    assert_eq!(rows.len(), 3);
}

// ---- ordering and windows ----------------------------------------------------------------

#[test]
fn ledgers_merge_in_time_order_with_numeric_id_ties() {
    let src = source(vec![
        tb("10", T0, "1", "11", "USDT", "1", json!({})),
        tb("9", T0, "1", "11", "USDT", "1", json!({})),
        fb("5", T0, "130", "USDT", "-1"),
        fb("100", T0 - 5, "130", "USDT", "-1"),
        spot("20", T0 + 3, "1", "USDT", "-10", "0", ("1", "1")),
        fb("6", T0 + 4, "130", "USDT", "-1"),
        spot("21", T0 + 5, "1", "LTC", "0.1", "0", ("1", "1")),
        tb("22", T0 + 6, "1", "11", "USDT", "1", json!({})),
    ]);
    let (rows, _) = run(&src);
    let ids: Vec<&str> = rows.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, ["fb-100", "fb-5", "tb-9", "tb-10", "fb-6", "tb-21", "tb-22"]);
}

#[test]
fn time_window_filters_rows_but_not_processing() {
    let src = source(vec![
        spot("31", T0 - 1, "1", "USDT", "-10", "0", ("1", "1")),
        spot("32", T0 + 1, "1", "LTC", "0.1", "0", ("1", "1")),
        tb("33", T0 + 100, "999", "9999", "USDT", "1", json!({})),
        fb("34", T0 + 200, "130", "USDT", "-1"),
    ]);
    let at = |ms| DateTime::from_timestamp_millis(ms);
    let opts = NormalizeOptions {
        from: at(T0),
        to: at(T0 + 200),
        ..NormalizeOptions::default()
    };
    let (rows, summary) = run_with(&src, &opts);
    let ids: Vec<&str> = rows.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, ["tb-32", "tb-33"], "the pair is whole; `to` is exclusive");
    assert_eq!(summary.unclassified, 1);
    assert_eq!(summary.rows_by_kind.values().sum::<u64>(), 2);
}

#[test]
fn many_bills_stream_through_bounded_buffers() {
    // 20,000 spot legs with no partner would each wait; the pending buffer must stay bounded
    // and output stays ordered and complete.
    let mut records = Vec::new();
    for i in 0..20_000i64 {
        let id = (1000 + i).to_string();
        records.push(spot(&id, T0 + i / 7, "1", "USDT", "-1", "0", (&id, &id)));
    }
    let src = source(records);
    let (rows, _) = run(&src);
    assert_eq!(rows.len(), 20_000);
}

// ---- property: random ledgers keep the invariant -----------------------------------------

mod property {
    use super::*;
    use proptest::prelude::*;

    fn dec(m: i64, scale: u32) -> String {
        let mut v = Decimal::new(m, scale);
        v.rescale(16);
        v.to_string()
    }

    /// Builds bills of many families from random numbers.
    fn build(events: &[(u8, i64, i64, i64, u16, u32)]) -> Vec<StoredRecord> {
        let mut out = Vec::new();
        let mut ts = T0;
        let ccys = ["BTC", "ETH", "USDT", "LTC"];
        for (n, &(family, a, b, c, gap, scale)) in events.iter().enumerate() {
            ts += i64::from(gap % 3000);
            let id = (10_000 + 10 * n).to_string();
            let id2 = (10_001 + 10 * n).to_string();
            let ccy = ccys[(a.unsigned_abs() % 4) as usize];
            let other = ccys[((a.unsigned_abs() + 1) % 4) as usize];
            let fee = match c % 3 {
                0 => "0".to_string(),
                1 => dec(-c.abs(), scale + 2),
                _ => dec(c.abs(), scale + 2),
            };
            match family % 12 {
                0 => {
                    // spot pair, fee on the received leg, random order of legs
                    let recv = spot(&id, ts, "1", ccy, &dec(a.abs() + 1, scale), &fee, (&id, "t"));
                    let sent = spot(
                        &id2,
                        ts + i64::from(gap % 3),
                        "1",
                        other,
                        &dec(-b.abs() - 1, scale),
                        "0",
                        (&id, "t"),
                    );
                    if gap % 2 == 0 {
                        out.extend([recv, sent]);
                    } else {
                        out.extend([sent, recv]);
                    }
                }
                1 => out.push(spot(&id, ts, "2", ccy, &dec(a, scale), &fee, (&id, "lonely"))),
                2 => out.push(swap(
                    &id,
                    ts,
                    ("2", "5"),
                    &dec(a + b + c, scale),
                    &dec(a, scale),
                    &dec(c, scale),
                    "",
                )),
                3 => {
                    let pos = if b % 2 == 0 { String::new() } else { dec(b, scale) };
                    out.push(swap(
                        &id,
                        ts,
                        ("5", "104"),
                        &dec(a, scale),
                        &dec(b, scale),
                        &fee,
                        &pos,
                    ));
                }
                4 => out.push(swap(
                    &id,
                    ts,
                    ("8", "173"),
                    &dec(a, scale),
                    if b % 2 == 0 { "" } else { "0.1" },
                    "",
                    "",
                )),
                5 => out.push(tb(&id, ts, "1", "12", ccy, &dec(a, scale), json!({}))),
                6 => out.push(tb(
                    &id,
                    ts,
                    "777",
                    "7777",
                    ccy,
                    &dec(a, scale),
                    json!({"fee": fee}),
                )),
                7 => out.push(tb(
                    &id,
                    ts,
                    "27",
                    "318",
                    ccy,
                    &dec(a.abs(), scale),
                    json!({"tradeId": id}),
                )),
                8 => {
                    let codes = ["1", "2", "13", "83", "221", "222", "130", "272", "9999", "161"];
                    let code = codes[(b.unsigned_abs() % 10) as usize];
                    out.push(fb(&id, ts, code, ccy, &dec(a, scale)));
                }
                9 => {
                    let amt = Decimal::new(a.abs() + 1, scale);
                    let wfee = Decimal::new(c.abs(), scale + 1);
                    out.push(withdrawal(&id, ts, ccy, &amt.to_string(), &wfee.to_string(), "2"));
                    let chg = if b % 2 == 0 { -(amt + wfee) } else { -amt };
                    out.push(fb(&id2, ts + 3, "2", ccy, &chg.to_string()));
                }
                10 => {
                    let amt = Decimal::new(a.abs() + 1, scale);
                    out.push(deposit(
                        &id,
                        ts,
                        ccy,
                        &amt.to_string(),
                        if b % 3 == 0 { "1" } else { "2" },
                    ));
                    out.push(fb(&id2, ts + 60_000, "1", ccy, &amt.to_string()));
                }
                _ => out.push(tb(&id, ts, "2", "1", ccy, "12x", json!({}))),
            }
        }
        out
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(96))]
        #[test]
        fn random_ledgers_keep_the_invariant(
            events in proptest::collection::vec(
                (any::<u8>(), -1_000_000i64..1_000_000, -1_000_000i64..1_000_000,
                 -10_000i64..10_000, any::<u16>(), 0u32..9),
                0..60,
            )
        ) {
            let src = source(build(&events));
            // `run` asserts the invariant, exactly-once representation and ordering.
            let (rows, summary) = run(&src);
            prop_assert!(rows.len() as u64 >= summary.unclassified);
        }
    }
}

/// Issue 19 item 5: a blockchain withdrawal fee booked as its own funding bill (type 221)
/// and its refund (222) are withdrawal fees in `tax-summary.csv`, not spot trading fees.
#[test]
fn withdrawal_fee_bills_are_withdrawal_fees_in_the_tax_summary() {
    use crate::export::TaxSummary;
    use crate::export::testdata::fixed_value;
    let src = source(vec![
        withdrawal("W2", T0 + 1000, "ETH", "2", "0.001", "2"),
        fb("1102", T0 + 1010, "2", "ETH", "-2.0000000000000000"),
        fb("1103", T0 + 1010, "221", "ETH", "-0.001"),
        fb("1104", T0 + 2000, "222", "ETH", "0.0004"),
    ]);
    let (rows, _) = run(&src);
    let mut t = TaxSummary::new();
    for tx in &rows {
        t.add(tx, &fixed_value(tx, "USD"));
    }
    assert_eq!(t.line("fees", "spot", "ETH"), None, "{:?}", t.rows("USD"));
    assert_eq!(t.line("fees", "rebates", "ETH"), None, "{:?}", t.rows("USD"));
    let w = t
        .line("fees", "withdrawal", "ETH")
        .expect("a fees,withdrawal line");
    // 0.001 paid, 0.0004 refunded: 0.0006 ETH at the fixed 3400.
    assert_eq!((w.amount, w.rows), (d("0.0006"), 2));
    assert_eq!(w.value(), Some(d("2.04")));
}

/// Issue 19 item 6: two crypto↔fiat converts in the same millisecond (400 EUR → 0.005 BTC
/// and 300 EUR → 330 USDT) pair by the convert records' sizes, whatever the bills' order;
/// a pair whose record has other sizes takes no price from it and is counted as unmatched.
#[test]
fn fiat_converts_in_one_millisecond_pair_by_the_records_sizes() {
    let btc = convert("F3", "BTC-EUR", "buy", "80000", "0.005", "400");
    let usdt = convert("F4", "USDT-EUR", "buy", "0.9090909", "330", "300");
    for order in [[0, 1, 2, 3], [0, 2, 1, 3], [1, 0, 3, 2], [2, 0, 1, 3]] {
        let bills = [
            fb("1431", T0, "272", "EUR", "-400"),
            fb("1432", T0, "272", "EUR", "-300"),
            fb("1433", T0, "272", "USDT", "330"),
            fb("1434", T0, "272", "BTC", "0.005"),
        ];
        let mut records: Vec<StoredRecord> = order.iter().map(|i| bills[*i].clone()).collect();
        records.extend([btc.clone(), usdt.clone()]);
        let (rows, summary) = run(&source(records));
        let u = row(&rows, "fb-1433");
        assert_eq!(
            (amt(&u.received), amt(&u.sent), u.price, u.trade_id.as_deref()),
            (
                Some((d("330"), "USDT")),
                Some((d("300"), "EUR")),
                Some(d("0.9090909")),
                Some("F4")
            ),
            "order {order:?}"
        );
        let b = row(&rows, "fb-1434");
        assert_eq!(
            (amt(&b.received), amt(&b.sent), b.price, b.trade_id.as_deref()),
            (
                Some((d("0.005"), "BTC")),
                Some((d("400"), "EUR")),
                Some(d("80000")),
                Some("F3")
            ),
            "order {order:?}"
        );
        assert_eq!(summary.unmatched_enrichment, 0, "order {order:?}");
    }
    // The only record of the pair has other sizes: no price from it, counted, and said so.
    let src = source(vec![
        fb("1441", T0, "272", "EUR", "-400"),
        fb("1442", T0, "272", "BTC", "0.005"),
        convert("F5", "BTC-EUR", "buy", "60000", "0.005", "300"),
    ]);
    let (rows, summary) = run(&src);
    let t = row(&rows, "fb-1442");
    assert_eq!(
        (amt(&t.received), amt(&t.sent)),
        (Some((d("0.005"), "BTC")), Some((d("400"), "EUR")))
    );
    assert_eq!((t.price, t.trade_id.as_deref()), (None, None));
    assert!(t.note.as_deref().unwrap().contains("F5"), "{:?}", t.note);
    assert_eq!(summary.unmatched_enrichment, 1);
}

// ---- moves between a master and its sub-accounts (issue 18) --------------------------------

fn sub_bill(id: &str, ts: i64, ty: &str, ccy: &str, amt: &str, sub: &str) -> StoredRecord {
    let raw = json!({"billId": id, "ccy": ccy, "amt": amt, "type": ty, "subAcct": sub, "ts": ts.to_string()})
        .to_string();
    StoredRecord {
        kind: RecordKind::SubTransfer,
        key: id.into(),
        ts_ms: ts,
        link: None,
        raw,
    }
}

fn master_scope(members: &[&str]) -> AccountScope {
    AccountScope {
        uid: Some("1".into()),
        main_uid: Some("1".into()),
        subs: [("bot", "2"), ("vault", "4")]
            .into_iter()
            .map(|(n, u)| (n.to_string(), u.to_string()))
            .collect(),
        members: members.iter().map(|m| (*m).to_string()).collect(),
        internal_moves: BTreeMap::new(),
        member_sub_bills: Vec::new(),
    }
}

/// A master's transfer bills are named by their `asset/subaccount/bills` record, whether
/// the two ids are equal (`601`) or not (`602` ↔ `9602`, same ms; `603` ↔ `9603`, 2 s
/// apart); internal (a `transfer`) only when the sub-account is in the report, else a
/// withdrawal or deposit naming it. A bill no record matches is external, unnamed.
#[test]
fn master_transfers_are_internal_only_within_the_report() {
    let src = source(vec![
        fb("601", T0, "20", "USDT", "-100"),
        sub_bill("601", T0, "0", "USDT", "100", "bot"),
        fb("602", T0 + 10, "21", "ETH", "0.5"),
        sub_bill("9602", T0 + 10, "1", "ETH", "0.5", "vault"),
        fb("603", T0 + 20, "20", "SOL", "-3"),
        sub_bill("9603", T0 + 2_020, "0", "SOL", "3", "bot"),
        fb("604", T0 + 30, "21", "USDT", "7"),
        // A record in the other direction does not match a bill.
        sub_bill("9604", T0 + 30, "0", "USDT", "7", "bot"),
        fb("605", T0 + 40, "361", "USDT", "1"),
    ]);
    // The master and `bot` in one report; `vault` not.
    let opts = NormalizeOptions {
        accounts: master_scope(&["1", "2"]),
        ..NormalizeOptions::default()
    };
    let (rows, summary) = run_with(&src, &opts);
    assert_invariant(&src, &rows);
    let k = |id: &str| (row(&rows, id).kind, row(&rows, id).counterparty.as_deref());
    assert_eq!(k("fb-601"), (Kind::Transfer, Some("to sub-account bot")));
    assert_eq!(k("fb-602"), (Kind::Deposit, Some("from sub-account vault")));
    assert_eq!(k("fb-603"), (Kind::Transfer, Some("to sub-account bot")));
    assert_eq!(
        k("fb-604"),
        (Kind::Deposit, Some("from a sub-account OKX does not name"))
    );
    assert_eq!(k("fb-605"), (Kind::Deposit, Some("from a closed sub-account")));
    assert!(
        row(&rows, "fb-601")
            .note
            .as_deref()
            .unwrap()
            .contains("in this report: internal")
    );
    let vault = row(&rows, "fb-602").note.as_deref().unwrap();
    assert!(
        vault.contains("sub-account `vault` (uid 4), your own account that is not in this report"),
        "{vault}"
    );
    let sides: Vec<(&str, bool, Option<&str>)> = summary
        .sub_transfers
        .iter()
        .map(|s| (s.bill_id.as_str(), s.internal, s.counterparty_uid.as_deref()))
        .collect();
    assert_eq!(
        sides,
        [
            ("601", true, Some("2")),
            ("602", false, Some("4")),
            ("603", true, Some("2")),
            ("604", false, None),
            ("605", false, None)
        ]
    );
    // A one-profile report (no scope): every move is external.
    let (rows, _) = run(&src);
    assert_eq!(row(&rows, "fb-601").kind, Kind::Withdrawal);
    assert_eq!(row(&rows, "fb-603").kind, Kind::Withdrawal);
    assert_eq!(row(&rows, "fb-602").kind, Kind::Deposit);
}

/// A sub-account's bills 22/23 go to and come from its master: internal when the master
/// is in the report.
#[test]
fn sub_account_transfers_meet_the_master() {
    let src = source(vec![
        fb("701", T0, "23", "USDT", "100"),
        fb("702", T0 + 1, "22", "USDT", "-40"),
    ]);
    let scope = |members: &[&str]| AccountScope {
        uid: Some("2".into()),
        main_uid: Some("1".into()),
        subs: BTreeMap::new(),
        members: members.iter().map(|m| (*m).to_string()).collect(),
        internal_moves: BTreeMap::new(),
        member_sub_bills: Vec::new(),
    };
    let opts = |m: &[&str]| NormalizeOptions {
        accounts: scope(m),
        ..NormalizeOptions::default()
    };
    let (rows, _) = run_with(&src, &opts(&["1", "2"]));
    assert_eq!(row(&rows, "fb-701").kind, Kind::Transfer);
    assert_eq!(
        row(&rows, "fb-702").counterparty.as_deref(),
        Some("to the master account")
    );
    let (rows, summary) = run_with(&src, &opts(&["2"]));
    assert_eq!(row(&rows, "fb-701").kind, Kind::Deposit);
    assert_eq!(row(&rows, "fb-702").kind, Kind::Withdrawal);
    assert_eq!(amt(&row(&rows, "fb-702").sent), Some((d("40"), "USDT")));
    assert_eq!(summary.sub_transfers.len(), 2);
    assert!(
        summary
            .sub_transfers
            .iter()
            .all(|s| s.counterparty_uid.as_deref() == Some("1") && !s.internal)
    );
}

/// A deposit or withdrawal whose other side is another account of the report (the report
/// pairs the records: `fromWdId` or the same `txId`) is a `transfer`; a fee paid on the
/// way stays a `fee` row.
#[test]
fn moves_between_members_are_transfers_their_fee_a_cost() {
    let wd = json!({"wdId": "77", "ccy": "USDT", "chain": "USDT-TRC20", "amt": "100", "fee": "1",
                    "feeCcy": "USDT", "ts": T0.to_string(), "to": "TDest", "txId": "0xw", "state": "2"});
    let src = source(vec![
        deposit("55", T0, "USDT", "50", "2"),
        fb("801", T0 + 1_000, "1", "USDT", "50"),
        StoredRecord {
            kind: RecordKind::Withdrawal,
            key: "77".into(),
            ts_ms: T0,
            link: None,
            raw: wd.to_string(),
        },
        fb("802", T0 + 2_000, "2", "USDT", "-101"),
    ]);
    let opts = NormalizeOptions {
        accounts: AccountScope {
            internal_moves: [("dep:55", "profile bot"), ("wd:77", "profile savings")]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ..AccountScope::default()
        },
        ..NormalizeOptions::default()
    };
    let (rows, _) = run_with(&src, &opts);
    assert_invariant(&src, &rows);
    let dep = row(&rows, "fb-801");
    assert_eq!(
        (dep.kind, dep.counterparty.as_deref()),
        (Kind::Transfer, Some("from profile bot"))
    );
    let w = row(&rows, "fb-802");
    assert_eq!(
        (w.kind, amt(&w.sent), w.fee.as_ref()),
        (Kind::Transfer, Some((d("100"), "USDT")), None)
    );
    assert!(
        w.note
            .as_deref()
            .unwrap()
            .starts_with("withdrawal to profile savings, which is in this report: internal")
    );
    let fee = row(&rows, "fb-802:fee");
    assert_eq!((fee.kind, amt(&fee.sent)), (Kind::Fee, Some((d("1"), "USDT"))));
    // Without the pairing they stay a deposit and a withdrawal.
    let (rows, _) = run(&src);
    assert_eq!(row(&rows, "fb-801").kind, Kind::Deposit);
    assert_eq!(row(&rows, "fb-802").kind, Kind::Withdrawal);
}

/// A master bill no `asset/subaccount/bills` record names (OKX keeps those from
/// 2022-09-28) meets the bill of its sub-account in the report at the same ms: internal,
/// like the sub-account's side, so a group's files never hold one side alone.
#[test]
fn an_unnamed_master_bill_meets_its_member_sub_account() {
    let src = source(vec![
        fb("901", T0, "20", "USDT", "-100"),
        fb("902", T0 + 5, "20", "USDT", "-3"),
    ]);
    let mut scope = master_scope(&["1", "2"]);
    scope.member_sub_bills = vec![
        (T0, "USDT".into(), d("100"), "bot".into(), "2".into()),
        (T0 + 60_000, "USDT".into(), d("3"), "bot".into(), "2".into()),
    ];
    let opts = NormalizeOptions {
        accounts: scope,
        ..NormalizeOptions::default()
    };
    let (rows, _) = run_with(&src, &opts);
    let k = |id: &str| (row(&rows, id).kind, row(&rows, id).counterparty.as_deref());
    assert_eq!(k("fb-901"), (Kind::Transfer, Some("to sub-account bot")));
    // A minute apart is no other side: external, unnamed.
    assert_eq!(
        k("fb-902"),
        (Kind::Withdrawal, Some("to a sub-account OKX does not name"))
    );
}
