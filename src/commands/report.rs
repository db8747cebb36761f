//! `report`, `reconcile` and `export` (= sync + report): flags into a
//! [`ReportRequest`], [`crate::report::run`], then the console lines.

use super::say;
use crate::cli::{ExportArgs, ReconcileArgs, ReportArgs};
use crate::console::Message;
use crate::error::{Exit, usage};
use crate::export::Format;
use crate::model::{plain, rfc3339_ms};
use crate::prices::Valuer;
use crate::reconcile::{Reconciliation, Status};
use crate::report::{Period, ReportOutcome, ReportRequest};
use crate::settings::Settings;
use crate::store::Store;
use anyhow::Result;

/// The reporting period from `--year` or `--from/--to`, boundaries taken in `--tz`.
pub fn period(args: &ReportArgs) -> Result<Period> {
    Period::parse(args.year, args.from.as_deref(), args.to.as_deref(), &args.tz)
}

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

/// The valuer behind every value column and `tax-summary.csv`: the one place where the
/// export gets its prices. It reads the price cache the store's price stage filled
/// (`sync`, `okx-export prices`; the store remembers where) and `--prices FILE`; it does
/// no network I/O.
fn valuer_for(settings: &Settings, store: &Store, args: &ReportArgs) -> Result<Box<dyn Valuer>> {
    let valuer = crate::prices::open_store_valuer(
        settings,
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
        period: period(args)?,
        formats: Format::parse_list(&args.format).map_err(|e| usage(format!("--format: {e}")))?,
        out: args.out.clone().unwrap_or_else(|| settings.data_dir.clone()),
        allow_unclassified: args.allow_unclassified,
        allow_incomplete: args.allow_incomplete,
    })
}

/// [`report_from`] with the given valuer (tests drive it with
/// [`crate::export::FixedPrices`]); every value is in `valuer.fiat()`.
pub fn report_with(
    settings: &Settings,
    store: &Store,
    args: &ReportArgs,
    mut valuer: Box<dyn Valuer>,
) -> Result<Exit> {
    let req = request(settings, args)?;
    let outcome = crate::report::run(store, &req, valuer.as_mut())?;
    print_outcome(settings, &req, &outcome);
    Ok(outcome.exit)
}

