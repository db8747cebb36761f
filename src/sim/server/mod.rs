//! The HTTP side: routing, faults, authentication, rate limits and the endpoint handlers.

use super::archive::Archives;
use super::limiter::Limiter;
use super::{
    AccountSize, ArchiveFault, FaultConfig, SIM_NOW_MS, SimAccount, SimClient, SimConfig, SimKey, SimSub,
    market,
};
use crate::okx::endpoints::{self, Endpoint};
use axum::Router;
use axum::response::Response;
use gate::handle;
use http::{Params, Reject, not_implemented, ok, unauthorized};
use rand::SeedableRng;
use rand::rngs::SmallRng;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

mod accounts;
mod archive;
mod funding;
mod gate;
mod http;
mod public;
mod subaccounts;
mod trading;

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
    /// Draws of `SimConfig::arrival_jitter`.
    jitter: Mutex<SmallRng>,
    /// `SimConfig::log_requests`.
    log: super::log::RequestLog,
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
            jitter: Mutex::new(SmallRng::seed_from_u64(seed ^ 0x6a09_e667)),
            log: super::log::RequestLog::default(),
            archives: Archives::default(),
            applies: std::sync::atomic::AtomicU32::default(),
            corrupted: std::sync::atomic::AtomicU32::default(),
            base_url: format!("http://{addr}"),
            book: {
                let (start, days) = size.book_span();
                let book = market::PriceBook::new(seed, start, days);
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

    /// Every request answered so far, in arrival order (with `SimConfig::log_requests`).
    pub fn request_log(&self) -> Vec<super::LoggedRequest> {
        self.shared.log.snapshot()
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

fn dispatch(
    sh: &Shared,
    ep: Endpoint,
    p: &Params,
    body: &[u8],
    key: Option<&SimKey>,
) -> Result<Response, Reject> {
    let now = sh.clock.now_ms();
    let on = |area: &[Endpoint]| area.iter().any(|e| e.name == ep.name);
    if on(&public::ENDPOINTS) {
        return public::answer(sh, ep, p, now);
    }
    let key = key.ok_or_else(|| unauthorized("50103", "Request header OK-ACCESS-KEY cannot be empty."))?;
    if ep.name == endpoints::ACCOUNT_CONFIG.name {
        return Ok(ok(vec![accounts::account_config(sh, key)]));
    }
    if let Some(r) = subaccounts::dispatch(sh, ep, p, key, now) {
        return r;
    }
    if on(&archive::ENDPOINTS) {
        return archive::answer(sh, ep, p, body, key, now);
    }
    let acct = sh.account_of(key);
    if on(&accounts::ENDPOINTS) {
        accounts::answer(sh, ep, p, acct, now)
    } else if on(&trading::ENDPOINTS) {
        trading::answer(sh, ep, p, acct, now)
    } else if on(&funding::ENDPOINTS) {
        funding::answer(ep, p, acct, now)
    } else {
        Err(not_implemented())
    }
}
