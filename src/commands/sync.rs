//! `sync`: fetch new history into the local store.

use super::{progress::Bars, say};
use crate::cli::SyncArgs;
use crate::console::Message;
use crate::error::{Exit, usage};
use crate::export::write_json_atomic;
use crate::settings::Settings;
use crate::store::Store;
use crate::sync::quarter::quarter_runs;
use crate::sync::{SyncFailed, SyncOptions, SyncSummary};
use anyhow::{Context, Result};
use chrono::{NaiveDate, TimeZone, Utc};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Parses `YYYY-MM-DD` (UTC midnight).
pub fn parse_date(flag: &str, value: &str) -> Result<chrono::DateTime<Utc>> {
    let d = NaiveDate::parse_from_str(value, "%Y-%m-%d").map_err(|_| {
        usage(format!(
            "{flag} `{value}` is not a date; use YYYY-MM-DD, e.g. 2024-01-01"
        ))
    })?;
    Ok(Utc.from_utc_datetime(&d.and_hms_opt(0, 0, 0).expect("midnight exists")))
}

pub fn options(args: &SyncArgs) -> Result<SyncOptions> {
    let since = args
        .since
        .as_deref()
        .map(|s| parse_date("--since", s))
        .transpose()?;
    if let (Some(t), Some(s)) = (since, args.since.as_deref())
        && t > Utc::now()
    {
        return Err(usage(format!(
            "--since {s} is in the future: give the day the history should start, e.g. --since 2024-01-01 (default 2021-02-01, as far back as OKX keeps it)"
        )));
    }
    Ok(SyncOptions {
        since,
        archive: !args.no_archive,
        archive_max_wait: Duration::from_secs(args.archive_wait),
        archive_first_poll: Duration::from_millis(args.archive_poll_ms),
        archive_limits: crate::sync::archive_file::ArchiveLimits {
            max_download: args.archive_max_download << 20,
            max_expanded: args.archive_max_expanded << 20,
        },
        master: false,
        frontier: None,
    })
}

/// Words of `items` joined by ", " and wrapped to 80 columns after `head`.
fn wrapped(head: &str, items: &[String], width: usize) -> Vec<String> {
    let mut lines = vec![head.to_string()];
    for (i, item) in items.iter().enumerate() {
        let sep = if i + 1 < items.len() { "," } else { "" };
        let last = lines.last_mut().expect("one line");
        if last.chars().count() + 1 + item.chars().count() + sep.len() > width {
            lines.push(format!("  {item}{sep}"));
        } else {
            last.push(' ');
            last.push_str(item);
            last.push_str(sep);
        }
    }
    lines
}

/// Prints the per-stream summary table (80 columns with a profile's `[name] ` of up to
/// ten characters in front), then the run's problems and notes.
/// `failed_with`: the error the run fails with (printed last, by `main`), which is not
/// repeated here.
pub fn print_summary(settings: &Settings, s: &SyncSummary, failed_with: Option<&str>) {
    let console = &settings.console;
    use super::progress::group;
    say(
        settings,
        format!(
            "{:<21} {:>7} {:>8} {:>5}  range (UTC)",
            "stream", "new", "fetched", "pages"
        ),
    );
    for r in &s.streams {
        let range = match (r.oldest, r.newest) {
            (Some(a), Some(b)) => format!("{} .. {}", a.format("%Y-%m-%d"), b.format("%Y-%m-%d")),
            _ => "-".into(),
        };
        say(
            settings,
            format!(
                "{:<21} {:>7} {:>8} {:>5}  {range}",
                r.stream,
                group(r.new),
                group(r.fetched),
                group(r.pages)
            ),
        );
    }
    if let Some(a) = &s.archive {
        let list = |q: &[String]| {
            if q.is_empty() {
                "-".to_string()
            } else {
                q.join(",")
            }
        };
        say(
            settings,
            format!(
                "{:<21} {:>7} {:>8} {:>5}  done: {}",
                "bills-history-archive",
                group(a.new),
                group(a.rows),
                "-",
                list(&a.quarters_done)
            ),
        );
        if !a.quarters_pending.is_empty() {
            say(
                settings,
                format!("{:<46}quarters pending: {}", "", list(&a.quarters_pending)),
            );
        }
        if !a.quarters_failed.is_empty() {
            say(
                settings,
                format!("{:<46}quarters failed: {}", "", list(&a.quarters_failed)),
            );
        }
    }
    match s.sub_accounts {
        Some(0) => say(settings, "sub-accounts: none"),
        Some(n) => say(
            settings,
            format!("sub-accounts: {n}, balances and transfers read (`check-key` lists them)"),
        ),
        None => {}
    }
    let totals: Vec<String> = s
        .store_counts
        .iter()
        .map(|(kind, n)| format!("{} {kind}", group(*n)))
        .collect();
    for line in wrapped("records in the store:", &totals, settings.console.room()) {
        say(settings, line);
    }
    for (name, e) in s
        .endpoints
        .iter()
        .filter(|(_, e)| e.retries > 0 || e.rate_limited > 0)
    {
        say(
            settings,
            format!(
                "{name}: {} requests ({} of them retries, {} rate-limited)",
                e.requests, e.retries, e.rate_limited
            ),
        );
    }
    say(
        settings,
        format!(
            "sync: {} new records ({} fetched) in {:.1} s",
            group(s.totals.new_records),
            group(s.totals.fetched_records),
            s.elapsed_seconds,
        ),
    );
    say(
        settings,
        format!(
            "requests: {} ({} retries, {} rate-limited)",
            group(s.totals.requests),
            s.totals.retries,
            s.totals.rate_limited,
        ),
    );
    // With `--quiet` a failed run says one line (the error `main` prints); the rest is in
    // sync-summary.json.
    if failed_with.is_some() && console.quiet() {
        return;
    }
    for m in messages(s, failed_with) {
        console.emit(&m);
    }
}

