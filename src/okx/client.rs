//! The OKX REST executor: build → wait on the endpoint's limiter → sign → send → check
//! status and envelope → decode, with retries around it.
//!
//! One sliding-window pacer per endpoint ([`super::pacing`]), built from the documented
//! limit in [`super::endpoints`], so requests to different endpoints run concurrently and
//! none trips OKX's limits. The clock offset to OKX's server time is read
//! at start and re-read once when OKX answers 50102.
//!
//! What a hostile or broken host cannot do (issue 7): make us follow a redirect (a 3xx is
//! an error, so the `OK-ACCESS-*` headers never reach another host), send an answer larger
//! than [`ClientConfig::max_response_bytes`], or keep a request hanging for longer than
//! [`ClientConfig::give_up_after`] in all attempts together.

use super::endpoints::{self, Endpoint, Method};
use super::error::{CodeClass, OkxError, classify_code};
use super::host;
use super::pacing::{Pacer, PublicPacers, shared_limit};
use super::shared::SharedHost;
use super::sign;
use super::wire::{self, Envelope, ServerTime};
use crate::secret::Credentials;
use chrono::{DateTime, Utc};
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

/// Called before each retry sleep (the CLI shows `retrying <endpoint> (attempt n, next in s)`).
#[derive(Clone)]
pub struct RetryHook(pub Arc<dyn Fn(&RetryEvent) + Send + Sync>);

impl std::fmt::Debug for RetryHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RetryHook")
    }
}

/// One retry about to happen.
#[derive(Debug, Clone)]
pub struct RetryEvent {
    pub endpoint: &'static str,
    /// The attempt that comes next (2 = first retry).
    pub attempt: u32,
    pub next_in: Duration,
    pub reason: String,
}

/// Largest JSON answer accepted by default; OKX's largest pages are well under 1 MiB.
pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 32 << 20;
/// Default time a request may go without a usable answer, all attempts together.
pub const DEFAULT_GIVE_UP_AFTER: Duration = Duration::from_secs(60);

/// How the client behaves; tests and benchmarks change the pacing and retry knobs.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    pub base_url: String,
    pub credentials: Option<Credentials>,
    pub demo_trading: bool,
    /// Multiplies every documented limit (only for simulators that scale theirs).
    pub rate_scale: u32,
    /// Fraction of each documented limit to use (`--rate-share`; 1.0 = all of it).
    pub rate_share: f64,
    /// Longest single attempt (also capped by what remains of `give_up_after`).
    pub timeout: Duration,
    pub max_retries: u32,
    pub backoff_base: Duration,
    pub backoff_cap: Duration,
    /// A request that has had no usable answer for this long (all attempts, their
    /// timeouts and backoff together) fails, naming the host and what was tried. For a
    /// download it is the longest time without receiving a byte.
    pub give_up_after: Duration,
    /// A JSON answer larger than this is refused (not retried).
    pub max_response_bytes: usize,
    pub on_retry: Option<RetryHook>,
    /// Pacers of the public endpoints shared with other clients of this process that talk
    /// to the same host (OKX limits public endpoints per IP); `None`: this client's own.
    pub public_pacers: Option<PublicPacers>,
    /// The clock and public reference answers shared with the process's other clients of
    /// this host ([`super::shared`]); `None`: this client reads its own.
    pub shared_host: Option<SharedHost>,
}

