//! The quarterly trading-ledger archive: applications, polls and the file downloads behind
//! the links a finished poll returns (their generation is `sim/archive.rs`).

use super::Shared;
use super::http::{Params, Reject, bad_param, error, missing_param, not_implemented, ok};
use crate::okx::endpoints;
use crate::okx::endpoints::Endpoint;
use crate::sim::archive::{PollState, Quarter};
use crate::sim::model::obj;
use crate::sim::{ArchiveFault, ArchiveFormat, SimKey};
use axum::body::Body;
use axum::http::{StatusCode, header};
use axum::response::Response;
use serde_json::{Map, Value};

/// The endpoints this file answers.
pub(super) const ENDPOINTS: [Endpoint; 2] = [
    endpoints::BILLS_HISTORY_ARCHIVE_APPLY,
    endpoints::BILLS_HISTORY_ARCHIVE_POLL,
];

/// The answer of one of [`ENDPOINTS`].
pub(super) fn answer(
    sh: &Shared,
    ep: Endpoint,
    p: &Params,
    body: &[u8],
    key: &SimKey,
    now: i64,
) -> Result<Response, Reject> {
    let e = |x: Endpoint| x.name == ep.name;
    if e(endpoints::BILLS_HISTORY_ARCHIVE_APPLY) {
        let v: Value = serde_json::from_slice(body).map_err(|_| bad_param("body"))?;
        let field = |k: &str| match v.get(k) {
            Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
            Some(Value::Number(n)) => Some(n.to_string()),
            _ => None,
        };
        let year = field("year").ok_or_else(|| missing_param("year"))?;
        let quarter = field("quarter").ok_or_else(|| missing_param("quarter"))?;
        let q = quarter_checked(&year, &quarter, now)?;
        if let Some(max) = sh.config.archive_apply_limit
            && sh.applies.fetch_add(1, std::sync::atomic::Ordering::Relaxed) >= max
        {
            return Err(Reject {
                status: StatusCode::TOO_MANY_REQUESTS,
                code: "50011",
                msg: "Too Many Requests".into(),
            });
        }
        let (ready, ts) = sh
            .archives
            .apply(&key.uid, q, now, sh.config.archive_ready_after_polls);
        return Ok(ok(vec![
            obj! { "result" => ready.to_string(), "ts" => ts.to_string() },
        ]));
    }
    if e(endpoints::BILLS_HISTORY_ARCHIVE_POLL) {
        let year = p.get("year").ok_or_else(|| missing_param("year"))?;
        let quarter = p.get("quarter").ok_or_else(|| missing_param("quarter"))?;
        let q = quarter_checked(year, quarter, now)?;
        let ready_after = sh.config.archive_ready_after_polls;
        let label = format!("{}Q{}", q.year, q.q);
        if matches!(sh.archive_fault(&label), Some(ArchiveFault::GenerationFails)) {
            return Ok(ok(vec![
                obj! { "fileHref" => "", "state" => "failed", "ts" => now.to_string() },
            ]));
        }
        let row = match sh.archives.poll(&key.uid, q, ready_after, sh.config.seed) {
            PollState::NotApplied if sh.config.archive_forgets => {
                // As OKX answers a poll long after (or without) an application.
                return Err(Reject {
                    status: StatusCode::BAD_REQUEST,
                    code: "51604",
                    msg: "Please apply first, then query the download link.".into(),
                });
            }
            PollState::NotApplied => {
                obj! { "fileHref" => "", "state" => "failed", "ts" => now.to_string() }
            }
            PollState::Finished { applied_ts, .. } if sh.config.archive_empty_quarters.contains(&label) => {
                obj! {
                    "fileHref" => "",
                    "state" => "finished",
                    "ts" => applied_ts.to_string(),
                }
            }
            PollState::Ongoing { applied_ts } => {
                obj! { "fileHref" => "", "state" => "ongoing", "ts" => applied_ts.to_string() }
            }
            PollState::Finished { applied_ts, token } => {
                // Port 1 on loopback: nothing listens, the connection is refused.
                let host = match sh.archive_fault(&label) {
                    Some(ArchiveFault::LinkUnreachable) => "http://127.0.0.1:1",
                    _ => sh.base_url.as_str(),
                };
                obj! {
                    "fileHref" => format!("{host}/sim-files/{token}"),
                    "state" => "finished",
                    "ts" => applied_ts.to_string(),
                }
            }
        };
        return Ok(ok(vec![row]));
    }
    Err(not_implemented())
}

pub(super) fn quarter_checked(year: &str, quarter: &str, now: i64) -> Result<Quarter, Reject> {
    let q = Quarter::parse(year, quarter).ok_or_else(|| bad_param("quarter"))?;
    if !q.available(now) {
        return Err(bad_param("quarter"));
    }
    Ok(q)
}

pub(super) fn download(sh: &Shared, token: &str) -> Response {
    let Some((uid, q)) = sh.archives.file(token) else {
        return error(StatusCode::NOT_FOUND, "50115", "No such file.");
    };
    let fault = sh.archive_fault(&format!("{}Q{}", q.year, q.q));
    if let Some(ArchiveFault::DownloadRefused) = fault {
        return error(StatusCode::FORBIDDEN, "AccessDenied", "Request has expired");
    }
    let bytes = match fault {
        Some(ArchiveFault::File(bytes)) => Some(bytes),
        _ => sh.config.archive_file_override.as_ref(),
    };
    if let Some(bytes) = bytes {
        return Response::builder()
            .status(StatusCode::OK)
            .header(header::CONTENT_TYPE, "application/gzip")
            .body(Body::from(bytes.as_ref().clone()))
            .unwrap_or_default();
    }
    let withhold = sh.config.withhold_bills;
    let data = sh.account_by_uid(&uid).data();
    let bills = data
        .trading_bills
        .iter()
        .filter(|b| !withhold.is_some_and(|(from, to)| b.ts >= from && b.ts < to));
    let format = sh.config.archive_format;
    match crate::sim::archive::build_file(bills, q, format) {
        Ok(bytes) => {
            let (ctype, ext) = match format {
                ArchiveFormat::Zip => ("application/zip", "zip"),
                ArchiveFormat::Gzip => ("application/gzip", "csv.gz"),
            };
            let disposition = format!("attachment; filename=\"bills-{}-Q{}.{ext}\"", q.year, q.q);
            Response::builder()
                .status(StatusCode::OK)
                .header(header::CONTENT_TYPE, ctype)
                .header(header::CONTENT_DISPOSITION, disposition)
                .body(Body::from(bytes))
                .unwrap_or_default()
        }
        Err(e) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "50026",
            &format!("System error: {e}"),
        ),
    }
}
