//! Simulator tests: the generated account's invariants, and the HTTP behaviour (auth,
//! limits, pagination, archives, faults) exercised through a real server with reqwest.

use super::generate::{GROUP_FIRST, GROUP_LAST};
use super::model::dec;
use super::*;
use crate::okx::endpoints::{self, RateLimit};
use crate::okx::{sign, wire};
use rust_decimal::Decimal;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::OnceLock;
use std::time::Instant;

fn demo() -> &'static SimAccount {
    static ACCOUNT: OnceLock<SimAccount> = OnceLock::new();
    ACCOUNT.get_or_init(|| SimAccount::generate(7, AccountSize::Demo, true))
}

// ---- account invariants --------------------------------------------------------------------

fn check_invariants(data: &AccountData) {
    // Ids grow, times never go back, per stream.
    for w in data.trading_bills.windows(2) {
        assert!(
            w[0].bill_id < w[1].bill_id && w[0].ts <= w[1].ts,
            "trading bills out of order at {}",
            w[1].bill_id
        );
    }
    for w in data.funding_bills.windows(2) {
        assert!(
            w[0].bill_id < w[1].bill_id && w[0].ts <= w[1].ts,
            "funding bills out of order at {}",
            w[1].bill_id
        );
    }
    for w in data.fills.windows(2) {
        assert!(w[0].bill_id < w[1].bill_id && w[0].ts <= w[1].ts);
    }
    for w in data.deposits.windows(2) {
        assert!((w[0].ts, w[0].dep_id) < (w[1].ts, w[1].dep_id));
    }
    for w in data.withdrawals.windows(2) {
        assert!((w[0].ts, w[0].wd_id) < (w[1].ts, w[1].wd_id));
    }
    for w in data.converts.windows(2) {
        assert!((w[0].ts, w[0].trade_id) < (w[1].ts, w[1].trade_id));
    }
    for b in &data.trading_bills {
        let digits = b.bill_id.to_string().len();
        assert!((18..=19).contains(&digits), "billId {}", b.bill_id);
    }

    // Running balances, never negative; final balances = sum of bills.
    let mut run: BTreeMap<(&str, &str), Decimal> = BTreeMap::new();
    for b in &data.trading_bills {
        let bal = run.entry((TRADING, b.ccy)).or_default();
        *bal += b.bal_chg;
        assert_eq!(*bal, b.bal, "trading bal of bill {}", b.bill_id);
        assert!(
            b.bal >= Decimal::ZERO,
            "negative trading {} at bill {}",
            b.ccy,
            b.bill_id
        );
    }
    for b in &data.funding_bills {
        let bal = run.entry((FUNDING, b.ccy)).or_default();
        *bal += b.bal_chg;
        assert_eq!(*bal, b.bal, "funding bal of bill {}", b.bill_id);
        assert!(
            b.bal >= Decimal::ZERO,
            "negative funding {} at bill {}",
            b.ccy,
            b.bill_id
        );
    }
    let mut savings: BTreeMap<&str, Decimal> = BTreeMap::new();
    for b in &data.funding_bills {
        match b.bill_type {
            "75" => *savings.entry(b.ccy).or_default() -= b.bal_chg,
            "76" => *savings.entry(b.ccy).or_default() -= b.bal_chg,
            _ => {}
        }
    }
    for (ccy, amt) in savings {
        run.insert((EARN, ccy), amt);
    }
    run.retain(|_, v| !v.is_zero());
    assert_eq!(run, data.balances, "final balances = sum of bills");

    // Every fill has its bill with the same trade data.
    let bills: HashMap<u64, &TradingBill> = data.trading_bills.iter().map(|b| (b.bill_id, b)).collect();
    for f in &data.fills {
        let b = bills
            .get(&f.bill_id)
            .unwrap_or_else(|| panic!("fill {} has no bill", f.trade_id));
        assert_eq!(
            (b.ts, b.inst_id, b.trade_id, b.ord_id),
            (f.ts, f.inst_id, Some(f.trade_id), Some(f.ord_id))
        );
        assert_eq!(b.fee, Some(f.fee));
        assert_eq!(b.px, Some(f.fill_px));
        assert_eq!(b.ccy, f.fee_ccy);
        if f.inst_type == "SPOT" {
            assert_eq!(
                b.bal_chg,
                f.fill_sz * if f.side == "buy" { Decimal::ONE } else { f.fill_px } + f.fee
            );
        } else {
            assert_eq!(b.bal_chg, f.fill_pnl + f.fee);
            assert_eq!(b.sz, f.fill_sz);
        }
    }
    // Each spot fill has exactly two bills (spent + received) under its trade id.
    let mut legs: HashMap<(&str, i64), Vec<&TradingBill>> = HashMap::new();
    for b in data.trading_bills.iter().filter(|b| b.inst_type == "SPOT") {
        legs.entry((b.inst_id, b.trade_id.unwrap())).or_default().push(b);
    }
    for f in data.fills.iter().filter(|f| f.inst_type == "SPOT") {
        let l = &legs[&(f.inst_id, f.trade_id)];
        assert_eq!(l.len(), 2);
        let spent = l.iter().find(|b| b.bill_id != f.bill_id).unwrap();
        assert_eq!((spent.sub_type, spent.fee), ("2", Some(Decimal::ZERO)));
        assert_eq!(spent.bal_chg, -spent.sz);
    }

    // Deposits, withdrawals, converts and transfers match their bills.
    let mut credits: Vec<(&str, Decimal)> = data
        .funding_bills
        .iter()
        .filter(|b| b.bill_type == "1")
        .map(|b| (b.ccy, b.bal_chg))
        .collect();
    let mut done: Vec<(&str, Decimal)> = data
        .deposits
        .iter()
        .filter(|d| d.state == "2")
        .map(|d| (d.ccy, d.amt))
        .collect();
    credits.sort();
    done.sort();
    assert_eq!(credits, done);
    let mut debits: Vec<(&str, Decimal)> = data
        .funding_bills
        .iter()
        .filter(|b| b.bill_type == "2")
        .map(|b| (b.ccy, b.bal_chg))
        .collect();
    // Successful withdrawals, plus canceled ones whose hold a type-13 bill returned.
    let refunds: Vec<(&str, Decimal)> = data
        .funding_bills
        .iter()
        .filter(|b| b.bill_type == "13")
        .map(|b| (b.ccy, b.bal_chg))
        .collect();
    let mut wds: Vec<(&str, Decimal)> = data
        .withdrawals
        .iter()
        .filter(|w| w.state == "2" || (w.state == "-2" && refunds.contains(&(w.ccy, w.amt + w.fee))))
        .map(|w| (w.ccy, -(w.amt + w.fee)))
        .collect();
    debits.sort();
    wds.sort();
    assert_eq!(debits, wds);
    for c in data.converts.iter().filter(|c| c.quote_ccy == "EUR") {
        // Crypto↔fiat converts: two funding bills of one type at the record's time.
        let legs: Vec<_> = data
            .funding_bills
            .iter()
            .filter(|b| matches!(b.bill_type, "272" | "273") && b.ts == c.ts)
            .collect();
        let want = if c.state == "fullyFilled" { 2 } else { 0 };
        assert_eq!(legs.len(), want, "fiat convert {}", c.trade_id);
        if want == 2 {
            let base: Decimal = legs
                .iter()
                .filter(|b| b.ccy == c.base_ccy)
                .map(|b| b.bal_chg.abs())
                .sum();
            let quote: Decimal = legs
                .iter()
                .filter(|b| b.ccy == c.quote_ccy)
                .map(|b| b.bal_chg.abs())
                .sum();
            assert_eq!(
                (base, quote),
                (c.fill_base_sz, c.fill_quote_sz),
                "fiat convert {}",
                c.trade_id
            );
        }
    }
    for c in data.converts.iter().filter(|c| c.quote_ccy != "EUR") {
        let n = data
            .trading_bills
            .iter()
            .filter(|b| b.bill_type == "27" && b.trade_id == Some(c.trade_id as i64))
            .count();
        assert_eq!(
            n,
            if c.state == "fullyFilled" { 2 } else { 0 },
            "convert {}",
            c.trade_id
        );
    }
    let mut flows: BTreeMap<&str, Decimal> = BTreeMap::new();
    for b in data.trading_bills.iter().filter(|b| b.bill_type == "1") {
        *flows.entry(b.ccy).or_default() += b.bal_chg;
    }
    for b in data
        .funding_bills
        .iter()
        .filter(|b| b.bill_type == "130" || b.bill_type == "131")
    {
        *flows.entry(b.ccy).or_default() += b.bal_chg;
    }
    assert!(
        flows.values().all(rust_decimal::Decimal::is_zero),
        "transfers must net to zero: {flows:?}"
    );
}

