//! A report, step by step ([`run_accounts`]): the accounts and what their stores cover,
//! the holdings it needs, the rows valued and written in every format, the files read
//! back and the accounts reconciled, the closing holdings and tax summary, the prices,
//! and the outcome with `summary.json` and `report.html`.

use super::files::{
    merged_coverage, with_row_checks, write_closing, write_coverage, write_group_reconciliation,
    write_reconciled,
};
use super::rows::{RowsWritten, write_rows};
use super::{
    AccountsCheck, MemberOutcome, Period, PriceLog, ReportAccount, ReportOutcome, ReportRequest, Steps,
    UnreadableRecord, ValueCounts, Written, accounts, holdings, html, summary,
};
use crate::coverage::{self, CoverageCheck};
use crate::error::Exit;
use crate::export::readback::{Files, files_checks};
use crate::export::{TaxSummary, write_csv_atomic};
use crate::model::rfc3339_ms;
use crate::normalize::{AccountScope, NormalizeSummary};
use crate::prices::Valuer;
use crate::reconcile::Reconciliation;
use crate::reconcile::closing::{Holding, HoldingsWalk, holdings_series};
use crate::store::{Identity, RecordSource, Store};
use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use std::path::{Path, PathBuf};
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
/// carry each row's profile); every value comes from `valuer`. The steps, in order: the
/// accounts and what the stores cover; the holdings the report needs; the rows, valued
/// and written in every format; every written file read back and every account
/// reconciled; the closing holdings and the tax summary; the prices used and missing;
/// the outcome, `summary.json` and `report.html`.
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
    let known = Known::read(accounts, group, req)?;
    let coverage_path = write_coverage(accounts, group, &known.covs, &req.out)?;
    steps.lap("coverage");
    // A period the stores do not cover, or a sub-account left out, gives no tax files
    // unless asked: they would be short without saying so.
    if (!known.cov.complete() || !known.acc.complete()) && !req.allow_incomplete {
        let members = known.member_outcomes(accounts.iter().map(|_| None).collect())?;
        let mut outcome = ReportOutcome {
            period: req.period,
            out: req.out.clone(),
            generated_at,
            coverage: known.cov,
            written: None,
            files: vec![coverage_path],
            exit: Exit::Data,
            accounts: known.acc,
            members,
            steps,
        };
        outcome.files.push(summary::write(&outcome)?);
        outcome.files.push(html::write(&outcome)?);
        return Ok(outcome);
    }
    let scopes = known.scopes()?;
    let at = Instants::of(req, &known.cov, generated_at);
    // The ledgers' balance chains and the holdings at the report's instants need only the
    // stores: they are worked out in one walk of each ledger, on a thread (and a connection)
    // of their own, while this one writes the rows. The rows need the opening holdings
    // first: those come from the bills before the period only.
    let ledgers_to_check = LedgerJob::of(accounts, &known.covs, at.all());
    let (held, mut rows, ledgers) = std::thread::scope(|scope| -> Result<_> {
        let ledgers = scope.spawn(move || ledgers_to_check.run());
        let opening = match at.opening {
            Some(t) => Some((t, Held::read(accounts, std::iter::once(t))?.all_at(t))),
            None => None,
        };
        steps.lap("opening holdings (the bills before the period)");
        let rows = write_rows(accounts, group, &scopes, req, valuer, opening)?;
        steps.lap("rows: normalize, value, write every format");
        let ledgers = ledgers
            .join()
            .map_err(|_| anyhow::anyhow!("the reconciliation of the ledgers panicked"))??;
        steps.lap("reconciliation and holdings: the ledgers, after the rows");
        Ok((ledgers.held, rows, (ledgers.recs, ledgers.took)))
    })?;
    steps.alongside(
        "reconciliation and holdings: the ledgers, alongside the rows",
        ledgers.1,
    );
    let (file_checks, recs) = read_back_and_reconcile(req, &mut rows, ledgers.0, &known.covs)?;
    steps.lap("read-back of the written files, reconciliation");
    let (rec, member_recs, rec_files) = known.reconciliation_files(&rows, file_checks, recs)?;
    steps.lap("reconciliation files");
    let mut files: Vec<PathBuf> = rows.exported.paths().map(Path::to_path_buf).collect();
    files.extend(rec_files);
    files.push(coverage_path);
    let mut tax = rows.tax;
    let closing = match at.closing {
        Some(t) => {
            let (holdings, written) = close_period(accounts, group, &held, t, &mut tax, req, valuer)?;
            files.extend(written);
            Some((t, holdings))
        }
        None => None,
    };
    steps.lap("closing holdings, tax summary");
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
    let series = match &at.chart {
        Some((step, ats)) => {
            let per_account = (0..accounts.len()).map(|i| ats.iter().map(|t| held.at(i, *t)).collect());
            Some(holdings::series_of(*step, ats, per_account, valuer)?)
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
    let written = Written {
        values: ValueCounts {
            fiat: valuer.fiat().clone(),
            valued: rows.valued,
            missing: rows.unvalued,
            pending: rows.pending,
            holdings_missing: holdings_missing(&tax),
            missing_file,
        },
        tax: closing.is_some().then_some(tax),
        opening: rows.opening,
        closing,
        balances_as_of: balances_as_of(accounts)?,
        normalized: rows.normalized,
        exported: rows.exported,
        reconciliation: rec,
        unclassified_fail,
        prices,
        series,
        unreadable,
        changed_records,
    };
    let members = known.member_outcomes(member_recs)?;
    let mut outcome = ReportOutcome {
        period: req.period,
        out: req.out.clone(),
        generated_at,
        coverage: known.cov,
        written: Some(written),
        files,
        exit,
        accounts: known.acc,
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
    for (name, took) in &outcome.steps.alongside {
        tracing::debug!("report step {name} (on another thread): {took:.2?}");
    }
    Ok(outcome)
}

/// What a report knows of its accounts before it writes anything: who they are, what
/// their stores cover, and the accounts check (sub-accounts left out).
struct Known<'a> {
    accounts: &'a [ReportAccount<'a>],
    group: bool,
    req: &'a ReportRequest,
    ids: Vec<Option<Identity>>,
    covs: Vec<CoverageCheck>,
    /// The report's coverage: the one account's, or the group's merged.
    cov: CoverageCheck,
    acc: AccountsCheck,
}

