//! `status`: what the store holds. Every line fits [`WIDTH`] columns; a closed stdout
//! (`status | head -1`) ends it quietly.

use super::runner::{self, Member};
use super::say;
use crate::cli::StatusArgs;
use crate::console::{Console, wrap_lines};
use crate::error::{Exit, usage};
use crate::fleet::status::{ClientStatus, State, StatusContext};
use crate::settings::Settings;
use crate::store::Store;
use crate::sync::quarter::quarter_runs;
use anyhow::Result;
use chrono::Utc;
use std::path::PathBuf;

/// Widest line `status` prints.
pub const WIDTH: usize = 100;

/// Says `text`, wrapped to [`WIDTH`] with continuation lines indented by `indent`.
fn say_wrapped(settings: &Settings, text: &str, indent: &str) {
    for l in wrap_lines(text, WIDTH, indent) {
        say(settings, l);
    }
}

/// Says `text` indented by `indent`, every line, within [`WIDTH`].
fn say_indented(settings: &Settings, text: &str, indent: &str) {
    for l in wrap_lines(text, WIDTH - indent.chars().count(), "") {
        say(settings, format!("{indent}{l}"));
    }
}

/// `-` for an empty list, else the quarters as runs (`2021Q1–2025Q2, 2025Q4`).
fn runs(quarters: &[String]) -> String {
    if quarters.is_empty() {
        "-".into()
    } else {
        quarter_runs(quarters).join(", ")
    }
}

pub fn run(settings: &Settings) -> Result<Exit> {
    if !settings.data_dir.join(Store::FILE).exists() {
        return Err(usage(format!(
            "no store in `{}` yet; run `okx-export sync` first (or pass --data-dir)",
            settings.data_dir.display()
        )));
    }
    let store = Store::open(&settings.data_dir)?;
    say(settings, format!("store: {}", store.path().display()));
    match store.last_run()? {
        Some(crate::store::RunInfo {
            started_at: started,
            finished_at: finished,
            status,
        }) => say(
            settings,
            format!(
                "last sync: {} ({status}{})",
                started.format("%Y-%m-%d %H:%M:%S UTC"),
                finished
                    .map(|f| format!(", {:.0}s", (f - started).as_seconds_f64()))
                    .unwrap_or_default()
            ),
        ),
        None => say(settings, "last sync: never"),
    }
    match store.price_home()? {
        Some(h) => say(
            settings,
            format!(
                "prices: fetched from {} into {} (as of {})",
                h.host,
                h.cache.display(),
                h.fetched_at.format("%Y-%m-%d %H:%M:%S UTC")
            ),
        ),
        None => say(settings, "prices: never fetched (run `okx-export prices`)"),
    }
    say(settings, format!("{:<14} {:>9}  range", "records", "count"));
    for k in store.kind_stats()? {
        let range = match (k.oldest, k.newest) {
            (Some(a), Some(b)) if k.count > 0 && a.timestamp_millis() > 0 => {
                format!("{} .. {}", a.format("%Y-%m-%d"), b.format("%Y-%m-%d"))
            }
            _ => "-".into(),
        };
        say(
            settings,
            format!("{:<14} {:>9}  {range}", k.kind.as_str(), k.count),
        );
    }
    let counts = store.stream_counts()?;
    say(
        settings,
        format!("{:<28} {:>8}  {:<9} updated", "stream", "records", "state"),
    );
    for crate::store::CursorInfo {
        stream,
        state,
        updated_at: updated,
    } in store.cursors()?
    {
        let phase = serde_json::from_str::<serde_json::Value>(&state)
            .ok()
            .and_then(|v| v.get("phase").and_then(|p| p.as_str()).map(str::to_string))
            .unwrap_or_else(|| "?".into());
        let phase = if phase == "idle" {
            "complete".to_string()
        } else {
            "resumable".to_string()
        };
        say(
            settings,
            format!(
                "{:<28} {:>8}  {:<9} {}",
                stream,
                counts.get(&stream).copied().unwrap_or(0),
                phase,
                updated
                    .map(|u| u.format("%Y-%m-%d %H:%M").to_string())
                    .unwrap_or_default()
            ),
        );
    }
    // Streams without a cursor: archive quarter files and instruments.
    let with_cursor: std::collections::BTreeSet<String> =
        store.cursors()?.into_iter().map(|c| c.stream).collect();
    for (stream, n) in counts.iter().filter(|(s, _)| !with_cursor.contains(*s)) {
        say(settings, format!("{stream:<28} {n:>8}  stored"));
    }
    let quarters = store.quarters()?;
    let done: Vec<_> = quarters
        .iter()
        .filter(|q| q.state == "done")
        .map(|q| q.quarter.clone())
        .collect();
    let skipped: Vec<_> = quarters
        .iter()
        .filter(|q| q.state == crate::sync::plan::QUARTER_SKIPPED)
        .map(|q| q.quarter.clone())
        .collect();
    let given_up = |q: &&crate::store::QuarterState| {
        matches!(
            q.state.as_str(),
            crate::sync::archive::QUARTER_FAILED | crate::sync::archive::QUARTER_REFUSED
        )
    };
    let pending: Vec<_> = quarters
        .iter()
        .filter(|q| q.state != "done" && q.state != crate::sync::plan::QUARTER_SKIPPED && !given_up(q))
        .map(|q| format!("{} ({})", q.quarter, q.state))
        .collect();
    let failed: Vec<_> = quarters
        .iter()
        .filter(given_up)
        .map(|q| match &q.detail {
            Some(d) if !d.is_empty() => format!("{} ({}: {d})", q.quarter, q.state),
            _ => format!("{} ({})", q.quarter, q.state),
        })
        .collect();
    say_wrapped(
        settings,
        &format!("archive quarters fetched: {}", runs(&done)),
        "  ",
    );
    say_wrapped(
        settings,
        &format!(
            "archive quarters pending: {}",
            if pending.is_empty() {
                "-".into()
            } else {
                pending.join(", ")
            }
        ),
        "  ",
    );
    if !failed.is_empty() {
        say_wrapped(
            settings,
            &format!(
                "archive quarters failed or refused (the next `okx-export sync` applies for them again): {}",
                failed.join("; ")
            ),
            "  ",
        );
    }
    if !skipped.is_empty() {
        say_wrapped(
            settings,
            &format!(
                "archive quarters not applied for (before the account's first activity): {}",
                runs(&skipped)
            ),
            "  ",
        );
    }
    print_coverage(settings, &store)?;
    let identity = store.identity()?;
    let member = crate::report::accounts::Member {
        profile: &settings.profile,
        store: &store,
        identity: identity.as_ref(),
    };
    print_accounts(settings, &[member], None)?;
    Ok(Exit::Success)
}