#[test]
fn demo_account_is_consistent() {
    check_invariants(&demo().data());
}

#[test]
fn demo_account_has_every_stream_and_code() {
    let d = demo().data();
    for (name, n) in [
        ("deposits", d.deposits.len()),
        ("withdrawals", d.withdrawals.len()),
        ("converts", d.converts.len()),
        ("funding bills", d.funding_bills.len()),
    ] {
        assert!(n > GROUP_LAST + 1, "{name}: {n}");
    }
    let types: BTreeSet<(&str, &str)> = d
        .trading_bills
        .iter()
        .map(|b| (b.bill_type, b.sub_type))
        .collect();
    for code in [
        ("1", "11"),
        ("1", "12"),
        ("2", "1"),
        ("2", "2"),
        ("2", "3"),
        ("2", "4"),
        ("2", "5"),
        ("2", "6"),
        ("7", "9"),
        ("8", "173"),
        ("8", "174"),
        ("27", "318"),
        ("27", "319"),
        ("999", "9999"),
    ] {
        assert!(types.contains(&code), "missing trading bill {code:?}");
    }
    assert!(types.iter().any(|t| t.0 == "3" && (t.1 == "112" || t.1 == "113")));
    assert!(types.iter().any(|t| t.0 == "5" && (t.1 == "104" || t.1 == "105")));
    let ftypes: BTreeSet<&str> = d.funding_bills.iter().map(|b| b.bill_type).collect();
    for t in [
        "1", "2", "13", "68", "75", "76", "83", "130", "131", "151", "160", "161", "162", "229", "272",
        "273", "400",
    ] {
        assert!(ftypes.contains(t), "missing funding bill type {t}");
    }
    let states: BTreeSet<&str> = d.deposits.iter().map(|x| x.state).collect();
    assert_eq!(states, BTreeSet::from(["0", "1", "11", "2"]));
    let states: BTreeSet<&str> = d.withdrawals.iter().map(|x| x.state).collect();
    assert_eq!(states, BTreeSet::from(["-1", "-2", "0", "2", "4"]));
    assert!(d.fills.iter().any(|f| f.inst_id == "LUNC-USDT"));
    assert!(d.fills.iter().any(|f| f.inst_id == "BTC-USD-251226"));
    assert!(
        d.fills
            .iter()
            .any(|f| f.trade_id < 0 && f.fill_pnl < Decimal::ZERO)
    );
    assert!(d.fills.iter().any(|f| f.fee > Decimal::ZERO), "a maker rebate");
    assert!(
        d.fills.iter().any(|f| f.ts >= SIM_NOW_MS - 3 * 86_400_000),
        "fills in the 3-day window"
    );
    assert_eq!(
        d.balance(TRADING, "LUNC"),
        Decimal::ZERO,
        "LUNC sold out before delisting"
    );
    // Complete quarters 2025 Q3/Q4 and the current quarter all have trading bills.
    for (from, to) in [
        (1_751_328_000_000, 1_759_276_800_000),
        (1_759_276_800_000, 1_767_225_600_000),
    ] {
        assert!(
            d.trading_bills
                .iter()
                .filter(|b| b.ts >= from && b.ts < to)
                .count()
                > 100
        );
    }
    // The same-millisecond groups straddle the 100-record page boundary.
    let groups = d.same_ms_groups();
    assert_eq!(groups.len(), 4, "{groups:?}");
    for g in groups {
        assert_eq!((g.first, g.last), (GROUP_FIRST, GROUP_LAST), "{g:?}");
    }
}

#[test]
fn generation_is_deterministic() {
    let a = SimAccount::generate(7, AccountSize::Demo, true).snapshot();
    let b = demo().snapshot();
    assert_eq!(a.trading_bills, b.trading_bills);
    assert_eq!(a.deposits, b.deposits);
    assert_eq!(a.balances, b.balances);
    let c = SimAccount::generate(8, AccountSize::Demo, false).snapshot();
    assert_ne!(a.fills, c.fills);
    check_invariants(&c);
    assert_eq!(c.same_ms_groups().len(), 4);
}

#[test]
fn bench_account_is_big_and_consistent() {
    let a = SimAccount::generate(11, AccountSize::Bench, false);
    let d = a.data();
    assert!(d.fills.len() >= 20_000, "fills {}", d.fills.len());
    assert!(d.trading_bills.len() >= 20_000);
    assert!(d.deposits.len() + d.withdrawals.len() >= 2_000);
    let recent = d
        .fills
        .iter()
        .filter(|f| f.inst_type == "SPOT" && f.ts >= SIM_NOW_MS - 89 * 86_400_000)
        .count();
    assert!(recent * 10 >= d.fills.len() * 7, "mostly recent spot: {recent}");
    check_invariants(&d);
    assert_eq!(d.same_ms_groups().len(), 4);
}

