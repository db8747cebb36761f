//! A master and its sub-accounts (issue 18): discovery, `check-key`, and a group of them
//! reported as one set of files. The config helpers here serve `runner.rs` too.

use crate::common::*;
use okx_export::sim::{SimConfig, SimKey, SimServer};
use std::fmt::Write as _;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// One `[profile.NAME]` of a test config: its key, its host, its data dir.
pub struct Prof<'a> {
    pub name: &'a str,
    pub key: &'a SimKey,
    pub base_url: String,
}

/// Writes `okx-export.toml` (0600) into `dir` with `profiles` (secrets in 0600 files) and
/// `groups`; returns its path. Data dirs are `dir/data/<name>`.
pub fn write_config(dir: &Path, profiles: &[Prof], groups: &[(&str, &[&str])]) -> PathBuf {
    let secrets = dir.join("secrets");
    std::fs::create_dir_all(&secrets).unwrap();
    let mut text = String::new();
    for p in profiles {
        let secret = secrets.join(format!("{}.secret", p.name));
        let pass = secrets.join(format!("{}.pass", p.name));
        std::fs::write(&secret, &p.key.secret).unwrap();
        std::fs::write(&pass, &p.key.passphrase).unwrap();
        for f in [&secret, &pass] {
            std::fs::set_permissions(f, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        let _ = write!(
            text,
            "[profile.{}]\napi_key = \"{}\"\nsecret_file = \"{}\"\npassphrase_file = \"{}\"\nbase_url = \"{}\"\ndata_dir = \"{}\"\n\n",
            p.name,
            p.key.api_key,
            secret.display(),
            pass.display(),
            p.base_url,
            dir.join("data").join(p.name).display()
        );
    }
    for (name, members) in groups {
        let list = members
            .iter()
            .map(|m| format!("\"{m}\""))
            .collect::<Vec<_>>()
            .join(", ");
        let _ = write!(text, "[group.{name}]\nprofiles = [{list}]\n\n");
    }
    let path = dir.join("okx-export.toml");
    std::fs::write(&path, text).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    path
}

/// The environment of a config-driven run: no OKX_* credentials, the test rate scale.
pub fn config_env(rate_scale: u32) -> Vec<(String, String)> {
    vec![
        ("OKX_EXPORT_RATE_SCALE".into(), rate_scale.to_string()),
        ("OKX_EXPORT_BACKOFF_MS".into(), "20".into()),
    ]
}

/// The demo family: a master with `bot` and `savings` (keyed) and, when asked, `vault`
/// (active, no key) and `dormant` (never used, no key).
pub fn family(unkeyed: bool) -> SimConfig {
    let mut cfg = SimConfig::family();
    if unkeyed {
        cfg.subaccounts
            .push(okx_export::sim::SimSub::active("vault", "20000004", 23));
        cfg.subaccounts
            .push(okx_export::sim::SimSub::empty("dormant", "20000005"));
    }
    SimConfig {
        rate_scale: FAST,
        ..cfg
    }
}

/// The three keys of [`family`]'s profiles: main (the master), bot, savings.
pub fn family_keys() -> [SimKey; 3] {
    [
        SimKey::demo(),
        SimKey::sub("bot", "20000002"),
        SimKey::sub("savings", "20000003"),
    ]
}

/// Issue 18 item 1: a master's check-key lists each sub-account with its uid, label, what
/// it holds and which profile holds its key, matched by the uid that profile's own key
/// reported (never by name); a sub-account's key says whose sub-account it is.
#[tokio::test(flavor = "multi_thread")]
async fn check_key_lists_sub_accounts_and_their_keys() {
    let dir = tempfile::tempdir().unwrap();
    let sim = SimServer::start(family(true)).await.unwrap();
    let [main, bot, savings] = family_keys();
    // The profile holding the bot's key is called `trader`: matched by uid, not by name.
    let cfg = write_config(
        dir.path(),
        &[
            Prof {
                name: "main",
                key: &main,
                base_url: sim.base_url(),
            },
            Prof {
                name: "trader",
                key: &bot,
                base_url: sim.base_url(),
            },
            Prof {
                name: "savings",
                key: &savings,
                base_url: sim.base_url(),
            },
        ],
        &[],
    );
    let c = cfg.to_str().unwrap();
    let env = config_env(FAST);
    let r = run(
        &["--config", c, "--profile", "trader", "check-key"],
        &env,
        dir.path(),
    )
    .await;
    assert_code(&r, 0);
    assert!(
        r.stdout.contains("uid:          20000002 (sub-account)"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("master uid:   10000001"), "{}", r.stdout);
    let r = run(
        &["--config", c, "--profile", "main", "check-key"],
        &env,
        dir.path(),
    )
    .await;
    assert_code(&r, 0);
    let line = |name: &str| {
        r.stdout
            .lines()
            .find(|l| l.trim_start().starts_with(&format!("{name}:")))
            .unwrap_or_else(|| panic!("no line for {name}:\n{}", r.stdout))
            .to_string()
    };
    assert!(r.stdout.contains("sub-accounts: 4"), "{}", r.stdout);
    let bot_line = line("bot");
    assert!(
        bot_line.contains("uid 20000002, label `bot account`"),
        "{bot_line}"
    );
    assert!(bot_line.contains("key: profile `trader`"), "{bot_line}");
    assert!(bot_line.contains(" USD,"), "valued in USD: {bot_line}");
    // `savings` never ran check-key or sync: its uid is unknown, so no profile matches it,
    // and the note says which profile to check.
    assert!(line("savings").contains("key: none known"), "{}", line("savings"));
    assert!(
        r.err()
            .contains("run `okx-export --profile NAME check-key` once for: savings"),
        "{}",
        r.stderr
    );
    let vault = line("vault");
    assert!(
        vault.contains("(create a read-only key for sub-account `vault` on OKX"),
        "{vault}"
    );
    assert!(line("dormant").contains("holds nothing"), "{}", line("dormant"));
    // The holdings are the simulator's, in USD.
    let bal = |name: &str| {
        let d = sim.sub_account(name).unwrap().snapshot();
        d.balances.iter().filter(|((a, _), _)| *a != "earn").count()
    };
    assert!(bal("vault") > 0);
}

/// Issue 18 item 1: a master's sync records its identity, its sub-accounts with their
/// balances, and every master↔sub transfer (covered down to the floor); a sub-account's
/// sync records that it is one and never calls the master's endpoints.
#[tokio::test(flavor = "multi_thread")]
async fn master_sync_stores_its_sub_accounts_and_transfers() {
    let dir = tempfile::tempdir().unwrap();
    let sim = SimServer::start(family(true)).await.unwrap();
    let data = dir.path().join("main");
    let r = sync(&sim, &data, &["--no-archive"]).await;
    assert_code(&r, 0);
    assert!(
        r.stdout.contains("sub-accounts: 4, balances and transfers read"),
        "{}",
        r.stdout
    );
    let s = store(&data);
    let id = s.identity().unwrap().unwrap();
    assert!(id.is_master() && id.uid == "10000001", "{id:?}");
    let list = s.sub_accounts().unwrap().unwrap();
    let names: Vec<&str> = list.subs.iter().map(|x| x.name.as_str()).collect();
    assert_eq!(names, ["bot", "dormant", "savings", "vault"]);
    for name in ["bot", "vault"] {
        let truth = sim.sub_account(name).unwrap().snapshot();
        let mut want: Vec<(String, String, rust_decimal::Decimal)> = truth
            .balances
            .iter()
            .filter(|((a, _), _)| *a != "earn")
            .map(|((a, c), v)| ((*a).to_string(), (*c).to_string(), *v))
            .collect();
        want.sort();
        let mut got: Vec<(String, String, rust_decimal::Decimal)> = list
            .balances_of(name)
            .filter(|b| !b.total.is_zero())
            .map(|b| (b.account.clone(), b.ccy.clone(), b.total))
            .collect();
        got.sort();
        assert_eq!(got, want, "{name}'s balances as the master reads them");
    }
    assert_eq!(list.balances_of("dormant").count(), 0);
    let want: Vec<String> = sim
        .account()
        .snapshot()
        .sub_transfers
        .iter()
        .map(|t| t.bill_id.to_string())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    assert_eq!(want.len(), 18, "6 transfers with each active sub-account");
    assert_eq!(s.keys(okx_export::store::RecordKind::SubTransfer).unwrap(), want);
    let cov = s.coverage("subaccount-bills").unwrap().unwrap();
    assert_eq!(cov.from, s.floor().unwrap(), "covered down to the floor");
    let c = okx_export::coverage::check(&s, None, None).unwrap();
    assert!(
        !c.missing
            .iter()
            .any(|m| m.group == okx_export::coverage::Group::SubTransfers),
        "{:#?}",
        c.missing
    );
    assert!(c.streams.iter().any(|x| x.stream == "subaccount-bills"));
    drop(s);

    // The repair a report prints for an unreadable transfer names `subaccount-bills`
    // (synced apart from the other streams); `sync --refetch` runs it and the transfers
    // come back.
    let db = rusqlite::Connection::open(data.join(okx_export::store::Store::FILE)).unwrap();
    let deleted = db
        .execute(
            "DELETE FROM records WHERE kind = 'sub_transfer' AND key IN
             (SELECT key FROM records WHERE kind = 'sub_transfer' LIMIT 3)",
            [],
        )
        .unwrap();
    assert_eq!(deleted, 3);
    drop(db);
    let r = sync(&sim, &data, &["--refetch", "subaccount-bills"]).await;
    assert_code(&r, 0);
    assert!(r.stdout.contains("refetch subaccount-bills"), "{}", r.stdout);
    assert_eq!(
        store(&data)
            .keys(okx_export::store::RecordKind::SubTransfer)
            .unwrap(),
        want
    );

    // A sub-account's key: no master endpoint is called, nothing is listed.
    sim.reset_stats();
    let sub_data = dir.path().join("bot");
    let env = env_for(&sim, &SimKey::sub("bot", "20000002"), FAST);
    let r = run(&sync_args(&sub_data, &["--no-archive"]), &env, dir.path()).await;
    assert_code(&r, 0);
    let stats = sim.stats();
    for ep in [
        "subaccount-list",
        "subaccount-bills",
        "subaccount-trading-balances",
        "subaccount-funding-balances",
    ] {
        assert_eq!(stats.get(ep).requests, 0, "{ep}");
    }
    let s = store(&sub_data);
    let id = s.identity().unwrap().unwrap();
    assert_eq!(
        (id.uid.as_str(), id.main_uid.as_deref(), id.is_master()),
        ("20000002", Some("10000001"), false)
    );
    assert_eq!(s.sub_accounts().unwrap(), None);
    let truth = sim.sub_account("bot").unwrap().snapshot();
    assert_eq!(
        s.keys(okx_export::store::RecordKind::FundingBill).unwrap().len(),
        truth.funding_bills.len(),
        "the sub-account's own ledger, transfers included"
    );
}

/// Profiles main, bot and savings of [`family`] on `sim`, in group `fam`; returns the config.
fn family_config(dir: &Path, sim: &SimServer) -> PathBuf {
    let [main, bot, savings] = family_keys();
    write_config(
        dir,
        &[
            Prof {
                name: "main",
                key: &main,
                base_url: sim.base_url(),
            },
            Prof {
                name: "bot",
                key: &bot,
                base_url: sim.base_url(),
            },
            Prof {
                name: "savings",
                key: &savings,
                base_url: sim.base_url(),
            },
        ],
        &[("fam", &["main", "bot", "savings"])],
    )
}

/// `okx-export --config CFG --group fam export` with the demo's --since.
async fn export_group(dir: &Path, cfg: &Path, extra: &[&str]) -> Run {
    let mut args = vec![
        "--config",
        cfg.to_str().unwrap(),
        "--no-progress",
        "--group",
        "fam",
        "export",
        "--since",
        "2025-07-01",
        "--archive-poll-ms",
        "50",
    ];
    args.extend_from_slice(extra);
    run(&args, &config_env(FAST), dir).await
}

fn csv_rows(path: &Path) -> (Vec<String>, Vec<Vec<String>>) {
    let mut rdr = csv::Reader::from_path(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let header = rdr.headers().unwrap().iter().map(String::from).collect();
    let rows = rdr
        .records()
        .map(|r| r.unwrap().iter().map(String::from).collect())
        .collect();
    (header, rows)
}

/// Issue 18, "Done when" (1): a group of a master and two keyed sub-accounts exports ONE
/// set of files with exit 0: transactions.csv keeps every member's rows (24 columns as
/// always, then `profile`); the transfers between members are internal and in no tax file;
/// every member's balances and the group's internal transfers reconcile; each tax file
/// reads back as transactions.csv minus its dropped rows; per member and asset the rows sum
/// to what the simulator holds. Run for both readings of what OKX leaves unverified
/// (equal transfer billIds or not; notes naming the sub-account or not).
#[tokio::test(flavor = "multi_thread")]
async fn group_of_master_and_two_subs_reports_as_one() {
    for (same_ids, named) in [(false, true), (true, false)] {
        let dir = tempfile::tempdir().unwrap();
        let sim = SimServer::start(SimConfig {
            sub_transfer_same_bill_ids: same_ids,
            sub_transfer_notes_name_sub: named,
            ..family(false)
        })
        .await
        .unwrap();
        let cfg = family_config(dir.path(), &sim);
        let r = export_group(dir.path(), &cfg, &[]).await;
        if std::env::var_os("SHOW_OUTPUT").is_some() {
            println!("{}\n---\n{}", r.stdout, r.stderr);
        }
        assert_code(&r, 0);
        // Each profile's per-stream sync table fits 80 columns behind its `[savings] `.
        let streams: Vec<String> = okx_export::sync::streams().into_iter().map(|s| s.name).collect();
        let table: Vec<&str> = r
            .stdout
            .lines()
            .filter(|l| {
                let first = l
                    .split_once("] ")
                    .and_then(|(_, rest)| rest.split_whitespace().next());
                first.is_some_and(|f| {
                    f == "stream" || f == "bills-history-archive" || streams.iter().any(|s| s == f)
                })
            })
            .collect();
        assert!(
            table.iter().filter(|l| l.contains("range (UTC)")).count() >= 3,
            "{}",
            r.stdout
        );
        for line in &table {
            assert!(
                line.chars().count() <= 80,
                "{} columns: {line}",
                line.chars().count()
            );
        }
        let out = dir.path().join("output/fam");
        let (header, rows) = csv_rows(&out.join("transactions.csv"));
        assert_eq!(&header[..24], okx_export::export::TRANSACTIONS_HEADER.as_slice());
        assert_eq!(header.len(), 25);
        assert_eq!(header[24], "profile");
        let col = |n: &str| header.iter().position(|h| h == n).unwrap();
        let (id, kind, note, profile) = (col("id"), col("kind"), col("note"), col("profile"));
        for row in &rows {
            assert!(
                row[id].starts_with(&format!("{}/", row[profile])),
                "row id `{}` names its profile `{}`",
                row[id],
                row[profile]
            );
        }
        let ids: std::collections::BTreeSet<&str> = rows.iter().map(|r| r[id].as_str()).collect();
        assert_eq!(
            ids.len(),
            rows.len(),
            "row ids are unique across members (same_ids = {same_ids})"
        );
        let internal: Vec<&str> = rows
            .iter()
            .filter(|r| r[note].contains("which is in this report: internal"))
            .map(|r| r[id].as_str())
            .collect();
        assert_eq!(
            internal.len(),
            28,
            "12 transfers and 2 internal withdrawals (one to each sub-account), both sides"
        );
        assert!(
            rows.iter()
                .filter(|r| internal.contains(&r[id].as_str()))
                .all(|r| r[kind] == "transfer")
        );
        for p in ["main", "bot", "savings"] {
            assert!(rows.iter().any(|r| r[profile] == p), "rows of {p}");
        }
        // No internal transfer in any tax file (by the row id each format carries).
        for f in [
            "koinly.csv",
            "cointracking.csv",
            "ctc.csv",
            "bittytax.csv",
            "coinledger.csv",
            "dali-in.csv",
            "dali-out.csv",
        ] {
            let text = std::fs::read_to_string(out.join(f)).unwrap();
            let tokens: std::collections::BTreeSet<&str> = text.split([',', ' ', '"', '\n']).collect();
            for i in &internal {
                assert!(!tokens.contains(i), "{f} holds internal transfer {i}");
            }
        }
        let summary: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
        assert_eq!(
            summary["reconciliation"]["ok"], true,
            "{:#}",
            summary["reconciliation"]
        );
        assert_eq!(summary["incomplete"], false);
        assert_eq!(summary["accounts"]["complete"], true);
        let members = summary["members"].as_array().unwrap();
        assert_eq!(members.len(), 3);
        for m in members {
            assert_eq!(
                m["reconciliation"]["ok"], true,
                "{}: {:#}",
                m["profile"], m["reconciliation"]
            );
            assert!(m["reconciliation"]["matched"].as_u64().unwrap() > 3);
        }
        // The group check and every file's read-back, in reconciliation.csv.
        let (rh, checks) = csv_rows(&out.join("reconciliation.csv"));
        assert_eq!(rh.last().map(String::as_str), Some("profile"));
        let group = checks
            .iter()
            .find(|c| c[0] == "group" && c[2].is_empty())
            .expect("a group row");
        assert_eq!(group[8], "ok", "{group:?}");
        assert!(
            group[9].starts_with(
                "12 internal transfers between accounts of this report: 12 paired (12 at the same ms"
            ),
            "{}",
            group[9]
        );
        let files: Vec<&Vec<String>> = checks
            .iter()
            .filter(|c| c[0].starts_with("file:") && c[2].is_empty())
            .collect();
        assert_eq!(files.len(), 8, "transactions and seven tax formats read back");
        assert!(files.iter().all(|c| c[8] == "ok"), "{files:?}");
        // Per member, account and asset: the rows sum to the simulator's balances.
        let mut sums: std::collections::BTreeMap<(String, String, String), rust_decimal::Decimal> =
            std::collections::BTreeMap::new();
        let (acc, sa, sx, ra, rx, fa, fx) = (
            col("account"),
            col("sent_amount"),
            col("sent_asset"),
            col("received_amount"),
            col("received_asset"),
            col("fee_amount"),
            col("fee_asset"),
        );
        for row in &rows {
            for (a, x, sign) in [(ra, rx, 1), (sa, sx, -1), (fa, fx, -1)] {
                if !row[a].is_empty() {
                    let v: rust_decimal::Decimal = row[a].parse().unwrap();
                    *sums
                        .entry((row[profile].clone(), row[acc].clone(), row[x].clone()))
                        .or_default() += v * rust_decimal::Decimal::from(sign);
                }
            }
        }
        for (p, truth) in [
            ("main", sim.account().snapshot()),
            ("bot", sim.sub_account("bot").unwrap().snapshot()),
            ("savings", sim.sub_account("savings").unwrap().snapshot()),
        ] {
            for ((account, ccy), bal) in truth.balances.iter().filter(|((a, _), _)| *a != "earn") {
                let got = sums
                    .get(&(p.to_string(), (*account).to_string(), (*ccy).to_string()))
                    .copied()
                    .unwrap_or_default();
                assert_eq!(got, *bal, "{p} {account} {ccy}");
            }
        }
        assert!(
            r.stdout
                .contains("reconciliation (group): ok (12 internal transfers"),
            "{}",
            r.stdout
        );
        assert!(r.stdout.contains("[bot] reconciliation: ok"), "{}", r.stdout);
    }
}

/// Issue 18, "Done when" (2) and (3): a sub-account with a balance and no key turns the
/// group's report into exit 4 naming it, what it holds and moved, and the fix (no tax
/// files; `--allow-incomplete` writes them, marked); an empty, untouched sub-account is
/// only listed; `status --group` shows the same; a report of the master alone names the
/// same missing sub-account, while the keyed ones it calls reported elsewhere.
#[tokio::test(flavor = "multi_thread")]
async fn an_unkeyed_sub_account_with_a_balance_makes_the_report_incomplete() {
    let dir = tempfile::tempdir().unwrap();
    let sim = SimServer::start(family(true)).await.unwrap();
    let cfg = family_config(dir.path(), &sim);
    let r = export_group(dir.path(), &cfg, &[]).await;
    assert_code(&r, 4);
    let fix = "fix: create a read-only key for sub-account `vault` on OKX → Sub-accounts → API, add it as `[profile.vault]` and to the group";
    // Exit 4 is an error (one line, naming the first missing account), its details the
    // missing accounts one per line.
    assert!(
        r.stderr.starts_with(
            "error: report: 1 sub-account(s) with holdings or transfers are not in the report, so no tax files were written"
        ),
        "{}",
        r.stderr
    );
    let line = r
        .stderr
        .lines()
        .next()
        .and_then(|l| l.split_once("; first: "))
        .map_or_else(|| panic!("vault is named:\n{}", r.stderr), |(_, first)| first);
    assert!(
        line.starts_with("`vault` (uid 20000004, sub-account of `main`) is not in this report"),
        "{line}"
    );
    let line = line.trim_end_matches(
        ". Fix them and rerun, or pass --allow-incomplete to write the files anyway (marked incomplete)",
    );
    assert!(
        line.contains("it holds ")
            && line.contains(" USDT")
            && line.contains("7 transfer(s) with the master"),
        "{line}"
    );
    assert!(line.ends_with(fix), "{line}");
    assert!(
        !r.stderr.contains("`dormant`"),
        "an empty sub-account is no problem:\n{}",
        r.stderr
    );
    assert!(
        r.stdout.contains(
            "account: `dormant` (uid 20000005, sub-account of `main`): holds nothing and moved nothing"
        ),
        "{}",
        r.stdout
    );
    let out = dir.path().join("output/fam");
    assert!(
        !out.join("koinly.csv").exists(),
        "no tax files without --allow-incomplete"
    );
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["incomplete"], true);
    let missing: Vec<&str> = summary["accounts"]["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["status"] == "missing")
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    assert_eq!(missing, ["vault"]);

    let c = cfg.to_str().unwrap();
    let env = config_env(FAST);
    let report = |extra: &'static [&'static str]| {
        let mut args = vec!["--config", c, "--no-progress"];
        args.extend_from_slice(extra);
        args
    };
    let r = run(
        &report(&["--group", "fam", "report", "--allow-incomplete"]),
        &env,
        dir.path(),
    )
    .await;
    assert_code(&r, 0);
    assert!(
        r.stderr
            .contains("INCOMPLETE: written anyway (--allow-incomplete)"),
        "{}",
        r.stderr
    );
    assert!(out.join("koinly.csv").exists());
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["incomplete"], true);
    assert_eq!(summary["reconciliation"]["ok"], true);

    let r = run(&report(&["--group", "fam", "status"]), &env, dir.path()).await;
    assert_code(&r, 0);
    assert!(
        r.stdout.contains("[bot] store:") && r.stdout.contains("group `fam`:"),
        "{}",
        r.stdout
    );
    assert!(
        r.stderr.contains("incomplete: `vault` (uid 20000004"),
        "{}",
        r.stderr
    );
    assert!(
        r.stdout.contains("accounts: 1 sub-account(s) left out"),
        "{}",
        r.stdout
    );

    // The master alone: the same missing sub-account; the keyed ones are reported by their
    // own profiles, and every transfer is a move to or from the user's own other wallet.
    let r = run(&report(&["--profile", "main", "report"]), &env, dir.path()).await;
    assert_code(&r, 4);
    let named: Vec<&str> = r
        .stderr
        .lines()
        .filter(|l| l.contains("is not in this report"))
        .collect();
    assert_eq!(named.len(), 1, "{}", r.stderr);
    assert!(
        named[0].contains("`vault`") && named[0].contains(fix),
        "{}",
        named[0]
    );
    assert!(
        r.stdout
            .contains("account: `bot` (uid 20000002, sub-account of `main`): reported by profile `bot`"),
        "{}",
        r.stdout
    );
    let r = run(
        &report(&["--profile", "main", "report", "--allow-incomplete"]),
        &env,
        dir.path(),
    )
    .await;
    assert_code(&r, 0);
    let (h, rows) = csv_rows(&dir.path().join("data/main/transactions.csv"));
    assert_eq!(h.len(), 24, "a one-profile report has no profile column");
    let (kind, cp) = (
        h.iter().position(|x| x == "kind").unwrap(),
        h.iter().position(|x| x == "note").unwrap(),
    );
    let moves: Vec<&Vec<String>> = rows
        .iter()
        .filter(|r| r[cp].contains("not in this report"))
        .collect();
    assert_eq!(
        moves.len(),
        18,
        "6 transfers with each of the three active sub-accounts"
    );
    assert!(
        moves
            .iter()
            .all(|r| r[kind] == "withdrawal" || r[kind] == "deposit")
    );
    let koinly = std::fs::read_to_string(dir.path().join("data/main/koinly.csv")).unwrap();
    assert_eq!(
        koinly.matches("sub-account vault").count(),
        6,
        "each tax file names the sub-account"
    );
}

/// Two profiles holding keys of one account in a group would put every row in twice: the
/// report refuses (exit 2) naming both.
#[tokio::test(flavor = "multi_thread")]
async fn a_group_lists_each_account_once() {
    let dir = tempfile::tempdir().unwrap();
    let sim = SimServer::start(fast_config()).await.unwrap();
    let key = SimKey::demo();
    let cfg = write_config(
        dir.path(),
        &[
            Prof {
                name: "a",
                key: &key,
                base_url: sim.base_url(),
            },
            Prof {
                name: "b",
                key: &key,
                base_url: sim.base_url(),
            },
        ],
        &[("twice", &["a", "b"])],
    );
    let c = cfg.to_str().unwrap();
    let env = config_env(FAST);
    let sync = [
        "--config",
        c,
        "--group",
        "twice",
        "sync",
        "--since",
        "2025-07-01",
        "--no-archive",
        "--no-prices",
    ];
    assert_code(&run(&sync, &env, dir.path()).await, 0);
    let r = run(&["--config", c, "--group", "twice", "report"], &env, dir.path()).await;
    assert_code(&r, 2);
    assert!(
        r.stderr
            .contains("profiles `a` and `b` hold keys of the same account (uid 10000001)"),
        "{}",
        r.stderr
    );
}
