//! [`ExportWriter`]: streams rows into every selected format's temp files and renames them
//! into place on [`ExportWriter::finish`]; [`write_csv_atomic`] / [`write_json_atomic`] for
//! the other reports; the [`FormatReport`] counts.

use super::combine::copy_into;
use super::dialect::Records;
use super::legs::Skip;
use super::prep::{Prep, Shared};
use super::{ExportOptions, Format, dali, values};
use crate::files::{persist, temp_in};
use crate::model::{Account, Transaction};
use crate::prices::RowValue;
use anyhow::{Context, Result, bail};
use rust_decimal::Decimal;
use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};
use tempfile::NamedTempFile;

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
    /// Per asset, the net balance change (received − sent − fee) of the rows left out above:
    /// what this format's files lack, by rule, against `transactions.csv`.
    pub dropped: BTreeMap<String, Decimal>,
    /// Per asset, how much the format's rounding changes the balance its tool derives from
    /// the rows written (rounded − exact; only CoinTracker rounds, to 8 decimals).
    pub rounding: BTreeMap<String, Decimal>,
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
    /// Per account and asset, the net balance change (received − sent − fee) of every row
    /// written, i.e. of `transactions.csv`; each tax file should hold this (summed over the
    /// accounts) minus its `dropped`.
    pub written: BTreeMap<Account, BTreeMap<String, Decimal>>,
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

    /// [`ExportReport::written`] summed over the accounts.
    pub fn written_by_asset(&self) -> BTreeMap<String, Decimal> {
        let mut out: BTreeMap<String, Decimal> = BTreeMap::new();
        for (asset, w) in self.written.values().flatten() {
            *out.entry(asset.clone()).or_default() += w;
        }
        out.values_mut().for_each(|w| *w = w.normalize());
        out
    }
}

/// Streams transactions into every selected format; see the module doc.
pub struct ExportWriter {
    opts: ExportOptions,
    outputs: Vec<Output>,
    /// What every format shares about the current row (dates, descriptions), reused.
    shared: Shared,
    /// [`ExportReport::written`], filled as rows come.
    written: HashMap<Account, HashMap<String, Decimal>>,
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
    /// The value of `held` (the merged value of the rows it holds); kept after release so
    /// its buffers are reused.
    held_value: Option<RowValue>,
    /// The last released held row, kept so the next one reuses its allocations.
    spare: Option<Transaction>,
    /// Buffers behind the [`Prep`] of `held` (the writer's own are busy with the current row).
    held_shared: Shared,
    /// Whether `held_shared` holds what was prepared for `held` when it came (it is then
    /// written without preparing it again); not once another row was merged into it.
    held_prepared: bool,
    /// [`FormatReport::dropped`], filled as rows are left out.
    dropped: HashMap<String, Decimal>,
    /// [`FormatReport::rounding`], filled as rows are written.
    rounding: HashMap<String, Decimal>,
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
        self.records.rounding.clear();
        self.records.texts = prep.texts;
        let skipped = match self.format.encode(prep, opts, &mut self.records) {
            Err(Skip::Transfer) => Some(&mut self.report.skipped_transfers),
            Err(Skip::Unclassified) => Some(&mut self.report.skipped_unclassified),
            Err(Skip::Other) => Some(&mut self.report.skipped_other),
            Ok(()) if self.records.spans.is_empty() => Some(&mut self.report.skipped_other),
            Ok(()) => None,
        };
        if let Some(count) = skipped {
            *count += rows;
            add_net_change(&mut self.dropped, prep.tx);
            return Ok(());
        }
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
        for (asset, r) in self.records.rounding.drain(..) {
            *self.rounding.entry(asset).or_default() += r;
        }
        self.report.exported += rows;
        self.report.records += self.records.spans.len() as u64;
        self.flush(FLUSH_BYTES)?;
        Ok(())
    }

    /// Writes the held row, if any.
    fn release(&mut self, opts: &ExportOptions) -> Result<()> {
        let Some(held) = self.held.take() else {
            return Ok(());
        };
        let rows = std::mem::take(&mut self.held_rows);
        let mut shared = std::mem::take(&mut self.held_shared);
        let Some(value) = self.held_value.take() else {
            bail!("internal error: held row `{}` has no value", held.id);
        };
        let result = {
            // Only formats without a profile column hold rows back.
            let prep = if std::mem::take(&mut self.held_prepared) && rows == 1 {
                shared.prepared(&held, &value, "")
            } else {
                shared.prepare(&held, &value, "")
            };
            self.emit(&prep, opts, rows)
        };
        self.held_value = Some(value);
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
            let mut records = Records::new(format.csv_files_for(&opts));
            for (i, spec) in format.csv_files_for(&opts).iter().enumerate() {
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
                file.write_all(dali::ini(&opts.fiat).as_bytes())
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
                    dropped: BTreeMap::new(),
                    rounding: BTreeMap::new(),
                },
                held: None,
                held_rows: 0,
                held_value: None,
                spare: None,
                held_shared: Shared::default(),
                held_prepared: false,
                dropped: HashMap::new(),
                rounding: HashMap::new(),
            });
        }
        Ok(ExportWriter {
            opts,
            outputs,
            shared: Shared::default(),
            written: HashMap::new(),
        })
    }

    /// Writes one transaction, with its fiat value (from the [`crate::prices::Valuer`]), to
    /// every format. Fails on a negative amount (the model says amounts are positive;
    /// writing one would silently flip its direction) and on a value in another fiat than
    /// the writer's ([`ExportOptions::fiat`]).
    ///
    /// Formats whose `Combine` rules merge rows hold back a spot trade until the next row
    /// shows whether it continues it (a maker rebate of the same fill, another fill of the
    /// same order in the same second); everything else is written at once. A merged row's
    /// value is the sum of its parts' values, missing if any part's is ([`values::merge`]).
    pub fn write(&mut self, tx: &Transaction, value: &RowValue) -> Result<()> {
        self.write_for("", tx, value)
    }

    /// [`ExportWriter::write`] for a row of `profile` (a group report's `profile` column).
    pub fn write_for(&mut self, profile: &str, tx: &Transaction, value: &RowValue) -> Result<()> {
        check_amounts(tx)?;
        if value.fiat != self.opts.fiat {
            bail!(
                "row `{}`: valued in {} but the export is in {} (the valuer and the export must use the same --fiat)",
                tx.id,
                value.fiat,
                self.opts.fiat
            );
        }
        if self.outputs.is_empty() {
            return Ok(());
        }
        add_net_change(self.written.entry(tx.account).or_default(), tx);
        self.shared.fill(tx);
        let prep = self.shared.prepared(tx, value, profile);
        for output in &mut self.outputs {
            let combine = output.format.combine();
            if !combine.any() {
                output.emit(&prep, &self.opts, 1)?;
                continue;
            }
            if let Some(held) = &mut output.held {
                if combine.absorb(held, tx) {
                    output.held_rows += 1;
                    output.held_prepared = false;
                    if let Some(v) = &mut output.held_value {
                        values::merge(v, value);
                    }
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
                output.held_shared.copy_from(&self.shared);
                output.held_prepared = true;
                match &mut output.held_value {
                    Some(v) => v.clone_from(value),
                    None => output.held_value = Some(value.clone()),
                }
            } else {
                output.emit(&prep, &self.opts, 1)?;
            }
        }
        Ok(())
    }

    /// Flushes and fsyncs every temp file, then renames each into place.
    pub fn finish(self) -> Result<ExportReport> {
        let (report, staged) = self.finish_staged()?;
        staged.sync()?.persist()?;
        Ok(report)
    }

    /// Writes out every file's text, complete, to its temp file, without waiting for the
    /// disk and without renaming anything into place: the files can be read back (from
    /// [`Staged::paths`]) while [`Staged::sync`] waits for the disk on another thread;
    /// [`Synced::persist`] then renames them into place.
    pub fn finish_staged(mut self) -> Result<(ExportReport, Staged)> {
        let mut ready: Vec<(PathBuf, NamedTempFile)> = Vec::new();
        let mut reports = Vec::new();
        for output in &mut self.outputs {
            output.release(&self.opts)?;
            output.flush(0)?;
        }
        for mut output in self.outputs {
            output.report.dropped = sorted(std::mem::take(&mut output.dropped));
            output.report.rounding = sorted(std::mem::take(&mut output.rounding));
            output.report.rounding.retain(|_, r| !r.is_zero());
            for csv in output.csvs {
                ready.push((csv.path, csv.file));
            }
            for extra in output.extra {
                ready.push((extra.path, extra.file));
            }
            reports.push(output.report);
        }
        let written = self
            .written
            .into_iter()
            .map(|(account, sums)| (account, sorted(sums)))
            .collect();
        Ok((
            ExportReport {
                formats: reports,
                written,
            },
            Staged { ready },
        ))
    }
}

