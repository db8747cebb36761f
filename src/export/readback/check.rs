//! The written files reconcile on every run (issue 8, item 4), closing the chain
//! ledger → `transactions.csv` → each tax file:
//!
//! * `file:transactions`: `transactions.csv`, read back from disk, sums per (account,
//!   asset) to the rows the writer was given (the normalizer's rows of the period; the
//!   `rows` check compares all of them with the ledgers' Σ balChg).
//! * `file:<format>`: each tax file, read back as its tool reads it
//!   ([`super`]), gives per asset the balance of `transactions.csv`
//!   minus the rows that format drops by rule (transfers between the user's own accounts,
//!   `unclassified` rows, rows it cannot represent; DaLI also tracks no fiat). CoinTracker
//!   takes 8 decimals per quantity: the writer books, per asset, exactly what its rounding
//!   changes, and the file must hold that too, to the last digit (no tolerance).
//!
//! One row per asset that differs and one summary row per file, over the report's period.
//! A file that cannot be read back (a type the reader does not know, a bad cell) fails its
//! check with the reason.

use super::{Files, KoinlyFees, Reading, read_part, read_transactions};
use crate::export::{ExportReport, Format, FormatReport, is_fiat};
use crate::model::{Account, plain};
use crate::reconcile::CheckRow;
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use std::collections::BTreeMap;
#[cfg(test)]
use std::collections::BTreeSet;

/// The period the files cover, for the rows' range columns.
#[derive(Debug, Clone, Copy)]
struct Period {
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
}

/// The checks of every file in `exported`, written into `files` for the period `from..to`.
pub fn files_checks(
    files: Files<'_>,
    exported: &ExportReport,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
) -> Vec<CheckRow> {
    let period = Period { from, to };
    // Each tax file is read on its own thread, largest first (reading back is most of this
    // check's cost, and the last reader to start should be a short one); a format of
    // several files (DaLI) has a thread per file, its parts merged in file order. This
    // thread reads `transactions.csv` meanwhile.
    let mut parts: Vec<(&FormatReport, usize, u64)> = exported
        .formats
        .iter()
        .filter(|f| f.format != Format::Generic)
        .flat_map(|f| {
            (0..super::parts(f.format)).map(move |part| {
                let path = f.paths.get(part).map(std::slice::from_ref).unwrap_or_default();
                (f, part, files.bytes(path))
            })
        })
        .collect();
    parts.sort_by_key(|(_, _, bytes)| std::cmp::Reverse(*bytes));
    let (transactions, mut parts_read): (Vec<CheckRow>, Vec<PartRead>) = std::thread::scope(|s| {
        let handles: Vec<_> = parts
            .iter()
            .map(|&(f, part, _)| {
                let handle = s.spawn(move || {
                    let mut r = Reading::default();
                    read_part(f.format, part, files, KoinlyFees::Deducted, &mut r).map(|()| r)
                });
                (f, part, handle)
            })
            .collect();
        let transactions = match exported.get(Format::Generic) {
            Some(_) => transactions_check(files, &exported.written, period),
            None => Vec::new(),
        };
        let read = handles
            .into_iter()
            .map(|(f, part, h)| {
                let r = h
                    .join()
                    .unwrap_or_else(|_| Err(anyhow::anyhow!("the reader of {} panicked", f.format.name())));
                (f, part, r)
            })
            .collect();
        (transactions, read)
    });
    // Each format's parts in file order, merged (its first failure is the format's).
    parts_read.sort_by_key(|(f, part, _)| (f.format as usize, *part));
    let mut readings: Vec<(&FormatReport, anyhow::Result<Reading>)> = Vec::new();
    for (f, part, r) in parts_read {
        match readings.last_mut() {
            Some((last, so_far)) if part > 0 && last.format == f.format => {
                if let Ok(whole) = so_far {
                    match r {
                        Ok(r) => whole.merge(r),
                        Err(e) => *so_far = Err(e),
                    }
                }
            }
            _ => readings.push((f, r)),
        }
    }
    let mut out = transactions;
    let written = exported.written_by_asset();
    // The rows in the order of the formats, as the files were written.
    readings.sort_by_key(|(f, _)| exported.formats.iter().position(|x| x.format == f.format));
    for (f, reading) in readings {
        out.extend(tax_file_check(f, &written, reading, period));
    }
    out
}

