//! Export layer: normalized [`Transaction`]s → CSV files that tax tools import.
//!
//! * [`Format`] names each output (`transactions`, `koinly`, …) and parses `--format` lists.
//! * [`ExportWriter`] streams rows into every selected format at once: each output is a temp
//!   file in the output directory, renamed into place only by [`ExportWriter::finish`]. A
//!   writer dropped before `finish` deletes its temp files, so a crash or an error never
//!   leaves a half-written CSV that a user could import. Memory stays flat: nothing is
//!   buffered beyond a 64 KiB text buffer per file.
//! * [`write_csv_atomic`] / [`write_json_atomic`] write the other reports (balances,
//!   reconciliation) with the same dialect and the same temp-then-rename rule.
//!
//! One file per target tool (`koinly.rs`, `cointracking.rs`, `ctc.rs`, `bittytax.rs`,
//! `cointracker.rs`, `coinledger.rs`, `dali.rs`, `generic.rs`) holds its exact header, date
//! format, kind → type table and fee convention, each documented against
//! `../shared/tax-formats.md` (relative to the repo). What they share has a file per concern:
//!
//! | file | what is there |
//! |---|---|
//! | `format.rs` | [`Format`]: names, `--format` parsing, each format's files and rules |
//! | `writer.rs` | [`ExportWriter`]: temp files, flushing, rename on finish, report counts |
//! | `dialect.rs` | the CSV dialect ([`csv_writer_builder`]) and the `Records`/`Row` cell API |
//! | `legs.rs` | the split of a row into legs; where transfers/unclassified are skipped |
//! | `combine.rs` | the row-combining rules: rebate netting, fill merging, `fold_fee`, `copy_into` |
//! | `prep.rs` | what every format needs of a row (legs, dates, descriptions), once per row |
//! | `readback/` | each tax file read back the way its tool reads it (the per-run file check) |
//!
//! One spot trade is held back per format whose `Combine` rules may merge it with the next.

mod bittytax;
mod coinledger;
mod cointracker;
mod cointracking;
mod combine;
mod ctc;
mod dali;
mod dialect;
mod fixed_prices;
mod format;
mod generic;
mod koinly;
mod legs;
mod prep;
#[cfg(test)]
pub(crate) mod proof;
pub mod readback;
mod tax_detail;
mod tax_summary;
#[cfg(test)]
pub(crate) mod testdata;
mod values;
mod writer;

pub use crate::files::{write_csv_atomic, write_json_atomic};
pub use dialect::csv_writer_builder;
pub use fixed_prices::FixedPrices;
pub use format::{Format, UnknownFormat};
pub use generic::{GROUP_HEADER as GROUP_TRANSACTIONS_HEADER, HEADER as TRANSACTIONS_HEADER, VALUE_COLUMNS};
pub use tax_detail::{DetailEntry, TaxDetail};
pub use tax_summary::{Line as TaxLine, TaxSummary};
pub use writer::{ExportReport, ExportWriter, FormatReport, Staged, Synced};

pub(crate) use combine::fold_fee;
pub(crate) use dialect::{CsvFile, Records, Row};
pub(crate) use legs::{Encoded, Shape, is_derivative, is_fiat, leg_id};
pub(crate) use prep::Prep;

use crate::prices::Fiat;
use chrono::{DateTime, SecondsFormat, Utc};

/// Options shared by all formats.
#[derive(Debug, Clone)]
pub struct ExportOptions {
    /// Display zone for human-facing reports ([`ExportOptions::local_time`]). No tax format
    /// uses it: every tool gets UTC (tax-formats.md, "Convert every timestamp to UTC"), and
    /// `transactions.csv` is fixed to RFC 3339 UTC.
    pub tz: chrono_tz::Tz,
    /// Wallet / exchange / platform name written where a format has such a column.
    pub wallet_name: String,
    /// The fiat of every value (`--fiat`); each row's [`crate::prices::RowValue`] must be in
    /// it. DaLI's `native_fiat`, and BittyTax writes values only when it is GBP.
    pub fiat: Fiat,
    /// `transactions.csv` ends with a `profile` column (a group report, whose rows come
    /// from several accounts: [`ExportWriter::write_for`]).
    pub profile_column: bool,
}

