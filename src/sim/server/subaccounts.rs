//! The master's sub-account endpoints (okx-api.md §12.1.1): the list, each sub-account's
//! trading and funding balances, and the history of master↔sub transfers. A sub-account's
//! key gets `59500` on every one of them, with HTTP 200, as OKX answers.

use super::accounts::trading_balance;
use super::http::{Params, Reject, missing_param, ok, page};
use super::{Shared, SubAccount};
use crate::okx::endpoints::{self, Endpoint};
use crate::sim::SimKey;
use crate::sim::model::{FUNDING, dec, obj};
use axum::http::StatusCode;
use axum::response::Response;
use rust_decimal::Decimal;
use serde_json::{Map, Value};

/// `asset/subaccount/bills` keeps transfers from 2022-09-28 on.
const SUB_BILLS_FIRST_MS: i64 = 1_664_323_200_000;

/// The answer of a sub-account endpoint; `None` for any other endpoint.
pub(super) fn dispatch(
    sh: &Shared,
    ep: Endpoint,
    p: &Params,
    key: &SimKey,
    now: i64,
) -> Option<Result<Response, Reject>> {
    let ours = [
        endpoints::SUBACCOUNT_LIST,
        endpoints::SUBACCOUNT_TRADING_BALANCES,
        endpoints::SUBACCOUNT_FUNDING_BALANCES,
        endpoints::SUBACCOUNT_BILLS,
    ];
    if !ours.iter().any(|e| e.name == ep.name) {
        return None;
    }
    if sh.sub_of(key).is_some() {
        return Some(Err(Reject {
            status: StatusCode::OK,
            code: "59500",
            msg: "Only master account's API key has permission to access this endpoint".into(),
        }));
    }
    if sh.is_client(key) {
        // A master of its own without sub-accounts: an empty list and history.
        return Some(
            if ep.name == endpoints::SUBACCOUNT_LIST.name || ep.name == endpoints::SUBACCOUNT_BILLS.name {
                Ok(ok(Vec::new()))
            } else {
                Err(no_such_sub())
            },
        );
    }
    Some(answer(sh, ep, p, now))
}

fn named<'a>(sh: &'a Shared, p: &Params) -> Result<&'a SubAccount, Reject> {
    let name = p.get("subAcct").ok_or_else(|| missing_param("subAcct"))?;
    sh.subs
        .iter()
        .find(|s| s.spec.name == name)
        .ok_or_else(no_such_sub)
}

fn no_such_sub() -> Reject {
    Reject {
        status: StatusCode::OK,
        code: "59510",
        msg: "Sub-account does not exist".into(),
    }
}

fn answer(sh: &Shared, ep: Endpoint, p: &Params, now: i64) -> Result<Response, Reject> {
    let e = |x: Endpoint| x.name == ep.name;
    if e(endpoints::SUBACCOUNT_LIST) {
        let cur = p.cursor()?;
        let mut subs: Vec<&SubAccount> = sh.subs.iter().collect();
        subs.sort_by_key(|s| s.spec.created_ms);
        let rows = page(
            &subs,
            |s| s.spec.created_ms,
            |s| s.spec.created_ms,
            i64::MIN,
            &cur,
            |s| p.matches("subAcct", &s.spec.name) && p.matches("enable", "true"),
        );
        return Ok(ok(rows.into_iter().map(|s| list_row(s)).collect()));
    }
    if e(endpoints::SUBACCOUNT_TRADING_BALANCES) {
        let sub = named(sh, p)?;
        return Ok(ok(vec![trading_balance(&sub.account, p, now)]));
    }
    if e(endpoints::SUBACCOUNT_FUNDING_BALANCES) {
        let sub = named(sh, p)?;
        let data = sub.account.data();
        let rows = data
            .balances
            .iter()
            .filter(|((acct, ccy), bal)| *acct == FUNDING && **bal > Decimal::ZERO && p.matches("ccy", ccy))
            .map(|((_, ccy), bal)| {
                obj! { "ccy" => *ccy, "bal" => dec(*bal), "frozenBal" => "0", "availBal" => dec(*bal) }
            })
            .collect();
        return Ok(ok(rows));
    }
    // `asset/subaccount/bills`: newest first, `after`/`before` on `ts`.
    let cur = p.cursor()?;
    let data = sh.account.data();
    let rows = page(
        &data.sub_transfers,
        |s| s.ts,
        |s| s.ts,
        SUB_BILLS_FIRST_MS,
        &cur,
        |s| {
            p.matches("ccy", s.ccy)
                && p.matches("type", if s.to_sub { "0" } else { "1" })
                && p.matches("subAcct", &s.sub_acct)
        },
    );
    Ok(ok(rows
        .into_iter()
        .map(super::super::SimSubTransfer::to_json)
        .collect()))
}

/// One row of `users/subaccount/list`, with every documented field.
fn list_row(s: &SubAccount) -> Value {
    let mut m = Map::new();
    for (k, v) in [
        ("type", Value::from("1")),
        ("enable", Value::Bool(true)),
        ("subAcct", Value::from(s.spec.name.clone())),
        ("uid", Value::from(s.spec.uid.clone())),
        ("label", Value::from(s.spec.label.clone())),
        ("mobile", Value::from("")),
        ("gAuth", Value::Bool(false)),
        ("frozenFunc", Value::Array(Vec::new())),
        ("canTransOut", Value::Bool(true)),
        ("ts", Value::from(s.spec.created_ms.to_string())),
        ("subAcctLv", Value::from("1")),
        ("firstLvSubAcct", Value::from(s.spec.name.clone())),
        ("ifDma", Value::Bool(false)),
    ] {
        m.insert(k.to_string(), v);
    }
    Value::Object(m)
}