/// One part of a format's files read back: the format, the part, what was read.
type PartRead<'a> = (&'a FormatReport, usize, anyhow::Result<Reading>);

fn check_name(format: Format) -> &'static str {
    match format {
        Format::Generic => "file:transactions",
        Format::Koinly => "file:koinly",
        Format::CoinTracking => "file:cointracking",
        Format::Ctc => "file:ctc",
        Format::BittyTax => "file:bittytax",
        Format::CoinTracker => "file:cointracker",
        Format::CoinLedger => "file:coinledger",
        Format::Dali => "file:dali",
    }
}

fn row(check: &'static str, account: &str, asset: &str, period: Period) -> CheckRow {
    CheckRow {
        check,
        account: account.to_string(),
        asset: asset.to_string(),
        from: period.from,
        to: period.to,
        computed: None,
        reported: None,
        difference: None,
        status: "ok".into(),
        detail: String::new(),
    }
}

fn unreadable(check: &'static str, period: Period, e: &anyhow::Error) -> CheckRow {
    CheckRow {
        status: "unreadable".into(),
        detail: format!("could not be read back as its tool reads it: {e:#}"),
        ..row(check, "", "", period)
    }
}

fn transactions_check(
    files: Files<'_>,
    written: &BTreeMap<Account, BTreeMap<String, Decimal>>,
    period: Period,
) -> Vec<CheckRow> {
    let check = check_name(Format::Generic);
    let file = match read_transactions(files) {
        Ok(f) => f,
        Err(e) => return vec![unreadable(check, period, &e)],
    };
    let mut want: BTreeMap<(String, String), Decimal> = BTreeMap::new();
    for (account, sums) in written {
        for (asset, v) in sums.iter().filter(|(_, v)| !v.is_zero()) {
            want.insert((account.as_str().to_string(), asset.clone()), v.normalize());
        }
    }
    let mut keys: Vec<&(String, String)> = want.keys().chain(file.keys()).collect();
    keys.sort();
    keys.dedup();
    let mut out = Vec::new();
    for key in &keys {
        let got = file.get(*key).copied().unwrap_or_default();
        let rows = want.get(*key).copied().unwrap_or_default();
        if got != rows {
            out.push(CheckRow {
                computed: Some(got),
                reported: Some(rows),
                difference: Some(got - rows),
                status: "mismatch".into(),
                detail: format!(
                    "transactions.csv sums to {} but the rows written to {}",
                    plain(got),
                    plain(rows)
                ),
                ..row(check, &key.0, &key.1, period)
            });
        }
    }
    let failed = out.len();
    out.push(summary(
        check,
        failed,
        format!(
            "transactions.csv read back: {} account/asset sums compared with the rows written; {failed} differ",
            keys.len()
        ),
        period,
    ));
    out
}

