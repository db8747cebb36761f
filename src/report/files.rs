//! The report's check and balance files: `coverage.csv`, `balances.csv`,
//! `reconciliation.csv`, `opening_balances.csv` and `closing_balances.csv`, for one account
//! or, with a trailing `profile` column, for a group's members.

use super::ReportAccount;
use crate::coverage::{self, CoverageCheck, Group};
use crate::export::write_csv_atomic;
use crate::model::{plain, rfc3339_ms};
use crate::normalize::{NormalizeOptions, NormalizeSummary, normalize};
use crate::reconcile::closing::Holding;
use crate::reconcile::{
    CheckRow, FundsRanges, OPENING_BALANCE_COLUMNS, RECONCILIATION_COLUMNS, Reconciliation, funds_checks,
    reconcile as reconcile_store, rows_checks,
};
use crate::store::{BalanceRow, RecordSource, Store};
use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use std::path::{Path, PathBuf};

/// A group's coverage as one check: every member's streams (named `profile/stream`) and
/// missing ranges (their `why` names the profile); the group is covered as of its oldest
/// member's last sync.
pub(super) fn merged_coverage(accounts: &[ReportAccount], covs: &[CoverageCheck]) -> CoverageCheck {
    let mut out = CoverageCheck {
        floor: covs.iter().filter_map(|c| c.floor).max(),
        as_of: covs.iter().map(|c| c.as_of).min().flatten(),
        streams: Vec::new(),
        from: covs.iter().filter_map(|c| c.from).min(),
        to: covs.iter().map(|c| c.to).min().flatten(),
        missing: Vec::new(),
    };
    for (a, c) in accounts.iter().zip(covs) {
        out.streams
            .extend(c.streams.iter().map(|s| coverage::StreamCoverage {
                stream: format!("{}/{}", a.profile, s.stream),
                ..s.clone()
            }));
        out.missing.extend(c.missing.iter().map(|m| {
            coverage::Missing {
                why: format!("profile `{}`: {}", a.profile, m.why),
                fix: m
                    .fix
                    .replace("`okx-export ", &format!("`okx-export --profile {} ", a.profile)),
                ..m.clone()
            }
        }));
    }
    out
}

/// Writes `coverage.csv` (a group's with a trailing `profile` column).
pub(super) fn write_coverage(
    accounts: &[ReportAccount],
    group: bool,
    covs: &[CoverageCheck],
    out: &Path,
) -> Result<PathBuf> {
    let p = out.join("coverage.csv");
    if !group {
        let (header, rows) = coverage::coverage_csv(&covs[0]);
        write_csv_atomic(&p, &header, rows)?;
        return Ok(p);
    }
    let mut header = Vec::new();
    let mut all = Vec::new();
    for (a, c) in accounts.iter().zip(covs) {
        let (h, rows) = coverage::coverage_csv(c);
        header = h;
        all.extend(rows.into_iter().map(|mut r| {
            r.push(a.profile.to_string());
            r
        }));
    }
    header.push("profile");
    write_csv_atomic(&p, &header, all)?;
    Ok(p)
}

/// Writes `closing_balances.csv`: what was held at `at` (balances.csv is the latest
/// snapshot, whatever the period); a group's with a trailing `profile` column.
pub(super) fn write_closing(
    accounts: &[ReportAccount],
    group: bool,
    per_account: &[Vec<Holding>],
    at: DateTime<Utc>,
    out: &Path,
) -> Result<(Vec<Holding>, PathBuf)> {
    let mut all = Vec::new();
    let mut rows = Vec::new();
    for (a, holdings) in accounts.iter().zip(per_account) {
        for h in holdings {
            let mut row = vec![
                h.account.to_string(),
                h.asset.clone(),
                plain(h.balance),
                rfc3339_ms(at),
                rfc3339_ms(h.last_bill_at),
            ];
            if group {
                row.push(a.profile.to_string());
            }
            rows.push(row);
        }
        all.extend(holdings.iter().cloned());
    }
    let mut header = vec!["account", "asset", "balance", "as_of", "last_bill_at"];
    if group {
        header.push("profile");
    }
    let p = out.join("closing_balances.csv");
    write_csv_atomic(&p, &header, rows)?;
    Ok((all, p))
}

