//! The funding account's history: funding bills, deposits, withdrawals, converts and Dual
//! Investment orders.

use super::http::{Cursor, Params, Reject, not_implemented, ok, page};
use super::{DAY_MS, FUNDING_HISTORY_FIRST_MS};
use crate::okx::endpoints;
use crate::okx::endpoints::Endpoint;
use crate::sim::SimAccount;
use axum::response::Response;

/// The endpoints this file answers.
pub(super) const ENDPOINTS: [Endpoint; 6] = [
    endpoints::ASSET_BILLS,
    endpoints::ASSET_BILLS_HISTORY,
    endpoints::DEPOSIT_HISTORY,
    endpoints::WITHDRAWAL_HISTORY,
    endpoints::CONVERT_HISTORY,
    endpoints::DCD_ORDER_HISTORY,
];

/// The answer of one of [`ENDPOINTS`].
pub(super) fn answer(ep: Endpoint, p: &Params, acct: &SimAccount, now: i64) -> Result<Response, Reject> {
    let e = |x: Endpoint| x.name == ep.name;
    if e(endpoints::ASSET_BILLS) || e(endpoints::ASSET_BILLS_HISTORY) {
        let cur = p.cursor()?;
        let history = e(endpoints::ASSET_BILLS_HISTORY);
        let by_id = history && p.get("pagingType") == Some("2");
        let cutoff = if history {
            FUNDING_HISTORY_FIRST_MS
        } else {
            now - 30 * DAY_MS
        };
        let data = acct.data();
        let key_fn = |b: &crate::sim::FundingBill| if by_id { b.bill_id as i64 } else { b.ts };
        let rows = page(
            &data.funding_bills,
            key_fn,
            |b| b.ts,
            cutoff,
            &cur,
            |b| p.matches("ccy", b.ccy) && p.matches("type", b.bill_type) && p.get("clientId").is_none(),
        );
        return Ok(ok(rows
            .into_iter()
            .map(crate::sim::model::FundingBill::to_json)
            .collect()));
    }
    if e(endpoints::DEPOSIT_HISTORY) {
        let cur = p.cursor()?;
        let data = acct.data();
        let rows = page(
            &data.deposits,
            |d| d.ts,
            |d| d.ts,
            i64::MIN,
            &cur,
            |d| {
                p.matches("ccy", d.ccy)
                    && p.matches("depId", &d.dep_id.to_string())
                    && p.matches("txId", &d.tx_id)
                    && p.matches("type", d.dep_type)
                    && p.matches("state", d.state)
                    && p.get("fromWdId").is_none()
            },
        );
        return Ok(ok(rows
            .into_iter()
            .map(crate::sim::model::SimDeposit::to_json)
            .collect()));
    }
    if e(endpoints::WITHDRAWAL_HISTORY) {
        let cur = p.cursor()?;
        let data = acct.data();
        let rows = page(
            &data.withdrawals,
            |w| w.ts,
            |w| w.ts,
            i64::MIN,
            &cur,
            |w| {
                p.matches("ccy", w.ccy)
                    && p.matches("wdId", &w.wd_id.to_string())
                    && p.matches("txId", &w.tx_id)
                    && p.matches("type", w.wd_type)
                    && p.matches("state", w.state)
                    && p.get("clientId").is_none()
            },
        );
        return Ok(ok(rows
            .into_iter()
            .map(crate::sim::model::SimWithdrawal::to_json)
            .collect()));
    }
    if e(endpoints::CONVERT_HISTORY) {
        let cur = p.cursor()?;
        let data = acct.data();
        let rows = page(
            &data.converts,
            |c| c.ts,
            |c| c.ts,
            i64::MIN,
            &cur,
            |c| p.matches("clTReqId", &c.cl_t_req_id),
        );
        return Ok(ok(rows
            .into_iter()
            .map(crate::sim::model::SimConvert::to_json)
            .collect()));
    }
    if e(endpoints::DCD_ORDER_HISTORY) {
        // Assumed paging (see `SimDcdOrder`): newest first; `endId` = older than that ordId,
        // `beginId` = newer; `begin`/`end` on `cTime` (ms); `limit` ≤ 100.
        let base = p.cursor()?;
        let cur = Cursor {
            after: p.int("endId")?,
            before: p.int("beginId")?,
            ..base
        };
        let data = acct.data();
        let rows = page(
            &data.dcd_orders,
            |o| o.ord_id as i64,
            |o| o.c_time,
            i64::MIN,
            &cur,
            |_| true,
        );
        return Ok(ok(rows
            .into_iter()
            .map(crate::sim::model::SimDcdOrder::to_json)
            .collect()));
    }
    Err(not_implemented())
}
