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
//!
//! After a walk the stream's coverage is recorded (see [`crate::store::Coverage`]): from
//! the floor, the API's end or its window's start up to the server time the walk began. When
//! the floor is lower than the covered range (a later, earlier `--since`), a backfill walk
//! continues from the coverage's `bottom` cursor down to the new floor, lowering `from`
//! page by page, so an interrupted backfill resumes where it stopped.

use crate::okx::endpoints::Endpoint;
use crate::okx::{OkxClient, OkxError};
use crate::store::{Coverage, EndReason, NewRecord, RecordKind, Store};
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
    /// How far back the endpoint reaches (`None`: all of OKX's history).
    pub window: Option<chrono::Duration>,
    /// The oldest record the endpoint serves at all, whatever the window (the sub-account
    /// transfer history starts 2022-09-28): a walk that finds nothing older covers down to
    /// here, not to the floor.
    pub history_from: Option<DateTime<Utc>>,
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
        /// Server time (ms) when this walk began: what it covers up to once finished.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        as_of: Option<i64>,
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
    /// Stored records OKX answered again with other content although they were final
    /// (the earlier versions are kept in the store's record history).
    pub changed: u64,
    /// Ids one page held twice with different content (the first is stored).
    pub duplicates: u64,
    /// The first few ids of each (the warnings name them).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub changed_ids: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub duplicate_ids: Vec<String>,
    /// New fills with a negative `fillSz` (stored as OKX sent them).
    pub negative_fill_sizes: u64,
    pub oldest: Option<DateTime<Utc>>,
    pub newest: Option<DateTime<Utc>>,
    pub warnings: Vec<String>,
}

/// Ids a warning names at most.
const IDS_NAMED: usize = 10;

fn named_ids(ids: &[String], total: u64) -> String {
    let s = ids.join(", ");
    if total > ids.len() as u64 {
        format!("{s} and {} more", total - ids.len() as u64)
    } else {
        s
    }
}

impl StreamReport {
    /// Adds a later walk of the same stream in the same run (the planner's fallback).
    pub fn absorb(&mut self, more: &StreamReport) {
        self.pages += more.pages;
        self.fetched += more.fetched;
        self.new += more.new;
        self.updated += more.updated;
        self.changed += more.changed;
        self.duplicates += more.duplicates;
        self.negative_fill_sizes += more.negative_fill_sizes;
        for (mine, theirs) in [
            (&mut self.changed_ids, &more.changed_ids),
            (&mut self.duplicate_ids, &more.duplicate_ids),
        ] {
            mine.extend(theirs.iter().take(IDS_NAMED.saturating_sub(mine.len())).cloned());
        }
        self.oldest = match (self.oldest, more.oldest) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self.newest = self.newest.max(more.newest);
        self.warnings.extend(more.warnings.iter().cloned());
    }
}

impl StreamReport {
    /// Counts what storing a page did.
    pub fn stored(&mut self, outcome: &crate::store::InsertOutcome) {
        self.new += outcome.new;
        self.updated += outcome.updated;
        self.changed += outcome.changed.len() as u64;
        self.duplicates += outcome.duplicates.len() as u64;
        for (mine, theirs) in [
            (&mut self.changed_ids, &outcome.changed),
            (&mut self.duplicate_ids, &outcome.duplicates),
        ] {
            mine.extend(theirs.iter().take(IDS_NAMED.saturating_sub(mine.len())).cloned());
        }
    }