/// The two-year account (issue 23): about 24,000 records from 2024-01-01, every one of
/// the eight quarters before the current one active, and consistent.
#[test]
fn two_year_account_spans_eight_quarters() {
    let a = SimAccount::generate(7, AccountSize::TwoYear, false);
    let d = a.data();
    let records = d.fills.len()
        + d.trading_bills.len()
        + d.funding_bills.len()
        + d.deposits.len()
        + d.withdrawals.len()
        + d.converts.len();
    println!(
        "two-year account: {records} records ({} fills, {} trading bills, {} funding bills, {} deposits, {} withdrawals, {} converts)",
        d.fills.len(),
        d.trading_bills.len(),
        d.funding_bills.len(),
        d.deposits.len(),
        d.withdrawals.len(),
        d.converts.len()
    );
    assert!((22_000..=26_000).contains(&records), "{records} records");
    let start = AccountSize::TwoYear.start_ms();
    assert_eq!(start, 1_704_067_200_000);
    assert!(d.trading_bills.iter().all(|b| b.ts >= start));
    // Every quarter from 2024Q1 to 2025Q4 has trading bills.
    let quarter_ms = 91 * 86_400_000;
    for q in 0..8 {
        let from = start + q * quarter_ms;
        assert!(
            d.trading_bills
                .iter()
                .any(|b| b.ts >= from && b.ts < from + 80 * 86_400_000),
            "no bills in quarter {q}"
        );
    }
    check_invariants(&d);
}

#[test]
fn add_activity_appends_after_everything() {
    let a = SimAccount::generate(7, AccountSize::Demo, false);
    let before = a.snapshot();
    a.add_activity(5, SIM_NOW_MS + 1234);
    let after = a.snapshot();
    assert_eq!(after.fills.len(), before.fills.len() + 5);
    assert_eq!(after.trading_bills.len(), before.trading_bills.len() + 10);
    assert_eq!(after.deposits.len(), before.deposits.len() + 1);
    assert!(after.deposits.last().unwrap().ts >= SIM_NOW_MS + 1234);
    assert!(after.fills[before.fills.len()].bill_id > before.trading_bills.last().unwrap().bill_id);
    check_invariants(&after);
}

#[test]
fn sliding_window_admits_exactly_count_per_window() {
    let limit = RateLimit {
        count: 3,
        per: std::time::Duration::from_secs(1),
    };
    let mut w = SlidingWindow::new();
    let t0 = Instant::now();
    let at = |ms: u64| t0 + std::time::Duration::from_millis(ms);
    assert!(w.try_acquire(at(0), limit));
    assert!(w.try_acquire(at(100), limit));
    assert!(w.try_acquire(at(200), limit));
    assert!(!w.try_acquire(at(300), limit), "4th within the window");
    assert!(!w.try_acquire(at(999), limit));
    // At exactly +1000 ms the first request is no longer strictly newer than now - per.
    assert!(w.try_acquire(at(1000), limit));
    assert!(!w.try_acquire(at(1050), limit));
    assert!(w.try_acquire(at(1100), limit));
    assert!(w.try_acquire(at(1200), limit));
    assert!(!w.try_acquire(at(1250), limit));
    // Refused requests do not count: a full window later everything is free again.
    for i in 0..3 {
        assert!(w.try_acquire(at(3000 + i), limit));
    }
    assert!(!w.try_acquire(at(3003), limit));
}

// ---- HTTP -------------------------------------------------------------------------------

async fn json(r: reqwest::Response) -> Value {
    serde_json::from_str(&r.text().await.unwrap()).unwrap()
}

struct Api {
    http: reqwest::Client,
    base: String,
    key: SimKey,
    offset_ms: i64,
}

impl Api {
    async fn new(sim: &SimServer) -> Api {
        let http = reqwest::Client::new();
        let base = sim.base_url();
        let t = json(
            http.get(format!("{base}/api/v5/public/time"))
                .send()
                .await
                .unwrap(),
        )
        .await;
        let server_ms: i64 = t["data"][0]["ts"].as_str().unwrap().parse().unwrap();
        let offset_ms = server_ms - chrono::Utc::now().timestamp_millis();
        Api {
            http,
            base,
            key: SimKey::demo(),
            offset_ms,
        }
    }

    fn timestamp(&self, skew_ms: i64) -> String {
        let ms = chrono::Utc::now().timestamp_millis() + self.offset_ms + skew_ms;
        sign::timestamp(chrono::DateTime::from_timestamp_millis(ms).unwrap())
    }

    fn signed(&self, method: &str, path_q: &str, body: &str) -> reqwest::RequestBuilder {
        let ts = self.timestamp(0);
        let sig = sign::sign(&self.key.secret, &ts, method, path_q, body);
        let url = format!("{}{path_q}", self.base);
        let rb = if method == "POST" {
            self.http
                .post(url)
                .body(body.to_string())
                .header("Content-Type", "application/json")
        } else {
            self.http.get(url)
        };
        rb.header("OK-ACCESS-KEY", &self.key.api_key)
            .header("OK-ACCESS-PASSPHRASE", &self.key.passphrase)
            .header("OK-ACCESS-TIMESTAMP", ts)
            .header("OK-ACCESS-SIGN", sig)
    }

    async fn send(rb: reqwest::RequestBuilder) -> (u16, Value) {
        let r = rb.send().await.unwrap();
        let status = r.status().as_u16();
        (status, json(r).await)
    }

    async fn get(&self, path_q: &str) -> (u16, Value) {
        Api::send(self.signed("GET", path_q, "")).await
    }

    async fn post(&self, path: &str, body: &str) -> (u16, Value) {
        Api::send(self.signed("POST", path, body)).await
    }
}

fn fast() -> SimConfig {
    SimConfig {
        rate_scale: 1000,
        ..SimConfig::default()
    }
}

fn code(v: &Value) -> &str {
    v["code"].as_str().unwrap()
}

