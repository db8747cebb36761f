//! The page's markup (maud): one function per section, in the order the page shows them.
//! Every total that `tax-summary.csv` holds is printed exactly (the CSV's digits) in an
//! element with `data-tax="section/item"`, so a browser test can read it back.

use super::cells::{money, num};
use super::guide;
use super::svg;
use super::totals::{derivatives, disposals, fees, income};
use super::view::{self, Money};
use crate::error::Exit;
use crate::export::TaxSummary;
use crate::reconcile::{Status, check_rows};
use crate::report::{ReportOutcome, Written};
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use maud::{Markup, PreEscaped, html};

fn when(t: DateTime<Utc>, tz: Tz) -> String {
    if tz == chrono_tz::UTC {
        t.format("%Y-%m-%d %H:%M UTC").to_string()
    } else {
        format!(
            "{} ({})",
            t.with_timezone(&tz).format("%Y-%m-%d %H:%M %Z"),
            t.format("%Y-%m-%d %H:%M UTC")
        )
    }
}

fn opt_when(t: Option<DateTime<Utc>>, tz: Tz) -> String {
    t.map_or_else(|| "—".to_string(), |t| when(t, tz))
}

fn exit_meaning(e: Exit, complete: bool) -> &'static str {
    match e {
        Exit::Success if complete => "0: complete, reconciled, every row classified",
        Exit::Success => "0: written as asked (--allow-incomplete), but the period is NOT complete",
        Exit::Data => {
            "4: data problem (incomplete period, unclassified rows or a failed reconciliation); see above"
        }
        _ => "an error",
    }
}

/// A reconciliation check's status that is neither a pass nor a plain "not compared".
fn failed(status: &str) -> bool {
    !matches!(status, "ok" | "not_compared" | "opening_balance")
}

pub fn page(o: &ReportOutcome, css: &str, js: &str, csp: &str) -> Markup {
    let tz = o.period.tz;
    let fiat = o.written.as_ref().map_or("", |w| w.values.fiat.as_str());
    let title = format!(
        "OKX report {} – {}",
        o.period.from.or(o.coverage.from).map_or_else(
            || "beginning".into(),
            |t| t.with_timezone(&tz).format("%Y-%m-%d").to_string()
        ),
        o.period.to.or(o.coverage.to).map_or_else(
            || "now".into(),
            |t| t.with_timezone(&tz).format("%Y-%m-%d").to_string()
        )
    );
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
                header {
                    h1 { (title) }
                    nav {
                        @for (id, name) in [("verdict", "Verdict"), ("coverage", "Coverage"), ("holdings", "Holdings"), ("income", "Income"), ("derivatives", "Derivatives"), ("fees", "Fees"), ("disposals", "Disposals"), ("audit", "Balance audit"), ("files", "Files"), ("prices", "Prices")] {
                            a href={"#" (id)} { (name) }
                        }
                    }
                }
                main {
                    (verdict(o, fiat))
                    (coverage(o))
                    @match &o.written {
                        Some(w) => {
                            (holdings(o, w))
                            (income(w))
                            (derivatives(w))
                            (fees(w))
                            (disposals(w))
                            (audit(o, w, tz))
                            (files(o, w))
                            (prices(w))
                        }
                        None => {
                            @for (id, name) in [("holdings", "Holdings over time"), ("income", "Income"), ("derivatives", "Derivatives"), ("fees", "Fees"), ("disposals", "Disposals"), ("audit", "Balance audit"), ("files", "Files and how to import them"), ("prices", "Price appendix")] {
                                section id=(id) {
                                    h2 { (name) }
                                    p.bad { "Not computed: the store does not cover the period, so no tax file was written (see the verdict)." }
                                }
                            }
                        }
                    }
                }
                footer {
                    "Written by okx-export " (env!("CARGO_PKG_VERSION")) " at " (when(o.generated_at, chrono_tz::UTC)) ". This page loads nothing: it is the whole report."
                }
                script { (PreEscaped(js)) }
            }
        }
    }
}

