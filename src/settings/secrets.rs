//! Reading the API secret and passphrase from a profile: a command (a password manager)
//! or an owner-only file.
//!
//! A command runs in its own process group with a timeout: when it hangs, when
//! okx-export is interrupted, or when it leaves children behind, the whole group is
//! killed, so no child outlives us.

use super::config_file::check_trusted;
use crate::error::usage;
use crate::secret::Secret;
use anyhow::Result;
use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Default time a `secret_command` / `passphrase_command` may take.
pub const DEFAULT_COMMAND_TIMEOUT: Duration = Duration::from_secs(30);

/// Where a secret comes from, for messages: e.g. "profile `default` in `okx-export.toml`".
pub struct Source<'a> {
    pub where_: &'a str,
    pub what: &'a str,
    pub timeout: Duration,
}

pub fn secret_from(src: &Source<'_>, command: Option<&str>, file: Option<&Path>) -> Result<Secret> {
    let (where_, what) = (src.where_, src.what);
    let value = match (command, file) {
        (Some(_), Some(_)) => {
            return Err(usage(format!(
                "{where_}: give either {what}_command or {what}_file, not both"
            )));
        }
        (Some(cmd), None) => run_command(src, cmd)?,
        (None, Some(path)) => {
            check_private_file(path)?;
            let value = std::fs::read_to_string(path).map_err(|e| {
                usage(format!(
                    "{where_}: cannot read {what}_file `{}`: {e}",
                    path.display()
                ))
            })?;
            let value = value.trim().to_string();
            if value.is_empty() {
                return Err(usage(format!(
                    "{where_}: {what}_file `{}` is empty",
                    path.display()
                )));
            }
            value
        }
        (None, None) => {
            return Err(usage(format!(
                "{where_}: missing {what}: add {what}_command (e.g. `pass show okx/{what}`) or {what}_file, or set OKX_API_{}",
                what.to_uppercase()
            )));
        }
    };
    Ok(Secret::new(value))
}

/// Kills a process group when dropped (unless disarmed by reaping it first).
struct GroupGuard(i32);

impl GroupGuard {
    fn kill(&self) {
        // SAFETY: kill(2) with a negative pid signals the process group we created; it has
        // no memory-safety preconditions.
        unsafe {
            libc::kill(-self.0, libc::SIGKILL);
        }
    }
}

impl Drop for GroupGuard {
    fn drop(&mut self) {
        self.kill();
    }
}

fn run_command(src: &Source<'_>, cmd: &str) -> Result<String> {
    use std::os::unix::process::CommandExt;
    let (where_, what) = (src.where_, src.what);
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .process_group(0)
        .spawn()
        .map_err(|e| usage(format!("{where_}: cannot run {what}_command `{cmd}`: {e}")))?;
    let group = GroupGuard(child.id() as i32);
    let mut stdout = child.stdout.take().expect("stdout is piped");
    let reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        stdout.read_to_end(&mut buf).map(|_| buf)
    });
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if crate::interrupt::requested().is_some() {
            group.kill();
            let _ = child.wait();
            return Err(crate::interrupt::Interrupted.into());
        }
        if started.elapsed() >= src.timeout {
            group.kill();
            let _ = child.wait();
            return Err(usage(format!(
                "{where_}: {what}_command `{cmd}` did not finish within {:?} and was killed; check that it does not wait for input, or raise `command_timeout` (seconds) in the profile",
                src.timeout
            )));
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    // Children the command left running (they would hold stdout open) go with it.
    drop(group);
    let out = reader
        .join()
        .map_err(|_| anyhow::anyhow!("{where_}: reading {what}_command output failed"))??;
    if !status.success() {
        return Err(usage(format!(
            "{where_}: {what}_command `{cmd}` failed ({status}); check that it prints the {what}"
        )));
    }
    let value = String::from_utf8(out).map_err(|_| {
        usage(format!(
            "{where_}: {what}_command `{cmd}` printed non-UTF-8 output"
        ))
    })?;
    let value = value.trim().to_string();
    if value.is_empty() {
        return Err(usage(format!("{where_}: {what}_command `{cmd}` printed nothing")));
    }
    Ok(value)
}

/// A secret file must be the user's own and readable by nobody else.
fn check_private_file(path: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        check_trusted(path, "secret file")?;
        let meta =
            std::fs::metadata(path).map_err(|e| usage(format!("cannot read `{}`: {e}", path.display())))?;
        if meta.permissions().mode() & 0o077 != 0 {
            return Err(usage(format!(
                "refusing `{}`: it is readable by group or others; run `chmod 600 {}`",
                path.display(),
                path.display()
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn src(timeout: Duration) -> Source<'static> {
        Source {
            where_: "profile `p` in `c.toml`",
            what: "secret",
            timeout,
        }
    }

    #[test]
    fn secret_file_permissions() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("secret");
        std::fs::write(&p, "s3cr3t\n").unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
        let s = src(DEFAULT_COMMAND_TIMEOUT);
        let err = secret_from(&s, None, Some(&p)).unwrap_err().to_string();
        assert!(err.contains(&format!("chmod 600 {}", p.display())), "{err}");
        assert!(!err.contains("s3cr3t"));
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(secret_from(&s, None, Some(&p)).unwrap().expose(), "s3cr3t");
    }

    #[test]
    fn secret_command() {
        let s = src(DEFAULT_COMMAND_TIMEOUT);
        assert_eq!(
            secret_from(&s, Some("printf '  abc \\n'"), None)
                .unwrap()
                .expose(),
            "abc"
        );
        let err = secret_from(&s, Some("exit 3"), None).unwrap_err().to_string();
        assert!(err.contains("failed"), "{err}");
    }

    fn alive(pid: i32) -> bool {
        // A zombie (state Z) is dead for our purpose.
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .is_ok_and(|s| !s.rsplit(')').next().unwrap_or("").trim_start().starts_with('Z'))
    }

    /// A hanging command is killed after the timeout, together with the child it started.
    #[test]
    fn hanging_command_times_out_and_its_children_die() {
        let dir = tempfile::tempdir().unwrap();
        let pidfile = dir.path().join("pid");
        let cmd = format!("sleep 300 & echo $! > {}; wait", pidfile.display());
        let t0 = Instant::now();
        let err = secret_from(&src(Duration::from_millis(700)), Some(&cmd), None)
            .unwrap_err()
            .to_string();
        let took = t0.elapsed();
        assert!(
            err.contains("did not finish within 700ms and was killed"),
            "{err}"
        );
        assert!(err.contains("profile `p` in `c.toml`"), "{err}");
        assert!(took < Duration::from_secs(5), "took {took:?}");
        let pid: i32 = std::fs::read_to_string(&pidfile).unwrap().trim().parse().unwrap();
        let deadline = Instant::now() + Duration::from_secs(3);
        while alive(pid) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(!alive(pid), "the command's child {pid} outlived the timeout");
    }

    /// A command that prints and exits but leaves a child holding stdout does not hang us.
    #[test]
    fn leftover_child_does_not_hang() {
        let t0 = Instant::now();
        let v = secret_from(&src(Duration::from_secs(10)), Some("echo tok; sleep 300 &"), None).unwrap();
        assert_eq!(v.expose(), "tok");
        assert!(t0.elapsed() < Duration::from_secs(5));
    }
}
