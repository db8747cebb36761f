//! The HTTP side: routing, faults, authentication, rate limits and the endpoint handlers.

use super::archive::{self, Archives, PollState, Quarter};
use super::limiter::Limiter;
use super::model::{FUNDING, TRADING, dec, obj};
use super::{
    AccountSize, ArchiveFault, ArchiveFormat, FaultConfig, FaultKind, SIM_NOW_MS, SimAccount, SimClient,
    SimConfig, SimKey, SimSub, market,
};
use crate::okx::endpoints::{self, Endpoint, Method};
use crate::okx::sign;
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use rust_decimal::Decimal;
use serde_json::{Map, Value};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

mod subaccounts;

const DAY_MS: i64 = 86_400_000;
/// `asset/bills-history` reaches back to 2021-02-01.
const FUNDING_HISTORY_FIRST_MS: i64 = 1_612_137_600_000;
const INST_TYPES: [&str; 6] = ["SPOT", "MARGIN", "SWAP", "FUTURES", "OPTION", "EVENTS"];

/// Counters of one endpoint.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EndpointStats {
    /// Every request routed to the endpoint (including rejected and faulted ones).
    pub requests: u64,
    /// Requests refused by the rate limiter (HTTP 429, code 50011).
    pub rate_limited: u64,
    /// Requests that got an injected fault.
    pub faults_injected: u64,
    /// Requests refused by authentication (HTTP 401).
    pub auth_failures: u64,
}

impl EndpointStats {
    fn add(&mut self, o: &EndpointStats) {
        self.requests += o.requests;
        self.rate_limited += o.rate_limited;
        self.faults_injected += o.faults_injected;
        self.auth_failures += o.auth_failures;
    }
}

/// A snapshot of the counters, per endpoint name (`okx::endpoints` names plus `sim-files`
/// and `unknown`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SimStats {
    pub endpoints: BTreeMap<String, EndpointStats>,
    /// Sums over all endpoints.
    pub totals: EndpointStats,
    /// Same as `totals.requests`.
    pub total_requests: u64,
    /// Same as `totals.rate_limited`.
    pub total_rate_limited: u64,
    /// Same as `totals.faults_injected`.
    pub total_faults_injected: u64,
}

impl SimStats {
    /// The counters of one endpoint (zero when never called).
    pub fn get(&self, name: &str) -> EndpointStats {
        self.endpoints.get(name).copied().unwrap_or_default()
    }
}

struct Faults {
    config: FaultConfig,
    rng: SmallRng,
}

/// Sim clock: `SIM_NOW` (plus `SimConfig::clock_offset_ms`) at start, advancing in real time.
struct Clock {
    started: Instant,
    /// Moved on by `SimConfig::clock_offset_ms` and [`SimServer::advance_clock`].
    offset_ms: std::sync::atomic::AtomicI64,
}

impl Clock {
    fn now_ms(&self) -> i64 {
        SIM_NOW_MS
            + self.offset_ms.load(std::sync::atomic::Ordering::Relaxed)
            + self.started.elapsed().as_millis() as i64
    }
}

/// A sub-account of the master and its own account.
struct SubAccount {
    spec: SimSub,
    account: SimAccount,
}

/// A client account of its own ([`SimConfig::clients`]).
struct ClientAccount {
    spec: SimClient,
    account: SimAccount,
}

/// One request as it arrived ([`SimConfig::record_requests`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeenRequest {
    /// The endpoint's name (`okx::endpoints`), or the path when it is not one.
    pub endpoint: String,
    /// `OK-ACCESS-KEY`, `OK-ACCESS-PASSPHRASE` and `OK-ACCESS-SIGN` as sent (`None`:
    /// absent).
    pub key: Option<String>,
    pub passphrase: Option<String>,
    pub sign: Option<String>,
}

struct Shared {
    config: SimConfig,
    /// The master's account (every key whose uid is not a sub-account's).
    account: SimAccount,
    subs: Vec<SubAccount>,
    clients: Vec<ClientAccount>,
    seen: Mutex<Vec<SeenRequest>>,
    clock: Clock,
    limiter: Limiter,
    stats: Mutex<BTreeMap<&'static str, EndpointStats>>,
    faults: Mutex<Faults>,
    archives: Archives,
    /// Archive applications accepted so far (for `archive_apply_limit`).
    applies: std::sync::atomic::AtomicU32,
    /// Answers corrupted so far (for `bad_money`).
    corrupted: std::sync::atomic::AtomicU32,
    base_url: String,
    /// The account's price path, for market data (same seed and span as the generator's).
    book: market::PriceBook,
}

