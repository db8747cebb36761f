//! What an account holds and is: `account/config`, the trading, funding and Simple Earn
//! balances, and OKX's dictionary of trading-bill types.

use super::Shared;
use super::http::{Params, Reject, not_implemented, ok};
use crate::okx::endpoints;
use crate::okx::endpoints::Endpoint;
use crate::sim::model::{FUNDING, TRADING, dec, obj};
use crate::sim::{SimAccount, SimKey};
use axum::response::Response;
use rust_decimal::Decimal;
use serde_json::{Map, Value};

/// The endpoints this file answers.
pub(super) const ENDPOINTS: [Endpoint; 4] = [
    endpoints::BILL_TYPES,
    endpoints::ACCOUNT_BALANCE,
    endpoints::ASSET_BALANCES,
    endpoints::SAVINGS_BALANCE,
];

/// The answer of one of [`ENDPOINTS`].
pub(super) fn answer(
    sh: &Shared,
    ep: Endpoint,
    p: &Params,
    acct: &SimAccount,
    now: i64,
) -> Result<Response, Reject> {
    let e = |x: Endpoint| x.name == ep.name;
    if e(endpoints::BILL_TYPES) {
        let data = acct.data();
        return Ok(ok(crate::sim::dictionary::bill_types(
            &data,
            &sh.config.dictionary_lacks,
        )));
    }
    if e(endpoints::ACCOUNT_BALANCE) {
        return Ok(ok(vec![trading_balance(acct, p, now)]));
    }
    if e(endpoints::ASSET_BALANCES) {
        let data = acct.data();
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
    if e(endpoints::SAVINGS_BALANCE) {
        let data = acct.data();
        let rows = data
            .savings
            .iter()
            .filter(|(ccy, s)| !s.amt.is_zero() && p.matches("ccy", ccy))
            .map(|(ccy, s)| {
                obj! {
                    "ccy" => *ccy,
                    "amt" => dec(s.amt),
                    "earnings" => dec(s.earnings),
                    "rate" => "0.05",
                    "loanAmt" => dec(s.amt),
                    "pendingAmt" => "0",
                    "redemptAmt" => "",
                }
            })
            .collect();
        return Ok(ok(rows));
    }
    Err(not_implemented())
}

pub(super) fn account_config(sh: &Shared, key: &SimKey) -> Value {
    let sub = sh.sub_of(key).is_some();
    obj! {
        "uid" => key.uid.clone(),
        "mainUid" => if sub { sh.master_uid() } else { key.uid.clone() },
        "acctLv" => "2",
        "acctStpMode" => "cancel_maker",
        "autoLoan" => false,
        "ctIsoMode" => "automatic",
        "enableSpotBorrow" => false,
        "feeType" => "0",
        "greeksType" => "PA",
        "ip" => key.ip.clone(),
        "kycLv" => "2",
        "label" => key.label.clone(),
        "level" => "Lv1",
        "levelTmp" => "",
        "liquidationGear" => "-1",
        "mgnIsoMode" => "automatic",
        "opAuth" => "0",
        "perm" => key.perm.clone(),
        "posMode" => "net_mode",
        "roleType" => "0",
        "settleCcy" => "USDT",
        "settleCcyList" => vec![Value::from("USDT")],
        "spotBorrowAutoRepay" => false,
        "spotOffsetType" => "",
        "spotRoleType" => "0",
        "spotTraderInsts" => Vec::<Value>::new(),
        "stgyType" => "0",
        "traderInsts" => Vec::<Value>::new(),
        "type" => if sub { "1" } else { "0" },
    }
}

/// The `account/balance` answer for `account` (also a sub-account's trading balance).
pub(super) fn trading_balance(account: &SimAccount, p: &Params, now: i64) -> Value {
    let data = account.data();
    let price = |ccy: &str| data.last_prices.get(ccy).copied().unwrap_or(Decimal::ONE);
    // Unrealised PnL of open positions, in their settlement currency (USDT).
    let upl_usdt: Decimal = data
        .positions
        .iter()
        .map(|pos| ((price("BTC") - pos.avg_px) * Decimal::from(pos.contracts) * pos.ct_val).round_dp(8))
        .sum();
    let mut details = Vec::new();
    let mut total = Decimal::ZERO;
    for ((acct, ccy), cash) in &data.balances {
        if *acct != TRADING || !p.matches("ccy", ccy) {
            continue;
        }
        let upl = if *ccy == "USDT" { upl_usdt } else { Decimal::ZERO };
        let eq = *cash + upl;
        let eq_usd = (eq * price(ccy)).round_dp(8);
        total += eq_usd;
        let u_time = data.balance_times.get(&(TRADING, *ccy)).copied().unwrap_or(now);
        let mut m = Map::new();
        for (k, v) in [
            ("ccy", ccy.to_string()),
            ("eq", dec(eq)),
            ("cashBal", dec(*cash)),
            ("availBal", dec(*cash)),
            ("availEq", dec(eq)),
            ("frozenBal", "0".into()),
            ("ordFrozen", "0".into()),
            ("upl", dec(upl)),
            ("uTime", u_time.to_string()),
            ("eqUsd", dec(eq_usd)),
            ("disEq", dec(eq_usd)),
            ("liab", "0".into()),
            ("crossLiab", "0".into()),
            ("isoLiab", "0".into()),
            ("interest", "0".into()),
            ("isoEq", "0".into()),
            ("isoUpl", "0".into()),
            ("borrowFroz", "0".into()),
            ("maxLoan", String::new()),
            ("mgnRatio", String::new()),
            ("notionalLever", String::new()),
            ("imr", String::new()),
            ("mmr", String::new()),
            ("twap", "0".into()),
            ("stgyEq", "0".into()),
            ("fixedBal", "0".into()),
            ("spotBal", String::new()),
            ("openAvgPx", String::new()),
            ("accAvgPx", String::new()),
            ("spotUpl", String::new()),
            ("spotUplRatio", String::new()),
            ("totalPnl", String::new()),
            ("totalPnlRatio", String::new()),
            ("uplLiab", "0".into()),
            ("rewardBal", String::new()),
            ("smtSyncEq", "0".into()),
            ("spotCopyTradingEq", "0".into()),
            ("spotIsoBal", "0".into()),
            ("autoLendStatus", "off".into()),
            ("autoLendMtAmt", "0".into()),
        ] {
            m.insert(k.to_string(), Value::String(v));
        }
        m.insert("collateralEnabled".into(), Value::Bool(*ccy != "LUNC"));
        m.insert("collateralRestrict".into(), Value::Bool(false));
        details.push(Value::Object(m));
    }
    obj! {
        "adjEq" => dec(total),
        "availEq" => dec(total),
        "borrowFroz" => "0",
        "details" => details,
        "imr" => "0",
        "isoEq" => "0",
        "mgnRatio" => "",
        "mmr" => "0",
        "notionalUsd" => "0",
        "notionalUsdForBorrow" => "0",
        "notionalUsdForFutures" => "0",
        "notionalUsdForOption" => "0",
        "notionalUsdForSwap" => "0",
        "ordFroz" => "0",
        "totalEq" => dec(total),
        "uTime" => now.to_string(),
        "upl" => dec(upl_usdt),
    }
}
