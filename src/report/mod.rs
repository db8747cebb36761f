//! A report as one computation, in steps: check the period's coverage, value and write
//! every row, read the written files back, reconcile, take the closing holdings and the
//! tax summary. The result, [`ReportOutcome`], is what every rendering reads: the CSVs and
//! `summary.json` are written here; the console lines are printed by `commands::report`.
//! Nothing here prints.

pub mod holdings;
pub mod html;
pub mod period;
mod summary;

pub use period::Period;

use crate::coverage::{self, CoverageCheck, Group};
use crate::error::Exit;
use crate::export::{ExportOptions, ExportReport, ExportWriter, Format, TaxSummary, write_csv_atomic};
use crate::model::{plain, rfc3339_ms};
use crate::normalize::{NormalizeOptions, NormalizeSummary, normalize};
use crate::prices::file::MissingPrice;
use crate::prices::{Fiat, UsedPrice, Valuer};
use crate::reconcile::closing::{Holding, holdings_at};
use crate::reconcile::{
    CheckRow, FundsRanges, Reconciliation, files_checks, funds_checks, reconcile as reconcile_store,
    rows_checks,
};
use crate::store::{RecordSource, Store};
use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use holdings::HoldingsSeries;
use std::path::{Path, PathBuf};

/// What to report and where.
#[derive(Debug, Clone)]
pub struct ReportRequest {
    pub period: Period,
    pub formats: Vec<Format>,
    pub out: PathBuf,
    /// Unclassified rows do not make the exit 4.
    pub allow_unclassified: bool,
    /// Write the tax files even when the store does not cover the period.
    pub allow_incomplete: bool,
}

/// Everything one report computed and wrote.
#[derive(Debug)]
pub struct ReportOutcome {
    pub period: Period,
    pub out: PathBuf,
    pub generated_at: DateTime<Utc>,
    pub coverage: CoverageCheck,
    /// `None` when the store does not cover the period and `--allow-incomplete` was not
    /// given: then no tax file was written.
    pub written: Option<Written>,
    /// Every file written, in the order the console lists them.
    pub files: Vec<PathBuf>,
    pub exit: Exit,
}

/// What a report that wrote its files computed.
#[derive(Debug)]
pub struct Written {
    pub normalized: NormalizeSummary,
    pub exported: ExportReport,
    pub reconciliation: Reconciliation,
    pub values: ValueCounts,
    /// `tax-summary.csv`'s lines (a period report, one with an end).
    pub tax: Option<TaxSummary>,
    /// The holdings at the period's start (a period with both ends).
    pub opening: Option<(DateTime<Utc>, Vec<Holding>)>,
    /// The holdings at the period's end, or now when it has not ended.
    pub closing: Option<(DateTime<Utc>, Vec<Holding>)>,
    /// When OKX's latest stored balance snapshot was taken.
    pub balances_as_of: Option<DateTime<Utc>>,
    /// Unclassified rows make the exit 4 (no `--allow-unclassified`).
    pub unclassified_fail: bool,
    /// The prices the values above were found with, and the ones that were missing.
    pub prices: PriceLog,
    /// The holdings at each day of the period, valued (the report page's chart).
    pub series: Option<HoldingsSeries>,
    /// Stored records that cannot be read, each with its fix (exit 4).
    pub unreadable: Vec<UnreadableRecord>,
    /// Earlier versions kept of records OKX changed (or sent twice), listed in
    /// `changed_records.csv`: where to look first when the reconciliation fails.
    pub changed_records: u64,
}

/// The unit prices a report's values came from (taken from the valuer after the rows and
/// the boundary holdings were valued, before anything else is).
#[derive(Debug, Clone, Default)]
pub struct PriceLog {
    pub used: Vec<UsedPrice>,
    pub missing: Vec<MissingPrice>,
}