/// A running simulator. Dropping it stops the server too (without waiting).
pub struct SimServer {
    shared: Arc<Shared>,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl Shared {
    /// The sub-account whose uid `key` has, if it is a sub-account's key.
    fn sub_of(&self, key: &SimKey) -> Option<&SubAccount> {
        self.subs.iter().find(|s| s.spec.uid == key.uid)
    }

    /// Whether `key` reads a client account of its own ([`SimConfig::clients`]).
    fn is_client(&self, key: &SimKey) -> bool {
        self.clients.iter().any(|c| c.spec.uid == key.uid)
    }

    /// The account `key` reads.
    fn account_of(&self, key: &SimKey) -> &SimAccount {
        self.account_by_uid(&key.uid)
    }

    /// The account of `uid`: a sub-account's, a client's, else the master's.
    fn account_by_uid(&self, uid: &str) -> &SimAccount {
        let sub = self.subs.iter().find(|s| s.spec.uid == uid).map(|s| &s.account);
        let client = || {
            self.clients
                .iter()
                .find(|c| c.spec.uid == uid)
                .map(|c| &c.account)
        };
        sub.or_else(client).unwrap_or(&self.account)
    }

    /// The master's uid: the first key that is neither a sub-account's nor a client's.
    fn master_uid(&self) -> String {
        self.config
            .keys
            .iter()
            .find(|k| self.subs.iter().all(|s| s.spec.uid != k.uid) && !self.is_client(k))
            .map_or_else(|| SimKey::demo().uid, |k| k.uid.clone())
    }

    /// How the configuration breaks archive quarter `label`, if it does.
    fn archive_fault(&self, label: &str) -> Option<&ArchiveFault> {
        self.config
            .archive_faults
            .iter()
            .find(|(q, _)| q == label)
            .map(|(_, f)| f)
    }
}

impl SimServer {
    /// Generates the account and starts serving on 127.0.0.1 (ephemeral port).
    pub async fn start(config: SimConfig) -> anyhow::Result<SimServer> {
        let (seed, size, unknown) = (config.seed, config.size, config.unknown_bill_type);
        let volatile = config.volatile_hours;
        let clock_offset = config.clock_offset_ms;
        let account =
            tokio::task::spawn_blocking(move || SimAccount::generate_on(seed, size, unknown, volatile))
                .await?;
        if config.bill_time_disorder {
            account.disorder_bill_times(super::SIM_NOW_MS - 40 * DAY_MS);
        }
        let specs = config.subaccounts.clone();
        let subs = tokio::task::spawn_blocking(move || {
            specs
                .into_iter()
                .map(|spec| {
                    let account = if spec.active {
                        SimAccount::generate(spec.seed, AccountSize::Sub, false)
                    } else {
                        SimAccount::empty()
                    };
                    SubAccount { spec, account }
                })
                .collect::<Vec<_>>()
        })
        .await?;
        let client_specs = config.clients.clone();
        let clients = tokio::task::spawn_blocking(move || generate_clients(client_specs)).await?;
        for sub in &subs {
            account.edit(|m| {
                sub.account
                    .edit(|s| super::family::book_transfers(m, s, &sub.spec, &config));
            });
        }
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let faults = Faults {
            rng: SmallRng::seed_from_u64(config.faults.seed),
            config: config.faults.clone(),
        };
        let shared = Arc::new(Shared {
            config,
            account,
            subs,
            clients,
            seen: Mutex::new(Vec::new()),
            clock: Clock {
                started: Instant::now(),
                offset_ms: std::sync::atomic::AtomicI64::new(clock_offset),
            },
            limiter: Limiter::default(),
            stats: Mutex::new(BTreeMap::new()),
            faults: Mutex::new(faults),
            archives: Archives::default(),
            applies: std::sync::atomic::AtomicU32::default(),
            corrupted: std::sync::atomic::AtomicU32::default(),
            base_url: format!("http://{addr}"),
            book: {
                let book = market::PriceBook::new(seed, super::generate::START_MS - 30 * DAY_MS, 420);
                if volatile { book.volatile(seed) } else { book }
            },
        });
        let app = Router::new().fallback(handle).with_state(shared.clone());
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let server = axum::serve(listener, app).with_graceful_shutdown(async {
                let _ = rx.await;
            });
            if let Err(e) = server.await {
                tracing::warn!("okx simulator stopped: {e}");
            }
        });
        Ok(SimServer {
            shared,
            shutdown: Some(tx),
            task: Some(task),
        })
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> String {
        self.shared.base_url.clone()
    }

