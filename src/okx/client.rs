//! The OKX REST executor: build → wait on the endpoint's limiter → sign → send → check
//! status and envelope → decode, with retries around it.
//!
//! One limiter per endpoint (governor), paced from the documented limit in
//! [`super::endpoints`] with a safety margin, so requests to different endpoints run
//! concurrently and none trips OKX's limits. The clock offset to OKX's server time is read
//! at start and re-read once when OKX answers 50102.

use super::endpoints::{self, Endpoint, Method};
use super::error::{CodeClass, OkxError, classify_code};
use super::sign;
use super::wire::{self, Envelope, ServerTime};
use crate::secret::Credentials;
use chrono::{DateTime, Utc};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use rand::Rng;
use serde::de::DeserializeOwned;
use serde_json::value::RawValue;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Region host presets (../shared/okx-api.md §1.1).
pub fn region_url(region: &str) -> Option<&'static str> {
    match region {
        "global" => Some("https://www.okx.com"),
        "eea" => Some("https://eea.okx.com"),
        "us" => Some("https://us.okx.com"),
        _ => None,
    }
}

/// How the client behaves; tests and benchmarks change the pacing and retry knobs.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    pub base_url: String,
    pub credentials: Option<Credentials>,
    pub demo_trading: bool,
    /// Multiplies every documented limit (only for simulators that scale theirs).
    pub rate_scale: u32,
    /// Spacing between requests = documented interval × this (>= 1.0).
    pub safety_margin: f64,
    pub timeout: Duration,
    pub max_retries: u32,
    pub backoff_base: Duration,
    pub backoff_cap: Duration,
}

impl ClientConfig {
    pub fn new(base_url: impl Into<String>, credentials: Option<Credentials>) -> ClientConfig {
        ClientConfig {
            base_url: base_url.into().trim_end_matches('/').to_string(),
            credentials,
            demo_trading: false,
            rate_scale: 1,
            safety_margin: 1.05,
            timeout: Duration::from_secs(30),
            max_retries: 8,
            backoff_base: Duration::from_millis(200),
            backoff_cap: Duration::from_secs(10),
        }
    }
}

/// Counters per endpoint, for the run summary.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EndpointStats {
    pub requests: u64,
    pub retries: u64,
    pub rate_limited: u64,
    pub limit_wait: Duration,
}

/// A signed, paced, retrying OKX client. Cheap to share behind an `Arc`.
pub struct OkxClient {
    http: reqwest::Client,
    cfg: ClientConfig,
    limiters: HashMap<&'static str, DefaultDirectRateLimiter>,
    clock_offset_ms: AtomicI64,
    clock_synced: std::sync::atomic::AtomicBool,
    stats: Mutex<BTreeMap<&'static str, EndpointStats>>,
}

enum Attempt<T> {
    Done(T),
    Retry(String),
    ClockSkew,
}

impl OkxClient {
    pub fn new(cfg: ClientConfig) -> Result<OkxClient, OkxError> {
        let http = reqwest::Client::builder()
            .timeout(cfg.timeout)
            .connect_timeout(Duration::from_secs(10))
            .user_agent(concat!("okx-export/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| OkxError::Request {
                endpoint: "client",
                detail: e.to_string(),
            })?;
        let margin = cfg.safety_margin.max(1.0);
        let limiters = endpoints::ALL
            .iter()
            .map(|e| {
                let interval = e.limit.scaled(cfg.rate_scale).interval().mul_f64(margin);
                let quota = Quota::with_period(interval.max(Duration::from_micros(1)))
                    .expect("non-zero period")
                    .allow_burst(std::num::NonZeroU32::MIN);
                (e.name, RateLimiter::direct(quota))
            })
            .collect();
        Ok(OkxClient {
            http,
            cfg,
            limiters,
            clock_offset_ms: AtomicI64::new(0),
            clock_synced: std::sync::atomic::AtomicBool::new(false),
            stats: Mutex::new(BTreeMap::new()),
        })
    }

    pub fn config(&self) -> &ClientConfig {
        &self.cfg
    }

    /// Server time as this client believes it (local clock + offset).
    pub fn server_now(&self) -> DateTime<Utc> {
        Utc::now() + chrono::Duration::milliseconds(self.clock_offset_ms.load(Ordering::Relaxed))
    }

    /// OKX's current time: from the offset already synced, else by syncing now.
    pub async fn server_time(&self) -> Result<DateTime<Utc>, OkxError> {
        if self.clock_synced.load(Ordering::Relaxed) {
            Ok(self.server_now())
        } else {
            self.sync_time().await
        }
    }

