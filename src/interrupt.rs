//! Ctrl-C and SIGTERM.
//!
//! The first signal asks the running command to stop: [`commands::run`] drops the
//! command's future, which stops every request (each page and its cursor are committed in
//! one transaction, so an in-flight page is either stored whole or not at all) and
//! releases the store lock; then `interrupted; run sync again to resume` is printed and the
//! exit code is 130 (SIGINT) or 143 (SIGTERM). Blocking work (a `secret_command`, the
//! archive parser) polls [`requested`]. A second signal exits at once.
//!
//! [`commands::run`]: crate::commands::run

use std::sync::atomic::{AtomicI32, Ordering};
use tokio::sync::Notify;

static SIGNAL: AtomicI32 = AtomicI32::new(0);
static NOTIFY: Notify = Notify::const_new();

/// The signal received, if any (`libc::SIGINT` or `libc::SIGTERM`).
pub fn requested() -> Option<i32> {
    match SIGNAL.load(Ordering::SeqCst) {
        0 => None,
        s => Some(s),
    }
}

/// The conventional exit status for a signal: 128 + its number.
pub fn exit_status(signal: i32) -> u8 {
    crate::error::Exit::for_signal(signal) as u8
}

/// The error blocking work returns when it stops for a signal.
#[derive(Debug, thiserror::Error)]
#[error("interrupted")]
pub struct Interrupted;

/// Fails with [`Interrupted`] once a signal has arrived.
pub fn check() -> Result<(), Interrupted> {
    match requested() {
        Some(_) => Err(Interrupted),
        None => Ok(()),
    }
}

/// Installs the handlers (call once, inside the runtime). Returns an error when the
/// platform refuses them; the command then runs with the default signal behaviour.
pub fn install() -> std::io::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut int = signal(SignalKind::interrupt())?;
    let mut term = signal(SignalKind::terminate())?;
    tokio::spawn(async move {
        loop {
            let got = tokio::select! {
                _ = int.recv() => libc::SIGINT,
                _ = term.recv() => libc::SIGTERM,
            };
            if SIGNAL
                .compare_exchange(0, got, Ordering::SeqCst, Ordering::SeqCst)
                .is_err()
            {
                eprintln!("interrupted again; exiting at once");
                std::process::exit(i32::from(exit_status(got)));
            }
            NOTIFY.notify_waiters();
        }
    });
    Ok(())
}

/// Resolves when the first signal arrives.
pub async fn wait() -> i32 {
    loop {
        let notified = NOTIFY.notified();
        if let Some(s) = requested() {
            return s;
        }
        notified.await;
    }
}
