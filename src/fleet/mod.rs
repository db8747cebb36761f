//! Many clients on one machine (`--all`): what each profile's last run left behind and how
//! the fleet looks as a whole. The commands run the profiles
//! ([`crate::commands::fleet`]); this module only reads and renders.
//!
//! | file | concern |
//! |---|---|
//! | `mod.rs` | what a failed run records ([`RunFailure`]) and the key's problems ([`KeyProblem`]) |
//! | `status.rs` | one profile's state from its store ([`status::ClientStatus`]): complete, incomplete, failed, never synced, stale |
//! | `table.rs` | the `status --all` table, one line per profile within 100 columns |
//! | `summary.rs` | `output/fleet-summary.json`, what a fleet run did |
//! | `html.rs` | the same rows as a page (`status --all --html FILE`), in the report's style |
//!
//! A sync records every run in its store (`runs`): a successful one with its summary and
//! what the key can do (`key`), a failed one with a `failure` ([`RunFailure`]: exit code,
//! the one-line reason, the fix and the key's problems). So `status` tells the same
//! story a `sync --all` told, whenever and from wherever it is asked.

pub mod html;
pub mod status;
pub mod summary;
pub mod table;

use crate::error::{Exit, KeyRefused, exit_for, hint_for};
use crate::okx::OkxError;
use serde::{Deserialize, Serialize};

/// A problem of a profile's API key, as its last run saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyProblem {
    /// 50111: OKX does not know the key any more (deleted by its owner, or by OKX).
    Revoked,
    /// 50119: no such key on this host (a key works only on its site's host).
    WrongHost,
    /// 50105.
    WrongPassphrase,
    /// 50113 and the other signature and header codes: the secret is not the key's.
    BadSignature,
    /// 50110: this machine's IP is not in the key's whitelist.
    IpNotAllowed,
    /// 50100.
    Frozen,
    /// 50101: a demo-trading key without `demo_trading`, or the other way round.
    WrongEnvironment,
    /// The key can trade or withdraw (refused unless `--allow-trading-key`).
    CanTrade,
    /// The key is bound to no IP address (advice: binding one limits a leak's damage).
    NoIpBound,
}

impl KeyProblem {
    /// The short name the table shows.
    pub fn label(self) -> &'static str {
        match self {
            KeyProblem::Revoked => "revoked",
            KeyProblem::WrongHost => "wrong-host",
            KeyProblem::WrongPassphrase => "passphrase",
            KeyProblem::BadSignature => "signature",
            KeyProblem::IpNotAllowed => "ip-not-allowed",
            KeyProblem::Frozen => "frozen",
            KeyProblem::WrongEnvironment => "demo-live",
            KeyProblem::CanTrade => "can-trade",
            KeyProblem::NoIpBound => "no-ip-bound",
        }
    }

    /// What the problem is and what to do, in a few words (the table's `failed:` state;
    /// the OKX code, the full reason and the fix are in `status --json`).
    pub fn short(self) -> &'static str {
        match self {
            KeyProblem::Revoked => "key revoked: make a new one",
            KeyProblem::WrongHost => "key unknown on this host: set region",
            KeyProblem::WrongPassphrase => "wrong passphrase: correct it",
            KeyProblem::BadSignature => "signature refused: copy secret again",
            KeyProblem::IpNotAllowed => "IP not allowed: add it to the key",
            KeyProblem::Frozen => "key frozen: unfreeze it on OKX",
            KeyProblem::WrongEnvironment => "demo/live mismatch: demo_trading",
            KeyProblem::CanTrade => "can trade: use a read-only key",
            KeyProblem::NoIpBound => "no IP bound: bind this machine's IP",
        }
    }

    /// The problem an OKX error code means, if it is one of the key's.
    pub fn of_code(code: &str) -> Option<KeyProblem> {
        Some(match code.split('_').next().unwrap_or(code) {
            "50111" => KeyProblem::Revoked,
            "50119" => KeyProblem::WrongHost,
            "50105" => KeyProblem::WrongPassphrase,
            "50113" | "50114" | "50103" | "50104" | "50106" | "50107" | "50112" => KeyProblem::BadSignature,
            "50110" => KeyProblem::IpNotAllowed,
            "50100" => KeyProblem::Frozen,
            "50101" => KeyProblem::WrongEnvironment,
            _ => return None,
        })
    }
}

/// What a failed run recorded: the `failure` object of its summary in the store's `runs`
/// and of `fleet-summary.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunFailure {
    pub exit: u8,
    /// The error on one line (never a secret: errors name where a secret comes from, not
    /// what it is).
    pub reason: String,
    /// What to do about it, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub key_problems: Vec<KeyProblem>,
}

impl RunFailure {
    pub fn of(err: &anyhow::Error) -> RunFailure {
        RunFailure {
            exit: exit_for(err) as u8,
            reason: one_line(err),
            fix: hint_for(err),
            key_problems: key_problems(err),
        }
    }

