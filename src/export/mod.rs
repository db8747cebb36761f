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
//! One file per target tool holds its exact header, date format, kind → type table and fee
//! convention, each documented against `../shared/tax-formats.md` (relative to the repo). What they share lives
//! here: the CSV dialect ([`csv_writer_builder`], written cell by cell by `Records`/`Row`
//! without an allocation per cell), amount formatting (`Row::amt`) and the split of a row
//! into legs (`legs`), which is where transfers and unclassified rows are dropped for the
//! tax formats and fee-only rows are recognised, and the `Combine` rules by which a
//! format folds a maker rebate into its fill or merges same-second fills of one order
//! (one spot trade is held back per such format). What every format needs of a row (its
//! legs, its time in each format's style, its description, its amounts as text) is worked
//! out once per row (`Prep`), not once per format.

mod bittytax;
mod coinledger;
mod cointracker;
mod cointracking;
mod ctc;
mod dali;
mod generic;
mod koinly;
#[cfg(test)]
mod proof;
#[cfg(test)]
mod testdata;

#[cfg(test)]
use crate::model::plain;
use crate::model::{Amount, Kind, PlainBuf, Transaction};
use anyhow::{Context, Result, bail};
use chrono::format::{Item, StrftimeItems};
use chrono::{DateTime, SecondsFormat, Utc};
use rust_decimal::Decimal;
use std::borrow::Cow;
use std::fmt;
use std::fmt::Write as _;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::LazyLock;
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

    /// How this format wants consecutive rows combined before they are encoded.
    fn combine(self) -> Combine {
        match self {
            // No refund type for a maker rebate (issue 9): net it into its fill.
            Format::CoinTracking | Format::CoinLedger | Format::Ctc => Combine {
                net_rebates: true,
                merge_fills: false,
            },
            // No id column: same-second fills of one order would be identical rows.
            Format::CoinTracker => Combine {
                net_rebates: true,
                merge_fills: true,
            },
            _ => Combine::default(),
        }
    }

    /// Maps one prepared transaction to the records of this format (appended to `out`).
    fn encode(self, p: &Prep, opts: &ExportOptions, out: &mut Records) -> Encoded {
        match self {
            Format::Generic => {
                generic::encode(p, out);
                Ok(())
            }
            Format::Koinly => koinly::encode(p, opts, out),
            Format::CoinTracking => cointracking::encode(p, opts, out),
            Format::Ctc => ctc::encode(p, opts, out),
            Format::BittyTax => bittytax::encode(p, opts, out),
            Format::CoinTracker => cointracker::encode(p, opts, out),
            Format::CoinLedger => coinledger::encode(p, opts, out),
            Format::Dali => dali::encode(p, opts, out),
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
    /// What every format shares about the current row (dates, descriptions), reused.
    shared: Shared,
}

struct Output {
    format: Format,
    csvs: Vec<PendingCsv>,
    /// The CSV text of each of `csvs` not yet written to its file.
    records: Records,
    extra: Vec<PendingFile>,
    report: FormatReport,
    /// A row held back by the format's [`Combine`] rules, and how many input rows it holds.
    held: Option<Transaction>,
    held_rows: u64,
    /// The last released held row, kept so the next one reuses its allocations.
    spare: Option<Transaction>,
    /// Buffers behind the [`Prep`] of `held` (the writer's own are busy with the current row).
    held_shared: Shared,
}

struct PendingCsv {
    path: PathBuf,
    file: NamedTempFile,
}

/// CSV text is handed to the temp files in chunks of about this size.
const FLUSH_BYTES: usize = 64 * 1024;

impl Output {
    /// Encodes one prepared row (standing for `rows` input rows) and books the result.
    fn emit(&mut self, prep: &Prep, opts: &ExportOptions, rows: u64) -> Result<()> {
        self.records.spans.clear();
        self.records.texts = prep.texts;
        match self.format.encode(prep, opts, &mut self.records) {
            Err(Skip::Transfer) => self.report.skipped_transfers += rows,
            Err(Skip::Unclassified) => self.report.skipped_unclassified += rows,
            Err(Skip::Other) => self.report.skipped_other += rows,
            Ok(()) if self.records.spans.is_empty() => self.report.skipped_other += rows,
            Ok(()) => {
                // What the csv crate's writer refused: a record unlike the header.
                if let Some(span) = self
                    .records
                    .spans
                    .iter()
                    .find(|s| s.cells != self.records.widths[s.file])
                {
                    let path = &self.csvs[span.file].path;
                    bail!(
                        "failed to write `{}`: row `{}` has {} fields, the header {}",
                        path.display(),
                        prep.tx.id,
                        span.cells,
                        self.records.widths[span.file]
                    );
                }
                if let Some(e) = self.records.error.take() {
                    bail!("failed to write `{}`: {e}", self.csvs[0].path.display());
                }
                self.report.exported += rows;
                self.report.records += self.records.spans.len() as u64;
                self.flush(FLUSH_BYTES)?;
            }
        }
        Ok(())
    }

    /// Writes the held row, if any.
    fn release(&mut self, opts: &ExportOptions) -> Result<()> {
        let Some(held) = self.held.take() else {
            return Ok(());
        };
        let rows = std::mem::take(&mut self.held_rows);
        let mut shared = std::mem::take(&mut self.held_shared);
        let result = {
            let prep = shared.prepare(&held);
            self.emit(&prep, opts, rows)
        };
        self.held_shared = shared;
        self.spare = Some(held);
        result
    }

    /// Writes the buffered text of every file at least `min` bytes long to its temp file.
    fn flush(&mut self, min: usize) -> Result<()> {
        for (i, csv) in self.csvs.iter_mut().enumerate() {
            self.records
                .drain(i, min, &mut csv.file)
                .with_context(|| format!("failed to write `{}`", csv.path.display()))?;
        }
        Ok(())
    }
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
            let mut records = Records::new(format.csv_files());
            for (i, spec) in format.csv_files().iter().enumerate() {
                let path = out_dir.join(spec.name);
                let file = temp_in(out_dir, spec.name)?;
                let mut row = records.row(i);
                for cell in spec.header {
                    row = row.s(cell);
                }
                row.end();
                csvs.push(PendingCsv { path, file });
            }
            records.spans.clear();
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
                records,
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
                held: None,
                held_rows: 0,
                spare: None,
                held_shared: Shared::default(),
            });
        }
        Ok(ExportWriter {
            opts,
            outputs,
            shared: Shared::default(),
        })
    }

    /// Writes one transaction to every format. Fails on a negative amount (the model says
    /// amounts are positive; writing one would silently flip its direction).
    ///
    /// Formats whose `Combine` rules merge rows hold back a spot trade until the next row
    /// shows whether it continues it (a maker rebate of the same fill, another fill of the
    /// same order in the same second); everything else is written at once.
    pub fn write(&mut self, tx: &Transaction) -> Result<()> {
        check_amounts(tx)?;
        if self.outputs.is_empty() {
            return Ok(());
        }
        let prep = self.shared.prepare(tx);
        for output in &mut self.outputs {
            let combine = output.format.combine();
            if !combine.any() {
                output.emit(&prep, &self.opts, 1)?;
                continue;
            }
            if let Some(held) = &mut output.held {
                if combine.absorb(held, tx) {
                    output.held_rows += 1;
                    continue;
                }
                output.release(&self.opts)?;
            }
            if combine.may_absorb_into(tx) {
                output.held = Some(match output.spare.take() {
                    Some(mut t) => {
                        copy_into(&mut t, tx);
                        t
                    }
                    None => tx.clone(),
                });
                output.held_rows = 1;
            } else {
                output.emit(&prep, &self.opts, 1)?;
            }
        }
        Ok(())
    }

    /// Flushes and fsyncs every temp file, then renames each into place.
    pub fn finish(mut self) -> Result<ExportReport> {
        let mut ready: Vec<(PathBuf, NamedTempFile)> = Vec::new();
        let mut reports = Vec::new();
        for output in &mut self.outputs {
            output.release(&self.opts)?;
            output.flush(0)?;
        }
        for output in self.outputs {
            for csv in output.csvs {
                ready.push((csv.path, csv.file));
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
#[cfg(test)]
pub(crate) fn amount(d: Decimal) -> String {
    debug_assert!(!d.is_sign_negative() || d.is_zero(), "negative amount {d}");
    plain(d.abs())
}

/// `<kind> [<instrument>] <id>`: the free-text description most formats carry.
#[cfg(test)]
pub(crate) fn describe(tx: &Transaction) -> String {
    let mut s = String::new();
    describe_into(tx, &mut s);
    s
}

fn describe_into(tx: &Transaction, out: &mut String) {
    out.push_str(tx.kind.as_str());
    out.push(' ');
    if let Some(inst) = &tx.instrument {
        out.push_str(inst);
        out.push(' ');
    }
    out.push_str(&tx.id);
}

/// The id of leg `index` of a row: the row id for the first leg, `<id>#<n>` for the rare
/// extra legs, so tools that drop duplicate ids keep them.
pub(crate) fn leg_id(tx: &Transaction, index: usize) -> Cow<'_, str> {
    if index == 0 {
        Cow::Borrowed(&tx.id)
    } else {
        Cow::Owned(format!("{}#{}", tx.id, index + 1))
    }
}

/// True for OKX derivative instrument ids (`BTC-USDT-SWAP`, `BTC-USD-250328`, options);
/// spot and margin pairs have two parts (`BTC-USDT`).
pub(crate) fn is_derivative(instrument: Option<&str>) -> bool {
    instrument.is_some_and(|i| i.split('-').count() >= 3)
}

/// Fiat currencies OKX lists for deposits / P2P / trading (ISO 4217 codes).
pub(crate) fn is_fiat(asset: &str) -> bool {
    const FIAT: [&[u8; 3]; 41] = [
        b"USD", b"EUR", b"GBP", b"AUD", b"CAD", b"CHF", b"JPY", b"CNY", b"HKD", b"SGD", b"TWD", b"KRW",
        b"INR", b"IDR", b"THB", b"VND", b"PHP", b"MYR", b"AED", b"SAR", b"TRY", b"BRL", b"ARS", b"MXN",
        b"COP", b"CLP", b"PEN", b"NGN", b"ZAR", b"KES", b"PLN", b"CZK", b"HUF", b"RON", b"SEK", b"NOK",
        b"DKK", b"NZD", b"UAH", b"RUB", b"KZT",
    ];
    // Fixed-size codes compare inline (a list of `&str` costs a `memcmp` call per entry for
    // every three-letter crypto ticker).
    <&[u8; 3]>::try_from(asset.as_bytes()).is_ok_and(|code| FIAT.contains(&code))
}

/// A CSV output of a format: file name and exact header.
pub(crate) struct CsvFile {
    pub name: &'static str,
    pub header: &'static [&'static str],
}

/// The CSV text a format produces, one [`csv::Writer`] per output file of the format, in the
/// [`csv_writer_builder`] dialect. Each writer writes into memory; [`Output::flush`] hands
/// the text to the temp files in chunks. One [`csv::ByteRecord`] is reused for every record.
pub(crate) struct Records {
    /// One writer per file (index into the format's `FILES`); its `Vec` is the text not yet
    /// on disk.
    writers: Vec<csv::Writer<Vec<u8>>>,
    /// The record being built by a [`Row`].
    record: csv::ByteRecord,
    /// The records appended since the caller last cleared this.
    pub spans: Vec<Span>,
    widths: Vec<usize>,
    /// The first error a writer reported (a record unlike the header), taken by the caller.
    error: Option<csv::Error>,
    /// The current row's amounts, formatted once for all formats ([`Prep::texts`]).
    pub texts: Texts,
}

/// The plain text of a few decimals (a row's amounts and price), looked up by exact value.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Texts {
    entries: [TextEntry; 4],
    len: usize,
}

