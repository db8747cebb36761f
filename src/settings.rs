//! Resolves command-line flags, environment and the config file into one immutable
//! [`Settings`]. This is the only module that reads environment variables.

use crate::cli::{GlobalArgs, Region};
use crate::error::usage;
use crate::okx::client::region_url;
use crate::secret::{Credentials, Secret};
use anyhow::Result;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Environment variables okx-export reads.
pub mod env {
    pub const API_KEY: &str = "OKX_API_KEY";
    pub const API_SECRET: &str = "OKX_API_SECRET";
    pub const API_PASSPHRASE: &str = "OKX_API_PASSPHRASE";
    /// Base URL override (also `--base-url`).
    pub const BASE_URL: &str = "OKX_BASE_URL";
    /// Multiplies every rate limit; only for simulators that scale theirs (benchmarks, tests).
    pub const RATE_SCALE: &str = "OKX_EXPORT_RATE_SCALE";
    /// Base backoff in ms between retries (tests shorten it).
    pub const BACKOFF_MS: &str = "OKX_EXPORT_BACKOFF_MS";
    pub const XDG_CONFIG_HOME: &str = "XDG_CONFIG_HOME";
    pub const HOME: &str = "HOME";
}

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// One `[profile.NAME]` table of the config file.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfileConfig {
    pub api_key: Option<String>,
    pub secret_command: Option<String>,
    pub secret_file: Option<PathBuf>,
    pub passphrase_command: Option<String>,
    pub passphrase_file: Option<PathBuf>,
    pub region: Option<String>,
    pub base_url: Option<String>,
    pub demo_trading: Option<bool>,
    pub data_dir: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    #[serde(default)]
    profile: BTreeMap<String, ProfileConfig>,
}

/// Everything a command needs to know, resolved once.
#[derive(Debug, Clone)]
pub struct Settings {
    pub profile: String,
    pub config_path: Option<PathBuf>,
    pub profile_config: ProfileConfig,
    pub base_url: String,
    pub demo_trading: bool,
    pub data_dir: PathBuf,
    pub quiet: bool,
    pub verbose: u8,
    pub progress: bool,
    pub allow_trading_key: bool,
    pub rate_scale: u32,
    pub backoff_ms: Option<u64>,
}

/// Plain http is allowed only to loopback hosts (the simulator); everything else must be https.
pub fn check_base_url(url: &str) -> Result<String> {
    let trimmed = url.trim().trim_end_matches('/').to_string();
    let (scheme, rest) = trimmed.split_once("://").ok_or_else(|| {
        usage(format!(
            "base URL `{url}` has no scheme; use e.g. `https://www.okx.com`"
        ))
    })?;
    let host_port = rest.split('/').next().unwrap_or_default();
    let host = if let Some(h) = host_port.strip_prefix('[') {
        h.split(']').next().unwrap_or_default()
    } else {
        host_port.split(':').next().unwrap_or_default()
    };
    if host.is_empty() {
        return Err(usage(format!("base URL `{url}` has no host")));
    }
    match scheme {
        "https" => Ok(trimmed),
        "http" => {
            let loopback =
                host == "localhost" || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback());
            if loopback {
                Ok(trimmed)
            } else {
                Err(usage(format!(
                    "refusing plain http base URL `{url}`: credentials would travel unencrypted; use https (plain http is allowed only for loopback hosts)"
                )))
            }
        }
        other => Err(usage(format!(
            "base URL `{url}` has unsupported scheme `{other}`; use https"
        ))),
    }
}

fn default_config_path() -> Option<PathBuf> {
    let local = PathBuf::from("okx-export.toml");
    if local.exists() {
        return Some(local);
    }
    let base = var(env::XDG_CONFIG_HOME)
        .map(PathBuf::from)
        .or_else(|| var(env::HOME).map(|h| PathBuf::from(h).join(".config")))?;
    let p = base.join("okx-export").join("config.toml");
    p.exists().then_some(p)
}

