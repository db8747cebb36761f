//! A built-in OKX v5 REST simulator (axum on 127.0.0.1, ephemeral port) for `demo` and tests.
//!
//! It serves a deterministic, internally consistent account (see [`SimAccount`]) through the
//! same endpoints, envelopes, error codes, signatures, windows, cursors and rate limits the
//! real exchange uses (../shared/okx-api.md), plus switchable faults.
//!
//! * Clock: the account's data ends at [`SIM_NOW_MS`] (2026-02-15T00:00:00Z). The sim clock
//!   reads `SIM_NOW` when the server starts and then advances in real time; `/public/time`
//!   answers it (plus `time_lie`), and signed requests must be within ±30 s of it (50102), so
//!   a client has to sync its clock offset.
//! * Pagination: newest first; `after` = strictly older than the cursor, `before` = strictly
//!   newer. `before` alone returns the *newest* `limit` rows newer than the cursor (not the
//!   ones right after it), so a client must walk down with `after` (bounded by `before`).
//!   `begin`/`end` are inclusive filters on `ts`.
//! * Rate limits: sliding window per (API key, endpoint) — per endpoint for public ones —
//!   with `okx::endpoints` limits times `rate_scale`; excess → HTTP 429 code 50011.
//! * Order of checks per request: route → fault injection (not `/public/time`) → auth →
//!   rate limit → work. A faulted request does no work.
//!
//! | where | what it makes or serves |
//! |---|---|
//! | `generate/` | the account's history: `plan.rs` (when each event happens), `ledger.rs` (events booked as bills against running balances), `trading.rs` (fills, swaps, futures, converts, Dual Investment), `funding.rs` (deposits, withdrawals, transfers, fiat converts) |
//! | `server/` | the HTTP side: `gate.rs` (authentication, limits, faults), `http.rs` (envelopes, parameters, pages), then one file per area: `public.rs` (time, instruments, candles), `accounts.rs` (config, balances, bill types), `trading.rs`, `funding.rs`, `archive.rs`, `subaccounts.rs` |
//! | `market.rs`, `candles.rs` | prices and instruments; the candles the market endpoints serve |
//! | `archive.rs` | the quarterly archive files (applications, generation, zip/gzip) |
//! | `family.rs`, `account.rs`, `model.rs`, `dictionary.rs` | a master and its sub-accounts, an account's data and its JSON, OKX's bill-type dictionary |
//! | `limiter.rs` | the sliding window OKX's limits are enforced with |

mod account;
mod archive;
mod candles;
mod dictionary;
mod family;
mod generate;
mod limiter;
mod log;
mod market;
mod model;
mod server;
#[cfg(test)]
mod tests;

use chrono::{DateTime, Utc};
use std::time::Duration;

pub use account::SimAccount;
pub use dictionary::{UNKNOWN_SUB_TYPE_DESC, UNKNOWN_TYPE_DESC};
pub use generate::AccountSize;
pub use limiter::SlidingWindow;
pub use log::LoggedRequest;
pub use model::{
    ARCHIVE_CSV_COLUMNS, AccountData, EARN, FUNDING, FundingBill, SameMsGroup, SavingsHolding, SimConvert,
    SimDeposit, SimFill, SimPosition, SimSubTransfer, SimWithdrawal, TRADING, TradingBill,
};
pub use server::SeenRequest;
pub use server::{EndpointStats, SimServer, SimStats, serve_forever};

/// The simulated account's "now": 2026-02-15T00:00:00Z in Unix milliseconds.
pub const SIM_NOW_MS: i64 = 1_771_113_600_000;

/// The simulated account's "now" as a time (displays as `2026-02-15 00:00:00 UTC`).
pub const SIM_NOW: DateTime<Utc> = match DateTime::from_timestamp(SIM_NOW_MS / 1000, 0) {
    Some(t) => t,
    None => panic!("SIM_NOW_MS is a valid time"),
};

/// [`SIM_NOW`] (a function for callers that prefer one).
pub fn sim_now() -> DateTime<Utc> {
    SIM_NOW
}

/// A fault the simulator can inject instead of (or before) a normal answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultKind {
    /// HTTP 503 with body code 50001.
    Http5xx,
    /// HTTP 503 with body code 50001 ("Service temporarily unavailable").
    Code50001,
    /// HTTP 429 with body code 50011 ("Too Many Requests"), not counted as rate limited.
    Code50011,
    /// Sleep this long, then answer normally.
    Slow(Duration),
    /// Status 200 and headers, then the connection is cut mid-body.
    Drop,
}

