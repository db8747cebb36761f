//! Exit codes and the errors that choose them.

use crate::okx::OkxError;

/// The process exit status, as documented in the README and `--help`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Exit {
    Success = 0,
    /// Network/API gave up after retries, I/O.
    Runtime = 1,
    /// Usage or configuration error.
    Usage = 2,
    /// Credentials rejected or key refused (not read-only).
    Credentials = 3,
    /// Unclassified records or failed reconciliation.
    Data = 4,
    /// Stopped by Ctrl-C (128 + SIGINT).
    Interrupted = 130,
    /// Stopped by SIGTERM (128 + SIGTERM).
    Terminated = 143,
}

impl Exit {
    /// The exit for a stopping signal.
    pub fn for_signal(signal: i32) -> Exit {
        if signal == libc::SIGTERM {
            Exit::Terminated
        } else {
            Exit::Interrupted
        }
    }
}

/// A configuration or usage problem (exit 2). The message names the thing and the fix.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// Shorthand for returning a [`UsageError`].
pub fn usage(msg: impl Into<String>) -> anyhow::Error {
    UsageError(msg.into()).into()
}

/// The key can do more than read (exit 3).
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct KeyRefused {
    pub message: String,
    pub hint: String,
}

/// An error with what the user can do about it, printed after it as `hint: …` (on the
/// same line with `--quiet`). The message never repeats the hint.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct Hinted {
    pub message: String,
    pub hint: String,
}

/// The hint of the error: one given as context (which knows more, e.g. where the
/// credentials came from), else that of the first error in the chain that has one.
pub fn hint_for(err: &anyhow::Error) -> Option<String> {
    if let Some(h) = err.downcast_ref::<Hinted>() {
        return Some(h.hint.clone());
    }
    err.chain().find_map(|c| {
        if let Some(h) = c.downcast_ref::<Hinted>() {
            return Some(h.hint.clone());
        }
        if let Some(k) = c.downcast_ref::<KeyRefused>() {
            return Some(k.hint.clone());
        }
        c.downcast_ref::<OkxError>().and_then(OkxError::hint)
    })
}

/// A data problem (exit 4): a stored record that cannot be read, or prices the store says
/// were fetched but are not where it says. The message names it and the fix.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct DataProblem(pub String);

/// Chooses the exit code for an error by looking through its whole chain.
pub fn exit_for(err: &anyhow::Error) -> Exit {
    for cause in err.chain() {
        if cause.downcast_ref::<UsageError>().is_some() {
            return Exit::Usage;
        }
        if cause.downcast_ref::<KeyRefused>().is_some() {
            return Exit::Credentials;
        }
        if cause.downcast_ref::<DataProblem>().is_some() {
            return Exit::Data;
        }
        if let Some(e) = cause.downcast_ref::<OkxError>() {
            return if e.is_credentials() {
                Exit::Credentials
            } else {
                Exit::Runtime
            };
        }
    }
    Exit::Runtime
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::Context;

    #[test]
    fn exit_codes_follow_the_chain() {
        let e = Err::<(), _>(usage("bad date")).context("report").unwrap_err();
        assert_eq!(exit_for(&e), Exit::Usage);
        let e = anyhow::Error::new(OkxError::Credentials {
            endpoint: "x",
            code: "50105".into(),
            msg: "m".into(),
            hint: "h",
        })
        .context("sync");
        assert_eq!(exit_for(&e), Exit::Credentials);
        assert_eq!(exit_for(&anyhow::anyhow!("disk full")), Exit::Runtime);
        let e = anyhow::Error::new(DataProblem("prices gone".into())).context("report");
        assert_eq!(exit_for(&e), Exit::Data);
    }
}
