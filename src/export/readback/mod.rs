//! Our tax files read back the way each tool reads them (issue 8, item 4).
//!
//! After every export, `report` reads each tax file from disk with the reader of its tool
//! (`tools.rs`): which column a fee is taken from (deducted, informational, or already
//! inside an amount) and which types are income, derivatives results, fee refunds or plain
//! movements. The per-asset balance the tool derives is then compared with
//! `transactions.csv` minus the rows that format drops by rule ([`check`]).
//!
//! The readers never call the writers' code: they only know the tools' rules, written out
//! next to each reader with its source, and they find columns by header name as the tools
//! do. A type a reader does not know, a missing column or a cell that is not a plain decimal
//! is an error naming the file and line: the check then fails rather than guessing.
//!
//! The same readers are the oracle of the format proofs in `export/proof/`.

mod check;
mod tools;

pub use check::files_checks;

use super::Format;
use anyhow::{Context, Result, bail};
use rust_decimal::Decimal;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

/// Where the files to read back are: in `dir`, under the names they are written as; a file
/// not yet renamed into place is read from where it is now (its temp file), and named in
/// messages by its final path.
#[derive(Debug, Clone, Copy)]
pub struct Files<'a> {
    dir: &'a Path,
    /// (final path, path now) of the files not yet in place.
    staged: &'a [(PathBuf, PathBuf)],
}

impl<'a> Files<'a> {
    /// The files in place in `dir`.
    pub fn in_dir(dir: &'a Path) -> Files<'a> {
        Files { dir, staged: &[] }
    }

    /// The files of `dir`, those in `staged` still at their temp paths
    /// ([`crate::export::Staged::paths`]).
    pub fn staged(dir: &'a Path, staged: &'a [(PathBuf, PathBuf)]) -> Files<'a> {
        Files { dir, staged }
    }

    /// Where the file of final path `path` is now.
    fn now<'p>(&'p self, path: &'p Path) -> &'p Path {
        self.staged
            .iter()
            .find(|(end, _)| end == path)
            .map_or(path, |(_, now)| now.as_path())
    }

    /// The bytes of the files of final paths `paths` (0 for one that cannot be read).
    fn bytes(&self, paths: &[PathBuf]) -> u64 {
        paths
            .iter()
            .filter_map(|p| self.now(p).metadata().ok())
            .map(|m| m.len())
            .sum()
    }

    /// Opens the file named `name`.
    fn open(&self, name: &str) -> Result<Table> {
        let path = self.dir.join(name);
        Table::open(self.now(&path), &path)
    }
}

/// What a row (or its fee cell) means to the tool.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Class {
    /// Part of a trade, a deposit/withdrawal, or a plain acquisition/disposal.
    Movement,
    /// Taxed as income when received.
    Income,
    /// Derivatives result: profit (in) or loss/fee (out).
    DerivIn,
    DerivOut,
    /// An expense / cost that is not a derivatives result.
    Expense,
    /// A received fee refund or other untaxed acquisition.
    Refund,
}

const CLASSES: usize = 6;

/// Per asset: the balance effects a tool reads from a file, by [`Class`].
#[derive(Debug, Default)]
pub struct Reading {
    /// Per asset and class: Σ of the positive effects, then Σ of the negative ones.
    sums: HashMap<String, [[Decimal; 2]; CLASSES]>,
    /// The id each data row carries (where the tool has an id column); kept only when asked.
    pub ids: Vec<String>,
    /// Whole rows, for tools without an id column; kept only when asked.
    pub rows: Vec<String>,
    keep_rows: bool,
}

pub type Balances = BTreeMap<String, Decimal>;

impl Reading {
    /// A reading that also keeps every row's id (or whole row), for duplicate checks.
    pub fn keeping_rows() -> Reading {
        Reading {
            keep_rows: true,
            ..Reading::default()
        }
    }

    fn add(&mut self, class: Class, asset: &str, amount: Decimal) {
        if amount.is_zero() {
            return;
        }
        let side = usize::from(amount.is_sign_negative());
        if let Some(s) = self.sums.get_mut(asset) {
            s[class as usize][side] += amount;
        } else {
            let mut s = [[Decimal::ZERO; 2]; CLASSES];
            s[class as usize][side] = amount;
            self.sums.insert(asset.to_string(), s);
        }
    }