fn verdict(o: &ReportOutcome, fiat: &str) -> Markup {
    let tz = o.period.tz;
    let complete = o.complete();
    html! {
        section #verdict {
            h2 { "Verdict" }
            div.verdict.(if complete { "good" } else { "bad" }) {
                p.big #verdict-word { (if complete { "complete" } else { "incomplete" }) }
                @if complete {
                    p { "The store covers every ledger (trading, funding, deposits, withdrawals, converts) for the whole period, up to the last sync." }
                } @else {
                    p { (o.coverage.missing.len()) " range(s) of the period are not in the store, and " (o.accounts.missing().count()) " sub-account(s) that hold or moved something are not in the report: the totals below miss whatever happened there." }
                    ul.missing {
                        @for m in &o.coverage.missing {
                            li { b { (m.group.name()) } " " (when(m.from, tz)) " .. " (when(m.to, tz)) ": " (m.why) ". " span.fix { "Fix: " (m.fix) } }
                        }
                        @for a in o.accounts.missing() {
                            li { b { "sub-account " (a.name) } @if let Some(u) = &a.uid { " (uid " (u) ")" } " is not in this report: it holds " (a.holds) " and moved " (a.moved) ". " span.fix { "Fix: " (a.detail) } }
                        }
                    }
                    @if o.written.is_none() {
                        p { b { "No tax file was written." } " Fix the ranges above and rerun, or pass --allow-incomplete to write them anyway (marked incomplete)." }
                    } @else {
                        p { "Written anyway (--allow-incomplete)." }
                    }
                }
            }
            dl.facts {
                @if let Some(w) = &o.written {
                    dt { "Reconciliation" }
                    @let recs = o.reconciliations();
                    @let count = |f: &dyn Fn(&crate::reconcile::ReconcileRow) -> bool| recs.iter().map(|(_, r)| r.rows.iter().filter(|x| f(x)).count()).sum::<usize>();
                    dd.(if o.reconciled() { "good" } else { "bad" }) #reconciliation-status {
                        @if o.reconciled() {
                            "ok: " (count(&|r| r.status.is_match())) " balances match OKX, "
                            (count(&|r| r.status == Status::NotCompared)) " not compared"
                            @if recs.len() > 1 { " (" (recs.len() - 1) " accounts and the group's own checks)" }
                        } @else {
                            "FAILED: " (count(&|r| r.status.is_failure())) " balance(s), "
                            (recs.iter().map(|(_, r)| r.gaps.len()).sum::<usize>()) " gap(s), "
                            (recs.iter().map(|(_, r)| r.cross.iter().filter(|c| c.status != "ok").count()).sum::<usize>()) " check(s) failed (see the balance audit)"
                        }
                    }
                    dt { "Rows without a value" }
                    dd.(if w.values.missing == 0 { "good" } else { "bad" }) {
                        (w.values.missing) " of " (w.values.valued + w.values.missing) " rows"
                        @if w.values.missing > 0 { " (listed in missing_prices.csv and the price appendix)" }
                    }
                    dt { "Unclassified rows" }
                    dd.(if w.normalized.unclassified == 0 { "good" } else { "bad" }) { (w.normalized.unclassified) }
                }
                dt { "Exit code" }
                dd { (exit_meaning(o.exit, complete)) }
                dt { "Period" }
                dd { (opt_when(o.period.from.or(o.coverage.from), tz)) " .. " (opt_when(o.period.to.or(o.coverage.to), tz)) " (end excluded)" }
                dt { "Time zone" }
                dd { (tz.name()) }
                @if !fiat.is_empty() {
                    dt { "Fiat" }
                    dd #fiat { (fiat) }
                }
                dt { "Data synced up to" }
                dd { (opt_when(o.coverage.as_of, tz)) }
                @if let Some(Some(t)) = o.written.as_ref().map(|w| w.balances_as_of) {
                    dt { "Balance snapshot" }
                    dd { (when(t, tz)) }
                }
                dt { "Tool" }
                dd { "okx-export " (env!("CARGO_PKG_VERSION")) }
                dt { "Generated" }
                dd { (when(o.generated_at, tz)) }
            }
        }
    }
}

