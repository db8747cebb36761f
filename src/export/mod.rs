//! Export layer: normalized [`Transaction`]s → CSV files that tax tools import.
//!
//! * [`Format`] names each output (`transactions`, `koinly`, …) and parses `--format` lists.
//! * [`ExportWriter`] streams rows into every selected format at once: each output is a temp
//!   file in the output directory, renamed into place only by [`ExportWriter::finish`]. A
//!   writer dropped before `finish` deletes its temp files, so a crash or an error never
//!   leaves a half-written CSV that a user could import. Memory stays flat: nothing is
//!   buffered beyond the CSV writers' own buffers.
//! * [`write_csv_atomic`] / [`write_json_atomic`] write the other reports (balances,
//!   reconciliation) with the same dialect and the same temp-then-rename rule.
//!
//! One file per target tool holds its exact header, date format, kind → type table and fee
//! convention, each documented against `/work/shared/tax-formats.md`. What they share lives
//! here: the CSV dialect ([`csv_writer_builder`]), amount formatting (`amount`) and the
//! split of a row into legs (`legs`), which is where transfers and unclassified rows are
//! dropped for the tax formats and fee-only rows are recognised.

mod bittytax;
mod coinledger;
mod cointracker;
mod cointracking;
mod ctc;
mod dali;
mod generic;
mod koinly;
#[cfg(test)]
mod testdata;

use crate::model::{Amount, Kind, Transaction, plain};
use anyhow::{Context, Result, bail};
use chrono::{DateTime, SecondsFormat, Utc};
use rust_decimal::Decimal;
use std::fmt;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use tempfile::NamedTempFile;

/// One output format. [`Format::name`] is what `--format` accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Format {
    /// `transactions.csv`: the lossless normalized rows ([`Transaction::COLUMNS`]).
    Generic,
    /// `koinly.csv`: Koinly Universal template.
    Koinly,
    /// `cointracking.csv`: CoinTracking CSV import.
    CoinTracking,
    /// `ctc.csv`: CryptoTaxCalculator Advanced (custom) CSV.
    Ctc,
    /// `bittytax.csv`: BittyTax transaction records.
    BittyTax,
    /// `cointracker.csv`: CoinTracker 8-column CSV.
    CoinTracker,
    /// `coinledger.csv`: CoinLedger Universal manual import template.
    CoinLedger,
    /// `dali-in.csv`, `dali-out.csv`, `dali-intra.csv` + `dali.ini`: DaLI manual plugin (→ RP2).
    Dali,
}

impl Format {
    /// Every format, in the order `all` expands to.
    pub const ALL: [Format; 8] = [
        Format::Generic,
        Format::Koinly,
        Format::CoinTracking,
        Format::Ctc,
        Format::BittyTax,
        Format::CoinTracker,
        Format::CoinLedger,
        Format::Dali,
    ];