impl<'a> Known<'a> {
    fn read(accounts: &'a [ReportAccount<'a>], group: bool, req: &'a ReportRequest) -> Result<Known<'a>> {
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
        let mut known = Known {
            accounts,
            group,
            req,
            ids,
            covs,
            cov,
            acc: AccountsCheck::default(),
        };
        known.acc = accounts::check(&known.members(), &req.accounts, from, to)?;
        Ok(known)
    }

    fn members(&self) -> Vec<accounts::Member<'_>> {
        self.accounts
            .iter()
            .zip(&self.ids)
            .map(|(a, id)| accounts::Member {
                profile: a.profile,
                store: a.store,
                identity: id.as_ref(),
            })
            .collect()
    }

    /// Each account's scope of rows. A group's deposits and withdrawals between its
    /// members are internal too, and a master's transfer bill no record names meets its
    /// member sub-account's bill.
    fn scopes(&self) -> Result<Vec<AccountScope>> {
        let uids: std::collections::BTreeSet<String> =
            self.ids.iter().flatten().map(|i| i.uid.clone()).collect();
        let (moves, sub_bills) = if self.group {
            let stores: Vec<(&str, &Store)> = self.accounts.iter().map(|a| (a.profile, a.store)).collect();
            (
                accounts::member_moves(&stores)?,
                accounts::member_sub_bills(&self.members())?,
            )
        } else {
            (vec![std::collections::BTreeMap::new()], vec![Vec::new()])
        };
        self.accounts
            .iter()
            .zip(&self.ids)
            .zip(moves.into_iter().zip(sub_bills))
            .map(|((a, id), m)| scope_of(a.store, id.as_ref(), &uids, m))
            .collect()
    }

    /// The reconciliation files: a group's own checks (files read back, internal
    /// transfers) beside each member's, or the one account's. Returns the report's
    /// reconciliation, each member's and the files written.
    fn reconciliation_files(
        &self,
        rows: &RowsWritten,
        file_checks: Vec<crate::reconcile::CheckRow>,
        recs: Vec<Reconciliation>,
    ) -> Result<(Reconciliation, Vec<Option<Reconciliation>>, Vec<PathBuf>)> {
        let Period { from, to, .. } = self.req.period;
        if !self.group {
            let rec = recs.into_iter().next().context("a report has an account")?;
            let (rec, files) = write_reconciled(self.accounts[0].store, rec, file_checks, &self.req.out)?;
            return Ok((rec, vec![None], files));
        }
        let sides: Vec<accounts::Sides> = self
            .accounts
            .iter()
            .zip(&self.ids)
            .zip(&rows.per_account)
            .zip(&self.covs)
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
        let files = write_group_reconciliation(self.accounts, &recs, &own, &self.req.out)?;
        Ok((own, recs.into_iter().map(Some).collect(), files))
    }

    /// Each member's outcome in a group report (none for one account's).
    fn member_outcomes(&self, recs: Vec<Option<Reconciliation>>) -> Result<Vec<MemberOutcome>> {
        if !self.group {
            return Ok(Vec::new());
        }
        self.accounts
            .iter()
            .zip(&self.ids)
            .zip(&self.covs)
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
    }
}