#[tokio::test]
async fn auth_rejects_with_okx_codes() {
    let mut cfg = fast();
    cfg.keys.push(SimKey {
        api_key: "demo-trading".into(),
        demo_trading: true,
        ..SimKey::demo()
    });
    cfg.keys.push(SimKey {
        api_key: "no-ip".into(),
        ip_allowed: false,
        ..SimKey::demo()
    });
    let sim = SimServer::start(cfg).await.unwrap();
    let api = Api::new(&sim).await;
    let path = "/api/v5/account/config";

    let (s, v) = api.get(path).await;
    assert_eq!((s, code(&v)), (200, "0"), "{v}");
    let cfg: wire::Envelope<wire::AccountConfig> = wire::decode(&v.to_string()).unwrap();
    assert!(cfg.data[0].is_read_only());
    assert_eq!(cfg.data[0].uid.as_deref(), Some("10000001"));

    let ts = api.timestamp(0);
    let bad_sig = sign::sign("wrong-secret", &ts, "GET", path, "");
    let base = |ts: &str| {
        api.http
            .get(format!("{}{path}", api.base))
            .header("OK-ACCESS-KEY", "demo-key")
            .header("OK-ACCESS-PASSPHRASE", "demo-passphrase")
            .header("OK-ACCESS-TIMESTAMP", ts.to_string())
    };
    let (s, v) = Api::send(base(&ts).header("OK-ACCESS-SIGN", &bad_sig)).await;
    assert_eq!((s, code(&v)), (401, "50113"), "bad signature: {v}");

    // Signature over a different query than the one sent.
    let sig = sign::sign(&api.key.secret, &ts, "GET", "/api/v5/account/config?x=1", "");
    let (s, v) = Api::send(base(&ts).header("OK-ACCESS-SIGN", sig)).await;
    assert_eq!((s, code(&v)), (401, "50113"));

    let good = sign::sign(&api.key.secret, &ts, "GET", path, "");
    let wrong_pass = api
        .http
        .get(format!("{}{path}", api.base))
        .header("OK-ACCESS-KEY", "demo-key")
        .header("OK-ACCESS-PASSPHRASE", "nope")
        .header("OK-ACCESS-TIMESTAMP", &ts)
        .header("OK-ACCESS-SIGN", &good);
    let (s, v) = Api::send(wrong_pass).await;
    assert_eq!((s, code(&v)), (401, "50105"));

    let stale = api.timestamp(-31_000);
    let sig = sign::sign(&api.key.secret, &stale, "GET", path, "");
    let (s, v) = Api::send(base(&stale).header("OK-ACCESS-SIGN", sig)).await;
    assert_eq!((s, code(&v)), (401, "50102"), "stale timestamp");
    let wall = sign::timestamp(chrono::Utc::now());
    let sig = sign::sign(&api.key.secret, &wall, "GET", path, "");
    let (_, v) = Api::send(base(&wall).header("OK-ACCESS-SIGN", sig)).await;
    assert_eq!(code(&v), "50102", "the wall clock is not the sim clock");
    let (s, v) = Api::send(base("1700000000000").header("OK-ACCESS-SIGN", &good)).await;
    assert_eq!((s, code(&v)), (401, "50112"));

    let (_, v) = Api::send(api.http.get(format!("{}{path}", api.base))).await;
    assert_eq!(code(&v), "50103");
    let (_, v) = Api::send(
        api.http
            .get(format!("{}{path}", api.base))
            .header("OK-ACCESS-KEY", "demo-key"),
    )
    .await;
    assert_eq!(code(&v), "50104");
    let (_, v) = Api::send(base(&ts)).await;
    assert_eq!(code(&v), "50106");

    let mut other = Api::new(&sim).await;
    other.key.api_key = "nobody".into();
    assert_eq!(code(&other.get(path).await.1), "50119");
    other.key.api_key = "demo-trading".into();
    assert_eq!(
        code(&other.get(path).await.1),
        "50101",
        "demo key without the demo header"
    );
    let (_, v) = Api::send(other.signed("GET", path, "").header("x-simulated-trading", "1")).await;
    assert_eq!(code(&v), "0");
    assert_eq!(
        code(
            &Api::send(api.signed("GET", path, "").header("x-simulated-trading", "1"))
                .await
                .1
        ),
        "50101"
    );
    other.key.api_key = "no-ip".into();
    assert_eq!(code(&other.get(path).await.1), "50110");

    let stats = sim.stats();
    assert!(stats.get("account-config").auth_failures >= 10, "{stats:?}");
    sim.shutdown().await;
}

#[tokio::test]
async fn rate_limit_is_a_sliding_window_per_endpoint() {
    let sim = SimServer::start(SimConfig::default()).await.unwrap();
    let api = Api::new(&sim).await;
    let limit = endpoints::ACCOUNT_CONFIG.limit.count as usize;
    let mut codes = Vec::new();
    for _ in 0..limit + 2 {
        let (s, v) = api.get("/api/v5/account/config").await;
        codes.push((s, code(&v).to_string()));
    }
    assert!(codes[..limit].iter().all(|c| c.1 == "0"), "{codes:?}");
    assert!(
        codes[limit..].iter().all(|c| *c == (429, "50011".to_string())),
        "{codes:?}"
    );
    // Another endpoint has its own window.
    assert_eq!(code(&api.get("/api/v5/asset/balances").await.1), "0");
    let stats = sim.stats();
    assert_eq!(stats.get("account-config").requests, limit as u64 + 2);
    assert_eq!(stats.get("account-config").rate_limited, 2);
    assert_eq!(stats.total_rate_limited, 2);
    sim.reset_stats();
    assert_eq!(sim.stats().total_requests, 0);
    sim.shutdown().await;
}

#[tokio::test]
async fn deposit_history_pages_strictly_older_and_the_group_straddles() {
    let sim = SimServer::start(fast()).await.unwrap();
    let api = Api::new(&sim).await;
    let truth = sim.account().deposits();
    let (_, v) = api.get("/api/v5/asset/deposit-history").await;
    let page1: wire::Envelope<wire::Deposit> = wire::decode(&v.to_string()).unwrap();
    assert_eq!(page1.data.len(), 100);
    let ts = |d: &wire::Deposit| d.ts.unwrap().timestamp_millis();
    assert!(
        page1.data.windows(2).all(|w| ts(&w[0]) >= ts(&w[1])),
        "newest first"
    );
    let newest = truth
        .iter()
        .rev()
        .take(100)
        .map(|d| d.dep_id.to_string())
        .collect::<Vec<_>>();
    assert_eq!(
        page1.data.iter().map(|d| d.dep_id.clone()).collect::<Vec<_>>(),
        newest
    );
    let oldest = ts(page1.data.last().unwrap());
    // The group: positions 97..=101 share one ts, 3 on this page and 2 on the next.
    let same = page1.data.iter().filter(|d| ts(d) == oldest).count();
    assert_eq!(same, 100 - GROUP_FIRST);

    let (_, v) = api
        .get(&format!("/api/v5/asset/deposit-history?after={oldest}"))
        .await;
    let page2: wire::Envelope<wire::Deposit> = wire::decode(&v.to_string()).unwrap();
    assert!(
        page2.data.iter().all(|d| ts(d) < oldest),
        "after = strictly older"
    );
    let skipped: Vec<_> = truth.iter().filter(|d| d.ts == oldest).collect();
    assert_eq!(skipped.len(), GROUP_LAST - GROUP_FIRST + 1);
    // The overlap walk (after = oldest + 1, dedupe by depId) sees the whole group.
    let (_, v) = api
        .get(&format!("/api/v5/asset/deposit-history?after={}", oldest + 1))
        .await;
    let overlap: wire::Envelope<wire::Deposit> = wire::decode(&v.to_string()).unwrap();
    assert_eq!(
        overlap.data.iter().filter(|d| ts(d) == oldest).count(),
        skipped.len()
    );

    // Walking everything with the overlap strategy returns every deposit exactly once.
    let mut seen = BTreeSet::new();
    let mut cursor: Option<i64> = None;
    loop {
        let q = cursor
            .map(|c| format!("?after={}&limit=100", c + 1))
            .unwrap_or_default();
        let (_, v) = api.get(&format!("/api/v5/asset/deposit-history{q}")).await;
        let page: wire::Envelope<wire::Deposit> = wire::decode(&v.to_string()).unwrap();
        let before = seen.len();
        for d in &page.data {
            seen.insert(d.dep_id.clone());
        }
        if page.data.len() < 100 || seen.len() == before {
            break;
        }
        cursor = Some(ts(page.data.last().unwrap()));
    }
    assert_eq!(seen.len(), truth.len());

    // before = strictly newer; limit; bad limit.
    let (_, v) = api
        .get(&format!("/api/v5/asset/deposit-history?before={oldest}&limit=5"))
        .await;
    let newer: wire::Envelope<wire::Deposit> = wire::decode(&v.to_string()).unwrap();
    assert_eq!(newer.data.len(), 5);
    assert!(newer.data.iter().all(|d| ts(d) > oldest));
    let (s, v) = api.get("/api/v5/asset/deposit-history?limit=101").await;
    assert_eq!((s, code(&v)), (400, "51000"));
    sim.shutdown().await;
}

