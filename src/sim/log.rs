//! The simulator's request log (`SimConfig::log_requests`): what arrived when, and which
//! record times each answer held, so a test can check the order of requests across
//! endpoints (issue 23: no range priced before the pages holding its rows arrived).

use serde_json::Value;
use std::sync::Mutex;
use std::time::Instant;

/// One request the simulator answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggedRequest {
    /// The endpoint's name (`okx::endpoints`), or `sim-files` for an archive download.
    pub endpoint: String,
    /// The query string as sent.
    pub query: String,
    /// When the rate limiter counted it (after any arrival jitter).
    pub at: Instant,
    /// The oldest and newest record time (`ts`, or `cTime` for orders) of its answer, Unix
    /// ms; an archive download's quarter `[start, end)`.
    pub times: Option<(i64, i64)>,
}

impl LoggedRequest {
    /// A query parameter's value.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.query
            .split('&')
            .filter_map(|kv| kv.split_once('='))
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v)
    }
}

#[derive(Debug, Default)]
pub(crate) struct RequestLog(Mutex<Vec<LoggedRequest>>);

impl RequestLog {
    pub(crate) fn push(&self, r: LoggedRequest) {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(r);
    }

    pub(crate) fn snapshot(&self) -> Vec<LoggedRequest> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}

/// The oldest and newest record time in an OKX answer's `data`.
pub(crate) fn record_times(body: &[u8]) -> Option<(i64, i64)> {
    let v: Value = serde_json::from_slice(body).ok()?;
    let mut out: Option<(i64, i64)> = None;
    for r in v.get("data")?.as_array()? {
        let t = ["ts", "cTime"]
            .iter()
            .find_map(|f| r.get(*f)?.as_str()?.parse::<i64>().ok());
        if let Some(t) = t {
            out = Some(out.map_or((t, t), |(a, b)| (a.min(t), b.max(t))));
        }
    }
    out
}
