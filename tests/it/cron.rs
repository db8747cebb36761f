//! Cron and newcomer behaviour (issue 12): quiet success, optional endpoints, the demo's
//! directory, flag checks and help.

use crate::common::*;
use okx_export::sim::{SimConfig, SimKey};
use std::path::Path;

/// The command of the README's cron job, exactly (cron turns its `\%` into `%`).
const CRON_LINE: &str = r#"okx-export --quiet export --year "$(date +%Y)" || echo "okx-export failed: $?""#;

async fn shell(line: &str, env: &[(String, String)], cwd: &Path) -> Run {
    let bin_dir = Path::new(BIN).parent().unwrap();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut cmd = tokio::process::Command::new("sh");
    cmd.arg("-c").arg(line).current_dir(cwd);
    scrub(&mut cmd, env);
    cmd.env("PATH", path);
    let out = cmd.output().await.unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

#[test]
fn readme_has_this_cron_line() {
    let readme = include_str!("../../README.md");
    let escaped = CRON_LINE.replace("+%Y", r"+\%Y");
    assert!(
        readme.contains(&escaped),
        "README's cron line changed: update CRON_LINE"
    );
}

/// Quiet success prints nothing at all (so cron mails nothing); a failure prints the
/// error and the fallback line, and exits non-zero inside.
#[tokio::test(flavor = "multi_thread")]
async fn quiet_cron_line_is_silent_on_success_and_loud_on_failure() {
    let sim = sim(fast_config()).await;
    let dir = tempfile::tempdir().unwrap();
    let env = env_for(&sim, &SimKey::demo(), FAST);
    // The first run chooses how far back to go.
    let first = run(
        &[
            "--no-progress",
            "sync",
            "--since",
            "2025-07-01",
            "--archive-poll-ms",
            "50",
        ],
        &env,
        dir.path(),
    )
    .await;
    assert_code(&first, 0);
    let r = shell(CRON_LINE, &env, dir.path()).await;
    assert_eq!(r.code, 0, "{}", r.all());
    assert_eq!(r.stdout, "", "quiet success printed on stdout");
    assert_eq!(r.stderr, "", "quiet success printed on stderr");
    assert!(dir.path().join("output/default/summary.json").exists());
    assert!(dir.path().join("output/default/sync-summary.json").exists());

    let mut bad = env.clone();
    bad.retain(|(k, _)| k != "OKX_API_PASSPHRASE");
    bad.push(("OKX_API_PASSPHRASE".into(), "wrong".into()));
    let r = shell(CRON_LINE, &bad, dir.path()).await;
    assert!(r.stdout.contains("okx-export failed: 3"), "{}", r.all());
    assert!(r.err().contains("passphrase is wrong"), "{}", r.all());
}

/// Simple Earn answering 404 (a region without it) is a warning, not a failed sync.
#[tokio::test(flavor = "multi_thread")]
async fn unavailable_earn_endpoint_is_a_warning() {
    let sim = sim(SimConfig {
        unavailable: vec!["savings-balance"],
        ..fast_config()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let r = sync(&sim, &data, &["--no-archive"]).await;
    assert_code(&r, 0);
    assert!(
        r.err().contains("warning: Simple Earn balances unavailable"),
        "{}",
        r.stderr
    );
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(data.join("sync-summary.json")).unwrap()).unwrap();
    assert_eq!(summary["errors"].as_array().unwrap().len(), 0);
    assert_eq!(summary["warnings"].as_array().unwrap().len(), 1);
    // The summary table fits 80 columns and says things plainly.
    for line in r.stdout.lines() {
        assert!(
            line.chars().count() <= 80,
            "{} columns: {line}",
            line.chars().count()
        );
    }
    assert!(!r.stdout.contains("summed over streams"), "{}", r.stdout);
    let last = r.stdout.lines().last().unwrap();
    let requests = summary["totals"]["requests"].as_u64().unwrap();
    assert!(last.starts_with(&format!("requests: {requests} (")), "{last}");
    // JSON numbers carry no float noise.
    let secs = summary["elapsed_seconds"].to_string();
    assert!(secs.split('.').nth(1).is_none_or(|d| d.len() <= 3), "{secs}");

    // Issue 8 item 4: the report lists the earn balances as not compared because the
    // endpoint was unavailable (they used to vanish from reconciliation.csv), never as a
    // match, and says so; the rest still reconciles.
    let r = run(
        &[
            "--data-dir",
            data.to_str().unwrap(),
            "report",
            "--allow-incomplete",
        ],
        &[],
        dir.path(),
    )
    .await;
    assert_code(&r, 0);
    assert!(
        r.stdout.contains(&format!(
            "not compared (neither a match nor a failure): earn reported nothing ({}",
            okx_export::reconcile::ENDPOINT_UNAVAILABLE
        )),
        "{}",
        r.stdout
    );
    let matched = r
        .stdout
        .lines()
        .find(|l| l.starts_with("reconciliation: ok ("))
        .unwrap_or_else(|| panic!("{}", r.all()));
    assert!(
        matched.contains(", 1 not compared; ") && matched.ends_with(" files read back sum to the rows)"),
        "{matched}"
    );
    let rec = std::fs::read_to_string(data.join("reconciliation.csv")).unwrap();
    let earn: Vec<Vec<String>> = csv::Reader::from_reader(rec.as_bytes())
        .records()
        .map(|r| r.unwrap().iter().map(String::from).collect())
        .filter(|r: &Vec<String>| r[1] == "earn")
        .collect();
    assert_eq!(earn.len(), 1, "{rec}");
    let earn = &earn[0];
    assert_eq!(
        (
            &earn[0][..],
            &earn[2][..],
            &earn[5][..],
            &earn[6][..],
            &earn[7][..],
            &earn[8][..]
        ),
        ("balance", "", "0", "", "", "not_compared"),
        "{rec}"
    );
    assert!(
        earn[9].starts_with(okx_export::reconcile::ENDPOINT_UNAVAILABLE) && earn[9].contains("404"),
        "{}",
        earn[9]
    );
}

/// `demo` refuses a directory holding a store it did not make, or other files; it reuses
/// its own directory; `--data-dir` is honoured as the demo directory.
#[tokio::test(flavor = "multi_thread")]
async fn demo_never_deletes_what_it_did_not_make() {
    let dir = tempfile::tempdir().unwrap();
    let real = dir.path().join("default");
    std::fs::create_dir_all(&real).unwrap();
    drop(okx_export::store::Store::open(&real).unwrap());
    let before = std::fs::read(real.join("okx-export.sqlite3")).unwrap();
    let r = run(&["demo", "--out", real.to_str().unwrap()], &[], dir.path()).await;
    assert_code(&r, 2);
    assert!(
        r.err()
            .contains("holds an okx-export store that the demo did not make"),
        "{}",
        r.stderr
    );
    assert_eq!(std::fs::read(real.join("okx-export.sqlite3")).unwrap(), before);

    let other = dir.path().join("other");
    std::fs::create_dir_all(&other).unwrap();
    std::fs::write(other.join("notes.txt"), "mine").unwrap();
    let r = run(&["--data-dir", other.to_str().unwrap(), "demo"], &[], dir.path()).await;
    assert_code(&r, 2);
    assert!(r.err().contains("e.g. `notes.txt`"), "{}", r.stderr);

    let r = run(&["--data-dir", "a", "demo", "--out", "b"], &[], dir.path()).await;
    assert_code(&r, 2);

    // Its own directory, twice: the second run replaces its store and its price cache (a
    // stale cache of an older simulator would leave rows unvalued), and the simulator's
    // prices never go to the machine's real cache, even when the environment names one.
    let demo = dir.path().join("demo");
    let real_cache = dir.path().join("real-prices.sqlite");
    let env = [(
        "OKX_EXPORT_PRICE_CACHE".to_string(),
        real_cache.to_str().unwrap().to_string(),
    )];
    for i in 0..2 {
        if i == 1 {
            let db = rusqlite::Connection::open(demo.join("price-cache.sqlite")).unwrap();
            db.execute(
                "INSERT INTO absent (inst, kind, checked_at) VALUES ('BTC-USD', 'index', 0)",
                [],
            )
            .unwrap();
        }
        let r = run(
            &["--quiet", "demo", "--out", demo.to_str().unwrap()],
            &env,
            dir.path(),
        )
        .await;
        assert_code(&r, 0);
        assert!(demo.join(".okx-export-demo").exists());
        assert!(demo.join("koinly.csv").exists());
        let summary: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(demo.join("summary.json")).unwrap()).unwrap();
        assert_eq!(summary["values"]["missing"], 0, "run {i}");
        // Issue 18: the demo is a group (a master and two keyed sub-accounts), one set of files.
        assert_eq!(summary["reconciliation"]["ok"], true, "run {i}");
        let profiles: Vec<&str> = summary["members"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["profile"].as_str().unwrap())
            .collect();
        assert_eq!(profiles, ["main", "bot", "savings"]);
        let tx = std::fs::read_to_string(demo.join("transactions.csv")).unwrap();
        assert!(tx.lines().next().unwrap().ends_with(",profile"));
        assert!(tx.contains(",bot\n") && tx.contains(",savings\n") && tx.contains(",main\n"));
        assert!(
            !real_cache.exists(),
            "run {i} wrote simulated prices to the real cache"
        );
        let db = rusqlite::Connection::open(demo.join("price-cache.sqlite")).unwrap();
        let stale: i64 = db
            .query_row("SELECT COUNT(*) FROM absent WHERE inst = 'BTC-USD'", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(stale, 0, "run {i} kept the earlier run's price cache");
    }
}

/// Bad flags fail before any store is opened, with a hint.
#[tokio::test(flavor = "multi_thread")]
async fn bad_flags_are_caught_first_and_helped() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("never-created");
    let d = data.to_str().unwrap();
    for (args, expect) in [
        (
            vec!["--data-dir", d, "report", "--format", "koinlyy"],
            "did you mean `koinly`?",
        ),
        (
            vec!["--data-dir", d, "report", "--format", "Bittytx"],
            "did you mean `bittytax`?",
        ),
        (
            vec!["--data-dir", d, "report", "--format", ""],
            "the list is empty",
        ),
        (
            vec!["--data-dir", d, "report", "--format", "koinly,,ctc"],
            "empty name",
        ),
        (
            vec!["--data-dir", d, "report", "--year", "20x5"],
            "e.g. --year 2025",
        ),
        (
            vec!["--data-dir", d, "export", "--format", "koinlyy"],
            "did you mean `koinly`?",
        ),
    ] {
        let r = run(&args, &[], dir.path()).await;
        assert_code(&r, 2);
        assert!(r.err().contains(expect), "{args:?}: {}", r.stderr);
        assert!(
            !data.exists(),
            "{args:?} opened the store before checking its flags"
        );
    }
}

/// Help follows cargo's conventions: subcommand options first, global ones under their
/// own heading, connection options only where they do something, examples in --help.
#[tokio::test(flavor = "multi_thread")]
async fn help_fits_the_conventions() {
    let dir = tempfile::tempdir().unwrap();
    let long = run(&["sync", "--help"], &[], dir.path()).await;
    assert_code(&long, 0);
    let text = &long.stdout;
    let own = text.find("--since").unwrap();
    let connection = text.find("Connection options:").expect("connection heading");
    let global = text.find("Global options:").expect("global heading");
    assert!(own < connection && connection < global, "{text}");
    assert!(text.contains("Examples:"), "{text}");
    assert!(!text.contains("[env:"), "{text}");
    let short = run(&["sync", "-h"], &[], dir.path()).await;
    assert!(short.stdout.len() < long.stdout.len());
    assert!(!short.stdout.contains("Examples:"));
    for cmd in ["report", "status", "reconcile", "demo"] {
        let r = run(&[cmd, "--help"], &[], dir.path()).await;
        assert_code(&r, 0);
        for flag in ["--base-url", "--region", "--allow-trading-key", "--give-up-after"] {
            assert!(!r.stdout.contains(flag), "`{cmd} --help` offers {flag}");
        }
        assert!(r.stdout.contains("Global options:"), "{cmd}: {}", r.stdout);
    }
    for line in text.lines() {
        assert!(
            line.chars().count() <= 100,
            "help line too long ({}): {line}",
            line.chars().count()
        );
    }
    // Defaults are shown once, by clap.
    let report = run(&["report", "--help"], &[], dir.path()).await;
    assert_eq!(report.stdout.matches("UTC").count(), 1, "{}", report.stdout);
}

/// A period report writes closing_balances.csv: the holdings at the period's end from
/// the running balances. At the end of all history they equal OKX's own snapshot. (The
/// period ended after the last sync, so the store does not cover its tail: issue 19 item 9;
/// `--allow-incomplete` writes the files anyway.)
#[tokio::test(flavor = "multi_thread")]
async fn period_report_writes_closing_balances() {
    let sim = sim(fast_config()).await;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    assert_code(&sync(&sim, &data, &[]).await, 0);
    let d = data.to_str().unwrap();
    let r = run(
        &[
            "--data-dir",
            d,
            "report",
            "--from",
            "2025-07-01",
            "--to",
            "2026-06-01",
            "--format",
            "koinly",
            "--allow-incomplete",
        ],
        &[],
        dir.path(),
    )
    .await;
    assert_code(&r, 0);
    let read = |name: &str| -> Vec<Vec<String>> {
        let mut rdr = csv::Reader::from_path(data.join(name)).unwrap();
        rdr.records()
            .map(|r| r.unwrap().iter().map(str::to_string).collect())
            .collect()
    };
    let closing = read("closing_balances.csv");
    let snapshot = read("balances.csv");
    let mut compared = 0;
    for row in &snapshot {
        let (account, asset, total) = (&row[0], &row[1], row[2].parse::<rust_decimal::Decimal>().unwrap());
        if account == "earn" || total.is_zero() {
            continue;
        }
        let c = closing
            .iter()
            .find(|c| &c[0] == account && &c[1] == asset)
            .unwrap_or_else(|| panic!("{account} {asset} missing from closing_balances.csv"));
        assert_eq!(
            c[2].parse::<rust_decimal::Decimal>().unwrap(),
            total,
            "{account} {asset}"
        );
        compared += 1;
    }
    assert!(compared >= 5, "only {compared} balances compared");
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(data.join("summary.json")).unwrap()).unwrap();
    assert!(summary["balances_as_of"].is_string(), "{summary}");
    assert!(
        summary["closing_balances_as_of"]
            .as_str()
            .unwrap()
            .starts_with("2026-06-01")
    );
}

