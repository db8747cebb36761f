//! The rows step's two threads: the files are the same whatever the batches, and a failure
//! on either side leaves no file in place.

use super::*;
use crate::export::{FixedPrices, Format};
use crate::prices::{Fiat, RowValue};
use crate::report::run;
use crate::store::{NewRecord, RecordKind};

const T0: i64 = 1_735_689_600_000; // 2025-01-01

/// A store of `pairs` spot buys (two bills each, a chain that holds).
fn store(dir: &Path, pairs: usize) -> Store {
    let mut store = Store::open(dir).unwrap();
    let mut page = Vec::new();
    for i in 0..pairs {
        let id = 1_000 + 2 * i as i64;
        let ts = T0 + i as i64 * 1000;
        for (n, ccy, chg, bal) in [
            (
                id,
                "USDT",
                "-6".to_string(),
                format!("{}", 1_000_000 - 6 * (i + 1)),
            ),
            (
                id + 1,
                "BTC",
                "0.0001".to_string(),
                format!("{}", (i + 1) as f32 / 10_000.0),
            ),
        ] {
            page.push(NewRecord {
                kind: RecordKind::Bill,
                key: n.to_string(),
                ts_ms: ts,
                num: Some(n),
                link: None,
                raw: format!(
                    r#"{{"billId":"{n}","type":"2","subType":"1","ts":"{ts}","ccy":"{ccy}","balChg":"{chg}","bal":"{bal}","sz":"{sz}","fee":"0","instType":"SPOT","instId":"BTC-USDT","ordId":"{id}","tradeId":"{id}","px":"60000"}}"#,
                    sz = chg.trim_start_matches('-'),
                ),
            });
        }
    }
    store.insert_page("test", 1, &page, None).unwrap();
    store
}

fn request(out: &Path, pairs: usize) -> ReportRequest {
    let from = DateTime::from_timestamp_millis(T0).unwrap();
    ReportRequest {
        period: Period {
            from: Some(from),
            to: Some(from + chrono::Duration::seconds(pairs as i64 + 1)),
            tz: chrono_tz::UTC,
        },
        formats: Format::ALL.to_vec(),
        out: out.to_path_buf(),
        allow_unclassified: false,
        allow_incomplete: true,
        accounts: super::super::AccountsContext::default(),
    }
}

/// Values rows like [`FixedPrices`] until the `fail_at`-th, which fails.
struct FailingValuer {
    inner: FixedPrices,
    seen: usize,
    fail_at: usize,
}

impl Valuer for FailingValuer {
    fn fiat(&self) -> &Fiat {
        self.inner.fiat()
    }

    fn value(&mut self, tx: &crate::model::Transaction) -> Result<RowValue> {
        self.seen += 1;
        if self.seen == self.fail_at {
            anyhow::bail!("no price for row {}", tx.id);
        }
        self.inner.value(tx)
    }
}

/// More rows than a few batches are written, all of them, in order.
#[test]
fn rows_in_many_batches_are_all_written() {
    let pairs = BATCH_ROWS * 3 + 17;
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path(), pairs);
    let out = dir.path().join("out");
    let mut valuer = FixedPrices::demo(Fiat::usd());
    let o = run(&store, &request(&out, pairs), &mut valuer).unwrap();
    let w = o.written.unwrap();
    assert_eq!(w.normalized.rows_by_kind.values().sum::<u64>(), pairs as u64);
    let koinly = std::fs::read_to_string(out.join("koinly.csv")).unwrap();
    assert_eq!(koinly.lines().count(), pairs + 1);
    // transactions.csv: `id,time,…`, one row per trade in time order across the batches.
    let txs = std::fs::read_to_string(out.join("transactions.csv")).unwrap();
    let times: Vec<&str> = txs
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(1).unwrap())
        .collect();
    assert_eq!(times.len(), pairs);
    assert!(
        times.windows(2).all(|w| w[0] < w[1]),
        "rows keep their time order"
    );
    assert!(w.reconciliation.gaps.is_empty());
}

/// A row failing after several batches were handed to the writer stops the report with
/// its own error, and no tax file is put in place (the writer never saw `Done`).
#[test]
fn a_failure_midway_leaves_no_file_in_place() {
    let pairs = BATCH_ROWS * 3;
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path(), pairs);
    let out = dir.path().join("out");
    let mut valuer = FailingValuer {
        inner: FixedPrices::demo(Fiat::usd()),
        seen: 0,
        fail_at: BATCH_ROWS * 2 + 5,
    };
    let e = run(&store, &request(&out, pairs), &mut valuer).unwrap_err();
    assert!(format!("{e:#}").contains("no price for row"), "{e:#}");
    for f in ["koinly.csv", "transactions.csv", "ctc.csv", "dali.ini"] {
        assert!(!out.join(f).exists(), "{f} was put in place");
    }
    let left: Vec<_> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n != "coverage.csv")
        .collect();
    assert!(left.is_empty(), "{left:?}");
}