    /// Reads `public/time` and remembers the offset between OKX's clock and ours.
    pub async fn sync_time(&self) -> Result<DateTime<Utc>, OkxError> {
        let sent = Utc::now();
        let rows: Vec<ServerTime> = self.get(endpoints::PUBLIC_TIME, &[]).await?;
        let received = Utc::now();
        let server = rows.first().and_then(|r| r.ts).ok_or_else(|| OkxError::Decode {
            endpoint: endpoints::PUBLIC_TIME.name,
            detail: "at `data[0].ts`: missing server time".into(),
        })?;
        let midpoint = sent + (received - sent) / 2;
        let offset = (server - midpoint).num_milliseconds();
        self.clock_offset_ms.store(offset, Ordering::Relaxed);
        self.clock_synced.store(true, Ordering::Relaxed);
        tracing::debug!(offset_ms = offset, "synced clock with OKX server time");
        Ok(server)
    }

    /// Snapshot of per-endpoint counters.
    pub fn stats(&self) -> BTreeMap<&'static str, EndpointStats> {
        self.stats.lock().expect("stats lock").clone()
    }

    fn bump(&self, endpoint: &'static str, f: impl FnOnce(&mut EndpointStats)) {
        f(self
            .stats
            .lock()
            .expect("stats lock")
            .entry(endpoint)
            .or_default());
    }

    /// GET (or POST with `body`) and decode `data` into `T`s.
    pub async fn get<T: DeserializeOwned>(
        &self,
        ep: Endpoint,
        query: &[(&str, String)],
    ) -> Result<Vec<T>, OkxError> {
        let raw = self.request(ep, query, None).await?;
        raw.iter()
            .enumerate()
            .map(|(i, r)| {
                wire::decode::<T>(r.get()).map_err(|detail| OkxError::Decode {
                    endpoint: ep.name,
                    detail: format!("{} (record data[{i}])", detail),
                })
            })
            .collect()
    }

    /// The raw `data` elements (each exactly as OKX sent it) of one call.
    pub async fn request(
        &self,
        ep: Endpoint,
        query: &[(&str, String)],
        body: Option<&serde_json::Value>,
    ) -> Result<Vec<Box<RawValue>>, OkxError> {
        let mut path = ep.path.to_string();
        if !query.is_empty() {
            let mut ser = form_urlencoded::Serializer::new(String::new());
            for (k, v) in query {
                ser.append_pair(k, v);
            }
            path.push('?');
            path.push_str(&ser.finish());
        }
        let body_text = body.map(|b| b.to_string()).unwrap_or_default();
        let started = Instant::now();
        let mut retries = 0u32;
        let mut resynced = false;
        loop {
            match self.attempt(ep, &path, &body_text).await? {
                Attempt::Done(v) => return Ok(v),
                Attempt::ClockSkew if !resynced && ep.name != endpoints::PUBLIC_TIME.name => {
                    resynced = true;
                    tracing::debug!(endpoint = ep.name, "50102: re-syncing server time");
                    Box::pin(self.sync_time()).await?;
                }
                Attempt::ClockSkew => return Err(OkxError::Clock { endpoint: ep.name }),
                Attempt::Retry(reason) => {
                    if retries >= self.cfg.max_retries {
                        return Err(OkxError::GaveUp {
                            endpoint: ep.name,
                            retries,
                            elapsed: started.elapsed(),
                            last: reason,
                        });
                    }
                    retries += 1;
                    self.bump(ep.name, |s| s.retries += 1);
                    let delay = self.backoff(retries);
                    tracing::debug!(endpoint = ep.name, retry = retries, ?delay, %reason, "transient failure, retrying");
                    tokio::time::sleep(delay).await;
                }
            }
        }
    }

    /// Capped exponential backoff with full jitter.
    fn backoff(&self, retry: u32) -> Duration {
        let exp = self
            .cfg
            .backoff_base
            .saturating_mul(1u32 << retry.min(16).saturating_sub(1))
            .min(self.cfg.backoff_cap);
        let jitter = rand::rng().random_range(0.5..=1.0);
        exp.mul_f64(jitter)
    }

    async fn attempt(
        &self,
        ep: Endpoint,
        path: &str,
        body: &str,
    ) -> Result<Attempt<Vec<Box<RawValue>>>, OkxError> {
        let limiter = &self.limiters[ep.name];
        let waited = Instant::now();
        limiter.until_ready().await;
        let waited = waited.elapsed();
        self.bump(ep.name, |s| {
            s.requests += 1;
            s.limit_wait += waited;
        });

        let url = format!("{}{}", self.cfg.base_url, path);
        let mut req = match ep.method {
            Method::Get => self.http.get(&url),
            Method::Post => self.http.post(&url).body(body.to_string()),
        };
        req = req.header("Content-Type", "application/json");
        if self.cfg.demo_trading {
            req = req.header("x-simulated-trading", "1");
        }
        if ep.private {
            let creds = self.cfg.credentials.as_ref().ok_or_else(|| OkxError::Request {
                endpoint: ep.name,
                detail: "no API credentials configured".into(),
            })?;
            let ts = sign::timestamp(self.server_now());
            let signature = sign::sign(creds.secret.expose(), &ts, ep.method.as_str(), path, body);
            req = req
                .header("OK-ACCESS-KEY", &creds.api_key)
                .header("OK-ACCESS-SIGN", signature)
                .header("OK-ACCESS-TIMESTAMP", ts)
                .header("OK-ACCESS-PASSPHRASE", creds.passphrase.expose());
        }
        let t0 = Instant::now();
        let resp = match req.send().await {
            Ok(r) => r,
            Err(e) if e.is_builder() => {
                return Err(OkxError::Request {
                    endpoint: ep.name,
                    detail: format!("`{}`: {e}", self.cfg.base_url),
                });
            }
            Err(e) => return Ok(Attempt::Retry(transport_reason(&e))),
        };
        let status = resp.status();
        let bytes = match resp.bytes().await {
            Ok(b) => b,
            Err(e) => return Ok(Attempt::Retry(transport_reason(&e))),
        };
        tracing::debug!(
            "{} {} -> {} ({} bytes, {:?})",
            ep.method.as_str(),
            path,
            status.as_u16(),
            bytes.len(),
            t0.elapsed()
        );
        let envelope: Result<Envelope<Box<RawValue>>, String> = std::str::from_utf8(&bytes)
            .map_err(|e| e.to_string())
            .and_then(wire::decode);
        let envelope = match envelope {
            Ok(env) => env,
            Err(detail) => {
                if status.as_u16() == 429 || status.is_server_error() {
                    if status.as_u16() == 429 {
                        self.bump(ep.name, |s| s.rate_limited += 1);
                    }
                    return Ok(Attempt::Retry(format!("HTTP {}", status.as_u16())));
                }
                return Err(OkxError::Decode {
                    endpoint: ep.name,
                    detail: format!("(HTTP {}) {detail}", status.as_u16()),
                });
            }
        };
        if envelope.code == "0" {
            return Ok(Attempt::Done(envelope.data));
        }
        let code_base = envelope.code.split('_').next().unwrap_or_default().to_string();
        if code_base == "50011" || status.as_u16() == 429 {
            self.bump(ep.name, |s| s.rate_limited += 1);
        }
        match classify_code(&envelope.code) {
            CodeClass::Transient => Ok(Attempt::Retry(format!(
                "code {} ({})",
                envelope.code, envelope.msg
            ))),
            CodeClass::ClockSkew => Ok(Attempt::ClockSkew),
            CodeClass::Credentials(hint) => Err(OkxError::Credentials {
                endpoint: ep.name,
                code: envelope.code,
                msg: envelope.msg,
                hint,
            }),
            CodeClass::Fatal if status.is_server_error() => Ok(Attempt::Retry(format!(
                "HTTP {} code {}",
                status.as_u16(),
                envelope.code
            ))),
            CodeClass::Fatal => Err(OkxError::Api {
                endpoint: ep.name,
                code: envelope.code,
                msg: envelope.msg,
            }),
        }
    }

    /// Downloads a file (the archive link OKX hands out; it is pre-signed, so no headers).
    pub async fn download(&self, endpoint: &'static str, url: &str) -> Result<Vec<u8>, OkxError> {
        let started = Instant::now();
        let mut retries = 0;
        loop {
            let result = async {
                let resp = self.http.get(url).send().await?;
                let status = resp.status();
                let bytes = resp.bytes().await?;
                Ok::<_, reqwest::Error>((status, bytes))
            }
            .await;
            let reason = match result {
                Ok((status, bytes)) if status.is_success() => return Ok(bytes.to_vec()),
                Ok((status, _)) if status.is_client_error() && status.as_u16() != 429 => {
                    return Err(OkxError::Api {
                        endpoint,
                        code: format!("HTTP {}", status.as_u16()),
                        msg: "archive download refused (the link may have expired; it is re-requested on the next run)".into(),
                    });
                }
                Ok((status, _)) => format!("HTTP {}", status.as_u16()),
                Err(e) => transport_reason(&e),
            };
            if retries >= self.cfg.max_retries {
                return Err(OkxError::GaveUp {
                    endpoint,
                    retries,
                    elapsed: started.elapsed(),
                    last: reason,
                });
            }
            retries += 1;
            self.bump(endpoint, |s| s.retries += 1);
            tokio::time::sleep(self.backoff(retries)).await;
        }
    }
}

fn transport_reason(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "timeout".into()
    } else if e.is_connect() {
        "connection failed".into()
    } else if e.is_body() || e.is_decode() {
        "connection dropped while reading the answer".into()
    } else {
        // reqwest's Display includes the URL, which carries no secret (query only).
        format!("transport error: {e}")
    }
}

/// Shared handle.
pub type SharedClient = Arc<OkxClient>;