    /// The warnings for what the walk found changed or twice (once per walk, not per page).
    pub fn tell_changes(&mut self) {
        if self.changed > 0 {
            self.warnings.push(format!(
                "OKX answered {} stored record(s) with other content than before: {}; the new version is stored, the earlier one kept in the store's record history (a report lists both in changed_records.csv)",
                self.changed,
                named_ids(&self.changed_ids, self.changed)
            ));
        }
        if self.duplicates > 0 {
            self.warnings.push(format!(
                "OKX sent {} id(s) twice in one page with different content: {}; the first copy is stored, the other kept in the store's record history (changed_records.csv)",
                self.duplicates,
                named_ids(&self.duplicate_ids, self.duplicates)
            ));
        }
    }
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
    /// Everything `stream` stores in this run with a time at or after `ms` (Unix ms) is
    /// stored: streams page newest first (see [`super::frontier`]).
    fn on_stored_from(&self, _stream: &str, _ms: i64) {}
    /// Everything `stream` holds with a time in `[from_ms, to_ms)` is stored (an archive
    /// quarter).
    fn on_stored_range(&self, _stream: &str, _from_ms: i64, _to_ms: i64) {}
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

/// One fetched page, turned into store rows.
pub(super) struct Page {
    pub records: Vec<NewRecord>,
    /// Rows OKX returned (a short page means nothing older).
    pub len: usize,
    oldest_cursor: Option<i64>,
    newest_cursor: Option<i64>,
    pub oldest_ts: Option<i64>,
    /// Fills with a negative `fillSz`: (key, value), said when they are new.
    negative_fills: Vec<(String, String)>,
}

impl Page {
    /// Notes the page's new fills with a negative size in `report`.
    fn tell_negative_fills(&self, new_keys: &[String], report: &mut StreamReport) {
        for (key, size) in &self.negative_fills {
            if new_keys.contains(key) {
                report.negative_fill_sizes += 1;
                report.warnings.push(format!(
                    "fill `{key}` has a negative fillSz `{size}` (a fill's size is never negative); stored as OKX sent it, its trade is booked from its bills"
                ));
            }
        }
    }
}

/// How often a page with a bad money field is fetched before the stream fails.
pub const BAD_PAGE_ATTEMPTS: u32 = 3;

/// Fetches one page; a page with a bad money field is fetched again (it is never stored),
/// and after [`BAD_PAGE_ATTEMPTS`] the stream fails naming the endpoint, record and field.
pub(super) async fn fetch_page(
    client: &OkxClient,
    spec: &StreamSpec,
    after: Option<&str>,
    report: &mut StreamReport,
) -> Result<Page> {
    let mut attempt = 1;
    loop {
        match fetch_page_once(client, spec, after, report).await? {
            Ok(page) => return Ok(page),
            Err(bad) if attempt >= BAD_PAGE_ATTEMPTS => {
                anyhow::bail!(
                    "`{}` sent a record with a bad money value {attempts} times, so the page was not stored: {bad}",
                    spec.endpoint.name,
                    attempts = attempt
                )
            }
            Err(bad) => {
                tracing::warn!("{}: {bad}; fetching the page again", spec.endpoint.name);
                report.warnings.push(format!("refetched a page: {bad}"));
                tokio::time::sleep(std::time::Duration::from_millis(100 * u64::from(attempt))).await;
                attempt += 1;
            }
        }
    }
}

/// One request; `Ok(Err(..))` names the first record with a bad money field.
async fn fetch_page_once(
    client: &OkxClient,
    spec: &StreamSpec,
    after: Option<&str>,
    report: &mut StreamReport,
) -> Result<std::result::Result<Page, String>> {
    let mut query = spec.query.clone();
    query.push(("limit", PAGE_LIMIT.to_string()));
    if let Some(a) = after {
        query.push(("after", a.to_string()));
    }
    let raw = client
        .request(spec.endpoint, &query, None)
        .await
        .map_err(|e: OkxError| anyhow::Error::new(e))?;
    report.pages += 1;
    let mut page = Page {
        records: Vec::with_capacity(raw.len()),
        len: raw.len(),
        oldest_cursor: None,
        newest_cursor: None,
        oldest_ts: None,
        negative_fills: Vec::new(),
    };
    let (mut oldest, mut newest) = (report.oldest, report.newest);
    for (i, r) in raw.iter().enumerate() {
        let at = || position(spec, i, after);
        let v: Value = serde_json::from_str(r.get()).with_context(|| format!("bad JSON in {}", at()))?;
        let rec = to_record(spec, r.get(), &v, at)?;
        if let Err(bad) = super::money::check(spec.kind, &v) {
            return Ok(Err(format!("record `{}`: {bad}", rec.key)));
        }
        if spec.kind == RecordKind::Fill
            && let Some(size) = v.get("fillSz").and_then(Value::as_str)
            && size.starts_with('-')
            && size.trim_start_matches(['-', '0', '.']).chars().any(|c| c != '0')
        {
            page.negative_fills.push((rec.key.clone(), size.to_string()));
        }
        let c = match spec.cursor {
            CursorKind::Id(f) | CursorKind::Time(f) => field_i64(&v, f)
                .with_context(|| format!("{} lacks its cursor field `{f}` (or it is not a number)", at())),
        }?;
        page.oldest_cursor = Some(page.oldest_cursor.map_or(c, |o| o.min(c)));
        page.newest_cursor = Some(page.newest_cursor.map_or(c, |o| o.max(c)));
        page.oldest_ts = Some(page.oldest_ts.map_or(rec.ts_ms, |o| o.min(rec.ts_ms)));
        let t = DateTime::from_timestamp_millis(rec.ts_ms);
        if rec.ts_ms > 0 {
            oldest = oldest.min(t).or(t);
            newest = newest.max(t);
        }
        page.records.push(rec);
    }
    (report.oldest, report.newest) = (oldest, newest);
    report.fetched += page.records.len() as u64;
    Ok(Ok(page))
}

/// The `after` cursor for the page older than `page` (`prev_after`: this page's own).
pub(super) fn next_after(
    spec: &StreamSpec,
    page: &Page,
    prev_after: Option<&str>,
    report: &mut StreamReport,
) -> Option<String> {
    match (spec.cursor, page.oldest_cursor) {
        (_, None) => None,
        (CursorKind::Id(_), Some(o)) => Some(o.to_string()),
        // A short page: OKX has nothing older; the walk ends here.
        (_, Some(_)) if page.len < PAGE_LIMIT => None,
        (CursorKind::Time(_), Some(o)) => {
            // Overlap by one millisecond; if a whole (full) page shares that millisecond
            // the overlap would repeat the page forever, so step past it and say so.
            let prev: Option<i64> = prev_after.and_then(|a| a.parse().ok());
            if prev == Some(o + 1) {
                report.warnings.push(format!(
                    "more than {PAGE_LIMIT} records share the millisecond {o}; some of them may be missing"
                ));
                Some(o.to_string())
            } else {
                Some((o + 1).to_string())
            }
        }
    }
}

/// How a walk ended.
#[derive(Debug, Clone, PartialEq, Eq)]
enum WalkEnd {
    /// A short page: OKX has nothing older.
    Exhausted,
    /// Reached what an earlier walk stored.
    Stored,
    /// Went past the floor; `bottom` continues below it.
    Floor { bottom: Option<String> },
}

fn ms_time(v: i64) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp_millis(v)
}