    /// The name used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Format::Generic => "transactions",
            Format::Koinly => "koinly",
            Format::CoinTracking => "cointracking",
            Format::Ctc => "ctc",
            Format::BittyTax => "bittytax",
            Format::CoinTracker => "cointracker",
            Format::CoinLedger => "coinledger",
            Format::Dali => "dali",
        }
    }

    /// The files this format writes into the output directory (CSV files first).
    pub fn file_names(self) -> Vec<&'static str> {
        let mut names: Vec<&'static str> = self.csv_files().iter().map(|f| f.name).collect();
        if self == Format::Dali {
            names.push(dali::INI_NAME);
        }
        names
    }

    /// Whether rows of kind `transfer` and `unclassified` are left out (all tax formats).
    pub fn is_tax_format(self) -> bool {
        self != Format::Generic
    }

    /// Parses a comma-separated list such as `koinly,bittytax` or `all`. Names are
    /// case-insensitive, duplicates are dropped, order is kept (`all` expands to [`Format::ALL`]).
    pub fn parse_list(s: &str) -> Result<Vec<Format>, UnknownFormat> {
        let mut out = Vec::new();
        for part in s.split(',').map(str::trim) {
            let add: Vec<Format> = if part.eq_ignore_ascii_case("all") {
                Format::ALL.to_vec()
            } else {
                vec![part.parse()?]
            };
            for f in add {
                if !out.contains(&f) {
                    out.push(f);
                }
            }
        }
        Ok(out)
    }

    fn csv_files(self) -> &'static [CsvFile] {
        match self {
            Format::Generic => generic::FILES,
            Format::Koinly => koinly::FILES,
            Format::CoinTracking => cointracking::FILES,
            Format::Ctc => ctc::FILES,
            Format::BittyTax => bittytax::FILES,
            Format::CoinTracker => cointracker::FILES,
            Format::CoinLedger => coinledger::FILES,
            Format::Dali => dali::FILES,
        }
    }

    /// Maps one transaction to the records of this format (appended to `out`).
    fn encode(self, tx: &Transaction, opts: &ExportOptions, out: &mut Vec<Record>) -> Encoded {
        match self {
            Format::Generic => {
                out.push(generic::record(tx));
                Ok(())
            }
            Format::Koinly => koinly::encode(tx, opts, out),
            Format::CoinTracking => cointracking::encode(tx, opts, out),
            Format::Ctc => ctc::encode(tx, opts, out),
            Format::BittyTax => bittytax::encode(tx, opts, out),
            Format::CoinTracker => cointracker::encode(tx, opts, out),
            Format::CoinLedger => coinledger::encode(tx, opts, out),
            Format::Dali => dali::encode(tx, opts, out),
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A `--format` value that names no format.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown export format `{0}` (expected a comma-separated list of: all, transactions, koinly, cointracking, ctc, bittytax, cointracker, coinledger, dali)"
)]
pub struct UnknownFormat(pub String);

impl FromStr for Format {
    type Err = UnknownFormat;

    /// One format name; `generic` is accepted as an alias of `transactions`.
    fn from_str(s: &str) -> Result<Format, UnknownFormat> {
        let s = s.trim();
        if s.eq_ignore_ascii_case("generic") {
            return Ok(Format::Generic);
        }
        Format::ALL
            .into_iter()
            .find(|f| f.name().eq_ignore_ascii_case(s))
            .ok_or_else(|| UnknownFormat(s.to_string()))
    }
}

/// Options shared by all formats.
#[derive(Debug, Clone)]
pub struct ExportOptions {
    /// Display zone for human-facing reports ([`ExportOptions::local_time`]). No tax format
    /// uses it: every tool gets UTC (tax-formats.md, "Convert every timestamp to UTC"), and
    /// `transactions.csv` is fixed to RFC 3339 UTC.
    pub tz: chrono_tz::Tz,
    /// Wallet / exchange / platform name written where a format has such a column.
    pub wallet_name: String,
}

impl Default for ExportOptions {
    fn default() -> ExportOptions {
        ExportOptions {
            tz: chrono_tz::UTC,
            wallet_name: "OKX".to_string(),
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

/// What one format did with the rows it was given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormatReport {
    pub format: Format,
    /// Final paths of the files written (CSV files first, then e.g. `dali.ini`).
    pub paths: Vec<PathBuf>,
    /// Transactions that produced at least one record.
    pub exported: u64,
    /// CSV data records written over all files of the format (a trade may give several).
    pub records: u64,
    /// Transactions of kind `transfer` left out (moves between the user's own OKX accounts).
    pub skipped_transfers: u64,
    /// Transactions of kind `unclassified` left out (kept only in `transactions.csv`).
    pub skipped_unclassified: u64,
    /// Transactions the format cannot represent: no non-zero amount (after the format's
    /// rounding), or, for DaLI, fiat-only rows (RP2 tracks crypto only).
    pub skipped_other: u64,
}

impl FormatReport {
    pub fn skipped(&self) -> u64 {
        self.skipped_transfers + self.skipped_unclassified + self.skipped_other
    }
}

/// Result of [`ExportWriter::finish`]: one entry per requested format, in request order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportReport {
    pub formats: Vec<FormatReport>,
}

impl ExportReport {
    /// Every file written, in format order.
    pub fn paths(&self) -> impl Iterator<Item = &Path> {
        self.formats
            .iter()
            .flat_map(|f| f.paths.iter().map(PathBuf::as_path))
    }

