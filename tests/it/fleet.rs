//! Many clients on one machine (issue 22): `--all` over every profile of the config file,
//! one status table, a quiet cron run. Each client is an account of its own on the
//! simulator (`SimConfig::clients`: its uid, key and per-UID limits).

use crate::common::*;
use crate::group::{Prof, config_env, write_config};
use okx_export::sim::{AccountSize, SimConfig, SimKey};
use okx_export::store::RecordSource;
use serde_json::Value;
use std::path::Path;

/// The profile name of client `i`.
fn name(i: usize) -> String {
    format!("client-{i:02}")
}

/// A config with one profile per key of `keys` (`client-00`, …), all on `base_url`.
fn fleet_config(dir: &Path, keys: &[SimKey], base_url: &str) -> String {
    let names: Vec<String> = (0..keys.len()).map(name).collect();
    let profs: Vec<Prof> = names
        .iter()
        .zip(keys)
        .map(|(n, k)| Prof {
            name: n,
            key: k,
            base_url: base_url.to_string(),
        })
        .collect();
    write_config(dir, &profs, &[]).to_str().unwrap().to_string()
}

/// Every file under `dir`, as text (lossy).
fn files_text(dir: &Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(files_text(&p));
        } else {
            let bytes = std::fs::read(&p).unwrap();
            out.push((
                p.display().to_string(),
                String::from_utf8_lossy(&bytes).into_owned(),
            ));
        }
    }
    out
}

/// Lines of `text` that are not empty.
fn lines(text: &str) -> Vec<&str> {
    text.lines().filter(|l| !l.trim().is_empty()).collect()
}

/// A `status --all` line as (profile, uid, acct, last sync, no value, key, state word):
/// the state word is `never` for `never synced`.
fn table_cells(line: &str) -> [String; 7] {
    let t: Vec<&str> = line.split_whitespace().collect();
    // The last sync is `MM-DD HH:MM` (two words) or `-`.
    let (last, rest) = if t[3] == "-" {
        ("-".to_string(), &t[5..])
    } else {
        (format!("{} {}", t[3], t[4]), &t[6..])
    };
    [
        t[0].into(),
        t[1].into(),
        t[2].into(),
        last,
        rest[0].into(),
        rest[1].into(),
        rest[2].trim_end_matches(':').into(),
    ]
}

/// The same cells from a `status --json` row.
fn json_cells(row: &Value) -> [String; 7] {
    let text = |v: &Value| v.as_str().map_or_else(|| "-".to_string(), str::to_string);
    let label = |p: &Value| match p.as_str().unwrap() {
        "wrong_passphrase" => "passphrase".to_string(),
        "bad_signature" => "signature".to_string(),
        "wrong_environment" => "demo-live".to_string(),
        other => other.replace('_', "-"),
    };
    let problems = row["key_problems"].as_array().unwrap();
    let key = match problems.as_slice() {
        [] => "-".to_string(),
        [one] => label(one),
        [first, rest @ ..] => format!("{}+{}", label(first), rest.len()),
    };
    let last = row["last_sync"].as_str().map_or_else(
        || "-".to_string(),
        |t| {
            chrono::DateTime::parse_from_rfc3339(t)
                .unwrap()
                .format("%m-%d %H:%M")
                .to_string()
        },
    );
    [
        text(&row["profile"]),
        text(&row["uid"]),
        text(&row["account"]),
        last,
        row["rows_without_value"]
            .as_u64()
            .map_or_else(|| "-".to_string(), |n| n.to_string()),
        key,
        text(&row["state"]).replace("never_synced", "never"),
    ]
}

