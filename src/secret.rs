//! Redacting holders for the API secret and passphrase.
//!
//! `Debug` and `Display` print `***`; the value is reachable only through
//! [`Secret::expose`], which the signing code and the header builder call. Nothing else
//! should.

use secrecy::{ExposeSecret, SecretString};
use std::fmt;

/// A secret string (API secret or passphrase).
#[derive(Clone)]
pub struct Secret(SecretString);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(SecretString::from(value.into()))
    }

    /// The secret value. Call only where it is put on the wire or into the HMAC.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }

    pub fn is_empty(&self) -> bool {
        self.expose().is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// Key, secret and passphrase of one OKX API key.
#[derive(Clone, Debug)]
pub struct Credentials {
    /// The API key is an identifier, not a secret, but it is still shortened in messages.
    pub api_key: String,
    pub secret: Secret,
    pub passphrase: Secret,
}

impl Credentials {
    /// `abcd…wxyz`, for messages.
    pub fn key_hint(&self) -> String {
        let k = &self.api_key;
        if k.chars().count() <= 8 {
            "****".to_string()
        } else {
            let head: String = k.chars().take(4).collect();
            let tail: String = k
                .chars()
                .rev()
                .take(4)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect();
            format!("{head}…{tail}")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_are_redacted() {
        let creds = Credentials {
            api_key: "0123456789abcdef".into(),
            secret: Secret::new("TOPSECRET-VALUE"),
            passphrase: Secret::new("my passphrase"),
        };
        let dbg = format!("{creds:?} {} {}", creds.secret, creds.passphrase);
        assert!(!dbg.contains("TOPSECRET"), "{dbg}");
        assert!(!dbg.contains("my passphrase"), "{dbg}");
        assert!(dbg.contains("***"));
        assert_eq!(creds.secret.expose(), "TOPSECRET-VALUE");
        assert_eq!(creds.key_hint(), "0123…cdef");
    }
}