fn coverage(o: &ReportOutcome) -> Markup {
    let c = &o.coverage;
    let from = o.period.from.or(c.from).or(c.floor);
    let to = o.period.to.or(c.to).or(c.as_of);
    html! {
        section #coverage {
            h2 { "Coverage timeline" }
            p.note { "One bar per ledger (bold) and per stream, across the period. Green: stored; red: missing (hover for the cause and the fix); orange: an archive quarter OKX is still preparing; grey: not needed for completeness (fills: the trading ledger carries every trade)." }
            @if let (Some(a), Some(b)) = (from, to) {
                (svg::timeline(a.timestamp_millis(), b.timestamp_millis(), o.period.tz, &view::timeline(c, a.timestamp_millis(), b.timestamp_millis())))
            }
            @if !c.missing.is_empty() {
                table.missing {
                    thead { tr { th { "ledger" } th { "from" } th { "to" } th { "why" } th { "fix" } } }
                    tbody {
                        @for m in &c.missing {
                            tr.bad { td { (m.group.name()) } td { (when(m.from, o.period.tz)) } td { (when(m.to, o.period.tz)) } td { (m.why) } td { (m.fix) } }
                        }
                    }
                }
            }
            details {
                summary { "Every stream and archive quarter (" (c.streams.len()) ")" }
                table {
                    thead { tr { th { "ledger" } th { "stream" } th { "from" } th { "to" } th { "ends because" } th { "detail" } } }
                    tbody {
                        @for s in &c.streams {
                            tr { td { (s.group.name()) } td { (s.stream) } td { @if s.unbounded { "beginning" } @else { (opt_when(s.from, chrono_tz::UTC)) } } td { (opt_when(s.to, chrono_tz::UTC)) } td { (s.end_reason) } td { (s.detail) } }
                        }
                    }
                }
            }
        }
    }
}

fn holdings_table(title: &str, section: &str, at: DateTime<Utc>, tz: Tz, tax: Option<&TaxSummary>) -> Markup {
    let Some(tax) = tax else {
        return html! {};
    };
    let lines = view::lines(tax, section);
    html! {
        div.half {
            h3 { (title) " at " (when(at, tz)) }
            table {
                thead { tr { th { "account" } th { "asset" } th.r { "balance" } th.r { "value" } } }
                tbody {
                    @for (item, asset, l) in &lines {
                        tr { td { (item) } td { (asset) } td.r { (num(l.amount)) } td.r { (money(Some(Money::of(l)), None)) } }
                    }
                    @if lines.is_empty() {
                        tr { td colspan="4" { "nothing held" } }
                    }
                }
                tfoot {
                    @for item in ["trading", "funding"] {
                        @if let Some(t) = view::total(tax, section, item) {
                            tr { th colspan="3" { (item) " total" } td.r { (money(Some(t), Some(&format!("{section}/{item}")))) } }
                        }
                    }
                }
            }
        }
    }
}

fn holdings(o: &ReportOutcome, w: &Written) -> Markup {
    let tz = o.period.tz;
    let fiat = w.values.fiat.as_str();
    html! {
        section #holdings {
            h2 { "Holdings over time" }
            @if let Some(s) = &w.series {
                @let (xs, bands) = view::holdings_bands(s);
                @let unpriced = s.points.iter().flat_map(|(_, h)| h).filter(|h| h.value.is_none()).count();
                p.note { "Trading and funding holdings at the start of each " @if s.step_days > 1 { (s.step_days) " days" } @else { "day" } " (" (tz.name()) "), from the ledgers' running balances, valued in " (fiat) " by the report's valuer (the same valuation as the closing holdings). "
                    @if unpriced > 0 { (unpriced) " holding-day(s) have no price in the cache at that instant: the chart bridges them from the nearest priced days (marked ▲ under the axis); the tables hold only exact values." } }
                (svg::stacked_area(&xs, tz, &bands, fiat))
                ul.legend {
                    @for (i, (label, _)) in bands.iter().enumerate() {
                        li { span class={"sw c" (i % 10)} {} (label) }
                    }
                }
            } @else {
                p.note { "No chart: the period has no start or end." }
            }
            div.pair {
                @if let Some((at, _)) = &w.opening {
                    (holdings_table("Opening holdings", "holdings_opening", *at, tz, w.tax.as_ref()))
                }
                @if let Some((at, _)) = &w.closing {
                    (holdings_table("Closing holdings", "holdings_closing", *at, tz, w.tax.as_ref()))
                }
            }
        }
    }
}