    /// The generated ground truth (the master's, with sub-accounts).
    pub fn account(&self) -> &SimAccount {
        &self.shared.account
    }

    /// The ground truth of sub-account `name`.
    pub fn sub_account(&self, name: &str) -> Option<&SimAccount> {
        self.shared
            .subs
            .iter()
            .find(|s| s.spec.name == name)
            .map(|s| &s.account)
    }

    /// The ground truth of client account `uid` ([`SimConfig::clients`]).
    pub fn client_account(&self, uid: &str) -> Option<&SimAccount> {
        self.shared
            .clients
            .iter()
            .find(|c| c.spec.uid == uid)
            .map(|c| &c.account)
    }

    /// Every request so far, when [`SimConfig::record_requests`] is set.
    pub fn seen(&self) -> Vec<SeenRequest> {
        self.shared
            .seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// The configuration the server was started with (faults as at start).
    pub fn config(&self) -> &SimConfig {
        &self.shared.config
    }

    /// The market's USD price of `asset` at `ts_ms`, the truth its candles are cut from
    /// (USDT and USDC are 1): what a value at the row's minute should be. `None` for an
    /// asset without a price path.
    pub fn usd_price(&self, asset: &str, ts_ms: i64) -> Option<rust_decimal::Decimal> {
        if matches!(asset, "USDT" | "USDC" | "USD") {
            return Some(rust_decimal::Decimal::ONE);
        }
        market::priced_assets()
            .any(|a| a == asset)
            .then(|| self.shared.book.usd(asset, ts_ms))
    }

    /// The sim clock now, Unix ms (without `time_lie`).
    pub fn now_ms(&self) -> i64 {
        self.shared.clock.now_ms()
    }

    /// Archive applications and downloads in the order they happened.
    pub fn archive_events(&self) -> Vec<String> {
        self.shared.archives.events()
    }

    pub fn stats(&self) -> SimStats {
        let map = self
            .shared
            .stats
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut out = SimStats::default();
        for (name, s) in map.iter() {
            out.totals.add(s);
            out.endpoints.insert(name.to_string(), *s);
        }
        out.total_requests = out.totals.requests;
        out.total_rate_limited = out.totals.rate_limited;
        out.total_faults_injected = out.totals.faults_injected;
        out
    }

    pub fn reset_stats(&self) {
        self.shared
            .stats
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clear();
    }

    /// Replaces the fault configuration (and restarts its random sequence from its seed).
    pub fn set_faults(&self, faults: FaultConfig) {
        let mut f = self
            .shared
            .faults
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        f.rng = SmallRng::seed_from_u64(faults.seed);
        f.config = faults;
    }

    /// Appends `n` new spot trades (fills + bills) and one deposit (+ bill) at the sim clock
    /// now; balances follow.
    pub fn add_activity(&self, n: usize) {
        self.shared.account.add_activity(n, self.shared.clock.now_ms());
    }

    /// [`SimServer::add_activity`] at `ts_ms` (not before the newest bill): e.g. rows a
    /// few minutes old when the clock is later in the hour.
    pub fn add_activity_at(&self, n: usize, ts_ms: i64) {
        self.shared.account.add_activity(n, ts_ms);
    }

    /// Moves the sim clock `ms` ahead (a minute passing without waiting for it).
    pub fn advance_clock(&self, ms: i64) {
        self.shared
            .clock
            .offset_ms
            .fetch_add(ms, std::sync::atomic::Ordering::Relaxed);
    }

    /// Adds a USDT deposit record dated `ts_ms` in a non-final `state` (`12` frozen, `14`
    /// KYC-limited, …), not credited yet; returns its depId.
    pub fn add_held_deposit(&self, ts_ms: i64, state: &'static str) -> u64 {
        self.shared.account.add_held_deposit(ts_ms, state)
    }

    /// Deposit `dep_id` turns final (state `2`) and is credited now (sim clock): a funding
    /// bill after every other, balances follow. `false` if it is unknown or final already.
    pub fn credit_deposit(&self, dep_id: u64) -> bool {
        self.shared
            .account
            .credit_deposit(dep_id, self.shared.clock.now_ms())
    }

    /// Stops the server and waits (briefly) for it to finish.
    pub async fn shutdown(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            let abort = task.abort_handle();
            if tokio::time::timeout(std::time::Duration::from_secs(3), task)
                .await
                .is_err()
            {
                abort.abort();
            }
        }
    }
}