    /// `<reason>; fix: <fix>` (what a cron line says after the profile and exit code).
    pub fn line(&self) -> String {
        match &self.fix {
            Some(f) => format!("{}; fix: {f}", self.reason),
            None => self.reason.clone(),
        }
    }
}

/// What the last successful run saw of the key (the `key` object of its run summary).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyFacts {
    pub uid: Option<String>,
    /// OKX's `perm`, e.g. `read_only`.
    pub perm: String,
    pub read_only: bool,
    /// Whether the key is bound to an IP address (which one is not recorded).
    pub ip_bound: bool,
}

impl KeyFacts {
    pub fn problems(&self) -> Vec<KeyProblem> {
        let mut out = Vec::new();
        if !self.read_only {
            out.push(KeyProblem::CanTrade);
        }
        if !self.ip_bound {
            out.push(KeyProblem::NoIpBound);
        }
        out
    }
}

/// The key's problems an error shows: an OKX credentials code, or a key refused for
/// trading rights.
pub fn key_problems(err: &anyhow::Error) -> Vec<KeyProblem> {
    for cause in err.chain() {
        if cause.downcast_ref::<KeyRefused>().is_some() {
            return vec![KeyProblem::CanTrade];
        }
        if let Some(OkxError::Credentials { code, .. }) = cause.downcast_ref::<OkxError>() {
            return KeyProblem::of_code(code).into_iter().collect();
        }
    }
    Vec::new()
}

/// An error's chain on one line, causes that repeat what is already said left out.
pub fn one_line(err: &anyhow::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    for c in err.chain() {
        let text = c.to_string().replace('\n', " ");
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
    }
    parts.join(": ")
}

/// An exit code from its number (unknown numbers are runtime failures).
pub fn exit_of(code: u8) -> Exit {
    match code {
        0 => Exit::Success,
        2 => Exit::Usage,
        3 => Exit::Credentials,
        4 => Exit::Data,
        130 => Exit::Interrupted,
        143 => Exit::Terminated,
        _ => Exit::Runtime,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Hinted;

    fn credentials(code: &str) -> anyhow::Error {
        let e = OkxError::Credentials {
            endpoint: "account-config",
            code: code.into(),
            msg: "Invalid OK-ACCESS-KEY".into(),
            hint: "copy the key again",
        };
        let message = e.to_string();
        anyhow::Error::new(e).context(Hinted {
            message,
            hint: "copy the key again; okx-export read them from profile `a`".into(),
        })
    }

    #[test]
    fn a_failure_names_its_key_problem_and_fix_once() {
        let f = RunFailure::of(&credentials("50111"));
        assert_eq!(f.exit, 3);
        assert_eq!(f.key_problems, [KeyProblem::Revoked]);
        assert_eq!(
            f.reason, "OKX rejected the credentials on `account-config` (code 50111: Invalid OK-ACCESS-KEY)",
            "the repeated cause is left out"
        );
        assert_eq!(
            f.line(),
            format!(
                "{}; fix: copy the key again; okx-export read them from profile `a`",
                f.reason
            )
        );
        let refused = anyhow::Error::new(KeyRefused {
            message: "refusing this API key: it can trade".into(),
            hint: "create a read-only key".into(),
        });
        let f = RunFailure::of(&refused);
        assert_eq!(
            (f.exit, f.key_problems.as_slice()),
            (3, &[KeyProblem::CanTrade][..])
        );
        assert_eq!(f.fix.as_deref(), Some("create a read-only key"));
        let io = RunFailure::of(&anyhow::anyhow!("disk full").context("storing a page"));
        assert_eq!(
            (io.exit, io.reason.as_str(), io.fix),
            (1, "storing a page: disk full", None)
        );
        assert!(io.key_problems.is_empty());
        for (code, p) in [
            ("50105", KeyProblem::WrongPassphrase),
            ("50110", KeyProblem::IpNotAllowed),
            ("50119", KeyProblem::WrongHost),
            ("50113", KeyProblem::BadSignature),
        ] {
            assert_eq!(key_problems(&credentials(code)), [p]);
        }
        let json = serde_json::to_value(RunFailure::of(&credentials("50110"))).unwrap();
        assert_eq!(json["key_problems"], serde_json::json!(["ip_not_allowed"]));
    }

    #[test]
    fn facts_of_a_key_that_can_trade_and_is_unbound() {
        let k = KeyFacts {
            uid: Some("1".into()),
            perm: "read_only,trade".into(),
            read_only: false,
            ip_bound: false,
        };
        assert_eq!(k.problems(), [KeyProblem::CanTrade, KeyProblem::NoIpBound]);
        for p in k.problems() {
            assert!(p.short().len() <= 36 && !p.label().contains(' '));
        }
    }
}