/// Probability and kinds of injected faults. `rate` is per request (0.0..=1.0); the
/// sequence is deterministic for a `seed` (though which concurrent request gets which draw
/// depends on arrival order).
#[derive(Debug, Clone, PartialEq)]
pub struct FaultConfig {
    pub rate: f64,
    pub seed: u64,
    pub kinds: Vec<FaultKind>,
}

impl FaultConfig {
    /// No faults.
    pub fn none() -> FaultConfig {
        FaultConfig {
            rate: 0.0,
            seed: 0,
            kinds: Vec::new(),
        }
    }

    /// `rate` of requests get one of `kinds`.
    pub fn new(rate: f64, seed: u64, kinds: Vec<FaultKind>) -> FaultConfig {
        FaultConfig { rate, seed, kinds }
    }
}

impl Default for FaultConfig {
    fn default() -> FaultConfig {
        FaultConfig::none()
    }
}

/// Compression of the quarterly bills archive (the client sniffs magic bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ArchiveFormat {
    #[default]
    Zip,
    Gzip,
}

/// A credential the simulator accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimKey {
    pub api_key: String,
    pub secret: String,
    pub passphrase: String,
    /// Reported by `account/config`, e.g. `read_only` or `read_only,trade`.
    pub perm: String,
    /// Bound IPs as reported by `account/config` (`""` = none).
    pub ip: String,
    pub label: String,
    pub uid: String,
    /// The key is a demo-trading key: requests must carry `x-simulated-trading: 1`.
    pub demo_trading: bool,
    /// `false` → every private request gets 50110 (IP not whitelisted).
    pub ip_allowed: bool,
    /// `true` → every private request gets 50111 (`Invalid OK-ACCESS-KEY`), as a key
    /// deleted on OKX (by its owner, or by OKX for an unused key) is answered.
    pub revoked: bool,
}

impl SimKey {
    /// A read-only key of sub-account `sub` (its uid `uid`), named after it.
    pub fn sub(sub: &str, uid: &str) -> SimKey {
        SimKey {
            api_key: format!("sub-{sub}-key"),
            secret: format!("sub-{sub}-secret-0123456789"),
            passphrase: format!("sub-{sub}-passphrase"),
            label: format!("okx-export {sub}"),
            uid: uid.to_string(),
            ..SimKey::demo()
        }
    }

    /// The read-only key of client account `uid` ([`SimClient`]), named after it.
    pub fn client(uid: &str) -> SimKey {
        SimKey {
            api_key: format!("client-{uid}-key"),
            secret: format!("client-{uid}-secret-0123456789"),
            passphrase: format!("client-{uid}-passphrase"),
            label: format!("okx-export client {uid}"),
            uid: uid.to_string(),
            ..SimKey::demo()
        }
    }

    /// The demo command's credential.
    pub fn demo() -> SimKey {
        SimKey {
            api_key: "demo-key".to_string(),
            secret: "demo-secret-0123456789".to_string(),
            passphrase: "demo-passphrase".to_string(),
            perm: "read_only".to_string(),
            ip: "127.0.0.1".to_string(),
            label: "okx-export demo".to_string(),
            uid: "10000001".to_string(),
            demo_trading: false,
            ip_allowed: true,
            revoked: false,
        }
    }
}

/// An account of its own on the simulator besides the master (see [`SimConfig::clients`]):
/// another client of an accountant, with its own uid, generated history and per-UID
/// limits, and no sub-accounts or transfers. Its keys are the entries of
/// [`SimConfig::keys`] with its uid (e.g. [`SimKey::client`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimClient {
    pub uid: String,
    /// Seed of its generated account.
    pub seed: u64,
    pub size: AccountSize,
}

impl SimClient {
    /// Client number `i`: uid `4000000i` (eight digits from 40000000), seed `1000 + i`.
    pub fn numbered(i: usize, size: AccountSize) -> SimClient {
        SimClient {
            uid: format!("{}", 40_000_000 + i),
            seed: 1000 + i as u64,
            size,
        }
    }
}

/// A sub-account of the simulated master (see [`SimConfig::subaccounts`]): an account of
/// its own (its uid, keys, per-UID limits, ledgers and balances), listed by the master's
/// `users/subaccount/list`, with transfers to and from the master in both ledgers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimSub {
    /// `subAcct`, the sub-account's name.
    pub name: String,
    pub uid: String,
    pub label: String,
    /// Seed of its generated account.
    pub seed: u64,
    /// `false`: an empty sub-account (no history, no balance, no transfer).
    pub active: bool,
    /// Transfers with the master (the first one master → sub).
    pub transfers: usize,
    /// Creation time (Unix ms), the list's cursor.
    pub created_ms: i64,
}

