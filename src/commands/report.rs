//! `report`, `reconcile` and `export` (= sync + report).

use super::{say, warn};
use crate::cli::{ExportArgs, ReconcileArgs, ReportArgs};
use crate::coverage::{self, CoverageCheck, Group};
use crate::error::{Exit, usage};
use crate::export::{ExportOptions, ExportWriter, Format, TaxSummary, write_csv_atomic, write_json_atomic};
use crate::model::{plain, rfc3339_ms};
use crate::normalize::{NormalizeOptions, NormalizeSummary, PendingItem, normalize};
use crate::prices::Valuer;
use crate::reconcile::{
    CheckRow, FundsRanges, Reconciliation, Status, check_rows, files_checks, funds_checks,
    reconcile as reconcile_store, rows_checks,
};
use crate::settings::Settings;
use crate::store::{RecordSource, Store};
use anyhow::{Context, Result};
use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;
use serde_json::json;
use std::path::{Path, PathBuf};

/// The reporting period `[from, to)` in UTC and the zone its boundaries were taken in.
#[derive(Debug, Clone, Copy)]
pub struct Period {
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    pub tz: Tz,
}

/// The reporting period from `--year` or `--from/--to`, boundaries taken in `--tz`.
pub fn period(args: &ReportArgs) -> Result<Period> {
    let tz: Tz = args.tz.parse().map_err(|_| {
        usage(format!(
            "--tz `{}` is not a time zone; use an IANA name like `Europe/Berlin` or `UTC`",
            args.tz
        ))
    })?;
    let at_midnight = |flag: &str, d: NaiveDate| -> Result<DateTime<Utc>> {
        tz.from_local_datetime(&d.and_hms_opt(0, 0, 0).expect("midnight"))
            .earliest()
            .map(|t| t.with_timezone(&Utc))
            .ok_or_else(|| usage(format!("{flag}: midnight of {d} does not exist in {tz}")))
    };
    let parse = |flag: &str, v: &str| -> Result<DateTime<Utc>> {
        let d = NaiveDate::parse_from_str(v, "%Y-%m-%d").map_err(|_| {
            usage(format!(
                "{flag} `{v}` is not a date; use YYYY-MM-DD, e.g. 2025-01-01"
            ))
        })?;
        at_midnight(flag, d)
    };
    if let Some(y) = args.year {
        let start =
            NaiveDate::from_ymd_opt(y, 1, 1).ok_or_else(|| usage(format!("--year {y} is out of range")))?;
        let end = NaiveDate::from_ymd_opt(y + 1, 1, 1)
            .ok_or_else(|| usage(format!("--year {y} is out of range")))?;
        return Ok(Period {
            from: Some(at_midnight("--year", start)?),
            to: Some(at_midnight("--year", end)?),
            tz,
        });
    }
    let from = args.from.as_deref().map(|v| parse("--from", v)).transpose()?;
    let to = args.to.as_deref().map(|v| parse("--to", v)).transpose()?;
    if let (Some(f), Some(t)) = (from, to)
        && f >= t
    {
        return Err(usage("--from must be before --to"));
    }
    Ok(Period { from, to, tz })
}

fn open_store(settings: &Settings) -> Result<Store> {
    if !settings.data_dir.join(Store::FILE).exists() {
        return Err(usage(format!(
            "no store in `{}` yet; run `okx-export sync` first (or pass --data-dir)",
            settings.data_dir.display()
        )));
    }
    Store::open(&settings.data_dir)
}

fn pending_json(items: &[PendingItem]) -> serde_json::Value {
    items
        .iter()
        .map(|p| {
            json!({
                "what": p.what, "id": p.id, "time": p.time.map(rfc3339_ms), "asset": p.asset,
                "amount": plain(p.amount), "state": p.state, "state_text": p.state_text,
                "tx_hash": p.tx_hash, "chain": p.chain,
            })
        })
        .collect()
}

