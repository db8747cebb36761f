//! `check-key`: verify credentials and that the key is read-only. Also the first step of
//! every command that calls OKX.

use super::say;
use crate::error::{Exit, Hinted, KeyRefused};
use crate::okx::OkxClient;
use crate::okx::endpoints;
use crate::okx::wire::AccountConfig;
use crate::settings::Settings;
use anyhow::{Context, Result};

const HOW_TO: &str = "create a read-only key: OKX → profile → API → Create API key, permission `Read` only, bind your IP address; then give it to okx-export (README, section \"Using it with your account\")";

fn mode(acct_lv: Option<&str>) -> &'static str {
    match acct_lv {
        Some("1") => "spot mode",
        Some("2") => "futures mode",
        Some("3") => "multi-currency margin",
        Some("4") => "portfolio margin",
        _ => "unknown mode",
    }
}

/// A rejected key or passphrase: the hint says where okx-export read them from (the
/// environment or which profile and file), so the user fixes the right place.
fn name_the_source(e: crate::okx::OkxError, settings: &Settings) -> anyhow::Error {
    let Some(hint) = e
        .hint()
        .filter(|_| matches!(e, crate::okx::OkxError::Credentials { .. }))
    else {
        return e.into();
    };
    let message = e.to_string();
    anyhow::Error::new(e).context(Hinted {
        message,
        hint: format!(
            "{hint}; okx-export read them from {}",
            settings.credentials_source()
        ),
    })
}

/// Reads the key's configuration, prints it (unless quiet) and refuses keys that can trade
/// or withdraw unless `--allow-trading-key`.
pub async fn verify(client: &OkxClient, settings: &Settings, print: bool) -> Result<AccountConfig> {
    client.server_time().await.context("reading OKX server time")?;
    let cfg: AccountConfig = client
        .get::<AccountConfig>(endpoints::ACCOUNT_CONFIG, &[])
        .await
        .map_err(|e| name_the_source(e, settings))?
        .into_iter()
        .next()
        .context("OKX `account-config` returned no data")?;
    let perms = cfg.permissions();
    if print {
        let kind = if cfg.uid.is_some() && cfg.uid == cfg.main_uid {
            "master account"
        } else {
            "sub-account"
        };
        say(
            settings,
            format!("uid:          {} ({kind})", cfg.uid.as_deref().unwrap_or("?")),
        );
        say(
            settings,
            format!("key label:    {}", cfg.label.as_deref().unwrap_or("")),
        );
        say(
            settings,
            format!(
                "permissions:  {}",
                if perms.is_empty() {
                    "(none)".into()
                } else {
                    perms.join(", ")
                }
            ),
        );
        say(
            settings,
            format!("bound IPs:    {}", cfg.ip.as_deref().unwrap_or("(none)")),
        );
        say(
            settings,
            format!(
                "account mode: {} ({})",
                cfg.acct_lv.as_deref().unwrap_or("?"),
                mode(cfg.acct_lv.as_deref())
            ),
        );
    }
    if !cfg.is_read_only() {
        let can = perms
            .iter()
            .filter(|p| *p != "read_only")
            .cloned()
            .collect::<Vec<_>>()
            .join(" and ");
        let can = if can.is_empty() {
            "unknown things".to_string()
        } else {
            can
        };
        if settings.allow_trading_key {
            settings.console.warning(format!(
                "!!! this API key can {can}: a leaked copy could move your funds. Continuing only because of --allow-trading-key. Please {HOW_TO} !!!"
            ));
        } else {
            return Err(KeyRefused {
                message: format!(
                    "refusing this API key: it can {can} (permissions: {}); okx-export only needs reading",
                    perms.join(",")
                ),
                hint: format!("{HOW_TO}; or pass --allow-trading-key to proceed anyway"),
            }
            .into());
        }
    }
    if cfg.ip.is_none() {
        super::advise(
            settings,
            "this API key is not bound to any IP address; binding one (OKX → API → edit key) limits damage if it leaks",
        );
    }
    Ok(cfg)
}

pub async fn run(settings: &Settings) -> Result<Exit> {
    run_with(settings, &crate::prices::Fiat::usd()).await
}

/// [`run`], valuing a master's sub-accounts in `fiat`.
pub async fn run_with(settings: &Settings, fiat: &crate::prices::Fiat) -> Result<Exit> {
    let creds = settings.credentials()?;
    let client = super::client(settings, Some(creds))?;
    let cfg = verify(&client, settings, true).await?;
    super::subaccounts::after_check(settings, &client, &cfg, fiat).await?;
    if cfg.is_read_only() {
        say(settings, "ok: the key is read-only");
    } else {
        say(
            settings,
            "the key is NOT read-only; accepted only because of --allow-trading-key",
        );
    }
    Ok(Exit::Success)
}
