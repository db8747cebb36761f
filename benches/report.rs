//! Benchmark: normalize and write every format for N stored records.
//!
//! `cargo bench --bench report` builds stores of 250k, 500k and 1M records (spot trades,
//! perpetual funding fees, transfers, deposits) and, for each, runs normalize + all
//! formats in a fresh child process, printing records/s and the child's peak RSS, so
//! memory can be seen to stay flat as N grows. `BENCH_SIZES=1000000` picks sizes.

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
                raw: format!(r#"{{"billId":"{id}","ccy":"USDT","balChg":"1","bal":"{written}","type":"83","notes":"","ts":"{ts}"}}"#),
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

fn child(dir: &Path, n: usize) {
    let store = Store::open(dir).unwrap();
    let out = dir.join("out");
    std::fs::create_dir_all(&out).unwrap();
    let rss_before = peak_rss_mb();
    let t = Instant::now();
    // BENCH_FORMATS=none|LIST measures normalization alone or a subset of the formats.
    let formats = std::env::var("BENCH_FORMATS").unwrap_or_else(|_| "all".into());
    let formats = if formats == "none" {
        Vec::new()
    } else {
        Format::parse_list(&formats).unwrap()
    };
    // BENCH_VALUER=fixed values every row (FixedPrices: the value columns are filled);
    // the default is NoPrices, what `report` uses until the price stage is merged.
    let mut valuer: Box<dyn Valuer> = match std::env::var("BENCH_VALUER").as_deref() {
        Ok("fixed") => Box::new(FixedPrices::demo(Fiat::usd())),
        _ => Box::new(NoPrices::new(Fiat::usd())),
    };
    let mut writer = ExportWriter::create(&out, &formats, ExportOptions::default()).unwrap();
    let mut rows = 0u64;
    let summary = normalize(&store, &NormalizeOptions::default(), &mut |tx| {
        rows += 1;
        let value = valuer.value(&tx)?;
        writer.write(&tx, &value)
    })
    .unwrap();
    let exported = writer.finish().unwrap();
    let secs = t.elapsed().as_secs_f64();
    println!(
        "report bench: {n:>9} stored records -> {rows:>9} rows, {:.2}s, {:>9.0} records/s, peak RSS {:.1} MB (at start {:.1} MB), unclassified {}",
        secs,
        n as f64 / secs,
        peak_rss_mb(),
        rss_before,
        summary.unclassified
    );
    // What `report` does next on every run: read every written file back as its tool reads
    // it and compare the sums (issue 8, item 4).
    let t = Instant::now();
    let checks = okx_export::export::readback::files_checks(&out, &exported, None, None);
    let check_s = t.elapsed().as_secs_f64();
    println!(
        "file checks bench: {n:>9} stored records, {} files read back in {check_s:.2}s ({:+.0}% of the export's {secs:.2}s), {} check rows not ok, peak RSS {:.1} MB",
        exported.formats.len(),
        100.0 * check_s / secs,
        checks.iter().filter(|c| c.status != "ok").count(),
        peak_rss_mb()
    );
    // BENCH_HTML=1 also runs the whole report pipeline (report::run: every format,
    // reconciliation, tax summary, report.html) for the store's days as one period, valued
    // by FixedPrices (which lists every (asset, minute) it priced, as the real valuer
    // does), and prints the size of report.html.
    if std::env::var_os("BENCH_HTML").is_some() {
        let out = dir.join("html");
        let from = chrono::DateTime::from_timestamp_millis(T0).unwrap();
        let days = (n as i64 * 1000) / 86_400_000 + 1;
        let req = okx_export::report::ReportRequest {
            period: okx_export::report::Period {
                from: Some(from),
                to: Some(from + chrono::Duration::days(days)),
                tz: chrono_tz::UTC,
            },
            formats: Format::ALL.to_vec(),
            out: out.clone(),
            allow_unclassified: false,
            allow_incomplete: true,
            accounts: okx_export::report::AccountsContext::default(),
        };
        let t = Instant::now();
        let mut valuer = FixedPrices::demo(Fiat::usd());
        let o = okx_export::report::run(&store, &req, &mut valuer).unwrap();
        let secs = t.elapsed().as_secs_f64();
        let size = std::fs::metadata(out.join("report.html")).unwrap().len();
        let w = o.written.as_ref().unwrap();
        println!(
            "html bench: {n:>9} stored records, report::run in {secs:.2}s, report.html {size} bytes ({:.2} MB), {} prices used, {} holdings instants, peak RSS {:.1} MB",
            size as f64 / 1_048_576.0,
            w.prices.used.len(),
            w.series.as_ref().map_or(0, |s| s.points.len()),
            peak_rss_mb()
        );
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
        .unwrap_or_else(|_| "250000,500000,1000000".into())
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