/// Writes balances.csv, reconciliation.csv and opening_balances.csv into `out`.
/// The checks are the balance chains, the snapshot match and the cross-ledger proofs
/// (transfers; deposits and withdrawals from the normalizer's pairing in `summary`), each
/// trusted only where `cov` says the other side is stored, then `file_checks` (the written
/// files read back, [`files_checks`]).
fn write_reconciliation(
    src: &dyn RecordSource,
    summary: &NormalizeSummary,
    cov: &CoverageCheck,
    file_checks: Vec<CheckRow>,
    out: &Path,
) -> Result<(Reconciliation, Vec<PathBuf>)> {
    let mut rec = reconcile_store(src, &cov.ledger_ranges())?;
    let ranges = FundsRanges {
        funding: cov.ranges(&Group::Funding),
        deposits: cov.ranges(&Group::Deposits),
        withdrawals: cov.ranges(&Group::Withdrawals),
    };
    rec.cross.extend(funds_checks(
        &summary.final_without_bill,
        &summary.bills_without_record,
        &ranges,
    ));
    let rows = rows_checks(&rec, &summary.row_sums);
    rec.cross.extend(rows);
    rec.cross.extend(file_checks);
    let balances = src.latest_balances()?;
    let mut files = Vec::new();
    let p = out.join("balances.csv");
    write_csv_atomic(
        &p,
        &["account", "asset", "total", "available", "frozen", "as_of"],
        balances.iter().map(|b| {
            vec![
                b.account.clone(),
                b.ccy.clone(),
                plain(b.total),
                b.available.map(plain).unwrap_or_default(),
                b.frozen.map(plain).unwrap_or_default(),
                rfc3339_ms(b.as_of),
            ]
        }),
    )?;
    files.push(p);
    let (header, rows) = rec.reconciliation_csv();
    let p = out.join("reconciliation.csv");
    write_csv_atomic(&p, &header, rows)?;
    files.push(p);
    let (header, rows) = rec.opening_balances_csv();
    let p = out.join("opening_balances.csv");
    write_csv_atomic(&p, &header, rows)?;
    files.push(p);
    Ok((rec, files))
}

fn reconciliation_json(rec: &Reconciliation) -> serde_json::Value {
    json!({
        "ok": rec.ok(),
        "mismatches": rec.rows.iter().filter(|r| r.status.is_failure()).map(|r| json!({
            "account": r.account.as_str(), "asset": r.asset, "computed": plain(r.computed),
            "reported": r.reported.map(plain), "difference": r.difference.map(plain), "status": r.status.as_str(),
        })).collect::<Vec<_>>(),
        "matched": rec.rows.iter().filter(|r| r.status.is_match()).count(),
        "not_compared": rec.rows.iter().filter(|r| r.status == Status::NotCompared).map(|r| json!({
            "account": r.account.as_str(), "asset": r.asset, "computed": plain(r.computed),
            "reported": r.reported.map(plain), "difference": r.difference.map(plain), "reason": r.reason,
        })).collect::<Vec<_>>(),
        "checks": check_rows(rec).iter().filter(|c| c.status != "ok").map(|c| json!({
            "check": c.check, "account": c.account, "asset": c.asset, "from": c.from.map(rfc3339_ms),
            "to": c.to.map(rfc3339_ms), "status": c.status, "detail": c.detail,
        })).collect::<Vec<_>>(),
        "gaps": rec.gaps.iter().map(|g| json!({
            "account": g.account.as_str(), "asset": g.asset, "from": rfc3339_ms(g.from), "to": rfc3339_ms(g.to),
        })).collect::<Vec<_>>(),
        "opening_balances": rec.rows.iter().filter(|r| !r.opening_balance.is_zero()).count(),
    })
}

