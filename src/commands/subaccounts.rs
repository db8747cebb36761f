//! What `check-key` says about a master's sub-accounts: one line each with its name, uid,
//! label, what it holds (valued in the fiat, from the price cache) and which configured
//! profile holds a key for it, matched by uid, never by name.

use super::{advise, say};
use crate::okx::OkxClient;
use crate::okx::wire::AccountConfig;
use crate::prices::Fiat;
use crate::settings::Settings;
use crate::store::{BalanceRow, Store};
use anyhow::Result;
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

/// The uid each configured profile's store recorded (its `account/config` at its last
/// sync or check-key); `None` for a profile that never ran.
pub fn profile_uids(settings: &Settings) -> Result<Vec<(String, Option<String>)>> {
    let mut out = Vec::new();
    for (name, dir) in settings.profile_dirs()? {
        let dir = if name == settings.profile {
            settings.data_dir.clone()
        } else {
            dir
        };
        out.push((name, recorded_uid(&dir)));
    }
    Ok(out)
}

/// The uid recorded in the store in `dir`, if there is one (read-only).
pub fn recorded_uid(dir: &Path) -> Option<String> {
    Store::recorded_uid(dir)
}

/// After `check-key` verified the key: records whose account it is in the profile's
/// store and, for a master, lists its sub-accounts (also stored, with their balances).
/// Skips the store while a sync holds it (the sync records the same).
pub async fn after_check(
    settings: &Settings,
    client: &Arc<OkxClient>,
    cfg: &AccountConfig,
    fiat: &Fiat,
) -> Result<()> {
    let at = client.server_now();
    let lock = Store::lock(&settings.data_dir).ok();
    let store = match &lock {
        Some(_) => Some(Arc::new(Mutex::new(Store::open(&settings.data_dir)?))),
        None => None,
    };
    if let (Some(store), Some(id)) = (&store, crate::store::Identity::of(cfg, at)) {
        store.lock().expect("store lock").set_identity(&id)?;
    }
    if !cfg.is_master() {
        if let Some(main) = &cfg.main_uid {
            say(
                settings,
                format!(
                    "master uid:   {main} (a master's key lists this sub-account; this key sees only its own history)"
                ),
            );
        }
        return Ok(());
    }
    let Some(store) = store else {
        advise(
            settings,
            "a sync is running on this store: sub-accounts are listed by it (see `okx-export status`)",
        );
        return Ok(());
    };
    let n = crate::sync::subaccounts::fetch_list(client, &store, at).await?;
    let list = store.lock().expect("store lock").sub_accounts()?;
    drop(lock);
    let Some(list) = list.filter(|_| n > 0) else {
        say(settings, "sub-accounts: none");
        return Ok(());
    };
    let worth = match value_holdings(settings, &list.balances, at, fiat).await {
        Ok(w) => Some(w),
        Err(e) => {
            advise(settings, format!("sub-account holdings not valued: {e:#}"));
            None
        }
    };
    let uids = profile_uids(settings)?;
    let unknown: Vec<&str> = uids
        .iter()
        .filter(|(_, u)| u.is_none())
        .map(|(p, _)| p.as_str())
        .collect();
    let keyed: BTreeMap<&str, &str> = uids
        .iter()
        .filter_map(|(p, uid)| Some((uid.as_deref()?, p.as_str())))
        .collect();
    say(settings, format!("sub-accounts: {n}"));
    for sub in &list.subs {
        let holds: Vec<&BalanceRow> = list.balances_of(&sub.name).collect();
        let value = match worth.as_ref().map(|w| w.get(&sub.name)) {
            _ if holds.iter().all(|b| b.total.is_zero()) => format!("holds nothing ({fiat} 0)"),
            Some(Some(Some(v))) => format!("holds {} {fiat}", crate::model::plain(v.round_dp(2))),
            _ => format!("holds {} (no {fiat} price)", holdings_text(&holds)),
        };
        let key = match sub.uid.as_deref().and_then(|u| keyed.get(u)) {
            Some(p) => format!("key: profile `{p}`"),
            None => format!(
                "key: none{} (create a read-only key for sub-account `{}` on OKX → Sub-accounts → API, add it as `[profile.{}]`)",
                if unknown.is_empty() { "" } else { " known" },
                sub.name,
                sub.name
            ),
        };
        say(
            settings,
            format!(
                "  {}: uid {}, label `{}`, {value}, {key}",
                sub.name,
                sub.uid.as_deref().unwrap_or("?"),
                sub.label.as_deref().unwrap_or("")
            ),
        );
    }
    if !unknown.is_empty() {
        advise(
            settings,
            format!(
                "profiles are matched to sub-accounts by the uid their own key reports; run `okx-export --profile NAME check-key` once for: {}",
                unknown.join(", ")
            ),
        );
    }
    Ok(())
}