/// The accounts of `members` and the sub-accounts of a master among them (whole history):
/// which are in, which are left out (see [`crate::report::accounts`]).
fn print_accounts(
    settings: &Settings,
    members: &[crate::report::accounts::Member],
    group: Option<&str>,
) -> Result<()> {
    let mut masters = false;
    for m in members {
        masters |= m.store.sub_accounts()?.is_some_and(|l| !l.subs.is_empty());
    }
    let ctx = crate::report::AccountsContext {
        group: group.map(str::to_string),
        // Only a master with sub-accounts needs to know which profile holds which key.
        profiles: if masters {
            super::subaccounts::profile_uids(settings)?
        } else {
            Vec::new()
        },
    };
    let acc = crate::report::accounts::check(members, &ctx, None, None)?;
    super::subaccounts::print_accounts(settings, &acc);
    for line in super::subaccounts::missing_accounts(&acc) {
        settings.console.warning(format!("incomplete: {line}"));
    }
    let n = acc.missing().count();
    if n > 0 {
        say(
            settings,
            format!(
                "accounts: {n} sub-account(s) left out: a report of these accounts is incomplete until they are added (see above)"
            ),
        );
    } else if acc.lines.len() > members.len() {
        say(
            settings,
            "accounts: every sub-account that holds or moved anything is covered",
        );
    }
    Ok(())
}

/// `status --group NAME`: each member's status (its lines prefixed), then the group's
/// accounts.
pub fn run_group(group: &super::runner::Group) -> Result<Exit> {
    let mut stores = Vec::new();
    for m in &group.members {
        run(&m.settings)?;
        stores.push(Store::open(&m.settings.data_dir)?);
    }
    let ids: Vec<Option<crate::store::Identity>> =
        stores.iter().map(Store::identity).collect::<Result<_>>()?;
    let members: Vec<crate::report::accounts::Member> = group
        .members
        .iter()
        .zip(&stores)
        .zip(&ids)
        .map(|((m, store), id)| crate::report::accounts::Member {
            profile: &m.name,
            store,
            identity: id.as_ref(),
        })
        .collect();
    let settings = group.settings();
    say(&settings, format!("group `{}`:", group.name));
    print_accounts(&settings, &members, Some(&group.name))?;
    Ok(Exit::Success)
}

/// The coverage table: per group, each stream and archive quarter with the range covered
/// and why it ends; a run of quarters before the account's first activity is one row.
/// Details that are not the reason's own words go on the next line.
fn print_coverage(settings: &Settings, store: &Store) -> Result<()> {
    let cov = crate::coverage::check(store, None, None)?;
    let day = |t: Option<chrono::DateTime<chrono::Utc>>| {
        t.map_or_else(|| "-".into(), |t| t.format("%Y-%m-%d %H:%M").to_string())
    };
    say(
        settings,
        format!(
            "coverage (floor {}, as of the last sync {}):",
            cov.floor
                .map_or_else(|| "not set".into(), |f| f.format("%Y-%m-%d").to_string()),
            day(cov.as_of)
        ),
    );
    let rows = merged_rows(&cov.streams);
    let width = rows
        .iter()
        .map(|r| r.stream.chars().count())
        .max()
        .unwrap_or(0)
        .max(6);
    say(
        settings,
        format!(
            "    {:<width$} {:<16}   {:<16}  ends because",
            "stream", "from", "to"
        ),
    );
    let mut group = None;
    for r in &rows {
        if group != Some(r.group.name()) {
            group = Some(r.group.name());
            say(settings, format!("  {}:", r.group.name()));
        }
        let from = if r.unbounded {
            "beginning".to_string()
        } else {
            day(r.from)
        };
        say(
            settings,
            format!(
                "    {:<width$} {from:<16} – {:<16}  {}",
                r.stream,
                day(r.to),
                r.end_reason
            ),
        );
        if !r.detail.is_empty() && !generic_detail(&r.end_reason) {
            say_indented(settings, &r.detail, "        ");
        }
    }
    if cov.complete() {
        say(settings, "coverage: complete from the floor to the last sync");
    } else {
        for m in &cov.missing {
            say_wrapped(settings, &format!("missing: {m}"), "  ");
        }
    }
    Ok(())
}

