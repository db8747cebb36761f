//! `report.html` in a real browser (issue 21): headless Chromium (Debian's `chromium`,
//! driven by playwright-core through `scripts/browser-check.sh`) opens the page that
//! `okx-export demo` writes and reports what it rendered, read from the DOM after
//! rendering. The page must render without a console message or page error, make no
//! request but the file itself (every other request is recorded and refused), show every
//! section in order, and show each `tax-summary.csv` total with the CSV's exact digits; it
//! must follow the reader's dark preference and print with a page break before each
//! section. A screenshot of the first page is written to `target/report-html/`.
//!
//! A report of a period the store does not fully cover (2025, before the demo's floor
//! 2025-07-01) must say "incomplete" in red and show the missing range on the timeline,
//! with and without `--allow-incomplete`.
//!
//! Needs `scripts/browser-check.sh install` (chromium and playwright-core). Without them
//! the tests print SKIPPED, except under `CI`, where they fail.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

const BIN: &str = env!("CARGO_BIN_EXE_okx-export");

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Where the tests keep their runs and screenshots.
fn work() -> PathBuf {
    repo().join("target/report-html")
}

/// Prints to the real stderr: libtest captures `eprintln!` of passing tests, not this.
fn visible(msg: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "{msg}");
}

/// `true` when chromium and playwright-core are installed. Otherwise fails under CI, or
/// prints a skip notice.
fn browser_available() -> bool {
    let chromium =
        std::env::var_os("CHROMIUM").map_or_else(|| PathBuf::from("/usr/bin/chromium"), PathBuf::from);
    let prefix = std::env::var_os("BROWSER_CHECK_PREFIX")
        .map_or_else(|| repo().join("target/browser-check"), PathBuf::from);
    let driver = prefix.join("node_modules/playwright-core/package.json");
    if chromium.is_file() && driver.is_file() {
        return true;
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "chromium ({}) or playwright-core ({}) missing: `.ci/run` must install them first (`scripts/browser-check.sh install`)",
        chromium.display(),
        driver.display()
    );
    visible("SKIPPED: chromium or playwright-core not installed, run scripts/browser-check.sh install");
    false
}