fn load_profile(path: &Path, profile: &str) -> Result<Option<ProfileConfig>> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| usage(format!("cannot read config file `{}`: {e}", path.display())))?;
    let file: ConfigFile = toml::from_str(&text).map_err(|e| {
        let msg = e.message().to_string();
        usage(format!("config file `{}`: {msg}", path.display()))
    })?;
    Ok(file.profile.get(profile).cloned())
}

impl Settings {
    pub fn resolve(g: &GlobalArgs) -> Result<Settings> {
        let config_path = match &g.config {
            Some(p) => {
                if !p.exists() {
                    return Err(usage(format!("config file `{}` does not exist", p.display())));
                }
                Some(p.clone())
            }
            None => default_config_path(),
        };
        let profile_config = match &config_path {
            Some(p) => match load_profile(p, &g.profile)? {
                Some(cfg) => cfg,
                None if g.profile != "default" => {
                    return Err(usage(format!(
                        "profile `{}` not found in `{}`; add a `[profile.{}]` table",
                        g.profile,
                        p.display(),
                        g.profile
                    )));
                }
                None => ProfileConfig::default(),
            },
            None if g.profile != "default" => {
                return Err(usage(format!(
                    "profile `{}` requested but no config file found; pass `--config FILE`",
                    g.profile
                )));
            }
            None => ProfileConfig::default(),
        };
        let region = match (g.region, &profile_config.region) {
            (Some(r), _) => r.as_str().to_string(),
            (None, Some(r)) => r.clone(),
            (None, None) => Region::Global.as_str().to_string(),
        };
        let region_base = region_url(&region).ok_or_else(|| {
            usage(format!(
                "unknown region `{region}` in profile `{}`; use global, eea or us",
                g.profile
            ))
        })?;
        let base_url = g
            .base_url
            .clone()
            .or_else(|| profile_config.base_url.clone())
            .unwrap_or_else(|| region_base.to_string());
        let base_url = check_base_url(&base_url)?;
        let data_dir = g
            .data_dir
            .clone()
            .or_else(|| profile_config.data_dir.clone())
            .unwrap_or_else(|| PathBuf::from("output").join(&g.profile));
        let rate_scale = match var(env::RATE_SCALE) {
            Some(v) => v.parse::<u32>().ok().filter(|v| *v >= 1).ok_or_else(|| {
                usage(format!(
                    "{} must be a whole number >= 1, got `{v}`",
                    env::RATE_SCALE
                ))
            })?,
            None => 1,
        };
        let backoff_ms = var(env::BACKOFF_MS).and_then(|v| v.parse().ok());
        Ok(Settings {
            profile: g.profile.clone(),
            config_path,
            demo_trading: g.demo_trading || profile_config.demo_trading.unwrap_or(false),
            profile_config,
            base_url,
            data_dir,
            quiet: g.quiet,
            verbose: g.verbose,
            progress: !g.no_progress && !g.quiet && g.verbose == 0,
            allow_trading_key: g.allow_trading_key,
            rate_scale,
            backoff_ms,
        })
    }

    /// Key, secret and passphrase: from the environment, else from the profile.
    pub fn credentials(&self) -> Result<Credentials> {
        let env_vals = [var(env::API_KEY), var(env::API_SECRET), var(env::API_PASSPHRASE)];
        if env_vals.iter().any(Option::is_some) {
            let names = [env::API_KEY, env::API_SECRET, env::API_PASSPHRASE];
            if let Some(i) = env_vals.iter().position(Option::is_none) {
                return Err(usage(format!(
                    "{} is set but {} is not; set all three of OKX_API_KEY, OKX_API_SECRET, OKX_API_PASSPHRASE",
                    names
                        .iter()
                        .zip(&env_vals)
                        .find(|(_, v)| v.is_some())
                        .map(|(n, _)| *n)
                        .unwrap_or_default(),
                    names[i]
                )));
            }
            let [k, s, p] = env_vals;
            return Ok(Credentials {
                api_key: k.unwrap_or_default(),
                secret: Secret::new(s.unwrap_or_default()),
                passphrase: Secret::new(p.unwrap_or_default()),
            });
        }
        let where_ = match &self.config_path {
            Some(p) => format!("profile `{}` in `{}`", self.profile, p.display()),
            None => "no config file".to_string(),
        };
        let pc = &self.profile_config;
        let Some(api_key) = pc.api_key.clone() else {
            return Err(usage(format!(
                "no API credentials ({where_}): set OKX_API_KEY, OKX_API_SECRET and OKX_API_PASSPHRASE, or add api_key and secret_command/secret_file and passphrase_command/passphrase_file to the profile"
            )));
        };
        let secret = secret_from(
            &where_,
            "secret",
            pc.secret_command.as_deref(),
            pc.secret_file.as_deref(),
        )?;
        let passphrase = secret_from(
            &where_,
            "passphrase",
            pc.passphrase_command.as_deref(),
            pc.passphrase_file.as_deref(),
        )?;
        Ok(Credentials {
            api_key,
            secret,
            passphrase,
        })
    }
}

