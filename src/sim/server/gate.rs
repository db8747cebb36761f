//! What every request passes before its endpoint answers: authentication (signature,
//! timestamp, passphrase, revoked keys), the rate limits, and the faults a test asked for.

use super::archive::download;
use super::dispatch;
use super::http::{Params, Reject, dropped_response, error, json_response, unauthorized};
use super::{EndpointStats, SeenRequest, Shared};
use crate::okx::endpoints::Method;
use crate::okx::{endpoints, sign};
use crate::sim::{FaultKind, SimKey};
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use rand::Rng;
use serde_json::Value;
use std::sync::Arc;

impl Shared {
    pub(super) fn count(&self, name: &'static str, f: impl FnOnce(&mut EndpointStats)) {
        let mut stats = self
            .stats
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        f(stats.entry(name).or_default());
    }

    pub(super) fn draw_fault(&self) -> Option<FaultKind> {
        let mut f = self
            .faults
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if f.config.rate <= 0.0 || f.config.kinds.is_empty() {
            return None;
        }
        let r: f64 = f.rng.random();
        if r >= f.config.rate {
            return None;
        }
        let n = f.config.kinds.len();
        let i = f.rng.random_range(0..n);
        Some(f.config.kinds[i])
    }

    /// `Some(response)` when the request is faulted (the caller returns it); `None` to go on
    /// (possibly after a `Slow` delay).
    pub(super) async fn fault(&self, name: &'static str) -> Option<Response> {
        let kind = self.draw_fault()?;
        self.count(name, |s| s.faults_injected += 1);
        match kind {
            FaultKind::Http5xx | FaultKind::Code50001 => Some(error(
                StatusCode::SERVICE_UNAVAILABLE,
                "50001",
                "Service temporarily unavailable, please try again later.",
            )),
            FaultKind::Code50011 => Some(error(StatusCode::TOO_MANY_REQUESTS, "50011", "Too Many Requests")),
            FaultKind::Slow(d) => {
                tokio::time::sleep(d).await;
                None
            }
            FaultKind::Drop => Some(dropped_response()),
        }
    }

    pub(super) fn authenticate(
        &self,
        headers: &HeaderMap,
        method: &str,
        path_q: &str,
        body: &[u8],
    ) -> Result<SimKey, Reject> {
        let h = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .filter(|s| !s.is_empty())
        };
        let key = h("OK-ACCESS-KEY")
            .ok_or_else(|| unauthorized("50103", "Request header OK-ACCESS-KEY cannot be empty."))?;
        let pass = h("OK-ACCESS-PASSPHRASE")
            .ok_or_else(|| unauthorized("50104", "Request header OK-ACCESS-PASSPHRASE cannot be empty."))?;
        let signature = h("OK-ACCESS-SIGN")
            .ok_or_else(|| unauthorized("50106", "Request header OK-ACCESS-SIGN cannot be empty."))?;
        let ts = h("OK-ACCESS-TIMESTAMP")
            .ok_or_else(|| unauthorized("50107", "Request header OK-ACCESS-TIMESTAMP cannot be empty."))?;
        let t =
            sign::parse_timestamp(ts).ok_or_else(|| unauthorized("50112", "Invalid OK-ACCESS-TIMESTAMP"))?;
        if (t.timestamp_millis() - self.clock.now_ms()).abs() > 30_000 {
            return Err(unauthorized("50102", "Timestamp request expired"));
        }
        let k = self
            .config
            .keys
            .iter()
            .find(|k| k.api_key == key)
            .ok_or_else(|| unauthorized("50119", "API key doesn't exist"))?;
        if k.revoked {
            return Err(unauthorized("50111", "Invalid OK-ACCESS-KEY"));
        }
        if k.passphrase != pass {
            return Err(unauthorized("50105", "OK-ACCESS-PASSPHRASE incorrect"));
        }
        if (h("x-simulated-trading") == Some("1")) != k.demo_trading {
            return Err(unauthorized(
                "50101",
                "APIKey does not match current environment.",
            ));
        }
        if !k.ip_allowed {
            return Err(unauthorized(
                "50110",
                "Your IP 127.0.0.1 is not included in your API key's IP whitelist.",
            ));
        }
        let body = std::str::from_utf8(body).map_err(|_| unauthorized("50113", "Invalid Sign"))?;
        if sign::sign(&k.secret, ts, method, path_q, body) != signature {
            return Err(unauthorized("50113", "Invalid Sign"));
        }
        Ok(k.clone())
    }
}

