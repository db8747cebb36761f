//! [`Format`]: the output formats, their names on the command line, which files each
//! writes, which [`Combine`] rules each uses, and the dispatch to each format's encoder.

use super::combine::Combine;
use super::dialect::{CsvFile, Records};
use super::legs::Encoded;
use super::prep::Prep;
use super::{ExportOptions, bittytax, coinledger, cointracker, cointracking, ctc, dali, generic, koinly};
use std::fmt;
use std::str::FromStr;

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

    /// [`Format::csv_files`] as `opts` shape them (a group's `transactions.csv` has a
    /// `profile` column).
    pub(crate) fn csv_files_for(self, opts: &super::ExportOptions) -> &'static [CsvFile] {
        match self {
            Format::Generic if opts.profile_column => generic::GROUP_FILES,
            _ => self.csv_files(),
        }
    }

    pub(crate) fn csv_files(self) -> &'static [CsvFile] {
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
    pub(crate) fn combine(self) -> Combine {
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
    pub(crate) fn encode(self, p: &Prep, opts: &ExportOptions, out: &mut Records) -> Encoded {
        match self {
            Format::Generic => {
                generic::encode(p, opts, out);
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
