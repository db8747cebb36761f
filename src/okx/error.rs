//! Errors from talking to OKX, classified by what the user can do about them.

use std::time::Duration;

/// Why an OKX call failed for good.
#[derive(Debug, thiserror::Error)]
pub enum OkxError {
    /// The key, passphrase, signature, host or environment was rejected (exit code 3).
    #[error("OKX rejected the credentials on `{endpoint}` (code {code}: {msg})")]
    Credentials {
        endpoint: &'static str,
        code: String,
        msg: String,
        hint: &'static str,
    },
    /// The local clock is off even after re-syncing with OKX's server time (exit code 3).
    #[error(
        "OKX says the request timestamp expired on `{endpoint}` even after re-syncing with server time (code 50102)"
    )]
    Clock { endpoint: &'static str },
    /// OKX answered with an error code that retrying will not fix.
    #[error("OKX `{endpoint}` failed with code {code}: {msg}")]
    Api {
        endpoint: &'static str,
        code: String,
        msg: String,
    },
    /// Transient failures kept happening, or the host gave no usable answer for
    /// `give_up_after`.
    #[error(
        "no usable answer from `{host}` for OKX `{endpoint}` after {} in {elapsed:.1?} ({tried}); last: {last}",
        if *attempts == 1 { "1 attempt".to_string() } else { format!("{attempts} attempts") }
    )]
    GaveUp {
        endpoint: &'static str,
        host: String,
        attempts: u32,
        elapsed: Duration,
        tried: String,
        last: String,
        /// Some attempt failed below HTTP (connect, timeout, a dropped connection): the
        /// network or the host may be wrong. `false`: the host answered every time, with
        /// HTTP 429/5xx or a busy code.
        network: bool,
    },
    /// The host answered with a redirect; it is never followed (the signed headers would
    /// go along to the target).
    #[error(
        "`{host}` answered OKX `{endpoint}` with HTTP {status}, a redirect to `{target}`; okx-export follows no redirect, so the credentials stay with `{host}`"
    )]
    Redirect {
        endpoint: &'static str,
        host: String,
        status: u16,
        target: String,
    },
    /// An answer or file larger than its cap.
    #[error(
        "the answer of `{host}` to `{endpoint}` is larger than {} MiB; refusing it{}", limit >> 20,
        if *endpoint == crate::okx::endpoints::ARCHIVE_DOWNLOAD { " (raise `--archive-max-download` if a real archive file is this large)" } else { " (OKX's pages are far smaller: is the base URL right?)" }
    )]
    TooLarge {
        endpoint: &'static str,
        host: String,
        limit: u64,
    },
    /// The answer did not have the shape we expect.
    #[error("could not decode the answer of OKX `{endpoint}` {detail}")]
    Decode { endpoint: &'static str, detail: String },
    /// A downloaded file could not be written locally (a full disk): not OKX's fault, and
    /// no retry helps.
    #[error("cannot write the file downloaded from `{endpoint}` to a temporary file")]
    LocalWrite {
        endpoint: &'static str,
        #[source]
        source: std::io::Error,
    },
    /// A request could not even be built (bad base URL and the like).
    #[error("bad request to OKX `{endpoint}`: {detail}")]
    Request { endpoint: &'static str, detail: String },
}

impl OkxError {
    /// Credentials or key problems: the CLI exits with 3 for these.
    pub fn is_credentials(&self) -> bool {
        matches!(self, OkxError::Credentials { .. } | OkxError::Clock { .. })
    }

    /// When the endpoint itself is not there for this account or region (an HTTP 4xx
    /// answer, or an OKX error code), a short stable reason such as `HTTP 404` or `code
    /// 51000`; `None` for failures that may pass (network, busy host) or are ours.
    pub fn unavailable(&self) -> Option<String> {
        match self {
            OkxError::Api { code, .. } => Some(format!("code {code}")),
            OkxError::Decode { detail, .. } => {
                let status = detail.strip_prefix("(HTTP ")?.split(')').next()?;
                status.starts_with('4').then(|| format!("HTTP {status}"))
            }
            _ => None,
        }
    }

    /// What the user can do about it, printed after the error (`hint: …`), or `None`.
    pub fn hint(&self) -> Option<String> {
        match self {
            OkxError::Credentials { hint, .. } => Some((*hint).to_string()),
            OkxError::Clock { .. } => {
                Some("set the system clock (e.g. enable NTP: `timedatectl set-ntp true`)".into())
            }
            // The network hint only where the network may be at fault: a host that
            // answered 429 or 5xx every time was reached.
            OkxError::GaveUp { host, network: true, .. } => Some(format!(
                "check the network and that `{host}` is your account's OKX host (`--region global|eea|us` or `--base-url`); `--give-up-after SECS` waits longer"
            )),
            OkxError::GaveUp { network: false, .. } => Some(
                "OKX kept answering that it is busy or that this key is over its rate limit: rerun later; `--give-up-after SECS` waits longer, `--rate-share` below 1 leaves room for other programs using the key".into(),
            ),
            OkxError::Redirect { .. } => Some(
                "the base URL is not an OKX API host: use `--region global|eea|us`, or a `--base-url` that answers directly".into(),
            ),
            _ => None,
        }
    }
}

/// What to do with an OKX error code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeClass {
    Transient,
    /// Re-sync server time once, then retry.
    ClockSkew,
    Credentials(&'static str),
    Fatal,
}

/// Classifies an OKX `code` (which may carry a `_sub` suffix).
pub fn classify_code(code: &str) -> CodeClass {
    let base = code.split('_').next().unwrap_or(code);
    match base {
        "50001" | "50004" | "50011" | "50013" | "50026" | "58102" => CodeClass::Transient,
        "50102" => CodeClass::ClockSkew,
        "50119" => CodeClass::Credentials(
            "this API key does not exist on this host; a key only works on the host of the site it was created on: `--region global` (www.okx.com), `--region eea` (eea.okx.com: my.okx.com, including accounts migrated to OKX's EEA entity), `--region us` (us.okx.com: app.okx.com); or set `region` in the profile",
        ),
        "50101" => CodeClass::Credentials(
            "the key does not match the environment: a demo-trading key needs `--demo-trading`, a live key must be used without it",
        ),
        "50105" => CodeClass::Credentials(
            "the passphrase is wrong: it is the one chosen when the API key was created (OKX cannot show it again; create a new key if it is lost)",
        ),
        "50110" => CodeClass::Credentials(
            "this machine's IP address is not in the key's IP whitelist: add it to the key on OKX (profile → API → edit) or run from a whitelisted host",
        ),
        "50111" => CodeClass::Credentials(
            "OKX does not know this API key: it was deleted (by you, or by OKX, which removes unused keys that can trade and are bound to no IP) or mistyped: create a new read-only key on OKX and put it in the profile, or copy the key again without spaces",
        ),
        "50113" | "50114" | "50103" | "50104" | "50106" | "50107" | "50112" => CodeClass::Credentials(
            "the API key or signature is invalid: copy the key and its secret again from OKX, without spaces",
        ),
        "50100" => {
            CodeClass::Credentials("the API key is frozen on OKX: unfreeze it or create a new read-only key")
        }
        "50120" | "50030" => CodeClass::Credentials(
            "the key lacks permission for this endpoint: the key needs the Read permission",
        ),
        _ => CodeClass::Fatal,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_table() {
        let cases = [
            ("50011", CodeClass::Transient),
            ("50001", CodeClass::Transient),
            ("58102", CodeClass::Transient),
            ("50102", CodeClass::ClockSkew),
            ("51000", CodeClass::Fatal),
            ("51008_1000", CodeClass::Fatal),
            ("50013_2", CodeClass::Transient),
        ];
        for (code, class) in cases {
            assert_eq!(classify_code(code), class, "{code}");
        }
        for code in ["50119", "50101", "50105", "50110", "50111", "50113", "50114"] {
            assert!(matches!(classify_code(code), CodeClass::Credentials(_)), "{code}");
        }
        let CodeClass::Credentials(h) = classify_code("50119") else {
            unreachable!()
        };
        assert!(h.contains("--region global") && h.contains("--region eea") && h.contains("--region us"));
        assert!(h.contains("migrated to OKX's EEA entity"), "{h}");
        let CodeClass::Credentials(h) = classify_code("50101") else {
            unreachable!()
        };
        assert!(h.contains("--demo-trading"));
    }
}
