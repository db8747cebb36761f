//! The price stage against the simulator: the sync hook, a second run that fetches
//! nothing, routes with and without a `USDT-USD` index, ECB fiat, and the
//! `missing_prices.csv` → `--prices FILE` round trip.

use crate::common::{FAST, assert_code, env_for, fast_config, run, sim, sync};
use okx_export::model::Transaction;
use okx_export::normalize::{NormalizeOptions, normalize};
use okx_export::prices::cache::PriceCache;
use okx_export::prices::file::{UserPrices, read_user_prices};
use okx_export::prices::{CachedValuer, Fiat, RowValue, Valuer};
use okx_export::sim::{SimConfig, SimKey, SimServer};
use rust_decimal::Decimal;
use std::path::Path;

fn env(sim: &SimServer) -> Vec<(String, String)> {
    let mut e = env_for(sim, &SimKey::demo(), FAST);
    e.push(("OKX_EXPORT_ECB_URL".into(), format!("{}/sim-ecb", sim.base_url())));
    e
}

async fn prices(sim: &SimServer, data: &Path, extra: &[&str]) -> crate::common::Run {
    let mut args = vec!["--data-dir", data.to_str().unwrap(), "--no-progress", "prices"];
    args.extend_from_slice(extra);
    run(&args, &env(sim), data.parent().unwrap()).await
}

/// Every row of the store with its value.
fn values(data: &Path, fiat: &str, user: UserPrices) -> Vec<(Transaction, RowValue)> {
    let cache = PriceCache::open(&data.join("price-cache.sqlite")).unwrap();
    let mut v = CachedValuer::new(Fiat::parse(fiat).unwrap(), cache, user);
    let store = okx_export::store::Store::open(data).unwrap();
    let mut out = Vec::new();
    normalize(&store, &NormalizeOptions::default(), &mut |tx| {
        let rv = v.value(&tx)?;
        out.push((tx, rv));
        Ok(())
    })
    .unwrap();
    out
}

fn candle_requests(sim: &SimServer) -> u64 {
    let s = sim.stats();
    s.get("history-index-candles").requests + s.get("history-candles").requests
}

#[tokio::test(flavor = "multi_thread")]
async fn sync_prices_every_row_and_a_second_run_fetches_nothing() {
    let sim = sim(fast_config()).await;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    // sync_args says --no-prices; the hook is tested here with the stage on.
    let r = sync(&sim, &data, &[]).await;
    assert_code(&r, 0);
    assert_eq!(candle_requests(&sim), 0, "--no-prices fetches no candles");
    let args = [
        "--data-dir",
        data.to_str().unwrap(),
        "--no-progress",
        "sync",
        "--archive-poll-ms",
        "50",
    ];
    let r = run(&args, &env(&sim), dir.path()).await;
    assert_code(&r, 0);
    assert!(r.stdout.contains(", 0 without a value"), "{}", r.stdout);
    let first = candle_requests(&sim);
    assert!(first > 0);
    let stats = sim.stats();
    assert_eq!(stats.get("history-index-candles").rate_limited, 0);
    assert_eq!(stats.get("history-candles").rate_limited, 0);
    // Public requests carry no credentials: the sim counts no auth failure, and a
    // USDT-USD probe found no index (51001) once.
    assert_eq!(stats.get("history-index-candles").auth_failures, 0);

    let rows = values(&data, "USD", UserPrices::default());
    assert!(rows.len() > 500);
    for (tx, v) in &rows {
        assert!(v.value.is_some(), "{} has no value: {v:?}", tx.id);
        assert!(!v.source.is_empty());
        assert!(v.unit_prices.iter().all(|(_, p)| p.is_some()), "{}: {v:?}", tx.id);
    }
    // A BTC-USDT fill is valued by its USDT leg, USDT priced through BTC-USD ÷ BTC-USDT
    // (the default simulator has no USDT-USD index) — 1 in the simulator's book.
    let (tx, v) = rows
        .iter()
        .find(|(t, _)| {
            t.instrument.as_deref() == Some("BTC-USDT") && t.kind == okx_export::model::Kind::Trade
        })
        .expect("a BTC-USDT trade");
    assert!(
        v.source.starts_with("leg:USDT:derived:index:BTC-USD:"),
        "{}",
        v.source
    );
    let usdt = tx
        .sent
        .iter()
        .chain(&tx.received)
        .find(|a| a.asset == "USDT")
        .unwrap();
    let p = v.unit_price("USDT").unwrap();
    assert!((p - Decimal::ONE).abs() < Decimal::new(1, 3), "USDT {p}");
    assert_eq!(v.value, Some((usdt.amount * p).round_dp(8).normalize()));
    // BTC's unit price is its index, near the fill price.
    let btc = v.unit_price("BTC").unwrap();
    let fill = tx.price.unwrap();
    assert!(
        ((btc - fill) / fill).abs() < Decimal::new(1, 2),
        "index {btc} vs fill {fill}"
    );

    // Second run: every bar is cached, nothing is fetched.
    sim.reset_stats();
    let r = prices(&sim, &data, &[]).await;
    assert_code(&r, 0);
    assert!(r.stdout.contains("prices: 0 candle requests"), "{}", r.stdout);
    assert_eq!(candle_requests(&sim), 0);
    println!("first run {first} candle requests, second run 0");
}