/// The console's account of a report: problems on stderr (always: errors for what makes
/// the exit 4, warnings for the rest), the rest on stdout (not with `--quiet`).
fn print_outcome(settings: &Settings, req: &ReportRequest, o: &ReportOutcome) {
    let console = &settings.console;
    // A period reaching past the last sync holds what the store knew then.
    if let Some(a) = o.coverage.as_of
        && o.period.to.is_none_or(|t| t > a)
    {
        let since = if o.period.to.is_some() {
            "; run `okx-export sync` for what happened since"
        } else {
            ""
        };
        say(
            settings,
            format!("report: data as of {} (the last sync){since}", rfc3339_ms(a)),
        );
    }
    let coverage_path = o.out.join("coverage.csv");
    let missing: Vec<String> = o
        .coverage
        .missing
        .iter()
        .map(|m| format!("missing: {m}"))
        .collect();
    let Some(w) = &o.written else {
        console.emit(
            &Message::error(format!(
                "report: the store does not cover the period, so no tax files were written: {} missing range(s), listed in {}; first: {}. Fix them and rerun, or pass --allow-incomplete to write the files anyway (marked incomplete)",
                o.coverage.missing.len(),
                coverage_path.display(),
                o.coverage.missing.first().map(ToString::to_string).unwrap_or_default()
            ))
            .with_details(missing),
        );
        return;
    };
    let summary = &w.normalized;
    let fiat = &w.values.fiat;
    let missing_path = o.out.join("missing_prices.csv");
    if w.values.missing > 0 {
        console.warning(format!(
            "values: {} of {} rows have no {fiat} value; they are listed in {}. Run `okx-export prices` to fetch what OKX has, or fill in that file's price column and pass --prices FILE",
            w.values.missing,
            w.values.valued + w.values.missing + w.values.pending,
            missing_path.display()
        ));
    }
    if w.values.holdings_missing > 0 {
        console.warning(format!(
            "values: {} holdings at the period's start or end have no {fiat} value (tax-summary.csv leaves their totals empty); they are listed in {} with how to get their prices",
            w.values.holdings_missing,
            missing_path.display()
        ));
    }
    let rows: u64 = summary.rows_by_kind.values().sum();
    say(
        settings,
        format!(
            "report: {rows} transactions ({})",
            summary
                .rows_by_kind
                .iter()
                .map(|(k, v)| format!("{v} {}", k.as_str()))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    );
    for (what, items) in [
        ("pending deposit", &summary.pending_deposits),
        ("pending withdrawal", &summary.pending_withdrawals),
        ("failed/canceled", &summary.failed_or_canceled),
    ] {
        for p in items {
            say(
                settings,
                format!(
                    "not booked: {what} {} {} {} ({}, state {} {})",
                    p.id,
                    plain(p.amount),
                    p.asset,
                    p.time.map(rfc3339_ms).unwrap_or_default(),
                    p.state,
                    p.state_text
                ),
            );
        }
    }
    say(
        settings,
        format!(
            "values: {} rows valued in {fiat}, {} without a price (their value cells are empty)",
            w.values.valued, w.values.missing
        ),
    );
    if w.values.pending > 0 {
        say(
            settings,
            format!(
                "values: {} rows pending: their price bar had not closed when prices were fetched; the next sync values them",
                w.values.pending
            ),
        );
    }
    if req.formats.contains(&Format::BittyTax) && fiat.as_str() != "GBP" {
        say(
            settings,
            format!(
                "bittytax.csv: value columns left empty: BittyTax takes GBP values only, this report is in {fiat} (use --fiat GBP)"
            ),
        );
    }
    print_reconciliation(settings, &w.reconciliation, w.changed_records);
    if !o.complete() {
        console.emit(
            &Message::warning(format!(
                "report: INCOMPLETE: written anyway (--allow-incomplete); {} range(s) of the period are missing (listed in {})",
                o.coverage.missing.len(),
                coverage_path.display()
            ))
            .with_details(missing),
        );
    }
    say(settings, format!("files written to {}:", o.out.display()));
    for f in &o.files {
        say(settings, format!("  {}", f.display()));
    }
    if let Some(first) = w.unreadable.first() {
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
        console.emit(
            &Message::error(format!(
                "{} stored record(s) cannot be read, so the files may lack them (listed in summary.json, `unreadable`); {}",
                w.unreadable.len(),
                line(first)
            ))
            .with_details(w.unreadable.iter().skip(1).map(line)),
        );
    }
    if summary.unclassified > 0 {
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
            console.error(format!(
                "{} records could not be classified ({codes}); they are in transactions.csv with kind `unclassified` and their raw JSON. Pass --allow-unclassified to accept them",
                summary.unclassified
            ));
        } else {
            console.warning(format!(
                "{} unclassified records kept in transactions.csv ({codes})",
                summary.unclassified
            ));
        }
    }
}

pub fn run(settings: &Settings, args: &ReportArgs) -> Result<Exit> {
    let store = open_store(settings)?;
    report_from(settings, &store, args)
}

pub async fn export(settings: &Settings, args: &ExportArgs) -> Result<Exit> {
    let period = period(&args.report)?; // fail on a bad flag before spending time syncing
    Format::parse_list(&args.report.format).map_err(|e| usage(format!("--format: {e}")))?;
    // The sync's price stage fetches this zone's year boundaries too.
    super::prices::remember_zone(&Store::open(&settings.data_dir)?, &period)?;
    super::sync::run_priced(
        settings,
        &args.sync,
        std::slice::from_ref(&args.report.price.fiat),
    )
    .await?;
    super::prices::before_report(settings, &args.report).await?;
    run(settings, &args.report)
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
