//! One paginated stream: an endpoint (plus fixed query), how to read a record's key, time
//! and cursor, and the walk newest → oldest with `after` that OKX requires.
//!
//! Cursor state (JSON, stored with each page in one transaction):
//! - `Walking { after, stop_at, top }`: a walk is in progress; resume from `after`.
//! - `Idle { top }`: the last walk finished; `top` is the newest cursor value stored.
//!
//! A later run starts a new walk from the newest page and stops at the first page that
//! reaches `top` (minus an overlap for time cursors), so a run with nothing new costs one
//! request per stream.

use crate::okx::endpoints::Endpoint;
use crate::okx::{OkxClient, OkxError};
use crate::store::{NewRecord, RecordKind, Store};
use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::sync::{Arc, Mutex};

/// Page size OKX allows at most.
pub const PAGE_LIMIT: usize = 100;

/// What the `after`/`before` cursor of an endpoint is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CursorKind {
    /// A numeric id field (billId): exclusive, no overlap needed.
    Id(&'static str),
    /// A millisecond time field (`ts`): several records can share one millisecond, so the
    /// next page starts one millisecond *after* the oldest seen (overlap) and the key
    /// de-duplicates.
    Time(&'static str),
}

/// How a record's store key is built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    Field(&'static str),
    /// `instType:instId:tradeId:billId` (tradeId alone is not unique).
    Fill,
}

/// Static description of a stream.
#[derive(Debug, Clone)]
pub struct StreamSpec {
    /// Unique name, also the cursor key, e.g. `fills-history/SPOT`.
    pub name: String,
    pub endpoint: Endpoint,
    pub query: Vec<(&'static str, String)>,
    pub kind: RecordKind,
    pub cursor: CursorKind,
    pub key: KeyKind,
    /// Field holding the record time.
    pub ts_field: &'static str,
    /// Field used as `link` (fills: billId).
    pub link_field: Option<&'static str>,
    /// For records whose state can still change (deposits, withdrawals): a predicate on the
    /// raw JSON telling that a stored record is not final, so later runs re-walk down to it.
    pub mutable: Option<fn(&Value) -> bool>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "phase", rename_all = "snake_case")]
pub enum CursorState {
    Walking {
        after: Option<String>,
        stop_at: Option<i64>,
        /// Newest cursor value seen by this walk.
        top: Option<i64>,
        /// `top` of the previous finished walk, so it never moves backwards.
        prev: Option<i64>,
    },
    Idle {
        top: Option<i64>,
    },
}

/// Per-stream counters for the summary.
#[derive(Debug, Clone, Default, Serialize)]
pub struct StreamReport {
    pub stream: String,
    pub endpoint: &'static str,
    pub pages: u64,
    pub fetched: u64,
    pub new: u64,
    pub updated: u64,
    pub oldest: Option<DateTime<Utc>>,
    pub newest: Option<DateTime<Utc>>,
    pub warnings: Vec<String>,
}

/// Receives progress events (the CLI draws bars from them).
pub trait Progress: Send + Sync {
    fn on_page(&self, stream: &str, fetched: u64, new: u64);
    fn on_done(&self, stream: &str, report: &StreamReport);
    /// What a stream is doing when it is not paging (the archive: applying, generating,
    /// downloading).
    fn on_state(&self, _stream: &str, _state: &str) {}
    /// The sync is over: clear whatever was drawn.
    fn finish(&self) {}
}

/// A progress sink that draws nothing.
pub struct NoProgress;

impl Progress for NoProgress {
    fn on_page(&self, _: &str, _: u64, _: u64) {}
    fn on_done(&self, _: &str, _: &StreamReport) {}
}

