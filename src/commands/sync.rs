//! `sync`: fetch new history into the local store.

use super::{progress::Bars, say, warn};
use crate::cli::SyncArgs;
use crate::error::{Exit, usage};
use crate::export::write_json_atomic;
use crate::settings::Settings;
use crate::store::Store;
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
    Ok(SyncOptions {
        since: args
            .since
            .as_deref()
            .map(|s| parse_date("--since", s))
            .transpose()?,
        archive: !args.no_archive,
        archive_max_wait: Duration::from_secs(args.archive_wait),
        archive_first_poll: Duration::from_millis(args.archive_poll_ms),
        archive_limits: crate::sync::archive_file::ArchiveLimits {
            max_download: args.archive_max_download << 20,
            max_expanded: args.archive_max_expanded << 20,
        },
    })
}

/// Prints the per-stream summary table.
pub fn print_summary(settings: &Settings, s: &SyncSummary) {
    say(
        settings,
        format!(
            "{:<28} {:>8} {:>9} {:>8}  range",
            "stream", "new", "fetched", "pages"
        ),
    );
    for r in &s.streams {
        let range = match (r.oldest, r.newest) {
            (Some(a), Some(b)) => format!("{} .. {}", a.format("%Y-%m-%d %H:%M"), b.format("%Y-%m-%d %H:%M")),
            _ => "-".into(),
        };
        say(
            settings,
            format!(
                "{:<28} {:>8} {:>9} {:>8}  {range}",
                r.stream, r.new, r.fetched, r.pages
            ),
        );
        for w in &r.warnings {
            warn(format!("{}: {w}", r.stream));
        }
    }
    for w in &s.warnings {
        warn(w);
    }
    if let Some(a) = &s.archive {
        say(
            settings,
            format!(
                "{:<28} {:>8} {:>9} {:>8}  quarters done: {} pending: {}",
                "bills-history-archive",
                a.new,
                a.rows,
                "-",
                if a.quarters_done.is_empty() {
                    "-".into()
                } else {
                    a.quarters_done.join(",")
                },
                if a.quarters_pending.is_empty() {
                    "-".into()
                } else {
                    a.quarters_pending.join(",")
                }
            ),
        );
        for n in &a.notes {
            warn(n);
        }
    }
    say(
        settings,
        format!(
            "store totals: {}",
            s.store_counts
                .iter()
                .map(|(kind, n)| format!("{n} {kind}"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    );
    for (name, e) in s
        .endpoints
        .iter()
        .filter(|(_, e)| e.retries > 0 || e.rate_limited > 0)
    {
        say(
            settings,
            format!(
                "{name}: {} requests, {} retries, {} rate-limited",
                e.requests, e.retries, e.rate_limited
            ),
        );
    }
    let waited: f64 = s.endpoints.values().map(|e| e.limit_wait_seconds).sum();
    super::summary(format!(
        "sync: {} new records ({} fetched) in {:.1}s; {} requests, {} retries, {} rate-limited, {:.1}s of pacing waits summed over streams",
        s.totals.new_records,
        s.totals.fetched_records,
        s.elapsed_seconds,
        s.totals.requests,
        s.totals.retries,
        s.totals.rate_limited,
        waited
    ));
}

/// Runs a sync for `settings` and returns the summary (also written as
/// `sync-summary.json` in the data dir).
pub async fn run(settings: &Settings, args: &SyncArgs) -> Result<(Exit, SyncSummary)> {
    let opts = options(args)?;
    let creds = settings.credentials()?;
    run_with(settings, creds, opts).await
}

pub async fn run_with(
    settings: &Settings,
    creds: crate::secret::Credentials,
    opts: SyncOptions,
) -> Result<(Exit, SyncSummary)> {
    let _lock = Store::lock(&settings.data_dir)?;
    let store = Store::open(&settings.data_dir)?;
    let client = super::client(settings, Some(creds))?;
    super::check_key::verify(&client, settings, false).await?;
    let store = Arc::new(Mutex::new(store));
    let progress = Bars::for_stderr(settings.progress);
    let result = crate::sync::sync(client, store.clone(), &opts, progress).await;
    let (summary, err) = match result {
        Ok(s) => (s, None),
        Err(e) => match e.downcast::<SyncFailed>() {
            Ok(failed) => (*failed.summary, Some(failed.source)),
            Err(e) => return Err(e),
        },
    };
    let json = serde_json::to_value(&summary)?;
    write_json_atomic(&settings.data_dir.join("sync-summary.json"), &json)
        .context("writing sync-summary.json")?;
    store.lock().expect("store lock").record_run(
        summary.started_at,
        if err.is_none() { "ok" } else { "failed" },
        &json.to_string(),
    )?;
    print_summary(settings, &summary);
    match err {
        Some(e) => Err(e),
        None => Ok((Exit::Success, summary)),
    }
}
