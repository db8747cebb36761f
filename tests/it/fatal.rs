//! Fatal local failures (issue 20 item 2): a store that cannot be written stops every
//! stream at once, as Ctrl-C does, and names the path and the fix.

use crate::common::*;
use okx_export::sim::{SimConfig, SimKey};
use std::path::Path;
use std::time::{Duration, Instant};

/// Runs the binary with every file it writes limited to `max_bytes` (RLIMIT_FSIZE, with
/// SIGXFSZ ignored so a write past it fails with EFBIG as on a full disk): works as root
/// and as any user, no mount needed.
async fn run_with_file_limit(args: &[&str], env: &[(String, String)], cwd: &Path, max_bytes: u64) -> Run {
    let mut cmd = command(args, env, cwd);
    // SAFETY: between fork and exec only async-signal-safe calls (signal, setrlimit).
    unsafe {
        cmd.pre_exec(move || {
            libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
            let lim = libc::rlimit {
                rlim_cur: max_bytes,
                rlim_max: max_bytes,
            };
            if libc::setrlimit(libc::RLIMIT_FSIZE, &raw const lim) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let out = cmd.output().await.expect("binary runs");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// A full disk while OKX is still generating an archive file: the sync used to go on
/// polling until `--archive-wait` ran out. Now it stops within seconds, exit 1, one line
/// under `--quiet` naming the store and the fix.
#[tokio::test(flavor = "multi_thread")]
async fn a_full_disk_stops_every_stream_at_once() {
    let sim = sim(SimConfig {
        // OKX never finishes the file: only a stop ends the archive's polling early.
        archive_ready_after_polls: 1_000_000,
        ..fast_config()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let env = env_for(&sim, &SimKey::demo(), FAST);
    for quiet in [true, false] {
        let mut args = vec!["--data-dir", data.to_str().unwrap()];
        if quiet {
            args.push("--quiet");
        }
        args.extend([
            "--no-progress",
            "sync",
            "--since",
            "2025-07-01",
            "--archive-poll-ms",
            "50",
            "--archive-wait",
            "120",
            "--no-prices",
        ]);
        let t0 = Instant::now();
        let r = run_with_file_limit(&args, &env, dir.path(), 256 << 10).await;
        let took = t0.elapsed();
        assert_code(&r, 1);
        assert!(took < Duration::from_secs(20), "took {took:?}: {}", r.stderr);
        let store = data.join("okx-export.sqlite3");
        let line = r.err();
        assert!(
            line.contains(&format!("`{}`", store.display())),
            "quiet={quiet}: {}",
            r.stderr
        );
        assert!(line.contains("free space"), "quiet={quiet}: {}", r.stderr);
        assert!(
            line.contains("run `okx-export sync` again"),
            "quiet={quiet}: {}",
            r.stderr
        );
        if quiet {
            assert_eq!(r.stderr.lines().count(), 1, "{}", r.stderr);
            assert!(r.stderr.starts_with("error: "), "{}", r.stderr);
            assert_eq!(r.stdout, "");
        }
    }
}