/// New rows after a warm cache: the cache already knows every instrument, including that
/// there is no USDT-USD index, but not the new rows' times; the USDT rows must still be
/// priced through BTC-USD ÷ BTC-USDT. Before the fix the stage planned them on the absent
/// index, fetched nothing and left them unpriced whenever no new instrument was probed, so
/// a nightly run could lose the values of its new USDT rows.
#[tokio::test(flavor = "multi_thread")]
async fn new_rows_after_a_warm_cache_are_priced() {
    let sim = sim(fast_config()).await;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    assert_code(&sync(&sim, &data, &[]).await, 0);
    let r = prices(&sim, &data, &[]).await;
    assert_code(&r, 0);
    assert!(r.stdout.contains(", 0 without a value"), "{}", r.stdout);
    // As if the rows before 2026 were new: BTC-USDT stays known (its 2026 bars are kept) but
    // the cache holds nothing of it before; USDT-USD stays marked absent.
    let cutoff = 1_767_225_600_000i64; // 2026-01-01
    let db = rusqlite::Connection::open(data.join("price-cache.sqlite")).unwrap();
    let gone = db
        .execute(
            "DELETE FROM covered WHERE inst = 'BTC-USDT' AND from_ts < ?1",
            [cutoff],
        )
        .unwrap();
    db.execute("DELETE FROM bars WHERE inst = 'BTC-USDT' AND ts < ?1", [cutoff])
        .unwrap();
    let known: i64 = db
        .query_row("SELECT COUNT(*) FROM covered WHERE inst = 'BTC-USDT'", [], |r| {
            r.get(0)
        })
        .unwrap();
    let absent: i64 = db
        .query_row("SELECT COUNT(*) FROM absent WHERE inst = 'USDT-USD'", [], |r| {
            r.get(0)
        })
        .unwrap();
    drop(db);
    assert!(gone > 0 && known > 0 && absent == 1, "{gone} {known} {absent}");

    sim.reset_stats();
    let r = prices(&sim, &data, &[]).await;
    assert_code(&r, 0);
    assert!(r.stdout.contains(", 0 without a value"), "{}", r.stdout);
    assert!(
        sim.stats().get("history-candles").requests > 0,
        "BTC-USDT pages fetched again"
    );
    let rows = values(&data, "USD", UserPrices::default());
    let unpriced: Vec<&str> = rows
        .iter()
        .filter(|(_, v)| v.value.is_none())
        .map(|(t, _)| t.id.as_str())
        .collect();
    assert_eq!(unpriced, Vec::<&str>::new());
}