#[tokio::test]
async fn bill_and_fill_endpoints_follow_windows_cursors_and_filters() {
    let from = SIM_NOW_MS - 40 * 86_400_000;
    let to = SIM_NOW_MS - 35 * 86_400_000;
    let sim = SimServer::start(SimConfig {
        withhold_bills: Some((from, to)),
        ..fast()
    })
    .await
    .unwrap();
    let api = Api::new(&sim).await;
    let truth = sim.account().snapshot();

    // fills-history needs instType.
    let (s, v) = api.get("/api/v5/trade/fills-history").await;
    assert_eq!((s, code(&v)), (400, "50014"));

    // Walk fills-history SPOT with `after` = billId; compare with the ground truth.
    let mut got = Vec::new();
    let mut after = String::new();
    loop {
        let (_, v) = api
            .get(&format!("/api/v5/trade/fills-history?instType=SPOT{after}"))
            .await;
        let page: wire::Envelope<wire::Fill> = wire::decode(&v.to_string()).unwrap();
        let n = page.data.len();
        if let Some(last) = page.data.last() {
            after = format!("&after={}", last.bill_id);
        }
        got.extend(page.data);
        if n < 100 {
            break;
        }
    }
    let cutoff = sim.now_ms() - 90 * 86_400_000;
    let expect: Vec<String> = truth
        .fills
        .iter()
        .rev()
        .filter(|f| f.inst_type == "SPOT" && f.ts >= cutoff)
        .map(|f| f.bill_id.to_string())
        .collect();
    assert!(expect.len() > 200);
    assert_eq!(got.iter().map(|f| f.bill_id.clone()).collect::<Vec<_>>(), expect);
    let raw = truth.fills.iter().rev().find(|f| f.inst_type == "SPOT").unwrap();
    assert_eq!(got[0].fee, Some(raw.fee));
    assert_eq!(got[0].fee_ccy.as_deref(), Some(raw.fee_ccy));

    // fills: only the last 3 days.
    let (_, v) = api.get("/api/v5/trade/fills?limit=100").await;
    let recent: wire::Envelope<wire::Fill> = wire::decode(&v.to_string()).unwrap();
    assert!(!recent.data.is_empty());
    assert!(
        recent
            .data
            .iter()
            .all(|f| f.ts.unwrap().timestamp_millis() >= sim.now_ms() - 3 * 86_400_000 - 1000)
    );

    // bills-archive: withheld range is missing, type filter works, 16-decimal bal.
    let mut all = Vec::new();
    let mut after = String::new();
    loop {
        let (_, v) = api
            .get(&format!("/api/v5/account/bills-archive?limit=100{after}"))
            .await;
        assert_eq!(code(&v), "0");
        if all.is_empty() {
            let bal = v["data"][0]["bal"].as_str().unwrap();
            assert_eq!(bal.split('.').nth(1).map(str::len), Some(16), "{bal}");
        }
        let page: wire::Envelope<wire::Bill> = wire::decode(&v.to_string()).unwrap();
        let n = page.data.len();
        if let Some(last) = page.data.last() {
            after = format!("&after={}", last.bill_id);
        }
        all.extend(page.data);
        if n < 100 {
            break;
        }
    }
    let in_window = |ts: i64| ts >= sim.now_ms() - 90 * 86_400_000;
    let expect = truth
        .trading_bills
        .iter()
        .filter(|b| in_window(b.ts) && !(b.ts >= from && b.ts < to))
        .count();
    assert_eq!(all.len(), expect);
    assert!(all.iter().all(|b| {
        let t = b.ts.unwrap().timestamp_millis();
        !(t >= from && t < to)
    }));
    let (_, v) = api.get("/api/v5/account/bills-archive?type=8&subType=173").await;
    let funding: wire::Envelope<wire::Bill> = wire::decode(&v.to_string()).unwrap();
    assert!(!funding.data.is_empty());
    assert!(
        funding
            .data
            .iter()
            .all(|b| b.pnl.unwrap() < Decimal::ZERO && b.bal_chg == b.pnl.unwrap())
    );

    // begin/end filter and before cursor on bills.
    let mid = &truth.trading_bills[truth.trading_bills.len() - 30];
    let (_, v) = api
        .get(&format!("/api/v5/account/bills?before={}", mid.bill_id))
        .await;
    let newer: wire::Envelope<wire::Bill> = wire::decode(&v.to_string()).unwrap();
    assert_eq!(newer.data.len(), 29);
    let (_, v) = api
        .get(&format!("/api/v5/account/bills?begin={}&end={}", mid.ts, mid.ts))
        .await;
    let exact: wire::Envelope<wire::Bill> = wire::decode(&v.to_string()).unwrap();
    assert!(exact.data.iter().any(|b| b.bill_id == mid.bill_id.to_string()));
    assert!(
        exact
            .data
            .iter()
            .all(|b| b.ts.unwrap().timestamp_millis() == mid.ts)
    );

    // Funding bills: ts cursor by default, billId with pagingType=2.
    let (_, v) = api.get("/api/v5/asset/bills-history?pagingType=2&limit=3").await;
    let fb: wire::Envelope<wire::FundingBill> = wire::decode(&v.to_string()).unwrap();
    let (_, v) = api
        .get(&format!(
            "/api/v5/asset/bills-history?pagingType=2&limit=3&after={}",
            fb.data[2].bill_id
        ))
        .await;
    let fb2: wire::Envelope<wire::FundingBill> = wire::decode(&v.to_string()).unwrap();
    let ids: Vec<&String> = fb.data.iter().chain(&fb2.data).map(|b| &b.bill_id).collect();
    let expect: Vec<String> = truth
        .funding_bills
        .iter()
        .rev()
        .take(6)
        .map(|b| b.bill_id.to_string())
        .collect();
    assert_eq!(ids, expect.iter().collect::<Vec<_>>());
    sim.shutdown().await;
}

