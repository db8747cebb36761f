//! Several profiles in one process (`--group`): the runner keeps each member's key and host
//! apart; a master and its sub-accounts report as one set of files.

use crate::common::*;
use okx_export::sim::{SimConfig, SimKey, SimServer};
use okx_export::store::RecordSource;
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

fn recording(key: &SimKey) -> SimConfig {
    SimConfig {
        keys: vec![key.clone()],
        record_requests: true,
        ..fast_config()
    }
}

/// Issue 22 (the runner): two profiles on two loopback hosts, synced at once in one
/// process. Every request a host receives carries its own profile's key and passphrase and
/// a valid signature; neither host ever sees the other's credentials; each store holds its
/// own account.
#[tokio::test(flavor = "multi_thread")]
async fn each_member_signs_with_its_own_key_to_its_own_host() {
    let dir = tempfile::tempdir().unwrap();
    let key_a = SimKey {
        api_key: "key-of-alice".into(),
        secret: "secret-of-alice-0123".into(),
        passphrase: "pass-of-alice".into(),
        uid: "30000001".into(),
        ..SimKey::demo()
    };
    let key_b = SimKey {
        api_key: "key-of-bob".into(),
        secret: "secret-of-bob-4567".into(),
        passphrase: "pass-of-bob".into(),
        uid: "30000002".into(),
        ..SimKey::demo()
    };
    let sim_a = SimServer::start(recording(&key_a)).await.unwrap();
    let sim_b = SimServer::start(SimConfig {
        seed: 8,
        ..recording(&key_b)
    })
    .await
    .unwrap();
    let cfg = write_config(
        dir.path(),
        &[
            Prof {
                name: "alice",
                key: &key_a,
                base_url: sim_a.base_url(),
            },
            Prof {
                name: "bob",
                key: &key_b,
                base_url: sim_b.base_url(),
            },
        ],
        &[("both", &["alice", "bob"])],
    );
    let r = run(
        &[
            "--config",
            cfg.to_str().unwrap(),
            "--group",
            "both",
            "sync",
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
    assert!(
        r.stdout.contains("[alice] sync:") && r.stdout.contains("[bob] sync:"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("alice: exit 0 (ok)") && r.stdout.contains("bob: exit 0 (ok)"),
        "{}",
        r.stdout
    );
    for (sim, key, other) in [(&sim_a, &key_a, &key_b), (&sim_b, &key_b, &key_a)] {
        let seen = sim.seen();
        let private: Vec<_> = seen.iter().filter(|s| s.key.is_some()).collect();
        assert!(private.len() > 20, "{} private requests", private.len());
        for s in &seen {
            if s.endpoint.starts_with("public") || s.endpoint == "instruments" {
                assert_eq!(s.key, None, "public {} carries no key", s.endpoint);
                continue;
            }
            assert_eq!(s.key.as_deref(), Some(key.api_key.as_str()), "{}", s.endpoint);
            assert_eq!(s.passphrase.as_deref(), Some(key.passphrase.as_str()));
            assert_ne!(s.key.as_deref(), Some(other.api_key.as_str()));
            assert_ne!(s.passphrase.as_deref(), Some(other.passphrase.as_str()));
        }
        assert_eq!(sim.stats().totals.auth_failures, 0, "every signature verified");
        assert_eq!(sim.stats().total_rate_limited, 0);
    }
    // Each store holds its own account (different seeds: different first deposits).
    let first_dep = |name: &str| {
        let s = store(&dir.path().join("data").join(name));
        let mut ids = Vec::new();
        s.for_each(okx_export::store::RecordKind::Deposit, &mut |r| {
            ids.push(r.key.clone());
            Ok(())
        })
        .unwrap();
        ids
    };
    let (a, b) = (first_dep("alice"), first_dep("bob"));
    assert_eq!(a.len(), sim_a.account().deposits().len());
    assert_eq!(b.len(), sim_b.account().deposits().len());
    assert_ne!(a, b);
    // No member's secret or key in the other's files.
    for (name, other) in [("alice", &key_b), ("bob", &key_a)] {
        for e in std::fs::read_dir(dir.path().join("data").join(name)).unwrap() {
            let bytes = std::fs::read(e.unwrap().path()).unwrap();
            let text = String::from_utf8_lossy(&bytes);
            for s in [&other.api_key, &other.secret, &other.passphrase] {
                assert!(
                    !text.contains(s.as_str()),
                    "{name}'s files hold the other's credential"
                );
            }
        }
    }
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
        r.stderr
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
    assert!(r.stdout.contains("sub-accounts: 4 listed"), "{}", r.stdout);
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
