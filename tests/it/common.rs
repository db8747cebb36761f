//! Test helpers: start the simulator, run the real binary against it, read its store.

use okx_export::sim::{SimConfig, SimKey, SimServer};
use okx_export::store::Store;
use std::path::Path;
use std::process::Stdio;

pub const BIN: &str = env!("CARGO_BIN_EXE_okx-export");

/// Rate scale used by tests that do not measure pacing (keeps the suite short).
pub const FAST: u32 = 10;

/// Output of one run of the binary.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn all(&self) -> String {
        format!("{}\n{}", self.stdout, self.err())
    }

    /// stderr with each message on one line: the lines a message was wrapped into (to 80
    /// columns; continuations are indented) joined again, for tests that look for words.
    pub fn err(&self) -> String {
        unwrap_lines(&self.stderr)
    }
}

/// Joins indented continuation lines to the line before them.
pub fn unwrap_lines(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        if line.starts_with("  ") && !out.is_empty() {
            out.pop();
            out.push(' ');
            out.push_str(line.trim_start());
        } else {
            out.push_str(line);
        }
        out.push('\n');
    }
    out
}

pub async fn sim(cfg: SimConfig) -> SimServer {
    SimServer::start(cfg).await.expect("simulator starts")
}

pub fn fast_config() -> SimConfig {
    SimConfig {
        rate_scale: FAST,
        ..SimConfig::default()
    }
}

/// Environment for the binary: the demo key, the simulator URL, the matching rate scale.
pub fn env_for(sim: &SimServer, key: &SimKey, rate_scale: u32) -> Vec<(String, String)> {
    vec![
        ("OKX_BASE_URL".into(), sim.base_url()),
        ("OKX_API_KEY".into(), key.api_key.clone()),
        ("OKX_API_SECRET".into(), key.secret.clone()),
        ("OKX_API_PASSPHRASE".into(), key.passphrase.clone()),
        ("OKX_EXPORT_RATE_SCALE".into(), rate_scale.to_string()),
        ("OKX_EXPORT_BACKOFF_MS".into(), "20".into()),
    ]
}

/// Builds the command with a clean environment (no OKX_* from the developer's shell).
pub fn command(args: &[&str], env: &[(String, String)], cwd: &Path) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(BIN);
    cmd.args(args)
        .current_dir(cwd)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    scrub(&mut cmd, env);
    cmd.kill_on_drop(true);
    cmd
}

/// A clean environment for a child (no OKX_* or config from the developer's shell), plus
/// `env`.
pub fn scrub(cmd: &mut tokio::process::Command, env: &[(String, String)]) {
    for (k, _) in std::env::vars() {
        if k.starts_with("OKX_") || k == "XDG_CONFIG_HOME" || k == "RUST_LOG" {
            cmd.env_remove(k);
        }
    }
    cmd.env("NO_COLOR", "1");
    for (k, v) in env {
        cmd.env(k, v);
    }
}

pub async fn run(args: &[&str], env: &[(String, String)], cwd: &Path) -> Run {
    let out = command(args, env, cwd).output().await.expect("binary runs");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// `sync` into `data` with the demo account's `--since` and a short archive poll.
/// The `sync` command line every test uses: the demo account's `--since` and a short
/// archive poll, plus `extra`.
pub fn sync_args<'a>(data: &'a Path, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "--data-dir",
        data.to_str().unwrap(),
        "--no-progress",
        "sync",
        "--since",
        "2025-07-01",
        "--archive-poll-ms",
        "50",
        // The price stage has its own tests (prices.rs); request counts here are the sync's.
        "--no-prices",
    ];
    args.extend_from_slice(extra);
    args
}

/// `sync` into `data` against `sim`, run to completion.
pub async fn sync(sim: &SimServer, data: &Path, extra: &[&str]) -> Run {
    let env = env_for(sim, &SimKey::demo(), sim.config().rate_scale);
    run(&sync_args(data, extra), &env, data.parent().unwrap()).await
}

pub fn store(data: &Path) -> Store {
    Store::open(data).expect("store opens")
}

/// Asserts that a run exited with `code`, showing its output otherwise.
#[track_caller]
pub fn assert_code(run: &Run, code: i32) {
    assert_eq!(run.code, code, "unexpected exit code; output:\n{}", run.all());
}