impl Drop for SimServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// Runs a simulator until Ctrl-C, printing `okx simulator listening on <base_url>`.
pub async fn serve_forever(config: SimConfig) -> anyhow::Result<()> {
    let server = SimServer::start(config).await?;
    println!("okx simulator listening on {}", server.base_url());
    tokio::signal::ctrl_c().await?;
    server.shutdown().await;
    Ok(())
}

// ---- responses -------------------------------------------------------------------------

fn json_response(status: StatusCode, body: &Value) -> Response {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_string()))
        .unwrap_or_default()
}

fn error(status: StatusCode, code: &str, msg: &str) -> Response {
    let body = obj! { "code" => code, "msg" => msg, "data" => Vec::<Value>::new() };
    json_response(status, &body)
}

fn ok(data: Vec<Value>) -> Response {
    let body = obj! { "code" => "0", "msg" => "", "data" => data };
    json_response(StatusCode::OK, &body)
}

/// An error answer, kept small until it becomes a [`Response`].
struct Reject {
    status: StatusCode,
    code: &'static str,
    msg: String,
}

impl Reject {
    fn response(self) -> Response {
        error(self.status, self.code, &self.msg)
    }
}

fn unauthorized(code: &'static str, msg: &str) -> Reject {
    Reject {
        status: StatusCode::UNAUTHORIZED,
        code,
        msg: msg.to_string(),
    }
}

fn bad_param(name: &str) -> Reject {
    Reject {
        status: StatusCode::BAD_REQUEST,
        code: "51000",
        msg: format!("Parameter {name} error"),
    }
}

fn missing_param(name: &str) -> Reject {
    Reject {
        status: StatusCode::BAD_REQUEST,
        code: "50014",
        msg: format!("Parameter {name} can not be empty"),
    }
}

/// Status 200 and a body that promises more bytes than it delivers: the connection is
/// closed mid-body and the client sees an incomplete response.
fn dropped_response() -> Response {
    let partial = Bytes::from_static(br#"{"code":"0","msg":"","data":[{"billId":"#);
    let body = Body::from_stream(Body::from(partial).into_data_stream());
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::CONTENT_LENGTH, "65536")
        .body(body)
        .unwrap_or_default()
}

// ---- request pipeline --------------------------------------------------------------------

impl Shared {
    fn count(&self, name: &'static str, f: impl FnOnce(&mut EndpointStats)) {
        let mut stats = self
            .stats
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        f(stats.entry(name).or_default());
    }

