//! What the clients of one process that talk to the same host share besides the public
//! pacers ([`super::pacing::PublicPacers`]): OKX's clock and its public reference data.
//!
//! A fleet run syncs hundreds of accounts at once from one IP, and OKX limits public
//! endpoints per IP: `public/time` to 10 and `public/instruments` to 20 requests per 2 s.
//! If every client read both for itself, 200 clients would queue for 40 s on the clock
//! and 80 s on the instrument lists before the first private request. Neither answer
//! depends on the account, so each is read once per host and handed to every client:
//!
//! - the clock offset (OKX's time minus this machine's), read by the first client that
//!   needs it while the others wait for it ([`SharedHost::clock_offset`]); a client that
//!   later gets 50102 (timestamp expired) still re-reads it for itself;
//! - the answers of [`MEMO_ENDPOINTS`], per query, fetched once
//!   ([`SharedHost::answer`]). A failed fetch is not remembered: the next client tries
//!   again.

use super::OkxError;
use super::endpoints::{self, Endpoint};
use serde_json::value::RawValue;
use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use tokio::sync::OnceCell;

/// Public endpoints whose answers are the same for every account of a host.
pub const MEMO_ENDPOINTS: &[Endpoint] = &[endpoints::INSTRUMENTS];

type Answer = Arc<Vec<Box<RawValue>>>;

/// One host's shared clock and reference answers; clones share them.
#[derive(Clone, Default)]
pub struct SharedHost {
    clock: Arc<OnceCell<i64>>,
    answers: Arc<Mutex<HashMap<String, Arc<OnceCell<Answer>>>>>,
}

impl std::fmt::Debug for SharedHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SharedHost(clock {:?})", self.clock.get())
    }
}

impl SharedHost {
    pub fn new() -> SharedHost {
        SharedHost::default()
    }

    /// Whether `self` and `other` are the same share (not merely equal).
    pub fn same(&self, other: &SharedHost) -> bool {
        Arc::ptr_eq(&self.clock, &other.clock)
    }

    /// Whether `ep`'s answers are shared.
    pub fn memoizes(ep: Endpoint) -> bool {
        MEMO_ENDPOINTS.iter().any(|e| e.name == ep.name)
    }

    /// The host's clock offset in ms: read by `read` once (concurrent callers wait for
    /// that one read), then the same for every caller.
    pub async fn clock_offset<F, Fut>(&self, read: F) -> Result<i64, OkxError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<i64, OkxError>>,
    {
        self.clock.get_or_try_init(read).await.copied()
    }

    /// The answer to `path_q` (endpoint path and query): fetched by `fetch` once
    /// (concurrent callers wait for it), then a copy for every caller.
    pub async fn answer<F, Fut>(&self, path_q: &str, fetch: F) -> Result<Vec<Box<RawValue>>, OkxError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Vec<Box<RawValue>>, OkxError>>,
    {
        let cell = self
            .answers
            .lock()
            .expect("shared answers")
            .entry(path_q.to_string())
            .or_default()
            .clone();
        let answer = cell
            .get_or_try_init(|| async { fetch().await.map(Arc::new) })
            .await?;
        Ok(answer.as_ref().clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    /// Many callers at once: one read, one fetch per query; a failed fetch is tried again.
    #[tokio::test(flavor = "multi_thread")]
    async fn read_once_for_everyone() {
        let host = SharedHost::new();
        let reads = Arc::new(AtomicUsize::new(0));
        let mut set = tokio::task::JoinSet::new();
        for _ in 0..20 {
            let (host, reads) = (host.clone(), reads.clone());
            set.spawn(async move {
                let offset = host
                    .clock_offset(|| async {
                        reads.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(30)).await;
                        Ok(-1234)
                    })
                    .await
                    .unwrap();
                let spot = host
                    .answer("/instruments?instType=SPOT", || async {
                        reads.fetch_add(100, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(30)).await;
                        Ok(vec![
                            RawValue::from_string("{\"instId\":\"BTC-USDT\"}".into()).unwrap(),
                        ])
                    })
                    .await
                    .unwrap();
                (offset, spot[0].get().to_string())
            });
        }
        while let Some(r) = set.join_next().await {
            assert_eq!(r.unwrap(), (-1234, "{\"instId\":\"BTC-USDT\"}".to_string()));
        }
        assert_eq!(reads.load(Ordering::SeqCst), 101, "one clock read, one fetch");
        let failed = host
            .answer("/instruments?instType=SWAP", || async {
                Err(OkxError::Request {
                    endpoint: "instruments",
                    detail: "down".into(),
                })
            })
            .await;
        assert!(failed.is_err());
        let again = host
            .answer("/instruments?instType=SWAP", || async { Ok(Vec::new()) })
            .await
            .unwrap();
        assert!(again.is_empty(), "a failure is not remembered");
        assert!(host.same(&host.clone()) && !host.same(&SharedHost::new()));
        assert!(SharedHost::memoizes(endpoints::INSTRUMENTS));
        assert!(!SharedHost::memoizes(endpoints::PUBLIC_TIME));
    }
}