#[tokio::test]
async fn balances_instruments_and_converts_decode_and_match() {
    let sim = SimServer::start(fast()).await.unwrap();
    let api = Api::new(&sim).await;
    let truth = sim.account().snapshot();

    let (_, v) = api.get("/api/v5/account/balance").await;
    let tb: wire::Envelope<wire::TradingBalance> = wire::decode(&v.to_string()).unwrap();
    for d in &tb.data[0].details {
        assert_eq!(d.cash_bal.unwrap(), truth.balance(TRADING, &d.ccy), "{}", d.ccy);
    }
    assert_eq!(
        tb.data[0].details.len(),
        truth.balances.keys().filter(|k| k.0 == TRADING).count()
    );
    let (_, v) = api.get("/api/v5/asset/balances").await;
    let fb: wire::Envelope<wire::FundingBalance> = wire::decode(&v.to_string()).unwrap();
    for b in &fb.data {
        assert_eq!(b.bal.unwrap(), truth.balance(FUNDING, &b.ccy));
    }
    let (_, v) = api.get("/api/v5/finance/savings/balance").await;
    let sb: wire::Envelope<wire::SavingsBalance> = wire::decode(&v.to_string()).unwrap();
    assert_eq!(sb.data.len(), 1);
    assert_eq!(sb.data[0].amt.unwrap(), truth.balance(EARN, "USDT"));

    let r = api
        .http
        .get(format!("{}/api/v5/public/instruments?instType=SPOT", api.base))
        .send()
        .await
        .unwrap();
    let r = json(r).await;
    let inst: wire::Envelope<wire::Instrument> = wire::decode(&r.to_string()).unwrap();
    assert!(inst.data.iter().any(|i| i.inst_id == "BTC-USDT"));
    assert!(!inst.data.iter().any(|i| i.inst_id == "LUNC-USDT"), "delisted");
    let r = api
        .http
        .get(format!("{}/api/v5/public/instruments?instType=FUTURES", api.base))
        .send()
        .await
        .unwrap();
    let r = json(r).await;
    let inst: wire::Envelope<wire::Instrument> = wire::decode(&r.to_string()).unwrap();
    assert!(
        !inst.data.iter().any(|i| i.inst_id == "BTC-USD-251226"),
        "expired"
    );
    let r = api
        .http
        .get(format!("{}/api/v5/public/instruments", api.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);

    let (_, v) = api.get("/api/v5/asset/convert/history").await;
    let cv: wire::Envelope<wire::Convert> = wire::decode(&v.to_string()).unwrap();
    assert_eq!(cv.data.len(), 100);
    let (_, v) = api.get("/api/v5/asset/withdrawal-history?state=2&limit=10").await;
    let wd: wire::Envelope<wire::Withdrawal> = wire::decode(&v.to_string()).unwrap();
    assert_eq!(wd.data.len(), 10);
    assert!(
        wd.data
            .iter()
            .all(|w| w.state.as_deref() == Some("2") && w.fee_ccy.as_deref() == Some(w.ccy.as_str()))
    );
    assert_eq!(v["data"][0]["nonTradableAsset"], Value::Bool(false));

    // Unknown route.
    let (s, v) = api.get("/api/v5/account/nothing").await;
    assert_eq!((s, code(&v)), (404, "50115"));
    sim.shutdown().await;
}

#[tokio::test]
async fn time_lie_shifts_public_time_only() {
    let sim = SimServer::start(SimConfig {
        time_lie: Some(chrono::Duration::seconds(90)),
        ..fast()
    })
    .await
    .unwrap();
    let api = Api::new(&sim).await; // syncs to the lying clock
    let (s, v) = api.get("/api/v5/account/config").await;
    assert_eq!((s, code(&v)), (401, "50102"));
    let t: wire::Envelope<wire::ServerTime> = wire::decode(
        &api.http
            .get(format!("{}/api/v5/public/time", api.base))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
    )
    .unwrap();
    let lie = t.data[0].ts.unwrap().timestamp_millis() - sim.now_ms();
    assert!((89_000..=91_000).contains(&lie), "{lie}");
    sim.shutdown().await;
}

async fn archive_flow(format: ArchiveFormat) {
    let cfg = SimConfig {
        archive_format: format,
        archive_ready_after_polls: 2,
        ..fast()
    };
    let sim = SimServer::start(cfg).await.unwrap();
    let api = Api::new(&sim).await;
    let path = "/api/v5/account/bills-history-archive";
    let (_, v) = api.get(&format!("{path}?year=2025&quarter=Q3")).await;
    assert_eq!(v["data"][0]["state"], "failed", "poll without apply");
    let (s, v) = api.post(path, r#"{"year":"2026","quarter":"Q1"}"#).await;
    assert_eq!((s, code(&v)), (400, "51000"), "current quarter");
    let (s, v) = api.post(path, r#"{"year":"2020","quarter":"Q4"}"#).await;
    assert_eq!((s, code(&v)), (400, "51000"), "before 2021-02");
    let (_, v) = api.post(path, r#"{"year":"2025","quarter":"Q3"}"#).await;
    let applied: wire::Envelope<wire::ArchiveApply> = wire::decode(&v.to_string()).unwrap();
    assert_eq!(applied.data[0].result.as_deref(), Some("false"));
    let mut href = None;
    let mut states = Vec::new();
    for _ in 0..3 {
        let (_, v) = api.get(&format!("{path}?year=2025&quarter=Q3")).await;
        let poll: wire::Envelope<wire::ArchivePoll> = wire::decode(&v.to_string()).unwrap();
        states.push(poll.data[0].state.clone().unwrap());
        href = poll.data[0].file_href.clone();
    }
    assert_eq!(states, ["ongoing", "ongoing", "finished"]);
    // Waiting out the apply limit (1 per 10 s, scaled) is not needed: scaled ×1000.
    let (_, v) = api.post(path, r#"{"year":"2025","quarter":"Q3"}"#).await;
    assert_eq!(v["data"][0]["result"], "true");

    let bytes = api
        .http
        .get(href.unwrap())
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let csv_text = match format {
        ArchiveFormat::Zip => {
            assert_eq!(&bytes[..2], b"PK");
            let mut z = zip::ZipArchive::new(std::io::Cursor::new(bytes.to_vec())).unwrap();
            assert_eq!(z.len(), 1);
            let mut s = String::new();
            std::io::Read::read_to_string(&mut z.by_index(0).unwrap(), &mut s).unwrap();
            s
        }
        ArchiveFormat::Gzip => {
            assert_eq!(&bytes[..2], &[0x1f, 0x8b]);
            let mut s = String::new();
            std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&bytes[..]), &mut s).unwrap();
            s
        }
    };
    let mut rdr = csv::Reader::from_reader(csv_text.as_bytes());
    let headers: Vec<String> = rdr.headers().unwrap().iter().map(str::to_string).collect();
    assert_eq!(headers, ARCHIVE_CSV_COLUMNS);
    let rows: Vec<csv::StringRecord> = rdr.records().map(Result::unwrap).collect();
    let truth = sim.account().trading_bills();
    let expect: Vec<String> = truth
        .iter()
        .rev()
        .filter(|b| b.ts >= 1_751_328_000_000 && b.ts < 1_759_276_800_000)
        .map(|b| b.bill_id.to_string())
        .collect();
    assert_eq!(rows.iter().map(|r| r[1].to_string()).collect::<Vec<_>>(), expect);
    let first = truth
        .iter()
        .find(|b| b.bill_id.to_string() == rows[0][1])
        .unwrap();
    assert_eq!(&rows[0][4], super::model::dec16(first.bal_chg));
    assert_eq!(&rows[0][10], first.ccy);
    sim.shutdown().await;
}

#[tokio::test]
async fn archive_apply_poll_download_zip() {
    archive_flow(ArchiveFormat::Zip).await;
}

#[tokio::test]
async fn archive_apply_poll_download_gzip() {
    archive_flow(ArchiveFormat::Gzip).await;
}

#[tokio::test]
async fn faults_are_injected_and_do_no_work() {
    let sim = SimServer::start(fast()).await.unwrap();
    let api = Api::new(&sim).await;
    sim.set_faults(FaultConfig::new(1.0, 1, vec![FaultKind::Code50011]));
    let (s, v) = api.get("/api/v5/account/config").await;
    assert_eq!((s, code(&v)), (429, "50011"));
    sim.set_faults(FaultConfig::new(1.0, 1, vec![FaultKind::Http5xx]));
    let (s, v) = api.get("/api/v5/asset/deposit-history").await;
    assert_eq!((s, code(&v)), (503, "50001"));
    // /public/time is never faulted.
    let r = api
        .http
        .get(format!("{}/api/v5/public/time", api.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);

    sim.set_faults(FaultConfig::new(1.0, 1, vec![FaultKind::Drop]));
    let broken = match api.signed("GET", "/api/v5/account/config", "").send().await {
        Err(_) => true,
        Ok(r) => r.bytes().await.is_err(),
    };
    assert!(broken, "a dropped connection must fail on the client");

    sim.set_faults(FaultConfig::new(
        1.0,
        1,
        vec![FaultKind::Slow(std::time::Duration::from_millis(150))],
    ));
    let t = Instant::now();
    let (s, _) = api.get("/api/v5/account/config").await;
    assert_eq!(s, 200);
    assert!(t.elapsed() >= std::time::Duration::from_millis(150));

    // A faulted archive apply creates no job: a later poll still says "failed".
    sim.set_faults(FaultConfig::new(1.0, 1, vec![FaultKind::Code50001]));
    let path = "/api/v5/account/bills-history-archive";
    assert_eq!(
        code(&api.post(path, r#"{"year":"2025","quarter":"Q4"}"#).await.1),
        "50001"
    );
    sim.set_faults(FaultConfig::none());
    assert_eq!(
        api.get(&format!("{path}?year=2025&quarter=Q4")).await.1["data"][0]["state"],
        "failed"
    );

    let stats = sim.stats();
    assert_eq!(stats.get("account-config").faults_injected, 3);
    assert_eq!(stats.total_faults_injected, 5);

    // Partial fault rate: deterministic sequence per seed.
    let seq = |sim: &SimServer| {
        sim.set_faults(FaultConfig::new(0.3, 42, vec![FaultKind::Code50001]));
        let api = &api;
        async move {
            let mut v = Vec::new();
            for _ in 0..20 {
                v.push(api.get("/api/v5/asset/balances").await.0);
            }
            v
        }
    };
    let a = seq(&sim).await;
    let b = seq(&sim).await;
    assert_eq!(a, b);
    assert!(a.contains(&503) && a.contains(&200), "{a:?}");
    sim.shutdown().await;
}

#[tokio::test]
async fn add_activity_is_visible_through_before_cursors() {
    let sim = SimServer::start(fast()).await.unwrap();
    let api = Api::new(&sim).await;
    let (_, v) = api.get("/api/v5/asset/deposit-history?limit=1").await;
    let newest_dep = v["data"][0]["ts"].as_str().unwrap().to_string();
    let (_, v) = api.get("/api/v5/trade/fills?limit=1").await;
    let newest_fill = v["data"][0]["billId"].as_str().unwrap().to_string();
    sim.add_activity(3);
    let (_, v) = api
        .get(&format!("/api/v5/asset/deposit-history?before={newest_dep}"))
        .await;
    assert_eq!(v["data"].as_array().unwrap().len(), 1);
    let (_, v) = api
        .get(&format!("/api/v5/trade/fills?before={newest_fill}"))
        .await;
    assert_eq!(v["data"].as_array().unwrap().len(), 3);
    let (_, v) = api
        .get(&format!(
            "/api/v5/trade/fills-history?instType=SPOT&before={newest_fill}"
        ))
        .await;
    assert_eq!(v["data"].as_array().unwrap().len(), 3);
    let acct = sim.account().snapshot();
    let (_, v) = api.get("/api/v5/asset/balances?ccy=USDT").await;
    assert_eq!(
        v["data"][0]["bal"].as_str().unwrap(),
        dec(acct.balance(FUNDING, "USDT"))
    );
    sim.shutdown().await;
}

// ---- a master with sub-accounts ------------------------------------------------------------

/// The master sees its sub-accounts (list, balances, transfer history); a sub-account's key
/// sees its own account, with the transfers as bills 22/23, and gets 59500 on the master's
/// endpoints; each uid has its own rate limits.
#[tokio::test]
async fn master_and_sub_accounts() {
    let mut cfg = SimConfig::family();
    cfg.subaccounts.push(SimSub::empty("dormant", "20000009"));
    let sim = SimServer::start(cfg).await.unwrap();
    let master = Api::new(&sim).await;
    let mut bot = Api::new(&sim).await;
    bot.key = SimKey::sub("bot", "20000002");

    let (_, v) = master.get("/api/v5/account/config").await;
    assert_eq!(
        (v["data"][0]["uid"].as_str(), v["data"][0]["mainUid"].as_str()),
        (Some("10000001"), Some("10000001"))
    );
    assert_eq!(v["data"][0]["type"], "0");
    let (_, v) = bot.get("/api/v5/account/config").await;
    assert_eq!(
        (v["data"][0]["uid"].as_str(), v["data"][0]["mainUid"].as_str()),
        (Some("20000002"), Some("10000001"))
    );
    assert_eq!(v["data"][0]["type"], "1");

    // The list, newest first, paged by creation time.
    let (_, v) = master.get("/api/v5/users/subaccount/list").await;
    let names: Vec<&str> = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["subAcct"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["savings", "bot", "dormant"]);
    let after = v["data"][0]["ts"].as_str().unwrap();
    let (_, v) = master
        .get(&format!("/api/v5/users/subaccount/list?after={after}&limit=1"))
        .await;
    assert_eq!(v["data"].as_array().unwrap().len(), 1);
    assert_eq!(v["data"][0]["subAcct"], "bot");
    assert_eq!(v["data"][0]["uid"], "20000002");

    // A sub-account's key gets 59500 (HTTP 200) on every master endpoint.
    for path in [
        "/api/v5/users/subaccount/list",
        "/api/v5/asset/subaccount/bills",
        "/api/v5/asset/subaccount/balances?subAcct=bot",
        "/api/v5/account/subaccount/balances?subAcct=bot",
    ] {
        let (s, v) = bot.get(path).await;
        assert_eq!((s, code(&v)), (200, "59500"), "{path}: {v}");
    }
    let (_, v) = master
        .get("/api/v5/asset/subaccount/balances?subAcct=nobody")
        .await;
    assert_eq!(code(&v), "59510");

    // The transfer history names the sub-account; each record meets a bill on both sides.
    let (_, v) = master.get("/api/v5/asset/subaccount/bills?subAcct=bot").await;
    let recs = v["data"].as_array().unwrap();
    assert_eq!(recs.len(), 6, "{v}");
    let (_, mb) = master
        .get("/api/v5/asset/bills-history?limit=100&type=20,21")
        .await;
    let (_, sb) = bot.get("/api/v5/asset/bills-history?limit=100&type=22,23").await;
    let (mb, sb) = (mb["data"].as_array().unwrap(), sb["data"].as_array().unwrap());
    assert!(
        mb.len() >= 6,
        "the master's 20/21 bills (both subs): {}",
        mb.len()
    );
    assert_eq!(sb.len(), 6, "the sub-account's 22/23 bills");
    for r in recs {
        assert_eq!(r["subAcct"], "bot");
        let to_sub = r["type"] == "0";
        let m = mb
            .iter()
            .find(|b| b["ts"] == r["ts"])
            .expect("master bill at the same ms");
        let s = sb
            .iter()
            .find(|b| b["ts"] == r["ts"])
            .expect("sub bill at the same ms");
        assert_eq!(m["type"], if to_sub { "20" } else { "21" });
        assert_eq!(s["type"], if to_sub { "23" } else { "22" });
        let amt: Decimal = r["amt"].as_str().unwrap().parse().unwrap();
        let mchg: Decimal = m["balChg"].as_str().unwrap().parse().unwrap();
        let schg: Decimal = s["balChg"].as_str().unwrap().parse().unwrap();
        assert_eq!((mchg.abs(), schg.abs(), mchg + schg), (amt, amt, Decimal::ZERO));
        assert_eq!(
            (m["ccy"].clone(), s["ccy"].clone()),
            (r["ccy"].clone(), r["ccy"].clone())
        );
    }

    // The master's view of a sub-account's funding balance is the sub-account's own.
    let (_, via_master) = master.get("/api/v5/asset/subaccount/balances?subAcct=bot").await;
    let (_, own) = bot.get("/api/v5/asset/balances").await;
    assert_eq!(via_master["data"], own["data"]);
    let (_, dormant) = master
        .get("/api/v5/asset/subaccount/balances?subAcct=dormant")
        .await;
    assert_eq!(
        dormant["data"],
        Value::Array(Vec::new()),
        "an unused sub-account holds nothing"
    );

    // Private limits per uid: account/config allows 5 per 2 s to each account.
    let slow = SimServer::start(SimConfig::family()).await.unwrap();
    let master = Api::new(&slow).await;
    let mut bot = Api::new(&slow).await;
    bot.key = SimKey::sub("bot", "20000002");
    for api in [&master, &bot] {
        for _ in 0..5 {
            let (s, v) = api.get("/api/v5/account/config").await;
            assert_eq!(s, 200, "{v}");
        }
    }
    let (s, v) = master.get("/api/v5/account/config").await;
    assert_eq!((s, code(&v)), (429, "50011"));
}

/// Client accounts ([`SimConfig::clients`]): each key reads its own account as a master of
/// its own, with no sub-accounts; private limits are per client; a revoked key gets 50111.
#[tokio::test]
async fn clients_are_accounts_of_their_own() {
    let mut cfg = SimConfig::clients(2, |i| {
        if i == 0 {
            AccountSize::Sub
        } else {
            AccountSize::Demo
        }
    });
    let revoked = SimKey {
        api_key: "revoked-key".into(),
        revoked: true,
        ..SimKey::client(&cfg.clients[0].uid)
    };
    cfg.keys.push(revoked.clone());
    let sim = SimServer::start(cfg.clone()).await.unwrap();
    let mut api = Api::new(&sim).await;
    let mut deposits = Vec::new();
    for (i, c) in cfg.clients.iter().enumerate() {
        api.key = SimKey::client(&c.uid);
        let (s, v) = api.get("/api/v5/account/config").await;
        assert_eq!((s, code(&v)), (200, "0"), "{v}");
        assert_eq!(v["data"][0]["uid"], c.uid.as_str());
        assert_eq!(v["data"][0]["mainUid"], c.uid.as_str(), "a master of its own");
        let (_, v) = api.get("/api/v5/users/subaccount/list").await;
        assert_eq!((code(&v), v["data"].as_array().unwrap().len()), ("0", 0), "{v}");
        let (_, v) = api.get("/api/v5/asset/subaccount/bills").await;
        assert_eq!((code(&v), v["data"].as_array().unwrap().len()), ("0", 0), "{v}");
        let (_, v) = api.get("/api/v5/asset/deposit-history?limit=100").await;
        let ids: Vec<String> = v["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["depId"].as_str().unwrap().to_string())
            .collect();
        let truth = sim.client_account(&c.uid).unwrap().deposits();
        assert_eq!(ids.len(), truth.len().min(100), "client {i}");
        let newest = truth.iter().max_by_key(|d| d.ts).unwrap();
        assert_eq!(
            ids[0],
            newest.dep_id.to_string(),
            "client {i} reads its own deposits"
        );
        deposits.push(ids);
    }
    assert_ne!(deposits[0], deposits[1]);
    assert!(
        sim.client_account(&cfg.clients[0].uid).unwrap().fills().len()
            < sim.client_account(&cfg.clients[1].uid).unwrap().fills().len(),
        "sizes as asked"
    );
    // Private limits are per uid (account-config: 5 per 2 s): client 0 runs out, client 1
    // is not touched by that.
    assert_eq!(sim.stats().total_rate_limited, 0);
    api.key = SimKey::client(&cfg.clients[0].uid);
    let mut codes = Vec::new();
    for _ in 0..5 {
        codes.push(code(&api.get("/api/v5/account/config").await.1).to_string());
    }
    assert_eq!(codes.last().map(String::as_str), Some("50011"), "{codes:?}");
    api.key = SimKey::client(&cfg.clients[1].uid);
    assert_eq!(code(&api.get("/api/v5/account/config").await.1), "0");
    api.key = revoked;
    let (s, v) = api.get("/api/v5/account/config").await;
    assert_eq!((s, code(&v)), (401, "50111"), "{v}");
}