fn audit(o: &ReportOutcome, w: &Written, tz: Tz) -> Markup {
    let recs = o.reconciliations();
    // In a group each member's lines name it; the group's own checks have no profile.
    let who = |profile: &str, account: &str| match (profile, account) {
        ("", a) => a.to_string(),
        (p, "") => p.to_string(),
        (p, a) => format!("{p}/{a}"),
    };
    let mut checks: Vec<(&str, crate::reconcile::CheckRow)> = recs
        .iter()
        .flat_map(|(p, r)| check_rows(r).into_iter().map(move |c| (*p, c)))
        .collect();
    checks.sort_by_key(|(_, c)| (!failed(&c.status), c.status != "not_compared"));
    let not_ok = checks.iter().filter(|(_, c)| failed(&c.status)).count();
    let shown = checks.len().min(view::MAX_ROWS);
    html! {
        section #audit {
            h2 { "Balance audit" }
            p.note { "Per account and asset: the balance computed from the stored ledger (its running balance) beside the balance OKX reports, then every reconciliation check. A gap means history is missing between two ledger rows." }
            table {
                thead { tr { th { "account" } th { "asset" } th.r { "computed" } th.r { "OKX reports" } th.r { "difference" } th { "status" } th { "note" } } }
                tbody {
                    @for (p, rec) in &recs {
                        @for r in &rec.rows {
                            tr.(if r.status.is_failure() { "bad" } else { "" }) {
                                td { (who(p, r.account.as_str())) } td { (r.asset) } td.r { (num(r.computed)) }
                                td.r { @if let Some(x) = r.reported { (num(x)) } @else { "—" } }
                                td.r { @if let Some(x) = r.difference { (num(x)) } @else { "—" } }
                                td { span class={"st " (r.status.as_str())} { (r.status.as_str()) } }
                                td { (r.reason.unwrap_or_default()) }
                            }
                        }
                    }
                }
            }
            (not_booked(w, tz))
            @if recs.iter().any(|(_, r)| !r.gaps.is_empty()) {
                h3 { "Gaps in the ledgers" }
                ul.missing {
                    @for (p, g) in recs.iter().flat_map(|(p, r)| r.gaps.iter().map(move |g| (*p, g))).take(view::MAX_ROWS) {
                        li { (who(p, g.account.as_str())) " " (g.asset) ": history missing between " (when(g.from, tz)) " and " (when(g.to, tz)) }
                    }
                }
            }
            details open[not_ok > 0] {
                summary { "Reconciliation checks (" (checks.len()) ", " (not_ok) " failed)" }
                table {
                    thead { tr { th { "check" } th { "account" } th { "asset" } th { "status" } th { "detail" } } }
                    tbody {
                        @for (p, c) in &checks[..shown] {
                            tr.(if failed(&c.status) { "bad" } else { "" }) { td { (c.check) } td { (who(p, &c.account)) } td { (c.asset) } td { span class={"st " (c.status)} { (c.status) } } td { (c.detail) } }
                        }
                    }
                }
                @if shown < checks.len() { p.note { (checks.len() - shown) " more in reconciliation.csv." } }
            }
        }
    }
}

/// Deposits and withdrawals OKX reports that are not in the ledgers (pending, failed,
/// canceled): not booked, listed so a reader knows they were seen.
fn not_booked(w: &Written, tz: Tz) -> Markup {
    let s = &w.normalized;
    let items: Vec<(&str, &crate::normalize::PendingItem)> = [
        ("pending deposit", &s.pending_deposits),
        ("pending withdrawal", &s.pending_withdrawals),
        ("failed or canceled", &s.failed_or_canceled),
    ]
    .into_iter()
    .flat_map(|(what, v)| v.iter().map(move |p| (what, p)))
    .collect();
    html! {
        @if !items.is_empty() {
            h3 { "Seen but not booked" }
            p.note { "OKX lists these deposits and withdrawals, but they moved no balance in the period (still pending, failed or canceled), so no file books them." }
            table {
                thead { tr { th { "what" } th { "id" } th { "time" } th.r { "amount" } th { "asset" } th { "state" } } }
                tbody {
                    @for (what, p) in items.iter().take(view::MAX_ROWS) {
                        tr { td { (what) } td { (p.id) } td { (opt_when(p.time, tz)) } td.r { (num(p.amount)) } td { (p.asset) } td { (p.state) " " (p.state_text) } }
                    }
                }
            }
        }
    }
}

