//! `sync --refetch STREAM[:FROM..TO]`: re-reads one stream (or a time range of it) and
//! replaces what is stored there, for repairs.
//!
//! STREAM is a stream name as `status` prints it (see [`super::streams`]); FROM and TO are
//! `YYYY-MM-DD` (UTC midnight, TO exclusive). Without a range the stream's whole reach is
//! re-read: its window (e.g. 7 days for `bills`) or, for a stream without one, everything
//! from the store's floor. A range older than the stream's window is refused (OKX would
//! answer nothing, and the stored copy from a longer-reaching stream would be deleted).
//!
//! Every page of the range is fetched first (money fields checked, a bad page re-fetched,
//! as in a sync); only then are the stored records of the stream's kind in the range
//! deleted and the fetched ones inserted, in one transaction. A failed refetch leaves the
//! store as it was. Records of one kind that other streams own are left alone where the
//! key tells them apart (`fills-history/SPOT` only replaces `SPOT:` fills).

use super::stream::{self, CursorKind, StreamReport, StreamSpec};
use crate::okx::OkxClient;
use crate::store::Store;
use anyhow::{Result, bail};
use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use std::sync::{Arc, Mutex};

/// A parsed `--refetch` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refetch {
    pub stream: String,
    /// `[from, to)`; `None`: the stream's whole reach.
    pub range: Option<(DateTime<Utc>, DateTime<Utc>)>,
}

/// The streams `--refetch` can re-read: every stream of a sync, and a master's transfers
/// with its sub-accounts (synced apart from the others, only for a master's key).
fn refetchable() -> Vec<StreamSpec> {
    let mut streams = super::streams();
    streams.push(super::subaccounts::transfer_stream());
    streams
}