/// A stored record the report cannot read, and how to fetch it again.
#[derive(Debug, Clone)]
pub struct UnreadableRecord {
    pub kind: crate::store::RecordKind,
    pub key: String,
    pub time: Option<DateTime<Utc>>,
    pub error: String,
    /// e.g. "`okx-export sync --refetch bills:2025-08-01..2025-08-02`".
    pub fix: String,
}

/// The unreadable records of `normalized`, each with the `--refetch` that repairs it.
fn unreadable(store: &Store, normalized: &NormalizeSummary) -> Result<Vec<UnreadableRecord>> {
    normalized
        .unreadable
        .iter()
        .map(|u| {
            let stored_by = store.stream_of(u.kind, &u.key)?;
            Ok(UnreadableRecord {
                kind: u.kind,
                key: u.key.clone(),
                time: DateTime::from_timestamp_millis(u.ts_ms).filter(|_| u.ts_ms > 0),
                error: u.error.clone(),
                fix: crate::sync::refetch::repair_command(u.kind, stored_by.as_deref(), u.ts_ms),
            })
        })
        .collect()
}

/// How many rows got a value.
#[derive(Debug, Clone)]
pub struct ValueCounts {
    pub fiat: Fiat,
    pub valued: u64,
    pub missing: u64,
    /// Rows whose price bar had not closed when prices were fetched (the next sync values
    /// them; not missing).
    pub pending: u64,
    /// Holdings at the period's start or end without a value (`tax-summary.csv`).
    pub holdings_missing: u64,
    /// `missing_prices.csv`, when rows lack a price.
    pub missing_file: Option<PathBuf>,
}

impl ReportOutcome {
    pub fn complete(&self) -> bool {
        self.coverage.complete()
    }
}

/// Runs every step for `store` into `req.out`; every value comes from `valuer`.
pub fn run(store: &Store, req: &ReportRequest, valuer: &mut dyn Valuer) -> Result<ReportOutcome> {
    std::fs::create_dir_all(&req.out)
        .with_context(|| format!("cannot create output directory `{}`", req.out.display()))?;
    let generated_at = Utc::now();
    let Period { from, to, .. } = req.period;
    let cov = coverage::check(store, from, to)?;
    let mut files = Vec::new();
    let coverage_path = write_coverage(&cov, &req.out)?;
    // A period the store does not cover gives no tax files unless asked: they would be
    // short without saying so.
    if !cov.complete() && !req.allow_incomplete {
        let mut outcome = ReportOutcome {
            period: req.period,
            out: req.out.clone(),
            generated_at,
            coverage: cov,
            written: None,
            files: vec![coverage_path],
            exit: Exit::Data,
        };
        outcome.files.push(summary::write(&outcome)?);
        outcome.files.push(html::write(&outcome)?);
        return Ok(outcome);
    }
    let rows = write_rows(store, req, valuer)?;
    // Every file just written is read back as its tool reads it and must sum to the rows.
    let file_checks = files_checks(&req.out, &rows.exported, from, to);
    let (rec, mut rec_files) = write_reconciliation(store, &rows.normalized, &cov, file_checks, &req.out)?;
    files.extend(rows.exported.paths().map(Path::to_path_buf));
    files.append(&mut rec_files);
    files.push(coverage_path);
    let mut tax = rows.tax;
    let closing = match req.period.closing_at(generated_at) {
        Some(at) => {
            let (holdings, p) = write_closing(store, at, &req.out)?;
            files.push(p);
            // tax-summary.csv: a period report's overview in the fiat (holdings at both ends).
            // Holdings "now" are valued at the newest minute closed when prices were fetched.
            let valued_at = crate::prices::boundaries::valued_at(at, valuer.prices_as_of());
            tax.add_holdings(&holdings, valued_at, true, valuer)?;
            files.push(tax.write(&req.out, valuer.fiat().as_str())?);
            Some((at, holdings))
        }
        None => None,
    };
    let holdings_missing: u64 = ["holdings_opening", "holdings_closing"]
        .iter()
        .flat_map(|s| ["trading", "funding"].map(|i| tax.total(s, i)))
        .flatten()
        .map(|l| l.missing)
        .sum();
    // Rows without a value are listed for the user to fill in (`--prices FILE`).
    let missing_path = req.out.join("missing_prices.csv");
    let missing_file = valuer
        .write_missing_prices(&missing_path)?
        .then_some(missing_path);
    files.extend(missing_file.clone());
    let prices = PriceLog {
        used: valuer.used_prices(),
        missing: valuer.missing_prices(),
    };
    // The page's holdings chart, valued after the log above: its daily instants are not
    // rows, and their prices are not the files' (nor are their gaps missing_prices.csv's).
    let series = match (
        from.or(cov.from),
        req.period.closing_at(generated_at).or(cov.as_of),
    ) {
        (Some(a), Some(b)) if a < b => {
            let (step, ats) = holdings::instants(a, b, req.period.tz);
            Some(holdings::series(store, step, &ats, valuer)?)
        }
        _ => None,
    };
    let unclassified_fail = rows.normalized.unclassified > 0 && !req.allow_unclassified;
    let unreadable = unreadable(store, &rows.normalized)?;
    let changed_records = match write_changed_records(store, &req.out)? {
        Some((n, p)) => {
            files.push(p);
            n
        }
        None => 0,
    };
    let exit = if unclassified_fail || !rec.ok() || !unreadable.is_empty() {
        Exit::Data
    } else {
        Exit::Success
    };
    let written = Written {
        values: ValueCounts {
            fiat: valuer.fiat().clone(),
            valued: rows.valued,
            missing: rows.unvalued,
            pending: rows.pending,
            holdings_missing,
            missing_file,
        },
        tax: closing.is_some().then_some(tax),
        opening: rows.opening,
        closing,
        balances_as_of: store.latest_balances()?.iter().map(|b| b.as_of).max(),
        normalized: rows.normalized,
        exported: rows.exported,
        reconciliation: rec,
        unclassified_fail,
        prices,
        series,
        unreadable,
        changed_records,
    };
    let mut outcome = ReportOutcome {
        period: req.period,
        out: req.out.clone(),
        generated_at,
        coverage: cov,
        written: Some(written),
        files,
        exit,
    };
    outcome.files.push(summary::write(&outcome)?);
    outcome.files.push(html::write(&outcome)?);
    Ok(outcome)
}