fn tax_file_check(
    f: &FormatReport,
    written: &BTreeMap<String, Decimal>,
    reading: anyhow::Result<Reading>,
    period: Period,
) -> Vec<CheckRow> {
    let check = check_name(f.format);
    let reading = match reading {
        Ok(r) => r,
        Err(e) => return vec![unreadable(check, period, &e)],
    };
    let got = reading.balances();
    let dali = f.format == Format::Dali;
    let get = |m: &BTreeMap<String, Decimal>, a: &str| m.get(a).copied().unwrap_or_default();
    let mut want: BTreeMap<String, Decimal> = BTreeMap::new();
    for asset in written.keys().chain(f.rounding.keys()) {
        let v = (get(written, asset) - get(&f.dropped, asset) + get(&f.rounding, asset)).normalize();
        let carried = !(dali && is_fiat(asset));
        if !v.is_zero() && carried {
            want.insert(asset.clone(), v);
        }
    }
    let mut assets: Vec<&String> = want.keys().chain(got.keys()).collect();
    assets.sort();
    assets.dedup();
    let mut out = Vec::new();
    for asset in &assets {
        let g = get(&got, asset);
        let w = get(&want, asset);
        if g == w {
            continue;
        }
        let rounding = get(&f.rounding, asset);
        out.push(CheckRow {
            computed: Some(g),
            reported: Some(w),
            difference: Some(g - w),
            status: "mismatch".into(),
            detail: format!(
                "{} reads {} {asset}; transactions.csv has {} minus {} in rows this format drops by rule{}{}",
                file_names(f),
                plain(g),
                plain(get(written, asset)),
                plain(get(&f.dropped, asset)),
                if rounding.is_zero() {
                    String::new()
                } else {
                    format!(", plus {} from rounding to 8 decimals", plain(rounding))
                },
                if dali && is_fiat(asset) {
                    " (and DaLI tracks no fiat)"
                } else {
                    ""
                },
            ),
            ..row(check, "", asset, period)
        });
    }
    let failed = out.len();
    let rounded = if f.rounding.is_empty() {
        String::new()
    } else {
        format!(
            ", plus the format's rounding to 8 decimals ({})",
            f.rounding
                .iter()
                .map(|(a, r)| format!("{} {a}", plain(*r)))
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    out.push(summary(
        check,
        failed,
        format!(
            "{} read back as the tool reads it: {} assets compared with transactions.csv minus the {} rows this format drops by rule ({} transfer, {} unclassified, {} it cannot represent){}{rounded}; {failed} differ",
            file_names(f),
            assets.len(),
            f.skipped(),
            f.skipped_transfers,
            f.skipped_unclassified,
            f.skipped_other,
            if dali { ", fiat left out" } else { "" },
        ),
        period,
    ));
    out
}

/// The closing row of one file's check, over the period.
fn summary(check: &'static str, failed: usize, detail: String, period: Period) -> CheckRow {
    CheckRow {
        from: period.from,
        to: period.to,
        ..CheckRow::summary(check, "", failed, "mismatch", detail)
    }
}

fn file_names(f: &FormatReport) -> String {
    f.paths
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "csv"))
        .filter_map(|p| p.file_name())
        .map(|n| n.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" + ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::export::proof::generated::{demo, generated};
    use crate::export::testdata::no_value;
    use crate::export::{ExportOptions, ExportWriter};
    use crate::model::Transaction;
    use std::path::Path;

    /// Exports `txs` in every format into `dir`.
    fn export(dir: &Path, txs: &[Transaction]) -> ExportReport {
        let mut w = ExportWriter::create(dir, &Format::ALL, ExportOptions::default()).unwrap();
        for tx in txs {
            w.write(tx, &no_value(tx)).unwrap();
        }
        w.finish().unwrap()
    }

    fn checks(dir: &Path, report: &ExportReport) -> Vec<CheckRow> {
        files_checks(Files::in_dir(dir), report, None, None)
    }

    fn failures(rows: &[CheckRow]) -> Vec<&CheckRow> {
        rows.iter().filter(|r| r.status != "ok").collect()
    }

    /// Replaces the first occurrence of `from` in `name` by `to`.
    fn edit(dir: &Path, name: &str, from: &str, to: &str) {
        let p = dir.join(name);
        let text = std::fs::read_to_string(&p).unwrap();
        assert!(text.contains(from), "{name} has no `{from}`");
        std::fs::write(&p, text.replacen(from, to, 1)).unwrap();
    }

    #[test]
    fn every_file_of_a_complete_export_sums_to_the_rows() {
        for (label, txs) in [("generated", generated(9, 3000)), ("demo", demo())] {
            let dir = tempfile::tempdir().unwrap();
            let report = export(dir.path(), &txs);
            let rows = checks(dir.path(), &report);
            assert_eq!(failures(&rows), Vec::<&CheckRow>::new(), "{label}");
            // One summary row per file, in format order, each over real content.
            let summaries: Vec<&str> = rows
                .iter()
                .filter(|r| r.asset.is_empty() && r.account.is_empty())
                .map(|r| r.check)
                .collect();
            assert_eq!(
                summaries,
                [
                    "file:transactions",
                    "file:koinly",
                    "file:cointracking",
                    "file:ctc",
                    "file:bittytax",
                    "file:cointracker",
                    "file:coinledger",
                    "file:dali"
                ],
                "{label}"
            );
            let koinly = rows.iter().find(|r| r.check == "file:koinly").unwrap();
            let f = report.get(Format::Koinly).unwrap();
            assert!(f.skipped_transfers > 0, "{label}: the account has transfers");
            assert!(
                koinly.detail.contains(&format!(
                    "the {} rows this format drops by rule ({} transfer,",
                    f.skipped(),
                    f.skipped_transfers
                )),
                "{}",
                koinly.detail
            );
            assert!(!f.dropped.is_empty(), "{label}: dropped rows have amounts");
        }
    }

    #[test]
    fn a_changed_amount_in_a_tax_file_is_a_mismatch_naming_the_asset() {
        let dir = tempfile::tempdir().unwrap();
        let txs = demo();
        let report = export(dir.path(), &txs);
        // A USDT deposit whose amount gains a trailing digit in ctc.csv.
        let text = std::fs::read_to_string(dir.path().join("ctc.csv")).unwrap();
        let line = text
            .lines()
            .find(|l| l.contains(",receive,USDT,"))
            .unwrap()
            .to_string();
        let amount = line.split(',').nth(3).unwrap().to_string();
        let changed = line.replacen(&format!(",USDT,{amount},"), &format!(",USDT,{amount}1,"), 1);
        edit(dir.path(), "ctc.csv", &line, &changed);
        let rows = checks(dir.path(), &report);
        let bad = failures(&rows);
        assert_eq!(bad.len(), 2, "{bad:#?}");
        assert_eq!((bad[0].check, bad[0].asset.as_str()), ("file:ctc", "USDT"));
        let got: Decimal =
            format!("{amount}1").parse::<Decimal>().unwrap() - amount.parse::<Decimal>().unwrap();
        assert_eq!(bad[0].difference, Some(got));
        assert_eq!(bad[0].status, "mismatch");
        assert!(bad[0].detail.starts_with("ctc.csv reads "), "{}", bad[0].detail);
        assert_eq!((bad[1].check, bad[1].status.as_str()), ("file:ctc", "mismatch"));
        assert!(bad[1].detail.ends_with("; 1 differ"), "{}", bad[1].detail);
    }

    /// DaLI's three files are read on three threads: a type the tool does not know in the
    /// second one still fails `file:dali`, naming that file, and nothing else.
    #[test]
    fn an_unknown_type_in_a_later_dali_file_fails_the_dali_check() {
        let dir = tempfile::tempdir().unwrap();
        let report = export(dir.path(), &demo());
        edit(dir.path(), "dali-out.csv", ",SELL,", ",BARTER,");
        let rows = checks(dir.path(), &report);
        let bad = failures(&rows);
        assert_eq!(bad.len(), 1, "{bad:#?}");
        assert_eq!(bad[0].check, "file:dali");
        assert!(
            bad[0].detail.contains("dali-out.csv") && bad[0].detail.contains("BARTER"),
            "{}",
            bad[0].detail
        );
    }

    #[test]
    fn a_lost_row_is_a_mismatch_in_its_file_only() {
        let dir = tempfile::tempdir().unwrap();
        let report = export(dir.path(), &demo());
        for name in ["transactions.csv", "koinly.csv", "dali-out.csv"] {
            let p = dir.path().join(name);
            let text = std::fs::read_to_string(&p).unwrap();
            let mut lines: Vec<&str> = text.lines().collect();
            lines.remove(lines.len() / 2);
            std::fs::write(&p, lines.join("\n") + "\n").unwrap();
        }
        let rows = checks(dir.path(), &report);
        let failed: BTreeSet<&str> = failures(&rows).iter().map(|r| r.check).collect();
        assert_eq!(
            failed,
            BTreeSet::from(["file:transactions", "file:koinly", "file:dali"]),
            "{:#?}",
            failures(&rows)
        );
        // transactions.csv is compared per (account, asset).
        let t = rows
            .iter()
            .find(|r| r.check == "file:transactions" && !r.asset.is_empty())
            .unwrap();
        assert!(
            ["trading", "funding", "earn"].contains(&t.account.as_str()),
            "{t:?}"
        );
    }

    /// A report reads its files back before they are in place (from their temp files, while
    /// another thread waits for the disk): what is read there is what is then put in place,
    /// and messages name the files by their final names.
    #[test]
    fn staged_files_are_read_back_from_their_temp_files() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = ExportWriter::create(dir.path(), &Format::ALL, ExportOptions::default()).unwrap();
        for tx in &demo() {
            w.write(tx, &no_value(tx)).unwrap();
        }
        let (report, staged) = w.finish_staged().unwrap();
        let paths = staged.paths();
        assert_eq!(paths.len(), report.paths().count());
        assert!(report.paths().all(|p| !p.exists()), "nothing is in place yet");
        let rows = files_checks(Files::staged(dir.path(), &paths), &report, None, None);
        assert_eq!(failures(&rows), Vec::<&CheckRow>::new());
        assert!(rows.iter().any(|r| r.check == "file:dali"), "{rows:#?}");
        // A bad cell in a temp file: named by the file's final name, not the temp file's.
        let (_, bittytax) = paths.iter().find(|(p, _)| p.ends_with("bittytax.csv")).unwrap();
        let text = std::fs::read_to_string(bittytax).unwrap();
        std::fs::write(bittytax, text.replacen("\nDeposit,", "\nDeposit,abc", 1)).unwrap();
        let staged_rows = files_checks(Files::staged(dir.path(), &paths), &report, None, None);
        let bad = failures(&staged_rows);
        assert_eq!(bad.len(), 1, "{bad:#?}");
        assert!(
            bad[0].detail.contains("bittytax.csv line ") && !bad[0].detail.contains(".tmp"),
            "{}",
            bad[0].detail
        );
        // Put in place, the files read the same.
        staged.sync().unwrap().persist().unwrap();
        assert!(report.paths().all(Path::exists));
        assert_eq!(checks(dir.path(), &report), staged_rows);
    }

    #[test]
    fn a_row_the_reader_does_not_know_makes_the_file_unreadable() {
        let dir = tempfile::tempdir().unwrap();
        let report = export(dir.path(), &demo());
        edit(dir.path(), "cointracking.csv", "\nTrade,", "\nSwap,");
        edit(dir.path(), "bittytax.csv", "\nDeposit,", "\nDeposit,abc");
        let rows = checks(dir.path(), &report);
        let bad = failures(&rows);
        assert_eq!(bad.len(), 2, "{bad:#?}");
        assert_eq!(
            (bad[0].check, bad[0].status.as_str()),
            ("file:cointracking", "unreadable")
        );
        assert!(
            bad[0].detail.contains("cointracking.csv line ")
                && bad[0].detail.contains("CoinTracking type `Swap`"),
            "{}",
            bad[0].detail
        );
        assert_eq!(
            (bad[1].check, bad[1].status.as_str()),
            ("file:bittytax", "unreadable")
        );
        assert!(
            bad[1].detail.contains("is not a plain decimal"),
            "{}",
            bad[1].detail
        );
        // A missing file is unreadable too, never a pass.
        std::fs::remove_file(dir.path().join("coinledger.csv")).unwrap();
        let rows = checks(dir.path(), &report);
        let r = rows.iter().find(|r| r.check == "file:coinledger").unwrap();
        assert_eq!(r.status, "unreadable", "{r:?}");
    }

    #[test]
    fn cointracker_rounding_is_booked_exactly_and_nothing_else_passes() {
        use crate::export::testdata::{buy, dec};
        let mut a = buy();
        a.received = Some(crate::model::Amount::new(dec("0.123456784"), "BTC"));
        a.fee = None;
        let dir = tempfile::tempdir().unwrap();
        let report = export(dir.path(), &[a]);
        let ct = report.get(Format::CoinTracker).unwrap();
        assert_eq!(ct.rounding.get("BTC"), Some(&dec("-0.000000004")));
        let rows = checks(dir.path(), &report);
        assert_eq!(failures(&rows), Vec::<&CheckRow>::new());
        let s = rows.iter().find(|r| r.check == "file:cointracker").unwrap();
        assert!(
            s.detail
                .contains("plus the format's rounding to 8 decimals (-0.000000004 BTC)"),
            "{}",
            s.detail
        );
        // One unit in the last place more than the rounding gave: a mismatch.
        edit(dir.path(), "cointracker.csv", "0.12345678,BTC", "0.12345679,BTC");
        let rows = checks(dir.path(), &report);
        let bad = failures(&rows);
        assert_eq!((bad[0].check, bad[0].asset.as_str()), ("file:cointracker", "BTC"));
        assert_eq!(bad[0].difference, Some(dec("0.00000001")));
    }

    /// The tolerance this replaced grew with the file (1e-8 per record, per asset), so on
    /// the demo an extra 0.00001 BTC in one row passed as "rounding".
    #[test]
    fn a_small_change_in_a_large_cointracker_file_is_a_mismatch() {
        let dir = tempfile::tempdir().unwrap();
        let report = export(dir.path(), &demo());
        assert!(failures(&checks(dir.path(), &report)).is_empty());
        let text = std::fs::read_to_string(dir.path().join("cointracker.csv")).unwrap();
        let line = text
            .lines()
            .skip(1)
            .find(|l| l.split(',').nth(2) == Some("BTC") && !l.split(',').nth(1).unwrap().is_empty())
            .unwrap()
            .to_string();
        let q = line.split(',').nth(1).unwrap().to_string();
        let more = (q.parse::<Decimal>().unwrap() + Decimal::new(1, 5)).to_string();
        edit(dir.path(), "cointracker.csv", &line, &line.replacen(&q, &more, 1));
        let rows = checks(dir.path(), &report);
        let bad = failures(&rows);
        assert_eq!(bad.len(), 2, "{bad:#?}");
        assert_eq!((bad[0].check, bad[0].asset.as_str()), ("file:cointracker", "BTC"));
        assert_eq!(bad[0].difference, Some(Decimal::new(1, 5)));
    }

    #[test]
    fn dali_leaves_fiat_out_and_checks_the_crypto() {
        let dir = tempfile::tempdir().unwrap();
        let txs = generated(9, 3000);
        assert!(
            txs.iter()
                .any(|t| t.received.as_ref().is_some_and(|a| is_fiat(&a.asset)))
        );
        let report = export(dir.path(), &txs);
        let rows = checks(dir.path(), &report);
        let dali: Vec<&CheckRow> = rows.iter().filter(|r| r.check == "file:dali").collect();
        assert_eq!(dali.len(), 1, "{dali:#?}");
        assert!(
            dali[0].detail.contains(", fiat left out; 0 differ"),
            "{}",
            dali[0].detail
        );
    }
}
