//! Resolves command-line flags, environment and the config file into one immutable
//! [`Settings`]. This is the only module that reads environment variables.

use crate::cli::{ConnectArgs, GlobalArgs, Region};
use crate::console::Console;
use crate::error::usage;
use crate::okx::client::region_url;
use crate::secret::{Credentials, Secret};
use anyhow::Result;
use serde::Deserialize;
use std::path::PathBuf;
use std::time::Duration;

pub mod config_file;
pub mod secrets;

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
    /// Set (to anything but ""): no colour in messages (no-color.org).
    pub const NO_COLOR: &str = "NO_COLOR";
}

/// The console for these global flags: quiet or not, colour only on a terminal and never
/// with `NO_COLOR`.
pub fn console_for(g: &GlobalArgs) -> Console {
    use std::io::IsTerminal;
    let no_color = std::env::var(env::NO_COLOR).ok();
    Console::terminal(
        g.quiet,
        crate::console::colour_wanted(std::io::stderr().is_terminal(), no_color.as_deref()),
    )
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
    /// Seconds a `secret_command` / `passphrase_command` may take (default 30).
    pub command_timeout: Option<u64>,
}

/// Everything a command needs to know, resolved once.
#[derive(Debug, Clone)]
pub struct Settings {
    pub profile: String,
    /// `--profile` was given (its values beat the environment).
    pub explicit_profile: bool,
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
    pub give_up_after: Duration,
    /// Fraction of each rate limit to use.
    pub rate_share: f64,
    /// Where this profile's messages go (labelled with the profile when several run).
    pub console: Console,
    /// Pacers of OKX's public endpoints shared with the other profiles this process runs
    /// against the same host (a group or fleet run, [`crate::commands::runner`]); `None`:
    /// the client paces its public requests alone.
    pub public_pacers: Option<crate::okx::pacing::PublicPacers>,
    /// OKX's clock and public reference answers shared with the other profiles this
    /// process runs against the same host ([`crate::okx::shared`]); `None`: read alone.
    pub shared_host: Option<crate::okx::shared::SharedHost>,
    /// The price cache file, when a group or fleet run chose one for its host
    /// (see [`Settings::price_place`]); `None`: the usual rule.
    pub price_cache: Option<PathBuf>,
}

/// Whether the host was chosen for this command (`--base-url`, `--region`,
/// `OKX_BASE_URL`, or the profile's `base_url`/`region`) rather than left at the default:
/// a command on a store that remembers its prices' host uses that host unless told.
pub fn host_is_explicit(c: &ConnectArgs, profile: &ProfileConfig) -> bool {
    c.base_url.is_some()
        || c.region.is_some()
        || var(env::BASE_URL).is_some()
        || profile.base_url.is_some()
        || profile.region.is_some()
}

/// Parses and checks a base URL (see [`crate::okx::host`]); a refusal is a usage error.
pub fn check_base_url(url: &str) -> Result<String> {
    crate::okx::host::parse_base_url(url).map_err(|e| usage(e.0))
}

/// The config file `--config` names, else the default one if it exists.
pub fn config_path(g: &GlobalArgs) -> Result<Option<PathBuf>> {
    match &g.config {
        Some(p) => {
            if !p.exists() {
                return Err(usage(format!("config file `{}` does not exist", p.display())));
            }
            Ok(Some(p.clone()))
        }
        None => Ok(config_file::default_path(
            var(env::XDG_CONFIG_HOME),
            var(env::HOME),
        )),
    }
}

/// The members of group `name` in the config file (see
/// [`config_file::ConfigFile::group_members`]).
pub fn group_members(g: &GlobalArgs, name: &str) -> Result<Vec<String>> {
    let Some(path) = config_path(g)? else {
        return Err(usage(format!(
            "--group {name} needs a config file with a `[group.{name}]` table; none found (pass --config FILE)"
        )));
    };
    config_file::load(&path)?.group_members(name, &path)
}