/// Writes `changed_records.csv` when the store kept earlier versions of records OKX
/// changed or sent twice: both versions, side by side. Returns how many and the path.
fn write_changed_records(store: &Store, out: &Path) -> Result<Option<(u64, PathBuf)>> {
    let history = store.history()?;
    if history.is_empty() {
        return Ok(None);
    }
    let mut rows = Vec::with_capacity(history.len());
    for h in &history {
        rows.push(vec![
            h.kind.to_string(),
            h.key.clone(),
            h.reason.clone(),
            h.replaced_at.map(rfc3339_ms).unwrap_or_default(),
            h.stream.clone(),
            h.raw.clone(),
            store.raw_of(h.kind, &h.key)?.unwrap_or_default(),
        ]);
    }
    let p = out.join("changed_records.csv");
    write_csv_atomic(
        &p,
        &[
            "kind",
            "key",
            "reason",
            "seen_at",
            "stream",
            "kept_version",
            "stored_version",
        ],
        rows,
    )?;
    Ok(Some((history.len() as u64, p)))
}

/// Writes `coverage.csv`.
fn write_coverage(cov: &CoverageCheck, out: &Path) -> Result<PathBuf> {
    let (header, rows) = coverage::coverage_csv(cov);
    let p = out.join("coverage.csv");
    write_csv_atomic(&p, &header, rows)?;
    Ok(p)
}

/// What writing the rows produced.
struct RowsWritten {
    normalized: NormalizeSummary,
    exported: ExportReport,
    tax: TaxSummary,
    opening: Option<(DateTime<Utc>, Vec<Holding>)>,
    valued: u64,
    unvalued: u64,
    pending: u64,
}