    fn id(&mut self, id: &str) {
        if self.keep_rows {
            self.ids.push(id.to_string());
        }
    }

    /// [`Reading::id`] for an id that has to be made: made only when rows are kept.
    fn id_with(&mut self, id: impl FnOnce() -> String) {
        if self.keep_rows {
            self.ids.push(id());
        }
    }

    fn row(&mut self, record: &csv::StringRecord) {
        if self.keep_rows {
            self.rows.push(record.iter().collect::<Vec<_>>().join(","));
        }
    }

    /// Adds what `other` read after what this one read (the parts of one format's files).
    pub fn merge(&mut self, other: Reading) {
        for (asset, sums) in other.sums {
            match self.sums.get_mut(&asset) {
                Some(mine) => {
                    for (m, o) in mine.iter_mut().flatten().zip(sums.iter().flatten()) {
                        *m += o;
                    }
                }
                None => {
                    self.sums.insert(asset, sums);
                }
            }
        }
        self.ids.extend(other.ids);
        self.rows.extend(other.rows);
    }

    /// The balance the tool derives, per asset (zero balances left out).
    pub fn balances(&self) -> Balances {
        self.collect(|s| s.iter().map(|[p, n]| p + n).sum())
    }

    /// Σ of the effects of `class`, per asset, as positive numbers.
    pub fn total(&self, class: Class) -> Balances {
        self.collect(|s| {
            let [p, n] = s[class as usize];
            p - n
        })
    }

    fn collect(&self, f: impl Fn(&[[Decimal; 2]; CLASSES]) -> Decimal) -> Balances {
        self.sums
            .iter()
            .map(|(a, s)| (a.clone(), f(s).normalize()))
            .filter(|(_, v)| !v.is_zero())
            .collect()
    }
}

/// How Koinly treats a fee in the coin sent or received (see [`tools::koinly`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KoinlyFees {
    /// As documented: the fee is deducted.
    Deducted,
    /// As reported in staketaxcsv#385: a same-coin fee is ignored.
    SameCoinIgnored,
}

/// Reads the tax file(s) of `format` among `files` as its tool does. `transactions.csv` is not a
/// tax file: see [`read_transactions`].
pub fn read_format(format: Format, files: Files<'_>, fees: KoinlyFees, into: &mut Reading) -> Result<()> {
    (0..parts(format)).try_for_each(|part| read_part(format, part, files, fees, into))
}

/// How many parts [`read_part`] reads `format` in: one per CSV file (DaLI's IN, OUT and
/// INTRA files can be read at once, each into its own [`Reading`], then [`Reading::merge`]d).
pub fn parts(format: Format) -> usize {
    match format {
        Format::Dali => 3,
        _ => 1,
    }
}

/// Part `part` of [`read_format`]: the format's `part`-th CSV file, in its file order.
pub fn read_part(
    format: Format,
    part: usize,
    files: Files<'_>,
    fees: KoinlyFees,
    into: &mut Reading,
) -> Result<()> {
    match (format, part) {
        (Format::Generic, _) => bail!("transactions.csv is read with read_transactions"),
        (_, p) if p >= parts(format) => bail!("internal error: {} has no part {p}", format.name()),
        (Format::Koinly, _) => tools::koinly(files.open("koinly.csv")?, fees, into),
        (Format::CoinTracking, _) => tools::cointracking(files.open("cointracking.csv")?, into),
        (Format::Ctc, _) => tools::ctc(files.open("ctc.csv")?, into),
        (Format::BittyTax, _) => tools::bittytax(files.open("bittytax.csv")?, into),
        (Format::CoinTracker, _) => tools::cointracker(files.open("cointracker.csv")?, into),
        (Format::CoinLedger, _) => tools::coinledger(files.open("coinledger.csv")?, into),
        (Format::Dali, 0) => tools::dali_in(files, into),
        (Format::Dali, 1) => tools::dali_out(files, into),
        (Format::Dali, _) => tools::dali_intra(files, into),
    }
}