/// The instants whose holdings the report needs: the period's start (when it has an
/// end), its end, and the chart's days.
struct Instants {
    opening: Option<DateTime<Utc>>,
    closing: Option<DateTime<Utc>>,
    /// Days between instants, and the instants.
    chart: Option<(u64, Vec<DateTime<Utc>>)>,
}

impl Instants {
    fn of(req: &ReportRequest, cov: &CoverageCheck, generated_at: DateTime<Utc>) -> Instants {
        let Period { from, to, .. } = req.period;
        let closing = req.period.closing_at(generated_at);
        let chart = match (from.or(cov.from), closing.or(cov.as_of)) {
            (Some(a), Some(b)) if a < b => Some(holdings::instants(a, b, req.period.tz)),
            _ => None,
        };
        Instants {
            opening: to.and(from),
            closing,
            chart,
        }
    }

    /// Every instant, for one walk of each account's ledgers.
    fn all(&self) -> impl Iterator<Item = DateTime<Utc>> + '_ {
        self.opening
            .into_iter()
            .chain(self.closing)
            .chain(self.chart.iter().flat_map(|(_, ats)| ats.iter().copied()))
    }
}

/// What the ledgers' walk needs of each account: its store's directory (the thread opens
/// a connection of its own) and the ranges its ledgers cover; and the instants whose
/// holdings are worked out in the same walk.
struct LedgerJob {
    accounts: Vec<(PathBuf, crate::reconcile::LedgerRanges)>,
    ats: Vec<DateTime<Utc>>,
}

/// What [`LedgerJob::run`] found.
struct Ledgers {
    /// Each account's reconciliation of its ledgers.
    recs: Vec<Reconciliation>,
    held: Held,
    took: std::time::Duration,
}

impl LedgerJob {
    fn of(
        accounts: &[ReportAccount],
        covs: &[CoverageCheck],
        ats: impl Iterator<Item = DateTime<Utc>>,
    ) -> LedgerJob {
        LedgerJob {
            accounts: accounts
                .iter()
                .zip(covs)
                .map(|(a, c)| {
                    let dir = a.store.path().parent().map(Path::to_path_buf).unwrap_or_default();
                    (dir, c.ledger_ranges())
                })
                .collect(),
            ats: Held::instants(ats),
        }
    }

    /// Every account's balance chains, snapshot match and transfer checks
    /// ([`crate::reconcile::reconcile`]) and its holdings at the instants, in one walk of
    /// each ledger; and how long they took.
    fn run(self) -> Result<Ledgers> {
        let started = std::time::Instant::now();
        let mut recs = Vec::new();
        let mut per_account = Vec::new();
        for (dir, ranges) in &self.accounts {
            let store = Store::open(dir)?;
            let mut walk = HoldingsWalk::new(&self.ats);
            recs.push(crate::reconcile::reconcile_walking(
                &store,
                ranges,
                &mut |kind, r, known| walk.push(kind, r, known),
            )?);
            per_account.push(walk.finish());
        }
        Ok(Ledgers {
            recs,
            held: Held {
                ats: self.ats,
                per_account,
            },
            took: started.elapsed(),
        })
    }
}

