//! `report` and `reconcile`: flags into a
//! [`ReportRequest`], [`crate::report::run`], then the console lines.

use super::{say, tell};
use crate::cli::{ReconcileArgs, ReportArgs};
use crate::console::Message;
use crate::error::{Exit, usage};
use crate::export::Format;
use crate::model::{plain, rfc3339_ms};
use crate::prices::Valuer;
use crate::reconcile::{Reconciliation, Status};
use crate::report::{ReportOutcome, ReportRequest, Written};
use crate::settings::Settings;
use crate::store::Store;
use anyhow::Result;

fn open_store(settings: &Settings) -> Result<Store> {
    if !settings.data_dir.join(Store::FILE).exists() {
        return Err(usage(format!(
            "no store in `{}` yet; run `okx-export sync` first (or pass --data-dir)",
            settings.data_dir.display()
        )));
    }
    Store::open(&settings.data_dir)
}

/// `changed_records`: earlier versions the store kept of records OKX changed (listed in
/// changed_records.csv), the first place to look when a check fails.
fn print_reconciliation(settings: &Settings, rec: &Reconciliation, changed_records: u64) {
    let not_compared: Vec<_> = rec
        .rows
        .iter()
        .filter(|r| r.status == Status::NotCompared)
        .collect();
    if !not_compared.is_empty() {
        say(
            settings,
            format!(
                "not compared (neither a match nor a failure): {}",
                not_compared
                    .iter()
                    .map(|r| format!(
                        "{} reported {} ({})",
                        // An account-wide row has no asset.
                        format!("{} {}", r.account.as_str(), r.asset).trim_end(),
                        r.reported.map_or_else(|| "nothing".into(), plain),
                        r.reason.unwrap_or_default()
                    ))
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
        );
    }
    if rec.ok() {
        let files = rec
            .cross
            .iter()
            .filter(|c| c.check.starts_with("file:") && c.asset.is_empty() && c.account.is_empty())
            .count();
        say(
            settings,
            format!(
                "reconciliation: ok ({} account/asset balances match OKX, {} not compared{})",
                rec.rows.iter().filter(|r| r.status.is_match()).count(),
                not_compared.len(),
                if files > 0 {
                    format!("; {files} files read back sum to the rows")
                } else {
                    String::new()
                }
            ),
        );
    } else {
        settings
            .console
            .emit(&reconciliation_failed(rec, changed_records));
    }
    let opening: Vec<_> = rec.rows.iter().filter(|r| !r.opening_balance.is_zero()).collect();
    if !opening.is_empty() {
        say(
            settings,
            format!(
                "opening balances (history starts after the account's first activity; see opening_balances.csv): {}",
                opening
                    .iter()
                    .map(|r| format!("{} {} {}", r.account.as_str(), plain(r.opening_balance), r.asset))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        );
    }
}

/// A failed reconciliation (exit 4) as one error: how many checks failed and the first,
/// every failure under it (not with `--quiet`, where it is one line; all are in
/// reconciliation.csv).
fn reconciliation_failed(rec: &Reconciliation, changed_records: u64) -> Message {
    let mut failures = Vec::new();
    for c in rec.cross.iter().filter(|c| c.failed()) {
        let what = [c.check, c.account.as_str(), c.asset.as_str()]
            .into_iter()
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join(" ");
        failures.push(format!("reconciliation: {what}: {}", c.detail));
    }
    let bad_files: Vec<&str> = rec
        .cross
        .iter()
        .filter(|c| c.failed() && c.asset.is_empty() && c.account.is_empty())
        .filter_map(|c| c.check.strip_prefix("file:"))
        .collect();
    for r in rec.rows.iter().filter(|r| r.status.is_failure()) {
        failures.push(format!(
            "reconciliation: {} {} computed {} but OKX reports {} (difference {}, {})",
            r.account.as_str(),
            r.asset,
            plain(r.computed),
            r.reported.map_or_else(|| "nothing".into(), plain),
            r.difference.map(plain).unwrap_or_default(),
            r.status.as_str()
        ));
    }
    for g in &rec.gaps {
        failures.push(format!(
            "reconciliation: {} {} ledger has a gap between {} and {}: history is missing there",
            g.account.as_str(),
            g.asset,
            rfc3339_ms(g.from),
            rfc3339_ms(g.to)
        ));
    }
    let mut text = format!(
        "reconciliation failed: {} check(s), listed in reconciliation.csv; first: {}",
        failures.len(),
        failures
            .first()
            .map_or("", |f| f.trim_start_matches("reconciliation: "))
    );
    if changed_records > 0 {
        text = format!(
            "{text}. OKX changed {changed_records} stored record(s) after first sending them (or sent them twice): both versions are in changed_records.csv, look there first"
        );
    }
    if !bad_files.is_empty() {
        text = format!(
            "{text}. The {} file(s) do not read back as transactions.csv says: do not import them; this is a defect of okx-export, not missing history: please report it with reconciliation.csv",
            bad_files.join(", ")
        );
    }
    Message::error(text).with_details(failures)
}

/// A group's own checks: the files read back and the internal transfers.
fn print_group_checks(settings: &Settings, own: &Reconciliation, changed_records: u64) {
    if own.ok() {
        let transfers = own
            .cross
            .iter()
            .find(|c| c.check == "group" && c.asset.is_empty())
            .map(|c| c.detail.clone())
            .unwrap_or_default();
        let files = own
            .cross
            .iter()
            .filter(|c| c.check.starts_with("file:") && c.asset.is_empty() && c.account.is_empty())
            .count();
        say(
            settings,
            format!("reconciliation (group): ok ({transfers}; {files} files read back sum to the rows)"),
        );
    } else {
        settings
            .console
            .emit(&reconciliation_failed(own, changed_records));
    }
}

/// The valuer behind every value column and `tax-summary.csv`: the one place where the
/// export gets its prices. It reads the price cache the store's price stage filled
/// (`sync`, `okx-export prices`; the store remembers where) and `--prices FILE`; it does
/// no network I/O.
fn valuer_for(settings: &Settings, store: &Store, args: &ReportArgs) -> Result<Box<dyn Valuer>> {
    let valuer = crate::prices::open_store_valuer(
        &settings.price_place(),
        store,
        args.price.fiat.clone(),
        args.price.prices_file.as_deref(),
    )?;
    Ok(Box::new(valuer))
}

/// Normalizes and writes every report; returns the exit code.
pub fn report_from(settings: &Settings, store: &Store, args: &ReportArgs) -> Result<Exit> {
    let valuer = valuer_for(settings, store, args)?;
    report_with(settings, store, args, valuer)
}

/// The request `args` make for `settings`' data dir.
pub fn request(settings: &Settings, args: &ReportArgs) -> Result<ReportRequest> {
    Ok(ReportRequest {
        period: args.period()?,
        formats: Format::parse_list(&args.format).map_err(|e| usage(format!("--format: {e}")))?,
        out: args.out.clone().unwrap_or_else(|| settings.data_dir.clone()),
        allow_unclassified: args.allow_unclassified,
        allow_incomplete: args.allow_incomplete,
        accounts: crate::report::AccountsContext::default(),
    })
}

/// The configured profiles' uids, read only when one of `stores` is a master with
/// sub-accounts (an accountant's hundreds of profiles are not opened for nothing).
fn profiles_if_needed(settings: &Settings, stores: &[&Store]) -> Result<Vec<(String, Option<String>)>> {
    for s in stores {
        if s.sub_accounts()?.is_some_and(|l| !l.subs.is_empty()) {
            return super::subaccounts::profile_uids(settings);
        }
    }
    Ok(Vec::new())
}

/// [`report_from`] with the given valuer (tests drive it with
/// [`crate::export::FixedPrices`]); every value is in `valuer.fiat()`.
pub fn report_with(
    settings: &Settings,
    store: &Store,
    args: &ReportArgs,
    mut valuer: Box<dyn Valuer>,
) -> Result<Exit> {
    let mut req = request(settings, args)?;
    req.accounts.profiles = profiles_if_needed(settings, &[store])?;
    let account = crate::report::ReportAccount {
        profile: &settings.profile,
        store,
    };
    let outcome = crate::report::run_accounts(&[account], false, &req, valuer.as_mut())?;
    print_outcome(settings, &req, &outcome);
    Ok(outcome.exit)
}

/// The console's account of a report: problems on stderr (always: errors for what makes
/// the exit 4, warnings for the rest), the rest on stdout (not with `--quiet`).
/// What a report says on the console, in the order a reader needs it: when its data is
/// from, the accounts, why no files were written (or that they are incomplete), the rows
/// and their values, the checks, the files, and what could not be read or classified.
fn print_outcome(settings: &Settings, req: &ReportRequest, o: &ReportOutcome) {
    print_data_as_of(settings, o);
    super::subaccounts::print_accounts(settings, &o.accounts);
    let gaps = Gaps::of(o);
    let Some(w) = &o.written else {
        settings.console.emit(
            &Message::error(format!(
                "report: {}, so no tax files were written (listed in {} and summary.json); first: {}. Fix them and rerun, or pass --allow-incomplete to write the files anyway (marked incomplete)",
                gaps.what,
                gaps.coverage_path.display(),
                gaps.first()
            ))
            .with_details(gaps.rest()),
        );
        return;
    };
    print_value_warnings(settings, o, w);
    print_rows(settings, &w.normalized);
    print_values(settings, req, w);
    print_checks(settings, o, w);
    if !o.complete() {
        settings.console.emit(
            &Message::warning(format!(
                "report: INCOMPLETE: written anyway (--allow-incomplete): {} (listed in {} and summary.json); first: {}",
                gaps.what,
                gaps.coverage_path.display(),
                gaps.first()
            ))
            .with_details(gaps.rest()),
        );
    }
    say(settings, format!("files written to {}:", o.out.display()));
    for f in &o.files {
        say(settings, format!("  {}", f.display()));
    }
    print_unreadable(settings, w);
    print_unclassified(settings, w);
}

/// A period reaching past the last sync holds what the store knew then.
fn print_data_as_of(settings: &Settings, o: &ReportOutcome) {
    if let Some(a) = o.coverage.as_of
        && o.period.to.is_none_or(|t| t > a)
    {
        let since = if o.period.to.is_some() {
            "; run `okx-export sync` for what happened since"
        } else {
            ""
        };
        tell(
            settings,
            format!("report: data as of {} (the last sync){since}", rfc3339_ms(a)),
        );
    }
}

/// What makes a report incomplete: missing ranges and sub-accounts left out.
struct Gaps {
    what: String,
    lines: Vec<String>,
    coverage_path: std::path::PathBuf,
}

impl Gaps {
    fn of(o: &ReportOutcome) -> Gaps {
        let left_out = o.accounts.missing().count();
        let lines = o
            .coverage
            .missing
            .iter()
            .map(|m| format!("missing: {m}"))
            .chain(super::subaccounts::missing_accounts(&o.accounts))
            .collect();
        let what = match (o.coverage.missing.len(), left_out) {
            (0, n) => format!("{n} sub-account(s) with holdings or transfers are not in the report"),
            (m, 0) => format!("the store does not cover the period ({m} missing range(s))"),
            (m, n) => format!(
                "the store does not cover the period ({m} missing range(s)) and {n} sub-account(s) with holdings or transfers are not in the report"
            ),
        };
        Gaps {
            what,
            lines,
            coverage_path: o.out.join("coverage.csv"),
        }
    }

    fn first(&self) -> String {
        self.lines
            .first()
            .map(|m| m.trim_start_matches("missing: ").to_string())
            .unwrap_or_default()
    }

    fn rest(&self) -> impl Iterator<Item = String> + '_ {
        self.lines.iter().skip(1).cloned()
    }
}

/// Rows and holdings without a value: warnings naming the file that lists them.
fn print_value_warnings(settings: &Settings, o: &ReportOutcome, w: &Written) {
    let fiat = &w.values.fiat;
    let missing_path = o.out.join("missing_prices.csv");
    if w.values.missing > 0 {
        settings.console.warning(format!(
            "values: {} of {} rows have no {fiat} value; they are listed in {}. Run `okx-export prices` to fetch what OKX has, or fill in that file's price column and pass --prices FILE",
            w.values.missing,
            w.values.valued + w.values.missing + w.values.pending,
            missing_path.display()
        ));
    }
    if w.values.holdings_missing > 0 {
        settings.console.warning(format!(
            "values: {} holdings at the period's start or end have no {fiat} value (tax-summary.csv leaves their totals empty); they are listed in {} with how to get their prices",
            w.values.holdings_missing,
            missing_path.display()
        ));
    }
}

/// The rows by kind, and the deposits and withdrawals seen but not in the ledgers (counted
/// here, each listed in summary.json and report.html).
fn print_rows(settings: &Settings, summary: &crate::normalize::NormalizeSummary) {
    let rows: u64 = summary.rows_by_kind.values().sum();
    let kinds = summary
        .rows_by_kind
        .iter()
        .map(|(k, v)| format!("{v} {}", k.as_str()))
        .collect::<Vec<_>>()
        .join(", ");
    tell(settings, format!("report: {rows} transactions ({kinds})"));
    let not_booked: Vec<String> = [
        (summary.pending_deposits.len(), "pending deposit(s)"),
        (summary.pending_withdrawals.len(), "pending withdrawal(s)"),
        (summary.failed_or_canceled.len(), "failed or canceled"),
    ]
    .into_iter()
    .filter(|(n, _)| *n > 0)
    .map(|(n, what)| format!("{n} {what}"))
    .collect();
    if !not_booked.is_empty() {
        tell(
            settings,
            format!(
                "not booked: {} (listed in summary.json and report.html)",
                not_booked.join(", ")
            ),
        );
    }
}

/// How many rows have a value, how many wait for their bar, and BittyTax's GBP rule.
fn print_values(settings: &Settings, req: &ReportRequest, w: &Written) {
    let fiat = &w.values.fiat;
    tell(
        settings,
        format!(
            "values: {} rows valued in {fiat}, {} without a price (their value cells are empty)",
            w.values.valued, w.values.missing
        ),
    );
    if w.values.pending > 0 {
        tell(
            settings,
            format!(
                "values: {} rows pending: their price bar had not closed when prices were fetched; the next sync values them",
                w.values.pending
            ),
        );
    }
    if req.formats.contains(&Format::BittyTax) && fiat.as_str() != "GBP" {
        tell(
            settings,
            format!(
                "bittytax.csv: value columns left empty: BittyTax takes GBP values only, this report is in {fiat} (use --fiat GBP)"
            ),
        );
    }
}

/// The reconciliation: the profile's, or each member's (labelled) and the group's own.
fn print_checks(settings: &Settings, o: &ReportOutcome, w: &Written) {
    if o.members.is_empty() {
        print_reconciliation(settings, &w.reconciliation, w.changed_records);
        return;
    }
    for m in &o.members {
        if let Some(rec) = &m.reconciliation {
            let member = Settings {
                console: settings.console.labelled(&m.profile),
                ..settings.clone()
            };
            print_reconciliation(&member, rec, 0);
        }
    }
    print_group_checks(settings, &w.reconciliation, w.changed_records);
}

/// Stored records that cannot be read: one error with each record and its fix.
fn print_unreadable(settings: &Settings, w: &Written) {
    let Some(first) = w.unreadable.first() else {
        return;
    };
    let line = |u: &crate::report::UnreadableRecord| {
        format!(
            "{} `{}`{}: {}; fix: {}",
            u.kind,
            u.key,
            u.time
                .map(|t| format!(" of {}", rfc3339_ms(t)))
                .unwrap_or_default(),
            u.error,
            u.fix
        )
    };
    settings.console.emit(
        &Message::error(format!(
            "{} stored record(s) cannot be read, so the files may lack them (listed in summary.json, `unreadable`); {}",
            w.unreadable.len(),
            line(first)
        ))
        .with_details(w.unreadable.iter().skip(1).map(line)),
    );
}

/// Unclassified records with OKX's codes and names: an error unless allowed.
fn print_unclassified(settings: &Settings, w: &Written) {
    let summary = &w.normalized;
    if summary.unclassified == 0 {
        return;
    }
    let codes = summary
        .unclassified_codes
        .iter()
        .map(|(c, n)| match summary.unclassified_names.get(c) {
            Some(name) => format!("{c} ×{n}, {name}"),
            None => format!("{c} ×{n}"),
        })
        .collect::<Vec<_>>()
        .join(", ");
    if w.unclassified_fail {
        settings.console.error(format!(
            "{} records could not be classified ({codes}); they are in transactions.csv with kind `unclassified` and their raw JSON. Pass --allow-unclassified to accept them",
            summary.unclassified
        ));
    } else {
        settings.console.warning(format!(
            "{} unclassified records kept in transactions.csv ({codes})",
            summary.unclassified
        ));
    }
}

pub fn run(settings: &Settings, args: &ReportArgs) -> Result<Exit> {
    let store = open_store(settings)?;
    report_from(settings, &store, args)
}

/// `report --group NAME`: one set of files for every member's store (see
/// [`crate::report::run_accounts`]), in `--out` or the group's folder.
pub fn run_group(group: &super::runner::Group, args: &ReportArgs) -> Result<Exit> {
    let settings = group.settings();
    let stores: Vec<Store> = group
        .members
        .iter()
        .map(|m| open_store(&m.settings))
        .collect::<Result<_>>()?;
    let accounts: Vec<crate::report::ReportAccount> = group
        .members
        .iter()
        .zip(&stores)
        .map(|(m, store)| crate::report::ReportAccount {
            profile: &m.name,
            store,
        })
        .collect();
    let mut req = request(&settings, args)?;
    req.accounts.group = Some(group.name.clone());
    req.accounts.profiles = profiles_if_needed(&settings, &stores.iter().collect::<Vec<_>>())?;
    // The members share one price cache (the group's sync chose it); the first member's
    // store says where it lives.
    let mut valuer = valuer_for(&settings, &stores[0], args)?;
    let outcome = crate::report::run_accounts(&accounts, true, &req, valuer.as_mut())?;
    print_outcome(&settings, &req, &outcome);
    Ok(outcome.exit)
}

pub fn reconcile(settings: &Settings, args: &ReconcileArgs) -> Result<Exit> {
    let store = open_store(settings)?;
    let out = args.out.clone().unwrap_or_else(|| settings.data_dir.clone());
    let (rec, files) = crate::report::reconcile_only(&store, &out)?;
    print_reconciliation(settings, &rec, store.history()?.len() as u64);
    for f in files {
        say(settings, format!("  {}", f.display()));
    }
    Ok(if rec.ok() { Exit::Success } else { Exit::Data })
}
