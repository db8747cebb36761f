//! `report`/`export`/`reconcile` end to end: golden files, the balance invariant against
//! the simulator, reconciliation gaps, unclassified records.

use crate::common::*;
use okx_export::sim::{SimConfig, SimKey};
use rust_decimal::Decimal;
use std::collections::BTreeMap;
use std::path::Path;

const GOLDEN: &[&str] = &[
    "transactions.csv",
    "koinly.csv",
    "cointracking.csv",
    "ctc.csv",
    "bittytax.csv",
    "cointracker.csv",
    "coinledger.csv",
    "dali-in.csv",
    "dali-out.csv",
    "dali-intra.csv",
    "balances.csv",
    "reconciliation.csv",
    "opening_balances.csv",
];

/// Masks the columns whose values depend on when the test runs (the snapshot time).
fn stable(name: &str, text: &str) -> String {
    if name == "reconciliation.csv" {
        // `to` of a balance check is the snapshot time.
        return text
            .lines()
            .map(|l| {
                let mut cols: Vec<String> = l.split(',').map(String::from).collect();
                if cols[0] == "balance" && !cols[4].is_empty() {
                    cols[4] = "[as_of]".into();
                }
                cols.join(",")
            })
            .collect::<Vec<_>>()
            .join("\n")
            + "\n";
    }
    if name != "balances.csv" {
        return text.to_string();
    }
    text.lines()
        .map(|l| match l.rsplit_once(',') {
            Some((head, _)) if !l.starts_with("account,") => format!("{head},[as_of]"),
            _ => l.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

/// `export` of the simulator's account. Its prices are fetched first by `sync
/// --no-prices` and `prices` (the stage after the history, whose pages and routes do not
/// depend on how the sync's streams interleave, so the values are the same on every run);
/// `export --no-prices` then syncs nothing new and writes every file from them.
async fn export_demo(dir: &Path, cfg: SimConfig, extra: &[&str]) -> (Run, okx_export::sim::SimServer) {
    let sim = sim(cfg).await;
    let data = dir.join("data");
    let env = env_for(&sim, &SimKey::demo(), sim.config().rate_scale);
    let r = sync(&sim, &data, &[]).await;
    assert_code(&r, 0);
    let prices = ["--data-dir", data.to_str().unwrap(), "--no-progress", "prices"];
    let r = run(&prices, &env, dir).await;
    assert_code(&r, 0);
    let mut args = vec![
        "--data-dir",
        data.to_str().unwrap(),
        "--no-progress",
        "export",
        "--since",
        "2025-07-01",
        "--archive-poll-ms",
        "50",
        "--no-prices",
    ];
    args.extend_from_slice(extra);
    let r = run(&args, &env, dir).await;
    (r, sim)
}

/// Every format's output for the simulator's account equals the reviewed file in
/// `tests/expected/`. `UPDATE_EXPECT=1 cargo test` rewrites them (review the diff!).
///
/// The files come from the real pipeline, values included: the price stage fetches the
/// simulator's candles and the report's valuer (`valuer_for` in `src/commands/report.rs`)
/// reads them from the price cache. After a change, regenerate with
/// `UPDATE_EXPECT=1 cargo test --test it golden_files_and_balances`, run the test again
/// without `UPDATE_EXPECT` and read `git diff tests/expected/` before committing.
#[tokio::test(flavor = "multi_thread")]
async fn golden_files_and_balances() {
    let dir = tempfile::tempdir().unwrap();
    let (r, sim) = export_demo(dir.path(), fast_config(), &[]).await;
    assert_code(&r, 0);
    let data = dir.path().join("data");
    let expected_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/expected");
    let update = std::env::var_os("UPDATE_EXPECT").is_some();
    let mut failures = Vec::new();
    for name in GOLDEN {
        let actual = stable(
            name,
            &std::fs::read_to_string(data.join(name)).unwrap_or_else(|e| panic!("{name}: {e}")),
        );
        let path = expected_dir.join(name);
        if update {
            std::fs::create_dir_all(&expected_dir).unwrap();
            std::fs::write(&path, &actual).unwrap();
            continue;
        }
        let expected = std::fs::read_to_string(&path).unwrap_or_default();
        if expected != actual {
            let line = expected
                .lines()
                .zip(actual.lines())
                .position(|(a, b)| a != b)
                .unwrap_or(0);
            failures.push(format!(
                "{name} differs from tests/expected (first at line {}):\n  expected: {}\n  actual:   {}",
                line + 1,
                expected.lines().nth(line).unwrap_or("<end>"),
                actual.lines().nth(line).unwrap_or("<end>")
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{}\n(run with UPDATE_EXPECT=1 to accept)",
        failures.join("\n")
    );

    // Per (account, asset), Σ received − Σ sent − Σ fee over transactions.csv equals the
    // simulator's final balances.
    let mut sums: BTreeMap<(String, String), Decimal> = BTreeMap::new();
    let mut rdr = csv::Reader::from_path(data.join("transactions.csv")).unwrap();
    let h = rdr.headers().unwrap().clone();
    let col = |n: &str| h.iter().position(|c| c == n).unwrap();
    let (acc, sa, sx, ra, rx, fa, fx) = (
        col("account"),
        col("sent_amount"),
        col("sent_asset"),
        col("received_amount"),
        col("received_asset"),
        col("fee_amount"),
        col("fee_asset"),
    );
    for row in rdr.records() {
        let row = row.unwrap();
        let mut add = |amt: usize, asset: usize, sign: Decimal| {
            if !row[amt].is_empty() {
                *sums
                    .entry((row[acc].to_string(), row[asset].to_string()))
                    .or_default() += sign * row[amt].parse::<Decimal>().unwrap();
            }
        };
        add(ra, rx, Decimal::ONE);
        add(sa, sx, -Decimal::ONE);
        add(fa, fx, -Decimal::ONE);
    }
    let a = sim.account().snapshot();
    for ((account, ccy), bal) in &a.balances {
        if *account == "earn" {
            continue; // earn holdings have no ledger of their own; they move by transfers
        }
        let got = sums
            .get(&(account.to_string(), ccy.to_string()))
            .copied()
            .unwrap_or_default();
        assert_eq!(
            got, *bal,
            "{account} {ccy}: transactions.csv sums to {got}, OKX balance {bal}"
        );
    }
    for ((account, ccy), sum) in &sums {
        if !sum.is_zero() {
            assert!(
                a.balances.keys().any(|(x, c)| x == account && c == ccy),
                "{account} {ccy} sums to {sum} but OKX has no balance"
            );
        }
    }
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(data.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["reconciliation"]["ok"], true);
    assert_eq!(summary["unclassified"], 0);
    assert!(
        !summary["pending_deposits"].as_array().unwrap().is_empty(),
        "pending deposits are listed"
    );
    assert!(
        !summary["failed_or_canceled"].as_array().unwrap().is_empty(),
        "failed withdrawals are listed"
    );
}

/// One page of bills withheld by the simulator: the running balance breaks, the gap's time
/// range is reported and the exit code is 4.
#[tokio::test(flavor = "multi_thread")]
async fn withheld_bills_are_reported_as_a_gap() {
    let probe = sim(fast_config()).await;
    let bills = probe.account().trading_bills();
    // A stretch of 100 bills in the middle of the history (one page's worth).
    let mid = bills.len() / 2;
    let (from, to) = (bills[mid].ts, bills[mid + 100].ts);
    let usdt: Vec<i64> = bills.iter().filter(|b| b.ccy == "USDT").map(|b| b.ts).collect();
    let usdt_before = usdt.iter().copied().filter(|t| *t < from).max().unwrap();
    let usdt_after = usdt.iter().copied().filter(|t| *t >= to).min().unwrap();
    drop(probe);
    let dir = tempfile::tempdir().unwrap();
    let (r, _sim) = export_demo(
        dir.path(),
        SimConfig {
            withhold_bills: Some((from, to)),
            ..fast_config()
        },
        &[],
    )
    .await;
    assert_code(&r, 4);
    assert!(r.err().contains("gap between"), "{}", r.stderr);
    let rec = std::fs::read_to_string(dir.path().join("data/reconciliation.csv")).unwrap();
    let gap_line: Vec<String> = csv::Reader::from_reader(rec.as_bytes())
        .records()
        .map(|r| r.unwrap().iter().map(String::from).collect::<Vec<_>>())
        .find(|r| r[0] == "continuity" && r[1] == "trading" && r[2] == "USDT")
        .expect("USDT row");
    // The reported range brackets the withheld bills.
    assert_eq!(gap_line[8], "gap", "{gap_line:?}");
    let (_, range) = gap_line[9].split_once("the first between ").unwrap();
    let (a, b) = range.split_once(" and ").unwrap();
    let b = b.split(':').take(3).collect::<Vec<_>>().join(":");
    let gap_from = chrono::DateTime::parse_from_rfc3339(a)
        .unwrap()
        .timestamp_millis();
    let gap_to = chrono::DateTime::parse_from_rfc3339(&b)
        .unwrap()
        .timestamp_millis();
    assert_eq!(
        gap_from, usdt_before,
        "the gap starts at the last USDT bill before the withheld ones\n{rec}"
    );
    assert_eq!(
        gap_to, usdt_after,
        "the gap ends at the first USDT bill after them\n{rec}"
    );
}

/// Issue 8 item 4: one trading-side transfer bill (type 1 subType 11) withheld from the
/// store: its funding 131 bill has no trading side. The `transfer` row is `missing_side`,
/// names the trading ledger's range around it (its neighbouring bills in the currency) and
/// `report` exits 4.
#[tokio::test(flavor = "multi_thread")]
async fn transfer_without_its_trading_side_fails_and_names_the_range() {
    let dir = tempfile::tempdir().unwrap();
    let (r, _sim) = export_demo(dir.path(), fast_config(), &[]).await;
    assert_code(&r, 0);
    let data = dir.path().join("data");
    let db = rusqlite::Connection::open(data.join(okx_export::store::Store::FILE)).unwrap();
    // The fifth funding→trading transfer after 2025-09-01 (inside every ledger's range).
    let (key, ts, ccy, chg): (String, i64, String, String) = db
        .query_row(
            "SELECT key, ts, json_extract(raw, '$.ccy'), json_extract(raw, '$.balChg') FROM records
             WHERE kind = 'bill' AND json_extract(raw, '$.type') = '1'
               AND json_extract(raw, '$.subType') = '11' AND ts > 1756684800000
             ORDER BY ts LIMIT 1 OFFSET 4",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .unwrap();
    let chg: Decimal = chg.parse().unwrap();
    // Its funding side: type 131, −amount, booked at or just before it.
    let (fund_id, fund_ts): (String, i64) = db
        .query_row(
            "SELECT key, ts FROM records WHERE kind = 'funding_bill'
               AND json_extract(raw, '$.type') = '131' AND json_extract(raw, '$.ccy') = ?1
               AND ts BETWEEN ?2 - 5000 AND ?2 + 5000
             ORDER BY abs(ts - ?2) LIMIT 1",
            rusqlite::params![ccy, ts],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(
        db.execute("DELETE FROM records WHERE kind = 'bill' AND key = ?1", [&key])
            .unwrap(),
        1
    );
    // The trading bills of that currency on either side of the funding side's time.
    let near = |sql: &str| -> i64 {
        db.query_row(sql, rusqlite::params![ccy, fund_ts], |r| r.get(0))
            .unwrap()
    };
    let before = near(
        "SELECT max(ts) FROM records WHERE kind = 'bill' AND json_extract(raw, '$.ccy') = ?1 AND ts <= ?2",
    );
    let after = near(
        "SELECT min(ts) FROM records WHERE kind = 'bill' AND json_extract(raw, '$.ccy') = ?1 AND ts > ?2",
    );
    drop(db);
    let t = |ms: i64| {
        chrono::DateTime::from_timestamp_millis(ms)
            .unwrap()
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
    };

    let r = run(&["--data-dir", data.to_str().unwrap(), "report"], &[], dir.path()).await;
    assert_code(&r, 4);
    let rec = std::fs::read_to_string(data.join("reconciliation.csv")).unwrap();
    let rows: Vec<Vec<String>> = csv::Reader::from_reader(rec.as_bytes())
        .records()
        .map(|r| r.unwrap().iter().map(String::from).collect())
        .collect();
    let lone: Vec<&Vec<String>> = rows.iter().filter(|r| r[0] == "transfer").collect();
    assert_eq!(lone.len(), 1, "exactly the withheld transfer:\n{rec}");
    let row = lone[0];
    assert_eq!(
        row[..9].to_vec(),
        [
            "transfer".to_string(),
            "funding".into(),
            ccy.clone(),
            t(before),
            t(after),
            okx_export::model::plain(-chg),
            String::new(),
            String::new(),
            "missing_side".into(),
        ],
        "{rec}"
    );
    let detail = &row[9];
    assert!(
        detail.starts_with(&format!("funding bill {fund_id} ("))
            && detail.contains("has no trading side (type 1 subType 11"),
        "{detail}"
    );
    assert!(
        detail.ends_with(&format!(
            "the trading ledger is missing history between {} and {}",
            t(before),
            t(after)
        )),
        "{detail}"
    );
    let summary = rows.iter().find(|r| r[0] == "transfers").unwrap();
    assert_eq!(summary[8], "missing_side", "{summary:?}");
    assert!(
        summary[9].contains("; 1 miss a side the other ledger should hold;"),
        "{summary:?}"
    );
    assert!(
        r.err().contains(&format!(
            "reconciliation: transfer funding {ccy}: funding bill {fund_id}"
        )),
        "{}",
        r.stderr
    );
}

/// Issue 8: on complete data, a bill with a smaller billId but a later `ts` than the next
/// bill of its currency (in both ledgers) is no gap: continuity is judged in billId order.
#[tokio::test(flavor = "multi_thread")]
async fn bills_whose_id_order_and_time_order_disagree_reconcile() {
    let dir = tempfile::tempdir().unwrap();
    let (r, sim) = export_demo(
        dir.path(),
        SimConfig {
            bill_time_disorder: true,
            ..fast_config()
        },
        &[],
    )
    .await;
    // Both ledgers really hold such a pair.
    let a = sim.account().snapshot();
    fn disordered(bills: &[(u64, i64, &str)]) -> bool {
        bills.iter().enumerate().any(|(i, a)| {
            bills[i + 1..]
                .iter()
                .find(|b| b.2 == a.2)
                .is_some_and(|b| b.0 > a.0 && b.1 < a.1)
        })
    }
    let trading: Vec<_> = a.trading_bills.iter().map(|b| (b.bill_id, b.ts, b.ccy)).collect();
    let funding: Vec<_> = a.funding_bills.iter().map(|b| (b.bill_id, b.ts, b.ccy)).collect();
    assert!(disordered(&trading) && disordered(&funding));
    assert_code(&r, 0);
    assert!(!r.err().contains("gap"), "{}", r.stderr);
    let rec = std::fs::read_to_string(dir.path().join("data/reconciliation.csv")).unwrap();
    assert!(!rec.contains(",gap,"), "{rec}");
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_bill_type_is_kept_and_fails_unless_allowed() {
    let dir = tempfile::tempdir().unwrap();
    let (r, _sim) = export_demo(
        dir.path(),
        SimConfig {
            unknown_bill_type: true,
            ..fast_config()
        },
        &[],
    )
    .await;
    assert_code(&r, 4);
    assert!(r.err().contains("could not be classified"), "{}", r.stderr);
    let tx = std::fs::read_to_string(dir.path().join("data/transactions.csv")).unwrap();
    let line = tx
        .lines()
        .find(|l| l.contains(",unclassified,"))
        .expect("unclassified row kept");
    assert!(line.contains("9999"), "raw JSON in note: {line}");
    let data = dir.path().join("data");
    let r = run(
        &[
            "--data-dir",
            data.to_str().unwrap(),
            "report",
            "--allow-unclassified",
        ],
        &[],
        dir.path(),
    )
    .await;
    assert_code(&r, 0);
}

/// 2025 in Tokyo starts at 2024-12-31T15:00Z, before the store's floor (2025-07-01): the
/// report names the missing range and the fix and writes no tax file (exit 4); with
/// `--allow-incomplete` it writes them, marked incomplete, with Tokyo's year boundaries.
#[tokio::test(flavor = "multi_thread")]
async fn year_report_in_a_time_zone() {
    let dir = tempfile::tempdir().unwrap();
    let (r, _sim) = export_demo(dir.path(), fast_config(), &[]).await;
    assert_code(&r, 0);
    let data = dir.path().join("data");
    let out = dir.path().join("y2025");
    let args = |extra: &'static str| {
        let mut v = vec![
            "--data-dir".to_string(),
            data.to_str().unwrap().to_string(),
            "report".into(),
            "--year".into(),
            "2025".into(),
            "--tz".into(),
            "Asia/Tokyo".into(),
            "--format".into(),
            "transactions,koinly".into(),
            "--out".into(),
            out.to_str().unwrap().to_string(),
        ];
        if !extra.is_empty() {
            v.push(extra.into());
        }
        v
    };
    let a = args("");
    let r = run(&a.iter().map(String::as_str).collect::<Vec<_>>(), &[], dir.path()).await;
    assert_code(&r, 4);
    assert!(
        r.err().contains(
            "trading ledger: 2024-12-31T15:00:00.000Z .. 2025-07-01T00:00:00.000Z is not covered (before the store's floor 2025-07-01); fix: `okx-export sync --since 2024-12-31`"
        ),
        "{}",
        r.stderr
    );
    assert!(!out.join("koinly.csv").exists() && out.join("coverage.csv").exists());
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    assert_eq!(
        (summary["incomplete"].clone(), summary["exit_code"].clone()),
        (true.into(), 4.into())
    );

    let a = args("--allow-incomplete");
    let r = run(&a.iter().map(String::as_str).collect::<Vec<_>>(), &[], dir.path()).await;
    assert_code(&r, 0);
    assert!(r.err().contains("report: INCOMPLETE"), "{}", r.stderr);
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["incomplete"], true);
    assert_eq!(summary["coverage"]["missing"][0]["group"], "trading ledger");
    let tx = std::fs::read_to_string(out.join("transactions.csv")).unwrap();
    let times: Vec<&str> = tx.lines().skip(1).map(|l| l.split(',').nth(1).unwrap()).collect();
    assert!(!times.is_empty());
    // 2025 in Tokyo = [2024-12-31T15:00Z, 2025-12-31T15:00Z).
    assert!(
        times
            .iter()
            .all(|t| *t >= "2024-12-31T15:00:00.000Z" && *t < "2025-12-31T15:00:00.000Z"),
        "{:?}",
        times.last()
    );
    assert!(out.join("koinly.csv").exists() && !out.join("ctc.csv").exists());
}

/// Issue 11: `tax-summary.csv` of a period report, valued by the fixed test valuer (the
/// report's own valuer reads the price cache): income, derivatives
/// PnL and fees equal the sums of the matching `transactions.csv` rows (the demo settles
/// derivatives in USDT, worth 1), and the closing holdings equal `closing_balances.csv`,
/// each valued at the fixed price. With `NoPrices` no value is written, and nothing reads 0.
#[tokio::test(flavor = "multi_thread")]
async fn tax_summary_of_a_period() {
    use okx_export::export::FixedPrices;
    use okx_export::prices::{Fiat, NoPrices, Valuer};
    let sim = sim(fast_config()).await;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    assert_code(&sync(&sim, &data, &[]).await, 0);
    let settings = okx_export::settings::Settings {
        profile: "default".into(),
        explicit_profile: false,
        config_path: None,
        profile_config: okx_export::settings::ProfileConfig::default(),
        base_url: sim.base_url(),
        demo_trading: false,
        data_dir: data.clone(),
        quiet: true,
        verbose: 0,
        progress: false,
        allow_trading_key: false,
        rate_scale: 1,
        backoff_ms: None,
        give_up_after: std::time::Duration::from_secs(60),
        rate_share: 1.0,
        console: okx_export::console::Console::buffer(true),
        public_pacers: None,
        shared_host: None,
        price_cache: None,
    };
    let args = |out: &Path| okx_export::cli::ReportArgs {
        year: Some(2025),
        from: None,
        to: None,
        tz: "Europe/Berlin".into(),
        format: "transactions".into(),
        out: Some(out.to_path_buf()),
        allow_unclassified: false,
        allow_incomplete: true,
        price: okx_export::cli::PriceArgs::default(),
    };
    let read = |p: &Path| -> Vec<Vec<String>> {
        let mut rdr = csv::Reader::from_path(p).unwrap();
        rdr.records()
            .map(|r| r.unwrap().iter().map(str::to_string).collect())
            .collect()
    };
    let dec = |s: &str| s.parse::<Decimal>().unwrap();
    let store = store(&data);

    let valued = dir.path().join("valued");
    let valuer: Box<dyn Valuer> = Box::new(FixedPrices::demo(Fiat::usd()));
    okx_export::commands::report::report_with(&settings, &store, &args(&valued), valuer).unwrap();
    let summary = read(&valued.join("tax-summary.csv"));
    let line = |section: &str, item: &str, asset: &str| {
        summary
            .iter()
            .find(|r| r[0] == section && r[1] == item && r[2] == asset)
            .unwrap_or_else(|| panic!("no {section},{item},{asset} in {summary:?}"))
            .clone()
    };
    let txs = read(&valued.join("transactions.csv"));
    assert!(
        txs.iter().all(|t| !t[21].is_empty() && t[22] == "USD"),
        "every demo row is valued"
    );
    let prices = [
        ("BTC", "95000"),
        ("ETH", "3400"),
        ("USDT", "1"),
        ("SOL", "180"),
        ("OKB", "50"),
        ("LUNC", "0.0001"),
    ];
    let price = |asset: &str| {
        prices
            .iter()
            .find(|(a, _)| *a == asset)
            .map(|(_, p)| dec(p))
            .unwrap()
    };
    // Σ (received − sent) × the asset's fixed price (the demo also has BTC-settled PnL).
    let sum = |kind: &str| -> Decimal {
        txs.iter()
            .filter(|t| t[3] == kind)
            .map(|t| {
                let r = if t[6].is_empty() {
                    Decimal::ZERO
                } else {
                    dec(&t[6]) * price(&t[7])
                };
                let s = if t[4].is_empty() {
                    Decimal::ZERO
                } else {
                    dec(&t[4]) * price(&t[5])
                };
                r - s
            })
            .sum()
    };
    let pnl = line("derivatives", "trading", "*");
    assert_eq!(dec(&pnl[4]), sum("realized_pnl"), "{pnl:?}");
    assert_eq!(pnl[7], "0");
    let funding = line("derivatives", "funding", "*");
    assert_eq!(dec(&funding[4]), sum("funding_fee"), "{funding:?}");
    let closing = read(&valued.join("closing_balances.csv"));
    assert!(closing.len() >= 5);
    for c in &closing {
        let l = line("holdings_closing", &c[0], &c[1]);
        assert_eq!(dec(&l[3]), dec(&c[2]), "{l:?}");
        assert_eq!(
            dec(&l[4]),
            (dec(&c[2]) * price(&c[1])).round_dp(8).normalize(),
            "{l:?}"
        );
    }
    println!(
        "tax-summary (fixed prices, USD): derivatives trading {} funding {}, fees spot {}, gross proceeds {}",
        pnl[4],
        funding[4],
        line("fees", "spot", "*")[4],
        line("disposals", "gross_proceeds", "*")[4]
    );

    // report.html (issue 21) prints every total with the CSV's digits and loads nothing
    // (tests/browser.rs checks the same in a real browser).
    let page = std::fs::read_to_string(valued.join("report.html")).unwrap();
    let totals: Vec<&Vec<String>> = summary.iter().filter(|r| r[2] == "*").collect();
    assert!(totals.len() >= 8, "{totals:?}");
    for r in totals {
        let shown = if r[4].is_empty() { "—" } else { r[4].as_str() };
        let needle = format!("data-tax=\"{}/{}\">{shown}</span>", r[0], r[1]);
        assert!(page.contains(&needle), "{needle} not in report.html");
    }
    assert!(page.contains("Content-Security-Policy\" content=\"default-src 'none';"));
    for external in ["http://", "https://", " src=", "url("] {
        assert!(
            !page.contains(external),
            "report.html refers to something outside: {external}"
        );
    }

    let unvalued = dir.path().join("unvalued");
    let valuer: Box<dyn Valuer> = Box::new(NoPrices::new(Fiat::usd()));
    okx_export::commands::report::report_with(&settings, &store, &args(&unvalued), valuer).unwrap();
    let summary = read(&unvalued.join("tax-summary.csv"));
    assert!(!summary.is_empty());
    for r in &summary {
        assert_eq!(r[4], "", "no price, no value: {r:?}");
        assert_eq!(r[6], r[7], "every row counted as without a price: {r:?}");
    }
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(unvalued.join("summary.json")).unwrap()).unwrap();
    assert_eq!(json["values"]["valued"], 0, "{json}");
}

/// Issue 20, OKX's code dictionary: `sync` fetches `account/subtypes` into the store and
/// refreshes it when a stored bill has a code it does not name; a report names every
/// unclassified code with OKX's own words in its message, the row's note,
/// reconciliation.csv and summary.json.
#[tokio::test(flavor = "multi_thread")]
async fn unknown_codes_are_named_with_okx_dictionary() {
    use okx_export::sim::{UNKNOWN_SUB_TYPE_DESC, UNKNOWN_TYPE_DESC};
    // A dictionary older than the code: cached without it.
    let old = sim(SimConfig {
        unknown_bill_type: true,
        dictionary_lacks: vec!["999"],
        ..fast_config()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    assert_code(&sync(&old, &data, &[]).await, 0);
    assert_eq!(old.stats().get("bill-types").requests, 1);
    assert!(
        !store(&data)
            .bill_types()
            .unwrap()
            .iter()
            .any(|n| n.bill_type == "999")
    );
    drop(old);
    // A later sync finds the stored 999/9999 unnamed and fetches the dictionary again.
    let new = sim(SimConfig {
        unknown_bill_type: true,
        ..fast_config()
    })
    .await;
    assert_code(&sync(&new, &data, &[]).await, 0);
    assert_eq!(new.stats().get("bill-types").requests, 1);
    assert_code(&sync(&new, &data, &[]).await, 0);
    assert_eq!(
        new.stats().get("bill-types").requests,
        1,
        "a complete dictionary is not fetched again"
    );

    let r = run(&["--data-dir", data.to_str().unwrap(), "report"], &[], dir.path()).await;
    assert_code(&r, 4);
    let name = format!("OKX: “{UNKNOWN_TYPE_DESC}” / “{UNKNOWN_SUB_TYPE_DESC}”");
    assert!(
        r.err().contains(&format!("trading type 999/9999 ×1, {name}")),
        "{}",
        r.stderr
    );
    let tx = std::fs::read_to_string(data.join("transactions.csv")).unwrap();
    assert!(tx.contains(&name), "the row's note names it");
    let rec = std::fs::read_to_string(data.join("reconciliation.csv")).unwrap();
    let row = rec
        .lines()
        .find(|l| l.starts_with("unclassified,"))
        .expect("an unclassified row");
    assert!(row.contains(&name) && row.contains("unclassified"), "{row}");
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(data.join("summary.json")).unwrap()).unwrap();
    assert_eq!(
        summary["unclassified_names"]["trading type 999/9999"],
        name.as_str()
    );
    // Allowed, the report passes: the named row is no failed check.
    let r = run(
        &[
            "--data-dir",
            data.to_str().unwrap(),
            "report",
            "--allow-unclassified",
        ],
        &[],
        dir.path(),
    )
    .await;
    assert_code(&r, 0);
}

/// Issue 20: event-contract fills (`instType=EVENTS`) are fetched where OKX lists them;
/// a site that refuses the instType is told once, like a missing product, not a failure.
#[tokio::test(flavor = "multi_thread")]
async fn event_contract_fills_are_optional() {
    let with = sim(fast_config()).await;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let r = sync(&with, &data, &[]).await;
    assert_code(&r, 0);
    assert!(r.stdout.contains("fills-history/EVENTS"), "{}", r.stdout);
    let without = sim(SimConfig {
        no_event_contracts: true,
        ..fast_config()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let r = sync(&without, &data, &[]).await;
    assert_code(&r, 0);
    assert!(
        r.err().contains("warning: `fills-history/EVENTS` unavailable"),
        "{}",
        r.stderr
    );
    let r = sync(&without, &data, &[]).await;
    assert_code(&r, 0);
    assert!(
        r.err().contains("note: `fills-history/EVENTS` unavailable"),
        "{}",
        r.stderr
    );
    assert!(!r.err().contains("warning:"), "{}", r.stderr);
}
