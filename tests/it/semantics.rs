//! Tax semantics end to end against the simulator's demo account: crypto↔fiat converts in
//! the funding account, withdrawals retried after a cancel.

use crate::common::*;
use okx_export::sim::{SimConfig, SimKey};
use rust_decimal::Decimal;
use std::collections::HashMap;
use std::path::Path;
use std::str::FromStr;

/// The rows of `file` (a tax format) that mention `id`, or for CoinTracker (no id column)
/// the rows holding both amounts.
fn format_lines(data: &Path, file: &str, id: &str, amounts: [&str; 2]) -> Vec<String> {
    let text = std::fs::read_to_string(data.join(file)).unwrap();
    text.lines()
        .filter(|l| {
            if file == "cointracker.csv" {
                amounts.iter().all(|a| l.contains(a))
            } else {
                l.contains(&format!("{id},")) || l.ends_with(id) || l.contains(&format!("{id} "))
            }
        })
        .map(str::to_string)
        .collect()
}

async fn export_demo(dir: &Path, cfg: SimConfig) -> (Run, okx_export::sim::SimServer) {
    let sim = sim(cfg).await;
    let data = dir.join("data");
    let args = [
        "--data-dir",
        data.to_str().unwrap(),
        "--no-progress",
        "export",
        "--since",
        "2025-07-01",
        "--archive-poll-ms",
        "50",
    ];
    let rate = sim.config().rate_scale;
    let r = run(&args, &env_for(&sim, &SimKey::demo(), rate), dir).await;
    (r, sim)
}