fn field_str(v: &Value, f: &str) -> Option<String> {
    match v.get(f)? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn field_i64(v: &Value, f: &str) -> Option<i64> {
    field_str(v, f)?.parse().ok()
}

/// Where a record sat in an answer, for messages (never the whole raw record: it can be
/// long and holds addresses).
fn position(spec: &StreamSpec, index: usize, after: Option<&str>) -> String {
    format!(
        "record data[{index}] of `{}` (page {})",
        spec.endpoint.name,
        after.map_or("1".to_string(), |a| format!("after {a}"))
    )
}

/// Turns one raw record into a store row; an error when it lacks its key fields.
pub fn to_record(spec: &StreamSpec, raw: &str, v: &Value, at: impl Fn() -> String) -> Result<NewRecord> {
    let key = match spec.key {
        KeyKind::Field(f) => field_str(v, f),
        KeyKind::Fill => (|| {
            Some(format!(
                "{}:{}:{}:{}",
                field_str(v, "instType")?,
                field_str(v, "instId")?,
                field_str(v, "tradeId")?,
                field_str(v, "billId")?
            ))
        })(),
    }
    .with_context(|| {
        let fields = match spec.key {
            KeyKind::Field(f) => format!("`{f}`"),
            KeyKind::Fill => "`instType`, `instId`, `tradeId` and `billId`".to_string(),
        };
        format!("{} lacks its key field {fields}", at())
    })?;
    let num = match spec.cursor {
        CursorKind::Id(f) => field_i64(v, f),
        CursorKind::Time(_) => match spec.key {
            KeyKind::Field(f) => field_i64(v, f),
            KeyKind::Fill => None,
        },
    };
    Ok(NewRecord {
        kind: spec.kind,
        key,
        ts_ms: field_i64(v, spec.ts_field).unwrap_or(0),
        num,
        link: spec.link_field.and_then(|f| field_str(v, f)),
        raw: raw.to_string(),
    })
}

/// Runs one stream to completion (or error), storing each page with its cursor.
pub async fn run_stream(
    client: &OkxClient,
    store: &Arc<Mutex<Store>>,
    spec: &StreamSpec,
    since: Option<DateTime<Utc>>,
    progress: &dyn Progress,
) -> Result<StreamReport> {
    let mut report = StreamReport {
        stream: spec.name.clone(),
        endpoint: spec.endpoint.name,
        ..Default::default()
    };
    let saved = {
        let s = store.lock().expect("store lock");
        s.cursor(&spec.name)?
    };
    let saved: Option<CursorState> = saved
        .map(|s| serde_json::from_str(&s))
        .transpose()
        .with_context(|| format!("unreadable cursor for stream `{}` in the store", spec.name))?;

    // Where a new walk must stop: the stored top (minus nothing for ids; time overlap is
    // handled by stopping only on strictly older records), lowered to the oldest non-final
    // record for mutable streams so their state gets refreshed.
    let refresh_floor = match spec.mutable {
        Some(pred) => {
            let s = store.lock().expect("store lock");
            s.min_ts_where(spec.kind, |raw| {
                serde_json::from_str::<Value>(raw)
                    .map(|v| pred(&v))
                    .unwrap_or(false)
            })?
        }
        None => None,
    };
    let (mut after, stop_at, mut top, prev) = match saved {
        Some(CursorState::Walking {
            after,
            stop_at,
            top,
            prev,
        }) => (after, stop_at, top, prev),
        Some(CursorState::Idle { top: prev }) => {
            let stop = match (prev, refresh_floor, spec.cursor) {
                (Some(t), Some(f), CursorKind::Time(_)) => Some(t.min(f)),
                (t, _, _) => t,
            };
            (None, stop, None, prev)
        }
        None => (None, None, None, None),
    };
    let since_ms = since.map(|t| t.timestamp_millis());

    loop {
        let mut query = spec.query.clone();
        query.push(("limit", PAGE_LIMIT.to_string()));
        if let Some(a) = &after {
            query.push(("after", a.clone()));
        }
        let raw = client
            .request(spec.endpoint, &query, None)
            .await
            .map_err(|e: OkxError| anyhow::Error::new(e))?;
        report.pages += 1;

        let mut records = Vec::with_capacity(raw.len());
        let mut oldest_cursor: Option<i64> = None;
        let mut newest_cursor: Option<i64> = None;
        let mut oldest_ts: Option<i64> = None;
        for (i, r) in raw.iter().enumerate() {
            let at = || position(spec, i, after.as_deref());
            let v: Value = serde_json::from_str(r.get()).with_context(|| format!("bad JSON in {}", at()))?;
            let rec = to_record(spec, r.get(), &v, at)?;
            let c = match spec.cursor {
                CursorKind::Id(f) | CursorKind::Time(f) => field_i64(&v, f).with_context(|| {
                    format!("{} lacks its cursor field `{f}` (or it is not a number)", at())
                }),
            }?;
            oldest_cursor = Some(oldest_cursor.map_or(c, |o| o.min(c)));
            newest_cursor = Some(newest_cursor.map_or(c, |o| o.max(c)));
            oldest_ts = Some(oldest_ts.map_or(rec.ts_ms, |o| o.min(rec.ts_ms)));
            let t = DateTime::from_timestamp_millis(rec.ts_ms);
            if rec.ts_ms > 0 {
                report.oldest = report.oldest.min(t).or(t);
                report.newest = report.newest.max(t);
            }
            records.push(rec);
        }
        report.fetched += records.len() as u64;
        if top.is_none() {
            top = newest_cursor;
        }

        let short = raw.len() < PAGE_LIMIT;
        let reached_stored = match (stop_at, oldest_cursor) {
            (Some(stop), Some(o)) => match spec.cursor {
                CursorKind::Id(_) => o <= stop,
                CursorKind::Time(_) => o < stop,
            },
            _ => false,
        };
        let reached_since = matches!((since_ms, oldest_ts), (Some(s), Some(o)) if o < s);
        let done = short || reached_stored || reached_since;

        let next_after = match (spec.cursor, oldest_cursor) {
            (_, None) => None,
            (CursorKind::Id(_), Some(o)) => Some(o.to_string()),
            (CursorKind::Time(_), Some(o)) => {
                // Overlap by one millisecond; if a whole page shares that millisecond the
                // overlap would repeat the page forever, so step past it and say so.
                let prev: Option<i64> = after.as_deref().and_then(|a| a.parse().ok());
                if prev == Some(o + 1) {
                    report.warnings.push(format!(
                        "more than {PAGE_LIMIT} records share the millisecond {o}; some of them may be missing"
                    ));
                    Some(o.to_string())
                } else {
                    Some((o + 1).to_string())
                }
            }
        };
        let state = if done {
            CursorState::Idle { top: top.max(prev) }
        } else {
            CursorState::Walking {
                after: next_after.clone(),
                stop_at,
                top,
                prev,
            }
        };
        let state_json = serde_json::to_string(&state)?;
        let outcome = {
            let mut s = store.lock().expect("store lock");
            s.insert_page(&spec.name, 1, &records, Some(&state_json))?
        };
        report.new += outcome.new;
        report.updated += outcome.updated;
        progress.on_page(&spec.name, records.len() as u64, outcome.new);
        if done {
            break;
        }
        after = next_after;
    }
    progress.on_done(&spec.name, &report);
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A record without its key is reported by endpoint and position; the raw record
    /// (which can hold addresses) is not printed.
    #[test]
    fn missing_key_names_endpoint_and_position() {
        let spec = crate::sync::streams()
            .into_iter()
            .find(|s| s.name == "deposit-history")
            .unwrap();
        let raw = r#"{"ccy":"BTC","addr":"bc1q-secret-address","ts":"1"}"#;
        let v: Value = serde_json::from_str(raw).unwrap();
        let err = to_record(&spec, raw, &v, || position(&spec, 7, Some("1700")))
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "record data[7] of `deposit-history` (page after 1700) lacks its key field `depId`"
        );
        assert!(!err.contains("bc1q"));
    }
}