impl ClientConfig {
    pub fn new(base_url: impl Into<String>, credentials: Option<Credentials>) -> ClientConfig {
        ClientConfig {
            base_url: base_url.into().trim_end_matches('/').to_string(),
            credentials,
            demo_trading: false,
            rate_scale: 1,
            rate_share: 1.0,
            timeout: Duration::from_secs(30),
            max_retries: 8,
            backoff_base: Duration::from_millis(200),
            backoff_cap: Duration::from_secs(10),
            give_up_after: DEFAULT_GIVE_UP_AFTER,
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
            on_retry: None,
            public_pacers: None,
            shared_host: None,
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
    /// For archive links only: redirects allowed, but only to https.
    download_http: reqwest::Client,
    host: String,
    cfg: ClientConfig,
    limiters: HashMap<&'static str, Arc<Pacer>>,
    clock_offset_ms: AtomicI64,
    clock_synced: std::sync::atomic::AtomicBool,
    stats: Mutex<BTreeMap<&'static str, EndpointStats>>,
}

enum Attempt<T> {
    Done(T),
    Retry(String),
    ClockSkew,
}

/// What the failed attempts of one request were, for the final error.
#[derive(Default)]
struct Tries {
    started: Option<Instant>,
    reasons: BTreeMap<String, u32>,
    count: u32,
}

impl Tries {
    fn start(&mut self) {
        self.started.get_or_insert_with(Instant::now);
    }
    fn elapsed(&self) -> Duration {
        self.started.map(|t| t.elapsed()).unwrap_or_default()
    }
    fn failed(&mut self, reason: &str) {
        self.count += 1;
        *self.reasons.entry(reason.to_string()).or_default() += 1;
    }
    fn summary(&self) -> String {
        self.reasons
            .iter()
            .map(|(r, n)| format!("{n}× {r}"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

impl OkxClient {
    pub fn new(cfg: ClientConfig) -> Result<OkxClient, OkxError> {
        let build_err = |e: reqwest::Error| OkxError::Request {
            endpoint: "client",
            detail: e.to_string(),
        };
        let connect_timeout = Duration::from_secs(10).min(cfg.give_up_after);
        // No redirect on the API: a 3xx would re-send the signed headers to wherever it
        // points (issue 7). It becomes an error naming the target.
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(connect_timeout)
            .user_agent(concat!("okx-export/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(build_err)?;
        let download_http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::custom(|attempt| {
                if attempt.previous().len() >= 5 {
                    attempt.error("more than 5 redirects")
                } else if attempt.url().scheme() == "https" {
                    attempt.follow()
                } else {
                    let to = host::host_of(attempt.url());
                    attempt.error(format!("refusing a redirect to non-https `{to}`"))
                }
            }))
            .connect_timeout(connect_timeout)
            .user_agent(concat!("okx-export/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(build_err)?;
        let host =
            url::Url::parse(&cfg.base_url).map_or_else(|_| cfg.base_url.clone(), |u| host::host_of(&u));
        // Private endpoints: this client's own pacers (limits per UID). Public ones: the set
        // shared with the process's other clients of this host, if any (limits per IP).
        let limiters = endpoints::ALL
            .iter()
            .map(|e| {
                let shared = (!e.private)
                    .then(|| cfg.public_pacers.as_ref().and_then(|p| p.get(e.name)))
                    .flatten();
                let pacer = shared.unwrap_or_else(|| {
                    Arc::new(Pacer::new(shared_limit(
                        e.limit.scaled(cfg.rate_scale),
                        cfg.rate_share,
                    )))
                });
                (e.name, pacer)
            })
            .collect();
        Ok(OkxClient {
            http,
            download_http,
            host,
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

    /// OKX's current time: from the offset already synced (by this client, or by another
    /// of the host's clients of this process), else by syncing now.
    pub async fn server_time(&self) -> Result<DateTime<Utc>, OkxError> {
        if self.clock_synced.load(Ordering::Relaxed) {
            return Ok(self.server_now());
        }
        let Some(shared) = &self.cfg.shared_host else {
            return self.sync_time().await;
        };
        let offset = shared
            .clock_offset(|| async {
                self.sync_time().await?;
                Ok(self.clock_offset_ms.load(Ordering::Relaxed))
            })
            .await?;
        self.clock_offset_ms.store(offset, Ordering::Relaxed);
        self.clock_synced.store(true, Ordering::Relaxed);
        Ok(self.server_now())
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
                    detail: format!("{detail} (record data[{i}])"),
                })
            })
            .collect()
    }

    /// The raw `data` elements (each exactly as OKX sent it) of one call. A public answer
    /// the host's clients share ([`SharedHost::memoizes`]) is fetched once for all.
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
        match &self.cfg.shared_host {
            Some(shared) if body.is_none() && SharedHost::memoizes(ep) => {
                shared.answer(&path, || self.request_path(ep, &path, None)).await
            }
            _ => self.request_path(ep, &path, body).await,
        }
    }

    async fn request_path(
        &self,
        ep: Endpoint,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<Vec<Box<RawValue>>, OkxError> {
        let body_text = body.map(std::string::ToString::to_string).unwrap_or_default();
        let mut tries = Tries::default();
        let mut resynced = false;
        loop {
            match self.attempt(ep, path, &body_text, &mut tries).await? {
                Attempt::Done(v) => return Ok(v),
                Attempt::ClockSkew if !resynced && ep.name != endpoints::PUBLIC_TIME.name => {
                    resynced = true;
                    tracing::debug!(endpoint = ep.name, "50102: re-syncing server time");
                    Box::pin(self.sync_time()).await?;
                }
                Attempt::ClockSkew => return Err(OkxError::Clock { endpoint: ep.name }),
                Attempt::Retry(reason) => {
                    tries.failed(&reason);
                    let delay = self.backoff(tries.count);
                    if tries.count > self.cfg.max_retries || tries.elapsed() + delay >= self.cfg.give_up_after
                    {
                        return Err(gave_up(ep.name, &self.host, &tries, reason));
                    }
                    self.bump(ep.name, |s| s.retries += 1);
                    self.on_retry(ep.name, tries.count + 1, delay, &reason);
                    tokio::time::sleep(delay).await;
                }
            }
        }
    }

    /// Counts a 429 and widens the endpoint's pacing guard (see [`super::pacing`]).
    fn rate_limited(&self, endpoint: &'static str) {
        self.bump(endpoint, |s| s.rate_limited += 1);
        if let Some(wider) = self.limiters.get(endpoint).and_then(|p| p.rate_limited()) {
            tracing::info!(
                "{endpoint}: OKX answered 429 (too many requests); pacing this endpoint {} ms wider for the rest of the run",
                wider.as_millis()
            );
        }
    }

    fn on_retry(&self, endpoint: &'static str, attempt: u32, next_in: Duration, reason: &str) {
        tracing::debug!(endpoint, attempt, ?next_in, %reason, "transient failure, retrying");
        if let Some(hook) = &self.cfg.on_retry {
            (hook.0)(&RetryEvent {
                endpoint,
                attempt,
                next_in,
                reason: reason.to_string(),
            });
        }
    }

    /// Time left for the next attempt of a request that started failing `tries` ago.
    fn attempt_budget(&self, tries: &Tries) -> Duration {
        self.cfg
            .timeout
            .min(self.cfg.give_up_after.saturating_sub(tries.elapsed()))
            .max(Duration::from_millis(1))
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
        tries: &mut Tries,
    ) -> Result<Attempt<Vec<Box<RawValue>>>, OkxError> {
        let pacer = &self.limiters[ep.name];
        let (waited, ticket) = pacer.acquire().await;
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
        tries.start();
        let budget = self.attempt_budget(tries);
        let exchange = async {
            let resp = req.send().await?;
            let status = resp.status();
            let location = resp
                .headers()
                .get(reqwest::header::LOCATION)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            if status.is_redirection() {
                return Ok((status, location, Vec::new()));
            }
            let bytes = read_capped(resp, self.cfg.max_response_bytes).await?;
            Ok((status, location, bytes))
        };
        let (status, location, bytes) = match tokio::time::timeout(budget, exchange).await {
            Err(_) => return Ok(Attempt::Retry(format!("no answer within {budget:.0?}"))),
            Ok(Err(BodyError::TooLarge)) => {
                return Err(OkxError::TooLarge {
                    endpoint: ep.name,
                    host: self.host.clone(),
                    limit: self.cfg.max_response_bytes as u64,
                });
            }
            Ok(Err(BodyError::Http(e))) if e.is_builder() => {
                return Err(OkxError::Request {
                    endpoint: ep.name,
                    detail: format!("`{}`: {e}", self.cfg.base_url),
                });
            }
            Ok(Err(BodyError::Http(e))) => return Ok(Attempt::Retry(transport_reason(&e))),
            Ok(Ok(answer)) => answer,
        };
        ticket.answered();
        if status.is_redirection() {
            let target = location
                .as_deref()
                .and_then(|l| url::Url::parse(&self.cfg.base_url).ok()?.join(l).ok())
                .map_or_else(|| "(no Location)".into(), |u| host::host_of(&u));
            return Err(OkxError::Redirect {
                endpoint: ep.name,
                host: self.host.clone(),
                status: status.as_u16(),
                target,
            });
        }
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
                        self.rate_limited(ep.name);
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
            self.rate_limited(ep.name);
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

    /// Streams a file (an archive link OKX hands out) into `dest`, at most `max_bytes`.
    ///
    /// The link is pre-signed: it gets no OKX header, must be https (http only to a
    /// loopback host), and may redirect only to https. A stall of `give_up_after` without
    /// a byte fails, and so does a file larger than `max_bytes` (not retried). Returns the
    /// number of bytes written; on a retry `dest` is rewritten from the start.
    pub async fn download_to(
        &self,
        endpoint: &'static str,
        link: &str,
        dest: &mut std::fs::File,
        max_bytes: u64,
    ) -> Result<u64, OkxError> {
        use std::io::{Seek, Write};
        let url = host::check_download_link(link).map_err(|e| OkxError::Request {
            endpoint,
            detail: e.0,
        })?;
        let link_host = host::host_of(&url);
        let stall = self.cfg.give_up_after;
        let mut tries = Tries::default();
        loop {
            tries.start();
            let io = |source: std::io::Error| OkxError::LocalWrite { endpoint, source };
            dest.set_len(0).map_err(io)?;
            dest.rewind().map_err(io)?;
            let result: Result<Result<u64, String>, OkxError> = async {
                let resp = match tokio::time::timeout(stall, self.download_http.get(url.clone()).send()).await {
                    Err(_) => return Ok(Err(format!("no answer within {stall:.0?}"))),
                    Ok(Err(e)) if e.is_redirect() => {
                        return Err(OkxError::Request {
                            endpoint,
                            detail: format!("archive link to `{link_host}`: {}", error_chain(&e)),
                        });
                    }
                    Ok(Err(e)) => return Ok(Err(transport_reason(&e))),
                    Ok(Ok(r)) => r,
                };
                let status = resp.status();
                if status.is_client_error() && status.as_u16() != 429 {
                    return Err(OkxError::Api {
                        endpoint,
                        code: format!("HTTP {}", status.as_u16()),
                        msg: "archive download refused (the link may have expired; it is re-requested on the next run)".into(),
                    });
                }
                if !status.is_success() {
                    return Ok(Err(format!("HTTP {}", status.as_u16())));
                }
                let too_large = || OkxError::TooLarge {
                    endpoint,
                    host: link_host.clone(),
                    limit: max_bytes,
                };
                if resp.content_length().is_some_and(|n| n > max_bytes) {
                    return Err(too_large());
                }
                let mut resp = resp;
                let mut written = 0u64;
                loop {
                    let chunk = match tokio::time::timeout(stall, resp.chunk()).await {
                        Err(_) => return Ok(Err(format!("download stalled for {stall:.0?}"))),
                        Ok(Err(e)) => return Ok(Err(transport_reason(&e))),
                        Ok(Ok(None)) => return Ok(Ok(written)),
                        Ok(Ok(Some(c))) => c,
                    };
                    written += chunk.len() as u64;
                    if written > max_bytes {
                        return Err(too_large());
                    }
                    dest.write_all(&chunk).map_err(io)?;
                }
            }
            .await;
            let reason = match result? {
                Ok(n) => {
                    dest.flush().map_err(io)?;
                    return Ok(n);
                }
                Err(reason) => reason,
            };
            tries.failed(&reason);
            let delay = self.backoff(tries.count);
            if tries.count > self.cfg.max_retries || tries.elapsed() + delay >= stall {
                return Err(gave_up(endpoint, &link_host, &tries, reason));
            }
            self.bump(endpoint, |s| s.retries += 1);
            self.on_retry(endpoint, tries.count + 1, delay, &reason);
            tokio::time::sleep(delay).await;
        }
    }
}

enum BodyError {
    TooLarge,
    Http(reqwest::Error),
}

impl From<reqwest::Error> for BodyError {
    fn from(e: reqwest::Error) -> Self {
        BodyError::Http(e)
    }
}

/// Reads a whole answer, refusing one larger than `max` before it is all in memory.
async fn read_capped(mut resp: reqwest::Response, max: usize) -> Result<Vec<u8>, BodyError> {
    if resp.content_length().is_some_and(|n| n > max as u64) {
        return Err(BodyError::TooLarge);
    }
    let mut out = Vec::with_capacity(resp.content_length().unwrap_or(0) as usize);
    while let Some(chunk) = resp.chunk().await? {
        if out.len() + chunk.len() > max {
            return Err(BodyError::TooLarge);
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

/// The final error of a request that got no usable answer from `host`.
fn gave_up(endpoint: &'static str, host: &str, tries: &Tries, last: String) -> OkxError {
    OkxError::GaveUp {
        endpoint,
        host: host.to_string(),
        attempts: tries.count,
        elapsed: tries.elapsed(),
        tried: tries.summary(),
        last,
        network: tries
            .reasons
            .keys()
            .any(|r| !r.starts_with("HTTP ") && !r.starts_with("code ")),
    }
}

/// An error and its sources on one line ("a: b: c").
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let text = c.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        cur = c.source();
    }
    out
}

fn transport_reason(e: &reqwest::Error) -> String {
    let io_kind = std::iter::successors(std::error::Error::source(e), |c| c.source())
        .find_map(|c| c.downcast_ref::<std::io::Error>())
        .map(std::io::Error::kind);
    let chain = error_chain(e);
    let tls = [
        "InvalidContentType",
        "corrupt message",
        "certificate",
        "HandshakeFailure",
        "tls",
    ]
    .iter()
    .any(|w| chain.contains(w));
    if e.is_timeout() {
        "timeout".into()
    } else if e.is_connect() && tls {
        // An https request to a plain-http server fails in the TLS handshake.
        let detail = std::iter::successors(std::error::Error::source(e), |c| c.source())
            .last()
            .map(ToString::to_string)
            .unwrap_or_default();
        format!("TLS handshake failed ({detail}): does the host speak https? (plain http only on loopback)")
    } else if e.is_connect() {
        match io_kind {
            Some(std::io::ErrorKind::ConnectionRefused) => "connection refused".into(),
            Some(std::io::ErrorKind::TimedOut) => "connect timeout".into(),
            _ => "connection failed".into(),
        }
    } else if e.is_body() || e.is_decode() {
        "connection dropped while reading the answer".into()
    } else {
        // reqwest's Display includes the URL, which carries no secret (query only).
        format!("transport error: {e}")
    }
}

/// Shared handle.
pub type SharedClient = Arc<OkxClient>;