/// Every profile of the config file (`--all`), in the file's order of names; two profiles
/// with one data dir are refused (they would share one store).
pub fn all_profiles(g: &GlobalArgs) -> Result<Vec<(String, PathBuf)>> {
    let Some(path) = config_path(g)? else {
        return Err(usage(
            "--all runs every profile of the config file, and none was found: pass --config FILE or create ./okx-export.toml with a `[profile.NAME]` table per client",
        ));
    };
    let file = config_file::load(&path)?;
    if file.profile.is_empty() {
        return Err(usage(format!(
            "--all: `{}` has no profiles; add a `[profile.NAME]` table per client",
            path.display()
        )));
    }
    let mut seen: std::collections::BTreeMap<PathBuf, String> = std::collections::BTreeMap::new();
    let mut out = Vec::new();
    for (name, p) in file.profile {
        let dir = p.data_dir.unwrap_or_else(|| PathBuf::from("output").join(&name));
        if let Some(other) = seen.insert(dir.clone(), name.clone()) {
            return Err(usage(format!(
                "profiles `{other}` and `{name}` in `{}` both use the data dir `{}`; give each client its own `data_dir` (or none: output/<profile>/)",
                path.display(),
                dir.display()
            )));
        }
        out.push((name, dir));
    }
    Ok(out)
}

impl Settings {
    /// Where this profile's prices come from and are kept.
    pub fn price_place(&self) -> crate::prices::cache::PricePlace {
        crate::prices::cache::PricePlace::new(&self.base_url, &self.data_dir, self.price_cache.clone())
    }

    /// Resolves flags, environment and config file. Precedence (README, "Which setting
    /// wins"): a flag beats the environment, which beats the config file; `--profile NAME`
    /// is a flag, so the profile it names beats `OKX_API_*` and `OKX_BASE_URL` (they are
    /// ignored with a warning), while without it the environment beats `[profile.default]`.
    pub fn resolve(g: &GlobalArgs, c: &ConnectArgs) -> Result<Settings> {
        Settings::resolve_with(g, c, g.profile.as_deref())
    }

    /// [`Settings::resolve`] for profile `name` as if `--profile name` had been given: a
    /// member of a group (its own credentials, host and data dir; `--data-dir` is refused
    /// before this, since members cannot share one store).
    pub fn resolve_member(g: &GlobalArgs, c: &ConnectArgs, name: &str) -> Result<Settings> {
        Settings::resolve_with(g, c, Some(name))
    }

