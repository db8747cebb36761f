//! The OKX endpoints okx-export uses, with their documented rate limits kept as data.
//!
//! Source: ../shared/okx-api.md §4.1 ([D25]/[D26]). Private limits are per UID, public ones
//! per IP; each endpoint has its own bucket. The client paces requests from this table (with
//! a safety margin) and the simulator enforces the very same numbers, so a change here is
//! tested against itself only through the margin; the numbers themselves are the docs'.

use std::time::Duration;

/// HTTP method of an endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
        }
    }
}

/// A documented rate limit: `count` requests per `per`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    pub count: u32,
    pub per: Duration,
}

impl RateLimit {
    const fn per_1s(count: u32) -> Self {
        RateLimit {
            count,
            per: Duration::from_secs(1),
        }
    }
    const fn per_2s(count: u32) -> Self {
        RateLimit {
            count,
            per: Duration::from_secs(2),
        }
    }
    const fn per_10s(count: u32) -> Self {
        RateLimit {
            count,
            per: Duration::from_secs(10),
        }
    }

    /// The limit with `scale` times as many requests in the same window (benchmarks and
    /// tests run a simulator with every limit scaled up; production uses `scale = 1`).
    #[must_use]
    pub fn scaled(self, scale: u32) -> Self {
        RateLimit {
            count: self.count * scale.max(1),
            per: self.per,
        }
    }

    /// Smallest spacing between requests that stays within the limit in every window.
    pub fn interval(self) -> Duration {
        self.per / self.count
    }
}

/// One endpoint: what it is called, where it lives and how fast it may be called.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Endpoint {
    /// Short stable name used in logs, summaries and limiter keys, e.g. `fills-history`.
    pub name: &'static str,
    pub method: Method,
    /// Path starting at `/api/v5/`.
    pub path: &'static str,
    pub limit: RateLimit,
    /// Needs the signed `OK-ACCESS-*` headers.
    pub private: bool,
}

macro_rules! endpoints {
    ($($ident:ident = $name:literal, $method:ident, $path:literal, $limit:expr, $private:literal;)*) => {
        $(pub const $ident: Endpoint = Endpoint {
            name: $name,
            method: Method::$method,
            path: $path,
            limit: $limit,
            private: $private,
        };)*
        /// Every endpoint in this table.
        pub const ALL: &[Endpoint] = &[$($ident),*];
    };
}