#[derive(Debug, Clone, Copy)]
struct TextEntry {
    bits: [u8; 16],
    len: u8,
    text: [u8; 40],
}

impl Default for TextEntry {
    fn default() -> TextEntry {
        TextEntry {
            bits: [0; 16],
            len: 0,
            text: [0; 40],
        }
    }
}

impl Texts {
    /// Remembers the text of `d` (ignored when full or too long).
    fn add(&mut self, d: Decimal) {
        let bits = d.serialize();
        if self.len == self.entries.len() || self.entries[..self.len].iter().any(|e| e.bits == bits) {
            return;
        }
        let mut buf = PlainBuf::new();
        let text = buf.format(d).as_bytes();
        let e = &mut self.entries[self.len];
        if text.len() <= e.text.len() {
            e.bits = bits;
            e.len = text.len() as u8;
            e.text[..text.len()].copy_from_slice(text);
            self.len += 1;
        }
    }

    /// The remembered text of `d` (same bits: same text as [`PlainBuf::format`]).
    #[inline]
    fn get(&self, d: Decimal) -> Option<&[u8]> {
        let bits = d.serialize();
        self.entries[..self.len]
            .iter()
            .find(|e| e.bits == bits)
            .map(|e| &e.text[..usize::from(e.len)])
    }
}