/// Where a walk that found nothing older leaves the covered range's old end.
fn exhausted(
    spec: &StreamSpec,
    since: Option<DateTime<Utc>>,
    as_of: DateTime<Utc>,
) -> (Option<DateTime<Utc>>, EndReason) {
    match (spec.window, spec.history_from) {
        (Some(w), _) => (since.max(Some(as_of - w)), EndReason::ApiWindow),
        (None, Some(h)) => (since.max(Some(h)), EndReason::ApiWindow),
        (None, None) => (since, EndReason::ApiExhausted),
    }
}

/// Runs one stream to completion (or error), storing each page with its cursor, then
/// records its coverage. `as_of` is the server time of this run.
pub async fn run_stream(
    client: &OkxClient,
    store: &Arc<Mutex<Store>>,
    spec: &StreamSpec,
    since: Option<DateTime<Utc>>,
    as_of: DateTime<Utc>,
    progress: &dyn Progress,
) -> Result<StreamReport> {
    run_stream_upto(client, store, spec, since, as_of, None, progress).await
}

/// [`run_stream`] for a stream that serves only records up to `upto` (the planner puts
/// the matching `end` filter into the spec's query): a new walk covers up to `upto`
/// instead of `as_of`, since a newer part comes from another endpoint.
pub async fn run_stream_upto(
    client: &OkxClient,
    store: &Arc<Mutex<Store>>,
    spec: &StreamSpec,
    since: Option<DateTime<Utc>>,
    as_of: DateTime<Utc>,
    upto: Option<DateTime<Utc>>,
    progress: &dyn Progress,
) -> Result<StreamReport> {
    let mut report = StreamReport {
        stream: spec.name.clone(),
        endpoint: spec.endpoint.name,
        ..Default::default()
    };
    let result = walk(client, store, spec, (since, as_of, upto), progress, &mut report).await;
    if let Err(e) = &result {
        let mut s = store.lock().expect("store lock");
        // The range earlier walks proved stays; the error says why it ends early.
        let cov = match s.coverage(&spec.name)? {
            Some(prev) => Coverage {
                error: Some(format!("{e:#}")),
                ..prev
            },
            None => Coverage {
                stream: spec.name.clone(),
                from: None,
                to: None,
                reason: EndReason::StreamFailed,
                detail: None,
                error: Some(format!("{e:#}")),
                bottom: None,
                updated_at: None,
            },
        };
        s.set_coverage(&cov)?;
    }
    result?;
    report.tell_changes();
    progress.on_done(&spec.name, &report);
    Ok(report)
}

