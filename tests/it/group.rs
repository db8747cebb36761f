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