impl SimSub {
    /// An active sub-account `name` with uid `uid`: its own small account (seed `seed`)
    /// and 6 transfers with the master.
    pub fn active(name: &str, uid: &str, seed: u64) -> SimSub {
        SimSub {
            name: name.to_string(),
            uid: uid.to_string(),
            label: format!("{name} account"),
            seed,
            active: true,
            transfers: 6,
            created_ms: generate::START_MS - 30 * 86_400_000 + seed as i64 * 60_000,
        }
    }

    /// A sub-account that was never used.
    pub fn empty(name: &str, uid: &str) -> SimSub {
        SimSub {
            active: false,
            transfers: 0,
            ..SimSub::active(name, uid, 0)
        }
    }
}

/// Everything that shapes a simulator instance.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Seed of the generated account (same seed → same account).
    pub seed: u64,
    pub size: AccountSize,
    /// Every documented rate limit is multiplied by this (1 = OKX's limits).
    pub rate_scale: u32,
    pub faults: FaultConfig,
    /// Accepted credentials.
    pub keys: Vec<SimKey>,
    /// Trading bills with `ts` in `[from_ms, to_ms)` are left out of every bills,
    /// bills-archive and archive-file answer (balances still include them).
    pub withhold_bills: Option<(i64, i64)>,
    /// Adds one trading bill with type `999` / subType `9999`.
    pub unknown_bill_type: bool,
    /// How many polls answer `ongoing` after an apply before `finished`.
    pub archive_ready_after_polls: u32,
    pub archive_format: ArchiveFormat,
    /// `/public/time` answers the sim clock plus this (auth still uses the true sim clock).
    pub time_lie: Option<chrono::Duration>,
    /// Archive applications accepted in total, like the 12-per-day limit of the 2025 docs;
    /// further ones get HTTP 429 / 50011. `None`: only the per-10-s limit applies.
    pub archive_apply_limit: Option<u32>,
    /// Served instead of the generated archive file (hostile-file tests: a zip bomb).
    pub archive_file_override: Option<std::sync::Arc<Vec<u8>>>,
    /// Endpoints (by name) that answer a plain HTTP 404, as a product missing in a region.
    pub unavailable: Vec<&'static str>,
    /// A poll for a quarter this simulator has no application for answers 51604 (as OKX
    /// does 30 days after an application, or after a restart) instead of `failed`.
    pub archive_forgets: bool,
    /// Quarters (e.g. `2025Q3`) that finish with an empty `fileHref`: no activity.
    pub archive_empty_quarters: Vec<String>,
    /// In each ledger one bill gets a later `ts` than the next bill of its currency (whose
    /// billId is larger), as OKX does now and then: `bal` stays consistent in billId order.
    pub bill_time_disorder: bool,
    /// The first record of the first `times` answers of an endpoint carries a bad money
    /// field (missing, `""`, `NaN`, `abc`, exponent form).
    pub bad_money: Option<BadMoney>,
    /// Assets with no market at all: no `ASSET-USD` index and no candles for any pair that
    /// has them as base or quote (as a token OKX never listed). For `missing_prices.csv`.
    pub no_market: Vec<&'static str>,
    /// Serve a `USDT-USD` index (real OKX: unverified, so the default is without one and
    /// USDT is priced through `BTC-USD` ÷ `BTC-USDT`).
    pub usdt_index: bool,
    /// Archive quarters (e.g. `2025Q3`) broken on purpose, each in its own way; the other
    /// quarters are served normally.
    pub archive_faults: Vec<(String, ArchiveFault)>,
    /// A volatile market: about one hour in twelve of each asset swings 1.5% and back over
    /// two hours (their 1-hour bars span 1.5%), so a value taken from an hour bar's close
    /// can be that far off the row's minute. The account is generated on the same prices.
    pub volatile_hours: bool,
    /// The sim clock starts this long after [`SIM_NOW`] (the account is generated up to
    /// `SIM_NOW`): e.g. 40 minutes into an hour whose bar has not closed yet.
    pub clock_offset_ms: i64,
    /// One record answered other than the generated account has it.
    pub record_fault: Option<RecordFault>,
    /// Bill types `account/subtypes` leaves out (a dictionary older than a code).
    pub dictionary_lacks: Vec<&'static str>,
    /// A site without event contracts: `fills-history` refuses `instType=EVENTS` (51000).
    pub no_event_contracts: bool,
    /// The master's sub-accounts (the master is every key whose uid is not a sub's). A
    /// sub-account's keys are the entries of [`SimConfig::keys`] with its uid; one without
    /// a key can only be seen through the master's sub-account endpoints.
    pub subaccounts: Vec<SimSub>,
    /// A master↔sub transfer's bill has the same `billId` on both sides and in
    /// `asset/subaccount/bills` (OKX: unverified); `false`: three different ids.
    pub sub_transfer_same_bill_ids: bool,
    /// The master's transfer bill's `notes` names the sub-account (OKX: unverified);
    /// `false`: `Transfer to sub account`, no name.
    pub sub_transfer_notes_name_sub: bool,
    /// Record every request's endpoint and authentication headers ([`SimServer::seen`]).
    pub record_requests: bool,
    /// Accounts of their own besides the master's (an accountant's clients): each is read
    /// by the keys with its uid and is a master of its own without sub-accounts.
    pub clients: Vec<SimClient>,
    /// Every API request is held for a random 0..=this on arrival, before the rate limiter
    /// counts it (as a network delays packets unevenly): a client pacing on its own send
    /// times then sees 429s. `None`: no delay.
    pub arrival_jitter: Option<Duration>,
    /// Keep a log of every request ([`SimServer::request_log`]).
    pub log_requests: bool,
}