/// The stderr lines of a run that start with `prefix`.
fn lines_with(r: &Run, prefix: &str) -> Vec<String> {
    r.err()
        .lines()
        .filter(|l| l.starts_with(prefix))
        .map(str::to_string)
        .collect()
}

/// Issue 20 item 1: a complete, healthy store with the default floor (2021-02-01) on a
/// site without Dual Investment. The quarters before the account's first activity are a
/// normal state: one note for the whole run of them, none with `--quiet`; the missing
/// product is a warning once, then remembered (a note). The cron line prints nothing.
#[tokio::test(flavor = "multi_thread")]
async fn normal_states_are_notes_and_a_missing_product_is_said_once() {
    let sim = sim(SimConfig {
        unavailable: vec!["dcd-order-history"],
        ..fast_config()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let env = env_for(&sim, &SimKey::demo(), FAST);
    let first = run(
        &["--no-progress", "sync", "--archive-poll-ms", "50"],
        &env,
        dir.path(),
    )
    .await;
    assert_code(&first, 0);
    let joined = first.err();
    let before: Vec<&str> = joined
        .lines()
        .filter(|l| l.contains("before the account's first activity"))
        .collect();
    assert_eq!(before.len(), 1, "{}", first.stderr);
    assert!(
        before[0].starts_with("note: 2021Q1–2025Q2: before the account's first activity"),
        "{}",
        before[0]
    );
    let dcd = lines_with(&first, "warning: Dual Investment order history unavailable");
    assert_eq!(dcd.len(), 1, "{}", first.stderr);
    for l in first.stderr.lines() {
        assert!(l.chars().count() <= 80, "{} columns: {l}", l.chars().count());
    }

    let cron = shell(CRON_LINE, &env, dir.path()).await;
    assert_eq!(cron.code, 0, "{}", cron.all());
    assert_eq!(cron.stdout, "", "quiet success printed on stdout");
    assert_eq!(cron.stderr, "", "quiet success printed on stderr");

    // Without --quiet the missing product is now a note: known, not news.
    let again = run(
        &["--no-progress", "sync", "--archive-poll-ms", "50", "--no-prices"],
        &env,
        dir.path(),
    )
    .await;
    assert_code(&again, 0);
    assert!(lines_with(&again, "warning:").is_empty(), "{}", again.stderr);
    assert_eq!(
        lines_with(&again, "note: Dual Investment order history unavailable").len(),
        1,
        "{}",
        again.stderr
    );
    let summary: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("output/default/sync-summary.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(summary["warnings"].as_array().unwrap().len(), 0, "{summary}");
    assert!(
        summary["notes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n.as_str().unwrap().contains("Dual Investment")),
        "{summary}"
    );
}

/// Issue 20 item 3: under `--quiet` (the README's cron line) each kind of failure is
/// exactly one line on stderr, `error:` also when it is a data problem (exit 4), and the
/// network hint only where the network may be at fault.
#[tokio::test(flavor = "multi_thread")]
async fn each_quiet_failure_is_one_error_line() {
    use okx_export::sim::{FaultConfig, FaultKind};
    let healthy = sim(fast_config()).await;
    let busy = sim(SimConfig {
        faults: FaultConfig::new(1.0, 1, vec![FaultKind::Http5xx]),
        ..fast_config()
    })
    .await;
    let unknown = sim(SimConfig {
        unknown_bill_type: true,
        ..fast_config()
    })
    .await;
    let key = SimKey::demo();
    let with = |env: Vec<(String, String)>, k: &str, v: &str| {
        let mut env = env;
        env.retain(|(name, _)| name != k);
        env.push((k.to_string(), v.to_string()));
        env
    };
    // (what fails, environment, exit code, what the line says, network hint expected)
    type Case<'a> = (&'a str, Vec<(String, String)>, i32, &'a str, Option<bool>);
    let cases: Vec<Case> = vec![
        (
            "wrong passphrase",
            with(env_for(&healthy, &key, FAST), "OKX_API_PASSPHRASE", "wrong"),
            3,
            "passphrase is wrong",
            None,
        ),
        (
            "host refuses connections",
            with(
                with(
                    env_for(&healthy, &key, FAST),
                    "OKX_BASE_URL",
                    "http://127.0.0.1:1",
                ),
                "OKX_EXPORT_BACKOFF_MS",
                "1",
            ),
            1,
            "127.0.0.1:1",
            Some(true),
        ),
        (
            "host answers 503",
            env_for(&busy, &key, FAST),
            1,
            "Service temporarily unavailable",
            Some(false),
        ),
        (
            "unclassified records",
            env_for(&unknown, &key, FAST),
            4,
            "could not be classified",
            None,
        ),
    ];
    for (name, env, code, says, network_hint) in cases {
        let dir = tempfile::tempdir().unwrap();
        // The first run chooses how far back to go (it may fail like the cron line).
        run(
            &[
                "--quiet",
                "sync",
                "--since",
                "2025-07-01",
                "--archive-poll-ms",
                "50",
            ],
            &env,
            dir.path(),
        )
        .await;
        let r = shell(CRON_LINE, &env, dir.path()).await;
        assert_eq!(
            r.stdout,
            format!("okx-export failed: {code}\n"),
            "{name}: {}",
            r.all()
        );
        assert_eq!(r.stderr.lines().count(), 1, "{name}: {}", r.stderr);
        assert!(r.stderr.starts_with("error: "), "{name}: {}", r.stderr);
        assert!(r.stderr.contains(says), "{name}: {}", r.stderr);
        if let Some(expected) = network_hint {
            assert_eq!(
                r.stderr.contains("check the network"),
                expected,
                "{name}: {}",
                r.stderr
            );
        }
    }
    // A period the store does not cover (before its floor): exit 4, one `error:` line.
    let dir = tempfile::tempdir().unwrap();
    let env = env_for(&healthy, &key, FAST);
    let first = run(
        &[
            "--quiet",
            "sync",
            "--since",
            "2025-07-01",
            "--archive-poll-ms",
            "50",
        ],
        &env,
        dir.path(),
    )
    .await;
    assert_code(&first, 0);
    let r = run(&["--quiet", "report", "--year", "2025"], &[], dir.path()).await;
    assert_code(&r, 4);
    assert_eq!(r.stderr.lines().count(), 1, "{}", r.stderr);
    assert!(
        r.stderr
            .starts_with("error: report: the store does not cover the period"),
        "{}",
        r.stderr
    );
}

/// Issue 20 item 9: `status | head -1` exits quietly (no panic on the closed pipe), and
/// its rows fit 100 columns, with one row for a run of quarters before the account's
/// first activity.
#[tokio::test(flavor = "multi_thread")]
async fn status_fits_100_columns_and_survives_a_closed_pipe() {
    let sim = sim(fast_config()).await;
    let dir = tempfile::tempdir().unwrap();
    let env = env_for(&sim, &SimKey::demo(), FAST);
    let first = run(
        &["--no-progress", "sync", "--archive-poll-ms", "50", "--no-prices"],
        &env,
        dir.path(),
    )
    .await;
    assert_code(&first, 0);
    let r = run(&["status"], &[], dir.path()).await;
    assert_code(&r, 0);
    for l in r.stdout.lines().chain(r.stderr.lines()) {
        assert!(l.chars().count() <= 100, "{} columns: {l}", l.chars().count());
    }
    let before: Vec<&str> = r
        .stdout
        .lines()
        .filter(|l| l.contains("quarter_before_activity"))
        .collect();
    assert_eq!(before.len(), 1, "{}", r.stdout);
    assert!(
        before[0].contains("bills-history-archive/2021Q1–2025Q2"),
        "{}",
        before[0]
    );

    // The reader goes away before status writes: like `status | head -1`.
    let mut cmd = command(&["status"], &[], dir.path());
    let mut child = cmd.spawn().unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().await.unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// Issue 20 item 5: one message style. Without `-v` nothing is logged (a bad page fetched
/// again is a `warning:` of the run, not a `WARN` log line); with `-v` the log lines read
/// `debug: …` with no timestamp, and no colour codes when stderr is not a terminal, even
/// without `NO_COLOR`.
#[tokio::test(flavor = "multi_thread")]
async fn logs_have_the_message_style_and_no_colour_off_a_terminal() {
    use okx_export::sim::BadMoney;
    let sim = sim(SimConfig {
        bad_money: Some(BadMoney {
            endpoint: "deposit-history",
            field: "amt",
            value: Some("NaN"),
            times: 1,
        }),
        ..fast_config()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let env = env_for(&sim, &SimKey::demo(), FAST);
    let mut cmd = command(&sync_args(&data, &[]), &env, dir.path());
    cmd.env_remove("NO_COLOR");
    let out = cmd.output().await.unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        !stderr.contains('\x1b'),
        "colour codes off a terminal: {stderr:?}"
    );
    assert!(!stderr.contains("WARN"), "{stderr}");
    assert!(
        unwrap_lines(&stderr).contains("warning: deposit-history: refetched a page"),
        "{stderr}"
    );

    let mut cmd = command(&["-v", "check-key"], &env, dir.path());
    cmd.env_remove("NO_COLOR");
    let out = cmd.output().await.unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains('\x1b'), "{stderr:?}");
    let logs: Vec<&str> = stderr.lines().filter(|l| l.contains("/api/v5/")).collect();
    assert!(!logs.is_empty(), "{stderr}");
    for l in logs {
        assert!(l.starts_with("debug: "), "{l}");
    }
}

/// The README's crontab (the ```cron block): its variable lines and its one job.
struct Crontab {
    vars: Vec<(String, String)>,
    command: String,
}

fn readme_crontab() -> Crontab {
    let readme = include_str!("../../README.md");
    let block = readme
        .split("```cron\n")
        .nth(1)
        .and_then(|b| b.split("```").next())
        .expect("a ```cron block in the README");
    let mut vars = Vec::new();
    let mut jobs = Vec::new();
    for line in block
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        let first = line.split_whitespace().next().unwrap_or_default();
        if let Some((k, v)) = line.split_once('=')
            && !first
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_digit() || c == '*')
        {
            vars.push((k.trim().to_string(), v.trim().to_string()));
        } else {
            // Five time fields, then the command as cron hands it to sh: `\%` is `%`.
            let command = line.splitn(6, char::is_whitespace).nth(5).unwrap_or_default();
            jobs.push(command.replace("\\%", "%"));
        }
    }
    assert_eq!(jobs.len(), 1, "one job in the README's crontab: {jobs:?}");
    Crontab {
        vars,
        command: jobs.remove(0),
    }
}

/// Runs the README's crontab job as cron does: `sh -c` with cron's environment (HOME,
/// LOGNAME, SHELL, PATH=/usr/bin:/bin, no TERM) plus the crontab's variables, `home`
/// standing for `/home/me`.
async fn as_cron(tab: &Crontab, home: &Path) -> Run {
    let h = home.to_str().unwrap();
    let mut cmd = tokio::process::Command::new("/bin/sh");
    cmd.env_clear()
        .env("HOME", h)
        .env("LOGNAME", "me")
        .env("SHELL", "/bin/sh")
        .env("PATH", "/usr/bin:/bin");
    for (k, v) in &tab.vars {
        cmd.env(k, v.replace("/home/me", h));
    }
    cmd.arg("-c")
        .arg(tab.command.replace("/home/me", h))
        .current_dir(home);
    let out = cmd.output().await.unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Issue 20 item 8 and the "Done when": the README's crontab, run through `sh` with cron's
/// environment, finds the binary where `cargo install` puts it and prints nothing on a
/// healthy store (default floor, quarters before the first activity, a site without Dual
/// Investment); a failure is exactly one `error:` line plus the crontab's echo.
#[tokio::test(flavor = "multi_thread")]
async fn the_readme_crontab_runs_as_cron_runs_it() {
    let tab = readme_crontab();
    assert!(
        tab.vars
            .iter()
            .any(|(k, v)| k == "PATH" && v.contains("/home/me/.cargo/bin")),
        "the crontab gives cron a PATH with ~/.cargo/bin"
    );
    let sim = sim(SimConfig {
        unavailable: vec!["dcd-order-history"],
        ..fast_config()
    })
    .await;
    let home = tempfile::tempdir().unwrap();
    let bin = home.path().join(".cargo/bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::os::unix::fs::symlink(BIN, bin.join("okx-export")).unwrap();
    let taxes = home.path().join("taxes");
    std::fs::create_dir_all(&taxes).unwrap();
    let key = SimKey::demo();
    let write = |name: &str, text: &str| {
        let p = taxes.join(name);
        std::fs::write(&p, text).unwrap();
        std::fs::set_permissions(&p, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
        p
    };
    let secret = write("secret", &key.secret);
    let pass = write("passphrase", &key.passphrase);
    write(
        "okx-export.toml",
        &format!(
            "[profile.default]\napi_key = \"{}\"\nsecret_file = \"{}\"\npassphrase_file = \"{}\"\nbase_url = \"{}\"\n",
            key.api_key,
            secret.display(),
            pass.display(),
            sim.base_url()
        ),
    );
    // The first run chooses the floor (the default, 2021-02-01) and fetches everything.
    let first = run(
        &["--no-progress", "sync", "--archive-poll-ms", "50"],
        &[("OKX_EXPORT_RATE_SCALE".into(), FAST.to_string())],
        &taxes,
    )
    .await;
    assert_code(&first, 0);
    let r = as_cron(&tab, home.path()).await;
    assert_eq!(
        (r.code, r.stdout.as_str(), r.stderr.as_str()),
        (0, "", ""),
        "{}",
        r.all()
    );
    assert!(taxes.join("output/default/summary.json").exists());

    // A failure: exactly one error line, and the crontab's own echo.
    write("passphrase", "not-the-passphrase");
    let r = as_cron(&tab, home.path()).await;
    assert_eq!(r.stdout, "okx-export failed: 3\n", "{}", r.all());
    assert_eq!(r.stderr.lines().count(), 1, "{}", r.stderr);
    assert!(r.stderr.starts_with("error: "), "{}", r.stderr);
}
