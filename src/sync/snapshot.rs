//! What a sync reads once per run besides the streams: the balances of every account
//! (OKX's side of the reconciliation) and the instruments, and how an optional product's
//! endpoint that fails is told (a warning the first time, a note while it stays so).

use crate::okx::endpoints;
use crate::okx::wire::{FundingBalance, SavingsBalance, TradingBalance};
use crate::okx::{OkxClient, OkxError};
use crate::store::{BalanceRow, NewRecord, RecordKind, Store};
use anyhow::Result;
use chrono::{DateTime, Utc};
use serde_json::Value;
use std::sync::{Arc, Mutex};
/// An optional endpoint that failed: what it is, what the user is told, and the error.
pub(super) struct OptionalFailure {
    pub(super) what: &'static str,
    pub(super) message: String,
    pub(super) error: Option<OkxError>,
}

/// The static name of an optional fills stream (what the store remembers it by).
pub(super) fn optional_name(stream: &str) -> &'static str {
    match stream {
        "fills-history/EVENTS" => "fills-history/EVENTS",
        _ => "fills-history",
    }
}

/// The parts of an OKX error that say whether an endpoint is missing.
pub(super) fn clone_okx(e: &OkxError) -> OkxError {
    match e {
        OkxError::Api { endpoint, code, msg } => OkxError::Api {
            endpoint,
            code: code.clone(),
            msg: msg.clone(),
        },
        OkxError::Decode { endpoint, detail } => OkxError::Decode {
            endpoint,
            detail: detail.clone(),
        },
        other => OkxError::Request {
            endpoint: "fills-history",
            detail: other.to_string(),
        },
    }
}

/// Tells of optional endpoints: a failure is a warning, unless the endpoint answered the
/// same way at the last run (a product missing in this region): then it is a note, so a
/// nightly run does not repeat it. An endpoint that answered is forgotten.
pub(super) fn tell_optional(
    store: &Arc<Mutex<Store>>,
    answered: &[&str],
    failed: Vec<OptionalFailure>,
    warnings: &mut Vec<String>,
    notes: &mut Vec<String>,
) -> Result<()> {
    let mut s = store.lock().expect("store lock");
    for what in answered {
        s.remember_unavailable(what, None)?;
    }
    for f in failed {
        let reason = f.error.as_ref().and_then(OkxError::unavailable);
        let before = s.remember_unavailable(f.what, reason.as_deref())?;
        if reason.is_some() && before == reason {
            notes.push(format!("{} (as at the last run)", f.message));
        } else {
            warnings.push(f.message);
        }
    }
    Ok(())
}

/// Saves the balance snapshot; returns the rows saved and whether the optional Simple
/// Earn balances answered (`Err`: how they failed).
pub(super) async fn snapshot_balances(
    client: &OkxClient,
    store: &Arc<Mutex<Store>>,
    at: DateTime<Utc>,
) -> Result<(u64, Result<(), OptionalFailure>)> {
    let (trading, funding, savings) = tokio::join!(
        client.get::<TradingBalance>(endpoints::ACCOUNT_BALANCE, &[]),
        client.get::<FundingBalance>(endpoints::ASSET_BALANCES, &[]),
        client.get::<SavingsBalance>(endpoints::SAVINGS_BALANCE, &[]),
    );
    let (trading, funding) = (trading?, funding?);
    // Simple Earn is optional: not every region or account has it. Its failure is a
    // warning, never a failed sync; it is stored with the snapshot so that `report` lists
    // the earn balances as not compared (unknown, not zero). A credentials problem still
    // fails, since it explains everything else.
    let mut optional = Ok(());
    let mut unavailable = Vec::new();
    let savings = match savings {
        Ok(s) => s,
        Err(e) if e.is_credentials() => return Err(e.into()),
        Err(e) => {
            unavailable.push(("earn", e.to_string()));
            optional = Err(OptionalFailure {
                what: endpoints::SAVINGS_BALANCE.name,
                message: format!("Simple Earn balances unavailable, earn balances are not compared: {e}"),
                error: Some(e),
            });
            Vec::new()
        }
    };
    let mut rows = Vec::new();
    for d in trading.iter().flat_map(|t| &t.details) {
        rows.push(BalanceRow {
            account: "trading".into(),
            ccy: d.ccy.clone(),
            total: d.cash_bal.or(d.eq).unwrap_or_default(),
            available: d.avail_bal,
            frozen: d.frozen_bal,
            as_of: at,
        });
    }
    for f in funding {
        rows.push(BalanceRow {
            account: "funding".into(),
            ccy: f.ccy,
            total: f.bal.unwrap_or_default(),
            available: f.avail_bal,
            frozen: f.frozen_bal,
            as_of: at,
        });
    }
    for s in savings {
        rows.push(BalanceRow {
            account: "earn".into(),
            ccy: s.ccy,
            total: s.amt.unwrap_or_default(),
            available: None,
            frozen: s.pending_amt,
            as_of: at,
        });
    }
    store
        .lock()
        .expect("store lock")
        .save_balances(at, &rows, &unavailable)?;
    Ok((rows.len() as u64, optional))
}

pub(super) async fn fetch_instruments(client: &OkxClient, store: &Arc<Mutex<Store>>) -> Result<u64> {
    let mut total = 0;
    // OPTION needs an instFamily per request; option instIds parse on their own.
    for inst_type in ["SPOT", "MARGIN", "SWAP", "FUTURES"] {
        let raw = client
            .request(
                endpoints::INSTRUMENTS,
                &[("instType", inst_type.to_string())],
                None,
            )
            .await?;
        let mut records = Vec::with_capacity(raw.len());
        for r in &raw {
            let v: Value = serde_json::from_str(r.get())?;
            let Some(id) = v.get("instId").and_then(Value::as_str) else {
                continue;
            };
            records.push(NewRecord {
                kind: RecordKind::Instrument,
                key: format!("{inst_type}:{id}"),
                ts_ms: 0,
                num: None,
                link: Some(id.to_string()),
                raw: r.get().to_string(),
            });
        }
        total += records.len() as u64;
        store
            .lock()
            .expect("store lock")
            .insert_page("instruments", 1, &records, None)?;
    }
    Ok(total)
}
