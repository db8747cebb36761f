//! The trading account's history: fills (`trade/fills`, `trade/fills-history`) and bills
//! (`account/bills`, `account/bills-archive`), each within its window.

use super::http::{Params, Reject, bad_param, check_inst_type, not_implemented, ok, page};
use super::{DAY_MS, Shared};
use crate::okx::endpoints;
use crate::okx::endpoints::Endpoint;
use crate::sim::SimAccount;
use axum::response::Response;

/// The endpoints this file answers.
pub(super) const ENDPOINTS: [Endpoint; 4] = [
    endpoints::FILLS,
    endpoints::FILLS_HISTORY,
    endpoints::BILLS,
    endpoints::BILLS_ARCHIVE,
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
    if e(endpoints::FILLS) || e(endpoints::FILLS_HISTORY) {
        let history = e(endpoints::FILLS_HISTORY);
        check_inst_type(p, history)?;
        if sh.config.no_event_contracts && p.get("instType") == Some("EVENTS") {
            return Err(bad_param("instType"));
        }
        let cur = p.cursor()?;
        let cutoff = now - if history { 90 } else { 3 } * DAY_MS;
        let data = acct.data();
        let rows = page(
            &data.fills,
            |f| f.bill_id as i64,
            |f| f.ts,
            cutoff,
            &cur,
            |f| {
                p.matches("instType", f.inst_type)
                    && p.matches("instId", f.inst_id)
                    && p.matches("subType", f.sub_type)
                    && p.get("ordId").is_none_or(|o| o == f.ord_id.to_string())
            },
        );
        return Ok(ok(rows
            .into_iter()
            .map(crate::sim::model::SimFill::to_json)
            .collect()));
    }
    if e(endpoints::BILLS) || e(endpoints::BILLS_ARCHIVE) {
        check_inst_type(p, false)?;
        let cur = p.cursor()?;
        let cutoff = now - if e(endpoints::BILLS) { 7 } else { 90 } * DAY_MS;
        let withhold = sh.config.withhold_bills;
        let data = acct.data();
        let rows = page(
            &data.trading_bills,
            |b| b.bill_id as i64,
            |b| b.ts,
            cutoff,
            &cur,
            |b| {
                !withhold.is_some_and(|(from, to)| b.ts >= from && b.ts < to)
                    && p.matches("instType", b.inst_type)
                    && p.matches("instId", b.inst_id)
                    && p.matches("ccy", b.ccy)
                    && p.matches("type", b.bill_type)
                    && p.matches("subType", b.sub_type)
                    && p.matches("mgnMode", b.mgn_mode)
                    && p.matches(
                        "ctType",
                        match b.inst_type {
                            "SWAP" => "linear",
                            "FUTURES" => "inverse",
                            _ => "",
                        },
                    )
            },
        );
        return Ok(ok(rows
            .into_iter()
            .map(crate::sim::model::TradingBill::to_json)
            .collect()));
    }
    Err(not_implemented())
}