impl Default for ExportOptions {
    fn default() -> ExportOptions {
        ExportOptions {
            tz: chrono_tz::UTC,
            wallet_name: "OKX".to_string(),
            fiat: Fiat::usd(),
            profile_column: false,
        }
    }
}

impl ExportOptions {
    /// `t` in the display zone as RFC 3339 with offset, e.g. `2025-03-01T13:34:56+01:00`.
    pub fn local_time(&self, t: DateTime<Utc>) -> String {
        t.with_timezone(&self.tz)
            .to_rfc3339_opts(SecondsFormat::Secs, true)
    }
}

#[cfg(test)]
mod tests {
    use super::combine::copy_into;
    use super::dialect::{CsvFile, Records, csv_writer_builder};
    use super::legs::{Leg, Shape, Skip, is_derivative, is_fiat, legs};
    use super::prep::{Dates, amount, describe};
    use super::testdata::*;
    use super::*;
    use crate::model::{Kind, Transaction};
    use rust_decimal::Decimal;
    use std::path::Path;

    #[test]
    fn format_names_and_parsing() {
        for f in Format::ALL {
            assert_eq!(f.name().parse::<Format>(), Ok(f));
            assert_eq!(f.to_string(), f.name());
        }
        assert_eq!("generic".parse::<Format>(), Ok(Format::Generic));
        assert_eq!(Format::parse_list("all").unwrap(), Format::ALL.to_vec());
        assert_eq!(
            Format::parse_list(" Koinly ,bittytax,koinly").unwrap(),
            vec![Format::Koinly, Format::BittyTax]
        );
        assert_eq!(Format::parse_list("bittytax,all").unwrap()[0], Format::BittyTax);
        assert_eq!(Format::parse_list("all").unwrap().len(), 8);
        let err = Format::parse_list("koinly,turbotax").unwrap_err();
        assert_eq!(err, UnknownFormat("turbotax".into()));
        assert!(err.to_string().contains("coinledger"));
        assert!(Format::parse_list("").is_err());
    }

    #[test]
    fn file_names() {
        let all: Vec<&str> = Format::ALL.iter().flat_map(|f| f.file_names()).collect();
        assert_eq!(
            all,
            [
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
                "dali.ini",
            ]
        );
    }

    /// `schemas/transaction.schema.json` must describe exactly the model's columns and enums.
    #[test]
    fn schema_matches_the_model() {
        let schema: serde_json::Value =
            serde_json::from_str(include_str!("../../schemas/transaction.schema.json")).unwrap();
        let strings = |v: &serde_json::Value| -> Vec<String> {
            v.as_array()
                .unwrap()
                .iter()
                .map(|s| s.as_str().unwrap().to_string())
                .collect()
        };
        assert_eq!(strings(&schema["required"]), TRANSACTIONS_HEADER);
        let props = schema["properties"].as_object().unwrap();
        assert_eq!(props.len(), TRANSACTIONS_HEADER.len());
        assert!(TRANSACTIONS_HEADER.iter().all(|c| props.contains_key(*c)));
        let kinds: Vec<&str> = Kind::ALL.iter().map(|k| k.as_str()).collect();
        assert_eq!(strings(&props["kind"]["enum"]), kinds);
        let accounts: Vec<&str> = crate::model::Account::ALL.iter().map(|a| a.as_str()).collect();
        assert_eq!(strings(&props["account"]["enum"]), accounts);
    }

    /// The first 21 columns stay the model's (issue 11); the three value columns follow.
    #[test]
    fn generic_header_is_the_model_columns_then_the_values() {
        let h = generic::FILES[0].header;
        assert_eq!(&h[..21], Transaction::COLUMNS.as_slice());
        assert_eq!(&h[21..], ["value", "value_currency", "price_source"]);
    }