/// Per (account, asset): Σ received − Σ sent − Σ fee over every row of `transactions.csv`.
pub fn read_transactions(files: Files<'_>) -> Result<BTreeMap<(String, String), Decimal>> {
    let mut file = files.open("transactions.csv")?;
    let [account, sa, sc, ra, rc, fa, fc] = file.columns([
        "account",
        "sent_amount",
        "sent_asset",
        "received_amount",
        "received_asset",
        "fee_amount",
        "fee_asset",
    ])?;
    // Per account, per asset (looked up by the cells' text: no key is copied per row).
    let mut sums: HashMap<String, HashMap<String, Decimal>> = HashMap::new();
    while file.next()? {
        let row = &file.row;
        let acc = &row[account];
        let per_asset = match sums.get_mut(acc) {
            Some(m) => m,
            None => sums.entry(acc.to_string()).or_default(),
        };
        let mut add = |asset: &str, amount: Decimal| {
            if !asset.is_empty() && !amount.is_zero() {
                match per_asset.get_mut(asset) {
                    Some(sum) => *sum += amount,
                    None => {
                        per_asset.insert(asset.to_string(), amount);
                    }
                }
            }
        };
        add(&row[rc], file.num(&row[ra])?);
        add(&row[sc], -file.num(&row[sa])?);
        add(&row[fc], -file.num(&row[fa])?);
    }
    Ok(sums
        .into_iter()
        .flat_map(|(acc, m)| {
            m.into_iter()
                .map(move |(asset, v)| ((acc.clone(), asset), v.normalize()))
        })
        .collect())
}

/// The read buffer of a [`Table`].
const READ_BUFFER: usize = 256 * 1024;

/// One CSV file being read: columns found by header name, errors naming file and line.
struct Table {
    name: String,
    reader: csv::Reader<std::fs::File>,
    headers: csv::StringRecord,
    /// The record last read by [`Table::next`].
    row: csv::StringRecord,
}

impl Table {
    /// Reads `now`, named in messages by `path` (its final path).
    fn open(now: &Path, path: &Path) -> Result<Table> {
        let name = path.file_name().map_or_else(
            || path.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
        // A large buffer: the files are read whole, in a few hundred reads instead of one
        // per 8 KiB.
        let mut reader = csv::ReaderBuilder::new()
            .buffer_capacity(READ_BUFFER)
            .from_path(now)
            .with_context(|| format!("cannot read `{}`", path.display()))?;
        let headers = reader
            .headers()
            .with_context(|| format!("cannot read the header of `{name}`"))?
            .clone();
        Ok(Table {
            name,
            reader,
            headers,
            row: csv::StringRecord::new(),
        })
    }

    /// The index of each named column.
    fn columns<const N: usize>(&self, names: [&str; N]) -> Result<[usize; N]> {
        let mut out = [0; N];
        for (slot, name) in out.iter_mut().zip(names) {
            *slot = self
                .headers
                .iter()
                .position(|h| h == name)
                .with_context(|| format!("{} has no column `{name}`", self.name))?;
        }
        Ok(out)
    }

    /// Reads the next data record into `row`; false at the end of the file.
    fn next(&mut self) -> Result<bool> {
        self.reader
            .read_record(&mut self.row)
            .with_context(|| format!("cannot read `{}`", self.name))
    }

    /// The line of the record in `row`.
    fn line(&self) -> u64 {
        self.row.position().map_or(0, csv::Position::line)
    }

    /// A quantity cell: empty is zero; anything but a plain decimal is an error.
    fn num(&self, s: &str) -> Result<Decimal> {
        if s.is_empty() {
            return Ok(Decimal::ZERO);
        }
        Decimal::from_str_exact(s)
            .with_context(|| format!("{} line {}: `{s}` is not a plain decimal", self.name, self.line()))
    }

    fn unknown(&self, what: &str, value: &str) -> anyhow::Error {
        anyhow::anyhow!(
            "{} line {}: {what} `{value}` is not one the tool's reader knows",
            self.name,
            self.line()
        )
    }
}