endpoints! {
    PUBLIC_TIME = "public-time", Get, "/api/v5/public/time", RateLimit::per_2s(10), false;
    INSTRUMENTS = "instruments", Get, "/api/v5/public/instruments", RateLimit::per_2s(20), false;
    ACCOUNT_CONFIG = "account-config", Get, "/api/v5/account/config", RateLimit::per_2s(5), true;
    FILLS = "fills", Get, "/api/v5/trade/fills", RateLimit::per_2s(60), true;
    FILLS_HISTORY = "fills-history", Get, "/api/v5/trade/fills-history", RateLimit::per_2s(10), true;
    BILLS = "bills", Get, "/api/v5/account/bills", RateLimit::per_1s(5), true;
    BILLS_ARCHIVE = "bills-archive", Get, "/api/v5/account/bills-archive", RateLimit::per_2s(5), true;
    BILLS_HISTORY_ARCHIVE_APPLY = "bills-history-archive-apply", Post, "/api/v5/account/bills-history-archive", RateLimit::per_10s(1), true;
    BILLS_HISTORY_ARCHIVE_POLL = "bills-history-archive-poll", Get, "/api/v5/account/bills-history-archive", RateLimit::per_2s(10), true;
    ASSET_BILLS = "asset-bills", Get, "/api/v5/asset/bills", RateLimit::per_1s(6), true;
    ASSET_BILLS_HISTORY = "asset-bills-history", Get, "/api/v5/asset/bills-history", RateLimit::per_1s(1), true;
    DEPOSIT_HISTORY = "deposit-history", Get, "/api/v5/asset/deposit-history", RateLimit::per_1s(6), true;
    WITHDRAWAL_HISTORY = "withdrawal-history", Get, "/api/v5/asset/withdrawal-history", RateLimit::per_1s(6), true;
    CONVERT_HISTORY = "convert-history", Get, "/api/v5/asset/convert/history", RateLimit::per_1s(6), true;
    ACCOUNT_BALANCE = "account-balance", Get, "/api/v5/account/balance", RateLimit::per_2s(10), true;
    ASSET_BALANCES = "asset-balances", Get, "/api/v5/asset/balances", RateLimit::per_1s(6), true;
    SAVINGS_BALANCE = "savings-balance", Get, "/api/v5/finance/savings/balance", RateLimit::per_1s(6), true;
    // Public market data for valuation (okx-api.md §4.13, §11): limits per IP, limit ≤ 100.
    INDEX_CANDLES = "history-index-candles", Get, "/api/v5/market/history-index-candles", RateLimit::per_2s(10), false;
    CANDLES = "history-candles", Get, "/api/v5/market/history-candles", RateLimit::per_2s(20), false;
    // OKX's dictionary of trading-bill types and subTypes (okx-api.md §12.2).
    BILL_TYPES = "bill-types", Get, "/api/v5/account/subtypes", RateLimit::per_2s(20), true;
    DCD_ORDER_HISTORY = "dcd-order-history", Get, "/api/v5/finance/sfp/dcd/order-history", RateLimit::per_1s(1), true;
    // A master's view of its sub-accounts (okx-api.md §12.1.1); a sub-account's key gets
    // 59500. The list's limit is 20 per 2 s in the 2025-11 docs and 2 per 2 s in earlier
    // ones: paced at the lower.
    SUBACCOUNT_LIST = "subaccount-list", Get, "/api/v5/users/subaccount/list", RateLimit::per_2s(2), true;
    SUBACCOUNT_TRADING_BALANCES = "subaccount-trading-balances", Get, "/api/v5/account/subaccount/balances", RateLimit::per_2s(6), true;
    SUBACCOUNT_FUNDING_BALANCES = "subaccount-funding-balances", Get, "/api/v5/asset/subaccount/balances", RateLimit::per_2s(6), true;
    SUBACCOUNT_BILLS = "subaccount-bills", Get, "/api/v5/asset/subaccount/bills", RateLimit::per_1s(6), true;
}

/// Looks an endpoint up by method and path (the simulator routes with this).
pub fn by_route(method: Method, path: &str) -> Option<Endpoint> {
    ALL.iter().copied().find(|e| e.method == method && e.path == path)
}

/// The stats and error name of archive-file downloads (pre-signed links, not an endpoint).
pub const ARCHIVE_DOWNLOAD: &str = "archive-download";

/// Instrument types that `fills-history` must be asked for one by one. `EVENTS` (event
/// contracts, 2026 docs, okx-api.md §12.3) is not offered on every site: see
/// [`OPTIONAL_INST_TYPES`].
pub const INST_TYPES: &[&str] = &["SPOT", "MARGIN", "SWAP", "FUTURES", "OPTION", "EVENTS"];

/// Instrument types a site may not list: their fills stream failing is told like a
/// missing product (a warning once, then a note), never a failed sync.
pub const OPTIONAL_INST_TYPES: &[&str] = &["EVENTS"];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_routes_are_unique() {
        for (i, a) in ALL.iter().enumerate() {
            for b in &ALL[i + 1..] {
                assert_ne!(a.name, b.name);
                assert!(
                    a.method != b.method || a.path != b.path,
                    "{} and {}",
                    a.name,
                    b.name
                );
            }
        }
        assert_eq!(
            by_route(Method::Post, BILLS_HISTORY_ARCHIVE_APPLY.path),
            Some(BILLS_HISTORY_ARCHIVE_APPLY)
        );
    }

    #[test]
    fn interval_matches_documented_limits() {
        assert_eq!(FILLS_HISTORY.limit.interval(), Duration::from_millis(200));
        assert_eq!(ASSET_BILLS_HISTORY.limit.interval(), Duration::from_secs(1));
        assert_eq!(FILLS.limit.scaled(20).interval(), Duration::from_nanos(1_666_666));
    }
}