/// The rows of a CSV file as header → value maps.
fn rows(path: &Path) -> Vec<HashMap<String, String>> {
    let mut rd = csv::Reader::from_path(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let headers = rd.headers().unwrap().clone();
    rd.records()
        .map(|r| {
            let r = r.unwrap();
            headers
                .iter()
                .zip(r.iter())
                .map(|(h, v)| (h.to_string(), v.to_string()))
                .collect()
        })
        .collect()
}

fn d(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap_or_else(|e| panic!("`{s}`: {e}"))
}

/// Issue 8 item 9: the demo's EUR→BTC buy in the funding account (bills 272) is one `trade`
/// row with EUR sent, BTC received and the convert's price, and every tax file has it as a
/// trade (not a withdrawal plus a deposit).
#[tokio::test(flavor = "multi_thread")]
async fn fiat_convert_is_one_trade_in_every_format() {
    let dir = tempfile::tempdir().unwrap();
    let (r, sim) = export_demo(dir.path(), fast_config()).await;
    assert_code(&r, 0);
    let data = dir.path().join("data");
    let account = sim.account().snapshot();
    let buy = account
        .converts
        .iter()
        .find(|c| c.quote_ccy == "EUR" && c.side == "buy" && c.state == "fullyFilled")
        .expect("the demo account has a EUR→BTC buy");

    let tx = rows(&data.join("transactions.csv"));
    let eur: Vec<_> = tx
        .iter()
        .filter(|r| r["sent_asset"] == "EUR" || r["received_asset"] == "EUR")
        .collect();
    assert_eq!(eur.len(), 2, "one sell and one buy row: {eur:#?}");
    let row = eur
        .iter()
        .find(|r| r["sent_asset"] == "EUR")
        .expect("the buy row");
    assert_eq!(row["kind"], "trade");
    assert_eq!(row["account"], "funding");
    assert_eq!(d(&row["sent_amount"]), buy.fill_quote_sz);
    assert_eq!(row["received_asset"], "BTC");
    assert_eq!(d(&row["received_amount"]), buy.fill_base_sz);
    assert_eq!(d(&row["price"]), buy.fill_px);
    assert_eq!(row["side"], "buy");
    assert_eq!(row["instrument"], "BTC-EUR");
    assert_eq!(row["trade_id"], buy.trade_id.to_string());
    assert!(row["source_id"].contains(';'), "both bills: {}", row["source_id"]);
    assert!(
        !tx.iter()
            .any(|r| (r["kind"] == "deposit" || r["kind"] == "withdrawal")
                && (r["sent_asset"] == "EUR" || r["received_asset"] == "EUR")),
        "no EUR deposit or withdrawal rows"
    );
    let id = row["id"].clone();
    let btc = row["received_amount"].clone();

    // (file, what its trade row contains: the trade type or description)
    let formats: [(&str, &str); 7] = [
        ("koinly.csv", "trade BTC-EUR"),
        ("cointracking.csv", "Trade"),
        ("ctc.csv", "buy"),
        ("bittytax.csv", "Trade"),
        ("cointracker.csv", ""),
        ("coinledger.csv", "Trade"),
        ("dali-in.csv", "BUY"),
    ];
    for (file, marker) in formats {
        let text = std::fs::read_to_string(data.join(file)).unwrap();
        let line = text
            .lines()
            .find(|l| {
                (l.contains(&id) || file == "cointracker.csv")
                    && l.contains(&btc)
                    && (file.starts_with("dali") || l.contains("EUR"))
            })
            .unwrap_or_else(|| panic!("{file} has no row for the EUR→BTC buy {id}"));
        assert!(line.contains(marker), "{file}: not a trade: {line}");
        assert!(
            !line.to_lowercase().contains("deposit") && !line.to_lowercase().contains("withdraw"),
            "{file}: {line}"
        );
    }
}

/// Issue 8 item 11: a withdrawal canceled after its debit and retried 15 s later (debit,
/// type-13 refund, debit) is booked once, on the successful record (its time, hash and
/// wdId); the canceled hold and its refund are two `transfer` rows that cancel out.
#[tokio::test(flavor = "multi_thread")]
async fn withdrawal_retried_after_cancel_is_booked_on_the_successful_record() {
    let dir = tempfile::tempdir().unwrap();
    let (r, sim) = export_demo(dir.path(), fast_config()).await;
    assert_code(&r, 0);
    let account = sim.account().snapshot();
    let canceled = account
        .withdrawals
        .iter()
        .find(|w| {
            w.state == "-2"
                && account
                    .funding_bills
                    .iter()
                    .any(|b| b.bill_type == "13" && b.bal_chg == w.amt + w.fee)
        })
        .expect("the demo account has a canceled withdrawal with a refund");
    let retried = account
        .withdrawals
        .iter()
        .find(|w| w.state == "2" && w.ccy == canceled.ccy && w.amt == canceled.amt && w.ts > canceled.ts)
        .expect("and its retry");
    let debits: Vec<_> = account
        .funding_bills
        .iter()
        .filter(|b| b.bill_type == "2" && b.bal_chg == -(retried.amt + retried.fee) && b.ts >= canceled.ts)
        .collect();
    assert_eq!(debits.len(), 2, "debit, refund, debit");
    let second = debits[1];

    let tx = rows(&dir.path().join("data/transactions.csv"));
    let booked: Vec<_> = tx
        .iter()
        .filter(|r| r["kind"] == "withdrawal" && r["note"].contains(&format!("wdId {}", retried.wd_id)))
        .collect();
    assert_eq!(booked.len(), 1, "the retry is booked once: {booked:#?}");
    let w = booked[0];
    assert_eq!(w["id"], format!("fb-{}", second.bill_id), "on the second debit");
    assert_eq!(w["tx_hash"], retried.tx_id);
    assert_eq!(d(&w["sent_amount"]), retried.amt);
    assert_eq!(d(&w["fee_amount"]), retried.fee);
    let millis = chrono::DateTime::parse_from_rfc3339(&w["time"])
        .unwrap()
        .timestamp_millis();
    assert_eq!(millis, second.ts);
    assert!(
        !tx.iter()
            .any(|r| r["kind"] == "withdrawal" && r["note"].contains(&format!("wdId {}", canceled.wd_id))),
        "the canceled record books no withdrawal"
    );
    // The hold and the refund: two transfer rows of the same amount that net to zero.
    let hold = tx
        .iter()
        .find(|r| r["id"] == format!("fb-{}", debits[0].bill_id))
        .expect("the first debit has a row");
    assert_eq!(hold["kind"], "transfer");
    assert!(
        hold["note"].contains(&format!("wdId {}", canceled.wd_id)),
        "{hold:?}"
    );
    let refund = account
        .funding_bills
        .iter()
        .find(|b| b.bill_type == "13" && b.bal_chg == canceled.amt + canceled.fee)
        .unwrap();
    let back = tx
        .iter()
        .find(|r| r["id"] == format!("fb-{}", refund.bill_id))
        .expect("the refund has a row");
    assert_eq!(back["kind"], "transfer");
    let held = d(&hold["sent_amount"]) + hold["fee_amount"].parse::<Decimal>().unwrap_or_default();
    assert_eq!(held, d(&back["received_amount"]), "hold and refund cancel out");
}

/// Issue 8 item 10: Dual Investment orders settled in another currency than subscribed are
/// a trade (notional sent, settled amount received, at the strike) in transactions.csv and
/// in every tax file, with the yield as `earn_interest`; the unconverted one stays a
/// transfer pair that the tax files drop.
#[tokio::test(flavor = "multi_thread")]
async fn dual_investment_is_booked_by_its_order_in_every_format() {
    let dir = tempfile::tempdir().unwrap();
    let (r, sim) = export_demo(dir.path(), fast_config()).await;
    assert_code(&r, 0);
    let data = dir.path().join("data");
    let account = sim.account().snapshot();
    let tx = rows(&data.join("transactions.csv"));
    let converted: Vec<_> = account
        .dcd_orders
        .iter()
        .filter(|o| o.settle_ccy != o.notional_ccy)
        .collect();
    assert_eq!(converted.len(), 2, "{:?}", account.dcd_orders);
    for o in converted {
        let trade: Vec<_> = tx
            .iter()
            .filter(|r| r["trade_id"] == o.ord_id.to_string())
            .collect();
        assert_eq!(trade.len(), 1, "order {}: {trade:#?}", o.ord_id);
        let t = trade[0];
        assert_eq!(t["kind"], "trade");
        assert_eq!(
            (d(&t["sent_amount"]), t["sent_asset"].as_str()),
            (o.notional_sz, o.notional_ccy)
        );
        assert_eq!(
            (d(&t["received_amount"]), t["received_asset"].as_str()),
            (o.settle_sz, o.settle_ccy)
        );
        assert_eq!(d(&t["price"]), o.strike);
        let income = tx
            .iter()
            .find(|r| {
                r["kind"] == "earn_interest"
                    && r["received_asset"] == o.settle_ccy
                    && d(&r["received_amount"]) == o.yield_sz
            })
            .unwrap_or_else(|| panic!("order {}: no yield row", o.ord_id));
        assert_eq!(income["time"], t["time"]);
        let (sent, recv) = (t["sent_amount"].clone(), t["received_amount"].clone());
        for file in [
            "koinly.csv",
            "cointracking.csv",
            "ctc.csv",
            "bittytax.csv",
            "cointracker.csv",
            "coinledger.csv",
        ] {
            let lines = format_lines(&data, file, &t["id"], [&sent, &recv]);
            assert_eq!(lines.len(), 1, "{file}: order {} {lines:#?}", o.ord_id);
            assert!(
                lines[0].contains(&sent) && lines[0].contains(&recv),
                "{file}: {}",
                lines[0]
            );
        }
        // DaLI: the crypto side of the trade (BTC bought, or ETH sold).
        let dali = if o.settle_ccy == "USDT" {
            "dali-out.csv"
        } else {
            "dali-in.csv"
        };
        let lines = format_lines(&data, dali, &t["id"], ["", ""]);
        assert_eq!(lines.len(), 1, "{dali}: order {}", o.ord_id);
    }
}

/// Without the order-history endpoint (a region without the product) the sync warns and
/// succeeds; the collections keep their transfer booking, marked in the note.
#[tokio::test(flavor = "multi_thread")]
async fn dual_investment_without_order_history_is_marked() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = SimConfig {
        unavailable: vec!["dcd-order-history"],
        ..fast_config()
    };
    let (r, sim) = export_demo(dir.path(), cfg).await;
    assert!(
        r.err()
            .contains("warning: Dual Investment order history unavailable"),
        "{}",
        r.all()
    );
    let account = sim.account().snapshot();
    let tx = rows(&dir.path().join("data/transactions.csv"));
    let marked: Vec<_> = tx
        .iter()
        .filter(|r| r["note"].contains("no Dual Investment order"))
        .collect();
    assert_eq!(marked.len(), account.dcd_orders.len(), "{marked:#?}");
    assert!(marked.iter().all(|r| r["kind"] == "transfer"));
    assert!(!tx.iter().any(|r| r["id"].ends_with(":principal")));
    assert_code(&r, 0);
}