/// Where one record landed in [`Records::bufs`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Span {
    pub file: usize,
    pub start: usize,
    /// End of the record, after its `\n`.
    pub end: usize,
    pub cells: usize,
}

impl Records {
    pub fn new(files: &[CsvFile]) -> Records {
        Records {
            writers: files
                .iter()
                .map(|_| csv_writer_builder().from_writer(Vec::new()))
                .collect(),
            record: csv::ByteRecord::new(),
            spans: Vec::new(),
            widths: files.iter().map(|f| f.header.len()).collect(),
            error: None,
            texts: Texts::default(),
        }
    }

    /// Starts a record of output file `file`; [`Row::end`] finishes it.
    #[inline]
    pub fn row(&mut self, file: usize) -> Row<'_> {
        self.record.clear();
        Row { recs: self, file }
    }

    /// The text written to file `file` and not yet drained.
    #[cfg(test)]
    pub fn text(&self, file: usize) -> &[u8] {
        self.writers[file].get_ref()
    }

    /// Writes the text of file `file` to `sink` once it is at least `min` bytes (and not
    /// empty), then starts the file's writer again on the emptied buffer.
    fn drain(&mut self, file: usize, min: usize, sink: &mut impl Write) -> std::io::Result<()> {
        if self.writers[file].get_ref().len() < min.max(1) {
            return Ok(());
        }
        // `csv::Writer` lends its sink only by value; every record is already flushed.
        let writer = std::mem::replace(
            &mut self.writers[file],
            csv_writer_builder().from_writer(Vec::new()),
        );
        let mut text = writer.into_inner().map_err(csv::IntoInnerError::into_error)?;
        sink.write_all(&text)?;
        text.clear();
        self.writers[file] = csv_writer_builder().from_writer(text);
        Ok(())
    }
}