    pub fn get(&self, format: Format) -> Option<&FormatReport> {
        self.formats.iter().find(|f| f.format == format)
    }
}

/// Streams transactions into every selected format; see the module doc.
pub struct ExportWriter {
    opts: ExportOptions,
    outputs: Vec<Output>,
    scratch: Vec<Record>,
}

struct Output {
    format: Format,
    csvs: Vec<PendingCsv>,
    extra: Vec<PendingFile>,
    report: FormatReport,
}

struct PendingCsv {
    path: PathBuf,
    writer: csv::Writer<NamedTempFile>,
}

struct PendingFile {
    path: PathBuf,
    file: NamedTempFile,
}

impl ExportWriter {
    /// Creates `out_dir` if needed and opens a temp file (with its header row written) for
    /// every output of every format in `formats`.
    pub fn create(out_dir: &Path, formats: &[Format], opts: ExportOptions) -> Result<ExportWriter> {
        std::fs::create_dir_all(out_dir)
            .with_context(|| format!("failed to create output directory `{}`", out_dir.display()))?;
        let mut outputs: Vec<Output> = Vec::new();
        for &format in formats {
            if outputs.iter().any(|o| o.format == format) {
                continue;
            }
            let mut csvs = Vec::new();
            for spec in format.csv_files() {
                let path = out_dir.join(spec.name);
                let mut writer = csv_writer_builder().from_writer(temp_in(out_dir, spec.name)?);
                writer
                    .write_record(spec.header)
                    .with_context(|| format!("failed to write `{}`", path.display()))?;
                csvs.push(PendingCsv { path, writer });
            }
            let mut extra = Vec::new();
            if format == Format::Dali {
                let path = out_dir.join(dali::INI_NAME);
                let mut file = temp_in(out_dir, dali::INI_NAME)?;
                file.write_all(dali::ini().as_bytes())
                    .with_context(|| format!("failed to write `{}`", path.display()))?;
                extra.push(PendingFile { path, file });
            }
            let paths = csvs
                .iter()
                .map(|c| c.path.clone())
                .chain(extra.iter().map(|e| e.path.clone()))
                .collect();
            outputs.push(Output {
                format,
                csvs,
                extra,
                report: FormatReport {
                    format,
                    paths,
                    exported: 0,
                    records: 0,
                    skipped_transfers: 0,
                    skipped_unclassified: 0,
                    skipped_other: 0,
                },
            });
        }
        Ok(ExportWriter {
            opts,
            outputs,
            scratch: Vec::new(),
        })
    }

    /// Writes one transaction to every format. Fails on a negative amount (the model says
    /// amounts are positive; writing one would silently flip its direction).
    pub fn write(&mut self, tx: &Transaction) -> Result<()> {
        check_amounts(tx)?;
        for output in &mut self.outputs {
            self.scratch.clear();
            match output.format.encode(tx, &self.opts, &mut self.scratch) {
                Err(Skip::Transfer) => output.report.skipped_transfers += 1,
                Err(Skip::Unclassified) => output.report.skipped_unclassified += 1,
                Err(Skip::Other) => output.report.skipped_other += 1,
                Ok(()) if self.scratch.is_empty() => output.report.skipped_other += 1,
                Ok(()) => {
                    output.report.exported += 1;
                    for rec in &self.scratch {
                        let csv = &mut output.csvs[rec.file];
                        csv.writer
                            .write_record(&rec.cells)
                            .with_context(|| format!("failed to write `{}`", csv.path.display()))?;
                        output.report.records += 1;
                    }
                }
            }
        }
        Ok(())
    }

