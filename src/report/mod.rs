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
use crate::reconcile::closing::Holding;
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
    /// How long each step took (`cargo bench --bench report` prints them; `-v` logs them).
    pub steps: Steps,
}

/// The time each step of a report took, in order.
#[derive(Debug, Clone)]
pub struct Steps {
    pub took: Vec<(&'static str, std::time::Duration)>,
    last: std::time::Instant,
}

impl Steps {
    fn start() -> Steps {
        Steps {
            took: Vec::new(),
            last: std::time::Instant::now(),
        }
    }

    /// The step `name` ended now.
    fn lap(&mut self, name: &'static str) {
        let now = std::time::Instant::now();
        self.took.push((name, now - self.last));
        self.last = now;
    }
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
}

/// The unit prices a report's values came from (taken from the valuer after the rows and
/// the boundary holdings were valued, before anything else is).
#[derive(Debug, Clone, Default)]
pub struct PriceLog {
    pub used: Vec<UsedPrice>,
    pub missing: Vec<MissingPrice>,
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
    let mut steps = Steps::start();
    let generated_at = Utc::now();
    let Period { from, to, .. } = req.period;
    let cov = coverage::check(store, from, to)?;
    let mut files = Vec::new();
    let coverage_path = write_coverage(&cov, &req.out)?;
    steps.lap("coverage");
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
            steps,
        };
        outcome.files.push(summary::write(&outcome)?);
        outcome.files.push(html::write(&outcome)?);
        return Ok(outcome);
    }
    // Every holding the report needs (the period's start and end, the chart's days), in
    // one walk of the ledgers.
    let closing_at = req.period.closing_at(generated_at);
    let chart = match (from.or(cov.from), closing_at.or(cov.as_of)) {
        (Some(a), Some(b)) if a < b => Some(holdings::instants(a, b, req.period.tz)),
        _ => None,
    };
    let opening_at = to.and(from);
    let mut held = Held::read(
        store,
        opening_at
            .into_iter()
            .chain(closing_at)
            .chain(chart.iter().flat_map(|(_, ats)| ats.iter().copied())),
    )?;
    steps.lap("holdings at the period's ends and days");
    let opening = opening_at.map(|at| (at, held.at(at)));
    let rows = write_rows(store, req, valuer, opening)?;
    steps.lap("rows: normalize, value, write every format");
    // Every file just written is read back as its tool reads it and must sum to the rows.
    let file_checks = files_checks(&req.out, &rows.exported, from, to);
    steps.lap("read-back of the written files");
    let (rec, mut rec_files) = write_reconciliation(store, &rows.normalized, &cov, file_checks, &req.out)?;
    steps.lap("reconciliation");
    files.extend(rows.exported.paths().map(Path::to_path_buf));
    files.append(&mut rec_files);
    files.push(coverage_path);
    let mut tax = rows.tax;
    let closing = match closing_at {
        Some(at) => {
            let holdings = held.at(at);
            let p = write_closing(&holdings, at, &req.out)?;
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
    steps.lap("closing holdings, tax summary");
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
    let series = match chart {
        Some((step, ats)) => {
            let all = ats.iter().map(|at| held.at(*at)).collect();
            Some(holdings::series_of(step, &ats, all, valuer)?)
        }
        None => None,
    };
    steps.lap("missing prices, holdings series");
    let unclassified_fail = rows.normalized.unclassified > 0 && !req.allow_unclassified;
    let exit = if unclassified_fail || !rec.ok() {
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
    };
    let mut outcome = ReportOutcome {
        period: req.period,
        out: req.out.clone(),
        generated_at,
        coverage: cov,
        written: Some(written),
        files,
        exit,
        steps,
    };
    outcome.files.push(summary::write(&outcome)?);
    outcome.steps.lap("summary.json");
    outcome.files.push(html::write(&outcome)?);
    outcome.steps.lap("report.html");
    for (name, took) in &outcome.steps.took {
        tracing::debug!("report step {name}: {took:.2?}");
    }
    Ok(outcome)
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

/// The holdings at a report's instants, read in one walk of the ledgers.
struct Held(std::collections::BTreeMap<DateTime<Utc>, Vec<Holding>>);

impl Held {
    fn read(store: &Store, ats: impl Iterator<Item = DateTime<Utc>>) -> Result<Held> {
        let mut ats: Vec<DateTime<Utc>> = ats.collect();
        ats.sort_unstable();
        ats.dedup();
        let all = crate::reconcile::closing::holdings_series(store, &ats)?;
        Ok(Held(ats.into_iter().zip(all).collect()))
    }

    /// The holdings at `at` (one of the instants read).
    fn at(&mut self, at: DateTime<Utc>) -> Vec<Holding> {
        self.0.get(&at).cloned().unwrap_or_default()
    }
}

/// Values every row of the period and writes it to every format. The valuer sees rows in
/// time order: the opening holdings (at the period's start) first, then the period's rows
/// (the closing holdings come after, in [`run`]).
fn write_rows(
    store: &Store,
    req: &ReportRequest,
    valuer: &mut dyn Valuer,
    opening: Option<(DateTime<Utc>, Vec<Holding>)>,
) -> Result<RowsWritten> {
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
    if let Some((start, holdings)) = &opening {
        tax.add_holdings(holdings, *start, false, valuer)?;
    }
    let normalized = normalize(store, &NormalizeOptions { from, to }, &mut |tx| {
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
fn write_closing(holdings: &[Holding], at: DateTime<Utc>, out: &Path) -> Result<PathBuf> {
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
    Ok(p)
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

/// The whole-store reconciliation (`okx-export reconcile`): the balance chains, the
/// snapshot match and the cross-ledger checks, no tax files.
pub fn reconcile_only(store: &Store, out: &Path) -> Result<(Reconciliation, Vec<PathBuf>)> {
    std::fs::create_dir_all(out)
        .with_context(|| format!("cannot create output directory `{}`", out.display()))?;
    let cov = coverage::check(store, None, None)?;
    let summary = normalize(store, &NormalizeOptions::default(), &mut |_| Ok(()))?;
    write_reconciliation(store, &summary, &cov, Vec::new(), out)
}