/// One record being written: cells in order, then [`Row::end`].
#[must_use = "a row is only complete after `end()`"]
pub(crate) struct Row<'r> {
    recs: &'r mut Records,
    file: usize,
}

impl Row<'_> {
    /// A text cell (the csv writer quotes it when needed).
    #[inline]
    pub fn s(self, v: &str) -> Self {
        self.recs.record.push_field(v.as_bytes());
        self
    }

    /// The text, or an empty cell.
    #[inline]
    pub fn opt(self, v: Option<&str>) -> Self {
        self.s(v.unwrap_or_default())
    }

    /// `n` empty cells.
    #[inline]
    pub fn empty(self, n: usize) -> Self {
        for _ in 0..n {
            self.recs.record.push_field(b"");
        }
        self
    }

    /// An amount cell: plain decimal, no exponent, no trailing zeros, never negative.
    #[inline]
    pub fn amt(self, d: Decimal) -> Self {
        debug_assert!(!d.is_sign_negative() || d.is_zero(), "negative amount {d}");
        self.dec(d.abs())
    }

    /// An optional amount cell.
    #[inline]
    pub fn opt_amt(self, d: Option<Decimal>) -> Self {
        match d {
            Some(d) => self.amt(d),
            None => self.empty(1),
        }
    }

    /// A signed decimal in plain notation (prices).
    pub fn dec(self, d: Decimal) -> Self {
        let recs = &mut *self.recs;
        match recs.texts.get(d) {
            Some(known) => recs.record.push_field(known),
            None => recs.record.push_field(PlainBuf::new().format(d).as_bytes()),
        }
        self
    }

    /// The amount and asset cells of an optional amount (two empty cells for none).
    #[inline]
    pub fn amt_asset(self, a: Option<&Amount>) -> Self {
        match a {
            Some(a) => self.amt(a.amount).s(&a.asset),
            None => self.empty(2),
        }
    }

    /// The asset and amount cells of an optional amount (two empty cells for none).
    #[inline]
    pub fn asset_amt(self, a: Option<&Amount>) -> Self {
        match a {
            Some(a) => self.s(&a.asset).amt(a.amount),
            None => self.empty(2),
        }
    }

    /// Ends the record and hands it to the file's csv writer. (A width unlike the header's
    /// is an error of [`ExportWriter::write`], found from the span.)
    pub fn end(self) {
        let Row { recs, file } = self;
        let cells = recs.record.len();
        debug_assert_eq!(cells, recs.widths[file], "record width must match the header");
        let writer = &mut recs.writers[file];
        let start = writer.get_ref().len();
        // Flushing into the `Vec` makes the record's text visible (and countable) at once.
        let written = writer
            .write_byte_record(&recs.record)
            .and_then(|()| writer.flush().map_err(csv::Error::from));
        if let Err(e) = written {
            recs.error.get_or_insert(e);
        }
        recs.spans.push(Span {
            file,
            start,
            end: writer.get_ref().len(),
            cells,
        });
    }
}