/// Values every row of the period and writes it to every format. The valuer sees rows in
/// time order: the opening holdings (at the period's start) first, then the period's rows
/// (the closing holdings come after, in [`run`]).
fn write_rows(store: &Store, req: &ReportRequest, valuer: &mut dyn Valuer) -> Result<RowsWritten> {
    let Period { from, to, tz } = req.period;
    let mut writer = ExportWriter::create(
        &req.out,
        &req.formats,
        ExportOptions {
            tz,
            fiat: valuer.fiat().clone(),
            ..ExportOptions::default()
        },
    )?;
    let (mut valued, mut unvalued, mut pending) = (0u64, 0u64, 0u64);
    let mut tax = TaxSummary::with_detail(tz);
    let opening = match (from, to) {
        (Some(start), Some(_)) => {
            let holdings = holdings_at(store, start)?;
            tax.add_holdings(&holdings, start, false, valuer)?;
            Some((start, holdings))
        }
        _ => None,
    };
    let names = crate::normalize::codes::BillNames::new(&store.bill_types()?);
    let opts = NormalizeOptions {
        from,
        to,
        names: (!names.is_empty()).then(|| std::sync::Arc::new(names)),
    };
    let normalized = normalize(store, &opts, &mut |tx| {
        let value = valuer.value(&tx)?;
        if value.value.is_some() {
            valued += 1;
        } else if value.is_pending() {
            pending += 1;
        } else {
            unvalued += 1;
        }
        tax.add(&tx, &value);
        writer.write(&tx, &value)
    })?;
    Ok(RowsWritten {
        normalized,
        exported: writer.finish()?,
        tax,
        opening,
        valued,
        unvalued,
        pending,
    })
}

/// Writes `closing_balances.csv`: what was held at `at` (balances.csv is the latest
/// snapshot, whatever the period).
fn write_closing(store: &Store, at: DateTime<Utc>, out: &Path) -> Result<(Vec<Holding>, PathBuf)> {
    let holdings = holdings_at(store, at)?;
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
    Ok((holdings, p))
}

/// Writes balances.csv, reconciliation.csv and opening_balances.csv into `out`.
/// The checks are the balance chains, the snapshot match and the cross-ledger proofs
/// (transfers; deposits and withdrawals from the normalizer's pairing in `summary`), each
/// trusted only where `cov` says the other side is stored, then `file_checks` (the written
/// files read back, [`files_checks`]).
pub fn write_reconciliation(
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
    rec.cross.extend(unclassified_rows(summary));
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

/// One `unclassified` row per code kept unclassified, named with OKX's own words where its
/// dictionary has them: not a failed check (the exit code says whether they are allowed),
/// but where a reader of reconciliation.csv looks for what the ledger holds unbooked.
fn unclassified_rows(summary: &NormalizeSummary) -> Vec<CheckRow> {
    summary
        .unclassified_codes
        .iter()
        .map(|(code, n)| CheckRow {
            check: "unclassified",
            account: String::new(),
            asset: String::new(),
            from: None,
            to: None,
            computed: None,
            reported: None,
            difference: None,
            status: crate::reconcile::UNCLASSIFIED.to_string(),
            detail: format!(
                "{n} row(s) of {code}{} kept as `unclassified` in transactions.csv with their raw JSON",
                summary
                    .unclassified_names
                    .get(code)
                    .map(|name| format!(" ({name})"))
                    .unwrap_or_default()
            ),
        })
        .collect()
}

/// The whole-store reconciliation (`okx-export reconcile`): the balance chains, the
/// snapshot match and the cross-ledger checks, no tax files.
pub fn reconcile_only(store: &Store, out: &Path) -> Result<(Reconciliation, Vec<PathBuf>)> {
    std::fs::create_dir_all(out)
        .with_context(|| format!("cannot create output directory `{}`", out.display()))?;
    let cov = coverage::check(store, None, None)?;
    let summary = normalize(store, &NormalizeOptions::default(), &mut |_| Ok(()))?;
    write_reconciliation(store, &summary, &cov, Vec::new(), out)
}