fn files(o: &ReportOutcome, w: &Written) -> Markup {
    let name = |p: &std::path::Path| {
        p.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    };
    let tax_files: Vec<String> = w.exported.paths().map(name).collect();
    html! {
        section #files {
            h2 { "Files and how to import them" }
            table.files {
                thead { tr { th { "file" } th { "for" } th.r { "records" } th { "left out" } th { "how to import" } } }
                tbody {
                    @for f in &w.exported.formats {
                        @let (tool, steps) = guide::import(f.format);
                        tr {
                            td { @for p in &f.paths { a href=(name(p)) { (name(p)) } br; } }
                            td { (tool) }
                            td.r { (f.records) small { br; "(" (f.exported) " transactions)" } }
                            td {
                                @if f.skipped() == 0 { "nothing" } @else {
                                    @if f.skipped_transfers > 0 { (f.skipped_transfers) " transfers between your own accounts" br; }
                                    @if f.skipped_unclassified > 0 { span.bad { (f.skipped_unclassified) " unclassified (only in transactions.csv)" } br; }
                                    @if f.skipped_other > 0 { (f.skipped_other) " the format cannot represent" }
                                }
                            }
                            td.steps { (steps) }
                        }
                    }
                }
            }
            h3 { "The other files" }
            ul {
                @for p in o.files.iter().filter(|p| !tax_files.contains(&name(p))) {
                    li { a href=(name(p)) { (name(p)) } @if let Some(d) = guide::other_file(&name(p)) { ": " (d) } }
                }
            }
        }
    }
}

fn prices(w: &Written) -> Markup {
    let groups = view::price_groups(&w.prices);
    let shown: usize = groups.iter().map(|g| g.shown.len()).sum();
    let missing = &w.prices.missing;
    html! {
        section #prices {
            h2 { "Price appendix" }
            p.note { "Every unit price the values above were found with, in " (w.values.fiat) ", per asset: the minute it prices (UTC), the price and its source (instrument, candle and field, e.g. index:BTC-USD:1m:close; route: a pair times its quote's price; ecb: the ECB reference rate; file: --prices)." }
            @if w.prices.used.is_empty() {
                p { "This report's valuer keeps no list of prices." }
            } @else {
                @if shown < w.prices.used.len() {
                    p.note { "Showing " (shown) " of " (w.prices.used.len()) " prices, evenly spread per asset; every row's value and price_source are in transactions.csv." }
                }
                p.noprint { button type="button" #expand { "expand all" } " " button type="button" #collapse { "collapse all" } }
                @for g in &groups {
                    details.prices {
                        summary { b { (g.asset) } " — " (g.total) " price(s): " @for (i, (src, n)) in g.sources.iter().enumerate() { @if i > 0 { ", " } code { (src) } " ×" (n) } }
                        table {
                            thead { tr { th { "minute (UTC)" } th.r { "price" } th { "source" } } }
                            tbody {
                                @for (m, p, s) in &g.shown {
                                    tr { td { (DateTime::<Utc>::from_timestamp_millis(*m).map(|t| t.format("%Y-%m-%d %H:%M").to_string()).unwrap_or_default()) } td.r { (num(*p)) } td { code { (s) } } }
                                }
                            }
                        }
                    }
                }
            }
            h3 { "Rows without a price" }
            @if missing.is_empty() {
                p.good { "None: every row has a value." }
            } @else {
                table {
                    thead { tr { th { "asset" } th { "minute (UTC)" } th.r { "rows" } th { "why" } } }
                    tbody {
                        @for m in missing.iter().take(view::MAX_ROWS) {
                            tr.bad { td { (m.asset) } td { (DateTime::<Utc>::from_timestamp_millis(m.minute).map(|t| t.format("%Y-%m-%d %H:%M").to_string()).unwrap_or_default()) } td.r { (m.row_ids.len()) } td { (m.why) } }
                        }
                    }
                }
                @if missing.len() > view::MAX_ROWS { p.note { (missing.len() - view::MAX_ROWS) " more in missing_prices.csv." } }
            }
        }
    }
}