/// An export's files, complete in their temp files, neither synced nor in place
/// ([`ExportWriter::finish_staged`]). Dropped, it deletes them.
pub struct Staged {
    /// (final path, temp file) of every file, in format order.
    ready: Vec<(PathBuf, NamedTempFile)>,
}

impl Staged {
    /// (final path, where the file is now) of every file.
    pub fn paths(&self) -> Vec<(PathBuf, PathBuf)> {
        self.ready
            .iter()
            .map(|(path, file)| (path.clone(), file.path().to_path_buf()))
            .collect()
    }

    /// Waits until every file is on disk.
    pub fn sync(self) -> Result<Synced> {
        for (path, file) in &self.ready {
            file.as_file()
                .sync_all()
                .with_context(|| format!("failed to sync `{}`", path.display()))?;
        }
        Ok(Synced { ready: self.ready })
    }
}

/// [`Staged`] files once on disk.
pub struct Synced {
    ready: Vec<(PathBuf, NamedTempFile)>,
}

impl Synced {
    /// Renames every file into place. All are complete on disk before the first rename, so
    /// a failure here can at worst leave a consistent older file in place, never a
    /// truncated one.
    pub fn persist(self) -> Result<()> {
        for (path, file) in self.ready {
            persist(file, &path)?;
        }
        Ok(())
    }
}

/// Adds `tx`'s net balance change per asset to `sums`: received +, sent and fee −. Looked
/// up by `&str`, so an asset already there costs no allocation.
fn add_net_change(sums: &mut HashMap<String, Decimal>, tx: &Transaction) {
    let amounts = [(&tx.received, false), (&tx.sent, true), (&tx.fee, true)];
    for (a, out) in amounts {
        let Some(a) = a else { continue };
        let change = if out { -a.amount } else { a.amount };
        if let Some(v) = sums.get_mut(a.asset.as_str()) {
            *v += change;
        } else {
            sums.insert(a.asset.clone(), change);
        }
    }
}

/// `sums` in asset order, each normalized.
fn sorted(sums: HashMap<String, Decimal>) -> BTreeMap<String, Decimal> {
    sums.into_iter().map(|(a, v)| (a, v.normalize())).collect()
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