fn valid_streams() -> String {
    refetchable()
        .iter()
        .map(|s| s.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

fn date(s: &str) -> Result<DateTime<Utc>, String> {
    let d = NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .map_err(|_| format!("`{s}` is not a date; use YYYY-MM-DD, e.g. 2025-07-01"))?;
    Ok(Utc.from_utc_datetime(&d.and_hms_opt(0, 0, 0).expect("midnight exists")))
}

/// Parses `STREAM[:FROM..TO]`; the error is one line naming the fix.
pub fn parse(value: &str) -> Result<Refetch, String> {
    let (name, range) = match value.split_once(':') {
        Some((n, r)) => (n, Some(r)),
        None => (value, None),
    };
    if !refetchable().iter().any(|s| s.name == name) {
        return Err(format!(
            "--refetch: unknown stream `{name}`; use one of {} (optionally :YYYY-MM-DD..YYYY-MM-DD)",
            valid_streams()
        ));
    }
    let range = match range {
        None => None,
        Some(r) => {
            let Some((a, b)) = r.split_once("..") else {
                return Err(format!(
                    "--refetch: range `{r}` must be FROM..TO, e.g. {name}:2025-07-01..2025-08-01"
                ));
            };
            let (from, to) = (
                date(a).map_err(|e| format!("--refetch: {e}"))?,
                date(b).map_err(|e| format!("--refetch: {e}"))?,
            );
            if from >= to {
                return Err(format!("--refetch: FROM {a} must be before TO {b}"));
            }
            Some((from, to))
        }
    };
    Ok(Refetch {
        stream: name.to_string(),
        range,
    })
}

/// The command that re-reads a stored record of `kind` that `stored_by` (the stream that
/// stored it last) fetched at `ts_ms`: a `--refetch` of that stream, or of the stream of
/// its kind reaching furthest back, for the UTC day around it.
pub fn repair_command(kind: crate::store::RecordKind, stored_by: Option<&str>, ts_ms: i64) -> String {
    use crate::store::RecordKind as K;
    let streams = refetchable();
    let own = stored_by.filter(|s| streams.iter().any(|spec| spec.name == *s));
    let stream = own.or(match kind {
        K::Bill => Some("bills-archive"),
        K::FundingBill => Some("asset-bills-history"),
        K::Deposit => Some("deposit-history"),
        K::Withdrawal => Some("withdrawal-history"),
        K::Convert => Some("convert-history"),
        K::Fill => Some("fills"),
        K::SubTransfer => Some("subaccount-bills"),
        K::Instrument | K::DualInvestment => None,
    });
    let Some(stream) = stream else {
        return "rerun `okx-export sync` (this history is read whole on every run)".into();
    };
    match DateTime::from_timestamp_millis(ts_ms).filter(|_| ts_ms > 0) {
        Some(t) => {
            let day = t.date_naive();
            format!(
                "`okx-export sync --refetch {stream}:{}..{}`",
                day.format("%Y-%m-%d"),
                (day + chrono::Duration::days(1)).format("%Y-%m-%d")
            )
        }
        None => format!("`okx-export sync --refetch {stream}`"),
    }
}

/// What a refetch did.
#[derive(Debug, Clone)]
pub struct RefetchReport {
    pub stream: String,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub fetched: u64,
    pub removed: u64,
    pub inserted: u64,
    pub warnings: Vec<String>,
}

/// Fetches the range, then replaces it in the store atomically.
pub async fn run(
    client: &OkxClient,
    store: &Arc<Mutex<Store>>,
    req: &Refetch,
    now: DateTime<Utc>,
) -> Result<RefetchReport> {
    let spec = refetchable()
        .into_iter()
        .find(|s| s.name == req.stream)
        .expect("parse checked the name");
    let floor = store.lock().expect("store lock").floor()?;
    let reach = spec.window.map(|w| now - w);
    let (from, to) = match req.range {
        Some((f, t)) => (f, t.min(now + chrono::Duration::days(1))),
        None => (
            reach.or(floor).unwrap_or_else(super::quarter::archive_start),
            now + chrono::Duration::milliseconds(1),
        ),
    };
    if let Some(r) = reach
        && from < r
    {
        bail!(
            "--refetch: `{}` reaches back only to {} (its {}-day window); use a later FROM or a stream without a window",
            spec.name,
            r.format("%Y-%m-%d %H:%M UTC"),
            spec.window.map_or(0, |w| w.num_days())
        );
    }
    let (from_ms, to_ms) = (from.timestamp_millis(), to.timestamp_millis());
    let records = fetch_range(client, &spec, from_ms, to_ms).await?;
    let prefix = spec
        .query
        .iter()
        .find(|(k, _)| *k == "instType")
        .map(|(_, v)| format!("{v}:"));
    let fetched = records.0.len() as u64;
    let (removed, inserted) = store.lock().expect("store lock").replace_range(
        &spec.name,
        spec.kind,
        prefix.as_deref(),
        (from_ms, to_ms),
        &records.0,
    )?;
    Ok(RefetchReport {
        stream: spec.name,
        from,
        to,
        fetched,
        removed,
        inserted,
        warnings: records.1.warnings,
    })
}

/// Every record of `spec` with `from_ms <= ts < to_ms`, walking newest → oldest.
async fn fetch_range(
    client: &OkxClient,
    spec: &StreamSpec,
    from_ms: i64,
    to_ms: i64,
) -> Result<(Vec<crate::store::NewRecord>, StreamReport)> {
    let mut report = StreamReport {
        stream: spec.name.clone(),
        endpoint: spec.endpoint.name,
        ..StreamReport::default()
    };
    // A time cursor starts just below TO; an id cursor from the newest page.
    let mut after = match spec.cursor {
        CursorKind::Time(_) => Some(to_ms.to_string()),
        CursorKind::Id(_) => None,
    };
    let mut out = Vec::new();
    loop {
        crate::interrupt::check()?;
        let page = stream::fetch_page(client, spec, after.as_deref(), &mut report).await?;
        let next = stream::next_after(spec, &page, after.as_deref(), &mut report);
        let short = page.len < stream::PAGE_LIMIT;
        let below = page.oldest_ts.is_some_and(|t| t < from_ms);
        out.extend(
            page.records
                .into_iter()
                .filter(|r| r.ts_ms >= from_ms && r.ts_ms < to_ms),
        );
        if short || below || next.is_none() || next == after {
            break;
        }
        after = next;
    }
    // A time cursor overlaps pages by one millisecond: keep each key once.
    let mut seen = std::collections::HashSet::new();
    out.retain(|r| seen.insert(r.key.clone()));
    Ok((out, report))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_repair_names_the_stream_and_the_day() {
        use crate::store::RecordKind;
        let t = 1_754_006_400_000 + 3_600_000; // 2025-08-01T01:00Z
        assert_eq!(
            repair_command(RecordKind::Bill, Some("bills"), t),
            "`okx-export sync --refetch bills:2025-08-01..2025-08-02`"
        );
        assert_eq!(
            repair_command(RecordKind::Bill, Some("bills-history-archive/2025Q3"), t),
            "`okx-export sync --refetch bills-archive:2025-08-01..2025-08-02`"
        );
        assert!(parse("bills-archive:2025-08-01..2025-08-02").is_ok());
        assert!(repair_command(RecordKind::DualInvestment, None, t).contains("rerun"));
    }

    /// Every repair the report prints can be run as printed: its `--refetch` value parses
    /// (an unreadable transfer with a sub-account named `subaccount-bills`, which `--refetch`
    /// did not know).
    #[test]
    fn every_printed_repair_parses() {
        use crate::store::RecordKind;
        let t = 1_754_006_400_000 + 3_600_000;
        for kind in RecordKind::ALL {
            for stored_by in [None, Some("subaccount-bills"), Some("bills")] {
                let cmd = repair_command(kind, stored_by, t);
                let Some(value) = cmd
                    .strip_prefix("`okx-export sync --refetch ")
                    .and_then(|v| v.strip_suffix('`'))
                else {
                    assert!(cmd.contains("rerun"), "{kind:?}: {cmd}");
                    continue;
                };
                assert!(
                    parse(value).is_ok(),
                    "{kind:?} {stored_by:?}: {cmd}: {:?}",
                    parse(value)
                );
            }
        }
        assert_eq!(
            repair_command(RecordKind::SubTransfer, Some("subaccount-bills"), t),
            "`okx-export sync --refetch subaccount-bills:2025-08-01..2025-08-02`"
        );
    }

    #[test]
    fn values_are_checked_with_one_line_errors() {
        let r = parse("deposit-history:2025-07-01..2025-08-01").unwrap();
        assert_eq!(r.stream, "deposit-history");
        assert_eq!(r.range.unwrap().0, date("2025-07-01").unwrap());
        assert_eq!(parse("fills-history/SPOT").unwrap().range, None);
        let e = parse("deposits").unwrap_err();
        assert!(
            e.contains("unknown stream `deposits`") && e.contains("deposit-history"),
            "{e}"
        );
        assert!(!e.contains('\n'));
        let e = parse("bills:2025-07-01").unwrap_err();
        assert!(e.contains("FROM..TO"), "{e}");
        let e = parse("bills:2025-13-01..2025-14-01").unwrap_err();
        assert!(e.contains("not a date"), "{e}");
        let e = parse("bills:2025-08-01..2025-07-01").unwrap_err();
        assert!(e.contains("must be before"), "{e}");
    }
}