/// Runs the binary; panics with its output unless it exits `code`.
fn okx_export(args: &[&str], code: i32) -> String {
    let out = Command::new(BIN)
        .args(args)
        .current_dir(repo())
        .env("NO_COLOR", "1")
        // Reports of the demo's store read the demo's price cache (the demo itself keeps
        // its simulated prices in its own directory whatever this says).
        .env("OKX_EXPORT_PRICE_CACHE", work().join("demo/price-cache.sqlite"))
        .env_remove("OKX_API_KEY")
        .env_remove("OKX_API_SECRET")
        .env_remove("OKX_API_PASSPHRASE")
        .output()
        .expect("okx-export runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(
        out.status.code(),
        Some(code),
        "okx-export {args:?}:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// The demo, run once for all tests: its directory and its stdout.
fn demo() -> &'static (PathBuf, String) {
    static DEMO: OnceLock<(PathBuf, String)> = OnceLock::new();
    DEMO.get_or_init(|| {
        let dir = work().join("demo");
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(work()).unwrap();
        let stdout = okx_export(&["--no-progress", "demo", "--out", dir.to_str().unwrap()], 0);
        (dir, stdout)
    })
}

/// Opens `page` in chromium; the screenshot goes to `shot`. Returns what the page showed.
fn open(page: &Path, shot: &Path) -> serde_json::Value {
    let out = Command::new("bash")
        .arg(repo().join("scripts/browser-check.sh"))
        .arg("check")
        .arg(page)
        .arg(shot)
        .output()
        .expect("run scripts/browser-check.sh");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "browser-check.sh failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

/// No console message, no page error, no request but the file itself.
#[track_caller]
fn assert_offline_and_clean(seen: &serde_json::Value, page: &Path) {
    assert_eq!(seen["console"], serde_json::json!([]), "console messages");
    assert_eq!(seen["errors"], serde_json::json!([]), "page errors");
    assert_eq!(
        seen["blocked"],
        serde_json::json!([]),
        "requests leaving the file"
    );
    let url = format!("file://{}", page.canonicalize().unwrap().display());
    assert_eq!(seen["requests"], serde_json::json!([url]));
    let csp = seen["csp"].as_str().unwrap_or_default();
    assert!(csp.starts_with("default-src 'none';"), "{csp}");
    // Light and dark follow the reader's preference.
    assert_eq!(seen["background_light"], "rgb(255, 255, 255)");
    assert_eq!(seen["background_dark"], "rgb(21, 24, 28)");
    // Printed: a page break before every section but the first, so at least one page each.
    let breaks: Vec<&str> = seen["print_breaks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b.as_str().unwrap())
        .collect();
    assert_eq!(breaks.len(), SECTIONS.len());
    assert!(breaks[1..].iter().all(|b| *b == "page"), "{breaks:?}");
    assert!(
        seen["pdf_pages"].as_u64().unwrap() >= SECTIONS.len() as u64,
        "{}",
        seen["pdf_pages"]
    );
}

const SECTIONS: [&str; 10] = [
    "verdict",
    "coverage",
    "holdings",
    "income",
    "derivatives",
    "fees",
    "disposals",
    "audit",
    "files",
    "prices",
];

fn section_ids(seen: &serde_json::Value) -> Vec<String> {
    seen["sections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_string())
        .collect()
}

/// `tax-summary.csv`'s total lines: `section/item` → the value cell as the page shows it
/// (the CSV's digits, or `—` when the line has rows without a price).
fn csv_totals(path: &Path) -> BTreeMap<String, String> {
    let mut rdr = csv::Reader::from_path(path).unwrap();
    rdr.records()
        .map(|r| r.unwrap())
        .filter(|r| &r[2] == "*")
        .map(|r| {
            let v = if r[4].is_empty() {
                "—".to_string()
            } else {
                r[4].to_string()
            };
            (format!("{}/{}", &r[0], &r[1]), v)
        })
        .collect()
}

#[test]
fn demo_report_renders_offline_with_the_csv_totals() {
    if !browser_available() {
        return;
    }
    let (dir, stdout) = demo();
    let page = dir.join("report.html");
    // The demo's last line names the page.
    assert_eq!(
        stdout.lines().last().map(str::trim),
        Some(page.to_str().unwrap()),
        "{stdout}"
    );
    let size = std::fs::metadata(&page).unwrap().len();
    visible(&format!("report.html of the demo: {size} bytes"));
    let shot = work().join("demo-first-page.png");
    let seen = open(&page, &shot);
    assert_offline_and_clean(&seen, &page);
    assert_eq!(section_ids(&seen), SECTIONS);
    assert_eq!(seen["verdict"], "complete");
    // The demo is a group of three accounts: the page counts every member's balances
    // (12 each, as the console's per-member lines say), not only the group's own checks.
    assert!(
        seen["reconciliation"]
            .as_str()
            .unwrap()
            .starts_with("ok: 36 balances match OKX, 3 not compared (3 accounts"),
        "{seen}"
    );
    assert_eq!(seen["fiat"], "USD");
    assert!(
        seen["charts"].as_u64().unwrap() >= 3,
        "timeline, holdings, income"
    );
    let dom: BTreeMap<String, String> = seen["totals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t[0].as_str().unwrap().to_string(),
                t[1].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let csv = csv_totals(&dir.join("tax-summary.csv"));
    assert!(csv.len() >= 10, "{csv:?}");
    assert_eq!(dom, csv, "the page's totals are tax-summary.csv's");
    assert!(std::fs::metadata(&shot).unwrap().len() > 10_000);
    visible(&format!("screenshot: {}", shot.display()));
}

#[test]
fn incomplete_period_is_red_with_the_missing_range() {
    if !browser_available() {
        return;
    }
    let (dir, _) = demo();
    for (name, extra, code) in [
        ("incomplete-written", Some("--allow-incomplete"), 0),
        ("incomplete-refused", None, 4),
    ] {
        let out = work().join(name);
        let _ = std::fs::remove_dir_all(&out);
        let mut args = vec![
            "--data-dir",
            dir.to_str().unwrap(),
            "report",
            "--year",
            "2025",
            "--format",
            "transactions,koinly",
            "--out",
            out.to_str().unwrap(),
        ];
        args.extend(extra);
        okx_export(&args, code);
        let page = out.join("report.html");
        let seen = open(&page, &work().join(format!("{name}.png")));
        assert_offline_and_clean(&seen, &page);
        assert_eq!(section_ids(&seen), SECTIONS, "{name}");
        assert_eq!(seen["verdict"], "incomplete", "{name}");
        // --bad in the light theme: #c5221f.
        assert_eq!(seen["verdict_color"], "rgb(197, 34, 31)", "{name}");
        let missing: Vec<&str> = seen["timeline_missing"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t.as_str().unwrap())
            .collect();
        // One red range per range summary.json calls missing (here the trading ledger's
        // 2025-01-01 .. 2025-07-01, before the store's floor), with its cause and fix.
        let summary: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
        let expected = summary["coverage"]["missing"].as_array().unwrap().len();
        assert!(expected >= 1 && missing.len() == expected, "{name}: {missing:?}");
        assert!(
            missing.iter().all(|m| m.starts_with("MISSING 2025-01-01 00:00 UTC .. 2025-07-01 00:00 UTC: before the store's floor 2025-07-01; fix: `okx-export sync --since 2025-01-01`")),
            "{name}: {missing:?}"
        );
    }
}