/// Issue 22, "Done when": 20 profiles, one with a revoked key and one with a key that can
/// trade. `sync --all` stores 18 complete clients and exits 3 naming exactly the two bad
/// ones with their fixes; `status --all` and `--json` say the same; a quiet cron
/// `export --all` prints exactly those two lines. The clients share one read of OKX's
/// clock and instrument lists, each request carries its own client's key, and no
/// client's key or error is in another client's files.
#[tokio::test(flavor = "multi_thread")]
async fn twenty_clients_two_bad_keys() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = SimConfig::clients(20, |_| AccountSize::Sub);
    cfg.rate_scale = FAST;
    cfg.record_requests = true;
    cfg.keys[5].revoked = true;
    cfg.keys[12].perm = "read_only,trade".into();
    let keys = cfg.keys.clone();
    let sim = sim(cfg).await;
    let c = fleet_config(dir.path(), &keys, &sim.base_url());
    let env = config_env(FAST);
    let sync = [
        "--config",
        &c,
        "--all",
        "sync",
        "--since",
        "2025-07-01",
        "--archive-poll-ms",
        "50",
    ];
    let r = run(&sync, &env, dir.path()).await;
    assert_code(&r, 3);
    // Printed as the clients finish: in any order.
    let mut errors = lines(&r.stderr);
    errors.sort_unstable();
    assert_eq!(errors.len(), 2, "one line per bad client:\n{}", r.stderr);
    assert!(
        errors[0].starts_with(
            "error: client-05: exit 3: OKX rejected the credentials on `account-config` (code 50111"
        ) && errors[0].contains("; fix: "),
        "{}",
        errors[0]
    );
    assert!(
        errors[1].starts_with("error: client-12: exit 3: refusing this API key: it can trade")
            && errors[1].contains("; fix: create a read-only key"),
        "{}",
        errors[1]
    );
    let sync_errors: Vec<String> = errors.iter().map(|l| (*l).to_string()).collect();
    let ok = lines(&r.stdout);
    assert_eq!(
        ok.iter().filter(|l| l.contains(": sync ok in ")).count(),
        18,
        "{}",
        r.stdout
    );
    assert!(
        ok.last()
            .unwrap()
            .starts_with("sync --all: 20 profiles, 18 ok, 2 failed (exit 3) in "),
        "{}",
        r.stdout
    );
    // What the 18 stored is their own account, whole.
    for i in (0..20).filter(|i| ![5, 12].contains(i)) {
        let s = store(&dir.path().join("data").join(name(i)));
        let truth = sim.client_account(&keys[i].uid).unwrap();
        let mut deposits = 0;
        s.for_each(okx_export::store::RecordKind::Deposit, &mut |_| {
            deposits += 1;
            Ok(())
        })
        .unwrap();
        assert_eq!(deposits, truth.deposits().len(), "{}", name(i));
        assert_eq!(
            s.identity().unwrap().unwrap().uid,
            keys[i].uid,
            "{} holds its own account",
            name(i)
        );
    }
    // OKX's clock and instrument lists were read once for all 20 (not 20 times).
    let stats = sim.stats();
    assert_eq!(stats.get("public-time").requests, 1, "{stats:?}");
    assert_eq!(stats.get("instruments").requests, 4, "{stats:?}");
    // Private limits are per UID: no client ran into another's. (Public candles at 10x
    // scale come in bursts of 100, where a loaded debug build's jitter can cost a retried
    // 429; the fleet bench counts them at OKX's real limits.)
    for e in okx_export::okx::endpoints::ALL.iter().filter(|e| e.private) {
        assert_eq!(stats.get(e.name).rate_limited, 0, "{}", e.name);
    }
    // Every private request carried one client's key, with that key's passphrase, and a
    // signature the simulator verified (only the two bad keys were refused).
    for s in sim.seen().iter().filter(|s| s.key.is_some()) {
        let k = keys
            .iter()
            .find(|k| Some(&k.api_key) == s.key.as_ref())
            .expect("a configured key");
        assert_eq!(s.passphrase.as_deref(), Some(k.passphrase.as_str()));
    }
    assert_eq!(
        stats.totals.auth_failures, 1,
        "only the revoked key's one request"
    );

    // The table: 18 complete, the two failed with their key problems, one line each.
    let status = ["--config", &c, "--all", "status"];
    let r = run(&status, &env, dir.path()).await;
    assert_code(&r, 3);
    let table = lines(&r.stdout);
    assert_eq!(table.len(), 22, "header, 20 profiles, total:\n{}", r.stdout);
    for l in &table {
        assert!(l.chars().count() <= 100, "{l}");
    }
    for (i, l) in table[1..21].iter().enumerate() {
        assert!(l.starts_with(&format!("{} ", name(i))), "{l}");
        match i {
            5 => assert!(
                l.contains(" revoked ") && l.ends_with("failed: key revoked: make a new one"),
                "{l}"
            ),
            12 => assert!(
                l.contains(" can-trade ") && l.ends_with("failed: can trade: use a read-only key"),
                "{l}"
            ),
            _ => assert!(l.ends_with(" complete") && l.contains(&keys[i].uid), "{l}"),
        }
    }
    assert_eq!(table[21], "20 profiles: 18 complete, 2 failed");
    // --json says the same.
    let r = run(&["--config", &c, "--all", "status", "--json"], &env, dir.path()).await;
    assert_code(&r, 3);
    let rows: Vec<Value> = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(rows.len(), 20);
    for (i, row) in rows.iter().enumerate() {
        assert_eq!(row["profile"], name(i).as_str());
        for field in ["state", "last_sync", "problem"] {
            assert!(row.get(field).is_some(), "{field} in {row}");
        }
        match i {
            5 => {
                assert_eq!(row["state"], "failed");
                assert!(row["problem"].as_str().unwrap().contains("code 50111"), "{row}");
                assert!(
                    row["fix"].as_str().unwrap().contains("okx-export read them from"),
                    "{row}"
                );
                assert_eq!(row["key_problems"], serde_json::json!(["revoked"]));
                assert_eq!(row["last_sync"], Value::Null, "never synced successfully");
                assert_eq!(row["exit"], 3);
            }
            12 => {
                assert_eq!(row["state"], "failed");
                assert!(row["problem"].as_str().unwrap().contains("it can trade"), "{row}");
                assert_eq!(row["key_problems"], serde_json::json!(["can_trade"]));
            }
            _ => {
                assert_eq!(row["state"], "complete", "{row}");
                assert_eq!(row["problem"], Value::Null);
                assert!(row["last_sync"].is_string());
                assert_eq!(row["uid"], keys[i].uid.as_str());
                assert_eq!(row["account"], "master");
                assert_eq!(row["rows_without_value"], 0, "{row}");
            }
        }
    }

    // The table and --json say the same, cell by cell.
    for (l, row) in table[1..21].iter().zip(&rows) {
        assert_eq!(&table_cells(l), &json_cells(row), "{l}\n{row}");
    }

    // The cron line: quiet, exactly the two bad clients, nothing on stdout.
    let cron = [
        "--config",
        &c,
        "--quiet",
        "export",
        "--all",
        "--year",
        "2026",
        "--archive-poll-ms",
        "50",
    ];
    let r = run(&cron, &env, dir.path()).await;
    assert_code(&r, 3);
    assert_eq!(r.stdout, "", "nothing for the clients that are fine");
    let errors = lines(&r.stderr);
    assert_eq!(errors.len(), 2, "{}", r.stderr);
    assert!(errors[0].starts_with("error: client-05: exit 3: ") && errors[0].contains("50111"));
    assert!(errors[1].starts_with("error: client-12: exit 3: ") && errors[1].contains("can trade"));
    assert_eq!(
        errors, sync_errors,
        "the same line (reason and fix) as the sync said"
    );
    // Each of the 18 has its own files, the summary has all 20.
    for i in (0..20).filter(|i| ![5, 12].contains(i)) {
        let d = dir.path().join("data").join(name(i));
        assert!(
            d.join("transactions.csv").exists() && d.join("report.html").exists(),
            "{}",
            name(i)
        );
        assert!(
            std::fs::read_to_string(d.join("last-run.log"))
                .unwrap()
                .starts_with("okx-export export --all at ")
        );
    }
    let summary: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("output").join("fleet-summary.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(summary["command"], "export --all");
    assert_eq!(
        (
            summary["profiles_ok"].as_u64(),
            summary["profiles_failed"].as_u64()
        ),
        (Some(18), Some(2))
    );
    assert_eq!(summary["exit"], 3);
    assert_eq!(
        summary["profiles"][5]["failure"]["key_problems"],
        serde_json::json!(["revoked"])
    );
    let stages: Vec<&str> = summary["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(stages, ["sync", "prices", "report"]);

    // No client's key, secret or error in another client's files.
    for i in 0..20 {
        let own = dir.path().join("data").join(name(i));
        for (path, text) in files_text(&own) {
            for (j, k) in keys.iter().enumerate().filter(|(j, _)| *j != i) {
                for s in [&k.api_key, &k.secret, &k.passphrase] {
                    assert!(
                        !text.contains(s.as_str()),
                        "{path} holds {}'s credential",
                        name(j)
                    );
                }
            }
            for (j, error) in [(5, "Invalid OK-ACCESS-KEY"), (12, "it can trade")] {
                if i != j {
                    assert!(!text.contains(error), "{path} holds {}'s error", name(j));
                    assert!(!text.contains(&name(j)), "{path} names {}", name(j));
                }
            }
        }
    }
}

/// Each client's requests are signed with its own key and go only to its own host: two
/// profiles on two loopback simulators, `sync --all`.
#[tokio::test(flavor = "multi_thread")]
async fn each_client_signs_with_its_own_key_to_its_own_host() {
    let dir = tempfile::tempdir().unwrap();
    let recording = |k: &SimKey, seed: u64| SimConfig {
        keys: vec![k.clone()],
        record_requests: true,
        seed,
        ..fast_config()
    };
    let (a, b) = (SimKey::client("30000001"), SimKey::client("30000002"));
    let sim_a = sim(recording(&a, 7)).await;
    let sim_b = sim(recording(&b, 8)).await;
    let c = write_config(
        dir.path(),
        &[
            Prof {
                name: "alice",
                key: &a,
                base_url: sim_a.base_url(),
            },
            Prof {
                name: "bob",
                key: &b,
                base_url: sim_b.base_url(),
            },
        ],
        &[],
    );
    let r = run(
        &[
            "--config",
            c.to_str().unwrap(),
            "sync",
            "--all",
            "--since",
            "2025-07-01",
            "--no-archive",
            "--no-prices",
        ],
        &config_env(FAST),
        dir.path(),
    )
    .await;
    assert_code(&r, 0);
    for (sim, key, other) in [(&sim_a, &a, &b), (&sim_b, &b, &a)] {
        let seen = sim.seen();
        assert!(seen.iter().filter(|s| s.key.is_some()).count() > 20);
        for s in &seen {
            if s.key.is_none() {
                assert!(
                    s.endpoint.starts_with("public") || s.endpoint == "instruments",
                    "{}",
                    s.endpoint
                );
                continue;
            }
            assert_eq!(s.key.as_deref(), Some(key.api_key.as_str()), "{}", s.endpoint);
            assert_eq!(s.passphrase.as_deref(), Some(key.passphrase.as_str()));
            assert_ne!(s.key.as_deref(), Some(other.api_key.as_str()));
        }
        assert_eq!(sim.stats().totals.auth_failures, 0, "every signature verified");
    }
    let first_deposit = |n: &str| {
        store(&dir.path().join("data").join(n))
            .identity()
            .unwrap()
            .unwrap()
            .uid
    };
    assert_eq!(
        (first_deposit("alice"), first_deposit("bob")),
        (a.uid.clone(), b.uid.clone())
    );
}

/// One client failing in any way (host down, wrong passphrase, IP not allowed, a profile
/// that does not resolve) stops and slows nobody: the good client completes in its own
/// time, each bad one fails with its own reason and fix, the exit is the worst (2).
#[tokio::test(flavor = "multi_thread")]
async fn each_failure_stops_only_its_client() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = SimConfig::clients(3, |_| AccountSize::Sub);
    cfg.rate_scale = FAST;
    cfg.keys[2].ip_allowed = false;
    let mut keys = cfg.keys.clone();
    let sim = sim(cfg).await;
    // client-01 configured with a wrong passphrase.
    keys[1].passphrase = "not-the-passphrase".into();
    // client-03: a host that is down (a port nobody listens on).
    let down = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let down_url = format!("http://{}", down.local_addr().unwrap());
    drop(down);
    keys.push(SimKey::client("49999999"));
    let names: Vec<String> = (0..4).map(name).collect();
    let profs: Vec<Prof> = names
        .iter()
        .zip(&keys)
        .enumerate()
        .map(|(i, (n, k))| Prof {
            name: n,
            key: k,
            base_url: if i == 3 { down_url.clone() } else { sim.base_url() },
        })
        .collect();
    let c = write_config(dir.path(), &profs, &[]);
    // client-04: a profile with a region typo (its settings do not resolve).
    let mut text = std::fs::read_to_string(&c).unwrap();
    text.push_str("[profile.client-04]\napi_key = \"x\"\nregion = \"mars\"\n");
    std::fs::write(&c, text).unwrap();
    let r = run(
        &[
            "--config",
            c.to_str().unwrap(),
            "--all",
            "sync",
            "--since",
            "2025-07-01",
            "--archive-poll-ms",
            "50",
            "--give-up-after",
            "3",
        ],
        &config_env(FAST),
        dir.path(),
    )
    .await;
    assert_code(&r, 2);
    let err = r.err();
    for (who, what) in [
        ("client-01: exit 3:", "code 50105"),
        ("client-02: exit 3:", "code 50110"),
        ("client-03: exit 1:", "no usable answer from `127.0.0.1:"),
        ("client-04: exit 2:", "unknown region `mars`"),
    ] {
        let line = err
            .lines()
            .find(|l| l.contains(who))
            .unwrap_or_else(|| panic!("{who} in\n{err}"));
        assert!(line.contains(what), "{line}");
    }
    assert!(r.stdout.contains("client-00: sync ok in "), "{}", r.stdout);
    let summary: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("output").join("fleet-summary.json")).unwrap(),
    )
    .unwrap();
    let secs = |i: usize| summary["profiles"][i]["elapsed_seconds"].as_f64().unwrap();
    assert_eq!(summary["profiles"][0]["status"], "ok");
    // The good client was not held up by the one whose host is down.
    assert!(secs(0) < secs(3) + 10.0, "{summary}");
    let s = run(
        &["--config", c.to_str().unwrap(), "--all", "status", "--json"],
        &config_env(FAST),
        dir.path(),
    )
    .await;
    let rows: Vec<Value> = serde_json::from_str(&s.stdout).unwrap();
    let problems: Vec<Value> = rows.iter().map(|r| r["key_problems"].clone()).collect();
    assert_eq!(rows[0]["state"], "complete");
    assert_eq!(problems[1], serde_json::json!(["wrong_passphrase"]));
    assert_eq!(problems[2], serde_json::json!(["ip_not_allowed"]));
    assert_eq!(rows[3]["state"], "failed");
    assert!(
        rows[3]["problem"].as_str().unwrap().contains("no usable answer"),
        "{}",
        rows[3]
    );
    assert_eq!(
        rows[4]["state"], "never_synced",
        "its settings never resolved: no store"
    );
    assert_eq!(s.code, 3, "the worst recorded exit (client-04 never ran: 1)");
}

