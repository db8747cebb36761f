//! A master's sub-accounts (okx-api.md §12.1): the list (every page), each sub-account's
//! trading and funding balances, and the history of master↔sub transfers. The history is
//! a stream like the others ([`transfer_stream`]: walked back to the floor, its coverage
//! kept; OKX keeps it from 2022-09-28 on). Only a master's key may call these endpoints
//! (a sub-account's gets 59500), so a sync runs them when `account/config` says the key
//! is a master's.

use super::stream::{CursorKind, KeyKind, StreamSpec};
use crate::okx::OkxClient;
use crate::okx::endpoints;
use crate::okx::wire::{self, FundingBalance, SubAccountInfo, TradingBalance};
use crate::store::{BalanceRow, RecordKind, Store, SubAccount};
use anyhow::{Context, Result};
use chrono::{DateTime, TimeZone, Utc};
use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

/// The transfer history's stream name (as `status` and `coverage.csv` list it).
pub const STREAM: &str = "subaccount-bills";

/// The oldest transfer `asset/subaccount/bills` serves: 2022-09-28 (okx-api.md §12.1.1).
pub fn history_start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2022, 9, 28, 0, 0, 0)
        .single()
        .expect("a valid date")
}

/// `asset/subaccount/bills`: newest first, `after`/`before` on `ts`, key `billId`.
pub fn transfer_stream() -> StreamSpec {
    StreamSpec {
        name: STREAM.into(),
        endpoint: endpoints::SUBACCOUNT_BILLS,
        query: vec![],
        kind: RecordKind::SubTransfer,
        cursor: CursorKind::Time("ts"),
        key: KeyKind::Field("billId"),
        ts_field: "ts",
        link_field: None,
        mutable: None,
        window: None,
        history_from: Some(history_start()),
    }
}

/// Reads the list (all pages, newest first by creation time) and each sub-account's
/// balances, and stores them (replacing the last list) as of `at`. Returns how many
/// sub-accounts there are.
pub async fn fetch_list(
    client: &Arc<OkxClient>,
    store: &Arc<Mutex<Store>>,
    at: DateTime<Utc>,
) -> Result<usize> {
    let mut subs: Vec<(SubAccount, String)> = Vec::new();
    let mut names = BTreeSet::new();
    let mut after: Option<i64> = None;
    loop {
        let mut query = vec![("limit", "100".to_string())];
        if let Some(a) = after {
            query.push(("after", a.to_string()));
        }
        let raw = client.request(endpoints::SUBACCOUNT_LIST, &query, None).await?;
        let mut oldest = None;
        let mut added = 0;
        for (i, r) in raw.iter().enumerate() {
            let s: SubAccountInfo = wire::decode(r.get()).map_err(|detail| crate::okx::OkxError::Decode {
                endpoint: endpoints::SUBACCOUNT_LIST.name,
                detail: format!("{detail} (record data[{i}])"),
            })?;
            let ts = s.ts.map(|t| t.timestamp_millis());
            oldest = oldest.min(ts).or(ts);
            if names.insert(s.sub_acct.clone()) {
                added += 1;
                subs.push((
                    SubAccount {
                        name: s.sub_acct,
                        uid: s.uid,
                        label: s.label,
                        account_type: s.account_type,
                        enabled: s.enable,
                        created_at: s.ts,
                    },
                    r.get().to_string(),
                ));
            }
        }
        // A full page continues below its oldest creation time (one ms of overlap, names
        // de-duplicate); a page that added nothing new ends the walk.
        match oldest {
            Some(o) if raw.len() >= 100 && added > 0 => after = Some(o + 1),
            _ => break,
        }
    }
    let mut tasks = tokio::task::JoinSet::new();
    for (s, _) in &subs {
        let (client, name) = (client.clone(), s.name.clone());
        tasks.spawn(async move {
            let q = [("subAcct", name.clone())];
            let (trading, funding) = tokio::join!(
                client.get::<TradingBalance>(endpoints::SUBACCOUNT_TRADING_BALANCES, &q),
                client.get::<FundingBalance>(endpoints::SUBACCOUNT_FUNDING_BALANCES, &q),
            );
            let mut rows = Vec::new();
            for d in trading?.iter().flat_map(|t| &t.details) {
                rows.push(BalanceRow {
                    account: "trading".into(),
                    ccy: d.ccy.clone(),
                    total: d.cash_bal.or(d.eq).unwrap_or_default(),
                    available: d.avail_bal,
                    frozen: d.frozen_bal,
                    as_of: at,
                });
            }
            for f in funding? {
                rows.push(BalanceRow {
                    account: "funding".into(),
                    ccy: f.ccy,
                    total: f.bal.unwrap_or_default(),
                    available: f.avail_bal,
                    frozen: f.frozen_bal,
                    as_of: at,
                });
            }
            Ok::<_, crate::okx::OkxError>((name, rows))
        });
    }
    let mut balances = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        let (name, rows) = joined.context("a sub-account balance task panicked")??;
        balances.extend(rows.into_iter().map(|r| (name.clone(), r)));
    }
    balances.sort_by(|a, b| (&a.0, &a.1.account, &a.1.ccy).cmp(&(&b.0, &b.1.account, &b.1.ccy)));
    let n = subs.len();
    store
        .lock()
        .expect("store lock")
        .save_sub_accounts(at, &subs, &balances)?;
    Ok(n)
}