#[tokio::test(flavor = "multi_thread")]
async fn usdt_index_when_okx_has_one_and_ecb_for_eur() {
    let sim = sim(SimConfig {
        usdt_index: true,
        ..fast_config()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    assert_code(&sync(&sim, &data, &[]).await, 0);
    let r = prices(&sim, &data, &["--fiat", "EUR"]).await;
    assert_code(&r, 0);
    assert!(r.stdout.contains("1 ECB requests"), "{}", r.stdout);
    // EUR needs only the USD series (rates are per euro).
    assert_eq!(sim.stats().get("ecb").requests, 1);
    let usd = values(&data, "USD", UserPrices::default());
    let eur = values(&data, "EUR", UserPrices::default());
    let (tx, v) = usd
        .iter()
        .find(|(t, _)| t.instrument.as_deref() == Some("BTC-USDT"))
        .expect("a BTC-USDT row");
    assert!(v.source.contains("index:USDT-USD:"), "{}", v.source);
    // EUR value = USD value ÷ USD-per-EUR of that (working) day.
    let (_, ve) = eur.iter().find(|(t, _)| t.id == tx.id).unwrap();
    assert!(ve.source.contains("*ecb:"), "{}", ve.source);
    let day = &ve.source[ve.source.find("*ecb:").unwrap() + 5..];
    let weekday = chrono::NaiveDate::parse_from_str(day, "%Y-%m-%d").unwrap();
    assert!(!matches!(
        chrono::Datelike::weekday(&weekday),
        chrono::Weekday::Sat | chrono::Weekday::Sun
    ));
    let (u, e) = (v.value.unwrap(), ve.value.unwrap());
    let rate = u / e;
    assert!(
        rate > Decimal::new(106, 2) && rate < Decimal::new(110, 2),
        "USD per EUR {rate}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn missing_prices_round_trip() {
    let sim = sim(SimConfig {
        no_market: vec!["OKB"],
        ..fast_config()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    assert_code(&sync(&sim, &data, &[]).await, 0);
    let r = prices(&sim, &data, &[]).await;
    assert_code(&r, 0);
    assert!(r.err().contains("rows without a value"), "{}", r.stderr);
    let missing = data.join("missing_prices.csv");
    let text = std::fs::read_to_string(&missing).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next().unwrap(), "asset,time,fiat,price,rows,row_ids,why");
    let rows: Vec<&str> = lines.collect();
    assert!(!rows.is_empty());
    assert!(rows.iter().all(|l| l.starts_with("OKB,")), "{text}");
    assert!(rows[0].contains("no market for OKB"), "{}", rows[0]);
    // OKB has no index and no pairs: each candidate was probed once (51001) and is not
    // asked again on the next run.
    sim.reset_stats();
    assert_code(&prices(&sim, &data, &[]).await, 0);
    assert_eq!(candle_requests(&sim), 0);

    // Fill in a price of 42 for every missing OKB minute and pass the file back.
    let filled: String = std::iter::once("asset,time,fiat,price,rows,row_ids,why".to_string())
        .chain(rows.iter().map(|l| {
            let mut f: Vec<&str> = l.split(',').collect();
            f[3] = "42";
            f.join(",")
        }))
        .map(|l| l + "\n")
        .collect();
    let file = dir.path().join("filled.csv");
    std::fs::write(&file, filled).unwrap();
    let r = prices(&sim, &data, &["--prices", file.to_str().unwrap()]).await;
    assert_code(&r, 0);
    assert!(r.stdout.contains(", 0 without a value"), "{}", r.stdout);
    assert!(!missing.exists(), "nothing missing: no missing_prices.csv");
    let user = read_user_prices(&file, &Fiat::usd()).unwrap();
    let valued = values(&data, "USD", user);
    let okb: Vec<_> = valued
        .iter()
        .filter(|(t, _)| {
            t.sent
                .iter()
                .chain(&t.received)
                .chain(&t.fee)
                .any(|a| a.asset == "OKB")
        })
        .collect();
    assert!(!okb.is_empty());
    for (tx, v) in okb {
        assert_eq!(v.unit_price("OKB"), Some(Decimal::from(42)), "{}", tx.id);
        assert!(v.value.is_some());
    }
    let (_, v) = valued
        .iter()
        .find(|(t, _)| t.received.as_ref().is_some_and(|a| a.asset == "OKB") && t.sent.is_none())
        .or_else(|| {
            valued
                .iter()
                .find(|(t, _)| t.sent.as_ref().is_some_and(|a| a.asset == "OKB"))
        })
        .expect("an OKB row");
    assert!(v.source.contains("file:filled.csv"), "{}", v.source);
    // A file in another fiat is refused with the fix.
    let r = prices(
        &sim,
        &data,
        &["--prices", file.to_str().unwrap(), "--fiat", "EUR"],
    )
    .await;
    assert_ne!(r.code, 0);
    assert!(r.err().contains("pass --fiat USD"), "{}", r.stderr);
}