pub(super) async fn handle(State(sh): State<Arc<Shared>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let path = parts.uri.path().to_string();
    let path_q = parts
        .uri
        .path_and_query()
        .map_or_else(|| path.clone(), |p| p.as_str().to_string());
    let params = Params::parse(parts.uri.query());
    let body = axum::body::to_bytes(body, 1 << 20).await.unwrap_or_default();

    if parts.method == axum::http::Method::GET
        && let Some(token) = path.strip_prefix("/sim-files/")
    {
        sh.count("sim-files", |s| s.requests += 1);
        if let Some(r) = sh.fault("sim-files").await {
            return r;
        }
        if sh.config.log_requests
            && let Some((_, q)) = sh.archives.file(token)
        {
            sh.log.push(crate::sim::LoggedRequest {
                endpoint: "sim-files".into(),
                query: String::new(),
                at: std::time::Instant::now(),
                times: Some((q.start_ms(), q.end_ms())),
            });
        }
        return download(&sh, token);
    }

    if parts.method == axum::http::Method::GET
        && let Some(key) = path.strip_prefix("/sim-ecb/service/data/EXR/")
    {
        sh.count("ecb", |s| s.requests += 1);
        return match crate::sim::candles::ecb_csv(key, params.get("startPeriod"), params.get("endPeriod")) {
            Some(csv) => Response::builder()
                .header(header::CONTENT_TYPE, "text/csv")
                .body(Body::from(csv))
                .unwrap_or_default(),
            None => error(StatusCode::NOT_FOUND, "404", "No results found."),
        };
    }

    let method = match parts.method {
        axum::http::Method::GET => Some(Method::Get),
        axum::http::Method::POST => Some(Method::Post),
        _ => None,
    };
    let Some(ep) = method.and_then(|m| endpoints::by_route(m, &path)) else {
        sh.count("unknown", |s| s.requests += 1);
        if endpoints::ALL.iter().any(|e| e.path == path) {
            return error(StatusCode::METHOD_NOT_ALLOWED, "50115", "Invalid request method.");
        }
        return error(StatusCode::NOT_FOUND, "50115", "Not Found: unknown endpoint.");
    };
    if let Some(max) = sh.config.arrival_jitter {
        let delay = {
            let mut rng = sh
                .jitter
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            max.mul_f64(rng.random_range(0.0..=1.0))
        };
        tokio::time::sleep(delay).await;
    }
    sh.count(ep.name, |s| s.requests += 1);
    if sh.config.record_requests {
        let h = |name: &str| {
            parts
                .headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let seen = SeenRequest {
            endpoint: ep.name.to_string(),
            key: h("OK-ACCESS-KEY"),
            passphrase: h("OK-ACCESS-PASSPHRASE"),
            sign: h("OK-ACCESS-SIGN"),
        };
        sh.seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(seen);
    }
    if sh.config.unavailable.contains(&ep.name) {
        // As a region without the product answers: a plain 404 page, not OKX JSON.
        return Response::builder()
            .status(StatusCode::NOT_FOUND)
            .header(header::CONTENT_TYPE, "text/html")
            .body(Body::from("<html><body>404 Not Found</body></html>"))
            .unwrap_or_default();
    }

    if ep.name != endpoints::PUBLIC_TIME.name
        && let Some(r) = sh.fault(ep.name).await
    {
        return r;
    }

    let key = if ep.private {
        match sh.authenticate(&parts.headers, ep.method.as_str(), &path_q, &body) {
            Ok(k) => Some(k),
            Err(r) => {
                sh.count(ep.name, |s| s.auth_failures += 1);
                return r.response();
            }
        }
    } else {
        None
    };

    // Private limits are per UID (all keys of one account share them), public ones per IP.
    let bucket = key.as_ref().map_or("", |k| k.uid.as_str());
    if !sh
        .limiter
        .try_acquire(bucket, ep.name, ep.limit.scaled(sh.config.rate_scale))
    {
        sh.count(ep.name, |s| s.rate_limited += 1);
        return error(StatusCode::TOO_MANY_REQUESTS, "50011", "Too Many Requests");
    }

    let at = std::time::Instant::now();
    let resp = match dispatch(&sh, ep, &params, &body, key.as_ref()) {
        Ok(r) => r,
        Err(r) => r.response(),
    };
    let resp = if sh.config.log_requests {
        let (parts, body) = resp.into_parts();
        let bytes = axum::body::to_bytes(body, 1 << 26).await.unwrap_or_default();
        sh.log.push(crate::sim::LoggedRequest {
            endpoint: ep.name.to_string(),
            query: path_q
                .split_once('?')
                .map(|(_, q)| q.to_string())
                .unwrap_or_default(),
            at,
            times: crate::sim::log::record_times(&bytes),
        });
        Response::from_parts(parts, Body::from(bytes))
    } else {
        resp
    };
    let resp = match &sh.config.record_fault {
        Some(f) if f.endpoint == ep.name && resp.status() == StatusCode::OK => {
            alter(f, params.get("after").is_none(), resp).await
        }
        _ => resp,
    };
    match &sh.config.bad_money {
        Some(bad) if bad.endpoint == ep.name && resp.status() == StatusCode::OK => {
            corrupt(&sh, bad, resp).await
        }
        _ => resp,
    }
}

/// Puts `bad` into the first record of an answer, `bad.times` times in all.
pub(super) async fn corrupt(sh: &Shared, bad: &crate::sim::BadMoney, resp: Response) -> Response {
    use std::sync::atomic::Ordering;
    let bytes = axum::body::to_bytes(resp.into_body(), 1 << 24)
        .await
        .unwrap_or_default();
    let mut v: Value = serde_json::from_slice(&bytes).unwrap_or_default();
    if let Some(first) = v["data"].get_mut(0).and_then(Value::as_object_mut)
        && sh.corrupted.fetch_add(1, Ordering::SeqCst) < bad.times
    {
        match bad.value {
            Some(x) => first.insert(bad.field.to_string(), Value::String(x.to_string())),
            None => first.remove(bad.field),
        };
    }
    json_response(StatusCode::OK, &v)
}

/// Applies `f` to the first record of an answer (`first_page`: asked without `after`).
pub(super) async fn alter(f: &crate::sim::RecordFault, first_page: bool, resp: Response) -> Response {
    let bytes = axum::body::to_bytes(resp.into_body(), 1 << 24)
        .await
        .unwrap_or_default();
    let mut v: Value = serde_json::from_slice(&bytes).unwrap_or_default();
    if let Some(data) = v["data"].as_array_mut()
        && let Some(first) = data.first().cloned()
    {
        let mut other = first;
        other[f.field] = Value::String(f.value.to_string());
        if f.twice_in_page {
            if first_page {
                data.insert(1, other);
            }
        } else {
            data[0] = other;
        }
    }
    json_response(StatusCode::OK, &v)
}