/// Reasons whose detail only repeats what the reason says.
fn generic_detail(reason: &str) -> bool {
    matches!(
        reason,
        "api_window" | "api_exhausted" | "quarter_done" | "quarter_before_activity"
    )
}

/// The coverage rows, consecutive quarters before the first activity merged into one.
fn merged_rows(rows: &[crate::coverage::StreamCoverage]) -> Vec<crate::coverage::StreamCoverage> {
    const BEFORE: &str = "quarter_before_activity";
    let mut out: Vec<crate::coverage::StreamCoverage> = Vec::new();
    let mut run: Vec<&crate::coverage::StreamCoverage> = Vec::new();
    let flush = |run: &mut Vec<&crate::coverage::StreamCoverage>, out: &mut Vec<_>| {
        if run.is_empty() {
            return;
        }
        let mut first = run[0].clone();
        let labels: Vec<String> = run
            .iter()
            .filter_map(|r| r.stream.rsplit('/').next().map(str::to_string))
            .collect();
        if run.len() > 1 {
            let prefix = first.stream.rsplit_once('/').map_or("", |(p, _)| p).to_string();
            first.stream = format!("{prefix}/{}", quarter_runs(&labels).join(","));
            first.from = run.iter().filter_map(|r| r.from).min();
            first.to = run.iter().filter_map(|r| r.to).max();
        }
        out.push(first);
        run.clear();
    };
    for r in rows {
        if r.end_reason == BEFORE {
            run.push(r);
        } else {
            flush(&mut run, &mut out);
            out.push(r.clone());
        }
    }
    flush(&mut run, &mut out);
    out
}

/// `status` as one row per profile of `profiles` (a table, `--json` or `--html`); the
/// exit is the worst row's (see [`crate::fleet::status`]).
pub fn status_rows(
    terminal: &Console,
    profiles: &[(String, PathBuf)],
    uids: Vec<(String, Option<String>)>,
    args: &StatusArgs,
) -> Result<Exit> {
    let ctx = StatusContext {
        now: Utc::now(),
        stale_after: args.stale_after,
        profiles: uids,
    };
    let rows = read_rows(profiles, &ctx);
    if let Some(path) = &args.html {
        crate::fleet::html::write(path, &rows, ctx.now)?;
        terminal.out(format!(
            "status: {} profiles written to {}",
            rows.len(),
            path.display()
        ));
    }
    if args.json {
        let text = serde_json::to_string_pretty(&rows)?;
        std::io::Write::write_all(&mut std::io::stdout().lock(), format!("{text}\n").as_bytes())?;
    } else if terminal.quiet() {
        for r in rows.iter().filter(|r| r.state != State::Complete) {
            let what = match (&r.problem, &r.fix) {
                (Some(p), Some(f)) => format!("{p}; fix: {f}"),
                (Some(p), None) => p.clone(),
                _ => String::new(),
            };
            terminal.error(format!("{}: {}: {what}", r.profile, r.state.as_str()));
        }
    } else {
        for l in crate::fleet::table::lines(&rows) {
            terminal.out(l);
        }
    }
    let exit = rows
        .iter()
        .map(|r| crate::fleet::exit_of(r.exit))
        .max_by_key(|e| runner::severity(*e))
        .unwrap_or(Exit::Success);
    Ok(exit)
}

/// The rows, read on every core (each opens its store and checks its coverage).
fn read_rows(profiles: &[(String, PathBuf)], ctx: &StatusContext) -> Vec<ClientStatus> {
    let threads = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    let chunk = profiles.len().div_ceil(threads).max(1);
    std::thread::scope(|scope| {
        let parts: Vec<_> = profiles
            .chunks(chunk)
            .map(|part| {
                scope.spawn(move || {
                    part.iter()
                        .map(|(name, dir)| ClientStatus::read(name, dir, ctx))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        parts
            .into_iter()
            .flat_map(|h| h.join().expect("reading a profile's status"))
            .collect()
    })
}

/// `status --json/--html` for one profile or a group's members.
pub fn status_table(settings: &Settings, members: &[Member], args: &StatusArgs) -> Result<Exit> {
    let profiles: Vec<(String, PathBuf)> = members
        .iter()
        .map(|m| (m.name.clone(), m.settings.data_dir.clone()))
        .collect();
    let uids = super::subaccounts::profile_uids(settings)?;
    status_rows(&settings.console, &profiles, uids, args)
}