/// A client's price stage starts as soon as its own sync is done, while the others still
/// sync (their limits are per UID, the candles' per IP), one client after another so the
/// shared cache fetches each bar once. `--jobs 1` makes the order certain: client-00 is
/// priced while client-01 and client-02 sync.
#[tokio::test(flavor = "multi_thread")]
async fn prices_start_while_other_clients_sync() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = SimConfig::clients(3, |_| AccountSize::Sub);
    cfg.rate_scale = FAST;
    let keys = cfg.keys.clone();
    let sim = sim(cfg).await;
    let c = fleet_config(dir.path(), &keys, &sim.base_url());
    let r = run(
        &[
            "--config",
            &c,
            "--all",
            "--jobs",
            "1",
            "sync",
            "--since",
            "2025-07-01",
            "--archive-poll-ms",
            "50",
        ],
        &config_env(FAST),
        dir.path(),
    )
    .await;
    assert_code(&r, 0);
    let summary: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("output").join("fleet-summary.json")).unwrap(),
    )
    .unwrap();
    let stage = |name: &str| {
        let s = summary["stages"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == name)
            .unwrap_or_else(|| panic!("no {name} stage in {summary}"));
        let start = s["started_seconds"].as_f64().unwrap();
        (start, start + s["seconds"].as_f64().unwrap())
    };
    let (sync_start, sync_end) = stage("sync");
    let (prices_start, prices_end) = stage("prices");
    // (The two may end in either order: the last client synced may have nothing left to
    // price, and be priced before the sync stage has gathered every outcome.)
    assert!(
        sync_start < prices_start && prices_start < sync_end,
        "sync {sync_start:.2}–{sync_end:.2} s, prices {prices_start:.2}–{prices_end:.2} s"
    );
    // Every client was priced, and no bar was fetched twice: the clients' candle requests
    // add up to what the simulator served.
    let mut candles = 0;
    for i in 0..3 {
        let log =
            std::fs::read_to_string(dir.path().join("data").join(name(i)).join("last-run.log")).unwrap();
        let n: u64 = log
            .lines()
            .find_map(|l| l.strip_prefix("prices: ")?.split(' ').next()?.parse().ok())
            .unwrap_or_else(|| panic!("no price line in {}'s log:\n{log}", name(i)));
        candles += n;
    }
    let stats = sim.stats();
    let served: u64 = stats
        .endpoints
        .iter()
        .filter(|(n, _)| n.contains("candles"))
        .map(|(_, e)| e.requests)
        .sum();
    assert!(candles > 0);
    assert_eq!(candles, served, "{stats:?}");
}