/// Every file just written is read back as its tool reads it and must sum to the rows; each
/// account's reconciliation of its ledgers (`ledgers`) gains the checks against its rows.
///
/// The files are read back from their temp files while another thread waits for the disk
/// to hold them, then renamed into place (a file that fails its check is still put in
/// place: the run's exit code and the reconciliation say not to import it).
fn read_back_and_reconcile(
    req: &ReportRequest,
    rows: &mut RowsWritten,
    ledgers: Vec<Reconciliation>,
    covs: &[CoverageCheck],
) -> Result<(Vec<crate::reconcile::CheckRow>, Vec<Reconciliation>)> {
    let Period { from, to, .. } = req.period;
    let staged = rows
        .staged
        .take()
        .ok_or_else(|| anyhow::anyhow!("internal error: the report's files were put in place twice"))?;
    let paths = staged.paths();
    let (synced, file_checks) = std::thread::scope(|scope| {
        let synced = scope.spawn(move || staged.sync());
        let file_checks = files_checks(Files::staged(&req.out, &paths), &rows.exported, from, to);
        (synced.join(), file_checks)
    });
    synced
        .map_err(|_| anyhow::anyhow!("syncing the report's files panicked"))??
        .persist()?;
    let recs = ledgers
        .into_iter()
        .zip(&rows.per_account)
        .zip(covs)
        .map(|((rec, n), c)| with_row_checks(rec, n, c))
        .collect();
    Ok((file_checks, recs))
}

/// The holdings at the period's end (`closing_balances.csv`), and `tax-summary.csv`: a
/// period report's overview in the fiat, with the holdings at both ends. Holdings "now"
/// are valued at the newest minute closed when prices were fetched.
fn close_period(
    accounts: &[ReportAccount],
    group: bool,
    held: &Held,
    at: DateTime<Utc>,
    tax: &mut TaxSummary,
    req: &ReportRequest,
    valuer: &mut dyn Valuer,
) -> Result<(Vec<Holding>, Vec<PathBuf>)> {
    let per_account: Vec<Vec<Holding>> = (0..accounts.len()).map(|i| held.at(i, at)).collect();
    let (holdings, closing_file) = write_closing(accounts, group, &per_account, at, &req.out)?;
    let valued_at = crate::prices::boundaries::valued_at(at, valuer.prices_as_of());
    tax.add_holdings(&holdings, valued_at, true, valuer)?;
    let tax_file = tax.write(&req.out, valuer.fiat().as_str())?;
    Ok((holdings, vec![closing_file, tax_file]))
}

/// Holdings at the period's ends without a value.
fn holdings_missing(tax: &TaxSummary) -> u64 {
    ["holdings_opening", "holdings_closing"]
        .iter()
        .flat_map(|s| ["trading", "funding"].map(|i| tax.total(s, i)))
        .flatten()
        .map(|l| l.missing)
        .sum()
}

/// When OKX's balances were taken: a group's snapshot is as old as its oldest member's.
fn balances_as_of(accounts: &[ReportAccount]) -> Result<Option<DateTime<Utc>>> {
    let mut out = None;
    for a in accounts {
        let at = a.store.latest_balances()?.iter().map(|b| b.as_of).max();
        out = match (out, at) {
            (Some(x), Some(y)) => Some(std::cmp::min(x, y)),
            (x, y) => x.or(y),
        };
    }
    Ok(out)
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

/// The holdings of each account at a report's instants, read in one walk of each
/// account's ledgers.
struct Held {
    ats: Vec<DateTime<Utc>>,
    /// Per account, per instant of `ats`.
    per_account: Vec<Vec<Vec<Holding>>>,
}

impl Held {
    /// `ats` sorted, each once.
    fn instants(ats: impl Iterator<Item = DateTime<Utc>>) -> Vec<DateTime<Utc>> {
        let mut ats: Vec<DateTime<Utc>> = ats.collect();
        ats.sort_unstable();
        ats.dedup();
        ats
    }

    fn read(accounts: &[ReportAccount], ats: impl Iterator<Item = DateTime<Utc>>) -> Result<Held> {
        let ats = Held::instants(ats);
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