    fn resolve_with(g: &GlobalArgs, c: &ConnectArgs, named: Option<&str>) -> Result<Settings> {
        let console = console_for(g);
        let explicit_profile = named.is_some();
        let profile = named.unwrap_or("default").to_string();
        let config_path = config_path(g)?;
        let profile_config = match &config_path {
            Some(p) => match config_file::load_profile(p, &profile)? {
                Some(cfg) => cfg,
                None if explicit_profile => {
                    return Err(usage(format!(
                        "profile `{profile}` not found in `{}`; add a `[profile.{profile}]` table",
                        p.display(),
                    )));
                }
                None => ProfileConfig::default(),
            },
            None if explicit_profile => {
                return Err(usage(format!(
                    "profile `{profile}` requested but no config file found; pass `--config FILE`"
                )));
            }
            None => ProfileConfig::default(),
        };
        let env_base = var(env::BASE_URL);
        let region_of = |r: &str| {
            region_url(r).ok_or_else(|| {
                usage(format!(
                    "unknown region `{r}` in profile `{profile}`; use global, eea or us"
                ))
            })
        };
        let from_profile = || -> Result<String> {
            match (&profile_config.base_url, &profile_config.region) {
                (Some(u), _) => Ok(u.clone()),
                (None, r) => Ok(region_of(r.as_deref().unwrap_or(Region::Global.as_str()))?.to_string()),
            }
        };
        // A region is checked even where `base_url` wins over it: a typo must not wait until
        // the day the base URL is removed.
        if let Some(r) = &profile_config.region {
            region_of(r)?;
        }
        let profile_sets_host = profile_config.base_url.is_some() || profile_config.region.is_some();
        let base_url = match (&c.base_url, c.region, &env_base) {
            (Some(u), _, _) => u.clone(),
            (None, Some(r), _) => region_of(r.as_str())?.to_string(),
            (None, None, Some(_)) if explicit_profile && profile_sets_host => {
                console.warning(format!(
                    "{} is ignored: --profile {profile} sets the host, and a flag beats the environment",
                    env::BASE_URL
                ));
                from_profile()?
            }
            (None, None, Some(u)) => u.clone(),
            (None, None, None) => from_profile()?,
        };
        let base_url = check_base_url(&base_url)?;
        let data_dir = g
            .data_dir
            .clone()
            .or_else(|| profile_config.data_dir.clone())
            .unwrap_or_else(|| PathBuf::from("output").join(&profile));
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
            profile,
            explicit_profile,
            config_path,
            demo_trading: c.demo_trading || profile_config.demo_trading.unwrap_or(false),
            profile_config,
            base_url,
            data_dir,
            quiet: g.quiet,
            verbose: g.verbose,
            progress: !g.no_progress && !g.quiet && g.verbose == 0,
            allow_trading_key: c.allow_trading_key,
            rate_scale,
            backoff_ms,
            give_up_after: Duration::from_secs(c.give_up_after),
            rate_share: c.rate_share,
            console,
            public_pacers: None,
            shared_host: None,
            price_cache: None,
        })
    }

    /// Where [`Settings::credentials`] takes them from, for messages: the environment
    /// variables, or the profile's fields and file.
    pub fn credentials_source(&self) -> String {
        let env_set = [env::API_KEY, env::API_SECRET, env::API_PASSPHRASE]
            .iter()
            .any(|n| var(n).is_some());
        if env_set && !self.explicit_profile {
            return format!(
                "{}, {} and {} (the environment)",
                env::API_KEY,
                env::API_SECRET,
                env::API_PASSPHRASE
            );
        }
        let pc = &self.profile_config;
        let secret = match (&pc.secret_command, &pc.secret_file) {
            (Some(c), _) => format!("secret_command `{c}`"),
            (None, Some(f)) => format!("secret_file `{}`", f.display()),
            (None, None) => "its secret".into(),
        };
        let file = self
            .config_path
            .as_ref()
            .map(|p| format!(" in `{}`", p.display()))
            .unwrap_or_default();
        format!("api_key and {secret} of profile `{}`{file}", self.profile)
    }

    /// The config file's contents (empty without a config file).
    pub fn config_file(&self) -> Result<config_file::ConfigFile> {
        match &self.config_path {
            Some(p) => config_file::load(p),
            None => Ok(config_file::ConfigFile::default()),
        }
    }

    /// Every profile of the config file with the data dir it uses (its `data_dir`, else
    /// `output/<profile>/`), to find which of them holds a key for an account.
    pub fn profile_dirs(&self) -> Result<Vec<(String, PathBuf)>> {
        Ok(self
            .config_file()?
            .profile
            .into_iter()
            .map(|(name, p)| {
                let dir = p.data_dir.unwrap_or_else(|| PathBuf::from("output").join(&name));
                (name, dir)
            })
            .collect())
    }

    /// Key, secret and passphrase: from the profile named by `--profile`; else from the
    /// environment; else from `[profile.default]`.
    pub fn credentials(&self) -> Result<Credentials> {
        let names = [env::API_KEY, env::API_SECRET, env::API_PASSPHRASE];
        let env_vals = names.map(var);
        let env_set = env_vals.iter().any(Option::is_some);
        if env_set && self.explicit_profile {
            self.console.warning(format!(
                "OKX_API_KEY/OKX_API_SECRET/OKX_API_PASSPHRASE are ignored: --profile {} was given, and its credentials are used",
                self.profile
            ));
        } else if env_set {
            if let Some(i) = env_vals.iter().position(Option::is_none) {
                let set = names
                    .iter()
                    .zip(&env_vals)
                    .find(|(_, v)| v.is_some())
                    .map(|(n, _)| *n)
                    .unwrap_or_default();
                return Err(usage(format!(
                    "{set} is set but {} is not; set all three of OKX_API_KEY, OKX_API_SECRET, OKX_API_PASSPHRASE",
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
        let timeout = pc
            .command_timeout
            .map_or(secrets::DEFAULT_COMMAND_TIMEOUT, Duration::from_secs);
        let source = |what| secrets::Source {
            where_: &where_,
            what,
            timeout,
        };
        let secret = secrets::secret_from(
            &source("secret"),
            pc.secret_command.as_deref(),
            pc.secret_file.as_deref(),
        )?;
        let passphrase = secrets::secret_from(
            &source("passphrase"),
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