    #[test]
    fn legs_split() {
        let fee_only = fee_only_okb();
        let legs_ = legs(&fee_only).unwrap();
        assert_eq!(legs_.len(), 1);
        assert_eq!(legs_[0].kind, Kind::Fee);
        assert!(matches!(legs_[0].shape, Shape::Out { sent, fee: None } if sent.asset == "OKB"));
        assert_eq!(legs(&transfer()), Err(Skip::Transfer));
        assert_eq!(legs(&unclassified()), Err(Skip::Unclassified));
        let mut empty = staking_reward();
        empty.received.as_mut().unwrap().amount = Decimal::ZERO;
        assert_eq!(legs(&empty), Err(Skip::Other));
        let mut wd_fee_only = withdrawal();
        wd_fee_only.sent = None;
        assert_eq!(legs(&wd_fee_only).unwrap()[0].kind, Kind::Fee);

        // Option premium: a one-sided trade on a derivative is treated as realized PnL.
        let mut premium = buy();
        (premium.received, premium.fee) = (None, None);
        premium.instrument = Some("BTC-USD-250328-100000-C".into());
        let l = legs(&premium).unwrap();
        assert_eq!((l.len(), l[0].kind), (1, Kind::RealizedPnl));
        assert!(matches!(l[0].shape, Shape::Out { .. }));
        // A one-sided spot trade stays a trade (written as a plain receive/send).
        let mut half = buy();
        half.sent = None;
        assert_eq!(legs(&half).unwrap()[0].kind, Kind::Trade);
        assert!(matches!(legs(&half).unwrap()[0].shape, Shape::In { .. }));
        // A paired liquidation is a trade; an unexpected two-sided income row is split.
        let mut liq = sell();
        liq.kind = Kind::Liquidation;
        assert!(matches!(
            legs(&liq).unwrap()[..],
            [Leg {
                kind: Kind::Liquidation,
                shape: Shape::Trade { .. }
            }]
        ));
        let mut odd = sell();
        odd.kind = Kind::OtherIncome;
        let l = legs(&odd).unwrap();
        assert!(matches!(
            l[..],
            [
                Leg {
                    shape: Shape::Out { fee: Some(_), .. },
                    ..
                },
                Leg {
                    shape: Shape::In { fee: None, .. },
                    ..
                }
            ]
        ));
    }

    #[test]
    fn finish_writes_exactly_the_expected_files() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = ExportWriter::create(dir.path(), &Format::ALL, ExportOptions::default()).unwrap();
        for tx in sample() {
            w.write(&tx, &no_value(&tx)).unwrap();
        }
        let report = w.finish().unwrap();
        let mut names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        let mut expected: Vec<String> = Format::ALL
            .iter()
            .flat_map(|f| f.file_names())
            .map(String::from)
            .collect();
        expected.sort();
        assert_eq!(names, expected, "no temp files may remain");
        let paths: Vec<&Path> = report.paths().collect();
        assert_eq!(paths.len(), 11);
        assert!(paths.iter().all(|p| p.exists()));

