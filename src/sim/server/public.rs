//! Public market data: the server time, instruments and candles (`market/history-candles`,
//! `market/history-index-candles`; the bars come from `sim/candles.rs`).

use super::Shared;
use super::http::{Params, Reject, bad_param, check_inst_type, missing_param, not_implemented, ok};
use crate::okx::endpoints;
use crate::okx::endpoints::Endpoint;
use crate::sim::market;
use crate::sim::model::obj;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Map, Value};

/// The endpoints this file answers.
pub(super) const ENDPOINTS: [Endpoint; 4] = [
    endpoints::PUBLIC_TIME,
    endpoints::INSTRUMENTS,
    endpoints::INDEX_CANDLES,
    endpoints::CANDLES,
];

/// The answer of one of [`ENDPOINTS`].
pub(super) fn answer(sh: &Shared, ep: Endpoint, p: &Params, now: i64) -> Result<Response, Reject> {
    let e = |x: Endpoint| x.name == ep.name;
    if e(endpoints::PUBLIC_TIME) {
        let lie = sh.config.time_lie.map_or(0, |d| d.num_milliseconds());
        return Ok(ok(vec![obj! { "ts" => (now + lie).to_string() }]));
    }
    if e(endpoints::INSTRUMENTS) {
        let t = p.get("instType").ok_or_else(|| missing_param("instType"))?;
        check_inst_type(p, true)?;
        return Ok(ok(market::instruments(t, p.get("instId"))));
    }
    if e(endpoints::INDEX_CANDLES) || e(endpoints::CANDLES) {
        return market_candles(sh, p, e(endpoints::INDEX_CANDLES), now);
    }
    Err(not_implemented())
}

/// `market/history-(index-)candles` (see `sim/candles.rs`).
pub(super) fn market_candles(sh: &Shared, p: &Params, index: bool, now: i64) -> Result<Response, Reject> {
    let inst_id = p.get("instId").ok_or_else(|| missing_param("instId"))?;
    let limit = match p.get("limit") {
        None => 100,
        Some(v) => match v.parse::<usize>() {
            Ok(n) if (1..=100).contains(&n) => n,
            _ => return Err(bad_param("limit")),
        },
    };
    let q = crate::sim::candles::CandleQuery {
        inst_id,
        bar: p.get("bar").unwrap_or("1m"),
        after: p.int("after")?,
        before: p.int("before")?,
        limit,
        index,
    };
    crate::sim::candles::candles(&sh.book, &q, now, &sh.config.no_market, sh.config.usdt_index)
        .map(ok)
        .map_err(|(code, msg)| Reject {
            status: StatusCode::BAD_REQUEST,
            code,
            msg,
        })
}
