//! Benchmark: a whole report for N stored records.
//!
//! `cargo bench --bench report` builds stores of 30k, 250k and 1M records (spot trades,
//! perpetual funding fees, transfers, deposits) and, for each, runs in a fresh child
//! process the whole report pipeline (`report::run` for the store's days as one period:
//! every row valued (`FixedPrices`) and written in every format, the files read back,
//! reconciliation, holdings and tax summary, `summary.json`, `report.html`), printing
//! records/s, the child's peak RSS (memory stays flat as N grows) and the time of each
//! step. `BENCH_SIZES=30000,1000000` picks sizes; `BENCH_VALUER=none` writes no values
//! (`NoPrices`); `BENCH_EXPORT=1` also times the export alone (normalize, value, write)
//! and the read-back, as this bench did before issue 23, in the formats of
//! `BENCH_FORMATS=none|LIST` (default all); `BENCH_RECONCILE=1` times `reconcile` alone.

use okx_export::export::{ExportOptions, ExportWriter, FixedPrices, Format};
use okx_export::normalize::{NormalizeOptions, normalize};
use okx_export::prices::{Fiat, NoPrices, Valuer};
use okx_export::store::{NewRecord, RecordKind, Store};
use std::path::Path;
use std::time::Instant;

const T0: i64 = 1_735_689_600_000; // 2025-01-01

fn bill(id: i64, ts: i64, ty: &str, sub: &str, ccy: &str, chg: &str, bal: &str) -> NewRecord {
    NewRecord {
        kind: RecordKind::Bill,
        key: id.to_string(),
        ts_ms: ts,
        num: Some(id),
        link: None,
        raw: format!(
            r#"{{"billId":"{id}","type":"{ty}","subType":"{sub}","ts":"{ts}","ccy":"{ccy}","balChg":"{chg}","bal":"{bal}","sz":"{sz}","fee":"{fee}","pnl":"{pnl}","instType":"{it}","instId":"{inst}","ordId":"{ord}","tradeId":"{trade}","px":"{px}","from":"","to":"","notes":"","mgnMode":"cash","interest":"0","posBal":"","posBalChg":""}}"#,
            sz = chg.trim_start_matches('-'),
            fee = if sub == "1" && ccy == "BTC" {
                "-0.0000001"
            } else {
                "0"
            },
            it = if ty == "2" { "SPOT" } else { "" },
            inst = if ty == "2" { "BTC-USDT" } else { "" },
            ord = if ty == "2" {
                (id / 2).to_string()
            } else {
                String::new()
            },
            trade = if ty == "2" {
                (id / 2).to_string()
            } else {
                "0".to_string()
            },
            px = if ty == "2" { "60000" } else { "" },
            pnl = if ty == "8" { chg } else { "" },
        ),
    }
}

