//! The fleet's status page (`status --all --html FILE`): the same rows as the table and
//! `--json`, as one self-contained page in the report's style (the same CSS, script and
//! Content-Security-Policy: it loads nothing). A verdict on top (how many profiles are
//! complete), then one table row per profile with its state, the reason and the fix in
//! full.

use super::status::{ClientStatus, State};
use super::table;
use crate::report::html;
use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use maud::{Markup, PreEscaped, html};
use std::io::Write as _;
use std::path::Path;

fn when(t: Option<DateTime<Utc>>) -> String {
    t.map_or_else(|| "—".into(), |t| t.format("%Y-%m-%d %H:%M UTC").to_string())
}

/// The page of `rows`, generated at `now`.
pub fn render(rows: &[ClientStatus], now: DateTime<Utc>) -> String {
    page(rows, now, html::CSS, html::JS, &html::csp()).into_string()
}

fn page(rows: &[ClientStatus], now: DateTime<Utc>, css: &str, js: &str, csp: &str) -> Markup {
    let complete = rows.iter().filter(|r| r.state == State::Complete).count();
    let all_good = complete == rows.len();
    let title = format!("okx-export: {} profiles", rows.len());
    html! {
        (maud::DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta http-equiv="Content-Security-Policy" content=(csp);
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="color-scheme" content="light dark";
                meta name="generator" content={"okx-export " (env!("CARGO_PKG_VERSION"))};
                title { (title) }
                style { (PreEscaped(css)) }
            }
            body {
                header { h1 { (title) } }
                main {
                    section #verdict {
                        h2 { "Verdict" }
                        div.verdict.(if all_good { "good" } else { "bad" }) {
                            p.big #verdict-word { (if all_good { "all complete" } else { "attention needed" }) }
                            p #totals { (table::totals(rows)) }
                        }
                    }
                    section #profiles {
                        h2 { "Profiles" }
                        table {
                            thead { tr {
                                th { "profile" } th { "uid" } th { "account" } th { "last successful sync" } th { "age" }
                                th.r { "rows without a value" } th { "key problems" } th { "state" } th { "problem and fix" }
                            } }
                            tbody {
                                @for r in rows { (row(r)) }
                            }
                        }
                        p.note { "Times are UTC. A profile is stale when its last successful sync is older than --stale-after; the data dirs hold each profile's store, files and last-run.log." }
                    }
                }
                footer {
                    "Written by okx-export " (env!("CARGO_PKG_VERSION")) " at " (when(Some(now))) ". This page loads nothing."
                }
                script { (PreEscaped(js)) }
            }
        }
    }
}

fn row(r: &ClientStatus) -> Markup {
    let bad = r.state != State::Complete;
    let keys: Vec<&str> = r.key_problems.iter().map(|p| p.label()).collect();
    html! {
        tr.(if bad { "bad" } else { "" }) data-profile=(r.profile) data-state=(r.state.as_str()) {
            td { b { (r.profile) } br; small.note { (r.data_dir.display()) } }
            td.num { (r.uid.as_deref().unwrap_or("—")) }
            td { (r.account.unwrap_or("—")) }
            td.num { (when(r.last_sync)) }
            td.num { (r.age_seconds.map_or_else(|| "—".into(), crate::fleet::status::age)) }
            td.r.num { (r.rows_without_value.map_or_else(|| "—".into(), |n| n.to_string())) }
            td { (if keys.is_empty() { "—".to_string() } else { keys.join(", ") }) }
            td { span.st.(if r.state == State::Failed { "failed" } else { "" }) { (r.state.as_str()) } }
            td.steps {
                @if let Some(p) = &r.problem { (p) }
                @if let Some(f) = &r.fix { br; span.fix { "Fix: " (f) } }
                @for m in r.missing.iter().skip(1) { br; small { (m) } }
            }
        }
    }
}

/// Writes the page to `path` (temp file, then renamed into place).
pub fn write(path: &Path, rows: &[ClientStatus], now: DateTime<Utc>) -> Result<()> {
    let err = || format!("failed to write `{}`", path.display());
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(dir).with_context(err)?;
    let mut file = tempfile::Builder::new()
        .prefix(".status.html.")
        .tempfile_in(dir)
        .with_context(err)?;
    file.write_all(render(rows, now).as_bytes()).with_context(err)?;
    file.as_file().sync_all().with_context(err)?;
    file.persist(path).map_err(|e| e.error).with_context(err)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fleet::KeyProblem;

    #[test]
    fn every_profile_with_its_state_and_fix_and_nothing_loaded() {
        let mut ok = ClientStatus::read(
            "a",
            Path::new("/nonexistent/a"),
            &crate::fleet::status::StatusContext {
                now: Utc::now(),
                stale_after: std::time::Duration::from_secs(60),
                profiles: Vec::new(),
            },
        );
        ok.state = State::Complete;
        ok.problem = None;
        ok.fix = None;
        let mut bad = ok.clone();
        bad.profile = "b<script>".into();
        bad.state = State::Failed;
        bad.problem = Some("OKX rejected the credentials (code 50111)".into());
        bad.fix = Some("create a new read-only key".into());
        bad.key_problems = vec![KeyProblem::Revoked];
        let html = render(&[ok, bad], Utc::now());
        assert!(
            html.contains("data-profile=\"a\" data-state=\"complete\""),
            "{html}"
        );
        assert!(html.contains("data-state=\"failed\""));
        assert!(html.contains("b&lt;script&gt;"), "escaped");
        assert!(html.contains("Fix: create a new read-only key") && html.contains("revoked"));
        assert!(html.contains("2 profiles: 1 complete, 1 failed"));
        assert!(
            !html.contains("src=") && !html.contains("href=\"http"),
            "loads nothing"
        );
    }
}
