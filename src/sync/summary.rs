//! What a sync did: the run summary printed and written as `sync-summary.json`.

use super::archive::ArchiveReport;
use super::stream::StreamReport;
use crate::okx::EndpointStats;
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::BTreeMap;
/// The run summary (printed, and written as `sync-summary.json`).
#[derive(Debug, Clone, Serialize)]
pub struct SyncSummary {
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    pub elapsed_seconds: f64,
    pub server_time: DateTime<Utc>,
    pub streams: Vec<StreamReport>,
    pub archive: Option<ArchiveReport>,
    pub instruments: u64,
    pub balances: u64,
    /// Names of OKX's bill-type dictionary stored by this run (`None`: the cached one
    /// named every stored code, or it could not be fetched).
    pub bill_types: Option<u64>,
    /// Sub-accounts listed (a master's key; `None` for a sub-account's).
    pub sub_accounts: Option<usize>,
    pub endpoints: BTreeMap<String, EndpointSummary>,
    pub totals: Totals,
    pub store_counts: BTreeMap<String, u64>,
    pub peak_rss_bytes: Option<u64>,
    pub errors: Vec<String>,
    /// Problems that did not fail the sync (an optional endpoint newly unavailable, a
    /// record OKX changed).
    pub warnings: Vec<String>,
    /// Normal states worth knowing, not problems (an optional product still missing in
    /// this region, as at the last run); printed as notes, not with `--quiet`.
    pub notes: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct EndpointSummary {
    pub requests: u64,
    pub retries: u64,
    pub rate_limited: u64,
    pub limit_wait_seconds: f64,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Totals {
    pub requests: u64,
    pub retries: u64,
    pub rate_limited: u64,
    pub new_records: u64,
    pub fetched_records: u64,
}

impl From<&EndpointStats> for EndpointSummary {
    fn from(s: &EndpointStats) -> Self {
        EndpointSummary {
            requests: s.requests,
            retries: s.retries,
            rate_limited: s.rate_limited,
            limit_wait_seconds: millis(s.limit_wait.as_secs_f64()),
        }
    }
}

/// Seconds rounded to the millisecond, so JSON shows `9.123`, not `9.123456789012`.
pub(super) fn millis(secs: f64) -> f64 {
    (secs * 1000.0).round() / 1000.0
}

/// Peak resident memory of this process (Linux `VmHWM`), if known.
pub fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}