/// What every format needs about one transaction, computed once per row instead of once
/// per format: the legs, the dates in each format's style, the descriptions.
pub(crate) struct Prep<'a> {
    pub tx: &'a Transaction,
    legs: Result<Vec<Leg<'a>>, Skip>,
    pub date: &'a Dates,
    /// `<kind> [<instrument>] <id>`: the free-text description most formats carry.
    pub describe: &'a str,
    /// `describe` followed by ` tx <hash>` when the row has an on-chain hash, for formats
    /// without a hash column.
    pub describe_with_hash: &'a str,
    /// The text of the row's amounts (as written: absolute) and price, for [`Records::texts`].
    pub texts: Texts,
}

impl Prep<'_> {
    /// The row's legs ([`legs`]), or why tax formats skip it.
    pub fn legs(&self) -> Result<&[Leg<'_>], Skip> {
        match &self.legs {
            Ok(l) => Ok(l),
            Err(s) => Err(*s),
        }
    }
}

/// Reused buffers behind [`Prep`].
#[derive(Default)]
pub(crate) struct Shared {
    date: Dates,
    describe: String,
    describe_with_hash: String,
}

impl Shared {
    pub fn prepare<'a>(&'a mut self, tx: &'a Transaction) -> Prep<'a> {
        self.date.set(tx.time);
        self.describe.clear();
        describe_into(tx, &mut self.describe);
        self.describe_with_hash.clear();
        self.describe_with_hash.push_str(&self.describe);
        if let Some(h) = &tx.tx_hash {
            self.describe_with_hash.push_str(" tx ");
            self.describe_with_hash.push_str(h);
        }
        let mut texts = Texts::default();
        for a in [&tx.sent, &tx.received, &tx.fee].into_iter().flatten() {
            texts.add(a.amount.abs());
        }
        if let Some(price) = tx.price {
            texts.add(price);
        }
        Prep {
            tx,
            legs: legs(tx),
            date: &self.date,
            describe: &self.describe,
            describe_with_hash: &self.describe_with_hash,
            texts,
        }
    }
}