fn print_reconciliation(settings: &Settings, rec: &Reconciliation) {
    let not_compared: Vec<_> = rec
        .rows
        .iter()
        .filter(|r| r.status == Status::NotCompared)
        .collect();
    if !not_compared.is_empty() {
        say(
            settings,
            format!(
                "not compared (neither a match nor a failure): {}",
                not_compared
                    .iter()
                    .map(|r| format!(
                        "{} reported {} ({})",
                        // An account-wide row has no asset.
                        format!("{} {}", r.account.as_str(), r.asset).trim_end(),
                        r.reported.map_or_else(|| "nothing".into(), plain),
                        r.reason.unwrap_or_default()
                    ))
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
        );
    }
    if rec.ok() {
        let files = rec
            .cross
            .iter()
            .filter(|c| c.check.starts_with("file:") && c.asset.is_empty() && c.account.is_empty())
            .count();
        say(
            settings,
            format!(
                "reconciliation: ok ({} account/asset balances match OKX, {} not compared{})",
                rec.rows.iter().filter(|r| r.status.is_match()).count(),
                not_compared.len(),
                if files > 0 {
                    format!("; {files} files read back sum to the rows")
                } else {
                    String::new()
                }
            ),
        );
    } else {
        for c in rec.cross.iter().filter(|c| c.status != "ok") {
            let what = [c.check, c.account.as_str(), c.asset.as_str()]
                .into_iter()
                .filter(|s| !s.is_empty())
                .collect::<Vec<_>>()
                .join(" ");
            warn(format!("reconciliation: {what}: {}", c.detail));
        }
        let bad_files: Vec<&str> = rec
            .cross
            .iter()
            .filter(|c| c.status != "ok" && c.asset.is_empty() && c.account.is_empty())
            .filter_map(|c| c.check.strip_prefix("file:"))
            .collect();
        if !bad_files.is_empty() {
            warn(format!(
                "reconciliation: the {} file(s) above do not read back as transactions.csv says: do not import them. This is a defect of okx-export, not missing history; please report it with reconciliation.csv",
                bad_files.join(", ")
            ));
        }
        for r in rec.rows.iter().filter(|r| r.status.is_failure()) {
            warn(format!(
                "reconciliation: {} {} computed {} but OKX reports {} (difference {}, {})",
                r.account.as_str(),
                r.asset,
                plain(r.computed),
                r.reported.map_or_else(|| "nothing".into(), plain),
                r.difference.map(plain).unwrap_or_default(),
                r.status.as_str()
            ));
        }
        for g in &rec.gaps {
            warn(format!(
                "reconciliation: {} {} ledger has a gap between {} and {}: history is missing there",
                g.account.as_str(),
                g.asset,
                rfc3339_ms(g.from),
                rfc3339_ms(g.to)
            ));
        }
    }
    let opening: Vec<_> = rec.rows.iter().filter(|r| !r.opening_balance.is_zero()).collect();
    if !opening.is_empty() {
        say(
            settings,
            format!(
                "opening balances (history starts after the account's first activity; see opening_balances.csv): {}",
                opening
                    .iter()
                    .map(|r| format!("{} {} {}", r.account.as_str(), plain(r.opening_balance), r.asset))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        );
    }
}

/// Writes `coverage.csv` and says on stderr what the period misses.
fn write_coverage(cov: &CoverageCheck, out: &Path) -> Result<PathBuf> {
    let (header, rows) = coverage::coverage_csv(cov);
    let p = out.join("coverage.csv");
    write_csv_atomic(&p, &header, rows)?;
    for m in &cov.missing {
        warn(format!("incomplete: {m}"));
    }
    Ok(p)
}

/// The valuer behind every value column and `tax-summary.csv`: the one place where the
/// export gets its prices. It reads the price cache the price stage filled (`sync`,
/// `okx-export prices`) and `--prices FILE`; it does no network I/O.
fn valuer_for(settings: &Settings, args: &ReportArgs) -> Result<Box<dyn Valuer>> {
    let valuer = crate::prices::open_valuer(
        settings,
        args.price.fiat.clone(),
        args.price.prices_file.as_deref(),
    )?;
    Ok(Box::new(valuer))
}

/// Normalizes and writes every report; returns the exit code.
pub fn report_from(settings: &Settings, store: &Store, args: &ReportArgs) -> Result<Exit> {
    let valuer = valuer_for(settings, args)?;
    report_with(settings, store, args, valuer)
}

/// [`report_from`] with the given valuer (tests drive it with
/// [`crate::export::FixedPrices`]); every value is in `valuer.fiat()`.
pub fn report_with(
    settings: &Settings,
    store: &Store,
    args: &ReportArgs,
    mut valuer: Box<dyn Valuer>,
) -> Result<Exit> {
    let Period { from, to, tz } = period(args)?;
    let formats = Format::parse_list(&args.format).map_err(|e| usage(format!("--format: {e}")))?;
    let out = args.out.clone().unwrap_or_else(|| settings.data_dir.clone());
    std::fs::create_dir_all(&out)
        .with_context(|| format!("cannot create output directory `{}`", out.display()))?;

    // A period the store does not cover gives no tax files unless asked: they would be
    // short without saying so.
    let cov = coverage::check(store, from, to)?;
    let coverage_path = write_coverage(&cov, &out)?;
    if !cov.complete() && !args.allow_incomplete {
        let summary_json = json!({
            "generated_at": rfc3339_ms(Utc::now()),
            "period": {"from": from.map(rfc3339_ms), "to": to.map(rfc3339_ms), "tz": tz.name()},
            "incomplete": true,
            "coverage": coverage::coverage_json(&cov),
            "formats": [],
            "exit_code": 4,
        });
        write_json_atomic(&out.join("summary.json"), &summary_json)?;
        warn(format!(
            "report: the store does not cover the period ({} missing range(s) above); no tax files written. Fix that and rerun, or pass --allow-incomplete to write them anyway (marked incomplete). See {}",
            cov.missing.len(),
            coverage_path.display()
        ));
        return Ok(Exit::Data);
    }

    let mut writer = ExportWriter::create(
        &out,
        &formats,
        ExportOptions {
            tz,
            fiat: valuer.fiat().clone(),
            ..ExportOptions::default()
        },
    )?;
    let fiat = valuer.fiat().clone();
    let (mut valued, mut unvalued) = (0u64, 0u64);
    let mut tax = TaxSummary::new();
    // The valuer sees rows in time order: the opening holdings (at the period's start)
    // first, then the period's rows, then the closing holdings.
    if let (Some(start), Some(_)) = (from, to) {
        let opening = crate::reconcile::closing::holdings_at(store, start)?;
        tax.add_holdings(&opening, start, false, valuer.as_mut())?;
    }
    let summary: NormalizeSummary = normalize(store, &NormalizeOptions { from, to }, &mut |tx| {
        let value = valuer.value(&tx)?;
        if value.value.is_some() {
            valued += 1;
        } else {
            unvalued += 1;
        }
        tax.add(&tx, &value);
        writer.write(&tx, &value)
    })?;
    let exported = writer.finish()?;
    // Every file just written is read back as its tool reads it and must sum to the rows.
    let file_checks = files_checks(&out, &exported, from, to);
    let (rec, mut files) = write_reconciliation(store, &summary, &cov, file_checks, &out)?;
    let mut all_files: Vec<PathBuf> = exported.paths().map(Path::to_path_buf).collect();
    all_files.append(&mut files);
    all_files.push(coverage_path);
    // A period report also says what was held at its end (balances.csv is the latest
    // snapshot, whatever the period).
    let closing_at = to.map(|t| t.min(Utc::now()));
    if let Some(at) = closing_at {
        let holdings = crate::reconcile::closing::holdings_at(store, at)?;
        let p = out.join("closing_balances.csv");
        write_csv_atomic(
            &p,
            &["account", "asset", "balance", "as_of", "last_bill_at"],
            holdings.iter().map(|h| {
                vec![
                    h.account.to_string(),
                    h.asset.clone(),
                    plain(h.balance),
                    rfc3339_ms(at),
                    rfc3339_ms(h.last_bill_at),
                ]
            }),
        )?;
        all_files.push(p);
        // tax-summary.csv: a period report's overview in the fiat (holdings at both ends).
        tax.add_holdings(&holdings, at, true, valuer.as_mut())?;
        all_files.push(tax.write(&out, fiat.as_str())?);
    }
    // Rows without a value are listed for the user to fill in (`--prices FILE`).
    let missing_path = out.join("missing_prices.csv");
    if valuer.write_missing_prices(&missing_path)? {
        all_files.push(missing_path.clone());
    }
    if unvalued > 0 {
        warn(format!(
            "values: {unvalued} of {} rows have no {fiat} value; they are listed in {}. Run `okx-export prices` to fetch what OKX has, or fill in that file's price column and pass --prices FILE",
            valued + unvalued,
            missing_path.display()
        ));
    }
    let balances_as_of = store.latest_balances()?.iter().map(|b| b.as_of).max();

    let unclassified_fail = summary.unclassified > 0 && !args.allow_unclassified;
    let summary_json = json!({
        "generated_at": rfc3339_ms(Utc::now()),
        "period": {"from": from.map(rfc3339_ms), "to": to.map(rfc3339_ms), "tz": tz.name()},
        "rows_by_kind": summary.rows_by_kind.iter().map(|(k, v)| (k.as_str().to_string(), json!(v))).collect::<serde_json::Map<_, _>>(),
        "unclassified": summary.unclassified,
        "unclassified_codes": summary.unclassified_codes,
        "pending_deposits": pending_json(&summary.pending_deposits),
        "pending_withdrawals": pending_json(&summary.pending_withdrawals),
        "failed_or_canceled": pending_json(&summary.failed_or_canceled),
        "final_without_bill": pending_json(&summary.final_without_bill),
        "unmatched_enrichment": summary.unmatched_enrichment,
        "decode_errors": summary.decode_errors,
        "formats": exported.formats.iter().map(|f| json!({
            "format": f.format.name(), "files": f.paths.iter().map(|p| p.display().to_string()).collect::<Vec<_>>(),
            "exported": f.exported, "records": f.records, "skipped_transfers": f.skipped_transfers,
            "skipped_unclassified": f.skipped_unclassified, "skipped_other": f.skipped_other,
        })).collect::<Vec<_>>(),
        "values": {"fiat": fiat.as_str(), "valued": valued, "missing": unvalued},
        "reconciliation": reconciliation_json(&rec),
        "balances_as_of": balances_as_of.map(rfc3339_ms),
        "closing_balances_as_of": closing_at.map(rfc3339_ms),
        "incomplete": !cov.complete(),
        "coverage": coverage::coverage_json(&cov),
        "exit_code": if unclassified_fail || !rec.ok() { 4 } else { 0 },
    });
    let summary_path = out.join("summary.json");
    write_json_atomic(&summary_path, &summary_json)?;
    all_files.push(summary_path);

    let rows: u64 = summary.rows_by_kind.values().sum();
    say(
        settings,
        format!(
            "report: {rows} transactions ({})",
            summary
                .rows_by_kind
                .iter()
                .map(|(k, v)| format!("{v} {}", k.as_str()))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    );
    for (what, items) in [
        ("pending deposit", &summary.pending_deposits),
        ("pending withdrawal", &summary.pending_withdrawals),
        ("failed/canceled", &summary.failed_or_canceled),
    ] {
        for p in items {
            say(
                settings,
                format!(
                    "not booked: {what} {} {} {} ({}, state {} {})",
                    p.id,
                    plain(p.amount),
                    p.asset,
                    p.time.map(rfc3339_ms).unwrap_or_default(),
                    p.state,
                    p.state_text
                ),
            );
        }
    }
    say(
        settings,
        format!(
            "values: {valued} rows valued in {fiat}, {unvalued} without a price (their value cells are empty)"
        ),
    );
    if formats.contains(&Format::BittyTax) && fiat.as_str() != "GBP" {
        say(
            settings,
            format!(
                "bittytax.csv: value columns left empty: BittyTax takes GBP values only, this report is in {fiat} (use --fiat GBP)"
            ),
        );
    }
    print_reconciliation(settings, &rec);
    if !cov.complete() {
        warn(format!(
            "report: INCOMPLETE: written anyway (--allow-incomplete); {} range(s) of the period are missing (see above and coverage.csv)",
            cov.missing.len()
        ));
    }
    say(settings, format!("files written to {}:", out.display()));
    for f in &all_files {
        say(settings, format!("  {}", f.display()));
    }
    let mut exit = Exit::Success;
    if summary.unclassified > 0 {
        let codes = summary
            .unclassified_codes
            .iter()
            .map(|(c, n)| format!("{c} ×{n}"))
            .collect::<Vec<_>>()
            .join(", ");
        if args.allow_unclassified {
            warn(format!(
                "{} unclassified records kept in transactions.csv ({codes})",
                summary.unclassified
            ));
        } else {
            warn(format!(
                "{} records could not be classified ({codes}); they are in transactions.csv with kind `unclassified` and their raw JSON. Pass --allow-unclassified to accept them",
                summary.unclassified
            ));
            exit = Exit::Data;
        }
    }
    if !rec.ok() {
        exit = Exit::Data;
    }
    Ok(exit)
}

pub fn run(settings: &Settings, args: &ReportArgs) -> Result<Exit> {
    let store = open_store(settings)?;
    report_from(settings, &store, args)
}

pub async fn export(settings: &Settings, args: &ExportArgs) -> Result<Exit> {
    period(&args.report)?; // fail on a bad flag before spending time syncing
    Format::parse_list(&args.report.format).map_err(|e| usage(format!("--format: {e}")))?;
    super::sync::run_priced(
        settings,
        &args.sync,
        std::slice::from_ref(&args.report.price.fiat),
    )
    .await?;
    run(settings, &args.report)
}

pub fn reconcile(settings: &Settings, args: &ReconcileArgs) -> Result<Exit> {
    let store = open_store(settings)?;
    let out = args.out.clone().unwrap_or_else(|| settings.data_dir.clone());
    std::fs::create_dir_all(&out)
        .with_context(|| format!("cannot create output directory `{}`", out.display()))?;
    let cov = coverage::check(&store, None, None)?;
    let summary = normalize(&store, &NormalizeOptions::default(), &mut |_| Ok(()))?;
    let (rec, files) = write_reconciliation(&store, &summary, &cov, Vec::new(), &out)?;
    print_reconciliation(settings, &rec);
    for f in files {
        say(settings, format!("  {}", f.display()));
    }
    Ok(if rec.ok() { Exit::Success } else { Exit::Data })
}