    /// Flushes and fsyncs every temp file, then renames each into place.
    pub fn finish(self) -> Result<ExportReport> {
        let mut ready: Vec<(PathBuf, NamedTempFile)> = Vec::new();
        let mut reports = Vec::new();
        for output in self.outputs {
            for csv in output.csvs {
                let file = csv
                    .writer
                    .into_inner()
                    .map_err(|e| anyhow::anyhow!("{}", e.error()))
                    .with_context(|| format!("failed to write `{}`", csv.path.display()))?;
                ready.push((csv.path, file));
            }
            for extra in output.extra {
                ready.push((extra.path, extra.file));
            }
            reports.push(output.report);
        }
        // All files are complete on disk before the first rename, so a failure here can at
        // worst leave a consistent older file in place, never a truncated one.
        for (path, file) in &ready {
            file.as_file()
                .sync_all()
                .with_context(|| format!("failed to sync `{}`", path.display()))?;
        }
        for (path, file) in ready {
            persist(file, &path)?;
        }
        Ok(ExportReport { formats: reports })
    }
}

/// Writes a CSV report atomically: `header`, then one record per item of `rows`. A row is
/// anything serde can write as one record: `Vec<String>`, a tuple, or a struct (its field
/// values, in order; the struct's names are not used, `header` is). Returns the row count.
pub fn write_csv_atomic<S: serde::Serialize>(
    path: &Path,
    header: &[&str],
    rows: impl IntoIterator<Item = S>,
) -> Result<u64> {
    let dir = parent_dir(path);
    let mut writer = csv_writer_builder().from_writer(temp_in(dir, &file_name(path))?);
    let err = || format!("failed to write `{}`", path.display());
    writer.write_record(header).with_context(err)?;
    let mut n = 0;
    for row in rows {
        writer.serialize(row).with_context(err)?;
        n += 1;
    }
    let file = writer
        .into_inner()
        .map_err(|e| anyhow::anyhow!("{}", e.error()))
        .with_context(err)?;
    file.as_file().sync_all().with_context(err)?;
    persist(file, path)?;
    Ok(n)
}

/// Writes pretty-printed JSON (with a trailing newline) atomically.
pub fn write_json_atomic<T: serde::Serialize + ?Sized>(path: &Path, value: &T) -> Result<()> {
    let err = || format!("failed to write `{}`", path.display());
    let mut file = temp_in(parent_dir(path), &file_name(path))?;
    serde_json::to_writer_pretty(&mut file, value).with_context(err)?;
    file.write_all(b"\n").with_context(err)?;
    file.as_file().sync_all().with_context(err)?;
    persist(file, path)
}

/// The one CSV dialect of every output: comma, `\n` line ends, RFC 4180 quoting (only when
/// needed, `"` doubled), UTF-8 without BOM. Headers are written explicitly by the callers.
pub fn csv_writer_builder() -> csv::WriterBuilder {
    let mut b = csv::WriterBuilder::new();
    b.delimiter(b',')
        .terminator(csv::Terminator::Any(b'\n'))
        .quote_style(csv::QuoteStyle::Necessary)
        .double_quote(true)
        .has_headers(false);
    b
}

/// An amount cell: plain decimal, no exponent, no trailing zeros, never negative.
pub(crate) fn amount(d: Decimal) -> String {
    debug_assert!(!d.is_sign_negative() || d.is_zero(), "negative amount {d}");
    plain(d.abs())
}

/// An optional cell: the text, or a truly empty cell.
pub(crate) fn opt(s: Option<&str>) -> String {
    s.unwrap_or_default().to_string()
}

/// `<kind> [<instrument>] <id>`: the free-text description most formats carry.
pub(crate) fn describe(tx: &Transaction) -> String {
    match &tx.instrument {
        Some(inst) => format!("{} {} {}", tx.kind, inst, tx.id),
        None => format!("{} {}", tx.kind, tx.id),
    }
}

/// [`describe`] followed by ` tx <hash>` when the row has an on-chain hash, for formats
/// without a hash column.
pub(crate) fn describe_with_hash(tx: &Transaction) -> String {
    match &tx.tx_hash {
        Some(h) => format!("{} tx {h}", describe(tx)),
        None => describe(tx),
    }
}

/// The id of leg `index` of a row: the row id for the first leg, `<id>#<n>` for the rare
/// extra legs, so tools that drop duplicate ids keep them.
pub(crate) fn leg_id(tx: &Transaction, index: usize) -> String {
    if index == 0 {
        tx.id.clone()
    } else {
        format!("{}#{}", tx.id, index + 1)
    }
}

/// True for OKX derivative instrument ids (`BTC-USDT-SWAP`, `BTC-USD-250328`, options);
/// spot and margin pairs have two parts (`BTC-USDT`).
pub(crate) fn is_derivative(instrument: Option<&str>) -> bool {
    instrument.is_some_and(|i| i.split('-').count() >= 3)
}

/// Fiat currencies OKX lists for deposits / P2P / trading (ISO 4217 codes).
pub(crate) fn is_fiat(asset: &str) -> bool {
    const FIAT: &[&str] = &[
        "USD", "EUR", "GBP", "AUD", "CAD", "CHF", "JPY", "CNY", "HKD", "SGD", "TWD", "KRW", "INR", "IDR",
        "THB", "VND", "PHP", "MYR", "AED", "SAR", "TRY", "BRL", "ARS", "MXN", "COP", "CLP", "PEN", "NGN",
        "ZAR", "KES", "PLN", "CZK", "HUF", "RON", "SEK", "NOK", "DKK", "NZD", "UAH", "RUB", "KZT",
    ];
    FIAT.contains(&asset)
}

/// A CSV output of a format: file name and exact header.
pub(crate) struct CsvFile {
    pub name: &'static str,
    pub header: &'static [&'static str],
}