/// A row time in every style the formats use (all UTC), formatted once per distinct time.
#[derive(Debug, Default)]
pub(crate) struct Dates {
    time: Option<DateTime<Utc>>,
    /// `2025-01-02T03:04:05.678Z` (RFC 3339, milliseconds).
    pub rfc3339_ms: String,
    /// `2025-01-02 03:04:05`.
    pub ymd_hms: String,
    /// `2025-01-02 03:04:05 UTC`.
    pub ymd_hms_utc: String,
    /// `01/02/2025 03:04:05`.
    pub mdy_hms: String,
    /// `2025-01-02 03:04:05.678+00:00`.
    pub ymd_hms_ms_offset: String,
}

impl Dates {
    pub fn set(&mut self, t: DateTime<Utc>) {
        if self.time == Some(t) {
            return;
        }
        self.time = Some(t);
        for s in [
            &mut self.rfc3339_ms,
            &mut self.ymd_hms,
            &mut self.ymd_hms_utc,
            &mut self.mdy_hms,
            &mut self.ymd_hms_ms_offset,
        ] {
            s.clear();
        }
        for (out, items) in [
            (&mut self.rfc3339_ms, &DATE_STYLES.rfc3339_ms),
            (&mut self.ymd_hms, &DATE_STYLES.ymd_hms),
            (&mut self.ymd_hms_utc, &DATE_STYLES.ymd_hms_utc),
            (&mut self.mdy_hms, &DATE_STYLES.mdy_hms),
            (&mut self.ymd_hms_ms_offset, &DATE_STYLES.ymd_hms_ms_offset),
        ] {
            write!(out, "{}", t.format_with_items(items.iter())).expect("writing to a String");
        }
    }
}

/// chrono format items of each [`Dates`] style, parsed once.
struct DateStyles {
    rfc3339_ms: Vec<Item<'static>>,
    ymd_hms: Vec<Item<'static>>,
    ymd_hms_utc: Vec<Item<'static>>,
    mdy_hms: Vec<Item<'static>>,
    ymd_hms_ms_offset: Vec<Item<'static>>,
}

static DATE_STYLES: LazyLock<DateStyles> = LazyLock::new(|| {
    let parse = |fmt: &'static str| {
        StrftimeItems::new(fmt)
            .parse_to_owned()
            .expect("a valid strftime pattern")
    };
    DateStyles {
        rfc3339_ms: parse("%Y-%m-%dT%H:%M:%S%.3fZ"),
        ymd_hms: parse("%Y-%m-%d %H:%M:%S"),
        ymd_hms_utc: parse("%Y-%m-%d %H:%M:%S UTC"),
        mdy_hms: parse("%m/%d/%Y %H:%M:%S"),
        ymd_hms_ms_offset: parse("%Y-%m-%d %H:%M:%S%.3f%:z"),
    }
});

/// Rules for combining consecutive rows into one before a format encodes them.
///
/// * `net_rebates`: a maker rebate (`rebate` row) that immediately follows the spot fill it
///   belongs to (same order, same second, paid in the coin received or sent) is netted into
///   that fill: it adds to the coin received, or reduces the coin sent. For tools with no
///   fee-refund type this states what happened (the fill paid a negative fee) instead of
///   calling the rebate income. The normalizer emits a fill's rebate right after the fill
///   (both come from the same bill), so one held row is enough.
/// * `merge_fills`: consecutive fills of one order in the same second with the same coins
///   (and fee coin) become one row whose amounts are the sums, for tools without an id
///   column, where two such fills would be indistinguishable rows.
///
/// The combined row keeps the first row's id and time.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Combine {
    pub net_rebates: bool,
    pub merge_fills: bool,
}

impl Combine {
    fn any(self) -> bool {
        self.net_rebates || self.merge_fills
    }