    fn draw_fault(&self) -> Option<FaultKind> {
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
    async fn fault(&self, name: &'static str) -> Option<Response> {
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

    fn authenticate(
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

/// Generates the client accounts, on every core (200 of them take a while on one).
fn generate_clients(specs: Vec<SimClient>) -> Vec<ClientAccount> {
    let threads = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    let chunk = specs.len().div_ceil(threads).max(1);
    std::thread::scope(|scope| {
        let parts: Vec<_> = specs
            .chunks(chunk)
            .map(|part| {
                scope.spawn(move || {
                    part.iter()
                        .map(|spec| ClientAccount {
                            account: SimAccount::generate(spec.seed, spec.size, false),
                            spec: spec.clone(),
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        parts
            .into_iter()
            .flat_map(|h| h.join().expect("generating a client account"))
            .collect()
    })
}

async fn handle(State(sh): State<Arc<Shared>>, req: Request) -> Response {
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
        return download(&sh, token);
    }

    if parts.method == axum::http::Method::GET
        && let Some(key) = path.strip_prefix("/sim-ecb/service/data/EXR/")
    {
        sh.count("ecb", |s| s.requests += 1);
        return match super::candles::ecb_csv(key, params.get("startPeriod"), params.get("endPeriod")) {
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

    let resp = match dispatch(&sh, ep, &params, &body, key.as_ref()) {
        Ok(r) => r,
        Err(r) => r.response(),
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
async fn corrupt(sh: &Shared, bad: &super::BadMoney, resp: Response) -> Response {
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
async fn alter(f: &super::RecordFault, first_page: bool, resp: Response) -> Response {
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

/// Query parameters; empty values count as absent.
struct Params(HashMap<String, String>);

impl Params {
    fn parse(query: Option<&str>) -> Params {
        let map = form_urlencoded::parse(query.unwrap_or("").as_bytes())
            .filter(|(_, v)| !v.is_empty())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        Params(map)
    }

    fn get(&self, k: &str) -> Option<&str> {
        self.0.get(k).map(String::as_str)
    }

    fn int(&self, k: &str) -> Result<Option<i64>, Reject> {
        self.get(k)
            .map(|v| v.parse::<i64>().map_err(|_| bad_param(k)))
            .transpose()
    }

    /// Matches a record value against an optional (comma-separated) filter.
    fn matches(&self, k: &str, value: &str) -> bool {
        self.get(k)
            .is_none_or(|f| f.split(',').any(|x| x.trim() == value))
    }

    fn cursor(&self) -> Result<Cursor, Reject> {
        let limit = match self.get("limit") {
            None => 100,
            Some(v) => match v.parse::<usize>() {
                Ok(n) if (1..=100).contains(&n) => n,
                _ => return Err(bad_param("limit")),
            },
        };
        Ok(Cursor {
            after: self.int("after")?,
            before: self.int("before")?,
            begin: self.int("begin")?,
            end: self.int("end")?,
            limit,
        })
    }
}

struct Cursor {
    after: Option<i64>,
    before: Option<i64>,
    begin: Option<i64>,
    end: Option<i64>,
    limit: usize,
}

/// Newest-first page of `items` (sorted ascending by `key`, with `ts` non-decreasing):
/// keys strictly between `before` and `after`, `ts` at or after `cutoff` and inside
/// `[begin, end]`, kept by `keep`, at most `limit`.
fn page<'a, T>(
    items: &'a [T],
    key: impl Fn(&T) -> i64,
    ts: impl Fn(&T) -> i64,
    cutoff: i64,
    cur: &Cursor,
    keep: impl Fn(&T) -> bool,
) -> Vec<&'a T> {
    let hi = match cur.after {
        Some(a) => items.partition_point(|x| key(x) < a),
        None => items.len(),
    };
    let mut out = Vec::new();
    for x in items[..hi].iter().rev() {
        let t = ts(x);
        if cur.before.is_some_and(|b| key(x) <= b) || t < cutoff || cur.begin.is_some_and(|b| t < b) {
            break;
        }
        if cur.end.is_some_and(|e| t > e) || !keep(x) {
            continue;
        }
        out.push(x);
        if out.len() == cur.limit {
            break;
        }
    }
    out
}

fn check_inst_type(p: &Params, required: bool) -> Result<(), Reject> {
    match p.get("instType") {
        None if required => Err(missing_param("instType")),
        Some(t) if !INST_TYPES.contains(&t) => Err(bad_param("instType")),
        _ => Ok(()),
    }
}

/// `market/history-(index-)candles` (see `sim/candles.rs`).
fn market_candles(sh: &Shared, p: &Params, index: bool, now: i64) -> Result<Response, Reject> {
    let inst_id = p.get("instId").ok_or_else(|| missing_param("instId"))?;
    let limit = match p.get("limit") {
        None => 100,
        Some(v) => match v.parse::<usize>() {
            Ok(n) if (1..=100).contains(&n) => n,
            _ => return Err(bad_param("limit")),
        },
    };
    let q = super::candles::CandleQuery {
        inst_id,
        bar: p.get("bar").unwrap_or("1m"),
        after: p.int("after")?,
        before: p.int("before")?,
        limit,
        index,
    };
    super::candles::candles(&sh.book, &q, now, &sh.config.no_market, sh.config.usdt_index)
        .map(ok)
        .map_err(|(code, msg)| Reject {
            status: StatusCode::BAD_REQUEST,
            code,
            msg,
        })
}

fn dispatch(
    sh: &Shared,
    ep: Endpoint,
    p: &Params,
    body: &[u8],
    key: Option<&SimKey>,
) -> Result<Response, Reject> {
    let now = sh.clock.now_ms();
    let name = ep.name;
    let e = |x: Endpoint| x.name == name;
    if e(endpoints::PUBLIC_TIME) {
        let lie = sh.config.time_lie.map_or(0, |d| d.num_milliseconds());
        return Ok(ok(vec![obj! { "ts" => (now + lie).to_string() }]));
    }
    if e(endpoints::INSTRUMENTS) {
        let t = p.get("instType").ok_or_else(|| missing_param("instType"))?;
        check_inst_type(p, true)?;
        return Ok(ok(market::instruments(t, p.get("instId"))));
    }
    if e(endpoints::INDEX_CANDLES) || e(endpoints::CANDLES) {
        return market_candles(sh, p, e(endpoints::INDEX_CANDLES), now);
    }
    let key = key.ok_or_else(|| unauthorized("50103", "Request header OK-ACCESS-KEY cannot be empty."))?;
    if e(endpoints::ACCOUNT_CONFIG) {
        return Ok(ok(vec![account_config(sh, key)]));
    }
    if let Some(r) = subaccounts::dispatch(sh, ep, p, key, now) {
        return r;
    }
    let acct = sh.account_of(key);
    if e(endpoints::BILL_TYPES) {
        let data = acct.data();
        return Ok(ok(super::dictionary::bill_types(
            &data,
            &sh.config.dictionary_lacks,
        )));
    }
    if e(endpoints::FILLS) || e(endpoints::FILLS_HISTORY) {
        let history = e(endpoints::FILLS_HISTORY);
        check_inst_type(p, history)?;
        if sh.config.no_event_contracts && p.get("instType") == Some("EVENTS") {
            return Err(bad_param("instType"));
        }
        let cur = p.cursor()?;
        let cutoff = now - if history { 90 } else { 3 } * DAY_MS;
        let data = acct.data();
        let rows = page(
            &data.fills,
            |f| f.bill_id as i64,
            |f| f.ts,
            cutoff,
            &cur,
            |f| {
                p.matches("instType", f.inst_type)
                    && p.matches("instId", f.inst_id)
                    && p.matches("subType", f.sub_type)
                    && p.get("ordId").is_none_or(|o| o == f.ord_id.to_string())
            },
        );
        return Ok(ok(rows.into_iter().map(super::model::SimFill::to_json).collect()));
    }
    if e(endpoints::BILLS) || e(endpoints::BILLS_ARCHIVE) {
        check_inst_type(p, false)?;
        let cur = p.cursor()?;
        let cutoff = now - if e(endpoints::BILLS) { 7 } else { 90 } * DAY_MS;
        let withhold = sh.config.withhold_bills;
        let data = acct.data();
        let rows = page(
            &data.trading_bills,
            |b| b.bill_id as i64,
            |b| b.ts,
            cutoff,
            &cur,
            |b| {
                !withhold.is_some_and(|(from, to)| b.ts >= from && b.ts < to)
                    && p.matches("instType", b.inst_type)
                    && p.matches("instId", b.inst_id)
                    && p.matches("ccy", b.ccy)
                    && p.matches("type", b.bill_type)
                    && p.matches("subType", b.sub_type)
                    && p.matches("mgnMode", b.mgn_mode)
                    && p.matches(
                        "ctType",
                        match b.inst_type {
                            "SWAP" => "linear",
                            "FUTURES" => "inverse",
                            _ => "",
                        },
                    )
            },
        );
        return Ok(ok(rows
            .into_iter()
            .map(super::model::TradingBill::to_json)
            .collect()));
    }
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
    if e(endpoints::ASSET_BILLS) || e(endpoints::ASSET_BILLS_HISTORY) {
        let cur = p.cursor()?;
        let history = e(endpoints::ASSET_BILLS_HISTORY);
        let by_id = history && p.get("pagingType") == Some("2");
        let cutoff = if history {
            FUNDING_HISTORY_FIRST_MS
        } else {
            now - 30 * DAY_MS
        };
        let data = acct.data();
        let key_fn = |b: &super::FundingBill| if by_id { b.bill_id as i64 } else { b.ts };
        let rows = page(
            &data.funding_bills,
            key_fn,
            |b| b.ts,
            cutoff,
            &cur,
            |b| p.matches("ccy", b.ccy) && p.matches("type", b.bill_type) && p.get("clientId").is_none(),
        );
        return Ok(ok(rows
            .into_iter()
            .map(super::model::FundingBill::to_json)
            .collect()));
    }
    if e(endpoints::DEPOSIT_HISTORY) {
        let cur = p.cursor()?;
        let data = acct.data();
        let rows = page(
            &data.deposits,
            |d| d.ts,
            |d| d.ts,
            i64::MIN,
            &cur,
            |d| {
                p.matches("ccy", d.ccy)
                    && p.matches("depId", &d.dep_id.to_string())
                    && p.matches("txId", &d.tx_id)
                    && p.matches("type", d.dep_type)
                    && p.matches("state", d.state)
                    && p.get("fromWdId").is_none()
            },
        );
        return Ok(ok(rows
            .into_iter()
            .map(super::model::SimDeposit::to_json)
            .collect()));
    }
    if e(endpoints::WITHDRAWAL_HISTORY) {
        let cur = p.cursor()?;
        let data = acct.data();
        let rows = page(
            &data.withdrawals,
            |w| w.ts,
            |w| w.ts,
            i64::MIN,
            &cur,
            |w| {
                p.matches("ccy", w.ccy)
                    && p.matches("wdId", &w.wd_id.to_string())
                    && p.matches("txId", &w.tx_id)
                    && p.matches("type", w.wd_type)
                    && p.matches("state", w.state)
                    && p.get("clientId").is_none()
            },
        );
        return Ok(ok(rows
            .into_iter()
            .map(super::model::SimWithdrawal::to_json)
            .collect()));
    }
    if e(endpoints::CONVERT_HISTORY) {
        let cur = p.cursor()?;
        let data = acct.data();
        let rows = page(
            &data.converts,
            |c| c.ts,
            |c| c.ts,
            i64::MIN,
            &cur,
            |c| p.matches("clTReqId", &c.cl_t_req_id),
        );
        return Ok(ok(rows
            .into_iter()
            .map(super::model::SimConvert::to_json)
            .collect()));
    }
    if e(endpoints::DCD_ORDER_HISTORY) {
        // Assumed paging (see `SimDcdOrder`): newest first; `endId` = older than that ordId,
        // `beginId` = newer; `begin`/`end` on `cTime` (ms); `limit` ≤ 100.
        let base = p.cursor()?;
        let cur = Cursor {
            after: p.int("endId")?,
            before: p.int("beginId")?,
            ..base
        };
        let data = acct.data();
        let rows = page(
            &data.dcd_orders,
            |o| o.ord_id as i64,
            |o| o.c_time,
            i64::MIN,
            &cur,
            |_| true,
        );
        return Ok(ok(rows
            .into_iter()
            .map(super::model::SimDcdOrder::to_json)
            .collect()));
    }
    if e(endpoints::ACCOUNT_BALANCE) {
        return Ok(ok(vec![trading_balance(acct, p, now)]));
    }
    if e(endpoints::ASSET_BALANCES) {
        let data = acct.data();
        let rows = data
            .balances
            .iter()
            .filter(|((acct, ccy), bal)| *acct == FUNDING && **bal > Decimal::ZERO && p.matches("ccy", ccy))
            .map(|((_, ccy), bal)| {
                obj! { "ccy" => *ccy, "bal" => dec(*bal), "frozenBal" => "0", "availBal" => dec(*bal) }
            })
            .collect();
        return Ok(ok(rows));
    }
    if e(endpoints::SAVINGS_BALANCE) {
        let data = acct.data();
        let rows = data
            .savings
            .iter()
            .filter(|(ccy, s)| !s.amt.is_zero() && p.matches("ccy", ccy))
            .map(|(ccy, s)| {
                obj! {
                    "ccy" => *ccy,
                    "amt" => dec(s.amt),
                    "earnings" => dec(s.earnings),
                    "rate" => "0.05",
                    "loanAmt" => dec(s.amt),
                    "pendingAmt" => "0",
                    "redemptAmt" => "",
                }
            })
            .collect();
        return Ok(ok(rows));
    }
    Err(Reject {
        status: StatusCode::NOT_FOUND,
        code: "50115",
        msg: "Not implemented by the simulator.".into(),
    })
}

fn quarter_checked(year: &str, quarter: &str, now: i64) -> Result<Quarter, Reject> {
    let q = Quarter::parse(year, quarter).ok_or_else(|| bad_param("quarter"))?;
    if !q.available(now) {
        return Err(bad_param("quarter"));
    }
    Ok(q)
}

fn account_config(sh: &Shared, key: &SimKey) -> Value {
    let sub = sh.sub_of(key).is_some();
    obj! {
        "uid" => key.uid.clone(),
        "mainUid" => if sub { sh.master_uid() } else { key.uid.clone() },
        "acctLv" => "2",
        "acctStpMode" => "cancel_maker",
        "autoLoan" => false,
        "ctIsoMode" => "automatic",
        "enableSpotBorrow" => false,
        "feeType" => "0",
        "greeksType" => "PA",
        "ip" => key.ip.clone(),
        "kycLv" => "2",
        "label" => key.label.clone(),
        "level" => "Lv1",
        "levelTmp" => "",
        "liquidationGear" => "-1",
        "mgnIsoMode" => "automatic",
        "opAuth" => "0",
        "perm" => key.perm.clone(),
        "posMode" => "net_mode",
        "roleType" => "0",
        "settleCcy" => "USDT",
        "settleCcyList" => vec![Value::from("USDT")],
        "spotBorrowAutoRepay" => false,
        "spotOffsetType" => "",
        "spotRoleType" => "0",
        "spotTraderInsts" => Vec::<Value>::new(),
        "stgyType" => "0",
        "traderInsts" => Vec::<Value>::new(),
        "type" => if sub { "1" } else { "0" },
    }
}

/// The `account/balance` answer for `account` (also a sub-account's trading balance).
fn trading_balance(account: &SimAccount, p: &Params, now: i64) -> Value {
    let data = account.data();
    let price = |ccy: &str| data.last_prices.get(ccy).copied().unwrap_or(Decimal::ONE);
    // Unrealised PnL of open positions, in their settlement currency (USDT).
    let upl_usdt: Decimal = data
        .positions
        .iter()
        .map(|pos| ((price("BTC") - pos.avg_px) * Decimal::from(pos.contracts) * pos.ct_val).round_dp(8))
        .sum();
    let mut details = Vec::new();
    let mut total = Decimal::ZERO;
    for ((acct, ccy), cash) in &data.balances {
        if *acct != TRADING || !p.matches("ccy", ccy) {
            continue;
        }
        let upl = if *ccy == "USDT" { upl_usdt } else { Decimal::ZERO };
        let eq = *cash + upl;
        let eq_usd = (eq * price(ccy)).round_dp(8);
        total += eq_usd;
        let u_time = data.balance_times.get(&(TRADING, *ccy)).copied().unwrap_or(now);
        let mut m = Map::new();
        for (k, v) in [
            ("ccy", ccy.to_string()),
            ("eq", dec(eq)),
            ("cashBal", dec(*cash)),
            ("availBal", dec(*cash)),
            ("availEq", dec(eq)),
            ("frozenBal", "0".into()),
            ("ordFrozen", "0".into()),
            ("upl", dec(upl)),
            ("uTime", u_time.to_string()),
            ("eqUsd", dec(eq_usd)),
            ("disEq", dec(eq_usd)),
            ("liab", "0".into()),
            ("crossLiab", "0".into()),
            ("isoLiab", "0".into()),
            ("interest", "0".into()),
            ("isoEq", "0".into()),
            ("isoUpl", "0".into()),
            ("borrowFroz", "0".into()),
            ("maxLoan", String::new()),
            ("mgnRatio", String::new()),
            ("notionalLever", String::new()),
            ("imr", String::new()),
            ("mmr", String::new()),
            ("twap", "0".into()),
            ("stgyEq", "0".into()),
            ("fixedBal", "0".into()),
            ("spotBal", String::new()),
            ("openAvgPx", String::new()),
            ("accAvgPx", String::new()),
            ("spotUpl", String::new()),
            ("spotUplRatio", String::new()),
            ("totalPnl", String::new()),
            ("totalPnlRatio", String::new()),
            ("uplLiab", "0".into()),
            ("rewardBal", String::new()),
            ("smtSyncEq", "0".into()),
            ("spotCopyTradingEq", "0".into()),
            ("spotIsoBal", "0".into()),
            ("autoLendStatus", "off".into()),
            ("autoLendMtAmt", "0".into()),
        ] {
            m.insert(k.to_string(), Value::String(v));
        }
        m.insert("collateralEnabled".into(), Value::Bool(*ccy != "LUNC"));
        m.insert("collateralRestrict".into(), Value::Bool(false));
        details.push(Value::Object(m));
    }
    obj! {
        "adjEq" => dec(total),
        "availEq" => dec(total),
        "borrowFroz" => "0",
        "details" => details,
        "imr" => "0",
        "isoEq" => "0",
        "mgnRatio" => "",
        "mmr" => "0",
        "notionalUsd" => "0",
        "notionalUsdForBorrow" => "0",
        "notionalUsdForFutures" => "0",
        "notionalUsdForOption" => "0",
        "notionalUsdForSwap" => "0",
        "ordFroz" => "0",
        "totalEq" => dec(total),
        "uTime" => now.to_string(),
        "upl" => dec(upl_usdt),
    }
}

fn download(sh: &Shared, token: &str) -> Response {
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
    match archive::build_file(bills, q, format) {
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
