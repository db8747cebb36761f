//! The rows of several accounts' stores as one stream in time order (a group report).
//!
//! Each store is normalized on a thread of its own (a connection of its own: stores are
//! read-only here and SQLite lets readers run side by side) into a small bounded channel;
//! the caller's thread takes the oldest head each time: by time, then by the accounts'
//! order, each account's own order kept. Memory stays flat like a one-store report:
//! at most a channel's worth of rows per account is in flight.

use crate::model::Transaction;
use crate::normalize::{NormalizeOptions, NormalizeSummary, normalize};
use crate::store::Store;
use anyhow::{Context, Result, anyhow};
use std::path::PathBuf;
use std::sync::mpsc;

/// Rows in flight per account.
const CHANNEL_ROWS: usize = 1024;

/// Normalizes the store in each of `dirs` with its options and calls `sink(account index,
/// row)` in one time order; returns each account's summary, in `dirs`' order.
pub fn normalize_stores(
    dirs: &[(PathBuf, NormalizeOptions)],
    sink: &mut dyn FnMut(usize, Transaction) -> Result<()>,
) -> Result<Vec<NormalizeSummary>> {
    std::thread::scope(|scope| {
        let mut receivers = Vec::new();
        let mut handles = Vec::new();
        for (dir, opts) in dirs {
            let (tx, rx) = mpsc::sync_channel::<Transaction>(CHANNEL_ROWS);
            receivers.push(rx);
            handles.push(scope.spawn(move || -> Result<NormalizeSummary> {
                let store = Store::open(dir)?;
                normalize(&store, opts, &mut |row| {
                    tx.send(row).map_err(|_| anyhow!("the report stopped reading"))
                })
                .with_context(|| format!("normalizing the store in `{}`", dir.display()))
            }));
        }
        let merged = merge(&receivers, sink);
        // Unblock any sender still waiting (after an error), then collect every thread.
        drop(receivers);
        let mut summaries = Vec::new();
        let mut failed = None;
        for h in handles {
            match h.join() {
                Ok(Ok(s)) => summaries.push(s),
                Ok(Err(e)) => {
                    failed.get_or_insert(e);
                }
                Err(_) => {
                    failed.get_or_insert(anyhow!("a normalizing thread panicked"));
                }
            }
        }
        merged?;
        match failed {
            Some(e) => Err(e),
            None => Ok(summaries),
        }
    })
}

/// Takes the oldest head of `receivers` until all are drained.
fn merge(
    receivers: &[mpsc::Receiver<Transaction>],
    sink: &mut dyn FnMut(usize, Transaction) -> Result<()>,
) -> Result<()> {
    let mut heads: Vec<Option<Transaction>> = receivers.iter().map(|r| r.recv().ok()).collect();
    loop {
        let next = heads
            .iter()
            .enumerate()
            .filter_map(|(i, h)| h.as_ref().map(|t| (t.time, i)))
            .min();
        let Some((_, i)) = next else { return Ok(()) };
        let row = heads[i].take().expect("a head");
        heads[i] = receivers[i].recv().ok();
        sink(i, row)?;
    }
}
