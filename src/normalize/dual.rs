//! Dual Investment (funding bills 160 subscribe / 161 collection / 162 profit) booked by
//! the economics of its order (`finance/sfp/dcd/order-history`, stored as
//! [`RecordKind::DualInvestment`](crate::store::RecordKind)).
//!
//! Funding bills carry no order id, so a bill is matched to the order by currency and
//! amount, each order used once per side, nearest in time within [`MATCH_MS`]: a
//! subscription (160) by `notionalCcy`/`notionalSz` and `cTime`, a collection (161) by
//! `settleCcy`/`settleSz` and `settleTime`. A collection in another currency than
//! subscribed becomes two rows:
//! - `fb-<billId>`: a `trade`, the notional sent, the settled amount received, the strike
//!   as price, `productId` as instrument, `ordId` as trade id;
//! - `fb-<billId>:principal`: a `transfer` receiving the notional back from the product, so
//!   that with the subscription's `transfer` (160) every balance still sums to its bills.
//!
//! The yield (162) is `earn_interest` income (its own bill, so separable). A collection
//! without a matching order keeps today's booking (a `transfer`) but is marked in its note
//! and counted in `unmatched_enrichment`, never dropped. Field names of the order record are
//! assumptions (see `crate::sim::model::SimDcdOrder`).

use crate::okx::wire::de::parse_decimal;
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde_json::Value;

/// How far a bill may be from its order's `cTime`/`settleTime`.
pub(super) const MATCH_MS: i64 = 24 * 3_600_000;

/// The fields of an order that booking needs.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct DcdOrder {
    pub ord_id: String,
    pub product_id: Option<String>,
    pub notional_ccy: String,
    pub notional_sz: Decimal,
    pub strike: Option<Decimal>,
    pub settle_ccy: Option<String>,
    pub settle_sz: Option<Decimal>,
    pub c_time: Option<i64>,
    pub settle_time: Option<i64>,
}

impl DcdOrder {
    /// `None` when the record lacks an id, the notional or its currency.
    pub fn decode(raw: &str) -> Option<DcdOrder> {
        let v: Value = serde_json::from_str(raw).ok()?;
        let s = |k: &str| v.get(k).and_then(Value::as_str).filter(|s| !s.is_empty());
        let d = |k: &str| s(k).and_then(parse_decimal);
        let ms = |k: &str| s(k).and_then(|x| x.parse::<i64>().ok());
        Some(DcdOrder {
            ord_id: s("ordId")?.to_string(),
            product_id: s("productId").map(str::to_string),
            notional_ccy: s("notionalCcy")?.to_string(),
            notional_sz: d("notionalSz")?,
            strike: d("strike"),
            settle_ccy: s("settleCcy").map(str::to_string),
            settle_sz: d("settleSz"),
            c_time: ms("cTime"),
            settle_time: ms("settleTime"),
        })
    }

    /// Settled in another currency than subscribed.
    pub fn converted(&self) -> bool {
        self.settle_ccy.as_deref().is_some_and(|c| c != self.notional_ccy)
    }
}

/// The stored orders with which side of each was already matched.
#[derive(Debug, Default)]
pub(crate) struct DcdBook {
    orders: Vec<(DcdOrder, bool, bool)>,
}

impl DcdBook {
    pub fn push(&mut self, o: DcdOrder) {
        self.orders.push((o, false, false));
    }

    /// The order a subscription bill (−`amount` of `ccy` at `time`) belongs to.
    pub fn subscription(&mut self, ccy: &str, amount: Decimal, time: DateTime<Utc>) -> Option<DcdOrder> {
        let t = time.timestamp_millis();
        let best = self
            .orders
            .iter_mut()
            .filter(|(o, used, _)| !used && o.notional_ccy == ccy && o.notional_sz == amount)
            .filter_map(|e| Some(((e.0.c_time? - t).abs(), e)))
            .filter(|(dt, _)| *dt <= MATCH_MS)
            .min_by_key(|(dt, _)| *dt)?;
        best.1.1 = true;
        Some(best.1.0.clone())
    }

    /// The order a collection bill (+`amount` of `ccy` at `time`) settles.
    pub fn collection(&mut self, ccy: &str, amount: Decimal, time: DateTime<Utc>) -> Option<DcdOrder> {
        let t = time.timestamp_millis();
        let best = self
            .orders
            .iter_mut()
            .filter(|(o, _, used)| {
                !used && o.settle_ccy.as_deref() == Some(ccy) && o.settle_sz == Some(amount)
            })
            .filter_map(|e| Some(((e.0.settle_time? - t).abs(), e)))
            .filter(|(dt, _)| *dt <= MATCH_MS)
            .min_by_key(|(dt, _)| *dt)?;
        best.1.2 = true;
        Some(best.1.0.clone())
    }
}