/// One account's checks: the balance chains, the snapshot match and the cross-ledger
/// proofs (transfers; deposits and withdrawals from the normalizer's pairing in
/// `summary`), each trusted only where `cov` says the other side is stored.
pub fn reconcile_account(
    src: &dyn RecordSource,
    summary: &NormalizeSummary,
    cov: &CoverageCheck,
) -> Result<Reconciliation> {
    let rec = reconcile_store(src, &cov.ledger_ranges())?;
    Ok(with_row_checks(rec, summary, cov))
}

/// The checks of [`reconcile_account`] that need the rows (`summary`), added to `rec`,
/// what [`reconcile_store`] found in the ledgers alone (a report reconciles the ledgers
/// while it writes the rows).
pub(super) fn with_row_checks(
    mut rec: Reconciliation,
    summary: &NormalizeSummary,
    cov: &CoverageCheck,
) -> Reconciliation {
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
    rec
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

const BALANCE_COLUMNS: [&str; 6] = ["account", "asset", "total", "available", "frozen", "as_of"];

fn balance_fields(b: &BalanceRow) -> Vec<String> {
    vec![
        b.account.clone(),
        b.ccy.clone(),
        plain(b.total),
        b.available.map(plain).unwrap_or_default(),
        b.frozen.map(plain).unwrap_or_default(),
        rfc3339_ms(b.as_of),
    ]
}

/// Writes balances.csv, reconciliation.csv and opening_balances.csv into `out`: the
/// account's checks ([`reconcile_account`]), then `file_checks` (the written files read
/// back, [`files_checks`](crate::export::readback::files_checks)).
pub fn write_reconciliation(
    src: &dyn RecordSource,
    summary: &NormalizeSummary,
    cov: &CoverageCheck,
    file_checks: Vec<CheckRow>,
    out: &Path,
) -> Result<(Reconciliation, Vec<PathBuf>)> {
    let rec = reconcile_account(src, summary, cov)?;
    write_reconciled(src, rec, file_checks, out)
}

/// [`write_reconciliation`] with the account's checks done already.
pub(super) fn write_reconciled(
    src: &dyn RecordSource,
    mut rec: Reconciliation,
    file_checks: Vec<CheckRow>,
    out: &Path,
) -> Result<(Reconciliation, Vec<PathBuf>)> {
    rec.cross.extend(file_checks);
    let balances = src.latest_balances()?;
    let mut files = Vec::new();
    let p = out.join("balances.csv");
    write_csv_atomic(&p, &BALANCE_COLUMNS, balances.iter().map(balance_fields))?;
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

/// A group's balances.csv, reconciliation.csv and opening_balances.csv: each member's
/// lines with a trailing `profile` column, then the group's own checks (`own`: the files
/// read back, the internal transfers) with an empty profile.
pub(super) fn write_group_reconciliation(
    accounts: &[ReportAccount],
    recs: &[Reconciliation],
    own: &Reconciliation,
    out: &Path,
) -> Result<Vec<PathBuf>> {
    let with = |mut row: Vec<String>, profile: &str| {
        row.push(profile.to_string());
        row
    };
    let mut balances = Vec::new();
    let mut checks = Vec::new();
    let mut openings = Vec::new();
    for (a, rec) in accounts.iter().zip(recs) {
        balances.extend(
            a.store
                .latest_balances()?
                .iter()
                .map(|b| with(balance_fields(b), a.profile)),
        );
        checks.extend(rec.reconciliation_csv().1.into_iter().map(|r| with(r, a.profile)));
        openings.extend(
            rec.opening_balances_csv()
                .1
                .into_iter()
                .map(|r| with(r, a.profile)),
        );
    }
    checks.extend(own.reconciliation_csv().1.into_iter().map(|r| with(r, "")));
    let mut files = Vec::new();
    for (name, mut header, rows) in [
        ("balances.csv", BALANCE_COLUMNS.to_vec(), balances),
        ("reconciliation.csv", RECONCILIATION_COLUMNS.to_vec(), checks),
        ("opening_balances.csv", OPENING_BALANCE_COLUMNS.to_vec(), openings),
    ] {
        header.push("profile");
        let p = out.join(name);
        write_csv_atomic(&p, &header, rows)?;
        files.push(p);
    }
    Ok(files)
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