/// `1200 USDT, 0.5 ETH` (per asset, trading and funding together).
pub fn holdings_text(rows: &[&BalanceRow]) -> String {
    let mut by_asset: BTreeMap<&str, Decimal> = BTreeMap::new();
    for r in rows {
        *by_asset.entry(r.ccy.as_str()).or_default() += r.total;
    }
    let parts: Vec<String> = by_asset
        .into_iter()
        .filter(|(_, v)| !v.is_zero())
        .map(|(a, v)| format!("{} {a}", crate::model::plain(v)))
        .collect();
    if parts.is_empty() {
        "nothing".into()
    } else {
        parts.join(", ")
    }
}

/// Each sub-account's holdings in `fiat` at (just before) `at`: the bars are fetched into
/// the price cache first (public data), then valued from it like any row. `None` for a
/// sub-account with an asset without a price.
async fn value_holdings(
    settings: &Settings,
    balances: &[(String, BalanceRow)],
    at: DateTime<Utc>,
    fiat: &Fiat,
) -> Result<BTreeMap<String, Option<Decimal>>> {
    use crate::prices::{Valuer, cache, ecb, stage};
    // The last closed minute: the bar of the current one is not final.
    let now_ms = at.timestamp_millis();
    let at = at - chrono::Duration::minutes(2);
    let minute = crate::prices::rules::bar_open(at.timestamp_millis(), 60_000);
    let mut needs = stage::Needs::new();
    for (_, b) in balances.iter().filter(|(_, b)| !b.total.is_zero()) {
        needs.entry(b.ccy.clone()).or_default().insert(minute);
    }
    let mut cache = cache::PriceCache::open(&settings.price_place().cache)?;
    let public = super::client(settings, None)?;
    stage::run(public, &mut cache, &needs, now_ms).await?;
    if fiat.as_str() != "USD" {
        let day = at.date_naive();
        let mut rates = ecb::Ecb::new(ecb::ecb_url(&settings.base_url))?;
        for c in [fiat.as_str(), "USD"] {
            rates
                .ensure(&mut cache, c, day - chrono::Duration::days(7), day)
                .await?;
        }
    }
    let mut valuer =
        crate::prices::CachedValuer::new(fiat.clone(), cache, crate::prices::file::UserPrices::default());
    let mut out: BTreeMap<String, Option<Decimal>> = BTreeMap::new();
    for (name, b) in balances {
        let slot = out.entry(name.clone()).or_insert(Some(Decimal::ZERO));
        if b.total.is_zero() {
            continue;
        }
        let mut tx = crate::model::Transaction::new(
            "holding",
            at,
            crate::model::Account::Funding,
            crate::model::Kind::Deposit,
            "balance",
            "",
        );
        tx.received = Some(crate::model::Amount::new(b.total.abs(), b.ccy.clone()));
        let v = valuer.value(&tx)?.value;
        *slot = match (*slot, v) {
            (Some(total), Some(v)) if b.total.is_sign_negative() => Some(total - v),
            (Some(total), Some(v)) => Some(total + v),
            _ => None,
        };
    }
    Ok(out)
}

/// The accounts of the report and the sub-accounts of a master in it that are not missing
/// (stdout); a missing one is a line of the report's incomplete error ([`missing_accounts`]).
pub fn print_accounts(settings: &Settings, acc: &crate::report::AccountsCheck) {
    use crate::report::AccountStatus;
    for l in &acc.lines {
        match l.status {
            AccountStatus::Missing => {}
            AccountStatus::InReport if l.detail.is_empty() => {}
            _ => super::say(settings, format!("account: {}: {}", who(l), l.detail)),
        }
    }
}

/// An account of [`crate::report::AccountsCheck`] as the console names it.
fn who(l: &crate::report::AccountLine) -> String {
    match &l.uid {
        Some(u) => format!("`{}` (uid {u}, {})", l.name, l.role),
        None => format!("`{}` ({})", l.name, l.role),
    }
}

/// One line per account that makes the report incomplete: what it holds and moved, and
/// the fix.
pub fn missing_accounts(acc: &crate::report::AccountsCheck) -> Vec<String> {
    acc.missing()
        .map(|l| {
            format!(
                "{} is not in this report; it holds {} and moved {}; fix: {}",
                who(l),
                l.holds,
                l.moved,
                l.detail
            )
        })
        .collect()
}
