//! The real binary: key checks, configuration errors, exit codes, secrets never shown.

use crate::common::*;
use okx_export::sim::{SimConfig, SimKey};
use std::os::unix::fs::PermissionsExt;

#[tokio::test(flavor = "multi_thread")]
async fn read_only_key_is_accepted() {
    let sim = sim(SimConfig::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let r = run(&["check-key"], &env_for(&sim, &SimKey::demo(), 1), dir.path()).await;
    assert_code(&r, 0);
    assert!(r.stdout.contains("permissions:  read_only"), "{}", r.stdout);
    assert!(
        r.stdout.contains("uid:          10000001 (master account)"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("bound IPs:    127.0.0.1"), "{}", r.stdout);
    assert!(r.stdout.contains("ok: the key is read-only"));
}

#[tokio::test(flavor = "multi_thread")]
async fn trading_key_is_refused_with_exit_3() {
    let key = SimKey {
        perm: "read_only,trade".into(),
        ip: String::new(),
        ..SimKey::demo()
    };
    let sim = sim(SimConfig {
        keys: vec![key.clone()],
        ..SimConfig::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let env = env_for(&sim, &key, 1);
    let r = run(&["check-key"], &env, dir.path()).await;
    assert_code(&r, 3);
    assert!(
        r.err().contains("refusing this API key: it can trade"),
        "{}",
        r.stderr
    );
    assert!(r.err().contains("permission `Read` only"), "{}", r.stderr);
    // Every command that calls OKX checks first: sync refuses too, and writes no store data.
    let data = dir.path().join("data");
    let r = run(&["--data-dir", data.to_str().unwrap(), "sync"], &env, dir.path()).await;
    assert_code(&r, 3);
    // The override proceeds with a loud warning; no bound IP is warned about.
    let r = run(&["check-key", "--allow-trading-key"], &env, dir.path()).await;
    assert_code(&r, 0);
    assert!(r.err().contains("!!! this API key can trade"), "{}", r.stderr);
    assert!(!r.all().contains("the key is read-only"), "{}", r.all());
    assert!(r.stdout.contains("the key is NOT read-only"), "{}", r.stdout);
    assert!(r.err().contains("not bound to any IP address"), "{}", r.stderr);
}

#[tokio::test(flavor = "multi_thread")]
async fn wrong_passphrase_and_wrong_region_exit_3() {
    let sim = sim(SimConfig::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let mut env = env_for(&sim, &SimKey::demo(), 1);
    env.retain(|(k, _)| k != "OKX_API_PASSPHRASE");
    env.push(("OKX_API_PASSPHRASE".into(), "wrong".into()));
    let r = run(&["check-key"], &env, dir.path()).await;
    assert_code(&r, 3);
    assert!(
        r.err().contains("50105") && r.err().contains("passphrase is wrong"),
        "{}",
        r.stderr
    );

    let mut env = env_for(&sim, &SimKey::demo(), 1);
    env.retain(|(k, _)| k != "OKX_API_KEY");
    env.push(("OKX_API_KEY".into(), "an-eea-key".into()));
    let r = run(&["check-key"], &env, dir.path()).await;
    assert_code(&r, 3);
    assert!(
        r.err().contains("50119") && r.err().contains("--region"),
        "{}",
        r.stderr
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn configuration_errors_exit_2_with_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    // No credentials at all.
    let r = run(&["check-key", "--base-url", "http://127.0.0.1:9"], &[], p).await;
    assert_code(&r, 2);
    assert!(r.err().contains("no API credentials"), "{}", r.stderr);
    // Plain http to a non-loopback host.
    let r = run(&["check-key", "--base-url", "http://okx.example.com"], &[], p).await;
    assert_code(&r, 2);
    assert!(r.err().contains("refusing plain http"), "{}", r.stderr);
    // Unknown field in the config names the field and the file.
    let cfg = p.join("okx-export.toml");
    std::fs::write(
        &cfg,
        "[profile.default]\napi_key = \"k\"\nsecrt_command = \"echo x\"\n",
    )
    .unwrap();
    let r = run(&["check-key"], &[], p).await;
    assert_code(&r, 2);
    assert!(
        r.err().contains("secrt_command") && r.err().contains("okx-export.toml"),
        "{}",
        r.stderr
    );
    // A group-readable secret file is refused with the fix.
    let secret = p.join("secret");
    std::fs::write(&secret, "s").unwrap();
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o640)).unwrap();
    std::fs::write(
        &cfg,
        format!(
            "[profile.default]\napi_key = \"k\"\nsecret_file = \"{}\"\npassphrase_command = \"echo p\"\n",
            secret.display()
        ),
    )
    .unwrap();
    let r = run(&["check-key", "--base-url", "http://127.0.0.1:9"], &[], p).await;
    assert_code(&r, 2);
    assert!(
        r.err().contains(&format!("chmod 600 {}", secret.display())),
        "{}",
        r.stderr
    );
    // Missing profile, bad date, bad format, bad zone.
    let r = run(&["--profile", "nope", "check-key"], &[], p).await;
    assert_code(&r, 2);
    assert!(r.err().contains("profile `nope` not found"), "{}", r.stderr);
    std::fs::remove_file(&cfg).unwrap();
    let r = run(&["sync", "--since", "2024-13-01"], &[], p).await;
    assert_code(&r, 2);
    assert!(
        r.err().contains("--since `2024-13-01` is not a date"),
        "{}",
        r.stderr
    );
    let data = p.join("d");
    std::fs::create_dir_all(&data).unwrap();
    okx_export::store::Store::open(&data).unwrap();
    for (flag, value, expect) in [
        ("--format", "koinly,turbotax", "turbotax"),
        ("--tz", "Mars/Base", "Mars/Base"),
        ("--from", "yesterday", "--from `yesterday`"),
    ] {
        let r = run(
            &["--data-dir", data.to_str().unwrap(), "report", flag, value],
            &[],
            p,
        )
        .await;
        assert_code(&r, 2);
        assert!(r.err().contains(expect), "{flag}: {}", r.stderr);
        assert_eq!(
            r.stderr.lines().filter(|l| l.starts_with("error:")).count(),
            1,
            "{}",
            r.stderr
        );
    }
    // Unknown flag: clap's usage error, exit 2.
    let r = run(&["sync", "--frobnicate"], &[], p).await;
    assert_code(&r, 2);
}

/// Secrets never appear in -v logs, errors, the store or the output files.
#[tokio::test(flavor = "multi_thread")]
async fn secrets_never_leak() {
    let key = SimKey {
        secret: "SECRET-6f1d2c9a-never-print".into(),
        passphrase: "PASSPHRASE-b7e3-never-print".into(),
        ..SimKey::demo()
    };
    let sim = sim(SimConfig {
        keys: vec![key.clone()],
        rate_scale: FAST,
        ..SimConfig::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let env = env_for(&sim, &key, FAST);
    let r = run(
        &[
            "-vv",
            "--data-dir",
            data.to_str().unwrap(),
            "export",
            "--since",
            "2025-07-01",
            "--archive-poll-ms",
            "50",
        ],
        &env,
        dir.path(),
    )
    .await;
    assert!(r.code == 0 || r.code == 4, "{}", r.all());
    assert!(
        r.err().contains("GET /api/v5/"),
        "-v logs requests: {}",
        &r.stderr[..r.stderr.len().min(2000)]
    );
    // An error path too: wrong passphrase.
    let mut bad = env.clone();
    bad.retain(|(k, _)| k != "OKX_API_SECRET");
    bad.push(("OKX_API_SECRET".into(), "ANOTHER-SECRET-zz9-never-print".into()));
    let r2 = run(&["-vv", "check-key"], &bad, dir.path()).await;
    assert_code(&r2, 3);
    for text in [r.all(), r2.all()] {
        for s in [key.secret.as_str(), key.passphrase.as_str(), "ANOTHER-SECRET-zz9"] {
            assert!(!text.contains(s), "secret `{s}` printed");
        }
    }
    // Nothing in the data directory (store, summaries, CSVs) contains them.
    for entry in walk(&data) {
        let bytes = std::fs::read(&entry).unwrap();
        for s in [&key.secret, &key.passphrase] {
            assert!(
                !bytes.windows(s.len()).any(|w| w == s.as_bytes()),
                "secret found in {}",
                entry.display()
            );
        }
    }
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// Issue 20 item 12: hints that point to the right place. A base URL with OKX's API path
/// says the host alone is wanted; https against a plain-http server says TLS failed, not
/// only "connection failed"; a `--since` in the future is refused; an unknown region is
/// refused even when the profile also sets a base URL; a rejected secret names where it
/// was read from; no message points at a README section that does not exist.
#[tokio::test(flavor = "multi_thread")]
async fn hints_point_to_the_right_place() {
    let sim = sim(fast_config()).await;
    let dir = tempfile::tempdir().unwrap();
    let env = env_for(&sim, &SimKey::demo(), FAST);
    let api = format!("{}/api/v5", sim.base_url());
    let r = run(&["check-key", "--base-url", &api], &env, dir.path()).await;
    assert_code(&r, 2);
    assert!(r.err().contains("the base URL is the host only"), "{}", r.stderr);

    let https = sim.base_url().replace("http://", "https://");
    let r = run(
        &["check-key", "--base-url", &https, "--give-up-after", "2"],
        &env,
        dir.path(),
    )
    .await;
    assert_code(&r, 1);
    assert!(r.err().contains("TLS handshake failed"), "{}", r.stderr);
    assert!(
        r.err().contains("after 1 attempt") || !r.err().contains("after 1 attempts"),
        "{}",
        r.stderr
    );

    let r = run(&["sync", "--since", "2030-01-01"], &env, dir.path()).await;
    assert_code(&r, 2);
    assert!(
        r.err().contains("--since 2030-01-01 is in the future"),
        "{}",
        r.stderr
    );

    let cfg = dir.path().join("okx-export.toml");
    let secret = dir.path().join("secret");
    std::fs::write(&secret, "not-the-secret\n").unwrap();
    let pass = dir.path().join("pass");
    std::fs::write(&pass, format!("{}\n", SimKey::demo().passphrase)).unwrap();
    let write_cfg = |region: &str| {
        std::fs::write(
            &cfg,
            format!(
                "[profile.default]\napi_key = \"{}\"\nsecret_file = \"{}\"\npassphrase_file = \"{}\"\nbase_url = \"{}\"\n{region}",
                SimKey::demo().api_key,
                secret.display(),
                pass.display(),
                sim.base_url()
            ),
        )
        .unwrap();
        for p in [&cfg, &secret, &pass] {
            std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
    };
    write_cfg("region = \"mars\"\n");
    let plain = [("OKX_EXPORT_RATE_SCALE".to_string(), FAST.to_string())];
    let r = run(&["check-key"], &plain, dir.path()).await;
    assert_code(&r, 2);
    assert!(r.err().contains("unknown region `mars`"), "{}", r.stderr);
    write_cfg("");
    let r = run(&["check-key"], &plain, dir.path()).await;
    assert_code(&r, 3);
    assert!(
        r.err().contains(&format!("secret_file `{}`", secret.display())),
        "{}",
        r.stderr
    );
    assert!(!r.err().contains("OKX_API_SECRET"), "{}", r.stderr);

    // Every README section a message names exists.
    let readme = include_str!("../../README.md");
    for src in [include_str!("../../src/commands/check_key.rs")] {
        for (i, _) in src.match_indices("README, section") {
            let name = src[i..]
                .split('"')
                .nth(1)
                .unwrap_or_default()
                .trim_end_matches('\\');
            assert!(
                readme.contains(&format!("## {name}")),
                "README has no section `{name}`"
            );
        }
    }
}
