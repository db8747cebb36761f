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
mod summary;

pub use accounts::{AccountLine, AccountStatus, AccountsCheck, AccountsContext};
use files::{merged_coverage, write_closing, write_coverage, write_group_reconciliation, write_reconciled};
pub use files::{reconcile_account, reconcile_only, write_reconciliation};
pub use period::Period;

use crate::coverage::{self, CoverageCheck};
use crate::error::Exit;
use crate::export::readback::files_checks;
use crate::export::{ExportOptions, ExportReport, ExportWriter, Format, TaxSummary, write_csv_atomic};
use crate::model::rfc3339_ms;
use crate::normalize::{AccountScope, NormalizeOptions, NormalizeSummary, normalize};
use crate::prices::file::MissingPrice;
use crate::prices::{Fiat, UsedPrice, Valuer};
use crate::reconcile::Reconciliation;
use crate::reconcile::closing::{Holding, holdings_series};
use crate::store::{Identity, RecordSource, Store};
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

/// The unreadable records of one account's `normalized`, each with the `--refetch` that
/// repairs it (in a group, the key and the fix name the profile).
fn unreadable_records(
    a: &ReportAccount,
    group: bool,
    normalized: &NormalizeSummary,
) -> Result<Vec<UnreadableRecord>> {
    normalized
        .unreadable
        .iter()
        .map(|u| {
            let stored_by = a.store.stream_of(u.kind, &u.key)?;
            let fix = crate::sync::refetch::repair_command(u.kind, stored_by.as_deref(), u.ts_ms);
            Ok(UnreadableRecord {
                kind: u.kind,
                key: if group {
                    format!("{}/{}", a.profile, u.key)
                } else {
                    u.key.clone()
                },
                time: DateTime::from_timestamp_millis(u.ts_ms).filter(|_| u.ts_ms > 0),
                error: u.error.clone(),
                fix: if group {
                    format!("{fix} with --profile {}", a.profile)
                } else {
                    fix
                },
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

/// Runs every step for `store` into `req.out`; every value comes from `valuer`.
pub fn run(store: &Store, req: &ReportRequest, valuer: &mut dyn Valuer) -> Result<ReportOutcome> {
    run_accounts(&[ReportAccount { profile: "", store }], false, req, valuer)
}

/// The scope of one account's rows: its identity, a master's sub-accounts, and the uids of
/// every account of the report.
fn scope_of(
    store: &Store,
    id: Option<&Identity>,
    members: &std::collections::BTreeSet<String>,
    (internal_moves, member_sub_bills): (
        std::collections::BTreeMap<String, String>,
        Vec<crate::normalize::SubBill>,
    ),
) -> Result<AccountScope> {
    let subs = store
        .sub_accounts()?
        .map(|l| {
            l.subs
                .into_iter()
                .filter_map(|s| Some((s.name, s.uid?)))
                .collect()
        })
        .unwrap_or_default();
    Ok(AccountScope {
        uid: id.map(|i| i.uid.clone()),
        main_uid: id.and_then(|i| i.main_uid.clone()),
        subs,
        members: members.clone(),
        internal_moves,
        member_sub_bills,
    })
}

/// Runs every step for `accounts` into `req.out` (`group`: a group report, whose files
/// carry each row's profile); every value comes from `valuer`.
pub fn run_accounts(
    accounts: &[ReportAccount],
    group: bool,
    req: &ReportRequest,
    valuer: &mut dyn Valuer,
) -> Result<ReportOutcome> {
    std::fs::create_dir_all(&req.out)
        .with_context(|| format!("cannot create output directory `{}`", req.out.display()))?;
    let mut steps = Steps::start();
    let generated_at = Utc::now();
    let Period { from, to, .. } = req.period;
    let ids: Vec<Option<Identity>> = accounts
        .iter()
        .map(|a| a.store.identity())
        .collect::<Result<_>>()?;
    // One account twice (two keys of it in the group) would put every row in twice.
    for (i, (a, id)) in accounts.iter().zip(&ids).enumerate() {
        let twin = accounts.iter().zip(&ids).skip(i + 1).find(|(_, other)| {
            other.is_some() && other.as_ref().map(|o| &o.uid) == id.as_ref().map(|x| &x.uid)
        });
        if let (Some((b, _)), Some(id)) = (twin, id) {
            return Err(crate::error::usage(format!(
                "profiles `{}` and `{}` hold keys of the same account (uid {}); a group lists each account once: remove one of them from the group",
                a.profile, b.profile, id.uid
            )));
        }
    }
    let covs: Vec<CoverageCheck> = accounts
        .iter()
        .map(|a| coverage::check(a.store, from, to))
        .collect::<Result<_>>()?;
    let cov = if group {
        merged_coverage(accounts, &covs)
    } else {
        covs[0].clone()
    };
    let checked: Vec<accounts::Member> = accounts
        .iter()
        .zip(&ids)
        .map(|(a, id)| accounts::Member {
            profile: a.profile,
            store: a.store,
            identity: id.as_ref(),
        })
        .collect();
    let acc = accounts::check(&checked, &req.accounts, from, to)?;
    let mut files = Vec::new();
    let coverage_path = write_coverage(accounts, group, &covs, &req.out)?;
    steps.lap("coverage");
    let member_outcomes = |recs: Vec<Option<Reconciliation>>| -> Result<Vec<MemberOutcome>> {
        if !group {
            return Ok(Vec::new());
        }
        accounts
            .iter()
            .zip(&ids)
            .zip(&covs)
            .zip(recs)
            .map(|(((a, id), c), rec)| {
                Ok(MemberOutcome {
                    profile: a.profile.to_string(),
                    identity: id.clone(),
                    coverage: c.clone(),
                    reconciliation: rec,
                    balances_as_of: a.store.latest_balances()?.iter().map(|b| b.as_of).max(),
                })
            })
            .collect()
    };
    // A period the stores do not cover, or a sub-account left out, gives no tax files
    // unless asked: they would be short without saying so.
    if (!cov.complete() || !acc.complete()) && !req.allow_incomplete {
        let mut outcome = ReportOutcome {
            period: req.period,
            out: req.out.clone(),
            generated_at,
            coverage: cov,
            written: None,
            files: vec![coverage_path],
            exit: Exit::Data,
            accounts: acc,
            members: member_outcomes(accounts.iter().map(|_| None).collect())?,
            steps,
        };
        outcome.files.push(summary::write(&outcome)?);
        outcome.files.push(html::write(&outcome)?);
        return Ok(outcome);
    }
    let uids: std::collections::BTreeSet<String> = ids.iter().flatten().map(|i| i.uid.clone()).collect();
    // A group's deposits and withdrawals between its members are internal too, and a
    // master's transfer bill no record names meets its member sub-account's bill.
    let (moves, sub_bills) = if group {
        let stores: Vec<(&str, &Store)> = accounts.iter().map(|a| (a.profile, a.store)).collect();
        (
            accounts::member_moves(&stores)?,
            accounts::member_sub_bills(&checked)?,
        )
    } else {
        (vec![std::collections::BTreeMap::new()], vec![Vec::new()])
    };
    let scopes: Vec<AccountScope> = accounts
        .iter()
        .zip(&ids)
        .zip(moves.into_iter().zip(sub_bills))
        .map(|((a, id), m)| scope_of(a.store, id.as_ref(), &uids, m))
        .collect::<Result<_>>()?;
    // Every holding the report needs (the period's start and end, the chart's days), in
    // one walk of each account's ledgers.
    let closing_at = req.period.closing_at(generated_at);
    let chart = match (from.or(cov.from), closing_at.or(cov.as_of)) {
        (Some(a), Some(b)) if a < b => Some(holdings::instants(a, b, req.period.tz)),
        _ => None,
    };
    let opening_at = to.and(from);
    let held = Held::read(
        accounts,
        opening_at
            .into_iter()
            .chain(closing_at)
            .chain(chart.iter().flat_map(|(_, ats)| ats.iter().copied())),
    )?;
    steps.lap("holdings at the period's ends and days");
    let opening = opening_at.map(|at| (at, held.all_at(at)));
    let rows = write_rows(accounts, group, &scopes, req, valuer, opening)?;
    steps.lap("rows: normalize, value, write every format");
    // Every file just written is read back as its tool reads it and must sum to the rows;
    // every account is reconciled. The read-back reads only the files and the
    // reconciliation only the stores: they run at once.
    let (file_checks, recs) = std::thread::scope(|scope| {
        let read_back = scope.spawn(|| files_checks(&req.out, &rows.exported, from, to));
        let recs = accounts
            .iter()
            .zip(&rows.per_account)
            .zip(&covs)
            .map(|((a, n), c)| reconcile_account(a.store, n, c))
            .collect::<Result<Vec<Reconciliation>>>();
        (read_back.join(), recs)
    });
    let file_checks =
        file_checks.map_err(|_| anyhow::anyhow!("the read-back of the written files panicked"))?;
    let recs = recs?;
    steps.lap("read-back of the written files, reconciliation");
    let (rec, member_recs, mut rec_files) = if group {
        let sides: Vec<accounts::Sides> = accounts
            .iter()
            .zip(&ids)
            .zip(&rows.per_account)
            .zip(&covs)
            .map(|(((a, id), n), c)| accounts::Sides {
                profile: a.profile,
                uid: id.as_ref().map(|i| i.uid.as_str()),
                sides: &n.sub_transfers,
                coverage: c,
            })
            .collect();
        let mut own = Reconciliation::default();
        own.cross.extend(file_checks);
        own.cross.extend(accounts::transfer_checks(&sides, from, to));
        let files = write_group_reconciliation(accounts, &recs, &own, &req.out)?;
        (own, recs.into_iter().map(Some).collect(), files)
    } else {
        let rec = recs.into_iter().next().context("a report has an account")?;
        let (rec, files) = write_reconciled(accounts[0].store, rec, file_checks, &req.out)?;
        (rec, vec![None], files)
    };
    steps.lap("reconciliation files");
    files.extend(rows.exported.paths().map(Path::to_path_buf));
    files.append(&mut rec_files);
    files.push(coverage_path);
    let mut tax = rows.tax;
    let closing = match closing_at {
        Some(at) => {
            let per_account: Vec<Vec<Holding>> = (0..accounts.len()).map(|i| held.at(i, at)).collect();
            let (holdings, p) = write_closing(accounts, group, &per_account, at, &req.out)?;
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
            let per_account = (0..accounts.len()).map(|i| ats.iter().map(|at| held.at(i, *at)).collect());
            Some(holdings::series_of(step, &ats, per_account, valuer)?)
        }
        None => None,
    };
    steps.lap("missing prices, holdings series");
    let unclassified_fail = rows.normalized.unclassified > 0 && !req.allow_unclassified;
    let mut unreadable = Vec::new();
    for (a, n) in accounts.iter().zip(&rows.per_account) {
        unreadable.extend(unreadable_records(a, group, n)?);
    }
    let changed_records = match write_changed_records(accounts, group, &req.out)? {
        Some((n, p)) => {
            files.push(p);
            n
        }
        None => 0,
    };
    let members_ok = member_recs.iter().flatten().all(Reconciliation::ok);
    let exit = if unclassified_fail || !rec.ok() || !members_ok || !unreadable.is_empty() {
        Exit::Data
    } else {
        Exit::Success
    };
    let mut balances_as_of = None;
    for a in accounts {
        let at = a.store.latest_balances()?.iter().map(|b| b.as_of).max();
        // A group's snapshot is as old as its oldest member's.
        balances_as_of = match (balances_as_of, at) {
            (Some(x), Some(y)) => Some(std::cmp::min(x, y)),
            (x, y) => x.or(y),
        };
    }
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
        balances_as_of,
        normalized: rows.normalized,
        exported: rows.exported,
        reconciliation: rec,
        unclassified_fail,
        prices,
        series,
        unreadable,
        changed_records,
    };
    let members = member_outcomes(member_recs)?;
    let mut outcome = ReportOutcome {
        period: req.period,
        out: req.out.clone(),
        generated_at,
        coverage: cov,
        written: Some(written),
        files,
        exit,
        accounts: acc,
        members,
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

/// Writes `changed_records.csv` when a store kept earlier versions of records OKX changed
/// or sent twice: both versions, side by side (a group's with a trailing `profile`
/// column). Returns how many and the path.
fn write_changed_records(
    accounts: &[ReportAccount],
    group: bool,
    out: &Path,
) -> Result<Option<(u64, PathBuf)>> {
    let mut rows = Vec::new();
    for a in accounts {
        for h in &a.store.history()? {
            let mut row = vec![
                h.kind.to_string(),
                h.key.clone(),
                h.reason.clone(),
                h.replaced_at.map(rfc3339_ms).unwrap_or_default(),
                h.stream.clone(),
                h.raw.clone(),
                a.store.raw_of(h.kind, &h.key)?.unwrap_or_default(),
            ];
            if group {
                row.push(a.profile.to_string());
            }
            rows.push(row);
        }
    }
    if rows.is_empty() {
        return Ok(None);
    }
    let mut header = vec![
        "kind",
        "key",
        "reason",
        "seen_at",
        "stream",
        "kept_version",
        "stored_version",
    ];
    if group {
        header.push("profile");
    }
    let p = out.join("changed_records.csv");
    let n = rows.len() as u64;
    write_csv_atomic(&p, &header, rows)?;
    Ok(Some((n, p)))
}

/// What writing the rows produced.
struct RowsWritten {
    /// The report's rows together (for one account: its own).
    normalized: NormalizeSummary,
    /// Each account's own.
    per_account: Vec<NormalizeSummary>,
    exported: ExportReport,
    tax: TaxSummary,
    opening: Option<(DateTime<Utc>, Vec<Holding>)>,
    valued: u64,
    unvalued: u64,
    pending: u64,
}

/// The holdings of each account at a report's instants, read in one walk of each
/// account's ledgers.
struct Held {
    ats: Vec<DateTime<Utc>>,
    /// Per account, per instant of `ats`.
    per_account: Vec<Vec<Vec<Holding>>>,
}

impl Held {
    fn read(accounts: &[ReportAccount], ats: impl Iterator<Item = DateTime<Utc>>) -> Result<Held> {
        let mut ats: Vec<DateTime<Utc>> = ats.collect();
        ats.sort_unstable();
        ats.dedup();
        let per_account = accounts
            .iter()
            .map(|a| holdings_series(a.store, &ats))
            .collect::<Result<_>>()?;
        Ok(Held { ats, per_account })
    }

    /// Account `i`'s holdings at `at` (one of the instants read).
    fn at(&self, i: usize, at: DateTime<Utc>) -> Vec<Holding> {
        match self.ats.binary_search(&at) {
            Ok(k) => self.per_account[i][k].clone(),
            Err(_) => Vec::new(),
        }
    }

    /// Every account's holdings at `at`, one after the other.
    fn all_at(&self, at: DateTime<Utc>) -> Vec<Holding> {
        (0..self.per_account.len()).flat_map(|i| self.at(i, at)).collect()
    }
}

/// Values every row of the period and writes it to every format. The valuer sees rows in
/// time order: the opening holdings (at the period's start) first, then the period's rows
/// (the closing holdings come after, in [`run_accounts`]). A group's rows come merged in
/// time order ([`merge`]), each id prefixed with its profile (`bot/fb-123`).
fn write_rows(
    accounts: &[ReportAccount],
    group: bool,
    scopes: &[AccountScope],
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
            profile_column: group,
            ..ExportOptions::default()
        },
    )?;
    let (mut valued, mut unvalued, mut pending) = (0u64, 0u64, 0u64);
    let mut tax = TaxSummary::with_detail(tz);
    if let Some((start, holdings)) = &opening {
        tax.add_holdings(holdings, *start, false, valuer)?;
    }
    let opts = |scope: &AccountScope, store: &Store| -> Result<NormalizeOptions> {
        let names = crate::normalize::codes::BillNames::new(&store.bill_types()?);
        Ok(NormalizeOptions {
            from,
            to,
            names: (!names.is_empty()).then(|| std::sync::Arc::new(names)),
            accounts: scope.clone(),
        })
    };
    let mut sink = |profile: &str, mut tx: crate::model::Transaction| {
        if group {
            tx.id = format!("{profile}/{}", tx.id);
        }
        let value = valuer.value(&tx)?;
        if value.value.is_some() {
            valued += 1;
        } else if value.is_pending() {
            pending += 1;
        } else {
            unvalued += 1;
        }
        tax.add(&tx, &value);
        writer.write_for(profile, &tx, &value)
    };
    let per_account = if let [one] = accounts {
        vec![normalize(one.store, &opts(&scopes[0], one.store)?, &mut |tx| {
            sink(one.profile, tx)
        })?]
    } else {
        let dirs: Vec<(PathBuf, NormalizeOptions)> = accounts
            .iter()
            .zip(scopes)
            .map(|(a, scope)| {
                let dir = a.store.path().parent().map(Path::to_path_buf).unwrap_or_default();
                Ok((dir, opts(scope, a.store)?))
            })
            .collect::<Result<_>>()?;
        merge::normalize_stores(&dirs, &mut |i, tx| sink(accounts[i].profile, tx))?
    };
    Ok(RowsWritten {
        normalized: combined(&per_account, accounts),
        per_account,
        exported: writer.finish()?,
        tax,
        opening,
        valued,
        unvalued,
        pending,
    })
}

/// Several accounts' normalization summaries as one (counts and sums added, lists joined;
/// each listed deposit, withdrawal or bill id prefixed with its profile, like the rows).
fn combined(parts: &[NormalizeSummary], accounts: &[ReportAccount]) -> NormalizeSummary {
    if let [one] = parts {
        return one.clone();
    }
    let mut out = NormalizeSummary::default();
    for (p, a) in parts.iter().zip(accounts) {
        let mut p = p.clone();
        for item in p
            .pending_deposits
            .iter_mut()
            .chain(&mut p.pending_withdrawals)
            .chain(&mut p.failed_or_canceled)
            .chain(&mut p.final_without_bill)
        {
            item.id = format!("{}/{}", a.profile, item.id);
        }
        for b in &mut p.bills_without_record {
            b.bill_id = format!("{}/{}", a.profile, b.bill_id);
        }
        let p = &p;
        for (k, v) in &p.rows_by_kind {
            *out.rows_by_kind.entry(*k).or_default() += v;
        }
        out.unclassified += p.unclassified;
        for (k, v) in &p.unclassified_codes {
            *out.unclassified_codes.entry(k.clone()).or_default() += v;
        }
        out.pending_deposits.extend(p.pending_deposits.iter().cloned());
        out.pending_withdrawals
            .extend(p.pending_withdrawals.iter().cloned());
        out.failed_or_canceled
            .extend(p.failed_or_canceled.iter().cloned());
        out.final_without_bill
            .extend(p.final_without_bill.iter().cloned());
        out.unmatched_enrichment += p.unmatched_enrichment;
        out.bills_without_record
            .extend(p.bills_without_record.iter().cloned());
        for (account, sums) in &p.row_sums {
            let to = out.row_sums.entry(*account).or_default();
            for (asset, v) in sums {
                *to.entry(asset.clone()).or_default() += v;
            }
        }
        out.decode_errors += p.decode_errors;
        out.sub_transfers.extend(p.sub_transfers.iter().cloned());
        out.unreadable.extend(p.unreadable.iter().cloned());
        for (k, v) in &p.unclassified_names {
            out.unclassified_names
                .entry(k.clone())
                .or_insert_with(|| v.clone());
        }
    }
    out
}
