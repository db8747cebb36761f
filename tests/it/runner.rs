//! The runner (several profiles at once in one process, `--group` now, the fleet later):
//! each member's requests are signed with its own key and go to its own host.

use crate::common::*;
use crate::group::{Prof, config_env, write_config};
use okx_export::sim::{SimConfig, SimKey, SimServer};
use okx_export::store::RecordSource;

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