/// The run's problems and notes, most serious first: errors other than the one the run
/// fails with (not with `--quiet`, where a failure is one line), warnings, then notes.
pub fn messages(s: &SyncSummary, failed_with: Option<&str>) -> Vec<Message> {
    let mut out = Vec::new();
    for e in s.errors.iter().filter(|e| Some(e.as_str()) != failed_with) {
        out.push(Message::error(e.clone()));
    }
    for r in &s.streams {
        out.extend(
            r.warnings
                .iter()
                .map(|w| Message::warning(format!("{}: {w}", r.stream))),
        );
    }
    out.extend(s.warnings.iter().cloned().map(Message::warning));
    if let Some(a) = &s.archive {
        out.extend(
            a.changes
                .warnings
                .iter()
                .map(|w| Message::warning(format!("bills-history-archive: {w}"))),
        );
    }
    if let Some(a) = &s.archive {
        if let Some(why) = &a.skipped_because {
            for run in quarter_runs(&a.quarters_skipped) {
                out.push(Message::note(format!("{run}: {why}")));
            }
        }
        out.extend(a.notes.iter().cloned().map(Message::note));
    }
    out.extend(s.notes.iter().cloned().map(Message::note));
    out
}

/// Runs a sync for `settings` and returns the summary (also written as
/// `sync-summary.json` in the data dir).
pub async fn run(settings: &Settings, args: &SyncArgs) -> Result<(Exit, SyncSummary)> {
    run_priced(settings, args, &[crate::prices::Fiat::usd()]).await
}

/// [`run`] with the price stage alongside (unless `--no-prices`), ECB rates for `fiats`.
pub async fn run_priced(
    settings: &Settings,
    args: &SyncArgs,
    fiats: &[crate::prices::Fiat],
) -> Result<(Exit, SyncSummary)> {
    if args.refetch.is_some() {
        return Err(usage(
            "--refetch is a repair of the store: run it as `sync --refetch …`, then `report`",
        ));
    }
    let opts = options(args)?;
    let started = Utc::now();
    let creds = settings
        .credentials()
        .inspect_err(|e| record_failure(settings, started, e))?;
    if args.no_prices {
        return run_with(settings, creds, opts).await;
    }
    let prices = super::prices::after_sync_options(settings, fiats);
    let (exit, summary, _) = run_with_prices(settings, creds, opts, prices).await?;
    Ok((exit, summary))
}

/// A sync with the price stage running alongside it (issue 23): candles are fetched for
/// each time range as soon as the sync has all of its rows, and the rest once it has
/// succeeded. Prints both summaries; a failed sync stops the stage.
pub async fn run_with_prices(
    settings: &Settings,
    creds: crate::secret::Credentials,
    mut opts: SyncOptions,
    prices: crate::prices::PriceOptions,
) -> Result<(Exit, SyncSummary, crate::prices::PriceSummary)> {
    let frontier = crate::sync::frontier::Frontier::new();
    opts.frontier = Some(frontier.clone());
    let public = super::client(settings, None)?;
    let stage = crate::prices::alongside::start(&settings.price_place(), public, prices, frontier);
    let (exit, summary) = match run_with(settings, creds, opts).await {
        Ok(done) => done,
        Err(e) => {
            stage.abort();
            return Err(e);
        }
    };
    let anything_new = summary.totals.new_records > 0 || summary.streams.iter().any(|r| r.updated > 0);
    let started = Utc::now();
    let priced = stage
        .finish(anything_new)
        .await
        .context("the sync is complete, but the price stage failed; run `okx-export prices` to retry")
        .inspect_err(|e| record_failure(settings, started, e))?;
    super::prices::print_summary(settings, &priced);
    Ok((exit, summary, priced))
}