/// One CSV record for the format's output file number `file` (index into its `FILES`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Record {
    pub file: usize,
    pub cells: Vec<String>,
}

impl Record {
    pub fn new(cells: Vec<String>) -> Record {
        Record { file: 0, cells }
    }
}

/// Why a tax format left a transaction out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Skip {
    Transfer,
    Unclassified,
    Other,
}

pub(crate) type Encoded = Result<(), Skip>;

/// The direction-typed pieces a tax format writes for one transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Shape<'a> {
    /// Both sides (kind `trade`): `received` is gross, `fee` is an extra outflow.
    Trade {
        sent: &'a Amount,
        received: &'a Amount,
        fee: Option<&'a Amount>,
    },
    /// Incoming only; `fee` (if any) is an extra outflow.
    In {
        received: &'a Amount,
        fee: Option<&'a Amount>,
    },
    /// Outgoing only; `sent` excludes `fee`, which is an extra outflow.
    Out {
        sent: &'a Amount,
        fee: Option<&'a Amount>,
    },
}

/// One piece of a transaction with the kind a format should treat it as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Leg<'a> {
    pub kind: Kind,
    pub shape: Shape<'a>,
}

/// Splits a transaction into legs for the tax formats.
///
/// * `transfer` and `unclassified` → skipped (counted by the caller).
/// * Zero amounts count as absent; a row with none left (e.g. a bill that changed no
///   balance) is skipped as `Other`.
/// * `trade` (and a paired `liquidation`, e.g. a forced spot-margin sell) with both sides →
///   one `Trade` leg.
/// * A one-sided `trade`: on a derivative instrument (an option premium) it is treated as
///   `realized_pnl`; otherwise (a fiat buy booked only as the coin received, a leg whose
///   partner is missing) it stays `trade`, which formats write as a plain receive / send
///   (like a deposit / withdrawal), so the tool shows it as an unexplained movement for the
///   user to complete instead of inventing income or a disposal.
/// * A fee-only row (no sent, no received), and every piece of a `fee` row, becomes an `Out`
///   leg of kind `fee`, except `funding_fee` and `interest_paid`, which keep their kind
///   because most tools have a dedicated margin-fee / interest type.
/// * Any other row with both sides (not expected) is split into an `Out` leg (with the fee)
///   and an `In` leg, so one-directional types never get both columns.
pub(crate) fn legs(tx: &Transaction) -> Result<Vec<Leg<'_>>, Skip> {
    fn nz(a: &Option<Amount>) -> Option<&Amount> {
        a.as_ref().filter(|a| !a.amount.is_zero())
    }
    let (sent, received, fee) = (nz(&tx.sent), nz(&tx.received), nz(&tx.fee));
    let one_sided = sent.is_none() || received.is_none();
    let kind = match tx.kind {
        Kind::Trade if one_sided && is_derivative(tx.instrument.as_deref()) => Kind::RealizedPnl,
        k => k,
    };
    let leg = |kind, shape| Leg { kind, shape };
    let out = match kind {
        Kind::Transfer => return Err(Skip::Transfer),
        Kind::Unclassified => return Err(Skip::Unclassified),
        Kind::Fee => {
            let mut v: Vec<Leg> = [sent, fee]
                .into_iter()
                .flatten()
                .map(|a| leg(Kind::Fee, Shape::Out { sent: a, fee: None }))
                .collect();
            v.extend(received.map(|r| {
                leg(
                    Kind::Fee,
                    Shape::In {
                        received: r,
                        fee: None,
                    },
                )
            }));
            v
        }
        _ => match (sent, received, fee) {
            (Some(s), Some(r), _) if matches!(kind, Kind::Trade | Kind::Liquidation) => {
                vec![leg(
                    kind,
                    Shape::Trade {
                        sent: s,
                        received: r,
                        fee,
                    },
                )]
            }
            (Some(s), Some(r), _) => vec![
                leg(kind, Shape::Out { sent: s, fee }),
                leg(
                    kind,
                    Shape::In {
                        received: r,
                        fee: None,
                    },
                ),
            ],
            (None, Some(r), _) => vec![leg(kind, Shape::In { received: r, fee })],
            (Some(s), None, _) => vec![leg(kind, Shape::Out { sent: s, fee })],
            (None, None, Some(f)) => {
                let k = match kind {
                    Kind::FundingFee | Kind::InterestPaid => kind,
                    _ => Kind::Fee,
                };
                vec![leg(k, Shape::Out { sent: f, fee: None })]
            }
            (None, None, None) => vec![],
        },
    };
    if out.is_empty() { Err(Skip::Other) } else { Ok(out) }
}