/// OKX answering a record with other content (see [`SimConfig::record_fault`]).
#[derive(Debug, Clone)]
pub struct RecordFault {
    /// Endpoint name, e.g. `bills`.
    pub endpoint: &'static str,
    pub field: &'static str,
    pub value: &'static str,
    /// `false`: the newest record of every answer carries `field` = `value` (start a
    /// second simulator with this after a sync: OKX changed a record it sent before).
    /// `true`: the first page holds the newest record twice, the second copy with it.
    pub twice_in_page: bool,
}

/// How one archive quarter is broken (see [`SimConfig::archive_faults`]).
#[derive(Debug, Clone)]
pub enum ArchiveFault {
    /// Every poll after an application answers `state: failed` (OKX could not generate it).
    GenerationFails,
    /// Its download link answers HTTP 403, as an expired or revoked pre-signed link does.
    DownloadRefused,
    /// Its download link points to a host that refuses connections (a file host blocked
    /// between the user and OKX).
    LinkUnreachable,
    /// Served (as gzip) instead of the quarter's generated file.
    File(std::sync::Arc<Vec<u8>>),
}

/// A money field the simulator corrupts (see [`SimConfig::bad_money`]).
#[derive(Debug, Clone)]
pub struct BadMoney {
    /// Endpoint name, e.g. `deposit-history`.
    pub endpoint: &'static str,
    pub field: &'static str,
    /// The value sent; `None` leaves the field out.
    pub value: Option<&'static str>,
    pub times: u32,
}

impl Default for SimConfig {
    fn default() -> SimConfig {
        SimConfig {
            seed: 7,
            size: AccountSize::Demo,
            rate_scale: 1,
            faults: FaultConfig::none(),
            keys: vec![SimKey::demo()],
            withhold_bills: None,
            unknown_bill_type: false,
            archive_ready_after_polls: 1,
            archive_format: ArchiveFormat::Zip,
            time_lie: None,
            archive_apply_limit: None,
            archive_file_override: None,
            unavailable: Vec::new(),
            archive_forgets: false,
            archive_empty_quarters: Vec::new(),
            bill_time_disorder: false,
            bad_money: None,
            no_market: Vec::new(),
            usdt_index: false,
            archive_faults: Vec::new(),
            volatile_hours: false,
            clock_offset_ms: 0,
            record_fault: None,
            dictionary_lacks: Vec::new(),
            no_event_contracts: false,
            subaccounts: Vec::new(),
            sub_transfer_same_bill_ids: false,
            sub_transfer_notes_name_sub: false,
            record_requests: false,
            clients: Vec::new(),
            arrival_jitter: None,
            log_requests: false,
        }
    }
}

impl SimConfig {
    /// The demo master with two keyed sub-accounts, `bot` (uid 20000002) and `savings`
    /// (uid 20000003), each with a read-only key ([`SimKey::sub`]).
    pub fn family() -> SimConfig {
        let subs = [("bot", "20000002", 21), ("savings", "20000003", 22)];
        let mut cfg = SimConfig::default();
        for (name, uid, seed) in subs {
            cfg.subaccounts.push(SimSub::active(name, uid, seed));
            cfg.keys.push(SimKey::sub(name, uid));
        }
        cfg
    }

    /// `n` client accounts ([`SimClient::numbered`], sized by `size(i)`), each with one
    /// read-only key ([`SimKey::client`]); no key reads the master's account.
    pub fn clients(n: usize, size: impl Fn(usize) -> AccountSize) -> SimConfig {
        let clients: Vec<SimClient> = (0..n).map(|i| SimClient::numbered(i, size(i))).collect();
        SimConfig {
            keys: clients.iter().map(|c| SimKey::client(&c.uid)).collect(),
            clients,
            ..SimConfig::default()
        }
    }
}