        let n = sample().len() as u64;
        let generic = report.get(Format::Generic).unwrap();
        assert_eq!((generic.exported, generic.records, generic.skipped()), (n, n, 0));
        let koinly = report.get(Format::Koinly).unwrap();
        assert_eq!(
            (
                koinly.skipped_transfers,
                koinly.skipped_unclassified,
                koinly.skipped_other
            ),
            (1, 1, 0)
        );
        assert_eq!(koinly.exported, n - 2);
        let text = std::fs::read_to_string(dir.path().join("transactions.csv")).unwrap();
        assert_eq!(text.lines().count() as u64, n + 1);
        assert!(text.starts_with("id,time,account,kind,"));
        assert!(!text.starts_with('\u{feff}'));
        assert!(!text.contains('\r'));
        let ini = std::fs::read_to_string(dir.path().join("dali.ini")).unwrap();
        assert!(ini.contains("in_csv_file = dali-in.csv"));
    }

    /// Issue 11: a row a format merges carries the sum of its parts' values; one part
    /// without a price makes the merged row's value missing, never a partial sum.
    #[test]
    fn merged_rows_merge_their_values() {
        let mut fill = buy();
        fill.fee = None;
        let mut rebate = rebate();
        (rebate.order_id, rebate.time) = (fill.order_id.clone(), fill.time);
        rebate.received = Some(crate::model::Amount::new(dec("0.0000001"), "BTC"));
        let write = |rebate_value: &crate::prices::RowValue| {
            let dir = tempfile::tempdir().unwrap();
            let mut w =
                ExportWriter::create(dir.path(), &[Format::CoinTracking], ExportOptions::default()).unwrap();
            w.write(&fill, &fixed_value(&fill, "USD")).unwrap();
            w.write(&rebate, rebate_value).unwrap();
            let report = w.finish().unwrap();
            assert_eq!(report.formats[0].records, 1, "the rebate is netted into its fill");
            let text = std::fs::read_to_string(dir.path().join("cointracking.csv")).unwrap();
            text.lines().nth(1).unwrap().to_string()
        };
        assert!(
            write(&fixed_value(&rebate, "USD")).ends_with(",tb-1001,1900.0095,1900.0095"),
            "1900 + 0.0000001 BTC × 95000"
        );
        assert!(write(&no_value(&rebate)).ends_with(",tb-1001,,"));
    }

    #[test]
    fn value_in_another_fiat_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = ExportWriter::create(dir.path(), &[Format::Generic], ExportOptions::default()).unwrap();
        let err = w
            .write(&buy(), &fixed_value(&buy(), "EUR"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("valued in EUR but the export is in USD"), "{err}");
    }

    #[test]
    fn empty_export_still_has_headers() {
        let dir = tempfile::tempdir().unwrap();
        let w = ExportWriter::create(dir.path(), &[Format::Koinly], ExportOptions::default()).unwrap();
        let report = w.finish().unwrap();
        assert_eq!(report.formats[0].records, 0);
        let text = std::fs::read_to_string(dir.path().join("koinly.csv")).unwrap();
        assert_eq!(text, format!("{}\n", koinly::FILES[0].header.join(",")));
    }

    #[test]
    fn dropped_writer_leaves_no_files() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = ExportWriter::create(dir.path(), &Format::ALL, ExportOptions::default()).unwrap();
        for tx in sample() {
            w.write(&tx, &no_value(&tx)).unwrap();
        }
        assert!(
            std::fs::read_dir(dir.path()).unwrap().count() > 0,
            "temp files exist while writing"
        );
        drop(w);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn negative_amount_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = ExportWriter::create(dir.path(), &[Format::Generic], ExportOptions::default()).unwrap();
        let mut tx = deposit();
        tx.received.as_mut().unwrap().amount = dec("-1");
        let err = w.write(&tx, &no_value(&tx)).unwrap_err().to_string();
        assert!(err.contains("negative received amount"), "{err}");
    }

    #[test]
    fn existing_file_is_replaced_only_on_finish() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("koinly.csv");
        std::fs::write(&path, "old\n").unwrap();
        let mut w = ExportWriter::create(dir.path(), &[Format::Koinly], ExportOptions::default()).unwrap();
        w.write(&deposit(), &no_value(&deposit())).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "old\n");
        drop(w);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "old\n");
    }

    #[test]
    fn report_writers() {
        let dir = tempfile::tempdir().unwrap();
        let csv_path = dir.path().join("balances.csv");
        let rows = vec![
            vec!["trading".to_string(), "BTC".to_string(), "0.5".to_string()],
            vec!["funding".to_string(), "USDT".to_string(), String::new()],
        ];
        assert_eq!(
            write_csv_atomic(&csv_path, &["account", "asset", "balance"], rows).unwrap(),
            2
        );
        assert_eq!(
            std::fs::read_to_string(&csv_path).unwrap(),
            "account,asset,balance\ntrading,BTC,0.5\nfunding,USDT,\n"
        );
        #[derive(serde::Serialize)]
        struct Row<'a> {
            asset: &'a str,
            note: &'a str,
        }
        write_csv_atomic(
            &csv_path,
            &["asset", "note"],
            [Row {
                asset: "ETH",
                note: "a,\"b\"",
            }],
        )
        .unwrap();
        assert_eq!(
            std::fs::read_to_string(&csv_path).unwrap(),
            "asset,note\nETH,\"a,\"\"b\"\"\"\n"
        );

        let json_path = dir.path().join("reconcile.json");
        write_json_atomic(&json_path, &serde_json::json!({"ok": true})).unwrap();
        assert_eq!(
            std::fs::read_to_string(&json_path).unwrap(),
            "{\n  \"ok\": true\n}\n"
        );
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);
    }

    #[test]
    fn local_time_uses_tz() {
        let opts = ExportOptions {
            tz: chrono_tz::Europe::Berlin,
            ..ExportOptions::default()
        };
        assert_eq!(
            opts.local_time(ts("2025-01-02T03:04:05.678Z")),
            "2025-01-02T04:04:05+01:00"
        );
        assert_eq!(
            ExportOptions::default().local_time(ts("2025-01-02T03:04:05Z")),
            "2025-01-02T03:04:05Z"
        );
    }

    /// Each date style is the pattern its format's docs name.
    #[test]
    fn date_styles() {
        let mut d = Dates::default();
        d.set(ts("2025-01-02T03:04:05.678Z"));
        assert_eq!(d.rfc3339_ms, "2025-01-02T03:04:05.678Z");
        assert_eq!(d.ymd_hms, "2025-01-02 03:04:05");
        assert_eq!(d.ymd_hms_utc, "2025-01-02 03:04:05 UTC");
        assert_eq!(d.mdy_hms, "01/02/2025 03:04:05");
        assert_eq!(d.ymd_hms_ms_offset, "2025-01-02 03:04:05.678+00:00");
        d.set(ts("2025-01-02T03:04:06Z"));
        assert_eq!(d.rfc3339_ms, "2025-01-02T03:04:06.000Z");
        // The digits written directly are chrono's, over many times.
        let mut t = ts("2017-01-01T00:00:00Z");
        for _ in 0..2000 {
            t += chrono::Duration::milliseconds(86_400_000 * 3 + 3_661_007);
            d.set(t);
            assert_eq!(d.rfc3339_ms, t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string());
            assert_eq!(d.mdy_hms, t.format("%m/%d/%Y %H:%M:%S").to_string());
            assert_eq!(
                d.ymd_hms_ms_offset,
                t.format("%Y-%m-%d %H:%M:%S%.3f+00:00").to_string()
            );
            assert_eq!(d.ymd_hms_utc, t.format("%Y-%m-%d %H:%M:%S UTC").to_string());
        }
    }

    /// [`Records`] writes exactly what the `csv` crate writes with [`csv_writer_builder`].
    #[test]
    fn records_match_the_csv_crate() {
        const FILES: &[CsvFile] = &[CsvFile {
            name: "t.csv",
            header: &["a", "b", "c", "d"],
        }];
        let cells: &[&str] = &[
            "",
            "plain",
            "a,b",
            "say \"hi\"",
            "\"",
            "\"\"",
            "line\nbreak",
            "cr\r",
            " lead",
            "#x",
            "{\"type\":\"99\"}",
            "tab\there",
            "ünï",
            "ünïcødé-ünïcødé-ünïcødé",
            "abcdefgh,ij",
            "abcdefghijklmno\"",
            "abcdefghijklmnopqrstuvw\n",
            "abcdefghijklmnop\rq",
        ];
        let mut recs = Records::new(FILES);
        let mut expected = csv_writer_builder().from_writer(Vec::new());
        for (i, a) in cells.iter().enumerate() {
            for b in cells {
                let row = [*a, *b, "", cells[(i + 3) % cells.len()]];
                expected.write_record(row).unwrap();
                recs.row(0).s(row[0]).s(row[1]).empty(1).s(row[3]).end();
            }
        }
        recs.row(0)
            .amt(dec("1.500"))
            .dec(dec("-2.50"))
            .opt_amt(None)
            .opt(None)
            .end();
        expected.write_record(["1.5", "-2.5", "", ""]).unwrap();
        assert_eq!(
            String::from_utf8(recs.text(0).to_vec()).unwrap(),
            String::from_utf8(expected.into_inner().unwrap()).unwrap()
        );
    }

    #[test]
    fn copy_into_equals_clone() {
        let cases = sample();
        let mut dst = cases[0].clone();
        for src in cases.iter().chain(cases.iter().rev()) {
            copy_into(&mut dst, src);
            assert_eq!(&dst, src);
        }
    }

    #[test]
    fn helpers() {
        assert!(is_derivative(Some("BTC-USDT-SWAP")));
        assert!(is_derivative(Some("BTC-USD-250328")));
        assert!(!is_derivative(Some("BTC-USDT")));
        assert!(!is_derivative(None));
        assert!(is_fiat("USD") && is_fiat("EUR") && is_fiat("KZT"));
        assert!(!is_fiat("BTC") && !is_fiat("USDT") && !is_fiat("usd") && !is_fiat(""));
        assert_eq!(amount(dec("1.2300")), "1.23");
        assert_eq!(amount(dec("0.00000001")), "0.00000001");
        assert_eq!(describe(&pnl_loss()), "realized_pnl BTC-USDT-SWAP tb-1006:pnl");
    }
}