/// Records a failed run in the store of `settings` (its `failure`: exit, reason, fix, the
/// key's problems), so `status` tells why, if there is a store and no sync holds it.
/// Recording is best effort: the error itself is what the run reports.
pub fn record_failure(settings: &Settings, started: chrono::DateTime<Utc>, err: &anyhow::Error) {
    if crate::interrupt::requested().is_some() || !settings.data_dir.join(Store::FILE).exists() {
        return;
    }
    let Ok(_lock) = Store::lock(&settings.data_dir) else {
        return;
    };
    if let Ok(mut store) = Store::open(&settings.data_dir) {
        record_failed_run(&mut store, started, err, serde_json::json!({}));
    }
}

/// Records a failed run with `summary` (an object) and its `failure`.
fn record_failed_run(
    store: &mut Store,
    started: chrono::DateTime<Utc>,
    err: &anyhow::Error,
    mut summary: serde_json::Value,
) {
    summary["failure"] = serde_json::to_value(crate::fleet::RunFailure::of(err)).unwrap_or_default();
    if let Err(e) = store.record_run(started, "failed", &summary.to_string()) {
        tracing::debug!("could not record the failed run: {e:#}");
    }
}

pub async fn run_with(
    settings: &Settings,
    creds: crate::secret::Credentials,
    mut opts: SyncOptions,
) -> Result<(Exit, SyncSummary)> {
    let _lock = Store::lock(&settings.data_dir)?;
    let mut store = Store::open(&settings.data_dir)?;
    let started = Utc::now();
    let verified = async {
        let client = super::client(settings, Some(creds))?;
        let cfg = super::check_key::verify(&client, settings, false).await?;
        // Whose account this is: a master's key also reads its sub-accounts.
        if let Some(id) = crate::store::Identity::of(&cfg, client.server_now()) {
            opts.master = id.is_master();
            store.set_identity(&id)?;
        }
        anyhow::Ok((client, cfg))
    }
    .await;
    let (client, cfg) = match verified {
        Ok(v) => v,
        Err(e) => {
            record_failed_run(&mut store, started, &e, serde_json::json!({}));
            return Err(e);
        }
    };
    let key = crate::fleet::KeyFacts {
        uid: cfg.uid.clone(),
        perm: cfg.perm.clone().unwrap_or_default(),
        read_only: cfg.is_read_only(),
        ip_bound: cfg.ip.as_deref().is_some_and(|ip| !ip.trim().is_empty()),
    };
    let store = Arc::new(Mutex::new(store));
    let progress = Bars::for_stderr(settings.progress, &settings.console);
    let result = crate::sync::sync(client, store.clone(), &opts, progress.clone()).await;
    progress.finish();
    let (summary, err) = match result {
        Ok(s) => (s, None),
        Err(e) => match e.downcast::<SyncFailed>() {
            Ok(failed) => (*failed.summary, Some(failed.source)),
            Err(e) => {
                let json = serde_json::json!({ "key": key });
                record_failed_run(&mut store.lock().expect("store lock"), started, &e, json);
                return Err(e);
            }
        },
    };
    let mut json = serde_json::to_value(&summary)?;
    json["key"] = serde_json::to_value(&key)?;
    if let Some(e) = &err {
        json["failure"] = serde_json::to_value(crate::fleet::RunFailure::of(e))?;
    }
    write_json_atomic(&settings.data_dir.join("sync-summary.json"), &json)
        .context("writing sync-summary.json")?;
    store.lock().expect("store lock").record_run(
        summary.started_at,
        if err.is_none() { "ok" } else { "failed" },
        &json.to_string(),
    )?;
    let failed_with = err.as_ref().map(|e| format!("{e:#}"));
    print_summary(settings, &summary, failed_with.as_deref());
    match err {
        Some(e) => Err(e),
        None => Ok((Exit::Success, summary)),
    }
}

/// `sync --refetch STREAM[:FROM..TO]` (see [`crate::sync::refetch`]).
pub async fn refetch(settings: &Settings, args: &SyncArgs) -> Result<Exit> {
    let value = args.refetch.as_deref().unwrap_or_default();
    let req = crate::sync::refetch::parse(value).map_err(usage)?;
    let creds = settings.credentials()?;
    let _lock = Store::lock(&settings.data_dir)?;
    let store = Arc::new(Mutex::new(Store::open(&settings.data_dir)?));
    let client = super::client(settings, Some(creds))?;
    super::check_key::verify(&client, settings, false).await?;
    let now = client.server_time().await?;
    let r = crate::sync::refetch::run(&client, &store, &req, now).await?;
    for w in &r.warnings {
        settings.console.warning(w.as_str());
    }
    say(
        settings,
        format!(
            "refetch {} {} .. {}: {} records fetched; {} stored records replaced by {}",
            r.stream,
            r.from.format("%Y-%m-%d %H:%M"),
            r.to.format("%Y-%m-%d %H:%M"),
            r.fetched,
            r.removed,
            r.inserted
        ),
    );
    Ok(Exit::Success)
}
