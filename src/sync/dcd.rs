//! The Dual Investment order history (`GET /api/v5/finance/sfp/dcd/order-history`,
//! okx-api.md §11): an optional stream. Not every region or account has the product; an
//! unavailable endpoint is a warning (collections in another currency are then booked
//! without their order and marked), never a failed sync; a credentials problem still fails.
//!
//! Orders are few and their state changes until settled, so every run re-reads the whole
//! history newest first, paging with `endId` (older than the oldest `ordId` seen; assumed
//! exclusive, like OKX's other id cursors), and upserts by `ordId`. Money fields are checked
//! before a page is stored ([`super::money`]); a bad one fails this stream (a warning).

use super::money;
use super::stream::{PAGE_LIMIT, StreamReport};
use crate::okx::OkxClient;
use crate::okx::endpoints::DCD_ORDER_HISTORY;
use crate::store::{NewRecord, RecordKind, Store};
use anyhow::{Result, anyhow};
use serde_json::Value;
use std::sync::{Arc, Mutex};

/// The stream's name (cursor key, `status` line, warnings).
pub const STREAM: &str = "dcd-order-history";

/// Pages through the whole order history into the store.
pub async fn fetch(client: &OkxClient, store: &Arc<Mutex<Store>>) -> Result<StreamReport> {
    let mut report = StreamReport {
        stream: STREAM.into(),
        endpoint: DCD_ORDER_HISTORY.name,
        ..StreamReport::default()
    };
    let mut end_id: Option<i64> = None;
    loop {
        let mut query = vec![("limit", PAGE_LIMIT.to_string())];
        if let Some(e) = end_id {
            query.push(("endId", e.to_string()));
        }
        let raw = client.request(DCD_ORDER_HISTORY, &query, None).await?;
        let mut records = Vec::with_capacity(raw.len());
        for r in &raw {
            records.push(record(r.get())?);
        }
        report.pages += 1;
        report.fetched += records.len() as u64;
        let oldest = records.iter().filter_map(|r| r.num).min();
        let outcome = store
            .lock()
            .expect("store lock")
            .insert_page(STREAM, 0, &records, None)?;
        report.stored(&outcome);
        for r in &records {
            let t = chrono::DateTime::from_timestamp_millis(r.ts_ms);
            report.oldest = match (report.oldest, t) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            report.newest = report.newest.max(t);
        }
        match oldest {
            Some(o) if raw.len() == PAGE_LIMIT && end_id.is_none_or(|e| o < e) => end_id = Some(o),
            _ => break,
        }
    }
    report.tell_changes();
    Ok(report)
}

/// One order as a store record (key `ordId`, time `cTime`), refused when a money field is bad.
fn record(raw: &str) -> Result<NewRecord> {
    let v: Value = serde_json::from_str(raw)?;
    let id = v.get("ordId").and_then(Value::as_str).filter(|s| !s.is_empty());
    let Some(id) = id.map(str::to_string) else {
        return Err(anyhow!("{STREAM}: an order without ordId"));
    };
    if let Err(bad) = money::check(RecordKind::DualInvestment, &v) {
        return Err(anyhow!("{STREAM}: order {id}: {bad}"));
    }
    let ts = v
        .get("cTime")
        .and_then(Value::as_str)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    Ok(NewRecord {
        kind: RecordKind::DualInvestment,
        num: id.parse().ok(),
        key: id,
        ts_ms: ts,
        link: None,
        raw: raw.to_string(),
    })
}
