//! A report as one computation, in steps: check the period's coverage, value and write
//! every row, read the written files back, reconcile, take the closing holdings and the
//! tax summary. The result, [`ReportOutcome`], is what every rendering reads: the CSVs and
//! `summary.json` are written here; the console lines are printed by `commands::report`.
//! Nothing here prints.
//!
//! A report covers one account ([`run`]) or a group of them ([`run_accounts`], issue 18):
//! the same steps, with the group's rows merged in time order ([`merge`]) into ONE set of
//! files (`transactions.csv` gains a `profile` column and each row id its profile, so the
//! two sides of a transfer between members never share an id), coverage and
//! reconciliation per member, plus what only a group has: the check that every internal
//! transfer has both sides. Whether a master's sub-accounts are all in the report is
//! checked for one account too ([`accounts`]).

pub mod accounts;
mod files;
pub mod holdings;
pub mod html;
mod merge;
pub mod period;
mod rows;
mod run;
mod summary;

pub use accounts::{AccountLine, AccountStatus, AccountsCheck, AccountsContext};
pub use files::{reconcile_account, reconcile_only, write_reconciliation};
pub use period::Period;
pub use run::{run, run_accounts};

use crate::coverage::CoverageCheck;
use crate::error::Exit;
use crate::export::{ExportReport, Format, TaxSummary};
use crate::normalize::NormalizeSummary;
use crate::prices::file::MissingPrice;
use crate::prices::{Fiat, UsedPrice};
use crate::reconcile::Reconciliation;
use crate::reconcile::closing::Holding;
use crate::store::{Identity, Store};
use chrono::{DateTime, Utc};
use holdings::HoldingsSeries;
use std::path::PathBuf;

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
    /// The group (if any) and the other configured profiles, for completeness across
    /// accounts.
    pub accounts: AccountsContext,
}

/// One account of a report: its profile and its store.
pub struct ReportAccount<'a> {
    pub profile: &'a str,
    pub store: &'a Store,
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
    /// The accounts behind the report and the sub-accounts of a master it leaves out
    /// (a missing one makes the report incomplete, like a missing range).
    pub accounts: AccountsCheck,
    /// How long each step took (`cargo bench --bench report` prints them; `-v` logs them).
    pub steps: Steps,
    /// A group report's members, each with its own coverage and reconciliation (then
    /// `coverage` is all of them, stream names prefixed `profile/`, and
    /// `written.reconciliation` holds the group's own checks: the files read back and the
    /// internal transfers); empty for a one-profile report.
    pub members: Vec<MemberOutcome>,
}

/// The time each step of a report took, in order.
#[derive(Debug, Clone)]
pub struct Steps {
    pub took: Vec<(&'static str, std::time::Duration)>,
    /// Work done on another thread while the steps of `took` ran, and how long it took
    /// (not part of their sum).
    pub alongside: Vec<(&'static str, std::time::Duration)>,
    last: std::time::Instant,
}

impl Steps {
    fn start() -> Steps {
        Steps {
            took: Vec::new(),
            alongside: Vec::new(),
            last: std::time::Instant::now(),
        }
    }

    /// `name` ran on another thread for `took`.
    fn alongside(&mut self, name: &'static str, took: std::time::Duration) {
        self.alongside.push((name, took));
    }

    /// The step `name` ended now.
    fn lap(&mut self, name: &'static str) {
        let now = std::time::Instant::now();
        self.took.push((name, now - self.last));
        self.last = now;
    }
}

/// One member of a group report.
#[derive(Debug)]
pub struct MemberOutcome {
    pub profile: String,
    pub identity: Option<Identity>,
    pub coverage: CoverageCheck,
    /// Its balance chains, snapshot match and cross-ledger checks (`None` when no tax file
    /// was written).
    pub reconciliation: Option<Reconciliation>,
    pub balances_as_of: Option<DateTime<Utc>>,
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
    /// The stores cover the period and no sub-account is missing.
    pub fn complete(&self) -> bool {
        self.coverage.complete() && self.accounts.complete()
    }

    /// Every reconciliation of the report with the profile it belongs to: each member's (a
    /// group) and then the report's own (profile `""`: a single account's checks, or a
    /// group's own: the files read back and the internal transfers).
    pub fn reconciliations(&self) -> Vec<(&str, &Reconciliation)> {
        let mut out: Vec<(&str, &Reconciliation)> = self
            .members
            .iter()
            .filter_map(|m| m.reconciliation.as_ref().map(|r| (m.profile.as_str(), r)))
            .collect();
        if let Some(w) = &self.written {
            out.push(("", &w.reconciliation));
        }
        out
    }

    /// Every reconciliation passed: the report's own and each member's.
    pub fn reconciled(&self) -> bool {
        self.written.as_ref().is_some_and(|w| w.reconciliation.ok())
            && self
                .members
                .iter()
                .all(|m| m.reconciliation.as_ref().is_none_or(Reconciliation::ok))
    }
}