fn secret_from(where_: &str, what: &str, command: Option<&str>, file: Option<&Path>) -> Result<Secret> {
    match (command, file) {
        (Some(_), Some(_)) => Err(usage(format!(
            "{where_}: give either {what}_command or {what}_file, not both"
        ))),
        (Some(cmd), None) => {
            let out = std::process::Command::new("sh")
                .arg("-c")
                .arg(cmd)
                .stdin(std::process::Stdio::null())
                .stderr(std::process::Stdio::inherit())
                .output()
                .map_err(|e| usage(format!("{where_}: cannot run {what}_command `{cmd}`: {e}")))?;
            if !out.status.success() {
                return Err(usage(format!(
                    "{where_}: {what}_command `{cmd}` failed ({}); check that it prints the {what}",
                    out.status
                )));
            }
            let value = String::from_utf8(out.stdout).map_err(|_| {
                usage(format!(
                    "{where_}: {what}_command `{cmd}` printed non-UTF-8 output"
                ))
            })?;
            let value = value.trim().to_string();
            if value.is_empty() {
                return Err(usage(format!("{where_}: {what}_command `{cmd}` printed nothing")));
            }
            Ok(Secret::new(value))
        }
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
            Ok(Secret::new(value))
        }
        (None, None) => Err(usage(format!(
            "{where_}: missing {what}: add {what}_command (e.g. `pass show okx/{what}`) or {what}_file, or set OKX_API_{}",
            what.to_uppercase()
        ))),
    }
}

/// A secret file must be readable by its owner only.
fn check_private_file(path: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
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

    #[test]
    fn base_urls() {
        assert_eq!(
            check_base_url("https://www.okx.com/").unwrap(),
            "https://www.okx.com"
        );
        assert!(check_base_url("http://127.0.0.1:8080").is_ok());
        assert!(check_base_url("http://localhost:1").is_ok());
        assert!(check_base_url("http://[::1]:9").is_ok());
        let err = check_base_url("http://www.okx.com").unwrap_err().to_string();
        assert!(err.contains("refusing plain http"), "{err}");
        assert!(check_base_url("www.okx.com").is_err());
        assert!(check_base_url("ftp://x").is_err());
    }

    #[test]
    fn secret_file_permissions() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("secret");
        std::fs::write(&p, "s3cr3t\n").unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = secret_from("profile", "secret", None, Some(&p))
            .unwrap_err()
            .to_string();
        assert!(err.contains(&format!("chmod 600 {}", p.display())), "{err}");
        assert!(!err.contains("s3cr3t"));
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(
            secret_from("profile", "secret", None, Some(&p)).unwrap().expose(),
            "s3cr3t"
        );
    }

    #[test]
    fn secret_command() {
        let s = secret_from("p", "secret", Some("printf '  abc \\n'"), None).unwrap();
        assert_eq!(s.expose(), "abc");
        let err = secret_from("p", "secret", Some("exit 3"), None)
            .unwrap_err()
            .to_string();
        assert!(err.contains("failed"), "{err}");
    }
}