fn check_amounts(tx: &Transaction) -> Result<()> {
    for (col, a) in [("sent", &tx.sent), ("received", &tx.received), ("fee", &tx.fee)] {
        if let Some(a) = a
            && a.amount.is_sign_negative()
            && !a.amount.is_zero()
        {
            bail!(
                "row `{}`: negative {col} amount {} {} (amounts must be positive)",
                tx.id,
                a.amount,
                a.asset
            );
        }
    }
    if tx.price.is_some_and(|p| p.is_sign_negative() && !p.is_zero()) {
        bail!("row `{}`: negative price", tx.id);
    }
    Ok(())
}

fn temp_in(dir: &Path, name: &str) -> Result<NamedTempFile> {
    tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .suffix(".tmp")
        .tempfile_in(dir)
        .with_context(|| format!("failed to create a temp file in `{}`", dir.display()))
}

fn persist(file: NamedTempFile, path: &Path) -> Result<()> {
    let _: File = file
        .persist(path)
        .map_err(|e| e.error)
        .with_context(|| format!("failed to write `{}`", path.display()))?;
    Ok(())
}

fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "out".to_string())
}

#[cfg(test)]
mod tests {
    use super::testdata::*;
    use super::*;

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
        assert_eq!(strings(&schema["required"]), Transaction::COLUMNS);
        let props = schema["properties"].as_object().unwrap();
        assert_eq!(props.len(), Transaction::COLUMNS.len());
        assert!(Transaction::COLUMNS.iter().all(|c| props.contains_key(*c)));
        let kinds: Vec<&str> = Kind::ALL.iter().map(|k| k.as_str()).collect();
        assert_eq!(strings(&props["kind"]["enum"]), kinds);
        let accounts: Vec<&str> = crate::model::Account::ALL.iter().map(|a| a.as_str()).collect();
        assert_eq!(strings(&props["account"]["enum"]), accounts);
    }

    #[test]
    fn generic_header_is_the_model_columns() {
        assert_eq!(generic::FILES[0].header, Transaction::COLUMNS.as_slice());
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
            w.write(&tx).unwrap();
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
            w.write(&tx).unwrap();
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
        let err = w.write(&tx).unwrap_err().to_string();
        assert!(err.contains("negative received amount"), "{err}");
    }

    #[test]
    fn existing_file_is_replaced_only_on_finish() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("koinly.csv");
        std::fs::write(&path, "old\n").unwrap();
        let mut w = ExportWriter::create(dir.path(), &[Format::Koinly], ExportOptions::default()).unwrap();
        w.write(&deposit()).unwrap();
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

    #[test]
    fn helpers() {
        assert!(is_derivative(Some("BTC-USDT-SWAP")));
        assert!(is_derivative(Some("BTC-USD-250328")));
        assert!(!is_derivative(Some("BTC-USDT")));
        assert!(!is_derivative(None));
        assert_eq!(amount(dec("1.2300")), "1.23");
        assert_eq!(amount(dec("0.00000001")), "0.00000001");
        assert_eq!(describe(&pnl_loss()), "realized_pnl BTC-USDT-SWAP tb-1006:pnl");
    }
}