/// Whether a stored record of `spec` may still change (a deposit or withdrawal not yet
/// final): its new content is then no surprise.
fn may_change(spec: &StreamSpec) -> impl Fn(RecordKind, &str) -> bool + '_ {
    move |_, raw| {
        spec.mutable
            .is_some_and(|pred| serde_json::from_str::<Value>(raw).is_ok_and(|v| pred(&v)))
    }
}

/// `range`: the floor, the server time of this run, and what a new walk covers up to.
async fn walk(
    client: &OkxClient,
    store: &Arc<Mutex<Store>>,
    spec: &StreamSpec,
    range: (Option<DateTime<Utc>>, DateTime<Utc>, Option<DateTime<Utc>>),
    progress: &dyn Progress,
    report: &mut StreamReport,
) -> Result<()> {
    let (since, as_of, upto) = range;
    let covers_to = upto.unwrap_or(as_of).timestamp_millis();
    let (saved, prev_cov) = {
        let s = store.lock().expect("store lock");
        (s.cursor(&spec.name)?, s.coverage(&spec.name)?)
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
                serde_json::from_str::<Value>(raw).is_ok_and(|v| pred(&v))
            })?
        }
        None => None,
    };
    let (mut after, stop_at, mut top, prev, walk_as_of) = match saved {
        Some(CursorState::Walking {
            after,
            stop_at,
            top,
            prev,
            as_of,
        }) => (after, stop_at, top, prev, as_of),
        Some(CursorState::Idle { top: prev }) => {
            let stop = match (prev, refresh_floor, spec.cursor) {
                (Some(t), Some(f), CursorKind::Time(_)) => Some(t.min(f)),
                (t, _, _) => t,
            };
            (None, stop, None, prev, Some(covers_to))
        }
        None => (None, None, None, None, Some(covers_to)),
    };
    let since_ms = since.map(|t| t.timestamp_millis());

    let end = loop {
        let page = fetch_page(client, spec, after.as_deref(), report).await?;
        if top.is_none() {
            top = page.newest_cursor;
        }
        let short = page.len < PAGE_LIMIT;
        let reached_stored = match (stop_at, page.oldest_cursor) {
            (Some(stop), Some(o)) => match spec.cursor {
                CursorKind::Id(_) => o <= stop,
                CursorKind::Time(_) => o < stop,
            },
            _ => false,
        };
        let reached_since = matches!((since_ms, page.oldest_ts), (Some(s), Some(o)) if o < s);
        let next = next_after(spec, &page, after.as_deref(), report);
        // A short page ends the walk as exhausted even when it also went past the floor:
        // OKX has nothing older, so a later, earlier floor needs no backfill.
        let end = if reached_stored {
            Some(WalkEnd::Stored)
        } else if short {
            Some(WalkEnd::Exhausted)
        } else if reached_since {
            Some(WalkEnd::Floor { bottom: next.clone() })
        } else {
            None
        };
        let state = if end.is_some() {
            CursorState::Idle { top: top.max(prev) }
        } else {
            CursorState::Walking {
                after: next.clone(),
                stop_at,
                top,
                prev,
                as_of: walk_as_of,
            }
        };
        let state_json = serde_json::to_string(&state)?;
        let outcome = {
            let mut s = store.lock().expect("store lock");
            s.insert_page_checked(&spec.name, 1, &page.records, Some(&state_json), &may_change(spec))?
        };
        report.stored(&outcome);
        page.tell_negative_fills(&outcome.new_keys, report);
        progress.on_page(&spec.name, page.records.len() as u64, outcome.new);
        if let Some(oldest) = page.oldest_ts {
            // Records of the oldest millisecond may continue on the next page.
            progress.on_stored_from(&spec.name, oldest + 1);
        }
        after = next;
        if let Some(end) = end {
            break end;
        }
    };

    // The range this walk proves, joined with what earlier walks proved.
    let to = walk_as_of.and_then(ms_time);
    let (from, reason, bottom) = match end {
        WalkEnd::Stored => match &prev_cov {
            Some(p) if p.from.is_some() && p.reason != EndReason::StreamFailed => {
                (p.from, p.reason, p.bottom.clone())
            }
            // Reached records stored before coverage was kept: at least this walk's oldest.
            _ => (report.oldest, EndReason::Migrated, after.clone()),
        },
        WalkEnd::Floor { bottom } => (since, EndReason::FloorReached, bottom),
        WalkEnd::Exhausted => {
            let (from, reason) = exhausted(spec, since, as_of);
            (from, reason, None)
        }
    };
    let mut cov = Coverage {
        stream: spec.name.clone(),
        from,
        to: to.or(prev_cov.as_ref().and_then(|p| p.to)),
        reason,
        detail: None,
        error: None,
        bottom,
        updated_at: None,
    };
    // A full walk that ended above an older covered range it overlaps keeps that range.
    if let Some(p) = &prev_cov
        && let (Some(pf), Some(pt), Some(f)) = (p.from, p.to, cov.from)
        && pf < f
        && f <= pt
        && p.reason != EndReason::StreamFailed
        && cov.reason != EndReason::ApiExhausted
    {
        cov.from = Some(pf);
        cov.reason = p.reason;
        cov.bottom = p.bottom.clone();
    }
    store.lock().expect("store lock").set_coverage(&cov)?;

    // Backfill below the covered range down to a lower floor.
    let Some(floor) = since else { return Ok(()) };
    while matches!(cov.reason, EndReason::FloorReached | EndReason::Migrated)
        && cov.from.is_some_and(|f| f > floor)
        && let Some(bottom) = cov.bottom.clone()
    {
        let page = fetch_page(client, spec, Some(&bottom), report).await?;
        let next = next_after(spec, &page, Some(&bottom), report);
        if page.len < PAGE_LIMIT {
            let (f, reason) = exhausted(spec, since, as_of);
            cov.from = cov.from.min(f);
            cov.reason = reason;
            cov.bottom = None;
        } else if page.oldest_ts.is_some_and(|o| o < floor.timestamp_millis()) {
            cov.from = Some(floor);
            cov.reason = EndReason::FloorReached;
            cov.bottom = next;
        } else {
            // Records sharing the oldest millisecond may continue on the next page.
            cov.from = cov.from.min(page.oldest_ts.and_then(|o| ms_time(o + 1)));
            cov.bottom = next;
        }
        let outcome = {
            let mut s = store.lock().expect("store lock");
            let outcome = s.insert_page_checked(&spec.name, 1, &page.records, None, &may_change(spec))?;
            s.set_coverage(&cov)?;
            outcome
        };
        report.stored(&outcome);
        page.tell_negative_fills(&outcome.new_keys, report);
        progress.on_page(&spec.name, page.records.len() as u64, outcome.new);
        if let Some(oldest) = page.oldest_ts {
            progress.on_stored_from(&spec.name, oldest + 1);
        }
    }
    Ok(())
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