/// Writes `n` records (trading bills in pairs plus funding bills) into a new store.
fn build(dir: &Path, n: usize) -> f64 {
    let t = Instant::now();
    let mut store = Store::open(dir).unwrap();
    let mut page = Vec::with_capacity(10_000);
    let mut id = 1_000_000_000_000_000i64;
    let (mut usdt, mut btc) = (
        rust_decimal::Decimal::from(1_000_000_000),
        rust_decimal::Decimal::ZERO,
    );
    let spend: rust_decimal::Decimal = "6".parse().unwrap();
    let get: rust_decimal::Decimal = "0.0001".parse().unwrap();
    let fee: rust_decimal::Decimal = "0.0000001".parse().unwrap();
    let mut written = 0;
    // The funding account's running balance (each funding bill adds 1 USDT), so its chain
    // holds as a real store's does (a broken one lists a gap per bill).
    let mut funding = 0u64;
    while written < n {
        let ts = T0 + written as i64 * 1000;
        if (written / 2) % 10 == 9 {
            // A funding bill (deposit-like) and a trading funding fee.
            id += 1;
            page.push(NewRecord {
                kind: RecordKind::FundingBill,
                key: id.to_string(),
                ts_ms: ts,
                num: Some(id),
                link: None,
                raw: {
                    funding += 1;
                    format!(r#"{{"billId":"{id}","ccy":"USDT","balChg":"1","bal":"{funding}","type":"83","notes":"","ts":"{ts}"}}"#)
                },
            });
            id += 1;
            usdt -= rust_decimal::Decimal::ONE;
            page.push(bill(id, ts, "8", "173", "USDT", "-1", &usdt.to_string()));
        } else {
            id += 2 - (id % 2); // even id: the pair shares id/2 as order and trade id
            usdt -= spend;
            page.push(bill(id, ts, "2", "1", "USDT", "-6", &usdt.to_string()));
            btc += get - fee;
            page.push(bill(
                id + 1,
                ts,
                "2",
                "1",
                "BTC",
                &(get - fee).to_string(),
                &btc.to_string(),
            ));
            id += 1;
        }
        written += 2;
        if page.len() >= 10_000 {
            store.insert_page("bench", 1, &page, None).unwrap();
            page.clear();
        }
    }
    store.insert_page("bench", 1, &page, None).unwrap();
    t.elapsed().as_secs_f64()
}

fn peak_rss_mb() -> f64 {
    okx_export::sync::peak_rss_bytes().unwrap_or(0) as f64 / 1_048_576.0
}

/// The store's days as one period (its records are one a second from `T0`).
fn period(n: usize) -> okx_export::report::Period {
    let from = chrono::DateTime::from_timestamp_millis(T0).unwrap();
    let days = (n as i64 * 1000) / 86_400_000 + 1;
    okx_export::report::Period {
        from: Some(from),
        to: Some(from + chrono::Duration::days(days)),
        tz: chrono_tz::UTC,
    }
}

fn valuer() -> Box<dyn Valuer> {
    match std::env::var("BENCH_VALUER").as_deref() {
        Ok("none") => Box::new(NoPrices::new(Fiat::usd())),
        _ => Box::new(FixedPrices::demo(Fiat::usd())),
    }
}

fn child(dir: &Path, n: usize) {
    let store = Store::open(dir).unwrap();
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let load = load.split_whitespace().take(3).collect::<Vec<_>>().join(" ");
    let rss_before = peak_rss_mb();
    let out = dir.join("report");
    let req = okx_export::report::ReportRequest {
        period: period(n),
        formats: Format::ALL.to_vec(),
        out: out.clone(),
        allow_unclassified: false,
        allow_incomplete: true,
        accounts: okx_export::report::AccountsContext::default(),
    };
    let t = Instant::now();
    let mut valuer = valuer();
    let o = okx_export::report::run(&store, &req, valuer.as_mut()).unwrap();
    let secs = t.elapsed().as_secs_f64();
    let w = o.written.as_ref().unwrap();
    println!(
        "report bench: {n:>9} stored records -> {:>9} rows, report {secs:.2}s, {:>9.0} records/s, peak RSS {:.1} MB (at start {rss_before:.1} MB), {} checks not ok, unclassified {}; load average {load}",
        w.normalized.rows_by_kind.values().sum::<u64>(),
        n as f64 / secs,
        peak_rss_mb(),
        w.reconciliation
            .cross
            .iter()
            .filter(|c| c.status != "ok" && c.status != "not_compared")
            .count(),
        w.normalized.unclassified
    );
    for (step, took) in &o.steps.took {
        println!(
            "  {step:<45} {:>7.3}s {:>5.1} %",
            took.as_secs_f64(),
            100.0 * took.as_secs_f64() / secs
        );
    }
    for (step, took) in &o.steps.alongside {
        println!(
            "  {step:<45} {:>7.3}s {:>5.1} % (on another thread, not in the sum)",
            took.as_secs_f64(),
            100.0 * took.as_secs_f64() / secs
        );
    }
    let size = std::fs::metadata(out.join("report.html")).unwrap().len();
    println!(
        "  report.html {size} bytes, {} prices used, {} holdings instants",
        w.prices.used.len(),
        w.series.as_ref().map_or(0, |s| s.points.len()),
    );
    if std::env::var_os("BENCH_EXPORT").is_some() {
        export_only(&store, dir, n);
    }
    // BENCH_RECONCILE=1 also times the reconciliation (continuity in billId order, balance
    // and cross-ledger checks) on the same store.
    if std::env::var_os("BENCH_RECONCILE").is_some() {
        let t = Instant::now();
        let rec =
            okx_export::reconcile::reconcile(&store, &okx_export::reconcile::LedgerRanges::all()).unwrap();
        let secs = t.elapsed().as_secs_f64();
        println!(
            "reconcile bench: {n:>9} stored records, {:.2}s, {:>9.0} records/s, peak RSS {:.1} MB, {} chains, {} breaks",
            secs,
            n as f64 / secs,
            peak_rss_mb(),
            rec.rows.len(),
            rec.gaps.len()
        );
    }
}

/// The export alone (normalize, value, write every format) and the read-back of its files,
/// as measured before issue 23.
fn export_only(store: &Store, dir: &Path, n: usize) {
    let out = dir.join("out");
    std::fs::create_dir_all(&out).unwrap();
    let t = Instant::now();
    let mut valuer = valuer();
    // BENCH_FORMATS=none|LIST: normalization and valuation alone, or a subset of the
    // formats (the cost of each writer is the difference).
    let formats = match std::env::var("BENCH_FORMATS").as_deref() {
        Ok("none") => Vec::new(),
        Ok(list) => Format::parse_list(list).unwrap(),
        Err(_) => Format::ALL.to_vec(),
    };
    let mut writer = ExportWriter::create(&out, &formats, ExportOptions::default()).unwrap();
    let mut rows = 0u64;
    normalize(store, &NormalizeOptions::default(), &mut |tx| {
        rows += 1;
        let value = valuer.value(&tx)?;
        writer.write(&tx, &value)
    })
    .unwrap();
    let exported = writer.finish().unwrap();
    let secs = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let checks = okx_export::export::readback::files_checks(
        okx_export::export::readback::Files::in_dir(&out),
        &exported,
        None,
        None,
    );
    let check_s = t.elapsed().as_secs_f64();
    println!(
        "export bench: {n:>9} stored records -> {rows:>9} rows, {secs:.2}s, {:>9.0} records/s; {} files read back in {check_s:.2}s ({:+.0}%), {} check rows not ok",
        n as f64 / secs,
        exported.formats.len(),
        100.0 * check_s / secs,
        checks.iter().filter(|c| c.status != "ok").count(),
    );
}

fn main() {
    if let Ok(dir) = std::env::var("BENCH_REPORT_CHILD") {
        let n = std::env::var("BENCH_N").unwrap().parse().unwrap();
        child(Path::new(&dir), n);
        return;
    }
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let sizes: Vec<usize> = std::env::var("BENCH_SIZES")
        .unwrap_or_else(|_| "30000,250000,1000000".into())
        .split(',')
        .map(|s| s.trim().parse().unwrap())
        .collect();
    for n in sizes {
        let dir = tempfile::tempdir().unwrap();
        if let Ok(keep) = std::env::var("BENCH_KEEP_STORE") {
            // Profiling aid: keep the built store, then rerun the child by hand with
            // BENCH_REPORT_CHILD=<dir> BENCH_N=<n>.
            let keep = Path::new(&keep).join(n.to_string());
            std::fs::create_dir_all(&keep).unwrap();
            build(&keep, n);
            println!("report bench: store kept in {}", keep.display());
            continue;
        }
        let build_s = build(dir.path(), n);
        println!("report bench: built a store of {n} records in {build_s:.1}s");
        let status = std::process::Command::new(std::env::current_exe().unwrap())
            .env("BENCH_REPORT_CHILD", dir.path())
            .env("BENCH_N", n.to_string())
            .status()
            .unwrap();
        assert!(status.success());
    }
}
