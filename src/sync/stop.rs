//! A fatal local failure (a full disk, a read-only or damaged store) in any task stops
//! every stream at once, as Ctrl-C does: nothing else can be stored, so polling OKX on
//! would only delay the error.

use crate::store::is_local_fault;
use anyhow::Result;
use std::future::Future;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::sync::Notify;

/// What a task that was stopped returns; the sync fails with the first fatal error.
#[derive(Debug, thiserror::Error)]
#[error("stopped: another part of the sync failed for good")]
pub struct Stopped;

/// Shared by the tasks of one sync.
#[derive(Default)]
pub struct Stop {
    stopped: AtomicBool,
    notify: Notify,
    first: Mutex<Option<anyhow::Error>>,
}

impl Stop {
    /// Passes `r` on; a fatal local error stops the sync (the first one is kept for it) and
    /// the task gets [`Stopped`].
    pub fn pass<T>(&self, r: Result<T>) -> Result<T> {
        match r {
            Err(e) if is_local_fault(&e) => {
                self.trigger(e);
                Err(Stopped.into())
            }
            r => r,
        }
    }

    /// Stops the sync with `e`, unless it is already stopped.
    pub fn trigger(&self, e: anyhow::Error) {
        let mut first = self.first.lock().expect("stop lock");
        if first.is_none() {
            *first = Some(e);
        }
        self.stopped.store(true, Ordering::SeqCst);
        self.notify.notify_waiters();
    }

    pub fn is_stopped(&self) -> bool {
        self.stopped.load(Ordering::SeqCst)
    }

    async fn wait(&self) {
        loop {
            let notified = self.notify.notified();
            if self.is_stopped() {
                return;
            }
            notified.await;
        }
    }

    /// Awaits `f` unless the sync is stopped first: then the fatal error.
    pub async fn until<F: Future>(&self, f: F) -> Result<F::Output> {
        tokio::select! {
            biased;
            () = self.wait() => Err(self.error()),
            out = f => Ok(out),
        }
    }

    /// The error the sync stops with.
    pub fn error(&self) -> anyhow::Error {
        self.first
            .lock()
            .expect("stop lock")
            .take()
            .unwrap_or_else(|| Stopped.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_fatal_error_ends_every_wait() {
        let stop = std::sync::Arc::new(Stop::default());
        assert_eq!(stop.pass(Ok::<_, anyhow::Error>(1)).unwrap(), 1);
        let other = stop
            .pass::<()>(Err(anyhow::anyhow!("OKX answered 500")))
            .unwrap_err();
        assert!(!other.is::<Stopped>(), "an ordinary error is passed on");
        assert!(!stop.is_stopped());
        let waiting = {
            let stop = stop.clone();
            tokio::spawn(async move { stop.until(std::future::pending::<()>()).await })
        };
        let full = std::io::Error::from_raw_os_error(libc::ENOSPC);
        let got = stop.pass::<()>(Err(anyhow::Error::new(full))).unwrap_err();
        assert!(got.is::<Stopped>());
        let first = waiting.await.unwrap().unwrap_err();
        assert!(first.downcast_ref::<std::io::Error>().is_some(), "{first:#}");
    }
}