    /// Whether `tx` could absorb later rows (a two-sided spot trade with an order id).
    fn may_absorb_into(self, tx: &Transaction) -> bool {
        self.any()
            && tx.kind == Kind::Trade
            && tx.order_id.is_some()
            && !is_derivative(tx.instrument.as_deref())
            && tx.sent.as_ref().is_some_and(|a| !a.amount.is_zero())
            && tx.received.as_ref().is_some_and(|a| !a.amount.is_zero())
    }

    /// Folds `tx` into `held` when the rules allow; returns whether it did.
    fn absorb(self, held: &mut Transaction, tx: &Transaction) -> bool {
        let same_fill_group = held.order_id.is_some()
            && tx.order_id == held.order_id
            && tx.instrument == held.instrument
            && tx.time.timestamp() == held.time.timestamp()
            && tx.account == held.account;
        if !same_fill_group {
            return false;
        }
        let (Some(sent), Some(received)) = (held.sent.as_mut(), held.received.as_mut()) else {
            return false;
        };
        if self.net_rebates
            && tx.kind == Kind::Rebate
            && tx.sent.is_none()
            && tx.fee.is_none()
            && let Some(r) = &tx.received
        {
            if r.asset == received.asset {
                received.amount += r.amount;
                return true;
            }
            if r.asset == sent.asset && r.amount < sent.amount {
                sent.amount -= r.amount;
                return true;
            }
            return false;
        }
        if self.merge_fills
            && tx.kind == Kind::Trade
            && tx.side == held.side
            && let (Some(s), Some(r)) = (&tx.sent, &tx.received)
            && s.asset == sent.asset
            && r.asset == received.asset
        {
            match (&mut held.fee, &tx.fee) {
                (Some(hf), Some(f)) if hf.asset == f.asset => hf.amount += f.amount,
                (None, None) => {}
                _ => return false,
            }
            sent.amount += s.amount;
            received.amount += r.amount;
            // The merged price is no longer one fill's; the amounts say what it was.
            held.price = None;
            held.trade_id = None;
            return true;
        }
        false
    }
}

/// `*dst = src.clone()`, reusing `dst`'s string buffers (a held row is copied for every spot
/// trade). Destructures `src` so a new field cannot be forgotten.
fn copy_into(dst: &mut Transaction, src: &Transaction) {
    fn amount(dst: &mut Option<Amount>, src: &Option<Amount>) {
        match (dst.as_mut(), src) {
            (Some(d), Some(s)) => {
                d.amount = s.amount;
                d.asset.clone_from(&s.asset);
            }
            _ => dst.clone_from(src),
        }
    }
    let Transaction {
        id,
        time,
        account,
        kind,
        sent,
        received,
        fee,
        instrument,
        side,
        price,
        order_id,
        trade_id,
        tx_hash,
        address,
        chain,
        source,
        source_id,
        note,
    } = src;
    dst.id.clone_from(id);
    (dst.time, dst.account, dst.kind, dst.price) = (*time, *account, *kind, *price);
    amount(&mut dst.sent, sent);
    amount(&mut dst.received, received);
    amount(&mut dst.fee, fee);
    for (d, s) in [
        (&mut dst.instrument, instrument),
        (&mut dst.side, side),
        (&mut dst.order_id, order_id),
        (&mut dst.trade_id, trade_id),
        (&mut dst.tx_hash, tx_hash),
        (&mut dst.address, address),
        (&mut dst.chain, chain),
        (&mut dst.note, note),
    ] {
        d.clone_from(s);
    }
    dst.source.clone_from(source);
    dst.source_id.clone_from(source_id);
}

/// `main` with a fee in the same coin folded in: `main + fee` when `add`, `main − fee`
/// otherwise (`None` when that would not stay positive, or the fee is in another coin).
pub(crate) fn fold_fee(main: &Amount, fee: Option<&Amount>, add: bool) -> Option<Amount> {
    let f = fee.filter(|f| f.asset == main.asset)?;
    let amount = if add {
        main.amount + f.amount
    } else {
        main.amount - f.amount
    };
    (amount > Decimal::ZERO).then(|| Amount::new(amount, main.asset.clone()))
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
